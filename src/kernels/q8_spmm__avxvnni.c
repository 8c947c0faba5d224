/* The int8 SpMM on AVX-VNNI (q8_spmm_simd.h): vpdpbusd on 8 quads of unsigned panel bytes and a
 * channel's broadcast quad of weights; 2 channels at once fill the 16 ymm registers. */
#include "kernels/q8_requant_ymm.h"

#define Q8_TARGET __attribute__((target("avx2,fma,avxvnni")))
typedef __m256i q8_x;
typedef __m256i q8_w;
#define q8_xprep(v) (v)
#define q8_wbcast _mm256_set1_epi32
#define q8_dot _mm256_dpbusd_avx_epi32
#define Q8S_NB 2
#define Q8S_RUN sn_q8_spmm__avxvnni
#define Q8S_PANEL sn_q8_spmm_panel__avxvnni

#include "kernels/q8_spmm_simd.h"
