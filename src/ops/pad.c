/* Spatial padding as its own layer (F.pad / nn.ZeroPad2d, ConstantPad2d, ReflectionPad2d,
 * ReplicationPad2d): per side, a constant value, reflect, replicate or circular. Used where a
 * pad cannot merge into the next layer's own padding. Every output pixel reads one input pixel
 * (sn_pad_index, shared with the conv's padding modes) or the constant; backward adds each
 * output gradient into the pixel it read. */
#include <float.h>
#include <math.h>
#include "core/internal.h"
#include "kernels/kernels.h"

static const char *const mode_names[] = {"constant", "reflect", "replicate", "circular"};

static int pad_shape(sn_graph *g, sn_node *n)
{
	const sn_pad_attr *a = &n->a.pad;
	sn_shape in = sn_in(g, n, 0)->out;
	char msg[200];
	if (in.rank != 4) return sn_shape_error(n, in, "padding needs an image input [N, C, H, W]");
	if ((unsigned)a->mode > SN_PAD_CIRCULAR || a->pt < 0 || a->pb < 0 || a->pl < 0 || a->pr < 0 || !isfinite(a->value))
		return sn_seterr(SN_EINVAL, "layer '%s': padding must be non-negative, with a known mode and a finite value", n->name);
	if (a->mode != SN_PAD_ZEROS && a->mode != SN_PAD_REPLICATE) {
		/* as in PyTorch: reflect bounces once (pad < size), circular wraps once (pad <= size) */
		const int lim_h = a->mode == SN_PAD_CIRCULAR ? in.h : in.h - 1, lim_w = a->mode == SN_PAD_CIRCULAR ? in.w : in.w - 1;
		if (SN_MAX(a->pt, a->pb) > lim_h || SN_MAX(a->pl, a->pr) > lim_w) {
			snprintf(msg, sizeof msg, "padding %d,%d,%d,%d is too large for mode %s (at most %d rows and %d columns)",
			         a->pt, a->pb, a->pl, a->pr, mode_names[a->mode], lim_h, lim_w);
			return sn_shape_error(n, in, msg);
		}
	}
	const long long h = (long long)in.h + a->pt + a->pb, w = (long long)in.w + a->pl + a->pr;
	if (h > SN_DIM_MAX || w > SN_DIM_MAX || (long long)in.c * h * w > SN_DIM_MAX)
		return sn_shape_error(n, in, "the padded output is too large");
	n->out = (sn_shape){4, in.c, (int)h, (int)w};
	return SN_OK;
}

int sn_op_pad(sn_graph *g, sn_node *n, sn_plan *plan, sn_action act)
{
	if (act == SN_ACT_SHAPE) return pad_shape(g, n);
	if (act == SN_ACT_SIZES) return SN_OK;
	const sn_pad_attr *a = &n->a.pad;
	sn_node_rt *p = sn_rt_in(plan, n, 0), *r = sn_rt(plan, n);
	const sn_shape in = sn_in(g, n, 0)->out, out = n->out;
	const int planes = plan->batch * in.c;
	const size_t xs = (size_t)in.h * in.w, ys = (size_t)out.h * out.w;
	if (act == SN_ACT_FORWARD) {
		#pragma omp parallel for schedule(static)
		for (int pl = 0; pl < planes; pl++) {
			const float *x = p->y + pl * xs;
			float *y = r->y + pl * ys;
			for (int oh = 0; oh < out.h; oh++) {
				const int ih = sn_pad_index(oh - a->pt, in.h, a->mode);
				for (int ow = 0; ow < out.w; ow++) {
					const int iw = ih < 0 ? -1 : sn_pad_index(ow - a->pl, in.w, a->mode);
					y[(size_t)oh * out.w + ow] = iw < 0 ? a->value : x[(size_t)ih * in.w + iw];
				}
			}
		}
		return SN_OK;
	}
	if (!p->needs_grad) return SN_OK;
	const int acc = sn_dy_accumulate(p);
	#pragma omp parallel for schedule(static)
	for (int pl = 0; pl < planes; pl++) {
		float *dx = p->dy + pl * xs;
		const float *dy = r->dy + pl * ys;
		if (!acc) memset(dx, 0, xs * sizeof *dx);
		for (int oh = 0; oh < out.h; oh++) {
			const int ih = sn_pad_index(oh - a->pt, in.h, a->mode);
			for (int ow = 0; ih >= 0 && ow < out.w; ow++) {
				const int iw = sn_pad_index(ow - a->pl, in.w, a->mode);
				if (iw >= 0) dx[(size_t)ih * in.w + iw] += dy[(size_t)oh * out.w + ow];
			}
		}
	}
	return SN_OK;
}

/* The PyTorch class its mode and value make it (a zero constant pad is ZeroPad2d). */
static const char *pad_torch(const sn_node *n)
{
	static const char *const classes[] = {"ConstantPad2d", "ReflectionPad2d", "ReplicationPad2d", "CircularPad2d"};
	if ((unsigned)n->a.pad.mode > SN_PAD_CIRCULAR) return "ConstantPad2d";
	return n->a.pad.mode == SN_PAD_ZEROS && n->a.pad.value == 0 ? "ZeroPad2d" : classes[n->a.pad.mode];
}

static const sn_attr_def pad_attrs[] = {
	SN_ATTR_PADS(a.pad, 0, "P, PHxPW or T,B,L,R (integers >= 0)"),
	SN_ATTR_PADMODE(a.pad.mode),
	{.key = "value", .type = SN_AT_FLOAT, .flags = SN_AF_LATE, .off = {SN_AT(a.pad.value)}, .lo = -FLT_MAX, .hi = FLT_MAX,
	 .expect = "a finite number, e.g. 0.5"},
};

const sn_op_def sn_op_def_pad = {"pad", "ConstantPad2d", 1, 1, sn_op_pad, SN_ATTRS(pad_attrs), .chan = SN_CH_PASS,
                                 .torch_of = pad_torch, .path = "copy"};
