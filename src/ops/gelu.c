/* GELU, PyTorch's nn.GELU: y = x Phi(x) = 0.5 x (1 + erf(x / sqrt 2)), and with approximate=tanh
 * 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3). Backward reads the input:
 *   exact:  dy/dx = Phi(x) + x phi(x), phi(x) = exp(-x^2 / 2) / sqrt(2 pi)
 *   tanh:   dy/dx = 0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2), t = tanh(u) */
#include <math.h>
#include "ops/elementwise.h"

#define SQRT1_2 0.70710678118654752f     /* 1 / sqrt(2) */
#define INV_SQRT_2PI 0.39894228040143268f /* 1 / sqrt(2 pi) */
#define SQRT_2_PI 0.79788456080286536f    /* sqrt(2 / pi) */
#define CUBIC 0.044715f

/* The two forms get their own loops, so neither tests the form per element. */
static inline float gelu_erf_f(float x, sn_ew_arg a) { return 0.5f * x * (1.0f + erff(x * SQRT1_2)); }
static inline float gelu_tanh_f(float x, sn_ew_arg a) { return 0.5f * x * (1.0f + tanhf(SQRT_2_PI * (x + CUBIC * x * x * x))); }

static inline float gelu_erf_g(float x, float y, float dy, sn_ew_arg a)
{
	return dy * (0.5f * (1.0f + erff(x * SQRT1_2)) + x * INV_SQRT_2PI * expf(-0.5f * x * x));
}

static inline float gelu_tanh_g(float x, float y, float dy, sn_ew_arg a)
{
	const float t = tanhf(SQRT_2_PI * (x + CUBIC * x * x * x));
	return dy * (0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * SQRT_2_PI * (1.0f + 3.0f * CUBIC * x * x));
}

SN_EW_LOOPS(gelu_erf_loops, gelu_erf_f, gelu_erf_g);
SN_EW_LOOPS(gelu_tanh_loops, gelu_tanh_f, gelu_tanh_g);

static int gelu(sn_graph *g, sn_node *n, sn_plan *pl, sn_action act)
{
	if (act == SN_ACT_SHAPE && (unsigned)n->a.gelu.approximate > SN_GELU_TANH)
		return sn_seterr(SN_EINVAL, "layer '%s' (GELU): unknown approximation %d", n->name, n->a.gelu.approximate);
	const sn_ew_loops *l = n->a.gelu.approximate == SN_GELU_TANH ? &gelu_tanh_loops : &gelu_erf_loops;
	return sn_elementwise(g, n, pl, act, l, (sn_ew_arg){0});
}

static const char *const approximations[] = {"none", "tanh"};   /* indexed by sn_gelu_approx, as PyTorch names them */
static const sn_attr_def gelu_attrs[] = {
	{.key = "approximate", .type = SN_AT_ENUM, .off = {SN_AT(a.gelu.approximate)}, .names = approximations, .n_names = 2,
	 .what = "GELU approximation", .expect = "none or tanh"},
};

/* ONNX has Gelu only from opset 20: the exporter writes torch's Erf (or Tanh) form, and the
 * importer reads the Erf form back as gelu. */
const sn_op_def sn_op_def_gelu = {"gelu", "GELU", 1, 1, gelu, SN_OPF_ELEMENTWISE, SN_ATTRS(gelu_attrs), .chan = SN_CH_PASS};
