/* libFuzzer target: the NumPy readers (src/io/npy.c, src/io/npz.c) on arbitrary bytes, as a
 * .npy image (copied and owned, as sn_npy_load hands it over, and borrowed) and as a .npz archive
 * asked for the keys the seeds hold. A refusal must leave a message; an accepted array must have
 * as many elements as its shape says, each readable (ASan watches the reads), bools 0 or 1, and
 * must convert to float32. Seeds: the .npy and .npz files of tests/fixtures/arrays (make fuzz). */
#include "io/array.h"
#include "fuzz.h"

static void check_array(sn_array *a, int rc, const char *what)
{
	if (rc) {
		if (!strcmp(sn_errmsg(), "no error")) fuzz_fail("a refusal without a message", what);
		if (a->data || a->numel) fuzz_fail("a refused array is not empty", what);
		return;
	}
	size_t n = 1;
	for (int i = 0; i < a->ndim; i++) n *= (size_t)a->dims[i];
	if (a->ndim < 0 || a->ndim > SN_ARRAY_MAX_DIM || n != a->numel || !a->data)
		fuzz_fail("an accepted array's shape and element count disagree", what);
	double sum = 0;
	for (size_t i = 0; i < a->numel; i++) {
		double v = sn_array_f64(a, i);
		int64_t k = sn_array_i64(a, i);
		if (a->dtype == SN_DT_BOOL && v != 0 && v != 1) fuzz_fail("a bool that is neither 0 nor 1", what);
		sum += (v == v ? 0 : 1) + (double)(k & 1);
	}
	if (sum < 0) abort();
	if (sn_array_to_f32(a, what) || a->dtype != SN_DT_F32) fuzz_fail("an accepted array does not convert", what);
	sn_array_free(a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	sn_array a;
	fuzz_clear_error();
	check_array(&a, sn_npy_parse(data, len, "fuzz.npy", &a), ".npy");
	unsigned char *own = malloc(len ? len : 1);
	if (!own) return 0;
	memcpy(own, data, len);
	fuzz_clear_error();
	check_array(&a, sn_npy_parse_owned(own, len, "fuzz.npy", &a), ".npy (owned)");
	static const char *keys[] = {"train_x", "test_y", "x"};
	for (int k = 0; k < 3; k++) {
		fuzz_clear_error();
		check_array(&a, sn_npz_parse(data, len, "fuzz.npz", keys[k], &a), ".npz");
	}
	return 0;
}
