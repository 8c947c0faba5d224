/* The GEMM of the tiled inference convs (src/ops/conv.c) for AVX2+FMA: y = act(bias + W col)
 * over one tile of output pixels, in 6x16 register blocks (6 output channels x 16 pixels: 12
 * accumulators, two B vectors, one broadcast weight). Why not OpenBLAS here: on a tile it
 * repacks the weights for every call, zeroes C before the product (beta = 0) and leaves bias and
 * activation to another pass over y; here bias and activation are applied while the block is in
 * registers and the weights are read where they lie: each of the 6 rows is a sequential stream
 * that the prefetchers follow. Packing them into 6-row panels once per pass measured no faster
 * on the bench's convs and 4 % slower on ResNet-18 (its 3x3 512 -> 512 weights are 9 MiB: one
 * more pass over them for two 49-pixel tiles).
 * K runs in chunks of KC so that a 16-pixel column block of B [KC x 16] stays in L1 while every
 * block of output channels reads it; later chunks add to the y block written by the first.
 * Only these functions carry the target attribute: the library still runs without AVX2. */
#include <immintrin.h>
#include <stdint.h>
#include "kernels/kernels.h"

#define TARGET __attribute__((target("avx2,fma")))
#define MR SN_CT_MR
#define NR 16
#define KC 256

/* lanes [0, n) of a vector on, n clamped to [0, 8] */
static inline TARGET __m256i lanes(int n) { return _mm256_loadu_si256((const __m256i *)(sn_avx2_lane_bits + 8 - SN_MIN(SN_MAX(n, 0), 8))); }

static inline TARGET __m256 load(const float *p, __m256i m, int masked)
{
	return masked ? _mm256_maskload_ps(p, m) : _mm256_loadu_ps(p);
}

static inline TARGET void store(float *p, __m256i m, int masked, __m256 v)
{
	if (masked) _mm256_maskstore_ps(p, m, v);
	else _mm256_storeu_ps(p, v);
}

/* The MR weight rows of a block, lda floats apart; rows past mr repeat row mr - 1 (their sums
 * are dropped), so the loops need no bound. */
static inline __attribute__((always_inline)) void weight_rows(const float *a, size_t lda, int mr, const float **a0,
                                                              const float **a1, const float **a2, const float **a3,
                                                              const float **a4, const float **a5)
{
	*a0 = a; *a1 = a + SN_MIN(1, mr - 1) * lda; *a2 = a + SN_MIN(2, mr - 1) * lda;
	*a3 = a + SN_MIN(3, mr - 1) * lda; *a4 = a + SN_MIN(4, mr - 1) * lda; *a5 = a + SN_MIN(5, mr - 1) * lda;
}

/* c [mr x nr] (rows ldc apart) = act(bias + a b) or, with acc, act(c + a b); a: the weights
 * [mr x kc] from the chunk's first column, rows lda floats apart (rows past mr read row mr - 1,
 * their sums are dropped); b: kc rows of at least nr floats, ldb apart. bias may be NULL.
 * masked: nr < 16, every access of b and c masked to nr. */
static inline __attribute__((always_inline)) TARGET void block(int kc, const float *a, size_t lda, const float *b,
                                                              size_t ldb, float *c, size_t ldc, int mr, int nr,
                                                              const float *bias, int acc, int act, int masked)
{
	const __m256i m0 = lanes(nr), m1 = lanes(nr - 8);
	const float *a0, *a1, *a2, *a3, *a4, *a5;
	weight_rows(a, lda, mr, &a0, &a1, &a2, &a3, &a4, &a5);
	__m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
	__m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
	for (int k = 0; k < kc; k++, b += ldb) {
		const __m256 b0 = load(b, m0, masked), b1 = load(b + 8, m1, masked);
		__m256 w = _mm256_broadcast_ss(a0 + k);
		c00 = _mm256_fmadd_ps(w, b0, c00); c01 = _mm256_fmadd_ps(w, b1, c01);
		w = _mm256_broadcast_ss(a1 + k);
		c10 = _mm256_fmadd_ps(w, b0, c10); c11 = _mm256_fmadd_ps(w, b1, c11);
		w = _mm256_broadcast_ss(a2 + k);
		c20 = _mm256_fmadd_ps(w, b0, c20); c21 = _mm256_fmadd_ps(w, b1, c21);
		w = _mm256_broadcast_ss(a3 + k);
		c30 = _mm256_fmadd_ps(w, b0, c30); c31 = _mm256_fmadd_ps(w, b1, c31);
		w = _mm256_broadcast_ss(a4 + k);
		c40 = _mm256_fmadd_ps(w, b0, c40); c41 = _mm256_fmadd_ps(w, b1, c41);
		w = _mm256_broadcast_ss(a5 + k);
		c50 = _mm256_fmadd_ps(w, b0, c50); c51 = _mm256_fmadd_ps(w, b1, c51);
	}
	const __m256 r[MR][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
	const __m256 zero = _mm256_setzero_ps(), six = _mm256_set1_ps(6.0f);
	for (int i = 0; i < mr; i++) {
		float *ci = c + (size_t)i * ldc;
		__m256 v0 = r[i][0], v1 = r[i][1];
		if (acc) {
			v0 = _mm256_add_ps(v0, load(ci, m0, masked));
			v1 = _mm256_add_ps(v1, load(ci + 8, m1, masked));
		} else if (bias) {
			const __m256 bi = _mm256_broadcast_ss(bias + i);
			v0 = _mm256_add_ps(v0, bi);
			v1 = _mm256_add_ps(v1, bi);
		}
		if (act) { /* max(v, 0) returns the 0 for NaN, as the ReLU operator does */
			v0 = _mm256_max_ps(v0, zero);
			v1 = _mm256_max_ps(v1, zero);
			if (act == SN_KACT_RELU6) { v0 = _mm256_min_ps(v0, six); v1 = _mm256_min_ps(v1, six); }
		}
		store(ci, m0, masked, v0);
		store(ci + 8, m1, masked, v1);
	}
}

static TARGET void block_full(int kc, const float *a, size_t lda, const float *b, size_t ldb, float *c, size_t ldc,
                              int mr, const float *bias, int acc, int act)
{
	block(kc, a, lda, b, ldb, c, ldc, mr, NR, bias, acc, act, 0);
}

static TARGET void block_tail(int kc, const float *a, size_t lda, const float *b, size_t ldb, float *c, size_t ldc,
                              int mr, int nr, const float *bias, int acc, int act)
{
	block(kc, a, lda, b, ldb, c, ldc, mr, nr, bias, acc, act, 1);
}

/* nr <= 8: one vector a row, half the work of a masked 16-pixel block (14x14 images end in 4) */
static TARGET void block_tail8(int kc, const float *a, size_t lda, const float *b, size_t ldb, float *c, size_t ldc,
                               int mr, int nr, const float *bias, int acc, int act)
{
	const __m256i m = lanes(nr);
	const float *a0, *a1, *a2, *a3, *a4, *a5;
	weight_rows(a, lda, mr, &a0, &a1, &a2, &a3, &a4, &a5);
	__m256 c0 = _mm256_setzero_ps(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0;
	for (int k = 0; k < kc; k++, b += ldb) {
		const __m256 b0 = _mm256_maskload_ps(b, m);
		c0 = _mm256_fmadd_ps(_mm256_broadcast_ss(a0 + k), b0, c0);
		c1 = _mm256_fmadd_ps(_mm256_broadcast_ss(a1 + k), b0, c1);
		c2 = _mm256_fmadd_ps(_mm256_broadcast_ss(a2 + k), b0, c2);
		c3 = _mm256_fmadd_ps(_mm256_broadcast_ss(a3 + k), b0, c3);
		c4 = _mm256_fmadd_ps(_mm256_broadcast_ss(a4 + k), b0, c4);
		c5 = _mm256_fmadd_ps(_mm256_broadcast_ss(a5 + k), b0, c5);
	}
	const __m256 r[MR] = {c0, c1, c2, c3, c4, c5};
	for (int i = 0; i < mr; i++) {
		float *ci = c + (size_t)i * ldc;
		__m256 v = r[i];
		if (acc) v = _mm256_add_ps(v, _mm256_maskload_ps(ci, m));
		else if (bias) v = _mm256_add_ps(v, _mm256_broadcast_ss(bias + i));
		if (act) v = _mm256_max_ps(v, _mm256_setzero_ps());
		if (act == SN_KACT_RELU6) v = _mm256_min_ps(v, _mm256_set1_ps(6.0f));
		_mm256_maskstore_ps(ci, m, v);
	}
}

/* The register block at (m0, n0) of the chunk of K columns [k0 + kc0, k0 + kc0 + kc). */
static inline __attribute__((always_inline)) TARGET void chunk_block(int M, int n, int K, int k0, int kc0, int kc,
                                                                    int m0, int n0, const float *w, const float *b,
                                                                    size_t ldb, const float *bias, int act, float *y,
                                                                    size_t ldy)
{
	const int acc = k0 + kc0 > 0, fin = k0 + kc0 + kc == K;
	const float *a = w + (size_t)m0 * K + k0 + kc0, *bb = b + (size_t)kc0 * ldb + n0;
	const float *bi = bias && !acc ? bias + m0 : NULL;
	float *c = y + (size_t)m0 * ldy + n0;
	const int mr = SN_MIN(MR, M - m0), a_ = fin ? act : 0;
	if (n - n0 >= NR) block_full(kc, a, K, bb, ldb, c, ldy, mr, bi, acc, a_);
	else if (n - n0 > 8) block_tail(kc, a, K, bb, ldb, c, ldy, mr, n - n0, bi, acc, a_);
	else block_tail8(kc, a, K, bb, ldb, c, ldy, mr, n - n0, bi, acc, a_);
}

/* Tiles of at most this many pixels run the weights' row blocks in the outer loop: each 6-row
 * block of a chunk is read once, from L1, for all the tile's pixel blocks, while b [KC x n]
 * (64 KiB at most) stays in L2. Wider tiles keep a column block of b in L1 instead and stream the
 * weights past it. On 7x7 images (one tile of 49 pixels), whose weights come from L3 in a
 * network, this took MobileNetV2's 1x1 convs there from 1.53 to 1.34 ms (2 threads). */
#define M_OUTER_MAX_N 64

/* Columns [c0, c0 + kc) of weight rows [m, m + MR) (those below M) into L1 ahead of use, while
 * the block before them computes: a block's rows are short streams (kc floats each) that the
 * hardware prefetchers barely catch before they end, and in a network the weights come from L3
 * or memory. MobileNetV2's 1x1 convs took 13 % less time on one thread (paired runs; none
 * measurable on two). Wider tiles prefetch during their first column block only, after which
 * the weights sit in L2. */
static inline void prefetch_rows(const float *w, int K, int c0, int kc, int m, int M)
{
	for (int r = m; r < SN_MIN(m + MR, M); r++)
		for (int k = 0; k < kc; k += 16) _mm_prefetch((const char *)(w + (size_t)r * K + c0 + k), _MM_HINT_T0);
}

TARGET void sn_ct_gemm(int M, int n, int K, int k0, int kn, const float *w, const float *b, size_t ldb,
                       const float *bias, int act, float *y, size_t ldy)
{
	/* equal chunks of at most KC: a short last one would reload the y block for little work */
	const int nc = (kn + KC - 1) / KC, step = (kn + nc - 1) / nc;
	for (int kc0 = 0; kc0 < kn; kc0 += step) {
		const int kc = SN_MIN(step, kn - kc0);
		if (n <= M_OUTER_MAX_N)
			for (int m0 = 0; m0 < M; m0 += MR) {
				prefetch_rows(w, K, k0 + kc0, kc, m0 + MR, M);
				for (int n0 = 0; n0 < n; n0 += NR) chunk_block(M, n, K, k0, kc0, kc, m0, n0, w, b, ldb, bias, act, y, ldy);
			}
		else
			for (int n0 = 0; n0 < n; n0 += NR)
				for (int m0 = 0; m0 < M; m0 += MR) {
					if (n0 == 0) prefetch_rows(w, K, k0 + kc0, kc, m0 + MR, M);
					chunk_block(M, n, K, k0, kc0, kc, m0, n0, w, b, ldb, bias, act, y, ldy);
				}
	}
}
