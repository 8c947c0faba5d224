/* N-dimensional arrays from NumPy files (.npy, and members of .npz archives), whatever their
 * element type, for data sets: the parser trusts nothing in the header, allocates nothing from a
 * declared size before the bytes are known to be there, and converts byte order.
 * Implemented in src/io/npy.c (.npy, elements) and src/io/npz.c (archives). */
#ifndef SN_IO_ARRAY_H
#define SN_IO_ARRAY_H
#include <stddef.h>
#include <stdint.h>
#include "core/error.h"

typedef enum {
	SN_DT_BOOL, SN_DT_U8, SN_DT_I8, SN_DT_U16, SN_DT_I16, SN_DT_U32, SN_DT_I32, SN_DT_U64, SN_DT_I64,
	SN_DT_F16, SN_DT_F32, SN_DT_F64
} sn_dtype;

#define SN_ARRAY_MAX_DIM 8
typedef struct {
	sn_dtype dtype;
	int ndim;
	int64_t dims[SN_ARRAY_MAX_DIM];
	size_t numel;
	void *data;        /* numel elements of dtype, native byte order, C (row-major) order */
} sn_array;

const char *sn_dtype_name(sn_dtype t);          /* "uint8", "float32", ... */
size_t sn_dtype_size(sn_dtype t);

/* A .npy image in memory (versions 1.0-3.0; '<' '>' '|' '=' byte orders; Fortran order is
 * transposed to C order). name labels messages. SN_EFORMAT naming the file and the problem. */
int sn_npy_parse(const void *buf, size_t len, const char *name, sn_array *a);
/* The same, taking over buf (malloc'd): its data bytes are moved to the front and kept as
 * a->data when they can be (C order), so a large array is not held twice; buf is freed or kept
 * in every case, success or not. */
int sn_npy_parse_owned(unsigned char *buf, size_t len, const char *name, sn_array *a);
int sn_npy_load(const char *path, sn_array *a);
/* The member "<key>.npy" (or, failing that, "<key>") of a .npz archive (stored or deflated, as
 * np.savez and np.savez_compressed write). SN_EFORMAT when the archive is corrupt or a member
 * declares or inflates to more than it may (SN_NPZ_MAX_MEMBER, and what its compressed size can
 * hold), SN_EINVAL naming the keys that are there when key is not. sn_npz_load reads the
 * archive through libzip from the file, so a large np.savez archive is not held in memory
 * besides the array. */
#define SN_NPZ_MAX_MEMBER ((uint64_t)16 << 30)   /* 16 GiB of one decompressed array */
int sn_npz_load(const char *path, const char *key, sn_array *a);
int sn_npz_parse(const void *buf, size_t len, const char *name, const char *key, sn_array *a);
/* Whether the archive has the member "<key>.npy": 1, 0, or < 0 on error. */
int sn_npz_has(const char *path, const char *key);
void sn_array_free(sn_array *a);

/* Element i as a double (NaN when i is out of range) / as an integer: exact for integer types
 * and whole floating-point values; INT64_MIN when there is no such integer (a fraction, NaN,
 * infinity, a uint64 above INT64_MAX, i out of range), so that a range check such as
 * 0 <= label < classes refuses it. Range checks are the caller's. */
double sn_array_f64(const sn_array *a, size_t i);
int64_t sn_array_i64(const sn_array *a, size_t i);
/* Converts a to float32 in place (dtype, data); name labels the out-of-memory message. */
int sn_array_to_f32(sn_array *a, const char *name);

#endif
