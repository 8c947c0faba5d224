/* IDX files (the MNIST container), plain or gzipped: a strict reader that trusts nothing in
 * the header. The body buffer grows as bytes arrive, so a forged header cannot make us
 * allocate more than the file really holds (times two). */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include "core/error.h"

#define IDX_MAX_BYTES ((size_t)1 << 30)   /* 1 GiB: far above any sane image set */
#define IDX_FIRST_CHUNK ((size_t)1 << 22) /* 4 MiB before the body proves to be real */
#define IDX_TYPE_UBYTE 0x08

/* gzread's failure as one phrase; truncated gzip streams and corrupt data are format errors. */
static int gz_fail(gzFile f, const char *path, const char *what)
{
	int zerr = Z_OK;
	const char *msg = gzerror(f, &zerr);
	if (zerr == Z_ERRNO)
		return sn_seterr(SN_EIO, "cannot read %s of '%s': %s", what, path, strerror(errno));
	return sn_seterr(SN_EFORMAT, "'%s' is corrupt while reading %s: %s", path, what,
	                 msg && *msg ? msg : "unknown zlib error");
}

/* Reads up to n bytes; returns the count (short only at end of data) or -1 on error. */
static long long gz_read_full(gzFile f, unsigned char *p, size_t n)
{
	size_t got = 0;
	while (got < n) {
		size_t want = n - got;
		if (want > ((size_t)1 << 30)) want = (size_t)1 << 30; /* gzread takes an unsigned */
		int r = gzread(f, p + got, (unsigned)want);
		if (r < 0) return -1;
		if (r == 0) break;
		got += (size_t)r;
	}
	return (long long)got;
}

/* A short read is either a clean end of file or a zlib error hiding behind it. */
static int gz_has_error(gzFile f)
{
	int zerr = Z_OK;
	gzerror(f, &zerr);
	return zerr != Z_OK && zerr != Z_STREAM_END;
}

static int read_header(gzFile f, const char *path, int expect_ndim, int *dims, size_t *total)
{
	unsigned char h[4 + 4 * 4];
	long long r = gz_read_full(f, h, 4);
	if (r < 0 || (r < 4 && gz_has_error(f))) return gz_fail(f, path, "the header");
	if (r < 4)
		return sn_seterr(SN_EFORMAT, "'%s' is too short to be an IDX file (%lld bytes)", path, r);
	if (h[0] || h[1])
		return sn_seterr(SN_EFORMAT, "'%s' is not an IDX file: bad magic %02x %02x %02x %02x", path,
		                 h[0], h[1], h[2], h[3]);
	if (h[2] != IDX_TYPE_UBYTE)
		return sn_seterr(SN_EFORMAT, "'%s' has IDX element type 0x%02x; only unsigned bytes (0x08) are supported",
		                 path, h[2]);
	if (h[3] != expect_ndim)
		return sn_seterr(SN_EFORMAT, "'%s' has %d dimensions, expected %d", path, h[3], expect_ndim);

	size_t nd = (size_t)expect_ndim * 4;
	r = gz_read_full(f, h + 4, nd);
	if (r < 0 || ((size_t)r < nd && gz_has_error(f))) return gz_fail(f, path, "the header");
	if ((size_t)r < nd)
		return sn_seterr(SN_EFORMAT, "'%s' is truncated inside its header (%lld of %zu dimension bytes)",
		                 path, r, nd);
	size_t n = 1;
	for (int i = 0; i < expect_ndim; i++) {
		const unsigned char *q = h + 4 + 4 * i;   /* big-endian */
		uint32_t d = (uint32_t)q[0] << 24 | (uint32_t)q[1] << 16 | (uint32_t)q[2] << 8 | q[3];
		if (d == 0 || d > IDX_MAX_BYTES)
			return sn_seterr(SN_EFORMAT, "'%s' has an invalid dimension %d of size %u", path, i, d);
		/* both factors are <= 2^30, so the product fits before we compare */
		n *= d;
		if (n > IDX_MAX_BYTES)
			return sn_seterr(SN_EFORMAT, "'%s' claims more than %zu bytes of data; refusing it",
			                 path, IDX_MAX_BYTES);
		dims[i] = (int)d;
	}
	*total = n;
	return SN_OK;
}

/* Reads exactly `total` bytes, allocating only as fast as data really arrives. */
static int read_body(gzFile f, const char *path, size_t total, uint8_t **out)
{
	size_t cap = total < IDX_FIRST_CHUNK ? total : IDX_FIRST_CHUNK, got = 0;
	uint8_t *p = malloc(cap);
	if (!p) return sn_seterr(SN_ENOMEM, "out of memory reading '%s'", path);
	for (;;) {
		long long r = gz_read_full(f, p + got, cap - got);
		if (r < 0) { free(p); return gz_fail(f, path, "the data"); }
		got += (size_t)r;
		if (got < cap) break;                /* end of file (or error) before the buffer filled */
		if (got == total) break;
		size_t ncap = cap > total / 2 ? total : cap * 2;
		uint8_t *q = realloc(p, ncap);
		if (!q) { free(p); return sn_seterr(SN_ENOMEM, "out of memory reading '%s'", path); }
		p = q;
		cap = ncap;
	}
	if (got < total) {
		int rc = gz_has_error(f)
		       ? gz_fail(f, path, "the data")
		       : sn_seterr(SN_EFORMAT, "'%s' is truncated: expected %zu data bytes, got %zu",
		                   path, total, got);
		free(p);
		return rc;
	}
	unsigned char extra;
	long long r = gz_read_full(f, &extra, 1);
	if (r != 0) {
		free(p);
		if (r < 0) return gz_fail(f, path, "the end of the data");
		return sn_seterr(SN_EFORMAT, "'%s' has trailing bytes after the %zu data bytes its header declares",
		                 path, total);
	}
	if (gz_has_error(f)) { free(p); return gz_fail(f, path, "the end of the data"); }
	*out = p;
	return SN_OK;
}

int sn_idx_read(const char *path, int expect_ndim, int *dims, uint8_t **data)
{
	if (data) *data = NULL;
	if (!path || !dims || !data || expect_ndim < 1 || expect_ndim > 4)
		return sn_seterr(SN_EINVAL, "sn_idx_read: bad arguments (ndim must be 1..4)");
	errno = 0;
	gzFile f = gzopen(path, "rb");
	if (!f)
		return sn_seterr(SN_EIO, "cannot open '%s': %s", path,
		                 errno ? strerror(errno) : "out of memory");
	gzbuffer(f, 1 << 17);   /* fewer syscalls and inflate calls than the 8 KiB default */
	size_t total = 0;
	int rc = read_header(f, path, expect_ndim, dims, &total);
	if (rc == SN_OK) rc = read_body(f, path, total, data);
	gzclose(f);
	return rc;
}
