/* The int8 GEMM on AVX-512 VNNI (q8_gemm_simd.h): vpdpbusd adds the four products of unsigned
 * panel bytes and signed weights of each lane to it, exactly in int32. 8 rows (two packed
 * blocks) by 3 vectors of 16 columns: 24 accumulators, 3 panel vectors and a broadcast of the
 * 32 zmm registers; per quad 3 loads and 8 broadcasts feed 24 vpdpbusd (1536 multiply-adds). */
#include "kernels/q8_requant_zmm.h"

#define Q8_TARGET Q8Z
#define Q8_RB 2
#define Q8_NV 3
#define Q8_GEMM sn_q8_gemm__avx512vnni
#define Q8_GEMV sn_q8_gemv__avx512vnni
typedef __m512i q8_x;
typedef __m512i q8_w;
#define q8_xload(p) _mm512_loadu_si512((const void *)(p))
#define q8_wbcast _mm512_set1_epi32
#define q8_xbcast _mm512_set1_epi32
#define q8_wvec(v) (v)
#define q8_dot _mm512_dpbusd_epi32

#include "kernels/q8_gemm_simd.h"
