/* Transfer learning: find a model's classifier (the last Linear, or SqueezeNet's 1x1 conv before
 * global pooling) and replace it by a fresh one with another number of classes, every other tensor
 * kept (slimnn train --num-classes, --freeze-backbone). */
#include <stdio.h>
#include "core/internal.h"

#define HEAD_CLASSES_MAX 1048576   /* as the architecture parser's largest count */

/* Layers between the classifier and the output that pass each class through unchanged. */
static int passes_classes(sn_op op) { return op == SN_OP_FLATTEN || op == SN_OP_DROPOUT || op == SN_OP_SOFTMAX; }

/* Layers between a 1x1 classifier conv and its pooling: element-wise on each channel. */
static int elementwise(sn_op op) { return (sn_op_get(op)->flags & SN_OPF_ELEMENTWISE) != 0; }

static int readers(const sn_graph *g, int k)
{
	int n = 0;
	for (int i = k + 1; i < g->n_node; i++)
		for (int j = 0; j < g->node[i].n_in; j++) n += g->node[i].in[j] == k;
	return n;
}

/* Steps from node i to its producer while i is one of the layers `pass` accepts and the producer
 * feeds nothing else (a classifier whose output also went elsewhere could not be replaced). */
static int walk_back(const sn_graph *g, int i, int (*pass)(sn_op))
{
	while (i > 0 && g->node[i].n_in == 1 && pass(g->node[i].op) && readers(g, g->node[i].in[0]) == 1)
		i = g->node[i].in[0];
	return i;
}

/* "'fc2' (Linear) <- 'drop' (Dropout) <- ...": the last layers, output first. */
static void describe_tail(const sn_graph *g, char *buf, size_t len)
{
	buf[0] = 0;
	int i = g->n_node - 1;
	for (int k = 0; k < 4 && i > 0; k++, i = g->node[i].in[0]) {
		size_t at = strlen(buf);
		snprintf(buf + at, len - at, "%s'%s' (%s)", k ? " <- " : "", g->node[i].name, sn_node_torch(&g->node[i]));
	}
	if (i > 0) snprintf(buf + strlen(buf), len - strlen(buf), " <- ...");
}

int sn_find_head(const sn_graph *g, char *name, size_t len)
{
	if (!g || g->n_node < 2) return sn_seterr(SN_EINVAL, "the model has no layers: there is no classifier to find");
	int i = walk_back(g, g->n_node - 1, passes_classes), head = -1;
	const sn_node *n = &g->node[i];
	if (n->op == SN_OP_LINEAR) {
		head = i;
	} else if (n->op == SN_OP_GAP && readers(g, n->in[0]) == 1) {
		const sn_node *c = &g->node[walk_back(g, n->in[0], elementwise)];
		if (c->op == SN_OP_CONV && c->a.conv.kh == 1 && c->a.conv.kw == 1 && c->a.conv.groups == 1)
			head = (int)(c - g->node);
	}
	if (head < 0) {
		char tail[512];
		describe_tail(g, tail, sizeof tail);
		return sn_seterr(SN_EINVAL, "no classifier found: the model ends with %s; a classifier is a last Linear (then "
		                 "only Flatten, Dropout or Softmax) or a 1x1 conv before global average pooling", tail);
	}
	if (name && len) snprintf(name, len, "%s", g->node[head].name);
	return head;
}

sn_graph *sn_replace_head(const sn_graph *g, int classes, uint64_t seed, char *head_name, size_t len)
{
	if (classes < 1 || classes > HEAD_CLASSES_MAX) {
		sn_seterr(SN_EINVAL, "a new classifier needs 1 to %d classes, got %d", HEAD_CLASSES_MAX, classes);
		return NULL;
	}
	const int h = sn_find_head(g, head_name, len);
	if (h < 0) return NULL;
	sn_rewrite *rw = sn_rewrite_begin(g);
	if (!rw) return NULL;
	for (int i = 0; i < g->n_node; i++) {
		if (i != h) {
			if (sn_rewrite_keep(rw, i) < 0) break;
			continue;
		}
		/* a fresh layer: what nn.Linear(in, classes) / nn.Conv2d(in, classes, 1) gives */
		sn_node n = g->node[h];
		n.in[0] = sn_rewrite_input(rw, n.in[0]);
		if (n.op == SN_OP_LINEAR) n.a.linear = (sn_linear_attr){classes, 1};
		else { n.a.conv.out_c = classes; n.a.conv.bias = 1; }
		n.frozen = 0;
		const int k = sn_rewrite_emit(rw, &n);
		if (k < 0) break;
		sn_rewrite_map(rw, i, k);
	}
	sn_graph *r = sn_rewrite_end(rw);   /* fails if a step above failed */
	if (!r) return NULL;
	r->shapes_locked = g->shapes_locked;
	sn_node *n = &r->node[sn_graph_find(r, g->node[h].name)];
	/* with as many classes as before, the old values and mask came along by name: start afresh */
	for (int s = 0; s < SN_T_MAX; s++) {
		sn_tensor *t = sn_t(r, n, s);
		if (t) { free(t->mask); t->mask = NULL; }
	}
	sn_rng rng;
	sn_rng_seed(&rng, seed);
	sn_init_layer(r, n, &rng);
	return r;
}
