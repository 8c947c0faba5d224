/* The linear algebra of the closed forms, through LAPACKE (OpenBLAS ships LAPACK). */
#include <lapacke.h>
#include "lighten/lighten.h"

int lt_svd(double *a, int m, int n, double *s, double *u, double *vt)
{
	const int k = SN_MIN(m, n);
	double *superb = malloc(sizeof(double) * (k > 1 ? k : 2));
	if (!superb) return sn_seterr(SN_ENOMEM, "out of memory");
	lapack_int info = LAPACKE_dgesvd(LAPACK_ROW_MAJOR, 'S', 'S', m, n, a, n, s, u, k, vt, n, superb);
	free(superb);
	if (info != 0)
		return sn_seterr(SN_EINVAL, "the SVD of a %dx%d weight matrix failed (LAPACK info %d); are the weights finite?", m, n,
		                 (int)info);
	return SN_OK;
}

