/* Data and file-format tests: IDX, Fashion-MNIST, batches and augmentation, .npy, atomic
 * writes and the byte buffer. */
#include <dirent.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>
#include "test.h"
#include "slimnn.h"
#include "data/data.h"
#include "io/io.h"

/* ---------------------------------------------------------------- helpers */

static const char *tpath(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", sn_test_tmpdir(), name);
	return buf;
}

static int write_raw(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");
	if (!f) return -1;
	size_t w = fwrite(p, 1, n, f);
	return fclose(f) || w != n ? -1 : 0;
}

static int write_gz(const char *path, const void *p, size_t n)
{
	gzFile f = gzopen(path, "wb");
	if (!f) return -1;
	int w = n ? gzwrite(f, p, (unsigned)n) : 0;
	return gzclose(f) != Z_OK || (size_t)w != n ? -1 : 0;
}

/* An IDX image of ndim dims followed by body_n body bytes (which need not match the dims). */
static unsigned char *idx_bytes(int ndim, const uint32_t *dims, const uint8_t *body, size_t body_n,
                                size_t *len)
{
	*len = 4 + 4 * (size_t)ndim + body_n;
	unsigned char *p = malloc(*len);
	p[0] = 0; p[1] = 0; p[2] = 0x08; p[3] = (unsigned char)ndim;
	for (int i = 0; i < ndim; i++) {
		unsigned char *q = p + 4 + 4 * i;
		q[0] = (unsigned char)(dims[i] >> 24); q[1] = (unsigned char)(dims[i] >> 16);
		q[2] = (unsigned char)(dims[i] >> 8); q[3] = (unsigned char)dims[i];
	}
	if (body_n) memcpy(p + 4 + 4 * ndim, body, body_n);
	return p;
}

static int write_idx(const char *path, int gz, int ndim, const uint32_t *dims, const uint8_t *body,
                     size_t body_n)
{
	size_t len;
	unsigned char *p = idx_bytes(ndim, dims, body, body_n, &len);
	int rc = gz ? write_gz(path, p, len) : write_raw(path, p, len);
	free(p);
	return rc;
}

static uint8_t *pattern(size_t n, unsigned seed)
{
	uint8_t *p = malloc(n ? n : 1);
	uint32_t s = seed * 2654435761u + 1;
	for (size_t i = 0; i < n; i++) { s = s * 1664525u + 1013904223u; p[i] = (uint8_t)(s >> 24); }
	return p;
}

static int contains(const char *hay, const char *needle) { return strstr(hay, needle) != NULL; }

/* ---------------------------------------------------------------- IDX */

TEST(idx_roundtrip)
{
	const uint32_t d1[1] = {7}, d3[3] = {3, 4, 5};
	for (int gz = 0; gz < 2; gz++) {
		for (int nd = 1; nd <= 3; nd += 2) {
			const uint32_t *dims = nd == 1 ? d1 : d3;
			size_t n = nd == 1 ? 7 : 60;
			uint8_t *body = pattern(n, (unsigned)(gz * 10 + nd));
			char path[512], name[64];
			snprintf(name, sizeof name, "rt%d-%d.idx%s", nd, gz, gz ? ".gz" : "");
			REQUIRE(write_idx(tpath(path, sizeof path, name), gz, nd, dims, body, n) == 0);
			int got[4] = {0};
			uint8_t *data = NULL;
			int rc = sn_idx_read(path, nd, got, &data);
			CHECKF(rc == SN_OK, "%s: %s", path, sn_errmsg());
			if (rc == SN_OK) {
				for (int i = 0; i < nd; i++) CHECK(got[i] == (int)dims[i]);
				CHECK(memcmp(data, body, n) == 0);
			}
			free(data);
			free(body);
		}
	}
}

TEST(idx_truncated)
{
	const uint32_t dims[3] = {3, 4, 5};
	uint8_t *body = pattern(60, 1);
	char path[512];
	for (int gz = 0; gz < 2; gz++) {
		tpath(path, sizeof path, gz ? "trunc.idx.gz" : "trunc.idx");
		REQUIRE(write_idx(path, gz, 3, dims, body, 55) == 0);
		int d[4];
		uint8_t *data = (uint8_t *)1;
		CHECK(sn_idx_read(path, 3, d, &data) == SN_EFORMAT);
		CHECK(data == NULL);
		CHECKF(contains(sn_errmsg(), path) && contains(sn_errmsg(), "60") && contains(sn_errmsg(), "55"),
		       "message: %s", sn_errmsg());
	}
	/* a header cut short */
	tpath(path, sizeof path, "trunc-head.idx");
	size_t len;
	unsigned char *p = idx_bytes(3, dims, body, 0, &len);
	REQUIRE(write_raw(path, p, 9) == 0);
	int d[4];
	uint8_t *data = NULL;
	CHECK(sn_idx_read(path, 3, d, &data) == SN_EFORMAT);
	CHECK(contains(sn_errmsg(), path));
	/* a gzip stream cut in half: zlib reports it, we must not accept it */
	unsigned char *full = idx_bytes(3, dims, body, 60, &len);
	uLongf clen = compressBound(len) + 32;
	unsigned char *z = malloc(clen);
	tpath(path, sizeof path, "full.idx.gz");
	REQUIRE(write_gz(path, full, len) == 0);
	FILE *f = fopen(path, "rb");
	REQUIRE(f);
	size_t zn = fread(z, 1, clen, f);
	fclose(f);
	tpath(path, sizeof path, "cut.idx.gz");
	REQUIRE(write_raw(path, z, zn / 2) == 0);
	CHECK(sn_idx_read(path, 3, d, &data) == SN_EFORMAT);
	CHECK(data == NULL);
	CHECKF(contains(sn_errmsg(), path), "message: %s", sn_errmsg());
	free(z);
	free(full);
	free(p);
	free(body);
}

TEST(idx_bad_magic)
{
	const uint32_t dims[1] = {4};
	const uint8_t body[4] = {1, 2, 3, 4};
	size_t len;
	char path[512];
	int d[4];
	uint8_t *data = NULL;
	for (int k = 0; k < 3; k++) {
		unsigned char *p = idx_bytes(1, dims, body, 4, &len);
		if (k == 0) p[0] = 1;          /* not zero */
		if (k == 1) p[1] = 0x20;
		if (k == 2) p[2] = 0x0D;       /* float element type */
		tpath(path, sizeof path, "magic.idx");
		REQUIRE(write_raw(path, p, len) == 0);
		CHECK(sn_idx_read(path, 1, d, &data) == SN_EFORMAT);
		CHECK(data == NULL);
		CHECKF(contains(sn_errmsg(), path), "message: %s", sn_errmsg());
		free(p);
	}
	/* too short for even the magic */
	REQUIRE(write_raw(path, "\0\0", 2) == 0);
	CHECK(sn_idx_read(path, 1, d, &data) == SN_EFORMAT);
	/* missing file */
	tpath(path, sizeof path, "no-such.idx");
	CHECK(sn_idx_read(path, 1, d, &data) == SN_EIO);
	CHECK(contains(sn_errmsg(), path));
}

TEST(idx_wrong_ndim)
{
	const uint32_t dims[3] = {2, 2, 2};
	uint8_t body[8] = {0};
	char path[512];
	tpath(path, sizeof path, "ndim.idx");
	REQUIRE(write_idx(path, 0, 3, dims, body, 8) == 0);
	int d[4];
	uint8_t *data = NULL;
	CHECK(sn_idx_read(path, 1, d, &data) == SN_EFORMAT);
	CHECKF(contains(sn_errmsg(), "3") && contains(sn_errmsg(), "1"), "message: %s", sn_errmsg());
	CHECK(sn_idx_read(path, 3, d, &data) == SN_OK);
	free(data);
	CHECK(sn_idx_read(path, 5, d, &data) == SN_EINVAL);
}

/* Reads `path` in a child whose address space is capped at its current size + 256 MB: a reader
 * that trusts the header and allocates ~1 GB fails there (NULL or a sanitizer abort). */
static int read_in_capped_child(const char *path, int ndim)
{
	pid_t pid = fork();
	if (pid < 0) return -100;
	if (pid == 0) {
		long kb = 0;
		char line[256];
		FILE *f = fopen("/proc/self/status", "r");
		while (f && fgets(line, sizeof line, f))
			if (sscanf(line, "VmSize: %ld kB", &kb) == 1) break;
		if (f) fclose(f);
		if (kb > 0) {
			struct rlimit rl = {(rlim_t)kb * 1024 + ((rlim_t)256 << 20), RLIM_INFINITY};
			rl.rlim_max = rl.rlim_cur;
			setrlimit(RLIMIT_AS, &rl);
		}
		int d[4];
		uint8_t *data = NULL;
		int rc = sn_idx_read(path, ndim, d, &data);
		free(data);
		_exit(rc == SN_EFORMAT ? 0 : 10 - rc);
	}
	int st = 0;
	if (waitpid(pid, &st, 0) != pid) return -101;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -102;
}

TEST(idx_forged_dims)
{
	/* 1024 x 1024 x 1000: just under the 1 GiB bound, but the file holds 100 bytes */
	const uint32_t dims[3] = {1024, 1024, 1000};
	uint8_t *body = pattern(100, 3);
	char path[512];
	int d[4];
	uint8_t *data = NULL;
	for (int gz = 0; gz < 2; gz++) {
		tpath(path, sizeof path, gz ? "forged.idx.gz" : "forged.idx");
		REQUIRE(write_idx(path, gz, 3, dims, body, 100) == 0);
		struct timespec t0, t1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		CHECK(sn_idx_read(path, 3, d, &data) == SN_EFORMAT);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		double s = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
		CHECKF(s < 0.5, "reading a forged 100-byte file took %.3f s", s);
		CHECK(data == NULL);
		CHECKF(contains(sn_errmsg(), "truncated"), "message: %s", sn_errmsg());
		int child = read_in_capped_child(path, 3);
		CHECKF(child == 0, "capped child returned %d (the reader allocated too much?)", child);
	}
	/* more than 1 GiB claimed, and a zero dimension */
	const uint32_t huge[3] = {65536, 65536, 65536}, zero[3] = {0, 28, 28};
	tpath(path, sizeof path, "huge.idx");
	REQUIRE(write_idx(path, 0, 3, huge, body, 100) == 0);
	CHECK(sn_idx_read(path, 3, d, &data) == SN_EFORMAT);
	CHECK(contains(sn_errmsg(), path));
	REQUIRE(write_idx(path, 0, 3, zero, body, 100) == 0);
	CHECK(sn_idx_read(path, 3, d, &data) == SN_EFORMAT);
	CHECK(data == NULL);
	free(body);
}

TEST(idx_trailing_bytes)
{
	const uint32_t dims[1] = {10};
	uint8_t *body = pattern(11, 4);
	char path[512];
	for (int gz = 0; gz < 2; gz++) {
		tpath(path, sizeof path, gz ? "trail.idx.gz" : "trail.idx");
		REQUIRE(write_idx(path, gz, 1, dims, body, 11) == 0);
		int d[4];
		uint8_t *data = NULL;
		CHECK(sn_idx_read(path, 1, d, &data) == SN_EFORMAT);
		CHECK(data == NULL);
		CHECKF(contains(sn_errmsg(), "trailing") && contains(sn_errmsg(), path), "message: %s", sn_errmsg());
	}
	free(body);
}

/* ---------------------------------------------------------------- Fashion-MNIST files */

/* A small fake Fashion-MNIST in tmpdir/name: ntr training and nte test images of side x side. */
static void fake_dir(char *dir, size_t len, const char *name, int ntr, int nte, int side, int gz)
{
	snprintf(dir, len, "%s/%s", sn_test_tmpdir(), name);
	mkdir(dir, 0777);
	const char *pre[2] = {"train", "t10k"};
	int n[2] = {ntr, nte};
	for (int s = 0; s < 2; s++) {
		char path[600];
		uint32_t di[3] = {(uint32_t)n[s], (uint32_t)side, (uint32_t)side}, dl[1] = {(uint32_t)n[s]};
		uint8_t *img = pattern((size_t)n[s] * side * side, (unsigned)(s + 7));
		uint8_t *lab = pattern((size_t)n[s], (unsigned)(s + 9));
		for (int i = 0; i < n[s]; i++) lab[i] %= 10;
		snprintf(path, sizeof path, "%s/%s-images-idx3-ubyte%s", dir, pre[s], gz ? ".gz" : "");
		write_idx(path, gz, 3, di, img, (size_t)n[s] * side * side);
		snprintf(path, sizeof path, "%s/%s-labels-idx1-ubyte%s", dir, pre[s], gz ? ".gz" : "");
		write_idx(path, gz, 1, dl, lab, (size_t)n[s]);
		free(img);
		free(lab);
	}
}

TEST(fmnist_real)
{
	sn_dataset tr, te;
	int rc = sn_fmnist_load(SN_FMNIST_DIR, &tr, &te, 0);
	CHECKF(rc == SN_OK, "%s", sn_errmsg());
	if (rc) return;
	CHECK(tr.n == 60000 && te.n == 10000);
	CHECK(tr.c == 1 && tr.h == 28 && tr.w == 28 && te.c == 1 && te.h == 28 && te.w == 28);
	CHECK(tr.classes == 10 && te.classes == 10);
	int ctr[10] = {0}, cte[10] = {0};
	for (int i = 0; i < tr.n; i++) ctr[tr.labels[i]]++;
	for (int i = 0; i < te.n; i++) cte[te.labels[i]]++;
	for (int k = 0; k < 10; k++) CHECKF(ctr[k] == 6000 && cte[k] == 1000, "class %d: %d / %d", k, ctr[k], cte[k]);
	CHECK_NEAR(tr.norm.mean[0], 0.2860, 1e-4);
	CHECK_NEAR(tr.norm.std[0], 0.3530, 1e-4);
	CHECK(te.norm.mean[0] == tr.norm.mean[0] && te.norm.std[0] == tr.norm.std[0]);
	CHECK(tr.labels[0] == 9 && te.labels[0] == 9);   /* both splits open with an ankle boot */
	/* the batch of the first image reproduces its bytes */
	float x[784];
	int32_t y;
	int i0 = 0;
	sn_dataset_batch(&tr, &i0, 1, NULL, NULL, x, &y);
	CHECK(y == 9);
	double err = 0;
	for (int j = 0; j < 784; j++) err = fmax(err, fabs(x[j] * tr.norm.std[0] + tr.norm.mean[0] - tr.images[j] / 255.0));
	CHECK(err < 1e-5);
	sn_dataset_free(&tr);
	sn_dataset_free(&te);
	CHECK(tr.images == NULL && tr.n == 0);
}

TEST(fmnist_real_limit)
{
	sn_dataset tr, te;
	REQUIRE(sn_fmnist_load(NULL, &tr, &te, 100) == SN_OK);
	CHECK(tr.n == 100 && te.n == 100);
	/* normalisation still comes from the whole training split */
	CHECK_NEAR(tr.norm.mean[0], 0.2860, 1e-4);
	CHECK_NEAR(te.norm.std[0], 0.3530, 1e-4);
	CHECK(tr.labels[0] == 9);
	sn_dataset_free(&tr);
	sn_dataset_free(&te);
}

TEST(fmnist_fake_stats_and_limit)
{
	char dir[512];
	fake_dir(dir, sizeof dir, "fake1", 5, 3, 28, 1);
	sn_dataset tr, te, tr2, te2;
	REQUIRE(sn_fmnist_load(dir, &tr, &te, 0) == SN_OK);
	CHECK(tr.n == 5 && te.n == 3);
	double s1 = 0, s2 = 0, n = 5 * 784;
	for (int i = 0; i < 5 * 784; i++) { double v = tr.images[i] / 255.0; s1 += v; s2 += v * v; }
	double m = s1 / n, sd = sqrt(s2 / n - m * m);
	CHECK_NEAR(tr.norm.mean[0], m, 1e-6);
	CHECK_NEAR(tr.norm.std[0], sd, 1e-6);
	/* limit keeps the first samples and the full-split statistics */
	REQUIRE(sn_fmnist_load(dir, &tr2, &te2, 2) == SN_OK);
	CHECK(tr2.n == 2 && te2.n == 2);
	CHECK(tr2.norm.mean[0] == tr.norm.mean[0] && tr2.norm.std[0] == tr.norm.std[0] && te2.norm.mean[0] == tr.norm.mean[0]);
	CHECK(memcmp(tr2.images, tr.images, 2 * 784) == 0 && memcmp(tr2.labels, tr.labels, 2 * sizeof *tr.labels) == 0);
	CHECK(memcmp(te2.images, te.images, 2 * 784) == 0);
	sn_dataset_free(&tr2);
	sn_dataset_free(&te2);
	/* a limit above the size keeps everything */
	REQUIRE(sn_fmnist_load(dir, &tr2, &te2, 4) == SN_OK);
	CHECK(tr2.n == 4 && te2.n == 3);
	sn_dataset_free(&tr2);
	sn_dataset_free(&te2);
	/* test split optional */
	REQUIRE(sn_fmnist_load(dir, &tr2, NULL, 0) == SN_OK);
	CHECK(tr2.n == 5);
	sn_dataset_free(&tr2);
	sn_dataset_free(&tr);
	sn_dataset_free(&te);
}

TEST(fmnist_prefers_gz)
{
	char dir[512], path[600];
	fake_dir(dir, sizeof dir, "fake2", 4, 2, 28, 1);
	/* an uncompressed twin with different labels must be ignored */
	uint32_t dl[1] = {4};
	uint8_t lab[4] = {9, 9, 9, 9};
	snprintf(path, sizeof path, "%s/train-labels-idx1-ubyte", dir);
	write_idx(path, 0, 1, dl, lab, 4);
	sn_dataset tr, te;
	REQUIRE(sn_fmnist_load(dir, &tr, &te, 0) == SN_OK);
	uint8_t *want = pattern(4, 9);
	int same = 1;
	for (int i = 0; i < 4; i++) same &= tr.labels[i] == want[i] % 10;
	CHECK(same);
	free(want);
	sn_dataset_free(&tr);
	sn_dataset_free(&te);
	/* plain files alone work too */
	fake_dir(dir, sizeof dir, "fake3", 4, 2, 28, 0);
	REQUIRE(sn_fmnist_load(dir, &tr, &te, 0) == SN_OK);
	CHECK(tr.n == 4 && te.n == 2);
	sn_dataset_free(&tr);
	sn_dataset_free(&te);
}

TEST(fmnist_missing)
{
	sn_dataset tr, te;
	const char *nodir = "/nonexistent/slimnn-data-dir";
	CHECK(sn_fmnist_load(nodir, &tr, &te, 0) == SN_EIO);
	CHECKF(contains(sn_errmsg(), nodir) && contains(sn_errmsg(), "dataset-fashion-mnist")
	       && contains(sn_errmsg(), "--data"), "message: %s", sn_errmsg());
	CHECK(tr.images == NULL && te.images == NULL);

	char dir[512], path[600];
	fake_dir(dir, sizeof dir, "fake4", 3, 2, 28, 1);
	snprintf(path, sizeof path, "%s/t10k-labels-idx1-ubyte.gz", dir);
	unlink(path);
	CHECK(sn_fmnist_load(dir, &tr, &te, 0) == SN_EIO);
	CHECKF(contains(sn_errmsg(), "t10k-labels-idx1-ubyte") && contains(sn_errmsg(), dir),
	       "message: %s", sn_errmsg());
	CHECK(tr.images == NULL && tr.n == 0);
}

TEST(fmnist_inconsistent)
{
	char dir[512], path[600];
	sn_dataset tr, te;
	/* labels count differs from images */
	fake_dir(dir, sizeof dir, "fake5", 4, 2, 28, 0);
	uint32_t dl[1] = {3};
	uint8_t lab[4] = {1, 2, 3, 4};
	snprintf(path, sizeof path, "%s/train-labels-idx1-ubyte", dir);
	write_idx(path, 0, 1, dl, lab, 3);
	CHECK(sn_fmnist_load(dir, &tr, &te, 0) == SN_EFORMAT);
	CHECKF(contains(sn_errmsg(), "4 images") && contains(sn_errmsg(), "3 labels"), "message: %s", sn_errmsg());
	/* a label beyond 9: an eleventh class (a 10-output model then refuses the data) */
	dl[0] = 4;
	lab[2] = 10;
	write_idx(path, 0, 1, dl, lab, 4);
	REQUIRE(sn_fmnist_load(dir, &tr, &te, 0) == SN_OK);
	CHECK(tr.classes == 11 && te.classes == 11);
	sn_dataset_free(&tr);
	sn_dataset_free(&te);
	/* other sizes load; splits of different sizes do not */
	fake_dir(dir, sizeof dir, "fake6", 2, 2, 27, 0);
	REQUIRE(sn_fmnist_load(dir, &tr, &te, 0) == SN_OK);
	CHECK(tr.h == 27 && tr.w == 27 && te.h == 27);
	sn_dataset_free(&tr);
	sn_dataset_free(&te);
	uint32_t d28[3] = {2, 28, 28};
	uint8_t *img = pattern(2 * 28 * 28, 3);
	snprintf(path, sizeof path, "%s/t10k-images-idx3-ubyte", dir);
	write_idx(path, 0, 3, d28, img, 2 * 28 * 28);
	free(img);
	CHECK(sn_fmnist_load(dir, &tr, &te, 0) == SN_EFORMAT);
	CHECKF(contains(sn_errmsg(), "27x27") && contains(sn_errmsg(), "28x28"), "message: %s", sn_errmsg());
	CHECK(tr.images == NULL && te.images == NULL);
}

/* ---------------------------------------------------------------- batches and augmentation */

enum { BN = 6, BC = 2, BH = 5, BW = 7 };

/* A hand-made dataset with non-square, two-channel images so row/column mix-ups show. */
static sn_dataset small_set(void)
{
	sn_dataset d = {.n = BN, .c = BC, .h = BH, .w = BW, .classes = 10, .norm = {.c = 1, .mean = {0.3f}, .std = {0.25f}}};
	d.images = pattern((size_t)BN * BC * BH * BW, 11);
	d.labels = malloc(BN * sizeof *d.labels);
	for (int i = 0; i < BN; i++) d.labels[i] = i * 3 % 10;
	return d;
}

static float norm(const sn_dataset *d, int v) { return (float)((v / 255.0 - d->norm.mean[0]) / d->norm.std[0]); }

/* Reference augmentation: pad by p with raw zeros, crop at (top, left), then mirror. */
static float ref_pixel(const sn_dataset *d, int s, int ch, int r, int c, int p, int top, int left, int flip)
{
	int cc = flip ? d->w - 1 - c : c;
	int sr = r + top - p, sc = cc + left - p;
	int v = 0;
	if (sr >= 0 && sr < d->h && sc >= 0 && sc < d->w)
		v = d->images[(((size_t)s * d->c + ch) * d->h + sr) * d->w + sc];
	return norm(d, v);
}

TEST(data_batch_normalise)
{
	sn_dataset d = small_set();
	int idx[3] = {4, 0, 5};
	size_t chw = BC * BH * BW;
	float x[3 * BC * BH * BW];
	int32_t y[3];
	sn_dataset_batch(&d, idx, 3, NULL, NULL, x, y);
	int bad = 0;
	for (int i = 0; i < 3; i++) {
		CHECK(y[i] == d.labels[idx[i]]);
		for (size_t j = 0; j < chw; j++) {
			double want = (d.images[idx[i] * chw + j] / 255.0 - 0.3) / 0.25;
			if (fabs(x[i * chw + j] - want) > 1e-6) bad++;
		}
	}
	CHECK(bad == 0);
	CHECK_NEAR(norm(&d, 0), -1.2, 1e-6);
	CHECK_NEAR(norm(&d, 255), 2.8, 1e-6);
	sn_dataset_free(&d);
}

TEST(data_batch_aug_off_is_plain)
{
	sn_dataset d = small_set();
	int idx[BN] = {0, 1, 2, 3, 4, 5};
	float a[BN * BC * BH * BW], b[BN * BC * BH * BW];
	int32_t ya[BN], yb[BN];
	sn_augment off = {0};
	sn_rng r;
	sn_rng_seed(&r, 5);
	sn_rng before = r;
	sn_dataset_batch(&d, idx, BN, NULL, NULL, a, ya);
	sn_dataset_batch(&d, idx, BN, &off, &r, b, yb);
	CHECK(memcmp(a, b, sizeof a) == 0 && memcmp(ya, yb, sizeof ya) == 0);
	CHECK(memcmp(&r, &before, sizeof r) == 0);   /* no random numbers consumed */
	sn_dataset_free(&d);
}

/* Batch with augmentation vs the reference, reproducing the draws from a copy of the rng. */
static int check_aug(int pad, int hflip, uint64_t seed, int *n_flipped, int *n_shifted)
{
	sn_dataset d = small_set();
	int idx[BN] = {3, 1, 4, 1, 5, 0};
	float x[BN * BC * BH * BW];
	int32_t y[BN];
	sn_augment aug = {.crop_pad = pad, .hflip = hflip};
	sn_rng r, ref;
	sn_rng_seed(&r, seed);
	ref = r;
	sn_dataset_batch(&d, idx, BN, &aug, &r, x, y);
	int bad = 0;
	for (int i = 0; i < BN; i++) {
		int top = 0, left = 0, flip = 0;
		if (pad) {
			top = (int)sn_rng_below(&ref, 2 * pad + 1);
			left = (int)sn_rng_below(&ref, 2 * pad + 1);
		}
		if (hflip) flip = sn_rng_uniform(&ref) < 0.5f;
		*n_flipped += flip;
		*n_shifted += top != pad || left != pad;
		for (int ch = 0; ch < BC; ch++)
			for (int rr = 0; rr < BH; rr++)
				for (int c = 0; c < BW; c++) {
					float want = ref_pixel(&d, idx[i], ch, rr, c, pad, top, left, flip);
					float got = x[(((size_t)i * BC + ch) * BH + rr) * BW + c];
					if (fabsf(got - want) > 1e-5f && !bad++)
						fprintf(stderr, "  sample %d (%d,%d,%d): got %g, want %g\n", i, ch, rr, c, got, want);
				}
		if (y[i] != d.labels[idx[i]]) bad++;
	}
	if (memcmp(&r, &ref, sizeof r)) bad++;   /* same number of draws as the reference */
	sn_dataset_free(&d);
	return bad;
}

TEST(data_batch_crop_shift)
{
	int flipped = 0, shifted = 0;
	for (uint64_t seed = 1; seed <= 20; seed++) {
		CHECKF(check_aug(2, 0, seed, &flipped, &shifted) == 0, "pad 2 seed %llu", (unsigned long long)seed);
		CHECKF(check_aug(2, 1, seed, &flipped, &shifted) == 0, "pad 2 + flip seed %llu", (unsigned long long)seed);
		/* padding wider than the image: whole rows and columns of padding */
		CHECKF(check_aug(9, 1, seed, &flipped, &shifted) == 0, "pad 9 seed %llu", (unsigned long long)seed);
	}
	CHECK(flipped > 0 && shifted > 0);

	/* one shift spelled out: the image moved down 1 and left 2 (top = pad-1, left = pad+2) */
	sn_dataset d = small_set();
	sn_augment aug = {.crop_pad = 3};
	uint64_t seed;
	sn_rng r;
	for (seed = 1; seed < 100000; seed++) {
		sn_rng_seed(&r, seed);
		if (sn_rng_below(&r, 7) == 2 && sn_rng_below(&r, 7) == 5) break;
	}
	REQUIRE(seed < 100000);
	sn_rng_seed(&r, seed);
	int i0 = 2;
	float x[BC * BH * BW];
	sn_dataset_batch(&d, &i0, 1, &aug, &r, x, NULL);
	int bad = 0;
	for (int ch = 0; ch < BC; ch++)
		for (int rr = 0; rr < BH; rr++)
			for (int c = 0; c < BW; c++) {
				int sr = rr - 1, sc = c + 2;
				int v = sr >= 0 && sc < BW ? d.images[((2 * BC + ch) * BH + sr) * BW + sc] : 0;
				if (fabsf(x[(ch * BH + rr) * BW + c] - norm(&d, v)) > 1e-5f) bad++;
			}
	CHECK(bad == 0);
	sn_dataset_free(&d);
}

TEST(data_batch_hflip)
{
	int flipped = 0, shifted = 0;
	for (uint64_t seed = 1; seed <= 10; seed++)
		CHECK(check_aug(0, 1, seed, &flipped, &shifted) == 0);
	CHECK(flipped > 10 && flipped < 50 && shifted == 0);   /* 60 draws at p = 0.5 */
}

TEST(data_batch_deterministic)
{
	sn_dataset d = small_set();
	int idx[BN] = {5, 4, 3, 2, 1, 0};
	float a[BN * BC * BH * BW], b[BN * BC * BH * BW], c[BN * BC * BH * BW];
	sn_augment aug = {.crop_pad = 2, .hflip = 1};
	sn_rng r;
	sn_rng_seed(&r, 42);
	sn_dataset_batch(&d, idx, BN, &aug, &r, a, NULL);
	sn_rng_seed(&r, 42);
	sn_dataset_batch(&d, idx, BN, &aug, &r, b, NULL);
	sn_rng_seed(&r, 43);
	sn_dataset_batch(&d, idx, BN, &aug, &r, c, NULL);
	CHECK(memcmp(a, b, sizeof a) == 0);
	CHECK(memcmp(a, c, sizeof a) != 0);
	sn_dataset_free(&d);
}

/* ---------------------------------------------------------------- .npy */

static unsigned char *slurp(const char *path, size_t *n)
{
	unsigned char *p = NULL;
	return sn_read_file(path, 1 << 26, &p, n) == SN_OK ? p : NULL;
}

TEST(npy_roundtrip)
{
	struct { int ndim, dims[4]; } cases[] = {{0, {0}}, {1, {5}}, {4, {2, 3, 4, 5}}, {2, {0, 3}}, {1, {1}}};
	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		int nd = cases[k].ndim;
		size_t n = 1;
		for (int i = 0; i < nd; i++) n *= (size_t)cases[k].dims[i];
		float *v = malloc((n ? n : 1) * sizeof(float));
		for (size_t i = 0; i < n; i++) v[i] = (float)i * 0.37f - 3.0f;
		char path[512], name[32];
		snprintf(name, sizeof name, "rt%zu.npy", k);
		tpath(path, sizeof path, name);
		int rc = sn_npy_write(path, nd, cases[k].dims, v);
		CHECKF(rc == SN_OK, "%s", sn_errmsg());
		int gnd = -1, gd[8];
		float *g = NULL;
		rc = sn_npy_read(path, &gnd, gd, &g);
		CHECKF(rc == SN_OK, "%s", sn_errmsg());
		if (rc == SN_OK) {
			CHECK(gnd == nd);
			for (int i = 0; i < nd && i < gnd; i++) CHECK(gd[i] == cases[k].dims[i]);
			CHECK(n == 0 || memcmp(g, v, n * sizeof(float)) == 0);
		}
		size_t len = 0;
		unsigned char *raw = slurp(path, &len);
		REQUIRE(raw);
		CHECK((len - n * 4) % 64 == 0);            /* data 64-byte aligned, as numpy does */
		CHECK(raw[6] == 1 && raw[7] == 0);
		CHECK(raw[len - n * 4 - 1] == '\n');
		free(raw);
		free(g);
		free(v);
	}
	/* the header text numpy itself writes */
	char path[512];
	int dims[2] = {2, 3};
	float v[6] = {0};
	REQUIRE(sn_npy_write(tpath(path, sizeof path, "hdr.npy"), 2, dims, v) == SN_OK);
	size_t len;
	unsigned char *raw = slurp(path, &len);
	REQUIRE(raw);
	const char *want = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
	CHECK(len == 128 + 24 && memcmp(raw + 10, want, strlen(want)) == 0);
	CHECK(raw[8] == 118 && raw[9] == 0);
	free(raw);
	int five = 5;
	REQUIRE(sn_npy_write(path, 1, &five, v) == SN_OK);
	raw = slurp(path, &len);
	REQUIRE(raw);
	CHECK(contains((char *)raw + 10, "'shape': (5,), }"));
	free(raw);
}

/* A .npy file from its parts: version, header dict (padded to 64 with '\n'), data. */
static int write_npy_raw(const char *path, int major, const char *dict, const void *data, size_t n)
{
	size_t pre = major == 1 ? 10 : 12, dl = strlen(dict);
	size_t hlen = dl + 1;
	hlen += (64 - (pre + hlen) % 64) % 64;
	sn_buf b = {0};
	sn_buf_put(&b, "\x93NUMPY", 6);
	unsigned char ver[2] = {(unsigned char)major, 0};
	sn_buf_put(&b, ver, 2);
	if (major == 1) { unsigned char h[2] = {(unsigned char)hlen, (unsigned char)(hlen >> 8)}; sn_buf_put(&b, h, 2); }
	else sn_buf_u32(&b, (uint32_t)hlen);
	sn_buf_put(&b, dict, dl);
	for (size_t i = dl; i + 1 < hlen; i++) sn_buf_put(&b, " ", 1);
	sn_buf_put(&b, "\n", 1);
	sn_buf_put(&b, data, n);
	int rc = write_raw(path, b.p, b.len);
	sn_buf_free(&b);
	return rc;
}

TEST(npy_read_f8_and_v2)
{
	char path[512];
	/* keys in another order, no trailing comma, extra spaces, double quotes */
	sn_buf d = {0};
	double vals[3] = {1.5, -2.25, 1e-3};
	for (int i = 0; i < 3; i++) { uint64_t u; memcpy(&u, &vals[i], 8); sn_buf_u64(&d, u); }
	REQUIRE(write_npy_raw(tpath(path, sizeof path, "f8.npy"), 1,
	                      "{ \"shape\" : (3 ,),'fortran_order':False, 'descr': '<f8' }", d.p, d.len) == 0);
	int nd, dims[8];
	float *g = NULL;
	int rc = sn_npy_read(path, &nd, dims, &g);
	CHECKF(rc == SN_OK, "%s", sn_errmsg());
	if (rc == SN_OK) {
		CHECK(nd == 1 && dims[0] == 3);
		CHECK(g[0] == 1.5f && g[1] == -2.25f && g[2] == 1e-3f);
	}
	free(g);
	sn_buf_free(&d);
	/* version 2.0 with float32, a 2-D shape */
	float f[6] = {1, 2, 3, 4, 5, 6};
	REQUIRE(write_npy_raw(path, 2, "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }", f, sizeof f) == 0);
	g = NULL;
	rc = sn_npy_read(path, &nd, dims, &g);
	CHECKF(rc == SN_OK, "%s", sn_errmsg());
	if (rc == SN_OK) CHECK(nd == 2 && dims[0] == 3 && dims[1] == 2 && memcmp(g, f, sizeof f) == 0);
	free(g);
}

static int npy_rejects(const char *name, int major, const char *dict, const void *data, size_t n,
                       const char *needle)
{
	char path[512];
	tpath(path, sizeof path, name);
	if (write_npy_raw(path, major, dict, data, n)) return 0;
	int nd, dims[8];
	float *g = (float *)1;
	int rc = sn_npy_read(path, &nd, dims, &g);
	int ok = rc == SN_EFORMAT && g == NULL && contains(sn_errmsg(), path) &&
	         (!needle || contains(sn_errmsg(), needle));
	if (!ok) fprintf(stderr, "  %s: rc %d, message: %s\n", dict, rc, sn_errmsg());
	if (rc == SN_OK) free(g);
	return ok;
}

TEST(npy_rejects_bad_headers)
{
	float f[4] = {0};
	CHECK(npy_rejects("fo.npy", 1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", f, 16, "Fortran"));
	CHECK(npy_rejects("i4.npy", 1, "{'descr': '<i4', 'fortran_order': False, 'shape': (4,), }", f, 16, "<i4"));
	CHECK(npy_rejects("be.npy", 1, "{'descr': '>f4', 'fortran_order': False, 'shape': (4,), }", f, 16, NULL));
	CHECK(npy_rejects("int.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (4), }", f, 16, NULL));
	CHECK(npy_rejects("neg.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (-4,), }", f, 16, NULL));
	CHECK(npy_rejects("miss.npy", 1, "{'descr': '<f4', 'shape': (4,), }", f, 16, NULL));
	CHECK(npy_rejects("extra.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), 'x': 1}", f, 16, NULL));
	CHECK(npy_rejects("dup.npy", 1, "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (4,)}", f, 16, NULL));
	CHECK(npy_rejects("junk.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), } x", f, 16, NULL));
	CHECK(npy_rejects("unterm.npy", 1, "{'descr': '<f4, 'fortran_order': False, 'shape': (4,), }", f, 16, NULL));
	CHECK(npy_rejects("nine.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,4), }", f, 16, NULL));
	CHECK(npy_rejects("big.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999,), }", f, 16, NULL));
	CHECK(npy_rejects("open.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (4,", f, 16, NULL));
	CHECK(npy_rejects("ver.npy", 4, "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", f, 16, "version"));
	/* shapes whose element count overflows must not wrap into a small allocation */
	CHECK(npy_rejects("ovf.npy", 1, "{'descr': '<f4', 'fortran_order': False, "
	                  "'shape': (2147483647, 2147483647, 2147483647, 4), }", f, 16, NULL));
}

TEST(npy_rejects_bad_data)
{
	float f[4] = {1, 2, 3, 4};
	/* the header lies about the shape in both directions */
	CHECK(npy_rejects("short.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (10,), }", f, 16, "16"));
	CHECK(npy_rejects("long.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", f, 16, "16"));
	CHECK(npy_rejects("lenf8.npy", 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (4,), }", f, 16, NULL));
	/* bad magic, and a file cut inside its header */
	char path[512];
	tpath(path, sizeof path, "magic.npy");
	REQUIRE(write_raw(path, "\x93NUMPX\x01\x00\x10\x00{}", 12) == 0);
	int nd, dims[8];
	float *g = NULL;
	CHECK(sn_npy_read(path, &nd, dims, &g) == SN_EFORMAT && contains(sn_errmsg(), "magic"));
	REQUIRE(write_raw(path, "\x93NUMPY\x01\x00\x40\x00{'descr'", 17) == 0);
	CHECK(sn_npy_read(path, &nd, dims, &g) == SN_EFORMAT && contains(sn_errmsg(), path));
	REQUIRE(write_raw(path, "\x93NUM", 4) == 0);
	CHECK(sn_npy_read(path, &nd, dims, &g) == SN_EFORMAT);
	/* a v2 header length near 4 GiB in a tiny file */
	REQUIRE(write_raw(path, "\x93NUMPY\x02\x00\xff\xff\xff\xff{}", 14) == 0);
	CHECK(sn_npy_read(path, &nd, dims, &g) == SN_EFORMAT);
	CHECK(g == NULL);
	tpath(path, sizeof path, "absent.npy");
	CHECK(sn_npy_read(path, &nd, dims, &g) == SN_EIO && contains(sn_errmsg(), path));
}

TEST(npy_write_rejects)
{
	char path[512];
	int dims[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1}, neg[2] = {2, -1};
	float v[2] = {0};
	tpath(path, sizeof path, "w.npy");
	CHECK(sn_npy_write(path, 9, dims, v) == SN_EINVAL);
	CHECK(sn_npy_write(path, 2, neg, v) == SN_EINVAL);
	CHECK(sn_npy_write(path, 1, dims, NULL) == SN_EINVAL);
	CHECK(access(path, F_OK) != 0);
	CHECK(sn_npy_write("/nonexistent-dir/x.npy", 1, dims, v) == SN_EIO);
	CHECK(contains(sn_errmsg(), "/nonexistent-dir/x.npy"));
}

/* ---------------------------------------------------------------- atomic writes and buffers */

static int count_tmp_files(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d) return -1;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d))) n += strstr(e->d_name, ".tmp.") != NULL;
	closedir(d);
	return n;
}

TEST(data_atomic_write)
{
	char dir[512], path[600];
	snprintf(dir, sizeof dir, "%s/atomic", sn_test_tmpdir());
	mkdir(dir, 0777);
	snprintf(path, sizeof path, "%s/out.bin", dir);
	REQUIRE(sn_write_atomic(path, "hello", 5) == SN_OK);
	size_t n;
	unsigned char *p = slurp(path, &n);
	CHECK(p && n == 5 && memcmp(p, "hello", 5) == 0);
	free(p);
	/* replacing keeps the mode of the file replaced */
	chmod(path, 0640);
	REQUIRE(sn_write_atomic(path, "bye", 3) == SN_OK);
	p = slurp(path, &n);
	CHECK(p && n == 3 && memcmp(p, "bye", 3) == 0);
	free(p);
	struct stat st;
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0640);
	CHECK(sn_write_atomic(path, NULL, 0) == SN_OK);
	CHECK(stat(path, &st) == 0 && st.st_size == 0);
	CHECK(count_tmp_files(dir) == 0);
	/* failures name the path and leave nothing behind */
	snprintf(path, sizeof path, "%s/missing/out.bin", dir);
	CHECK(sn_write_atomic(path, "x", 1) == SN_EIO);
	CHECKF(contains(sn_errmsg(), path), "message: %s", sn_errmsg());
	snprintf(path, sizeof path, "%s/sub", dir);
	mkdir(path, 0777);
	CHECK(sn_write_atomic(path, "x", 1) == SN_EIO);   /* cannot rename a file over a directory */
	CHECKF(contains(sn_errmsg(), path), "message: %s", sn_errmsg());
	CHECK(count_tmp_files(dir) == 0);
}

TEST(data_buf_little_endian)
{
	sn_buf b = {0};
	sn_buf_u32(&b, 0x01020304u);
	sn_buf_u64(&b, 0x1122334455667788ull);
	sn_buf_f32(&b, 1.0f);
	float v[2] = {-2.0f, 0.5f};
	sn_buf_f32n(&b, v, 2);
	sn_buf_put(&b, "xy", 2);
	REQUIRE(!b.oom && b.len == 4 + 8 + 4 + 8 + 2);
	const unsigned char want[] = {4, 3, 2, 1, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11,
	                              0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0, 0, 0, 0, 0x3f, 'x', 'y'};
	CHECK(memcmp(b.p, want, sizeof want) == 0);
	CHECK(sn_get_u32(b.p) == 0x01020304u);
	CHECK(sn_get_u64(b.p + 4) == 0x1122334455667788ull);
	CHECK(sn_get_f32(b.p + 12) == 1.0f && sn_get_f32(b.p + 16) == -2.0f);
	/* growth across many puts keeps the contents */
	for (uint32_t i = 0; i < 10000; i++) sn_buf_u32(&b, i);
	CHECK(!b.oom && b.len == 26 + 40000 && sn_get_u32(b.p + 26 + 4 * 9999) == 9999);
	sn_buf_free(&b);
	CHECK(b.p == NULL && b.len == 0 && b.cap == 0);
}

TEST(data_read_file_bounded)
{
	char path[512];
	tpath(path, sizeof path, "bounded.bin");
	REQUIRE(write_raw(path, "0123456789", 10) == 0);
	unsigned char *p = NULL;
	size_t n = 0;
	CHECK(sn_read_file(path, 9, &p, &n) == SN_EFORMAT && p == NULL);
	CHECK(sn_read_file(path, 10, &p, &n) == SN_OK && n == 10 && p && p[10] == 0);
	free(p);
	CHECK(sn_read_file(sn_test_tmpdir(), 100, &p, &n) == SN_EIO);
}
