/* The skeleton every element-wise operator shares: its output has its input's shape, forward
 * is y[i] = f(x[i]) over the batch, and backward writes (or adds, where another consumer of the
 * input wrote first) g(x[i], y[i], dy[i]) = dy[i] f'(x[i]) into the input's gradient. An
 * operator is its math, two static inline functions of one element:
 *
 *   float f(float x, sn_ew_arg a)                      the output
 *   float g(float x, float y, float dy, sn_ew_arg a)   the gradient it sends back; its formula
 *                                                      reads x or y, whichever the row allows
 *                                                      (an in-place op's x is its y)
 *
 * SN_EW_LOOPS(name, f, g) makes the loops from them, and the operator's function hands those to
 * sn_elementwise with its constants. The loops are made per operator, not reached through a
 * pointer per element, so f and g inline into them and vectorise where they can. */
#ifndef SN_OPS_ELEMENTWISE_H
#define SN_OPS_ELEMENTWISE_H

#include <math.h>
#include <stdint.h>
#include "core/internal.h"

/* What the math reads besides the tensors: the operator's constants (read from its node once
 * a pass, so the loops keep them in registers) and, in backward, whether dx is being added to. */
typedef struct {
	float alpha, beta;
	int acc;
} sn_ew_arg;

typedef struct {
	void (*forward)(const float *x, float *y, size_t n, sn_ew_arg a);
	void (*backward)(const float *x, const float *y, const float *dy, float *dx, size_t n, sn_ew_arg a);
} sn_ew_loops;

/* x and y may be the same buffer (an op in place), as may dy and dx: each loop reads and writes
 * element i only, so the simd loops stay right. */
#define SN_EW_LOOPS(name, f, g)                                                                      \
	static void name##_forward(const float *x, float *y, size_t n, sn_ew_arg a)                  \
	{                                                                                            \
		_Pragma("omp parallel for simd schedule(static) firstprivate(a)")                        \
		for (size_t i = 0; i < n; i++) y[i] = f(x[i], a);                                        \
	}                                                                                            \
	static void name##_backward(const float *x, const float *y, const float *dy, float *dx,    \
	                            size_t n, sn_ew_arg a)                                           \
	{                                                                                            \
		_Pragma("omp parallel for simd schedule(static) firstprivate(a)")                        \
		for (size_t i = 0; i < n; i++) {                                                         \
			const float v = g(x[i], y[i], dy[i], a);                                             \
			dx[i] = a.acc ? dx[i] + v : v;                                                       \
		}                                                                                        \
	}                                                                                            \
	static const sn_ew_loops name = {name##_forward, name##_backward}

/* sigmoid(x) = 1 / (1 + e^-x) in plain float arithmetic that vectorises inside the loops above
 * (libm's expf does not: it was 80 % of efficientnet_b0's time as SiLU). e^t is Cephes' expf:
 * t = n ln2 + r with |r| <= ln2/2, a degree-6 polynomial for e^r, n added to its exponent.
 * Over the floats where the result is normal, within 3.2 ulp (1.9e-7 relative) of the exact
 * sigmoid (tests/test_se_fusion.c); 1 for x > 86, NaN for NaN; below x = -88.72 it stays at
 * sigmoid(-88.72) = 2.9e-39 (absolute error under 3e-39, where libm's reaches 0). Every
 * step is one rounded IEEE operation (fmaf, no contraction), so the scalar and vector forms give
 * the same bits and a fused SiLU equals the separate layer. */
static inline float sn_sigmoid(float x)
{
	float t = -x;                         /* clamped so that NaN too becomes a number n (a cast of NaN is undefined) */
	t = t > -86.0f ? t : -86.0f;         /* e^-86 vanishes next to 1; n stays >= -125 */
	t = t < 88.72f ? t : 88.72f;         /* e^88.72 < FLT_MAX */
	const float n = fmaf(t, 1.44269504088896341f, 12582912.0f) - 12582912.0f;   /* rint(t log2 e) */
	float r = fmaf(n, -0.693359375f, t);  /* ln 2 in two parts: r exact to the polynomial's needs */
	r = fmaf(n, 2.12194440e-4f, r);
	float p = 1.9875691500e-4f;
	p = fmaf(p, r, 1.3981999507e-3f);
	p = fmaf(p, r, 8.3334519073e-3f);
	p = fmaf(p, r, 4.1665795894e-2f);
	p = fmaf(p, r, 1.6666665459e-1f);
	p = fmaf(p, r, 5.0000001201e-1f);
	p = fmaf(p, r * r, r + 1.0f);
	uint32_t bits;                        /* e = p 2^n: n added to p's exponent (p < 1 at n = 128) */
	memcpy(&bits, &p, sizeof bits);
	bits += (uint32_t)(int32_t)n << 23;
	float e;
	memcpy(&e, &bits, sizeof e);
	return x != x ? x : 1.0f / (1.0f + e);
}

/* SiLU, x sigmoid(x): the silu layer's and the se layer's, so that fusing changes no bits. */
static inline float sn_silu(float x) { return x * sn_sigmoid(x); }

/* The operator function's work for every action, with loops l and constants a (a.acc is set
 * here). Checks of the node's attributes stay with the operator, before it calls this. */
int sn_elementwise(sn_graph *g, sn_node *n, sn_plan *pl, sn_action act, const sn_ew_loops *l, sn_ew_arg a);

#endif
