/* Fashion-MNIST (and MNIST) from IDX files. Images stay uint8 in memory (47 MB for the training
 * split instead of 188 MB as floats). */
#include <assert.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "data/dataset_internal.h"

#define FMNIST_CLASSES 10

/* dir/name.gz if it exists, else dir/name; an error naming the file if neither does. */
static int find_file(const char *dir, const char *name, char *out, size_t len)
{
	struct stat st;
	int w = snprintf(out, len, "%s/%s.gz", dir, name);
	if (w < 0 || (size_t)w >= len)
		return sn_seterr(SN_EINVAL, "data directory path '%s' is too long", dir);
	if (stat(out, &st) == 0) return SN_OK;
	snprintf(out, len, "%s/%s", dir, name);
	if (stat(out, &st) == 0) return SN_OK;
	return sn_seterr(SN_EIO, "data directory '%s' has no '%s.gz' or '%s': install Debian's "
	                 "dataset-fashion-mnist or pass --data DIR", dir, name, name);
}

/* One split: images [n,h,w] and labels [n], checked against each other. */
static int load_split(const char *dir, const char *prefix, sn_dataset *d)
{
	char ipath[4096], lpath[4096], name[64];
	int idims[4], ldims[4], rc;
	snprintf(name, sizeof name, "%s-images-idx3-ubyte", prefix);
	if ((rc = find_file(dir, name, ipath, sizeof ipath))) return rc;
	snprintf(name, sizeof name, "%s-labels-idx1-ubyte", prefix);
	if ((rc = find_file(dir, name, lpath, sizeof lpath))) return rc;

	uint8_t *labels = NULL;
	if ((rc = sn_idx_read(ipath, 3, idims, &d->images))) return rc;
	if ((rc = sn_idx_read(lpath, 1, ldims, &labels))) return rc;
	d->labels = malloc(((size_t)ldims[0] + 1) * sizeof *d->labels);
	if (!d->labels) { free(labels); return sn_seterr(SN_ENOMEM, "out of memory for %d labels", ldims[0]); }
	for (int i = 0; i < ldims[0]; i++) d->labels[i] = labels[i];
	free(labels);
	if (idims[0] != ldims[0])
		return sn_seterr(SN_EFORMAT, "'%s' holds %d images but '%s' holds %d labels", ipath, idims[0],
		                 lpath, ldims[0]);
	/* classes: the largest label + 1 (10 for MNIST and Fashion-MNIST) */
	int classes = 0;
	for (int i = 0; i < ldims[0]; i++) classes = d->labels[i] >= classes ? d->labels[i] + 1 : classes;
	d->n = idims[0];
	d->c = 1;
	d->h = idims[1];
	d->w = idims[2];
	d->classes = classes;
	return SN_OK;
}

/* Keeps the first n samples; shrinking the buffers returns the memory of the rest. */
static void keep_first(sn_dataset *d, int n)
{
	if (n <= 0 || n >= d->n) return;
	size_t chw = (size_t)d->c * d->h * d->w;
	uint8_t *p = realloc(d->images, (size_t)n * chw);
	if (p) d->images = p;
	int32_t *l = realloc(d->labels, (size_t)n * sizeof *l);
	if (l) d->labels = l;
	d->n = n;
}

int sn_fmnist_load(const char *dir, sn_dataset *train, sn_dataset *test, int limit)
{
	if (train) memset(train, 0, sizeof *train);
	if (test) memset(test, 0, sizeof *test);
	if (!dir) dir = SN_FMNIST_DIR;
	struct stat st;
	if (stat(dir, &st) || !S_ISDIR(st.st_mode))
		return sn_seterr(SN_EIO, "data directory '%s' not found: install Debian's dataset-fashion-mnist "
		                 "(apt-get install dataset-fashion-mnist) or pass --data DIR", dir);

	sn_dataset tr = {0}, te = {0};
	int rc = load_split(dir, "train", &tr);
	if (rc == SN_OK && test) rc = load_split(dir, "t10k", &te);
	if (rc == SN_OK && test && (te.h != tr.h || te.w != tr.w))
		rc = sn_seterr(SN_EFORMAT, "the IDX splits in '%s' hold images of different sizes: %dx%d and %dx%d", dir, tr.h,
		               tr.w, te.h, te.w);
	if (rc == SN_OK && test) tr.classes = te.classes = tr.classes > te.classes ? tr.classes : te.classes;
	if (rc) {
		sn_dataset_free(&tr);
		sn_dataset_free(&te);
		return rc;
	}
	/* statistics of the whole training split, so --limit does not change the normalisation */
	if (!rc) rc = sn_dataset_stats(&tr, 0, 0, &tr.norm);
	if (rc) {
		sn_dataset_free(&tr);
		sn_dataset_free(&te);
		return rc;
	}
	te.norm = tr.norm;
	strcpy(tr.format, "idx");
	strcpy(te.format, "idx");
	if (strcasestr(dir, "fashion") && tr.classes == FMNIST_CLASSES) {   /* IDX files carry no names; Fashion-MNIST's are known */
		static char *const names[FMNIST_CLASSES] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
		                                            "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};
		rc = sn_names_join(&tr.names, names, FMNIST_CLASSES);
		if (!rc) rc = sn_names_join(&te.names, names, FMNIST_CLASSES);
		if (rc) {
			sn_dataset_free(&tr);
			sn_dataset_free(&te);
			return rc;
		}
	}
	if (limit > 0) {
		keep_first(&tr, limit);
		keep_first(&te, limit);
	}
	if (train) *train = tr;
	else sn_dataset_free(&tr);
	if (test) *test = te;
	return SN_OK;
}
