/* Max pooling over 2x2 windows at stride 2 (kernels/maxpool2x2.h), in the compiler's generic
 * vectors: rows of 7 or 14 outputs are too short for its own vectorised loops, and its scalar
 * code branched on random data. Float: NaN propagates as in the general path (a value replaces
 * the running maximum when it is larger or NaN). */
#include <string.h>
#include "kernels/maxpool2x2.h"

#define INLINE static inline __attribute__((always_inline))

typedef float pool_v8 __attribute__((vector_size(32)));
typedef int32_t pool_i8 __attribute__((vector_size(32)));
typedef int8_t pool_b32 __attribute__((vector_size(32)));
typedef int16_t pool_h16 __attribute__((vector_size(32)));
typedef int8_t pool_b16 __attribute__((vector_size(16)));

/* One vector of outputs from two rows: y[i] = max of r0[2i], r0[2i + 1], r1[2i], r1[2i + 1], and
 * with arg (float) its index: k0 + 2i (+ 1, + w, + w + 1). Functions without vector arguments or
 * results (their ABI would depend on whether the build enables AVX). */
typedef void window_fn(const void *r0, const void *r1, void *y, int32_t *arg, int32_t k0, int32_t w);

INLINE void max8_f32(const void *r0, const void *r1, void *y, int32_t *arg, int32_t k0, int32_t w)
{
	pool_v8 a0, a1, b0, b1;
	memcpy(&a0, r0, 32); memcpy(&a1, (const float *)r0 + 8, 32);
	memcpy(&b0, r1, 32); memcpy(&b1, (const float *)r1 + 8, 32);
	const pool_i8 even = {0, 2, 4, 6, 8, 10, 12, 14}, odd = even + 1;
	const pool_v8 c[4] = {__builtin_shuffle(a0, a1, even), __builtin_shuffle(a0, a1, odd), __builtin_shuffle(b0, b1, even),
	                      __builtin_shuffle(b0, b1, odd)};
	const int32_t off[4] = {0, 1, w, w + 1};
	pool_v8 v = c[0];
	pool_i8 k = even + k0;
	for (int i = 1; i < 4; i++) {   /* c[i] replaces v (and its index k) where larger or NaN */
		const pool_i8 m = (c[i] > v) | (c[i] != c[i]);
		k = ((even + (k0 + off[i])) & m) | (k & ~m);
		v = (pool_v8)(((pool_i8)c[i] & m) | ((pool_i8)v & ~m));
	}
	memcpy(y, &v, 32);
	if (arg) memcpy(arg, &k, 32);
}

/* int8, 16 outputs: the rows' byte maximum, then each pair's as the two halves of an int16 (byte
 * shuffles cost more than these shifts) */
INLINE void max16_s8(const void *r0, const void *r1, void *y, int32_t *arg, int32_t k0, int32_t w)
{
	pool_b32 a, b;
	memcpy(&a, r0, 32); memcpy(&b, r1, 32);
	const pool_b32 ma = a > b;
	const pool_h16 h = (pool_h16)((a & ma) | (b & ~ma)), hi = h >> 8, lo = (pool_h16)(h << 8) >> 8, mh = hi > lo;
	const pool_b16 v = __builtin_convertvector((hi & mh) | (lo & ~mh), pool_b16);
	memcpy(y, &v, 16);
}

/* Output rows [r0, r1) of es-byte values, vec outputs a vector, in order. A row's last vector
 * runs past its end: it reads the rows after it (which exist, unless this is the tensor's last
 * row) and writes outputs of the next row, which this loop writes again next, with their right
 * values; rows of 7 or 14 outputs thus need no partial vectors. A vector that would write past
 * the range (another thread's outputs) or read past the tensor (xend) takes a zero-padded copy
 * instead. Inlined once per kernel (and with and without arg). */
INLINE void rows(window_fn *f, size_t es, int vec, const char *x, int h, int w, int oh, int ow, size_t r0, size_t r1,
                 const char *xend, char *y, int32_t *arg)
{
	const char *yend = y + r1 * ow * es;
	const size_t xplane = (size_t)h * w * es;
	for (size_t r = r0; r < r1; r++) {
		const size_t pl = r / oh;
		const int i = (int)(r % oh);
		const char *a = x + pl * xplane + (size_t)2 * i * w * es, *b = a + w * es;
		char *yr = y + r * ow * es;
		int32_t *ar = arg ? arg + r * ow : NULL;
		const int32_t at = 2 * i * w;
		int j = 0;
		for (; j < ow; j += vec) {
			if (j + vec > ow && (yr + (j + vec) * es > yend || b + (2 * j + 2 * vec) * es > xend)) break;
			f(a + 2 * j * es, b + 2 * j * es, yr + j * es, ar ? ar + j : NULL, at + 2 * j, w);
		}
		if (j < ow) {
			const size_t n = (size_t)(ow - j) * es;
			char t0[64] = {0}, t1[64] = {0}, t[32];
			int32_t k[8];
			memcpy(t0, a + 2 * j * es, 2 * n);
			memcpy(t1, b + 2 * j * es, 2 * n);
			f(t0, t1, t, ar ? k : NULL, at + 2 * j, w);
			memcpy(yr + j * es, t, n);
			if (ar) memcpy(ar + j, k, (size_t)(ow - j) * sizeof *k);
		}
	}
}

void sn_f32_maxpool2x2(const float *x, int h, int w, int oh, int ow, size_t r0, size_t r1, const float *xend, float *y,
                       int32_t *arg)
{
	if (arg) rows(max8_f32, 4, 8, (const char *)x, h, w, oh, ow, r0, r1, (const char *)xend, (char *)y, arg);
	else rows(max8_f32, 4, 8, (const char *)x, h, w, oh, ow, r0, r1, (const char *)xend, (char *)y, NULL);
}

void sn_s8_maxpool2x2(const int8_t *x, int h, int w, int oh, int ow, size_t r0, size_t r1, const int8_t *xend, int8_t *y)
{
	rows(max16_s8, 1, 16, (const char *)x, h, w, oh, ow, r0, r1, (const char *)xend, (char *)y, NULL);
}
