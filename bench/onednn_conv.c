/* bench_onednn — what the CPU and oneDNN can do on bench/'s dense conv shapes, against slimnn's
 * own conv path, forward and backward (issue 18's measurement step).
 *
 *   bench_onednn [--threads T] [--runs R] peak
 *   bench_onednn [--threads T] [--runs R] N,Cin,H,W,Cout,k,stride ...
 *
 * peak: the FMA peak of the widest vectors the CPU has, from a loop of independent vfmadd231ps on
 * 16 zmm (and 12 ymm) accumulators, 1 and T threads: GFLOP/s = 2 * lanes * FMAs / s.
 *
 * A conv word (padding k/2, bias, float32) is timed (median of R after a warm-up) as:
 *   onednn:plain     oneDNN's conv on slimnn's own layouts: src and dst NCHW, weights reordered
 *                    once (excluded); the impl it picked is named
 *   onednn:blocked   the layouts oneDNN prefers (format any), with the reorders of src from NCHW
 *                    and of dst back to NCHW inside the timed region
 *   onednn:blocked-conv  the same conv alone, without the reorders
 *   weights-reorder  OIHW to the blocked conv's weights layout (the forward of a changed model)
 *   bwd-data:plain / bwd-data:blocked   the input gradient, dy and dx in NCHW (or reordered)
 *   bwd-weights:plain / bwd-weights:blocked   the weight and bias gradients, x and dy NCHW
 *                    (or reordered), dW reordered back to OIHW
 *   slimnn-own:fwd / slimnn-own:train(f+b)   slimnn's conv through the public API on its own
 *                    kernels (SLIMNN_CONV_ENGINE=own): inference forward, and one training step's
 *                    forward + backward (sn_graph_backward)
 *   slimnn-onednn:fwd / slimnn-onednn:train(f+b)   the same on slimnn's oneDNN path
 *   wino weights-reorder   OIHW to oneDNN's Winograd weights (their transform: once per packing)
 *   onednn:direct / onednn:wino   the direct forward slimnn runs (forward_training, blocked) and
 *                    oneDNN's Winograd one (dnnl_convolution_winograd, forward_inference: the
 *                    weights transformed by their reorder, once), both with the reorders of src
 *                    and dst inside, timed alternately,
 *                    then wino/direct and both's error against a double reference
 *   onednn:wino-conv the Winograd conv alone
 * --min 1 reports the fastest run instead of the median (on a loaded machine); --slimnn-only 1
 * times slimnn alone, both engines in the order own, oneDNN, oneDNN, own (the better of each
 * engine's two figures); --wino-only 1 the direct and Winograd forwards alone.
 * Each line: shape, what, ms, GFLOP/s (2 * MACs per pass / time; a training step counts 3 passes).
 */
#include <immintrin.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dnnl.h>
#include "slimnn.h"
#include "core/internal.h"
#include "kernels/dnnl_conv.h"
#include "timing.h"

static int T = 2, R = 15, best_of = 0, slimnn_only = 0, wino_only = 0;

static double bench_min(const double *t, int n)
{
	double m = t[0];
	for (int i = 1; i < n; i++) m = t[i] < m ? t[i] : m;
	return m;
}

#define CHECK(x)                                                                                   \
	do {                                                                                           \
		dnnl_status_t s_ = (x);                                                                    \
		if (s_ != dnnl_success) {                                                                  \
			fprintf(stderr, "%s:%d: %s failed (%d)\n", __FILE__, __LINE__, #x, (int)s_);          \
			return -1;                                                                             \
		}                                                                                          \
	} while (0)

/* ------------------------------------------------------------------ FMA peak */
__attribute__((target("avx512f"), noinline)) static float fma_zmm(long iters)
{
	__m512 a[16], m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
	for (int i = 0; i < 16; i++) a[i] = _mm512_set1_ps((float)i);
	for (long it = 0; it < iters; it++)
		for (int i = 0; i < 16; i++) a[i] = _mm512_fmadd_ps(a[i], m, c);
	__m512 s = a[0];
	for (int i = 1; i < 16; i++) s = _mm512_add_ps(s, a[i]);
	return _mm512_reduce_add_ps(s);
}

__attribute__((target("avx2,fma"), noinline)) static float fma_ymm(long iters)
{
	__m256 a[12], m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
	for (int i = 0; i < 12; i++) a[i] = _mm256_set1_ps((float)i);
	for (long it = 0; it < iters; it++)
		for (int i = 0; i < 12; i++) a[i] = _mm256_fmadd_ps(a[i], m, c);
	__m256 s = a[0];
	for (int i = 1; i < 12; i++) s = _mm256_add_ps(s, a[i]);
	float f[8];
	_mm256_storeu_ps(f, s);
	return f[0] + f[7];
}

static void peak(void)
{
	const long it = 5000000;   /* about 5 ms a run: short enough to fit between preemptions */
	volatile float sink = 0;
	for (int zmm = 1; zmm >= 0; zmm--) {
		if (zmm && !__builtin_cpu_supports("avx512f")) { printf("peak zmm: no AVX-512 on this CPU\n"); continue; }
		for (int t = 1; t <= T; t *= 2) {
			double best = 1e30;
			for (int r = 0; r < 40; r++) {   /* the fastest of 40 */
				double t0 = bench_now();
				#pragma omp parallel num_threads(t) reduction(+ : sink)
				sink += zmm ? fma_zmm(it / 4) : fma_ymm(it / 4);
				const double d = bench_now() - t0;
				if (d < best) best = d;
			}
			const double fl = 2.0 * (zmm ? 16 * 16 : 12 * 8) * (double)(it / 4) * t;
			printf("peak %s threads=%d GFLOP/s=%.1f\n", zmm ? "zmm(16 acc)" : "ymm(12 acc)", t, fl / best * 1e-9);
		}
	}
}

/* ------------------------------------------------------------------ oneDNN */
static dnnl_engine_t eng;
static dnnl_stream_t str;

typedef struct { dnnl_primitive_t p; dnnl_memory_t from, to; } reorder;

static int make_reorder(reorder *r, const dnnl_memory_desc_t *a, const dnnl_memory_desc_t *b, void *pa, void *pb)
{
	dnnl_primitive_desc_t pd;
	CHECK(dnnl_reorder_primitive_desc_create(&pd, a, eng, b, eng, NULL));
	CHECK(dnnl_primitive_create(&r->p, pd));
	dnnl_primitive_desc_destroy(pd);
	CHECK(dnnl_memory_create(&r->from, a, eng, pa ? pa : DNNL_MEMORY_ALLOCATE));
	CHECK(dnnl_memory_create(&r->to, b, eng, pb ? pb : DNNL_MEMORY_ALLOCATE));
	return 0;
}
static void run_reorder(reorder *r)
{
	dnnl_exec_arg_t a[2] = {{DNNL_ARG_FROM, r->from}, {DNNL_ARG_TO, r->to}};
	dnnl_primitive_execute(r->p, str, 2, a);
}

typedef struct {
	dnnl_primitive_t p;
	int nargs;
	dnnl_exec_arg_t args[6];
	reorder pre[2], post;  /* before: src/ddst to the primitive's layout; after: result to plain */
	float *y;              /* a forward's output */
	int npre, has_post;
	const char *impl;
} job;

static void run_job(void *c)
{
	job *j = c;
	for (int i = 0; i < j->npre; i++) run_reorder(&j->pre[i]);
	dnnl_primitive_execute(j->p, str, j->nargs, j->args);
	if (j->has_post) run_reorder(&j->post);
	dnnl_stream_wait(str);
}
static void run_reorders(void *c)
{
	job *j = c;
	for (int i = 0; i < j->npre; i++) run_reorder(&j->pre[i]);
	dnnl_stream_wait(str);
}
static void run_prim(void *c)
{
	job *j = c;
	dnnl_primitive_execute(j->p, str, j->nargs, j->args);
	dnnl_stream_wait(str);
}

static double time_fn(void (*fn)(void *), void *c)
{
	double t[64] = {0};
	const double w0 = bench_now();
	for (int r = 0; r < 3 || bench_now() - w0 < 0.2; r++) fn(c);
	for (int r = 0; r < R; r++) {
		double t0 = bench_now();
		fn(c);
		t[r] = (bench_now() - t0) * 1e3;
	}
	return best_of ? bench_min(t, R) : bench_median(t, R);
}

static float *rnd(size_t n)
{
	float *p = malloc(n * sizeof *p);
	for (size_t i = 0; i < n; i++) p[i] = (float)((double)rand() / RAND_MAX - 0.5);
	return p;
}

/* The memory a primitive wants for `q`, and a memory of it (aliasing `plain` when the layouts
 * agree, else its own buffer with a reorder from/to plain recorded in j). */
static dnnl_memory_t bind(job *j, const_dnnl_primitive_desc_t pd, dnnl_query_t q, const dnnl_memory_desc_t *plain,
                          float *data, int out)
{
	const dnnl_memory_desc_t *want = dnnl_primitive_desc_query_md(pd, q, 0);
	dnnl_memory_t m;
	if (dnnl_memory_desc_equal(want, plain)) {
		dnnl_memory_create(&m, plain, eng, data);
		return m;
	}
	reorder *r = out ? &j->post : &j->pre[j->npre];
	if (out) { make_reorder(r, want, plain, NULL, data); j->has_post = 1; return r->from; }
	make_reorder(r, plain, want, data, NULL);
	j->npre++;
	return r->to;
}

static void report(const char *shape, const char *what, const char *impl, double ms, double flop)
{
	printf("%-26s %-22s %8.3f ms %7.1f GFLOP/s  %s\n", shape, what, ms, flop / ms * 1e-6, impl ? impl : "");
	fflush(stdout);
}

/* A conv's tensors in slimnn's layouts (and oneDNN's free choice), and their data. */
typedef struct {
	const dnnl_memory_desc_t *x, *y, *w, *b, *xa, *ya, *wa;
	const dnnl_dim_t *st, *pad;
	float *xd, *wd, *bd;
} conv_io;

/* The forward (prop) of alg into y: src and dst in NCHW (plain) or oneDNN's layouts with the
 * reorders in j (blocked), the weights reordered once into wr's buffer (done here: a Winograd
 * layout's reorder is its weight transform). 1 where oneDNN refuses the shape. */
static int fwd_job(job *j, reorder *wr, const conv_io *io, dnnl_prop_kind_t prop, dnnl_alg_kind_t alg, int blocked,
                   float *y)
{
	dnnl_convolution_desc_t cd;
	dnnl_primitive_desc_t pd;
	memset(j, 0, sizeof *j);
	if (dnnl_convolution_forward_desc_init(&cd, prop, alg, blocked ? io->xa : io->x, io->wa, io->b,
	                                       blocked ? io->ya : io->y, io->st, io->pad, io->pad) != dnnl_success ||
	    dnnl_primitive_desc_create(&pd, &cd, NULL, eng, NULL) != dnnl_success)
		return 1;
	CHECK(dnnl_primitive_create(&j->p, pd));
	dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &j->impl);
	if (make_reorder(wr, io->w, dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0), io->wd, NULL)) return -1;
	run_reorder(wr);
	dnnl_memory_t bm;
	CHECK(dnnl_memory_create(&bm, io->b, eng, io->bd));
	dnnl_memory_t xm = bind(j, pd, dnnl_query_src_md, io->x, io->xd, 0);
	dnnl_memory_t ym = bind(j, pd, dnnl_query_dst_md, io->y, y, 1);
	j->y = y;
	j->nargs = 4;
	j->args[0] = (dnnl_exec_arg_t){DNNL_ARG_SRC, xm};
	j->args[1] = (dnnl_exec_arg_t){DNNL_ARG_WEIGHTS, wr->to};
	j->args[2] = (dnnl_exec_arg_t){DNNL_ARG_BIAS, bm};
	j->args[3] = (dnnl_exec_arg_t){DNNL_ARG_DST, ym};
	return 0;
}

/* The conv (padding k/2) in double, the reference both oneDNN forwards are measured against. */
static void conv_ref(const conv_io *io, int N, int C, int H, int W, int O, int k, int s, double *y)
{
	const int p = k / 2, OH = (H + 2 * p - k) / s + 1, OW = (W + 2 * p - k) / s + 1;
	#pragma omp parallel for collapse(2) schedule(static)
	for (int n = 0; n < N; n++)
		for (int o = 0; o < O; o++)
			for (int oy = 0; oy < OH; oy++)
				for (int ox = 0; ox < OW; ox++) {
					double a = io->bd[o];
					for (int c = 0; c < C; c++)
						for (int ky = 0; ky < k; ky++)
							for (int kx = 0; kx < k; kx++) {
								const int iy = oy * s - p + ky, ix = ox * s - p + kx;
								if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
								a += (double)io->xd[(((size_t)n * C + c) * H + iy) * W + ix] *
								     io->wd[(((size_t)o * C + c) * k + ky) * k + kx];
							}
					y[(((size_t)n * O + o) * OH + oy) * OW + ox] = a;
				}
}

/* max |a - ref| / max |ref| */
static double err_of(const float *a, const double *ref, size_t n)
{
	double e = 0, m = 0;
	for (size_t i = 0; i < n; i++) {
		const double d = fabs(a[i] - ref[i]);
		e = d > e ? d : e;
		m = fabs(ref[i]) > m ? fabs(ref[i]) : m;
	}
	return m > 0 ? e / m : e;
}

/* oneDNN's Winograd forward (inference: the weights transformed once by their reorder) against
 * its direct one (blocked, the reorders of src and dst timed with each), timed alternately
 * (direct, wino, wino, direct: the better of each's two medians), and the error of both against
 * a double reference. Measured 2026-12 on a Zen 4 (1 thread, CPU clock; see the end of the file
 * for the figures). */
static int bench_wino(const char *shape, const conv_io *io, int N, int C, int H, int W, int O, int k, int s,
                      double flop)
{
	const int p = k / 2, OH = (H + 2 * p - k) / s + 1, OW = (W + 2 * p - k) / s + 1;
	const size_t ny = (size_t)N * O * OH * OW;
	float *yd = malloc(ny * sizeof *yd), *yw = malloc(ny * sizeof *yw);
	job d, j;
	reorder dr, wr;
	/* the direct forward slimnn runs (training: blocked jit kernels, see src/kernels/dnnl_conv.c) */
	if (fwd_job(&d, &dr, io, dnnl_forward_training, dnnl_convolution_direct, 1, yd)) return -1;
	const int rc = fwd_job(&j, &wr, io, dnnl_forward_inference, dnnl_convolution_winograd, 1, yw);
	if (rc) {
		report(shape, "onednn:wino", rc > 0 ? "refused" : "failed", 0, flop);
		free(yd);
		free(yw);
		return rc < 0;
	}
	job wj = {.npre = 1, .pre = {wr}, .p = NULL};
	report(shape, "wino weights-reorder", NULL, time_fn(run_reorders, &wj), flop);
	double t[2] = {1e30, 1e30};   /* direct, wino */
	for (int r = 0; r < 4; r++) {
		const int wino = r == 1 || r == 2;
		const double ms = time_fn(run_job, wino ? &j : &d);
		if (ms < t[wino]) t[wino] = ms;
	}
	report(shape, "onednn:direct", d.impl, t[0], flop);
	report(shape, "onednn:wino", j.impl, t[1], flop);
	report(shape, "onednn:wino-conv", j.impl, time_fn(run_prim, &j), flop);
	double *ref = malloc(ny * sizeof *ref);
	run_job(&d);
	run_job(&j);
	conv_ref(io, N, C, H, W, O, k, s, ref);
	printf("%-26s wino/direct time %.2f; max error / max |y| against double: direct %.2e, wino %.2e\n", shape,
	       t[1] / t[0], err_of(yd, ref, ny), err_of(yw, ref, ny));
	free(ref);
	free(yd);
	free(yw);
	return 0;
}

static int bench_conv(int N, int C, int H, int W, int O, int k, int s)
{
	const int p = k / 2, OH = (H + 2 * p - k) / s + 1, OW = (W + 2 * p - k) / s + 1;
	const double flop = 2.0 * N * O * OH * OW * C * k * k;
	char shape[64];
	snprintf(shape, sizeof shape, "%d,%d,%d,%d,%d,%d,%d", N, C, H, W, O, k, s);
	dnnl_dims_t xd = {N, C, H, W}, yd = {N, O, OH, OW}, wd = {O, C, k, k}, bd = {O}, st = {s, s}, pad = {p, p};
	dnnl_memory_desc_t x_nchw, y_nchw, w_oihw, b_x, x_any, y_any, w_any;
	dnnl_memory_desc_init_by_tag(&x_nchw, 4, xd, dnnl_f32, dnnl_nchw);
	dnnl_memory_desc_init_by_tag(&y_nchw, 4, yd, dnnl_f32, dnnl_nchw);
	dnnl_memory_desc_init_by_tag(&w_oihw, 4, wd, dnnl_f32, dnnl_oihw);
	dnnl_memory_desc_init_by_tag(&b_x, 1, bd, dnnl_f32, dnnl_x);
	dnnl_memory_desc_init_by_tag(&x_any, 4, xd, dnnl_f32, dnnl_format_tag_any);
	dnnl_memory_desc_init_by_tag(&y_any, 4, yd, dnnl_f32, dnnl_format_tag_any);
	dnnl_memory_desc_init_by_tag(&w_any, 4, wd, dnnl_f32, dnnl_format_tag_any);
	float *x = rnd((size_t)N * C * H * W), *y = rnd((size_t)N * O * OH * OW), *w = rnd((size_t)O * C * k * k),
	      *b = rnd(O), *dy = rnd((size_t)N * O * OH * OW), *dx = rnd((size_t)N * C * H * W),
	      *dw = rnd((size_t)O * C * k * k), *db = rnd(O);

	const conv_io io = {&x_nchw, &y_nchw, &w_oihw, &b_x, &x_any, &y_any, &w_any, st, pad, x, w, b};
	if (wino_only) {
		if (bench_wino(shape, &io, N, C, H, W, O, k, s, flop)) return -1;
		goto done;
	}
	for (int blocked = 0; blocked < 2 && !slimnn_only; blocked++) {
		/* forward */
		job j = {0};
		reorder wr;
		if (fwd_job(&j, &wr, &io, dnnl_forward_inference, dnnl_convolution_direct, blocked, y)) return -1;
		if (blocked) {
			job wj = {.npre = 1, .pre = {wr}, .p = NULL};
			report(shape, "weights-reorder", NULL, time_fn(run_reorders, &wj), flop);
		}
		report(shape, blocked ? "onednn:blocked" : "onednn:plain", j.impl, time_fn(run_job, &j), flop);
		if (blocked) report(shape, "onednn:blocked-conv", j.impl, time_fn(run_prim, &j), flop);
		if (blocked && bench_wino(shape, &io, N, C, H, W, O, k, s, flop)) return -1;

		/* backward data: hint is a forward_training pd */
		dnnl_convolution_desc_t fd2, bdd, bwd;
		CHECK(dnnl_convolution_forward_desc_init(&fd2, dnnl_forward_training, dnnl_convolution_direct,
		                                         blocked ? &x_any : &x_nchw, &w_any, &b_x,
		                                         blocked ? &y_any : &y_nchw, st, pad, pad));
		dnnl_primitive_desc_t hint;
		CHECK(dnnl_primitive_desc_create(&hint, &fd2, NULL, eng, NULL));
		CHECK(dnnl_convolution_backward_data_desc_init(&bdd, dnnl_convolution_direct, blocked ? &x_any : &x_nchw,
		                                               &w_any, blocked ? &y_any : &y_nchw, st, pad, pad));
		dnnl_primitive_desc_t dpd;
		if (dnnl_primitive_desc_create(&dpd, &bdd, NULL, eng, hint) == dnnl_success) {
			job d = {0};
			CHECK(dnnl_primitive_create(&d.p, dpd));
			dnnl_primitive_desc_query(dpd, dnnl_query_impl_info_str, 0, &d.impl);
			reorder wr2;
			make_reorder(&wr2, &w_oihw, dnnl_primitive_desc_query_md(dpd, dnnl_query_weights_md, 0), w, NULL);
			run_reorder(&wr2);
			dnnl_memory_t dym = bind(&d, dpd, dnnl_query_diff_dst_md, &y_nchw, dy, 0);
			dnnl_memory_t dxm = bind(&d, dpd, dnnl_query_diff_src_md, &x_nchw, dx, 1);
			d.nargs = 3;
			d.args[0] = (dnnl_exec_arg_t){DNNL_ARG_DIFF_DST, dym};
			d.args[1] = (dnnl_exec_arg_t){DNNL_ARG_WEIGHTS, wr2.to};
			d.args[2] = (dnnl_exec_arg_t){DNNL_ARG_DIFF_SRC, dxm};
			report(shape, blocked ? "bwd-data:blocked" : "bwd-data:plain", d.impl, time_fn(run_job, &d), flop);
		} else report(shape, blocked ? "bwd-data:blocked" : "bwd-data:plain", "refused", 0, flop);

		CHECK(dnnl_convolution_backward_weights_desc_init(&bwd, dnnl_convolution_direct, blocked ? &x_any : &x_nchw,
		                                                  &w_any, &b_x, blocked ? &y_any : &y_nchw, st, pad, pad));
		dnnl_primitive_desc_t wpd;
		if (dnnl_primitive_desc_create(&wpd, &bwd, NULL, eng, hint) == dnnl_success) {
			job d = {0};
			CHECK(dnnl_primitive_create(&d.p, wpd));
			dnnl_primitive_desc_query(wpd, dnnl_query_impl_info_str, 0, &d.impl);
			dnnl_memory_t xm2 = bind(&d, wpd, dnnl_query_src_md, &x_nchw, x, 0);
			dnnl_memory_t dym = bind(&d, wpd, dnnl_query_diff_dst_md, &y_nchw, dy, 0);
			dnnl_memory_t dwm = bind(&d, wpd, dnnl_query_diff_weights_md, &w_oihw, dw, 1);
			dnnl_memory_t dbm;
			dnnl_memory_create(&dbm, &b_x, eng, db);
			d.nargs = 4;
			d.args[0] = (dnnl_exec_arg_t){DNNL_ARG_SRC, xm2};
			d.args[1] = (dnnl_exec_arg_t){DNNL_ARG_DIFF_DST, dym};
			d.args[2] = (dnnl_exec_arg_t){DNNL_ARG_DIFF_WEIGHTS, dwm};
			d.args[3] = (dnnl_exec_arg_t){DNNL_ARG_DIFF_BIAS, dbm};
			report(shape, blocked ? "bwd-weights:blocked" : "bwd-weights:plain", d.impl, time_fn(run_job, &d), flop);
		} else report(shape, blocked ? "bwd-weights:blocked" : "bwd-weights:plain", "refused", 0, flop);
	}

	/* slimnn through the public API, on its own kernels and on its oneDNN path */
	char text[256];
	snprintf(text, sizeof text, "input x shape=%dx%dx%d\nconv c out=%d k=%d stride=%d pad=%d\n", C, H, W, O, k, s, p);
	double best[2][2] = {{1e30, 1e30}, {1e30, 1e30}};   /* [own][train] */
	for (int e = 0; e < 8; e++) {   /* own, oneDNN, oneDNN, own (ABBA), forward and training each */
		const int train = e & 1, own = e < 2 || e >= 6;
		sn_dnnl_set_mode(own ? SN_DNNL_OWN : SN_DNNL_ONEDNN);
		sn_graph *g = sn_arch_parse(text, "bench.arch");
		if (!g) { fprintf(stderr, "%s\n", sn_errmsg()); return -1; }
		sn_graph_init_params(g, 42);
		if (sn_graph_plan(g, N, train)) { fprintf(stderr, "%s\n", sn_errmsg()); return -1; }
		double t[64] = {0};
		for (int r = -3; r < R; r++) {
			double t0 = bench_now();
			sn_graph_forward(g, x, N);
			if (train) sn_graph_backward(g, dy);
			if (r >= 0) t[r] = (bench_now() - t0) * 1e3;
		}
		const double ms = best_of ? bench_min(t, R) : bench_median(t, R);
		if (ms < best[own][train]) best[own][train] = ms;
		sn_graph_free(g);
	}
	for (int e = 0; e < 4; e++) {
		const int train = e & 1, own = e < 2;
		char what[64];
		snprintf(what, sizeof what, "slimnn-%s:%s", own ? "own" : "onednn", train ? "train(f+b)" : "fwd");
		report(shape, what, NULL, best[own][train], train ? 3 * flop : flop);
	}
	const char *pick[2];   /* what the default rule (SLIMNN_CONV_ENGINE=auto) runs */
	sn_dnnl_set_mode(SN_DNNL_AUTO);
	for (int train = 0; train < 2; train++) {
		sn_graph *g = sn_arch_parse(text, "bench.arch");
		pick[train] = g && !sn_graph_plan(g, N, train) && sn_conv_dnnl_impl(g->plan, &g->node[1]) ? "onednn" : "own";
		sn_graph_free(g);
	}
	sn_dnnl_set_mode(-1);
	printf("%-26s own/onednn: forward %.2f, training %.2f; auto runs forward on %s, training on %s\n", shape,
	       best[1][0] / best[0][0], best[1][1] / best[0][1], pick[0], pick[1]);
done:
	free(x); free(y); free(w); free(b); free(dy); free(dx); free(dw); free(db);
	return 0;
}

int main(int argc, char **argv)
{
	int a = 1;
	for (; a < argc && argv[a][0] == '-'; a += 2) {
		if (a + 1 >= argc) return 2;
		if (!strcmp(argv[a], "--threads")) T = atoi(argv[a + 1]);
		else if (!strcmp(argv[a], "--min")) best_of = atoi(argv[a + 1]);
		else if (!strcmp(argv[a], "--slimnn-only")) slimnn_only = atoi(argv[a + 1]);
		else if (!strcmp(argv[a], "--wino-only")) wino_only = atoi(argv[a + 1]);
		else if (!strcmp(argv[a], "--runs")) R = atoi(argv[a + 1]) > 64 ? 64 : atoi(argv[a + 1]) < 1 ? 1 : atoi(argv[a + 1]);
		else return 2;
	}
	sn_set_threads(T);
	omp_set_num_threads(T);
	dnnl_engine_create(&eng, dnnl_cpu, 0);
	dnnl_stream_create(&str, eng, dnnl_stream_default_flags);
	for (; a < argc; a++) {
		if (!strcmp(argv[a], "peak")) { peak(); continue; }
		int v[7];
		if (sscanf(argv[a], "%d,%d,%d,%d,%d,%d,%d", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6]) != 7) return 2;
		if (bench_conv(v[0], v[1], v[2], v[3], v[4], v[5], v[6])) return 1;
	}
	return 0;
}
