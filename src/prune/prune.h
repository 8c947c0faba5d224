/* Internals of pruning: the channel dependency graph behind filter pruning.
 *
 * Every node output is a list of channel slots; each slot carries a channel id. A conv without
 * groups (and the input, and Linear outputs) makes new ids; BN, activations, pooling, dropout,
 * depthwise convs and flatten pass their input's ids on (flatten also records how many
 * features each channel became, H*W); Concat lists its inputs' ids one after the other; Add
 * joins the ids of its inputs slot by slot (union-find). A class is a set of joined ids: its
 * channels are removed together, everywhere. A coupled group is the set of classes made by the
 * same convs (convs tied by Adds share classes, so they land in one group). */
#ifndef SN_PRUNE_H
#define SN_PRUNE_H
#include "slimnn.h"

/* How a conv treats channels: plain (groups 1) makes new ones; depthwise (groups = in = out)
 * carries its input's; other grouped convs are left as they are. */
enum { SN_CONV_PLAIN, SN_CONV_DEPTHWISE, SN_CONV_GROUPED };
static inline int sn_conv_kind(const sn_graph *g, const sn_node *n)
{
	const int in_c = g->node[n->in[0]].out.c, G = n->a.conv.groups;
	if (G == 1) return SN_CONV_PLAIN;
	return G == in_c && n->a.conv.out_c == in_c ? SN_CONV_DEPTHWISE : SN_CONV_GROUPED;
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

/* Builds the graph; prunable[i] == 0 freezes the channels node i makes (NULL: all prunable). */
sn_chg *sn_chg_build(const sn_graph *g, const unsigned char *prunable);
void sn_chg_free(sn_chg *d);
static inline int sn_chg_class(const sn_chg *d, int node, int slot) { return d->cls[d->id[d->off[node] + slot]]; }
/* Number of classes of group gi, and how many of them may be removed. */
void sn_chg_group_size(const sn_chg *d, int gi, int *classes, int *prunable);
/* Importance of each class (n_class entries) by criterion: the norms of the producers' rows
 * (l1, l2) or |gamma| of the BNs that carry it (bn), summed over the class. */
void sn_chg_importance(const sn_chg *d, sn_criterion c, double *imp);
/* A new graph without the classes marked in remove[] (n_class entries): convs lose output rows
 * and input columns, BNs and depthwise convs lose channels, Linears lose columns. */
sn_graph *sn_chg_remove(const sn_chg *d, const unsigned char *remove);
/* Zeroes everything a class contributes downstream: producer rows and biases, BN gamma and
 * beta, depthwise rows. (With no bias after it, the class then carries exact zeros.) */
void sn_chg_zero_class(sn_graph *g, const sn_chg *d, int cls);
/* Removable channels of g's groups (as in ref, the unpruned graph) and how many are gone. */
int sn_prune_filter_counts(const sn_graph *g, const sn_graph *ref, const unsigned char *prunable,
                           size_t *gone, size_t *total);
#endif
