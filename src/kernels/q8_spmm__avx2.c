/* The int8 SpMM on AVX2 (q8_spmm_simd.h), with q8_dot_avx2.h's exact byte products: each vector
 * of quads split once into even and odd bytes for the block's channels; 2 channels at once. */
#include "kernels/q8_dot_avx2.h"

#define Q8_TARGET __attribute__((target("avx2,fma")))
#define q8_xprep q8_xsplit
#define Q8S_NB 2
#define Q8S_RUN sn_q8_spmm__avx2
#define Q8S_PANEL sn_q8_spmm_panel__avx2

#include "kernels/q8_spmm_simd.h"
