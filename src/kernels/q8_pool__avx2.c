/* The pooled requantization on AVX2 (q8_pool_simd.h): 8 pooled outputs a step. The AVX-VNNI
 * path runs it too (no products here). */
#include "kernels/q8_requant_ymm.h"

#define Q8_TARGET __attribute__((target("avx2,fma")))
#define Q8_POOL sn_q8_pool__avx2

#include "kernels/q8_pool_simd.h"
