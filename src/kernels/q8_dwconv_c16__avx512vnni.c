/* The channel-vectorised int8 depthwise convolution on AVX-512 VNNI (q8_internal.h's
 * sn_q8_dwc16_args): lane l of every vector is channel c0 + l.
 *  - Each padded input row is transposed once into cols [column][16 channels] (bytes, x_zp on
 *    the padding), then widened into the row's entries: entry t is the int16 pair of padded
 *    columns t sw and t sw + 1 of each channel, what one vpdpwssd multiplies by a tap pair.
 *    Output column ox, tap pair jp reads entry ox + 2 jp / sw (stride 2 keeps the even columns
 *    only). A ring of kh rows of entries holds the rows a row of outputs reads.
 *  - A row of outputs accumulates 4 columns at a time (4 independent chains of vpdpwssd),
 *    requantizes per lane (each channel its multiplier and shifts), and lands in a staging row
 *    [column][16 channels] that is transposed back to the 16 output planes.
 * The arithmetic is q8_requant_zmm.h's, with a multiplier and shifts per lane (q8z_rq_lanes):
 * the same bytes as sn_q8_conv_ref. */
#include "kernels/kernels.h"
#include "kernels/q8_internal.h"
#include "kernels/q8_requant_zmm.h"

#define NX 4   /* output columns a step */

int sn_q8_dwc16_fits(const sn_conv_geom *g)
{
	return g->mode == SN_KPAD_ZEROS && g->dh == 1 && g->dw == 1 && g->sh == g->sw && (g->sh == 1 || g->sh == 2) &&
	       g->kh <= SN_Q8_DWC16_MAXK && g->kw <= SN_Q8_DWC16_MAXK;
}

/* entries per ring row: columns ox + 2 jp / sw for ox < ow, plus a step's reach */
static size_t entries(const sn_conv_geom *g) { return (size_t)g->ow + g->kw + NX; }
/* padded columns of cols: what the entries read, and the transposer's last 16 columns */
static size_t ncols(const sn_conv_geom *g)
{
	const size_t need = entries(g) * g->sw + 2, wrote = (size_t)g->pl + (g->w + 15) / 16 * 16;
	return (need > wrote ? need : wrote) + 16;
}
static size_t up64(size_t n) { return (n + 63) / 64 * 64; }

size_t sn_q8_dwc16_scratch(const sn_conv_geom *g)
{
	return up64((size_t)g->kh * entries(g) * 64) + up64(ncols(g) * 16) + up64((size_t)(g->ow + 15) / 16 * 16 * 16);
}

/* r[16] rows of 16 bytes -> r[j] = column j of the rows (4 rounds of unpacks) */
Q8Z Q8_INLINE void transpose16(__m128i r[16])
{
	__m128i a[16], b[16];
	for (int i = 0; i < 8; i++) {   /* byte pairs of rows 2i, 2i + 1: columns 0-7, 8-15 */
		a[2 * i] = _mm_unpacklo_epi8(r[2 * i], r[2 * i + 1]);
		a[2 * i + 1] = _mm_unpackhi_epi8(r[2 * i], r[2 * i + 1]);
	}
	for (int j = 0; j < 4; j++) {   /* rows 4j..4j+3 in quads: b[4j + q] = columns 4q..4q+3 */
		b[4 * j + 0] = _mm_unpacklo_epi16(a[4 * j], a[4 * j + 2]);
		b[4 * j + 1] = _mm_unpackhi_epi16(a[4 * j], a[4 * j + 2]);
		b[4 * j + 2] = _mm_unpacklo_epi16(a[4 * j + 1], a[4 * j + 3]);
		b[4 * j + 3] = _mm_unpackhi_epi16(a[4 * j + 1], a[4 * j + 3]);
	}
	for (int h = 0; h < 2; h++)     /* rows 8h..8h+7: a[8h + 2q] = columns 4q, 4q+1; a[8h + 2q + 1] = 4q+2, 4q+3 */
		for (int q = 0; q < 4; q++) {
			a[8 * h + 2 * q] = _mm_unpacklo_epi32(b[8 * h + q], b[8 * h + 4 + q]);
			a[8 * h + 2 * q + 1] = _mm_unpackhi_epi32(b[8 * h + q], b[8 * h + 4 + q]);
		}
	for (int q = 0; q < 4; q++) {   /* all 16 rows */
		r[4 * q + 0] = _mm_unpacklo_epi64(a[2 * q], a[8 + 2 * q]);
		r[4 * q + 1] = _mm_unpackhi_epi64(a[2 * q], a[8 + 2 * q]);
		r[4 * q + 2] = _mm_unpacklo_epi64(a[2 * q + 1], a[8 + 2 * q + 1]);
		r[4 * q + 3] = _mm_unpackhi_epi64(a[2 * q + 1], a[8 + 2 * q + 1]);
	}
}

/* Padded input row r as entries (or all x_zp pairs on a padding row). */
Q8Z static void build_row(const sn_q8_dwc16_args *a, int r, uint8_t *cols, __m512i *ent)
{
	const sn_conv_geom *g = a->g;
	const size_t E = entries(g), nb = ncols(g);
	const int iy = r - g->pt;
	const int16_t zp = (int16_t)a->x_zp;
	if (iy < 0 || iy >= g->h) {
		const __m512i pad = _mm512_set1_epi32((int32_t)((uint32_t)(uint16_t)zp | (uint32_t)(uint16_t)zp << 16));
		for (size_t t = 0; t < E; t++) _mm512_store_si512(ent + t, pad);
		return;
	}
	const __m128i zb = _mm_set1_epi8((int8_t)a->x_zp);
	for (int c = 0; c < g->pl; c++) _mm_store_si128((__m128i *)(cols + 16 * c), zb);
	const size_t hw = (size_t)g->h * g->w;
	for (int c0 = 0; c0 < g->w; c0 += 16) {
		const __mmask16 m = g->w - c0 >= 16 ? 0xffff : (__mmask16)((1u << (g->w - c0)) - 1);
		__m128i rows[16];
		for (int l = 0; l < 16; l++)
			rows[l] = l < a->nc ? _mm_maskz_loadu_epi8(m, a->x + l * hw + (size_t)iy * g->w + c0) : _mm_setzero_si128();
		transpose16(rows);
		for (int j = 0; j < 16; j++) _mm_storeu_si128((__m128i *)(cols + 16 * ((size_t)g->pl + c0 + j)), rows[j]);
	}
	for (size_t c = (size_t)g->pl + g->w; c < nb; c++) _mm_store_si128((__m128i *)(cols + 16 * c), zb);
	const __m128i *cv = (const __m128i *)cols;
	for (size_t t = 0; t < E; t++) {
		const __m512i lo = _mm512_cvtepi8_epi32(cv[t * g->sw]), hi = _mm512_cvtepi8_epi32(cv[t * g->sw + 1]);
		_mm512_store_si512(ent + t, _mm512_mask_blend_epi16(0xAAAAAAAAu, lo, _mm512_slli_epi32(hi, 16)));
	}
}

/* The staging row [ow][16] (outputs of 16 channels per column) to row oy of the nc planes. */
Q8Z static void store_row(const sn_q8_dwc16_args *a, int oy, const uint8_t *stage)
{
	const sn_conv_geom *g = a->g;
	const size_t ohw = (size_t)g->oh * g->ow;
	for (int x0 = 0; x0 < g->ow; x0 += 16) {
		__m128i r[16];
		for (int j = 0; j < 16; j++) r[j] = _mm_load_si128((const __m128i *)(stage + 16 * ((size_t)x0 + j)));
		transpose16(r);
		const __mmask16 m = g->ow - x0 >= 16 ? 0xffff : (__mmask16)((1u << (g->ow - x0)) - 1);
		for (int l = 0; l < a->nc; l++) _mm_mask_storeu_epi8(a->y + l * ohw + (size_t)oy * g->ow + x0, m, r[l]);
	}
}

/* KH, KW: the kernel's shape when a constant (its tap pairs stay in registers), else 0 */
Q8Z Q8_INLINE void dwc16(const sn_q8_dwc16_args *a, const int KH, const int KW)
{
	const sn_conv_geom *g = a->g;
	const int kh = KH ? KH : g->kh, kw = KW ? KW : g->kw, pairs = (kw + 1) / 2, sw = g->sw, kk = kh * kw;
	const size_t E = entries(g);
	__m512i *ring = a->scratch;
	uint8_t *cols = (uint8_t *)a->scratch + up64((size_t)kh * E * 64);
	uint8_t *stage = cols + up64(ncols(g) * 16);
	__m512i wv[SN_Q8_DWC16_MAXK][(SN_Q8_DWC16_MAXK + 1) / 2];
	for (int i = 0; i < kh; i++)
		for (int jp = 0; jp < pairs; jp++) {
			int32_t t[16] = {0};
			for (int l = 0; l < a->nc; l++) t[l] = sn_q8_tap_pair(a->w + (size_t)l * kk, i, jp, kw);
			wv[i][jp] = _mm512_loadu_si512(t);
		}
	int32_t cr[16] = {0};
	for (int l = 0; l < a->nc; l++) cr[l] = a->corr[l];
	const __m512i corr = _mm512_loadu_si512(cr);
	const q8z_rq rq = q8z_rq_lanes(a->mult, a->per_channel ? a->nc : 1, a->y_zp, a->lo, a->hi);
	int built = a->oy0 * g->sh;   /* the next padded row to build */
	for (int oy = a->oy0; oy < a->oy1; oy++) {
		for (; built < oy * g->sh + kh; built++) build_row(a, built, cols, ring + (size_t)(built % kh) * E);
		const __m512i *row[SN_Q8_DWC16_MAXK];
		for (int i = 0; i < kh; i++) row[i] = ring + (size_t)((oy * g->sh + i) % kh) * E;
		int ox = 0;
		for (; ox + NX <= g->ow; ox += NX) {
			__m512i acc[NX];
			for (int u = 0; u < NX; u++) acc[u] = corr;
			for (int i = 0; i < kh; i++)
				for (int jp = 0; jp < pairs; jp++) {
					const __m512i *e = row[i] + ox + 2 * jp / sw;
					for (int u = 0; u < NX; u++) acc[u] = _mm512_dpwssd_epi32(acc[u], _mm512_load_si512(e + u), wv[i][jp]);
				}
			for (int u = 0; u < NX; u++)
				_mm_store_si128((__m128i *)(stage + 16 * ((size_t)ox + u)), _mm512_cvtsepi32_epi8(q8z_requant(acc[u], &rq)));
		}
		for (; ox < g->ow; ox++) {
			__m512i acc = corr;
			for (int i = 0; i < kh; i++)
				for (int jp = 0; jp < pairs; jp++) acc = _mm512_dpwssd_epi32(acc, _mm512_load_si512(row[i] + ox + 2 * jp / sw), wv[i][jp]);
			_mm_store_si128((__m128i *)(stage + 16 * (size_t)ox), _mm512_cvtsepi32_epi8(q8z_requant(acc, &rq)));
		}
		store_row(a, oy, stage);
	}
}

Q8Z void sn_q8_dwconv_c16__avx512vnni(const sn_q8_dwc16_args *a)
{
	if (a->g->kh == 3 && a->g->kw == 3) dwc16(a, 3, 3);
	else if (a->g->kh == 5 && a->g->kw == 5) dwc16(a, 5, 5);
	else dwc16(a, 0, 0);
}
