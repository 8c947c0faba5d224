/* Crash-safe file writes (temp file + fsync + rename) and the byte-buffer helpers of
 * io/io.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "io/io.h"

/* ---------------------------------------------------------------- byte buffer */

int sn_buf_reserve(sn_buf *b, size_t n)
{
	if (b->oom) return -1;
	if (n <= b->cap - b->len) return 0;
	if (n > SIZE_MAX / 2 - b->len) { b->oom = 1; return -1; }
	size_t cap = b->cap ? b->cap : 256;
	while (cap - b->len < n) cap *= 2;
	unsigned char *p = realloc(b->p, cap);
	if (!p) { b->oom = 1; return -1; }
	b->p = p;
	b->cap = cap;
	return 0;
}

void sn_buf_put(sn_buf *b, const void *data, size_t n)
{
	if (n == 0 || sn_buf_reserve(b, n)) return;
	memcpy(b->p + b->len, data, n);
	b->len += n;
}

void sn_buf_u32(sn_buf *b, uint32_t v)
{
	unsigned char q[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
	                      (unsigned char)(v >> 24)};
	sn_buf_put(b, q, 4);
}

void sn_buf_u64(sn_buf *b, uint64_t v)
{
	sn_buf_u32(b, (uint32_t)v);
	sn_buf_u32(b, (uint32_t)(v >> 32));
}

void sn_buf_f32(sn_buf *b, float v)
{
	uint32_t u;
	memcpy(&u, &v, sizeof u);
	sn_buf_u32(b, u);
}

void sn_buf_f32n(sn_buf *b, const float *v, size_t n)
{
	if (n > SIZE_MAX / 4 || sn_buf_reserve(b, n * 4)) {
		b->oom = 1;
		return;
	}
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	/* the in-memory layout already is the file layout */
	sn_buf_put(b, v, n * 4);
#else
	for (size_t i = 0; i < n; i++) sn_buf_f32(b, v[i]);
#endif
}

void sn_buf_free(sn_buf *b)
{
	free(b->p);
	*b = (sn_buf){0};
}

/* ---------------------------------------------------------------- whole-file read */

int sn_check_file(const char *path, const char *what, uint64_t *bytes)
{
	struct stat s;
	if (!path || !*path) return sn_seterr(SN_EINVAL, "no %s file given", what);
	if (stat(path, &s)) return sn_seterr(SN_EIO, "cannot open %s file '%s': %s", what, path, strerror(errno));
	if (S_ISDIR(s.st_mode)) return sn_seterr(SN_EIO, "'%s' is a directory, not a %s file", path, what);
	if (!S_ISREG(s.st_mode)) return sn_seterr(SN_EIO, "'%s' is not a regular file, so not a %s file", path, what);
	if (bytes) *bytes = (uint64_t)s.st_size;
	return SN_OK;
}

int sn_read_file(const char *path, size_t max_bytes, unsigned char **data, size_t *len)
{
	*data = NULL;
	*len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) return sn_seterr(SN_EIO, "cannot open '%s': %s", path, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		close(fd);
		return sn_seterr(SN_EIO, "'%s' is not a regular file", path);
	}
	if ((uint64_t)st.st_size > max_bytes) {
		close(fd);
		return sn_seterr(SN_EFORMAT, "'%s' is %lld bytes, more than the %zu bytes allowed", path,
		                 (long long)st.st_size, max_bytes);
	}
	size_t n = (size_t)st.st_size, got = 0;
	unsigned char *p = malloc(n + 1);
	if (!p) {
		close(fd);
		return sn_seterr(SN_ENOMEM, "out of memory reading '%s' (%zu bytes)", path, n);
	}
	while (got < n) {
		ssize_t r = read(fd, p + got, n - got);
		if (r < 0 && errno == EINTR) continue;
		if (r <= 0) {
			int e = r < 0 ? errno : 0;
			free(p);
			close(fd);
			return sn_seterr(SN_EIO, "cannot read '%s': %s", path,
			                 e ? strerror(e) : "file shrank while reading");
		}
		got += (size_t)r;
	}
	close(fd);
	p[n] = 0;
	*data = p;
	*len = n;
	return SN_OK;
}

/* ---------------------------------------------------------------- atomic write */

static int write_all(int fd, const unsigned char *p, size_t n)
{
	while (n) {
		ssize_t r = write(fd, p, n > (1u << 30) ? (1u << 30) : n);
		if (r < 0 && errno == EINTR) continue;
		if (r < 0) return -1;
		if (r == 0) { errno = EIO; return -1; }
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

/* The umask without changing it (umask(2) can only be read by setting it, which races with
 * other threads creating files). Linux reports it in /proc/self/status. */
static mode_t current_umask(void)
{
	mode_t m = 022;
	FILE *f = fopen("/proc/self/status", "re");
	if (!f) return m;
	char line[256];
	while (fgets(line, sizeof line, f)) {
		unsigned v;
		if (sscanf(line, "Umask: %o", &v) == 1) { m = (mode_t)v; break; }
	}
	fclose(f);
	return m;
}

/* mkstemp creates 0600 files; give the result the mode a plain fopen would (or keep the mode
 * of the file being replaced). */
static mode_t target_mode(const char *path)
{
	struct stat st;
	if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) return st.st_mode & 07777;
	return 0666 & ~current_umask();
}

/* Makes the rename durable: the directory entry lives in the parent directory. */
static int fsync_parent(const char *path)
{
	size_t n = strlen(path);
	char *dir = malloc(n + 2);
	if (!dir) { errno = ENOMEM; return -1; }
	memcpy(dir, path, n + 1);
	char *slash = strrchr(dir, '/');
	if (!slash) strcpy(dir, ".");
	else if (slash == dir) dir[1] = 0;
	else *slash = 0;
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(dir);
	if (fd < 0) return -1;
	int rc = fsync(fd);
	/* some filesystems cannot sync directories; the rename itself has happened */
	if (rc && (errno == EINVAL || errno == ENOTSUP)) rc = 0;
	int e = errno;
	close(fd);
	errno = e;
	return rc;
}

int sn_write_atomic(const char *path, const void *data, size_t len)
{
	/* several processes training one model: rank 0 alone writes, the others have the same bytes */
	if (sn_dist_rank() != 0) return SN_OK;
	if (!path || !*path || (!data && len))
		return sn_seterr(SN_EINVAL, "sn_write_atomic: empty path or missing data");
	size_t n = strlen(path);
	char *tmp = malloc(n + sizeof ".tmp.XXXXXX");
	if (!tmp) return sn_seterr(SN_ENOMEM, "out of memory writing '%s'", path);
	memcpy(tmp, path, n);
	memcpy(tmp + n, ".tmp.XXXXXX", sizeof ".tmp.XXXXXX");

	mode_t mode = target_mode(path);
	int fd = mkstemp(tmp);
	if (fd < 0) {
		int e = errno;
		free(tmp);
		return sn_seterr(SN_EIO, "cannot create a temporary file next to '%s': %s", path, strerror(e));
	}
	const char *what = "write";
	if (fchmod(fd, mode)) what = "set the mode of";
	else if (write_all(fd, data, len)) what = "write";
	else if (fsync(fd)) what = "sync";
	else what = NULL;
	int e = errno;
	if (close(fd) && !what) { what = "close"; e = errno; }
	if (!what && rename(tmp, path)) { what = "rename a temporary file onto"; e = errno; }
	if (what) {
		unlink(tmp);
		free(tmp);
		return sn_seterr(SN_EIO, "cannot %s '%s': %s", what, path, strerror(e));
	}
	free(tmp);
	if (fsync_parent(path))
		return sn_seterr(SN_EIO, "cannot sync the directory of '%s': %s", path, strerror(errno));
	return SN_OK;
}
