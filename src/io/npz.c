/* NumPy .npz archives (np.savez: stored members; np.savez_compressed: deflated): a zip of .npy
 * files, one per key. libzip reads the zip, from memory (sn_npz_parse, the fuzz target) or from
 * the file (sn_npz_load: an uncompressed archive of several GB is not held twice). A member's
 * declared size is checked against a limit and against what its compressed bytes can possibly
 * hold before anything is read, and the buffer then grows only as bytes really inflate, so a zip
 * bomb or a lying header cannot eat memory. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zip.h>
#include "io/array.h"

#define NPZ_MAX_KEY 1024            /* bytes of a key: member names are short */
#define NPZ_LIST_MAX 600            /* bytes of key list in a "no such key" message */
#define NPZ_FIRST_CHUNK ((size_t)1 << 20)
#define DEFLATE_MAX_RATIO 1032      /* deflate emits at most 258 bytes per 2 bits */

/* ---------------------------------------------------------------- opening */

static int open_source(zip_source_t *src, zip_error_t *ze, const char *name, zip_t **z)
{
	*z = zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, ze);
	if (*z) return SN_OK;
	zip_source_free(src);   /* not taken over when the open fails */
	return sn_seterr(SN_EFORMAT, "'%s' is not a readable .npz (zip) archive: %s; write it with np.savez or "
	                 "np.savez_compressed", name, zip_error_strerror(ze));
}

static int open_buffer(const void *buf, size_t len, const char *name, zip_t **z)
{
	zip_error_t ze;
	zip_error_init(&ze);
	zip_source_t *src = zip_source_buffer_create(len ? buf : "", len, 0, &ze);
	int rc = src ? open_source(src, &ze, name, z)
	             : sn_seterr(SN_ENOMEM, "cannot read '%s': %s", name, zip_error_strerror(&ze));
	zip_error_fini(&ze);
	return rc;
}

static int open_file(const char *path, zip_t **z)
{
	FILE *f = fopen(path, "rbe");
	if (!f) return sn_seterr(SN_EIO, "cannot open '%s': %s", path, strerror(errno));
	struct stat st;
	if (fstat(fileno(f), &st) || !S_ISREG(st.st_mode)) {
		fclose(f);
		return sn_seterr(SN_EIO, "'%s' is not a regular file", path);
	}
	zip_error_t ze;
	zip_error_init(&ze);
	zip_source_t *src = zip_source_filep_create(f, 0, -1, &ze);   /* takes f when it succeeds */
	int rc;
	if (src) {
		rc = open_source(src, &ze, path, z);
	} else {
		rc = sn_seterr(SN_EIO, "cannot read '%s': %s", path, zip_error_strerror(&ze));
		fclose(f);
	}
	zip_error_fini(&ze);
	return rc;
}

/* ---------------------------------------------------------------- members */

static int is_npy_name(const char *s)
{
	size_t n = strlen(s);
	return n >= 4 && !strcmp(s + n - 4, ".npy");
}

/* Index of "<key>.npy" or "<key>", or -1. */
static zip_int64_t locate(zip_t *z, const char *key)
{
	char m[NPZ_MAX_KEY + 8];
	snprintf(m, sizeof m, "%s.npy", key);
	zip_int64_t i = zip_name_locate(z, m, 0);
	return i >= 0 ? i : zip_name_locate(z, key, 0);
}

static int check_key(const char *name, const char *key)
{
	if (!key || !*key || strlen(key) > NPZ_MAX_KEY)
		return sn_seterr(SN_EINVAL, "no valid array name given for '%s'", name);
	return SN_OK;
}

/* SN_EINVAL naming the keys the archive does hold. */
static int missing_key(zip_t *z, const char *name, const char *key)
{
	char list[NPZ_LIST_MAX + 8];
	size_t at = 0;
	zip_int64_t n = zip_get_num_entries(z, 0);
	list[0] = 0;
	for (zip_int64_t i = 0; i < n; i++) {
		const char *s = zip_get_name(z, (zip_uint64_t)i, 0);
		if (!s) continue;
		int len = (int)strlen(s) - (is_npy_name(s) ? 4 : 0);
		if (at + (size_t)len + 2 > NPZ_LIST_MAX) {
			at += (size_t)snprintf(list + at, sizeof list - at, at ? ", ..." : "...");
			break;
		}
		at += (size_t)snprintf(list + at, sizeof list - at, "%s%.*s", at ? ", " : "", len, s);
	}
	return sn_seterr(SN_EINVAL, "'%s' has no array '%s'; it holds %s%s", name, key,
	                 at ? "these: " : "no arrays", list);
}

/* Reads member i whole into a malloc'd buffer, trusting neither its declared size nor its data. */
static int read_member(zip_t *z, zip_int64_t i, const char *label, unsigned char **out, size_t *len)
{
	zip_stat_t st;
	zip_stat_init(&st);
	if (zip_stat_index(z, (zip_uint64_t)i, 0, &st))
		return sn_seterr(SN_EFORMAT, "'%s' cannot be examined: %s", label, zip_strerror(z));
	const zip_uint64_t need = ZIP_STAT_SIZE | ZIP_STAT_COMP_SIZE | ZIP_STAT_COMP_METHOD;
	if ((st.valid & need) != need)
		return sn_seterr(SN_EFORMAT, "'%s' has no sizes in the archive's directory; the archive is corrupt", label);
	if ((st.valid & ZIP_STAT_ENCRYPTION_METHOD) && st.encryption_method != ZIP_EM_NONE)
		return sn_seterr(SN_EFORMAT, "'%s' is encrypted; save the arrays without a password", label);
	if (st.size > SN_NPZ_MAX_MEMBER)
		return sn_seterr(SN_EFORMAT, "'%s' declares %llu bytes once decompressed, more than the %llu allowed; "
		                 "split the data set into smaller arrays", label, (unsigned long long)st.size,
		                 (unsigned long long)SN_NPZ_MAX_MEMBER);
	if (st.comp_method == ZIP_CM_STORE && st.size != st.comp_size)
		return sn_seterr(SN_EFORMAT, "'%s' is stored uncompressed yet declares %llu bytes in %llu; the archive is "
		                 "corrupt", label, (unsigned long long)st.size, (unsigned long long)st.comp_size);
	if (st.comp_method == ZIP_CM_DEFLATE && st.size / DEFLATE_MAX_RATIO > st.comp_size + 64)
		return sn_seterr(SN_EFORMAT, "'%s' declares %llu bytes from %llu compressed ones, more than deflate can "
		                 "produce; the archive is corrupt or hostile", label, (unsigned long long)st.size,
		                 (unsigned long long)st.comp_size);
	if (st.size >= SIZE_MAX)
		return sn_seterr(SN_EFORMAT, "'%s' is too large for this machine", label);

	zip_file_t *f = zip_fopen_index(z, (zip_uint64_t)i, 0);
	if (!f) return sn_seterr(SN_EFORMAT, "'%s' cannot be opened: %s", label, zip_strerror(z));
	/* room for one byte past the declared size, to notice a member that inflates to more */
	size_t total = (size_t)st.size + 1, cap = total < NPZ_FIRST_CHUNK ? total : NPZ_FIRST_CHUNK, got = 0;
	unsigned char *p = malloc(cap);
	int rc = p ? SN_OK : sn_seterr(SN_ENOMEM, "out of memory reading '%s'", label);
	while (rc == SN_OK) {
		if (got == cap) {
			if (cap == total) {
				rc = sn_seterr(SN_EFORMAT, "'%s' inflates to more than the %llu bytes it declares; the archive is "
				               "corrupt", label, (unsigned long long)st.size);
				break;
			}
			size_t ncap = cap > total / 2 ? total : cap * 2;
			unsigned char *q = realloc(p, ncap);
			if (!q) { rc = sn_seterr(SN_ENOMEM, "out of memory reading '%s'", label); break; }
			p = q;
			cap = ncap;
		}
		zip_int64_t r = zip_fread(f, p + got, cap - got);
		if (r < 0) {
			rc = sn_seterr(SN_EFORMAT, "'%s' is corrupt: %s", label, zip_file_strerror(f));
			break;
		}
		if (r == 0) break;
		got += (size_t)r;
	}
	if (rc == SN_OK && got != st.size)
		rc = sn_seterr(SN_EFORMAT, "'%s' inflates to %zu bytes but declares %llu; the archive is corrupt",
		               label, got, (unsigned long long)st.size);
	zip_fclose(f);
	if (rc) { free(p); return rc; }
	*out = p;
	*len = got;
	return SN_OK;
}

static int load_from(zip_t *z, const char *name, const char *key, sn_array *a)
{
	zip_int64_t i = locate(z, key);
	if (i < 0) return missing_key(z, name, key);
	const char *member = zip_get_name(z, (zip_uint64_t)i, 0);
	char label[2 * NPZ_MAX_KEY + 16];
	snprintf(label, sizeof label, "%s:%s", name, member ? member : key);
	unsigned char *p = NULL;
	size_t len = 0;
	int rc = read_member(z, i, label, &p, &len);
	return rc ? rc : sn_npy_parse_owned(p, len, label, a);
}

int sn_npz_parse(const void *buf, size_t len, const char *name, const char *key, sn_array *a)
{
	if (!a || (!buf && len)) return sn_seterr(SN_EINVAL, "sn_npz_parse: missing argument");
	memset(a, 0, sizeof *a);
	if (!name) name = "(memory)";
	int rc = check_key(name, key);
	zip_t *z;
	if (rc || (rc = open_buffer(buf, len, name, &z))) return rc;
	rc = load_from(z, name, key, a);
	zip_discard(z);
	return rc;
}

int sn_npz_load(const char *path, const char *key, sn_array *a)
{
	if (!a || !path) return sn_seterr(SN_EINVAL, "sn_npz_load: missing argument");
	memset(a, 0, sizeof *a);
	int rc = check_key(path, key);
	zip_t *z;
	if (rc || (rc = open_file(path, &z))) return rc;
	rc = load_from(z, path, key, a);
	zip_discard(z);
	return rc;
}

int sn_npz_has(const char *path, const char *key)
{
	if (!path) return sn_seterr(SN_EINVAL, "sn_npz_has: missing argument");
	int rc = check_key(path, key);
	zip_t *z;
	if (rc || (rc = open_file(path, &z))) return rc;
	rc = locate(z, key) >= 0;
	zip_discard(z);
	return rc;
}
