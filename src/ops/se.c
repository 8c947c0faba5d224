/* Squeeze-and-excitation fused for inference (slimnn.h, sn_se_attr): sn_prepare_inference makes
 * it from torchvision's SqueezeExcitation as efficientnet has it. Layer by layer, the block
 * wrote the input's SiLU, read it again for the pooling, and the Mul read it once more and wrote
 * a third full-size tensor. Here one pass applies the SiLU and sums each plane, the gates come
 * from the two small products, and a second pass scales the planes, both on the input's buffer
 * (in place where the plan lets it, as the only reader). The SiLU and Sigmoid are the layers'
 * own functions and the sums run in the same lanes as the gap layer's; only the two products
 * add in another order than the 1x1 convs' GEMMs (tests/test_se_fusion.c bounds the difference).
 * Inference only: it has no backward (a training pass fails there, naming the layer). */
#include "ops/elementwise.h"

enum { SE_W1 = 0, SE_B1 = 1, SE_W2 = 2, SE_B2 = 3 };

static int se_shape(sn_graph *g, sn_node *n)
{
	const sn_shape in = sn_in(g, n, 0)->out;
	if (in.rank != 4) return sn_shape_error(n, in, "squeeze-and-excitation needs an image input [N, C, H, W]");
	if (n->a.se.act != SN_SE_ACT_NONE && n->a.se.act != SN_SE_ACT_SILU)
		return sn_seterr(SN_EINVAL, "layer '%s': unknown input activation %d", n->name, n->a.se.act);
	n->out = in;
	int C = in.c, S = n->a.se.squeeze, w1[4] = {S, C, 1, 1}, w2[4] = {C, S, 1, 1};
	int rc = sn_need_tensor(g, n, SE_W1, 4, w1);
	if (!rc) rc = sn_need_tensor(g, n, SE_B1, 1, &S);
	if (!rc) rc = sn_need_tensor(g, n, SE_W2, 4, w2);
	return rc ? rc : sn_need_tensor(g, n, SE_B2, 1, &C);
}

/* b + w . x over k values, in vector lanes (in order, 1152 x 48 products took 0.06 ms) */
static float dot_bias(float b, const float *w, const float *x, int k)
{
	float s = 0;
	#pragma omp simd reduction(+ : s)
	for (int i = 0; i < k; i++) s += w[i] * x[i];
	return b + s;
}

/* Workspace: per image C means, S hidden values and C gates. */
static void se_forward(sn_graph *g, sn_node *n, sn_plan *pl)
{
	const int B = pl->batch, C = n->out.c, S = n->a.se.squeeze, silu_in = n->a.se.act == SN_SE_ACT_SILU;
	const int HW = n->out.h * n->out.w;
	const float *X = sn_rt_in(pl, n, 0)->y, *w1 = sn_t(g, n, SE_W1)->data, *b1 = sn_t(g, n, SE_B1)->data,
	            *w2 = sn_t(g, n, SE_W2)->data, *b2 = sn_t(g, n, SE_B2)->data;
	float *Y = sn_rt(pl, n)->y, *mean = pl->ws, *hid = mean + (size_t)B * C, *gate = hid + (size_t)B * S;
	#pragma omp parallel
	{
		#pragma omp for schedule(static)
		for (long p = 0; p < (long)B * C; p++) {
			const float *x = X + p * HW;
			float *y = Y + p * HW, s = 0;
			if (silu_in) {
				#pragma omp simd reduction(+ : s)
				for (int k = 0; k < HW; k++) { y[k] = sn_silu(x[k]); s += y[k]; }
			} else {
				#pragma omp simd reduction(+ : s)
				for (int k = 0; k < HW; k++) s += x[k];
				if (y != x) memcpy(y, x, (size_t)HW * sizeof *y);
			}
			mean[p] = s / HW;
		}
		#pragma omp for schedule(static)
		for (long q = 0; q < (long)B * S; q++)
			hid[q] = sn_silu(dot_bias(b1[q % S], w1 + q % S * C, mean + q / S * C, C));
		#pragma omp for schedule(static)
		for (long p = 0; p < (long)B * C; p++)
			gate[p] = sn_sigmoid(dot_bias(b2[p % C], w2 + p % C * S, hid + p / C * S, S));
		#pragma omp for schedule(static)
		for (long p = 0; p < (long)B * C; p++) {
			float *y = Y + p * HW;
			const float s = gate[p];
			#pragma omp simd
			for (int k = 0; k < HW; k++) y[k] *= s;
		}
	}
}

static int se(sn_graph *g, sn_node *n, sn_plan *pl, sn_action act)
{
	switch (act) {
	case SN_ACT_SHAPE: return se_shape(g, n);
	case SN_ACT_SIZES:
		sn_rt(pl, n)->ws_bytes = (size_t)pl->batch * (2 * n->out.c + n->a.se.squeeze) * sizeof(float);
		return SN_OK;
	case SN_ACT_FORWARD: se_forward(g, n, pl); return SN_OK;
	case SN_ACT_BACKWARD:
		return sn_seterr(SN_EINVAL, "layer '%s' (se) is a squeeze-and-excitation block fused for inference and has no "
		                 "backward; train the model as it was before sn_prepare_inference", n->name);
	}
	return SN_OK;
}

static const char *const se_acts[] = {"none", "silu"};   /* act=, indexed by sn_se_act */
static const sn_attr_def se_attrs[] = {
	SN_ATTR_COUNT("squeeze", a.se.squeeze, 0, SN_AF_REQUIRED),
	{.key = "act", .type = SN_AT_ENUM, .off = {SN_AT(a.se.act)}, .names = se_acts, .n_names = 2,
	 .what = "input activation", .expect = "none or silu (the activation of the input, applied first)"},
};
static const sn_tensor_def se_tensors[] = {
	{"fc1_weight", SN_TENSOR_PARAM, SN_INIT_FAN_IN}, {"fc1_bias", SN_TENSOR_PARAM, SN_INIT_FAN_IN},
	{"fc2_weight", SN_TENSOR_PARAM, SN_INIT_FAN_IN}, {"fc2_bias", SN_TENSOR_PARAM, SN_INIT_FAN_IN}};

const sn_op_def sn_op_def_se = {"se", "SqueezeExcitation", 1, 1, se, SN_OPF_IN_PLACE, SN_ATTRS(se_attrs),
                                SN_TENSORS(se_tensors), .macs = SN_MACS_PER_SAMPLE,
                                .path = "fused, in place", .path_in_place = "fused, in place"};
