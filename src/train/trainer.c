/* The training loop: shuffled mini-batches, augmentation, forward/backward, optimizer and
 * schedule, a live progress line, one report per epoch, an atomic checkpoint after each epoch,
 * and a stop with an error (keeping the last good checkpoint) if the loss diverges. */
#include <math.h>
#include <time.h>
#include <unistd.h>
#include "core/internal.h"
#include "train/train_internal.h"

sn_train_opts sn_train_defaults(void)
{
	return (sn_train_opts){
		.epochs = 10, .batch = 128, .threads = 0, .limit = 0,
		.lr = 0.05f, .momentum = 0.9f, .weight_decay = 5e-4f, .nesterov = 1,
		.beta1 = 0.9f, .beta2 = 0.999f, .adam_eps = 1e-8f,
		.optimizer = SN_OPT_SGD, .schedule = SN_SCHED_ONECYCLE, .step_size = 3, .gamma = 0.1f,
		.pct_start = 0.3f, .augment = {2, 0}, .seed = 1, .progress = -1, .checkpoint = NULL,
		.max_loss = 1e4f, .teacher = NULL, .kd_alpha = 0.5f, .kd_t = 2.0f, .clean_epochs = 2,
	};
}

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}

typedef struct {
	float *x, *dlogits;
	uint8_t *y;
	int *perm;
} batch_buffers;

static int alloc_buffers(batch_buffers *b, size_t in_numel, int batch, int classes, int n)
{
	b->x = malloc((size_t)batch * in_numel * sizeof(float));
	b->dlogits = malloc((size_t)batch * classes * sizeof(float));
	b->y = malloc(batch);
	b->perm = malloc((size_t)n * sizeof(int));
	if (b->x && b->dlogits && b->y && b->perm) return SN_OK;
	return sn_seterr(SN_ENOMEM, "out of memory for training buffers");
}

static void free_buffers(batch_buffers *b) { free(b->x); free(b->dlogits); free(b->y); free(b->perm); }

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
                     batch_buffers *b, float *m, float *v, int show, sn_epoch_report *rep)
{
	const int classes = sn_graph_output_shape(g).c, spe = (tr->n + o->batch - 1) / o->batch;
	const uint64_t total = (uint64_t)spe * o->epochs;
	for (int i = 0; i < tr->n; i++) b->perm[i] = i;
	for (int i = tr->n - 1; i > 0; i--) {
		int j = (int)sn_rng_below(&st->rng, (uint32_t)i + 1), t = b->perm[i];
		b->perm[i] = b->perm[j]; b->perm[j] = t;
	}
	double loss = 0, t0 = now(), last = 0;
	int correct = 0, seen = 0;
	const sn_augment none = {0, 0}, *aug = st->epoch >= o->epochs - o->clean_epochs ? &none : &o->augment;
	for (int s = 0, k = 0; s < tr->n; s += o->batch, k++) {
		int n = SN_MIN(o->batch, tr->n - s);
		sn_dataset_batch(tr, b->perm + s, n, aug, &st->rng, b->x, b->y);
		const float *z = sn_graph_forward(g, b->x, n);
		double l = o->teacher ? sn_distill_xent(z, sn_graph_forward(o->teacher, b->x, n), b->y, n, classes, o->kd_alpha,
		                                        o->kd_t, b->dlogits, &correct)
		                      : sn_softmax_xent_smooth(z, b->y, n, classes, o->label_smoothing, b->dlogits, &correct);
		if (!isfinite(l) || l / n > o->max_loss)
			return sn_seterr(SN_EDIVERGED, "the loss diverged (%s) at epoch %d, step %d; lower --lr", isfinite(l) ? "exploded" : "NaN",
			                 st->epoch + 1, k + 1);
		loss += l; seen += n;
		sn_graph_zero_grad(g);
		sn_graph_backward(g, b->dlogits);
		st->step++;
		sn_optim_step(g, o, sn_schedule_lr(o, st->step - 1, total, spe), sn_schedule_momentum(o, st->step - 1, total),
		              st->step, m, v);
		if (show && (now() - last > 0.25 || k == spe - 1)) {
			progress(st->epoch + 1, o->epochs, k + 1, spe, loss / seen, (double)correct / seen, t0);
			last = now();
		}
	}
	if (show) fprintf(stderr, "\r%*s\r", 100, "");
	if (g->profile) {
		for (int i = 1; i < g->n_node; i++)
			fprintf(stderr, "  %-12s fwd %7.3f s  bwd %7.3f s\n", g->node[i].name, g->node[i].t_fwd, g->node[i].t_bwd);
	}
	rep->train_loss = loss / seen;
	rep->train_acc = (double)correct / seen;
	rep->seconds = now() - t0;
	rep->images_per_s = seen / rep->seconds;
	return SN_OK;
}

static int save_checkpoint(sn_graph *g, const sn_train_opts *o, sn_train_state *st, sn_meta *meta)
{
	if (!o->checkpoint) return SN_OK;
	st->graph_rng = g->rng;
	return sn_model_save(g, meta, st, o->checkpoint);
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
	if (!st->present) {
		sn_rng_seed(&st->rng, o->seed);
		sn_rng_seed(&g->rng, o->seed ^ 0x5eed5eedULL);
		st->epoch = 0; st->step = 0;
	} else {
		g->rng = st->graph_rng;
	}
	if (!st->opt_m) st->opt_m = calloc(g->n_w ? g->n_w : 1, sizeof(float));
	if (!st->opt_v && o->optimizer == SN_OPT_ADAM) st->opt_v = calloc(g->n_w ? g->n_w : 1, sizeof(float));
	batch_buffers b = {0};
	int rc = !st->opt_m || (o->optimizer == SN_OPT_ADAM && !st->opt_v) ? sn_seterr(SN_ENOMEM, "out of memory") : SN_OK;
	if (!rc) rc = alloc_buffers(&b, sn_shape_numel(in), o->batch, classes, tr->n);
	if (!rc) rc = sn_graph_plan(g, o->batch, 1);
	if (!rc && o->teacher) rc = plan_teacher(o, classes, in);
	int show = o->progress < 0 ? isatty(2) : o->progress;
	g->profile = getenv("SN_PROFILE") != NULL;
	sn_apply_masks(g);
	st->present = 1;
	while (!rc && st->epoch < o->epochs) {
		sn_epoch_report rep = {.epoch = st->epoch + 1};
		/* evaluation may have re-planned the arena for inference: plan for training again */
		rc = sn_graph_plan(g, o->batch, 1);
		if (rc) break;
		rc = run_epoch(g, tr, o, st, &b, st->opt_m, st->opt_v, show, &rep);
		if (rc) break;
		sn_eval_result ev;
		rc = sn_evaluate(g, te, o->batch, &ev);   /* the training plan serves it */
		if (rc) break;
		rep.test_acc = ev.accuracy; rep.test_loss = ev.loss;
		st->epoch++;
		if (meta) { meta->epochs++; meta->test_accuracy = ev.accuracy; meta->test_loss = ev.loss; }
		printf("epoch %2d/%d  train loss %.4f  acc %6.2f%%  |  test loss %.4f  acc %6.2f%%  |  %5.1f s  %6.0f img/s\n",
		       rep.epoch, o->epochs, rep.train_loss, 100 * rep.train_acc, ev.loss, 100 * ev.accuracy, rep.seconds,
		       rep.images_per_s);
		fflush(stdout);
		rc = save_checkpoint(g, o, st, meta);
	}
	g->train = 0;
	free_buffers(&b);
	if (st == &local) { free(local.opt_m); free(local.opt_v); }
	return rc;
}
