/* Threads: OpenMP in our kernels; OpenBLAS runs single-threaded inside them so the two never
 * oversubscribe the cores (large GEMMs are split across threads by sn_gemm). */
#include <cblas.h>
#include <omp.h>
#include <pthread.h>
#include "kernels/cpu.h"

/* Read by every plan's kernels, on whatever threads the plans run: atomic, and the default set
 * once (two plans starting together on fresh threads must not both shut the BLAS pool down). */
static int n_threads = 0;

/* OpenBLAS's pthreads build starts its worker threads when it loads, and an idle worker spins on
 * sched_yield for a while: right after start-up it took the second core from our OpenMP thread
 * (a 0.3 ms conv ran at 4-8 ms in the first passes of a process). BLAS runs single-threaded
 * here, so that pool is shut down. Weak: other BLAS builds have no such pool. */
extern void blas_thread_shutdown_(void) __attribute__((weak));

void sn_set_threads(int n)
{
	if (n <= 0) n = omp_get_num_procs();
	omp_set_num_threads(n);
	openblas_set_num_threads(1);
	static int pool_down;
	if (!pool_down && blas_thread_shutdown_) blas_thread_shutdown_();
	pool_down = 1;
	__atomic_store_n(&n_threads, n, __ATOMIC_RELEASE);   /* last: BLAS is set up when it is seen */
}

static void default_threads(void)
{
	if (!__atomic_load_n(&n_threads, __ATOMIC_ACQUIRE)) sn_set_threads(0);
}

int sn_get_threads(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	if (!__atomic_load_n(&n_threads, __ATOMIC_ACQUIRE)) pthread_once(&once, default_threads);
	return __atomic_load_n(&n_threads, __ATOMIC_ACQUIRE);
}
