/* timing.h — the clock and the median that every bench program times with (header only, so
 * that sgemm_peak.c stays a single file that needs nothing but OpenBLAS). */
#ifndef BENCH_TIMING_H
#define BENCH_TIMING_H
#include <stdlib.h>
#include <time.h>

/* Seconds on the monotonic clock, or with BENCH_CLOCK=cpu in the environment on the process's
 * CPU-time clock: on a machine that other jobs share, one thread's CPU time does not count the
 * time the scheduler gave to them (use it with one thread: it adds up every thread's time). */
static inline double bench_now(void)
{
	static int clock_id = -1;
	if (clock_id < 0) {
		const char *c = getenv("BENCH_CLOCK");
		clock_id = c && c[0] == 'c' ? CLOCK_PROCESS_CPUTIME_ID : CLOCK_MONOTONIC;
	}
	struct timespec t;
	clock_gettime(clock_id, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Warm-up lasts W passes and at least this many seconds, so that one-time costs of a fresh
 * process stay out. (The worst was OpenBLAS's idle worker thread, which spins for a while after
 * the library loads: a 0.3 ms conv measured 4-8 ms as the first case of a run, until
 * src/kernels/threads.c shut that pool down.) */
#define BENCH_WARMUP_S 0.2

static inline int bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* The median of t[0..n) (n >= 1); sorts t. A median, not a mean: one pass that the scheduler
 * or a page fault interrupted does not move it. */
static inline double bench_median(double *t, int n)
{
	qsort(t, (size_t)n, sizeof *t, bench_cmp_double);
	return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}
#endif
