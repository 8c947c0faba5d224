/* What every data set shares, whatever its format: freeing, views through an index, class
 * names, the normalisation statistics of a training split, and the per-channel colour
 * conversions used when stored images and the model disagree on channels. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "data/dataset_internal.h"
#include "data/source.h"

void sn_dataset_free(sn_dataset *d)
{
	if (!d) return;
	free(d->index);
	if (!d->shared) {
		free(d->images);
		free(d->fimages);
		free(d->labels);
		free(d->names);
		if (d->src) sn_source_free(d->src);
	}
	memset(d, 0, sizeof *d);
}

int sn_dataset_view(const sn_dataset *d, const int *idx, int n, sn_dataset *v)
{
	*v = *d;
	v->shared = 1;
	v->n = n;
	v->index = malloc(((size_t)n + 1) * sizeof *v->index);
	if (!v->index) {
		memset(v, 0, sizeof *v);
		return sn_seterr(SN_ENOMEM, "out of memory for a view of %d samples", n);
	}
	for (int i = 0; i < n; i++) v->index[i] = d->index ? d->index[idx[i]] : idx[i];
	return SN_OK;
}

const char *sn_class_name(const char *names, int classes, int k, char *buf, size_t len)
{
	if (names && k >= 0 && k < classes) {
		const char *p = names;
		for (int i = 0; i < k; i++) p += strlen(p) + 1;
		return p;
	}
	snprintf(buf, len, "%d", k);
	return buf;
}

int sn_names_join(char **out, char *const *names, int n)
{
	size_t len = 1;
	for (int i = 0; i < n; i++) len += strlen(names[i]) + 1;
	char *p = malloc(len);
	if (!p) return sn_seterr(SN_ENOMEM, "out of memory for %d class names", n);
	*out = p;
	for (int i = 0; i < n; i++) {
		size_t l = strlen(names[i]) + 1;
		memcpy(p, names[i], l);
		p += l;
	}
	*p = 0;
	return SN_OK;
}

/* ---------------------------------------------------------------- statistics */

/* Per-channel byte histograms: the sums stay exact integers, so double precision only enters at
 * the very end. Four histograms per channel break the store-to-load chain on runs of equal
 * pixels (the zeros of Fashion-MNIST). */
typedef struct { uint64_t h[4][256]; } hist4;

static void hist_add(hist4 *h, const uint8_t *p, size_t n)
{
	size_t i = 0;
	for (; i + 4 <= n; i += 4) {
		h->h[0][p[i]]++;
		h->h[1][p[i + 1]]++;
		h->h[2][p[i + 2]]++;
		h->h[3][p[i + 3]]++;
	}
	for (; i < n; i++) h->h[0][p[i]]++;
}

static void hist_stats(const hist4 *h, float *mean, float *std)
{
	uint64_t s0 = 0, s1 = 0, s2 = 0;
	for (uint64_t v = 0; v < 256; v++) {
		uint64_t c = h->h[0][v] + h->h[1][v] + h->h[2][v] + h->h[3][v];
		s0 += c;
		s1 += c * v;
		s2 += c * v * v;
	}
	double m = s0 ? (double)s1 / s0 / 255.0 : 0.0;
	double var = s0 ? (double)s2 / s0 / (255.0 * 255.0) - m * m : 0.0;
	double s = var > 0 ? sqrt(var) : 0.0;
	*mean = (float)m;
	/* a constant channel would divide by zero; leave such data merely centred */
	*std = s > 1e-12 ? (float)s : 1.0f;
}

/* Channels that get their own mean and std: all of them up to SN_NORM_MAX_C, else one pair. */
static int norm_channels(int c) { return c <= SN_NORM_MAX_C ? c : 1; }

int sn_dataset_stats(const sn_dataset *d, int max_samples, uint64_t seed, sn_norm *norm)
{
	const int nc = norm_channels(d->c);
	const size_t hw = (size_t)d->h * d->w, chw = (size_t)d->c * hw;
	int n = d->n, *pick = NULL;
	memset(norm, 0, sizeof *norm);
	norm->c = nc;
	if (max_samples > 0 && n > max_samples) {   /* a seeded sample of a large (streamed) set */
		pick = malloc((size_t)d->n * sizeof *pick);
		if (!pick) return sn_seterr(SN_ENOMEM, "out of memory for the normalisation statistics");
		sn_rng r;
		sn_rng_seed(&r, seed ^ 0x57a75ULL);
		for (int i = 0; i < d->n; i++) pick[i] = i;
		for (int i = 0; i < max_samples; i++) {
			int j = i + (int)sn_rng_below(&r, (uint32_t)(d->n - i)), t = pick[i];
			pick[i] = pick[j];
			pick[j] = t;
		}
		n = max_samples;
	}
	if (d->fimages) {   /* floats as stored: sums in double, two passes for a stable variance */
		for (int ch = 0; ch < nc; ch++) {
			double s1 = 0, s2 = 0;
			size_t cnt = 0;
			for (int i = 0; i < n; i++) {
				int k = d->index ? d->index[pick ? pick[i] : i] : pick ? pick[i] : i;
				const float *p = d->fimages + (size_t)k * chw + (nc == 1 ? 0 : ch * hw);
				size_t m = nc == 1 ? chw : hw;
				for (size_t j = 0; j < m; j++) s1 += p[j];
				cnt += m;
			}
			double mean = cnt ? s1 / cnt : 0;
			for (int i = 0; i < n; i++) {
				int k = d->index ? d->index[pick ? pick[i] : i] : pick ? pick[i] : i;
				const float *p = d->fimages + (size_t)k * chw + (nc == 1 ? 0 : ch * hw);
				size_t m = nc == 1 ? chw : hw;
				for (size_t j = 0; j < m; j++) s2 += (p[j] - mean) * (p[j] - mean);
			}
			double sd = cnt ? sqrt(s2 / cnt) : 0;
			norm->mean[ch] = (float)mean;
			norm->std[ch] = sd > 1e-12 ? (float)sd : 1.0f;
		}
		free(pick);
		return SN_OK;
	}
	hist4 *h = calloc((size_t)nc, sizeof *h);
	uint8_t *tmp = d->images ? NULL : malloc(chw + 1);
	if (!h || (!d->images && !tmp)) {
		free(h); free(tmp); free(pick);
		return sn_seterr(SN_ENOMEM, "out of memory for the normalisation statistics");
	}
	int rc = SN_OK;
	for (int i = 0; i < n && !rc; i++) {
		int k = d->index ? d->index[pick ? pick[i] : i] : pick ? pick[i] : i;
		const uint8_t *p;
		if (d->images) {
			p = d->images + (size_t)k * chw;
		} else {
			/* a file that does not decode is counted when a batch needs it, not here */
			rc = sn_source_sample(d->src, k, NULL, tmp);
			if (rc == SN_EFORMAT) { rc = SN_OK; continue; }
			if (rc) break;
			p = tmp;
		}
		for (int ch = 0; ch < d->c; ch++) hist_add(&h[nc == 1 ? 0 : ch], p + ch * hw, hw);
	}
	for (int ch = 0; ch < nc; ch++) hist_stats(&h[ch], &norm->mean[ch], &norm->std[ch]);
	free(h); free(tmp); free(pick);
	return rc;
}

/* ---------------------------------------------------------------- channels */

/* Luma as PIL's convert('L'): ITU-R 601-2 weights in 16-bit fixed point, rounded. */
static inline uint8_t luma(unsigned r, unsigned g, unsigned b)
{
	return (uint8_t)((r * 19595u + g * 38470u + b * 7471u + 0x8000u) >> 16);
}

int sn_convert_channels(const uint8_t *src, int sc, uint8_t *dst, int dc, size_t hw)
{
	if (sc == dc) {
		memcpy(dst, src, (size_t)sc * hw);
	} else if (sc == 1 && dc == 3) {
		for (int ch = 0; ch < 3; ch++) memcpy(dst + ch * hw, src, hw);
	} else if ((sc == 3 || sc == 4) && dc == 1) {   /* RGBA: alpha dropped, as PIL */
		for (size_t i = 0; i < hw; i++) dst[i] = luma(src[i], src[hw + i], src[2 * hw + i]);
	} else if (sc == 4 && dc == 3) {
		memcpy(dst, src, 3 * hw);
	} else {
		return sn_seterr(SN_ESHAPE, "cannot convert %d-channel images to the model's %d channels (only gray, RGB "
		                 "and RGBA convert)", sc, dc);
	}
	return SN_OK;
}

int sn_resize_side(int resize, int w, int h, int oh, int ow)
{
	if (resize > 0) return resize;
	const long s = w < h ? w : h;
	/* torchvision keeps the long side at int(side * long / short): round up until it covers */
	long side = (long)ceil(fmax((double)s * ow / w, (double)s * oh / h) - 1e-9);
	for (;; side++) {
		long nw = w <= h ? side : side * w / h, nh = w <= h ? side * h / w : side;
		if (nw >= ow && nh >= oh) return (int)side;
	}
}
