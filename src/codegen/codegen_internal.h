/* Shared by the files of src/codegen: the generator's state, the kernel texts and the emitter
 * table. */
#ifndef SN_CODEGEN_INTERNAL_H
#define SN_CODEGEN_INTERNAL_H
#include "core/internal.h"
#include "io/io.h"
#include "codegen/codegen.h"

/* The kernels of the generated code (kernels_c.c; the int8 ones in kernels_q8.c), each written
 * once if a layer needs it, after those it needs (deps, which come first in this order).
 * CK_WEIGHTS, the weight-row walker, is written with the cases of the forms the model stores
 * only. */
typedef enum {
	CK_WEIGHTS, CK_FUSE, CK_PAD_INDEX, CK_CONV_GEOM, CK_CONV_PLANE, CK_CONV, CK_LINEAR, CK_SCALE_SHIFT, CK_POOL_WINDOW,
	CK_MAXPOOL, CK_AVGPOOL, CK_POOL, CK_CONV_POOL, CK_GAP, CK_ADD, CK_MUL, CK_CHMAP, CK_PAD, CK_SOFTMAX, CK_RELU, CK_RELU6,
	CK_SIGMOID, CK_HARDSWISH, CK_HARDSIGMOID, CK_SILU, CK_GELU,
	CK_QMATH, CK_QCONV_PLANE, CK_QCONV, CK_QLINEAR, CK_QMAXPOOL, CK_QAVGPOOL, CK_QPOOL, CK_QCONV_POOL, CK_QGAP, CK_QADD,
	CK_QREQUANT, CK_QCLAMP, CK_QUANTIZE, CK_DEQUANTIZE, CK_COUNT
} cg_kernel_id;
typedef unsigned long long cg_mask;   /* a set of kernels */
#define CK(k) ((cg_mask)1 << (k))
/* The kernels k needs besides itself (a CK() mask). */
cg_mask cg_kernel_deps(cg_kernel_id k);
/* Appends the text of every kernel in `used` (deps included), dependencies first; forms: the
 * SN_CG_* forms the weights use (a mask of 1 << form). */
void cg_kernels_write(sn_buf *b, cg_mask used, unsigned forms);
/* The int8 kernels' texts (kernels_q8.c). */
extern const char cg_k_qmath[], cg_k_qconv_plane[], cg_k_qconv[], cg_k_qlinear[], cg_k_qmaxpool[], cg_k_qavgpool[],
	cg_k_qpool[], cg_k_qconv_pool[], cg_k_qgap[], cg_k_qadd[], cg_k_qrequant[], cg_k_qclamp[], cg_k_quantize[],
	cg_k_dequantize[];

enum { CG_FLOAT, CG_INT8, CG_INT32 };   /* the types of the arena's buffers */

/* The generator's state while it writes one model. */
typedef struct {
	const sn_graph *g;            /* the prepared graph */
	sn_cg_opts o;
	sn_buf consts;                /* weights and layer geometry: static const definitions */
	sn_buf body;                  /* the statements of PREFIX_run */
	cg_mask kernels;              /* what has been used so far */
	unsigned forms;
	char (*at)[48];               /* per node: the C expression of its output ("arena + 128", "input") */
	char (*at_cv)[48];            /* per node: its output in the other type, where readers need it ("") */
	char (*acc_at)[48];           /* per node: an int8 conv's plane of int32 sums ("qacc", or in the arena) */
	char *int8;                   /* per node: 1 when its output is int8 (it runs in int8; the input:
	                               * when every reader does), 0 float */
	int *in_place;                /* per node: 1 when it works on its input's buffer */
	int *pool_of, *conv_of;       /* a conv fused with the pooling layer that is its only reader: per
	                               * node the pool of such a conv and the conv of such a pool (-1);
	                               * the conv's `at` is then its one-plane scratch */
	int quantized;                /* some layer runs in int8 (a model from slimnn quantize) */
	int acc_len;                  /* int32 sums in the static qacc (beside an arena with float buffers): the
	                               * largest int8 conv plane; 0 when they live in the arena */
	int decl;                     /* the arena's declared type: CG_FLOAT, CG_INT8 or CG_INT32 */
	size_t planned;               /* the arena's bytes (without qacc) */
	sn_cg_result *r;
} cg_ctx;

/* printf into a buffer (sets b->oom when memory runs out). */
void cg_printf(sn_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A C identifier for node i ("L3_layer1_0_conv1"), into buf. */
const char *cg_ident(const sn_graph *g, int i, char *buf, size_t len);
/* The float as an exact C literal (hex float; NAN and INFINITY from <math.h>). */
const char *cg_float(float v, char buf[40]);
/* The C expression of input k of node i in the type node i reads (its own). */
const char *cg_in(const cg_ctx *cx, int i, int k);

/* The separator before item i of a list of `per` items a line. */
const char *cg_sep(size_t i, size_t per);
/* Writes a static const float array `name` of n values. */
void cg_floats(cg_ctx *cx, const char *name, const float *v, size_t n);
/* Writes a static const int32_t array `name` of n values. */
void cg_int32s(cg_ctx *cx, const char *name, const int32_t *v, size_t n);
/* Writes node n's weight tensor (rows x cols) in its form as `static const wt NAME` and records it
 * in the report; NAME is written into name. q: an int8 layer's values (t's float values are 0
 * exactly where they are), stored one byte each; NULL: t's float values. */
int cg_weight(cg_ctx *cx, const sn_tensor *t, const int8_t *q, size_t rows, size_t cols, const char *name);
/* Records a dense array (bias, BatchNorm factors, int8 multipliers) of `values` values of
 * value_bytes each in the report under tensor name tname. */
int cg_note_dense(cg_ctx *cx, const char *tname, size_t values, size_t value_bytes);

/* One row per operator: the kernels its float form needs and the function that writes its call
 * (node index i of cx->g), and the same for its int8 form (NULL: the operator has no int8
 * forward in the library, so no int8 layer of it exists). */
typedef int (*cg_emit_fn)(cg_ctx *cx, int i);
typedef struct {
	cg_mask kernels_f32;
	cg_emit_fn f32;
	cg_mask kernels_i8;
	cg_emit_fn i8;
} cg_emitter;
const cg_emitter *cg_emitter_of(sn_op op);   /* NULL: no row */
/* Writes a conv and the pooling layer fused with it (at the pool's place), both float or both int8. */
int cg_emit_conv_pool(cg_ctx *cx, int conv, int pool);
#endif
