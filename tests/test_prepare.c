/* Preparing for inference: BatchNorm folded, ReLU/ReLU6 fused and Dropout removed leave the
 * zoo models' outputs unchanged; pruned convs stay pruned; the chains that may not fuse stay
 * apart; prepared models write, save and load; act= in architecture text round-trips. */
#include <stdlib.h>
#include "test.h"
#include "slimnn.h"

#define BATCH 3

static sn_tensor *tensor(sn_graph *g, const char *name)
{
	int k = sn_tensor_find(g, name);
	return k < 0 ? NULL : &g->tensor[k];
}

static int count_op(const sn_graph *g, sn_op op)
{
	int k = 0;
	for (int i = 0; i < g->n_node; i++) k += g->node[i].op == op;
	return k;
}

/* Random weights (PyTorch's init) and BatchNorm statistics far from the identity, so that a
 * wrong fold shows: gamma in [0.5, 1.5], beta and mean in [-0.5, 0.5], var in [0.3, 2.3]. */
static void randomise(sn_graph *g, uint64_t seed)
{
	sn_graph_init_params(g, seed);
	sn_rng r;
	sn_rng_seed(&r, seed + 1);
	for (int i = 0; i < g->n_node; i++) {
		const sn_node *n = &g->node[i];
		if (n->op != SN_OP_BN) continue;
		const float lo[4] = {0.5f, -0.5f, -0.5f, 0.3f}, span[4] = {1, 1, 1, 2};
		for (int s = 0; s < 4; s++) {
			sn_tensor *t = &g->tensor[n->t[s]];
			for (size_t k = 0; k < t->n; k++) t->data[k] = lo[s] + span[s] * sn_rng_uniform(&r);
		}
	}
}

static sn_graph *zoo(const char *name, uint64_t seed)
{
	sn_graph *g = sn_test_zoo(name, seed);
	if (g) randomise(g, seed);
	return g;
}

static float *input(const sn_graph *g, uint64_t seed)
{
	size_t n = BATCH * sn_shape_numel(sn_graph_input_shape(g));
	float *x = malloc(n * sizeof *x);
	sn_rng r;
	sn_rng_seed(&r, seed);
	for (size_t i = 0; i < n; i++) x[i] = 2 * sn_rng_uniform(&r) - 1;
	return x;
}

/* The logits of a batch in inference mode (a copy the caller frees), NULL on failure. */
static float *logits(sn_graph *g, const float *x)
{
	if (sn_graph_plan(g, BATCH, 0)) { fprintf(stderr, "  plan: %s\n", sn_errmsg()); return NULL; }
	size_t n = BATCH * sn_shape_numel(sn_graph_output_shape(g));
	float *y = malloc(n * sizeof *y);
	memcpy(y, sn_graph_forward(g, x, BATCH), n * sizeof *y);
	return y;
}

/* Prepares g and checks the outputs agree within 1e-5 relative; returns the prepared graph. */
static sn_graph *prepare_same(sn_graph *g, const sn_prepare_opts *o, sn_prepare_report *r, const char *what)
{
	sn_graph *h = sn_prepare_inference(g, o, r);
	if (!h) { fprintf(stderr, "  %s: %s\n", what, sn_errmsg()); sn_test_failed_now = 1; return NULL; }
	float *x = input(g, 11), *a = logits(g, x), *b = logits(h, x);
	size_t n = BATCH * sn_shape_numel(sn_graph_output_shape(g));
	double err = a && b ? sn_test_maxrel(b, a, n) : INFINITY;
	CHECKF(err <= 1e-5, "%s: prepared outputs differ by %g (relative)", what, err);
	CHECK(sn_graph_output_shape(h).c == sn_graph_output_shape(g).c);
	free(x); free(a); free(b);
	return h;
}

TEST(prepare_zoo_outputs_unchanged)
{
	const char *models[] = {"cnn", "cnn-dsc", "resnet", "mobilenetv2", "inception"};
	for (int m = 0; m < 5; m++) {
		sn_graph *g = zoo(models[m], 5 + m);
		REQUIRE(g);
		sn_prepare_report r;
		sn_graph *h = prepare_same(g, NULL, &r, models[m]);
		REQUIRE(h);
		/* in the zoo every BatchNorm reads a conv of its own: all fold */
		CHECKF(r.folded_bn == count_op(g, SN_OP_BN) && count_op(h, SN_OP_BN) == 0, "%s: %d of %d BN folded",
		       models[m], r.folded_bn, count_op(g, SN_OP_BN));
		CHECK(r.removed_dropout == count_op(g, SN_OP_DROPOUT) && count_op(h, SN_OP_DROPOUT) == 0);
		int acts = count_op(g, SN_OP_RELU) + count_op(g, SN_OP_RELU6), acts_h = count_op(h, SN_OP_RELU) + count_op(h, SN_OP_RELU6);
		CHECKF(r.fused_act > 0 && acts_h == acts - r.fused_act, "%s: %d fused, %d -> %d activations", models[m],
		       r.fused_act, acts, acts_h);
		CHECK(r.nodes_before == g->n_node && r.nodes_after == h->n_node);
		CHECK(h->n_node == g->n_node - r.folded_bn - r.fused_act - r.removed_dropout);
		sn_graph_free(g); sn_graph_free(h);
	}
}

TEST(prepare_cnn_exact_structure)
{
	sn_graph *g = zoo("cnn", 2);
	REQUIRE(g);
	sn_prepare_report r;
	sn_graph *h = prepare_same(g, NULL, &r, "cnn");
	REQUIRE(h);
	CHECK(r.folded_bn == 2 && r.fused_act == 2 && r.removed_dropout == 1);
	CHECK(r.nodes_before == 14 && r.nodes_after == 9);
	/* relu3 reads a Linear: it stays */
	CHECK(sn_graph_find(h, "relu3") >= 0 && sn_graph_find(h, "relu1") < 0 && sn_graph_find(h, "bn2") < 0);
	const sn_node *c1 = &h->node[sn_graph_find(h, "conv1")];
	CHECK(c1->a.conv.bias == 1 && c1->a.conv.act == SN_FUSE_RELU);
	CHECK(h->node[sn_graph_find(h, "pool1")].in[0] == sn_graph_find(h, "conv1"));
	/* 824,554 parameters less the BNs' 2 x (32 + 64), plus the convs' new biases (32 + 64) */
	CHECK(sn_graph_count(h, SN_TENSOR_PARAM, 0) == 824554 - 192 + 96);
	CHECK(sn_graph_count(h, SN_TENSOR_BUFFER, 0) == 0);
	sn_summary s;
	REQUIRE(sn_summarize(h, -1, &s) == SN_OK);
	CHECK(s.n_rows == 8 && !strcmp(s.rows[0].label, "Conv2d-1") && !strcmp(s.rows[0].kernel, "3x3"));
	CHECK(s.rows[0].params == 32 * 9 + 32 && s.rows[0].macs == (32 * 9 + 32) * 28 * 28);
	sn_summary_free(&s);
	/* W' = W gamma / sqrt(var + eps), b' = beta - mean gamma / sqrt(var + eps) (conv1 had no bias) */
	sn_tensor *w = tensor(g, "conv1.weight"), *gam = tensor(g, "bn1.weight"), *bet = tensor(g, "bn1.bias");
	sn_tensor *mu = tensor(g, "bn1.running_mean"), *var = tensor(g, "bn1.running_var");
	double s7 = gam->data[7] / sqrt(var->data[7] + 1e-5);
	CHECK_NEAR(tensor(h, "conv1.weight")->data[7 * 9 + 4], w->data[7 * 9 + 4] * s7, 1e-6);
	CHECK_NEAR(tensor(h, "conv1.bias")->data[7], bet->data[7] - mu->data[7] * s7, 1e-6);
	/* the source graph is untouched */
	CHECK(g->n_node == 14 && !g->node[1].a.conv.bias && g->node[1].a.conv.act == SN_FUSE_NONE);
	char *text = sn_arch_write(h);
	REQUIRE(text);
	CHECKF(strstr(text, "conv    conv1   out=32 k=3 pad=1 act=relu\n") != NULL, "%s", text);
	free(text);
	sn_graph_free(g); sn_graph_free(h);
}

TEST(prepare_pruned_conv_stays_pruned)
{
	sn_graph *g = zoo("mobilenetv2", 4);
	REQUIRE(g);
	unsigned char *p = calloc(g->n_node, 1);
	REQUIRE(sn_prune_select(g, SN_GRAN_WEIGHT, "none", p) == SN_OK);
	REQUIRE(sn_prune_weights(g, p, SN_SCOPE_LAYER, 0.6f) == SN_OK);
	sn_prepare_report r;
	sn_graph *h = prepare_same(g, NULL, &r, "pruned mobilenetv2");
	REQUIRE(h);
	/* the sparse kernels run where the AUTO rule wants them (their own tests check the rule) */
	int eligible = 0, sparse = 0;
	for (int i = 0; i < h->n_node; i++) {
		const sn_node *n = &h->node[i];
		const sn_conv_attr *a = &n->a.conv;
		eligible += n->op == SN_OP_LINEAR || (n->op == SN_OP_CONV && a->kh == 1 && a->kw == 1 && a->groups == 1);
		sparse += n->impl == SN_IMPL_SPARSE;
	}
	CHECKF(eligible > 10 && r.sparse_layers > 0 && r.sparse_layers == sparse, "%d sparse layers (%d marked) of %d eligible",
	       r.sparse_layers, sparse, eligible);
	int convs = 0;
	for (int i = 0; i < g->n_tensor; i++) {
		const sn_tensor *t = &g->tensor[i];
		if (!t->mask || g->node[t->node].op != SN_OP_CONV) continue;
		sn_tensor *u = tensor(h, t->name);
		REQUIRE(u && u->mask && u->n == t->n);
		CHECKF(!memcmp(u->mask, t->mask, t->n), "%s: mask changed", t->name);
		size_t wrong = 0;
		for (size_t k = 0; k < t->n; k++) wrong += !t->mask[k] && u->data[k] != 0.0f;
		CHECKF(wrong == 0, "%s: %zu pruned weights became non-zero", t->name, wrong);
		convs++;
	}
	CHECK(convs > 10);
	sn_graph_free(h);
	sn_prepare_opts o = sn_prepare_defaults();
	o.sparse = SN_SPARSE_FORCE;
	h = prepare_same(g, &o, &r, "pruned mobilenetv2, sparse forced");
	CHECK(h && r.sparse_layers == eligible);
	sn_graph_free(h);
	o.sparse = SN_SPARSE_OFF;
	h = prepare_same(g, &o, &r, "pruned mobilenetv2, dense kernels");
	CHECK(h && r.sparse_layers == 0);
	free(p);
	sn_graph_free(g); sn_graph_free(h);
}

/* A conv read twice, a BN after a fused conv, a Dropout that ends the graph off the main path,
 * and options turned off: each stays apart, outputs unchanged. */
TEST(prepare_leaves_what_may_not_fuse)
{
	const char *text =
		"input x shape=2x6x6\n"
		"conv c1 out=4 k=3 pad=1\n"
		"bn b1\n"                        /* c1 also feeds the add: no fold */
		"add s in=b1,c1\n"
		"conv c2 out=4 k=1 act=relu6\n"  /* already fused: the BN after it may not fold */
		"bn b2\n"
		"relu r2\n"
		"gap p\n"
		"flatten f\n"
		"linear fa out=3 in=f\n"
		"linear fb out=3 in=f\n"
		"dropout d in=fa\n";             /* the output, but its input is not the last layer */
	sn_graph *g = sn_arch_parse(text, "t.arch");
	REQUIRE(g);
	randomise(g, 9);
	sn_prepare_report r;
	sn_graph *h = prepare_same(g, NULL, &r, "unfusable");
	REQUIRE(h);
	CHECK(r.folded_bn == 0 && r.fused_act == 0 && r.removed_dropout == 0 && h->n_node == g->n_node);
	CHECK(sn_graph_find(h, "d") == h->n_node - 1);
	sn_graph_free(h);
	sn_graph_free(g);

	g = zoo("cnn", 3);
	REQUIRE(g);
	sn_prepare_opts o = sn_prepare_defaults();
	o.fold_bn = 0;     /* the BN stays, so the ReLU after it does not reach the conv either */
	h = prepare_same(g, &o, &r, "cnn without folding");
	REQUIRE(h);
	CHECK(r.folded_bn == 0 && r.fused_act == 0 && r.removed_dropout == 1 && count_op(h, SN_OP_BN) == 2);
	sn_graph_free(h);
	o = sn_prepare_defaults();
	o.fuse_act = o.remove_dropout = 0;
	h = prepare_same(g, &o, &r, "cnn folding only");
	REQUIRE(h);
	CHECK(r.folded_bn == 2 && r.fused_act == 0 && r.removed_dropout == 0 && h->n_node == 12);
	sn_graph_free(h);
	sn_graph_free(g);
}

TEST(prepare_twice_changes_nothing)
{
	sn_graph *g = zoo("resnet", 6);
	REQUIRE(g);
	sn_graph *h = sn_prepare_inference(g, NULL, NULL);
	REQUIRE(h);
	sn_prepare_report r;
	sn_graph *h2 = prepare_same(h, NULL, &r, "prepared resnet");
	REQUIRE(h2);
	CHECK(r.folded_bn == 0 && r.fused_act == 0 && r.removed_dropout == 0 && h2->n_node == h->n_node);
	char *a = sn_arch_write(h), *b = sn_arch_write(h2);
	CHECK(a && b && !strcmp(a, b));
	free(a); free(b);
	sn_graph_free(g); sn_graph_free(h); sn_graph_free(h2);
}

TEST(prepare_saves_and_loads)
{
	sn_graph *g = zoo("cnn-dsc", 8);
	REQUIRE(g);
	unsigned char *p = calloc(g->n_node, 1);
	REQUIRE(sn_prune_select(g, SN_GRAN_WEIGHT, NULL, p) == SN_OK);
	REQUIRE(sn_prune_weights(g, p, SN_SCOPE_LAYER, 0.5f) == SN_OK);
	sn_prepare_opts o = sn_prepare_defaults();
	o.sparse = SN_SPARSE_OFF;    /* the same kernels on both sides: bit-identical outputs */
	sn_graph *h = sn_prepare_inference(g, &o, NULL);
	REQUIRE(h);
	char path[512];
	snprintf(path, sizeof path, "%s/prepared.slim", sn_test_tmpdir());
	REQUIRE(sn_model_save(h, NULL, NULL, path) == SN_OK);
	sn_graph *l = sn_load_any(path, NULL);
	REQUIRE(l);
	char *a = sn_arch_write(h), *b = sn_arch_write(l);
	CHECK(a && b && !strcmp(a, b) && strstr(a, "act=relu"));
	float *x = input(h, 3), *ya = logits(h, x), *yb = logits(l, x);
	REQUIRE(ya && yb);
	CHECK(!memcmp(ya, yb, BATCH * 10 * sizeof *ya));
	const sn_tensor *m = tensor(h, "conv2_pw.weight"), *ml = tensor(l, "conv2_pw.weight");
	CHECK(m && ml && m->mask && ml->mask && !memcmp(m->mask, ml->mask, m->n));
	free(a); free(b); free(x); free(ya); free(yb); free(p);
	sn_graph_free(g); sn_graph_free(h); sn_graph_free(l);
}

TEST(prepare_bad_input)
{
	CHECK(sn_prepare_inference(NULL, NULL, NULL) == NULL && strstr(sn_errmsg(), "no model"));
	sn_graph *e = sn_graph_new();
	CHECK(sn_prepare_inference(e, NULL, NULL) == NULL);
	sn_graph_free(e);
	sn_graph *g = zoo("cnn", 1);
	REQUIRE(g);
	sn_prepare_opts o = sn_prepare_defaults();
	o.sparse = (sn_sparse_mode)7;
	CHECK(sn_prepare_inference(g, &o, NULL) == NULL && strstr(sn_errmsg(), "unknown sparse mode 7"));
	/* forced, the dense cnn's two Linears run sparse (it has no 1x1 conv) */
	o.sparse = SN_SPARSE_FORCE;
	sn_prepare_report r;
	sn_graph *h = prepare_same(g, &o, &r, "cnn, sparse forced");
	CHECK(h && r.sparse_layers == 2 && h->node[sn_graph_find(h, "fc1")].impl == SN_IMPL_SPARSE);
	sn_graph_free(h);
	sn_graph_free(g);
}

TEST(arch_act_roundtrip)
{
	const char *text = "input x shape=3x8x8\nconv a out=4 k=3 act=relu\nconv b out=4 k=1 bias=0 act=relu6\n"
	                   "conv c out=4 k=1 act=none\n";
	sn_graph *g = sn_arch_parse(text, "t.arch");
	REQUIRE(g);
	CHECK(g->node[1].a.conv.act == SN_FUSE_RELU && g->node[2].a.conv.act == SN_FUSE_RELU6 &&
	      g->node[3].a.conv.act == SN_FUSE_NONE);
	char *w = sn_arch_write(g);
	REQUIRE(w);
	CHECKF(strstr(w, "conv  a out=4 k=3 act=relu\n") && strstr(w, "conv  b out=4 k=1 bias=0 act=relu6\n") &&
	       strstr(w, "conv  c out=4 k=1\n"), "%s", w);
	sn_graph *g2 = sn_arch_parse(w, "w.arch");
	REQUIRE(g2);
	char *w2 = sn_arch_write(g2);
	CHECK(w2 && !strcmp(w, w2));
	free(w); free(w2);
	sn_graph_free(g2);
	g->node[1].a.conv.act = 7;
	CHECK(sn_arch_write(g) == NULL && strstr(sn_errmsg(), "unknown fused activation 7"));
	sn_graph_free(g);
	CHECK(sn_arch_parse("input x shape=1x4x4\nconv c out=2 k=3 act=gelu\n", "t.arch") == NULL);
	CHECKF(strstr(sn_errmsg(), "t.arch:2:22: bad value 'gelu' for act=; expected relu, relu6 or none"), "%s", sn_errmsg());
	CHECK(sn_arch_parse("input x shape=1x4x4\nlinear l out=2 act=relu\n", "t.arch") == NULL);
	CHECKF(strstr(sn_errmsg(), "unknown key 'act' for linear"), "%s", sn_errmsg());
}
