/* The int8 GEMM of q8_internal.h, written once for every vector width: the file that includes
 * it includes q8_requant_ymm.h or q8_requant_zmm.h first (the vector type q8v of Q8V_LANES
 * int32 lanes, its requantization and stores) and defines, for its instruction set,
 *   Q8_TARGET                  the target attribute of its functions
 *   Q8_RB, Q8_NV               register blocks: Q8_RB packed blocks of 4 rows by Q8_NV vectors
 *                              of columns, what fits the registers with the loads
 *   q8_x, q8_xload(p)          one vector of columns' quads of the panel, as the product takes them
 *   q8_w, q8_wbcast(w)         one row's quad (4 signed bytes in an int32) in every lane
 *   q8_dot(acc, x, w)          acc + the four products of each lane, exact in int32
 *   Q8_GEMM                    the function's name.
 * The accumulators start at the rows' corrections; per quad, Q8_NV panel loads and 4 Q8_RB
 * broadcasts feed 4 Q8_RB Q8_NV products. Rows past m are computed (zero weights) but not
 * stored; columns past n are read from the panel's slack but not stored. */
#include "kernels/q8_internal.h"

/* rows [r0, r0 + 4 RB) x columns [p0, p0 + np), NV vectors */
Q8_TARGET Q8_INLINE void q8_block(const sn_q8_gemm_args *a, int r0, const int RB, int p0, const int NV, int np)
{
	q8v acc[Q8_RB * SN_Q8_MR][Q8_NV];
	const int R = RB * SN_Q8_MR, rows = a->m - r0 < R ? a->m - r0 : R;
	for (int r = 0; r < R; r++)
		for (int t = 0; t < NV; t++) acc[r][t] = q8v_set1(a->corr[r0 + (r < rows ? r : 0)]);
	const size_t next = (size_t)a->k4 * SN_Q8_MR * 4;   /* from one packed block to the next */
	const int8_t *w = a->a + (size_t)(r0 / SN_Q8_MR) * next;
	const uint8_t *b0 = a->b + (size_t)p0 * 4;
	for (int q = 0; q < a->k4; q++, w += SN_Q8_MR * 4) {
		const uint8_t *b = b0 + (a->boff ? (size_t)a->boff[q] : (size_t)q * a->ldb * 4);
		q8_x x[Q8_NV];
		for (int t = 0; t < NV; t++) x[t] = q8_xload(b + 4 * Q8V_LANES * t);
		for (int r = 0; r < R; r++) {
			int32_t wr;
			memcpy(&wr, w + (r / SN_Q8_MR) * next + 4 * (r % SN_Q8_MR), 4);
			const q8_w wb = q8_wbcast(wr);
			for (int t = 0; t < NV; t++) acc[r][t] = q8_dot(acc[r][t], x[t], wb);
		}
	}
	if (a->acc) {   /* raw sums for a fused pool (q8_internal.h) */
		for (int r = 0; r < rows; r++)
			for (int t = 0; t < NV; t++) q8v_storeu(a->acc + (size_t)(r0 + r) * a->ldr + p0 + Q8V_LANES * t, acc[r][t]);
		return;
	}
	for (int r = 0; r < rows; r++) {
		const q8v_rq rq = q8v_rq_make(a->mult[a->per_channel ? r0 + r : 0], a->y_zp, a->lo, a->hi);
		int8_t *y = a->y + (size_t)(r0 + r) * a->ldr + (size_t)p0 * a->ldp;
		for (int t = 0; t < NV; t++) {
			const int left = np - Q8V_LANES * t;
			q8v_store(y + (size_t)Q8V_LANES * t * a->ldp, a->ldp, q8v_requant(acc[r][t], &rq), left < Q8V_LANES ? left : Q8V_LANES);
		}
	}
}

/* the register block for RB row blocks and the vectors np columns need */
Q8_TARGET Q8_INLINE void q8_blocks(const sn_q8_gemm_args *a, int r0, const int RB, int p0, int np)
{
	switch ((np + Q8V_LANES - 1) / Q8V_LANES) {
	case 1: q8_block(a, r0, RB, p0, 1, np); break;
	case 2: q8_block(a, r0, RB, p0, 2 < Q8_NV ? 2 : Q8_NV, np); break;
	default: q8_block(a, r0, RB, p0, Q8_NV, np); break;
	}
}

Q8_TARGET void Q8_GEMM(const sn_q8_gemm_args *a)
{
	const int step = Q8V_LANES * Q8_NV;
	for (int r0 = 0; r0 < a->m; r0 += Q8_RB * SN_Q8_MR)
		for (int p0 = 0; p0 < a->n; p0 += step) {
			const int np = a->n - p0 < step ? a->n - p0 : step;
			if (Q8_RB > 1 && a->m - r0 > SN_Q8_MR) q8_blocks(a, r0, Q8_RB, p0, np);
			else q8_blocks(a, r0, 1, p0, np);
		}
}
