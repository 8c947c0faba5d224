/* SGD (momentum, Nesterov, L2 weight decay) and Adam, with PyTorch's update rules, over the
 * flat parameter vector one tensor at a time (frozen tensors are skipped, masks enforced). */
#include <math.h>
#include "core/internal.h"
#include "train/train_internal.h"

static void sgd(float *w, const float *gr, float *m, size_t n, const sn_train_opts *o, float lr, float mom)
{
	const float wd = o->weight_decay;
	for (size_t i = 0; i < n; i++) {
		float d = gr[i] + wd * w[i];
		if (mom != 0) {
			m[i] = mom * m[i] + d;
			d = o->nesterov ? d + mom * m[i] : m[i];
		}
		w[i] -= lr * d;
	}
}

static void adam(float *w, const float *gr, float *m, float *v, size_t n, const sn_train_opts *o,
                 float lr, float b1, uint64_t t)
{
	const float b2 = o->beta2, wd = o->weight_decay;
	const double c1 = 1.0 - pow(b1, (double)t), c2 = 1.0 - pow(b2, (double)t);
	const float step = (float)(lr / c1), rc2 = (float)(1.0 / sqrt(c2));
	for (size_t i = 0; i < n; i++) {
		float d = gr[i] + wd * w[i];
		m[i] = b1 * m[i] + (1 - b1) * d;
		v[i] = b2 * v[i] + (1 - b2) * d * d;
		w[i] -= step * m[i] / (sqrtf(v[i]) * rc2 + o->adam_eps);
	}
}

static void mask_vec(float *x, const uint8_t *mask, size_t n)
{
	for (size_t i = 0; i < n; i++) if (!mask[i]) x[i] = 0.0f;
}

/* Tensors are cut into chunks so that one big tensor (a 3136x256 Linear) still spreads over
 * every thread; each element's update is independent, so the result is thread-count free. */
#define OPT_CHUNK 16384

static void step_range(sn_graph *g, const sn_train_opts *o, float lr, float momentum, uint64_t t,
                       float *m, float *v, sn_tensor *ts, size_t i0, size_t n)
{
	float *w = ts->data + i0, *gr = ts->grad + i0, *mm = m + ts->off + i0, *vv = v ? v + ts->off + i0 : NULL;
	const uint8_t *mask = ts->mask ? ts->mask + i0 : NULL;
	if (mask) mask_vec(gr, mask, n);
	if (o->optimizer == SN_OPT_ADAM) adam(w, gr, mm, vv, n, o, lr, momentum, t);
	else sgd(w, gr, mm, n, o, lr, momentum);
	if (mask) { mask_vec(w, mask, n); mask_vec(mm, mask, n); if (vv) mask_vec(vv, mask, n); }
}

static int trains(const sn_graph *g, const sn_tensor *ts)
{
	return ts->kind == SN_TENSOR_PARAM && !g->node[ts->node].frozen;
}

static size_t chunks_of(const sn_tensor *ts) { return (ts->n + OPT_CHUNK - 1) / OPT_CHUNK; }

void sn_optim_step(sn_graph *g, const sn_train_opts *o, float lr, float momentum, uint64_t t,
                   float *m, float *v)
{
	size_t total = 0;
	for (int k = 0; k < g->n_tensor; k++) if (trains(g, &g->tensor[k])) total += chunks_of(&g->tensor[k]);
	#pragma omp parallel for schedule(static)
	for (size_t c = 0; c < total; c++) {
		size_t rest = c;
		int k = 0;
		for (;; k++) { /* the tensor holding chunk c: a short scan over a few dozen tensors */
			if (!trains(g, &g->tensor[k])) continue;
			if (rest < chunks_of(&g->tensor[k])) break;
			rest -= chunks_of(&g->tensor[k]);
		}
		sn_tensor *ts = &g->tensor[k];
		size_t i0 = rest * OPT_CHUNK;
		step_range(g, o, lr, momentum, t, m, v, ts, i0, SN_MIN((size_t)OPT_CHUNK, ts->n - i0));
	}
}

void sn_apply_masks(sn_graph *g)
{
	for (int k = 0; k < g->n_tensor; k++)
		if (g->tensor[k].mask) mask_vec(g->tensor[k].data, g->tensor[k].mask, g->tensor[k].n);
}
