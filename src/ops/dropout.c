/* Dropout: in training, zero each value with probability p and scale the rest by 1/(1-p);
 * the mask is drawn serially from the plan's rng so a run is reproducible for any thread count. */
#include "core/internal.h"

int sn_op_dropout(sn_graph *g, sn_node *n, sn_plan *pl, sn_action act)
{
	const float keep = 1.0f - n->a.dropout.p, scale = keep > 0 ? 1.0f / keep : 0.0f;
	switch (act) {
	case SN_ACT_SHAPE:
		if (n->a.dropout.p < 0 || n->a.dropout.p >= 1)
			return sn_seterr(SN_EINVAL, "layer '%s': dropout p must be in [0, 1)", n->name);
		n->out = sn_in(g, n, 0)->out;
		return SN_OK;
	case SN_ACT_SIZES: if (pl->train) sn_rt(pl, n)->saved_bytes = (size_t)pl->batch * sn_shape_numel(n->out); return SN_OK;
	default: break;
	}
	sn_node_rt *p = sn_rt_in(pl, n, 0), *r = sn_rt(pl, n);
	const size_t N = (size_t)pl->batch * sn_shape_numel(n->out);
	uint8_t *mask = r->saved;
	if (act == SN_ACT_FORWARD) {
		if (!pl->train) { memcpy(r->y, p->y, N * sizeof(float)); return SN_OK; }
		for (size_t i = 0; i < N; i++) mask[i] = sn_rng_uniform(&pl->rng) < keep;
		for (size_t i = 0; i < N; i++) r->y[i] = mask[i] ? p->y[i] * scale : 0.0f;
		return SN_OK;
	}
	if (!p->needs_grad) return SN_OK;
	int acc = sn_dy_accumulate(p);
	for (size_t i = 0; i < N; i++) {
		float v = mask[i] ? r->dy[i] * scale : 0.0f;
		p->dy[i] = acc ? p->dy[i] + v : v;
	}
	return SN_OK;
}

static const sn_attr_def dropout_attrs[] = {
	{.key = "p", .type = SN_AT_FLOAT, .flags = SN_AF_HI_OPEN, .off = {SN_AT(a.dropout.p)}, .lo = 0, .hi = 1, .def = 0.5f,
	 .expect = "a probability in [0, 1), e.g. p=0.5"},
};

const sn_op_def sn_op_def_dropout = {"dropout", "Dropout", 1, 1, sn_op_dropout, SN_OPF_ELEMENTWISE | SN_OPF_Q8_SAME,
                                     SN_ATTRS(dropout_attrs), .chan = SN_CH_PASS, .path = "copy (identity at inference)",
                                     .run_q8 = sn_q8_op_copy};
