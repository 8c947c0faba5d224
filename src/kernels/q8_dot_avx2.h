/* The exact product of unsigned and signed byte quads on AVX2, for the ymm int8 kernels without
 * VNNI (q8_gemm__avx2.c, q8_spmm__avx2.c). AVX2 has no exact byte product: vpmaddubsw saturates
 * its pair sums (255 * 127 * 2 > 32767). So each quad is split into its even and odd bytes,
 * widened to int16 (the unsigned ones by zero extension, the signed weights by sign extension),
 * and vpmaddwd forms b0 w0 + b2 w2 and b1 w1 + b3 w3 exactly in int32. */
#ifndef SN_KERNELS_Q8_DOT_AVX2_H
#define SN_KERNELS_Q8_DOT_AVX2_H
#include "kernels/q8_requant_ymm.h"

typedef struct { __m256i even, odd; } q8_x;
typedef struct { __m256i even, odd; } q8_w;

/* unsigned quads as the product takes them: even and odd bytes zero-extended to int16 */
Q8Y_AVX2 Q8_INLINE q8_x q8_xsplit(__m256i v)
{
	return (q8_x){_mm256_and_si256(v, _mm256_set1_epi16(0xff)), _mm256_srli_epi16(v, 8)};
}

/* signed quads: even and odd bytes sign-extended to int16 */
Q8Y_AVX2 Q8_INLINE q8_w q8_wsplit(__m256i v)
{
	return (q8_w){_mm256_srai_epi16(_mm256_slli_epi16(v, 8), 8), _mm256_srai_epi16(v, 8)};
}
#define q8_wbcast(w) q8_wsplit(_mm256_set1_epi32(w))

Q8Y_AVX2 Q8_INLINE __m256i q8_dot(__m256i acc, q8_x x, q8_w w)
{
	return _mm256_add_epi32(acc, _mm256_add_epi32(_mm256_madd_epi16(x.even, w.even), _mm256_madd_epi16(x.odd, w.odd)));
}
#endif
