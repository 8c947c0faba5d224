/* Operators that move or combine values without parameters: Input, Flatten, global average
 * pooling, Add (residual) and channel Concat. */
#include "core/internal.h"
#include "core/quant.h"
#include "kernels/qjoin.h"

int sn_op_input(sn_graph *g, sn_node *n, sn_plan *pl, sn_action act)
{
	if (act == SN_ACT_SHAPE) {
		const sn_input_attr *a = &n->a.input;
		if (a->c <= 0 || a->h <= 0 || a->w <= 0)
			return sn_seterr(SN_EINVAL, "input layer '%s' needs a positive shape CxHxW", n->name);
		n->out = (sn_shape){4, a->c, a->h, a->w};
	}
	return SN_OK; /* forward: the plan points y at the caller's data */
}

/* Flatten and global pooling both map [C,H,W] to a per-channel vector; a copy for Flatten,
 * a mean over H*W for pooling. */
int sn_op_flatten(sn_graph *g, sn_node *n, sn_plan *pl, sn_action act)
{
	if (act == SN_ACT_SHAPE) {
		const sn_shape in = sn_in(g, n, 0)->out;
		if (sn_shape_numel(in) > SN_DIM_MAX) return sn_shape_error(n, in, "too many values to flatten");
		n->out = (sn_shape){2, (int)sn_shape_numel(in), 1, 1};
		return SN_OK;
	}
	sn_node_rt *p = sn_rt_in(pl, n, 0), *r = sn_rt(pl, n);
	const size_t N = (size_t)pl->batch * sn_shape_numel(n->out);
	switch (act) {
	case SN_ACT_SHAPE:
	case SN_ACT_SIZES: return SN_OK;
	case SN_ACT_FORWARD:
		if (r->y != p->y) memcpy(r->y, p->y, N * sizeof(float));   /* else aliased: nothing to do */
		return SN_OK;
	case SN_ACT_BACKWARD:
		if (!p->needs_grad) return SN_OK;
		if (sn_dy_accumulate(p)) for (size_t i = 0; i < N; i++) p->dy[i] += r->dy[i];
		else if (p->dy != r->dy) memcpy(p->dy, r->dy, N * sizeof(float));
		return SN_OK;
	}
	return SN_OK;
}

int sn_op_gap(sn_graph *g, sn_node *n, sn_plan *pl, sn_action act)
{
	const sn_shape in = sn_in(g, n, 0)->out;
	if (act == SN_ACT_SHAPE) {
		if (in.rank != 4) return sn_shape_error(n, in, "global average pooling needs an image input [N, C, H, W]");
		n->out = (sn_shape){4, in.c, 1, 1};
		return SN_OK;
	}
	sn_node_rt *p = sn_rt_in(pl, n, 0), *r = sn_rt(pl, n);
	const int HW = in.h * in.w, planes = pl->batch * in.c;
	switch (act) {
	case SN_ACT_SHAPE:
	case SN_ACT_SIZES: return SN_OK;
	case SN_ACT_FORWARD:
		#pragma omp parallel for schedule(static)
		for (int i = 0; i < planes; i++) {
			const float *x = p->y + (size_t)i * HW;
			float s = 0;   /* in vector lanes: the sum in order was latency-bound, 1.6 of efficientnet_b0's 18 ms */
			#pragma omp simd reduction(+ : s)
			for (int k = 0; k < HW; k++) s += x[k];
			r->y[i] = s / HW;
		}
		return SN_OK;
	case SN_ACT_BACKWARD: {
		if (!p->needs_grad) return SN_OK;
		int acc = sn_dy_accumulate(p);
		#pragma omp parallel for schedule(static)
		for (int i = 0; i < planes; i++) {
			float *dx = p->dy + (size_t)i * HW, d = r->dy[i] / HW;
			for (int k = 0; k < HW; k++) dx[k] = acc ? dx[k] + d : d;
		}
		return SN_OK;
	}
	}
	return SN_OK;
}

static int same_shape(sn_shape a, sn_shape b) { return a.rank == b.rank && a.c == b.c && a.h == b.h && a.w == b.w; }

int sn_op_add(sn_graph *g, sn_node *n, sn_plan *pl, sn_action act)
{
	const size_t N = pl ? (size_t)pl->batch * sn_shape_numel(n->out) : 0;
	sn_node_rt *r = pl ? sn_rt(pl, n) : NULL;
	switch (act) {
	case SN_ACT_SHAPE: {
		sn_shape s0 = sn_in(g, n, 0)->out;
		for (int i = 1; i < n->n_in; i++) {
			sn_shape si = sn_in(g, n, i)->out;
			if (!same_shape(s0, si)) {
				char a[64], b[64], msg[200];
				snprintf(msg, sizeof msg, "Add needs equal shapes, but input '%s' is %s and input '%s' is %s",
				         sn_in(g, n, 0)->name, sn_shape_str(s0, a, sizeof a), sn_in(g, n, i)->name,
				         sn_shape_str(si, b, sizeof b));
				return sn_seterr(SN_ESHAPE, "layer '%s' (Add): %s", n->name, msg);
			}
		}
		n->out = s0;
		return SN_OK;
	}
	case SN_ACT_SIZES: return SN_OK;
	case SN_ACT_FORWARD: {
		float *y = r->y;
		memcpy(y, sn_rt_in(pl, n, 0)->y, N * sizeof(float));
		for (int i = 1; i < n->n_in; i++) {
			const float *x = sn_rt_in(pl, n, i)->y;
			#pragma omp parallel for simd schedule(static)
			for (size_t k = 0; k < N; k++) y[k] += x[k];
		}
		return SN_OK;
	}
	case SN_ACT_BACKWARD:
		for (int i = 0; i < n->n_in; i++) {
			sn_node_rt *p = sn_rt_in(pl, n, i);
			if (!p->needs_grad) continue;
			if (sn_dy_accumulate(p)) {
				#pragma omp parallel for simd schedule(static)
				for (size_t k = 0; k < N; k++) p->dy[k] += r->dy[k];
			} else {
				memcpy(p->dy, r->dy, N * sizeof(float));
			}
		}
		return SN_OK;
	}
	return SN_OK;
}

/* Concat along channels: per sample, input i occupies a contiguous block of the output. An
 * inference plan at batch 1 may have made an input's buffer that block (core/graph.c): then the
 * producer wrote it there and nothing moves. */
int sn_op_concat(sn_graph *g, sn_node *n, sn_plan *pl, sn_action act)
{
	const size_t ys = sn_shape_numel(n->out);
	switch (act) {
	case SN_ACT_SHAPE: {
		sn_shape s0 = sn_in(g, n, 0)->out;
		long long c = 0;
		for (int i = 0; i < n->n_in; i++) {
			sn_shape si = sn_in(g, n, i)->out;
			if (si.rank != s0.rank || si.h != s0.h || si.w != s0.w) {
				char a[64], b[64];
				return sn_seterr(SN_ESHAPE, "layer '%s' (Concat): inputs must agree except in channels, but '%s' is %s and '%s' is %s",
				                 n->name, sn_in(g, n, 0)->name, sn_shape_str(s0, a, sizeof a),
				                 sn_in(g, n, i)->name, sn_shape_str(si, b, sizeof b));
			}
			c += si.c;
		}
		if (c > SN_DIM_MAX) return sn_seterr(SN_ESHAPE, "layer '%s' (Concat): %lld channels is too many", n->name, c);
		n->out = (sn_shape){s0.rank, (int)c, s0.h, s0.w};
		return SN_OK;
	}
	case SN_ACT_SIZES: return SN_OK;
	case SN_ACT_FORWARD:
	case SN_ACT_BACKWARD: {
		sn_node_rt *r = sn_rt(pl, n);
		size_t off = 0;
		for (int i = 0; i < n->n_in; i++) {
			sn_node_rt *p = sn_rt_in(pl, n, i);
			const size_t xs = sn_shape_numel(sn_in(g, n, i)->out);
			int acc = act == SN_ACT_BACKWARD && p->needs_grad ? sn_dy_accumulate(p) : 0;
			if (act == SN_ACT_FORWARD || p->needs_grad)
				for (int b = 0; b < pl->batch; b++) {
					if (act == SN_ACT_FORWARD) {
						if (r->y + b * ys + off != p->y + b * xs) memcpy(r->y + b * ys + off, p->y + b * xs, xs * sizeof(float));
						continue;
					}
					float *dx = p->dy + b * xs;
					const float *dy = r->dy + b * ys + off;
					if (acc) for (size_t k = 0; k < xs; k++) dx[k] += dy[k];
					else memcpy(dx, dy, xs * sizeof(float));
				}
			off += xs;
		}
		return SN_OK;
	}
	}
	return SN_OK;
}

/* ---------------------------------------------------------------- int8 (core/quant.h) */

/* Flatten and Dropout at inference: the int8 values as they are (the same parameters). */
int sn_q8_op_copy(sn_graph *g, sn_node *n, sn_plan *pl, sn_action act)
{
	(void)g;
	if (act == SN_ACT_FORWARD)
		memcpy(sn_rt(pl, n)->q, sn_rt_in(pl, n, 0)->q, (size_t)pl->batch * sn_shape_numel(n->out));
	return SN_OK;
}

/* The mean of (x - x_zp) over each plane, requantized with x_scale / (y_scale * H*W). */
int sn_q8_op_gap(sn_graph *g, sn_node *n, sn_plan *pl, sn_action act)
{
	if (act != SN_ACT_FORWARD) return SN_OK;
	const sn_shape in = sn_in(g, n, 0)->out;
	const sn_qparams xq = sn_in(g, n, 0)->q->y, yq = n->q->y;
	const int HW = in.h * in.w, planes = pl->batch * in.c;
	const sn_q_mult m = sn_q_multiplier((double)xq.scale / ((double)yq.scale * HW));
	const int8_t *X = sn_rt_in(pl, n, 0)->q;
	int8_t *Y = sn_rt(pl, n)->q;
	#pragma omp parallel for schedule(static)
	for (int i = 0; i < planes; i++) {
		const int8_t *x = X + (size_t)i * HW;
		int32_t s = 0;
		for (int k = 0; k < HW; k++) s += x[k] - xq.zero_point;
		Y[i] = sn_q_output(s, m, yq.zero_point, -128, 127);
	}
	return SN_OK;
}

int sn_q8_op_add(sn_graph *g, sn_node *n, sn_plan *pl, sn_action act)
{
	if (act != SN_ACT_FORWARD) return SN_OK;
	sn_qparams xq[SN_Q8_ADD_MAX];
	const int8_t *x[SN_Q8_ADD_MAX];
	for (int i = 0; i < n->n_in; i++) {
		xq[i] = sn_in(g, n, i)->q->y;
		x[i] = sn_rt_in(pl, n, i)->q;
	}
	const sn_q8_add_params p = sn_q8_add_init(n->n_in, xq, n->q->y, -128, 127);
	const size_t N = (size_t)pl->batch * sn_shape_numel(n->out), chunk = 16384;
	const long chunks = (long)((N + chunk - 1) / chunk);
	int8_t *y = sn_rt(pl, n)->q;
	#pragma omp parallel for schedule(static) if (chunks > 1)
	for (long c = 0; c < chunks; c++) {
		const size_t at = (size_t)c * chunk;
		const int8_t *xc[SN_Q8_ADD_MAX];
		for (int i = 0; i < p.n; i++) xc[i] = x[i] + at;
		sn_q8_add(xc, SN_MIN(chunk, N - at), &p, y + at);
	}
	return SN_OK;
}

/* Each input's block requantized to the output's parameters. */
int sn_q8_op_concat(sn_graph *g, sn_node *n, sn_plan *pl, sn_action act)
{
	if (act != SN_ACT_FORWARD) return SN_OK;
	const size_t ys = sn_shape_numel(n->out);
	int8_t *y = sn_rt(pl, n)->q;
	size_t off = 0;
	for (int i = 0; i < n->n_in; i++) {
		const sn_node *in = sn_in(g, n, i);
		const size_t xs = sn_shape_numel(in->out);
		const int8_t *x = sn_rt_in(pl, n, i)->q;
		#pragma omp parallel for schedule(static)
		for (int b = 0; b < pl->batch; b++) sn_q8_requant(x + b * xs, xs, in->q->y, n->q->y, y + b * ys + off);
		off += xs;
	}
	return SN_OK;
}

static const sn_attr_def input_attrs[] = {
	{.key = "shape", .type = SN_AT_SHAPE, .flags = SN_AF_REQUIRED, .off = {SN_AT(a.input.c), SN_AT(a.input.h), SN_AT(a.input.w)},
	 .lo = 1, .hi = SN_ATTR_INT_MAX, .expect = "CxHxW with integers " SN_ATTR_INT_RANGE ", e.g. shape=1x28x28"},
};

const sn_op_def sn_op_def_input = {"input", "Input", 0, 0, sn_op_input, SN_ATTRS(input_attrs), .chan = SN_CH_SOURCE,
                                   .path = "the caller's input"};
/* Flatten of its input's only reader is a view of it (the data does not move). */
const sn_op_def sn_op_def_flatten = {"flatten", "Flatten", 1, 1, sn_op_flatten, SN_OPF_IN_PLACE | SN_OPF_Q8_SAME,
                                     .chan = SN_CH_FLATTEN, .path = "copy", .path_in_place = "view (no copy)",
                                     .run_q8 = sn_q8_op_copy};
const sn_op_def sn_op_def_gap = {"gap", "AdaptiveAvgPool2d", 1, 1, sn_op_gap, .chan = SN_CH_PASS, .path = "direct",
                                 .onnx = "GlobalAveragePool", .run_q8 = sn_q8_op_gap};
const sn_op_def sn_op_def_add = {"add", "Add", 2, SN_MAX_IN, sn_op_add, .chan = SN_CH_TIES, .run_q8 = sn_q8_op_add};
/* bench names a concat in place when its first input wrote its block (analyze/path.c) */
const sn_op_def sn_op_def_concat = {"concat", "Concat", 2, SN_MAX_IN, sn_op_concat, .chan = SN_CH_CONCAT, .path = "copy",
                                    .path_in_place = "inputs write their blocks (copies the rest)",
                                    .run_q8 = sn_q8_op_concat};
