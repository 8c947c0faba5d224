/* The depthwise micro-kernels, written once over a small vector vocabulary and compiled per
 * instruction set: dwconv_scalar.c and dwconv_avx2.c define the vocabulary, then include this.
 *
 *   V, VN                 vector type and its lanes
 *   VZERO(), VSET1(f)     zeros, f in every lane
 *   VLOAD(p), VSTORE(p,v) VN floats, unaligned
 *   VLOADN(p,n)           lanes [0, n) (n < VN), the others 0;  VSTOREN(p,v,n) stores lanes [0, n)
 *   VM, VMASK(lo,hi)      a lane mask type, the mask of lanes [lo, hi)
 *   VLOADM(p,m)           the lanes of m from p, the others 0; masked lanes are never read, so p
 *                         may point before the row
 *   VDEINT2(p,m,e,o)      e = p[0], p[2], ..., p[2VN-2]; o = p[1], p[3], ..., p[2VN-1], reading
 *                         only p[0, m) (the rest as zeros)
 *   VFMA(a,b,c)           a*b + c;  VADD, VMUL, VMAX, VMIN;  VHSUM(v) the sum of the lanes
 *   VAND(v,m)             the bits of v ANDed with m (all ones or all zeros per lane)
 *   VKEEP(v)              keeps v in a register (the compiler would fold its load into each use)
 *   TARGET                the function attribute of the instruction set
 *   NAME(f)               f with the instruction set's suffix
 *
 * A kernel is a loop over blocks of kernel taps (up to DW_TAPS: their weights, or their gradient
 * sums, stay in registers), then over output rows, then over vectors of the row. Packed rows
 * (kernels.h) hold every column a tap reads, so all loads are plain; rows read in place
 * (p->w > 0) mask the loads of the few vectors at their borders. Stores and dy loads are masked
 * at the end of a row. The shapes of the fast paths are compile-time constants, so the tap loops
 * unroll and the blocks fold. */

/* Sanitizer builds (SN_SANITIZE, set by make fuzz) leave inlining and unrolling to the compiler:
 * forced, every shape's taps unroll into thousands of instrumented loads, and clang -O1 with
 * ASan+UBSan spent over 10 CPU minutes on dwconv_scalar.c (about 2 s without). Same arithmetic. */
#ifdef SN_SANITIZE
#define DW_INLINE static inline TARGET
#define DW_UNROLL(n)
#else
#define DW_INLINE static inline __attribute__((always_inline)) TARGET
#define DW_PRAGMA(x) _Pragma(#x)
#define DW_UNROLL(n) DW_PRAGMA(GCC unroll n)
#endif
#define DW_TAPS 10

/* Row feeding output row-relative row r, or the zero row outside the plane. */
DW_INLINE const float *dw_row(const sn_dw_params *p, const float *x, int r)
{
	r -= p->top;
	return (unsigned)r < (unsigned)p->rows ? x + (size_t)r * p->ld : p->zero;
}

/* Same NaN rule as the ReLU operator: max(NaN, 0) is 0. */
DW_INLINE V dw_act(V v, int act)
{
	if (act == SN_KACT_NONE) return v;
	v = VMAX(v, VZERO());
	return act == SN_KACT_RELU6 ? VMIN(v, VSET1(6.0f)) : v;
}

#ifndef DW_FLAT_ROWS
/* The taps of kernel rows [i0, i0+nr) x columns [j0, j0+nc) for output row oh. */
DW_INLINE void dw_taps(const sn_dw_params *p, const float *x, int oh, const int SH, int i0, const int nr, int j0,
                       const int nc, const float **src)
{
	for (int i = 0; i < nr; i++) {
		const float *row = dw_row(p, x, oh * SH + (i0 + i) * p->dh);
		for (int j = 0; j < nc; j++) src[i * nc + j] = row + p->coloff[j0 + j];
	}
}

/* Tap load: plain, or at an edge masked to the row's columns (m: this tap column's mask). */
DW_INLINE V dw_load(const float *src, const int edge, VM m) { return edge ? VLOADM(src, m) : VLOAD(src); }

/* The masks of the block's tap columns for the vector at output column c: lanes whose row column
 * lies in [0, w). */
DW_INLINE void dw_masks(const sn_dw_params *p, int c, int j0, const int nc, VM *m)
{
	for (int j = 0; j < nc; j++) {
		int s = c + p->coloff[j0 + j];
		m[j] = VMASK(-s, p->w - s);
	}
}

/* Output columns [lo, hi), whole vectors from 0, whose taps of columns [j0, j0+nc) all read
 * inside rows of w columns; packed rows (w = 0) are all inside but for the last partial vector,
 * which stays inside its phase. */
DW_INLINE void dw_interior(const sn_dw_params *p, int j0, const int nc, int *lo, int *hi)
{
	const int ow = p->ow;
	if (!p->w) { *lo = 0; *hi = ow - ow % VN; return; }
	int mn = p->coloff[j0], mx = mn;
	for (int j = 1; j < nc; j++) { mn = SN_MIN(mn, p->coloff[j0 + j]); mx = SN_MAX(mx, p->coloff[j0 + j]); }
	*lo = SN_MIN(ow, mn < 0 ? (-mn + VN - 1) / VN * VN : 0);
	const int end = SN_MIN(ow, p->w - mx);
	*hi = end - *lo >= VN ? *lo + (end - *lo) / VN * VN : *lo;
}

/* The vectors of one output row: EDGE(c, n) (n <= VN lanes, masked loads on rows read in place)
 * outside [lo, hi), PLAIN(c) inside, `step` columns at a time (a leftover goes to EDGE). */
#define DW_ROW(lo, hi, ow, step, PLAIN, EDGE)                                                       \
	do {                                                                                           \
		int c = 0;                                                                                 \
		for (; c < (lo); c += VN) EDGE(c, SN_MIN(VN, (ow) - c));                                   \
		for (; c + (step) <= (hi); c += (step)) PLAIN(c);                                          \
		for (; c < (ow); c += VN) EDGE(c, SN_MIN(VN, (ow) - c));                                   \
	} while (0)

/* U vectors of outputs at column c (U = 1 or 2, the last one n <= VN lanes): out (+)= the sum
 * of the taps, then the activation. The taps go round DW_CHAINS accumulators per vector, so
 * that 2 * DW_CHAINS FMA chains are in flight rather than one waiting on the FMA latency. */
#define DW_CHAINS 3
DW_INLINE void dw_fwd_vecs(float *out, const int U, const int n, const float *const *src, const V *wv, const int nt,
                           const int nc, int c, const int edge, const VM *m, int init, float bias, int act)
{
	V acc[2][DW_CHAINS];
	for (int u = 0; u < U; u++) {
		const int l = u == U - 1 ? n : VN;
		acc[u][0] = init ? (l == VN ? VLOAD(out + u * VN) : VLOADN(out + u * VN, l)) : VSET1(bias);
		for (int k = 1; k < DW_CHAINS; k++) acc[u][k] = VZERO();
	}
	for (int k = 0; k < nt; k++)
		for (int u = 0; u < U; u++)
			acc[u][k % DW_CHAINS] = VFMA(wv[k], dw_load(src[k] + c + u * VN, edge, m[k % nc]), acc[u][k % DW_CHAINS]);
	for (int u = 0; u < U; u++) {
		const int l = u == U - 1 ? n : VN;
		for (int k = 1; k < DW_CHAINS && k < nt; k++) acc[u][0] = VADD(acc[u][0], acc[u][k]);
		acc[u][0] = dw_act(acc[u][0], act);
		if (l == VN) VSTORE(out + u * VN, acc[u][0]);
		else VSTOREN(out + u * VN, acc[u][0], l);
	}
}

/* R output rows oh .. oh + R - 1 together, for stride == dilation: row oh + q's kernel row i is
 * row oh's kernel row i + q, so nr + R - 1 input rows feed all R and each tap is loaded once for
 * up to R FMAs. src holds the taps of those rows; one chain per output row (R chains in flight),
 * two when R = 2. */
#define DW_ROWS_MAX 4
DW_INLINE void dw_fwd_rows_vec(float *const *out, const int R, const int n, const float *const *src, const V *wv,
                               const int nr, const int nc, int c, const int edge, const VM *m, int init, float bias,
                               int act)
{
	const int CH = R == 2 ? 2 : 1;
	V a[DW_ROWS_MAX][2];
	DW_UNROLL(4)
	for (int q = 0; q < R; q++) {
		a[q][0] = init ? (n == VN ? VLOAD(out[q] + c) : VLOADN(out[q] + c, n)) : VSET1(bias);
		a[q][1] = VZERO();
	}
	DW_UNROLL(16)
	for (int r = 0; r < nr + R - 1; r++)
		DW_UNROLL(16)
		for (int j = 0; j < nc; j++) {
			V xv = dw_load(src[r * nc + j] + c, edge, m[j]);
			VKEEP(xv);   /* one load for all the FMAs, not one folded into each */
			DW_UNROLL(4)
			for (int q = 0; q < R; q++) {
				const int i = r - q, k = i * nc + j;
				if (i >= 0 && i < nr) a[q][k % CH] = VFMA(wv[k], xv, a[q][k % CH]);
			}
		}
	DW_UNROLL(4)
	for (int q = 0; q < R; q++) {
		V y = dw_act(CH == 2 ? VADD(a[q][0], a[q][1]) : a[q][0], act);
		if (n == VN) VSTORE(out[q] + c, y);
		else VSTOREN(out[q] + c, y, n);
	}
}

/* n <= VN outputs at column c: acc[k] += dy * tap k (dy's lanes past n are 0). */
DW_INLINE void dw_wgrad_vec(V *acc, const float *dy, const int n, const float *const *src, const int nt, const int nc,
                            int c, const int edge, const VM *m)
{
	V d = n == VN ? VLOAD(dy) : VLOADN(dy, n);
	for (int k = 0; k < nt; k++) acc[k] = VFMA(d, dw_load(src[k] + c, edge, m[k % nc]), acc[k]);
}

/* Forward over one block of taps: the first block starts from the bias (or, with p->init, from
 * y), the last one applies the activation. Row pairs where the stride equals the dilation. */
DW_INLINE void dw_fwd_block(const sn_dw_params *p, const float *x, const float *w, float bias, float *y,
                            const int KH, const int KW, const int SH, int i0, const int nr, int j0, const int nc)
{
	V wv[16];   /* DW_TAPS are used; the any kernel's runtime block sizes hide that bound from the compiler */
	VM m[8];
	const float *src[DW_TAPS + (DW_ROWS_MAX - 1) * 8];
	const int ow = p->ow, init = i0 || j0 ? 1 : p->init, act = i0 + nr == KH && j0 + nc == KW ? p->act : 0;
	const int ragged = p->w != 0;
	int lo, hi, oh = 0;
	for (int i = 0; i < nr; i++)
		for (int j = 0; j < nc; j++) wv[i * nc + j] = VSET1(w[(i0 + i) * KW + j0 + j]);
	dw_interior(p, j0, nc, &lo, &hi);
#define DW_EDGE_MASKS(c) if (ragged) dw_masks(p, c, j0, nc, m)
	if (p->dh == SH)
		for (; oh + DW_ROWS_MAX <= p->oh; oh += DW_ROWS_MAX) {
			float *o[DW_ROWS_MAX];
			for (int q = 0; q < DW_ROWS_MAX; q++) o[q] = y + (size_t)(oh + q) * ow;
			dw_taps(p, x, oh, SH, i0, nr + DW_ROWS_MAX - 1, j0, nc, src);
#define PLAIN(c) dw_fwd_rows_vec(o, DW_ROWS_MAX, VN, src, wv, nr, nc, c, 0, m, init, bias, act)
#define EDGE(c, n) do { DW_EDGE_MASKS(c); dw_fwd_rows_vec(o, DW_ROWS_MAX, n, src, wv, nr, nc, c, ragged, m, init, bias, act); } while (0)
			DW_ROW(lo, hi, ow, VN, PLAIN, EDGE);
#undef PLAIN
#undef EDGE
		}
	for (; oh < p->oh; oh++) {
		float *o = y + (size_t)oh * ow;
		dw_taps(p, x, oh, SH, i0, nr, j0, nc, src);
#define PLAIN(c) dw_fwd_vecs(o + c, 2, VN, src, wv, nr * nc, nc, c, 0, m, init, bias, act)
#define EDGE(c, n) do { DW_EDGE_MASKS(c); dw_fwd_vecs(o + c, 1, n, src, wv, nr * nc, nc, c, ragged, m, init, bias, act); } while (0)
		DW_ROW(lo, hi, ow, 2 * VN, PLAIN, EDGE);
#undef PLAIN
#undef EDGE
	}
}

DW_INLINE void dw_wgrad_block(const sn_dw_params *p, const float *x, const float *dy, float *dw,
                              const int KW, const int SH, int i0, const int nr, int j0, const int nc)
{
	V acc[DW_TAPS];
	VM m[8];
	const float *src[DW_TAPS];
	const int ow = p->ow, ragged = p->w != 0;
	int lo, hi;
	for (int k = 0; k < nr * nc; k++) acc[k] = VZERO();
	dw_interior(p, j0, nc, &lo, &hi);
	for (int oh = 0; oh < p->oh; oh++) {
		const float *d = dy + (size_t)oh * ow;
		dw_taps(p, x, oh, SH, i0, nr, j0, nc, src);
#define PLAIN(c) dw_wgrad_vec(acc, d + c, VN, src, nr * nc, nc, c, 0, m)
#define EDGE(c, n) do { DW_EDGE_MASKS(c); dw_wgrad_vec(acc, d + c, n, src, nr * nc, nc, c, ragged, m); } while (0)
		DW_ROW(lo, hi, ow, VN, PLAIN, EDGE);
#undef PLAIN
#undef EDGE
	}
#undef DW_EDGE_MASKS
	for (int i = 0; i < nr; i++)
		for (int j = 0; j < nc; j++) dw[(i0 + i) * KW + j0 + j] += VHSUM(acc[i * nc + j]);
}

/* Blocks of R kernel rows x C kernel columns (R*C <= DW_TAPS), the last ones cut to what is
 * left; each block size is passed as a constant so the fast paths unroll completely. */
#define DW_BLOCK_ROWS(KW) ((KW) <= 3 ? 3 : (KW) <= 5 ? 2 : 1)
#define DW_BLOCK_COLS(KW) ((KW) <= 5 ? (KW) : 8)

DW_INLINE void dw_block(const sn_dw_params *p, const float *x, const float *in, float bias, float *out, const int wgrad,
                        const int KH, const int KW, const int SH, int i0, const int nr, int j0, const int nc)
{
	if (wgrad) dw_wgrad_block(p, x, in, out, KW, SH, i0, nr, j0, nc);
	else dw_fwd_block(p, x, in, bias, out, KH, KW, SH, i0, nr, j0, nc);
}

DW_INLINE void dw_plane(const sn_dw_params *p, const float *x, const float *in, float bias, float *out,
                        const int wgrad, const int KH, const int KW, const int SH)
{
	const int R = DW_BLOCK_ROWS(KW), C = DW_BLOCK_COLS(KW);
	for (int i0 = 0; i0 < KH; i0 += R)
		for (int j0 = 0; j0 < KW; j0 += C) {
			const int full_r = i0 + R <= KH, full_c = j0 + C <= KW;
			if (full_r && full_c) dw_block(p, x, in, bias, out, wgrad, KH, KW, SH, i0, R, j0, C);
			else if (full_r) dw_block(p, x, in, bias, out, wgrad, KH, KW, SH, i0, R, j0, KW % C);
			else if (full_c) dw_block(p, x, in, bias, out, wgrad, KH, KW, SH, i0, KH % R, j0, C);
			else dw_block(p, x, in, bias, out, wgrad, KH, KW, SH, i0, KH % R, j0, KW % C);
		}
}

#define DW_DEFINE(shape, KH, KW, SH)                                                               \
	TARGET void NAME(sn_f32_dwconv_##shape)(const sn_dw_params *p, const float *x, const float *w, \
	                                        float bias, float *y)                                 \
	{ dw_plane(p, x, w, bias, y, 0, KH, KW, SH); }                                                \
	TARGET void NAME(sn_f32_dwconv_wgrad_##shape)(const sn_dw_params *p, const float *x,          \
	                                              const float *dy, float *dw)                     \
	{ dw_plane(p, x, dy, 0.0f, dw, 1, KH, KW, SH); }

DW_DEFINE(3x3s1, 3, 3, 1)
DW_DEFINE(3x3s2, 3, 3, 2)
DW_DEFINE(5x5s1, 5, 5, 1)
DW_DEFINE(5x5s2, 5, 5, 2)
DW_DEFINE(any, p->kh, p->kw, p->sh)

/* Flat kernel (sn_dw_flat): the plane as one run of n = oh * ow outputs, whole vectors across row
 * ends. Tap (i, j) reads xf + p + row[i] + off[j]; a column that crosses the row's edge (mask[j])
 * is summed on its own and ANDed with its mask before joining the others, so no lane sees a
 * neighbouring row's value, NaN included. */
DW_INLINE void dw_flat_vec(const sn_dw_flat *f, const float *xf, const V *wv, int p, const int n, float bias,
                           float *y, const int KH, const int KW)
{
	V acc = VSET1(bias);
	for (int j = 0; j < KW; j++) {
		const float *src = xf + p + f->off[j];
		V s = VMUL(wv[j], VLOAD(src + f->row[0]));
		for (int i = 1; i < KH; i++) s = VFMA(wv[i * KW + j], VLOAD(src + f->row[i]), s);
		acc = VADD(acc, f->mask[j] ? VAND(s, VLOAD(f->mask[j] + p)) : s);
	}
	acc = dw_act(acc, f->act);
	if (n == VN) VSTORE(y + p, acc);
	else VSTOREN(y + p, acc, n);
}

DW_INLINE void dw_flat(const sn_dw_flat *fp, const float *xf, const float *w, float bias, float *y, const int KH,
                       const int KW)
{
	V wv[KH * KW];
	for (int k = 0; k < KH * KW; k++) wv[k] = VSET1(w[k]);
	/* a local copy: its offsets and masks stay in registers, where the caller's struct was read
	 * again for every vector (the compiler cannot tell that y's stores leave it alone) */
	const sn_dw_flat local = *fp, *f = &local;
	int p = 0;
	for (; p + 2 * VN <= f->n; p += 2 * VN) {
		dw_flat_vec(f, xf, wv, p, VN, bias, y, KH, KW);
		dw_flat_vec(f, xf, wv, p + VN, VN, bias, y, KH, KW);
	}
	for (; p < f->n; p += VN) dw_flat_vec(f, xf, wv, p, SN_MIN(VN, f->n - p), bias, y, KH, KW);
}

#define DW_FLAT(K) dw_flat(f, xf, w, bias, y, K, K)
#endif

/* Flat kernel walking rows (sn_dw_flat, stride 1): the vectors start at row starts, so that a
 * vector's columns, and its masks, are the same on every row; the loop runs down each column of
 * vectors with its masks fixed. Where dh == 1, R output rows at a time: their R + KH - 1 input
 * rows are loaded once for all the R rows' taps (R * KW * KH FMAs for (R + KH - 1) * KW loads).
 * Masked loads read zeros outside the row, so no lane sees a neighbouring row's value; the
 * lanes past the row's end are not stored. x points at the first column's tap; col[j] is column
 * j's offset from it, j where the columns are adjacent (dw == 1: a constant, so that every load
 * addresses from a few registers). Needs 32 registers at R = 2 for 5x5 (KH * KW weights, 2R
 * sums). */
#define DW_FLAT_RMAX 4
#ifndef DW_FLAT_CHAINS
#define DW_FLAT_CHAINS(R) ((R) == 1 ? 4 : (R) == 2 ? 3 : 2)
#endif
DW_INLINE void dw_flat_rows_vec(const float *x, const int *row, const int *col, const int adj, const V *wv,
                                const VM *m, const int R, const int n, float bias, int act, float *y, int ow,
                                const int KH, const int KW)
{
	const int CH = DW_FLAT_CHAINS(R);
	V a[DW_FLAT_RMAX][4];
	DW_UNROLL(4)
	for (int q = 0; q < R; q++) {
		a[q][0] = VSET1(bias);
		for (int h = 1; h < CH; h++) a[q][h] = VZERO();
	}
	DW_UNROLL(8)
	for (int r = 0; r < KH + R - 1; r++)
		DW_UNROLL(8)
		for (int j = 0; j < KW; j++) {
			/* R = 1: any dh (row[]); else rows one apart */
			V xv = VLOADM(x + (R == 1 ? row[r] : r * ow) + (adj ? j : col[j]), m[j]);
			DW_UNROLL(4)
			for (int q = 0; q < R; q++) {
				const int i = r - q, k = i * KW + j;
				if (i >= 0 && i < KH) a[q][k % CH] = VFMA(wv[k], xv, a[q][k % CH]);
			}
		}
	DW_UNROLL(4)
	for (int q = 0; q < R; q++) {
		for (int h = 1; h < CH; h++) a[q][0] = VADD(a[q][0], a[q][h]);
		V v = dw_act(a[q][0], act);
		if (n == VN) VSTORE(y + (size_t)q * ow, v);
		else VSTOREN(y + (size_t)q * ow, v, n);
	}
}

DW_INLINE void dw_flat_rows_adj(const sn_dw_flat *f, const float *xf, const V *wv, float bias, float *y,
                                const int adj, const int ow, const int KH, const int KW, const int R)
{
	int row[5], col[5];
	for (int i = 0; i < KH; i++) row[i] = f->row[i];
	for (int j = 0; j < KW; j++) col[j] = f->off[j] - f->off[0];
	const int oh = f->n / ow, act = f->act, rows = KH == 1 || row[1] == ow;
	xf += f->off[0];
	for (int c = 0; c < ow; c += VN) {
		VM m[5];
		const int n = SN_MIN(VN, ow - c);
		for (int j = 0; j < KW; j++) m[j] = VMASK(-(c + f->off[j]), ow - (c + f->off[j]));
		int t = 0;
		if (rows) {
			for (; t + R <= oh; t += R) {
				const size_t p = (size_t)t * ow + c;
				dw_flat_rows_vec(xf + p, row, col, adj, wv, m, R, n, bias, act, y + p, ow, KH, KW);
			}
			if (R > 2 && t + 2 <= oh) {
				const size_t p = (size_t)t * ow + c;
				dw_flat_rows_vec(xf + p, row, col, adj, wv, m, 2, n, bias, act, y + p, ow, KH, KW);
				t += 2;
			}
		}
		for (; t < oh; t++) {
			const size_t p = (size_t)t * ow + c;
			dw_flat_rows_vec(xf + p, row, col, adj, wv, m, 1, n, bias, act, y + p, ow, KH, KW);
		}
	}
}

DW_INLINE void dw_flat_rows(const sn_dw_flat *f, const float *xf, const float *w, float bias, float *y, const int KH,
                            const int KW, const int R)
{
	V wv[25];
	for (int k = 0; k < KH * KW; k++) wv[k] = VSET1(w[k]);
	int adj = 1;
	for (int j = 1; j < KW; j++) adj &= f->off[j] - f->off[0] == j;
	/* the common widths as constants: every load then addresses from one register */
	if (!adj) dw_flat_rows_adj(f, xf, wv, bias, y, 0, f->ow, KH, KW, R);
	else if (f->ow == 28) dw_flat_rows_adj(f, xf, wv, bias, y, 1, 28, KH, KW, R);
	else if (f->ow == 14) dw_flat_rows_adj(f, xf, wv, bias, y, 1, 14, KH, KW, R);
	else if (f->ow == 7) dw_flat_rows_adj(f, xf, wv, bias, y, 1, 7, KH, KW, R);
	else dw_flat_rows_adj(f, xf, wv, bias, y, 1, f->ow, KH, KW, R);
}
#ifdef DW_FLAT_ROWS
#define DW_FLAT(K) dw_flat_rows(f, xf, w, bias, y, K, K, DW_FLAT_ROWS(K))
#endif

TARGET void NAME(sn_f32_dwconv_flat_3x3)(const sn_dw_flat *f, const float *xf, const float *w, float bias, float *y)
{
	DW_FLAT(3);
}

TARGET void NAME(sn_f32_dwconv_flat_5x5)(const sn_dw_flat *f, const float *xf, const float *w, float bias, float *y)
{
	DW_FLAT(5);
}

#ifndef DW_FLAT_ROWS

/* Zeros over dst[0, lo) and dst[hi, L), in whole vectors: the first may spill into [lo, hi),
 * written after, the last up to VN - 1 floats past L, into the phase's slack. */
DW_INLINE void dw_zero_margins(float *dst, int lo, int hi, int L)
{
	V z = VZERO();
	VKEEP(z);   /* or the compiler calls memset for these few floats */
	for (int q = 0; q < lo; q += VN) VSTORE(dst + q, z);
	for (int q = hi; q < L; q += VN) VSTORE(dst + q, z);
}

/* dst[q] = src[s*q] for q < n */
DW_INLINE void dw_copy(const float *src, int s, int n, float *dst)
{
	int q = 0;
	if (s == 1)
		for (; q + VN <= n; q += VN) VSTORE(dst + q, VLOAD(src + q));
	for (; q < n; q++) dst[q] = src[(size_t)s * q];
}

/* Both phases of a stride-2 row in one pass: d0[q] = row[2q - padl], d1[q] = row[2q + 1 - padl]
 * over their ranges [lo[ph], hi[ph]), which differ by at most one column at each end. */
DW_INLINE void dw_copy_s2(const float *row, int padl, const int *lo, const int *hi, float *d0, float *d1)
{
	const int qa = SN_MAX(lo[0], lo[1]), qb = SN_MIN(hi[0], hi[1]);
	int q = qa;
	/* reads row[2q - padl, 2q - padl + 2(qb - q)): inside, as qb <= hi[1]; the last vector's
	 * lanes past qb store zeros into the margin (or the slack), the edges below come after */
	for (; q < qb; q += VN) {
		V e, o;
		VDEINT2(row + 2 * q - padl, SN_MIN(2 * (qb - q), 2 * VN), e, o);
		VSTORE(d0 + q, e);
		VSTORE(d1 + q, o);
	}
	for (q = lo[0]; q < qa; q++) d0[q] = row[2 * q - padl];
	for (q = SN_MAX(qb, lo[0]); q < hi[0]; q++) d0[q] = row[2 * q - padl];
	for (q = lo[1]; q < qa; q++) d1[q] = row[2 * q + 1 - padl];
	for (q = SN_MAX(qb, lo[1]); q < hi[1]; q++) d1[q] = row[2 * q + 1 - padl];
}

/* Packs x (sn_dw_pack): per phase, the zero margins of every row and, but at stride 2, the data;
 * stride 2 then copies both phases together. */
TARGET void NAME(sn_f32_dw_pack)(const sn_dw_pack *k, const float *x, float *xp)
{
	const int sw = k->sw, L = (int)k->phase - SN_DW_SLACK;
	int lo[2] = {0, 0}, hi[2] = {0, 0};
	for (int ph = 0; ph < sw; ph++) {
		/* phase column q holds source column sw*q + ph - padl: those in [0, w) are q in [l, h) */
		int l = sn_clampi(sn_ceil_div(k->padl - ph, sw), 0, L), h = sn_clampi(sn_ceil_div(k->w + k->padl - ph, sw), l, L);
		if (ph < 2) { lo[ph] = l; hi[ph] = h; }
		for (int r = 0; r < k->h; r++) {
			float *dst = xp + ((size_t)r * sw + ph) * k->phase;
			dw_zero_margins(dst, l, h, L);
			if (sw != 2) dw_copy(x + (size_t)r * k->w + (sw * l + ph - k->padl), sw, h - l, dst + l);
		}
	}
	if (sw == 2)
		for (int r = 0; r < k->h; r++) {
			float *dst = xp + (size_t)r * 2 * k->phase;
			dw_copy_s2(x + (size_t)r * k->w, k->padl, lo, hi, dst, dst + k->phase);
		}
	float *zero = xp + (size_t)k->h * sw * k->phase;
	for (size_t q = 0; q < sw * k->phase; q += VN) VSTORE(zero + q, VZERO());
}

/* A plane's quarters (sn_dw_quarters) over the zeros the caller left in xq: per row parity, the
 * rows inside the plane, each split into its even and odd columns by whole vectors. The lanes
 * past the quarter row's end are zeros (columns past 2 ow are not read: a row wider than twice
 * the output would put them there), so the spill of its last vector (up to VN - 1 floats into the
 * next row, or into the slack after the quarter) leaves the rows and columns outside the plane
 * zero. */
TARGET void NAME(sn_f32_dw_quarters)(const sn_dw_quarters *k, const float *x, float *xq)
{
	const int cols = SN_MIN(k->ow, (k->w + 1) / 2);   /* columns with data in the even quarter */
	const int reach = SN_MIN(2 * cols, k->w);          /* the row's columns they hold: no more */
	for (int a = 0; a < 2; a++) {
		const int u1 = SN_MIN(k->rows, (k->h - a + 1) / 2 + k->front);   /* rows 2 (u - front) + a < h */
		for (int u = k->front; u < u1; u++) {
			const float *row = x + (size_t)(2 * (u - k->front) + a) * k->w;
			float *e = xq + (size_t)2 * a * k->size + (size_t)u * k->ow, *o = e + k->size;
			for (int q = 0; q < cols; q += VN) {
				V ev, ov;
				VDEINT2(row + 2 * q, SN_MIN(2 * VN, reach - 2 * q), ev, ov);
				VSTORE(e + q, ev);
				VSTORE(o + q, ov);
			}
		}
	}
}
#endif
