/* Linear: y = x W^T + b over a flat input [N, in]; inference may run it sparse (core/sparse.c).
 * Inference plans for more than one row run the planned batch on oneDNN's inner product
 * (kernels/dnnl_conv.h), its weights packed once (the plan's handle keeps them): on this AVX-512
 * CPU (1 thread, OpenBLAS 0.3.21 single-threaded) it took 512 -> 1000 at 2 / 8 / 32 rows in
 * 0.027 / 0.095 / 0.29 ms against sgemm's 0.18 / 0.26 / 0.44, 3136 -> 256 in 0.060 / 0.16 /
 * 0.63 against 0.27 / 0.40 / 0.89, 4096 -> 4096 at 8 rows 5.9 against 20 (OpenBLAS's sgemm is
 * slow on few rows), while at one row sgemv was level or faster (3136 -> 256: 0.043 against
 * 0.062 ms) and stays. Training keeps sgemm: its weights change every step, and packing them
 * (1.1 ms for 512 -> 1000) costs more than the product. Smaller batches than planned run sgemm.
 * SLIMNN_CONV_ENGINE=own keeps every Linear on sgemm, =onednn puts one-row plans on oneDNN too. */
#include "core/internal.h"
#include "core/sparse.h"
#include "kernels/dnnl_conv.h"

static void dnnl_plan(sn_graph *g, sn_node *n, sn_plan *pl)
{
	const int mode = sn_dnnl_mode();
	if (pl->train || n->impl == SN_IMPL_SPARSE || mode == SN_DNNL_OWN || (mode == SN_DNNL_AUTO && pl->batch < 2)) return;
	const sn_dnnl_conv_desc d = {.n = pl->batch, .c = sn_in(g, n, 0)->out.c, .h = 1, .w = 1, .o = n->out.c, .oh = 1,
	                             .ow = 1, .kh = 1, .kw = 1, .sh = 1, .sw = 1, .dh = 1, .dw = 1, .groups = 1,
	                             .bias = n->t[SN_T_BIAS] >= 0, .inner = 1};
	sn_dnnl_conv *c = sn_dnnl_conv_new(&d, SN_DNNL_FORWARD | SN_DNNL_PACKED);
	if (c && mode == SN_DNNL_AUTO && !sn_dnnl_conv_direct(c)) {
		sn_dnnl_conv_free(c);
		c = NULL;
	}
	if (!c) return;
	sn_node_rt *r = sn_rt(pl, n);
	r->dnnl[0] = c;
	r->ws_bytes = sn_dnnl_conv_ws(c);
}

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
	if (act == SN_ACT_SIZES) {   /* a sparse Linear's workspace: sn_sparse_ws */
		dnnl_plan(g, n, pl);
		return SN_OK;
	}
	sn_node_rt *p = sn_rt_in(pl, n, 0), *r = sn_rt(pl, n);
	const int B = pl->batch, I = sn_in(g, n, 0)->out.c, O = n->out.c;
	sn_tensor *w = sn_t(g, n, SN_T_WEIGHT), *b = sn_t(g, n, SN_T_BIAS);
	if (act == SN_ACT_FORWARD) {
		if (n->impl == SN_IMPL_SPARSE && !pl->train && sn_sparse_linear_forward(pl, n) == SN_OK) return SN_OK;
		if (r->dnnl[0] && B == pl->planned_batch) {
			sn_dnnl_conv_forward(r->dnnl[0], p->y, w->data, b ? b->data : NULL, r->y, pl->ws);
			return SN_OK;
		}
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
