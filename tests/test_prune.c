/* Pruning: exact sparsity per layer and globally, ties, masks that only grow, the default and
 * explicit ignore lists, the schedules' values, masks through SGD and Adam, the coupled channel
 * groups, channel removal that leaves the function unchanged (plain chain, residual Adds,
 * depthwise inverted residuals, Concat), and the pruning loop with its accuracy budget. */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>
#include "test.h"
#include "slimnn.h"
#include "prune/prune.h"
#include "train/train_internal.h"

static size_t zeros_of(const sn_tensor *t)
{
	size_t z = 0;
	for (size_t i = 0; i < t->n; i++) z += t->data[i] == 0.0f;
	return z;
}


/* ---------------------------------------------------------------- unstructured */

TEST(prune_exact_sparsity_per_layer)
{
	sn_graph *g = sn_test_zoo("cnn", 3);
	REQUIRE(g);
	unsigned char p[64];
	REQUIRE(sn_prune_select(g, SN_GRAN_WEIGHT, NULL, p) == SN_OK);
	CHECK(!p[sn_graph_find(g, "conv1")] && !p[sn_graph_find(g, "fc2")]);
	CHECK(p[sn_graph_find(g, "conv2")] && p[sn_graph_find(g, "fc1")] && !p[sn_graph_find(g, "bn2")]);
	REQUIRE(sn_prune_weights(g, p, SN_SCOPE_LAYER, 0.7f) == SN_OK);
	const char *pruned[] = {"conv2.weight", "fc1.weight"};
	for (int k = 0; k < 2; k++) {
		sn_tensor *t = sn_test_tensor(g, pruned[k]);
		size_t masked = 0;
		for (size_t i = 0; i < t->n; i++) masked += !t->mask[i];
		CHECKF(zeros_of(t) == (size_t)llround(0.7 * t->n) && masked == zeros_of(t), "%s: %zu zeros of %zu", t->name,
		       zeros_of(t), t->n);
	}
	const char *kept[] = {"conv1.weight", "fc2.weight", "fc1.bias", "bn2.weight", "bn2.bias"};
	for (int k = 0; k < 5; k++) CHECKF(!sn_test_tensor(g, kept[k])->mask, "%s", kept[k]);
	CHECK(zeros_of(sn_test_tensor(g, "conv1.weight")) == 0 && zeros_of(sn_test_tensor(g, "fc2.weight")) == 0);
	size_t done, total;
	CHECK_NEAR(sn_prune_sparsity(g, NULL, SN_GRAN_WEIGHT, p, &done, &total), 0.7, 1e-5);
	CHECK(total == 18432 + 802816);
	sn_graph_free(g);
}

TEST(prune_exact_sparsity_global_with_ties)
{
	sn_graph *g = sn_test_zoo("cnn", 4);
	REQUIRE(g);
	unsigned char p[64];
	REQUIRE(sn_prune_select(g, SN_GRAN_WEIGHT, NULL, p) == SN_OK);
	/* only three magnitudes: the cut falls inside a run of equal values */
	sn_tensor *a = sn_test_tensor(g, "conv2.weight"), *b = sn_test_tensor(g, "fc1.weight");
	for (size_t i = 0; i < a->n; i++) a->data[i] = (i % 3 + 1) * (i % 2 ? 0.1f : -0.1f);
	for (size_t i = 0; i < b->n; i++) b->data[i] = (i % 3 + 1) * 0.1f;
	REQUIRE(sn_prune_weights(g, p, SN_SCOPE_GLOBAL, 0.5f) == SN_OK);
	size_t total = a->n + b->n;
	CHECK(zeros_of(a) + zeros_of(b) == (size_t)llround(0.5 * total));
	/* every 0.1 is gone, then part of the 0.2s; no 0.3 */
	for (size_t i = 0; i < b->n; i++)
		if (i % 3 == 0) CHECK(b->data[i] == 0.0f);
	CHECK(zeros_of(a) >= a->n / 3);
	/* global: one ranking over every prunable weight */
	sn_graph *h = sn_test_zoo("cnn", 5);
	REQUIRE(sn_prune_weights(h, p, SN_SCOPE_GLOBAL, 0.9f) == SN_OK);
	size_t z2 = zeros_of(sn_test_tensor(h, "conv2.weight")), z1 = zeros_of(sn_test_tensor(h, "fc1.weight"));
	CHECK(z1 + z2 == (size_t)llround(0.9 * total));
	CHECK(z2 < (size_t)(0.9 * 18432));   /* conv2's weights are larger (fan-in 288 vs 3136) */
	sn_graph_free(h);
	sn_graph_free(g);
}

TEST(prune_masks_only_grow)
{
	sn_graph *g = sn_test_zoo("cnn", 6);
	REQUIRE(g);
	unsigned char p[64];
	REQUIRE(sn_prune_select(g, SN_GRAN_WEIGHT, "conv1,fc2,fc1", p) == SN_OK);
	sn_tensor *t = sn_test_tensor(g, "conv2.weight");
	REQUIRE(sn_prune_weights(g, p, SN_SCOPE_LAYER, 0.5f) == SN_OK);
	uint8_t *m1 = malloc(t->n);
	memcpy(m1, t->mask, t->n);
	/* revive a pruned weight's value (as a bad optimizer would): it must stay pruned */
	size_t dead = 0;
	while (m1[dead]) dead++;
	t->data[dead] = 100.0f;
	REQUIRE(sn_prune_weights(g, p, SN_SCOPE_LAYER, 0.8f) == SN_OK);
	int subset = 1;
	for (size_t i = 0; i < t->n; i++) subset &= m1[i] || !t->mask[i];
	CHECK(subset && t->data[dead] == 0.0f);
	CHECK(zeros_of(t) == (size_t)llround(0.8 * t->n));
	REQUIRE(sn_prune_weights(g, p, SN_SCOPE_LAYER, 0.3f) == SN_OK);   /* a lower target revives nothing */
	CHECK(zeros_of(t) == (size_t)llround(0.8 * t->n));
	CHECK(!sn_test_tensor(g, "fc1.weight")->mask);
	free(m1);
	sn_graph_free(g);
}

TEST(prune_ignore_lists)
{
	sn_graph *g = sn_test_zoo("resnet", 1);
	REQUIRE(g);
	unsigned char p[128];
	REQUIRE(sn_prune_select(g, SN_GRAN_WEIGHT, NULL, p) == SN_OK);
	CHECK(!p[sn_graph_find(g, "conv1")] && !p[sn_graph_find(g, "fc")] && p[sn_graph_find(g, "layer1.0.conv1")]);
	REQUIRE(sn_prune_select(g, SN_GRAN_WEIGHT, "none", p) == SN_OK);
	CHECK(p[sn_graph_find(g, "conv1")] && p[sn_graph_find(g, "fc")]);
	REQUIRE(sn_prune_select(g, SN_GRAN_WEIGHT, "layer2.0.conv1,fc", p) == SN_OK);
	CHECK(p[sn_graph_find(g, "conv1")] && !p[sn_graph_find(g, "fc")] && !p[sn_graph_find(g, "layer2.0.conv1")]);
	CHECK(sn_prune_select(g, SN_GRAN_WEIGHT, "conv1,nosuch", p) == SN_EINVAL);
	CHECK(strstr(sn_errmsg(), "no layer 'nosuch'"));
	CHECK(sn_prune_select(g, SN_GRAN_WEIGHT, "conv1,,fc", p) == SN_EINVAL);
	/* filters: only plain convs make channels */
	sn_graph *m = sn_test_zoo("mobilenetv2", 1);
	REQUIRE(m);
	REQUIRE(sn_prune_select(m, SN_GRAN_FILTER, NULL, p) == SN_OK);
	CHECK(!p[sn_graph_find(m, "stem")] && !p[sn_graph_find(m, "b2.dw")] && p[sn_graph_find(m, "b2.expand")]);
	CHECK(!p[sn_graph_find(m, "fc")]);
	sn_graph_free(m);
	sn_graph_free(g);
}

TEST(prune_schedule_values)
{
	sn_prune_opts o = sn_prune_defaults();
	o.target = 0.95f;
	o.steps = 3;
	o.schedule = SN_PSCHED_AGP;
	const double agp[] = {0, 0.95 * (1 - 8.0 / 27), 0.95 * (1 - 1.0 / 27), 0.95};
	for (int t = 0; t <= 3; t++) CHECK_NEAR(sn_prune_schedule_at(&o, 0, t), agp[t], 1e-6);
	CHECK_NEAR(sn_prune_schedule_at(&o, 0.5f, 1), 0.95 + (0.5 - 0.95) * 8.0 / 27, 1e-6);
	o.schedule = SN_PSCHED_LINEAR;
	o.steps = 4;
	for (int t = 1; t <= 4; t++) CHECK_NEAR(sn_prune_schedule_at(&o, 0, t), 0.95 * t / 4, 1e-6);
	o.schedule = SN_PSCHED_ONESHOT;
	for (int t = 1; t <= 4; t++) CHECK_NEAR(sn_prune_schedule_at(&o, 0, t), 0.95, 1e-6);
	o.steps = 1;
	o.schedule = SN_PSCHED_AGP;
	CHECK_NEAR(sn_prune_schedule_at(&o, 0, 1), 0.95, 1e-6);
}

/* ---------------------------------------------------------------- masks through training */

static const char *tiny_arch =
	"input   x    shape=1x28x28\n"
	"conv    c1   out=4 k=3 stride=2 pad=1 bias=0\n"
	"bn      bn1\n"
	"relu    r1\n"
	"conv    c2   out=8 k=3 stride=2 pad=1\n"
	"relu    r2\n"
	"flatten f\n"
	"linear  fc1  out=16\n"
	"relu    r3\n"
	"linear  fc2  out=10\n";

static int masks_hold(const sn_graph *g, const uint8_t *before, const char *name)
{
	const sn_tensor *t = &g->tensor[sn_tensor_find(g, name)];
	for (size_t i = 0; i < t->n; i++)
		if (t->mask[i] != before[i] || (!t->mask[i] && t->data[i] != 0.0f)) return 0;
	return 1;
}

TEST(prune_masks_hold_through_sgd_and_adam)
{
	sn_dataset *tr, *te;
	REQUIRE(sn_test_fmnist(200, &tr, &te) == 0);
	for (int opt = 0; opt < 2; opt++) {
		sn_graph *g = sn_arch_parse(tiny_arch, "tiny");
		REQUIRE(g);
		sn_graph_init_params(g, 2);
		unsigned char p[16];
		REQUIRE(sn_prune_select(g, SN_GRAN_WEIGHT, "none", p) == SN_OK);
		REQUIRE(sn_prune_weights(g, p, SN_SCOPE_GLOBAL, 0.8f) == SN_OK);
		const sn_tensor *fc1 = sn_test_tensor(g, "fc1.weight");
		uint8_t *before = malloc(fc1->n);
		memcpy(before, fc1->mask, fc1->n);
		sn_train_opts o = sn_train_defaults();
		o.optimizer = opt ? SN_OPT_ADAM : SN_OPT_SGD;
		o.lr = opt ? 0.01f : 0.1f;
		o.epochs = 2;
		o.batch = 32;
		o.progress = 0;
		o.weight_decay = 1e-3f;
		sn_test_mute();
		int rc = sn_train(g, tr, te, &o, NULL, NULL);
		sn_test_unmute();
		REQUIRE(rc == SN_OK);
		CHECKF(masks_hold(g, before, "fc1.weight"), "optimizer %s revived a pruned weight", opt ? "adam" : "sgd");
		free(before);
		sn_graph_free(g);
	}
}

/* ---------------------------------------------------------------- channel groups */

static int group_of(const sn_chg *d, const sn_graph *g, const char *node)
{
	return d->class_group[sn_chg_class(d, sn_graph_find(g, node), 0)];
}

TEST(prune_groups_follow_adds_concats_and_depthwise)
{
	sn_graph *r = sn_test_zoo("resnet", 1);
	REQUIRE(r);
	sn_chg *d = sn_chg_build(r, NULL);
	REQUIRE(d);
	/* the residual stream of each stage is one group; a block's inner conv is its own */
	CHECK(group_of(d, r, "conv1") == group_of(d, r, "layer1.1.conv2"));
	CHECK(group_of(d, r, "layer2.0.downsample.0") == group_of(d, r, "layer2.1.conv2"));
	CHECK(group_of(d, r, "layer2.0.conv1") != group_of(d, r, "layer2.0.conv2"));
	CHECK(sn_chg_class(d, sn_graph_find(r, "layer3.0.conv2"), 5) == sn_chg_class(d, sn_graph_find(r, "layer3.1.bn2"), 5));
	sn_chg_free(d);
	sn_graph_free(r);

	sn_graph *m = sn_test_zoo("mobilenetv2", 1);
	REQUIRE(m);
	d = sn_chg_build(m, NULL);
	REQUIRE(d);
	CHECK(group_of(d, m, "b2.expand") == group_of(d, m, "b2.dw_bn"));        /* depthwise carries channels */
	CHECK(group_of(d, m, "b6.project") == group_of(d, m, "b8.add"));
	CHECK(d->class_frozen[sn_chg_class(d, sn_graph_find(m, "fc"), 0)]);      /* logits stay */
	sn_chg_free(d);
	sn_graph_free(m);

	sn_graph *c = sn_test_zoo("inception", 1);
	REQUIRE(c);
	d = sn_chg_build(c, NULL);
	REQUIRE(d);
	int cat = sn_graph_find(c, "inc.cat");
	CHECK(sn_chg_class(d, cat, 16) == sn_chg_class(d, sn_graph_find(c, "inc.b2"), 0));  /* by offset */
	CHECK(sn_chg_class(d, cat, 71) == sn_chg_class(d, sn_graph_find(c, "inc.b4_act"), 15));
	CHECK(group_of(d, c, "inc.b1") != group_of(d, c, "inc.b2"));
	sn_chg_free(d);
	sn_graph_free(c);
}

/* BN running statistics that are not the identity, so a zeroed channel is zero only because
 * gamma and beta are. */
static void shake_bn(sn_graph *g)
{
	for (int i = 0; i < g->n_node; i++) {
		if (g->node[i].op != SN_OP_BN) continue;
		sn_tensor *m = &g->tensor[g->node[i].t[SN_T_MEAN]], *v = &g->tensor[g->node[i].t[SN_T_VAR]];
		sn_tensor *b = &g->tensor[g->node[i].t[SN_T_BIAS]];
		for (size_t k = 0; k < m->n; k++) {
			m->data[k] = 0.05f * (float)((k * 7) % 5) - 0.1f;
			v->data[k] = 0.5f + 0.1f * (float)(k % 4);
			b->data[k] = 0.02f * (float)((k * 3) % 7) - 0.05f;
		}
	}
}

/* Zeroes about a third of each prunable group's channels, removes them, and compares outputs. */
static void removal_keeps_function(const char *name)
{
	sn_graph *g = sn_test_zoo(name, 11);
	REQUIRE(g);
	shake_bn(g);
	unsigned char p[256];
	REQUIRE(sn_prune_select(g, SN_GRAN_FILTER, "none", p) == SN_OK);
	sn_chg *d = sn_chg_build(g, p);
	REQUIRE(d);
	unsigned char *remove = calloc((size_t)d->n_class, 1);
	int *seen = calloc((size_t)d->n_group, sizeof *seen), removed = 0;
	for (int c = 0; c < d->n_class; c++) {
		int gi = d->class_group[c];
		if (d->class_frozen[c] || seen[gi]++ % 3 != 1) continue;
		remove[c] = 1;
		removed++;
		sn_chg_zero_class(g, d, c);
	}
	CHECK(removed > 0);
	const int n = 3;
	const size_t in = sn_shape_numel(sn_graph_input_shape(g));
	float *x = malloc(n * in * sizeof *x);
	for (size_t i = 0; i < n * in; i++) x[i] = (float)((i * 7919) % 1000) / 500.0f - 1.0f;
	float *y0 = sn_test_logits(g, x, n);
	sn_graph *h = sn_chg_remove(d, remove);
	REQUIRE(h && y0);
	float *y1 = sn_test_logits(h, x, n);
	REQUIRE(y1);
	double err = sn_test_maxrel(y1, y0, (size_t)n * 10);
	CHECKF(err <= 1e-6, "%s: removing %d zero channels changed the output by %g", name, removed, err);
	CHECK(sn_graph_count(h, SN_TENSOR_PARAM, 0) < sn_graph_count(g, SN_TENSOR_PARAM, 0));
	/* the smaller graph is a normal graph: it saves, loads and runs the same */
	char path[512];
	snprintf(path, sizeof path, "%s/prune-%s.slim", sn_test_tmpdir(), name);
	REQUIRE(sn_model_save(h, NULL, NULL, path) == SN_OK);
	sn_graph *l = sn_model_load(path, NULL, NULL);
	REQUIRE(l);
	float *y2 = sn_test_logits(l, x, n);
	CHECK(y2 && !memcmp(y1, y2, (size_t)n * 10 * sizeof *y2));
	free(y2);
	sn_graph_free(l);
	free(x); free(y0); free(y1); free(remove); free(seen);
	sn_chg_free(d);
	sn_graph_free(h);
	sn_graph_free(g);
}

TEST(prune_remove_zero_channels_cnn) { removal_keeps_function("cnn"); }
TEST(prune_remove_zero_channels_resnet) { removal_keeps_function("resnet"); }
TEST(prune_remove_zero_channels_mobilenetv2) { removal_keeps_function("mobilenetv2"); }
TEST(prune_remove_zero_channels_inception) { removal_keeps_function("inception"); }
TEST(prune_remove_zero_channels_mobilenetv3) { removal_keeps_function("mobilenetv3"); }   /* SE gates (mul) */
TEST(prune_remove_zero_channels_shufflenetv2) { removal_keeps_function("shufflenetv2"); } /* slice, shuffle */

/* Filter pruning on the baseline CNN: conv2 keeps its 26 strongest filters, every reader follows. */
TEST(prune_filters_cnn)
{
	sn_graph *g = sn_test_zoo("cnn", 12);
	REQUIRE(g);
	unsigned char p[64];
	REQUIRE(sn_prune_select(g, SN_GRAN_FILTER, NULL, p) == SN_OK);
	sn_graph *h = sn_prune_filters(g, NULL, p, SN_CRIT_L1, SN_SCOPE_LAYER, 0.6f);
	REQUIRE(h);
	CHECK(h->node[sn_graph_find(h, "conv2")].a.conv.out_c == 26 && h->node[sn_graph_find(h, "conv1")].a.conv.out_c == 32);
	CHECK(sn_test_tensor(h, "bn2.running_var")->n == 26 && sn_test_tensor(h, "fc1.weight")->dims[1] == 26 * 49);
	/* the kept rows are the largest, in their old order, with their fc1 columns */
	sn_tensor *f = sn_test_tensor(g, "fc1.weight"), *f2 = sn_test_tensor(h, "fc1.weight");
	int old[26], ok = 1;
	CHECK(sn_test_kept_strongest(sn_test_tensor(g, "conv2.weight"), sn_test_tensor(h, "conv2.weight"), 64, 288, old) == 26);
	for (int j = 0; j < 26; j++)
		ok &= !memcmp(f2->data + 3 * 26 * 49 + j * 49, f->data + 3 * 3136 + old[j] * 49, 49 * sizeof(float));
	CHECK(ok);
	/* rounds count against the original: 0.3 then 0.6 ends where 0.6 at once does */
	sn_graph *a = sn_prune_filters(g, NULL, p, SN_CRIT_L1, SN_SCOPE_LAYER, 0.3f);
	REQUIRE(a);
	sn_graph *b = sn_prune_filters(a, g, p, SN_CRIT_L1, SN_SCOPE_LAYER, 0.6f);
	REQUIRE(b);
	CHECK(b->node[sn_graph_find(b, "conv2")].a.conv.out_c == 26);
	size_t gone, total;
	CHECK_NEAR(sn_prune_sparsity(b, g, SN_GRAN_FILTER, p, &gone, &total), 38.0 / 64, 1e-9);
	sn_graph_free(a);
	sn_graph_free(b);
	sn_graph_free(h);
	sn_graph_free(g);
}

/* BN gamma as the criterion; global scope keeps at least one channel in every group. */
TEST(prune_filters_bn_and_global)
{
	sn_graph *g = sn_test_zoo("cnn", 13);
	REQUIRE(g);
	unsigned char p[64];
	REQUIRE(sn_prune_select(g, SN_GRAN_FILTER, "none", p) == SN_OK);
	sn_tensor *gam = sn_test_tensor(g, "bn2.weight");
	for (int c = 0; c < 64; c++) gam->data[c] = c % 2 ? 1.0f + c : -0.01f * c;   /* even channels weak */
	sn_graph *h = sn_prune_filters(g, NULL, p, SN_CRIT_BN, SN_SCOPE_LAYER, 0.5f);
	REQUIRE(h);
	sn_tensor *g2 = sn_test_tensor(h, "bn2.weight");
	int odd = 1;
	for (int c = 0; c < 32; c++) odd &= g2->data[c] == 1.0f + (2 * c + 1);
	CHECK(g2->n == 32 && odd);
	sn_graph_free(h);
	sn_graph *r = sn_test_zoo("resnet", 2);
	REQUIRE(r);
	unsigned char q[128];
	REQUIRE(sn_prune_select(r, SN_GRAN_FILTER, NULL, q) == SN_OK);
	h = sn_prune_filters(r, NULL, q, SN_CRIT_L2, SN_SCOPE_GLOBAL, 0.9f);
	REQUIRE(h);
	size_t gone, total;
	sn_prune_sparsity(h, r, SN_GRAN_FILTER, q, &gone, &total);
	CHECK(total == 16 + 16 + 32 + 32 + 32 + 64 + 64 + 64);   /* layer1's stream is the ignored stem's */
	CHECK(gone <= (size_t)llround(0.9 * total) && gone + 8 >= (size_t)llround(0.9 * total));
	for (int i = 0; i < h->n_node; i++)
		if (h->node[i].op == SN_OP_CONV) CHECK(h->node[i].a.conv.out_c >= 1);
	sn_graph_free(h);
	sn_graph_free(r);
	sn_graph_free(g);
}

/* Weight masks follow the channels that survive filter pruning. */
TEST(prune_filters_carry_masks)
{
	sn_graph *g = sn_test_zoo("cnn", 14);
	REQUIRE(g);
	unsigned char pw[64], pf[64];
	REQUIRE(sn_prune_select(g, SN_GRAN_WEIGHT, NULL, pw) == SN_OK);
	REQUIRE(sn_prune_select(g, SN_GRAN_FILTER, NULL, pf) == SN_OK);
	REQUIRE(sn_prune_weights(g, pw, SN_SCOPE_LAYER, 0.5f) == SN_OK);
	sn_graph *h = sn_prune_filters(g, NULL, pf, SN_CRIT_L1, SN_SCOPE_LAYER, 0.5f);
	REQUIRE(h);
	const char *names[] = {"conv2.weight", "fc1.weight"};
	for (int k = 0; k < 2; k++) {
		sn_tensor *t = sn_test_tensor(h, names[k]);
		int ok = t->mask != NULL;
		for (size_t i = 0; ok && i < t->n; i++) ok = !t->mask[i] == (t->data[i] == 0.0f);
		CHECKF(ok, "%s: mask and values disagree after filter pruning", names[k]);
	}
	sn_graph_free(h);
	sn_graph_free(g);
}

/* ---------------------------------------------------------------- the loop */


TEST(prune_run_rounds_and_budget)
{
	sn_dataset *tr, *te;
	REQUIRE(sn_test_fmnist(200, &tr, &te) == 0);
	sn_graph *g = sn_arch_parse(tiny_arch, "tiny");
	REQUIRE(g);
	sn_graph_init_params(g, 3);
	sn_train_opts to = sn_train_defaults();
	to.epochs = 2; to.batch = 32; to.progress = 0;
	sn_test_mute();
	int rc = sn_train(g, tr, te, &to, NULL, NULL);
	sn_test_unmute();
	REQUIRE(rc == SN_OK);
	sn_prune_opts o = sn_prune_defaults();
	o.target = 0.8f;
	o.steps = 2;
	o.ignore = "none";
	o.train.batch = 32;
	o.train.progress = 0;
	sn_meta meta = {.test_accuracy = -1};
	sn_test_steps r = {0};
	sn_graph *h = sn_graph_clone(g);
	sn_test_mute();
	rc = sn_prune_run(&h, tr, te, &o, &meta, sn_test_collect_steps, &r);
	sn_test_unmute();
	REQUIRE(rc == SN_OK || !fprintf(stderr, "  %s\n", sn_errmsg()));
	CHECK(r.n == 3 && r.rows[0].step == 0 && r.rows[2].step == 2);
	CHECK_NEAR(r.rows[1].target, 0.8 * (1 - 1.0 / 8), 1e-6);
	CHECK_NEAR(r.rows[2].sparsity, 0.8, 1e-3);
	CHECK(r.rows[2].nonzero < r.rows[0].nonzero && r.rows[2].file_bytes < r.rows[0].file_bytes);
	CHECK(meta.test_accuracy == r.rows[2].accuracy && meta.epochs == 2);
	unsigned char p[16];
	sn_prune_select(h, SN_GRAN_WEIGHT, "none", p);
	CHECK_NEAR(sn_prune_sparsity(h, NULL, SN_GRAN_WEIGHT, p, NULL, NULL), 0.8, 1e-3);
	sn_graph_free(h);

	/* a budget of 0 points and a brutal round without fine-tuning: undone, the input kept */
	o.target = 0.995f;
	o.steps = 1;
	o.finetune_epochs = 0;
	o.max_drop = 0;
	r.n = 0;
	h = sn_graph_clone(g);
	meta = (sn_meta){.test_accuracy = -1};
	sn_test_mute();
	rc = sn_prune_run(&h, tr, te, &o, &meta, sn_test_collect_steps, &r);
	sn_test_unmute();
	REQUIRE(rc == SN_OK);
	CHECK(r.n == 2 && r.rows[1].over_budget && r.rows[1].accuracy < r.rows[0].accuracy);
	CHECK(sn_prune_sparsity(h, NULL, SN_GRAN_WEIGHT, p, NULL, NULL) == 0.0);
	CHECK(meta.test_accuracy == r.rows[0].accuracy);

	/* filters in the loop: a smaller dense model */
	o = sn_prune_defaults();
	o.granularity = SN_GRAN_FILTER;
	o.scope = SN_SCOPE_LAYER;
	o.target = 0.5f;
	o.steps = 2;
	o.finetune_epochs = 0;
	r.n = 0;
	sn_graph_free(h);
	h = sn_graph_clone(g);
	sn_test_mute();
	rc = sn_prune_run(&h, tr, te, &o, &meta, sn_test_collect_steps, &r);
	sn_test_unmute();
	REQUIRE(rc == SN_OK);
	CHECK(h->node[sn_graph_find(h, "c2")].a.conv.out_c == 4 && r.rows[2].macs < r.rows[0].macs);
	CHECK_NEAR(r.rows[2].sparsity, 0.5, 1e-9);
	sn_graph_free(h);
	sn_graph_free(g);
}

/* Without data: magnitude pruning only, accuracies -1; what needs data is refused. */
TEST(prune_run_without_data)
{
	sn_graph *g = sn_arch_parse(tiny_arch, "tiny");
	REQUIRE(g);
	sn_graph_init_params(g, 5);
	sn_prune_opts o = sn_prune_defaults();
	o.granularity = SN_GRAN_FILTER;
	o.scope = SN_SCOPE_LAYER;
	o.target = 0.5f;
	o.steps = 2;
	o.finetune_epochs = 0;
	sn_meta meta = {.test_accuracy = 0.5};
	sn_test_steps r = {0};
	sn_graph *h = sn_graph_clone(g);
	int rc = sn_prune_run(&h, NULL, NULL, &o, &meta, sn_test_collect_steps, &r);
	REQUIRE(rc == SN_OK || !fprintf(stderr, "  %s\n", sn_errmsg()));
	CHECK(r.n == 3 && r.rows[0].accuracy == -1 && r.rows[2].accuracy == -1 && meta.test_accuracy == -1);
	CHECK(h->node[sn_graph_find(h, "c2")].a.conv.out_c == 4 && r.rows[2].macs < r.rows[0].macs);
	sn_graph_free(h);

	struct { int epochs, crit; float drop; const char *msg; } bad[] = {
		{1, SN_CRIT_L1, -1, "fine-tuning needs data"},
		{0, SN_CRIT_TAYLOR, -1, "taylor criterion needs data"},
		{0, SN_CRIT_L1, 1, "needs test data"}};
	for (int i = 0; i < 3; i++) {
		o.finetune_epochs = bad[i].epochs;
		o.criterion = bad[i].crit;
		o.max_drop = bad[i].drop;
		h = g;
		CHECK(sn_prune_run(&h, NULL, NULL, &o, &meta, NULL, NULL) == SN_EINVAL && strstr(sn_errmsg(), bad[i].msg) && h == g);
	}
	sn_graph_free(g);
}
