/* sgemm through OpenBLAS, split across OpenMP threads along the larger of M and N when called
 * from serial code. BLAS is kept single-threaded (see kernels/threads.c), so nested calls from
 * parallel regions just run on the calling thread. */
#include <cblas.h>
#include <omp.h>
#include "kernels/kernels.h"

/* y (n floats, incy apart) = alpha * op(A) x + beta * y through sgemv, op(A) n x k. y is cleared
 * first where beta is 0, so that whatever it held (NaN included) never reaches the result
 * whatever a BLAS does with beta = 0 (OpenBLAS 0.3.21 ignores y then). */
static void gemv(int trans, int n, int k, float alpha, const float *A, int lda, const float *x, int incx, float beta,
                 float *y, int incy)
{
	if (beta == 0.0f)
		for (int i = 0; i < n; i++) y[(size_t)i * incy] = 0.0f;
	cblas_sgemv(CblasRowMajor, trans ? CblasTrans : CblasNoTrans, trans ? k : n, trans ? n : k, alpha, A, lda, x, incx,
	            beta, y, incy);
}

/* A single row or column of C is a matrix-vector product: sgemv streams the matrix once, where
 * sgemm would first copy it into packed panels (batch-1 Linear layers). */
void sn_gemm_serial(int tA, int tB, int M, int N, int K, float alpha, const float *A, int lda,
                  const float *B, int ldb, float beta, float *C, int ldc)
{
	if (M == 1) /* C^T = op(B)^T a: a's element k at A[k] or, transposed, A[k * lda] */
		gemv(!tB, N, K, alpha, B, ldb, A, tA ? lda : 1, beta, C, 1);
	else if (N == 1) /* C = op(A) b: b's element k at B[k * ldb] or, transposed, B[k] */
		gemv(tA, M, K, alpha, A, lda, B, tB ? 1 : ldb, beta, C, ldc);
	else
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
