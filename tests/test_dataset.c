/* --data as a user meets it (src/data/open.c, folder.c, loader.c, batch.c): one small image set
 * written as IDX files, NumPy arrays (NCHW, NHWC, .npz) and an image folder must give the very
 * same batches; validation splits, caching, streaming and the loader's threads must not change
 * a batch; bad folders fail with a message or count a skip. The files are written here, with
 * libpng and zlib, so nothing depends on Python. */
#include <png.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include "data/loader.h"
#include "data/source.h"
#include "test.h"

enum { N_TR = 24, N_TE = 8, H = 6, W = 5, K = 3 };

/* Pixels and labels of sample i (labels ascending, so a folder's class order is the sample order). */
static uint8_t px(int split, int i, int p) { return (uint8_t)((split * 97 + i * 31 + p * 7 + (p * p) % 13) & 255); }
static int label(int split, int i) { return i * K / (split ? N_TE : N_TR); }

static char *path_in(const char *dir, const char *name)
{
	static char buf[64][1024];   /* a ring: several paths are alive at once */
	static int k;
	char tmp[1024], *p = buf[k++ & 63];
	snprintf(tmp, sizeof tmp, "%.500s/%.500s", dir, name);   /* dir may be an earlier ring entry */
	memcpy(p, tmp, sizeof tmp);
	return p;
}

static void write_bytes(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");
	if (!f) return;
	fwrite(p, 1, n, f);
	fclose(f);
}

static void be32(uint8_t *p, uint32_t v) { p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = (uint8_t)v; }

static void write_idx_set(const char *dir)
{
	mkdir(dir, 0755);
	for (int s = 0; s < 2; s++) {
		int n = s ? N_TE : N_TR;
		uint8_t *img = malloc(16 + (size_t)n * H * W), *lab = malloc(8 + (size_t)n);
		img[0] = img[1] = 0; img[2] = 8; img[3] = 3;
		be32(img + 4, (uint32_t)n); be32(img + 8, H); be32(img + 12, W);
		lab[0] = lab[1] = 0; lab[2] = 8; lab[3] = 1;
		be32(lab + 4, (uint32_t)n);
		for (int i = 0; i < n; i++) {
			for (int p = 0; p < H * W; p++) img[16 + i * H * W + p] = px(s, i, p);
			lab[8 + i] = (uint8_t)label(s, i);
		}
		write_bytes(path_in(dir, s ? "t10k-images-idx3-ubyte" : "train-images-idx3-ubyte"), img, 16 + (size_t)n * H * W);
		write_bytes(path_in(dir, s ? "t10k-labels-idx1-ubyte" : "train-labels-idx1-ubyte"), lab, 8 + (size_t)n);
		free(img);
		free(lab);
	}
}

/* A version-1.0 .npy header for dtype descr and a shape, padded to 64 bytes. */
static void write_npy(const char *path, const char *descr, const int *shape, int nd, const void *data, size_t bytes)
{
	char h[128], dims[64] = "";
	for (int i = 0; i < nd; i++) snprintf(dims + strlen(dims), sizeof dims - strlen(dims), "%d,%s", shape[i], nd > 1 && i < nd - 1 ? " " : "");
	int len = snprintf(h, sizeof h, "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }", descr, dims);
	while ((10 + len + 1) % 64) h[len++] = ' ';
	h[len++] = '\n';
	FILE *f = fopen(path, "wb");
	if (!f) return;
	fwrite("\x93NUMPY\x01\x00", 1, 8, f);
	uint8_t hl[2] = {(uint8_t)len, (uint8_t)(len >> 8)};
	fwrite(hl, 1, 2, f);
	fwrite(h, 1, (size_t)len, f);
	fwrite(data, 1, bytes, f);
	fclose(f);
}

static void write_npy_set(const char *dir, int nhwc)
{
	mkdir(dir, 0755);
	for (int s = 0; s < 2; s++) {
		int n = s ? N_TE : N_TR;
		uint8_t *x = malloc((size_t)n * H * W);
		int64_t *y = malloc((size_t)n * sizeof *y);
		for (int i = 0; i < n; i++) {
			for (int p = 0; p < H * W; p++) x[i * H * W + p] = px(s, i, p);
			y[i] = label(s, i);
		}
		int sx[4] = {n, nhwc ? H : 1, nhwc ? W : H, nhwc ? 1 : W}, sy[1] = {n};
		write_npy(path_in(dir, s ? "test_x.npy" : "train_x.npy"), "|u1", sx, 4, x, (size_t)n * H * W);
		write_npy(path_in(dir, s ? "test_y.npy" : "train_y.npy"), "<i8", sy, 1, y, (size_t)n * 8);
		free(x);
		free(y);
	}
}

static int write_png(const char *path, int w, int h, int channels, const uint8_t *p)
{
	png_image im;
	memset(&im, 0, sizeof im);
	im.version = PNG_IMAGE_VERSION;
	im.width = (png_uint_32)w;
	im.height = (png_uint_32)h;
	im.format = channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
	return png_image_write_to_file(&im, path, 0, p, 0, NULL) ? 0 : -1;
}

static const char *CLASSES[K] = {"ant", "bee", "cicada"};

static void write_folder_set(const char *dir)
{
	mkdir(dir, 0755);
	for (int s = 0; s < 2; s++) {
		char sd[1024];
		snprintf(sd, sizeof sd, "%s/%s", dir, s ? "val" : "train");
		mkdir(sd, 0755);
		for (int k = 0; k < K; k++) mkdir(path_in(sd, CLASSES[k]), 0755);
		for (int i = 0; i < (s ? N_TE : N_TR); i++) {
			uint8_t img[H * W];
			for (int p = 0; p < H * W; p++) img[p] = px(s, i, p);
			char name[1100];
			snprintf(name, sizeof name, "%s/%s/img%03d.png", sd, CLASSES[label(s, i)], i);
			write_png(name, W, H, 1, img);
		}
	}
}

static sn_data_opts opts_for(int c, int h, int w)
{
	sn_data_opts o = sn_data_defaults();
	o.c = c; o.h = h; o.w = w;
	o.threads = 2;
	return o;
}

/* Every row of two data sets as floats: the same values (bit for bit) and labels. */
static int same_batches(const sn_dataset *a, const sn_dataset *b)
{
	if (a->n != b->n || a->c * a->h * a->w != b->c * b->h * b->w) return 0;
	size_t row = (size_t)a->c * a->h * a->w;
	float *xa = malloc(row * a->n * sizeof *xa), *xb = malloc(row * a->n * sizeof *xb);
	int32_t *ya = malloc(a->n * sizeof *ya), *yb = malloc(a->n * sizeof *yb);
	int *idx = malloc(a->n * sizeof *idx);
	for (int i = 0; i < a->n; i++) idx[i] = i;
	int ok = !sn_dataset_make(a, idx, a->n, NULL, xa, ya) && !sn_dataset_make(b, idx, a->n, NULL, xb, yb) &&
	         !memcmp(xa, xb, row * a->n * sizeof *xa) && !memcmp(ya, yb, a->n * sizeof *ya);
	free(xa); free(xb); free(ya); free(yb); free(idx);
	return ok;
}

static const char *root(void)
{
	static char dir[1024];
	if (!dir[0]) {
		snprintf(dir, sizeof dir, "%s/dataset", sn_test_tmpdir());
		mkdir(dir, 0755);
		write_idx_set(path_in(dir, "idx"));
		write_npy_set(path_in(dir, "nchw"), 0);
		write_npy_set(path_in(dir, "nhwc"), 1);
		write_folder_set(path_in(dir, "png"));
	}
	return dir;
}

TEST(dataset_formats_agree)
{
	const char *r = root();
	sn_data_opts o = opts_for(1, H, W);
	sn_dataset tr[4], te[4];
	const char *specs[4] = {"idx", "nchw", "nhwc", "png"};
	sn_data_report rep;
	for (int f = 0; f < 4; f++) {
		int rc = sn_data_open(path_in(r, specs[f]), &o, &tr[f], &te[f], &rep);
		CHECKF(rc == SN_OK, "%s: %s", specs[f], sn_errmsg());
		if (rc) return;
		CHECKF(tr[f].n == N_TR && te[f].n == N_TE && tr[f].classes == K, "%s: %d/%d samples, %d classes", specs[f],
		       tr[f].n, te[f].n, tr[f].classes);
		if (f == 2) CHECKF(strstr(rep.notes, "NHWC"), "notes: %s", rep.notes);
		if (f == 1) CHECKF(strstr(rep.notes, "NCHW"), "notes: %s", rep.notes);
	}
	/* the normalisation of each is its training split's: the same bytes, the same statistics */
	for (int f = 1; f < 4; f++) {
		CHECKF(tr[f].norm.c == 1 && tr[f].norm.mean[0] == tr[0].norm.mean[0] && tr[f].norm.std[0] == tr[0].norm.std[0],
		       "%s: mean %g std %g, idx %g %g", specs[f], tr[f].norm.mean[0], tr[f].norm.std[0], tr[0].norm.mean[0],
		       tr[0].norm.std[0]);
		CHECKF(same_batches(&tr[0], &tr[f]) && same_batches(&te[0], &te[f]), "%s differs from idx", specs[f]);
	}
	/* the folder's classes are its folder names, in sorted order */
	char buf[16];
	CHECK(!strcmp(sn_class_name(tr[3].names, K, 2, buf, sizeof buf), "cicada") && !strcmp(te[3].format, "image folder"));
	for (int f = 0; f < 4; f++) { sn_dataset_free(&tr[f]); sn_dataset_free(&te[f]); }
}

/* Statistics by hand: mean and population std of value/255 over the training split. */
TEST(dataset_statistics)
{
	sn_data_opts o = opts_for(1, H, W);
	sn_dataset tr, te;
	REQUIRE(sn_data_open(path_in(root(), "nchw"), &o, &tr, &te, NULL) == SN_OK);
	double s1 = 0, s2 = 0, n = (double)N_TR * H * W;
	for (int i = 0; i < N_TR; i++)
		for (int p = 0; p < H * W; p++) { double v = px(0, i, p) / 255.0; s1 += v; s2 += v * v; }
	double m = s1 / n, sd = sqrt(s2 / n - m * m);
	CHECK_NEAR(tr.norm.mean[0], m, 1e-6);
	CHECK_NEAR(tr.norm.std[0], sd, 1e-6);
	CHECK(te.norm.mean[0] == tr.norm.mean[0]);
	/* a given normalisation wins, and --limit does not change it */
	sn_norm given = {.c = 1, .mean = {0.5f}, .std = {0.25f}};
	sn_dataset_free(&tr); sn_dataset_free(&te);
	o.norm = &given;
	o.limit = 5;
	REQUIRE(sn_data_open(path_in(root(), "nchw"), &o, &tr, &te, NULL) == SN_OK);
	CHECK(tr.n == 5 && te.n == 5 && tr.norm.mean[0] == 0.5f && te.norm.std[0] == 0.25f);
	sn_dataset_free(&tr); sn_dataset_free(&te);
}

/* Gray images for an RGB model at another size: replicated channels, resized as image files are. */
TEST(dataset_adapts_to_the_model)
{
	sn_data_opts o = opts_for(3, 4, 4);
	sn_dataset a[2], b[2];
	/* arrays are used as stored unless resizing is asked for */
	CHECK(sn_data_open(path_in(root(), "idx"), &o, &a[0], &a[1], NULL) == SN_ESHAPE && strstr(sn_errmsg(), "--resize"));
	o.resize = 4;
	REQUIRE(sn_data_open(path_in(root(), "idx"), &o, &a[0], &a[1], NULL) == SN_OK);
	REQUIRE(sn_data_open(path_in(root(), "png"), &o, &b[0], &b[1], NULL) == SN_OK);
	CHECK(a[0].c == 3 && a[0].h == 4 && a[0].w == 4 && b[0].c == 3);
	/* the three channels hold the same plane */
	const size_t hw = 16;
	int same = 1;
	for (size_t p = 0; p < hw; p++) same &= a[0].images[p] == a[0].images[hw + p] && a[0].images[p] == a[0].images[2 * hw + p];
	CHECK(same);
	/* in memory (IDX) and from files (folder) the resize is the same */
	CHECK(same_batches(&a[0], &b[0]) && same_batches(&a[1], &b[1]));
	for (int i = 0; i < 2; i++) { sn_dataset_free(&a[i]); sn_dataset_free(&b[i]); }
}

TEST(dataset_val_split)
{
	sn_data_opts o = opts_for(1, H, W);
	o.val_split = 0.25f;
	o.seed = 3;
	sn_dataset tr, te, tr2, te2;
	REQUIRE(sn_data_open(path_in(root(), "nchw"), &o, &tr, &te, NULL) == SN_OK);
	CHECK(tr.n == N_TR - 6 && te.n == 6);
	/* disjoint, and together the training split: every sample once (the bytes tell them apart) */
	int seen[N_TR] = {0};
	for (int s = 0; s < 2; s++) {
		const sn_dataset *d = s ? &te : &tr;
		for (int i = 0; i < d->n; i++)
			for (int k = 0; k < N_TR; k++)
				if (d->images[(size_t)i * H * W] == px(0, k, 0) && d->images[(size_t)i * H * W + 1] == px(0, k, 1)) seen[k]++;
	}
	int once = 1;
	for (int k = 0; k < N_TR; k++) once &= seen[k] == 1;
	CHECK(once);
	/* the same seed, the same split; the folder (streamed) splits the same way */
	REQUIRE(sn_data_open(path_in(root(), "nchw"), &o, &tr2, &te2, NULL) == SN_OK);
	CHECK(same_batches(&tr, &tr2) && same_batches(&te, &te2));
	sn_dataset_free(&tr2); sn_dataset_free(&te2);
	o.cache = SN_CACHE_OFF;
	REQUIRE(sn_data_open(path_in(root(), "png/train"), &o, &tr2, &te2, NULL) == SN_OK);
	CHECK(tr2.src && same_batches(&tr, &tr2) && same_batches(&te, &te2));
	sn_dataset_free(&tr2); sn_dataset_free(&te2);
	/* a split that leaves nothing */
	o.val_split = 0.001f;
	CHECK(sn_data_open(path_in(root(), "nchw"), &o, &tr2, &te2, NULL) == SN_EINVAL && strstr(sn_errmsg(), "empty"));
	sn_dataset_free(&tr); sn_dataset_free(&te);
}

/* --limit on data sorted by class (every image folder) keeps each class's share, chosen by the
 * seed; with the cache on, only the images kept are decoded. */
TEST(dataset_limit)
{
	sn_data_opts o = opts_for(1, H, W);
	o.limit = 6;
	o.cache = SN_CACHE_ON;
	sn_dataset tr, te, tr2, te2;
	REQUIRE(sn_data_open(path_in(root(), "png"), &o, &tr, &te, NULL) == SN_OK);
	int per[K] = {0};
	for (int i = 0; i < tr.n; i++) per[sn_dataset_label(&tr, i)]++;
	CHECKF(tr.n == 6 && per[0] == 2 && per[1] == 2 && per[2] == 2, "%d rows: %d %d %d", tr.n, per[0], per[1], per[2]);
	CHECK(te.n == 6 && tr.images && !tr.src);
	/* the IDX copy (its labels sorted too) gives the same rows; another seed other rows */
	REQUIRE(sn_data_open(path_in(root(), "idx"), &o, &tr2, &te2, NULL) == SN_OK);
	CHECK(same_batches(&tr, &tr2) && same_batches(&te, &te2));
	sn_dataset_free(&tr2); sn_dataset_free(&te2);
	o.seed = 2;
	REQUIRE(sn_data_open(path_in(root(), "png"), &o, &tr2, &te2, NULL) == SN_OK);
	CHECK(tr2.n == 6 && !same_batches(&tr, &tr2));
	sn_dataset_free(&tr2); sn_dataset_free(&te2);
	sn_dataset_free(&tr); sn_dataset_free(&te);
	/* a folder of 16 images, 12 of them broken: with --limit 2 at most 2 decode (and fail) */
	char dir[1024];
	snprintf(dir, sizeof dir, "%s/limitfolder", sn_test_tmpdir());
	mkdir(dir, 0755);
	uint8_t img[H * W] = {0};
	for (int k = 0; k < 2; k++) {
		char cls[1100];
		snprintf(cls, sizeof cls, "%s/%s", dir, k ? "dog" : "cat");
		mkdir(cls, 0755);
		for (int i = 0; i < 8; i++) {
			char p[1200];
			snprintf(p, sizeof p, "%s/%d.png", cls, i);
			if (i < 2) write_png(p, W, H, 1, img);
			else write_bytes(p, "broken", 6);
		}
	}
	sn_data_report rep;
	o.limit = 2;
	o.val_split = 0.5f;
	o.norm = &(sn_norm){.c = 1, .mean = {0.5f}, .std = {0.5f}};
	REQUIRE(sn_data_open(dir, &o, &tr, &te, &rep) == SN_OK);
	CHECKF(rep.cached && rep.skipped <= 4 && tr.n + te.n + rep.skipped == 4, "%ld skipped, %d + %d kept", rep.skipped,
	       tr.n, te.n);
	sn_dataset_free(&tr); sn_dataset_free(&te);
	/* unsorted labels (here a shuffled validation split): the first rows */
	o = opts_for(1, H, W);
	o.val_split = 0.5f;
	REQUIRE(sn_data_open(path_in(root(), "nchw"), &o, &tr, &te, NULL) == SN_OK);
	o.limit = 3;
	REQUIRE(sn_data_open(path_in(root(), "nchw"), &o, &tr2, &te2, NULL) == SN_OK);
	CHECK(tr2.n == 3 && te2.n == 3 && !memcmp(tr.images, tr2.images, 3 * H * W) &&
	      !memcmp(te.images, te2.images, 3 * H * W));
	sn_dataset_free(&tr); sn_dataset_free(&te);
	sn_dataset_free(&tr2); sn_dataset_free(&te2);
}

/* The ring holds 4 batches ahead unless they pass SN_LOADER_RING_BYTES; never fewer than 2. */
TEST(dataset_loader_ring_bytes)
{
	sn_dataset small = {.n = 1, .c = 1, .h = 28, .w = 28}, big = {.n = 1, .c = 3, .h = 224, .w = 224};
	int want[3] = {4, 2, 2};
	sn_loader *L[3] = {sn_loader_new(&small, 128, 2, 4), sn_loader_new(&big, 256, 2, 4), sn_loader_new(&big, 1024, 2, 4)};
	for (int i = 0; i < 3; i++) {
		CHECKF(L[i] && sn_loader_depth(L[i]) == want[i], "loader %d: depth %d", i, L[i] ? sn_loader_depth(L[i]) : -1);
		sn_loader_free(L[i]);
	}
}

/* Cached and streamed folders, and any loader thread count, give the same augmented batches. */
TEST(dataset_loader_deterministic)
{
	sn_data_opts o = opts_for(1, H, W);
	sn_dataset cached, streamed, te;
	o.cache = SN_CACHE_ON;
	REQUIRE(sn_data_open(path_in(root(), "png"), &o, &cached, &te, NULL) == SN_OK);
	sn_dataset_free(&te);
	o.cache = SN_CACHE_OFF;
	REQUIRE(sn_data_open(path_in(root(), "png"), &o, &streamed, &te, NULL) == SN_OK);
	sn_dataset_free(&te);
	CHECK(cached.images && !cached.src && streamed.src && !streamed.images);
	int order[N_TR];
	sn_draw draws[N_TR];
	sn_rng r;
	sn_rng_seed(&r, 11);
	for (int i = 0; i < N_TR; i++) order[i] = (i * 7) % N_TR;
	sn_augment aug = {.crop_pad = 2, .hflip = 1, .rrc = 1, .rrc_scale = 0.3f};
	sn_augment_draw(&aug, &r, N_TR, draws);
	const size_t row = H * W;
	float *ref = NULL;
	int bad = 0;
	for (int v = 0; v < 6; v++) {
		const sn_dataset *d = v & 1 ? &streamed : &cached;
		int workers = v / 2 == 0 ? 0 : v / 2 == 1 ? 1 : 3;
		sn_loader *L = sn_loader_new(d, 5, workers, 3);
		REQUIRE(L);
		float *all = malloc(N_TR * row * sizeof *all);
		sn_loader_start(L, order, draws, N_TR);
		int got = 0, rows;
		const float *x;
		const int32_t *y;
		while (!sn_loader_next(L, &x, &y, &rows) && rows) {
			memcpy(all + (size_t)got * row, x, rows * row * sizeof *x);
			for (int i = 0; i < rows; i++) bad += y[i] != label(0, order[got + i]);
			got += rows;
		}
		CHECK(got == N_TR);
		if (!ref) ref = all;
		else { CHECKF(!memcmp(ref, all, N_TR * row * sizeof *all), "variant %d differs", v); free(all); }
		/* a pass abandoned half way, then a new one from the start */
		sn_loader_start(L, order, draws, N_TR);
		CHECK(!sn_loader_next(L, &x, &y, &rows) && rows == 5);
		sn_loader_start(L, order, NULL, N_TR);
		CHECK(!sn_loader_next(L, &x, &y, &rows) && rows == 5);
		sn_loader_free(L);
	}
	CHECK(bad == 0);
	free(ref);
	sn_dataset_free(&cached);
	sn_dataset_free(&streamed);
}

/* Bad folders: a clear error, or (a single bad image) a counted skip. */
TEST(dataset_bad_folders)
{
	char dir[1024];
	snprintf(dir, sizeof dir, "%s/badfolders", sn_test_tmpdir());
	mkdir(dir, 0755);
	sn_data_opts o = opts_for(1, H, W);
	sn_dataset tr, te;
	sn_data_report rep;
	uint8_t img[H * W] = {0};
	/* nothing known there */
	CHECK(sn_data_open(dir, &o, &tr, &te, NULL) == SN_EFORMAT && strstr(sn_errmsg(), "image folders"));
	CHECK(sn_data_open(path_in(dir, "nope"), &o, &tr, &te, NULL) == SN_EIO && strstr(sn_errmsg(), "not found"));
	/* one split only: needs --val-split */
	mkdir(path_in(dir, "a"), 0755);
	mkdir(path_in(dir, "a/cat"), 0755);
	mkdir(path_in(dir, "a/dog"), 0755);
	for (int i = 0; i < 4; i++) {
		char p[1100];
		snprintf(p, sizeof p, "%s/a/%s/%d.png", dir, i & 1 ? "cat" : "dog", i);
		write_png(p, W, H, 1, img);
	}
	CHECK(sn_data_open(path_in(dir, "a"), &o, &tr, &te, NULL) == SN_EINVAL && strstr(sn_errmsg(), "--val-split"));
	/* a text file among the images, named like one and not: one skip, one ignored file */
	write_bytes(path_in(dir, "a/cat/notes.txt"), "hello", 5);
	write_bytes(path_in(dir, "a/cat/broken.png"), "hello", 5);
	o.val_split = 0.5f;
	o.cache = SN_CACHE_ON;
	CHECKF(sn_data_open(path_in(dir, "a"), &o, &tr, &te, &rep) == SN_OK, "%s", sn_errmsg());
	CHECK(rep.skipped == 1 && strstr(rep.first_bad, "broken.png") && rep.other_files == 1 && strstr(rep.first_other, "notes.txt"));
	CHECK(tr.n + te.n == 4);   /* the broken image is dropped */
	sn_dataset_free(&tr); sn_dataset_free(&te);
	/* streamed: the broken image's row is the mean (zeros), counted when made */
	o.cache = SN_CACHE_OFF;
	o.val_split = 0.2f;
	REQUIRE(sn_data_open(path_in(dir, "a"), &o, &tr, &te, &rep) == SN_OK);
	CHECK(tr.src && tr.n + te.n == 5);
	float *x = malloc((size_t)tr.n * H * W * sizeof *x);
	int idx[8] = {0, 1, 2, 3, 4, 5, 6, 7};
	CHECK(sn_dataset_make(&tr, idx, tr.n, NULL, x, NULL) == SN_OK);
	CHECK(sn_dataset_make(&te, idx, te.n, NULL, x, NULL) == SN_OK);
	CHECK(tr.src->skipped + te.src->skipped == 1);
	free(x);
	sn_dataset_free(&tr); sn_dataset_free(&te);
	/* an empty class folder */
	mkdir(path_in(dir, "a/emu"), 0755);
	CHECK(sn_data_open(path_in(dir, "a"), &o, &tr, &te, NULL) == SN_EFORMAT && strstr(sn_errmsg(), "emu"));
	rmdir(path_in(dir, "a/emu"));
	/* a test class the training split lacks */
	mkdir(path_in(dir, "b"), 0755);
	mkdir(path_in(dir, "b/train"), 0755);
	mkdir(path_in(dir, "b/test"), 0755);
	mkdir(path_in(dir, "b/train/cat"), 0755);
	mkdir(path_in(dir, "b/test/cow"), 0755);
	write_png(path_in(dir, "b/train/cat/1.png"), W, H, 1, img);
	write_png(path_in(dir, "b/test/cow/1.png"), W, H, 1, img);
	o.val_split = 0;
	CHECK(sn_data_open(path_in(dir, "b"), &o, &tr, &te, NULL) == SN_EFORMAT && strstr(sn_errmsg(), "cow"));
	/* a model with 2 channels cannot take images */
	o.c = 2;
	CHECK(sn_data_open(path_in(root(), "png"), &o, &tr, &te, NULL) == SN_ESHAPE);
}

/* NumPy arrays that disagree: a clear message, nothing loaded. */
TEST(dataset_bad_arrays)
{
	char dir[1024];
	snprintf(dir, sizeof dir, "%s/badarrays", sn_test_tmpdir());
	mkdir(dir, 0755);
	sn_data_opts o = opts_for(1, H, W);
	sn_dataset tr, te;
	uint8_t x[4 * H * W] = {0};
	int64_t y[4] = {0, 1, 2, -1};
	int sx[4] = {4, 1, H, W}, sy3[1] = {3}, sy4[1] = {4};
	write_npy(path_in(dir, "train_x.npy"), "|u1", sx, 4, x, sizeof x);
	write_npy(path_in(dir, "train_y.npy"), "<i8", sy3, 1, y, 3 * 8);
	write_npy(path_in(dir, "test_x.npy"), "|u1", sx, 4, x, sizeof x);
	write_npy(path_in(dir, "test_y.npy"), "<i8", sy4, 1, y, 4 * 8);
	CHECK(sn_data_open(dir, &o, &tr, &te, NULL) == SN_ESHAPE && strstr(sn_errmsg(), "train_y.npy"));
	write_npy(path_in(dir, "train_y.npy"), "<i8", sy4, 1, y, 4 * 8);
	CHECK(sn_data_open(dir, &o, &tr, &te, NULL) == SN_EFORMAT && strstr(sn_errmsg(), "label -1"));
	float fy[4] = {0, 1, 2, 0};
	write_npy(path_in(dir, "train_y.npy"), "<f4", sy4, 1, fy, sizeof fy);
	CHECK(sn_data_open(dir, &o, &tr, &te, NULL) == SN_EFORMAT && strstr(sn_errmsg(), "integers"));
	/* float images of another size are not resized */
	float fx[4 * 2 * 2] = {0};
	int sf[4] = {4, 1, 2, 2};
	y[3] = 1;
	write_npy(path_in(dir, "train_y.npy"), "<i8", sy4, 1, y, 4 * 8);
	write_npy(path_in(dir, "test_y.npy"), "<i8", sy4, 1, y, 4 * 8);
	write_npy(path_in(dir, "train_x.npy"), "<f4", sf, 4, fx, sizeof fx);
	write_npy(path_in(dir, "test_x.npy"), "<f4", sf, 4, fx, sizeof fx);
	CHECK(sn_data_open(dir, &o, &tr, &te, NULL) == SN_ESHAPE && strstr(sn_errmsg(), "as stored"));
	/* the same floats at the model's size load, and are used as stored (mean 0, std 1 given) */
	o.h = o.w = 2;
	sn_norm unit = {.c = 1, .mean = {0}, .std = {1}};
	o.norm = &unit;
	fx[5] = 0.75f;
	write_npy(path_in(dir, "train_x.npy"), "<f4", sf, 4, fx, sizeof fx);
	REQUIRE(sn_data_open(dir, &o, &tr, &te, NULL) == SN_OK);
	float row[4];
	int one = 1;
	CHECK(tr.fimages && sn_dataset_make(&tr, &one, 1, NULL, row, NULL) == SN_OK && row[1] == 0.75f);
	sn_dataset_free(&tr); sn_dataset_free(&te);
}
