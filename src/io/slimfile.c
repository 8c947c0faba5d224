/* The .slim model file: one checksummed, versioned, little-endian file holding the architecture
 * (as canonical text), metadata, every tensor, pruning masks and optionally the training state.
 * docs/slim-format.md is the byte-level specification; keep the two in step.
 *
 * Reading treats the file as hostile: the size is bounded, the checksum is verified before any
 * field is trusted, every length is checked against the bytes that remain before it is used,
 * and nothing is allocated from a declared size; tensor values are decoded straight into the
 * graph that the file's own architecture produced, so their sizes come from the architecture. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <strings.h>
#include <zlib.h>
#include "core/internal.h"
#include "core/quant.h"
#include "io/io.h"
#include "io/sparse_codec.h"

/* ---------------------------------------------------------------- format constants */

/* 0x89 first: not ASCII, so no text file (an .arch) starts like this; CR LF and ^Z catch
 * transfers that rewrite line ends or stop at an end-of-file character, as PNG does. */
static const unsigned char slim_magic[8] = {0x89, 'S', 'L', 'I', 'M', '\r', '\n', 0x1a};

#define SLIM_FORMAT 1                      /* the format this build writes and reads */
#define SLIM_HDR_BYTES 24                  /* magic, version, reserved, file size */
#define SLIM_CRC_BYTES 4
#define SLIM_SEC_HDR_BYTES 16              /* tag, flags, payload length */
#define SLIM_MAX_BYTES ((size_t)2 << 30)   /* 2 GiB: the most either side will handle */
#define SLIM_NAME_BYTES (2 * SN_NAME_MAX)  /* a tensor name with its NUL, as in sn_tensor */
#define SLIM_MAX_NUMEL ((uint64_t)1 << 31) /* sn_need_tensor's limit */

/* Section flag: a reader that does not know the tag must refuse the file rather than skip it. */
#define SLIM_SEC_CRITICAL 1u

/* Training-state flags: which optimizer vectors follow. */
#define SLIM_TRNS_M 1u
#define SLIM_TRNS_V 2u

enum { SLIM_TENSOR_DENSE_F32 = 0 };       /* tensor value encodings; sparse ones: io/sparse_codec.c */
#define SLIM_TENSOR_INT8 16                /* an int8 layer's weight (its scales in QNT8): 16 + the encoding
                                            * of its int8 values (dense, CSR or bitmap: io/sparse_codec.h) */
#define SLIM_QNT8_INT8 1u                  /* QNT8 record flag: the layer runs in int8 */
enum { SLIM_MASK_BITMAP = 0, SLIM_MASK_IMPLIED = 1 };  /* mask encodings */

/* ---------------------------------------------------------------- errors */

/* Every format error is one sentence that starts with the file's name. */
__attribute__((format(printf, 2, 3)))
static int bad(const char *path, const char *fmt, ...)
{
	char msg[768];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return sn_seterr(SN_EFORMAT, "model file '%s' %s", path, msg);
}

/* Names come from the file: show at most 80 printable characters so a forged name cannot
 * flood or drive the terminal. */
static const char *printable(const char *s, char *dst, size_t cap)
{
	size_t j = 0;
	for (size_t i = 0; s[i] && j + 4 < cap && i < 80; i++)
		dst[j++] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	if (strlen(s) > 80 && j + 4 < cap) { memcpy(dst + j, "...", 3); j += 3; }
	dst[j] = 0;
	return dst;
}

static char *dims_str(int ndim, const int *dims, char *dst, size_t cap)
{
	size_t j = (size_t)snprintf(dst, cap, "[");
	for (int i = 0; i < ndim && j < cap; i++)
		j += (size_t)snprintf(dst + j, cap - j, "%s%d", i ? ", " : "", dims[i]);
	if (j < cap) snprintf(dst + j, cap - j, "]");
	return dst;
}

/* ---------------------------------------------------------------- checksum */

/* zlib's crc32 takes a 32-bit length: feed it in chunks. */
static uint32_t slim_crc(const unsigned char *p, size_t n)
{
	uLong c = crc32(0L, Z_NULL, 0);
	while (n) {
		uInt k = n > (1u << 30) ? (1u << 30) : (uInt)n;
		c = crc32(c, p, k);
		p += k;
		n -= k;
	}
	return (uint32_t)c;
}

/* ---------------------------------------------------------------- tensor encodings */

/* One encoder/decoder pair per value encoding, indexed by the encoding number stored in each
 * tensor record. A sparse encoding plugs in by adding an entry here and teaching
 * choose_encoding() when to use it. */
typedef struct {
	const char *name;
	/* appends the payload for t's values */
	void (*encode)(sn_buf *b, const sn_tensor *t);
	/* fills out[0..n) from exactly len payload bytes; NULL on success, else what is wrong */
	const char *(*decode)(const unsigned char *p, size_t len, float *out, size_t n);
} slim_codec;

static void enc_dense_f32(sn_buf *b, const sn_tensor *t) { sn_buf_f32n(b, t->data, t->n); }

static const char *dec_dense_f32(const unsigned char *p, size_t len, float *out, size_t n)
{
	if (n > SIZE_MAX / 4 || len != n * 4) return "its dense payload does not hold exactly 4 bytes per value";
	for (size_t i = 0; i < n; i++) out[i] = sn_get_f32(p + 4 * i);
	return NULL;
}

static const slim_codec codecs[] = {
	[SLIM_TENSOR_DENSE_F32] = {"dense f32", enc_dense_f32, dec_dense_f32},
	[SN_ENC_CSR8] = {"csr u8", sn_enc_csr8, sn_dec_csr8},
	[SN_ENC_CSR16] = {"csr u16", sn_enc_csr16, sn_dec_csr16},
	[SN_ENC_BITMAP] = {"bitmap", sn_enc_bitmap, sn_dec_bitmap},
};
#define N_CODECS ((int)(sizeof codecs / sizeof codecs[0]))

static int choose_encoding(const sn_tensor *t)
{
	return sn_sparse_choose(t);   /* the smallest payload; dense for small tensors and ties */
}

/* ---------------------------------------------------------------- writer */

static void put_u8(sn_buf *b, unsigned v)
{
	unsigned char c = (unsigned char)v;
	sn_buf_put(b, &c, 1);
}

static void put_f64(sn_buf *b, double v)
{
	uint64_t u;
	memcpy(&u, &v, sizeof u);
	sn_buf_u64(b, u);
}

/* A string of at most cap-1 bytes (the reader refuses longer), length-prefixed, no NUL. */
static void put_str(sn_buf *b, const char *s, size_t cap)
{
	size_t n = strnlen(s, cap - 1);
	sn_buf_u32(b, (uint32_t)n);
	sn_buf_put(b, s, n);
}

static void put_u64_at(sn_buf *b, size_t at, uint64_t v)
{
	if (b->oom) return;
	for (int i = 0; i < 8; i++) b->p[at + i] = (unsigned char)(v >> (8 * i));
}

/* Starts a section; returns where its length goes, patched by sec_end(). */
static size_t sec_begin(sn_buf *b, const char tag[4], uint32_t flags)
{
	sn_buf_put(b, tag, 4);
	sn_buf_u32(b, flags);
	size_t at = b->len;
	sn_buf_u64(b, 0);
	return at;
}

static void sec_end(sn_buf *b, size_t at) { put_u64_at(b, at, b->len - at - 8); }

static void put_meta(sn_buf *b, const sn_meta *m)
{
	size_t at = sec_begin(b, "META", 0);
	put_str(b, m->dataset, sizeof m->dataset);
	sn_buf_u32(b, (uint32_t)m->epochs);
	put_f64(b, m->test_accuracy);
	put_f64(b, m->test_loss);
	sn_buf_u64(b, m->seed);
	/* channel 0's pair first: what format-1 readers before the per-channel fields understand */
	sn_buf_f32(b, m->norm.c > 0 ? m->norm.mean[0] : 0.0f);
	sn_buf_f32(b, m->norm.c > 0 ? m->norm.std[0] : 0.0f);
	int nc = m->norm.c > 0 && m->norm.c <= SN_NORM_MAX_C ? m->norm.c : 0;
	sn_buf_u32(b, (uint32_t)nc);
	for (int i = 0; i < nc; i++) sn_buf_f32(b, m->norm.mean[i]);
	for (int i = 0; i < nc; i++) sn_buf_f32(b, m->norm.std[i]);
	sn_buf_u32(b, (uint32_t)(m->resize > 0 ? m->resize : 0));
	/* the class names: as many whole names as the meta holds */
	size_t len = 0;
	int k = 0;
	while (k < m->classes && len < sizeof m->names && memchr(m->names + len, 0, sizeof m->names - len)) {
		len += strlen(m->names + len) + 1;
		k++;
	}
	sn_buf_u32(b, (uint32_t)k);
	sn_buf_u32(b, (uint32_t)len);
	sn_buf_put(b, m->names, len);
	sec_end(b, at);
}

/* The int8 record whose weight t is, or NULL. */
static const sn_qnode *int8_weight(const sn_graph *g, int i)
{
	const sn_node *n = &g->node[g->tensor[i].node];
	return n->q && n->q->w && n->t[SN_T_WEIGHT] == i && n->q->w_n == g->tensor[i].n ? n->q : NULL;
}

/* Every layer's int8 record: name, flags, output scale and zero point, weight scales. */
static void put_qnt8(sn_buf *b, const sn_graph *g)
{
	uint32_t count = 0;
	for (int i = 0; i < g->n_node; i++) count += g->node[i].q != NULL;
	if (!count) return;
	size_t at = sec_begin(b, "QNT8", SLIM_SEC_CRITICAL);
	sn_buf_u32(b, count);
	for (int i = 0; i < g->n_node; i++) {
		const sn_qnode *q = g->node[i].q;
		if (!q) continue;
		sn_buf_put(b, g->node[i].name, strnlen(g->node[i].name, SN_NAME_MAX - 1));
		put_u8(b, 0);
		put_u8(b, q->int8 ? SLIM_QNT8_INT8 : 0);
		sn_buf_f32(b, q->y.scale);
		sn_buf_u32(b, (uint32_t)q->y.zero_point);
		const int ns = q->w ? q->n_scale : 0;
		sn_buf_u32(b, (uint32_t)ns);
		if (ns) sn_buf_f32n(b, q->w_scale, (size_t)ns);
	}
	sec_end(b, at);
}

static void put_tensors(sn_buf *b, const sn_graph *g)
{
	size_t at = sec_begin(b, "TENS", SLIM_SEC_CRITICAL);
	sn_buf_u32(b, (uint32_t)g->n_tensor);
	for (int i = 0; i < g->n_tensor; i++) {
		const sn_tensor *t = &g->tensor[i];
		const sn_qnode *q = int8_weight(g, i);
		const size_t cols = sn_sparse_cols(t);
		int enc = q ? SLIM_TENSOR_INT8 + sn_sparse_choose_i8(t->data, t->n, cols) : choose_encoding(t);
		sn_buf_put(b, t->name, strnlen(t->name, SLIM_NAME_BYTES - 1));
		put_u8(b, 0);
		put_u8(b, t->kind == SN_TENSOR_PARAM ? 0 : 1);
		put_u8(b, (unsigned)enc);
		put_u8(b, (unsigned)t->ndim);
		put_u8(b, 0);
		for (int d = 0; d < t->ndim; d++) sn_buf_u32(b, (uint32_t)t->dims[d]);
		size_t len_at = b->len;
		sn_buf_u64(b, 0);
		if (q) sn_sparse_encode_i8(b, enc - SLIM_TENSOR_INT8, t->data, q->w, t->n, cols);
		else codecs[enc].encode(b, t);
		put_u64_at(b, len_at, b->len - len_at - 8);
	}
	sec_end(b, at);
}

/* Bitmap, least significant bit first: bit i of byte i/8 is value i; 1 keeps the value. */
static void put_masks(sn_buf *b, const sn_graph *g)
{
	uint32_t count = 0;
	for (int i = 0; i < g->n_tensor; i++) count += g->tensor[i].mask != NULL;
	if (!count) return;
	size_t at = sec_begin(b, "MASK", SLIM_SEC_CRITICAL);
	sn_buf_u32(b, count);
	for (int i = 0; i < g->n_tensor; i++) {
		const sn_tensor *t = &g->tensor[i];
		if (!t->mask) continue;
		/* a mask that is exactly "value != 0" costs nothing: the values already say it */
		int implied = sn_mask_implied(t);
		size_t nb = implied ? 0 : (t->n + 7) / 8;
		sn_buf_put(b, t->name, strnlen(t->name, SLIM_NAME_BYTES - 1));
		put_u8(b, 0);
		put_u8(b, implied ? SLIM_MASK_IMPLIED : SLIM_MASK_BITMAP);
		sn_buf_u64(b, nb);
		if (implied) continue;
		if (sn_buf_reserve(b, nb)) return;
		unsigned char *q = b->p + b->len;
		memset(q, 0, nb);
		for (size_t k = 0; k < t->n; k++)
			if (t->mask[k]) q[k / 8] |= (unsigned char)(1u << (k % 8));
		b->len += nb;
	}
	sec_end(b, at);
}

static void put_train(sn_buf *b, const sn_graph *g, const sn_train_state *st)
{
	uint32_t flags = (st->opt_m ? SLIM_TRNS_M : 0) | (st->opt_v ? SLIM_TRNS_V : 0);
	size_t at = sec_begin(b, "TRNS", 0);
	sn_buf_u32(b, (uint32_t)st->epoch);
	sn_buf_u32(b, flags);
	sn_buf_u64(b, st->step);
	for (int i = 0; i < 4; i++) sn_buf_u64(b, st->rng.s[i]);
	for (int i = 0; i < 4; i++) sn_buf_u64(b, st->graph_rng.s[i]);
	put_str(b, st->recipe, sizeof st->recipe);
	sn_buf_u64(b, g->n_w);
	if (st->opt_m) sn_buf_f32n(b, st->opt_m, g->n_w);
	if (st->opt_v) sn_buf_f32n(b, st->opt_v, g->n_w);
	sec_end(b, at);
}

void sn_meta_defaults(sn_meta *m)
{
	memset(m, 0, sizeof *m);
	m->test_accuracy = -1;
	m->test_loss = -1;
	/* norm 0/0: unknown, the caller uses the dataset's own statistics */
}

int sn_model_save(const sn_graph *g, const sn_meta *meta, const sn_train_state *st, const char *path)
{
	if (!g || !path || !*path) return sn_seterr(SN_EINVAL, "sn_model_save: missing model or path");
	char *arch = sn_arch_write(g);
	if (!arch) {
		char why[600];
		snprintf(why, sizeof why, "%s", sn_errmsg()); /* sn_seterr below overwrites the message */
		return sn_seterr(SN_EINVAL, "cannot save model file '%s': %s", path, why);
	}
	sn_meta dm;
	if (!meta) { sn_meta_defaults(&dm); meta = &dm; }

	sn_buf b = {0};
	sn_buf_put(&b, slim_magic, sizeof slim_magic);
	sn_buf_u32(&b, SLIM_FORMAT);
	sn_buf_u32(&b, 0);               /* reserved */
	sn_buf_u64(&b, 0);               /* file size, patched below */
	size_t at = sec_begin(&b, "ARCH", SLIM_SEC_CRITICAL);
	sn_buf_put(&b, arch, strlen(arch));
	sec_end(&b, at);
	free(arch);
	put_meta(&b, meta);
	put_qnt8(&b, g);
	put_tensors(&b, g);
	put_masks(&b, g);
	if (st && st->present) put_train(&b, g, st);
	put_u64_at(&b, 16, (uint64_t)b.len + SLIM_CRC_BYTES);
	if (!b.oom) sn_buf_u32(&b, slim_crc(b.p, b.len));

	int rc;
	if (b.oom) rc = sn_seterr(SN_ENOMEM, "out of memory writing model file '%s'", path);
	else if (b.len > SLIM_MAX_BYTES)
		rc = sn_seterr(SN_EINVAL, "model file '%s' would be %zu bytes, more than the 2 GiB a .slim file may hold",
		               path, b.len);
	else rc = sn_write_atomic(path, b.p, b.len);
	sn_buf_free(&b);
	return rc;
}

/* ---------------------------------------------------------------- reader: bounded cursor */

/* A cursor over one section's payload. The first failed read reports the error and makes
 * every later read return zero, so a parser checks r->bad once per record. */
typedef struct {
	const unsigned char *p;
	size_t len, pos;
	const char *path;
	const char *sec;                   /* section tag, for messages */
	int bad;
} slim_rd;

static size_t rd_left(const slim_rd *r) { return r->len - r->pos; }

/* Reports a malformed section once and poisons the cursor. */
__attribute__((format(printf, 2, 3)))
static int rd_fail(slim_rd *r, const char *fmt, ...)
{
	char msg[700];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	r->bad = 1;
	return bad(r->path, "is malformed: %s", msg);
}

static int rd_need(slim_rd *r, uint64_t n, const char *item)
{
	if (r->bad) return -1;
	if (n <= rd_left(r)) return 0;
	return rd_fail(r, "%s in section %s needs %llu bytes but only %zu remain", item, r->sec,
	               (unsigned long long)n, rd_left(r));
}

static const unsigned char *rd_bytes(slim_rd *r, uint64_t n, const char *item)
{
	if (rd_need(r, n, item)) return NULL;
	const unsigned char *q = r->p + r->pos;
	r->pos += (size_t)n;
	return q;
}

static unsigned rd_u8(slim_rd *r, const char *item)
{
	const unsigned char *q = rd_bytes(r, 1, item);
	return q ? q[0] : 0;
}

static uint32_t rd_u32(slim_rd *r, const char *item)
{
	const unsigned char *q = rd_bytes(r, 4, item);
	return q ? sn_get_u32(q) : 0;
}

static uint64_t rd_u64(slim_rd *r, const char *item)
{
	const unsigned char *q = rd_bytes(r, 8, item);
	return q ? sn_get_u64(q) : 0;
}

static float rd_f32(slim_rd *r, const char *item)
{
	const unsigned char *q = rd_bytes(r, 4, item);
	return q ? sn_get_f32(q) : 0.0f;
}

static double rd_f64(slim_rd *r, const char *item)
{
	uint64_t u = rd_u64(r, item);
	double d;
	memcpy(&d, &u, sizeof d);
	return d;
}

/* A NUL-terminated name of 1..cap-1 bytes; the NUL must lie within the section and within cap. */
static const char *rd_name(slim_rd *r, size_t cap, const char *item)
{
	if (rd_need(r, 1, item)) return NULL;
	size_t lim = SN_MIN(rd_left(r), cap);
	const unsigned char *z = memchr(r->p + r->pos, 0, lim);
	if (!z) {
		rd_fail(r, "%s in section %s is not NUL-terminated within %zu bytes", item, r->sec, lim);
		return NULL;
	}
	if (z == r->p + r->pos) {
		rd_fail(r, "%s in section %s is empty", item, r->sec);
		return NULL;
	}
	const char *s = (const char *)(r->p + r->pos);
	r->pos += (size_t)(z - (r->p + r->pos)) + 1;
	return s;
}

/* A length-prefixed string without NUL into dst[cap] (NUL-terminated). */
static int rd_str(slim_rd *r, char *dst, size_t cap, const char *item)
{
	uint32_t n = rd_u32(r, item);
	if (r->bad) return -1;
	if (n >= cap) return rd_fail(r, "%s in section %s is %u bytes long (at most %zu)", item, r->sec, n, cap - 1);
	const unsigned char *q = rd_bytes(r, n, item);
	if (!q) return -1;
	if (memchr(q, 0, n)) return rd_fail(r, "%s in section %s contains a NUL byte", item, r->sec);
	memcpy(dst, q, n);
	dst[n] = 0;
	return 0;
}

/* Fixed-layout sections must be used up exactly: leftover bytes mean a writer and this reader
 * disagree about the layout, which must not pass silently. */
static int rd_end(slim_rd *r)
{
	if (r->bad) return -1;
	if (r->pos != r->len) return rd_fail(r, "section %s has %zu unexplained bytes at its end", r->sec, rd_left(r));
	return 0;
}

/* ---------------------------------------------------------------- reader: envelope and sections */

typedef struct {
	const unsigned char *p;
	size_t len;
	int present;
} slim_sec;

typedef struct {
	const char *path;
	slim_sec arch, meta, qnt8, tens, mask, trns;
} slim_file;

static slim_rd sec_rd(const slim_file *f, const slim_sec *s, const char *tag)
{
	return (slim_rd){s->p, s->len, 0, f->path, tag, 0};
}

/* Signature, declared size, checksum, version: in that order, so a file that is not ours,
 * is cut short, or is damaged gets that exact diagnosis before any field is trusted. The
 * header layout and the CRC trailer are frozen across all format versions. */
static int check_envelope(const char *path, const unsigned char *p, size_t len)
{
	if (len == 0) return bad(path, "is empty");
	if (memcmp(p, slim_magic, SN_MIN(len, sizeof slim_magic)))
		return bad(path, "is not a slimnn model file (it does not start with the .slim signature)");
	size_t min = SLIM_HDR_BYTES + SLIM_CRC_BYTES;
	if (len < min) return bad(path, "is truncated (%zu bytes, the smallest model file has %zu)", len, min);
	uint64_t want = sn_get_u64(p + 16);
	if (want > len) return bad(path, "is truncated (%zu bytes, header says %llu)", len, (unsigned long long)want);
	if (want < len)
		return bad(path, "is damaged: it has %zu bytes but its header says %llu", len, (unsigned long long)want);
	uint32_t crc = sn_get_u32(p + len - SLIM_CRC_BYTES);
	if (slim_crc(p, len - SLIM_CRC_BYTES) != crc) return bad(path, "has a checksum mismatch: the file is damaged");
	uint32_t version = sn_get_u32(p + 8);
	if (version > SLIM_FORMAT)
		return bad(path, "was written by a newer slimnn (format %u); this build reads format %d", version, SLIM_FORMAT);
	if (version == 0) return bad(path, "has format version 0, which no slimnn writes");
	return SN_OK;
}

static int tag_ok(const unsigned char *t)
{
	for (int i = 0; i < 4; i++)
		if (!((t[i] >= 'A' && t[i] <= 'Z') || (t[i] >= '0' && t[i] <= '9') || t[i] == '_')) return 0;
	return 1;
}

static slim_sec *known_section(slim_file *f, const unsigned char *tag)
{
	static const char *tags[] = {"ARCH", "META", "QNT8", "TENS", "MASK", "TRNS"};
	slim_sec *secs[] = {&f->arch, &f->meta, &f->qnt8, &f->tens, &f->mask, &f->trns};
	for (int i = 0; i < 6; i++)
		if (!memcmp(tag, tags[i], 4)) return secs[i];
	return NULL;
}

/* Walks the section headers between the file header and the CRC; records the known ones and
 * skips unknown optional ones (how later versions add information older readers can ignore). */
static int index_sections(slim_file *f, const unsigned char *p, size_t len)
{
	size_t pos = SLIM_HDR_BYTES, end = len - SLIM_CRC_BYTES;
	while (pos < end) {
		if (end - pos < SLIM_SEC_HDR_BYTES)
			return bad(f->path, "is malformed: %zu stray bytes at offset %zu where a section should start",
			           end - pos, pos);
		const unsigned char *tag = p + pos;
		uint32_t flags = sn_get_u32(p + pos + 4);
		uint64_t n = sn_get_u64(p + pos + 8);
		if (!tag_ok(tag))
			return bad(f->path, "is malformed: the section at offset %zu has an invalid tag (bytes %02x %02x %02x %02x)",
			           pos, tag[0], tag[1], tag[2], tag[3]);
		pos += SLIM_SEC_HDR_BYTES;
		if (n > end - pos)
			return bad(f->path, "is malformed: section %.4s claims %llu bytes but only %zu remain", (const char *)tag,
			           (unsigned long long)n, end - pos);
		slim_sec *s = known_section(f, tag);
		if (s && s->present) return bad(f->path, "is malformed: it has two %.4s sections", (const char *)tag);
		if (s) *s = (slim_sec){p + pos, (size_t)n, 1};
		else if (flags & SLIM_SEC_CRITICAL)
			return bad(f->path, "needs a newer slimnn: it has a required section '%.4s' this build does not know",
			           (const char *)tag);
		pos += (size_t)n;
	}
	if (!f->arch.present) return bad(f->path, "is malformed: it has no architecture (section ARCH)");
	if (!f->tens.present) return bad(f->path, "is malformed: it has no tensors (section TENS)");
	return SN_OK;
}

/* ---------------------------------------------------------------- reader: contents */

static sn_graph *read_arch(const slim_file *f)
{
	const slim_sec *s = &f->arch;
	if (memchr(s->p, 0, s->len)) {
		bad(f->path, "is malformed: its architecture text contains a NUL byte");
		return NULL;
	}
	char *text = malloc(s->len + 1);
	if (!text) { sn_seterr(SN_ENOMEM, "out of memory reading model file '%s'", f->path); return NULL; }
	memcpy(text, s->p, s->len);
	text[s->len] = 0;
	/* "architecture:3:7: ..." reads better inside our sentence than the file name twice */
	sn_graph *g = sn_arch_parse(text, "architecture");
	free(text);
	if (!g) {
		char why[600];
		snprintf(why, sizeof why, "%s", sn_errmsg()); /* sn_seterr below overwrites the message */
		bad(f->path, "has an invalid architecture: %s", why);
	}
	return g;
}

static int read_meta(const slim_file *f, sn_meta *m)
{
	sn_meta_defaults(m);
	if (!f->meta.present) return SN_OK;
	slim_rd r = sec_rd(f, &f->meta, "META");
	rd_str(&r, m->dataset, sizeof m->dataset, "the dataset name");
	m->epochs = (int)rd_u32(&r, "the epoch count");
	m->test_accuracy = rd_f64(&r, "the test accuracy");
	m->test_loss = rd_f64(&r, "the test loss");
	m->seed = rd_u64(&r, "the seed");
	float mean = rd_f32(&r, "the normalisation mean"), std = rd_f32(&r, "the normalisation std");
	if (r.bad) return SN_EFORMAT;
	if (std > 0) m->norm = (sn_norm){.c = 1, .mean = {mean}, .std = {std}};
	if (!rd_left(&r)) return SN_OK;   /* written before per-channel normalisation and class names */
	uint32_t nc = rd_u32(&r, "the normalisation channel count");
	if (!r.bad && nc > SN_NORM_MAX_C)
		return rd_fail(&r, "the normalisation has %u channels (at most %d)", nc, SN_NORM_MAX_C);
	sn_norm nm = {.c = (int)nc};
	for (uint32_t i = 0; i < nc; i++) nm.mean[i] = rd_f32(&r, "a normalisation mean");
	for (uint32_t i = 0; i < nc; i++) {
		nm.std[i] = rd_f32(&r, "a normalisation std");
		if (!r.bad && !(nm.std[i] > 0 && nm.std[i] < 1e30f) && rd_fail(&r, "normalisation std %u is not positive", i))
			return SN_EFORMAT;
	}
	if (!r.bad && nc) m->norm = nm;
	uint32_t resize = rd_u32(&r, "the resize side");
	if (!r.bad && resize > 65536) return rd_fail(&r, "the resize side %u is over 65536", resize);
	m->resize = (int)resize;
	uint32_t k = rd_u32(&r, "the class count"), len = rd_u32(&r, "the class names' length");
	if (!r.bad && len > sizeof m->names)
		return rd_fail(&r, "the class names take %u bytes (at most %zu)", len, sizeof m->names);
	const unsigned char *names = rd_bytes(&r, len, "the class names");
	if (r.bad) return SN_EFORMAT;
	/* exactly k NUL-terminated names, printable */
	uint32_t seen = 0;
	for (uint32_t i = 0; i < len; i++) {
		if (!names[i]) seen++;
		else if (names[i] < 0x20 || names[i] == 0x7f) return rd_fail(&r, "a class name holds control byte 0x%02x", names[i]);
	}
	if (seen != k || (len && names[len - 1])) return rd_fail(&r, "the class names are not %u NUL-terminated names", k);
	memcpy(m->names, names, len);
	m->classes = (int)k;
	/* Bytes after these fields are metadata a later format appended: ignored on purpose. */
	return SN_OK;
}

/* One tensor record: header fields checked, the payload located but not yet decoded. */
typedef struct {
	const char *name;
	unsigned kind, enc, ndim;
	int dims[4];
	const unsigned char *payload;
	size_t plen;
} slim_trec;

static int read_trec(slim_rd *r, slim_trec *t)
{
	t->name = rd_name(r, SLIM_NAME_BYTES, "a tensor name");
	t->kind = rd_u8(r, "a tensor kind");
	t->enc = rd_u8(r, "a tensor encoding");
	t->ndim = rd_u8(r, "a tensor rank");
	rd_u8(r, "a reserved byte");
	if (r->bad) return -1;
	char nm[100];
	if (t->ndim < 1 || t->ndim > 4)
		return rd_fail(r, "tensor '%s' has %u dimensions (1 to 4 allowed)", printable(t->name, nm, sizeof nm),
		               t->ndim);
	uint64_t numel = 1;
	for (unsigned d = 0; d < t->ndim; d++) {
		uint32_t v = rd_u32(r, "a tensor dimension");
		if (r->bad) return -1;
		if (v == 0)
			return rd_fail(r, "tensor '%s' has an impossible shape: dimension %u is 0",
			               printable(t->name, nm, sizeof nm), d);
		if (v > SLIM_MAX_NUMEL || (numel *= v) > SLIM_MAX_NUMEL)
			return rd_fail(r, "tensor '%s' has an impossible shape: more than 2^31 values",
			               printable(t->name, nm, sizeof nm));
		t->dims[d] = (int)v;
	}
	uint64_t plen = rd_u64(r, "a tensor payload length");
	t->payload = rd_bytes(r, plen, "a tensor payload");
	t->plen = (size_t)plen;
	return r->bad ? -1 : 0;
}

/* Checks that a record names a tensor of g with the same kind and shape; returns its index. */
static int match_tensor(const slim_file *f, const sn_graph *g, const slim_trec *rec, const unsigned char *seen)
{
	char nm[100], a[64], b[64];
	const char *name = printable(rec->name, nm, sizeof nm);
	int k = sn_tensor_find(g, rec->name);
	if (k < 0) return bad(f->path, "has a tensor '%s' that its architecture does not define", name);
	if (seen[k]) return bad(f->path, "is malformed: it holds tensor '%s' twice", name);
	const sn_tensor *t = &g->tensor[k];
	if (rec->kind > 1) return bad(f->path, "is malformed: tensor '%s' has an unknown kind %u", name, rec->kind);
	if ((rec->kind == 0) != (t->kind == SN_TENSOR_PARAM))
		return bad(f->path, "stores tensor '%s' as a %s but the architecture makes it a %s", name,
		           rec->kind ? "buffer" : "parameter", t->kind == SN_TENSOR_PARAM ? "parameter" : "buffer");
	int same = (int)rec->ndim == t->ndim;
	for (int d = 0; same && d < t->ndim; d++) same = rec->dims[d] == t->dims[d];
	if (!same)
		return bad(f->path, "has tensor '%s' of shape %s but the architecture needs %s", name,
		           dims_str((int)rec->ndim, rec->dims, a, sizeof a), dims_str(t->ndim, t->dims, b, sizeof b));
	return k;
}

/* An int8 weight in encoding 16 + enc: its values times its layer's scales (QNT8, read before). */
static const char *dec_int8(sn_graph *g, int k, int enc, const unsigned char *p, size_t len)
{
	sn_tensor *t = &g->tensor[k];
	const sn_node *n = &g->node[t->node];
	const sn_qnode *q = n->q;
	if (!q || !q->w_scale || n->t[SN_T_WEIGHT] != k) return "it is stored in int8 but its layer has no int8 weight scales";
	const char *why = sn_sparse_decode_i8(enc, p, len, t->data, t->n);
	if (why) return why;
	const size_t per = t->n / (size_t)t->dims[0];
	for (size_t i = 0; i < t->n; i++) {
		if (t->data[i] == -128) return "it holds the int8 value -128 (weights lie in [-127, 127])";
		t->data[i] *= q->w_scale[q->n_scale == 1 ? 0 : i / per];
	}
	return NULL;
}

static int read_tensors(const slim_file *f, sn_graph *g)
{
	slim_rd r = sec_rd(f, &f->tens, "TENS");
	uint32_t count = rd_u32(&r, "the tensor count");
	if (r.bad) return SN_EFORMAT;
	unsigned char *seen = calloc((size_t)g->n_tensor + 1, 1);
	if (!seen) return sn_seterr(SN_ENOMEM, "out of memory reading model file '%s'", f->path);
	int rc = SN_OK;
	/* each record reads at least one byte, so a forged count ends at the section's end */
	for (uint32_t i = 0; i < count && rc == SN_OK; i++) {
		slim_trec rec;
		if (read_trec(&r, &rec)) { rc = SN_EFORMAT; break; }
		int k = match_tensor(f, g, &rec, seen);
		if (k < 0) { rc = k; break; }
		char nm[100];
		const char *shown = printable(rec.name, nm, sizeof nm);
		sn_tensor *t = &g->tensor[k];
		if (rec.enc >= SLIM_TENSOR_INT8 && rec.enc < SLIM_TENSOR_INT8 + SN_ENC_COUNT) {
			const char *why = dec_int8(g, k, (int)rec.enc - SLIM_TENSOR_INT8, rec.payload, rec.plen);
			if (why) { rc = bad(f->path, "is malformed: tensor '%s': %s", shown, why); break; }
			seen[k] = 1;
			continue;
		}
		if (rec.enc >= (unsigned)N_CODECS || !codecs[rec.enc].decode) {
			rc = bad(f->path, "stores tensor '%s' in encoding %u, which this build does not know "
			         "(a newer slimnn wrote it?)", shown, rec.enc);
			break;
		}
		const char *why = codecs[rec.enc].decode(rec.payload, rec.plen, t->data, t->n);
		if (why) { rc = bad(f->path, "is malformed: tensor '%s': %s", shown, why); break; }
		seen[k] = 1;
	}
	if (rc == SN_OK && rd_end(&r)) rc = SN_EFORMAT;
	for (int k = 0; rc == SN_OK && k < g->n_tensor; k++) {
		char nm[100];
		if (!seen[k])
			rc = bad(f->path, "lacks tensor '%s' that its architecture needs",
			         printable(g->tensor[k].name, nm, sizeof nm));
	}
	free(seen);
	return rc;
}

/* One QNT8 record into its layer's int8 record (weights follow in TENS). */
static int read_qrec(slim_rd *r, const slim_file *f, sn_graph *g)
{
	char nm[100];
	const char *name = rd_name(r, SN_NAME_MAX, "a layer name");
	const unsigned flags = rd_u8(r, "the int8 flags");
	const float scale = rd_f32(r, "an output scale");
	const int32_t zp = (int32_t)rd_u32(r, "a zero point");
	const uint32_t ns = rd_u32(r, "a weight scale count");
	if (r->bad) return SN_EFORMAT;
	const char *shown = printable(name, nm, sizeof nm);
	const int k = sn_graph_find(g, name);
	if (k < 0) return bad(f->path, "has int8 parameters for a layer '%s' that its architecture does not define", shown);
	sn_node *n = &g->node[k];
	if (n->q) return bad(f->path, "is malformed: it holds int8 parameters for layer '%s' twice", shown);
	if (flags & ~SLIM_QNT8_INT8) return bad(f->path, "is malformed: layer '%s' has unknown int8 flags 0x%x", shown, flags);
	if ((flags & SLIM_QNT8_INT8) && !sn_op_get(n->op)->run_q8)
		return bad(f->path, "runs layer '%s' (%s) in int8, which this build cannot", shown, sn_op_get(n->op)->key);
	if (!(scale > 0) || !isfinite(scale) || zp < -128 || zp > 127)
		return bad(f->path, "is malformed: layer '%s' has int8 parameters scale %g, zero point %d (a positive scale and "
		           "a zero point in [-128, 127] needed)", shown, scale, (int)zp);
	const sn_tensor *w = sn_q_weight(g, n);
	if (ns && (!(flags & SLIM_QNT8_INT8) || !w || (ns != 1 && ns != (uint32_t)w->dims[0])))
		return bad(f->path, "is malformed: layer '%s' has %u int8 weight scales (%s)", shown, ns,
		           w && (flags & SLIM_QNT8_INT8) ? "1 or one per output channel expected" : "it has no int8 weight");
	if (rd_need(r, (uint64_t)ns * 4, "the weight scales")) return SN_EFORMAT;
	if (!(n->q = sn_qnode_new((sn_qparams){scale, zp}, !!(flags & SLIM_QNT8_INT8)))) return SN_ENOMEM;
	if (!ns) return SN_OK;
	if (!(n->q->w_scale = malloc(ns * sizeof(float)))) return sn_seterr(SN_ENOMEM, "out of memory");
	n->q->n_scale = (int)ns;
	for (uint32_t i = 0; i < ns; i++) {
		n->q->w_scale[i] = rd_f32(r, "a weight scale");
		if (!(n->q->w_scale[i] > 0) || !isfinite(n->q->w_scale[i]))
			return bad(f->path, "is malformed: layer '%s' has weight scale %g (positive numbers only)", shown, n->q->w_scale[i]);
	}
	return SN_OK;
}

static int read_qnt8(const slim_file *f, sn_graph *g)
{
	if (!f->qnt8.present) return SN_OK;
	slim_rd r = sec_rd(f, &f->qnt8, "QNT8");
	const uint32_t count = rd_u32(&r, "the int8 layer count");
	int rc = r.bad ? SN_EFORMAT : SN_OK;
	for (uint32_t i = 0; i < count && !rc; i++) rc = read_qrec(&r, f, g);
	if (!rc && rd_end(&r)) rc = SN_EFORMAT;
	return rc;
}

/* After the tensors: each int8 layer's int8 weight from its float values (exactly its stored
 * int8 times the scales) and what the kernels derive from the records. */
static int finish_int8(const slim_file *f, sn_graph *g)
{
	if (!f->qnt8.present) return SN_OK;
	for (int i = 0; i < g->n_node; i++) {
		sn_node *n = &g->node[i];
		if (!n->q || !n->q->w_scale) continue;
		float *s = n->q->w_scale;
		n->q->w_scale = NULL;
		const int rc = sn_q_set_weights(g, n, s, n->q->n_scale);
		free(s);
		if (rc) return rc;
	}
	for (int i = 1; i < g->n_node; i++) {
		const sn_node *n = &g->node[i];
		if (sn_node_runs_int8(n) && (n->op == SN_OP_CONV || n->op == SN_OP_LINEAR) && !n->q->w)
			return bad(f->path, "is malformed: int8 layer '%s' has no int8 weight scales", n->name);
	}
	const int rc = sn_q_derive(g);
	if (rc == SN_EFORMAT) {
		char why[600];
		snprintf(why, sizeof why, "%s", sn_errmsg());
		return bad(f->path, "is malformed: %s", why);
	}
	return rc;
}

static int read_one_mask(slim_rd *r, const slim_file *f, sn_graph *g, unsigned char *seen)
{
	char nm[100];
	const char *name = rd_name(r, SLIM_NAME_BYTES, "a mask's tensor name");
	unsigned enc = rd_u8(r, "a mask encoding");
	uint64_t plen = rd_u64(r, "a mask length");
	const unsigned char *q = rd_bytes(r, plen, "a mask");
	if (r->bad) return SN_EFORMAT;
	const char *shown = printable(name, nm, sizeof nm);
	int k = sn_tensor_find(g, name);
	if (k < 0) return bad(f->path, "has a mask for tensor '%s' that its architecture does not define", shown);
	if (seen[k]) return bad(f->path, "is malformed: it holds two masks for tensor '%s'", shown);
	if (enc != SLIM_MASK_BITMAP && enc != SLIM_MASK_IMPLIED)
		return bad(f->path, "stores the mask of tensor '%s' in encoding %u, which this build does not know", shown, enc);
	sn_tensor *t = &g->tensor[k];
	size_t nb = enc == SLIM_MASK_IMPLIED ? 0 : (t->n + 7) / 8;
	if (plen != nb)
		return bad(f->path, "is malformed: the mask of tensor '%s' has %llu bytes, its %zu values need %zu",
		           shown, (unsigned long long)plen, t->n, nb);
	if (nb && t->n % 8 && (q[nb - 1] >> (t->n % 8)))
		return bad(f->path, "is malformed: the mask of tensor '%s' has bits set past its last value", shown);
	uint8_t *m = malloc(t->n ? t->n : 1);
	if (!m) return sn_seterr(SN_ENOMEM, "out of memory reading model file '%s'", f->path);
	for (size_t i = 0; i < t->n; i++) m[i] = enc == SLIM_MASK_IMPLIED ? t->data[i] != 0.0f : (q[i / 8] >> (i % 8)) & 1;
	free(t->mask);
	t->mask = m;
	seen[k] = 1;
	return SN_OK;
}

static int read_masks(const slim_file *f, sn_graph *g)
{
	if (!f->mask.present) return SN_OK;
	slim_rd r = sec_rd(f, &f->mask, "MASK");
	uint32_t count = rd_u32(&r, "the mask count");
	if (r.bad) return SN_EFORMAT;
	unsigned char *seen = calloc((size_t)g->n_tensor + 1, 1);
	if (!seen) return sn_seterr(SN_ENOMEM, "out of memory reading model file '%s'", f->path);
	int rc = SN_OK;
	for (uint32_t i = 0; i < count && rc == SN_OK; i++) rc = read_one_mask(&r, f, g, seen);
	if (rc == SN_OK && rd_end(&r)) rc = SN_EFORMAT;
	free(seen);
	return rc;
}

/* An optimizer vector of n floats, allocated only once its bytes are known to be there. */
static float *rd_floats(slim_rd *r, size_t n, const char *item)
{
	const unsigned char *q = rd_bytes(r, (uint64_t)n * 4, item);
	if (!q) return NULL;
	float *v = malloc(n ? n * 4 : 1);
	if (!v) {
		r->bad = 1;
		sn_seterr(SN_ENOMEM, "out of memory reading model file '%s'", r->path);
		return NULL;
	}
	for (size_t i = 0; i < n; i++) v[i] = sn_get_f32(q + 4 * i);
	return v;
}

static int read_train(const slim_file *f, const sn_graph *g, sn_train_state *st)
{
	memset(st, 0, sizeof *st);
	if (!f->trns.present) return SN_OK;
	slim_rd r = sec_rd(f, &f->trns, "TRNS");
	st->epoch = (int)rd_u32(&r, "the epoch");
	uint32_t flags = rd_u32(&r, "the training-state flags");
	st->step = rd_u64(&r, "the step");
	for (int i = 0; i < 4; i++) st->rng.s[i] = rd_u64(&r, "the data random state");
	for (int i = 0; i < 4; i++) st->graph_rng.s[i] = rd_u64(&r, "the dropout random state");
	rd_str(&r, st->recipe, sizeof st->recipe, "the recipe");
	uint64_t n = rd_u64(&r, "the optimizer vector length");
	if (r.bad) return SN_EFORMAT;
	if (flags & ~(SLIM_TRNS_M | SLIM_TRNS_V))
		return bad(f->path, "has a training state with unknown flags 0x%x (a newer slimnn wrote it?)", flags);
	if (n != g->n_w)
		return bad(f->path, "has a training state for %llu parameters but its architecture has %zu",
		           (unsigned long long)n, g->n_w);
	if (flags & SLIM_TRNS_M) st->opt_m = rd_floats(&r, g->n_w, "the optimizer's first moments");
	if (flags & SLIM_TRNS_V) st->opt_v = rd_floats(&r, g->n_w, "the optimizer's second moments");
	if (r.bad || rd_end(&r)) return SN_EFORMAT; /* the caller frees what was allocated */
	st->present = 1;
	return SN_OK;
}

/* ---------------------------------------------------------------- public entry points */

/* The size bound applied before anything is read. */
static int check_path(const char *path, const char *what, size_t max_bytes)
{
	uint64_t size;
	int rc = sn_check_file(path, what, &size);
	if (!rc && size > max_bytes)
		return bad(path, "is too large (%llu bytes; a .slim file holds at most 2 GiB)", (unsigned long long)size);
	return rc;
}

int sn_slim_first_byte(unsigned char b) { return b == slim_magic[0]; }

/* The model in p[0..len); messages name it `path`. */
static sn_graph *model_from(const char *path, const unsigned char *p, size_t len, sn_meta *meta, sn_train_state *st)
{
	slim_file f = {.path = path};
	sn_graph *g = NULL;
	sn_meta m;
	sn_train_state ts = {0};
	int rc = check_envelope(path, p, len);
	if (!rc) rc = index_sections(&f, p, len);
	if (!rc && !(g = read_arch(&f))) rc = SN_EFORMAT;
	if (!rc) rc = read_meta(&f, &m);
	if (!rc) rc = read_qnt8(&f, g);
	if (!rc) rc = read_tensors(&f, g);
	if (!rc) rc = read_masks(&f, g);
	if (!rc) rc = finish_int8(&f, g);
	/* validated even when the caller does not want it: a load vouches for the whole file */
	if (!rc) rc = read_train(&f, g, &ts);
	if (rc || !st) {
		free(ts.opt_m);
		free(ts.opt_v);
	}
	if (rc) {
		sn_graph_free(g);
		return NULL;
	}
	/* the outputs change only on success */
	g->shapes_locked = 1;   /* trained weights: never silently reshaped by a new input shape */
	if (meta) *meta = m;
	if (st) *st = ts;
	return g;
}

sn_graph *sn_model_load(const char *path, sn_meta *meta, sn_train_state *st)
{
	unsigned char *p;
	size_t len;
	if (check_path(path, "model", SLIM_MAX_BYTES) || sn_read_file(path, SLIM_MAX_BYTES, &p, &len)) return NULL;
	sn_graph *g = model_from(path, p, len, meta, st);
	free(p);
	return g;
}

sn_graph *sn_model_read(const void *data, size_t len, sn_meta *meta, sn_train_state *st)
{
	if (!data && len) { sn_seterr(SN_EINVAL, "sn_model_read: no data"); return NULL; }
	if (len > SLIM_MAX_BYTES) { sn_seterr(SN_EFORMAT, "a .slim model holds at most 2 GiB"); return NULL; }
	return model_from("<memory>", data, len, meta, st);
}
