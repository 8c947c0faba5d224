/* The vector requantization (q8_requant_params.h with q8_requant_ymm.h or _zmm.h) against
 * qmath.h's scalar definition, lane by lane: included by test_q8_requant_ymm.c and
 * test_q8_requant_zmm.c after their width's header, with RQ_TARGET (its target attribute),
 * RQ_CPU() (1 where the CPU runs it) and RQ_NAME (the test's name).
 *
 * Each trial gives every lane its own multiplier (2^-32 to 2^8: right shifts, none, left
 * shifts that saturate), or all lanes one (rq_make, the kernels' rows); zero points at the ends
 * and between; the int8 clamp, a ReLU's and a ReLU6's (lo >= zp: the one-rounding form), or none
 * (the add's inputs: int32 out); and accumulators from the whole int32 range, small ones, and the
 * ties of each lane's right shift. An output is its lane saturated to int8, as the stores do. */
#include <stdlib.h>
#include "kernels/qmath.h"
#include "test.h"

static uint32_t rq_lcg(uint32_t *s) { *s = *s * 1664525u + 1013904223u; return *s >> 8 ^ *s << 13; }

static sn_q_mult rq_random_mult(uint32_t *s)
{
	static const sn_q_mult ends[] = {{INT32_MAX, 8}, {1 << 30, 1}, {1 << 30, 0}, {1 << 30, -31}, {INT32_MAX, -31}, {0, 0}};
	if (rq_lcg(s) % 8 == 0) return ends[rq_lcg(s) % 6];
	return sn_q_multiplier(ldexp(1.0 + (rq_lcg(s) % 4096) / 4096.0, (int)(rq_lcg(s) % 41) - 32));
}

/* an accumulator for a lane with multiplier m: anywhere, small, or on a tie of its right shift */
static int32_t rq_random_acc(uint32_t *s, sn_q_mult m)
{
	switch (rq_lcg(s) % 4) {
	case 0: return (int32_t)rq_lcg(s);
	case 1: return (int32_t)(rq_lcg(s) % 8193) - 4096;
	case 2: return rq_lcg(s) % 2 ? INT32_MAX - (int32_t)(rq_lcg(s) % 4) : INT32_MIN + (int32_t)(rq_lcg(s) % 4);
	default: {   /* acc * mult / 2^31 lands on k + 1/2 after the right shift: search near one */
		const int r = m.shift < 0 ? -m.shift : 0;
		const double target = ((double)((int32_t)(rq_lcg(s) % 512) - 256) + 0.5) * ldexp(1.0, r);
		const double a = m.mult ? target * ldexp(1.0, 31) / m.mult : 0;
		return fabs(a) < 2e9 ? (int32_t)a + (int32_t)(rq_lcg(s) % 3) - 1 : 0;
	}
	}
}

RQ_TARGET static int rq_trial(uint32_t *s, int lanes_differ)
{
	sn_q_mult m[RQ_LANES];
	const int n = lanes_differ ? 1 + (int)(rq_lcg(s) % RQ_LANES) : 1;   /* rq_lanes: lanes >= n take m[0] */
	for (int l = 0; l < n; l++) m[l] = rq_random_mult(s);
	static const int32_t zps[] = {-128, 127, 0};
	const int32_t zp = rq_lcg(s) % 2 ? zps[rq_lcg(s) % 3] : (int32_t)(rq_lcg(s) % 256) - 128;
	int32_t lo = -128, hi = 127;
	const int wide = rq_lcg(s) % 8 == 0;   /* the add's inputs: zero point 0, no clamp, int32 out */
	switch (wide ? 3 : rq_lcg(s) % 3) {
	case 1: lo = zp; break;                                              /* ReLU */
	case 2: lo = zp; hi = zp + (int32_t)(rq_lcg(s) % (uint32_t)(128 - zp)); break;   /* ReLU6 */
	case 3: lo = INT32_MIN; hi = INT32_MAX; break;
	}
	const int32_t z = wide ? 0 : zp;
	const RQ_TYPE q = lanes_differ ? RQ_LANES_FN(m, n, z, lo, hi) : RQ_MAKE_FN(m[0], z, lo, hi);
	int bad = 0;
	for (int rep = 0; rep < 8; rep++) {
		int32_t acc[RQ_LANES], out[RQ_LANES];
		for (int l = 0; l < RQ_LANES; l++) acc[l] = rq_random_acc(s, m[l < n ? l : 0]);
		RQ_STORE(out, RQ_APPLY(RQ_LOADV(acc), &q));
		for (int l = 0; l < RQ_LANES; l++) {
			const sn_q_mult ml = m[l < n ? l : 0];
			/* an output is the lane saturated to int8, as the kernels' stores do; the add's
			 * inputs take the lane as it is */
			const int32_t got = wide ? out[l] : out[l] < -128 ? -128 : out[l] > 127 ? 127 : out[l];
			const int32_t want = wide ? sn_q_requant(acc[l], ml) : sn_q_output(acc[l], ml, z, lo, hi);
			if (got != want && bad++ < 3)
				fprintf(stderr, "  lane %d: acc %d, mult %d shift %d, zp %d, [%d, %d]: %d, expected %d\n", l, acc[l],
				        ml.mult, ml.shift, z, lo, hi, got, want);
		}
	}
	return bad;
}

#define RQ_TEST(name) TEST(name)   /* expands RQ_NAME first */
RQ_TEST(RQ_NAME)
{
	if (!RQ_CPU()) { fprintf(stderr, "  skipped: this CPU lacks the instructions\n"); return; }
	uint32_t s = 7;
	int bad = 0;
	for (int t = 0; t < 20000 && bad < 10; t++) bad += rq_trial(&s, t % 2) != 0;
	CHECKF(bad == 0, "%d trials gave other bytes than sn_q_output", bad);
}
