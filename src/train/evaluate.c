/* Test-set evaluation: mean loss, accuracy and the confusion matrix, in inference mode. */
#include "core/internal.h"
#include "train/train_internal.h"

int sn_check_data(const sn_graph *g, const sn_dataset *d)
{
	sn_shape in = sn_graph_input_shape(g);
	const int classes = sn_graph_output_shape(g).c;
	if ((size_t)d->c * d->h * d->w != sn_shape_numel(in)) {
		char s[64];
		return sn_seterr(SN_ESHAPE, "the model expects inputs %s but the data set has %dx%dx%d images",
		                 sn_shape_str(in, s, sizeof s), d->c, d->h, d->w);
	}
	if (classes < d->classes || classes > 16)
		return sn_seterr(SN_ESHAPE, "the model has %d outputs but the data set has %d classes", classes, d->classes);
	if (d->n == 0) return sn_seterr(SN_EINVAL, "the data set is empty");
	return SN_OK;
}

int sn_evaluate(sn_graph *g, const sn_dataset *d, int batch, sn_eval_result *r)
{
	memset(r, 0, sizeof *r);
	const int classes = sn_graph_output_shape(g).c;
	sn_shape in = sn_graph_input_shape(g);
	int rc = sn_check_data(g, d);
	if (rc) return rc;
	batch = SN_MIN(batch, d->n);
	int train = g->train;
	rc = sn_graph_plan(g, batch, 0);
	if (rc) return rc;
	g->train = 0;
	float *x = malloc((size_t)batch * sn_shape_numel(in) * sizeof *x);
	uint8_t *y = malloc(batch);
	int *idx = malloc(batch * sizeof *idx);
	if (!x || !y || !idx) { free(x); free(y); free(idx); return sn_seterr(SN_ENOMEM, "out of memory"); }
	int correct = 0;
	for (int s = 0; s < d->n; s += batch) {
		int n = SN_MIN(batch, d->n - s);
		for (int i = 0; i < n; i++) idx[i] = s + i;
		sn_dataset_batch(d, idx, n, NULL, NULL, x, y);
		const float *z = sn_graph_forward(g, x, n);
		r->loss += sn_softmax_xent(z, y, n, classes, NULL, &correct);
		for (int i = 0; i < n; i++) {
			const float *zi = z + (size_t)i * classes;
			int a = 0;
			for (int k = 1; k < classes; k++) if (zi[k] > zi[a]) a = k;
			r->confusion[y[i]][a]++;
		}
	}
	r->n = d->n;
	r->loss /= d->n;
	r->accuracy = (double)correct / d->n;
	g->train = train;
	free(x); free(y); free(idx);
	return SN_OK;
}
