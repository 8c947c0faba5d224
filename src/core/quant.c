/* int8 records of a quantized model's layers (core/quant.h). */
#include <math.h>
#include "core/internal.h"
#include "core/quant.h"

sn_qnode *sn_qnode_new(sn_qparams y, int int8)
{
	sn_qnode *q = calloc(1, sizeof *q);
	if (!q) { sn_seterr(SN_ENOMEM, "out of memory"); return NULL; }
	q->y = y;
	q->int8 = int8;
	q->lo = -128;
	q->hi = 127;
	return q;
}

static void free_derived(sn_qnode *q)
{
	free(q->bias); free(q->mult);
	sn_q8_pack_free(q->pack);
	sn_q8_spmm_free(q->spmm);   /* packed from the old weights: the layer runs dense until selected again */
	q->bias = NULL; q->mult = NULL; q->pack = NULL; q->spmm = NULL;
}

void sn_qnode_free(sn_qnode *q)
{
	if (!q) return;
	free_derived(q);
	free(q->w_scale); free(q->w);
	free(q);
}

void sn_graph_dequantize(sn_graph *g)
{
	for (int i = 0; i < g->n_node; i++) {
		sn_qnode_free(g->node[i].q);
		g->node[i].q = NULL;
	}
	g->version++;
}

int sn_node_runs_int8(const sn_node *n) { return n->q && n->q->int8 && sn_op_get(n->op)->run_q8; }

int sn_graph_is_int8(const sn_graph *g)
{
	for (int i = 0; i < g->n_node; i++)
		if (sn_node_runs_int8(&g->node[i])) return 1;
	return 0;
}

const sn_tensor *sn_q_weight(const sn_graph *g, const sn_node *n)
{
	return (n->op == SN_OP_CONV || n->op == SN_OP_LINEAR) && n->t[SN_T_WEIGHT] >= 0 ? &g->tensor[n->t[SN_T_WEIGHT]] : NULL;
}

int sn_q_set_weights(sn_graph *g, sn_node *n, const float *scales, int n_scale)
{
	sn_tensor *t = (sn_tensor *)sn_q_weight(g, n);
	sn_qnode *q = n->q;
	if (!t || !q) return sn_seterr(SN_EINVAL, "layer '%s' has no weight to quantize", n->name);
	const int rows = t->dims[0];
	if (n_scale != 1 && n_scale != rows)
		return sn_seterr(SN_EINVAL, "layer '%s': %d weight scales for %d output channels", n->name, n_scale, rows);
	for (int i = 0; i < n_scale; i++)
		if (!(scales[i] > 0) || !isfinite(scales[i]))
			return sn_seterr(SN_EINVAL, "layer '%s': weight scale %g is not a positive number", n->name, scales[i]);
	float *s = malloc((size_t)n_scale * sizeof *s);
	int8_t *w = malloc(t->n);
	if (!s || !w) { free(s); free(w); return sn_seterr(SN_ENOMEM, "out of memory"); }
	memcpy(s, scales, (size_t)n_scale * sizeof *s);
	const size_t k = t->n / (size_t)rows;
	for (int o = 0; o < rows; o++) {
		const sn_qparams p = {s[n_scale == 1 ? 0 : o], 0};
		sn_q_quantize(t->data + o * k, k, p, -127, 127, w + o * k);
		sn_q_dequantize(w + o * k, k, p, t->data + o * k);
	}
	free(q->w_scale); free(q->w);
	q->w_scale = s; q->n_scale = n_scale; q->w = w; q->w_n = t->n;
	free_derived(q);
	g->version++;
	return SN_OK;
}

/* bias / (x_scale * w_scale), rounded half to even and saturated to int32 */
static int32_t bias_q(double b, double scale)
{
	const double v = nearbyint(b / scale);
	return v >= 2147483647.0 ? INT32_MAX : v <= -2147483648.0 ? INT32_MIN : v != v ? 0 : (int32_t)v;
}

static int derive_layer(sn_graph *g, sn_node *n)
{
	sn_qnode *q = n->q;
	const sn_node *in = sn_in(g, n, 0);
	if (!in->q)
		return sn_seterr(SN_EFORMAT, "int8 layer '%s' reads layer '%s', which has no int8 parameters", n->name, in->name);
	const int act = n->op == SN_OP_CONV ? n->a.conv.act : SN_FUSE_NONE;
	sn_q_act_range(q->y, act, &q->lo, &q->hi);
	const sn_tensor *t = sn_q_weight(g, n);
	if (!t) return SN_OK;
	if (!q->w || q->w_n != t->n)
		return sn_seterr(SN_EFORMAT, "int8 layer '%s' has no int8 weight of its %zu values", n->name, t->n);
	const int rows = t->dims[0];
	const sn_tensor *b = sn_t(g, n, SN_T_BIAS);
	free_derived(q);
	q->bias = malloc((size_t)rows * sizeof *q->bias);
	q->mult = malloc((size_t)rows * sizeof *q->mult);
	const int groups = n->op == SN_OP_CONV ? n->a.conv.groups : 1;
	const int k = (int)(t->n / (size_t)rows), taps = n->op == SN_OP_CONV ? n->a.conv.kh * n->a.conv.kw : 1;
	q->pack = !q->bias || !q->mult ? NULL : n->op == SN_OP_LINEAR ? sn_q8_linear_pack_new(q->w, rows, k)
	                                                               : sn_q8_pack_new(q->w, rows, groups, k, taps);
	if (!q->pack) return sn_seterr(SN_ENOMEM, "out of memory");
	const double sx = in->q->y.scale;
	for (int o = 0; o < rows; o++) {
		const double sw = q->w_scale[q->n_scale == 1 ? 0 : o];
		q->bias[o] = b ? bias_q(b->data[o], sx * sw) : 0;
		q->mult[o] = sn_q_multiplier(sx * sw / q->y.scale);
	}
	return SN_OK;
}

int sn_q_derive(sn_graph *g)
{
	for (int i = 1; i < g->n_node; i++) {
		sn_node *n = &g->node[i];
		if (!sn_node_runs_int8(n)) continue;
		const int rc = derive_layer(g, n);
		if (rc) return rc;
	}
	g->version++;
	return SN_OK;
}

int sn_q_copy(sn_graph *g, const sn_graph *src)
{
	for (int i = 0; i < src->n_node; i++) {
		const sn_qnode *s = src->node[i].q;
		const int k = s ? sn_graph_find(g, src->node[i].name) : -1;
		if (k < 0) continue;
		sn_qnode *q = sn_qnode_new(s->y, s->int8);
		if (!q) return SN_ENOMEM;
		sn_qnode_free(g->node[k].q);
		g->node[k].q = q;
		if (!s->w) continue;
		q->w_scale = malloc((size_t)s->n_scale * sizeof *q->w_scale);
		q->w = malloc(s->w_n);
		if (!q->w_scale || !q->w) return sn_seterr(SN_ENOMEM, "out of memory");
		memcpy(q->w_scale, s->w_scale, (size_t)s->n_scale * sizeof *q->w_scale);
		memcpy(q->w, s->w, s->w_n);
		q->n_scale = s->n_scale;
		q->w_n = s->w_n;
	}
	return sn_q_derive(g);
}

void sn_q_weight_scales(const sn_tensor *t, int per_tensor, float *s)
{
	const int rows = t->dims[0];
	const size_t k = t->n / (size_t)rows;
	float all = 0;
	for (int o = 0; o < rows; o++) {
		float m = 0;
		for (size_t j = 0; j < k; j++) m = fmaxf(m, fabsf(t->data[o * k + j]));
		s[per_tensor ? 0 : o] = sn_q_params_sym(m).scale;
		all = fmaxf(all, m);
	}
	if (per_tensor) s[0] = sn_q_params_sym(all).scale;
}

int sn_q_fused_activation(const sn_graph *g, int i)
{
	int reader = -1, readers = 0;
	for (int j = i + 1; j < g->n_node; j++)
		for (int k = 0; k < g->node[j].n_in; k++)
			if (g->node[j].in[k] == i) { reader = j; readers++; }
	const sn_op op = readers == 1 ? g->node[reader].op : SN_OP_INPUT;
	return op == SN_OP_RELU || op == SN_OP_RELU6 ? reader : -1;
}
