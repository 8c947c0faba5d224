/* int8 sparse inference of pruned 1x1 convolutions and Linear layers: the int8 side of
 * kernels/spmm.h. Y[o][p] = requant(bias[o] + sum over the non-zero W[o][c] of (X[c][p] - x_zp)
 * W[o][c]), the arithmetic of sn_q8_conv_ref byte for byte (qconv.h's argument: an exact int32
 * sum, qmath.h's requantization), with W sparse and X, Y rows of pixels (a 1x1 conv over CHW)
 * or of samples (a Linear's batch).
 *
 * The pack is spmm.h's layout with int8 values: blocks of 1, 2 or 4 output channels sharing one
 * pattern, delta-encoded input rows; each block's non-zero rows are padded with zero weights to
 * a multiple of 4 (a quad: the 4 bytes vpdpbusd multiplies per lane), and per quad the block
 * holds nb int32 of 4 weights, channel by channel. Kernels (q8_spmm_simd.h) copy a tile of 64
 * pixels of every input row into a panel of unsigned bytes (x + 128), gather each quad's four
 * rows into quads of bytes per pixel and add their products as the dense GEMM does. */
#ifndef SN_KERNELS_Q8_SPMM_H
#define SN_KERNELS_Q8_SPMM_H
#include "kernels/qconv.h"

typedef struct sn_q8_spmm sn_q8_spmm;
/* Packs int8 weights w [rows x cols] (zeros left out) and each row's sum. NULL when out of
 * memory or the shape is invalid (rows < 1, cols outside [1, SN_Q8_MAX_TAPS]). */
sn_q8_spmm *sn_q8_spmm_pack(const int8_t *w, int rows, int cols);
void sn_q8_spmm_free(sn_q8_spmm *sp);
size_t sn_q8_spmm_bytes(const sn_q8_spmm *sp);
/* The shape it was packed for. */
void sn_q8_spmm_shape(const sn_q8_spmm *sp, int *rows, int *cols);
/* Scratch bytes one call over n pixels (conv) or rows (Linear) needs, for as many threads as
 * sn_get_threads() says now. */
size_t sn_q8_spmm_ws(const sn_q8_spmm *sp, size_t n);
/* A 1x1 conv (stride 1, no padding, one group) of one image: x [cols x pixels] -> y [rows x
 * pixels]; and a Linear: x [n x cols] -> y [n x rows] (row-major). p gives the bias, multipliers,
 * zero points and clamp (p->w is not read: the pack holds the weights). Split over OpenMP
 * threads when called outside a parallel region; allocates nothing. ws: sn_q8_spmm_ws bytes,
 * 64-aligned. */
void sn_q8_spmm_conv(const int8_t *x, size_t pixels, const sn_q8_conv *p, const sn_q8_spmm *sp, int8_t *y, void *ws);
void sn_q8_spmm_linear(const int8_t *x, int n, const sn_q8_conv *p, const sn_q8_spmm *sp, int8_t *y, void *ws);
/* The kernel the current path (qconv.h: sn_q8_force_path) runs, e.g. "q8_spmm__avx512vnni". */
const char *sn_q8_spmm_kernel(void);
#endif
