/* The tiled inference path of dense convs (src/ops/conv.c): im2col of a pixel range, the AVX2
 * tile GEMM against a naive product, and whole conv layers in inference plans (odd widths,
 * tails shorter than a tile, strides, dilation, padding modes, groups, 1x1 convs read in place
 * or copied, fused ReLU/ReLU6, with and without bias, 1-3 threads, images too small to split by
 * pixels) against a direct conv in double precision. */
#include <stdlib.h>
#include "test.h"
#include "slimnn.h"
#include "kernels/kernels.h"

#define TILED_TOL 1e-5
#define CANARY 12345.0f

static int imin(int a, int b) { return a < b ? a : b; }
static float uni(sn_rng *r) { return 2 * sn_rng_uniform(r) - 1; }
static int pick(sn_rng *r, int lo, int hi) { return lo + (int)(sn_rng_uniform(r) * (hi - lo + 1)) % (hi - lo + 1); }

static double act_ref(double v, int act)
{
	if (act != SN_FUSE_NONE) v = v > 0 ? v : 0;
	return act == SN_FUSE_RELU6 && v > 6 ? 6 : v;
}

/* Row (c, i, j), pixel p of im2col, the textbook way. */
static float col_at(const sn_conv_geom *g, const float *x, int c, int i, int j, size_t p)
{
	int ih = sn_pad_index((int)(p / g->ow) * g->sh - g->pt + i * g->dh, g->h, g->mode);
	int iw = sn_pad_index((int)(p % g->ow) * g->sw - g->pl + j * g->dw, g->w, g->mode);
	return ih < 0 || iw < 0 ? 0.0f : x[((size_t)c * g->h + ih) * g->w + iw];
}

/* The whole im2col matrix and columns [p0, p0 + n) of it (rows ld apart) hold what each kernel
 * tap sees; the gaps between rows are left alone. */
TEST(im2col_pixel_range_matches_whole)
{
	static const sn_padmode modes[] = {SN_PAD_ZEROS, SN_PAD_REFLECT, SN_PAD_REPLICATE, SN_PAD_CIRCULAR};
	sn_rng r;
	sn_rng_seed(&r, 11);
	for (int t = 0; t < 300; t++) {
		sn_conv_geom g = {pick(&r, 1, 3), pick(&r, 3, 12), pick(&r, 3, 19), pick(&r, 1, 3), pick(&r, 1, 3),
		                  pick(&r, 1, 2), pick(&r, 1, 3), pick(&r, 1, 2), pick(&r, 1, 2), 0, 0, 0, 0,
		                  modes[pick(&r, 0, 3)]};
		if (t % 3 == 0) { g.sh = g.sw = g.dh = g.dw = 1; g.kh = g.kw = 3; }   /* the "same" 3x3 shortcut */
		g.pt = pick(&r, 0, 2); g.pl = pick(&r, 0, 2);
		int pb = pick(&r, 0, 2), pr = pick(&r, 0, 2);
		if (t % 3 == 0) { g.pt = g.pl = pb = pr = 1; }
		if (g.mode != SN_PAD_ZEROS) {  /* reflect needs padding < size */
			g.pt = imin(g.pt, 1); g.pl = imin(g.pl, 1); pb = imin(pb, 1); pr = imin(pr, 1);
		}
		const int eh = g.dh * (g.kh - 1) + 1, ew = g.dw * (g.kw - 1) + 1;
		if (g.h + g.pt + pb < eh || g.w + g.pl + pr < ew) continue;
		g.oh = (g.h + g.pt + pb - eh) / g.sh + 1;
		g.ow = (g.w + g.pl + pr - ew) / g.sw + 1;
		const size_t P = (size_t)g.oh * g.ow, rows = (size_t)g.c * g.kh * g.kw;
		float *x = malloc((size_t)g.c * g.h * g.w * sizeof *x), *full = malloc(rows * P * sizeof *full);
		for (size_t i = 0; i < (size_t)g.c * g.h * g.w; i++) x[i] = uni(&r);
		sn_im2col(x, &g, 0, P, full, P);
		int wrong = 0;
		for (int c = 0; c < g.c; c++)
			for (int i = 0; i < g.kh; i++)
				for (int j = 0; j < g.kw; j++)
					for (size_t p = 0; p < P; p++)
						wrong += full[((size_t)(c * g.kh + i) * g.kw + j) * P + p] != col_at(&g, x, c, i, j, p);
		CHECKF(!wrong, "im2col: %d wrong values (c=%d %dx%d k=%dx%d s=%dx%d d=%dx%d pad=%d,%d mode=%d)", wrong, g.c,
		       g.h, g.w, g.kh, g.kw, g.sh, g.sw, g.dh, g.dw, g.pt, g.pl, g.mode);
		const size_t p0 = (size_t)pick(&r, 0, (int)P - 1), n = (size_t)pick(&r, 1, (int)(P - p0)), ld = n + pick(&r, 0, 5);
		float *part = malloc(rows * ld * sizeof *part);
		for (size_t i = 0; i < rows * ld; i++) part[i] = CANARY;
		sn_im2col(x, &g, p0, n, part, ld);
		int bad = 0;
		for (size_t k = 0; k < rows; k++)
			for (size_t q = 0; q < ld; q++)
				bad += part[k * ld + q] != (q < n ? full[k * P + p0 + q] : CANARY);
		CHECKF(!bad, "im2col range: %d wrong values (c=%d %dx%d k=%dx%d s=%dx%d d=%dx%d pad=%d,%d mode=%d p0=%zu n=%zu)",
		       bad, g.c, g.h, g.w, g.kh, g.kw, g.sh, g.sw, g.dh, g.dw, g.pt, g.pl, g.mode, p0, n);
		free(x); free(full); free(part);
	}
}

/* sn_ct_gemm over random shapes and k splits against a double product: masked pixel tails,
 * output-channel tails, bias or none, each activation, tiles narrow enough for the weights'
 * blocks to run outside (n <= 64) and wider; nothing written between y's rows. */
TEST(conv_tile_gemm_matches_naive)
{
	if (!sn_cpu_avx2()) return;
	sn_rng r;
	sn_rng_seed(&r, 12);
	for (int t = 0; t < 200; t++) {
		const int M = pick(&r, 1, 20), n = pick(&r, 1, 100), K = pick(&r, 1, t % 4 ? 40 : 700), act = t % 3;
		const size_t ldb = n + pick(&r, 0, 7), ldy = n + pick(&r, 0, 7);
		float *w = malloc((size_t)M * K * sizeof *w), *b = malloc(K * ldb * sizeof *b), *bias = malloc(M * sizeof *bias);
		float *y = malloc(M * ldy * sizeof *y);
		for (size_t i = 0; i < (size_t)M * K; i++) w[i] = uni(&r);
		for (size_t i = 0; i < K * ldb; i++) b[i] = 3 * uni(&r);
		for (int i = 0; i < M; i++) bias[i] = 2 * uni(&r);
		for (size_t i = 0; i < M * ldy; i++) y[i] = CANARY;
		const int with_bias = t % 2;
		for (int k0 = 0; k0 < K;) {   /* random chunks, as conv.c passes channel chunks */
			const int kn = imin(K - k0, pick(&r, 1, 300));
			sn_ct_gemm(M, n, K, k0, kn, w, b + (size_t)k0 * ldb, ldb, with_bias ? bias : NULL, act, y, ldy);
			k0 += kn;
		}
		double worst = 0, scale = 1;   /* relative to max(1, max |y|), as sn_test_maxrel */
		int canary = 0;
		for (int m = 0; m < M; m++) {
			for (int q = 0; q < n; q++) {
				double s = with_bias ? bias[m] : 0;
				for (int k = 0; k < K; k++) s += (double)w[(size_t)m * K + k] * b[k * ldb + q];
				s = act_ref(s, act);
				worst = fmax(worst, fabs(y[m * ldy + q] - s));
				scale = fmax(scale, fabs(s));
			}
			for (size_t q = n; q < ldy; q++) canary += y[m * ldy + q] != CANARY;
		}
		worst /= scale;
		CHECKF(worst <= TILED_TOL, "M=%d n=%d K=%d act=%d: error %.3g", M, n, K, act, worst);
		CHECKF(!canary, "M=%d n=%d K=%d: %d values written between rows", M, n, K, canary);
		free(w); free(b); free(bias); free(y);
	}
}

/* The conv node 1 of g, directly in double precision from the planned attributes. */
static void reference(sn_graph *g, int batch, const float *x, double *y)
{
	const sn_node *n = &g->node[1];
	const sn_conv_attr *a = &n->a.conv;
	const sn_shape in = g->node[0].out, out = n->out;
	const int cg = in.c / a->groups, mg = a->out_c / a->groups;
	const float *w = sn_test_tensor(g, "c.weight")->data;
	const sn_tensor *bt = sn_test_tensor(g, "c.bias");
	for (int b = 0; b < batch; b++)
		for (int o = 0; o < a->out_c; o++)
			for (int oh = 0; oh < out.h; oh++)
				for (int ow = 0; ow < out.w; ow++) {
					double s = bt ? bt->data[o] : 0;
					for (int ci = 0; ci < cg; ci++) {
						const float *xc = x + ((size_t)b * in.c + o / mg * cg + ci) * in.h * in.w;
						for (int i = 0; i < a->kh; i++)
							for (int j = 0; j < a->kw; j++) {
								int ih = sn_pad_index(oh * a->sh - a->pt + i * a->dh, in.h, a->mode);
								int iw = sn_pad_index(ow * a->sw - a->pl + j * a->dw, in.w, a->mode);
								if (ih < 0 || iw < 0) continue;
								s += (double)w[(((size_t)o * cg + ci) * a->kh + i) * a->kw + j] * xc[ih * in.w + iw];
							}
					}
					y[(((size_t)b * out.c + o) * out.h + oh) * out.w + ow] = act_ref(s, a->act);
				}
}

TEST(conv_tiled_inference_matches_direct)
{
	static const struct { const char *layer; int c, h, w, batch; } cases[] = {
		{"conv c out=16 k=3 pad=1", 5, 13, 17, 1},                          /* odd width, a short last tile */
		{"conv c out=7 k=3 stride=2 pad=1 act=relu", 3, 31, 29, 3},
		{"conv c out=32 k=3 stride=2 pad=1", 3, 64, 64, 1},                 /* a stem: several tiles */
		{"conv c out=9 k=3 pad=1 act=relu6", 4, 60, 50, 1},
		{"conv c out=20 k=3 pad=1", 70, 12, 12, 2},                         /* col in three channel chunks */
		{"conv c out=12 k=1", 40, 9, 11, 2},                                /* 1x1 reading x in place */
		{"conv c out=10 k=1 bias=0 act=relu6", 64, 40, 40, 1},              /* 1x1 copied tile by tile */
		{"conv c out=7 k=1", 300, 20, 20, 1},                               /* ... in two chunks */
		{"conv c out=8 k=1 act=relu", 16, 32, 32, 2},                       /* ... rows 4 KiB apart */
		{"conv c out=6 k=1 stride=2", 8, 11, 13, 2},
		{"conv c out=8 k=3 pad=1 groups=2 act=relu6", 6, 10, 10, 5},
		{"conv c out=12 k=1 groups=3 bias=0", 9, 7, 9, 4},
		{"conv c out=10 k=3 pad=1 groups=2", 300, 6, 6, 2},                 /* groups and chunks */
		{"conv c out=5 k=3x5 stride=2x1 pad=1,0,2,2 dilation=2", 4, 15, 21, 2},
		{"conv c out=6 k=3 pad=1 mode=reflect", 3, 9, 10, 2},
		{"conv c out=6 k=3 pad=2 mode=circular act=relu", 3, 9, 10, 2},
		{"conv c out=6 k=5 pad=2 mode=replicate", 2, 9, 7, 3},
		{"conv c out=33 k=3 pad=0 bias=0", 3, 5, 4, 7},                     /* no padding, 6 pixels */
		{"conv c out=64 k=3 pad=1", 32, 14, 14, 5},                         /* batch > threads */
		{"conv c out=13 k=1 act=relu6", 40, 7, 7, 1},                       /* few pixels: threads split */
		{"conv c out=14 k=3 pad=1 groups=2", 6, 5, 5, 1},                   /* ... the channels of each group */
		{"conv c out=20 k=1", 24, 6, 6, 2},                                 /* ... of two images (3 threads) */
	};
	sn_rng r;
	sn_rng_seed(&r, 13);
	for (int t = 1; t <= 3; t++) {
		sn_set_threads(t);
		for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
			char text[256];
			snprintf(text, sizeof text, "input x shape=%dx%dx%d\n%s\n", cases[i].c, cases[i].h, cases[i].w, cases[i].layer);
			sn_graph *g = sn_test_net(text, 7 + i);
			REQUIRE(g);
			const int B = cases[i].batch;
			sn_tensor *bt = sn_test_tensor(g, "c.bias");
			if (bt) for (size_t k = 0; k < bt->n; k++) bt->data[k] = 2 * uni(&r);
			const size_t xs = sn_shape_numel(g->node[0].out), ys = sn_shape_numel(g->node[1].out);
			float *x = malloc(B * xs * sizeof *x), *yd = malloc(B * ys * sizeof *yd);
			double *ref = malloc(B * ys * sizeof *ref);
			for (size_t k = 0; k < B * xs; k++) x[k] = 8 * uni(&r);
			REQUIRE(sn_graph_plan(g, B, 0) == SN_OK);
			reference(g, B, x, ref);
			const float *y = sn_graph_forward(g, x, B);
			double scale = 1, err = 0;
			for (size_t k = 0; k < B * ys; k++) scale = fmax(scale, fabs(ref[k]));
			for (size_t k = 0; k < B * ys; k++) err = fmax(err, fabs(y[k] - ref[k]) / scale);
			CHECKF(err <= TILED_TOL, "%s, %dx%dx%d, batch %d, %d threads: error %.3g", cases[i].layer, cases[i].c,
			       cases[i].h, cases[i].w, B, t, err);
			/* the training plan's forward (one batched GEMM) gives the same output */
			memcpy(yd, y, B * ys * sizeof *yd);
			REQUIRE(sn_graph_plan(g, B, 1) == SN_OK);
			CHECKF(sn_test_maxrel(sn_graph_forward(g, x, B), yd, B * ys) <= TILED_TOL, "%s: training forward differs",
			       cases[i].layer);
			free(x); free(yd); free(ref);
			sn_graph_free(g);
		}
	}
	sn_set_threads(2);
}
