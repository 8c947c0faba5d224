/* SiLU (swish), PyTorch's nn.SiLU: y = x sigmoid(x). Backward reads the input:
 * dy/dx = s (1 + x (1 - s)) with s = sigmoid(x). */
#include "ops/elementwise.h"

static inline float silu_f(float x, sn_ew_arg a) { return sn_silu(x); }

static inline float silu_g(float x, float y, float dy, sn_ew_arg a)
{
	const float s = sn_sigmoid(x);
	return dy * s * (1.0f + x * (1.0f - s));
}

SN_EW_LOOPS(silu_loops, silu_f, silu_g);

static int silu(sn_graph *g, sn_node *n, sn_plan *pl, sn_action act)
{
	return sn_elementwise(g, n, pl, act, &silu_loops, (sn_ew_arg){0});
}

/* ONNX has no SiLU operator in the opsets slimnn reads and writes: the exporter writes
 * x * Sigmoid(x), as torch does, and the importer reads that back as silu. */
const sn_op_def sn_op_def_silu = {"silu", "SiLU", 1, 1, silu, SN_OPF_ELEMENTWISE, .chan = SN_CH_PASS};
