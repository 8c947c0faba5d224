/* Sparse encodings: exact round trips at every sparsity, long zero runs and long rows (the
 * escape codes of u8 and u16 positions), sizes as promised, the choice of the smallest,
 * hostile payloads, and pruned models in .slim files: bit-identical, and a 95 %-sparse
 * baseline CNN in at most a tenth of its dense file. */
#include <stdlib.h>
#include <sys/stat.h>
#include "test.h"
#include "slimnn.h"
#include "io/sparse_codec.h"

static uint64_t rs = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void)
{
	rs ^= rs << 13; rs ^= rs >> 7; rs ^= rs << 17;
	return (uint32_t)(rs >> 32);
}

/* A non-zero value; now and then one of the awkward ones that must survive bit for bit. */
static float nonzero(void)
{
	static const uint32_t odd[] = {0x80000000u /* -0.0 */, 0x7fc00123u /* NaN with payload */,
	                               0x00000001u /* denormal */, 0x7f800000u /* inf */};
	uint32_t r = rnd();
	if (r % 97 == 0) { float f; memcpy(&f, &odd[r % 4], 4); return f; }
	float v = (float)((int32_t)rnd()) / 2147483648.0f;
	return v != 0.0f ? v : 0.5f;
}

/* n values, each +0.0 with probability s (exactly none for 0, all for 1). */
static float *random_sparse(size_t n, double s)
{
	float *x = malloc(n * sizeof *x);
	for (size_t i = 0; i < n; i++) x[i] = (s >= 1 || (s > 0 && rnd() < s * 4294967296.0)) ? 0.0f : nonzero();
	return x;
}

/* Encodes, checks the promised size, decodes into garbage-filled memory, compares bits. */
static int round_trip(int enc, const float *x, size_t n, size_t cols)
{
	sn_buf b = {0};
	size_t sizes[SN_ENC_COUNT];
	sn_sparse_sizes(x, n, cols, sizes);
	sn_sparse_encode(&b, enc, x, n, cols);
	float *y = malloc(n * sizeof *y);
	memset(y, 0xab, n * sizeof *y);
	const char *why = b.oom ? "oom" : sn_sparse_decode(enc, b.p, b.len, y, n);
	int ok = !why && b.len == sizes[enc] && !memcmp(x, y, n * sizeof *y);
	if (!ok) fprintf(stderr, "  enc %d n %zu cols %zu: %s, %zu bytes (promised %zu)\n", enc, n, cols, why ? why : "differs",
	                 b.len, sizes[enc]);
	free(y);
	sn_buf_free(&b);
	return ok;
}

TEST(sparse_round_trip_every_sparsity)
{
	const double levels[] = {0, 0.5, 0.9, 0.99, 1};
	const size_t shapes[][2] = {{64 * 300, 300}, {1000, 1000}, {7 * 9, 9}, {4097, 4097}};
	for (size_t l = 0; l < 5; l++)
		for (size_t s = 0; s < 4; s++) {
			float *x = random_sparse(shapes[s][0], levels[l]);
			for (int enc = 1; enc < SN_ENC_COUNT; enc++)
				CHECKF(round_trip(enc, x, shapes[s][0], shapes[s][1]), "sparsity %g", levels[l]);
			free(x);
		}
}

/* Gaps around both escape codes, in rows longer than 256 and 65,536 values. */
TEST(sparse_long_zero_runs_and_long_rows)
{
	const size_t cols = 200000, rows = 3, n = rows * cols;
	const size_t gaps[] = {0, 1, 254, 255, 256, 257, 509, 510, 511, 65534, 65535, 65536, 65537, 70000};
	float *x = calloc(n, sizeof *x);
	size_t pos = 0;
	for (size_t k = 0; k < sizeof gaps / sizeof *gaps; k++) { pos += gaps[k]; x[pos++] = nonzero(); }
	x[cols - 1] = 1.0f;                  /* the last value of row 0 */
	x[2 * cols] = -2.0f;                 /* row 1 stays empty; row 2 starts with a value */
	x[n - 1] = 3.0f;
	for (int enc = 1; enc < SN_ENC_COUNT; enc++) CHECK(round_trip(enc, x, n, cols));
	CHECK(round_trip(SN_ENC_CSR8, x, n, n));            /* one row of 600,000 */
	CHECK(round_trip(SN_ENC_CSR16, x, n, n));
	/* the exact cost of one gap: a code per whole escape, plus the final code */
	float row[600] = {0};
	row[255] = 1;                        /* gap 255: codes 255, 0 */
	size_t sz[SN_ENC_COUNT];
	sn_sparse_sizes(row, 600, 600, sz);
	CHECK(sz[SN_ENC_CSR8] == 8 + 1 + 4 + 2);
	CHECK(sz[SN_ENC_CSR16] == 8 + 1 + 4 + 2);
	row[599] = 2;                        /* gap 343: codes 255, 88 */
	sn_sparse_sizes(row, 600, 600, sz);
	CHECK(sz[SN_ENC_CSR8] == 8 + 1 + 8 + 4);
	CHECK(round_trip(SN_ENC_CSR8, row, 600, 600));
	free(x);
}

TEST(sparse_choose_smallest)
{
	sn_tensor t = {.ndim = 2, .dims = {256, 3136}, .n = 256 * 3136};
	const struct { double s; int want; } cases[] = {{0, SN_ENC_DENSE}, {0.5, SN_ENC_BITMAP}, {0.95, SN_ENC_CSR8}};
	for (size_t k = 0; k < 3; k++) {
		t.data = random_sparse(t.n, cases[k].s);
		CHECKF(sn_sparse_choose(&t) == cases[k].want, "sparsity %g: encoding %d", cases[k].s, sn_sparse_choose(&t));
		free(t.data);
	}
	/* one value in a long row: u16 codes need fewer escapes */
	sn_tensor u = {.ndim = 1, .dims = {1 << 20}, .n = 1 << 20};
	u.data = calloc(u.n, sizeof *u.data);
	for (size_t i = 0; i < u.n; i += 50000) u.data[i] = 1;
	CHECK(sn_sparse_choose(&u) == SN_ENC_CSR16);
	/* tiny tensors stay dense even when empty */
	sn_tensor v = {.ndim = 1, .dims = {SN_SPARSE_MIN_VALUES - 1}, .n = SN_SPARSE_MIN_VALUES - 1, .data = u.data + 1};
	CHECK(sn_sparse_choose(&v) == SN_ENC_DENSE);
	free(u.data);
}

/* Every cut-short payload is refused, every flipped byte decodes or is refused (ASan watches). */
TEST(sparse_hostile_payloads)
{
	const size_t n = 40 * 70, cols = 70;
	float *x = random_sparse(n, 0.8), *y = malloc(n * sizeof *y);
	for (int enc = 1; enc < SN_ENC_COUNT; enc++) {
		sn_buf b = {0};
		sn_sparse_encode(&b, enc, x, n, cols);
		REQUIRE(!b.oom);
		int refused = 1;
		for (size_t len = 0; len < b.len; len++) refused &= sn_sparse_decode(enc, b.p, len, y, n) != NULL;
		CHECKF(refused, "encoding %d: a cut-short payload was accepted", enc);
		unsigned char *c = malloc(b.len);
		for (size_t i = 0; i < b.len; i++) {
			memcpy(c, b.p, b.len);
			c[i] ^= (unsigned char)(1u << (i % 8));
			(void)sn_sparse_decode(enc, c, b.len, y, n);
		}
		free(c);
		sn_buf_free(&b);
	}
	/* forged CSR headers */
	unsigned char h[64] = {0};
	h[0] = 0;                                           /* cols 0 */
	CHECK(strstr(sn_sparse_decode(SN_ENC_CSR8, h, 16, y, n), "row length"));
	h[0] = 71;                                          /* does not divide 2800 */
	CHECK(strstr(sn_sparse_decode(SN_ENC_CSR8, h, 16, y, n), "row length"));
	h[0] = 70; h[4] = 0xff; h[5] = 0xff;                /* 65535 stored values of 2800 */
	CHECK(strstr(sn_sparse_decode(SN_ENC_CSR8, h, 16, y, n), "more stored values"));
	memset(h + 4, 0, 4);
	memset(h + 8, 0xff, 6);                             /* a varint that never ends */
	CHECK(strstr(sn_sparse_decode(SN_ENC_CSR8, h, 14, y, n), "row counts"));
	h[4] = 1; h[8] = 71;                                /* a row count over the row length */
	CHECK(strstr(sn_sparse_decode(SN_ENC_CSR8, h, 60, y, n), "exceeds"));
	/* 1 stored value in row 0 whose codes run past the row: 255 then 255 on a row of 70 */
	unsigned char p[8 + 40 + 4 + 1] = {70, 0, 0, 0, 1, 0, 0, 0, 1};
	p[sizeof p - 1] = 70;
	CHECK(strstr(sn_sparse_decode(SN_ENC_CSR8, p, sizeof p, y, n), "past the end of its row"));
	p[sizeof p - 1] = 69;
	CHECK(sn_sparse_decode(SN_ENC_CSR8, p, sizeof p, y, n) == NULL && y[69] == 0.0f);
	/* bitmap: a bit past the end */
	unsigned char bm[3] = {0, 0, 0x80};
	CHECK(strstr(sn_sparse_decode(SN_ENC_BITMAP, bm, 3, y, 20), "past its last value"));
	free(x);
	free(y);
}

/* ---------------------------------------------------------------- in .slim files */

static const char *tmp(const char *name)
{
	static char p[4][512];
	static int k;
	char *s = p[k++ % 4];
	snprintf(s, 512, "%s/sparse-%s", sn_test_tmpdir(), name);
	return s;
}

static long file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) ? -1 : (long)st.st_size;
}

/* Zeroes and masks a fraction s of a tensor's values (every k-th value of a random walk). */
static void mask_random(sn_tensor *t, double s)
{
	t->mask = malloc(t->n);
	for (size_t i = 0; i < t->n; i++) {
		t->mask[i] = !(rnd() < s * 4294967296.0);
		if (!t->mask[i]) t->data[i] = 0;
	}
}

static int same_values(const sn_graph *a, const sn_graph *b)
{
	if (a->n_tensor != b->n_tensor) return 0;
	for (int i = 0; i < a->n_tensor; i++) {
		const sn_tensor *x = &a->tensor[i], *y = &b->tensor[sn_tensor_find(b, x->name)];
		if (x->n != y->n || memcmp(x->data, y->data, x->n * sizeof(float))) return 0;
		if (!x->mask != !y->mask || (x->mask && memcmp(x->mask, y->mask, x->n))) return 0;
	}
	return 1;
}

TEST(sparse_slim_round_trip)
{
	sn_graph *g = sn_arch_load("models/mobilenetv2.arch");
	REQUIRE(g);
	sn_graph_init_params(g, 5);
	const double levels[] = {0.3, 0.6, 0.9, 0.97, 1.0};
	int k = 0;
	for (int i = 0; i < g->n_tensor; i++)
		if (g->tensor[i].ndim > 1) mask_random(&g->tensor[i], levels[k++ % 5]);
	/* a kept weight that happens to be 0: the mask is then not implied by the values */
	sn_tensor *h = &g->tensor[sn_tensor_find(g, "head.weight")];
	for (size_t i = 0; i < h->n; i++) if (h->mask[i]) { h->data[i] = 0.0f; break; }
	sn_tensor *fc = &g->tensor[sn_tensor_find(g, "fc.weight")];
	memcpy(fc->data, &(uint32_t){0x80000000u}, 4);     /* -0.0, kept */
	fc->mask[0] = 1;
	sn_meta m = {.test_accuracy = 0.5};
	REQUIRE(sn_model_save(g, &m, NULL, tmp("mnv2.slim")) == SN_OK);
	sn_graph *l = sn_model_load(tmp("mnv2.slim"), NULL, NULL);
	REQUIRE(l);
	CHECK(same_values(g, l));
	sn_graph_free(l);
	sn_graph_free(g);
}

/* The number: 95 % of the prunable weights zero (fc1 and conv2; conv1 and fc2 kept) makes
 * the file at most a tenth of the dense one. Values do not change sizes, so fresh weights do. */
TEST(sparse_pruned_cnn_is_a_tenth)
{
	sn_graph *g = sn_arch_load("models/cnn.arch");
	REQUIRE(g);
	sn_graph_init_params(g, 1);
	sn_meta m = {.test_accuracy = 0.9, .epochs = 10};
	snprintf(m.dataset, sizeof m.dataset, "fashion-mnist");
	REQUIRE(sn_model_save(g, &m, NULL, tmp("dense.slim")) == SN_OK);
	unsigned char *p = malloc((size_t)g->n_node);
	REQUIRE(sn_prune_select(g, SN_GRAN_WEIGHT, NULL, p) == SN_OK);
	REQUIRE(sn_prune_weights(g, p, SN_SCOPE_GLOBAL, 0.95f) == SN_OK);
	REQUIRE(sn_model_save(g, &m, NULL, tmp("p95.slim")) == SN_OK);
	long dense = file_size(tmp("dense.slim")), sparse = file_size(tmp("p95.slim"));
	CHECKF(sparse * 10 <= dense, "95%% sparse file %ld bytes, dense %ld (%.1f%%)", sparse, dense, 100.0 * sparse / dense);
	sn_graph *l = sn_model_load(tmp("p95.slim"), NULL, NULL);
	REQUIRE(l);
	CHECK(same_values(g, l));
	/* the masks are implied by the zeros: a few bytes of names, no bitmaps */
	for (int i = 0; i < l->n_tensor; i++) { free(l->tensor[i].mask); l->tensor[i].mask = NULL; }
	REQUIRE(sn_model_save(l, &m, NULL, tmp("nomask.slim")) == SN_OK);
	CHECK(sparse - file_size(tmp("nomask.slim")) < 100);
	sn_graph_free(l);
	free(p);
	sn_graph_free(g);
}
