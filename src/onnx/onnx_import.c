/* ONNX -> slimnn graph.
 *
 * The ONNX graph is a list of nodes over named values, in topological order. Each value gets one
 * entry in a table (hashed by name) that says what it is: the output of a slimnn node, a
 * constant (initializer or Constant node), a small integer vector computed at import time (the
 * Shape -> Gather -> Unsqueeze -> Concat chain torch writes for x.view(x.size(0), -1)), or a
 * half-finished pattern waiting for its consumer (HardSigmoid for x * HardSigmoid(x), Pad before
 * a Conv). Each slimnn node's shape is inferred as soon as it is added, so later nodes (Shape,
 * Reshape) and the checks of initializer dims can use it; the weights are copied in at the end,
 * after sn_graph_infer has laid the tensors out.
 *
 * The file is untrusted: protobuf-c bounds every length by the buffer, and every count, index,
 * type, dim and attribute is checked here before use. Errors name the node, its operator and
 * the opset. */
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include "onnx/onnx_internal.h"
#include "io/io_internal.h"

#define SYM_BATCH INT64_MIN          /* "the batch size" in an integer vector */
#define INTS_MAX 16                  /* integer vectors (shapes, axes) longer than this are refused */
#define ATTR_MAX (1 << 20)           /* kernel sizes, strides, pads, dilations, groups */
#define SN_ONNX_NODES_MAX (1 << 15)  /* ONNX nodes in a graph (torchvision models have < 1000) */

typedef enum { V_NODE, V_CONST, V_INTS, V_HSIG, V_PAD, V_UNUSABLE } vkind;

typedef struct {
	const char *name;
	vkind kind;
	int node;                          /* V_NODE; V_HSIG, V_PAD: the node they apply to */
	const Onnx__TensorProto *t;        /* V_CONST */
	int n_ints, scalar;                /* V_INTS */
	int64_t ints[INTS_MAX];
	int pads[4];                       /* V_PAD: top, left, bottom, right */
	sn_padmode mode;
	const char *why;                   /* V_UNUSABLE: what it is */
} value;

typedef struct { int node, slot; float *data; size_t n; } pending;

typedef struct {
	sn_graph *g;
	const Onnx__GraphProto *gp;
	int opset;
	value *v; int n_v, cap_v;
	int *ht; size_t ht_mask;           /* open addressing: value index + 1, 0 empty */
	pending *w; int n_w, cap_w;
	const Onnx__NodeProto *nd;         /* the node being imported */
	int nd_idx;
} ctx;

/* ---------------------------------------------------------------- errors */

static int node_err(ctx *c, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int node_err(ctx *c, int status, const char *fmt, ...)
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

static value *lookup(ctx *c, const char *name)
{
	if (!name) return NULL;
	for (size_t i = hash(name) & c->ht_mask;; i = (i + 1) & c->ht_mask) {
		int k = c->ht[i];
		if (!k) return NULL;
		if (!strcmp(c->v[k - 1].name, name)) return &c->v[k - 1];
	}
}

/* Defines a value; ONNX graphs are single-assignment, so a second definition is an error. */
static value *define(ctx *c, const char *name, vkind kind)
{
	if (!name || !*name) { sn_seterr(SN_EFORMAT, "an ONNX value has an empty name"); return NULL; }
	if (lookup(c, name)) { sn_seterr(SN_EFORMAT, "ONNX value '%.80s' is defined twice", name); return NULL; }
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

/* ---------------------------------------------------------------- tensors */

static int numel_of(const Onnx__TensorProto *t, const char *what, size_t *n)
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
static int get_floats(const Onnx__TensorProto *t, const char *what, float **out, size_t *n_out)
{
	size_t n;
	int rc = numel_of(t, what, &n);
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
		memcpy(p, t->float_data, n * sizeof *p);
	} else {
		free(p);
		return sn_seterr(SN_EFORMAT, "ONNX tensor '%.80s' has %zu values for its %zu-value shape", what, t->n_float_data, n);
	}
	*out = p; *n_out = n;
	return SN_OK;
}

/* A small integer constant (int64 or int32) into v->ints. */
static int get_ints(const Onnx__TensorProto *t, const char *what, value *v)
{
	size_t n;
	int rc = numel_of(t, what, &n);
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
	v->n_ints = (int)n;
	v->scalar = t->n_dims == 0;
	return SN_OK;
}

/* ---------------------------------------------------------------- node inputs and attributes */

static const char *in_name(ctx *c, size_t i)
{
	return i < c->nd->n_input && c->nd->input[i] && *c->nd->input[i] ? c->nd->input[i] : NULL;
}

/* Input i, which must exist; *v gets its entry. */
static int input(ctx *c, size_t i, value **v)
{
	const char *name = in_name(c, i);
	if (!name) return node_err(c, SN_EFORMAT, "input %zu is missing", i);
	if (!(*v = lookup(c, name))) return node_err(c, SN_EFORMAT, "input '%.80s' is not defined before it is used", name);
	if ((*v)->kind == V_UNUSABLE) return node_err(c, SN_EFORMAT, "input '%.80s' is %s, which slimnn does not support", name, (*v)->why);
	return SN_OK;
}

/* Input i as the output of a slimnn node. */
static int data_input(ctx *c, size_t i, int *node)
{
	value *v;
	int rc = input(c, i, &v);
	if (rc) return rc;
	switch (v->kind) {
	case V_NODE: *node = v->node; return SN_OK;
	case V_HSIG: return node_err(c, SN_EFORMAT, "HardSigmoid is supported only in x * HardSigmoid(x) (Hardswish)");
	case V_PAD: return node_err(c, SN_EFORMAT, "Pad is supported only right before a Conv");
	default: return node_err(c, SN_EFORMAT, "input '%.80s' is a constant, but slimnn needs a computed tensor here", v->name);
	}
}

/* Input i as a float constant; caller frees *data. */
static int const_input(ctx *c, size_t i, const char *what, float **data, size_t *n, const Onnx__TensorProto **tp)
{
	value *v;
	int rc = input(c, i, &v);
	if (rc) return rc;
	if (v->kind != V_CONST) return node_err(c, SN_EFORMAT, "the %s ('%.80s') must be a constant (an initializer)", what, v->name);
	if (tp) *tp = v->t;
	rc = get_floats(v->t, v->name, data, n);
	return rc ? node_err(c, rc, "%s", sn_errmsg()) : SN_OK;
}

/* Input i as integers (a constant or a vector computed at import); *out is a copy. */
static int ints_input(ctx *c, size_t i, value *out)
{
	value *v;
	int rc = input(c, i, &v);
	if (rc) return rc;
	if (v->kind == V_INTS) { *out = *v; return SN_OK; }
	if (v->kind != V_CONST) return node_err(c, SN_EFORMAT, "input '%.80s' must be a constant integer vector", v->name);
	memset(out, 0, sizeof *out);
	rc = get_ints(v->t, v->name, out);
	return rc ? node_err(c, rc, "%s", sn_errmsg()) : SN_OK;
}

static const Onnx__AttributeProto *attr(ctx *c, const char *name)
{
	for (size_t i = 0; i < c->nd->n_attribute; i++) {
		const Onnx__AttributeProto *a = c->nd->attribute[i];
		if (a && a->name && !strcmp(a->name, name)) return a;
	}
	return NULL;
}

static int attr_int(ctx *c, const char *name, int64_t def, int64_t lo, int64_t hi, int64_t *out)
{
	const Onnx__AttributeProto *a = attr(c, name);
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

static int attr_float(ctx *c, const char *name, float def, float *out)
{
	const Onnx__AttributeProto *a = attr(c, name);
	*out = def;
	if (!a) return SN_OK;
	if (!a->has_f || (a->has_type && a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT) || !isfinite(a->f))
		return node_err(c, SN_EFORMAT, "attribute '%s' must be a finite float", name);
	*out = a->f;
	return SN_OK;
}

/* Exactly `want` integers in [lo, hi] (absent: *found = 0 and out untouched). */
static int attr_ints(ctx *c, const char *name, size_t want, int64_t lo, int64_t hi, int *out, int *found)
{
	const Onnx__AttributeProto *a = attr(c, name);
	*found = 0;
	if (!a) return SN_OK;
	if (a->has_type && a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS)
		return node_err(c, SN_EFORMAT, "attribute '%s' must be a list of integers", name);
	if (a->n_ints != want)
		return node_err(c, SN_EFORMAT, "attribute '%s' has %zu values, expected %zu (slimnn handles 2-D images [N, C, H, W])",
		                name, a->n_ints, want);
	for (size_t i = 0; i < want; i++) {
		if (a->ints[i] < lo || a->ints[i] > hi)
			return node_err(c, SN_EFORMAT, "attribute %s has the value %lld, out of range [%lld, %lld]", name,
			                (long long)a->ints[i], (long long)lo, (long long)hi);
		out[i] = (int)a->ints[i];
	}
	*found = 1;
	return SN_OK;
}

static const char *attr_str(ctx *c, const char *name, const char *def, char *buf, size_t len)
{
	const Onnx__AttributeProto *a = attr(c, name);
	if (!a || !a->has_s) return def;
	size_t n = a->s.len < len - 1 ? a->s.len : len - 1;
	memcpy(buf, a->s.data, n);
	buf[n] = 0;
	return buf;
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

/* Appends node n (inputs set), infers its shape at once and defines the node's first output. */
static int emit(ctx *c, sn_node *n, const char *weight)
{
	node_name(c, weight, n->name);
	int k = sn_graph_add(c->g, n);
	if (k < 0) return node_err(c, k, "%s", sn_errmsg());
	sn_node *m = &c->g->node[k];
	const sn_op_def *d = sn_op_get(m->op);
	if (m->n_in < d->min_in || m->n_in > d->max_in)
		return node_err(c, SN_EFORMAT, "%s takes %d..%d inputs, got %d", d->torch, d->min_in, d->max_in, m->n_in);
	int rc = d->run(c->g, m, SN_ACT_SHAPE);
	if (rc) return node_err(c, rc, "%s", sn_errmsg());
	if (m->out.c <= 0 || m->out.h <= 0 || m->out.w <= 0)
		return node_err(c, SN_ESHAPE, "the output would be empty; the input is too small for this layer");
	if (c->nd->n_output < 1) return node_err(c, SN_EFORMAT, "the node has no output");
	value *v = define(c, c->nd->output[0], V_NODE);
	if (!v) return node_err(c, SN_EFORMAT, "%s", sn_errmsg());
	v->node = k;
	return k;
}

/* Queues data (owned, n values) for tensor `slot` of node k; the dims were checked by the caller. */
static int give(ctx *c, int k, int slot, float *data, size_t n)
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
static int give_weight_bias(ctx *c, int k, float **w, size_t nw, float **b, size_t nb)
{
	int rc = give(c, k, SN_T_WEIGHT, *w, nw);
	*w = NULL;
	if (!rc && *b) rc = give(c, k, SN_T_BIAS, *b, nb);
	else free(*b);
	*b = NULL;
	return rc;
}

/* The tensor slimnn made for node k, slot, must have the initializer's dims exactly. */
static int check_dims(ctx *c, int k, int slot, const Onnx__TensorProto *t, const char *what)
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

static int need_opset_inputs(ctx *c, size_t lo, size_t hi)
{
	if (c->nd->n_input < lo || c->nd->n_input > hi)
		return node_err(c, SN_EFORMAT, "expected %zu..%zu inputs, got %zu", lo, hi, c->nd->n_input);
	return SN_OK;
}

/* auto_pad SAME_UPPER / SAME_LOWER / VALID / NOTSET -> explicit pads (t, l, b, r). */
static int auto_pad(ctx *c, sn_shape in, int kh, int kw, int sh, int sw, int dh, int dw, int pads[4])
{
	char buf[32];
	const char *ap = attr_str(c, "auto_pad", "NOTSET", buf, sizeof buf);
	if (!strcmp(ap, "NOTSET")) return SN_OK;
	if (!strcmp(ap, "VALID")) { memset(pads, 0, 4 * sizeof *pads); return SN_OK; }
	int lower = !strcmp(ap, "SAME_LOWER");
	if (!lower && strcmp(ap, "SAME_UPPER")) return node_err(c, SN_EFORMAT, "unknown auto_pad '%s'", ap);
	const int in_hw[2] = {in.h, in.w}, k[2] = {kh, kw}, s[2] = {sh, sw}, d[2] = {dh, dw};
	for (int i = 0; i < 2; i++) {
		long long out = (in_hw[i] + s[i] - 1) / s[i], ek = (long long)d[i] * (k[i] - 1) + 1;
		long long total = (out - 1) * s[i] + ek - in_hw[i];
		if (total < 0) total = 0;
		if (total > ATTR_MAX) return node_err(c, SN_EFORMAT, "auto_pad gives an absurd padding");
		int small = (int)(total / 2), big = (int)(total - small);
		pads[i] = lower ? big : small;
		pads[i + 2] = lower ? small : big;
	}
	return SN_OK;
}

static int op_conv(ctx *c)
{
	int x = 0, rc;
	value *xv;
	if ((rc = need_opset_inputs(c, 2, 3)) || (rc = input(c, 0, &xv))) return rc;
	value pad = {0};
	if (xv->kind == V_PAD) { pad = *xv; x = xv->node; }
	else if ((rc = data_input(c, 0, &x))) return rc;
	float *w = NULL, *b = NULL;
	size_t nw, nb = 0;
	const Onnx__TensorProto *wt, *bt = NULL;
	if ((rc = const_input(c, 1, "weight", &w, &nw, &wt))) return rc;
	if (wt->n_dims != 4) {
		free(w);
		return node_err(c, SN_EFORMAT, "the weight has rank %zu, expected 4 [out, in/groups, kh, kw]; "
		                "slimnn supports 2-D convolutions only", wt->n_dims);
	}
	if (in_name(c, 2) && (rc = const_input(c, 2, "bias", &b, &nb, &bt))) { free(w); return rc; }
	sn_node n = {.op = SN_OP_CONV, .n_in = 1, .in = {x}};
	sn_conv_attr *a = &n.a.conv;
	int64_t group;
	int k[2] = {(int)wt->dims[2], (int)wt->dims[3]}, s[2] = {1, 1}, d[2] = {1, 1}, p[4] = {0, 0, 0, 0}, f;
	if ((rc = attr_int(c, "group", 1, 1, ATTR_MAX, &group)) ||
	    (rc = attr_ints(c, "kernel_shape", 2, 1, ATTR_MAX, k, &f)) ||
	    (rc = attr_ints(c, "strides", 2, 1, ATTR_MAX, s, &f)) ||
	    (rc = attr_ints(c, "dilations", 2, 1, ATTR_MAX, d, &f)) ||
	    (rc = attr_ints(c, "pads", 4, 0, ATTR_MAX, p, &f)) ||
	    (rc = auto_pad(c, c->g->node[x].out, k[0], k[1], s[0], s[1], d[0], d[1], p))) goto out;
	if (k[0] != wt->dims[2] || k[1] != wt->dims[3]) {
		rc = node_err(c, SN_EFORMAT, "kernel_shape %dx%d disagrees with the weight's %lldx%lld", k[0], k[1],
		              (long long)wt->dims[2], (long long)wt->dims[3]);
		goto out;
	}
	if (wt->dims[0] < 1 || wt->dims[0] > SN_DIM_MAX) { rc = node_err(c, SN_EFORMAT, "the weight has no output channels"); goto out; }
	*a = (sn_conv_attr){.out_c = (int)wt->dims[0], .kh = k[0], .kw = k[1], .sh = s[0], .sw = s[1], .dh = d[0],
	                    .dw = d[1], .groups = (int)group, .bias = b != NULL,
	                    .pt = p[0], .pl = p[1], .pb = p[2], .pr = p[3], .mode = SN_PAD_ZEROS};
	if (pad.kind == V_PAD) {
		if (pad.mode != SN_PAD_ZEROS && (p[0] || p[1] || p[2] || p[3])) {
			rc = node_err(c, SN_EFORMAT, "a reflect/edge Pad before a Conv that pads again is not supported");
			goto out;
		}
		a->mode = pad.mode;
		a->pt += pad.pads[0]; a->pl += pad.pads[1]; a->pb += pad.pads[2]; a->pr += pad.pads[3];
	}
	int id = emit(c, &n, in_name(c, 1));
	if (id < 0) { rc = id; goto out; }
	if ((rc = check_dims(c, id, SN_T_WEIGHT, wt, "weight"))) goto out;
	if (b && (rc = check_dims(c, id, SN_T_BIAS, bt, "bias"))) goto out;
	rc = give_weight_bias(c, id, &w, nw, &b, nb);
out:
	free(w); free(b);
	return rc;
}

/* Gemm (transB=1 is torch's Linear; transB=0 is transposed here) and MatMul with a constant B. */
static int op_linear(ctx *c, int matmul)
{
	int x = 0, rc;
	if ((rc = need_opset_inputs(c, 2, matmul ? 2 : 3)) || (rc = data_input(c, 0, &x))) return rc;
	int64_t ta = 0, tb = 0;   /* MatMul: B is [in, out] like Gemm with transB=0 */
	float alpha = 1, beta = 1;
	if (!matmul && ((rc = attr_int(c, "transA", 0, 0, 1, &ta)) || (rc = attr_int(c, "transB", 0, 0, 1, &tb)) ||
	                (rc = attr_float(c, "alpha", 1, &alpha)) || (rc = attr_float(c, "beta", 1, &beta))))
		return rc;
	if (ta || alpha != 1 || beta != 1)
		return node_err(c, SN_EFORMAT, "only transA=0, alpha=1, beta=1 are supported (as torch's Linear writes it)");
	float *w = NULL, *b = NULL, *wt_data = NULL;
	size_t nw, nb = 0;
	const Onnx__TensorProto *wt, *bt = NULL;
	if ((rc = const_input(c, 1, "weight", &w, &nw, &wt))) return rc;
	if (wt->n_dims != 2) { free(w); return node_err(c, SN_EFORMAT, "the weight has rank %zu, expected 2", wt->n_dims); }
	if (in_name(c, 2) && (rc = const_input(c, 2, "bias", &b, &nb, &bt))) { free(w); return rc; }
	const int out_f = (int)wt->dims[tb ? 0 : 1], in_f = (int)wt->dims[tb ? 1 : 0];
	if (b && nb != (size_t)out_f) {
		rc = node_err(c, SN_ESHAPE, "the bias has %zu values for %d outputs (broadcast biases are not supported)", nb, out_f);
		goto out;
	}
	if (out_f < 1) { rc = node_err(c, SN_EFORMAT, "the weight has no outputs"); goto out; }
	sn_node n = {.op = SN_OP_LINEAR, .n_in = 1, .in = {x}, .a.linear = {out_f, b != NULL}};
	int id = emit(c, &n, in_name(c, 1));
	if (id < 0) { rc = id; goto out; }
	const sn_tensor *t = &c->g->tensor[c->g->node[id].t[SN_T_WEIGHT]];
	if (t->dims[0] != out_f || t->dims[1] != in_f) {
		rc = node_err(c, SN_ESHAPE, "the weight is for %d inputs but the layer gets %d", in_f, t->dims[1]);
		goto out;
	}
	if (!tb) {   /* [in, out] -> [out, in] */
		if (!(wt_data = malloc(nw * sizeof *wt_data))) { rc = sn_seterr(SN_ENOMEM, "out of memory"); goto out; }
		for (int i = 0; i < in_f; i++)
			for (int o = 0; o < out_f; o++) wt_data[(size_t)o * in_f + i] = w[(size_t)i * out_f + o];
		free(w); w = wt_data;
	}
	rc = give_weight_bias(c, id, &w, nw, &b, nb);
out:
	free(w); free(b);
	return rc;
}

static int op_bn(ctx *c)
{
	int x = 0, rc;
	if ((rc = need_opset_inputs(c, 5, 5)) || (rc = data_input(c, 0, &x))) return rc;
	int64_t training;
	float eps, mom;
	if ((rc = attr_int(c, "training_mode", 0, 0, 1, &training)) || (rc = attr_float(c, "epsilon", 1e-5f, &eps)) ||
	    (rc = attr_float(c, "momentum", 0.9f, &mom)))
		return rc;
	if (training) return node_err(c, SN_EFORMAT, "training_mode=1 is not supported; export the model in eval mode");
	if (!(eps > 0) || mom < 0 || mom > 1) return node_err(c, SN_EFORMAT, "epsilon must be positive and momentum in [0, 1]");
	/* ONNX: running = running * momentum + batch * (1 - momentum); torch's momentum is the other weight */
	sn_node n = {.op = SN_OP_BN, .n_in = 1, .in = {x}, .a.bn = {eps, 1.0f - mom}};
	float *p[4] = {0};
	size_t np[4];
	const Onnx__TensorProto *tp[4];
	static const char *what[4] = {"scale", "bias", "mean", "variance"};
	for (int i = 0; i < 4 && !rc; i++) rc = const_input(c, 1 + i, what[i], &p[i], &np[i], &tp[i]);
	int id = rc ? rc : emit(c, &n, in_name(c, 1));
	if (id < 0) rc = id;
	for (int i = 0; i < 4 && !rc; i++) rc = check_dims(c, id, i, tp[i], what[i]);
	for (int i = 0; i < 4; i++) {
		if (!rc) rc = give(c, id, i, p[i], np[i]);
		else free(p[i]);
	}
	return rc;
}

/* A one-input node that maps to one slimnn operator without attributes. */
static int op_simple(ctx *c, sn_op op, size_t max_in)
{
	int x = 0, rc;
	if ((rc = need_opset_inputs(c, 1, max_in)) || (rc = data_input(c, 0, &x))) return rc;
	sn_node n = {.op = op, .n_in = 1, .in = {x}};
	int id = emit(c, &n, NULL);
	return id < 0 ? id : SN_OK;
}

/* Clip(0, 6) is ReLU6 and Clip(0, inf) ReLU; bounds are attributes before opset 11, inputs after. */
static int op_clip(ctx *c)
{
	float lo = -INFINITY, hi = INFINITY;
	int rc;
	if (c->opset < 11) {
		if ((rc = attr_float(c, "min", -INFINITY, &lo)) || (rc = attr_float(c, "max", INFINITY, &hi))) return rc;
	} else {
		if ((rc = need_opset_inputs(c, 1, 3))) return rc;
		float *b[2] = {NULL, NULL};
		size_t nb;
		for (int i = 0; i < 2 && !rc; i++) {
			if (!in_name(c, 1 + i)) continue;
			rc = const_input(c, 1 + i, i ? "max" : "min", &b[i], &nb, NULL);
			if (!rc && nb != 1) rc = node_err(c, SN_EFORMAT, "the %s bound must be a scalar", i ? "max" : "min");
			if (!rc) *(i ? &hi : &lo) = b[i][0];
		}
		free(b[0]); free(b[1]);
		if (rc) return rc;
	}
	if (lo == 0 && hi == 6) return op_simple(c, SN_OP_RELU6, 3);
	if (lo == 0 && hi == INFINITY) return op_simple(c, SN_OP_RELU, 3);
	return node_err(c, SN_EFORMAT, "Clip(%g, %g) is not supported; only Clip(0, 6) (ReLU6) and Clip(0, inf) (ReLU)", lo, hi);
}

static int op_pool(ctx *c, sn_op op)
{
	int x = 0, rc;
	value *xv, pad = {0};
	if ((rc = need_opset_inputs(c, 1, 1)) || (rc = input(c, 0, &xv))) return rc;
	/* torch writes AvgPool2d(padding=p) as Pad(constant 0) + AveragePool without pads */
	if (xv->kind == V_PAD && op == SN_OP_AVGPOOL && xv->mode == SN_PAD_ZEROS) { pad = *xv; x = xv->node; }
	else if ((rc = data_input(c, 0, &x))) return rc;
	if (c->nd->n_output > 1 && c->nd->output[1] && *c->nd->output[1])
		return node_err(c, SN_EFORMAT, "the Indices output of MaxPool is not supported");
	sn_node n = {.op = op, .n_in = 1, .in = {x}};
	sn_pool_attr *a = &n.a.pool;
	int k[2], s[2] = {1, 1}, d[2] = {1, 1}, p[4] = {0, 0, 0, 0}, f;
	int64_t ceil_mode, cip;
	if ((rc = attr_ints(c, "kernel_shape", 2, 1, ATTR_MAX, k, &f))) return rc;
	if (!f) return node_err(c, SN_EFORMAT, "kernel_shape is missing");
	if ((rc = attr_ints(c, "strides", 2, 1, ATTR_MAX, s, &f)) || (rc = attr_ints(c, "dilations", 2, 1, ATTR_MAX, d, &f)) ||
	    (rc = attr_ints(c, "pads", 4, 0, ATTR_MAX, p, &f)) || (rc = attr_int(c, "ceil_mode", 0, 0, 1, &ceil_mode)) ||
	    (rc = attr_int(c, "count_include_pad", 0, 0, 1, &cip)) ||
	    (rc = auto_pad(c, c->g->node[x].out, k[0], k[1], s[0], s[1], 1, 1, p)))
		return rc;
	if (d[0] != 1 || d[1] != 1) return node_err(c, SN_EFORMAT, "dilated pooling is not supported");
	*a = (sn_pool_attr){k[0], k[1], s[0], s[1], p[0], p[2], p[1], p[3], (int)ceil_mode, (int)cip};
	if (pad.kind == V_PAD) {
		if (p[0] || p[1] || p[2] || p[3])
			return node_err(c, SN_EFORMAT, "a Pad before an AveragePool that pads again is not supported");
		a->pt = pad.pads[0]; a->pl = pad.pads[1]; a->pb = pad.pads[2]; a->pr = pad.pads[3];
		a->count_include_pad = 1;   /* the padded zeros were real values to ONNX */
	}
	int id = emit(c, &n, NULL);
	return id < 0 ? id : SN_OK;
}

/* Flatten(axis=1) and Reshape to [N, -1]: both become slimnn's flatten (a rank-2 input passes). */
static int flatten_to(ctx *c, int x)
{
	if (c->g->node[x].out.rank == 2) {
		value *v = define(c, c->nd->output[0], V_NODE);
		if (!v) return node_err(c, SN_EFORMAT, "%s", sn_errmsg());
		v->node = x;
		return SN_OK;
	}
	sn_node n = {.op = SN_OP_FLATTEN, .n_in = 1, .in = {x}};
	int id = emit(c, &n, NULL);
	return id < 0 ? id : SN_OK;
}

static int op_flatten(ctx *c)
{
	int x = 0, rc;
	int64_t axis;
	if ((rc = need_opset_inputs(c, 1, 1)) || (rc = data_input(c, 0, &x))) return rc;
	int rank = c->g->node[x].out.rank;
	if ((rc = attr_int(c, "axis", 1, -rank, rank, &axis))) return rc;
	if (axis < 0) axis += rank;
	if (axis != 1) return node_err(c, SN_EFORMAT, "Flatten with axis=%lld is not supported (only axis=1)", (long long)axis);
	return flatten_to(c, x);
}

static int op_reshape(ctx *c)
{
	int x = 0, rc;
	value s;
	if ((rc = need_opset_inputs(c, 2, 2)) || (rc = data_input(c, 0, &x)) || (rc = ints_input(c, 1, &s))) return rc;
	int64_t allowzero;
	if ((rc = attr_int(c, "allowzero", 0, 0, 1, &allowzero))) return rc;
	sn_shape in = c->g->node[x].out;
	long long numel = (long long)sn_shape_numel(in);
	if (s.n_ints == 2 && (s.ints[0] == SYM_BATCH || (s.ints[0] == 0 && !allowzero) || s.ints[0] > 0) &&
	    (s.ints[1] == -1 || s.ints[1] == numel))
		return flatten_to(c, x);
	char buf[160] = "";
	for (int i = 0; i < s.n_ints; i++) {
		if (s.ints[i] == SYM_BATCH) snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%sN", i ? ", " : "");
		else snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%s%lld", i ? ", " : "", (long long)s.ints[i]);
	}
	return node_err(c, SN_EFORMAT, "Reshape to [%s] is not supported; only flattening to [N, -1]", buf);
}

static int op_add(ctx *c)
{
	int rc;
	value *a, *b;
	if ((rc = need_opset_inputs(c, 2, 2)) || (rc = input(c, 0, &a)) || (rc = input(c, 1, &b))) return rc;
	if (a->kind == V_NODE && b->kind == V_NODE) {
		sn_node n = {.op = SN_OP_ADD, .n_in = 2, .in = {a->node, b->node}};
		int id = emit(c, &n, NULL);
		return id < 0 ? id : SN_OK;
	}
	/* MatMul + Add: a constant bias folds into the Linear before it when that is its only use */
	value *x = a->kind == V_NODE ? a : b, *k = a->kind == V_NODE ? b : a;
	if (x->kind != V_NODE || k->kind != V_CONST)
		return node_err(c, SN_EFORMAT, "Add needs two computed tensors of the same shape (or a Linear and its bias)");
	sn_node *p = &c->g->node[x->node];
	int uses = 0;
	for (size_t i = c->nd_idx + 1; i < c->gp->n_node; i++)
		for (size_t j = 0; c->gp->node[i] && j < c->gp->node[i]->n_input; j++)
			uses += c->gp->node[i]->input[j] && !strcmp(c->gp->node[i]->input[j], x->name);
	for (size_t i = 0; i < c->gp->n_output; i++)
		uses += c->gp->output[i] && c->gp->output[i]->name && !strcmp(c->gp->output[i]->name, x->name);
	if (p->op != SN_OP_LINEAR || p->a.linear.bias || uses)
		return node_err(c, SN_EFORMAT, "adding a constant is supported only as the bias right after a MatMul");
	float *bias;
	size_t nb;
	if ((rc = get_floats(k->t, k->name, &bias, &nb))) return node_err(c, rc, "%s", sn_errmsg());
	if (nb != (size_t)p->a.linear.out) {
		free(bias);
		return node_err(c, SN_ESHAPE, "the bias has %zu values for %d outputs", nb, p->a.linear.out);
	}
	p->a.linear.bias = 1;
	if ((rc = sn_op_get(SN_OP_LINEAR)->run(c->g, p, SN_ACT_SHAPE))) { free(bias); return node_err(c, rc, "%s", sn_errmsg()); }
	if ((rc = give(c, x->node, SN_T_BIAS, bias, nb))) return rc;
	value *v = define(c, c->nd->output[0], V_NODE);
	if (!v) return node_err(c, SN_EFORMAT, "%s", sn_errmsg());
	v->node = x->node;
	return SN_OK;
}

static int op_concat(ctx *c)
{
	int rc;
	int64_t axis;
	if (c->nd->n_input < 1 || c->nd->n_input > SN_MAX_IN)
		return node_err(c, SN_EFORMAT, "Concat of %zu inputs is not supported (1..%d)", c->nd->n_input, SN_MAX_IN);
	value *v0;
	if ((rc = input(c, 0, &v0))) return rc;
	if (v0->kind != V_NODE) {   /* integer vectors (shape arithmetic) */
		value r = {.kind = V_INTS};
		for (size_t i = 0; i < c->nd->n_input; i++) {
			value s;
			if ((rc = ints_input(c, i, &s))) return rc;
			if (r.n_ints + s.n_ints > INTS_MAX) return node_err(c, SN_EFORMAT, "the integer vector is too long");
			memcpy(r.ints + r.n_ints, s.ints, s.n_ints * sizeof *s.ints);
			r.n_ints += s.n_ints;
		}
		if (c->nd->n_output < 1) return node_err(c, SN_EFORMAT, "the node has no output");
		value *v = define(c, c->nd->output[0], V_INTS);
		if (!v) return node_err(c, SN_EFORMAT, "%s", sn_errmsg());
		memcpy(v->ints, r.ints, sizeof r.ints);
		v->n_ints = r.n_ints;
		return SN_OK;
	}
	sn_node n = {.op = SN_OP_CONCAT, .n_in = (int)c->nd->n_input};
	for (size_t i = 0; i < c->nd->n_input; i++)
		if ((rc = data_input(c, i, &n.in[i]))) return rc;
	int rank = c->g->node[n.in[0]].out.rank;
	if ((rc = attr_int(c, "axis", 1, -rank, rank - 1, &axis))) return rc;
	if (axis < 0) axis += rank;
	if (axis != 1) return node_err(c, SN_EFORMAT, "Concat along axis %lld is not supported (only channels, axis 1)", (long long)axis);
	if (n.n_in == 1) {
		value *v = define(c, c->nd->output[0], V_NODE);
		if (!v) return node_err(c, SN_EFORMAT, "%s", sn_errmsg());
		v->node = n.in[0];
		return SN_OK;
	}
	int id = emit(c, &n, NULL);
	return id < 0 ? id : SN_OK;
}

/* ---------------------------------------------------------------- shape arithmetic */

static int def_ints(ctx *c, const value *r)
{
	if (c->nd->n_output < 1) return node_err(c, SN_EFORMAT, "the node has no output");
	value *v = define(c, c->nd->output[0], V_INTS);
	if (!v) return node_err(c, SN_EFORMAT, "%s", sn_errmsg());
	memcpy(v->ints, r->ints, sizeof r->ints);
	v->n_ints = r->n_ints;
	v->scalar = r->scalar;
	return SN_OK;
}

static int op_shape(ctx *c)
{
	int x = 0, rc;
	if ((rc = need_opset_inputs(c, 1, 1)) || (rc = data_input(c, 0, &x))) return rc;
	sn_shape s = c->g->node[x].out;
	value r = {.kind = V_INTS, .n_ints = s.rank};
	int64_t full[4] = {SYM_BATCH, s.c, s.h, s.w}, start, end;
	memcpy(r.ints, full, sizeof full);
	if ((rc = attr_int(c, "start", 0, -INTS_MAX, INTS_MAX, &start)) || (rc = attr_int(c, "end", s.rank, -INTS_MAX, INTS_MAX, &end)))
		return rc;
	if (start < 0) start += s.rank;
	if (end < 0) end += s.rank;
	start = SN_MAX(0, SN_MIN(start, s.rank));
	end = SN_MAX(start, SN_MIN(end, s.rank));
	memmove(r.ints, r.ints + start, (size_t)(end - start) * sizeof *r.ints);
	r.n_ints = (int)(end - start);
	return def_ints(c, &r);
}

static int op_gather(ctx *c)
{
	int rc;
	value d, idx;
	int64_t axis;
	if ((rc = need_opset_inputs(c, 2, 2)) || (rc = attr_int(c, "axis", 0, -1, 0, &axis))) return rc;
	value *dv;
	if ((rc = input(c, 0, &dv))) return rc;
	if (dv->kind == V_NODE) return node_err(c, SN_EFORMAT, "Gather is supported only on shapes (x.size(i)), not on tensors");
	if ((rc = ints_input(c, 0, &d)) || (rc = ints_input(c, 1, &idx))) return rc;
	value r = {.kind = V_INTS, .n_ints = idx.n_ints, .scalar = idx.scalar};
	for (int i = 0; i < idx.n_ints; i++) {
		int64_t k = idx.ints[i] < 0 ? idx.ints[i] + d.n_ints : idx.ints[i];
		if (k < 0 || k >= d.n_ints) return node_err(c, SN_EFORMAT, "Gather index %lld is out of range", (long long)idx.ints[i]);
		r.ints[i] = d.ints[k];
	}
	return def_ints(c, &r);
}

static int op_unsqueeze(ctx *c)
{
	int rc;
	value d, axes = {0};
	value *dv;
	if ((rc = input(c, 0, &dv))) return rc;
	if (dv->kind == V_NODE) return node_err(c, SN_EFORMAT, "Unsqueeze is supported only on shapes, not on tensors");
	if ((rc = ints_input(c, 0, &d))) return rc;
	if (c->opset >= 13) {
		if ((rc = need_opset_inputs(c, 2, 2)) || (rc = ints_input(c, 1, &axes))) return rc;
	} else {
		int f, ax[1];
		if ((rc = attr_ints(c, "axes", 1, -1, 0, ax, &f))) return rc;
		axes.n_ints = f; axes.ints[0] = f ? ax[0] : 1;
	}
	if (!d.scalar || axes.n_ints != 1 || (axes.ints[0] != 0 && axes.ints[0] != -1))
		return node_err(c, SN_EFORMAT, "only Unsqueeze of a scalar to a 1-element vector is supported");
	d.scalar = 0;
	return def_ints(c, &d);
}

static int op_constant(ctx *c)
{
	const Onnx__AttributeProto *a = attr(c, "value");
	if (c->nd->n_output < 1) return node_err(c, SN_EFORMAT, "the node has no output");
	if (a && a->t) {
		value *v = define(c, c->nd->output[0], V_CONST);
		if (!v) return node_err(c, SN_EFORMAT, "%s", sn_errmsg());
		v->t = a->t;
		return SN_OK;
	}
	a = attr(c, "value_ints");
	const Onnx__AttributeProto *one = attr(c, "value_int");
	if ((a && a->n_ints <= INTS_MAX) || (one && one->has_i)) {
		value r = {.kind = V_INTS, .n_ints = a ? (int)a->n_ints : 1, .scalar = !a};
		for (int i = 0; i < r.n_ints; i++) r.ints[i] = a ? a->ints[i] : one->i;
		return def_ints(c, &r);
	}
	return node_err(c, SN_EFORMAT, "only Constant nodes with a tensor 'value' or integers are supported");
}

/* ---------------------------------------------------------------- patterns */

static int op_hardsigmoid(ctx *c)
{
	int x = 0, rc;
	float alpha, beta;
	if ((rc = need_opset_inputs(c, 1, 1)) || (rc = data_input(c, 0, &x)) || (rc = attr_float(c, "alpha", 0.2f, &alpha)) ||
	    (rc = attr_float(c, "beta", 0.5f, &beta)))
		return rc;
	if (fabsf(alpha - 1.0f / 6) > 1e-6f || beta != 0.5f)
		return node_err(c, SN_EFORMAT, "HardSigmoid(alpha=%g, beta=%g) is supported only as x * HardSigmoid(x) with "
		                "alpha=1/6, beta=0.5 (Hardswish)", alpha, beta);
	value *v = define(c, c->nd->output[0], V_HSIG);
	if (!v) return node_err(c, SN_EFORMAT, "%s", sn_errmsg());
	v->node = x;
	return SN_OK;
}

static int op_mul(ctx *c)
{
	int rc;
	value *a, *b;
	if ((rc = need_opset_inputs(c, 2, 2)) || (rc = input(c, 0, &a)) || (rc = input(c, 1, &b))) return rc;
	value *h = a->kind == V_HSIG ? a : b, *x = a->kind == V_HSIG ? b : a;
	if (h->kind != V_HSIG || x->kind != V_NODE || x->node != h->node)
		return node_err(c, SN_EFORMAT, "Mul is supported only as x * HardSigmoid(x) (Hardswish); "
		                "channel attention (squeeze-and-excitation) is not supported yet");
	sn_node n = {.op = SN_OP_HARDSWISH, .n_in = 1, .in = {x->node}};
	int id = emit(c, &n, NULL);
	return id < 0 ? id : SN_OK;
}

static int op_pad(ctx *c)
{
	int x = 0, rc;
	char buf[32];
	if ((rc = data_input(c, 0, &x))) return rc;
	const char *mode = attr_str(c, "mode", "constant", buf, sizeof buf);
	value pads = {0};
	if (c->opset < 11) {
		int p[8], f;
		if ((rc = attr_ints(c, "pads", 8, 0, ATTR_MAX, p, &f))) return rc;
		if (!f) return node_err(c, SN_EFORMAT, "the pads attribute is missing");
		pads.n_ints = 8;
		for (int i = 0; i < 8; i++) pads.ints[i] = p[i];
	} else if ((rc = need_opset_inputs(c, 2, 3)) || (rc = ints_input(c, 1, &pads))) {
		return rc;
	}
	if (in_name(c, 2)) {
		float *v; size_t n;
		if ((rc = const_input(c, 2, "constant value", &v, &n, NULL))) return rc;
		int zero = n == 1 && v[0] == 0;
		free(v);
		if (!zero) return node_err(c, SN_EFORMAT, "Pad with a non-zero constant is not supported");
	}
	if (pads.n_ints != 8 || pads.ints[0] || pads.ints[1] || pads.ints[4] || pads.ints[5])
		return node_err(c, SN_EFORMAT, "only spatial padding of a 4-D tensor is supported");
	int none = 1;
	for (int i = 0; i < 8; i++) none &= pads.ints[i] == 0;
	value *v = define(c, c->nd->output[0], none ? V_NODE : V_PAD);   /* padding by nothing: the input */
	if (!v) return node_err(c, SN_EFORMAT, "%s", sn_errmsg());
	v->node = x;
	if (none) return SN_OK;
	for (int i = 0; i < 4; i++) {
		int64_t p = pads.ints[i < 2 ? 2 + i : 4 + i];   /* t, l, b, r = ints[2], ints[3], ints[6], ints[7] */
		if (p < 0 || p > ATTR_MAX) return node_err(c, SN_EFORMAT, "negative or absurd pads are not supported");
		v->pads[i] = (int)p;
	}
	if (!strcmp(mode, "constant")) v->mode = SN_PAD_ZEROS;
	else if (!strcmp(mode, "reflect")) v->mode = SN_PAD_REFLECT;
	else if (!strcmp(mode, "edge")) v->mode = SN_PAD_REPLICATE;
	else return node_err(c, SN_EFORMAT, "Pad mode '%s' is not supported", mode);
	return SN_OK;
}

/* Identity, Dropout (inference), Cast of shape integers: the output is the input. */
static int op_alias(ctx *c)
{
	value *x;
	int rc;
	if ((rc = input(c, 0, &x))) return rc;
	if (!strcmp(c->nd->op_type, "Cast") && x->kind != V_INTS)
		return node_err(c, SN_EFORMAT, "Cast is supported only in shape arithmetic");
	if (c->nd->n_output < 1) return node_err(c, SN_EFORMAT, "the node has no output");
	value copy = *x;
	value *v = define(c, c->nd->output[0], x->kind);
	if (!v) return node_err(c, SN_EFORMAT, "%s", sn_errmsg());
	const char *name = v->name;
	*v = copy;
	v->name = name;
	return SN_OK;
}

/* ---------------------------------------------------------------- the model */

static int import_node(ctx *c)
{
	const Onnx__NodeProto *nd = c->nd;
	const char *op = nd->op_type ? nd->op_type : "";
	if (nd->domain && *nd->domain && strcmp(nd->domain, "ai.onnx"))
		return node_err(c, SN_EFORMAT, "operator domain '%.40s' is not supported (only the default ONNX domain)", nd->domain);
	if (!strcmp(op, "Conv")) return op_conv(c);
	if (!strcmp(op, "Gemm")) return op_linear(c, 0);
	if (!strcmp(op, "MatMul")) return op_linear(c, 1);
	if (!strcmp(op, "BatchNormalization")) return op_bn(c);
	if (!strcmp(op, "Relu")) return op_simple(c, SN_OP_RELU, 1);
	if (!strcmp(op, "Sigmoid")) return op_simple(c, SN_OP_SIGMOID, 1);
	if (!strcmp(op, "HardSwish")) return op_simple(c, SN_OP_HARDSWISH, 1);
	if (!strcmp(op, "Clip")) return op_clip(c);
	if (!strcmp(op, "MaxPool")) return op_pool(c, SN_OP_MAXPOOL);
	if (!strcmp(op, "AveragePool")) return op_pool(c, SN_OP_AVGPOOL);
	if (!strcmp(op, "GlobalAveragePool")) return op_simple(c, SN_OP_GAP, 1);
	if (!strcmp(op, "Flatten")) return op_flatten(c);
	if (!strcmp(op, "Reshape")) return op_reshape(c);
	if (!strcmp(op, "Add")) return op_add(c);
	if (!strcmp(op, "Concat")) return op_concat(c);
	if (!strcmp(op, "Identity") || !strcmp(op, "Dropout") || !strcmp(op, "Cast")) return op_alias(c);
	if (!strcmp(op, "Shape")) return op_shape(c);
	if (!strcmp(op, "Gather")) return op_gather(c);
	if (!strcmp(op, "Unsqueeze")) return op_unsqueeze(c);
	if (!strcmp(op, "Constant")) return op_constant(c);
	if (!strcmp(op, "HardSigmoid")) return op_hardsigmoid(c);
	if (!strcmp(op, "Mul")) return op_mul(c);
	if (!strcmp(op, "Pad")) return op_pad(c);
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
		value *v = lookup(c, vi->name);
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
	for (int i = 0; i < 4; i++) {
		const Onnx__TensorShapeProto__Dimension *dm = tt->shape->dim[i];
		int known = dm && dm->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
		if (i == 0) continue;   /* the batch: dynamic or any fixed size, slimnn sets it per call */
		if (!known || dm->dim_value < 1 || dm->dim_value > SN_DIM_MAX)
			return sn_seterr(SN_EFORMAT, "ONNX input '%.60s' needs fixed positive C, H and W dimensions (dimension %d is not)",
			                 in->name, i);
		d[i] = (int)dm->dim_value;
	}
	sn_node n = {.op = SN_OP_INPUT, .a.input = {d[1], d[2], d[3]}};
	sanitize(n.name, in->name, strlen(in->name));
	if (!n.name[0]) snprintf(n.name, sizeof n.name, "input");
	int k = sn_graph_add(c->g, &n);
	if (k < 0) return k;
	int rc = sn_op_input(c->g, &c->g->node[k], SN_ACT_SHAPE);
	if (rc) return rc;
	value *v = define(c, in->name, V_NODE);
	if (!v) return SN_EFORMAT;
	v->node = k;
	return SN_OK;
}

static void import_meta(const Onnx__ModelProto *m, sn_meta *meta)
{
	memset(meta, 0, sizeof *meta);
	meta->test_accuracy = meta->test_loss = -1;
	for (size_t i = 0; i < m->n_metadata_props; i++) {
		const Onnx__StringStringEntryProto *e = m->metadata_props[i];
		if (!e || !e->key || !e->value) continue;
		char *end;
		double v = strtod(e->value, &end);
		int num = end != e->value && !*end && isfinite(v);
		if (!strcmp(e->key, SN_ONNX_META_DATASET)) snprintf(meta->dataset, sizeof meta->dataset, "%s", e->value);
		else if (!strcmp(e->key, SN_ONNX_META_MEAN) && num) meta->norm_mean = (float)v;
		else if (!strcmp(e->key, SN_ONNX_META_STD) && num && v > 0) meta->norm_std = (float)v;
		else if (!strcmp(e->key, SN_ONNX_META_ACC) && num) meta->test_accuracy = v;
	}
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
	size_t cap = 16;
	while (cap < 2 * total) cap *= 2;
	c->cap_v = (int)total;
	if (!(c->v = calloc(total, sizeof *c->v)) || !(c->ht = calloc(cap, sizeof *c->ht)))
		return sn_seterr(SN_ENOMEM, "out of memory");
	c->ht_mask = cap - 1;
	for (size_t i = 0; i < gp->n_initializer; i++) {
		const Onnx__TensorProto *t = gp->initializer[i];
		if (!t || !t->name) return sn_seterr(SN_EFORMAT, "an ONNX initializer has no name");
		value *v = define(c, t->name, V_CONST);
		if (!v) return SN_EFORMAT;
		v->t = t;
	}
	if ((rc = import_input(c))) return rc;
	for (size_t i = 0; i < gp->n_node; i++) {
		c->nd = gp->node[i];
		c->nd_idx = (int)i;
		if (!c->nd) return sn_seterr(SN_EFORMAT, "ONNX node %zu is empty", i);
		if ((rc = import_node(c))) return rc;
		/* further outputs (BatchNormalization's statistics, Dropout's mask) must stay unused */
		for (size_t k = 1; k < c->nd->n_output; k++) {
			if (!c->nd->output[k] || !*c->nd->output[k]) continue;
			value *v = define(c, c->nd->output[k], V_UNUSABLE);
			if (!v) return node_err(c, SN_EFORMAT, "%s", sn_errmsg());
			v->why = "an extra output of an operator";
		}
	}
	if (gp->n_output != 1 || !gp->output[0] || !gp->output[0]->name)
		return sn_seterr(SN_EFORMAT, "the ONNX model has %zu outputs; slimnn models have exactly one", gp->n_output);
	value *out = lookup(c, gp->output[0]->name);
	if (!out || out->kind != V_NODE || out->node == 0)
		return sn_seterr(SN_EFORMAT, "the ONNX output '%.60s' is not computed by a supported layer", gp->output[0]->name);
	if (out->node != c->g->n_node - 1)
		return sn_seterr(SN_EFORMAT, "the ONNX output '%.60s' is not the last layer; layers after it compute nothing "
		                 "the model returns, which slimnn does not support", gp->output[0]->name);
	if ((rc = sn_graph_infer(c->g))) return rc;
	for (int i = 0; i < c->n_w; i++) {
		const pending *p = &c->w[i];
		sn_tensor *t = &c->g->tensor[c->g->node[p->node].t[p->slot]];
		if (t->n != p->n)
			return sn_seterr(SN_ESHAPE, "ONNX import: tensor '%s' has %zu values but the layer needs %zu", t->name, p->n, t->n);
		memcpy(t->data, p->data, p->n * sizeof *p->data);
	}
	return SN_OK;
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
	free(c.w); free(c.v); free(c.ht);
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
