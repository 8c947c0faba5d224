/* Sparse encodings of tensor values for .slim files (docs/slim-format.md, docs/prune.md).
 *
 * Every encoding leaves out exactly the values whose bits are all zero (+0.0) and stores every
 * other bit pattern (-0.0, NaN payloads included), so decoding gives the same bits back.
 *
 *   1 csr u8    CSR: per row the count of stored values, the values, then each value's gap
 *               (zeros skipped since the previous stored value of its row) as u8 codes
 *   2 csr u16   the same with u16 codes, for long rows at high sparsity
 *   3 bitmap    one bit per value (1 = stored), then the stored values
 *
 * The ids are the `encoding` byte of a TENS record; 0 is dense f32 (src/io/slimfile.c). */
#ifndef SN_IO_SPARSE_CODEC_H
#define SN_IO_SPARSE_CODEC_H
#include <stddef.h>
#include <stdint.h>
#include "slimnn.h"
#include "io/io.h"

enum { SN_ENC_DENSE = 0, SN_ENC_CSR8 = 1, SN_ENC_CSR16 = 2, SN_ENC_BITMAP = 3, SN_ENC_COUNT = 4 };

/* Tensors smaller than this stay dense: the gain would be a few bytes. */
#define SN_SPARSE_MIN_VALUES 64

/* Payload bytes of x[0..n) (rows of `cols` values) in each encoding, indexed by SN_ENC_*. */
void sn_sparse_sizes(const float *x, size_t n, size_t cols, size_t bytes[SN_ENC_COUNT]);
/* Appends the payload of x in encoding enc (1..3). */
void sn_sparse_encode(sn_buf *b, int enc, const float *x, size_t n, size_t cols);
/* Fills out[0..n) from exactly len payload bytes; NULL on success, else what is wrong. */
const char *sn_sparse_decode(int enc, const unsigned char *p, size_t len, float *out, size_t n);

/* The same encodings for an int8 layer's weight (.slim encodings 16 + SN_ENC_*): the values x
 * (float, 0 exactly where the int8 value is 0) say what is stored, q gives the stored bytes.
 * The decoder writes the int8 values as floats (-128..127); SN_ENC_DENSE is one byte a value. */
int sn_sparse_choose_i8(const float *x, size_t n, size_t cols);
void sn_sparse_encode_i8(sn_buf *b, int enc, const float *x, const int8_t *q, size_t n, size_t cols);
const char *sn_sparse_decode_i8(int enc, const unsigned char *p, size_t len, float *out, size_t n);

/* Values per row of a tensor: everything after its first dimension (1-D: the whole tensor). */
size_t sn_sparse_cols(const sn_tensor *t);
/* The encoding with the smallest payload for t (dense on ties and for small tensors). */
int sn_sparse_choose(const sn_tensor *t);

/* The .slim codec table's entry points (signatures of slim_codec in src/io/slimfile.c). */
void sn_enc_csr8(sn_buf *b, const sn_tensor *t);
void sn_enc_csr16(sn_buf *b, const sn_tensor *t);
void sn_enc_bitmap(sn_buf *b, const sn_tensor *t);
const char *sn_dec_csr8(const unsigned char *p, size_t len, float *out, size_t n);
const char *sn_dec_csr16(const unsigned char *p, size_t len, float *out, size_t n);
const char *sn_dec_bitmap(const unsigned char *p, size_t len, float *out, size_t n);

/* 1 if t's mask is exactly "the value is not 0.0" (and t is not tiny): the file then stores
 * the mask as implied by the values instead of as a bitmap. */
int sn_mask_implied(const sn_tensor *t);
#endif
