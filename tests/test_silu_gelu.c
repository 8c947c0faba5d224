/* SiLU and GELU outside their torch fixtures and gradient checks: architecture text and its
 * errors, the summary (rows, parameters, mult-adds), the inference path, pruning through them,
 * transfer learning's head search through them, and functions that stay the same after the
 * graph is cloned and planned for inference. */
#include <stdlib.h>
#include "test.h"
#include "slimnn.h"

#define NET "input x shape=3x8x8\nconv c out=4 k=3 pad=1\nsilu s\nconv d out=4 k=1\ngelu g\n"

TEST(silu_gelu_arch_and_summary)
{
	sn_graph *g = sn_test_net(NET "gelu t approximate=tanh\n", 3);
	REQUIRE(g);
	CHECK(g->node[2].op == SN_OP_SILU && g->node[4].op == SN_OP_GELU && g->node[5].a.gelu.approximate == SN_GELU_TANH);
	char *w = sn_arch_write(g);
	REQUIRE(w);
	CHECKF(strstr(w, "silu  s\n") && strstr(w, "gelu  g\n") && strstr(w, "gelu  t approximate=tanh\n"), "%s", w);
	free(w);
	sn_summary s;
	REQUIRE(sn_summarize(g, 1, &s) == SN_OK);
	CHECK(s.n_rows == 5 && !strcmp(s.rows[1].label, "SiLU-2") && !strcmp(s.rows[3].label, "GELU-4"));
	CHECK(s.rows[1].params == 0 && s.rows[1].macs == 0 && s.rows[3].macs == 0 && s.rows[4].macs == 0);
	CHECK(s.params == 112 + 20 && s.macs == (112 + 20) * 64);   /* the convs' alone */
	sn_summary_free(&s);
	REQUIRE(sn_graph_plan(g, 2, 0) == SN_OK);
	char buf[64];
	CHECK(!strcmp(sn_node_path(g, &g->node[2], buf, sizeof buf), "elementwise"));
	sn_graph_free(g);

	g = sn_arch_parse("input x shape=3x8x8\ngelu g approximate=erf\n", "t.arch");
	CHECK(!g && !strcmp(sn_errmsg(), "t.arch:2:20: bad value 'erf' for approximate=; expected none or tanh"));
	g = sn_arch_parse("input x shape=3x8x8\nsilu s beta=1\n", "t.arch");
	CHECK(!g && !strcmp(sn_errmsg(), "t.arch:2:8: unknown key 'beta' for silu; silu takes: in frozen"));
	g = sn_arch_parse("input x shape=3x8x8\ngelu g x=1\n", "t.arch");
	CHECK(!g && !strcmp(sn_errmsg(), "t.arch:2:8: unknown key 'x' for gelu; gelu takes: in approximate frozen"));
	g = sn_arch_parse("input x shape=3x8x8\nswish s\n", "t.arch");
	CHECK(!g && strstr(sn_errmsg(), "expected one of: input conv") && strstr(sn_errmsg(), " silu gelu"));
	/* an approximation outside the words: refused by shape inference, not computed */
	g = sn_arch_parse("input x shape=3x8x8\ngelu g\n", NULL);
	REQUIRE(g);
	g->node[1].a.gelu.approximate = 2;
	CHECK(sn_graph_infer(g) != SN_OK && strstr(sn_errmsg(), "unknown approximation 2"));
	sn_graph_free(g);
}

/* Both read their input in backward, so neither runs in place; neither reads its output, so a
 * ReLU after either overwrites it in place. */
TEST(silu_gelu_in_place_rules)
{
	sn_graph *g = sn_test_net("input x shape=2x4x4\nconv c out=2 k=1\nsilu s\nrelu r\ngelu g\nrelu r2\n", 1);
	REQUIRE(g);
	REQUIRE(sn_graph_plan(g, 2, 1) == SN_OK);
	const float *y[6];
	for (int i = 0; i < 6; i++) y[i] = sn_plan_output(g->plan, i);
	CHECK(y[2] != y[1] && y[4] != y[3]);   /* silu, gelu: their own buffers */
	CHECK(y[3] == y[2] && y[5] == y[4]);   /* the ReLUs after them: in place */
	sn_graph_free(g);
}

/* Filter pruning sees through them: d's filters go, and e's inputs with them (through the GELU);
 * e's filters go, and the Linear's inputs with them (through the SiLU). The first conv is kept. */
TEST(silu_gelu_prune_filters)
{
	sn_graph *g = sn_test_net(NET "conv e out=4 k=1\nsilu u\ngap p\nflatten f\nlinear l out=3\n", 4);
	REQUIRE(g);
	unsigned char p[16];
	REQUIRE(sn_prune_select(g, SN_GRAN_FILTER, NULL, p) == SN_OK);
	CHECK(!p[1] && p[3] && p[5]);
	sn_graph *h = sn_prune_filters(g, NULL, p, SN_CRIT_L1, SN_SCOPE_LAYER, 0.5f);
	REQUIRE(h);
	CHECK(h->node[1].a.conv.out_c == 4 && h->node[3].a.conv.out_c == 2 && h->node[5].a.conv.out_c == 2);
	CHECK(sn_test_tensor(h, "e.weight")->dims[1] == 2 && sn_test_tensor(h, "l.weight")->dims[1] == 2);
	CHECK(h->node[2].op == SN_OP_SILU && h->node[4].op == SN_OP_GELU && h->node[6].op == SN_OP_SILU);
	sn_graph_free(h);
	sn_graph_free(g);
}

/* SqueezeNet's head (1x1 conv, activation, pooling at the end) through a SiLU or a GELU. */
TEST(silu_gelu_head)
{
	const char *acts[] = {"silu a", "gelu a approximate=tanh"};
	for (int i = 0; i < 2; i++) {
		char text[256], name[SN_NAME_MAX];
		snprintf(text, sizeof text, "input x shape=3x8x8\nconv c out=4 k=3 pad=1\nrelu r\nconv cls out=5 k=1\n%s\ngap p\nflatten f\n",
		         acts[i]);
		sn_graph *g = sn_test_net(text, 5);
		REQUIRE(g);
		CHECKF(sn_find_head(g, name, sizeof name) == 3 && !strcmp(name, "cls"), "%s: %s", acts[i], sn_errmsg());
		sn_graph_free(g);
	}
}

/* A clone, and an inference plan (outputs sharing memory), compute what training mode does. */
TEST(silu_gelu_clone_and_inference)
{
	sn_graph *g = sn_test_net(NET "gelu t approximate=tanh\nsilu u\n", 6);
	REQUIRE(g);
	float x[2 * 3 * 8 * 8];
	sn_rng r;
	sn_rng_seed(&r, 9);
	for (size_t i = 0; i < sizeof x / sizeof *x; i++) x[i] = 6 * sn_rng_uniform(&r) - 3;
	REQUIRE(sn_graph_plan(g, 2, 1) == SN_OK);
	const float *y = sn_graph_forward(g, x, 2);
	REQUIRE(y);
	float ref[2 * 4 * 8 * 8];
	memcpy(ref, y, sizeof ref);
	sn_graph *h = sn_graph_clone(g);
	REQUIRE(h);
	float *z = sn_test_logits(h, x, 2);
	REQUIRE(z);
	CHECK(sn_test_maxrel(z, ref, sizeof ref / sizeof *ref) <= 1e-5);   /* other conv kernels: rounding */
	free(z);
	sn_graph_free(h);
	sn_graph_free(g);
}
