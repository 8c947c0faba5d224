/* The int8 depthwise plane on AVX-VNNI (q8_dwconv_simd.h): vpdpwssd adds each lane's two tap
 * products (int16 x int16) to it in one instruction, exactly (the non-saturating form). */
#include "kernels/q8_requant_ymm.h"

#define Q8_TARGET __attribute__((target("avx2,fma,avxvnni")))
#define Q8_DW3 sn_q8_dwconv_3x3__avxvnni
#define Q8_DW5 sn_q8_dwconv_5x5__avxvnni
#define Q8_DWANY sn_q8_dwconv_any__avxvnni
#define Q8_DWROW sn_q8_dwrow__avxvnni
#define q8_pdot _mm256_dpwssd_avx_epi32

#include "kernels/q8_dwconv_simd.h"

/* The plane of bytes (q8_dwquad_simd.h): vpdpbusd, four taps a lane; 32 outputs a step (stride
 * 2: 16). */
#define Q8_DWQ3 sn_q8_dwconv_3x3_quad__avxvnni
#define Q8_DWQ5 sn_q8_dwconv_5x5_quad__avxvnni
#define Q8_DWQANY sn_q8_dwconv_any_quad__avxvnni
#define q8_qdot _mm256_dpbusd_avx_epi32
#include "kernels/q8_dwquad_simd.h"
