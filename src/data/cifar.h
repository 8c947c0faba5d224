/* CIFAR-10 and CIFAR-100 in their "binary version" (cifar-10-binary.tar.gz,
 * cifar-100-binary.tar.gz), as raw images and labels: the data-set layer turns them into an
 * sn_dataset. A record is the label byte(s) then 3072 pixel bytes, the 32x32 red plane, green,
 * blue; CIFAR-10 has one label byte, CIFAR-100 two (coarse, fine), of which the fine one (100
 * classes) is kept. Nothing in a file is trusted: sizes, record counts and labels are checked
 * before use, and the total is bounded before anything is allocated. */
#ifndef SN_DATA_CIFAR_H
#define SN_DATA_CIFAR_H
#include <stddef.h>
#include <stdint.h>

#define SN_CIFAR_PIXELS 3072                     /* 3 x 32 x 32 bytes of one image */
#define SN_CIFAR_MAX_BYTES ((uint64_t)4 << 30)   /* pixel bytes of all batches of one split together */

typedef struct {
	int n;              /* images */
	int classes;        /* 10 or 100; 0 while empty */
	uint8_t *images;    /* n x 3 x 32 x 32, planar RGB as stored */
	int32_t *labels;    /* n, each in [0, classes) */
	char *names;        /* `classes` NUL-separated class names, or NULL (no names file) */
} sn_cifar;

/* What DIR holds: 10 (CIFAR-10: data_batch_<k>.bin or test_batch.bin), 100 (CIFAR-100: train.bin
 * and test.bin, or one of them beside fine_label_names.txt), 0 neither. Looks at names only, so
 * a partial download is still recognised and sn_cifar_load can say what is missing. */
int sn_cifar_detect(const char *dir);

/* Loads one split of DIR into *out (overwritten; free with sn_cifar_free): train 1 the training
 * batches (CIFAR-10: data_batch_1.bin .. data_batch_<N>.bin in numeric order, all of 1..N
 * present; CIFAR-100: train.bin), train 0 the test batch (test_batch.bin, test.bin). Class names
 * from batches.meta.txt (CIFAR-10) or fine_label_names.txt (CIFAR-100) when present. SN_EIO for a
 * missing or unreadable file, SN_EFORMAT for a malformed one, each naming the file and the fix;
 * *out is empty on failure. */
int sn_cifar_load(const char *dir, int train, sn_cifar *out);

/* Appends the records of one batch file (len bytes at buf; name labels messages) to *out, which
 * starts as {0}: label_bytes 1 (CIFAR-10) or 2 (CIFAR-100), and must agree with what *out
 * already holds. On failure *out is unchanged (the caller still frees it). */
int sn_cifar_parse(const void *buf, size_t len, int label_bytes, const char *name, sn_cifar *out);

/* Reads class names, one per line (blank lines ignored, surrounding spaces dropped), into
 * out->names: there must be exactly out->classes of them. */
int sn_cifar_parse_names(const char *text, size_t len, const char *name, sn_cifar *out);

void sn_cifar_free(sn_cifar *c);   /* frees and zeroes; safe on {0} */

#endif
