/* CIFAR-10 / CIFAR-100 binary batches (see cifar.h): finds the batch files of a split, reads
 * each whole (bounded by what the split may still hold), checks its size and every label
 * before allocating, and appends its records. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "data/cifar.h"
#include "io/io.h"

#define CIFAR_MAX_BATCH 1024            /* data_batch_<k>.bin: k in 1..this (the real set has 5) */
#define CIFAR_MAX_NAMES ((size_t)1 << 20)  /* bytes of a class-names file */
#define CIFAR100_COARSE 20

static int exists(const char *dir, const char *file)
{
	char p[PATH_MAX];
	struct stat st;
	return snprintf(p, sizeof p, "%s/%s", dir, file) < (int)sizeof p && stat(p, &st) == 0;
}

/* "data_batch_<k>.bin" with k a decimal number without leading zeros: k, else 0. */
static int batch_number(const char *s)
{
	static const char pre[] = "data_batch_";
	if (strncmp(s, pre, sizeof pre - 1)) return 0;
	s += sizeof pre - 1;
	int k = 0;
	if (*s < '1' || *s > '9') return 0;
	while (*s >= '0' && *s <= '9') {
		if (k > CIFAR_MAX_BATCH) return CIFAR_MAX_BATCH + 1;
		k = k * 10 + (*s++ - '0');
	}
	return strcmp(s, ".bin") ? 0 : k;
}

/* The CIFAR-10 training batches of dir: *count = the highest k of data_batch_<k>.bin (0 none);
 * SN_EIO naming the first missing one when they are not 1..count. */
static int scan_batches(const char *dir, int *count)
{
	*count = 0;
	DIR *d = opendir(dir);
	if (!d) return sn_seterr(SN_EIO, "cannot open the directory '%s': %s", dir, strerror(errno));
	unsigned char seen[CIFAR_MAX_BATCH + 1] = {0};
	int top = 0, over = 0;
	for (struct dirent *e; (e = readdir(d));) {
		int k = batch_number(e->d_name);
		if (k > CIFAR_MAX_BATCH) over = 1;
		else if (k) { seen[k] = 1; if (k > top) top = k; }
	}
	closedir(d);
	if (over)
		return sn_seterr(SN_EFORMAT, "'%s' has a data_batch_<k>.bin with k above %d; CIFAR-10 has data_batch_1.bin "
		                 "to data_batch_5.bin", dir, CIFAR_MAX_BATCH);
	for (int k = 1; k <= top; k++)
		if (!seen[k])
			return sn_seterr(SN_EIO, "'%s/data_batch_%d.bin' is missing, yet data_batch_%d.bin is there; unpack "
			                 "cifar-10-binary.tar.gz again", dir, k, top);
	*count = top;
	return SN_OK;
}

int sn_cifar_detect(const char *dir)
{
	if (!dir) return 0;
	if (exists(dir, "test_batch.bin") || exists(dir, "data_batch_1.bin")) return 10;
	int tr = exists(dir, "train.bin"), te = exists(dir, "test.bin");
	if ((tr && te) || ((tr || te) && exists(dir, "fine_label_names.txt"))) return 100;
	int n = 0;
	return scan_batches(dir, &n) == SN_OK && n ? 10 : 0;   /* e.g. data_batch_1.bin lost */
}

/* ---------------------------------------------------------------- parsing */

int sn_cifar_parse(const void *buf, size_t len, int label_bytes, const char *name, sn_cifar *out)
{
	if (!name) name = "(memory)";
	if (!out || (!buf && len) || (label_bytes != 1 && label_bytes != 2))
		return sn_seterr(SN_EINVAL, "sn_cifar_parse: bad arguments for '%s' (label_bytes must be 1 or 2)", name);
	const int classes = label_bytes == 1 ? 10 : 100;
	if (out->classes && out->classes != classes)
		return sn_seterr(SN_EINVAL, "'%s' is read as CIFAR-%d but joins CIFAR-%d batches; keep the two sets "
		                 "in separate directories", name, classes, out->classes);
	const size_t rec = SN_CIFAR_PIXELS + (size_t)label_bytes, other = SN_CIFAR_PIXELS + 3 - (size_t)label_bytes;
	if (len == 0)
		return sn_seterr(SN_EFORMAT, "'%s' is empty; a CIFAR-%d batch holds %zu-byte records: download it again",
		                 name, classes, rec);
	if (len % rec)
		return sn_seterr(SN_EFORMAT, "'%s' is %zu bytes, not a whole number of %zu-byte CIFAR-%d records (%zu bytes "
		                 "over)%s; the file is truncated or not a CIFAR-%d batch: download it again", name, len,
		                 rec, classes, len % rec, len % other ? "" : label_bytes == 1 ? ", but it would fit "
		                 "CIFAR-100 records" : ", but it would fit CIFAR-10 records", classes);
	const size_t k = len / rec, have = (size_t)out->n;
	if (k > SN_CIFAR_MAX_BYTES / SN_CIFAR_PIXELS - have)
		return sn_seterr(SN_EFORMAT, "'%s' brings the split to %zu images, more than the %llu bytes allowed; "
		                 "split the data set", name, have + k, (unsigned long long)SN_CIFAR_MAX_BYTES);
	const unsigned char *p = buf;
	for (size_t r = 0; r < k; r++) {
		const unsigned char *lab = p + r * rec;
		if (label_bytes == 2 && lab[0] >= CIFAR100_COARSE)
			return sn_seterr(SN_EFORMAT, "'%s' record %zu has coarse label %d, outside 0..%d; the file is corrupt "
			                 "or not a CIFAR-100 batch", name, r, lab[0], CIFAR100_COARSE - 1);
		if (lab[label_bytes - 1] >= classes)
			return sn_seterr(SN_EFORMAT, "'%s' record %zu has label %d, outside 0..%d; the file is corrupt or not "
			                 "a CIFAR-%d batch", name, r, lab[label_bytes - 1], classes - 1, classes);
	}
	/* the bound above keeps (have + k) * 3072 within 4 GiB, so no product overflows */
	uint8_t *img = realloc(out->images, (have + k) * SN_CIFAR_PIXELS);
	if (!img) return sn_seterr(SN_ENOMEM, "out of memory reading '%s' (%zu images)", name, have + k);
	out->images = img;   /* larger, same contents: *out stays valid if the next step fails */
	int32_t *lbl = realloc(out->labels, (have + k) * sizeof *lbl);
	if (!lbl) return sn_seterr(SN_ENOMEM, "out of memory reading '%s' (%zu labels)", name, have + k);
	out->labels = lbl;
	for (size_t r = 0; r < k; r++) {
		lbl[have + r] = p[r * rec + (size_t)label_bytes - 1];
		memcpy(img + (have + r) * SN_CIFAR_PIXELS, p + r * rec + (size_t)label_bytes, SN_CIFAR_PIXELS);
	}
	out->n = (int)(have + k);
	out->classes = classes;
	return SN_OK;
}

int sn_cifar_parse_names(const char *text, size_t len, const char *name, sn_cifar *out)
{
	if (!name) name = "(memory)";
	if (!out || (!text && len) || out->classes <= 0)
		return sn_seterr(SN_EINVAL, "sn_cifar_parse_names: bad arguments for '%s'", name);
	if (memchr(text, 0, len))
		return sn_seterr(SN_EFORMAT, "'%s' has a NUL byte; class names are a text file, one name per line", name);
	char *names = malloc(len + 1), *w = names;
	if (!names) return sn_seterr(SN_ENOMEM, "out of memory reading '%s'", name);
	int count = 0;
	for (const char *s = text, *end = text + len; s < end;) {
		const char *nl = memchr(s, '\n', (size_t)(end - s)), *e = nl ? nl : end;
		const char *a = s, *b = e;
		while (a < b && (*a == ' ' || *a == '\t' || *a == '\r')) a++;
		while (b > a && (b[-1] == ' ' || b[-1] == '\t' || b[-1] == '\r')) b--;
		if (b > a) {
			memcpy(w, a, (size_t)(b - a));
			w += b - a;
			*w++ = 0;
			count++;
		}
		s = nl ? nl + 1 : end;
	}
	if (count != out->classes) {
		free(names);
		return sn_seterr(SN_EFORMAT, "'%s' lists %d class names but the batches have %d classes; fix the file or "
		                 "remove it to use numbered classes", name, count, out->classes);
	}
	free(out->names);
	out->names = names;
	return SN_OK;
}

void sn_cifar_free(sn_cifar *c)
{
	if (!c) return;
	free(c->images);
	free(c->labels);
	free(c->names);
	memset(c, 0, sizeof *c);
}

/* ---------------------------------------------------------------- loading */

static int join(char *p, size_t len, const char *dir, const char *file)
{
	if (snprintf(p, len, "%s/%s", dir, file) >= (int)len)
		return sn_seterr(SN_EINVAL, "the path '%s/%s' is too long", dir, file);
	return SN_OK;
}

/* One batch file appended to out; fix says how to get it back when it is missing. */
static int load_batch(const char *dir, const char *file, int label_bytes, const char *fix, sn_cifar *out)
{
	char path[PATH_MAX];
	int rc = join(path, sizeof path, dir, file);
	if (rc) return rc;
	struct stat st;
	if (stat(path, &st) && errno == ENOENT)
		return sn_seterr(SN_EIO, "'%s' is missing; %s", path, fix);
	/* no more bytes than the records the split may still take */
	size_t rec = SN_CIFAR_PIXELS + (size_t)label_bytes;
	size_t max = (size_t)(SN_CIFAR_MAX_BYTES / SN_CIFAR_PIXELS - (size_t)out->n) * rec;
	unsigned char *p;
	size_t len;
	if ((rc = sn_read_file(path, max, &p, &len))) return rc;
	rc = sn_cifar_parse(p, len, label_bytes, path, out);
	free(p);
	return rc;
}

static int load_names(const char *dir, const char *file, sn_cifar *out)
{
	char path[PATH_MAX];
	int rc = join(path, sizeof path, dir, file);
	if (rc || !exists(dir, file)) return rc;
	unsigned char *p;
	size_t len;
	if ((rc = sn_read_file(path, CIFAR_MAX_NAMES, &p, &len))) return rc;
	rc = sn_cifar_parse_names((const char *)p, len, path, out);
	free(p);
	return rc;
}

int sn_cifar_load(const char *dir, int train, sn_cifar *out)
{
	if (!dir || !out) return sn_seterr(SN_EINVAL, "sn_cifar_load: missing argument");
	memset(out, 0, sizeof *out);
	struct stat st;
	if (stat(dir, &st)) return sn_seterr(SN_EIO, "cannot open '%s': %s", dir, strerror(errno));
	if (!S_ISDIR(st.st_mode)) return sn_seterr(SN_EIO, "'%s' is not a directory of CIFAR batches", dir);
	int kind = sn_cifar_detect(dir), rc = SN_OK;
	if (kind == 10) {
		const char *fix10 = "unpack cifar-10-binary.tar.gz again (CIFAR-10 needs data_batch_1.bin to "
		                    "data_batch_5.bin and test_batch.bin)";
		if (train) {
			int count;
			rc = scan_batches(dir, &count);
			if (rc == SN_OK && !count) rc = load_batch(dir, "data_batch_1.bin", 1, fix10, out);
			for (int k = 1; rc == SN_OK && k <= count; k++) {
				char file[32];
				snprintf(file, sizeof file, "data_batch_%d.bin", k);
				rc = load_batch(dir, file, 1, fix10, out);
			}
		} else {
			rc = load_batch(dir, "test_batch.bin", 1, fix10, out);
		}
		if (rc == SN_OK) rc = load_names(dir, "batches.meta.txt", out);
	} else if (kind == 100) {
		const char *fix100 = "unpack cifar-100-binary.tar.gz again (CIFAR-100 needs train.bin and test.bin)";
		rc = load_batch(dir, train ? "train.bin" : "test.bin", 2, fix100, out);
		if (rc == SN_OK) rc = load_names(dir, "fine_label_names.txt", out);
	} else {
		rc = sn_seterr(SN_EIO, "'%s' holds no CIFAR binary batches (CIFAR-10: data_batch_1.bin .. data_batch_5.bin "
		               "and test_batch.bin; CIFAR-100: train.bin and test.bin); unpack cifar-10-binary.tar.gz or "
		               "cifar-100-binary.tar.gz and name the folder inside", dir);
	}
	if (rc) sn_cifar_free(out);
	return rc;
}
