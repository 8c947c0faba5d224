/* slimnn quantize MODEL --data SPEC -o OUT.slim: post-training int8 quantization with
 * calibration, a per-layer report (parameters, SQNR) and accuracy float -> int8. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"

static const char *HELP =
	"usage: slimnn quantize MODEL -o OUT.slim [--data SPEC] [--calib N] [--calibration METHOD]\n"
	"                       [--percentile Q] [--per-tensor] [--keep-float LAYERS] [--max-drop P]\n"
	"                       [--limit N] [--batch B] [--threads T] [--json]\n\n"
	"Quantizes MODEL (.slim, .arch with weights, .onnx) to int8 after training: BatchNorm folded into\n"
	"the conv before it and ReLU/ReLU6 fused first; weights int8 symmetric per output channel;\n"
	"activations int8 asymmetric per tensor, their ranges calibrated on N training images of SPEC.\n"
	"Conv, Linear, pooling, Add, Concat and moves run in int8; other layers in float between a\n"
	"dequantize and a quantize. Prints each layer's output scale, zero point and SQNR against float\n"
	"(dB, on the first calibration batch), and the test accuracy of float and int8. See docs/quantize.md.\n\n"
	"  -o, --output F       the int8 model (.slim, written atomically)\n"
	"  --calib N            calibration images, spread evenly over the training split (default 512; 0: all)\n"
	"  --calibration M      minmax, percentile, mse (default) or entropy: how each range is chosen\n"
	"  --percentile Q       percentile's share of values kept (default 99.99)\n"
	"  --per-tensor         one weight scale per layer instead of one per output channel\n"
	"  --keep-float L1,L2   these layers stay float (names as `slimnn summary` prints them)\n"
	"  --max-drop P         at most P points of test accuracy lost: the layer that adds the most noise\n"
	"                       goes back to float, one at a time, until int8 is within P of float\n"
	"  --limit N            N images of each split (calibration and test)\n"
	"  --json               the report as one JSON object on stdout\n"
	"%s";

static double weight_bytes(const sn_graph *g, const sn_quantize_report *r, int int8)
{
	double b = 0;
	for (int i = 0; i < g->n_tensor; i++) {
		const sn_tensor *t = &g->tensor[i];
		if (t->kind != SN_TENSOR_PARAM) continue;
		const sn_quantize_row *row = NULL;
		for (int k = 0; k < r->n_rows; k++)
			if (r->rows[k].node == t->node) row = &r->rows[k];
		const int is_weight = g->node[t->node].t[SN_T_WEIGHT] == i;
		b += int8 && row && row->n_wscale && is_weight ? (double)t->n + 4.0 * row->n_wscale : 4.0 * t->n;
	}
	return b;
}

static void print_text(const sn_graph *h, const sn_quantize_report *r, const char *method, double fb, double qb)
{
	printf("%-24s %-18s %-5s %11s %5s %23s %21s %9s\n", "layer", "type", "runs", "scale", "zp", "calibrated range",
	       "weight scales", "SQNR dB");
	for (int k = 0; k < r->n_rows; k++) {
		const sn_quantize_row *w = &r->rows[k];
		const sn_node *n = &h->node[w->node];
		char range[48], ws[48] = "", db[16];
		snprintf(range, sizeof range, "[%.4g, %.4g]", w->range_lo, w->range_hi);
		if (w->n_wscale == 1) snprintf(ws, sizeof ws, "%.3g", w->wscale_min);
		else if (w->n_wscale) snprintf(ws, sizeof ws, "%.3g..%.3g", w->wscale_min, w->wscale_max);
		if (isinf(w->sqnr_db)) snprintf(db, sizeof db, "%s", w->sqnr_db > 0 ? "exact" : "-inf");
		else snprintf(db, sizeof db, "%.1f", w->sqnr_db);
		printf("%-24.24s %-18.18s %-5s %11.4g %5d %23s %21s %9s\n", n->name, sn_op_get(n->op)->torch, w->int8 ? "int8" : "float",
		       w->scale, (int)w->zero_point, range, ws, db);
	}
	printf("\n%d layers in int8, %d in float; calibration: %s over %d images\n", r->int8_layers, r->float_layers, method,
	       r->calib_images);
	printf("parameters: %.1f KB in float, %.1f KB with int8 weights (%.2fx smaller)\n", fb / 1024, qb / 1024, fb / qb);
	if (r->float_acc >= 0)
		printf("test accuracy (%d images): float %.2f%%, int8 %.2f%% (%+.2f points)%s\n", r->n_eval, 100 * r->float_acc,
		       100 * r->int8_acc, 100 * (r->int8_acc - r->float_acc), r->returned_to_float ? "" : "");
	if (r->returned_to_float) printf("--max-drop put %d layers back to float\n", r->returned_to_float);
}

static void print_json(const sn_graph *h, const sn_quantize_report *r, const char *method, double fb, double qb)
{
	printf("{\"calibration\": \"%s\", \"calib_images\": %d, \"int8_layers\": %d, \"float_layers\": %d, "
	       "\"returned_to_float\": %d, \"float_param_bytes\": %.0f, \"int8_param_bytes\": %.0f, \"eval_images\": %d, "
	       "\"float_accuracy\": %.6f, \"int8_accuracy\": %.6f, \"layers\": [",
	       method, r->calib_images, r->int8_layers, r->float_layers, r->returned_to_float, fb, qb, r->n_eval, r->float_acc,
	       r->int8_acc);
	for (int k = 0; k < r->n_rows; k++) {
		const sn_quantize_row *w = &r->rows[k];
		printf("%s{\"name\": ", k ? ", " : "");
		sn_json_str(stdout, h->node[w->node].name);
		printf(", \"int8\": %s, \"scale\": %.9g, \"zero_point\": %d, \"range\": [%.9g, %.9g], \"weight_scales\": %d, "
		       "\"sqnr_db\": ", w->int8 ? "true" : "false", w->scale, (int)w->zero_point, w->range_lo, w->range_hi,
		       w->n_wscale);
		if (isfinite(w->sqnr_db)) printf("%.3f}", w->sqnr_db);
		else printf("null}");
	}
	printf("]}\n");
}

int cmd_quantize(int argc, char **argv)
{
	enum { O_CALIB = 1100, O_METHOD, O_PCT, O_PER_TENSOR, O_KEEP, O_DROP };
	static const struct option opts[] = {{"data", 1, 0, 'd'}, {"output", 1, 0, 'o'}, {"calib", 1, 0, O_CALIB},
		{"calibration", 1, 0, O_METHOD}, {"percentile", 1, 0, O_PCT}, {"per-tensor", 0, 0, O_PER_TENSOR},
		{"keep-float", 1, 0, O_KEEP}, {"max-drop", 1, 0, O_DROP}, {"limit", 1, 0, 'l'}, {"batch", 1, 0, 'b'},
		{"threads", 1, 0, 't'}, {"json", 0, 0, 'j'}, {"help", 0, 0, 'h'}, CLI_DATA_OPTIONS, {0, 0, 0, 0}};
	const char *data = SN_FMNIST_DIR, *out = NULL, *method = "mse";
	sn_quantize_opts qo = sn_quantize_defaults();
	int limit = 0, threads = 0, json = 0, rc = 0;
	float f;
	cli_reset_getopt();
	for (int ch; !rc && (ch = getopt_long(argc, argv, ":o:", opts, NULL)) != -1;) {
		switch (ch) {
		case 'h': printf(HELP, CLI_DATA_HELP); return 0;
		case 'd': data = optarg; break;
		case 'o': out = optarg; break;
		case O_CALIB: rc = cli_int("quantize", "--calib", optarg, 0, 100000000, &qo.calib_images); break;
		case O_METHOD:
			if ((int)(qo.calibration = sn_calib_method_from_name(optarg)) < 0)
				return cli_usage("quantize", "unknown --calibration '%s'; use minmax, percentile, mse or entropy", optarg);
			method = optarg;
			break;
		case O_PCT: if (!(rc = cli_float("quantize", "--percentile", optarg, 50, 100, &f))) qo.percentile = f; break;
		case O_PER_TENSOR: qo.per_tensor = 1; break;
		case O_KEEP: qo.keep_float = optarg; break;
		case O_DROP: if (!(rc = cli_float("quantize", "--max-drop", optarg, 0, 100, &f))) qo.max_drop = f; break;
		case 'l': rc = cli_int("quantize", "--limit", optarg, 0, 100000000, &limit); break;
		case 'b': rc = cli_int("quantize", "--batch", optarg, 1, 65536, &qo.batch); break;
		case 't': rc = cli_int("quantize", "--threads", optarg, 1, 1024, &threads); break;
		case 'j': json = 1; break;
		CLI_DATA_CASES: rc = cli_data_flag("quantize", ch, optarg); break;
		case ':': return cli_usage("quantize", "option %s needs a value", argv[optind - 1]);
		default: return cli_usage("quantize", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (rc) return rc;
	if (optind != argc - 1) return cli_usage("quantize", "expected exactly one MODEL");
	if (!out) return cli_usage("quantize", "no output file: give -o OUT.slim");
	sn_set_threads(threads);
	sn_meta meta = {.test_accuracy = -1};
	sn_graph *g = sn_load_any(argv[optind], &meta), *h = NULL;
	if (!g) return cli_fail();
	if (!g->shapes_locked) {
		sn_graph_free(g);
		sn_seterr(SN_EINVAL, "'%s' is an architecture without trained weights; quantize a trained model (.slim or .onnx)",
		          argv[optind]);
		return cli_fail();
	}
	sn_dataset tr = {0}, te = {0};
	sn_quantize_report rep = {0};
	rc = cli_load_data(data, limit, g, &meta, 1, &tr, &te);
	if (!rc && !(h = sn_quantize(g, &tr, te.n ? &te : NULL, &qo, &rep))) rc = sn_errcode();
	if (!rc) {
		if (rep.int8_acc >= 0) meta.test_accuracy = rep.int8_acc;
		rc = sn_model_save(h, &meta, NULL, out);
	}
	if (!rc) {
		const double fb = weight_bytes(h, &rep, 0), qb = weight_bytes(h, &rep, 1);
		if (json) print_json(h, &rep, method, fb, qb);
		else {
			print_text(h, &rep, method, fb, qb);
			printf("wrote %s\n", out);
		}
	}
	sn_quantize_report_free(&rep);
	sn_dataset_free(&tr); sn_dataset_free(&te);
	sn_graph_free(h); sn_graph_free(g);
	return rc ? cli_fail() : 0;
}
