/* First-order Taylor importance (Molchanov et al. 2017): removing weight w changes the loss by
 * about |w * dL/dw|. The gradients come from a few seeded training batches; g->gw is left
 * holding their mean magnitude, which the taylor criterion multiplies by |w|. */
#include <math.h>
#include "core/internal.h"
#include "core/quant.h"
#include "prune/prune.h"
#include "train/train.h"

typedef struct {
	float *x, *dlogits, *acc, *buf;
	int32_t *y;
	int *order, *idx;
} taylor_buffers;

static void free_buffers(taylor_buffers *b)
{
	free(b->x); free(b->dlogits); free(b->acc); free(b->buf); free(b->y); free(b->order); free(b->idx);
}

static int alloc_buffers(taylor_buffers *b, const sn_graph *g, const sn_dataset *d, int batch)
{
	const size_t in = sn_shape_numel(sn_graph_input_shape(g)), classes = sn_graph_output_shape(g).c;
	b->x = malloc((size_t)batch * in * sizeof *b->x);
	b->dlogits = malloc((size_t)batch * classes * sizeof *b->dlogits);
	b->acc = calloc(g->n_w + 1, sizeof *b->acc);
	b->buf = malloc((g->n_buf + 1) * sizeof *b->buf);
	b->y = malloc((size_t)batch * sizeof *b->y);
	b->order = malloc((size_t)d->n * sizeof *b->order);
	b->idx = malloc((size_t)batch * sizeof *b->idx);
	if (b->x && b->dlogits && b->acc && b->buf && b->y && b->order && b->idx) return SN_OK;
	free_buffers(b);
	return sn_seterr(SN_ENOMEM, "out of memory for the Taylor scores");
}

void sn_prune_permutation(int *order, int n, uint64_t seed)
{
	sn_rng r;
	sn_rng_seed(&r, seed);
	for (int i = 0; i < n; i++) order[i] = i;
	for (int i = n - 1; i > 0; i--) {
		int j = (int)sn_rng_below(&r, (uint32_t)i + 1), t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
}

int sn_prune_taylor(sn_graph *g, const sn_dataset *d, int batches, int batch, uint64_t seed)
{
	if (batches < 1 || batch < 1)
		return sn_seterr(SN_EINVAL, "Taylor scores need at least one batch of one image, got %d of %d", batches, batch);
	int rc = sn_check_data(g, d);
	if (rc) return rc;
	batch = SN_MIN(batch, d->n);
	taylor_buffers b = {0};
	if ((rc = alloc_buffers(&b, g, d, batch))) return rc;
	/* an int8 model's gradients through its rounding, as its fine-tuning (--qat) sees them */
	const unsigned flags = SN_PLAN_TRAIN | (sn_graph_is_int8(g) ? SN_PLAN_FAKE_QUANT : 0);
	if ((rc = sn_plan_reshape(g->plan, batch, flags))) { free_buffers(&b); return rc; }
	/* training mode as in fine-tuning; what it changes in the model is put back afterwards */
	sn_plan *pl = g->plan;
	const sn_rng rng = pl->rng;
	const int train = pl->train;
	memcpy(b.buf, g->buf, g->n_buf * sizeof *b.buf);
	sn_rng_seed(&pl->rng, seed ^ 0x7a71043ULL);
	pl->train = 1;
	sn_prune_permutation(b.order, d->n, seed);   /* the batches walk through it, wrapping around */
	const int classes = sn_graph_output_shape(g).c;
	int correct = 0;
	for (int k = 0; k < batches; k++) {
		for (int i = 0; i < batch; i++) b.idx[i] = b.order[((size_t)k * batch + i) % (size_t)d->n];
		if ((rc = sn_dataset_batch(d, b.idx, batch, NULL, NULL, b.x, b.y))) break;
		const float *z = sn_graph_forward(g, b.x, batch);
		if (!z) { rc = sn_errcode(); break; }
		if (!z) { rc = sn_errcode(); break; }
		sn_softmax_xent(z, b.y, batch, classes, b.dlogits, &correct);
		sn_graph_zero_grad(g);
		if ((rc = sn_graph_backward(g, b.dlogits))) break;
		for (size_t i = 0; i < g->n_w; i++) b.acc[i] += fabsf(g->gw[i]);
	}
	if (!rc)
		for (size_t i = 0; i < g->n_w; i++) g->gw[i] = b.acc[i] / (float)batches;
	memcpy(g->buf, b.buf, g->n_buf * sizeof *b.buf);
	pl->rng = rng;
	pl->train = train;
	free_buffers(&b);
	return rc;
}
