/* BatchNorm2d. Training: batch statistics (biased variance to normalise, unbiased for the
 * running estimate, as PyTorch), running stats updated with momentum. Eval: running stats.
 * Saved for backward: per-channel mean and 1/sqrt(var + eps). */
#include <math.h>
#include "core/internal.h"

static int bn_shape(sn_graph *g, sn_node *n)
{
	sn_shape in = sn_in(g, n, 0)->out;
	if (in.rank != 4) return sn_shape_error(n, in, "BatchNorm2d needs an image input [N, C, H, W]");
	n->out = in;
	for (int s = 0; s < 4; s++) {
		int rc = sn_need_tensor(g, n, s, 1, &in.c);
		if (rc) return rc;
	}
	return SN_OK;
}

static void bn_forward(sn_graph *g, sn_node *n, sn_plan *pl)
{
	const int C = n->out.c, HW = n->out.h * n->out.w, B = pl->batch;
	const float *x = sn_rt_in(pl, n, 0)->y, eps = n->a.bn.eps, mom = n->a.bn.momentum;
	float *gam = sn_t(g, n, SN_T_WEIGHT)->data, *bet = sn_t(g, n, SN_T_BIAS)->data;
	float *rm = sn_t(g, n, SN_T_MEAN)->data, *rv = sn_t(g, n, SN_T_VAR)->data;
	float *save = sn_rt(pl, n)->saved, *Y = sn_rt(pl, n)->y;
	const int train = pl->train;
	#pragma omp parallel for schedule(static)
	for (int c = 0; c < C; c++) {
		float mean, istd;
		if (train) {
			/* one pass: sum and sum of squares in double (no cancellation at these scales) */
			double s = 0, ss = 0;
			for (int b = 0; b < B; b++) {
				const float *xc = x + ((size_t)b * C + c) * HW;
				#pragma omp simd reduction(+ : s, ss)
				for (int i = 0; i < HW; i++) { s += xc[i]; ss += (double)xc[i] * xc[i]; }
			}
			double m = (double)B * HW, mu = s / m;
			ss = ss - s * mu;   /* sum of squared deviations */
			if (ss < 0) ss = 0;
			double var = ss / m;
			mean = (float)mu;
			istd = (float)(1.0 / sqrt(var + eps));
			rm[c] = (1 - mom) * rm[c] + mom * (float)mu;
			rv[c] = (1 - mom) * rv[c] + mom * (float)(m > 1 ? ss / (m - 1) : var);
			save[c] = mean; save[C + c] = istd;
		} else {
			mean = rm[c];
			istd = 1.0f / sqrtf(rv[c] + eps);
		}
		const float a = gam[c] * istd, sh = bet[c] - mean * a;
		for (int b = 0; b < B; b++) {
			const float *xc = x + ((size_t)b * C + c) * HW;
			float *yc = Y + ((size_t)b * C + c) * HW;
			for (int i = 0; i < HW; i++) yc[i] = xc[i] * a + sh;
		}
	}
}

static void bn_backward(sn_graph *g, sn_node *n, sn_plan *pl)
{
	sn_node_rt *p = sn_rt_in(pl, n, 0), *r = sn_rt(pl, n);
	const int C = n->out.c, HW = n->out.h * n->out.w, B = pl->batch;
	const float *x = p->y, *save = r->saved;
	sn_tensor *tg = sn_t(g, n, SN_T_WEIGHT), *tb = sn_t(g, n, SN_T_BIAS);
	int acc = p->needs_grad ? sn_dy_accumulate(p) : 0;
	const double m = (double)B * HW;
	#pragma omp parallel for schedule(static)
	for (int c = 0; c < C; c++) {
		const float mean = save[c], istd = save[C + c];
		double sdy = 0, sdyx = 0;  /* sum dy, sum dy * xhat */
		for (int b = 0; b < B; b++) {
			const float *xc = x + ((size_t)b * C + c) * HW, *dy = r->dy + ((size_t)b * C + c) * HW;
			for (int i = 0; i < HW; i++) { sdy += dy[i]; sdyx += dy[i] * (xc[i] - mean); }
		}
		sdyx *= istd;
		if (!n->frozen) { tg->grad[c] += (float)sdyx; tb->grad[c] += (float)sdy; }
		if (!p->needs_grad) continue;
		/* dx = gamma*istd/m * (m*dy - sum(dy) - xhat*sum(dy*xhat)) */
		const float k = tg->data[c] * istd, mdy = (float)(sdy / m), mdyx = (float)(sdyx / m);
		for (int b = 0; b < B; b++) {
			const float *xc = x + ((size_t)b * C + c) * HW, *dy = r->dy + ((size_t)b * C + c) * HW;
			float *dx = p->dy + ((size_t)b * C + c) * HW;
			for (int i = 0; i < HW; i++) {
				float v = k * (dy[i] - mdy - (xc[i] - mean) * istd * mdyx);
				dx[i] = acc ? dx[i] + v : v;
			}
		}
	}
}

int sn_op_bn(sn_graph *g, sn_node *n, sn_plan *pl, sn_action act)
{
	switch (act) {
	case SN_ACT_SHAPE: return bn_shape(g, n);
	case SN_ACT_SIZES: if (pl->train) sn_rt(pl, n)->saved_bytes = 2 * (size_t)n->out.c * sizeof(float); return SN_OK;
	case SN_ACT_FORWARD: bn_forward(g, n, pl); return SN_OK;
	case SN_ACT_BACKWARD: bn_backward(g, n, pl); return SN_OK;
	}
	return SN_OK;
}

static const sn_attr_def bn_attrs[] = {
	{.key = "eps", .type = SN_AT_FLOAT, .flags = SN_AF_LO_OPEN, .off = {SN_AT(a.bn.eps)}, .lo = 0, .hi = 1, .def = 1e-5f,
	 .expect = "a number in (0, 1], e.g. eps=1e-5"},
	{.key = "momentum", .type = SN_AT_FLOAT, .off = {SN_AT(a.bn.momentum)}, .lo = 0, .hi = 1, .def = 0.1f,
	 .expect = "a number in [0, 1], e.g. momentum=0.1"},
};
static const sn_tensor_def bn_tensors[] = {
	{"weight", SN_TENSOR_PARAM, SN_INIT_ONE}, {"bias", SN_TENSOR_PARAM, SN_INIT_ZERO},
	{"running_mean", SN_TENSOR_BUFFER, SN_INIT_ZERO}, {"running_var", SN_TENSOR_BUFFER, SN_INIT_ONE}};

const sn_op_def sn_op_def_bn = {"bn", "BatchNorm2d", 1, 1, sn_op_bn, SN_ATTRS(bn_attrs), SN_TENSORS(bn_tensors),
                                .chan = SN_CH_PASS, .path = "scale and shift"};
