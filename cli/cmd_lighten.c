/* slimnn lighten MODEL [transforms] [--data DIR --finetune-epochs N] -o OUT.slim
 * Replaces layers by cheaper ones initialised in closed form (sn_lighten), measures the
 * accuracy of the original and of the new model, optionally recovers it by distillation from
 * the original, and saves the new model with its test accuracy. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli.h"

static const char *HELP =
	"usage: slimnn lighten MODEL [--dsc] [--gap-head] [--asym] [--small-kernels] [options] -o OUT.slim\n\n"
	"Replaces layers of a trained model by cheaper ones, initialised in closed form from its\n"
	"weights, then (with --data) recovers the accuracy by distillation from the original.\n\n"
	"transforms (at least one):\n"
	"  --dsc               Conv2d kxk -> depthwise kxk + pointwise 1x1 (per input channel, the\n"
	"                      best rank-M approximation of its slice, from the SVD)\n"
	"  --gap-head          flatten -> Linear(C*H*W -> n) becomes global average pooling ->\n"
	"                      Linear(C -> n), weights summed over the positions\n"
	"  --asym              Conv2d kxk -> kx1 (Cin -> r) + 1xk (r -> Cout), truncated SVD\n"
	"  --small-kernels     Conv2d kxk, odd k >= 5 -> (k-1)/2 stacked 3x3 convs, least squares\n"
	"                      (a conv asked to take several gets small-kernels, asym, dsc in that order)\n"
	"transform options:\n"
	"  --multiplier M      dsc: depthwise outputs per input channel (default 1)\n"
	"  --dsc-bn            dsc: BatchNorm + ReLU between depthwise and pointwise (MobileNet);\n"
	"                      the default where the conv feeds a BatchNorm and data is available\n"
	"  --dsc-linear        dsc: nothing between: a pure approximation\n"
	"  --rank R            asym: middle channels (default: from --keep)\n"
	"  --keep F            asym: fraction of the layer's weights to keep (default 0.5)\n"
	"  --layers A,B,...    only these layers (default: every layer a transform applies to)\n"
	"  --min-saving F      skip a layer whose transform saves less than the fraction F of the\n"
	"                      model's mult-adds (default 0.02)\n"
	"recovery:\n"
	"%s"
	"                      --data gives the accuracy of the original and the new model, BN\n"
	"                      calibration and fine-tuning; 'none' (or a model whose inputs the default\n"
	"                      data does not fit): none of them\n"
	"  --finetune-epochs N epochs of fine-tuning (default 2 when --data is given, else 0)\n"
	"  --kd-alpha A        weight of the distillation term (default 0.5)\n"
	"  --kd-temperature T  softmax temperature of the distillation term (default 2)\n"
	"  --no-distill        fine-tune with plain cross-entropy\n"
	"  --lr X              learning rate, cosine-annealed; SGD + Nesterov (default 0.02)\n"
	"  --batch B           mini-batch size (default 128)\n"
	"  --seed S            seed of the fine-tuning (default 1)\n"
	"  --limit N           use N images of each split (docs/data.md)\n"
	"  --threads T         threads (default: all cores)\n"
	"  --quiet             no progress bar\n"
	"  --json              the report as one JSON object on stdout\n"
	"  -o, --output OUT    the new model (.slim), written atomically\n";

typedef struct {
	const char *model, *data, *out;
	int data_given, epochs, distill, json, quiet, threads, limit, batch;
	float lr, alpha, temp;
	uint64_t seed;
	sn_lighten_opts lo;
} lighten_cli;

enum { O_DSC = 256, O_GAP, O_ASYM, O_SMALL, O_MULT, O_DSCBN, O_DSCLIN, O_RANK, O_KEEP, O_LAYERS, O_MINSAV, O_DATA, O_EPOCHS,
	O_ALPHA, O_TEMP, O_NODISTILL, O_LR, O_BATCH, O_SEED, O_LIMIT, O_THREADS, O_QUIET, O_JSON, O_HELP };

static const struct option opts[] = {
	{"dsc", 0, 0, O_DSC}, {"gap-head", 0, 0, O_GAP}, {"asym", 0, 0, O_ASYM}, {"small-kernels", 0, 0, O_SMALL}, {"multiplier", 1, 0, O_MULT},
	{"dsc-bn", 0, 0, O_DSCBN}, {"dsc-linear", 0, 0, O_DSCLIN}, {"rank", 1, 0, O_RANK}, {"keep", 1, 0, O_KEEP},
	{"layers", 1, 0, O_LAYERS}, {"min-saving", 1, 0, O_MINSAV}, {"data", 1, 0, O_DATA},
	{"finetune-epochs", 1, 0, O_EPOCHS}, {"kd-alpha", 1, 0, O_ALPHA}, {"kd-temperature", 1, 0, O_TEMP},
	{"no-distill", 0, 0, O_NODISTILL}, {"lr", 1, 0, O_LR}, {"batch", 1, 0, O_BATCH}, {"seed", 1, 0, O_SEED},
	{"limit", 1, 0, O_LIMIT}, {"threads", 1, 0, O_THREADS}, {"quiet", 0, 0, O_QUIET}, {"json", 0, 0, O_JSON},
	{"output", 1, 0, 'o'}, {"help", 0, 0, O_HELP}, CLI_DATA_OPTIONS, {0, 0, 0, 0}};

static int parse(int argc, char **argv, lighten_cli *c)
{
	int rc = 0, v;
	float f;
	cli_reset_getopt();
	for (int ch; !rc && (ch = getopt_long(argc, argv, ":o:", opts, NULL)) != -1;) {
		switch (ch) {
		case O_HELP: printf(HELP, CLI_DATA_HELP); exit(0);
		case O_DSC: c->lo.transforms |= SN_LIGHTEN_DSC; break;
		case O_GAP: c->lo.transforms |= SN_LIGHTEN_GAP_HEAD; break;
		case O_ASYM: c->lo.transforms |= SN_LIGHTEN_ASYM; break;
		case O_SMALL: c->lo.transforms |= SN_LIGHTEN_SMALL_KERNELS; break;
		case O_MULT: rc = cli_int("lighten", "--multiplier", optarg, 1, 1024, &c->lo.multiplier); break;
		case O_DSCBN: c->lo.dsc_mode = SN_DSC_BN; break;
		case O_DSCLIN: c->lo.dsc_mode = SN_DSC_LINEAR; break;
		case O_RANK: rc = cli_int("lighten", "--rank", optarg, 1, 1 << 20, &c->lo.rank); break;
		case O_KEEP: rc = cli_float("lighten", "--keep", optarg, 1e-6, 1, &c->lo.keep); break;
		case O_LAYERS: c->lo.layers = optarg; break;
		case O_MINSAV: rc = cli_float("lighten", "--min-saving", optarg, 0, 1, &f); c->lo.min_saving = f; break;
		case O_DATA: c->data = optarg; c->data_given = 1; break;
		case O_EPOCHS: rc = cli_int("lighten", "--finetune-epochs", optarg, 0, 1000, &c->epochs); break;
		case O_ALPHA: rc = cli_float("lighten", "--kd-alpha", optarg, 0, 1, &c->alpha); break;
		case O_TEMP: rc = cli_float("lighten", "--kd-temperature", optarg, 0.01, 100, &c->temp); break;
		case O_NODISTILL: c->distill = 0; break;
		case O_LR: rc = cli_float("lighten", "--lr", optarg, 0, 10, &c->lr); break;
		case O_BATCH: rc = cli_int("lighten", "--batch", optarg, 1, 65536, &c->batch); break;
		case O_SEED: rc = cli_int("lighten", "--seed", optarg, 0, 2147483647, &v); c->seed = (uint64_t)v; break;
		case O_LIMIT: rc = cli_int("lighten", "--limit", optarg, 0, 100000000, &c->limit); break;
		case O_THREADS: rc = cli_int("lighten", "--threads", optarg, 1, 1024, &c->threads); break;
		case O_QUIET: c->quiet = 1; break;
		case O_JSON: c->json = 1; break;
		case 'o': c->out = optarg; break;
		CLI_DATA_CASES: rc = cli_data_flag("lighten", ch, optarg); break;
		case ':': return cli_usage("lighten", "option %s needs a value", argv[optind - 1]);
		default: return cli_usage("lighten", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (rc) return rc;
	for (int i = optind; i < argc; i++) {
		if (c->model) return cli_usage("lighten", "one MODEL expected, got '%s' and '%s'", c->model, argv[i]);
		c->model = argv[i];
	}
	if (!c->model) return cli_usage("lighten", "no MODEL given");
	if (!c->out) return cli_usage("lighten", "no output file: add -o OUT.slim");
	if (!c->lo.transforms) return cli_usage("lighten", "no transform chosen: add --dsc, --gap-head, --asym or --small-kernels");
	const int none = !strcmp(c->data, "none");
	if (none && c->epochs > 0) return cli_usage("lighten", "--data none: there is nothing to fine-tune on; drop --finetune-epochs");
	if (c->epochs < 0) c->epochs = c->data_given && !none ? 2 : 0;
	return 0;
}

/* ---------------------------------------------------------------- output */

static double ratio(double a, double b) { return b > 0 ? a / b : 0; }

typedef struct { double original, closed, tuned; } accuracies;   /* < 0: not measured */

static void print_acc(const char *what, double a)
{
	if (a >= 0) printf("  %-34s %6.2f%%\n", what, 100 * a);
}

static void print_text(const lighten_cli *c, const sn_lighten_report *r, const accuracies *acc)
{
	char a[32], b[32];
	printf("\n%-16s %-13s %28s %34s %8s\n", "layer", "transform", "params", "mult-adds", "error");
	for (int i = 0; i < r->n_layers; i++) {
		const sn_lighten_layer *L = &r->layers[i];
		char p[96], m[96];
		snprintf(p, sizeof p, "%s → %s (%.2f×)", sn_thousands(L->old_params, a), sn_thousands(L->new_params, b),
		         ratio(L->old_params, L->new_params));
		snprintf(m, sizeof m, "%s → %s (%.2f×)", sn_thousands(L->old_macs, a), sn_thousands(L->new_macs, b),
		         ratio(L->old_macs, L->new_macs));
		/* the arrow and the times sign take 5 bytes for 2 columns: pad by 3 more */
		printf("%-16s %-13s %*s %*s %8.4f\n", L->layer, L->transform, 28 + 3, p, 34 + 3, m, L->error);
		printf("%-16s   = %s\n", "", L->replaced_by);
	}
	if (!r->n_layers) printf("(no layer replaced)\n");
	for (int i = 0; i < r->n_skipped; i++)
		printf("skipped %s (%s): %s\n", r->skipped[i].layer, r->skipped[i].transform, r->skipped[i].reason);
	printf("\ntotals\n  params     %12s → %s (%.2f×)\n", sn_thousands(r->params_before, a), sn_thousands(r->params_after, b),
	       ratio(r->params_before, r->params_after));
	printf("  mult-adds  %10.2f M → %.2f M (%.2f×)\n", r->macs_before / 1e6, r->macs_after / 1e6,
	       ratio(r->macs_before, r->macs_after));
	if (acc->original >= 0) printf("\ntest accuracy\n");
	print_acc("original", acc->original);
	print_acc("closed form (no training)", acc->closed);
	char what[64];
	snprintf(what, sizeof what, "after %d epoch%s of %s", c->epochs, c->epochs == 1 ? "" : "s",
	         c->distill ? "distillation" : "fine-tuning");
	print_acc(what, acc->tuned);
	if (acc->original >= 0 && acc->tuned >= 0) printf("  %-34s %+6.2f points\n", "change", 100 * (acc->tuned - acc->original));
	printf("saved %s\n", c->out);
}

static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\') printf("\\%c", ch);
		else if (ch < 0x20) printf("\\u%04x", ch);
		else putchar(ch);
	}
	putchar('"');
}

static void json_num(const char *key, double v, int last)
{
	printf("\"%s\": ", key);
	if (v >= 0) printf("%.6f", v); else printf("null");
	printf(last ? "" : ", ");
}

static void print_json(const lighten_cli *c, const sn_lighten_report *r, const accuracies *acc)
{
	printf("{\"model\": "); json_str(c->model);
	printf(", \"output\": "); json_str(c->out);
	printf(", \"layers\": [");
	for (int i = 0; i < r->n_layers; i++) {
		const sn_lighten_layer *L = &r->layers[i];
		printf("%s{\"layer\": ", i ? ", " : ""); json_str(L->layer);
		printf(", \"transform\": \"%s\", \"replaced_by\": ", L->transform); json_str(L->replaced_by);
		printf(", \"old_params\": %zu, \"new_params\": %zu, \"old_mult_adds\": %llu, \"new_mult_adds\": %llu, \"error\": %.6g}",
		       L->old_params, L->new_params, (unsigned long long)L->old_macs, (unsigned long long)L->new_macs, L->error);
	}
	printf("], \"skipped\": [");
	for (int i = 0; i < r->n_skipped; i++) {
		printf("%s{\"layer\": ", i ? ", " : ""); json_str(r->skipped[i].layer);
		printf(", \"transform\": \"%s\", \"reason\": ", r->skipped[i].transform); json_str(r->skipped[i].reason);
		printf("}");
	}
	printf("], \"totals\": {\"params_before\": %zu, \"params_after\": %zu, \"params_ratio\": %.4f, "
	       "\"mult_adds_before\": %llu, \"mult_adds_after\": %llu, \"mult_adds_ratio\": %.4f}",
	       r->params_before, r->params_after, ratio(r->params_before, r->params_after),
	       (unsigned long long)r->macs_before, (unsigned long long)r->macs_after, ratio(r->macs_before, r->macs_after));
	printf(", \"accuracy\": {");
	json_num("original", acc->original, 0);
	json_num("closed_form", acc->closed, 0);
	json_num("finetuned", acc->tuned, 1);
	printf("}, \"finetune\": {\"epochs\": %d, \"distill\": %s, \"kd_alpha\": %g, \"kd_temperature\": %g, \"lr\": %g}}\n",
	       c->epochs, c->distill ? "true" : "false", c->alpha, c->temp, c->lr);
}

/* ---------------------------------------------------------------- the run */

static int finetune(const lighten_cli *c, sn_graph *student, sn_graph *teacher, const sn_dataset *tr,
                    const sn_dataset *te, sn_meta *meta)
{
	sn_train_opts o = sn_train_defaults();
	o.epochs = c->epochs;
	o.batch = c->batch;
	o.lr = c->lr;
	o.schedule = SN_SCHED_COSINE;
	o.seed = c->seed;
	o.limit = c->limit;
	o.threads = c->threads;
	o.progress = c->quiet ? 0 : -1;
	o.teacher = c->distill ? teacher : NULL;
	o.kd_alpha = c->alpha;
	o.kd_t = c->temp;
	/* with --json the per-epoch lines go to stderr so stdout stays one JSON object */
	int saved = -1;
	if (c->json) { fflush(stdout); saved = dup(1); dup2(2, 1); }
	if (!c->json)
		printf("\nfine-tuning: %d epoch%s, %s, SGD+Nesterov lr %g cosine, batch %d\n", c->epochs, c->epochs == 1 ? "" : "s",
		       c->distill ? "distillation from the original" : "cross-entropy", c->lr, c->batch);
	int rc = sn_train(student, tr, te, &o, NULL, meta);
	if (saved >= 0) { fflush(stdout); dup2(saved, 1); close(saved); }
	return rc;
}

static int evaluate(sn_graph *g, const sn_dataset *te, double *acc)
{
	sn_eval_result r;
	int rc = sn_evaluate(g, te, 256, &r);
	if (!rc) *acc = r.accuracy;
	sn_eval_free(&r);
	return rc;
}

static int run(lighten_cli *c, sn_graph *g, sn_meta *meta)
{
	sn_dataset tr = {0}, te = {0};
	accuracies acc = {-1, -1, -1};
	const int none = !strcmp(c->data, "none");
	/* an ImageNet model, say: the default data (Fashion-MNIST) is no use to it, and is not even read */
	sn_shape in = sn_graph_input_shape(g);
	const int default_fits = in.c == 1 && in.h == 28 && in.w == 28 && sn_shape_numel(sn_graph_output_shape(g)) == 10;
	int have = 0;
	if (!none && !c->data_given && !default_fits)
		sn_seterr(SN_ESHAPE, "the default data set's 1x28x28 images do not fit the model");
	else if (!none)
		have = cli_load_data(c->data, c->limit, g, meta, 1, &tr, &te) == SN_OK;
	if (!have && !none && (c->data_given || c->epochs > 0)) return cli_fail();
	if (!have) fprintf(stderr, "slimnn lighten: no data (%s): accuracy not measured, inserted BatchNorms not calibrated\n",
	                   none ? "--data none" : sn_errmsg());
	int rc = have ? evaluate(g, &te, &acc.original) : SN_OK;
	c->lo.calib = have ? &tr : NULL;
	sn_lighten_report rep = {0};
	sn_graph *h = rc ? NULL : sn_lighten(g, &c->lo, &rep);
	if (!h) rc = rc ? rc : -1;
	if (!rc && have) rc = evaluate(h, &te, &acc.closed);
	sn_meta m2 = *meta;
	m2.test_accuracy = acc.closed;
	if (have) cli_meta_from_data(&m2, &tr, c->data);
	if (!rc && c->epochs > 0) {
		rc = finetune(c, h, g, &tr, &te, &m2);
		if (!rc) acc.tuned = m2.test_accuracy;
	}
	if (!rc) rc = sn_model_save(h, &m2, NULL, c->out);
	if (!rc) {
		if (c->json) print_json(c, &rep, &acc); else print_text(c, &rep, &acc);
	}
	sn_lighten_report_free(&rep);
	sn_graph_free(h);
	sn_dataset_free(&tr); sn_dataset_free(&te);
	return rc ? cli_fail() : 0;
}

int cmd_lighten(int argc, char **argv)
{
	lighten_cli c = {.data = SN_FMNIST_DIR, .epochs = -1, .distill = 1, .batch = 128, .lr = 0.02f, .alpha = 0.5f,
	                 .temp = 2.0f, .seed = 1, .lo = sn_lighten_defaults()};
	int rc = parse(argc, argv, &c);
	if (rc) return rc;
	sn_set_threads(c.threads);
	sn_meta meta = {.test_accuracy = -1};
	sn_graph *g = cli_load_float("lighten", c.model, &meta);
	if (!g) return cli_fail();
	if (!g->shapes_locked) {
		sn_graph_free(g);
		sn_seterr(SN_EINVAL, "'%s' is an architecture without trained weights; lighten a trained .slim model "
		          "(slimnn train %s -o MODEL.slim)", c.model, c.model);
		return cli_fail();
	}
	if (!c.json) printf("lightening %s: %zu parameters\n", c.model, sn_graph_count(g, SN_TENSOR_PARAM, 0));
	rc = run(&c, g, &meta);
	sn_graph_free(g);
	return rc;
}
