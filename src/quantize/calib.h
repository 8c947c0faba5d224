/* Calibration of int8 activation ranges (src/quantize/calib.c): a tensor's values over the
 * calibration images go into a histogram, and a method picks the range [a, b] that int8 will
 * cover. Values outside it saturate; inside, the step is (b - a) / 255.
 *
 * The histogram has `bins` equal bins over [lo, hi] (found by a first pass, minmax); bin i
 * holds [lo + i*w, lo + (i+1)*w), w = (hi - lo) / bins, and hi itself falls in the last bin.
 * With `absolute` set it holds |x| over [0, hi] instead (the entropy method's input).
 *
 *   minmax      [lo, hi]: nothing saturates.
 *   percentile  q (e.g. 99.99): b is the upper edge of the first bin where the cumulative share
 *               of the values reaches q/100; a, the lower edge of the last bin where the share
 *               of values at or above it is still at least q/100.
 *   mse         the bin-aligned [a, b] that minimises the expected squared error of quantizing
 *               the histogram (each bin's count at its centre, through sn_q_params_asym(a, b)):
 *               from [lo, hi], a greedy search moves a up or b down one bin at a time, whichever
 *               gives the smaller error (b on ties), down to a sixteenth of the bins, and keeps
 *               the best range seen (PyTorch's HistogramObserver searches the same way).
 *   entropy     TensorRT's: over an absolute histogram, the threshold t = i*w (i from 128 bins
 *               up to all) whose 128-level quantization of the clipped distribution (clipped
 *               mass added to bin i-1) has the least KL divergence from it, both smoothed with
 *               eps 1e-4 (MXNet's _get_optimal_threshold); the range is [max(lo, -t), t],
 *               lo being the signed minimum.
 * tools/gen_calib_fixtures.py computes the same with numpy; tests/test_calib.c compares. */
#ifndef SN_QUANTIZE_CALIB_H
#define SN_QUANTIZE_CALIB_H
#include <stddef.h>
#include "slimnn.h"   /* sn_calib_method */


typedef struct {
	int bins, absolute;
	float lo, hi;         /* the histogram's range */
	float min, max;       /* the signed extremes seen (for minmax and entropy's lower end) */
	double *count;        /* bins counts */
} sn_hist;

/* A histogram of `bins` bins over [lo, hi] (|x| over [0, hi] when absolute). SN_OK or SN_ENOMEM. */
int sn_hist_init(sn_hist *h, float lo, float hi, int bins, int absolute);
/* Adds n values (NaNs are ignored; values outside the range go to the end bins). */
void sn_hist_add(sn_hist *h, const float *x, size_t n);
void sn_hist_free(sn_hist *h);
/* The range [*a, *b] a method picks (percentile: q in (0, 100]). An empty histogram gives [0, 0]. */
void sn_calib_range(const sn_hist *h, sn_calib_method m, double q, float *a, float *b);
#endif
