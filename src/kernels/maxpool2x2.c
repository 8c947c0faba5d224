/* Max pooling over 2x2 windows at stride 2 (kernels/maxpool2x2.h), in the compiler's generic
 * vectors: rows of 7 or 14 outputs are too short for its own vectorised loops, and its scalar
 * code branched on random data. NaN propagates as in the general path: a value replaces the
 * running maximum when it is larger or NaN. */
#include <string.h>
#include "kernels/maxpool2x2.h"

typedef float pool_v8 __attribute__((vector_size(32)));
typedef int32_t pool_i8 __attribute__((vector_size(32)));

/* y[i] = max of the window at r0[2i], r0[2i + 1], r1[2i], r1[2i + 1] for i < 8, and with arg its
 * index: k0 + 2i (+ 1, + w, + w + 1). One function without vector arguments or results (their
 * ABI would depend on whether the build enables AVX). */
static inline __attribute__((always_inline)) void pool_max8(const float *r0, const float *r1, float *y, int32_t *arg, int32_t k0, int32_t w)
{
	pool_v8 a0, a1, b0, b1;
	memcpy(&a0, r0, 32); memcpy(&a1, r0 + 8, 32); memcpy(&b0, r1, 32); memcpy(&b1, r1 + 8, 32);
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

/* The windows of output rows [r0, r1), 8 outputs at a time, in order. A row's last vector runs
 * past its end: it reads the rows after it (which exist, unless this is the tensor's last row)
 * and writes outputs of the next row, which this loop writes again next, with their right values; rows of 7 or 14 outputs thus
 * need no partial vectors. A vector that would write past the range (another thread's outputs)
 * or read past the tensor (xend) takes a zero-padded copy instead. Inlined twice, with and
 * without arg. */
static inline __attribute__((always_inline)) void rows(const float *x, int h, int w, int oh, int ow, size_t r0,
                                                        size_t r1, const float *xend, float *y, int32_t *arg)
{
	const float *yend = y + r1 * ow;
	const size_t xplane = (size_t)h * w;
	for (size_t r = r0; r < r1; r++) {
		const size_t pl = r / oh;
		const int i = (int)(r % oh);
		const float *a = x + pl * xplane + (size_t)2 * i * w, *b = a + w;
		float *yr = y + r * ow;
		int32_t *ar = arg ? arg + r * ow : NULL;
		const int32_t at = 2 * i * w;
		int j = 0;
		for (; j < ow; j += 8) {
			if (j + 8 > ow && (yr + j + 8 > yend || b + 2 * j + 16 > xend)) break;
			pool_max8(a + 2 * j, b + 2 * j, yr + j, ar ? ar + j : NULL, at + 2 * j, w);
		}
		if (j < ow) {
			const int n = ow - j;
			float t0[16] = {0}, t1[16] = {0}, t[8];
			int32_t k[8];
			memcpy(t0, a + 2 * j, 2 * (size_t)n * sizeof *t0);
			memcpy(t1, b + 2 * j, 2 * (size_t)n * sizeof *t1);
			pool_max8(t0, t1, t, ar ? k : NULL, at + 2 * j, w);
			memcpy(yr + j, t, (size_t)n * sizeof *t);
			if (ar) memcpy(ar + j, k, (size_t)n * sizeof *k);
		}
	}
}

void sn_f32_maxpool2x2(const float *x, int h, int w, int oh, int ow, size_t r0, size_t r1, const float *xend, float *y,
                       int32_t *arg)
{
	if (arg) rows(x, h, w, oh, ow, r0, r1, xend, y, arg);
	else rows(x, h, w, oh, ow, r0, r1, xend, y, NULL);
}

