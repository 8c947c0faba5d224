/* Sensitivity analysis and per-layer pruning targets: level 0 is the baseline, each level prunes
 * an exact count, the model comes back bit-identical, zeroing channels in place computes what
 * removing them computes (so the sweep needs no graph per level), the CSV round-trips and
 * rejects bad files by line, targets files are parsed strictly, the max-drop rule, and the
 * pruning loop reaching per-layer targets exactly. */
#include <stdlib.h>
#include "test.h"
#include "slimnn.h"
#include "data/data.h"
#include "prune/prune.h"

static sn_graph *arch_model(const char *text, uint64_t seed)
{
	sn_graph *g = text[0] == '/' || !strchr(text, '\n') ? sn_arch_load(text) : sn_arch_parse(text, "inline");
	if (!g) { fprintf(stderr, "  %s\n", sn_errmsg()); return NULL; }
	sn_graph_init_params(g, seed);
	return g;
}

/* 300 test images (and as many training ones), loaded once. */
static const sn_dataset *images(int train)
{
	static sn_dataset d[2];
	static int state;   /* 0 not tried, 1 loaded, -1 failed */
	if (!state) state = sn_fmnist_load(SN_FMNIST_DIR, &d[1], &d[0], 300) ? -1 : 1;
	if (state < 0) fprintf(stderr, "  fmnist: %s\n", sn_errmsg());
	return state > 0 ? &d[train != 0] : NULL;
}

static double accuracy_of(sn_graph *g)
{
	sn_eval_result ev;
	double a = sn_evaluate(g, images(0), 256, &ev) ? -1 : ev.accuracy;
	sn_eval_free(&ev);
	return a;
}

static size_t cell(const sn_sensitivity *s, int k, int l) { return (size_t)k * s->n_levels + l; }

static int layer_row(const sn_sensitivity *s, const char *name)
{
	for (int k = 0; k < s->n_layers; k++)
		if (!strcmp(s->layers[k].layer, name)) return k;
	return -1;
}

/* ---------------------------------------------------------------- the sweep */

static const float LEVELS[] = {0.0f, 0.3f, 0.75f};

TEST(sensitivity_weights_exact_counts_and_baseline)
{
	REQUIRE(images(0));
	sn_graph *g = arch_model("models/cnn.arch", 5);
	REQUIRE(g);
	sn_sens_opts o = sn_sens_defaults();
	o.levels = LEVELS;
	o.n_levels = 3;
	sn_sensitivity s;
	REQUIRE(sn_prune_sensitivity(g, NULL, images(0), &o, &s) == SN_OK);
	CHECK(s.n_layers == 2 && s.images == 300 && s.granularity == SN_GRAN_WEIGHT);   /* conv2, fc1 */
	CHECK(s.baseline == accuracy_of(g));
	const char *names[] = {"conv2", "fc1"};
	const size_t units[] = {18432, 802816};
	for (int k = 0; k < 2; k++) {
		REQUIRE(!strcmp(s.layers[k].layer, names[k]));
		CHECK(s.layers[k].units == units[k] && !strcmp(s.layers[k].members, names[k]));
		CHECK(s.accuracy[cell(&s, k, 0)] == s.baseline && s.pruned[cell(&s, k, 0)] == 0);
		for (int l = 1; l < 3; l++)
			CHECKF(s.pruned[cell(&s, k, l)] == (size_t)llround(LEVELS[l] * units[k]), "%s at %g: %zu pruned", names[k],
			       LEVELS[l], s.pruned[cell(&s, k, l)]);
	}
	/* the measurement is the accuracy of the model with that layer pruned, as prune makes it */
	unsigned char only_fc1[32] = {0};
	only_fc1[sn_graph_find(g, "fc1")] = 1;
	sn_graph *h = sn_graph_clone(g);
	REQUIRE(h && sn_prune_weights(h, only_fc1, SN_SCOPE_LAYER, 0.75f) == SN_OK);
	CHECK(accuracy_of(h) == s.accuracy[cell(&s, 1, 2)]);
	sn_graph_free(h);
	sn_sensitivity_free(&s);
	sn_graph_free(g);
}

/* Every value, buffer and mask of the model, to compare after a sweep. */
typedef struct { float *w, *buf; uint8_t *masks; size_t n_masks; int *has_mask; } snapshot;

static void snap(const sn_graph *g, snapshot *s)
{
	s->w = malloc(g->n_w * sizeof *s->w);
	s->buf = malloc((g->n_buf + 1) * sizeof *s->buf);
	s->has_mask = calloc((size_t)g->n_tensor, sizeof *s->has_mask);
	s->n_masks = 0;
	for (int k = 0; k < g->n_tensor; k++) s->n_masks += g->tensor[k].mask ? g->tensor[k].n : 0;
	s->masks = malloc(s->n_masks + 1);
	memcpy(s->w, g->w, g->n_w * sizeof *s->w);
	memcpy(s->buf, g->buf, g->n_buf * sizeof *s->buf);
	for (int k = 0, at = 0; k < g->n_tensor; k++)
		if ((s->has_mask[k] = g->tensor[k].mask != NULL)) { memcpy(s->masks + at, g->tensor[k].mask, g->tensor[k].n); at += (int)g->tensor[k].n; }
}

static int same_as(const sn_graph *g, const snapshot *s)
{
	int same = !memcmp(s->w, g->w, g->n_w * sizeof *s->w) && !memcmp(s->buf, g->buf, g->n_buf * sizeof *s->buf);
	for (int k = 0, at = 0; k < g->n_tensor; k++) {
		same &= s->has_mask[k] == (g->tensor[k].mask != NULL);
		if (s->has_mask[k] && g->tensor[k].mask) { same &= !memcmp(s->masks + at, g->tensor[k].mask, g->tensor[k].n); at += (int)g->tensor[k].n; }
	}
	return same;
}

static void snap_free(snapshot *s) { free(s->w); free(s->buf); free(s->masks); free(s->has_mask); }

TEST(sensitivity_restores_the_model_bit_for_bit)
{
	REQUIRE(images(0));
	const sn_granularity grans[] = {SN_GRAN_WEIGHT, SN_GRAN_FILTER, SN_GRAN_NEURON, SN_GRAN_BLOCK, SN_GRAN_FILTER};
	for (int k = 0; k < 5; k++) {
		sn_graph *g = arch_model("models/cnn.arch", 6);
		REQUIRE(g);
		unsigned char conv2[32] = {0};
		conv2[sn_graph_find(g, "conv2")] = 1;
		REQUIRE(sn_prune_weights(g, conv2, SN_SCOPE_LAYER, 0.2f) == SN_OK);   /* one layer masked before */
		snapshot before;
		snap(g, &before);
		sn_sens_opts o = sn_sens_defaults();
		o.prune.granularity = grans[k];
		o.prune.ignore = "none";
		if (k == 4) {   /* taylor scores: gradients from training batches, the model untouched */
			o.prune.criterion = SN_CRIT_TAYLOR;
			o.prune.taylor_batches = 2;
			o.prune.train.batch = 32;
		}
		o.levels = LEVELS;
		o.n_levels = 3;
		sn_sensitivity s;
		REQUIRE(sn_prune_sensitivity(g, images(1), images(0), &o, &s) == SN_OK);
		CHECKF(same_as(g, &before), "%s granularity, %s, left the model changed", sn_granularity_name(grans[k]),
		       sn_criterion_name(o.prune.criterion));
		CHECK(s.n_layers >= 1);
		/* the mask from before counts: conv2 has at least its 20 % at level 0 */
		int c2 = layer_row(&s, "conv2");
		if (grans[k] == SN_GRAN_WEIGHT) CHECK(c2 >= 0 && s.pruned[cell(&s, c2, 0)] == (size_t)llround(0.2 * 18432));
		snap_free(&before);
		sn_sensitivity_free(&s);
		sn_graph_free(g);
	}
}

/* ---------------------------------------------------------------- zeroing equals removing */

/* A sigmoid between convs: a zeroed channel still carries sigmoid(0) = 0.5, so only zeroing the
 * readers' columns too makes masking equal removal. */
static const char *sigmoid_arch =
	"input   x    shape=1x28x28\n"
	"conv    c1   out=8 k=3 stride=2 pad=1\n"
	"sigmoid s1\n"
	"conv    c2   out=12 k=3 stride=2 pad=1\n"
	"bn      b2\n"
	"relu    r2\n"
	"conv    dw   out=12 k=3 pad=1 groups=12\n"
	"relu    r3\n"
	"gap     pool\n"
	"flatten f\n"
	"linear  fc1  out=16\n"
	"relu    r4\n"
	"linear  fc2  out=10\n";

/* For every group: the weakest half of its channels zeroed in place vs removed: the same outputs. */
static void zeroing_equals_removal(const char *model, sn_granularity gran)
{
	sn_graph *g = arch_model(model, 21);
	REQUIRE(g);
	for (int i = 0; i < g->n_node; i++)   /* BN statistics that are not the identity */
		if (g->node[i].op == SN_OP_BN)
			for (int k = 0; k < g->node[i].out.c; k++) g->tensor[g->node[i].t[SN_T_MEAN]].data[k] = 0.1f * (k % 3);
	unsigned char p[512];
	REQUIRE(g->n_node <= 512 && sn_prune_select(g, gran, "none", p) == SN_OK);
	sn_chg *d = sn_chg_build(g, p);
	REQUIRE(d);
	double *imp = malloc(((size_t)d->n_class + 1) * sizeof *imp);
	sn_chg_rank *rank = malloc(((size_t)d->n_class + 1) * sizeof *rank);
	unsigned char *remove = calloc((size_t)d->n_class + 1, 1);
	sn_chg_importance(d, SN_CRIT_L1, imp);
	int removed = 0;
	for (int gi = 0; gi < d->n_group; gi++) {
		int classes, prunable;
		sn_chg_group_size(d, gi, &classes, &prunable);
		if (d->group_first[gi] >= 0) removed += sn_chg_choose(d, imp, gi, prunable / 2 + 1, rank, remove);
	}
	CHECK(removed > 0);
	const int n = 4;
	const size_t in = sn_shape_numel(sn_graph_input_shape(g));
	float *x = malloc(n * in * sizeof *x);
	for (size_t i = 0; i < n * in; i++) x[i] = (float)((i * 7919) % 1000) / 500.0f - 1.0f;
	sn_graph *h = sn_chg_remove(d, remove);
	REQUIRE(h && sn_chg_zero(g, d, remove) == SN_OK);
	float *y0 = sn_test_logits(g, x, n), *y1 = sn_test_logits(h, x, n);
	REQUIRE(y0 && y1);
	double err = sn_test_maxrel(y0, y1, (size_t)n * 10);
	CHECKF(err <= 1e-5, "%s, %s: %d channels zeroed vs removed differ by %g", model, sn_granularity_name(gran), removed, err);
	CHECK(sn_graph_count(h, SN_TENSOR_PARAM, 0) < sn_graph_count(g, SN_TENSOR_PARAM, 0));
	free(x); free(y0); free(y1); free(imp); free(rank); free(remove);
	sn_chg_free(d);
	sn_graph_free(h);
	sn_graph_free(g);
}

TEST(sensitivity_zeroing_equals_removal_sigmoid) { zeroing_equals_removal(sigmoid_arch, SN_GRAN_FILTER); }
TEST(sensitivity_zeroing_equals_removal_neurons) { zeroing_equals_removal(sigmoid_arch, SN_GRAN_NEURON); }
TEST(sensitivity_zeroing_equals_removal_resnet) { zeroing_equals_removal("models/resnet.arch", SN_GRAN_FILTER); }
TEST(sensitivity_zeroing_equals_removal_mobilenetv2) { zeroing_equals_removal("models/mobilenetv2.arch", SN_GRAN_FILTER); }
TEST(sensitivity_zeroing_equals_removal_inception) { zeroing_equals_removal("models/inception.arch", SN_GRAN_FILTER); }

/* The sweep's accuracy for a group equals that of the model sn_prune_filters makes. */
TEST(sensitivity_filters_match_pruned_models)
{
	REQUIRE(images(0));
	sn_graph *g = arch_model("models/cnn.arch", 7);
	REQUIRE(g);
	sn_sens_opts o = sn_sens_defaults();
	o.prune.granularity = SN_GRAN_FILTER;
	o.prune.criterion = SN_CRIT_BN;
	static const float levels[] = {0.25f, 0.5f, 0.9f};
	o.levels = levels;
	o.n_levels = 3;
	sn_tensor *gamma = &g->tensor[sn_tensor_find(g, "bn2.weight")];
	for (int c = 0; c < 64; c++) gamma->data[c] = 0.5f + (float)((c * 37) % 64) / 64.0f;
	sn_sensitivity s;
	REQUIRE(sn_prune_sensitivity(g, NULL, images(0), &o, &s) == SN_OK);
	REQUIRE(s.n_layers == 1 && !strcmp(s.layers[0].layer, "conv2") && s.layers[0].units == 64);
	unsigned char p[32];
	REQUIRE(sn_prune_select(g, SN_GRAN_FILTER, NULL, p) == SN_OK);
	for (int l = 0; l < 3; l++) {
		CHECK(s.pruned[cell(&s, 0, l)] == (size_t)llround(levels[l] * 64));
		sn_graph *h = sn_prune_filters(g, NULL, p, SN_CRIT_BN, SN_SCOPE_LAYER, levels[l]);
		REQUIRE(h);
		CHECK(h->node[sn_graph_find(h, "conv2")].a.conv.out_c == 64 - (int)s.pruned[cell(&s, 0, l)]);
		CHECKF(accuracy_of(h) == s.accuracy[cell(&s, 0, l)], "level %g: removed %.4f, zeroed %.4f", levels[l],
		       accuracy_of(h), s.accuracy[cell(&s, 0, l)]);
		sn_graph_free(h);
	}
	sn_sensitivity_free(&s);
	sn_graph_free(g);
}

TEST(sensitivity_bad_options)
{
	REQUIRE(images(0));
	sn_graph *g = arch_model("models/cnn.arch", 8);
	REQUIRE(g);
	sn_sensitivity s;
	sn_sens_opts o = sn_sens_defaults();
	static const float down[] = {0.5f, 0.2f}, over[] = {0.5f, 1.0f};
	o.levels = down;
	o.n_levels = 2;
	CHECK(sn_prune_sensitivity(g, NULL, images(0), &o, &s) == SN_EINVAL && strstr(sn_errmsg(), "ascend"));
	o.levels = over;
	CHECK(sn_prune_sensitivity(g, NULL, images(0), &o, &s) == SN_EINVAL && strstr(sn_errmsg(), "[0, 1)"));
	o = sn_sens_defaults();
	o.prune.criterion = SN_CRIT_BN;
	CHECK(sn_prune_sensitivity(g, NULL, images(0), &o, &s) == SN_EINVAL && strstr(sn_errmsg(), "bn criterion"));
	o = sn_sens_defaults();
	o.prune.criterion = SN_CRIT_TAYLOR;
	CHECK(sn_prune_sensitivity(g, NULL, images(0), &o, &s) == SN_EINVAL && strstr(sn_errmsg(), "training images"));
	o = sn_sens_defaults();
	o.prune.ignore = "conv1,conv2,fc1,fc2";
	CHECK(sn_prune_sensitivity(g, NULL, images(0), &o, &s) == SN_EINVAL && strstr(sn_errmsg(), "nothing to measure"));
	o.prune.ignore = "nosuch";
	CHECK(sn_prune_sensitivity(g, NULL, images(0), &o, &s) == SN_EINVAL && strstr(sn_errmsg(), "nosuch"));
	/* sparse kernels run on a packed copy of the weights: pruning in place would not reach it */
	o = sn_sens_defaults();
	REQUIRE(sn_graph_select_sparse(g, SN_SPARSE_FORCE) > 0);
	CHECK(sn_prune_sensitivity(g, NULL, images(0), &o, &s) == SN_EINVAL && strstr(sn_errmsg(), "sparse kernel"));
	sn_graph_free(g);
}

/* ---------------------------------------------------------------- the CSV */

static void put_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (f) { fputs(text, f); fclose(f); }
}

static char *temp_path(const char *name)
{
	static char path[8][512];
	static int next;
	char *p = path[next++ % 8];
	snprintf(p, 512, "%s/%s", sn_test_tmpdir(), name);
	return p;
}

TEST(sensitivity_csv_round_trip)
{
	float levels[] = {0.1f, 0.5f, 0.9f};
	sn_sens_layer layers[] = {{"conv2", "conv2", 18432}, {"odd,name", "a \"b\" c", 64}};
	double acc[] = {0.9, 0.85, 0.5, 0.91, 0.9, 0.1};
	size_t pruned[] = {1843, 9216, 16589, 6, 32, 58};
	sn_sensitivity s = {SN_GRAN_FILTER, SN_CRIT_L2, 3, levels, 2, layers, acc, pruned, 0.9123, 300};
	const char *path = temp_path("sens.csv");
	REQUIRE(sn_sensitivity_write_csv(&s, path) == SN_OK);
	sn_sensitivity r;
	REQUIRE(sn_sensitivity_read_csv(path, &r) == SN_OK);
	CHECK(r.granularity == SN_GRAN_FILTER && r.criterion == SN_CRIT_L2 && r.images == 300 && r.n_layers == 2 &&
	      r.n_levels == 3);
	CHECK_NEAR(r.baseline, 0.9123, 1e-9);
	for (int k = 0; k < 2 && r.n_layers == 2; k++) {
		CHECK(!strcmp(r.layers[k].layer, layers[k].layer) && !strcmp(r.layers[k].members, layers[k].members));
		CHECK(r.layers[k].units == layers[k].units);
		for (int l = 0; l < 3; l++) {
			CHECK(r.levels[l] == levels[l] && r.pruned[cell(&r, k, l)] == pruned[k * 3 + l]);
			CHECK_NEAR(r.accuracy[cell(&r, k, l)], acc[k * 3 + l], 1e-9);
		}
	}
	sn_sensitivity_free(&r);
}

/* Each bad table and the message it must get. */
TEST(sensitivity_csv_rejects_bad_files_by_line)
{
#define HEAD "layer,granularity,level,accuracy,baseline\n"
	static const struct { const char *text, *message; } bad[] = {
		{"layer,granularity,level,accuracy\nconv2,weight,0.1,0.9\n", "bad.csv:1: the header lacks the column 'baseline'"},
		{HEAD "conv2,weight,0.1,0.9,0.9\nconv2,weight,0.5,high,0.9\n", "bad.csv:3: accuracy must be a number"},
		{HEAD "conv2,weight,0.1,0.9,0.9\nfc1,weight,0.2,0.9,0.9\n", "bad.csv:3: layer 'fc1' has level 0.2"},
		{HEAD "conv2,weight,0.1,0.9,0.9\nconv2,weight,0.2,0.9,0.9\nfc1,weight,0.1,0.9,0.9\n", "layer 'fc1' has 1 levels"},
		{HEAD "conv2,weight,0.1,0.9,0.9\nfc1,weight,0.1,0.9,0.9\nconv2,weight,0.1,0.9,0.9\n",
		 "bad.csv:4: the rows of layer 'conv2' must follow each other"},
		{HEAD "conv2,weight,0.1,0.9\n", "bad.csv:2: 4 fields, but the header has 5"},
		{HEAD "conv2,twig,0.1,0.9,0.9\n", "unknown granularity 'twig'"},
		{HEAD "\"conv2,weight,0.1,0.9,0.9\n", "bad.csv:2: a quoted field does not end"},
		{HEAD, "has no rows"},
	};
#undef HEAD
	const char *path = temp_path("bad.csv");
	sn_sensitivity r;
	for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
		put_text(path, bad[k].text);
		int rc = sn_sensitivity_read_csv(path, &r);
		CHECKF(rc == SN_EFORMAT && strstr(sn_errmsg(), bad[k].message), "expected '%s', got %d: %s", bad[k].message, rc,
		       sn_errmsg());
	}
	CHECK(sn_sensitivity_read_csv(temp_path("missing.csv"), &r) == SN_EIO);
}

/* ---------------------------------------------------------------- targets */

static void targets_rejected(const sn_graph *g, sn_granularity gran, const char *text, const char *message)
{
	const char *path = temp_path("t.txt");
	float t[64];
	put_text(path, text);
	int rc = sn_prune_read_targets(g, gran, path, t);
	CHECKF(rc == SN_EFORMAT && strstr(sn_errmsg(), message), "expected '%s', got %d: %s", message, rc, sn_errmsg());
}

TEST(prune_targets_file_strict)
{
	sn_graph *g = arch_model("models/cnn.arch", 9);
	REQUIRE(g);
	const char *path = temp_path("targets.txt");
	put_text(path, "# per-layer targets\n\nconv2 0.5   # the conv\n\tfc1\t0.9\n");
	float t[32];
	REQUIRE(sn_prune_read_targets(g, SN_GRAN_WEIGHT, path, t) == SN_OK);
	for (int i = 0; i < g->n_node; i++) {
		const char *n = g->node[i].name;
		CHECKF(t[i] == (!strcmp(n, "conv2") ? 0.5f : !strcmp(n, "fc1") ? 0.9f : -1.0f), "%s: %g", n, t[i]);
	}
	targets_rejected(g, SN_GRAN_WEIGHT, "conv2 0.5\nconv9 0.5\n", "t.txt:2: the model has no layer 'conv9'");
	targets_rejected(g, SN_GRAN_WEIGHT, "conv2 0.5\n\nconv2 0.4\n", "t.txt:3: 'conv2' is listed twice (first on line 1)");
	targets_rejected(g, SN_GRAN_WEIGHT, "conv2 1.0\n", "t.txt:1: the target of 'conv2' must be a number in [0, 1)");
	targets_rejected(g, SN_GRAN_WEIGHT, "conv2 50%\n", "t.txt:1: the target of 'conv2'");
	targets_rejected(g, SN_GRAN_WEIGHT, "conv2 0.5 0.6\n", "t.txt:1: expected 'LAYER TARGET'");
	targets_rejected(g, SN_GRAN_WEIGHT, "# nothing\nconv2\n", "t.txt:2: expected 'LAYER TARGET'");
	targets_rejected(g, SN_GRAN_WEIGHT, "bn2 0.5\n", "t.txt:1: 'bn2' is not a layer that weight granularity prunes");
	targets_rejected(g, SN_GRAN_FILTER, "fc1 0.5\n", "t.txt:1: 'fc1' is not a layer that filter granularity prunes");
	targets_rejected(g, SN_GRAN_WEIGHT, "# only comments\n\n", "lists no layer");
	sn_graph_free(g);
}

TEST(prune_targets_from_sensitivity_rule)
{
	sn_graph *g = arch_model("models/cnn.arch", 10);
	REQUIRE(g);
	float levels[] = {0.2f, 0.4f, 0.6f, 0.8f};
	sn_sens_layer layers[] = {{"conv2", "conv2", 100}, {"fc1", "fc1", 100}, {"conv1", "conv1", 100}};
	/* drops (points): conv2 0.1 0.5 0.8 0.2 -> 0.4 (0.8 ends it, though 0.8's drop is small again);
	 * fc1 all within -> 0.8; conv1 over at once -> 0 */
	double acc[] = {0.899, 0.895, 0.892, 0.898, 0.9, 0.9, 0.899, 0.8955, 0.89, 0.85, 0.8, 0.7};
	sn_sensitivity s = {SN_GRAN_WEIGHT, SN_CRIT_L1, 4, levels, 3, layers, acc, NULL, 0.9, 10000};
	float t[32];
	REQUIRE(sn_prune_targets_from_sensitivity(g, &s, SN_GRAN_WEIGHT, 0.5f, t) == SN_OK);
	CHECK(t[sn_graph_find(g, "conv2")] == 0.4f && t[sn_graph_find(g, "fc1")] == 0.8f && t[sn_graph_find(g, "conv1")] == 0.0f);
	CHECK(t[sn_graph_find(g, "fc2")] == -1.0f);
	CHECK(sn_prune_targets_from_sensitivity(g, &s, SN_GRAN_FILTER, 0.5f, t) == SN_EINVAL &&
	      strstr(sn_errmsg(), "measured at weight granularity"));
	snprintf(layers[1].layer, sizeof layers[1].layer, "fc9");
	CHECK(sn_prune_targets_from_sensitivity(g, &s, SN_GRAN_WEIGHT, 0.5f, t) == SN_EINVAL && strstr(sn_errmsg(), "'fc9'"));
	sn_graph_free(g);
}

/* ---------------------------------------------------------------- the loop */

static size_t zeros(const sn_graph *g, const char *tensor)
{
	const sn_tensor *t = &g->tensor[sn_tensor_find(g, tensor)];
	size_t z = 0;
	for (size_t i = 0; i < t->n; i++) z += t->data[i] == 0.0f;
	return z;
}

typedef struct { int n; float target[8]; } rows;
static void on_row(const sn_prune_step *s, void *user)
{
	rows *r = user;
	if (r->n < 8) r->target[r->n++] = s->target;
}

TEST(prune_layer_targets_weights_exact)
{
	REQUIRE(images(0));
	sn_graph *g = arch_model("models/cnn.arch", 11);
	REQUIRE(g);
	float t[32];
	for (int i = 0; i < g->n_node; i++) t[i] = -1;
	t[sn_graph_find(g, "conv2")] = 0.3f;
	t[sn_graph_find(g, "conv1")] = 0.5f;   /* on the default ignore list: listing it prunes it */
	sn_prune_opts o = sn_prune_defaults();
	o.layer_targets = t;
	o.target = 0.9f;                        /* fc1, listed nowhere */
	o.steps = 2;
	o.finetune_epochs = 0;
	sn_meta meta = {.test_accuracy = -1};
	rows r = {0};
	REQUIRE(sn_prune_run(&g, images(1), images(0), &o, &meta, on_row, &r) == SN_OK);
	CHECK(zeros(g, "conv2.weight") == (size_t)llround(0.3 * 18432));
	CHECK(zeros(g, "conv1.weight") == (size_t)llround(0.5 * 288));
	CHECK(zeros(g, "fc1.weight") == (size_t)llround(0.9 * 802816));
	CHECK(zeros(g, "fc2.weight") == 0);
	/* the rows' targets: the layers' together, agp half way (1 - 0.5^3 = 0.875 of the way), then all */
	const double total = 18432 + 288 + 802816, whole = (0.3 * 18432 + 0.5 * 288 + 0.9 * 802816) / total;
	CHECK(r.n == 3);
	CHECK_NEAR(r.target[1], 0.875 * whole, 1e-5);
	CHECK_NEAR(r.target[2], whole, 1e-5);
	/* a listed layer that --ignore names is a contradiction */
	o.ignore = "conv1";
	CHECK(sn_prune_run(&g, images(1), images(0), &o, &meta, NULL, NULL) == SN_EINVAL &&
	      strstr(sn_errmsg(), "'conv1' has a target but --ignore names it"));
	sn_graph_free(g);
}

TEST(prune_layer_targets_groups_exact)
{
	REQUIRE(images(0));
	sn_graph *g = arch_model("models/resnet.arch", 12);
	REQUIRE(g);
	sn_graph *ref = sn_graph_clone(g);
	float t[512];
	REQUIRE(g->n_node <= 512);
	for (int i = 0; i < g->n_node; i++) t[i] = -1;
	t[sn_graph_find(g, "layer2.0.conv1")] = 0.75f;
	t[sn_graph_find(g, "layer2.1.conv2")] = 0.5f;   /* the group of layer2.0.conv2 and its shortcut */
	sn_prune_opts o = sn_prune_defaults();
	o.granularity = SN_GRAN_FILTER;
	o.layer_targets = t;
	o.target = 0;
	o.steps = 3;
	o.schedule = SN_PSCHED_LINEAR;
	o.finetune_epochs = 0;
	sn_meta meta = {.test_accuracy = -1};
	REQUIRE(sn_prune_run(&g, images(1), images(0), &o, &meta, NULL, NULL) == SN_OK);
	const char *names[] = {"layer2.0.conv1", "layer2.0.conv2", "layer2.0.downsample.0", "layer2.1.conv2", "layer3.0.conv1"};
	for (int k = 0; k < 5; k++) {
		const int before = ref->node[sn_graph_find(ref, names[k])].a.conv.out_c;
		const int want = k == 0 ? before - (int)llround(0.75 * before) : k < 4 ? before / 2 : before;
		CHECKF(g->node[sn_graph_find(g, names[k])].a.conv.out_c == want, "%s: %d channels, expected %d", names[k],
		       g->node[sn_graph_find(g, names[k])].a.conv.out_c, want);
	}
	/* the convs of one group take one target */
	sn_graph_free(g);
	g = sn_graph_clone(ref);
	t[sn_graph_find(g, "layer2.0.conv2")] = 0.25f;
	CHECK(sn_prune_run(&g, images(1), images(0), &o, &meta, NULL, NULL) == SN_EINVAL &&
	      strstr(sn_errmsg(), "make the same channels"));
	t[sn_graph_find(g, "layer2.0.conv2")] = -1;
	t[sn_graph_find(g, "layer1.0.conv2")] = 0.5f;   /* tied to the stem, which is ignored */
	CHECK(sn_prune_run(&g, images(1), images(0), &o, &meta, NULL, NULL) == SN_EINVAL &&
	      strstr(sn_errmsg(), "cannot be removed"));
	sn_graph_free(g);
	sn_graph_free(ref);
}
