/* Quantization-aware training's side of the int8 records (core/quant.h): weights rounded to
 * their grid for each step, observers that move the activation ranges, and the int8 model the
 * trained float weights give. The plan rounds the activations (SN_PLAN_FAKE_QUANT); the trainer
 * (train/trainer.c) keeps the master weights and calls these. */
#include <math.h>
#include "core/internal.h"
#include "core/quant.h"

/* w -> its int8 values times s, in place: sn_q_set_weights's rounding, a stretch at a time. */
static void fake_row(float *w, size_t k, float s)
{
	const sn_qparams p = {s, 0};
	int8_t q[256];
	for (size_t at = 0; at < k; at += sizeof q) {
		const size_t len = SN_MIN(sizeof q, k - at);
		sn_q_quantize(w + at, len, p, -127, 127, q);
		sn_q_dequantize(q, len, p, w + at);
	}
}

void sn_qat_fake_weights(sn_graph *g)
{
	for (int i = 1; i < g->n_node; i++) {
		sn_node *n = &g->node[i];
		sn_tensor *t = (sn_tensor *)sn_q_weight(g, n);
		if (!t || !sn_node_runs_int8(n)) continue;
		const int rows = t->dims[0], per_tensor = n->q->n_scale == 1;
		const size_t k = t->n / (size_t)rows;
		float all = 0;
		for (size_t j = 0; per_tensor && j < t->n; j++) all = fmaxf(all, fabsf(t->data[j]));
		#pragma omp parallel for schedule(static) if (t->n > 65536)
		for (int o = 0; o < rows; o++) {
			float m = all, *w = t->data + (size_t)o * k;
			for (size_t j = 0; !per_tensor && j < k; j++) m = fmaxf(m, fabsf(w[j]));
			fake_row(w, k, sn_q_params_sym(m).scale);
		}
	}
}

void sn_qat_observe(sn_graph *g, const float *lo, const float *hi, float momentum)
{
	for (int i = 0; i < g->n_node; i++) {
		sn_node *n = &g->node[i];
		sn_qnode *q = n->q;
		if (!q) continue;
		const int int8 = i > 0 && sn_node_runs_int8(n);
		if (int8 && (sn_op_get(n->op)->flags & SN_OPF_Q8_SAME)) {
			q->y = sn_in(g, n, 0)->q->y;
			continue;
		}
		float l = lo[i], h = hi[i];
		if (!(l <= h) || !isfinite(l) || !isfinite(h)) continue;   /* not observed */
		const int act = int8 ? sn_q_fused_activation(g, i) : -1;
		if (act >= 0) {   /* the range after the activation its int8 output already is */
			l = fmaxf(l, 0); h = fmaxf(h, 0);
			if (g->node[act].op == SN_OP_RELU6) l = fminf(l, 6), h = fminf(h, 6);
		}
		if (!q->observed) {
			q->obs_lo = q->y.scale * (float)(-128 - q->y.zero_point);
			q->obs_hi = q->y.scale * (float)(127 - q->y.zero_point);
			q->observed = 1;
		}
		q->obs_lo += momentum * (l - q->obs_lo);
		q->obs_hi += momentum * (h - q->obs_hi);
		q->y = sn_q_params_asym(q->obs_lo, q->obs_hi);
	}
}

int sn_qat_settle(sn_graph *g)
{
	for (int i = 1; i < g->n_node; i++) {
		sn_node *n = &g->node[i];
		const sn_tensor *t = sn_q_weight(g, n);
		if (!t || !sn_node_runs_int8(n)) continue;
		const int n_scale = n->q->n_scale == 1 ? 1 : t->dims[0];
		float *s = malloc((size_t)t->dims[0] * sizeof *s);
		if (!s) return sn_seterr(SN_ENOMEM, "out of memory");
		sn_q_weight_scales(t, n_scale == 1, s);
		const int rc = sn_q_set_weights(g, n, s, n_scale);
		free(s);
		if (rc) return rc;
	}
	return sn_q_derive(g);
}
