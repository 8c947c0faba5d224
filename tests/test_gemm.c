/* sn_gemm against a naive product in double precision: the sgemv path (a single row or column
 * of C) and the sgemm path, every transpose, leading dimensions wider than the rows, beta 0 over
 * a C full of NaN (never read) and beta 1 (accumulated), serial and split over threads. */
#include <math.h>
#include <stdlib.h>
#include "test.h"
#include "slimnn.h"
#include "core/internal.h"

static double gemm_case(int tA, int tB, int M, int N, int K, float beta, sn_rng *r)
{
	const int lda = (tA ? M : K) + 3, ldb = (tB ? K : N) + 2, ldc = N + 1;
	const size_t na = (size_t)(tA ? K : M) * lda, nb = (size_t)(tB ? N : K) * ldb, nc = (size_t)M * ldc;
	float *A = malloc(na * sizeof *A), *B = malloc(nb * sizeof *B), *C = malloc(nc * sizeof *C);
	double *want = malloc(nc * sizeof *want), worst = 0, scale = 1;
	for (size_t i = 0; i < na; i++) A[i] = 2 * sn_rng_uniform(r) - 1;
	for (size_t i = 0; i < nb; i++) B[i] = 2 * sn_rng_uniform(r) - 1;
	for (size_t i = 0; i < nc; i++) C[i] = beta == 0.0f ? NAN : 2 * sn_rng_uniform(r) - 1;
	for (int i = 0; i < M; i++)
		for (int j = 0; j < N; j++) {
			double s = 0;
			for (int k = 0; k < K; k++)
				s += (double)(tA ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k]) *
				     (tB ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j]);
			want[(size_t)i * ldc + j] = 0.5 * s + (beta == 0.0f ? 0 : beta * C[(size_t)i * ldc + j]);
		}
	sn_gemm(tA, tB, M, N, K, 0.5f, A, lda, B, ldb, beta, C, ldc);
	for (int i = 0; i < M; i++)
		for (int j = 0; j < N; j++) {
			double d = fabs(C[(size_t)i * ldc + j] - want[(size_t)i * ldc + j]);
			worst = isnan(d) ? INFINITY : fmax(worst, d);
			scale = fmax(scale, fabs(want[(size_t)i * ldc + j]));
		}
	free(A); free(B); free(C); free(want);
	return worst / scale;
}

TEST(gemm_matches_naive_product)
{
	static const int shapes[][3] = {{1, 37, 19}, {1, 1000, 300}, {41, 1, 23}, {700, 1, 40}, {1, 1, 9},
	                                {5, 7, 3}, {64, 300, 50}, {300, 64, 50}};
	sn_rng r;
	sn_rng_seed(&r, 29);
	const int threads = sn_get_threads();
	for (int t = 1; t <= 2; t++) {
		sn_set_threads(t);
		for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
			for (int tr = 0; tr < 4; tr++)
				for (int b = 0; b < 2; b++) {
					double e = gemm_case(tr & 1, tr >> 1, shapes[s][0], shapes[s][1], shapes[s][2], (float)b, &r);
					CHECKF(e < 1e-5, "%d threads, %dx%dx%d tA %d tB %d beta %d: error %.3g", t, shapes[s][0],
					       shapes[s][1], shapes[s][2], tr & 1, tr >> 1, b, e);
				}
	}
	sn_set_threads(threads);
}
