/* slimnn infer MODEL --input X.npy --output Y.npy: batch-first float32 in, logits out.
 * slimnn infer MODEL --input IMG|DIR: the top classes of each image, preprocessed as the model's
 * test images were (its stored resize and normalisation). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "cli.h"

static const char *HELP =
	"usage: slimnn infer MODEL --input X.npy --output Y.npy [--batch B] [--threads T]\n"
	"       slimnn infer MODEL --input IMAGE|FOLDER [--top K] [--json] [--output Y.npy]\n\n"
	"X is float32, batch first: [N, C, H, W], [N, C*H*W] or one sample [C, H, W]; it is fed to\n"
	"the network as is (normalise it as the model was trained: its mean and std, docs/infer.md).\n"
	"Y gets the network's outputs [N, K] (logits), written atomically.\n\n"
	"A .png/.jpg/.jpeg file, or a folder of them, is resized, cropped and normalised as the model's\n"
	"training data was (--resize, --mean, --std override what the model stores), and the K most\n"
	"probable classes of each image are printed with their names and softmax probabilities.\n"
	"  --top K       classes per image (default 5)\n"
	"  --json        one JSON object on stdout\n";

static int is_image(const char *path)
{
	const char *e = strrchr(path, '.');
	return !e || strcasecmp(e, ".npy");   /* anything but .npy: a folder or an image file */
}

/* Prints the top k of each row of logits z [n x classes] with the model's class names. */
static void print_top(char **paths, int n, const float *z, int classes, int k, const sn_meta *meta, int json)
{
	char buf[32];
	if (json) printf("{\"images\": [");
	for (int i = 0; i < n; i++) {
		const float *zi = z + (size_t)i * classes;
		double mx = zi[0], sum = 0;
		for (int j = 1; j < classes; j++) mx = fmax(mx, zi[j]);
		for (int j = 0; j < classes; j++) sum += exp(zi[j] - mx);
		if (json) {
			printf("%s{\"file\": ", i ? ", " : "");
			sn_json_str(stdout, paths[i]);
			printf(", \"top\": [");
		} else {
			printf("%s\n", paths[i]);
		}
		unsigned char *used = calloc((size_t)classes, 1);
		for (int r = 0; r < k && r < classes && used; r++) {
			int a = -1;
			for (int j = 0; j < classes; j++) if (!used[j] && (a < 0 || zi[j] > zi[a])) a = j;
			used[a] = 1;
			const char *name = sn_class_name(meta->classes == classes ? meta->names : NULL, classes, a, buf, sizeof buf);
			double p = exp(zi[a] - mx) / sum;
			if (json) {
				printf("%s{\"class\": %d, \"name\": ", r ? ", " : "", a);
				sn_json_str(stdout, name);
				printf(", \"probability\": %.6f}", p);
			} else {
				printf("  %2d. %-28s %6.2f%%  (class %d)\n", r + 1, name, 100 * p, a);
			}
		}
		free(used);
		if (json) printf("]}");
	}
	if (json) printf("]}\n");
}

static int infer_images(sn_graph *g, const sn_meta *meta, const char *input, const char *yout, int batch, int top,
                        int json);

static int run(sn_graph *g, const float *x, int n, int batch, float *y)
{
	size_t in = sn_shape_numel(sn_graph_input_shape(g)), out = sn_shape_numel(sn_graph_output_shape(g));
	int rc = sn_graph_plan(g, batch < n ? batch : n, 0);
	for (int s = 0; !rc && s < n; s += batch) {
		int k = n - s < batch ? n - s : batch;
		const float *z = sn_graph_forward(g, x + (size_t)s * in, k);
		if (!z) return sn_errcode();
		memcpy(y + (size_t)s * out, z, (size_t)k * out * sizeof *y);
	}
	return rc;
}

int cmd_infer(int argc, char **argv)
{
	static const struct option opts[] = {{"input", 1, 0, 'i'}, {"output", 1, 0, 'o'}, {"batch", 1, 0, 'b'},
		{"threads", 1, 0, 't'}, {"help", 0, 0, 'h'}, {"top", 1, 0, 'k'}, {"json", 0, 0, 'j'}, CLI_DATA_OPTIONS,
		{0, 0, 0, 0}};
	const char *xin = NULL, *yout = NULL;
	int batch = 64, threads = 0, rc = 0, top = 5, json = 0;
	cli_reset_getopt();
	for (int ch; !rc && (ch = getopt_long(argc, argv, ":i:o:", opts, NULL)) != -1;) {
		switch (ch) {
		case 'h': fputs(HELP, stdout); return 0;
		case 'i': xin = optarg; break;
		case 'o': yout = optarg; break;
		case 'b': rc = cli_int("infer", "--batch", optarg, 1, 65536, &batch); break;
		case 't': rc = cli_int("infer", "--threads", optarg, 1, 1024, &threads); break;
		case 'k': rc = cli_int("infer", "--top", optarg, 1, 1000000, &top); break;
		case 'j': json = 1; break;
		CLI_DATA_CASES: rc = cli_data_flag("infer", ch, optarg); break;
		case ':': return cli_usage("infer", "option %s needs a value", argv[optind - 1]);
		default: return cli_usage("infer", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (rc) return rc;
	if (optind != argc - 1) return cli_usage("infer", "expected exactly one MODEL");
	if (!xin) return cli_usage("infer", "no --input: give X.npy, an image or a folder of images");
	if (!is_image(xin) && !yout) return cli_usage("infer", "--input X.npy needs --output Y.npy");
	sn_set_threads(threads);
	sn_meta meta = {.test_accuracy = -1};
	sn_graph *g = sn_load_any(argv[optind], &meta);
	if (!g) return cli_fail();
	if (is_image(xin)) {
		rc = infer_images(g, &meta, xin, yout, batch, top, json);
		sn_graph_free(g);
		return rc ? cli_fail() : 0;
	}
	int ndim, dims[8];
	float *x = NULL, *y = NULL;
	if (sn_npy_read(xin, &ndim, dims, &x)) { sn_graph_free(g); return cli_fail(); }
	sn_shape in = sn_graph_input_shape(g), out = sn_graph_output_shape(g);
	size_t per = sn_shape_numel(in), total = 1;
	for (int i = 0; i < ndim; i++) total *= (size_t)dims[i];
	int n = ndim == 3 && total == per ? 1 : ndim >= 1 ? dims[0] : 0;
	if (n <= 0 || total != (size_t)n * per) {
		char s[64], d[128] = "";
		for (int i = 0; i < ndim; i++) snprintf(d + strlen(d), sizeof d - strlen(d), "%s%d", i ? ", " : "", dims[i]);
		rc = sn_seterr(SN_ESHAPE, "input '%s' has shape [%s] but the model expects %s (batch first)", xin, d,
		               sn_shape_str(in, s, sizeof s));
	}
	if (!rc && !(y = malloc((size_t)n * sn_shape_numel(out) * sizeof *y))) rc = sn_seterr(SN_ENOMEM, "out of memory");
	if (!rc) rc = run(g, x, n, batch, y);
	if (!rc) {
		int od[4] = {n, out.c, out.h, out.w};
		rc = sn_npy_write(yout, out.rank == 2 ? 2 : 4, od, y);
	}
	free(x); free(y);
	sn_graph_free(g);
	return rc ? cli_fail() : 0;
}

static int infer_images(sn_graph *g, const sn_meta *meta, const char *input, const char *yout, int batch, int top,
                        int json)
{
	sn_shape in = sn_graph_input_shape(g), out = sn_graph_output_shape(g);
	sn_norm norm;
	int resize;
	if (cli_image_prep(meta, in.c, &norm, &resize)) return EXIT_USAGE;
	char **paths = NULL;
	int n = 0, rc = sn_image_files(input, &paths, &n);
	if (rc) return rc;
	const size_t per = sn_shape_numel(in), classes = sn_shape_numel(out);
	float *x = malloc((size_t)n * per * sizeof *x), *y = malloc((size_t)n * classes * sizeof *y);
	if (!x || !y) rc = sn_seterr(SN_ENOMEM, "out of memory for %d images", n);
	for (int i = 0; !rc && i < n; i++) rc = sn_image_input(paths[i], in.c, in.h, in.w, resize, &norm, x + (size_t)i * per);
	if (!rc) rc = run(g, x, n, batch, y);
	if (!rc && yout) {
		int od[2] = {n, (int)classes};
		rc = sn_npy_write(yout, 2, od, y);
	}
	if (!rc) print_top(paths, n, y, (int)classes, top, meta, json);
	for (int i = 0; i < n; i++) free(paths[i]);
	free(paths);
	free(x);
	free(y);
	return rc;
}
