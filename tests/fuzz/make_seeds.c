/* Writes the seed corpus of the .slim fuzz target: small models from architecture files, saved
 * plain, with pruning masks (sparse storage) and with a training state, into DIR.
 *   make_seeds DIR models/cnn.arch models/resnet.arch ... */
#include <stdio.h>
#include <stdlib.h>
#include "slimnn.h"

int main(int argc, char **argv)
{
	if (argc < 3) { fprintf(stderr, "usage: %s DIR ARCH...\n", argv[0]); return 2; }
	int written = 0;
	for (int i = 2; i < argc; i++) {
		sn_graph *g = sn_arch_load(argv[i]);
		if (!g) { fprintf(stderr, "%s\n", sn_errmsg()); return 1; }
		sn_graph_init_params(g, (uint64_t)i);
		sn_meta meta = {.dataset = "fashion-mnist", .epochs = 1, .test_accuracy = 0.5, .norm = {.c = 1, .mean = {0.3f}, .std = {0.35f}},
		                .resize = 28, .classes = 2, .names = "cat\0dog"};
		unsigned char *prunable = calloc((size_t)g->n_node, 1);
		float *m = calloc(g->n_w ? g->n_w : 1, sizeof *m), *v = calloc(g->n_w ? g->n_w : 1, sizeof *v);
		sn_train_state st = {.present = 1, .epoch = 1, .step = 7, .opt_m = m, .opt_v = v};
		char path[1024];
		for (int variant = 0; variant < 3 && prunable && m && v; variant++) {
			if (variant == 1 && (sn_prune_select(g, SN_GRAN_WEIGHT, "none", prunable) ||
			                     sn_prune_weights(g, prunable, SN_SCOPE_GLOBAL, 0.8f)))
				break;
			snprintf(path, sizeof path, "%s/seed-%d-%d.slim", argv[1], i, variant);
			if (sn_model_save(g, &meta, variant == 2 ? &st : NULL, path)) { fprintf(stderr, "%s\n", sn_errmsg()); return 1; }
			written++;
		}
		free(prunable); free(m); free(v);
		sn_graph_free(g);
	}
	printf("%d seed models in %s\n", written, argv[1]);
	return 0;
}
