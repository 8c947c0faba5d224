/* int8 layers that join or move tensors of different parameters (qmath.h's arithmetic):
 *
 *   add      y = y_zp + Mo * sum_i Mi * ((x_i - zp_i) * 2^20), as TFLite's ADD does it for two
 *            inputs and here for up to SN_Q8_ADD_MAX: every input's multiplier
 *            Mi = s_i / (2 * max_j s_j) is below one, and the output's Mo = 2 * max_j s_j /
 *            (2^20 * y_scale); the sum stays within int32 (|term| <= 2^27);
 *   requant  y = y_zp + M * (x - x_zp), M = x_scale / y_scale (concat's inputs, average pools);
 * each clamped to [lo, hi]. */
#ifndef SN_KERNELS_QJOIN_H
#define SN_KERNELS_QJOIN_H
#include "kernels/qmath.h"

#define SN_Q8_ADD_MAX 8
#define SN_Q8_ADD_SHIFT 20

typedef struct {
	int n;
	sn_q_mult in[SN_Q8_ADD_MAX], out;
	int32_t zp[SN_Q8_ADD_MAX], y_zp, lo, hi;
} sn_q8_add_params;

/* The parameters of adding n (2..SN_Q8_ADD_MAX) tensors x[i] into y. */
sn_q8_add_params sn_q8_add_init(int n, const sn_qparams *x, sn_qparams y, int32_t lo, int32_t hi);
/* y[k] = the sum of x[i][k], k < len: the specification (plain C, qmath.h's functions) */
void sn_q8_add_ref(const int8_t *const *x, size_t len, const sn_q8_add_params *p, int8_t *y);
/* The same bytes, fast: the add kernel of the instruction set the int8 kernels run on (qconv.h's
 * choice, sn_q8_force_path included); sn_q8_add_kernel names it ("q8_add__avx512vnni"). One
 * thread; allocates nothing. */
void sn_q8_add(const int8_t *const *x, size_t len, const sn_q8_add_params *p, int8_t *y);
const char *sn_q8_add_kernel(void);
/* y[k] = y_zp + M (x[k] - x_zp), clamped to [-128, 127]; a plain copy when the parameters agree */
void sn_q8_requant(const int8_t *x, size_t len, sn_qparams from, sn_qparams to, int8_t *y);
#endif
