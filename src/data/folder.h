/* Image folders (torchvision's ImageFolder layout), src/data/folder.c. */
#ifndef SN_DATA_FOLDER_H
#define SN_DATA_FOLDER_H
#include "slimnn.h"

typedef struct {
	int c, h, w;        /* what a sample becomes: the model's input (c 1 or 3) */
	int resize;         /* shorter side before the centre crop (0: max(h, w)) */
	int cache;          /* 1: decode every image now, into memory */
	int threads;        /* decoding threads for the cache */
} sn_folder_opts;

typedef struct {
	long other_files;   /* files without an image extension, ignored */
	char first_other[512];
	long skipped;       /* images that failed to decode (cache: dropped) */
	char first_bad[512];
	int cached;
} sn_folder_report;

/* The class folders of root, sorted (caller frees each and the array). */
int sn_folder_classes(const char *root, char ***names, int *n);
/* The images under root/<classes[k]>/ with label k (a class folder root lacks is skipped; one
 * that holds no image is an error). d gets labels, classes = n_classes, no names. */
int sn_folder_open(const char *root, char *const *classes, int n_classes, const sn_folder_opts *o, sn_dataset *d,
                   sn_folder_report *rep);
/* Decodes every file of d's source (a listed folder) into d->images with `threads` threads,
 * drops the ones that failed (rep->skipped, first_bad) and then the source itself. */
int sn_folder_cache(sn_dataset *d, int threads, sn_folder_report *rep);
/* 1 when p names a folder (following links). */
int sn_is_dir(const char *p);
#endif
