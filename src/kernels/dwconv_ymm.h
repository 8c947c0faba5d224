/* The depthwise template's vector words (kernels/dwconv_impl.h) that mean the same on 8-float
 * ymm vectors for AVX2 and for AVX-512VL: each of those files adds its own masked loads and
 * stores, then includes dwconv_impl.h. Needs <immintrin.h>. */
#define V __m256
#define VN 8
#define VZERO() _mm256_setzero_ps()
#define VSET1(f) _mm256_set1_ps(f)
#define VLOAD(p) _mm256_loadu_ps(p)
#define VSTORE(p, v) _mm256_storeu_ps(p, v)
#define VFMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define VADD(a, b) _mm256_add_ps(a, b)
#define VMAX(a, b) _mm256_max_ps(a, b)
#define VMIN(a, b) _mm256_min_ps(a, b)
