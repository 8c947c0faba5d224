/* The int8 GEMM on AVX2 (q8_gemm_simd.h), with q8_dot_avx2.h's exact byte products. */
#include "kernels/q8_dot_avx2.h"

#define Q8_TARGET __attribute__((target("avx2,fma")))
#define Q8_RB 1
#define Q8_NV 2
#define Q8_GEMM sn_q8_gemm__avx2
#define q8_xload(p) q8_xsplit(_mm256_loadu_si256((const __m256i *)(p)))

#include "kernels/q8_gemm_simd.h"

/* The Linear (q8_linear_simd.h): 3 rows by 2 vectors; the split quads take two registers each. */
#define Q8_LMR 3
#define Q8_LNV 2
#define Q8_LINEAR sn_q8_linear__avx2
#include "kernels/q8_linear_simd.h"
