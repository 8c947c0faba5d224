/* q8_requant_zmm.h (16 lanes, AVX-512) against qmath.h: see q8_requant_check.h */
#include "kernels/cpu.h"
#include "kernels/q8_requant_zmm.h"
#define RQ_TARGET Q8Z
#define RQ_CPU sn_cpu_avx512vnni
#define RQ_NAME q8_requant_zmm_lanes_match_qmath
#define RQ_LANES 16
#define RQ_TYPE q8z_rq
#define RQ_MAKE_FN q8z_rq_make
#define RQ_LANES_FN q8z_rq_lanes
#define RQ_APPLY q8z_requant
#define RQ_LOADV(p) _mm512_loadu_si512((const void *)(p))
#define RQ_STORE(p, v) _mm512_storeu_si512((void *)(p), v)
#include "q8_requant_check.h"
