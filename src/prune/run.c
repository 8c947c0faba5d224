/* The pruning loop: evaluate the model, then round by round prune to the schedule's sparsity,
 * fine-tune (masks hold through every optimizer step), evaluate and report; stop before the
 * accuracy drop exceeds the budget and keep the last model within it. */
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "core/internal.h"
#include "core/quant.h"
#include "prune/prune.h"

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}

/* Bytes of the model's .slim file: written to a temporary file and measured, so the report
 * shows what the encodings really give. */
static long stored_bytes(const sn_graph *g, const sn_meta *meta)
{
	const char *dir = getenv("TMPDIR");
	char path[512];
	snprintf(path, sizeof path, "%s/slimnn-prune-XXXXXX", dir && *dir ? dir : "/tmp");
	int fd = mkstemp(path);
	if (fd < 0) return -1;
	close(fd);
	struct stat st;
	long bytes = sn_model_save(g, meta, NULL, path) == SN_OK && stat(path, &st) == 0 ? (long)st.st_size : -1;
	unlink(path);
	return bytes;
}

int sn_prune_measure(const sn_graph *g, const sn_meta *meta, sn_prune_step *s)
{
	sn_summary sm;
	int rc = sn_summarize(g, -1, &sm);
	if (rc) return rc;
	s->params = sm.params;
	s->nonzero = sm.nonzero;
	s->macs = sm.macs;
	s->macs_nonzero = sm.macs_nonzero;
	sn_summary_free(&sm);
	s->file_bytes = stored_bytes(g, meta);
	return SN_OK;
}

/* Weight and block granularity mask; filter and neuron granularity remove. */
static int masked(const sn_prune_opts *o) { return sn_granularity_masks(o->granularity); }

static int check_opts(const sn_prune_opts *o)
{
	if (!(o->target >= 0 && o->target < 1)) return sn_seterr(SN_EINVAL, "the target must lie in [0, 1), got %g", o->target);
	if (o->steps < 1) return sn_seterr(SN_EINVAL, "pruning needs at least one step, got %d", o->steps);
	if (o->finetune_epochs < 0) return sn_seterr(SN_EINVAL, "fine-tuning epochs must not be negative");
	if (o->granularity == SN_GRAN_BLOCK && o->block < 1)
		return sn_seterr(SN_EINVAL, "a block holds at least one output channel, got %d", o->block);
	if (o->criterion == SN_CRIT_TAYLOR && o->taylor_batches < 1)
		return sn_seterr(SN_EINVAL, "the taylor criterion needs at least one batch, got %d", o->taylor_batches);
	if (o->criterion == SN_CRIT_BN && masked(o))
		return sn_seterr(SN_EINVAL, "the bn criterion ranks channels: use it with filter or neuron granularity");
	return SN_OK;
}

/* Without data (train and test NULL) pruning is by magnitude alone: no fine-tuning, no Taylor
 * scores, no accuracy budget; the rows' accuracy is -1 (not measured). */
static int check_data(const sn_dataset *tr, const sn_dataset *te, const sn_prune_opts *o)
{
	if (!tr != !te) return sn_seterr(SN_EINVAL, "give both the training and the test set, or neither");
	if (tr) return SN_OK;
	if (o->finetune_epochs > 0) return sn_seterr(SN_EINVAL, "fine-tuning needs data: without it use 0 fine-tuning epochs");
	if (o->criterion == SN_CRIT_TAYLOR) return sn_seterr(SN_EINVAL, "the taylor criterion needs data (gradients)");
	if (o->max_drop >= 0) return sn_seterr(SN_EINVAL, "an accuracy budget (max drop) needs test data");
	return o->distill ? sn_seterr(SN_EINVAL, "distillation needs data") : SN_OK;
}

/* Test accuracy and loss of h into m; -1 without test data. */
static int evaluate(sn_graph *h, const sn_dataset *te, const sn_prune_opts *o, sn_meta *m)
{
	if (!te) { m->test_accuracy = -1; return SN_OK; }
	sn_eval_result ev;
	int rc = sn_evaluate(h, te, o->eval_batch, &ev);
	if (!rc) { m->test_accuracy = ev.accuracy; m->test_loss = ev.loss; }
	sn_eval_free(&ev);
	return rc;
}

/* The fraction of units pruned: weights, blocks, or channels relative to ref. */
static double reached(const sn_graph *h, const sn_graph *ref, const unsigned char *prunable, const sn_prune_opts *o)
{
	if (o->granularity == SN_GRAN_BLOCK) return sn_prune_block_sparsity(h, prunable, o->block, NULL, NULL);
	return sn_prune_sparsity(h, ref, o->granularity, prunable, NULL, NULL);
}

/* Taylor scores need gradients: `salt` draws a fresh set of batches for every estimate. */
static int score(sn_graph *h, const sn_dataset *tr, const sn_prune_opts *o, uint64_t salt)
{
	if (o->criterion != SN_CRIT_TAYLOR) return SN_OK;
	return sn_prune_taylor(h, tr, o->taylor_batches, o->train.batch, o->train.seed * 1000003ULL + salt);
}

/* Masks h (weights or blocks) to sparsity s, or with per-layer targets each layer to its node_s. */
static int mask_to(sn_graph *h, const unsigned char *prunable, const sn_dataset *tr, const sn_prune_opts *o,
                   uint64_t salt, float s, const float *node_s)
{
	const int block = o->granularity == SN_GRAN_BLOCK ? o->block : 1;
	int rc = score(h, tr, o, salt);
	if (!rc && !node_s) rc = sn_prune_blocks(h, prunable, block, o->criterion, o->scope, s);
	unsigned char *one = !rc && node_s ? calloc((size_t)h->n_node + 1, 1) : NULL;
	if (!rc && node_s && !one) return sn_seterr(SN_ENOMEM, "out of memory");
	for (int i = 0; one && i < h->n_node && !rc; i++) {
		if (!prunable[i]) continue;
		one[i] = 1;
		rc = sn_prune_blocks(h, one, block, o->criterion, SN_SCOPE_LAYER, node_s[i]);
		one[i] = 0;
	}
	free(one);
	/* an int8 model: its int8 weights follow the masked float ones (a pruned weight is 0 in both) */
	if (!rc && sn_graph_is_int8(h)) rc = sn_qat_settle(h);
	return rc;
}

/* The schedule's progress after round t, 0 at the start and 1 at the end: each layer with a
 * target of its own follows it from its own start (sn_layer_plan_at). */
static double progress(const sn_prune_opts *o, int t)
{
	sn_prune_opts unit = *o;
	unit.target = 1;
	return sn_prune_schedule_at(&unit, 0, t);
}

/* Prunes one round: a new graph at sparsity s, or each layer at node_s (the input is left as it is). */
static sn_graph *prune_round(const sn_graph *g, const sn_graph *ref, const unsigned char *prunable,
                             const sn_dataset *tr, const sn_prune_opts *o, int t, float s, const float *node_s)
{
	sn_graph *h = sn_graph_clone(g), *p = NULL;
	if (!h) { sn_seterr(SN_ENOMEM, "out of memory"); return NULL; }
	if (masked(o)) {
		if (!mask_to(h, prunable, tr, o, (uint64_t)t, s, node_s)) return h;
	} else if (!score(h, tr, o, (uint64_t)t))
		p = sn_prune_filters_at(h, ref, prunable, o->criterion, o->scope, s, node_s);
	sn_graph_free(h);
	return p;
}

/* Fine-tunes (or only evaluates) h; its accuracy lands in m. */
static int finetune(sn_graph *h, const sn_dataset *tr, const sn_dataset *te, const sn_prune_opts *o, int t,
                    sn_graph *teacher, sn_meta *m)
{
	if (o->finetune_epochs > 0) {
		sn_train_opts to = o->train;
		to.teacher = teacher;
		to.epochs = o->finetune_epochs;
		to.seed = o->train.seed + (uint64_t)t;   /* a fresh data order each round */
		to.checkpoint = NULL;
		to.qat = sn_graph_is_int8(h);
		return sn_train(h, tr, te, &to, NULL, m);
	}
	return evaluate(h, te, o, m);
}

/* ---------------------------------------------------------------- gradual weight rounds */

/* Zhu & Gupta prune every few hundred training steps, not once per round: a weight round
 * raises the sparsity in RAMP sub-steps over the first half of its first epoch, each followed
 * by training on the next slice of a shuffled copy of the training set at a constant rate; the
 * rest of the round fine-tunes at the final masks with the cosine decay. The round still sees
 * E epochs of data. */
#define RAMP 4

/* Rows [from, to) of d, as a view (freed with sn_dataset_free). */
static int range_view(const sn_dataset *d, int from, int to, sn_dataset *v)
{
	int *idx = malloc(((size_t)(to - from) + 1) * sizeof *idx);
	if (!idx) return sn_seterr(SN_ENOMEM, "out of memory");
	for (int i = from; i < to; i++) idx[i - from] = i;
	int rc = sn_dataset_view(d, idx, to - from, v);
	free(idx);
	return rc;
}

/* d in a seeded order, as a view: the samples stay where they are (in memory or in files). */
static int shuffled_view(const sn_dataset *d, uint64_t seed, sn_dataset *s)
{
	int *perm = malloc(((size_t)d->n + 1) * sizeof *perm);
	if (!perm) return sn_seterr(SN_ENOMEM, "out of memory");
	sn_prune_permutation(perm, d->n, seed);
	int rc = sn_dataset_view(d, perm, d->n, s);
	free(perm);
	return rc;
}

/* Trains h for one pass over d; intermediate passes are checked on a few test images only. */
static int pass(sn_graph *h, const sn_dataset *d, const sn_dataset *te, sn_train_opts to, int epochs, sn_meta *m)
{
	if (d->n <= 0) return SN_OK;
	to.epochs = epochs;
	to.qat = sn_graph_is_int8(h);   /* an int8 model fine-tunes quantization-aware */
	return sn_train(h, d, te, &to, NULL, m);
}

typedef struct {
	sn_graph *best, *ref;             /* the last model within budget; the model before pruning */
	sn_meta meta;
	unsigned char *prunable;
	sn_layer_plan *plan;              /* per-layer targets (NULL: o->target for all) */
	double acc0;
	float s0;
} run_state;

static int gradual_round(sn_graph *h, run_state *rs, const sn_dataset *tr, const sn_dataset *te,
                         const sn_prune_opts *o, int t, float from, float to_s, sn_graph *teacher, sn_meta *m)
{
	const double f0 = progress(o, t - 1), f1 = progress(o, t);
	sn_dataset sh, probe, rest = {0};
	int rc = shuffled_view(tr, o->train.seed + (uint64_t)t, &sh);
	if (rc) return rc;
	const int half = sh.n / 2, epochs = m->epochs;
	if ((rc = range_view(te, 0, SN_MIN(te->n, 256), &probe))) {
		sn_dataset_free(&sh);
		return rc;
	}
	sn_train_opts to = o->train;
	to.seed = o->train.seed + (uint64_t)t;
	to.checkpoint = NULL;
	to.schedule = SN_SCHED_CONST;
	to.teacher = teacher;
	for (int r = 1; r <= RAMP && !rc; r++) {
		rc = mask_to(h, rs->prunable, tr, o, (uint64_t)(t * RAMP + r), from + (to_s - from) * (float)r / RAMP,
		             sn_layer_plan_at(rs->plan, r == RAMP ? f1 : f0 + (f1 - f0) * r / RAMP));
		sn_dataset v = {0};
		if (!rc) rc = range_view(&sh, (r - 1) * half / RAMP, r * half / RAMP, &v);
		if (!rc) rc = pass(h, &v, &probe, to, 1, m);
		sn_dataset_free(&v);
	}
	if (!rc) rc = range_view(&sh, half, sh.n, &rest);
	if (!rc && o->finetune_epochs > 1) rc = pass(h, &rest, &probe, to, 1, m);
	to.schedule = o->train.schedule;
	if (!rc) rc = o->finetune_epochs > 1 ? pass(h, tr, te, to, o->finetune_epochs - 1, m) : pass(h, &rest, te, to, 1, m);
	m->epochs = epochs + o->finetune_epochs;
	sn_dataset_free(&rest);
	sn_dataset_free(&probe);
	sn_dataset_free(&sh);
	return rc;
}

static int check_prunable(const sn_graph *g, const unsigned char *prunable)
{
	for (int i = 0; i < g->n_node; i++)
		if (prunable[i]) return SN_OK;
	return sn_seterr(SN_EINVAL, "nothing to prune: every layer of this granularity is ignored (see --ignore)");
}

static int baseline(run_state *r, const sn_dataset *te, const sn_prune_opts *o, sn_prune_cb cb, void *user)
{
	double t0 = now();
	int rc = evaluate(r->best, te, o, &r->meta);
	if (rc) return rc;
	r->acc0 = r->meta.test_accuracy;
	sn_prune_step st = {.step = 0, .accuracy = r->acc0};
	r->s0 = masked(o) ? (float)reached(r->best, NULL, r->prunable, o) : 0;
	st.target = st.sparsity = r->s0;
	rc = sn_prune_measure(r->best, &r->meta, &st);
	st.seconds = now() - t0;
	if (!rc && cb) cb(&st, user);
	return rc;
}

/* One round; *stop is set when it went over budget (and was undone). */
static int round_t(run_state *r, const sn_dataset *tr, const sn_dataset *te, const sn_prune_opts *o, int t,
                   sn_prune_cb cb, void *user, int *stop)
{
	double t0 = now();
	float s = sn_prune_schedule_at(o, r->s0, t), s_prev = sn_prune_schedule_at(o, r->s0, t - 1);
	int grows = r->plan ? progress(o, t) > progress(o, t - 1) : s > s_prev;
	int gradual = masked(o) && o->schedule != SN_PSCHED_ONESHOT && o->finetune_epochs > 0 && grows;
	const float *node_s = sn_layer_plan_at(r->plan, progress(o, t));
	if (r->plan) s = sn_layer_plan_mean(r->plan);   /* the row's target: the layers' together */
	sn_graph *h = gradual ? sn_graph_clone(r->best) : prune_round(r->best, r->ref, r->prunable, tr, o, t, s, node_s);
	if (!h) return gradual ? sn_seterr(SN_ENOMEM, "out of memory") : SN_EINVAL;   /* the message is set */
	sn_meta m = r->meta;
	sn_graph *teacher = o->distill ? r->ref : NULL;
	int rc = gradual ? gradual_round(h, r, tr, te, o, t, s_prev, s, teacher, &m)
	                 : finetune(h, tr, te, o, t, teacher, &m);
	sn_prune_step st = {.step = t, .target = s, .accuracy = m.test_accuracy};
	if (!rc) rc = sn_prune_measure(h, &m, &st);
	if (rc) { sn_graph_free(h); return rc; }
	st.sparsity = (float)reached(h, r->ref, r->prunable, o);
	st.over_budget = o->max_drop >= 0 && 100.0 * (r->acc0 - m.test_accuracy) > o->max_drop;
	st.seconds = now() - t0;
	if (cb) cb(&st, user);
	if (st.over_budget) { sn_graph_free(h); *stop = 1; return SN_OK; }
	sn_graph_free(r->best);
	r->best = h;
	r->meta = m;
	return SN_OK;
}

int sn_prune_run(sn_graph **g, const sn_dataset *tr, const sn_dataset *te, const sn_prune_opts *o,
                 sn_meta *meta, sn_prune_cb cb, void *user)
{
	int rc = check_opts(o);
	if (!rc) rc = check_data(tr, te, o);
	if (!rc && !masked(o) && sn_graph_is_int8(*g))
		rc = sn_seterr(SN_EINVAL, "filter and neuron pruning remove channels that the int8 layers' parameters were "
		               "calibrated with: prune the float model and quantize the result, or prune this one by "
		               "weight or block");
	if (rc) return rc;
	run_state r = {.best = *g, .meta = *meta};
	r.prunable = malloc((size_t)(*g)->n_node);
	if (!r.prunable) return sn_seterr(SN_ENOMEM, "out of memory");
	rc = sn_prune_select(*g, o->granularity, o->ignore, r.prunable);
	if (!rc && o->layer_targets && !(r.plan = sn_layer_plan_new(*g, o, r.prunable))) rc = SN_EINVAL;   /* the message is set */
	if (!rc) rc = check_prunable(*g, r.prunable);
	if (!rc && !(r.ref = sn_graph_clone(*g))) rc = sn_seterr(SN_ENOMEM, "out of memory");
	if (!rc) rc = baseline(&r, te, o, cb, user);
	int stop = 0;
	for (int t = 1; !rc && !stop && t <= o->steps; t++) rc = round_t(&r, tr, te, o, t, cb, user, &stop);
	*g = r.best;       /* the last model within budget (the input itself if no round was) */
	*meta = r.meta;
	sn_graph_free(r.ref);
	sn_layer_plan_free(r.plan);
	free(r.prunable);
	return rc;
}
