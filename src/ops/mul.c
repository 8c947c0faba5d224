/* Element-wise product of two inputs with broadcasting: per dimension (C, H, W) the sizes agree
 * or one of them is 1, as numpy broadcasts ([N,C,1,1] gates [N,C,H,W] in squeeze-and-excitation,
 * [N,1,H,W] in spatial attention). A rank-2 input [N,C] counts as [N,C,1,1]. The gradient of a
 * broadcast input sums over the positions it was repeated at. */
#include "core/internal.h"

/* Element strides of an input over the output's (c, h, w): 0 where it broadcasts. */
typedef struct { size_t c, h, w; } strides;

static strides strides_of(sn_shape in)
{
	return (strides){in.c == 1 ? 0 : (size_t)in.h * in.w, in.h == 1 ? 0 : (size_t)in.w, in.w == 1 ? 0 : 1};
}

static int broadcast_dim(int a, int b, int *out)
{
	if (a != b && a != 1 && b != 1) return -1;
	*out = a > b ? a : b;
	return 0;
}

static int mul_shape(sn_graph *g, sn_node *n)
{
	sn_shape a = sn_in(g, n, 0)->out, b = sn_in(g, n, 1)->out;
	sn_shape o = {a.rank > b.rank ? a.rank : b.rank, 0, 0, 0};
	if (broadcast_dim(a.c, b.c, &o.c) || broadcast_dim(a.h, b.h, &o.h) || broadcast_dim(a.w, b.w, &o.w)) {
		char sa[64], sb[64];
		return sn_seterr(SN_ESHAPE, "layer '%s' (Mul): input '%s' is %s and input '%s' is %s; each dimension must "
		                 "agree or be 1 in one of them", n->name, sn_in(g, n, 0)->name, sn_shape_str(a, sa, sizeof sa),
		                 sn_in(g, n, 1)->name, sn_shape_str(b, sb, sizeof sb));
	}
	n->out = o;
	return SN_OK;
}

/* One plane of a full input scaled by its channel's gate value (squeeze-and-excitation): one
 * contiguous run, where mul_sample's row loop meets rows of 7 to 112 values. */
static void mul_plane(const float *a, float s, size_t hw, float *y)
{
	#pragma omp simd
	for (size_t i = 0; i < hw; i++) y[i] = a[i] * s;
}

/* The full input of a gate product (the other one per channel), or -1. */
static int gated_input(const strides st[2], sn_shape o)
{
	const size_t hw = (size_t)o.h * o.w;
	for (int i = 0; i < 2; i++)
		if (st[i].c == hw && st[i].h == (size_t)o.w && st[i].w == 1 && st[1 - i].h == 0 && st[1 - i].w == 0 &&
		    (st[1 - i].c == 1 || o.c == 1))
			return i;
	return -1;
}

/* One sample: y = a * b over the output's [C, H, W], the inputs read through their strides. */
static void mul_sample(const float *a, strides sa, const float *b, strides sb, sn_shape o, float *y)
{
	for (int c = 0; c < o.c; c++)
		for (int h = 0; h < o.h; h++) {
			const float *ra = a + c * sa.c + h * sa.h, *rb = b + c * sb.c + h * sb.h;
			float *ry = y + ((size_t)c * o.h + h) * o.w;
			if (sa.w && sb.w) for (int w = 0; w < o.w; w++) ry[w] = ra[w] * rb[w];
			else for (int w = 0; w < o.w; w++) ry[w] = ra[w * sa.w] * rb[w * sb.w];
		}
}

/* One sample: dx += dy * other, each dy position added into the x element it read. */
static void mul_grad_sample(const float *dy, sn_shape o, const float *other, strides so, float *dx, strides sx)
{
	for (int c = 0; c < o.c; c++)
		for (int h = 0; h < o.h; h++) {
			const float *rd = dy + ((size_t)c * o.h + h) * o.w, *ro = other + c * so.c + h * so.h;
			float *rx = dx + c * sx.c + h * sx.h;
			for (int w = 0; w < o.w; w++) rx[w * sx.w] += rd[w] * ro[w * so.w];
		}
}

int sn_op_mul(sn_graph *g, sn_node *n, sn_plan *pl, sn_action act)
{
	if (act == SN_ACT_SHAPE) return mul_shape(g, n);
	if (act == SN_ACT_SIZES) return SN_OK;
	const sn_shape o = n->out;
	const size_t ny = sn_shape_numel(o);
	const int B = pl->batch;
	sn_node_rt *in[2] = {sn_rt_in(pl, n, 0), sn_rt_in(pl, n, 1)}, *r = sn_rt(pl, n);
	const sn_shape is[2] = {sn_in(g, n, 0)->out, sn_in(g, n, 1)->out};
	const strides st[2] = {strides_of(is[0]), strides_of(is[1])};
	const size_t nx[2] = {sn_shape_numel(is[0]), sn_shape_numel(is[1])};
	if (act == SN_ACT_FORWARD) {
		const int full = gated_input(st, o);
		if (full >= 0) {   /* images x planes, so that one image's planes spread over the threads */
			const float *a = in[full]->y, *b = in[1 - full]->y;
			const size_t hw = (size_t)o.h * o.w;
			#pragma omp parallel for schedule(static)
			for (long p = 0; p < (long)B * o.c; p++) {
				const int s = (int)(p / o.c), c = (int)(p % o.c);
				mul_plane(a + s * nx[full] + c * hw, b[s * nx[1 - full] + c * st[1 - full].c], hw, r->y + s * ny + c * hw);
			}
			return SN_OK;
		}
		#pragma omp parallel for schedule(static)
		for (int s = 0; s < B; s++)
			mul_sample(in[0]->y + s * nx[0], st[0], in[1]->y + s * nx[1], st[1], o, r->y + s * ny);
		return SN_OK;
	}
	for (int i = 0; i < 2; i++) {   /* backward; mul(x, x) reaches the same producer twice */
		sn_node_rt *p = in[i], *q = in[1 - i];
		if (!p->needs_grad) continue;
		const int acc = sn_dy_accumulate(p);
		if (!acc) memset(p->dy, 0, (size_t)B * nx[i] * sizeof(float));
		#pragma omp parallel for schedule(static)
		for (int s = 0; s < B; s++)
			mul_grad_sample(r->dy + s * ny, o, q->y + s * nx[1 - i], st[1 - i], p->dy + s * nx[i], st[i]);
	}
	return SN_OK;
}

/* Mul ties its inputs channel by channel like Add: a squeeze-and-excitation gate and the
 * channels it scales go together (pruning sees a broadcast over channels as opaque). */
const sn_op_def sn_op_def_mul = {"mul", "Mul", 2, 2, sn_op_mul, .chan = SN_CH_TIES};
