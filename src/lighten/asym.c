/* Asymmetric factorisation (Inception-v3; Jaderberg et al. 2014): Conv2d khxkw -> khx1
 * (Cin -> r) then 1xkw (r -> Cout). The pair computes
 *   W^[o, i, y, x] = sum_r H[o, r, x] V[r, i, y],
 * i.e. W rearranged as the (Cout*kw) x (Cin*kh) matrix A[(o,x), (i,y)] is replaced by a rank-r
 * one; the truncated SVD gives the best (H = U sqrt(S), V = sqrt(S) V'). The vertical conv
 * takes the vertical stride, dilation and padding, the horizontal one the horizontal ones:
 * padding in each direction commutes with a conv along the other, so the pair is exact at
 * full rank, for every padding mode. */
#include <math.h>
#include <stdio.h>
#include "lighten/lighten.h"

static int in_c(const lt_ctx *c, int i) { return c->g->node[c->g->node[i].in[0]].out.c; }

int lt_asym_plan(lt_ctx *c, int i, char *why, size_t len)
{
	const sn_graph *g = c->g;
	const sn_node *n = &g->node[i];
	if (n->op != SN_OP_CONV) return LT_NOT_FOR;
	const sn_conv_attr *a = &n->a.conv;
	if (a->groups != 1 || a->kh < 2 || a->kw < 2) {
		snprintf(why, len, "asym needs groups=1 and a kernel at least 2 high and wide; this conv is %dx%d with groups=%d",
		         a->kh, a->kw, a->groups);
		return LT_NOT_FOR;
	}
	const int cin = in_c(c, i), cout = a->out_c, rmax = SN_MIN(cout * a->kw, cin * a->kh);
	const size_t full = (size_t)cout * cin * a->kh * a->kw, per = (size_t)cin * a->kh + (size_t)cout * a->kw;
	int r = c->o->rank;
	if (r > rmax) {
		snprintf(why, len, "rank %d exceeds the rank of the rearranged weight, min(Cout*kw=%d, Cin*kh=%d)", r, cout * a->kw,
		         cin * a->kh);
		return LT_SKIP;
	}
	if (!r) r = (int)SN_MIN((size_t)rmax, SN_MAX((size_t)1, (size_t)(c->o->keep * full / per)));
	lt_plan *p = &c->plan[i];
	p->rank = r;
	sn_shape in = g->node[n->in[0]].out;
	const size_t vp = (size_t)r * cin * a->kh, hp = (size_t)cout * r * a->kw + (a->bias ? cout : 0);
	p->new_params = vp + hp;
	/* the vertical conv runs on every input column */
	p->new_macs = vp * n->out.h * in.w + hp * n->out.h * n->out.w;
	return 0;
}

int lt_asym_emit(lt_ctx *c, sn_rewrite *rw, int i)
{
	const sn_node *n = &c->g->node[i];
	lt_plan *p = &c->plan[i];
	const sn_conv_attr *a = &n->a.conv;
	sn_node v = *n, hz = *n;
	char sv[24], sh[24];
	snprintf(sv, sizeof sv, "_%dx1", a->kh);
	snprintf(sh, sizeof sh, "_1x%d", a->kw);
	int rc = lt_name(v.name, n->name, sv);
	if (!rc) rc = lt_name(hz.name, n->name, sh);
	if (rc) return rc;
	v.line = hz.line = 0;
	/* pads were resolved by shape inference ('same' included): write them out */
	v.a.conv = (sn_conv_attr){.out_c = p->rank, .kh = a->kh, .kw = 1, .sh = a->sh, .sw = 1, .dh = a->dh, .dw = 1,
	                          .groups = 1, .bias = 0, .pt = a->pt, .pb = a->pb, .mode = a->mode};
	hz.a.conv = (sn_conv_attr){.out_c = a->out_c, .kh = 1, .kw = a->kw, .sh = 1, .sw = a->sw, .dh = 1, .dw = a->dw,
	                           .groups = 1, .bias = a->bias, .pl = a->pl, .pr = a->pr, .mode = a->mode,
	                           .act = a->act};  /* a fused activation acts once, at the end */
	v.in[0] = sn_rewrite_input(rw, n->in[0]);
	int k = sn_rewrite_emit(rw, &v);
	if (k < 0) return k;
	p->nodes[p->n_new++] = k;
	hz.in[0] = k;
	if ((k = sn_rewrite_emit(rw, &hz)) < 0) return k;
	p->nodes[p->n_new++] = k;
	sn_rewrite_map(rw, i, k);
	return k;
}

int lt_asym_fill(lt_ctx *c, sn_graph *h, int i, double *err)
{
	const sn_node *n = &c->g->node[i];
	const lt_plan *p = &c->plan[i];
	const int cin = in_c(c, i), cout = n->a.conv.out_c, kh = n->a.conv.kh, kw = n->a.conv.kw, R = p->rank;
	const int m = cout * kw, nn = cin * kh, k = SN_MIN(m, nn);
	const float *W = lt_old_tensor(c, i, SN_T_WEIGHT)->data;
	float *V = lt_tensor(h, p->nodes[0], SN_T_WEIGHT)->data, *H = lt_tensor(h, p->nodes[1], SN_T_WEIGHT)->data;
	double *a = malloc(sizeof(double) * ((size_t)m * nn + k + (size_t)m * k + (size_t)k * nn));
	if (!a) return sn_seterr(SN_ENOMEM, "out of memory");
	double *s = a + (size_t)m * nn, *u = s + k, *vt = u + (size_t)m * k;
	for (int o = 0; o < cout; o++)
		for (int ci = 0; ci < cin; ci++)
			for (int y = 0; y < kh; y++)
				for (int x = 0; x < kw; x++)
					a[((size_t)o * kw + x) * nn + ci * kh + y] = W[(((size_t)o * cin + ci) * kh + y) * kw + x];
	int rc = lt_svd(a, m, nn, s, u, vt);
	if (rc) { free(a); return rc; }
	for (int r = 0; r < R; r++) {
		double q = sqrt(s[r]);
		for (int j = 0; j < nn; j++) V[(size_t)r * nn + j] = (float)(q * vt[(size_t)r * nn + j]);   /* [r][ci][y] */
		for (int o = 0; o < cout; o++)
			for (int x = 0; x < kw; x++) H[((size_t)o * R + r) * kw + x] = (float)(q * u[((size_t)o * kw + x) * k + r]);
	}
	free(a);
	const sn_tensor *b = lt_old_tensor(c, i, SN_T_BIAS);
	if (b) memcpy(lt_tensor(h, p->nodes[1], SN_T_BIAS)->data, b->data, b->n * sizeof(float));
	double num = 0, den = 0;
	for (int o = 0; o < cout; o++)
		for (int ci = 0; ci < cin; ci++)
			for (int y = 0; y < kh; y++)
				for (int x = 0; x < kw; x++) {
					double w = W[(((size_t)o * cin + ci) * kh + y) * kw + x], r = 0;
					for (int t = 0; t < R; t++) r += (double)H[((size_t)o * R + t) * kw + x] * V[((size_t)t * cin + ci) * kh + y];
					num += (w - r) * (w - r);
					den += w * w;
				}
	*err = den > 0 ? sqrt(num / den) : 0;
	return SN_OK;
}
