/* ONNX operators that become slimnn layers, and the patterns that fold into one: a Pad into
 * the next Conv or AveragePool, x * HardSigmoid(x) into Hardswish, x * Sigmoid(x) into SiLU,
 * torch's Div/Erf/Add/Mul/Mul chain into GELU, Reshape -> Transpose ->
 * Reshape into a channel shuffle, torch's Slice/Concat chain into circular padding, a constant
 * Add after MatMul into the Linear's bias. Every attribute and dim is checked before use. */
#include <math.h>
#include "onnx/onnx_import.h"

/* Adds n as the layer of the current node's first output; SN_OK or the error. */
static int layer(ctx *c, sn_node *n)
{
	int id = sn_onnx_emit(c, n, NULL);
	return id < 0 ? id : SN_OK;
}

/* ---------------------------------------------------------------- padding folded into a layer */

static int auto_pad_set(ctx *c)
{
	char buf[32];
	return strcmp(sn_onnx_attr_str(c, "auto_pad", "NOTSET", buf, sizeof buf), "NOTSET") != 0;
}

/* auto_pad SAME_UPPER / SAME_LOWER / VALID / NOTSET -> explicit pads (t, l, b, r). */
static int auto_pad(ctx *c, sn_shape in, int kh, int kw, int sh, int sw, int dh, int dw, int pads[4])
{
	char buf[32];
	const char *ap = sn_onnx_attr_str(c, "auto_pad", "NOTSET", buf, sizeof buf);
	if (!strcmp(ap, "NOTSET")) return SN_OK;
	if (!strcmp(ap, "VALID")) { memset(pads, 0, 4 * sizeof *pads); return SN_OK; }
	int lower = !strcmp(ap, "SAME_LOWER");
	if (!lower && strcmp(ap, "SAME_UPPER")) return node_err(c, SN_EFORMAT, "unknown auto_pad '%s'", ap);
	const int in_hw[2] = {in.h, in.w}, k[2] = {kh, kw}, s[2] = {sh, sw}, d[2] = {dh, dw};
	for (int i = 0; i < 2; i++) {
		long long out = (in_hw[i] + s[i] - 1) / s[i], ek = (long long)d[i] * (k[i] - 1) + 1;
		long long total = (out - 1) * s[i] + ek - in_hw[i];
		if (total < 0) total = 0;
		if (total > ATTR_MAX) return node_err(c, SN_EFORMAT, "auto_pad gives an absurd padding");
		int small = (int)(total / 2), big = (int)(total - small);
		pads[i] = lower ? big : small;
		pads[i + 2] = lower ? small : big;
	}
	return SN_OK;
}

/* Input 0 of a layer that may take over a deferred Pad: *pad gets it (mode SN_PAD_ZEROS, no
 * pads when there is none to take) and *x the node to read; `ok` says whether this layer can
 * express that pad, else the Pad becomes a layer of its own. */
static int padded_input(ctx *c, int (*ok)(ctx *, const sn_pad_attr *, const int *own), const int *own,
                        sn_pad_attr *pad, int *x)
{
	value *v;
	int rc = sn_onnx_input(c, 0, &v);
	memset(pad, 0, sizeof *pad);
	if (rc) return rc;
	if (v->kind == V_DEFER && v->op == SN_OP_PAD && !auto_pad_set(c) && ok(c, &v->pad, own)) {
		*pad = v->pad;
		*x = v->node;
		sn_onnx_qdq_read(c, v);
		return SN_OK;
	}
	return sn_onnx_data_input(c, 0, x);
}

static int any(const int p[4]) { return p[0] || p[1] || p[2] || p[3]; }

/* A conv pads zeros (added to its own pads, within the limit of any pad) or, without pads of
 * its own, any mode. */
static int conv_takes(ctx *c, const sn_pad_attr *p, const int *own)
{
	if (p->mode != SN_PAD_ZEROS) return !any(own);
	return p->value == 0 && SN_MAX(SN_MAX(own[0] + p->pt, own[1] + p->pl), SN_MAX(own[2] + p->pb, own[3] + p->pr)) <= ATTR_MAX;
}

/* torch writes AvgPool2d(padding=p) as Pad(constant 0) + AveragePool without pads. */
static int avgpool_takes(ctx *c, const sn_pad_attr *p, const int *own)
{
	const int kh = own[4], kw = own[5];
	return p->mode == SN_PAD_ZEROS && p->value == 0 && !any(own) && 2 * SN_MAX(p->pt, p->pb) <= kh &&
	       2 * SN_MAX(p->pl, p->pr) <= kw;
}

static int never(ctx *c, const sn_pad_attr *p, const int *own) { return 0; }

/* ---------------------------------------------------------------- layers with weights */

int sn_onnx_op_conv(ctx *c)
{
	int x = 0, rc;
	if ((rc = sn_onnx_need_inputs(c, 2, 3))) return rc;
	float *w = NULL, *b = NULL;
	size_t nw, nb = 0;
	const Onnx__TensorProto *wt, *bt = NULL;
	if ((rc = sn_onnx_const_input(c, 1, "weight", &w, &nw, &wt))) return rc;
	if (wt->n_dims != 4) {
		free(w);
		return node_err(c, SN_EFORMAT, "the weight has rank %zu, expected 4 [out, in/groups, kh, kw]; "
		                "slimnn supports 2-D convolutions only", wt->n_dims);
	}
	if (sn_onnx_in_name(c, 2) && (rc = sn_onnx_const_input(c, 2, "bias", &b, &nb, &bt))) { free(w); return rc; }
	sn_node n = {.op = SN_OP_CONV, .n_in = 1};
	sn_pad_attr pad;
	int64_t group;
	int k[2] = {(int)wt->dims[2], (int)wt->dims[3]}, s[2] = {1, 1}, d[2] = {1, 1}, p[4] = {0, 0, 0, 0}, f;
	if ((rc = sn_onnx_attr_int(c, "group", 1, 1, ATTR_MAX, &group)) ||
	    (rc = sn_onnx_attr_ints(c, "kernel_shape", 2, 1, ATTR_MAX, k, &f)) ||
	    (rc = sn_onnx_attr_ints(c, "strides", 2, 1, ATTR_MAX, s, &f)) ||
	    (rc = sn_onnx_attr_ints(c, "dilations", 2, 1, ATTR_MAX, d, &f)) ||
	    (rc = sn_onnx_attr_ints(c, "pads", 4, 0, ATTR_MAX, p, &f)) ||
	    (rc = padded_input(c, conv_takes, p, &pad, &x)) ||
	    (rc = auto_pad(c, c->g->node[x].out, k[0], k[1], s[0], s[1], d[0], d[1], p))) goto out;
	if ((rc = sn_onnx_qweight_axis(c, 0))) goto out;
	if (k[0] != wt->dims[2] || k[1] != wt->dims[3]) {
		rc = node_err(c, SN_EFORMAT, "kernel_shape %dx%d disagrees with the weight's %lldx%lld", k[0], k[1],
		              (long long)wt->dims[2], (long long)wt->dims[3]);
		goto out;
	}
	if (wt->dims[0] < 1 || wt->dims[0] > ATTR_MAX || k[0] > ATTR_MAX || k[1] > ATTR_MAX) {
		rc = node_err(c, SN_EFORMAT, "the weight's %lld outputs or %dx%d kernel are out of range [1, %d]", (long long)wt->dims[0],
		              k[0], k[1], ATTR_MAX);
		goto out;
	}
	n.in[0] = x;
	n.a.conv = (sn_conv_attr){.out_c = (int)wt->dims[0], .kh = k[0], .kw = k[1], .sh = s[0], .sw = s[1], .dh = d[0],
	                          .dw = d[1], .groups = (int)group, .bias = b != NULL, .pt = p[0] + pad.pt,
	                          .pl = p[1] + pad.pl, .pb = p[2] + pad.pb, .pr = p[3] + pad.pr, .mode = pad.mode};
	int id = sn_onnx_emit(c, &n, sn_onnx_in_name(c, 1));
	if (id < 0) { rc = id; goto out; }
	if ((rc = sn_onnx_check_dims(c, id, SN_T_WEIGHT, wt, "weight"))) goto out;
	if (b && (rc = sn_onnx_check_dims(c, id, SN_T_BIAS, bt, "bias"))) goto out;
	rc = sn_onnx_give_weight_bias(c, id, &w, nw, &b, nb);
out:
	free(w); free(b);
	return rc;
}

/* Gemm (transB=1 is torch's Linear; transB=0 is transposed here) and MatMul with a constant B. */
int sn_onnx_op_linear(ctx *c, int matmul)
{
	int x = 0, rc;
	if ((rc = sn_onnx_need_inputs(c, 2, matmul ? 2 : 3)) || (rc = sn_onnx_data_input(c, 0, &x))) return rc;
	int64_t ta = 0, tb = 0;   /* MatMul: B is [in, out] like Gemm with transB=0 */
	float alpha = 1, beta = 1;
	if (!matmul && ((rc = sn_onnx_attr_int(c, "transA", 0, 0, 1, &ta)) || (rc = sn_onnx_attr_int(c, "transB", 0, 0, 1, &tb)) ||
	                (rc = sn_onnx_attr_float(c, "alpha", 1, &alpha)) || (rc = sn_onnx_attr_float(c, "beta", 1, &beta))))
		return rc;
	if (ta || alpha != 1 || beta != 1)
		return node_err(c, SN_EFORMAT, "only transA=0, alpha=1, beta=1 are supported (as torch's Linear writes it)");
	if (c->g->node[x].out.rank != 2)
		return node_err(c, SN_EFORMAT, "%s of a 4-D tensor is not supported; flatten it first", c->nd->op_type);
	float *w = NULL, *b = NULL, *wt_data = NULL;
	size_t nw, nb = 0;
	const Onnx__TensorProto *wt, *bt = NULL;
	if ((rc = sn_onnx_const_input(c, 1, "weight", &w, &nw, &wt))) return rc;
	if (wt->n_dims != 2) { free(w); return node_err(c, SN_EFORMAT, "the weight has rank %zu, expected 2", wt->n_dims); }
	if (sn_onnx_in_name(c, 2) && (rc = sn_onnx_const_input(c, 2, "bias", &b, &nb, &bt))) { free(w); return rc; }
	const int out_f = (int)wt->dims[tb ? 0 : 1], in_f = (int)wt->dims[tb ? 1 : 0];
	if ((rc = sn_onnx_qweight_axis(c, tb ? 0 : 1))) goto out;
	if (b && nb != (size_t)out_f) {
		rc = node_err(c, SN_ESHAPE, "the bias has %zu values for %d outputs (broadcast biases are not supported)", nb, out_f);
		goto out;
	}
	if (out_f < 1 || out_f > ATTR_MAX) { rc = node_err(c, SN_EFORMAT, "the weight's %d outputs are out of range [1, %d]", out_f, ATTR_MAX); goto out; }
	sn_node n = {.op = SN_OP_LINEAR, .n_in = 1, .in = {x}, .a.linear = {out_f, b != NULL}};
	int id = sn_onnx_emit(c, &n, sn_onnx_in_name(c, 1));
	if (id < 0) { rc = id; goto out; }
	const sn_tensor *t = &c->g->tensor[c->g->node[id].t[SN_T_WEIGHT]];
	if (t->dims[0] != out_f || t->dims[1] != in_f) {
		rc = node_err(c, SN_ESHAPE, "the weight is for %d inputs but the layer gets %d", in_f, t->dims[1]);
		goto out;
	}
	if (!tb) {   /* [in, out] -> [out, in] */
		if (!(wt_data = malloc(nw * sizeof *wt_data))) { rc = sn_seterr(SN_ENOMEM, "out of memory"); goto out; }
		for (int i = 0; i < in_f; i++)
			for (int o = 0; o < out_f; o++) wt_data[(size_t)o * in_f + i] = w[(size_t)i * out_f + o];
		free(w); w = wt_data;
	}
	rc = sn_onnx_give_weight_bias(c, id, &w, nw, &b, nb);
out:
	free(w); free(b);
	return rc;
}

int sn_onnx_op_bn(ctx *c)
{
	int x = 0, rc;
	if ((rc = sn_onnx_need_inputs(c, 5, 5)) || (rc = sn_onnx_data_input(c, 0, &x))) return rc;
	int64_t training;
	float eps, mom;
	if ((rc = sn_onnx_attr_int(c, "training_mode", 0, 0, 1, &training)) || (rc = sn_onnx_attr_float(c, "epsilon", 1e-5f, &eps)) ||
	    (rc = sn_onnx_attr_float(c, "momentum", 0.9f, &mom)))
		return rc;
	if (training) return node_err(c, SN_EFORMAT, "training_mode=1 is not supported; export the model in eval mode");
	if (!(eps > 0 && eps <= 1) || mom < 0 || mom > 1) return node_err(c, SN_EFORMAT, "epsilon must be in (0, 1] and momentum in [0, 1]");
	/* ONNX: running = running * momentum + batch * (1 - momentum); torch's momentum is the other weight */
	sn_node n = {.op = SN_OP_BN, .n_in = 1, .in = {x}, .a.bn = {eps, 1.0f - mom}};
	float *p[4] = {0};
	size_t np[4];
	const Onnx__TensorProto *tp[4];
	static const char *what[4] = {"scale", "bias", "mean", "variance"};
	for (int i = 0; i < 4 && !rc; i++) rc = sn_onnx_const_input(c, 1 + i, what[i], &p[i], &np[i], &tp[i]);
	int id = rc ? rc : sn_onnx_emit(c, &n, sn_onnx_in_name(c, 1));
	if (id < 0) rc = id;
	for (int i = 0; i < 4 && !rc; i++) rc = sn_onnx_check_dims(c, id, i, tp[i], what[i]);
	for (int i = 0; i < 4; i++) {
		if (!rc) rc = sn_onnx_give(c, id, i, p[i], np[i]);
		else free(p[i]);
	}
	return rc;
}

/* ---------------------------------------------------------------- activations and pools */

int sn_onnx_op_simple(ctx *c, sn_op op, size_t max_in)
{
	int x = 0, rc;
	if ((rc = sn_onnx_need_inputs(c, 1, max_in)) || (rc = sn_onnx_data_input(c, 0, &x))) return rc;
	sn_node n = {.op = op, .n_in = 1, .in = {x}};
	return layer(c, &n);
}

/* Clip(0, 6) is ReLU6 and Clip(0, inf) ReLU; bounds are attributes before opset 11, inputs after. */
int sn_onnx_op_clip(ctx *c)
{
	float lo = -INFINITY, hi = INFINITY;
	int rc;
	if (c->opset < 11) {
		if ((rc = sn_onnx_attr_float(c, "min", -INFINITY, &lo)) || (rc = sn_onnx_attr_float(c, "max", INFINITY, &hi))) return rc;
	} else {
		if ((rc = sn_onnx_need_inputs(c, 1, 3))) return rc;
		float *b[2] = {NULL, NULL};
		size_t nb;
		for (int i = 0; i < 2 && !rc; i++) {
			if (!sn_onnx_in_name(c, 1 + i)) continue;
			rc = sn_onnx_const_input(c, 1 + i, i ? "max" : "min", &b[i], &nb, NULL);
			if (!rc && nb != 1) rc = node_err(c, SN_EFORMAT, "the %s bound must be a scalar", i ? "max" : "min");
			if (!rc) *(i ? &hi : &lo) = b[i][0];
		}
		free(b[0]); free(b[1]);
		if (rc) return rc;
	}
	if (lo == 0 && hi == 6) return sn_onnx_op_simple(c, SN_OP_RELU6, 3);
	if (lo == 0 && hi == INFINITY) return sn_onnx_op_simple(c, SN_OP_RELU, 3);
	return node_err(c, SN_EFORMAT, "Clip(%g, %g) is not supported; only Clip(0, 6) (ReLU6) and Clip(0, inf) (ReLU)", lo, hi);
}

/* HardSigmoid waits for its consumer: x * HardSigmoid(x) is Hardswish, anything else adds it. */
int sn_onnx_op_hardsigmoid(ctx *c)
{
	int x = 0, rc;
	float alpha, beta;
	if ((rc = sn_onnx_need_inputs(c, 1, 1)) || (rc = sn_onnx_data_input(c, 0, &x)) ||
	    (rc = sn_onnx_attr_float(c, "alpha", 0.2f, &alpha)) || (rc = sn_onnx_attr_float(c, "beta", 0.5f, &beta)))
		return rc;
	value *v = sn_onnx_define(c, c->nd->output[0], V_DEFER);
	if (!v) return node_err(c, SN_EFORMAT, "%s", sn_errmsg());
	*v = (value){.name = v->name, .kind = V_DEFER, .node = x, .op = SN_OP_HARDSIGMOID, .hsig = {alpha, beta}, .src = c->nd_idx};
	return SN_OK;
}

int sn_onnx_op_pool(ctx *c, sn_op op)
{
	int x = 0, rc;
	if ((rc = sn_onnx_need_inputs(c, 1, 1))) return rc;
	if (c->nd->n_output > 1 && c->nd->output[1] && *c->nd->output[1])
		return node_err(c, SN_EFORMAT, "the Indices output of MaxPool is not supported");
	int k[2], s[2] = {1, 1}, d[2] = {1, 1}, p[4] = {0, 0, 0, 0}, f;
	int64_t ceil_mode, cip;
	if ((rc = sn_onnx_attr_ints(c, "kernel_shape", 2, 1, ATTR_MAX, k, &f))) return rc;
	if (!f) return node_err(c, SN_EFORMAT, "kernel_shape is missing");
	if ((rc = sn_onnx_attr_ints(c, "strides", 2, 1, ATTR_MAX, s, &f)) ||
	    (rc = sn_onnx_attr_ints(c, "dilations", 2, 1, ATTR_MAX, d, &f)) ||
	    (rc = sn_onnx_attr_ints(c, "pads", 4, 0, ATTR_MAX, p, &f)) || (rc = sn_onnx_attr_int(c, "ceil_mode", 0, 0, 1, &ceil_mode)) ||
	    (rc = sn_onnx_attr_int(c, "count_include_pad", 0, 0, 1, &cip)))
		return rc;
	const int own[6] = {p[0], p[1], p[2], p[3], k[0], k[1]};
	sn_pad_attr pad;
	if ((rc = padded_input(c, op == SN_OP_AVGPOOL ? avgpool_takes : never, own, &pad, &x)) ||
	    (rc = auto_pad(c, c->g->node[x].out, k[0], k[1], s[0], s[1], 1, 1, p)))
		return rc;
	if (d[0] != 1 || d[1] != 1) return node_err(c, SN_EFORMAT, "dilated pooling is not supported");
	sn_node n = {.op = op, .n_in = 1, .in = {x}};
	n.a.pool = (sn_pool_attr){k[0], k[1], s[0], s[1], p[0], p[2], p[1], p[3], (int)ceil_mode, (int)cip};
	if (pad.pt || pad.pb || pad.pl || pad.pr) {   /* the padded zeros were real values to ONNX */
		n.a.pool.pt = pad.pt; n.a.pool.pl = pad.pl; n.a.pool.pb = pad.pb; n.a.pool.pr = pad.pr;
		n.a.pool.count_include_pad = 1;
	}
	return layer(c, &n);
}

/* Softmax over the channels only. Before opset 13 the axis flattens everything after it, so
 * axis 1 of an image is the channels only when H = W = 1. */
int sn_onnx_op_softmax(ctx *c)
{
	int x = 0, rc;
	int64_t axis;
	if ((rc = sn_onnx_need_inputs(c, 1, 1)) || (rc = sn_onnx_data_input(c, 0, &x))) return rc;
	const sn_shape s = c->g->node[x].out;
	if ((rc = sn_onnx_attr_int(c, "axis", c->opset < 13 ? 1 : -1, -s.rank, s.rank - 1, &axis))) return rc;
	if (sn_onnx_axis(axis, s.rank) != 1 || (c->opset < 13 && s.rank == 4 && (s.h != 1 || s.w != 1)))
		return node_err(c, SN_EFORMAT, "Softmax over axis %lld of a rank-%d tensor is not supported; slimnn's softmax runs "
		                "over the channels (axis 1)", (long long)axis, s.rank);
	sn_node n = {.op = SN_OP_SOFTMAX, .n_in = 1, .in = {x}};
	return layer(c, &n);
}

/* ReduceMean over H and W is global average pooling (then a flatten when keepdims=0). */
int sn_onnx_op_reduce_mean(ctx *c)
{
	int x = 0, rc, f;
	int64_t keep;
	value axes;
	if ((rc = sn_onnx_need_inputs(c, 1, 1)) || (rc = sn_onnx_data_input(c, 0, &x)) ||
	    (rc = sn_onnx_attr_ints_any(c, "axes", &axes, &f)) || (rc = sn_onnx_attr_int(c, "keepdims", 1, 0, 1, &keep)))
		return rc;
	const int rank = c->g->node[x].out.rank;
	int a0 = axes.n_ints == 2 ? sn_onnx_axis(axes.ints[0], rank) : -1, a1 = axes.n_ints == 2 ? sn_onnx_axis(axes.ints[1], rank) : -1;
	if (rank != 4 || SN_MIN(a0, a1) != 2 || SN_MAX(a0, a1) != 3)
		return node_err(c, SN_EFORMAT, "ReduceMean is supported only over the spatial axes [2, 3] of an image "
		                "(global average pooling)");
	sn_node gap = {.op = SN_OP_GAP, .n_in = 1, .in = {x}};
	if (keep) return layer(c, &gap);
	int k = sn_onnx_add_layer(c, &gap, NULL);
	if (k < 0) return k;
	sn_node flat = {.op = SN_OP_FLATTEN, .n_in = 1, .in = {k}};
	return layer(c, &flat);
}

/* Pad waits for its consumer (a Conv or AveragePool may take it over); pads of N and C, and
 * negative pads (cropping), are refused. */
int sn_onnx_op_pad(ctx *c)
{
	int x = 0, rc;
	char buf[32];
	value pads = {0};
	float fill = 0;
	if ((rc = sn_onnx_data_input(c, 0, &x))) return rc;
	const char *mode = sn_onnx_attr_str(c, "mode", "constant", buf, sizeof buf);
	if (c->opset < 11) {
		int f;
		if ((rc = sn_onnx_need_inputs(c, 1, 1)) || (rc = sn_onnx_attr_ints_any(c, "pads", &pads, &f)) ||
		    (rc = sn_onnx_attr_float(c, "value", 0, &fill)))
			return rc;
	} else {
		if ((rc = sn_onnx_need_inputs(c, 2, 3)) || (rc = sn_onnx_ints_input(c, 1, &pads))) return rc;
		if (sn_onnx_in_name(c, 2)) {
			float *v;
			size_t n;
			if ((rc = sn_onnx_const_input(c, 2, "constant value", &v, &n, NULL))) return rc;
			fill = n == 1 ? v[0] : NAN;
			free(v);
			if (!isfinite(fill)) return node_err(c, SN_EFORMAT, "the constant value must be one finite number");
		}
	}
	if (c->g->node[x].out.rank != 4 || pads.n_ints != 8 || pads.cols)
		return node_err(c, SN_EFORMAT, "Pad is supported only on images [N, C, H, W], with 8 pads");
	if (pads.ints[0] || pads.ints[1] || pads.ints[4] || pads.ints[5])
		return node_err(c, SN_EFORMAT, "padding the batch or the channels is not supported (only H and W)");
	sn_pad_attr a = {.value = fill};
	const int64_t t = pads.ints[2], l = pads.ints[3], b = pads.ints[6], r = pads.ints[7];
	if (SN_MIN(SN_MIN(t, l), SN_MIN(b, r)) < 0 || SN_MAX(SN_MAX(t, l), SN_MAX(b, r)) > ATTR_MAX)
		return node_err(c, SN_EFORMAT, "pads %lld, %lld, %lld, %lld (top, left, bottom, right) are out of range [0, %d]; "
		                "negative pads (cropping) are not supported", (long long)t, (long long)l, (long long)b, (long long)r, ATTR_MAX);
	a.pt = (int)t; a.pl = (int)l; a.pb = (int)b; a.pr = (int)r;
	if (!strcmp(mode, "constant")) a.mode = SN_PAD_ZEROS;
	else if (!strcmp(mode, "reflect")) a.mode = SN_PAD_REFLECT;
	else if (!strcmp(mode, "edge")) a.mode = SN_PAD_REPLICATE;
	else return node_err(c, SN_EFORMAT, "Pad mode '%s' is not supported (constant, reflect, edge)", mode);
	value in = {.kind = V_NODE, .node = x, .qdq = sn_onnx_qdq_read_by(c, x)};
	if (!a.pt && !a.pl && !a.pb && !a.pr) return sn_onnx_alias(c, 0, &in);   /* padding by nothing */
	value *v = sn_onnx_define(c, c->nd->output[0], V_DEFER);
	if (!v) return node_err(c, SN_EFORMAT, "%s", sn_errmsg());
	*v = (value){.name = v->name, .kind = V_DEFER, .node = x, .op = SN_OP_PAD, .pad = a, .src = c->nd_idx, .qdq = in.qdq};
	return SN_OK;
}

/* ---------------------------------------------------------------- GELU and SiLU */

/* v is a constant scalar within float rounding of want. */
static int const_scalar(const value *v, float want)
{
	float *f;
	size_t n;
	if (v->kind != V_CONST || sn_onnx_get_floats(v->t, v->name, &f, &n)) return 0;
	const int ok = n == 1 && fabsf(f[0] - want) <= 1e-6f * fabsf(want);
	free(f);
	return ok;
}

/* Output 0 becomes step `step` of a GELU of node x. */
static int gelu_step(ctx *c, int x, int step)
{
	value *v = sn_onnx_define(c, c->nd->output[0], V_GELU);
	if (!v) return node_err(c, SN_EFORMAT, "%s", sn_errmsg());
	*v = (value){.name = v->name, .kind = V_GELU, .node = x, .step = step};
	return SN_OK;
}

static int is_step(const value *v, int step) { return v->kind == V_GELU && v->step == step; }

int sn_onnx_op_gelu_div(ctx *c)
{
	value *a, *b;
	int x, rc;
	if ((rc = sn_onnx_input(c, 0, &a)) || (rc = sn_onnx_input(c, 1, &b))) return rc;
	if (a->kind == V_CONST || !const_scalar(b, 1.41421356f)) return 0;
	if ((rc = sn_onnx_data_input(c, 0, &x)) || (rc = gelu_step(c, x, 1))) return rc;
	return 1;
}

int sn_onnx_op_erf(ctx *c)
{
	value *v;
	int rc;
	if ((rc = sn_onnx_need_inputs(c, 1, 1)) || (rc = sn_onnx_input(c, 0, &v))) return rc;
	if (!is_step(v, 1))
		return node_err(c, SN_EFORMAT, "Erf is supported only in GELU as torch writes it, x * (1 + Erf(x / sqrt 2)) * 0.5");
	return gelu_step(c, v->node, 2);
}

/* x * Sigmoid(x): SiLU as torch writes it. s is the Sigmoid layer just added (the last one) and
 * nothing else reads it. */
static int is_silu(ctx *c, const value *s, const value *x)
{
	if (s->kind != V_NODE || x->kind != V_NODE || s->node != c->g->n_node - 1) return 0;
	const sn_node *n = &c->g->node[s->node];
	return n->op == SN_OP_SIGMOID && n->in[0] == x->node && sn_onnx_uses(c, s->name) == 1;
}

/* ---------------------------------------------------------------- element-wise */

int sn_onnx_op_add(ctx *c)
{
	int rc;
	value *a, *b;
	if ((rc = sn_onnx_input(c, 0, &a)) || (rc = sn_onnx_input(c, 1, &b))) return rc;
	if ((is_step(a, 2) && const_scalar(b, 1)) || (is_step(b, 2) && const_scalar(a, 1)))   /* GELU's 1 + Erf */
		return gelu_step(c, a->kind == V_GELU ? a->node : b->node, 3);
	if (a->kind != V_CONST && b->kind != V_CONST) {
		sn_node n = {.op = SN_OP_ADD, .n_in = 2};
		if ((rc = sn_onnx_data_input(c, 0, &n.in[0])) || (rc = sn_onnx_data_input(c, 1, &n.in[1]))) return rc;
		return layer(c, &n);
	}
	/* MatMul + Add: a constant bias folds into the Linear before it when that is its only use */
	value *x = a->kind == V_NODE ? a : b, *k = a->kind == V_NODE ? b : a;
	if (x->kind != V_NODE || k->kind != V_CONST)
		return node_err(c, SN_EFORMAT, "Add needs two computed tensors of the same shape (or a Linear and its bias)");
	sn_node *p = &c->g->node[x->node];
	if (p->op != SN_OP_LINEAR || p->a.linear.bias || sn_onnx_uses(c, x->name) != 1)
		return node_err(c, SN_EFORMAT, "adding a constant is supported only as the bias right after a MatMul");
	float *bias;
	size_t nb;
	if ((rc = sn_onnx_get_floats(k->t, k->name, &bias, &nb))) return node_err(c, rc, "%s", sn_errmsg());
	if (nb != (size_t)p->a.linear.out) {
		free(bias);
		return node_err(c, SN_ESHAPE, "the bias has %zu values for %d outputs", nb, p->a.linear.out);
	}
	p->a.linear.bias = 1;
	if ((rc = sn_op_get(SN_OP_LINEAR)->run(c->g, p, NULL, SN_ACT_SHAPE))) { free(bias); return node_err(c, rc, "%s", sn_errmsg()); }
	if ((rc = sn_onnx_give(c, x->node, SN_T_BIAS, bias, nb))) return rc;
	return sn_onnx_alias(c, 0, x);
}

/* x * HardSigmoid(x) with torch's alpha 1/6 and beta 1/2 is Hardswish (torch below opset 14). */
static int is_hardswish(const value *h, const value *x)
{
	return h->kind == V_DEFER && h->op == SN_OP_HARDSIGMOID && fabsf(h->hsig.alpha - 1.0f / 6) <= 1e-6f &&
	       h->hsig.beta == 0.5f && x->kind == V_NODE && x->node == h->node;
}

/* Element-wise product of two tensors of the same rank (ONNX and slimnn broadcast alike then):
 * squeeze-and-excitation's x * gate. */
int sn_onnx_op_mul(ctx *c)
{
	int rc;
	value *a, *b;
	if ((rc = sn_onnx_input(c, 0, &a)) || (rc = sn_onnx_input(c, 1, &b))) return rc;
	if (is_hardswish(a, b) || is_hardswish(b, a)) {
		const value *x = a->kind == V_NODE ? a : b;
		sn_node n = {.op = SN_OP_HARDSWISH, .n_in = 1, .in = {x->node}};
		sn_onnx_qdq_read(c, x);   /* x read through QDQ (or not) */
		return layer(c, &n);
	}
	if (is_silu(c, a, b) || is_silu(c, b, a)) {   /* the Sigmoid becomes SiLU, named for this Mul */
		const value *s = is_silu(c, a, b) ? a : b;
		c->g->node[s->node].op = SN_OP_SILU;
		sn_onnx_rename(c, s->node);
		return sn_onnx_alias(c, 0, s);
	}
	const value *g4 = is_step(a, 4) ? a : is_step(b, 4) ? b : NULL, *g3 = is_step(a, 3) ? a : is_step(b, 3) ? b : NULL;
	if (g4 && const_scalar(g4 == a ? b : a, 0.5f)) {   /* GELU's last step: the layer */
		sn_node n = {.op = SN_OP_GELU, .n_in = 1, .in = {g4->node}};
		return layer(c, &n);
	}
	if (g3) {
		const value *x = g3 == a ? b : a;
		if (x->kind == V_NODE && x->node == g3->node) return gelu_step(c, g3->node, 4);
	}
	if (a->kind == V_CONST || b->kind == V_CONST)
		return node_err(c, SN_EFORMAT, "Mul by a constant tensor is not supported (only products of computed tensors)");
	sn_node n = {.op = SN_OP_MUL, .n_in = 2};
	if ((rc = sn_onnx_data_input(c, 0, &n.in[0])) || (rc = sn_onnx_data_input(c, 1, &n.in[1]))) return rc;
	const int ra = sn_onnx_rank(c, a, n.in[0]), rb = sn_onnx_rank(c, b, n.in[1]);
	if (ra != rb) return node_err(c, SN_EFORMAT, "Mul of tensors of different ranks (%d and %d) is not supported", ra, rb);
	return layer(c, &n);
}

/* ---------------------------------------------------------------- reshaping */

/* Flatten(axis=1) and Reshape to [N, -1]: both become slimnn's flatten (a rank-2 input passes). */
static int flatten_to(ctx *c, int x)
{
	if (c->g->node[x].out.rank == 2) {
		value in = {.kind = V_NODE, .node = x, .qdq = sn_onnx_qdq_read_by(c, x)};
		return sn_onnx_alias(c, 0, &in);
	}
	sn_node n = {.op = SN_OP_FLATTEN, .n_in = 1, .in = {x}};
	return layer(c, &n);
}

int sn_onnx_op_flatten(ctx *c)
{
	int x = 0, rc;
	int64_t axis;
	if ((rc = sn_onnx_need_inputs(c, 1, 1)) || (rc = sn_onnx_data_input(c, 0, &x))) return rc;
	int rank = c->g->node[x].out.rank;
	if ((rc = sn_onnx_attr_int(c, "axis", 1, -rank, rank, &axis))) return rc;
	if (axis < 0) axis += rank;
	if (axis != 1) return node_err(c, SN_EFORMAT, "Flatten with axis=%lld is not supported (only axis=1)", (long long)axis);
	return flatten_to(c, x);
}

/* The per-sample dims of a Reshape target (after the batch dimension): 0 copies the input's
 * dim (unless allowzero), one -1 takes what is left of numel. Returns the count, or -1. */
static int target_dims(const value *s, int allowzero, const int64_t *in, int in_rank, long long numel, int64_t *out)
{
	const int64_t b = s->n_ints ? s->ints[0] : 0;
	if (s->n_ints < 2 || s->cols || !(b == SYM_BATCH || b == -1 || b > 0 || (b == 0 && !allowzero))) return -1;
	long long known = 1;
	int free_at = -1;
	for (int i = 1; i < s->n_ints; i++) {
		int64_t d = s->ints[i];
		if (d == 0 && !allowzero && i < in_rank) d = in[i];
		if (d == -1 && free_at < 0 && b != -1) { free_at = i; d = 1; }
		else if (d < 1 || d > SN_DIM_MAX) return -1;
		known *= d;
		if (known > SN_DIM_MAX) return -1;
		out[i - 1] = d;
	}
	if (free_at > 0) {
		if (numel % known) return -1;
		out[free_at - 1] = numel / known;
	} else if (known != numel) {
		return -1;
	}
	return s->n_ints - 1;
}

/* The target as text, for errors. */
static const char *ints_text(const value *s, char *buf, size_t len)
{
	buf[0] = 0;
	for (int i = 0; i < s->n_ints; i++) {
		size_t k = strlen(buf);
		if (s->ints[i] == SYM_BATCH) snprintf(buf + k, len - k, "%sN", i ? ", " : "");
		else snprintf(buf + k, len - k, "%s%lld", i ? ", " : "", (long long)s->ints[i]);
	}
	return buf;
}

/* Reshape: shape arithmetic; flatten to [N, -1]; the two reshapes of a channel shuffle
 * ([N, C, H, W] -> [N, g, C/g, H, W], and back after the Transpose); [N, C, H, W] to itself. */
int sn_onnx_op_reshape(ctx *c)
{
	int x = 0, rc;
	value *dv, s;
	int64_t allowzero, d[INTS_MAX] = {0};
	if ((rc = sn_onnx_need_inputs(c, 2, 2)) || (rc = sn_onnx_input(c, 0, &dv))) return rc;
	if (sn_onnx_is_ints(dv)) {
		value data;
		return (rc = sn_onnx_ints_input(c, 0, &data)) ? rc : sn_onnx_ints_reshape(c, &data);
	}
	if ((rc = sn_onnx_ints_input(c, 1, &s)) || (rc = sn_onnx_attr_int(c, "allowzero", 0, 0, 1, &allowzero))) return rc;
	const int shuffled = dv->kind == V_SHUF2, groups = dv->groups;
	if (shuffled) x = dv->node;
	else if ((rc = sn_onnx_data_input(c, 0, &x))) return rc;
	const sn_shape in = c->g->node[x].out;
	const int64_t dims[4] = {SYM_BATCH, in.c, in.h, in.w};
	const int n = target_dims(&s, (int)allowzero, dims, shuffled ? 0 : in.rank, (long long)sn_shape_numel(in), d);
	const int same = n == in.rank - 1 && d[0] == in.c && (n == 1 || (d[1] == in.h && d[2] == in.w));
	if (shuffled && same && in.rank == 4) {
		sn_node sh = {.op = SN_OP_SHUFFLE, .n_in = 1, .in = {x}, .a.shuffle = {groups}};
		return layer(c, &sh);
	}
	if (!shuffled && n == 1) return flatten_to(c, x);
	if (!shuffled && same) { value v = {.kind = V_NODE, .node = x, .qdq = sn_onnx_qdq_read_by(c, x)}; return sn_onnx_alias(c, 0, &v); }
	if (!shuffled && in.rank == 2 && (n == 2 || n == 3) && d[0] == in.c && d[1] == 1 && d[n - 1] == 1) {
		value v = {.kind = V_NODE, .node = x, .onnx_rank = n + 1, .qdq = sn_onnx_qdq_read_by(c, x)};   /* [N, C] as [N, C, 1] or [N, C, 1, 1] */
		return sn_onnx_alias(c, 0, &v);
	}
	if (!shuffled && n == 4 && in.rank == 4 && d[0] * d[1] == in.c && d[2] == in.h && d[3] == in.w && d[0] <= ATTR_MAX) {
		value *v = sn_onnx_define(c, c->nd->output[0], V_SHUF1);
		if (!v) return node_err(c, SN_EFORMAT, "%s", sn_errmsg());
		v->node = x;
		v->groups = (int)d[0];
		return SN_OK;
	}
	char buf[160];
	return node_err(c, SN_EFORMAT, "Reshape to [%s] is not supported; only flattening to [N, -1] and channel shuffle "
	                "([N, g, C/g, H, W], transposed, back to [N, C, H, W])", ints_text(&s, buf, sizeof buf));
}

int sn_onnx_op_transpose(ctx *c)
{
	int rc, f;
	value *dv, perm;
	if ((rc = sn_onnx_need_inputs(c, 1, 1)) || (rc = sn_onnx_input(c, 0, &dv))) return rc;
	if (sn_onnx_is_ints(dv)) {
		value data;
		return (rc = sn_onnx_ints_input(c, 0, &data)) ? rc : sn_onnx_ints_transpose(c, &data);
	}
	if ((rc = sn_onnx_attr_ints_any(c, "perm", &perm, &f))) return rc;
	static const int64_t shuffle[5] = {0, 2, 1, 3, 4};
	if (dv->kind == V_SHUF1 && perm.n_ints == 5 && !memcmp(perm.ints, shuffle, sizeof shuffle)) {
		value *v = sn_onnx_define(c, c->nd->output[0], V_SHUF2);
		if (!v) return node_err(c, SN_EFORMAT, "%s", sn_errmsg());
		v->node = dv->node;
		v->groups = dv->groups;
		return SN_OK;
	}
	return node_err(c, SN_EFORMAT, "Transpose is supported only in a channel shuffle (perm [0, 2, 1, 3, 4] of "
	                "[N, g, C/g, H, W]) and in shape arithmetic");
}

/* ---------------------------------------------------------------- channels: concat, split, slice */

static int circular_source(const value *v) { return v->kind == V_NODE || (v->kind == V_DEFER && v->op == SN_OP_PAD && v->pad.mode == SN_PAD_CIRCULAR); }

/* torch's circular padding along one axis: Concat([x[-p:], x, x[:q]]) (either side may be
 * missing) is x padded circularly by p and q, a deferred pad that the next Conv takes over. */
static int concat_circular(ctx *c, int axis)
{
	const int n = (int)c->nd->n_input;
	value *in[3] = {0};
	int center = -1, rc;
	for (int i = 0; i < n; i++) {
		if ((rc = sn_onnx_input(c, (size_t)i, &in[i]))) return rc;
		if (in[i]->kind != V_SSLICE) center = center < 0 ? i : n;
	}
	const value *x = center >= 0 && center < n ? in[center] : NULL;
	const value *left = x && center > 0 ? in[0] : NULL, *right = x && center < n - 1 ? in[n - 1] : NULL;
	if (!x || !circular_source(x) || (center > 0 && center != 1) || (n - 1 - center > 1))
		return node_err(c, SN_EFORMAT, "Concat along axis %d is supported only as circular padding "
		                "(Concat([x[..., -p:], x, x[..., :q]]))", axis);
	const int dim = sn_onnx_spatial_dim(c, x, axis), of = (int)(x - c->v);
	for (int i = 0; i < 2; i++) {
		const value *s = i ? right : left;
		if (s && (s->of != of || s->axis != axis))
			return node_err(c, SN_EFORMAT, "Concat along axis %d joins slices of other tensors; only circular padding "
			                "is supported", axis);
	}
	if (left && left->end == dim - 1)
		return node_err(c, SN_EFORMAT, "this Slice/Concat chain pads with rows %d..%d instead of the last %d: it is torch "
		                "1.13's wrong export of padding_mode='circular' (pytorch issue 86690), which does not compute what "
		                "the PyTorch model does; export with torch 2.0 or later", left->start, left->end - 1, left->end - left->start);
	if ((left && left->end != dim) || (right && right->start != 0))
		return node_err(c, SN_EFORMAT, "Concat along axis %d is supported only as circular padding: the slices must be the "
		                "last and the first rows or columns", axis);
	value r = *x;
	if (x->kind == V_NODE) r = (value){.kind = V_DEFER, .node = x->node, .op = SN_OP_PAD, .pad = {.mode = SN_PAD_CIRCULAR}};
	r.src = c->nd_idx;   /* the layer, if it becomes one, is named after the last Concat */
	int *lo = axis == 2 ? &r.pad.pt : &r.pad.pl, *hi = axis == 2 ? &r.pad.pb : &r.pad.pr;
	if (*lo || *hi) return node_err(c, SN_EFORMAT, "circular padding twice along axis %d is not supported", axis);
	*lo = left ? left->end - left->start : 0;
	*hi = right ? right->end : 0;
	return sn_onnx_alias(c, 0, &r);
}

int sn_onnx_op_concat(ctx *c)
{
	int rc;
	int64_t axis;
	if (c->nd->n_input < 1 || c->nd->n_input > SN_MAX_IN)
		return node_err(c, SN_EFORMAT, "Concat of %zu inputs is not supported (1..%d)", c->nd->n_input, SN_MAX_IN);
	value *v0;
	if ((rc = sn_onnx_input(c, 0, &v0))) return rc;
	if (sn_onnx_is_ints(v0)) return sn_onnx_ints_concat(c);
	for (size_t i = 0; i < c->nd->n_input && c->nd->n_input <= 3; i++) {
		value *v;
		if ((rc = sn_onnx_input(c, i, &v))) return rc;
		if (v->kind == V_SSLICE) {
			if ((rc = sn_onnx_attr_int(c, "axis", 1, -4, 3, &axis))) return rc;
			return concat_circular(c, sn_onnx_axis(axis, 4));
		}
	}
	sn_node n = {.op = SN_OP_CONCAT, .n_in = (int)c->nd->n_input};
	for (size_t i = 0; i < c->nd->n_input; i++)
		if ((rc = sn_onnx_data_input(c, i, &n.in[i]))) return rc;
	int rank = c->g->node[n.in[0]].out.rank;
	if ((rc = sn_onnx_attr_int(c, "axis", 1, -rank, rank - 1, &axis))) return rc;
	if (sn_onnx_axis(axis, rank) != 1)
		return node_err(c, SN_EFORMAT, "Concat along axis %lld is not supported (only channels, axis 1)", (long long)axis);
	if (n.n_in == 1) { value v = {.kind = V_NODE, .node = n.in[0], .qdq = sn_onnx_qdq_read_by(c, n.in[0])}; return sn_onnx_alias(c, 0, &v); }
	return layer(c, &n);
}

/* Split along the channels: one slice layer per output that something reads. */
int sn_onnx_op_split(ctx *c)
{
	int x = 0, rc, f = 0;
	int64_t axis;
	value sizes = {0};
	const size_t n_out = c->nd->n_output;
	if ((rc = sn_onnx_need_inputs(c, 1, 2)) || (rc = sn_onnx_data_input(c, 0, &x))) return rc;
	const sn_shape s = c->g->node[x].out;
	if ((rc = sn_onnx_attr_int(c, "axis", 0, -s.rank, s.rank - 1, &axis))) return rc;
	if (sn_onnx_axis(axis, s.rank) != 1)
		return node_err(c, SN_EFORMAT, "Split along axis %lld is not supported (only channels, axis 1)", (long long)axis);
	if (n_out > INTS_MAX) return node_err(c, SN_EFORMAT, "Split into %zu parts is not supported (at most %d)", n_out, INTS_MAX);
	if (c->opset >= 13 ? (sn_onnx_in_name(c, 1) && (rc = sn_onnx_ints_input(c, 1, &sizes))) : (rc = sn_onnx_attr_ints_any(c, "split", &sizes, &f)))
		return rc;
	if (!sizes.n_ints) {   /* equal parts */
		if (s.c % (int)n_out) return node_err(c, SN_EFORMAT, "%d channels do not split into %zu equal parts", s.c, n_out);
		sizes.n_ints = (int)n_out;
		for (size_t i = 0; i < n_out; i++) sizes.ints[i] = s.c / (int)n_out;
	}
	long long total = 0;
	for (int i = 0; i < sizes.n_ints; i++) {
		if (sizes.ints[i] < 1 || sizes.ints[i] > s.c) return node_err(c, SN_EFORMAT, "split size %lld is out of range [1, %d]", (long long)sizes.ints[i], s.c);
		total += sizes.ints[i];
	}
	if ((size_t)sizes.n_ints != n_out || total != s.c)
		return node_err(c, SN_EFORMAT, "split sizes (%d of them, %lld channels) must match the %zu outputs and the %d channels",
		                sizes.n_ints, total, n_out, s.c);
	c->outputs_done = (int)n_out;
	for (size_t i = 0, start = 0; i < n_out; start += (size_t)sizes.ints[i++]) {
		const char *name = c->nd->output[i];
		if (!name || !*name) continue;
		if (!sn_onnx_uses(c, name)) {   /* nothing reads it: no layer */
			value *v = sn_onnx_define(c, name, V_UNUSABLE);
			if (!v) return node_err(c, SN_EFORMAT, "%s", sn_errmsg());
			v->why = "an output of Split that nothing else reads";
			continue;
		}
		sn_node n = {.op = SN_OP_SLICE, .n_in = 1, .in = {x}, .a.slice = {(int)start, (int)(start + sizes.ints[i])}};
		value in = {.kind = V_NODE, .node = x, .qdq = sn_onnx_qdq_read_by(c, x)};
		rc = sizes.ints[i] == s.c ? sn_onnx_alias(c, i, &in) : sn_onnx_emit_output(c, &n, NULL, i);
		if (rc < 0) return rc;
	}
	return SN_OK;
}

/* Slice of a tensor along one axis with step 1 (axes sliced whole are ignored): the channels
 * become a slice layer; H or W is half of the circular-padding chain. */
int sn_onnx_op_slice(ctx *c)
{
	int rc;
	value *dv, st, en, ax, sp;
	if ((rc = sn_onnx_input(c, 0, &dv))) return rc;
	if (sn_onnx_is_ints(dv)) {
		value data;
		return (rc = sn_onnx_ints_input(c, 0, &data)) ? rc : sn_onnx_ints_slice(c, &data);
	}
	if ((rc = sn_onnx_slice_args(c, &st, &en, &ax, &sp))) return rc;
	int x;
	if (!circular_source(dv)) {   /* make it a node: a deferred layer is added, a whole slice is its source */
		if ((rc = sn_onnx_data_input(c, 0, &x))) return rc;
		if (dv->kind == V_SSLICE) dv = &c->v[dv->of];
	}
	x = dv->node;   /* a node, or the unpadded input of a circular pad on its way */
	const sn_shape s = c->g->node[x].out;
	const int rank = sn_onnx_rank(c, dv, x);
	int axis = -1, whole_spatial = -1;
	int64_t start = 0, end = 0;
	for (int i = 0; i < st.n_ints; i++) {
		const int a = sn_onnx_axis(ax.ints[i], rank);
		if (a < 0) return node_err(c, SN_EFORMAT, "Slice axis %lld is out of range for a rank-%d tensor", (long long)ax.ints[i], rank);
		int64_t b = st.ints[i], e = en.ints[i];
		if (a == 0) {   /* the batch: only whole */
			if (b != 0 || e < INT32_MAX || sp.ints[i] != 1) return node_err(c, SN_EFORMAT, "slicing the batch is not supported");
			continue;
		}
		const int64_t dim = a == 1 ? s.c : sn_onnx_spatial_dim(c, dv, a);
		sn_onnx_slice_range(dim, sp.ints[i], &b, &e);
		if (sp.ints[i] == 1 && b == 0 && e == dim) {   /* whole; along H or W maybe a circular pad's full wrap */
			if (a >= 2 && s.rank == 4) whole_spatial = a;
			continue;
		}
		if (sp.ints[i] != 1 || axis >= 0)
			return node_err(c, SN_EFORMAT, "Slice is supported along one axis with step 1 only");
		if (e <= b) return node_err(c, SN_EFORMAT, "Slice [%lld, %lld) of axis %d is empty", (long long)b, (long long)e, a);
		axis = a; start = b; end = e;
	}
	if (axis < 0 && whole_spatial >= 0) { axis = whole_spatial; start = 0; end = sn_onnx_spatial_dim(c, dv, axis); }
	if (axis < 0) return sn_onnx_alias(c, 0, dv);
	if (axis == 1) {
		if ((rc = sn_onnx_data_input(c, 0, &x))) return rc;
		sn_node n = {.op = SN_OP_SLICE, .n_in = 1, .in = {x}, .a.slice = {(int)start, (int)end}};
		return layer(c, &n);
	}
	if (s.rank != 4)
		return node_err(c, SN_EFORMAT, "slicing rows or columns is supported only in the Slice/Concat chain of circular padding");
	value *v = sn_onnx_define(c, c->nd->output[0], V_SSLICE);
	if (!v) return node_err(c, SN_EFORMAT, "%s", sn_errmsg());
	v->of = (int)(dv - c->v);
	v->axis = axis;
	v->start = (int)start;
	v->end = (int)end;
	return SN_OK;
}
