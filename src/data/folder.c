/* Image folders in torchvision's ImageFolder layout: ROOT/<class>/[...]/NAME.{png,jpg,jpeg}, class
 * index = the class folder's place in sorted order, files in sorted os.walk order (so sample i
 * is torchvision's sample i). Samples are decoded on demand (the source below) or all at once
 * into memory by a pool of threads (the cache); a file that does not decode is skipped and
 * counted, never fatal. */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include "data/dataset_internal.h"
#include "data/folder.h"
#include "data/image.h"
#include "data/source.h"
#include "io/io.h"

#define MAX_IMAGE_FILE ((size_t)256 << 20)   /* 256 MiB: no sane training image is larger */

/* ---------------------------------------------------------------- the source */

void sn_source_skip(sn_source *s, const char *msg)
{
	pthread_mutex_lock(&s->lock);
	if (!s->skipped++) snprintf(s->first_bad, sizeof s->first_bad, "%s", msg);
	pthread_mutex_unlock(&s->lock);
}

void sn_source_free(sn_source *s)
{
	if (!s) return;
	for (int i = 0; i < s->n; i++) free(s->paths[i]);
	free(s->paths);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

int sn_source_sample(const sn_source *s, int k, const sn_draw *d, uint8_t *out)
{
	unsigned char *bytes = NULL;
	size_t len = 0;
	int rc = sn_read_file(s->paths[k], MAX_IMAGE_FILE, &bytes, &len);
	if (rc) return rc == SN_EIO ? SN_EFORMAT : rc;   /* a vanished file is one bad sample too */
	const int rrc = d && d->rrc_scale > 0;
	sn_image im = {0};
	/* the decoder may shrink a large JPEG in the DCT as long as the resize still shrinks it (the
	 * side that covers the input is at most its larger side) */
	rc = sn_image_decode(bytes, len, s->c, rrc ? 0 : s->resize > 0 ? s->resize : (s->h > s->w ? s->h : s->w),
	                     s->paths[k], &im);
	free(bytes);
	if (rc) return rc;
	if (rrc) {
		sn_rng r;
		sn_rng_seed(&r, d->seed);
		int box[4];
		sn_rrc_box(&r, im.w, im.h, d->rrc_scale, 1.0f, 3.0f / 4.0f, 4.0f / 3.0f, box);
		rc = sn_image_resized_crop(&im, box[0], box[1], box[2], box[3], s->h, s->w, out);
	} else {
		rc = sn_image_resize_crop(&im, sn_resize_side(s->resize, im.w, im.h, s->h, s->w), s->h, s->w, out);
	}
	sn_image_free(&im);
	return rc;
}

/* ---------------------------------------------------------------- scanning */

typedef struct { char **v; int n, cap; } strs;

static int strs_add(strs *s, const char *a, const char *b)
{
	if (s->n == s->cap) {
		int cap = s->cap ? 2 * s->cap : 64;
		char **v = realloc(s->v, (size_t)cap * sizeof *v);
		if (!v) return sn_seterr(SN_ENOMEM, "out of memory listing files");
		s->v = v;
		s->cap = cap;
	}
	size_t la = strlen(a), lb = b ? strlen(b) : 0;
	char *p = malloc(la + lb + 2);
	if (!p) return sn_seterr(SN_ENOMEM, "out of memory listing files");
	memcpy(p, a, la);
	if (b) { p[la] = '/'; memcpy(p + la + 1, b, lb + 1); }
	else p[la] = 0;
	s->v[s->n++] = p;
	return SN_OK;
}

static void strs_free(strs *s)
{
	for (int i = 0; i < s->n; i++) free(s->v[i]);
	free(s->v);
	memset(s, 0, sizeof *s);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int sn_is_dir(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int image_ext(const char *name)
{
	const char *e = strrchr(name, '.');
	return e && (!strcasecmp(e, ".png") || !strcasecmp(e, ".jpg") || !strcasecmp(e, ".jpeg"));
}

/* Entries of dir (hidden ones skipped), sorted: sub-folders into dirs, files into files. */
static int list_dir(const char *dir, strs *dirs, strs *files)
{
	DIR *dp = opendir(dir);
	if (!dp) return sn_seterr(SN_EIO, "cannot read folder '%s': %s", dir, strerror(errno));
	int rc = SN_OK;
	for (struct dirent *e; !rc && (e = readdir(dp));) {
		if (e->d_name[0] == '.') continue;
		char path[4096];
		if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path) continue;
		if (sn_is_dir(path)) { if (dirs) rc = strs_add(dirs, e->d_name, NULL); }
		else if (files) rc = strs_add(files, e->d_name, NULL);
	}
	closedir(dp);
	if (dirs && dirs->n) qsort(dirs->v, (size_t)dirs->n, sizeof *dirs->v, cmp_str);
	if (files && files->n) qsort(files->v, (size_t)files->n, sizeof *files->v, cmp_str);
	return rc;
}

/* os.walk(dir) in sorted order, as torchvision's make_dataset: dir's own files first, then each
 * sub-folder's walk (a root that sorts before its siblings' roots); images appended to out,
 * other files counted. depth bounds symlink loops. */
static int walk(const char *dir, strs *out, long *other, char *first_other, size_t cap, int depth)
{
	if (depth > 32) return sn_seterr(SN_EFORMAT, "folder '%s' is nested more than 32 deep (a symlink loop?)", dir);
	strs dirs = {0}, files = {0};
	int rc = list_dir(dir, &dirs, &files);
	for (int i = 0; !rc && i < files.n; i++) {
		if (image_ext(files.v[i])) rc = strs_add(out, dir, files.v[i]);
		else if (!(*other)++) snprintf(first_other, cap, "%.200s/%.200s", dir, files.v[i]);
	}
	for (int i = 0; !rc && i < dirs.n; i++) {
		char sub[4096];
		if (snprintf(sub, sizeof sub, "%s/%s", dir, dirs.v[i]) >= (int)sizeof sub) continue;
		rc = walk(sub, out, other, first_other, cap, depth + 1);
	}
	strs_free(&dirs);
	strs_free(&files);
	return rc;
}

int sn_folder_classes(const char *root, char ***names, int *n)
{
	strs dirs = {0};
	int rc = list_dir(root, &dirs, NULL);
	if (rc) { strs_free(&dirs); return rc; }
	if (!dirs.n) {
		strs_free(&dirs);
		return sn_seterr(SN_EFORMAT, "folder '%s' has no class folders: an image folder holds one sub-folder of "
		                 "images per class (ROOT/train/<class>/*.png)", root);
	}
	*names = dirs.v;
	*n = dirs.n;
	return SN_OK;
}

/* ---------------------------------------------------------------- the cache */

typedef struct {
	const sn_source *src;
	uint8_t *images;
	size_t chw;
	int next, failed_k;
	int *ok;
	pthread_mutex_t mu;
} cache_job;

static void *cache_worker(void *arg)
{
	cache_job *j = arg;
	for (;;) {
		pthread_mutex_lock(&j->mu);
		int k = j->next++;
		pthread_mutex_unlock(&j->mu);
		if (k >= j->src->n) return NULL;
		int rc = sn_source_sample(j->src, k, NULL, j->images + (size_t)k * j->chw);
		j->ok[k] = rc == SN_OK;
		if (rc) sn_source_skip((sn_source *)j->src, sn_errmsg());
	}
}

int sn_folder_cache(sn_dataset *d, int threads, sn_folder_report *rep)
{
	sn_source *s = d->src;
	cache_job j = {.src = s, .chw = (size_t)d->c * d->h * d->w};
	j.images = malloc((size_t)s->n * j.chw + 1);
	j.ok = calloc((size_t)s->n + 1, sizeof *j.ok);
	if (!j.images || !j.ok) {
		free(j.images); free(j.ok);
		return sn_seterr(SN_ENOMEM, "out of memory caching %d images of %zu bytes: use --cache off", s->n, j.chw);
	}
	pthread_mutex_init(&j.mu, NULL);
	pthread_t t[64];
	int nt = threads < 1 ? 1 : threads > 64 ? 64 : threads, started = 0;
	for (; started < nt - 1; started++)
		if (pthread_create(&t[started], NULL, cache_worker, &j)) break;
	cache_worker(&j);
	for (int i = 0; i < started; i++) pthread_join(t[i], NULL);
	pthread_mutex_destroy(&j.mu);
	int kept = 0;
	for (int k = 0; k < s->n; k++) {
		if (!j.ok[k]) continue;
		if (kept != k) memcpy(j.images + (size_t)kept * j.chw, j.images + (size_t)k * j.chw, j.chw);
		d->labels[kept++] = d->labels[k];
	}
	free(j.ok);
	d->images = j.images;
	d->n = kept;
	memset(rep, 0, sizeof *rep);
	rep->cached = 1;
	rep->skipped = s->skipped;
	snprintf(rep->first_bad, sizeof rep->first_bad, "%s", s->first_bad);
	sn_source_free(s);
	d->src = NULL;
	return SN_OK;
}

/* ---------------------------------------------------------------- opening */

int sn_folder_open(const char *root, char *const *classes, int n_classes, const sn_folder_opts *o, sn_dataset *d,
                   sn_folder_report *rep)
{
	memset(d, 0, sizeof *d);
	memset(rep, 0, sizeof *rep);
	if (o->c != 1 && o->c != 3)
		return sn_seterr(SN_ESHAPE, "image folders feed models with 1 or 3 input channels; this one has %d", o->c);
	strs files = {0};
	int rc = SN_OK;
	int32_t *labels = NULL;
	size_t cap = 0;
	for (int k = 0; !rc && k < n_classes; k++) {
		char dir[4096];
		snprintf(dir, sizeof dir, "%s/%s", root, classes[k]);
		if (!sn_is_dir(dir)) continue;   /* a class the test split lacks */
		int before = files.n;
		rc = walk(dir, &files, &rep->other_files, rep->first_other, sizeof rep->first_other, 0);
		if (!rc && files.n == before)
			rc = sn_seterr(SN_EFORMAT, "class folder '%s' holds no .png, .jpg or .jpeg images: remove it or add "
			               "images", dir);
		if (!rc && (size_t)files.n > cap) {
			cap = (size_t)files.n * 2;
			int32_t *l = realloc(labels, cap * sizeof *l);
			if (!l) rc = sn_seterr(SN_ENOMEM, "out of memory listing files");
			else labels = l;
		}
		for (int i = before; !rc && i < files.n; i++) labels[i] = k;
	}
	if (!rc && files.n == 0) rc = sn_seterr(SN_EFORMAT, "image folder '%s' holds no images", root);
	sn_source *s = NULL;
	if (!rc && !(s = calloc(1, sizeof *s))) rc = sn_seterr(SN_ENOMEM, "out of memory");
	if (rc) {
		strs_free(&files);
		free(labels);
		free(s);
		return rc;
	}
	pthread_mutex_init(&s->lock, NULL);
	s->n = files.n;
	s->paths = files.v;
	s->c = o->c; s->h = o->h; s->w = o->w;
	s->resize = o->resize;
	*d = (sn_dataset){.n = files.n, .c = o->c, .h = o->h, .w = o->w, .src = s, .labels = labels, .classes = n_classes};
	snprintf(d->format, sizeof d->format, "image folder");
	if (o->cache) {
		long other = rep->other_files;
		char first_other[sizeof rep->first_other];
		memcpy(first_other, rep->first_other, sizeof first_other);
		rc = sn_folder_cache(d, o->threads, rep);
		rep->other_files = other;
		memcpy(rep->first_other, first_other, sizeof first_other);
	}
	if (rc) sn_dataset_free(d);
	return rc;
}

/* ---------------------------------------------------------------- single files */

int sn_image_files(const char *path, char ***paths, int *n)
{
	strs files = {0};
	long other = 0;
	char first[512];
	int rc = sn_is_dir(path) ? walk(path, &files, &other, first, sizeof first, 0) : strs_add(&files, path, NULL);
	if (!rc && !files.n) rc = sn_seterr(SN_EIO, "folder '%s' holds no .png, .jpg or .jpeg images", path);
	if (rc) { strs_free(&files); return rc; }
	*paths = files.v;
	*n = files.n;
	return SN_OK;
}

int sn_image_input(const char *path, int c, int h, int w, int resize, const sn_norm *norm, float *x)
{
	if (c != 1 && c != 3)
		return sn_seterr(SN_ESHAPE, "images feed models with 1 or 3 input channels; this one has %d", c);
	char *p = (char *)path;
	sn_source s = {.n = 1, .paths = &p, .c = c, .h = h, .w = w, .resize = resize};
	uint8_t *bytes = malloc((size_t)c * h * w);
	if (!bytes) return sn_seterr(SN_ENOMEM, "out of memory for a %dx%dx%d image", c, h, w);
	int rc = sn_source_sample(&s, 0, NULL, bytes);
	if (!rc) {   /* made as a one-image data set is: the same normalisation code */
		int32_t label = 0;
		int i0 = 0;
		sn_dataset d = {.n = 1, .c = c, .h = h, .w = w, .images = bytes, .labels = &label, .classes = 1, .norm = *norm};
		rc = sn_dataset_make(&d, &i0, 1, NULL, x, NULL);
	}
	free(bytes);
	return rc;
}
