/* qmath.h's requantization on 8 int32 lanes (AVX2), step by step as its definition reads, for
 * the ymm int8 kernels (q8_gemm_simd.h, q8_dwconv_simd.h), each lane with its own constants
 * (q8_requant_params.h): the saturating left shift; srdhm as
 * (a * b + 2^30) >> 31 in 64 bits, for even and odd lanes apart (vpmuldq); the rounding right
 * shift with its threshold; the clamp to [lo, hi] before the zero point is added (so the sum
 * stays in int32). Included by kernel files; compiled for AVX2 (the caller's target may add). */
#ifndef SN_KERNELS_Q8_REQUANT_YMM_H
#define SN_KERNELS_Q8_REQUANT_YMM_H
#include <immintrin.h>
#include <string.h>
#include "kernels/qmath.h"

#define Q8Y_AVX2 __attribute__((target("avx2")))
#define Q8_INLINE static inline __attribute__((always_inline))

#define Q8RQ_VEC __m256i
#define Q8RQ_LANES 8
#define Q8RQ_SET1 _mm256_set1_epi32
#define Q8RQ_SET1_64 _mm256_set1_epi64x
#define Q8RQ_LOAD(p) _mm256_loadu_si256((const __m256i *)(p))
#define Q8RQ_SRLI64 _mm256_srli_epi64
#define Q8RQ_BIAS64 ((uint64_t)1 << 63)   /* AVX2 shifts int64 logically only */
#define Q8RQ(name) q8y_##name
#define Q8RQ_TARGET Q8Y_AVX2
#include "kernels/q8_requant_params.h"

/* The requantized lanes x: clamped to [lo, hi] (less the zero point) where the stores cannot
 * do it, plus the zero point */
Q8Y_AVX2 Q8_INLINE __m256i q8y_offset(__m256i x, const q8y_rq *q)
{
	return q->clamp ? _mm256_add_epi32(_mm256_min_epi32(_mm256_max_epi32(x, q->lo), q->hi), q->zp) : _mm256_add_epi32(x, q->zp);
}

/* the int8 outputs of 8 accumulators as int32 lanes, each output the lane saturated to int8
 * (q8_requant_params.h's clamp; the stores saturate) */
Q8Y_AVX2 Q8_INLINE __m256i q8y_requant(__m256i acc, const q8y_rq *q)
{
	__m256i x = acc;
	if (q->fast) {   /* q8_requant_params.h: one rounding, even and odd lanes in int64 */
		const __m256i pe = _mm256_mul_epi32(acc, q->mult_e), po = _mm256_mul_epi32(_mm256_srli_epi64(acc, 32), q->mult_o);
		__m256i se = _mm256_add_epi64(pe, q->k_e), so = _mm256_add_epi64(po, q->k_o);
		if (q->below) {
			const __m256i zero = _mm256_setzero_si256();
			se = _mm256_sub_epi64(se, _mm256_and_si256(_mm256_cmpgt_epi64(zero, pe), q->c_e));
			so = _mm256_sub_epi64(so, _mm256_and_si256(_mm256_cmpgt_epi64(zero, po), q->c_o));
		}
		const __m256i even = _mm256_srlv_epi64(se, q->s_e), odd = _mm256_srlv_epi64(so, q->s_o);
		x = _mm256_sub_epi32(_mm256_blend_epi32(even, _mm256_slli_epi64(odd, 32), 0xAA), q->unbias);
		return q8y_offset(x, q);
	}
	if (q->has_left) {
		x = _mm256_sllv_epi32(acc, q->left);
		x = _mm256_blendv_epi8(x, _mm256_set1_epi32(INT32_MAX), _mm256_cmpgt_epi32(acc, q->over));
		x = _mm256_blendv_epi8(x, _mm256_set1_epi32(INT32_MIN), _mm256_cmpgt_epi32(q->under, acc));
	}
	const __m256i half = _mm256_set1_epi64x((int64_t)1 << 30);
	const __m256i even = _mm256_srli_epi64(_mm256_add_epi64(_mm256_mul_epi32(x, q->mult_e), half), 31);
	const __m256i odd = _mm256_slli_epi64(_mm256_add_epi64(_mm256_mul_epi32(_mm256_srli_epi64(x, 32), q->mult_o), half), 1);
	x = _mm256_blend_epi32(even, odd, 0xAA);
	if (q->has_right) {
		const __m256i rem = _mm256_and_si256(x, q->rmask);
		const __m256i threshold = _mm256_sub_epi32(q->rhalf, _mm256_srai_epi32(x, 31));   /* + 1 below 0 */
		x = _mm256_sub_epi32(_mm256_srav_epi32(x, q->right), _mm256_cmpgt_epi32(rem, threshold));
	}
	return q8y_offset(x, q);
}

/* 8 outputs (int32 lanes, saturated) as the low 8 bytes */
Q8Y_AVX2 Q8_INLINE __m128i q8y_bytes(__m256i v)
{
	const __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
	return _mm_packs_epi16(w, w);
}

/* n <= 16 bytes of b to y */
Q8Y_AVX2 Q8_INLINE void q8y_put(int8_t *y, __m128i b, int n)
{
	int8_t t[16];
	_mm_storeu_si128((__m128i *)t, b);
	memcpy(y, t, n);
}

/* Stores n <= 8 outputs (int32 lanes, saturated) to y[0], y[step], ... */
Q8Y_AVX2 Q8_INLINE void q8y_store(int8_t *y, size_t step, __m256i v, int n)
{
	const __m128i b = q8y_bytes(v);
	if (n == 8 && step == 1) { _mm_storel_epi64((__m128i *)y, b); return; }
	if (step == 1) { q8y_put(y, b, n); return; }
	int8_t t[16];
	_mm_storeu_si128((__m128i *)t, b);
	for (int i = 0; i < n; i++) y[i * step] = t[i];
}

/* Stores n <= 16 outputs whose even ones are in `even`, odd ones in `odd`, to y[0..n) */
Q8Y_AVX2 Q8_INLINE void q8y_store_pairs(int8_t *y, __m256i even, __m256i odd, int n)
{
	const __m128i b = _mm_unpacklo_epi8(q8y_bytes(even), q8y_bytes(odd));
	if (n == 16) _mm_storeu_si128((__m128i *)y, b);
	else q8y_put(y, b, n);
}

/* n <= 8 bytes at p as int32 lanes (sign-extended); lanes past n hold 0 */
Q8Y_AVX2 Q8_INLINE __m256i q8y_widen(const int8_t *p, int n)
{
	int64_t t = 0;
	if (n == 8) memcpy(&t, p, 8);
	else memcpy(&t, p, (size_t)n);
	return _mm256_cvtepi8_epi32(_mm_cvtsi64_si128(t));
}

/* n int8 at x to int16 at row, 16 a step, the tail through a buffer (the depthwise planes' rows) */
Q8Y_AVX2 Q8_INLINE void q8y_i16_row(const int8_t *x, int n, int16_t *row)
{
	int i = 0;
	for (; i + 16 <= n; i += 16) _mm256_storeu_si256((__m256i *)(row + i), _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(x + i))));
	if (i == n) return;
	int8_t t[16];
	int16_t u[16];
	memcpy(t, x + i, (size_t)(n - i));
	_mm256_storeu_si256((__m256i *)u, _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)t)));
	memcpy(row + i, u, (size_t)(n - i) * sizeof *u);
}

/* Stores 16 int32 whose even ones are in `even`, odd ones in `odd`, to p[0..16) in order */
Q8Y_AVX2 Q8_INLINE void q8y_storeu_pairs32(int32_t *p, __m256i even, __m256i odd)
{
	const __m256i lo = _mm256_unpacklo_epi32(even, odd), hi = _mm256_unpackhi_epi32(even, odd);
	_mm256_storeu_si256((__m256i *)p, _mm256_permute2x128_si256(lo, hi, 0x20));
	_mm256_storeu_si256((__m256i *)(p + 8), _mm256_permute2x128_si256(lo, hi, 0x31));
}

/* The outputs of a run of 32 held by four vectors, r[v] lane l being output 4 l + v (the byte
 * depthwise kernels at stride 1): the 128-bit lanes pack to bytes r0 r1 r2 r3 (saturating,
 * as every store of outputs), a shuffle puts each lane's 4 x 4 bytes in order. n <= 32 stored. */
Q8Y_AVX2 Q8_INLINE void q8y_store_quads(int8_t *y, const __m256i r[4], int n)
{
	const __m256i order = _mm256_broadcastsi128_si256(_mm_setr_epi8(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15));
	const __m256i b = _mm256_shuffle_epi8(_mm256_packs_epi16(_mm256_packs_epi32(r[0], r[1]), _mm256_packs_epi32(r[2], r[3])), order);
	if (n >= 32) { _mm256_storeu_si256((__m256i *)y, b); return; }
	int8_t t[32];
	_mm256_storeu_si256((__m256i *)t, b);
	memcpy(y, t, (size_t)n);
}

/* The same run's 32 int32 to p[0..32) in order: per 128-bit lane, 4 x 4 unpacks give the
 * groups of 4 outputs; the lanes then go in order */
Q8Y_AVX2 Q8_INLINE void q8y_storeu_quads32(int32_t *p, const __m256i r[4])
{
	const __m256i a = _mm256_unpacklo_epi32(r[0], r[1]), b = _mm256_unpacklo_epi32(r[2], r[3]);
	const __m256i c = _mm256_unpackhi_epi32(r[0], r[1]), d = _mm256_unpackhi_epi32(r[2], r[3]);
	const __m256i e0 = _mm256_unpacklo_epi64(a, b), e1 = _mm256_unpackhi_epi64(a, b);   /* outputs 0-3, 4-7 (and 16-19, 20-23) */
	const __m256i e2 = _mm256_unpacklo_epi64(c, d), e3 = _mm256_unpackhi_epi64(c, d);   /* 8-11, 12-15 (24-27, 28-31) */
	_mm256_storeu_si256((__m256i *)p, _mm256_permute2x128_si256(e0, e1, 0x20));
	_mm256_storeu_si256((__m256i *)(p + 8), _mm256_permute2x128_si256(e2, e3, 0x20));
	_mm256_storeu_si256((__m256i *)(p + 16), _mm256_permute2x128_si256(e0, e1, 0x31));
	_mm256_storeu_si256((__m256i *)(p + 24), _mm256_permute2x128_si256(e2, e3, 0x31));
}

/* The maxima of the 8 adjacent pairs of the 16 lanes a, b: lane i of the result is the larger of
 * lanes 2i and 2i + 1 of a then b */
Q8Y_AVX2 Q8_INLINE __m256i q8y_pair_max(__m256i a, __m256i b)
{
	const __m256 fa = _mm256_castsi256_ps(a), fb = _mm256_castsi256_ps(b);
	const __m256i even = _mm256_castps_si256(_mm256_shuffle_ps(fa, fb, 0x88));   /* a0 a2 b0 b2 | a4 a6 b4 b6 */
	const __m256i odd = _mm256_castps_si256(_mm256_shuffle_ps(fa, fb, 0xdd));
	return _mm256_permute4x64_epi64(_mm256_max_epi32(even, odd), 0xd8);
}

/* the names the width-generic kernels (q8_gemm_simd.h, q8_dwconv_simd.h) use */
typedef __m256i q8v;
#define Q8V_LANES 8
#define q8v_rq q8y_rq
#define q8v_rq_make q8y_rq_make
#define q8v_rq_lanes q8y_rq_lanes
#define q8v_requant q8y_requant
#define q8v_store q8y_store
#define q8v_store_pairs q8y_store_pairs
#define q8v_set1 _mm256_set1_epi32
#define q8v_widen q8y_widen
#define q8v_i16_row q8y_i16_row
#define q8v_add _mm256_add_epi32
#define q8v_storeu(p, v) _mm256_storeu_si256((__m256i *)(p), v)
#define q8v_sub _mm256_sub_epi32
#define q8v_slli _mm256_slli_epi32
#define q8v_load(p) _mm256_loadu_si256((const __m256i *)(p))
#define q8v_max _mm256_max_epi32
#define q8v_pair_max q8y_pair_max
#define q8v_storeu_pairs32 q8y_storeu_pairs32
#define q8v_store_quads q8y_store_quads
#define q8v_storeu_quads32 q8y_storeu_quads32
#endif
