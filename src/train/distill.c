/* Knowledge distillation (Hinton et al. 2015): the student matches the teacher's softened
 * distribution p = softmax(t/T) with its own q = softmax(s/T), and still the labels:
 *   loss = alpha T^2 KL(p || q) + (1 - alpha) CE(softmax(s), y)
 *   d loss / d s = alpha T (q - p) + (1 - alpha) (softmax(s) - onehot(y))
 * The T^2 keeps the soft term's gradient on the scale of the hard one as T changes. */
#include <math.h>
#include "slimnn.h"

/* log-sum-exp of z/T over k values, max subtracted */
static double lse(const float *z, int k, double T, int *arg)
{
	int a = 0;
	for (int j = 1; j < k; j++) if (z[j] > z[a]) a = j;
	double s = 0;
	for (int j = 0; j < k; j++) s += exp((z[j] - (double)z[a]) / T);
	if (arg) *arg = a;
	return log(s) + z[a] / T;
}

double sn_distill_xent(const float *student, const float *teacher, const int32_t *labels, int n, int classes,
                       float alpha, float T, float *dlogits, int *correct)
{
	double total = 0;
	for (int r = 0; r < n; r++) {
		const float *s = student + (size_t)r * classes, *t = teacher + (size_t)r * classes;
		int arg;
		const double ls1 = lse(s, classes, 1, &arg), lsT = lse(s, classes, T, NULL), ltT = lse(t, classes, T, NULL);
		if (correct && arg == labels[r]) (*correct)++;
		double kl = 0;
		for (int k = 0; k < classes; k++) {
			double lp = t[k] / T - ltT, lq = s[k] / T - lsT, p = exp(lp);
			kl += p * (lp - lq);
			if (dlogits) {
				double soft = T * (exp(lq) - p), hard = exp(s[k] - ls1) - (k == labels[r]);
				dlogits[(size_t)r * classes + k] = (float)((alpha * soft + (1 - alpha) * hard) / n);
			}
		}
		total += alpha * T * T * kl + (1 - alpha) * (ls1 - s[labels[r]]);
	}
	return total;
}
