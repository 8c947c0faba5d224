/* bench_kernels — slimnn's inference latency on the cases bench/run.sh compares with PyTorch.
 *
 *   bench_kernels [--threads T] [--warmup W] [--runs R] [--seed S] CASE...
 *
 * CASE (bench/torch_kernels.py takes the same words, so both sides time the same work):
 *   conv:N,Cin,H,W,Cout,k,stride,groups   one Conv2d (padding k/2, with bias)
 *   sparse:N,Cin,H,W,Cout,percent         one 1x1 Conv2d without bias, `percent` % of its
 *                                         weights zeroed (the smallest magnitudes: unstructured)
 *   model:PATH                            a whole network (.arch, .slim or .onnx) at batch N = 1;
 *                                         also the time to load it (impl=load, an .onnx file's import)
 *   q8conv:N,Cin,H,W,Cout,k,stride,groups the conv: case in float, then the same layer in int8
 *                                         (kernels/qconv.h) on each instruction set the CPU has
 *                                         (impl=int8:KERNEL); torch_kernels.py: PyTorch's quantized engines
 *   q8linear:N,K,OUT                      a Linear layer the same way (a batch of N rows)
 *   q8model:N,PATH                        a whole network at batch N, float (prepared) and int8
 *                                         (sn_quantize on 8 random images), ABBA: impl=float, int8
 *   q8sparse:N,Cin,H,W,Cout,percent       the sparse: case's pruned 1x1 conv in float, dense and
 *                                         sparse, and its weights quantized per channel, int8 dense
 *                                         and int8 sparse (kernels/q8_spmm.h) on the best path, in
 *                                         the order ABCDDCBA (each impl the mean of its two medians):
 *                                         impl=dense, sparse, int8:KERNEL, int8-sparse:KERNEL
 *   q8sparselinear:N,K,OUT,percent        the same for a Linear layer (a batch of N rows)
 *
 * Every case is a graph built through the public API (architecture text, seeded PyTorch-style
 * initialisation), planned for inference with sn_graph_plan(g, N, 0) and timed as W untimed
 * forward passes (for at least BENCH_WARMUP_S), then the median of R timed ones (a median so
 * that one preempted pass does not move the figure). One line per measurement:
 *
 *   case=conv:1,3,224,224,32,3,2,1 engine=slimnn impl=dense macs=10838016 ms=0.412 runs=25
 *
 * impl: conv: dense; sparse: dense, then sparse (sn_graph_select_sparse(SN_SPARSE_FORCE); its
 * output is checked against the dense one first); model: plain (the graph as written), then
 * prepared (sn_prepare_inference: BatchNorm folded, activations fused, Dropout dropped, sparse
 * kernels where they pay off; checked against plain). macs: multiply-adds of one pass over the
 * batch, weights only (biases and non-conv layers excluded for conv and sparse cases; the
 * summary's torchinfo count for models). A case that fails (bad words, a failed check) prints
 * `case=... engine=slimnn err=1` and its reason on stderr; the others still run, and the exit
 * status is 1.
 */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/error.h"
#include "kernels/q8_spmm.h"
#include "kernels/qconv.h"
#include "timing.h"

typedef struct {
	int threads, warmup, runs;
	uint64_t seed;
} bench_opts;

/* Median milliseconds of one call of fn(ctx): W untimed calls (and BENCH_WARMUP_S of them),
 * then the median of R timed ones. */
static double time_calls(void (*fn)(void *), void *ctx, const bench_opts *o)
{
	double *t = malloc((size_t)o->runs * sizeof *t);
	if (!t) return NAN;
	const double w0 = bench_now();
	for (int r = 0; r < o->warmup || (o->warmup && bench_now() - w0 < BENCH_WARMUP_S); r++) fn(ctx);
	for (int r = 0; r < o->runs; r++) {
		double t0 = bench_now();
		fn(ctx);
		t[r] = (bench_now() - t0) * 1e3;
	}
	double med = bench_median(t, o->runs);
	free(t);
	return med;
}

typedef struct { sn_graph *g; const float *x; int batch; } forward_ctx;
static void forward_once(void *c) { forward_ctx *f = c; sn_graph_forward(f->g, f->x, f->batch); }

/* Median milliseconds of one forward pass of g (planned for batch) on x. */
static double time_forward(sn_graph *g, const float *x, int batch, const bench_opts *o)
{
	forward_ctx f = {g, x, batch};
	return time_calls(forward_once, &f, o);
}

static void report(const char *c, const char *impl, uint64_t macs, double ms, const bench_opts *o)
{
	printf("case=%s engine=slimnn impl=%s macs=%llu ms=%.4f runs=%d\n", c, impl, (unsigned long long)macs, ms, o->runs);
	fflush(stdout);
}

/* n values uniform in [-1, 1) from a seeded stream: the same input on every run. */
static float *random_input(size_t n, uint64_t seed)
{
	float *x = malloc((n ? n : 1) * sizeof *x);
	sn_rng r;
	sn_rng_seed(&r, seed);
	for (size_t i = 0; x && i < n; i++) x[i] = 2.0f * sn_rng_uniform(&r) - 1.0f;
	if (!x) sn_seterr(SN_ENOMEM, "out of memory for an input of %zu floats", n);
	return x;
}

/* A graph ready to time: parsed (text) or loaded (path), planned for inference; an architecture
 * without weights (text, or a path ending in .arch) gets seeded random ones. */
static sn_graph *ready_graph(const char *text, const char *path, int batch, const bench_opts *o)
{
	sn_graph *g = text ? sn_arch_parse(text, "bench.arch") : sn_load_any(path, NULL);
	if (!g) return NULL;
	size_t len = path ? strlen(path) : 0;
	if (text || (len >= 5 && !strcmp(path + len - 5, ".arch"))) sn_graph_init_params(g, o->seed);
	if (sn_graph_plan(g, batch, 0)) { sn_graph_free(g); return NULL; }
	return g;
}

/* A copy of the output of one forward pass (batch rows); NULL + sn_errmsg() on failure. */
static float *forward_copy(sn_graph *g, const float *x, int batch, size_t *n)
{
	*n = (size_t)batch * sn_shape_numel(sn_graph_output_shape(g));
	const float *z = sn_graph_forward(g, x, batch);
	float *y = z ? malloc(*n * sizeof *y) : NULL;
	if (y) memcpy(y, z, *n * sizeof *y);
	else if (z) sn_seterr(SN_ENOMEM, "out of memory for an output of %zu floats", *n);
	return y;
}

/* max |a - b| / max |a|: how far an alternative implementation's output is from the reference
 * (infinite where either holds a NaN, so that a broken kernel never passes) */
static double rel_diff(const float *a, const float *b, size_t n)
{
	double d = 0, m = 0;
	for (size_t i = 0; i < n; i++) {
		double e = fabs((double)a[i] - b[i]);
		if (isnan(e)) return INFINITY;
		d = fmax(d, e);
		m = fmax(m, fabs((double)a[i]));
	}
	return m > 0 ? d / m : d;
}

/* Parses "a,b,c" into exactly n positive integers (the last may be 0 when zero_last is set). */
static int parse_ints(const char *s, int *v, int n, int zero_last)
{
	for (int i = 0; i < n; i++) {
		char *end;
		long x = strtol(s, &end, 10);
		int lo = zero_last && i == n - 1 ? 0 : 1;
		if (end == s || x < lo || x > 1 << 20 || *end != (i + 1 < n ? ',' : '\0')) return -1;
		v[i] = (int)x;
		s = end + 1;
	}
	return 0;
}

static int bench_conv(const char *c, const char *spec, const bench_opts *o)
{
	int v[8];
	if (parse_ints(spec, v, 8, 0))
		return sn_seterr(SN_EINVAL, "expected conv:N,Cin,H,W,Cout,k,stride,groups (positive integers)");
	const int n = v[0], cin = v[1], h = v[2], w = v[3], cout = v[4], k = v[5], s = v[6], grp = v[7];
	char text[256];
	snprintf(text, sizeof text, "input x shape=%dx%dx%d\nconv c out=%d k=%d stride=%d pad=%d groups=%d\n", cin, h, w,
	         cout, k, s, k / 2, grp);
	sn_graph *g = ready_graph(text, NULL, n, o);
	if (!g) return SN_EINVAL;
	sn_shape out = sn_graph_output_shape(g);
	uint64_t macs = (uint64_t)n * cout * out.h * out.w * (uint64_t)(cin / grp) * k * k;
	float *x = random_input((size_t)n * cin * h * w, o->seed + 1);
	int rc = x ? SN_OK : SN_ENOMEM;
	if (x) report(c, "dense", macs, time_forward(g, x, n, o), o);
	free(x);
	sn_graph_free(g);
	return rc;
}

static int bench_sparse(const char *c, const char *spec, const bench_opts *o)
{
	int v[6];
	if (parse_ints(spec, v, 6, 1) || v[5] >= 100)
		return sn_seterr(SN_EINVAL, "expected sparse:N,Cin,H,W,Cout,percent (percent in [0, 100))");
	const int n = v[0], cin = v[1], h = v[2], w = v[3], cout = v[4];
	char text[256];
	snprintf(text, sizeof text, "input x shape=%dx%dx%d\nconv c out=%d k=1 bias=0\n", cin, h, w, cout);
	sn_graph *g = ready_graph(text, NULL, n, o);
	if (!g) return SN_EINVAL;
	unsigned char prunable[2];
	int rc = sn_prune_select(g, SN_GRAN_WEIGHT, "none", prunable);
	if (!rc) rc = sn_prune_weights(g, prunable, SN_SCOPE_LAYER, (float)v[5] / 100.0f);
	size_t ny = 0;
	float *x = rc ? NULL : random_input((size_t)n * cin * h * w, o->seed + 1), *dense = NULL;
	if (!rc && x && (dense = forward_copy(g, x, n, &ny))) {
		report(c, "dense", (uint64_t)n * cout * cin * h * w, time_forward(g, x, n, o), o);
		rc = sn_graph_select_sparse(g, SN_SPARSE_FORCE);
		const float *y = rc == 1 ? sn_graph_forward(g, x, n) : NULL;
		if (rc == 1 && !y) {
			rc = sn_errcode();
		} else if (rc == 1) {
			double err = rel_diff(dense, y, ny);
			rc = err < 1e-5 ? SN_OK : sn_seterr(SN_EINVAL, "the sparse output differs from the dense one by %.3g", err);
			if (!rc) report(c, "sparse", (uint64_t)n * cout * cin * h * w, time_forward(g, x, n, o), o);
		} else if (rc >= 0) {
			rc = sn_seterr(SN_EINVAL, "sn_graph_select_sparse made %d layers sparse, expected 1", rc);
		}
	} else if (!rc) {
		rc = sn_errcode();   /* random_input or forward_copy set it */
	}
	free(dense);
	free(x);
	sn_graph_free(g);
	return rc;
}

/* ---------------------------------------------------------------- int8 (kernels/qconv.h)
 * The int8 kernels are timed directly (no graph runs them yet), on seeded random int8 data: a
 * per-channel multiplier near what calibrated layers get, a bias, zero points 3 and -5. Each
 * instruction set the CPU runs is timed (impl=int8:KERNEL, the kernel name), after the float
 * layer the same words describe (impl=dense). */
typedef struct {
	int8_t *x, *w, *y;
	int32_t *bias;
	sn_q_mult *mult;
	sn_q8_conv p;
	sn_q8_pack *pk;
	sn_q8_spmm *sp;                   /* the sparse pack, when the case has one */
	void *ws;
} q8_layer;

static void q8_free(q8_layer *l)
{
	free(l->x); free(l->w); free(l->y); free(l->bias); free(l->mult); free(l->ws);
	sn_q8_pack_free(l->pk);
	sn_q8_spmm_free(l->sp);
}

/* x: nx values, weights [out][k] (k = channels per group x taps) in `groups` groups (0: a
 * Linear's, its own pack; wf: those float weights quantized per output channel, else random), y:
 * ny values */
static int q8_make(q8_layer *l, size_t nx, int out, int groups, int k, int taps, size_t ny, uint64_t seed, const float *wf)
{
	sn_rng r;
	sn_rng_seed(&r, seed);
	memset(l, 0, sizeof *l);
	l->x = malloc(nx);
	l->w = malloc((size_t)out * k);
	l->y = malloc(ny);
	l->bias = malloc((size_t)out * sizeof *l->bias);
	l->mult = malloc((size_t)out * sizeof *l->mult);
	if (!l->x || !l->w || !l->y || !l->bias || !l->mult) return sn_seterr(SN_ENOMEM, "out of memory for an int8 layer");
	for (size_t i = 0; i < nx; i++) l->x[i] = (int8_t)(sn_rng_uniform(&r) * 255.0f - 127.5f);
	for (size_t i = 0; i < (size_t)out * k; i++) l->w[i] = (int8_t)(sn_rng_uniform(&r) * 254.0f - 127.0f);
	for (int o = 0; wf && o < out; o++) {
		float m = 0;
		for (int i = 0; i < k; i++) m = fmaxf(m, fabsf(wf[(size_t)o * k + i]));
		sn_q_quantize(wf + (size_t)o * k, (size_t)k, sn_q_params_sym(m), -127, 127, l->w + (size_t)o * k);
	}
	for (int o = 0; o < out; o++) {
		l->bias[o] = (int32_t)(sn_rng_uniform(&r) * 20000.0f) - 10000;
		l->mult[o] = sn_q_multiplier(1.0 / (64.0 * sqrt((double)k) * (1.0 + sn_rng_uniform(&r))));
	}
	l->p = (sn_q8_conv){.w = l->w, .bias = l->bias, .mult = l->mult, .per_channel = 1, .x_zp = 3, .y_zp = -5, .lo = -128, .hi = 127};
	l->pk = groups ? sn_q8_pack_new(l->w, out, groups, k, taps) : sn_q8_linear_pack_new(l->w, out, k);
	return l->pk ? SN_OK : sn_seterr(SN_ENOMEM, "out of memory for the packed weights");
}

/* A batch as slimnn's float conv runs one: images spread over the threads when there are at
 * least as many, each with its own scratch (ws_bytes apart), else one image after another, each
 * split over the threads inside the kernel. */
typedef struct { q8_layer *l; const sn_conv_geom *g; int n, groups, out; size_t ws_bytes; int sparse; } q8_conv_ctx;
static void q8_conv_once(void *c)
{
	const q8_conv_ctx *q = c;
	const size_t xs = (size_t)q->g->c * q->g->h * q->g->w, ys = (size_t)q->out * q->g->oh * q->g->ow;
	const int T = sn_get_threads();
	if (q->n < T || T == 1) {   /* outside any parallel region, as the op runs it: an inactive region
	                             * around the kernel would make it start a nested team each call */
		for (int b = 0; b < q->n; b++) {
			if (q->sparse) sn_q8_spmm_conv(q->l->x + b * xs, (size_t)q->g->oh * q->g->ow, &q->l->p, q->l->sp, q->l->y + b * ys, q->l->ws);
			else sn_q8_conv_run(q->l->x + b * xs, q->g, q->groups, q->out, &q->l->p, q->l->pk, q->l->y + b * ys, q->l->ws);
		}
		return;
	}
	#pragma omp parallel for num_threads(T) schedule(static)
	for (int b = 0; b < q->n; b++) {
		void *ws = (char *)q->l->ws + (size_t)omp_get_thread_num() * q->ws_bytes;
		if (q->sparse) sn_q8_spmm_conv(q->l->x + b * xs, (size_t)q->g->oh * q->g->ow, &q->l->p, q->l->sp, q->l->y + b * ys, ws);
		else sn_q8_conv_run(q->l->x + b * xs, q->g, q->groups, q->out, &q->l->p, q->l->pk, q->l->y + b * ys, ws);
	}
}

typedef struct { q8_layer *l; int rows, k, out, sparse; } q8_linear_ctx;
static void q8_linear_once(void *c)
{
	const q8_linear_ctx *q = c;
	if (q->sparse) sn_q8_spmm_linear(q->l->x, q->rows, &q->l->p, q->l->sp, q->l->y, q->l->ws);
	else sn_q8_linear(q->l->x, q->rows, q->k, q->out, &q->l->p, q->l->pk, q->l->y, q->l->ws);
}

/* Times fn on each int8 path this CPU has; kernel(i) names what runs. */
static void q8_each_path(const char *c, uint64_t macs, void (*fn)(void *), void *ctx, const char *(*kernel)(void *),
                         const bench_opts *o)
{
	for (int i = 0; sn_q8_path_name(i); i++) {
		if (sn_q8_force_path(sn_q8_path_name(i))) continue;
		char impl[96];
		snprintf(impl, sizeof impl, "int8:%s", kernel(ctx));
		report(c, impl, macs, time_calls(fn, ctx, o), o);
	}
	sn_q8_force_path(NULL);
}

static const char *q8_conv_name(void *c)
{
	const q8_conv_ctx *q = c;
	return sn_q8_conv_kernel(q->g, q->groups, q->out);
}

static const char *q8_linear_name(void *c)
{
	const q8_linear_ctx *q = c;
	return sn_q8_linear_kernel(q->rows, q->k, q->out);
}

static int bench_q8conv(const char *c, const char *spec, const bench_opts *o)
{
	int rc = bench_conv(c, spec, o), v[8];
	if (rc) return rc;
	parse_ints(spec, v, 8, 0);
	const int n = v[0], cin = v[1], cout = v[4], k = v[5], s = v[6], grp = v[7];
	if (cin % grp || cout % grp) return sn_seterr(SN_EINVAL, "groups must divide Cin and Cout");
	sn_conv_geom g = {.c = cin, .h = v[2], .w = v[3], .kh = k, .kw = k, .sh = s, .sw = s, .dh = 1, .dw = 1, .pt = k / 2, .pl = k / 2};
	g.oh = (g.h + 2 * (k / 2) - k) / s + 1;
	g.ow = (g.w + 2 * (k / 2) - k) / s + 1;
	const uint64_t macs = (uint64_t)n * cout * g.oh * g.ow * (uint64_t)(cin / grp) * k * k;
	q8_layer l;
	rc = q8_make(&l, (size_t)n * cin * g.h * g.w, cout, grp, cin / grp * k * k, k * k, (size_t)n * cout * g.oh * g.ow, o->seed + 2, NULL);
	const size_t ws = (sn_q8_conv_ws(&g, grp, cout, 0) + 64) / 64 * 64;
	if (!rc && !(l.ws = aligned_alloc(64, ws * sn_get_threads()))) rc = sn_seterr(SN_ENOMEM, "out of memory for the scratch");
	q8_conv_ctx ctx = {&l, &g, n, grp, cout, ws, 0};
	if (!rc) q8_each_path(c, macs, q8_conv_once, &ctx, q8_conv_name, o);
	q8_free(&l);
	return rc;
}

static int bench_q8linear(const char *c, const char *spec, const bench_opts *o)
{
	int v[3];
	if (parse_ints(spec, v, 3, 0)) return sn_seterr(SN_EINVAL, "expected q8linear:N,K,OUT (positive integers)");
	const int n = v[0], k = v[1], out = v[2];
	char text[256];
	snprintf(text, sizeof text, "input x shape=%dx1x1\nflatten f\nlinear fc out=%d\n", k, out);
	sn_graph *g = ready_graph(text, NULL, n, o);
	if (!g) return SN_EINVAL;
	const uint64_t macs = (uint64_t)n * k * out;
	float *xf = random_input((size_t)n * k, o->seed + 1);
	int rc = xf ? SN_OK : SN_ENOMEM;
	if (xf) report(c, "dense", macs, time_forward(g, xf, n, o), o);
	free(xf);
	sn_graph_free(g);
	q8_layer l = {0};
	if (!rc) rc = q8_make(&l, (size_t)n * k, out, 0, k, 1, (size_t)n * out, o->seed + 2, NULL);
	if (!rc && !(l.ws = aligned_alloc(64, (sn_q8_linear_ws(n, k, out) + 64) / 64 * 64)))
		rc = sn_seterr(SN_ENOMEM, "out of memory for the scratch");
	q8_linear_ctx ctx = {&l, n, k, out, 0};
	if (!rc) q8_each_path(c, macs, q8_linear_once, &ctx, q8_linear_name, o);
	q8_free(&l);
	return rc;
}

/* q8sparse: and q8sparselinear: the layer of the words pruned to `percent` % (smallest
 * magnitudes), in float dense and sparse, then its weights quantized per channel, in int8 dense
 * and sparse; each output checked first (float sparse against float dense, int8 sparse against
 * int8 dense byte for byte), then timed ABCDDCBA. */
/* half the median ms of the float layer g, dense or sparse */
static double float_half(sn_graph *g, const float *x, int batch, int sparse, const bench_opts *o)
{
	sn_graph_select_sparse(g, sparse ? SN_SPARSE_FORCE : SN_SPARSE_OFF);
	return sn_graph_plan(g, batch, 0) ? NAN : time_forward(g, x, batch, o) / 2;
}

static int q8_sparse_layer(const char *c, const char *text, int n, size_t nx, int rows, int cols, size_t ny, int linear,
                           int percent, const sn_conv_geom *geom, const bench_opts *o)
{
	sn_graph *g = ready_graph(text, NULL, n, o);
	if (!g) return SN_EINVAL;
	unsigned char *prunable = calloc((size_t)g->n_node, 1);
	int rc = prunable ? sn_prune_select(g, SN_GRAN_WEIGHT, "none", prunable) : SN_ENOMEM;
	if (!rc) rc = sn_prune_weights(g, prunable, SN_SCOPE_LAYER, (float)percent / 100.0f);
	free(prunable);
	const uint64_t macs = (uint64_t)ny * cols;
	size_t nyf = 0;
	float *x = rc ? NULL : random_input(nx, o->seed + 1), *dense = NULL;
	if (!rc && (!x || !(dense = forward_copy(g, x, n, &nyf)))) rc = sn_errcode();
	if (!rc && sn_graph_select_sparse(g, SN_SPARSE_FORCE) != 1) rc = sn_seterr(SN_EINVAL, "the layer did not go sparse");
	if (!rc) rc = sn_graph_plan(g, n, 0);
	const float *yf = rc ? NULL : sn_graph_forward(g, x, n);
	if (!rc && !yf) rc = sn_errcode();
	if (!rc && rel_diff(dense, yf, nyf) > 1e-5) rc = sn_seterr(SN_EINVAL, "the sparse output differs from the dense one");
	q8_layer l = {0};
	const sn_tensor *w = rc ? NULL : &g->tensor[g->node[g->n_node - 1].t[SN_T_WEIGHT]];
	if (!rc) rc = q8_make(&l, nx, rows, !linear, cols, 1, ny, o->seed + 2, w->data);
	if (!rc && !(l.sp = sn_q8_spmm_pack(l.w, rows, cols))) rc = sn_seterr(SN_ENOMEM, "out of memory for the sparse pack");
	const size_t ws = rc ? 0 : (SN_MAX(linear ? sn_q8_linear_ws(n, cols, rows) : sn_q8_conv_ws(geom, 1, rows, 0), sn_q8_spmm_ws(l.sp, ny / rows)) + 64) / 64 * 64;
	if (!rc && !(l.ws = aligned_alloc(64, ws * sn_get_threads()))) rc = sn_seterr(SN_ENOMEM, "out of memory for the scratch");
	q8_conv_ctx cd = {&l, geom, n, 1, rows, ws, 0}, cs = {&l, geom, n, 1, rows, ws, 1};
	q8_linear_ctx ld = {&l, n, cols, rows, 0}, ls = {&l, n, cols, rows, 1};
	void (*fn)(void *) = linear ? q8_linear_once : q8_conv_once;
	void *qd = linear ? (void *)&ld : (void *)&cd, *qs = linear ? (void *)&ls : (void *)&cs;
	int8_t *yd = rc ? NULL : malloc(ny);
	if (!rc && !yd) rc = sn_seterr(SN_ENOMEM, "out of memory");
	if (!rc) {
		fn(qd);
		memcpy(yd, l.y, ny);
		memset(l.y, 0, ny);
		fn(qs);
		if (memcmp(yd, l.y, ny)) rc = sn_seterr(SN_EINVAL, "the int8 sparse output differs from the int8 dense one");
	}
	if (!rc) {
		double t[4];
		t[0] = float_half(g, x, n, 0, o);
		t[1] = float_half(g, x, n, 1, o);
		t[2] = time_calls(fn, qd, o) / 2;
		t[3] = time_calls(fn, qs, o) / 2;
		t[3] += time_calls(fn, qs, o) / 2;
		t[2] += time_calls(fn, qd, o) / 2;
		t[1] += float_half(g, x, n, 1, o);
		t[0] += float_half(g, x, n, 0, o);
		char dn[96], sn[96];
		snprintf(dn, sizeof dn, "int8:%s", linear ? sn_q8_linear_kernel(n, cols, rows) : sn_q8_conv_kernel(geom, 1, rows));
		snprintf(sn, sizeof sn, "int8-sparse:%s", sn_q8_spmm_kernel());
		report(c, "dense", macs, t[0], o);
		report(c, "sparse", macs, t[1], o);
		report(c, dn, macs, t[2], o);
		report(c, sn, macs, t[3], o);
	}
	free(yd);
	q8_free(&l);
	free(dense);
	free(x);
	sn_graph_free(g);
	return rc;
}

static int bench_q8sparse(const char *c, const char *spec, const bench_opts *o)
{
	int v[6];
	if (parse_ints(spec, v, 6, 1) || v[5] >= 100)
		return sn_seterr(SN_EINVAL, "expected q8sparse:N,Cin,H,W,Cout,percent (percent in [0, 100))");
	const int n = v[0], cin = v[1], h = v[2], w = v[3], cout = v[4];
	char text[256];
	snprintf(text, sizeof text, "input x shape=%dx%dx%d\nconv c out=%d k=1\n", cin, h, w, cout);
	const sn_conv_geom g = {.c = cin, .h = h, .w = w, .kh = 1, .kw = 1, .sh = 1, .sw = 1, .dh = 1, .dw = 1, .oh = h, .ow = w};
	return q8_sparse_layer(c, text, n, (size_t)n * cin * h * w, cout, cin, (size_t)n * cout * h * w, 0, v[5], &g, o);
}

static int bench_q8sparselinear(const char *c, const char *spec, const bench_opts *o)
{
	int v[4];
	if (parse_ints(spec, v, 4, 1) || v[3] >= 100)
		return sn_seterr(SN_EINVAL, "expected q8sparselinear:N,K,OUT,percent (percent in [0, 100))");
	const int n = v[0], k = v[1], out = v[2];
	char text[256];
	snprintf(text, sizeof text, "input x shape=%dx1x1\nflatten f\nlinear fc out=%d\n", k, out);
	return q8_sparse_layer(c, text, n, (size_t)n * k, out, k, (size_t)n * out, 1, v[3], NULL, o);
}

/* Median milliseconds of reading the model file into a graph (for .onnx the whole import:
 * parsing the protobuf, checking it, building the graph), up to 5 times. */
static double time_load(const char *path, int n)
{
	double t[5];
	n = n < 5 ? n : 5;
	for (int r = 0; r < n; r++) {
		double t0 = bench_now();
		sn_graph *g = sn_load_any(path, NULL);
		t[r] = (bench_now() - t0) * 1e3;
		if (!g) return NAN;
		sn_graph_free(g);
	}
	return bench_median(t, n);
}

static int bench_model(const char *c, const char *path, const bench_opts *o)
{
	sn_graph *g = ready_graph(NULL, path, 1, o), *p = NULL;
	if (!g) return SN_EINVAL;
	bench_opts lo = *o;
	lo.runs = o->runs < 5 ? o->runs : 5;
	report(c, "load", 0, time_load(path, lo.runs), &lo);
	sn_summary s;
	int rc = sn_summarize(g, -1, &s);
	uint64_t macs = rc ? 0 : s.macs;
	if (!rc) sn_summary_free(&s);
	size_t ny = 0;
	float *x = rc ? NULL : random_input(sn_shape_numel(sn_graph_input_shape(g)), o->seed + 1), *plain = NULL;
	if (!rc && x && (plain = forward_copy(g, x, 1, &ny))) {
		report(c, "plain", macs, time_forward(g, x, 1, o), o);
		p = sn_prepare_inference(g, NULL, NULL);
		rc = p ? sn_graph_plan(p, 1, 0) : SN_EINVAL;
		const float *y = rc ? NULL : sn_graph_forward(p, x, 1);
		if (!rc && !y) rc = sn_errcode();
		double err = rc ? 0 : rel_diff(plain, y, ny);
		if (!rc && err > 1e-4) rc = sn_seterr(SN_EINVAL, "the prepared model's output differs from the plain one by %.3g", err);
		if (!rc) report(c, "prepared", macs, time_forward(p, x, 1, o), o);
	} else if (!rc) {
		rc = sn_errcode();   /* random_input or forward_copy set it */
	}
	free(plain);
	free(x);
	sn_graph_free(p);
	sn_graph_free(g);
	return rc;
}

/* q8model:B,PATH: the model at batch B, prepared in float (sn_prepare_inference) and quantized
 * (sn_quantize, calibrated on 8 seeded random images of its input shape), timed in ABBA order:
 * float, int8, int8, float, the median of each engine's two runs reported. The int8 output is
 * checked to be close to the float one (random weights and images: a loose bound). */
static int bench_q8model(const char *c, const char *spec, const bench_opts *o)
{
	char *end;
	const long b = strtol(spec, &end, 10);
	if (end == spec || *end != ',' || b < 1 || b > 4096) return sn_seterr(SN_EINVAL, "expected q8model:BATCH,PATH");
	const char *path = end + 1;
	sn_graph *g = ready_graph(NULL, path, 1, o), *f = NULL, *q = NULL;
	if (!g) return SN_EINVAL;
	const sn_shape in = sn_graph_input_shape(g);
	const int n = 8;
	sn_dataset d = {.n = n, .c = in.c, .h = in.h, .w = in.w, .classes = 2, .norm = {.c = 1, .mean = {0.45f}, .std = {0.25f}}};
	d.images = malloc((size_t)n * in.c * in.h * in.w);
	d.labels = calloc(n, sizeof *d.labels);
	int rc = d.images && d.labels ? SN_OK : sn_seterr(SN_ENOMEM, "out of memory for the calibration images");
	if (!rc) {
		sn_rng r;
		sn_rng_seed(&r, o->seed + 3);
		for (size_t i = 0; i < (size_t)n * in.c * in.h * in.w; i++) d.images[i] = (uint8_t)sn_rng_below(&r, 256);
		sn_quantize_opts qo = sn_quantize_defaults();
		qo.calib_images = n;
		qo.batch = n;
		f = sn_prepare_inference(g, NULL, NULL);
		q = f ? sn_quantize(g, &d, NULL, &qo, NULL) : NULL;
		if (!f || !q) rc = sn_errcode();
	}
	sn_summary s;
	uint64_t macs = 0;
	if (!rc && !sn_summarize(g, -1, &s)) { macs = s.macs * (uint64_t)b; sn_summary_free(&s); }
	if (!rc) rc = sn_graph_plan(f, (int)b, 0);
	if (!rc) rc = sn_graph_plan(q, (int)b, 0);
	size_t ny = 0;
	float *x = rc ? NULL : random_input((size_t)b * sn_shape_numel(in), o->seed + 1), *yf = NULL;
	if (!rc && x && (yf = forward_copy(f, x, (int)b, &ny))) {
		const float *yq = sn_graph_forward(q, x, (int)b);
		const double err = yq ? rel_diff(yf, yq, ny) : 0;
		if (!yq) rc = sn_errcode();
		else if (!(err < 0.5)) rc = sn_seterr(SN_EINVAL, "the int8 output differs from the float one by %.3g", err);
	} else if (!rc) {
		rc = sn_errcode();
	}
	if (!rc) {
		const double f1 = time_forward(f, x, (int)b, o), q1 = time_forward(q, x, (int)b, o);
		const double q2 = time_forward(q, x, (int)b, o), f2 = time_forward(f, x, (int)b, o);
		report(c, "float", macs, (f1 + f2) / 2, o);
		report(c, "int8", macs, (q1 + q2) / 2, o);
	}
	free(yf);
	free(x);
	free(d.images);
	free(d.labels);
	sn_graph_free(q);
	sn_graph_free(f);
	sn_graph_free(g);
	return rc;
}

static int bench_case(const char *c, const bench_opts *o)
{
	static const struct { const char *prefix; int (*run)(const char *, const char *, const bench_opts *); } kinds[] = {
		{"conv:", bench_conv}, {"sparse:", bench_sparse}, {"model:", bench_model}, {"q8conv:", bench_q8conv},
		{"q8linear:", bench_q8linear}, {"q8model:", bench_q8model}, {"q8sparse:", bench_q8sparse},
		{"q8sparselinear:", bench_q8sparselinear}};
	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
		if (!strncmp(c, kinds[i].prefix, strlen(kinds[i].prefix))) return kinds[i].run(c, c + strlen(kinds[i].prefix), o);
	return sn_seterr(SN_EINVAL, "unknown case '%s': expected conv:..., sparse:..., model:PATH, q8conv:..., q8linear:..., "
	                 "q8model:..., q8sparse:... or q8sparselinear:...", c);
}

static int usage(FILE *f, int rc)
{
	fprintf(f, "usage: bench_kernels [--threads T] [--warmup W] [--runs R] [--seed S] CASE...\n"
	           "  CASE: conv:N,Cin,H,W,Cout,k,stride,groups | sparse:N,Cin,H,W,Cout,percent | model:PATH\n"
	           "        | q8conv:N,Cin,H,W,Cout,k,stride,groups | q8linear:N,K,OUT | q8model:N,PATH\n"
	           "        | q8sparse:N,Cin,H,W,Cout,percent | q8sparselinear:N,K,OUT,percent\n");
	return rc;
}

int main(int argc, char **argv)
{
	bench_opts o = {.threads = 2, .warmup = 3, .runs = 21, .seed = 42};
	int i = 1;
	for (; i < argc && !strncmp(argv[i], "--", 2); i += 2) {
		if (!strcmp(argv[i], "--help")) return usage(stdout, 0);
		char *end = NULL;
		long v = i + 1 < argc ? strtol(argv[i + 1], &end, 10) : -1;
		if (!end || *end || v < (strcmp(argv[i], "--warmup") ? 1 : 0) || v > 100000) {
			fprintf(stderr, "bench_kernels: %s needs a number%s\n", argv[i], strcmp(argv[i], "--warmup") ? " >= 1" : " >= 0");
			return usage(stderr, 2);
		}
		if (!strcmp(argv[i], "--threads")) o.threads = (int)v;
		else if (!strcmp(argv[i], "--warmup")) o.warmup = (int)v;
		else if (!strcmp(argv[i], "--runs")) o.runs = (int)v;
		else if (!strcmp(argv[i], "--seed")) o.seed = (uint64_t)v;
		else { fprintf(stderr, "bench_kernels: unknown option %s\n", argv[i]); return usage(stderr, 2); }
	}
	if (i == argc) return usage(stderr, 2);
	sn_set_threads(o.threads);
	int failed = 0;
	for (; i < argc; i++)   /* a failing case is reported and the others still run */
		if (bench_case(argv[i], &o)) {
			printf("case=%s engine=slimnn err=1\n", argv[i]);
			fflush(stdout);
			fprintf(stderr, "bench_kernels: %s: %s\n", argv[i], sn_errmsg());
			failed++;
		}
	return failed ? 1 : 0;
}
