/* Prune a model to a target sparsity by weight magnitude and save it; the .slim file stores
 * the surviving weights sparsely, so it shrinks with them.
 *
 *   cc prune.c $(pkg-config --cflags --libs slimnn) -o prune
 *   ./prune MODEL OUT.slim [TARGET [DATA]]
 *
 * TARGET is the fraction of weights to zero (0.5). The accuracy before and after is measured
 * on DATA's test split (default: Debian's Fashion-MNIST). This is one-shot pruning without
 * fine-tuning; sn_prune_run adds gradual schedules, fine-tuning, filter and block granularity
 * (`slimnn prune` and docs/prune.md). */
#include <stdio.h>
#include <stdlib.h>
#include <slimnn.h>

#define TEST_IMAGES 1000   /* the first images of the test split (0: all of them) */

static int fail(const char *what)
{
	fprintf(stderr, "prune: %s: %s\n", what, sn_errmsg());
	return 1;
}

/* Top-1 accuracy on the test set, or -1 on failure. */
static double accuracy(sn_graph *g, const sn_dataset *test)
{
	sn_eval_result r;
	if (sn_evaluate(g, test, 256, &r)) return -1;
	sn_eval_free(&r);
	return r.accuracy;
}

int main(int argc, char **argv)
{
	if (argc < 3 || argc > 5) {
		fprintf(stderr, "usage: %s MODEL OUT.slim [TARGET [DATA]]\n", argv[0]);
		return 2;
	}
	const float target = argc > 3 ? (float)atof(argv[3]) : 0.5f;
	sn_meta meta;
	sn_graph *g = sn_load_any(argv[1], &meta);
	if (!g) return fail("model");

	/* Only the test split, prepared as the model's training data was (its stored normalisation). */
	sn_shape in = sn_graph_input_shape(g);
	sn_data_opts d = sn_data_defaults();
	d.c = in.c; d.h = in.h; d.w = in.w;
	d.limit = TEST_IMAGES;
	d.norm = meta.norm.c > 0 ? &meta.norm : NULL;
	d.resize = meta.resize;
	d.need_train = 0;
	sn_dataset test;
	if (sn_data_open(argc > 4 ? argv[4] : NULL, &d, NULL, &test, NULL)) {
		sn_graph_free(g);
		return fail("data");
	}
	const double before = accuracy(g, &test);

	/* Which layers to prune: every conv and Linear but the first conv and the last Linear
	 * (ignore = NULL), which hold few weights and much of the accuracy. */
	unsigned char *prunable = malloc((size_t)g->n_node);
	int rc = prunable ? sn_prune_select(g, SN_GRAN_WEIGHT, NULL, prunable) : -1;
	/* The smallest |w| of all those layers together (global scope) are zeroed and masked: the
	 * mask keeps them zero through later training, and the file records it. */
	if (!rc) rc = sn_prune_weights(g, prunable, SN_SCOPE_GLOBAL, target);
	size_t zero = 0, total = 0;
	if (!rc) sn_prune_sparsity(g, NULL, SN_GRAN_WEIGHT, prunable, &zero, &total);
	const double after = rc ? -1 : accuracy(g, &test);
	if (!rc && after < 0) rc = -1;
	if (!rc) {
		meta.test_accuracy = after;   /* measured on TEST_IMAGES images only */
		rc = sn_model_save(g, &meta, NULL, argv[2]);
	}
	if (!rc)
		printf("pruned %zu of %zu weights (%.1f %%): accuracy %.2f %% -> %.2f %% on %d test images; saved %s\n", zero,
		       total, 100.0 * zero / (total ? total : 1), 100 * before, 100 * after, test.n, argv[2]);
	free(prunable);
	sn_dataset_free(&test);
	sn_graph_free(g);
	return rc ? fail("pruning") : 0;
}
