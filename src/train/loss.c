/* Softmax cross-entropy, computed with the max subtracted for stability. */
#include <math.h>
#include "slimnn.h"

double sn_softmax_xent(const float *logits, const uint8_t *labels, int n, int classes,
                       float *dlogits, int *correct)
{
	double total = 0;
	for (int r = 0; r < n; r++) {
		const float *z = logits + (size_t)r * classes;
		int arg = 0;
		for (int k = 1; k < classes; k++) if (z[k] > z[arg]) arg = k;
		if (correct && arg == labels[r]) (*correct)++;
		double s = 0;
		for (int k = 0; k < classes; k++) s += exp((double)z[k] - z[arg]);
		double lse = log(s) + z[arg];
		total += lse - z[labels[r]];
		if (dlogits)
			for (int k = 0; k < classes; k++)
				dlogits[(size_t)r * classes + k] = (float)((exp(z[k] - lse) - (k == labels[r])) / n);
	}
	return total;
}
