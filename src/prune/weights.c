/* Masked pruning: which layers may be pruned, the schedules, and pruning of single weights or
 * blocks of output channels (by magnitude or Taylor score) to an exact count, with masks that
 * hold through training. */
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
	o.train.augment = (sn_augment){0};
	o.train.epochs = 1;
	o.eval_batch = 256;
	o.block = 4;            /* the sparse kernels block output channels by up to 4 */
	o.taylor_batches = 16;
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
	if (n->op == SN_OP_LINEAR) return sn_granularity_masks(gran) || gran == SN_GRAN_NEURON;
	if (n->op != SN_OP_CONV) return 0;
	return sn_granularity_masks(gran) || (gran == SN_GRAN_FILTER && sn_conv_kind(g, n) == SN_CONV_PLAIN);
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

/* ---------------------------------------------------------------- masked pruning */

/* The prunable weight tensors, in node order. */
static int prunable_tensors(const sn_graph *g, const unsigned char *prunable, sn_tensor **ts)
{
	int nt = 0;
	for (int i = 0; i < g->n_node; i++)
		if (prunable[i] && has_weights(g, i, SN_GRAN_WEIGHT) && g->node[i].t[SN_T_WEIGHT] >= 0)
			ts[nt++] = &g->tensor[g->node[i].t[SN_T_WEIGHT]];
	return nt;
}

/* A tensor seen as [rows][cols] (rows: output channels) cut into units of `block` consecutive
 * rows at one column, numbered row-block by row-block; the last row-block may be shorter. */
typedef struct { size_t rows, cols, units; } block_view;

static block_view view_of(const sn_tensor *t, int block)
{
	block_view v = {(size_t)t->dims[0], t->n / (size_t)t->dims[0], 0};
	v.units = (v.rows + (size_t)block - 1) / (size_t)block * v.cols;
	return v;
}

/* Values of unit u: index of its first value, the stride between them and their count. */
static size_t unit_span(block_view v, int block, size_t u, size_t *count)
{
	const size_t r0 = u / v.cols * (size_t)block;
	*count = SN_MIN((size_t)block, v.rows - r0);
	return r0 * v.cols + u % v.cols;
}

/* Ranking key: units masked before come first (-1), NaN last. */
static float unit_key(const sn_tensor *t, block_view v, int block, size_t u, sn_criterion c)
{
	size_t n, at = unit_span(v, block, u, &n);
	int masked = t->mask != NULL;
	double s = 0;
	for (size_t k = 0; k < n; k++, at += v.cols) {
		masked &= !t->mask || !t->mask[at];
		s += sn_prune_term(t, at, c);
	}
	if (masked) return -1.0f;
	if (c == SN_CRIT_L2) s = sqrt(s);
	return s == s ? (float)s : INFINITY;
}

/* Keys of one tensor's units into keys[]; global taylor divides them by their L2 norm so that
 * layers whose gradients are larger are not the only ones kept (Molchanov et al.). Returns the
 * number of units masked before. */
static size_t tensor_keys(const sn_tensor *t, int block, sn_criterion c, int normalise, float *keys)
{
	const block_view v = view_of(t, block);
	size_t masked = 0;
	double sq = 0;
	for (size_t u = 0; u < v.units; u++) {
		keys[u] = unit_key(t, v, block, u, c);
		if (keys[u] < 0) masked++;
		else if (isfinite(keys[u])) sq += (double)keys[u] * keys[u];
	}
	const double norm = sqrt(sq);
	for (size_t u = 0; normalise && norm > 0 && u < v.units; u++)
		if (keys[u] >= 0) keys[u] = (float)(keys[u] / norm);
	return masked;
}

static void cut_unit(sn_tensor *t, block_view v, int block, size_t u)
{
	size_t n, at = unit_span(v, block, u, &n);
	for (size_t k = 0; k < n; k++, at += v.cols) {
		t->mask[at] = 0;
		t->data[at] = 0.0f;
	}
}

static int cmp_float(const void *a, const void *b)
{
	float x = *(const float *)a, y = *(const float *)b;
	return (x > y) - (x < y);
}

/* Prunes exactly k of the units of ts[0..nt) together: every key below the k-th smallest, then
 * those equal to it in order until k are gone. Units not cut keep their masks as they were. */
static int prune_set(sn_tensor **ts, int nt, int block, sn_criterion c, int normalise, float s)
{
	size_t total = 0, masked = 0, at = 0;
	for (int j = 0; j < nt; j++) total += view_of(ts[j], block).units;
	float *keys = malloc((total + 1) * sizeof *keys), *sorted = malloc((total + 1) * sizeof *sorted);
	if (!keys || !sorted) { free(keys); free(sorted); return sn_seterr(SN_ENOMEM, "out of memory"); }
	for (int j = 0; j < nt; j++) {
		masked += tensor_keys(ts[j], block, c, normalise, keys + at);
		at += view_of(ts[j], block).units;
	}
	size_t k = SN_MAX((size_t)llround((double)s * total), masked), below = 0;
	int rc = SN_OK;
	if (k) {   /* nothing to prune: no masks either */
		memcpy(sorted, keys, total * sizeof *keys);
		qsort(sorted, total, sizeof *sorted, cmp_float);
		const float thr = sorted[k - 1];
		while (below < k && sorted[below] < thr) below++;
		size_t equal = k - below;
		for (int j = 0; j < nt && !rc; j++)
			if (!ts[j]->mask && (ts[j]->mask = malloc(ts[j]->n))) memset(ts[j]->mask, 1, ts[j]->n);
			else if (!ts[j]->mask) rc = sn_seterr(SN_ENOMEM, "out of memory");
		at = 0;
		for (int j = 0; j < nt && !rc; j++) {
			const block_view v = view_of(ts[j], block);
			for (size_t u = 0; u < v.units; u++, at++) {
				int cut = keys[at] < thr || (keys[at] == thr && equal > 0);
				if (keys[at] == thr && cut) equal--;
				if (cut) cut_unit(ts[j], v, block, u);
			}
		}
	}
	free(keys);
	free(sorted);
	return rc;
}

int sn_prune_blocks(sn_graph *g, const unsigned char *prunable, int block, sn_criterion c, sn_scope scope, float s)
{
	if (!(s >= 0 && s <= 1)) return sn_seterr(SN_EINVAL, "the target sparsity must lie in [0, 1], got %g", s);
	if (block < 1) return sn_seterr(SN_EINVAL, "a block holds at least one output channel, got %d", block);
	if (c == SN_CRIT_BN)
		return sn_seterr(SN_EINVAL, "the bn criterion ranks channels: use it with filter or neuron granularity");
	sn_tensor **ts = malloc(((size_t)g->n_node + 1) * sizeof *ts);
	if (!ts) return sn_seterr(SN_ENOMEM, "out of memory");
	int nt = prunable_tensors(g, prunable, ts), rc = SN_OK;
	if (scope == SN_SCOPE_GLOBAL) rc = prune_set(ts, nt, block, c, c == SN_CRIT_TAYLOR, s);
	for (int j = 0; scope != SN_SCOPE_GLOBAL && j < nt && !rc; j++) rc = prune_set(ts + j, 1, block, c, 0, s);
	free(ts);
	return rc;
}

int sn_prune_weights(sn_graph *g, const unsigned char *prunable, sn_scope scope, float s)
{
	return sn_prune_blocks(g, prunable, 1, SN_CRIT_L1, scope, s);
}

double sn_prune_block_sparsity(const sn_graph *g, const unsigned char *prunable, int block, size_t *done,
                               size_t *total)
{
	size_t z = 0, n = 0;
	for (int i = 0; block >= 1 && i < g->n_node; i++) {
		if (!prunable[i] || !has_weights(g, i, SN_GRAN_WEIGHT) || g->node[i].t[SN_T_WEIGHT] < 0) continue;
		const sn_tensor *t = &g->tensor[g->node[i].t[SN_T_WEIGHT]];
		const block_view v = view_of(t, block);
		for (size_t u = 0; u < v.units; u++) {
			size_t cnt, at = unit_span(v, block, u, &cnt), nonzero = 0;
			for (size_t k = 0; k < cnt; k++, at += v.cols) nonzero += t->data[at] != 0.0f;
			z += !nonzero;
		}
		n += v.units;
	}
	if (done) *done = z;
	if (total) *total = n;
	return n ? (double)z / n : 0.0;
}

double sn_prune_sparsity(const sn_graph *g, const sn_graph *ref, sn_granularity gran,
                         const unsigned char *prunable, size_t *done, size_t *total)
{
	size_t z = 0, n = 0;
	if (sn_granularity_masks(gran)) return sn_prune_block_sparsity(g, prunable, 1, done, total);
	if (sn_prune_filter_counts(g, ref, prunable, &z, &n)) z = n = 0;
	if (done) *done = z;
	if (total) *total = n;
	return n ? (double)z / n : 0.0;
}
