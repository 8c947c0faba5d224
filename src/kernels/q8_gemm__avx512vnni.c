/* The int8 GEMM on AVX-512 VNNI (q8_gemm_simd.h): vpdpbusd adds the four products of unsigned
 * panel bytes and signed weights of each lane to it, exactly in int32. 4 rows (one packed block)
 * by 3 vectors of 16 columns: 12 accumulators; per quad 3 loads and 4 broadcasts feed 12
 * vpdpbusd. The block of 8 rows (24 accumulators) would fit the 32 registers in the loop, but
 * its requantization spilled them: it measured 1.2-1.9x slower on every 1x1 and 3x3 shape of
 * MobileNetV2 and bench/ (2026-12-07, Zen 4, one thread). */
#include "kernels/q8_requant_zmm.h"

#define Q8_TARGET Q8Z
#define Q8_RB 1
#define Q8_NV 3
#define Q8_GEMM sn_q8_gemm__avx512vnni
typedef __m512i q8_x;
typedef __m512i q8_w;
#define q8_xload(p) _mm512_loadu_si512((const void *)(p))
#define q8_wbcast _mm512_set1_epi32
#define q8_dot _mm512_dpbusd_epi32

#include "kernels/q8_gemm_simd.h"

/* The Linear (q8_linear_simd.h): 6 rows by 4 vectors, 24 accumulators, 4 weight vectors and a
 * broadcast. */
#define Q8_LMR 6
#define Q8_LNV 4
#define Q8_LINEAR sn_q8_linear__avx512vnni
/* vpdpbusd in place: GCC 12 gives the intrinsic's accumulators a second register each, copied
 * around the loop, and spills them past 16 */
Q8Z Q8_INLINE __m512i q8_dot_acc(__m512i acc, __m512i x, __m512i w)
{
	__asm__("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(x), "v"(w));
	return acc;
}
#define Q8_LDOT q8_dot_acc
#include "kernels/q8_linear_simd.h"
