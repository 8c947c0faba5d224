/* int8 add and requantizing copy (qjoin.h). */
#include <string.h>
#include "kernels/q8_internal.h"
#include "kernels/qjoin.h"

sn_q8_add_params sn_q8_add_init(int n, const sn_qparams *x, sn_qparams y, int32_t lo, int32_t hi)
{
	sn_q8_add_params p = {.n = n, .y_zp = y.zero_point, .lo = lo, .hi = hi};
	double max = 0;
	for (int i = 0; i < n; i++) max = x[i].scale > max ? x[i].scale : max;
	for (int i = 0; i < n; i++) {
		p.in[i] = sn_q_multiplier(x[i].scale / (2 * max));
		p.zp[i] = x[i].zero_point;
	}
	p.out = sn_q_multiplier(2 * max / ((double)(1 << SN_Q8_ADD_SHIFT) * y.scale));
	return p;
}

void sn_q8_add_ref(const int8_t *const *x, size_t len, const sn_q8_add_params *p, int8_t *y)
{
	for (size_t k = 0; k < len; k++) {
		int32_t sum = 0;
		for (int i = 0; i < p->n; i++)
			sum += sn_q_requant(((int32_t)x[i][k] - p->zp[i]) * (1 << SN_Q8_ADD_SHIFT), p->in[i]);
		y[k] = sn_q_output(sum, p->out, p->y_zp, p->lo, p->hi);
	}
}

void sn_q8_add(const int8_t *const *x, size_t len, const sn_q8_add_params *p, int8_t *y)
{
	sn_q8_add_path(NULL)(x, len, p, y);
}

const char *sn_q8_add_kernel(void)
{
	const char *name;
	sn_q8_add_path(&name);
	return name;
}

void sn_q8_requant(const int8_t *x, size_t len, sn_qparams from, sn_qparams to, int8_t *y)
{
	if (from.scale == to.scale && from.zero_point == to.zero_point) {
		memmove(y, x, len);
		return;
	}
	const sn_q_mult m = sn_q_multiplier((double)from.scale / to.scale);
	for (size_t k = 0; k < len; k++) y[k] = sn_q_output((int32_t)x[k] - from.zero_point, m, to.zero_point, -128, 127);
}
