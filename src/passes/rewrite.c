/* Graph rewriting by rebuilding: a pass walks the old graph and emits the new one, keeping
 * nodes, replacing them by several, or dropping them. Values follow tensor names, so untouched
 * layers keep their trained weights without the pass copying anything. */
#include "core/internal.h"

struct sn_rewrite {
	const sn_graph *src;
	sn_graph *dst;
	int *map;        /* old node -> new node producing its output, -1 if not yet emitted */
	int failed;
};

sn_rewrite *sn_rewrite_begin(const sn_graph *src)
{
	sn_rewrite *rw = calloc(1, sizeof *rw);
	if (!rw) return NULL;
	rw->src = src;
	rw->dst = sn_graph_new();
	rw->map = malloc((src->n_node ? src->n_node : 1) * sizeof *rw->map);
	if (!rw->dst || !rw->map) { sn_rewrite_abort(rw); sn_seterr(SN_ENOMEM, "out of memory"); return NULL; }
	for (int i = 0; i < src->n_node; i++) rw->map[i] = -1;
	return rw;
}

void sn_rewrite_abort(sn_rewrite *rw)
{
	if (!rw) return;
	sn_graph_free(rw->dst);
	free(rw->map);
	free(rw);
}

int sn_rewrite_input(const sn_rewrite *rw, int old)
{
	return old >= 0 && old < rw->src->n_node ? rw->map[old] : -1;
}

void sn_rewrite_map(sn_rewrite *rw, int old, int new_index)
{
	if (old >= 0 && old < rw->src->n_node) rw->map[old] = new_index;
}

int sn_rewrite_emit(sn_rewrite *rw, const sn_node *n)
{
	int k = sn_graph_add(rw->dst, n);
	if (k < 0) rw->failed = 1;
	return k;
}

int sn_rewrite_keep(sn_rewrite *rw, int old)
{
	sn_node n = rw->src->node[old];
	for (int i = 0; i < n.n_in; i++) {
		n.in[i] = rw->map[n.in[i]];
		if (n.in[i] < 0) {
			rw->failed = 1;
			return sn_seterr(SN_EINVAL, "rewrite: layer '%s' reads a layer that was dropped", n.name);
		}
	}
	int k = sn_rewrite_emit(rw, &n);
	if (k >= 0) rw->map[old] = k;
	return k;
}

/* Copies values (and masks) of same-named, same-shaped tensors from the old graph. */
static void carry_values(const sn_graph *src, sn_graph *dst)
{
	for (int i = 0; i < dst->n_tensor; i++) {
		sn_tensor *t = &dst->tensor[i];
		int k = sn_tensor_find(src, t->name);
		if (k < 0) continue;
		const sn_tensor *s = &src->tensor[k];
		int same = s->ndim == t->ndim && s->kind == t->kind;
		for (int d = 0; same && d < t->ndim; d++) same = s->dims[d] == t->dims[d];
		if (!same) continue;
		memcpy(t->data, s->data, t->n * sizeof(float));
		if (s->mask && (t->mask = malloc(t->n))) memcpy(t->mask, s->mask, t->n);
	}
}

sn_graph *sn_rewrite_end(sn_rewrite *rw)
{
	sn_graph *g = NULL;
	if (!rw->failed && sn_graph_infer(rw->dst) == SN_OK) {
		carry_values(rw->src, rw->dst);
		rw->dst->plan->rng = rw->src->plan->rng;   /* the dropout stream, as sn_graph_clone */
		g = rw->dst;
		rw->dst = NULL;
	}
	sn_rewrite_abort(rw);
	return g;
}
