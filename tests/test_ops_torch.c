/* Every operator, forward and backward, against PyTorch: the fixtures in tests/fixtures/ops/
 * are written by tools/gen_op_fixtures.py (one folder per case: model.arch, mode, x, y, dy, dx,
 * each tensor's initial values, expected gradients and running statistics). Each case runs
 * with 1, 2 and 3 threads, since the conv kernels take different paths by batch and threads.
 * SN_VERBOSE=1 prints each case's worst relative error. */
#include <dirent.h>
#include <stdlib.h>
#include "test.h"
#include "slimnn.h"

#define TORCH_CASES 108     /* the number of cases tools/gen_op_fixtures.py writes */
#define TORCH_TOL 1e-4      /* relative to max(1, max |expected|) */

typedef struct { int ndim, dims[8]; size_t n; float *data; } array;

static char *path_of(char *buf, size_t len, const char *dir, const char *file)
{
	snprintf(buf, len, "%s/%s", dir, file);
	return buf;
}

static int load(const char *dir, const char *file, array *a)
{
	char p[1024];
	memset(a, 0, sizeof *a);
	if (sn_npy_read(path_of(p, sizeof p, dir, file), &a->ndim, a->dims, &a->data)) return -1;
	a->n = 1;
	for (int i = 0; i < a->ndim; i++) a->n *= (size_t)a->dims[i];
	return 0;
}

typedef struct { const char *name; int threads; double worst; int failed; } ctx;

/* Compares n values against <file>; a missing file or a size mismatch is a failure. */
static void compare(ctx *c, const char *dir, const char *file, const float *got, size_t n)
{
	array e;
	if (load(dir, file, &e)) {
		CHECKF(0, "torch case %s: %s", c->name, sn_errmsg());
		c->failed = 1;
		return;
	}
	if (e.n != n) {
		CHECKF(0, "torch case %s: %s has %zu values, slimnn computed %zu", c->name, file, e.n, n);
		c->failed = 1;
	} else {
		double err = sn_test_maxrel(got, e.data, n);
		if (err > c->worst) c->worst = err;
		if (!(err <= TORCH_TOL)) {
			CHECKF(0, "torch case %s (%d threads): %s differs from PyTorch, max relative error %.3g",
			       c->name, c->threads, file, err);
			c->failed = 1;
		}
	}
	free(e.data);
}

/* Runs one case; returns its worst relative error (or INFINITY if it could not run). */
static double run_case(const char *root, const char *name, int threads)
{
	char dir[768], p[1024], file[160], mode[16] = "";
	ctx c = {name, threads, 0, 0};
	snprintf(dir, sizeof dir, "%s/%s", root, name);
	FILE *f = fopen(path_of(p, sizeof p, dir, "mode"), "r");
	if (f) { if (!fgets(mode, sizeof mode, f)) mode[0] = 0; fclose(f); }
	int train = !strncmp(mode, "train", 5);
	if (!train && strncmp(mode, "eval", 4)) {
		CHECKF(0, "torch case %s: missing or bad 'mode' file (train or eval)", name);
		return INFINITY;
	}
	sn_graph *g = sn_arch_load(path_of(p, sizeof p, dir, "model.arch"));
	if (!g) {
		CHECKF(0, "torch case %s: %s", name, sn_errmsg());
		return INFINITY;
	}
	array x = {0}, dy = {0};
	sn_shape in = sn_graph_input_shape(g), out = sn_graph_output_shape(g);
	if (load(dir, "x.npy", &x) || x.ndim != 4 || x.dims[1] != in.c || x.dims[2] != in.h || x.dims[3] != in.w) {
		CHECKF(0, "torch case %s: x.npy missing or not [N, %d, %d, %d]", name, in.c, in.h, in.w);
		c.failed = 1;
		goto out;
	}
	const int N = x.dims[0];
	for (int i = 0; i < g->n_tensor; i++) {   /* every tensor's initial values */
		sn_tensor *t = &g->tensor[i];
		array a;
		snprintf(file, sizeof file, "%s.npy", t->name);
		int same = !load(dir, file, &a) && a.ndim == t->ndim;
		for (int d = 0; same && d < t->ndim; d++) same = a.dims[d] == t->dims[d];
		if (same) memcpy(t->data, a.data, t->n * sizeof(float));
		else { CHECKF(0, "torch case %s: %s missing or of other dims than the tensor", name, file); c.failed = 1; }
		free(a.data);
	}
	if (c.failed) goto out;
	if (sn_plan_reshape(g->plan, N, train ? SN_PLAN_TRAIN | SN_PLAN_INPUT_GRAD : 0)) {
		CHECKF(0, "torch case %s: %s", name, sn_errmsg());
		c.failed = 1;
		goto out;
	}
	const size_t ny = (size_t)N * sn_shape_numel(out);
	compare(&c, dir, "y.npy", sn_graph_forward(g, x.data, N), ny);
	for (int i = 0; i < g->n_tensor; i++) {   /* running statistics after the forward */
		sn_tensor *t = &g->tensor[i];
		if (t->kind != SN_TENSOR_BUFFER) continue;
		snprintf(file, sizeof file, train ? "%s.after.npy" : "%s.npy", t->name);   /* eval: unchanged */
		compare(&c, dir, file, t->data, t->n);
	}
	if (!train) goto out;
	if (load(dir, "dy.npy", &dy) || dy.n != ny) {
		CHECKF(0, "torch case %s: dy.npy missing or not %zu values", name, ny);
		c.failed = 1;
		goto out;
	}
	sn_graph_zero_grad(g);
	/* twice: parameter gradients accumulate (the second pass must double them), while dx and
	 * every other activation gradient is overwritten */
	for (int pass = 1; pass <= 2; pass++) {
		CHECK(sn_graph_backward(g, dy.data) == SN_OK);
		compare(&c, dir, "dx.npy", sn_plan_grad(g->plan, 0), x.n);
		for (int i = 0; i < g->n_tensor; i++) {
			sn_tensor *t = &g->tensor[i];
			if (t->kind != SN_TENSOR_PARAM) continue;
			float *half = malloc(t->n * sizeof *half);
			for (size_t k = 0; half && k < t->n; k++) half[k] = t->grad[k] / pass;
			snprintf(file, sizeof file, "%s.grad.npy", t->name);
			if (half) compare(&c, dir, file, half, t->n);
			free(half);
		}
	}
out:
	free(x.data);
	free(dy.data);
	sn_graph_free(g);
	return c.failed ? INFINITY : c.worst;
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Case folder names, sorted; returns the count (-1 if the folder cannot be read). */
static int list_cases(char *root, size_t len, char ***names)
{
	snprintf(root, len, "%s/ops", sn_test_fixtures());
	DIR *d = opendir(root);
	*names = NULL;
	if (!d) return -1;
	int n = 0, cap = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.') continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			char **p = realloc(*names, cap * sizeof *p);
			if (!p) break;
			*names = p;
		}
		(*names)[n++] = strdup(e->d_name);
	}
	closedir(d);
	if (n) qsort(*names, n, sizeof **names, by_name);
	return n;
}

static void free_names(char **names, int n)
{
	for (int i = 0; i < n; i++) free(names[i]);
	free(names);
}

/* A missing or half-checked-in fixture folder must fail, not pass vacuously. */
TEST(torch_fixture_count)
{
	char root[512], **names;
	int n = list_cases(root, sizeof root, &names);
	CHECKF(n >= TORCH_CASES, "%s holds %d op cases, expected at least %d (regenerate with "
	       "/usr/bin/python3 tools/gen_op_fixtures.py)", root, n, TORCH_CASES);
	free_names(names, n);
}

TEST(torch_ops)
{
	char root[512], **names;
	int n = list_cases(root, sizeof root, &names);
	REQUIRE(n > 0);
	const int threads[3] = {1, 2, 3};
	double worst = 0;
	const char *worst_case = "";
	for (int i = 0; i < n; i++) {
		double w = 0;
		for (int k = 0; k < 3 && w <= TORCH_TOL; k++) {   /* report a failing case once */
			sn_set_threads(threads[k]);
			double e = run_case(root, names[i], threads[k]);
			if (e > w) w = e;
		}
		if (getenv("SN_VERBOSE")) fprintf(stderr, "  %-28s worst relative error %.3g\n", names[i], w);
		if (w > worst) { worst = w; worst_case = names[i]; }
	}
	if (getenv("SN_VERBOSE")) fprintf(stderr, "  %d cases, worst %.3g (%s)\n", n, worst, worst_case);
	sn_set_threads(2);
	free_names(names, n);
}
