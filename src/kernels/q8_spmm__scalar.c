/* The int8 SpMM in portable C (q8_internal.h): each output a walk down its block's rows of the
 * panel (pixels in order), the sum wrapping in uint32 as the vector kernels' does. */
#include "kernels/q8_internal.h"

void sn_q8_spmm__scalar(const sn_q8_spmm_args *a)
{
	for (int k = a->b0; k < a->b1; k++) {
		const sn_spmm_block *b = &a->sp->blocks[k];
		for (int j = 0; j < b->nb; j++) {
			const int o = b->o0 + j;
			for (int p = 0; p < a->n; p++) {
				const int8_t *w = a->sp->values + b->voff + 4 * j;
				const int32_t *d = a->sp->deltas + b->doff;
				const uint8_t *x = a->panel + p;
				uint32_t acc = (uint32_t)a->corr[o];
				for (int i = 0; i < b->nnz; i++) {
					x += (size_t)d[i] * SN_Q8_SPMM_TILE;
					acc += (uint32_t)(*x * w[(size_t)i / 4 * 4 * b->nb + i % 4]);
				}
				a->y[(size_t)o * a->ldr + (size_t)p * a->ldp] =
				        sn_q_output((int32_t)acc, a->mult[a->per_channel ? o : 0], a->y_zp, a->lo, a->hi);
			}
		}
	}
}

/* pixels in order */
void sn_q8_spmm_panel__scalar(const int8_t *x, size_t xr, size_t xp, int rows, int n, uint8_t *panel)
{
	for (int c = 0; c < rows; c++)
		for (int p = 0; p < n; p++) panel[(size_t)c * SN_Q8_SPMM_TILE + p] = (uint8_t)(x[(size_t)c * xr + (size_t)p * xp] ^ 0x80);
}
