/* Writes the seed corpus of the .slim fuzz target: small models from architecture files, saved
 * plain, with pruning masks (sparse storage), with a training state and quantized to int8, into DIR.
 *   make_seeds DIR models/cnn.arch models/resnet.arch ... */
#include <stdio.h>
#include <stdlib.h>
#include "slimnn.h"

/* g quantized to int8, calibrated on 8 random images of its input shape (NULL on failure) */
static sn_graph *int8_of(const sn_graph *g)
{
	const sn_shape in = sn_graph_input_shape(g);
	const size_t px = (size_t)in.c * in.h * in.w;
	sn_dataset d = {.n = 8, .c = in.c, .h = in.h, .w = in.w, .classes = 1, .norm = {.c = 1, .mean = {0.5f}, .std = {0.25f}}};
	d.images = malloc(8 * px);
	d.labels = calloc(8, sizeof *d.labels);
	sn_graph *h = NULL;
	if (d.images && d.labels) {
		for (size_t k = 0; k < 8 * px; k++) d.images[k] = (uint8_t)(k * 2654435761u >> 24);
		sn_quantize_opts o = sn_quantize_defaults();
		o.calibration = SN_CALIB_MINMAX;
		o.batch = 8;
		h = sn_quantize(g, &d, NULL, &o, NULL);
	}
	sn_dataset_free(&d);
	return h;
}

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
		sn_graph *h = int8_of(g);
		snprintf(path, sizeof path, "%s/seed-%d-int8.slim", argv[1], i);
		if (!h || sn_model_save(h, &meta, NULL, path)) { fprintf(stderr, "%s\n", sn_errmsg()); return 1; }
		written++;
		sn_graph_free(h);
		sn_graph_free(g);
	}
	printf("%d seed models in %s\n", written, argv[1]);
	return 0;
}
