/* Low-level kernels: no allocation, the caller passes memory. */
#ifndef SN_KERNELS_H
#define SN_KERNELS_H
#include <stddef.h>
#include "kernels/cpu.h"
/* Padding modes and fused activations as the kernels take them: numbered as slimnn.h's
 * sn_padmode and sn_fuse, so the operators pass theirs through (core/internal.h checks). */
enum { SN_KPAD_ZEROS, SN_KPAD_REFLECT, SN_KPAD_REPLICATE, SN_KPAD_CIRCULAR };
enum { SN_KACT_NONE, SN_KACT_RELU, SN_KACT_RELU6 };

/* Geometry of one convolution (or pooling) over one image. */
typedef struct {
	int c, h, w;            /* input channels (of the group range handled), height, width */
	int kh, kw, sh, sw, dh, dw;
	int pt, pl;             /* top and left padding; bottom/right follow from oh, ow */
	int oh, ow;
	int mode;               /* SN_KPAD_* */
} sn_conv_geom;

/* Source coordinate of padded coordinate i in [0,n), or -1 where the padding reads zero. */
static inline int sn_pad_index(int i, int n, int m)
{
	if (i >= 0 && i < n) return i;
	switch (m) {
	case SN_KPAD_REFLECT: return i < 0 ? -i : 2 * (n - 1) - i;     /* pad < n: one bounce */
	case SN_KPAD_REPLICATE: return i < 0 ? 0 : n - 1;
	case SN_KPAD_CIRCULAR: return ((i % n) + n) % n;
	default: return -1;
	}
}

/* Columns [p0, p0 + n) (output pixels, row-major) of col [c*kh*kw rows of oh*ow] from x
 * [c x h x w], written from col on with rows ld floats apart (ld >= n). The whole matrix
 * (p0 = 0, n = oh*ow) with a larger ld lets a batch share one matrix [c*kh*kw x batch*oh*ow];
 * a range builds one tile of pixels, small enough to stay in cache until its GEMM reads it. */
void sn_im2col(const float *x, const sn_conv_geom *g, size_t p0, size_t n, float *col, size_t ld);
/* dx [c x h x w] (+)= the scatter of dcol; accumulate = 0 overwrites dx */
void sn_col2im(const float *dcol, const sn_conv_geom *g, float *dx, int accumulate);
/* C = alpha * op(A) op(B) + beta * C, row-major; split over OpenMP threads when called outside
 * a parallel region and large enough. BLAS itself stays single-threaded. */
void sn_gemm(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
             const float *B, int ldb, float beta, float *C, int ldc);
/* C = alpha op(A) op(B) + beta C (row-major) on the calling thread only, whatever sn_gemm would
 * split: for callers that spread their own work across threads. */
void sn_gemm_serial(int tA, int tB, int M, int N, int K, float alpha, const float *A, int lda,
                    const float *B, int ldb, float beta, float *C, int ldc);

/* ---------------------------------------------------------------- tiled conv GEMM (inference)
 * y [M x n] (rows ldy apart) = act(bias + W b) for one tile of n output pixels, W [M x K]
 * row-major, b [K x n] (a tile's col, or a 1x1 conv's input), bias M floats or NULL, act a
 * SN_KACT_*. One call does the rows [k0, k0 + kn) of b (kn rows ldb apart): the one with k0 = 0
 * writes bias + its product, later ones add theirs, the one ending at K applies act. AVX2+FMA
 * only (conv_tiled_avx2.c): check sn_cpu_avx2() first. Its register blocks are SN_CT_MR
 * output channels by 16 pixels: callers that split M do it at multiples of SN_CT_MR. */
#define SN_CT_MR 6
void sn_ct_gemm(int M, int n, int K, int k0, int kn, const float *w, const float *b, size_t ldb,
                const float *bias, int act, float *y, size_t ldy);

/* ---------------------------------------------------------------- depthwise convolution
 * groups == input channels, zero padding; output channel o reads input channel o / M (depth
 * multiplier M). Direct kernels, one channel plane at a time, vectorised over the output width.
 *
 * The micro-kernels read the rows of a plane in one of two ways. In place (stride 1): the
 * zero padding is read through masked loads in the few vectors at a row's borders. Packed
 * (larger strides, and narrow rows where the border vectors would dominate): a copy whose rows
 * hold their padding and are split into sw phases (phase r holds padded columns r, r + sw, ...),
 * so every tap reads a contiguous run whatever the stride or dilation, with plain loads (the
 * phases are whole vectors long and zero-filled). Rows outside the plane read one row of zeros.
 * Stores and dy loads are masked at the end of a row.
 * Large planes run in bands of output rows whose packed rows stay in L1. The forward of a 3x3
 * or 5x5 at stride 1 on rows narrower than 32 columns, or of a 3x3 at stride 2 on planes up to
 * 256 KiB, takes a third way, the flat path (sn_dw_flat below): the whole plane as one run,
 * without per-row work.
 * The input gradient runs the same forward micro-kernels: for each phase (a, b) of the padded
 * input coordinates it is a stride-1 correlation of dy with the taps that land in that phase,
 * flipped (for stride 1: dy with the flipped kernel). No zmm kernels: Zen 4 splits zmm
 * operations in two, and they measured slower there; AVX512 (F and VL on ymm, for the 32
 * registers and the mask registers) has the stride-1 flat kernels only. */
typedef struct {
	int kh, kw, sh, dh;     /* kernel, vertical stride and dilation (the horizontal ones live in coloff) */
	int oh, ow;             /* output plane */
	int rows;               /* input rows */
	int top;                /* output row r, kernel row i reads input row r*sh + i*dh - top */
	const int *coloff;      /* kernel column j of output column c reads row + coloff[j] + c */
	int w;                  /* 0: packed rows; else rows read in place: columns outside [0, w) are zeros */
	size_t ld;              /* floats from one row to the next */
	const float *zero;      /* a row of zeros (ld floats, or w): the rows outside [0, rows) */
	int init;               /* 0: out = bias + conv(...); 1: out += conv(...) */
	int act;                /* SN_KACT_*, applied to the result (forward only) */
} sn_dw_params;

/* The flat path of 3x3 planes: the oh * ow outputs are computed as one run, the vectors
 * crossing row ends: output p, kernel tap (i, j) reads xf[p + row[i] + off[j]]. Stride 1 with
 * w = ow: xf is the plane copied with its padding rows into one zero-bordered run, row[i] =
 * i * dh * w, off[j] = j * dw - pl. Stride 2 (dilation 1): xf holds the plane's four quarters
 * (even or odd rows x even or odd columns, sn_dw_quarters), each with rows of ow floats, so that
 * every tap reads one quarter at a fixed offset. Where a column's offset within its row is not
 * 0, some outputs' taps of column j cross a row's edge: mask[j][p] is all ones where that
 * column lies inside the row (NULL: always). No masked loads and no per-row work, which dominate
 * rows of one or two vectors. The AVX512 kernels (stride 1) walk rows instead, several at a
 * time, with masked loads (mask registers): they need no mask arrays. */
typedef struct {
	int n;                  /* outputs: oh * ow */
	int ow;                 /* outputs a row (the kernels that walk rows) */
	int row[5];             /* per kernel row: offset in xf */
	int off[5];             /* per kernel column: offset in xf */
	const float *mask[5];   /* per kernel column: lane masks over [0, n) (bit patterns), or NULL */
	int act;                /* SN_KACT_* */
} sn_dw_flat;

/* A plane's quarters for the stride-2 flat path: quarter (a, b) (row parity a, column parity b)
 * holds at row u, column q the input x[2(u - front) + a][2q + b], zeros where that lies outside
 * the plane; rows u in [0, rows), ow floats each, the quarters `size` floats apart. The packer
 * writes the plane's values only: xq must hold zeros elsewhere (sn_f32_dwconv_forward's setup). */
typedef struct { int h, w, ow, front, rows; size_t size; } sn_dw_quarters;
void sn_f32_dw_quarters__scalar(const sn_dw_quarters *k, const float *x, float *xq);
void sn_f32_dw_quarters__avx2(const sn_dw_quarters *k, const float *x, float *xq);

/* y [oh x ow] from the input rows x and one kernel w [kh x kw] */
typedef void (*sn_dw_fwd_fn)(const sn_dw_params *p, const float *x, const float *w, float bias, float *y);
/* dw [kh x kw] += the weight gradient of one output channel from dy [oh x ow] */
typedef void (*sn_dw_wgrad_fn)(const sn_dw_params *p, const float *x, const float *dy, float *dw);

/* Each level runs the kernels of the levels below where it has none of its own: AVX512 (F and
 * VL on ymm vectors) has only the stride-1 flat kernels. */
typedef enum { SN_ISA_SCALAR, SN_ISA_AVX2, SN_ISA_AVX512 } sn_isa;
typedef struct {
	const char *name;       /* "sn_f32_dwconv_3x3s1__avx2"; the weight gradient is ..._wgrad_... */
	int kh, kw, sh;         /* the shape it is specialised for; 0: any */
	sn_isa isa;
	sn_dw_fwd_fn fwd;
	sn_dw_wgrad_fn wgrad;
} sn_dw_kernel;
extern const sn_dw_kernel sn_dw_kernels[];
extern const int sn_dw_n_kernels;

sn_isa sn_dw_best_isa(void);                         /* the highest level the CPU runs */
/* The specialised kernel of isa for this shape (sh == sw), else isa's general one. */
const sn_dw_kernel *sn_dw_select(sn_isa isa, int kh, int kw, int sh, int sw);

#define SN_DW_DECLARE(shape, isa)                                                                  \
	void sn_f32_dwconv_##shape##__##isa(const sn_dw_params *, const float *, const float *, float, float *); \
	void sn_f32_dwconv_wgrad_##shape##__##isa(const sn_dw_params *, const float *, const float *, float *);
#define SN_DW_DECLARE_ISA(isa)                                                                     \
	SN_DW_DECLARE(3x3s1, isa) SN_DW_DECLARE(3x3s2, isa) SN_DW_DECLARE(5x5s1, isa)                  \
	SN_DW_DECLARE(5x5s2, isa) SN_DW_DECLARE(any, isa)
SN_DW_DECLARE_ISA(scalar)
SN_DW_DECLARE_ISA(avx2)
void sn_f32_dwconv_flat_3x3__scalar(const sn_dw_flat *f, const float *xf, const float *w, float bias, float *y);
void sn_f32_dwconv_flat_3x3__avx2(const sn_dw_flat *f, const float *xf, const float *w, float bias, float *y);
void sn_f32_dwconv_flat_5x5__scalar(const sn_dw_flat *f, const float *xf, const float *w, float bias, float *y);
void sn_f32_dwconv_flat_5x5__avx2(const sn_dw_flat *f, const float *xf, const float *w, float bias, float *y);
void sn_f32_dwconv_flat_3x3__avx512vl(const sn_dw_flat *f, const float *xf, const float *w, float bias, float *y);
void sn_f32_dwconv_flat_5x5__avx512vl(const sn_dw_flat *f, const float *xf, const float *w, float bias, float *y);

/* A packed plane: source column s of a row lands at padded column s + padl, in phase
 * (s + padl) % sw at (s + padl) / sw. Each phase is `phase` floats: the columns the kernels
 * read, zeros where no source column lands, then SN_DW_SLACK floats the packer may spill into
 * (it writes whole vectors only: masked stores are slow on some CPUs). A row of zeros follows
 * the h packed rows. */
#define SN_DW_SLACK 8
typedef struct { int h, w, padl, sw; size_t phase; } sn_dw_pack;
void sn_f32_dw_pack__scalar(const sn_dw_pack *k, const float *x, float *xp);
void sn_f32_dw_pack__avx2(const sn_dw_pack *k, const float *x, float *xp);

static inline int sn_floor_div(int a, int b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }
static inline int sn_ceil_div(int a, int b) { return -sn_floor_div(-a, b); }
static inline int sn_clampi(int x, int lo, int hi) { return x < lo ? lo : x > hi ? hi : x; }

/* Scratch floats one thread needs for one plane (g: one input channel, c ignored; mode zeros),
 * forward (backward = 0) or backward. */
size_t sn_f32_dwconv_buffer_size(const sn_conv_geom *g, int backward);
/* nx consecutive input planes x [h x w] to the nm output planes each feeds: output plane
 * o = i * nm + m is act(bias_o + x_i * w_o); w: nx * nm kernels [kh x kw], bias: nx * nm values
 * or NULL, y: nx * nm planes [oh x ow]. Several planes a call share the setup (flat path). */
void sn_f32_dwconv_forward(sn_isa isa, const sn_conv_geom *g, const float *x, const float *w, const float *bias,
                           int nx, int nm, int act, float *y, float *scratch);
/* The kernel sn_f32_dwconv_forward runs for g: for reports. */
const char *sn_dw_kernel_name(sn_isa isa, const sn_conv_geom *g);
/* Backward of one input plane: dw (nm kernels, NULL: skip) += the weight gradient, and dx
 * (NULL: skip) = or += (accumulate) the input gradient, from dy: nm planes [oh x ow]. */
void sn_f32_dwconv_backward(sn_isa isa, const sn_conv_geom *g, const float *x, const float *dy, const float *w,
                            int nm, float *dx, int accumulate, float *dw, float *scratch);
#endif
