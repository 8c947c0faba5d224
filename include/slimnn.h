/*
 * slimnn.h — make convolutional networks light enough for small devices, and prove it.
 *
 * A five-minute tour
 * ------------------
 *   sn_graph *g = sn_arch_load("models/cnn.arch");   // parse a plain-text architecture
 *   sn_graph_init_params(g, 42);                      // PyTorch's default initialisation
 *   sn_dataset tr, te;
 *   sn_fmnist_load(SN_FMNIST_DIR, &tr, &te, 0);      // IDX files, gzipped or not
 *   sn_train_opts o = sn_train_defaults();
 *   sn_train(g, &tr, &te, &o, NULL);                 // SGD/Adam, schedules, checkpoints
 *   sn_model_save(g, &meta, "cnn.slim");              // one checksummed binary file
 *
 * The model is a graph (a DAG) of named nodes. Each node is one operator; every operator is a
 * single function that answers four questions (kann-style): what is my output shape, how much
 * memory do I need, forward, and backward. Parameters of all nodes live in one flat vector
 * (g->w, gradients in g->gw) so the optimizer is a loop over floats; each parameter tensor is
 * also reachable by name ("conv1.weight") so passes can mask, prune or replace it.
 *
 * Layout is NCHW float32. Activations and workspaces come from one arena per graph, sized once
 * by sn_graph_plan(): nothing allocates on the hot path.
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
#define SN_FMNIST_DIR "/usr/share/datasets/fashion-mnist"

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
int sn_seterr(int status, const char *fmt, ...)      /* sets the message, returns status */
	__attribute__((format(printf, 2, 3)));

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
	SN_OP_ADD, SN_OP_CONCAT, SN_OP_COUNT
} sn_op;

typedef enum { SN_PAD_ZEROS, SN_PAD_REFLECT, SN_PAD_REPLICATE, SN_PAD_CIRCULAR } sn_padmode;

/* Conv2d with the whole meaning of torch.nn.Conv2d; padding is per side. */
typedef struct {
	int out_c, kh, kw, sh, sw, dh, dw, groups, bias;
	int pt, pb, pl, pr;     /* top, bottom, left, right */
	int same;               /* padding='same': pads derived from kernel and dilation */
	sn_padmode mode;
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

/* Meaning of sn_node.t[] per operator (tensor indices, -1 where absent):
 *   conv, linear: t[0] weight, t[1] bias
 *   bn:           t[0] weight (gamma), t[1] bias (beta), t[2] running_mean, t[3] running_var */
enum { SN_T_WEIGHT = 0, SN_T_BIAS = 1, SN_T_MEAN = 2, SN_T_VAR = 3, SN_T_MAX = 4 };

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
	} a;
	int t[SN_T_MAX];
	int frozen;                        /* parameters not trained (count as non-trainable) */
	int line;                          /* line in the architecture file, 0 if none */
	sn_shape out;                      /* inferred by sn_graph_infer() */
	/* runtime, in the graph's arena (valid after sn_graph_plan) */
	float *y, *dy;                     /* output and its gradient, [batch x out]; a ReLU, ReLU6 or
	                                    * Flatten that is a node's only consumer shares its buffers
	                                    * (in place), so after forward such a y holds that output */
	void *saved;                       /* what forward keeps for backward */
	size_t saved_bytes, ws_bytes;      /* requested by the op for the planned batch */
	int needs_grad;                    /* gradient w.r.t. this node's output is needed */
	int dy_written;                    /* backward: 0 until the first consumer writes dy */
	double t_fwd, t_bwd;               /* seconds spent, accumulated when g->profile is set */
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

typedef struct sn_graph {
	int n_node, cap_node;
	sn_node *node;
	int n_tensor, cap_tensor;
	sn_tensor *tensor;
	float *w, *gw;  size_t n_w;        /* all trainable values and their gradients */
	float *buf;     size_t n_buf;      /* non-trainable buffers (BN running statistics) */
	/* runtime */
	int batch;                         /* rows of the current pass (<= planned) */
	int planned_batch, planned_train, planned_input_grad;
	int train;                         /* 1: training behaviour of BN and Dropout */
	unsigned char *arena; size_t arena_bytes;
	float *ws; size_t ws_bytes;        /* shared scratch for the current op */
	int profile;                       /* accumulate per-node times in t_fwd / t_bwd */
	int shapes_locked;                 /* trained weights: shape inference may not reshape tensors */
	int input_grad;                    /* set before sn_graph_plan to get d(loss)/d(input) in node[0].dy */
	sn_rng rng;                        /* dropout masks */
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
/* Sizes the arena for batches up to `batch`, in training (1) or inference (0) mode. */
int sn_graph_plan(sn_graph *g, int batch, int train);
/* x: [batch x input numel]. Returns the last node's output (logits). */
const float *sn_graph_forward(sn_graph *g, const float *x, int batch);
/* dlogits: gradient of the loss w.r.t. the last node's output. Accumulates into g->gw. */
void sn_graph_backward(sn_graph *g, const float *dlogits);
void sn_graph_zero_grad(sn_graph *g);
sn_graph *sn_graph_clone(const sn_graph *g);                      /* structure and values */
sn_shape sn_graph_input_shape(const sn_graph *g);
sn_shape sn_graph_output_shape(const sn_graph *g);
/* Replaces the input shape (summary --input) and re-infers. */
int sn_graph_set_input(sn_graph *g, int c, int h, int w);
size_t sn_graph_count(const sn_graph *g, sn_tensor_kind kind, int trainable_only);

/* Operator metadata and the per-op function (kann-style: one function, four actions). */
typedef enum { SN_ACT_SHAPE, SN_ACT_SIZES, SN_ACT_FORWARD, SN_ACT_BACKWARD } sn_action;
typedef int (*sn_op_fn)(sn_graph *g, sn_node *n, sn_action act);
typedef struct {
	const char *key;                  /* word in architecture files: "conv" */
	const char *torch;                /* PyTorch class name: "Conv2d" */
	int min_in, max_in;
	sn_op_fn run;
} sn_op_def;
const sn_op_def *sn_op_get(sn_op op);
int sn_op_from_key(const char *key);              /* -1 if unknown */
/* Multiply-adds of one node for one sample, as torchinfo counts them: every weight and bias
 * value once per output pixel for convs, once per sample for other layers with parameters.
 * nonzero_only counts only non-zero parameter values (the work a sparse kernel does). */
uint64_t sn_node_macs(const sn_graph *g, const sn_node *n, int nonzero_only);

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
typedef struct {
	int n, c, h, w;
	uint8_t *images;                  /* n * c*h*w bytes: images stay bytes, normalised per batch */
	uint8_t *labels;                  /* n */
	int classes;
	float mean, std;                  /* normalisation applied when batches are made */
} sn_dataset;

/* Reads an IDX file (gzipped or not). *dims gets up to 4 dims. Caller frees *data. */
int sn_idx_read(const char *path, int expect_ndim, int *dims, uint8_t **data);
/* Fashion-MNIST (or MNIST) from DIR; limit > 0 keeps the first `limit` samples of each split. */
int sn_fmnist_load(const char *dir, sn_dataset *train, sn_dataset *test, int limit);
void sn_dataset_free(sn_dataset *d);
typedef struct { int crop_pad; int hflip; } sn_augment;
/* Makes a normalised float batch from samples idx[0..n): x [n x c*h*w], y [n]. */
void sn_dataset_batch(const sn_dataset *d, const int *idx, int n, const sn_augment *aug,
                      sn_rng *rng, float *x, uint8_t *y);

/* NumPy .npy (float32, C order) */
int sn_npy_read(const char *path, int *ndim, int dims[8], float **data);
int sn_npy_write(const char *path, int ndim, const int *dims, const float *data);

/* ---------------------------------------------------------------- model files (.slim) */
typedef struct {
	char dataset[64];
	int epochs;                       /* epochs trained so far */
	double test_accuracy;             /* < 0 if unknown */
	double test_loss;
	uint64_t seed;
	float norm_mean, norm_std;        /* input normalisation the model was trained with */
} sn_meta;

/* Optional training state stored in checkpoints so --resume continues exactly. */
typedef struct {
	int present;
	int epoch;                        /* next epoch to run */
	uint64_t step;
	sn_rng rng;                       /* data order / augmentation stream */
	sn_rng graph_rng;                 /* dropout stream */
	float *opt_m, *opt_v;             /* optimizer state, g->n_w each (v may be NULL) */
	char recipe[512];                 /* the options of the run, as text */
} sn_train_state;

int sn_model_save(const sn_graph *g, const sn_meta *meta, const sn_train_state *st, const char *path);
/* Loads and validates everything (sizes, shapes, offsets, checksum). st may be NULL. */
sn_graph *sn_model_load(const char *path, sn_meta *meta, sn_train_state *st);
/* Architecture file (.arch), model file (.slim) or ONNX model (.onnx), chosen by content. */
sn_graph *sn_load_any(const char *path, sn_meta *meta);
/* Writes `len` bytes to path via temp file + fsync + rename: no partial files. */
int sn_write_atomic(const char *path, const void *data, size_t len);

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
	 * temperature kd_t) + (1 - kd_alpha) * cross-entropy. Not const: its forward uses its arena. */
	sn_graph *teacher;
	float kd_alpha, kd_t;
	float label_smoothing;            /* cross-entropy target (1 - e) on the label, e / classes on all */
	int clean_epochs;                 /* the last this many epochs run without augmentation */
} sn_train_opts;

sn_train_opts sn_train_defaults(void);
/* Learning rate at a step (0-based) of total steps. */
float sn_schedule_lr(const sn_train_opts *o, uint64_t step, uint64_t total, int steps_per_epoch);

typedef struct {
	double loss, accuracy;
	int n;
	int confusion[16][16];            /* [true][predicted], classes <= 16 */
} sn_eval_result;

int sn_evaluate(sn_graph *g, const sn_dataset *d, int batch, sn_eval_result *r);
/* softmax cross-entropy over n rows; writes dlogits (mean over rows) if not NULL;
 * returns the summed loss, counts correct predictions into *correct. */
double sn_softmax_xent(const float *logits, const uint8_t *labels, int n, int classes,
                       float *dlogits, int *correct);
/* The same with label smoothing e in [0, 1) (e = 0 is sn_softmax_xent). */
double sn_softmax_xent_smooth(const float *logits, const uint8_t *labels, int n, int classes, float smoothing,
                              float *dlogits, int *correct);

typedef struct {
	int epoch;
	double train_loss, train_acc, test_acc, test_loss, seconds, images_per_s;
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
	double input_mb, fwd_bwd_mb, params_mb, total_mb;   /* torchsummary's size estimates */
} sn_summary;

int sn_summarize(const sn_graph *g, int batch, sn_summary *s);
const char *sn_thousands(uint64_t v, char buf[32]);   /* 1234567 -> "1,234,567" */
void sn_json_str(FILE *f, const char *s);            /* s as a quoted, escaped JSON string */
void sn_summary_free(sn_summary *s);
enum { SN_SUMMARY_MACS = 1 };         /* extra columns: kernel, mult-adds, non-zero, sparsity */
void sn_summary_print(FILE *f, const sn_summary *s, unsigned flags);
void sn_summary_json(FILE *f, const sn_summary *s, const char *model, const sn_meta *meta, long file_bytes);

/* ---------------------------------------------------------------- threads */
void sn_set_threads(int n);           /* OpenMP threads for kernels; BLAS stays single-threaded */
int sn_get_threads(void);

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
double sn_distill_xent(const float *student, const float *teacher, const uint8_t *labels, int n,
                       int classes, float alpha, float T, float *dlogits, int *correct);

/* ---------------------------------------------------------------- prune */
/* Pruning (docs/prune.md). Weight granularity zeroes the smallest-magnitude weights of the
 * prunable layers and masks them (masks hold through training; .slim files store the survivors
 * sparsely). Filter granularity removes whole conv output channels together with everything
 * that reads them (BN channels, the next conv's input channels, depthwise convs and their
 * outputs, Linear columns after flatten or pooling), keeps the branches of a residual Add in
 * step and maps channels through Concat by offset: the result is a smaller dense model. */
typedef enum { SN_GRAN_WEIGHT, SN_GRAN_FILTER } sn_granularity;
typedef enum { SN_CRIT_L1, SN_CRIT_L2, SN_CRIT_BN } sn_criterion;
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
} sn_prune_opts;

sn_prune_opts sn_prune_defaults(void);
/* Sparsity the schedule reaches after round t (1..o->steps), starting from s0:
 * oneshot: target at once; linear: s0 + (target - s0) t/steps; agp (Zhu & Gupta):
 * target + (s0 - target)(1 - t/steps)^3. */
float sn_prune_schedule_at(const sn_prune_opts *o, float s0, int t);
/* prunable[i] (g->n_node entries): 1 for the layers a granularity may prune: convs and Linears
 * (weight) or convs without groups (filter), minus the ignored ones. Unknown names are errors. */
int sn_prune_select(const sn_graph *g, sn_granularity gran, const char *ignore, unsigned char *prunable);
/* Weight granularity: zeroes and masks the smallest |w| so that exactly round(s * n) weights of
 * each prunable tensor (layer scope) or of all of them together (global scope) are pruned.
 * Weights masked before stay masked. BN parameters and biases are never touched. */
int sn_prune_weights(sn_graph *g, const unsigned char *prunable, sn_scope scope, float s);
/* Fraction of zero weights in the prunable tensors (weight) or of the prunable channels removed
 * relative to ref (filter); counts in *done / *total when not NULL. */
double sn_prune_sparsity(const sn_graph *g, const sn_graph *ref, sn_granularity gran,
                         const unsigned char *prunable, size_t *done, size_t *total);
/* Filter granularity: a new graph without the least important channels (criterion c, summed
 * over each coupled group), so that round(s * channels) of each group (layer scope) or of all
 * groups (global scope, importance normalised per group) are gone, counted against ref (the
 * graph before any filter pruning; NULL: g). Every group keeps at least one channel. */
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
 * model within budget. *g is replaced by the pruned model; meta gets its accuracy. */
int sn_prune_run(sn_graph **g, const sn_dataset *train, const sn_dataset *test, const sn_prune_opts *o,
                 sn_meta *meta, sn_prune_cb cb, void *user);

/* ---------------------------------------------------------------- onnx */
/* ONNX exchange (docs/onnx.md). Import reads opsets 9-17 of what torch.onnx.export writes for
 * the operators slimnn has (Conv, Gemm, BatchNormalization, Relu, Clip(0,6), Sigmoid,
 * HardSwish, pools, Flatten and the view(N, -1) chain, Add, Concat...); anything else is an
 * error naming the operator, the node and the opset. The file is untrusted: every size, index
 * and shape is checked. meta (may be NULL) gets defaults, or what sn_onnx_save stored. */
sn_graph *sn_onnx_load(const char *path, sn_meta *meta);
sn_graph *sn_onnx_read(const void *data, size_t len, sn_meta *meta);   /* from memory */
/* Writes g as an opset-13 ONNX model (weights as initializers, batch dimension 'N'),
 * atomically; meta (may be NULL) goes into metadata_props. */
int sn_onnx_save(const sn_graph *g, const sn_meta *meta, const char *path);

#ifdef __cplusplus
}
#endif
#endif
