/* Sparse value encodings: CSR with narrow gap codes (u8 or u16, with an escape for longer
 * gaps) and bitmap + values. Byte layouts: docs/slim-format.md. Decoders treat the payload as
 * hostile: the tensor size comes from the architecture, and every count and code is checked
 * against it and against the bytes left before it is used. */
#include "core/internal.h"
#include "io/sparse_codec.h"

/* Only +0.0 is left out, so -0.0 and NaN payloads come back bit for bit. */
static int is_stored(float v)
{
	uint32_t u;
	memcpy(&u, &v, sizeof u);
	return u != 0;
}

/* ---------------------------------------------------------------- CSR */

/* The escape code (255 or 65535) skips that many positions without a value; any smaller code
 * c skips c positions and then places the next stored value. */
static uint32_t code_max(int width) { return width == 1 ? 0xffu : 0xffffu; }
static size_t gap_bytes(size_t gap, int width) { return (gap / code_max(width) + 1) * (size_t)width; }

static size_t varint_len(uint32_t v)
{
	size_t k = 1;
	for (; v >= 0x80; v >>= 7) k++;
	return k;
}

static void put_varint(sn_buf *b, uint32_t v)
{
	unsigned char q[5];
	size_t k = 0;
	do {
		q[k] = v & 0x7f;
		v >>= 7;
		if (v) q[k] |= 0x80;
		k++;
	} while (v);
	sn_buf_put(b, q, k);
}

/* LEB128, at most 5 bytes and 32 bits; -1 if cut short or too long. */
static int get_varint(const unsigned char *p, size_t len, size_t *pos, uint32_t *v)
{
	uint64_t x = 0;
	for (int s = 0; s < 35; s += 7) {
		if (*pos >= len) return -1;
		unsigned char c = p[(*pos)++];
		x |= (uint64_t)(c & 0x7f) << s;
		if (!(c & 0x80)) {
			if (x > UINT32_MAX) return -1;
			*v = (uint32_t)x;
			return 0;
		}
	}
	return -1;
}

static void put_code(sn_buf *b, uint32_t c, int width)
{
	unsigned char q[2] = {(unsigned char)c, (unsigned char)(c >> 8)};
	sn_buf_put(b, q, (size_t)width);
}

static uint32_t row_count(const float *row, size_t cols)
{
	uint32_t k = 0;
	for (size_t i = 0; i < cols; i++) k += is_stored(row[i]);
	return k;
}

/* Stored value i: f32, or (q given: an int8 layer's weight, stored where x is not 0) its int8. */
static void put_value(sn_buf *b, const float *x, const int8_t *q, size_t i)
{
	if (q) sn_buf_put(b, q + i, 1);
	else sn_buf_f32(b, x[i]);
}

/* Value k of a payload's values, vb bytes each (4: f32, 1: int8, returned as its integer). */
static float get_value(const unsigned char *v, size_t k, int vb)
{
	return vb == 1 ? (float)(int8_t)v[k] : sn_get_f32(v + 4 * k);
}

/* u32 cols, u32 stored, a varint count per row, the stored values, the gap codes. */
static void enc_csr(sn_buf *b, const float *x, const int8_t *q, size_t n, size_t cols, int width)
{
	const size_t rows = n / cols;
	const uint32_t max = code_max(width);
	size_t nnz = 0;
	for (size_t i = 0; i < n; i++) nnz += is_stored(x[i]);
	sn_buf_u32(b, (uint32_t)cols);
	sn_buf_u32(b, (uint32_t)nnz);
	for (size_t r = 0; r < rows; r++) put_varint(b, row_count(x + r * cols, cols));
	if (sn_buf_reserve(b, 4 * nnz)) return;
	for (size_t i = 0; i < n; i++)
		if (is_stored(x[i])) put_value(b, x, q, i);
	for (size_t r = 0; r < rows; r++) {
		size_t gap = 0;
		for (size_t i = 0; i < cols; i++) {
			if (!is_stored(x[r * cols + i])) { gap++; continue; }
			for (; gap >= max; gap -= max) put_code(b, max, width);
			put_code(b, (uint32_t)gap, width);
			gap = 0;
		}
	}
}

/* Places one row's k values; *cp walks the codes, *vi the values. */
static const char *dec_row(const unsigned char *codes, size_t cl, size_t *cp, const unsigned char *vals, int vb,
                           size_t *vi, uint32_t k, float *row, size_t cols, int width)
{
	const uint32_t max = code_max(width);
	size_t col = 0;
	for (uint32_t j = 0; j < k; j++) {
		uint32_t c;
		do {
			if (cl - *cp < (size_t)width) return "its position codes are cut short";
			c = width == 1 ? codes[*cp] : codes[*cp] | (uint32_t)codes[*cp + 1] << 8;
			*cp += (size_t)width;
			col += c;
			if (col >= cols) return "a stored value lies past the end of its row";
		} while (c == max);
		row[col++] = get_value(vals, (*vi)++, vb);
	}
	return NULL;
}

static const char *dec_csr(const unsigned char *p, size_t len, float *out, size_t n, int width, int vb)
{
	if (len < 8) return "its sparse payload is shorter than its 8-byte header";
	const uint32_t cols = sn_get_u32(p), nnz = sn_get_u32(p + 4);
	if (cols == 0 || n % cols) return "its row length does not divide its number of values";
	if (nnz > n) return "it claims more stored values than it has values";
	const size_t rows = n / cols;
	size_t pos = 8, sum = 0;
	for (size_t r = 0; r < rows; r++) {
		uint32_t k;
		if (get_varint(p, len, &pos, &k)) return "its row counts are cut short or malformed";
		if (k > cols) return "a row count exceeds the row length";
		sum += k;
	}
	if (sum != nnz) return "its row counts do not add up to its number of stored values";
	if ((len - pos) / (size_t)vb < nnz) return "its stored values are cut short";
	const unsigned char *vals = p + pos, *codes = vals + (size_t)vb * nnz;
	const size_t cl = len - pos - (size_t)vb * nnz;
	size_t cpos = 8, cp = 0, vi = 0;
	memset(out, 0, n * sizeof *out);
	for (size_t r = 0; r < rows; r++) {
		uint32_t k = 0;
		get_varint(p, len, &cpos, &k);   /* checked above */
		const char *why = dec_row(codes, cl, &cp, vals, vb, &vi, k, out + r * cols, cols, width);
		if (why) return why;
	}
	if (cp != cl) return "its position codes have bytes left over";
	return NULL;
}

/* ---------------------------------------------------------------- bitmap + values */

static void enc_bitmap(sn_buf *b, const float *x, const int8_t *q, size_t n)
{
	const size_t nb = (n + 7) / 8;
	if (sn_buf_reserve(b, nb)) return;
	unsigned char *bits = b->p + b->len;
	memset(bits, 0, nb);
	for (size_t i = 0; i < n; i++)
		if (is_stored(x[i])) bits[i / 8] |= (unsigned char)(1u << (i % 8));
	b->len += nb;
	for (size_t i = 0; i < n; i++)
		if (is_stored(x[i])) put_value(b, x, q, i);
}

static const char *dec_bitmap(const unsigned char *p, size_t len, float *out, size_t n, int vb)
{
	const size_t nb = (n + 7) / 8;
	size_t pop = 0, k = 0;
	if (len < nb) return "its bitmap is cut short";
	if (n % 8 && (p[nb - 1] >> (n % 8))) return "its bitmap has bits set past its last value";
	for (size_t i = 0; i < nb; i++) pop += (size_t)__builtin_popcount(p[i]);
	if ((len - nb) % (size_t)vb || (len - nb) / (size_t)vb != pop) return "its bitmap and its number of stored values disagree";
	const unsigned char *v = p + nb;
	for (size_t i = 0; i < n; i++) out[i] = (p[i / 8] >> (i % 8)) & 1 ? get_value(v, k++, vb) : 0.0f;
	return NULL;
}

/* ---------------------------------------------------------------- choice and entry points */

static void sizes(const float *x, size_t n, size_t cols, size_t vb, size_t bytes[SN_ENC_COUNT])
{
	size_t nnz = 0;
	for (size_t i = 0; i < n; i++) nnz += is_stored(x[i]);
	bytes[SN_ENC_DENSE] = vb * n;
	bytes[SN_ENC_BITMAP] = (n + 7) / 8 + vb * nnz;
	bytes[SN_ENC_CSR8] = bytes[SN_ENC_CSR16] = SIZE_MAX;
	if (!cols || n % cols) return;
	size_t counts = 0, c8 = 0, c16 = 0;
	for (size_t r = 0; r < n / cols; r++) {
		const float *row = x + r * cols;
		size_t gap = 0;
		for (size_t i = 0; i < cols; i++) {
			if (!is_stored(row[i])) { gap++; continue; }
			c8 += gap_bytes(gap, 1);
			c16 += gap_bytes(gap, 2);
			gap = 0;
		}
		counts += varint_len(row_count(row, cols));
	}
	bytes[SN_ENC_CSR8] = 8 + counts + vb * nnz + c8;
	bytes[SN_ENC_CSR16] = 8 + counts + vb * nnz + c16;
}

void sn_sparse_sizes(const float *x, size_t n, size_t cols, size_t bytes[SN_ENC_COUNT]) { sizes(x, n, cols, 4, bytes); }

void sn_sparse_encode(sn_buf *b, int enc, const float *x, size_t n, size_t cols)
{
	if (enc == SN_ENC_CSR8 || enc == SN_ENC_CSR16) enc_csr(b, x, NULL, n, cols, enc == SN_ENC_CSR8 ? 1 : 2);
	else if (enc == SN_ENC_BITMAP) enc_bitmap(b, x, NULL, n);
	else sn_buf_f32n(b, x, n);
}

/* int8 values: one byte each; the decoder returns them as floats (-128..127). */
static const char *decode(int enc, const unsigned char *p, size_t len, float *out, size_t n, int vb)
{
	switch (enc) {
	case SN_ENC_CSR8: return dec_csr(p, len, out, n, 1, vb);
	case SN_ENC_CSR16: return dec_csr(p, len, out, n, 2, vb);
	case SN_ENC_BITMAP: return dec_bitmap(p, len, out, n, vb);
	default: return "its encoding is not a sparse one";
	}
}

const char *sn_sparse_decode(int enc, const unsigned char *p, size_t len, float *out, size_t n)
{
	return decode(enc, p, len, out, n, 4);
}

int sn_sparse_choose_i8(const float *x, size_t n, size_t cols)
{
	if (n < SN_SPARSE_MIN_VALUES) return SN_ENC_DENSE;
	size_t s[SN_ENC_COUNT];
	sizes(x, n, cols, 1, s);
	int best = SN_ENC_DENSE;
	for (int e = 1; e < SN_ENC_COUNT; e++)
		if (s[e] < s[best]) best = e;
	return best;
}

void sn_sparse_encode_i8(sn_buf *b, int enc, const float *x, const int8_t *q, size_t n, size_t cols)
{
	if (enc == SN_ENC_CSR8 || enc == SN_ENC_CSR16) enc_csr(b, x, q, n, cols, enc == SN_ENC_CSR8 ? 1 : 2);
	else if (enc == SN_ENC_BITMAP) enc_bitmap(b, x, q, n);
	else sn_buf_put(b, q, n);
}

const char *sn_sparse_decode_i8(int enc, const unsigned char *p, size_t len, float *out, size_t n)
{
	if (enc != SN_ENC_DENSE) return decode(enc, p, len, out, n, 1);
	if (len != n) return "its int8 payload does not hold exactly one byte per value";
	for (size_t i = 0; i < n; i++) out[i] = (float)(int8_t)p[i];
	return NULL;
}

size_t sn_sparse_cols(const sn_tensor *t)
{
	return t->ndim >= 2 && t->dims[0] > 0 ? t->n / (size_t)t->dims[0] : t->n;
}

int sn_sparse_choose(const sn_tensor *t)
{
	if (t->n < SN_SPARSE_MIN_VALUES) return SN_ENC_DENSE;
	size_t s[SN_ENC_COUNT];
	sizes(t->data, t->n, sn_sparse_cols(t), 4, s);
	int best = SN_ENC_DENSE;
	for (int e = 1; e < SN_ENC_COUNT; e++)
		if (s[e] < s[best]) best = e;
	return best;
}

void sn_enc_csr8(sn_buf *b, const sn_tensor *t) { enc_csr(b, t->data, NULL, t->n, sn_sparse_cols(t), 1); }
void sn_enc_csr16(sn_buf *b, const sn_tensor *t) { enc_csr(b, t->data, NULL, t->n, sn_sparse_cols(t), 2); }
void sn_enc_bitmap(sn_buf *b, const sn_tensor *t) { enc_bitmap(b, t->data, NULL, t->n); }

const char *sn_dec_csr8(const unsigned char *p, size_t len, float *out, size_t n) { return dec_csr(p, len, out, n, 1, 4); }
const char *sn_dec_csr16(const unsigned char *p, size_t len, float *out, size_t n) { return dec_csr(p, len, out, n, 2, 4); }
const char *sn_dec_bitmap(const unsigned char *p, size_t len, float *out, size_t n) { return dec_bitmap(p, len, out, n, 4); }

int sn_mask_implied(const sn_tensor *t)
{
	if (!t->mask || t->n < SN_SPARSE_MIN_VALUES) return 0;
	for (size_t i = 0; i < t->n; i++)
		if ((t->mask[i] != 0) != (t->data[i] != 0.0f)) return 0;
	return 1;
}
