/* MaxPool2d and AvgPool2d with per-side padding, stride and ceil_mode, sized as PyTorch does.
 * MaxPool keeps the argmax of each window for backward; AvgPool follows count_include_pad. */
#include <float.h>
#include <math.h>
#include <omp.h>
#include "core/internal.h"
#include "core/quant.h"
#include "kernels/maxpool2x2.h"

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

/* MaxPool 2x2 over every plane, of floats (arg: training's indices, or NULL) or of int8 (q8):
 * the output rows split into one contiguous range per thread. */
static void maxpool2x2(const void *x, sn_shape in, sn_shape out, int planes, int q8, void *y, int32_t *arg)
{
	const size_t rows = (size_t)planes * out.h, n = (size_t)planes * in.h * in.w;
	#pragma omp parallel
	{
		const size_t t = (size_t)omp_get_thread_num(), nt = (size_t)omp_get_num_threads();
		const size_t r0 = rows * t / nt, r1 = rows * (t + 1) / nt;
		if (q8) sn_s8_maxpool2x2(x, in.h, in.w, out.h, out.w, r0, r1, (const int8_t *)x + n, y);
		else sn_f32_maxpool2x2(x, in.h, in.w, out.h, out.w, r0, r1, (const float *)x + n, y, arg);
	}
}

/* The fast path fits: 2x2 stride 2 without padding, every window inside the image (ceil_mode
 * on an odd size adds a partial last window). */
static int is_2x2(const sn_pool_attr *a, sn_shape in, sn_shape out)
{
	return a->kh == 2 && a->kw == 2 && a->sh == 2 && a->sw == 2 && !a->pt && !a->pb && !a->pl && !a->pr &&
	       2 * out.h <= in.h && 2 * out.w <= in.w;
}
/* The max-pool's fuses_into_input: 2x2 after a conv that can write it (ops/conv.c). */
static int maxpool_fuses(const sn_graph *g, const sn_node *n)
{
	const sn_node *p = &g->node[n->in[0]];
	return is_2x2(&n->a.pool, p->out, n->out) && sn_conv_can_pool(g, p);
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
	if (sn_rt(plan, n)->by_input) return;   /* the conv before it wrote the output */
	const sn_pool_attr *a = &n->a.pool;
	sn_shape in = sn_in(g, n, 0)->out, out = n->out;
	const float *X = sn_rt_in(plan, n, 0)->y;
	float *Y = sn_rt(plan, n)->y;
	const int planes = plan->batch * in.c, is_max = n->op == SN_OP_MAXPOOL;
	int32_t *arg = sn_rt(plan, n)->saved;
	if (is_max && is_2x2(a, in, out)) { maxpool2x2(X, in, out, planes, 0, Y, arg); return; }
	#pragma omp parallel for schedule(static)
	for (int pl = 0; pl < planes; pl++) {
		const float *x = X + (size_t)pl * in.h * in.w;
		float *y = Y + (size_t)pl * out.h * out.w;
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

/* int8: MaxPool keeps its input's parameters (the quantizer gives it them), so the largest
 * int8 of a window is the output; AvgPool sums (x - x_zp) over the window in int32 and
 * requantizes the mean with x_scale / (y_scale * divisor). */
int sn_q8_op_pool(sn_graph *g, sn_node *n, sn_plan *plan, sn_action act)
{
	if (act != SN_ACT_FORWARD || sn_rt(plan, n)->by_input) return SN_OK;   /* by_input: the conv pooled its sums */
	const sn_pool_attr *a = &n->a.pool;
	const sn_shape in = sn_in(g, n, 0)->out, out = n->out;
	const sn_qparams xq = sn_in(g, n, 0)->q->y, yq = n->q->y;
	const int8_t *X = sn_rt_in(plan, n, 0)->q;
	int8_t *Y = sn_rt(plan, n)->q;
	const int planes = plan->batch * in.c, is_max = n->op == SN_OP_MAXPOOL;
	if (is_max && is_2x2(a, in, out)) { maxpool2x2(X, in, out, planes, 1, Y, NULL); return SN_OK; }
	#pragma omp parallel for schedule(static)
	for (int pl = 0; pl < planes; pl++) {
		const int8_t *x = X + (size_t)pl * in.h * in.w;
		int8_t *y = Y + (size_t)pl * out.h * out.w;
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
                                     .path = "direct", .run_q8 = sn_q8_op_pool,
                                     .fuses_into_input = maxpool_fuses};
const sn_op_def sn_op_def_avgpool = {"avgpool", "AvgPool2d", 1, 1, sn_op_pool, SN_ATTRS(avgpool_attrs), .chan = SN_CH_PASS,
                                     .path = "direct", .run_q8 = sn_q8_op_pool};
