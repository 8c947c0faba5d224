/* Graph rewriting: identity rebuilds, replacements, and values that follow tensor names. */
#include <stdlib.h>
#include "test.h"
#include "slimnn.h"

static const char *NET =
	"input x shape=2x8x8\n"
	"conv c1 out=4 k=3 pad=1\n"
	"bn b1\n"
	"relu r1\n"
	"conv c2 out=4 k=3 pad=1 in=r1\n"
	"add a1 in=c2,r1\n"
	"gap p\n"
	"flatten f\n"
	"linear fc out=3\n";


TEST(rewrite_identity_keeps_function)
{
	sn_graph *g = sn_arch_parse(NET, NULL);
	REQUIRE(g);
	sn_graph_init_params(g, 3);
	sn_tensor *rv = &g->tensor[sn_tensor_find(g, "b1.running_var")];
	for (size_t i = 0; i < rv->n; i++) rv->data[i] = 0.5f + i;
	sn_rewrite *rw = sn_rewrite_begin(g);
	for (int i = 0; i < g->n_node; i++) CHECK(sn_rewrite_keep(rw, i) == i);
	sn_graph *h = sn_rewrite_end(rw);
	REQUIRE(h);
	float x[2 * 128];
	for (int i = 0; i < 256; i++) x[i] = (float)((i * 37) % 17) / 17.0f - 0.5f;
	float *a = sn_test_logits(g, x, 2), *b = sn_test_logits(h, x, 2);
	REQUIRE(a && b);
	CHECK(memcmp(a, b, 6 * sizeof *a) == 0);
	free(a); free(b);
	sn_graph_free(g); sn_graph_free(h);
}

TEST(rewrite_replace_node)
{
	sn_graph *g = sn_arch_parse(NET, NULL);
	REQUIRE(g);
	sn_graph_init_params(g, 3);
	sn_rewrite *rw = sn_rewrite_begin(g);
	int c2 = sn_graph_find(g, "c2");
	for (int i = 0; i < g->n_node; i++) {
		if (i != c2) { CHECK(sn_rewrite_keep(rw, i) >= 0); continue; }
		/* c2 becomes a depthwise + pointwise pair */
		sn_node dw = g->node[i], pw = g->node[i];
		snprintf(dw.name, sizeof dw.name, "c2_dw");
		dw.a.conv.groups = 4;
		dw.in[0] = sn_rewrite_input(rw, g->node[i].in[0]);
		int k = sn_rewrite_emit(rw, &dw);
		snprintf(pw.name, sizeof pw.name, "c2_pw");
		pw.a.conv.kh = pw.a.conv.kw = 1;
		pw.a.conv.pt = pw.a.conv.pb = pw.a.conv.pl = pw.a.conv.pr = 0;
		pw.in[0] = k;
		sn_rewrite_map(rw, i, sn_rewrite_emit(rw, &pw));
	}
	sn_graph *h = sn_rewrite_end(rw);
	REQUIRE(h);
	CHECK(h->n_node == g->n_node + 1);
	CHECK(sn_graph_find(h, "c2") < 0 && sn_graph_find(h, "c2_pw") >= 0);
	CHECK(h->node[sn_graph_find(h, "a1")].in[0] == sn_graph_find(h, "c2_pw"));
	CHECK(sn_graph_count(h, SN_TENSOR_PARAM, 0) == sn_graph_count(g, SN_TENSOR_PARAM, 0) - (4 * 4 * 9 + 4) + (4 * 9 + 4) + (16 + 4));
	/* untouched layers keep their values */
	sn_tensor *a = &g->tensor[sn_tensor_find(g, "c1.weight")], *b = &h->tensor[sn_tensor_find(h, "c1.weight")];
	CHECK(memcmp(a->data, b->data, a->n * sizeof(float)) == 0);
	sn_graph_free(g); sn_graph_free(h);
}

TEST(rewrite_dropped_input_is_an_error)
{
	sn_graph *g = sn_arch_parse(NET, NULL);
	REQUIRE(g);
	sn_rewrite *rw = sn_rewrite_begin(g);
	CHECK(sn_rewrite_keep(rw, 0) == 0);
	CHECK(sn_rewrite_keep(rw, 2) < 0);    /* b1 reads c1, never emitted */
	CHECK(strstr(sn_errmsg(), "b1") != NULL);
	CHECK(sn_rewrite_end(rw) == NULL);
	sn_graph_free(g);
}
