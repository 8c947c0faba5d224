/* ONNX import and export against PyTorch: tests/fixtures/onnx/<case>/ holds model.onnx (written
 * by torch.onnx.export), x.npy and PyTorch's y.npy (tools/gen_onnx_fixtures.py); bad/ holds
 * malformed models with the words their error must contain. SN_VERBOSE=1 prints each case's
 * worst relative error. */
#include <dirent.h>
#include <stdlib.h>
#include <sys/stat.h>
#include "test.h"
#include "slimnn.h"
#include "io/io.h"

#define ONNX_CASES 33       /* the number of cases tools/gen_onnx_fixtures.py writes */
#define ONNX_BAD 31         /* and of malformed models */
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

/* Every malformed model fails with its expected words in the message; nothing crashes. */
TEST(onnx_malformed_models)
{
	char root[512], p[1024];
	snprintf(root, sizeof root, "%s/onnx/bad", sn_test_fixtures());
	DIR *d = opendir(root);
	REQUIRE(d);
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
	CHECK(n >= ONNX_BAD);
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
