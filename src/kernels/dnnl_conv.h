/* Dense convolutions on oneDNN (Debian's libdnnl, the library PyTorch's CPU convolutions run
 * on): its JIT picks the kernels of the CPU at hand (AVX2, AVX-512, AMX) at run time.
 *
 * slimnn's tensors are plain NCHW (weights OIHW). A handle holds the primitives of one
 * convolution shape, created once (the JIT's work) for one batch size: the forward, and for
 * training the input and weight gradients, each over the layouts oneDNN prefers for it (usually
 * channels blocked by 8 or 16), with the reorders from and to NCHW as steps of the same run.
 * The forward reads the weights in oneDNN's layout: reordered into the scratch on every run
 * (training changes them), or, for a handle made with SN_DNNL_PACKED (inference plans), packed
 * once into memory the handle allocates when made, and again only after sn_dnnl_conv_unpack, for
 * another weight pointer, or where one of SN_DNNL_SAMPLES values spread over the weights differs
 * from when it packed (a backstop that sees wholesale changes, not a change of a few values:
 * callers say so with sn_dnnl_conv_unpack). Packing matters on few pixels: 512 -> 512 3x3 holds
 * 9.4 MB of weights, whose reorder at 7x7 and batch 1 costs as much as the conv. Everything else
 * a run needs besides the caller's tensors lives in the caller's scratch (sn_dnnl_conv_ws bytes):
 * nothing allocates while it runs.
 * A handle runs on the sn_get_threads() of when it was made (oneDNN splits the work and sizes
 * its scratch by it then): a plan's oneDNN convs keep the thread count of when the plan was
 * made. For one thread count the results are the same bytes from run to run (oneDNN's conv has
 * no atomics in its reductions). */
#ifndef SN_KERNELS_DNNL_CONV_H
#define SN_KERNELS_DNNL_CONV_H
#include <stddef.h>

typedef struct {
	int n, c, h, w;         /* batch and input */
	int o, oh, ow;          /* output channels and plane */
	int kh, kw, sh, sw, dh, dw;
	int pt, pb, pl, pr;     /* zero padding, per side */
	int groups;
	int bias;               /* 1: a bias of o floats is added (and its gradient computed) */
	int act;                /* SN_KACT_*: applied to the forward's output */
	int inner;              /* 1: a fully connected layer (Linear), x [n x c], w [o x c], y [n x o] (the
	                         * planes, kernel, strides and dilations 1, no padding, no groups), on
	                         * oneDNN's inner product: the forward only */
} sn_dnnl_conv_desc;

enum { SN_DNNL_FORWARD = 1, SN_DNNL_BACKWARD = 2, SN_DNNL_PACKED = 4, SN_DNNL_WINOGRAD = 8 };
enum { SN_DNNL_SAMPLES = 64 };

typedef struct sn_dnnl_conv sn_dnnl_conv;

/* 1 when slimnn was built with oneDNN and oneDNN runs on this CPU. */
int sn_dnnl_available(void);
/* A handle for the passes in `what` (SN_DNNL_FORWARD, _BACKWARD; with SN_DNNL_PACKED the forward
 * keeps the weights packed), or NULL where oneDNN refuses the shape (or is not there, or memory
 * for the packed weights is not): the caller falls back to its own path. With SN_DNNL_WINOGRAD
 * (not with _BACKWARD) the forward is oneDNN's Winograd one (its inference forward, whose weight
 * transform is their packing; a fused activation runs as a step after it), NULL where oneDNN has
 * none for the shape (3x3 stride 1 on AVX-512 only): the caller asks again without. Other
 * rounding than the direct conv's. */
sn_dnnl_conv *sn_dnnl_conv_new(const sn_dnnl_conv_desc *d, unsigned what);
void sn_dnnl_conv_free(sn_dnnl_conv *c);
/* Scratch bytes a run needs (the largest of its passes), 64-byte aligned. */
size_t sn_dnnl_conv_ws(const sn_dnnl_conv *c);
/* Bytes of the weights in the forward's layout (64-byte aligned), 0 where the forward reads OIHW
 * as it is (nothing to pack). */
size_t sn_dnnl_conv_packed_bytes(const sn_dnnl_conv *c);
/* c (SN_DNNL_PACKED) reads the packed weights of `from` instead of its own where both forwards
 * read the same layout (a plan's single-image handle and its batch's: one copy); from must
 * outlive c. Returns 1 when shared. */
int sn_dnnl_conv_share_packed(sn_dnnl_conv *c, const sn_dnnl_conv *from);
/* Forgets what the handle packed: the next forward packs the weights again. The caller's word
 * that the weights may have changed (sn_plan_reshape says it); NULL: nothing. */
void sn_dnnl_conv_unpack(sn_dnnl_conv *c);
/* The oneDNN implementation of the forward ("brgconv:avx512_core") or backward ("jit:avx2 /
 * jit:avx2": data / weights), for reports. */
const char *sn_dnnl_conv_impl(const sn_dnnl_conv *c, int backward);
/* Multiply-adds per element that the forward reorders from or to NCHW (input and output):
 * where it is small, the reorders cost more than oneDNN's faster loops gain. */
double sn_dnnl_conv_intensity(const sn_dnnl_conv *c);
/* 1 when every conv of the handle runs one of oneDNN's direct (or Winograd) JIT kernels, 0
 * where one falls back to its im2col + GEMM ("gemm:jit", what slimnn's own path does already) or
 * to its reference loops; an inner product: 1 on its brgemm kernel (packed weights; its
 * "gemm:jit" is an sgemm like OpenBLAS's). */
int sn_dnnl_conv_direct(const sn_dnnl_conv *c);

/* y [n x o x oh x ow] = act(conv(x, w) + bias); bias NULL where the desc has none. Packed or
 * reordered per run, the same bytes. The fused ReLU gives 0 for NaN, as slimnn's own paths do. */
void sn_dnnl_conv_forward(sn_dnnl_conv *c, const float *x, const float *w, const float *bias, float *y, void *ws);
/* From dy [n x o x oh x ow]: dx (NULL: skip) = or, with accumulate, += the input gradient;
 * dw (NULL: skip) += the weight gradient and, with dw, db (NULL: skip) += the bias gradient. */
void sn_dnnl_conv_backward(sn_dnnl_conv *c, const float *x, const float *w, const float *dy, float *dx, int accumulate,
                           float *dw, float *db, void *ws);

/* Which engine runs dense convs: SN_DNNL_AUTO (by shape, the default), or forced. The default
 * comes from the environment variable SLIMNN_CONV_ENGINE (auto, onednn or own) when set; plans
 * made afterwards follow a change. sn_dnnl_set_mode(-1) goes back to the default. */
enum { SN_DNNL_AUTO, SN_DNNL_ONEDNN, SN_DNNL_OWN };
int sn_dnnl_mode(void);
void sn_dnnl_set_mode(int mode);
/* Whether inference plans run their 3x3 stride-1 convs on oneDNN's Winograd: SN_DNNL_WINO_AUTO
 * (by shape, src/ops/conv.c; the default), _ON (wherever oneDNN offers it), _OFF (never). The
 * default comes from SLIMNN_CONV_WINOGRAD (auto, on or off) when set; sn_dnnl_set_winograd(-1)
 * goes back to it. */
enum { SN_DNNL_WINO_AUTO, SN_DNNL_WINO_ON, SN_DNNL_WINO_OFF };
int sn_dnnl_winograd(void);
void sn_dnnl_set_winograd(int mode);
#endif
