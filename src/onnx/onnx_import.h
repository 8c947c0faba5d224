/* The ONNX importer's shared state (onnx_import.c: values, attributes, naming, the model;
 * onnx_import_layers.c: operators that become slimnn layers; onnx_import_ints.c: the shape
 * arithmetic evaluated at import time).
 *
 * Every ONNX value gets one entry in a table hashed by name that says what it is: the output of
 * a slimnn node, a constant, a small integer vector or matrix computed at import (torch's
 * Shape/Gather/Concat chains, the pads of a reflect conv), or a half-finished pattern:
 *   V_DEFER   a Pad or HardSigmoid not added yet: the next Conv / AveragePool folds a pad into
 *             its own padding, a Mul folds x * HardSigmoid(x) into Hardswish; any other
 *             consumer adds the layer first (materialize)
 *   V_SHUF1   Reshape [N, C, H, W] -> [N, g, C/g, H, W]   (channel shuffle, first step)
 *   V_SHUF2   then Transpose perm [0, 2, 1, 3, 4]         (the final Reshape adds a shuffle layer)
 *   V_SSLICE  a Slice along H or W: the halves of torch's circular-padding chain
 *             Concat([x[..., -p:], x, x[..., :q]], axis), which becomes a circular pad
 *   V_GELU    a step of torch's GELU, x * (1 + Erf(x / sqrt 2)) * 0.5: step 1 x / sqrt 2, 2 its
 *             Erf, 3 plus 1, 4 times x; the Mul by 0.5 adds a gelu layer. Only the next step
 *             may read one
 *   V_QUANT   a QuantizeLinear's int8 output (only a DequantizeLinear may read it); its node's
 *             output parameters are qp
 *   V_QINTS   a QuantizeLinear of a float initializer (weights as torch's fake quantization writes
 *             them): the integers qv with their parameters, for the DequantizeLinear that follows
 *   V_QCONST  a DequantizeLinear of an initializer (or of a V_QINTS): an int8 weight or int32 bias, read by a layer
 *             as the dequantized floats (deq), a weight's scales kept for its int8 record
 * A V_NODE read through QuantizeLinear -> DequantizeLinear has qdq set (onnx_import_qdq.c).
 * Sigmoid is a layer at once; x * Sigmoid(x) turns it into silu (it was the last layer added).
 * A vector [N, C] reshaped or unsqueezed to [N, C, 1, 1] stays the same slimnn node (onnx_rank 4):
 * slimnn broadcasts it over [N, C, H, W] as ONNX does (a squeeze-and-excitation gate made by
 * Linears). */
#ifndef SN_ONNX_IMPORT_H
#define SN_ONNX_IMPORT_H
#include "onnx/onnx_internal.h"
#include "kernels/qmath.h"

#define SYM_BATCH INT64_MIN          /* "the batch size" in an integer vector */
#define INTS_MAX 16                  /* integer vectors (shapes, axes, pads) longer than this are refused */
#define ATTR_MAX (1 << 20)           /* kernel sizes, strides, pads, dilations, groups */
#define SN_ONNX_NODES_MAX (1 << 15)  /* ONNX nodes in a graph (torchvision models have < 1000) */

typedef enum { V_NODE, V_CONST, V_INTS, V_DEFER, V_SHUF1, V_SHUF2, V_SSLICE, V_GELU, V_QUANT, V_QINTS, V_QCONST, V_UNUSABLE } vkind;

typedef struct {
	const char *name;
	vkind kind;
	int node;                          /* V_NODE: the slimnn node; V_DEFER, V_SHUF*, V_GELU: their input node */
	int onnx_rank;                     /* V_NODE: a rank-2 node [N, C] that ONNX sees as [N, C, 1] (3) or
	                                    * [N, C, 1, 1] (4); 0: the node's own rank */
	const Onnx__TensorProto *t;        /* V_CONST */
	int n_ints, scalar, cols;          /* V_INTS: cols > 0 makes it a matrix of n_ints / cols rows */
	int64_t ints[INTS_MAX];
	sn_op op;                          /* V_DEFER: SN_OP_PAD or SN_OP_HARDSIGMOID */
	sn_pad_attr pad;                   /* V_DEFER pad */
	sn_hardsigmoid_attr hsig;          /* V_DEFER hardsigmoid */
	int src;                           /* V_DEFER: the ONNX node that made it (names the layer) */
	int groups;                        /* V_SHUF* */
	int of, axis, start, end;          /* V_SSLICE: value index sliced, axis 2 or 3, [start, end) */
	int step;                          /* V_GELU: 1..4 */
	const char *why;                   /* V_UNUSABLE: what it is */
	int qdq;                           /* V_NODE, V_DEFER: read through QuantizeLinear -> DequantizeLinear */
	sn_qparams qp;                     /* V_QUANT: the parameters (int8: a uint8 zero point z is z - 128) */
	int qtype;                         /* V_QUANT, V_QCONST: the ONNX type of the quantized values */
	float *deq;                        /* V_QCONST: the dequantized values (owned by the ctx), as many as t's */
	float *qscale;                     /* V_QCONST, V_QINTS: its scales (owned by the ctx) */
	int n_qscale, qaxis, has_min;      /* V_QCONST, V_QINTS: how many, along which axis; has_min: an int8 -128 */
	int32_t *qv, *qzp;                 /* V_QINTS: the quantized values (as many as t's), the zero points */
} value;

/* What QDQ says of a slimnn node (onnx_import_qdq.c), until the records are made at the end. */
typedef struct {
	int has_y;                         /* a QuantizeLinear of its output gave y */
	sn_qparams y;
	unsigned in_dq;                    /* bit i: input i was read through QuantizeLinear -> DequantizeLinear */
	const float *w_scale;              /* its weight was DequantizeLinear of int8 values with these scales */
	int n_scale, has_min;
} qdq_node;

typedef struct { int node, slot; float *data; size_t n; } pending;

typedef struct {
	sn_graph *g;
	const Onnx__GraphProto *gp;
	int opset;
	value *v; int n_v, cap_v;
	int *ht; size_t ht_mask;           /* open addressing: value index + 1, 0 empty */
	const char **use_name; int *use_count; size_t use_mask;   /* how often each name is read */
	pending *w; int n_w, cap_w;
	const Onnx__NodeProto *nd;         /* the node being imported */
	int nd_idx;
	int outputs_done;                  /* outputs of nd its importer defined (the rest must stay unused) */
	/* QDQ (onnx_import_qdq.c) */
	int qdq;                           /* some QuantizeLinear or DequantizeLinear was read */
	qdq_node *qn; int cap_qn;          /* per slimnn node */
	int dq_in[2 * SN_MAX_IN], n_dq_in; /* nodes the current ONNX node read through QDQ */
	const value *qw;                   /* a V_QCONST weight the current ONNX node read */
	void **own; int n_own, cap_own;    /* arrays of V_QCONST values */
} ctx;

/* ---------------------------------------------------------------- onnx_import.c */
int sn_onnx_node_err(ctx *c, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
#define node_err sn_onnx_node_err
value *sn_onnx_lookup(ctx *c, const char *name);
value *sn_onnx_define(ctx *c, const char *name, vkind kind);
int sn_onnx_uses(const ctx *c, const char *name);             /* reads by later nodes and graph outputs */
const char *sn_onnx_in_name(ctx *c, size_t i);                /* input i's name, NULL if absent */
int sn_onnx_input(ctx *c, size_t i, value **v);               /* input i, which must be defined */
int sn_onnx_data_input(ctx *c, size_t i, int *node);          /* input i as a slimnn node (adds deferred layers) */
int sn_onnx_spatial_dim(ctx *c, const value *v, int axis);    /* H (2) or W (3) of a node or a deferred pad */
/* The rank ONNX sees for value v, which data_input resolved to slimnn node `node`. */
static inline int sn_onnx_rank(const ctx *c, const value *v, int node)
{
	return v->kind == V_NODE && v->onnx_rank ? v->onnx_rank : c->g->node[node].out.rank;
}
int sn_onnx_const_input(ctx *c, size_t i, const char *what, float **data, size_t *n, const Onnx__TensorProto **tp);
int sn_onnx_ints_input(ctx *c, size_t i, value *out);         /* a constant or computed integer vector */
int sn_onnx_need_inputs(ctx *c, size_t lo, size_t hi);
int sn_onnx_get_floats(const Onnx__TensorProto *t, const char *what, float **out, size_t *n_out);
int sn_onnx_numel(const Onnx__TensorProto *t, const char *what, size_t *n);   /* dims checked */
int sn_onnx_get_ints(const Onnx__TensorProto *t, const char *what, value *v);
const Onnx__AttributeProto *sn_onnx_attr(ctx *c, const char *name);
int sn_onnx_attr_int(ctx *c, const char *name, int64_t def, int64_t lo, int64_t hi, int64_t *out);
int sn_onnx_attr_float(ctx *c, const char *name, float def, float *out);
int sn_onnx_attr_ints(ctx *c, const char *name, size_t want, int64_t lo, int64_t hi, int *out, int *found);
int sn_onnx_attr_ints_any(ctx *c, const char *name, value *out, int *found);   /* up to INTS_MAX */
const char *sn_onnx_attr_str(ctx *c, const char *name, const char *def, char *buf, size_t len);
/* Adds node n (inputs set) named for the current ONNX node (or its weight) and infers its shape;
 * returns its index. emit_output also defines output k of the ONNX node as it; emit, output 0. */
int sn_onnx_add_layer(ctx *c, sn_node *n, const char *weight);
int sn_onnx_emit_output(ctx *c, sn_node *n, const char *weight, size_t k);
static inline int sn_onnx_emit(ctx *c, sn_node *n, const char *weight) { return sn_onnx_emit_output(c, n, weight, 0); }
int sn_onnx_alias(ctx *c, size_t k, const value *src);          /* output k is src under a new name */
void sn_onnx_rename(ctx *c, int k);   /* node k, added for an earlier ONNX node, named for the current one */
int sn_onnx_materialize(ctx *c, value *v);                      /* a V_DEFER value becomes its layer */
int sn_onnx_give(ctx *c, int k, int slot, float *data, size_t n);
int sn_onnx_give_weight_bias(ctx *c, int k, float **w, size_t nw, float **b, size_t nb);
int sn_onnx_check_dims(ctx *c, int k, int slot, const Onnx__TensorProto *t, const char *what);
/* Normalises an axis of a rank-r tensor into [0, r); -1 if out of range. */
static inline int sn_onnx_axis(int64_t axis, int rank) { return axis < -rank || axis >= rank ? -1 : (int)(axis < 0 ? axis + rank : axis); }
/* ONNX Slice's clamping of [start, end) with step on a dimension of size dim. */
void sn_onnx_slice_range(int64_t dim, int64_t step, int64_t *start, int64_t *end);

/* ---------------------------------------------------------------- onnx_import_layers.c */
int sn_onnx_op_conv(ctx *c);
int sn_onnx_op_linear(ctx *c, int matmul);
int sn_onnx_op_bn(ctx *c);
int sn_onnx_op_simple(ctx *c, sn_op op, size_t max_in);
int sn_onnx_op_clip(ctx *c);
int sn_onnx_op_pool(ctx *c, sn_op op);
int sn_onnx_op_flatten(ctx *c);
int sn_onnx_op_reshape(ctx *c);
int sn_onnx_op_transpose(ctx *c);
int sn_onnx_op_add(ctx *c);
int sn_onnx_op_mul(ctx *c);
int sn_onnx_op_concat(ctx *c);
int sn_onnx_op_split(ctx *c);
int sn_onnx_op_slice(ctx *c);
int sn_onnx_op_softmax(ctx *c);
int sn_onnx_op_reduce_mean(ctx *c);
int sn_onnx_op_pad(ctx *c);
int sn_onnx_op_hardsigmoid(ctx *c);
int sn_onnx_op_gelu_div(ctx *c);    /* Div of a tensor: 1 when it is GELU's x / sqrt 2, 0 when not, or < 0 */
int sn_onnx_op_erf(ctx *c);

/* ---------------------------------------------------------------- onnx_import_qdq.c */
int sn_onnx_op_quantize(ctx *c);
int sn_onnx_op_dequantize(ctx *c);
int sn_onnx_qconst_floats(ctx *c, const value *v, const char *what, float **data, size_t *n);
int sn_onnx_qweight_axis(ctx *c, int axis);   /* a per-channel weight read now must run along this axis */
void sn_onnx_qdq_read(ctx *c, const value *v); /* a layer input resolved to v (V_NODE or V_DEFER) */
int sn_onnx_qdq_read_by(const ctx *c, int node); /* 1 when the current node read `node` through QDQ */
int sn_onnx_qdq_layer(ctx *c, int k);         /* node k was added for the current ONNX node */
int sn_onnx_qdq_finish(ctx *c);               /* the int8 records, after the weights are in */
void sn_onnx_qdq_free(ctx *c);

/* ---------------------------------------------------------------- onnx_import_ints.c */
int sn_onnx_is_ints(const value *v);       /* an integer vector, or an integer constant */
int sn_onnx_def_ints(ctx *c, const value *r);
int sn_onnx_op_shape(ctx *c);
int sn_onnx_op_gather(ctx *c);
int sn_onnx_op_unsqueeze(ctx *c);
int sn_onnx_op_constant(ctx *c);
int sn_onnx_op_constant_of_shape(ctx *c);
int sn_onnx_ints_arith(ctx *c, char op);   /* Add, Sub, Mul, Div of integer vectors: '+', '-', '*', '/' */
int sn_onnx_ints_concat(ctx *c);
int sn_onnx_ints_reshape(ctx *c, const value *data);
int sn_onnx_ints_transpose(ctx *c, const value *data);
int sn_onnx_ints_slice(ctx *c, const value *data);
/* Slice's starts, ends, axes, steps (inputs, or attributes before opset 10), all of one length;
 * absent axes are 0, 1, ..., absent steps 1. */
int sn_onnx_slice_args(ctx *c, value *starts, value *ends, value *axes, value *steps);
#endif
