/* int8 sparse execution (core/sparse.c, src/ops/q8_conv.c, kernels/q8_spmm.h): a weight-pruned
 * int8 model gives the same logits, bit for bit, through the sparse kernels as through the dense
 * ones, at batches that take every split of the work; the selection follows the mode and the
 * rows, reports name the kernel, and a stale pack falls back to dense. */
#include <stdlib.h>
#include "core/internal.h"
#include "core/quant.h"
#include "test.h"

/* 1x1 convs (fused ReLU and ReLU6 after preparation), a 3x3 between them, two Linears */
static const char *NET =
	"input x shape=16x9x9\n"
	"conv c1 out=24 k=1\nrelu r1\n"
	"conv c2 out=24 k=3 pad=1\nrelu6 r2\n"
	"conv c3 out=40 k=1\nrelu6 r3\n"
	"gap g\nflatten f\nlinear fc1 out=72\nrelu r4\nlinear fc2 out=10\n";

/* NET pruned to 96 % of its conv and Linear weights, prepared, quantized on random images */
static sn_graph *pruned_int8(void)
{
	sn_graph *g = sn_test_net(NET, 11), *p = NULL, *h = NULL;
	unsigned char *prunable = g ? calloc((size_t)g->n_node, 1) : NULL;
	sn_dataset d;
	sn_test_random_images(&d, 16, 16, 9, 9, 5);
	if (prunable && !sn_prune_select(g, SN_GRAN_WEIGHT, "none", prunable) &&
	    !sn_prune_weights(g, prunable, SN_SCOPE_LAYER, 0.96f) && (p = sn_prepare_inference(g, NULL, NULL)))
		h = sn_quantize(p, &d, NULL, NULL, NULL);
	if (!h) fprintf(stderr, "  %s\n", sn_errmsg());
	free(prunable);
	sn_dataset_free(&d);
	sn_graph_free(p);
	sn_graph_free(g);
	return h;
}

static float *input(int n)
{
	float *x = malloc((size_t)n * 16 * 9 * 9 * sizeof *x);
	sn_rng r;
	sn_rng_seed(&r, 99);
	for (int i = 0; x && i < n * 16 * 9 * 9; i++) x[i] = 2 * sn_rng_uniform(&r) - 1;
	return x;
}

/* The path text of node `name` in h's own plan */
static const char *path_of(sn_graph *h, const char *name, char *buf, size_t len)
{
	return sn_node_path(h, &h->node[sn_graph_find(h, name)], buf, len);
}

TEST(q8_sparse_model_matches_dense)
{
	sn_graph *h = pruned_int8();
	REQUIRE(h);
	REQUIRE(sn_graph_is_int8(h));
	static const int batches[] = {1, 3, 4, 7, 40};
	float *x = input(40);
	REQUIRE(x);
	for (size_t i = 0; i < sizeof batches / sizeof batches[0]; i++) {
		const int n = batches[i];
		CHECK(sn_graph_select_sparse(h, SN_SPARSE_OFF) == 0);
		float *dense = sn_test_logits(h, x, n);
		CHECK(sn_graph_select_sparse(h, SN_SPARSE_FORCE) == 4);   /* c1, c3, fc1, fc2 */
		float *sparse = sn_test_logits(h, x, n);
		REQUIRE(dense && sparse);
		CHECKF(!memcmp(dense, sparse, (size_t)n * 10 * sizeof *dense), "batch %d: sparse logits differ", n);
		char buf[128];
		CHECK(strstr(path_of(h, "c1", buf, sizeof buf), "int8 q8_spmm__"));
		CHECK(strstr(path_of(h, "fc2", buf, sizeof buf), "int8 q8_spmm__"));
		CHECK(!strstr(path_of(h, "c2", buf, sizeof buf), "spmm"));
		free(dense);
		free(sparse);
	}
	free(x);
	sn_graph_free(h);
}

/* Every path this CPU runs gives the same logits. */
TEST(q8_sparse_model_same_on_every_path)
{
	sn_graph *h = pruned_int8();
	float *x = input(5), *first = NULL;
	REQUIRE(h && x);
	CHECK(sn_graph_select_sparse(h, SN_SPARSE_FORCE) == 4);
	for (int i = 0; sn_q8_path_name(i); i++) {
		if (sn_q8_force_path(sn_q8_path_name(i))) continue;
		float *y = sn_test_logits(h, x, 5);
		REQUIRE(y);
		if (!first) first = y;
		else {
			CHECKF(!memcmp(first, y, 5 * 10 * sizeof *y), "%s: logits differ", sn_q8_path_name(i));
			free(y);
		}
	}
	sn_q8_force_path(NULL);
	free(first);
	free(x);
	sn_graph_free(h);
}

TEST(q8_sparse_selection_follows_mode_and_rows)
{
	sn_graph *h = pruned_int8();
	REQUIRE(h);
	char buf[128];
	/* AUTO: 96 % zeros is past every int8 crossover but that of up to 4 rows: the Linears run
	 * the dense kernel on one row and on 4, the sparse kernel on 5 */
	CHECK(sn_graph_select_sparse(h, SN_SPARSE_AUTO) == 4);
	REQUIRE(sn_graph_plan(h, 1, 0) == SN_OK);
	CHECK(strstr(path_of(h, "c1", buf, sizeof buf), "q8_spmm__"));
	CHECK(strstr(path_of(h, "fc1", buf, sizeof buf), "q8_linear_gemm__"));
	REQUIRE(sn_graph_plan(h, 4, 0) == SN_OK);
	CHECK(strstr(path_of(h, "fc1", buf, sizeof buf), "q8_linear_gemm__"));
	REQUIRE(sn_graph_plan(h, 5, 0) == SN_OK);
	CHECK(strstr(path_of(h, "fc1", buf, sizeof buf), "q8_spmm__"));
	/* preparing an int8 model picks its kernels */
	sn_prepare_report rep;
	sn_graph *p = sn_prepare_inference(h, NULL, &rep);
	REQUIRE(p);
	CHECK(rep.sparse_layers == 4);
	sn_graph_free(p);
	sn_prepare_opts o = sn_prepare_defaults();
	o.sparse = SN_SPARSE_OFF;
	p = sn_prepare_inference(h, &o, &rep);
	CHECK(p && rep.sparse_layers == 0);
	sn_graph_free(p);
	/* new weights drop the pack: dense until selected again */
	REQUIRE(sn_q_derive(h) == SN_OK);
	REQUIRE(sn_graph_plan(h, 8, 0) == SN_OK);
	CHECK(!strstr(path_of(h, "c1", buf, sizeof buf), "spmm"));
	sn_graph_free(h);
}
