/* slimnn export MODEL -o OUT.onnx: any slimnn model (architecture, .slim, .onnx) as ONNX.
 * slimnn export MODEL --format c -o DIR: dependency-free C for microcontrollers (src/codegen),
 * with a report of its flash and RAM against an optional budget. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "codegen/codegen.h"

static const char *HELP =
	"usage: slimnn export MODEL -o OUT.onnx\n"
	"       slimnn export MODEL --format c -o DIR [--prefix NAME] [--flash SIZE] [--ram SIZE] [--json]\n\n"
	"Writes MODEL (an .arch, .slim or .onnx file) as an ONNX model, opset 13: one ONNX node per\n"
	"layer with the layer's name, the weights as float32 initializers, the batch dimension 'N'.\n"
	"Pruned weights are written as zeros (ONNX has no sparse weights); the model's metadata\n"
	"(data set, input normalisation, accuracy) goes into metadata_props. The file is written\n"
	"atomically. See docs/onnx.md for how each layer maps to ONNX.\n\n"
	"--format c writes DIR/NAME.c and DIR/NAME.h: int NAME_run(const float *input, float *output)\n"
	"for one image, C99 for microcontrollers with no malloc, no I/O and nothing but <string.h> and\n"
	"<math.h>. BatchNorm is folded and ReLU fused first; each conv and Linear weight is a static\n"
	"const array in the smallest of dense, CSR (8- or 16-bit gaps) or bitmap + values, read by the\n"
	"kernels as it is (a pruned model takes the flash of its non-zero weights); every activation\n"
	"lives in one static arena laid out by lifetimes (NAME_ARENA_BYTES). Only the kernels the\n"
	"model uses are written. The report gives the flash of every constant, the arena against its\n"
	"lower bound (the most bytes live at one layer) and the mult-adds. See docs/deploy.md.\n"
	"  --format F      onnx (default) or c\n"
	"  -o, --output    the .onnx file, or the folder for the C files (made if missing)\n"
	"  --prefix NAME   what the files, functions and macros start with (model): two models with\n"
	"                  two prefixes link into one program\n"
	"  --flash SIZE    fail (exit 1, no files written) when the constants exceed SIZE bytes;\n"
	"                  SIZE takes K or M (1024-based): 256K\n"
	"  --ram SIZE      the same for the activation arena: 64K\n"
	"  --json          the report as one JSON object on stdout\n"
	"A quantized model (slimnn quantize) is exported in int8: NAME_run(const int8_t *input,\n"
	"int8_t *output), with NAME_INPUT_SCALE / _ZERO_POINT and NAME_OUTPUT_SCALE / _ZERO_POINT in\n"
	"NAME.h, the int8 layers computing slimnn's int8 arithmetic bit for bit (no float), weights a\n"
	"byte a value in the same three forms; layers kept in float run in float (an end kept in\n"
	"float takes or gives floats).\n";

enum { O_FORMAT = 1, O_PREFIX, O_FLASH, O_RAM, O_JSON };

/* "256K", "1M", "65536": bytes (K = 1024). */
static int parse_size(const char *flag, const char *s, size_t *out)
{
	char *end;
	const double v = strtod(s, &end);
	double unit = 1;
	if (*end == 'K' || *end == 'k') { unit = 1024; end++; }
	else if (*end == 'M' || *end == 'm') { unit = 1024.0 * 1024; end++; }
	if (*end == 'B' || *end == 'b') end++;
	if (end == s || *end || !(v > 0) || v * unit > 1e15)
		return cli_usage("export", "%s expects a size in bytes, with K or M (1024-based), e.g. 256K; got '%s'", flag, s);
	*out = (size_t)(v * unit);
	return 0;
}

/* The hidden test switch SLIMNN_EXPORT_FORM=dense|csr|bitmap forces every weight into one form. */
static int forced_form(sn_cg_force *f)
{
	const char *e = getenv("SLIMNN_EXPORT_FORM");
	*f = SN_CG_AUTO;
	if (!e || !*e) return 0;
	static const char *const names[] = {"dense", "csr", "bitmap"};
	for (int k = 0; k < 3; k++)
		if (!strcmp(e, names[k])) { *f = (sn_cg_force)k; return 0; }
	return cli_usage("export", "SLIMNN_EXPORT_FORM must be dense, csr or bitmap, got '%s'", e);
}

static void print_text(const sn_cg_result *r, const char *model, const char *prefix, size_t flash, size_t ram)
{
	char a[32], b[32], c[32];
	printf("C code for %s (prefix %s): %d layers, %s mult-adds an image (%s with every weight)\n\n", model, prefix,
	       r->layers, sn_thousands(r->macs, a), sn_thousands(r->macs_dense, b));
	printf("  %-40s %-7s %12s %12s %12s\n", "constant", "form", "values", "stored", "bytes");
	for (int t = 0; t < r->n_tensor; t++) {
		const sn_cg_tensor *e = &r->tensor[t];
		printf("  %-40s %-7s %12s %12s %12s\n", e->name, sn_cg_form_names[e->form], sn_thousands(e->values, a),
		       sn_thousands(e->stored, b), sn_thousands(e->bytes, c));
	}
	printf("\n  flash (constants)  %s bytes; dense storage would take %s (%.1f %%)\n", sn_thousands(r->flash_bytes, a),
	       sn_thousands(r->dense_flash_bytes, b), r->dense_flash_bytes ? 100.0 * r->flash_bytes / r->dense_flash_bytes : 0.0);
	printf("  RAM (arena)        %s bytes; lower bound %s (%.2fx)\n", sn_thousands(r->arena_bytes, a),
	       sn_thousands(r->arena_lower_bound, b), r->arena_lower_bound ? (double)r->arena_bytes / r->arena_lower_bound : 1.0);
	if (flash || ram) {
		printf("  budget            ");
		if (flash) printf(" flash %s: %s", sn_thousands(flash, a), r->flash_bytes <= flash ? "fits" : "OVER");
		if (ram) printf("%s RAM %s: %s", flash ? "," : "", sn_thousands(ram, b), r->arena_bytes <= ram ? "fits" : "OVER");
		printf("\n");
	}
}

static void print_json(const sn_cg_result *r, const char *dir, const char *prefix, size_t flash, size_t ram, int fits)
{
	printf("{\"format\": \"c\", \"dir\": ");
	sn_json_str(stdout, dir);
	printf(", \"prefix\": ");
	sn_json_str(stdout, prefix);
	printf(", \"layers\": %d, \"macs\": %llu, \"macs_dense\": %llu, \"tensors\": [", r->layers, (unsigned long long)r->macs,
	       (unsigned long long)r->macs_dense);
	for (int t = 0; t < r->n_tensor; t++) {
		const sn_cg_tensor *e = &r->tensor[t];
		printf("%s{\"name\": ", t ? ", " : "");
		sn_json_str(stdout, e->name);
		printf(", \"form\": \"%s\", \"values\": %zu, \"stored\": %zu, \"bytes\": %zu}", sn_cg_form_names[e->form], e->values,
		       e->stored, e->bytes);
	}
	printf("], \"flash_bytes\": %zu, \"dense_flash_bytes\": %zu, \"arena_bytes\": %zu, \"arena_lower_bound\": %zu, ",
	       r->flash_bytes, r->dense_flash_bytes, r->arena_bytes, r->arena_lower_bound);
	printf("\"budget\": {\"flash\": ");
	if (flash) printf("%zu", flash); else printf("null");
	printf(", \"ram\": ");
	if (ram) printf("%zu", ram); else printf("null");
	printf(", \"fits\": %s}}\n", fits ? "true" : "false");
}

static int export_c(const char *model, const char *dir, const char *prefix, size_t flash, size_t ram, int json)
{
	sn_cg_opts o = sn_cg_defaults();
	o.prefix = prefix;
	if (forced_form(&o.force)) return EXIT_USAGE;
	const char *base = strrchr(model, '/');
	o.source = base ? base + 1 : model;
	sn_meta meta;
	sn_graph *g = sn_load_any(model, &meta);
	if (!g) return cli_fail();
	sn_cg_result r;
	int rc = sn_cg_generate(g, &meta, &o, &r);
	sn_graph_free(g);
	if (rc) return cli_fail();
	const int fits = (!flash || r.flash_bytes <= flash) && (!ram || r.arena_bytes <= ram);
	if (json) print_json(&r, dir, prefix, flash, ram, fits);
	else print_text(&r, model, prefix, flash, ram);
	char a[32], b[32];
	if (!fits) {
		if (flash && r.flash_bytes > flash)
			fprintf(stderr, "slimnn: %s needs %s bytes of flash for its constants, over the --flash budget of %s; prune it "
			        "(slimnn prune --target 0.96) or give a larger part; nothing written\n", model,
			        sn_thousands(r.flash_bytes, a), sn_thousands(flash, b));
		if (ram && r.arena_bytes > ram)
			fprintf(stderr, "slimnn: %s needs %s bytes of RAM for its activations, over the --ram budget of %s; use a "
			        "smaller input or a lighter model (slimnn lighten); nothing written\n", model,
			        sn_thousands(r.arena_bytes, a), sn_thousands(ram, b));
		sn_cg_free(&r);
		return 1;
	}
	rc = sn_cg_write(&r, dir, prefix);
	sn_cg_free(&r);
	if (rc) return cli_fail();
	if (!json) printf("wrote %s/%s.c and %s/%s.h\n", dir, prefix, dir, prefix);
	return 0;
}

int cmd_export(int argc, char **argv)
{
	static const struct option opts[] = {{"output", 1, 0, 'o'}, {"format", 1, 0, O_FORMAT}, {"prefix", 1, 0, O_PREFIX},
	                                     {"flash", 1, 0, O_FLASH}, {"ram", 1, 0, O_RAM}, {"json", 0, 0, O_JSON},
	                                     {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
	const char *out = NULL, *format = "onnx", *prefix = NULL;
	size_t flash = 0, ram = 0;
	int json = 0, c_only = 0;
	cli_reset_getopt();
	for (int ch; (ch = getopt_long(argc, argv, ":o:", opts, NULL)) != -1;) {
		switch (ch) {
		case 'h': fputs(HELP, stdout); return 0;
		case 'o': out = optarg; break;
		case O_FORMAT: format = optarg; break;
		case O_PREFIX: prefix = optarg; c_only = 1; break;
		case O_FLASH: if (parse_size("--flash", optarg, &flash)) return EXIT_USAGE; c_only = 1; break;
		case O_RAM: if (parse_size("--ram", optarg, &ram)) return EXIT_USAGE; c_only = 1; break;
		case O_JSON: json = 1; c_only = 1; break;
		case ':': return cli_usage("export", "option %s needs a value", argv[optind - 1]);
		default: return cli_usage("export", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind != argc - 1) return cli_usage("export", "expected exactly one MODEL");
	const int c = !strcmp(format, "c");
	if (!c && strcmp(format, "onnx")) return cli_usage("export", "--format: unknown value '%s'; use onnx or c", format);
	if (!out) return cli_usage("export", c ? "no output folder: give -o DIR" : "no output file: give -o OUT.onnx");
	if (!c && c_only) return cli_usage("export", "--prefix, --flash, --ram and --json go with --format c");
	if (c) {
		if (prefix && !sn_cg_prefix_ok(prefix))
			return cli_usage("export", "--prefix must be a C identifier of at most 32 characters, got '%s'", prefix);
		return export_c(argv[optind], out, prefix ? prefix : "model", flash, ram, json);
	}
	sn_meta meta;
	sn_graph *g = sn_load_any(argv[optind], &meta);
	if (!g) return cli_fail();
	int rc = sn_onnx_save(g, &meta, out);
	sn_graph_free(g);
	if (rc) return cli_fail();
	printf("wrote %s\n", out);
	return 0;
}
