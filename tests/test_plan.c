/* Plans (sn_plan_*): the model holds no run-time state, so plans on one model run on several
 * threads at once and each gives bit for bit what it gives alone; a plan refuses passes it was
 * not sized for, and one plan's passes never touch another's outputs. */
#include <pthread.h>
#include <stdlib.h>
#include "test.h"
#include "slimnn.h"

/* conv, BatchNorm, ReLU, a depthwise conv, a 1x1 conv (sparse once pruned), a residual add,
 * max and average pooling, global pooling, Linears, Dropout (identity at inference) */
static const char *PLAN_ARCH =
	"input x shape=3x12x12\n"
	"conv c1 out=16 k=3 pad=1 bias=0\nbn b1\nrelu r1\n"
	"conv dw out=16 k=3 pad=1 groups=16 bias=0\nbn b2\nrelu6 r2\n"
	"conv pw out=16 k=1\nadd a in=pw,r1\nrelu r3\nmaxpool p1 k=2\n"
	"conv c2 out=32 k=3 pad=1\nrelu r4\navgpool p2 k=2\ngap g\nflatten f\n"
	"linear fc1 out=64\nrelu r5\ndropout d p=0.3\nlinear fc out=10\n";

enum { PT_THREADS = 8, PT_ROUNDS = 6, PT_MAXB = 9, PT_ROWS = 24 };

/* The model with BatchNorm statistics that do something (a fresh one normalises by 0 and 1). */
static sn_graph *plan_model(sn_rng *r)
{
	sn_graph *g = sn_arch_parse(PLAN_ARCH, "plan.arch");
	if (!g) return NULL;
	sn_graph_init_params(g, 11);
	for (int i = 0; i < g->n_tensor; i++) {
		sn_tensor *t = &g->tensor[i];
		if (t->kind != SN_TENSOR_BUFFER && !strstr(t->name, "b1.") && !strstr(t->name, "b2.")) continue;
		const int var = strstr(t->name, "running_var") != NULL, gamma = strstr(t->name, "weight") != NULL;
		for (size_t k = 0; k < t->n; k++)
			t->data[k] = var || gamma ? 0.5f + sn_rng_uniform(r) : sn_rng_uniform(r) - 0.5f;
	}
	return g;
}

/* Thread t's batch in round r: every thread its own sizes, growing (the plan is made anew) and
 * shrinking (it keeps its memory); and the first of the rows it runs. */
static int plan_batch(int t, int r) { return 1 + (t * 3 + r * 5) % PT_MAXB; }
static int plan_row(int t, int r) { return (t * 7 + r * 3) % (PT_ROWS - PT_MAXB + 1); }

typedef struct {
	const sn_graph *g;
	const float *x;                   /* PT_ROWS input rows */
	int t;
	float *out;                       /* per round, its batch of logits (PT_MAXB rows of room) */
	int rc;
	char msg[256];
} plan_job;

static void *plan_job_run(void *arg)
{
	plan_job *j = arg;
	const size_t xs = sn_shape_numel(sn_graph_input_shape(j->g)), ys = sn_shape_numel(sn_graph_output_shape(j->g));
	sn_plan *p = sn_plan_new(j->g);
	j->rc = p ? SN_OK : sn_errcode();
	for (int r = 0; r < PT_ROUNDS && !j->rc; r++) {
		const int b = plan_batch(j->t, r);
		const float *y = NULL;
		if (!(j->rc = sn_plan_reshape(p, b, 0)) && !(y = sn_plan_forward(p, j->x + (size_t)plan_row(j->t, r) * xs, b)))
			j->rc = sn_errcode();
		if (y) memcpy(j->out + (size_t)r * PT_MAXB * ys, y, (size_t)b * ys * sizeof *y);
	}
	if (j->rc) snprintf(j->msg, sizeof j->msg, "%s", sn_errmsg());   /* messages are per thread */
	sn_plan_free(p);
	return NULL;
}

/* Runs the PT_THREADS jobs one after another (want) and then all at once (got); every round's
 * logits must be the same bits. Returns the rounds that differ, or -1 when a job failed. */
static int plan_threads(const sn_graph *g, const float *x, const char *what)
{
	const size_t ys = sn_shape_numel(sn_graph_output_shape(g)), per = (size_t)PT_ROUNDS * PT_MAXB * ys;
	plan_job want[PT_THREADS], got[PT_THREADS];
	pthread_t th[PT_THREADS];
	int started[PT_THREADS], failed = 0, differ = 0;
	for (int t = 0; t < PT_THREADS; t++) {
		want[t] = (plan_job){.g = g, .x = x, .t = t, .out = calloc(per, sizeof(float))};
		got[t] = (plan_job){.g = g, .x = x, .t = t, .out = calloc(per, sizeof(float))};
		if (!want[t].out || !got[t].out) abort();
		plan_job_run(&want[t]);
	}
	for (int t = 0; t < PT_THREADS; t++) started[t] = !pthread_create(&th[t], NULL, plan_job_run, &got[t]);
	for (int t = 0; t < PT_THREADS; t++)
		if (started[t]) pthread_join(th[t], NULL);
	for (int t = 0; t < PT_THREADS; t++) {
		CHECKF(started[t], "%s: thread %d did not start", what, t);
		CHECKF(!want[t].rc && !got[t].rc, "%s, job %d: %s%s", what, t, want[t].msg, got[t].msg);
		failed |= !started[t] || want[t].rc || got[t].rc;
		for (int r = 0; r < PT_ROUNDS && !failed; r++) {
			const size_t o = (size_t)r * PT_MAXB * ys, n = (size_t)plan_batch(t, r) * ys;
			const int same = !memcmp(want[t].out + o, got[t].out + o, n * sizeof(float));
			CHECKF(same, "%s, thread %d, round %d (batch %d): the concurrent run differs", what, t, r, plan_batch(t, r));
			differ += !same;
		}
	}
	/* the logits must say something: finite, and not the same for every row */
	int varied = 0, finite = 1;
	for (int r = 0; r < PT_ROUNDS && !failed; r++)
		for (size_t k = 0; k < (size_t)plan_batch(0, r) * ys; k++) {
			finite &= isfinite(want[0].out[(size_t)r * PT_MAXB * ys + k]);
			varied |= want[0].out[(size_t)r * PT_MAXB * ys + k] != want[0].out[k % ys];
		}
	CHECKF(failed || (finite && varied), "%s: the logits are %s", what, finite ? "all alike" : "not finite");
	for (int t = 0; t < PT_THREADS; t++) { free(want[t].out); free(got[t].out); }
	return failed ? -1 : differ;
}

/* 8 threads, each with its own plan and batch sizes, on one model: as trained (dense), and
 * prepared for inference with two pruned layers on the sparse kernels (SpMM). */
TEST(plan_threads_share_one_model)
{
	sn_rng r;
	sn_rng_seed(&r, 21);
	sn_graph *g = plan_model(&r);
	REQUIRE(g);
	const size_t xs = sn_shape_numel(sn_graph_input_shape(g));
	float *x = malloc((size_t)PT_ROWS * xs * sizeof *x);
	REQUIRE(x);
	for (size_t i = 0; i < (size_t)PT_ROWS * xs; i++) x[i] = 2 * sn_rng_uniform(&r) - 1;
	CHECK(plan_threads(g, x, "dense") == 0);

	unsigned char *prunable = calloc((size_t)g->n_node, 1);
	REQUIRE(prunable);
	prunable[sn_graph_find(g, "pw")] = prunable[sn_graph_find(g, "fc1")] = 1;
	REQUIRE(sn_prune_weights(g, prunable, SN_SCOPE_LAYER, 0.75f) == SN_OK);
	sn_prepare_opts po = sn_prepare_defaults();
	po.sparse = SN_SPARSE_AUTO;   /* 75 % zeros: past the crossover of both (the 1x1 conv and fc1) */
	sn_prepare_report rep;
	sn_graph *h = sn_prepare_inference(g, &po, &rep);
	REQUIRE(h);
	const int pw = sn_graph_find(h, "pw"), fc1 = sn_graph_find(h, "fc1");
	CHECKF(pw >= 0 && fc1 >= 0 && h->node[pw].impl == SN_IMPL_SPARSE && h->node[fc1].impl == SN_IMPL_SPARSE,
	       "the pruned layers should run sparse (%d sparse layers)", rep.sparse_layers);
	CHECKF(rep.folded_bn == 2 && rep.fused_act == 3 && rep.removed_dropout == 1,   /* b1, b2; r1, r2, r4; d */
	       "prepare folded %d, fused %d, removed %d", rep.folded_bn, rep.fused_act, rep.removed_dropout);
	CHECK(plan_threads(h, x, "sparse") == 0);
	free(prunable); free(x);
	sn_graph_free(h);
	sn_graph_free(g);
}

/* A plan's passes write only its own arena: two plans on one model keep their outputs apart,
 * and the graph's own plan is untouched by either. */
TEST(plan_outputs_stay_apart)
{
	sn_rng r;
	sn_rng_seed(&r, 4);
	sn_graph *g = plan_model(&r);
	REQUIRE(g);
	const size_t xs = sn_shape_numel(sn_graph_input_shape(g)), ys = sn_shape_numel(sn_graph_output_shape(g));
	float *x = malloc(4 * xs * sizeof *x), ya[2 * 10];
	REQUIRE(x && ys == 10);
	for (size_t i = 0; i < 4 * xs; i++) x[i] = 2 * sn_rng_uniform(&r) - 1;
	sn_plan *a = sn_plan_new(g), *b = sn_plan_new(g);
	REQUIRE(a && b);
	REQUIRE(sn_plan_reshape(a, 2, SN_PLAN_KEEP_OUTPUTS) == SN_OK && sn_plan_reshape(b, 2, 0) == SN_OK);
	const float *za = sn_plan_forward(a, x, 2);
	REQUIRE(za);
	memcpy(ya, za, sizeof ya);
	const float *c1 = sn_plan_output(a, sn_graph_find(g, "c1"));
	float c1a = c1[5];
	const float *zb = sn_plan_forward(b, x + 2 * xs, 2);   /* other rows */
	REQUIRE(zb && zb != za);
	CHECK(!memcmp(za, ya, sizeof ya) && c1[5] == c1a);
	CHECK(memcmp(zb, ya, sizeof ya));
	CHECK(sn_plan_output(g->plan, 0) == NULL);   /* the graph's own plan was never planned */
	/* the same rows through b give a's bits */
	CHECK(!memcmp(sn_plan_forward(b, x, 2), ya, sizeof ya));
	sn_plan_free(a); sn_plan_free(b);
	free(x);
	sn_graph_free(g);
}

/* Passes a plan is not sized for are refused with a message, never run out of bounds. */
TEST(plan_refuses_what_it_was_not_sized_for)
{
	sn_graph *g = sn_test_net("input x shape=2x4x4\nconv c out=3 k=3 pad=1\nbn b\nflatten f\nlinear l out=2\n", 3);
	REQUIRE(g);
	float x[3 * 32] = {0}, dy[3 * 2] = {0};
	CHECK(!sn_plan_new(NULL) && sn_errcode() == SN_EINVAL);
	sn_graph *empty = sn_graph_new();
	CHECK(empty && sn_graph_plan(empty, 1, 0) == SN_EINVAL && !sn_graph_forward(empty, x, 1));
	sn_graph_free(empty);
	sn_plan *p = sn_plan_new(g);
	REQUIRE(p);
	CHECK(!sn_plan_forward(p, x, 1) && strstr(sn_errmsg(), "sn_plan_reshape"));
	CHECK(sn_plan_output(p, 1) == NULL && sn_plan_arena_bytes(p) == 0);
	CHECK(sn_plan_reshape(p, 0, 0) == SN_EINVAL && sn_plan_reshape(p, 2, 64) == SN_EINVAL);
	REQUIRE(sn_plan_reshape(p, 2, 0) == SN_OK);
	CHECK(!sn_plan_forward(p, x, 3) && strstr(sn_errmsg(), "batch of 3"));
	CHECK(sn_plan_forward(p, x, 2) != NULL);
	CHECK(sn_plan_backward(p, dy) == SN_EINVAL && strstr(sn_errmsg(), "training plan"));
	CHECK(sn_plan_set_train(p, 1) == SN_EINVAL && sn_plan_set_train(p, 0) == SN_OK);
	CHECK(sn_plan_grad(p, 4) == NULL && sn_plan_output(p, 99) == NULL && sn_plan_output(p, -1) == NULL);
	/* a training plan serves inference without planning anew; the input's gradient on request */
	REQUIRE(sn_plan_reshape(p, 3, SN_PLAN_TRAIN | SN_PLAN_INPUT_GRAD) == SN_OK);
	const size_t train_bytes = sn_plan_arena_bytes(p);
	REQUIRE(sn_plan_reshape(p, 2, 0) == SN_OK);
	CHECK(sn_plan_arena_bytes(p) == train_bytes && sn_plan_set_train(p, 1) == SN_OK);
	REQUIRE(sn_plan_forward(p, x, 3));
	CHECK(sn_plan_backward(p, dy) == SN_OK && sn_plan_grad(p, 0) != NULL && sn_plan_grad(p, 4) != NULL);
	/* after the model changes, reshaping plans anew (the larger input needs more memory) */
	REQUIRE(sn_graph_set_input(g, 2, 6, 6) == SN_OK);
	REQUIRE(sn_plan_reshape(p, 3, 0) == SN_OK);
	CHECK(sn_plan_grad(p, 0) == NULL);   /* an inference plan now */
	float x6[3 * 72] = {0};
	CHECK(sn_plan_forward(p, x6, 3) != NULL);
	sn_plan_free(p);
	sn_graph_free(g);
}
