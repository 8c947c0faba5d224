/* The depthwise micro-kernels for AVX2+FMA (8 floats a vector). Only these functions carry the
 * target attribute: the library still runs on CPUs without AVX2, sn_dw_select() picks. */
#include <immintrin.h>
#include <stdint.h>
#include "kernels/kernels.h"

#define TARGET __attribute__((target("avx2,fma")))

/* lanes [0, n) on: the mask of a partial vector */
static inline TARGET __m256i dw_mask(int n) { return _mm256_loadu_si256((const __m256i *)(sn_avx2_lane_bits + 8 - n)); }

/* lanes [lo, hi) */
static inline TARGET __m256i dw_range_mask(int lo, int hi)
{
	const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
	return _mm256_and_si256(_mm256_cmpgt_epi32(lane, _mm256_set1_epi32(lo - 1)), _mm256_cmpgt_epi32(_mm256_set1_epi32(hi), lane));
}

/* floats [0, n) of p (n <= 4), the others 0 */
static inline TARGET __m128 dw_load4(const float *p, int n)
{
	return n >= 4 ? _mm_loadu_ps(p) : _mm_maskload_ps(p, _mm256_castsi256_si128(dw_mask(SN_MAX(n, 0))));
}

/* the even and odd floats of p[0, 16), reading only p[0, m) (the rest as zeros): halves regrouped
 * on load ([p0..3 p8..11], [p4..7 p12..15]) so that one in-lane shuffle each gives them in order
 * (lane-crossing permutes are slow on Zen 2) */
static inline TARGET void dw_deint2(const float *p, int m, __m256 *e, __m256 *o)
{
	__m256 a, b;
	if (m >= 16) {
		a = _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps(p)), _mm_loadu_ps(p + 8), 1);
		b = _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps(p + 4)), _mm_loadu_ps(p + 12), 1);
	} else {
		a = _mm256_insertf128_ps(_mm256_castps128_ps256(dw_load4(p, m)), dw_load4(p + 8, m - 8), 1);
		b = _mm256_insertf128_ps(_mm256_castps128_ps256(dw_load4(p + 4, m - 4)), dw_load4(p + 12, m - 12), 1);
	}
	*e = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0));
	*o = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1));
}

/* lanes [0, n) of v, without a masked store (slow on AMD before Zen 4) */
static inline TARGET void dw_store_n(float *p, __m256 v, int n)
{
	__m128 h = _mm256_castps256_ps128(v);
	if (n & 4) { _mm_storeu_ps(p, h); h = _mm256_extractf128_ps(v, 1); p += 4; }
	if (n & 2) { _mm_storel_pi((__m64 *)p, h); h = _mm_movehl_ps(h, h); p += 2; }
	if (n & 1) _mm_store_ss(p, h);
}

static inline TARGET float dw_hsum(__m256 v)
{
	__m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
	s = _mm_add_ps(s, _mm_movehl_ps(s, s));
	return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
}

#include "kernels/dwconv_ymm.h"
#define VLOADN(p, n) _mm256_maskload_ps(p, dw_mask(n))
#define VSTOREN(p, v, n) dw_store_n(p, v, n)
#define VM __m256i
#define VMASK(lo, hi) dw_range_mask(lo, hi)
#define VLOADM(p, m) _mm256_maskload_ps(p, m)
#define VDEINT2(p, m, e, o) dw_deint2(p, m, &(e), &(o))
#define VMUL(a, b) _mm256_mul_ps(a, b)
#define VAND(a, m) _mm256_and_ps(a, m)
#define VKEEP(v) __asm__("" : "+x"(v))
#define VHSUM(v) dw_hsum(v)
#define NAME(f) f##__avx2

#include "kernels/dwconv_impl.h"
