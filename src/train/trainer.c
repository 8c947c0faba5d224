/* The training loop: shuffled mini-batches, augmentation, forward/backward, optimizer and
 * schedule, a live progress line, one report per epoch, an atomic checkpoint after each epoch,
 * and a stop with an error (keeping the last good checkpoint) if the loss diverges. */
#include <math.h>
#include <time.h>
#include <unistd.h>
#include "core/internal.h"
#include "data/loader.h"
#include "dist/dist.h"
#include "train/train_internal.h"

sn_train_opts sn_train_defaults(void)
{
	return (sn_train_opts){
		.epochs = 10, .batch = 128, .threads = 0, .limit = 0,
		.lr = 0.05f, .momentum = 0.9f, .weight_decay = 5e-4f, .nesterov = 1,
		.beta1 = 0.9f, .beta2 = 0.999f, .adam_eps = 1e-8f,
		.optimizer = SN_OPT_SGD, .schedule = SN_SCHED_ONECYCLE, .step_size = 3, .gamma = 0.1f,
		.pct_start = 0.3f, .augment = {.crop_pad = 2}, .seed = 1, .progress = -1, .checkpoint = NULL,
		.max_loss = 1e4f, .teacher = NULL, .kd_alpha = 0.5f, .kd_t = 2.0f, .clean_epochs = 2,
		.qat_observe_epochs = -1, .qat_momentum = 0.01f,
	};
}

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}

typedef struct {
	float *dlogits;
	int *perm;
	sn_draw *draws;
	int *mine;            /* with several processes: this one's rows of the pass, and their draws */
	sn_draw *mine_draws;
	sn_loader *loader;
} batch_buffers;

static int alloc_buffers(batch_buffers *b, const sn_dataset *tr, const sn_train_opts *o, int classes)
{
	b->dlogits = malloc((size_t)o->batch * classes * sizeof(float));
	b->perm = malloc((size_t)tr->n * sizeof(int));
	b->draws = malloc((size_t)tr->n * sizeof *b->draws);
	if (sn_dist_size() > 1) {
		b->mine = malloc((size_t)tr->n * sizeof(int));
		b->mine_draws = malloc((size_t)tr->n * sizeof *b->mine_draws);
		if (!b->mine || !b->mine_draws) return sn_seterr(SN_ENOMEM, "out of memory for training buffers");
	}
	if (!b->dlogits || !b->perm || !b->draws) return sn_seterr(SN_ENOMEM, "out of memory for training buffers");
	int workers = o->loader_threads > 0 ? o->loader_threads : sn_loader_default_workers(tr);
	long lo, hi;   /* several processes: this one's rows of each step */
	sn_dist_share(o->batch, &lo, &hi);
	b->loader = sn_loader_new(tr, (int)(hi - lo), workers, 4);
	return b->loader ? SN_OK : sn_errcode();
}

static void free_buffers(batch_buffers *b)
{
	sn_loader_free(b->loader);
	free(b->dlogits); free(b->perm); free(b->draws); free(b->mine); free(b->mine_draws);
}

/* Data parallelism: step k takes rows perm[k*B .. (k+1)*B) (B = --batch, the last step fewer)
 * whatever the number of processes, so that the same command trains the same model on any
 * number of them. Process r takes the rows [lo_r, hi_r) of each full step (its even share,
 * sn_dist_share of B) and of the last step what falls in that window: every step but the last
 * is exactly one loader batch of hi_r - lo_r rows. Returns the count of rows this process has. */
static int my_rows(const batch_buffers *b, int n, int batch, int steps)
{
	long lo, hi;
	sn_dist_share(batch, &lo, &hi);
	int m = 0;
	for (int k = 0; k < steps; k++) {
		const long rows = SN_MIN(batch, n - (long)k * batch);
		for (long i = k * (long)batch + SN_MIN(lo, rows); i < k * (long)batch + SN_MIN(hi, rows); i++) {
			b->mine[m] = b->perm[i];
			b->mine_draws[m++] = b->draws[i];
		}
	}
	return m;
}

/* Several processes: the gradient of the step's whole batch is the sum of each process's,
 * weighted by its share of the rows (each is a mean over its own rows); the loss, the correct
 * count and any failure travel with it, so that every process sees the same step. */
static int reduce_step(sn_graph *g, double *loss, int *correct, int status)
{
	sn_dist_sum_f32(g->gw, g->n_w);
	double t[3] = {*loss, *correct, status != SN_OK};
	sn_dist_sum_f64(t, 3);
	*loss = t[0];
	*correct = (int)t[1];
	return t[2] > 0 ? sn_dist_agree(status) : SN_OK;
}

/* After an epoch: every process's BatchNorm running statistics, averaged. */
static void average_buffers(sn_graph *g)
{
	const int p = sn_dist_size();
	if (p < 2 || !g->n_buf) return;
	sn_dist_sum_f32(g->buf, g->n_buf);
	for (size_t i = 0; i < g->n_buf; i++) g->buf[i] /= (float)p;
}

static void progress(int epoch, int epochs, int done, int total, double loss, double acc, double t0)
{
	double el = now() - t0, eta = done ? el / done * (total - done) : 0;
	int w = 24, f = (int)((double)w * done / total);
	char bar[32];
	for (int i = 0; i < w; i++) bar[i] = i < f ? '=' : i == f ? '>' : ' ';
	bar[w] = 0;
	fprintf(stderr, "\repoch %d/%d [%s] %d/%d  loss %.4f  acc %.2f%%  ETA %3.0fs ", epoch, epochs, bar, done,
	        total, loss, 100 * acc, eta);
	fflush(stderr);
}

/* One epoch; returns SN_OK or SN_EDIVERGED. */
static int run_epoch(sn_graph *g, const sn_dataset *tr, const sn_train_opts *o, sn_train_state *st,
                     batch_buffers *b, sn_qat *qat, int show, sn_epoch_report *rep)
{
	const int procs = sn_dist_size(), big = o->batch;
	const int classes = sn_graph_output_shape(g).c, spe = (tr->n + big - 1) / big;
	const uint64_t total = (uint64_t)spe * o->epochs;
	for (int i = 0; i < tr->n; i++) b->perm[i] = i;
	for (int i = tr->n - 1; i > 0; i--) {
		int j = (int)sn_rng_below(&st->rng, (uint32_t)i + 1), t = b->perm[i];
		b->perm[i] = b->perm[j]; b->perm[j] = t;
	}
	double loss = 0, t0 = now(), last = 0, reducing = 0;
	int correct = 0, seen = 0;
	const sn_augment none = {0}, *aug = st->epoch >= o->epochs - o->clean_epochs ? &none : &o->augment;
	/* every sample's augmentation is drawn now, in the order the batches take them */
	sn_augment_draw(aug, &st->rng, tr->n, b->draws);
	double busy0, wait0;
	long made0;
	sn_loader_stats(b->loader, &busy0, &wait0, &made0);   /* resets the counters */
	if (procs > 1) sn_loader_start(b->loader, b->mine, b->mine_draws, my_rows(b, tr->n, o->batch, spe));
	else sn_loader_start(b->loader, b->perm, b->draws, tr->n);
	for (int k = 0; k < spe; k++) {
		const float *x;
		const int32_t *y;
		int n, rc = sn_loader_next(b->loader, &x, &y, &n);
		const int rows = SN_MIN(big, tr->n - k * big);   /* of every process together */
		double l = 0;
		int right = 0;
		sn_qat_round(qat, g);
		if (!rc && n) {
			const float *z = sn_graph_forward(g, x, n);
			const float *zt = !z || !o->teacher ? NULL : sn_graph_forward(o->teacher, x, n);
			if (!z || (o->teacher && !zt)) rc = sn_errcode();
			if (!rc)
				l = o->teacher ? sn_distill_xent(z, zt, y, n, classes, o->kd_alpha, o->kd_t, b->dlogits, &right)
				               : sn_softmax_xent_smooth(z, y, n, classes, o->label_smoothing, b->dlogits, &right);
		}
		if (procs > 1) {   /* each process's mean, weighted by its share of the step's rows */
			for (size_t i = 0; !rc && n && n != rows && i < (size_t)n * classes; i++) b->dlogits[i] *= (float)n / rows;
			sn_graph_zero_grad(g);
			if (!rc && n) rc = sn_graph_backward(g, b->dlogits);
			const double r0 = now();
			rc = reduce_step(g, &l, &right, rc);
			reducing += now() - r0;
		}
		if (!rc && (!isfinite(l) || l / rows > o->max_loss))
			rc = sn_seterr(SN_EDIVERGED, "the loss diverged (%s) at epoch %d, step %d; lower --lr",
			               isfinite(l) ? "exploded" : "NaN", st->epoch + 1, k + 1);
		if (!rc && procs == 1) {
			sn_graph_zero_grad(g);
			rc = sn_graph_backward(g, b->dlogits);
		}
		/* the master weights back under the gradients of the rounded ones */
		sn_qat_unround(qat, g, st->epoch, rc == SN_OK, n > 0);
		if (rc) return rc;
		loss += l; seen += rows; correct += right;
		st->step++;
		sn_optim_step(g, o, sn_schedule_lr(o, st->step - 1, total, spe), sn_schedule_momentum(o, st->step - 1, total),
		              st->step, st->opt_m, st->opt_v);
		if (show && (now() - last > 0.25 || k == spe - 1)) {
			progress(st->epoch + 1, o->epochs, k + 1, spe, loss / seen, (double)correct / seen, t0);
			last = now();
		}
	}
	if (show) fprintf(stderr, "\r%*s\r", 100, "");
	average_buffers(g);
	if (g->plan->profile) {
		for (int i = 1; i < g->n_node; i++)
			fprintf(stderr, "  %-12s fwd %7.3f s  bwd %7.3f s\n", g->node[i].name, sn_plan_seconds(g->plan, i, SN_ACT_FORWARD),
			        sn_plan_seconds(g->plan, i, SN_ACT_BACKWARD));
		/* what overlapping the reduction with backward could save at most (and the waits for
		 * slower processes it includes) */
		if (procs > 1)
			fprintf(stderr, "  allreduce of %zu gradients: %.3f s of the epoch's %.3f s (rank %d)\n", g->n_w, reducing,
			        now() - t0, sn_dist_rank());
	}
	rep->train_loss = loss / seen;
	rep->train_acc = (double)correct / seen;
	rep->seconds = now() - t0;
	rep->images_per_s = seen / rep->seconds;
	long made;
	sn_loader_stats(b->loader, &rep->loader_busy, &rep->loader_wait, &made);
	return SN_OK;
}

/* During the frozen epochs of transfer learning (frozen: the model's own flags, else NULL) the
 * checkpoint keeps the model's own flags, not the backbone's temporary ones: a resumed run freezes
 * again while its epoch is below freeze_epochs and trains everything after. */
static void swap_frozen(sn_graph *g, unsigned char *frozen)
{
	for (int i = 0; frozen && i < g->n_node; i++) {
		const unsigned char f = (unsigned char)g->node[i].frozen;
		g->node[i].frozen = frozen[i];
		frozen[i] = f;
	}
}

static int save_checkpoint(sn_graph *g, const sn_train_opts *o, sn_train_state *st, sn_meta *meta, unsigned char *frozen)
{
	if (!o->checkpoint) return SN_OK;
	st->graph_rng = g->plan->rng;
	swap_frozen(g, frozen);
	const int rc = sn_model_save(g, meta, st, o->checkpoint);
	swap_frozen(g, frozen);
	return rc;
}

/* Transfer learning's first epochs: every layer but the head is frozen (frozen[] keeps the
 * flags the model came with, restored by thaw). A change of what trains needs a new plan. */
static int freeze_backbone(sn_graph *g, const char *head, unsigned char *frozen)
{
	int found = 0;
	for (int i = 0; i < g->n_node; i++) {
		frozen[i] = (unsigned char)g->node[i].frozen;
		if (sn_name_in_list(head, g->node[i].name)) found++;
		else g->node[i].frozen = 1;
	}
	g->version++;   /* what needs gradients changed: plan again */
	if (!found) {
		for (int i = 0; i < g->n_node; i++) g->node[i].frozen = frozen[i];
		return sn_seterr(SN_EINVAL, "--freeze-backbone: the model has no layer named '%s'", head);
	}
	return SN_OK;
}

static void thaw(sn_graph *g, const unsigned char *frozen)
{
	for (int i = 0; i < g->n_node; i++) g->node[i].frozen = frozen[i];
	g->version++;
}

/* The teacher runs in inference mode on the student's batches: same input and outputs. */
static int plan_teacher(const sn_train_opts *o, int classes, sn_shape in)
{
	sn_shape ti = sn_graph_input_shape(o->teacher);
	if (sn_shape_numel(ti) != sn_shape_numel(in) || sn_graph_output_shape(o->teacher).c != classes)
		return sn_seterr(SN_ESHAPE, "the teacher must take the student's input and give its %d outputs", classes);
	if (!(o->kd_t > 0) || !(o->kd_alpha >= 0 && o->kd_alpha <= 1))
		return sn_seterr(SN_EINVAL, "distillation needs a temperature > 0 and an alpha in [0, 1]");
	return sn_graph_plan(o->teacher, o->batch, 0);
}

int sn_train(sn_graph *g, const sn_dataset *tr, const sn_dataset *te, const sn_train_opts *o,
             sn_train_state *st_in, sn_meta *meta)
{
	sn_train_state local = {0}, *st = st_in ? st_in : &local;
	const int classes = sn_graph_output_shape(g).c;
	sn_shape in = sn_graph_input_shape(g);
	int rc0 = sn_check_data(g, tr);
	if (rc0) return rc0;
	if (o->batch <= 0 || o->epochs < 0 || tr->n == 0) return sn_seterr(SN_EINVAL, "nothing to train: check --batch, --epochs and the data");
	if (o->batch < sn_dist_size())
		return sn_seterr(SN_EINVAL, "--batch %d is shared by %d processes: give at least one row to each", o->batch,
		                 sn_dist_size());
	if (!st->present) {
		sn_rng_seed(&st->rng, o->seed);
		sn_rng_seed(&g->plan->rng, o->seed ^ 0x5eed5eedULL);
		st->epoch = 0; st->step = 0;
	} else {
		g->plan->rng = st->graph_rng;
	}
	if (!st->opt_m) st->opt_m = calloc(g->n_w ? g->n_w : 1, sizeof(float));
	if (!st->opt_v && o->optimizer == SN_OPT_ADAM) st->opt_v = calloc(g->n_w ? g->n_w : 1, sizeof(float));
	batch_buffers b = {0};
	sn_qat qat = {0};
	int rc = !st->opt_m || (o->optimizer == SN_OPT_ADAM && !st->opt_v) ? sn_seterr(SN_ENOMEM, "out of memory") : SN_OK;
	if (!rc) rc = sn_qat_begin(&qat, g, o);
	if (!rc) rc = alloc_buffers(&b, tr, o, classes);
	if (!rc) rc = sn_plan_reshape(g->plan, o->batch, sn_qat_plan_flags(&qat));
	if (!rc && o->teacher) rc = plan_teacher(o, classes, in);
	int show = sn_dist_rank() ? 0 : o->progress < 0 ? isatty(2) : o->progress;
	sn_plan_profile(g->plan, getenv("SN_PROFILE") != NULL);
	sn_apply_masks(g);
	st->present = 1;
	unsigned char *frozen = NULL;
	if (!rc && o->freeze_epochs > 0 && st->epoch < o->freeze_epochs) {
		frozen = malloc((size_t)g->n_node);
		rc = !frozen ? sn_seterr(SN_ENOMEM, "out of memory") : freeze_backbone(g, o->head, frozen);
		if (rc) { free(frozen); frozen = NULL; }
	}
	while (!rc && st->epoch < o->epochs) {
		sn_epoch_report rep = {.epoch = st->epoch + 1};
		if (frozen && st->epoch >= o->freeze_epochs) {
			thaw(g, frozen);
			free(frozen);
			frozen = NULL;
		}
		/* evaluation may have re-planned the arena for inference: plan for training again */
		sn_qat_resume(&qat, g);
		rc = sn_plan_reshape(g->plan, o->batch, sn_qat_plan_flags(&qat));
		if (rc) break;
		/* several processes: each draws its own dropout masks, from the seed, epoch and rank (so
		 * that a resumed run draws what the uninterrupted one did) */
		if (sn_dist_size() > 1)
			sn_rng_seed(&g->plan->rng, (o->seed ^ 0x5eed5eedULL) + (uint64_t)st->epoch * 1000003u +
			                         (uint64_t)sn_dist_rank() * 0x9e3779b97f4a7c15ULL);
		rc = run_epoch(g, tr, o, st, &b, &qat, show, &rep);
		if (!rc) rc = sn_qat_settle_epoch(&qat, g);   /* QAT: evaluated and saved as the int8 model */
		if (rc) break;
		sn_eval_result ev;
		rc = sn_evaluate(g, te, o->batch, &ev);   /* the training plan serves it (not QAT's) */
		sn_eval_free(&ev);
		if (rc) break;
		rep.test_acc = ev.accuracy; rep.test_loss = ev.loss;
		st->epoch++;
		if (meta) { meta->epochs++; meta->test_accuracy = ev.accuracy; meta->test_loss = ev.loss; }
		printf("epoch %2d/%d  train loss %.4f  acc %6.2f%%  |  test loss %.4f  acc %6.2f%%  |  %5.1f s  %6.0f img/s"
		       "  (loader %3.0f%% busy, waited %.1f s)\n",
		       rep.epoch, o->epochs, rep.train_loss, 100 * rep.train_acc, ev.loss, 100 * ev.accuracy, rep.seconds,
		       rep.images_per_s, 100 * rep.loader_busy / (rep.seconds > 0 ? rep.seconds : 1), rep.loader_wait);
		fflush(stdout);
		rc = save_checkpoint(g, o, st, meta, frozen);
	}
	if (frozen) { thaw(g, frozen); free(frozen); }
	g->plan->train = 0;
	free_buffers(&b);
	sn_qat_end(&qat);
	if (st == &local) { free(local.opt_m); free(local.opt_v); }
	return rc;
}
