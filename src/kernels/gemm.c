/* sgemm through OpenBLAS, split across OpenMP threads along the larger of M and N when called
 * from serial code. BLAS is kept single-threaded (see core/threads.c), so nested calls from
 * parallel regions just run on the calling thread. */
#include <cblas.h>
#include <omp.h>
#include "core/internal.h"
#include "kernels/kernels.h"

void sn_gemm_serial(int tA, int tB, int M, int N, int K, float alpha, const float *A, int lda,
                  const float *B, int ldb, float beta, float *C, int ldc)
{
	cblas_sgemm(CblasRowMajor, tA ? CblasTrans : CblasNoTrans, tB ? CblasTrans : CblasNoTrans,
	            M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void sn_gemm(int tA, int tB, int M, int N, int K, float alpha, const float *A, int lda,
             const float *B, int ldb, float beta, float *C, int ldc)
{
	int T = sn_get_threads();
	if (M <= 0 || N <= 0) return;
	if (T == 1 || omp_in_parallel() || (double)M * N * K < 262144.0) {
		sn_gemm_serial(tA, tB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
		return;
	}
	int split_m = M >= N;
	int len = split_m ? M : N;
	/* chunks a multiple of 16 keep the BLAS micro-kernels on full tiles */
	int chunk = ((len + T - 1) / T + 15) & ~15;
	#pragma omp parallel for num_threads(T) schedule(static)
	for (int s = 0; s < len; s += chunk) {
		int n = SN_MIN(chunk, len - s);
		if (split_m)
			sn_gemm_serial(tA, tB, n, N, K, alpha, tA ? A + s : A + (size_t)s * lda, lda, B, ldb, beta,
			      C + (size_t)s * ldc, ldc);
		else
			sn_gemm_serial(tA, tB, M, n, K, alpha, A, lda, tB ? B + (size_t)s * ldb : B + s, ldb, beta,
			      C + s, ldc);
	}
}
