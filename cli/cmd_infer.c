/* slimnn infer MODEL --input X.npy --output Y.npy: batch-first float32 in, logits out. */
#include <stdlib.h>
#include <string.h>
#include "cli.h"

static const char *HELP =
	"usage: slimnn infer MODEL --input X.npy --output Y.npy [--batch B] [--threads T]\n\n"
	"X is float32, batch first: [N, C, H, W], [N, C*H*W] or one sample [C, H, W]; it is fed to\n"
	"the network as is (normalise it as the model was trained: see 'slimnn summary').\n"
	"Y gets the network's outputs [N, K] (logits), written atomically.\n";

static int run(sn_graph *g, const float *x, int n, int batch, float *y)
{
	size_t in = sn_shape_numel(sn_graph_input_shape(g)), out = sn_shape_numel(sn_graph_output_shape(g));
	int rc = sn_graph_plan(g, batch < n ? batch : n, 0);
	for (int s = 0; !rc && s < n; s += batch) {
		int k = n - s < batch ? n - s : batch;
		const float *z = sn_graph_forward(g, x + (size_t)s * in, k);
		memcpy(y + (size_t)s * out, z, (size_t)k * out * sizeof *y);
	}
	return rc;
}

int cmd_infer(int argc, char **argv)
{
	static const struct option opts[] = {{"input", 1, 0, 'i'}, {"output", 1, 0, 'o'}, {"batch", 1, 0, 'b'},
		{"threads", 1, 0, 't'}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
	const char *xin = NULL, *yout = NULL;
	int batch = 64, threads = 0, rc = 0;
	cli_reset_getopt();
	for (int ch; !rc && (ch = getopt_long(argc, argv, ":i:o:", opts, NULL)) != -1;) {
		switch (ch) {
		case 'h': fputs(HELP, stdout); return 0;
		case 'i': xin = optarg; break;
		case 'o': yout = optarg; break;
		case 'b': rc = cli_int("infer", "--batch", optarg, 1, 65536, &batch); break;
		case 't': rc = cli_int("infer", "--threads", optarg, 1, 1024, &threads); break;
		case ':': return cli_usage("infer", "option %s needs a value", argv[optind - 1]);
		default: return cli_usage("infer", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (rc) return rc;
	if (optind != argc - 1) return cli_usage("infer", "expected exactly one MODEL");
	if (!xin || !yout) return cli_usage("infer", "both --input X.npy and --output Y.npy are required");
	sn_set_threads(threads);
	sn_graph *g = sn_load_any(argv[optind], NULL);
	if (!g) return cli_fail();
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
