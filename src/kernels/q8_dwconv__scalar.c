/* The int8 depthwise plane in portable C (q8_internal.h): every tap pair of every output. */
#include "kernels/q8_internal.h"

void sn_q8_dwconv_any__scalar(const sn_q8_dw_args *a)
{
	const sn_q8_gemm_args rq = {.mult = &a->mult, .y_zp = a->y_zp, .lo = a->lo, .hi = a->hi};
	for (int oy = 0; oy < a->oh; oy++)
		for (int ox = 0; ox < a->ow; ox++) {
			uint32_t acc = (uint32_t)a->corr;
			for (int i = 0; i < a->kh; i++) {
				const int16_t *row = a->plane + (size_t)(oy * a->sh + i * a->dh) * a->ldp + (size_t)ox * a->xs;
				for (int j = 0; j < a->kw; j += 2) {
					const int16_t *v = row + j * a->tap;
					acc += (uint32_t)(v[0] * a->w[i * a->kw + j]);
					if (j + 1 < a->kw) acc += (uint32_t)(v[1] * a->w[i * a->kw + j + 1]);
				}
			}
			if (a->acc) a->acc[(size_t)oy * a->ow + ox] = (int32_t)acc;
			else a->y[(size_t)oy * a->ow + ox] = sn_q8_out(acc, &rq, 0);
		}
}

void sn_q8_dwrow__scalar(const int8_t *x, int n, int16_t *row)
{
	for (int i = 0; i < n; i++) row[i] = x[i];
}
