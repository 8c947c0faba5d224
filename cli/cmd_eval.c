/* slimnn eval MODEL [--data DIR] [--limit N] [--json]: accuracy, loss, confusion matrix. */
#include <stdlib.h>
#include <string.h>
#include "cli.h"

static const char *HELP =
	"usage: slimnn eval MODEL [--data DIR] [--limit N] [--batch B] [--threads T] [--json]\n\n"
	"Test-set accuracy, mean cross-entropy loss and the confusion matrix (rows: true class).\n"
	"  --data DIR    Fashion-MNIST IDX files (default " SN_FMNIST_DIR ")\n"
	"  --limit N     the first N test images only\n"
	"  --json        one JSON object on stdout\n";

static const char *CLASSES[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                  "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};

static void print_text(const char *model, const sn_eval_result *r, int classes)
{
	printf("%s: test accuracy %.2f%% (%d images), loss %.4f\n\nconfusion matrix (rows: true, columns: predicted)\n",
	       model, 100 * r->accuracy, r->n, r->loss);
	printf("%12s", "");
	for (int j = 0; j < classes; j++) printf(" %5d", j);
	printf("   recall\n");
	for (int i = 0; i < classes; i++) {
		int tot = 0;
		printf("%-11.11s ", i < 10 ? CLASSES[i] : "");
		for (int j = 0; j < classes; j++) { printf(" %5d", r->confusion[i][j]); tot += r->confusion[i][j]; }
		printf("   %5.1f%%\n", tot ? 100.0 * r->confusion[i][i] / tot : 0.0);
	}
}

static void print_json(const char *model, const sn_eval_result *r, int classes)
{
	printf("{\"model\": \"%s\", \"samples\": %d, \"accuracy\": %.6f, \"loss\": %.6f, \"confusion\": [", model, r->n,
	       r->accuracy, r->loss);
	for (int i = 0; i < classes; i++) {
		printf("%s[", i ? ", " : "");
		for (int j = 0; j < classes; j++) printf("%s%d", j ? ", " : "", r->confusion[i][j]);
		printf("]");
	}
	printf("]}\n");
}

int cmd_eval(int argc, char **argv)
{
	static const struct option opts[] = {{"data", 1, 0, 'd'}, {"limit", 1, 0, 'l'}, {"batch", 1, 0, 'b'},
		{"threads", 1, 0, 't'}, {"json", 0, 0, 'j'}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
	const char *data = SN_FMNIST_DIR, *model = NULL;
	int limit = 0, batch = 256, threads = 0, json = 0, rc = 0;
	cli_reset_getopt();
	for (int ch; !rc && (ch = getopt_long(argc, argv, ":", opts, NULL)) != -1;) {
		switch (ch) {
		case 'h': fputs(HELP, stdout); return 0;
		case 'd': data = optarg; break;
		case 'l': rc = cli_int("eval", "--limit", optarg, 0, 100000000, &limit); break;
		case 'b': rc = cli_int("eval", "--batch", optarg, 1, 65536, &batch); break;
		case 't': rc = cli_int("eval", "--threads", optarg, 1, 1024, &threads); break;
		case 'j': json = 1; break;
		case ':': return cli_usage("eval", "option %s needs a value", argv[optind - 1]);
		default: return cli_usage("eval", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (rc) return rc;
	if (optind != argc - 1) return cli_usage("eval", "expected exactly one MODEL");
	model = argv[optind];
	sn_set_threads(threads);
	sn_meta meta = {.test_accuracy = -1};
	sn_graph *g = sn_load_any(model, &meta);
	if (!g) return cli_fail();
	sn_dataset tr = {0}, te = {0};
	sn_eval_result r;
	rc = cli_load_data(data, limit, &meta, &tr, &te);
	if (!rc) rc = sn_evaluate(g, &te, batch, &r);
	if (!rc) {
		int classes = sn_graph_output_shape(g).c < 16 ? sn_graph_output_shape(g).c : 16;
		if (json) print_json(model, &r, classes); else print_text(model, &r, classes);
	}
	sn_dataset_free(&tr); sn_dataset_free(&te);
	sn_graph_free(g);
	return rc ? cli_fail() : 0;
}
