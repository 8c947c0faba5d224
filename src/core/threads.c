/* Threads: OpenMP in our kernels; OpenBLAS runs single-threaded inside them so the two never
 * oversubscribe the cores (large GEMMs are split across threads by sn_gemm). */
#include <cblas.h>
#include <omp.h>
#include "slimnn.h"

static int n_threads = 0;

/* OpenBLAS's pthreads build starts its worker threads when it loads, and an idle worker spins on
 * sched_yield for a while: right after start-up it took the second core from our OpenMP thread
 * (a 0.3 ms conv ran at 4-8 ms in the first passes of a process). BLAS runs single-threaded
 * here, so that pool is shut down. Weak: other BLAS builds have no such pool. */
extern void blas_thread_shutdown_(void) __attribute__((weak));

void sn_set_threads(int n)
{
	if (n <= 0) n = omp_get_num_procs();
	n_threads = n;
	omp_set_num_threads(n);
	openblas_set_num_threads(1);
	static int pool_down;
	if (!pool_down && blas_thread_shutdown_) blas_thread_shutdown_();
	pool_down = 1;
}

int sn_get_threads(void)
{
	if (!n_threads) sn_set_threads(0);
	return n_threads;
}
