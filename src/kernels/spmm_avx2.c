/* The AVX2+FMA SpMM kernel. Pixel tiles of 32 (4x8 floats) run every block of output channels,
 * so the tile's input stays in L1 while the weights stream by; the tile is first copied into a
 * contiguous panel when the caller gives one (input rows a power-of-two-ish stride apart map to
 * a few L1 sets and evict each other). Then 8-pixel steps and one masked step for the tail.
 * A block of nb channels loads each input vector once for its nb channels; at most 8
 * accumulators live at once, of the 16 ymm registers. Measured no faster on Zen: two
 * accumulator sets over even and odd non-zeros, prefetching the next tile, 16-, 24- or
 * 64-pixel tiles.
 * Compiled for AVX2 whatever -march says; sn_spmm_run calls it only where the CPU has it. */
#include <immintrin.h>
#include "kernels/cpu.h"
#include "kernels/spmm.h"

#define AVX2 __attribute__((target("avx2,fma")))
#define INLINE static inline __attribute__((always_inline))

/* Lanes [0, n) of a vector for the tail, n < 8. */
AVX2 INLINE __m256i tail_mask(int n) { return _mm256_loadu_si256((const __m256i *)(sn_avx2_lane_bits + 8 - n)); }

/* Where one tile reads and writes. */
typedef struct {
	const float *x; ptrdiff_t ldx;
	float *y; ptrdiff_t ldy;
	__m256 lo, hi;
	__m256i mask;            /* lanes of the masked tail step */
} tile_io;

/* acc[j][t] += w[j] * x[8t..8t+8) for the NB channels and NV vectors of one input row. */
AVX2 INLINE void fma_row(__m256 acc[4][4], const int NB, const int NV, const int masked, const float *x,
                         const float *w, __m256i mask)
{
	__m256 xv[4];
	for (int t = 0; t < NV; t++) xv[t] = masked ? _mm256_maskload_ps(x, mask) : _mm256_loadu_ps(x + 8 * t);
	for (int j = 0; j < NB; j++) {
		const __m256 wj = _mm256_broadcast_ss(w + j);
		for (int t = 0; t < NV; t++) acc[j][t] = _mm256_fmadd_ps(wj, xv[t], acc[j][t]);
	}
}

/* The NB channels of block b over NV vectors of pixels (NB, NV, masked: constants once
 * inlined; masked: one vector, lanes in io->mask). */
AVX2 INLINE void block_tile(const sn_spmm *p, const sn_spmm_block *b, const int NB, const int NV, const int masked,
                            const tile_io *io)
{
	__m256 acc[4][4];
	const int nb = b->nb, nnz = b->nnz;
	const float *v = p->values + b->voff, *w = v + nb;
	const int32_t *d = p->deltas + b->doff;
	const float *x = io->x;
	const ptrdiff_t ldx = io->ldx;
	for (int j = 0; j < NB; j++)
		for (int t = 0; t < NV; t++) acc[j][t] = _mm256_broadcast_ss(v + j);
	for (int k = 0; k < nnz; k++, w += nb) {
		x += (ptrdiff_t)d[k] * ldx;
		fma_row(acc, NB, NV, masked, x, w, io->mask);
	}
	for (int j = 0; j < NB; j++) {
		float *y = io->y + (ptrdiff_t)(b->o0 + j) * io->ldy;
		for (int t = 0; t < NV; t++) {
			__m256 r = _mm256_min_ps(io->hi, _mm256_max_ps(io->lo, acc[j][t])); /* NaN passes: the second operand wins */
			if (masked) _mm256_maskstore_ps(y, io->mask, r);
			else _mm256_storeu_ps(y + 8 * t, r);
		}
	}
}

/* Blocks [b0, b1) over NV vectors: 4-channel blocks take 2 vectors at a time so their
 * accumulators fit in registers (4 x 2). */
AVX2 INLINE void blocks_at(const sn_spmm *p, int b0, int b1, const int NV, const int masked, const tile_io *io)
{
	for (int k = b0; k < b1; k++) {
		const sn_spmm_block *b = &p->blocks[k];
		switch (b->nb) {
		case 1: block_tile(p, b, 1, NV, masked, io); break;
		case 2: block_tile(p, b, 2, NV, masked, io); break;
		default:
			if (NV <= 2) { block_tile(p, b, 4, NV, masked, io); break; }
			for (int t = 0; t < NV; t += 2) {
				tile_io part = *io;
				part.x += 8 * t; part.y += 8 * t;
				if (NV - t >= 2) block_tile(p, b, 4, 2, 0, &part);
				else block_tile(p, b, 4, 1, 0, &part);
			}
		}
	}
}

enum { TILE = SN_SPMM_PANEL_PIXELS, TILE_NV = TILE / 8 };

/* panel [cols x TILE] = x[:, 0..TILE) */
AVX2 static void copy_panel(const float *x, ptrdiff_t ldx, int cols, float *panel)
{
	for (int i = 0; i < cols; i++, x += ldx, panel += TILE)
		for (int t = 0; t < TILE; t += 8) _mm256_storeu_ps(panel + t, _mm256_loadu_ps(x + t));
}

AVX2 void sn_f32_spmm_32x4__avx2(const sn_spmm *p, int b0, int b1, size_t p0, size_t p1, const sn_spmm_io *io)
{
	tile_io t = {io->x, io->ldx, io->y, io->ldy, _mm256_set1_ps(io->lo), _mm256_set1_ps(io->hi), _mm256_setzero_si256()};
	const int panel = io->panel && io->ldx > TILE;
	size_t q = p0;
	for (; q + TILE <= p1; q += TILE) {
		t.x = io->x + q; t.ldx = io->ldx; t.y = io->y + q;
		if (panel) {
			copy_panel(t.x, t.ldx, p->cols, io->panel);
			t.x = io->panel; t.ldx = TILE;
		}
		blocks_at(p, b0, b1, TILE_NV, 0, &t);
	}
	t.ldx = io->ldx;
	for (; q + 8 <= p1; q += 8) {
		t.x = io->x + q; t.y = io->y + q;
		blocks_at(p, b0, b1, 1, 0, &t);
	}
	if (q < p1) {
		t.x = io->x + q; t.y = io->y + q;
		t.mask = tail_mask((int)(p1 - q));
		blocks_at(p, b0, b1, 1, 1, &t);
	}
}
