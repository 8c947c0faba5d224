/* NumPy .npy files: sn_npy_parse reads versions 1.0-3.0 of any bool, integer or floating-point
 * dtype in either byte order and either memory order into an sn_array (native order, C order);
 * sn_npy_read keeps the float interface `slimnn infer` uses; sn_npy_write writes 1.0 '<f4'.
 * The header is a Python dict literal; we parse exactly the subset numpy writes (any key order,
 * any whitespace) and refuse anything else, then insist the data length matches the shape. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "io/array.h"
#include "io/io.h"

#define NPY_MAX_HEADER 65536   /* numpy itself refuses headers over 10000 bytes by default */
#define NPY_MAX_FILE ((size_t)1 << 40)   /* sn_read_file's bound: memory is the real limit */
static const char npy_magic[6] = {'\x93', 'N', 'U', 'M', 'P', 'Y'};

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define NATIVE_ORDER '>'
#else
#define NATIVE_ORDER '<'
#endif

/* ---------------------------------------------------------------- dtypes */

static const struct { const char *name; size_t size; char kind; } dtypes[] = {
	[SN_DT_BOOL] = {"bool", 1, 'b'}, [SN_DT_U8] = {"uint8", 1, 'u'}, [SN_DT_I8] = {"int8", 1, 'i'},
	[SN_DT_U16] = {"uint16", 2, 'u'}, [SN_DT_I16] = {"int16", 2, 'i'}, [SN_DT_U32] = {"uint32", 4, 'u'},
	[SN_DT_I32] = {"int32", 4, 'i'}, [SN_DT_U64] = {"uint64", 8, 'u'}, [SN_DT_I64] = {"int64", 8, 'i'},
	[SN_DT_F16] = {"float16", 2, 'f'}, [SN_DT_F32] = {"float32", 4, 'f'}, [SN_DT_F64] = {"float64", 8, 'f'},
};
#define N_DTYPES (sizeof dtypes / sizeof dtypes[0])

const char *sn_dtype_name(sn_dtype t) { return (unsigned)t < N_DTYPES ? dtypes[t].name : "unknown"; }
size_t sn_dtype_size(sn_dtype t) { return (unsigned)t < N_DTYPES ? dtypes[t].size : 0; }

/* What a refused type character means, for the message. */
static const char *kind_words(char k)
{
	switch (k) {
	case 'O': return "Python objects";
	case 'S': case 'a': return "byte strings";
	case 'U': return "unicode strings";
	case 'V': return "raw void records";
	case 'c': return "complex numbers";
	case 'M': return "datetimes";
	case 'm': return "timedeltas";
	default: return "an unsupported type";
	}
}

/* A descr string such as '<f4', '|u1', '>i8', '=f2': the dtype, and whether its bytes must be
 * swapped to native order. */
static int parse_descr(const char *descr, const char *name, sn_dtype *t, int *swap)
{
	const char *d = descr;
	char order = '=';
	if (*d == '<' || *d == '>' || *d == '|' || *d == '=') order = *d++;
	char kind = *d;
	int size = 0;
	const char *s = kind ? d + 1 : d;
	if (*s >= '1' && *s <= '9' && (s[1] == 0 || (s[1] >= '0' && s[1] <= '9' && s[2] == 0)))
		size = atoi(s);
	for (unsigned i = 0; size && i < N_DTYPES; i++) {
		if (dtypes[i].kind != kind || (int)dtypes[i].size != size) continue;
		*t = (sn_dtype)i;
		*swap = size > 1 && (order == '<' || order == '>') && order != NATIVE_ORDER;
		return SN_OK;
	}
	if (strchr("OSaUVcMm", kind) && kind)
		return sn_seterr(SN_EFORMAT, "'%s' holds %s (dtype '%s'); only bool, integer and floating-point arrays "
		                 "can be read: convert it in NumPy first (e.g. a.astype(np.float32))", name,
		                 kind_words(kind), descr);
	return sn_seterr(SN_EFORMAT, "'%s' has dtype '%s', which this reader does not know; save bool, (u)int8-64 "
	                 "or float16/32/64 data", name, descr);
}

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
		if (*c->p == '\\' || *c->p == 0 || n + 1 >= len) return bad(c, "unexpected string");
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

static int parse_dim(cursor *c, int64_t *v)
{
	skip_ws(c);
	int64_t x = 0;
	const char *start = c->p;
	while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
		if (x > (INT64_MAX - 9) / 10)
			return sn_seterr(SN_EFORMAT, "'%s' has a dimension too large for this reader", c->path);
		x = x * 10 + (*c->p++ - '0');
	}
	if (c->p == start) return bad(c, "shape must be a tuple of non-negative integers");
	if (c->p < c->end && *c->p == 'L') c->p++;   /* Python 2 longs */
	*v = x;
	return SN_OK;
}

/* "()", "(5,)", "(2, 3)", "(2, 3,)": a Python tuple; "(5)" is an int in Python, so refused. */
static int parse_shape(cursor *c, int *ndim, int64_t *dims)
{
	if (!accept(c, '(')) return bad(c, "shape must be a tuple");
	int n = 0, rc;
	for (;;) {
		if (accept(c, ')')) break;
		if (n == SN_ARRAY_MAX_DIM)
			return sn_seterr(SN_EFORMAT, "'%s' has more than %d dimensions", c->path, SN_ARRAY_MAX_DIM);
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
	char descr[64];
	int fortran, ndim;
	int64_t dims[SN_ARRAY_MAX_DIM];
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
		if (!strcmp(key, "descr")) {
			bit = 1;
			skip_ws(c);
			if (c->p < c->end && *c->p == '[')   /* a list of (field, type) pairs */
				return sn_seterr(SN_EFORMAT, "'%s' holds a structured array (record fields); save each field "
				                 "as its own plain array", c->path);
			rc = parse_str(c, h->descr, sizeof h->descr);
		}
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
	if (seen != 7)
		return sn_seterr(SN_EFORMAT, "'%s' has a malformed .npy header: it lacks the key '%s' (a .npy header needs "
		                 "'descr', 'fortran_order' and 'shape')", c->path,
		                 !(seen & 1) ? "descr" : !(seen & 2) ? "fortran_order" : "shape");
	return SN_OK;
}

/* Magic, version and header dict of a .npy image; *off gets the first data byte. */
static int parse_prefix(const unsigned char *buf, size_t len, const char *name, npy_header *h, size_t *off)
{
	if (len < 10 || memcmp(buf, npy_magic, sizeof npy_magic))
		return sn_seterr(SN_EFORMAT, "'%s' is not a .npy file (bad magic)", name);
	int major = buf[6], minor = buf[7];
	size_t hlen, at;
	if (major == 1 && minor == 0) {
		hlen = (size_t)buf[8] | (size_t)buf[9] << 8;
		at = 10;
	} else if ((major == 2 || major == 3) && minor == 0) {
		if (len < 12) return sn_seterr(SN_EFORMAT, "'%s' is truncated in its header", name);
		hlen = sn_get_u32(buf + 8);
		at = 12;
	} else {
		return sn_seterr(SN_EFORMAT, "'%s' is .npy version %d.%d; versions 1.0, 2.0 and 3.0 are supported",
		                 name, major, minor);
	}
	if (hlen > NPY_MAX_HEADER || hlen > len - at)
		return sn_seterr(SN_EFORMAT, "'%s' declares a %zu-byte header in a %zu-byte file", name, hlen, len);
	cursor c = {(const char *)buf + at, (const char *)buf + at + hlen, name};
	memset(h, 0, sizeof *h);
	*off = at + hlen;
	return parse_header(&c, h);
}

/* ---------------------------------------------------------------- data */

static void swap_bytes(unsigned char *p, size_t n, size_t item)
{
	for (size_t i = 0; i < n; i++, p += item)
		for (size_t a = 0, b = item - 1; a < b; a++, b--) {
			unsigned char t = p[a];
			p[a] = p[b];
			p[b] = t;
		}
}

/* Fortran order (first index fastest) to C order (last index fastest): walks the output in C
 * order, keeping the source offset in step with an odometer of indices. */
static void fortran_to_c(const unsigned char *src, unsigned char *dst, int ndim, const int64_t *dims,
                         size_t n, size_t item)
{
	size_t fstride[SN_ARRAY_MAX_DIM], idx[SN_ARRAY_MAX_DIM] = {0}, s = 0;
	for (int k = 0; k < ndim; k++) fstride[k] = k ? fstride[k - 1] * (size_t)dims[k - 1] : 1;
	for (size_t i = 0; i < n; i++) {
		memcpy(dst + i * item, src + s * item, item);
		for (int k = ndim - 1; k >= 0; k--) {
			s += fstride[k];
			if (++idx[k] < (size_t)dims[k]) break;
			s -= fstride[k] * (size_t)dims[k];
			idx[k] = 0;
		}
	}
}

#define NPY_FLOAT_C_ONLY 1   /* sn_npy_read's historic contract: '<f4'/'<f8' in C order */

/* The core: buf holds a whole .npy image; own is buf itself when the caller hands the malloc'd
 * buffer over (then it becomes a->data when the data can be moved in place, and is freed
 * otherwise, success or not), or NULL. */
static int npy_decode(const unsigned char *buf, size_t len, unsigned char *own, const char *name, unsigned flags,
                      sn_array *a)
{
	memset(a, 0, sizeof *a);
	npy_header h;
	size_t off = 0;
	sn_dtype t = SN_DT_F32;
	int swap = 0, rc = parse_prefix(buf, len, name, &h, &off);
	if (rc == SN_OK && (flags & NPY_FLOAT_C_ONLY)) {
		if (strcmp(h.descr, "<f4") && strcmp(h.descr, "<f8"))
			rc = sn_seterr(SN_EFORMAT, "'%s' holds dtype '%s'; only '<f4' and '<f8' are supported", name, h.descr);
		else if (h.fortran)
			rc = sn_seterr(SN_EFORMAT, "'%s' is in Fortran order; save it in C order "
			               "(numpy.ascontiguousarray) first", name);
	}
	if (rc == SN_OK) rc = parse_descr(h.descr, name, &t, &swap);
	if (rc) { free(own); return rc; }

	/* every product checked: the count, then the bytes, then against what is there */
	size_t item = sn_dtype_size(t), n = 1, want = 0, have = len - off;
	int ovf = 0;
	for (int i = 0; i < h.ndim; i++) ovf |= __builtin_mul_overflow(n, (size_t)h.dims[i], &n);
	for (int i = 0; i < h.ndim; i++) if (!h.dims[i]) { n = 0; ovf = 0; }   /* a zero makes any shape empty */
	if (ovf || __builtin_mul_overflow(n, item, &want)) {
		free(own);
		return sn_seterr(SN_EFORMAT, "'%s' has a shape whose element count overflows; the header is corrupt", name);
	}
	if (want != have) {
		free(own);
		return sn_seterr(SN_EFORMAT, "'%s' has %zu data bytes but its shape needs %zu (%zu %s values): %s", name,
		                 have, want, n, sn_dtype_name(t), have < want ? "the file is truncated"
		                 : "bytes trail the array; the header or the file is corrupt");
	}
	unsigned char *p;
	if (own && !h.fortran) {
		/* the data already sits in the buffer: slide it to the front and give back the rest */
		memmove(own, own + off, want);
		p = realloc(own, want ? want : 1);
		if (!p) p = own;
	} else {
		p = malloc(want ? want : 1);
		if (!p) { free(own); return sn_seterr(SN_ENOMEM, "out of memory reading '%s' (%zu bytes)", name, want); }
		if (h.fortran) fortran_to_c(buf + off, p, h.ndim, h.dims, n, item);
		else if (want) memcpy(p, buf + off, want);
		free(own);
	}
	if (swap) swap_bytes(p, n, item);
	if (t == SN_DT_BOOL)
		for (size_t i = 0; i < n; i++) p[i] = p[i] != 0;
	a->dtype = t;
	a->ndim = h.ndim;
	memcpy(a->dims, h.dims, sizeof(int64_t) * (size_t)h.ndim);
	a->numel = n;
	a->data = p;
	return SN_OK;
}

int sn_npy_parse(const void *buf, size_t len, const char *name, sn_array *a)
{
	if (!a) return sn_seterr(SN_EINVAL, "sn_npy_parse: missing argument");
	if (!name) name = "(memory)";
	if (!buf && len) { memset(a, 0, sizeof *a); return sn_seterr(SN_EINVAL, "sn_npy_parse: no bytes for '%s'", name); }
	return npy_decode(buf ? buf : (const void *)"", len, NULL, name, 0, a);
}

int sn_npy_parse_owned(unsigned char *buf, size_t len, const char *name, sn_array *a)
{
	if (!a || (!buf && len)) { free(buf); return sn_seterr(SN_EINVAL, "sn_npy_parse_owned: missing argument"); }
	return npy_decode(buf ? buf : (const unsigned char *)"", len, buf, name ? name : "(memory)", 0, a);
}

int sn_npy_load(const char *path, sn_array *a)
{
	if (!path || !a) return sn_seterr(SN_EINVAL, "sn_npy_load: missing argument");
	memset(a, 0, sizeof *a);
	unsigned char *p;
	size_t len;
	int rc = sn_read_file(path, NPY_MAX_FILE, &p, &len);
	return rc ? rc : npy_decode(p, len, p, path, 0, a);
}

void sn_array_free(sn_array *a)
{
	if (!a) return;
	free(a->data);
	memset(a, 0, sizeof *a);
}

/* ---------------------------------------------------------------- elements */

static float half_to_float(uint16_t h)
{
	int e = h >> 10 & 0x1f, m = h & 0x3ff;
	float v;
	if (e == 0) v = ldexpf((float)m, -24);                 /* zero and subnormals */
	else if (e == 31) v = m ? NAN : INFINITY;
	else v = ldexpf((float)(m | 0x400), e - 25);
	return h & 0x8000 ? -v : v;
}

#define LOAD(T) (memcpy(&T##_v, p, sizeof T##_v), T##_v)
double sn_array_f64(const sn_array *a, size_t i)
{
	if (!a || !a->data || i >= a->numel) return NAN;
	const unsigned char *p = (const unsigned char *)a->data + i * sn_dtype_size(a->dtype);
	uint16_t u16_v; int16_t i16_v; uint32_t u32_v; int32_t i32_v; uint64_t u64_v; int64_t i64_v;
	float f32_v; double f64_v;
	switch (a->dtype) {
	case SN_DT_BOOL: return p[0] != 0;
	case SN_DT_U8: return p[0];
	case SN_DT_I8: return (int8_t)p[0];
	case SN_DT_U16: return LOAD(u16);
	case SN_DT_I16: return LOAD(i16);
	case SN_DT_U32: return LOAD(u32);
	case SN_DT_I32: return LOAD(i32);
	case SN_DT_U64: return (double)LOAD(u64);
	case SN_DT_I64: return (double)LOAD(i64);
	case SN_DT_F16: return half_to_float(LOAD(u16));
	case SN_DT_F32: return LOAD(f32);
	case SN_DT_F64: return LOAD(f64);
	}
	return NAN;
}

int64_t sn_array_i64(const sn_array *a, size_t i)
{
	if (!a || !a->data || i >= a->numel) return INT64_MIN;
	const unsigned char *p = (const unsigned char *)a->data + i * sn_dtype_size(a->dtype);
	uint64_t u64_v;
	int64_t i64_v;
	switch (a->dtype) {
	case SN_DT_U64: return LOAD(u64) > (uint64_t)INT64_MAX ? INT64_MIN : (int64_t)u64_v;
	case SN_DT_I64: return LOAD(i64);
	case SN_DT_F16: case SN_DT_F32: case SN_DT_F64: {
		double v = sn_array_f64(a, i);
		/* whole numbers inside int64's range only: 2^63 itself is out */
		if (!(v >= -9223372036854775808.0 && v < 9223372036854775808.0) || v != floor(v)) return INT64_MIN;
		return (int64_t)v;
	}
	default: return (int64_t)sn_array_f64(a, i);   /* 32 bits and less: exact in a double */
	}
}
#undef LOAD

int sn_array_to_f32(sn_array *a, const char *name)
{
	if (!a || (!a->data && a->numel)) return sn_seterr(SN_EINVAL, "sn_array_to_f32: missing argument");
	if (a->dtype == SN_DT_F32) return SN_OK;
	size_t item = sn_dtype_size(a->dtype), n = a->numel;
	float *f;
	if (item >= sizeof(float)) {
		/* in place, front to back: value i is written over bytes no later value still needs */
		f = a->data;
		for (size_t i = 0; i < n; i++) {
			float v = (float)sn_array_f64(a, i);
			memcpy((unsigned char *)a->data + i * sizeof v, &v, sizeof v);
		}
		a->dtype = SN_DT_F32;
		float *g = realloc(f, n ? n * sizeof(float) : 1);
		a->data = g ? g : f;
		return SN_OK;
	}
	if (n > SIZE_MAX / sizeof(float) || !(f = malloc(n ? n * sizeof(float) : 1)))
		return sn_seterr(SN_ENOMEM, "out of memory converting '%s' to float32 (%zu values)",
		                 name ? name : "(array)", n);
	for (size_t i = 0; i < n; i++) f[i] = (float)sn_array_f64(a, i);
	free(a->data);
	a->data = f;
	a->dtype = SN_DT_F32;
	return SN_OK;
}

/* ---------------------------------------------------------------- the float interface */

int sn_npy_read(const char *path, int *ndim, int dims[8], float **data)
{
	if (data) *data = NULL;
	if (!path || !ndim || !dims || !data) return sn_seterr(SN_EINVAL, "sn_npy_read: missing argument");
	unsigned char *p;
	size_t len;
	sn_array a;
	int rc = sn_read_file(path, NPY_MAX_FILE, &p, &len);
	if (rc == SN_OK) rc = npy_decode(p, len, p, path, NPY_FLOAT_C_ONLY, &a);
	if (rc) return rc;
	for (int i = 0; i < a.ndim; i++)
		if (a.dims[i] > INT_MAX) {
			sn_array_free(&a);
			return sn_seterr(SN_EFORMAT, "'%s' has a dimension too large for this reader", path);
		}
	if ((rc = sn_array_to_f32(&a, path))) { sn_array_free(&a); return rc; }
	*ndim = a.ndim;
	for (int i = 0; i < a.ndim; i++) dims[i] = (int)a.dims[i];
	*data = a.data;
	return SN_OK;
}

/* ---------------------------------------------------------------- writing */

/* Element count of a shape, or SIZE_MAX if it overflows. */
static size_t shape_count(int ndim, const int *dims)
{
	size_t n = 1;
	for (int i = 0; i < ndim; i++)
		if (__builtin_mul_overflow(n, (size_t)dims[i], &n)) return SIZE_MAX;
	return n;
}

int sn_npy_write(const char *path, int ndim, const int *dims, const float *data)
{
	if (!path || ndim < 0 || ndim > SN_ARRAY_MAX_DIM || (ndim && !dims))
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
