/* The int8 SpMM of q8_internal.h, written once for both vector widths: the file that includes it
 * includes q8_requant_ymm.h or q8_requant_zmm.h first (q8v: Q8V_LANES int32 lanes, its
 * requantization and stores) and defines, for its instruction set,
 *   Q8_TARGET                  the target attribute of its functions
 *   q8_x, q8_xprep(v)          a vector of quads of unsigned bytes as the product takes them
 *   q8_w, q8_wbcast(w)         one channel's quad of weights (4 signed bytes in an int32) in every lane
 *   q8_dot(acc, x, w)          acc + the four products of each lane, exact in int32
 *   Q8S_NB                     channels of a block run at once (their accumulators fill the registers)
 *   Q8S_RUN, Q8S_PANEL         the functions' names.
 *
 * A step is 4 L pixels (L = Q8V_LANES): one vector of bytes of each input row. A quad of the
 * block's rows is four such vectors, interleaved by bytes then by 16-bit pairs (vpunpck*, within
 * 128-bit lanes) into four vectors of L quads, one per pixel; each meets the channel's broadcast
 * quad of weights in one q8_dot. The panel stores each step's pixels in the order the
 * interleaving reads them (slot(): 4-byte groups transposed), so that vector t of the result
 * holds pixels [t L, t L + L) in order and stores straight. A step with fewer pixels computes
 * only the vectors it needs (NV). Pixels past n are read from the panel (whatever it holds),
 * never stored. */
#include "kernels/q8_internal.h"

enum { Q8S_L = Q8V_LANES, Q8S_STEP = 4 * Q8V_LANES, Q8S_T = SN_Q8_SPMM_TILE };

#if Q8V_LANES == 16
#define q8s_lo8 _mm512_unpacklo_epi8
#define q8s_hi8 _mm512_unpackhi_epi8
#define q8s_lo16 _mm512_unpacklo_epi16
#define q8s_hi16 _mm512_unpackhi_epi16
#define q8s_xor80(v) _mm512_xor_si512(v, _mm512_set1_epi8((char)0x80))
#define q8s_slots(v) _mm512_permutexvar_epi32(_mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15), v)
#else
#define q8s_lo8 _mm256_unpacklo_epi8
#define q8s_hi8 _mm256_unpackhi_epi8
#define q8s_lo16 _mm256_unpacklo_epi16
#define q8s_hi16 _mm256_unpackhi_epi16
#define q8s_xor80(v) _mm256_xor_si256(v, _mm256_set1_epi8((char)0x80))
#define q8s_slots(v) _mm256_permutevar8x32_epi32(v, _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7))
#endif

/* Where pixel p of a tile lies in a panel row: in step p / STEP, pixel r = t L + 4 l + e (vector
 * t, 128-bit lane l, byte e) at 16 l + 4 t + e, where the interleaving takes it from. */
static inline int q8s_slot(int p)
{
	const int r = p % Q8S_STEP, t = r / Q8S_L, l = r % Q8S_L / 4, e = r % 4;
	return p - r + 16 * l + 4 * t + e;
}

/* NB channels (from j0) of block b over NV vectors of the step at pixel `at` */
Q8_TARGET Q8_INLINE void q8s_block(const sn_q8_spmm_args *a, const sn_spmm_block *b, int j0, const int NB, const int NV, int at)
{
	q8v acc[4][4];
	for (int j = 0; j < NB; j++)
		for (int t = 0; t < NV; t++) acc[j][t] = q8v_set1(a->corr[b->o0 + j0 + j]);
	const int8_t *w = a->sp->values + b->voff + 4 * j0;
	const int32_t *d = a->sp->deltas + b->doff;
	const uint8_t *x = a->panel + at;
	const size_t wstep = 4 * (size_t)b->nb;
	for (int k = 0; k < b->nnz; k += 4, d += 4, w += wstep) {
		const uint8_t *x0 = x + (size_t)d[0] * Q8S_T, *x1 = x0 + (size_t)d[1] * Q8S_T;
		const uint8_t *x2 = x1 + (size_t)d[2] * Q8S_T, *x3 = x2 + (size_t)d[3] * Q8S_T;
		x = x3;
		const q8v r0 = q8v_load(x0), r1 = q8v_load(x1), r2 = q8v_load(x2), r3 = q8v_load(x3);
		q8v quad[4];
		const q8v lo01 = q8s_lo8(r0, r1), lo23 = q8s_lo8(r2, r3);
		quad[0] = q8s_lo16(lo01, lo23);
		if (NV > 1) quad[1] = q8s_hi16(lo01, lo23);
		if (NV > 2) {
			const q8v hi01 = q8s_hi8(r0, r1), hi23 = q8s_hi8(r2, r3);
			quad[2] = q8s_lo16(hi01, hi23);
			if (NV > 3) quad[3] = q8s_hi16(hi01, hi23);
		}
		q8_w wq[4];
		for (int j = 0; j < NB; j++) {
			int32_t v;
			memcpy(&v, w + 4 * j, 4);
			wq[j] = q8_wbcast(v);
		}
		for (int t = 0; t < NV; t++) {
			const q8_x xt = q8_xprep(quad[t]);
			for (int j = 0; j < NB; j++) acc[j][t] = q8_dot(acc[j][t], xt, wq[j]);
		}
	}
	for (int j = 0; j < NB; j++) {
		const int o = b->o0 + j0 + j;
		const q8v_rq rq = q8v_rq_make(a->mult[a->per_channel ? o : 0], a->y_zp, a->lo, a->hi);
		int8_t *y = a->y + (size_t)o * a->ldr + (size_t)at * a->ldp;
		for (int t = 0; t < NV; t++) {
			const int left = a->n - at - Q8S_L * t;
			q8v_store(y + (size_t)Q8S_L * t * a->ldp, a->ldp, q8v_requant(acc[j][t], &rq), left < Q8S_L ? left : Q8S_L);
		}
	}
}

/* Every block over NV vectors of the step at pixel `at`, Q8S_NB channels at a time */
Q8_TARGET Q8_INLINE void q8s_blocks(const sn_q8_spmm_args *a, const int NV, int at)
{
	for (int k = a->b0; k < a->b1; k++) {
		const sn_spmm_block *b = &a->sp->blocks[k];
		for (int j0 = 0; j0 < b->nb; j0 += Q8S_NB) {
			const int nb = b->nb - j0 < Q8S_NB ? b->nb - j0 : Q8S_NB;
			if (nb == 1) q8s_block(a, b, j0, 1, NV, at);
			else if (nb == 2) q8s_block(a, b, j0, 2, NV, at);
			else q8s_block(a, b, j0, Q8S_NB, NV, at);
		}
	}
}

Q8_TARGET void Q8S_RUN(const sn_q8_spmm_args *a)
{
	for (int at = 0; at < a->n; at += Q8S_STEP) {
		const int n = a->n - at < Q8S_STEP ? a->n - at : Q8S_STEP;
		switch ((n + Q8S_L - 1) / Q8S_L) {
		case 1: q8s_blocks(a, 1, at); break;
		case 2: q8s_blocks(a, 2, at); break;
		case 3: q8s_blocks(a, 3, at); break;
		default: q8s_blocks(a, 4, at); break;
		}
	}
}

/* Contiguous pixels (a conv's rows): a vector a step, its groups moved to their slots; the last
 * partial step through a copy (no read past the row). Else (a Linear's samples) byte by byte. */
Q8_TARGET void Q8S_PANEL(const int8_t *x, size_t xr, size_t xp, int rows, int n, uint8_t *panel)
{
	if (xp != 1) {
		for (int p = 0; p < n; p++) {
			const int8_t *xs = x + (size_t)p * xp;
			uint8_t *d = panel + q8s_slot(p);
			for (int c = 0; c < rows; c++) d[(size_t)c * Q8S_T] = (uint8_t)(xs[(size_t)c * xr] ^ 0x80);
		}
		return;
	}
	for (int c = 0; c < rows; c++) {
		const int8_t *xc = x + (size_t)c * xr;
		uint8_t *d = panel + (size_t)c * Q8S_T;
		int p = 0;
		for (; p + Q8S_STEP <= n; p += Q8S_STEP) q8v_storeu(d + p, q8s_slots(q8s_xor80(q8v_load(xc + p))));
		if (p < n) {
			int8_t t[Q8S_STEP] = {0};
			memcpy(t, xc + p, (size_t)(n - p));
			q8v_storeu(d + p, q8s_slots(q8s_xor80(q8v_load(t))));
		}
	}
}
