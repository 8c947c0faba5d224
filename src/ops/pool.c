/* MaxPool2d and AvgPool2d with per-side padding, stride and ceil_mode, sized as PyTorch does.
 * MaxPool keeps the argmax of each window for backward; AvgPool follows count_include_pad. */
#include <float.h>
#include <math.h>
#include "core/internal.h"
#include "core/quant.h"

static int out_size(int in, int k, int p0, int p1, int s, int ceil_mode)
{
	int num = in + p0 + p1 - k + (ceil_mode ? s - 1 : 0);
	if (num < 0) return 0;
	int o = num / s + 1;
	if (ceil_mode && (o - 1) * s >= in + p0) o--;   /* the last window may not start in the padding */
	return o;
}

static int pool_shape(sn_graph *g, sn_node *n)
{
	const sn_pool_attr *a = &n->a.pool;
	sn_shape in = sn_in(g, n, 0)->out;
	if (in.rank != 4) return sn_shape_error(n, in, "pooling needs an image input [N, C, H, W]");
	if (2 * SN_MAX(a->pt, a->pb) > a->kh || 2 * SN_MAX(a->pl, a->pr) > a->kw)
		return sn_seterr(SN_EINVAL, "layer '%s': padding must be at most half the kernel size", n->name);
	n->out = (sn_shape){4, in.c, out_size(in.h, a->kh, a->pt, a->pb, a->sh, a->ceil_mode),
	                    out_size(in.w, a->kw, a->pl, a->pr, a->sw, a->ceil_mode)};
	return SN_OK;
}

/* Window of output (oh, ow) clipped to the image; *div is AvgPool's divisor. */
static void window(const sn_pool_attr *a, sn_shape in, int oh, int ow, int *h0, int *h1, int *w0, int *w1, int *div)
{
	int hs = oh * a->sh - a->pt, ws = ow * a->sw - a->pl;
	int he = SN_MIN(hs + a->kh, in.h + a->pb), we = SN_MIN(ws + a->kw, in.w + a->pr);
	int full = (he - hs) * (we - ws);
	*h0 = SN_MAX(hs, 0); *w0 = SN_MAX(ws, 0); *h1 = SN_MIN(he, in.h); *w1 = SN_MIN(we, in.w);
	*div = a->count_include_pad ? full : (*h1 - *h0) * (*w1 - *w0);
}

/* MaxPool 2x2 stride 2 without padding: the common case, without the per-window bounds logic.
 * NaN propagates as in the general path: a value replaces the running maximum when it is
 * larger or NaN. */
typedef float pool_v8 __attribute__((vector_size(32)));
typedef int32_t pool_i8 __attribute__((vector_size(32)));

/* y[i] = max of the window at r0[2i], r0[2i + 1], r1[2i], r1[2i + 1] for i < 8, and with arg its
 * index: k0 + 2i (+ 1, + w, + w + 1). One function without vector arguments or results (their
 * ABI would depend on whether the build enables AVX). */
static inline void pool_max8(const float *r0, const float *r1, float *y, int32_t *arg, int32_t k0, int32_t w)
{
	pool_v8 a0, a1, b0, b1;
	memcpy(&a0, r0, 32); memcpy(&a1, r0 + 8, 32); memcpy(&b0, r1, 32); memcpy(&b1, r1 + 8, 32);
	const pool_i8 even = {0, 2, 4, 6, 8, 10, 12, 14}, odd = even + 1;
	const pool_v8 c[4] = {__builtin_shuffle(a0, a1, even), __builtin_shuffle(a0, a1, odd), __builtin_shuffle(b0, b1, even),
	                      __builtin_shuffle(b0, b1, odd)};
	const int32_t off[4] = {0, 1, w, w + 1};
	pool_v8 v = c[0];
	pool_i8 k = even + k0;
	for (int i = 1; i < 4; i++) {   /* c[i] replaces v (and its index k) where larger or NaN */
		const pool_i8 m = (c[i] > v) | (c[i] != c[i]);
		k = ((even + (k0 + off[i])) & m) | (k & ~m);
		v = (pool_v8)(((pool_i8)c[i] & m) | ((pool_i8)v & ~m));
	}
	memcpy(y, &v, 32);
	if (arg) memcpy(arg, &k, 32);
}

/* 8 outputs at a time in the compiler's generic vectors (rows of 7 or 14 outputs are too short
 * for its own vectorised loops, and its scalar code branched on random data), the last ones
 * through a zero-padded copy. arg (training): each output's input index, for backward. */
static void maxpool2x2(const float *x, sn_shape in, sn_shape out, float *y, int32_t *arg)
{
	for (int oh = 0; oh < out.h; oh++) {
		const float *r0 = x + (size_t)2 * oh * in.w, *r1 = r0 + in.w;
		float *yr = y + (size_t)oh * out.w;
		int32_t *ar = arg ? arg + (size_t)oh * out.w : NULL;
		const int32_t at = 2 * oh * in.w;
		int ow = 0;
		for (; ow + 8 <= out.w; ow += 8) pool_max8(r0 + 2 * ow, r1 + 2 * ow, yr + ow, ar ? ar + ow : NULL, at + 2 * ow, in.w);
		if (ow < out.w) {
			const int n = out.w - ow;
			float t0[16] = {0}, t1[16] = {0}, t[8];
			int32_t k[8];
			memcpy(t0, r0 + 2 * ow, 2 * (size_t)n * sizeof *t0);
			memcpy(t1, r1 + 2 * ow, 2 * (size_t)n * sizeof *t1);
			pool_max8(t0, t1, t, k, at + 2 * ow, in.w);
			memcpy(yr + ow, t, (size_t)n * sizeof *t);
			if (ar) memcpy(ar + ow, k, (size_t)n * sizeof *k);
		}
	}
}

/* The fast path fits: 2x2 stride 2 without padding, every window inside the image (ceil_mode
 * on an odd size adds a partial last window). */
static int is_2x2(const sn_pool_attr *a, sn_shape in, sn_shape out)
{
	return a->kh == 2 && a->kw == 2 && a->sh == 2 && a->sw == 2 && !a->pt && !a->pb && !a->pl && !a->pr &&
	       2 * out.h <= in.h && 2 * out.w <= in.w;
}

/* t replaces the running maximum v where it is larger or NaN (| rather than ||: no branch, so
 * the row loops below vectorise) */
static inline int pool_takes(float t, float v) { return (t > v) | (t != t); }

/* MaxPool at inference in two passes per output row, each a loop that vectorises: the
 * vertical maximum of the window's rows into a padded row (-inf on the padding, which never
 * wins), then the horizontal maximum of each window of that row. The same values as the
 * per-window loop, NaN included (a NaN anywhere in a window wins it); 0 where the padded row
 * would not fit in t (the caller takes the per-window loop). */
enum { POOL_ROW_MAX = 4096 };
static int maxpool_rows(const float *x, const sn_pool_attr *a, sn_shape in, sn_shape out, float *y, float *t)
{
	const int L = (out.w - 1) * a->sw + a->kw;   /* padded columns the windows read */
	const int n = SN_MIN(in.w, L - a->pl);       /* input columns they read */
	if (L > POOL_ROW_MAX || n <= 0) return 0;
	for (int c = 0; c < L; c++) t[c] = -INFINITY;
	float *tc = t + a->pl;
	for (int oh = 0; oh < out.h; oh++) {
		const int hs = oh * a->sh - a->pt, h0 = SN_MAX(hs, 0), h1 = SN_MIN(hs + a->kh, in.h);
		memcpy(tc, x + (size_t)h0 * in.w, (size_t)n * sizeof *tc);
		for (int i = h0 + 1; i < h1; i++) {
			const float *r = x + (size_t)i * in.w;
			for (int c = 0; c < n; c++) tc[c] = pool_takes(r[c], tc[c]) ? r[c] : tc[c];
		}
		float *yr = y + (size_t)oh * out.w;
		for (int ow = 0; ow < out.w; ow++) yr[ow] = t[ow * a->sw];
		for (int j = 1; j < a->kw; j++)
			for (int ow = 0; ow < out.w; ow++) {
				const float v = t[ow * a->sw + j];
				yr[ow] = pool_takes(v, yr[ow]) ? v : yr[ow];
			}
	}
	return 1;
}

static void pool_forward(sn_graph *g, sn_node *n, sn_plan *plan)
{
	const sn_pool_attr *a = &n->a.pool;
	sn_shape in = sn_in(g, n, 0)->out, out = n->out;
	const float *X = sn_rt_in(plan, n, 0)->y;
	float *Y = sn_rt(plan, n)->y;
	const int planes = plan->batch * in.c, is_max = n->op == SN_OP_MAXPOOL;
	int32_t *arg = sn_rt(plan, n)->saved;
	#pragma omp parallel for schedule(static)
	for (int pl = 0; pl < planes; pl++) {
		const float *x = X + (size_t)pl * in.h * in.w;
		float *y = Y + (size_t)pl * out.h * out.w;
		if (is_max && is_2x2(a, in, out)) { maxpool2x2(x, in, out, y, arg ? arg + (size_t)pl * out.h * out.w : NULL); continue; }
		float row[POOL_ROW_MAX];
		if (is_max && !arg && maxpool_rows(x, a, in, out, y, row)) continue;
		for (int oh = 0; oh < out.h; oh++)
		for (int ow = 0; ow < out.w; ow++) {
			int h0, h1, w0, w1, div, best = -1;
			window(a, in, oh, ow, &h0, &h1, &w0, &w1, &div);
			float v = is_max ? -FLT_MAX : 0.0f;
			for (int i = h0; i < h1; i++)
				for (int j = w0; j < w1; j++) {
					float t = x[i * in.w + j];
					if (!is_max) v += t;
					else if (best < 0 || pool_takes(t, v)) { v = t; best = i * in.w + j; }
				}
			size_t o = (size_t)pl * out.h * out.w + oh * out.w + ow;
			if (is_max) { y[oh * out.w + ow] = v; if (arg) arg[o] = best; }
			else y[oh * out.w + ow] = v / div;
		}
	}
}

static void pool_backward(sn_graph *g, sn_node *n, sn_plan *plan)
{
	sn_node_rt *p = sn_rt_in(plan, n, 0);
	if (!p->needs_grad) return;
	const sn_pool_attr *a = &n->a.pool;
	sn_shape in = sn_in(g, n, 0)->out, out = n->out;
	const int planes = plan->batch * in.c, acc = sn_dy_accumulate(p);
	const int32_t *arg = sn_rt(plan, n)->saved;
	const float *DY = sn_rt(plan, n)->dy;
	#pragma omp parallel for schedule(static)
	for (int pl = 0; pl < planes; pl++) {
		float *dx = p->dy + (size_t)pl * in.h * in.w;
		const float *dy = DY + (size_t)pl * out.h * out.w;
		if (!acc) memset(dx, 0, (size_t)in.h * in.w * sizeof *dx);
		for (int oh = 0; oh < out.h; oh++)
		for (int ow = 0; ow < out.w; ow++) {
			float d = dy[oh * out.w + ow];
			if (n->op == SN_OP_MAXPOOL) {
				int k = arg[(size_t)pl * out.h * out.w + oh * out.w + ow];
				if (k >= 0) dx[k] += d;
				continue;
			}
			int h0, h1, w0, w1, div;
			window(a, in, oh, ow, &h0, &h1, &w0, &w1, &div);
			for (int i = h0; i < h1; i++)
				for (int j = w0; j < w1; j++) dx[i * in.w + j] += d / div;
		}
	}
}

int sn_op_pool(sn_graph *g, sn_node *n, sn_plan *pl, sn_action act)
{
	switch (act) {
	case SN_ACT_SHAPE: return pool_shape(g, n);
	case SN_ACT_SIZES:
		if (pl->train && n->op == SN_OP_MAXPOOL) sn_rt(pl, n)->saved_bytes = (size_t)pl->batch * sn_shape_numel(n->out) * sizeof(int32_t);
		return SN_OK;
	case SN_ACT_FORWARD: pool_forward(g, n, pl); return SN_OK;
	case SN_ACT_BACKWARD: pool_backward(g, n, pl); return SN_OK;
	}
	return SN_OK;
}

/* int8 MaxPool 2x2 stride 2 without padding: the common case, a byte max the compiler vectorises. */
static void q8_maxpool2x2(const int8_t *x, sn_shape in, sn_shape out, int8_t *y)
{
	for (int oh = 0; oh < out.h; oh++) {
		const int8_t *r0 = x + (size_t)2 * oh * in.w, *r1 = r0 + in.w;
		int8_t *yo = y + (size_t)oh * out.w;
		for (int ow = 0; ow < out.w; ow++) {
			const int8_t a = SN_MAX(r0[2 * ow], r0[2 * ow + 1]), b = SN_MAX(r1[2 * ow], r1[2 * ow + 1]);
			yo[ow] = SN_MAX(a, b);
		}
	}
}

/* int8: MaxPool keeps its input's parameters (the quantizer gives it them), so the largest
 * int8 of a window is the output; AvgPool sums (x - x_zp) over the window in int32 and
 * requantizes the mean with x_scale / (y_scale * divisor). */
int sn_q8_op_pool(sn_graph *g, sn_node *n, sn_plan *plan, sn_action act)
{
	if (act != SN_ACT_FORWARD) return SN_OK;
	const sn_pool_attr *a = &n->a.pool;
	const sn_shape in = sn_in(g, n, 0)->out, out = n->out;
	const sn_qparams xq = sn_in(g, n, 0)->q->y, yq = n->q->y;
	const int8_t *X = sn_rt_in(plan, n, 0)->q;
	int8_t *Y = sn_rt(plan, n)->q;
	const int planes = plan->batch * in.c, is_max = n->op == SN_OP_MAXPOOL;
	#pragma omp parallel for schedule(static)
	for (int pl = 0; pl < planes; pl++) {
		const int8_t *x = X + (size_t)pl * in.h * in.w;
		int8_t *y = Y + (size_t)pl * out.h * out.w;
		if (is_max && is_2x2(a, in, out)) { q8_maxpool2x2(x, in, out, y); continue; }
		for (int oh = 0; oh < out.h; oh++)
			for (int ow = 0; ow < out.w; ow++) {
				int h0, h1, w0, w1, div;
				window(a, in, oh, ow, &h0, &h1, &w0, &w1, &div);
				int32_t v = is_max ? -128 : 0;
				for (int i = h0; i < h1; i++)
					for (int j = w0; j < w1; j++) {
						const int32_t t = x[i * in.w + j];
						v = is_max ? SN_MAX(v, t) : v + t - xq.zero_point;
					}
				y[oh * out.w + ow] = is_max ? (int8_t)v
				                            : sn_q_output(v, sn_q_multiplier((double)xq.scale / ((double)yq.scale * div)),
				                                          yq.zero_point, -128, 127);
			}
	}
	return SN_OK;
}

#define POOL_ATTRS \
	{.key = "k", .type = SN_AT_PAIR, .flags = SN_AF_REQUIRED, .off = {SN_AT(a.pool.kh), SN_AT(a.pool.kw)}, .lo = 1, \
	 .hi = SN_ATTR_INT_MAX, .expect = "K or KHxKW with integers " SN_ATTR_INT_RANGE ", e.g. k=3 or k=1x7"}, \
	{.key = "stride", .type = SN_AT_PAIR, .off = {SN_AT(a.pool.sh), SN_AT(a.pool.sw)}, .lo = 1, .hi = SN_ATTR_INT_MAX, \
	 .def_key = "k", .expect = "S or SHxSW with integers " SN_ATTR_INT_RANGE},   /* PyTorch: the kernel size */ \
	SN_ATTR_PADS(a.pool, 0, "P, PHxPW or T,B,L,R (integers >= 0)"), \
	SN_ATTR_BOOL("ceil", a.pool.ceil_mode, 0)
static const sn_attr_def maxpool_attrs[] = {POOL_ATTRS};
static const sn_attr_def avgpool_attrs[] = {POOL_ATTRS, SN_ATTR_BOOL("count_include_pad", a.pool.count_include_pad, 1)};

const sn_op_def sn_op_def_maxpool = {"maxpool", "MaxPool2d", 1, 1, sn_op_pool, SN_OPF_Q8_SAME, SN_ATTRS(maxpool_attrs), .chan = SN_CH_PASS,
                                     .path = "direct", .run_q8 = sn_q8_op_pool};
const sn_op_def sn_op_def_avgpool = {"avgpool", "AvgPool2d", 1, 1, sn_op_pool, SN_ATTRS(avgpool_attrs), .chan = SN_CH_PASS,
                                     .path = "direct", .run_q8 = sn_q8_op_pool};
