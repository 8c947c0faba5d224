/* Filter and neuron pruning: rank the channel classes of each coupled group, pick those to
 * remove, and rebuild the graph without them (sn_rewrite), slicing every tensor that indexes them. */
#include <math.h>
#include "core/internal.h"
#include "prune/prune.h"

/* ---------------------------------------------------------------- removal */

/* Kept positions of node's slots, each slot expanded to `per` consecutive features; -1 ends them. */
static int *kept(const sn_chg *d, int node, const unsigned char *remove, int per)
{
	int *k = malloc(((size_t)d->len[node] * per + 1) * sizeof *k), n = 0;
	if (!k) return NULL;
	for (int s = 0; s < d->len[node]; s++)
		if (!remove[sn_chg_class(d, node, s)])
			for (int p = 0; p < per; p++) k[n++] = s * per + p;
	k[n] = -1;
	return k;
}

static int kept_count(const sn_chg *d, int node, const unsigned char *remove)
{
	int n = 0;
	for (int s = 0; s < d->len[node]; s++) n += !remove[sn_chg_class(d, node, s)];
	return n;
}

/* dst[a][b][...] = src[k0[a]][k1[b]][...] (values and mask); a NULL list keeps that dimension. */
static int slice(const sn_tensor *src, sn_tensor *dst, const int *k0, const int *k1)
{
	const size_t d0 = (size_t)dst->dims[0], d1 = dst->ndim > 1 ? (size_t)dst->dims[1] : 1;
	const size_t s1 = src->ndim > 1 ? (size_t)src->dims[1] : 1, inner = dst->n / (d0 * d1);
	if (src->ndim != dst->ndim || src->n / ((size_t)src->dims[0] * s1) != inner)
		return sn_seterr(SN_ESHAPE, "filter pruning: tensor '%s' does not fit its old shape", dst->name);
	if (src->mask && !dst->mask && !(dst->mask = malloc(dst->n))) return sn_seterr(SN_ENOMEM, "out of memory");
	for (size_t a = 0; a < d0; a++)
		for (size_t b = 0; b < d1; b++) {
			size_t from = ((size_t)(k0 ? k0[a] : (int)a) * s1 + (size_t)(k1 ? k1[b] : (int)b)) * inner;
			size_t to = (a * d1 + b) * inner;
			memcpy(dst->data + to, src->data + from, inner * sizeof(float));
			if (src->mask) memcpy(dst->mask + to, src->mask + from, inner);
		}
	return SN_OK;
}

/* Which slices of node i's tensors survive: rows (k0) and columns (k1). */
static int node_lists(const sn_chg *d, int i, const unsigned char *remove, int **k0, int **k1)
{
	const sn_graph *g = d->g;
	const sn_node *n = &g->node[i];
	*k0 = *k1 = NULL;
	const sn_chan_rule r = sn_node_chan(g, n);
	/* rows: the channels it makes, or carries with tensors of its own (BN, a depthwise conv) */
	if (r == SN_CH_MAKES || (r == SN_CH_PASS && sn_op_get(n->op)->n_tensors > 0)) {
		if (!(*k0 = kept(d, i, remove, 1))) return SN_ENOMEM;
	}
	if (sn_chg_maker(g, n)) {
		if (!(*k1 = kept(d, n->in[0], remove, d->hw[n->in[0]]))) return SN_ENOMEM;
	}
	return SN_OK;
}

static int fill(const sn_chg *d, const unsigned char *remove, sn_graph *h)
{
	const sn_graph *g = d->g;
	int rc = SN_OK;
	for (int i = 0; i < g->n_node && !rc; i++) {
		const sn_node *n = &g->node[i];
		int *k0, *k1;
		rc = node_lists(d, i, remove, &k0, &k1);
		if (rc) rc = sn_seterr(SN_ENOMEM, "out of memory");
		for (int s = 0; s < SN_T_MAX && !rc; s++) {
			if (n->t[s] < 0) continue;
			const sn_tensor *src = &g->tensor[n->t[s]];
			rc = slice(src, &h->tensor[h->node[i].t[s]], k0, src->ndim > 1 ? k1 : NULL);
		}
		free(k0);
		free(k1);
	}
	return rc;
}

/* Zeroes the values of t outside the kept rows k0 and columns k1 (NULL keeps them all). */
static void zero_dropped(sn_tensor *t, const int *k0, const int *k1)
{
	const size_t d0 = (size_t)t->dims[0], d1 = t->ndim > 1 ? (size_t)t->dims[1] : 1, inner = t->n / (d0 * d1);
	const int *row = k0;
	for (size_t a = 0; a < d0; a++) {
		const int keep_row = !k0 || *row == (int)a, *col = k1;
		if (k0 && keep_row) row++;
		for (size_t b = 0; b < d1; b++) {
			const int keep_col = !k1 || *col == (int)b;
			if (k1 && keep_col) col++;
			if (!keep_row || !keep_col) memset(t->data + (a * d1 + b) * inner, 0, inner * sizeof(float));
		}
	}
}

int sn_chg_zero(sn_graph *g, const sn_chg *d, const unsigned char *remove)
{
	int rc = SN_OK;
	for (int i = 0; i < g->n_node && !rc; i++) {
		const sn_node *n = &g->node[i];
		int *k0, *k1;
		if ((rc = node_lists(d, i, remove, &k0, &k1))) rc = sn_seterr(SN_ENOMEM, "out of memory");
		for (int s = 0; s < SN_T_MAX && !rc && (k0 || k1); s++)
			if (n->t[s] >= 0) zero_dropped(&g->tensor[n->t[s]], k0, g->tensor[n->t[s]].ndim > 1 ? k1 : NULL);
		free(k0);
		free(k1);
	}
	return rc;
}

sn_graph *sn_chg_remove(const sn_chg *d, const unsigned char *remove)
{
	const sn_graph *g = d->g;
	sn_rewrite *rw = sn_rewrite_begin(g);
	if (!rw) return NULL;
	for (int i = 0; i < g->n_node; i++) {
		sn_node n = g->node[i];
		for (int k = 0; k < n.n_in; k++) n.in[k] = sn_rewrite_input(rw, n.in[k]);
		int kind = n.op == SN_OP_CONV ? sn_conv_kind(g, &g->node[i]) : -1;
		if (kind == SN_CONV_PLAIN) n.a.conv.out_c = kept_count(d, i, remove);
		if (kind == SN_CONV_DEPTHWISE) n.a.conv.out_c = n.a.conv.groups = kept_count(d, i, remove);
		if (n.op == SN_OP_LINEAR) n.a.linear.out = kept_count(d, i, remove);
		int j = sn_rewrite_emit(rw, &n);
		if (j < 0) { sn_rewrite_abort(rw); return NULL; }
		sn_rewrite_map(rw, i, j);
	}
	sn_graph *h = sn_rewrite_end(rw);
	if (h && fill(d, remove, h)) { sn_graph_free(h); return NULL; }
	return h;
}

/* ---------------------------------------------------------------- choice */

typedef sn_chg_rank ranked;

static int by_key(const void *a, const void *b)
{
	const ranked *x = a, *y = b;
	if (x->key != y->key) return x->key < y->key ? -1 : 1;
	return (x->cls > y->cls) - (x->cls < y->cls);
}

/* The group of ref that matches group gi of d (same first producer), or -1. */
static int ref_group(const sn_chg *d, const sn_chg *r, int gi)
{
	for (int k = 0; k < r->n_group; k++)
		if (r->group_first[k] == d->group_first[gi]) return k;
	return -1;
}

/* Prunable classes of the group in ref: the count that the target fraction applies to. */
static int ref_prunable(const sn_chg *d, const sn_chg *r, int gi)
{
	int c, p, k = ref_group(d, r, gi);
	if (k < 0) return 0;
	sn_chg_group_size(r, k, &c, &p);
	return p;
}

/* Removable classes sorted by key (the lowest first); returns their count. */
static int sorted_classes(const sn_chg *d, const double *key, int gi, ranked *out)
{
	int n = 0;
	for (int c = 0; c < d->n_class; c++)
		if (!d->class_frozen[c] && (gi < 0 || d->class_group[c] == gi)) out[n++] = (ranked){key[c], c};
	qsort(out, (size_t)n, sizeof *out, by_key);
	return n;
}

int sn_chg_choose(const sn_chg *d, const double *imp, int gi, long want, sn_chg_rank *scratch,
                  unsigned char *remove)
{
	int classes, prunable, k = 0;
	sn_chg_group_size(d, gi, &classes, &prunable);
	want = SN_MIN(want, (long)SN_MIN(prunable, classes - 1));
	for (int n = sorted_classes(d, imp, gi, scratch); k < n && k < want; k++) remove[scratch[k].cls] = 1;
	return k;
}

/* Each group to fraction s, or to its first producer's node_s. */
static void choose_layer(const sn_chg *d, const sn_chg *r, const double *imp, float s, const float *node_s,
                         ranked *tmp, unsigned char *remove)
{
	for (int gi = 0; gi < d->n_group; gi++) {
		if (d->group_first[gi] < 0) continue;
		int classes, prunable, pref = ref_prunable(d, r, gi);
		sn_chg_group_size(d, gi, &classes, &prunable);
		const float sg = node_s ? SN_MAX(node_s[d->group_first[gi]], 0.0f) : s;
		sn_chg_choose(d, imp, gi, lround((double)sg * pref) - (pref - prunable), tmp, remove);   /* what is still to go */
	}
}

/* One ranking over every group, each class's importance divided by its group's mean (taylor:
 * by the L2 norm of its scores, as Molchanov et al.) so that groups of small-valued filters are
 * not emptied first. */
static void choose_global(const sn_chg *d, const sn_chg *r, double *imp, sn_criterion crit, float s, ranked *tmp,
                          unsigned char *remove)
{
	long pref = 0, now = 0;
	int *left = calloc((size_t)d->n_group + 1, sizeof *left);
	if (!left) return;
	for (int gi = 0; gi < d->n_group; gi++) {
		int classes, prunable;
		double sum = 0, sq = 0;
		if (d->group_first[gi] < 0) continue;
		sn_chg_group_size(d, gi, &classes, &prunable);
		pref += ref_prunable(d, r, gi);
		now += prunable;
		left[gi] = classes;
		for (int c = 0; c < d->n_class; c++)
			if (d->class_group[c] == gi && !d->class_frozen[c]) { sum += imp[c]; sq += imp[c] * imp[c]; }
		const double norm = crit == SN_CRIT_TAYLOR ? sqrt(sq) : sum / SN_MAX(prunable, 1);
		for (int c = 0; c < d->n_class && norm > 0; c++)
			if (d->class_group[c] == gi) imp[c] /= norm;
	}
	long want = lround((double)s * pref) - (pref - now);
	int n = sorted_classes(d, imp, -1, tmp);
	for (int k = 0; k < n && want > 0; k++) {
		int gi = d->class_group[tmp[k].cls];
		if (d->group_first[gi] < 0 || left[gi] <= 1) continue;
		remove[tmp[k].cls] = 1;
		left[gi]--;
		want--;
	}
	free(left);
}

sn_graph *sn_prune_filters(const sn_graph *g, const sn_graph *ref, const unsigned char *prunable,
                           sn_criterion c, sn_scope scope, float s)
{
	return sn_prune_filters_at(g, ref, prunable, c, scope, s, NULL);
}

sn_graph *sn_prune_filters_at(const sn_graph *g, const sn_graph *ref, const unsigned char *prunable,
                              sn_criterion c, sn_scope scope, float s, const float *node_s)
{
	if (!(s >= 0 && s < 1)) { sn_seterr(SN_EINVAL, "the target must lie in [0, 1), got %g", s); return NULL; }
	sn_chg *d = sn_chg_build(g, prunable);
	sn_chg *r = ref && ref != g ? sn_chg_build(ref, prunable) : d;
	double *imp = d ? malloc(((size_t)d->n_class + 1) * sizeof *imp) : NULL;
	ranked *tmp = d ? malloc(((size_t)d->n_class + 1) * sizeof *tmp) : NULL;
	unsigned char *remove = d ? calloc((size_t)d->n_class + 1, 1) : NULL;
	sn_graph *h = NULL;
	if (!r || !imp || !tmp || !remove) sn_seterr(SN_ENOMEM, "out of memory");
	else {
		sn_chg_importance(d, c, imp);
		if (scope == SN_SCOPE_GLOBAL && !node_s) choose_global(d, r, imp, c, s, tmp, remove);
		else choose_layer(d, r, imp, s, node_s, tmp, remove);
		h = sn_chg_remove(d, remove);
	}
	if (r != d) sn_chg_free(r);
	sn_chg_free(d);
	free(imp); free(tmp); free(remove);
	return h;
}

/* Removable channels of g's groups that are gone relative to ref. */
int sn_prune_filter_counts(const sn_graph *g, const sn_graph *ref, const unsigned char *prunable,
                           size_t *gone, size_t *total)
{
	sn_chg *d = sn_chg_build(g, prunable), *r = ref && ref != g ? sn_chg_build(ref, prunable) : d;
	*gone = *total = 0;
	if (!d || !r) { if (r != d) sn_chg_free(r); sn_chg_free(d); return SN_ENOMEM; }
	for (int gi = 0; gi < d->n_group; gi++) {
		int classes, p;
		if (d->group_first[gi] < 0) continue;
		sn_chg_group_size(d, gi, &classes, &p);
		size_t pr = (size_t)ref_prunable(d, r, gi);
		*total += pr;
		*gone += pr > (size_t)p ? pr - (size_t)p : 0;
	}
	if (r != d) sn_chg_free(r);
	sn_chg_free(d);
	return SN_OK;
}
