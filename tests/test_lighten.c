/* Lightening: the closed forms are exact where mathematics says so, their errors are the
 * discarded singular values, counts are exact, and the new models save, load and train. */
#include <lapacke.h>
#include <stdlib.h>
#include "test.h"
#include "slimnn.h"

static sn_graph *net(const char *text, uint64_t seed)
{
	sn_graph *g = sn_arch_parse(text, NULL);
	if (g) sn_graph_init_params(g, seed);
	return g;
}

static float *tensor(sn_graph *g, const char *name)
{
	int k = sn_tensor_find(g, name);
	return k >= 0 ? g->tensor[k].data : NULL;
}

static float *random_input(const sn_graph *g, int n, uint64_t seed)
{
	sn_rng r;
	sn_rng_seed(&r, seed);
	size_t k = (size_t)n * sn_shape_numel(sn_graph_input_shape(g));
	float *x = malloc(k * sizeof *x);
	for (size_t i = 0; i < k; i++) x[i] = 2 * sn_rng_uniform(&r) - 1;
	return x;
}

static sn_lighten_opts opts(unsigned transforms)
{
	sn_lighten_opts o = sn_lighten_defaults();
	o.transforms = transforms;
	o.min_saving = 0;
	o.dsc_mode = SN_DSC_LINEAR;
	return o;
}

/* max relative difference of the two graphs' outputs on random inputs */
static double compare(sn_graph *a, sn_graph *b, int n)
{
	float *x = random_input(a, n, 7), *ya = sn_test_logits(a, x, n), *yb = sn_test_logits(b, x, n);
	double d = ya && yb ? sn_test_maxrel(yb, ya, (size_t)n * sn_shape_numel(sn_graph_output_shape(a))) : INFINITY;
	free(x); free(ya); free(yb);
	return d;
}

/* ||W - W^||^2 / ||W||^2 predicted by Eckart-Young for keeping the top `keep` singular values
 * of each of `n` row-major m x k blocks given by get(); the singular values come from the
 * eigenvalues of A A' (dsyev), not from the SVD the pass uses. */
static double discarded_share(int n, int m, int k, int keep, void (*get)(int, double *, const void *), const void *u)
{
	double *a = malloc(sizeof(double) * m * k), *g = malloc(sizeof(double) * m * m), *ev = malloc(sizeof(double) * m);
	double lost = 0, total = 0;
	for (int b = 0; b < n; b++) {
		get(b, a, u);
		for (int i = 0; i < m; i++)
			for (int j = 0; j < m; j++) {
				double s = 0;
				for (int t = 0; t < k; t++) s += a[i * k + t] * a[j * k + t];
				g[i * m + j] = s;
			}
		LAPACKE_dsyev(LAPACK_ROW_MAJOR, 'N', 'U', m, g, m, ev);   /* ascending */
		for (int i = 0; i < m; i++) {
			total += ev[i];
			if (i < m - keep) lost += ev[i] > 0 ? ev[i] : 0;
		}
	}
	free(a); free(g); free(ev);
	return lost / total;
}

typedef struct { const float *w; int cout, cin, K; } slices;
static void dsc_slice(int i, double *a, const void *u)
{
	const slices *s = u;
	for (int o = 0; o < s->cout; o++)
		for (int k = 0; k < s->K; k++) a[o * s->K + k] = s->w[((size_t)o * s->cin + i) * s->K + k];
}

/* ---------------------------------------------------------------- dsc */

TEST(lighten_dsc_separable_kernel_is_exact)
{
	sn_graph *g = net("input x shape=3x8x8\nconv c out=5 k=3 pad=1\nrelu r\n", 1);
	REQUIRE(g);
	/* W[o, i, :] = a[o, i] f[i, :]: every input channel's slice has rank 1 */
	float *w = tensor(g, "c.weight");
	sn_rng r;
	sn_rng_seed(&r, 5);
	float a[5][3], f[3][9];
	for (int i = 0; i < 3; i++) for (int k = 0; k < 9; k++) f[i][k] = sn_rng_uniform(&r) - 0.5f;
	for (int o = 0; o < 5; o++) for (int i = 0; i < 3; i++) a[o][i] = sn_rng_uniform(&r) - 0.5f;
	for (int o = 0; o < 5; o++) for (int i = 0; i < 3; i++) for (int k = 0; k < 9; k++) w[(o * 3 + i) * 9 + k] = a[o][i] * f[i][k];
	sn_lighten_opts o = opts(SN_LIGHTEN_DSC);
	sn_lighten_report rep;
	sn_graph *h = sn_lighten(g, &o, &rep);
	REQUIRE(h);
	REQUIRE(rep.n_layers == 1);
	CHECK(rep.layers[0].error < 1e-6);
	CHECK(sn_graph_find(h, "c") < 0 && sn_graph_find(h, "c_dw") == 1 && sn_graph_find(h, "c_pw") == 2);
	CHECK(h->node[1].a.conv.groups == 3 && h->node[1].a.conv.out_c == 3 && !h->node[1].a.conv.bias);
	CHECK(h->node[2].a.conv.kh == 1 && h->node[2].a.conv.bias);
	CHECK(!memcmp(tensor(g, "c.bias"), tensor(h, "c_pw.bias"), 5 * sizeof(float)));
	double d = compare(g, h, 4);
	CHECKF(d < 1e-5, "outputs differ by %g", d);
	sn_lighten_report_free(&rep);
	sn_graph_free(g); sn_graph_free(h);
}

TEST(lighten_dsc_error_is_the_discarded_singular_values)
{
	for (int M = 1; M <= 3; M++) {
		sn_graph *g = net("input x shape=4x6x6\nconv c out=6 k=3 pad=1 bias=0\n", 10 + M);
		REQUIRE(g);
		sn_lighten_opts o = opts(SN_LIGHTEN_DSC);
		o.multiplier = M;
		sn_lighten_report rep;
		sn_graph *h = sn_lighten(g, &o, &rep);
		REQUIRE(h && rep.n_layers == 1);
		slices s = {tensor(g, "c.weight"), 6, 4, 9};
		double want = sqrt(discarded_share(4, 6, 9, M, dsc_slice, &s));
		CHECK_NEAR(rep.layers[0].error, want, 1e-5);
		CHECK(want > 0.1);   /* a random kernel: the test means something */
		sn_lighten_report_free(&rep);
		sn_graph_free(g); sn_graph_free(h);
	}
}

/* The pair equals one conv whose kernel is rebuilt from the pair's weights: stride, dilation,
 * asymmetric padding and a non-zero padding mode included. */
TEST(lighten_dsc_equals_conv_with_reconstructed_kernel)
{
	const char *arch = "input x shape=3x9x10\nconv c out=4 k=3x2 stride=2x1 dilation=2x1 pad=2,1,1,0 mode=reflect\n";
	sn_graph *g = net(arch, 3), *ref = net(arch, 4);
	REQUIRE(g && ref);
	sn_lighten_opts o = opts(SN_LIGHTEN_DSC);
	o.multiplier = 2;
	sn_graph *h = sn_lighten(g, &o, NULL);
	REQUIRE(h);
	const float *D = tensor(h, "c_dw.weight"), *P = tensor(h, "c_pw.weight");
	float *W = tensor(ref, "c.weight");
	REQUIRE(D && P && W);
	for (int oc = 0; oc < 4; oc++)
		for (int i = 0; i < 3; i++)
			for (int k = 0; k < 6; k++) {
				double s = 0;
				for (int m = 0; m < 2; m++) s += P[oc * 6 + i * 2 + m] * D[(i * 2 + m) * 6 + k];
				W[(oc * 3 + i) * 6 + k] = (float)s;
			}
	memcpy(tensor(ref, "c.bias"), tensor(g, "c.bias"), 4 * sizeof(float));
	double d = compare(ref, h, 3);
	CHECKF(d < 1e-5, "outputs differ by %g", d);
	CHECK(compare(g, h, 3) > 1e-3);   /* and the approximation is not the original */
	sn_graph_free(g); sn_graph_free(h); sn_graph_free(ref);
}

static const char *CNN =
	"input x shape=1x28x28\nconv conv1 out=32 k=3 pad=1 bias=0\nbn bn1\nrelu relu1\nmaxpool pool1 k=2\n"
	"conv conv2 out=64 k=3 pad=1 bias=0\nbn bn2\nrelu relu2\nmaxpool pool2 k=2\nflatten flatten\n"
	"linear fc1 out=256\nrelu relu3\ndropout drop p=0.3\nlinear fc2 out=10\n";

/* models/cnn.arch: conv2 becomes 288 + 2,048 weights (7.89x fewer mult-adds), the model goes
 * 4.64 M -> 1.49 M; conv1 (one input channel) is skipped with its reason; the head goes
 * 3136 -> 64; --min-saving skips what saves too little of the model. */
TEST(lighten_counts_are_exact_and_conv1_is_skipped)
{
	sn_graph *g = net(CNN, 1);
	REQUIRE(g);
	sn_lighten_opts o = opts(SN_LIGHTEN_DSC | SN_LIGHTEN_GAP_HEAD);
	o.min_saving = 0.05;
	sn_lighten_report r;
	sn_graph *h = sn_lighten(g, &o, &r);
	REQUIRE(h);
	REQUIRE(r.n_layers == 2 && r.n_skipped == 1);
	const sn_lighten_layer *c2 = &r.layers[0], *fc = &r.layers[1];
	CHECK(!strcmp(c2->layer, "conv2") && !strcmp(c2->transform, "dsc"));
	CHECK(c2->old_params == 18432 && c2->new_params == 288 + 2048);
	CHECK(c2->old_macs == 18432ull * 196 && c2->new_macs == 2336ull * 196);
	CHECK(!strcmp(fc->layer, "fc1") && !strcmp(fc->transform, "gap-head"));
	CHECK(fc->old_params == 803072 && fc->new_params == 64 * 256 + 256 && fc->new_macs == fc->new_params);
	CHECKF(!strcmp(r.skipped[0].layer, "conv1") && strstr(r.skipped[0].reason, "reads 1 channel"), "%s", r.skipped[0].reason);
	CHECK(r.params_before == 824554 && r.params_after == 824554 - 18432 + 2336 - 803072 + 16640);
	CHECK(r.macs_before == 4644298 && r.macs_after == 4644298 - 18432ull * 196 + 2336ull * 196 - 803072 + 16640);
	CHECK(r.params_after == sn_graph_count(h, SN_TENSOR_PARAM, 0));
	sn_summary s;
	REQUIRE(sn_summarize(h, -1, &s) == SN_OK);
	CHECK(s.macs == r.macs_after && s.params == r.params_after);
	sn_summary_free(&s);
	CHECK(sn_graph_find(h, "fc1_gap") == sn_graph_find(h, "flatten") - 1);
	sn_lighten_report_free(&r);
	sn_graph_free(h);
	/* fc1 saves 786,432 of 4.64 M mult-adds: 16.9 % */
	o.min_saving = 0.2;
	h = sn_lighten(g, &o, &r);
	CHECK(h && r.n_layers == 1 && r.n_skipped == 2 && !strcmp(r.skipped[1].layer, "fc1"));
	CHECKF(strstr(r.skipped[1].reason, "saves 16.9% of the model's mult-adds") && strstr(r.skipped[1].reason, "--min-saving 20"),
	       "%s", r.skipped[1].reason);
	sn_lighten_report_free(&r);
	sn_graph_free(h);
	/* --layers picks layers and says why one is not replaced; a bad name is an error */
	o.min_saving = 0;
	o.transforms = SN_LIGHTEN_DSC;
	o.layers = "conv2,relu1";
	h = sn_lighten(g, &o, &r);
	CHECK(h && r.n_layers == 1 && !strcmp(r.layers[0].layer, "conv2") && r.n_skipped == 1 &&
	      !strcmp(r.skipped[0].layer, "relu1"));
	sn_lighten_report_free(&r);
	sn_graph_free(h);
	o.layers = "conv9";
	CHECK(sn_lighten(g, &o, NULL) == NULL && strstr(sn_errmsg(), "conv9"));
	o.layers = NULL;
	o.multiplier = 10;   /* above min(Cout, 9) = 9 */
	h = sn_lighten(g, &o, &r);
	CHECK(h && r.n_layers == 0 && r.n_skipped == 2 && strstr(r.skipped[1].reason, "multiplier 10"));
	sn_lighten_report_free(&r);
	sn_graph_free(h);
	sn_graph_free(g);
}

/* ---------------------------------------------------------------- dsc with BN + ReLU */

static void fake_data(sn_dataset *d, int n, int c, int hw, uint64_t seed)
{
	sn_rng r;
	sn_rng_seed(&r, seed);
	*d = (sn_dataset){.n = n, .c = c, .h = hw, .w = hw, .classes = 3, .norm = {.c = 1, .mean = {0.3f}, .std = {0.3f}}};
	d->images = malloc((size_t)n * c * hw * hw);
	d->labels = malloc((size_t)n * sizeof *d->labels);
	for (size_t i = 0; i < (size_t)n * c * hw * hw; i++) d->images[i] = (uint8_t)sn_rng_below(&r, 256);
	for (int i = 0; i < n; i++) d->labels[i] = (int32_t)sn_rng_below(&r, 3);
}

static const char *SMALL =
	"input x shape=3x8x8\nconv c1 out=6 k=3 pad=1 bias=0\nbn b1\nrelu r1\nconv c2 out=8 k=3 pad=1\nrelu r2\n"
	"maxpool p k=2\nflatten f\nlinear fc out=3\n";

/* Calibrated BN+ReLU between depthwise and pointwise pass everything: the closed form of the
 * MobileNet-style pair equals the linear pair, on the calibration images, in inference mode. */
TEST(lighten_dsc_bn_relu_equals_the_linear_pair)
{
	sn_graph *g = net(SMALL, 2);
	REQUIRE(g);
	float *rm = tensor(g, "b1.running_mean");
	for (int k = 0; k < 6; k++) rm[k] = 0.1f * k;   /* non-trivial statistics to fold into */
	sn_dataset d;
	fake_data(&d, 64, 3, 8, 3);
	sn_lighten_opts o = opts(SN_LIGHTEN_DSC);
	sn_graph *lin = sn_lighten(g, &o, NULL);
	o.dsc_mode = SN_DSC_AUTO;
	o.calib = &d;
	o.calib_n = 64;
	o.recalibrate = 0;
	sn_lighten_report r;
	sn_graph *bn = sn_lighten(g, &o, &r);
	REQUIRE(lin && bn);
	/* c1 feeds b1: BN+ReLU inserted, shift folded into b1; c2 feeds a ReLU: linear (auto) */
	CHECK(sn_graph_find(bn, "c1_dwbn") >= 0 && sn_graph_find(bn, "c1_dwrelu") >= 0 && sn_graph_find(bn, "c2_dwbn") < 0);
	CHECK(r.layers[0].new_params == 3 * 9 + 2 * 3 + 6 * 3);   /* no pointwise bias: b1 absorbs the shift */
	float *x = malloc(sizeof(float) * 64 * 192);
	int32_t y[64];
	int idx[64];
	for (int i = 0; i < 64; i++) idx[i] = i;
	sn_dataset_batch(&d, idx, 64, NULL, NULL, x, y);
	float *a = sn_test_logits(lin, x, 64), *b = sn_test_logits(bn, x, 64);
	REQUIRE(a && b);
	double diff = sn_test_maxrel(b, a, 64 * 3);
	CHECKF(diff < 1e-5, "outputs differ by %g", diff);
	free(a); free(b);
	/* forced BN where the conv feeds no BN: the pointwise bias takes the shift back */
	o.dsc_mode = SN_DSC_BN;
	o.layers = "c2";
	sn_graph *bn2 = sn_lighten(g, &o, NULL), *lin2;
	o.dsc_mode = SN_DSC_LINEAR;
	lin2 = sn_lighten(g, &o, NULL);
	REQUIRE(bn2 && lin2);
	a = sn_test_logits(lin2, x, 64); b = sn_test_logits(bn2, x, 64);
	diff = sn_test_maxrel(b, a, 64 * 3);
	CHECKF(diff < 1e-5, "outputs differ by %g", diff);
	free(a); free(b); free(x);
	sn_lighten_report_free(&r);
	sn_dataset_free(&d);
	sn_graph_free(g); sn_graph_free(lin); sn_graph_free(bn); sn_graph_free(bn2); sn_graph_free(lin2);
}

/* Recalibration: the BatchNorm after a replaced conv gets the new conv's output statistics on
 * the calibration images as its running mean and variance. */
TEST(lighten_recalibrates_the_following_bn)
{
	sn_graph *g = net(SMALL, 12);
	REQUIRE(g);
	sn_dataset d;
	fake_data(&d, 48, 3, 8, 4);
	sn_lighten_opts o = opts(SN_LIGHTEN_DSC);
	o.layers = "c1";
	o.calib = &d;
	o.calib_n = 48;
	sn_graph *h = sn_lighten(g, &o, NULL);
	REQUIRE(h);
	float *x = malloc(sizeof(float) * 48 * 192);
	int32_t y[48];
	int idx[48];
	for (int i = 0; i < 48; i++) idx[i] = i;
	sn_dataset_batch(&d, idx, 48, NULL, NULL, x, y);
	REQUIRE(sn_plan_reshape(h->plan, 48, SN_PLAN_KEEP_OUTPUTS) == SN_OK);   /* c1_pw's output is read after forward */
	sn_graph_forward(h, x, 48);
	const float *pw = sn_plan_output(h->plan, sn_graph_find(h, "c1_pw"));
	const float *rm = tensor(h, "b1.running_mean"), *rv = tensor(h, "b1.running_var");
	for (int ch = 0; ch < 6; ch++) {
		double s = 0, ss = 0;
		for (int b = 0; b < 48; b++)
			for (int q = 0; q < 64; q++) { double v = pw[(b * 6 + ch) * 64 + q]; s += v; ss += v * v; }
		double mu = s / (48 * 64);
		CHECK_NEAR(rm[ch], mu, 1e-5);
		CHECK_NEAR(rv[ch], ss / (48 * 64) - mu * mu, 1e-4 * (1 + rv[ch]));
	}
	CHECK(fabs(rm[0] - tensor(g, "b1.running_mean")[0]) > 1e-3);   /* it did change */
	free(x);
	sn_dataset_free(&d);
	sn_graph_free(g); sn_graph_free(h);
}

/* ---------------------------------------------------------------- gap-head */

TEST(lighten_gap_head_is_exact_for_constant_maps)
{
	sn_graph *g = net("input x shape=3x4x5\nflatten f\nlinear fc out=6\n", 4);
	REQUIRE(g);
	sn_lighten_opts o = opts(SN_LIGHTEN_GAP_HEAD);
	sn_lighten_report r;
	sn_graph *h = sn_lighten(g, &o, &r);
	REQUIRE(h && r.n_layers == 1);
	CHECK(h->node[1].op == SN_OP_GAP && h->node[2].op == SN_OP_FLATTEN && h->node[3].out.c == 6);
	CHECK(r.layers[0].new_params == 3 * 6 + 6 && r.layers[0].old_params == 60 * 6 + 6);
	float x[2 * 60], *a, *b;
	for (int n = 0; n < 2; n++)
		for (int c = 0; c < 3; c++)
			for (int p = 0; p < 20; p++) x[n * 60 + c * 20 + p] = 0.3f * c - 0.2f * n + 0.1f;
	a = sn_test_logits(g, x, 2); b = sn_test_logits(h, x, 2);
	REQUIRE(a && b);
	CHECKF(sn_test_maxrel(b, a, 12) < 1e-6, "outputs differ by %g", sn_test_maxrel(b, a, 12));
	free(a); free(b);
	CHECK(compare(g, h, 2) > 1e-3);   /* not for varying maps */
	sn_lighten_report_free(&r);
	sn_graph_free(g); sn_graph_free(h);
}

/* ---------------------------------------------------------------- asym */

typedef struct { const float *w; int cout, cin, kh, kw; } arranged;
static void asym_matrix(int b, double *a, const void *u)
{
	const arranged *s = u;
	const int nn = s->cin * s->kh;
	(void)b;
	for (int o = 0; o < s->cout; o++)
		for (int i = 0; i < s->cin; i++)
			for (int y = 0; y < s->kh; y++)
				for (int x = 0; x < s->kw; x++)
					a[(o * s->kw + x) * nn + i * s->kh + y] = s->w[((o * s->cin + i) * s->kh + y) * s->kw + x];
}

TEST(lighten_asym_exact_error_and_reconstruction)
{
	const char *arch = "input x shape=3x9x9\nconv c out=4 k=3 stride=2 pad=1 mode=replicate\n";
	sn_graph *g = net(arch, 6), *ref = net(arch, 7);
	REQUIRE(g && ref);
	/* rank r random kernel: exact with --rank r; rank 12 (full) random: exact too */
	sn_lighten_opts o = opts(SN_LIGHTEN_ASYM);
	o.rank = 2;
	sn_lighten_report r;
	sn_graph *h = sn_lighten(g, &o, &r);
	REQUIRE(h && r.n_layers == 1);
	arranged s = {tensor(g, "c.weight"), 4, 3, 3, 3};
	CHECK_NEAR(r.layers[0].error, sqrt(discarded_share(1, 12, 9, 2, asym_matrix, &s)), 1e-5);
	CHECK(r.layers[0].new_params == 2 * 3 * 3 + 4 * 2 * 3 + 4);
	/* the pair equals the conv with the kernel rebuilt from it */
	const float *V = tensor(h, "c_3x1.weight"), *H = tensor(h, "c_1x3.weight");
	float *W = tensor(ref, "c.weight");
	REQUIRE(V && H);
	for (int oc = 0; oc < 4; oc++)
		for (int i = 0; i < 3; i++)
			for (int y = 0; y < 3; y++)
				for (int x = 0; x < 3; x++) {
					double t = 0;
					for (int k = 0; k < 2; k++) t += H[(oc * 2 + k) * 3 + x] * V[(k * 3 + i) * 3 + y];
					W[((oc * 3 + i) * 3 + y) * 3 + x] = (float)t;
				}
	memcpy(tensor(ref, "c.bias"), tensor(g, "c.bias"), 4 * sizeof(float));
	CHECKF(compare(ref, h, 2) < 1e-5, "outputs differ by %g", compare(ref, h, 2));
	sn_lighten_report_free(&r);
	sn_graph_free(h);
	/* a kernel of rank 2 in that arrangement is reproduced exactly */
	memcpy(tensor(g, "c.weight"), W, 108 * sizeof(float));
	h = sn_lighten(g, &o, &r);
	REQUIRE(h);
	CHECK(r.layers[0].error < 1e-6);
	CHECKF(compare(g, h, 2) < 1e-5, "outputs differ by %g", compare(g, h, 2));
	sn_lighten_report_free(&r);
	sn_graph_free(g); sn_graph_free(h); sn_graph_free(ref);
}

/* A conv with a fused activation (a prepared model) keeps it on its last replacement only: an
 * activation between the factors would clip what the closed form needs. So lightening the conv
 * with act=relu must give relu(what lightening the plain conv gives). */
TEST(lighten_fused_activation_acts_once_at_the_end)
{
	const char *with = "input x shape=8x9x9\nconv c out=8 k=5 pad=2 act=relu\n";
	const char *plain = "input x shape=8x9x9\nconv c out=8 k=5 pad=2\n";
	const unsigned tr[3] = {SN_LIGHTEN_ASYM, SN_LIGHTEN_DSC, SN_LIGHTEN_SMALL_KERNELS};
	for (int t = 0; t < 3; t++) {
		sn_graph *g = net(with, 11), *p = net(plain, 11);
		REQUIRE(g && p);
		sn_lighten_opts o = opts(tr[t]);
		sn_lighten_report r;
		sn_graph *h = sn_lighten(g, &o, &r), *hp = sn_lighten(p, &o, NULL);
		REQUIRE(h && hp);
		CHECKF(r.n_layers == 1, "transform %d: %d layers lightened", t, r.n_layers);
		sn_lighten_report_free(&r);
		for (int i = 0; i < h->n_node; i++)
			if (h->node[i].op == SN_OP_CONV)
				CHECKF(h->node[i].a.conv.act == (i == h->n_node - 1 ? SN_FUSE_RELU : SN_FUSE_NONE),
				       "transform %d: %s has act %d", t, h->node[i].name, h->node[i].a.conv.act);
		float *x = random_input(h, 2, 5), *y = sn_test_logits(h, x, 2), *yp = sn_test_logits(hp, x, 2);
		REQUIRE(y && yp);
		size_t n = 2 * sn_shape_numel(sn_graph_output_shape(h));
		for (size_t k = 0; k < n; k++) yp[k] = yp[k] > 0 ? yp[k] : 0;
		CHECKF(sn_test_maxrel(y, yp, n) < 1e-6, "transform %d: differs by %g", t, sn_test_maxrel(y, yp, n));
		free(x); free(y); free(yp);
		sn_graph_free(g); sn_graph_free(p); sn_graph_free(h); sn_graph_free(hp);
	}
}

/* ---------------------------------------------------------------- distillation */

TEST(lighten_distill_loss_and_gradient)
{
	const int n = 3, K = 4;
	float s[12], t[12], d[12], d2[12];
	int32_t y[3] = {0, 2, 3};
	for (int i = 0; i < 12; i++) { s[i] = 0.7f * sinf(i * 1.3f); t[i] = 1.5f * cosf(i * 0.7f); }
	/* alpha 0: plain cross-entropy */
	int c1 = 0, c2 = 0;
	CHECK_NEAR(sn_distill_xent(s, t, y, n, K, 0, 4, d, &c1), sn_softmax_xent(s, y, n, K, d2, &c2), 1e-9);
	CHECK(c1 == c2 && sn_test_maxrel(d, d2, 12) < 1e-7);
	/* the student equal to the teacher: no KL term */
	CHECK_NEAR(sn_distill_xent(t, t, y, n, K, 0.6f, 3, NULL, NULL), 0.4 * sn_softmax_xent(t, y, n, K, NULL, NULL), 1e-6);
	/* gradient of the mean loss against central differences */
	sn_distill_xent(s, t, y, n, K, 0.7f, 4, d, NULL);
	for (int i = 0; i < 12; i++) {
		float keep = s[i], h = 1e-3f;
		s[i] = keep + h;
		double up = sn_distill_xent(s, t, y, n, K, 0.7f, 4, NULL, NULL);
		s[i] = keep - h;
		double dn = sn_distill_xent(s, t, y, n, K, 0.7f, 4, NULL, NULL);
		s[i] = keep;
		CHECK_NEAR(d[i], (up - dn) / (2 * h) / n, 2e-4);
	}
}

/* The new model saves, loads to the same function, and trains (with a teacher) */
TEST(lighten_model_saves_loads_and_trains)
{
	sn_graph *g = net(SMALL, 8);
	REQUIRE(g);
	sn_dataset d;
	fake_data(&d, 96, 3, 8, 9);
	sn_lighten_opts o = opts(SN_LIGHTEN_DSC | SN_LIGHTEN_GAP_HEAD);
	o.dsc_mode = SN_DSC_AUTO;
	o.calib = &d;
	sn_graph *h = sn_lighten(g, &o, NULL);
	REQUIRE(h);
	char path[512];
	snprintf(path, sizeof path, "%s/lighten.slim", sn_test_tmpdir());
	sn_meta meta = {.test_accuracy = 0.5, .norm = d.norm};
	REQUIRE(sn_model_save(h, &meta, NULL, path) == SN_OK);
	sn_meta m2;
	sn_graph *l = sn_model_load(path, &m2, NULL);
	REQUIRE(l);
	CHECK(l->n_node == h->n_node && m2.test_accuracy == 0.5);
	CHECK(compare(h, l, 2) == 0);
	sn_train_opts t = sn_train_defaults();
	t.epochs = 1; t.batch = 32; t.progress = 0; t.lr = 0.01f; t.schedule = SN_SCHED_COSINE;
	t.teacher = g;
	float before = tensor(l, "c2_dw.weight")[0];
	int rc = sn_train(l, &d, &d, &t, NULL, &m2);
	CHECKF(rc == SN_OK, "train: %s", sn_errmsg());
	CHECK(tensor(l, "c2_dw.weight")[0] != before && m2.test_accuracy >= 0);
	sn_dataset_free(&d);
	sn_graph_free(g); sn_graph_free(h); sn_graph_free(l);
}

/* ---------------------------------------------------------------- small kernels */

/* A 5x5 that is a composition of two 3x3s is fitted to < 1e-2 and the stack equals the conv
 * inside the image (the borders see zero-padded inner maps). A 7x7 made of three is only
 * fitted locally (alternating least squares): its error is checked to be what it is. */
TEST(lighten_small_kernels_fit_composed_kernels)
{
	for (int k = 5; k <= 7; k += 2) {
		char arch[160], stack[400];
		snprintf(arch, sizeof arch, "input x shape=3x12x12\nconv c out=4 k=%d pad=%d\n", k, k / 2);
		snprintf(stack, sizeof stack, "input x shape=3x12x12\nconv s1 out=3 k=3 pad=1 bias=0\n%s"
		         "conv sl out=4 k=3 pad=1\n", k == 7 ? "conv s2 out=3 k=3 pad=1 bias=0\n" : "");
		sn_graph *g = net(arch, 20 + k), *s = net(stack, 30 + k);
		REQUIRE(g && s);
		/* the stack as one kernel: its response to a unit impulse at the centre, per input channel */
		float *W = tensor(g, "c.weight");
		float x[3 * 144] = {0};
		for (int i = 0; i < 3; i++) {
			memset(x, 0, sizeof x);
			x[i * 144 + 6 * 12 + 6] = 1;
			float *y = sn_test_logits(s, x, 1);
			REQUIRE(y);
			for (int o = 0; o < 4; o++)
				for (int u = 0; u < k; u++)
					for (int v = 0; v < k; v++)   /* y(p) = sum_t K(t) x(p + t - k/2): K(t) = y(c - t + k/2) */
						W[((o * 3 + i) * k + u) * k + v] = y[o * 144 + (6 - u + k / 2) * 12 + 6 - v + k / 2] - tensor(s, "sl.bias")[o];
			free(y);
		}
		memcpy(tensor(g, "c.bias"), tensor(s, "sl.bias"), 4 * sizeof(float));
		sn_lighten_opts o = opts(SN_LIGHTEN_SMALL_KERNELS);
		sn_lighten_report r;
		sn_graph *h = sn_lighten(g, &o, &r);
		REQUIRE(h && r.n_layers == 1);
		CHECKF(r.layers[0].error < (k == 5 ? 1e-2 : 0.25), "%dx%d: error %g", k, k, r.layers[0].error);
		CHECK(h->n_node == 1 + (k - 1) / 2 && h->node[1].a.conv.kh == 3 && h->node[1].a.conv.out_c == 3);
		CHECK(r.layers[0].new_params == (size_t)(k == 7 ? 81 + 81 : 81) + 108 + 4);
		/* inside the image the stack computes the conv */
		float *xi = random_input(g, 1, 3), *ya = sn_test_logits(g, xi, 1), *yb = sn_test_logits(h, xi, 1);
		REQUIRE(ya && yb);
		double worst = 0;
		for (int oc = 0; oc < 4; oc++)
			for (int p = k / 2; p < 12 - k / 2; p++)
				for (int q = k / 2; q < 12 - k / 2; q++)
					worst = fmax(worst, fabs(ya[oc * 144 + p * 12 + q] - yb[oc * 144 + p * 12 + q]));
		CHECKF(worst < (k == 5 ? 1e-2 : 0.2), "%dx%d: inside the image the outputs differ by %g", k, k, worst);
		free(xi); free(ya); free(yb);
		sn_lighten_report_free(&r);
		sn_graph_free(g); sn_graph_free(s); sn_graph_free(h);
	}
}
