/* The fast int8 convolution and Linear (qconv.h): weight packing, the choice of instruction set,
 * the im2col panels and depthwise planes the kernels read, and the split over threads. The
 * arithmetic lives in the kernels (q8_gemm__*.c, q8_dwconv__*.c; q8_internal.h says what each
 * is handed). */
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include "kernels/q8_internal.h"
#include "kernels/qconv.h"

/* ---------------------------------------------------------------- instruction sets */

enum { K_CONV, K_LINEAR, K_DW3S1, K_DW3S2, K_DW5S1, K_DW5S2, K_DWANY, K_GEMV,
       K_C16 = K_GEMV + 1 - K_DW3S1,   /* + a depthwise kind: its channel-vectorised kernel */
       K_N = K_C16 + K_DWANY + 1 };
#define KERNEL_NAMES(isa)                                                                           \
	{"q8_conv_gemm__" #isa, "q8_linear_gemm__" #isa, "q8_dwconv_3x3s1__" #isa, "q8_dwconv_3x3s2__" #isa, \
	 "q8_dwconv_5x5s1__" #isa, "q8_dwconv_5x5s2__" #isa, "q8_dwconv_any__" #isa, "q8_linear_gemv__" #isa, \
	 "q8_dwconv_3x3s1_c16__" #isa, "q8_dwconv_3x3s2_c16__" #isa, "q8_dwconv_5x5s1_c16__" #isa,           \
	 "q8_dwconv_5x5s2_c16__" #isa, "q8_dwconv_any_c16__" #isa}

typedef struct {
	const char *name;
	int (*have)(void);
	sn_q8_gemm_fn gemm;
	sn_q8_dw_fn dw3, dw5, dwany;
	const char *kernel[K_N];
	sn_q8_add_fn add;
	const char *add_name;
	int dw_step;                /* outputs per step of the depthwise kernels (0: one at a time) */
	sn_q8_dwrow_fn dwrow;
	sn_q8_gemm_fn gemv;         /* a Linear of few rows, one row at a time (NULL: the GEMM) */
	void (*dwc16)(const sn_q8_dwc16_args *);   /* the channel-vectorised depthwise (NULL: none) */
	sn_q8_spmm_fn spmm;
	sn_q8_spmm_panel_fn spmm_panel;
	const char *spmm_name;
} q8_isa;
#define SPMM(isa) sn_q8_spmm__##isa, sn_q8_spmm_panel__##isa, "q8_spmm__" #isa

static int have_c(void) { return 1; }

static const q8_isa isas[] = {   /* best last */
	{"scalar", have_c, sn_q8_gemm__scalar, sn_q8_dwconv_any__scalar, sn_q8_dwconv_any__scalar,
	 sn_q8_dwconv_any__scalar, KERNEL_NAMES(scalar), sn_q8_add_ref, "q8_add__scalar", 0, sn_q8_dwrow__scalar, NULL, NULL, SPMM(scalar)},
	{"avx2", sn_cpu_avx2, sn_q8_gemm__avx2, sn_q8_dwconv_3x3__avx2, sn_q8_dwconv_5x5__avx2, sn_q8_dwconv_any__avx2,
	 KERNEL_NAMES(avx2), sn_q8_add__avx2, "q8_add__avx2", 16, sn_q8_dwrow__avx2, sn_q8_gemv__avx2, NULL, SPMM(avx2)},
	{"avxvnni", sn_cpu_avxvnni, sn_q8_gemm__avxvnni, sn_q8_dwconv_3x3__avxvnni, sn_q8_dwconv_5x5__avxvnni,
	 sn_q8_dwconv_any__avxvnni, KERNEL_NAMES(avxvnni), sn_q8_add__avx2, "q8_add__avx2", 16, sn_q8_dwrow__avxvnni, sn_q8_gemv__avxvnni,
	 NULL, SPMM(avxvnni)},   /* no VNNI in an add */
	{"avx512vnni", sn_cpu_avx512vnni, sn_q8_gemm__avx512vnni, sn_q8_dwconv_3x3__avx512vnni,
	 sn_q8_dwconv_5x5__avx512vnni, sn_q8_dwconv_any__avx512vnni, KERNEL_NAMES(avx512vnni), sn_q8_add__avx512vnni,
	 "q8_add__avx512vnni", 32, sn_q8_dwrow__avx512vnni, sn_q8_gemv__avx512vnni, sn_q8_dwconv_c16__avx512vnni,
	 SPMM(avx512vnni)},
};
#define N_ISAS ((int)(sizeof isas / sizeof isas[0]))
static int forced = -1;

static const q8_isa *isa(void)
{
	static int best = -1;   /* a benign race: every thread finds the same */
	if (forced >= 0) return &isas[forced];
	if (best < 0) {
		int b = N_ISAS - 1;
		while (b > 0 && !isas[b].have()) b--;
		best = b;
	}
	return &isas[best];
}

const char *sn_q8_path_name(int i) { return i >= 0 && i < N_ISAS ? isas[i].name : NULL; }

int sn_q8_force_path(const char *name)
{
	if (!name) { forced = -1; return 0; }
	for (int i = 0; i < N_ISAS; i++)
		if (!strcmp(name, isas[i].name)) {
			if (!isas[i].have()) return -1;
			forced = i;
			return 0;
		}
	return -1;
}

sn_q8_add_fn sn_q8_add_path(const char **name)
{
	if (name) *name = isa()->add_name;
	return isa()->add;
}

sn_q8_spmm_fn sn_q8_spmm_path(sn_q8_spmm_panel_fn *panel, const char **name)
{
	if (panel) *panel = isa()->spmm_panel;
	if (name) *name = isa()->spmm_name;
	return isa()->spmm;
}

/* ---------------------------------------------------------------- packing */

sn_q8_pack *sn_q8_pack_new(const int8_t *w, int out_c, int groups, int k)
{
	if (out_c < 1 || groups < 1 || out_c % groups || k < 1 || k > SN_Q8_MAX_TAPS) return NULL;
	sn_q8_pack *pk = calloc(1, sizeof *pk);
	if (!pk) return NULL;
	pk->out_c = out_c;
	pk->groups = groups;
	pk->k = k;
	pk->k4 = (k + 3) / 4;
	pk->og = out_c / groups;
	pk->ob = (pk->og + SN_Q8_MR - 1) / SN_Q8_MR;
	const size_t na = (size_t)groups * pk->ob * pk->k4 * SN_Q8_MR * 4;
	pk->a = aligned_alloc(64, (na + 63) / 64 * 64);
	pk->sumw = malloc((size_t)out_c * sizeof *pk->sumw);
	if (!pk->a || !pk->sumw) { sn_q8_pack_free(pk); return NULL; }
	memset(pk->a, 0, na);
	for (int o = 0; o < out_c; o++) {
		const int grp = o / pk->og, r = o % pk->og;
		int8_t *blk = pk->a + ((size_t)grp * pk->ob + r / SN_Q8_MR) * pk->k4 * SN_Q8_MR * 4 + (r % SN_Q8_MR) * 4;
		int32_t s = 0;
		for (int i = 0; i < k; i++) {
			const int8_t v = w[(size_t)o * k + i];
			blk[(size_t)(i / 4) * SN_Q8_MR * 4 + i % 4] = v;
			s += v;
		}
		pk->sumw[o] = s;
	}
	pk->bytes = sizeof *pk + na + (size_t)out_c * sizeof *pk->sumw;
	return pk;
}

void sn_q8_pack_free(sn_q8_pack *pk)
{
	if (!pk) return;
	free(pk->a);
	free(pk->sumw);
	free(pk);
}

size_t sn_q8_pack_bytes(const sn_q8_pack *pk) { return pk ? pk->bytes : 0; }

/* ---------------------------------------------------------------- shared pieces */

/* Pixels (conv) or rows (Linear) per panel: 6 vectors of 16; the panel of a 3x3 conv over 128
 * channels (110 KiB) stays in L2 while every block of output channels reads it. */
#define NT 96
static size_t up64(size_t n) { return (n + 63) / 64 * 64; }
/* columns per panel when n are cut in `tiles`: even shares, whole vectors of 16 (the last
 * panel of 196 pixels is 36, not 4) */
static int tile_size(int n, int tiles) { return SN_MIN(NT, ((n + tiles - 1) / tiles + 15) / 16 * 16); }
static int threads(void) { return omp_in_parallel() ? 1 : sn_get_threads(); }

/* bias - (x_zp + 128) sum w per output channel */
static void corrections(const sn_q8_conv *p, const sn_q8_pack *pk, int32_t shift, int32_t *corr)
{
	for (int o = 0; o < pk->out_c; o++) corr[o] = sn_q8_corr(p->bias ? p->bias[o] : 0, p->x_zp, shift, pk->sumw[o]);
}

/* Rows [r0, r1) of a group's output channels, cut in `parts` pieces at multiples of 8 (the
 * widest register block). */
static void row_part(int og, int part, int parts, int *r0, int *r1)
{
	const int blocks = (og + 7) / 8;
	*r0 = SN_MIN(og, blocks * part / parts * 8);
	*r1 = SN_MIN(og, blocks * (part + 1) / parts * 8);
}

static sn_q8_gemm_args gemm_args(const sn_q8_conv *p, const sn_q8_pack *pk, const int32_t *corr, int grp, int r0, int r1)
{
	const int o0 = grp * pk->og + r0;
	return (sn_q8_gemm_args){
		.m = r1 - r0, .k4 = pk->k4, .ldb = NT,
		.a = pk->a + ((size_t)grp * pk->ob + r0 / SN_Q8_MR) * pk->k4 * SN_Q8_MR * 4,
		.corr = corr + o0, .mult = p->mult + (p->per_channel ? o0 : 0), .per_channel = p->per_channel,
		.y_zp = p->y_zp, .lo = p->lo, .hi = p->hi};
}

/* ---------------------------------------------------------------- im2col panels */

/* Row (c, i, j) of im2col for pixels [p0, p0 + n) into r: the input that tap (i, j) of channel
 * c sees at each pixel, zp where zero padding lies. */
static inline __attribute__((always_inline)) void im2col_row(const int8_t *xc, const sn_conv_geom *g, int i, int j, int p0, int n, int8_t zp, int8_t *r)
{
	const int off = j * g->dw - g->pl;
	/* output columns whose input column lies inside the row */
	const int lo = SN_MIN(g->ow, SN_MAX(0, sn_ceil_div(-off, g->sw))), hi = SN_MAX(lo, SN_MIN(g->ow, sn_ceil_div(g->w - off, g->sw)));
	int oy = p0 / g->ow, q0 = p0 % g->ow;
	for (int done = 0; done < n; oy++, q0 = 0) {
		const int q1 = SN_MIN(g->ow, q0 + n - done);
		int8_t *out = r + done;   /* out[q - q0]: output column q (never a pointer before r) */
		const int iy = sn_pad_index(oy * g->sh - g->pt + i * g->dh, g->h, g->mode);
		if (iy < 0) {
			memset(out, zp, q1 - q0);
		} else if (g->mode != SN_KPAD_ZEROS) {
			const int8_t *xr = xc + (size_t)iy * g->w;
			for (int q = q0; q < q1; q++) out[q - q0] = xr[sn_pad_index(q * g->sw + off, g->w, g->mode)];
		} else {
			const int8_t *xr = xc + (size_t)iy * g->w;
			const int a = sn_clampi(lo, q0, q1), b = sn_clampi(hi, a, q1);
			memset(out, zp, a - q0);
			if (g->sw == 1) memcpy(out + (a - q0), xr + a + off, b - a);
			else for (int q = a; q < b; q++) out[q - q0] = xr[q * g->sw + off];
			memset(out + (b - q0), zp, q1 - b);
		}
		done += q1 - q0;
	}
}

/* conv_panel's quads for stride 1, no dilation, zero padding, built straight from the input:
 * for each quad and each output row of the tile, the columns where all four taps read inside
 * their input rows are packed from four contiguous streams (a loop that vectorises); the few
 * border columns, taps on padding rows and taps past k are filled one by one. The same bytes
 * as the general path (im2col rows, then the quads). */
static inline __attribute__((always_inline)) void panel_s1(const int8_t *x, const sn_conv_geom *g, int c0, int k,
                                                           int p0, int n, int8_t zp, uint32_t *panel)
{
	const int kk = g->kh * g->kw, hw = g->h * g->w;
	int8_t fill[2][NT];   /* the values of a tap that reads no input: 0 past k, zp on padding */
	memset(fill[0], 0, sizeof fill[0]);
	memset(fill[1], zp, sizeof fill[1]);
	for (int q = 0; q < (k + 3) / 4; q++) {
		uint32_t *d = panel + (size_t)q * NT;
		int oy = p0 / g->ow, q0 = p0 % g->ow;
		for (int done = 0; done < n; oy++, q0 = 0) {
			const int len = SN_MIN(g->ow - q0, n - done);
			/* tap t: value src[t][at[t] + e] at pixel e of the segment, inside [lo[t], hi[t]) */
			const int8_t *src[4];
			int at[4], lo[4], hi[4], ea = 0, eb = len;
			for (int t = 0; t < 4; t++) {
				const int kt = 4 * q + t, iy = kt < k ? oy - g->pt + kt % kk / g->kw : -1;
				if (kt >= k || iy < 0 || iy >= g->h) {
					src[t] = fill[kt < k]; at[t] = 0; lo[t] = 0; hi[t] = len;
					continue;
				}
				const int off = q0 + kt % g->kw - g->pl;   /* input column of pixel e: off + e */
				src[t] = x + (size_t)(c0 + kt / kk) * hw + (size_t)iy * g->w;
				at[t] = off;
				lo[t] = SN_MIN(len, SN_MAX(0, -off));
				hi[t] = SN_MAX(lo[t], SN_MIN(len, g->w - off));
				ea = SN_MAX(ea, lo[t]);
				eb = SN_MIN(eb, hi[t]);
			}
			eb = SN_MAX(ea, eb);
			uint32_t *dd = d + done;
			for (int e = 0; e < len; e++) {   /* the border columns */
				if (e == ea) e = eb;
				if (e >= len) break;
				uint32_t v = 0;
				for (int t = 0; t < 4; t++)
					v |= (uint32_t)(uint8_t)(e >= lo[t] && e < hi[t] ? src[t][at[t] + e] : zp) << 8 * t;
				dd[e] = v ^ 0x80808080u;
			}
			const int8_t *s0 = src[0], *s1 = src[1], *s2 = src[2], *s3 = src[3];   /* indexed, never a pointer before a row */
			const int a0 = at[0], a1 = at[1], a2 = at[2], a3 = at[3];
			for (int e = ea; e < eb; e++)
				dd[e] = ((uint32_t)(uint8_t)s0[a0 + e] | (uint32_t)(uint8_t)s1[a1 + e] << 8 |
				         (uint32_t)(uint8_t)s2[a2 + e] << 16 | (uint32_t)(uint8_t)s3[a3 + e] << 24) ^ 0x80808080u;
			done += len;
		}
		for (int p = n; p < (n + 15) / 16 * 16; p++) d[p] = 0x80808080u;   /* the kernels' last vector */
	}
}

/* The panel [k4][NT][4] of pixels [p0, p0 + n) for input channels [c0, c0 + cg): quad q of
 * pixel p holds im2col rows 4q..4q+3 at p, plus 128 (unsigned). Taps past k and pixels past n
 * up to a multiple of 16 hold 128 (x = 0: they meet zero weights, or are never stored). One
 * clone per vector width, chosen when the library loads. */
__attribute__((target_clones("arch=x86-64-v4", "avx2", "default")))
static void conv_panel(const int8_t *x, const sn_conv_geom *g, int c0, int cg, int p0, int n, int8_t zp, uint8_t *panel)
{
	static const int8_t zeros[NT];
	const int kk = g->kh * g->kw, k = cg * kk, hw = g->h * g->w;
	/* a 1x1 conv without stride or padding reads the input's rows as they are */
	const int direct = kk == 1 && g->sh == 1 && g->sw == 1 && g->pt == 0 && g->pl == 0 && g->oh == g->h && g->ow == g->w;
	if (!direct && g->mode == SN_KPAD_ZEROS && g->sh == 1 && g->sw == 1 && g->dh == 1 && g->dw == 1) {
		panel_s1(x, g, c0, k, p0, n, zp, (uint32_t *)panel);
		return;
	}
	int8_t rows[4][NT];
	for (int q = 0; q < (k + 3) / 4; q++) {
		const int8_t *rp[4];
		for (int t = 0; t < 4; t++) {
			const int kt = 4 * q + t, c = c0 + kt / kk;
			if (kt >= k) rp[t] = zeros;
			else if (direct) rp[t] = x + (size_t)c * hw + p0;
			else {
				im2col_row(x + (size_t)c * hw, g, kt % kk / g->kw, kt % g->kw, p0, n, zp, rows[t]);
				rp[t] = rows[t];
			}
		}
		uint32_t *d = (uint32_t *)(panel + (size_t)q * NT * 4);   /* the panel is 64-aligned */
		for (int p = 0; p < n; p++)   /* written so that it vectorises: the quad of pixel p */
			d[p] = ((uint32_t)(uint8_t)rp[0][p] | (uint32_t)(uint8_t)rp[1][p] << 8 | (uint32_t)(uint8_t)rp[2][p] << 16 |
			        (uint32_t)(uint8_t)rp[3][p] << 24) ^ 0x80808080u;
		for (int p = n; p < (n + 15) / 16 * 16; p++) d[p] = 0x80808080u;   /* the kernels' last vector */
	}
}

/* ---------------------------------------------------------------- depthwise planes */

/* The direct depthwise path: groups == c, out_c a multiple of c; stride 1, or 2 without
 * dilation (q8_internal.h's two plane layouts). */
static int is_depthwise(const sn_conv_geom *g, int groups, int out_c)
{
	return groups == g->c && out_c % g->c == 0 &&
	       ((g->sh == 1 && g->sw == 1) || (g->sh == 2 && g->sw == 2 && g->dw == 1));
}

/* Two layouts of the plane (q8_internal.h's), chosen per layer by the vector steps each needs:
 *  - by rows: each row holds ow outputs rounded up to 32 (whole vectors past ow), and the kernel
 *    runs row by row: a 7x7 output fills 7 of a step's 32 lanes;
 *  - flat: each row holds just the padded columns the outputs read (cols), the rows follow one
 *    another, and the kernel runs over the whole plane as one row of oh * Q outputs (Q per row:
 *    the ow real ones and Q - ow that read across the row's end, computed and dropped): output
 *    (oy, ox) is flat output oy * Q + ox, whose taps lie at the same places as in the rows
 *    layout (stride 2: 2 (oy Q + ox) = 2 oy ldp + 2 ox, with Q = ldp). The outputs go to a
 *    scratch row, and the real ones to y. Slack after the last row covers the last vector. */
static int dw_pairs(const sn_conv_geom *g) { return g->sw == 1 && g->dw > 1; }
static size_t dw_cols(const sn_conv_geom *g) { return (size_t)(g->ow - 1) * g->sw + (size_t)(g->kw - 1) * g->dw + 1; }
static size_t dw_ldp(const sn_conv_geom *g, int flat)
{
	if (flat) return dw_pairs(g) ? 2 * dw_cols(g) : dw_cols(g);
	return (2 * ((size_t)(g->ow + 31) / 32 * 32 + (size_t)g->kw * g->dw) + 2 + 31) / 32 * 32;
}
static size_t dw_q(const sn_conv_geom *g) { return dw_cols(g); }   /* flat outputs per row */
static int dw_rows(const sn_conv_geom *g) { return (g->oh - 1) * g->sh + (g->kh - 1) * g->dh + 1; }
/* int16 after the flat plane's rows that its last vectors read: a row (stride 2: the dropped
 * outputs of the last row read one row further), 2 vectors of 32 outputs at two int16 each,
 * and the taps' reach */
static size_t dw_slack(const sn_conv_geom *g) { return dw_ldp(g, 1) + 2 * 2 * 32 + 4 * (size_t)g->kw * g->dw + 64; }
/* the padded columns one row is built from: ldp (plain), or what the pairs read (ldp / 2 + dw) */
static size_t dw_ucols(const sn_conv_geom *g, int flat) { return dw_pairs(g) ? dw_ldp(g, flat) / 2 + g->dw : dw_ldp(g, flat); }
static size_t dw_plane_bytes(const sn_conv_geom *g, int flat)
{
	return up64(((size_t)dw_rows(g) * dw_ldp(g, flat) + (flat ? dw_slack(g) : 0)) * sizeof(int16_t));
}
static size_t dw_thread_bytes_of(const sn_conv_geom *g, int flat)
{
	return dw_plane_bytes(g, flat) + up64(dw_ucols(g, flat) * sizeof(int16_t)) + (flat ? up64((size_t)g->oh * dw_q(g)) : 0);
}
static size_t dw_thread_bytes(const sn_conv_geom *g) { return SN_MAX(dw_thread_bytes_of(g, 0), dw_thread_bytes_of(g, 1)); }
/* The flat layout when its steps of `step` outputs are fewer than the rows layout's (step 0:
 * the portable path, which runs output by output: rows). */
static int dw_flat(const sn_conv_geom *g, int step)
{
	if (!step) return 0;
	const size_t by_rows = (size_t)g->oh * ((g->ow + step - 1) / step), flat = ((size_t)g->oh * dw_q(g) + step - 1) / step;
	return flat < by_rows;
}

/* Padded row u [cols] of input row xr (NULL: a padding row): the value at padded column c,
 * x_zp where zero padding lies. widen: the instruction set's int8 -> int16 row. */
static inline __attribute__((always_inline)) void dw_padded_row(const int8_t *xr, const sn_conv_geom *g, size_t cols, int16_t zp,
                                                                sn_q8_dwrow_fn widen, int16_t *u)
{
	const size_t left = (size_t)SN_MIN((size_t)g->pl, cols), end = SN_MIN(cols, left + g->w);
	if (!xr || g->mode == SN_KPAD_ZEROS) {
		if (!xr) { for (size_t c = 0; c < cols; c++) u[c] = zp; return; }
		for (size_t c = 0; c < left; c++) u[c] = zp;
		widen(xr, (int)(end - left), u + left);
		for (size_t c = end; c < cols; c++) u[c] = zp;
		return;
	}
	for (size_t c = 0; c < cols; c++) {
		const int s = sn_pad_index((int)c - g->pl, g->w, g->mode);
		u[c] = s < 0 ? zp : xr[s];
	}
}

/* The plane of one input channel xc in the layout of g's stride (q8_internal.h) with rows of ldp
 * int16 built from ucols padded columns each; `slack` int16 of zp after them. Compiled for each
 * vector width, chosen when the library loads: the copies are much of its time. */
__attribute__((target_clones("arch=x86-64-v4", "avx2", "default")))
static void dw_plane(const int8_t *xc, const sn_conv_geom *g, size_t ldp, size_t ucols, size_t slack, int16_t zp,
                     sn_q8_dwrow_fn widen, int16_t *plane, int16_t *u)
{
	const int rows = dw_rows(g);
	for (int r = 0; r < rows; r++) {
		const int iy = sn_pad_index(r - g->pt, g->h, g->mode);
		const int8_t *xr = iy < 0 ? NULL : xc + (size_t)iy * g->w;
		int16_t *row = plane + (size_t)r * ldp;
		if (!dw_pairs(g)) { dw_padded_row(xr, g, ucols, zp, widen, row); continue; }
		dw_padded_row(xr, g, ucols, zp, widen, u);
		for (size_t c = 0; c < ldp / 2; c++) { row[2 * c] = u[c]; row[2 * c + 1] = u[c + g->dw]; }
	}
	for (size_t i = 0; i < slack; i++) plane[(size_t)rows * ldp + i] = zp;
}

static int dw_kind(const sn_conv_geom *g)
{
	if (g->kh == 3 && g->kw == 3) return g->sh == 1 ? K_DW3S1 : K_DW3S2;
	if (g->kh == 5 && g->kw == 5) return g->sh == 1 ? K_DW5S1 : K_DW5S2;
	return K_DWANY;
}

/* The channel-vectorised kernel where the instruction set has one and the layer fits it (one
 * output per channel; q8_internal.h). */
static int use_c16(const q8_isa *s, const sn_conv_geom *g, int out_c)
{
	return s->dwc16 && out_c == g->c && sn_q8_dwc16_fits(g);
}

/* Work items: (block of 16 channels, band of output rows); bands only when the blocks are too
 * few to keep the threads busy (each band builds its first kh - 1 input rows again). */
static void dwconv_c16(const q8_isa *s, const int8_t *x, const sn_conv_geom *g, const sn_q8_conv *p,
                       const sn_q8_pack *pk, int8_t *y, void *ws)
{
	const int nb = (g->c + 15) / 16, T = threads(), kk = g->kh * g->kw;
	const int bands = nb >= 2 * T ? 1 : SN_MIN(g->oh, (2 * T + nb - 1) / nb);
	const size_t per = up64(sn_q8_dwc16_scratch(g));
	#pragma omp parallel for num_threads(T) if (T > 1) schedule(static)
	for (int it = 0; it < nb * bands; it++) {
		const int c0 = 16 * (it / bands), band = it % bands, nc = SN_MIN(16, g->c - c0);
		int32_t corr[16];
		for (int l = 0; l < nc; l++)
			corr[l] = (int32_t)((uint32_t)(p->bias ? p->bias[c0 + l] : 0) - (uint32_t)p->x_zp * (uint32_t)pk->sumw[c0 + l]);
		const sn_q8_dwc16_args a = {
			.g = g, .x = x + (size_t)c0 * g->h * g->w, .nc = nc, .oy0 = g->oh * band / bands,
			.oy1 = g->oh * (band + 1) / bands, .w = p->w + (size_t)c0 * kk, .corr = corr,
			.mult = p->mult + (p->per_channel ? c0 : 0), .per_channel = p->per_channel, .x_zp = p->x_zp,
			.y_zp = p->y_zp, .lo = p->lo, .hi = p->hi, .y = y + (size_t)c0 * g->oh * g->ow,
			.scratch = (char *)ws + (size_t)omp_get_thread_num() * per};
		s->dwc16(&a);
	}
}

static void dwconv(const int8_t *x, const sn_conv_geom *g, int out_c, const sn_q8_conv *p, const sn_q8_pack *pk,
                   int8_t *y, void *ws)
{
	const q8_isa *s = isa();
	if (use_c16(s, g, out_c)) { dwconv_c16(s, x, g, p, pk, y, ws); return; }
	const int kind = dw_kind(g), mul = out_c / g->c, kk = g->kh * g->kw, T = threads(), flat = dw_flat(g, s->dw_step);
	const sn_q8_dw_fn fn = kind == K_DWANY ? s->dwany : kind <= K_DW3S2 ? s->dw3 : s->dw5;
	const size_t per = dw_thread_bytes(g), plane_bytes = dw_plane_bytes(g, flat), ldp = dw_ldp(g, flat), Q = dw_q(g);
	const size_t ucols = dw_ucols(g, flat), u_bytes = up64(ucols * sizeof(int16_t));
	#pragma omp parallel for num_threads(T) if (T > 1) schedule(static)
	for (int c = 0; c < g->c; c++) {
		char *mine = (char *)ws + (size_t)omp_get_thread_num() * per;
		int16_t *plane = (int16_t *)mine, *u = (int16_t *)(mine + plane_bytes);
		int8_t *t = (int8_t *)(mine + plane_bytes + u_bytes);   /* flat: the outputs of every column */
		dw_plane(x + (size_t)c * g->h * g->w, g, ldp, ucols, flat ? dw_slack(g) : 0, (int16_t)p->x_zp, s->dwrow, plane, u);
		for (int m = 0; m < mul; m++) {
			const int o = c * mul + m;
			int8_t *yo = y + (size_t)o * g->oh * g->ow;
			const sn_q8_dw_args a = {
				.kh = g->kh, .kw = g->kw, .sh = g->sh, .dh = g->dh, .xs = g->sw == 1 && !dw_pairs(g) ? 1 : 2,
				.tap = dw_pairs(g) ? 2 * g->dw : 1,
				.oh = flat ? 1 : g->oh, .ow = flat ? (int)(g->oh * Q) : g->ow, .plane = plane, .ldp = ldp,
				.w = p->w + (size_t)o * kk,
				.corr = sn_q8_corr(p->bias ? p->bias[o] : 0, p->x_zp, 0, pk->sumw[o]),
				.mult = p->mult[p->per_channel ? o : 0], .y_zp = p->y_zp, .lo = p->lo, .hi = p->hi,
				.y = flat ? t : yo};
			fn(&a);
			if (flat)
				for (int oy = 0; oy < g->oh; oy++) memcpy(yo + (size_t)oy * g->ow, t + (size_t)oy * Q, (size_t)g->ow);
		}
	}
}

/* ---------------------------------------------------------------- convolution */

static size_t panel_bytes(int k4) { return up64((size_t)k4 * NT * 4); }

size_t sn_q8_conv_ws(const sn_conv_geom *g, int groups, int out_c)
{
	const size_t T = (size_t)sn_get_threads();
	if (is_depthwise(g, groups, out_c))   /* either depthwise kernel: a path may be forced later */
		return T * SN_MAX(dw_thread_bytes(g), out_c == g->c && sn_q8_dwc16_fits(g) ? up64(sn_q8_dwc16_scratch(g)) : 0);
	const int k = g->c / groups * g->kh * g->kw;
	return up64((size_t)out_c * sizeof(int32_t)) + T * panel_bytes((k + 3) / 4);
}

/* Work items: (group, pixel tile, part of the group's output channels); a layer with fewer
 * groups x tiles than threads cuts each group's channels in parts (each builds its panel). */
void sn_q8_conv_run(const int8_t *x, const sn_conv_geom *g, int groups, int out_c, const sn_q8_conv *p,
                const sn_q8_pack *pk, int8_t *y, void *ws)
{
	if (is_depthwise(g, groups, out_c)) { dwconv(x, g, out_c, p, pk, y, ws); return; }
	const q8_isa *s = isa();
	const int P = g->oh * g->ow, cg = g->c / groups, tiles = (P + NT - 1) / NT, T = threads(), size = tile_size(P, tiles);
	const int parts = groups * tiles >= T ? 1 : SN_MIN((T + groups * tiles - 1) / (groups * tiles), (pk->og + 7) / 8);
	int32_t *corr = ws;
	uint8_t *panels = (uint8_t *)ws + up64((size_t)out_c * sizeof *corr);
	corrections(p, pk, 128, corr);
	#pragma omp parallel for num_threads(T) if (T > 1) schedule(dynamic)
	for (int it = 0; it < groups * tiles * parts; it++) {
		const int grp = it / (tiles * parts), tile = it / parts % tiles, part = it % parts;
		const int p0 = tile * size, n = SN_MIN(size, P - p0);
		int r0, r1;
		if (n <= 0) continue;
		row_part(pk->og, part, parts, &r0, &r1);
		if (r0 == r1) continue;
		uint8_t *panel = panels + (size_t)omp_get_thread_num() * panel_bytes(pk->k4);
		conv_panel(x, g, grp * cg, cg, p0, n, (int8_t)p->x_zp, panel);
		sn_q8_gemm_args a = gemm_args(p, pk, corr, grp, r0, r1);
		a.n = n;
		a.b = panel;
		a.y = y + (size_t)(grp * pk->og + r0) * P + p0;
		a.ldr = (size_t)P;
		a.ldp = 1;
		s->gemm(&a);
	}
}

const char *sn_q8_conv_kernel(const sn_conv_geom *g, int groups, int out_c)
{
	if (!is_depthwise(g, groups, out_c)) return isa()->kernel[K_CONV];
	return isa()->kernel[dw_kind(g) + (use_c16(isa(), g, out_c) ? K_C16 : 0)];
}

/* ---------------------------------------------------------------- Linear */

size_t sn_q8_linear_ws(int rows, int k, int out)
{
	return up64((size_t)out * sizeof(int32_t)) + (size_t)sn_get_threads() * panel_bytes((k + 3) / 4);
}

/* The panel of rows [r0, r0 + n) of x: quad q of row r is x[r][4q..4q+3] plus 128; taps past
 * k and rows past n hold 128 (x = 0). */
static void linear_panel(const int8_t *x, int k, int r0, int n, uint8_t *panel)
{
	const int k4 = (k + 3) / 4;
	for (int q = 0; q < k4; q++) memset(panel + (size_t)q * NT * 4 + 4 * n, 0x80, 4 * ((n + 15) / 16 * 16 - n));
	for (int r = 0; r < n; r++) {
		const int8_t *xr = x + (size_t)(r0 + r) * k;
		uint8_t *d = panel + 4 * r;
		for (int i = 0; i < k; i++) d[(size_t)(i / 4) * NT * 4 + i % 4] = (uint8_t)(xr[i] ^ 0x80);
		for (int i = k; i < 4 * k4; i++) d[(size_t)(i / 4) * NT * 4 + i % 4] = 0x80;
	}
}

/* Up to this many rows a Linear runs as one GEMV per row (its weights read once per row) rather
 * than as a GEMM whose panel is 16 columns wide however few rows fill it. */
#define GEMV_ROWS 3
static int use_gemv(const q8_isa *s, int rows) { return s->gemv && rows <= GEMV_ROWS; }

/* Few rows: each row's quads (x + 128) into the scratch, then the output channels cut in parts
 * over the threads, each part a GEMV per row. */
static void linear_gemv(const q8_isa *s, const int8_t *x, int rows, int k, int out, const sn_q8_conv *p,
                        const sn_q8_pack *pk, int8_t *y, const int32_t *corr, uint8_t *xq)
{
	const int T = threads(), parts = SN_MIN(T, (out + 15) / 16);
	const size_t k4b = 4 * (size_t)pk->k4;
	for (int r = 0; r < rows; r++) {
		for (int i = 0; i < k; i++) xq[r * k4b + i] = (uint8_t)(x[(size_t)r * k + i] ^ 0x80);
		memset(xq + r * k4b + k, 0x80, k4b - (size_t)k);
	}
	#pragma omp parallel for num_threads(T) if (T > 1) schedule(static)
	for (int it = 0; it < rows * parts; it++) {
		const int r = it / parts, part = it % parts;
		int r0, r1;
		row_part(out, part, parts, &r0, &r1);
		if (r0 == r1) continue;
		sn_q8_gemm_args a = gemm_args(p, pk, corr, 0, r0, r1);
		a.n = 1;
		a.b = xq + r * k4b;
		a.y = y + (size_t)r * out + r0;
		a.ldr = 1;
		a.ldp = 1;
		s->gemv(&a);
	}
}

/* The GEMM with rows and columns swapped: output channels are its rows, x's rows its columns,
 * stored transposed into y [rows x out]. */
void sn_q8_linear(const int8_t *x, int rows, int k, int out, const sn_q8_conv *p, const sn_q8_pack *pk,
                  int8_t *y, void *ws)
{
	const q8_isa *s = isa();
	if (use_gemv(s, rows)) {
		corrections(p, pk, 128, ws);
		linear_gemv(s, x, rows, k, out, p, pk, y, ws, (uint8_t *)ws + up64((size_t)out * sizeof(int32_t)));
		return;
	}
	const int tiles = (rows + NT - 1) / NT, T = threads(), size = tile_size(rows, tiles);
	const int parts = tiles >= T ? 1 : SN_MIN((T + tiles - 1) / tiles, (out + 7) / 8);
	int32_t *corr = ws;
	uint8_t *panels = (uint8_t *)ws + up64((size_t)out * sizeof *corr);
	corrections(p, pk, 128, corr);
	#pragma omp parallel for num_threads(T) if (T > 1) schedule(dynamic)
	for (int it = 0; it < tiles * parts; it++) {
		const int tile = it / parts, part = it % parts, p0 = tile * size, n = SN_MIN(size, rows - p0);
		int r0, r1;
		if (n <= 0) continue;
		row_part(out, part, parts, &r0, &r1);
		if (r0 == r1) continue;
		uint8_t *panel = panels + (size_t)omp_get_thread_num() * panel_bytes(pk->k4);
		linear_panel(x, k, p0, n, panel);
		sn_q8_gemm_args a = gemm_args(p, pk, corr, 0, r0, r1);
		a.n = n;
		a.b = panel;
		a.y = y + (size_t)p0 * out + r0;
		a.ldr = 1;
		a.ldp = (size_t)out;
		s->gemm(&a);
	}
}

const char *sn_q8_linear_kernel(int rows, int k, int out) { return isa()->kernel[use_gemv(isa(), rows) ? K_GEMV : K_LINEAR]; }
