/* The emitter table: one row per operator, as src/ops/registry.c lists the operators. A row
 * names the kernels the operator's float code needs and the function that writes its constants
 * (weights, geometry) and its call in PREFIX_run, and the same for its int8 form where the
 * library has one (the operator's run_q8): the arithmetic of kernels/qmath.h, with the
 * multipliers the library's int8 forwards use computed here, once. */
#include <math.h>
#include "codegen/codegen_internal.h"
#include "core/quant.h"
#include "kernels/qjoin.h"

static const sn_node *node(const cg_ctx *cx, int i) { return &cx->g->node[i]; }
static const char *X(const cg_ctx *cx, int i, int k) { return cg_in(cx, i, k); }
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
	return cg_note_dense(cx, b->name, b->n, 4);
}

/* A conv's geometry G_ (its name into gn). */
static void conv_geometry(cg_ctx *cx, int i, char gn[112])
{
	const sn_node *n = node(cx, i);
	const sn_conv_attr *a = &n->a.conv;
	const sn_shape in = in_shape(cx, i, 0), out = n->out;
	cg_printf(&cx->consts, "static const conv_geom %s = {%d, %d, %d, %d, %d, %d, %d, %d, %d, %d, %d, %d, %d, %d, %d, %d, %d};\n",
	          cname(cx, i, "G", gn), in.c, in.h, in.w, a->out_c, out.h, out.w, a->kh, a->kw, a->sh, a->sw, a->dh, a->dw,
	          a->pt, a->pl, a->groups, (int)a->mode, a->act);
}

/* The int8 side of conv or Linear i with `rows` outputs: its int8 weight W_, and as int32 arrays
 * its bias QB_ and multipliers QM_ / QS_ (mult, shift), gathered in the q_layer QL_. */
static int q_layer_consts(cg_ctx *cx, int i, size_t rows, char wn[112], char ln[112])
{
	const sn_node *n = node(cx, i);
	const sn_qnode *q = n->q;
	const sn_tensor *w = tensor(cx, i, SN_T_WEIGHT);
	int rc = cg_weight(cx, w, q->w, rows, w->n / rows, cname(cx, i, "W", wn));
	if (rc) return rc;
	int32_t *m = malloc(2 * rows * sizeof *m);
	if (!m) return sn_seterr(SN_ENOMEM, "out of memory writing C code");
	for (size_t o = 0; o < rows; o++) {
		m[o] = q->mult[o].mult;
		m[rows + o] = q->mult[o].shift;
	}
	char bn[112], mn[112], sn[112], tn[SN_NAME_MAX + 16];
	cg_int32s(cx, cname(cx, i, "QB", bn), q->bias, rows);
	cg_int32s(cx, cname(cx, i, "QM", mn), m, rows);
	cg_int32s(cx, cname(cx, i, "QS", sn), m + rows, rows);
	free(m);
	cg_printf(&cx->consts, "static const q_layer %s = {%s, %s, %s, %ld, %ld, %ld, %ld};\n", cname(cx, i, "QL", ln), bn, mn,
	          sn, (long)cx->g->node[n->in[0]].q->y.zero_point, (long)q->y.zero_point, (long)q->lo, (long)q->hi);
	snprintf(tn, sizeof tn, "%s.bias:int32", n->name);
	rc = cg_note_dense(cx, tn, rows, 4);
	snprintf(tn, sizeof tn, "%s.requant", n->name);
	return rc ? rc : cg_note_dense(cx, tn, 2 * rows, 4);
}

/* A conv's constants: its weight W_, bias B_ (or "0") and geometry G_ (float), or its q_layer
 * QL_ into bn and its geometry (int8); their names into the buffers. */
static int conv_consts(cg_ctx *cx, int i, char wn[112], char bn[112], char gn[112])
{
	const sn_tensor *w = tensor(cx, i, SN_T_WEIGHT);
	const size_t rows = (size_t)node(cx, i)->a.conv.out_c;
	int rc = cx->int8[i] ? q_layer_consts(cx, i, rows, wn, bn) : cg_weight(cx, w, NULL, rows, w->n / rows, cname(cx, i, "W", wn));
	if (!rc && !cx->int8[i]) rc = bias(cx, i, bn);
	if (rc) return rc;
	conv_geometry(cx, i, gn);
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
	int rc = cg_weight(cx, w, NULL, rows, w->n / rows, cname(cx, i, "W", wn));
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
	int rc = cg_note_dense(cx, tn, (size_t)C, 4);
	snprintf(tn, sizeof tn, "%s.shift", n->name);
	if (!rc) rc = cg_note_dense(cx, tn, (size_t)C, 4);
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

/* The bytes of n values of node i's output type, as C. */
static const char *bytes_of(const cg_ctx *cx, int i, size_t n, char buf[48])
{
	if (cx->int8[i]) snprintf(buf, 48, "%zu", n);
	else snprintf(buf, 48, "%zu * sizeof(float)", n);
	return buf;
}

/* Flatten and Dropout (an identity at inference, float or int8): nothing in place, else a copy. */
static int emit_copy(cg_ctx *cx, int i)
{
	char nb[48];
	if (!cx->in_place[i]) cg_printf(&cx->body, "\tmemcpy(%s, %s, %s);\n", Y(cx, i), X(cx, i, 0), bytes_of(cx, i, numel(cx, i), nb));
	return SN_OK;
}

/* A pooling layer's geometry G_ (name into gn), and for int8 its q_pool QP_ (AvgPool: the
 * multiplier x_scale / (y_scale * d) of each divisor d, as the library's int8 pool computes it;
 * MaxPool: none, "0") into qn; returns its plane kernel's name. */
static const char *pool_consts(cg_ctx *cx, int i, char gn[112], char qn[112])
{
	const sn_node *n = node(cx, i);
	const sn_pool_attr *a = &n->a.pool;
	const sn_shape in = in_shape(cx, i, 0);
	const int max = n->op == SN_OP_MAXPOOL;
	cg_printf(&cx->consts, "static const pool_geom %s = {%d, %d, %d, %d, %d, %d, %d, %d, %d, %d, %d, %d, %d, %d};\n",
	          cname(cx, i, "G", gn), in.c, in.h, in.w, n->out.h, n->out.w, a->kh, a->kw, a->sh, a->sw, a->pt, a->pb, a->pl,
	          a->pr, n->op == SN_OP_AVGPOOL && a->count_include_pad);
	if (!cx->int8[i]) {
		cx->kernels |= max ? CK(CK_MAXPOOL) : CK(CK_AVGPOOL);
		return max ? "maxpool_plane" : "avgpool_plane";
	}
	cx->kernels |= max ? CK(CK_QMAXPOOL) : CK(CK_QAVGPOOL);
	snprintf(qn, 112, "0");
	if (max) return "qmaxpool_plane";
	const sn_qparams xq = cx->g->node[n->in[0]].q->y, yq = n->q->y;
	const int divs = a->kh * a->kw + 1;   /* divisor 0 (an empty window) sums nothing: any multiplier */
	int32_t *m = calloc(2 * (size_t)divs, sizeof *m);
	char mn[112], sn[112];
	if (!m) { sn_seterr(SN_ENOMEM, "out of memory writing C code"); return NULL; }
	for (int d = 1; d < divs; d++) {
		const sn_q_mult qm = sn_q_multiplier((double)xq.scale / ((double)yq.scale * d));
		m[d] = qm.mult;
		m[divs + d] = qm.shift;
	}
	cg_int32s(cx, cname(cx, i, "QM", mn), m, (size_t)divs);
	cg_int32s(cx, cname(cx, i, "QS", sn), m + divs, (size_t)divs);
	free(m);
	char pn[112];
	cg_printf(&cx->consts, "static const q_pool %s = {%s, %s, %ld, %ld};\n", cname(cx, i, "QP", pn), mn, sn,
	          (long)xq.zero_point, (long)yq.zero_point);
	snprintf(qn, 112, "&%.110s", pn);
	return "qavgpool_plane";
}

static int emit_pool(cg_ctx *cx, int i)
{
	char gn[112], qn[112];
	const char *plane = pool_consts(cx, i, gn, qn);
	if (!plane) return sn_errcode();
	if (cx->int8[i]) cg_printf(&cx->body, "\tk_qpool(&%s, %s, %s, %s, %s);\n", gn, plane, qn, X(cx, i, 0), Y(cx, i));
	else cg_printf(&cx->body, "\tk_pool(&%s, %s, %s, %s);\n", gn, plane, X(cx, i, 0), Y(cx, i));
	return SN_OK;
}

int cg_emit_conv_pool(cg_ctx *cx, int conv, int pool)
{
	char wn[112], bn[112], gn[112], pn[112], qn[112];
	int rc = conv_consts(cx, conv, wn, bn, gn);
	if (rc) return rc;
	const char *plane = pool_consts(cx, pool, pn, qn);
	if (!plane) return sn_errcode();
	if (cx->int8[conv]) {
		cx->kernels |= CK(CK_QCONV_POOL);
		cg_printf(&cx->body, "\tk_qconv_pool(&%s, &%s, &%s, %s, %s, %s, &%s, %s, %s, %s);\n", gn, bn, pn, plane, qn,
		          X(cx, conv, 0), wn, cx->acc_at[conv], cx->at[conv], Y(cx, pool));
		return SN_OK;
	}
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
	char nb[48];
	for (int k = 0; k < node(cx, i)->n_in; k++) {
		const size_t n = sn_shape_numel(in_shape(cx, i, k));
		cg_printf(&cx->body, "\tmemcpy(%s + %zu, %s, %s);\n", Y(cx, i), off, X(cx, i, k), bytes_of(cx, i, n, nb));
		off += n;
	}
	return SN_OK;
}

/* Shuffle and slice move whole planes, float or int8 (a plane's bytes). */
static int emit_chmap(cg_ctx *cx, int i)
{
	const sn_node *n = node(cx, i);
	const int shuffle = n->op == SN_OP_SHUFFLE;
	char nb[48];
	cg_printf(&cx->body, "\tk_chmap(%s, %d, %d, %s, %d, %d, %s);\n", X(cx, i, 0), in_shape(cx, i, 0).c, n->out.c,
	          bytes_of(cx, i, (size_t)n->out.h * n->out.w, nb), shuffle ? n->a.shuffle.groups : 0,
	          shuffle ? 0 : n->a.slice.start, Y(cx, i));
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

/* ---------------------------------------------------------------- int8 (core/quant.h) */

static sn_qparams in_q(const cg_ctx *cx, int i, int k) { return cx->g->node[node(cx, i)->in[k]].q->y; }

/* An int8 conv writes each output plane from its plane of int32 sums (acc_at). */
static int emit_qconv(cg_ctx *cx, int i)
{
	char wn[112], ln[112], gn[112];
	int rc = conv_consts(cx, i, wn, ln, gn);
	if (!rc) cg_printf(&cx->body, "\tk_qconv(&%s, &%s, %s, &%s, %s, %s);\n", gn, ln, X(cx, i, 0), wn, cx->acc_at[i], Y(cx, i));
	return rc;
}

static int emit_qlinear(cg_ctx *cx, int i)
{
	char wn[112], ln[112];
	int rc = q_layer_consts(cx, i, (size_t)node(cx, i)->a.linear.out, wn, ln);
	if (!rc) cg_printf(&cx->body, "\tk_qlinear(&%s, %s, &%s, %s);\n", ln, X(cx, i, 0), wn, Y(cx, i));
	return rc;
}

/* ReLU and ReLU6: the clamp of the output's parameters (sn_q_act_range), as the library's. */
static int emit_qclamp(cg_ctx *cx, int i)
{
	const sn_node *n = node(cx, i);
	int32_t lo, hi;
	sn_q_act_range(n->q->y, n->op == SN_OP_RELU6 ? SN_KACT_RELU6 : SN_KACT_RELU, &lo, &hi);
	cg_printf(&cx->body, "\tk_qclamp(%s, %s, %zu, %ld, %ld);\n", X(cx, i, 0), Y(cx, i), numel(cx, i), (long)lo, (long)hi);
	return SN_OK;
}

static int emit_qgap(cg_ctx *cx, int i)
{
	const sn_shape in = in_shape(cx, i, 0);
	const sn_qparams xq = in_q(cx, i, 0), yq = node(cx, i)->q->y;
	const sn_q_mult m = sn_q_multiplier((double)xq.scale / ((double)yq.scale * (in.h * in.w)));
	cg_printf(&cx->body, "\tk_qgap(%s, %d, %ld, %ld, %ld, %ld, %ld, %s);\n", X(cx, i, 0), in.c, (long)in.h * in.w,
	          (long)xq.zero_point, (long)m.mult, (long)m.shift, (long)yq.zero_point, Y(cx, i));
	return SN_OK;
}

/* Add of n inputs with the library's parameters (sn_q8_add_init), as one q_add QA_. */
static int emit_qadd(cg_ctx *cx, int i)
{
	const sn_node *n = node(cx, i);
	if (n->n_in > SN_Q8_ADD_MAX)
		return sn_seterr(SN_EINVAL, "export to C: int8 layer '%s' (Add) adds %d tensors, more than the %d of the int8 Add; "
		                 "keep it in float (slimnn quantize --keep-float %s)", n->name, n->n_in, SN_Q8_ADD_MAX, n->name);
	sn_qparams xq[SN_Q8_ADD_MAX];
	for (int k = 0; k < n->n_in; k++) xq[k] = in_q(cx, i, k);
	const sn_q8_add_params p = sn_q8_add_init(n->n_in, xq, n->q->y, -128, 127);
	char an[112];
	cg_printf(&cx->consts, "static const q_add %s = {%d, {", cname(cx, i, "QA", an), p.n);
	for (int k = 0; k < SN_Q8_ADD_MAX; k++) cg_printf(&cx->consts, "%s%ld", k ? ", " : "", k < p.n ? (long)p.in[k].mult : 0L);
	cg_printf(&cx->consts, "}, {");
	for (int k = 0; k < SN_Q8_ADD_MAX; k++) cg_printf(&cx->consts, "%s%d", k ? ", " : "", k < p.n ? p.in[k].shift : 0);
	cg_printf(&cx->consts, "}, {");
	for (int k = 0; k < SN_Q8_ADD_MAX; k++) cg_printf(&cx->consts, "%s%ld", k ? ", " : "", k < p.n ? (long)p.zp[k] : 0L);
	cg_printf(&cx->consts, "}, %ld, %d, %ld};\n", (long)p.out.mult, p.out.shift, (long)p.y_zp);
	cg_printf(&cx->body, "\tk_qadd(&%s, (const int8_t *const[]){", an);
	for (int k = 0; k < n->n_in; k++) cg_printf(&cx->body, "%s%s", k ? ", " : "", X(cx, i, k));
	cg_printf(&cx->body, "}, %s, %zu);\n", Y(cx, i), numel(cx, i));
	return SN_OK;
}

/* Each input's block requantized to the output's parameters (a copy where they agree). */
static int emit_qconcat(cg_ctx *cx, int i)
{
	const sn_node *n = node(cx, i);
	size_t off = 0;
	for (int k = 0; k < n->n_in; k++) {
		const size_t len = sn_shape_numel(in_shape(cx, i, k));
		const sn_qparams from = in_q(cx, i, k), to = n->q->y;
		if (from.scale == to.scale && from.zero_point == to.zero_point) {
			cg_printf(&cx->body, "\tmemcpy(%s + %zu, %s, %zu);\n", Y(cx, i), off, X(cx, i, k), len);
		} else {
			const sn_q_mult m = sn_q_multiplier((double)from.scale / to.scale);
			cx->kernels |= CK(CK_QREQUANT);
			cg_printf(&cx->body, "\tk_qrequant(%s, %zu, %ld, %ld, %d, %ld, %s + %zu);\n", X(cx, i, k), len,
			          (long)from.zero_point, (long)m.mult, m.shift, (long)to.zero_point, Y(cx, i), off);
		}
		off += len;
	}
	return SN_OK;
}

/* se layers exist in graphs prepared for the library's own inference; generate.c prepares
 * without them, so one here was written as such in an architecture file. */
static int emit_refused(cg_ctx *cx, int i)
{
	const sn_node *n = &cx->g->node[i];
	return sn_seterr(SN_EINVAL, "layer '%s' (%s) runs only in the library's inference; write the block as its layers",
	                 n->name, sn_op_get(n->op)->key);
}

static const cg_emitter rows[SN_OP_COUNT] = {
	[SN_OP_CONV]        = {CK(CK_CONV), emit_conv, CK(CK_QCONV), emit_qconv},
	[SN_OP_LINEAR]      = {CK(CK_LINEAR), emit_linear, CK(CK_QLINEAR), emit_qlinear},
	[SN_OP_BN]          = {CK(CK_SCALE_SHIFT), emit_bn, 0, NULL},
	[SN_OP_RELU]        = {CK(CK_RELU), emit_elementwise, CK(CK_QCLAMP), emit_qclamp},
	[SN_OP_RELU6]       = {CK(CK_RELU6), emit_elementwise, CK(CK_QCLAMP), emit_qclamp},
	[SN_OP_SIGMOID]     = {CK(CK_SIGMOID), emit_elementwise, 0, NULL},
	[SN_OP_HARDSWISH]   = {CK(CK_HARDSWISH), emit_elementwise, 0, NULL},
	[SN_OP_HARDSIGMOID] = {CK(CK_HARDSIGMOID), emit_elementwise, 0, NULL},
	[SN_OP_SILU]        = {CK(CK_SILU), emit_elementwise, 0, NULL},
	[SN_OP_GELU]        = {CK(CK_GELU), emit_elementwise, 0, NULL},
	[SN_OP_FLATTEN]     = {0, emit_copy, 0, emit_copy},
	[SN_OP_DROPOUT]     = {0, emit_copy, 0, emit_copy},
	[SN_OP_MAXPOOL]     = {CK(CK_POOL), emit_pool, CK(CK_QPOOL), emit_pool},
	[SN_OP_AVGPOOL]     = {CK(CK_POOL), emit_pool, CK(CK_QPOOL), emit_pool},
	[SN_OP_GAP]         = {CK(CK_GAP), emit_gap, CK(CK_QGAP), emit_qgap},
	[SN_OP_ADD]         = {CK(CK_ADD), emit_add, CK(CK_QADD), emit_qadd},
	[SN_OP_MUL]         = {CK(CK_MUL), emit_mul, 0, NULL},
	[SN_OP_CONCAT]      = {0, emit_concat, 0, emit_qconcat},
	[SN_OP_SHUFFLE]     = {CK(CK_CHMAP), emit_chmap, CK(CK_CHMAP), emit_chmap},
	[SN_OP_SLICE]       = {CK(CK_CHMAP), emit_chmap, CK(CK_CHMAP), emit_chmap},
	[SN_OP_PAD]         = {CK(CK_PAD), emit_pad, 0, NULL},
	[SN_OP_SOFTMAX]     = {CK(CK_SOFTMAX), emit_softmax, 0, NULL},
	[SN_OP_SE]          = {0, emit_refused, 0, NULL},
};

const cg_emitter *cg_emitter_of(sn_op op)
{
	return (unsigned)op < SN_OP_COUNT && rows[op].f32 ? &rows[op] : NULL;
}
