/* slimnn graph -> ONNX (opset 13). One ONNX node per slimnn node, named like it, and its output
 * value named like it too, so a model keeps its layer names through a round trip; parameters
 * and buffers become float32 initializers named like the tensors ("conv1.weight"). A few
 * operators need several ONNX nodes: padding modes other than zeros (Pad + Conv), a conv with a
 * fused activation (Conv + Relu / Clip), Hardswish (HardSigmoid + Mul, as torch writes it below
 * opset 14), SiLU and GELU (torch's Sigmoid + Mul and Erf or Tanh chains), channel shuffle (Reshape + Transpose + Reshape, as torch writes it), a product of
 * a rank-2 and a rank-4 tensor (Reshape to [N, C, 1, 1] + Mul). Every allocation goes into one
 * list freed at the end, so the builder has no per-message cleanup.
 *
 * An int8 model is written in ONNX's QDQ form (as onnxruntime's quantize_static writes it): the
 * output of every layer slimnn holds in int8 (it runs in int8, or an int8 layer reads it) goes
 * through QuantizeLinear -> DequantizeLinear with its scale and zero point (int8); an int8 conv or
 * Linear reads its weight as DequantizeLinear of an int8 initializer (per-channel scales on axis
 * 0, zero point 0) and its bias as DequantizeLinear of the int32 bias slimnn adds, in the scale
 * x_scale * w_scale. Readers of a quantized output read the dequantized value, except float
 * layers reading a float layer's output, which slimnn hands over unquantized. */
#include <math.h>
#include "onnx/onnx_internal.h"
#include "core/quant.h"
#include "io/io.h"

typedef struct {
	void **mem; size_t n_mem, cap_mem;
	int oom;
	Onnx__NodeProto **node; size_t n_node, cap_node;
	Onnx__TensorProto **init; size_t n_init, cap_init;
	const sn_graph *g;
	unsigned char *qdq;   /* per node: its output gets a QuantizeLinear -> DequantizeLinear pair */
} ex;

static void *grow(ex *e, void **arr, size_t *cap, size_t n, size_t size)
{
	if (n < *cap) return *arr;
	size_t c = *cap ? 2 * *cap : 16;
	void *p = realloc(*arr, c * size);
	if (!p) { e->oom = 1; return NULL; }
	*arr = p; *cap = c;
	return p;
}

static void *al(ex *e, size_t size)
{
	if (e->oom || !grow(e, (void **)&e->mem, &e->cap_mem, e->n_mem, sizeof *e->mem)) return NULL;
	void *p = calloc(1, size ? size : 1);
	if (!p) { e->oom = 1; return NULL; }
	return e->mem[e->n_mem++] = p;
}

static char *str(ex *e, const char *s)
{
	char *p = al(e, strlen(s) + 1);
	if (p) strcpy(p, s);
	return p;
}

static char *strf(ex *e, const char *a, const char *b)
{
	char buf[3 * SN_NAME_MAX];
	snprintf(buf, sizeof buf, "%s%s", a, b);
	return str(e, buf);
}

/* ---------------------------------------------------------------- attributes */

static Onnx__AttributeProto *attr_new(ex *e, const char *name, Onnx__AttributeProto__AttributeType type)
{
	Onnx__AttributeProto *a = al(e, sizeof *a);
	if (!a) return NULL;
	onnx__attribute_proto__init(a);
	a->name = str(e, name);
	a->has_type = 1;
	a->type = type;
	return a;
}

static Onnx__AttributeProto *a_int(ex *e, const char *name, int64_t v)
{
	Onnx__AttributeProto *a = attr_new(e, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
	if (a) { a->has_i = 1; a->i = v; }
	return a;
}

static Onnx__AttributeProto *a_float(ex *e, const char *name, float v)
{
	Onnx__AttributeProto *a = attr_new(e, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
	if (a) { a->has_f = 1; a->f = v; }
	return a;
}

static Onnx__AttributeProto *a_ints(ex *e, const char *name, int n, const int *v)
{
	Onnx__AttributeProto *a = attr_new(e, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
	int64_t *p = al(e, n * sizeof *p);
	if (!a || !p) return NULL;
	for (int i = 0; i < n; i++) p[i] = v[i];
	a->n_ints = n;
	a->ints = p;
	return a;
}

static Onnx__AttributeProto *a_str(ex *e, const char *name, const char *v)
{
	Onnx__AttributeProto *a = attr_new(e, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING);
	char *s = str(e, v);
	if (!a || !s) return NULL;
	a->has_s = 1;
	a->s.data = (uint8_t *)s;
	a->s.len = strlen(s);
	return a;
}

/* ---------------------------------------------------------------- nodes and initializers */

/* Appends a node; inputs is a NULL-terminated list, attrs a NULL-terminated list. */
static void add_node(ex *e, const char *op, const char *name, const char *const *inputs, const char *output,
                     Onnx__AttributeProto *const *attrs)
{
	Onnx__NodeProto *n = al(e, sizeof *n);
	if (!n || !grow(e, (void **)&e->node, &e->cap_node, e->n_node, sizeof *e->node)) return;
	onnx__node_proto__init(n);
	size_t ni = 0, na = 0;
	while (inputs[ni]) ni++;
	while (attrs && attrs[na]) na++;
	n->op_type = str(e, op);
	n->name = str(e, name);
	n->input = al(e, ni * sizeof *n->input);
	n->output = al(e, sizeof *n->output);
	n->attribute = al(e, na * sizeof *n->attribute);
	if (!n->input || !n->output || !n->attribute) return;
	for (size_t i = 0; i < ni; i++) n->input[i] = str(e, inputs[i]);
	n->n_input = ni;
	n->output[0] = str(e, output);
	n->n_output = 1;
	for (size_t i = 0; i < na; i++) n->attribute[i] = attrs[i];
	n->n_attribute = na;
	e->node[e->n_node++] = n;
}

static Onnx__TensorProto *add_init(ex *e, const char *name, int type, int ndim, const int64_t *dims, size_t bytes)
{
	Onnx__TensorProto *t = al(e, sizeof *t);
	if (!t || !grow(e, (void **)&e->init, &e->cap_init, e->n_init, sizeof *e->init)) return NULL;
	onnx__tensor_proto__init(t);
	t->name = str(e, name);
	t->has_data_type = 1;
	t->data_type = type;
	t->dims = al(e, ndim * sizeof *t->dims);
	t->raw_data.data = al(e, bytes);
	if (!t->dims || !t->raw_data.data) return NULL;
	if (ndim) memcpy(t->dims, dims, ndim * sizeof *dims);
	t->n_dims = ndim;
	t->has_raw_data = 1;
	t->raw_data.len = bytes;
	e->init[e->n_init++] = t;
	return t;
}

/* float32 values, little-endian whatever the host */
static void init_floats(ex *e, const char *name, int ndim, const int64_t *dims, const float *v, size_t n)
{
	Onnx__TensorProto *t = add_init(e, name, SN_ONNX_FLOAT, ndim, dims, n * 4);
	if (!t) return;
	for (size_t i = 0; i < n; i++) {
		uint32_t u;
		memcpy(&u, &v[i], 4);
		for (int b = 0; b < 4; b++) t->raw_data.data[4 * i + b] = (uint8_t)(u >> (8 * b));
	}
}

static void init_int64s(ex *e, const char *name, int n, const int64_t *v)
{
	int64_t dim = n;
	Onnx__TensorProto *t = add_init(e, name, SN_ONNX_INT64, 1, &dim, (size_t)n * 8);
	if (!t) return;
	for (int i = 0; i < n; i++)
		for (int b = 0; b < 8; b++) t->raw_data.data[8 * i + b] = (uint8_t)((uint64_t)v[i] >> (8 * b));
}

static void init_tensor(ex *e, const sn_tensor *t)
{
	int64_t d[4];
	for (int i = 0; i < t->ndim; i++) d[i] = t->dims[i];
	init_floats(e, t->name, t->ndim, d, t->data, t->n);
}

/* int8 or int32 values (little-endian) */
static void init_ints(ex *e, const char *name, int type, int ndim, const int64_t *dims, const void *v, size_t n)
{
	const size_t size = type == SN_ONNX_INT32 ? 4 : 1;
	Onnx__TensorProto *t = add_init(e, name, type, ndim, dims, n * size);
	if (!t) return;
	for (size_t i = 0; i < n; i++)
		for (size_t b = 0; b < size; b++)
			t->raw_data.data[size * i + b] = size == 4 ? (uint8_t)((uint32_t)((const int32_t *)v)[i] >> (8 * b)) : ((const uint8_t *)v)[i];
}

static Onnx__ValueInfoProto *value_info(ex *e, const char *name, sn_shape s)
{
	Onnx__ValueInfoProto *v = al(e, sizeof *v);
	Onnx__TypeProto *tp = al(e, sizeof *tp);
	Onnx__TypeProto__Tensor *tt = al(e, sizeof *tt);
	Onnx__TensorShapeProto *sh = al(e, sizeof *sh);
	Onnx__TensorShapeProto__Dimension **dims = al(e, 4 * sizeof *dims);
	if (!v || !tp || !tt || !sh || !dims) return NULL;
	onnx__value_info_proto__init(v);
	onnx__type_proto__init(tp);
	onnx__type_proto__tensor__init(tt);
	onnx__tensor_shape_proto__init(sh);
	const int rank = s.rank == 2 ? 2 : 4, val[4] = {0, s.c, s.h, s.w};
	for (int i = 0; i < rank; i++) {
		Onnx__TensorShapeProto__Dimension *d = al(e, sizeof *d);
		if (!d) return NULL;
		onnx__tensor_shape_proto__dimension__init(d);
		if (i == 0) { d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM; d->dim_param = str(e, "N"); }
		else { d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE; d->dim_value = val[i]; }
		dims[i] = d;
	}
	sh->n_dim = rank;
	sh->dim = dims;
	tt->has_elem_type = 1;
	tt->elem_type = SN_ONNX_FLOAT;
	tt->shape = sh;
	tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
	tp->tensor_type = tt;
	v->name = str(e, name);
	v->type = tp;
	return v;
}

/* ---------------------------------------------------------------- int8: QDQ */

static int runs_int8(const sn_graph *g, int i) { return i > 0 && sn_node_runs_int8(&g->node[i]); }

/* Which outputs slimnn holds in int8: an int8 layer's, and any layer's an int8 layer reads. */
static int mark_qdq(ex *e, const sn_graph *g)
{
	e->g = g;
	if (!(e->qdq = calloc((size_t)g->n_node, 1))) return sn_seterr(SN_ENOMEM, "out of memory");
	for (int i = 0; i < g->n_node; i++) {
		if (runs_int8(g, i)) e->qdq[i] = 1;
		for (int k = 0; runs_int8(g, i) && k < g->node[i].n_in; k++) e->qdq[g->node[i].in[k]] = 1;
	}
	for (int i = 0; i < g->n_node; i++)
		if (e->qdq[i] && !g->node[i].q) return sn_seterr(SN_EINVAL, "int8 layer reads layer '%s', which has no int8 parameters", g->node[i].name);
	return SN_OK;
}

/* The name node n reads for its input i: the dequantized value, unless both are float. */
static const char *in_name(ex *e, const sn_node *n, int i)
{
	const int p = n->in[i];
	const char *name = e->g->node[p].name;
	if (e->qdq[p] && (runs_int8(e->g, p) || runs_int8(e->g, (int)(n - e->g->node)))) return strf(e, name, ".dequant");
	return name;
}

/* QuantizeLinear -> DequantizeLinear of node n's output with its parameters: "<n>.quant" (int8)
 * and "<n>.dequant" (float), the parameters as scalars "<n>.scale", "<n>.zero_point". */
static void qdq_output(ex *e, const sn_node *n)
{
	const char *sc = strf(e, n->name, ".scale"), *zp = strf(e, n->name, ".zero_point");
	const char *q = strf(e, n->name, ".quant"), *dq = strf(e, n->name, ".dequant");
	const int8_t z = (int8_t)n->q->y.zero_point;
	init_floats(e, sc, 0, NULL, &n->q->y.scale, 1);
	init_ints(e, zp, SN_ONNX_INT8, 0, NULL, &z, 1);
	add_node(e, "QuantizeLinear", q, (const char *[]){n->name, sc, zp, NULL}, q, NULL);
	add_node(e, "DequantizeLinear", dq, (const char *[]){q, sc, zp, NULL}, dq, NULL);
}

/* DequantizeLinear of `values` (int8 or int32) with one scale, or one per row on axis 0, zero
 * point 0; its output is named `name` (the float tensor the layer reads). */
static void dequant_init(ex *e, const char *name, int type, int ndim, const int64_t *dims, const void *values, size_t n,
                         const float *scales, int n_scale)
{
	const int64_t ns = n_scale;
	const int per = n_scale > 1;
	const char *vq = strf(e, name, ".quant"), *sc = strf(e, name, ".scale"), *zp = strf(e, name, ".zero_point");
	void *zeros = al(e, (size_t)n_scale * 4);
	init_ints(e, vq, type, ndim, dims, values, n);
	init_floats(e, sc, per, &ns, scales, (size_t)n_scale);
	if (zeros) init_ints(e, zp, type, per, &ns, zeros, (size_t)n_scale);
	Onnx__AttributeProto *ax[] = {per ? a_int(e, "axis", 0) : NULL, NULL};
	add_node(e, "DequantizeLinear", name, (const char *[]){vq, sc, zp, NULL}, name, ax);
}

/* An int8 conv's or Linear's weight (int8) and bias (int32 in the scale x_scale * w_scale[o],
 * the one slimnn adds) as DequantizeLinear of initializers, named like the float tensors. */
static int qdq_weights(ex *e, const sn_node *n, const sn_tensor *w, const sn_tensor *b)
{
	const sn_qnode *q = n->q;
	if (!q->w || q->w_n != w->n || (b && !q->bias))
		return sn_seterr(SN_EINVAL, "int8 layer '%s' has no int8 weight (its records were not derived)", n->name);
	int64_t d[4];
	for (int i = 0; i < w->ndim; i++) d[i] = w->dims[i];
	dequant_init(e, w->name, SN_ONNX_INT8, w->ndim, d, q->w, w->n, q->w_scale, q->n_scale);
	if (!b) return SN_OK;
	float *bs = al(e, (size_t)q->n_scale * sizeof *bs);
	if (!bs) return SN_OK;   /* e->oom says it */
	const double sx = e->g->node[n->in[0]].q->y.scale;
	for (int o = 0; o < q->n_scale; o++) bs[o] = (float)(sx * q->w_scale[o]);
	const int64_t rows = b->n;
	dequant_init(e, b->name, SN_ONNX_INT32, 1, &rows, q->bias, b->n, bs, q->n_scale);
	return SN_OK;
}

/* ---------------------------------------------------------------- operators */

/* ReLU6 as Clip(x, 0, 6), the bounds as scalar initializers named after the layer. */
static void clip06(ex *e, const char *layer, const char *x, const char *y)
{
	const char *lo = strf(e, layer, ".min"), *hi = strf(e, layer, ".max");
	const float v0 = 0, v6 = 6;
	init_floats(e, lo, 0, NULL, &v0, 1);
	init_floats(e, hi, 0, NULL, &v6, 1);
	add_node(e, "Clip", y, (const char *[]){x, lo, hi, NULL}, y, NULL);
}

/* Reshape x to the given dims (0 copies the input's, -1 takes the rest) as node `name`. */
static void reshape(ex *e, const char *name, const char *x, int n, const int64_t *dims)
{
	const char *shape = strf(e, name, ".shape");
	init_int64s(e, shape, n, dims);
	add_node(e, "Reshape", name, (const char *[]){x, shape, NULL}, name, NULL);
}

/* Channel shuffle as torch writes it: [N, g, C/g, H, W], swap the group axes, back to [N, C, H, W]. */
static void shuffle(ex *e, const sn_node *n, const char *x)
{
	const int64_t g = n->a.shuffle.groups, split[5] = {0, g, n->out.c / g, n->out.h, n->out.w};
	const int64_t back[4] = {0, n->out.c, n->out.h, n->out.w};
	const int perm[5] = {0, 2, 1, 3, 4};
	const char *r = strf(e, n->name, ".split"), *t = strf(e, n->name, ".transpose");
	reshape(e, r, x, 5, split);
	Onnx__AttributeProto *ta[] = {a_ints(e, "perm", 5, perm), NULL};
	add_node(e, "Transpose", t, (const char *[]){r, NULL}, t, ta);
	reshape(e, n->name, t, 4, back);
}

/* Element-wise product; slimnn reads a rank-2 [N, C] input as [N, C, 1, 1], ONNX would align it
 * with [H, W], so such an input is reshaped first. */
static void mul(ex *e, const sn_graph *g, const sn_node *n)
{
	const char *in[3] = {in_name(e, n, 0), in_name(e, n, 1), NULL};
	for (int i = 0; i < 2 && n->out.rank == 4; i++) {
		if (g->node[n->in[i]].out.rank != 2) continue;
		const int64_t dims[4] = {0, -1, 1, 1};
		char suffix[16];
		snprintf(suffix, sizeof suffix, ".in%d", i);
		const char *r = strf(e, n->name, suffix);
		reshape(e, r, in[i], 4, dims);
		in[i] = r;
	}
	add_node(e, "Mul", n->name, in, n->name, NULL);
}

/* A float scalar initializer named <layer><tag>; returns its name. */
static const char *scalar(ex *e, const char *layer, const char *tag, float v)
{
	const char *name = strf(e, layer, tag);
	init_floats(e, name, 0, NULL, &v, 1);
	return name;
}

/* op(a, b) as node `name` (named like its output); returns the name. */
static const char *binary(ex *e, const char *op, const char *name, const char *a, const char *b)
{
	add_node(e, op, name, (const char *[]){a, b, NULL}, name, NULL);
	return name;
}

/* GELU as torch writes nn.GELU below opset 20, node for node: x * (1 + Erf(x / sqrt 2)) * 0.5, or
 * with approximate=tanh x * (1 + Tanh(sqrt(2/pi) * (x + 0.044715 * x * x * x))) * 0.5. */
static void gelu(ex *e, const sn_node *n, const char *x, const char *y)
{
	const char *l = n->name, *inner;
	if (n->a.gelu.approximate == SN_GELU_TANH) {
		const char *sq = binary(e, "Mul", strf(e, l, ".square"), x, x);
		const char *cube = binary(e, "Mul", strf(e, l, ".cube"), x, sq);
		const char *c = scalar(e, l, ".c", 0.044715f);
		const char *cubic = binary(e, "Mul", strf(e, l, ".cubic"), c, cube);
		const char *poly = binary(e, "Add", strf(e, l, ".poly"), x, cubic);
		const char *k = scalar(e, l, ".sqrt_2_pi", 0.79788456080286536f);
		const char *u = binary(e, "Mul", strf(e, l, ".u"), k, poly), *t = strf(e, l, ".tanh");
		add_node(e, "Tanh", t, (const char *[]){u, NULL}, t, NULL);
		const char *one = scalar(e, l, ".one", 1.0f);
		inner = binary(e, "Add", strf(e, l, ".add"), one, t);
	} else {
		const char *r2 = scalar(e, l, ".sqrt2", 1.41421356237309505f);
		const char *d = binary(e, "Div", strf(e, l, ".div"), x, r2), *erf = strf(e, l, ".erf");
		add_node(e, "Erf", erf, (const char *[]){d, NULL}, erf, NULL);
		const char *one = scalar(e, l, ".one", 1.0f);
		inner = binary(e, "Add", strf(e, l, ".add"), erf, one);
	}
	const char *m = binary(e, "Mul", strf(e, l, ".mul"), x, inner), *half = scalar(e, l, ".half", 0.5f);
	binary(e, "Mul", y, m, half);
}

/* x[start:end] along axis as node `name` (the bounds as initializers named after it). */
static const char *slice(ex *e, const char *name, const char *x, int64_t axis, int64_t start, int64_t end)
{
	const char *s = strf(e, name, ".starts"), *en = strf(e, name, ".ends"), *ax = strf(e, name, ".axes");
	init_int64s(e, s, 1, &start);
	init_int64s(e, en, 1, &end);
	init_int64s(e, ax, 1, &axis);
	add_node(e, "Slice", name, (const char *[]){x, s, en, ax, NULL}, name, NULL);
	return name;
}

/* Circular padding (t, b, l, r) of x without ONNX's opset-19 "wrap": as torch 2 writes it,
 * Concat([x[..., -p:], x, x[..., :q]]) along H, then along W; the last Concat is `out`. */
static void circular(ex *e, const char *layer, const char *x, const int pads[4], const char *out)
{
	static const char *const tags[2][3] = {{".pad_h", ".pad_top", ".pad_bottom"}, {".pad_w", ".pad_left", ".pad_right"}};
	const int last_axis = pads[2] || pads[3] ? 3 : 2;
	for (int axis = 2; axis <= last_axis; axis++) {
		const int lo = pads[2 * (axis - 2)], hi = pads[2 * (axis - 2) + 1];
		if (!lo && !hi) continue;
		const char *in[4] = {NULL}, *y = axis == last_axis ? out : strf(e, layer, tags[axis - 2][0]);
		int k = 0;
		if (lo) in[k++] = slice(e, strf(e, layer, tags[axis - 2][1]), x, axis, -lo, INT64_MAX);
		in[k++] = x;
		if (hi) in[k++] = slice(e, strf(e, layer, tags[axis - 2][2]), x, axis, 0, hi);
		Onnx__AttributeProto *ca[] = {a_int(e, "axis", axis), NULL};
		add_node(e, "Concat", y, in, y, ca);
		x = y;
	}
}

/* x padded by p (top, bottom, left, right) in mode as node `out`: a Pad (constant value,
 * reflect, edge), or the circular chain; the initializers are named after the layer. */
static int pad(ex *e, const char *layer, const char *x, sn_padmode mode, const int p[4], float value, const char *out)
{
	static const char *const modes[] = {"constant", "reflect", "edge"};
	if ((unsigned)mode > SN_PAD_CIRCULAR) return sn_seterr(SN_EINVAL, "layer '%s': unknown padding mode %d", layer, (int)mode);
	if (mode == SN_PAD_CIRCULAR && (p[0] || p[1] || p[2] || p[3])) circular(e, layer, x, p, out);
	if (mode == SN_PAD_CIRCULAR) {
		if (!p[0] && !p[1] && !p[2] && !p[3]) add_node(e, "Identity", out, (const char *[]){x, NULL}, out, NULL);
		return SN_OK;
	}
	const int64_t pv[8] = {0, 0, p[0], p[2], 0, 0, p[1], p[3]};
	const char *pads = strf(e, layer, ".pads"), *fill = strf(e, layer, ".value");
	init_int64s(e, pads, 8, pv);
	if (mode == SN_PAD_ZEROS) init_floats(e, fill, 0, NULL, &value, 1);
	Onnx__AttributeProto *pa[] = {a_str(e, "mode", modes[mode]), NULL};
	add_node(e, "Pad", out, (const char *[]){x, pads, mode == SN_PAD_ZEROS ? fill : NULL, NULL}, out, pa);
	return SN_OK;
}

static int export_node(ex *e, const sn_graph *g, const sn_node *n)
{
	const char *x = in_name(e, n, 0), *y = n->name;
	const sn_tensor *t[SN_T_MAX];
	for (int s = 0; s < SN_T_MAX; s++) t[s] = n->t[s] >= 0 ? &g->tensor[n->t[s]] : NULL;
	const int qw = runs_int8(g, (int)(n - g->node)) && sn_q_weight(g, n);   /* int8 weights: dequantized first */
	if (qw) {
		int rc = qdq_weights(e, n, t[SN_T_WEIGHT], t[SN_T_BIAS]);
		if (rc) return rc;
	}
	switch (n->op) {
	case SN_OP_CONV: {
		const sn_conv_attr *a = &n->a.conv;
		int k[2] = {a->kh, a->kw}, s[2] = {a->sh, a->sw}, d[2] = {a->dh, a->dw};
		int p[4] = {a->pt, a->pl, a->pb, a->pr}, zero[4] = {0, 0, 0, 0};
		if (a->mode != SN_PAD_ZEROS) {   /* a reflect, edge or circular pad, then an unpadded Conv */
			const int tblr[4] = {a->pt, a->pb, a->pl, a->pr};
			const char *xp = strf(e, n->name, ".pad");
			int rc = pad(e, n->name, x, a->mode, tblr, 0, xp);
			if (rc) return rc;
			x = xp;
		}
		Onnx__AttributeProto *ca[] = {a_ints(e, "kernel_shape", 2, k), a_ints(e, "strides", 2, s),
		                              a_ints(e, "pads", 4, a->mode == SN_PAD_ZEROS ? p : zero),
		                              a_ints(e, "dilations", 2, d), a_int(e, "group", a->groups), NULL};
		const char *cy = a->act == SN_FUSE_NONE ? y : strf(e, n->name, ".conv");
		add_node(e, "Conv", cy, (const char *[]){x, t[0]->name, t[1] ? t[1]->name : NULL, NULL}, cy, ca);
		if (a->act == SN_FUSE_RELU) add_node(e, "Relu", y, (const char *[]){cy, NULL}, y, NULL);
		if (a->act == SN_FUSE_RELU6) clip06(e, n->name, cy, y);
		break;
	}
	case SN_OP_BN: {
		Onnx__AttributeProto *ba[] = {a_float(e, "epsilon", n->a.bn.eps), a_float(e, "momentum", 1.0f - n->a.bn.momentum), NULL};
		add_node(e, "BatchNormalization", y, (const char *[]){x, t[0]->name, t[1]->name, t[2]->name, t[3]->name, NULL}, y, ba);
		break;
	}
	case SN_OP_RELU6: clip06(e, n->name, x, y); break;
	case SN_OP_HARDSWISH: {   /* x * HardSigmoid(x), alpha 1/6, beta 1/2: torch's form below opset 14 */
		const char *h = strf(e, n->name, ".hardsigmoid");
		Onnx__AttributeProto *ha[] = {a_float(e, "alpha", 1.0f / 6), a_float(e, "beta", 0.5f), NULL};
		add_node(e, "HardSigmoid", h, (const char *[]){x, NULL}, h, ha);
		add_node(e, "Mul", y, (const char *[]){x, h, NULL}, y, NULL);
		break;
	}
	case SN_OP_MAXPOOL:
	case SN_OP_AVGPOOL: {
		const sn_pool_attr *a = &n->a.pool;
		int k[2] = {a->kh, a->kw}, s[2] = {a->sh, a->sw}, p[4] = {a->pt, a->pl, a->pb, a->pr};
		int avg = n->op == SN_OP_AVGPOOL;
		Onnx__AttributeProto *pa[] = {a_ints(e, "kernel_shape", 2, k), a_ints(e, "strides", 2, s), a_ints(e, "pads", 4, p),
		                              a_int(e, "ceil_mode", a->ceil_mode),
		                              avg ? a_int(e, "count_include_pad", a->count_include_pad) : NULL, NULL};
		add_node(e, avg ? "AveragePool" : "MaxPool", y, (const char *[]){x, NULL}, y, pa);
		break;
	}
	case SN_OP_LINEAR: {
		Onnx__AttributeProto *ga[] = {a_int(e, "transB", 1), NULL};
		add_node(e, "Gemm", y, (const char *[]){x, t[0]->name, t[1] ? t[1]->name : NULL, NULL}, y, ga);
		break;
	}
	case SN_OP_FLATTEN: {
		Onnx__AttributeProto *fa[] = {a_int(e, "axis", 1), NULL};
		add_node(e, "Flatten", y, (const char *[]){x, NULL}, y, fa);
		break;
	}
	case SN_OP_DROPOUT: add_node(e, "Identity", y, (const char *[]){x, NULL}, y, NULL); break;   /* inference */
	case SN_OP_MUL: mul(e, g, n); break;
	case SN_OP_SOFTMAX: {
		Onnx__AttributeProto *sa[] = {a_int(e, "axis", 1), NULL};
		add_node(e, "Softmax", y, (const char *[]){x, NULL}, y, sa);
		break;
	}
	case SN_OP_SHUFFLE: shuffle(e, n, x); break;
	case SN_OP_SLICE: slice(e, y, x, 1, n->a.slice.start, n->a.slice.end); break;
	case SN_OP_PAD: {
		const sn_pad_attr *a = &n->a.pad;
		const int tblr[4] = {a->pt, a->pb, a->pl, a->pr};
		int rc = pad(e, n->name, x, a->mode, tblr, a->value, y);
		if (rc) return rc;
		break;
	}
	case SN_OP_HARDSIGMOID: {
		Onnx__AttributeProto *ha[] = {a_float(e, "alpha", n->a.hsig.alpha), a_float(e, "beta", n->a.hsig.beta), NULL};
		add_node(e, "HardSigmoid", y, (const char *[]){x, NULL}, y, ha);
		break;
	}
	case SN_OP_SILU: {   /* x * Sigmoid(x), as torch writes nn.SiLU */
		const char *s = strf(e, n->name, ".sigmoid");
		add_node(e, "Sigmoid", s, (const char *[]){x, NULL}, s, NULL);
		binary(e, "Mul", y, x, s);
		break;
	}
	case SN_OP_GELU:
		if ((unsigned)n->a.gelu.approximate > SN_GELU_TANH)
			return sn_seterr(SN_EINVAL, "layer '%s': unknown GELU approximation %d", n->name, n->a.gelu.approximate);
		gelu(e, n, x, y);
		break;
	case SN_OP_ADD:
	case SN_OP_CONCAT: {
		const char *in[SN_MAX_IN + 1] = {0};
		for (int i = 0; i < n->n_in; i++) in[i] = in_name(e, n, i);
		Onnx__AttributeProto *ca[] = {a_int(e, "axis", 1), NULL};
		if (n->op == SN_OP_CONCAT) add_node(e, "Concat", y, in, y, ca);
		else add_node(e, n->n_in == 2 ? "Add" : "Sum", y, in, y, NULL);
		break;
	}
	default: {   /* an ONNX operator of the same meaning (the operator's row) */
		const sn_op_def *d = sn_op_get(n->op);
		if (!d->onnx || d->onnx_since > SN_ONNX_OPSET_OUT)
			return sn_seterr(SN_EINVAL, "layer '%s' (%s) has no ONNX export", n->name, d->torch);
		add_node(e, d->onnx, y, (const char *[]){x, NULL}, y, NULL);
	}
	}
	for (int s = 0; s < SN_T_MAX; s++)
		if (t[s] && !(qw && (s == SN_T_WEIGHT || s == SN_T_BIAS))) init_tensor(e, t[s]);
	return SN_OK;
}

static Onnx__StringStringEntryProto *prop(ex *e, const char *key, const char *value)
{
	Onnx__StringStringEntryProto *p = al(e, sizeof *p);
	if (!p) return NULL;
	onnx__string_string_entry_proto__init(p);
	p->key = str(e, key);
	p->value = str(e, value);
	return p;
}

int sn_onnx_save(const sn_graph *g, const sn_meta *meta, const char *path)
{
	if (!g || !path || !*path) return sn_seterr(SN_EINVAL, "sn_onnx_save: missing model or path");
	if (g->n_node < 2 || g->node[0].op != SN_OP_INPUT)
		return sn_seterr(SN_EINVAL, "sn_onnx_save: the model has no layers to export");
	ex e = {0};
	int rc = mark_qdq(&e, g);
	if (!rc && e.qdq[0]) qdq_output(&e, &g->node[0]);
	for (int i = 1; i < g->n_node && !rc; i++) {
		rc = export_node(&e, g, &g->node[i]);
		if (!rc && e.qdq[i]) qdq_output(&e, &g->node[i]);
	}
	const sn_node *last = &g->node[g->n_node - 1];
	const char *out_name = e.qdq && runs_int8(g, g->n_node - 1) ? strf(&e, last->name, ".dequant") : last->name;

	Onnx__ModelProto m;
	Onnx__GraphProto gp;
	Onnx__OperatorSetIdProto op;
	onnx__model_proto__init(&m);
	onnx__graph_proto__init(&gp);
	onnx__operator_set_id_proto__init(&op);
	op.domain = str(&e, "");
	op.has_version = 1;
	op.version = SN_ONNX_OPSET_OUT;
	Onnx__OperatorSetIdProto *ops[1] = {&op};
	Onnx__ValueInfoProto *in = value_info(&e, g->node[0].name, g->node[0].out);
	Onnx__ValueInfoProto *out = out_name ? value_info(&e, out_name, last->out) : NULL;
	gp.name = str(&e, "slimnn");
	gp.n_node = e.n_node; gp.node = e.node;
	gp.n_initializer = e.n_init; gp.initializer = e.init;
	gp.n_input = 1; gp.input = &in;
	gp.n_output = 1; gp.output = &out;
	m.has_ir_version = 1;
	m.ir_version = 7;   /* the IR of opset 13 */
	m.producer_name = str(&e, "slimnn");
	m.producer_version = str(&e, SN_VERSION);
	m.n_opset_import = 1;
	m.opset_import = ops;
	m.graph = &gp;
	Onnx__StringStringEntryProto *props[6];
	char *names = NULL;
	if (meta) {
		char buf[64 * SN_NORM_MAX_C];
		size_t k = 0;
		if (meta->dataset[0]) props[k++] = prop(&e, SN_ONNX_META_DATASET, meta->dataset);
		if (meta->norm.c > 0 && meta->norm.c <= SN_NORM_MAX_C) {   /* "m" or "m0,m1,m2": one per channel */
			for (int w = 0; w < 2; w++) {
				const float *v = w ? meta->norm.std : meta->norm.mean;
				size_t len = 0;
				for (int i = 0; i < meta->norm.c; i++)
					len += (size_t)snprintf(buf + len, sizeof buf - len, "%s%.9g", i ? "," : "", v[i]);
				props[k++] = prop(&e, w ? SN_ONNX_META_STD : SN_ONNX_META_MEAN, buf);
			}
		}
		if (meta->resize > 0) {
			snprintf(buf, sizeof buf, "%d", meta->resize);
			props[k++] = prop(&e, SN_ONNX_META_RESIZE, buf);
		}
		if (meta->classes > 0 && (names = malloc(sizeof meta->names))) {
			size_t at = 0;
			for (int i = 0; i < meta->classes && at < sizeof meta->names; i++) {
				size_t l = strnlen(meta->names + at, sizeof meta->names - at);
				memcpy(names + at, meta->names + at, l);
				names[at + l] = i + 1 < meta->classes ? '\n' : 0;
				at += l + 1;
			}
			names[sizeof meta->names - 1] = 0;
			props[k++] = prop(&e, SN_ONNX_META_CLASSES, names);
		}
		if (meta->test_accuracy >= 0) {
			snprintf(buf, sizeof buf, "%.9g", meta->test_accuracy);
			props[k++] = prop(&e, SN_ONNX_META_ACC, buf);
		}
		m.n_metadata_props = k;
		m.metadata_props = props;
	}
	if (!rc && e.oom) rc = sn_seterr(SN_ENOMEM, "out of memory while building the ONNX model");
	if (!rc) {
		size_t len = onnx__model_proto__get_packed_size(&m);
		uint8_t *buf = malloc(len ? len : 1);
		if (!buf) rc = sn_seterr(SN_ENOMEM, "out of memory for the %zu-byte ONNX file", len);
		else if (onnx__model_proto__pack(&m, buf) != len) rc = sn_seterr(SN_EINVAL, "ONNX serialisation failed");
		else rc = sn_write_atomic(path, buf, len);
		free(buf);
	}
	for (size_t i = 0; i < e.n_mem; i++) free(e.mem[i]);
	free(e.mem); free(e.node); free(e.init); free(e.qdq);
	free(names);
	return rc;
}
