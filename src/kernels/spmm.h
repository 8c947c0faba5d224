/* Sparse inference (XNNPACK's SpMM design): Y[o][p] = act(bias[o] + sum_i W[o][i] X[i][p]) with
 * W sparse and X, Y dense rows of pixels (a 1x1 conv over CHW) or of samples (a Linear's batch,
 * transposed). Each non-zero weight multiplies one dense input row.
 *
 * Packed weights: output channels are grouped into blocks of 4, 2 or 1 consecutive channels;
 * a block of several channels is made only where their non-zero patterns coincide (block-
 * pruned models), so the block shares one input row load per non-zero. Per block:
 *   values:  nb biases, then for each non-zero input row the nb weights of that row
 *   deltas:  per non-zero, the input rows to advance from the previous one (the first counts
 *            from row 0), so the kernel walks one pointer down the input
 * Deltas count rows, not bytes: the same packed weights read rows H*W floats apart (a conv's
 * image), 32 apart (a panel, a Linear's chunk of samples) or 1 apart (one Linear sample), so the
 * kernel scales them by the stride it is given (one integer multiply off the critical path). */
#ifndef SN_KERNELS_SPMM_H
#define SN_KERNELS_SPMM_H
#include <stddef.h>
#include <stdint.h>

typedef struct {
	int o0, nb, nnz;        /* first output channel, channels (1, 2 or 4), non-zero rows */
	size_t voff, doff;      /* start of the block in values and in deltas */
} sn_spmm_block;

typedef struct sn_spmm {
	int rows, cols;         /* output channels, input rows */
	int n_blocks;
	size_t nnz;             /* non-zero weights (rows of blocks times their width) */
	sn_spmm_block *blocks;
	float *values;
	int32_t *deltas;
} sn_spmm;

/* The layout above, shared by the float pack and the int8 one (kernels/q8_spmm.h): W [rows x
 * cols] row-major as floats (f) or int8 (q), one of them given. */
typedef struct { const float *f; const int8_t *q; int rows, cols; } sn_spmm_src;
/* The blocks of W into blocks (room for rows of them): o0, nb, nnz and doff (voff is the
 * caller's: values differ by type). Each block's non-zero rows are counted up to a multiple of
 * `group` (the int8 kernels take them four at a time); *n_deltas gets their total. Returns the
 * number of blocks. */
int sn_spmm_blocks(const sn_spmm_src *s, int group, sn_spmm_block *blocks, size_t *n_deltas);
/* The input rows (columns of W) of block b's non-zero weights in order, then -1 up to b->nnz
 * (the padding to the group: weight 0) into c; the values are filled from them. */
void sn_spmm_block_cols(const sn_spmm_src *s, const sn_spmm_block *b, int32_t *c);
/* Those rows, in place, as the deltas the kernels walk (a padding entry advances 0 rows). */
void sn_spmm_cols_to_deltas(int32_t *c, int n);

/* Packs W [rows x cols] row-major (+ bias[rows], may be NULL); zero weights are left out.
 * NULL when out of memory. */
sn_spmm *sn_spmm_pack(const float *w, const float *bias, int rows, int cols);
void sn_spmm_free(sn_spmm *p);

/* One kernel call: blocks [b0, b1) over pixels [p0, p1). x: input rows ldx floats apart, y:
 * output rows ldy floats apart; outputs are clamped to [lo, hi] (the fused activation).
 * panel (may be NULL): scratch of sn_spmm_panel_floats() into which the AVX2 kernel copies each
 * tile of 32 pixels of all input rows, so rows far apart stop evicting each other from L1.
 * Never allocates. sn_spmm_run picks the AVX2+FMA kernel where the CPU has it (sn_cpu_avx2). */
#define SN_SPMM_PANEL_PIXELS 32
typedef struct {
	const float *x; ptrdiff_t ldx;
	float *y; ptrdiff_t ldy;
	float lo, hi;
	float *panel;
} sn_spmm_io;
static inline size_t sn_spmm_panel_floats(const sn_spmm *p) { return (size_t)p->cols * SN_SPMM_PANEL_PIXELS; }
void sn_spmm_run(const sn_spmm *p, int b0, int b1, size_t p0, size_t p1, const sn_spmm_io *io);
/* The kernels behind it, named by their tiles (pixels x channels of a block). */
void sn_f32_spmm_8x4__scalar(const sn_spmm *p, int b0, int b1, size_t p0, size_t p1, const sn_spmm_io *io);
void sn_f32_spmm_32x4__avx2(const sn_spmm *p, int b0, int b1, size_t p0, size_t p1, const sn_spmm_io *io);
const char *sn_spmm_kernel_name(void);                /* the one sn_spmm_run calls here */
/* All blocks over pixels [0, npix), split across OpenMP threads when called serially and large
 * enough (over pixels when there are many, else over blocks). A panel, if given, holds one per
 * thread (sn_get_threads() of them). */
void sn_spmm_parallel(const sn_spmm *p, size_t npix, const sn_spmm_io *io);
#endif
