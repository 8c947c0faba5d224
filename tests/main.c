/* Test runner: runs every registered test (or those whose name contains argv[1]). */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>
#include "test.h"
#include "slimnn.h"
#include "data/data.h"

typedef struct { const char *name, *file; sn_test_fn fn; } entry;
static entry tests[512];
static int n_tests;
int sn_test_failed_now;

void sn_test_register(const char *name, const char *file, sn_test_fn fn)
{
	if (n_tests < 512) tests[n_tests++] = (entry){name, file, fn};
}

double sn_test_maxrel(const float *a, const float *b, size_t n)
{
	double scale = 1.0, err = 0.0;
	for (size_t i = 0; i < n; i++) if (fabs(b[i]) > scale) scale = fabs(b[i]);
	for (size_t i = 0; i < n; i++) {
		double d = fabs((double)a[i] - b[i]);
		if (d != d) return INFINITY;
		if (d > err) err = d;
	}
	return err / scale;
}

sn_graph *sn_test_net(const char *arch, unsigned long long seed)
{
	sn_graph *g = sn_arch_parse(arch, "test");
	if (!g) { fprintf(stderr, "  arch: %s\n", sn_errmsg()); return NULL; }
	sn_graph_init_params(g, seed);
	return g;
}

sn_graph *sn_test_zoo(const char *name, unsigned long long seed)
{
	char path[256];
	snprintf(path, sizeof path, "models/%s.arch", name);
	sn_graph *g = sn_arch_load(path);
	if (!g) { fprintf(stderr, "  %s: %s\n", path, sn_errmsg()); return NULL; }
	sn_graph_init_params(g, seed);
	return g;
}

int sn_test_kept_strongest(const sn_tensor *before, const sn_tensor *after, int rows, int cols, int *old_row)
{
	const size_t row_bytes = (size_t)cols * sizeof(float);
	double weakest_kept = INFINITY, strongest_gone = 0;
	int j = 0;
	for (int o = 0; o < rows; o++) {
		const float *r = before->data + (size_t)o * cols;
		double norm = 0;
		for (int k = 0; k < cols; k++) norm += fabsf(r[k]);
		if ((size_t)j * cols < after->n && !memcmp(after->data + (size_t)j * cols, r, row_bytes)) {
			if (old_row) old_row[j] = o;
			weakest_kept = fmin(weakest_kept, norm);
			j++;
		} else strongest_gone = fmax(strongest_gone, norm);
	}
	return strongest_gone <= weakest_kept ? j : -1;
}

void sn_test_random_images(sn_dataset *d, int n, int c, int h, int w, uint64_t seed)
{
	sn_rng r;
	sn_rng_seed(&r, seed);
	*d = (sn_dataset){.n = n, .c = c, .h = h, .w = w, .classes = 4, .norm = {.c = 1, .mean = {0.4f}, .std = {0.3f}}};
	d->images = malloc((size_t)n * c * h * w);
	d->labels = malloc((size_t)n * sizeof *d->labels);
	for (size_t i = 0; i < (size_t)n * c * h * w; i++) d->images[i] = (uint8_t)sn_rng_below(&r, 256);
	for (int i = 0; i < n; i++) d->labels[i] = (int32_t)sn_rng_below(&r, 4);
}

/* a malloc'd copy of z, n rows of g's output (NULL where z is) */
static float *copy_outputs(sn_graph *g, const float *z, int n)
{
	const size_t k = (size_t)n * sn_shape_numel(sn_graph_output_shape(g));
	float *y = z ? malloc(k * sizeof *y) : NULL;
	if (y) memcpy(y, z, k * sizeof *y);
	return y;
}

float *sn_test_logits(sn_graph *g, const float *x, int n)
{
	if (sn_graph_plan(g, n, 0)) return NULL;
	return copy_outputs(g, sn_graph_forward(g, x, n), n);
}

float *sn_test_plan_run(sn_graph *g, const float *x, int planned, int n, sn_plan **plan)
{
	sn_plan *p = *plan = sn_plan_new(g);
	return copy_outputs(g, p && !sn_plan_reshape(p, planned, 0) ? sn_plan_forward(p, x, n) : NULL, n);
}

sn_tensor *sn_test_tensor(sn_graph *g, const char *name)
{
	int k = sn_tensor_find(g, name);
	return k < 0 ? NULL : &g->tensor[k];
}

void sn_test_collect_steps(const sn_prune_step *s, void *steps)
{
	sn_test_steps *r = steps;
	if (r->n < 8) r->rows[r->n++] = *s;
}

int sn_test_fmnist(int limit, sn_dataset **train, sn_dataset **test)
{
	static struct { int limit; sn_dataset tr, te; } cache[4];
	static int n;
	for (int i = 0; i < n; i++)
		if (cache[i].limit == limit) { *train = &cache[i].tr; *test = &cache[i].te; return 0; }
	if (n == 4) { fprintf(stderr, "  fmnist: too many different limits\n"); return -1; }
	if (sn_fmnist_load(SN_FMNIST_DIR, &cache[n].tr, &cache[n].te, limit)) {
		fprintf(stderr, "  fmnist: %s\n", sn_errmsg());
		return -1;
	}
	cache[n].limit = limit;
	*train = &cache[n].tr;
	*test = &cache[n].te;
	n++;
	return 0;
}

static int muted = -1;
void sn_test_mute(void)
{
	fflush(stdout);
	int fd = open("/dev/null", O_WRONLY);
	muted = dup(1);
	if (fd >= 0) { dup2(fd, 1); close(fd); }
}

void sn_test_unmute(void)
{
	fflush(stdout);
	if (muted >= 0) { dup2(muted, 1); close(muted); muted = -1; }
}

const char *sn_test_fixtures(void)
{
	const char *e = getenv("SN_FIXTURES");
	return e ? e : "tests/fixtures";
}

const char *sn_test_tmpdir(void)
{
	static char dir[256];
	if (!dir[0]) {
		snprintf(dir, sizeof dir, "/tmp/slimnn-test-XXXXXX");
		if (!mkdtemp(dir)) { perror("mkdtemp"); exit(2); }
	}
	return dir;
}

int main(int argc, char **argv)
{
	int passed = 0, failed = 0;
	sn_set_threads(2);
	for (int i = 0; i < n_tests; i++) {
		if (argc > 1 && !strstr(tests[i].name, argv[1])) continue;
		sn_test_failed_now = 0;
		tests[i].fn();
		if (sn_test_failed_now) { failed++; fprintf(stderr, "FAIL %s (%s)\n", tests[i].name, tests[i].file); }
		else { passed++; if (getenv("SN_VERBOSE")) fprintf(stderr, "ok   %s\n", tests[i].name); }
	}
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf %s", sn_test_tmpdir());
	if (system(cmd)) {}
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
