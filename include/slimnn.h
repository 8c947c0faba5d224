/*
 * slimnn.h — make convolutional networks light enough for small devices, and prove it.
 *
 * A five-minute tour (error checks left out: examples/ holds complete programs, and
 * tests/cli_examples.sh compiles these lines against the installed library)
 * ------------------
 *   sn_graph *g = sn_arch_load("models/cnn.arch");   // parse a plain-text architecture
 *   sn_graph_init_params(g, 42);                      // PyTorch's default initialisation
 *   sn_dataset tr, te;
 *   sn_fmnist_load(NULL, &tr, &te, 0);                // Debian's Fashion-MNIST (IDX files)
 *   sn_train_opts o = sn_train_defaults();            // SGD/Adam, schedules, checkpoints
 *   sn_meta meta = {.norm = tr.norm};                 // what the model file records with it
 *   sn_train(g, &tr, &te, &o, NULL, &meta);           // adds epochs and test accuracy to meta
 *   sn_model_save(g, &meta, NULL, "cnn.slim");        // one checksummed binary file
 *   sn_dataset_free(&tr); sn_dataset_free(&te); sn_graph_free(g);
 *
 * The model is a graph (a DAG) of named nodes. Each node is one operator; every operator is a
 * single function that answers four questions (kann-style): what is my output shape, how much
 * memory do I need, forward, and backward. Parameters of all nodes live in one flat vector
 * (g->w, gradients in g->gw) so the optimizer is a loop over floats; each parameter tensor is
 * also reachable by name ("conv1.weight") so passes can mask, prune or replace it.
 *
 * Layout is NCHW float32. The graph is the model only; running it is a plan's business (see
 * "plans" below): a plan's arena holds the activations and workspaces, sized once by
 * sn_plan_reshape() (sn_graph_plan() for the graph's own plan): nothing allocates on the hot
 * path, and several plans run one model on several threads at once.
 *
 * Errors: functions return SN_OK (0) or a negative sn_status; sn_errmsg() says what went wrong
 * in one sentence that names the problem and, where there is one, the fix.
 */
#ifndef SLIMNN_H
#define SLIMNN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SN_VERSION "0.1.0"
#define SN_NAME_MAX 64
#define SN_MAX_IN 8

/* ---------------------------------------------------------------- errors */
typedef enum {
	SN_OK = 0,
	SN_EINVAL = -1,   /* bad argument or option */
	SN_EIO = -2,      /* file missing, unreadable or unwritable */
	SN_EFORMAT = -3,  /* corrupt, truncated or hostile file */
	SN_ESHAPE = -4,   /* shapes that do not fit */
	SN_ENOMEM = -5,
	SN_EDIVERGED = -6 /* loss became NaN or exploded */
} sn_status;

const char *sn_errmsg(void);                         /* message of the last error (thread-local) */
int sn_errcode(void);                                /* its status, for calls that return a pointer */

/* ---------------------------------------------------------------- shapes */
/* Per-sample shape. rank 4 means [N,C,H,W]; rank 2 means [N,C] (h = w = 1). */
typedef struct { int rank, c, h, w; } sn_shape;
static inline size_t sn_shape_numel(sn_shape s) { return (size_t)s.c * s.h * s.w; }
/* "[-1, 32, 16, 16]" into buf; returns buf */
char *sn_shape_str(sn_shape s, char *buf, size_t len);

/* ---------------------------------------------------------------- operators */
typedef enum {
	SN_OP_INPUT, SN_OP_CONV, SN_OP_BN, SN_OP_RELU, SN_OP_RELU6, SN_OP_SIGMOID, SN_OP_HARDSWISH,
	SN_OP_MAXPOOL, SN_OP_AVGPOOL, SN_OP_GAP, SN_OP_LINEAR, SN_OP_FLATTEN, SN_OP_DROPOUT,
	SN_OP_ADD, SN_OP_CONCAT,
	SN_OP_MUL, SN_OP_SOFTMAX, SN_OP_SHUFFLE, SN_OP_SLICE, SN_OP_PAD, SN_OP_HARDSIGMOID,
	SN_OP_SILU, SN_OP_GELU, SN_OP_SE, SN_OP_COUNT
} sn_op;

typedef enum { SN_PAD_ZEROS, SN_PAD_REFLECT, SN_PAD_REPLICATE, SN_PAD_CIRCULAR } sn_padmode;
/* Activation a conv applies to its own output (inference fusion; backward stays exact). */
typedef enum { SN_FUSE_NONE, SN_FUSE_RELU, SN_FUSE_RELU6 } sn_fuse;

/* Conv2d with the whole meaning of torch.nn.Conv2d; padding is per side. */
typedef struct {
	int out_c, kh, kw, sh, sw, dh, dw, groups, bias;
	int pt, pb, pl, pr;     /* top, bottom, left, right */
	int same;               /* padding='same': pads derived from kernel and dilation */
	sn_padmode mode;
	int act;                /* sn_fuse: activation fused into the output (SN_FUSE_NONE) */
} sn_conv_attr;

typedef struct {
	int kh, kw, sh, sw, pt, pb, pl, pr;
	int ceil_mode;
	int count_include_pad;  /* avgpool only; PyTorch's default is 1 */
} sn_pool_attr;

typedef struct { int out, bias; } sn_linear_attr;
typedef struct { float eps, momentum; } sn_bn_attr;
typedef struct { float p; } sn_dropout_attr;
typedef struct { int c, h, w; } sn_input_attr;
/* Mobile-network operators (none has parameters):
 *   mul          a * b element-wise; a dimension of 1 broadcasts ([N,C,1,1] gates [N,C,H,W])
 *   softmax      over the channels, at every pixel
 *   shuffle      ShuffleNet's channel shuffle: view [g, C/g], transpose, flatten
 *   slice        channels [start, end) of the input
 *   pad          per-side spatial padding: a constant value, reflect, replicate or circular
 *   hardsigmoid  min(max(alpha x + beta, 0), 1); PyTorch's is alpha 1/6, beta 1/2 */
typedef struct { int groups; } sn_shuffle_attr;
typedef struct { int start, end; } sn_slice_attr;
typedef struct { int pt, pb, pl, pr; sn_padmode mode; float value; } sn_pad_attr;
typedef struct { float alpha, beta; } sn_hardsigmoid_attr;
/* Activations of newer networks (PyTorch's nn.SiLU and nn.GELU):
 *   silu  x sigmoid(x)
 *   gelu  x Phi(x) (Phi: the normal distribution's CDF, with erf), or PyTorch's tanh
 *         approximation 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) */
typedef enum { SN_GELU_NONE, SN_GELU_TANH } sn_gelu_approx;
typedef struct { int approximate; } sn_gelu_attr;   /* sn_gelu_approx */
/* Squeeze-and-excitation as sn_prepare_inference fuses it (inference only; in place): y = a(x)
 * sigmoid(fc2 silu(fc1 mean(a(x)))) per channel, fc1 and fc2 1x1 convs with bias (tensors
 * fc1_weight [squeeze, C, 1, 1], fc1_bias, fc2_weight [C, squeeze, 1, 1], fc2_bias) and a the
 * input's own activation, none or SiLU (act=silu), absorbed with it. */
typedef enum { SN_SE_ACT_NONE, SN_SE_ACT_SILU } sn_se_act;
typedef struct { int squeeze, act; } sn_se_attr;   /* act: sn_se_act */

/* Meaning of sn_node.t[] per operator (tensor indices, -1 where absent):
 *   conv, linear: t[0] weight, t[1] bias
 *   bn:           t[0] weight (gamma), t[1] bias (beta), t[2] running_mean, t[3] running_var */
enum { SN_T_WEIGHT = 0, SN_T_BIAS = 1, SN_T_MEAN = 2, SN_T_VAR = 3, SN_T_MAX = 4 };

/* Which kernel runs a conv or Linear at inference (see sn_graph_select_sparse). */
typedef enum { SN_IMPL_DENSE, SN_IMPL_SPARSE } sn_impl;

typedef struct sn_node {
	char name[SN_NAME_MAX];
	sn_op op;
	int n_in, in[SN_MAX_IN];          /* producer node indices (always earlier nodes) */
	union {
		sn_conv_attr conv;
		sn_pool_attr pool;
		sn_linear_attr linear;
		sn_bn_attr bn;
		sn_dropout_attr dropout;
		sn_input_attr input;
		sn_shuffle_attr shuffle;
		sn_slice_attr slice;
		sn_pad_attr pad;
		sn_hardsigmoid_attr hsig;
		sn_gelu_attr gelu;
		sn_se_attr se;
	} a;
	int t[SN_T_MAX];
	int frozen;                        /* parameters not trained (count as non-trainable) */
	int line;                          /* line in the architecture file, 0 if none */
	sn_shape out;                      /* inferred by sn_graph_infer() */
	/* What a node computes at run time lives in plans (sn_plan_output); these two are the
	 * model's: the kernel sn_graph_select_sparse chose, read (never written) by every plan */
	int impl;                          /* sn_impl: how inference runs this conv or Linear */
	struct sn_spmm *spmm;              /* packed sparse weights when impl is SN_IMPL_SPARSE; owned by
	                                    * the graph (sn_graph_free); clone, add and rewrite reset to dense */
	struct sn_qnode *q;                /* int8 parameters of a quantized model (sn_quantize), or NULL;
	                                    * owned by the graph; clone copies them, add and rewrite drop them */
} sn_node;

/* ---------------------------------------------------------------- tensors */
typedef enum { SN_TENSOR_PARAM, SN_TENSOR_BUFFER } sn_tensor_kind;

typedef struct {
	char name[2 * SN_NAME_MAX];        /* "<node>.weight", "<node>.running_mean", ... */
	int node;
	sn_tensor_kind kind;
	int ndim, dims[4];
	size_t n;
	size_t off;                        /* offset into g->w (params) or g->buf (buffers) */
	float *data, *grad;                /* grad is NULL for buffers */
	uint8_t *mask;                     /* NULL unless pruned: 1 keep, 0 pruned (stays zero) */
} sn_tensor;

/* ---------------------------------------------------------------- graph */
typedef struct sn_rng { uint64_t s[4]; } sn_rng;
typedef struct sn_plan sn_plan;        /* one caller's run of a model (see "plans" below) */

typedef struct sn_graph {
	int n_node, cap_node;
	sn_node *node;
	int n_tensor, cap_tensor;
	sn_tensor *tensor;
	float *w, *gw;  size_t n_w;        /* all trainable values and their gradients */
	float *buf;     size_t n_buf;      /* non-trainable buffers (BN running statistics) */
	int shapes_locked;                 /* trained weights: shape inference may not reshape tensors */
	sn_plan *plan;                     /* the graph's own plan: sn_graph_plan, _forward and _backward
	                                    * run on it (created with the graph, freed with it) */
	unsigned version;                  /* changes with every edit that plans must follow (shapes,
	                                    * nodes, sparse kernels, frozen layers): a plan made for
	                                    * another version plans anew when reshaped */
} sn_graph;

sn_graph *sn_graph_new(void);
void sn_graph_free(sn_graph *g);
/* Appends a node (inputs already set by the caller); returns its index or a negative status. */
int sn_graph_add(sn_graph *g, const sn_node *n);
int sn_graph_find(const sn_graph *g, const char *name);           /* node index or -1 */
int sn_tensor_find(const sn_graph *g, const char *name);          /* tensor index or -1 */
/* Infers every output shape and creates the parameter tensors (zeros). Errors name the layer
 * and both shapes. Call after building or editing a graph. */
int sn_graph_infer(sn_graph *g);
/* PyTorch's default initialisation (kaiming-uniform a=sqrt(5); BN weight 1, bias 0, var 1). */
void sn_graph_init_params(sn_graph *g, uint64_t seed);
/* The graph's own plan (g->plan), for callers that run a model from one thread:
 * sn_plan_reshape(g->plan, batch, train ? SN_PLAN_TRAIN : 0), sn_plan_forward(g->plan, ...) and
 * sn_plan_backward(g->plan, ...). */
int sn_graph_plan(sn_graph *g, int batch, int train);
const float *sn_graph_forward(sn_graph *g, const float *x, int batch);
int sn_graph_backward(sn_graph *g, const float *dlogits);
void sn_graph_zero_grad(sn_graph *g);
sn_graph *sn_graph_clone(const sn_graph *g);                      /* structure and values */
sn_shape sn_graph_input_shape(const sn_graph *g);
sn_shape sn_graph_output_shape(const sn_graph *g);
/* Replaces the input shape (summary --input) and re-infers. */
int sn_graph_set_input(sn_graph *g, int c, int h, int w);
size_t sn_graph_count(const sn_graph *g, sn_tensor_kind kind, int trainable_only);

/* Sparse inference (XNNPACK-style SpMM): the non-zero weights of a layer are packed per output
 * channel with delta-encoded input offsets, and each one multiplies a dense row of pixels (1x1
 * conv) or of batch samples (Linear). Eligible: 1x1 stride-1 unpadded ungrouped convs and Linears.
 *   SN_SPARSE_AUTO   sparse where it is faster than dense: a layer goes sparse when at least
 *                    this fraction of its weights is zero (crossovers measured against the dense
 *                    sgemm path on AVX2; K = input channels, P = pixels per image):
 *                        1x1 conv    K <= 64   K <= 128   K > 128
 *                        P >= 64      20 %      30 %       45 %
 *                        P <  64      40 %      45 %       60 %
 *                        Linear: 70 % (80 % with fewer than 16 outputs), whatever the batch
 *                    The int8 layers of a quantized model run the int8 SpMM instead, with
 *                    crossovers measured against the int8 dense kernels (on their int8 weights):
 *                    1x1 conv 30 %; Linear 90 %, and 98 % where a plan runs it on 1 to 3 rows
 *   SN_SPARSE_FORCE  every eligible layer sparse (also all-zero ones: the output is the bias)
 *   SN_SPARSE_OFF    every layer dense (frees the packed weights)
 * Only inference plans (train == 0) take the sparse path; a training plan turns every layer
 * back to dense. The packed weights are a snapshot: call again after the weights change (pruning,
 * fine-tuning, loading). Plan after selecting (sparse layers want workspace; without it a
 * Linear runs dense). Returns the number of sparse layers, or < 0. */
typedef enum { SN_SPARSE_AUTO, SN_SPARSE_OFF, SN_SPARSE_FORCE } sn_sparse_mode;
int sn_graph_select_sparse(sn_graph *g, sn_sparse_mode mode);

/* ---------------------------------------------------------------- the operator table */
/* One row per operator, defined next to it in src/ops/ and listed in src/ops/registry.c. Its
 * behaviour is one function that answers four questions (kann-style); everything else the
 * library knows about it comes from the row: its keys in architecture text (the parser and the
 * writer read them from here), its tensors and their initialisation, the in-place rules, its
 * multiply-adds, how pruning sees its channels, its ONNX name and the text slimnn bench shows.
 * Adding an operator: its enum value, its file with its row, its line in registry.c, tests. */
typedef enum { SN_ACT_SHAPE, SN_ACT_SIZES, SN_ACT_FORWARD, SN_ACT_BACKWARD } sn_action;
/* p is the plan that sizes or runs node n (NULL for SN_ACT_SHAPE, the only action that may
 * change the graph: it sets n->out and creates n's tensors). */
typedef int (*sn_op_fn)(sn_graph *g, sn_node *n, sn_plan *p, sn_action act);

/* An attribute: one key=value of architecture text, kept in the node at byte offsets off[]
 * (offsetof(sn_node, a.conv.kh)); ints (and enums) as int, floats as float. */
typedef enum {
	SN_AT_INT,    /* decimal digits in [lo, hi] */
	SN_AT_FLOAT,  /* a finite number in [lo, hi] (flags may exclude either end), written shortest */
	SN_AT_PAIR,   /* "K" or "HxW", integers in [lo, hi], at off[0] and off[1] */
	SN_AT_PADS,   /* "P", "PHxPW" or "T,B,L,R" (integers >= 0) at off[0..3]: top, bottom, left, right */
	SN_AT_ENUM,   /* one of names[], kept as its index */
	SN_AT_SHAPE   /* "CxHxW", integers in [lo, hi], at off[0..2] */
} sn_attr_type;
enum {
	SN_AF_REQUIRED = 1,  /* must be given, always written; the others are written when not the default */
	SN_AF_LATE = 2,      /* listed after frozen= where messages list keys (it came later: old lists stay) */
	SN_AF_LO_OPEN = 4,   /* SN_AT_FLOAT: lo itself is refused */
	SN_AF_HI_OPEN = 8,   /* SN_AT_FLOAT: hi itself is refused */
	SN_AF_SAME = 16      /* SN_AT_PADS: also "same" (sets the int at same_off) and "valid" (no padding) */
};
typedef struct {
	const char *key;
	sn_attr_type type;
	unsigned flags;
	size_t off[4];
	double lo, hi;
	double def;                    /* default of every component (exact: write floats as 0.1f) */
	const char *def_key;           /* or the default is this other attribute's value (a pool's stride: k) */
	const char *const *names;      /* SN_AT_ENUM: the words; what the index means */
	int n_names;
	const char *what;              /* SN_AT_ENUM: what it is ("padding mode"), for errors */
	size_t same_off;               /* SN_AF_SAME */
	const char *expect;            /* a bad value is "bad value 'v' for key=; expected <expect>" */
} sn_attr_def;

/* A tensor of the operator, in node slot t[i] for tensors[i], named "<node>.<suffix>". Initial
 * values (sn_graph_init_params), as PyTorch's: */
typedef enum {
	SN_INIT_ZERO,
	SN_INIT_ONE,
	SN_INIT_FAN_IN   /* uniform in +-1/sqrt(fan_in), fan_in = the weight's values per output row:
	                  * kaiming_uniform(a=sqrt(5)) for weights and PyTorch's bias rule alike */
} sn_init_rule;
typedef struct { const char *suffix; sn_tensor_kind kind; sn_init_rule init; } sn_tensor_def;

/* How the channels of a node's output relate to its inputs' (pruning's channel dependency
 * graph, docs/prune.md): */
typedef enum {
	SN_CH_OPAQUE,   /* not seen through: its inputs keep every channel, its output's are new and fixed */
	SN_CH_PASS,     /* output channel k is input 0's channel k; its tensors' rows (if any) are channels */
	SN_CH_FLATTEN,  /* as PASS, each channel becoming H*W features of a flat output */
	SN_CH_SOURCE,   /* the input: its channels exist and stay */
	SN_CH_MAKES,    /* its weight's rows are new channels (filters, neurons) that may be removed; its
	                 * weight's columns read its input's channels */
	SN_CH_TIES,     /* its inputs' channels joined one to one (add, mul): removed together */
	SN_CH_CONCAT    /* its inputs' channels one after the other */
} sn_chan_rule;

/* Multiply-adds, as torchinfo counts them: every parameter value once per sample, or once per
 * output pixel (convs). Layers without parameters count none. */
typedef enum { SN_MACS_PER_SAMPLE, SN_MACS_PER_PIXEL } sn_macs_rule;

enum {
	SN_OPF_IN_PLACE = 1,       /* may overwrite its input's buffer where it is that input's only reader
	                            * (sn_graph_plan): its backward reads only its own output and gradient */
	SN_OPF_READS_OUTPUT = 2,   /* its backward reads its own output: no reader may overwrite it in place */
	SN_OPF_ELEMENTWISE = 4,    /* one input, y[i] = f(x[i]), no parameters */
	SN_OPF_Q8_SAME = 8         /* int8: its output keeps its input's parameters (max pooling,
	                            * moves and copies of values) */
};

typedef struct {
	const char *key;                  /* word in architecture files: "conv" */
	const char *torch;                /* PyTorch class name: "Conv2d" */
	int min_in, max_in;
	sn_op_fn run;
	unsigned flags;                   /* SN_OPF_* */
	const sn_attr_def *attrs;         /* its keys besides in= and frozen=, in the order they are written */
	int n_attrs;
	const sn_tensor_def *tensors;     /* its tensors by slot (sn_node.t[]) */
	int n_tensors;
	sn_macs_rule macs;
	sn_chan_rule chan;
	sn_chan_rule (*chan_of)(const sn_graph *g, const sn_node *n);   /* where the attributes decide (conv) */
	const char *(*torch_of)(const sn_node *n);   /* where the attributes pick the PyTorch class (pad) */
	const char *path, *path_in_place; /* the code inference runs, in words (default "elementwise") */
	const char *onnx;                 /* the ONNX operator of the same meaning, without attributes: the
	                                   * importer reads it as this operator, the exporter writes it */
	int onnx_since;                   /* the opset that has it (the exporter writes its own form below) */
	sn_op_fn run_q8;                  /* int8 inference (SN_ACT_SIZES, SN_ACT_FORWARD) of quantized
	                                   * models, or NULL: the layer then runs in float between a
	                                   * dequantize and a quantize (docs/quantize.md) */
	int (*fuses_into_input)(const sn_graph *g, const sn_node *n);   /* 1 where the layer that makes
	                                   * its input can write its output instead (a 2x2 max-pool after
	                                   * a depthwise conv): float inference plans then let it */
} sn_op_def;
const sn_op_def *sn_op_get(sn_op op);
int sn_op_from_key(const char *key);              /* -1 if unknown */
/* Sets n->a to the defaults of n->op (PyTorch's), as a layer written without keys gets them. */
void sn_node_defaults(sn_node *n);
/* How node n treats channels (its row's rule, or what its attributes make it: a conv). */
sn_chan_rule sn_node_chan(const sn_graph *g, const sn_node *n);
/* Multiply-adds of one node for one sample (the row's rule). nonzero_only counts only non-zero
 * parameter values (the work a sparse kernel does). */
uint64_t sn_node_macs(const sn_graph *g, const sn_node *n, int nonzero_only);

/* ---------------------------------------------------------------- plans */
/* A model and the running of it are apart, in the spirit of XNNPACK's create / reshape / run:
 * the graph is what the network is (nodes, tensors, weights, sparse packs); a plan is one
 * caller's run of it: the arena with every node's output, gradient and saved values, the
 * workspace, the batch, the mode (training or inference), the profile clocks and the dropout
 * stream. An inference plan only reads the model, so plans on one model run at the same time,
 * one thread each, and each gives bit for bit what it would give alone:
 *
 *   sn_plan *p = sn_plan_new(g);                 // per thread; holds no memory yet
 *   sn_plan_reshape(p, 64, 0);                   // an inference arena for batches up to 64
 *   const float *z = sn_plan_forward(p, x, 17);  // logits of 17 rows, valid until p's next pass
 *   sn_plan_free(p);                             // plans go before their model
 *
 * A training plan writes into the model: backward accumulates into g->gw, training-mode
 * BatchNorm updates the running statistics, and reshaping one turns sparse layers back to dense;
 * it needs the model to itself. Nothing may change the model while its plans run; after an edit
 * (sn_graph_infer, sn_graph_set_input, sn_graph_select_sparse, frozen flags) reshape them, and
 * inference plans after a change of weights too (they keep some layers' weights packed for their
 * kernels, packed again at the first forward after a reshape; training plans pack every pass). */
enum {
	SN_PLAN_TRAIN = 1,                /* gradients and what backward keeps; training mode */
	SN_PLAN_INPUT_GRAD = 2,           /* with SN_PLAN_TRAIN: d(loss)/d(input) too (sn_plan_grad(p, 0)) */
	SN_PLAN_KEEP_OUTPUTS = 4,         /* every node's output stays valid after forward, none
	                                     overwritten in place; otherwise an inference plan reuses the
	                                     memory of outputs that no later node reads (training plans
	                                     keep all, but a ReLU may work in place on its input's) */
	SN_PLAN_FAKE_QUANT = 8            /* a quantized model run in float, each output an int8 layer
	                                     would hold in int8 rounded to its int8 grid (fake
	                                     quantization); with SN_PLAN_TRAIN the gradient goes straight
	                                     through the rounding and stops where it clamped: what
	                                     quantization-aware training (sn_train_opts.qat) runs */
};
sn_plan *sn_plan_new(const sn_graph *g);          /* NULL + sn_errmsg() when out of memory */
void sn_plan_free(sn_plan *p);
/* Sizes p for batches up to `batch` with `flags` (SN_PLAN_*) and sets its mode: training with
 * SN_PLAN_TRAIN, else inference. Keeps its memory where that already serves (a larger batch; a
 * training plan for inference, as it holds everything forward needs; one that keeps outputs or
 * the input's gradient for a request without) and the model has not changed since; else plans
 * anew (the old outputs are gone). */
int sn_plan_reshape(sn_plan *p, int batch, unsigned flags);
/* x: [batch x input numel], batch at most the planned one (not copied: sn_plan_output(p, 0) is x).
 * Returns the last node's output (logits); NULL + sn_errmsg() on failure. */
const float *sn_plan_forward(sn_plan *p, const float *x, int batch);
/* dlogits: gradient of the loss w.r.t. the last node's output, after a forward of a training
 * plan. Accumulates into g->gw. SN_OK, or the status of the node that failed (sn_errmsg() names it). */
int sn_plan_backward(sn_plan *p, const float *dlogits);
/* Mode of the next passes: 1 training behaviour of BatchNorm and Dropout (training plans only),
 * 0 inference behaviour (any plan). */
int sn_plan_set_train(sn_plan *p, int train);
/* Node `node`'s output after forward and, after backward, d(loss)/d(output) (NULL where the plan
 * keeps none: an inference plan has no gradients). An inference plan without
 * SN_PLAN_KEEP_OUTPUTS guarantees only the last node's output: earlier ones may be overwritten. */
const float *sn_plan_output(const sn_plan *p, int node);
const float *sn_plan_grad(const sn_plan *p, int node);
size_t sn_plan_arena_bytes(const sn_plan *p);      /* activations, gradients, saved values, workspace */
sn_rng *sn_plan_rng(sn_plan *p);                   /* the dropout stream (seeded with 1 when made) */
/* Per-node clocks: on (1) starts them from zero, off (0) stops them; sn_plan_seconds gives a
 * node's time in SN_ACT_FORWARD or SN_ACT_BACKWARD since they started. */
void sn_plan_profile(sn_plan *p, int on);
double sn_plan_seconds(const sn_plan *p, int node, sn_action act);

/* ---------------------------------------------------------------- graph rewriting */
/* Passes (lighten, structured pruning) build a new graph from an old one, node by node:
 *   sn_rewrite *rw = sn_rewrite_begin(g);
 *   for each old node i: either sn_rewrite_keep(rw, i), or emit replacement nodes with
 *       sn_rewrite_emit(rw, &node) (inputs given as NEW indices, e.g. sn_rewrite_input(rw, old))
 *       and say which new node now produces old node i's output with sn_rewrite_map(rw, i, j);
 *   sn_graph *h = sn_rewrite_end(rw);   // shapes inferred; every tensor whose name and dims
 *                                       // match the old graph keeps its values (and mask)
 * New or reshaped tensors start at zero: the pass then fills them. */
typedef struct sn_rewrite sn_rewrite;
sn_rewrite *sn_rewrite_begin(const sn_graph *src);
int sn_rewrite_keep(sn_rewrite *rw, int old);                 /* new index, or < 0 */
int sn_rewrite_emit(sn_rewrite *rw, const sn_node *n);        /* new index, or < 0 */
void sn_rewrite_map(sn_rewrite *rw, int old, int new_index);
int sn_rewrite_input(const sn_rewrite *rw, int old);          /* new index producing old's output */
sn_graph *sn_rewrite_end(sn_rewrite *rw);                     /* NULL + sn_errmsg() on failure */
void sn_rewrite_abort(sn_rewrite *rw);

/* ---------------------------------------------------------------- prepare for inference */
/* A new graph that computes the same outputs in inference mode (up to rounding) with fewer
 * passes over memory (g is not changed):
 *   - a BatchNorm whose input is a conv read by nothing else is folded into the conv's weight
 *     and bias (W' = W s, b' = (b - mean) s + beta, s = gamma / sqrt(var + eps); the conv gains
 *     a bias); pruned weights stay zero and keep their masks
 *   - a ReLU or ReLU6 that is the only reader of a conv (or of its folded BatchNorm) becomes the
 *     conv's fused activation (sn_conv_attr.act; written act=relu|relu6 in architecture text)
 *   - Dropout, an identity at inference, is removed
 *   - a squeeze-and-excitation block (torchvision's SqueezeExcitation with SiLU and Sigmoid, as
 *     efficientnet has it: x * Sigmoid(fc2(SiLU(fc1(GAP(x)))))), with the SiLU before it when x
 *     is one that only the block reads, becomes one se layer that works on x's buffer in place
 * then sn_graph_select_sparse(sparse) picks the kernels. The fused conv keeps its name and takes
 * the place of the last layer it absorbed, so the graph's output stays its last node. The result
 * is meant for inference: training it would train a different (BatchNorm-free) network. */
typedef struct {
	int fold_bn, fuse_act, remove_dropout;   /* each 1 by default */
	int fuse_se;                             /* squeeze-and-excitation blocks into one se layer (1) */
	sn_sparse_mode sparse;                   /* SN_SPARSE_AUTO */
} sn_prepare_opts;
sn_prepare_opts sn_prepare_defaults(void);

typedef struct {
	int folded_bn, fused_act, removed_dropout;
	int fused_se;                            /* se layers made */
	int sparse_layers;                       /* what sn_graph_select_sparse chose */
	int nodes_before, nodes_after;
} sn_prepare_report;

/* o and r may be NULL (defaults, no report). NULL + sn_errmsg() on failure. */
sn_graph *sn_prepare_inference(const sn_graph *g, const sn_prepare_opts *o, sn_prepare_report *r);
/* The code g's own plan (planned for inference) runs for node n, in words, into buf: "depthwise
 * direct sn_f32_dwconv_3x3s1__avx2", "im2col + GEMM", "sparse 1x1 SpMM (avx2)", "elementwise,
 * in place"... */
const char *sn_node_path(const sn_graph *g, const sn_node *n, char *buf, size_t len);

/* ---------------------------------------------------------------- transfer learning */
/* The classifier (head) of a model: the last Linear, whose output reaches the graph's output
 * through nothing but Flatten, Dropout or Softmax, or a 1x1 conv (groups 1) followed, through
 * element-wise activations or Dropout, by global average pooling at the end (SqueezeNet's
 * conv 1x1 -> ReLU -> pool -> flatten). Every layer between it and the output reads only its
 * predecessor. Returns its node index and writes its name into name (len bytes), or < 0 with a
 * message naming the model's last layers. */
int sn_find_head(const sn_graph *g, char *name, size_t len);
/* A new graph (g unchanged) whose head has `classes` outputs: the same name, kind and attributes,
 * a bias, not frozen, no pruning mask, and weights drawn from seed as PyTorch initialises a fresh
 * nn.Linear / nn.Conv2d (kaiming-uniform a=sqrt(5); bias uniform within 1/sqrt(fan_in)). Every
 * other tensor is kept bit for bit. head_name (may be NULL) gets the head's name. */
sn_graph *sn_replace_head(const sn_graph *g, int classes, uint64_t seed, char *head_name, size_t len);

/* ---------------------------------------------------------------- random numbers */
void sn_rng_seed(sn_rng *r, uint64_t seed);
uint64_t sn_rng_u64(sn_rng *r);
float sn_rng_uniform(sn_rng *r);                  /* [0,1) */
uint32_t sn_rng_below(sn_rng *r, uint32_t n);     /* [0,n) */

/* ---------------------------------------------------------------- architecture text */
/* One layer per line:  TYPE NAME [key=value ...]   ('#' starts a comment).
 * The input of a layer is the previous line unless `in=a,b` names others. See models/README. */
sn_graph *sn_arch_parse(const char *text, const char *filename);  /* NULL + sn_errmsg() */
sn_graph *sn_arch_load(const char *path);
/* Canonical text of a graph; parses back to the same graph. Caller frees. */
char *sn_arch_write(const sn_graph *g);

/* ---------------------------------------------------------------- data */
/* Input normalisation: a model input is (v - mean[ch]) / std[ch], where v is a stored byte / 255
 * or a stored float as it is. c == 1: one pair for every channel. */
#define SN_NORM_MAX_C 16
typedef struct { int c; float mean[SN_NORM_MAX_C], std[SN_NORM_MAX_C]; } sn_norm;

/* A labelled data set (docs/data.md). Samples are held in memory -- bytes (images) or floats
 * (fimages), NCHW at the shape batches have -- or, for image folders too large to cache, decoded
 * from their files when a batch is made (src: a pool of loader threads keeps batches ready).
 * index, when set, selects and orders the samples: batch row i is stored sample index[i]. */
typedef struct sn_source sn_source;
typedef struct {
	int n, c, h, w;                   /* samples, and the shape of each as batches give it */
	uint8_t *images;                  /* in memory: stored samples * c*h*w bytes, or NULL */
	float *fimages;                   /* in memory as floats (NumPy float data), or NULL */
	sn_source *src;                   /* streamed from files (image folders), or NULL */
	int32_t *labels;                  /* one per stored sample, in [0, classes) */
	int *index;                       /* NULL: stored samples 0..n-1; else n stored-sample numbers */
	int classes;
	sn_norm norm;                     /* normalisation applied when batches are made */
	char *names;                      /* class names, NUL-separated, `classes` of them, or NULL */
	char format[48];                  /* what was read: "idx", "image folder", "npy NHWC uint8"... */
	int shared;                       /* a view: sn_dataset_free releases only index */
} sn_dataset;

/* The label of batch row i (through index). */
static inline int32_t sn_dataset_label(const sn_dataset *d, int i) { return d->labels[d->index ? d->index[i] : i]; }
/* Name of class k: the data set's, or "k" written into buf. */
const char *sn_class_name(const char *names, int classes, int k, char *buf, size_t len);

/* Opens a data set for a model, the format found from what SPEC holds (docs/data.md; NULL:
 * Fashion-MNIST where Debian's dataset-fashion-mnist puts it, /usr/share/datasets/fashion-mnist):
 *   IDX        DIR/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz] (MNIST, Fashion-MNIST)
 *   folders    DIR/train/<class>/...{png,jpg,jpeg} and DIR/test/ (or val/), or DIR/<class>/ alone
 *   NumPy      DIR/{train,test}_{x,y}.npy, or FILE.npz (or DIR with one .npz) holding those keys
 *   CIFAR      DIR/data_batch_*.bin + test_batch.bin (10), DIR/train.bin + test.bin (100)
 * Samples become the model's input shape: gray <-> RGB, and images of another size resized
 * (shorter side to resize, bilinear) and centre-cropped. Labels must lie in [0, classes). */
typedef enum { SN_CACHE_AUTO, SN_CACHE_ON, SN_CACHE_OFF } sn_cache_mode;
typedef struct {
	int c, h, w;                      /* the model's input: what a batch row holds */
	int resize;                       /* shorter side before the centre crop (0: max(h, w)) */
	int limit;                        /* > 0: the first `limit` samples of each split */
	float val_split;                  /* > 0: the test split is this seeded fraction of the training
	                                     samples (needed when the data has no test split) */
	uint64_t seed;                    /* for val_split and the statistics' sample */
	sn_cache_mode cache;              /* image folders: decode into memory (auto: when the decoded
	                                     images take at most cache_bytes) or decode per batch */
	size_t cache_bytes;               /* 0: a quarter of the machine's memory */
	int threads;                      /* decoding threads (0: every core) */
	const sn_norm *norm;              /* the normalisation to apply (a model's); NULL: the training
	                                     split's per-channel statistics */
	int need_train;                   /* 0: the caller wants only the test split */
} sn_data_opts;
sn_data_opts sn_data_defaults(void);

typedef struct {
	char format[48];                  /* "image folder", "npy", "cifar-10"... */
	char notes[512];                  /* what was assumed ("train_x.npy [N,28,28,1] read as NHWC") */
	long skipped;                     /* images that failed to decode: dropped, or (streamed) the
	                                     mean instead, counted while training */
	char first_bad[512];
	long other_files;                 /* files in class folders without an image extension: ignored */
	char first_other[512];
	int cached, streamed;
} sn_data_report;

/* train (may be NULL) and test are filled; r may be NULL. Errors name the file and the fix. */
int sn_data_open(const char *spec, const sn_data_opts *o, sn_dataset *train, sn_dataset *test, sn_data_report *r);

/* One PNG or JPEG file as a model input row x (c*h*w floats): decoded, resized (shorter side
 * to resize; 0: max(h, w)) and centre-cropped, then normalised, exactly as test images are. */
int sn_image_input(const char *path, int c, int h, int w, int resize, const sn_norm *norm, float *x);
/* path itself, or every .png/.jpg/.jpeg under the folder path in sorted order; the caller frees
 * each path and the array. */
int sn_image_files(const char *path, char ***paths, int *n);

/* Reads an IDX file (gzipped or not). *dims gets up to 4 dims. Caller frees *data. */
int sn_idx_read(const char *path, int expect_ndim, int *dims, uint8_t **data);
/* Fashion-MNIST (or MNIST) from DIR (NULL: /usr/share/datasets/fashion-mnist, where Debian's
 * dataset-fashion-mnist puts it); limit > 0 keeps the first `limit` samples of each split. */
int sn_fmnist_load(const char *dir, sn_dataset *train, sn_dataset *test, int limit);
void sn_dataset_free(sn_dataset *d);
/* Rows idx[0..n) of d as a view (shared storage, own index); free it with sn_dataset_free
 * before d. */
int sn_dataset_view(const sn_dataset *d, const int *idx, int n, sn_dataset *v);

/* Training augmentation, drawn per sample from the trainer's seeded stream:
 *   crop_pad   random crop with this much zero padding on each side (torchvision RandomCrop)
 *   hflip      horizontal flip with probability 1/2
 *   rrc        random-resized-crop (image folders): area fraction in [rrc_scale, 1], aspect
 *              ratio in [3/4, 4/3], resized to the model's input (torchvision's defaults 0.08) */
typedef struct { int crop_pad; int hflip; int rrc; float rrc_scale; } sn_augment;
/* What augmentation does to one sample, drawn before the sample is made so that batches depend
 * on the seed only, never on which loader thread makes them. */
typedef struct { int16_t dy, dx; uint8_t flip; float rrc_scale; uint64_t seed; } sn_draw;
/* Draws n samples' augmentation from rng (crop offsets, then flip, per sample: the order
 * fixes the stream). */
void sn_augment_draw(const sn_augment *aug, sn_rng *rng, int n, sn_draw *draws);
/* Makes a normalised float batch from rows idx[0..n) of d: x [n x c*h*w], y [n] (may be NULL).
 * draws may be NULL (no augmentation). Streamed data sets decode here; returns SN_OK, or the
 * first failure (a file that became unreadable). Safe from several threads at once. */
int sn_dataset_make(const sn_dataset *d, const int *idx, int n, const sn_draw *draws, float *x, int32_t *y);
/* The same with the augmentation drawn from rng (aug and rng may be NULL). */
int sn_dataset_batch(const sn_dataset *d, const int *idx, int n, const sn_augment *aug, sn_rng *rng, float *x,
                     int32_t *y);

/* NumPy .npy (float32, C order) */
int sn_npy_read(const char *path, int *ndim, int dims[8], float **data);
int sn_npy_write(const char *path, int ndim, const int *dims, const float *data);

/* ---------------------------------------------------------------- model files (.slim) */
#define SN_META_NAMES 32768               /* bytes of class names a model stores (ImageNet's need 10 KB) */
typedef struct {
	char dataset[64];
	int epochs;                       /* epochs trained so far */
	double test_accuracy;             /* < 0 if unknown */
	double test_loss;
	uint64_t seed;
	sn_norm norm;                     /* the input normalisation the model was trained with (c 0:
	                                     unknown, use the data set's own) */
	int resize;                       /* image data: shorter side resized to this before the centre
	                                     crop to the input (0: to the crop's larger side) */
	int classes;                      /* class names stored: how many (0: none) */
	char names[SN_META_NAMES];        /* class names, NUL-separated */
} sn_meta;

/* Optional training state stored in checkpoints so --resume continues exactly. */
typedef struct {
	int present;
	int epoch;                        /* next epoch to run */
	uint64_t step;
	sn_rng rng;                       /* data order / augmentation stream */
	sn_rng graph_rng;                 /* dropout stream (of the graph's own plan) */
	float *opt_m, *opt_v;             /* optimizer state, g->n_w each (v may be NULL) */
	char recipe[1024];                /* the options of the run, as text */
} sn_train_state;

int sn_model_save(const sn_graph *g, const sn_meta *meta, const sn_train_state *st, const char *path);
/* Loads and validates everything (sizes, shapes, offsets, checksum). st may be NULL. */
sn_graph *sn_model_load(const char *path, sn_meta *meta, sn_train_state *st);
sn_graph *sn_model_read(const void *data, size_t len, sn_meta *meta, sn_train_state *st);   /* from memory */
/* Architecture file (.arch), model file (.slim) or ONNX model (.onnx), chosen by content. */
sn_graph *sn_load_any(const char *path, sn_meta *meta);

/* ---------------------------------------------------------------- training */
typedef enum { SN_OPT_SGD, SN_OPT_ADAM } sn_optimizer;
typedef enum { SN_SCHED_CONST, SN_SCHED_STEP, SN_SCHED_COSINE, SN_SCHED_ONECYCLE } sn_schedule;

typedef struct {
	int epochs, batch, threads, limit;
	float lr, momentum, weight_decay;
	int nesterov;
	float beta1, beta2, adam_eps;
	sn_optimizer optimizer;
	sn_schedule schedule;
	int step_size; float gamma;       /* step schedule: lr *= gamma every step_size epochs */
	float pct_start;                  /* one-cycle warm-up fraction */
	sn_augment augment;
	uint64_t seed;
	int progress;                     /* live progress bar on stderr */
	const char *checkpoint;           /* written atomically after every epoch (NULL: none) */
	float max_loss;                   /* stop as diverged above this (and on NaN) */
	/* knowledge distillation (NULL: plain cross-entropy): the teacher runs forward in inference
	 * mode on the same augmented batch; loss = kd_alpha * kd_t^2 * KL(teacher || student at
	 * temperature kd_t) + (1 - kd_alpha) * cross-entropy. Not const: it runs on its own plan. */
	sn_graph *teacher;
	float kd_alpha, kd_t;
	float label_smoothing;            /* cross-entropy target (1 - e) on the label, e / classes on all */
	int clean_epochs;                 /* the last this many epochs run without augmentation */
	int loader_threads;               /* threads making batches ahead (0: 1 for data in memory,
	                                     every core for image files decoded on the fly) */
	int freeze_epochs;                /* transfer learning: the first this many epochs train only the
	                                     layers named in head; afterwards every unfrozen layer trains */
	const char *head;                 /* comma-separated layer names ("fc"), for freeze_epochs */
	/* quantization-aware training of a quantized model (sn_quantize's): every step runs the int8
	 * layers' weights and the activations they read and write rounded to their int8 grids
	 * (SN_PLAN_FAKE_QUANT) and the float weights learn through the rounding; every epoch ends
	 * with the int8 model of the weights (evaluated in int8, checkpointed), which stays in g */
	int qat;
	int qat_observe_epochs;           /* the first this many epochs move the activation ranges with
	                                     the data (moving min/max), later ones keep them
	                                     (-1: half the epochs, rounded up) */
	float qat_momentum;               /* the observers' averaging constant */
} sn_train_opts;

sn_train_opts sn_train_defaults(void);
/* Learning rate at a step (0-based) of total steps. */
float sn_schedule_lr(const sn_train_opts *o, uint64_t step, uint64_t total, int steps_per_epoch);

typedef struct {
	double loss, accuracy, top5;      /* top5: the label among the 5 largest outputs (1 with <= 5) */
	int n, classes;
	int *confusion;                   /* classes x classes, [true * classes + predicted] */
} sn_eval_result;

/* Test-set loss, top-1 and top-5 accuracy and the confusion matrix (free with sn_eval_free). */
int sn_evaluate(sn_graph *g, const sn_dataset *d, int batch, sn_eval_result *r);
void sn_eval_free(sn_eval_result *r);
/* softmax cross-entropy over n rows; writes dlogits (mean over rows) if not NULL;
 * returns the summed loss, counts correct predictions into *correct. */
double sn_softmax_xent(const float *logits, const int32_t *labels, int n, int classes,
                       float *dlogits, int *correct);
/* The same with label smoothing e in [0, 1) (e = 0 is sn_softmax_xent). */
double sn_softmax_xent_smooth(const float *logits, const int32_t *labels, int n, int classes, float smoothing,
                              float *dlogits, int *correct);

typedef struct {
	int epoch;
	double train_loss, train_acc, test_acc, test_loss, seconds, images_per_s;
	double loader_busy, loader_wait;  /* seconds the loader threads worked (summed), the trainer waited */
} sn_epoch_report;
typedef void (*sn_epoch_cb)(const sn_epoch_report *r, void *user);

/* Trains g. st (may be NULL) resumes from and is updated with the training state. */
int sn_train(sn_graph *g, const sn_dataset *train, const sn_dataset *test,
             const sn_train_opts *o, sn_train_state *st, sn_meta *meta);

/* ---------------------------------------------------------------- summary */
/* One row per layer (the input excluded), numbered as torchsummary does ("Conv2d-1"). */
typedef struct {
	char label[48];                   /* "Conv2d-1" */
	int node;
	sn_shape out;
	char kernel[32];                  /* "3x3 /2 g32" or "" */
	size_t params, trainable, nonzero;
	uint64_t macs;                    /* per sample, torchinfo's convention */
} sn_summary_row;

typedef struct {
	int n_rows;
	sn_summary_row *rows;
	int batch;                        /* -1: shapes print as [-1, ...], sizes for one sample */
	size_t params, trainable, nonzero, buffers;
	uint64_t macs;                    /* per sample */
	uint64_t macs_nonzero;            /* counting only non-zero weights (pruned models) */
	double input_mb, fwd_bwd_mb, params_mb, total_mb;   /* torchsummary's size estimates (params_mb:
	                                                     * int8 weights at one byte a value) */
	int int8_layers;                  /* layers that run in int8 (quantized models) */
	size_t int8_values;               /* parameter values stored in int8 */
} sn_summary;

int sn_summarize(const sn_graph *g, int batch, sn_summary *s);
void sn_summary_free(sn_summary *s);
enum { SN_SUMMARY_MACS = 1 };         /* extra columns: kernel, mult-adds, non-zero, sparsity */
void sn_summary_print(FILE *f, const sn_summary *s, unsigned flags);
void sn_summary_json(FILE *f, const sn_summary *s, const char *model, const sn_meta *meta, long file_bytes);

/* ---------------------------------------------------------------- threads */
/* OpenMP threads for kernels (n <= 0: every core). BLAS stays single-threaded: the first call
 * (sn_get_threads makes it if the caller does not) sets OpenBLAS to one thread for the process
 * and shuts its worker pool down, whose idle threads would spin beside ours. */
void sn_set_threads(int n);
int sn_get_threads(void);
/* ---------------------------------------------------------------- several processes (MPI)
 * Built with `make MPI=1` and launched by mpirun, training, fine-tuning and evaluation run
 * data-parallel: every process reads the same data set and takes its share of each batch, the
 * gradients are summed once per step, BatchNorm running statistics are averaged after each
 * epoch, and only rank 0 writes files. A program calls sn_dist_init first and sn_dist_finalize
 * last; in a build without MPI they do nothing and there is one process, of rank 0. */
int sn_dist_init(int *argc, char ***argv);
void sn_dist_finalize(void);
void sn_dist_abort(int status);   /* ends every process of the job (after an unrecoverable error) */
int sn_dist_rank(void);
int sn_dist_size(void);
int sn_dist_built(void);          /* 1 when built with MPI */

/* ---------------------------------------------------------------- lighten */
/* Structural lightening of a trained model (slimnn lighten, docs/lighten.md): layers are
 * replaced by cheaper ones initialised in closed form from the trained weights.
 *   SN_LIGHTEN_DSC       Conv2d kxk (groups 1) -> depthwise kxk (groups Cin, multiplier M) then
 *                        pointwise 1x1, from the top-M SVD of each input channel's slice
 *                        W[:, i] (Cout x kh*kw); optionally with BN+ReLU between (MobileNet)
 *   SN_LIGHTEN_GAP_HEAD  flatten -> Linear(C*H*W -> n)  ->  gap -> flatten -> Linear(C -> n),
 *                        weights summed over the spatial positions
 *   SN_LIGHTEN_ASYM      Conv2d kxk -> kx1 (Cin -> r) then 1xk (r -> Cout), truncated SVD of W
 *                        rearranged as a (Cout*kw) x (Cin*kh) matrix
 *   SN_LIGHTEN_SMALL_KERNELS  Conv2d kxk, odd k >= 5 -> a stack of (k-1)/2 3x3 convs (Cin -> Cm ->
 *                        ... -> Cout, Cm = min(Cin, Cout)), least squares on the composed kernel
 * A conv asked to take several gets the first that applies: small-kernels, asym, dsc. */
enum { SN_LIGHTEN_DSC = 1, SN_LIGHTEN_GAP_HEAD = 2, SN_LIGHTEN_ASYM = 4, SN_LIGHTEN_SMALL_KERNELS = 8 };
typedef enum {
	SN_DSC_AUTO,      /* BN+ReLU between when the conv feeds a BatchNorm and calib is given */
	SN_DSC_LINEAR,    /* depthwise then pointwise, nothing between: a pure approximation */
	SN_DSC_BN         /* always BN+ReLU between */
} sn_dsc_mode;

typedef struct {
	unsigned transforms;              /* SN_LIGHTEN_* bits */
	int multiplier;                   /* dsc: depthwise outputs per input channel (1) */
	sn_dsc_mode dsc_mode;
	int rank;                         /* asym: middle channels; 0: from keep */
	float keep;                       /* asym: fraction of the layer's weights to keep (0.5) */
	const char *layers;               /* comma-separated layer names; NULL or "": every eligible layer */
	double min_saving;                /* skip a layer whose transform saves less than this fraction
	                                   * of the whole model's mult-adds (0.02) */
	const sn_dataset *calib;          /* images that set the statistics of inserted BatchNorms so the
	                                   * closed form holds (NULL: identity BN; ReLU may clip) */
	int calib_n;                      /* how many of them (512) */
	int recalibrate;                  /* with calib: the BatchNorm after a replaced layer gets the new
	                                   * layer's output statistics as its running mean and var (1) */
} sn_lighten_opts;
sn_lighten_opts sn_lighten_defaults(void);

typedef struct {
	char layer[SN_NAME_MAX];
	char transform[16];               /* "dsc", "gap-head", "asym", "small-kernels" */
	char replaced_by[160];            /* the new layers: "conv2_dw 3x3 g32, conv2_pw 1x1" */
	size_t old_params, new_params;
	uint64_t old_macs, new_macs;      /* per sample, as sn_node_macs counts them */
	double error;                     /* ||W - W^|| / ||W|| of the closed-form weights */
} sn_lighten_layer;

typedef struct {
	char layer[SN_NAME_MAX];
	char transform[16];
	char reason[160];
} sn_lighten_skip;

typedef struct {
	int n_layers, n_skipped;
	sn_lighten_layer *layers;
	sn_lighten_skip *skipped;
	size_t params_before, params_after;
	uint64_t macs_before, macs_after;
} sn_lighten_report;

/* A new graph with the selected layers replaced (g is not changed); r (may be NULL) gets the
 * report, to be freed with sn_lighten_report_free. NULL + sn_errmsg() on failure. */
sn_graph *sn_lighten(const sn_graph *g, const sn_lighten_opts *o, sn_lighten_report *r);
void sn_lighten_report_free(sn_lighten_report *r);

/* Distillation loss over n rows, summed: alpha * T^2 * KL(softmax(t/T) || softmax(s/T)) +
 * (1 - alpha) * cross-entropy(s, labels). Writes d(mean loss)/d(student) if dlogits is not NULL;
 * counts the student's correct predictions into *correct (may be NULL). */
double sn_distill_xent(const float *student, const float *teacher, const int32_t *labels, int n,
                       int classes, float alpha, float T, float *dlogits, int *correct);

/* ---------------------------------------------------------------- prune */
/* Pruning (docs/prune.md). Weight granularity zeroes the smallest-magnitude weights of the
 * prunable layers and masks them (masks hold through training; .slim files store the survivors
 * sparsely); block granularity does the same with blocks of output channels. Filter granularity
 * removes whole conv output channels together with everything that reads them (BN channels,
 * the next conv's input channels, depthwise convs and their outputs, Linear columns after
 * flatten or pooling), keeps the branches of a residual Add in step and maps channels through
 * Concat by offset: the result is a smaller dense model. Neuron granularity removes Linear
 * output units the same way. */
typedef enum {
	SN_GRAN_WEIGHT,                   /* single weights, masked */
	SN_GRAN_FILTER,                   /* conv output channels, removed ("channel" is its alias) */
	SN_GRAN_NEURON,                   /* Linear output units, removed (the same machinery as filters) */
	SN_GRAN_BLOCK                     /* blocks of sn_prune_opts.block output channels at one input
	                                     position, masked (vector-friendly sparsity) */
} sn_granularity;
typedef enum {
	SN_CRIT_L1, SN_CRIT_L2,           /* magnitude: |w|, or the norm of a block, filter or neuron */
	SN_CRIT_BN,                       /* |gamma| of the BatchNorms that carry a channel (structured) */
	SN_CRIT_TAYLOR                    /* first-order Taylor |w * dL/dw| (Molchanov et al. 2017), with
	                                     the mean |dL/dw| that sn_prune_taylor leaves in g->gw */
} sn_criterion;
typedef enum { SN_SCOPE_LAYER, SN_SCOPE_GLOBAL } sn_scope;
typedef enum { SN_PSCHED_ONESHOT, SN_PSCHED_LINEAR, SN_PSCHED_AGP } sn_prune_schedule;

typedef struct {
	sn_granularity granularity;
	sn_criterion criterion;
	sn_scope scope;
	float target;                     /* fraction of the units removed in the end, [0, 1) */
	int steps;                        /* prune, fine-tune, evaluate: this many rounds */
	int finetune_epochs;              /* per round */
	sn_prune_schedule schedule;
	float max_drop;                   /* accuracy points; stop before a larger drop (< 0: no limit) */
	const char *ignore;               /* layers left alone, "a,b"; NULL: the first conv and the
	                                     last Linear; "none": nothing */
	sn_train_opts train;              /* fine-tuning recipe; epochs and seed are set per round */
	int distill;                      /* 1: the model before pruning teaches every round */
	int eval_batch;
	int block;                        /* block granularity: output channels per block (4) */
	int taylor_batches;               /* taylor: training batches (of train.batch) per estimate (16) */
	const float *layer_targets;       /* NULL, or per node of the model (g->n_node): that layer's own
	                                     final target (< 0: `target`); filter and neuron: the target
	                                     of the group its channels belong to. Implies layer scope; a
	                                     layer given one is pruned even if the default ignore list
	                                     holds it (sn_prune_read_targets fills it from a file) */
} sn_prune_opts;

sn_prune_opts sn_prune_defaults(void);
/* Sparsity the schedule reaches after round t (1..o->steps), starting from s0:
 * oneshot: target at once; linear: s0 + (target - s0) t/steps; agp (Zhu & Gupta):
 * target + (s0 - target)(1 - t/steps)^3. */
float sn_prune_schedule_at(const sn_prune_opts *o, float s0, int t);
/* prunable[i] (g->n_node entries): 1 for the layers a granularity may prune: convs and Linears
 * (weight, block), convs without groups (filter) or Linears (neuron), minus the ignored ones.
 * Unknown names are errors. */
int sn_prune_select(const sn_graph *g, sn_granularity gran, const char *ignore, unsigned char *prunable);
/* Weight granularity: zeroes and masks the smallest |w| so that exactly round(s * n) weights of
 * each prunable tensor (layer scope) or of all of them together (global scope) are pruned.
 * Weights masked before stay masked. BN parameters and biases are never touched. */
int sn_prune_weights(sn_graph *g, const unsigned char *prunable, sn_scope scope, float s);
/* The same for blocks: W viewed as [Cout][rest] splits into blocks of `block` consecutive rows
 * at one column (the last block of a column has Cout % block rows when Cout is not a multiple);
 * exactly round(s * blocks) of them are zeroed and masked, ranked by criterion c: l1 / l2 norm
 * of the block, or taylor, the sum of |w| * |g->gw| over it (global scope then divides each
 * tensor's scores by their L2 norm). Blocks masked before stay masked. block 1 with l1 is
 * sn_prune_weights. */
int sn_prune_blocks(sn_graph *g, const unsigned char *prunable, int block, sn_criterion c, sn_scope scope, float s);
/* Fraction of the blocks of the prunable tensors that are all zero (block 1: of the weights);
 * counts in *done / *total when not NULL. */
double sn_prune_block_sparsity(const sn_graph *g, const unsigned char *prunable, int block, size_t *done,
                               size_t *total);
/* First-order Taylor scores: runs `batches` batches of `batch` training images (drawn by seed,
 * without augmentation) forward and backward in training mode and leaves in g->gw the mean over
 * the batches of |dL/dw|, so that |w| * g->gw is the mean |w * dL/dw| that SN_CRIT_TAYLOR ranks
 * by. The model itself is unchanged (BN running statistics and the dropout stream are restored). */
int sn_prune_taylor(sn_graph *g, const sn_dataset *train, int batches, int batch, uint64_t seed);
/* Fraction of zero weights in the prunable tensors (weight; block: see sn_prune_block_sparsity)
 * or of the prunable channels / neurons removed relative to ref (filter, neuron); counts in
 * *done / *total when not NULL. */
double sn_prune_sparsity(const sn_graph *g, const sn_graph *ref, sn_granularity gran,
                         const unsigned char *prunable, size_t *done, size_t *total);
/* Filter and neuron granularity: a new graph without the least important channels (criterion
 * c, summed over each coupled group), so that round(s * channels) of each group (layer scope) or
 * of all groups (global scope, importance normalised per group: by its mean, for taylor by its
 * L2 norm) are gone, counted against ref (the graph before any filter pruning; NULL: g). The
 * channels are those of the layers marked in prunable: conv filters, or Linear outputs (a
 * neuron loses its weight row and bias, the Linear that reads it the matching column). Every
 * group keeps at least one channel. */
sn_graph *sn_prune_filters(const sn_graph *g, const sn_graph *ref, const unsigned char *prunable,
                           sn_criterion c, sn_scope scope, float s);
/* Prints the coupled channel groups: producers, the Adds and Concats that tie them, the layers
 * that carry the channels (BN, depthwise) and those that read them. */
int sn_prune_print_groups(FILE *f, const sn_graph *g, const unsigned char *prunable);

typedef struct {
	int step;                         /* 0: the model before pruning */
	float target, sparsity;           /* asked and reached (fraction of weights or filters) */
	size_t params, nonzero;
	uint64_t macs, macs_nonzero;      /* per sample; nonzero: counting non-zero weights only */
	long file_bytes;                  /* the .slim file of this model */
	double accuracy, seconds;
	int over_budget;                  /* the drop exceeded max_drop: this round was undone */
} sn_prune_step;
typedef void (*sn_prune_cb)(const sn_prune_step *s, void *user);

/* Statistics of a model for the report (accuracy and seconds left to the caller). */
int sn_prune_measure(const sn_graph *g, const sn_meta *meta, sn_prune_step *s);
/* The loop: evaluate, then per round prune to the schedule's sparsity, fine-tune, evaluate and
 * report (cb may be NULL); stops before the accuracy drop exceeds max_drop, keeping the last
 * model within budget. *g is replaced by the pruned model; meta gets its accuracy. With train and
 * test both NULL it prunes by magnitude alone (0 fine-tuning epochs, no taylor, no max_drop) and
 * the accuracies are -1: a model whose inputs no data set here fits (an ImageNet ONNX file). */
int sn_prune_run(sn_graph **g, const sn_dataset *train, const sn_dataset *test, const sn_prune_opts *o,
                 sn_meta *meta, sn_prune_cb cb, void *user);

/* Names of granularities and criteria as the command line and CSV files write them ("weight",
 * "filter", "l1", ...); the parsers return -1 for unknown names ("channel" is "filter"). */
/* Weight and block granularity mask (zeros kept in place); filter and neuron remove channels. */
static inline int sn_granularity_masks(sn_granularity g) { return g == SN_GRAN_WEIGHT || g == SN_GRAN_BLOCK; }
const char *sn_granularity_name(sn_granularity g);
const char *sn_criterion_name(sn_criterion c);
int sn_granularity_parse(const char *s);
int sn_criterion_parse(const char *s);

/* Sensitivity analysis (slimnn sensitivity): every prunable layer (filter and neuron: every
 * coupled group of channels) is pruned alone at each level, without fine-tuning, and the test
 * accuracy is measured. One planned graph serves every measurement: the layer's tensors are
 * pruned in place and restored bit for bit after each level; channels are zeroed, with their
 * readers' columns, instead of removed, which computes exactly what the smaller model computes. */
typedef struct {
	char layer[SN_NAME_MAX];          /* the layer; filter, neuron: the group's first producer */
	char *members;                    /* the layers pruned: this one, or every producer of the
	                                     group's channels ("a b c": the branches of an Add) */
	size_t units;                     /* its prunable units: weights, blocks, or channels of the group */
} sn_sens_layer;

typedef struct {
	sn_granularity granularity;
	sn_criterion criterion;
	int n_levels;
	float *levels;                    /* the fractions asked, ascending */
	int n_layers;
	sn_sens_layer *layers;
	double *accuracy;                 /* [layer * n_levels + level]: test accuracy, that layer pruned */
	size_t *pruned;                   /* the same layout: units pruned (exactly round(level * units),
	                                     but a group keeps a channel; weights masked before count) */
	double baseline;                  /* the accuracy of the model as it is */
	int images;                       /* test images evaluated */
} sn_sensitivity;

typedef void (*sn_sens_cb)(const sn_sensitivity *s, int layer, int level, void *user);
typedef struct {
	const float *levels;              /* ascending fractions in [0, 1) */
	int n_levels;
	sn_prune_opts prune;              /* how to prune: granularity, criterion, ignore, block,
	                                     taylor_batches and train.batch / train.seed (taylor), eval_batch */
	sn_sens_cb progress;              /* after the baseline (layer -1) and every measurement; may be NULL */
	void *user;
} sn_sens_opts;
sn_sens_opts sn_sens_defaults(void);  /* levels 0.1, 0.2, ..., 0.9; sn_prune_defaults() */

/* Fills s (free with sn_sensitivity_free). train is used by the taylor criterion only (else
 * NULL). g must run its dense kernels; it is left bit-identical (values and masks). */
int sn_prune_sensitivity(sn_graph *g, const sn_dataset *train, const sn_dataset *test, const sn_sens_opts *o,
                         sn_sensitivity *s);
void sn_sensitivity_free(sn_sensitivity *s);
/* The table as CSV, one row per layer and level: layer, members, granularity, criterion, images,
 * units, level, pruned, sparsity, accuracy, baseline, drop_points. Written atomically. */
int sn_sensitivity_write_csv(const sn_sensitivity *s, const char *path);
/* Reads such a CSV back (strictly: errors name file:line). */
int sn_sensitivity_read_csv(const char *path, sn_sensitivity *s);

/* Per-layer targets for sn_prune_opts.layer_targets (targets: g->n_node entries, -1 where a
 * layer gets none). From a file of 'layer target' lines ('#' starts a comment): every name must
 * be a layer that granularity gran prunes, listed once, with a target in [0, 1); errors name
 * file:line. */
int sn_prune_read_targets(const sn_graph *g, sn_granularity gran, const char *path, float *targets);
/* From a sensitivity table measured at the same granularity: each layer's target is the largest
 * level at which that level and every lower one cost at most max_drop accuracy points (0 when
 * even the lowest costs more). Layers of the table the model lacks are errors. */
int sn_prune_targets_from_sensitivity(const sn_graph *g, const sn_sensitivity *s, sn_granularity gran,
                                      float max_drop, float *targets);

/* ---------------------------------------------------------------- int8 quantization
 * Post-training quantization (docs/quantize.md): BatchNorm folded and ReLU/ReLU6 fused first;
 * weights int8 symmetric per output channel; activations int8 asymmetric per tensor, their
 * ranges calibrated on images the model has not been evaluated on (the training split). Layers
 * with an int8 kernel run in int8, the others in float between a dequantize and a quantize. */
typedef enum { SN_CALIB_MINMAX, SN_CALIB_PERCENTILE, SN_CALIB_MSE, SN_CALIB_ENTROPY } sn_calib_method;
typedef struct {
	sn_calib_method calibration;      /* how a tensor's range is chosen from what calibration saw */
	double percentile;                /* SN_CALIB_PERCENTILE: the share of values kept, in (0, 100] */
	int bins;                         /* histogram bins of percentile, mse and entropy (2048) */
	int calib_images;                 /* images of the calibration set used, spread evenly over it
	                                     (0: all of them); default 512 */
	int per_tensor;                   /* one weight scale per layer instead of one per output channel */
	const char *keep_float;           /* comma-separated layer names that stay float, or NULL */
	double max_drop;                  /* >= 0 with an evaluation set: while int8 is more than this many
	                                     points of top-1 below float, the layer that adds the most
	                                     error goes back to float; < 0: off */
	int batch;                        /* images per forward pass (calibration, evaluation) */
} sn_quantize_opts;
sn_quantize_opts sn_quantize_defaults(void);

typedef struct {
	int node;                         /* in the quantized graph */
	int int8;                         /* runs in int8 */
	float scale;                      /* its output's parameters */
	int32_t zero_point;
	float range_lo, range_hi;         /* the calibrated range of its float output */
	int n_wscale;                     /* weight scales (0: no int8 weight) */
	float wscale_min, wscale_max;
	double sqnr_db;                   /* its output in int8 against float, on the first calibration
	                                     batch (INFINITY: identical) */
} sn_quantize_row;
typedef struct {
	int n_rows;                       /* one per layer, the input excluded */
	sn_quantize_row *rows;
	int calib_images;
	double float_acc, int8_acc;       /* top-1 on the evaluation set (-1: none given) */
	int n_eval;
	int returned_to_float;            /* layers max_drop put back to float */
	int int8_layers, float_layers;
} sn_quantize_report;

/* The int8 model of g (g itself is not changed): calib gives the activation ranges (its
 * training images), eval (may be NULL) the accuracy of float and int8 and max_drop's budget.
 * NULL + sn_errmsg() on failure. */
sn_graph *sn_quantize(const sn_graph *g, const sn_dataset *calib, const sn_dataset *eval, const sn_quantize_opts *o,
                      sn_quantize_report *r);
void sn_quantize_report_free(sn_quantize_report *r);
/* The calibration method named by a word (minmax, percentile, mse, entropy), or -1. */
int sn_calib_method_from_name(const char *name);

/* ---------------------------------------------------------------- onnx */
/* ONNX exchange (docs/onnx.md). Import reads opsets 9-17 of what torch.onnx.export writes for
 * the operators slimnn has (Conv, Gemm, BatchNormalization, Relu, Clip(0,6), Sigmoid,
 * HardSwish, HardSigmoid, pools, ReduceMean, Flatten and the view(N, -1) chain, Add, Mul,
 * Concat, Split, Slice, Softmax, Pad, the channel-shuffle Reshape/Transpose, torch's pad chains
 * of reflect/replicate/circular convs...); anything else is an error naming the operator, the
 * node and the opset. The file is untrusted: every size, index and shape is checked. meta (may
 * be NULL) gets defaults, or what sn_onnx_save stored. */
sn_graph *sn_onnx_load(const char *path, sn_meta *meta);
sn_graph *sn_onnx_read(const void *data, size_t len, sn_meta *meta);   /* from memory */
/* Writes g as an opset-13 ONNX model (weights as initializers, batch dimension 'N'),
 * atomically; meta (may be NULL) goes into metadata_props. */
int sn_onnx_save(const sn_graph *g, const sn_meta *meta, const char *path);

#ifdef __cplusplus
}
#endif
#endif
