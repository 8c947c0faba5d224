/* Internal helpers shared by the graph runtime and the operators. */
#ifndef SN_INTERNAL_H
#define SN_INTERNAL_H
#include <stdlib.h>
#include <string.h>
#include "slimnn.h"
#include "core/error.h"
#include "kernels/kernels.h"

#define SN_ALIGN 64
/* Caps that keep hostile files from asking for absurd sizes: one dimension, and all the
 * parameters and buffers of a graph together (2^28 floats = 1 GiB, over twice VGG-16). */
#define SN_DIM_MAX (1LL << 28)
#define SN_VALUES_MAX ((size_t)1 << 28)
/* The kernels take padding modes and fused activations by these numbers (kernels/kernels.h). */
_Static_assert((int)SN_KPAD_ZEROS == SN_PAD_ZEROS && (int)SN_KPAD_REFLECT == SN_PAD_REFLECT &&
               (int)SN_KPAD_REPLICATE == SN_PAD_REPLICATE && (int)SN_KPAD_CIRCULAR == SN_PAD_CIRCULAR, "sn_padmode");
_Static_assert((int)SN_KACT_NONE == SN_FUSE_NONE && (int)SN_KACT_RELU == SN_FUSE_RELU &&
               (int)SN_KACT_RELU6 == SN_FUSE_RELU6, "sn_fuse");

static inline sn_node *sn_in(sn_graph *g, const sn_node *n, int i) { return &g->node[n->in[i]]; }
static inline sn_tensor *sn_t(sn_graph *g, const sn_node *n, int slot)
{
	return n->t[slot] >= 0 ? &g->tensor[n->t[slot]] : NULL;
}
static inline size_t sn_align(size_t x) { return (x + SN_ALIGN - 1) & ~(size_t)(SN_ALIGN - 1); }

/* 1 when name is one of the comma-separated names of list ("fc,conv2"; NULL: none). */
int sn_name_in_list(const char *list, const char *name);

/* Declares that node n needs tensor `slot` (named "<node>.<suffix>", of the kind its operator's
 * row gives that slot) with these dims; keeps an existing tensor of the same dims (and its
 * values), replaces one of other dims. */
int sn_need_tensor(sn_graph *g, sn_node *n, int slot, int ndim, const int *dims);
/* Removes tensor `slot` of node n if present (e.g. bias turned off). */
void sn_drop_tensor(sn_graph *g, sn_node *n, int slot);
/* PyTorch's default initialisation of one layer's tensors from r (sn_graph_init_params runs it
 * over every layer; sn_replace_head over the new classifier). */
void sn_init_layer(sn_graph *g, sn_node *n, sn_rng *r);

/* ---------------------------------------------------------------- plans (core/graph.c) */
/* What a plan keeps of one node, in its arena (valid after sn_plan_reshape). */
typedef struct {
	float *y, *dy;                     /* output and its gradient, [batch x out]; a ReLU, ReLU6 or
	                                    * Flatten that is a node's only consumer shares its buffers
	                                    * (in place), so after forward such a y holds that output */
	void *saved;                       /* what forward keeps for backward */
	size_t saved_bytes, ws_bytes;      /* requested by the op for the planned batch */
	int8_t *q;                         /* the output in int8 (quantized models), [batch x out] */
	char q8;                           /* runs its int8 forward (core/quant.h) */
	char need_f, need_q;               /* its output is read in float / in int8 (or is the caller's) */
	/* fake-quantization plans (SN_PLAN_FAKE_QUANT): the output is rounded to its int8 grid where an
	 * int8 plan would hold it in int8; ste marks the values the gradient passes (inside the range),
	 * [fq_lo, fq_hi] is the last training pass's range before rounding (the observers') */
	char fq;
	uint8_t *ste;
	float fq_lo, fq_hi;
	/* a dense conv on oneDNN (kernels/dnnl_conv.h; src/ops/conv.c picks it when the plan is made):
	 * [0] for the planned batch, [1] for one image (smaller batches run image by image); owned
	 * by the plan, NULL where the conv runs slimnn's own kernels */
	struct sn_dnnl_conv *dnnl[2];
	/* a layer whose output this one writes instead of its own (writes_next: its index; a 2x2
	 * max-pool after a depthwise conv, sn_op_def.fuses_into_input), and one that its input's
	 * producer writes (by_input: it does nothing); inference plans, sn_plan_reshape */
	int writes_next;
	char by_input;
	int needs_grad;                    /* gradient w.r.t. this node's output is needed */
	int dy_written;                    /* backward: 0 until the first consumer writes dy */
	double t_fwd, t_bwd;               /* seconds spent, accumulated while profiling */
} sn_node_rt;

struct sn_plan {
	sn_graph *g;                       /* the model: inference reads it only, training writes its
	                                    * gradients and BN statistics (see sn_plan_new) */
	sn_node_rt *rt;                    /* per node of g, n_rt of them */
	int n_rt;
	int batch;                         /* rows of the current pass (<= planned) */
	int train;                         /* 1: training behaviour of BN and Dropout */
	int fake_quant;                    /* SN_PLAN_FAKE_QUANT: an int8 model trained in float */
	int planned_batch, planned_train, planned_input_grad, planned_keep;
	unsigned version;                  /* g->version when planned */
	unsigned char *arena; size_t arena_bytes;
	float *ws; size_t ws_bytes;        /* scratch of the op that runs */
	int profile;                       /* accumulate per-node times in t_fwd / t_bwd */
	sn_rng rng;                        /* dropout masks */
};

/* The plan's record of node n (a node of p->g), and of n's i-th input. */
static inline sn_node_rt *sn_rt(const sn_plan *p, const sn_node *n) { return &p->rt[n - p->g->node]; }
static inline sn_node_rt *sn_rt_in(const sn_plan *p, const sn_node *n, int i) { return &p->rt[n->in[i]]; }

/* Backward: returns 1 if the gradient into producer r must be accumulated (another consumer
 * already wrote it), 0 if this is the first write (and marks it written). */
static inline int sn_dy_accumulate(sn_node_rt *r)
{
	int acc = r->dy_written;
	r->dy_written = 1;
	return acc;
}

/* Inference plans at batch 1 let concat inputs write their blocks of the concat's output
 * (core/graph.c); 0 makes them copy, as larger batches do (tests compare the two). */
extern int sn_plan_concat_in_place;
/* Inference plans let a depthwise conv write the 2x2 max-pool after it (core/graph.c); 0 makes
 * them run both (tests compare the two). */
extern int sn_plan_fuse_pools;

/* One buffer of an inference plan (core/memplan.c): `size` bytes, live from node `first` to
 * node `last` (inclusive). */
typedef struct { size_t size, offset; int first, last; } sn_membuf;
/* Sets every buffer's offset so that buffers of overlapping lifetimes never share bytes;
 * returns the bytes they need in all (SIZE_MAX when out of memory). */
size_t sn_plan_memory(sn_membuf *buf, int n);

/* Conv shapes that pick code paths, one definition each (a: the conv's attributes, in_c: its
 * input channels):
 *   pointwise      1x1, stride 1, no padding: over CHW the conv is a matrix product and the
 *                  input itself is its right-hand matrix (no im2col; the sparse 1x1 kernel)
 *   dw_direct      depthwise (groups == in_c; any number of outputs per input channel) with
 *                  zero padding: runs the direct depthwise kernels (kernels/dwconv.c)
 *   dw_one_to_one  groups == in_c == out_c: output channel c is input channel c filtered alone,
 *                  so channel pruning carries the channel through instead of removing filters */
static inline int sn_conv_pointwise(const sn_conv_attr *a)
{
	return a->kh == 1 && a->kw == 1 && a->sh == 1 && a->sw == 1 && !a->pt && !a->pb && !a->pl && !a->pr;
}
static inline int sn_conv_dw_direct(const sn_conv_attr *a, int in_c) { return a->groups == in_c && a->mode == SN_PAD_ZEROS; }
static inline int sn_conv_dw_one_to_one(const sn_conv_attr *a, int in_c) { return a->groups == in_c && a->out_c == in_c; }

/* ---------------------------------------------------------------- operator rows (src/ops/) */
#define SN_COUNT_OF(a) ((int)(sizeof(a) / sizeof *(a)))
#define SN_ATTRS(a) .attrs = (a), .n_attrs = SN_COUNT_OF(a)
#define SN_TENSORS(a) .tensors = (a), .n_tensors = SN_COUNT_OF(a)
#define SN_AT(field) offsetof(sn_node, field)
/* Integer attributes stop here: no sane layer needs more, and it bounds hostile files. */
#define SN_ATTR_INT_MAX 1048576
#define SN_ATTR_INT_RANGE "1..1048576"
/* Attributes several operators share. */
#define SN_ATTR_BOOL(k, f, d) {.key = (k), .type = SN_AT_INT, .off = {SN_AT(f)}, .lo = 0, .hi = 1, .def = (d), .expect = "0 or 1"}
#define SN_ATTR_COUNT(k, f, d, fl) {.key = (k), .type = SN_AT_INT, .flags = (fl), .off = {SN_AT(f)}, .lo = 1, \
	.hi = SN_ATTR_INT_MAX, .def = (d), .expect = "an integer " SN_ATTR_INT_RANGE}
#define SN_ATTR_PADS(f, fl, exp) {.key = "pad", .type = SN_AT_PADS, .flags = (fl), \
	.off = {SN_AT(f.pt), SN_AT(f.pb), SN_AT(f.pl), SN_AT(f.pr)}, .lo = 0, .hi = SN_ATTR_INT_MAX, .expect = (exp)}
#define SN_ATTR_PADMODE(f) {.key = "mode", .type = SN_AT_ENUM, .off = {SN_AT(f)}, .names = sn_padmode_names, \
	.n_names = 4, .what = "padding mode", .expect = "zeros, reflect, replicate or circular"}
extern const char *const sn_padmode_names[4];   /* mode= values, indexed by sn_padmode */
/* The attribute of node op called key, or NULL. */
const sn_attr_def *sn_attr_find(const sn_op_def *d, const char *key);
static inline int sn_op_has_params(const sn_op_def *d)
{
	for (int i = 0; i < d->n_tensors; i++)
		if (d->tensors[i].kind == SN_TENSOR_PARAM) return 1;
	return 0;
}

/* The geometry of conv node n over one image of shape in. */
static inline sn_conv_geom sn_node_conv_geom(const sn_node *n, sn_shape in)
{
	const sn_conv_attr *a = &n->a.conv;
	return (sn_conv_geom){in.c, in.h, in.w, a->kh, a->kw, a->sh, a->sw, a->dh, a->dw, a->pt, a->pl,
	                      n->out.h, n->out.w, a->mode};
}

/* int8 forwards of quantized models (the rows' run_q8; core/quant.h) */
int sn_q8_op_conv(sn_graph *g, sn_node *n, sn_plan *pl, sn_action a);
int sn_q8_op_linear(sn_graph *g, sn_node *n, sn_plan *pl, sn_action a);
int sn_q8_op_pool(sn_graph *g, sn_node *n, sn_plan *pl, sn_action a);
int sn_q8_op_gap(sn_graph *g, sn_node *n, sn_plan *pl, sn_action a);
int sn_q8_op_add(sn_graph *g, sn_node *n, sn_plan *pl, sn_action a);
int sn_q8_op_concat(sn_graph *g, sn_node *n, sn_plan *pl, sn_action a);
int sn_q8_op_copy(sn_graph *g, sn_node *n, sn_plan *pl, sn_action a);      /* Flatten, Dropout */
int sn_q8_op_channel_map(sn_graph *g, sn_node *n, sn_plan *pl, sn_action a);
int sn_q8_op_relu(sn_graph *g, sn_node *n, sn_plan *pl, sn_action a);       /* and ReLU6 */

/* Per-op entry points (src/ops/) */
int sn_op_input(sn_graph *g, sn_node *n, sn_plan *pl, sn_action a);
int sn_op_conv(sn_graph *g, sn_node *n, sn_plan *pl, sn_action a);
const char *sn_conv_dw_kernel(const sn_graph *g, const sn_node *n);   /* a depthwise conv's kernel, for reports */
/* 1 when conv n can write the output of the 2x2 max-pool after it (its float depthwise path pools
 * its planes from its scratch, its int8 kernels their sums): the max-pool's fuses_into_input asks. */
int sn_conv_can_pool(const sn_graph *g, const sn_node *n);
int sn_q8_conv_can_pool(const sn_graph *g, const sn_node *n);   /* the same for an int8 conv */
/* The oneDNN implementation plan p runs dense conv n on ("brgconv:avx512_core"), or NULL where
 * it runs slimnn's own im2col + GEMM (for reports). */
const char *sn_conv_dnnl_impl(const sn_plan *p, const sn_node *n);
int sn_op_bn(sn_graph *g, sn_node *n, sn_plan *pl, sn_action a);
int sn_op_activation(sn_graph *g, sn_node *n, sn_plan *pl, sn_action a);
int sn_op_pool(sn_graph *g, sn_node *n, sn_plan *pl, sn_action a);
int sn_op_gap(sn_graph *g, sn_node *n, sn_plan *pl, sn_action a);
int sn_op_linear(sn_graph *g, sn_node *n, sn_plan *pl, sn_action a);
int sn_op_flatten(sn_graph *g, sn_node *n, sn_plan *pl, sn_action a);
int sn_op_dropout(sn_graph *g, sn_node *n, sn_plan *pl, sn_action a);
int sn_op_add(sn_graph *g, sn_node *n, sn_plan *pl, sn_action a);
int sn_op_concat(sn_graph *g, sn_node *n, sn_plan *pl, sn_action a);
int sn_op_mul(sn_graph *g, sn_node *n, sn_plan *pl, sn_action a);
int sn_op_softmax(sn_graph *g, sn_node *n, sn_plan *pl, sn_action a);
int sn_op_channel_map(sn_graph *g, sn_node *n, sn_plan *pl, sn_action a);   /* shuffle and slice */
int sn_op_pad(sn_graph *g, sn_node *n, sn_plan *pl, sn_action a);
int sn_op_hardsigmoid(sn_graph *g, sn_node *n, sn_plan *pl, sn_action a);
/* The PyTorch class a node stands for, for the summary: the operator's, except where its
 * attributes pick another (a reflect pad is ReflectionPad2d). */
const char *sn_node_torch(const sn_node *n);

/* Shape error naming the layer and both shapes. */
int sn_shape_error(const sn_node *n, sn_shape got, const char *expected);

/* Tests only (tests/test_graph_errors.c): when set, called after each node's operator with its
 * status; what it returns stands for that status, so a test can make any node fail. */
extern int (*sn_node_status_hook)(const sn_node *n, sn_action act, int status);

#endif
