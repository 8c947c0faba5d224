/* The pooled requantization of q8_internal.h (a 2x2 max-pool fused into the conv before it),
 * written once for every vector width: the including file includes q8_requant_ymm.h or
 * q8_requant_zmm.h first and defines Q8_TARGET and Q8_POOL (the function's name). Per vector of
 * pooled outputs: two vectors of each of the two rows, their larger lanes, the larger of each
 * adjacent pair (q8v_pair_max), one requantization. */
#include "kernels/q8_internal.h"

Q8_TARGET void Q8_POOL(const sn_q8_pool_args *a)
{
	const q8v_rq rq = q8v_rq_make(a->mult, a->y_zp, a->lo, a->hi);
	const int L = Q8V_LANES;
	for (int py = 0; py < a->ph; py++) {
		const int32_t *r0 = a->acc + 2 * (size_t)py * a->ld, *r1 = r0 + a->ld;
		int8_t *y = a->y + (size_t)py * a->pw;
		for (int px = 0; px < a->pw; px += L) {
			const q8v lo = q8v_max(q8v_load(r0 + 2 * px), q8v_load(r1 + 2 * px));
			const q8v hi = q8v_max(q8v_load(r0 + 2 * px + L), q8v_load(r1 + 2 * px + L));
			const int n = a->pw - px;
			q8v_store(y + px, 1, q8v_requant(q8v_pair_max(lo, hi), &rq), n < L ? n : L);
		}
	}
}
