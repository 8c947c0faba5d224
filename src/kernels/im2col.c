/* im2col / col2im for every padding mode. Row r = (c*kh + i)*kw + j of col holds, for each
 * output pixel, the input value that kernel tap (i, j) of channel c sees. */
#include <string.h>
#include "kernels/kernels.h"

/* Output columns [lo, hi) whose input column stays inside the image for tap offset `off`. */
static void valid_cols(const sn_conv_geom *g, int off, int *lo, int *hi)
{
	/* iw = ow*sw + off must lie in [0, w) */
	int a = off >= 0 ? 0 : (-off + g->sw - 1) / g->sw;
	int b = g->w - off <= 0 ? 0 : (g->w - off + g->sw - 1) / g->sw;
	*lo = a < g->ow ? a : g->ow;
	*hi = b < g->ow ? b : g->ow;
	if (*hi < *lo) *hi = *lo;
}

void sn_im2col(const float *x, const sn_conv_geom *g, float *col, size_t ld)
{
	for (int c = 0; c < g->c; c++)
	for (int i = 0; i < g->kh; i++)
	for (int j = 0; j < g->kw; j++) {
		float *row = col + (size_t)((c * g->kh + i) * g->kw + j) * ld;
		const float *xc = x + (size_t)c * g->h * g->w;
		int off = j * g->dw - g->pl, lo, hi;
		valid_cols(g, off, &lo, &hi);
		for (int oh = 0; oh < g->oh; oh++) {
			float *r = row + oh * g->ow;
			int ih = sn_pad_index(oh * g->sh - g->pt + i * g->dh, g->h, g->mode);
			if (ih < 0) { memset(r, 0, g->ow * sizeof *r); continue; }
			const float *xr = xc + (size_t)ih * g->w;
			if (g->mode == SN_PAD_ZEROS) {
				for (int ow = 0; ow < lo; ow++) r[ow] = 0.0f;
				if (g->sw == 1) memcpy(r + lo, xr + lo + off, (hi - lo) * sizeof *r);
				else for (int ow = lo; ow < hi; ow++) r[ow] = xr[ow * g->sw + off];
				for (int ow = hi; ow < g->ow; ow++) r[ow] = 0.0f;
			} else {
				for (int ow = 0; ow < g->ow; ow++) r[ow] = xr[sn_pad_index(ow * g->sw + off, g->w, g->mode)];
			}
		}
	}
}

void sn_col2im(const float *dcol, const sn_conv_geom *g, float *dx, int accumulate)
{
	const int ohw = g->oh * g->ow;
	if (!accumulate) memset(dx, 0, (size_t)g->c * g->h * g->w * sizeof *dx);
	for (int c = 0; c < g->c; c++)
	for (int i = 0; i < g->kh; i++)
	for (int j = 0; j < g->kw; j++) {
		const float *row = dcol + (size_t)((c * g->kh + i) * g->kw + j) * ohw;
		float *xc = dx + (size_t)c * g->h * g->w;
		int off = j * g->dw - g->pl, lo, hi;
		valid_cols(g, off, &lo, &hi);
		for (int oh = 0; oh < g->oh; oh++) {
			const float *r = row + oh * g->ow;
			int ih = sn_pad_index(oh * g->sh - g->pt + i * g->dh, g->h, g->mode);
			if (ih < 0) continue;
			float *xr = xc + (size_t)ih * g->w;
			if (g->mode == SN_PAD_ZEROS)
				for (int ow = lo; ow < hi; ow++) xr[ow * g->sw + off] += r[ow];
			else
				for (int ow = 0; ow < g->ow; ow++) xr[sn_pad_index(ow * g->sw + off, g->w, g->mode)] += r[ow];
		}
	}
}
