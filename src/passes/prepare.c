/* Prepare for inference: fold each BatchNorm into the conv before it, fuse the ReLU or ReLU6
 * after it, drop Dropout, fuse squeeze-and-excitation blocks into se layers (src/ops/se.c),
 * then let sn_graph_select_sparse pick the kernels. A conv and the
 * layers it absorbs form a chain; the chain becomes one node, emitted where the chain ends (its
 * members are each other's only readers, so nothing in between needs them, and a chain that
 * ends the graph still ends it). */
#include <math.h>
#include "core/internal.h"
#include "core/quant.h"

sn_prepare_opts sn_prepare_defaults(void)
{
	return (sn_prepare_opts){.fold_bn = 1, .fuse_act = 1, .remove_dropout = 1, .fuse_se = 1, .sparse = SN_SPARSE_AUTO};
}

/* Per old node i: head[i] the conv whose chain holds i (-1: none; a conv heads its own chain),
 * se[i] the Mul that ends the squeeze-and-excitation block holding i (-1: none).
 * Per conv c: tail[c] the chain's last node, bn[c] its folded BatchNorm (-1), act[c] its sn_fuse. */
typedef struct { int x, fc1, fc2, silu_in; } se_block;   /* see match_se */
typedef struct { int *head, *tail, *bn, *act, *consumers, *se; se_block *block; } chains;

static int chains_alloc(chains *ch, const sn_graph *g)
{
	const size_t n = (size_t)g->n_node;
	int *m = malloc(6 * n * sizeof *m);
	se_block *b = malloc(n * sizeof *b);
	if (!m || !b) { free(m); free(b); return sn_seterr(SN_ENOMEM, "out of memory"); }
	*ch = (chains){m, m + n, m + 2 * n, m + 3 * n, m + 4 * n, m + 5 * n, b};
	for (size_t i = 0; i < n; i++) { ch->head[i] = ch->tail[i] = ch->bn[i] = ch->se[i] = -1; ch->consumers[i] = 0; }
	for (int i = 0; i < g->n_node; i++)
		for (int k = 0; k < g->node[i].n_in; k++) ch->consumers[g->node[i].in[k]]++;
	return SN_OK;
}

/* gamma / sqrt(running_var + eps) of BatchNorm channel k: the factor folding multiplies by */
static double bn_scale(const sn_graph *g, const sn_node *bn, int k)
{
	const float *gam = g->tensor[bn->t[SN_T_WEIGHT]].data, *var = g->tensor[bn->t[SN_T_VAR]].data;
	return gam[k] / sqrt((double)var[k] + bn->a.bn.eps);
}

/* A BatchNorm with a non-finite factor stays as it is: folding would spread NaN into the conv. */
static int bn_foldable(const sn_graph *g, const sn_node *bn)
{
	const float *mean = g->tensor[bn->t[SN_T_MEAN]].data, *beta = g->tensor[bn->t[SN_T_BIAS]].data;
	for (int k = 0; k < bn->out.c; k++)
		if (!isfinite(bn_scale(g, bn, k)) || !isfinite(mean[k]) || !isfinite(beta[k])) return 0;
	return 1;
}

/* Grows a conv's chain by node i when i is the only reader of the chain's end. */
static void plan_chains(const sn_graph *g, const sn_prepare_opts *o, chains *ch)
{
	for (int i = 1; i < g->n_node; i++) {
		const sn_node *n = &g->node[i];
		if (n->op == SN_OP_CONV) {
			ch->head[i] = ch->tail[i] = i;
			ch->act[i] = n->a.conv.act;
			continue;
		}
		const int p = n->in[0], c = n->n_in == 1 ? ch->head[p] : -1;
		if (c < 0 || ch->tail[c] != p || ch->consumers[p] != 1 || ch->act[c] != SN_FUSE_NONE) continue;
		int take = 0;
		if (n->op == SN_OP_BN && o->fold_bn && p == c && bn_foldable(g, n)) { ch->bn[c] = i; take = 1; }
		if ((n->op == SN_OP_RELU || n->op == SN_OP_RELU6) && o->fuse_act) {
			ch->act[c] = n->op == SN_OP_RELU ? SN_FUSE_RELU : SN_FUSE_RELU6;
			take = 1;
		}
		if (take) { ch->head[i] = c; ch->tail[c] = i; }
	}
}

/* Squeeze-and-excitation, as torchvision's SqueezeExcitation(activation=SiLU) writes it:
 *   m = Mul(x, Sigmoid(fc2(SiLU(fc1(GAP(x))))))   (the Mul's inputs in either order)
 * with fc1 and fc2 plain 1x1 convs, each layer between read by the next alone and x by the GAP
 * and the Mul alone. A SiLU x goes into the block too: its input becomes the se layer's.
 * Finds block b ending at Mul m, if there is one, and marks its nodes se[i] = m. */
static int match_se(const sn_graph *g, chains *ch, int m, se_block *b)
{
	const sn_node *n = &g->node[m];
	if (n->op != SN_OP_MUL || n->n_in != 2) return 0;
	static const sn_op want[5] = {SN_OP_SIGMOID, SN_OP_CONV, SN_OP_SILU, SN_OP_CONV, SN_OP_GAP};
	for (int k = 0; k < 2; k++) {
		const int x = n->in[1 - k];
		int at[5] = {n->in[k]}, ok = 1;   /* sigmoid, fc2, silu, fc1, gap */
		for (int j = 0; ok && j < 5; j++) {
			const sn_node *c = &g->node[at[j]];
			ok = c->op == want[j] && c->n_in == 1 && ch->consumers[at[j]] == 1;
			if (ok && c->op == SN_OP_CONV)
				ok = sn_conv_pointwise(&c->a.conv) && c->a.conv.groups == 1 && c->a.conv.act == SN_FUSE_NONE &&
				     ch->tail[at[j]] == at[j];
			if (ok && j < 4) at[j + 1] = c->in[0];
		}
		if (!ok || g->node[at[4]].in[0] != x || ch->consumers[x] != 2 || g->node[x].out.rank != 4) continue;
		*b = (se_block){x, at[3], at[1], g->node[x].op == SN_OP_SILU};
		for (int j = 0; j < 5; j++) ch->se[at[j]] = m;
		ch->se[m] = m;
		if (b->silu_in) ch->se[x] = m;
		return 1;
	}
	return 0;
}

/* The se layer of block b, named after its Mul m, whose output it gives. */
static int emit_se(sn_rewrite *rw, const sn_graph *g, const se_block *b, int m)
{
	sn_node n = {.op = SN_OP_SE, .n_in = 1};
	snprintf(n.name, sizeof n.name, "%s", g->node[m].name);
	n.a.se = (sn_se_attr){g->node[b->fc1].a.conv.out_c, b->silu_in ? SN_SE_ACT_SILU : SN_SE_ACT_NONE};
	if ((n.in[0] = sn_rewrite_input(rw, b->silu_in ? g->node[b->x].in[0] : b->x)) < 0)
		return sn_seterr(SN_EINVAL, "prepare: layer '%s' reads a layer that was dropped", n.name);
	const int k = sn_rewrite_emit(rw, &n);
	if (k >= 0) sn_rewrite_map(rw, m, k);
	return k;
}

/* The se layer's tensors from the block's convs (a conv without bias: zeros, as they start). */
static void copy_se(const sn_graph *g, sn_graph *h, const se_block *b, int m)
{
	sn_node *n = &h->node[sn_graph_find(h, g->node[m].name)];
	const int fc[2] = {b->fc1, b->fc2};
	for (int i = 0; i < 2; i++) {
		const sn_node *c = &g->node[fc[i]];
		const sn_tensor *w = sn_t((sn_graph *)g, c, SN_T_WEIGHT), *bias = sn_t((sn_graph *)g, c, SN_T_BIAS);
		memcpy(sn_t(h, n, 2 * i)->data, w->data, w->n * sizeof(float));
		if (bias) memcpy(sn_t(h, n, 2 * i + 1)->data, bias->data, bias->n * sizeof(float));
	}
}

/* The conv of chain c with what it absorbed; every member maps to it. */
static int emit_chain(sn_rewrite *rw, const sn_graph *g, const chains *ch, int c)
{
	sn_node n = g->node[c];
	for (int k = 0; k < n.n_in; k++)
		if ((n.in[k] = sn_rewrite_input(rw, g->node[c].in[k])) < 0)
			return sn_seterr(SN_EINVAL, "prepare: layer '%s' reads a layer that was dropped", n.name);
	if (ch->bn[c] >= 0) n.a.conv.bias = 1;
	n.a.conv.act = ch->act[c];
	int k = sn_rewrite_emit(rw, &n);
	if (k < 0) return k;
	for (int i = c; i <= ch->tail[c]; i++)
		if (ch->head[i] == c) sn_rewrite_map(rw, i, k);
	return k;
}

/* Dropout is dropped unless it ends the graph and its input would not (the output is the last
 * node): then it stays, a copy at inference. */
static int removable_dropout(const sn_rewrite *rw, const sn_graph *g, int i, int last)
{
	return g->node[i].op == SN_OP_DROPOUT && (i < g->n_node - 1 || sn_rewrite_input(rw, g->node[i].in[0]) == last);
}

static sn_graph *rebuild(const sn_graph *g, const sn_prepare_opts *o, const chains *ch, sn_prepare_report *r)
{
	sn_rewrite *rw = sn_rewrite_begin(g);
	if (!rw) return NULL;
	int last = -1, k = 0;                                     /* last node emitted, this one */
	for (int i = 0; i < g->n_node && k >= 0; i++) {
		const int c = ch->head[i];
		if (ch->se[i] >= 0) {                                 /* emitted at its block's Mul */
			if (ch->se[i] == i) k = last = emit_se(rw, g, &ch->block[i], i);
			r->fused_se += ch->se[i] == i;
			continue;
		}
		if (c >= 0 && i != ch->tail[c]) continue;            /* emitted at its chain's end */
		if (c >= 0) {
			k = last = emit_chain(rw, g, ch, c);
			r->folded_bn += ch->bn[c] >= 0;
			r->fused_act += ch->act[c] != g->node[c].a.conv.act;
		} else if (o->remove_dropout && removable_dropout(rw, g, i, last)) {
			sn_rewrite_map(rw, i, sn_rewrite_input(rw, g->node[i].in[0]));
			r->removed_dropout++;
		} else {
			k = last = sn_rewrite_keep(rw, i);
		}
	}
	if (k < 0) { sn_rewrite_abort(rw); return NULL; }
	return sn_rewrite_end(rw);
}

/* W' = W s and b' = (b - mean) s + beta per output channel, from the old graph's values. A
 * pruned weight is zero and stays zero (its mask came along with the tensor's name). */
static void fold_bn(const sn_graph *g, sn_graph *h, int c, int b)
{
	const sn_node *conv = &g->node[c], *bn = &g->node[b];
	const sn_tensor *w = &g->tensor[conv->t[SN_T_WEIGHT]];
	const float *bias = conv->t[SN_T_BIAS] >= 0 ? g->tensor[conv->t[SN_T_BIAS]].data : NULL;
	const float *mean = g->tensor[bn->t[SN_T_MEAN]].data, *beta = g->tensor[bn->t[SN_T_BIAS]].data;
	sn_node *nc = &h->node[sn_graph_find(h, conv->name)];
	float *w2 = sn_t(h, nc, SN_T_WEIGHT)->data, *b2 = sn_t(h, nc, SN_T_BIAS)->data;
	const size_t per = w->n / (size_t)conv->a.conv.out_c;
	for (int o = 0; o < conv->a.conv.out_c; o++) {
		const double s = bn_scale(g, bn, o);
		for (size_t k = o * per; k < (o + 1) * per; k++) w2[k] = (float)(w->data[k] * s);
		b2[o] = (float)(((bias ? bias[o] : 0.0) - mean[o]) * s + beta[o]);
	}
}

sn_graph *sn_prepare_inference(const sn_graph *g, const sn_prepare_opts *o, sn_prepare_report *r)
{
	sn_prepare_opts def = sn_prepare_defaults();
	sn_prepare_report rep = {.nodes_before = g ? g->n_node : 0};
	if (!o) o = &def;
	if (!g || g->n_node == 0) { sn_seterr(SN_EINVAL, "prepare for inference: no model given; pass a graph that starts with its input layer"); return NULL; }
	if (sn_graph_is_int8(g)) {   /* quantized models were prepared before they were quantized: kernels only */
		sn_graph *h = sn_graph_clone(g);
		rep.nodes_after = h ? h->n_node : 0;
		rep.sparse_layers = h ? sn_graph_select_sparse(h, o->sparse) : 0;
		if (rep.sparse_layers < 0) { sn_graph_free(h); return NULL; }
		if (h && r) *r = rep;
		return h;
	}
	chains ch = {0};
	if (chains_alloc(&ch, g)) return NULL;
	plan_chains(g, o, &ch);
	for (int m = 1; o->fuse_se && m < g->n_node; m++) match_se(g, &ch, m, &ch.block[m]);
	sn_graph *h = rebuild(g, o, &ch, &rep);
	for (int c = 0; h && c < g->n_node; c++) {
		if (ch.head[c] == c && ch.bn[c] >= 0) fold_bn(g, h, c, ch.bn[c]);
		if (ch.se[c] == c) copy_se(g, h, &ch.block[c], c);
	}
	free(ch.head);
	free(ch.block);
	if (!h) return NULL;
	h->shapes_locked = g->shapes_locked;
	rep.nodes_after = h->n_node;
	rep.sparse_layers = sn_graph_select_sparse(h, o->sparse);
	if (rep.sparse_layers < 0) { sn_graph_free(h); return NULL; }
	if (r) *r = rep;
	return h;
}
