/* What every kernel asks of the machine: the CPU's vector features (detected here, once, for
 * every dispatcher), the AVX2 lane masks, and the threads work is split over. Kernels know
 * nothing of graphs: no kernels header includes slimnn.h or core/ (docs/architecture.md). */
#ifndef SN_KERNELS_CPU_H
#define SN_KERNELS_CPU_H
#include <stdint.h>

#define SN_MIN(a, b) ((a) < (b) ? (a) : (b))
#define SN_MAX(a, b) ((a) > (b) ? (a) : (b))

/* 1 when the CPU runs AVX2 and FMA, the *__avx2 kernels' instructions (they are compiled for
 * them whatever -march says), else 0. */
int sn_cpu_avx2(void);
/* 1 when the CPU runs AVX2 and FMA and AVX-512 F and VL (the *__avx512vl kernels': ymm vectors
 * with 32 registers and mask registers), else 0. */
int sn_cpu_avx512vl(void);
/* 1 when the CPU runs AVX-512 F, BW, VL and VNNI (the *__avx512vnni kernels' instructions), or
 * AVX-VNNI (vpdpbusd on ymm, the *__avxvnni kernels' besides AVX2's), else 0. */
int sn_cpu_avx512vnni(void);
int sn_cpu_avxvnni(void);

/* The 8 ints from sn_avx2_lane_bits + 8 - n are the mask of lanes [0, n) of a ymm vector (all
 * bits set in those lanes, 0 in the others), for n in [0, 8]: masked loads and stores of a
 * partial vector. */
extern const int32_t sn_avx2_lane_bits[16];

/* The OpenMP threads of the kernels (kernels/threads.c; public in slimnn.h). */
void sn_set_threads(int n);
int sn_get_threads(void);
#endif
