/* What the int8 dispatcher (qconv.c) hands the per-ISA kernels (q8_gemm__*.c, q8_dwconv__*.c).
 * Private to src/kernels. */
#ifndef SN_KERNELS_Q8_INTERNAL_H
#define SN_KERNELS_Q8_INTERNAL_H
#include <stddef.h>
#include <stdint.h>
#include "kernels/kernels.h"
#include "kernels/qjoin.h"
#include "kernels/qmath.h"

/* Packed weights: the rows (output channels) of each group in blocks of SN_Q8_MR, each block
 * [k4][SN_Q8_MR][4]: for every quad of taps, the 4 bytes of each row side by side, so that one
 * 32-bit broadcast gives a row's quad. Rows past the group's end and taps past k are zeros. */
#define SN_Q8_MR 4
struct sn_q8_pack {
	int out_c, groups, k, k4;   /* k4 = ceil(k / 4) quads */
	int cq;                     /* 0: quad q holds taps 4q..4q+3 of [c/groups][kh][kw] in order; else
	                             * (channels per group a multiple of 4) the taps per channel: quad q
	                             * holds tap q % cq of channels 4 (q / cq)..+3, what a run of pixels
	                             * of 4 channels interleaved gives (qconv.c's quad planes) */
	int og, ob;                 /* rows per group, blocks per group */
	int8_t *a;                  /* [groups][ob][k4][SN_Q8_MR][4] */
	int32_t *sumw;              /* out_c sums of each row's weights */
	size_t bytes;
	uint8_t *lin;               /* a Linear's pack (sn_q8_linear_pack_new): its layout below; a is NULL */
};

/* C = requant(corr + A B) for one panel: A the packed blocks of m rows, B the panel [k4][ldb][4]
 * of unsigned bytes (x + 128; quad q of column p at b[(q * ldb + p) * 4]), n columns (ldb is a
 * multiple of 16: kernels may read, never store, whole vectors past n). Output (r, p) goes to
 * y[r * ldr + p * ldp] (conv: ldr = pixels, ldp = 1; Linear stores transposed: ldr = 1). */
typedef struct {
	int m, n, k4, ldb;
	const int8_t *a;
	const uint8_t *b;
	const int32_t *corr;        /* m: bias - (x_zp + 128) * sum w */
	const sn_q_mult *mult;      /* m (per_channel) or 1 */
	int per_channel;
	int32_t y_zp, lo, hi;
	int8_t *y;
	size_t ldr, ldp;
	const int32_t *boff;        /* non-NULL (GEMM only): quad q of column p at b[boff[q] + 4 p] instead
	                             * (qconv.c's quad planes: B read in place, no panel) */
	int32_t *acc;               /* non-NULL (GEMM only, ldp = 1): the sums corr + A B, not requantized,
	                             * to acc[r * ldr + p]; whole vectors, so up to n rounded up to a
	                             * vector's lanes (ldr must leave room) */
} sn_q8_gemm_args;
typedef void (*sn_q8_gemm_fn)(const sn_q8_gemm_args *a);

/* A Linear's weights (sn_q8_linear_pack_new), laid out for output channels in the vector lanes:
 * the out channels rounded up to 16 in blocks of SN_Q8_LW (the last one what is left), each block
 * [k4][width][4]: for every quad of taps, the 4 bytes of each channel side by side, so that one
 * vector load gives 16 (or 8) channels' quads and a block's quads follow one another in memory.
 * The bytes are w + 128 (unsigned: the vectors of vpdpbusd, the rows' quads of x the broadcast
 * signed operand); channels past out and taps past k are 0 (no product). */
#define SN_Q8_LW 64
/* y = requant(corr + rowc + (W + 128) x) for rows of x [rows x k] (signed, as the layer has them),
 * output channels [o0, o1) (o0 a multiple of 16; o1 too, or out), into y [rows x out]: that is
 * the reference's bias + (x - x_zp) W with corr = bias - x_zp sum w and rowc = -128 sum x. */
typedef struct {
	int rows, k, out, o0, o1;
	const int8_t *x;
	const int8_t *last;         /* when k % 4 (else NULL), rows [last0, rows) of x padded to whole */
	int last0;                  /* quads, 4 k4 bytes apart: the kernels read whole quads, a row's
	                             * last one into the next rows, and these would read past x */
	const uint8_t *w;           /* the pack's lin */
	const int32_t *corr;        /* out rounded up to 16: bias - x_zp * sum w, 0 past out */
	const int32_t *rowc;        /* rows: -128 * the row's sum */
	const sn_q_mult *mult;      /* out (per_channel) or 1 */
	int per_channel;
	int32_t y_zp, lo, hi;
	int8_t *y;
} sn_q8_linear_args;
typedef void (*sn_q8_linear_fn)(const sn_q8_linear_args *a);
void sn_q8_linear__scalar(const sn_q8_linear_args *a);
void sn_q8_linear__avx2(const sn_q8_linear_args *a);
void sn_q8_linear__avxvnni(const sn_q8_linear_args *a);
void sn_q8_linear__avx512vnni(const sn_q8_linear_args *a);

/* One depthwise output plane y [oh x ow] from a padded int16 plane: output (oy, ox), tap (i, j)
 * reads plane[(oy * sh + i * dh) * ldp + ox * xs + j * tap], and taps j, j + 1 are the int16
 * pair at that place (so a 32-bit lane is one output's two taps, for vpmaddwd). Element c of a
 * row is x[c] (plain, tap = 1), except for stride 1 with dilation (pairs, tap = 2 dw): element
 * c is then (x[c], x[c + dw]). xs = 2 for pairs and for stride 2 (plain): the lanes of one
 * vector are consecutive outputs. xs = 1 for stride 1 without dilation (plain): the pairs of
 * consecutive outputs overlap, so a vector loaded at ox holds outputs ox, ox + 2, ... and one
 * loaded at ox + 1 the odd ones; the kernels interleave them when storing.
 * A lone last tap (kw odd) pairs with a zero weight. Padding holds x_zp, so corr = bias - x_zp
 * sum w. Rows hold ldp int16, enough for 32 outputs at a time (whole vectors past ow): the
 * kernels read, never store, past ow. (qconv.c may also hand a whole plane as one row of
 * oh = 1: its "flat" layout.) */
typedef struct {
	int kh, kw, sh, dh, xs, tap;
	int oh, ow;
	const int16_t *plane;
	size_t ldp;
	const int8_t *w;            /* kh * kw */
	int32_t corr;
	sn_q_mult mult;
	int32_t y_zp, lo, hi;
	int8_t *y;
	int32_t *acc;               /* non-NULL: the sums corr + taps, not requantized, to acc[oy * ow + ox]
	                             * instead of y; whole steps of two vectors, so a row's last one runs
	                             * into the next row (written again after it) and the last row's up to
	                             * SN_Q8_POOL_SLACK past oh * ow */
} sn_q8_dw_args;
typedef void (*sn_q8_dw_fn)(const sn_q8_dw_args *a);

/* A 2x2 stride-2 max-pool fused into the conv before it: the conv leaves its sums unrequantized
 * (acc above), and y[py * pw + px] = requant(the largest of the sums at rows 2 py, 2 py + 1 (ld
 * apart), columns 2 px, 2 px + 1) for py < ph, px < pw. These are the bytes of pooling the
 * requantized outputs, because requantization never decreases (a multiplier >= 0, roundings
 * and a clamp that keep order): the largest sum gives the largest output. A quarter of the
 * requantizations, and the conv's output is never stored. The vector kernels read whole vectors:
 * up to SN_Q8_POOL_SLACK int32 past (2 ph - 1) ld + 2 pw. */
#define SN_Q8_POOL_SLACK 64
typedef struct {
	const int32_t *acc;
	size_t ld;
	int ph, pw;
	sn_q_mult mult;
	int32_t y_zp, lo, hi;
	int8_t *y;
} sn_q8_pool_args;
typedef void (*sn_q8_pool_fn)(const sn_q8_pool_args *a);
void sn_q8_pool__scalar(const sn_q8_pool_args *a);
void sn_q8_pool__avx2(const sn_q8_pool_args *a);           /* the AVX-VNNI path runs it too */
void sn_q8_pool__avx512vnni(const sn_q8_pool_args *a);

/* The channel-vectorised depthwise convolution (q8_dwconv_c16__avx512vnni.c): a block of up to
 * 16 channels of a layer with one output per input channel, zero padding, no dilation, stride
 * 1 or 2 (sh == sw), kernels up to SN_Q8_DWC16_MAXK square or not, in the 16 int32 lanes. Each
 * padded input row is built once, transposed to [column][channel], as int16 pairs of adjacent
 * columns (one vpdpwssd takes a tap pair of 16 channels); the outputs of a row are transposed
 * back to the planes. No per-channel setup: what makes it faster than the plane kernels on
 * small images (14x14, 7x7), where that setup outweighs the taps. */
#define SN_Q8_DWC16_MAXK 7
typedef struct {
	const sn_conv_geom *g;
	const int8_t *x;            /* the block's first input plane; planes h * w apart */
	int nc;                     /* channels in the block, 1..16 */
	int oy0, oy1;               /* the output rows to compute */
	const int8_t *w;            /* nc kernels [kh x kw] */
	const int32_t *corr;        /* nc: bias - x_zp sum w (padding holds x_zp) */
	const sn_q_mult *mult;      /* nc (per_channel) or 1 */
	int per_channel;
	int32_t x_zp, y_zp, lo, hi;
	int8_t *y;                  /* the block's first output plane; planes oh * ow apart */
	void *scratch;              /* sn_q8_dwc16_scratch(g) bytes, 64-aligned */
} sn_q8_dwc16_args;
int sn_q8_dwc16_fits(const sn_conv_geom *g);     /* the shapes above */
size_t sn_q8_dwc16_scratch(const sn_conv_geom *g);
void sn_q8_dwconv_c16__avx512vnni(const sn_q8_dwc16_args *a);

/* One depthwise output plane from a plane of bytes, four taps a lane (the VNNI kernels,
 * q8_dwquad_simd.h). The plane is pad_input's (qconv.c): rows of C bytes, x + 128 (unsigned),
 * x_zp + 128 on zero padding, so corr = bias - (x_zp + 128) sum w. Counted over the padded width,
 * p = oy C + ox, output p's tap (i, j) is byte s p + i dh C + j (s = sh = sw, 1 or 2, no
 * horizontal dilation). The kernel computes outputs p in [oy C, oy C + ow) for oy < oh, to
 * y[oy ldy + ox] (or their sums to acc[oy ldy + ox]); with oh = 1 and ow = the rows times C it
 * runs the whole plane as one row ("flat", the outputs past each row's end computed and dropped).
 * Whole steps of 4 vectors (stride 2: 2) of loads: the plane has slack past its last row (qconv.c:
 * dwq_slack); the int8 outputs are stored masked, the sums in whole steps (a row's last one runs
 * into the next row, written again after it, and the last one up to SN_Q8_POOL_SLACK past). */
typedef struct {
	int kh, kw, sh, dh;
	int oh, ow;
	const uint8_t *plane;
	size_t C, ldy;
	const int8_t *w;            /* kh * kw */
	int32_t corr;
	sn_q_mult mult;
	int32_t y_zp, lo, hi;
	int8_t *y;
	int32_t *acc;
} sn_q8_dwq_args;
typedef void (*sn_q8_dwq_fn)(const sn_q8_dwq_args *a);
#define SN_Q8_DWQ_DECLARE(isa)                                   \
	void sn_q8_dwconv_3x3_quad__##isa(const sn_q8_dwq_args *a); \
	void sn_q8_dwconv_5x5_quad__##isa(const sn_q8_dwq_args *a); \
	void sn_q8_dwconv_any_quad__##isa(const sn_q8_dwq_args *a);
SN_Q8_DWQ_DECLARE(avxvnni)
SN_Q8_DWQ_DECLARE(avx512vnni)

/* Taps (i, 4 q) .. (i, 4 q + 3) of a depthwise kernel [kh x kw] as the bytes of a 32-bit lane
 * (the first in the low byte), 0 past the row's end. */
static inline int32_t sn_q8_tap_quad(const int8_t *w, int i, int q, int kw)
{
	uint32_t v = 0;
	for (int t = 0; t < 4 && 4 * q + t < kw; t++) v |= (uint32_t)(uint8_t)w[i * kw + 4 * q + t] << 8 * t;
	return (int32_t)v;
}

/* Taps (i, 2 jp) and (i, 2 jp + 1) of a depthwise kernel [kh x kw] as the int16 pair of a
 * 32-bit lane (the first in the low half), 0 for the partner of a lone last tap. */
static inline int32_t sn_q8_tap_pair(const int8_t *w, int i, int jp, int kw)
{
	const int j = 2 * jp;
	const uint16_t lo = (uint16_t)w[i * kw + j], hi = (uint16_t)(j + 1 < kw ? w[i * kw + j + 1] : 0);
	return (int32_t)((uint32_t)lo | (uint32_t)hi << 16);
}

/* A requantized output, the definition of qmath.h, for the scalar paths and the tails. */
static inline int8_t sn_q8_out(uint32_t acc, const sn_q8_gemm_args *a, int r)
{
	return sn_q_output((int32_t)acc, a->mult[a->per_channel ? r : 0], a->y_zp, a->lo, a->hi);
}

/* The int8 SpMM (q8_spmm.h). The pack: */
#include "kernels/spmm.h"
struct sn_q8_spmm {
	int rows, cols, n_blocks;
	size_t nnz;                 /* non-zero weights */
	sn_spmm_block *blocks;      /* nnz: the block's rows, a multiple of 4; voff: bytes into values */
	int8_t *values;             /* per block, per quad of its rows: nb int32 of 4 weights, by channel */
	int32_t *deltas;
	int32_t *sumw;              /* each row's sum of its weights */
	size_t bytes;
};
/* Pixels per panel: every input row's tile of them, as unsigned bytes (x + 128), SN_Q8_SPMM_TILE
 * apart. The vector kernels take them 4 L at a time (L: int32 lanes) and want them in their slot
 * order (q8_spmm_simd.h); the panel builder of the same path writes them so. */
#define SN_Q8_SPMM_TILE 64
/* One tile: blocks [b0, b1) over its n pixels from the panel; output (o, p) to y[o ldr + p ldp]. */
typedef struct {
	const struct sn_q8_spmm *sp;
	int b0, b1, n;
	const uint8_t *panel;
	const int32_t *corr;        /* per output channel: bias - (x_zp + 128) sum w */
	const sn_q_mult *mult;      /* per output channel (per_channel) or 1 */
	int per_channel;
	int32_t y_zp, lo, hi;
	int8_t *y;
	size_t ldr, ldp;
} sn_q8_spmm_args;
typedef void (*sn_q8_spmm_fn)(const sn_q8_spmm_args *a);
/* The panel of pixels [0, n) (n <= SN_Q8_SPMM_TILE) of `rows` input rows: pixel p of row c is
 * x[c xr + p xp] (conv: xr = pixels, xp = 1; Linear: xr = 1, xp = cols). */
typedef void (*sn_q8_spmm_panel_fn)(const int8_t *x, size_t xr, size_t xp, int rows, int n, uint8_t *panel);
/* The current path's (qconv.c's choice, sn_q8_force_path included) and its name. */
sn_q8_spmm_fn sn_q8_spmm_path(sn_q8_spmm_panel_fn *panel, const char **name);
#define SN_Q8_SPMM_DECLARE(isa)                                                                            \
	void sn_q8_spmm__##isa(const sn_q8_spmm_args *a);                                                      \
	void sn_q8_spmm_panel__##isa(const int8_t *x, size_t xr, size_t xp, int rows, int n, uint8_t *panel);
SN_Q8_SPMM_DECLARE(scalar)
SN_Q8_SPMM_DECLARE(avx2)
SN_Q8_SPMM_DECLARE(avxvnni)
SN_Q8_SPMM_DECLARE(avx512vnni)

/* bias - (x_zp + shift) sum w: the constant that turns the kernels' sums over shifted inputs into
 * the reference's, wrapping as their sums do */
static inline int32_t sn_q8_corr(int32_t bias, int32_t x_zp, int32_t shift, int32_t sumw)
{
	return (int32_t)((uint32_t)bias - (uint32_t)(x_zp + shift) * (uint32_t)sumw);
}

/* The add of qjoin.h on one instruction set (q8_add__*.c; the scalar one is sn_q8_add_ref), and
 * the one the current path runs (qconv.c's choice, sn_q8_force_path included) with its name. */
typedef void (*sn_q8_add_fn)(const int8_t *const *x, size_t len, const sn_q8_add_params *p, int8_t *y);
void sn_q8_add__avx2(const int8_t *const *x, size_t len, const sn_q8_add_params *p, int8_t *y);
void sn_q8_add__avx512vnni(const int8_t *const *x, size_t len, const sn_q8_add_params *p, int8_t *y);
sn_q8_add_fn sn_q8_add_path(const char **name);

/* n int8 at x widened to int16 at row: the inside of a depthwise plane's row */
typedef void (*sn_q8_dwrow_fn)(const int8_t *x, int n, int16_t *row);
void sn_q8_dwrow__scalar(const int8_t *x, int n, int16_t *row);

#define SN_Q8_DECLARE(isa)                                                 \
	void sn_q8_dwrow__##isa(const int8_t *x, int n, int16_t *row);         \
	void sn_q8_gemm__##isa(const sn_q8_gemm_args *a);                      \
	void sn_q8_dwconv_3x3__##isa(const sn_q8_dw_args *a);                  \
	void sn_q8_dwconv_5x5__##isa(const sn_q8_dw_args *a);                  \
	void sn_q8_dwconv_any__##isa(const sn_q8_dw_args *a);
void sn_q8_gemm__scalar(const sn_q8_gemm_args *a);
void sn_q8_dwconv_any__scalar(const sn_q8_dw_args *a);   /* every shape: no specialised ones */
SN_Q8_DECLARE(avx2)
SN_Q8_DECLARE(avxvnni)
SN_Q8_DECLARE(avx512vnni)
#endif
