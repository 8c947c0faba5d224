/* The skeleton of the element-wise operators (elementwise.h): shape, sizes, and the plan's
 * buffers handed to the operator's loops. */
#include "ops/elementwise.h"

int sn_elementwise(sn_graph *g, sn_node *n, sn_plan *pl, sn_action act, const sn_ew_loops *l, sn_ew_arg a)
{
	switch (act) {
	case SN_ACT_SHAPE: n->out = sn_in(g, n, 0)->out; return SN_OK;
	case SN_ACT_SIZES: return SN_OK;
	case SN_ACT_FORWARD:
		l->forward(sn_rt_in(pl, n, 0)->y, sn_rt(pl, n)->y, (size_t)pl->batch * sn_shape_numel(n->out), a);
		return SN_OK;
	case SN_ACT_BACKWARD: {
		sn_node_rt *p = sn_rt_in(pl, n, 0), *r = sn_rt(pl, n);
		if (!p->needs_grad) return SN_OK;
		a.acc = sn_dy_accumulate(p);
		l->backward(p->y, r->y, r->dy, p->dy, (size_t)pl->batch * sn_shape_numel(n->out), a);
		return SN_OK;
	}
	}
	return SN_OK;
}
