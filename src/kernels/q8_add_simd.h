/* The int8 add of qjoin.h, written once for every vector width: the including file includes
 * q8_requant_ymm.h or q8_requant_zmm.h first and defines Q8_TARGET and Q8_ADD (the function's
 * name). Per vector of outputs: each input widened to int32, less its zero point, times 2^20,
 * requantized by its multiplier (the vector requantization with a zero point of 0 and the
 * whole int32 range as its clamp: qmath.h's sn_q_requant), summed, and the sum requantized to
 * the output -- sn_q8_add_ref's steps, so the same bytes. */
#include "kernels/q8_internal.h"

Q8_TARGET void Q8_ADD(const int8_t *const *x, size_t len, const sn_q8_add_params *p, int8_t *y)
{
	q8v_rq in[SN_Q8_ADD_MAX];
	q8v zp[SN_Q8_ADD_MAX];
	for (int i = 0; i < p->n; i++) {
		in[i] = q8v_rq_make(p->in[i], 0, INT32_MIN, INT32_MAX);
		zp[i] = q8v_set1(p->zp[i]);
	}
	const q8v_rq out = q8v_rq_make(p->out, p->y_zp, p->lo, p->hi);
	for (size_t k = 0; k < len; k += Q8V_LANES) {
		const int n = len - k < Q8V_LANES ? (int)(len - k) : Q8V_LANES;
		q8v sum = q8v_set1(0);
		for (int i = 0; i < p->n; i++) {
			const q8v v = q8v_slli(q8v_sub(q8v_widen(x[i] + k, n), zp[i]), SN_Q8_ADD_SHIFT);
			sum = q8v_add(sum, q8v_requant(v, &in[i]));
		}
		q8v_store(y + k, 1, q8v_requant(sum, &out), n);
	}
}
