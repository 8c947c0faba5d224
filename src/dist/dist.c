/* Data parallelism with MPI (make MPI=1): each process trains on its share of every batch and
 * the gradients are summed with one MPI_Allreduce per step (slimnn keeps them in one flat
 * vector). Without SN_MPI this file reduces to a single process of rank 0. */
#include <stdio.h>
#include <string.h>
#include "core/error.h"
#include "dist/dist.h"
#ifdef SN_MPI
#include <mpi.h>
#endif

static int rank_ = 0, size_ = 1, agreed_;

int sn_dist_init(int *argc, char ***argv)
{
#ifdef SN_MPI
	int up = 0;
	MPI_Initialized(&up);
	if (!up && MPI_Init(argc, argv) != MPI_SUCCESS)
		return sn_seterr(SN_EINVAL, "MPI_Init failed: run under mpirun, or use a build without MPI");
	MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
	MPI_Comm_size(MPI_COMM_WORLD, &size_);
#else
	(void)argc; (void)argv;
#endif
	return SN_OK;
}

void sn_dist_finalize(void)
{
#ifdef SN_MPI
	int up = 0, down = 0;
	MPI_Initialized(&up);
	MPI_Finalized(&down);
	if (up && !down) MPI_Finalize();
#endif
}

void sn_dist_abort(int status)
{
#ifdef SN_MPI
	int up = 0;
	MPI_Initialized(&up);
	if (up && size_ > 1) MPI_Abort(MPI_COMM_WORLD, status ? status : 1);
#else
	(void)status;
#endif
}

int sn_dist_rank(void) { return rank_; }
int sn_dist_size(void) { return size_; }
int sn_dist_built(void)
{
#ifdef SN_MPI
	return 1;
#else
	return 0;
#endif
}

#ifdef SN_MPI
/* MPI counts are ints: long vectors go in pieces. */
static void reduce(void *v, size_t n, size_t elem, MPI_Datatype t, MPI_Op op)
{
	for (size_t off = 0; off < n;) {
		size_t k = n - off < (size_t)1 << 30 ? n - off : (size_t)1 << 30;
		MPI_Allreduce(MPI_IN_PLACE, (char *)v + off * elem, (int)k, t, op, MPI_COMM_WORLD);
		off += k;
	}
}
static void sum(void *v, size_t n, size_t elem, MPI_Datatype t) { reduce(v, n, elem, t, MPI_SUM); }
#endif

void sn_dist_max_f32(float *v, size_t n)
{
#ifdef SN_MPI
	if (size_ > 1) reduce(v, n, sizeof *v, MPI_FLOAT, MPI_MAX);
#else
	(void)v; (void)n;
#endif
}

void sn_dist_sum_f32(float *v, size_t n)
{
#ifdef SN_MPI
	if (size_ > 1) sum(v, n, sizeof *v, MPI_FLOAT);
#else
	(void)v; (void)n;
#endif
}

void sn_dist_sum_f64(double *v, size_t n)
{
#ifdef SN_MPI
	if (size_ > 1) sum(v, n, sizeof *v, MPI_DOUBLE);
#else
	(void)v; (void)n;
#endif
}

void sn_dist_sum_i64(long long *v, size_t n)
{
#ifdef SN_MPI
	if (size_ > 1) sum(v, n, sizeof *v, MPI_LONG_LONG);
#else
	(void)v; (void)n;
#endif
}

int sn_dist_agree(int status)
{
#ifdef SN_MPI
	if (size_ <= 1) return status;
	int mine = status ? rank_ : size_, first = size_;
	MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
	if (first == size_) return SN_OK;
	agreed_ = 1;
	char msg[1024];
	int st = status;
	if (rank_ == first) snprintf(msg, sizeof msg, "%s", sn_errmsg());
	MPI_Bcast(&st, 1, MPI_INT, first, MPI_COMM_WORLD);
	MPI_Bcast(msg, (int)sizeof msg, MPI_CHAR, first, MPI_COMM_WORLD);
	msg[sizeof msg - 1] = 0;
	/* a rank's message may already name its rank (an agreement inside another) */
	return strncmp(msg, "rank ", 5) ? sn_seterr(st, "rank %d: %s", first, msg) : sn_seterr(st, "%s", msg);
#else
	return status;
#endif
}

int sn_dist_error_agreed(void) { return agreed_; }

void sn_dist_share(long n, long *lo, long *hi)
{
	*lo = n * rank_ / size_;
	*hi = n * (rank_ + 1) / size_;
}
