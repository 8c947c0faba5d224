/* The prefetching loader: a pool of threads makes the batches of a pass into a ring of ready
 * slots ahead of the trainer, so that files decode (and bytes normalise) while the cores
 * compute. Batch k always holds rows order[k*B .. k*B+B) with their pre-drawn augmentation, so
 * its contents do not depend on the thread count or on timing; only who makes it does. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "data/loader.h"

typedef struct {
	float *x;
	int32_t *y;
	long k;               /* the batch this slot holds or is being filled with */
	int ready, rc;
	char msg[512];        /* the failure's message: sn_errmsg() is per thread */
} slot;

struct sn_loader {
	const sn_dataset *d;
	int batch, depth, n_workers;
	size_t row;           /* floats per sample */
	slot *slots;
	pthread_t *threads;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	/* the pass */
	const int *order;
	const sn_draw *draws;
	int n;
	long n_batches, claimed, consumed, held, in_flight;
	int quit;
	double busy, wait;    /* seconds: workers making batches (summed), caller waiting for them */
	long made;
};

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}

static int rows_of(const sn_loader *L, long k)
{
	long from = k * L->batch, left = L->n - from;
	return (int)(left < L->batch ? left : L->batch);
}

static void fill(sn_loader *L, slot *s, long k)
{
	double t0 = now();
	int rows = rows_of(L, k);
	long from = k * L->batch;
	s->rc = sn_dataset_make(L->d, L->order + from, rows, L->draws ? L->draws + from : NULL, s->x, s->y);
	if (s->rc) snprintf(s->msg, sizeof s->msg, "%s", sn_errmsg());
	double t = now() - t0;
	pthread_mutex_lock(&L->mu);
	L->busy += t;
	L->made++;
	pthread_mutex_unlock(&L->mu);
}

static void *worker(void *arg)
{
	sn_loader *L = arg;
	pthread_mutex_lock(&L->mu);
	while (!L->quit) {
		/* the next batch of the pass, as long as its slot has been given back */
		if (L->claimed < L->n_batches && L->claimed < L->consumed + L->depth) {
			long k = L->claimed++;
			slot *s = &L->slots[k % L->depth];
			s->k = k;
			s->ready = 0;
			L->in_flight++;
			pthread_mutex_unlock(&L->mu);
			fill(L, s, k);
			pthread_mutex_lock(&L->mu);
			s->ready = 1;
			L->in_flight--;
			pthread_cond_broadcast(&L->cv);
		} else {
			pthread_cond_wait(&L->cv, &L->mu);
		}
	}
	pthread_mutex_unlock(&L->mu);
	return NULL;
}

sn_loader *sn_loader_new(const sn_dataset *d, int batch, int workers, int depth)
{
	if (batch < 1 || workers < 0) {
		sn_seterr(SN_EINVAL, "a loader needs batches of at least one sample");
		return NULL;
	}
	sn_loader *L = calloc(1, sizeof *L);
	if (!L) goto oom;
	L->d = d;
	L->batch = batch;
	L->n_workers = workers;
	L->row = (size_t)d->c * d->h * d->w;
	/* the ring is bounded in bytes as well as in batches: 4 batches of 256 ImageNet-sized
	 * images would hold 616 MB; two slots (one held, one being made) are the least that overlaps */
	size_t slot_bytes = (size_t)batch * L->row * sizeof(float), fit = SN_LOADER_RING_BYTES / (slot_bytes + 1);
	L->depth = !workers ? 1 : depth < 2 || fit < 2 ? 2 : (size_t)depth > fit ? (int)fit : depth;
	L->held = -1;
	L->slots = calloc((size_t)L->depth, sizeof *L->slots);
	if (!L->slots) goto oom;
	for (int i = 0; i < L->depth; i++) {
		L->slots[i].x = malloc((size_t)batch * L->row * sizeof(float));
		L->slots[i].y = malloc((size_t)batch * sizeof(int32_t));
		if (!L->slots[i].x || !L->slots[i].y) goto oom;
	}
	pthread_mutex_init(&L->mu, NULL);
	pthread_cond_init(&L->cv, NULL);
	L->threads = calloc((size_t)workers + 1, sizeof *L->threads);
	if (!L->threads) goto oom_locks;
	for (int i = 0; i < workers; i++) {
		if (pthread_create(&L->threads[i], NULL, worker, L)) {
			L->n_workers = i;
			sn_loader_free(L);
			sn_seterr(SN_ENOMEM, "cannot start data loader thread %d of %d", i + 1, workers);
			return NULL;
		}
	}
	return L;
oom_locks:
	L->n_workers = 0;
	sn_loader_free(L);
	sn_seterr(SN_ENOMEM, "out of memory for the data loader's %d batches", L->depth);
	return NULL;
oom:
	if (L && L->slots)
		for (int i = 0; i < L->depth; i++) { free(L->slots[i].x); free(L->slots[i].y); }
	if (L) free(L->slots);
	free(L);
	sn_seterr(SN_ENOMEM, "out of memory for the data loader's batches");
	return NULL;
}

/* Waits until no worker is filling a slot (the caller holds the lock). */
static void drain(sn_loader *L)
{
	L->n_batches = L->claimed;   /* nothing new is claimed */
	while (L->in_flight) pthread_cond_wait(&L->cv, &L->mu);
}

void sn_loader_start(sn_loader *L, const int *order, const sn_draw *draws, int n)
{
	pthread_mutex_lock(&L->mu);
	drain(L);
	L->order = order;
	L->draws = draws;
	L->n = n;
	L->n_batches = (n + L->batch - 1) / L->batch;
	L->claimed = L->consumed = 0;
	L->held = -1;
	for (int i = 0; i < L->depth; i++) L->slots[i].ready = 0, L->slots[i].k = -1;
	pthread_cond_broadcast(&L->cv);
	pthread_mutex_unlock(&L->mu);
}

int sn_loader_next(sn_loader *L, const float **x, const int32_t **y, int *rows)
{
	*rows = 0;
	pthread_mutex_lock(&L->mu);
	if (L->held >= 0) {   /* the slot handed out last time is free again */
		L->consumed = L->held + 1;
		L->held = -1;
		pthread_cond_broadcast(&L->cv);
	}
	if (L->consumed >= L->n_batches) {
		pthread_mutex_unlock(&L->mu);
		return SN_OK;
	}
	long k = L->consumed;
	slot *s = &L->slots[k % L->depth];
	if (!L->n_workers) {   /* no threads: made here, on demand */
		pthread_mutex_unlock(&L->mu);
		s->k = k;
		fill(L, s, k);
		pthread_mutex_lock(&L->mu);
	} else {
		double t0 = now();
		while (!(s->k == k && s->ready)) pthread_cond_wait(&L->cv, &L->mu);
		L->wait += now() - t0;
	}
	L->held = k;
	int rc = s->rc;
	pthread_mutex_unlock(&L->mu);
	if (rc) return sn_seterr(rc, "%s", s->msg);
	*x = s->x;
	if (y) *y = s->y;
	*rows = rows_of(L, k);
	return SN_OK;
}

int sn_loader_depth(const sn_loader *L) { return L->depth; }

void sn_loader_stats(sn_loader *L, double *busy, double *wait, long *made)
{
	pthread_mutex_lock(&L->mu);
	*busy = L->busy;
	*wait = L->wait;
	*made = L->made;
	L->busy = L->wait = 0;
	L->made = 0;
	pthread_mutex_unlock(&L->mu);
}

void sn_loader_free(sn_loader *L)
{
	if (!L) return;
	pthread_mutex_lock(&L->mu);
	drain(L);
	L->quit = 1;
	pthread_cond_broadcast(&L->cv);
	pthread_mutex_unlock(&L->mu);
	for (int i = 0; i < L->n_workers; i++) pthread_join(L->threads[i], NULL);
	pthread_mutex_destroy(&L->mu);
	pthread_cond_destroy(&L->cv);
	for (int i = 0; i < L->depth; i++) { free(L->slots[i].x); free(L->slots[i].y); }
	free(L->slots);
	free(L->threads);
	free(L);
}

int sn_loader_default_workers(const sn_dataset *d)
{
	if (!d->src) return 1;
	int n = sn_get_threads();
	return n > 1 ? n : 1;
}
