/* Test runner: runs every registered test (or those whose name contains argv[1]). */
#include <stdlib.h>
#include <unistd.h>
#include "test.h"
#include "slimnn.h"

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
