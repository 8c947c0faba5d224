/* A minimal test framework: TEST(name) { ... } registers itself; CHECK* record failures and
 * continue; the runner prints one line per failure and the closing "N passed, N failed". */
#ifndef SN_TEST_H
#define SN_TEST_H
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "slimnn.h"

typedef void (*sn_test_fn)(void);
void sn_test_register(const char *name, const char *file, sn_test_fn fn);
extern int sn_test_failed_now;

#define TEST(name)                                                                    \
	static void test_##name(void);                                                    \
	__attribute__((constructor)) static void reg_##name(void)                         \
	{ sn_test_register(#name, __FILE__, test_##name); }                              \
	static void test_##name(void)

#define CHECK(cond)                                                                   \
	do { if (!(cond)) { sn_test_failed_now = 1;                                        \
		fprintf(stderr, "  %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond); } } while (0)
#define CHECKF(cond, ...)                                                             \
	do { if (!(cond)) { sn_test_failed_now = 1;                                        \
		fprintf(stderr, "  %s:%d: ", __FILE__, __LINE__); fprintf(stderr, __VA_ARGS__);   \
		fputc('\n', stderr); } } while (0)
#define CHECK_NEAR(a, b, tol)                                                         \
	do { double a_ = (a), b_ = (b);                                                    \
		if (!(fabs(a_ - b_) <= (tol))) { sn_test_failed_now = 1;                        \
		fprintf(stderr, "  %s:%d: %s = %.8g, expected %.8g (tol %g)\n", __FILE__, __LINE__, #a, a_, b_, (double)(tol)); } } while (0)
/* a fatal check: stop this test */
#define REQUIRE(cond)                                                                 \
	do { if (!(cond)) { sn_test_failed_now = 1;                                        \
		fprintf(stderr, "  %s:%d: REQUIRE(%s) failed\n", __FILE__, __LINE__, #cond); return; } } while (0)

/* an architecture parsed and initialised with PyTorch's defaults (seed); NULL + a message */
struct sn_graph *sn_test_net(const char *arch, unsigned long long seed);
/* the first `limit` Fashion-MNIST images of each split, loaded once per limit for the run */
int sn_test_fmnist(int limit, sn_dataset **train, sn_dataset **test);
/* models/NAME.arch initialised with PyTorch's defaults (seed); NULL + a message */
struct sn_graph *sn_test_zoo(const char *name, unsigned long long seed);
/* The rows of `after` that are rows of `before` (rows x cols), matched in order: their count, or
 * -1 when a dropped row has a larger L1 norm than a kept one (pruning kept the strongest);
 * old_row (may be NULL) gets each kept row's index in `before`. */
int sn_test_kept_strongest(const sn_tensor *before, const sn_tensor *after, int rows, int cols, int *old_row);
/* g planned for inference on a batch of n, run on x: a malloc'd copy of the outputs, or NULL */
float *sn_test_logits(struct sn_graph *g, const float *x, int n);
/* A new inference plan of g for `planned` rows, run on n rows of x: a malloc'd copy of the
 * outputs (NULL on failure); *plan gets the plan (the caller frees it; NULL when out of memory). */
float *sn_test_plan_run(struct sn_graph *g, const float *x, int planned, int n, struct sn_plan **plan);
/* n random images of c x h x w bytes from seed, 4 random classes, normalised with mean 0.4 and
 * std 0.3 (calibration and training data for models with random weights); sn_dataset_free it */
void sn_test_random_images(sn_dataset *d, int n, int c, int h, int w, uint64_t seed);
/* a tensor by name, or NULL */
sn_tensor *sn_test_tensor(struct sn_graph *g, const char *name);
/* the rows a prune run reports (sn_prune_cb), the first 8 kept */
typedef struct { int n; sn_prune_step rows[8]; } sn_test_steps;
void sn_test_collect_steps(const sn_prune_step *s, void *steps);
/* silence stdout (sn_train prints a line per epoch) so the output is the verdicts; then restore */
void sn_test_mute(void);
void sn_test_unmute(void);

/* max |a-b| / max(1, max|b|) over n values */
double sn_test_maxrel(const float *a, const float *b, size_t n);
/* path of the test fixtures folder (tests/fixtures) */
const char *sn_test_fixtures(void);
/* a fresh temporary directory for this test run */
const char *sn_test_tmpdir(void);
#endif
