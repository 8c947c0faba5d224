/* Element-wise activations: ReLU, ReLU6, Sigmoid, Hardswish. Gradients follow PyTorch at the
 * kinks (ReLU: 0 at x = 0; ReLU6: 0 at 0 and 6; Hardswish: x/3 + 1/2 on [-3, 3]). */
#include <math.h>
#include "core/internal.h"

static inline float act_f(sn_op op, float x)
{
	switch (op) {
	case SN_OP_RELU: return x > 0 ? x : 0;
	case SN_OP_RELU6: return x > 0 ? (x < 6 ? x : 6) : 0;
	case SN_OP_SIGMOID: return 1.0f / (1.0f + expf(-x));
	default: return x <= -3 ? 0 : x >= 3 ? x : x * (x + 3) / 6;
	}
}

/* derivative from input x and output y. ReLU and ReLU6 read only y (y in (0, 6) exactly when
 * x is), which lets them run in place on their producer's buffer (see sn_graph_plan). */
static inline float act_d(sn_op op, float x, float y)
{
	switch (op) {
	case SN_OP_RELU: return y > 0;
	case SN_OP_RELU6: return y > 0 && y < 6;
	case SN_OP_SIGMOID: return y * (1 - y);
	default: return x < -3 ? 0 : x <= 3 ? x / 3 + 0.5f : 1;
	}
}

int sn_op_activation(sn_graph *g, sn_node *n, sn_plan *pl, sn_action act)
{
	const sn_op op = n->op;
	switch (act) {
	case SN_ACT_SHAPE: n->out = sn_in(g, n, 0)->out; return SN_OK;
	case SN_ACT_SIZES: return SN_OK;
	case SN_ACT_FORWARD: {
		const size_t N = (size_t)pl->batch * sn_shape_numel(n->out);
		const float *x = sn_rt_in(pl, n, 0)->y;
		float *y = sn_rt(pl, n)->y;
		if (op == SN_OP_RELU) { /* the hot one: keep it branch-free for the vectoriser */
			#pragma omp parallel for simd schedule(static)
			for (size_t i = 0; i < N; i++) y[i] = x[i] > 0 ? x[i] : 0;
		} else {
			#pragma omp parallel for schedule(static)
			for (size_t i = 0; i < N; i++) y[i] = act_f(op, x[i]);
		}
		return SN_OK;
	}
	case SN_ACT_BACKWARD: {
		sn_node_rt *p = sn_rt_in(pl, n, 0), *r = sn_rt(pl, n);
		if (!p->needs_grad) return SN_OK;
		const size_t N = (size_t)pl->batch * sn_shape_numel(n->out);
		int acc = sn_dy_accumulate(p);
		const float *x = p->y, *y = r->y, *dy = r->dy;
		float *dx = p->dy;
		if (!acc && op == SN_OP_RELU) { /* the hot one, branch-free */
			#pragma omp parallel for simd schedule(static)
			for (size_t i = 0; i < N; i++) dx[i] = y[i] > 0 ? dy[i] : 0.0f;
			return SN_OK;
		}
		#pragma omp parallel for schedule(static)
		for (size_t i = 0; i < N; i++) {
			float v = dy[i] * act_d(op, x[i], y[i]);
			dx[i] = acc ? dx[i] + v : v;
		}
		return SN_OK;
	}
	}
	return SN_OK;
}

/* ReLU and ReLU6 read only their output in backward: they run in place, and nothing may
 * overwrite their output (nor Sigmoid's). HardSwish is an ONNX operator from opset 14 on. */
const sn_op_def sn_op_def_relu = {"relu", "ReLU", 1, 1, sn_op_activation,
                                  SN_OPF_IN_PLACE | SN_OPF_READS_OUTPUT | SN_OPF_ELEMENTWISE, .chan = SN_CH_PASS,
                                  .path_in_place = "elementwise, in place", .onnx = "Relu"};
const sn_op_def sn_op_def_relu6 = {"relu6", "ReLU6", 1, 1, sn_op_activation,
                                   SN_OPF_IN_PLACE | SN_OPF_READS_OUTPUT | SN_OPF_ELEMENTWISE, .chan = SN_CH_PASS,
                                   .path_in_place = "elementwise, in place"};
const sn_op_def sn_op_def_sigmoid = {"sigmoid", "Sigmoid", 1, 1, sn_op_activation, SN_OPF_READS_OUTPUT | SN_OPF_ELEMENTWISE,
                                     .chan = SN_CH_PASS, .onnx = "Sigmoid"};
const sn_op_def sn_op_def_hardswish = {"hardswish", "Hardswish", 1, 1, sn_op_activation, SN_OPF_ELEMENTWISE,
                                       .chan = SN_CH_PASS, .onnx = "HardSwish", .onnx_since = 14};
