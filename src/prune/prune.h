/* Internals of pruning: the channel dependency graph behind filter and neuron pruning.
 *
 * Every node output is a list of channel slots; each slot carries a channel id. A conv without
 * groups, a Linear and the input make new ids; BN, activations, pooling, dropout,
 * depthwise convs and flatten pass their input's ids on (flatten also records how many
 * features each channel became, H*W); Concat lists its inputs' ids one after the other; Add
 * joins the ids of its inputs slot by slot (union-find). A class is a set of joined ids: its
 * channels are removed together, everywhere. A coupled group is the set of classes made by the
 * same convs (convs tied by Adds share classes, so they land in one group). A Linear's outputs
 * are its neurons: one code path removes filters and neurons, the layers marked prunable say
 * which. */
#ifndef SN_PRUNE_H
#define SN_PRUNE_H
#include <math.h>
#include "core/internal.h"

/* How a conv treats channels (its row's rule, src/ops/conv.c): plain (groups 1) makes new ones;
 * depthwise (groups = in = out) carries its input's; other grouped convs are left as they are. */
enum { SN_CONV_PLAIN, SN_CONV_DEPTHWISE, SN_CONV_GROUPED };
static inline int sn_conv_kind(const sn_graph *g, const sn_node *n)
{
	const sn_chan_rule r = sn_node_chan(g, n);
	return r == SN_CH_MAKES ? SN_CONV_PLAIN : r == SN_CH_PASS ? SN_CONV_DEPTHWISE : SN_CONV_GROUPED;
}

/* Layers that make channels of their own (SN_CH_MAKES): plain convs (filters) and Linears
 * (neurons). Their weight rows are the channels; removing one removes the row, and its readers'
 * columns. */
static inline int sn_chg_maker(const sn_graph *g, const sn_node *n) { return sn_node_chan(g, n) == SN_CH_MAKES; }

/* Weight i's share of a unit's importance (a single weight, a block, a filter or a neuron):
 * w^2 (l2: the caller takes the square root of the sum), |w| * |g| (taylor: g->gw holds the
 * mean |dL/dw| that sn_prune_taylor left there), |w| otherwise. */
static inline double sn_prune_term(const sn_tensor *t, size_t i, sn_criterion c)
{
	const double w = t->data[i];
	if (c == SN_CRIT_L2) return w * w;
	if (c == SN_CRIT_TAYLOR) return t->grad ? fabs(w * t->grad[i]) : 0.0;
	return fabs(w);
}

typedef struct {
	const sn_graph *g;
	int *off, *len, *hw;      /* per node: slots id[off .. off+len), features per slot */
	int *id;                  /* channel id per slot */
	int n_id;
	int *parent;              /* union-find over ids */
	unsigned char *frozen;    /* per id: may not be removed (merged into classes) */
	int *maker, *maker_slot;  /* per id: the conv that computes it and its row there (-1: none) */
	/* after chg_finish */
	int n_class;
	int *cls;                 /* per id: its class */
	unsigned char *class_frozen;
	int *class_group;         /* per class: its coupled group */
	int n_group;
	int *group_first;         /* per group: its first producer (node index), -1 if none */
} sn_chg;

/* Builds the graph; prunable[i] == 0 freezes the channels node i makes (NULL: all prunable; the
 * channels of the model's output are always fixed). */
sn_chg *sn_chg_build(const sn_graph *g, const unsigned char *prunable);
void sn_chg_free(sn_chg *d);
static inline int sn_chg_class(const sn_chg *d, int node, int slot) { return d->cls[d->id[d->off[node] + slot]]; }
/* Number of classes of group gi, and how many of them may be removed. */
void sn_chg_group_size(const sn_chg *d, int gi, int *classes, int *prunable);
/* Importance of each class (n_class entries) by criterion: the norms of the producers' rows
 * (l1, l2), the sums of their |w| * |g| (taylor) or |gamma| of the BNs that carry it (bn),
 * summed over the class. */
void sn_chg_importance(const sn_chg *d, sn_criterion c, double *imp);
/* A new graph without the classes marked in remove[] (n_class entries): convs and Linears lose
 * output rows and input columns, BNs and depthwise convs lose channels. */
sn_graph *sn_chg_remove(const sn_chg *d, const unsigned char *remove);
/* Zeroes everything a class contributes downstream: producer rows and biases (convs, Linears),
 * BN gamma and beta, depthwise rows. (With no bias after it, the class then carries exact zeros.) */
void sn_chg_zero_class(sn_graph *g, const sn_chg *d, int cls);
/* order[0..n) = a permutation of 0..n-1 drawn from seed (Fisher-Yates): the data orders of
 * the Taylor batches and of the gradual rounds. */
void sn_prune_permutation(int *order, int n, uint64_t seed);
/* Removable channels of g's groups (as in ref, the unpruned graph) and how many are gone. */
int sn_prune_filter_counts(const sn_graph *g, const sn_graph *ref, const unsigned char *prunable,
                           size_t *gone, size_t *total);

/* ---------------------------------------------------------------- per-layer choices */
/* 1 if node i is one of the layers that make group gi's channels (its producers). */
static inline int sn_chg_produces(const sn_chg *d, int i, int gi)
{
	const sn_graph *g = d->g;
	return sn_chg_maker(g, &g->node[i]) && d->len[i] > 0 && d->maker[d->id[d->off[i]]] == i &&
	       d->class_group[sn_chg_class(d, i, 0)] == gi;
}

typedef struct { double key; int cls; } sn_chg_rank;
/* Marks in remove[] the `want` least important removable classes of group gi (but never all of
 * the group's classes); returns how many. scratch: n_class entries. */
int sn_chg_choose(const sn_chg *d, const double *imp, int gi, long want, sn_chg_rank *scratch,
                  unsigned char *remove);
/* Zeroes in d's graph (g) every value that sn_chg_remove(d, remove) would drop: the rows of the
 * removed channels and their readers' columns. The graph then computes exactly what the smaller
 * one computes (a removed channel may still carry values; nothing reads them). */
int sn_chg_zero(sn_graph *g, const sn_chg *d, const unsigned char *remove);
/* sn_prune_filters with per-layer fractions: group gi takes node_s[d->group_first[gi]] (its
 * first producer) in layer scope (NULL: s for every group, in the given scope). */
sn_graph *sn_prune_filters_at(const sn_graph *g, const sn_graph *ref, const unsigned char *prunable,
                              sn_criterion c, sn_scope scope, float s, const float *node_s);

/* Per-layer targets of the pruning loop (sn_prune_opts.layer_targets, src/prune/targets.c). */
typedef struct {
	int n;                    /* nodes */
	float *final;             /* per prunable node: its target in the end (filter, neuron: its group's) */
	float *s0;                /* per node: its sparsity before pruning (masked granularities) */
	float *s;                 /* per node: the sparsity of the current step (sn_layer_plan_at) */
	double *units;            /* per node: its share of the overall target (units it holds; a group's
	                             channels count once, on its first producer) */
} sn_layer_plan;
/* Checks the targets against the model and the selection (and lets a listed layer of the default
 * ignore list be pruned: prunable is updated); NULL + sn_errmsg() on bad targets. */
sn_layer_plan *sn_layer_plan_new(const sn_graph *g, const sn_prune_opts *o, unsigned char *prunable);
/* Fills p->s for progress f of the schedule (0: the start, 1: the final targets); returns p->s,
 * or NULL when p is NULL. */
const float *sn_layer_plan_at(sn_layer_plan *p, double f);
/* The overall fraction p->s amounts to: the mean of the layers' fractions weighted by units. */
float sn_layer_plan_mean(const sn_layer_plan *p);
void sn_layer_plan_free(sn_layer_plan *p);
/* A text file (targets, sensitivity tables) into *text, NUL-terminated; the caller frees. */
int sn_read_text(const char *path, char **text);
#endif
