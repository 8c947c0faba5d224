/* int8 inference of Conv2d and Linear (quantized models, core/quant.h) through the kernels of
 * kernels/qconv.h. A batch of images splits over the threads, one image each with its own
 * scratch; a single image (or a Linear's rows) lets the kernel split its own work. */
#include <omp.h>
#include "core/internal.h"
#include "core/quant.h"
#include "core/sparse.h"

static sn_q8_conv layer(const sn_graph *g, const sn_node *n)
{
	const sn_qnode *q = n->q;
	return (sn_q8_conv){.w = q->w, .bias = q->bias, .mult = q->mult, .per_channel = 1,
	                    .x_zp = g->node[n->in[0]].q->y.zero_point, .y_zp = q->y.zero_point, .lo = q->lo, .hi = q->hi};
}

/* Its int8 kernels pool where sn_q8_conv_pools says they gain; the sparse one never does. */
int sn_q8_conv_can_pool(const sn_graph *g, const sn_node *n)
{
	const sn_conv_geom ge = sn_node_conv_geom(n, g->node[n->in[0]].out);
	return n->impl != SN_IMPL_SPARSE && sn_q8_conv_pools(&ge, n->a.conv.groups, n->a.conv.out_c);
}

int sn_q8_op_conv(sn_graph *g, sn_node *n, sn_plan *pl, sn_action act)
{
	const sn_shape in = sn_in(g, n, 0)->out;
	const sn_conv_geom ge = sn_node_conv_geom(n, in);
	const int groups = n->a.conv.groups, out_c = n->a.conv.out_c, B = pl->batch;
	const sn_q8_spmm *sp = sn_sparse_q8(g, n, B);   /* a pruned 1x1 conv: the sparse kernel */
	/* a 2x2 max-pool after it that it writes (sn_conv_can_pool): its output is the pool's */
	const sn_node *pool = sn_rt(pl, n)->writes_next ? &g->node[sn_rt(pl, n)->writes_next] : NULL;
	const size_t P = (size_t)n->out.h * n->out.w;
	const size_t per = sn_align(SN_MAX(sn_q8_conv_ws(&ge, groups, out_c, !!pool), sp ? sn_q8_spmm_ws(sp, P) : 0));
	if (act == SN_ACT_SIZES) {
		sn_rt(pl, n)->ws_bytes = per * (size_t)(B > 1 ? sn_get_threads() : 1);
		return SN_OK;
	}
	if (act != SN_ACT_FORWARD) return SN_OK;
	sn_q8_conv p = layer(g, n);
	p.pool = !!pool;
	const int8_t *X = sn_rt_in(pl, n, 0)->q;
	int8_t *Y = pool ? sn_rt(pl, pool)->q : sn_rt(pl, n)->q;
	const size_t xs = sn_shape_numel(in), ys = sn_shape_numel(pool ? pool->out : n->out);
	unsigned char *ws = (unsigned char *)pl->ws;
	if (B == 1) {   /* outside any parallel region: the kernel splits the image over the threads (an
	                 * inactive region around it would make each call start a nested team) */
		if (sp) sn_q8_spmm_conv(X, P, &p, sp, Y, ws);
		else sn_q8_conv_run(X, &ge, groups, out_c, &p, n->q->pack, Y, ws);
		return SN_OK;
	}
	#pragma omp parallel for schedule(dynamic, 1) num_threads(sn_get_threads())
	for (int b = 0; b < B; b++) {
		unsigned char *mine = ws + per * (size_t)omp_get_thread_num();
		if (sp) sn_q8_spmm_conv(X + b * xs, P, &p, sp, Y + b * ys, mine);
		else sn_q8_conv_run(X + b * xs, &ge, groups, out_c, &p, n->q->pack, Y + b * ys, mine);
	}
	return SN_OK;
}

int sn_q8_op_linear(sn_graph *g, sn_node *n, sn_plan *pl, sn_action act)
{
	const int I = sn_in(g, n, 0)->out.c, O = n->out.c;
	const sn_q8_spmm *sp = sn_sparse_q8(g, n, pl->batch);   /* pruned: the sparse kernel */
	if (act == SN_ACT_SIZES) {
		sn_rt(pl, n)->ws_bytes = SN_MAX(sn_q8_linear_ws(pl->batch, I, O), sp ? sn_q8_spmm_ws(sp, (size_t)pl->batch) : 0);
		return SN_OK;
	}
	if (act != SN_ACT_FORWARD) return SN_OK;
	const sn_q8_conv p = layer(g, n);
	if (sp) sn_q8_spmm_linear(sn_rt_in(pl, n, 0)->q, pl->batch, &p, sp, sn_rt(pl, n)->q, pl->ws);
	else sn_q8_linear(sn_rt_in(pl, n, 0)->q, pl->batch, I, O, &p, n->q->pack, sn_rt(pl, n)->q, pl->ws);
	return SN_OK;
}
