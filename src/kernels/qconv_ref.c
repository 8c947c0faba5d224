/* The int8 convolution as the specification (qconv.h): plain loops, every tap, the arithmetic of
 * qmath.h. The fast int8 kernels must give these bytes. */
#include "kernels/kernels.h"
#include "kernels/qconv.h"

/* Output (o, oy, ox), requantized */
static int8_t ref_out(const int8_t *x, const sn_conv_geom *g, int groups, int out_c, const sn_q8_conv *p, int o, int oy, int ox)
{
	const int cg = g->c / groups, og = out_c / groups, kk = g->kh * g->kw, grp = o / og;
	const int8_t *w = p->w + (size_t)o * cg * kk;
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
	return sn_q_output(acc, p->mult[p->per_channel ? o : 0], p->y_zp, p->lo, p->hi);
}

void sn_q8_conv_ref(const int8_t *x, const sn_conv_geom *g, int groups, int out_c, const sn_q8_conv *p, int8_t *y)
{
	const int oh = p->pool ? g->oh / 2 : g->oh, ow = p->pool ? g->ow / 2 : g->ow;
	for (int o = 0; o < out_c; o++)
		for (int oy = 0; oy < oh; oy++)
			for (int ox = 0; ox < ow; ox++) {
				const int s = p->pool ? 2 : 1;   /* a pool: the largest of the window's requantized outputs */
				int8_t v = ref_out(x, g, groups, out_c, p, o, s * oy, s * ox);
				for (int t = 1; p->pool && t < 4; t++) {
					const int8_t u = ref_out(x, g, groups, out_c, p, o, 2 * oy + t / 2, 2 * ox + t % 2);
					v = u > v ? u : v;
				}
				y[((size_t)o * oh + oy) * ow + ox] = v;
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
