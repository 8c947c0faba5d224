/* slimnn summary MODEL [B] [--input CxHxW] [--batch N] [--macs] [--json]
 * One model: torchsummary's table. Two models: side by side with reduction ratios. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "cli.h"

static const char *HELP =
	"usage: slimnn summary MODEL [MODEL_B] [--input CxHxW] [--batch N] [--macs] [--json]\n\n"
	"Prints torchsummary's table (layer, output shape, param #, totals, size estimates).\n"
	"  --input CxHxW   run the architecture on another input shape\n"
	"  --batch N       show shapes and sizes for batch N (default -1, as torchsummary)\n"
	"  --macs          extra columns: kernel, mult-adds (torchinfo's count), sparsity; and\n"
	"                  totals for non-zero parameters and mult-adds\n"
	"  --json          the whole report as one JSON object\n"
	"With two models: params, non-zero params, mult-adds, file bytes and accuracy side by side,\n"
	"with the reduction ratio of each.\n";

typedef struct {
	const char *path;
	sn_graph *g;
	sn_meta meta;
	sn_summary s;
	long bytes;                       /* on disk, -1 for architecture files */
} model_info;

static int load(model_info *m, const char *path, int c, int h, int w, int batch)
{
	m->path = path;
	m->meta = (sn_meta){.test_accuracy = -1};
	m->g = sn_load_any(path, &m->meta);
	if (!m->g) return -1;
	if (c && sn_graph_set_input(m->g, c, h, w)) return -1;
	struct stat st;
	m->bytes = m->meta.epochs || m->meta.test_accuracy >= 0 ? (stat(path, &st) ? -1 : (long)st.st_size) : -1;
	return sn_summarize(m->g, batch, &m->s);
}

static void compare_line(const char *what, uint64_t a, uint64_t b)
{
	char sa[32], sb[32];
	sn_thousands(a, sa);
	sn_thousands(b, sb);
	if (b > 0) printf("%-18s %14s → %-14s (%.2f×)\n", what, sa, sb, (double)a / b);
	else printf("%-18s %14s → %-14s\n", what, sa, sb);
}

static void compare(const model_info *a, const model_info *b)
{
	printf("A: %s\nB: %s\n\n", a->path, b->path);
	compare_line("params", a->s.params, b->s.params);
	/* non-zero counts matter once a model is sparse (pruned); dense ones only repeat params */
	int sparse = a->s.nonzero < 0.99 * a->s.params || b->s.nonzero < 0.99 * b->s.params;
	if (sparse) compare_line("non-zero params", a->s.nonzero, b->s.nonzero);
	compare_line("mult-adds", a->s.macs, b->s.macs);
	if (sparse) compare_line("non-zero mult-adds", a->s.macs_nonzero, b->s.macs_nonzero);
	if (a->bytes >= 0 && b->bytes >= 0) compare_line("file bytes", (uint64_t)a->bytes, (uint64_t)b->bytes);
	if (a->meta.test_accuracy >= 0 && b->meta.test_accuracy >= 0)
		printf("%-18s %13.2f%% → %.2f%% (%+.2f points)\n", "test accuracy", 100 * a->meta.test_accuracy,
		       100 * b->meta.test_accuracy, 100 * (b->meta.test_accuracy - a->meta.test_accuracy));
}

int cmd_summary(int argc, char **argv)
{
	static const struct option opts[] = {{"input", 1, 0, 'i'}, {"batch", 1, 0, 'b'}, {"macs", 0, 0, 'm'},
		{"json", 0, 0, 'j'}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
	int c = 0, h = 0, w = 0, batch = -1, macs = 0, json = 0, rc = 0;
	cli_reset_getopt();
	for (int ch; !rc && (ch = getopt_long(argc, argv, ":", opts, NULL)) != -1;) {
		switch (ch) {
		case 'h': fputs(HELP, stdout); return 0;
		case 'i': rc = cli_shape("summary", "--input", optarg, &c, &h, &w); break;
		case 'b': rc = cli_int("summary", "--batch", optarg, 1, 1 << 20, &batch); break;
		case 'm': macs = 1; break;
		case 'j': json = 1; break;
		case ':': return cli_usage("summary", "option %s needs a value", argv[optind - 1]);
		default: return cli_usage("summary", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (rc) return rc;
	int n = argc - optind;
	if (n < 1 || n > 2) return cli_usage("summary", "expected one MODEL, or two to compare");
	model_info m[2] = {0};
	for (int i = 0; i < n && !rc; i++) rc = load(&m[i], argv[optind + i], c, h, w, batch);
	if (rc) rc = cli_fail();
	else if (n == 2 && json) {
		printf("{\"a\": ");
		sn_summary_json(stdout, &m[0].s, m[0].path, &m[0].meta, m[0].bytes);
		printf(", \"b\": ");
		sn_summary_json(stdout, &m[1].s, m[1].path, &m[1].meta, m[1].bytes);
		printf("}\n");
	} else if (n == 2) {
		compare(&m[0], &m[1]);
	} else if (json) {
		sn_summary_json(stdout, &m[0].s, m[0].path, &m[0].meta, m[0].bytes);
	} else {
		sn_summary_print(stdout, &m[0].s, macs ? SN_SUMMARY_MACS : 0);
		if (m[0].bytes >= 0) {
			char a[32], b[32];
			/* dense = every parameter and buffer as a 4-byte float, what an unpruned file holds */
			printf("Model file size (bytes): %s as stored, %s dense\n", sn_thousands((uint64_t)m[0].bytes, a),
			       sn_thousands(4 * (uint64_t)(m[0].s.params + m[0].s.buffers), b));
		}
		if (m[0].meta.test_accuracy >= 0)
			printf("Test accuracy: %.2f%% (%s, %d epochs)\n", 100 * m[0].meta.test_accuracy, m[0].meta.dataset, m[0].meta.epochs);
	}
	for (int i = 0; i < n; i++) { sn_summary_free(&m[i].s); sn_graph_free(m[i].g); }
	return rc;
}
