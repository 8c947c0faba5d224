/* Data parallelism across processes (src/dist/dist.c): what the trainer, the evaluator and the
 * file writer need of MPI. Built without MPI (the default), there is one process of rank 0 and
 * every call below is a no-op, so the callers need no #ifdef. */
#ifndef SN_DIST_H
#define SN_DIST_H
#include <stddef.h>

/* Element-wise sums over every process, in place; the result is the same on every process. */
void sn_dist_sum_f32(float *v, size_t n);
void sn_dist_sum_f64(double *v, size_t n);
void sn_dist_sum_i64(long long *v, size_t n);
/* Element-wise maxima over every process, in place. */
void sn_dist_max_f32(float *v, size_t n);
/* Every process passes its status; all get SN_OK if all were OK, otherwise the status of the
 * lowest failing rank, with its message (prefixed "rank K: ") set on every process. Collective:
 * each process must call it at the same point. */
int sn_dist_agree(int status);
/* 1 once sn_dist_agree has returned an error: every process knows it and stops by itself;
 * an error a process met alone needs sn_dist_abort, or the others wait for it for ever. */
int sn_dist_error_agreed(void);
/* The rows [*lo, *hi) of n that this process takes when n are split as evenly as possible. */
void sn_dist_share(long n, long *lo, long *hi);
#endif
