/* The int8 SpMM (q8_spmm.h): packing, the split over threads, the corrections. The arithmetic
 * lives in the kernels (q8_spmm__*.c; q8_internal.h says what each is handed); which one runs
 * is qconv.c's choice of instruction set. */
#include <omp.h>
#include <stdlib.h>
#include "kernels/q8_internal.h"
#include "kernels/q8_spmm.h"

void sn_q8_spmm_free(sn_q8_spmm *sp)
{
	if (!sp) return;
	free(sp->blocks); free(sp->values); free(sp->deltas); free(sp->sumw);
	free(sp);
}

/* Per quad of a block's rows, each channel's 4 weights (0 for the padding); rows: the block's
 * input rows (sn_spmm_block_cols). */
static void fill_block(const int8_t *w, int cols, const sn_spmm_block *b, const int32_t *rows, int8_t *v)
{
	for (int k = 0; k < b->nnz; k += 4)
		for (int j = 0; j < b->nb; j++)
			for (int e = 0; e < 4; e++) *v++ = rows[k + e] < 0 ? 0 : w[(size_t)(b->o0 + j) * cols + rows[k + e]];
}

sn_q8_spmm *sn_q8_spmm_pack(const int8_t *w, int rows, int cols)
{
	if (rows < 1 || cols < 1 || cols > SN_Q8_MAX_TAPS) return NULL;
	const sn_spmm_src src = {.q = w, .rows = rows, .cols = cols};
	sn_q8_spmm *sp = calloc(1, sizeof *sp);
	if (!sp) return NULL;
	sp->rows = rows;
	sp->cols = cols;
	sp->blocks = malloc((size_t)rows * sizeof *sp->blocks);
	sp->sumw = malloc((size_t)rows * sizeof *sp->sumw);
	if (!sp->blocks || !sp->sumw) goto oom;
	size_t nv = 0, nd = 0;
	sp->n_blocks = sn_spmm_blocks(&src, 4, sp->blocks, &nd);
	for (int k = 0; k < sp->n_blocks; k++) {
		sp->blocks[k].voff = nv;
		nv += (size_t)sp->blocks[k].nb * sp->blocks[k].nnz;
	}
	sp->values = malloc(nv ? nv : 1);
	sp->deltas = malloc((nd ? nd : 1) * sizeof *sp->deltas);
	if (!sp->values || !sp->deltas) goto oom;
	for (int k = 0; k < sp->n_blocks; k++) {
		const sn_spmm_block *b = &sp->blocks[k];
		int32_t *d = sp->deltas + b->doff;
		sn_spmm_block_cols(&src, b, d);
		fill_block(w, cols, b, d, sp->values + b->voff);
		sn_spmm_cols_to_deltas(d, b->nnz);
	}
	for (int o = 0; o < rows; o++) {
		int32_t s = 0;
		for (int i = 0; i < cols; i++) {
			s += w[(size_t)o * cols + i];
			sp->nnz += w[(size_t)o * cols + i] != 0;
		}
		sp->sumw[o] = s;
	}
	sp->bytes = sizeof *sp + (size_t)rows * (sizeof *sp->blocks + sizeof *sp->sumw) + nv + nd * sizeof *sp->deltas;
	return sp;
oom:
	sn_q8_spmm_free(sp);
	return NULL;
}

size_t sn_q8_spmm_bytes(const sn_q8_spmm *sp) { return sp ? sp->bytes : 0; }

void sn_q8_spmm_shape(const sn_q8_spmm *sp, int *rows, int *cols)
{
	*rows = sp->rows;
	*cols = sp->cols;
}

static size_t up64(size_t n) { return (n + 63) / 64 * 64; }
static size_t panel_bytes(const sn_q8_spmm *sp) { return up64((size_t)sp->cols * SN_Q8_SPMM_TILE); }

size_t sn_q8_spmm_ws(const sn_q8_spmm *sp, size_t n)
{
	(void)n;   /* a panel is one tile whatever the pixels */
	return up64((size_t)sp->rows * sizeof(int32_t)) + (size_t)sn_get_threads() * panel_bytes(sp);
}

/* Below this many multiply-adds a parallel region costs more than it saves. */
#define PAR_MIN_MACS 65536.0

/* Pixels [0, npix) of x (pixel p of input row c at x[c xr + p xp]) into y (output (o, p) at
 * y[o yr + p yp]). Many tiles: each thread whole tiles, its own panel. Few (a Linear's batch,
 * a small image): each tile's panel built once, its blocks shared out. */
static void run(const int8_t *x, size_t xr, size_t xp, size_t npix, const sn_q8_conv *p, const sn_q8_spmm *sp,
                int8_t *y, size_t yr, size_t yp, void *ws)
{
	sn_q8_spmm_panel_fn panel_fn;
	const sn_q8_spmm_fn fn = sn_q8_spmm_path(&panel_fn, NULL);
	int32_t *corr = ws;
	uint8_t *panels = (uint8_t *)ws + up64((size_t)sp->rows * sizeof *corr);
	for (int o = 0; o < sp->rows; o++) corr[o] = sn_q8_corr(p->bias ? p->bias[o] : 0, p->x_zp, 128, sp->sumw[o]);
	const sn_q8_spmm_args base = {.sp = sp, .b0 = 0, .b1 = sp->n_blocks, .corr = corr, .mult = p->mult,
	                              .per_channel = p->per_channel, .y_zp = p->y_zp, .lo = p->lo, .hi = p->hi,
	                              .ldr = yr, .ldp = yp};
	const size_t tiles = (npix + SN_Q8_SPMM_TILE - 1) / SN_Q8_SPMM_TILE, pb = panel_bytes(sp);
	int T = omp_in_parallel() ? 1 : sn_get_threads();
	if ((double)(sp->nnz + sp->rows) * (double)npix < PAR_MIN_MACS) T = 1;
	if (T == 1 || tiles >= 4 * (size_t)T) {
		#pragma omp parallel for num_threads(T) if (T > 1) schedule(dynamic)
		for (size_t t = 0; t < tiles; t++) {
			sn_q8_spmm_args a = base;
			const size_t p0 = t * SN_Q8_SPMM_TILE;
			a.n = (int)SN_MIN((size_t)SN_Q8_SPMM_TILE, npix - p0);
			a.panel = panels + (size_t)omp_get_thread_num() * pb;
			a.y = y + p0 * yp;
			panel_fn(x + p0 * xp, xr, xp, sp->cols, a.n, (uint8_t *)a.panel);
			fn(&a);
		}
		return;
	}
	const int chunk = SN_MAX(1, sp->n_blocks / (8 * T));
	for (size_t t = 0; t < tiles; t++) {
		const size_t p0 = t * SN_Q8_SPMM_TILE;
		const int n = (int)SN_MIN((size_t)SN_Q8_SPMM_TILE, npix - p0);
		panel_fn(x + p0 * xp, xr, xp, sp->cols, n, panels);
		#pragma omp parallel for num_threads(T) schedule(dynamic, 1)
		for (int b = 0; b < sp->n_blocks; b += chunk) {
			sn_q8_spmm_args a = base;
			a.b0 = b;
			a.b1 = SN_MIN(sp->n_blocks, b + chunk);
			a.n = n;
			a.panel = panels;
			a.y = y + p0 * yp;
			fn(&a);
		}
	}
}

void sn_q8_spmm_conv(const int8_t *x, size_t pixels, const sn_q8_conv *p, const sn_q8_spmm *sp, int8_t *y, void *ws)
{
	run(x, pixels, 1, pixels, p, sp, y, pixels, 1, ws);
}

void sn_q8_spmm_linear(const int8_t *x, int n, const sn_q8_conv *p, const sn_q8_spmm *sp, int8_t *y, void *ws)
{
	run(x, 1, (size_t)sp->cols, (size_t)n, p, sp, y, 1, (size_t)sp->rows, ws);
}

const char *sn_q8_spmm_kernel(void)
{
	const char *name;
	sn_q8_spmm_path(NULL, &name);
	return name;
}
