/* The fast int8 convolution and Linear (qconv.h): weight packing, the choice of instruction set,
 * the im2col panels and depthwise planes the kernels read, and the split over threads. The
 * arithmetic lives in the kernels (q8_gemm__*.c, q8_dwconv__*.c; q8_internal.h says what each
 * is handed). */
#include <emmintrin.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include "kernels/q8_internal.h"
#include "kernels/qconv.h"

/* ---------------------------------------------------------------- instruction sets */

enum { K_CONV, K_LINEAR, K_DW3S1, K_DW3S2, K_DW5S1, K_DW5S2, K_DWANY,
       K_C16 = K_DWANY + 1 - K_DW3S1,   /* + a depthwise kind: its channel-vectorised kernel */
       K_QUAD = 2 * K_C16,              /* + a depthwise kind: its kernel on a plane of bytes */
       K_N = K_QUAD + K_DWANY + 1 };
#define KERNEL_NAMES(isa)                                                                           \
	{"q8_conv_gemm__" #isa, "q8_linear_gemm__" #isa, "q8_dwconv_3x3s1__" #isa, "q8_dwconv_3x3s2__" #isa, \
	 "q8_dwconv_5x5s1__" #isa, "q8_dwconv_5x5s2__" #isa, "q8_dwconv_any__" #isa,                    \
	 "q8_dwconv_3x3s1_c16__" #isa, "q8_dwconv_3x3s2_c16__" #isa, "q8_dwconv_5x5s1_c16__" #isa,      \
	 "q8_dwconv_5x5s2_c16__" #isa, "q8_dwconv_any_c16__" #isa, "q8_dwconv_3x3s1_quad__" #isa,              \
	 "q8_dwconv_3x3s2_quad__" #isa, "q8_dwconv_5x5s1_quad__" #isa, "q8_dwconv_5x5s2_quad__" #isa,       \
	 "q8_dwconv_any_quad__" #isa}

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
	void (*dwc16)(const sn_q8_dwc16_args *);   /* the channel-vectorised depthwise (NULL: none) */
	sn_q8_spmm_fn spmm;
	sn_q8_spmm_panel_fn spmm_panel;
	const char *spmm_name;
	sn_q8_pool_fn pool;         /* a fused 2x2 max-pool's requantization */
	sn_q8_linear_fn linear;
	sn_q8_dwq_fn dwq3, dwq5, dwqany;   /* the depthwise kernels on a plane of bytes (NULL: none) */
} q8_isa;
#define DWQ(isa) sn_q8_dwconv_3x3_quad__##isa, sn_q8_dwconv_5x5_quad__##isa, sn_q8_dwconv_any_quad__##isa
#define SPMM(isa) sn_q8_spmm__##isa, sn_q8_spmm_panel__##isa, "q8_spmm__" #isa

static int have_c(void) { return 1; }

static const q8_isa isas[] = {   /* best last */
	{"scalar", have_c, sn_q8_gemm__scalar, sn_q8_dwconv_any__scalar, sn_q8_dwconv_any__scalar,
	 sn_q8_dwconv_any__scalar, KERNEL_NAMES(scalar), sn_q8_add_ref, "q8_add__scalar", 0, sn_q8_dwrow__scalar, NULL, SPMM(scalar), sn_q8_pool__scalar,
	 sn_q8_linear__scalar, NULL, NULL, NULL},
	{"avx2", sn_cpu_avx2, sn_q8_gemm__avx2, sn_q8_dwconv_3x3__avx2, sn_q8_dwconv_5x5__avx2, sn_q8_dwconv_any__avx2,
	 KERNEL_NAMES(avx2), sn_q8_add__avx2, "q8_add__avx2", 16, sn_q8_dwrow__avx2, NULL, SPMM(avx2),
	 sn_q8_pool__avx2, sn_q8_linear__avx2, NULL, NULL, NULL},
	{"avxvnni", sn_cpu_avxvnni, sn_q8_gemm__avxvnni, sn_q8_dwconv_3x3__avxvnni, sn_q8_dwconv_5x5__avxvnni,
	 sn_q8_dwconv_any__avxvnni, KERNEL_NAMES(avxvnni), sn_q8_add__avx2, "q8_add__avx2", 16, sn_q8_dwrow__avxvnni, NULL,
	 SPMM(avxvnni), sn_q8_pool__avx2, sn_q8_linear__avxvnni, DWQ(avxvnni)},   /* no VNNI in an add or a pool */
	{"avx512vnni", sn_cpu_avx512vnni, sn_q8_gemm__avx512vnni, sn_q8_dwconv_3x3__avx512vnni,
	 sn_q8_dwconv_5x5__avx512vnni, sn_q8_dwconv_any__avx512vnni, KERNEL_NAMES(avx512vnni), sn_q8_add__avx512vnni,
	 "q8_add__avx512vnni", 32, sn_q8_dwrow__avx512vnni, sn_q8_dwconv_c16__avx512vnni,
	 SPMM(avx512vnni), sn_q8_pool__avx512vnni, sn_q8_linear__avx512vnni, DWQ(avx512vnni)},
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

sn_q8_pack *sn_q8_pack_new(const int8_t *w, int out_c, int groups, int k, int taps)
{
	if (out_c < 1 || groups < 1 || out_c % groups || k < 1 || k > SN_Q8_MAX_TAPS || taps < 1 || k % taps) return NULL;
	sn_q8_pack *pk = calloc(1, sizeof *pk);
	if (!pk) return NULL;
	pk->out_c = out_c;
	pk->groups = groups;
	pk->k = k;
	pk->k4 = (k + 3) / 4;
	pk->cq = taps > 1 && k / taps % 4 == 0 ? taps : 0;
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
			const int c = i / taps, tap = i % taps;   /* channel quads: quad (c / 4, tap), byte c % 4 */
			if (pk->cq) blk[(size_t)(c / 4 * taps + tap) * SN_Q8_MR * 4 + c % 4] = v;
			else blk[(size_t)(i / 4) * SN_Q8_MR * 4 + i % 4] = v;
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
	free(pk->lin);
	free(pk->sumw);
	free(pk);
}

size_t sn_q8_pack_bytes(const sn_q8_pack *pk) { return pk ? pk->bytes : 0; }

/* ---------------------------------------------------------------- shared pieces */

/* Pixels (conv) or rows (Linear) per panel: 6 vectors of 16; the panel of a 3x3 conv over 128
 * channels (110 KiB) stays in L2 while every block of output channels reads it. */
#define NT 96
/* The widest panel: a fused pool's tiles are whole pairs of output rows (conv_tiles), so it
 * fuses where 2 ow fit. */
#define NT_POOL_MAX 512
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

/* The padded input's rows and columns: what the taps of the oh x ow outputs reach. */
static int pad_rows(const sn_conv_geom *g) { return (g->oh - 1) * g->sh + (g->kh - 1) * g->dh + 1; }
static size_t pad_cols(const sn_conv_geom *g) { return (size_t)(g->ow - 1) * g->sw + (size_t)(g->kw - 1) * g->dw + 1; }

/* A 1x1 conv without stride or padding reads the input's rows as they are; the others read a
 * padded copy of the input. */
static int reads_direct(const sn_conv_geom *g)
{
	return g->kh * g->kw == 1 && g->sh == 1 && g->sw == 1 && g->pt == 0 && g->pl == 0 && g->oh == g->h && g->ow == g->w;
}
static size_t padded_bytes(const sn_conv_geom *g) { return up64((size_t)g->c * pad_rows(g) * pad_cols(g) + 32); }   /* + quad_runs' slack */

/* d[i] = s[i] ^ flip for i < n, in words of 8 where there are 8 (the last one overlapping):
 * rows of 14 or 28 bytes are too short for a compiler's vectorised loop or a memcpy call */
static inline void xor_row(void *dst, const void *src, int n, uint8_t flip)
{
	uint8_t *d = dst;
	const uint8_t *s = src;
	const uint64_t m = flip * 0x0101010101010101u;
	uint64_t v;
	if (n < 8) { for (int i = 0; i < n; i++) d[i] = s[i] ^ flip; return; }
	for (int i = 0; i + 8 < n; i += 8) { memcpy(&v, s + i, 8); v ^= m; memcpy(d + i, &v, 8); }
	memcpy(&v, s + n - 8, 8);
	v ^= m;
	memcpy(d + n - 8, &v, 8);
}

/* Channels [c0, c1) of x padded as the taps read them, plus 128 (unsigned): plane c of xp
 * holds [pad_rows][pad_cols], the input at (r - pt, col - pl) through the padding mode, zp
 * where zero padding lies. Built once per image: a tap's input for a run of output columns is
 * then a run of bytes (stride sw), whatever the padding. */
static void pad_input(const int8_t *x, const sn_conv_geom *g, int c0, int c1, int8_t zp, uint8_t *xp)
{
	const int R = pad_rows(g), C = (int)pad_cols(g);
	const uint8_t zpu = (uint8_t)zp ^ 0x80;
	/* columns [a, b) read the row itself; the others the padding */
	const int a = SN_MIN(C, g->pl), b = SN_MAX(a, SN_MIN(C, g->pl + g->w));
	if (g->mode == SN_KPAD_ZEROS) {   /* the planes filled with the padding, the input rows copied in */
		const int r0 = SN_MIN(R, g->pt), r1 = SN_MIN(R, g->pt + g->h);
		memset(xp + (size_t)c0 * R * C, zpu, (size_t)(c1 - c0) * R * C);
		for (int c = c0; c < c1; c++)
			for (int r = r0; r < r1; r++)
				xor_row(xp + ((size_t)c * R + r) * C + a, x + ((size_t)c * g->h + r - g->pt) * g->w + (a - g->pl), b - a, 0x80);
		return;
	}
	for (int c = c0; c < c1; c++)
		for (int r = 0; r < R; r++) {
			uint8_t *out = xp + ((size_t)c * R + r) * C;
			const int iy = sn_pad_index(r - g->pt, g->h, g->mode);
			if (iy < 0) { memset(out, zpu, (size_t)C); continue; }
			const int8_t *xr = x + ((size_t)c * g->h + iy) * g->w - g->pl;   /* xr[col]: column col - pl */
			for (int col = 0; col < C; col++) {
				if (col == a) col = b;
				if (col >= C) break;
				const int ix = sn_pad_index(col - g->pl, g->w, g->mode);
				out[col] = ix < 0 ? zpu : (uint8_t)xr[ix + g->pl] ^ 0x80;
			}
			xor_row(out + a, xr + a, b - a, 0x80);
		}
}

/* d[e] = s[0][sw e] | s[1][sw e] << 8 | s[2][sw e] << 16 | s[3][sw e] << 24 for e < len, stride
 * sw 1 or 2, 16 at a time (SSE2: the even bytes of 32 by a mask and a pack, then byte and word
 * interleaves): the runs of a 14-pixel row are too short for a compiler's vectorised loop, and
 * it does not vectorise stride 2. Reads up to 31 bytes past each run (the padded input's and
 * fill's slack) and writes up to 15 words past d + len (the rest of the panel row, written
 * after, or its slack). */
static inline __attribute__((always_inline)) __m128i run16(const uint8_t *p, int sw)
{
	if (sw == 1) return _mm_loadu_si128((const __m128i *)p);
	const __m128i even = _mm_set1_epi16(0xff);
	return _mm_packus_epi16(_mm_and_si128(_mm_loadu_si128((const __m128i *)p), even),
	                        _mm_and_si128(_mm_loadu_si128((const __m128i *)(p + 16)), even));
}
static inline __attribute__((always_inline)) void quad_runs(uint32_t *d, const uint8_t *const s[4], int len, int sw)
{
	for (int e = 0; e < len; e += 16) {
		const size_t i = (size_t)e * sw;
		const __m128i a = run16(s[0] + i, sw), b = run16(s[1] + i, sw), c = run16(s[2] + i, sw), h = run16(s[3] + i, sw);
		const __m128i ab0 = _mm_unpacklo_epi8(a, b), ab1 = _mm_unpackhi_epi8(a, b);
		const __m128i ch0 = _mm_unpacklo_epi8(c, h), ch1 = _mm_unpackhi_epi8(c, h);
		_mm_storeu_si128((__m128i *)(d + e), _mm_unpacklo_epi16(ab0, ch0));
		_mm_storeu_si128((__m128i *)(d + e + 4), _mm_unpackhi_epi16(ab0, ch0));
		_mm_storeu_si128((__m128i *)(d + e + 8), _mm_unpacklo_epi16(ab1, ch1));
		_mm_storeu_si128((__m128i *)(d + e + 12), _mm_unpackhi_epi16(ab1, ch1));
	}
}

/* The panel [k4][ldb][4] of pixels [p0, p0 + n) for input channels [c0, c0 + cg): quad q of
 * pixel p holds im2col rows 4q..4q+3 at p (cq: the pack's channel quads), plus 128 (unsigned),
 * read from xp (pad_input's planes, or NULL where the layer reads x directly). Taps past k and pixels past n up to a
 * multiple of 16 hold 128 (x = 0: they meet zero weights, or are never stored). For each quad
 * and output row the four taps are four runs of bytes: a loop that vectorises. One clone per
 * vector width, chosen when the library loads. */
__attribute__((target_clones("arch=x86-64-v4", "avx2", "default")))
static void conv_panel(const int8_t *x, const uint8_t *xp, const sn_conv_geom *g, int c0, int cg, int cq, int p0, int n,
                       int ldb, uint8_t *panel)
{
	uint8_t fill[2 * NT_POOL_MAX + 32];   /* a tap past k, read as quad_runs reads a run */
	memset(fill, 0x80, sizeof fill);
	const int kk = g->kh * g->kw, k = cg * kk, hw = g->h * g->w;
	const size_t C = pad_cols(g), plane = (size_t)pad_rows(g) * C;
	for (int q = 0; q < (k + 3) / 4; q++) {
		uint32_t *d = (uint32_t *)(panel + (size_t)q * ldb * 4);   /* the panel is 64-aligned */
		if (!xp) {   /* 1x1: rows of x, shifted to unsigned here */
			static const int8_t zeros[NT_POOL_MAX];
			const int8_t *rp[4];
			for (int t = 0; t < 4; t++) rp[t] = 4 * q + t < k ? x + (size_t)(c0 + 4 * q + t) * hw + p0 : zeros;
			for (int p = 0; p < n; p++)
				d[p] = ((uint32_t)(uint8_t)rp[0][p] | (uint32_t)(uint8_t)rp[1][p] << 8 | (uint32_t)(uint8_t)rp[2][p] << 16 |
				        (uint32_t)(uint8_t)rp[3][p] << 24) ^ 0x80808080u;
		} else {
			size_t off[4];   /* tap t of the quad at output (0, 0); SIZE_MAX: past k */
			for (int t = 0; t < 4; t++) {   /* the pack's order of taps (sn_q8_pack.cq) */
				const int kt = 4 * q + t, c = cq ? 4 * (q / cq) + t : kt / kk, tap = cq ? q % cq : kt % kk;
				off[t] = !cq && kt >= k ? SIZE_MAX : (size_t)(c0 + c) * plane + (size_t)(tap / g->kw) * g->dh * C + (size_t)(tap % g->kw) * g->dw;
			}
			int oy = p0 / g->ow, q0 = p0 % g->ow;
			for (int done = 0; done < n; oy++, q0 = 0) {
				const int len = SN_MIN(g->ow - q0, n - done);
				const size_t at = (size_t)oy * g->sh * C + (size_t)q0 * g->sw;
				const uint8_t *s[4];
				for (int t = 0; t < 4; t++) s[t] = off[t] == SIZE_MAX ? fill : xp + off[t] + at;
				uint32_t *dd = d + done;
				if (g->sw <= 2)
					quad_runs(dd, s, len, g->sw);
				else   /* larger strides, one by one (fill read in place) */
					for (int e = 0; e < len; e++) {
						uint32_t v = 0;
						for (int t = 0; t < 4; t++) v |= (uint32_t)s[t][off[t] == SIZE_MAX ? 0 : (size_t)e * g->sw] << 8 * t;
						dd[e] = v;
					}
				done += len;
			}
		}
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
static size_t dw_ldp(const sn_conv_geom *g, int flat)
{
	if (flat) return dw_pairs(g) ? 2 * pad_cols(g) : pad_cols(g);
	return (2 * ((size_t)(g->ow + 31) / 32 * 32 + (size_t)g->kw * g->dw) + 2 + 31) / 32 * 32;
}
static size_t dw_q(const sn_conv_geom *g) { return pad_cols(g); }   /* flat outputs per row */
/* int16 after the flat plane's rows that its last vectors read: a row (stride 2: the dropped
 * outputs of the last row read one row further), 2 vectors of 32 outputs at two int16 each,
 * and the taps' reach */
static size_t dw_slack(const sn_conv_geom *g) { return dw_ldp(g, 1) + 2 * 2 * 32 + 4 * (size_t)g->kw * g->dw + 64; }
/* the padded columns one row is built from: ldp (plain), or what the pairs read (ldp / 2 + dw) */
static size_t dw_ucols(const sn_conv_geom *g, int flat) { return dw_pairs(g) ? dw_ldp(g, flat) / 2 + g->dw : dw_ldp(g, flat); }
static size_t dw_plane_bytes(const sn_conv_geom *g, int flat)
{
	return up64(((size_t)pad_rows(g) * dw_ldp(g, flat) + (flat ? dw_slack(g) : 0)) * sizeof(int16_t));
}
/* A plane's sums for a fused pool (sn_q8_dw_args.acc), in either layout */
static size_t dw_acc_bytes(const sn_conv_geom *g)
{
	return up64(((size_t)g->oh * SN_MAX(dw_q(g), (size_t)g->ow) + SN_Q8_POOL_SLACK) * sizeof(int32_t));
}
static size_t dw_thread_bytes_of(const sn_conv_geom *g, int flat, int pool)
{
	const size_t out = pool ? dw_acc_bytes(g) : flat ? up64((size_t)g->oh * dw_q(g)) : 0;
	return dw_plane_bytes(g, flat) + up64(dw_ucols(g, flat) * sizeof(int16_t)) + out;
}
static size_t dw_thread_bytes(const sn_conv_geom *g, int pool)
{
	return SN_MAX(dw_thread_bytes_of(g, 0, pool), dw_thread_bytes_of(g, 1, pool));
}
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
	const int rows = pad_rows(g);
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

/* The layers of the channel-vectorised kernel (one output per channel; q8_internal.h) on outputs
 * narrower than 14, where a plane's setup outweighs its few steps (7x7 outputs of 960 channels:
 * 0.054 ms against the plane of bytes' 0.071, one thread, Zen 4, 2026-12-07); it pools not, and
 * runs faster unfused. */
static int c16_shape(const sn_conv_geom *g, int out_c) { return out_c == g->c && g->ow < 14 && sn_q8_dwc16_fits(g); }
/* That kernel where the instruction set has one, unless a pool is fused: the plane kernels pool. */
static int use_c16(const q8_isa *s, const sn_conv_geom *g, int out_c, int pool) { return s->dwc16 && !pool && c16_shape(g, out_c); }

/* After a depthwise plane kernel ran for output channel yo: a fused pool requantizes the pooled
 * sums acc (their rows Q apart when flat, else ow), or the flat outputs t (rows Q apart) go to
 * y's rows; t and acc NULL: the kernel wrote y itself. */
static void dw_out(const q8_isa *s, const sn_conv_geom *g, const sn_q8_conv *p, sn_q_mult mult, const int32_t *acc,
                   const int8_t *t, size_t Q, int8_t *yo)
{
	if (acc) {
		const sn_q8_pool_args pa = {.acc = acc, .ld = t ? Q : (size_t)g->ow, .ph = g->oh / 2, .pw = g->ow / 2, .mult = mult,
		                            .y_zp = p->y_zp, .lo = p->lo, .hi = p->hi, .y = yo};
		s->pool(&pa);
	} else if (t)
		for (int oy = 0; oy < g->oh; oy++) xor_row(yo + (size_t)oy * g->ow, t + (size_t)oy * Q, g->ow, 0);
}

/* ---------------------------------------------------------------- depthwise planes of bytes */

/* The kernels on a plane of bytes (sn_q8_dwq_args) where the instruction set has them (VNNI) and
 * the taps of a row are consecutive bytes (no horizontal dilation; is_depthwise: sh == sw),
 * except where the channel-vectorised kernel runs. */
static int use_quads(const q8_isa *s, const sn_conv_geom *g, int out_c, int pool)
{
	return s->dwq3 && g->dw == 1 && !use_c16(s, g, out_c, pool);
}
/* Outputs a step of the widest kernel (4 vectors of 16 lanes); bytes read past the plane's last
 * row (q8_internal.h): a step at the stride, a row (stride 2's flat outputs past the last row
 * read one further), the quads' reach and a vector. */
enum { DWQ_STEP = 64 };
static size_t dwq_slack(const sn_conv_geom *g) { return (size_t)g->sh * (DWQ_STEP + pad_cols(g)) + 4 * (size_t)g->kw + 72; }
static size_t dwq_plane_bytes(const sn_conv_geom *g) { return up64((size_t)pad_rows(g) * pad_cols(g) + dwq_slack(g)); }
static size_t dwq_thread_bytes(const sn_conv_geom *g, int pool)
{
	return dwq_plane_bytes(g) + (pool ? dw_acc_bytes(g) : up64((size_t)g->oh * pad_cols(g)));
}

/* The kernel on a plane of bytes, channel by channel: pad_input's plane of the channel (plus
 * 128) and its slack, read by the out_c / c outputs of the channel; by rows, or flat (the flat
 * outputs go to a scratch row, then the real ones to y) when its steps are fewer. */
static void dwconv_quads(const q8_isa *s, const int8_t *x, const sn_conv_geom *g, int out_c, const sn_q8_conv *p,
                         const sn_q8_pack *pk, int8_t *y, void *ws)
{
	const int kind = dw_kind(g), mul = out_c / g->c, kk = g->kh * g->kw, T = threads();
	const sn_q8_dwq_fn fn = kind == K_DWANY ? s->dwqany : kind <= K_DW3S2 ? s->dwq3 : s->dwq5;
	const size_t C = pad_cols(g), per = dwq_thread_bytes(g, p->pool), plane_bytes = dwq_plane_bytes(g);
	const int flat = dw_flat(g, (4 / g->sh) * (s->dw_step / 2));   /* dw_step: two vectors of lanes */
	const int ph = g->oh / 2, pw = g->ow / 2, oh = p->pool ? 2 * ph : g->oh;
	const size_t yplane = p->pool ? (size_t)ph * pw : (size_t)g->oh * g->ow;
	for (int i = 0; i < T; i++)   /* the planes' slack, which pad_input leaves as it is */
		memset((uint8_t *)ws + (size_t)i * per + (size_t)pad_rows(g) * C, (uint8_t)p->x_zp ^ 0x80, dwq_slack(g));
	#pragma omp parallel for num_threads(T) if (T > 1) schedule(static)
	for (int c = 0; c < g->c; c++) {
		uint8_t *plane = (uint8_t *)ws + (size_t)omp_get_thread_num() * per;
		int8_t *t = (int8_t *)(plane + plane_bytes);   /* flat: the outputs of every column */
		int32_t *acc = p->pool ? (int32_t *)t : NULL;   /* or a pool's sums */
		pad_input(x + (size_t)c * g->h * g->w, g, 0, 1, (int8_t)p->x_zp, plane);
		for (int m = 0; m < mul; m++) {
			const int o = c * mul + m;
			int8_t *yo = y + (size_t)o * yplane;
			const sn_q8_dwq_args a = {
				.kh = g->kh, .kw = g->kw, .sh = g->sh, .dh = g->dh, .oh = flat ? 1 : oh,
				.ow = flat ? (int)(oh * C) : g->ow, .plane = plane, .C = C, .ldy = flat ? oh * C : (size_t)g->ow,
				.w = p->w + (size_t)o * kk, .corr = sn_q8_corr(p->bias ? p->bias[o] : 0, p->x_zp, 128, pk->sumw[o]),
				.mult = p->mult[p->per_channel ? o : 0], .y_zp = p->y_zp, .lo = p->lo, .hi = p->hi,
				.y = flat ? t : yo, .acc = acc};
			fn(&a);
			dw_out(s, g, p, a.mult, acc, flat ? t : NULL, C, yo);
		}
	}
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
	if (use_quads(s, g, out_c, p->pool)) { dwconv_quads(s, x, g, out_c, p, pk, y, ws); return; }
	if (use_c16(s, g, out_c, p->pool)) { dwconv_c16(s, x, g, p, pk, y, ws); return; }
	const int kind = dw_kind(g), mul = out_c / g->c, kk = g->kh * g->kw, T = threads(), flat = dw_flat(g, s->dw_step);
	const sn_q8_dw_fn fn = kind == K_DWANY ? s->dwany : kind <= K_DW3S2 ? s->dw3 : s->dw5;
	const size_t per = dw_thread_bytes(g, p->pool), plane_bytes = dw_plane_bytes(g, flat), ldp = dw_ldp(g, flat), Q = dw_q(g);
	const size_t ucols = dw_ucols(g, flat), u_bytes = up64(ucols * sizeof(int16_t));
	/* a fused pool: the rows of whole windows (not an odd last one), pooled from the sums */
	const int ph = g->oh / 2, pw = g->ow / 2, oh = p->pool ? 2 * ph : g->oh;
	const size_t yplane = p->pool ? (size_t)ph * pw : (size_t)g->oh * g->ow;
	#pragma omp parallel for num_threads(T) if (T > 1) schedule(static)
	for (int c = 0; c < g->c; c++) {
		char *mine = (char *)ws + (size_t)omp_get_thread_num() * per;
		int16_t *plane = (int16_t *)mine, *u = (int16_t *)(mine + plane_bytes);
		int8_t *t = (int8_t *)(mine + plane_bytes + u_bytes);   /* flat: the outputs of every column */
		int32_t *acc = p->pool ? (int32_t *)t : NULL;             /* or a pool's sums */
		dw_plane(x + (size_t)c * g->h * g->w, g, ldp, ucols, flat ? dw_slack(g) : 0, (int16_t)p->x_zp, s->dwrow, plane, u);
		for (int m = 0; m < mul; m++) {
			const int o = c * mul + m;
			int8_t *yo = y + (size_t)o * yplane;
			const sn_q8_dw_args a = {
				.kh = g->kh, .kw = g->kw, .sh = g->sh, .dh = g->dh, .xs = g->sw == 1 && !dw_pairs(g) ? 1 : 2,
				.tap = dw_pairs(g) ? 2 * g->dw : 1,
				.oh = flat ? 1 : oh, .ow = flat ? (int)(oh * Q) : g->ow, .plane = plane, .ldp = ldp,
				.w = p->w + (size_t)o * kk,
				.corr = sn_q8_corr(p->bias ? p->bias[o] : 0, p->x_zp, 0, pk->sumw[o]),
				.mult = p->mult[p->per_channel ? o : 0], .y_zp = p->y_zp, .lo = p->lo, .hi = p->hi,
				.y = flat ? t : yo, .acc = acc};
			fn(&a);
			dw_out(s, g, p, a.mult, acc, flat ? t : NULL, Q, yo);
		}
	}
}

/* ---------------------------------------------------------------- convolution */

static size_t panel_cols_bytes(int k4, int cols) { return up64((size_t)k4 * cols * 4) + 64; }   /* + quad_runs' slack */

/* ---------------------------------------------------------------- quad planes
 * A stride-1 conv whose groups have a multiple of 4 channels reads its input in place, without
 * a panel: each quad of channels becomes one padded plane of words (the 4 channels' bytes of a
 * pixel side by side, plus 128), and the pack's channel quads (sn_q8_pack.cq) make quad
 * (channel quad, tap) of output pixel (oy, ox) the word at (oy + i dh, ox + j dw) of that plane.
 * Counted "flat", p = oy C + ox over the padded width C, that is word p + (i dh C + j dw) of
 * the plane: every quad of a run of outputs is a run of words, at a fixed offset per quad
 * (sn_q8_gemm_args.boff). The GEMM computes C - ow columns per row more than it keeps, and the
 * quads are built once per image (a panel: once per tile and part, per output row). */
static int reads_quads(const sn_conv_geom *g, int groups)
{
	return g->kh * g->kw > 1 && g->c / groups % 4 == 0 && g->sh == 1 && g->sw == 1;
}
/* words of one quad plane: the padded plane, the reach of the last row's taps and vectors */
static size_t quad_plane_words(const sn_conv_geom *g)
{
	return ((size_t)pad_rows(g) * pad_cols(g) + (size_t)(g->kw - 1) * g->dw + 64 + 15) / 16 * 16;
}
static size_t quad_bytes(const sn_conv_geom *g) { return up64((size_t)(g->c / 4) * quad_plane_words(g) * 4); }

/* Quad planes [cq0, cq1) from xp (pad_input's planes, whose slack covers quad_runs' reads) */
static void quad_planes(const uint8_t *xp, const sn_conv_geom *g, int cq0, int cq1, uint32_t *xq)
{
	const size_t plane = (size_t)pad_rows(g) * pad_cols(g);
	for (int cq = cq0; cq < cq1; cq++) {
		const uint8_t *s[4];
		for (int t = 0; t < 4; t++) s[t] = xp + (size_t)(4 * cq + t) * plane;
		quad_runs(xq + (size_t)cq * quad_plane_words(g), s, (int)plane, 1);
	}
}

/* quad q's offset in bytes from its group's first plane (taps: the pack's cq) */
static void quad_offsets(const sn_conv_geom *g, int k4, int taps, int32_t *boff)
{
	const size_t C = pad_cols(g);
	for (int q = 0; q < k4; q++) {
		const int tap = q % taps;
		boff[q] = (int32_t)(((size_t)(q / taps) * quad_plane_words(g) + (size_t)(tap / g->kw) * g->dh * C +
		                     (size_t)(tap % g->kw) * g->dw) * 4);
	}
}

/* ---------------------------------------------------------------- convolution */

/* The GEMM's tiles: `tiles` runs of `size` columns (the last one shorter) of the first P, for
 * panels `ldb` wide, over rows of W columns (the quad planes: C, whose columns past ow are
 * computed and dropped; else ow). A fused pool's are whole pairs of rows (an odd last row is not
 * computed), the others any columns. */
typedef struct { int P, size, tiles, ldb, W; } conv_tiles;
static conv_tiles tiles_of(const sn_conv_geom *g, int pool, int quads)
{
	conv_tiles t = {.W = quads ? (int)pad_cols(g) : g->ow};
	if (!pool) {
		t.P = g->oh * t.W;
		t.tiles = (t.P + NT - 1) / NT;
		t.size = tile_size(t.P, t.tiles);
		t.ldb = NT;
		return t;
	}
	const int unit = 2 * t.W, units = g->oh / 2, fit = SN_MAX(1, NT / unit);
	t.tiles = (units + fit - 1) / fit;
	t.size = (units + t.tiles - 1) / t.tiles * unit;
	t.P = units * unit;
	t.ldb = SN_MAX(NT, (t.size + 15) / 16 * 16);
	return t;
}
/* Output channels per GEMM call where its outputs go through scratch (a fused pool's sums, the
 * quad planes' rows): they stay in L1 until pooled or copied. */
#define CHUNK_ROWS 16
static size_t acc_ld(const conv_tiles *t) { return (size_t)t->ldb + SN_Q8_POOL_SLACK; }
static size_t gemm_thread_bytes(const conv_tiles *t, int k4, int pool, int quads)
{
	const size_t out = pool ? up64(CHUNK_ROWS * acc_ld(t) * sizeof(int32_t)) : quads ? up64(CHUNK_ROWS * (size_t)t->ldb) : 0;
	return (quads ? 0 : panel_cols_bytes(k4, t->ldb)) + out;
}
/* scratch for one image before the threads' parts: corrections, the padded input, the quad
 * planes and their offsets */
static size_t conv_shared_bytes(const sn_conv_geom *g, int groups, int out_c)
{
	const int quads = reads_quads(g, groups);
	const size_t k4 = (size_t)g->c / groups * g->kh * g->kw / 4;
	return up64((size_t)out_c * sizeof(int32_t)) + (reads_direct(g) ? 0 : padded_bytes(g)) +
	       (quads ? quad_bytes(g) + up64(k4 * sizeof(int32_t)) : 0);
}

int sn_q8_conv_pools(const sn_conv_geom *g, int groups, int out_c)
{
	if (g->oh < 2 || g->ow < 2) return 0;
	if (is_depthwise(g, groups, out_c)) return !c16_shape(g, out_c);   /* that kernel pools not */
	return reads_quads(g, groups) || 2 * g->ow <= NT_POOL_MAX;
}

size_t sn_q8_conv_ws(const sn_conv_geom *g, int groups, int out_c, int pool)
{
	const size_t T = (size_t)sn_get_threads();
	if (is_depthwise(g, groups, out_c)) {   /* any depthwise kernel: a path may be forced later */
		const size_t c16 = c16_shape(g, out_c) ? up64(sn_q8_dwc16_scratch(g)) : 0;
		return T * SN_MAX(SN_MAX(dw_thread_bytes(g, pool), c16), g->dw == 1 ? dwq_thread_bytes(g, pool) : 0);
	}
	const int k = g->c / groups * g->kh * g->kw, quads = reads_quads(g, groups);
	const conv_tiles t = tiles_of(g, pool, quads);
	return conv_shared_bytes(g, groups, out_c) + T * gemm_thread_bytes(&t, (k + 3) / 4, pool, quads);
}

/* Output channels [r0, r1) of group grp over one tile (`tile`: the GEMM's operands for its n
 * columns from column p0), CHUNK_ROWS a GEMM call through scratch: with a fused pool, each
 * channel's sums pooled (the tile: whole pairs of rows); else (the quad planes) requantized,
 * the columns below ow of each row kept. */
static void gemm_chunks(const q8_isa *s, const sn_q8_gemm_args *tile, const conv_tiles *tl, const sn_conv_geom *g,
                        const sn_q8_conv *p, const sn_q8_pack *pk, const int32_t *corr, int grp, int r0, int r1, int p0,
                        void *scratch, int8_t *y)
{
	const int ph = g->oh / 2, pw = g->ow / 2, W = tl->W, n = tile->n;
	for (int r = r0; r < r1; r += CHUNK_ROWS) {
		sn_q8_gemm_args a = gemm_args(p, pk, corr, grp, r, SN_MIN(r1, r + CHUNK_ROWS));
		a.n = tile->n;
		a.ldb = tile->ldb;
		a.b = tile->b;
		a.boff = tile->boff;
		if (p->pool) { a.acc = scratch; a.ldr = acc_ld(tl); }
		else { a.y = scratch; a.ldr = (size_t)tl->ldb; a.ldp = 1; }
		s->gemm(&a);
		for (int i = 0; i < a.m; i++) {
			const int o = grp * pk->og + r + i;
			if (p->pool) {
				const sn_q8_pool_args pa = {.acc = a.acc + i * a.ldr, .ld = (size_t)W, .ph = n / (2 * W), .pw = pw,
				                            .mult = p->mult[p->per_channel ? o : 0], .y_zp = p->y_zp, .lo = p->lo,
				                            .hi = p->hi, .y = y + ((size_t)o * ph + p0 / (2 * W)) * pw};
				s->pool(&pa);
				continue;
			}
			for (int oy = p0 / W; oy * W < p0 + n; oy++) {   /* the part of row oy in the tile, below ow */
				const int c0 = SN_MAX(p0 - oy * W, 0), c1 = SN_MIN(SN_MIN(g->ow, W), p0 + n - oy * W);
				if (c1 > c0) xor_row(y + ((size_t)o * g->oh + oy) * g->ow + c0, a.y + i * a.ldr + (oy * W + c0 - p0), c1 - c0, 0);
			}
		}
	}
}

/* Work items: (group, tile, part of the group's output channels); a layer with fewer groups x
 * tiles than threads cuts each group's channels in parts (each builds its panel). */
void sn_q8_conv_run(const int8_t *x, const sn_conv_geom *g, int groups, int out_c, const sn_q8_conv *p,
                const sn_q8_pack *pk, int8_t *y, void *ws)
{
	if (is_depthwise(g, groups, out_c)) { dwconv(x, g, out_c, p, pk, y, ws); return; }
	const q8_isa *s = isa();
	const int quads = reads_quads(g, groups);
	const conv_tiles tl = tiles_of(g, p->pool, quads);
	const int P = g->oh * g->ow, cg = g->c / groups, tiles = tl.tiles, T = threads(), size = tl.size;
	const int parts = groups * tiles >= T ? 1 : SN_MIN((T + groups * tiles - 1) / (groups * tiles), (pk->og + 7) / 8);
	const size_t per = gemm_thread_bytes(&tl, pk->k4, p->pool, quads);
	int32_t *corr = ws;
	uint8_t *xp = reads_direct(g) ? NULL : (uint8_t *)ws + up64((size_t)out_c * sizeof *corr);
	uint32_t *xq = quads ? (uint32_t *)(xp + padded_bytes(g)) : NULL;
	int32_t *boff = quads ? (int32_t *)((char *)xq + quad_bytes(g)) : NULL;
	uint8_t *mine0 = (uint8_t *)ws + conv_shared_bytes(g, groups, out_c);
	corrections(p, pk, 128, corr);
	if (quads) quad_offsets(g, pk->k4, pk->cq, boff);
	if (xp) {
		#pragma omp parallel num_threads(T) if (T > 1)
		{
			#pragma omp for schedule(static)
			for (int c = 0; c < g->c; c++) pad_input(x, g, c, c + 1, (int8_t)p->x_zp, xp);
			if (quads) {   /* after every plane: a quad plane's runs read on into the next plane */
				#pragma omp for schedule(static)
				for (int cq = 0; cq < g->c / 4; cq++) quad_planes(xp, g, cq, cq + 1, xq);
			}
		}
	}
	#pragma omp parallel for num_threads(T) if (T > 1) schedule(dynamic)
	for (int it = 0; it < groups * tiles * parts; it++) {
		const int grp = it / (tiles * parts), tile = it / parts % tiles, part = it % parts;
		const int p0 = tile * size, n = SN_MIN(size, tl.P - p0);
		int r0, r1;
		if (n <= 0) continue;
		row_part(pk->og, part, parts, &r0, &r1);
		if (r0 == r1) continue;
		uint8_t *mine = mine0 + (size_t)omp_get_thread_num() * per;
		sn_q8_gemm_args a = gemm_args(p, pk, corr, grp, r0, r1);
		a.n = n;
		a.ldb = tl.ldb;
		if (quads) {
			a.b = (const uint8_t *)(xq + (size_t)grp * (cg / 4) * quad_plane_words(g)) + (size_t)p0 * 4;
			a.boff = boff;
		} else {
			conv_panel(x, xp, g, grp * cg, cg, pk->cq, p0, n, tl.ldb, mine);
			a.b = mine;
			mine += panel_cols_bytes(pk->k4, tl.ldb);
		}
		if (p->pool || quads) {
			gemm_chunks(s, &a, &tl, g, p, pk, corr, grp, r0, r1, p0, mine, y);
			continue;
		}
		a.y = y + (size_t)(grp * pk->og + r0) * P + p0;
		a.ldr = (size_t)P;
		a.ldp = 1;
		s->gemm(&a);
	}
}

const char *sn_q8_conv_kernel(const sn_conv_geom *g, int groups, int out_c)
{
	if (!is_depthwise(g, groups, out_c)) return isa()->kernel[K_CONV];
	return isa()->kernel[dw_kind(g) + (use_quads(isa(), g, out_c, 0) ? K_QUAD : use_c16(isa(), g, out_c, 0) ? K_C16 : 0)];
}

/* ---------------------------------------------------------------- Linear */

static int out16(int out) { return (out + 15) / 16 * 16; }

sn_q8_pack *sn_q8_linear_pack_new(const int8_t *w, int out, int k)
{
	if (out < 1 || k < 1 || k > SN_Q8_MAX_TAPS) return NULL;
	sn_q8_pack *pk = calloc(1, sizeof *pk);
	if (!pk) return NULL;
	pk->out_c = pk->og = out;
	pk->groups = 1;
	pk->k = k;
	pk->k4 = (k + 3) / 4;
	const size_t n = (size_t)out16(out) * pk->k4 * 4;
	pk->lin = aligned_alloc(64, up64(n));
	pk->sumw = malloc((size_t)out * sizeof *pk->sumw);
	if (!pk->lin || !pk->sumw) { sn_q8_pack_free(pk); return NULL; }
	memset(pk->lin, 0, n);
	for (int o = 0; o < out; o++) {
		const int b = o / SN_Q8_LW, width = SN_MIN(SN_Q8_LW, out16(out) - b * SN_Q8_LW);
		uint8_t *blk = pk->lin + ((size_t)b * pk->k4 * SN_Q8_LW + (size_t)(o - b * SN_Q8_LW)) * 4;
		int32_t s = 0;
		for (int i = 0; i < k; i++) {
			const int8_t v = w[(size_t)o * k + i];
			blk[(size_t)(i / 4) * width * 4 + i % 4] = (uint8_t)(v + 128);
			s += v;
		}
		pk->sumw[o] = s;
	}
	pk->bytes = sizeof *pk + n + (size_t)out * sizeof *pk->sumw;
	return pk;
}

/* The rows at the end of x [rows x k] whose last whole quad reaches past x: the 4 k4 - k bytes
 * after a row lie in the rows after it. */
static int tail_rows(int rows, int k)
{
	const int over = 4 * ((k + 3) / 4) - k;
	return SN_MIN(rows, (over + k - 1) / k);
}

/* corr, rowc, and the padded copy of x's tail rows */
size_t sn_q8_linear_ws(int rows, int k, int out)
{
	return up64((size_t)out16(out) * sizeof(int32_t)) + up64((size_t)rows * sizeof(int32_t)) +
	       up64((size_t)tail_rows(rows, k) * 4 * ((k + 3) / 4));
}

/* -128 times the sum of each row of x [rows x k] (the kernels' weights are w + 128). One clone per
 * vector width, chosen when the library loads. */
__attribute__((target_clones("arch=x86-64-v4", "avx2", "default")))
static void row_sums(const int8_t *x, int rows, int k, int32_t *rowc)
{
	for (int r = 0; r < rows; r++) {
		const int8_t *xr = x + (size_t)r * k;
		int32_t s = 0;
		for (int i = 0; i < k; i++) s += xr[i];
		rowc[r] = (int32_t)(0u - 128u * (uint32_t)s);
	}
}

/* Work items: the output channels cut in up to T parts (whole blocks of the pack where there are
 * enough, else vectors of 16), and the rows in as many bands as the threads left over: cutting
 * the channels reads each weight once. The rows' sums first, on one thread: a pass over x as
 * short as a barrier, which costs a time slice when another process holds a core. */
void sn_q8_linear(const int8_t *x, int rows, int k, int out, const sn_q8_conv *p, const sn_q8_pack *pk,
                  int8_t *y, void *ws)
{
	if (rows < 1) return;
	const sn_q8_linear_fn fn = isa()->linear;
	const int T = threads(), V = out16(out) / 16, po = SN_MIN(T, V), pr = SN_MIN(SN_MAX(1, T / po), rows);
	const int unit = V >= 4 * po ? SN_Q8_LW / 16 : 1, units = (V + unit - 1) / unit;
	int32_t *corr = ws, *rowc = (int32_t *)((char *)ws + up64((size_t)out16(out) * sizeof *corr));
	const int nt = tail_rows(rows, k), k4b = 4 * pk->k4;
	int8_t *last = nt ? (int8_t *)rowc + up64((size_t)rows * sizeof *rowc) : NULL;
	corrections(p, pk, 0, corr);
	for (int o = out; o < out16(out); o++) corr[o] = 0;
	row_sums(x, rows, k, rowc);
	for (int r = 0; r < nt; r++) {
		memcpy(last + (size_t)r * k4b, x + (size_t)(rows - nt + r) * k, (size_t)k);
		memset(last + (size_t)r * k4b + k, 0, (size_t)(k4b - k));
	}
	#pragma omp parallel for num_threads(T) if (T > 1) schedule(static)
	for (int it = 0; it < po * pr; it++) {
		const int part = it / pr, band = it % pr, r0 = rows * band / pr, r1 = rows * (band + 1) / pr;
		const sn_q8_linear_args a = {
			.rows = r1 - r0, .k = k, .out = out, .o0 = SN_MIN(out, 16 * unit * (units * part / po)),
			.o1 = SN_MIN(out, 16 * unit * (units * (part + 1) / po)), .x = x + (size_t)r0 * k,
			.last = last, .last0 = rows - nt - r0, .w = pk->lin, .corr = corr, .rowc = rowc + r0, .mult = p->mult,
			.per_channel = p->per_channel, .y_zp = p->y_zp, .lo = p->lo, .hi = p->hi, .y = y + (size_t)r0 * out};
		if (a.rows > 0 && a.o0 < a.o1) fn(&a);
	}
}

const char *sn_q8_linear_kernel(int rows, int k, int out) { return isa()->kernel[K_LINEAR]; }
