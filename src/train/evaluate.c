/* Test-set evaluation: mean loss, top-1 and top-5 accuracy and the confusion matrix, in
 * inference mode, with the batches made ahead by the loader. */
#include "core/internal.h"
#include "data/loader.h"
#include "dist/dist.h"
#include "train/train_internal.h"

int sn_check_data(const sn_graph *g, const sn_dataset *d)
{
	sn_shape in = sn_graph_input_shape(g);
	const int classes = (int)sn_shape_numel(sn_graph_output_shape(g));
	if ((size_t)d->c * d->h * d->w != sn_shape_numel(in)) {
		char s[64];
		return sn_seterr(SN_ESHAPE, "the model expects inputs %s but the data set has %dx%dx%d images",
		                 sn_shape_str(in, s, sizeof s), d->c, d->h, d->w);
	}
	if (classes < d->classes)
		return sn_seterr(SN_ESHAPE, "the model has %d outputs but the data set has %d classes: give the model a "
		                 "new head (slimnn train MODEL --num-classes %d)", classes, d->classes, d->classes);
	if (d->n == 0) return sn_seterr(SN_EINVAL, "the data set is empty");
	return SN_OK;
}

/* 1 when label y is among the k largest of z (ties counted against it: a strictly larger output
 * pushes it down, as torch.topk on distinct values). */
static int in_top(const float *z, int classes, int y, int k)
{
	int above = 0;
	for (int j = 0; j < classes; j++) above += z[j] > z[y];
	return above < k;
}

void sn_eval_free(sn_eval_result *r)
{
	if (!r) return;
	free(r->confusion);
	r->confusion = NULL;
}

/* The confusion matrices of every process, summed. */
static int sum_counts(int *c, size_t n)
{
	long long *t = malloc((n + 1) * sizeof *t);
	if (!t) return sn_dist_agree(sn_seterr(SN_ENOMEM, "out of memory"));
	int rc = sn_dist_agree(SN_OK);   /* every process got here */
	for (size_t i = 0; i < n; i++) t[i] = c[i];
	if (!rc) sn_dist_sum_i64(t, n);
	for (size_t i = 0; i < n; i++) c[i] = (int)t[i];
	free(t);
	return rc;
}

int sn_evaluate(sn_graph *g, const sn_dataset *d, int batch, sn_eval_result *r)
{
	memset(r, 0, sizeof *r);
	const int classes = (int)sn_shape_numel(sn_graph_output_shape(g));
	int rc = sn_check_data(g, d);
	if (rc) return rc;
	batch = SN_MIN(batch, d->n);
	int train = g->plan->train;   /* the caller's mode comes back after */
	rc = sn_graph_plan(g, batch, 0);
	if (rc) return rc;
	g->plan->train = 0;
	r->classes = classes;
	r->confusion = calloc((size_t)classes * classes, sizeof *r->confusion);
	int *order = malloc((size_t)d->n * sizeof *order);
	sn_loader *L = r->confusion && order ? sn_loader_new(d, batch, sn_loader_default_workers(d), 4) : NULL;
	if (!L) {
		free(order);
		sn_eval_free(r);
		g->plan->train = train;
		return r->confusion ? sn_errcode() : sn_seterr(SN_ENOMEM, "out of memory for a %d-class confusion matrix",
		                                                  classes);
	}
	/* several processes: each evaluates its share of the rows, the counts are summed below */
	long lo, hi;
	sn_dist_share(d->n, &lo, &hi);
	for (long i = lo; i < hi; i++) order[i - lo] = (int)i;
	sn_loader_start(L, order, NULL, (int)(hi - lo));
	int correct = 0, top5 = 0;
	for (;;) {
		const float *x;
		const int32_t *y;
		int n;
		if ((rc = sn_loader_next(L, &x, &y, &n)) || !n) break;
		const float *z = sn_graph_forward(g, x, n);
		if (!z) { rc = sn_errcode(); break; }
		r->loss += sn_softmax_xent(z, y, n, classes, NULL, &correct);
		for (int i = 0; i < n; i++) {
			const float *zi = z + (size_t)i * classes;
			int a = 0;
			for (int k = 1; k < classes; k++) if (zi[k] > zi[a]) a = k;
			r->confusion[(size_t)y[i] * classes + a]++;
			top5 += in_top(zi, classes, y[i], 5);
		}
	}
	sn_loader_free(L);
	free(order);
	g->plan->train = train;
	if (sn_dist_size() > 1 && !(rc = sn_dist_agree(rc))) {
		double t[3] = {r->loss, correct, top5};
		sn_dist_sum_f64(t, 3);
		r->loss = t[0];
		correct = (int)t[1];
		top5 = (int)t[2];
		rc = sum_counts(r->confusion, (size_t)classes * classes);
	}
	if (rc) { sn_eval_free(r); return rc; }
	r->n = d->n;
	r->loss /= d->n;
	r->accuracy = (double)correct / d->n;
	r->top5 = (double)top5 / d->n;
	return SN_OK;
}
