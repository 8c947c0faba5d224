/* qmath.h's requantization on 16 int32 lanes (AVX-512), the same steps as q8_requant_ymm.h
 * says, with mask registers for the selections; for the zmm int8 kernels. Each output is its
 * lane saturated to int8, as the stores (vpmovsdb) do. */
#ifndef SN_KERNELS_Q8_REQUANT_ZMM_H
#define SN_KERNELS_Q8_REQUANT_ZMM_H
#include <immintrin.h>
#include <string.h>
#include "kernels/qmath.h"

#define Q8Z __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma")))
#define Q8_INLINE static inline __attribute__((always_inline))

#define Q8RQ_VEC __m512i
#define Q8RQ_LANES 16
#define Q8RQ_SET1 _mm512_set1_epi32
#define Q8RQ_SET1_64 _mm512_set1_epi64
#define Q8RQ_LOAD(p) _mm512_loadu_si512((const void *)(p))
#define Q8RQ_SRLI64 _mm512_srli_epi64
#define Q8RQ_BIAS64 ((uint64_t)0)   /* vpsraq */
#define Q8RQ(name) q8z_##name
#define Q8RQ_TARGET Q8Z
#include "kernels/q8_requant_params.h"

/* The requantized lanes x: clamped to [lo, hi] (less the zero point) where the stores cannot
 * do it, plus the zero point */
Q8Z Q8_INLINE __m512i q8z_offset(__m512i x, const q8z_rq *q)
{
	return q->clamp ? _mm512_add_epi32(_mm512_min_epi32(_mm512_max_epi32(x, q->lo), q->hi), q->zp) : _mm512_add_epi32(x, q->zp);
}

Q8Z Q8_INLINE __m512i q8z_requant(__m512i acc, const q8z_rq *q)
{
	__m512i x = acc;
	if (q->fast) {   /* q8_requant_params.h: one rounding, even and odd lanes in int64 */
		const __m512i pe = _mm512_mul_epi32(acc, q->mult_e), po = _mm512_mul_epi32(_mm512_srli_epi64(acc, 32), q->mult_o);
		__m512i se = _mm512_add_epi64(pe, q->k_e), so = _mm512_add_epi64(po, q->k_o);
		if (q->below) {
			const __m512i zero = _mm512_setzero_si512();
			se = _mm512_mask_sub_epi64(se, _mm512_cmplt_epi64_mask(pe, zero), se, q->c_e);
			so = _mm512_mask_sub_epi64(so, _mm512_cmplt_epi64_mask(po, zero), so, q->c_o);
		}
		const __m512i even = _mm512_srav_epi64(se, q->s_e), odd = _mm512_srav_epi64(so, q->s_o);
		x = _mm512_mask_shuffle_epi32(even, 0xAAAA, odd, _MM_PERM_CCAA);   /* odd lanes from the low halves */
		return q8z_offset(x, q);
	}
	if (q->has_left) {
		x = _mm512_sllv_epi32(acc, q->left);
		x = _mm512_mask_mov_epi32(x, _mm512_cmpgt_epi32_mask(acc, q->over), _mm512_set1_epi32(INT32_MAX));
		x = _mm512_mask_mov_epi32(x, _mm512_cmplt_epi32_mask(acc, q->under), _mm512_set1_epi32(INT32_MIN));
	}
	const __m512i half = _mm512_set1_epi64((int64_t)1 << 30);
	const __m512i even = _mm512_srli_epi64(_mm512_add_epi64(_mm512_mul_epi32(x, q->mult_e), half), 31);
	const __m512i odd = _mm512_slli_epi64(_mm512_add_epi64(_mm512_mul_epi32(_mm512_srli_epi64(x, 32), q->mult_o), half), 1);
	x = _mm512_mask_blend_epi32(0xAAAA, even, odd);
	if (q->has_right) {
		const __m512i rem = _mm512_and_si512(x, q->rmask);
		const __m512i threshold = _mm512_sub_epi32(q->rhalf, _mm512_srai_epi32(x, 31));
		x = _mm512_srav_epi32(x, q->right);
		x = _mm512_mask_add_epi32(x, _mm512_cmpgt_epi32_mask(rem, threshold), x, _mm512_set1_epi32(1));
	}
	return q8z_offset(x, q);
}

/* Stores n <= 16 outputs (int32 lanes, saturated) to y[0], y[step], ... */
Q8Z Q8_INLINE void q8z_store(int8_t *y, size_t step, __m512i v, int n)
{
	const __m128i b = _mm512_cvtsepi32_epi8(v);
	if (step == 1) { _mm_mask_storeu_epi8(y, (__mmask16)((1u << n) - 1), b); return; }
	int8_t t[16];
	_mm_storeu_si128((__m128i *)t, b);
	for (int i = 0; i < n; i++) y[i * step] = t[i];
}

/* Stores n <= 32 outputs whose even ones are in `even`, odd ones in `odd`, to y[0..n) */
Q8Z Q8_INLINE void q8z_store_pairs(int8_t *y, __m512i even, __m512i odd, int n)
{
	const __m128i e = _mm512_cvtsepi32_epi8(even), o = _mm512_cvtsepi32_epi8(odd);
	const __mmask32 m = n >= 32 ? 0xffffffffu : (1u << n) - 1;
	_mm_mask_storeu_epi8(y, (__mmask16)m, _mm_unpacklo_epi8(e, o));
	_mm_mask_storeu_epi8(y + 16, (__mmask16)(m >> 16), _mm_unpackhi_epi8(e, o));
}

/* n <= 16 bytes at p as int32 lanes (sign-extended); lanes past n hold 0 (and are not read) */
Q8Z Q8_INLINE __m512i q8z_widen(const int8_t *p, int n)
{
	return _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8((__mmask16)(n >= 16 ? 0xffffu : (1u << n) - 1), p));
}

/* n int8 at x to int16 at row, 32 a step, the tail by a masked load and store */
Q8Z Q8_INLINE void q8z_i16_row(const int8_t *x, int n, int16_t *row)
{
	for (int i = 0; i < n; i += 32) {
		const __mmask32 m = n - i >= 32 ? 0xffffffffu : (1u << (n - i)) - 1;
		_mm512_mask_storeu_epi16(row + i, m, _mm512_cvtepi8_epi16(_mm256_maskz_loadu_epi8(m, x + i)));
	}
}

/* Stores 32 int32 whose even ones are in `even`, odd ones in `odd`, to p[0..32) in order */
Q8Z Q8_INLINE void q8z_storeu_pairs32(int32_t *p, __m512i even, __m512i odd)
{
	const __m512i lo = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
	const __m512i hi = _mm512_add_epi32(lo, _mm512_set1_epi32(8));
	_mm512_storeu_si512((void *)p, _mm512_permutex2var_epi32(even, lo, odd));
	_mm512_storeu_si512((void *)(p + 16), _mm512_permutex2var_epi32(even, hi, odd));
}

/* The outputs of a run of 64 held by four vectors, r[v] lane l being output 4 l + v (the byte
 * depthwise kernels at stride 1): the 128-bit lanes pack to bytes r0 r1 r2 r3 (saturating,
 * as every store of outputs), a shuffle puts each lane's 4 x 4 bytes in order. n <= 64 stored. */
Q8Z Q8_INLINE void q8z_store_quads(int8_t *y, const __m512i r[4], int n)
{
	const __m512i order = _mm512_broadcast_i32x4(_mm_setr_epi8(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15));
	const __m512i b = _mm512_packs_epi16(_mm512_packs_epi32(r[0], r[1]), _mm512_packs_epi32(r[2], r[3]));
	_mm512_mask_storeu_epi8(y, n >= 64 ? ~(__mmask64)0 : ((__mmask64)1 << n) - 1, _mm512_shuffle_epi8(b, order));
}

/* The same run's 64 int32 to p[0..64) in order: lanes interleaved r0 with r2, r1 with r3, and
 * the two results with each other */
Q8Z Q8_INLINE void q8z_storeu_quads32(int32_t *p, const __m512i r[4])
{
	const __m512i lo = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
	const __m512i hi = _mm512_add_epi32(lo, _mm512_set1_epi32(8));
	const __m512i e0 = _mm512_permutex2var_epi32(r[0], lo, r[2]), e1 = _mm512_permutex2var_epi32(r[0], hi, r[2]);
	const __m512i f0 = _mm512_permutex2var_epi32(r[1], lo, r[3]), f1 = _mm512_permutex2var_epi32(r[1], hi, r[3]);
	_mm512_storeu_si512((void *)p, _mm512_permutex2var_epi32(e0, lo, f0));
	_mm512_storeu_si512((void *)(p + 16), _mm512_permutex2var_epi32(e0, hi, f0));
	_mm512_storeu_si512((void *)(p + 32), _mm512_permutex2var_epi32(e1, lo, f1));
	_mm512_storeu_si512((void *)(p + 48), _mm512_permutex2var_epi32(e1, hi, f1));
}

/* The maxima of the 16 adjacent pairs of the 32 lanes a, b: lane i of the result is the larger
 * of lanes 2i and 2i + 1 of a then b */
Q8Z Q8_INLINE __m512i q8z_pair_max(__m512i a, __m512i b)
{
	const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
	const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
	return _mm512_max_epi32(_mm512_permutex2var_epi32(a, even, b), _mm512_permutex2var_epi32(a, odd, b));
}

typedef __m512i q8v;   /* as q8_requant_ymm.h's */
#define Q8V_LANES 16
#define q8v_rq q8z_rq
#define q8v_rq_make q8z_rq_make
#define q8v_rq_lanes q8z_rq_lanes
#define q8v_requant q8z_requant
#define q8v_store q8z_store
#define q8v_store_pairs q8z_store_pairs
#define q8v_set1 _mm512_set1_epi32
#define q8v_widen q8z_widen
#define q8v_i16_row q8z_i16_row
#define q8v_storeu(p, v) _mm512_storeu_si512((void *)(p), v)
#define q8v_add _mm512_add_epi32
#define q8v_sub _mm512_sub_epi32
#define q8v_slli _mm512_slli_epi32
#define q8v_load(p) _mm512_loadu_si512((const void *)(p))
#define q8v_max _mm512_max_epi32
#define q8v_pair_max q8z_pair_max
#define q8v_storeu_pairs32 q8z_storeu_pairs32
#define q8v_store_quads q8z_store_quads
#define q8v_storeu_quads32 q8z_storeu_quads32
#endif
