/* The per-row constants of the vector requantization (q8_requant_ymm.h, q8_requant_zmm.h),
 * written once for both widths: the including header defines Q8RQ_VEC (the vector type),
 * Q8RQ_SET1 (a broadcast of an int32), Q8RQ(name) (the names: rq, rq_make), Q8RQ_TARGET. */
typedef struct {
	Q8RQ_VEC mult, zp, lo, hi;      /* lo, hi: the clamp less the zero point */
	Q8RQ_VEC over, under;           /* left shift: the largest and smallest inputs that do not saturate */
	Q8RQ_VEC rmask, rhalf;          /* right shift: the remainder's mask and half of it */
	__m128i left, right;            /* shift counts */
	int has_left, has_right;
} Q8RQ(rq);

Q8RQ_TARGET Q8_INLINE Q8RQ(rq) Q8RQ(rq_make)(sn_q_mult m, int32_t zp, int32_t lo, int32_t hi)
{
	const int l = m.shift > 0 ? m.shift : 0, r = m.shift > 0 ? 0 : -m.shift;
	const int32_t mask = (int32_t)(((int64_t)1 << r) - 1);
	return (Q8RQ(rq)){.mult = Q8RQ_SET1(m.mult), .zp = Q8RQ_SET1(zp), .lo = Q8RQ_SET1(lo - zp), .hi = Q8RQ_SET1(hi - zp),
	                  .over = Q8RQ_SET1(INT32_MAX >> l), .under = Q8RQ_SET1(INT32_MIN >> l), .rmask = Q8RQ_SET1(mask),
	                  .rhalf = Q8RQ_SET1(mask >> 1), .left = _mm_cvtsi32_si128(l), .right = _mm_cvtsi32_si128(r),
	                  .has_left = l > 0, .has_right = r > 0};
}
#undef Q8RQ_VEC
#undef Q8RQ_SET1
#undef Q8RQ
#undef Q8RQ_TARGET
