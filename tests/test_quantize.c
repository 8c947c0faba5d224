/* int8 quantization (src/quantize/quantize.c, core/quant.h, the plans' int8 path, .slim QNT8):
 * every int8 conv gives the reference kernel's bytes from its int8 input, Add and pooling agree
 * with their definitions, the int8 model tracks float, files keep it bit for bit, and broken
 * int8 sections are refused. */
#include <stdlib.h>
#include "core/internal.h"
#include "core/quant.h"
#include "kernels/qconv.h"
#include "test.h"

/* residual block, grouped conv, max and average pooling, concat, GAP, Linear */
static const char *NET =
	"input x shape=3x12x12\n"
	"conv c1 out=8 k=3 pad=1 bias=0\nbn b1\nrelu r1\n"
	"conv c2 out=8 k=3 pad=1 groups=2\nbn b2\nadd a in=b2,r1\nrelu r2\n"
	"maxpool p k=2\n"
	"conv c3 out=8 k=3 pad=1 stride=2 groups=8\nconv c4 out=6 k=1\nconcat cat in=c3,c4\n"
	"avgpool ap k=3 stride=1 pad=1\n"
	"gap g\nflatten f\nlinear fc out=4\n";

/* random 3x12x12 images in 4 classes */
static void fake_data(sn_dataset *d, int n, uint64_t seed) { sn_test_random_images(d, n, 3, 12, 12, seed); }

/* BN statistics that are not the identity, so that folding matters */
static sn_graph *net(uint64_t seed)
{
	sn_graph *g = sn_test_net(NET, seed);
	if (!g) return NULL;
	sn_rng r;
	sn_rng_seed(&r, seed + 1);
	for (int i = 0; i < g->n_tensor; i++) {
		sn_tensor *t = &g->tensor[i];
		if (strstr(t->name, "running_var")) for (size_t k = 0; k < t->n; k++) t->data[k] = 0.5f + sn_rng_uniform(&r);
		if (strstr(t->name, "running_mean")) for (size_t k = 0; k < t->n; k++) t->data[k] = 0.2f * (sn_rng_uniform(&r) - 0.5f);
	}
	return g;
}

static sn_graph *quantized(const sn_dataset *d, sn_quantize_opts *o, sn_quantize_report *r)
{
	sn_graph *g = net(3);
	if (!g) return NULL;
	sn_graph *h = sn_quantize(g, d, NULL, o, r);
	if (!h) fprintf(stderr, "  sn_quantize: %s\n", sn_errmsg());
	sn_graph_free(g);
	return h;
}

static void batch_of(const sn_dataset *d, int n, float *x)
{
	int idx[64];
	int32_t y[64];
	for (int i = 0; i < n; i++) idx[i] = i;
	sn_dataset_batch(d, idx, n, NULL, NULL, x, y);
}

TEST(quantize_int8_layers_follow_their_definitions)
{
	sn_dataset d;
	fake_data(&d, 40, 7);
	sn_quantize_opts o = sn_quantize_defaults();
	o.calibration = SN_CALIB_MINMAX;
	o.batch = 16;
	sn_quantize_report rep;
	sn_graph *h = quantized(&d, &o, &rep);
	REQUIRE(h);
	CHECK(rep.int8_layers >= 9);   /* c1 c2 a p c3 c4 cat ap g f fc; r2 stays float */
	const int B = 5;
	float *x = malloc((size_t)B * 3 * 144 * sizeof *x);
	batch_of(&d, B, x);
	sn_plan *pl = sn_plan_new(h);
	REQUIRE(pl && sn_plan_reshape(pl, B, SN_PLAN_KEEP_OUTPUTS) == SN_OK);   /* every buffer read below */
	REQUIRE(sn_plan_forward(pl, x, B));
	int convs = 0, adds = 0, pools = 0;
	for (int i = 1; i < h->n_node; i++) {
		const sn_node *n = &h->node[i];
		const sn_node_rt *r = sn_rt(pl, n);
		if (!r->q8) continue;
		const sn_node *in = sn_in(h, n, 0);
		const int8_t *xq = sn_rt_in(pl, n, 0)->q;
		const size_t xs = sn_shape_numel(in->out), ys = sn_shape_numel(n->out);
		if (n->op == SN_OP_CONV) {
			sn_conv_geom ge = sn_node_conv_geom(n, in->out);
			sn_q8_conv p = {.w = n->q->w, .bias = n->q->bias, .mult = n->q->mult, .per_channel = 1,
			                .x_zp = in->q->y.zero_point, .y_zp = n->q->y.zero_point, .lo = n->q->lo, .hi = n->q->hi};
			int8_t *want = malloc(ys);
			for (int b = 0; b < B; b++) {
				sn_q8_conv_ref(xq + b * xs, &ge, n->a.conv.groups, n->a.conv.out_c, &p, want);
				CHECKF(!memcmp(want, r->q + b * ys, ys), "conv %s image %d differs from the reference", n->name, b);
			}
			free(want);
			convs++;
		}
		if (n->op == SN_OP_ADD) {   /* within one step of the real sum */
			const sn_qparams qa = in->q->y, qb = sn_in(h, n, 1)->q->y, qy = n->q->y;
			const int8_t *xb = sn_rt_in(pl, n, 1)->q;
			int worst = 0;
			for (size_t k = 0; k < B * ys; k++) {
				const double real = qa.scale * (xq[k] - qa.zero_point) + qb.scale * (xb[k] - qb.zero_point);
				double want = nearbyint(real / qy.scale) + qy.zero_point;
				want = want < -128 ? -128 : want > 127 ? 127 : want;
				worst = SN_MAX(worst, (int)fabs(want - r->q[k]));
			}
			CHECKF(worst <= 1, "add: %d steps off", worst);
			adds++;
		}
		if (n->op == SN_OP_MAXPOOL) {   /* its input's parameters, the window's largest byte */
			CHECK(n->q->y.scale == in->q->y.scale && n->q->y.zero_point == in->q->y.zero_point);
			int8_t m = -128;
			for (int a = 0; a < 2; a++)
				for (int c = 0; c < 2; c++) m = (int8_t)SN_MAX(m, xq[a * in->out.w + c]);
			CHECK(r->q[0] == m);
			pools++;
		}
		if (n->op == SN_OP_GAP) {   /* within one step of the real mean */
			const sn_qparams qx = in->q->y, qy = n->q->y;
			const int hw = in->out.h * in->out.w;
			int worst = 0;
			for (int pl_ = 0; pl_ < B * n->out.c; pl_++) {
				double s = 0;
				for (int k = 0; k < hw; k++) s += qx.scale * (xq[(size_t)pl_ * hw + k] - qx.zero_point);
				worst = SN_MAX(worst, (int)fabs(nearbyint(s / hw / qy.scale) + qy.zero_point - r->q[pl_]));
			}
			CHECKF(worst <= 1, "gap: %d steps off", worst);
			pools++;
		}
	}
	CHECK(convs == 4 && adds == 1 && pools == 2);
	/* the whole model tracks float: the logits of the float model, prepared the same way */
	sn_graph *g = net(3);
	float *zf = sn_test_logits(g, x, B), *zq = sn_test_logits(h, x, B);
	double sig = 0, noise = 0;
	for (int k = 0; k < B * 4; k++) { sig += zf[k] * zf[k]; noise += (zf[k] - zq[k]) * (zf[k] - zq[k]); }
	CHECKF(10 * log10(sig / noise) > 20, "logits SQNR %.1f dB", 10 * log10(sig / noise));
	/* a batch gives each image what it gives alone */
	float *one = sn_test_logits(h, x + 3 * 144 * 2, 1);
	CHECK(!memcmp(one, zq + 2 * 4, 4 * sizeof *one));
	free(one); free(zf); free(zq); free(x);
	sn_plan_free(pl);
	sn_graph_free(g); sn_graph_free(h);
	sn_quantize_report_free(&rep);
	sn_dataset_free(&d);
}

TEST(quantize_options_keep_float_per_tensor_and_refusals)
{
	sn_dataset d;
	fake_data(&d, 24, 9);
	sn_quantize_opts o = sn_quantize_defaults();
	o.keep_float = "c2,fc";
	o.per_tensor = 1;
	o.calibration = SN_CALIB_PERCENTILE;
	sn_quantize_report rep;
	sn_graph *h = quantized(&d, &o, &rep);
	REQUIRE(h);
	for (int k = 0; k < rep.n_rows; k++) {
		const sn_node *n = &h->node[rep.rows[k].node];
		if (!strcmp(n->name, "c2") || !strcmp(n->name, "fc")) CHECK(!rep.rows[k].int8 && !rep.rows[k].n_wscale);
		if (!strcmp(n->name, "c1")) CHECK(rep.rows[k].int8 && rep.rows[k].n_wscale == 1);
	}
	/* a quantized model does not train, nor quantize again */
	CHECK(sn_graph_plan(h, 2, 1) == SN_EINVAL && strstr(sn_errmsg(), "int8"));
	CHECK(!sn_quantize(h, &d, NULL, NULL, NULL) && strstr(sn_errmsg(), "quantized already"));
	sn_quantize_report_free(&rep);
	sn_graph_free(h);
	o = sn_quantize_defaults();
	o.keep_float = "b1";   /* folded into c1 */
	CHECK(!quantized(&d, &o, NULL) && strstr(sn_errmsg(), "'b1'"));
	sn_dataset_free(&d);
}

/* a file's bytes, with its CRC made right again after an edit */
static unsigned char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f) return NULL;
	fseek(f, 0, SEEK_END);
	*len = (size_t)ftell(f);
	rewind(f);
	unsigned char *p = malloc(*len);
	if (p && fread(p, 1, *len, f) != *len) { free(p); p = NULL; }
	fclose(f);
	return p;
}

static uint32_t crc32_of(const unsigned char *p, size_t n)
{
	uint32_t c = 0xffffffffu;
	for (size_t i = 0; i < n; i++) {
		c ^= p[i];
		for (int k = 0; k < 8; k++) c = c >> 1 ^ (0xedb88320u & -(c & 1));
	}
	return ~c;
}

static int load_edited(const char *path, const unsigned char *p, size_t len, size_t at, const void *v, size_t n)
{
	unsigned char *q = malloc(len);
	memcpy(q, p, len);
	memcpy(q + at, v, n);
	const uint32_t c = crc32_of(q, len - 4);
	memcpy(q + len - 4, &c, 4);
	FILE *f = fopen(path, "wb");
	fwrite(q, 1, len, f);
	fclose(f);
	free(q);
	sn_graph *g = sn_model_load(path, NULL, NULL);
	sn_graph_free(g);
	return g != NULL;
}

static size_t find(const unsigned char *p, size_t len, const char *s)
{
	const size_t n = strlen(s) + 1;   /* with its NUL */
	for (size_t i = 0; i + n <= len; i++)
		if (!memcmp(p + i, s, n)) return i;
	return 0;
}

TEST(quantize_slim_keeps_int8_models_and_refuses_broken_ones)
{
	sn_dataset d;
	fake_data(&d, 24, 11);
	sn_graph *h = quantized(&d, NULL, NULL);
	REQUIRE(h);
	char path[512], bad[512];
	snprintf(path, sizeof path, "%s/q.slim", sn_test_tmpdir());
	snprintf(bad, sizeof bad, "%s/q-bad.slim", sn_test_tmpdir());
	REQUIRE(sn_model_save(h, NULL, NULL, path) == SN_OK);
	sn_graph *l = sn_model_load(path, NULL, NULL);
	REQUIRE(l);
	float *x = malloc(4 * 3 * 144 * sizeof *x);
	batch_of(&d, 4, x);
	float *a = sn_test_logits(h, x, 4), *b = sn_test_logits(l, x, 4);
	CHECK(!memcmp(a, b, 16 * sizeof *a));
	for (int i = 0; i < h->n_node; i++) {
		const sn_qnode *p = h->node[i].q, *q = l->node[i].q;
		REQUIRE(p && q);
		CHECK(p->int8 == q->int8 && p->y.scale == q->y.scale && p->y.zero_point == q->y.zero_point);
		CHECK(p->w_n == q->w_n && (!p->w || !memcmp(p->w, q->w, p->w_n)));
	}
	free(a); free(b); free(x);
	/* the int8 weights are one byte a value */
	size_t len;
	unsigned char *p = slurp(path, &len);
	REQUIRE(p);
	const size_t w8 = sn_test_tensor(h, "fc.weight")->n;
	CHECK(len < (size_t)sn_graph_count(h, SN_TENSOR_PARAM, 0) * 4 - 3 * w8);
	/* the c1 record of QNT8: name, flags, scale, zero point, scale count, scales */
	size_t at = find(p, len, "c1");
	REQUIRE(at);
	at += 3;
	const float neg = -1.0f, nan_ = NAN;
	const int32_t zp = 300;
	const uint32_t count = 5, flags = 6;
	CHECK(load_edited(bad, p, len, at + 1, &(float){0.5f}, 4));   /* another scale: still a model */
	CHECK(!load_edited(bad, p, len, at + 1, &neg, 4) && strstr(sn_errmsg(), "scale"));
	CHECK(!load_edited(bad, p, len, at + 1, &nan_, 4));
	CHECK(!load_edited(bad, p, len, at + 5, &zp, 4) && strstr(sn_errmsg(), "zero point"));
	CHECK(!load_edited(bad, p, len, at + 9, &count, 4) && strstr(sn_errmsg(), "weight scales"));
	CHECK(!load_edited(bad, p, len, at, &flags, 1) && strstr(sn_errmsg(), "flags"));
	CHECK(!load_edited(bad, p, len, at + 13, &neg, 4) && strstr(sn_errmsg(), "weight scale"));
	/* the layer named by the record must exist, once */
	CHECK(!load_edited(bad, p, len, at - 3, "zz", 2) && strstr(sn_errmsg(), "'zz'"));
	free(p);
	sn_graph_free(l); sn_graph_free(h);
	sn_dataset_free(&d);
}

/* Pruned int8 weights are stored sparse (encodings 16 + CSR or bitmap) and come back exactly. */
TEST(quantize_slim_stores_pruned_int8_weights_sparse)
{
	sn_dataset d;
	fake_data(&d, 24, 13);
	sn_graph *g = net(5);
	REQUIRE(g);
	char dense[512], sparse[512];
	snprintf(dense, sizeof dense, "%s/q-dense.slim", sn_test_tmpdir());
	snprintf(sparse, sizeof sparse, "%s/q-sparse.slim", sn_test_tmpdir());
	sn_graph *h = sn_quantize(g, &d, NULL, NULL, NULL);
	REQUIRE(h && sn_model_save(h, NULL, NULL, dense) == SN_OK);
	sn_graph_free(h);
	size_t zeroed = 0;
	for (int i = 0; i < g->n_tensor; i++) {   /* 9 of every 10 weights of the convs and Linear */
		sn_tensor *t = &g->tensor[i];
		if (!strstr(t->name, ".weight") || t->ndim < 2) continue;
		for (size_t k = 0; k < t->n; k++)
			if (k % 10) { t->data[k] = 0; zeroed++; }
	}
	h = sn_quantize(g, &d, NULL, NULL, NULL);
	REQUIRE(h && sn_model_save(h, NULL, NULL, sparse) == SN_OK);
	sn_graph *l = sn_model_load(sparse, NULL, NULL);
	REQUIRE(l);
	for (int i = 0; i < h->n_node; i++)
		if (h->node[i].q && h->node[i].q->w) CHECK(!memcmp(h->node[i].q->w, l->node[i].q->w, h->node[i].q->w_n));
	size_t a = 0, b = 0;
	unsigned char *pa = slurp(dense, &a), *pb = slurp(sparse, &b);
	CHECKF(b + zeroed / 2 < a, "sparse int8 file %zu bytes, dense %zu, %zu weights zeroed", b, a, zeroed);
	free(pa); free(pb);
	sn_graph_free(l); sn_graph_free(h); sn_graph_free(g);
	sn_dataset_free(&d);
}

/* ---------------------------------------------------------------- quantization-aware training */

/* Fake quantization is quantize-then-dequantize to the bit, and marks the values inside the range. */
TEST(qat_fake_rounding_is_quantize_then_dequantize)
{
	sn_rng r;
	sn_rng_seed(&r, 5);
	enum { N = 4096 };
	float *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y), *want = malloc(N * sizeof *want);
	int8_t *q = malloc(N);
	uint8_t *pass = malloc(N);
	const sn_qparams p = {0.0371f, -17};
	for (int i = 0; i < N; i++) {
		const int k = (int)sn_rng_below(&r, 8);
		x[i] = k == 0 ? p.scale * ((float)(int)sn_rng_below(&r, 400) - 200 + 0.5f)   /* ties */
		     : k == 1 ? (sn_rng_uniform(&r) - 0.5f) * 1e30f
		     : k == 2 ? p.scale * (127 + 17 + 0.5f) * (sn_rng_uniform(&r) < 0.5f ? 1 : -1)   /* at the edges */
		     : (sn_rng_uniform(&r) - 0.5f) * 14;
	}
	x[0] = NAN; x[1] = INFINITY; x[2] = -INFINITY;
	memcpy(y, x, N * sizeof *x);
	sn_q_quantize(x, N, p, -128, 127, q);
	sn_q_dequantize(q, N, p, want);
	float lo = INFINITY, hi = -INFINITY;
	sn_q_fake(y, N, p, pass, &lo, &hi);
	int same = 0, marks = 0, in = 0;
	for (int i = 0; i < N; i++) {
		same += !memcmp(&y[i], &want[i], sizeof *y);
		const float v = x[i] / p.scale;
		const double u = v != v ? p.zero_point : nearbyint((double)v) + p.zero_point;
		marks += pass[i] == (u >= -128 && u <= 127);
		in += pass[i];
	}
	CHECKF(same == N, "%d of %d values differ from quantize + dequantize", N - same, N);
	CHECKF(marks == N, "%d pass marks wrong", N - marks);
	CHECK(in > N / 2 && in < N);
	CHECK(lo == -INFINITY && hi == INFINITY);
	free(x); free(y); free(want); free(q); free(pass);
}

/* A Linear in a fake-quantization training plan: the input and output rounded to their grids,
 * the weight as sn_qat_fake_weights rounds it, and the gradient straight through the output's
 * rounding, stopped where it clamped. */
TEST(qat_plan_rounds_and_passes_gradients_straight_through)
{
	sn_graph *g = sn_test_net("input x shape=6x1x1\nflatten f\nlinear fc out=5\n", 9);
	REQUIRE(g);
	const int B = 8;
	const sn_qparams px = {0.02f, 3}, py = {0.01f, -10};   /* py: a narrow range, some outputs clamp */
	g->node[0].q = sn_qnode_new(px, 0);
	g->node[1].q = sn_qnode_new(px, 1);
	g->node[2].q = sn_qnode_new(py, 1);
	sn_node *fc = &g->node[2];
	sn_tensor *w = sn_test_tensor(g, "fc.weight"), *b = sn_test_tensor(g, "fc.bias");
	REQUIRE(w && b && g->node[0].q && fc->q);
	float s[5];
	sn_q_weight_scales(w, 0, s);
	REQUIRE(sn_q_set_weights(g, fc, s, 5) == SN_OK && sn_q_derive(g) == SN_OK);
	sn_rng r;
	sn_rng_seed(&r, 3);
	for (size_t k = 0; k < w->n; k++) w->data[k] = sn_rng_uniform(&r) - 0.5f;   /* off the grid again */
	float master[30], x[B * 6], xq[B * 6], dl[B * 5];
	memcpy(master, w->data, sizeof master);
	for (int k = 0; k < B * 6; k++) x[k] = 4 * (sn_rng_uniform(&r) - 0.5f);
	for (int k = 0; k < B * 5; k++) dl[k] = sn_rng_uniform(&r) - 0.5f;
	int8_t t8[B * 6];
	sn_q_quantize(x, B * 6, px, -128, 127, t8);
	sn_q_dequantize(t8, B * 6, px, xq);
	CHECK(sn_plan_reshape(g->plan, B, SN_PLAN_TRAIN) != SN_OK && strstr(sn_errmsg(), "--qat"));
	REQUIRE(sn_plan_reshape(g->plan, B, SN_PLAN_TRAIN | SN_PLAN_FAKE_QUANT) == SN_OK);
	sn_qat_fake_weights(g);
	for (int o = 0; o < 5; o++) {   /* each row on its own grid: s = max |w| / 127 */
		float m = 0;
		for (int j = 0; j < 6; j++) m = fmaxf(m, fabsf(master[o * 6 + j]));
		const float so = m / 127;
		for (int j = 0; j < 6; j++) CHECK(w->data[o * 6 + j] == so * nearbyintf(master[o * 6 + j] / so));
	}
	const float *z = sn_graph_forward(g, x, B);
	REQUIRE(z);
	sn_graph_zero_grad(g);
	REQUIRE(sn_graph_backward(g, dl) == SN_OK);
	const sn_node_rt *rt = &g->plan->rt[2];
	int clamped = 0, worst = 0;
	double gerr = 0;
	for (int o = 0; o < 5; o++) {
		double gw[6] = {0};
		for (int i = 0; i < B; i++) {
			double acc = b->data[o];
			for (int j = 0; j < 6; j++) acc += (double)w->data[o * 6 + j] * xq[i * 6 + j];
			const double u = nearbyint(acc / py.scale) + py.zero_point;
			const int k = i * 5 + o;
			CHECK(rt->ste[k] == (u >= -128 && u <= 127) || fabs(acc / py.scale - nearbyint(acc / py.scale)) > 0.49);
			clamped += !rt->ste[k];
			const double want = py.scale * ((u < -128 ? -128 : u > 127 ? 127 : u) - py.zero_point);
			worst = SN_MAX(worst, (int)lround(fabs(z[k] - want) / py.scale));
			for (int j = 0; j < 6; j++) gw[j] += rt->ste[k] * dl[k] * xq[i * 6 + j];
		}
		for (int j = 0; j < 6; j++) gerr = fmax(gerr, fabs(gw[j] - w->grad[(size_t)o * 6 + j]));
	}
	CHECKF(worst <= 1, "outputs %d steps from the rounded Linear", worst);
	CHECK(clamped > 0 && clamped < B * 5);
	CHECKF(gerr < 1e-5, "weight gradient off by %g", gerr);
	/* the observers' view: the range before rounding */
	CHECK(rt->fq_lo < py.scale * (-128 - py.zero_point) || rt->fq_hi > py.scale * (127 - py.zero_point));
	sn_graph_free(g);
}

/* Observers: a moving range per record; layers that share their input's parameters keep them,
 * a layer read only by a ReLU takes the ReLU's range. */
TEST(qat_observers_move_ranges_and_keep_shared_ones)
{
	sn_dataset d;
	fake_data(&d, 24, 13);
	sn_graph *h = quantized(&d, NULL, NULL);
	REQUIRE(h);
	const int N = h->n_node, ia = sn_graph_find(h, "a"), ip = sn_graph_find(h, "p"), ic = sn_graph_find(h, "c3");
	REQUIRE(ia > 0 && ip > 0 && ic > 0 && sn_q_fused_activation(h, ia) > 0);
	float *lo = malloc(2 * (size_t)N * sizeof *lo), *hi = lo + N;
	for (int i = 0; i < N; i++) lo[i] = INFINITY, hi[i] = -INFINITY;   /* not observed */
	const sn_qparams c3 = h->node[ic].q->y;
	const float l0 = c3.scale * (-128 - c3.zero_point), h0 = c3.scale * (127 - c3.zero_point);
	lo[ic] = l0 - 1; hi[ic] = h0 + 2;
	lo[ia] = -3; hi[ia] = 5;
	sn_qat_observe(h, lo, hi, 0.25f);
	const sn_qnode *q = h->node[ic].q;
	CHECK_NEAR(q->obs_lo, l0 - 0.25f, 1e-5);
	CHECK_NEAR(q->obs_hi, h0 + 0.5f, 1e-5);
	CHECK(q->y.scale == sn_q_params_asym(q->obs_lo, q->obs_hi).scale);
	CHECK(h->node[ia].q->obs_lo >= 0);   /* the ReLU's range: nothing below 0 */
	CHECK(h->node[ip].q->y.scale == sn_in(h, &h->node[ip], 0)->q->y.scale);
	const sn_qparams before = h->node[1].q->y;
	sn_qat_observe(h, lo, hi, 0.25f);   /* an unobserved layer keeps its parameters */
	CHECK(h->node[1].q->y.scale == before.scale && h->node[1].q->y.zero_point == before.zero_point);
	free(lo);
	sn_graph_free(h);
	sn_dataset_free(&d);
}

static sn_graph *qat_run(const sn_graph *start, const sn_dataset *d, int observe, float *acc)
{
	sn_graph *g = sn_graph_clone(start);
	if (!g || sn_q_copy(g, start)) return NULL;
	sn_train_opts o = sn_train_defaults();
	o.epochs = 2; o.batch = 8; o.lr = 0.01f; o.progress = 0; o.augment = (sn_augment){0};
	o.qat = 1; o.qat_observe_epochs = observe;
	sn_meta m = {0};
	sn_test_mute();
	const int rc = sn_train(g, d, d, &o, NULL, &m);
	sn_test_unmute();
	if (rc) { fprintf(stderr, "  sn_train: %s\n", sn_errmsg()); sn_graph_free(g); return NULL; }
	*acc = (float)m.test_accuracy;
	return g;
}

/* Training with --qat ends with an int8 model of weights on their grids, whose int8 accuracy is the
 * one reported, the same on every run; frozen observers keep the ranges. */
TEST(qat_training_gives_the_int8_model_it_reports)
{
	sn_dataset d;
	fake_data(&d, 48, 17);
	sn_graph *h = quantized(&d, NULL, NULL);
	REQUIRE(h);
	float acc1, acc2, acc3;
	sn_graph *a = qat_run(h, &d, -1, &acc1), *b = qat_run(h, &d, -1, &acc2), *c = qat_run(h, &d, 0, &acc3);
	REQUIRE(a && b && c);
	CHECK(sn_graph_is_int8(a));
	CHECK(!memcmp(a->w, b->w, a->n_w * sizeof *a->w) && acc1 == acc2);   /* deterministic */
	CHECK(memcmp(a->w, h->w, a->n_w * sizeof *a->w));                     /* it trained */
	int ranges_moved = 0, frozen_kept = 1;
	for (int i = 0; i < a->n_node; i++) {
		const sn_node *n = &a->node[i];
		ranges_moved += n->q->y.scale != h->node[i].q->y.scale;
		frozen_kept &= c->node[i].q->y.scale == h->node[i].q->y.scale && c->node[i].q->y.zero_point == h->node[i].q->y.zero_point;
		const sn_tensor *t = sn_q_weight(a, n);
		if (!t || !sn_node_runs_int8(n)) continue;
		const size_t k = t->n / (size_t)t->dims[0];
		int on_grid = 1;
		for (size_t j = 0; j < t->n; j++) on_grid &= t->data[j] == n->q->w_scale[n->q->n_scale == 1 ? 0 : j / k] * n->q->w[j];
		CHECKF(on_grid, "%s: float weights are not its int8 values times the scales", n->name);
	}
	CHECK(ranges_moved > 0 && frozen_kept);
	sn_eval_result ev;
	REQUIRE(sn_evaluate(a, &d, 16, &ev) == SN_OK);   /* the int8 plan */
	CHECKF((float)ev.accuracy == acc1, "int8 accuracy %g, reported %g", ev.accuracy, acc1);
	sn_eval_free(&ev);
	/* a float model is refused */
	sn_graph *f = net(3);
	sn_train_opts o = sn_train_defaults();
	o.epochs = 1; o.batch = 8; o.progress = 0; o.qat = 1;
	CHECK(sn_train(f, &d, &d, &o, NULL, NULL) != SN_OK && strstr(sn_errmsg(), "quantize it first"));
	sn_graph_free(f);
	sn_graph_free(a); sn_graph_free(b); sn_graph_free(c); sn_graph_free(h);
	sn_dataset_free(&d);
}
