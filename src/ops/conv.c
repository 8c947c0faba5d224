/* Conv2d: groups, dilation, stride, per-side padding, four padding modes, optional bias.
 * Each group is one GEMM per image: W_g [Cout/g x Cin/g*kh*kw] x col_g [Cin/g*kh*kw x OH*OW].
 * 1x1 stride-1 unpadded convs use the input itself as col (no im2col). Training keeps each
 * image's col in the arena for the weight gradient. */
#include <omp.h>
#include "core/internal.h"
#include "kernels/kernels.h"

static int is_pointwise(const sn_conv_attr *a)
{
	return a->kh == 1 && a->kw == 1 && a->sh == 1 && a->sw == 1 && !a->pt && !a->pb && !a->pl && !a->pr;
}

static sn_conv_geom geom(const sn_node *n, sn_shape in)
{
	const sn_conv_attr *a = &n->a.conv;
	return (sn_conv_geom){in.c, in.h, in.w, a->kh, a->kw, a->sh, a->sw, a->dh, a->dw, a->pt, a->pl,
	                      n->out.h, n->out.w, a->mode};
}

static int conv_shape(sn_graph *g, sn_node *n)
{
	sn_conv_attr *a = &n->a.conv;
	sn_shape in = sn_in(g, n, 0)->out;
	char msg[160];
	if (in.rank != 4) return sn_shape_error(n, in, "Conv2d needs an image input [N, C, H, W]");
	if (in.c % a->groups || a->out_c % a->groups) {
		snprintf(msg, sizeof msg, "groups=%d must divide both the %d input and the %d output channels",
		         a->groups, in.c, a->out_c);
		return sn_shape_error(n, in, msg);
	}
	if (a->same) {
		if (a->sh != 1 || a->sw != 1)
			return sn_seterr(SN_EINVAL, "layer '%s': pad=same needs stride 1 (as in PyTorch)", n->name);
		int th = a->dh * (a->kh - 1), tw = a->dw * (a->kw - 1);
		a->pt = th / 2; a->pb = th - a->pt; a->pl = tw / 2; a->pr = tw - a->pl;
	}
	if (a->mode != SN_PAD_ZEROS) {
		int lim_h = a->mode == SN_PAD_CIRCULAR ? in.h : in.h - 1, lim_w = a->mode == SN_PAD_CIRCULAR ? in.w : in.w - 1;
		if (SN_MAX(a->pt, a->pb) > lim_h || SN_MAX(a->pl, a->pr) > lim_w) {
			snprintf(msg, sizeof msg, "padding %d,%d,%d,%d is too large for mode %s on this input",
			         a->pt, a->pb, a->pl, a->pr, a->mode == SN_PAD_CIRCULAR ? "circular" : "reflect/replicate");
			return sn_shape_error(n, in, msg);
		}
	}
	/* 64-bit: a hostile file may stack huge paddings */
	long long eh = (long long)a->dh * (a->kh - 1) + 1, ew = (long long)a->dw * (a->kw - 1) + 1;
	long long ph = (long long)in.h + a->pt + a->pb, pw = (long long)in.w + a->pl + a->pr;
	if (ph < eh || pw < ew) {
		snprintf(msg, sizeof msg, "the %dx%d kernel (dilated %lldx%lld) is larger than the padded input %lldx%lld",
		         a->kh, a->kw, eh, ew, ph, pw);
		return sn_shape_error(n, in, msg);
	}
	if (ph > SN_DIM_MAX || pw > SN_DIM_MAX) return sn_shape_error(n, in, "the padded input is too large");
	n->out = (sn_shape){4, a->out_c, (int)((ph - eh) / a->sh + 1), (int)((pw - ew) / a->sw + 1)};
	int wd[4] = {a->out_c, in.c / a->groups, a->kh, a->kw};
	int rc = sn_need_tensor(g, n, SN_T_WEIGHT, "weight", SN_TENSOR_PARAM, 4, wd);
	if (rc) return rc;
	if (a->bias) return sn_need_tensor(g, n, SN_T_BIAS, "bias", SN_TENSOR_PARAM, 1, &a->out_c);
	sn_drop_tensor(g, n, SN_T_BIAS);
	return SN_OK;
}

static size_t col_floats(const sn_node *n, sn_shape in)
{
	return (size_t)in.c * n->a.conv.kh * n->a.conv.kw * n->out.h * n->out.w;
}

/* Training keeps the whole batch's col as one matrix [Cin*kh*kw x B*OH*OW] (saved), so the
 * weight gradient is one large GEMM. The workspace holds dy transposed to [Cout x B*OH*OW]
 * (and, for pointwise convs, x likewise) during dW, then one dcol per thread during dX. */
static void conv_sizes(sn_graph *g, sn_node *n)
{
	sn_shape in = sn_in(g, n, 0)->out;
	const int pw = is_pointwise(&n->a.conv);
	const size_t B = (size_t)g->batch, T = (size_t)sn_get_threads(), cs = col_floats(n, in), F = sizeof(float);
	if (!g->train) { n->ws_bytes = pw ? 0 : T * cs * F; return; }
	if (!pw) n->saved_bytes = B * cs * F;
	size_t dw = B * sn_shape_numel(n->out) + (pw ? B * sn_shape_numel(in) : 0);
	size_t dx = sn_in(g, n, 0)->needs_grad && !pw ? T * cs : 0;
	n->ws_bytes = SN_MAX(dw, dx) * F;
}

/* One image: y = W * col (+ bias); col rows are ld floats apart. sn_gemm splits across
 * threads only when called serially. */
static void forward_image(sn_graph *g, sn_node *n, const float *x, float *col, size_t ld, float *y)
{
	const sn_conv_attr *a = &n->a.conv;
	sn_shape in = sn_in(g, n, 0)->out;
	sn_conv_geom ge = geom(n, in);
	const int G = a->groups, mg = a->out_c / G, kg = in.c / G * a->kh * a->kw, ohw = n->out.h * n->out.w;
	const float *w = sn_t(g, n, SN_T_WEIGHT)->data;
	if (is_pointwise(a)) { col = (float *)x; ld = ohw; }
	else sn_im2col(x, &ge, col, ld);
	for (int gi = 0; gi < G; gi++)
		sn_gemm(0, 0, mg, ohw, kg, 1.0f, w + (size_t)gi * mg * kg, kg, col + (size_t)gi * kg * ld, (int)ld, 0.0f,
		        y + (size_t)gi * mg * ohw, ohw);
	sn_tensor *b = sn_t(g, n, SN_T_BIAS);
	if (b)
		for (int o = 0; o < a->out_c; o++)
			for (int p = 0; p < ohw; p++) y[(size_t)o * ohw + p] += b->data[o];
}

/* [B][rows][hw] <-> [rows][B*hw]; to_rows = 1 goes left to right. bias (may be NULL) is added
 * per row on the way back. */
static void batch_transpose(float *batched, int B, int rows, size_t hw, float *byrow, int to_rows, const float *bias)
{
	#pragma omp parallel for schedule(static)
	for (int r = 0; r < rows; r++)
		for (int b = 0; b < B; b++) {
			float *x = batched + ((size_t)b * rows + r) * hw, *t = byrow + ((size_t)r * B + b) * hw;
			if (to_rows) { memcpy(t, x, hw * sizeof *t); continue; }
			if (!bias) { memcpy(x, t, hw * sizeof *x); continue; }
			for (size_t q = 0; q < hw; q++) x[q] = t[q] + bias[r];
		}
}

/* Training plans keep the batch's col as one matrix, so forward is one large GEMM per group
 * into [Cout x B*OH*OW] (in the workspace), then a transpose to NCHW. */
static void forward_batched(sn_graph *g, sn_node *n)
{
	const sn_conv_attr *a = &n->a.conv;
	sn_shape in = sn_in(g, n, 0)->out;
	sn_conv_geom ge = geom(n, in);
	const int B = g->batch, G = a->groups, mg = a->out_c / G, kg = in.c / G * a->kh * a->kw;
	const size_t ohw = (size_t)n->out.h * n->out.w, K = B * ohw, xs = sn_shape_numel(in);
	const float *X = sn_in(g, n, 0)->y, *w = sn_t(g, n, SN_T_WEIGHT)->data;
	float *col = n->saved, *yT = g->ws;
	#pragma omp parallel for schedule(static)
	for (int b = 0; b < B; b++) sn_im2col(X + b * xs, &ge, col + b * ohw, K);
	for (int gi = 0; gi < G; gi++)
		sn_gemm(0, 0, mg, (int)K, kg, 1.0f, w + (size_t)gi * mg * kg, kg, col + (size_t)gi * kg * K, (int)K, 0.0f,
		        yT + (size_t)gi * mg * K, (int)K);
	sn_tensor *bias = sn_t(g, n, SN_T_BIAS);
	batch_transpose(n->y, B, a->out_c, ohw, yT, 0, bias ? bias->data : NULL);
}

static void conv_forward(sn_graph *g, sn_node *n)
{
	sn_shape in = sn_in(g, n, 0)->out;
	const float *X = sn_in(g, n, 0)->y;
	const size_t xs = sn_shape_numel(in), ys = sn_shape_numel(n->out), cs = col_floats(n, in);
	const int B = g->batch, T = sn_get_threads(), ohw = n->out.h * n->out.w;
	if (n->saved) { forward_batched(g, n); return; }
	if (B < T) { /* few images: parallelise inside each GEMM instead */
		for (int b = 0; b < B; b++) forward_image(g, n, X + b * xs, g->ws, ohw, n->y + b * ys);
		return;
	}
	#pragma omp parallel for schedule(static)
	for (int b = 0; b < B; b++)
		forward_image(g, n, X + b * xs, g->ws + (size_t)omp_get_thread_num() * cs, ohw, n->y + b * ys);
}

/* dW += dY' col'^T per group, one GEMM over the whole batch; db = row sums of dY'. */
static void weight_grad(sn_graph *g, sn_node *n)
{
	const sn_conv_attr *a = &n->a.conv;
	sn_node *p = sn_in(g, n, 0);
	const int G = a->groups, mg = a->out_c / G, B = g->batch, kg = p->out.c / G * a->kh * a->kw;
	const size_t ohw = (size_t)n->out.h * n->out.w, K = B * ohw;
	float *dyT = g->ws, *col = n->saved;
	batch_transpose(n->dy, B, a->out_c, ohw, dyT, 1, NULL);
	if (is_pointwise(a)) {
		col = dyT + (size_t)a->out_c * K;
		batch_transpose(p->y, B, p->out.c, ohw, col, 1, NULL);
	}
	sn_tensor *w = sn_t(g, n, SN_T_WEIGHT), *bias = sn_t(g, n, SN_T_BIAS);
	for (int gi = 0; gi < G; gi++)
		sn_gemm(0, 1, mg, kg, (int)K, 1.0f, dyT + (size_t)gi * mg * K, (int)K, col + (size_t)gi * kg * K, (int)K, 1.0f,
		        w->grad + (size_t)gi * mg * kg, kg);
	if (bias) {
		#pragma omp parallel for schedule(static)
		for (int o = 0; o < a->out_c; o++) {
			double s = 0;
			for (size_t q = 0; q < K; q++) s += dyT[o * K + q];
			bias->grad[o] += (float)s;
		}
	}
}

static void input_grad_image(sn_graph *g, sn_node *n, int b, float *dcol, int acc)
{
	const sn_conv_attr *a = &n->a.conv;
	sn_node *p = sn_in(g, n, 0);
	sn_shape in = p->out;
	sn_conv_geom ge = geom(n, in);
	const int G = a->groups, mg = a->out_c / G, kg = in.c / G * a->kh * a->kw, ohw = n->out.h * n->out.w;
	const size_t xs = sn_shape_numel(in), ys = sn_shape_numel(n->out);
	const float *w = sn_t(g, n, SN_T_WEIGHT)->data, *dy = n->dy + b * ys;
	float *dx = p->dy + b * xs;
	int pw = is_pointwise(a);
	for (int gi = 0; gi < G; gi++) {
		float *dst = pw ? dx + (size_t)gi * kg * ohw : dcol + (size_t)gi * kg * ohw;
		sn_gemm(1, 0, kg, ohw, mg, 1.0f, w + (size_t)gi * mg * kg, kg, dy + (size_t)gi * mg * ohw, ohw,
		        pw && acc ? 1.0f : 0.0f, dst, ohw);
	}
	if (!pw) sn_col2im(dcol, &ge, dx, acc);
}

static void conv_backward(sn_graph *g, sn_node *n)
{
	sn_node *p = sn_in(g, n, 0);
	if (!n->frozen) weight_grad(g, n);
	if (!p->needs_grad) return;
	int acc = sn_dy_accumulate(p);
	const size_t cs = col_floats(n, p->out);
	if (g->batch < sn_get_threads()) {
		for (int b = 0; b < g->batch; b++) input_grad_image(g, n, b, g->ws, acc);
		return;
	}
	#pragma omp parallel for schedule(static)
	for (int b = 0; b < g->batch; b++)
		input_grad_image(g, n, b, g->ws + (size_t)omp_get_thread_num() * cs, acc);
}

int sn_op_conv(sn_graph *g, sn_node *n, sn_action act)
{
	switch (act) {
	case SN_ACT_SHAPE: return conv_shape(g, n);
	case SN_ACT_SIZES: conv_sizes(g, n); return SN_OK;
	case SN_ACT_FORWARD: conv_forward(g, n); return SN_OK;
	case SN_ACT_BACKWARD: conv_backward(g, n); return SN_OK;
	}
	return SN_OK;
}
