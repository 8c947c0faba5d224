/* Batches: stored samples (bytes, floats, or files decoded on demand) become normalised,
 * optionally augmented float rows. The augmentation of each sample is drawn first, in sample
 * order from the trainer's seeded stream, and applied afterwards: a batch then depends only on
 * the seed and never on which thread makes it, or when. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include "data/dataset_internal.h"
#include "data/image.h"
#include "data/source.h"

void sn_augment_draw(const sn_augment *aug, sn_rng *rng, int n, sn_draw *draws)
{
	const int pad = aug && rng && aug->crop_pad > 0 ? aug->crop_pad : 0;
	const int hflip = aug && rng && aug->hflip, rrc = aug && rng && aug->rrc;
	for (int i = 0; i < n; i++) {
		sn_draw *d = &draws[i];
		memset(d, 0, sizeof *d);
		/* fixed draw order (box seed, top, left, flip) keeps batches reproducible */
		if (rrc) {
			d->rrc_scale = aug->rrc_scale > 0 && aug->rrc_scale <= 1 ? aug->rrc_scale : 0.08f;
			d->seed = sn_rng_u64(rng);
		}
		if (pad) {
			uint32_t range = (uint32_t)pad * 2u + 1u;
			d->dy = (int16_t)((int)sn_rng_below(rng, range) - pad);
			d->dx = (int16_t)((int)sn_rng_below(rng, range) - pad);
		}
		if (hflip) d->flip = sn_rng_uniform(rng) < 0.5f;
	}
}

/* ---------------------------------------------------------------- normalisation */

/* Normalisation as one multiply-add per value, x = v * scale + shift, which vectorises (a
 * 256-entry table would not: gathers are slow). Within 3e-7 of (v/255 - mean)/std for bytes. */
typedef struct { float scale, shift; } affine;

static affine channel_affine(const sn_dataset *d, int ch, int bytes)
{
	const sn_norm *nm = &d->norm;
	int k = nm->c > 1 && ch < nm->c ? ch : 0;
	double mean = nm->c ? nm->mean[k] : 0.0, std = nm->c && nm->std[k] > 0 ? nm->std[k] : 1.0;
	double unit = bytes ? 1.0 / 255.0 : 1.0;
	return (affine){(float)(unit / std), (float)(-mean / std)};
}

#define NORM_RUNS(T)                                                                                           \
	static inline void norm_run_##T(const T *restrict src, float *restrict out, size_t n, affine a)             \
	{                                                                                                          \
		for (size_t i = 0; i < n; i++) out[i] = (float)src[i] * a.scale + a.shift;                             \
	}                                                                                                          \
	/* each row mirrored; reading backwards and storing forwards is the form gcc vectorises */                  \
	static void norm_mirrored_##T(const T *restrict src, float *restrict out, size_t n, size_t w, affine a)    \
	{                                                                                                          \
		for (size_t r = 0; r < n; r += w) {                                                                    \
			const T *s = src + r;                                                                              \
			float *o = out + r;                                                                                \
			for (size_t c = 0; c < w; c++) o[c] = (float)s[w - 1 - c] * a.scale + a.shift;                     \
		}                                                                                                      \
	}
NORM_RUNS(uint8_t)
NORM_RUNS(float)

static inline void fill(float *out, size_t n, float v)
{
	for (size_t i = 0; i < n; i++) out[i] = v;
}

/* Turns a normalised plane, in place, into its shifted copy: output pixel (r, c) is source
 * pixel (r + dy, c + dx), or `zero` outside the source. Rows [r0,r1) of the result are one
 * contiguous run of the source offset by dy*w + dx, so a single memmove does the shift; the
 * columns that wrapped in from neighbouring rows are then cleared. This beats per-row copies,
 * whose short variable-length loops cost more than the work. */
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

/* One sample: bytes or floats (one of them non-NULL), c planes of h x w, to normalised floats
 * with the flip and the padded-crop shift of the draw. */
static void make_row(const sn_dataset *d, const uint8_t *bytes, const float *floats, const sn_draw *dr, float *out)
{
	const size_t hw = (size_t)d->h * d->w;
	long dy = dr ? dr->dy : 0, dx = dr ? dr->dx : 0;
	int flip = dr && dr->flip;
	/* torchvision crops, then flips. Flipping first is the same if the horizontal shift changes
	 * sign: flip(crop(x))(r, c) = x(r+dy, w-1-c+dx) = flip(x)(r+dy, c-dx). */
	if (flip) dx = -dx;
	/* shifts beyond the image just mean all padding; clamp to keep int maths safe */
	int sy = (int)(dy < -d->h ? -d->h : dy > d->h ? d->h : dy);
	int sx = (int)(dx < -d->w ? -d->w : dx > d->w ? d->w : dx);
	for (int ch = 0; ch < d->c; ch++) {
		affine a = channel_affine(d, ch, bytes != NULL);
		float *o = out + ch * hw;
		if (bytes) {
			if (flip) norm_mirrored_uint8_t(bytes + ch * hw, o, hw, (size_t)d->w, a);
			else norm_run_uint8_t(bytes + ch * hw, o, hw, a);
		} else {
			if (flip) norm_mirrored_float(floats + ch * hw, o, hw, (size_t)d->w, a);
			else norm_run_float(floats + ch * hw, o, hw, a);
		}
		/* padding is a raw zero, as torchvision pads before normalising */
		if (sy || sx) shift_plane(o, d->h, d->w, sy, sx, a.shift);
	}
}

/* A stored byte sample cropped and resized from a random box (the in-memory path of the
 * random-resized crop): planar c x h x w in, the same shape out. */
static int rrc_stored(const sn_dataset *d, const uint8_t *src, const sn_draw *dr, uint8_t *out);

int sn_dataset_make(const sn_dataset *d, const int *idx, int n, const sn_draw *draws, float *x, int32_t *y)
{
	const size_t chw = (size_t)d->c * d->h * d->w;
	uint8_t *tmp = NULL;
	int rc = SN_OK;
	for (int i = 0; i < n; i++) {
		assert(idx[i] >= 0 && idx[i] < d->n);
		const int k = d->index ? d->index[idx[i]] : idx[i];
		const sn_draw *dr = draws ? &draws[i] : NULL;
		float *out = x + (size_t)i * chw;
		if (y) y[i] = d->labels[k];
		if (d->fimages) {
			make_row(d, NULL, d->fimages + (size_t)k * chw, dr, out);
			continue;
		}
		const uint8_t *bytes = d->images ? d->images + (size_t)k * chw : NULL;
		if (!bytes || (dr && dr->rrc_scale > 0)) {
			if (!tmp && !(tmp = malloc(chw))) { rc = sn_seterr(SN_ENOMEM, "out of memory for a batch"); break; }
			int r = bytes ? rrc_stored(d, bytes, dr, tmp) : sn_source_sample(d->src, k, dr, tmp);
			if (r == SN_EFORMAT && d->src) {   /* one bad file: its row becomes the mean, counted */
				sn_source_skip(d->src, sn_errmsg());
				for (size_t j = 0; j < chw; j++) out[j] = 0.0f;
				continue;
			}
			if (r) { rc = r; break; }
			bytes = tmp;
		}
		make_row(d, bytes, NULL, dr, out);
	}
	free(tmp);
	return rc;
}

int sn_dataset_batch(const sn_dataset *d, const int *idx, int n, const sn_augment *aug, sn_rng *rng, float *x,
                     int32_t *y)
{
	sn_draw stack[64], *draws = n <= 64 ? stack : malloc((size_t)n * sizeof *draws);
	if (!draws) return sn_seterr(SN_ENOMEM, "out of memory for a batch");
	sn_augment_draw(aug, rng, n, draws);
	int rc = sn_dataset_make(d, idx, n, aug && rng ? draws : NULL, x, y);
	if (draws != stack) free(draws);
	return rc;
}

/* ---------------------------------------------------------------- random-resized crop */

static int rrc_stored(const sn_dataset *d, const uint8_t *src, const sn_draw *dr, uint8_t *out)
{
	const size_t hw = (size_t)d->h * d->w;
	sn_image im = {.w = d->w, .h = d->h, .c = d->c, .px = malloc((size_t)d->c * hw)};
	if (!im.px) return sn_seterr(SN_ENOMEM, "out of memory for a crop");
	for (size_t p = 0; p < hw; p++)   /* planar to interleaved */
		for (int ch = 0; ch < d->c; ch++) im.px[p * d->c + ch] = src[ch * hw + p];
	sn_rng r;
	sn_rng_seed(&r, dr->seed);
	int box[4];
	sn_rrc_box(&r, d->w, d->h, dr->rrc_scale, 1.0f, 3.0f / 4.0f, 4.0f / 3.0f, box);
	int rc = sn_image_resized_crop(&im, box[0], box[1], box[2], box[3], d->h, d->w, out);
	free(im.px);
	return rc;
}
