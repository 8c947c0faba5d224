/* q8_requant_ymm.h (8 lanes, AVX2) against qmath.h: see q8_requant_check.h */
#include "kernels/cpu.h"
#include "kernels/q8_requant_ymm.h"
#define RQ_TARGET Q8Y_AVX2
#define RQ_CPU sn_cpu_avx2
#define RQ_NAME q8_requant_ymm_lanes_match_qmath
#define RQ_LANES 8
#define RQ_TYPE q8y_rq
#define RQ_MAKE_FN q8y_rq_make
#define RQ_LANES_FN q8y_rq_lanes
#define RQ_APPLY q8y_requant
#define RQ_LOADV(p) _mm256_loadu_si256((const __m256i *)(p))
#define RQ_STORE(p, v) _mm256_storeu_si256((__m256i *)(p), v)
#include "q8_requant_check.h"
