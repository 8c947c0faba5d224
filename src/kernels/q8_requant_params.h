/* The constants of the vector requantization (q8_requant_ymm.h, q8_requant_zmm.h), written once
 * for both widths. Every constant is a vector with a value per int32 lane, so a lane may have
 * its own multiplier and shifts (the channel-vectorised depthwise, the Linear: lanes are output
 * channels); the kernels whose lanes share one multiplier (a row of outputs) make the broadcast
 * case, rq_make, whose vectors the compiler keeps as one register each.
 *
 * The including header defines Q8RQ_VEC (the vector type), Q8RQ_LANES, Q8RQ_SET1 and
 * Q8RQ_SET1_64 (broadcasts of an int32 and an int64), Q8RQ_LOAD (an unaligned load),
 * Q8RQ_SRLI64 (a logical right shift of the int64 lanes), Q8RQ(name) (the names: rq, rq_make,
 * rq_lanes), Q8RQ_TARGET, and Q8RQ_BIAS64 (a uint64_t: what its one-rounding form adds to keep
 * the 64-bit sums >= 0, 2^63; 0 where the vectors shift int64 arithmetically).
 *
 * The one-rounding form (fast): without a left shift, qmath.h's two roundings are one,
 *   rdivpot(floor((a m + 2^30) / 2^31), r) = floor((a m + 2^30 + 2^(30 + r) - c) / 2^(31 + r)),
 * with c = 2^31 where a m < 0 and r > 0, else 0: srdhm is floor((a m + 2^30) / 2^31) whatever
 * the sign, and rdivpot(x, r) is floor((x + 2^(r-1)) / 2^r) for x >= 0 and floor((x + 2^(r-1)
 * - 1) / 2^r) below (ties away from zero); nested floors of divisions by integers compose, and
 * where a m < 0 but srdhm gives 0 (a m >= -2^30) both forms give 0. r = 0 adds no 2^(30 + r)
 * and no c. With a clamp at or above the zero point (a fused ReLU or ReLU6) c is left out: it
 * moves only results below zero, and those clamp to lo - zp >= 0 either way. The sum is below
 * 2^62 + 2^61 + 2^30 in magnitude: exact in int64. */
#ifndef SN_KERNELS_Q8_REQUANT_LANE
#define SN_KERNELS_Q8_REQUANT_LANE
/* One lane's constants, as scalars */
typedef struct {
	int32_t mult, left, right;    /* the shifts apart: at most one is non-zero */
	int32_t over, under;          /* left shift: the largest and smallest inputs that do not saturate */
	int32_t rmask;                /* right shift: the remainder's mask (half of it is the threshold) */
	int64_t k64, shift64;         /* one-rounding form: 2^30 + 2^(30 + r) (+ bias, wrapping) and 31 + r */
	int64_t c64;                  /* and its c: 2^31 where r > 0 */
	int32_t unbias;               /* bias >> (31 + r), taken off in int32 (wrapping) */
} sn_q8_rq_lane;

static inline sn_q8_rq_lane sn_q8_rq_lane_of(sn_q_mult m, uint64_t bias64)
{
	const int l = m.shift > 0 ? m.shift : 0, r = m.shift > 0 ? 0 : -m.shift;
	const uint64_t k = ((uint64_t)1 << 30) + (r ? (uint64_t)1 << (30 + r) : 0) + bias64;
	return (sn_q8_rq_lane){.mult = m.mult, .left = l, .right = r, .over = INT32_MAX >> l, .under = INT32_MIN >> l,
	                       .rmask = (int32_t)(((int64_t)1 << r) - 1), .k64 = (int64_t)k, .shift64 = 31 + r,
	                       .c64 = r ? (int64_t)1 << 31 : 0, .unbias = (int32_t)(uint32_t)(bias64 >> (31 + r))};
}
#endif

typedef struct {
	Q8RQ_VEC mult_e, mult_o;        /* the multipliers of the even lanes, and the odd lanes' moved down */
	Q8RQ_VEC zp, lo, hi;            /* lo, hi: the clamp less the zero point */
	Q8RQ_VEC left, over, under;     /* left shift counts and the inputs that do not saturate */
	Q8RQ_VEC right, rmask, rhalf;   /* right shift counts, the remainder's mask and half of it */
	int has_left, has_right;        /* some lane shifts (the others' counts are 0) */
	int clamp;                      /* 0: the clamp is the int8 range (or none) and x + zp cannot
	                                 * overflow, so it is left to the stores, which saturate */
	int fast;                       /* every lane has the one-rounding form: */
	Q8RQ_VEC k_e, k_o;              /* 2^30 + 2^(30 + r) (+ Q8RQ_BIAS64), in the int64 lanes of even, odd */
	Q8RQ_VEC s_e, s_o;              /* 31 + r, likewise */
	int below;                      /* some lane's c is not 0 (no ReLU clamp, r > 0): */
	Q8RQ_VEC c_e, c_o;              /* c where a m < 0, likewise */
	Q8RQ_VEC unbias;                /* Q8RQ_BIAS64 >> (31 + r), taken off in int32 (wrapping) */
} Q8RQ(rq);

/* The clamp [lo, hi] is no narrower than int8, and zp + the requantized value stays in int32:
 * zp is 0, or every lane shifts right (then |value| < 2^30). */
static inline int Q8RQ(no_clamp)(int32_t zp, int32_t lo, int32_t hi, int shifts_right)
{
	return lo <= -128 && hi >= 127 && (zp == 0 || shifts_right);
}

/* Every lane with multiplier m, clamp [lo, hi], zero point zp. */
Q8RQ_TARGET Q8_INLINE Q8RQ(rq) Q8RQ(rq_make)(sn_q_mult m, int32_t zp, int32_t lo, int32_t hi)
{
	const sn_q8_rq_lane c = sn_q8_rq_lane_of(m, Q8RQ_BIAS64);
	Q8RQ(rq) q = {.zp = Q8RQ_SET1(zp), .lo = Q8RQ_SET1(lo - zp), .hi = Q8RQ_SET1(hi - zp), .fast = c.left == 0,
	              .mult_e = Q8RQ_SET1(c.mult), .mult_o = Q8RQ_SET1(c.mult), .clamp = !Q8RQ(no_clamp)(zp, lo, hi, c.left == 0 && c.right > 0)};
	if (q.fast) {   /* the kernels make one per row of outputs: only what this form reads */
		q.k_e = q.k_o = Q8RQ_SET1_64(c.k64);
		q.s_e = q.s_o = Q8RQ_SET1_64(c.shift64);
		q.unbias = Q8RQ_SET1(c.unbias);
		q.below = lo < zp && c.c64;
		q.c_e = q.c_o = Q8RQ_SET1_64(q.below ? c.c64 : 0);
		return q;
	}
	q.left = Q8RQ_SET1(c.left);
	q.over = Q8RQ_SET1(c.over);
	q.under = Q8RQ_SET1(c.under);
	q.right = Q8RQ_SET1(c.right);
	q.rmask = Q8RQ_SET1(c.rmask);
	q.rhalf = Q8RQ_SET1(c.rmask >> 1);
	q.has_left = c.left > 0;
	q.has_right = c.right > 0;
	return q;
}

/* Lane l with multiplier m[l < n ? l : 0]; the clamp and zero point shared. */
Q8RQ_TARGET Q8_INLINE Q8RQ(rq) Q8RQ(rq_lanes)(const sn_q_mult *m, int n, int32_t zp, int32_t lo, int32_t hi)
{
	int32_t v[8][Q8RQ_LANES];   /* mult, left, over, under, right, rmask, unbias, rhalf */
	int64_t k[2][Q8RQ_LANES / 2], s[2][Q8RQ_LANES / 2], cc[2][Q8RQ_LANES / 2];   /* [even, odd lanes][lane / 2] */
	Q8RQ(rq) q = {.zp = Q8RQ_SET1(zp), .lo = Q8RQ_SET1(lo - zp), .hi = Q8RQ_SET1(hi - zp), .fast = 1};
	int shifts_right = 1;   /* every lane */
	for (int l = 0; l < Q8RQ_LANES; l++) {
		const sn_q8_rq_lane c = sn_q8_rq_lane_of(m[l < n ? l : 0], Q8RQ_BIAS64);
		v[0][l] = c.mult;
		v[1][l] = c.left;
		v[2][l] = c.over;
		v[3][l] = c.under;
		v[4][l] = c.right;
		v[5][l] = c.rmask;
		v[6][l] = c.unbias;
		v[7][l] = c.rmask >> 1;
		k[l % 2][l / 2] = c.k64;
		s[l % 2][l / 2] = c.shift64;
		cc[l % 2][l / 2] = lo < zp ? c.c64 : 0;
		q.below |= cc[l % 2][l / 2] != 0;
		q.fast &= c.left == 0;
		q.has_left |= c.left > 0;
		q.has_right |= c.right > 0;
		shifts_right &= c.left == 0 && c.right > 0;
	}
	q.clamp = !Q8RQ(no_clamp)(zp, lo, hi, shifts_right);
	q.mult_e = Q8RQ_LOAD(v[0]);
	q.mult_o = Q8RQ_SRLI64(q.mult_e, 32);
	q.left = Q8RQ_LOAD(v[1]);
	q.over = Q8RQ_LOAD(v[2]);
	q.under = Q8RQ_LOAD(v[3]);
	q.right = Q8RQ_LOAD(v[4]);
	q.rmask = Q8RQ_LOAD(v[5]);
	q.unbias = Q8RQ_LOAD(v[6]);
	q.rhalf = Q8RQ_LOAD(v[7]);
	q.k_e = Q8RQ_LOAD(k[0]);
	q.k_o = Q8RQ_LOAD(k[1]);
	q.s_e = Q8RQ_LOAD(s[0]);
	q.s_o = Q8RQ_LOAD(s[1]);
	q.c_e = Q8RQ_LOAD(cc[0]);
	q.c_o = Q8RQ_LOAD(cc[1]);
	return q;
}
#undef Q8RQ_VEC
#undef Q8RQ_LANES
#undef Q8RQ_SET1
#undef Q8RQ_SET1_64
#undef Q8RQ_LOAD
#undef Q8RQ_SRLI64
#undef Q8RQ_BIAS64
#undef Q8RQ
#undef Q8RQ_TARGET
