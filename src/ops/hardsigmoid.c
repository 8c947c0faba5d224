/* Hardsigmoid: y = min(max(alpha x + beta, 0), 1), the gate of MobileNetV3's squeeze-and-
 * excitation blocks. PyTorch's is alpha 1/6, beta 1/2; ONNX's default alpha is 0.2. The
 * gradient is alpha inside the linear piece (open interval, as PyTorch) and 0 outside; it reads
 * the input, so a ReLU after it may run in place. */
#include <float.h>
#include <math.h>
#include "core/internal.h"

int sn_op_hardsigmoid(sn_graph *g, sn_node *n, sn_plan *pl, sn_action act)
{
	const float alpha = n->a.hsig.alpha, beta = n->a.hsig.beta;
	if (act == SN_ACT_SHAPE) {
		if (!isfinite(alpha) || !isfinite(beta))
			return sn_seterr(SN_EINVAL, "layer '%s' (Hardsigmoid): alpha and beta must be finite", n->name);
		n->out = sn_in(g, n, 0)->out;
		return SN_OK;
	}
	sn_node_rt *p = sn_rt_in(pl, n, 0), *r = sn_rt(pl, n);
	const size_t N = (size_t)pl->batch * sn_shape_numel(n->out);
	switch (act) {
	case SN_ACT_SHAPE:
	case SN_ACT_SIZES: return SN_OK;
	case SN_ACT_FORWARD: {
		const float *x = p->y;
		float *y = r->y;
		#pragma omp parallel for simd schedule(static)
		for (size_t i = 0; i < N; i++) y[i] = fminf(fmaxf(alpha * x[i] + beta, 0.0f), 1.0f);
		return SN_OK;
	}
	case SN_ACT_BACKWARD: {
		if (!p->needs_grad) return SN_OK;
		const int acc = sn_dy_accumulate(p);
		const float *x = p->y, *dy = r->dy;
		float *dx = p->dy;
		#pragma omp parallel for simd schedule(static)
		for (size_t i = 0; i < N; i++) {
			const float t = alpha * x[i] + beta, v = t > 0 && t < 1 ? alpha * dy[i] : 0.0f;
			dx[i] = acc ? dx[i] + v : v;
		}
		return SN_OK;
	}
	}
	return SN_OK;
}

static const sn_attr_def hardsigmoid_attrs[] = {
	{.key = "alpha", .type = SN_AT_FLOAT, .flags = SN_AF_LATE, .off = {SN_AT(a.hsig.alpha)}, .lo = -FLT_MAX, .hi = FLT_MAX,
	 .def = 1.0f / 6, .expect = "a finite number, e.g. 0.5"},
	{.key = "beta", .type = SN_AT_FLOAT, .flags = SN_AF_LATE, .off = {SN_AT(a.hsig.beta)}, .lo = -FLT_MAX, .hi = FLT_MAX,
	 .def = 0.5f, .expect = "a finite number, e.g. 0.5"},
};

const sn_op_def sn_op_def_hardsigmoid = {"hardsigmoid", "Hardsigmoid", 1, 1, sn_op_hardsigmoid, SN_OPF_ELEMENTWISE,
                                         SN_ATTRS(hardsigmoid_attrs), .chan = SN_CH_PASS};
