/* Small helpers for file formats: a growable byte buffer that writes little-endian values
 * explicitly (files are the same on every host), the matching readers, and a bounded whole-file
 * reader.
 *
 * Writing a file:
 *   sn_buf b = {0};
 *   sn_buf_put(&b, "MAGIC", 5);
 *   sn_buf_u32(&b, version);
 *   sn_buf_f32n(&b, weights, n);
 *   int rc = b.oom ? sn_seterr(SN_ENOMEM, ...) : sn_write_atomic(path, b.p, b.len);
 *   sn_buf_free(&b);
 *
 * The put functions never fail loudly: the first failed allocation sets b->oom and turns every
 * later put into a no-op, so a writer checks b->oom once at the end. */
#ifndef SN_IO_H
#define SN_IO_H
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "core/error.h"

typedef struct sn_buf {
	unsigned char *p;   /* bytes written so far (NULL until the first put) */
	size_t len, cap;    /* used and allocated bytes */
	int oom;            /* 1 once an allocation failed; the contents are then incomplete */
} sn_buf;

/* Ensures room for n more bytes; returns 0, or -1 (and sets oom) when memory runs out. */
int sn_buf_reserve(sn_buf *b, size_t n);
void sn_buf_put(sn_buf *b, const void *data, size_t n);
void sn_buf_u32(sn_buf *b, uint32_t v);              /* 4 bytes, little-endian */
void sn_buf_u64(sn_buf *b, uint64_t v);              /* 8 bytes, little-endian */
void sn_buf_f32(sn_buf *b, float v);                 /* IEEE-754 bits, little-endian */
void sn_buf_f32n(sn_buf *b, const float *v, size_t n); /* n floats, little-endian */
void sn_buf_free(sn_buf *b);                         /* frees and zeroes; safe on {0} */

/* Little-endian readers for parsing what the writers above produced (p needs 4/8 bytes). */
static inline uint32_t sn_get_u32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t sn_get_u64(const unsigned char *p)
{
	return (uint64_t)sn_get_u32(p) | (uint64_t)sn_get_u32(p + 4) << 32;
}
static inline float sn_get_f32(const unsigned char *p)
{
	uint32_t u = sn_get_u32(p);
	float f;
	memcpy(&f, &u, sizeof f);
	return f;
}

/* Reads a whole regular file into *data (NUL-terminated for convenience, not counted in *len).
 * Refuses files larger than max_bytes before allocating anything. Errors: SN_EIO (missing,
 * unreadable, not a regular file), SN_EFORMAT (larger than max_bytes), SN_ENOMEM. */
int sn_read_file(const char *path, size_t max_bytes, unsigned char **data, size_t *len);
/* Clearer messages than "not a regular file" for the usual mistakes (no path, a missing file, a
 * folder, a device): SN_OK when path is a regular file, its size in *bytes (may be NULL). what
 * names the file expected ("model"). */
int sn_check_file(const char *path, const char *what, uint64_t *bytes);
/* Writes `len` bytes to path via temp file + fsync + rename: no partial files. */
int sn_write_atomic(const char *path, const void *data, size_t len);

/* For the any-format loader above io and onnx (src/load), from src/io/slimfile.c: whether a file
 * whose first byte is b is meant as a .slim file (the signature's first byte, which no text
 * starts with: a model file cut short after it is still reported as a damaged model file), and
 * the metadata of a model that has none (accuracy and loss unknown, no normalisation). */
int sn_slim_first_byte(unsigned char b);
void sn_meta_defaults(sn_meta *m);

#endif
