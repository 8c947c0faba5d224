/* The per-row constants of the vector requantization (q8_requant_ymm.h, q8_requant_zmm.h),
 * written once for both widths: the including header defines Q8RQ_VEC (the vector type),
 * Q8RQ_SET1 and Q8RQ_SET1_64 (broadcasts of an int32 and an int64), Q8RQ(name) (the names: rq,
 * rq_make), Q8RQ_TARGET, and Q8RQ_BIAS64 (what its one-rounding form adds to keep the 64-bit
 * sums >= 0: 0 where the vectors shift int64 arithmetically).
 *
 * The one-rounding form (fast): without a left shift and with a clamp at or above the zero
 * point (a fused ReLU or ReLU6), qmath.h's two roundings are one:
 *   rdivpot(floor((a m + 2^30) / 2^31), r) = floor((a m + 2^30 + 2^(30 + r)) / 2^(31 + r))
 * (nested floors of divisions by integers compose), except on the ties of the right shift below
 * zero, which qmath.h rounds away from zero and this form up: there the exact result is <= -1
 * and this one <= 0, and both clamp to lo - zp >= 0. r = 0 adds no 2^(30 + r). The sum is below
 * 2^62 + 2^61 + 2^30 in magnitude: exact in int64. */
typedef struct {
	Q8RQ_VEC mult, zp, lo, hi;      /* lo, hi: the clamp less the zero point */
	Q8RQ_VEC over, under;           /* left shift: the largest and smallest inputs that do not saturate */
	Q8RQ_VEC rmask, rhalf;          /* right shift: the remainder's mask and half of it */
	__m128i left, right;            /* shift counts */
	int has_left, has_right;
	int fast;                       /* the one-rounding form applies: */
	Q8RQ_VEC k64;                   /* 2^30 + 2^(30 + r) (+ Q8RQ_BIAS64) in each int64 */
	__m128i shift64;                /* 31 + r */
	Q8RQ_VEC unbias;                /* Q8RQ_BIAS64 >> (31 + r), taken off in int32 (wrapping) */
} Q8RQ(rq);

Q8RQ_TARGET Q8_INLINE Q8RQ(rq) Q8RQ(rq_make)(sn_q_mult m, int32_t zp, int32_t lo, int32_t hi)
{
	const int l = m.shift > 0 ? m.shift : 0, r = m.shift > 0 ? 0 : -m.shift;
	Q8RQ(rq) q = {.mult = Q8RQ_SET1(m.mult), .zp = Q8RQ_SET1(zp), .lo = Q8RQ_SET1(lo - zp), .hi = Q8RQ_SET1(hi - zp),
	              .fast = l == 0 && lo >= zp};
	if (q.fast) {   /* the kernels make one per row of outputs: only what this form reads */
		q.k64 = Q8RQ_SET1_64(((int64_t)1 << 30) + (r ? (int64_t)1 << (30 + r) : 0) + Q8RQ_BIAS64);
		q.shift64 = _mm_cvtsi32_si128(31 + r);
		q.unbias = Q8RQ_SET1((int32_t)(uint32_t)(Q8RQ_BIAS64 >> (31 + r)));
		return q;
	}
	const int32_t mask = (int32_t)(((int64_t)1 << r) - 1);
	q.over = Q8RQ_SET1(INT32_MAX >> l);
	q.under = Q8RQ_SET1(INT32_MIN >> l);
	q.rmask = Q8RQ_SET1(mask);
	q.rhalf = Q8RQ_SET1(mask >> 1);
	q.left = _mm_cvtsi32_si128(l);
	q.right = _mm_cvtsi32_si128(r);
	q.has_left = l > 0;
	q.has_right = r > 0;
	return q;
}
#undef Q8RQ_VEC
#undef Q8RQ_SET1
#undef Q8RQ_SET1_64
#undef Q8RQ_BIAS64
#undef Q8RQ
#undef Q8RQ_TARGET
