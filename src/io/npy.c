/* NumPy .npy files: read versions 1.0-3.0 with '<f4' or '<f8' data in C order, write 1.0 '<f4'.
 * The header is a Python dict literal; we parse exactly the subset numpy writes (any key order,
 * any whitespace) and refuse anything else, then insist the data length matches the shape. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "io/io_internal.h"

#define NPY_MAX_DIM 8
#define NPY_MAX_HEADER 65536   /* numpy itself refuses headers over 10000 bytes by default */
static const char npy_magic[6] = {'\x93', 'N', 'U', 'M', 'P', 'Y'};

/* ---------------------------------------------------------------- header parsing */

typedef struct {
	const char *p, *end;
	const char *path;
} cursor;

static void skip_ws(cursor *c)
{
	while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r')) c->p++;
}

static int bad(const cursor *c, const char *what)
{
	return sn_seterr(SN_EFORMAT, "'%s' has a malformed .npy header: %s", c->path, what);
}

/* Consumes ch (after whitespace) if it is next; returns 1 if it did. */
static int accept(cursor *c, char ch)
{
	skip_ws(c);
	if (c->p < c->end && *c->p == ch) { c->p++; return 1; }
	return 0;
}

/* A quoted string without escapes (numpy never writes any in these keys and values). */
static int parse_str(cursor *c, char *out, size_t len)
{
	skip_ws(c);
	if (c->p >= c->end || (*c->p != '\'' && *c->p != '"')) return bad(c, "expected a quoted string");
	char q = *c->p++;
	size_t n = 0;
	while (c->p < c->end && *c->p != q) {
		if (*c->p == '\\' || n + 1 >= len) return bad(c, "unexpected string");
		out[n++] = *c->p++;
	}
	if (c->p >= c->end) return bad(c, "unterminated string");
	c->p++;
	out[n] = 0;
	return SN_OK;
}

static int parse_bool(cursor *c, int *v)
{
	skip_ws(c);
	size_t left = (size_t)(c->end - c->p);
	if (left >= 4 && !memcmp(c->p, "True", 4)) { c->p += 4; *v = 1; return SN_OK; }
	if (left >= 5 && !memcmp(c->p, "False", 5)) { c->p += 5; *v = 0; return SN_OK; }
	return bad(c, "fortran_order must be True or False");
}

static int parse_dim(cursor *c, int *v)
{
	skip_ws(c);
	long long x = 0;
	const char *start = c->p;
	while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
		x = x * 10 + (*c->p++ - '0');
		if (x > INT_MAX)
			return sn_seterr(SN_EFORMAT, "'%s' has a dimension too large for this reader", c->path);
	}
	if (c->p == start) return bad(c, "shape must be a tuple of non-negative integers");
	if (c->p < c->end && *c->p == 'L') c->p++;   /* Python 2 longs */
	*v = (int)x;
	return SN_OK;
}

/* "()", "(5,)", "(2, 3)", "(2, 3,)": a Python tuple; "(5)" is an int in Python, so refused. */
static int parse_shape(cursor *c, int *ndim, int *dims)
{
	if (!accept(c, '(')) return bad(c, "shape must be a tuple");
	int n = 0, rc;
	for (;;) {
		if (accept(c, ')')) break;
		if (n == NPY_MAX_DIM)
			return sn_seterr(SN_EFORMAT, "'%s' has more than %d dimensions", c->path, NPY_MAX_DIM);
		if ((rc = parse_dim(c, &dims[n++]))) return rc;
		if (accept(c, ',')) continue;
		if (!accept(c, ')')) return bad(c, "expected ',' or ')' in shape");
		if (n == 1) return bad(c, "a one-element shape needs a trailing comma");
		break;
	}
	*ndim = n;
	return SN_OK;
}

typedef struct {
	char descr[16];
	int fortran, ndim, dims[NPY_MAX_DIM];
} npy_header;

static int parse_header(cursor *c, npy_header *h)
{
	int seen = 0, rc;   /* bit 0 descr, 1 fortran_order, 2 shape */
	if (!accept(c, '{')) return bad(c, "expected '{'");
	while (!accept(c, '}')) {
		char key[32];
		int bit;
		if ((rc = parse_str(c, key, sizeof key))) return rc;
		if (!accept(c, ':')) return bad(c, "expected ':' after a key");
		if (!strcmp(key, "descr")) { bit = 1; rc = parse_str(c, h->descr, sizeof h->descr); }
		else if (!strcmp(key, "fortran_order")) { bit = 2; rc = parse_bool(c, &h->fortran); }
		else if (!strcmp(key, "shape")) { bit = 4; rc = parse_shape(c, &h->ndim, h->dims); }
		else return sn_seterr(SN_EFORMAT, "'%s' has an unexpected key '%s' in its .npy header", c->path, key);
		if (rc) return rc;
		if (seen & bit) return sn_seterr(SN_EFORMAT, "'%s' repeats the key '%s' in its .npy header", c->path, key);
		seen |= bit;
		if (!accept(c, ',')) {
			if (!accept(c, '}')) return bad(c, "expected ',' or '}'");
			break;
		}
	}
	skip_ws(c);
	if (c->p != c->end) return bad(c, "unexpected text after the dict");
	if (seen != 7) return bad(c, "it needs the keys 'descr', 'fortran_order' and 'shape'");
	return SN_OK;
}

/* ---------------------------------------------------------------- reading */

static int read_exact(FILE *f, void *p, size_t n, const char *path, const char *what)
{
	if (n && fread(p, 1, n, f) != n)
		return ferror(f) ? sn_seterr(SN_EIO, "cannot read %s of '%s': %s", what, path, strerror(errno))
		                 : sn_seterr(SN_EFORMAT, "'%s' is truncated in its %s", path, what);
	return SN_OK;
}

/* Reads the magic, version and header dict; leaves f at the first data byte. */
static int read_prefix(FILE *f, const char *path, size_t fsize, npy_header *h, size_t *data_off)
{
	unsigned char pre[12];
	int rc;
	if (fsize < 10 || (rc = read_exact(f, pre, 10, path, "header")) ||
	    memcmp(pre, npy_magic, sizeof npy_magic))
		return sn_seterr(SN_EFORMAT, "'%s' is not a .npy file (bad magic)", path);
	int major = pre[6], minor = pre[7];
	size_t hlen, off;
	if (major == 1 && minor == 0) {
		hlen = (size_t)pre[8] | (size_t)pre[9] << 8;
		off = 10;
	} else if ((major == 2 || major == 3) && minor == 0) {
		if ((rc = read_exact(f, pre + 10, 2, path, "header"))) return rc;
		hlen = sn_get_u32(pre + 8);
		off = 12;
	} else {
		return sn_seterr(SN_EFORMAT, "'%s' is .npy version %d.%d; versions 1.0, 2.0 and 3.0 are supported",
		                 path, major, minor);
	}
	if (hlen > NPY_MAX_HEADER || hlen > fsize - off)
		return sn_seterr(SN_EFORMAT, "'%s' declares a %zu-byte header in a %zu-byte file", path, hlen, fsize);
	char *text = malloc(hlen ? hlen : 1);
	if (!text) return sn_seterr(SN_ENOMEM, "out of memory reading '%s'", path);
	rc = read_exact(f, text, hlen, path, "header");
	if (rc == SN_OK) {
		cursor c = {text, text + hlen, path};
		memset(h, 0, sizeof *h);
		rc = parse_header(&c, h);
	}
	free(text);
	*data_off = off + hlen;
	return rc;
}

/* Element count of a shape, or SIZE_MAX if it overflows. */
static size_t shape_count(int ndim, const int *dims)
{
	size_t n = 1;
	for (int i = 0; i < ndim; i++)
		if (__builtin_mul_overflow(n, (size_t)dims[i], &n)) return SIZE_MAX;
	return n;
}

/* Converts little-endian doubles to floats chunk by chunk: no second full-size buffer. */
static int read_f8(FILE *f, float *out, size_t n, const char *path)
{
	unsigned char chunk[8 * 4096];
	for (size_t done = 0; done < n;) {
		size_t k = n - done < 4096 ? n - done : 4096;
		int rc = read_exact(f, chunk, k * 8, path, "data");
		if (rc) return rc;
		for (size_t i = 0; i < k; i++) {
			uint64_t u = sn_get_u64(chunk + 8 * i);
			double v;
			memcpy(&v, &u, sizeof v);
			out[done + i] = (float)v;
		}
		done += k;
	}
	return SN_OK;
}

static int read_f4(FILE *f, float *out, size_t n, const char *path)
{
	int rc = read_exact(f, out, n * 4, path, "data");
#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
	if (rc == SN_OK)
		for (size_t i = 0; i < n; i++) out[i] = sn_get_f32((const unsigned char *)&out[i]);
#endif
	return rc;
}

static int read_body(FILE *f, const char *path, size_t fsize, size_t off, const npy_header *h,
                     float **data)
{
	size_t item;
	if (!strcmp(h->descr, "<f4")) item = 4;
	else if (!strcmp(h->descr, "<f8")) item = 8;
	else return sn_seterr(SN_EFORMAT, "'%s' holds dtype '%s'; only '<f4' and '<f8' are supported", path, h->descr);
	if (h->fortran)
		return sn_seterr(SN_EFORMAT, "'%s' is in Fortran order; save it in C order "
		                 "(numpy.ascontiguousarray) first", path);
	size_t n = shape_count(h->ndim, h->dims), want = n <= SIZE_MAX / item ? n * item : SIZE_MAX;
	if (want != fsize - off)
		return sn_seterr(SN_EFORMAT, "'%s' has %zu data bytes but its shape needs %zu", path,
		                 fsize - off, want);
	/* n is now bounded by the file size, so the allocation is too */
	float *p = malloc(n ? n * sizeof(float) : 1);
	if (!p) return sn_seterr(SN_ENOMEM, "out of memory reading '%s' (%zu values)", path, n);
	int rc = item == 4 ? read_f4(f, p, n, path) : read_f8(f, p, n, path);
	if (rc) { free(p); return rc; }
	*data = p;
	return SN_OK;
}

int sn_npy_read(const char *path, int *ndim, int dims[8], float **data)
{
	if (data) *data = NULL;
	if (!path || !ndim || !dims || !data) return sn_seterr(SN_EINVAL, "sn_npy_read: missing argument");
	FILE *f = fopen(path, "rbe");
	if (!f) return sn_seterr(SN_EIO, "cannot open '%s': %s", path, strerror(errno));
	struct stat st;
	int rc;
	if (fstat(fileno(f), &st) || !S_ISREG(st.st_mode)) {
		rc = sn_seterr(SN_EIO, "'%s' is not a regular file", path);
	} else {
		npy_header h;
		size_t off = 0, fsize = (size_t)st.st_size;
		rc = read_prefix(f, path, fsize, &h, &off);
		if (rc == SN_OK) rc = read_body(f, path, fsize, off, &h, data);
		if (rc == SN_OK) {
			*ndim = h.ndim;
			memcpy(dims, h.dims, sizeof(int) * (size_t)h.ndim);
		}
	}
	fclose(f);
	return rc;
}

/* ---------------------------------------------------------------- writing */

int sn_npy_write(const char *path, int ndim, const int *dims, const float *data)
{
	if (!path || ndim < 0 || ndim > NPY_MAX_DIM || (ndim && !dims))
		return sn_seterr(SN_EINVAL, "sn_npy_write: bad arguments for '%s' (ndim must be 0..8)",
		                 path ? path : "(null)");
	for (int i = 0; i < ndim; i++)
		if (dims[i] < 0)
			return sn_seterr(SN_EINVAL, "cannot write '%s': dimension %d is negative (%d)", path, i, dims[i]);
	size_t n = shape_count(ndim, dims);
	if (n > SIZE_MAX / 4) return sn_seterr(SN_EINVAL, "cannot write '%s': the shape is too large", path);
	if (n && !data) return sn_seterr(SN_EINVAL, "cannot write '%s': no data", path);

	/* the dict exactly as numpy writes it, padded so the data starts 64-byte aligned */
	char dict[256];
	int len = snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (");
	for (int i = 0; i < ndim; i++)
		len += snprintf(dict + len, sizeof dict - (size_t)len, i ? ", %d" : "%d", dims[i]);
	len += snprintf(dict + len, sizeof dict - (size_t)len, "%s), }", ndim == 1 ? "," : "");
	size_t total = 10 + (size_t)len + 1;   /* prefix, dict, '\n' */
	size_t padding = (64 - total % 64) % 64;
	size_t hlen = (size_t)len + padding + 1;

	sn_buf b = {0};
	sn_buf_put(&b, npy_magic, sizeof npy_magic);
	sn_buf_put(&b, "\x01\x00", 2);
	unsigned char hl[2] = {(unsigned char)hlen, (unsigned char)(hlen >> 8)};
	sn_buf_put(&b, hl, 2);
	sn_buf_put(&b, dict, (size_t)len);
	if (!sn_buf_reserve(&b, padding + 1)) {
		memset(b.p + b.len, ' ', padding);
		b.p[b.len + padding] = '\n';
		b.len += padding + 1;
	}
	sn_buf_f32n(&b, data, n);
	int rc = b.oom ? sn_seterr(SN_ENOMEM, "out of memory writing '%s'", path)
	               : sn_write_atomic(path, b.p, b.len);
	sn_buf_free(&b);
	return rc;
}
