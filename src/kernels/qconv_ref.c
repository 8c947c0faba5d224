/* The int8 convolution as the specification (qconv.h): plain loops, every tap, the arithmetic of
 * qmath.h. The fast int8 kernels must give these bytes. */
#include "kernels/kernels.h"
#include "kernels/qconv.h"

void sn_q8_conv_ref(const int8_t *x, const sn_conv_geom *g, int groups, int out_c, const sn_q8_conv *p, int8_t *y)
{
	const int cg = g->c / groups, og = out_c / groups, kk = g->kh * g->kw;
	for (int o = 0; o < out_c; o++) {
		const int grp = o / og;
		const int8_t *w = p->w + (size_t)o * cg * kk;
		const sn_q_mult m = p->mult[p->per_channel ? o : 0];
		for (int oy = 0; oy < g->oh; oy++)
			for (int ox = 0; ox < g->ow; ox++) {
				int32_t acc = p->bias ? p->bias[o] : 0;
				for (int c = 0; c < cg; c++) {
					const int8_t *xc = x + (size_t)(grp * cg + c) * g->h * g->w;
					for (int i = 0; i < g->kh; i++) {
						const int iy = sn_pad_index(oy * g->sh - g->pt + i * g->dh, g->h, g->mode);
						if (iy < 0) continue;   /* zero padding: x_zp - x_zp */
						for (int j = 0; j < g->kw; j++) {
							const int ix = sn_pad_index(ox * g->sw - g->pl + j * g->dw, g->w, g->mode);
							if (ix < 0) continue;
							acc += ((int32_t)xc[(size_t)iy * g->w + ix] - p->x_zp) * w[(size_t)c * kk + i * g->kw + j];
						}
					}
				}
				y[((size_t)o * g->oh + oy) * g->ow + ox] = sn_q_output(acc, m, p->y_zp, p->lo, p->hi);
			}
	}
}

void sn_q8_linear_ref(const int8_t *x, int rows, int k, int out, const sn_q8_conv *p, int8_t *y)
{
	for (int r = 0; r < rows; r++)
		for (int o = 0; o < out; o++) {
			const int8_t *xr = x + (size_t)r * k, *w = p->w + (size_t)o * k;
			int32_t acc = p->bias ? p->bias[o] : 0;
			for (int i = 0; i < k; i++) acc += ((int32_t)xr[i] - p->x_zp) * w[i];
			y[(size_t)r * out + o] = sn_q_output(acc, p->mult[p->per_channel ? o : 0], p->y_zp, p->lo, p->hi);
		}
}
