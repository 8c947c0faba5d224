/* sn_find_head and sn_replace_head (transfer learning): the classifier of zoo models, of a
 * SqueezeNet-style conv head and of ONNX-imported torchvision models is found and replaced by a
 * fresh K-way layer initialised as PyTorch's nn.Linear / nn.Conv2d; every other tensor is kept bit
 * for bit; the draw depends on the seed alone; models without a classifier get a clear error. */
#include <stdlib.h>
#include "test.h"
#include "slimnn.h"

/* SqueezeNet's classifier: dropout, conv 1x1 -> relu -> global pooling -> flatten */
static const char *SQUEEZE =
	"input x shape=3x16x16\n"
	"conv c1 out=8 k=3 stride=2\nbn bn1\nrelu r1\n"
	"conv e1 out=8 k=1\nrelu er1\n"
	"dropout drop p=0.5\n"
	"conv classifier.1 out=10 k=1\nrelu classifier.2\ngap pool\nflatten flat\n";

static sn_graph *onnx_model(const char *name)
{
	char p[512];
	snprintf(p, sizeof p, "%s/transfer/%s/model.onnx", sn_test_fixtures(), name);
	sn_graph *g = sn_onnx_load(p, NULL);
	if (!g) fprintf(stderr, "  %s\n", sn_errmsg());
	return g;
}

/* Every tensor of g but the head's is in h under the same name with the same values (and masks). */
static int others_kept(const sn_graph *g, const sn_graph *h, const char *head)
{
	int ok = 1;
	for (int i = 0; i < g->n_tensor; i++) {
		const sn_tensor *t = &g->tensor[i];
		if (!strcmp(g->node[t->node].name, head)) continue;
		int k = sn_tensor_find(h, t->name);
		const sn_tensor *u = k >= 0 ? &h->tensor[k] : NULL;
		if (!u || u->n != t->n || u->kind != t->kind || memcmp(u->data, t->data, t->n * sizeof(float)) ||
		    !t->mask != !u->mask || (t->mask && memcmp(t->mask, u->mask, t->n))) {
			fprintf(stderr, "  tensor %s changed\n", t->name);
			ok = 0;
		}
	}
	return ok;
}

/* Weight and bias within +-1/sqrt(fan_in) and spread over that range (not zero, not a constant). */
static int fresh_init(sn_graph *h, const char *head, int classes)
{
	char name[160];
	snprintf(name, sizeof name, "%s.weight", head);
	const sn_tensor *w = sn_test_tensor(h, name);
	snprintf(name, sizeof name, "%s.bias", head);
	const sn_tensor *b = sn_test_tensor(h, name);
	if (!w || !b || w->dims[0] != classes || b->n != (size_t)classes || w->mask || b->mask) return 0;
	const float bound = 1.0f / sqrtf((float)(w->n / (size_t)classes));
	const sn_tensor *ts[2] = {w, b};
	for (int j = 0; j < 2; j++) {
		float lo = 0, hi = 0;
		for (size_t i = 0; i < ts[j]->n; i++) {
			float v = ts[j]->data[i];
			if (!(fabsf(v) <= bound)) return 0;
			lo = fminf(lo, v); hi = fmaxf(hi, v);
		}
		if (ts[j]->n >= 8 && (hi < 0.25f * bound || lo > -0.25f * bound)) return 0;
	}
	return 1;
}

/* Replaces g's head with `classes` outputs and checks everything the pass promises; returns h. */
static sn_graph *check_replace(sn_graph *g, const char *expect_head, int classes)
{
	char head[SN_NAME_MAX] = "", found[SN_NAME_MAX] = "";
	const int k = sn_find_head(g, found, sizeof found);
	CHECKF(k > 0 && !strcmp(found, expect_head), "head '%s', expected '%s' (%s)", found, expect_head,
	       k < 0 ? sn_errmsg() : "");
	sn_graph *h = sn_replace_head(g, classes, 7, head, sizeof head);
	if (!h) { CHECKF(0, "sn_replace_head: %s", sn_errmsg()); return NULL; }
	CHECK(!strcmp(head, expect_head));
	sn_shape out = sn_graph_output_shape(h);
	CHECKF(out.rank == 2 && out.c == classes, "output [N, %d] of rank %d, expected [N, %d]", out.c, out.rank, classes);
	CHECK(h->n_node == g->n_node && h->shapes_locked == g->shapes_locked);
	CHECK(others_kept(g, h, expect_head));
	CHECKF(fresh_init(h, expect_head, classes), "%s: the new weights are not a fresh PyTorch initialisation", expect_head);
	/* deterministic for a seed, another seed draws others */
	sn_graph *h2 = sn_replace_head(g, classes, 7, NULL, 0), *h3 = sn_replace_head(g, classes, 8, NULL, 0);
	CHECK(h2 && h3 && h2->n_w == h->n_w && h3->n_w == h->n_w);
	if (h2 && h3 && h2->n_w == h->n_w && h3->n_w == h->n_w) {
		CHECK(!memcmp(h2->w, h->w, h->n_w * sizeof(float)));
		CHECK(memcmp(h3->w, h->w, h->n_w * sizeof(float)));
	}
	sn_graph_free(h2); sn_graph_free(h3);
	/* and it runs: a batch of 2 gives 2 x classes finite outputs */
	size_t nx = 2 * sn_shape_numel(sn_graph_input_shape(h));
	float *x = malloc(nx * sizeof *x);
	for (size_t i = 0; x && i < nx; i++) x[i] = (float)((i * 37) % 11) / 11 - 0.5f;
	float *y = x ? sn_test_logits(h, x, 2) : NULL;
	CHECK(y != NULL);
	for (int i = 0; y && i < 2 * classes; i++) CHECK(isfinite(y[i]));
	free(x); free(y);
	return h;
}

TEST(head_replace_zoo)
{
	static const struct { const char *model, *head; } cases[] = {
		{"mobilenetv2", "fc"}, {"resnet", "fc"}, {"mobilenetv3", "fc"}, {"cnn", "fc2"}};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		sn_graph *g = sn_test_zoo(cases[i].model, 3);
		REQUIRE(g);
		sn_graph_free(check_replace(g, cases[i].head, 5));
		sn_graph_free(g);
	}
}

TEST(head_replace_squeezenet_conv)
{
	sn_graph *g = sn_test_net(SQUEEZE, 3);
	REQUIRE(g);
	sn_graph *h = check_replace(g, "classifier.1", 4);
	if (h) {
		const sn_node *n = &h->node[sn_graph_find(h, "classifier.1")];
		CHECK(n->op == SN_OP_CONV && n->a.conv.out_c == 4 && n->a.conv.kh == 1 && n->a.conv.bias);
	}
	sn_graph_free(h);
	sn_graph_free(g);
}

/* torchvision's mobilenet_v3_small (classifier.3 after Linear, Hardswish, Dropout) and resnet18 (fc),
 * exported by torch.onnx (tools/gen_transfer_fixtures.py): the imported weights stay locked */
TEST(head_replace_onnx_torchvision)
{
	static const struct { const char *model, *head; } cases[] = {{"mobilenet_v3_small", "classifier.3"}, {"resnet18", "fc"}};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		sn_graph *g = onnx_model(cases[i].model);
		REQUIRE(g);
		CHECK(g->shapes_locked);
		sn_graph_free(check_replace(g, cases[i].head, 3));
		sn_graph_free(g);
	}
}

/* As many classes as before: the old weights and pruning mask do not survive (a fresh layer). */
TEST(head_replace_same_classes)
{
	sn_graph *g = sn_test_zoo("resnet", 3);
	REQUIRE(g);
	sn_tensor *w = sn_test_tensor(g, "fc.weight");
	REQUIRE(w && (w->mask = calloc(w->n, 1)));
	sn_graph *h = check_replace(g, "fc", 10);
	if (h) {
		const sn_tensor *v = sn_test_tensor(h, "fc.weight");
		CHECK(v && !v->mask && memcmp(v->data, w->data, w->n * sizeof(float)));
	}
	sn_graph_free(h);
	sn_graph_free(g);
}

/* A Linear without a bias and frozen becomes a fresh layer that has one and trains; a Softmax at
 * the end stays after the new head. */
TEST(head_replace_softmax_nobias_frozen)
{
	sn_graph *g = sn_test_net("input x shape=1x4x4\nflatten f\nlinear fc out=6 bias=0 frozen=1\nsoftmax sm\n", 3);
	REQUIRE(g);
	sn_graph *h = check_replace(g, "fc", 2);
	if (h) {
		CHECK(!h->node[sn_graph_find(h, "fc")].frozen);
		CHECK(h->node[h->n_node - 1].op == SN_OP_SOFTMAX);
	}
	sn_graph_free(h);
	sn_graph_free(g);
}

TEST(head_errors)
{
	char name[SN_NAME_MAX] = "unchanged";
	/* ends in a 3x3 conv and a ReLU: no classifier */
	sn_graph *g = sn_test_net("input x shape=1x8x8\nconv c1 out=4 k=3\nconv c2 out=4 k=3\nrelu r\n", 1);
	REQUIRE(g);
	CHECK(sn_find_head(g, name, sizeof name) < 0);
	CHECK(!strcmp(name, "unchanged"));
	CHECKF(strstr(sn_errmsg(), "no classifier") && strstr(sn_errmsg(), "'r' (ReLU) <- 'c2' (Conv2d)"), "%s", sn_errmsg());
	CHECK(sn_replace_head(g, 3, 1, NULL, 0) == NULL);
	sn_graph_free(g);
	/* a conv 3x3 before the pooling is a feature layer, not SqueezeNet's 1x1 classifier */
	g = sn_test_net("input x shape=1x8x8\nconv c1 out=4 k=3\nrelu r\ngap p\nflatten f\n", 1);
	REQUIRE(g);
	CHECK(sn_find_head(g, NULL, 0) < 0);
	sn_graph_free(g);
	/* the Linear's output also feeds another layer: replacing it would change that one too */
	g = sn_test_net("input x shape=1x4x4\nflatten f\nlinear fc out=4\nlinear side in=fc out=4\nsoftmax s in=fc\n", 1);
	REQUIRE(g);
	CHECK(sn_find_head(g, NULL, 0) < 0);
	sn_graph_free(g);
	/* a class count out of range */
	g = sn_test_zoo("cnn", 1);
	REQUIRE(g);
	CHECK(sn_replace_head(g, 0, 1, NULL, 0) == NULL && sn_errcode() == SN_EINVAL && strstr(sn_errmsg(), "got 0"));
	CHECK(sn_replace_head(g, -3, 1, NULL, 0) == NULL);
	sn_graph_free(g);
}
