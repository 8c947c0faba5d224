/* The int8 depthwise plane on AVX-512 VNNI (q8_dwconv_simd.h): vpdpwssd adds each lane's two
 * tap products (int16 x int16) to it in one instruction, exactly; 32 outputs a step. */
#include "kernels/q8_requant_zmm.h"

#define Q8_TARGET Q8Z
#define Q8_DW3 sn_q8_dwconv_3x3__avx512vnni
#define Q8_DW5 sn_q8_dwconv_5x5__avx512vnni
#define Q8_DWANY sn_q8_dwconv_any__avx512vnni
#define Q8_DWROW sn_q8_dwrow__avx512vnni
#define q8_pdot _mm512_dpwssd_epi32

#include "kernels/q8_dwconv_simd.h"

/* The plane of bytes (q8_dwquad_simd.h): vpdpbusd, four taps a lane; 64 outputs a step (stride
 * 2: 32). */
#define Q8_DWQ3 sn_q8_dwconv_3x3_quad__avx512vnni
#define Q8_DWQ5 sn_q8_dwconv_5x5_quad__avx512vnni
#define Q8_DWQANY sn_q8_dwconv_any_quad__avx512vnni
#define q8_qdot _mm512_dpbusd_epi32
#include "kernels/q8_dwquad_simd.h"
