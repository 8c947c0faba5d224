/* Sensitivity analysis: each prunable layer (each coupled group of channels for filter and
 * neuron granularity) pruned alone at each level, with no fine-tuning, and the test accuracy
 * measured. Many forward passes, so one planned graph serves them all: a unit's tensors are
 * saved, pruned in place, measured and restored bit for bit. Channels are zeroed, not removed:
 * zeroing their rows and every reader's columns computes what the smaller graph computes
 * (sn_chg_zero), without building a graph per level. */
#include <math.h>
#include "core/internal.h"
#include "prune/prune.h"

sn_sens_opts sn_sens_defaults(void)
{
	static const float levels[] = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f, 0.7f, 0.8f, 0.9f};
	sn_sens_opts o = {.levels = levels, .n_levels = 9, .prune = sn_prune_defaults()};
	return o;
}

void sn_sensitivity_free(sn_sensitivity *s)
{
	for (int i = 0; s->layers && i < s->n_layers; i++) free(s->layers[i].members);
	free(s->layers);
	free(s->levels);
	free(s->accuracy);
	free(s->pruned);
	memset(s, 0, sizeof *s);
}

/* ---------------------------------------------------------------- saved tensors */

/* The values (and masks) of some nodes' tensors, to put back after each level. */
typedef struct {
	int n, *tensor;
	float *data;
	uint8_t *mask;
	unsigned char *had_mask;
} saved;

static void saved_free(saved *v)
{
	free(v->tensor); free(v->data); free(v->mask); free(v->had_mask);
	memset(v, 0, sizeof *v);
}

static int save(saved *v, const sn_graph *g, const unsigned char *nodes)
{
	size_t values = 0;
	memset(v, 0, sizeof *v);
	v->tensor = malloc(((size_t)g->n_tensor + 1) * sizeof *v->tensor);
	v->had_mask = calloc((size_t)g->n_tensor + 1, 1);
	if (!v->tensor || !v->had_mask) return sn_seterr(SN_ENOMEM, "out of memory");
	for (int k = 0; k < g->n_tensor; k++)
		if (nodes[g->tensor[k].node]) { v->tensor[v->n++] = k; values += g->tensor[k].n; }
	v->data = malloc((values + 1) * sizeof *v->data);
	v->mask = malloc(values + 1);
	if (!v->data || !v->mask) return sn_seterr(SN_ENOMEM, "out of memory");
	size_t at = 0;
	for (int j = 0; j < v->n; j++) {
		const sn_tensor *t = &g->tensor[v->tensor[j]];
		memcpy(v->data + at, t->data, t->n * sizeof *t->data);
		if ((v->had_mask[j] = t->mask != NULL)) memcpy(v->mask + at, t->mask, t->n);
		at += t->n;
	}
	return SN_OK;
}

/* Values and masks as saved; a mask made since is dropped. */
static void restore(const saved *v, sn_graph *g)
{
	size_t at = 0;
	for (int j = 0; j < v->n; j++) {
		sn_tensor *t = &g->tensor[v->tensor[j]];
		memcpy(t->data, v->data + at, t->n * sizeof *t->data);
		if (v->had_mask[j]) memcpy(t->mask, v->mask + at, t->n);
		else { free(t->mask); t->mask = NULL; }
		at += t->n;
	}
}

/* ---------------------------------------------------------------- units */

/* What one row of the table prunes: a layer (masked granularities) or a group of channels. */
typedef struct { int node, group; } unit;

typedef struct {
	sn_graph *g;
	const sn_sens_opts *o;
	int block;                        /* masked granularities: 1 (weights) or o->prune.block */
	unsigned char *prunable, *one;    /* the selection; one layer of it */
	sn_chg *d;                        /* filter, neuron: the channel graph, importance, scratch */
	double *imp;
	sn_chg_rank *rank;
	unsigned char *remove;
	unit *units;
	int n_units;
} sweep;

static int is_group_unit(const sweep *w, int gi)
{
	int classes, prunable;
	if (w->d->group_first[gi] < 0) return 0;
	sn_chg_group_size(w->d, gi, &classes, &prunable);
	return prunable > 0 && classes > 1;
}

/* Layers in node order, or groups in the order of their first producer. */
static void list_units(sweep *w)
{
	const sn_graph *g = w->g;
	for (int i = 0; i < g->n_node; i++) {
		if (!w->d) {
			if (w->prunable[i] && g->node[i].t[SN_T_WEIGHT] >= 0) w->units[w->n_units++] = (unit){i, -1};
			continue;
		}
		for (int gi = 0; gi < w->d->n_group; gi++)
			if (w->d->group_first[gi] == i && is_group_unit(w, gi)) w->units[w->n_units++] = (unit){i, gi};
	}
}

static int has_group_slot(const sn_chg *d, int node, int gi)
{
	for (int k = 0; k < d->len[node]; k++)
		if (d->class_group[sn_chg_class(d, node, k)] == gi) return 1;
	return 0;
}

/* Nodes whose tensors a unit may change: the layer, or every node that makes, carries or reads
 * the group's channels. */
static void touched(const sweep *w, unit u, unsigned char *nodes)
{
	const sn_graph *g = w->g;
	for (int i = 0; i < g->n_node; i++)
		nodes[i] = (unsigned char)(u.group < 0 ? i == u.node
		                                       : has_group_slot(w->d, i, u.group) ||
		                                         (g->node[i].n_in > 0 && has_group_slot(w->d, g->node[i].in[0], u.group)));
}

/* The producers of group gi, space-separated (the caller frees). */
static char *producers(const sweep *w, int gi)
{
	const sn_graph *g = w->g;
	size_t len = 1;
	for (int i = 0; i < g->n_node; i++) len += strlen(g->node[i].name) + 1;
	char *s = calloc(len, 1);
	for (int i = 0; s && i < g->n_node; i++) {
		if (!sn_chg_produces(w->d, i, gi)) continue;
		if (*s) strcat(s, " ");
		strcat(s, g->node[i].name);
	}
	return s;
}

static int describe(const sweep *w, unit u, sn_sens_layer *l)
{
	snprintf(l->layer, sizeof l->layer, "%s", w->g->node[u.node].name);
	if (u.group >= 0) {
		int classes, prunable;
		sn_chg_group_size(w->d, u.group, &classes, &prunable);
		l->units = (size_t)prunable;
		l->members = producers(w, u.group);
	} else {
		memset(w->one, 0, (size_t)w->g->n_node);
		w->one[u.node] = 1;
		sn_prune_block_sparsity(w->g, w->one, w->block, NULL, &l->units);
		l->members = strdup(l->layer);
	}
	return l->members ? SN_OK : sn_seterr(SN_ENOMEM, "out of memory");
}

/* Prunes the unit alone to fraction s, in place; *pruned gets the units pruned. */
static int prune_unit(sweep *w, unit u, float s, size_t *pruned)
{
	const sn_prune_opts *p = &w->o->prune;
	if (u.group >= 0) {
		int classes, prunable;
		sn_chg_group_size(w->d, u.group, &classes, &prunable);
		memset(w->remove, 0, (size_t)w->d->n_class);
		*pruned = (size_t)sn_chg_choose(w->d, w->imp, u.group, lround((double)s * prunable), w->rank, w->remove);
		return sn_chg_zero(w->g, w->d, w->remove);
	}
	memset(w->one, 0, (size_t)w->g->n_node);
	w->one[u.node] = 1;
	int rc = sn_prune_blocks(w->g, w->one, w->block, p->criterion, SN_SCOPE_LAYER, s);
	if (!rc) sn_prune_block_sparsity(w->g, w->one, w->block, pruned, NULL);
	return rc;
}

/* ---------------------------------------------------------------- the sweep */

static int check_opts(const sn_sens_opts *o, const sn_dataset *train)
{
	if (o->n_levels < 1 || !o->levels) return sn_seterr(SN_EINVAL, "sensitivity needs at least one level");
	for (int k = 0; k < o->n_levels; k++) {
		if (!(o->levels[k] >= 0 && o->levels[k] < 1))
			return sn_seterr(SN_EINVAL, "sensitivity levels must lie in [0, 1), got %g", o->levels[k]);
		if (k && !(o->levels[k] > o->levels[k - 1]))
			return sn_seterr(SN_EINVAL, "sensitivity levels must ascend, got %g after %g", o->levels[k], o->levels[k - 1]);
	}
	if (o->prune.criterion == SN_CRIT_BN && sn_granularity_masks(o->prune.granularity))
		return sn_seterr(SN_EINVAL, "the bn criterion ranks channels: use it with filter or neuron granularity");
	if (o->prune.criterion == SN_CRIT_TAYLOR && !train)
		return sn_seterr(SN_EINVAL, "the taylor criterion needs training images to take gradients on");
	if (o->prune.eval_batch < 1) return sn_seterr(SN_EINVAL, "the evaluation batch must be positive");
	return SN_OK;
}

static void sweep_end(sweep *w)
{
	free(w->prunable); free(w->one); free(w->imp); free(w->rank); free(w->remove); free(w->units);
	sn_chg_free(w->d);
}

/* Filter and neuron granularity: the channel groups and the importance of their channels. */
static int channel_graph(sweep *w)
{
	if (!(w->d = sn_chg_build(w->g, w->prunable))) return SN_ENOMEM;   /* the message is set */
	const size_t nc = (size_t)w->d->n_class + 1;
	w->imp = malloc(nc * sizeof *w->imp);
	w->rank = malloc(nc * sizeof *w->rank);
	w->remove = malloc(nc);
	if (!w->imp || !w->rank || !w->remove) return sn_seterr(SN_ENOMEM, "out of memory");
	sn_chg_importance(w->d, w->o->prune.criterion, w->imp);
	return SN_OK;
}

static int sweep_begin(sweep *w, const sn_dataset *train)
{
	const sn_prune_opts *p = &w->o->prune;
	const sn_graph *g = w->g;
	w->block = p->granularity == SN_GRAN_BLOCK ? p->block : 1;
	w->prunable = malloc((size_t)g->n_node + 1);
	w->one = malloc((size_t)g->n_node + 1);
	w->units = malloc(((size_t)g->n_node + 1) * sizeof *w->units);
	if (!w->prunable || !w->one || !w->units) return sn_seterr(SN_ENOMEM, "out of memory");
	for (int i = 0; i < g->n_node; i++)
		if (g->node[i].impl == SN_IMPL_SPARSE)
			return sn_seterr(SN_EINVAL, "layer '%s' runs a sparse kernel on a packed copy of its weights, which "
			                 "pruning in place would not change: measure the model before sn_graph_select_sparse",
			                 g->node[i].name);
	int rc = sn_prune_select(g, p->granularity, p->ignore, w->prunable);
	if (!rc && p->criterion == SN_CRIT_TAYLOR)
		rc = sn_prune_taylor(w->g, train, p->taylor_batches, p->train.batch, p->train.seed);
	if (!rc && !sn_granularity_masks(p->granularity)) rc = channel_graph(w);
	if (!rc) list_units(w);
	return rc;
}

static int table_new(sn_sensitivity *s, const sweep *w)
{
	const sn_sens_opts *o = w->o;
	const size_t cells = (size_t)w->n_units * o->n_levels + 1;
	s->granularity = o->prune.granularity;
	s->criterion = o->prune.criterion;
	s->n_levels = o->n_levels;
	s->levels = malloc((size_t)o->n_levels * sizeof *s->levels);
	s->layers = calloc((size_t)w->n_units + 1, sizeof *s->layers);
	s->accuracy = calloc(cells, sizeof *s->accuracy);
	s->pruned = calloc(cells, sizeof *s->pruned);
	s->n_layers = w->n_units;   /* described as they are measured */
	if (!s->levels || !s->layers || !s->accuracy || !s->pruned) return sn_seterr(SN_ENOMEM, "out of memory");
	memcpy(s->levels, o->levels, (size_t)o->n_levels * sizeof *s->levels);
	return SN_OK;
}

static int accuracy(sn_graph *g, const sn_dataset *te, const sn_sens_opts *o, double *acc)
{
	sn_eval_result ev;
	int rc = sn_evaluate(g, te, o->prune.eval_batch, &ev);
	*acc = ev.accuracy;
	sn_eval_free(&ev);
	return rc;
}

/* Every level of one unit: save, prune, measure, restore. */
static int measure_unit(sweep *w, const sn_dataset *te, int k, unsigned char *nodes, sn_sensitivity *s)
{
	const unit u = w->units[k];
	saved v = {0};
	int rc = describe(w, u, &s->layers[k]);
	if (!rc) { touched(w, u, nodes); rc = save(&v, w->g, nodes); }
	for (int l = 0; !rc && l < s->n_levels; l++) {
		const size_t cell = (size_t)k * s->n_levels + l;
		rc = prune_unit(w, u, s->levels[l], &s->pruned[cell]);
		if (!rc) rc = accuracy(w->g, te, w->o, &s->accuracy[cell]);
		restore(&v, w->g);
		if (!rc && w->o->progress) w->o->progress(s, k, l, w->o->user);
	}
	saved_free(&v);
	return rc;
}

int sn_prune_sensitivity(sn_graph *g, const sn_dataset *train, const sn_dataset *test, const sn_sens_opts *o,
                         sn_sensitivity *s)
{
	memset(s, 0, sizeof *s);
	int rc = check_opts(o, train);
	if (rc) return rc;
	sweep w = {.g = g, .o = o};
	unsigned char *nodes = malloc((size_t)g->n_node + 1);
	rc = nodes ? sweep_begin(&w, train) : sn_seterr(SN_ENOMEM, "out of memory");
	if (!rc && !w.n_units)
		rc = sn_seterr(SN_EINVAL, "nothing to measure: no layer can be pruned at %s granularity (see --ignore)",
		               sn_granularity_name(o->prune.granularity));
	if (!rc) rc = table_new(s, &w);
	if (!rc) rc = accuracy(g, test, o, &s->baseline);
	s->images = test->n;
	if (!rc && o->progress) o->progress(s, -1, -1, o->user);
	for (int k = 0; !rc && k < w.n_units; k++) rc = measure_unit(&w, test, k, nodes, s);
	sweep_end(&w);
	free(nodes);
	if (rc) sn_sensitivity_free(s);
	return rc;
}
