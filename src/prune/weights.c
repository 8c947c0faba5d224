/* Unstructured pruning: which layers may be pruned, the schedules, and magnitude pruning to an
 * exact count of zeros with masks that hold through training. */
#include <math.h>
#include "core/internal.h"
#include "prune/prune.h"

sn_prune_opts sn_prune_defaults(void)
{
	sn_prune_opts o = {0};
	o.granularity = SN_GRAN_WEIGHT;
	o.criterion = SN_CRIT_L1;
	o.scope = SN_SCOPE_GLOBAL;
	o.target = 0.5f;
	o.steps = 3;
	o.finetune_epochs = 1;
	o.schedule = SN_PSCHED_AGP;
	o.max_drop = -1;
	o.train = sn_train_defaults();
	/* fine-tuning starts from trained weights: no warm-up, a cosine decay from 0.03, the best
	 * of the rates measured on the baseline CNN (docs/prune.md) */
	o.train.schedule = SN_SCHED_COSINE;
	o.train.lr = 0.03f;
	/* and on the images as they are: the random crop that regularised training shifts the data
	 * away from the test distribution, which a short fine-tuning cannot afford (docs/prune.md) */
	o.train.augment = (sn_augment){0, 0};
	o.train.epochs = 1;
	o.eval_batch = 256;
	return o;
}

float sn_prune_schedule_at(const sn_prune_opts *o, float s0, int t)
{
	const int n = o->steps > 0 ? o->steps : 1;
	if (t <= 0) return s0;
	if (t >= n || o->schedule == SN_PSCHED_ONESHOT) return o->target;
	const double f = (double)t / n;
	if (o->schedule == SN_PSCHED_LINEAR) return (float)(s0 + (o->target - s0) * f);
	return (float)(o->target + (s0 - o->target) * pow(1.0 - f, 3));   /* agp */
}

/* ---------------------------------------------------------------- which layers */

static int has_weights(const sn_graph *g, int i, sn_granularity gran)
{
	const sn_node *n = &g->node[i];
	if (n->op == SN_OP_LINEAR) return gran == SN_GRAN_WEIGHT;
	if (n->op != SN_OP_CONV) return 0;
	return gran == SN_GRAN_WEIGHT || sn_conv_kind(g, n) == SN_CONV_PLAIN;
}

/* The first conv and the classifier (the last Linear, else the last conv). */
static void default_ignore(const sn_graph *g, unsigned char *prunable)
{
	int first = -1, last_lin = -1, last_conv = -1;
	for (int i = 0; i < g->n_node; i++) {
		if (g->node[i].op == SN_OP_CONV) { if (first < 0) first = i; last_conv = i; }
		if (g->node[i].op == SN_OP_LINEAR) last_lin = i;
	}
	if (first >= 0) prunable[first] = 0;
	if (last_lin >= 0) prunable[last_lin] = 0;
	else if (last_conv >= 0) prunable[last_conv] = 0;
}

int sn_prune_select(const sn_graph *g, sn_granularity gran, const char *ignore, unsigned char *prunable)
{
	for (int i = 0; i < g->n_node; i++) prunable[i] = (unsigned char)has_weights(g, i, gran);
	if (!ignore) { default_ignore(g, prunable); return SN_OK; }
	if (!strcmp(ignore, "none")) return SN_OK;
	for (const char *p = ignore; *p;) {
		size_t len = strcspn(p, ",");
		char name[SN_NAME_MAX];
		if (len == 0 || len >= sizeof name)
			return sn_seterr(SN_EINVAL, "--ignore expects layer names separated by commas, got '%s'", ignore);
		memcpy(name, p, len);
		name[len] = 0;
		int k = sn_graph_find(g, name);
		if (k < 0) return sn_seterr(SN_EINVAL, "--ignore: the model has no layer '%s'", name);
		prunable[k] = 0;
		p += len + (p[len] == ',');
	}
	return SN_OK;
}

/* ---------------------------------------------------------------- magnitude pruning */

static int cmp_float(const void *a, const void *b)
{
	float x = *(const float *)a, y = *(const float *)b;
	return (x > y) - (x < y);
}

/* Ranking key: weights masked before come first, NaN last. */
static float key_of(const sn_tensor *t, size_t i)
{
	if (t->mask && !t->mask[i]) return -1.0f;
	float a = fabsf(t->data[i]);
	return a == a ? a : INFINITY;
}

/* Prunes exactly k of the weights of ts[0..nt) together: every key below the k-th smallest,
 * then those equal to it in order until k are gone. */
static int prune_set(sn_tensor **ts, int nt, float s)
{
	size_t total = 0, masked = 0, at = 0;
	for (int j = 0; j < nt; j++) total += ts[j]->n;
	float *keys = malloc((total + 1) * sizeof *keys);
	if (!keys) return sn_seterr(SN_ENOMEM, "out of memory");
	for (int j = 0; j < nt; j++)
		for (size_t i = 0; i < ts[j]->n; i++) masked += (keys[at++] = key_of(ts[j], i)) < 0;
	size_t k = SN_MAX((size_t)llround((double)s * total), masked), below = 0;
	if (!k) { free(keys); return SN_OK; }   /* nothing to prune: no masks either */
	qsort(keys, total, sizeof *keys, cmp_float);
	const float thr = keys[k - 1];
	while (below < k && keys[below] < thr) below++;
	size_t equal = k - below;
	for (int j = 0; j < nt; j++) {
		if (!ts[j]->mask && (ts[j]->mask = malloc(ts[j]->n))) memset(ts[j]->mask, 1, ts[j]->n);
		if (!ts[j]->mask) { free(keys); return sn_seterr(SN_ENOMEM, "out of memory"); }
	}
	for (int j = 0; j < nt; j++) {
		sn_tensor *t = ts[j];
		for (size_t i = 0; i < t->n; i++) {
			float key = key_of(t, i);
			int cut = key < thr || (key == thr && equal > 0);
			if (key == thr && cut) equal--;
			t->mask[i] = (uint8_t)!cut;
			if (cut) t->data[i] = 0.0f;
		}
	}
	free(keys);
	return SN_OK;
}

int sn_prune_weights(sn_graph *g, const unsigned char *prunable, sn_scope scope, float s)
{
	if (!(s >= 0 && s <= 1)) return sn_seterr(SN_EINVAL, "the target sparsity must lie in [0, 1], got %g", s);
	sn_tensor **ts = malloc(((size_t)g->n_node + 1) * sizeof *ts);
	if (!ts) return sn_seterr(SN_ENOMEM, "out of memory");
	int nt = 0, rc = SN_OK;
	for (int i = 0; i < g->n_node; i++)
		if (prunable[i] && has_weights(g, i, SN_GRAN_WEIGHT) && g->node[i].t[SN_T_WEIGHT] >= 0)
			ts[nt++] = &g->tensor[g->node[i].t[SN_T_WEIGHT]];
	if (scope == SN_SCOPE_GLOBAL) rc = prune_set(ts, nt, s);
	for (int j = 0; scope != SN_SCOPE_GLOBAL && j < nt && !rc; j++) rc = prune_set(ts + j, 1, s);
	free(ts);
	return rc;
}

double sn_prune_sparsity(const sn_graph *g, const sn_graph *ref, sn_granularity gran,
                         const unsigned char *prunable, size_t *done, size_t *total)
{
	size_t z = 0, n = 0;
	if (gran == SN_GRAN_FILTER) {
		if (sn_prune_filter_counts(g, ref, prunable, &z, &n)) z = n = 0;
	} else {
		for (int i = 0; i < g->n_node; i++) {
			if (!prunable[i] || !has_weights(g, i, SN_GRAN_WEIGHT) || g->node[i].t[SN_T_WEIGHT] < 0) continue;
			const sn_tensor *t = &g->tensor[g->node[i].t[SN_T_WEIGHT]];
			for (size_t k = 0; k < t->n; k++) z += t->data[k] == 0.0f;
			n += t->n;
		}
	}
	if (done) *done = z;
	if (total) *total = n;
	return n ? (double)z / n : 0.0;
}
