/* Softmax over the channels at every pixel (torch.nn.Softmax(dim=1)); a rank-2 [N,C] input is
 * the classifier case. Max-subtracted for range; backward reads the output only:
 * dx = y * (dy - sum_c dy * y). The per-pixel sums live in the workspace, one row of H*W floats
 * per sample, so the channel loops run along contiguous planes. */
#include <math.h>
#include "core/internal.h"

static void softmax_sample(const float *x, int C, size_t HW, float *y, float *acc)
{
	for (size_t p = 0; p < HW; p++) acc[p] = -INFINITY;
	for (int c = 0; c < C; c++)
		for (size_t p = 0; p < HW; p++) acc[p] = fmaxf(acc[p], x[c * HW + p]);
	for (int c = 0; c < C; c++)
		for (size_t p = 0; p < HW; p++) y[c * HW + p] = expf(x[c * HW + p] - acc[p]);
	for (size_t p = 0; p < HW; p++) acc[p] = 0;
	for (int c = 0; c < C; c++)
		for (size_t p = 0; p < HW; p++) acc[p] += y[c * HW + p];
	for (int c = 0; c < C; c++)
		for (size_t p = 0; p < HW; p++) y[c * HW + p] /= acc[p];
}

static void softmax_grad_sample(const float *y, const float *dy, int C, size_t HW, float *dx, int accumulate, float *dot)
{
	for (size_t p = 0; p < HW; p++) dot[p] = 0;
	for (int c = 0; c < C; c++)
		for (size_t p = 0; p < HW; p++) dot[p] += dy[c * HW + p] * y[c * HW + p];
	for (int c = 0; c < C; c++)
		for (size_t p = 0; p < HW; p++) {
			float v = y[c * HW + p] * (dy[c * HW + p] - dot[p]);
			dx[c * HW + p] = accumulate ? dx[c * HW + p] + v : v;
		}
}

int sn_op_softmax(sn_graph *g, sn_node *n, sn_plan *pl, sn_action act)
{
	if (act == SN_ACT_SHAPE) { n->out = sn_in(g, n, 0)->out; return SN_OK; }
	sn_node_rt *p = sn_rt_in(pl, n, 0), *r = sn_rt(pl, n);
	const int C = n->out.c, B = pl->batch;
	const size_t HW = (size_t)n->out.h * n->out.w, N = (size_t)C * HW;
	switch (act) {
	case SN_ACT_SHAPE: return SN_OK;
	case SN_ACT_SIZES: r->ws_bytes = (size_t)B * HW * sizeof(float); return SN_OK;
	case SN_ACT_FORWARD:
		#pragma omp parallel for schedule(static)
		for (int s = 0; s < B; s++) softmax_sample(p->y + s * N, C, HW, r->y + s * N, pl->ws + s * HW);
		return SN_OK;
	case SN_ACT_BACKWARD: {
		if (!p->needs_grad) return SN_OK;
		const int acc = sn_dy_accumulate(p);
		#pragma omp parallel for schedule(static)
		for (int s = 0; s < B; s++)
			softmax_grad_sample(r->y + s * N, r->dy + s * N, C, HW, p->dy + s * N, acc, pl->ws + s * HW);
		return SN_OK;
	}
	}
	return SN_OK;
}

/* every channel changes the others: not seen through by pruning */
const sn_op_def sn_op_def_softmax = {"softmax", "Softmax", 1, 1, sn_op_softmax, SN_OPF_READS_OUTPUT, .chan = SN_CH_OPAQUE};
