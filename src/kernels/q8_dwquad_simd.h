/* The int8 depthwise plane of bytes of q8_internal.h (sn_q8_dwq_args), written once for both
 * VNNI widths: the including file includes q8_requant_ymm.h or q8_requant_zmm.h first and
 * defines Q8_TARGET, q8_qdot(acc, x, w) (vpdpbusd: acc + each lane's four products of unsigned
 * plane bytes and signed taps, exact in int32) and the names Q8_DWQ3, Q8_DWQ5, Q8_DWQANY.
 *
 * A vector loaded at byte b of the plane holds in lane l the four bytes b + 4l .. b + 4l + 3:
 * tap quad q of the output o with s o + 4 q = b + 4 l. So with stride 1 the vectors loaded at
 * four consecutive bytes hold the outputs of a run of 4 L that are 0, 1, 2, 3 mod 4, and with
 * stride 2 two vectors the even and the odd ones: one vpdpbusd per tap quad and vector, no
 * plane of int16 pairs or transposes, and the requantized vectors interleave back into bytes
 * in one pack and one shuffle. A 3x3 kernel takes 3 vpdpbusd per vector (the fourth tap of each
 * row 0), the int16 kernels 6. */
#include "kernels/q8_internal.h"

/* KH, KW: the kernel's shape when a constant, else 0; S: the stride (1 or 2) */
Q8_TARGET Q8_INLINE void q8_dwq(const sn_q8_dwq_args *a, const int KH, const int KW, const int S)
{
	const int V = 4 / S;   /* vectors a step, interleaved */
	const int kh = KH ? KH : a->kh, kw = KW ? KW : a->kw, quads = (kw + 3) / 4, step = V * Q8V_LANES;
	q8v wv[5][2];
	for (int i = 0; i < KH; i++)
		for (int q = 0; q < (KW + 3) / 4; q++) wv[i][q] = q8v_set1(sn_q8_tap_quad(a->w, i, q, KW));
	const q8v_rq rq = q8v_rq_make(a->mult, a->y_zp, a->lo, a->hi);
	const q8v corr = q8v_set1(a->corr);
	for (int oy = 0; oy < a->oh; oy++) {
		const uint8_t *base = a->plane + (size_t)oy * S * a->C;
		for (int ox = 0; ox < a->ow; ox += step) {
			q8v acc[4], r[4];   /* V used */
			for (int v = 0; v < V; v++) acc[v] = corr;
			for (int i = 0; i < kh; i++) {
				const uint8_t *row = base + (size_t)i * a->dh * a->C + (size_t)S * ox;
				for (int q = 0; q < quads; q++) {
					const q8v w = KH ? wv[i][q] : q8v_set1(sn_q8_tap_quad(a->w, i, q, kw));
					for (int v = 0; v < V; v++) acc[v] = q8_qdot(acc[v], q8v_load(row + S * v + 4 * q), w);
				}
			}
			const size_t at = (size_t)oy * a->ldy + ox;
			if (a->acc) {   /* raw sums for a fused pool (q8_internal.h) */
				if (V == 4) q8v_storeu_quads32(a->acc + at, acc);
				else q8v_storeu_pairs32(a->acc + at, acc[0], acc[1]);
				continue;
			}
			for (int v = 0; v < V; v++) r[v] = q8v_requant(acc[v], &rq);
			const int n = a->ow - ox < step ? a->ow - ox : step;
			if (V == 4) q8v_store_quads(a->y + at, r, n);
			else q8v_store_pairs(a->y + at, r[0], r[1], n);
		}
	}
}

Q8_TARGET void Q8_DWQ3(const sn_q8_dwq_args *a) { if (a->sh == 1) q8_dwq(a, 3, 3, 1); else q8_dwq(a, 3, 3, 2); }
Q8_TARGET void Q8_DWQ5(const sn_q8_dwq_args *a) { if (a->sh == 1) q8_dwq(a, 5, 5, 1); else q8_dwq(a, 5, 5, 2); }
Q8_TARGET void Q8_DWQANY(const sn_q8_dwq_args *a) { if (a->sh == 1) q8_dwq(a, 0, 0, 1); else q8_dwq(a, 0, 0, 2); }
