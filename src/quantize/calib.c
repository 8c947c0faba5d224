/* Calibration of int8 activation ranges: the histogram and the four methods (calib.h). */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "kernels/qmath.h"
#include "quantize/calib.h"
#include "core/error.h"

int sn_hist_init(sn_hist *h, float lo, float hi, int bins, int absolute)
{
	memset(h, 0, sizeof *h);
	if (bins < 1) return sn_seterr(SN_EINVAL, "a histogram needs at least one bin");
	h->count = calloc((size_t)bins, sizeof *h->count);
	if (!h->count) return sn_seterr(SN_ENOMEM, "out of memory for a %d-bin histogram", bins);
	h->bins = bins;
	h->absolute = absolute;
	h->lo = absolute ? 0 : lo;
	h->hi = hi > h->lo ? hi : h->lo;
	h->min = FLT_MAX;
	h->max = -FLT_MAX;
	return SN_OK;
}

void sn_hist_free(sn_hist *h)
{
	free(h->count);
	memset(h, 0, sizeof *h);
}

void sn_hist_add(sn_hist *h, const float *x, size_t n)
{
	const double w = ((double)h->hi - h->lo) / h->bins;
	for (size_t i = 0; i < n; i++) {
		const float v = h->absolute ? fabsf(x[i]) : x[i];
		if (v != v) continue;
		if (x[i] < h->min) h->min = x[i];
		if (x[i] > h->max) h->max = x[i];
		const double f = w > 0 ? floor(((double)v - h->lo) / w) : 0;
		const int k = f < 0 ? 0 : f >= h->bins ? h->bins - 1 : (int)f;
		h->count[k] += 1;
	}
}

/* Expected squared error of the histogram quantized over [a, b] (asymmetric int8). */
static double mse_of(const sn_hist *h, double w, float a, float b)
{
	const sn_qparams p = sn_q_params_asym(a, b);
	double e = 0;
	for (int i = 0; i < h->bins; i++) {
		if (!h->count[i]) continue;
		const double c = h->lo + (i + 0.5) * w;
		const float cf = (float)c;
		long q = lrintf(cf / p.scale) + p.zero_point;
		q = q < -128 ? -128 : q > 127 ? 127 : q;
		const float back = p.scale * (float)(q - p.zero_point);
		e += h->count[i] * (c - back) * (c - back);
	}
	return e;
}

static void range_mse(const sn_hist *h, float *a, float *b)
{
	const double w = ((double)h->hi - h->lo) / h->bins;
	int s = 0, e = h->bins, bs = 0, be = h->bins;
	const int minw = h->bins / 16 > 1 ? h->bins / 16 : 1;
	double best = mse_of(h, w, (float)(h->lo + s * w), (float)(h->lo + e * w));
	while (e - s > minw) {
		const double up = mse_of(h, w, (float)(h->lo + (s + 1) * w), (float)(h->lo + e * w));
		const double down = mse_of(h, w, (float)(h->lo + s * w), (float)(h->lo + (e - 1) * w));
		double cur;
		if (up < down) { s++; cur = up; }
		else { e--; cur = down; }
		if (cur < best) { best = cur; bs = s; be = e; }
	}
	*a = (float)(h->lo + bs * w);
	*b = (float)(h->lo + be * w);
}

/* MXNet's _smooth_distribution: eps moved onto the zero entries from the others; 0 when p
 * has no non-zero entry (no distribution). */
static int smooth(double *p, int n)
{
	int zeros = 0;
	for (int i = 0; i < n; i++) zeros += p[i] == 0;
	if (zeros == n) return 0;
	const double eps = 1e-4, eps1 = eps * zeros / (n - zeros);
	for (int i = 0; i < n; i++) p[i] += p[i] == 0 ? eps : -eps1;
	return 1;
}

/* KL(p || q) after normalising both (scipy.stats.entropy); p, q > 0 here. */
static double kl(const double *p, const double *q, int n)
{
	double sp = 0, sq = 0, d = 0;
	for (int i = 0; i < n; i++) { sp += p[i]; sq += q[i]; }
	for (int i = 0; i < n; i++) {
		const double pi = p[i] / sp, qi = q[i] / sq;
		if (pi > 0) d += qi > 0 ? pi * log(pi / qi) : INFINITY;
	}
	return d;
}

static float threshold_entropy(const sn_hist *h)
{
	const int levels = 128, B = h->bins;
	const double w = ((double)h->hi - h->lo) / B;
	if (B <= levels) return h->hi;
	double *p = malloc((size_t)B * sizeof *p), *q = malloc((size_t)B * sizeof *q);
	double *tail = malloc(((size_t)B + 1) * sizeof *tail);
	if (!p || !q || !tail) { free(p); free(q); free(tail); return h->hi; }
	tail[B] = 0;
	for (int i = B - 1; i >= 0; i--) tail[i] = tail[i + 1] + h->count[i];
	double best = INFINITY;
	int best_i = B;
	for (int i = levels; i <= B; i++) {
		const double *sliced = h->count;
		memcpy(p, sliced, (size_t)i * sizeof *p);
		p[i - 1] += tail[i];                       /* what the threshold clips lands in its last bin */
		const int merged = i / levels;
		for (int j = 0; j < levels; j++) {
			const int start = j * merged, stop = j == levels - 1 ? i : start + merged;
			double sum = 0;
			int nonzero = 0;
			for (int k = start; k < stop; k++) { sum += sliced[k]; nonzero += p[k] != 0; }
			for (int k = start; k < stop; k++) q[k] = p[k] != 0 && nonzero ? sum / nonzero : 0;
		}
		if (!smooth(p, i) || !smooth(q, i)) continue;
		const double d = kl(p, q, i);
		if (d < best) { best = d; best_i = i; }
	}
	free(p); free(q); free(tail);
	return (float)(best_i * w);
}

void sn_calib_range(const sn_hist *h, sn_calib_method m, double q, float *a, float *b)
{
	double n = 0;
	for (int i = 0; i < h->bins; i++) n += h->count[i];
	*a = *b = 0;
	if (!(n > 0)) return;
	const double w = ((double)h->hi - h->lo) / h->bins;
	switch (m) {
	case SN_CALIB_MINMAX:
		*a = h->min;
		*b = h->max;
		return;
	case SN_CALIB_PERCENTILE: {
		const double need = q / 100 * n;
		double cum = 0;
		int ib = h->bins - 1, ia = 0;
		for (int i = 0; i < h->bins; i++) { cum += h->count[i]; if (cum >= need) { ib = i; break; } }
		cum = 0;
		for (int i = h->bins - 1; i >= 0; i--) { cum += h->count[i]; if (cum >= need) { ia = i; break; } }
		*a = (float)(h->lo + ia * w);
		*b = (float)(h->lo + (ib + 1) * w);
		if (h->absolute) *a = -*b;
		return;
	}
	case SN_CALIB_MSE:
		range_mse(h, a, b);
		if (h->absolute) *a = -*b;
		return;
	case SN_CALIB_ENTROPY: {
		const float t = h->absolute ? threshold_entropy(h) : h->hi;
		*a = h->min < -t ? -t : h->min;
		*b = t;
		return;
	}
	}
}

int sn_calib_method_from_name(const char *name)
{
	static const char *const names[] = {"minmax", "percentile", "mse", "entropy"};
	for (int i = 0; i < 4; i++)
		if (!strcmp(name, names[i])) return i;
	return -1;
}
