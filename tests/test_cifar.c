/* CIFAR-10 / CIFAR-100 binary batches (src/data/cifar.c) against the small directories that
 * tools/gen_array_fixtures.py writes into tests/fixtures/arrays (labels and a position-weighted
 * pixel checksum computed by numpy, cifar_expected.txt), and the broken ones: a size that is not
 * a whole number of records, a label out of range, a missing test batch, an empty file. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "test.h"
#include "data/cifar.h"
#include "io/io.h"

static const char *fx(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/arrays/%s", sn_test_fixtures(), name);
	return buf;
}

static int has(const char *s, const char *needle) { return strstr(s, needle) != NULL; }

static uint64_t checksum(const sn_cifar *c)
{
	uint64_t s = 0;
	for (size_t i = 0; i < (size_t)c->n * SN_CIFAR_PIXELS; i++) s += (uint64_t)(i % 65521 + 1) * c->images[i];
	return s;
}

/* The split of cifar_expected.txt's line: "<dir> <train|test> <n> <classes> : labels... ; <sum>". */
static void check_split(const char *line)
{
	char dir[64], split[16], path[512];
	int n, classes, off = 0;
	REQUIRE(sscanf(line, "%63s %15s %d %d :%n", dir, split, &n, &classes, &off) == 4 && off > 0);
	sn_cifar c;
	int rc = sn_cifar_load(fx(path, sizeof path, dir), !strcmp(split, "train"), &c);
	CHECKF(rc == SN_OK, "%s %s: %s", dir, split, sn_errmsg());
	if (rc) return;
	CHECKF(c.n == n && c.classes == classes, "%s %s: n %d classes %d", dir, split, c.n, c.classes);
	const char *p = line + off;
	for (int i = 0; i < n && i < c.n; i++) {
		char *end;
		long want = strtol(p, &end, 10);
		CHECKF(end != p && c.labels[i] == want, "%s %s: label %d is %d, expected %ld", dir, split, i, c.labels[i], want);
		p = end;
	}
	const char *semi = strchr(line, ';');
	REQUIRE(semi);
	unsigned long long want = strtoull(semi + 1, NULL, 10);
	CHECKF(checksum(&c) == want, "%s %s: pixel checksum %llu, expected %llu", dir, split,
	       (unsigned long long)checksum(&c), want);
	/* the class names: CIFAR-10's own, or fine_00 .. fine_99 */
	REQUIRE(c.names);
	const char *name = c.names;
	for (int k = 0; k < classes - 1; k++) name += strlen(name) + 1;
	CHECK(!strcmp(name, classes == 10 ? "truck" : "fine_99"));
	CHECK(!strcmp(c.names, classes == 10 ? "airplane" : "fine_00"));
	sn_cifar_free(&c);
	CHECK(c.images == NULL && c.n == 0);
}

TEST(cifar_matches_numpy)
{
	char path[512];
	unsigned char *text;
	size_t len;
	REQUIRE(sn_read_file(fx(path, sizeof path, "cifar_expected.txt"), 1 << 16, &text, &len) == SN_OK);
	int lines = 0;
	for (char *save = NULL, *l = strtok_r((char *)text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		check_split(l);
		lines++;
	}
	free(text);
	CHECK(lines == 4);
	CHECK(sn_cifar_detect(fx(path, sizeof path, "cifar10")) == 10);
	CHECK(sn_cifar_detect(fx(path, sizeof path, "cifar100")) == 100);
	CHECK(sn_cifar_detect(fx(path, sizeof path, "cifar10_notest")) == 10);
	CHECK(sn_cifar_detect(fx(path, sizeof path, "bad_cifar")) == 0);
	CHECK(sn_cifar_detect(sn_test_fixtures()) == 0);
}

static int parse_file(const char *file, int label_bytes, sn_cifar *c)
{
	char path[512];
	unsigned char *p;
	size_t len;
	if (sn_read_file(fx(path, sizeof path, file), 1 << 20, &p, &len)) return 99;
	int rc = sn_cifar_parse(p, len, label_bytes, path, c);
	free(p);
	return rc;
}

TEST(cifar_refuses_broken_batches)
{
	char path[512];
	sn_cifar c = {0};
	/* 3073 * 2 + 5 bytes: neither CIFAR-10 nor CIFAR-100 records */
	CHECK(parse_file("bad_cifar/size.bin", 1, &c) == SN_EFORMAT);
	CHECKF(has(sn_errmsg(), "size.bin' is 6151 bytes") && has(sn_errmsg(), "3073-byte CIFAR-10 records (5 bytes over)"),
	       "%s", sn_errmsg());
	CHECK(parse_file("bad_cifar/size.bin", 2, &c) == SN_EFORMAT && has(sn_errmsg(), "3074-byte"));
	/* label 10 in the second record; nothing is appended */
	CHECK(parse_file("bad_cifar/label10.bin", 1, &c) == SN_EFORMAT);
	CHECKF(has(sn_errmsg(), "label10.bin' record 1 has label 10, outside 0..9"), "%s", sn_errmsg());
	CHECK(c.n == 0 && c.images == NULL && c.labels == NULL);
	/* a CIFAR-10 batch read as CIFAR-100 is refused by its size */
	CHECK(parse_file("cifar10/test_batch.bin", 2, &c) == SN_EFORMAT && has(sn_errmsg(), "would fit CIFAR-10"));
	/* appending: two batches, then a CIFAR-100 one cannot join; failure keeps what was there */
	CHECK(parse_file("cifar10/data_batch_1.bin", 1, &c) == SN_OK && c.n == 3 && c.classes == 10);
	CHECK(parse_file("cifar10/data_batch_2.bin", 1, &c) == SN_OK && c.n == 6);
	CHECK(parse_file("cifar100/test.bin", 2, &c) == SN_EINVAL && c.n == 6);
	CHECK(parse_file("bad_cifar/label10.bin", 1, &c) == SN_EFORMAT && c.n == 6 && c.labels[5] == 0);
	sn_cifar_free(&c);
	CHECK(sn_cifar_parse("", 0, 1, "empty.bin", &c) == SN_EFORMAT && has(sn_errmsg(), "'empty.bin' is empty"));
	CHECK(sn_cifar_parse("", 0, 3, "x.bin", &c) == SN_EINVAL);

	/* a directory without its test batch: the training split loads, the test split names the file */
	CHECK(sn_cifar_load(fx(path, sizeof path, "cifar10_notest"), 1, &c) == SN_OK && c.n == 1 && c.names == NULL);
	sn_cifar_free(&c);
	CHECK(sn_cifar_load(path, 0, &c) == SN_EIO);
	CHECKF(has(sn_errmsg(), "cifar10_notest/test_batch.bin' is missing") && has(sn_errmsg(), "cifar-10-binary.tar.gz"),
	       "%s", sn_errmsg());
	CHECK(c.images == NULL && c.n == 0);
	CHECK(sn_cifar_load(fx(path, sizeof path, "bad_cifar"), 1, &c) == SN_EIO && has(sn_errmsg(), "no CIFAR"));
	CHECK(sn_cifar_load(fx(path, sizeof path, "absent"), 1, &c) == SN_EIO && has(sn_errmsg(), "absent"));
}

static int write_file(const char *dir, const char *name, const void *p, size_t n)
{
	char path[1024];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	if (!f) return -1;
	size_t w = n ? fwrite(p, 1, n, f) : 0;
	return fclose(f) || w != n ? -1 : 0;
}

TEST(cifar_directory_checks)
{
	char dir[256], path[512];
	sn_cifar c;
	unsigned char rec[3073] = {7};
	/* an empty test batch, then batches 1 and 3 without 2 */
	snprintf(dir, sizeof dir, "%s/cifar-gap", sn_test_tmpdir());
	REQUIRE(mkdir(dir, 0755) == 0);
	REQUIRE(write_file(dir, "test_batch.bin", rec, 0) == 0);
	CHECK(sn_cifar_load(dir, 0, &c) == SN_EFORMAT && has(sn_errmsg(), "test_batch.bin' is empty"));
	REQUIRE(write_file(dir, "data_batch_1.bin", rec, sizeof rec) == 0);
	REQUIRE(write_file(dir, "data_batch_3.bin", rec, sizeof rec) == 0);
	CHECK(sn_cifar_load(dir, 1, &c) == SN_EIO);
	CHECKF(has(sn_errmsg(), "data_batch_2.bin' is missing, yet data_batch_3.bin"), "%s", sn_errmsg());
	/* with batch 2 there, ten of them in numeric order (10 after 9, not after 1) */
	for (int k = 2; k <= 10; k++) {
		char name[32];
		snprintf(name, sizeof name, "data_batch_%d.bin", k);
		rec[0] = (unsigned char)(k % 10);
		REQUIRE(write_file(dir, name, rec, sizeof rec) == 0);
	}
	REQUIRE(sn_cifar_load(dir, 1, &c) == SN_OK);
	CHECK(c.n == 10 && c.labels[0] == 7 && c.labels[1] == 2 && c.labels[8] == 9 && c.labels[9] == 0);
	sn_cifar_free(&c);
	/* a names file with the wrong count is refused, naming it */
	const char names[] = "a\nb\n\n c \r\n";
	REQUIRE(write_file(dir, "batches.meta.txt", names, sizeof names - 1) == 0);
	CHECK(sn_cifar_load(dir, 1, &c) == SN_EFORMAT);
	CHECKF(has(sn_errmsg(), "batches.meta.txt' lists 3 class names but the batches have 10"), "%s", sn_errmsg());
	CHECK(c.images == NULL);
	/* names are trimmed, blank lines skipped */
	sn_cifar d = {.classes = 3};
	REQUIRE(sn_cifar_parse_names(names, sizeof names - 1, "n.txt", &d) == SN_OK);
	CHECK(!memcmp(d.names, "a\0b\0c\0", 6));
	sn_cifar_free(&d);
	snprintf(path, sizeof path, "%s/batches.meta.txt", dir);
	REQUIRE(remove(path) == 0);
}
