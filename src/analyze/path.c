/* The code path an inference plan runs for a node, in words, for slimnn bench. It follows the
 * operators' own choices (src/ops/conv.c, linear.c, the in-place rule of sn_graph_plan) and
 * names the micro-kernel where one is picked per shape. */
#include <stdio.h>
#include "core/internal.h"
#include "core/quant.h"
#include "core/sparse.h"
#include "kernels/cpu.h"

static const char *isa_name(void) { return sn_cpu_avx2() ? "avx2" : "scalar"; }

/* What the graph's own plan holds of n, NULL before it is made. */
static const sn_node_rt *plan_rt(const sn_graph *g, const sn_node *n)
{
	const sn_plan *p = g->plan;
	return p && p->rt && p->g == g && n - g->node < p->n_rt ? sn_rt(p, n) : NULL;
}

static void conv_path(const sn_graph *g, const sn_node *n, char *buf, size_t len)
{
	const sn_conv_attr *a = &n->a.conv;
	const sn_shape in = g->node[n->in[0]].out;
	const char *dnnl = sn_conv_dnnl_impl(g->plan, n);
	if (n->impl == SN_IMPL_SPARSE) snprintf(buf, len, "sparse 1x1 SpMM (%s)", isa_name());
	else if (sn_conv_dw_direct(a, in.c))
		snprintf(buf, len, "depthwise direct %s%s", sn_conv_dw_kernel(g, n),
		         plan_rt(g, n) && plan_rt(g, n)->writes_next ? " + 2x2 max-pool" : "");
	else if (dnnl) snprintf(buf, len, "oneDNN %s%s", dnnl, a->groups > 1 ? " (grouped)" : "");
	else if (sn_conv_pointwise(a))
		snprintf(buf, len, "%s (1x1, no im2col)", a->groups > 1 ? "grouped GEMM" : "GEMM");
	else snprintf(buf, len, "im2col + %s", a->groups > 1 ? "grouped GEMM" : "GEMM");
}

const char *sn_node_path(const sn_graph *g, const sn_node *n, char *buf, size_t len)
{
	const float *y = sn_plan_output(g->plan, (int)(n - g->node));   /* as the graph's own plan runs it */
	const int in_place = n->n_in && y && y == sn_plan_output(g->plan, n->in[0]);
	const sn_op_def *d = sn_op_get(n->op);
	const int by_input = plan_rt(g, n) && plan_rt(g, n)->by_input;
	if (sn_node_runs_int8(n)) {   /* quantized models: the int8 kernels (src/ops/q8_conv.c) */
		const sn_shape in = g->node[n->in[0]].out;
		const sn_conv_geom ge = n->op == SN_OP_CONV ? sn_node_conv_geom(n, in) : (sn_conv_geom){0};
		snprintf(buf, len, "int8 %s%s", by_input ? "in the conv before it"
		                                : sn_sparse_q8(g, n, g->plan->batch) ? sn_q8_spmm_kernel()
		                                : n->op == SN_OP_CONV ? sn_q8_conv_kernel(&ge, n->a.conv.groups, n->a.conv.out_c)
		                                : n->op == SN_OP_LINEAR ? sn_q8_linear_kernel(g->plan->batch, in.c, n->out.c)
		                                : d->path ? d->path : "elementwise",
		         plan_rt(g, n) && plan_rt(g, n)->writes_next ? " + 2x2 max-pool" : "");
		return buf;
	}
	const char *s = in_place && d->path_in_place ? d->path_in_place : d->path ? d->path : "elementwise";
	if (by_input) s = "in the conv before it";
	switch (n->op) {   /* the kernels picked per shape and sparsity */
	case SN_OP_CONV: conv_path(g, n, buf, len); return buf;
	case SN_OP_LINEAR:
		if (n->impl == SN_IMPL_SPARSE) { snprintf(buf, len, "sparse SpMM (%s)", isa_name()); return buf; }
		if (sn_conv_dnnl_impl(g->plan, n)) { snprintf(buf, len, "oneDNN %s", sn_conv_dnnl_impl(g->plan, n)); return buf; }
		s = g->plan->batch == 1 ? "GEMV (batch 1)" : "GEMM";   /* sn_gemm's single-row case */
		break;
	default: break;
	}
	snprintf(buf, len, "%s", s);
	return buf;
}
