/* ONNX -> slimnn graph: the value table, reading tensors and attributes, naming layers, and the
 * model itself (opset, input, metadata, the node loop). The operators are in
 * onnx_import_layers.c (what becomes a slimnn layer) and onnx_import_ints.c (shape arithmetic
 * evaluated at import); onnx_import.h describes the value kinds.
 *
 * The ONNX graph is a list of nodes over named values, in topological order. Each slimnn node's
 * shape is inferred as soon as it is added, so later nodes (Shape, Reshape) and the checks of
 * initializer dims can use it; the weights are copied in at the end, after sn_graph_infer has
 * laid the tensors out.
 *
 * The file is untrusted: protobuf-c bounds every length by the buffer, and every count, index,
 * type, dim and attribute is checked here before use. Errors name the node, its operator and
 * the opset. */
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include "onnx/onnx_import.h"
#include "io/io.h"

#define SN_ONNX_READS_MAX (8 * SN_ONNX_NODES_MAX)   /* node inputs in a graph, all together */

/* ---------------------------------------------------------------- errors */

int sn_onnx_node_err(ctx *c, int status, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	const char *name = c->nd->name && *c->nd->name ? c->nd->name : "(unnamed)";
	return sn_seterr(status, "ONNX node %d '%.80s' (%.40s, opset %d): %s", c->nd_idx, name,
	                 c->nd->op_type ? c->nd->op_type : "?", c->opset, msg);
}

/* ---------------------------------------------------------------- value table */

static uint64_t hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

value *sn_onnx_lookup(ctx *c, const char *name)
{
	if (!name) return NULL;
	for (size_t i = hash(name) & c->ht_mask;; i = (i + 1) & c->ht_mask) {
		int k = c->ht[i];
		if (!k) return NULL;
		if (!strcmp(c->v[k - 1].name, name)) return &c->v[k - 1];
	}
}

/* Defines a value; ONNX graphs are single-assignment, so a second definition is an error. */
value *sn_onnx_define(ctx *c, const char *name, vkind kind)
{
	if (!name || !*name) { sn_seterr(SN_EFORMAT, "an ONNX value has an empty name"); return NULL; }
	if (sn_onnx_lookup(c, name)) { sn_seterr(SN_EFORMAT, "ONNX value '%.80s' is defined twice", name); return NULL; }
	if (c->n_v == c->cap_v) { sn_seterr(SN_EFORMAT, "ONNX graph defines more values than it declares"); return NULL; }
	value *v = &c->v[c->n_v++];
	memset(v, 0, sizeof *v);
	v->name = name;
	v->kind = kind;
	v->node = -1;
	size_t i = hash(name) & c->ht_mask;
	while (c->ht[i]) i = (i + 1) & c->ht_mask;
	c->ht[i] = c->n_v;
	return v;
}

/* How often each name is read (node inputs and graph outputs), counted once up front so that
 * patterns can ask "is this my value's only use" in constant time. */
static int count_uses(ctx *c)
{
	const Onnx__GraphProto *gp = c->gp;
	size_t reads = gp->n_output;
	for (size_t i = 0; i < gp->n_node; i++) reads += gp->node[i] ? gp->node[i]->n_input : 0;
	if (reads > SN_ONNX_READS_MAX)
		return sn_seterr(SN_EFORMAT, "the ONNX graph reads %zu values (slimnn reads at most %d)", reads, SN_ONNX_READS_MAX);
	size_t cap = 16;
	while (cap < 2 * reads) cap *= 2;
	c->use_name = calloc(cap, sizeof *c->use_name);
	c->use_count = calloc(cap, sizeof *c->use_count);
	if (!c->use_name || !c->use_count) return sn_seterr(SN_ENOMEM, "out of memory");
	c->use_mask = cap - 1;
	for (size_t i = 0; i <= gp->n_node; i++) {
		size_t n = i < gp->n_node ? (gp->node[i] ? gp->node[i]->n_input : 0) : gp->n_output;
		for (size_t j = 0; j < n; j++) {
			const char *s = i < gp->n_node ? gp->node[i]->input[j] : gp->output[j] ? gp->output[j]->name : NULL;
			if (!s || !*s) continue;
			size_t k = hash(s) & c->use_mask;
			while (c->use_name[k] && strcmp(c->use_name[k], s)) k = (k + 1) & c->use_mask;
			c->use_name[k] = s;
			c->use_count[k]++;
		}
	}
	return SN_OK;
}

int sn_onnx_uses(const ctx *c, const char *name)
{
	if (!name || !c->use_name) return 0;
	for (size_t k = hash(name) & c->use_mask; c->use_name[k]; k = (k + 1) & c->use_mask)
		if (!strcmp(c->use_name[k], name)) return c->use_count[k];
	return 0;
}

/* ---------------------------------------------------------------- tensors */

int sn_onnx_numel(const Onnx__TensorProto *t, const char *what, size_t *n)
{
	if (t->n_dims > 8) return sn_seterr(SN_EFORMAT, "ONNX tensor '%.80s' has %zu dims (at most 8)", what, t->n_dims);
	size_t k = 1;
	for (size_t i = 0; i < t->n_dims; i++) {
		if (t->dims[i] < 0 || t->dims[i] > SN_DIM_MAX)
			return sn_seterr(SN_EFORMAT, "ONNX tensor '%.80s' has an invalid dimension %lld", what, (long long)t->dims[i]);
		k *= (size_t)t->dims[i];
		if (k > SN_VALUES_MAX)
			return sn_seterr(SN_EFORMAT, "ONNX tensor '%.80s' is too large (more than %zu values)", what, (size_t)SN_VALUES_MAX);
	}
	if (t->has_data_location && t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL)
		return sn_seterr(SN_EFORMAT, "ONNX tensor '%.80s' keeps its data in an external file, which slimnn does not read; "
		                 "export with the weights inside the model", what);
	*n = k;
	return SN_OK;
}

/* float32 values of a constant (raw_data or float_data); caller frees */
int sn_onnx_get_floats(const Onnx__TensorProto *t, const char *what, float **out, size_t *n_out)
{
	size_t n;
	int rc = sn_onnx_numel(t, what, &n);
	if (rc) return rc;
	if (!t->has_data_type || t->data_type != SN_ONNX_FLOAT)
		return sn_seterr(SN_EFORMAT, "ONNX tensor '%.80s' has data type %d; slimnn imports float32 (1) weights only",
		                 what, t->has_data_type ? t->data_type : 0);
	float *p = malloc((n ? n : 1) * sizeof *p);
	if (!p) return sn_seterr(SN_ENOMEM, "out of memory for ONNX tensor '%.80s'", what);
	if (t->has_raw_data && t->raw_data.len) {
		if (t->raw_data.len != n * 4) {
			free(p);
			return sn_seterr(SN_EFORMAT, "ONNX tensor '%.80s' has %zu bytes of data for %zu float32 values", what,
			                 t->raw_data.len, n);
		}
		for (size_t i = 0; i < n; i++) p[i] = sn_get_f32(t->raw_data.data + 4 * i);
	} else if (t->n_float_data == n) {
		if (n) memcpy(p, t->float_data, n * sizeof *p);   /* an empty tensor may have no array */
	} else {
		free(p);
		return sn_seterr(SN_EFORMAT, "ONNX tensor '%.80s' has %zu values for its %zu-value shape", what, t->n_float_data, n);
	}
	*out = p; *n_out = n;
	return SN_OK;
}

/* A small integer constant (int64 or int32) into v->ints. */
int sn_onnx_get_ints(const Onnx__TensorProto *t, const char *what, value *v)
{
	size_t n;
	int rc = sn_onnx_numel(t, what, &n);
	if (rc) return rc;
	if (n > INTS_MAX || t->n_dims > 1)
		return sn_seterr(SN_EFORMAT, "ONNX integer tensor '%.80s' should be a scalar or a short vector", what);
	int type = t->has_data_type ? t->data_type : 0, w = type == SN_ONNX_INT64 ? 8 : 4;
	if (type != SN_ONNX_INT64 && type != SN_ONNX_INT32)
		return sn_seterr(SN_EFORMAT, "ONNX tensor '%.80s' should hold integers but has data type %d", what, type);
	const int is_raw = t->has_raw_data && t->raw_data.len;
	size_t have = is_raw ? t->raw_data.len / w : type == SN_ONNX_INT64 ? t->n_int64_data : t->n_int32_data;
	if (have != n || (is_raw && t->raw_data.len % w))
		return sn_seterr(SN_EFORMAT, "ONNX tensor '%.80s' has the wrong amount of data for its shape", what);
	for (size_t i = 0; i < n; i++) {
		if (is_raw) v->ints[i] = w == 8 ? (int64_t)sn_get_u64(t->raw_data.data + 8 * i)
		                                : (int32_t)sn_get_u32(t->raw_data.data + 4 * i);
		else v->ints[i] = type == SN_ONNX_INT64 ? t->int64_data[i] : t->int32_data[i];
	}
	v->kind = V_INTS;
	v->n_ints = (int)n;
	v->scalar = t->n_dims == 0;
	v->cols = 0;
	return SN_OK;
}

/* ---------------------------------------------------------------- node inputs */

const char *sn_onnx_in_name(ctx *c, size_t i)
{
	return i < c->nd->n_input && c->nd->input[i] && *c->nd->input[i] ? c->nd->input[i] : NULL;
}

int sn_onnx_input(ctx *c, size_t i, value **v)
{
	const char *name = sn_onnx_in_name(c, i);
	if (!name) return node_err(c, SN_EFORMAT, "input %zu is missing", i);
	if (!(*v = sn_onnx_lookup(c, name))) return node_err(c, SN_EFORMAT, "input '%.80s' is not defined before it is used", name);
	if ((*v)->kind == V_UNUSABLE) return node_err(c, SN_EFORMAT, "input '%.80s' is %s, which slimnn does not support", name, (*v)->why);
	return SN_OK;
}

int sn_onnx_spatial_dim(ctx *c, const value *v, int axis)
{
	sn_shape s = c->g->node[v->node].out;
	int d = axis == 2 ? s.h : s.w;
	if (v->kind == V_DEFER) d += axis == 2 ? v->pad.pt + v->pad.pb : v->pad.pl + v->pad.pr;
	return d;
}

int sn_onnx_data_input(ctx *c, size_t i, int *node)
{
	value *v;
	int rc = sn_onnx_input(c, i, &v);
	if (!rc && v->kind == V_SSLICE && v->start == 0 && v->end == sn_onnx_spatial_dim(c, &c->v[v->of], v->axis))
		v = &c->v[v->of];   /* a whole row/column range is its source */
	if (rc || (v->kind == V_DEFER && (rc = sn_onnx_materialize(c, v)))) return rc;   /* deferred: a node now */
	switch (v->kind) {
	case V_NODE: *node = v->node; sn_onnx_qdq_read(c, v); return SN_OK;
	case V_QUANT:
		return node_err(c, SN_EFORMAT, "input '%.80s' is the int8 output of a QuantizeLinear; slimnn reads it only through "
		                "a DequantizeLinear (the QDQ form)", v->name);
	case V_SHUF1: case V_SHUF2:
		return node_err(c, SN_EFORMAT, "input '%.80s' is a 5-D tensor; slimnn supports Reshape/Transpose to 5-D only "
		                "as a channel shuffle (Reshape [N, g, C/g, H, W], Transpose [0, 2, 1, 3, 4], Reshape [N, C, H, W])", v->name);
	case V_SSLICE:
		return node_err(c, SN_EFORMAT, "input '%.80s' slices rows or columns; slimnn supports that only in the "
		                "Slice/Concat chain of circular padding", v->name);
	case V_GELU:
		return node_err(c, SN_EFORMAT, "input '%.80s' is part of GELU as torch writes it, x * (1 + Erf(x / sqrt 2)) * 0.5; "
		                "slimnn reads that only whole", v->name);
	default: return node_err(c, SN_EFORMAT, "input '%.80s' is a constant, but slimnn needs a computed tensor here", v->name);
	}
}

int sn_onnx_const_input(ctx *c, size_t i, const char *what, float **data, size_t *n, const Onnx__TensorProto **tp)
{
	value *v;
	int rc = sn_onnx_input(c, i, &v);
	if (rc) return rc;
	if (v->kind == V_QCONST) {
		if (tp) *tp = v->t;
		return sn_onnx_qconst_floats(c, v, what, data, n);
	}
	if (v->kind != V_CONST) return node_err(c, SN_EFORMAT, "the %s ('%.80s') must be a constant (an initializer)", what, v->name);
	if (tp) *tp = v->t;
	rc = sn_onnx_get_floats(v->t, v->name, data, n);
	return rc ? node_err(c, rc, "%s", sn_errmsg()) : SN_OK;
}

int sn_onnx_ints_input(ctx *c, size_t i, value *out)
{
	value *v;
	int rc = sn_onnx_input(c, i, &v);
	if (rc) return rc;
	if (v->kind == V_INTS) { *out = *v; return SN_OK; }
	if (v->kind != V_CONST) return node_err(c, SN_EFORMAT, "input '%.80s' must be a constant integer vector", v->name);
	memset(out, 0, sizeof *out);
	rc = sn_onnx_get_ints(v->t, v->name, out);
	return rc ? node_err(c, rc, "%s", sn_errmsg()) : SN_OK;
}

int sn_onnx_need_inputs(ctx *c, size_t lo, size_t hi)
{
	if (c->nd->n_input < lo || c->nd->n_input > hi)
		return node_err(c, SN_EFORMAT, "expected %zu..%zu inputs, got %zu", lo, hi, c->nd->n_input);
	return SN_OK;
}

/* ---------------------------------------------------------------- attributes */

const Onnx__AttributeProto *sn_onnx_attr(ctx *c, const char *name)
{
	for (size_t i = 0; i < c->nd->n_attribute; i++) {
		const Onnx__AttributeProto *a = c->nd->attribute[i];
		if (a && a->name && !strcmp(a->name, name)) return a;
	}
	return NULL;
}

int sn_onnx_attr_int(ctx *c, const char *name, int64_t def, int64_t lo, int64_t hi, int64_t *out)
{
	const Onnx__AttributeProto *a = sn_onnx_attr(c, name);
	*out = def;
	if (!a) return SN_OK;
	if (!a->has_i || (a->has_type && a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT))
		return node_err(c, SN_EFORMAT, "attribute '%s' must be an integer", name);
	if (a->i < lo || a->i > hi)
		return node_err(c, SN_EFORMAT, "attribute %s=%lld is out of range [%lld, %lld]", name, (long long)a->i,
		                (long long)lo, (long long)hi);
	*out = a->i;
	return SN_OK;
}

int sn_onnx_attr_float(ctx *c, const char *name, float def, float *out)
{
	const Onnx__AttributeProto *a = sn_onnx_attr(c, name);
	*out = def;
	if (!a) return SN_OK;
	if (!a->has_f || (a->has_type && a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT) || !isfinite(a->f))
		return node_err(c, SN_EFORMAT, "attribute '%s' must be a finite float", name);
	*out = a->f;
	return SN_OK;
}

/* Up to INTS_MAX integers, as they are (absent: *found = 0). */
int sn_onnx_attr_ints_any(ctx *c, const char *name, value *out, int *found)
{
	const Onnx__AttributeProto *a = sn_onnx_attr(c, name);
	memset(out, 0, sizeof *out);
	out->kind = V_INTS;
	*found = 0;
	if (!a) return SN_OK;
	if (a->has_type && a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS)
		return node_err(c, SN_EFORMAT, "attribute '%s' must be a list of integers", name);
	if (a->n_ints > INTS_MAX) return node_err(c, SN_EFORMAT, "attribute '%s' has %zu values (at most %d)", name, a->n_ints, INTS_MAX);
	for (size_t i = 0; i < a->n_ints; i++) out->ints[i] = a->ints[i];
	out->n_ints = (int)a->n_ints;
	*found = 1;
	return SN_OK;
}

/* Exactly `want` integers in [lo, hi] (absent: *found = 0 and out untouched). */
int sn_onnx_attr_ints(ctx *c, const char *name, size_t want, int64_t lo, int64_t hi, int *out, int *found)
{
	value v;
	int rc = sn_onnx_attr_ints_any(c, name, &v, found);
	if (rc || !*found) return rc;
	if ((size_t)v.n_ints != want)
		return node_err(c, SN_EFORMAT, "attribute '%s' has %d values, expected %zu (slimnn handles 2-D images [N, C, H, W])",
		                name, v.n_ints, want);
	for (size_t i = 0; i < want; i++) {
		if (v.ints[i] < lo || v.ints[i] > hi)
			return node_err(c, SN_EFORMAT, "attribute %s has the value %lld, out of range [%lld, %lld]", name,
			                (long long)v.ints[i], (long long)lo, (long long)hi);
		out[i] = (int)v.ints[i];
	}
	return SN_OK;
}

const char *sn_onnx_attr_str(ctx *c, const char *name, const char *def, char *buf, size_t len)
{
	const Onnx__AttributeProto *a = sn_onnx_attr(c, name);
	if (!a || !a->has_s) return def;
	size_t n = a->s.len < len - 1 ? a->s.len : len - 1;
	memcpy(buf, a->s.data, n);
	buf[n] = 0;
	return buf;
}

void sn_onnx_slice_range(int64_t dim, int64_t step, int64_t *start, int64_t *end)
{
	int64_t s = *start, e = *end;
	if (s < 0) s = SN_MAX(s, -dim) + dim;
	if (e < 0) e = SN_MAX(e, -dim - 1) + dim;   /* INT64_MIN-ish ends mean "before the first" */
	if (step > 0) {
		s = SN_MIN(s, dim);
		e = SN_MAX(SN_MIN(e, dim), 0);
	} else {
		s = SN_MAX(SN_MIN(s, dim - 1), -1);
		e = SN_MAX(SN_MIN(e, dim - 1), -1);
	}
	*start = s;
	*end = e;
}

/* ---------------------------------------------------------------- node names */

static int valid_name_char(int ch) { return isalnum(ch) || ch == '_' || ch == '.' || ch == '-'; }

/* Copies src into dst as an architecture-file name ([A-Za-z_][A-Za-z0-9_.-]*, < SN_NAME_MAX). */
static void sanitize(char *dst, const char *src, size_t srclen)
{
	size_t k = 0;
	while (srclen && !(isalpha((unsigned char)*src) || *src == '_')) { src++; srclen--; }
	for (size_t i = 0; i < srclen && k < SN_NAME_MAX - 8; i++)   /* room for a "_NNNNNN" suffix */
		dst[k++] = valid_name_char((unsigned char)src[i]) ? src[i] : '_';
	dst[k] = 0;
}

/* The name of a new node: the PyTorch module ("conv1" from the initializer "conv1.weight", or
 * from torch's scope "/features/features.0/Conv"), else the ONNX node name, else "<op>_<k>";
 * made unique with a _2, _3... suffix. */
static void node_name(ctx *c, const char *weight, char *out)
{
	char base[SN_NAME_MAX] = "";
	const char *nm = c->nd->name ? c->nd->name : "";
	size_t wl = weight ? strlen(weight) : 0;
	if (wl > 7 && !strcmp(weight + wl - 7, ".weight")) sanitize(base, weight, wl - 7);
	if (!base[0] && nm[0] == '/') {
		const char *last = strrchr(nm, '/'), *prev = last;
		while (prev > nm && prev[-1] != '/') prev--;
		if (prev > nm) sanitize(base, prev, (size_t)(last - prev));
	}
	if (!base[0]) sanitize(base, nm, strlen(nm));
	if (!base[0]) {
		char tmp[SN_NAME_MAX];
		snprintf(tmp, sizeof tmp, "%.30s_%d", c->nd->op_type ? c->nd->op_type : "node", c->nd_idx);
		sanitize(base, tmp, strlen(tmp));
		if (!base[0]) snprintf(base, sizeof base, "node_%d", c->nd_idx);
	}
	snprintf(out, SN_NAME_MAX, "%s", base);
	/* a clash: first "<base>_<ONNX node index>" (unique unless a real name looks like it), then a
	 * counter; this keeps a hostile file of thousands of same-named nodes from going quadratic */
	if (sn_graph_find(c->g, out) >= 0) snprintf(out, SN_NAME_MAX, "%.50s_%d", base, c->nd_idx);
	for (int k = 2; sn_graph_find(c->g, out) >= 0 && k < (1 << 30); k++) snprintf(out, SN_NAME_MAX, "%.38s_%d_%d", base, c->nd_idx, k);
}

/* ---------------------------------------------------------------- building the graph */

int sn_onnx_add_layer(ctx *c, sn_node *n, const char *weight)
{
	node_name(c, weight, n->name);
	int k = sn_graph_add(c->g, n);
	if (k < 0) return node_err(c, k, "%s", sn_errmsg());
	sn_node *m = &c->g->node[k];
	const sn_op_def *d = sn_op_get(m->op);
	if (m->n_in < d->min_in || m->n_in > d->max_in)
		return node_err(c, SN_EFORMAT, "%s takes %d..%d inputs, got %d", d->torch, d->min_in, d->max_in, m->n_in);
	int rc = d->run(c->g, m, NULL, SN_ACT_SHAPE);
	if (rc) return node_err(c, rc, "%s", sn_errmsg());
	if ((rc = sn_onnx_qdq_layer(c, k))) return rc;
	if (m->out.c <= 0 || m->out.h <= 0 || m->out.w <= 0)
		return node_err(c, SN_ESHAPE, "the output would be empty; the input is too small for this layer");
	return k;
}

int sn_onnx_emit_output(ctx *c, sn_node *n, const char *weight, size_t out)
{
	if (c->nd->n_output <= out || !c->nd->output[out]) return node_err(c, SN_EFORMAT, "the node has no output %zu", out);
	int k = sn_onnx_add_layer(c, n, weight);
	if (k < 0) return k;
	value *v = sn_onnx_define(c, c->nd->output[out], V_NODE);
	if (!v) return node_err(c, SN_EFORMAT, "%s", sn_errmsg());
	v->node = k;
	return k;
}

int sn_onnx_alias(ctx *c, size_t out, const value *src)
{
	if (c->nd->n_output <= out) return node_err(c, SN_EFORMAT, "the node has no output %zu", out);
	value copy = *src;
	value *v = sn_onnx_define(c, c->nd->output[out], src->kind);
	if (!v) return node_err(c, SN_EFORMAT, "%s", sn_errmsg());
	const char *name = v->name;
	*v = copy;
	v->name = name;
	return SN_OK;
}

void sn_onnx_rename(ctx *c, int k)
{
	char name[SN_NAME_MAX];
	c->g->node[k].name[0] = 0;   /* its old name is free for the new one */
	node_name(c, NULL, name);
	memcpy(c->g->node[k].name, name, sizeof name);
}

/* The deferred layer is added now, named after the ONNX node that made it. */
int sn_onnx_materialize(ctx *c, value *v)
{
	const Onnx__NodeProto *nd = c->nd;
	const int idx = c->nd_idx;
	sn_node n = {.op = v->op, .n_in = 1, .in = {v->node}};
	if (v->op == SN_OP_PAD) n.a.pad = v->pad;
	else n.a.hsig = v->hsig;
	c->nd = c->gp->node[v->src];
	c->nd_idx = v->src;
	const int n_dq = c->n_dq_in, dq0 = c->dq_in[0];   /* the layer read what the deferred node read */
	c->n_dq_in = v->qdq;
	c->dq_in[0] = v->node;
	int k = sn_onnx_add_layer(c, &n, NULL);
	c->nd = nd;
	c->nd_idx = idx;
	c->n_dq_in = n_dq;
	c->dq_in[0] = dq0;
	if (k < 0) return k;
	v->kind = V_NODE;
	v->node = k;
	return SN_OK;
}

/* Queues data (owned, n values) for tensor `slot` of node k; the dims were checked by the caller. */
int sn_onnx_give(ctx *c, int k, int slot, float *data, size_t n)
{
	if (c->n_w == c->cap_w) {
		int cap = c->cap_w ? 2 * c->cap_w : 32;
		pending *p = realloc(c->w, cap * sizeof *p);
		if (!p) { free(data); return sn_seterr(SN_ENOMEM, "out of memory"); }
		c->w = p; c->cap_w = cap;
	}
	c->w[c->n_w++] = (pending){k, slot, data, n};
	return SN_OK;
}

/* Hands a layer's weight and (optional) bias to the graph; takes ownership of both arrays and
 * clears the caller's pointers, so its cleanup path frees nothing twice. */
int sn_onnx_give_weight_bias(ctx *c, int k, float **w, size_t nw, float **b, size_t nb)
{
	int rc = sn_onnx_give(c, k, SN_T_WEIGHT, *w, nw);
	*w = NULL;
	if (!rc && *b) rc = sn_onnx_give(c, k, SN_T_BIAS, *b, nb);
	else free(*b);
	*b = NULL;
	return rc;
}

/* The tensor slimnn made for node k, slot, must have the initializer's dims exactly. */
int sn_onnx_check_dims(ctx *c, int k, int slot, const Onnx__TensorProto *t, const char *what)
{
	const sn_tensor *s = &c->g->tensor[c->g->node[k].t[slot]];
	int same = (int)t->n_dims == s->ndim;
	for (int i = 0; same && i < s->ndim; i++) same = t->dims[i] == s->dims[i];
	if (same) return SN_OK;
	char a[96] = "", b[96] = "";
	for (size_t i = 0; i < t->n_dims && i < 8; i++)
		snprintf(a + strlen(a), sizeof a - strlen(a), "%s%lld", i ? ", " : "", (long long)t->dims[i]);
	for (int i = 0; i < s->ndim; i++) snprintf(b + strlen(b), sizeof b - strlen(b), "%s%d", i ? ", " : "", s->dims[i]);
	return node_err(c, SN_ESHAPE, "the %s has dims [%s] but this layer needs [%s]", what, a, b);
}

/* Identity, Dropout (inference), Cast of shape integers: the output is the input. */
static int op_alias(ctx *c)
{
	value *x;
	int rc;
	if ((rc = sn_onnx_input(c, 0, &x))) return rc;
	if (!strcmp(c->nd->op_type, "Cast") && x->kind != V_INTS && !sn_onnx_is_ints(x))
		return node_err(c, SN_EFORMAT, "Cast is supported only in shape arithmetic");
	return sn_onnx_alias(c, 0, x);
}

/* ---------------------------------------------------------------- the model */

/* Integer Add, Sub, Mul, Div are shape arithmetic; on tensors, Add and Mul are layers. */
static int arith(ctx *c, char op)
{
	value *a, *b;
	int rc;
	if ((rc = sn_onnx_need_inputs(c, 2, 2)) || (rc = sn_onnx_input(c, 0, &a)) || (rc = sn_onnx_input(c, 1, &b))) return rc;
	if (sn_onnx_is_ints(a) && sn_onnx_is_ints(b)) return sn_onnx_ints_arith(c, op);
	if (op == '+') return sn_onnx_op_add(c);
	if (op == '*') return sn_onnx_op_mul(c);
	if (op == '/' && (rc = sn_onnx_op_gelu_div(c))) return rc < 0 ? rc : SN_OK;
	return node_err(c, SN_EFORMAT, "%s is supported only in shape arithmetic (integers), not on tensors", c->nd->op_type);
}

typedef struct { const char *op; int (*fn)(ctx *); } handler;

static int op_conv(ctx *c) { return sn_onnx_op_conv(c); }
static int op_gemm(ctx *c) { return sn_onnx_op_linear(c, 0); }
static int op_matmul(ctx *c) { return sn_onnx_op_linear(c, 1); }
static int op_maxpool(ctx *c) { return sn_onnx_op_pool(c, SN_OP_MAXPOOL); }
static int op_avgpool(ctx *c) { return sn_onnx_op_pool(c, SN_OP_AVGPOOL); }
static int op_add(ctx *c) { return arith(c, '+'); }
static int op_sub(ctx *c) { return arith(c, '-'); }
static int op_mul(ctx *c) { return arith(c, '*'); }
static int op_div(ctx *c) { return arith(c, '/'); }

static const handler handlers[] = {
	{"Conv", op_conv}, {"Gemm", op_gemm}, {"MatMul", op_matmul}, {"BatchNormalization", sn_onnx_op_bn},
	{"Clip", sn_onnx_op_clip}, {"HardSigmoid", sn_onnx_op_hardsigmoid}, {"Softmax", sn_onnx_op_softmax}, {"Erf", sn_onnx_op_erf},
	{"MaxPool", op_maxpool}, {"AveragePool", op_avgpool},
	{"ReduceMean", sn_onnx_op_reduce_mean}, {"Flatten", sn_onnx_op_flatten}, {"Reshape", sn_onnx_op_reshape},
	{"Transpose", sn_onnx_op_transpose}, {"Add", op_add}, {"Sub", op_sub}, {"Mul", op_mul}, {"Div", op_div},
	{"Concat", sn_onnx_op_concat}, {"Split", sn_onnx_op_split}, {"Slice", sn_onnx_op_slice}, {"Pad", sn_onnx_op_pad},
	{"Identity", op_alias}, {"Dropout", op_alias}, {"Cast", op_alias},
	{"Shape", sn_onnx_op_shape}, {"Gather", sn_onnx_op_gather}, {"Unsqueeze", sn_onnx_op_unsqueeze},
	{"Constant", sn_onnx_op_constant}, {"ConstantOfShape", sn_onnx_op_constant_of_shape},
	{"QuantizeLinear", sn_onnx_op_quantize}, {"DequantizeLinear", sn_onnx_op_dequantize},
};

static int import_node(ctx *c)
{
	const Onnx__NodeProto *nd = c->nd;
	const char *op = nd->op_type ? nd->op_type : "";
	if (nd->domain && *nd->domain && strcmp(nd->domain, "ai.onnx"))
		return node_err(c, SN_EFORMAT, "operator domain '%.40s' is not supported (only the default ONNX domain)", nd->domain);
	if (nd->n_output < 1 || !nd->output[0] || !*nd->output[0]) return node_err(c, SN_EFORMAT, "the node has no output");
	c->outputs_done = 1;
	c->n_dq_in = 0;
	c->qw = NULL;
	for (size_t i = 0; i < sizeof handlers / sizeof *handlers; i++)
		if (!strcmp(op, handlers[i].op)) return handlers[i].fn(c);
	const size_t l = strlen(op);
	if (!strncmp(op, "QLinear", 7) || (l > 7 && !strcmp(op + l - 7, "Integer")))
		return node_err(c, SN_EFORMAT, "operator %.40s is the operator form of quantized ONNX, which slimnn does not read; "
		                "slimnn reads the QDQ form (QuantizeLinear/DequantizeLinear around float operators: onnxruntime's "
		                "quantize_static(..., quant_format=QuantFormat.QDQ)), or import the float model and run slimnn quantize", op);
	for (int i = 0; i < SN_OP_COUNT; i++)   /* Relu, Sigmoid, ...: the operators' rows name them */
		if (sn_op_get((sn_op)i)->onnx && !strcmp(op, sn_op_get((sn_op)i)->onnx)) return sn_onnx_op_simple(c, (sn_op)i, 1);
	return node_err(c, SN_EFORMAT, "operator %.40s is not supported by slimnn (see docs/onnx.md for the supported ones)", op);
}

static int import_opset(ctx *c, const Onnx__ModelProto *m)
{
	for (size_t i = 0; i < m->n_opset_import; i++) {
		const Onnx__OperatorSetIdProto *o = m->opset_import[i];
		if (!o || (o->domain && *o->domain && strcmp(o->domain, "ai.onnx"))) continue;
		if (!o->has_version || o->version < SN_ONNX_OPSET_MIN || o->version > SN_ONNX_OPSET_MAX)
			return sn_seterr(SN_EFORMAT, "ONNX opset %lld is not supported (slimnn reads opsets %d to %d); "
			                 "export with torch.onnx.export(..., opset_version=13)",
			                 (long long)(o->has_version ? o->version : 0), SN_ONNX_OPSET_MIN, SN_ONNX_OPSET_MAX);
		c->opset = (int)o->version;
		return SN_OK;
	}
	return sn_seterr(SN_EFORMAT, "the ONNX model does not say which opset it uses (no opset_import for the default domain)");
}

/* The one graph input that is not an initializer: float32 [N, C, H, W]. */
static int import_input(ctx *c)
{
	const Onnx__GraphProto *gp = c->gp;
	const Onnx__ValueInfoProto *in = NULL;
	for (size_t i = 0; i < gp->n_input; i++) {
		const Onnx__ValueInfoProto *vi = gp->input[i];
		if (!vi || !vi->name) return sn_seterr(SN_EFORMAT, "an ONNX graph input has no name");
		value *v = sn_onnx_lookup(c, vi->name);
		if (v && v->kind == V_CONST) continue;   /* initializers listed as inputs (older exporters) */
		if (in) return sn_seterr(SN_EFORMAT, "the ONNX model has several inputs ('%.60s', '%.60s'); slimnn models take one image batch",
		                         in->name, vi->name);
		in = vi;
	}
	if (!in) return sn_seterr(SN_EFORMAT, "the ONNX model has no input");
	const Onnx__TypeProto *tp = in->type;
	if (!tp || tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !tp->tensor_type)
		return sn_seterr(SN_EFORMAT, "ONNX input '%.60s' is not a tensor", in->name);
	const Onnx__TypeProto__Tensor *tt = tp->tensor_type;
	if (!tt->has_elem_type || tt->elem_type != SN_ONNX_FLOAT)
		return sn_seterr(SN_EFORMAT, "ONNX input '%.60s' is not float32", in->name);
	if (!tt->shape || tt->shape->n_dim != 4)
		return sn_seterr(SN_EFORMAT, "ONNX input '%.60s' must have the shape [N, C, H, W] (got rank %zu)", in->name,
		                 tt->shape ? tt->shape->n_dim : 0);
	int d[4];
	for (int i = 1; i < 4; i++) {   /* the batch (0): dynamic or any fixed size, slimnn sets it per call */
		const Onnx__TensorShapeProto__Dimension *dm = tt->shape->dim[i];
		int known = dm && dm->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
		if (!known || dm->dim_value < 1 || dm->dim_value > ATTR_MAX)
			return sn_seterr(SN_EFORMAT, "ONNX input '%.60s' needs fixed C, H and W dimensions in [1, %d] (dimension %d is not)",
			                 in->name, ATTR_MAX, i);
		d[i] = (int)dm->dim_value;
	}
	if ((long long)d[1] * d[2] * d[3] > SN_DIM_MAX)   /* as architecture files: a .slim must hold it */
		return sn_seterr(SN_EFORMAT, "ONNX input '%.60s' has more than %lld values per sample", in->name, (long long)SN_DIM_MAX);
	sn_node n = {.op = SN_OP_INPUT, .a.input = {d[1], d[2], d[3]}};
	sanitize(n.name, in->name, strlen(in->name));
	if (!n.name[0]) snprintf(n.name, sizeof n.name, "input");
	int k = sn_graph_add(c->g, &n);
	if (k < 0) return k;
	int rc = sn_op_input(c->g, &c->g->node[k], NULL, SN_ACT_SHAPE);
	if (rc) return rc;
	value *v = sn_onnx_define(c, in->name, V_NODE);
	if (!v) return SN_EFORMAT;
	v->node = k;
	return SN_OK;
}

/* "v" or "v0,v1,...": up to SN_NORM_MAX_C numbers; the count, or 0 when malformed. */
static int number_list(const char *s, float *out, int positive)
{
	int n = 0;
	for (const char *p = s;; n++) {
		char *end;
		double v = strtod(p, &end);
		if (end == p || !isfinite(v) || (positive && !(v > 0)) || n >= SN_NORM_MAX_C) return 0;
		out[n] = (float)v;
		if (!*end) return n + 1;
		if (*end != ',') return 0;
		p = end + 1;
	}
}

/* Class names, one per line, into the meta's NUL-separated list (printable ones only). */
static void import_classes(const char *s, sn_meta *meta)
{
	size_t at = 0;
	int k = 0;
	for (const char *p = s; *p;) {
		const char *e = strchr(p, '\n');
		size_t l = e ? (size_t)(e - p) : strlen(p);
		for (size_t i = 0; i < l; i++) if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f) return;
		if (at + l + 1 > sizeof meta->names) return;
		memcpy(meta->names + at, p, l);
		meta->names[at + l] = 0;
		at += l + 1;
		k++;
		if (!e) break;
		p = e + 1;
	}
	meta->classes = k;
}

static void import_meta(const Onnx__ModelProto *m, sn_meta *meta)
{
	memset(meta, 0, sizeof *meta);
	meta->test_accuracy = meta->test_loss = -1;
	float mean[SN_NORM_MAX_C] = {0}, std[SN_NORM_MAX_C] = {0};
	int mc = 0, sc = 0;
	for (size_t i = 0; i < m->n_metadata_props; i++) {
		const Onnx__StringStringEntryProto *e = m->metadata_props[i];
		if (!e || !e->key || !e->value) continue;
		char *end;
		double v = strtod(e->value, &end);
		int num = end != e->value && !*end && isfinite(v);
		if (!strcmp(e->key, SN_ONNX_META_DATASET)) snprintf(meta->dataset, sizeof meta->dataset, "%s", e->value);
		else if (!strcmp(e->key, SN_ONNX_META_MEAN)) mc = number_list(e->value, mean, 0);
		else if (!strcmp(e->key, SN_ONNX_META_STD)) sc = number_list(e->value, std, 1);
		else if (!strcmp(e->key, SN_ONNX_META_ACC) && num) meta->test_accuracy = v;
		else if (!strcmp(e->key, SN_ONNX_META_RESIZE) && num && v >= 1 && v <= 65536) meta->resize = (int)v;
		else if (!strcmp(e->key, SN_ONNX_META_CLASSES)) import_classes(e->value, meta);
	}
	if (mc > 0 && mc == sc) {   /* both lists, of one length, or neither */
		meta->norm.c = mc;
		memcpy(meta->norm.mean, mean, sizeof mean);
		memcpy(meta->norm.std, std, sizeof std);
	}
}

/* The graph's output: computed by the last layer (a deferred one is added now). */
static int import_output(ctx *c)
{
	const Onnx__GraphProto *gp = c->gp;
	if (gp->n_output != 1 || !gp->output[0] || !gp->output[0]->name)
		return sn_seterr(SN_EFORMAT, "the ONNX model has %zu outputs; slimnn models have exactly one", gp->n_output);
	value *out = sn_onnx_lookup(c, gp->output[0]->name);
	if (out && out->kind == V_DEFER) {
		c->nd = gp->node[out->src];   /* errors name the node that made it */
		c->nd_idx = out->src;
		int rc = sn_onnx_materialize(c, out);
		if (rc) return rc;
	}
	if (!out || out->kind != V_NODE || out->node == 0)
		return sn_seterr(SN_EFORMAT, "the ONNX output '%.60s' is not computed by a supported layer", gp->output[0]->name);
	if (out->node != c->g->n_node - 1)
		return sn_seterr(SN_EFORMAT, "the ONNX output '%.60s' is not the last layer; layers after it compute nothing "
		                 "the model returns, which slimnn does not support", gp->output[0]->name);
	return SN_OK;
}

static int import_graph(ctx *c, const Onnx__ModelProto *m)
{
	const Onnx__GraphProto *gp = c->gp = m->graph;
	if (!gp) return sn_seterr(SN_EFORMAT, "the ONNX model has no graph");
	int rc = import_opset(c, m);
	if (rc) return rc;
	/* every value is an initializer, a graph input or some node's output */
	size_t total = gp->n_initializer + gp->n_input + 1;
	for (size_t i = 0; i < gp->n_node; i++) total += gp->node[i] ? gp->node[i]->n_output : 0;
	if (gp->n_node > SN_ONNX_NODES_MAX || total > 4 * SN_ONNX_NODES_MAX)
		return sn_seterr(SN_EFORMAT, "the ONNX graph is too large (%zu nodes, %zu values; slimnn reads at most %d nodes)",
		                 gp->n_node, total, SN_ONNX_NODES_MAX);
	for (size_t i = 0; i < gp->n_node; i++)
		if (!gp->node[i]) return sn_seterr(SN_EFORMAT, "ONNX node %zu is empty", i);
	size_t cap = 16;
	while (cap < 2 * total) cap *= 2;
	c->cap_v = (int)total;
	if (!(c->v = calloc(total, sizeof *c->v)) || !(c->ht = calloc(cap, sizeof *c->ht)))
		return sn_seterr(SN_ENOMEM, "out of memory");
	c->ht_mask = cap - 1;
	if ((rc = count_uses(c))) return rc;
	for (size_t i = 0; i < gp->n_initializer; i++) {
		const Onnx__TensorProto *t = gp->initializer[i];
		if (!t || !t->name) return sn_seterr(SN_EFORMAT, "an ONNX initializer has no name");
		value *v = sn_onnx_define(c, t->name, V_CONST);
		if (!v) return SN_EFORMAT;
		v->t = t;
	}
	if ((rc = import_input(c))) return rc;
	for (size_t i = 0; i < gp->n_node; i++) {
		c->nd = gp->node[i];
		c->nd_idx = (int)i;
		if ((rc = import_node(c))) return rc;
		/* further outputs (BatchNormalization's statistics, Dropout's mask) must stay unused */
		for (size_t k = (size_t)c->outputs_done; k < c->nd->n_output; k++) {
			if (!c->nd->output[k] || !*c->nd->output[k]) continue;
			value *v = sn_onnx_define(c, c->nd->output[k], V_UNUSABLE);
			if (!v) return node_err(c, SN_EFORMAT, "%s", sn_errmsg());
			v->why = "an extra output of an operator";
		}
	}
	if ((rc = import_output(c)) || (rc = sn_graph_infer(c->g))) return rc;
	for (int i = 0; i < c->n_w; i++) {
		const pending *p = &c->w[i];
		sn_tensor *t = &c->g->tensor[c->g->node[p->node].t[p->slot]];
		if (t->n != p->n)
			return sn_seterr(SN_ESHAPE, "ONNX import: tensor '%s' has %zu values but the layer needs %zu", t->name, p->n, t->n);
		memcpy(t->data, p->data, p->n * sizeof *p->data);
	}
	return sn_onnx_qdq_finish(c);
}

sn_graph *sn_onnx_read(const void *data, size_t len, sn_meta *meta)
{
	if (!data && len) { sn_seterr(SN_EINVAL, "sn_onnx_read: no data"); return NULL; }
	Onnx__ModelProto *m = onnx__model_proto__unpack(NULL, len, data);
	if (!m) {
		sn_seterr(SN_EFORMAT, "not a valid ONNX model: the protobuf data is truncated or corrupt");
		return NULL;
	}
	ctx c = {.g = sn_graph_new()};
	int rc = c.g ? import_graph(&c, m) : sn_seterr(SN_ENOMEM, "out of memory");
	if (!rc && meta) import_meta(m, meta);
	for (int i = 0; i < c.n_w; i++) free(c.w[i].data);
	free(c.w); free(c.v); free(c.ht); free(c.use_name); free(c.use_count);
	sn_onnx_qdq_free(&c);
	onnx__model_proto__free_unpacked(m, NULL);
	if (rc) { sn_graph_free(c.g); return NULL; }
	c.g->shapes_locked = 1;   /* trained weights: never silently reshaped by another input shape */
	return c.g;
}

sn_graph *sn_onnx_load(const char *path, sn_meta *meta)
{
	unsigned char *p;
	size_t len;
	if (sn_read_file(path, SN_ONNX_MAX_BYTES, &p, &len)) return NULL;
	sn_graph *g = sn_onnx_read(p, len, meta);
	free(p);
	if (!g) {
		char msg[1024];
		snprintf(msg, sizeof msg, "%s", sn_errmsg());
		sn_seterr(SN_EFORMAT, "%s: %s", path, msg);
	}
	return g;
}
