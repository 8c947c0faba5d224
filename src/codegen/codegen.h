/* C code generation for microcontrollers (slimnn export --format c; docs/deploy.md).
 *
 * A model becomes two files, PREFIX.c and PREFIX.h: int PREFIX_run(const float *input,
 * float *output) for one image (int8_t for a quantized model), portable C99 that needs only
 * <string.h> and <math.h> (and <stdint.h> for int8), no malloc and no stdio. The model is first prepared for inference (BatchNorm folded, ReLU fused, Dropout
 * gone); each conv and Linear weight is a static const array in the smallest of its stored
 * forms (dense, CSR with 8- or 16-bit gap codes, bitmap + values), which the kernels read as
 * they are; every activation lives in one static arena laid out from lifetimes by the inference
 * memory planner (sn_plan_memory). Only the kernels the model uses are written.
 *
 * Each operator has one row in the emitter table (emitters.c): the kernels it needs and the
 * function that writes its call, one per value type: float, and int8 for a quantized model
 * (slimnn quantize), whose int8 layers compute the arithmetic of kernels/qmath.h bit for bit
 * with no float, int8 activations a byte each in the arena, int8 weights a byte each in the
 * same three forms. Such a model's run takes and gives int8 (PREFIX_INPUT_SCALE / _ZERO_POINT,
 * PREFIX_OUTPUT_SCALE / _ZERO_POINT), or float at an end whose layer was kept in float; layers
 * kept in float run the float kernels, with quantize / dequantize where types meet. A layer
 * without a row for its type is refused by name. */
#ifndef SN_CODEGEN_H
#define SN_CODEGEN_H
#include <stddef.h>
#include <stdint.h>
#include "slimnn.h"

/* How a weight tensor is stored in the generated code (the .slim codecs' forms). */
typedef enum { SN_CG_DENSE, SN_CG_CSR8, SN_CG_CSR16, SN_CG_BITMAP, SN_CG_FORMS } sn_cg_form;
extern const char *const sn_cg_form_names[SN_CG_FORMS];   /* "dense", "csr8", "csr16", "bitmap" */

typedef enum { SN_CG_AUTO = -1, SN_CG_FORCE_DENSE, SN_CG_FORCE_CSR, SN_CG_FORCE_BITMAP } sn_cg_force;

typedef struct {
	const char *prefix;       /* C identifier the symbols, macros and files start with ("model") */
	sn_cg_force force;        /* SN_CG_AUTO: each weight in its smallest form; else every conv and
	                           * Linear weight in that form (tests: each kernel path) */
	const char *source;       /* the model's file name, for the files' first comment (may be NULL) */
} sn_cg_opts;
sn_cg_opts sn_cg_defaults(void);

/* One array of the generated code's constants (a weight, a bias, a folded BatchNorm's factors). */
typedef struct {
	char name[2 * SN_NAME_MAX];   /* the tensor's name in the model ("conv1.weight") */
	sn_cg_form form;
	size_t values, stored;        /* all values, and those the form stores */
	size_t bytes;                 /* in flash: values and indices */
	size_t dense_bytes;           /* what dense float storage would take */
} sn_cg_tensor;

/* One activation buffer of the arena: the output of node `node` of the prepared graph (and of
 * the layers working in place on it), live from node first to node last; for a conv fused with
 * its pooling layer, the conv's one-plane scratch, live while the pool (node) runs. */
typedef struct { int node; size_t offset, bytes; int first, last; } sn_cg_buffer;

typedef struct {
	char *c_text, *h_text;        /* the two files, NUL-terminated */
	size_t c_len, h_len;
	sn_cg_tensor *tensor; int n_tensor;
	sn_cg_buffer *buf; int n_buf;
	size_t flash_bytes;           /* every constant array */
	size_t dense_flash_bytes;     /* the same stored dense (onnx2c-style) */
	size_t arena_bytes;           /* PREFIX_ARENA_BYTES */
	size_t arena_lower_bound;     /* the largest set of buffers live at one layer */
	uint64_t macs, macs_dense;    /* mult-adds of one image: the work the kernels do (stored weights
	                               * only), and with every weight */
	int layers;                   /* nodes of the prepared graph, without the input */
} sn_cg_result;

/* Generates the code of g (not changed; meta may be NULL: no class names or normalisation).
 * SN_OK, or an error naming the layer and operator it cannot emit. */
int sn_cg_generate(const sn_graph *g, const sn_meta *meta, const sn_cg_opts *o, sn_cg_result *r);
void sn_cg_free(sn_cg_result *r);

/* Writes DIR/PREFIX.c and DIR/PREFIX.h (DIR is made if missing), each atomically; on failure
 * neither file is left (nor DIR, when this call made it). */
int sn_cg_write(const sn_cg_result *r, const char *dir, const char *prefix);

/* 1 when s is a C identifier a prefix may be ([A-Za-z_][A-Za-z0-9_]*, at most 32 characters). */
int sn_cg_prefix_ok(const char *s);
#endif
