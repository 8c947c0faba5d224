/* slimnn prune MODEL --data DIR --target S [options] -o OUT.slim
 * Iterative pruning with fine-tuning; a report row per round, then before/after totals. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli.h"

static const char *HELP =
	"usage: slimnn prune MODEL [--data DIR] --target S [options] -o OUT.slim\n"
	"       slimnn prune MODEL --show-groups [--ignore ...]\n\n"
	"Prunes MODEL (a trained .slim) in rounds: prune to the schedule's sparsity, fine-tune,\n"
	"evaluate; prints a row per round and the totals before and after. docs/prune.md explains it.\n\n"
	"  --target S            fraction removed in the end: of the prunable weights (weight), blocks\n"
	"                        (block), conv filters (filter) or Linear neurons (neuron); 0 <= S < 1\n"
	"  --granularity G       weight (single weights, masked and stored sparse) | block (blocks of\n"
	"                        --block output channels at one input position, masked) | filter, alias\n"
	"                        channel (conv output channels, removed: a smaller dense model) | neuron\n"
	"                        (Linear output units, removed) (default weight)\n"
	"  --block N             output channels per block (default 4; the last block of a layer whose\n"
	"                        channel count is not a multiple of N is smaller)\n"
	"  --criterion C         l1 | l2 (magnitude: |w|, or the norm of a block, filter or neuron) | bn\n"
	"                        (BN gamma of the channel; filter, neuron) | taylor (|w * dL/dw| over\n"
	"                        training batches, summed per block, filter or neuron) (default l1)\n"
	"  --taylor-batches N    batches (of --batch images) per Taylor estimate (default 16)\n"
	"  --layer-targets FILE  each layer its own target: 'LAYER TARGET' per line, '#' comments;\n"
	"                        layers not listed take --target (default then 0); a listed layer is\n"
	"                        pruned even if the default ignore list holds it; implies --scope layer\n"
	"  --from-sensitivity CSV  per-layer targets from slimnn sensitivity --csv: for each layer the\n"
	"                        largest level whose drop, and that of every lower level, is within\n"
	"                        --max-drop (needed; it stays the budget of the rounds too)\n"
	"  --scope S             layer (the same fraction in every layer / coupled group) | global\n"
	"                        (one ranking) (default: global for weight and block, layer otherwise)\n"
	"  --ignore A,B          layers left alone (default: the first conv and the classifier);\n"
	"                        'none' prunes them all\n"
	"  --steps K             rounds (default 3)\n"
	"  --finetune-epochs E   fine-tuning epochs per round (default 1)\n"
	"  --schedule S          oneshot | linear | agp (cubic, Zhu & Gupta) (default agp)\n"
	"  --max-drop P          stop before the accuracy drop exceeds P points; keep the last model\n"
	"                        within budget\n"
	"  --lr X                fine-tuning learning rate (default 0.03): weight rounds hold it while\n"
	"                        they ramp the sparsity up over half an epoch, then decay it (cosine)\n"
	"  --distill 0|1         the model before pruning teaches the fine-tuning (default 0)\n"
	"  --optimizer sgd|adam  fine-tuning optimizer (default sgd, Nesterov momentum 0.9)\n"
	"  --batch B             fine-tuning batch (default 128)\n"
	"  --augment A           fine-tuning augmentation: none | crop | flip | crop,flip (default none)\n"
	"  --seed S              seed of the fine-tuning data order (default 1)\n"
	"  --limit N             use N samples of each split (quick runs; docs/data.md)\n"
	"%s"
	"                      --data none: prune by magnitude alone, no fine-tuning or accuracy\n"
	"  --threads T           threads (default: all cores)\n"
	"  --show-groups         print the coupled channel groups (filter or neuron pruning's\n"
	"                        dependency graph)\n"
	"  --json                the report as one JSON object on stdout\n"
	"  --quiet               no progress bar\n"
	"  -o, --output OUT      the pruned model (.slim, sparse encodings), with its test accuracy\n";

typedef struct {
	const char *model, *data, *out;
	int json, quiet, show_groups, have_target, have_scope, have_block, have_taylor_batches, have_epochs;
	const char *targets_file, *sensitivity_file;   /* per-layer targets, read once the model is */
	float *targets;
	sn_prune_opts o;
} prune_cli;

enum { O_DATA = 256, O_TARGET, O_GRAN, O_CRIT, O_SCOPE, O_IGNORE, O_STEPS, O_EPOCHS, O_SCHED, O_DROP, O_LR,
	O_OPT, O_BATCH, O_SEED, O_LIMIT, O_THREADS, O_GROUPS, O_JSON, O_QUIET, O_DISTILL, O_AUG, O_BLOCK, O_TAYLOR, O_LAYER_TARGETS,
	O_FROM_SENS, O_HELP };

static const struct option opts[] = {
	{"data", 1, 0, O_DATA}, {"target", 1, 0, O_TARGET}, {"granularity", 1, 0, O_GRAN},
	{"criterion", 1, 0, O_CRIT}, {"scope", 1, 0, O_SCOPE}, {"ignore", 1, 0, O_IGNORE}, {"steps", 1, 0, O_STEPS},
	{"finetune-epochs", 1, 0, O_EPOCHS}, {"schedule", 1, 0, O_SCHED}, {"max-drop", 1, 0, O_DROP},
	{"lr", 1, 0, O_LR}, {"optimizer", 1, 0, O_OPT}, {"batch", 1, 0, O_BATCH}, {"seed", 1, 0, O_SEED},
	{"limit", 1, 0, O_LIMIT}, {"threads", 1, 0, O_THREADS}, {"show-groups", 0, 0, O_GROUPS},
	{"json", 0, 0, O_JSON}, {"distill", 1, 0, O_DISTILL}, {"augment", 1, 0, O_AUG}, {"quiet", 0, 0, O_QUIET}, {"output", 1, 0, 'o'},
	{"block", 1, 0, O_BLOCK}, {"taylor-batches", 1, 0, O_TAYLOR}, {"layer-targets", 1, 0, O_LAYER_TARGETS},
	{"from-sensitivity", 1, 0, O_FROM_SENS}, {"help", 0, 0, O_HELP}, CLI_DATA_OPTIONS, {0, 0, 0, 0}};

static const char *SCOPE[] = {"layer", "global"}, *SCHED[] = {"oneshot", "linear", "agp"};
#define GRAN(g) sn_granularity_name(g)
#define CRIT(c) sn_criterion_name(c)

static int pick(const char *flag, const char *s, const char **names, int n, int *out)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(s, names[i])) { *out = i; return 0; }
	return cli_usage("prune", "%s: unknown value '%s'", flag, s);
}

/* A granularity or criterion by its library name (channel is another name for filter). */
static int pick_named(const char *flag, const char *s, int (*parse)(const char *), int *out)
{
	if ((*out = parse(s)) >= 0) return 0;
	return cli_usage("prune", "%s: unknown value '%s'", flag, s);
}

static int parse_augment(const char *s, sn_augment *a)
{
	const char *names[] = {"none", "crop", "flip", "crop,flip"};
	int v = 0;
	if (pick("--augment", s, names, 4, &v)) return EXIT_USAGE;
	a->crop_pad = v & 1 ? 2 : 0;
	a->hflip = v >> 1;
	return 0;
}

static int parse_opt(int ch, prune_cli *c)
{
	int v = 0, rc = 0;
	sn_prune_opts *o = &c->o;
	switch (ch) {
	case O_DATA: c->data = optarg; return 0;
	case 'o': c->out = optarg; return 0;
	case O_TARGET: c->have_target = 1; return cli_float("prune", "--target", optarg, 0, 0.999999, &o->target);
	case O_GRAN: rc = pick_named("--granularity", optarg, sn_granularity_parse, &v); o->granularity = v; return rc;
	case O_CRIT: rc = pick_named("--criterion", optarg, sn_criterion_parse, &v); o->criterion = v; return rc;
	case O_BLOCK: c->have_block = 1; return cli_int("prune", "--block", optarg, 1, 4096, &o->block);
	case O_TAYLOR: c->have_taylor_batches = 1; return cli_int("prune", "--taylor-batches", optarg, 1, 100000, &o->taylor_batches);
	case O_SCOPE: rc = pick("--scope", optarg, SCOPE, 2, &v); o->scope = v; c->have_scope = 1; return rc;
	case O_IGNORE: o->ignore = optarg; return 0;
	case O_LAYER_TARGETS: c->targets_file = optarg; return 0;
	case O_FROM_SENS: c->sensitivity_file = optarg; return 0;
	case O_STEPS: return cli_int("prune", "--steps", optarg, 1, 1000, &o->steps);
	case O_EPOCHS: c->have_epochs = 1; return cli_int("prune", "--finetune-epochs", optarg, 0, 10000, &o->finetune_epochs);
	case O_SCHED: rc = pick("--schedule", optarg, SCHED, 3, &v); o->schedule = v; return rc;
	case O_DROP: return cli_float("prune", "--max-drop", optarg, 0, 100, &o->max_drop);
	case O_LR: return cli_float("prune", "--lr", optarg, 0, 1e6, &o->train.lr);
	case O_OPT: rc = pick("--optimizer", optarg, (const char *[]){"sgd", "adam"}, 2, &v); o->train.optimizer = v; return rc;
	case O_BATCH: return cli_int("prune", "--batch", optarg, 1, 65536, &o->train.batch);
	case O_SEED: rc = cli_int("prune", "--seed", optarg, 0, 2147483647, &v); o->train.seed = (uint64_t)v; return rc;
	case O_LIMIT: return cli_int("prune", "--limit", optarg, 0, 100000000, &o->train.limit);
	case O_THREADS: return cli_int("prune", "--threads", optarg, 1, 1024, &o->train.threads);
	case O_GROUPS: c->show_groups = 1; return 0;
	case O_DISTILL: return cli_int("prune", "--distill", optarg, 0, 1, &o->distill);
	case O_AUG: return parse_augment(optarg, &o->train.augment);
	case O_JSON: c->json = 1; return 0;
	case O_QUIET: c->quiet = 1; return 0;
	CLI_DATA_CASES: return cli_data_flag("prune", ch, optarg);
	}
	return -1;
}

static int no_data(const prune_cli *c) { return !strcmp(c->data, "none"); }

static int parse(int argc, char **argv, prune_cli *c)
{
	int rc = 0;
	cli_reset_getopt();
	for (int ch; !rc && (ch = getopt_long(argc, argv, ":o:", opts, NULL)) != -1;) {
		if (ch == O_HELP) { printf(HELP, CLI_DATA_HELP); exit(0); }
		if (ch == ':') return cli_usage("prune", "option %s needs a value", argv[optind - 1]);
		if (ch == '?') return cli_usage("prune", "unknown option '%s'", argv[optind - 1]);
		rc = parse_opt(ch, c);
	}
	if (rc) return rc;
	for (int i = optind; i < argc; i++) {
		if (c->model) return cli_usage("prune", "one MODEL expected, got '%s' and '%s'", c->model, argv[i]);
		c->model = argv[i];
	}
	if (!c->model) return cli_usage("prune", "no MODEL given");
	const int per_layer = c->targets_file || c->sensitivity_file;
	if (c->show_groups && !c->have_target && !per_layer && !c->out) return 0;
	if (!c->have_target && !per_layer)
		return cli_usage("prune", "no --target given (the fraction to remove, e.g. --target 0.9)");
	if (c->targets_file && c->sensitivity_file)
		return cli_usage("prune", "--layer-targets and --from-sensitivity both set per-layer targets: give one");
	if (c->sensitivity_file && c->o.max_drop < 0)
		return cli_usage("prune", "--from-sensitivity needs --max-drop P: the accuracy points a layer may cost");
	if (per_layer && c->have_scope && c->o.scope == SN_SCOPE_GLOBAL)
		return cli_usage("prune", "per-layer targets give each layer its own fraction: they work with --scope layer");
	if (!c->have_target) c->o.target = 0;
	if (!c->out) return cli_usage("prune", "no output file: add -o OUT.slim");
	const int masked = sn_granularity_masks(c->o.granularity);
	if (c->o.criterion == SN_CRIT_BN && masked)
		return cli_usage("prune", "--criterion bn ranks channels: use it with --granularity filter or neuron");
	if (c->have_block && c->o.granularity != SN_GRAN_BLOCK)
		return cli_usage("prune", "--block sets the size of a block: use it with --granularity block");
	if (c->have_taylor_batches && c->o.criterion != SN_CRIT_TAYLOR)
		return cli_usage("prune", "--taylor-batches sets how the Taylor scores are estimated: use it with --criterion taylor");
	if (!c->have_scope) c->o.scope = masked && !per_layer ? SN_SCOPE_GLOBAL : SN_SCOPE_LAYER;
	if (no_data(c) && c->have_epochs && c->o.finetune_epochs > 0)
		return cli_usage("prune", "--data none: there is nothing to fine-tune on; drop --finetune-epochs");
	if (no_data(c)) c->o.finetune_epochs = 0;
	return 0;
}

/* ---------------------------------------------------------------- report */

typedef struct {
	FILE *out;                        /* the real stdout (training lines go to stderr) */
	int json;
	double acc0;
	int n;
	sn_prune_step rows[1024];
} report;

/* 1234567 -> "1,234,567" */
static const char *commas(unsigned long long v, char *buf)
{
	char tmp[32];
	int n = snprintf(tmp, sizeof tmp, "%llu", v), o = 0;
	for (int i = 0; i < n; i++) {
		if (i && (n - i) % 3 == 0) buf[o++] = ',';
		buf[o++] = tmp[i];
	}
	buf[o] = 0;
	return buf;
}

static void text_row(FILE *f, const sn_prune_step *s, double acc0)
{
	char a[32], b[32], c[32], d[32], acc[32] = "       —       —";
	if (s->accuracy >= 0) snprintf(acc, sizeof acc, "%7.2f%% %+6.2f", 100 * s->accuracy, 100 * (s->accuracy - acc0));
	fprintf(f, "%4d %7.1f%% %7.1f%% %11s %11s %13s %11s %s %7.1f%s\n", s->step, 100 * s->target,
	        100 * s->sparsity, commas(s->nonzero, a), commas(s->params, b), commas(s->macs_nonzero, c),
	        commas((unsigned long long)(s->file_bytes > 0 ? s->file_bytes : 0), d), acc, s->seconds,
	        s->over_budget ? "  over budget: undone" : "");
	fflush(f);
}

static void on_step(const sn_prune_step *s, void *user)
{
	report *r = user;
	if (s->step == 0) r->acc0 = s->accuracy;
	if (r->n < (int)(sizeof r->rows / sizeof *r->rows)) r->rows[r->n++] = *s;
	if (r->json) return;
	if (s->step == 0)
		fprintf(r->out, "%4s %8s %8s %11s %11s %13s %11s %8s %6s %7s\n", "step", "target", "sparsity", "non-zero",
		        "params", "mult-adds nz", "file bytes", "accuracy", "change", "seconds");
	text_row(r->out, s, r->acc0);
}

static void json_row(FILE *f, const sn_prune_step *s)
{
	char acc[32] = "null";   /* not measured (--data none) */
	if (s->accuracy >= 0) snprintf(acc, sizeof acc, "%.6f", s->accuracy);
	fprintf(f, "{\"step\": %d, \"target\": %.6f, \"sparsity\": %.6f, \"nonzero_params\": %zu, \"total_params\": %zu, "
	        "\"mult_adds\": %llu, \"nonzero_mult_adds\": %llu, \"file_bytes\": %ld, \"accuracy\": %s, "
	        "\"seconds\": %.3f, \"over_budget\": %s}",
	        s->step, s->target, s->sparsity, s->nonzero, s->params, (unsigned long long)s->macs,
	        (unsigned long long)s->macs_nonzero, s->file_bytes, acc, s->seconds,
	        s->over_budget ? "true" : "false");
}

static const sn_prune_step *last_kept(const report *r)
{
	for (int i = r->n - 1; i > 0; i--)
		if (!r->rows[i].over_budget) return &r->rows[i];
	return &r->rows[0];
}

/* The per-layer targets: "conv2 30.0%, fc1 90.0%" (text) or {"conv2": 0.3, ...} (JSON). */
static void print_targets(FILE *f, const prune_cli *c, const sn_graph *g, int json)
{
	int n = 0;
	fputs(json ? "{" : "", f);
	for (int i = 0; i < g->n_node; i++) {
		if (c->targets[i] < 0) continue;
		fputs(n++ ? ", " : "", f);
		if (json) { sn_json_str(f, g->node[i].name); fprintf(f, ": %.6g", c->targets[i]); }
		else fprintf(f, "%s %.1f%%", g->node[i].name, 100 * c->targets[i]);
	}
	fputs(json ? "}" : "", f);
}

static void print_json(FILE *f, const prune_cli *c, const sn_graph *g, const report *r)
{
	const sn_prune_opts *o = &c->o;
	fprintf(f, "{\"model\": ");
	sn_json_str(f, c->model);
	fprintf(f, ", \"output\": ");
	sn_json_str(f, c->out);
	fprintf(f, ", \"granularity\": \"%s\", ", GRAN(o->granularity));
	if (o->granularity == SN_GRAN_BLOCK) fprintf(f, "\"block\": %d, ", o->block);
	fprintf(f, "\"criterion\": \"%s\", ", CRIT(o->criterion));
	if (o->criterion == SN_CRIT_TAYLOR) fprintf(f, "\"taylor_batches\": %d, ", o->taylor_batches);
	fprintf(f, "\"scope\": \"%s\", \"schedule\": \"%s\", \"target\": %.6f, \"finetune_epochs\": %d, ", SCOPE[o->scope],
	        SCHED[o->schedule], o->target, o->finetune_epochs);
	if (c->targets) { fputs("\"layer_targets\": ", f); print_targets(f, c, g, 1); fputs(", ", f); }
	fputs("\"steps\": [", f);
	for (int i = 1; i < r->n; i++) { if (i > 1) fprintf(f, ", "); json_row(f, &r->rows[i]); }
	fprintf(f, "], \"before\": ");
	json_row(f, &r->rows[0]);
	fprintf(f, ", \"after\": ");
	json_row(f, last_kept(r));
	fprintf(f, ", \"stopped_early\": %s}\n", r->n > 1 && r->rows[r->n - 1].over_budget ? "true" : "false");
}

static void ratio_line(FILE *f, const char *what, double a, double b)
{
	char sa[32], sb[32];
	commas((unsigned long long)a, sa);
	commas((unsigned long long)b, sb);
	if (b > 0) fprintf(f, "%-18s %14s -> %-14s (%.2fx)\n", what, sa, sb, a / b);
	else fprintf(f, "%-18s %14s -> %-14s\n", what, sa, sb);
}

static void print_totals(FILE *f, const report *r)
{
	const sn_prune_step *a = &r->rows[0], *b = last_kept(r);
	fprintf(f, "\nbefore -> after (step %d)\n", b->step);
	ratio_line(f, "params", (double)a->params, (double)b->params);
	ratio_line(f, "non-zero params", (double)a->nonzero, (double)b->nonzero);
	ratio_line(f, "mult-adds", (double)a->macs, (double)b->macs);
	ratio_line(f, "non-zero mult-adds", (double)a->macs_nonzero, (double)b->macs_nonzero);
	ratio_line(f, "file bytes", (double)a->file_bytes, (double)b->file_bytes);
	if (a->accuracy < 0) fprintf(f, "%-18s %14s    (--data none)\n", "test accuracy", "not measured");
	else fprintf(f, "%-18s %13.2f%% -> %.2f%% (%+.2f points)\n", "test accuracy", 100 * a->accuracy, 100 * b->accuracy,
	             100 * (b->accuracy - a->accuracy));
	if (r->n > 1 && r->rows[r->n - 1].over_budget)
		fprintf(f, "stopped at step %d: the accuracy drop went over --max-drop; kept step %d\n",
		        r->rows[r->n - 1].step, b->step);
}

/* ---------------------------------------------------------------- the command */

static sn_graph *load(prune_cli *c, sn_meta *meta)
{
	sn_graph *g = sn_load_any(c->model, meta);   /* an int8 model prunes by weight or block (QAT fine-tuning) */
	if (g && !g->shapes_locked) {
		sn_graph_init_params(g, c->o.train.seed);
		fprintf(stderr, "slimnn prune: %s is an architecture: pruning freshly initialised weights\n", c->model);
	}
	return g;
}

static int show_groups(sn_graph *g, const prune_cli *c, FILE *f)
{
	unsigned char *p = malloc((size_t)g->n_node);
	if (!p) return sn_seterr(SN_ENOMEM, "out of memory");
	int rc = sn_prune_select(g, c->o.granularity == SN_GRAN_NEURON ? SN_GRAN_NEURON : SN_GRAN_FILTER, c->o.ignore, p);
	if (!rc) rc = sn_prune_print_groups(f, g, p);
	free(p);
	return rc;
}

/* Per-layer targets from --layer-targets or --from-sensitivity into c->o.layer_targets. */
static int read_targets(prune_cli *c, const sn_graph *g)
{
	if (!c->targets_file && !c->sensitivity_file) return SN_OK;
	if (!(c->targets = malloc(((size_t)g->n_node + 1) * sizeof *c->targets))) return sn_seterr(SN_ENOMEM, "out of memory");
	c->o.layer_targets = c->targets;
	if (c->targets_file) return sn_prune_read_targets(g, c->o.granularity, c->targets_file, c->targets);
	sn_sensitivity s;
	int rc = sn_sensitivity_read_csv(c->sensitivity_file, &s);
	if (!rc) rc = sn_prune_targets_from_sensitivity(g, &s, c->o.granularity, c->o.max_drop, c->targets);
	sn_sensitivity_free(&s);
	return rc;
}

/* Training prints epoch lines on stdout: they go to stderr while the report keeps stdout. */
static int run(prune_cli *c, sn_graph **g, sn_meta *meta, const sn_dataset *tr, const sn_dataset *te, report *r)
{
	fflush(stdout);
	int real = dup(1);
	r->out = real >= 0 ? fdopen(real, "w") : NULL;
	if (!r->out) { if (real >= 0) close(real); r->out = stdout; }
	else dup2(2, 1);
	char block[48] = "";
	if (c->o.granularity == SN_GRAN_BLOCK) snprintf(block, sizeof block, " (%d output channels a block)", c->o.block);
	if (!c->json)
		fprintf(r->out, "pruning %s: %s granularity%s, %s, %s scope, target %.1f%% in %d step%s (%s), %d fine-tuning epoch%s each\n",
		        c->model, GRAN(c->o.granularity), block, CRIT(c->o.criterion), SCOPE[c->o.scope], 100 * c->o.target, c->o.steps,
		        c->o.steps == 1 ? "" : "s", SCHED[c->o.schedule], c->o.finetune_epochs, c->o.finetune_epochs == 1 ? "" : "s");
	if (!c->json && c->targets) {
		fprintf(r->out, "per-layer targets from %s: ", c->targets_file ? c->targets_file : c->sensitivity_file);
		print_targets(r->out, c, *g, 0);
		fprintf(r->out, "; others %.1f%%\n", 100 * c->o.target);
	}
	int rc = sn_prune_run(g, tr, te, &c->o, meta, on_step, r);
	if (r->out != stdout) {
		fflush(stdout);
		fflush(r->out);
		dup2(real, 1);
		fclose(r->out);
		r->out = stdout;
	}
	return rc;
}

int cmd_prune(int argc, char **argv)
{
	prune_cli c = {.data = SN_FMNIST_DIR, .o = sn_prune_defaults()};
	int rc = parse(argc, argv, &c);
	if (rc) return rc;
	sn_set_threads(c.o.train.threads);
	c.o.train.progress = c.quiet ? 0 : -1;
	sn_meta meta = {.test_accuracy = -1};
	sn_graph *g = load(&c, &meta);
	if (!g) return cli_fail();
	if (c.show_groups && (rc = show_groups(g, &c, c.json ? stderr : stdout))) { sn_graph_free(g); return cli_fail(); }
	if (!c.have_target && !c.targets_file && !c.sensitivity_file) { sn_graph_free(g); return 0; }
	if ((rc = read_targets(&c, g))) { sn_graph_free(g); free(c.targets); return cli_fail(); }
	sn_dataset tr = {0}, te = {0};
	report *r = calloc(1, sizeof *r);
	cli_data_seed(c.o.train.seed);
	c.o.train.loader_threads = cli_loader_threads();
	rc = !r ? sn_seterr(SN_ENOMEM, "out of memory")
	        : no_data(&c) ? SN_OK : cli_load_data(c.data, c.o.train.limit, g, &meta, 1, &tr, &te);
	if (!rc && !no_data(&c)) cli_meta_from_data(&meta, &tr, c.data);
	if (!rc) {
		r->json = c.json;
		rc = no_data(&c) ? run(&c, &g, &meta, NULL, NULL, r) : run(&c, &g, &meta, &tr, &te, r);
	}
	if (!rc) rc = sn_model_save(g, &meta, NULL, c.out);
	if (!rc && c.json) print_json(stdout, &c, g, r);
	else if (!rc) {
		print_totals(stdout, r);
		if (meta.test_accuracy >= 0) printf("saved %s: test accuracy %.2f%%\n", c.out, 100 * meta.test_accuracy);
		else printf("saved %s\n", c.out);
	}
	sn_dataset_free(&tr);
	sn_dataset_free(&te);
	sn_graph_free(g);
	free(r);
	free(c.targets);
	return rc ? cli_fail() : 0;
}
