/* int8 arithmetic, defined once: every int8 kernel (portable, AVX2, VNNI) and the C code
 * generator compute exactly these bits.
 *
 * Values: real = scale * (q - zero_point), q an int8. Weights are symmetric per output channel
 * (zero point 0, q in [-127, 127]); activations asymmetric per tensor (q in [-128, 127]).
 * Quantizing rounds half to even, as ONNX's QuantizeLinear does.
 *
 * A layer accumulates (x_q - x_zp) * w_q products in int32, adds an int32 bias quantized with
 * scale x_scale * w_scale, and requantizes the sum to the output's int8 with the real multiplier
 * M = x_scale * w_scale / y_scale in fixed point, as TFLite and CMSIS-NN define it:
 *   M = mult * 2^(shift - 31), mult in [2^30, 2^31)  (sn_q_multiplier),
 *   y = clamp(zp + rdivpot(srdhm(acc * 2^max(shift, 0), mult), max(-shift, 0)), lo, hi)
 * where srdhm is the saturating rounding doubling high multiply (it rounds half up, toward +inf:
 * floor(a*b/2^31 + 1/2)) and rdivpot a rounding right shift (half away from zero). A fused ReLU or ReLU6 is the clamp's
 * [lo, hi]. The one extension to TFLite: a left shift that overflows int32 saturates (TFLite
 * leaves it undefined), so every int32 accumulator has a defined result. */
#ifndef SN_KERNELS_QMATH_H
#define SN_KERNELS_QMATH_H
#include <stddef.h>
#include <stdint.h>

typedef struct { int32_t mult; int shift; } sn_q_mult;       /* M = mult * 2^(shift - 31) */
typedef struct { float scale; int32_t zero_point; } sn_qparams;

/* The fixed-point form of a real multiplier m >= 0: 0 below 2^-32 (the product would round to
 * 0 anyway), saturated at 2^31 (no layer has such a multiplier). */
sn_q_mult sn_q_multiplier(double m);

/* floor(a * b / 2^31 + 1/2); the one overflowing case (INT32_MIN squared) saturates to
 * INT32_MAX. (gemmlowp's nudge, then a division that truncates toward zero.) */
static inline int32_t sn_q_srdhm(int32_t a, int32_t b)
{
	if (a == INT32_MIN && b == INT32_MIN) return INT32_MAX;
	const int64_t ab = (int64_t)a * b;
	const int64_t nudge = ab >= 0 ? (1 << 30) : 1 - (1 << 30);
	return (int32_t)((ab + nudge) / ((int64_t)1 << 31));   /* division truncates toward zero */
}

/* round(x / 2^e), half away from zero; e in [0, 31]. */
static inline int32_t sn_q_rdivpot(int32_t x, int e)
{
	const int32_t mask = (int32_t)(((int64_t)1 << e) - 1), rem = x & mask;
	const int32_t threshold = (mask >> 1) + (x < 0);
	return (x >> e) + (rem > threshold);
}

/* acc * M in fixed point (TFLite's MultiplyByQuantizedMultiplier; left shifts saturate). */
static inline int32_t sn_q_requant(int32_t acc, sn_q_mult m)
{
	int32_t x = acc;
	if (m.shift > 0) {
		const int64_t s = (int64_t)acc * ((int64_t)1 << m.shift);
		x = s > INT32_MAX ? INT32_MAX : s < INT32_MIN ? INT32_MIN : (int32_t)s;
	}
	return sn_q_rdivpot(sn_q_srdhm(x, m.mult), m.shift > 0 ? 0 : -m.shift);
}

/* The output int8 of an accumulator: requantized, offset by the zero point, clamped to [lo, hi]
 * (the int8 range, or a fused activation's). */
static inline int8_t sn_q_output(int32_t acc, sn_q_mult m, int32_t zero_point, int32_t lo, int32_t hi)
{
	int64_t y = (int64_t)sn_q_requant(acc, m) + zero_point;
	return (int8_t)(y < lo ? lo : y > hi ? hi : y);
}

/* Parameters of a tensor whose values lie in [min, max], 0 always exactly representable:
 * asymmetric over [-128, 127] as PyTorch's MinMaxObserver computes them (float arithmetic,
 * the zero point rounded half to even), or symmetric (zero point 0) over [-127, 127] as TFLite
 * and ONNX Runtime quantize weights. The scale is at least FLT_EPSILON. */
sn_qparams sn_q_params_asym(float min, float max);
sn_qparams sn_q_params_sym(float absmax);
/* The int8 clamp [lo, hi] of an output with parameters q after an activation (0: none, 1 ReLU,
 * 2 ReLU6; numbered as SN_KACT_*). */
void sn_q_act_range(sn_qparams q, int act, int32_t *lo, int32_t *hi);

/* x -> clamp(round_half_even(x / scale) + zero_point, lo, hi), n values (ONNX QuantizeLinear). */
void sn_q_quantize(const float *x, size_t n, sn_qparams q, int32_t lo, int32_t hi, int8_t *out);
void sn_q_dequantize(const int8_t *q, size_t n, sn_qparams p, float *out);
/* Fake quantization for quantization-aware training, in place: x -> sn_q_dequantize of
 * sn_q_quantize over [-128, 127], the same bits; pass[i] = 1 where round(x / scale) + zero_point
 * lay inside [-128, 127] before the clamp (the straight-through estimator passes the gradient
 * there and only there, as PyTorch's FakeQuantize); [*lo, *hi] widened to cover the values
 * before quantization (what the observers see). */
void sn_q_fake(float *x, size_t n, sn_qparams q, uint8_t *pass, float *lo, float *hi);
#endif
