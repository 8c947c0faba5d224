/* The kernels of the generated code, as C99 text: each is copied into PREFIX.c when a layer of
 * the model needs it. They mirror the library's operators (src/ops/) in the same float
 * arithmetic, so a float model gives `slimnn infer`'s outputs up to the order of the sums. */
#include "codegen/codegen_internal.h"

/* wt_head */
static const char K_WT_HEAD[] =
	"/* A weight tensor as rows of `cols` values in one of its stored forms (form): 0 dense; 1 and 2\n"
	" * CSR, each stored value's gap (the zeros since the previous stored value of its row) as an\n"
	" * 8-bit (1) or 16-bit (2) code, the largest code (255, 65535) skipping that many and placing\n"
	" * nothing; 3 bitmap, a bit per value (1: stored; least significant bit first) and the stored\n"
	" * values in order. The kernels visit each row's stored values in turn, rows in order. */\n"
	"typedef struct {\n"
	"\tint form, rows, cols;\n"
	"\tconst float *val;              /* dense: every value; else the stored values in order */\n"
	"\tconst unsigned short *count;   /* CSR: stored values of each row */\n"
	"\tconst unsigned char *code8;\n"
	"\tconst unsigned short *code16;\n"
	"\tconst unsigned char *bits;\n"
	"\tconst signed char *q;          /* an int8 layer's values (val then 0): as val, one byte each */\n"
	"} wt;\n"
	"\n"
	"typedef struct { const wt *w; long v, c, bit, end; int left, col; } wt_it;\n"
	"\n"
	"static void wt_begin(const wt *w, wt_it *it)\n"
	"{\n"
	"\tit->w = w;\n"
	"\tit->v = it->c = it->bit = it->end = 0;\n"
	"\tit->left = it->col = 0;\n"
	"}\n"
	"\n"
	"static void wt_row(wt_it *it, int row)\n"
	"{\n"
	"\tconst wt *w = it->w;\n"
	"\tit->col = 0;\n"
	"\tit->bit = (long)row * w->cols;\n"
	"\tit->end = it->bit + w->cols;\n"
	"\tif (w->form == 0) it->v = it->bit;\n"
	"\tif (w->form == 1 || w->form == 2) it->left = w->count[row];\n"
	"}\n"
	"\n"
	"/* The next stored value of the row: its column in *k and its index in val (or q) in *at; 0 at\n"
	" * the row's end. */\n"
	"static int wt_next(wt_it *it, int *k, long *at)\n"
	"{\n"
	"\tconst wt *w = it->w;\n"
	"\tswitch (w->form) {\n"
;
/* wt_dense */
static const char K_WT_DENSE[] =
	"\tcase 0:\n"
	"\t\tif (it->col >= w->cols) return 0;\n"
	"\t\t*k = it->col++;\n"
	"\t\t*at = it->v++;\n"
	"\t\treturn 1;\n"
;
/* wt_csr8 */
static const char K_WT_CSR8[] =
	"\tcase 1: {\n"
	"\t\tunsigned code;\n"
	"\t\tif (!it->left) return 0;\n"
	"\t\tdo { code = w->code8[it->c++]; it->col += (int)code; } while (code == 255u);\n"
	"\t\tit->left--;\n"
	"\t\t*k = it->col++;\n"
	"\t\t*at = it->v++;\n"
	"\t\treturn 1;\n"
	"\t}\n"
;
/* wt_csr16 */
static const char K_WT_CSR16[] =
	"\tcase 2: {\n"
	"\t\tunsigned code;\n"
	"\t\tif (!it->left) return 0;\n"
	"\t\tdo { code = w->code16[it->c++]; it->col += (int)code; } while (code == 65535u);\n"
	"\t\tit->left--;\n"
	"\t\t*k = it->col++;\n"
	"\t\t*at = it->v++;\n"
	"\t\treturn 1;\n"
	"\t}\n"
;
/* wt_bitmap */
static const char K_WT_BITMAP[] =
	"\tcase 3:\n"
	"\t\twhile (it->bit < it->end) {\n"
	"\t\t\tif (!(it->bit & 7) && it->bit + 8 <= it->end && !w->bits[it->bit >> 3]) { it->bit += 8; continue; }\n"
	"\t\t\tif (w->bits[it->bit >> 3] >> (it->bit & 7) & 1) break;\n"
	"\t\t\tit->bit++;\n"
	"\t\t}\n"
	"\t\tif (it->bit >= it->end) return 0;\n"
	"\t\t*k = (int)(it->bit++ - (it->end - w->cols));\n"
	"\t\t*at = it->v++;\n"
	"\t\treturn 1;\n"
;
/* wt_tail */
static const char K_WT_TAIL[] =
	"\t}\n"
	"\treturn 0;\n"
	"}\n"
;
/* fuse */
static const char K_FUSE[] =
	"/* The activation a conv applies to its own output: 0 none, 1 ReLU, 2 ReLU6 (NaN gives 0). */\n"
	"static float fuse(float v, int act)\n"
	"{\n"
	"\tif (act == 0) return v;\n"
	"\tv = v > 0 ? v : 0;\n"
	"\treturn act == 2 && v > 6 ? 6 : v;\n"
	"}\n"
;
/* pad_index */
static const char K_PAD_INDEX[] =
	"/* The input index that padded position i of a size-n side reads: 0 zeros (-1: the padding),\n"
	" * 1 reflect, 2 replicate, 3 circular. */\n"
	"static int pad_index(int i, int n, int mode)\n"
	"{\n"
	"\tif (i >= 0 && i < n) return i;\n"
	"\tswitch (mode) {\n"
	"\tcase 1: return i < 0 ? -i : 2 * (n - 1) - i;\n"
	"\tcase 2: return i < 0 ? 0 : n - 1;\n"
	"\tcase 3: return ((i % n) + n) % n;\n"
	"\tdefault: return -1;\n"
	"\t}\n"
	"}\n"
;
/* conv_geom */
static const char K_CONV_GEOM[] =
	"/* Conv2d, weight-stationary: each stored weight of output channel o adds its product with the\n"
	" * input pixels it meets to o's plane, so a sparse filter costs only its stored weights. */\n"
	"typedef struct {\n"
	"\tint c, h, w, oc, oh, ow, kh, kw, sh, sw, dh, dw, pt, pl, groups, mode, act;\n"
	"} conv_geom;\n"
	"\n"
	"/* Output positions [*lo, *hi) whose input index o * s + off lies in [0, n). */\n"
	"static void conv_valid(int off, int s, int n, int on, int *lo, int *hi)\n"
	"{\n"
	"\tconst int a = off >= 0 ? 0 : (-off + s - 1) / s, b = n - off <= 0 ? 0 : (n - off + s - 1) / s;\n"
	"\t*lo = a < on ? a : on;\n"
	"\t*hi = b < on ? b : on;\n"
	"\tif (*hi < *lo) *hi = *lo;\n"
	"}\n"
	"\n"
	"/* Output (oh, ow) meets tap (i, j) at input (oh * sh + *offh, ow * sw + *offw); with zero padding\n"
	" * only rows [*h0, *h1) and columns [*w0, *w1) meet the image (the others add nothing). */\n"
	"static void conv_span(const conv_geom *g, int i, int j, int *offh, int *offw, int *h0, int *h1, int *w0, int *w1)\n"
	"{\n"
	"\t*offh = i * g->dh - g->pt;\n"
	"\t*offw = j * g->dw - g->pl;\n"
	"\tconv_valid(*offh, g->sh, g->h, g->oh, h0, h1);\n"
	"\tconv_valid(*offw, g->sw, g->w, g->ow, w0, w1);\n"
	"}\n"
;
/* conv_plane conv_geom fuse pad_index weights */
static const char K_CONV_PLANE[] =
	"static void conv_tap(const conv_geom *g, const float *xc, int i, int j, float v, float *y)\n"
	"{\n"
	"\tint oh, ow, offh, offw, h0, h1, w0, w1;\n"
	"\tconv_span(g, i, j, &offh, &offw, &h0, &h1, &w0, &w1);\n"
	"\tif (g->mode == 0) {\n"
	"\t\tfor (oh = h0; oh < h1; oh++) {\n"
	"\t\t\tconst float *xr = xc + (long)(oh * g->sh + offh) * g->w;\n"
	"\t\t\tfloat *yr = y + (long)oh * g->ow;\n"
	"\t\t\tfor (ow = w0; ow < w1; ow++) yr[ow] += v * xr[ow * g->sw + offw];\n"
	"\t\t}\n"
	"\t\treturn;\n"
	"\t}\n"
	"\tfor (oh = 0; oh < g->oh; oh++) {\n"
	"\t\tconst float *xr = xc + (long)pad_index(oh * g->sh + offh, g->h, g->mode) * g->w;\n"
	"\t\tfloat *yr = y + (long)oh * g->ow;\n"
	"\t\tfor (ow = 0; ow < g->ow; ow++) yr[ow] += v * xr[pad_index(ow * g->sw + offw, g->w, g->mode)];\n"
	"\t}\n"
	"}\n"
	"\n"
	"/* Output channel o of the conv (rows of w visited in order through it) into plane y. */\n"
	"static void conv_plane(const conv_geom *g, const float *x, wt_it *it, int o, const float *bias, float *y)\n"
	"{\n"
	"\tconst int icg = g->c / g->groups, ocg = g->oc / g->groups, kk = g->kh * g->kw;\n"
	"\tconst long ohw = (long)g->oh * g->ow, hw = (long)g->h * g->w;\n"
	"\tconst float *xg = x + (long)(o / ocg) * icg * hw;\n"
	"\tconst float b = bias ? bias[o] : 0.0f;\n"
	"\tint k;\n"
	"\tlong p, at;\n"
	"\tfor (p = 0; p < ohw; p++) y[p] = 0.0f;\n"
	"\twt_row(it, o);\n"
	"\twhile (wt_next(it, &k, &at)) conv_tap(g, xg + (long)(k / kk) * hw, k % kk / g->kw, k % g->kw, it->w->val[at], y);\n"
	"\tfor (p = 0; p < ohw; p++) y[p] = fuse(y[p] + b, g->act);\n"
	"}\n"
	"\n"
;
/* conv conv_plane */
static const char K_CONV[] =
	"static void k_conv(const conv_geom *g, const float *x, const wt *w, const float *bias, float *y)\n"
	"{\n"
	"\twt_it it;\n"
	"\tint o;\n"
	"\twt_begin(w, &it);\n"
	"\tfor (o = 0; o < g->oc; o++) conv_plane(g, x, &it, o, bias, y + o * ((long)g->oh * g->ow));\n"
	"}\n"
;
/* linear weights */
static const char K_LINEAR[] =
	"/* Linear: y[o] = sum of the stored weights of row o times their inputs, plus the bias. */\n"
	"static void k_linear(const float *x, const wt *w, const float *bias, float *y)\n"
	"{\n"
	"\twt_it it;\n"
	"\tint o, k;\n"
	"\tlong at;\n"
	"\twt_begin(w, &it);\n"
	"\tfor (o = 0; o < w->rows; o++) {\n"
	"\t\tfloat s = 0.0f;\n"
	"\t\twt_row(&it, o);\n"
	"\t\twhile (wt_next(&it, &k, &at)) s += w->val[at] * x[k];\n"
	"\t\ty[o] = bias ? s + bias[o] : s;\n"
	"\t}\n"
	"}\n"
;
/* scale_shift */
static const char K_SCALE_SHIFT[] =
	"/* BatchNorm at inference (where it could not fold into a conv): y = x * a[c] + b[c]. */\n"
	"static void k_scale_shift(const float *x, int c, long hw, const float *a, const float *b, float *y)\n"
	"{\n"
	"\tint ch;\n"
	"\tlong i;\n"
	"\tfor (ch = 0; ch < c; ch++)\n"
	"\t\tfor (i = 0; i < hw; i++) y[ch * hw + i] = x[ch * hw + i] * a[ch] + b[ch];\n"
	"}\n"
;
/* pool_window */
static const char K_POOL_WINDOW[] =
	"typedef struct { int c, h, w, oh, ow, kh, kw, sh, sw, pt, pb, pl, pr, count_pad; } pool_geom;\n"
	"\n"
	"/* The window of output (oh, ow) clipped to the image, and AvgPool's divisor. */\n"
	"static void pool_window(const pool_geom *g, int oh, int ow, int *h0, int *h1, int *w0, int *w1, int *div)\n"
	"{\n"
	"\tconst int hs = oh * g->sh - g->pt, ws = ow * g->sw - g->pl;\n"
	"\tconst int he = hs + g->kh < g->h + g->pb ? hs + g->kh : g->h + g->pb;\n"
	"\tconst int we = ws + g->kw < g->w + g->pr ? ws + g->kw : g->w + g->pr;\n"
	"\t*h0 = hs > 0 ? hs : 0;\n"
	"\t*w0 = ws > 0 ? ws : 0;\n"
	"\t*h1 = he < g->h ? he : g->h;\n"
	"\t*w1 = we < g->w ? we : g->w;\n"
	"\t*div = g->count_pad ? (he - hs) * (we - ws) : (*h1 - *h0) * (*w1 - *w0);\n"
	"}\n"
;
/* maxpool pool_window */
static const char K_MAXPOOL[] =
	"/* MaxPool2d of one plane: NaN wins, as in PyTorch. */\n"
	"static void maxpool_plane(const pool_geom *g, const float *x, float *y)\n"
	"{\n"
	"\tint oh, ow, i, j, h0, h1, w0, w1, div;\n"
	"\tfor (oh = 0; oh < g->oh; oh++)\n"
	"\t\tfor (ow = 0; ow < g->ow; ow++) {\n"
	"\t\t\tfloat v = 0.0f;\n"
	"\t\t\tint first = 1;\n"
	"\t\t\tpool_window(g, oh, ow, &h0, &h1, &w0, &w1, &div);\n"
	"\t\t\tfor (i = h0; i < h1; i++)\n"
	"\t\t\t\tfor (j = w0; j < w1; j++) {\n"
	"\t\t\t\t\tconst float t = x[(long)i * g->w + j];\n"
	"\t\t\t\t\tif (first || t > v || t != t) v = t;\n"
	"\t\t\t\t\tfirst = 0;\n"
	"\t\t\t\t}\n"
	"\t\t\t*y++ = v;\n"
	"\t\t}\n"
	"}\n"
;
/* avgpool pool_window */
static const char K_AVGPOOL[] =
	"static void avgpool_plane(const pool_geom *g, const float *x, float *y)\n"
	"{\n"
	"\tint oh, ow, i, j, h0, h1, w0, w1, div;\n"
	"\tfor (oh = 0; oh < g->oh; oh++)\n"
	"\t\tfor (ow = 0; ow < g->ow; ow++) {\n"
	"\t\t\tfloat v = 0.0f;\n"
	"\t\t\tpool_window(g, oh, ow, &h0, &h1, &w0, &w1, &div);\n"
	"\t\t\tfor (i = h0; i < h1; i++)\n"
	"\t\t\t\tfor (j = w0; j < w1; j++) v += x[(long)i * g->w + j];\n"
	"\t\t\t*y++ = v / div;\n"
	"\t\t}\n"
	"}\n"
;
/* pool pool_window */
static const char K_POOL[] =
	"/* A pooling layer: the plane function (maxpool_plane, avgpool_plane) over every channel. */\n"
	"static void k_pool(const pool_geom *g, void (*plane)(const pool_geom *, const float *, float *), const float *x, float *y)\n"
	"{\n"
	"\tint c;\n"
	"\tfor (c = 0; c < g->c; c++) plane(g, x + c * ((long)g->h * g->w), y + c * ((long)g->oh * g->ow));\n"
	"}\n"
;
/* conv_pool conv_plane pool_window */
static const char K_CONV_POOL[] =
	"/* A conv whose only reader is a pooling layer, fused: each output channel is computed into\n"
	" * one plane of scratch and pooled from there, so the conv's whole output never exists. */\n"
	"static void k_conv_pool(const conv_geom *g, const pool_geom *pg, void (*plane)(const pool_geom *, const float *, float *),\n"
	"                        const float *x, const wt *w, const float *bias, float *scratch, float *y)\n"
	"{\n"
	"\twt_it it;\n"
	"\tint o;\n"
	"\twt_begin(w, &it);\n"
	"\tfor (o = 0; o < g->oc; o++) {\n"
	"\t\tconv_plane(g, x, &it, o, bias, scratch);\n"
	"\t\tplane(pg, scratch, y + o * ((long)pg->oh * pg->ow));\n"
	"\t}\n"
	"}\n"
;
/* gap */
static const char K_GAP[] =
	"/* Global average pooling: the mean of each channel's plane. */\n"
	"static void k_gap(const float *x, int c, int hw, float *y)\n"
	"{\n"
	"\tint ch, k;\n"
	"\tfor (ch = 0; ch < c; ch++) {\n"
	"\t\tfloat s = 0.0f;\n"
	"\t\tfor (k = 0; k < hw; k++) s += x[(long)ch * hw + k];\n"
	"\t\ty[ch] = s / hw;\n"
	"\t}\n"
	"}\n"
;
/* add */
static const char K_ADD[] =
	"static void k_add(const float *a, const float *b, float *y, long n)\n"
	"{\n"
	"\tlong i;\n"
	"\tfor (i = 0; i < n; i++) y[i] = a[i] + b[i];\n"
	"}\n"
;
/* mul */
static const char K_MUL[] =
	"/* a * b over the output's [c, h, w]; each input is read through its strides (0 where it\n"
	" * broadcasts). */\n"
	"typedef struct { int c, h, w; long ac, ah, aw, bc, bh, bw; } mul_geom;\n"
	"\n"
	"static void k_mul(const mul_geom *g, const float *a, const float *b, float *y)\n"
	"{\n"
	"\tint c, h, w;\n"
	"\tfor (c = 0; c < g->c; c++)\n"
	"\t\tfor (h = 0; h < g->h; h++)\n"
	"\t\t\tfor (w = 0; w < g->w; w++) *y++ = a[c * g->ac + h * g->ah + w * g->aw] * b[c * g->bc + h * g->bh + w * g->bw];\n"
	"}\n"
;
/* chmap */
static const char K_CHMAP[] =
	"/* Channel shuffle (groups > 0: output j reads input (j % groups) * (c / groups) + j / groups)\n"
	" * and slice (groups 0: output j reads start + j), whole planes of `plane` bytes (float or int8). */\n"
	"static void k_chmap(const void *x, int in_c, int out_c, long plane, int groups, int start, void *y)\n"
	"{\n"
	"\tint j;\n"
	"\tfor (j = 0; j < out_c; j++) {\n"
	"\t\tconst int src = groups ? j % groups * (in_c / groups) + j / groups : start + j;\n"
	"\t\tmemcpy((char *)y + j * plane, (const char *)x + src * plane, (size_t)plane);\n"
	"\t}\n"
	"}\n"
;
/* pad pad_index */
static const char K_PAD[] =
	"typedef struct { int c, h, w, oh, ow, pt, pl, mode; float value; } pad_geom;\n"
	"\n"
	"static void k_pad(const pad_geom *g, const float *x, float *y)\n"
	"{\n"
	"\tint c, oh, ow;\n"
	"\tfor (c = 0; c < g->c; c++, x += (long)g->h * g->w)\n"
	"\t\tfor (oh = 0; oh < g->oh; oh++) {\n"
	"\t\t\tconst int ih = pad_index(oh - g->pt, g->h, g->mode);\n"
	"\t\t\tfor (ow = 0; ow < g->ow; ow++) {\n"
	"\t\t\t\tconst int iw = ih < 0 ? -1 : pad_index(ow - g->pl, g->w, g->mode);\n"
	"\t\t\t\t*y++ = iw < 0 ? g->value : x[(long)ih * g->w + iw];\n"
	"\t\t\t}\n"
	"\t\t}\n"
	"}\n"
;
/* softmax */
static const char K_SOFTMAX[] =
	"/* Softmax over the channels at each of the hw pixels, max-subtracted. */\n"
	"static void k_softmax(const float *x, int c, long hw, float *y)\n"
	"{\n"
	"\tlong p;\n"
	"\tint ch;\n"
	"\tfor (p = 0; p < hw; p++) {\n"
	"\t\tfloat m = -INFINITY, s = 0.0f;\n"
	"\t\tfor (ch = 0; ch < c; ch++) m = fmaxf(m, x[ch * hw + p]);\n"
	"\t\tfor (ch = 0; ch < c; ch++) y[ch * hw + p] = expf(x[ch * hw + p] - m);\n"
	"\t\tfor (ch = 0; ch < c; ch++) s += y[ch * hw + p];\n"
	"\t\tfor (ch = 0; ch < c; ch++) y[ch * hw + p] /= s;\n"
	"\t}\n"
	"}\n"
;
/* relu */
static const char K_RELU[] =
	"static void k_relu(const float *x, float *y, long n)\n"
	"{\n"
	"\tlong i;\n"
	"\tfor (i = 0; i < n; i++) y[i] = x[i] > 0 ? x[i] : 0;\n"
	"}\n"
;
/* relu6 */
static const char K_RELU6[] =
	"static void k_relu6(const float *x, float *y, long n)\n"
	"{\n"
	"\tlong i;\n"
	"\tfor (i = 0; i < n; i++) y[i] = x[i] > 0 ? (x[i] < 6 ? x[i] : 6) : 0;\n"
	"}\n"
;
/* sigmoid */
static const char K_SIGMOID[] =
	"static void k_sigmoid(const float *x, float *y, long n)\n"
	"{\n"
	"\tlong i;\n"
	"\tfor (i = 0; i < n; i++) y[i] = 1.0f / (1.0f + expf(-x[i]));\n"
	"}\n"
;
/* hardswish */
static const char K_HARDSWISH[] =
	"static void k_hardswish(const float *x, float *y, long n)\n"
	"{\n"
	"\tlong i;\n"
	"\tfor (i = 0; i < n; i++) y[i] = x[i] <= -3 ? 0 : x[i] >= 3 ? x[i] : x[i] * (x[i] + 3) / 6;\n"
	"}\n"
;
/* hardsigmoid */
static const char K_HARDSIGMOID[] =
	"static void k_hardsigmoid(const float *x, float *y, long n, float alpha, float beta)\n"
	"{\n"
	"\tlong i;\n"
	"\tfor (i = 0; i < n; i++) y[i] = fminf(fmaxf(alpha * x[i] + beta, 0.0f), 1.0f);\n"
	"}\n"
;
/* silu */
static const char K_SILU[] =
	"static void k_silu(const float *x, float *y, long n)\n"
	"{\n"
	"\tlong i;\n"
	"\tfor (i = 0; i < n; i++) y[i] = x[i] * (1.0f / (1.0f + expf(-x[i])));\n"
	"}\n"
;
/* gelu */
static const char K_GELU[] =
	"/* GELU: x Phi(x) with erf, or (tanh_form) PyTorch's tanh approximation. */\n"
	"static void k_gelu(const float *x, float *y, long n, int tanh_form)\n"
	"{\n"
	"\tlong i;\n"
	"\tfor (i = 0; i < n; i++) {\n"
	"\t\tconst float v = x[i];\n"
	"\t\ty[i] = tanh_form ? 0.5f * v * (1.0f + tanhf(0.79788456080286536f * (v + 0.044715f * v * v * v)))\n"
	"\t\t                 : 0.5f * v * (1.0f + erff(v * 0.70710678118654752f));\n"
	"\t}\n"
	"}\n"
;

typedef struct { const char *text; cg_mask deps; } kernel;

static const kernel kernels[CK_COUNT] = {
	[CK_WEIGHTS]     = {NULL, 0},   /* written from its pieces: K_WT_HEAD, one case per form, K_WT_TAIL */
	[CK_FUSE]        = {K_FUSE, 0},
	[CK_PAD_INDEX]   = {K_PAD_INDEX, 0},
	[CK_CONV_GEOM]   = {K_CONV_GEOM, 0},
	[CK_CONV_PLANE]  = {K_CONV_PLANE, CK(CK_CONV_GEOM) | CK(CK_FUSE) | CK(CK_PAD_INDEX) | CK(CK_WEIGHTS)},
	[CK_CONV]        = {K_CONV, CK(CK_CONV_PLANE)},
	[CK_LINEAR]      = {K_LINEAR, CK(CK_WEIGHTS)},
	[CK_SCALE_SHIFT] = {K_SCALE_SHIFT, 0},
	[CK_POOL_WINDOW] = {K_POOL_WINDOW, 0},
	[CK_MAXPOOL]     = {K_MAXPOOL, CK(CK_POOL_WINDOW)},
	[CK_AVGPOOL]     = {K_AVGPOOL, CK(CK_POOL_WINDOW)},
	[CK_POOL]        = {K_POOL, CK(CK_POOL_WINDOW)},
	[CK_CONV_POOL]   = {K_CONV_POOL, CK(CK_CONV_PLANE) | CK(CK_POOL_WINDOW)},
	[CK_GAP]         = {K_GAP, 0},
	[CK_ADD]         = {K_ADD, 0},
	[CK_MUL]         = {K_MUL, 0},
	[CK_CHMAP]       = {K_CHMAP, 0},
	[CK_PAD]         = {K_PAD, CK(CK_PAD_INDEX)},
	[CK_SOFTMAX]     = {K_SOFTMAX, 0},
	[CK_RELU]        = {K_RELU, 0},
	[CK_RELU6]       = {K_RELU6, 0},
	[CK_SIGMOID]     = {K_SIGMOID, 0},
	[CK_HARDSWISH]   = {K_HARDSWISH, 0},
	[CK_HARDSIGMOID] = {K_HARDSIGMOID, 0},
	[CK_SILU]        = {K_SILU, 0},
	[CK_GELU]        = {K_GELU, 0},
	/* int8 (kernels_q8.c) */
	[CK_QMATH]       = {cg_k_qmath, 0},
	[CK_QCONV_PLANE] = {cg_k_qconv_plane, CK(CK_QMATH) | CK(CK_CONV_GEOM) | CK(CK_PAD_INDEX) | CK(CK_WEIGHTS)},
	[CK_QCONV]       = {cg_k_qconv, CK(CK_QCONV_PLANE)},
	[CK_QLINEAR]     = {cg_k_qlinear, CK(CK_QMATH) | CK(CK_WEIGHTS)},
	[CK_QMAXPOOL]    = {cg_k_qmaxpool, CK(CK_QMATH) | CK(CK_POOL_WINDOW)},
	[CK_QAVGPOOL]    = {cg_k_qavgpool, CK(CK_QMATH) | CK(CK_POOL_WINDOW)},
	[CK_QPOOL]       = {cg_k_qpool, CK(CK_QMATH) | CK(CK_POOL_WINDOW)},
	[CK_QCONV_POOL]  = {cg_k_qconv_pool, CK(CK_QCONV_PLANE) | CK(CK_POOL_WINDOW)},
	[CK_QGAP]        = {cg_k_qgap, CK(CK_QMATH)},
	[CK_QADD]        = {cg_k_qadd, CK(CK_QMATH)},
	[CK_QREQUANT]    = {cg_k_qrequant, CK(CK_QMATH)},
	[CK_QCLAMP]      = {cg_k_qclamp, 0},
	[CK_QUANTIZE]    = {cg_k_quantize, 0},
	[CK_DEQUANTIZE]  = {cg_k_dequantize, 0},
};

cg_mask cg_kernel_deps(cg_kernel_id k) { return kernels[k].deps; }

static void put_text(sn_buf *b, const char *s) { sn_buf_put(b, s, strlen(s)); }

void cg_kernels_write(sn_buf *b, cg_mask used, unsigned forms)
{
	static const char *const form_case[SN_CG_FORMS] = {K_WT_DENSE, K_WT_CSR8, K_WT_CSR16, K_WT_BITMAP};
	/* with their dependencies, which come before them in the enum and so in the text */
	for (int pass = 0; pass < CK_COUNT; pass++)
		for (int k = 0; k < CK_COUNT; k++)
			if (used & CK(k)) used |= kernels[k].deps;
	for (int k = 0; k < CK_COUNT; k++) {
		if (!(used & CK(k))) continue;
		if (k == CK_WEIGHTS) {
			put_text(b, K_WT_HEAD);
			for (int f = 0; f < SN_CG_FORMS; f++)
				if (forms & (1u << f)) put_text(b, form_case[f]);
			put_text(b, K_WT_TAIL);
		} else {
			put_text(b, kernels[k].text);
		}
		put_text(b, "\n");
	}
}
