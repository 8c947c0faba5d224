/* Linear: y = x W^T + b over a flat input [N, in]; inference may run it sparse (core/sparse.c). */
#include "core/internal.h"
#include "core/sparse.h"

static int linear_shape(sn_graph *g, sn_node *n)
{
	sn_shape in = sn_in(g, n, 0)->out;
	if (in.rank != 2) return sn_shape_error(n, in, "Linear needs a flat input [N, features]; add a flatten layer before it");
	n->out = (sn_shape){2, n->a.linear.out, 1, 1};
	int wd[2] = {n->a.linear.out, in.c};
	int rc = sn_need_tensor(g, n, SN_T_WEIGHT, 2, wd);
	if (rc) return rc;
	if (n->a.linear.bias) return sn_need_tensor(g, n, SN_T_BIAS, 1, &n->a.linear.out);
	sn_drop_tensor(g, n, SN_T_BIAS);
	return SN_OK;
}

int sn_op_linear(sn_graph *g, sn_node *n, sn_plan *pl, sn_action act)
{
	if (act == SN_ACT_SHAPE) return linear_shape(g, n);
	if (act == SN_ACT_SIZES) return SN_OK;   /* a sparse Linear's workspace: sn_sparse_ws */
	sn_node_rt *p = sn_rt_in(pl, n, 0), *r = sn_rt(pl, n);
	const int B = pl->batch, I = sn_in(g, n, 0)->out.c, O = n->out.c;
	sn_tensor *w = sn_t(g, n, SN_T_WEIGHT), *b = sn_t(g, n, SN_T_BIAS);
	if (act == SN_ACT_FORWARD) {
		if (n->impl == SN_IMPL_SPARSE && !pl->train && sn_sparse_linear_forward(pl, n) == SN_OK) return SN_OK;
		if (b) for (int q = 0; q < B; q++) memcpy(r->y + (size_t)q * O, b->data, O * sizeof(float));
		sn_gemm(0, 1, B, O, I, 1.0f, p->y, I, w->data, I, b ? 1.0f : 0.0f, r->y, O);
		return SN_OK;
	}
	if (!n->frozen) {
		sn_gemm(1, 0, O, I, B, 1.0f, r->dy, O, p->y, I, 1.0f, w->grad, I);
		if (b)
			for (int o = 0; o < O; o++) {
				float s = 0;
				for (int q = 0; q < B; q++) s += r->dy[(size_t)q * O + o];
				b->grad[o] += s;
			}
	}
	if (p->needs_grad) {
		int acc = sn_dy_accumulate(p);
		sn_gemm(0, 0, B, I, O, 1.0f, r->dy, O, w->data, I, acc ? 1.0f : 0.0f, p->dy, I);
	}
	return SN_OK;
}

static const sn_attr_def linear_attrs[] = {
	SN_ATTR_COUNT("out", a.linear.out, 0, SN_AF_REQUIRED),
	SN_ATTR_BOOL("bias", a.linear.bias, 1),
};
static const sn_tensor_def linear_tensors[] = {
	{"weight", SN_TENSOR_PARAM, SN_INIT_FAN_IN}, {"bias", SN_TENSOR_PARAM, SN_INIT_FAN_IN}};

/* its outputs are neurons: channels it makes, which neuron pruning may remove */
const sn_op_def sn_op_def_linear = {"linear", "Linear", 1, 1, sn_op_linear, SN_ATTRS(linear_attrs), SN_TENSORS(linear_tensors),
                                    .chan = SN_CH_MAKES, .run_q8 = sn_q8_op_linear};
