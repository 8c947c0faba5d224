/* Activation memory of inference plans (src/core/memplan.c): the planner never lets buffers of
 * overlapping lifetimes share bytes and packs them close to the least possible; zoo networks
 * with branches, merges and in-place activations give the same outputs from a reused arena as
 * from one that keeps every output, and keep_outputs keeps them. */
#include <pthread.h>
#include <stdlib.h>
#include "test.h"
#include "slimnn.h"
#include "core/internal.h"
#include "kernels/dnnl_conv.h"

/* Random lifetimes and sizes: no two buffers alive at the same node share a byte; the total is
 * at least the most bytes alive at any node and at most their sum; the same plan twice. */
TEST(memplan_never_overlaps_live_buffers)
{
	sn_rng r;
	sn_rng_seed(&r, 5);
	for (int t = 0; t < 200; t++) {
		const int n = 1 + (int)sn_rng_below(&r, 40), nodes = 1 + (int)sn_rng_below(&r, 30);
		sn_membuf *b = malloc(n * sizeof *b), *again = malloc(n * sizeof *again);
		size_t sum = 0;
		for (int i = 0; i < n; i++) {
			const int a = (int)sn_rng_below(&r, nodes), z = a + (int)sn_rng_below(&r, 6);
			b[i] = (sn_membuf){64 * sn_rng_below(&r, 50), 0, a, z};   /* zero-sized ones too */
			sum += b[i].size;
		}
		memcpy(again, b, n * sizeof *b);
		const size_t total = sn_plan_memory(b, n);
		int clash = 0;
		for (int i = 0; i < n; i++)
			for (int j = i + 1; j < n; j++) {
				const int live = b[i].first <= b[j].last && b[j].first <= b[i].last;
				const int bytes = b[i].offset < b[j].offset + b[j].size && b[j].offset < b[i].offset + b[i].size;
				clash += live && bytes;
			}
		size_t peak = 0;
		for (int k = 0; k < nodes + 6; k++) {
			size_t alive = 0;
			for (int i = 0; i < n; i++) alive += b[i].first <= k && k <= b[i].last ? b[i].size : 0;
			peak = SN_MAX(peak, alive);
		}
		int fits = 1;
		for (int i = 0; i < n; i++) fits &= b[i].offset + b[i].size <= total && b[i].offset % 64 == 0;
		CHECKF(!clash, "case %d: %d pairs of live buffers share bytes", t, clash);
		CHECKF(fits && total >= peak && total <= sum, "case %d: total %zu, peak %zu, sum %zu", t, total, peak, sum);
		CHECK(sn_plan_memory(again, n) == total && !memcmp(again, b, n * sizeof *b));
		free(b); free(again);
	}
}

/* A chain: each output is read by the next node only, so two buffers take turns. */
TEST(memplan_chain_needs_two_buffers)
{
	sn_membuf b[6];
	for (int i = 0; i < 6; i++) b[i] = (sn_membuf){1024, 0, i, i + 1};
	CHECK(sn_plan_memory(b, 6) == 2048);
}

/* Several threads plan at once, each its own cases: every layout equals the one planned alone
 * (the planner keeps no state between calls, so one plan cannot sort by another's sizes). */
enum { MP_THREADS = 4, MP_CASES = 16, MP_BUFS = 64, MP_ROUNDS = 300 };
typedef struct {
	sn_membuf in[MP_CASES][MP_BUFS], want[MP_CASES][MP_BUFS];
	size_t total[MP_CASES];
	int wrong;
} mp_job;

static void *mp_plan_all(void *arg)
{
	mp_job *j = arg;
	sn_membuf b[MP_BUFS];
	for (int r = 0; r < MP_ROUNDS; r++)
		for (int c = 0; c < MP_CASES; c++) {
			memcpy(b, j->in[c], sizeof b);
			const size_t total = sn_plan_memory(b, MP_BUFS);
			j->wrong += total != j->total[c] || memcmp(b, j->want[c], sizeof b);
		}
	return NULL;
}

TEST(memplan_is_reentrant_across_threads)
{
	static mp_job job[MP_THREADS];
	pthread_t th[MP_THREADS];
	for (int t = 0; t < MP_THREADS; t++) {
		sn_rng r;
		sn_rng_seed(&r, 100 + t);
		for (int c = 0; c < MP_CASES; c++) {
			for (int i = 0; i < MP_BUFS; i++) {
				const int a = (int)sn_rng_below(&r, 40);
				job[t].in[c][i] = (sn_membuf){64 * (1 + sn_rng_below(&r, 1000)), 0, a, a + (int)sn_rng_below(&r, 8)};
			}
			memcpy(job[t].want[c], job[t].in[c], sizeof job[t].want[c]);
			job[t].total[c] = sn_plan_memory(job[t].want[c], MP_BUFS);
		}
		job[t].wrong = 0;
	}
	int started[MP_THREADS];
	for (int t = 0; t < MP_THREADS; t++) started[t] = !pthread_create(&th[t], NULL, mp_plan_all, &job[t]);
	for (int t = 0; t < MP_THREADS; t++) {
		CHECKF(started[t], "thread %d did not start", t);
		if (started[t]) pthread_join(th[t], NULL);
	}
	for (int t = 0; t < MP_THREADS; t++)
		CHECKF(!job[t].wrong, "thread %d: %d of %d plans differ from the single-threaded ones", t, job[t].wrong,
		       MP_ROUNDS * MP_CASES);
}

/* A fresh inference plan of g (keeping every output or not) run on x: a copy of the logits;
 * *arena gets the plan's bytes. */
static float *run(sn_graph *g, const float *x, int n, int keep, size_t *arena)
{
	sn_plan *p = sn_plan_new(g);
	const float *z = p && !sn_plan_reshape(p, n, keep ? SN_PLAN_KEEP_OUTPUTS : 0) ? sn_plan_forward(p, x, n) : NULL;
	const size_t k = (size_t)n * sn_shape_numel(sn_graph_output_shape(g));
	float *y = z ? malloc(k * sizeof *y) : NULL;
	if (y) memcpy(y, z, k * sizeof *y);
	*arena = p ? sn_plan_arena_bytes(p) : 0;
	sn_plan_free(p);
	return y;
}

/* Zoo networks with residual adds, concatenations, channel split/shuffle, squeeze-excite
 * multiplies and in-place ReLUs: the reused arena gives bit for bit the outputs of the kept
 * one (same kernels, same order), on 1 and 2 threads, in less memory; a training plan's forward
 * agrees too, and needs more memory than the inference plan, which runs the direct convs here:
 * oneDNN's Winograd (inference only, kernels/dnnl_conv.h) takes scratch that can outgrow a
 * small net's whole training arena (cnn at batch 3: 8.7 MB against 2.6), so the nets run once
 * with it (outputs) and once without (sizes). */
TEST(memplan_reused_arena_gives_the_same_outputs)
{
	static const char *zoo[] = {"cnn", "resnet", "inception", "mobilenetv2", "mobilenetv3", "shufflenetv2"};
	sn_rng r;
	sn_rng_seed(&r, 9);
	for (size_t zw = 0; zw < 2 * sizeof zoo / sizeof zoo[0]; zw++) {
		const size_t z = zw / 2;
		const int wino = !(zw % 2);
		sn_dnnl_set_winograd(wino ? SN_DNNL_WINO_AUTO : SN_DNNL_WINO_OFF);
		sn_graph *g = sn_test_zoo(zoo[z], 3);
		REQUIRE(g);
		const int n = 3;
		const size_t xs = sn_shape_numel(sn_graph_input_shape(g)), ys = sn_shape_numel(sn_graph_output_shape(g));
		float *x = malloc(n * xs * sizeof *x);
		for (size_t i = 0; i < n * xs; i++) x[i] = 2 * sn_rng_uniform(&r) - 1;
		for (int t = 1; t <= 2; t++) {
			sn_set_threads(t);
			size_t kept_bytes, reused_bytes, train_bytes;
			float *kept = run(g, x, n, 1, &kept_bytes), *reused = run(g, x, n, 0, &reused_bytes);
			REQUIRE(kept && reused);
			CHECKF(!memcmp(kept, reused, n * ys * sizeof *kept), "%s, %d threads: reused arena changes the outputs",
			       zoo[z], t);
			CHECKF(reused_bytes < kept_bytes, "%s: arena %zu bytes reused, %zu kept", zoo[z], reused_bytes, kept_bytes);
			sn_plan *tp = sn_plan_new(g);
			REQUIRE(tp && sn_plan_reshape(tp, n, SN_PLAN_TRAIN) == SN_OK);
			train_bytes = sn_plan_arena_bytes(tp);
			REQUIRE(sn_plan_set_train(tp, 0) == SN_OK);   /* eval-mode BN and Dropout through the training plan */
			CHECKF(sn_test_maxrel(sn_plan_forward(tp, x, n), kept, n * ys) <= 1e-5, "%s: training plan differs", zoo[z]);
			sn_plan_free(tp);
			CHECKF(wino || train_bytes > kept_bytes, "%s: %zu bytes to train, %zu to infer", zoo[z], train_bytes,
			       kept_bytes);
			free(kept); free(reused);
		}
		free(x);
		sn_graph_free(g);
	}
	sn_dnnl_set_winograd(-1);
	sn_set_threads(2);
}

/* keep_outputs: every node's output is still there after forward; without it, an early layer's
 * output has been overwritten by later ones (the memory really is shared). */
TEST(memplan_keep_outputs_keeps_intermediates)
{
	sn_graph *g = sn_test_zoo("cnn", 4);
	REQUIRE(g);
	const size_t xs = sn_shape_numel(sn_graph_input_shape(g));
	float *x = malloc(2 * xs * sizeof *x);
	for (size_t i = 0; i < 2 * xs; i++) x[i] = (float)(i % 17) / 17.0f;
	const int c = 1;   /* the first conv */
	const size_t cs = 2 * sn_shape_numel(g->node[c].out);
	sn_plan *p = sn_plan_new(g);
	REQUIRE(p && sn_plan_reshape(p, 2, SN_PLAN_KEEP_OUTPUTS) == SN_OK);
	sn_plan_forward(p, x, 2);
	float *first = malloc(cs * sizeof *first);
	memcpy(first, sn_plan_output(p, c), cs * sizeof *first);
	int shared = 0;
	for (int i = c + 2; i < g->n_node; i++) shared |= sn_plan_output(p, i) == sn_plan_output(p, c);
	CHECK(!shared);
	sn_plan_free(p);
	p = sn_plan_new(g);   /* a plan that keeps outputs serves one that need not: make a new one */
	REQUIRE(p && sn_plan_reshape(p, 2, 0) == SN_OK);
	sn_plan_forward(p, x, 2);
	for (int i = c + 2; i < g->n_node; i++) shared |= sn_plan_output(p, i) == sn_plan_output(p, c);
	CHECK(shared && memcmp(first, sn_plan_output(p, c), cs * sizeof *first));
	sn_plan_free(p);
	free(first); free(x);
	sn_graph_free(g);
}
