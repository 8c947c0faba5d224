/* Concat in place (core/graph.c): at batch 1 an inference plan makes each concat input's buffer
 * its block of the concat's output, so the producers write there and the concat copies nothing.
 * Outputs are bit for bit those of the copying plan (the same kernels, the same order), at
 * batch 1 and at larger batches (which copy), in no more memory; the inputs that must keep a
 * buffer of their own (the caller's input, a second concat, a block off the alignment, a read
 * after an in-place ReLU rewrote the concat) keep it. */
#include <stdlib.h>
#include "test.h"
#include "slimnn.h"
#include "core/internal.h"

/* Two fire modules as torchvision's SqueezeNet has them (ReLUs in place on the expands), and a
 * head; the second module's concat is read by a conv and by the graph's last concat. */
static const char fire_net[] =
	"input x shape=3x12x12\n"
	"conv stem out=16 k=3 pad=1\n"
	"relu stem_act\n"
	"conv f1.squeeze out=8 k=1\nrelu f1.squeeze_act\n"
	"conv f1.e1 in=f1.squeeze_act out=16 k=1\nrelu f1.e1_act\n"
	"conv f1.e3 in=f1.squeeze_act out=16 k=3 pad=1\nrelu f1.e3_act\n"
	"concat f1.cat in=f1.e1_act,f1.e3_act\n"
	"conv f2.squeeze out=8 k=1\nrelu f2.squeeze_act\n"
	"conv f2.e1 in=f2.squeeze_act out=16 k=1\nrelu f2.e1_act\n"
	"conv f2.e3 in=f2.squeeze_act out=32 k=3 pad=1\nrelu f2.e3_act\n"
	"concat f2.cat in=f2.e3_act,f2.e1_act\n"   /* e3's block first: written after e1's */
	"conv head out=16 k=1\n"
	"concat out in=head,f2.cat\n";

/* Producers read by other layers after the concat (a, b), written in the reverse order of their
 * blocks (b after a: a kernel writing past its end would spoil the block after it), one feeding
 * it twice (b), the caller's input (x), and a block that would start off the alignment (e's,
 * after x's 3 channels of 5x5). */
static const char shared_net[] =
	"input x shape=3x5x5\n"
	"conv a out=16 k=3 pad=1\n"
	"conv b out=16 k=1\n"
	"conv e in=x out=16 k=1\n"
	"concat cat in=b,a,x,e,b\n"
	"conv mix out=16 k=1\n"
	"add sum in=mix,a\n"
	"conv late in=b out=16 k=1\n"
	"add out in=sum,late\n";

/* Each kind of producer kernel writes a block before one written earlier (one writing past its
 * end would spoil it): 3x3 conv, 1x1 conv, max and average pooling, depthwise (9x9 planes:
 * every block is 81 x 64 bytes, so all align). */
static const char kernels_net[] =
	"input x shape=16x9x9\n"
	"conv dw groups=16 out=16 k=3 pad=1\n"
	"avgpool ap in=x k=3 stride=1 pad=1\n"
	"maxpool mp in=x k=3 stride=1 pad=1\n"
	"conv pw in=x out=16 k=1\n"
	"conv c3 in=x out=16 k=3 pad=1\n"
	"concat out in=c3,pw,mp,ap,dw\n";

/* An early producer (p) and a wide layer before the concat: the concat's output living from p on
 * would take more bytes than p's own buffer did, so the plan copies. */
static const char early_net[] =
	"input x shape=8x16x16\n"
	"conv p out=16 k=1\n"
	"conv wide in=x out=256 k=1\n"
	"conv mid out=16 k=1\n"
	"conv q out=64 k=1\n"
	"concat out in=p,q\n";

/* Concats of concats, DenseNet's pattern (a concat of a layer and its own input), one producer
 * feeding two concats. */
static const char nested_net[] =
	"input x shape=4x6x6\n"
	"conv a out=16 k=3 pad=1\n"
	"conv b in=x out=16 k=1\n"
	"concat ab in=a,b\n"
	"conv c out=16 k=3 pad=1\n"
	"concat abc in=ab,c\n"
	"conv d out=32 k=1\n"
	"concat again in=b,d\n"
	"concat out in=abc,again\n";

/* The concat is rewritten in place by a ReLU while its producer is read afterwards (by `late`):
 * that producer must keep its own buffer; the other one may move in. */
static const char rewritten_net[] =
	"input x shape=4x6x6\n"
	"conv a out=16 k=3 pad=1\n"
	"conv b in=x out=16 k=1\n"
	"concat cat in=a,b\n"
	"relu cat_act\n"
	"conv mix out=16 k=1\n"
	"conv late in=a out=16 k=1\n"
	"add out in=mix,late\n";

/* The inputs of concat node c whose buffer is its block of c's output, at batch 1. */
static int blocks_in_place(const sn_graph *g, const sn_plan *p, int c)
{
	const sn_node *n = &g->node[c];
	const float *y = sn_plan_output(p, c);
	size_t off = 0;
	int placed = 0;
	for (int k = 0; k < n->n_in; k++) {
		placed += sn_plan_output(p, n->in[k]) == y + off;
		off += sn_shape_numel(g->node[n->in[k]].out);
	}
	return placed;
}

typedef struct { const char *concat; int placed; } expect;

/* g's outputs from a plan of batch n with concats in place or copying (and its arena bytes). */
static float *forward(sn_graph *g, const float *x, int n, int in_place, size_t *arena, sn_plan **keep_plan)
{
	sn_plan *p;
	sn_plan_concat_in_place = in_place;
	float *y = sn_test_plan_run(g, x, n, n, &p);
	sn_plan_concat_in_place = 1;
	*arena = p ? sn_plan_arena_bytes(p) : 0;
	if (keep_plan) *keep_plan = p;
	else sn_plan_free(p);
	return y;
}

/* Batches 1 and 3 of g: in place gives the copying plan's outputs bit for bit in no more bytes;
 * at batch 1 each listed concat has that many inputs in place, at batch 3 none. */
static void check_net(const char *what, sn_graph *g, const expect *want, int n_want)
{
	sn_rng r;
	sn_rng_seed(&r, 3);
	const size_t xs = sn_shape_numel(sn_graph_input_shape(g)), ys = sn_shape_numel(sn_graph_output_shape(g));
	for (int batch = 1; batch <= 3; batch += 2) {
		float *x = malloc(batch * xs * sizeof *x);
		for (size_t i = 0; i < batch * xs; i++) x[i] = 2 * sn_rng_uniform(&r) - 1;
		size_t copied_bytes, placed_bytes;
		sn_plan *p;
		float *copied = forward(g, x, batch, 0, &copied_bytes, NULL), *placed = forward(g, x, batch, 1, &placed_bytes, &p);
		REQUIRE(copied && placed);
		CHECKF(!memcmp(copied, placed, batch * ys * sizeof *copied), "%s, batch %d: concat in place changes the outputs "
		       "(max rel. difference %g)", what, batch, sn_test_maxrel(placed, copied, batch * ys));
		CHECKF(placed_bytes <= copied_bytes, "%s, batch %d: arena %zu bytes in place, %zu copying", what, batch,
		       placed_bytes, copied_bytes);
		for (int k = 0; k < n_want; k++) {
			const int c = sn_graph_find(g, want[k].concat);
			REQUIRE(c > 0);
			const int got = blocks_in_place(g, p, c), expected = batch == 1 ? want[k].placed : 0;
			CHECKF(got == expected, "%s, batch %d: %d inputs of %s in place, expected %d", what, batch, got,
			       want[k].concat, expected);
		}
		sn_plan_free(p);
		free(copied); free(placed); free(x);
	}
}

TEST(concat_in_place_fire_modules)
{
	sn_graph *g = sn_test_net(fire_net, 1);
	REQUIRE(g);
	/* out: head's block (16 x 144 floats) and f2.cat's (a concat, its own inputs in place too) */
	const expect want[] = {{"f1.cat", 2}, {"f2.cat", 2}, {"out", 2}};
	check_net("fire modules", g, want, 3);
	/* prepared: the ReLUs fused into the convs, which then write the blocks themselves */
	sn_prepare_opts o = sn_prepare_defaults();
	sn_graph *pg = sn_prepare_inference(g, &o, NULL);
	REQUIRE(pg);
	check_net("fire modules, prepared", pg, want, 3);
	/* less memory at batch 1: the expands' outputs no longer live beside the concat's */
	size_t copied, placed;
	const float x[3 * 12 * 12] = {0};
	free(forward(pg, x, 1, 0, &copied, NULL));
	free(forward(pg, x, 1, 1, &placed, NULL));
	CHECKF(placed < copied, "arena %zu bytes in place, %zu copying", placed, copied);
	sn_graph_free(pg);
	sn_graph_free(g);
}

TEST(concat_in_place_keeps_buffers_it_must)
{
	/* cat: b and a in place; x, e and b again copied */
	sn_graph *g = sn_test_net(shared_net, 2);
	REQUIRE(g);
	const expect shared[] = {{"cat", 2}};
	check_net("producer read elsewhere", g, shared, 1);
	sn_graph_free(g);

	g = sn_test_net(kernels_net, 6);
	REQUIRE(g);
	const expect kernels[] = {{"out", 5}};
	check_net("producer kernels", g, kernels, 1);
	sn_graph_free(g);

	g = sn_test_net(early_net, 7);
	REQUIRE(g);
	const expect early[] = {{"out", 0}};
	check_net("early producer", g, early, 1);
	sn_graph_free(g);

	g = sn_test_net(nested_net, 3);
	REQUIRE(g);
	/* out holds abc and again; abc holds ab and c; again holds b and d; ab holds a and copies b
	 * (the later concat took it first) */
	const expect nested[] = {{"ab", 1}, {"abc", 2}, {"again", 2}, {"out", 2}};
	check_net("concats of concats", g, nested, 4);
	sn_graph_free(g);

	g = sn_test_net(rewritten_net, 4);
	REQUIRE(g);
	const expect rewritten[] = {{"cat", 1}};
	check_net("rewritten in place", g, rewritten, 1);
	sn_graph_free(g);
}

/* The zoo's Inception block: its four branches write their blocks, raw and prepared; training
 * plans and plans that keep every output copy. */
TEST(concat_in_place_inception_and_other_plans)
{
	sn_graph *g = sn_test_zoo("inception", 5);
	REQUIRE(g);
	const expect want[] = {{"inc.cat", 4}};
	check_net("inception", g, want, 1);
	sn_prepare_opts o = sn_prepare_defaults();
	sn_graph *pg = sn_prepare_inference(g, &o, NULL);
	REQUIRE(pg);
	check_net("inception, prepared", pg, want, 1);
	sn_graph_free(pg);
	const int c = sn_graph_find(g, "inc.cat");
	const unsigned flags[] = {SN_PLAN_TRAIN, SN_PLAN_KEEP_OUTPUTS};
	for (int f = 0; f < 2; f++) {
		sn_plan *p = sn_plan_new(g);
		REQUIRE(p && sn_plan_reshape(p, 1, flags[f]) == SN_OK);
		CHECKF(!blocks_in_place(g, p, c), "plan flags 0x%x: concat inputs in place", flags[f]);
		sn_plan_free(p);
	}
	sn_graph_free(g);
}
