/* Conv2d: groups, dilation, stride, per-side padding, four padding modes, optional bias, and an
 * optional fused ReLU/ReLU6 (applied where the output is written; backward masks dy by its
 * derivative, read from y as the ReLU operator does).
 * Depthwise convs (groups == input channels) with zero padding run the direct kernels of
 * kernels/dwconv.c, over (image x channel) planes, keeping nothing for backward. The others are
 * GEMMs per group: W_g [Cout/g x Cin/g*kh*kw] x col_g [Cin/g*kh*kw x OH*OW]. Inference runs them
 * tile by tile (forward_tiled: a tile's col is built in cache, bias and activation fused into the
 * GEMM). Training keeps the batch's col in the arena for the weight gradient and runs one GEMM
 * per group over the batch; 1x1 stride-1 unpadded convs use the input itself as col.
 * Where oneDNN is there (kernels/dnnl_conv.h) and the shape suits it (see dnnl_plan), the plan
 * runs the conv on oneDNN instead, forward and backward, and keeps no col. */
#include <omp.h>
#include "core/internal.h"
#include "core/quant.h"
#include "core/sparse.h"
#include "kernels/dnnl_conv.h"
#include "kernels/maxpool2x2.h"
#include "kernels/kernels.h"

static sn_conv_geom geom(const sn_node *n, sn_shape in) { return sn_node_conv_geom(n, in); }

static inline float fused(float v, int act)
{
	if (act == SN_FUSE_NONE) return v;
	v = v > 0 ? v : 0;   /* NaN -> 0, as the ReLU operator */
	return act == SN_FUSE_RELU6 && v > 6 ? 6 : v;
}

/* dy *= the fused activation's derivative, from y (y in (0, 6) exactly where x is). A ReLU,
 * ReLU6 or Flatten working in place on y leaves that test unchanged. */
static void mask_fused_grad(sn_plan *pl, sn_node *n)
{
	const int act = n->a.conv.act;
	const size_t N = (size_t)pl->batch * sn_shape_numel(n->out);
	const float *y = sn_rt(pl, n)->y;
	float *dy = sn_rt(pl, n)->dy;
	#pragma omp parallel for simd schedule(static)
	for (size_t i = 0; i < N; i++) dy[i] = y[i] > 0 && (act != SN_FUSE_RELU6 || y[i] < 6) ? dy[i] : 0.0f;
}

/* ---------------------------------------------------------------- depthwise */

/* Per-thread scratch of the depthwise kernels (floats, rounded to whole cache lines). */
static size_t dw_scratch(const sn_graph *g, const sn_node *n, int backward)
{
	sn_conv_geom ge = geom(n, g->node[n->in[0]].out);
	return (sn_f32_dwconv_buffer_size(&ge, backward) + 15) & ~(size_t)15;
}

/* Weight-gradient partial sums, one set per image so that threads never share one and the sum
 * over images runs in a fixed order (the same result for any thread count). */
static size_t dw_partials(const sn_plan *pl, const sn_node *n)
{
	return n->frozen ? 0 : (size_t)pl->batch * n->a.conv.out_c * n->a.conv.kh * n->a.conv.kw;
}

/* Threads whose scratch fits the planned workspace after `reserved` floats. */
static int dw_threads(const sn_plan *pl, size_t per, size_t reserved)
{
	size_t slots = (pl->ws_bytes / sizeof(float) - reserved) / per;
	return (int)SN_MAX(1, SN_MIN((size_t)sn_get_threads(), slots));
}

/* A 2x2 max-pool fused into the conv (sn_node_rt.writes_next): each thread's scratch ends with
 * room for this many output floats, which it pools from while they are in cache; the conv's own
 * output is never stored. At least one plane, at most one image's output, else DW_POOL_FLOATS. */
#define DW_POOL_FLOATS 32768
static size_t dw_pool_floats(const sn_node *n)
{
	const size_t ohw = (size_t)n->out.h * n->out.w;
	return SN_MAX(ohw, SN_MIN((size_t)n->a.conv.out_c * ohw, (size_t)DW_POOL_FLOATS));
}

int sn_conv_can_pool(const sn_graph *g, const sn_node *n)
{
	if (n->op != SN_OP_CONV) return 0;
	if (sn_node_runs_int8(n)) return sn_q8_conv_can_pool(g, n);
	return sn_conv_dw_direct(&n->a.conv, g->node[n->in[0]].out.c);
}

/* nx input planes (nm outputs each) of one work item through t (cap floats), a call over as many
 * planes as fit, each pooled into y (the pool's planes for the item, po each). */
static void dw_pooled(sn_isa isa, const sn_conv_geom *ge, const float *x, const float *w, const float *bias, int nx,
                      int nm, int act, float *y, sn_shape po, float *t, size_t cap, float *scratch)
{
	const size_t ohw = (size_t)ge->oh * ge->ow, pohw = (size_t)po.h * po.w, kk = (size_t)ge->kh * ge->kw,
	             xhw = (size_t)ge->h * ge->w, per_x = (size_t)nm * ohw;
	const int xs = per_x <= cap ? (int)(cap / per_x) : 1, ms = per_x <= cap ? nm : (int)(cap / ohw);
	for (int i = 0; i < nx; i += xs)
		for (int m = 0; m < nm; m += ms) {
			const int ni = SN_MIN(xs, nx - i), nmm = SN_MIN(ms, nm - m);
			const size_t o = (size_t)i * nm + m, planes = (size_t)ni * nmm;
			sn_f32_dwconv_forward(isa, ge, x + i * xhw, w + o * kk, bias ? bias + o : NULL, ni, nmm, act, t, scratch);
			sn_f32_maxpool2x2(t, ge->oh, ge->ow, po.h, po.w, 0, planes * po.h, t + planes * ohw, y + o * pohw, NULL);
		}
}

/* Work items: with a depth multiplier on few planes (one image, one input channel), slices of
 * the multiplier's outputs; else runs of input planes of one image, about 4 per thread in all
 * (a call over several planes shares the kernel's setup). */
static void dw_forward(sn_graph *g, sn_node *n, sn_plan *pl)
{
	const sn_conv_attr *a = &n->a.conv;
	sn_shape in = sn_in(g, n, 0)->out;
	sn_conv_geom ge = geom(n, in);
	const int B = pl->batch, C = in.c, M = a->out_c / C;
	const sn_node *pool = sn_rt(pl, n)->writes_next ? &g->node[sn_rt(pl, n)->writes_next] : NULL;
	const size_t cap = pool ? dw_pool_floats(n) : 0, kern = dw_scratch(g, n, 0), per = kern + cap;
	const size_t kk = (size_t)a->kh * a->kw, xhw = (size_t)in.h * in.w;
	const size_t ohw = pool ? (size_t)pool->out.h * pool->out.w : (size_t)n->out.h * n->out.w;   /* of y's planes */
	const int T = dw_threads(pl, per, 0);
	const int split = B * C >= 2 * T ? 1 : SN_MIN(M, (2 * T + B * C - 1) / (B * C)), mc = (M + split - 1) / split;
	const int runs = split > 1 ? C : SN_MIN(C, SN_MAX(1, (4 * T + B - 1) / B)), rc = (C + runs - 1) / runs;
	const sn_isa isa = sn_dw_best_isa();
	const float *X = sn_rt_in(pl, n, 0)->y, *w = sn_t(g, n, SN_T_WEIGHT)->data;
	float *Y = pool ? sn_rt(pl, pool)->y : sn_rt(pl, n)->y, *ws = pl->ws;
	const sn_tensor *bias = sn_t(g, n, SN_T_BIAS);
	#pragma omp parallel for num_threads(T) schedule(static)
	for (long it = 0; it < (long)B * runs * split; it++) {
		const int b = (int)(it / ((long)runs * split)), c0 = (int)(it / split % runs) * rc, m0 = (int)(it % split) * mc;
		if (m0 >= M || c0 >= C) continue;
		const int nx = SN_MIN(rc, C - c0), nm = split > 1 ? SN_MIN(mc, M - m0) : M;
		const size_t o = (size_t)c0 * M + m0;
		float *scratch = ws + (size_t)omp_get_thread_num() * per, *y = Y + ((size_t)b * a->out_c + o) * ohw;
		const float *x = X + ((size_t)b * C + c0) * xhw, *bo = bias ? bias->data + o : NULL;
		if (pool) dw_pooled(isa, &ge, x, w + o * kk, bo, nx, nm, a->act, y, pool->out, scratch + kern, cap, scratch);
		else sn_f32_dwconv_forward(isa, &ge, x, w + o * kk, bo, nx, nm, a->act, y, scratch);
	}
}

const char *sn_conv_dw_kernel(const sn_graph *g, const sn_node *n)
{
	const sn_conv_geom ge = geom(n, g->node[n->in[0]].out);
	return sn_dw_kernel_name(sn_dw_best_isa(), &ge);
}

static void dw_backward(sn_graph *g, sn_node *n, sn_plan *pl)
{
	const sn_conv_attr *a = &n->a.conv;
	sn_node_rt *p = sn_rt_in(pl, n, 0);
	const sn_shape in = sn_in(g, n, 0)->out;
	sn_conv_geom ge = geom(n, in);
	const int B = pl->batch, C = in.c, M = a->out_c / C, acc = p->needs_grad ? sn_dy_accumulate(p) : 0;
	const size_t kk = (size_t)a->kh * a->kw, xhw = (size_t)in.h * in.w, ohw = (size_t)n->out.h * n->out.w;
	const size_t per = dw_scratch(g, n, 1), npart = dw_partials(pl, n);
	const int T = dw_threads(pl, per, npart);
	const sn_isa isa = sn_dw_best_isa();
	sn_tensor *w = sn_t(g, n, SN_T_WEIGHT), *bias = sn_t(g, n, SN_T_BIAS);
	float *part = npart ? pl->ws : NULL, *scratch = pl->ws + npart;
	const float *DY = sn_rt(pl, n)->dy;
	#pragma omp parallel for num_threads(T) schedule(static)
	for (long it = 0; it < (long)B * C; it++) {
		const size_t b = (size_t)(it / C), c = (size_t)(it % C), o = c * M;
		float *dw = part ? part + (b * a->out_c + o) * kk : NULL;
		if (dw) memset(dw, 0, M * kk * sizeof *dw);
		sn_f32_dwconv_backward(isa, &ge, p->y + (b * C + c) * xhw, DY + (b * a->out_c + o) * ohw, w->data + o * kk,
		                       M, p->needs_grad ? p->dy + (b * C + c) * xhw : NULL, acc, dw,
		                       scratch + (size_t)omp_get_thread_num() * per);
	}
	if (!part) return;
	#pragma omp parallel for schedule(static)
	for (size_t q = 0; q < (size_t)a->out_c * kk; q++) {
		float s = 0;
		for (int b = 0; b < B; b++) s += part[(size_t)b * a->out_c * kk + q];
		w->grad[q] += s;
	}
	if (!bias) return;
	#pragma omp parallel for schedule(static)
	for (int o = 0; o < a->out_c; o++) {
		double s = 0;
		for (int b = 0; b < B; b++)
			for (size_t q = 0; q < ohw; q++) s += DY[((size_t)b * a->out_c + o) * ohw + q];
		bias->grad[o] += (float)s;
	}
}

/* ---------------------------------------------------------------- oneDNN
 * Measured on bench/'s and ResNet-18's shapes (bench/onednn_conv.c, docs/benchmarks.md),
 * oneDNN's convolution loops (brgconv / jit, AVX-512 or AVX2 by the CPU) beat im2col + GEMM on
 * most dense shapes, but they work in channel-blocked layouts: slimnn's NCHW input is reordered
 * before and the output after, and the weights too (training: on every run; inference plans
 * pack them once). Only enough multiply-adds per reordered value pay for that traffic:
 * - inference: a 1x1 32 -> 64 on 112x112 (21 multiply-adds per reordered value) and a 1x1
 *   stride-2 64 -> 128 (21) ran slower on oneDNN, the 3 -> 32 stem (27: only its output is
 *   reordered) 1.28x faster, 3x3 convs with 32+ channels (>= 144) 1.15-1.4x:
 *   DNNL_MIN_INTENSITY. With the weights packed, few pixels do not matter: 3x3 512 -> 512 at
 *   7x7 and batch 1 ran 1.33x faster (2.29 against 3.05 ms, 1 thread; 0.9x when it reordered
 *   them per run), 64 -> 64 at 7x7 1.6x, 512 -> 512 at 2x2 3.6x, the 1x1 stride-2 256 -> 512
 *   at 7x7 1.7x. Pointwise convs (1x1, stride 1, no padding), which the own path runs on the
 *   input in place, gain only with many channels (multiply-adds per reordered value
 *   cin * cout / (cin + cout)): 128 (256 -> 256 on 28x28) and 102 (128 -> 512) were level,
 *   205 (1024 -> 256 and 256 -> 1024 on 14x14) 1.07-1.11x, 256-410 (512 -> 512, 2048 -> 512,
 *   512 -> 2048 on 7x7, SqueezeNet's 512 -> 1000 on 13x13) 1.14-1.43x, at batch 8 too:
 *   DNNL_MIN_INTENSITY_POINTWISE. MobileNetV2's expansions (27-55) ran 0.8x;
 * - training: oneDNN's gradients win by more (its input gradient needs no col2im, its weight
 *   gradient no transposes), on thin convs too (the 3 -> 32 stem): DNNL_MIN_INTENSITY_TRAIN;
 *   but its weight gradient on few pixels per image lost even at batch 32 (512 -> 512 on 7x7:
 *   0.71x): DNNL_MIN_PIXELS per image.
 * Where oneDNN has no direct kernel for a shape (its im2col + GEMM, or its reference loops),
 * the own path runs. */
#define DNNL_MIN_INTENSITY 24.0
#define DNNL_MIN_INTENSITY_POINTWISE 160.0
#define DNNL_MIN_INTENSITY_TRAIN 8.0
#define DNNL_MIN_PIXELS 100

/* Inference plans run 3x3 stride-1 convs on oneDNN's Winograd (its F(4x4, 3x3) jit_wino_4x3 or
 * F(2x2, 3x3) jit_fp32_wino_2x3, its pick; AVX-512 only, elsewhere the direct conv runs), with
 * the weights transformed once when packed. Its fewer multiplies beat the direct conv, which
 * runs near the FMA peak, by more than its transforms cost (bench_onednn --wino-only, src and
 * dst reorders included, Zen 4, 1 thread, CPU clock): 128 -> 128 at 56x56 and 28x28 0.35-0.37x
 * the direct conv's time (4x3), 64 -> 64 at 112x112 0.38x, at 56x56 0.52x (2x3), 256 -> 256 at
 * 14x14 0.51x, 512 -> 512 at 7x7 0.74x, 32 -> 64 at 14x14 batch 32 0.62x, 16 -> 16 at 28x28
 * 0.82x, 64 -> 64 at 7x7 0.87x and at 4x4 0.70x; at batch 32 ResNet-18's 64 -> 64 at 56x56 to
 * 512 -> 512 at 7x7 0.40-0.50x (4x3). It lost with few input channels (8 -> 16: 1.55x, 3 -> 32:
 * 2.6x, 1 -> 32: 5.2x) and on planes smaller than its tiles (512 -> 512 at 2x2: 1.9x):
 * WINO_MIN_CHANNELS, WINO_MIN_PLANE. Its error against a double reference stayed within 2.9e-6
 * of the largest output (the direct conv's 2.5e-7 to 4.2e-7). It costs memory: its packed
 * weights are 16/9 (2x3) or 4 (4x3) times the weights, its scratch more, and the transform that
 * packs them as much again (slimnn bench ResNet-18, batch 1: arena 6.9 -> 21.5 MiB, peak RSS
 * 112 -> 158 MiB; batch 32: 347 -> 459 MiB), and the first pass transforms them (512 -> 512:
 * 38 ms for 2x3, 105 ms for 4x3). Training keeps the direct conv (its weights change at every step).
 * SLIMNN_CONV_WINOGRAD (sn_dnnl_set_winograd) overrides the rule: on takes Winograd for every
 * 3x3 stride-1 conv that oneDNN offers it for, off never. */
#define WINO_MIN_CHANNELS 16
#define WINO_MIN_PLANE 4

static sn_dnnl_conv_desc dnnl_desc(const sn_node *n, sn_shape in, int batch)
{
	const sn_conv_attr *a = &n->a.conv;
	return (sn_dnnl_conv_desc){.n = batch, .c = in.c, .h = in.h, .w = in.w, .o = a->out_c, .oh = n->out.h,
	                           .ow = n->out.w, .kh = a->kh, .kw = a->kw, .sh = a->sh, .sw = a->sw, .dh = a->dh,
	                           .dw = a->dw, .pt = a->pt, .pb = a->pb, .pl = a->pl, .pr = a->pr, .groups = a->groups,
	                           .bias = n->t[SN_T_BIAS] >= 0, .act = a->act};
}

/* Whether an inference plan tries Winograd for conv n (input `in`), by the rule above. */
static int wino_wanted(const sn_node *n, sn_shape in)
{
	const sn_conv_attr *a = &n->a.conv;
	const int mode = sn_dnnl_winograd();
	if (mode == SN_DNNL_WINO_OFF || a->kh != 3 || a->kw != 3 || a->sh != 1 || a->sw != 1 || a->dh != 1 || a->dw != 1 ||
	    a->groups != 1)
		return 0;
	return mode == SN_DNNL_WINO_ON || (in.c >= WINO_MIN_CHANNELS && a->out_c >= WINO_MIN_CHANNELS &&
	                                   n->out.h >= WINO_MIN_PLANE && n->out.w >= WINO_MIN_PLANE);
}

/* A handle on Winograd where asked for and oneDNN offers it, else on the direct conv. */
static sn_dnnl_conv *dnnl_new(const sn_dnnl_conv_desc *d, unsigned what, int wino)
{
	sn_dnnl_conv *c = wino ? sn_dnnl_conv_new(d, what | SN_DNNL_WINOGRAD) : NULL;
	return c ? c : sn_dnnl_conv_new(d, what);
}

/* Decides, when the plan is made, whether this dense conv runs on oneDNN, and makes its
 * handles: one for the planned batch and, for passes over fewer images, one for a single image.
 * Not for padding other than zeros, nor sparse inference; SLIMNN_CONV_ENGINE=own|onednn (or
 * sn_dnnl_set_mode) overrides the shape rule. Where oneDNN refuses the shape, slimnn's own path
 * runs. Inference tries Winograd first where the rule above says. */
static void dnnl_plan(sn_graph *g, sn_node *n, sn_plan *pl)
{
	const sn_conv_attr *a = &n->a.conv;
	const int mode = sn_dnnl_mode();
	sn_node_rt *r = sn_rt(pl, n);
	if (mode == SN_DNNL_OWN || (n->impl == SN_IMPL_SPARSE && !pl->train)) return;
	if (a->mode != SN_PAD_ZEROS && (a->pt || a->pb || a->pl || a->pr)) return;
	if (mode == SN_DNNL_AUTO && pl->train && n->out.h * n->out.w < DNNL_MIN_PIXELS) return;
	const unsigned what = SN_DNNL_FORWARD | (pl->train ? SN_DNNL_BACKWARD : SN_DNNL_PACKED);
	const sn_shape in = sn_in(g, n, 0)->out;
	const int wino = !pl->train && wino_wanted(n, in);
	sn_dnnl_conv_desc d = dnnl_desc(n, in, pl->batch);
	sn_dnnl_conv *c = dnnl_new(&d, what, wino), *one = NULL;
	if (!c) return;
	const double need = pl->train ? DNNL_MIN_INTENSITY_TRAIN
	                    : sn_conv_pointwise(a) ? DNNL_MIN_INTENSITY_POINTWISE : DNNL_MIN_INTENSITY;
	if (mode == SN_DNNL_AUTO && (sn_dnnl_conv_intensity(c) < need || !sn_dnnl_conv_direct(c))) {
		sn_dnnl_conv_free(c);
		return;
	}
	if (pl->batch > 1) {
		d.n = 1;
		if (!(one = dnnl_new(&d, what, wino))) {
			sn_dnnl_conv_free(c);
			return;
		}
	}
	if (one) sn_dnnl_conv_share_packed(one, c);   /* one copy of the weights where one layout serves both */
	r->dnnl[0] = c;
	r->dnnl[1] = one;
}

const char *sn_conv_dnnl_impl(const sn_plan *p, const sn_node *n)
{
	if (!p || n - p->g->node < 0 || n - p->g->node >= p->n_rt || !sn_rt(p, n)->dnnl[0]) return NULL;
	return sn_dnnl_conv_impl(sn_rt(p, n)->dnnl[0], 0);
}

/* The batch in one call where the plan's batch runs, else image by image. */
static void dnnl_forward(sn_graph *g, sn_node *n, sn_plan *pl)
{
	sn_node_rt *r = sn_rt(pl, n);
	const sn_tensor *bt = sn_t(g, n, SN_T_BIAS);
	const float *X = sn_rt_in(pl, n, 0)->y, *w = sn_t(g, n, SN_T_WEIGHT)->data, *b = bt ? bt->data : NULL;
	const size_t xs = sn_shape_numel(sn_in(g, n, 0)->out), ys = sn_shape_numel(n->out);
	if (pl->batch == pl->planned_batch) { sn_dnnl_conv_forward(r->dnnl[0], X, w, b, r->y, pl->ws); return; }
	for (int i = 0; i < pl->batch; i++) sn_dnnl_conv_forward(r->dnnl[1], X + i * xs, w, b, r->y + i * ys, pl->ws);
}

static void dnnl_backward(sn_graph *g, sn_node *n, sn_plan *pl)
{
	sn_node_rt *r = sn_rt(pl, n), *p = sn_rt_in(pl, n, 0);
	sn_tensor *w = sn_t(g, n, SN_T_WEIGHT), *bt = sn_t(g, n, SN_T_BIAS);
	const int acc = p->needs_grad ? sn_dy_accumulate(p) : 0;
	float *dw = n->frozen ? NULL : w->grad, *db = bt && !n->frozen ? bt->grad : NULL;
	const size_t xs = sn_shape_numel(sn_in(g, n, 0)->out), ys = sn_shape_numel(n->out);
	if (pl->batch == pl->planned_batch) {
		sn_dnnl_conv_backward(r->dnnl[0], p->y, w->data, r->dy, p->needs_grad ? p->dy : NULL, acc, dw, db, pl->ws);
		return;
	}
	for (int i = 0; i < pl->batch; i++)
		sn_dnnl_conv_backward(r->dnnl[1], p->y + i * xs, w->data, r->dy + i * ys, p->needs_grad ? p->dy + i * xs : NULL,
		                      acc, dw, db, pl->ws);
}

/* ---------------------------------------------------------------- im2col + GEMM */

static int conv_shape(sn_graph *g, sn_node *n)
{
	sn_conv_attr *a = &n->a.conv;
	sn_shape in = sn_in(g, n, 0)->out;
	char msg[160];
	if (in.rank != 4) return sn_shape_error(n, in, "Conv2d needs an image input [N, C, H, W]");
	if (in.c % a->groups || a->out_c % a->groups) {
		snprintf(msg, sizeof msg, "groups=%d must divide both the %d input and the %d output channels",
		         a->groups, in.c, a->out_c);
		return sn_shape_error(n, in, msg);
	}
	if (a->same) {
		if (a->sh != 1 || a->sw != 1)
			return sn_seterr(SN_EINVAL, "layer '%s': pad=same needs stride 1 (as in PyTorch)", n->name);
		int th = a->dh * (a->kh - 1), tw = a->dw * (a->kw - 1);
		a->pt = th / 2; a->pb = th - a->pt; a->pl = tw / 2; a->pr = tw - a->pl;
	}
	if (a->mode != SN_PAD_ZEROS) {
		int lim_h = a->mode == SN_PAD_CIRCULAR ? in.h : in.h - 1, lim_w = a->mode == SN_PAD_CIRCULAR ? in.w : in.w - 1;
		if (SN_MAX(a->pt, a->pb) > lim_h || SN_MAX(a->pl, a->pr) > lim_w) {
			snprintf(msg, sizeof msg, "padding %d,%d,%d,%d is too large for mode %s on this input",
			         a->pt, a->pb, a->pl, a->pr, a->mode == SN_PAD_CIRCULAR ? "circular" : "reflect/replicate");
			return sn_shape_error(n, in, msg);
		}
	}
	/* 64-bit: a hostile file may stack huge paddings */
	long long eh = (long long)a->dh * (a->kh - 1) + 1, ew = (long long)a->dw * (a->kw - 1) + 1;
	long long ph = (long long)in.h + a->pt + a->pb, pw = (long long)in.w + a->pl + a->pr;
	if (ph < eh || pw < ew) {
		snprintf(msg, sizeof msg, "the %dx%d kernel (dilated %lldx%lld) is larger than the padded input %lldx%lld",
		         a->kh, a->kw, eh, ew, ph, pw);
		return sn_shape_error(n, in, msg);
	}
	if (ph > SN_DIM_MAX || pw > SN_DIM_MAX) return sn_shape_error(n, in, "the padded input is too large");
	n->out = (sn_shape){4, a->out_c, (int)((ph - eh) / a->sh + 1), (int)((pw - ew) / a->sw + 1)};
	int wd[4] = {a->out_c, in.c / a->groups, a->kh, a->kw};
	int rc = sn_need_tensor(g, n, SN_T_WEIGHT, 4, wd);
	if (rc) return rc;
	if (a->bias) return sn_need_tensor(g, n, SN_T_BIAS, 1, &a->out_c);
	sn_drop_tensor(g, n, SN_T_BIAS);
	return SN_OK;
}

static size_t col_floats(const sn_node *n, sn_shape in)
{
	return (size_t)in.c * n->a.conv.kh * n->a.conv.kw * n->out.h * n->out.w;
}

/* Inference splits each image's output pixels into tiles, and the tiles' col rows into chunks
 * of whole input channels (at most CHUNK_ROWS rows): per chunk, im2col builds only that piece
 * [rows x tile] in the thread's own slice of the workspace and one single-threaded GEMM
 * (kernels/conv_tiled_avx2.c) adds its product to y's tile (ldc = OH*OW), bias and activation
 * applied in registers. A chunk of TILE_BYTES, the weights' columns it meets and the y tile stay
 * in L2 (512 KiB a core here); building the whole col first (14 MiB for 128 -> 128 3x3 on 56x56)
 * and one GEMM over it took 15.2 ms on one thread, the tiles 10.6-11.5.
 * The threads share the (image, tile) pairs rather than the output channels of one tile: each
 * core has its own L2, so both would have to build the same chunk. Batches of small images run
 * one tile per image rather than one GEMM over the batch: that GEMM's [Cout x B*OH*OW] result
 * needs a transpose into NCHW, a pass over y that costs more than the pixel tail of each image
 * (14x14: 12 blocks of 16 pixels and one of 4). */
#define CHUNK_ROWS 256
#define TILE_BYTES (256u << 10)
#define TILE_MIN 64
#define TILE_MAX 512

/* Input channels per chunk of a group's cg channels: equal chunks of at most CHUNK_ROWS rows. */
static int chunk_channels(int cg, int kk)
{
	const int nc = SN_MAX(1, (cg * kk + CHUNK_ROWS - 1) / CHUNK_ROWS);
	return (cg + nc - 1) / nc;
}

/* Col rows of one chunk (the most, for the workspace) */
static size_t chunk_rows(const sn_node *n, sn_shape in)
{
	const int kk = n->a.conv.kh * n->a.conv.kw;
	return (size_t)chunk_channels(in.c / n->a.conv.groups, kk) * kk;
}

/* The most pixels per tile: TILE_BYTES of a chunk, a multiple of 16 (the GEMM's register
 * blocks), whole images up to TILE_MAX pixels. */
static size_t tile_cap(size_t rows, size_t ohw)
{
	size_t t = TILE_BYTES / (rows * sizeof(float)) & ~(size_t)15;
	t = SN_MIN(SN_MAX(t, TILE_MIN), TILE_MAX);
	return SN_MIN(t, (ohw + 15) & ~(size_t)15);
}

/* Floats between a chunk's rows: whole cache lines, an odd number of them, so that the GEMM's
 * column blocks [rows x 16] spread over all L1 sets. */
static size_t tile_ld(size_t np)
{
	size_t ld = (np + 15) & ~(size_t)15;
	return ld / 16 % 2 ? ld : ld + 16;
}

/* 1x1 stride-1 convs read x in place (rows OH*OW apart) when one image's x fits in a chunk's
 * room anyway; larger ones copy each chunk (a plain im2col): the column blocks the GEMM reads
 * from x's far-apart rows came from L3 or memory and measured up to 25 % slower (256 -> 256 on
 * 28x28: 1.51 against 1.14 ms), while the copy streams whole rows into L2. So do rows an even
 * number of cache lines apart (32x32 images: 4 KiB), whose column blocks would share few L1 sets. */
static int tiled_direct(const sn_node *n, sn_shape in)
{
	const size_t hw = (size_t)in.h * in.w;
	return sn_conv_pointwise(&n->a.conv) && in.c * hw * sizeof(float) <= TILE_BYTES && (hw % 16 || hw / 16 % 2);
}

/* Workspace floats of the tiled path, per thread: one chunk of col. */
static size_t tiled_col(const sn_node *n, sn_shape in)
{
	const size_t rows = chunk_rows(n, in);
	return tiled_direct(n, in) ? 0 : rows * tile_ld(tile_cap(rows, (size_t)n->out.h * n->out.w));
}

/* Training keeps the whole batch's col as one matrix [Cin*kh*kw x B*OH*OW] (saved), so the
 * weight gradient is one large GEMM. The workspace holds dy transposed to [Cout x B*OH*OW]
 * (and, for pointwise convs, x likewise) during dW, then one dcol per thread during dX. */
static void conv_sizes(sn_graph *g, sn_node *n, sn_plan *pl)
{
	sn_shape in = sn_in(g, n, 0)->out;
	sn_node_rt *r = sn_rt(pl, n);
	const int pw = sn_conv_pointwise(&n->a.conv), train = pl->train;
	const size_t B = (size_t)pl->batch, T = (size_t)sn_get_threads(), cs = col_floats(n, in), F = sizeof(float);
	if (sn_conv_dw_direct(&n->a.conv, in.c)) {
		r->ws_bytes = (T * (dw_scratch(g, n, train) + (r->writes_next ? dw_pool_floats(n) : 0)) + (train ? dw_partials(pl, n) : 0)) * F;
		return;
	}
	dnnl_plan(g, n, pl);
	if (r->dnnl[0]) {
		r->ws_bytes = SN_MAX(sn_dnnl_conv_ws(r->dnnl[0]), r->dnnl[1] ? sn_dnnl_conv_ws(r->dnnl[1]) : 0);
		return;
	}
	if (!train) { r->ws_bytes = T * tiled_col(n, in) * F; return; }
	if (!pw) r->saved_bytes = B * cs * F;
	size_t dw = B * sn_shape_numel(n->out) + (pw ? B * sn_shape_numel(in) : 0);
	size_t dx = sn_rt_in(pl, n, 0)->needs_grad && !pw ? T * cs : 0;
	r->ws_bytes = SN_MAX(dw, dx) * F;
}

/* y[o][p] = act(y[o][p] + bias[o]) for rows rows of n pixels, ld floats apart (bias may be NULL) */
static void bias_act(float *y, size_t ld, int rows, size_t n, const float *bias, int act)
{
	if (!bias && !act) return;
	for (int o = 0; o < rows; o++) {
		float *yo = y + (size_t)o * ld, bo = bias ? bias[o] : 0;
		for (size_t p = 0; p < n; p++) yo[p] = fused(yo[p] + bo, act);
	}
}

/* One image of a training 1x1 conv (the others keep the batch's col: forward_batched):
 * y = W x (+ bias), x itself the col. sn_gemm splits across threads only when called serially. */
static void pointwise_image(sn_graph *g, sn_node *n, const float *x, float *y)
{
	const sn_conv_attr *a = &n->a.conv;
	const int G = a->groups, mg = a->out_c / G, kg = sn_in(g, n, 0)->out.c / G, ohw = n->out.h * n->out.w;
	const float *w = sn_t(g, n, SN_T_WEIGHT)->data;
	for (int gi = 0; gi < G; gi++)
		sn_gemm(0, 0, mg, ohw, kg, 1.0f, w + (size_t)gi * mg * kg, kg, x + (size_t)gi * kg * ohw, ohw, 0.0f,
		        y + (size_t)gi * mg * ohw, ohw);
	sn_tensor *b = sn_t(g, n, SN_T_BIAS);
	bias_act(y, (size_t)ohw, a->out_c, (size_t)ohw, b ? b->data : NULL, a->act);
}

/* y [rows x np] (rows P apart) (+)= W's columns [k0, k0 + kn) of one group's output channels,
 * w [rows x kg], times b [kn x np] (rows ld apart). Without AVX2: OpenBLAS, bias and activation
 * left to the caller. */
static void chunk_gemm(const sn_node *n, int fast, int rows, const float *w, int kg, int k0, int kn, const float *b,
                       size_t ld, size_t np, const float *bias, float *y, size_t P)
{
	if (fast) sn_ct_gemm(rows, (int)np, kg, k0, kn, w, b, ld, bias, n->a.conv.act, y, P);
	else sn_gemm_serial(0, 0, rows, (int)np, kn, 1.0f, w + k0, kg, b, (int)ld, k0 ? 1.0f : 0.0f, y, (int)P);
}

/* One tile [p0, p0 + np) of one image, output channels [m0, m1) of each group: x its input,
 * y its output, col the thread's chunk. */
static void forward_tile(sn_graph *g, const sn_node *n, const sn_conv_geom *ge, int fast, const float *x, size_t p0,
                         size_t np, int m0, int m1, float *col, float *y)
{
	const sn_conv_attr *a = &n->a.conv;
	const int G = a->groups, mg = a->out_c / G, cg = ge->c / G, kk = a->kh * a->kw, kg = cg * kk, rows = m1 - m0;
	const int cc = chunk_channels(cg, kk), direct = tiled_direct(n, sn_in(g, n, 0)->out);
	const size_t P = (size_t)ge->oh * ge->ow, hw = (size_t)ge->h * ge->w, ld = tile_ld(np);
	const float *w = sn_t(g, n, SN_T_WEIGHT)->data;
	const sn_tensor *bt = sn_t(g, n, SN_T_BIAS);
	for (int gi = 0; gi < G; gi++) {
		const size_t o = (size_t)gi * mg + m0;
		const float *wg = w + o * kg, *bg = bt ? bt->data + o : NULL, *xg = x + (size_t)gi * cg * hw;
		float *yg = y + o * P + p0;
		if (direct) chunk_gemm(n, fast, rows, wg, kg, 0, kg, xg + p0, P, np, bg, yg, P);
		else
			for (int c0 = 0; c0 < cg; c0 += cc) {
				sn_conv_geom gc = *ge;
				gc.c = SN_MIN(cc, cg - c0);
				sn_im2col(xg + c0 * hw, &gc, p0, np, col, ld);
				chunk_gemm(n, fast, rows, wg, kg, c0 * kk, gc.c * kk, col, ld, np, bg, yg, P);
			}
		if (!fast) bias_act(yg, P, rows, np, bg, a->act);
	}
}

/* Inference: the tiles (see TILE_BYTES) of all images, spread over the threads. Where the
 * images have fewer than MS_BLOCKS 16-pixel blocks per thread (7x7 at batch 1: 4 blocks), the
 * threads split the output channels instead, in slices of whole 6-row register blocks: split by
 * pixels, each thread streamed all the weights (from L3 in a network) for 32 or 17 pixels, the
 * 17th alone in a block of its own; MobileNetV2's 7x7 1x1 convs took 1.80 ms that way and 1.53
 * split by channels (2 threads). */
#define MS_BLOCKS 4
static void forward_tiled(sn_graph *g, sn_node *n, sn_plan *pl)
{
	sn_shape in = sn_in(g, n, 0)->out;
	sn_conv_geom ge = geom(n, in);
	const int B = pl->batch, fast = sn_cpu_avx2(), mg = n->a.conv.out_c / n->a.conv.groups;
	const size_t P = (size_t)n->out.h * n->out.w, cap = tile_cap(chunk_rows(n, in), P);
	const size_t xs = sn_shape_numel(in), ys = sn_shape_numel(n->out), per = tiled_col(n, in);
	const int T = (int)SN_MAX(1, SN_MIN((size_t)sn_get_threads(), per ? pl->ws_bytes / sizeof(float) / per : SIZE_MAX));
	/* as many tiles as make whole rounds over the threads (more when a tile would exceed cap),
	 * of whole 16-pixel blocks, their sizes one block apart at most */
	const size_t nb = (P + 15) / 16, items = ((size_t)B * ((P + cap - 1) / cap) + T - 1) / T * T;
	size_t nt = SN_MIN(nb, (items + B - 1) / B), ms = 1;
	const size_t mblocks = ((size_t)mg + SN_CT_MR - 1) / SN_CT_MR;
	if (B * nb < (size_t)MS_BLOCKS * T) {
		nt = (P + cap - 1) / cap;
		ms = SN_MIN(mblocks, ((size_t)T + B * nt - 1) / (B * nt));
	}
	const float *X = sn_rt_in(pl, n, 0)->y;
	float *Y = sn_rt(pl, n)->y, *ws = pl->ws;
	#pragma omp parallel for num_threads(T) schedule(static)
	for (long it = 0; it < (long)(B * nt * ms); it++) {
		const size_t b = (size_t)it / (nt * ms), t = (size_t)it / ms % nt, s = (size_t)it % ms, p0 = t * nb / nt * 16;
		const size_t p1 = SN_MIN((t + 1) * nb / nt * 16, P);
		const int m0 = (int)SN_MIN(s * mblocks / ms * SN_CT_MR, (size_t)mg);
		const int m1 = (int)SN_MIN((s + 1) * mblocks / ms * SN_CT_MR, (size_t)mg);
		float *col = per ? ws + (size_t)omp_get_thread_num() * per : NULL;   /* none for 1x1 read in place */
		forward_tile(g, n, &ge, fast, X + b * xs, p0, p1 - p0, m0, m1, col, Y + b * ys);
	}
}

/* [B][rows][hw] <-> [rows][B*hw]; to_rows = 1 goes left to right. On the way back the bias
 * (may be NULL) is added per row and the fused activation applied. */
static void batch_transpose(float *batched, int B, int rows, size_t hw, float *byrow, int to_rows, const float *bias,
                            int act)
{
	#pragma omp parallel for schedule(static)
	for (int r = 0; r < rows; r++)
		for (int b = 0; b < B; b++) {
			float *x = batched + ((size_t)b * rows + r) * hw, *t = byrow + ((size_t)r * B + b) * hw;
			if (to_rows) { memcpy(t, x, hw * sizeof *t); continue; }
			if (!bias && !act) { memcpy(x, t, hw * sizeof *x); continue; }
			for (size_t q = 0; q < hw; q++) x[q] = fused(t[q] + (bias ? bias[r] : 0), act);
		}
}

/* Training plans keep the batch's col as one matrix, so forward is one large GEMM per group
 * into [Cout x B*OH*OW] (in the workspace), then a transpose to NCHW. */
static void forward_batched(sn_graph *g, sn_node *n, sn_plan *pl)
{
	const sn_conv_attr *a = &n->a.conv;
	sn_shape in = sn_in(g, n, 0)->out;
	sn_conv_geom ge = geom(n, in);
	const int B = pl->batch, G = a->groups, mg = a->out_c / G, kg = in.c / G * a->kh * a->kw;
	const size_t ohw = (size_t)n->out.h * n->out.w, K = B * ohw, xs = sn_shape_numel(in);
	const float *X = sn_rt_in(pl, n, 0)->y, *w = sn_t(g, n, SN_T_WEIGHT)->data;
	float *col = sn_rt(pl, n)->saved, *yT = pl->ws;
	#pragma omp parallel for schedule(static)
	for (int b = 0; b < B; b++) sn_im2col(X + b * xs, &ge, 0, ohw, col + b * ohw, K);
	for (int gi = 0; gi < G; gi++)
		sn_gemm(0, 0, mg, (int)K, kg, 1.0f, w + (size_t)gi * mg * kg, kg, col + (size_t)gi * kg * K, (int)K, 0.0f,
		        yT + (size_t)gi * mg * K, (int)K);
	sn_tensor *bias = sn_t(g, n, SN_T_BIAS);
	batch_transpose(sn_rt(pl, n)->y, B, a->out_c, ohw, yT, 0, bias ? bias->data : NULL, a->act);
}

static void conv_forward(sn_graph *g, sn_node *n, sn_plan *pl)
{
	/* sparse 1x1 kernel (sn_graph_select_sparse); it declines when its packed weights no longer fit */
	if (n->impl == SN_IMPL_SPARSE && !pl->train && sn_sparse_conv_forward(pl, n) == SN_OK) return;
	sn_shape in = sn_in(g, n, 0)->out;
	const float *X = sn_rt_in(pl, n, 0)->y;
	float *Y = sn_rt(pl, n)->y;
	const size_t xs = sn_shape_numel(in), ys = sn_shape_numel(n->out);
	const int B = pl->batch;
	if (sn_conv_dw_direct(&n->a.conv, in.c)) { dw_forward(g, n, pl); return; }
	if (sn_rt(pl, n)->dnnl[0]) { dnnl_forward(g, n, pl); return; }
	if (sn_rt(pl, n)->saved) { forward_batched(g, n, pl); return; }
	if (!pl->train) { forward_tiled(g, n, pl); return; }
	if (B < sn_get_threads()) { /* few images: parallelise inside each GEMM instead */
		for (int b = 0; b < B; b++) pointwise_image(g, n, X + b * xs, Y + b * ys);
		return;
	}
	#pragma omp parallel for schedule(static)
	for (int b = 0; b < B; b++) pointwise_image(g, n, X + b * xs, Y + b * ys);
}

/* dW += dY' col'^T per group, one GEMM over the whole batch; db = row sums of dY'. */
static void weight_grad(sn_graph *g, sn_node *n, sn_plan *pl)
{
	const sn_conv_attr *a = &n->a.conv;
	const sn_shape in = sn_in(g, n, 0)->out;
	const int G = a->groups, mg = a->out_c / G, B = pl->batch, kg = in.c / G * a->kh * a->kw;
	const size_t ohw = (size_t)n->out.h * n->out.w, K = B * ohw;
	float *dyT = pl->ws, *col = sn_rt(pl, n)->saved;
	batch_transpose(sn_rt(pl, n)->dy, B, a->out_c, ohw, dyT, 1, NULL, 0);
	if (sn_conv_pointwise(a)) {
		col = dyT + (size_t)a->out_c * K;
		batch_transpose(sn_rt_in(pl, n, 0)->y, B, in.c, ohw, col, 1, NULL, 0);
	}
	sn_tensor *w = sn_t(g, n, SN_T_WEIGHT), *bias = sn_t(g, n, SN_T_BIAS);
	for (int gi = 0; gi < G; gi++)
		sn_gemm(0, 1, mg, kg, (int)K, 1.0f, dyT + (size_t)gi * mg * K, (int)K, col + (size_t)gi * kg * K, (int)K, 1.0f,
		        w->grad + (size_t)gi * mg * kg, kg);
	if (bias) {
		#pragma omp parallel for schedule(static)
		for (int o = 0; o < a->out_c; o++) {
			double s = 0;
			for (size_t q = 0; q < K; q++) s += dyT[o * K + q];
			bias->grad[o] += (float)s;
		}
	}
}

static void input_grad_image(sn_graph *g, sn_node *n, sn_plan *pl, int b, float *dcol, int acc)
{
	const sn_conv_attr *a = &n->a.conv;
	sn_shape in = sn_in(g, n, 0)->out;
	sn_conv_geom ge = geom(n, in);
	const int G = a->groups, mg = a->out_c / G, kg = in.c / G * a->kh * a->kw, ohw = n->out.h * n->out.w;
	const size_t xs = sn_shape_numel(in), ys = sn_shape_numel(n->out);
	const float *w = sn_t(g, n, SN_T_WEIGHT)->data, *dy = sn_rt(pl, n)->dy + b * ys;
	float *dx = sn_rt_in(pl, n, 0)->dy + b * xs;
	int pw = sn_conv_pointwise(a);
	for (int gi = 0; gi < G; gi++) {
		float *dst = pw ? dx + (size_t)gi * kg * ohw : dcol + (size_t)gi * kg * ohw;
		sn_gemm(1, 0, kg, ohw, mg, 1.0f, w + (size_t)gi * mg * kg, kg, dy + (size_t)gi * mg * ohw, ohw,
		        pw && acc ? 1.0f : 0.0f, dst, ohw);
	}
	if (!pw) sn_col2im(dcol, &ge, dx, acc);
}

static void conv_backward(sn_graph *g, sn_node *n, sn_plan *pl)
{
	sn_node_rt *p = sn_rt_in(pl, n, 0);
	const sn_shape in = sn_in(g, n, 0)->out;
	if (n->a.conv.act) mask_fused_grad(pl, n);
	if (sn_conv_dw_direct(&n->a.conv, in.c)) { dw_backward(g, n, pl); return; }
	if (sn_rt(pl, n)->dnnl[0]) { dnnl_backward(g, n, pl); return; }
	if (!n->frozen) weight_grad(g, n, pl);
	if (!p->needs_grad) return;
	int acc = sn_dy_accumulate(p);
	const size_t cs = col_floats(n, in);
	const int B = pl->batch;
	if (B < sn_get_threads()) {
		for (int b = 0; b < B; b++) input_grad_image(g, n, pl, b, pl->ws, acc);
		return;
	}
	#pragma omp parallel for schedule(static)
	for (int b = 0; b < B; b++)
		input_grad_image(g, n, pl, b, pl->ws + (size_t)omp_get_thread_num() * cs, acc);
}

int sn_op_conv(sn_graph *g, sn_node *n, sn_plan *pl, sn_action act)
{
	switch (act) {
	case SN_ACT_SHAPE: return conv_shape(g, n);
	case SN_ACT_SIZES: conv_sizes(g, n, pl); return SN_OK;
	case SN_ACT_FORWARD: conv_forward(g, n, pl); return SN_OK;
	case SN_ACT_BACKWARD: conv_backward(g, n, pl); return SN_OK;
	}
	return SN_OK;
}

/* Pruning: a plain conv makes channels (its filters), a depthwise one (groups = in = out)
 * carries its input's, and other grouped convs are not seen through. */
static sn_chan_rule conv_chan(const sn_graph *g, const sn_node *n)
{
	const int in_c = g->node[n->in[0]].out.c, G = n->a.conv.groups;
	if (G == 1) return SN_CH_MAKES;
	return G == in_c && n->a.conv.out_c == in_c ? SN_CH_PASS : SN_CH_OPAQUE;
}

static const char *const act_names[] = {"none", "relu", "relu6"};   /* act=, indexed by sn_fuse */
static const sn_attr_def conv_attrs[] = {
	SN_ATTR_COUNT("out", a.conv.out_c, 0, SN_AF_REQUIRED),
	{.key = "k", .type = SN_AT_PAIR, .flags = SN_AF_REQUIRED, .off = {SN_AT(a.conv.kh), SN_AT(a.conv.kw)}, .lo = 1,
	 .hi = SN_ATTR_INT_MAX, .expect = "K or KHxKW with integers " SN_ATTR_INT_RANGE ", e.g. k=3 or k=1x7"},
	{.key = "stride", .type = SN_AT_PAIR, .off = {SN_AT(a.conv.sh), SN_AT(a.conv.sw)}, .lo = 1, .hi = SN_ATTR_INT_MAX,
	 .def = 1, .expect = "S or SHxSW with integers " SN_ATTR_INT_RANGE},
	{.key = "pad", .type = SN_AT_PADS, .flags = SN_AF_SAME, .off = {SN_AT(a.conv.pt), SN_AT(a.conv.pb), SN_AT(a.conv.pl),
	 SN_AT(a.conv.pr)}, .lo = 0, .hi = SN_ATTR_INT_MAX, .same_off = SN_AT(a.conv.same),
	 .expect = "P, PHxPW, T,B,L,R (integers >= 0), same or valid"},
	{.key = "dilation", .type = SN_AT_PAIR, .off = {SN_AT(a.conv.dh), SN_AT(a.conv.dw)}, .lo = 1, .hi = SN_ATTR_INT_MAX,
	 .def = 1, .expect = "D or DHxDW with integers " SN_ATTR_INT_RANGE},
	SN_ATTR_COUNT("groups", a.conv.groups, 1, 0),
	SN_ATTR_BOOL("bias", a.conv.bias, 1),
	SN_ATTR_PADMODE(a.conv.mode),
	{.key = "act", .type = SN_AT_ENUM, .flags = SN_AF_LATE, .off = {SN_AT(a.conv.act)}, .names = act_names, .n_names = 3,
	 .what = "fused activation", .expect = "relu, relu6 or none (the activation fused into the conv)"},
};
static const sn_tensor_def fan_in_weight_bias[] = {
	{"weight", SN_TENSOR_PARAM, SN_INIT_FAN_IN}, {"bias", SN_TENSOR_PARAM, SN_INIT_FAN_IN}};

const sn_op_def sn_op_def_conv = {"conv", "Conv2d", 1, 1, sn_op_conv, SN_ATTRS(conv_attrs), SN_TENSORS(fan_in_weight_bias),
                                  .macs = SN_MACS_PER_PIXEL, .chan_of = conv_chan, .run_q8 = sn_q8_op_conv};
