/* Operators whose output channel j is one input channel src(j), copied whole:
 *   shuffle  ShuffleNet's channel shuffle, x.view(N, g, C/g, H, W).transpose(1, 2).view(N, C, H, W):
 *            output channel j = i * g + k reads input channel k * (C/g) + i
 *   slice    channels [start, end): output channel j reads start + j (ONNX Split and Slice)
 * One forward (gather planes) and one backward (scatter-add planes) serve both. */
#include "core/internal.h"

static int source_channel(const sn_node *n, int in_c, int j)
{
	if (n->op == SN_OP_SLICE) return n->a.slice.start + j;
	const int g = n->a.shuffle.groups, per = in_c / g;
	return (j % g) * per + j / g;
}

static int map_shape(sn_graph *g, sn_node *n)
{
	sn_shape in = sn_in(g, n, 0)->out;
	char msg[160];
	if (n->op == SN_OP_SHUFFLE) {
		const int gr = n->a.shuffle.groups;
		if (gr < 1 || in.c % gr) {
			snprintf(msg, sizeof msg, "groups=%d must divide the %d channels", gr, in.c);
			return sn_shape_error(n, in, msg);
		}
		n->out = in;
		return SN_OK;
	}
	const sn_slice_attr *a = &n->a.slice;
	if (a->start < 0 || a->end <= a->start || a->end > in.c) {
		snprintf(msg, sizeof msg, "channels %d..%d (start=%d end=%d) are not a non-empty range of its %d channels",
		         a->start, a->end - 1, a->start, a->end, in.c);
		return sn_shape_error(n, in, msg);
	}
	n->out = (sn_shape){in.rank, a->end - a->start, in.h, in.w};
	return SN_OK;
}

int sn_op_channel_map(sn_graph *g, sn_node *n, sn_plan *pl, sn_action act)
{
	if (act == SN_ACT_SHAPE) return map_shape(g, n);
	if (act == SN_ACT_SIZES) return SN_OK;
	sn_node_rt *p = sn_rt_in(pl, n, 0), *r = sn_rt(pl, n);
	const int in_c = sn_in(g, n, 0)->out.c, out_c = n->out.c, B = pl->batch;
	const size_t plane = (size_t)n->out.h * n->out.w, xs = (size_t)in_c * plane, ys = (size_t)out_c * plane;
	if (act == SN_ACT_FORWARD) {
		#pragma omp parallel for schedule(static)
		for (int s = 0; s < B; s++)
			for (int j = 0; j < out_c; j++)
				memcpy(r->y + s * ys + j * plane, p->y + s * xs + source_channel(n, in_c, j) * plane, plane * sizeof(float));
		return SN_OK;
	}
	if (!p->needs_grad) return SN_OK;
	if (!sn_dy_accumulate(p)) memset(p->dy, 0, (size_t)B * xs * sizeof(float));   /* slice: the rest get 0 */
	#pragma omp parallel for schedule(static)
	for (int s = 0; s < B; s++)
		for (int j = 0; j < out_c; j++) {
			float *dx = p->dy + s * xs + source_channel(n, in_c, j) * plane;
			const float *dy = r->dy + s * ys + j * plane;
			for (size_t k = 0; k < plane; k++) dx[k] += dy[k];
		}
	return SN_OK;
}

/* int8: the same moves of bytes (the output keeps its input's parameters). */
int sn_q8_op_channel_map(sn_graph *g, sn_node *n, sn_plan *pl, sn_action act)
{
	if (act != SN_ACT_FORWARD) return SN_OK;
	const int in_c = sn_in(g, n, 0)->out.c, out_c = n->out.c;
	const size_t plane = (size_t)n->out.h * n->out.w, xs = (size_t)in_c * plane, ys = (size_t)out_c * plane;
	const int8_t *x = sn_rt_in(pl, n, 0)->q;
	int8_t *y = sn_rt(pl, n)->q;
	#pragma omp parallel for schedule(static)
	for (int s = 0; s < pl->batch; s++)
		for (int j = 0; j < out_c; j++) memcpy(y + s * ys + j * plane, x + s * xs + source_channel(n, in_c, j) * plane, plane);
	return SN_OK;
}

static const sn_attr_def shuffle_attrs[] = {SN_ATTR_COUNT("groups", a.shuffle.groups, 0, SN_AF_REQUIRED)};
/* channels as x[:, a:b]; concatenation can take them past the integer limit of other keys */
static const sn_attr_def slice_attrs[] = {
	{.key = "start", .type = SN_AT_INT, .flags = SN_AF_LATE, .off = {SN_AT(a.slice.start)}, .lo = 0, .hi = SN_DIM_MAX,
	 .expect = "a channel index 0..268435456"},
	{.key = "end", .type = SN_AT_INT, .flags = SN_AF_REQUIRED | SN_AF_LATE, .off = {SN_AT(a.slice.end)}, .lo = 1,
	 .hi = SN_DIM_MAX, .expect = "a channel index 1..268435456 (exclusive)"},
};

/* pruning does not see through them: their channel maps would change */
const sn_op_def sn_op_def_shuffle = {"shuffle", "ChannelShuffle", 1, 1, sn_op_channel_map, SN_OPF_Q8_SAME,
                                     SN_ATTRS(shuffle_attrs), .path = "copy", .run_q8 = sn_q8_op_channel_map};
const sn_op_def sn_op_def_slice = {"slice", "Slice", 1, 1, sn_op_channel_map, SN_OPF_Q8_SAME, SN_ATTRS(slice_attrs),
                                   .path = "copy", .run_q8 = sn_q8_op_channel_map};
