/* The int8 GEMM on AVX-VNNI (q8_gemm_simd.h): vpdpbusd adds the four products of unsigned panel
 * bytes and signed weights of each lane to it, exactly (no saturation) in int32. 4 rows by 3
 * vectors: 12 accumulators, 3 panel vectors and a broadcast fill the 16 ymm registers. */
#include "kernels/q8_requant_ymm.h"

#define Q8_TARGET __attribute__((target("avx2,fma,avxvnni")))
#define Q8_RB 1
#define Q8_NV 3
#define Q8_GEMM sn_q8_gemm__avxvnni
typedef __m256i q8_x;
typedef __m256i q8_w;
#define q8_xload(p) _mm256_loadu_si256((const __m256i *)(p))
#define q8_wbcast _mm256_set1_epi32
#define q8_dot _mm256_dpbusd_avx_epi32

#include "kernels/q8_gemm_simd.h"

/* The Linear (q8_linear_simd.h): 4 rows by 3 vectors, 12 accumulators, 3 weight vectors and a
 * broadcast. */
#define Q8_LMR 4
#define Q8_LNV 3
#define Q8_LINEAR sn_q8_linear__avxvnni
#include "kernels/q8_linear_simd.h"
