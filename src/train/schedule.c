/* Learning-rate schedules: constant, step, cosine (per step, to zero), and one-cycle with
 * PyTorch's OneCycleLR defaults (cosine warm-up from lr/25 over pct_start, then cosine
 * annealing to lr/25/1e4; momentum cycled inversely, see sn_schedule_momentum). */
#include <math.h>
#include "train/train_internal.h"

#define SN_MINF(a, b) ((a) < (b) ? (a) : (b))

static double cos_anneal(double start, double end, double pct)
{
	return end + (start - end) / 2.0 * (1.0 + cos(M_PI * pct));
}

/* phase position of a one-cycle step: returns 1 in warm-up, 2 after; *pct in [0,1] */
static int onecycle_phase(const sn_train_opts *o, uint64_t step, uint64_t total, double *pct)
{
	double up = o->pct_start * (double)total - 1.0, end = (double)total - 1.0;
	if ((double)step <= up) { *pct = up > 0 ? step / up : 1.0; return 1; }
	*pct = end > up ? (step - up) / (end - up) : 1.0;
	if (*pct > 1) *pct = 1;
	return 2;
}

float sn_schedule_lr(const sn_train_opts *o, uint64_t step, uint64_t total, int steps_per_epoch)
{
	switch (o->schedule) {
	case SN_SCHED_STEP: {
		int epoch = (int)(step / (uint64_t)steps_per_epoch);
		return o->lr * powf(o->gamma, (float)(epoch / (o->step_size > 0 ? o->step_size : 1)));
	}
	case SN_SCHED_COSINE: return (float)cos_anneal(o->lr, 0.0, total ? (double)step / total : 1.0);   /* CosineAnnealingLR, T_max = total */
	case SN_SCHED_ONECYCLE: {
		double pct, lo = o->lr / 25.0, fin = lo / 1e4;
		return onecycle_phase(o, step, total, &pct) == 1 ? (float)cos_anneal(lo, o->lr, pct)
		                                                  : (float)cos_anneal(o->lr, fin, pct);
	}
	default: return o->lr;
	}
}

/* One-cycle cycles momentum (Adam: beta1) inversely to the lr, +-0.05 around the configured
 * value: PyTorch's 0.95 -> 0.85 -> 0.95 for the default 0.9. */
float sn_schedule_momentum(const sn_train_opts *o, uint64_t step, uint64_t total)
{
	const float m = o->optimizer == SN_OPT_ADAM ? o->beta1 : o->momentum;
	if (o->schedule != SN_SCHED_ONECYCLE || m == 0) return m;
	double pct, hi = SN_MINF(m + 0.05, 0.999), lo = m - 0.05 > 0 ? m - 0.05 : 0;
	return onecycle_phase(o, step, total, &pct) == 1 ? (float)cos_anneal(hi, lo, pct) : (float)cos_anneal(lo, hi, pct);
}
