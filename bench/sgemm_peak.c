/* sgemm_peak — what this machine's OpenBLAS reaches on one large single-precision GEMM.
 *
 * It times C = A * B for square N x N matrices (N = 1024 unless given as the first argument)
 * with cblas_sgemm, for each OpenBLAS thread count listed after it (default: 1 and 2), and
 * prints one line per thread count:
 *
 *     threads=1 n=1024 runs=9 median_ms=31.84 gflops=67.45
 *
 * GFLOP/s counts 2*N^3 floating-point operations (one multiply and one add per term) per GEMM
 * and uses the median of `runs` timed calls after two untimed warm-up calls, so that one
 * interrupted call (another process, a page fault) does not move the figure. It is the
 * ceiling that any GEMM-based convolution or Linear layer can approach on this machine, which
 * puts the training throughputs of bench/run.sh in perspective.
 *
 * Build: make B=DIR DIR/sgemm_peak (or cc -O2 -std=c11 bench/sgemm_peak.c -o sgemm_peak -lopenblas)
 */
#define _POSIX_C_SOURCE 199309L
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include "timing.h"

enum { WARMUP = 2, RUNS = 9 };

/* A 64-byte aligned buffer of n floats filled with small pseudo-random values (no denormals,
 * no zeros that a library could short-cut). */
static float *random_matrix(size_t n, unsigned *seed)
{
	float *p = aligned_alloc(64, ((n * sizeof(float) + 63) / 64) * 64);
	if (!p) return NULL;
	for (size_t i = 0; i < n; i++) {
		*seed = *seed * 1664525u + 1013904223u;               /* a plain LCG is enough here */
		p[i] = (float)(*seed >> 8) / (float)(1u << 24) - 0.5f; /* uniform in [-0.5, 0.5) */
	}
	return p;
}

/* Median seconds of one N x N x N sgemm with `threads` OpenBLAS threads. */
static double time_sgemm(int n, int threads, const float *a, const float *b, float *c)
{
	double t[RUNS];
	openblas_set_num_threads(threads);
	for (int r = 0; r < WARMUP + RUNS; r++) {
		double t0 = bench_now();
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
		double dt = bench_now() - t0;
		if (r >= WARMUP) t[r - WARMUP] = dt;
	}
	return bench_median(t, RUNS);
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 1024;
	if (n < 16 || n > 8192) {
		fprintf(stderr, "usage: sgemm_peak [N (16..8192)] [THREADS...]\n");
		return 2;
	}
	size_t nn = (size_t)n * n;
	unsigned seed = 12345u;
	float *a = random_matrix(nn, &seed), *b = random_matrix(nn, &seed), *c = random_matrix(nn, &seed);
	if (!a || !b || !c) {
		fprintf(stderr, "sgemm_peak: out of memory for three %dx%d matrices\n", n, n);
		return 1;
	}
	/* OpenBLAS's own description of itself: the kernel it picked for this CPU */
	printf("openblas_core=%s\n", openblas_get_corename());
	printf("openblas_config=%s\n", openblas_get_config());

	int default_threads[] = {1, 2}, *threads = default_threads, count = 2;
	int *given = NULL;
	if (argc > 2) {
		count = argc - 2;
		given = malloc((size_t)count * sizeof *given);
		if (!given) return 1;
		for (int i = 0; i < count; i++) {
			given[i] = atoi(argv[i + 2]);
			if (given[i] < 1) {
				fprintf(stderr, "sgemm_peak: thread counts must be at least 1\n");
				return 2;
			}
		}
		threads = given;
	}
	double flop = 2.0 * (double)n * n * n;
	for (int i = 0; i < count; i++) {
		double s = time_sgemm(n, threads[i], a, b, c);
		printf("threads=%d n=%d runs=%d median_ms=%.2f gflops=%.2f\n", threads[i], n, RUNS, s * 1e3,
		       flop / s * 1e-9);
	}
	/* print one element so the compiler and the library cannot treat the result as unused */
	fprintf(stderr, "check c[0]=%g\n", (double)c[0]);
	free(given);
	free(a); free(b); free(c);
	return 0;
}
