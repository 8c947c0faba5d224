/* The int8 kernels of the generated code, as C99 text (kernels_c.c writes them with the float
 * ones). They compute the bytes of the library's int8 plan: int32 sums of (x - x_zp) * w, and
 * the fixed-point requantization of src/kernels/qmath.h step for step (no float anywhere); the
 * operators follow src/kernels/qconv_ref.c, qjoin.c and the run_q8 forwards of src/ops/. Only
 * k_quantize and k_dequantize, at the edges of layers the quantizer kept in float, use float, as
 * the library's plan does (core/graph.c: convert). */
#include "codegen/codegen_internal.h"

/* qmath */
const char cg_k_qmath[] =
	"/* int8 arithmetic, as slimnn defines it (src/kernels/qmath.h, docs/quantize.md): real =\n"
	" * scale * (q - zero_point). An int32 sum becomes an int8 through M = mult * 2^(shift - 31):\n"
	" * a left shift that saturates, srdhm (the saturating rounding doubling high multiply,\n"
	" * floor(a * b / 2^31 + 1/2), which is gemmlowp's nudge-and-truncate for every product but\n"
	" * INT32_MIN squared), a right shift rounding half away from zero, the zero point, the clamp\n"
	" * [lo, hi] (the int8 range, or a fused ReLU's or ReLU6's). Right shifts of negative values\n"
	" * are arithmetic, as on every compiler for these targets. */\n"
	"static int32_t q_requant(int32_t acc, int32_t mult, int32_t shift)\n"
	"{\n"
	"\tint32_t x = acc, r, mask, rem, threshold;\n"
	"\tint e = shift > 0 ? 0 : (int)-shift;\n"
	"\tif (shift > 0) {\n"
	"\t\tconst int64_t s = (int64_t)acc * ((int64_t)1 << shift);\n"
	"\t\tx = s > INT32_MAX ? INT32_MAX : s < INT32_MIN ? INT32_MIN : (int32_t)s;\n"
	"\t}\n"
	"\tr = x == INT32_MIN && mult == INT32_MIN ? INT32_MAX\n"
	"\t                                        : (int32_t)(((int64_t)x * mult + ((int64_t)1 << 30)) >> 31);\n"
	"\tmask = (int32_t)(((int64_t)1 << e) - 1);\n"
	"\trem = r & mask;\n"
	"\tthreshold = (mask >> 1) + (r < 0);\n"
	"\treturn (r >> e) + (rem > threshold);\n"
	"}\n"
	"\n"
	"static int8_t q_out(int32_t acc, int32_t mult, int32_t shift, int32_t zp, int32_t lo, int32_t hi)\n"
	"{\n"
	"\tconst int64_t y = (int64_t)q_requant(acc, mult, shift) + zp;\n"
	"\treturn (int8_t)(y < lo ? lo : y > hi ? hi : y);\n"
	"}\n"
	"\n"
	"/* A conv's or Linear's int8 side: per output channel the int32 bias (in the scale x_scale *\n"
	" * w_scale[o]) and the multiplier x_scale * w_scale[o] / y_scale; the zero points and clamp. */\n"
	"typedef struct { const int32_t *bias, *mult, *shift; int32_t x_zp, y_zp, lo, hi; } q_layer;\n"
	"/* A pooling layer's: AvgPool's multipliers x_scale / (y_scale * d) by divisor d (MaxPool: none). */\n"
	"typedef struct { const int32_t *mult, *shift; int32_t x_zp, y_zp; } q_pool;\n"
;

/* qconv_plane qmath conv_geom pad_index weights */
const char cg_k_qconv_plane[] =
	"/* int8 Conv2d, weight-stationary as the float conv: output channel o's int32 sums (acc, a\n"
	" * plane of them) start at the bias, each stored weight adds w * (x - x_zp) for the input\n"
	" * pixels it meets (zero padding adds nothing: x_zp - x_zp), then each sum is requantized. */\n"
	"static void qconv_tap(const conv_geom *g, const int8_t *xc, int i, int j, int32_t v, int32_t zp, int32_t *acc)\n"
	"{\n"
	"\tint oh, ow, offh, offw, h0, h1, w0, w1;\n"
	"\tconv_span(g, i, j, &offh, &offw, &h0, &h1, &w0, &w1);\n"
	"\tfor (oh = g->mode ? 0 : h0; oh < (g->mode ? g->oh : h1); oh++) {\n"
	"\t\tint32_t *ar = acc + (long)oh * g->ow;\n"
	"\t\tif (g->mode == 0) {   /* rows and columns inside the image */\n"
	"\t\t\tconst int8_t *xr = xc + (long)(oh * g->sh + offh) * g->w + offw;\n"
	"\t\t\tfor (ow = w0; ow < w1; ow++) ar[ow] += v * (xr[ow * g->sw] - zp);\n"
	"\t\t} else {             /* every output: reflect, replicate or circular */\n"
	"\t\t\tconst int8_t *xr = xc + (long)pad_index(oh * g->sh + offh, g->h, g->mode) * g->w;\n"
	"\t\t\tfor (ow = 0; ow < g->ow; ow++) ar[ow] += v * (xr[pad_index(ow * g->sw + offw, g->w, g->mode)] - zp);\n"
	"\t\t}\n"
	"\t}\n"
	"}\n"
	"\n"
	"/* Output channel o (the rows of w visited in order through it) into plane y. */\n"
	"static void qconv_plane(const conv_geom *g, const q_layer *q, const int8_t *x, wt_it *it, int o, int32_t *acc, int8_t *y)\n"
	"{\n"
	"\tconst int icg = g->c / g->groups, ocg = g->oc / g->groups, kk = g->kh * g->kw;\n"
	"\tconst long ohw = (long)g->oh * g->ow, hw = (long)g->h * g->w;\n"
	"\tconst int8_t *xg = x + (long)(o / ocg) * icg * hw;\n"
	"\tint k;\n"
	"\tlong p, at;\n"
	"\tfor (p = 0; p < ohw; p++) acc[p] = q->bias[o];\n"
	"\twt_row(it, o);\n"
	"\twhile (wt_next(it, &k, &at))\n"
	"\t\tqconv_tap(g, xg + (long)(k / kk) * hw, k % kk / g->kw, k % g->kw, (int32_t)it->w->q[at], q->x_zp, acc);\n"
	"\tfor (p = 0; p < ohw; p++) y[p] = q_out(acc[p], q->mult[o], q->shift[o], q->y_zp, q->lo, q->hi);\n"
	"}\n"
;

/* qconv qconv_plane */
const char cg_k_qconv[] =
	"static void k_qconv(const conv_geom *g, const q_layer *q, const int8_t *x, const wt *w, int32_t *acc, int8_t *y)\n"
	"{\n"
	"\twt_it it;\n"
	"\tint o;\n"
	"\twt_begin(w, &it);\n"
	"\tfor (o = 0; o < g->oc; o++) qconv_plane(g, q, x, &it, o, acc, y + o * ((long)g->oh * g->ow));\n"
	"}\n"
;

/* qlinear qmath weights */
const char cg_k_qlinear[] =
	"/* int8 Linear: y[o] = the bias plus w * (x - x_zp) over the stored weights of row o, requantized. */\n"
	"static void k_qlinear(const q_layer *q, const int8_t *x, const wt *w, int8_t *y)\n"
	"{\n"
	"\twt_it it;\n"
	"\tint o, k;\n"
	"\tlong at;\n"
	"\twt_begin(w, &it);\n"
	"\tfor (o = 0; o < w->rows; o++) {\n"
	"\t\tint32_t s = q->bias[o];\n"
	"\t\twt_row(&it, o);\n"
	"\t\twhile (wt_next(&it, &k, &at)) s += (int32_t)w->q[at] * (x[k] - q->x_zp);\n"
	"\t\ty[o] = q_out(s, q->mult[o], q->shift[o], q->y_zp, q->lo, q->hi);\n"
	"\t}\n"
	"}\n"
;

/* qmaxpool qmath pool_window */
const char cg_k_qmaxpool[] =
	"/* int8 MaxPool2d of one plane: it keeps its input's parameters, so the window's largest byte. */\n"
	"static void qmaxpool_plane(const pool_geom *g, const q_pool *q, const int8_t *x, int8_t *y)\n"
	"{\n"
	"\tint oh, ow, i, j, h0, h1, w0, w1, div;\n"
	"\t(void)q;\n"
	"\tfor (oh = 0; oh < g->oh; oh++)\n"
	"\t\tfor (ow = 0; ow < g->ow; ow++) {\n"
	"\t\t\tint8_t v = -128;\n"
	"\t\t\tpool_window(g, oh, ow, &h0, &h1, &w0, &w1, &div);\n"
	"\t\t\tfor (i = h0; i < h1; i++)\n"
	"\t\t\t\tfor (j = w0; j < w1; j++)\n"
	"\t\t\t\t\tif (x[(long)i * g->w + j] > v) v = x[(long)i * g->w + j];\n"
	"\t\t\t*y++ = v;\n"
	"\t\t}\n"
	"}\n"
;

/* qavgpool qmath pool_window */
const char cg_k_qavgpool[] =
	"/* int8 AvgPool2d of one plane: the sum of x - x_zp over the window, requantized with its\n"
	" * divisor's multiplier. */\n"
	"static void qavgpool_plane(const pool_geom *g, const q_pool *q, const int8_t *x, int8_t *y)\n"
	"{\n"
	"\tint oh, ow, i, j, h0, h1, w0, w1, div;\n"
	"\tfor (oh = 0; oh < g->oh; oh++)\n"
	"\t\tfor (ow = 0; ow < g->ow; ow++) {\n"
	"\t\t\tint32_t s = 0;\n"
	"\t\t\tpool_window(g, oh, ow, &h0, &h1, &w0, &w1, &div);\n"
	"\t\t\tfor (i = h0; i < h1; i++)\n"
	"\t\t\t\tfor (j = w0; j < w1; j++) s += x[(long)i * g->w + j] - q->x_zp;\n"
	"\t\t\t*y++ = q_out(s, q->mult[div], q->shift[div], q->y_zp, -128, 127);\n"
	"\t\t}\n"
	"}\n"
;

/* qpool qmath pool_window */
const char cg_k_qpool[] =
	"/* An int8 pooling layer: the plane function (qmaxpool_plane, qavgpool_plane) over every channel. */\n"
	"static void k_qpool(const pool_geom *g, void (*plane)(const pool_geom *, const q_pool *, const int8_t *, int8_t *),\n"
	"                    const q_pool *q, const int8_t *x, int8_t *y)\n"
	"{\n"
	"\tint c;\n"
	"\tfor (c = 0; c < g->c; c++) plane(g, q, x + c * ((long)g->h * g->w), y + c * ((long)g->oh * g->ow));\n"
	"}\n"
;

/* qconv_pool qconv_plane pool_window */
const char cg_k_qconv_pool[] =
	"/* An int8 conv whose only reader is a pooling layer, fused: each output channel into one int8\n"
	" * plane of scratch, pooled from there. */\n"
	"static void k_qconv_pool(const conv_geom *g, const q_layer *q, const pool_geom *pg,\n"
	"                         void (*plane)(const pool_geom *, const q_pool *, const int8_t *, int8_t *), const q_pool *pq,\n"
	"                         const int8_t *x, const wt *w, int32_t *acc, int8_t *scratch, int8_t *y)\n"
	"{\n"
	"\twt_it it;\n"
	"\tint o;\n"
	"\twt_begin(w, &it);\n"
	"\tfor (o = 0; o < g->oc; o++) {\n"
	"\t\tqconv_plane(g, q, x, &it, o, acc, scratch);\n"
	"\t\tplane(pg, pq, scratch, y + o * ((long)pg->oh * pg->ow));\n"
	"\t}\n"
	"}\n"
;

/* qgap qmath */
const char cg_k_qgap[] =
	"/* int8 global average pooling: the sum of x - x_zp over each plane, requantized with\n"
	" * x_scale / (y_scale * hw). */\n"
	"static void k_qgap(const int8_t *x, int c, long hw, int32_t x_zp, int32_t mult, int32_t shift, int32_t y_zp, int8_t *y)\n"
	"{\n"
	"\tint ch;\n"
	"\tlong k;\n"
	"\tfor (ch = 0; ch < c; ch++) {\n"
	"\t\tint32_t s = 0;\n"
	"\t\tfor (k = 0; k < hw; k++) s += x[ch * hw + k] - x_zp;\n"
	"\t\ty[ch] = q_out(s, mult, shift, y_zp, -128, 127);\n"
	"\t}\n"
	"}\n"
;

/* qadd qmath */
const char cg_k_qadd[] =
	"/* int8 Add of n inputs, TensorFlow Lite's way (src/kernels/qjoin.h): each (x_i - zp_i) * 2^20\n"
	" * times its multiplier s_i / (2 max s), summed, then times 2 max s / (2^20 y_scale). */\n"
	"typedef struct { int n; int32_t mult[8], shift[8], zp[8], out_mult, out_shift, y_zp; } q_add;\n"
	"\n"
	"static void k_qadd(const q_add *p, const int8_t *const *x, int8_t *y, long len)\n"
	"{\n"
	"\tlong k;\n"
	"\tint i;\n"
	"\tfor (k = 0; k < len; k++) {\n"
	"\t\tint32_t s = 0;\n"
	"\t\tfor (i = 0; i < p->n; i++) s += q_requant((x[i][k] - p->zp[i]) * ((int32_t)1 << 20), p->mult[i], p->shift[i]);\n"
	"\t\ty[k] = q_out(s, p->out_mult, p->out_shift, p->y_zp, -128, 127);\n"
	"\t}\n"
	"}\n"
;

/* qrequant qmath */
const char cg_k_qrequant[] =
	"/* int8 values into other parameters (a Concat's input): y_zp + M (x - x_zp), M = x_scale / y_scale. */\n"
	"static void k_qrequant(const int8_t *x, long n, int32_t x_zp, int32_t mult, int32_t shift, int32_t y_zp, int8_t *y)\n"
	"{\n"
	"\tlong i;\n"
	"\tfor (i = 0; i < n; i++) y[i] = q_out(x[i] - x_zp, mult, shift, y_zp, -128, 127);\n"
	"}\n"
;

/* qclamp */
const char cg_k_qclamp[] =
	"/* int8 ReLU and ReLU6: the clamp [lo, hi] of their output's parameters. */\n"
	"static void k_qclamp(const int8_t *x, int8_t *y, long n, int lo, int hi)\n"
	"{\n"
	"\tlong i;\n"
	"\tfor (i = 0; i < n; i++) y[i] = (int8_t)(x[i] < lo ? lo : x[i] > hi ? hi : x[i]);\n"
	"}\n"
;

/* quantize */
const char cg_k_quantize[] =
	"/* A float layer's output into int8 for int8 readers (ONNX's QuantizeLinear, as slimnn does it):\n"
	" * x / scale rounded half to even, plus the zero point, clamped; NaN gives the zero point. */\n"
	"static void k_quantize(const float *x, long n, float scale, int32_t zp, int8_t *y)\n"
	"{\n"
	"\tlong i, r;\n"
	"\tfor (i = 0; i < n; i++) {\n"
	"\t\tconst float v = x[i] / scale;\n"
	"\t\tr = v != v ? 0 : v > 1e9f ? 1000000000L : v < -1e9f ? -1000000000L : lrintf(v);\n"
	"\t\tr += zp;\n"
	"\t\ty[i] = (int8_t)(r < -128 ? -128 : r > 127 ? 127 : r);\n"
	"\t}\n"
	"}\n"
;

/* dequantize */
const char cg_k_dequantize[] =
	"/* An int8 layer's output into float for float readers: scale * (q - zero_point). */\n"
	"static void k_dequantize(const int8_t *x, long n, float scale, int32_t zp, float *y)\n"
	"{\n"
	"\tlong i;\n"
	"\tfor (i = 0; i < n; i++) y[i] = scale * (float)(x[i] - zp);\n"
	"}\n"
;
