/* The pooled requantization on AVX-512 (q8_pool_simd.h): 16 pooled outputs a step. */
#include "kernels/q8_requant_zmm.h"

#define Q8_TARGET Q8Z
#define Q8_POOL sn_q8_pool__avx512vnni

#include "kernels/q8_pool_simd.h"
