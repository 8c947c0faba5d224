/* The int8 reference convolution (src/kernels/qconv_ref.c) against float: the same layer run in
 * float on the dequantized input and weights, then quantized, is within one step of it, over
 * strides, dilations, groups, padding modes, fused ReLU6 and per-tensor or per-channel scales. */
#include <stdlib.h>
#include "kernels/kernels.h"
#include "kernels/qconv.h"
#include "test.h"

static uint32_t lcg(uint32_t *s) { *s = *s * 1664525u + 1013904223u; return *s >> 8; }

TEST(qconv_ref_matches_float)
{
	uint32_t s = 11;
	int worst = 0, cases = 0;
	for (int t = 0; t < 60; t++) {
		const int groups = t % 3 == 0 ? 1 : t % 3 == 1 ? 2 : 4, cg = 1 + lcg(&s) % 3, c = cg * groups;
		const int og = 1 + lcg(&s) % 3, oc = og * groups;
		sn_conv_geom g = {.c = c, .h = 3 + lcg(&s) % 6, .w = 3 + lcg(&s) % 6, .kh = 1 + lcg(&s) % 3, .kw = 1 + lcg(&s) % 3,
		                  .sh = 1 + lcg(&s) % 2, .sw = 1 + lcg(&s) % 2, .dh = 1 + lcg(&s) % 2, .dw = 1, .mode = t % 4};
		g.pt = lcg(&s) % 2;
		g.pl = lcg(&s) % 2;
		int pb = g.pt, pr = g.pl;
		g.oh = (g.h + g.pt + pb - g.dh * (g.kh - 1) - 1) / g.sh + 1;
		g.ow = (g.w + g.pl + pr - g.dw * (g.kw - 1) - 1) / g.sw + 1;
		if (g.oh < 1 || g.ow < 1 || g.pt >= g.h || g.pl >= g.w) continue;
		const int kk = g.kh * g.kw, act = t % 5 == 0 ? 2 : 0, per_channel = t & 1;
		const size_t nx = (size_t)c * g.h * g.w, nw = (size_t)oc * cg * kk, ny = (size_t)oc * g.oh * g.ow;
		int8_t *x = malloc(nx), *w = malloc(nw), *y = malloc(ny);
		float *xf = malloc(nx * sizeof *xf), *wf = malloc(nw * sizeof *wf);
		int32_t *bias = malloc(oc * sizeof *bias);
		float *ws = malloc(oc * sizeof *ws);
		sn_q_mult *mult = malloc(oc * sizeof *mult);
		const sn_qparams xq = {0.05f, (int32_t)(lcg(&s) % 41) - 20}, yq = {0.11f, (int32_t)(lcg(&s) % 21) - 10};
		for (size_t i = 0; i < nx; i++) { x[i] = (int8_t)(lcg(&s) % 256 - 128); xf[i] = xq.scale * (x[i] - xq.zero_point); }
		for (int o = 0; o < oc; o++) ws[o] = per_channel ? 0.004f + 0.002f * (o % 5) : 0.006f;
		for (size_t i = 0; i < nw; i++) {
			w[i] = (int8_t)(lcg(&s) % 255 - 127);
			wf[i] = ws[i / ((size_t)cg * kk)] * w[i];
		}
		for (int o = 0; o < oc; o++) {
			bias[o] = (int32_t)(lcg(&s) % 2001) - 1000;
			mult[o] = sn_q_multiplier((double)xq.scale * ws[o] / yq.scale);
		}
		int32_t lo, hi;
		sn_q_act_range(yq, act, &lo, &hi);
		sn_q8_conv p = {.w = w, .bias = bias, .mult = mult, .per_channel = per_channel, .x_zp = xq.zero_point,
		                .y_zp = yq.zero_point, .lo = lo, .hi = hi};
		if (!per_channel) for (int o = 1; o < oc; o++) mult[o] = mult[0];
		sn_q8_conv_ref(x, &g, groups, oc, &p, y);
		/* float: padding reads real 0 (zeros mode) or the mapped input (the others) */
		for (int o = 0; o < oc; o++)
			for (int oy = 0; oy < g.oh; oy++)
				for (int ox = 0; ox < g.ow; ox++) {
					double acc = (double)bias[o] * xq.scale * ws[o];
					for (int ci = 0; ci < cg; ci++)
						for (int i = 0; i < g.kh; i++)
							for (int j = 0; j < g.kw; j++) {
								int iy = sn_pad_index(oy * g.sh - g.pt + i * g.dh, g.h, g.mode);
								int ix = sn_pad_index(ox * g.sw - g.pl + j * g.dw, g.w, g.mode);
								if (iy < 0 || ix < 0) continue;
								acc += (double)xf[((size_t)((o / og) * cg + ci) * g.h + iy) * g.w + ix] *
								       wf[(((size_t)o * cg + ci) * g.kh + i) * g.kw + j];
							}
					if (act == 2) acc = acc < 0 ? 0 : acc > 6 ? 6 : acc;
					long q = lrint(acc / yq.scale) + yq.zero_point;
					q = q < lo ? lo : q > hi ? hi : q;
					int d = abs((int)q - y[((size_t)o * g.oh + oy) * g.ow + ox]);
					if (d > worst) worst = d;
				}
		cases++;
		free(x); free(w); free(y); free(xf); free(wf); free(bias); free(ws); free(mult);
	}
	CHECKF(cases > 30, "%d cases", cases);
	CHECKF(worst <= 1, "an int8 output is %d steps from the float layer's", worst);
}
