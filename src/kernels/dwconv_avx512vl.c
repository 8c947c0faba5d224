/* The depthwise flat kernels for AVX-512 F and VL on ymm vectors (8 floats): not for wider
 * vectors (Zen 4 splits zmm operations in two; depthwise kernels on zmm measured 0-10 % slower
 * there), but for the 32 registers, which hold a 5x5 kernel's weights and two output rows'
 * sums, and the mask registers, whose masked loads read zeros outside a row for free. Only
 * these functions carry the target attribute: sn_dw_best_isa() picks. */
#include <immintrin.h>
#include <stdint.h>
#include "kernels/kernels.h"

#define TARGET __attribute__((target("avx2,fma,avx512f,avx512vl")))

/* lanes [lo, hi) */
static inline TARGET __mmask8 dw_kmask(int lo, int hi)
{
	lo = sn_clampi(lo, 0, 8);
	hi = sn_clampi(hi, lo, 8);
	return (__mmask8)((1u << hi) - (1u << lo));
}

#include "kernels/dwconv_ymm.h"
#define VSTOREN(p, v, n) _mm256_mask_storeu_ps(p, dw_kmask(0, n), v)
#define VM __mmask8
#define VMASK(lo, hi) dw_kmask(lo, hi)
#define VLOADM(p, m) _mm256_maskz_loadu_ps(m, p)
#define NAME(f) f##__avx512vl
/* output rows a step: 5x5, 4 (25 weights, 8 sums and a tap in registers, 2 weights spilled:
 * 40 loads for 100 FMAs); 3x3, 2 (measured faster than 3 or 4) */
#define DW_FLAT_ROWS(K) ((K) == 5 ? 4 : 2)

#include "kernels/dwconv_impl.h"
