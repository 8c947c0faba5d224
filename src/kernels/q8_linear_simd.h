/* The int8 Linear (q8_internal.h's sn_q8_linear_args), written once for every vector width: the
 * q8_gemm__*.c files include it after q8_gemm_simd.h (the same vector words: q8v, q8_x, q8_w,
 * q8_xload, q8_wbcast, q8_dot) and define
 *   Q8_LMR, Q8_LNV   register blocks: Q8_LMR rows of x by Q8_LNV vectors of output channels
 *   Q8_LINEAR        the function's name.
 * The output channels run in the lanes, and the operands of the conv GEMM swap roles: the packed
 * weights (w + 128, unsigned) are the vectors, a row's quad of x (signed, as the layer has it:
 * no panel) the broadcast; per quad of taps, Q8_LNV loads and Q8_LMR broadcasts feed Q8_LMR Q8_LNV
 * products, and each row's outputs are one run of bytes. A row's last quad reaches past k into
 * the next row (zero weights; the last rows' from a copy, a->last): no tail in the loop, whose
 * accumulators a tail after it made GCC copy and spill. Vectors past `out` are computed (zero
 * weights) but not stored. */

#ifndef Q8_LDOT
#define Q8_LDOT q8_dot
#endif

/* rows [r0, r0 + MR) x channels [o, o + NV lanes): w is their quad 0 in a block whose quads are
 * ld bytes apart; rq[v] requantizes vector v */
Q8_TARGET Q8_INLINE void q8l_block(const sn_q8_linear_args *a, int r0, const int MR, int o, const int NV, const uint8_t *w,
                                   size_t ld, const q8v_rq *rq)
{
	q8v acc[Q8_LMR][Q8_LNV];
	const int8_t *x[Q8_LMR];
	for (int r = 0; r < MR; r++) {
		x[r] = a->last && r0 + r >= a->last0 ? a->last + (size_t)(r0 + r - a->last0) * 4 * ((a->k + 3) / 4)
		                                     : a->x + (size_t)(r0 + r) * a->k;
		const q8v c = q8v_set1(a->rowc[r0 + r]);
		for (int v = 0; v < NV; v++) acc[r][v] = q8v_add(q8v_load(a->corr + o + Q8V_LANES * v), c);
	}
	for (int q = 0; q < (a->k + 3) / 4; q++, w += ld) {
		q8_x wv[Q8_LNV];
		#pragma GCC unroll 8   /* early, whole: else the accumulators stay an array in memory */
		for (int v = 0; v < NV; v++) wv[v] = q8_xload(w + 4 * Q8V_LANES * v);
		#pragma GCC unroll 8
		for (int r = 0; r < MR; r++) {
			int32_t xq;
			memcpy(&xq, x[r] + 4 * (size_t)q, 4);
			const q8_w xb = q8_wbcast(xq);
			#pragma GCC unroll 8
			for (int v = 0; v < NV; v++) acc[r][v] = Q8_LDOT(acc[r][v], wv[v], xb);
		}
	}
	for (int r = 0; r < MR; r++) {
		int8_t *y = a->y + (size_t)(r0 + r) * a->out + o;
		for (int v = 0; v < NV; v++) {
			const int left = a->out - o - Q8V_LANES * v;
			if (left > 0) q8v_store(y + Q8V_LANES * v, 1, q8v_requant(acc[r][v], &rq[v]), left < Q8V_LANES ? left : Q8V_LANES);
		}
	}
}

/* Each register block its own function: inlined into one, their loops' accumulators were
 * copied and spilled (GCC 12). */
#define Q8L_BLOCK(m, nv)                                                                                        \
	static Q8_TARGET __attribute__((noinline)) void q8l_block_##m##_##nv(const sn_q8_linear_args *a, int r0, int o, \
	                                                                      const uint8_t *w, size_t ld, const q8v_rq *rq) \
	{ q8l_block(a, r0, m < Q8_LMR ? m : Q8_LMR, o, nv < Q8_LNV ? nv : Q8_LNV, w, ld, rq); }
#define Q8L_BLOCKS(nv) Q8L_BLOCK(1, nv) Q8L_BLOCK(2, nv) Q8L_BLOCK(3, nv) Q8L_BLOCK(4, nv) Q8L_BLOCK(5, nv) \
	Q8L_BLOCK(6, nv) Q8L_BLOCK(7, nv) Q8L_BLOCK(8, nv)
Q8L_BLOCKS(1) Q8L_BLOCKS(2) Q8L_BLOCKS(3) Q8L_BLOCKS(4)
#undef Q8L_BLOCKS
#undef Q8L_BLOCK
typedef void (*q8l_block_fn)(const sn_q8_linear_args *, int, int, const uint8_t *, size_t, const q8v_rq *);
#define Q8L_ROW(nv) {q8l_block_1_##nv, q8l_block_2_##nv, q8l_block_3_##nv, q8l_block_4_##nv, \
                     q8l_block_5_##nv, q8l_block_6_##nv, q8l_block_7_##nv, q8l_block_8_##nv}
static const q8l_block_fn q8l_blocks[4][8] = {Q8L_ROW(1), Q8L_ROW(2), Q8L_ROW(3), Q8L_ROW(4)};
#undef Q8L_ROW

/* every row of x for nv vectors */
Q8_TARGET Q8_INLINE void q8l_rows(const sn_q8_linear_args *a, int o, int nv, const uint8_t *w, size_t ld, const q8v_rq *rq)
{
	for (int r0 = 0; r0 < a->rows; r0 += Q8_LMR) {
		const int mr = a->rows - r0 < Q8_LMR ? a->rows - r0 : Q8_LMR;
		q8l_blocks[nv - 1][mr - 1](a, r0, o, w, ld, rq);
	}
}

Q8_TARGET void Q8_LINEAR(const sn_q8_linear_args *a)
{
	const int k4 = (a->k + 3) / 4, o16 = (a->out + 15) / 16 * 16;
	q8v_rq rq[Q8_LNV];
	if (!a->per_channel)
		for (int v = 0; v < Q8_LNV; v++) rq[v] = q8v_rq_make(a->mult[0], a->y_zp, a->lo, a->hi);
	for (int o = a->o0; o < a->o1;) {   /* NV vectors at a time, within a block of the pack */
		const int b = o / SN_Q8_LW, width = o16 - b * SN_Q8_LW < SN_Q8_LW ? o16 - b * SN_Q8_LW : SN_Q8_LW;
		const int end = a->o1 < b * SN_Q8_LW + width ? a->o1 : b * SN_Q8_LW + width, left = (end - o + Q8V_LANES - 1) / Q8V_LANES;
		const int nv = left < Q8_LNV ? left : Q8_LNV;
		const uint8_t *w = a->w + ((size_t)b * k4 * SN_Q8_LW + (size_t)(o - b * SN_Q8_LW)) * 4;
		const size_t ld = (size_t)width * 4;
		if (a->per_channel)   /* the lanes' constants once for all rows */
			for (int v = 0; v < nv; v++) {
				const int c = o + Q8V_LANES * v;
				rq[v] = q8v_rq_lanes(a->mult + c, a->out - c, a->y_zp, a->lo, a->hi);
			}
		q8l_rows(a, o, nv, w, ld, rq);
		o += nv * Q8V_LANES;
	}
}
#undef Q8_LMR
#undef Q8_LNV
#undef Q8_LINEAR
#undef Q8_LDOT
