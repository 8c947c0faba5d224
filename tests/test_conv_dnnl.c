/* Dense convs on oneDNN (kernels/dnnl_conv.c, picked by src/ops/conv.c) against slimnn's own
 * im2col + GEMM path (itself checked against PyTorch's fixtures in test_ops_torch.c and by finite
 * differences in test_gradcheck.c): forward, input gradient (overwritten and accumulated) and
 * weight and bias gradients, in training and inference plans, for each shape class that goes to
 * oneDNN (stride 2, asymmetric padding, dilation, groups, 1x1, 1x7, fused ReLU/ReLU6, no bias,
 * odd sizes, a first layer without input gradient), at the planned batch and at a smaller one
 * (image by image). Each case first checks that the plan really runs oneDNN, and which code:
 * AVX-512 where the CPU has it, AVX2 under ONEDNN_MAX_CPU_ISA=AVX2 (tests/run.sh runs these
 * tests that way too). Same thread count, same bytes: twice the same pass must agree exactly.
 * Inference plans pack the weights once: the same bytes as packing them every run, packed again
 * after a reshape (the weights may have changed), never in training plans. Linear runs oneDNN's
 * inner product in inference plans of several rows. The fused ReLU gives 0 for NaN on both
 * engines. Inference plans run 3x3 stride-1 convs on oneDNN's Winograd where the rule says and
 * the CPU has AVX-512, within WINO_TOL of the direct conv. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include "test.h"
#include "slimnn.h"
#include "core/internal.h"
#include "kernels/dnnl_conv.h"

#define DNNL_TOL 2e-5

typedef struct { const char *name, *arch; int batch; } dnnl_case;

static const dnnl_case cases[] = {
	{"3x3", "input x shape=16x9x11\nconv c out=24 k=3 pad=1\n", 2},
	{"stride2", "input x shape=16x13x10\nconv c out=32 k=3 stride=2 pad=1\n", 3},
	{"pad_asym", "input x shape=16x7x9\nconv c out=16 k=3 pad=0,2,1,0\n", 2},
	{"k5_dilation2", "input x shape=16x12x11\nconv c out=16 k=5 dilation=2 pad=4\n", 2},
	{"dilation2x1_s2", "input x shape=16x12x11\nconv c out=16 k=3 dilation=2x1 stride=2 pad=2,1,1,1\n", 2},
	{"groups4", "input x shape=32x8x8\nconv c out=64 k=3 pad=1 groups=4\n", 2},
	{"pointwise", "input x shape=64x6x7\nconv c out=48 k=1\n", 3},
	{"1x1_stride2", "input x shape=64x9x9\nconv c out=64 k=1 stride=2\n", 2},
	{"k1x7", "input x shape=24x9x10\nconv c out=32 k=1x7 pad=0,0,3,3\n", 2},
	{"relu", "input x shape=16x8x8\nconv c out=32 k=3 pad=1 act=relu\n", 2},
	{"relu6", "input x shape=16x8x8\nconv c out=32 k=3 pad=1 act=relu6\n", 2},
	{"nobias", "input x shape=16x8x8\nconv c out=32 k=3 pad=1 bias=0\n", 2},
	{"odd", "input x shape=17x5x3\nconv c out=19 k=3 pad=1\n", 3},
	{"batch1", "input x shape=32x6x6\nconv c out=32 k=3 pad=1\n", 1},
	/* the input gradient of x accumulates from both convs */
	{"two_consumers", "input x shape=16x8x8\nconv a out=16 k=3 pad=1\nconv b out=16 k=3 pad=1 in=x\nadd s in=a,b\n", 2},
	/* a second conv: the first one's input gradient is never asked for */
	{"chain", "input x shape=16x10x10\nconv a out=32 k=3 stride=2 pad=1\nconv b out=32 k=3 pad=1\n", 2},
};

typedef struct { float *y, *dx, *gw; size_t ny, nx, nw; int dnnl_convs, convs; char impl[96]; } pass_out;

static void free_out(pass_out *o) { free(o->y); free(o->dx); free(o->gw); }

static float *dup(const float *p, size_t n)
{
	float *q = malloc((n ? n : 1) * sizeof *q);
	if (!q) abort();
	memcpy(q, p, n * sizeof *q);
	return q;
}

/* One training pass (forward, backward with seeded dy) of c's model on `mode`'s engine, planned
 * for c->batch and run on `batch` images; inference (train = 0): the forward only. */
static int run_case(const dnnl_case *c, int mode, int train, int batch, pass_out *o)
{
	memset(o, 0, sizeof *o);
	sn_dnnl_set_mode(mode);
	sn_graph *g = sn_test_net(c->arch, 7);
	if (!g) return -1;
	sn_rng r;
	sn_rng_seed(&r, 3);
	const size_t nx = (size_t)batch * sn_shape_numel(g->node[0].out), ny = (size_t)batch * sn_shape_numel(g->node[g->n_node - 1].out);
	float *x = malloc(nx * sizeof *x), *dy = malloc(ny * sizeof *dy);
	if (!x || !dy) abort();
	for (size_t i = 0; i < nx; i++) x[i] = 2 * sn_rng_uniform(&r) - 1;
	for (size_t i = 0; i < ny; i++) dy[i] = 2 * sn_rng_uniform(&r) - 1;
	int rc = sn_plan_reshape(g->plan, c->batch, train ? SN_PLAN_TRAIN | SN_PLAN_INPUT_GRAD : 0);
	const float *y = rc ? NULL : sn_plan_forward(g->plan, x, batch);
	if (y && train) {
		sn_graph_zero_grad(g);
		rc = sn_graph_backward(g, dy);
	}
	if (!y || rc) {
		fprintf(stderr, "  %s: %s\n", c->name, sn_errmsg());
		rc = -1;
	} else {
		o->y = dup(y, o->ny = ny);
		if (train) {
			o->dx = dup(sn_plan_grad(g->plan, 0), o->nx = nx);
			o->gw = dup(g->gw, o->nw = g->n_w);
		}
		for (int i = 0; i < g->n_node; i++) {
			if (g->node[i].op != SN_OP_CONV) continue;
			o->convs++;
			const char *impl = sn_conv_dnnl_impl(g->plan, &g->node[i]);
			if (impl) {
				o->dnnl_convs++;
				snprintf(o->impl, sizeof o->impl, "%s", impl);
			}
		}
	}
	free(x); free(dy);
	sn_graph_free(g);
	sn_dnnl_set_mode(-1);
	return rc;
}

static void compare(const char *what, const dnnl_case *c, int batch, const float *a, const float *b, size_t n)
{
	const double e = sn_test_maxrel(a, b, n);
	CHECKF(e <= DNNL_TOL, "%s, batch %d of %d: %s off the own path's by %.3g", c->name, batch, c->batch, what, e);
}

/* oneDNN's Winograd needs AVX-512 (avx512_core): under an AVX2 cap (tests/run.sh) or on an
 * AVX2-only CPU it offers none and the direct conv runs. */
static int wino_here(void)
{
	const char *cap = getenv("ONEDNN_MAX_CPU_ISA");
	return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
	       __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") && !(cap && !strcmp(cap, "AVX2"));
}

TEST(conv_dnnl_matches_own_path)
{
	if (!sn_dnnl_available()) {
		fprintf(stderr, "  skipped: oneDNN does not run here\n");
		return;
	}
	const char *cap = getenv("ONEDNN_MAX_CPU_ISA");
	const int want_avx2 = cap && !strcmp(cap, "AVX2"), avx512 = __builtin_cpu_supports("avx512f");
	if (!want_avx2 && !avx512) fprintf(stderr, "  skipped the AVX-512 check: this CPU lacks AVX-512 (oneDNN runs AVX2)\n");
	for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
		const dnnl_case *c = &cases[k];
		for (int train = 1; train >= 0; train--)
			for (int batch = c->batch; batch >= 1 && batch >= c->batch - 1; batch--) {
				pass_out own, dn;
				REQUIRE(run_case(c, SN_DNNL_OWN, train, batch, &own) == 0);
				REQUIRE(run_case(c, SN_DNNL_ONEDNN, train, batch, &dn) == 0);
				CHECKF(own.dnnl_convs == 0, "%s: the own path ran %d convs on oneDNN", c->name, own.dnnl_convs);
				CHECKF(dn.dnnl_convs == dn.convs, "%s: %d of %d convs ran on oneDNN", c->name, dn.dnnl_convs, dn.convs);
				/* under the cap some shapes get oneDNN's own im2col + GEMM (which the shape rule declines) */
				if (want_avx2) CHECKF(!strstr(dn.impl, "avx512") && (k || !__builtin_cpu_supports("avx2") || strstr(dn.impl, "avx2")),
				                      "%s: %s under an AVX2 cap",
				                      c->name, dn.impl);
				else if (avx512) CHECKF(strstr(dn.impl, "avx512") != NULL, "%s: %s on an AVX-512 CPU", c->name, dn.impl);
				compare("output", c, batch, dn.y, own.y, own.ny);
				if (train) {
					compare("input gradient", c, batch, dn.dx, own.dx, own.nx);
					compare("parameter gradients", c, batch, dn.gw, own.gw, own.nw);
				}
				free_out(&own);
				free_out(&dn);
			}
	}
}

/* For one thread count, oneDNN's results are the same bytes every time (a fresh plan included). */
TEST(conv_dnnl_deterministic)
{
	if (!sn_dnnl_available()) {
		fprintf(stderr, "  skipped: oneDNN does not run here\n");
		return;
	}
	const dnnl_case c = {"det", "input x shape=64x14x14\nconv a out=64 k=3 pad=1\nconv b out=32 k=3 stride=2 pad=1\n", 4};
	const int threads = sn_get_threads();
	for (int t = 1; t <= 2; t++) {
		sn_set_threads(t);
		pass_out a, b;
		REQUIRE(run_case(&c, SN_DNNL_ONEDNN, 1, c.batch, &a) == 0);
		REQUIRE(run_case(&c, SN_DNNL_ONEDNN, 1, c.batch, &b) == 0);
		CHECK(a.dnnl_convs == 2);
		CHECKF(!memcmp(a.y, b.y, a.ny * sizeof *a.y) && !memcmp(a.dx, b.dx, a.nx * sizeof *a.dx) &&
		       !memcmp(a.gw, b.gw, a.nw * sizeof *a.gw), "%d threads: two runs differ", t);
		free_out(&a);
		free_out(&b);
	}
	sn_set_threads(threads);
}

/* Shapes oneDNN is not given: padding other than zeros runs the own path even when oneDNN is
 * forced; the shape rule keeps thin convs (few multiply-adds per reordered value) on the own
 * path too, and bench's report names the engine. */
TEST(conv_dnnl_choice)
{
	if (!sn_dnnl_available()) {
		fprintf(stderr, "  skipped: oneDNN does not run here\n");
		return;
	}
	pass_out o;
	const dnnl_case refl = {"reflect", "input x shape=16x8x8\nconv c out=16 k=3 pad=1 mode=reflect\n", 2};
	REQUIRE(run_case(&refl, SN_DNNL_ONEDNN, 1, 2, &o) == 0);
	CHECKF(o.dnnl_convs == 0, "a reflect-padded conv ran on oneDNN");
	free_out(&o);
	/* 21 multiply-adds per reordered value */
	const dnnl_case thin = {"thin", "input x shape=32x28x28\nconv c out=64 k=1\n", 8};
	REQUIRE(run_case(&thin, SN_DNNL_AUTO, 0, 8, &o) == 0);
	CHECKF(o.dnnl_convs == 0, "a 1x1 32 -> 64 conv ran inference on oneDNN by the shape rule");
	free_out(&o);
	REQUIRE(run_case(&thin, SN_DNNL_AUTO, 1, 8, &o) == 0);
	CHECKF(o.dnnl_convs == 1, "a 1x1 32 -> 64 conv did not train on oneDNN by the shape rule");
	free_out(&o);
	/* 128 multiply-adds per reordered value, but pointwise: inference reads x in place */
	const dnnl_case pw = {"pointwise", "input x shape=256x12x12\nconv c out=256 k=1\n", 2};
	REQUIRE(run_case(&pw, SN_DNNL_AUTO, 0, 2, &o) == 0);
	CHECKF(o.dnnl_convs == 0, "a pointwise 256 -> 256 conv inferred on oneDNN by the shape rule");
	free_out(&o);
	REQUIRE(run_case(&pw, SN_DNNL_AUTO, 1, 2, &o) == 0);
	CHECKF(o.dnnl_convs == 1, "a pointwise 256 -> 256 conv did not train on oneDNN by the shape rule");
	free_out(&o);
	/* 256 multiply-adds per reordered value: pointwise with many channels infers on oneDNN */
	const dnnl_case pw_wide = {"pointwise_wide", "input x shape=512x7x7\nconv c out=512 k=1\n", 1};
	REQUIRE(run_case(&pw_wide, SN_DNNL_AUTO, 0, 1, &o) == 0);
	CHECKF(o.dnnl_convs == 1, "a pointwise 512 -> 512 conv on 7x7 did not infer on oneDNN by the shape rule");
	free_out(&o);
	const dnnl_case small = {"7x7", "input x shape=64x7x7\nconv c out=64 k=3 pad=1\n", 8};
	REQUIRE(run_case(&small, SN_DNNL_AUTO, 1, 8, &o) == 0);
	CHECKF(o.dnnl_convs == 0, "a conv on a 7x7 plane trained on oneDNN by the shape rule");
	free_out(&o);
	REQUIRE(run_case(&small, SN_DNNL_AUTO, 0, 8, &o) == 0);
	CHECKF(o.dnnl_convs == 1, "a conv on 8 7x7 planes did not infer on oneDNN by the shape rule");
	free_out(&o);
	/* packed weights: few pixels do not keep inference off oneDNN (training reorders them) */
	const dnnl_case one = {"7x7", small.arch, 1};
	REQUIRE(run_case(&one, SN_DNNL_AUTO, 0, 1, &o) == 0);
	CHECKF(o.dnnl_convs == 1, "a conv on one 7x7 plane did not infer on oneDNN by the shape rule");
	free_out(&o);
	REQUIRE(run_case(&one, SN_DNNL_AUTO, 1, 1, &o) == 0);
	CHECKF(o.dnnl_convs == 0, "a conv on one 7x7 plane trained on oneDNN by the shape rule");
	free_out(&o);
	const dnnl_case wide = {"wide", "input x shape=64x14x14\nconv c out=64 k=3 pad=1\n", 2};
	REQUIRE(run_case(&wide, SN_DNNL_AUTO, 0, 2, &o) == 0);
	CHECKF(o.dnnl_convs == 1, "a 64 -> 64 3x3 conv did not run on oneDNN by the shape rule");
	free_out(&o);

	sn_dnnl_set_mode(SN_DNNL_ONEDNN);
	sn_graph *g = sn_test_net(wide.arch, 1);
	REQUIRE(g);
	char buf[160];
	if (sn_graph_plan(g, 1, 0) == SN_OK) {
		sn_node_path(g, &g->node[1], buf, sizeof buf);
		CHECKF(!strncmp(buf, "oneDNN ", 7), "the report says '%s'", buf);
	} else CHECK(0);
	sn_graph_free(g);
	sn_dnnl_set_mode(-1);
}

/* oneDNN refusing a shape gives no handle (the conv then runs the own path): an output plane
 * that does not follow from the input, kernel and padding; Winograd for a stride 2, for the
 * backward, or without AVX-512 (the plan then asks for the direct conv). */
TEST(conv_dnnl_refusal_gives_no_handle)
{
	if (!sn_dnnl_available()) {
		fprintf(stderr, "  skipped: oneDNN does not run here\n");
		return;
	}
	sn_dnnl_conv_desc d = {.n = 2, .c = 16, .h = 8, .w = 8, .o = 16, .oh = 8, .ow = 8, .kh = 3, .kw = 3, .sh = 1, .sw = 1,
	                       .dh = 1, .dw = 1, .pt = 1, .pb = 1, .pl = 1, .pr = 1, .groups = 1, .bias = 1};
	sn_dnnl_conv *c = sn_dnnl_conv_new(&d, SN_DNNL_FORWARD | SN_DNNL_BACKWARD);
	CHECK(c != NULL);
	sn_dnnl_conv_free(c);
	/* Winograd: for the forward only, 3x3 stride 1, on AVX-512 */
	c = sn_dnnl_conv_new(&d, SN_DNNL_FORWARD | SN_DNNL_WINOGRAD);
	CHECK((c != NULL) == wino_here());
	sn_dnnl_conv_free(c);
	CHECK(sn_dnnl_conv_new(&d, SN_DNNL_FORWARD | SN_DNNL_BACKWARD | SN_DNNL_WINOGRAD) == NULL);
	d.sh = d.sw = 2;
	d.oh = d.ow = 4;
	CHECK((c = sn_dnnl_conv_new(&d, SN_DNNL_FORWARD)) != NULL);
	sn_dnnl_conv_free(c);
	CHECK(sn_dnnl_conv_new(&d, SN_DNNL_FORWARD | SN_DNNL_WINOGRAD) == NULL);
	d.sh = d.sw = 1;
	d.oh = 9;
	CHECK(sn_dnnl_conv_new(&d, SN_DNNL_FORWARD) == NULL);
	CHECK(sn_dnnl_conv_new(&d, SN_DNNL_BACKWARD) == NULL);
}

/* A plan's oneDNN convs keep the thread count of its making: after sn_set_threads(1) a training
 * plan made with 2 threads runs (its scratch was sized for 2), gives the bytes it gave with 2,
 * and leaves the caller's OpenMP setting at 1 (the check that fails if a run does not set it
 * back; this shape's bytes happen to be the same for 1 and 2 threads). */
static void train_pass(sn_graph *g, const float *x, const float *dy, float *y, float *gw)
{
	const float *o = sn_graph_forward(g, x, 2);
	if (!o) return;
	memcpy(y, o, 2 * sn_shape_numel(g->node[g->n_node - 1].out) * sizeof *y);
	sn_graph_zero_grad(g);
	if (sn_graph_backward(g, dy) == SN_OK) memcpy(gw, g->gw, g->n_w * sizeof *gw);
}

TEST(conv_dnnl_plan_keeps_its_threads)
{
	if (!sn_dnnl_available()) {
		fprintf(stderr, "  skipped: oneDNN does not run here\n");
		return;
	}
	const int threads = sn_get_threads();
	sn_dnnl_set_mode(SN_DNNL_ONEDNN);
	sn_set_threads(2);
	sn_graph *g = sn_test_net("input x shape=64x14x14\nconv a out=64 k=3 pad=1\n", 5);
	REQUIRE(g);
	const size_t n = 2 * 64 * 14 * 14;
	float *x = calloc(n, sizeof *x), *dy = calloc(n, sizeof *dy), *y[2], *gw[2];
	REQUIRE(x && dy);
	for (int k = 0; k < 2; k++) {
		y[k] = calloc(n, sizeof *y[k]);
		gw[k] = calloc(g->n_w, sizeof *gw[k]);
		REQUIRE(y[k] && gw[k]);
	}
	for (size_t i = 0; i < n; i++) {
		x[i] = (float)((i * 7919) % 1000) / 500.0f - 1.0f;
		dy[i] = (float)((i * 104729) % 997) / 498.5f - 1.0f;
	}
	REQUIRE(sn_graph_plan(g, 2, 1) == SN_OK);
	CHECK(sn_conv_dnnl_impl(g->plan, &g->node[1]) != NULL);
	train_pass(g, x, dy, y[0], gw[0]);
	sn_set_threads(1);
	train_pass(g, x, dy, y[1], gw[1]);
	CHECK(!memcmp(y[0], y[1], n * sizeof *y[0]) && !memcmp(gw[0], gw[1], g->n_w * sizeof *gw[0]));
	CHECK(omp_get_max_threads() == 1);
	sn_graph_free(g);
	free(x); free(dy);
	for (int k = 0; k < 2; k++) { free(y[k]); free(gw[k]); }
	sn_set_threads(threads);
	sn_dnnl_set_mode(-1);
}

static void fill(float *p, size_t n, uint64_t seed)
{
	sn_rng r;
	sn_rng_seed(&r, seed);
	for (size_t i = 0; i < n; i++) p[i] = 2 * sn_rng_uniform(&r) - 1;
}

/* The handle itself: a forward reading packed weights gives the bytes of one that reorders them
 * in its scratch. It packs on the first call only: a changed value that no sample sees stays
 * unseen (the check that fails if every call packed) until sn_dnnl_conv_unpack; new weights
 * throughout (the samples differ) or another weight pointer are packed again by themselves.
 * A second handle of the same layout shares the packed copy. All that for the direct conv and
 * for Winograd (alg SN_DNNL_WINOGRAD), whose packing is its weight transform. */
static void packed_same_bytes(unsigned alg)
{
	const sn_dnnl_conv_desc d = {.n = 1, .c = 64, .h = 7, .w = 7, .o = 96, .oh = 7, .ow = 7, .kh = 3, .kw = 3, .sh = 1,
	                             .sw = 1, .dh = 1, .dw = 1, .pt = 1, .pb = 1, .pl = 1, .pr = 1, .groups = 1, .bias = 1};
	sn_dnnl_conv *c = sn_dnnl_conv_new(&d, SN_DNNL_FORWARD | SN_DNNL_PACKED | alg),
	             *u = sn_dnnl_conv_new(&d, SN_DNNL_FORWARD | alg);
	sn_dnnl_conv *twin = sn_dnnl_conv_new(&d, SN_DNNL_FORWARD | SN_DNNL_PACKED | alg);
	REQUIRE(c && u && twin);
	CHECKF(!!strstr(sn_dnnl_conv_impl(c, 0), "wino") == !!alg, "%s", sn_dnnl_conv_impl(c, 0));
	const size_t nx = 64 * 49, nw = 96 * 64 * 9, ny = 96 * 49, pb = sn_dnnl_conv_packed_bytes(c);
	CHECKF(pb >= nw * sizeof(float), "packed weights of %zu bytes", pb);
	CHECK(sn_dnnl_conv_ws(c) + pb <= sn_dnnl_conv_ws(u) + 64);
	CHECK(sn_dnnl_conv_share_packed(twin, c) == 1);
	CHECK(sn_dnnl_conv_share_packed(twin, u) == 0);   /* u keeps none */
	float *x = malloc(nx * sizeof *x), *w = malloc(nw * sizeof *w), *w2 = malloc(nw * sizeof *w2), *b = malloc(96 * sizeof *b);
	float *w3 = malloc(nw * sizeof *w3), *y[4], *ws = aligned_alloc(64, sn_dnnl_conv_ws(u));
	REQUIRE(x && w && w2 && w3 && b && ws);
	for (int k = 0; k < 4; k++) REQUIRE((y[k] = malloc(ny * sizeof *y[k])));
	fill(x, nx, 1); fill(w, nw, 2); fill(w2, nw, 3); fill(b, 96, 4);
	memcpy(w3, w, nw * sizeof *w);
	sn_dnnl_conv_forward(u, x, w, b, y[0], ws);   /* reorders w every call */
	sn_dnnl_conv_forward(c, x, w, b, y[1], ws);   /* packs, then reads the packed copy */
	CHECKF(!memcmp(y[0], y[1], ny * sizeof *y[0]), "packed weights give other bytes than reordered ones");
	w[1] += 0.5f;                                 /* not a sampled place */
	sn_dnnl_conv_forward(c, x, w, b, y[2], ws);
	CHECKF(!memcmp(y[1], y[2], ny * sizeof *y[1]), "the second forward packed the weights again");
	sn_dnnl_conv_unpack(c);
	sn_dnnl_conv_forward(c, x, w, b, y[2], ws);
	sn_dnnl_conv_forward(u, x, w, b, y[3], ws);
	CHECKF(!memcmp(y[2], y[3], ny * sizeof *y[2]), "after unpack the forward read the old packed weights");
	memcpy(w, w2, nw * sizeof *w);                /* new weights throughout, no word said */
	sn_dnnl_conv_forward(c, x, w, b, y[2], ws);
	sn_dnnl_conv_forward(u, x, w2, b, y[3], ws);
	CHECKF(!memcmp(y[2], y[3], ny * sizeof *y[2]), "new weights throughout went unseen");
	sn_dnnl_conv_forward(twin, x, w3, b, y[2], ws);   /* the shared copy, packed from w3 */
	sn_dnnl_conv_forward(c, x, w3, b, y[3], ws);      /* another pointer: packed again */
	CHECKF(!memcmp(y[2], y[0], ny * sizeof *y[2]) && !memcmp(y[3], y[0], ny * sizeof *y[3]),
	       "the twin or another weight pointer read stale packed weights");
	sn_dnnl_conv_free(twin);
	sn_dnnl_conv_free(c);
	sn_dnnl_conv_free(u);
	free(x); free(w); free(w2); free(w3); free(b); free(ws);
	for (int k = 0; k < 4; k++) free(y[k]);
}

TEST(conv_dnnl_packed_weights_same_bytes)
{
	if (!sn_dnnl_available()) {
		fprintf(stderr, "  skipped: oneDNN does not run here\n");
		return;
	}
	packed_same_bytes(0);
	if (wino_here()) packed_same_bytes(SN_DNNL_WINOGRAD);
}

/* oneDNN's brgemm inner product, which auto picks for Linear, needs AVX-512: under an AVX2 cap
 * (tests/run.sh) oneDNN offers its sgemm and the Linears stay on OpenBLAS's. */
static int brgemm_here(void)
{
	const char *cap = getenv("ONEDNN_MAX_CPU_ISA");
	return __builtin_cpu_supports("avx512f") && !(cap && !strcmp(cap, "AVX2"));
}

/* Output of a pass of plan p over x (batch rows), copied. */
static float *plan_out(sn_plan *p, const float *x, int batch)
{
	const float *y = sn_plan_forward(p, x, batch);
	if (!y) {
		fprintf(stderr, "  %s\n", sn_errmsg());
		return NULL;
	}
	return dup(y, (size_t)batch * sn_shape_numel(p->g->node[p->g->n_node - 1].out));
}

/* A new plan of g on `mode`'s engine: its output over x (batch rows of a plan for planned). */
static float *fresh_out(sn_graph *g, int mode, unsigned flags, const float *x, int planned, int batch)
{
	sn_dnnl_set_mode(mode);
	sn_plan *p = sn_plan_new(g);
	float *y = p && sn_plan_reshape(p, planned, flags) == SN_OK ? plan_out(p, x, batch) : NULL;
	sn_plan_free(p);
	sn_dnnl_set_mode(-1);
	return y;
}

/* One value of each weight changed, at a place the handles' samples do not look at (as a step
 * of pruning or fine-tuning may change few): only the reshape tells the plan. */
static void nudge_weights(sn_graph *g)
{
	for (int i = 0; i < g->n_tensor; i++)
		if (g->tensor[i].kind == SN_TENSOR_PARAM && g->tensor[i].ndim >= 2) g->tensor[i].data[1] += 0.5f;
}

/* Inference plans pack a conv's (here Winograd's, on AVX-512) and a Linear's weights once;
 * sn_plan_reshape (what callers do after changing the weights, even where the plan already fits)
 * has them packed again, and the plan then gives the bytes of a new plan. Training plans read the weights as they are at every
 * pass. Both agree with the own path, at the planned batch and a smaller one. */
TEST(conv_dnnl_packed_weights_follow_reshape)
{
	if (!sn_dnnl_available()) {
		fprintf(stderr, "  skipped: oneDNN does not run here\n");
		return;
	}
	sn_graph *g = sn_test_net("input x shape=64x10x10\nconv a out=64 k=3 pad=1 act=relu\nflatten f\nlinear l out=40\n", 9);
	REQUIRE(g);
	const int B = 3;
	const size_t nx = (size_t)B * 64 * 100;
	float *x = malloc(nx * sizeof *x);
	REQUIRE(x);
	fill(x, nx, 5);
	sn_plan *p = sn_plan_new(g), *t = sn_plan_new(g);
	REQUIRE(p && t);
	REQUIRE(sn_plan_reshape(p, B, 0) == SN_OK);
	REQUIRE(sn_plan_reshape(t, B, SN_PLAN_TRAIN) == SN_OK);
	REQUIRE(sn_plan_set_train(t, 0) == SN_OK);
	CHECKF(sn_conv_dnnl_impl(p, &g->node[1]) && (!brgemm_here() || sn_conv_dnnl_impl(p, &g->node[3])),
	       "the conv or the Linear of an inference plan does not run on oneDNN");
	CHECKF(!!strstr(sn_conv_dnnl_impl(p, &g->node[1]), "wino") == wino_here(), "the inference plan's conv runs %s",
	       sn_conv_dnnl_impl(p, &g->node[1]));
	CHECKF(sn_conv_dnnl_impl(t, &g->node[1]) && !sn_conv_dnnl_impl(t, &g->node[3]),
	       "a training plan: the conv should train on oneDNN, the Linear on sgemm");
	for (int round = 0; round < 2; round++) {
		if (round) {
			nudge_weights(g);
			REQUIRE(sn_plan_reshape(p, B, 0) == SN_OK);   /* fits already: keeps its arena */
		}
		for (int batch = B; batch >= B - 1; batch--) {
			float *yp = plan_out(p, x, batch), *yt = plan_out(t, x, batch);
			float *yf = fresh_out(g, SN_DNNL_AUTO, 0, x, B, batch), *yo = fresh_out(g, SN_DNNL_OWN, 0, x, B, batch);
			REQUIRE(yp && yt && yf && yo);
			const size_t n = (size_t)batch * 40;
			CHECKF(!memcmp(yp, yf, n * sizeof *yp), "round %d, batch %d: the reused plan differs from a new one", round,
			       batch);
			CHECKF(sn_test_maxrel(yp, yo, n) <= DNNL_TOL, "round %d, batch %d: off the own path by %.3g", round, batch,
			       sn_test_maxrel(yp, yo, n));
			CHECKF(sn_test_maxrel(yt, yo, n) <= DNNL_TOL, "round %d, batch %d: the training plan off the own path by %.3g",
			       round, batch, sn_test_maxrel(yt, yo, n));
			free(yp); free(yt); free(yf); free(yo);
		}
	}
	sn_plan_free(p);
	sn_plan_free(t);
	sn_graph_free(g);
	free(x);
}

/* Linear: oneDNN's inner product for inference plans of several rows (not for one row, nor for
 * training, nor with the own engine forced); close to sgemm at the planned batch, and smaller
 * batches run sgemm. */
TEST(linear_dnnl_choice_and_results)
{
	if (!sn_dnnl_available()) {
		fprintf(stderr, "  skipped: oneDNN does not run here\n");
		return;
	}
	const char *arch = "input x shape=200x1x1\nflatten f\nlinear l out=72\nlinear m out=10 bias=0\n";
	sn_graph *g = sn_test_net(arch, 4);
	REQUIRE(g);
	float *x = malloc(8 * 200 * sizeof *x);
	REQUIRE(x);
	fill(x, 8 * 200, 6);
	const struct { int mode, planned, train, want; } cases[] = {
		{SN_DNNL_AUTO, 8, 0, 1}, {SN_DNNL_AUTO, 2, 0, 1}, {SN_DNNL_AUTO, 1, 0, 0}, {SN_DNNL_ONEDNN, 1, 0, 1},
		{SN_DNNL_AUTO, 8, 1, 0}, {SN_DNNL_OWN, 8, 0, 0},
	};
	const int brgemm = brgemm_here();
	for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
		sn_dnnl_set_mode(cases[k].mode);
		sn_plan *p = sn_plan_new(g);
		REQUIRE(p && sn_plan_reshape(p, cases[k].planned, cases[k].train ? SN_PLAN_TRAIN : 0) == SN_OK);
		sn_dnnl_set_mode(-1);
		const int on = sn_conv_dnnl_impl(p, &g->node[2]) && sn_conv_dnnl_impl(p, &g->node[3]);
		if (brgemm || cases[k].mode == SN_DNNL_ONEDNN)
			CHECKF(on == cases[k].want, "case %zu: the Linears %s on oneDNN", k, on ? "ran" : "did not run");
		for (int batch = cases[k].planned; batch >= 1 && batch >= cases[k].planned - 1; batch--) {
			float *y = plan_out(p, x, batch), *yo = fresh_out(g, SN_DNNL_OWN, 0, x, cases[k].planned, batch);
			REQUIRE(y && yo);
			CHECKF(sn_test_maxrel(y, yo, (size_t)batch * 10) <= DNNL_TOL, "case %zu, batch %d: off sgemm by %.3g", k, batch,
			       sn_test_maxrel(y, yo, (size_t)batch * 10));
			free(y); free(yo);
		}
		sn_plan_free(p);
	}
	sn_graph_free(g);
	free(x);
}

/* NaN into a conv with a fused ReLU or ReLU6: 0 out, on oneDNN as on the own path (slimnn's
 * rule everywhere: the ReLU operator, the tiled GEMM, the depthwise kernels, exported C), in
 * inference and training plans, over shapes that take oneDNN's different kernels (its JIT
 * kernels' relu gave 0 already, its im2col + GEMM and reference ones let NaN through); other
 * values alike. */
TEST(conv_dnnl_fused_relu_nan)
{
	if (!sn_dnnl_available()) {
		fprintf(stderr, "  skipped: oneDNN does not run here\n");
		return;
	}
	static const char *convs[] = {"k=3 pad=1", "k=1", "k=3 stride=2 pad=1", "k=3 pad=1 groups=4", "k=5 dilation=2 pad=4",
	                              "k=3 dilation=2x1 stride=2 pad=2,1,1,1", "k=1x7 pad=0,0,3,3", "k=3 pad=1 groups=8",
	                              "k=7 pad=3 groups=2"};
	const size_t nx = 2 * 16 * 64;
	float *x = malloc(nx * sizeof *x);
	REQUIRE(x);
	fill(x, nx, 8);
	x[5] = NAN;
	x[16 * 64 + 300] = -NAN;
	for (size_t k = 0; k < sizeof convs / sizeof *convs; k++)
		for (int act = 0; act < 2; act++)
			for (int train = 0; train <= 1; train++) {
				char arch[160];
				snprintf(arch, sizeof arch, "input x shape=16x8x8\nconv c out=32 %s act=%s\n", convs[k], act ? "relu6" : "relu");
				sn_graph *g = sn_test_net(arch, 2);
				REQUIRE(g);
				const unsigned flags = train ? SN_PLAN_TRAIN : 0;
				const size_t ny = 2 * sn_shape_numel(g->node[1].out);
				float *yo = fresh_out(g, SN_DNNL_OWN, flags, x, 2, 2), *yd = fresh_out(g, SN_DNNL_ONEDNN, flags, x, 2, 2);
				REQUIRE(yo && yd);
				size_t nan_own = 0, nan_dnnl = 0, zeros = 0, off = 0;
				for (size_t i = 0; i < ny; i++) {
					nan_own += isnan(yo[i]);
					nan_dnnl += isnan(yd[i]);
					zeros += yd[i] == 0;
					if (!isnan(yo[i]) && !isnan(yd[i]) && fabsf(yo[i] - yd[i]) > 1e-4f * (1 + fabsf(yo[i]))) off++;
				}
				CHECKF(!nan_own && !nan_dnnl && !off, "%s %s%s: NaN out of the own path %zu, of oneDNN %zu; %zu values apart",
				       convs[k], act ? "relu6" : "relu", train ? " (training plan)" : "", nan_own, nan_dnnl, off);
				CHECK(zeros > 0);
				free(yo); free(yd);
				sn_graph_free(g);
			}
	free(x);
}

/* Winograd's rounding against the direct conv's: bench_onednn measured its error at up to 2.9e-6
 * of the largest output against a double reference (128 -> 128, F(4x4, 3x3)), the direct conv's
 * up to 4.2e-7 (here the cases differ by up to 2e-6); the outputs of wrong code (a lost bias or
 * activation, a wrong tile) are off by 1e-2 and more. */
#define WINO_TOL 2e-5

/* Inference plans run 3x3 stride-1 convs on oneDNN's Winograd where src/ops/conv.c's rule says
 * (enough channels, planes of 4x4 and more), everywhere oneDNN offers it with
 * SLIMNN_CONV_WINOGRAD=on (never for other kernels or strides), nowhere with off, and never in
 * training plans; the plan names its code. Its outputs are not the direct conv's bytes (the
 * check that it ran) but agree with them and with the own path within WINO_TOL, at the planned
 * batch and image by image, with bias or without, with the fused ReLU and ReLU6 (which its
 * kernels run as a step of their own). Without AVX-512 the direct conv runs instead. */
TEST(conv_dnnl_winograd)
{
	if (!sn_dnnl_available()) {
		fprintf(stderr, "  skipped: oneDNN does not run here\n");
		return;
	}
	static const struct { dnnl_case c; int rule, fits; } cases[] = {
		{{"16->24", "input x shape=16x9x11\nconv c out=24 k=3 pad=1\n", 2}, 1, 1},
		{{"32->64 relu", "input x shape=32x14x14\nconv c out=64 k=3 pad=1 act=relu\n", 8}, 1, 1},
		{{"64 relu6 nobias", "input x shape=64x10x10\nconv c out=64 k=3 pad=1 act=relu6 bias=0\n", 2}, 1, 1},
		{{"128 4x3", "input x shape=128x28x28\nconv c out=128 k=3 pad=1\n", 1}, 1, 1},
		{{"odd", "input x shape=17x9x9\nconv c out=19 k=3 pad=1\n", 3}, 1, 1},
		{{"valid", "input x shape=24x12x12\nconv c out=32 k=3 pad=0\n", 2}, 1, 1},
		{{"pad 1,0,1,0", "input x shape=24x12x12\nconv c out=32 k=3 pad=1,0,1,0 act=relu\n", 2}, 1, 1},
		/* oneDNN 2.6 refuses Winograd with padding 2: the plan falls back to the direct conv */
		{{"pad 0,2,1,0", "input x shape=24x12x12\nconv c out=32 k=3 pad=0,2,1,0\n", 2}, 1, 0},
		{{"8->16", "input x shape=8x12x12\nconv c out=16 k=3 pad=1\n", 2}, 0, 1},
		{{"3x3 plane", "input x shape=64x3x3\nconv c out=64 k=3 pad=1\n", 2}, 0, 1},
		{{"stride2", "input x shape=32x12x12\nconv c out=32 k=3 stride=2 pad=1\n", 2}, 0, 0},
		{{"k5", "input x shape=32x12x12\nconv c out=32 k=5 pad=2\n", 2}, 0, 0},
	};
	const int here = wino_here();
	if (!here) fprintf(stderr, "  no Winograd here (AVX2 cap or no AVX-512): checking that the direct conv runs\n");
	for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
		const dnnl_case *c = &cases[k].c;
		for (int batch = c->batch; batch >= 1 && batch >= c->batch - 1; batch--) {
			pass_out own, direct;
			REQUIRE(run_case(c, SN_DNNL_OWN, 0, batch, &own) == 0);
			sn_dnnl_set_winograd(SN_DNNL_WINO_OFF);
			REQUIRE(run_case(c, SN_DNNL_ONEDNN, 0, batch, &direct) == 0);
			CHECKF(direct.dnnl_convs == 1 && !strstr(direct.impl, "wino"), "%s: winograd off ran '%s'", c->name, direct.impl);
			for (int mode = SN_DNNL_WINO_AUTO; mode <= SN_DNNL_WINO_ON; mode++) {
				pass_out w;
				sn_dnnl_set_winograd(mode);
				REQUIRE(run_case(c, SN_DNNL_ONEDNN, 0, batch, &w) == 0);
				const int want = here && cases[k].fits && (mode == SN_DNNL_WINO_ON || cases[k].rule);
				CHECKF(w.dnnl_convs == 1 && !!strstr(w.impl, "wino") == want, "%s, winograd %s: ran '%s'", c->name,
				       mode == SN_DNNL_WINO_ON ? "on" : "auto", w.impl);
				if (want) CHECKF(memcmp(w.y, direct.y, w.ny * sizeof *w.y), "%s: Winograd gave the direct conv's bytes", c->name);
				const double ed = sn_test_maxrel(w.y, direct.y, w.ny), eo = sn_test_maxrel(w.y, own.y, w.ny);
				CHECKF(ed <= WINO_TOL && eo <= WINO_TOL, "%s, batch %d of %d: %s off the direct conv by %.3g, the own path by %.3g",
				       c->name, batch, c->batch, w.impl, ed, eo);
				free_out(&w);
			}
			/* training keeps the direct conv (the shape rule may keep it on the own path) */
			pass_out t;
			REQUIRE(run_case(c, SN_DNNL_ONEDNN, 1, batch, &t) == 0);
			CHECKF(!strstr(t.impl, "wino"), "%s: a training plan ran '%s'", c->name, t.impl);
			free_out(&t);
			sn_dnnl_set_winograd(-1);
			free_out(&own);
			free_out(&direct);
		}
	}
	/* the report names the code */
	sn_graph *g = sn_test_net(cases[1].c.arch, 1);
	REQUIRE(g);
	char buf[160];
	REQUIRE(sn_graph_plan(g, 1, 0) == SN_OK);
	sn_node_path(g, &g->node[1], buf, sizeof buf);
	CHECKF(!strncmp(buf, "oneDNN ", 7) && !!strstr(buf, "wino") == here, "the report says '%s'", buf);
	sn_graph_free(g);
}
