/* The int8 Linear in portable C (q8_internal.h's sn_q8_linear_args): one output at a time from
 * the Linear pack; the sum wraps in uint32 as the vector kernels' does. */
#include "kernels/q8_internal.h"

void sn_q8_linear__scalar(const sn_q8_linear_args *a)
{
	const int k4 = (a->k + 3) / 4, o16 = (a->out + 15) / 16 * 16;
	for (int o = a->o0; o < a->o1; o++) {
		const int b = o / SN_Q8_LW, width = o16 - b * SN_Q8_LW < SN_Q8_LW ? o16 - b * SN_Q8_LW : SN_Q8_LW;
		const uint8_t *w = a->w + ((size_t)b * k4 * SN_Q8_LW + (size_t)(o - b * SN_Q8_LW)) * 4;
		for (int r = 0; r < a->rows; r++) {
			const int8_t *x = a->x + (size_t)r * a->k;
			uint32_t acc = (uint32_t)a->corr[o] + (uint32_t)a->rowc[r];
			for (int i = 0; i < a->k; i++) acc += (uint32_t)(x[i] * w[(size_t)(i / 4) * width * 4 + i % 4]);
			a->y[(size_t)r * a->out + o] = sn_q_output((int32_t)acc, a->mult[a->per_channel ? o : 0], a->y_zp, a->lo, a->hi);
		}
	}
}
