/* int8 convolution and Linear (a Linear is a 1x1 convolution of a 1x1 image). */
#ifndef SN_KERNELS_QCONV_H
#define SN_KERNELS_QCONV_H
#include "kernels/kernels.h"
#include "kernels/qmath.h"

/* One quantized layer: weights int8 symmetric ([out_c][c/groups][kh][kw], zero point 0), bias
 * int32 in the scale x_scale * w_scale[o] (or NULL), the requantization multiplier
 * x_scale * w_scale[o] / y_scale per output channel (or one), and the output's zero point and
 * clamp (qmath.h: sn_q_act_range fuses ReLU and ReLU6). The accumulator holds bias + the sum of
 * (x - x_zp) * w over c/groups * kh * kw taps: at most 255 * 127 each, so layers with more than
 * 65,000 taps per output could overflow int32 and must stay float.
 * pool (convolutions only): y is the 2x2 stride-2 max-pool of the output instead, [out_c x oh / 2
 * x ow / 2] (an odd last row or column dropped, as MaxPool2d(2) does), the output itself never
 * stored; sn_q8_conv_run takes it only where sn_q8_conv_pools says it fuses it. */
typedef struct {
	const int8_t *w;
	const int32_t *bias;
	const sn_q_mult *mult;
	int per_channel;
	int32_t x_zp, y_zp, lo, hi;
	int pool;
} sn_q8_conv;

#define SN_Q8_MAX_TAPS 65000

/* y [out_c x oh x ow] from x [c x h x w] (one image), any stride, dilation, groups and padding
 * mode (sn_conv_geom; zero padding reads the input's zero point, i.e. real 0). The reference:
 * the fast kernels are checked against it byte for byte. */
void sn_q8_conv_ref(const int8_t *x, const sn_conv_geom *g, int groups, int out_c, const sn_q8_conv *p, int8_t *y);

/* Linear as the specification: y [rows x out] from x [rows x k] (row-major, a batch of rows as
 * slimnn's Linear lays it out), p->w [out][k]; the arithmetic of sn_q8_conv_ref. */
void sn_q8_linear_ref(const int8_t *x, int rows, int k, int out, const sn_q8_conv *p, int8_t *y);

/* ---------------------------------------------------------------- the fast kernels
 * They give exactly the reference's bytes, by this argument:
 *  - The accumulator is exact int32 everywhere. VNNI's vpdpbusd multiplies unsigned by signed
 *    bytes and adds four products into int32 without saturation: the input goes in shifted to
 *    unsigned (x + 128), so sum (x + 128) w = sum x w + 128 sum w, and the per-channel constant
 *    bias - (x_zp + 128) sum w (computed per call from the pack's sums of w) makes it the
 *    reference's bias + sum (x - x_zp) w. The Linear swaps the roles (its weights are the
 *    vectors, a row's quad of x the broadcast): the weights go in shifted (w + 128), so
 *    sum x (w + 128) = sum x w + 128 sum x, and bias - x_zp sum w - 128 sum x (the row's sum,
 *    per call) is the constant. AVX2 has no exact byte product (vpmaddubsw saturates
 *    its pair sums: 255 * 127 * 2 > 32767): it splits the same quads into even and odd bytes
 *    widened to int16 and uses vpmaddwd, whose pair sums are exact in int32. The depthwise
 *    kernels use vpmaddwd (or VNNI's vpdpwssd) on int16 pairs of taps. Everything wraps modulo
 *    2^32 in between, so whenever the reference's int32 sum does not overflow (taps within
 *    SN_Q8_MAX_TAPS, a bias of ordinary size) the fast sum is the same integer.
 *  - Padding: the GEMM's im2col and the depthwise planes write the input's zero point where
 *    zero padding lies (x_zp - x_zp = 0: what the reference skips), the mapped input for the
 *    other modes.
 *  - Requantization in vectors computes qmath.h's definition step by step: the saturating left
 *    shift, srdhm as (a * b + 2^30) >> 31 in 64 bits (equal to gemmlowp's nudge and truncation
 *    for every product but INT32_MIN squared, which a multiplier >= 0 never forms), the
 *    rounding right shift with its threshold, the clamp before the zero point is added.
 * tests/test_qkernels.c checks every path this CPU runs against the references byte for byte. */
typedef struct sn_q8_pack sn_q8_pack;   /* one layer's weights packed for the fast paths */
/* Packs weights w [out_c][k] (k = c/groups * taps, taps = kh * kw, the layout of sn_q8_conv.w)
 * of a conv with `groups` groups, and their per-output-channel sums. NULL when out of memory or
 * the shape is invalid (out_c not a multiple of groups, k outside [1, SN_Q8_MAX_TAPS] or not a
 * multiple of taps). The pack does not keep a pointer to w. A Linear has its own:
 * sn_q8_linear_pack_new below. */
sn_q8_pack *sn_q8_pack_new(const int8_t *w, int out_c, int groups, int k, int taps);
void sn_q8_pack_free(sn_q8_pack *pk);
size_t sn_q8_pack_bytes(const sn_q8_pack *pk);
/* Scratch bytes sn_q8_conv_run needs for one image of geometry g (0 allowed), with a fused pool
 * or not, for as many threads as sn_get_threads() says now: ask again after sn_set_threads. */
size_t sn_q8_conv_ws(const sn_conv_geom *g, int groups, int out_c, int pool);
/* 1 where sn_q8_conv_run can pool a layer of this shape in its own pass (sn_q8_conv.pool): at
 * least 2x2 outputs, and every GEMM-shaped layer whose two output rows fit a panel (ow <= 256),
 * every depthwise one but those of the channel-vectorised kernel (outputs narrower than 14 of
 * one per channel: faster unfused). */
int sn_q8_conv_pools(const sn_conv_geom *g, int groups, int out_c);
/* Exactly sn_q8_conv_ref's bytes, fast (named _run: C gives types and functions one name space,
 * and sn_q8_conv is the layer's type): one image x [c x h x w] -> y [out_c x oh x ow]. Chooses
 * at run time among AVX-512 VNNI, AVX-VNNI, AVX2 and portable C, and a direct depthwise path for
 * groups == c (depth multiplier out_c / c, stride 1 with any dilation, stride 2 without; any
 * padding mode); the rest runs as a GEMM over im2col tiles. Splits its work over OpenMP
 * threads (sn_get_threads()) when called outside a parallel region, like sn_gemm does;
 * allocates nothing. ws: sn_q8_conv_ws bytes, 64-aligned. pk: sn_q8_pack_new(p->w, out_c,
 * groups, c / groups * kh * kw, kh * kw). */
void sn_q8_conv_run(const int8_t *x, const sn_conv_geom *g, int groups, int out_c, const sn_q8_conv *p,
                const sn_q8_pack *pk, int8_t *y, void *ws);
/* Linear: y [rows x out] from x [rows x k] (row-major), the same arithmetic (p->w is [out][k]),
 * with pk = sn_q8_linear_pack_new(p->w, out, k): its own layout, the output channels in the
 * vector lanes (sn_q8_conv_run cannot read it, nor sn_q8_linear a conv's pack; NULL as
 * sn_q8_pack_new's); one kernel for every batch, x read as it is (no panel). Splits the output
 * channels over the threads (then the rows, when the channels are fewer than 16 per thread);
 * scratch: sn_q8_linear_ws bytes, 64-aligned, whatever the threads. */
sn_q8_pack *sn_q8_linear_pack_new(const int8_t *w, int out, int k);
size_t sn_q8_linear_ws(int rows, int k, int out);
void sn_q8_linear(const int8_t *x, int rows, int k, int out, const sn_q8_conv *p, const sn_q8_pack *pk,
                  int8_t *y, void *ws);
/* The kernel sn_q8_conv_run / sn_q8_linear would run on this CPU, for reports, XNNPACK style:
 * "q8_conv_gemm__avx512vnni", "q8_dwconv_3x3s1__avx2", "q8_linear_gemm__avx512vnni",
 * "q8_linear_gemm__scalar". */
const char *sn_q8_conv_kernel(const sn_conv_geom *g, int groups, int out_c);
const char *sn_q8_linear_kernel(int rows, int k, int out);

/* The instruction sets the kernels are written for, best last: "scalar", "avx2", "avxvnni",
 * "avx512vnni" (i-th name; NULL past the end). For tests and benchmarks: sn_q8_force_path(name)
 * makes every later call use that path (0), or refuses one this CPU lacks or an unknown name
 * (-1); NULL goes back to choosing the best. Not thread-safe: set it before running. */
const char *sn_q8_path_name(int i);
int sn_q8_force_path(const char *name);
#endif
