/* int8 arithmetic (src/kernels/qmath.h) against exact references: the fixed-point multiplier,
 * TFLite's requantization over the whole int32 range (computed here again in 128-bit integers
 * from its definition, and against the real product), saturation, quantization parameters. */
#include <float.h>
#include <stdlib.h>
#include "kernels/qmath.h"
#include "test.h"

typedef __int128 i128;

static i128 floor_div(i128 a, i128 d) { i128 q = a / d; return (a % d != 0 && (a < 0) != (d < 0)) ? q - 1 : q; }

/* round(a / 2^e) half away from zero, exactly */
static i128 round_away(i128 a, int e)
{
	const i128 d = (i128)1 << e;
	i128 q = a / d, r = a % d;
	if (2 * (r < 0 ? -r : r) >= d && e > 0) q += a < 0 ? -1 : 1;
	return q;
}

/* the definition in qmath.h, written with exact arithmetic */
static int32_t requant_ref(int32_t acc, sn_q_mult m)
{
	i128 x = acc;
	if (m.shift > 0) {
		x *= (i128)1 << m.shift;
		x = x > INT32_MAX ? INT32_MAX : x < INT32_MIN ? INT32_MIN : x;
	}
	i128 h = x == INT32_MIN && m.mult == INT32_MIN ? INT32_MAX : floor_div(x * m.mult + ((i128)1 << 30), (i128)1 << 31);
	return (int32_t)round_away(h, m.shift > 0 ? 0 : -m.shift);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint64_t next(void)
{
	rng_state ^= rng_state << 13; rng_state ^= rng_state >> 7; rng_state ^= rng_state << 17;
	return rng_state;
}

TEST(qmath_multiplier)
{
	/* M = mult * 2^(shift-31), mult in [2^30, 2^31): relative error at most 2^-31 */
	double worst = 0;
	for (int i = 0; i < 20000; i++) {
		double m = ldexp(0.5 + (next() >> 11) * 0x1p-54, (int)(next() % 60) - 40);
		sn_q_mult q = sn_q_multiplier(m);
		if (m < 0x1p-32) { CHECK(q.mult == 0 || q.mult >= 1 << 30); continue; }
		CHECKF(q.mult >= 1 << 30 && q.mult <= INT32_MAX, "m %g: mult %d", m, q.mult);
		double back = ldexp((double)q.mult, q.shift - 31), rel = fabs(back - m) / m;
		if (rel > worst) worst = rel;
	}
	CHECKF(worst <= 0x1p-31, "relative error %g", worst);
	/* rounding up to 2^31 moves to the next power of two */
	sn_q_mult q = sn_q_multiplier(1.0 - 0x1p-40);
	CHECK(q.mult == 1 << 30 && q.shift == 1);
	q = sn_q_multiplier(0);
	CHECK(q.mult == 0 && q.shift == 0);
	q = sn_q_multiplier(0x1p-40);
	CHECK(q.mult == 0 && q.shift == 0);
}

TEST(qmath_rounding_primitives)
{
	/* srdhm rounds half up, rdivpot half away from zero: the cases that tell them apart */
	CHECK(sn_q_srdhm(1 << 30, 1) == 1);            /* +0.5 -> 1 */
	CHECK(sn_q_srdhm(-(1 << 30), 1) == 0);         /* -0.5 -> 0 */
	CHECK(sn_q_srdhm(-(1 << 30) - 1, 1) == -1);
	CHECK(sn_q_srdhm(INT32_MIN, INT32_MIN) == INT32_MAX);
	CHECK(sn_q_srdhm(INT32_MAX, INT32_MAX) == INT32_MAX - 1);
	CHECK(sn_q_rdivpot(3, 1) == 2 && sn_q_rdivpot(-3, 1) == -2 && sn_q_rdivpot(5, 2) == 1 && sn_q_rdivpot(-5, 2) == -1);
	CHECK(sn_q_rdivpot(-6, 2) == -2 && sn_q_rdivpot(6, 2) == 2 && sn_q_rdivpot(7, 0) == 7);
	CHECK(sn_q_rdivpot(INT32_MIN, 31) == -1 && sn_q_rdivpot(INT32_MAX, 31) == 1);
}

TEST(qmath_requant_whole_range)
{
	/* accumulators from every part of the int32 range, multipliers from 2^-32 to 2^8 */
	const int32_t edges[] = {INT32_MIN, INT32_MIN + 1, -65536, -32769, -32768, -255, -128, -3, -2, -1, 0, 1, 2, 3,
	                         127, 255, 32767, 65536, INT32_MAX - 1, INT32_MAX};
	const int ne = (int)(sizeof edges / sizeof *edges);
	long checked = 0, mismatches = 0, off_by_more = 0;
	for (int i = 0; i < 4000; i++) {
		const double real = ldexp(0.5 + (next() >> 11) * 0x1p-54, (int)(next() % 41) - 32);
		const sn_q_mult m = sn_q_multiplier(real);
		const double mreal = ldexp((double)m.mult, m.shift - 31);
		for (int j = 0; j < ne + 200; j++) {
			int32_t acc = j < ne ? edges[j] : (int32_t)(uint32_t)next();
			if (j >= ne && (j & 1)) acc >>= (next() % 31);   /* small magnitudes too */
			const int32_t got = sn_q_requant(acc, m), want = requant_ref(acc, m);
			mismatches += got != want;
			/* and within one of the real product (two roundings), unless the left shift saturated */
			const double exact = (double)acc * mreal;
			const int64_t shifted = m.shift > 0 ? (int64_t)acc * ((int64_t)1 << m.shift) : acc;
			const int saturated = shifted > INT32_MAX || shifted < INT32_MIN;
			if (!saturated && fabs(exact) < 2e9 && fabs((double)got - exact) > 1.0) off_by_more++;
			checked++;
		}
	}
	CHECKF(mismatches == 0, "%ld of %ld requantizations differ from the definition", mismatches, checked);
	CHECKF(off_by_more == 0, "%ld of %ld are more than 1 from the real product", off_by_more, checked);
}

TEST(qmath_output_saturates)
{
	/* worst-case accumulators with multipliers near and above 1 clamp to the int8 range */
	sn_q_mult one = sn_q_multiplier(0.999), big = sn_q_multiplier(4.0);
	CHECK(sn_q_output(INT32_MAX, one, 0, -128, 127) == 127 && sn_q_output(INT32_MIN, one, 0, -128, 127) == -128);
	CHECK(sn_q_output(INT32_MAX, big, 127, -128, 127) == 127 && sn_q_output(INT32_MIN, big, -128, -128, 127) == -128);
	CHECK(sn_q_requant(INT32_MAX, big) == sn_q_srdhm(INT32_MAX, big.mult));   /* the left shift saturated */
	CHECK(sn_q_output(100, sn_q_multiplier(0.5), -3, -128, 127) == 47);
	CHECK(sn_q_output(-100, sn_q_multiplier(0.5), 5, 5, 127) == 5);            /* a fused ReLU's floor */
}

TEST(qmath_params)
{
	/* 0 is exact, the range's ends land on the int8 ends, values round half to even */
	sn_qparams p = sn_q_params_asym(-1.0f, 3.0f);
	CHECK_NEAR(p.scale, 4.0f / 255.0f, 1e-9);
	CHECK(p.zero_point == -128 - (long)lrintf(-1.0f / p.scale));
	int8_t q[4];
	float x[4] = {-1.0f, 0.0f, 3.0f, 100.0f}, back[4];
	sn_q_quantize(x, 4, p, -128, 127, q);
	CHECK(q[0] == -128 && q[2] == 127 && q[3] == 127);
	sn_q_dequantize(q, 4, p, back);
	CHECK(back[1] == 0.0f);
	/* all positive and all negative ranges still hold 0 */
	CHECK(sn_q_params_asym(2.0f, 5.0f).zero_point == -128 && sn_q_params_asym(-5.0f, -2.0f).zero_point == 127);
	/* an empty range gets the smallest scale, not a division by zero */
	CHECK(sn_q_params_asym(0, 0).scale == FLT_EPSILON && sn_q_params_sym(0).scale == FLT_EPSILON);
	/* symmetric: [-127, 127], zero point 0 */
	sn_qparams s = sn_q_params_sym(-2.54f);
	CHECK(s.zero_point == 0 && s.scale == 2.54f / 127.0f);
	float t[3] = {2.54f, -2.54f, 0.5f * s.scale};   /* a tie: half to even gives 0 */
	sn_q_quantize(t, 3, s, -127, 127, q);
	CHECK(q[0] == 127 && q[1] == -127 && q[2] == 0);
	float t2[2] = {1.5f * s.scale, 2.5f * s.scale};
	sn_q_quantize(t2, 2, s, -127, 127, q);
	CHECK(q[0] == 2 && q[1] == 2);
	/* a long run (the vector loop and its tail) against the definition written with lrintf:
	 * ties, values past the int8 range and past int32, infinities, NaN (the zero point) */
	enum { N = 1003 };
	float *xs = malloc(N * sizeof *xs);
	int8_t *qs = malloc(N);
	REQUIRE(xs && qs);
	const sn_qparams pz = {0.25f, -7};
	for (int i = 0; i < N; i++) xs[i] = (float)(i - 500) * 0.125f * (i % 7 == 3 ? 1e10f : 1.0f);
	xs[10] = NAN; xs[11] = INFINITY; xs[12] = -INFINITY; xs[13] = 3e9f; xs[N - 1] = NAN;
	sn_q_quantize(xs, N, pz, -128, 127, qs);
	int bad = 0;
	for (int i = 0; i < N; i++) {
		const float v = xs[i] / pz.scale;
		long r = v != v ? 0 : v > 1e9f ? 1000000000L : v < -1e9f ? -1000000000L : lrintf(v);
		r += pz.zero_point;
		bad += qs[i] != (int8_t)(r < -128 ? -128 : r > 127 ? 127 : r);
	}
	CHECKF(bad == 0, "%d of %d values quantized differently", bad, N);
	free(xs);
	free(qs);
	/* activation ranges */
	int32_t lo, hi;
	sn_q_act_range(sn_q_params_asym(-2.0f, 10.0f), 1, &lo, &hi);
	CHECK(lo == sn_q_params_asym(-2.0f, 10.0f).zero_point && hi == 127);
	sn_qparams a = sn_q_params_asym(-2.0f, 10.0f);
	sn_q_act_range(a, 2, &lo, &hi);
	CHECK(hi == a.zero_point + (long)lrintf(6.0f / a.scale) && hi < 127);
}
