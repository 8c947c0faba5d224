/* The mobile-network operators (mul, softmax, shuffle, slice, pad, hardsigmoid) outside their
 * numerics (tests/test_ops_torch.c, tests/test_gradcheck.c): architecture keys and their canonical
 * text, shape errors that name the problem, the summary's PyTorch names and torchinfo's zero
 * mult-adds, the planner's in-place rule around Softmax, .slim round trips. */
#include <stdlib.h>
#include "test.h"
#include "slimnn.h"

#define EVERY_OP \
	"input x shape=6x5x6\n" \
	"conv c out=6 k=3 pad=1\n" \
	"hardsigmoid h alpha=0.25 beta=0.375\n" \
	"hardsigmoid h2 in=c\n" \
	"gap g in=c\n" \
	"mul m in=h,g\n" \
	"softmax s\n" \
	"shuffle sh groups=3\n" \
	"slice sl start=1 end=5\n" \
	"slice sl2 in=sh end=2\n" \
	"pad p in=sl pad=1,2,0,3 mode=reflect\n" \
	"pad p2 pad=1 value=-0.5\n" \
	"pad p3 in=sl2 pad=0,1,2,3 mode=circular\n" \
	"pad p4 pad=2 mode=replicate\n" \
	"gap g2 in=p2\n" \
	"gap g3 in=p4\n" \
	"gap g4 in=h2\n" \
	"concat cat in=g2,g3,g4\n"

/* Parsing text must fail with `words` in the message. */
static void refused(const char *text, const char *words)
{
	sn_graph *g = sn_arch_parse(text, "bad.arch");
	CHECKF(!g, "accepted: %s", text);
	CHECKF(g || strstr(sn_errmsg(), words), "message '%s' lacks '%s'", sn_errmsg(), words);
	sn_graph_free(g);
}

TEST(mobile_ops_arch_keys_round_trip)
{
	sn_graph *g = sn_arch_parse(EVERY_OP "flatten f\nlinear fc out=3\n", "every.arch");
	if (!g) fprintf(stderr, "  %s\n", sn_errmsg());
	REQUIRE(g);
	const sn_node *h = &g->node[sn_graph_find(g, "h")], *p = &g->node[sn_graph_find(g, "p")];
	CHECK(h->a.hsig.alpha == 0.25f && h->a.hsig.beta == 0.375f);
	CHECK(g->node[sn_graph_find(g, "h2")].a.hsig.alpha == 1.0f / 6 && g->node[sn_graph_find(g, "h2")].a.hsig.beta == 0.5f);
	CHECK(p->a.pad.pt == 1 && p->a.pad.pb == 2 && p->a.pad.pl == 0 && p->a.pad.pr == 3 && p->a.pad.mode == SN_PAD_REFLECT);
	CHECK(g->node[sn_graph_find(g, "p2")].a.pad.value == -0.5f);
	CHECK(g->node[sn_graph_find(g, "sl")].a.slice.start == 1 && g->node[sn_graph_find(g, "sl")].a.slice.end == 5);
	CHECK(g->node[sn_graph_find(g, "sh")].a.shuffle.groups == 3);
	/* shapes: mul broadcasts the [6,1,1] gate; slice keeps 4 channels; pads grow H and W */
	CHECK(g->node[sn_graph_find(g, "m")].out.c == 6 && g->node[sn_graph_find(g, "m")].out.h == 5);
	CHECK(p->out.c == 4 && p->out.h == 8 && p->out.w == 9);
	CHECK(g->node[sn_graph_find(g, "p3")].out.c == 2 && g->node[sn_graph_find(g, "p3")].out.w == 11);
	/* the canonical text: only non-default keys, and it reads back as the same text */
	char *text = sn_arch_write(g);
	REQUIRE(text);
	CHECK(strstr(text, "hardsigmoid h  ") && strstr(text, "alpha=0.25 beta=0.375"));
	CHECK(strstr(text, "pad=1,2,0,3 mode=reflect") && strstr(text, "pad=1 value=-0.5") && strstr(text, "mode=circular"));
	CHECK(strstr(text, "start=1 end=5") && strstr(text, "groups=3"));
	CHECK(!strstr(text, "start=0") && !strstr(text, "beta=0.5\n"));
	free(text);
	/* subnormal values (an ONNX pad value of 2.2e-39) write and read back exactly */
	g->node[sn_graph_find(g, "p2")].a.pad.value = 2.20441e-39f;
	text = sn_arch_write(g);
	REQUIRE(text);
	sn_graph *b = sn_arch_parse(text, "canonical.arch");
	REQUIRE(b);
	char *again = sn_arch_write(b);
	CHECK(again && !strcmp(text, again));
	CHECK(b->node[sn_graph_find(b, "p2")].a.pad.value == 2.20441e-39f);
	free(text); free(again);
	sn_graph_free(b);
	sn_graph_free(g);
}

TEST(mobile_ops_arch_errors)
{
	refused("input x shape=4x5x5\nmul m\n", "needs in= naming exactly 2");
	refused("input x shape=4x5x5\nconv a out=3 k=1\nmul m in=x,a\n", "each dimension must agree or be 1");
	refused("input x shape=4x5x5\nmul m in=x,x,x\n", "mul takes 2 to 2 inputs");
	refused("input x shape=6x5x5\nshuffle s\n", "missing the required key groups=");
	refused("input x shape=6x5x5\nshuffle s groups=4\n", "groups=4 must divide the 6 channels");
	refused("input x shape=6x5x5\nslice s start=2\n", "missing the required key end=");
	refused("input x shape=6x5x5\nslice s start=4 end=3\n", "not a non-empty range");
	refused("input x shape=6x5x5\nslice s end=7\n", "not a non-empty range");
	refused("input x shape=6x5x5\nslice s end=0\n", "bad value '0' for end=");
	refused("input x shape=6x5x5\npad p pad=5 mode=reflect\n", "too large for mode reflect");
	refused("input x shape=6x5x5\npad p pad=0,0,6,0 mode=circular\n", "too large for mode circular");
	refused("input x shape=6x5x5\npad p pad=same\n", "bad value 'same' for pad=");
	refused("input x shape=6x5x5\npad p pad=1 value=nan\n", "bad value 'nan' for value=");
	refused("input x shape=6x5x5\npad p pad=1 k=3\n", "unknown key 'k' for pad");
	refused("input x shape=6x5x5\nflatten f\npad p pad=1\n", "padding needs an image input");
	refused("input x shape=6x5x5\nhardsigmoid h alpha=inf\n", "bad value 'inf' for alpha=");
	refused("input x shape=6x5x5\nsoftmax s groups=2\n", "unknown key 'groups' for softmax");
}

TEST(mobile_ops_summary_names_and_macs)
{
	sn_graph *g = sn_arch_parse(EVERY_OP, "every.arch");
	REQUIRE(g);
	sn_summary s;
	REQUIRE(sn_summarize(g, -1, &s) == SN_OK);
	const char *want[] = {"Conv2d-1", "Hardsigmoid-2", "Hardsigmoid-3", "AdaptiveAvgPool2d-4", "Mul-5", "Softmax-6",
	                      "ChannelShuffle-7", "Slice-8", "Slice-9", "ReflectionPad2d-10", "ConstantPad2d-11",
	                      "CircularPad2d-12", "ReplicationPad2d-13"};
	for (int i = 0; i < (int)(sizeof want / sizeof *want); i++)
		CHECKF(!strcmp(s.rows[i].label, want[i]), "row %d is %s, expected %s", i, s.rows[i].label, want[i]);
	/* torchinfo counts mult-adds of layers with parameters only: the conv's 330 values x 30 pixels */
	CHECK(s.macs == 330u * 30u && s.params == 330);
	for (int i = 1; i < s.n_rows; i++) CHECKF(s.rows[i].macs == 0, "%s has %llu mult-adds", s.rows[i].label,
	                                          (unsigned long long)s.rows[i].macs);
	CHECK(!strcmp(s.rows[6].kernel, "g3") && !strcmp(s.rows[7].kernel, "1:5") && !strcmp(s.rows[9].kernel, "1,2,0,3"));
	sn_summary_free(&s);
	sn_graph_free(g);
	g = sn_arch_parse("input x shape=2x3x3\npad z pad=1\n", "zero.arch");
	REQUIRE(g && sn_summarize(g, -1, &s) == SN_OK);
	CHECK(!strcmp(s.rows[0].label, "ZeroPad2d-1"));
	sn_summary_free(&s);
	sn_graph_free(g);
}

/* A ReLU after Softmax must not run in place: Softmax's backward reads its own output. */
TEST(mobile_ops_no_in_place_after_softmax)
{
	sn_graph *g = sn_arch_parse("input x shape=3x2x2\nconv c out=4 k=1\nsoftmax s\nrelu r\n", "s.arch");
	REQUIRE(g);
	sn_graph_init_params(g, 5);
	REQUIRE(sn_graph_plan(g, 2, 1) == SN_OK);
	const sn_plan *p = g->plan;   /* softmax s is node 2, relu r node 3 */
	CHECK(sn_plan_output(p, 3) != sn_plan_output(p, 2) && sn_plan_grad(p, 3) != sn_plan_grad(p, 2));
	/* and the gradient through it sums to zero over the channels, as softmax's must */
	float x[24], dy[32];
	for (int i = 0; i < 24; i++) x[i] = (float)(i % 5) - 2.0f;
	for (int i = 0; i < 32; i++) dy[i] = (float)(i % 3) - 1.0f;
	sn_graph_forward(g, x, 2);
	CHECK(sn_graph_backward(g, dy) == SN_OK);
	for (int b = 0; b < 2; b++)
		for (int q = 0; q < 4; q++) {
			double sum = 0;
			for (int c = 0; c < 4; c++) sum += sn_plan_grad(g->plan, 1)[b * 16 + c * 4 + q];
			CHECK_NEAR(sum, 0, 1e-6);
		}
	sn_graph_free(g);
}

/* A trained model with every operator saves to .slim and loads back computing the same. */
TEST(mobile_ops_slim_round_trip)
{
	sn_graph *g = sn_arch_parse(EVERY_OP "flatten f\nlinear fc out=3\n", "every.arch");
	REQUIRE(g);
	sn_graph_init_params(g, 9);
	char path[512];
	snprintf(path, sizeof path, "%s/every.slim", sn_test_tmpdir());
	REQUIRE(sn_model_save(g, NULL, NULL, path) == SN_OK);
	sn_graph *h = sn_model_load(path, NULL, NULL);
	REQUIRE(h);
	float x[2 * 6 * 5 * 6];
	for (size_t i = 0; i < sizeof x / sizeof *x; i++) x[i] = (float)((i * 7) % 13) / 6.0f - 1.0f;
	REQUIRE(sn_graph_plan(g, 2, 0) == SN_OK && sn_graph_plan(h, 2, 0) == SN_OK);
	float a[6], b[6];
	memcpy(a, sn_graph_forward(g, x, 2), sizeof a);
	memcpy(b, sn_graph_forward(h, x, 2), sizeof b);
	CHECK(!memcmp(a, b, sizeof a));
	sn_graph_free(h);
	sn_graph_free(g);
}
