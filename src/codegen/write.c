/* Writing the generated files: both or neither. Each goes to a temporary file beside its place
 * (sn_write_atomic: written, flushed, renamed), the pair under names no reader takes for the
 * model; the two renames come last, so a failure before them leaves DIR as it was. */
#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
#include "codegen/codegen_internal.h"

int sn_cg_write(const sn_cg_result *r, const char *dir, const char *prefix)
{
	struct stat st;
	int made = 0;
	if (stat(dir, &st) == 0) {
		if (!S_ISDIR(st.st_mode)) return sn_seterr(SN_EIO, "cannot write C code into '%s': it is not a folder", dir);
	} else if (mkdir(dir, 0777) == 0) {
		made = 1;
	} else {
		return sn_seterr(SN_EIO, "cannot make the folder '%s': %s", dir, strerror(errno));
	}
	char final[2][4096], part[2][4096];
	const char *text[2] = {r->h_text, r->c_text};
	const size_t len[2] = {r->h_len, r->c_len};
	for (int k = 0; k < 2; k++) {
		snprintf(final[k], sizeof final[k], "%s/%s.%c", dir, prefix, k ? 'c' : 'h');
		snprintf(part[k], sizeof part[k], "%s/.%s.%c.part", dir, prefix, k ? 'c' : 'h');
	}
	int rc = sn_write_atomic(part[0], text[0], len[0]);
	if (!rc) rc = sn_write_atomic(part[1], text[1], len[1]);
	for (int k = 0; !rc && k < 2; k++)
		if (rename(part[k], final[k]))
			rc = sn_seterr(SN_EIO, "cannot write '%s': %s", final[k], strerror(errno));
	if (rc) {
		for (int k = 0; k < 2; k++) unlink(part[k]);
		if (made) rmdir(dir);
	}
	return rc;
}
