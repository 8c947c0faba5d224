/* The int8 depthwise plane on AVX2 (q8_dwconv_simd.h): vpmaddwd forms each lane's two tap
 * products (int16 x int16) and their sum in int32, exactly; an add accumulates it. */
#include "kernels/q8_requant_ymm.h"

#define Q8_TARGET __attribute__((target("avx2,fma")))
#define Q8_DW3 sn_q8_dwconv_3x3__avx2
#define Q8_DW5 sn_q8_dwconv_5x5__avx2
#define Q8_DWANY sn_q8_dwconv_any__avx2
#define Q8_DWROW sn_q8_dwrow__avx2
#define q8_pdot(acc, x, w) _mm256_add_epi32(acc, _mm256_madd_epi16(x, w))

#include "kernels/q8_dwconv_simd.h"
