/* The geometric preprocessing of torchvision on PIL images, bit for bit: Resize + CenterCrop,
 * resized_crop, and RandomResizedCrop's box. The resampler is Pillow's (libImaging/Resample.c,
 * bilinear with antialiasing): per output sample, weights from precompute_coeffs in double,
 * normalised to 22-bit integers; a horizontal pass rounded to bytes, then a vertical pass over
 * its rows, each pass skipped when its axis keeps its size. Every output pixel depends only on
 * its own coefficients, so computing just the crop window (and just the rows the window needs
 * from the horizontal pass) gives the bytes Pillow gives for the whole image, cropped. */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "data/image.h"

/* Pillow's double arithmetic must not be fused into FMAs, or a weight can round differently:
 * gcc in -std=c11 does not contract; clang (the fuzz build) needs telling. */
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

#define PREC 22                   /* Pillow's PRECISION_BITS = 32 - 8 - 2 */
#define MAX_SIDE (1 << 24)        /* resized sides above this are refused: they would overflow */

/* The coefficients of the outputs [o0, o0 + on) of one axis: output i reads n[i] samples from
 * lo[i] on, weighted by k[i * ksize ...]. */
typedef struct {
	int ksize;
	int *lo, *n;
	int32_t *k;
} axis;

static void axis_free(axis *a)
{
	free(a->lo);
	free(a->k);
	memset(a, 0, sizeof *a);
}

/* Pillow's precompute_coeffs (bilinear, box [0, in_size)) and normalize_coeffs_8bpc, written
 * with the same operations in the same order so that the doubles round the same way. */
static int axis_make(axis *a, int in_size, int out_size, int o0, int on)
{
	const float in0 = 0.0f, in1 = (float)in_size;
	const double scale = (double)(in1 - in0) / out_size;
	const double filterscale = scale < 1.0 ? 1.0 : scale;
	const double support = 1.0 * filterscale;   /* bilinear support is 1 */
	const int ksize = (int)ceil(support) * 2 + 1;
	memset(a, 0, sizeof *a);
	if ((size_t)on > SIZE_MAX / sizeof(int32_t) / (size_t)ksize) return SN_ENOMEM;
	a->ksize = ksize;
	a->lo = malloc(2 * (size_t)on * sizeof(int));
	a->k = malloc((size_t)on * ksize * sizeof(int32_t));
	double *w = malloc((size_t)ksize * sizeof(double));
	if (!a->lo || !a->k || !w) {
		free(w);
		axis_free(a);
		return SN_ENOMEM;
	}
	a->n = a->lo + on;
	for (int i = 0; i < on; i++) {
		const int xx = o0 + i;
		const double center = in0 + (xx + 0.5) * scale;
		const double ss = 1.0 / filterscale;
		double ww = 0.0;
		int xmin = (int)(center - support + 0.5);
		if (xmin < 0) xmin = 0;
		int xmax = (int)(center + support + 0.5);
		if (xmax > in_size) xmax = in_size;
		xmax -= xmin;
		if (xmax < 0) xmax = 0;
		if (xmax > ksize) xmax = ksize;   /* cannot happen; keeps the buffer safe regardless */
		for (int x = 0; x < xmax; x++) {
			double t = (x + xmin - center + 0.5) * ss;
			if (t < 0.0) t = -t;
			const double v = t < 1.0 ? 1.0 - t : 0.0;
			w[x] = v;
			ww += v;
		}
		int32_t *k = a->k + (size_t)i * ksize;
		for (int x = 0; x < xmax; x++) {
			if (ww != 0.0) w[x] /= ww;
			k[x] = w[x] < 0 ? (int32_t)(-0.5 + w[x] * (1 << PREC)) : (int32_t)(0.5 + w[x] * (1 << PREC));
		}
		a->lo[i] = xmin;
		a->n[i] = xmax;
	}
	free(w);
	return SN_OK;
}

static inline uint8_t clip8(int32_t v)
{
	v >>= PREC;
	return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* Horizontal pass: rows [r0, r1) of the source, output columns of ax, into tmp as c planes of
 * (r1 - r0) rows of `on` bytes, so that the vertical pass runs on contiguous rows of one channel
 * and writes the planar output directly. */
static void pass_h(const uint8_t *src, size_t stride, int c, int r0, int r1, const axis *ax, int on, uint8_t *tmp)
{
	const int32_t half = 1 << (PREC - 1);
	const size_t tplane = (size_t)(r1 - r0) * on;
	for (int r = r0; r < r1; r++) {
		const uint8_t *s = src + (size_t)r * stride;
		uint8_t *d = tmp + (size_t)(r - r0) * on;
		for (int i = 0; i < on; i++) {
			const int32_t *k = ax->k + (size_t)i * ax->ksize;
			const int n = ax->n[i];
			const uint8_t *p = s + (size_t)ax->lo[i] * c;
			if (c == 3) {
				int32_t s0 = half, s1 = half, s2 = half;
				for (int x = 0; x < n; x++, p += 3) {
					s0 += p[0] * k[x];
					s1 += p[1] * k[x];
					s2 += p[2] * k[x];
				}
				d[i] = clip8(s0);
				d[tplane + i] = clip8(s1);
				d[2 * tplane + i] = clip8(s2);
			} else if (c == 1) {
				int32_t s0 = half;
				for (int x = 0; x < n; x++) s0 += p[x] * k[x];
				d[i] = clip8(s0);
			} else {
				for (int ch = 0; ch < c; ch++) {
					int32_t s0 = half;
					for (int x = 0; x < n; x++) s0 += p[(size_t)x * c + ch] * k[x];
					d[ch * tplane + i] = clip8(s0);
				}
			}
		}
	}
}

/* No horizontal resampling: the same planar rows, copied out of the interleaved source. */
static void split_rows(const uint8_t *src, size_t stride, int c, int r0, int r1, int x0, int on, uint8_t *tmp)
{
	const size_t tplane = (size_t)(r1 - r0) * on;
	for (int r = r0; r < r1; r++) {
		const uint8_t *s = src + (size_t)r * stride + (size_t)x0 * c;
		uint8_t *d = tmp + (size_t)(r - r0) * on;
		for (int ch = 0; ch < c; ch++)
			for (int i = 0; i < on; i++) d[ch * tplane + i] = s[(size_t)i * c + ch];
	}
}

/* The window [wx0, wx0 + wn) x [wy0, wy0 + hn) of the sw x sh source at src (row stride `stride`,
 * c channels) resized to dw x dh, written planar into out (c planes of oh x ow) at (dy, dx). */
static int resample_window(const uint8_t *src, size_t stride, int c, int sw, int sh, int dw, int dh,
                           int wx0, int wy0, int wn, int hn, uint8_t *out, int oh, int ow, int dy, int dx)
{
	if (wn <= 0 || hn <= 0) return SN_OK;
	const int need_h = dw != sw, need_v = dh != sh;
	axis ah = {0}, av = {0};
	uint8_t *tmp = NULL;
	int32_t *acc = NULL;
	int rc = SN_ENOMEM;
	/* source rows the vertical pass reads: [r0, r1) */
	int r0 = wy0, r1 = wy0 + hn;
	if (need_v) {
		if (axis_make(&av, sh, dh, wy0, hn)) goto done;
		r0 = av.lo[0];
		r1 = 0;
		for (int i = 0; i < hn; i++)
			if (av.lo[i] + av.n[i] > r1) r1 = av.lo[i] + av.n[i];
		if (r1 < r0) r1 = r0;
	}
	if ((size_t)(r1 - r0) + 1 > SIZE_MAX / c / (size_t)wn) goto done;
	const size_t tplane = (size_t)(r1 - r0) * wn;
	tmp = malloc(tplane * c + 1);
	if (!tmp) goto done;
	if (need_h) {
		if (axis_make(&ah, sw, dw, wx0, wn)) goto done;
		pass_h(src, stride, c, r0, r1, &ah, wn, tmp);
	} else {
		split_rows(src, stride, c, r0, r1, wx0, wn, tmp);
	}
	const size_t plane = (size_t)oh * ow;
	if (!need_v) {
		for (int ch = 0; ch < c; ch++)
			for (int i = 0; i < hn; i++)
				memcpy(out + ch * plane + (size_t)(dy + i) * ow + dx, tmp + ch * tplane + (size_t)i * wn, (size_t)wn);
		rc = SN_OK;
		goto done;
	}
	acc = malloc((size_t)wn * sizeof *acc);
	if (!acc) goto done;
	for (int ch = 0; ch < c; ch++) {
		const uint8_t *t0 = tmp + ch * tplane;
		for (int i = 0; i < hn; i++) {
			const int32_t *k = av.k + (size_t)i * av.ksize;
			for (int x = 0; x < wn; x++) acc[x] = 1 << (PREC - 1);
			for (int t = 0; t < av.n[i]; t++) {
				const uint8_t *s = t0 + (size_t)(av.lo[i] + t - r0) * wn;
				const int32_t kt = k[t];
				for (int x = 0; x < wn; x++) acc[x] += s[x] * kt;   /* contiguous: vectorises */
			}
			uint8_t *d = out + ch * plane + (size_t)(dy + i) * ow + dx;
			for (int x = 0; x < wn; x++) d[x] = clip8(acc[x]);
		}
	}
	rc = SN_OK;
done:
	axis_free(&ah);
	axis_free(&av);
	free(tmp);
	free(acc);
	if (rc) rc = sn_seterr(SN_ENOMEM, "out of memory resizing a %d x %d image to %d x %d", sw, sh, dw, dh);
	return rc;
}

static int check_image(const sn_image *im, const char *what)
{
	if (!im || !im->px || im->w <= 0 || im->h <= 0 || im->c <= 0 || im->c > 4)
		return sn_seterr(SN_EINVAL, "%s needs a decoded image (got an empty one)", what);
	if (im->w > MAX_SIDE || im->h > MAX_SIDE)
		return sn_seterr(SN_EINVAL, "%s cannot resample a %d x %d image: sides are limited to %d", what,
		                 im->w, im->h, MAX_SIDE);
	return SN_OK;
}

/* Python's int(round(d / 2.0)) for d >= 0: halves go to the even neighbour. */
static int half_even(int d) { int k = d / 2; return (d & 1) && (k & 1) ? k + 1 : k; }

/* CenterCrop along one axis of a resized size `size` to `crop`: the window of the resized image
 * that lands in the crop, and where in the crop it lands (torchvision pads, then crops). */
static void centre_axis(int size, int crop, int *w0, int *wn, int *d0)
{
	if (crop > size) {
		*w0 = 0;
		*wn = size;
		*d0 = (crop - size) / 2;
	} else {
		*w0 = half_even(size - crop);
		*wn = crop;
		*d0 = 0;
	}
}

int sn_image_resize_crop(const sn_image *im, int resize, int oh, int ow, uint8_t *out)
{
	int rc = check_image(im, "resize+crop");
	if (rc) return rc;
	if (oh <= 0 || ow <= 0 || !out)
		return sn_seterr(SN_EINVAL, "resize+crop needs a crop of positive size, got %d x %d", oh, ow);
	if ((uint64_t)oh * ow * im->c > (uint64_t)SIZE_MAX / 2)
		return sn_seterr(SN_EINVAL, "resize+crop to %d x %d is too large", oh, ow);
	int rw = im->w, rh = im->h;
	if (resize > 0) {
		/* torchvision's _compute_resized_output_size: the short side becomes resize, the long
		 * side int(resize * long / short) in double, as Python's true division */
		const int sw = im->w <= im->h, shrt = sw ? im->w : im->h, lng = sw ? im->h : im->w;
		const double l = (double)resize * lng / shrt;
		if (l >= MAX_SIDE || resize >= MAX_SIDE)
			return sn_seterr(SN_EINVAL, "resizing a %d x %d image to a short side of %d gives a side above %d",
			                 im->w, im->h, resize, MAX_SIDE);
		rw = sw ? resize : (int)l;
		rh = sw ? (int)l : resize;
		if (rw <= 0 || rh <= 0) return sn_seterr(SN_EINVAL, "resize to %d gives an empty image", resize);
	}
	int wx0, wn, dx, wy0, hn, dy;
	centre_axis(rw, ow, &wx0, &wn, &dx);
	centre_axis(rh, oh, &wy0, &hn, &dy);
	if (wn < ow || hn < oh) memset(out, 0, (size_t)im->c * oh * ow);   /* the padding */
	return resample_window(im->px, (size_t)im->w * im->c, im->c, im->w, im->h, rw, rh, wx0, wy0, wn, hn,
	                       out, oh, ow, dy, dx);
}

int sn_image_resized_crop(const sn_image *im, int top, int left, int bh, int bw, int oh, int ow, uint8_t *out)
{
	int rc = check_image(im, "resized_crop");
	if (rc) return rc;
	if (oh <= 0 || ow <= 0 || !out || oh >= MAX_SIDE || ow >= MAX_SIDE)
		return sn_seterr(SN_EINVAL, "resized_crop needs an output of positive size, got %d x %d", oh, ow);
	if (bh <= 0 || bw <= 0 || top < 0 || left < 0 || top > im->h - bh || left > im->w - bw)
		return sn_seterr(SN_EINVAL, "resized_crop box (top %d, left %d, %d x %d) is not inside the %d x %d image",
		                 top, left, bh, bw, im->w, im->h);
	/* PIL crops, then resizes the crop as an image of its own */
	const size_t stride = (size_t)im->w * im->c;
	const uint8_t *src = im->px + (size_t)top * stride + (size_t)left * im->c;
	return resample_window(src, stride, im->c, bw, bh, ow, oh, 0, 0, ow, oh, out, oh, ow, 0, 0);
}

/* ---------------------------------------------------------------- RandomResizedCrop */

/* Python's round() (half to even) of a non-negative value, clamped to [0, hi] before the
 * conversion so that NaN or infinity from absurd arguments cannot reach an int cast. */
static int pyround(double v, int hi)
{
	v = nearbyint(v);
	return v >= 0.0 ? (v <= hi ? (int)v : hi) : 0;
}

void sn_rrc_box(sn_rng *r, int w, int h, float scale_lo, float scale_hi, float ratio_lo, float ratio_hi, int box[4])
{
	box[0] = box[1] = 0;
	box[2] = h;
	box[3] = w;
	if (w <= 0 || h <= 0) return;
	const double area = (double)h * w;
	const double log_lo = log((double)ratio_lo), log_hi = log((double)ratio_hi);
	for (int attempt = 0; attempt < 10; attempt++) {
		const double target = area * (scale_lo + (double)sn_rng_uniform(r) * (scale_hi - scale_lo));
		const double aspect = exp(log_lo + (double)sn_rng_uniform(r) * (log_hi - log_lo));
		/* w + 1 as the clamp: a value above w stays above w and fails the test below */
		const int cw = pyround(sqrt(target * aspect), w + 1), ch = pyround(sqrt(target / aspect), h + 1);
		if (0 < cw && cw <= w && 0 < ch && ch <= h) {
			box[0] = (int)sn_rng_below(r, (uint32_t)(h - ch + 1));
			box[1] = (int)sn_rng_below(r, (uint32_t)(w - cw + 1));
			box[2] = ch;
			box[3] = cw;
			return;
		}
	}
	/* the centre fallback, its ratio clamped into [min(ratio), max(ratio)] */
	const double in_ratio = (double)w / h;
	const double rmin = ratio_lo < ratio_hi ? ratio_lo : ratio_hi, rmax = ratio_lo < ratio_hi ? ratio_hi : ratio_lo;
	int cw = w, ch = h;
	if (in_ratio < rmin) ch = pyround(cw / rmin, h);
	else if (in_ratio > rmax) cw = pyround(ch * rmax, w);
	/* torchvision can return an empty box for absurd ratios; one pixel keeps the crop usable */
	if (ch < 1) ch = 1;
	if (cw < 1) cw = 1;
	box[0] = (h - ch) / 2;
	box[1] = (w - cw) / 2;
	box[2] = ch;
	box[3] = cw;
}
