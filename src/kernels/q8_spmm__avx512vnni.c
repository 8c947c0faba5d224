/* The int8 SpMM on AVX-512 VNNI (q8_spmm_simd.h): vpdpbusd on 16 quads of unsigned panel bytes
 * and a channel's broadcast quad of weights. Up to 4 channels at once: 16 accumulators, the
 * four rows and their interleavings within the 32 zmm registers. */
#include "kernels/q8_requant_zmm.h"

#define Q8_TARGET Q8Z
typedef __m512i q8_x;
typedef __m512i q8_w;
#define q8_xprep(v) (v)
#define q8_wbcast _mm512_set1_epi32
#define q8_dot _mm512_dpbusd_epi32
#define Q8S_NB 4
#define Q8S_RUN sn_q8_spmm__avx512vnni
#define Q8S_PANEL sn_q8_spmm_panel__avx512vnni

#include "kernels/q8_spmm_simd.h"
