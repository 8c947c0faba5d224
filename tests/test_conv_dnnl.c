/* Dense convs on oneDNN (kernels/dnnl_conv.c, picked by src/ops/conv.c) against slimnn's own
 * im2col + GEMM path (itself checked against PyTorch's fixtures in test_ops_torch.c and by finite
 * differences in test_gradcheck.c): forward, input gradient (overwritten and accumulated) and
 * weight and bias gradients, in training and inference plans, for each shape class that goes to
 * oneDNN (stride 2, asymmetric padding, dilation, groups, 1x1, 1x7, fused ReLU/ReLU6, no bias,
 * odd sizes, a first layer without input gradient), at the planned batch and at a smaller one
 * (image by image). Each case first checks that the plan really runs oneDNN, and which code:
 * AVX-512 where the CPU has it, AVX2 under ONEDNN_MAX_CPU_ISA=AVX2 (tests/run.sh runs these
 * tests that way too). Same thread count, same bytes: twice the same pass must agree exactly. */
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
	const dnnl_case small = {"7x7", "input x shape=64x7x7\nconv c out=64 k=3 pad=1\n", 8};
	REQUIRE(run_case(&small, SN_DNNL_AUTO, 1, 8, &o) == 0);
	CHECKF(o.dnnl_convs == 0, "a conv on a 7x7 plane trained on oneDNN by the shape rule");
	free_out(&o);
	REQUIRE(run_case(&small, SN_DNNL_AUTO, 0, 8, &o) == 0);
	CHECKF(o.dnnl_convs == 1, "a conv on 8 7x7 planes did not infer on oneDNN by the shape rule");
	free_out(&o);
	const dnnl_case one = {"7x7", small.arch, 1};
	REQUIRE(run_case(&one, SN_DNNL_AUTO, 0, 1, &o) == 0);
	CHECKF(o.dnnl_convs == 0, "a conv on one 7x7 plane inferred on oneDNN by the shape rule");
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
 * that does not follow from the input, kernel and padding. */
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
