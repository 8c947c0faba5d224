/* slimnn export MODEL -o OUT.onnx: any slimnn model (architecture, .slim, .onnx) as ONNX. */
#include <string.h>
#include "cli.h"

static const char *HELP =
	"usage: slimnn export MODEL -o OUT.onnx\n\n"
	"Writes MODEL (an .arch, .slim or .onnx file) as an ONNX model, opset 13: one ONNX node per\n"
	"layer with the layer's name, the weights as float32 initializers, the batch dimension 'N'.\n"
	"Pruned weights are written as zeros (ONNX has no sparse weights); the model's metadata\n"
	"(data set, input normalisation, accuracy) goes into metadata_props. The file is written\n"
	"atomically. See docs/onnx.md for how each layer maps to ONNX.\n";

int cmd_export(int argc, char **argv)
{
	static const struct option opts[] = {{"output", 1, 0, 'o'}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
	const char *out = NULL;
	cli_reset_getopt();
	for (int ch; (ch = getopt_long(argc, argv, ":o:", opts, NULL)) != -1;) {
		switch (ch) {
		case 'h': fputs(HELP, stdout); return 0;
		case 'o': out = optarg; break;
		case ':': return cli_usage("export", "option %s needs a value", argv[optind - 1]);
		default: return cli_usage("export", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind != argc - 1) return cli_usage("export", "expected exactly one MODEL");
	if (!out) return cli_usage("export", "no output file: give -o OUT.onnx");
	sn_meta meta;
	sn_graph *g = sn_load_any(argv[optind], &meta);
	if (!g) return cli_fail();
	int rc = sn_onnx_save(g, &meta, out);
	sn_graph_free(g);
	if (rc) return cli_fail();
	printf("wrote %s\n", out);
	return 0;
}
