/* model_diff A B [TOL]: compares two models' parameters and buffers tensor by tensor and prints
 * the largest difference relative to the tensor's largest magnitude; exits 0 when the
 * architectures match and every difference is within TOL (default 0: bit-identical), 1 otherwise.
 * For tests/mpi.sh, where several processes must train what one process trains. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "slimnn.h"

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: model_diff A.slim B.slim [TOL]\n");
		return 2;
	}
	const double tol = argc > 3 ? atof(argv[3]) : 0;
	sn_graph *a = sn_model_load(argv[1], NULL, NULL), *b = a ? sn_model_load(argv[2], NULL, NULL) : NULL;
	if (!a || !b) {
		fprintf(stderr, "model_diff: %s\n", sn_errmsg());
		return 1;
	}
	int rc = a->n_tensor == b->n_tensor ? 0 : 1;
	double worst = 0;
	const char *where = "";
	for (int t = 0; !rc && t < a->n_tensor; t++) {
		const sn_tensor *x = &a->tensor[t], *y = &b->tensor[t];
		if (x->n != y->n || strcmp(x->name, y->name)) { rc = 1; break; }
		double big = 0, d = 0;
		for (size_t i = 0; i < x->n; i++) {
			big = fmax(big, fabs(x->data[i]));
			d = fmax(d, fabs((double)x->data[i] - y->data[i]));
		}
		const double rel = big > 0 ? d / big : d;
		if (rel > worst || isnan(rel)) { worst = isnan(rel) ? INFINITY : rel; where = x->name; }
	}
	if (rc) printf("the models differ in their tensors\n");
	else printf("largest relative difference %.3g (%s)\n", worst, where);
	sn_graph_free(a);
	sn_graph_free(b);
	return rc || worst > tol;
}
