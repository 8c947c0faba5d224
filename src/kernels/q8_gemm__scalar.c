/* The int8 GEMM in portable C (q8_internal.h): the panel's unsigned quads against the packed
 * weights, one output at a time; the sum wraps in uint32 as the vector kernels' does. */
#include <string.h>
#include "kernels/q8_internal.h"

void sn_q8_gemm__scalar(const sn_q8_gemm_args *a)
{
	for (int r = 0; r < a->m; r++) {
		const int8_t *w = a->a + ((size_t)(r / SN_Q8_MR) * a->k4 * SN_Q8_MR + r % SN_Q8_MR) * 4;
		for (int p = 0; p < a->n; p++) {
			const uint8_t *b = a->b + (size_t)p * 4;
			uint32_t acc = (uint32_t)a->corr[r];
			for (int q = 0; q < a->k4; q++) {
				const int8_t *wq = w + (size_t)q * SN_Q8_MR * 4;
				const uint8_t *bq = b + (a->boff ? (size_t)a->boff[q] : (size_t)q * a->ldb * 4);
				for (int j = 0; j < 4; j++) acc += (uint32_t)(bq[j] * wq[j]);
			}
			if (a->acc) a->acc[r * a->ldr + p] = (int32_t)acc;
			else a->y[r * a->ldr + p * a->ldp] = sn_q8_out(acc, a, r);
		}
	}
}
