/* The operator table: one row per operator, each defined next to its operator in src/ops/. */
#include "core/internal.h"

extern const sn_op_def sn_op_def_input, sn_op_def_conv, sn_op_def_bn, sn_op_def_relu, sn_op_def_relu6,
	sn_op_def_sigmoid, sn_op_def_hardswish, sn_op_def_maxpool, sn_op_def_avgpool, sn_op_def_gap, sn_op_def_linear,
	sn_op_def_flatten, sn_op_def_dropout, sn_op_def_add, sn_op_def_concat, sn_op_def_mul, sn_op_def_softmax,
	sn_op_def_shuffle, sn_op_def_slice, sn_op_def_pad, sn_op_def_hardsigmoid, sn_op_def_silu, sn_op_def_gelu,
	sn_op_def_se;

static const sn_op_def *const ops[SN_OP_COUNT] = {
	[SN_OP_INPUT]       = &sn_op_def_input,
	[SN_OP_CONV]        = &sn_op_def_conv,
	[SN_OP_BN]          = &sn_op_def_bn,
	[SN_OP_RELU]        = &sn_op_def_relu,
	[SN_OP_RELU6]       = &sn_op_def_relu6,
	[SN_OP_SIGMOID]     = &sn_op_def_sigmoid,
	[SN_OP_HARDSWISH]   = &sn_op_def_hardswish,
	[SN_OP_MAXPOOL]     = &sn_op_def_maxpool,
	[SN_OP_AVGPOOL]     = &sn_op_def_avgpool,
	[SN_OP_GAP]         = &sn_op_def_gap,
	[SN_OP_LINEAR]      = &sn_op_def_linear,
	[SN_OP_FLATTEN]     = &sn_op_def_flatten,
	[SN_OP_DROPOUT]     = &sn_op_def_dropout,
	[SN_OP_ADD]         = &sn_op_def_add,
	[SN_OP_CONCAT]      = &sn_op_def_concat,
	[SN_OP_MUL]         = &sn_op_def_mul,
	[SN_OP_SOFTMAX]     = &sn_op_def_softmax,
	[SN_OP_SHUFFLE]     = &sn_op_def_shuffle,
	[SN_OP_SLICE]       = &sn_op_def_slice,
	[SN_OP_PAD]         = &sn_op_def_pad,
	[SN_OP_HARDSIGMOID] = &sn_op_def_hardsigmoid,
	[SN_OP_SILU]        = &sn_op_def_silu,
	[SN_OP_GELU]        = &sn_op_def_gelu,
	[SN_OP_SE]          = &sn_op_def_se,
};

const char *const sn_padmode_names[4] = {"zeros", "reflect", "replicate", "circular"};
/* enum attributes (a padding mode) are read and written as int */
_Static_assert(sizeof(sn_padmode) == sizeof(int), "sn_padmode must be int-sized");

const sn_op_def *sn_op_get(sn_op op) { return ops[op]; }

const char *sn_node_torch(const sn_node *n)
{
	const sn_op_def *d = ops[n->op];
	return d->torch_of ? d->torch_of(n) : d->torch;
}

int sn_op_from_key(const char *key)
{
	for (int i = 0; i < SN_OP_COUNT; i++)
		if (!strcmp(ops[i]->key, key)) return i;
	return -1;
}

const sn_attr_def *sn_attr_find(const sn_op_def *d, const char *key)
{
	for (int i = 0; i < d->n_attrs; i++)
		if (!strcmp(d->attrs[i].key, key)) return &d->attrs[i];
	return NULL;
}

sn_chan_rule sn_node_chan(const sn_graph *g, const sn_node *n)
{
	const sn_op_def *d = ops[n->op];
	return d->chan_of ? d->chan_of(g, n) : d->chan;
}

void sn_node_defaults(sn_node *n)
{
	const sn_op_def *d = ops[n->op];
	memset(&n->a, 0, sizeof n->a);
	for (int i = 0; i < d->n_attrs; i++) {
		const sn_attr_def *a = &d->attrs[i];
		const int parts = a->type == SN_AT_PAIR ? 2 : a->type == SN_AT_PADS ? 4 : a->type == SN_AT_SHAPE ? 3 : 1;
		for (int k = 0; k < parts; k++) {
			char *at = (char *)n + a->off[k];
			if (a->type == SN_AT_FLOAT) *(float *)at = (float)a->def;
			else *(int *)at = (int)a->def;
		}
	}
}
