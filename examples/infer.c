/* Classify an image (or the samples of a .npy file) with a model and print the top classes.
 *
 *   cc infer.c $(pkg-config --cflags --libs slimnn) -o infer
 *   ./infer MODEL INPUT [K]
 *
 * MODEL is a .slim model file, an ONNX model or an architecture (sn_load_any tells them apart).
 * INPUT is a PNG or JPEG image, preprocessed as the model's test images were (resized, centre-
 * cropped, normalised with what the model file stores), or a float32 .npy of samples shaped
 * like the model's input ([N, C, H, W] or one [C, H, W]), fed as they are. K: classes shown (3). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <slimnn.h>

static int fail(const char *what)
{
	fprintf(stderr, "infer: %s: %s\n", what, sn_errmsg());
	return 1;
}

/* Reads INPUT into *x: n samples of the model's input shape. */
static int read_input(const char *path, sn_shape in, const sn_meta *meta, float **x, int *n)
{
	const size_t per = sn_shape_numel(in);
	const char *dot = strrchr(path, '.');
	if (dot && !strcmp(dot, ".npy")) {
		int ndim, dims[8];
		if (sn_npy_read(path, &ndim, dims, x)) return -1;
		size_t total = 1;
		for (int i = 0; i < ndim; i++) total *= (size_t)dims[i];
		*n = (int)(total / per);
		if (*n == 0 || total % per) {
			fprintf(stderr, "infer: %s holds %zu values, not samples of %zu\n", path, total, per);
			free(*x);
			return -1;
		}
		return 0;
	}
	/* An image: the normalisation the model was trained with, or pixels / 255 if it stores none. */
	sn_norm norm = meta->norm.c > 0 ? meta->norm : (sn_norm){.c = 1, .mean = {0}, .std = {1}};
	if (!(*x = malloc(per * sizeof **x))) return -1;
	*n = 1;
	if (sn_image_input(path, in.c, in.h, in.w, meta->resize, &norm, *x)) {
		free(*x);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 3 || argc > 4) {
		fprintf(stderr, "usage: %s MODEL INPUT [K]\n", argv[0]);
		return 2;
	}
	const int k = argc > 3 ? atoi(argv[3]) : 3;
	sn_meta meta;
	sn_graph *g = sn_load_any(argv[1], &meta);
	if (!g) return fail("model");
	const sn_shape in = sn_graph_input_shape(g);
	const int classes = (int)sn_shape_numel(sn_graph_output_shape(g));
	float *x;
	int n;
	if (read_input(argv[2], in, &meta, &x, &n)) {
		sn_graph_free(g);
		return fail("input");
	}

	/* A plan runs the model: its arena, sized once here for a batch of n in inference mode (flags
	 * 0), holds the activations, and the outputs (logits) stay valid until its next pass. The
	 * model itself is only read: threads that share it each take a plan of their own. */
	sn_plan *p = sn_plan_new(g);
	const float *z = p && !sn_plan_reshape(p, n, 0) ? sn_plan_forward(p, x, n) : NULL;
	if (z)
		for (int i = 0; i < n; i++, z += classes) {
			printf("sample %d\n", i);
			unsigned char shown[4096] = {0};   /* the classes printed so far (the first 4096) */
			for (int r = 0; r < k && r < classes && r < (int)sizeof shown; r++) {
				int best = -1;
				for (int j = 0; j < classes && j < (int)sizeof shown; j++)
					if (!shown[j] && (best < 0 || z[j] > z[best])) best = j;
				shown[best] = 1;
				char buf[32];
				const char *name = sn_class_name(meta.classes == classes ? meta.names : NULL, classes, best, buf,
				                                 sizeof buf);
				printf("  %d. %-16s score %8.3f  (class %d)\n", r + 1, name, z[best], best);
			}
		}
	free(x);
	sn_plan_free(p);   /* plans go before their model */
	sn_graph_free(g);
	return z ? 0 : fail("inference");
}
