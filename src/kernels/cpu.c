/* CPU feature detection for every kernel dispatcher (dwconv, tiled conv GEMM, SpMM). */
#include "kernels/cpu.h"

int sn_cpu_avx2(void)
{
	static int have = -1;   /* a benign race: every thread computes the same value */
	if (have < 0) {
		__builtin_cpu_init();
		have = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
	}
	return have;
}

const int32_t sn_avx2_lane_bits[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
