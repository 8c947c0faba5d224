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

/* Output columns [q0, q1) of one output row into r (r[0] is column q0); xr is the input row,
 * or NULL for a row in the zero padding. */
static void row_segment(const sn_conv_geom *g, const float *xr, int off, int lo, int hi, int q0, int q1, float *r)
{
	if (!xr) { for (int q = q0; q < q1; q++) r[q - q0] = 0.0f; return; }
	if (g->mode != SN_KPAD_ZEROS) {
		for (int q = q0; q < q1; q++) r[q - q0] = xr[sn_pad_index(q * g->sw + off, g->w, g->mode)];
		return;
	}
	int a = lo > q0 ? lo : q0, b = hi < q1 ? hi : q1;
	if (b < a) a = b = q1;   /* no valid column in [q0, q1) */
	for (int q = q0; q < a; q++) r[q - q0] = 0.0f;
	/* plain loops, not memcpy: rows are often a few dozen floats, where a call costs more than the copy */
	if (g->sw == 1) for (int q = a; q < b; q++) r[q - q0] = xr[q + off];
	else if (g->sw == 2) for (int q = a; q < b; q++) r[q - q0] = xr[2 * q + off];   /* vectorised: stems */
	else for (int q = a; q < b; q++) r[q - q0] = xr[q * g->sw + off];
	for (int q = b; q < q1; q++) r[q - q0] = 0.0f;
}

static long clampl(long v, long lo, long hi) { return v < lo ? lo : v > hi ? hi : v; }

/* Stride 1, zero padding, OW == W: output pixel p of tap (i, j) reads xc[p + dy*W + dx], one
 * contiguous run, except where its input row or column lies in the padding. One copy and a
 * few stores per output row, instead of a short copy per output row: 14-pixel rows made
 * im2col cost half as much as the GEMM. Writes pixels [p0, p0 + n) to r. */
static void shifted_row(const float *xc, const sn_conv_geom *g, int i, int j, size_t p0, size_t n, float *r)
{
	const long W = g->w, dy = (long)i * g->dh - g->pt, dx = (long)j * g->dw - g->pl, e = (long)(p0 + n);
	/* [a, b): input row inside; [ca, cb): the source index inside the plane too */
	const long a = clampl(-dy * W, (long)p0, e), b = clampl((g->h - dy) * W, a, e);
	const long ca = clampl(-dy * W - dx, a, b), cb = clampl((g->h - dy) * W - dx, ca, b);
	float *r0 = r - p0;
	if (ca > (long)p0) memset(r, 0, (ca - (long)p0) * sizeof *r);
	memcpy(r0 + ca, xc + ca + dy * W + dx, (cb - ca) * sizeof *r);
	if (e > cb) memset(r0 + cb, 0, (e - cb) * sizeof *r);
	if (!dx || a == b) return;
	/* the columns [c0, c1) whose input column is padding, in every output row of [a, b) */
	const long c0 = dx < 0 ? 0 : W - dx, c1 = dx < 0 ? -dx : W;
	for (long rowp = a / W * W; rowp < b; rowp += W)
		for (long p = clampl(rowp + c0, a, b); p < clampl(rowp + c1, a, b); p++) r0[p] = 0.0f;
}

void sn_im2col(const float *x, const sn_conv_geom *g, size_t p0, size_t n, float *col, size_t ld)
{
	const int oh0 = (int)(p0 / g->ow), q00 = (int)(p0 % g->ow);
	const int shifted = g->sh == 1 && g->sw == 1 && g->ow == g->w && g->mode == SN_KPAD_ZEROS;
	for (int c = 0; c < g->c; c++)
	for (int i = 0; i < g->kh; i++)
	for (int j = 0; j < g->kw; j++) {
		float *row = col + (size_t)((c * g->kh + i) * g->kw + j) * ld;
		const float *xc = x + (size_t)c * g->h * g->w;
		if (shifted) { shifted_row(xc, g, i, j, p0, n, row); continue; }
		int off = j * g->dw - g->pl, lo, hi, q0 = q00;
		valid_cols(g, off, &lo, &hi);
		for (size_t done = 0, oh = oh0; done < n; done += g->ow - q0, oh++, q0 = 0) {
			int q1 = n - done < (size_t)(g->ow - q0) ? q0 + (int)(n - done) : g->ow;
			int ih = sn_pad_index((int)oh * g->sh - g->pt + i * g->dh, g->h, g->mode);
			row_segment(g, ih < 0 ? NULL : xc + (size_t)ih * g->w, off, lo, hi, q0, q1, row + done);
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
			if (g->mode == SN_KPAD_ZEROS)
				for (int ow = lo; ow < hi; ow++) xr[ow * g->sw + off] += r[ow];
			else
				for (int ow = 0; ow < g->ow; ow++) xr[sn_pad_index(ow * g->sw + off, g->w, g->mode)] += r[ow];
		}
	}
}
