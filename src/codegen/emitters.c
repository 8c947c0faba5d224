/* The emitter table: one row per operator, as src/ops/registry.c lists the operators. A row
 * names the kernels the operator's float code needs and the function that writes its constants
 * (weights, geometry) and its call in PREFIX_run. The int8 column stays empty until int8 models
 * (kernels/qmath.h) are exported: such a layer is refused by name. */
#include <math.h>
#include "codegen/codegen_internal.h"

static const sn_node *node(const cg_ctx *cx, int i) { return &cx->g->node[i]; }
static const char *X(const cg_ctx *cx, int i, int k) { return cx->at[node(cx, i)->in[k]]; }
static const char *Y(const cg_ctx *cx, int i) { return cx->at[i]; }
static sn_shape in_shape(const cg_ctx *cx, int i, int k) { return cx->g->node[node(cx, i)->in[k]].out; }
static size_t numel(const cg_ctx *cx, int i) { return sn_shape_numel(node(cx, i)->out); }
static const sn_tensor *tensor(const cg_ctx *cx, int i, int slot)
{
	const int t = node(cx, i)->t[slot];
	return t >= 0 ? &cx->g->tensor[t] : NULL;
}

/* "<what>_L3_conv1" into buf: the name of one of node i's constants. */
static const char *cname(const cg_ctx *cx, int i, const char *what, char buf[112])
{
	char id[96];
	snprintf(buf, 112, "%s_%s", what, cg_ident(cx->g, i, id, sizeof id));
	return buf;
}

/* The bias of a conv or Linear as B_<id>, or "0" when it has none. */
static int bias(cg_ctx *cx, int i, char buf[112])
{
	const sn_tensor *b = tensor(cx, i, SN_T_BIAS);
	if (!b) { snprintf(buf, 112, "0"); return SN_OK; }
	cg_floats(cx, cname(cx, i, "B", buf), b->data, b->n);
	return cg_note_dense(cx, b->name, b->n);
}

/* A conv's constants: its weight W_, bias B_ (or "0") and geometry G_, their names into the buffers. */
static int conv_consts(cg_ctx *cx, int i, char wn[112], char bn[112], char gn[112])
{
	const sn_node *n = node(cx, i);
	const sn_conv_attr *a = &n->a.conv;
	const sn_tensor *w = tensor(cx, i, SN_T_WEIGHT);
	const sn_shape in = in_shape(cx, i, 0), out = n->out;
	int rc = cg_weight(cx, w, (size_t)a->out_c, w->n / (size_t)a->out_c, cname(cx, i, "W", wn));
	if (!rc) rc = bias(cx, i, bn);
	if (rc) return rc;
	cg_printf(&cx->consts, "static const conv_geom %s = {%d, %d, %d, %d, %d, %d, %d, %d, %d, %d, %d, %d, %d, %d, %d, %d, %d};\n",
	          cname(cx, i, "G", gn), in.c, in.h, in.w, a->out_c, out.h, out.w, a->kh, a->kw, a->sh, a->sw, a->dh, a->dw,
	          a->pt, a->pl, a->groups, (int)a->mode, a->act);
	return SN_OK;
}

static int emit_conv(cg_ctx *cx, int i)
{
	char wn[112], bn[112], gn[112];
	int rc = conv_consts(cx, i, wn, bn, gn);
	if (!rc) cg_printf(&cx->body, "\tk_conv(&%s, %s, &%s, %s, %s);\n", gn, X(cx, i, 0), wn, bn, Y(cx, i));
	return rc;
}

static int emit_linear(cg_ctx *cx, int i)
{
	const sn_tensor *w = tensor(cx, i, SN_T_WEIGHT);
	const size_t rows = (size_t)node(cx, i)->a.linear.out;
	char wn[112], bn[112];
	int rc = cg_weight(cx, w, rows, w->n / rows, cname(cx, i, "W", wn));
	if (!rc) rc = bias(cx, i, bn);
	if (rc) return rc;
	cg_printf(&cx->body, "\tk_linear(%s, &%s, %s, %s);\n", X(cx, i, 0), wn, bn, Y(cx, i));
	return SN_OK;
}

/* A BatchNorm no conv absorbed: its factors computed as the library's inference does
 * (ops/batchnorm.c), a = gamma / sqrt(var + eps), b = beta - mean a, in float. */
static int emit_bn(cg_ctx *cx, int i)
{
	const sn_node *n = node(cx, i);
	const int C = n->out.c;
	const float *gam = tensor(cx, i, SN_T_WEIGHT)->data, *bet = tensor(cx, i, SN_T_BIAS)->data;
	const float *mean = tensor(cx, i, SN_T_MEAN)->data, *var = tensor(cx, i, SN_T_VAR)->data;
	float *ab = malloc(2 * (size_t)C * sizeof *ab);
	if (!ab) return sn_seterr(SN_ENOMEM, "out of memory writing C code");
	for (int c = 0; c < C; c++) {
		const float istd = 1.0f / sqrtf(var[c] + n->a.bn.eps);
		ab[c] = gam[c] * istd;
		ab[C + c] = bet[c] - mean[c] * ab[c];
	}
	char an[112], sn[112], tn[2 * SN_NAME_MAX + 8];
	cg_floats(cx, cname(cx, i, "BNA", an), ab, (size_t)C);
	cg_floats(cx, cname(cx, i, "BNB", sn), ab + C, (size_t)C);
	free(ab);
	snprintf(tn, sizeof tn, "%s.scale", n->name);
	int rc = cg_note_dense(cx, tn, (size_t)C);
	snprintf(tn, sizeof tn, "%s.shift", n->name);
	if (!rc) rc = cg_note_dense(cx, tn, (size_t)C);
	cg_printf(&cx->body, "\tk_scale_shift(%s, %d, %ld, %s, %s, %s);\n", X(cx, i, 0), C, (long)n->out.h * n->out.w, an, sn,
	          Y(cx, i));
	return rc;
}

/* y = f(x) value by value, in place where the planner put y on x. */
static int emit_elementwise(cg_ctx *cx, int i)
{
	const sn_node *n = node(cx, i);
	static const char *const fn[SN_OP_COUNT] = {[SN_OP_RELU] = "k_relu", [SN_OP_RELU6] = "k_relu6",
		[SN_OP_SIGMOID] = "k_sigmoid", [SN_OP_HARDSWISH] = "k_hardswish", [SN_OP_HARDSIGMOID] = "k_hardsigmoid",
		[SN_OP_SILU] = "k_silu", [SN_OP_GELU] = "k_gelu"};
	char extra[96] = "", fa[40], fb[40];
	if (n->op == SN_OP_HARDSIGMOID)
		snprintf(extra, sizeof extra, ", %s, %s", cg_float(n->a.hsig.alpha, fa), cg_float(n->a.hsig.beta, fb));
	if (n->op == SN_OP_GELU) snprintf(extra, sizeof extra, ", %d", n->a.gelu.approximate == SN_GELU_TANH);
	cg_printf(&cx->body, "\t%s(%s, %s, %zu%s);\n", fn[n->op], X(cx, i, 0), Y(cx, i), numel(cx, i), extra);
	return SN_OK;
}

/* Flatten and Dropout (an identity at inference): nothing in place, else a copy. */
static int emit_copy(cg_ctx *cx, int i)
{
	if (!cx->in_place[i]) cg_printf(&cx->body, "\tmemcpy(%s, %s, %zu * sizeof(float));\n", Y(cx, i), X(cx, i, 0), numel(cx, i));
	return SN_OK;
}

/* A pooling layer's geometry G_ (name into gn); returns its plane kernel's name. */
static const char *pool_consts(cg_ctx *cx, int i, char gn[112])
{
	const sn_node *n = node(cx, i);
	const sn_pool_attr *a = &n->a.pool;
	const sn_shape in = in_shape(cx, i, 0);
	cg_printf(&cx->consts, "static const pool_geom %s = {%d, %d, %d, %d, %d, %d, %d, %d, %d, %d, %d, %d, %d, %d};\n",
	          cname(cx, i, "G", gn), in.c, in.h, in.w, n->out.h, n->out.w, a->kh, a->kw, a->sh, a->sw, a->pt, a->pb, a->pl,
	          a->pr, n->op == SN_OP_AVGPOOL && a->count_include_pad);
	cx->kernels |= n->op == SN_OP_MAXPOOL ? CK(CK_MAXPOOL) : CK(CK_AVGPOOL);
	return n->op == SN_OP_MAXPOOL ? "maxpool_plane" : "avgpool_plane";
}

static int emit_pool(cg_ctx *cx, int i)
{
	char gn[112];
	const char *plane = pool_consts(cx, i, gn);
	cg_printf(&cx->body, "\tk_pool(&%s, %s, %s, %s);\n", gn, plane, X(cx, i, 0), Y(cx, i));
	return SN_OK;
}

int cg_emit_conv_pool(cg_ctx *cx, int conv, int pool)
{
	char wn[112], bn[112], gn[112], pn[112];
	int rc = conv_consts(cx, conv, wn, bn, gn);
	if (rc) return rc;
	const char *plane = pool_consts(cx, pool, pn);
	cx->kernels |= CK(CK_CONV_POOL);
	cg_printf(&cx->body, "\tk_conv_pool(&%s, &%s, %s, %s, &%s, %s, %s, %s);\n", gn, pn, plane, X(cx, conv, 0), wn, bn,
	          cx->at[conv], Y(cx, pool));
	return SN_OK;
}

static int emit_gap(cg_ctx *cx, int i)
{
	const sn_shape in = in_shape(cx, i, 0);
	cg_printf(&cx->body, "\tk_gap(%s, %d, %d, %s);\n", X(cx, i, 0), in.c, in.h * in.w, Y(cx, i));
	return SN_OK;
}

/* y = x0 + x1, then y += each further input: the library's order of the sums. */
static int emit_add(cg_ctx *cx, int i)
{
	for (int k = 1; k < node(cx, i)->n_in; k++)
		cg_printf(&cx->body, "\tk_add(%s, %s, %s, %zu);\n", k == 1 ? X(cx, i, 0) : Y(cx, i), X(cx, i, k), Y(cx, i), numel(cx, i));
	return SN_OK;
}

static int emit_mul(cg_ctx *cx, int i)
{
	const sn_shape o = node(cx, i)->out, a = in_shape(cx, i, 0), b = in_shape(cx, i, 1);
	char gn[112];
	/* an input's stride over the output's (c, h, w): 0 where it broadcasts */
	cg_printf(&cx->consts, "static const mul_geom %s = {%d, %d, %d, %ld, %ld, %ld, %ld, %ld, %ld};\n", cname(cx, i, "G", gn),
	          o.c, o.h, o.w, a.c == 1 ? 0L : (long)a.h * a.w, a.h == 1 ? 0L : (long)a.w, a.w == 1 ? 0L : 1L,
	          b.c == 1 ? 0L : (long)b.h * b.w, b.h == 1 ? 0L : (long)b.w, b.w == 1 ? 0L : 1L);
	cg_printf(&cx->body, "\tk_mul(&%s, %s, %s, %s);\n", gn, X(cx, i, 0), X(cx, i, 1), Y(cx, i));
	return SN_OK;
}

static int emit_concat(cg_ctx *cx, int i)
{
	size_t off = 0;
	for (int k = 0; k < node(cx, i)->n_in; k++) {
		const size_t n = sn_shape_numel(in_shape(cx, i, k));
		cg_printf(&cx->body, "\tmemcpy(%s + %zu, %s, %zu * sizeof(float));\n", Y(cx, i), off, X(cx, i, k), n);
		off += n;
	}
	return SN_OK;
}

static int emit_chmap(cg_ctx *cx, int i)
{
	const sn_node *n = node(cx, i);
	const int shuffle = n->op == SN_OP_SHUFFLE;
	cg_printf(&cx->body, "\tk_chmap(%s, %d, %d, %ld, %d, %d, %s);\n", X(cx, i, 0), in_shape(cx, i, 0).c, n->out.c,
	          (long)n->out.h * n->out.w, shuffle ? n->a.shuffle.groups : 0, shuffle ? 0 : n->a.slice.start, Y(cx, i));
	return SN_OK;
}

static int emit_pad(cg_ctx *cx, int i)
{
	const sn_node *n = node(cx, i);
	const sn_pad_attr *a = &n->a.pad;
	const sn_shape in = in_shape(cx, i, 0);
	char gn[112], f[40];
	cg_printf(&cx->consts, "static const pad_geom %s = {%d, %d, %d, %d, %d, %d, %d, %d, %s};\n", cname(cx, i, "G", gn), in.c,
	          in.h, in.w, n->out.h, n->out.w, a->pt, a->pl, (int)a->mode, cg_float(a->value, f));
	cg_printf(&cx->body, "\tk_pad(&%s, %s, %s);\n", gn, X(cx, i, 0), Y(cx, i));
	return SN_OK;
}

static int emit_softmax(cg_ctx *cx, int i)
{
	const sn_shape o = node(cx, i)->out;
	cg_printf(&cx->body, "\tk_softmax(%s, %d, %ld, %s);\n", X(cx, i, 0), o.c, (long)o.h * o.w, Y(cx, i));
	return SN_OK;
}

static const cg_emitter rows[SN_OP_COUNT] = {
	[SN_OP_CONV]        = {CK(CK_CONV), emit_conv, 0, NULL},
	[SN_OP_LINEAR]      = {CK(CK_LINEAR), emit_linear, 0, NULL},
	[SN_OP_BN]          = {CK(CK_SCALE_SHIFT), emit_bn, 0, NULL},
	[SN_OP_RELU]        = {CK(CK_RELU), emit_elementwise, 0, NULL},
	[SN_OP_RELU6]       = {CK(CK_RELU6), emit_elementwise, 0, NULL},
	[SN_OP_SIGMOID]     = {CK(CK_SIGMOID), emit_elementwise, 0, NULL},
	[SN_OP_HARDSWISH]   = {CK(CK_HARDSWISH), emit_elementwise, 0, NULL},
	[SN_OP_HARDSIGMOID] = {CK(CK_HARDSIGMOID), emit_elementwise, 0, NULL},
	[SN_OP_SILU]        = {CK(CK_SILU), emit_elementwise, 0, NULL},
	[SN_OP_GELU]        = {CK(CK_GELU), emit_elementwise, 0, NULL},
	[SN_OP_FLATTEN]     = {0, emit_copy, 0, NULL},
	[SN_OP_DROPOUT]     = {0, emit_copy, 0, NULL},
	[SN_OP_MAXPOOL]     = {CK(CK_POOL), emit_pool, 0, NULL},
	[SN_OP_AVGPOOL]     = {CK(CK_POOL), emit_pool, 0, NULL},
	[SN_OP_GAP]         = {CK(CK_GAP), emit_gap, 0, NULL},
	[SN_OP_ADD]         = {CK(CK_ADD), emit_add, 0, NULL},
	[SN_OP_MUL]         = {CK(CK_MUL), emit_mul, 0, NULL},
	[SN_OP_CONCAT]      = {0, emit_concat, 0, NULL},
	[SN_OP_SHUFFLE]     = {CK(CK_CHMAP), emit_chmap, 0, NULL},
	[SN_OP_SLICE]       = {CK(CK_CHMAP), emit_chmap, 0, NULL},
	[SN_OP_PAD]         = {CK(CK_PAD), emit_pad, 0, NULL},
	[SN_OP_SOFTMAX]     = {CK(CK_SOFTMAX), emit_softmax, 0, NULL},
};

const cg_emitter *cg_emitter_of(sn_op op)
{
	return (unsigned)op < SN_OP_COUNT && rows[op].f32 ? &rows[op] : NULL;
}
