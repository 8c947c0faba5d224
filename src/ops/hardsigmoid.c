/* Hardsigmoid: y = min(max(alpha x + beta, 0), 1), the gate of MobileNetV3's squeeze-and-
 * excitation blocks. PyTorch's is alpha 1/6, beta 1/2; ONNX's default alpha is 0.2. The
 * gradient is alpha inside the linear piece (open interval, as PyTorch) and 0 outside; it reads
 * the input, so a ReLU after it may run in place. */
#include <float.h>
#include <math.h>
#include "ops/elementwise.h"

static inline float hardsigmoid_f(float x, sn_ew_arg a) { return fminf(fmaxf(a.alpha * x + a.beta, 0.0f), 1.0f); }

static inline float hardsigmoid_g(float x, float y, float dy, sn_ew_arg a)
{
	const float t = a.alpha * x + a.beta;
	return t > 0 && t < 1 ? a.alpha * dy : 0.0f;
}

SN_EW_LOOPS(hardsigmoid_loops, hardsigmoid_f, hardsigmoid_g);

int sn_op_hardsigmoid(sn_graph *g, sn_node *n, sn_plan *pl, sn_action act)
{
	const float alpha = n->a.hsig.alpha, beta = n->a.hsig.beta;
	if (act == SN_ACT_SHAPE && (!isfinite(alpha) || !isfinite(beta)))
		return sn_seterr(SN_EINVAL, "layer '%s' (Hardsigmoid): alpha and beta must be finite", n->name);
	return sn_elementwise(g, n, pl, act, &hardsigmoid_loops, (sn_ew_arg){.alpha = alpha, .beta = beta});
}

static const sn_attr_def hardsigmoid_attrs[] = {
	{.key = "alpha", .type = SN_AT_FLOAT, .flags = SN_AF_LATE, .off = {SN_AT(a.hsig.alpha)}, .lo = -FLT_MAX, .hi = FLT_MAX,
	 .def = 1.0f / 6, .expect = "a finite number, e.g. 0.5"},
	{.key = "beta", .type = SN_AT_FLOAT, .flags = SN_AF_LATE, .off = {SN_AT(a.hsig.beta)}, .lo = -FLT_MAX, .hi = FLT_MAX,
	 .def = 0.5f, .expect = "a finite number, e.g. 0.5"},
};

const sn_op_def sn_op_def_hardsigmoid = {"hardsigmoid", "Hardsigmoid", 1, 1, sn_op_hardsigmoid, SN_OPF_ELEMENTWISE,
                                         SN_ATTRS(hardsigmoid_attrs), .chan = SN_CH_PASS};
