/* int8 arithmetic: the parts that are not inline (qmath.h states the definitions). */
#include <float.h>
#include <math.h>
#include "kernels/qmath.h"

sn_q_mult sn_q_multiplier(double m)
{
	sn_q_mult r = {0, 0};
	if (!(m > 0)) return r;
	int e;
	const double q = frexp(m, &e);                    /* m = q * 2^e, q in [0.5, 1) */
	int64_t fixed = (int64_t)round(q * (double)((int64_t)1 << 31));   /* half away from zero */
	if (fixed == (int64_t)1 << 31) { fixed /= 2; e++; }
	if (e < -31) return r;                            /* below 2^-32: every product rounds to 0 */
	if (e > 31) { r.mult = INT32_MAX; r.shift = 31; return r; }
	r.mult = (int32_t)fixed;
	r.shift = e;
	return r;
}

/* float division and rounding as PyTorch's observers do them (torch.round: half to even) */
sn_qparams sn_q_params_asym(float min, float max)
{
	const float lo = min < 0 ? min : 0, hi = max > 0 ? max : 0;
	float scale = (hi - lo) / 255.0f;
	if (!(scale >= FLT_EPSILON)) scale = FLT_EPSILON;
	long zp = -128 - lrintf(lo / scale);
	zp = zp < -128 ? -128 : zp > 127 ? 127 : zp;
	return (sn_qparams){scale, (int32_t)zp};
}

sn_qparams sn_q_params_sym(float absmax)
{
	float scale = fabsf(absmax) / 127.0f;
	if (!(scale >= FLT_EPSILON)) scale = FLT_EPSILON;
	return (sn_qparams){scale, 0};
}

void sn_q_act_range(sn_qparams q, int act, int32_t *lo, int32_t *hi)
{
	*lo = -128;
	*hi = 127;
	if (act >= 1 && q.zero_point > *lo) *lo = q.zero_point;       /* ReLU: nothing below real 0 */
	if (act == 2) {                                                /* ReLU6: nothing above real 6 */
		const long six = lrintf(6.0f / q.scale) + q.zero_point;
		if (six < *hi) *hi = (int32_t)(six > *lo ? six : *lo);
	}
}

void sn_q_quantize(const float *x, size_t n, sn_qparams q, int32_t lo, int32_t hi, int8_t *out)
{
	for (size_t i = 0; i < n; i++) {
		/* x / scale (not x * (1 / scale)) as ONNX's QuantizeLinear; rintf rounds half to even in
		 * the default rounding mode (exact: |v| <= 1e9, an integer float, after the clamp); NaN
		 * goes to the zero point. Written branch-free so that it vectorises (vrndscaleps). */
		float v = x[i] / q.scale;
		v = v != v ? 0.0f : v > 1e9f ? 1e9f : v < -1e9f ? -1e9f : v;
		const int32_t r = (int32_t)__builtin_rintf(v) + q.zero_point;
		out[i] = (int8_t)(r < lo ? lo : r > hi ? hi : r);
	}
}

void sn_q_dequantize(const int8_t *q, size_t n, sn_qparams p, float *out)
{
	for (size_t i = 0; i < n; i++) out[i] = p.scale * (float)(q[i] - p.zero_point);
}

void sn_q_fake(float *x, size_t n, sn_qparams q, uint8_t *pass, float *lo, float *hi)
{
	/* in float, branch-free: integers below 2^24 are exact, and beyond that the value clamps and
	 * stops the gradient either way, so these are sn_q_quantize's then sn_q_dequantize's bits */
	const float zp = (float)q.zero_point;
	float mn = *lo, mx = *hi;
	for (size_t i = 0; i < n; i++) {   /* comparisons, not fminf/fmaxf calls: this vectorises */
		const float xi = x[i], v = xi / q.scale, r = (v == v ? nearbyintf(v) : 0) + zp;
		mn = xi < mn ? xi : mn;
		mx = xi > mx ? xi : mx;
		pass[i] = r >= -128 && r <= 127;
		x[i] = q.scale * ((r < -128 ? -128 : r > 127 ? 127 : r) - zp);
	}
	*lo = mn; *hi = mx;
}
