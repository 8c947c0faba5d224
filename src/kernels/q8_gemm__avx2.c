/* The int8 GEMM on AVX2 (q8_gemm_simd.h). AVX2 has no exact byte product: vpmaddubsw saturates
 * its pair sums (255 * 127 * 2 > 32767). So each quad is split into its even and odd bytes,
 * widened to int16 (the panel's unsigned bytes by zero extension, the weights' signed ones by
 * sign extension), and vpmaddwd forms b0 w0 + b2 w2 and b1 w1 + b3 w3 exactly in int32. */
#include "kernels/q8_requant_ymm.h"

#define Q8_TARGET __attribute__((target("avx2,fma")))
#define Q8_RB 1
#define Q8_NV 2
#define Q8_GEMM sn_q8_gemm__avx2
typedef struct { __m256i even, odd; } q8_x;
typedef struct { __m256i even, odd; } q8_w;

Q8_TARGET Q8_INLINE q8_x q8_xload(const uint8_t *p)
{
	const __m256i v = _mm256_loadu_si256((const __m256i *)p);
	return (q8_x){_mm256_and_si256(v, _mm256_set1_epi16(0xff)), _mm256_srli_epi16(v, 8)};
}

Q8_TARGET Q8_INLINE q8_w q8_wbcast(int32_t w)
{
	const __m256i v = _mm256_set1_epi32(w);
	return (q8_w){_mm256_srai_epi16(_mm256_slli_epi16(v, 8), 8), _mm256_srai_epi16(v, 8)};
}

Q8_TARGET Q8_INLINE __m256i q8_dot(__m256i acc, q8_x x, q8_w w)
{
	return _mm256_add_epi32(acc, _mm256_add_epi32(_mm256_madd_epi16(x.even, w.even), _mm256_madd_epi16(x.odd, w.odd)));
}

#include "kernels/q8_gemm_simd.h"
