/* Small kernels (VGG, Inception-v3): Conv2d kxk with odd k >= 5 -> a stack of (k-1)/2 3x3 convs
 * with the same receptive field (Cin -> Cm -> ... -> Cm -> Cout, Cm = min(Cin, Cout)).
 *
 * With cross-correlation, conv_A(conv_B(x)) is the conv with K[o,i] = sum_m A[o,m] * B[m,i]
 * (a full 2-D convolution of the kernels: a 3x3 and a jxj make a (j+2)x(j+2)). Fitting A and B
 * is bilinear; with one fixed the other is ordinary least squares (LAPACKE dgelsd), so the fit
 * alternates (ALS). A 7x7 is peeled from the output side: K ~ A3 * B5, then B5 ~ A3' * B3.
 * The stride goes to the last conv, the dilation to all, the padding is split between them;
 * near the borders the stack sees zero-padded intermediate maps, so it is exact only inside. */
#include <lapacke.h>
#include <math.h>
#include <stdio.h>
#include "lighten/lighten.h"

enum { ALS_ITERS = 60 };

static int in_c(const lt_ctx *c, int i) { return c->g->node[c->g->node[i].in[0]].out.c; }

/* pads of stack layer j of L: the side's total split, the earlier layers taking the rest */
static int split(int total, int j, int L) { return total / L + (j < total % L); }

int lt_small_plan(lt_ctx *c, int i, char *why, size_t len)
{
	const sn_graph *g = c->g;
	const sn_node *n = &g->node[i];
	if (n->op != SN_OP_CONV) return LT_NOT_FOR;
	const sn_conv_attr *a = &n->a.conv;
	if (a->groups != 1 || a->kh != a->kw || a->kh < 5 || a->kh % 2 == 0) {
		snprintf(why, len, "small-kernels needs a square odd kernel of 5x5 or more and groups=1; this conv is %dx%d with "
		         "groups=%d", a->kh, a->kw, a->groups);
		return LT_NOT_FOR;
	}
	if (a->mode != SN_PAD_ZEROS) {
		snprintf(why, len, "small-kernels needs zero padding (the stack pads its inner maps with zeros)");
		return LT_SKIP;
	}
	const int L = (a->kh - 1) / 2, cin = in_c(c, i), cout = a->out_c, cm = SN_MIN(cin, cout);
	if (4 * cm < cout) {   /* a first layer reading 1 or 3 image channels */
		snprintf(why, len, "reads %d channel%s: the stack would pass all %d outputs through %d inner map%s", cin,
		         cin == 1 ? "" : "s", cout, cm, cm == 1 ? "" : "s");
		return LT_SKIP;
	}
	sn_shape in = g->node[n->in[0]].out;
	lt_plan *p = &c->plan[i];
	p->rank = cm;
	p->new_params = p->new_macs = 0;
	int h = in.h, w = in.w;
	for (int j = 0; j < L; j++) {
		const int last = j == L - 1, ci = j ? cm : cin, co = last ? cout : cm;
		h = (h + split(a->pt, j, L) + split(a->pb, j, L) - 2 * a->dh - 1) / (last ? a->sh : 1) + 1;
		w = (w + split(a->pl, j, L) + split(a->pr, j, L) - 2 * a->dw - 1) / (last ? a->sw : 1) + 1;
		const size_t np = (size_t)co * ci * 9 + (last && a->bias ? cout : 0);
		p->new_params += np;
		p->new_macs += np * (uint64_t)h * w;
	}
	return 0;
}

int lt_small_emit(lt_ctx *c, sn_rewrite *rw, int i)
{
	const sn_node *n = &c->g->node[i];
	lt_plan *p = &c->plan[i];
	const sn_conv_attr *a = &n->a.conv;
	const int L = (a->kh - 1) / 2;
	int k = sn_rewrite_input(rw, n->in[0]);
	for (int j = 0; j < L; j++) {
		const int last = j == L - 1;
		sn_node s = *n;
		char suffix[24];
		snprintf(suffix, sizeof suffix, "_3x3_%d", j + 1);
		int rc = lt_name(s.name, n->name, suffix);
		if (rc) return rc;
		s.line = 0;
		s.a.conv = (sn_conv_attr){.out_c = last ? a->out_c : p->rank, .kh = 3, .kw = 3, .sh = last ? a->sh : 1,
		                          .sw = last ? a->sw : 1, .dh = a->dh, .dw = a->dw, .groups = 1, .bias = last && a->bias,
		                          .pt = split(a->pt, j, L), .pb = split(a->pb, j, L), .pl = split(a->pl, j, L),
		                          .pr = split(a->pr, j, L), .mode = SN_PAD_ZEROS,
		                          .act = last ? a->act : SN_FUSE_NONE};  /* a fused activation acts once, at the end */
		s.in[0] = k;
		if ((k = sn_rewrite_emit(rw, &s)) < 0) return k;
		p->nodes[p->n_new++] = k;
	}
	sn_rewrite_map(rw, i, k);
	return k;
}

/* K[o,i] = sum_m A[o,m] * B[m,i]: A co x cm x ja x ja, B cm x ci x jb x jb, K co x ci x k x k
 * with k = ja + jb - 1 */
static void compose(const double *A, int ja, const double *B, int jb, int co, int cm, int ci, double *K)
{
	const int k = ja + jb - 1, aa = ja * ja;
	memset(K, 0, sizeof(double) * co * ci * k * k);
	for (int o = 0; o < co; o++)
		for (int m = 0; m < cm; m++)
			for (int q = 0; q < aa; q++) {
				const double av = A[((size_t)o * cm + m) * aa + q];
				if (av == 0) continue;
				for (int i = 0; i < ci; i++)
					for (int u = 0; u < jb; u++)
						for (int v = 0; v < jb; v++)
							K[(((size_t)o * ci + i) * k + q / ja + u) * k + q % ja + v] += av * B[(((size_t)m * ci + i) * jb + u) * jb + v];
			}
}

/* Least squares X z = R for every column of R (nrhs of them); X rows x cols, R rows x nrhs
 * (rows >= cols here or not: dgelsd takes both and rank deficiency). Solution in R's first
 * cols rows. */
static int lstsq(double *X, int rows, int cols, double *R, int nrhs)
{
	double *s = malloc(sizeof(double) * SN_MIN(rows, cols));
	lapack_int rank;
	if (!s) return sn_seterr(SN_ENOMEM, "out of memory");
	lapack_int info = LAPACKE_dgelsd(LAPACK_ROW_MAJOR, rows, cols, nrhs, X, cols, R, nrhs, s, -1.0, &rank);
	free(s);
	return info ? sn_seterr(SN_EINVAL, "a least-squares fit failed (LAPACK info %d); are the weights finite?", (int)info) : SN_OK;
}

/* A given B: unknowns A[o] (cm*9) per output o; rows (i, y, x) */
static int solve_a(const double *K, const double *B, int co, int cm, int ci, int j, double *A)
{
	const int k = j + 2, rows = SN_MAX(ci * k * k, cm * 9), cols = cm * 9;
	double *X = calloc((size_t)rows * cols, sizeof *X), *R = calloc((size_t)rows * co, sizeof *R);
	if (!X || !R) { free(X); free(R); return sn_seterr(SN_ENOMEM, "out of memory"); }
	for (int i = 0; i < ci; i++)
		for (int y = 0; y < k; y++)
			for (int x = 0; x < k; x++) {
				const int r = (i * k + y) * k + x;
				for (int m = 0; m < cm; m++)
					for (int q = 0; q < 9; q++) {
						const int u = y - q / 3, v = x - q % 3;
						if (u >= 0 && u < j && v >= 0 && v < j) X[(size_t)r * cols + m * 9 + q] = B[(((size_t)m * ci + i) * j + u) * j + v];
					}
				for (int o = 0; o < co; o++) R[(size_t)r * co + o] = K[(((size_t)o * ci + i) * k + y) * k + x];
			}
	int rc = lstsq(X, ci * k * k, cols, R, co);
	for (int o = 0; !rc && o < co; o++)
		for (int t = 0; t < cols; t++) A[(size_t)o * cols + t] = R[(size_t)t * co + o];
	free(X); free(R);
	return rc;
}

/* B given A: unknowns B[:, i] (cm*j*j) per input i; rows (o, y, x) */
static int solve_b(const double *K, const double *A, int co, int cm, int ci, int j, double *B)
{
	const int k = j + 2, jj = j * j, cols = cm * jj, rows = SN_MAX(co * k * k, cols);
	double *X = calloc((size_t)rows * cols, sizeof *X), *R = calloc((size_t)rows * ci, sizeof *R);
	if (!X || !R) { free(X); free(R); return sn_seterr(SN_ENOMEM, "out of memory"); }
	for (int o = 0; o < co; o++)
		for (int y = 0; y < k; y++)
			for (int x = 0; x < k; x++) {
				const int r = (o * k + y) * k + x;
				for (int m = 0; m < cm; m++)
					for (int u = 0; u < j; u++)
						for (int v = 0; v < j; v++) {
							const int a = y - u, b = x - v;
							if (a >= 0 && a < 3 && b >= 0 && b < 3) X[(size_t)r * cols + m * jj + u * j + v] = A[((size_t)o * cm + m) * 9 + a * 3 + b];
						}
				for (int i = 0; i < ci; i++) R[(size_t)r * ci + i] = K[(((size_t)o * ci + i) * k + y) * k + x];
			}
	int rc = lstsq(X, co * k * k, cols, R, ci);
	for (int i = 0; !rc && i < ci; i++)
		for (int t = 0; t < cols; t++) B[((size_t)(t / jj) * ci + i) * jj + t % jj] = R[(size_t)t * ci + i];
	free(X); free(R);
	return rc;
}

static double norm2(const double *v, size_t n)
{
	double s = 0;
	for (size_t i = 0; i < n; i++) s += v[i] * v[i];
	return s;
}

/* Fits K (co x ci x k x k) ~ A (co x cm x 3 x 3) * B (cm x ci x (k-2)^2) by ALS from a seeded
 * start, with A and B rescaled to equal norms each round (the product is unchanged). */
static int als(const double *K, int co, int cm, int ci, int k, double *A, double *B, sn_rng *rng)
{
	const int j = k - 2;
	const size_t na = (size_t)co * cm * 9, nb = (size_t)cm * ci * j * j;
	for (size_t t = 0; t < nb; t++) B[t] = sn_rng_uniform(rng) - 0.5;
	int rc = SN_OK;
	for (int it = 0; it < ALS_ITERS && !rc; it++) {
		rc = solve_a(K, B, co, cm, ci, j, A);
		if (!rc) rc = solve_b(K, A, co, cm, ci, j, B);
		double ra = sqrt(norm2(A, na) / na), rb = sqrt(norm2(B, nb) / nb);
		if (!rc && ra > 0 && rb > 0) {
			double f = sqrt(rb / ra);
			for (size_t t = 0; t < na; t++) A[t] *= f;
			for (size_t t = 0; t < nb; t++) B[t] /= f;
		}
	}
	return rc;
}

/* channels of factor l (0: the first conv) of an L-stack: out x in */
static void dims(int l, int L, int co, int cm, int ci, int *out, int *in)
{
	*out = l == L - 1 ? co : cm;
	*in = l == 0 ? ci : cm;
}

/* The composition of factors hi..lo (hi >= lo) into R (out of hi x in of lo x k x k);
 * an empty range (hi < lo) is the identity on n channels. Returns k. */
static int chain(double *const *F, int hi, int lo, int L, int co, int cm, int ci, int n, double *R, double *tmp)
{
	if (hi < lo) {
		memset(R, 0, sizeof(double) * n * n);
		for (int c = 0; c < n; c++) R[c * n + c] = 1;
		return 1;
	}
	int o, in, k = 3;
	dims(hi, L, co, cm, ci, &o, &in);
	memcpy(R, F[hi], sizeof(double) * o * in * 9);
	for (int l = hi - 1; l >= lo; l--) {
		int lo_out, lo_in;
		dims(l, L, co, cm, ci, &lo_out, &lo_in);
		compose(R, k, F[l], 3, o, lo_out, lo_in, tmp);
		k += 2;
		memcpy(R, tmp, sizeof(double) * o * lo_in * k * k);
	}
	return k;
}

/* room for one kernel chain: a composition (co x ci x k x k) or an identity (co^2 or ci^2) */
static size_t work_unit(int co, int ci, int k)
{
	return SN_MAX((size_t)co * ci * k * k, SN_MAX((size_t)co * co, (size_t)ci * ci));
}

/* Least squares for factor l with the others fixed: K = Left * F_l * Right, one column of the
 * design matrix per entry of F_l (the composition with a unit kernel there). */
static int refine_factor(const double *K, double **F, int l, int L, int co, int cm, int ci, int k, double *work)
{
	int fo, fi;
	dims(l, L, co, cm, ci, &fo, &fi);
	const size_t rows = (size_t)co * ci * k * k, cols = (size_t)fo * fi * 9, big = work_unit(co, ci, k);
	double *Lc = work, *Rc = Lc + big, *E = Rc + big, *T = E + big, *U = T + big, *X = U + big;
	double *R = X + rows * cols, *tmp = R + SN_MAX(rows, cols);
	const int kl = chain(F, L - 1, l + 1, L, co, cm, ci, co, Lc, tmp);
	const int kr = chain(F, l - 1, 0, L, co, cm, ci, ci, Rc, tmp);
	for (size_t c = 0; c < cols; c++) {
		memset(E, 0, sizeof(double) * cols);
		E[c] = 1;
		compose(E, 3, Rc, kr, fo, fi, ci, T);
		compose(Lc, kl, T, kr + 2, co, fo, ci, U);
		for (size_t r = 0; r < rows; r++) X[r * cols + c] = U[r];
	}
	memcpy(R, K, sizeof(double) * rows);
	int rc = lstsq(X, (int)rows, (int)cols, R, 1);
	if (!rc) memcpy(F[l], R, sizeof(double) * cols);
	return rc;
}

/* Joint refinement of a stack of 3 or more (the peeling fits one factor at a time), when the
 * design matrices are small enough to form. ALS finds a local optimum only: a 7x7 made of
 * three 3x3s is fitted to about 15 %, where two factors (5x5) are fitted exactly. */
static int refine(const double *K, double **F, int L, int co, int cm, int ci, int k)
{
	const size_t rows = (size_t)co * ci * k * k, cols = (size_t)SN_MAX(co, ci) * cm * 9;
	if (rows * cols > ((size_t)1 << 22)) return SN_OK;
	double *work = malloc(sizeof(double) * (5 * work_unit(co, ci, k) + rows * cols + 2 * SN_MAX(rows, cols)));
	if (!work) return sn_seterr(SN_ENOMEM, "out of memory");
	int rc = SN_OK;
	for (int it = 0; it < ALS_ITERS && !rc; it++)
		for (int l = 0; l < L && !rc; l++) rc = refine_factor(K, F, l, L, co, cm, ci, k, work);
	free(work);
	return rc;
}

int lt_small_fill(lt_ctx *c, sn_graph *h, int i, double *err)
{
	const sn_node *n = &c->g->node[i];
	const lt_plan *p = &c->plan[i];
	const int ci = in_c(c, i), co = n->a.conv.out_c, k0 = n->a.conv.kh, L = (k0 - 1) / 2, cm = p->rank;
	const sn_tensor *W = lt_old_tensor(c, i, SN_T_WEIGHT);
	double *F[16] = {0}, *K = malloc(sizeof(double) * W->n), *B = malloc(sizeof(double) * W->n);
	double *tmp = malloc(sizeof(double) * W->n);
	int rc = K && B && tmp ? SN_OK : SN_ENOMEM;
	for (int l = 0; l < L && !rc; l++)
		if (!(F[l] = malloc(sizeof(double) * SN_MAX(co, cm) * SN_MAX(ci, cm) * 9))) rc = SN_ENOMEM;
	if (rc) {
		free(K); free(B); free(tmp);
		for (int l = 0; l < L; l++) free(F[l]);
		return sn_seterr(SN_ENOMEM, "out of memory");
	}
	for (size_t t = 0; t < W->n; t++) K[t] = W->data[t];
	/* peel from the output side: K ~ F[L-1] * B, then B ~ F[L-2] * B', ... */
	sn_rng rng;
	sn_rng_seed(&rng, 0x5ca1ab1e);
	memcpy(B, K, sizeof(double) * W->n);
	for (int l = L - 1, k = k0, o = co; l > 0 && !rc; l--, k -= 2, o = cm) {
		rc = als(B, o, cm, ci, k, F[l], tmp, &rng);
		memcpy(B, tmp, sizeof(double) * cm * ci * (k - 2) * (k - 2));
	}
	if (!rc) memcpy(F[0], B, sizeof(double) * cm * ci * 9);
	if (!rc && L > 2) rc = refine(K, F, L, co, cm, ci, k0);
	for (int l = 0; l < L && !rc; l++) {   /* store, then read the floats back for the error */
		sn_tensor *t = lt_tensor(h, p->nodes[l], SN_T_WEIGHT);
		for (size_t q = 0; q < t->n; q++) F[l][q] = t->data[q] = (float)F[l][q];
	}
	if (!rc) {
		const sn_tensor *bias = lt_old_tensor(c, i, SN_T_BIAS);
		if (bias) memcpy(lt_tensor(h, p->nodes[L - 1], SN_T_BIAS)->data, bias->data, bias->n * sizeof(float));
		chain(F, L - 1, 0, L, co, cm, ci, co, B, tmp);
		double num = 0, den = 0;
		for (size_t t = 0; t < W->n; t++) {
			double d = W->data[t] - B[t];
			num += d * d;
			den += (double)W->data[t] * W->data[t];
		}
		*err = den > 0 ? sqrt(num / den) : 0;
	}
	free(K); free(B); free(tmp);
	for (int l = 0; l < L; l++) free(F[l]);
	return rc;
}
