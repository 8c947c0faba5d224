/* Train a small CNN on Fashion-MNIST for a moment and save it as a .slim model file.
 *
 *   cc train_and_save.c $(pkg-config --cflags --libs slimnn) -o train_and_save
 *   ./train_and_save OUT.slim [ARCH [DATA]]
 *
 * ARCH is an architecture file (models/cnn.arch); without one the network below is built from
 * text. DATA is anything sn_data_open reads (IDX files, image folders, NumPy arrays, CIFAR
 * batches); without it, Fashion-MNIST where Debian's dataset-fashion-mnist puts it. The numbers
 * are small so that it runs in seconds: raise SAMPLES and EPOCHS for a real model (`slimnn
 * train` does the same with every option). */
#include <stdio.h>
#include <string.h>
#include <slimnn.h>

#define SAMPLES 1000   /* the first images of each split (0: all of them) */
#define EPOCHS 1

/* One layer a line, TYPE NAME key=value...; a layer reads the line above it (models/README.md). */
static const char *ARCH =
	"input   x     shape=1x28x28\n"
	"conv    c1    out=8 k=3 pad=1\n"
	"relu    r1\n"
	"maxpool p1    k=2\n"
	"conv    c2    out=16 k=3 pad=1 bias=0\n"
	"bn      bn2\n"
	"relu    r2\n"
	"maxpool p2    k=2\n"
	"flatten flat\n"
	"linear  fc    out=10\n";

/* Every slimnn call returns SN_OK (0) or a negative status (or NULL), and sn_errmsg() says why. */
static int fail(const char *what)
{
	fprintf(stderr, "train_and_save: %s: %s\n", what, sn_errmsg());
	return 1;
}

int main(int argc, char **argv)
{
	if (argc < 2 || argc > 4) {
		fprintf(stderr, "usage: %s OUT.slim [ARCH [DATA]]\n", argv[0]);
		return 2;
	}
	sn_graph *g = argc > 2 ? sn_arch_load(argv[2]) : sn_arch_parse(ARCH, "train_and_save.c");
	if (!g) return fail("architecture");
	sn_graph_init_params(g, 1);   /* PyTorch's default initialisation, from seed 1 */

	/* The data set as the model takes it: images converted and resized to its input shape. */
	sn_shape in = sn_graph_input_shape(g);
	sn_data_opts d = sn_data_defaults();
	d.c = in.c; d.h = in.h; d.w = in.w;
	d.limit = SAMPLES;
	sn_dataset train, test;
	if (sn_data_open(argc > 3 ? argv[3] : NULL, &d, &train, &test, NULL)) {
		sn_graph_free(g);
		return fail("data");
	}

	/* What the model file keeps besides the weights: the input normalisation it was trained
	 * with (eval and infer apply it to new inputs), the class names, and, from sn_train, the
	 * epochs run and the test accuracy. */
	sn_meta meta = {.test_accuracy = -1, .test_loss = -1, .norm = train.norm};
	snprintf(meta.dataset, sizeof meta.dataset, "%s", argc > 3 ? argv[3] : "fashion-mnist");
	size_t len = 0;
	for (int k = 0; train.names && k < train.classes; k++)   /* NUL-separated, as the data set has them */
		len += strlen(train.names + len) + 1;
	if (train.names && len <= sizeof meta.names) {
		memcpy(meta.names, train.names, len);
		meta.classes = train.classes;
	}

	sn_train_opts o = sn_train_defaults();   /* SGD with Nesterov momentum, one-cycle schedule */
	o.epochs = EPOCHS;
	o.batch = 64;
	o.progress = 0;                           /* no progress bar: one line per epoch on stdout */
	int rc = sn_train(g, &train, &test, &o, NULL, &meta);
	if (!rc) rc = sn_model_save(g, &meta, NULL, argv[1]);   /* atomically: no half-written files */
	if (!rc)
		printf("saved %s: %zu parameters, %d epoch(s), test accuracy %.2f %%\n", argv[1],
		       sn_graph_count(g, SN_TENSOR_PARAM, 0), meta.epochs, 100 * meta.test_accuracy);
	sn_dataset_free(&train);
	sn_dataset_free(&test);
	sn_graph_free(g);
	return rc ? fail("training") : 0;
}
