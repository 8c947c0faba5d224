/* Softmax cross-entropy, computed with the max subtracted for stability. */
#include <math.h>
#include "slimnn.h"

double sn_softmax_xent(const float *logits, const int32_t *labels, int n, int classes,
                       float *dlogits, int *correct)
{
	return sn_softmax_xent_smooth(logits, labels, n, classes, 0.0f, dlogits, correct);
}

/* With smoothing e the target is (1 - e) on the label plus e / classes on every class:
 * loss = lse - sum_k q_k z_k, gradient p_k - q_k. */
double sn_softmax_xent_smooth(const float *logits, const int32_t *labels, int n, int classes, float smoothing,
                              float *dlogits, int *correct)
{
	const double off = (double)smoothing / classes, on = 1.0 - smoothing + off;
	double total = 0;
	for (int r = 0; r < n; r++) {
		const float *z = logits + (size_t)r * classes;
		int arg = 0;
		for (int k = 1; k < classes; k++) if (z[k] > z[arg]) arg = k;
		if (correct && arg == labels[r]) (*correct)++;
		double s = 0;
		for (int k = 0; k < classes; k++) s += exp((double)z[k] - z[arg]);
		double lse = log(s) + z[arg];
		double zq = 0;
		for (int k = 0; k < classes; k++) zq += (k == labels[r] ? on : off) * z[k];
		total += lse - zq;
		if (dlogits)
			for (int k = 0; k < classes; k++)
				dlogits[(size_t)r * classes + k] = (float)((exp(z[k] - lse) - (k == labels[r] ? on : off)) / n);
	}
	return total;
}
