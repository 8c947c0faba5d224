/* SiLU (swish), PyTorch's nn.SiLU: y = x sigmoid(x). Backward reads the input:
 * dy/dx = s (1 + x (1 - s)) with s = sigmoid(x). */
#include <math.h>
#include "core/internal.h"

static inline float sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

static int silu(sn_graph *g, sn_node *n, sn_plan *pl, sn_action act)
{
	switch (act) {
	case SN_ACT_SHAPE: n->out = sn_in(g, n, 0)->out; return SN_OK;
	case SN_ACT_SIZES: return SN_OK;
	case SN_ACT_FORWARD: {
		const size_t N = (size_t)pl->batch * sn_shape_numel(n->out);
		const float *x = sn_rt_in(pl, n, 0)->y;
		float *y = sn_rt(pl, n)->y;
		#pragma omp parallel for schedule(static)
		for (size_t i = 0; i < N; i++) y[i] = x[i] * sigmoid(x[i]);
		return SN_OK;
	}
	case SN_ACT_BACKWARD: {
		sn_node_rt *p = sn_rt_in(pl, n, 0);
		if (!p->needs_grad) return SN_OK;
		const size_t N = (size_t)pl->batch * sn_shape_numel(n->out);
		const int acc = sn_dy_accumulate(p);
		const float *x = p->y, *dy = sn_rt(pl, n)->dy;
		float *dx = p->dy;
		#pragma omp parallel for schedule(static)
		for (size_t i = 0; i < N; i++) {
			const float s = sigmoid(x[i]), v = dy[i] * s * (1.0f + x[i] * (1.0f - s));
			dx[i] = acc ? dx[i] + v : v;
		}
		return SN_OK;
	}
	}
	return SN_OK;
}

/* ONNX has no SiLU operator in the opsets slimnn reads and writes: the exporter writes
 * x * Sigmoid(x), as torch does, and the importer reads that back as silu. */
const sn_op_def sn_op_def_silu = {"silu", "SiLU", 1, 1, silu, SN_OPF_ELEMENTWISE, .chan = SN_CH_PASS};
