/* Pruning granularities and criteria beyond single weights and filters: neurons (Linear outputs,
 * removed), blocks of output channels (masked), and the first-order Taylor criterion. Exact
 * counts per layer and globally, whole blocks, removal that leaves the function unchanged,
 * Taylor scores checked against a hand computation, masks through fine-tuning, bad input. */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>
#include "test.h"
#include "slimnn.h"
#include "prune/prune.h"



static int out_of(const sn_graph *g, const char *name) { return g->node[sn_graph_find(g, name)].out.c; }

/* A multi-layer perceptron behind a small conv: Linear -> ReLU -> Dropout -> Linear, a flatten
 * between Linears, and the classifier. */
static const char *mlp_arch =
	"input   x    shape=1x8x8\n"
	"conv    c1   out=3 k=3 stride=2 pad=1\n"
	"relu    r1\n"
	"flatten f1\n"
	"linear  fc1  out=12\n"
	"relu    r2\n"
	"dropout d1   p=0.5\n"
	"linear  fc2  out=9\n"
	"relu    r3\n"
	"flatten f2\n"
	"dropout d2   p=0.2\n"
	"linear  fc3  out=10\n";

/* ---------------------------------------------------------------- neurons */

TEST(prune_gran_neuron_select_and_groups)
{
	sn_graph *g = sn_test_net(mlp_arch, 1);
	REQUIRE(g);
	unsigned char p[32];
	REQUIRE(sn_prune_select(g, SN_GRAN_NEURON, NULL, p) == SN_OK);
	CHECK(p[sn_graph_find(g, "fc1")] && p[sn_graph_find(g, "fc2")]);
	CHECK(!p[sn_graph_find(g, "fc3")] && !p[sn_graph_find(g, "c1")]);   /* the classifier; convs are filters */
	sn_chg *d = sn_chg_build(g, p);
	REQUIRE(d);
	int fc1 = sn_graph_find(g, "fc1"), fc2 = sn_graph_find(g, "fc2");
	/* a neuron is one class from its Linear through ReLU, Dropout and Flatten to its reader */
	CHECK(sn_chg_class(d, fc2, 4) == sn_chg_class(d, sn_graph_find(g, "d2"), 4));
	CHECK(sn_chg_class(d, fc1, 0) != sn_chg_class(d, fc1, 1));
	CHECK(!d->class_frozen[sn_chg_class(d, fc1, 3)] && d->class_frozen[sn_chg_class(d, sn_graph_find(g, "fc3"), 0)]);
	CHECK(d->class_frozen[sn_chg_class(d, sn_graph_find(g, "c1"), 0)]);
	int classes, prunable;
	sn_chg_group_size(d, d->class_group[sn_chg_class(d, fc1, 0)], &classes, &prunable);
	CHECK(classes == 12 && prunable == 12);
	sn_chg_free(d);
	sn_graph_free(g);
}

/* Removing neurons whose weights (row and bias) are zero leaves the outputs as they were. */
TEST(prune_gran_neuron_removal_keeps_function)
{
	sn_graph *g = sn_test_net(mlp_arch, 2);
	REQUIRE(g);
	unsigned char p[32];
	REQUIRE(sn_prune_select(g, SN_GRAN_NEURON, NULL, p) == SN_OK);
	sn_chg *d = sn_chg_build(g, p);
	REQUIRE(d);
	unsigned char *remove = calloc((size_t)d->n_class, 1);
	int fc1 = sn_graph_find(g, "fc1"), fc2 = sn_graph_find(g, "fc2");
	const int gone1[] = {0, 5, 6, 11}, gone2[] = {2, 3, 8};
	for (int k = 0; k < 4; k++) remove[sn_chg_class(d, fc1, gone1[k])] = 1;
	for (int k = 0; k < 3; k++) remove[sn_chg_class(d, fc2, gone2[k])] = 1;
	for (int c = 0; c < d->n_class; c++)
		if (remove[c]) sn_chg_zero_class(g, d, c);
	const int n = 4;
	float x[4 * 64];
	for (int i = 0; i < n * 64; i++) x[i] = (float)((i * 7919) % 1000) / 500.0f - 1.0f;
	REQUIRE(sn_graph_plan(g, n, 0) == SN_OK);
	float y0[40];
	memcpy(y0, sn_graph_forward(g, x, n), sizeof y0);
	sn_graph *h = sn_chg_remove(d, remove);
	REQUIRE(h);
	CHECK(out_of(h, "fc1") == 8 && out_of(h, "fc2") == 6 && out_of(h, "fc3") == 10);
	CHECK(sn_test_tensor(h, "fc1.bias")->n == 8 && sn_test_tensor(h, "fc2.weight")->dims[1] == 8 && sn_test_tensor(h, "fc3.weight")->dims[1] == 6);
	/* the survivors keep their rows, in order, with the matching columns of the reader */
	const int rows2[] = {0, 1, 4, 5, 6, 7}, cols2[] = {1, 2, 3, 4, 7, 8, 9, 10};
	sn_tensor *a = sn_test_tensor(g, "fc2.weight"), *b = sn_test_tensor(h, "fc2.weight");
	int same = 1;
	for (int j = 0; j < 6; j++)
		for (int k = 0; k < 8; k++) same &= b->data[j * 8 + k] == a->data[rows2[j] * 12 + cols2[k]];
	CHECK(same);
	REQUIRE(sn_graph_plan(h, n, 0) == SN_OK);
	double err = sn_test_maxrel(sn_graph_forward(h, x, n), y0, 40);
	CHECKF(err <= 1e-6, "removing zero neurons changed the output by %g", err);
	CHECK(sn_graph_count(h, SN_TENSOR_PARAM, 0) == sn_graph_count(g, SN_TENSOR_PARAM, 0) - 4 * (48 + 1 + 9) - 3 * (8 + 1 + 10));
	free(remove);
	sn_chg_free(d);
	sn_graph_free(h);
	sn_graph_free(g);
}

/* Exact counts: per layer round(s * neurons) of each Linear; globally round(s * all of them). */
TEST(prune_gran_neuron_exact_counts)
{
	sn_graph *g = sn_test_net(mlp_arch, 3);
	REQUIRE(g);
	unsigned char p[32];
	REQUIRE(sn_prune_select(g, SN_GRAN_NEURON, NULL, p) == SN_OK);
	sn_graph *h = sn_prune_filters(g, NULL, p, SN_CRIT_L1, SN_SCOPE_LAYER, 0.25f);
	REQUIRE(h);
	CHECK(out_of(h, "fc1") == 9 && out_of(h, "fc2") == 7 && out_of(h, "fc3") == 10);   /* 3 of 12, round(2.25) of 9 */
	size_t gone, total;
	CHECK_NEAR(sn_prune_sparsity(h, g, SN_GRAN_NEURON, p, &gone, &total), 5.0 / 21, 1e-12);
	CHECK(gone == 5 && total == 21);
	/* the three weakest rows of fc1 went */
	CHECK(sn_test_kept_strongest(sn_test_tensor(g, "fc1.weight"), sn_test_tensor(h, "fc1.weight"), 12, 48, NULL) == 9);
	sn_graph_free(h);
	/* global: 0.5 of the 21 neurons, each layer keeps at least one */
	h = sn_prune_filters(g, NULL, p, SN_CRIT_L2, SN_SCOPE_GLOBAL, 0.5f);
	REQUIRE(h);
	CHECK(out_of(h, "fc1") + out_of(h, "fc2") == 21 - 11 && out_of(h, "fc1") >= 1 && out_of(h, "fc2") >= 1);
	CHECK_NEAR(sn_prune_sparsity(h, g, SN_GRAN_NEURON, p, NULL, NULL), 11.0 / 21, 1e-12);
	/* a second round counts against the model before pruning */
	sn_graph *h2 = sn_prune_filters(h, g, p, SN_CRIT_L2, SN_SCOPE_GLOBAL, 0.8f);
	REQUIRE(h2);
	CHECK(out_of(h2, "fc1") + out_of(h2, "fc2") == 21 - 17);
	sn_graph_free(h2);
	sn_graph_free(h);
	/* filter granularity leaves the Linears whole */
	REQUIRE(sn_prune_select(g, SN_GRAN_FILTER, "none", p) == SN_OK);
	h = sn_prune_filters(g, NULL, p, SN_CRIT_L1, SN_SCOPE_LAYER, 0.5f);
	REQUIRE(h);
	CHECK(out_of(h, "c1") == 1 && out_of(h, "fc1") == 12 && out_of(h, "fc2") == 9);   /* round(1.5) of 3 */
	sn_graph_free(h);
	sn_graph_free(g);
}

/* ---------------------------------------------------------------- blocks */

static size_t zero_blocks(const sn_tensor *t, int block, int *whole)
{
	const size_t rows = (size_t)t->dims[0], cols = t->n / rows;
	size_t z = 0;
	for (size_t r0 = 0; r0 < rows; r0 += (size_t)block)
		for (size_t c = 0; c < cols; c++) {
			size_t n = 0, zeros = 0, masked = 0;
			for (size_t r = r0; r < rows && r < r0 + (size_t)block; r++, n++) {
				zeros += t->data[r * cols + c] == 0.0f;
				masked += t->mask && !t->mask[r * cols + c];
			}
			if (masked && masked != n) *whole = 0;   /* a block is masked whole or not at all */
			if (masked && zeros != n) *whole = 0;
			z += zeros == n;
		}
	return z;
}

static const char *block_arch =
	"input   x    shape=1x6x6\n"
	"conv    c1   out=8 k=3 pad=1 bias=0\n"
	"relu    r1\n"
	"conv    c2   out=6 k=3 stride=2 pad=1\n"   /* 6 rows: blocks of 4 and a tail of 2 */
	"relu    r2\n"
	"flatten f\n"
	"linear  fc1  out=10\n"                    /* 10 rows: 4, 4 and a tail of 2 */
	"relu    r3\n"
	"linear  fc2  out=10\n";

TEST(prune_gran_block_exact_and_whole)
{
	sn_graph *g = sn_test_net(block_arch, 4), *g0 = sn_graph_clone(g);
	REQUIRE(g && g0);
	unsigned char p[16];
	REQUIRE(sn_prune_select(g, SN_GRAN_BLOCK, "none", p) == SN_OK);
	const char *names[] = {"c1.weight", "c2.weight", "fc1.weight", "fc2.weight"};
	const size_t units[] = {2 * 9, 2 * 72, 3 * 54, 3 * 10};   /* ceil(Cout / 4) * columns */
	/* per layer: round(0.6 * blocks) of each tensor, whole, the rest untouched */
	REQUIRE(sn_prune_blocks(g, p, 4, SN_CRIT_L1, SN_SCOPE_LAYER, 0.6f) == SN_OK);
	for (int k = 0; k < 4; k++) {
		sn_tensor *t = sn_test_tensor(g, names[k]), *t0 = sn_test_tensor(g0, names[k]);
		int whole = 1, untouched = 1;
		size_t z = zero_blocks(t, 4, &whole);
		for (size_t i = 0; i < t->n; i++) untouched &= t->mask[i] ? t->data[i] == t0->data[i] : 1;
		CHECKF(z == (size_t)llround(0.6 * units[k]) && whole && untouched, "%s: %zu zero blocks of %zu, whole %d, untouched %d",
		       names[k], z, units[k], whole, untouched);
	}
	size_t done, total;
	CHECK_NEAR(sn_prune_block_sparsity(g, p, 4, &done, &total), (double)done / total, 0);
	CHECK(total == 18 + 144 + 162 + 30 && done == 11 + 86 + 97 + 18);
	/* the pruned blocks are the weakest of their layer: the tail block's norm counts its 2 rows */
	sn_tensor *t = sn_test_tensor(g, "fc1.weight"), *t0 = sn_test_tensor(g0, "fc1.weight");
	double weakest_kept = 1e30, strongest_gone = 0;
	for (int r0 = 0; r0 < 10; r0 += 4)
		for (int c = 0; c < 54; c++) {
			double s = 0;
			for (int r = r0; r < 10 && r < r0 + 4; r++) s += fabsf(t0->data[r * 54 + c]);
			if (t->mask[r0 * 54 + c]) weakest_kept = fmin(weakest_kept, s);
			else strongest_gone = fmax(strongest_gone, s);
		}
	CHECK(strongest_gone > 0 && strongest_gone <= weakest_kept);
	/* masks only grow: a lower target revives nothing, a higher one adds whole blocks */
	REQUIRE(sn_prune_blocks(g, p, 4, SN_CRIT_L2, SN_SCOPE_GLOBAL, 0.3f) == SN_OK);
	CHECK(sn_prune_block_sparsity(g, p, 4, &done, NULL) > 0.59 && done == 11 + 86 + 97 + 18);
	REQUIRE(sn_prune_blocks(g, p, 4, SN_CRIT_L2, SN_SCOPE_GLOBAL, 0.8f) == SN_OK);
	sn_prune_block_sparsity(g, p, 4, &done, &total);
	CHECK(done == (size_t)llround(0.8 * total));
	int whole = 1;
	for (int k = 0; k < 4; k++) zero_blocks(sn_test_tensor(g, names[k]), 4, &whole);
	CHECK(whole);
	/* block 1 is single weights: the same masks as sn_prune_weights */
	sn_graph *a = sn_graph_clone(g0), *b = sn_graph_clone(g0);
	REQUIRE(a && b);
	REQUIRE(sn_prune_weights(a, p, SN_SCOPE_GLOBAL, 0.7f) == SN_OK);
	REQUIRE(sn_prune_blocks(b, p, 1, SN_CRIT_L2, SN_SCOPE_GLOBAL, 0.7f) == SN_OK);
	for (int k = 0; k < 4; k++) CHECK(!memcmp(sn_test_tensor(a, names[k])->mask, sn_test_tensor(b, names[k])->mask, sn_test_tensor(a, names[k])->n));
	CHECK_NEAR(sn_prune_block_sparsity(a, p, 1, NULL, NULL), sn_prune_sparsity(a, NULL, SN_GRAN_WEIGHT, p, NULL, NULL), 0);
	sn_graph_free(a);
	sn_graph_free(b);
	sn_graph_free(g);
	sn_graph_free(g0);
}

/* Global block pruning of the baseline CNN's conv2 and fc1 together: exact over both. */
TEST(prune_gran_block_global_cnn)
{
	sn_graph *g = sn_arch_load("models/cnn.arch");
	REQUIRE(g);
	sn_graph_init_params(g, 5);
	unsigned char p[32];
	REQUIRE(sn_prune_select(g, SN_GRAN_BLOCK, NULL, p) == SN_OK);
	REQUIRE(sn_prune_blocks(g, p, 4, SN_CRIT_L1, SN_SCOPE_GLOBAL, 0.9f) == SN_OK);
	size_t done, total;
	sn_prune_block_sparsity(g, p, 4, &done, &total);
	CHECK(total == 16 * 288 + 64 * 3136 && done == (size_t)llround(0.9 * total));
	int whole = 1;
	zero_blocks(sn_test_tensor(g, "conv2.weight"), 4, &whole);
	zero_blocks(sn_test_tensor(g, "fc1.weight"), 4, &whole);
	CHECK(whole && !sn_test_tensor(g, "conv1.weight")->mask && !sn_test_tensor(g, "fc2.weight")->mask);
	sn_graph_free(g);
}

/* ---------------------------------------------------------------- taylor */

/* One Linear 2 -> 2 without bias on two one-image batches: dL/dW[o][i] = (p_o - y_o) x_i. */
TEST(prune_gran_taylor_by_hand)
{
	sn_graph *g = sn_test_net("input x shape=2x1x1\nflatten f\nlinear fc out=2 bias=0\n", 1);
	REQUIRE(g);
	sn_tensor *w = sn_test_tensor(g, "fc.weight");
	const float W[4] = {0.5f, -2.0f, 0.1f, 3.0f};
	memcpy(w->data, W, sizeof W);
	uint8_t images[4] = {3, 1, 3, 0};
	int32_t labels[2] = {0, 1};
	/* std 1/255, mean 0: the network sees the bytes themselves */
	sn_dataset d = {.n = 2, .c = 2, .h = 1, .w = 1, .images = images, .labels = labels, .classes = 2,
	                .norm = {.c = 1, .mean = {0}, .std = {1.0f / 255}}};
	REQUIRE(sn_prune_taylor(g, &d, 2, 1, 7) == SN_OK);
	double want[4] = {0};
	for (int s = 0; s < 2; s++) {
		const double x0 = images[2 * s], x1 = images[2 * s + 1];
		double z0 = W[0] * x0 + W[1] * x1, z1 = W[2] * x0 + W[3] * x1;
		double p0 = 1 / (1 + exp(z1 - z0)), p[2] = {p0, 1 - p0};
		for (int o = 0; o < 2; o++) {
			double e = p[o] - (labels[s] == o);
			want[o * 2 + 0] += fabs(W[o * 2 + 0] * e * x0) / 2;
			want[o * 2 + 1] += fabs(W[o * 2 + 1] * e * x1) / 2;
		}
	}
	for (int i = 0; i < 4; i++)
		CHECKF(fabs(fabs(W[i]) * w->grad[i] - want[i]) <= 1e-6 * fmax(1, want[i]), "weight %d: |w g| = %g, by hand %g", i,
		       fabs(W[i]) * w->grad[i], want[i]);
	/* the order by hand: */
	int order[4] = {0, 1, 2, 3};
	for (int a = 0; a < 4; a++)
		for (int b = a + 1; b < 4; b++)
			if (want[order[b]] < want[order[a]]) { int t = order[a]; order[a] = order[b]; order[b] = t; }
	unsigned char p[3] = {0, 0, 1};
	REQUIRE(sn_prune_blocks(g, p, 1, SN_CRIT_TAYLOR, SN_SCOPE_LAYER, 0.5f) == SN_OK);
	CHECK(!w->mask[order[0]] && !w->mask[order[1]] && w->mask[order[2]] && w->mask[order[3]]);
	/* magnitude would have kept the two largest |w| (indices 1 and 3): taylor differs here */
	CHECK(!(w->mask[1] && w->mask[3]));
	/* the same seed, the same scores; the weights are not changed by scoring */
	sn_graph *h = sn_test_net("input x shape=2x1x1\nflatten f\nlinear fc out=2 bias=0\n", 1);
	REQUIRE(h);
	memcpy(sn_test_tensor(h, "fc.weight")->data, W, sizeof W);
	REQUIRE(sn_prune_taylor(h, &d, 2, 1, 7) == SN_OK);
	CHECK(!memcmp(sn_test_tensor(h, "fc.weight")->data, W, sizeof W));
	sn_graph_free(h);
	sn_graph_free(g);
}

/* Scoring runs in training mode but changes nothing: BN statistics and weights stay, the same
 * seed gives the same scores, another seed other batches. */
TEST(prune_gran_taylor_deterministic_and_harmless)
{
	sn_dataset *tr, *te;
	REQUIRE(sn_test_fmnist(200, &tr, &te) == 0);
	sn_graph *g = sn_arch_load("models/cnn.arch");
	REQUIRE(g);
	sn_graph_init_params(g, 6);
	sn_graph *g0 = sn_graph_clone(g);
	REQUIRE(g0);
	REQUIRE(sn_prune_taylor(g, tr, 3, 16, 1) == SN_OK);
	CHECK(!memcmp(g->w, g0->w, g->n_w * sizeof *g->w) && !memcmp(g->buf, g0->buf, g->n_buf * sizeof *g->buf));
	float *s1 = malloc(g->n_w * sizeof *s1);
	memcpy(s1, g->gw, g->n_w * sizeof *s1);
	REQUIRE(sn_prune_taylor(g, tr, 3, 16, 1) == SN_OK);
	CHECK(!memcmp(s1, g->gw, g->n_w * sizeof *s1));
	REQUIRE(sn_prune_taylor(g, tr, 3, 16, 2) == SN_OK);
	CHECK(memcmp(s1, g->gw, g->n_w * sizeof *s1) != 0);
	size_t nonzero = 0;
	for (size_t i = 0; i < g->n_w; i++) nonzero += s1[i] > 0;
	CHECK(nonzero > g->n_w / 2);
	/* bad input: clear errors */
	CHECK(sn_prune_taylor(g, tr, 0, 16, 1) == SN_EINVAL && strstr(sn_errmsg(), "at least one batch"));
	sn_dataset small = *tr;
	small.h = 14;
	CHECK(sn_prune_taylor(g, &small, 1, 16, 1) == SN_ESHAPE);
	free(s1);
	sn_graph_free(g0);
	sn_graph_free(g);
}

/* Taylor per neuron is the sum of |w| |g| over its row; global scope divides each layer's scores
 * by their L2 norm, so a layer whose scores are all 1000x larger loses as many as the other. */
TEST(prune_gran_taylor_neurons_and_normalisation)
{
	sn_graph *g = sn_test_net("input x shape=4x1x1\nflatten f\nlinear a out=6\nrelu r\nlinear b out=6\nrelu r2\n"
	                    "linear c out=3\n", 1);
	REQUIRE(g);
	sn_tensor *wa = sn_test_tensor(g, "a.weight"), *wb = sn_test_tensor(g, "b.weight");
	for (int o = 0; o < 6; o++)
		for (int i = 0; i < 4; i++) {
			wa->data[o * 4 + i] = 10.0f - o;                 /* magnitude: row 5 weakest */
			wa->grad[o * 4 + i] = 0.01f * (float)((o * 5 + 2) % 6);   /* taylor: rows by (o * 5 + 2) % 6 */
		}
	for (size_t k = 0; k < wb->n; k++) {
		int o = (int)(k / 6);
		wb->data[k] = 1.0f;
		wb->grad[k] = 1000.0f * (float)(1 + o);           /* 1000x larger scores, row 0 weakest */
	}
	unsigned char p[8];
	REQUIRE(sn_prune_select(g, SN_GRAN_NEURON, NULL, p) == SN_OK);
	sn_chg *d = sn_chg_build(g, p);
	REQUIRE(d);
	double imp[64];
	REQUIRE(d->n_class <= 64);
	sn_chg_importance(d, SN_CRIT_TAYLOR, imp);
	int a = sn_graph_find(g, "a");
	for (int o = 0; o < 6; o++)
		CHECK_NEAR(imp[sn_chg_class(d, a, o)], 4 * (10.0 - o) * 0.01 * ((o * 5 + 2) % 6), 1e-5);
	sn_chg_free(d);
	/* layer scope, a third: the two lowest of 0.8 0.36 0 1.4 0.96 0.6 (rows 2 and 1) go, not the
	 * smallest weights (row 5) */
	sn_graph *h = sn_prune_filters(g, NULL, p, SN_CRIT_TAYLOR, SN_SCOPE_LAYER, 1.0f / 3);
	REQUIRE(h);
	sn_tensor *ha = sn_test_tensor(h, "a.weight");
	CHECK(ha->dims[0] == 4 && ha->data[0] == 10 && ha->data[4] == 7 && ha->data[8] == 6 && ha->data[12] == 5);
	sn_graph_free(h);
	/* global scope, half of the 12: normalised, each layer loses 3 (unnormalised, a would lose 5) */
	h = sn_prune_filters(g, NULL, p, SN_CRIT_TAYLOR, SN_SCOPE_GLOBAL, 0.5f);
	REQUIRE(h);
	CHECK(out_of(h, "a") == 3 && out_of(h, "b") == 3);
	sn_graph_free(h);
	/* by the L2 norm, not the mean: a = 0.5 0.8 1 1.2 1.5 2 against a flat b; a third of the 12
	 * go. Over the L2 norms a's four lowest rank below b's (0.40 0.63 0.79 0.95 against 1 after
	 * scaling); over the means only three would (0.43 0.69 0.86 1.03) */
	const float as[6] = {0.5f, 0.8f, 1.0f, 1.2f, 1.5f, 2.0f};
	for (int k = 0; k < 24; k++) { wa->data[k] = 1; wa->grad[k] = as[k / 4] / 4; }
	for (int k = 0; k < 36; k++) { wb->data[k] = 1; wb->grad[k] = 1.0f / 6; }
	h = sn_prune_filters(g, NULL, p, SN_CRIT_TAYLOR, SN_SCOPE_GLOBAL, 1.0f / 3);
	REQUIRE(h);
	CHECK(out_of(h, "a") == 2 && out_of(h, "b") == 6);
	sn_graph_free(h);
	for (int k = 0; k < 24; k++) { wa->data[k] = 10.0f - k / 4; wa->grad[k] = 0.01f * (float)((k / 4 * 5 + 2) % 6); }
	for (int k = 0; k < 36; k++) wb->grad[k] = 1000.0f * (float)(1 + k / 6);
	/* masked taylor, global: the same normalisation per tensor; a loses rows 2, 1 and 5 (12
	 * weights), b rows 0, 1 and 2 (18) -- unnormalised, all of a would go first */
	REQUIRE(sn_prune_select(g, SN_GRAN_WEIGHT, "c", p) == SN_OK);
	REQUIRE(sn_prune_blocks(g, p, 1, SN_CRIT_TAYLOR, SN_SCOPE_GLOBAL, 0.5f) == SN_OK);
	size_t za = 0, zb = 0;
	for (size_t k = 0; k < 24; k++) za += !wa->mask[k];
	for (size_t k = 0; k < 36; k++) zb += !wb->mask[k];
	CHECKF(za == 12 && zb == 18, "a lost %zu of 24, b %zu of 36", za, zb);
	sn_graph_free(g);
}

/* ---------------------------------------------------------------- through fine-tuning */

static const char *tiny_arch =
	"input   x    shape=1x28x28\n"
	"conv    c1   out=4 k=3 stride=2 pad=1 bias=0\n"
	"bn      bn1\n"
	"relu    r1\n"
	"conv    c2   out=8 k=3 stride=2 pad=1\n"
	"relu    r2\n"
	"flatten f\n"
	"linear  fc1  out=16\n"
	"relu    r3\n"
	"dropout d    p=0.2\n"
	"linear  fc2  out=10\n";

TEST(prune_gran_block_masks_hold_through_training)
{
	sn_dataset *tr, *te;
	REQUIRE(sn_test_fmnist(200, &tr, &te) == 0);
	for (int opt = 0; opt < 2; opt++) {
		sn_graph *g = sn_test_net(tiny_arch, 2);
		REQUIRE(g);
		unsigned char p[16];
		REQUIRE(sn_prune_select(g, SN_GRAN_BLOCK, "none", p) == SN_OK);
		REQUIRE(sn_prune_taylor(g, tr, 2, 32, 3) == SN_OK);
		REQUIRE(sn_prune_blocks(g, p, 4, SN_CRIT_TAYLOR, SN_SCOPE_GLOBAL, 0.7f) == SN_OK);
		size_t before, after;
		sn_prune_block_sparsity(g, p, 4, &before, NULL);
		sn_train_opts o = sn_train_defaults();
		o.optimizer = opt ? SN_OPT_ADAM : SN_OPT_SGD;
		o.lr = opt ? 0.01f : 0.1f;
		o.epochs = 2;
		o.batch = 32;
		o.progress = 0;
		sn_test_mute();
		int rc = sn_train(g, tr, te, &o, NULL, NULL);
		sn_test_unmute();
		REQUIRE(rc == SN_OK);
		sn_prune_block_sparsity(g, p, 4, &after, NULL);
		int whole = 1;
		const char *names[] = {"c1.weight", "c2.weight", "fc1.weight", "fc2.weight"};
		for (int k = 0; k < 4; k++) zero_blocks(sn_test_tensor(g, names[k]), 4, &whole);
		CHECKF(after == before && whole, "%s: %zu zero blocks before training, %zu after", opt ? "adam" : "sgd", before, after);
		sn_graph_free(g);
	}
}


/* The loop with the new granularities: blocks (gradual rounds, taylor), neurons (removed). */
TEST(prune_gran_run_blocks_and_neurons)
{
	sn_dataset *tr, *te;
	REQUIRE(sn_test_fmnist(200, &tr, &te) == 0);
	sn_graph *g = sn_test_net(tiny_arch, 3);
	REQUIRE(g);
	sn_prune_opts o = sn_prune_defaults();
	o.granularity = SN_GRAN_BLOCK;
	o.criterion = SN_CRIT_TAYLOR;
	o.taylor_batches = 2;
	o.target = 0.75f;
	o.steps = 2;
	o.ignore = "none";
	o.train.batch = 32;
	o.train.progress = 0;
	sn_meta meta = {.test_accuracy = -1};
	sn_test_steps r = {0};
	sn_graph *h = sn_graph_clone(g);
	sn_test_mute();
	int rc = sn_prune_run(&h, tr, te, &o, &meta, sn_test_collect_steps, &r);
	sn_test_unmute();
	REQUIRE(rc == SN_OK || !fprintf(stderr, "  %s\n", sn_errmsg()));
	CHECK(r.n == 3 && r.rows[2].step == 2);
	CHECK_NEAR(r.rows[2].sparsity, 0.75, 2e-3);
	unsigned char p[16];
	sn_prune_select(h, SN_GRAN_BLOCK, "none", p);
	int whole = 1;
	const char *names[] = {"c1.weight", "c2.weight", "fc1.weight", "fc2.weight"};
	for (int k = 0; k < 4; k++) zero_blocks(sn_test_tensor(h, names[k]), 4, &whole);
	CHECK(whole && fabs(sn_prune_block_sparsity(h, p, 4, NULL, NULL) - r.rows[2].sparsity) < 1e-6);
	sn_graph_free(h);

	/* neurons: fc1 loses half of its 16 in two rounds (fc2, the classifier, stays) */
	o = sn_prune_defaults();
	o.granularity = SN_GRAN_NEURON;
	o.scope = SN_SCOPE_LAYER;
	o.criterion = SN_CRIT_TAYLOR;
	o.taylor_batches = 2;
	o.target = 0.5f;
	o.steps = 2;
	o.finetune_epochs = 1;
	o.train.batch = 32;
	o.train.progress = 0;
	r.n = 0;
	h = sn_graph_clone(g);
	sn_test_mute();
	rc = sn_prune_run(&h, tr, te, &o, &meta, sn_test_collect_steps, &r);
	sn_test_unmute();
	REQUIRE(rc == SN_OK || !fprintf(stderr, "  %s\n", sn_errmsg()));
	CHECK(out_of(h, "fc1") == 8 && out_of(h, "fc2") == 10 && out_of(h, "c2") == 8);
	CHECK_NEAR(r.rows[2].sparsity, 0.5, 1e-9);
	CHECK(r.rows[2].params == r.rows[0].params - 8 * (392 + 1 + 10));
	sn_graph_free(h);

	/* bad options: clear errors, the model untouched */
	o.granularity = SN_GRAN_BLOCK;
	o.block = 0;
	h = g;
	CHECK(sn_prune_run(&h, tr, te, &o, &meta, NULL, NULL) == SN_EINVAL && strstr(sn_errmsg(), "block") && h == g);
	o.block = 4;
	o.criterion = SN_CRIT_BN;
	CHECK(sn_prune_run(&h, tr, te, &o, &meta, NULL, NULL) == SN_EINVAL && strstr(sn_errmsg(), "bn criterion"));
	o.criterion = SN_CRIT_TAYLOR;
	o.taylor_batches = 0;
	CHECK(sn_prune_run(&h, tr, te, &o, &meta, NULL, NULL) == SN_EINVAL && strstr(sn_errmsg(), "taylor"));
	unsigned char q[16];
	sn_prune_select(g, SN_GRAN_BLOCK, "none", q);
	CHECK(sn_prune_blocks(g, q, 0, SN_CRIT_L1, SN_SCOPE_LAYER, 0.5f) == SN_EINVAL);
	CHECK(sn_prune_blocks(g, q, 4, SN_CRIT_BN, SN_SCOPE_LAYER, 0.5f) == SN_EINVAL);
	CHECK(sn_prune_blocks(g, q, 4, SN_CRIT_L1, SN_SCOPE_LAYER, 1.5f) == SN_EINVAL);
	CHECK(!sn_test_tensor(g, "fc1.weight")->mask);
	sn_graph_free(g);
}
