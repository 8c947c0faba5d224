/* slimnn eval MODEL [--data DIR] [--limit N] [--json]: accuracy, loss, confusion matrix. */
#include <stdlib.h>
#include <string.h>
#include "cli.h"

static const char *HELP =
	"usage: slimnn eval MODEL [--data SPEC] [--limit N] [--batch B] [--threads T] [--json]\n\n"
	"Test-set accuracy (top-1 and top-5), mean cross-entropy loss and the confusion matrix (rows: true\n"
	"class); with more than 20 classes, the most confused pairs instead of the matrix.\n"
	"%s"
	"  --limit N     N test images only (the first, or each class's share: docs/data.md)\n"
	"  --json        one JSON object on stdout\n";

#define MATRIX_MAX 20   /* classes up to which the whole confusion matrix is printed */
#define PAIRS 10        /* otherwise: this many most-confused pairs */

typedef struct { const char *names; int classes; } class_names;

static const char *cname(const class_names *cn, int k, char *buf, size_t len)
{
	return sn_class_name(cn->names, cn->classes, k, buf, len);
}

typedef struct { int t, p, n; } pair;

static int by_count(const void *a, const void *b)
{
	const pair *x = a, *y = b;
	if (x->n != y->n) return x->n < y->n ? 1 : -1;
	return x->t != y->t ? x->t - y->t : x->p - y->p;
}

/* The off-diagonal cells with the most images, largest first (at most max; returns how many). */
static int confused_pairs(const sn_eval_result *r, pair *out, int max)
{
	int n = 0, K = r->classes;
	for (int t = 0; t < K; t++)
		for (int p = 0; p < K; p++) {
			int v = r->confusion[(size_t)t * K + p];
			if (t == p || !v) continue;
			pair c = {t, p, v};
			if (n < max) out[n++] = c;
			else if (by_count(&c, &out[n - 1]) < 0) out[n - 1] = c;
			else continue;
			qsort(out, (size_t)n, sizeof *out, by_count);
		}
	return n;
}

static void print_text(const char *model, const sn_eval_result *r, const class_names *cn)
{
	const int K = r->classes;
	char b1[32], b2[32];
	printf("%s: test accuracy %.2f%% (%d images), top-5 %.2f%%, loss %.4f\n\n", model, 100 * r->accuracy, r->n,
	       100 * r->top5, r->loss);
	if (K > MATRIX_MAX) {
		pair p[PAIRS];
		int n = confused_pairs(r, p, PAIRS);
		printf("most confused pairs (true -> predicted: images)\n");
		for (int i = 0; i < n; i++) {
			printf("  %-24.24s -> %-24.24s %6d\n", cname(cn, p[i].t, b1, sizeof b1), cname(cn, p[i].p, b2, sizeof b2),
			       p[i].n);
		}
		return;
	}
	printf("confusion matrix (rows: true, columns: predicted)\n%12s", "");
	for (int j = 0; j < K; j++) printf(" %5d", j);
	printf("   recall\n");
	for (int i = 0; i < K; i++) {
		int tot = 0;
		printf("%-11.11s ", cname(cn, i, b1, sizeof b1));
		for (int j = 0; j < K; j++) {
			printf(" %5d", r->confusion[(size_t)i * K + j]);
			tot += r->confusion[(size_t)i * K + j];
		}
		printf("   %5.1f%%\n", tot ? 100.0 * r->confusion[(size_t)i * K + i] / tot : 0.0);
	}
}

static void print_json(const char *model, const sn_eval_result *r, const class_names *cn)
{
	const int K = r->classes;
	char b[32];
	printf("{\"model\": ");
	sn_json_str(stdout, model);
	printf(", \"samples\": %d, \"accuracy\": %.6f, \"top5\": %.6f, \"loss\": %.6f, \"classes\": [", r->n,
	       r->accuracy, r->top5, r->loss);
	for (int i = 0; i < K; i++) {
		printf("%s", i ? ", " : "");
		sn_json_str(stdout, cname(cn, i, b, sizeof b));
	}
	printf("], \"confusion\": [");
	for (int i = 0; i < K; i++) {
		printf("%s[", i ? ", " : "");
		for (int j = 0; j < K; j++) printf("%s%d", j ? ", " : "", r->confusion[(size_t)i * K + j]);
		printf("]");
	}
	printf("]}\n");
}

int cmd_eval(int argc, char **argv)
{
	static const struct option opts[] = {{"data", 1, 0, 'd'}, {"limit", 1, 0, 'l'}, {"batch", 1, 0, 'b'},
		{"threads", 1, 0, 't'}, {"json", 0, 0, 'j'}, {"help", 0, 0, 'h'}, CLI_DATA_OPTIONS, {0, 0, 0, 0}};
	const char *data = SN_FMNIST_DIR, *model = NULL;
	int limit = 0, batch = 256, threads = 0, json = 0, rc = 0;
	cli_reset_getopt();
	for (int ch; !rc && (ch = getopt_long(argc, argv, ":", opts, NULL)) != -1;) {
		switch (ch) {
		case 'h': printf(HELP, CLI_DATA_HELP); return 0;
		case 'd': data = optarg; break;
		case 'l': rc = cli_int("eval", "--limit", optarg, 0, 100000000, &limit); break;
		case 'b': rc = cli_int("eval", "--batch", optarg, 1, 65536, &batch); break;
		case 't': rc = cli_int("eval", "--threads", optarg, 1, 1024, &threads); break;
		case 'j': json = 1; break;
		CLI_DATA_CASES: rc = cli_data_flag("eval", ch, optarg); break;
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
	sn_eval_result r = {0};
	rc = cli_load_data(data, limit, g, &meta, 0, &tr, &te);
	if (!rc) rc = sn_evaluate(g, &te, batch, &r);
	if (!rc) {
		/* the model's class names (what it was trained on), else the data's */
		class_names cn = meta.classes == r.classes ? (class_names){meta.names, meta.classes}
		                                           : (class_names){te.names, te.classes};
		if (json) print_json(model, &r, &cn); else print_text(model, &r, &cn);
	}
	sn_eval_free(&r);
	sn_dataset_free(&tr); sn_dataset_free(&te);
	sn_graph_free(g);
	return rc ? cli_fail() : 0;
}
