/* Packing of sparse weights, the portable SpMM kernel, dispatch and the thread split
 * (layout in kernels/spmm.h; the AVX2 kernel is in spmm_avx2.c). */
#include <omp.h>
#include <stdlib.h>
#include "kernels/cpu.h"
#include "kernels/spmm.h"

void sn_spmm_free(sn_spmm *p)
{
	if (!p) return;
	free(p->blocks); free(p->values); free(p->deltas);
	free(p);
}

static int nonzero(const sn_spmm_src *s, size_t i) { return s->f ? s->f[i] != 0.0f : s->q[i] != 0; }

static int row_nnz(const sn_spmm_src *s, int o)
{
	int k = 0;
	for (int i = 0; i < s->cols; i++) k += nonzero(s, (size_t)o * s->cols + i);
	return k;
}

static int same_pattern(const sn_spmm_src *s, int a, int b)
{
	for (int i = 0; i < s->cols; i++)
		if (nonzero(s, (size_t)a * s->cols + i) != nonzero(s, (size_t)b * s->cols + i)) return 0;
	return 1;
}

/* Channels in the block starting at row o: 4 or 2 where the next rows share o's pattern. */
static int block_width(const sn_spmm_src *s, int o)
{
	int n = 1;
	while (n < 4 && o + n < s->rows && same_pattern(s, o, o + n)) n++;
	return n == 3 ? 2 : n;
}

int sn_spmm_blocks(const sn_spmm_src *s, int group, sn_spmm_block *blocks, size_t *n_deltas)
{
	int nb = 0;
	size_t nd = 0;
	for (int o = 0; o < s->rows; o += blocks[nb++].nb) {
		sn_spmm_block *b = &blocks[nb];
		b->o0 = o;
		b->nb = block_width(s, o);
		b->nnz = (row_nnz(s, o) + group - 1) / group * group;
		b->voff = 0;
		b->doff = nd;
		nd += (size_t)b->nnz;
	}
	*n_deltas = nd;
	return nb;
}

void sn_spmm_block_cols(const sn_spmm_src *s, const sn_spmm_block *b, int32_t *c)
{
	int k = 0;
	for (int i = 0; i < s->cols; i++)
		if (nonzero(s, (size_t)b->o0 * s->cols + i)) c[k++] = i;
	while (k < b->nnz) c[k++] = -1;
}

void sn_spmm_cols_to_deltas(int32_t *c, int n)
{
	int prev = 0;
	for (int k = 0; k < n; k++) {
		if (c[k] < 0) { c[k] = 0; continue; }
		const int i = c[k];
		c[k] = i - prev;
		prev = i;
	}
}

/* Biases, then the nb weights of each non-zero input row (rows: sn_spmm_block_cols's). */
static void fill_block(const float *w, const float *bias, int cols, const sn_spmm_block *b, const int32_t *rows, float *v)
{
	for (int j = 0; j < b->nb; j++) *v++ = bias ? bias[b->o0 + j] : 0.0f;
	for (int k = 0; k < b->nnz; k++)
		for (int j = 0; j < b->nb; j++) *v++ = w[(size_t)(b->o0 + j) * cols + rows[k]];
}

sn_spmm *sn_spmm_pack(const float *w, const float *bias, int rows, int cols)
{
	const sn_spmm_src src = {.f = w, .rows = rows, .cols = cols};
	sn_spmm *p = calloc(1, sizeof *p);
	if (!p) goto oom;
	p->rows = rows; p->cols = cols;
	p->blocks = malloc((rows ? rows : 1) * sizeof *p->blocks);
	if (!p->blocks) goto oom;
	size_t nv = 0, nd = 0;
	p->n_blocks = sn_spmm_blocks(&src, 1, p->blocks, &nd);
	for (int k = 0; k < p->n_blocks; k++) {
		sn_spmm_block *b = &p->blocks[k];
		b->voff = nv;
		nv += (size_t)b->nb * (1 + b->nnz);
		p->nnz += (size_t)b->nb * b->nnz;
	}
	p->values = malloc((nv ? nv : 1) * sizeof *p->values);
	p->deltas = malloc((nd ? nd : 1) * sizeof *p->deltas);
	if (!p->values || !p->deltas) goto oom;
	for (int k = 0; k < p->n_blocks; k++) {
		const sn_spmm_block *b = &p->blocks[k];
		int32_t *d = p->deltas + b->doff;
		sn_spmm_block_cols(&src, b, d);
		fill_block(w, bias, cols, b, d, p->values + b->voff);
		sn_spmm_cols_to_deltas(d, b->nnz);
	}
	return p;
oom:
	sn_spmm_free(p);
	return NULL;
}

/* ---------------------------------------------------------------- portable kernel */

enum { C_TILE = 8 };

/* One block over pixels [q, q + n), n <= C_TILE. */
static void block_c(const sn_spmm *p, const sn_spmm_block *b, size_t q, int n, const sn_spmm_io *io)
{
	float acc[4][C_TILE];
	const float *v = p->values + b->voff, *w = v + b->nb;
	const int32_t *d = p->deltas + b->doff;
	const float *x = io->x + q;
	for (int j = 0; j < b->nb; j++)
		for (int t = 0; t < n; t++) acc[j][t] = v[j];
	for (int k = 0; k < b->nnz; k++, w += b->nb) {
		x += (ptrdiff_t)d[k] * io->ldx;
		for (int j = 0; j < b->nb; j++)
			for (int t = 0; t < n; t++) acc[j][t] += w[j] * x[t];
	}
	for (int j = 0; j < b->nb; j++) {
		float *y = io->y + (ptrdiff_t)(b->o0 + j) * io->ldy + q;
		for (int t = 0; t < n; t++) { /* comparisons, not fminf: NaN stays NaN as in the dense path */
			float r = acc[j][t] < io->lo ? io->lo : acc[j][t];
			y[t] = r > io->hi ? io->hi : r;
		}
	}
}

void sn_f32_spmm_8x4__scalar(const sn_spmm *p, int b0, int b1, size_t p0, size_t p1, const sn_spmm_io *io)
{
	for (size_t q = p0; q < p1; q += C_TILE)
		for (int k = b0; k < b1; k++) block_c(p, &p->blocks[k], q, (int)SN_MIN((size_t)C_TILE, p1 - q), io);
}

/* ---------------------------------------------------------------- dispatch and threads */

const char *sn_spmm_kernel_name(void)
{
	return sn_cpu_avx2() ? "sn_f32_spmm_32x4__avx2" : "sn_f32_spmm_8x4__scalar";
}

void sn_spmm_run(const sn_spmm *p, int b0, int b1, size_t p0, size_t p1, const sn_spmm_io *io)
{
	if (sn_cpu_avx2()) sn_f32_spmm_32x4__avx2(p, b0, b1, p0, p1, io);
	else sn_f32_spmm_8x4__scalar(p, b0, b1, p0, p1, io);
}

/* Below this many multiply-adds a parallel region costs more than it saves. */
#define PAR_MIN_MACS 65536.0
enum { BLOCK_CHUNK = 8 };

void sn_spmm_parallel(const sn_spmm *p, size_t npix, const sn_spmm_io *io)
{
	const int T = sn_get_threads();
	if (T == 1 || omp_in_parallel() || (double)(p->nnz + p->rows) * npix < PAR_MIN_MACS) {
		sn_spmm_run(p, 0, p->n_blocks, 0, npix, io);
		return;
	}
	if (npix >= (size_t)2 * SN_SPMM_PANEL_PIXELS * T) { /* many pixels: each thread a range of them */
		size_t chunk = ((npix + T - 1) / T + SN_SPMM_PANEL_PIXELS - 1) / SN_SPMM_PANEL_PIXELS * SN_SPMM_PANEL_PIXELS;
		#pragma omp parallel num_threads(T)
		{
			sn_spmm_io mine = *io;
			if (mine.panel) mine.panel += (size_t)omp_get_thread_num() * sn_spmm_panel_floats(p);
			#pragma omp for schedule(static)
			for (size_t s = 0; s < npix; s += chunk) sn_spmm_run(p, 0, p->n_blocks, s, SN_MIN(npix, s + chunk), &mine);
		}
		return;
	}
	/* few pixels (a Linear's batch): each thread some output blocks; rows differ in cost; a
	 * panel would be copied by every thread for the same pixels */
	sn_spmm_io shared = *io;
	shared.panel = NULL;
	#pragma omp parallel for num_threads(T) schedule(dynamic, 1)
	for (int b = 0; b < p->n_blocks; b += BLOCK_CHUNK)
		sn_spmm_run(p, b, SN_MIN(p->n_blocks, b + BLOCK_CHUNK), 0, npix, &shared);
}
