/* ONNX import and export against PyTorch: tests/fixtures/onnx/<case>/ holds model.onnx (written
 * by torch.onnx.export), x.npy and PyTorch's y.npy (tools/gen_onnx_fixtures.py); bad/ holds
 * malformed models with the words their error must contain. SN_VERBOSE=1 prints each case's
 * worst relative error. */
#include <dirent.h>
#include <stdlib.h>
#include <sys/stat.h>
#include "test.h"
#include "slimnn.h"
#include "core/quant.h"
#include "io/io.h"

#define ONNX_CASES 33       /* the number of cases tools/gen_onnx_fixtures.py writes */
#define ONNX_BAD 31         /* and of malformed models */
#define QDQ_BAD 17          /* malformed QDQ models (tools/gen_qdq_fixtures.py) */
#define ONNX_TOL 1e-4       /* relative to max(1, max |expected|) */

static char *join(char *buf, size_t len, const char *a, const char *b, const char *c)
{
	if (snprintf(buf, len, "%s/%s%s%s", a, b, c ? "/" : "", c ? c : "") >= (int)len) buf[0] = 0;   /* too long: no such file */
	return buf;
}

/* Runs g on x (batch first) and returns the output (malloc'd), or NULL. */
static float *run(sn_graph *g, const float *x, int n, size_t *n_out)
{
	*n_out = (size_t)n * sn_shape_numel(sn_graph_output_shape(g));
	return sn_test_logits(g, x, n);
}

/* One case: import, compare with PyTorch, export, re-import, compare again. */
static void run_case(const char *dir, const char *name)
{
	char p[1024], tmp[1024];
	int xn, xd[8], yn, yd[8];
	float *x = NULL, *y = NULL, *a = NULL, *b = NULL;
	sn_graph *g = NULL, *h = NULL;
	if (sn_npy_read(join(p, sizeof p, dir, "x.npy", NULL), &xn, xd, &x) ||
	    sn_npy_read(join(p, sizeof p, dir, "y.npy", NULL), &yn, yd, &y)) {
		CHECKF(0, "onnx case %s: %s", name, sn_errmsg());
		goto out;
	}
	g = sn_onnx_load(join(p, sizeof p, dir, "model.onnx", NULL), NULL);
	if (!g) { CHECKF(0, "onnx case %s: %s", name, sn_errmsg()); goto out; }
	size_t ny = 1, na = 0, nb = 0;
	for (int i = 0; i < yn; i++) ny *= (size_t)yd[i];
	a = run(g, x, xd[0], &na);
	if (!a || na != ny) { CHECKF(0, "onnx case %s: %zu outputs, PyTorch has %zu (%s)", name, na, ny, sn_errmsg()); goto out; }
	double err = sn_test_maxrel(a, y, ny);
	CHECKF(err <= ONNX_TOL, "onnx case %s: differs from PyTorch, max relative error %.3g", name, err);
	if (getenv("SN_VERBOSE")) fprintf(stderr, "  onnx %-24s %.2g\n", name, err);
	/* round trip: same layers and parameter count, the same outputs */
	snprintf(tmp, sizeof tmp, "%s/%s.onnx", sn_test_tmpdir(), name);
	CHECKF(sn_onnx_save(g, NULL, tmp) == SN_OK, "onnx case %s: export: %s", name, sn_errmsg());
	h = sn_onnx_load(tmp, NULL);
	if (!h) { CHECKF(0, "onnx case %s: re-import: %s", name, sn_errmsg()); goto out; }
	CHECK(h->n_node == g->n_node);
	CHECK(sn_graph_count(h, SN_TENSOR_PARAM, 0) == sn_graph_count(g, SN_TENSOR_PARAM, 0));
	b = run(h, x, xd[0], &nb);
	CHECKF(b && nb == na && sn_test_maxrel(b, a, na) <= 1e-6, "onnx case %s: the re-imported export computes something else", name);
out:
	free(x); free(y); free(a); free(b);
	sn_graph_free(g); sn_graph_free(h);
}

TEST(onnx_torch_models)
{
	char root[512], dir[1024];
	snprintf(root, sizeof root, "%s/onnx", sn_test_fixtures());
	DIR *d = opendir(root);
	REQUIRE(d);
	int cases = 0;
	for (struct dirent *e; (e = readdir(d));) {
		struct stat st;
		join(dir, sizeof dir, root, e->d_name, NULL);
		char model[1100];
		if (e->d_name[0] == '.' || stat(join(model, sizeof model, dir, "model.onnx", NULL), &st)) continue;
		run_case(dir, e->d_name);
		cases++;
	}
	closedir(d);
	CHECKF(cases >= ONNX_CASES, "found %d ONNX cases, expected %d (run tools/gen_onnx_fixtures.py)", cases, ONNX_CASES);
}

/* Every malformed model in fixtures/<dir> fails with its expected words in the message; nothing
 * crashes. Returns how many there were. */
static int malformed_in(const char *dir)
{
	char root[512], p[1024];
	snprintf(root, sizeof root, "%s/%s", sn_test_fixtures(), dir);
	DIR *d = opendir(root);
	if (!d) return 0;
	int n = 0;
	for (struct dirent *e; (e = readdir(d));) {
		size_t l = strlen(e->d_name);
		if (l < 6 || strcmp(e->d_name + l - 5, ".onnx")) continue;
		char expect[128] = "";
		snprintf(p, sizeof p, "%s/%.*s.expect", root, (int)(l - 5), e->d_name);
		FILE *f = fopen(p, "r");
		if (f) { if (!fgets(expect, sizeof expect, f)) expect[0] = 0; fclose(f); }
		expect[strcspn(expect, "\n")] = 0;
		sn_graph *g = sn_onnx_load(join(p, sizeof p, root, e->d_name, NULL), NULL);
		CHECKF(!g, "malformed %s was accepted", e->d_name);
		CHECKF(g || (expect[0] && strstr(sn_errmsg(), expect)), "malformed %s: message '%s' lacks '%s'", e->d_name,
		       sn_errmsg(), expect);
		if (getenv("SN_VERBOSE")) fprintf(stderr, "  %s: %s\n", e->d_name, sn_errmsg());
		sn_graph_free(g);
		n++;
	}
	closedir(d);
	return n;
}

TEST(onnx_malformed_models)
{
	CHECK(malformed_in("onnx/bad") >= ONNX_BAD);
	CHECK(malformed_in("onnx/qdq/bad") >= QDQ_BAD);   /* scales 0, < 0, NaN, zero points out of range, ... */
}

/* Truncations at every length and random bytes: errors, never crashes. */
TEST(onnx_truncated_and_random)
{
	char p[1024];
	snprintf(p, sizeof p, "%s/onnx/conv_basic/model.onnx", sn_test_fixtures());
	FILE *f = fopen(p, "rb");
	REQUIRE(f);
	unsigned char buf[1 << 16];
	size_t len = fread(buf, 1, sizeof buf, f);
	fclose(f);
	REQUIRE(len > 100 && len < sizeof buf);
	int accepted = 0;
	for (size_t k = 0; k < len; k += k < 64 ? 1 : 7) {
		sn_graph *g = sn_onnx_read(buf, k, NULL);
		accepted += g != NULL;
		sn_graph_free(g);
	}
	CHECK(accepted == 0);
	sn_rng r;
	sn_rng_seed(&r, 5);
	for (int t = 0; t < 200; t++) {
		unsigned char junk[512];
		size_t n = 1 + sn_rng_below(&r, sizeof junk);
		for (size_t i = 0; i < n; i++) junk[i] = (unsigned char)sn_rng_u64(&r);
		sn_graph *g = sn_onnx_read(junk, n, NULL);
		CHECK(!g);
		sn_graph_free(g);
		/* and bytes flipped in a valid model */
		unsigned char *m = malloc(len);
		REQUIRE(m);
		memcpy(m, buf, len);
		for (int k = 0; k < 3; k++) m[sn_rng_below(&r, (uint32_t)len)] ^= (unsigned char)(1 + sn_rng_below(&r, 255));
		g = sn_onnx_read(m, len, NULL);
		if (g) { sn_graph_plan(g, 1, 0); }
		sn_graph_free(g);
		free(m);
	}
	/* a truncated file through the path API names the file */
	snprintf(p, sizeof p, "%s/trunc.onnx", sn_test_tmpdir());
	REQUIRE(sn_write_atomic(p, buf, len / 2) == SN_OK);
	CHECK(!sn_onnx_load(p, NULL));
	CHECK(strstr(sn_errmsg(), "truncated or corrupt") != NULL);
	CHECK(strstr(sn_errmsg(), "trunc.onnx") != NULL);
}

/* Every slimnn operator and padding mode exports and re-imports to the same function, with the
 * layer names and the metadata kept; sn_load_any routes .onnx files. */
TEST(onnx_export_every_op)
{
	const char *arch =
		"input in shape=3x9x9\n"
		"conv c1 out=4 k=3 pad=1 mode=reflect\n"
		"bn b1\n"
		"relu6 r1\n"
		"conv c2 out=4 k=3 pad=1 mode=replicate groups=4 bias=0\n"
		"hardswish h1\n"
		"add a1 in=h1,r1\n"
		"conv c3 out=2 k=1 in=a1\n"
		"sigmoid s1\n"
		"concat cat in=s1,a1\n"
		"conv c4 out=6 k=3 pad=2,1,0,9 mode=circular act=relu6\n"
		"gap se in=c4\n"
		"conv fc1 out=6 k=1 act=relu\n"
		"hardsigmoid gate\n"
		"mul scale in=c4,gate\n"
		"shuffle sh groups=3\n"
		"slice part start=1 end=5\n"
		"pad z pad=1,0,2,1 value=0.5\n"
		"pad rf pad=0,2,1,1 mode=reflect\n"
		"pad rp pad=1 mode=replicate\n"
		"pad cr pad=3,0,1,2 mode=circular\n"
		"softmax sm\n"
		"hardsigmoid hs alpha=0.2 beta=0.4\n"
		"silu si\n"
		"gelu ge\n"
		"maxpool m1 k=3 stride=2 pad=1 ceil=1\n"
		"avgpool p1 k=2 stride=1 pad=1 count_include_pad=0\n"
		"dropout d1 p=0.2\n"
		"gap g1\n"
		"flatten f1\n"
		"linear fc out=4\n"
		"mul gated in=m1,fc\n"
		"gap g2\n"
		"flatten f2\n"
		"relu r2\n";
	sn_graph *g = sn_arch_parse(arch, "every.arch");
	if (!g) fprintf(stderr, "  %s\n", sn_errmsg());
	REQUIRE(g);
	sn_graph_init_params(g, 7);
	for (size_t i = 0; i < g->n_buf; i++) g->buf[i] = 0.5f + 0.01f * (float)(i % 7);   /* BN statistics */
	char p[1024];
	snprintf(p, sizeof p, "%s/every.onnx", sn_test_tmpdir());
	sn_meta meta = {.dataset = "fashion-mnist", .test_accuracy = 0.9, .resize = 36, .classes = 3,
	                .norm = {.c = 3, .mean = {0.25f, 0.5f, 0.125f}, .std = {0.5f, 0.75f, 1.5f}}};
	memcpy(meta.names, "cat\0dog\0sea lion", 17);
	REQUIRE(sn_onnx_save(g, &meta, p) == SN_OK);
	sn_meta m2;
	sn_graph *h = sn_load_any(p, &m2);
	if (!h) fprintf(stderr, "  %s\n", sn_errmsg());
	REQUIRE(h);
	/* the dropout is an Identity, folded away on import; each fused activation comes back as a layer */
	CHECK(h->n_node == g->n_node - 1 + 2);
	CHECK(sn_graph_find(h, "c1") >= 0 && sn_graph_find(h, "fc") >= 0 && sn_graph_find(h, "cat") >= 0);
	CHECK(h->node[sn_graph_find(h, "c1")].a.conv.mode == SN_PAD_REFLECT);
	CHECK(h->node[sn_graph_find(h, "c2")].a.conv.mode == SN_PAD_REPLICATE);
	const int c4 = sn_graph_find(h, "c4"), sh = sn_graph_find(h, "sh"), part = sn_graph_find(h, "part");
	REQUIRE(c4 >= 0 && sh >= 0 && part >= 0);
	CHECK(h->node[c4].a.conv.mode == SN_PAD_CIRCULAR && h->node[c4].a.conv.pr == 9);
	CHECK(h->node[sh].op == SN_OP_SHUFFLE && h->node[sh].a.shuffle.groups == 3);
	CHECK(h->node[part].op == SN_OP_SLICE && h->node[part].a.slice.start == 1 && h->node[part].a.slice.end == 5);
	for (int i = 0; i < g->n_node; i++) {   /* every layer of the same type comes back with its name */
		int k = sn_graph_find(h, g->node[i].name);
		CHECKF(g->node[i].op == SN_OP_DROPOUT || (k >= 0 && h->node[k].op == g->node[i].op), "layer %s", g->node[i].name);
	}
	CHECK(!strcmp(m2.dataset, "fashion-mnist") && m2.norm.c == 3 && m2.resize == 36);
	CHECK(!memcmp(m2.norm.mean, meta.norm.mean, 3 * sizeof(float)) && !memcmp(m2.norm.std, meta.norm.std, 3 * sizeof(float)));
	CHECK(m2.classes == 3 && !memcmp(m2.names, meta.names, 17));
	float x[2 * 3 * 9 * 9];
	sn_rng r;
	sn_rng_seed(&r, 3);
	for (size_t i = 0; i < sizeof x / sizeof *x; i++) x[i] = 4 * sn_rng_uniform(&r) - 2;
	size_t na = 0, nb = 0;
	float *a = run(g, x, 2, &na), *b = run(h, x, 2, &nb);
	REQUIRE(a && b && na == nb);
	CHECK(sn_test_maxrel(b, a, na) <= 1e-6);
	free(a); free(b);
	sn_graph_free(h);
	/* a graph the exporter cannot express: a clear error, no file */
	g->node[sn_graph_find(g, "z")].a.pad.mode = (sn_padmode)7;
	snprintf(p, sizeof p, "%s/bad_mode.onnx", sn_test_tmpdir());
	CHECK(sn_onnx_save(g, NULL, p) != SN_OK);
	CHECK(strstr(sn_errmsg(), "padding mode") != NULL);
	struct stat st;
	CHECK(stat(p, &st) != 0);
	sn_graph_free(g);
}

/* GELU's tanh approximation is written as torch writes it (x * (1 + Tanh(...)) * 0.5), which the
 * importer does not read back: refused with a message, as torch's own export of it is (bad/). */
TEST(onnx_export_gelu_tanh)
{
	sn_graph *g = sn_arch_parse("input x shape=2x4x4\nconv c out=3 k=1\ngelu g approximate=tanh\n", NULL);
	REQUIRE(g);
	sn_graph_init_params(g, 5);
	char p[1024];
	snprintf(p, sizeof p, "%s/gelu_tanh.onnx", sn_test_tmpdir());
	REQUIRE(sn_onnx_save(g, NULL, p) == SN_OK);
	FILE *f = fopen(p, "rb");
	REQUIRE(f);
	char buf[4096];
	size_t n = fread(buf, 1, sizeof buf, f);
	fclose(f);
	CHECK(memmem(buf, n, "Tanh", 4) && !memmem(buf, n, "Erf", 3));
	sn_graph *h = sn_onnx_load(p, NULL);
	CHECK(!h && strstr(sn_errmsg(), "constant"));
	sn_graph_free(h);
	g->node[2].a.gelu.approximate = 5;   /* an approximation the exporter does not know: refused */
	CHECK(sn_onnx_save(g, NULL, p) != SN_OK && strstr(sn_errmsg(), "unknown GELU approximation 5"));
	sn_graph_free(g);
}

/* ---------------------------------------------------------------- QDQ: int8 models */

/* fused ReLU and ReLU6, a grouped conv, Add, max pooling, a float Hardswish between int8 layers,
 * a reflect-padded conv, a conv kept float, Concat, average pooling, GAP, Linear */
static const char *QNET =
	"input x shape=3x10x10\n"
	"conv c1 out=6 k=3 pad=1\nrelu r1\n"
	"conv c2 out=6 k=3 pad=1 groups=3\nrelu6 r2\n"
	"add a in=r2,r1\nmaxpool p k=2\nhardswish hs\n"
	"conv c3 out=8 k=3 pad=1 mode=reflect\nrelu r3\n"
	"conv c4 out=8 k=1 in=hs\n"
	"concat cat in=r3,c4\navgpool ap k=3 stride=1 pad=1\n"
	"gap g\nflatten f\nlinear fc out=5\n";

/* 40 calibration images of QNET's shape: a fixed pattern */
static void qnet_images(sn_dataset *d, uint8_t *img, int32_t *lab)
{
	*d = (sn_dataset){.n = 40, .c = 3, .h = 10, .w = 10, .classes = 5, .images = img, .labels = lab,
	                  .norm = {.c = 1, .mean = {0.5f}, .std = {0.25f}}};
	for (int i = 0; i < 40 * 300; i++) img[i] = (uint8_t)((i * 37 + i / 300 * 11) % 251);
	for (int i = 0; i < 40; i++) lab[i] = i % 5;
}

/* The outputs of a and b on x are the same bytes. */
static int same_outputs(sn_graph *a, sn_graph *b, const float *x, int n)
{
	size_t na, nb;
	float *ya = run(a, x, n, &na), *yb = run(b, x, n, &nb);
	const int same = ya && yb && na == nb && !memcmp(ya, yb, na * sizeof *ya);
	free(ya); free(yb);
	return same;
}

/* An int8 model exports as QDQ and imports back to the same int8 layers, weights, scales and
 * output bytes; so does the import exported again. */
TEST(onnx_qdq_round_trip)
{
	static uint8_t img[40 * 300];
	static int32_t lab[40];
	sn_dataset d;
	qnet_images(&d, img, lab);
	sn_graph *g = sn_test_net(QNET, 11);
	REQUIRE(g);
	float x[4 * 300];
	sn_rng r;
	sn_rng_seed(&r, 9);
	for (size_t i = 0; i < sizeof x / sizeof *x; i++) x[i] = 5 * sn_rng_uniform(&r) - 2.5f;
	char p[1024], p2[1024];
	snprintf(p, sizeof p, "%s/qdq.onnx", sn_test_tmpdir());
	snprintf(p2, sizeof p2, "%s/qdq2.onnx", sn_test_tmpdir());
	for (int per_tensor = 0; per_tensor < 2; per_tensor++) {
		sn_quantize_opts o = sn_quantize_defaults();
		o.per_tensor = per_tensor;
		o.keep_float = "c4";
		sn_graph *q = sn_quantize(g, &d, NULL, &o, NULL);
		if (!q) fprintf(stderr, "  %s\n", sn_errmsg());
		REQUIRE(q);
		REQUIRE(sn_onnx_save(q, NULL, p) == SN_OK);
		sn_graph *h = sn_onnx_load(p, NULL);
		if (!h) fprintf(stderr, "  %s\n", sn_errmsg());
		REQUIRE(h);
		CHECKF(same_outputs(q, h, x, 4), "QDQ round trip (per_tensor %d): other outputs", per_tensor);
		int int8 = 0;
		for (int i = 1; i < q->n_node; i++) {   /* each layer as it was: int8 or float, weights and scales */
			const sn_node *a = &q->node[i];
			const int k = sn_graph_find(h, a->name);
			CHECKF(k >= 0, "layer %s lost", a->name);
			if (k < 0) continue;
			const sn_node *b = &h->node[k];
			int8 += sn_node_runs_int8(a);
			CHECKF(sn_node_runs_int8(a) == sn_node_runs_int8(b), "layer %s: int8 %d, imported %d", a->name,
			       sn_node_runs_int8(a), sn_node_runs_int8(b));
			CHECKF(!a->q || (b->q && a->q->y.scale == b->q->y.scale && a->q->y.zero_point == b->q->y.zero_point) ||
			       (!sn_node_runs_int8(a) && !b->q), "layer %s: other output parameters", a->name);
			if (!sn_node_runs_int8(a) || !a->q->w || !b->q) continue;
			CHECKF(b->q->w && b->q->w_n == a->q->w_n && !memcmp(b->q->w, a->q->w, a->q->w_n) && b->q->n_scale == a->q->n_scale &&
			       !memcmp(b->q->w_scale, a->q->w_scale, (size_t)a->q->n_scale * sizeof(float)) &&
			       !memcmp(b->q->bias, a->q->bias, (size_t)sn_q_weight(q, a)->dims[0] * sizeof(int32_t)),
			       "layer %s: other int8 weights, scales or biases", a->name);
		}
		CHECK(int8 >= 9);   /* everything but the Hardswish and c4 */
		CHECK(!sn_node_runs_int8(&h->node[sn_graph_find(h, "c4")]) && !sn_node_runs_int8(&h->node[sn_graph_find(h, "hs")]));
		/* the imported model exported again: the same function once more */
		REQUIRE(sn_onnx_save(h, NULL, p2) == SN_OK);
		sn_graph *h2 = sn_onnx_load(p2, NULL);
		REQUIRE(h2);
		CHECK(same_outputs(q, h2, x, 4));
		sn_graph_free(h2);
		sn_graph_free(h);
		sn_graph_free(q);
	}
	sn_graph_free(g);
}

/* A QDQ model computes, in int8, what ONNX's operators define to within one step of the output's
 * scale (tools/gen_qdq_fixtures.py evaluates the float operators between DequantizeLinear and
 * QuantizeLinear; slimnn's fixed point differs from that float only in rounding, ties
 * included: ONNX rounds half to even, slimnn's requantization half up); its uint8 form, its
 * onnxruntime form (uint8, no Relu before a QuantizeLinear) and its fake-quant form (float weights
 * through QuantizeLinear -> DequantizeLinear, as torch writes them) give the same bytes. */
TEST(onnx_qdq_reference)
{
	char p[1024];
	int xn, xd[8], yn, yd[8];
	float *x = NULL, *y = NULL, *a = NULL;
	snprintf(p, sizeof p, "%s/onnx/qdq", sn_test_fixtures());
	char f[1100];
	REQUIRE(sn_npy_read(join(f, sizeof f, p, "x.npy", NULL), &xn, xd, &x) == SN_OK);
	REQUIRE(sn_npy_read(join(f, sizeof f, p, "y_ref.npy", NULL), &yn, yd, &y) == SN_OK);
	sn_graph *g = sn_onnx_load(join(f, sizeof f, p, "cnn.onnx", NULL), NULL);
	sn_graph *u = sn_onnx_load(join(f, sizeof f, p, "uint8.onnx", NULL), NULL);
	sn_graph *fq = sn_onnx_load(join(f, sizeof f, p, "fakequant.onnx", NULL), NULL);
	sn_graph *ort = sn_onnx_load(join(f, sizeof f, p, "ort.onnx", NULL), NULL);
	sn_graph *fl = sn_onnx_load(join(f, sizeof f, p, "flat_again.onnx", NULL), NULL);
	if (!g || !u || !fq || !ort || !fl) fprintf(stderr, "  %s\n", sn_errmsg());
	REQUIRE(g && u && fq && ort && fl);
	int int8 = 0;
	for (int i = 1; i < g->n_node; i++) int8 += sn_node_runs_int8(&g->node[i]);
	CHECKF(int8 == 13, "%d int8 layers of %d (all but the Hardswish and c4)", int8, g->n_node - 1);
	size_t n;
	a = run(g, x, xd[0], &n);
	REQUIRE(a && n == (size_t)yd[0] * yd[1]);
	const float step = g->node[g->n_node - 1].q->y.scale;
	int off = 0;
	double worst = 0;
	for (size_t i = 0; i < n; i++) {
		const double e = fabs((double)a[i] - y[i]) / step;
		worst = e > worst ? e : worst;
		off += e > 0.5;
	}
	CHECKF(worst <= 1.001, "slimnn's int8 is %.3f steps from ONNX's QDQ (at most 1)", worst);
	CHECKF(off <= (int)n / 2, "%d of %zu outputs one step off", off, n);
	if (getenv("SN_VERBOSE")) fprintf(stderr, "  qdq reference: %d of %zu outputs one step off\n", off, n);
	CHECK(same_outputs(g, u, x, xd[0]));
	CHECK(same_outputs(g, fq, x, xd[0]) && sn_graph_is_int8(fq));
	CHECK(same_outputs(g, ort, x, xd[0]) && sn_graph_is_int8(ort) && ort->n_node == g->n_node - 2);   /* 2 Relus fewer */
	int fl8 = 0;   /* a Flatten of a flat tensor aliases it: fc still reads through QDQ */
	for (int i = 1; i < fl->n_node; i++) fl8 += sn_node_runs_int8(&fl->node[i]);
	CHECKF(same_outputs(g, fl, x, xd[0]) && fl8 == int8, "flat_again: %d int8 layers", fl8);
	sn_graph_free(ort);
	sn_graph_free(fl);
	free(x); free(y); free(a);
	sn_graph_free(g);
	sn_graph_free(u);
	sn_graph_free(fq);
}
