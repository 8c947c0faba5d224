/* Post-training int8 quantization (slimnn.h, docs/quantize.md):
 *   1. prepare: BatchNorm folded into the conv before it, ReLU/ReLU6 fused, Dropout dropped;
 *   2. calibrate: every layer's float output over the calibration images (spread evenly over
 *      the set, so that data ordered by class gives every class its share): extremes, then
 *      (percentile, mse, entropy) a histogram, and the method's range;
 *   3. quantize: which layers run in int8 (an int8 kernel, not kept float, few enough taps for
 *      an int32 accumulator), their output parameters (max pooling and moves keep their input's),
 *      weights per output channel;
 *   4. report: each layer's output SQNR against float, accuracy float -> int8, and with
 *      max_drop, layers back to float (the one adding the most noise first) until the budget holds. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include "core/internal.h"
#include "core/quant.h"
#include "data/loader.h"
#include "quantize/calib.h"
#include "train/train.h"

sn_quantize_opts sn_quantize_defaults(void)
{
	return (sn_quantize_opts){.calibration = SN_CALIB_MSE, .percentile = 99.99, .bins = 2048, .calib_images = 512,
	                          .max_drop = -1, .batch = 64};
}

void sn_quantize_report_free(sn_quantize_report *r)
{
	if (!r) return;
	free(r->rows);
	r->rows = NULL;
	r->n_rows = 0;
}

/* ---------------------------------------------------------------- calibration */

typedef struct {
	float *min, *max;                 /* per node, over every calibration image */
	sn_hist *hist;                    /* per node (second pass) */
} observed;

/* Runs the rows order[0..n) of d through plan pl, calling fn after each batch. */
static int each_batch(const sn_dataset *d, const int *order, int n, int batch, sn_plan *pl,
                      int (*fn)(void *u, const sn_plan *pl, int rows), void *u)
{
	sn_loader *L = sn_loader_new(d, batch, sn_loader_default_workers(d), 2);
	if (!L) return sn_errcode();
	sn_loader_start(L, order, NULL, n);
	int rc;
	for (;;) {
		const float *x;
		const int32_t *y;
		int rows;
		if ((rc = sn_loader_next(L, &x, &y, &rows)) || !rows) break;
		if (!sn_plan_forward(pl, x, rows)) { rc = sn_errcode(); break; }
		if ((rc = fn(u, pl, rows))) break;
	}
	sn_loader_free(L);
	return rc;
}

static size_t values(const sn_graph *g, int i, int rows) { return (size_t)rows * sn_shape_numel(g->node[i].out); }

static int see_extremes(void *u, const sn_plan *pl, int rows)
{
	observed *o = u;
	const sn_graph *g = pl->g;
	for (int i = 0; i < g->n_node; i++) {
		const float *y = sn_plan_output(pl, i);
		const size_t n = values(g, i, rows);
		float lo = o->min[i], hi = o->max[i];
		for (size_t k = 0; k < n; k++) {
			if (y[k] < lo) lo = y[k];
			if (y[k] > hi) hi = y[k];
		}
		o->min[i] = lo;
		o->max[i] = hi;
	}
	return SN_OK;
}

static int see_histograms(void *u, const sn_plan *pl, int rows)
{
	observed *o = u;
	for (int i = 0; i < pl->g->n_node; i++) sn_hist_add(&o->hist[i], sn_plan_output(pl, i), values(pl->g, i, rows));
	return SN_OK;
}

/* Each node's calibrated range [lo[i], hi[i]] over the rows order[0..n) of d. */
static int calibrate(sn_graph *g, const sn_dataset *d, const int *order, int n, const sn_quantize_opts *o, float *lo,
                     float *hi)
{
	const int N = g->n_node;
	observed ob = {lo, hi, NULL};
	for (int i = 0; i < N; i++) { lo[i] = FLT_MAX; hi[i] = -FLT_MAX; }
	sn_plan *pl = sn_plan_new(g);
	int rc = pl ? sn_plan_reshape(pl, SN_MIN(o->batch, n), SN_PLAN_KEEP_OUTPUTS) : sn_errcode();
	if (!rc) rc = each_batch(d, order, n, o->batch, pl, see_extremes, &ob);
	for (int i = 0; !rc && i < N; i++)
		if (!isfinite(lo[i]) || !isfinite(hi[i]))
			rc = sn_seterr(SN_EINVAL, "calibration: layer '%s' gave a value that is not finite; the model or the data "
			               "is broken (evaluate it in float first)", g->node[i].name);
	if (!rc && o->calibration != SN_CALIB_MINMAX) {
		const int absolute = o->calibration == SN_CALIB_ENTROPY;
		ob.hist = calloc((size_t)N, sizeof *ob.hist);
		if (!ob.hist) rc = sn_seterr(SN_ENOMEM, "out of memory");
		for (int i = 0; !rc && i < N; i++)
			rc = sn_hist_init(&ob.hist[i], lo[i], absolute ? fmaxf(fabsf(lo[i]), fabsf(hi[i])) : hi[i], o->bins, absolute);
		if (!rc) rc = each_batch(d, order, n, o->batch, pl, see_histograms, &ob);
		for (int i = 0; !rc && i < N; i++) sn_calib_range(&ob.hist[i], o->calibration, o->percentile, &lo[i], &hi[i]);
		for (int i = 0; ob.hist && i < N; i++) sn_hist_free(&ob.hist[i]);
		free(ob.hist);
	}
	sn_plan_free(pl);
	return rc;
}

/* ---------------------------------------------------------------- which layers, which parameters */

/* Every name of the list must be a layer of g (the prepared model). */
static int check_list(const sn_graph *g, const char *list)
{
	for (const char *p = list; p && *p;) {
		const char *e = strchr(p, ',');
		const int k = (int)(e ? (size_t)(e - p) : strlen(p));
		char name[SN_NAME_MAX];
		snprintf(name, sizeof name, "%.*s", k, p);
		if (sn_graph_find(g, name) < 0)
			return sn_seterr(SN_EINVAL, "--keep-float: no layer '%s' in the model as it is quantized (BatchNorm and ReLU "
			                 "layers are folded into the conv before them; `slimnn summary` lists the layers)", name);
		p = e ? e + 1 : NULL;
	}
	return SN_OK;
}

static int int8_possible(const sn_graph *g, const sn_node *n)
{
	if (!sn_op_get(n->op)->run_q8) return 0;
	const sn_tensor *w = sn_q_weight(g, n);
	return !w || w->n / (size_t)w->dims[0] <= SN_Q8_MAX_TAPS;   /* the int32 accumulator's bound */
}

/* Weight scales of node n: symmetric over each output row's largest magnitude (or the tensor's). */
static int quantize_weights(sn_graph *g, sn_node *n, int per_tensor)
{
	const sn_tensor *t = sn_t(g, n, SN_T_WEIGHT);
	if (!t) return SN_OK;
	float *s = malloc((size_t)t->dims[0] * sizeof *s);
	if (!s) return sn_seterr(SN_ENOMEM, "out of memory");
	sn_q_weight_scales(t, per_tensor, s);
	const int rc = sn_q_set_weights(g, n, s, per_tensor ? 1 : t->dims[0]);
	free(s);
	return rc;
}

/* Node i back to float: its prepared float weights from ref, no int8 weight. */
static void to_float(sn_graph *h, const sn_graph *ref, int i)
{
	sn_node *n = &h->node[i];
	n->q->int8 = 0;
	for (int s = 0; s < SN_T_MAX; s++)
		if (n->t[s] >= 0) {
			const sn_tensor *t = &h->tensor[n->t[s]];
			memcpy(t->data, ref->tensor[ref->node[i].t[s]].data, t->n * sizeof(float));
		}
	free(n->q->w); free(n->q->w_scale);
	n->q->w = NULL; n->q->w_scale = NULL; n->q->n_scale = 0; n->q->w_n = 0;
}

/* The records of h: output parameters from the calibrated ranges, int8 where possible and not
 * kept float, weights quantized. src[i]: the node whose float output node i's stands for (its
 * fused activation's, or its own). */
static int assign(sn_graph *h, const float *lo, const float *hi, const sn_quantize_opts *o, int *src)
{
	for (int i = 0; i < h->n_node; i++) {
		sn_node *n = &h->node[i];
		const int int8 = i > 0 && int8_possible(h, n) && !sn_name_in_list(o->keep_float, n->name);
		const int act = int8 ? sn_q_fused_activation(h, i) : -1, r = src[i] = act >= 0 ? act : i;
		sn_qparams y = sn_q_params_asym(lo[r], hi[r]);
		if (int8 && (sn_op_get(n->op)->flags & SN_OPF_Q8_SAME)) y = sn_in(h, n, 0)->q->y;
		if (!(n->q = sn_qnode_new(y, int8))) return SN_ENOMEM;
		if (int8) {
			const int rc = quantize_weights(h, n, o->per_tensor);
			if (rc) return rc;
		}
	}
	return sn_q_derive(h);
}

/* ---------------------------------------------------------------- report */

/* SQNR of each node's output in h against ref's node src[i] over the first batch of rows
 * order[0..n) of d. */
static int measure_sqnr(sn_graph *h, sn_graph *ref, const sn_dataset *d, const int *order, int n, int batch,
                        const int *src, double *db)
{
	const int rows = SN_MIN(batch, n);
	sn_plan *ph = sn_plan_new(h), *pr = sn_plan_new(ref);
	float *x = malloc((size_t)rows * d->c * d->h * d->w * sizeof *x);   /* plans read it until freed */
	int32_t *y = malloc((size_t)rows * sizeof *y);
	int rc = ph && pr ? SN_OK : sn_errcode();
	if (!rc && (!x || !y)) rc = sn_seterr(SN_ENOMEM, "out of memory");
	if (!rc) rc = sn_dataset_batch(d, order, rows, NULL, NULL, x, y);
	if (!rc) rc = sn_plan_reshape(ph, rows, SN_PLAN_KEEP_OUTPUTS);
	if (!rc) rc = sn_plan_reshape(pr, rows, SN_PLAN_KEEP_OUTPUTS);
	if (!rc && (!sn_plan_forward(ph, x, rows) || !sn_plan_forward(pr, x, rows))) rc = sn_errcode();
	for (int i = 0; !rc && i < h->n_node; i++) {
		const float *q = sn_plan_output(ph, i), *f = sn_plan_output(pr, src[i]);
		double sig = 0, noise = 0;
		for (size_t k = 0; k < values(h, i, rows); k++) {
			sig += (double)f[k] * f[k];
			noise += ((double)f[k] - q[k]) * ((double)f[k] - q[k]);
		}
		db[i] = noise == 0 ? INFINITY : sig == 0 ? -INFINITY : 10 * log10(sig / noise);
	}
	sn_plan_free(ph);
	sn_plan_free(pr);
	free(x); free(y);
	return rc;
}

/* The int8 layer whose output adds the most noise to what its inputs bring (noise powers
 * relative to the signal: 10^(-SQNR/10)), or -1. */
static int noisiest(const sn_graph *h, const double *db)
{
	int best = -1;
	double worst = -1;
	for (int i = 1; i < h->n_node; i++) {
		const sn_node *n = &h->node[i];
		if (!sn_node_runs_int8(n)) continue;
		double in = 0;
		for (int k = 0; k < n->n_in; k++) in = fmax(in, pow(10, -db[n->in[k]] / 10));
		const double added = pow(10, -db[i] / 10) - in;
		if (added > worst) { worst = added; best = i; }
	}
	return best;
}

static int accuracy(sn_graph *g, const sn_dataset *d, int batch, double *acc)
{
	sn_eval_result e;
	const int rc = sn_evaluate(g, d, batch, &e);
	if (!rc) *acc = e.accuracy;
	sn_eval_free(&e);
	return rc;
}

static int fill_report(const sn_graph *h, const float *lo, const float *hi, const int *src, const double *db,
                       sn_quantize_report *r)
{
	r->rows = calloc((size_t)h->n_node, sizeof *r->rows);
	if (!r->rows) return sn_seterr(SN_ENOMEM, "out of memory");
	r->int8_layers = r->float_layers = 0;
	for (int i = 1; i < h->n_node; i++) {
		const sn_node *n = &h->node[i];
		const sn_qnode *q = n->q;
		sn_quantize_row *row = &r->rows[r->n_rows++];
		*row = (sn_quantize_row){.node = i, .int8 = sn_node_runs_int8(n), .scale = q->y.scale, .zero_point = q->y.zero_point,
		                         .range_lo = lo[src[i]], .range_hi = hi[src[i]], .n_wscale = q->w ? q->n_scale : 0, .sqnr_db = db[i]};
		for (int k = 0; k < row->n_wscale; k++) {
			row->wscale_min = k ? fminf(row->wscale_min, q->w_scale[k]) : q->w_scale[k];
			row->wscale_max = k ? fmaxf(row->wscale_max, q->w_scale[k]) : q->w_scale[k];
		}
		if (row->int8) r->int8_layers++;
		else r->float_layers++;
	}
	return SN_OK;
}

/* ---------------------------------------------------------------- the pass */

static int check_opts(const sn_quantize_opts *o)
{
	if (o->batch < 1) return sn_seterr(SN_EINVAL, "quantize: the batch must be at least 1");
	if (o->calib_images < 0) return sn_seterr(SN_EINVAL, "quantize: the number of calibration images cannot be negative");
	if ((unsigned)o->calibration > SN_CALIB_ENTROPY) return sn_seterr(SN_EINVAL, "quantize: unknown calibration method");
	if (o->calibration == SN_CALIB_PERCENTILE && !(o->percentile > 0 && o->percentile <= 100))
		return sn_seterr(SN_EINVAL, "quantize: the percentile must be in (0, 100], e.g. 99.99");
	if (o->calibration != SN_CALIB_MINMAX && (o->bins < 128 || o->bins > (1 << 20)))
		return sn_seterr(SN_EINVAL, "quantize: histogram bins must be in 128..1048576");
	return SN_OK;
}

/* count indices spread evenly over [0, n) */
static int *spread(int n, int count)
{
	int *idx = malloc((size_t)SN_MAX(count, 1) * sizeof *idx);
	for (int i = 0; idx && i < count; i++) idx[i] = (int)((long long)i * n / count);
	return idx;
}

sn_graph *sn_quantize(const sn_graph *g, const sn_dataset *calib, const sn_dataset *eval, const sn_quantize_opts *o,
                      sn_quantize_report *r)
{
	sn_quantize_opts def = sn_quantize_defaults();
	sn_quantize_report rep = {.float_acc = -1, .int8_acc = -1};
	if (!o) o = &def;
	if (!g || !calib) { sn_seterr(SN_EINVAL, "quantize: a model and calibration data are needed"); return NULL; }
	if (sn_graph_is_int8(g)) { sn_seterr(SN_EINVAL, "quantize: the model is quantized already"); return NULL; }
	if (check_opts(o) || sn_check_data(g, calib) || (eval && sn_check_data(g, eval))) return NULL;
	sn_prepare_opts po = sn_prepare_defaults();
	po.sparse = SN_SPARSE_OFF;
	po.fuse_se = 0;   /* the se layer has no int8 form; its layers are quantized one by one */
	sn_graph *ref = sn_prepare_inference(g, &po, NULL), *h = NULL;
	const int n = o->calib_images ? SN_MIN(o->calib_images, calib->n) : calib->n;
	int *order = spread(calib->n, n);
	float *lo = malloc((size_t)SN_MAX(g->n_node, 1) * 2 * sizeof *lo), *hi = lo ? lo + g->n_node : NULL;
	double *db = malloc((size_t)SN_MAX(g->n_node, 1) * sizeof *db);
	int *src = malloc((size_t)SN_MAX(g->n_node, 1) * sizeof *src);
	int rc = ref ? SN_OK : sn_errcode();
	if (!rc && (!order || !lo || !db || !src)) rc = sn_seterr(SN_ENOMEM, "out of memory");
	if (!rc) rc = check_list(ref, o->keep_float);
	if (!rc) rc = calibrate(ref, calib, order, n, o, lo, hi);
	if (!rc && !(h = sn_graph_clone(ref))) rc = sn_errcode();
	if (!rc) rc = assign(h, lo, hi, o, src);
	if (!rc) rc = measure_sqnr(h, ref, calib, order, n, o->batch, src, db);
	if (!rc && eval) {
		rc = accuracy(ref, eval, o->batch, &rep.float_acc);
		if (!rc) rc = accuracy(h, eval, o->batch, &rep.int8_acc);
		rep.n_eval = eval->n;
		/* the budget: the noisiest int8 layer back to float, until int8 is close enough */
		while (!rc && o->max_drop >= 0 && (rep.float_acc - rep.int8_acc) * 100 > o->max_drop) {
			const int i = noisiest(h, db);
			if (i < 0) break;
			to_float(h, ref, i);
			rep.returned_to_float++;
			rc = sn_q_derive(h);
			if (!rc) rc = measure_sqnr(h, ref, calib, order, n, o->batch, src, db);
			if (!rc) rc = accuracy(h, eval, o->batch, &rep.int8_acc);
		}
	}
	rep.calib_images = n;
	if (!rc) rc = fill_report(h, lo, hi, src, db, &rep);
	free(order); free(lo); free(db); free(src);
	sn_graph_free(ref);
	if (rc) {
		sn_quantize_report_free(&rep);
		sn_graph_free(h);
		return NULL;
	}
	if (r) *r = rep;
	else sn_quantize_report_free(&rep);
	return h;
}
