/* Depthwise convolution: the direct kernels (kernels/dwconv.c) of every instruction set this CPU
 * runs, on random and hand-picked shapes, against a naive double-precision loop; the conv
 * operator's depthwise path inside graphs (training and inference plans, 1-3 threads); and the
 * fused ReLU/ReLU6 of convs against a separate activation layer and finite differences. */
#include <stdint.h>
#include <stdlib.h>
#include "test.h"
#include "slimnn.h"
#include "core/internal.h"   /* the plan's per-node records */
#include "kernels/kernels.h"

#define DW_TOL 2e-5          /* float kernels against the double reference, relative to max(1, |ref|) */
#define CANARY 12345.0f      /* written past the end of output buffers: must survive */

typedef struct { int h, w, kh, kw, sh, sw, dh, dw, pt, pb, pl, pr, m; } dw_case;

static float uni(sn_rng *r) { return 2 * sn_rng_uniform(r) - 1; }
static void fill(sn_rng *r, float *x, size_t n, float scale) { for (size_t i = 0; i < n; i++) x[i] = scale * uni(r); }

static int out_size(int n, int p0, int p1, int k, int d, int s) { return (n + p0 + p1 - (k - 1) * d - 1) / s + 1; }
static int case_valid(const dw_case *c)
{
	return c->h + c->pt + c->pb >= (c->kh - 1) * c->dh + 1 && c->w + c->pl + c->pr >= (c->kw - 1) * c->dw + 1;
}

static sn_conv_geom geom_of(const dw_case *c)
{
	return (sn_conv_geom){1, c->h, c->w, c->kh, c->kw, c->sh, c->sw, c->dh, c->dw, c->pt, c->pl,
	                      out_size(c->h, c->pt, c->pb, c->kh, c->dh, c->sh), out_size(c->w, c->pl, c->pr, c->kw, c->dw, c->sw),
	                      SN_PAD_ZEROS};
}

static float act_ref(double v, int act)
{
	if (act != SN_FUSE_NONE) v = v > 0 ? v : 0;
	if (act == SN_FUSE_RELU6 && v > 6) v = 6;
	return (float)v;
}

/* One input plane and its m output planes, the textbook way: y (may be NULL) = act(bias + x * w),
 * and from dy: dx += input gradient, dw += weight gradient (each may be NULL). */
static void reference(const sn_conv_geom *g, int m, const float *x, const float *w, const float *bias, int act,
                      const float *dy, float *y, double *dx, double *dw)
{
	const int kk = g->kh * g->kw;
	for (int o = 0; o < m; o++)
		for (int oh = 0; oh < g->oh; oh++)
			for (int ow = 0; ow < g->ow; ow++) {
				double s = bias ? bias[o] : 0;
				float d = dy ? dy[((size_t)o * g->oh + oh) * g->ow + ow] : 0;
				for (int i = 0; i < g->kh; i++)
					for (int j = 0; j < g->kw; j++) {
						int ih = oh * g->sh - g->pt + i * g->dh, iw = ow * g->sw - g->pl + j * g->dw;
						if (ih < 0 || ih >= g->h || iw < 0 || iw >= g->w) continue;
						double wv = w[o * kk + i * g->kw + j], xv = x[ih * g->w + iw];
						s += wv * xv;
						if (dx) dx[ih * g->w + iw] += wv * d;
						if (dw) dw[o * kk + i * g->kw + j] += (double)d * xv;
					}
				if (y) y[((size_t)o * g->oh + oh) * g->ow + ow] = act_ref(s, act);
			}
}

static double maxrel_d(const float *a, const double *b, size_t n)
{
	double scale = 1, err = 0;
	for (size_t i = 0; i < n; i++) scale = fmax(scale, fabs(b[i]));
	for (size_t i = 0; i < n; i++) {
		double d = fabs(a[i] - b[i]);
		if (d != d) return INFINITY;
		err = fmax(err, d);
	}
	return err / scale;
}

static float *with_canary(size_t n)
{
	float *p = malloc((n + 8) * sizeof *p);
	for (int i = 0; i < 8; i++) p[n + i] = CANARY;
	return p;
}
static int canary_ok(const float *p, size_t n)
{
	for (int i = 0; i < 8; i++) if (p[n + i] != CANARY) return 0;
	return 1;
}

/* Forward, then backward twice (dx overwritten with dw accumulated; dx accumulated alone), of one
 * plane through the drivers of `isa`; returns the worst relative error (INFINITY on a
 * clobbered canary). The scratch is allocated to its exact size so ASan sees any overrun. */
static double check_case(sn_isa isa, const dw_case *c, int act, sn_rng *r)
{
	const sn_conv_geom g = geom_of(c);
	const size_t kk = (size_t)c->kh * c->kw, xn = (size_t)c->h * c->w, yn = (size_t)c->m * g.oh * g.ow;
	float *x = malloc(xn * sizeof *x), *w = malloc(c->m * kk * sizeof *w), *bias = malloc(c->m * sizeof *bias);
	float *dy = malloc(yn * sizeof *dy), *y = with_canary(yn), *yref = malloc(yn * sizeof *yref);
	float *dx = with_canary(xn), *dw = malloc(c->m * kk * sizeof *dw);
	float *scratch = malloc(sn_f32_dwconv_buffer_size(&g, 1) * sizeof *scratch);
	double *dxref = calloc(xn, sizeof *dxref), *dwref = calloc(c->m * kk, sizeof *dwref), worst = 0;
	fill(r, x, xn, 2); fill(r, w, c->m * kk, 1); fill(r, bias, c->m, 1); fill(r, dy, yn, 1);
	reference(&g, c->m, x, w, bias, act, dy, yref, dxref, dwref);

	sn_f32_dwconv_forward(isa, &g, x, w, bias, 1, c->m, act, y, scratch);
	worst = fmax(worst, sn_test_maxrel(y, yref, yn));

	for (size_t i = 0; i < xn; i++) dx[i] = NAN;                 /* must be overwritten */
	for (size_t i = 0; i < c->m * kk; i++) { dw[i] = 0.5f; dwref[i] += 0.5; }
	sn_f32_dwconv_backward(isa, &g, x, dy, w, c->m, dx, 0, dw, scratch);
	worst = fmax(worst, maxrel_d(dx, dxref, xn));
	worst = fmax(worst, maxrel_d(dw, dwref, c->m * kk));

	for (size_t i = 0; i < xn; i++) { dx[i] = 1.0f; dxref[i] += 1.0; }
	sn_f32_dwconv_backward(isa, &g, x, dy, w, c->m, dx, 1, NULL, scratch);
	worst = fmax(worst, maxrel_d(dx, dxref, xn));
	if (!canary_ok(y, yn) || !canary_ok(dx, xn)) worst = INFINITY;
	free(x); free(w); free(bias); free(dy); free(y); free(yref); free(dx); free(dw); free(scratch); free(dxref); free(dwref);
	return worst;
}

/* every level up to the CPU's best */
static int n_isas(sn_isa *isas)
{
	int n = 0;
	for (int k = SN_ISA_SCALAR; k <= (int)sn_dw_best_isa(); k++) isas[n++] = (sn_isa)k;
	return n;
}

/* the suffix of isa's kernels, or of those it borrows from AVX2: row kernels, stride-2 flat */
static const char *isa_name(sn_isa isa) { return isa == SN_ISA_AVX512 ? "avx512vl" : isa == SN_ISA_AVX2 ? "avx2" : "scalar"; }
static const char *row_isa_name(sn_isa isa) { return isa_name(isa == SN_ISA_AVX512 ? SN_ISA_AVX2 : isa); }

/* c runs isa's flat kernel; AVX512's (row groups) where it measured faster: surely at the widths
 * 7, 14 and 28 without dilation, never with it nor at stride 2 (AVX2's there) */
static int runs_flat(sn_isa isa, const dw_case *c)
{
	const sn_conv_geom g = geom_of(c);
	const char *got = sn_dw_kernel_name(isa, &g);
	char own[64], avx2[64];
	snprintf(own, sizeof own, "sn_f32_dwconv_flat_%dx%d__%s", c->kh, c->kw, isa_name(isa));
	snprintf(avx2, sizeof avx2, "sn_f32_dwconv_flat_%dx%d__%s", c->kh, c->kw, row_isa_name(isa));
	if (isa != SN_ISA_AVX512) return !strcmp(got, own);
	const int plain = c->sh == 1 && c->dh == 1 && c->dw == 1;
	if (plain && (c->w == 7 || c->w == 14 || c->w == 28)) return !strcmp(got, own);
	return !strcmp(got, plain ? got : avx2) && (!strcmp(got, own) || !strcmp(got, avx2));
}

static void check_cases(const dw_case *cases, int n, const char *what)
{
	sn_isa isas[3];
	sn_rng r;
	sn_rng_seed(&r, 7);
	for (int k = 0, ni = n_isas(isas); k < ni; k++)
		for (int i = 0; i < n; i++) {
			const dw_case *c = &cases[i];
			int act = i % 3;
			double e = check_case(isas[k], c, act, &r);
			CHECKF(e <= DW_TOL, "%s %s case %d: %dx%d k%dx%d s%dx%d d%dx%d pad %d,%d,%d,%d m%d act %d: error %.3g", what,
			       isa_name(isas[k]), i, c->h, c->w, c->kh, c->kw, c->sh, c->sw, c->dh, c->dw, c->pt, c->pb, c->pl, c->pr,
			       c->m, act, e);
		}
}

/* The fast paths at the widths that matter: shorter than a vector, odd, one over, several
 * vectors; with and without padding, dilation, multiplier 2. */
TEST(dwconv_fast_paths_match_reference)
{
	static const dw_case cases[] = {
		{7, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1},    {6, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 2},
		{9, 9, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1},    {12, 33, 3, 3, 1, 1, 1, 1, 0, 0, 0, 0, 1},
		{14, 14, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1},  {11, 17, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, 1},
		{9, 11, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1},   {8, 16, 3, 3, 2, 2, 1, 1, 0, 1, 0, 1, 2},
		{13, 35, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1},  {6, 3, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1},
		{10, 7, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2, 1},   {9, 21, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2, 2},
		{12, 12, 5, 5, 1, 1, 2, 1, 4, 4, 2, 2, 1},  {11, 13, 5, 5, 2, 2, 1, 1, 2, 2, 2, 2, 1},
		{16, 40, 5, 5, 2, 2, 1, 1, 2, 2, 2, 2, 2},  {5, 5, 5, 5, 2, 2, 1, 1, 0, 0, 0, 0, 1},
		/* stride-1 rows are read in place (5x5 from 32 outputs), their borders through masked loads */
		{7, 40, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1},   {6, 37, 3, 3, 1, 1, 1, 3, 2, 0, 5, 3, 2},
		{5, 64, 3, 3, 1, 1, 1, 1, 0, 0, 0, 0, 1},   {8, 45, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2, 1},
		{6, 50, 5, 5, 1, 1, 2, 2, 4, 4, 9, 1, 2},   {70, 70, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1},
	};
	const int n = (int)(sizeof cases / sizeof cases[0]);
	/* each of them must run its specialised kernel, not the general one */
	sn_isa isas[3];
	for (int k = 0, ni = n_isas(isas); k < ni; k++)
		for (int i = 0; i < n; i++) {
			const sn_dw_kernel *kn = sn_dw_select(isas[k], cases[i].kh, cases[i].kw, cases[i].sh, cases[i].sw);
			char want[64];
			snprintf(want, sizeof want, "sn_f32_dwconv_%dx%ds%d__%s", cases[i].kh, cases[i].kw, cases[i].sh, row_isa_name(isas[k]));
			CHECKF(!strcmp(kn->name, want), "case %d selects %s, expected %s", i, kn->name, want);
		}
	check_cases(cases, n, "fast path");
}

/* The flat path (3x3 and 5x5, narrow rows), on random heights and widths from shorter than a
 * vector up to the threshold. Stride 1, output as wide as the input: dilation 1-2, the
 * horizontal padding split any way, vertical padding any. Stride 2: each padding 0-2, but without left padding
 * only where the last output column's third tap lands in the right padding. Each must run the
 * flat kernel. */
TEST(dwconv_flat_path_matches_reference)
{
	enum { N = 80 };
	dw_case cases[N];
	sn_rng r;
	sn_rng_seed(&r, 19);
	for (int i = 0; i < N;) {
		const int d = 1 + (int)sn_rng_below(&r, 2), pl = (int)sn_rng_below(&r, 2 * d + 1);
		dw_case c = {.h = 1 + (int)sn_rng_below(&r, 20), .w = 1 + (int)sn_rng_below(&r, 31), .kh = 3, .kw = 3, .sh = 1,
		             .sw = 1, .dh = 1 + (int)sn_rng_below(&r, 2), .dw = d, .pt = (int)sn_rng_below(&r, 3),
		             .pb = (int)sn_rng_below(&r, 3), .pl = pl, .pr = 2 * d - pl, .m = 1 + (int)sn_rng_below(&r, 2)};
		if (i % 2) {   /* stride 2 */
			c.sh = c.sw = 2; c.dh = c.dw = 1;
			c.pl = (int)sn_rng_below(&r, 3); c.pr = (int)sn_rng_below(&r, 3);
			if (!c.pl && 2 * out_size(c.w, 0, c.pr, 3, 1, 2) < c.w) continue;
		} else if (i % 4 == 2) {   /* 5x5, stride 1 */
			c.kh = c.kw = 5;
			c.pl = (int)sn_rng_below(&r, 4 * d + 1); c.pr = 4 * d - c.pl;
			c.pt = (int)sn_rng_below(&r, 5); c.pb = (int)sn_rng_below(&r, 5);
		}
		if (case_valid(&c)) cases[i++] = c;
	}
	sn_isa isas[3];
	for (int k = 0, ni = n_isas(isas); k < ni; k++)
		for (int i = 0; i < N; i++) {
			const sn_conv_geom g = geom_of(&cases[i]);
			CHECKF(runs_flat(isas[k], &cases[i]), "case %d runs %s", i, sn_dw_kernel_name(isas[k], &g));
		}
	/* the stride-2 column that would read past its quarter row runs the row kernel */
	const dw_case past = {9, 7, 3, 3, 2, 2, 1, 1, 0, 0, 0, 0, 1};
	const sn_conv_geom gp = geom_of(&past);
	CHECKF(!strcmp(sn_dw_kernel_name(SN_ISA_SCALAR, &gp), "sn_f32_dwconv_3x3s2__scalar"), "7 columns, no padding: runs %s",
	       sn_dw_kernel_name(SN_ISA_SCALAR, &gp));
	check_cases(&past, 1, "flat (excluded)");
	/* a row wider than twice the output (9 columns, 4 outputs) above a padding row: the quarter
	 * split must not carry column 8 into that row */
	const dw_case wide[] = {{4, 9, 3, 3, 2, 2, 1, 1, 0, 2, 1, 0, 1}, {12, 5, 3, 3, 2, 2, 1, 1, 0, 2, 1, 0, 1}};
	check_cases(wide, 2, "flat, wide rows");
	check_cases(cases, N, "flat");
}

/* One call over several planes equals one call per plane, on the flat path and the row path;
 * a NaN at a row's end, and one at a row's start, reach only the outputs whose taps read them,
 * never the neighbouring row's (the flat kernels read across row ends, masked). */
TEST(dwconv_planes_per_call_and_nan_at_row_end)
{
	static const dw_case cases[] = {{6, 7, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 2}, {9, 40, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1},
	                                {8, 12, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1}, {9, 13, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1},
	                                {7, 40, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1}, {9, 28, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2, 1},
	                                {14, 14, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2, 2}, {7, 7, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2, 1},
	                                {11, 13, 5, 5, 1, 1, 1, 1, 2, 2, 0, 4, 1}, {9, 16, 3, 3, 1, 1, 1, 1, 1, 1, 2, 0, 1}};
	enum { NC = sizeof cases / sizeof cases[0] };
	sn_rng r;
	sn_rng_seed(&r, 23);
	sn_isa isas[3];
	for (int k = 0, ni = n_isas(isas); k < ni; k++)
		for (int i = 0; i < NC; i++) {
			const dw_case *c = &cases[i];
			const sn_conv_geom g = geom_of(c);
			enum { NX = 3 };
			const size_t kk = (size_t)c->kh * c->kw, xn = (size_t)c->h * c->w, yn = (size_t)c->m * g.oh * g.ow;
			float *x = malloc(NX * xn * sizeof *x), *w = malloc(NX * c->m * kk * sizeof *w), *b = malloc(NX * c->m * sizeof *b);
			float *y = malloc(NX * yn * sizeof *y), *y1 = malloc(NX * yn * sizeof *y1);
			float *scratch = malloc(sn_f32_dwconv_buffer_size(&g, 0) * sizeof *scratch);
			fill(&r, x, NX * xn, 2); fill(&r, w, NX * c->m * kk, 1); fill(&r, b, NX * c->m, 1);
			x[xn + 2 * c->w + c->w - 1] = NAN;   /* plane 1, row 2, last column */
			x[xn + 5 * c->w] = NAN;              /* row 5, first column */
			sn_f32_dwconv_forward(isas[k], &g, x, w, b, NX, c->m, SN_FUSE_NONE, y, scratch);
			for (int p = 0; p < NX; p++)
				sn_f32_dwconv_forward(isas[k], &g, x + p * xn, w + p * c->m * kk, b + p * c->m, 1, c->m, SN_FUSE_NONE,
				                      y1 + p * yn, scratch);
			CHECKF(!memcmp(y, y1, NX * yn * sizeof *y), "%s case %d: %d planes in one call differ from one at a time",
			       isa_name(isas[k]), i, NX);
			float *yrf = malloc(yn * sizeof *yrf);
			reference(&g, c->m, x + xn, w + c->m * kk, b + c->m, SN_FUSE_NONE, NULL, yrf, NULL, NULL);
			int same = 1;
			for (size_t q = 0; q < yn; q++) same &= isnan(yrf[q]) == isnan(y[yn + q]);
			CHECKF(same, "%s case %d: the NaN reaches other outputs than the reference's", isa_name(isas[k]), i);
			free(x); free(w); free(b); free(y); free(y1); free(scratch); free(yrf);
		}
}

/* The flat kernels at the widths that matter (7, 14, 28: AVX512's has them as constants) and
 * around them, on heights that leave every remainder of its row groups; padding 2 (or 1) split
 * evenly or to one side; dilated columns and rows (AVX2's kernel there). */
TEST(dwconv_flat_widths_and_heights)
{
	static const int widths[] = {1, 6, 7, 8, 9, 14, 16, 28, 31}, heights[] = {1, 2, 3, 4, 5, 6, 7, 9, 14, 28};
	enum { NW = sizeof widths / sizeof widths[0], NH = sizeof heights / sizeof heights[0] };
	dw_case cases[2 * NW * NH + 4 * NW];
	int n = 0;
	for (int k = 3; k <= 5; k += 2)
		for (int a = 0; a < NW; a++)
			for (int b = 0; b < NH; b++) {
				const int p = k / 2, pl = (a + b) % 3 == 0 ? p : (a + b) % 3 == 1 ? 0 : 2 * p;
				cases[n++] = (dw_case){heights[b], widths[a], k, k, 1, 1, 1, 1, p, p, pl, 2 * p - pl, 1 + (b == 3)};
			}
	for (int a = 0; a < NW; a++) {   /* dilation 2: in columns, in rows, both */
		cases[n++] = (dw_case){9, widths[a], 5, 5, 1, 1, 1, 2, 2, 2, 4, 4, 1};
		cases[n++] = (dw_case){12, widths[a], 5, 5, 1, 1, 2, 1, 4, 4, 2, 2, 1};
		cases[n++] = (dw_case){10, widths[a], 5, 5, 1, 1, 2, 2, 3, 5, 6, 2, 1};
		cases[n++] = (dw_case){7, widths[a], 3, 3, 1, 1, 2, 2, 2, 2, 1, 3, 1};
	}
	sn_isa isas[3];
	for (int k = 0, ni = n_isas(isas); k < ni; k++)
		for (int i = 0; i < n; i++) {
			const sn_conv_geom g = geom_of(&cases[i]);
			CHECKF(case_valid(&cases[i]) && runs_flat(isas[k], &cases[i]), "case %d runs %s", i,
			       sn_dw_kernel_name(isas[k], &g));
		}
	check_cases(cases, n, "flat widths");
}

/* Any other shape: the general kernel, and the input gradient's phase kernels of strides 2-3;
 * every other case has rows wide enough to be read in place. */
TEST(dwconv_random_shapes_match_reference)
{
	enum { N = 160 };
	dw_case cases[N];
	sn_rng r;
	sn_rng_seed(&r, 11);
	for (int i = 0; i < N;) {
		dw_case c = {.h = 1 + (int)sn_rng_below(&r, 16), .w = 1 + (int)sn_rng_below(&r, i % 2 ? 24 : 72),
		             .kh = 1 + (int)sn_rng_below(&r, 7), .kw = 1 + (int)sn_rng_below(&r, 7),
		             .sh = 1 + (int)sn_rng_below(&r, 3), .sw = 1 + (int)sn_rng_below(&r, 3),
		             .dh = 1 + (int)sn_rng_below(&r, 3), .dw = 1 + (int)sn_rng_below(&r, 3),
		             .pt = (int)sn_rng_below(&r, 4), .pb = (int)sn_rng_below(&r, 4), .pl = (int)sn_rng_below(&r, 4),
		             .pr = (int)sn_rng_below(&r, 4), .m = 1 + (int)sn_rng_below(&r, 3)};
		if (case_valid(&c)) cases[i++] = c;
	}
	check_cases(cases, N, "random");
}

/* Degenerate geometry: a 1x1 input under a large dilated kernel and padding, stride larger than
 * the kernel (input pixels no tap reads get zero gradient), a kernel as large as the input. */
TEST(dwconv_degenerate_shapes)
{
	static const dw_case cases[] = {
		{1, 1, 3, 3, 1, 1, 4, 4, 5, 5, 5, 5, 1},  {1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 3},
		{7, 9, 2, 2, 3, 3, 1, 1, 0, 0, 0, 0, 1},  {10, 10, 1, 1, 4, 4, 1, 1, 0, 2, 1, 0, 2},
		{6, 8, 6, 8, 1, 1, 1, 1, 0, 0, 0, 0, 1},  {3, 40, 3, 9, 1, 7, 1, 2, 1, 1, 0, 9, 1},
	};
	check_cases(cases, (int)(sizeof cases / sizeof cases[0]), "degenerate");
}

/* ---------------------------------------------------------------- the operator in graphs */

static sn_graph *graph_of(const char *text)
{
	sn_graph *g = sn_arch_parse(text, "test");
	if (!g) fprintf(stderr, "  %s\n", sn_errmsg());
	return g;
}

/* The conv node "c" of g (input node 0) against the reference over a batch, forward and
 * backward; returns the worst relative error. */
static double check_graph(sn_graph *g, int batch, int act, sn_rng *r)
{
	const sn_node *n = &g->node[sn_graph_find(g, "c")];
	const sn_conv_attr *a = &n->a.conv;
	sn_shape in = g->node[0].out;
	const int C = in.c, M = a->out_c / C;
	const sn_conv_geom ge = {1, in.h, in.w, a->kh, a->kw, a->sh, a->sw, a->dh, a->dw, a->pt, a->pl, n->out.h, n->out.w,
	                         SN_PAD_ZEROS};
	const size_t xs = sn_shape_numel(in), ys = sn_shape_numel(n->out), kk = (size_t)a->kh * a->kw;
	const size_t ohw = (size_t)n->out.h * n->out.w;
	sn_tensor *w = &g->tensor[sn_tensor_find(g, "c.weight")];
	int bi = sn_tensor_find(g, "c.bias");
	sn_tensor *b = bi >= 0 ? &g->tensor[bi] : NULL;
	float *x = malloc(batch * xs * sizeof *x), *dy = malloc(batch * ys * sizeof *dy), *yref = malloc(batch * ys * sizeof *yref);
	double *dxref = calloc(batch * xs, sizeof *dxref), *dwref = calloc(w->n, sizeof *dwref), worst = 0;
	double *dbref = calloc(a->out_c, sizeof *dbref);
	fill(r, x, batch * xs, 2); fill(r, dy, batch * ys, 1);
	for (int bb = 0; bb < batch; bb++)
		for (int c = 0; c < C; c++) {
			const size_t o = (size_t)c * M;
			reference(&ge, M, x + (bb * C + c) * (size_t)in.h * in.w, w->data + o * kk, b ? b->data + o : NULL, act,
			          dy + bb * ys + o * ohw, yref + bb * ys + o * ohw, dxref + (bb * C + c) * (size_t)in.h * in.w,
			          dwref + o * kk);
		}
	for (int bb = 0; bb < batch; bb++)     /* backward masks dy by the fused activation */
		for (size_t q = 0; q < ys; q++) {
			float yv = yref[bb * ys + q];
			if (act && !(yv > 0 && (act != SN_FUSE_RELU6 || yv < 6))) dy[bb * ys + q] = 0;
		}
	memset(dxref, 0, batch * xs * sizeof *dxref);
	memset(dwref, 0, w->n * sizeof *dwref);
	for (int bb = 0; bb < batch; bb++)
		for (int c = 0; c < C; c++) {
			const size_t o = (size_t)c * M;
			reference(&ge, M, x + (bb * C + c) * (size_t)in.h * in.w, w->data + o * kk, NULL, 0, dy + bb * ys + o * ohw,
			          NULL, dxref + (bb * C + c) * (size_t)in.h * in.w, dwref + o * kk);
			for (int m = 0; m < M; m++)
				for (size_t q = 0; q < ohw; q++) dbref[o + m] += dy[bb * ys + (o + m) * ohw + q];
		}
	if (sn_plan_reshape(g->plan, batch, SN_PLAN_TRAIN | SN_PLAN_INPUT_GRAD)) {
		free(x); free(dy); free(yref); free(dxref); free(dwref); free(dbref);
		return INFINITY;
	}
	const float *y = sn_graph_forward(g, x, batch);
	worst = fmax(worst, sn_test_maxrel(y, yref, batch * ys));
	sn_graph_zero_grad(g);
	CHECK(sn_graph_backward(g, dy) == SN_OK);
	worst = fmax(worst, maxrel_d(sn_plan_grad(g->plan, 0), dxref, batch * xs));
	worst = fmax(worst, maxrel_d(w->grad, dwref, w->n));
	if (b) worst = fmax(worst, maxrel_d(b->grad, dbref, b->n));
	/* an inference plan runs the same kernels without the training buffers */
	sn_graph *h = sn_graph_clone(g);
	if (!h || sn_graph_plan(h, batch, 0)) worst = INFINITY;
	else worst = fmax(worst, sn_test_maxrel(sn_graph_forward(h, x, batch), yref, batch * ys));
	sn_graph_free(h);
	free(x); free(dy); free(yref); free(dxref); free(dwref); free(dbref);
	return worst;
}

TEST(dwconv_operator_matches_reference)
{
	static const struct { const char *layer; int c, h, w, batch; } cases[] = {
		{"conv c out=6 k=3 pad=1 groups=6", 6, 9, 11, 3},
		{"conv c out=8 k=3 stride=2 pad=1 groups=4 act=relu", 4, 9, 13, 2},
		{"conv c out=5 k=5 pad=2 groups=5 bias=0 act=relu6", 5, 8, 10, 3},
		{"conv c out=3 k=5 stride=2 pad=2 groups=3", 3, 11, 7, 4},
		{"conv c out=4 k=3 pad=2 dilation=2 groups=4", 4, 6, 17, 2},
		{"conv c out=6 k=3x5 stride=2x1 pad=1,0,2,2 groups=3", 3, 10, 9, 3},
		{"conv c out=2 k=7 stride=3 pad=3 groups=2", 2, 12, 15, 2},
		{"conv c out=3 k=3 pad=1", 1, 8, 8, 5},     /* one input channel: depthwise with multiplier 3 */
	};
	sn_rng r;
	sn_rng_seed(&r, 3);
	for (int t = 1; t <= 3; t++) {
		sn_set_threads(t);
		for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
			char text[256];
			snprintf(text, sizeof text, "input x shape=%dx%dx%d\n%s\n", cases[i].c, cases[i].h, cases[i].w, cases[i].layer);
			sn_graph *g = graph_of(text);
			REQUIRE(g);
			sn_graph_init_params(g, 5 + i);
			sn_tensor *bt = sn_tensor_find(g, "c.bias") >= 0 ? &g->tensor[sn_tensor_find(g, "c.bias")] : NULL;
			if (bt) fill(&r, bt->data, bt->n, 1);
			int act = g->node[1].a.conv.act;
			double e = check_graph(g, cases[i].batch, act, &r);
			CHECKF(e <= DW_TOL, "%s (%d threads): error %.3g", cases[i].layer, t, e);
			/* nothing is kept for backward: no im2col matrix in the training plan */
			CHECK(g->plan->rt[1].saved_bytes == 0);
			sn_graph_free(g);
		}
	}
	sn_set_threads(2);
}

/* ---------------------------------------------------------------- fused activations */

/* Forward and backward of `a` (a conv with act=) and `b` (the same conv, then the activation
 * layer) on the same weights, batch and gradient; returns the worst relative difference. */
static double fused_vs_separate(sn_graph *a, sn_graph *b, int batch, int train, sn_rng *r)
{
	const size_t xs = sn_shape_numel(a->node[0].out), ys = sn_shape_numel(sn_graph_output_shape(a));
	float *x = malloc(batch * xs * sizeof *x), *dy = malloc(batch * ys * sizeof *dy);
	double worst = 0;
	fill(r, x, batch * xs, 3); fill(r, dy, batch * ys, 1);
	memcpy(b->w, a->w, a->n_w * sizeof *a->w);
	const unsigned flags = train ? SN_PLAN_TRAIN | SN_PLAN_INPUT_GRAD : 0;
	if (sn_plan_reshape(a->plan, batch, flags) || sn_plan_reshape(b->plan, batch, flags)) worst = INFINITY;
	else {
		float *ya = malloc(batch * ys * sizeof *ya);
		memcpy(ya, sn_graph_forward(a, x, batch), batch * ys * sizeof *ya);
		worst = sn_test_maxrel(ya, sn_graph_forward(b, x, batch), batch * ys);
		if (train) {
			sn_graph_zero_grad(a); sn_graph_zero_grad(b);
			CHECK(sn_graph_backward(a, dy) == SN_OK); CHECK(sn_graph_backward(b, dy) == SN_OK);
			worst = fmax(worst, sn_test_maxrel(sn_plan_grad(a->plan, 0), sn_plan_grad(b->plan, 0), batch * xs));
			worst = fmax(worst, sn_test_maxrel(a->gw, b->gw, a->n_w));
		}
		free(ya);
	}
	free(x); free(dy);
	return worst;
}

/* Fraction of outputs of g (last forward) in the activation's flat parts, to prove the cases
 * exercise the clipping. */
static double clipped(const sn_graph *g, int batch, int act)
{
	const float *y = sn_plan_output(g->plan, g->n_node - 1);
	size_t N = (size_t)batch * sn_shape_numel(sn_graph_output_shape(g)), k = 0;
	for (size_t i = 0; i < N; i++) k += y[i] <= 0 || (act == SN_FUSE_RELU6 && y[i] >= 6);
	return (double)k / N;
}

TEST(dwconv_fused_activation_matches_separate_layer)
{
	/* depthwise (direct kernels), grouped and dense 3x3 (im2col + GEMM), pointwise (GEMM on x) */
	static const char *layers[] = {"k=3 pad=1 groups=4", "k=3 stride=2 pad=1 groups=4 out=8", "k=3 pad=1 groups=2",
	                               "k=3 pad=1", "k=1"};
	static const char *acts[] = {"none", "relu", "relu6"};
	sn_rng r;
	sn_rng_seed(&r, 9);
	for (int act = SN_FUSE_RELU; act <= SN_FUSE_RELU6; act++)
		for (size_t i = 0; i < sizeof layers / sizeof layers[0]; i++)
			for (int train = 0; train <= 1; train++) {
				char ta[256], tb[256];
				const char *out = strstr(layers[i], "out=") ? "" : "out=4";
				snprintf(ta, sizeof ta, "input x shape=4x7x9\nconv c %s %s act=%s\n", out, layers[i], acts[act]);
				snprintf(tb, sizeof tb, "input x shape=4x7x9\nconv c %s %s\n%s r\n", out, layers[i], acts[act]);
				sn_graph *a = graph_of(ta), *b = graph_of(tb);
				REQUIRE(a && b);
				sn_graph_init_params(a, 1);
				fill(&r, a->w, a->n_w, 1.5f);   /* large enough that ReLU6 clips at 6 too */
				double e = fused_vs_separate(a, b, 3, train, &r);
				CHECKF(e <= 1e-6, "%s act=%s train=%d: fused and separate differ by %.3g", layers[i], acts[act], train, e);
				double f = clipped(a, 3, act);
				CHECKF(f > 0.1 && f < 0.9, "%s act=%s: %.2f of the outputs clipped", layers[i], acts[act], f);
				sn_graph_free(a); sn_graph_free(b);
			}
}

/* L = sum(y * r); central differences of L against backward's gradients for some inputs and
 * weights. A coordinate whose +-h step moves any output across a kink of the activation is
 * skipped (the derivative is one-sided there). Returns the worst |a - n| / (1e-3 + 2e-2 |n|). */
static double finite_differences(sn_graph *g, int batch, int act, sn_rng *r, int *checked)
{
	const size_t xs = sn_shape_numel(g->node[0].out), ys = sn_shape_numel(sn_graph_output_shape(g));
	float *x = malloc(batch * xs * sizeof *x), *rr = malloc(batch * ys * sizeof *rr), *yp = malloc(batch * ys * sizeof *yp);
	double worst = 0;
	const float h = 1e-2f;
	fill(r, x, batch * xs, 2); fill(r, rr, batch * ys, 1);
	if (sn_plan_reshape(g->plan, batch, SN_PLAN_TRAIN | SN_PLAN_INPUT_GRAD)) return INFINITY;
	sn_graph_forward(g, x, batch);
	sn_graph_zero_grad(g);
	CHECK(sn_graph_backward(g, rr) == SN_OK);
	float *gx = malloc(batch * xs * sizeof *gx);
	memcpy(gx, sn_plan_grad(g->plan, 0), batch * xs * sizeof *gx);
	for (int k = 0; k < 80; k++) {
		int in_x = k % 2 == 0;
		size_t q = in_x ? sn_rng_below(r, (uint32_t)(batch * xs)) : sn_rng_below(r, (uint32_t)g->n_w);
		float *v = in_x ? &x[q] : &g->w[q], v0 = *v, analytic = in_x ? gx[q] : g->gw[q];
		double L[2];
		int kink = 0;
		for (int s = 0; s < 2; s++) {
			*v = v0 + (s ? -h : h);
			const float *y = sn_graph_forward(g, x, batch);
			L[s] = 0;
			for (size_t i = 0; i < batch * ys; i++) L[s] += (double)y[i] * rr[i];
			if (!s) memcpy(yp, y, batch * ys * sizeof *yp);
			else
				for (size_t i = 0; i < batch * ys; i++) {
					int a0 = yp[i] > 0 && (act != SN_FUSE_RELU6 || yp[i] < 6), a1 = y[i] > 0 && (act != SN_FUSE_RELU6 || y[i] < 6);
					kink |= a0 != a1;
				}
		}
		*v = v0;
		if (kink) continue;
		double numeric = (L[0] - L[1]) / (2 * h);
		worst = fmax(worst, fabs(analytic - numeric) / (1e-3 + 2e-2 * fabs(numeric)));
		(*checked)++;
	}
	free(x); free(rr); free(yp); free(gx);
	return worst;
}

TEST(dwconv_fused_activation_finite_differences)
{
	static const char *archs[] = {
		"input x shape=3x6x7\nconv c out=6 k=3 stride=2 pad=1 groups=3 act=relu6\n",
		"input x shape=3x6x7\nconv c out=3 k=5 pad=2 groups=3 act=relu\n",
		"input x shape=3x6x7\nconv c out=4 k=3 pad=1 act=relu6\n",
		"input x shape=3x6x7\nconv c out=4 k=1 act=relu\n",
	};
	sn_rng r;
	sn_rng_seed(&r, 21);
	for (size_t i = 0; i < sizeof archs / sizeof archs[0]; i++) {
		sn_graph *g = graph_of(archs[i]);
		REQUIRE(g);
		sn_graph_init_params(g, 2);
		fill(&r, g->w, g->n_w, 1.5f);
		int checked = 0;
		double e = finite_differences(g, 2, g->node[1].a.conv.act, &r, &checked);
		CHECKF(e <= 1, "%s: analytic and numeric gradients differ (worst %.3g of the tolerance)", archs[i], e);
		CHECKF(checked >= 40, "%s: only %d coordinates away from kinks", archs[i], checked);
		sn_graph_free(g);
	}
}
