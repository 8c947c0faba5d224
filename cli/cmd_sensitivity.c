/* slimnn sensitivity MODEL [--data DIR] [options]
 * Each prunable layer (each coupled group of channels) pruned alone at each level, with no
 * fine-tuning, and the test accuracy measured: a table, a CSV and a plot. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli.h"
#include "plot.h"

static const char *HELP =
	"usage: slimnn sensitivity MODEL [--data DIR] [options]\n\n"
	"Prunes each prunable layer of MODEL alone (for filter and neuron granularity: each coupled\n"
	"group of channels, e.g. all branches of a residual Add) at each level, without fine-tuning,\n"
	"and measures the test accuracy: the layers that lose little can be pruned hard. Prints the\n"
	"accuracy and its drop per layer and level; slimnn prune --from-sensitivity CSV --max-drop P\n"
	"turns the CSV into per-layer targets. docs/prune.md explains it.\n\n"
	"  --granularity G       weight | block | filter (alias channel) | neuron (default weight)\n"
	"  --criterion C         l1 | l2 | bn (filter, neuron) | taylor (default l1)\n"
	"  --block N             output channels per block (block granularity; default 4)\n"
	"  --taylor-batches N    training batches per Taylor estimate (default 16)\n"
	"  --levels L            fractions of each layer's units pruned, ascending, in [0, 1)\n"
	"                        (default 0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9)\n"
	"  --ignore A,B          layers left alone (default: the first conv and the classifier);\n"
	"                        'none' measures them all\n"
	"  --limit N             use N images of each split (quick runs; docs/data.md)\n"
	"  --csv OUT.csv         the table, one row per layer and level (written atomically)\n"
	"  --plot OUT.svg|.png   accuracy vs sparsity, one line per layer (PNG needs gnuplot)\n"
	"  --json                the table as one JSON object on stdout\n"
	"%s"
	"  --seed S              seed of the Taylor batches (default 1)\n"
	"  --threads T           threads (default: all cores)\n"
	"  --quiet               no progress on stderr\n";

enum { MAX_LEVELS = 100 };

typedef struct {
	const char *model, *data, *csv, *plot;
	int json, quiet, limit, threads, have_block, have_taylor;
	float levels[MAX_LEVELS];
	sn_sens_opts o;
} sens_cli;

enum { O_DATA = 256, O_GRAN, O_CRIT, O_BLOCK, O_TAYLOR, O_LEVELS, O_IGNORE, O_LIMIT, O_CSV, O_PLOT, O_JSON, O_SEED,
	O_THREADS, O_QUIET, O_HELP };

static const struct option opts[] = {
	{"data", 1, 0, O_DATA}, {"granularity", 1, 0, O_GRAN}, {"criterion", 1, 0, O_CRIT}, {"block", 1, 0, O_BLOCK},
	{"taylor-batches", 1, 0, O_TAYLOR}, {"levels", 1, 0, O_LEVELS}, {"ignore", 1, 0, O_IGNORE},
	{"limit", 1, 0, O_LIMIT}, {"csv", 1, 0, O_CSV}, {"plot", 1, 0, O_PLOT}, {"json", 0, 0, O_JSON},
	{"seed", 1, 0, O_SEED}, {"threads", 1, 0, O_THREADS}, {"quiet", 0, 0, O_QUIET}, {"help", 0, 0, O_HELP},
	CLI_DATA_OPTIONS, {0, 0, 0, 0}};

/* "0.1,0.2,0.5": ascending fractions in [0, 1). */
static int parse_levels(const char *s, sens_cli *c)
{
	int n = 0;
	for (const char *p = s;; p++) {
		char *end;
		errno = 0;
		double v = strtod(p, &end);
		if (errno || end == p || (*end && *end != ',') || !(v >= 0 && v < 1))
			return cli_usage("sensitivity", "--levels expects fractions in [0, 1) separated by commas, got '%s'", s);
		if (n == MAX_LEVELS) return cli_usage("sensitivity", "--levels takes at most %d levels", MAX_LEVELS);
		if (n && !(v > c->levels[n - 1]))
			return cli_usage("sensitivity", "--levels must ascend, got %g after %g", v, c->levels[n - 1]);
		c->levels[n++] = (float)v;
		if (!*end) break;
		p = end;
	}
	c->o.levels = c->levels;
	c->o.n_levels = n;
	return 0;
}

static int parse_name(const char *flag, const char *s, int (*parse)(const char *), int *out)
{
	if ((*out = parse(s)) < 0) return cli_usage("sensitivity", "%s: unknown value '%s'", flag, s);
	return 0;
}

static int parse_opt(int ch, sens_cli *c)
{
	int v = 0, rc;
	sn_prune_opts *p = &c->o.prune;
	switch (ch) {
	case O_DATA: c->data = optarg; return 0;
	case O_GRAN: rc = parse_name("--granularity", optarg, sn_granularity_parse, &v); p->granularity = v; return rc;
	case O_CRIT: rc = parse_name("--criterion", optarg, sn_criterion_parse, &v); p->criterion = v; return rc;
	case O_BLOCK: c->have_block = 1; return cli_int("sensitivity", "--block", optarg, 1, 4096, &p->block);
	case O_TAYLOR: c->have_taylor = 1; return cli_int("sensitivity", "--taylor-batches", optarg, 1, 100000, &p->taylor_batches);
	case O_LEVELS: return parse_levels(optarg, c);
	case O_IGNORE: p->ignore = optarg; return 0;
	case O_LIMIT: return cli_int("sensitivity", "--limit", optarg, 0, 100000000, &c->limit);
	case O_CSV: c->csv = optarg; return 0;
	case O_PLOT: c->plot = optarg; return 0;
	case O_JSON: c->json = 1; return 0;
	case O_SEED: rc = cli_int("sensitivity", "--seed", optarg, 0, 2147483647, &v); p->train.seed = (uint64_t)v; return rc;
	case O_THREADS: return cli_int("sensitivity", "--threads", optarg, 1, 1024, &c->threads);
	case O_QUIET: c->quiet = 1; return 0;
	CLI_DATA_CASES: return cli_data_flag("sensitivity", ch, optarg);
	}
	return -1;
}

static int parse(int argc, char **argv, sens_cli *c)
{
	int rc = 0;
	cli_reset_getopt();
	for (int ch; !rc && (ch = getopt_long(argc, argv, ":", opts, NULL)) != -1;) {
		if (ch == O_HELP) { printf(HELP, CLI_DATA_HELP); exit(0); }
		if (ch == ':') return cli_usage("sensitivity", "option %s needs a value", argv[optind - 1]);
		if (ch == '?') return cli_usage("sensitivity", "unknown option '%s'", argv[optind - 1]);
		rc = parse_opt(ch, c);
	}
	if (rc) return rc;
	for (int i = optind; i < argc; i++) {
		if (c->model) return cli_usage("sensitivity", "one MODEL expected, got '%s' and '%s'", c->model, argv[i]);
		c->model = argv[i];
	}
	const sn_prune_opts *p = &c->o.prune;
	if (!c->model) return cli_usage("sensitivity", "no MODEL given");
	if (c->plot && !plot_format_known(c->plot))
		return cli_usage("sensitivity", "--plot writes .svg or .png, got '%s'", c->plot);
	if (p->criterion == SN_CRIT_BN && sn_granularity_masks(p->granularity))
		return cli_usage("sensitivity", "--criterion bn ranks channels: use it with --granularity filter or neuron");
	if (c->have_block && p->granularity != SN_GRAN_BLOCK)
		return cli_usage("sensitivity", "--block sets the size of a block: use it with --granularity block");
	if (c->have_taylor && p->criterion != SN_CRIT_TAYLOR)
		return cli_usage("sensitivity", "--taylor-batches sets how the Taylor scores are estimated: use it with --criterion taylor");
	return 0;
}

/* ---------------------------------------------------------------- output */

static const char *unit_word(sn_granularity g)
{
	switch (g) {
	case SN_GRAN_FILTER: return "channels";
	case SN_GRAN_NEURON: return "neurons";
	case SN_GRAN_BLOCK: return "blocks";
	default: return "weights";
	}
}

static double acc_at(const sn_sensitivity *s, int k, int l) { return s->accuracy[(size_t)k * s->n_levels + l]; }
static double sparsity_at(const sn_sensitivity *s, int k, int l)
{
	const size_t units = s->layers[k].units;
	return units ? (double)s->pruned[(size_t)k * s->n_levels + l] / units : 0.0;
}

static int name_width(const sn_sensitivity *s)
{
	int w = 5;
	for (int k = 0; k < s->n_layers; k++)
		if ((int)strlen(s->layers[k].layer) > w) w = (int)strlen(s->layers[k].layer);
	return w;
}

/* One table: a row per layer, a column per level; drop: points below the baseline. */
static void print_table(FILE *f, const sn_sensitivity *s, int drop)
{
	const int w = name_width(s);
	char buf[32];
	fprintf(f, "%-*s %11s", w, "layer", unit_word(s->granularity));
	for (int l = 0; l < s->n_levels; l++) {
		const double pct = 100.0 * s->levels[l];
		fprintf(f, " %6.*f%%", fabs(pct - round(pct)) < 1e-4 ? 0 : 1, pct);
	}
	fputc('\n', f);
	for (int k = 0; k < s->n_layers; k++) {
		fprintf(f, "%-*s %11s", w, s->layers[k].layer, sn_thousands(s->layers[k].units, buf));
		for (int l = 0; l < s->n_levels; l++)
			fprintf(f, " %7.2f", drop ? 100 * (s->baseline - acc_at(s, k, l)) : 100 * acc_at(s, k, l));
		fputc('\n', f);
	}
}

static void print_text(FILE *f, const sens_cli *c, const sn_sensitivity *s)
{
	char buf[32];
	fprintf(f, "sensitivity of %s: %s granularity, %s, %s test images, baseline %.2f%%\n", c->model,
	        sn_granularity_name(s->granularity), sn_criterion_name(s->criterion), sn_thousands((uint64_t)s->images, buf),
	        100 * s->baseline);
	fprintf(f, "\ntest accuracy (%%) with one layer pruned alone, no fine-tuning, by the fraction of its %s pruned\n",
	        unit_word(s->granularity));
	print_table(f, s, 0);
	fprintf(f, "\ndrop (points below %.2f%%)\n", 100 * s->baseline);
	print_table(f, s, 1);
	int shown = 0;
	for (int k = 0; k < s->n_layers; k++) {
		if (!strcmp(s->layers[k].members, s->layers[k].layer)) continue;
		if (!shown++) fprintf(f, "\ngroups (these layers make the same channels and lose them together)\n");
		fprintf(f, "  %s: %s\n", s->layers[k].layer, s->layers[k].members);
	}
}

static void json_list(FILE *f, const char *key, const sn_sensitivity *s, int k, int what)
{
	fprintf(f, ", \"%s\": [", key);
	for (int l = 0; l < s->n_levels; l++) {
		const double acc = acc_at(s, k, l);
		if (l) fputs(", ", f);
		if (what == 0) fprintf(f, "%zu", s->pruned[(size_t)k * s->n_levels + l]);
		else if (what == 1) fprintf(f, "%.6f", sparsity_at(s, k, l));
		else if (what == 2) fprintf(f, "%.6f", acc);
		else fprintf(f, "%.4f", 100 * (s->baseline - acc));
	}
	fputc(']', f);
}

static void json_members(FILE *f, const char *members)
{
	fputs(", \"members\": [", f);
	for (const char *p = members; *p;) {
		size_t n = strcspn(p, " ");
		char name[SN_NAME_MAX];
		snprintf(name, sizeof name, "%.*s", (int)n, p);
		if (p != members) fputs(", ", f);
		sn_json_str(f, name);
		p += n + (p[n] == ' ');
	}
	fputc(']', f);
}

static void print_json(FILE *f, const sens_cli *c, const sn_sensitivity *s)
{
	fputs("{\"model\": ", f);
	sn_json_str(f, c->model);
	fprintf(f, ", \"granularity\": \"%s\", \"criterion\": \"%s\", \"images\": %d, \"baseline\": %.6f, \"levels\": [",
	        sn_granularity_name(s->granularity), sn_criterion_name(s->criterion), s->images, s->baseline);
	for (int l = 0; l < s->n_levels; l++) fprintf(f, "%s%.6g", l ? ", " : "", s->levels[l]);
	fputs("], \"layers\": [", f);
	for (int k = 0; k < s->n_layers; k++) {
		fprintf(f, "%s{\"layer\": ", k ? ", " : "");
		sn_json_str(f, s->layers[k].layer);
		json_members(f, s->layers[k].members);
		fprintf(f, ", \"units\": %zu", s->layers[k].units);
		json_list(f, "pruned", s, k, 0);
		json_list(f, "sparsity", s, k, 1);
		json_list(f, "accuracy", s, k, 2);
		json_list(f, "drop_points", s, k, 3);
		fputc('}', f);
	}
	fputs("]}\n", f);
}

/* Accuracy (%) against the sparsity reached (%), from the unpruned model on. */
static int plot(const sens_cli *c, const sn_sensitivity *s)
{
	const int n = s->n_levels + 1;
	double *x = malloc((size_t)s->n_layers * n * sizeof *x), *y = malloc((size_t)s->n_layers * n * sizeof *y);
	plot_series *series = calloc((size_t)s->n_layers + 1, sizeof *series);
	if (!x || !y || !series) { free(x); free(y); free(series); return sn_seterr(SN_ENOMEM, "out of memory"); }
	for (int k = 0; k < s->n_layers; k++) {
		double *xk = x + (size_t)k * n, *yk = y + (size_t)k * n;
		xk[0] = 0;
		yk[0] = 100 * s->baseline;
		for (int l = 0; l < s->n_levels; l++) {
			xk[l + 1] = 100 * sparsity_at(s, k, l);
			yk[l + 1] = 100 * acc_at(s, k, l);
		}
		series[k] = (plot_series){s->layers[k].layer, n, xk, yk};
	}
	char title[512], xlabel[128];
	snprintf(title, sizeof title, "Sensitivity of %s (%s granularity, %s, no fine-tuning)", c->model,
	         sn_granularity_name(s->granularity), sn_criterion_name(s->criterion));
	snprintf(xlabel, sizeof xlabel, "%s of the layer pruned (%%)", unit_word(s->granularity));
	plot_chart chart = {title, xlabel, "test accuracy (%)", 0, 100, s->n_layers, series};
	int rc = plot_write(&chart, c->plot);
	free(x); free(y); free(series);
	return rc;
}

/* ---------------------------------------------------------------- the command */

static void progress(const sn_sensitivity *s, int layer, int level, void *user)
{
	const sens_cli *c = user;
	if (c->quiet || layer < 0) return;
	if (isatty(2)) {
		fprintf(stderr, "\r\033[K[%d/%d] %s: %d of %d levels", layer + 1, s->n_layers, s->layers[layer].layer, level + 1,
		        s->n_levels);
		if (layer + 1 == s->n_layers && level + 1 == s->n_levels) fputc('\n', stderr);
	} else if (level + 1 == s->n_levels)
		fprintf(stderr, "[%d/%d] %s measured\n", layer + 1, s->n_layers, s->layers[layer].layer);
	fflush(stderr);
}

static sn_graph *load(sens_cli *c, sn_meta *meta)
{
	sn_graph *g = cli_load_float("sensitivity", c->model, meta);
	if (g && !g->shapes_locked) {
		sn_graph_init_params(g, c->o.prune.train.seed);
		fprintf(stderr, "slimnn sensitivity: %s is an architecture: measuring freshly initialised weights\n", c->model);
	}
	return g;
}

static int outputs(const sens_cli *c, const sn_sensitivity *s)
{
	if (c->json) print_json(stdout, c, s);
	else print_text(stdout, c, s);
	fflush(stdout);
	int rc = c->csv ? sn_sensitivity_write_csv(s, c->csv) : SN_OK;
	if (!rc && c->plot) rc = plot(c, s);
	if (!rc && !c->json && (c->csv || c->plot)) {
		printf("\n");
		if (c->csv) printf("wrote %s\n", c->csv);
		if (c->plot) printf("wrote %s\n", c->plot);
	}
	return rc;
}

int cmd_sensitivity(int argc, char **argv)
{
	sens_cli c = {.data = SN_FMNIST_DIR, .o = sn_sens_defaults()};
	int rc = parse(argc, argv, &c);
	if (rc) return rc;
	sn_set_threads(c.threads);
	c.o.progress = progress;
	c.o.user = &c;
	sn_meta meta = {.test_accuracy = -1};
	sn_graph *g = load(&c, &meta);
	if (!g) return cli_fail();
	sn_dataset tr = {0}, te = {0};
	sn_sensitivity s = {0};
	cli_data_seed(c.o.prune.train.seed);
	rc = cli_load_data(c.data, c.limit, g, &meta, 1, &tr, &te);
	if (!rc) rc = sn_prune_sensitivity(g, &tr, &te, &c.o, &s);
	if (!rc) rc = outputs(&c, &s);
	sn_sensitivity_free(&s);
	sn_dataset_free(&tr);
	sn_dataset_free(&te);
	sn_graph_free(g);
	return rc ? cli_fail() : 0;
}
