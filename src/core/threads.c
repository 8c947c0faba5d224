/* Threads: OpenMP in our kernels; OpenBLAS runs single-threaded inside them so the two never
 * oversubscribe the cores (large GEMMs are split across threads by sn_gemm). */
#include <cblas.h>
#include <omp.h>
#include "slimnn.h"

static int n_threads = 0;

void sn_set_threads(int n)
{
	if (n <= 0) n = omp_get_num_procs();
	n_threads = n;
	omp_set_num_threads(n);
	openblas_set_num_threads(1);
}

int sn_get_threads(void)
{
	if (!n_threads) sn_set_threads(0);
	return n_threads;
}
