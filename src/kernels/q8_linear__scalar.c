/* The int8 Linear in portable C (q8_internal.h's sn_q8_linear_args) from the Linear pack: per row
 * and block of channels, the sums of all its channels at once, quad by quad (the weights in the
 * order they lie, a loop a compiler vectorises); they wrap in uint32 as the vector kernels' do. */
#include "kernels/q8_internal.h"

void sn_q8_linear__scalar(const sn_q8_linear_args *a)
{
	const int k4 = (a->k + 3) / 4, o16 = (a->out + 15) / 16 * 16;
	for (int o = a->o0; o < a->o1;) {
		const int b = o / SN_Q8_LW, width = o16 - b * SN_Q8_LW < SN_Q8_LW ? o16 - b * SN_Q8_LW : SN_Q8_LW;
		const int end = a->o1 < b * SN_Q8_LW + width ? a->o1 : b * SN_Q8_LW + width, n = end - o;
		const uint8_t *w = a->w + ((size_t)b * k4 * SN_Q8_LW + (size_t)(o - b * SN_Q8_LW)) * 4;
		for (int r = 0; r < a->rows; r++) {
			const int8_t *x = a->x + (size_t)r * a->k;
			uint32_t acc[SN_Q8_LW];
			for (int c = 0; c < n; c++) acc[c] = (uint32_t)a->corr[o + c] + (uint32_t)a->rowc[r];
			for (int q = 0; q < k4; q++) {
				int32_t xq[4] = {0, 0, 0, 0};   /* taps past k: 0 (their weights are too) */
				for (int j = 0; j < 4 && 4 * q + j < a->k; j++) xq[j] = x[4 * q + j];
				const uint8_t *wq = w + (size_t)q * width * 4;
				for (int c = 0; c < n; c++)
					acc[c] += (uint32_t)(xq[0] * wq[4 * c] + xq[1] * wq[4 * c + 1] + xq[2] * wq[4 * c + 2] + xq[3] * wq[4 * c + 3]);
			}
			for (int c = 0; c < n; c++)
				a->y[(size_t)r * a->out + o + c] =
					sn_q_output((int32_t)acc[c], a->mult[a->per_channel ? o + c : 0], a->y_zp, a->lo, a->hi);
		}
		o = end;
	}
}
