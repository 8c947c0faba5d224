/* Graph level of sparse inference: which layers run sparse (sn_graph_select_sparse), and their
 * forward passes (called from the conv and Linear operators for inference plans). */
#include <math.h>
#include <omp.h>
#include "core/quant.h"
#include "core/sparse.h"

void sn_sparse_reset(sn_graph *g)
{
	for (int i = 0; i < g->n_node; i++) {
		sn_spmm_free(g->node[i].spmm);
		g->node[i].spmm = NULL;
		if (g->node[i].q) { sn_q8_spmm_free(g->node[i].q->spmm); g->node[i].q->spmm = NULL; }
		g->node[i].impl = SN_IMPL_DENSE;
	}
}

/* 1x1 stride-1 unpadded ungrouped convs (a conv over CHW is then a matrix product) and Linears. */
static int eligible(const sn_node *n)
{
	if (n->t[SN_T_WEIGHT] < 0) return 0;
	if (n->op == SN_OP_LINEAR) return 1;
	return n->op == SN_OP_CONV && sn_conv_pointwise(&n->a.conv) && n->a.conv.groups == 1;
}

/* The AUTO rule (table in slimnn.h): the sparsity from which the sparse kernel beats slimnn's
 * dense path (one sgemm per image, then the bias), measured single-threaded on AVX2+FMA. A 1x1
 * conv's crossover grows with its input channels K (the sgemm's depth, where BLAS shines) and
 * with fewer pixels P per image (per-row overheads); small layers win even when dense, so a
 * floor of 20 % keeps barely pruned layers dense. A Linear's batch is unknown here: 70 %, the
 * highest crossover measured over batches 1 to 256; 80 % for fewer than 16 outputs. */
static double crossover(const sn_node *n, int rows, int cols)
{
	if (n->op == SN_OP_LINEAR) return rows < 16 ? 0.8 : 0.7;
	const int few_pixels = n->out.h * n->out.w < 64;
	if (cols <= 64) return few_pixels ? 0.4 : 0.2;
	if (cols <= 128) return few_pixels ? 0.45 : 0.3;
	return few_pixels ? 0.6 : 0.45;
}

/* int8 layers (their int8 weights, which may hold more zeros than the float ones: small weights
 * round to 0) against the int8 dense path, measured single-threaded with bench_kernels'
 * q8sparse: and q8sparselinear: cases (docs/quantize.md): a 1x1 conv goes sparse from Q8_CONV of
 * its weights zero (the sparse kernel tied the dense GEMM at 0-20 % over 64 and 256 channels, 7x7
 * and 28x28 pixels, and won everywhere from 30 %), a Linear from Q8_LINEAR on more than 4 rows
 * (1280 -> 1000, 2026-12-07, Zen 4; 1 thread: even at 90 % on 16 rows, sparse 1.3x at 96 % on 8;
 * 2 threads, 32 rows: dense 1.6x at 90 %, sparse 1.2x at 96 %) and on at most Q8_FEW_ROWS from
 * Q8_FEW_ROWS_ZEROS (4 rows: dense 1.25x at 96 %, sparse 1.2x at 98 %; 1 row: sparse from 99 %).
 * The rows are a plan's batch, known per plan: sn_sparse_q8. */
#define Q8_CONV 0.3
#define Q8_LINEAR 0.95
#define Q8_FEW_ROWS 4
#define Q8_FEW_ROWS_ZEROS 0.98

static size_t zeros(const float *w, size_t n)
{
	size_t z = 0;
	for (size_t i = 0; i < n; i++) z += w[i] == 0.0f;
	return z;
}

static size_t zeros_q8(const int8_t *w, size_t n)
{
	size_t z = 0;
	for (size_t i = 0; i < n; i++) z += w[i] == 0;
	return z;
}

/* An int8 layer: packs its int8 weights for the int8 SpMM where the mode says so; 1 when it goes
 * sparse, 0 when it stays dense, < 0 when out of memory. */
static int select_q8(sn_node *n, sn_sparse_mode mode, int rows, int cols)
{
	sn_qnode *q = n->q;
	const size_t count = (size_t)rows * cols;
	if (!q->w || q->w_n != count) return 0;
	const double at = n->op == SN_OP_LINEAR ? Q8_LINEAR : Q8_CONV;
	if (mode == SN_SPARSE_AUTO && (double)zeros_q8(q->w, count) < at * (double)count) return 0;
	if (!(q->spmm = sn_q8_spmm_pack(q->w, rows, cols)))
		return sn_seterr(SN_ENOMEM, "out of memory packing the int8 sparse weights of '%s' (%d x %d)", n->name, rows, cols);
	q->spmm_zeros = mode == SN_SPARSE_FORCE ? 1.0 : (double)zeros_q8(q->w, count) / (double)count;
	n->impl = SN_IMPL_SPARSE;
	return 1;
}

const sn_q8_spmm *sn_sparse_q8(const sn_graph *g, const sn_node *n, int batch)
{
	if (n->impl != SN_IMPL_SPARSE || !n->q || !n->q->spmm) return NULL;
	int rows, cols;
	sn_q8_spmm_shape(n->q->spmm, &rows, &cols);
	if (rows != n->out.c || cols != g->node[n->in[0]].out.c) return NULL;
	if (n->op == SN_OP_LINEAR && batch <= Q8_FEW_ROWS && n->q->spmm_zeros < Q8_FEW_ROWS_ZEROS) return NULL;
	return n->q->spmm;
}

int sn_graph_select_sparse(sn_graph *g, sn_sparse_mode mode)
{
	if (mode != SN_SPARSE_AUTO && mode != SN_SPARSE_OFF && mode != SN_SPARSE_FORCE)
		return sn_seterr(SN_EINVAL, "unknown sparse mode %d; use SN_SPARSE_AUTO, SN_SPARSE_OFF or SN_SPARSE_FORCE", (int)mode);
	int count = 0;
	sn_sparse_reset(g);
	for (int i = 0; i < g->n_node && mode != SN_SPARSE_OFF; i++) {
		sn_node *n = &g->node[i];
		if (!eligible(n)) continue;
		const sn_tensor *w = &g->tensor[n->t[SN_T_WEIGHT]], *b = sn_t(g, n, SN_T_BIAS);
		const int rows = w->dims[0], cols = (int)(w->n / (size_t)rows);
		if (sn_node_runs_int8(n)) {   /* runs the int8 kernels: their own sparse pack */
			const int rc = select_q8(n, mode, rows, cols);
			if (rc < 0) { sn_sparse_reset(g); return rc; }
			count += rc;
			continue;
		}
		if (mode == SN_SPARSE_AUTO && (double)zeros(w->data, w->n) < crossover(n, rows, cols) * (double)w->n) continue;
		if (!(n->spmm = sn_spmm_pack(w->data, b ? b->data : NULL, rows, cols))) {
			sn_sparse_reset(g);
			return sn_seterr(SN_ENOMEM, "out of memory packing the sparse weights of '%s' (%d x %d)", n->name, rows, cols);
		}
		n->impl = SN_IMPL_SPARSE;
		count++;
	}
	if (count) g->version++; /* sparse layers want workspace (sn_sparse_ws): plan again */
	return count;
}

/* ---------------------------------------------------------------- forward */

/* Output clamp of a conv's fused activation (sn_conv_attr.act). */
static void act_range(const sn_node *n, float *lo, float *hi)
{
	*lo = n->a.conv.act == SN_FUSE_NONE ? -INFINITY : 0.0f;
	*hi = n->a.conv.act == SN_FUSE_RELU6 ? 6.0f : INFINITY;
}

static int fits(const sn_node *n, int rows, int cols)
{
	return n->spmm && n->spmm->rows == rows && n->spmm->cols == cols;
}

/* A Linear runs its batch in chunks of 32 samples: each chunk transposed into [I x 32] (the
 * samples play the pixels, and the chunk is its own panel), multiplied into [O x 32], transposed
 * back. Per thread the workspace holds one chunk's two buffers; a conv's holds one panel. */
enum { CHUNK = SN_SPMM_PANEL_PIXELS };

static size_t ws_floats_per_thread(const sn_graph *g, const sn_node *n, int batch)
{
	if (n->op == SN_OP_LINEAR)   /* one sample is already a column: no chunks */
		return batch > 1 ? (size_t)CHUNK * ((size_t)g->node[n->in[0]].out.c + n->out.c) : 0;
	return (size_t)n->out.h * n->out.w > CHUNK ? sn_spmm_panel_floats(n->spmm) : 0;
}

size_t sn_sparse_ws(const sn_graph *g, const sn_node *n, int batch)
{
	if (n->impl != SN_IMPL_SPARSE || !n->spmm) return 0;
	return (size_t)sn_get_threads() * ws_floats_per_thread(g, n, batch) * sizeof(float);
}

/* The per-thread workspace, or NULL when the plan has none or too little (planned before
 * sn_graph_select_sparse, or for fewer threads). */
static float *workspace(const sn_plan *pl, const sn_node *n)
{
	size_t want = sn_sparse_ws(pl->g, n, pl->batch);
	return want && pl->ws_bytes >= want ? pl->ws : NULL;
}

int sn_sparse_conv_forward(sn_plan *pl, const sn_node *n)
{
	const sn_node *in = &pl->g->node[n->in[0]];
	if (!fits(n, n->out.c, in->out.c)) return SN_EINVAL;
	const size_t hw = (size_t)n->out.h * n->out.w, xs = sn_shape_numel(in->out), ys = sn_shape_numel(n->out);
	const int B = pl->batch, T = sn_get_threads();
	sn_spmm_io io = {sn_rt_in(pl, n, 0)->y, (ptrdiff_t)hw, sn_rt(pl, n)->y, (ptrdiff_t)hw, 0, 0,
	                 workspace(pl, n)};   /* panels may be NULL */
	act_range(n, &io.lo, &io.hi);
	if (B < T) { /* few images: split each one across threads */
		for (int b = 0; b < B; b++) {
			sn_spmm_io ib = io;
			ib.x += b * xs; ib.y += b * ys;
			sn_spmm_parallel(n->spmm, hw, &ib);
		}
		return SN_OK;
	}
	#pragma omp parallel for num_threads(T) schedule(static)
	for (int b = 0; b < B; b++) {
		sn_spmm_io ib = io;
		ib.x += b * xs; ib.y += b * ys;
		if (ib.panel) ib.panel += (size_t)omp_get_thread_num() * sn_spmm_panel_floats(n->spmm);
		sn_spmm_run(n->spmm, 0, n->spmm->n_blocks, 0, hw, &ib);
	}
	return SN_OK;
}

/* b[c][r] = a[r][c] for r < rows, c < cols; rows lda and ldb floats apart; in tiles so both
 * sides stay in cache. */
static void transpose(const float *a, int rows, int cols, size_t lda, float *b, size_t ldb)
{
	enum { TILE = 16 };
	for (int r0 = 0; r0 < rows; r0 += TILE)
		for (int c0 = 0; c0 < cols; c0 += TILE)
			for (int r = r0; r < SN_MIN(rows, r0 + TILE); r++)
				for (int c = c0; c < SN_MIN(cols, c0 + TILE); c++) b[c * ldb + r] = a[r * lda + c];
}

/* Samples [s0, s0 + s) of the batch, s <= CHUNK; buf: the chunk's workspace. */
static void linear_chunk(const sn_node *n, const float *x, float *y, int s0, int s, float *buf, int threads_inside)
{
	const sn_spmm *p = n->spmm;
	const int I = p->cols, O = p->rows;
	float *xT = buf, *yT = buf + (size_t)I * CHUNK;
	transpose(x + (size_t)s0 * I, s, I, I, xT, CHUNK);
	sn_spmm_io io = {xT, CHUNK, yT, CHUNK, -INFINITY, INFINITY, NULL};
	if (threads_inside) sn_spmm_parallel(p, (size_t)s, &io);
	else sn_spmm_run(p, 0, p->n_blocks, 0, (size_t)s, &io);
	transpose(yT, O, s, CHUNK, y + (size_t)s0 * O, O);
}

/* y [B x O] = x [B x I] W^T + b as Y^T = W X^T: the batch plays the pixels. */
int sn_sparse_linear_forward(sn_plan *pl, const sn_node *n)
{
	const sn_node *in = &pl->g->node[n->in[0]];
	const int B = pl->batch, T = sn_get_threads(), chunks = (B + CHUNK - 1) / CHUNK;
	const float *x = sn_rt_in(pl, n, 0)->y;
	float *y = sn_rt(pl, n)->y;
	if (!fits(n, n->out.c, in->out.c)) return SN_EINVAL;
	if (B == 1) {
		sn_spmm_io io = {x, 1, y, 1, -INFINITY, INFINITY, NULL};
		sn_spmm_parallel(n->spmm, 1, &io);
		return SN_OK;
	}
	float *ws = workspace(pl, n);
	if (!ws) return SN_EINVAL;
	const size_t per_thread = ws_floats_per_thread(pl->g, n, B);
	if (chunks < T || omp_in_parallel()) { /* few chunks: the threads share each one's output blocks */
		for (int c = 0; c < chunks; c++) linear_chunk(n, x, y, c * CHUNK, SN_MIN(CHUNK, B - c * CHUNK), ws, 1);
		return SN_OK;
	}
	#pragma omp parallel for num_threads(T) schedule(static)
	for (int c = 0; c < chunks; c++)
		linear_chunk(n, x, y, c * CHUNK, SN_MIN(CHUNK, B - c * CHUNK), ws + omp_get_thread_num() * per_thread, 0);
	return SN_OK;
}
