/* The int8 depthwise plane of q8_internal.h, written once for every vector width: the file
 * that includes it includes q8_requant_ymm.h or q8_requant_zmm.h first (q8v and its
 * requantization) and defines Q8_TARGET, q8_pdot(acc, x, w) (acc + each lane's two int16
 * products, exact in int32: vpmaddwd and an add, or VNNI's vpdpwssd) and the names Q8_DW3,
 * Q8_DW5, Q8_DWANY, Q8_DWROW (a plane row's int8 to int16). Two vectors of outputs a step (consecutive, or even and odd ones: xs), each
 * tap pair one load per vector; the 3x3 and 5x5 kernels keep their pairs of weights in registers. */
#include "kernels/q8_internal.h"

/* KH, KW: the kernel's shape when it is a constant, else 0; SPLIT: xs == 1 (q8_internal.h), the
 * two vectors of a step are the even and the odd outputs, else consecutive ones */
Q8_TARGET Q8_INLINE void q8_dw(const sn_q8_dw_args *a, const int KH, const int KW, const int SPLIT)
{
	const int kh = KH ? KH : a->kh, kw = KW ? KW : a->kw, pairs = (kw + 1) / 2, L = Q8V_LANES;
	const size_t second = SPLIT ? 1 : 2 * L;   /* int16 from the first vector's place to the second's */
	q8v wv[5][3];
	for (int i = 0; i < KH; i++)
		for (int jp = 0; jp < (KW + 1) / 2; jp++) wv[i][jp] = q8v_set1(sn_q8_tap_pair(a->w, i, jp, KW));
	const q8v_rq rq = q8v_rq_make(a->mult, a->y_zp, a->lo, a->hi);
	const q8v corr = q8v_set1(a->corr);
	for (int oy = 0; oy < a->oh; oy++) {
		int8_t *y = a->y + (size_t)oy * a->ow;
		for (int ox = 0; ox < a->ow; ox += 2 * L) {
			q8v acc0 = corr, acc1 = corr;
			for (int i = 0; i < kh; i++) {
				const int16_t *row = a->plane + (size_t)(oy * a->sh + i * a->dh) * a->ldp + (size_t)ox * (SPLIT ? 1 : 2);
				for (int jp = 0; jp < pairs; jp++) {
					const q8v w = KH ? wv[i][jp] : q8v_set1(sn_q8_tap_pair(a->w, i, jp, kw));
					const int16_t *v = row + 2 * jp * a->tap;
					acc0 = q8_pdot(acc0, q8v_load(v), w);
					acc1 = q8_pdot(acc1, q8v_load(v + second), w);
				}
			}
			const int n = a->ow - ox;
			if (a->acc) {   /* raw sums for a fused pool (q8_internal.h) */
				int32_t *t = a->acc + (size_t)oy * a->ow + ox;
				if (SPLIT) q8v_storeu_pairs32(t, acc0, acc1);
				else { q8v_storeu(t, acc0); q8v_storeu(t + L, acc1); }
				continue;
			}
			if (SPLIT) {
				q8v_store_pairs(y + ox, q8v_requant(acc0, &rq), q8v_requant(acc1, &rq), n < 2 * L ? n : 2 * L);
				continue;
			}
			q8v_store(y + ox, 1, q8v_requant(acc0, &rq), n < L ? n : L);
			if (n > L) q8v_store(y + ox + L, 1, q8v_requant(acc1, &rq), n < 2 * L ? n - L : L);
		}
	}
}

Q8_TARGET void Q8_DWROW(const int8_t *x, int n, int16_t *row) { q8v_i16_row(x, n, row); }
Q8_TARGET void Q8_DW3(const sn_q8_dw_args *a) { if (a->xs == 1) q8_dw(a, 3, 3, 1); else q8_dw(a, 3, 3, 0); }
Q8_TARGET void Q8_DW5(const sn_q8_dw_args *a) { if (a->xs == 1) q8_dw(a, 5, 5, 1); else q8_dw(a, 5, 5, 0); }
Q8_TARGET void Q8_DWANY(const sn_q8_dw_args *a) { if (a->xs == 1) q8_dw(a, 0, 0, 1); else q8_dw(a, 0, 0, 0); }
