/* Depthwise-separable substitution: Conv2d kxk (groups 1) -> depthwise kxk (groups Cin, M
 * outputs per input channel) -> [BN -> ReLU] -> pointwise 1x1.
 *
 * The pair computes W^[o,i,:] = sum_m P[o, iM+m] D[iM+m, :], so for each input channel i the
 * slice W[:, i, :] (Cout x kh*kw) is replaced by a rank-M matrix; its best one (Eckart-Young)
 * comes from the SVD: D rows are the top right singular vectors, P columns the left ones
 * times sigma.
 *
 * With BN+ReLU between, the closed form still holds: the BN is set from the depthwise output's
 * statistics on calibration images so that it adds a per-channel shift c >= -min (the ReLU
 * then passes everything), and the pointwise output's resulting offset P c is taken back by the
 * following BN's running mean (or by the pointwise bias). Fine-tuning can then move the shift
 * to let the ReLU act. */
#include <math.h>
#include <stdio.h>
#include "lighten/lighten.h"

int lt_dsc_plan(lt_ctx *c, int i, char *why, size_t len)
{
	const sn_graph *g = c->g;
	const sn_node *n = &g->node[i];
	if (n->op != SN_OP_CONV) return LT_NOT_FOR;
	const sn_conv_attr *a = &n->a.conv;
	if (a->groups != 1 || a->kh * a->kw == 1) {
		snprintf(why, len, "dsc needs groups=1 and a kernel larger than 1x1; this conv is %dx%d with groups=%d", a->kh,
		         a->kw, a->groups);
		return LT_NOT_FOR;
	}
	const int cin = g->node[n->in[0]].out.c, cout = a->out_c, K = a->kh * a->kw, M = c->o->multiplier;
	if (M > SN_MIN(cout, K)) {
		snprintf(why, len, "multiplier %d exceeds the rank of an input channel's slice, min(Cout=%d, kh*kw=%d)", M, cout, K);
		return LT_SKIP;
	}
	/* The pair's outputs are combinations of Cin*M filtered maps, the conv's of up to
	 * min(Cout, Cin*K): below half of that (a first layer reading 1 or 3 image channels) too
	 * much is lost; MobileNet keeps that layer a full conv too. */
	const int full_rank = SN_MIN(cout, cin * K);
	if (2 * cin * M < full_rank) {
		snprintf(why, len, "reads %d channel%s: the pair would make its %d outputs from %d filtered map%s, a conv from up "
		         "to %d (--multiplier %d would convert it)", cin, cin == 1 ? "" : "s", cout, cin * M, cin * M == 1 ? "" : "s",
		         full_rank, (full_rank + 2 * cin - 1) / (2 * cin));
		return LT_SKIP;
	}
	lt_plan *p = &c->plan[i];
	int feeds_bn = c->n_consumers[i] == 1 && g->node[c->consumer[i]].op == SN_OP_BN;
	p->bn = c->o->dsc_mode == SN_DSC_BN || (c->o->dsc_mode == SN_DSC_AUTO && feeds_bn && c->o->calib);
	p->fold = p->bn && feeds_bn ? c->consumer[i] : -1;
	p->pw_bias = a->bias || (p->bn && p->fold < 0);
	p->rank = M;
	const uint64_t ohw = (uint64_t)n->out.h * n->out.w;
	const size_t dw = (size_t)M * cin * K, bn = p->bn ? 2 * (size_t)M * cin : 0;
	const size_t pw = (size_t)cout * M * cin + (p->pw_bias ? cout : 0);
	p->new_params = dw + bn + pw;
	p->new_macs = (dw + pw) * ohw + bn;
	return 0;
}

static int emit(lt_plan *p, sn_rewrite *rw, const sn_node *n)
{
	int k = sn_rewrite_emit(rw, n);
	if (k >= 0) p->nodes[p->n_new++] = k;
	return k;
}

int lt_dsc_emit(lt_ctx *c, sn_rewrite *rw, int i)
{
	const sn_node *n = &c->g->node[i];
	lt_plan *p = &c->plan[i];
	const int cin = c->g->node[n->in[0]].out.c;
	sn_node dw = *n, pw = *n, bn = {0}, relu = {0};
	int rc = lt_name(dw.name, n->name, "_dw");
	if (!rc) rc = lt_name(pw.name, n->name, "_pw");
	if (!rc && p->bn) rc = lt_name(bn.name, n->name, "_dwbn");
	if (!rc && p->bn) rc = lt_name(relu.name, n->name, "_dwrelu");
	if (rc) return rc;
	dw.line = pw.line = 0;
	dw.a.conv.out_c = p->rank * cin;
	dw.a.conv.groups = cin;
	dw.a.conv.bias = 0;
	dw.a.conv.act = SN_FUSE_NONE;   /* a fused activation acts once, after the pointwise */
	dw.in[0] = sn_rewrite_input(rw, n->in[0]);
	int k = emit(p, rw, &dw);
	if (k < 0) return k;
	if (p->bn) {
		bn.op = SN_OP_BN;
		sn_node_defaults(&bn);
		relu.op = SN_OP_RELU;
		bn.n_in = relu.n_in = 1;
		bn.frozen = n->frozen;
		bn.in[0] = k;
		if ((k = emit(p, rw, &bn)) < 0) return k;
		relu.in[0] = k;
		if ((k = emit(p, rw, &relu)) < 0) return k;
	}
	sn_conv_attr *a = &pw.a.conv;
	a->kh = a->kw = a->sh = a->sw = a->dh = a->dw = a->groups = 1;
	a->pt = a->pb = a->pl = a->pr = a->same = 0;
	a->mode = SN_PAD_ZEROS;
	a->bias = p->pw_bias;
	pw.in[0] = k;
	if ((k = emit(p, rw, &pw)) < 0) return k;
	sn_rewrite_map(rw, i, k);
	return k;
}

/* ||W - W^|| / ||W|| with W^ rebuilt from the stored (float) depthwise and pointwise weights */
static double recon_error(const float *W, const float *D, const float *P, int cout, int cin, int M, int K)
{
	double num = 0, den = 0;
	for (int o = 0; o < cout; o++)
		for (int i = 0; i < cin; i++)
			for (int k = 0; k < K; k++) {
				double w = W[((size_t)o * cin + i) * K + k], r = 0;
				for (int m = 0; m < M; m++) r += (double)P[(size_t)o * cin * M + i * M + m] * D[((size_t)i * M + m) * K + k];
				num += (w - r) * (w - r);
				den += w * w;
			}
	return den > 0 ? sqrt(num / den) : 0;
}

int lt_dsc_fill(lt_ctx *c, sn_graph *h, int i, double *err)
{
	const sn_node *n = &c->g->node[i];
	const lt_plan *p = &c->plan[i];
	const int cin = c->g->node[n->in[0]].out.c, cout = n->a.conv.out_c, K = n->a.conv.kh * n->a.conv.kw;
	const int M = p->rank, r = SN_MIN(cout, K), pwi = p->nodes[p->n_new - 1];
	const float *W = lt_old_tensor(c, i, SN_T_WEIGHT)->data;
	float *D = lt_tensor(h, p->nodes[0], SN_T_WEIGHT)->data, *P = lt_tensor(h, pwi, SN_T_WEIGHT)->data;
	double *a = malloc(sizeof(double) * ((size_t)cout * K + r + (size_t)cout * r + (size_t)r * K));
	if (!a) return sn_seterr(SN_ENOMEM, "out of memory");
	double *s = a + (size_t)cout * K, *u = s + r, *vt = u + (size_t)cout * r;
	int rc = SN_OK;
	for (int ci = 0; ci < cin && !rc; ci++) {
		for (int o = 0; o < cout; o++)
			for (int k = 0; k < K; k++) a[(size_t)o * K + k] = W[((size_t)o * cin + ci) * K + k];
		rc = lt_svd(a, cout, K, s, u, vt);
		for (int m = 0; m < M && !rc; m++) {
			/* the sign is free (u v' = (-u)(-v)'): a positive-sum filter keeps a following ReLU open */
			double sum = 0;
			for (int k = 0; k < K; k++) sum += vt[(size_t)m * K + k];
			double sg = sum < 0 ? -1 : 1;
			for (int k = 0; k < K; k++) D[((size_t)ci * M + m) * K + k] = (float)(sg * vt[(size_t)m * K + k]);
			for (int o = 0; o < cout; o++) P[(size_t)o * cin * M + ci * M + m] = (float)(sg * u[(size_t)o * r + m] * s[m]);
		}
	}
	free(a);
	if (rc) return rc;
	const sn_tensor *b = lt_old_tensor(c, i, SN_T_BIAS);
	if (b) memcpy(lt_tensor(h, pwi, SN_T_BIAS)->data, b->data, b->n * sizeof(float));
	if (p->bn) {   /* the identity until calibrated: gamma 1, beta 0, mean 0, var 1 - eps */
		const int bi = p->nodes[1];
		const float eps = h->node[bi].a.bn.eps;
		for (int k = 0; k < M * cin; k++) {
			lt_tensor(h, bi, SN_T_WEIGHT)->data[k] = 1;
			lt_tensor(h, bi, SN_T_VAR)->data[k] = 1 - eps;
		}
	}
	*err = recon_error(W, D, P, cout, cin, M, K);
	return SN_OK;
}

int lt_dsc_calibrate(lt_ctx *c, sn_graph *h, int i, const float *x, int n)
{
	const lt_plan *p = &c->plan[i];
	const sn_node *dw = &h->node[p->nodes[0]], *bn = &h->node[p->nodes[1]];
	const float *Y = sn_plan_output(c->run, p->nodes[0]);
	const int C = dw->out.c, hw = dw->out.h * dw->out.w, pwi = p->nodes[p->n_new - 1];
	const int cout = h->node[pwi].out.c;
	const float eps = bn->a.bn.eps;
	float *shift = malloc(C * sizeof *shift);
	if (!shift) return sn_seterr(SN_ENOMEM, "out of memory");
	for (int ch = 0; ch < C; ch++) {
		double s = 0, ss = 0, lo = INFINITY;
		for (int b = 0; b < n; b++) {
			const float *y = Y + ((size_t)b * C + ch) * hw;
			for (int q = 0; q < hw; q++) { s += y[q]; lo = fmin(lo, y[q]); }
		}
		double mu = s / ((double)n * hw);
		for (int b = 0; b < n; b++) {
			const float *y = Y + ((size_t)b * C + ch) * hw;
			for (int q = 0; q < hw; q++) ss += (y[q] - mu) * (y[q] - mu);
		}
		double var = ss / ((double)n * hw), sd = sqrt(var);
		/* a margin of half a standard deviation for images beyond the calibration set */
		shift[ch] = (float)(fmax(0.0, -lo) + 0.5 * sd);
		lt_tensor(h, p->nodes[1], SN_T_WEIGHT)->data[ch] = (float)sqrt(var + eps);
		lt_tensor(h, p->nodes[1], SN_T_BIAS)->data[ch] = (float)(mu + shift[ch]);
		lt_tensor(h, p->nodes[1], SN_T_MEAN)->data[ch] = (float)mu;
		lt_tensor(h, p->nodes[1], SN_T_VAR)->data[ch] = (float)var;
	}
	/* take the shift back after the pointwise conv */
	const float *P = lt_tensor(h, pwi, SN_T_WEIGHT)->data;
	float *target;
	int sign;
	if (p->fold >= 0) {
		target = lt_tensor(h, sn_graph_find(h, c->g->node[p->fold].name), SN_T_MEAN)->data;
		sign = 1;
	} else {
		target = lt_tensor(h, pwi, SN_T_BIAS)->data;
		sign = -1;
	}
	for (int o = 0; o < cout; o++) {
		double d = 0;
		for (int j = 0; j < C; j++) d += (double)P[(size_t)o * C + j] * shift[j];
		target[o] += (float)(sign * d);
	}
	free(shift);
	return SN_OK;
}
