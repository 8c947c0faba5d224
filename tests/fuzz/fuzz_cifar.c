/* libFuzzer target: the CIFAR batch reader (src/data/cifar.c) on arbitrary bytes, as a CIFAR-10
 * batch (1 label byte) and a CIFAR-100 one (2), each appended twice to exercise growth, and as a
 * class-names file. A refusal must leave a message and keep what was appended before; an
 * accepted batch must hold len / record-size images with labels in range.
 * Seeds: the .bin files of tests/fixtures/arrays (make fuzz). */
#include "data/cifar.h"
#include "fuzz.h"

static void refused(const char *what)
{
	if (!strcmp(sn_errmsg(), "no error")) fuzz_fail("a refusal without a message", what);
}

static void one(const uint8_t *data, size_t len, int label_bytes)
{
	sn_cifar c = {0};
	const size_t rec = SN_CIFAR_PIXELS + (size_t)label_bytes;
	for (int round = 1; round <= 2; round++) {
		fuzz_clear_error();
		int before = c.n;
		if (sn_cifar_parse(data, len, label_bytes, "fuzz.bin", &c)) {
			refused("batch");
			if (c.n != before) fuzz_fail("a refused batch changed what was there", "batch");
			break;
		}
		if ((size_t)c.n != (size_t)round * (len / rec) || len % rec || c.classes != (label_bytes == 1 ? 10 : 100))
			fuzz_fail("an accepted batch has the wrong count", "batch");
		for (int i = 0; i < c.n; i++)
			if (c.labels[i] < 0 || c.labels[i] >= c.classes) fuzz_fail("a label out of range", "batch");
		if (c.images[(size_t)c.n * SN_CIFAR_PIXELS - 1] != data[len - 1]) fuzz_fail("the last pixel moved", "batch");
	}
	c.classes = label_bytes == 1 ? 10 : 100;
	fuzz_clear_error();
	if (sn_cifar_parse_names((const char *)data, len, "fuzz.txt", &c)) refused("names");
	sn_cifar_free(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	one(data, len, 1);
	one(data, len, 2);
	return 0;
}
