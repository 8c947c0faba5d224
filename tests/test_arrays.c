/* NumPy arrays (src/io/npy.c, src/io/npz.c): every dtype, byte order, memory order, header
 * version and archive kind that tools/gen_array_fixtures.py writes into tests/fixtures/arrays,
 * compared value by value with numpy's own view of the same bytes (expected.txt), and the broken
 * files, each refused with a message that names it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "test.h"
#include "io/array.h"
#include "io/io.h"

static const char *fx(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/arrays/%s", sn_test_fixtures(), name);
	return buf;
}

static unsigned char *slurp(const char *path, size_t *n)
{
	unsigned char *p = NULL;
	return sn_read_file(path, 1 << 24, &p, n) == SN_OK ? p : NULL;
}

static int has(const char *s, const char *needle) { return strstr(s, needle) != NULL; }

static int is_int(sn_dtype t) { return t != SN_DT_F16 && t != SN_DT_F32 && t != SN_DT_F64; }

/* One line of expected.txt against the array: dtype, shape, then each value. Returns the number
 * of mismatches (printed). */
static int compare_line(char *line, const sn_array *a)
{
	int bad = 0;
	char *save = NULL, *tok = strtok_r(line, " ", &save);   /* the label, already used */
	tok = strtok_r(NULL, " ", &save);
	if (!tok || strcmp(tok, sn_dtype_name(a->dtype))) {
		fprintf(stderr, "    dtype %s, expected %s\n", sn_dtype_name(a->dtype), tok ? tok : "?");
		return 1;
	}
	int ndim = atoi(strtok_r(NULL, " ", &save));
	if (ndim != a->ndim) { fprintf(stderr, "    ndim %d, expected %d\n", a->ndim, ndim); return 1; }
	size_t numel = 1;
	for (int i = 0; i < ndim; i++) {
		long long d = atoll(strtok_r(NULL, " ", &save));
		if (d != a->dims[i]) { fprintf(stderr, "    dim %d is %lld, expected %lld\n", i, (long long)a->dims[i], d); bad++; }
		numel *= (size_t)d;
	}
	if (numel != a->numel) { fprintf(stderr, "    numel %zu, expected %zu\n", a->numel, numel); return bad + 1; }
	tok = strtok_r(NULL, " ", &save);
	if (!tok || strcmp(tok, ":")) return bad + 1;
	for (size_t i = 0; i < numel; i++) {
		tok = strtok_r(NULL, " ", &save);
		if (!tok) { fprintf(stderr, "    expected.txt has too few values\n"); return bad + 1; }
		double want = strtod(tok, NULL), got = sn_array_f64(a, i);
		if (!(got == want)) { fprintf(stderr, "    [%zu] = %.17g, expected %s\n", i, got, tok); bad++; }
		if (is_int(a->dtype)) {
			/* exact: a double cannot tell 2^53 + 1 from 2^53, an int64 can */
			int over = tok[0] != '-' && strtoull(tok, NULL, 10) > (unsigned long long)INT64_MAX;
			int64_t wi = over ? INT64_MIN : strtoll(tok, NULL, 10), gi = sn_array_i64(a, i);
			if (gi != wi) { fprintf(stderr, "    [%zu] = %lld as an integer, expected %s\n", i, (long long)gi, tok); bad++; }
		}
	}
	if (strtok_r(NULL, " ", &save)) { fprintf(stderr, "    expected.txt has more values\n"); bad++; }
	return bad;
}

/* Loads what a label of expected.txt names: "file.npy" or "file.npz:key". */
static int load_label(const char *label, sn_array *a, int from_memory)
{
	char name[256], path[512];
	snprintf(name, sizeof name, "%s", label);
	char *key = strchr(name, ':');
	if (key) *key++ = 0;
	fx(path, sizeof path, name);
	if (!from_memory) return key ? sn_npz_load(path, key, a) : sn_npy_load(path, a);
	size_t n;
	unsigned char *p = slurp(path, &n);
	if (!p) return SN_EIO;
	int rc = key ? sn_npz_parse(p, n, path, key, a) : sn_npy_parse(p, n, path, a);
	free(p);
	return rc;
}

TEST(arrays_match_numpy)
{
	char path[512];
	size_t len;
	char *text = (char *)slurp(fx(path, sizeof path, "expected.txt"), &len);
	REQUIRE(text);
	int lines = 0, npz = 0;
	for (char *save = NULL, *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char label[256];
		sscanf(line, "%255s", label);
		for (int mem = 0; mem < 2; mem++) {
			sn_array a;
			int rc = load_label(label, &a, mem);
			CHECKF(rc == SN_OK, "%s: %s", label, sn_errmsg());
			if (rc) continue;
			char *copy = strdup(line);
			int bad = compare_line(copy, &a);
			CHECKF(bad == 0, "%s (%s): %d mismatches", label, mem ? "from memory" : "from the file", bad);
			free(copy);
			sn_array_free(&a);
			CHECK(a.data == NULL);
		}
		lines++;
		npz += strchr(label, ':') != NULL;
	}
	free(text);
	CHECK(lines >= 38 && npz == 9);   /* a truncated expected.txt must not pass quietly */
}

/* Every bad_*.npy refused with SN_EFORMAT, a message naming the file and the problem, and an
 * empty array; from the file and from memory. */
TEST(npy_refuses_broken_files)
{
	static const struct { const char *file, *needle, *needle2; } cases[] = {
		{"bad_truncated_header.npy", "header", "30-byte"},
		{"bad_truncated_data.npy", "37 data bytes", "needs 40 (10 float32 values): the file is truncated"},
		{"bad_trailing.npy", "44 data bytes", "needs 40 (10 float32 values): bytes trail"},
		{"bad_magic.npy", "magic", NULL},
		{"bad_no_shape.npy", "lacks the key 'shape'", NULL},
		{"bad_overflow.npy", "overflow", NULL},
		{"bad_object.npy", "object", "'|O'"},
		{"bad_structured.npy", "structured", NULL},
		{"bad_complex.npy", "complex", "'<c8'"},
		{"bad_unicode.npy", "unicode", "'<U2'"},
	};
	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		char path[512];
		fx(path, sizeof path, cases[k].file);
		for (int mem = 0; mem < 2; mem++) {
			sn_array a;
			memset(&a, 0x55, sizeof a);
			int rc;
			if (mem) {
				size_t n;
				unsigned char *p = slurp(path, &n);
				REQUIRE(p);
				rc = sn_npy_parse(p, n, path, &a);
				free(p);
			} else {
				rc = sn_npy_load(path, &a);
			}
			const char *m = sn_errmsg();
			CHECKF(rc == SN_EFORMAT && has(m, path) && has(m, cases[k].needle) &&
			       (!cases[k].needle2 || has(m, cases[k].needle2)), "%s: rc %d: %s", cases[k].file, rc, m);
			CHECK(a.data == NULL && a.numel == 0);
			if (rc == SN_OK) sn_array_free(&a);
		}
	}
	sn_array a;
	char path[512];
	CHECK(sn_npy_load(fx(path, sizeof path, "absent.npy"), &a) == SN_EIO && has(sn_errmsg(), "absent.npy"));
	CHECK(sn_npy_parse(NULL, 0, "empty", &a) == SN_EFORMAT && has(sn_errmsg(), "empty"));
}

/* Every prefix of a good file is refused (and none crashes: this runs under ASan too). */
TEST(npy_npz_prefixes_refused)
{
	const char *files[] = {"dt_i8_be.npy", "v2_i2.npy", "fortran_f8_be.npy", "compressed.npz", "stored.npz"};
	for (size_t k = 0; k < sizeof files / sizeof files[0]; k++) {
		char path[512];
		size_t n;
		unsigned char *p = slurp(fx(path, sizeof path, files[k]), &n);
		REQUIRE(p);
		int npz = has(files[k], ".npz"), accepted = 0, silent = 0;
		for (size_t len = 0; len < n; len++) {
			unsigned char *cut = malloc(len ? len : 1);   /* exact size: ASan sees any overread */
			memcpy(cut, p, len);
			sn_array a;
			sn_seterr(SN_OK, "%s", "");
			int rc = npz ? sn_npz_parse(cut, len, "cut", "test_x", &a) : sn_npy_parse(cut, len, "cut", &a);
			if (rc == SN_OK) { accepted++; sn_array_free(&a); }
			else if (!has(sn_errmsg(), "cut")) silent++;
			free(cut);
		}
		CHECKF(accepted == 0 && silent == 0, "%s: %d prefixes accepted, %d refused without naming the input",
		       files[k], accepted, silent);
		free(p);
	}
}

TEST(npz_keys_and_refusals)
{
	char path[512], bad[512];
	fx(path, sizeof path, "stored.npz");
	sn_array a;
	/* the member name itself works too, and a missing key lists the ones there */
	CHECK(sn_npz_load(path, "train_y.npy", &a) == SN_OK && a.dtype == SN_DT_I64 && a.numel == 4 &&
	      sn_array_i64(&a, 2) == 9);
	sn_array_free(&a);
	CHECK(sn_npz_load(path, "val_x", &a) == SN_EINVAL);
	const char *m = sn_errmsg();
	CHECKF(has(m, path) && has(m, "'val_x'") && has(m, "train_x, train_y, test_x, test_y"), "%s", m);
	CHECK(a.data == NULL);
	CHECK(sn_npz_has(path, "test_x") == 1 && sn_npz_has(path, "val_x") == 0);
	CHECK(sn_npz_load(path, "", &a) == SN_EINVAL);
	CHECK(sn_npz_has(fx(bad, sizeof bad, "absent.npz"), "x") == SN_EIO && has(sn_errmsg(), "absent.npz"));

	static const struct { const char *file, *needle; } cases[] = {
		{"bad_corrupt_deflate.npz", "corrupt"},
		{"bad_huge_zip64.npz", "more than the 17179869184 allowed"},
		{"bad_huge_declared.npz", "more than deflate can produce"},
		{"bad_size_mismatch.npz", "x.npy"},
		{"dt_f4_le.npy", "not a readable .npz"},
	};
	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		fx(bad, sizeof bad, cases[k].file);
		const char *key = has(cases[k].file, "deflate") ? "train_x" : "x";
		for (int mem = 0; mem < 2; mem++) {
			size_t n;
			unsigned char *p = mem ? slurp(bad, &n) : NULL;
			int rc = mem ? sn_npz_parse(p, n, bad, key, &a) : sn_npz_load(bad, key, &a);
			free(p);
			m = sn_errmsg();
			CHECKF(rc == SN_EFORMAT && has(m, bad) && has(m, cases[k].needle), "%s: rc %d: %s", cases[k].file, rc, m);
			CHECK(a.data == NULL);
			if (rc == SN_OK) sn_array_free(&a);
		}
	}
	/* the undamaged members of the damaged archive still read */
	CHECK(sn_npz_load(fx(bad, sizeof bad, "bad_corrupt_deflate.npz"), "test_y", &a) == SN_OK && a.numel == 2);
	sn_array_free(&a);
}

TEST(npy_read_keeps_float_contract)
{
	char path[512];
	int nd = -1, dims[8];
	float *v = NULL;
	REQUIRE(sn_npy_read(fx(path, sizeof path, "dt_f8_le.npy"), &nd, dims, &v) == SN_OK);
	CHECK(nd == 2 && dims[0] == 2 && dims[1] == 3);
	CHECK(v[1] == -2.5f && v[4] == 0.1f && isinf(v[2]) && v[5] == -INFINITY);
	free(v);
	v = NULL;
	REQUIRE(sn_npy_read(fx(path, sizeof path, "scalar_f8.npy"), &nd, dims, &v) == SN_OK);
	CHECK(nd == 0 && v[0] == 3.5f);
	free(v);
	v = (float *)1;
	CHECK(sn_npy_read(fx(path, sizeof path, "dt_i4_le.npy"), &nd, dims, &v) == SN_EFORMAT && v == NULL);
	CHECK(has(sn_errmsg(), "'<i4'"));
}

TEST(array_conversions)
{
	char path[512];
	sn_array a;
	/* integer readings of floats: whole numbers inside int64's range only */
	REQUIRE(sn_npy_load(fx(path, sizeof path, "fortran_f8_be.npy"), &a) == SN_OK);
	CHECK(sn_array_f64(&a, 1) == -0.25);   /* C order of arange(6).reshape(3, 2) / 4 - 0.5 */
	CHECK(sn_array_i64(&a, 2) == 0 && sn_array_i64(&a, 0) == INT64_MIN && sn_array_i64(&a, 4) == INT64_MIN);
	CHECK(sn_array_i64(&a, 99) == INT64_MIN && isnan(sn_array_f64(&a, 99)));
	sn_array_free(&a);
	REQUIRE(sn_npy_load(fx(path, sizeof path, "dt_f8_be.npy"), &a) == SN_OK);   /* 0 -2.5 1e300 5e-324 0.1 -inf */
	CHECK(sn_array_i64(&a, 0) == 0 && sn_array_i64(&a, 2) == INT64_MIN && sn_array_i64(&a, 5) == INT64_MIN);
	sn_array_free(&a);
	REQUIRE(sn_npy_load(fx(path, sizeof path, "dt_f4_be.npy"), &a) == SN_OK);
	CHECK(sn_array_i64(&a, 5) == -7 && sn_array_i64(&a, 2) == INT64_MIN);     /* -7.0, FLT_MAX > 2^63 */
	sn_array_free(&a);
	/* to float32, from a narrower and from a wider type */
	const char *files[] = {"dt_i2_be.npy", "dt_i8_le.npy", "dt_f2_le.npy", "dt_b1_le.npy"};
	for (size_t k = 0; k < 4; k++) {
		REQUIRE(sn_npy_load(fx(path, sizeof path, files[k]), &a) == SN_OK);
		double want[6];
		for (int i = 0; i < 6; i++) want[i] = sn_array_f64(&a, (size_t)i);
		REQUIRE(sn_array_to_f32(&a, files[k]) == SN_OK);
		CHECK(a.dtype == SN_DT_F32 && a.numel == 6);
		for (int i = 0; i < 6; i++) CHECKF(((float *)a.data)[i] == (float)want[i], "%s [%d]", files[k], i);
		sn_array_free(&a);
	}
}
