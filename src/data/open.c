/* --data SPEC: finds the format from what is there, reads the splits, carves a validation split
 * when asked, brings every sample to the model's input shape and sets the normalisation. The
 * readers below it (IDX, NumPy arrays, CIFAR batches, image folders) each return their data as
 * stored; this file is where they become data sets a model can train on. */
#include <dirent.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include "data/cifar.h"
#include "data/dataset_internal.h"
#include "data/folder.h"
#include "data/image.h"
#include "data/source.h"
#include "io/array.h"

#define STATS_SAMPLES 2000
#define MAX2(a, b) ((a) > (b) ? (a) : (b))   /* streamed sets: the normalisation comes from this many images */

sn_data_opts sn_data_defaults(void)
{
	return (sn_data_opts){.seed = 1, .cache = SN_CACHE_AUTO, .need_train = 1};
}

static int exists(const char *dir, const char *name)
{
	char p[4096];
	struct stat st;
	snprintf(p, sizeof p, "%s/%s", dir, name);
	return stat(p, &st) == 0;
}

static void note(sn_data_report *r, const char *fmt, const char *a, const char *b)
{
	size_t l = strlen(r->notes);
	snprintf(r->notes + l, sizeof r->notes - l, fmt, a, b);
}

/* ---------------------------------------------------------------- copies and subsets */

static size_t names_bytes(const char *names, int classes)
{
	size_t len = 0;
	for (int i = 0; names && i < classes; i++) len += strlen(names + len) + 1;
	return len;
}

/* A data set of rows idx[0..n) of d that owns its storage (d is left as it is). */
static int subset(const sn_dataset *d, const int *idx, int n, sn_dataset *out)
{
	const size_t chw = (size_t)d->c * d->h * d->w;
	*out = *d;
	out->n = n;
	out->index = NULL;
	out->shared = 0;
	out->images = NULL; out->fimages = NULL; out->src = NULL; out->names = NULL;
	out->labels = malloc(((size_t)n + 1) * sizeof *out->labels);
	int ok = out->labels != NULL;
	if (ok && d->images) ok = (out->images = malloc((size_t)n * chw + 1)) != NULL;
	if (ok && d->fimages) ok = (out->fimages = malloc((size_t)n * chw * sizeof(float) + 1)) != NULL;
	if (ok && d->names) {
		size_t len = names_bytes(d->names, d->classes);
		if ((out->names = malloc(len + 1))) memcpy(out->names, d->names, len + 1);
		ok = out->names != NULL;
	}
	if (ok && d->src) {
		sn_source *s = calloc(1, sizeof *s);
		ok = s && (s->paths = calloc((size_t)n + 1, sizeof *s->paths));
		if (s) {
			*s = (sn_source){.n = 0, .paths = s->paths, .c = d->src->c, .h = d->src->h, .w = d->src->w,
			                 .resize = d->src->resize};
			pthread_mutex_init(&s->lock, NULL);
			out->src = s;
		}
		for (int i = 0; ok && i < n; i++) {
			int k = d->index ? d->index[idx[i]] : idx[i];
			ok = (s->paths[i] = strdup(d->src->paths[k])) != NULL;
			s->n = i + 1;
		}
	}
	if (!ok) {
		sn_dataset_free(out);
		return sn_seterr(SN_ENOMEM, "out of memory copying %d samples", n);
	}
	for (int i = 0; i < n; i++) {
		int k = d->index ? d->index[idx[i]] : idx[i];
		out->labels[i] = d->labels[k];
		if (d->images) memcpy(out->images + (size_t)i * chw, d->images + (size_t)k * chw, chw);
		if (d->fimages) memcpy(out->fimages + (size_t)i * chw, d->fimages + (size_t)k * chw, chw * sizeof(float));
	}
	return SN_OK;
}

static int cmp_int(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }

/* --limit n (n < d->n): the first n rows, unless the labels are sorted by class (every image
 * folder, and arrays written class by class), where the first n would hold the first classes
 * only; then a seeded subset in which each class keeps its share (largest remainders), in the
 * data set's order. */
static int keep_limit(sn_dataset *d, int n, uint64_t seed)
{
	const int classes = d->classes > 0 ? d->classes : 1;
	int sorted = 1;
	for (int i = 0; i < d->n && sorted; i++) {
		int y = sn_dataset_label(d, i);
		sorted = y >= 0 && y < classes && (!i || sn_dataset_label(d, i - 1) <= y);
	}
	int *idx = malloc(((size_t)n + 1) * sizeof *idx);
	int *start = calloc((size_t)classes + 1, sizeof *start), *take = calloc((size_t)classes + 1, sizeof *take);
	int *pick = malloc(((size_t)d->n + 1) * sizeof *pick);
	double *frac = malloc(((size_t)classes + 1) * sizeof *frac);
	int rc = idx && start && take && pick && frac ? SN_OK : sn_seterr(SN_ENOMEM, "out of memory");
	if (!rc && !sorted) {
		for (int i = 0; i < n; i++) idx[i] = i;
	} else if (!rc) {
		for (int i = 0; i < d->n; i++) start[sn_dataset_label(d, i) + 1]++;   /* class k: rows start[k].. */
		for (int k = 0; k < classes; k++) start[k + 1] += start[k];
		int given = 0;
		for (int k = 0; k < classes; k++) {
			double share = (double)n * (start[k + 1] - start[k]) / d->n;
			take[k] = (int)share;
			frac[k] = share - take[k];
			given += take[k];
		}
		while (given < n) {   /* the rows left go to the largest remainders, lower class first */
			int best = -1;
			for (int k = 0; k < classes; k++)
				if (take[k] < start[k + 1] - start[k] && (best < 0 || frac[k] > frac[best])) best = k;
			take[best]++;
			frac[best] = -1;
			given++;
		}
		sn_rng r;
		sn_rng_seed(&r, seed ^ 0x11a17ULL);
		int m = 0;
		for (int k = 0; k < classes; k++) {   /* a seeded choice of take[k] rows of class k */
			int len = start[k + 1] - start[k];
			for (int i = 0; i < len; i++) pick[i] = start[k] + i;
			for (int i = 0; i < take[k]; i++) {
				int j = i + (int)sn_rng_below(&r, (uint32_t)(len - i)), t = pick[i];
				pick[i] = pick[j];
				pick[j] = t;
			}
			memcpy(idx + m, pick, (size_t)take[k] * sizeof *idx);
			m += take[k];
		}
		qsort(idx, (size_t)n, sizeof *idx, cmp_int);   /* rows stay in the data set's order */
	}
	sn_dataset s;
	if (!rc) rc = subset(d, idx, n, &s);
	free(idx); free(start); free(take); free(pick); free(frac);
	if (rc) return rc;
	sn_dataset_free(d);
	*d = s;
	return SN_OK;
}

/* A seeded fraction f of d becomes *te, the rest *tr (d is consumed). */
static int split(sn_dataset *d, float f, uint64_t seed, sn_dataset *tr, sn_dataset *te)
{
	int nte = (int)lround((double)f * d->n), ntr = d->n - nte;
	int *perm = nte < 1 || ntr < 1 ? NULL : malloc((size_t)d->n * sizeof *perm);
	if (!perm) {
		int rc = nte < 1 || ntr < 1 ? sn_seterr(SN_EINVAL, "--val-split %g of %d samples leaves an empty split",
		                                        (double)f, d->n)
		                            : sn_seterr(SN_ENOMEM, "out of memory");
		sn_dataset_free(d);
		return rc;
	}
	sn_rng r;
	sn_rng_seed(&r, seed ^ 0x7a1dULL);
	for (int i = 0; i < d->n; i++) perm[i] = i;
	for (int i = d->n - 1; i > 0; i--) {
		int j = (int)sn_rng_below(&r, (uint32_t)i + 1), t = perm[i];
		perm[i] = perm[j];
		perm[j] = t;
	}
	int rc = subset(d, perm, ntr, tr);
	if (!rc) rc = subset(d, perm + ntr, nte, te);
	if (rc) sn_dataset_free(tr);
	free(perm);
	sn_dataset_free(d);
	return rc;
}

/* ---------------------------------------------------------------- to the model's shape */

/* In-memory bytes at their stored shape -> the model's (c, h, w): channels converted, images of
 * another size resized and centre-cropped exactly as image files are. */
static int adapt(sn_dataset *d, const sn_data_opts *o)
{
	if (d->fimages) {
		if (d->c == o->c && d->h == o->h && d->w == o->w) return SN_OK;
		return sn_seterr(SN_ESHAPE, "the float samples are %dx%dx%d but the model takes %dx%dx%d; floats are used "
		                 "as stored (no resizing): reshape the arrays or give the model --input %dx%dx%d", d->c, d->h,
		                 d->w, o->c, o->h, o->w, d->c, d->h, d->w);
	}
	if (d->c == o->c && d->h == o->h && d->w == o->w) return SN_OK;
	if (o->resize <= 0) {   /* arrays are used as stored unless the user asks for resizing */
		return sn_seterr(SN_ESHAPE, "the model expects inputs [-1, %d, %d, %d] but the data set has %dx%dx%d images: "
		                 "pass --resize N to resize them (shorter side to N, then a centre crop; gray and RGB "
		                 "convert)", o->c, o->h, o->w, d->c, d->h, d->w);
	}
	const size_t shw = (size_t)d->h * d->w, out_chw = (size_t)o->c * o->h * o->w;
	uint8_t *out = malloc((size_t)d->n * out_chw + 1);
	uint8_t *conv = malloc((size_t)o->c * shw + 1);
	sn_image im = {.w = d->w, .h = d->h, .c = o->c, .px = malloc((size_t)o->c * shw + 1)};
	int rc = out && conv && im.px ? SN_OK : sn_seterr(SN_ENOMEM, "out of memory resizing %d images", d->n);
	const int same_size = d->h == o->h && d->w == o->w;
	const int resize = sn_resize_side(o->resize, d->w, d->h, o->h, o->w);
	for (int i = 0; !rc && i < d->n; i++) {
		const uint8_t *src = d->images + (size_t)i * d->c * shw;
		uint8_t *dst = out + (size_t)i * out_chw;
		rc = sn_convert_channels(src, d->c, same_size ? dst : conv, o->c, shw);
		if (rc || same_size) continue;
		for (size_t p = 0; p < shw; p++)   /* planar to interleaved, for the resampler */
			for (int ch = 0; ch < o->c; ch++) im.px[p * o->c + ch] = conv[ch * shw + p];
		rc = sn_image_resize_crop(&im, resize, o->h, o->w, dst);
	}
	free(conv);
	free(im.px);
	if (rc) { free(out); return rc; }
	free(d->images);
	d->images = out;
	d->c = o->c; d->h = o->h; d->w = o->w;
	return SN_OK;
}

/* ---------------------------------------------------------------- NumPy */

/* x as [N,H,W], [N,C,H,W] or [N,H,W,C]: which layout, decided by where a channel count
 * (1, 3, 4) stands, the model's channel count breaking ties. */
static int npy_layout(const sn_array *x, const char *name, int model_c, int *nhwc, int *c, int *h, int *w)
{
	if (x->ndim == 3) {
		*nhwc = 0; *c = 1; *h = (int)x->dims[1]; *w = (int)x->dims[2];
		return SN_OK;
	}
	if (x->ndim != 4)
		return sn_seterr(SN_ESHAPE, "'%s' has %d dimensions; images are [N,H,W], [N,C,H,W] or [N,H,W,C]", name,
		                 x->ndim);
	int64_t d1 = x->dims[1], d3 = x->dims[3];
	int c1 = d1 == 1 || d1 == 3 || d1 == 4, c3 = d3 == 1 || d3 == 3 || d3 == 4;
	*nhwc = c3 && (!c1 || (d3 == model_c && d1 != model_c));
	*c = (int)(*nhwc ? d3 : d1);
	*h = (int)(*nhwc ? x->dims[1] : x->dims[2]);
	*w = (int)(*nhwc ? x->dims[2] : x->dims[3]);
	return SN_OK;
}

/* x and y arrays into an in-memory data set at their stored shape. */
static int from_arrays(sn_array *x, sn_array *y, const char *xname, const char *yname, int model_c,
                       sn_dataset *d, sn_data_report *r)
{
	memset(d, 0, sizeof *d);
	if (x->ndim < 1 || y->ndim < 1)
		return sn_seterr(SN_ESHAPE, "'%s' and '%s' must hold samples along their first dimension", xname, yname);
	int64_t n = x->dims[0];
	if (y->numel != (size_t)n || (y->ndim == 2 && y->dims[1] != 1) || y->ndim > 2)
		return sn_seterr(SN_ESHAPE, "'%s' holds %lld samples but '%s' has shape with %zu labels: y must be [N] "
		                 "integer class numbers", xname, (long long)n, yname, y->numel);
	if (n < 1 || n > INT_MAX / 2) return sn_seterr(SN_ESHAPE, "'%s' holds %lld samples", xname, (long long)n);
	if (y->dtype == SN_DT_F16 || y->dtype == SN_DT_F32 || y->dtype == SN_DT_F64 || y->dtype == SN_DT_BOOL)
		return sn_seterr(SN_EFORMAT, "'%s' holds %s labels; class numbers must be integers (y.astype('int64'))",
		                 yname, sn_dtype_name(y->dtype));
	int nhwc = 0, c = 0, h = 0, w = 0;
	int rc = npy_layout(x, xname, model_c, &nhwc, &c, &h, &w);
	if (rc) return rc;
	if (c < 1 || h < 1 || w < 1 || (size_t)c * h * w * (size_t)n != x->numel)
		return sn_seterr(SN_ESHAPE, "'%s' has an empty image dimension", xname);
	const int is_float = x->dtype == SN_DT_F16 || x->dtype == SN_DT_F32 || x->dtype == SN_DT_F64;
	if (!is_float && x->dtype != SN_DT_U8)
		return sn_seterr(SN_EFORMAT, "'%s' holds %s images; slimnn reads uint8 (0..255) or float images", xname,
		                 sn_dtype_name(x->dtype));
	if (r && !strstr(r->notes, xname)) {
		char shape[96];
		snprintf(shape, sizeof shape, "[%lld,%lld,%lld%s%lld] %s", (long long)x->dims[0], (long long)x->dims[1],
		         (long long)x->dims[2], x->ndim == 4 ? "," : "]", x->ndim == 4 ? (long long)x->dims[3] : 0LL,
		         sn_dtype_name(x->dtype));
		if (x->ndim != 4) *strrchr(shape, ']') = 0, strcat(shape, "]");
		note(r, "%s %s ", xname, shape);
		note(r, "read as %s%s; ", x->ndim == 3 ? "N,H,W (one channel)" : nhwc ? "NHWC" : "NCHW",
		     is_float ? ", floats used as stored" : "");
	}
	*d = (sn_dataset){.n = (int)n, .c = c, .h = h, .w = w};
	const size_t hw = (size_t)h * w, chw = (size_t)c * hw;
	d->labels = malloc((size_t)n * sizeof *d->labels);
	if (is_float) d->fimages = malloc(x->numel * sizeof(float) + 1);
	else d->images = malloc(x->numel + 1);
	if (!d->labels || (!d->fimages && !d->images)) {
		sn_dataset_free(d);
		return sn_seterr(SN_ENOMEM, "out of memory for %lld samples of '%s'", (long long)n, xname);
	}
	int64_t maxl = -1;
	for (int64_t i = 0; i < n; i++) {
		int64_t l = sn_array_i64(y, (size_t)i);
		if (l < 0 || l > 1000000) {
			sn_dataset_free(d);
			return sn_seterr(SN_EFORMAT, "'%s' has label %lld at index %lld; labels are class numbers 0..K-1", yname,
			                 (long long)l, (long long)i);
		}
		d->labels[i] = (int32_t)l;
		if (l > maxl) maxl = l;
	}
	d->classes = (int)maxl + 1;
	const uint8_t *xb = x->data;
	for (int64_t i = 0; i < n; i++)
		for (int ch = 0; ch < c; ch++)
			for (size_t p = 0; p < hw; p++) {
				size_t from = (size_t)i * chw + (nhwc ? p * c + ch : ch * hw + p), to = (size_t)i * chw + ch * hw + p;
				if (is_float) {
					double v = sn_array_f64(x, from);
					if (!isfinite(v)) {
						sn_dataset_free(d);
						return sn_seterr(SN_EFORMAT, "'%s' holds a non-finite value at element %zu", xname, from);
					}
					d->fimages[to] = (float)v;
				} else {
					d->images[to] = xb[from];
				}
			}
	return SN_OK;
}

/* The arrays of one split: from DIR/<split>_{x,y}.npy or from the .npz's keys. 1 when absent. */
static int npy_split(const char *dir, const char *npz, const char *split, int model_c, sn_dataset *d,
                     sn_data_report *r)
{
	char xk[32], yk[32], xp[4096], yp[4096];
	snprintf(xk, sizeof xk, "%s_x", split);
	snprintf(yk, sizeof yk, "%s_y", split);
	sn_array x = {0}, y = {0};
	int rc;
	if (npz) {
		int hx = sn_npz_has(npz, xk), hy = hx > 0 ? sn_npz_has(npz, yk) : 0;
		if (hx < 0 || hy < 0) return hx < 0 ? hx : hy;
		if (!hx) return 1;
		if (!hy) return sn_seterr(SN_EFORMAT, "'%s' holds %s but no %s (the labels)", npz, xk, yk);
		snprintf(xp, sizeof xp, "%s[%s]", npz, xk);
		snprintf(yp, sizeof yp, "%s[%s]", npz, yk);
		rc = sn_npz_load(npz, xk, &x);
		if (!rc) rc = sn_npz_load(npz, yk, &y);
	} else {
		snprintf(xp, sizeof xp, "%s/%s.npy", dir, xk);
		snprintf(yp, sizeof yp, "%s/%s.npy", dir, yk);
		if (access(xp, F_OK)) return 1;
		if (access(yp, F_OK)) return sn_seterr(SN_EIO, "'%s' has no labels beside it: write %s.npy", xp, yk);
		rc = sn_npy_load(xp, &x);
		if (!rc) rc = sn_npy_load(yp, &y);
	}
	if (!rc) rc = from_arrays(&x, &y, strrchr(xp, '/') ? strrchr(xp, '/') + 1 : xp,
	                          strrchr(yp, '/') ? strrchr(yp, '/') + 1 : yp, model_c, d, r);
	sn_array_free(&x);
	sn_array_free(&y);
	return rc;
}

/* ---------------------------------------------------------------- per format */

typedef enum { F_NONE, F_IDX, F_NPY, F_NPZ, F_CIFAR, F_FOLDER, F_FOLDER1 } fmt;

/* The one .npz file in dir, or NULL. */
static int single_npz(const char *dir, char *out, size_t len)
{
	DIR *dp = opendir(dir);
	if (!dp) return 0;
	int n = 0;
	for (struct dirent *e; (e = readdir(dp));) {
		const char *x = strrchr(e->d_name, '.');
		if (x && !strcasecmp(x, ".npz") && e->d_name[0] != '.') {
			if (!n++) snprintf(out, len, "%s/%s", dir, e->d_name);
		}
	}
	closedir(dp);
	return n == 1;
}

static fmt detect(const char *spec, char *npz, size_t len)
{
	struct stat st;
	if (stat(spec, &st)) return F_NONE;
	if (S_ISREG(st.st_mode)) {
		const char *x = strrchr(spec, '.');
		if (x && !strcasecmp(x, ".npz")) { snprintf(npz, len, "%s", spec); return F_NPZ; }
		return F_NONE;
	}
	if (exists(spec, "train-images-idx3-ubyte.gz") || exists(spec, "train-images-idx3-ubyte") ||
	    exists(spec, "t10k-images-idx3-ubyte.gz") || exists(spec, "t10k-images-idx3-ubyte"))
		return F_IDX;
	if (exists(spec, "train_x.npy") || exists(spec, "test_x.npy")) return F_NPY;
	if (single_npz(spec, npz, len)) return F_NPZ;
	if (sn_cifar_detect(spec)) return F_CIFAR;
	char p[4096];
	snprintf(p, sizeof p, "%s/train", spec);
	if (sn_is_dir(p)) return F_FOLDER;
	snprintf(p, sizeof p, "%s/test", spec);
	if (sn_is_dir(p)) return F_FOLDER;
	snprintf(p, sizeof p, "%s/val", spec);
	if (sn_is_dir(p)) return F_FOLDER;
	/* class folders right here: one split */
	DIR *dp = opendir(spec);
	int sub = 0;
	for (struct dirent *e; dp && (e = readdir(dp));) {
		snprintf(p, sizeof p, "%s/%s", spec, e->d_name);
		if (e->d_name[0] != '.' && sn_is_dir(p)) sub = 1;
	}
	if (dp) closedir(dp);
	return sub ? F_FOLDER1 : F_NONE;
}

static int no_format(const char *spec)
{
	struct stat st;
	if (stat(spec, &st))
		return sn_seterr(SN_EIO, "data '%s' not found: give --data a folder or .npz file (for the demo, install "
		                 "Debian's dataset-fashion-mnist)", spec);
	return sn_seterr(SN_EFORMAT, "'%s' holds no data set slimnn knows: expected IDX files "
	                 "(train-images-idx3-ubyte[.gz]), image folders (train/<class>/*.png|jpg), NumPy arrays "
	                 "(train_x.npy + train_y.npy, or one .npz), or CIFAR batches (data_batch_1.bin, train.bin)", spec);
}

/* The machine's memory, for --cache auto. */
static size_t ram_bytes(void)
{
	long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGE_SIZE);
	return pages > 0 && size > 0 ? (size_t)pages * (size_t)size : (size_t)1 << 32;
}

/* Decodes a listed image folder into memory when --cache says so (auto: when it takes at most a
 * quarter of the machine's memory, or cache_bytes). */
static int cache_folder(sn_dataset *d, const sn_data_opts *o, sn_data_report *r)
{
	size_t budget = o->cache_bytes ? o->cache_bytes : ram_bytes() / 4;
	int cache = o->cache == SN_CACHE_ON ||
	            (o->cache == SN_CACHE_AUTO && (size_t)d->n * d->c * d->h * d->w <= budget);
	r->cached = cache;
	r->streamed = !cache;
	if (!cache) return SN_OK;
	sn_folder_report fr;
	int rc = sn_folder_cache(d, o->threads > 0 ? o->threads : sn_get_threads(), &fr);
	if (rc) return rc;
	r->skipped += fr.skipped;
	if (!r->first_bad[0]) snprintf(r->first_bad, sizeof r->first_bad, "%s", fr.first_bad);
	return SN_OK;
}

static int open_folders(const char *spec, fmt f, const sn_data_opts *o, sn_dataset *tr, sn_dataset *te, int *have_te,
                        sn_data_report *r)
{
	char trd[4096], ted[4096];
	snprintf(trd, sizeof trd, f == F_FOLDER1 ? "%s" : "%s/train", spec);
	snprintf(ted, sizeof ted, "%s/test", spec);
	if (f == F_FOLDER && !sn_is_dir(ted)) snprintf(ted, sizeof ted, "%s/val", spec);
	const int has_tr = sn_is_dir(trd), has_te = f == F_FOLDER && sn_is_dir(ted);
	/* classes come from the training folder (or the test one alone), so both splits agree */
	char **names = NULL;
	int nc = 0;
	int rc = sn_folder_classes(has_tr ? trd : ted, &names, &nc);
	if (rc) return rc;
	if (has_tr && has_te) {   /* a test class the training split lacks has no index */
		char **tn = NULL;
		int tnc = 0;
		rc = sn_folder_classes(ted, &tn, &tnc);
		for (int i = 0; !rc && i < tnc; i++) {
			int found = 0;
			for (int k = 0; k < nc && !found; k++) found = !strcmp(tn[i], names[k]);
			if (!found)
				rc = sn_seterr(SN_EFORMAT, "class folder '%s/%s' has no counterpart in '%s': the splits must have "
				               "the same classes", ted, tn[i], trd);
		}
		for (int i = 0; i < tnc; i++) free(tn[i]);
		free(tn);
	}
	sn_folder_opts fo = {.c = o->c, .h = o->h, .w = o->w, .resize = o->resize};
	sn_folder_report fr;
	for (int s = 0; !rc && s < 2; s++) {
		const char *dir = s ? ted : trd;
		sn_dataset *d = s ? te : tr;
		if (!(s ? has_te : has_tr) || (!s && !o->need_train && has_te && o->norm)) continue;
		rc = sn_folder_open(dir, names, nc, &fo, d, &fr);   /* lists the files */
		/* with --limit, only the images kept are decoded into the cache (sn_data_open) */
		if (!rc && o->limit <= 0) rc = cache_folder(d, o, r);
		if (rc) break;
		if (s) *have_te = 1;
		r->other_files += fr.other_files;
		if (!r->first_other[0]) snprintf(r->first_other, sizeof r->first_other, "%s", fr.first_other);
	}
	if (!rc) {
		rc = sn_names_join(&tr->names, names, nc);
		if (!rc && *have_te) rc = sn_names_join(&te->names, names, nc);
		tr->classes = te->classes = nc;
	}
	for (int i = 0; i < nc; i++) free(names[i]);
	free(names);
	return rc;
}

/* ---------------------------------------------------------------- the whole */

int sn_data_open(const char *spec, const sn_data_opts *o, sn_dataset *train, sn_dataset *test, sn_data_report *rep)
{
	sn_data_report local;
	sn_data_report *r = rep ? rep : &local;
	memset(r, 0, sizeof *r);
	if (train) memset(train, 0, sizeof *train);
	memset(test, 0, sizeof *test);
	if (!spec) spec = SN_FMNIST_DIR;
	if (o->c < 1 || o->h < 1 || o->w < 1) return sn_seterr(SN_EINVAL, "sn_data_open: no model input shape");
	char npz[4096] = "";
	fmt f = detect(spec, npz, sizeof npz);
	sn_dataset tr = {0}, te = {0};
	int rc = SN_OK, have_te = 0;
	switch (f) {
	case F_NONE: return no_format(spec);
	case F_IDX:
		rc = sn_fmnist_load(spec, &tr, &te, 0);
		have_te = !rc;
		snprintf(r->format, sizeof r->format, "idx");
		break;
	case F_NPY:
	case F_NPZ: {
		int a = npy_split(spec, f == F_NPZ ? npz : NULL, "train", o->c, &tr, r);
		int b = a < 0 ? a : npy_split(spec, f == F_NPZ ? npz : NULL, "test", o->c, &te, r);
		rc = a < 0 ? a : b < 0 ? b : SN_OK;
		if (!rc && a == 1 && b == 1)
			rc = sn_seterr(SN_EFORMAT, "'%s' holds no train_x/train_y or test_x/test_y arrays", f == F_NPZ ? npz : spec);
		if (!rc && a == 1) { tr = te; memset(&te, 0, sizeof te); b = 1; }   /* one split, whatever its name */
		have_te = !rc && b == 0;
		if (!rc && have_te && (tr.c != te.c || tr.h != te.h || tr.w != te.w))
			rc = sn_seterr(SN_ESHAPE, "the train and test arrays hold images of different shapes");
		if (!rc && have_te) tr.classes = te.classes = MAX2(tr.classes, te.classes);
		snprintf(r->format, sizeof r->format, f == F_NPZ ? "npz" : "npy");
		break;
	}
	case F_CIFAR: {
		int kind = sn_cifar_detect(spec);
		sn_cifar a = {0}, b = {0};
		rc = sn_cifar_load(spec, 1, &a);
		if (!rc) rc = sn_cifar_load(spec, 0, &b);
		if (!rc) {
			int classes = MAX2(a.classes, b.classes);
			tr = (sn_dataset){.n = a.n, .c = 3, .h = 32, .w = 32, .images = a.images, .labels = a.labels,
			                  .classes = classes, .names = a.names};
			te = (sn_dataset){.n = b.n, .c = 3, .h = 32, .w = 32, .images = b.images, .labels = b.labels,
			                  .classes = classes, .names = b.names};
			have_te = 1;
		} else {
			sn_cifar_free(&a);
			sn_cifar_free(&b);
		}
		snprintf(r->format, sizeof r->format, "cifar-%d", kind);
		break;
	}
	case F_FOLDER:
	case F_FOLDER1:
		rc = open_folders(spec, f, o, &tr, &te, &have_te, r);
		snprintf(r->format, sizeof r->format, "image folder");
		break;
	}
	if (!rc && !tr.labels && !have_te) rc = no_format(spec);
	if (!rc && !tr.labels && o->need_train && !(have_te && o->val_split <= 0))
		rc = sn_seterr(SN_EFORMAT, "'%s' has no training split (train/, train_x.npy...)", spec);
	/* a validation split carved from the training samples, when asked or when there is no test split */
	if (!rc && o->val_split > 0) {
		if (!tr.labels) rc = sn_seterr(SN_EINVAL, "--val-split needs a training split in '%s'", spec);
		if (!rc) {
			sn_dataset_free(&te);
			sn_dataset all = tr;
			memset(&tr, 0, sizeof tr);
			rc = split(&all, o->val_split, o->seed, &tr, &te);
			have_te = !rc;
		}
	} else if (!rc && !have_te) {
		rc = sn_seterr(SN_EINVAL, "'%s' has no test split (test/, val/, test_x.npy...): carve one from the training "
		               "data with --val-split 0.1", spec);
	}
	/* to the model's shape, in memory (image folders are already there) */
	if (!rc && tr.labels) rc = adapt(&tr, o);
	if (!rc) rc = adapt(&te, o);
	/* normalisation: the model's, or the training split's statistics (the test split's alone
	 * when nothing else is there) */
	if (!rc) {
		if (o->norm && o->norm->c > 0) {
			tr.norm = te.norm = *o->norm;
		} else {
			rc = sn_dataset_stats(tr.labels ? &tr : &te, tr.src || te.src ? STATS_SAMPLES : 0, o->seed, &tr.norm);
			te.norm = tr.norm;
		}
	}
	/* after the statistics, so that --limit does not change the normalisation */
	if (!rc && o->limit > 0 && tr.labels && tr.n > o->limit) rc = keep_limit(&tr, o->limit, o->seed);
	if (!rc && o->limit > 0 && te.n > o->limit) rc = keep_limit(&te, o->limit, o->seed + 1);
	if (!rc && o->limit > 0 && tr.src) rc = cache_folder(&tr, o, r);
	if (!rc && o->limit > 0 && te.src) rc = cache_folder(&te, o, r);

	if (!rc && tr.labels && te.classes != tr.classes) te.classes = tr.classes = MAX2(tr.classes, te.classes);
	if (!rc) {
		snprintf(tr.format, sizeof tr.format, "%s", r->format);
		snprintf(te.format, sizeof te.format, "%s", r->format);
	}
	if (rc || !train) sn_dataset_free(&tr);
	if (rc) {
		sn_dataset_free(&te);
		return rc;
	}
	if (train) *train = tr;
	*test = te;
	return SN_OK;
}
