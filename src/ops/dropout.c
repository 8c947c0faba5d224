/* Dropout: in training, zero each value with probability p and scale the rest by 1/(1-p);
 * the mask is drawn serially from the graph's rng so a run is reproducible for any thread count. */
#include "core/internal.h"

int sn_op_dropout(sn_graph *g, sn_node *n, sn_action act)
{
	sn_node *p = sn_in(g, n, 0);
	const size_t N = (size_t)g->batch * sn_shape_numel(n->out);
	const float keep = 1.0f - n->a.dropout.p, scale = keep > 0 ? 1.0f / keep : 0.0f;
	uint8_t *mask = n->saved;
	switch (act) {
	case SN_ACT_SHAPE:
		if (n->a.dropout.p < 0 || n->a.dropout.p >= 1)
			return sn_seterr(SN_EINVAL, "layer '%s': dropout p must be in [0, 1)", n->name);
		n->out = p->out;
		return SN_OK;
	case SN_ACT_SIZES: if (g->train) n->saved_bytes = (size_t)g->batch * sn_shape_numel(n->out); return SN_OK;
	case SN_ACT_FORWARD:
		if (!g->train) { memcpy(n->y, p->y, N * sizeof(float)); return SN_OK; }
		for (size_t i = 0; i < N; i++) mask[i] = sn_rng_uniform(&g->rng) < keep;
		for (size_t i = 0; i < N; i++) n->y[i] = mask[i] ? p->y[i] * scale : 0.0f;
		return SN_OK;
	case SN_ACT_BACKWARD: {
		if (!p->needs_grad) return SN_OK;
		int acc = sn_dy_accumulate(p);
		for (size_t i = 0; i < N; i++) {
			float v = mask[i] ? n->dy[i] * scale : 0.0f;
			p->dy[i] = acc ? p->dy[i] + v : v;
		}
		return SN_OK;
	}
	}
	return SN_OK;
}
