/* Fashion-MNIST (and MNIST) loading, and the per-batch conversion from stored bytes to
 * normalised, optionally augmented floats. Images stay uint8 in memory (47 MB for the training
 * split instead of 188 MB as floats). */
#include <assert.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "slimnn.h"

#define FMNIST_CLASSES 10
#define FMNIST_SIDE 28

/* dir/name.gz if it exists, else dir/name; an error naming the file if neither does. */
static int find_file(const char *dir, const char *name, char *out, size_t len)
{
	struct stat st;
	int w = snprintf(out, len, "%s/%s.gz", dir, name);
	if (w < 0 || (size_t)w >= len)
		return sn_seterr(SN_EINVAL, "data directory path '%s' is too long", dir);
	if (stat(out, &st) == 0) return SN_OK;
	snprintf(out, len, "%s/%s", dir, name);
	if (stat(out, &st) == 0) return SN_OK;
	return sn_seterr(SN_EIO, "data directory '%s' has no '%s.gz' or '%s': install Debian's "
	                 "dataset-fashion-mnist or pass --data DIR", dir, name, name);
}

/* One split: images [n,h,w] and labels [n], checked against each other. */
static int load_split(const char *dir, const char *prefix, sn_dataset *d)
{
	char ipath[4096], lpath[4096], name[64];
	int idims[4], ldims[4], rc;
	snprintf(name, sizeof name, "%s-images-idx3-ubyte", prefix);
	if ((rc = find_file(dir, name, ipath, sizeof ipath))) return rc;
	snprintf(name, sizeof name, "%s-labels-idx1-ubyte", prefix);
	if ((rc = find_file(dir, name, lpath, sizeof lpath))) return rc;

	if ((rc = sn_idx_read(ipath, 3, idims, &d->images))) return rc;
	if ((rc = sn_idx_read(lpath, 1, ldims, &d->labels))) return rc;
	if (idims[0] != ldims[0])
		return sn_seterr(SN_EFORMAT, "'%s' holds %d images but '%s' holds %d labels", ipath, idims[0],
		                 lpath, ldims[0]);
	if (idims[1] != FMNIST_SIDE || idims[2] != FMNIST_SIDE)
		return sn_seterr(SN_EFORMAT, "'%s' holds %dx%d images, expected %dx%d", ipath, idims[1],
		                 idims[2], FMNIST_SIDE, FMNIST_SIDE);
	for (int i = 0; i < ldims[0]; i++)
		if (d->labels[i] >= FMNIST_CLASSES)
			return sn_seterr(SN_EFORMAT, "'%s' has label %d at index %d; classes are 0..%d", lpath,
			                 d->labels[i], i, FMNIST_CLASSES - 1);
	d->n = idims[0];
	d->c = 1;
	d->h = idims[1];
	d->w = idims[2];
	d->classes = FMNIST_CLASSES;
	return SN_OK;
}

/* Mean and (population) std of all pixels in [0,1] units. A histogram keeps the sums exact
 * integers, so double precision only enters at the very end. */
static void pixel_stats(const sn_dataset *d, float *mean, float *std)
{
	/* four histograms break the store-to-load chain on runs of equal pixels (the zeros) */
	uint64_t h4[4][256] = {{0}}, hist[256];
	size_t n = (size_t)d->n * d->c * d->h * d->w, i = 0;
	for (; i + 4 <= n; i += 4) {
		h4[0][d->images[i]]++;
		h4[1][d->images[i + 1]]++;
		h4[2][d->images[i + 2]]++;
		h4[3][d->images[i + 3]]++;
	}
	for (; i < n; i++) h4[0][d->images[i]]++;
	for (int v = 0; v < 256; v++) hist[v] = h4[0][v] + h4[1][v] + h4[2][v] + h4[3][v];
	uint64_t s1 = 0, s2 = 0;
	for (uint64_t v = 0; v < 256; v++) {
		s1 += hist[v] * v;
		s2 += hist[v] * v * v;
	}
	double m = n ? (double)s1 / n / 255.0 : 0.0;
	double var = n ? (double)s2 / n / (255.0 * 255.0) - m * m : 0.0;
	double s = var > 0 ? sqrt(var) : 0.0;
	*mean = (float)m;
	/* a constant image set would divide by zero; leave such data merely centred */
	*std = s > 1e-12 ? (float)s : 1.0f;
}

/* Keeps the first n samples; shrinking the buffers returns the memory of the rest. */
static void keep_first(sn_dataset *d, int n)
{
	if (n <= 0 || n >= d->n) return;
	size_t chw = (size_t)d->c * d->h * d->w;
	uint8_t *p = realloc(d->images, (size_t)n * chw);
	if (p) d->images = p;
	p = realloc(d->labels, (size_t)n);
	if (p) d->labels = p;
	d->n = n;
}

void sn_dataset_free(sn_dataset *d)
{
	if (!d) return;
	free(d->images);
	free(d->labels);
	memset(d, 0, sizeof *d);
}

int sn_fmnist_load(const char *dir, sn_dataset *train, sn_dataset *test, int limit)
{
	if (train) memset(train, 0, sizeof *train);
	if (test) memset(test, 0, sizeof *test);
	if (!dir) dir = SN_FMNIST_DIR;
	struct stat st;
	if (stat(dir, &st) || !S_ISDIR(st.st_mode))
		return sn_seterr(SN_EIO, "data directory '%s' not found: install Debian's dataset-fashion-mnist "
		                 "(apt-get install dataset-fashion-mnist) or pass --data DIR", dir);

	sn_dataset tr = {0}, te = {0};
	int rc = load_split(dir, "train", &tr);
	if (rc == SN_OK && test) rc = load_split(dir, "t10k", &te);
	if (rc) {
		sn_dataset_free(&tr);
		sn_dataset_free(&te);
		return rc;
	}
	/* statistics of the whole training split, so --limit does not change the normalisation */
	pixel_stats(&tr, &tr.mean, &tr.std);
	te.mean = tr.mean;
	te.std = tr.std;
	if (limit > 0) {
		keep_first(&tr, limit);
		keep_first(&te, limit);
	}
	if (train) *train = tr;
	else sn_dataset_free(&tr);
	if (test) *test = te;
	return SN_OK;
}

/* ---------------------------------------------------------------- batches */

/* Normalisation as one multiply-add per pixel, x = p * scale + shift, which vectorises (a
 * 256-entry table would not: gathers are slow). Within 3e-7 of (p/255 - mean)/std. */
typedef struct { float scale, shift; } affine;

static inline void norm_run(const uint8_t *restrict src, float *restrict out, size_t n, affine a)
{
	for (size_t i = 0; i < n; i++) out[i] = (float)src[i] * a.scale + a.shift;
}

/* The same, each row of a plane mirrored (w columns per row, n a multiple of w). */
static void norm_mirrored(const uint8_t *restrict src, float *restrict out, size_t n, size_t w, affine a)
{
	/* reading backwards and storing forwards is the form gcc vectorises */
	for (size_t r = 0; r < n; r += w) {
		const uint8_t *s = src + r;
		float *o = out + r;
		for (size_t c = 0; c < w; c++) o[c] = (float)s[w - 1 - c] * a.scale + a.shift;
	}
}

static inline void fill(float *out, size_t n, float v)
{
	for (size_t i = 0; i < n; i++) out[i] = v;
}

/* Turns a normalised plane, in place, into its shifted copy: output pixel (r, c) is source
 * pixel (r + dy, c + dx), or `zero` outside the source. Rows
 * [r0,r1) of the result are one contiguous run of the source offset by dy*w + dx, so a single
 * memmove does the shift; the columns that wrapped in from neighbouring rows are then cleared.
 * This beats per-row copies, whose short variable-length loops cost more than the work. */
static void shift_plane(float *o, int h, int w, int dy, int dx, float zero)
{
	int r0 = dy < 0 ? -dy : 0, r1 = dy > 0 ? h - dy : h;   /* rows with a source row */
	int c0 = dx < 0 ? -dx : 0, c1 = dx > 0 ? w - dx : w;   /* columns with a source column */
	if (r1 <= r0 || c1 <= c0) {                           /* shifted right out of the frame */
		fill(o, (size_t)h * w, zero);
		return;
	}
	size_t a = (size_t)r0 * w + c0, b = (size_t)(r1 - 1) * w + c1;
	long k = (long)dy * w + dx;
	if (k) memmove(o + a, o + (long)a + k, (b - a) * sizeof *o);
	fill(o, a, zero);
	fill(o + b, (size_t)h * w - b, zero);
	for (int r = r0; r < r1; r++) {
		float *row = o + (size_t)r * w;
		fill(row, (size_t)c0, zero);
		fill(row + c1, (size_t)(w - c1), zero);
	}
}

void sn_dataset_batch(const sn_dataset *d, const int *idx, int n, const sn_augment *aug,
                      sn_rng *rng, float *x, uint8_t *y)
{
	double std = d->std > 0 ? d->std : 1.0;
	affine a = {(float)(1.0 / (255.0 * std)), (float)(-d->mean / std)};
	int pad = aug && rng && aug->crop_pad > 0 ? aug->crop_pad : 0;
	int hflip = aug && rng && aug->hflip;
	size_t hw = (size_t)d->h * d->w, chw = (size_t)d->c * hw;
	for (int i = 0; i < n; i++) {
		assert(idx[i] >= 0 && idx[i] < d->n);
		const uint8_t *img = d->images + (size_t)idx[i] * chw;
		float *out = x + (size_t)i * chw;
		/* fixed draw order (top, left, flip) keeps batches reproducible from the rng state */
		long dy = 0, dx = 0;
		int flip = 0;
		if (pad) {
			uint32_t range = (uint32_t)pad * 2u + 1u;
			dy = (long)sn_rng_below(rng, range) - pad;
			dx = (long)sn_rng_below(rng, range) - pad;
		}
		if (hflip) flip = sn_rng_uniform(rng) < 0.5f;
		/* torchvision crops, then flips. Flipping first is the same if the horizontal shift
		 * changes sign: flip(crop(x))(r, c) = x(r+dy, w-1-c+dx) = flip(x)(r+dy, c-dx). */
		if (flip) {
			norm_mirrored(img, out, chw, (size_t)d->w, a);
			dx = -dx;
		} else {
			norm_run(img, out, chw, a);
		}
		if (dy || dx) {
			/* shifts beyond the image just mean all padding; clamp to keep int maths safe */
			int sy = (int)(dy < -d->h ? -d->h : dy > d->h ? d->h : dy);
			int sx = (int)(dx < -d->w ? -d->w : dx > d->w ? d->w : dx);
			for (int ch = 0; ch < d->c; ch++)
				shift_plane(out + ch * hw, d->h, d->w, sy, sx, a.shift);
		}
		if (y) y[i] = d->labels[idx[i]];
	}
}
