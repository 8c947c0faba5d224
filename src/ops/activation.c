/* Element-wise activations: ReLU, ReLU6, Sigmoid, Hardswish. Gradients follow PyTorch at the
 * kinks (ReLU: 0 at x = 0; ReLU6: 0 at 0 and 6; Hardswish: x/3 + 1/2 on [-3, 3]). */
#include <math.h>
#include "core/quant.h"
#include "ops/elementwise.h"

/* ReLU's and ReLU6's g read only y (y in (0, 6) exactly when x is), which lets them run in place
 * on their producer's buffer (see sn_graph_plan). */
static inline float relu_f(float x, sn_ew_arg a) { return x > 0 ? x : 0; }
/* A first write selects, an added one multiplies by the 0 or 1, as ReLU always has (the two
 * differ only in a zero's sign and where dy is not finite). */
static inline float relu_g(float x, float y, float dy, sn_ew_arg a) { return a.acc ? dy * (y > 0) : y > 0 ? dy : 0.0f; }

static inline float relu6_f(float x, sn_ew_arg a) { return x > 0 ? (x < 6 ? x : 6) : 0; }
static inline float relu6_g(float x, float y, float dy, sn_ew_arg a) { return dy * (y > 0 && y < 6); }

static inline float sigmoid_f(float x, sn_ew_arg a) { return sn_sigmoid(x); }
static inline float sigmoid_g(float x, float y, float dy, sn_ew_arg a) { return dy * (y * (1 - y)); }

static inline float hardswish_f(float x, sn_ew_arg a) { return x <= -3 ? 0 : x >= 3 ? x : x * (x + 3) / 6; }
static inline float hardswish_g(float x, float y, float dy, sn_ew_arg a)
{
	return dy * (x < -3 ? 0 : x <= 3 ? x / 3 + 0.5f : 1);
}

SN_EW_LOOPS(relu_loops, relu_f, relu_g);
SN_EW_LOOPS(relu6_loops, relu6_f, relu6_g);
SN_EW_LOOPS(sigmoid_loops, sigmoid_f, sigmoid_g);
SN_EW_LOOPS(hardswish_loops, hardswish_f, hardswish_g);

int sn_op_activation(sn_graph *g, sn_node *n, sn_plan *pl, sn_action act)
{
	const sn_ew_loops *l;
	switch (n->op) {
	case SN_OP_RELU: l = &relu_loops; break;
	case SN_OP_RELU6: l = &relu6_loops; break;
	case SN_OP_SIGMOID: l = &sigmoid_loops; break;
	default: l = &hardswish_loops; break;
	}
	return sn_elementwise(g, n, pl, act, l, (sn_ew_arg){0});
}

/* int8 (quantized models): ReLU and ReLU6 keep their input's parameters, so they clamp bytes: to
 * the zero point (real 0) from below, ReLU6 also to real 6 from above (sn_q_act_range). */
int sn_q8_op_relu(sn_graph *g, sn_node *n, sn_plan *pl, sn_action act)
{
	if (act != SN_ACT_FORWARD) return SN_OK;
	int32_t lo, hi;
	sn_q_act_range(n->q->y, n->op == SN_OP_RELU6 ? SN_KACT_RELU6 : SN_KACT_RELU, &lo, &hi);
	const int8_t *x = sn_rt_in(pl, n, 0)->q;
	int8_t *y = sn_rt(pl, n)->q;
	const size_t N = (size_t)pl->batch * sn_shape_numel(n->out);
	#pragma omp parallel for simd schedule(static)
	for (size_t i = 0; i < N; i++) y[i] = (int8_t)(x[i] < lo ? lo : x[i] > hi ? hi : x[i]);
	return SN_OK;
}

/* ReLU and ReLU6 read only their output in backward: they run in place, and nothing may
 * overwrite their output (nor Sigmoid's). HardSwish is an ONNX operator from opset 14 on. */
const sn_op_def sn_op_def_relu = {"relu", "ReLU", 1, 1, sn_op_activation,
                                  SN_OPF_IN_PLACE | SN_OPF_READS_OUTPUT | SN_OPF_ELEMENTWISE | SN_OPF_Q8_SAME,
                                  .chan = SN_CH_PASS, .path_in_place = "elementwise, in place", .onnx = "Relu",
                                  .run_q8 = sn_q8_op_relu};
const sn_op_def sn_op_def_relu6 = {"relu6", "ReLU6", 1, 1, sn_op_activation,
                                   SN_OPF_IN_PLACE | SN_OPF_READS_OUTPUT | SN_OPF_ELEMENTWISE | SN_OPF_Q8_SAME,
                                   .chan = SN_CH_PASS, .path_in_place = "elementwise, in place", .run_q8 = sn_q8_op_relu};
const sn_op_def sn_op_def_sigmoid = {"sigmoid", "Sigmoid", 1, 1, sn_op_activation, SN_OPF_READS_OUTPUT | SN_OPF_ELEMENTWISE,
                                     .chan = SN_CH_PASS, .onnx = "Sigmoid"};
const sn_op_def sn_op_def_hardswish = {"hardswish", "Hardswish", 1, 1, sn_op_activation, SN_OPF_ELEMENTWISE,
                                       .chan = SN_CH_PASS, .onnx = "HardSwish", .onnx_since = 14};
