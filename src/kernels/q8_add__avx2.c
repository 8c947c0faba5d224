/* The int8 add on AVX2 (q8_add_simd.h): 8 outputs a step. The AVX-VNNI path runs it too. */
#include "kernels/q8_requant_ymm.h"

#define Q8_TARGET __attribute__((target("avx2,fma")))
#define Q8_ADD sn_q8_add__avx2

#include "kernels/q8_add_simd.h"
