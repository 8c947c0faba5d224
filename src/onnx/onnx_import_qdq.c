/* QDQ import (docs/onnx.md): QuantizeLinear / DequantizeLinear as onnxruntime's quantize_static
 * (QDQ format) and slimnn's exporter write them become slimnn's int8 records.
 *   QuantizeLinear(x)       x a computed tensor: its layer's output parameters y; uint8 with zero
 *                           point z is int8 with z - 128 (the same grid shifted: exact)
 *   DequantizeLinear(q)     q that QuantizeLinear's output, with its parameters: x again, now read
 *                           "through QDQ" (a V_NODE with qdq set)
 *   QuantizeLinear(init)    a float weight quantized as the model runs (torch's fake quantization):
 *                           its integers, for the DequantizeLinear that must follow with the same
 *                           parameters; then as below
 *   DequantizeLinear(init)  an int8 weight (zero point 0; uint8 with zero point 128 is the same),
 *                           per tensor or per output channel, or an int32 bias: a V_QCONST the
 *                           layer reads as its dequantized floats; a weight's scales are kept
 * After the graph, a layer runs in int8 when it has an int8 kernel, a QuantizeLinear on its
 * output (a conv or Linear also on the ReLU / ReLU6 that alone reads it: slimnn's fused
 * activation), every input read through QDQ, nobody reading its output unquantized, an int8
 * weight (conv, Linear) and, for operators that keep their input's parameters (max pooling, ReLU,
 * Flatten, ...), the same parameters as their input. Every other layer stays float; a float
 * layer's y (when it has one) serves its int8 readers. Then sn_q_derive computes the rest. */
#include <math.h>
#include "onnx/onnx_import.h"
#include "core/quant.h"
#include "io/io.h"

/* The record of node k, grown as nodes are added (zeroed). */
static qdq_node *qn_at(ctx *c, int k)
{
	if (k >= c->cap_qn) {
		int cap = SN_MAX(2 * c->cap_qn, SN_MAX(k + 1, 32));
		qdq_node *p = realloc(c->qn, (size_t)cap * sizeof *p);
		if (!p) { sn_seterr(SN_ENOMEM, "out of memory"); return NULL; }
		memset(p + c->cap_qn, 0, (size_t)(cap - c->cap_qn) * sizeof *p);
		c->qn = p; c->cap_qn = cap;
	}
	return &c->qn[k];
}

static void *own(ctx *c, void *p)
{
	if (!p) return NULL;
	if (c->n_own == c->cap_own) {
		int cap = c->cap_own ? 2 * c->cap_own : 16;
		void **q = realloc(c->own, (size_t)cap * sizeof *q);
		if (!q) { free(p); return NULL; }
		c->own = q; c->cap_own = cap;
	}
	return c->own[c->n_own++] = p;
}

void sn_onnx_qdq_free(ctx *c)
{
	for (int i = 0; i < c->n_own; i++) free(c->own[i]);
	free(c->own); free(c->qn);
}

/* ---------------------------------------------------------------- reading parameters */

static const char *type_name(int t) { return t == SN_ONNX_INT8 ? "int8" : t == SN_ONNX_UINT8 ? "uint8" : t == SN_ONNX_INT32 ? "int32" : "another type"; }

/* The values of an int8, uint8 or int32 tensor (raw_data, or int32_data where ONNX keeps small
 * integers), each checked against its type's range. */
static int get_q(ctx *c, const Onnx__TensorProto *t, const char *what, int32_t **out, size_t *n_out)
{
	size_t n;
	int rc = sn_onnx_numel(t, what, &n);
	if (rc) return node_err(c, rc, "%s", sn_errmsg());
	const int type = t->has_data_type ? t->data_type : 0, w = type == SN_ONNX_INT32 ? 4 : 1;
	if (type != SN_ONNX_INT8 && type != SN_ONNX_UINT8 && type != SN_ONNX_INT32)
		return node_err(c, SN_EFORMAT, "'%.80s' has data type %d; slimnn reads quantized values of int8, uint8 or int32 "
		                "(biases)", what, type);
	const int64_t lo = type == SN_ONNX_INT8 ? -128 : type == SN_ONNX_UINT8 ? 0 : INT32_MIN;
	const int64_t hi = type == SN_ONNX_INT8 ? 127 : type == SN_ONNX_UINT8 ? 255 : INT32_MAX;
	const int raw = t->has_raw_data && t->raw_data.len;
	if (raw ? t->raw_data.len != n * w : t->n_int32_data != n)
		return node_err(c, SN_EFORMAT, "'%.80s' has the wrong amount of data for its %zu values", what, n);
	int32_t *p = malloc((n ? n : 1) * sizeof *p);
	if (!p) return sn_seterr(SN_ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		const uint8_t *b = raw ? t->raw_data.data + w * i : NULL;
		const int64_t v = !raw ? t->int32_data[i] : w == 4 ? (int32_t)sn_get_u32(b) : type == SN_ONNX_INT8 ? (int8_t)*b : *b;
		if (v < lo || v > hi) {
			free(p);
			return node_err(c, SN_EFORMAT, "'%.80s' holds %lld, out of the range of %s", what, (long long)v, type_name(type));
		}
		p[i] = (int32_t)v;
	}
	*out = p; *n_out = n;
	return SN_OK;
}

typedef struct {
	float *scale;
	int32_t *zp;
	size_t n;          /* scales = zero points */
	int type;          /* of the zero point: the quantized side's */
	int axis;          /* per axis: the axis (n > 1); -1 per tensor */
} qpar;

static void qpar_free(qpar *p) { free(p->scale); free(p->zp); }

/* Inputs 1 (scale) and 2 (zero point) of the current QuantizeLinear or DequantizeLinear; x the
 * quantized initializer of a DequantizeLinear (per axis allowed), NULL for an activation. `type`:
 * the quantized values' type, 0 when only the zero point says it (QuantizeLinear: uint8 without). */
static int read_qpar(ctx *c, int type, const Onnx__TensorProto *x, qpar *p)
{
	value *sv, *zv = NULL;
	memset(p, 0, sizeof *p);
	p->axis = -1;
	int rc = sn_onnx_need_inputs(c, 2, 3);
	if (!rc) rc = sn_onnx_input(c, 1, &sv);
	if (!rc && sn_onnx_in_name(c, 2)) rc = sn_onnx_input(c, 2, &zv);
	if (rc) return rc;
	if (sv->kind != V_CONST || (zv && zv->kind != V_CONST))
		return node_err(c, SN_EFORMAT, "the scale and zero point must be initializers");
	if ((rc = sn_onnx_get_floats(sv->t, sv->name, &p->scale, &p->n))) return node_err(c, rc, "%s", sn_errmsg());
	size_t nz = p->n;
	p->type = zv ? (zv->t->has_data_type ? zv->t->data_type : 0) : type ? type : SN_ONNX_UINT8;
	if (zv && (rc = get_q(c, zv->t, zv->name, &p->zp, &nz))) return rc;
	if (!zv && !(p->zp = calloc(p->n ? p->n : 1, sizeof *p->zp))) return sn_seterr(SN_ENOMEM, "out of memory");
	if (type && p->type != type)
		return node_err(c, SN_EFORMAT, "the zero point is %s but the values are %s", type_name(p->type), type_name(type));
	if (nz != p->n || !p->n || (zv && zv->t->n_dims != sv->t->n_dims))
		return node_err(c, SN_EFORMAT, "%zu scales and %zu zero points of different shapes", p->n, nz);
	for (size_t i = 0; i < p->n; i++)
		if (!(p->scale[i] > 0) || !isfinite(p->scale[i]))
			return node_err(c, SN_EFORMAT, "scale %g is not a positive finite number", p->scale[i]);
	if (sv->t->n_dims == 0) return SN_OK;
	if (sv->t->n_dims > 1) return node_err(c, SN_EFORMAT, "the scale has rank %zu (a scalar, or a vector along an axis)", sv->t->n_dims);
	if (!x) {
		if (p->n == 1) return SN_OK;
		return node_err(c, SN_EFORMAT, "per-channel parameters of an activation (%zu scales) are not supported; slimnn "
		                "quantizes activations per tensor", p->n);
	}
	int64_t axis;
	if ((rc = sn_onnx_attr_int(c, "axis", 1, -(int64_t)x->n_dims, (int64_t)x->n_dims - 1, &axis))) return rc;
	if (c->opset < 13 && p->n > 1) return node_err(c, SN_EFORMAT, "per-axis parameters need opset 13");
	p->axis = (int)(axis < 0 ? axis + (int64_t)x->n_dims : axis);
	if (p->n > 1 && (p->axis < 0 || p->axis >= (int)x->n_dims))
		return node_err(c, SN_EFORMAT, "%zu scales along axis %lld of a tensor of rank %zu", p->n, (long long)axis, x->n_dims);
	if (p->n > 1 && x->dims[p->axis] != (int64_t)p->n)
		return node_err(c, SN_EFORMAT, "%zu scales along axis %d, which has %lld values", p->n, p->axis, (long long)x->dims[p->axis]);
	if (p->n == 1) p->axis = -1;
	return SN_OK;
}

/* ---------------------------------------------------------------- the operators */

/* Element i of t lies at (i / inner) % dims[axis] along the axis. */
static size_t inner_of(const Onnx__TensorProto *t, int axis)
{
	size_t inner = 1;
	for (size_t d = (size_t)axis + 1; axis >= 0 && d < t->n_dims; d++) inner *= (size_t)t->dims[d];
	return inner;
}

/* The current node's output as a quantized constant of kind V_QINTS or V_QCONST over t, with the
 * parameters p (scales copied); NULL and the error set when it cannot be. */
static value *define_qconst(ctx *c, vkind kind, const Onnx__TensorProto *t, const qpar *p, int type)
{
	float *scales = own(c, malloc(p->n * sizeof *scales));
	if (!scales) { sn_seterr(SN_ENOMEM, "out of memory"); return NULL; }
	value *v = sn_onnx_define(c, c->nd->output[0], kind);
	if (!v) { node_err(c, SN_EFORMAT, "%s", sn_errmsg()); return NULL; }
	memcpy(scales, p->scale, p->n * sizeof *scales);
	v->t = t;
	v->qscale = scales;
	v->n_qscale = (int)p->n;
	v->qaxis = p->axis;
	v->qtype = type;
	c->qdq = 1;
	return v;
}

/* Input 0 of a QuantizeLinear or DequantizeLinear (opset 10 on). */
static int qdq_input(ctx *c, value **x)
{
	if (c->opset < 10) return node_err(c, SN_EFORMAT, "%s needs opset 10", c->nd->op_type);
	return sn_onnx_input(c, 0, x);
}

/* QuantizeLinear of a float initializer, as ONNX defines it: round half to even, saturate. */
static int quantize_const(ctx *c, const value *x)
{
	float *w = NULL;
	size_t n = 0;
	qpar p;
	int rc = sn_onnx_get_floats(x->t, x->name, &w, &n);
	if (rc) { free(w); return node_err(c, rc, "%s", sn_errmsg()); }
	rc = read_qpar(c, 0, x->t, &p);
	if (!rc && p.type != SN_ONNX_INT8 && p.type != SN_ONNX_UINT8)
		rc = node_err(c, SN_EFORMAT, "the output type is %s; slimnn's weights are 8-bit", type_name(p.type));
	int32_t *q = rc ? NULL : own(c, malloc((n ? n : 1) * sizeof *q)), *zp = rc ? NULL : own(c, malloc(p.n * sizeof *zp));
	if (!rc && (!q || !zp)) rc = sn_seterr(SN_ENOMEM, "out of memory");
	const size_t inner = rc ? 1 : inner_of(x->t, p.axis);
	const float lo = p.type == SN_ONNX_INT8 ? -128 : 0, hi = p.type == SN_ONNX_INT8 ? 127 : 255;
	for (size_t i = 0; !rc && i < n; i++) {
		const size_t k = p.axis < 0 ? 0 : (i / inner) % p.n;
		const float v = nearbyintf(w[i] / p.scale[k]) + (float)p.zp[k];
		if (v != v) rc = node_err(c, SN_EFORMAT, "'%.80s' holds a value that is not a number", x->name);
		else q[i] = (int32_t)(v < lo ? lo : v > hi ? hi : v);
	}
	free(w);
	value *v = rc ? NULL : define_qconst(c, V_QINTS, x->t, &p, p.type);
	if (!rc && !v) rc = sn_errcode();
	if (v) {
		memcpy(zp, p.zp, p.n * sizeof *zp);
		v->qv = q;
		v->qzp = zp;
	}
	qpar_free(&p);
	return rc;
}

int sn_onnx_op_quantize(ctx *c)
{
	value *x;
	int node, rc;
	if ((rc = qdq_input(c, &x))) return rc;
	if (x->kind == V_CONST) return quantize_const(c, x);
	if ((rc = sn_onnx_data_input(c, 0, &node))) return rc;
	qpar p;
	rc = read_qpar(c, 0, NULL, &p);
	if (!rc && p.type != SN_ONNX_INT8 && p.type != SN_ONNX_UINT8)
		rc = node_err(c, SN_EFORMAT, "the output type is %s; slimnn's activations are 8-bit (int8 or uint8)", type_name(p.type));
	const sn_qparams y = rc ? (sn_qparams){0, 0} : (sn_qparams){p.scale[0], p.zp[0] - (p.type == SN_ONNX_UINT8 ? 128 : 0)};
	const int type = p.type;
	qpar_free(&p);
	if (rc) return rc;
	qdq_node *q = qn_at(c, node);
	if (!q) return SN_ENOMEM;
	if (q->has_y && (q->y.scale != y.scale || q->y.zero_point != y.zero_point))
		return node_err(c, SN_EFORMAT, "'%.80s' is quantized a second time with other parameters (scale %g, zero point %d; "
		                "before: %g, %d), which slimnn cannot hold", x->name, y.scale, (int)y.zero_point, q->y.scale,
		                (int)q->y.zero_point);
	q->has_y = 1;
	q->y = y;
	c->qdq = 1;
	value *v = sn_onnx_define(c, c->nd->output[0], V_QUANT);
	if (!v) return node_err(c, SN_EFORMAT, "%s", sn_errmsg());
	v->node = node;
	v->qp = y;
	v->qtype = type;
	return SN_OK;
}

/* DequantizeLinear of an initializer, or of a V_QINTS with its parameters: its floats, and a
 * weight's scales. */
static int dequantize_const(ctx *c, const value *x)
{
	const Onnx__TensorProto *t = x->t;
	const int type = x->kind == V_QINTS ? x->qtype : t->has_data_type ? t->data_type : 0;
	qpar p;
	int32_t *q = NULL;
	size_t n = 0;
	int rc = x->kind == V_QINTS ? sn_onnx_numel(t, x->name, &n) : get_q(c, t, x->name, &q, &n);
	if (!rc) rc = read_qpar(c, type, t, &p);
	else memset(&p, 0, sizeof p);
	if (!rc && x->kind == V_QINTS && ((size_t)x->n_qscale != p.n || x->qaxis != p.axis || memcmp(x->qscale, p.scale, p.n * sizeof *p.scale) ||
	                                   memcmp(x->qzp, p.zp, p.n * sizeof *p.zp)))
		rc = node_err(c, SN_EFORMAT, "it dequantizes '%.80s' with other parameters than its QuantizeLinear's; slimnn reads "
		              "only matching pairs", x->name);
	const int32_t *qv = x->kind == V_QINTS ? x->qv : q;
	const int zero = type == SN_ONNX_UINT8 ? 128 : 0;   /* weights symmetric: uint8 only around 128 */
	for (size_t i = 0; !rc && i < p.n; i++)
		if (p.zp[i] != zero)
			rc = node_err(c, SN_EFORMAT, "'%.80s' has zero point %d; slimnn's int8 weights are symmetric (int8 with zero "
			              "point 0, or uint8 with 128): quantize the weights symmetric (onnxruntime's default for QInt8 "
			              "weights), or import the float model and run slimnn quantize", x->name, (int)p.zp[i]);
	float *deq = rc ? NULL : own(c, malloc((n ? n : 1) * sizeof *deq));
	if (!rc && !deq) rc = sn_seterr(SN_ENOMEM, "out of memory");
	value *v = rc ? NULL : define_qconst(c, V_QCONST, t, &p, type);
	if (!rc && !v) rc = sn_errcode();
	if (v) {
		const size_t inner = inner_of(t, p.axis);
		for (size_t i = 0; i < n; i++) {
			const size_t k = p.axis < 0 ? 0 : (i / inner) % p.n;
			deq[i] = (float)(qv[i] - zero) * p.scale[k];
			v->has_min |= qv[i] - zero == -128;
		}
		v->deq = deq;
	}
	free(q);
	qpar_free(&p);
	return rc;
}

int sn_onnx_op_dequantize(ctx *c)
{
	value *x;
	int rc = qdq_input(c, &x);
	if (rc) return rc;
	if (x->kind == V_CONST || x->kind == V_QINTS) return dequantize_const(c, x);
	if (x->kind != V_QUANT)
		return node_err(c, SN_EFORMAT, "DequantizeLinear of '%.80s', which is neither a QuantizeLinear's output nor an "
		                "initializer; slimnn reads QDQ pairs (QuantizeLinear -> DequantizeLinear) and quantized weights", x->name);
	qpar p;
	if ((rc = read_qpar(c, x->qtype, NULL, &p))) { qpar_free(&p); return rc; }
	const sn_qparams y = {p.scale[0], p.zp[0] - (p.type == SN_ONNX_UINT8 ? 128 : 0)};
	qpar_free(&p);
	if (y.scale != x->qp.scale || y.zero_point != x->qp.zero_point)
		return node_err(c, SN_EFORMAT, "it dequantizes with scale %g, zero point %d what its QuantizeLinear quantized with "
		                "%g, %d; slimnn reads only matching pairs", y.scale, (int)y.zero_point, x->qp.scale, (int)x->qp.zero_point);
	value *v = sn_onnx_define(c, c->nd->output[0], V_NODE);
	if (!v) return node_err(c, SN_EFORMAT, "%s", sn_errmsg());
	v->node = x->node;
	v->qdq = 1;
	return SN_OK;
}

/* ---------------------------------------------------------------- layers */

int sn_onnx_qconst_floats(ctx *c, const value *v, const char *what, float **data, size_t *n)
{
	size_t k;
	int rc = sn_onnx_numel(v->t, v->name, &k);
	if (rc) return node_err(c, rc, "%s", sn_errmsg());
	if (!(*data = malloc((k ? k : 1) * sizeof **data))) return sn_seterr(SN_ENOMEM, "out of memory");
	memcpy(*data, v->deq, k * sizeof **data);
	*n = k;
	if (!strcmp(what, "weight") && v->qtype != SN_ONNX_INT32) c->qw = v;
	return SN_OK;
}

int sn_onnx_qweight_axis(ctx *c, int axis)
{
	if (!c->qw || c->qw->n_qscale == 1 || c->qw->qaxis == axis) return SN_OK;
	return node_err(c, SN_EFORMAT, "the weight's scales run along axis %d; slimnn's run along the output channels "
	                "(axis %d here)", c->qw->qaxis, axis);
}

void sn_onnx_qdq_read(ctx *c, const value *v)
{
	if (v->qdq && c->n_dq_in < (int)(sizeof c->dq_in / sizeof *c->dq_in)) c->dq_in[c->n_dq_in++] = v->node;
}

int sn_onnx_qdq_read_by(const ctx *c, int node)
{
	for (int i = 0; i < c->n_dq_in; i++)
		if (c->dq_in[i] == node) return 1;
	return 0;
}

int sn_onnx_qdq_layer(ctx *c, int k)
{
	qdq_node *q = qn_at(c, k);
	if (!q) return SN_ENOMEM;
	const sn_node *n = &c->g->node[k];
	for (int i = 0; i < n->n_in; i++)
		if (sn_onnx_qdq_read_by(c, n->in[i])) q->in_dq |= 1u << i;
	if (c->qw && sn_q_weight(c->g, n)) {
		q->w_scale = c->qw->qscale;
		q->n_scale = c->qw->n_qscale;
		q->has_min = c->qw->has_min;
		c->qw = NULL;
	}
	return SN_OK;
}

/* ---------------------------------------------------------------- the records */

static int same_y(sn_qparams a, sn_qparams b) { return a.scale == b.scale && a.zero_point == b.zero_point; }

/* Whether node k can run in int8 as the file says. */
static int int8_ok(const ctx *c, int k, const unsigned char *raw)
{
	const sn_graph *g = c->g;
	const sn_node *n = &g->node[k];
	const qdq_node *q = &c->qn[k];
	if (!sn_op_get(n->op)->run_q8 || !q->has_y || raw[k]) return 0;
	for (int i = 0; i < n->n_in; i++)
		if (!c->qn[n->in[i]].has_y || !(q->in_dq >> i & 1)) return 0;
	if ((sn_op_get(n->op)->flags & SN_OPF_Q8_SAME) && !same_y(q->y, c->qn[n->in[0]].y)) return 0;
	const sn_tensor *w = sn_q_weight(g, n);
	return !w || (q->n_scale && w->n / (size_t)w->dims[0] <= SN_Q8_MAX_TAPS);
}

int sn_onnx_qdq_finish(ctx *c)
{
	if (!c->qdq) return SN_OK;
	sn_graph *g = c->g;
	const int N = g->n_node;
	if (!qn_at(c, N - 1)) return SN_ENOMEM;
	unsigned char *raw = calloc((size_t)N, 1), *int8 = calloc((size_t)N, 1);
	int *reader = malloc((size_t)N * sizeof *reader);   /* a node's one reader, -1 none, -2 several */
	if (!raw || !int8 || !reader) { free(raw); free(int8); free(reader); return sn_seterr(SN_ENOMEM, "out of memory"); }
	for (int k = 0; k < N; k++) reader[k] = -1;
	for (int k = 1; k < N; k++)
		for (int i = 0; i < g->node[k].n_in; i++) {
			int *r = &reader[g->node[k].in[i]];
			*r = *r == -1 ? k : -2;
		}
	/* slimnn's fused activation: a conv or Linear read only by a ReLU (ReLU6) that is quantized
	 * takes the activation's parameters; its int8 clamp then is the activation's */
	for (int k = 1; k < N; k++) {
		const int r = reader[k];
		if (c->qn[k].has_y || !sn_q_weight(g, &g->node[k]) || r < 0 || !c->qn[r].has_y || (c->qn[r].in_dq & 1)) continue;
		if (g->node[r].op != SN_OP_RELU && g->node[r].op != SN_OP_RELU6) continue;
		c->qn[k].has_y = 1;
		c->qn[k].y = c->qn[r].y;
		c->qn[r].in_dq |= 1;
	}
	free(reader);
	/* outputs read unquantized (the model's own output too, unless read through QDQ) */
	for (int k = 1; k < N; k++)
		for (int i = 0; i < g->node[k].n_in; i++)
			if (!(c->qn[k].in_dq >> i & 1)) raw[g->node[k].in[i]] = 1;
	const value *out = sn_onnx_lookup(c, c->gp->output[0]->name);
	if (!out || !out->qdq) raw[N - 1] = 1;
	int rc = SN_OK;
	for (int k = 1; k < N && !rc; k++) {
		int8[k] = (unsigned char)int8_ok(c, k, raw);
		if (int8[k] && c->qn[k].has_min)
			rc = sn_seterr(SN_EFORMAT, "ONNX layer '%s': its int8 weight holds -128; slimnn's int8 weights lie in [-127, 127] "
			               "(symmetric, as onnxruntime quantizes QInt8 weights): quantize them so, or import the float model "
			               "and run slimnn quantize", g->node[k].name);
	}
	for (int k = 0; k < N && !rc; k++) {
		sn_node *n = &g->node[k];
		if (!c->qn[k].has_y) continue;
		if (!(n->q = sn_qnode_new(c->qn[k].y, int8[k]))) rc = SN_ENOMEM;
		else if (int8[k] && sn_q_weight(g, n)) rc = sn_q_set_weights(g, n, c->qn[k].w_scale, c->qn[k].n_scale);
	}
	free(raw); free(int8);
	return rc ? rc : sn_q_derive(g);
}
