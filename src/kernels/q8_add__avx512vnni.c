/* The int8 add on AVX-512 (q8_add_simd.h): 16 outputs a step, the tail by a masked load and store. */
#include "kernels/q8_requant_zmm.h"

#define Q8_TARGET Q8Z
#define Q8_ADD sn_q8_add__avx512vnni

#include "kernels/q8_add_simd.h"
