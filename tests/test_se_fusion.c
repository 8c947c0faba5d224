/* SiLU and squeeze-and-excitation at inference: the vectorised sigmoid against the exact one,
 * the Mul's per-channel gate path against the general one, and sn_prepare_inference's se layer
 * (src/ops/se.c) against the layers it replaces and against PyTorch (tests/fixtures/se, made by
 * tools/gen_se_fixtures.py from torchvision's SqueezeExcitation), at batch 1 and 3: that it
 * fires on the blocks it must, leaves the others, works in place, and refuses training. */
#include <math.h>
#include <stdlib.h>
#include "test.h"
#include "slimnn.h"
#include "ops/elementwise.h"

/* Every 61st float (all exponents, both signs): at most 3.2 ulp from the exact sigmoid where it
 * is a normal float, which is the bound elementwise.h states. */
TEST(se_sigmoid_accuracy)
{
	double worst = 0;
	float at = 0;
	for (uint64_t b = 0; b < (1ull << 32); b += 61) {
		const uint32_t bits = (uint32_t)b;
		float x;
		memcpy(&x, &bits, sizeof x);
		if (!isfinite(x)) continue;
		const double ref = 1.0 / (1.0 + exp(-(double)x));
		if (ref < 0x1p-126) continue;
		const float rf = (float)ref, ulp = nextafterf(rf, INFINITY) - rf;
		const double e = fabs(sn_sigmoid(x) - ref) / ulp;
		if (e > worst) { worst = e; at = x; }
	}
	CHECKF(worst <= 3.2, "sigmoid: %.2f ulp at %.9g", worst, at);
	CHECK(sn_sigmoid(INFINITY) == 1.0f && sn_sigmoid(-INFINITY) < 3e-39f && sn_sigmoid(-INFINITY) >= 0);
	CHECK(isnan(sn_sigmoid(NAN)) && sn_sigmoid(0) == 0.5f && sn_sigmoid(100) == 1.0f);
	CHECK(isnan(sn_silu(NAN)) && sn_silu(-200) <= 0 && sn_silu(-200) > -1e-36f && sn_silu(30) == 30.0f);
}

static float *random_values(size_t n, uint64_t seed, float scale)
{
	float *x = malloc(n * sizeof *x);
	sn_rng r;
	sn_rng_seed(&r, seed);
	for (size_t i = 0; i < n; i++) x[i] = scale * (2 * sn_rng_uniform(&r) - 1);
	return x;
}

/* A gate [N,C,1,1] times [N,C,H,W], in both orders and as [N,C] (rank 2): each output is the
 * one product a * b, so the plane path must give the reference bit for bit. */
TEST(se_mul_gate_path)
{
	static const char *const nets[] = {
		"input x shape=5x3x7\ngap p\nsigmoid s\nmul m in=s,x\n",
		"input x shape=5x3x7\ngap p\nsigmoid s\nmul m in=x,s\n",
		"input x shape=5x3x7\ngap p\nflatten f\nmul m in=x,f\n",
		"input x shape=1x4x4\ngap p\nmul m in=x,p\n",
	};
	for (int k = 0; k < 4; k++) {
		sn_graph *g = sn_test_net(nets[k], 1);
		REQUIRE(g);
		const sn_shape s = sn_graph_input_shape(g);
		const int B = 3, hw = s.h * s.w;
		float *x = random_values((size_t)B * sn_shape_numel(s), 7 + k, 3), *y = sn_test_logits(g, x, B);
		REQUIRE(y);
		int bad = 0;
		for (int b = 0; b < B; b++)
			for (int c = 0; c < s.c; c++) {
				const float *xp = x + ((size_t)b * s.c + c) * hw;
				float m = 0;
				#pragma omp simd reduction(+ : m)
				for (int i = 0; i < hw; i++) m += xp[i];
				m /= hw;
				const float gate = k < 2 ? sn_sigmoid(m) : m;
				for (int i = 0; i < hw; i++) bad += y[((size_t)b * s.c + c) * hw + i] != xp[i] * gate;
			}
		CHECKF(!bad, "net %d: %d products differ from a * b", k, bad);
		free(x); free(y);
		sn_graph_free(g);
	}
}

static int count_op(const sn_graph *g, sn_op op)
{
	int k = 0;
	for (int i = 0; i < g->n_node; i++) k += g->node[i].op == op;
	return k;
}

/* Outputs of g on the first n images of x (a copy), after a plan for n. */
static float *outputs(sn_graph *g, const float *x, int n, size_t *count)
{
	*count = (size_t)n * sn_shape_numel(sn_graph_output_shape(g));
	return sn_test_logits(g, x, n);
}

/* The prepared graph h against g on x, at batch B and 1: within tol (relative to max(1, |y|)). */
static void check_same(sn_graph *g, sn_graph *h, const float *x, int B, double tol, const char *what)
{
	size_t na, nb, n1;
	float *a = outputs(g, x, B, &na), *b = outputs(h, x, B, &nb), *b1 = outputs(h, x, 1, &n1);
	REQUIRE(a && b && b1 && na == nb);
	const double e = sn_test_maxrel(b, a, na), e1 = sn_test_maxrel(b1, a, n1);
	CHECKF(e <= tol && e1 <= tol, "%s: fused differs from the layers by %.3g (batch %d), %.3g (batch 1)", what, e, B, e1);
	free(a); free(b); free(b1);
}

/* The efficientnet-style fixture: both blocks fuse (with their depthwise SiLU), the prepared
 * model gives PyTorch's output, and each se layer overwrites its input's buffer. */
TEST(se_fusion_torch_fixture)
{
	char dir[1024], p[1200];
	snprintf(dir, sizeof dir, "%s/se", sn_test_fixtures());
	int xn, xd[8], yn, yd[8];
	float *x = NULL, *y = NULL;
	snprintf(p, sizeof p, "%s/x.npy", dir);
	REQUIRE(sn_npy_read(p, &xn, xd, &x) == SN_OK);
	snprintf(p, sizeof p, "%s/y.npy", dir);
	REQUIRE(sn_npy_read(p, &yn, yd, &y) == SN_OK);
	snprintf(p, sizeof p, "%s/mbconv.onnx", dir);
	sn_graph *g = sn_onnx_load(p, NULL);
	REQUIRE(g);
	sn_prepare_report rep;
	sn_graph *h = sn_prepare_inference(g, NULL, &rep);
	REQUIRE(h);
	CHECKF(rep.fused_se == 2 && count_op(h, SN_OP_SE) == 2, "%d se layers made, %d in the graph", rep.fused_se,
	       count_op(h, SN_OP_SE));
	CHECK(count_op(g, SN_OP_SILU) == 7 && count_op(h, SN_OP_SILU) == 3);   /* stem and expansions stay */
	CHECK(count_op(h, SN_OP_MUL) == 0 && count_op(h, SN_OP_SIGMOID) == 0 && count_op(h, SN_OP_GAP) == 1);
	CHECK(h->n_node == g->n_node - 2 * 6);
	for (int i = 0; i < h->n_node; i++)
		if (h->node[i].op == SN_OP_SE) CHECK(h->node[i].a.se.act == SN_SE_ACT_SILU && h->node[i].a.se.squeeze == 2);

	const int B = xd[0];
	size_t na, nb;
	float *a = outputs(g, x, B, &na), *b = outputs(h, x, B, &nb);
	REQUIRE(a && b && na == (size_t)yd[0] * yd[1]);
	CHECKF(sn_test_maxrel(a, y, na) <= 1e-5, "layers against PyTorch: %.3g", sn_test_maxrel(a, y, na));
	CHECKF(sn_test_maxrel(b, y, na) <= 1e-5, "prepared against PyTorch: %.3g", sn_test_maxrel(b, y, na));
	free(a); free(b);
	check_same(g, h, x, B, 1e-6, "fixture");

	REQUIRE(sn_graph_plan(h, B, 0) == SN_OK);   /* in place: no full-size tensor of its own */
	for (int i = 0; i < h->n_node; i++)
		if (h->node[i].op == SN_OP_SE) CHECK(sn_plan_output(h->plan, i) == sn_plan_output(h->plan, h->node[i].in[0]));

	sn_prepare_opts o = sn_prepare_defaults();   /* what quantize and export --format c ask */
	o.fuse_se = 0;
	sn_graph *u = sn_prepare_inference(g, &o, &rep);
	REQUIRE(u);
	CHECK(rep.fused_se == 0 && count_op(u, SN_OP_SE) == 0 && count_op(u, SN_OP_MUL) == 2);
	sn_graph_free(u);
	sn_graph_free(h);
	sn_graph_free(g);
	free(x); free(y);
}

#define IN "input x shape=6x5x5\nconv e out=8 k=3 pad=1\n"
#define GATE(x) "gap sq in=" x "\nconv f1 out=3 k=1\nsilu a\nconv f2 out=8 k=1\nsigmoid gt\n"

/* Blocks written in architecture text: with and without the SiLU before, the Mul's inputs either
 * way; and blocks that must stay layers: the input read by a third layer, a ReLU inside, a
 * bias-free fc, a strided fc. Each prepared graph gives the layers' outputs. */
TEST(se_fusion_variants)
{
	static const struct { const char *arch; int se, act; } cases[] = {
		{IN "silu s\n" GATE("s") "mul m in=s,gt\nconv p out=4 k=1\n", 1, SN_SE_ACT_SILU},
		{IN "silu s\n" GATE("s") "mul m in=gt,s\nconv p out=4 k=1\n", 1, SN_SE_ACT_SILU},
		{IN "bn b\n" GATE("b") "mul m in=b,gt\n", 1, SN_SE_ACT_NONE},
		{"input x shape=8x5x5\n" GATE("x") "mul m in=x,gt\n", 1, SN_SE_ACT_NONE},   /* not in place: the caller's */
		{IN "silu s\n" GATE("s") "mul m in=s,gt\nadd r in=s,m\n", 0, 0},
		{IN "silu s\ngap sq\nconv f1 out=3 k=1\nrelu a\nconv f2 out=8 k=1\nsigmoid gt\nmul m in=s,gt\n", 0, 0},
		{IN "silu s\ngap sq\nconv f1 out=3 k=1 bias=0\nsilu a\nconv f2 out=8 k=1\nsigmoid gt\nmul m in=s,gt\n", 1,
		 SN_SE_ACT_SILU},
		{IN "silu s\ngap sq\nconv f1 out=3 k=1 stride=2\nsilu a\nconv f2 out=8 k=1\nsigmoid gt\nmul m in=s,gt\n", 0, 0},
	};
	for (int k = 0; k < (int)(sizeof cases / sizeof *cases); k++) {
		sn_graph *g = sn_test_net(cases[k].arch, 20 + k);
		REQUIRE(g);
		for (int i = 0; i < g->n_node; i++)   /* BatchNorm away from the identity */
			if (g->node[i].op == SN_OP_BN)
				for (int s = 0; s < 4; s++) {
					sn_tensor *t = &g->tensor[g->node[i].t[s]];
					for (size_t j = 0; j < t->n; j++) t->data[j] = 0.6f + 0.1f * (float)((j * 7 + s) % 5);
				}
		sn_prepare_report rep;
		sn_graph *h = sn_prepare_inference(g, NULL, &rep);
		REQUIRE(h);
		CHECKF(rep.fused_se == cases[k].se && count_op(h, SN_OP_SE) == cases[k].se, "case %d: %d se layers", k,
		       rep.fused_se);
		int at = -1;
		for (int i = 0; i < h->n_node; i++) if (h->node[i].op == SN_OP_SE) at = i;
		if (cases[k].se && at >= 0) {
			CHECKF(h->node[at].a.se.act == cases[k].act && !strcmp(h->node[at].name, "m"), "case %d: %s act %d", k,
			       h->node[at].name, h->node[at].a.se.act);
			CHECK(h->node[at].in[0] == 0 || h->node[h->node[at].in[0]].op == SN_OP_CONV);   /* e, BatchNorm folded */
		}
		float *x = random_values(3 * sn_shape_numel(sn_graph_input_shape(g)), 40 + k, 2);
		check_same(g, h, x, 3, 1e-6, cases[k].arch);
		free(x);
		sn_graph_free(h);
		sn_graph_free(g);
	}
}

/* The se layer is for inference: backward through it fails with a message that says why; the
 * model as it was still trains. */
TEST(se_fusion_training_refused)
{
	sn_graph *g = sn_test_net(IN "silu s\n" GATE("s") "mul m in=s,gt\nconv p out=2 k=1\n", 3);
	REQUIRE(g);
	sn_graph *h = sn_prepare_inference(g, NULL, NULL);
	REQUIRE(h);
	float *x = random_values(2 * 6 * 5 * 5, 9, 1), dl[2 * 2 * 5 * 5];
	for (int i = 0; i < 2 * 2 * 5 * 5; i++) dl[i] = 0.01f * (float)(i % 7);
	REQUIRE(sn_graph_plan(h, 2, 1) == SN_OK && sn_graph_forward(h, x, 2));
	CHECK(sn_graph_backward(h, dl) != SN_OK && strstr(sn_errmsg(), "fused for inference and has no backward"));
	REQUIRE(sn_graph_plan(g, 2, 1) == SN_OK && sn_graph_forward(g, x, 2));
	CHECK(sn_graph_backward(g, dl) == SN_OK);
	free(x);
	sn_graph_free(h);
	sn_graph_free(g);
}
