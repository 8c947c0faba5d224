/* Quantization-aware training around the training loop (train/train_internal.h): the master
 * weights, the observers across processes, the int8 model after each epoch. The rounding itself
 * is the plan's (SN_PLAN_FAKE_QUANT) and core/qat.c's. */
#include <math.h>
#include "core/internal.h"
#include "core/quant.h"
#include "dist/dist.h"
#include "train/train_internal.h"

int sn_qat_begin(sn_qat *q, sn_graph *g, const sn_train_opts *o)
{
	*q = (sn_qat){0};
	if (!o->qat) return SN_OK;
	if (!sn_graph_is_int8(g))
		return sn_seterr(SN_EINVAL, "quantization-aware training needs a quantized model: quantize it first "
		                 "(slimnn quantize MODEL --data DIR -o q.slim), then train q.slim with --qat");
	if (!(o->qat_momentum > 0 && o->qat_momentum <= 1))
		return sn_seterr(SN_EINVAL, "the observers' momentum must be in (0, 1], e.g. 0.01");
	q->observe_epochs = o->qat_observe_epochs >= 0 ? o->qat_observe_epochs : (o->epochs + 1) / 2;
	q->momentum = o->qat_momentum;
	q->master = malloc(SN_MAX(g->n_w, 1) * sizeof *q->master);
	q->range = malloc((size_t)SN_MAX(g->n_node, 1) * 2 * sizeof *q->range);
	if (!q->master || !q->range) { sn_qat_end(q); return sn_seterr(SN_ENOMEM, "out of memory"); }
	memcpy(q->master, g->w, g->n_w * sizeof *g->w);
	return SN_OK;
}

unsigned sn_qat_plan_flags(const sn_qat *q) { return SN_PLAN_TRAIN | (q->master ? SN_PLAN_FAKE_QUANT : 0); }

void sn_qat_round(sn_qat *q, sn_graph *g)
{
	if (!q->master) return;
	memcpy(q->master, g->w, g->n_w * sizeof *g->w);
	sn_qat_fake_weights(g);
}

void sn_qat_unround(sn_qat *q, sn_graph *g, int epoch, int ok, int ran)
{
	if (!q->master) return;
	memcpy(g->w, q->master, g->n_w * sizeof *g->w);
	if (!ok || epoch >= q->observe_epochs) return;
	const int N = g->n_node;
	for (int i = 0; i < N; i++) {
		const sn_node_rt *r = &g->plan->rt[i];
		const int seen = ran && r->fq;
		q->range[i] = seen ? -r->fq_lo : -INFINITY;   /* minima as maxima of the negations */
		q->range[N + i] = seen ? r->fq_hi : -INFINITY;
	}
	sn_dist_max_f32(q->range, 2 * (size_t)N);
	for (int i = 0; i < N; i++) q->range[i] = -q->range[i];
	sn_qat_observe(g, q->range, q->range + N, q->momentum);
}

int sn_qat_settle_epoch(sn_qat *q, sn_graph *g)
{
	if (!q->master) return SN_OK;
	memcpy(q->master, g->w, g->n_w * sizeof *g->w);
	q->settled = 1;
	return sn_qat_settle(g);
}

void sn_qat_resume(sn_qat *q, sn_graph *g)
{
	if (!q->settled) return;
	memcpy(g->w, q->master, g->n_w * sizeof *g->w);
	g->version++;   /* the weights changed under any plan */
	q->settled = 0;
}

void sn_qat_end(sn_qat *q)
{
	free(q->master); free(q->range);
	*q = (sn_qat){0};
}
