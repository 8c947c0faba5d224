/* The any-format model loader: an architecture (.arch), a model file (.slim) or an ONNX model,
 * told apart by content. It sits above both storage layers (src/io, src/onnx), which know
 * nothing of each other. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include "io/io.h"

sn_graph *sn_load_any(const char *path, sn_meta *meta)
{
	if (sn_check_file(path, "model or architecture", NULL)) return NULL;
	unsigned char head[1];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		sn_seterr(SN_EIO, "cannot open '%s': %s", path, strerror(errno));
		return NULL;
	}
	ssize_t n;
	do n = read(fd, head, sizeof head); while (n < 0 && errno == EINTR);
	int e = errno;
	close(fd);
	if (n < 0) { sn_seterr(SN_EIO, "cannot read '%s': %s", path, strerror(e)); return NULL; }
	if (n == 0) { sn_seterr(SN_EFORMAT, "'%s' is empty: neither an architecture nor a model file", path); return NULL; }
	/* The signature's first byte is not text: even a model file cut short after one byte is
	 * reported as a damaged model file rather than as nonsense architecture text. */
	if (sn_slim_first_byte(head[0])) return sn_model_load(path, meta, NULL);
	/* ONNX by extension, or by content: a ModelProto starts with field 1 (ir_version, varint:
	 * 0x08) or, from some writers, another field tag; architecture text never starts with 0x08 */
	size_t pl = strlen(path);
	if (head[0] == 0x08 || (pl > 5 && !strcasecmp(path + pl - 5, ".onnx"))) return sn_onnx_load(path, meta);
	sn_graph *g = sn_arch_load(path);
	if (!g) return NULL;
	/* an architecture is used as PyTorch would build it: default-initialised weights */
	sn_graph_init_params(g, 0);
	if (meta) sn_meta_defaults(meta);
	return g;
}
