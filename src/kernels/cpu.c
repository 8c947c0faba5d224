/* CPU feature detection for every kernel dispatcher (dwconv, tiled conv GEMM, SpMM, int8).
 * A benign race in each: every thread computes the same value. (gcc's checks include the OS's
 * support for the AVX and AVX-512 register state.) */
#include <cpuid.h>
#include "kernels/cpu.h"

int sn_cpu_avx2(void)
{
	static int have = -1;
	if (have < 0) {
		__builtin_cpu_init();
		have = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
	}
	return have;
}

int sn_cpu_avx512vl(void)
{
	static int have = -1;
	if (have < 0) {
		__builtin_cpu_init();
		have = sn_cpu_avx2() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl");
	}
	return have;
}

int sn_cpu_avx512vnni(void)
{
	static int have = -1;
	if (have < 0) {
		__builtin_cpu_init();
		have = sn_cpu_avx2() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
		       __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
	}
	return have;
}

int sn_cpu_avxvnni(void)
{
	static int have = -1;
	if (have < 0) {
		__builtin_cpu_init();
		/* CPUID leaf 7, sub-leaf 1, EAX bit 4, asked directly: clang before 15 has no "avxvnni"
		 * for __builtin_cpu_supports (and the OS's YMM support comes with sn_cpu_avx2) */
		unsigned a = 0, b = 0, c = 0, d = 0;
		have = sn_cpu_avx2() && __get_cpuid_count(7, 1, &a, &b, &c, &d) && (a >> 4 & 1);
	}
	return have;
}

const int32_t sn_avx2_lane_bits[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
