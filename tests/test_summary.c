/* `slimnn summary` against PyTorch: for every fixture of tests/fixtures/summary (the zoo, a zoo
 * model on another input, random architectures; made by tools/gen_summary_fixtures.py from
 * torch-side numbers only), the default table equals torchsummary's text byte for byte, and the
 * per-layer labels, shapes, params, trainable params and mult-adds (torchinfo's rule), and the
 * totals, equal the numbers PyTorch's hooks saw, both in sn_summary and in sn_summary_json. */
#include <dirent.h>
#include <stdlib.h>
#include "test.h"
#include "slimnn.h"

#define SUMMARY_MIN_FIXTURES 27       /* 15 zoo + 1 input variant + 10 generated + 1 operators */
#define SUMMARY_MIN_BATCH4 3

static const char *fixture_path(const char *name, const char *ext, char *buf, size_t len)
{
	snprintf(buf, len, "%s/summary/%.64s%.20s", sn_test_fixtures(), name, ext);
	return buf;
}

static const char *model_path(const char *name, char *buf, size_t len)
{
	const char *dir = getenv("SN_MODELS");
	snprintf(buf, len, "%s/%s", dir ? dir : "models", name);
	return buf;
}

/* The whole file, NUL-terminated; NULL if it cannot be read. */
static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f) return NULL;
	char *s = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&s, &len);
	char buf[4096];
	for (size_t n; m && (n = fread(buf, 1, sizeof buf, f)) > 0;) fwrite(buf, 1, n, m);
	fclose(f);
	if (m) fclose(m);
	return s;
}

/* What sn_summary_print (json = 0) or sn_summary_json (json = 1) writes, as a string. */
static char *render(const sn_summary *s, int json)
{
	char *text = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&text, &len);
	if (!m) return NULL;
	if (json) sn_summary_json(m, s, "m", NULL, -1);
	else sn_summary_print(m, s, 0);
	fclose(m);
	return text;
}

/* 1 if equal; otherwise reports the first line that differs. */
static int same_text(const char *what, const char *got, const char *want)
{
	if (!strcmp(got, want)) return 1;
	int line = 1;
	const char *g = got, *w = want;
	for (; *g && *g == *w; g++, w++)
		if (*g == '\n') line++;
	while (g > got && g[-1] != '\n') g--, w--;
	fprintf(stderr, "  %s: line %d differs\n    got:  %.*s\n    want: %.*s\n", what, line,
	        (int)strcspn(g, "\n"), g, (int)strcspn(w, "\n"), w);
	return 0;
}

/* ---------------------------------------------------------------- the little JSON we read
 * Both the fixtures and sn_summary_json write a "totals" object and a "layers" array of flat
 * objects with the same keys; that is all this reads (keys are looked up inside one object). */
typedef struct { char label[48], shape[64]; double params, trainable, macs; } jrow;
typedef struct {
	int n;
	jrow rows[512];
	double total, trainable, non_trainable, buffers, macs, mb[4];
} jsum;

static const char *jkey(const char *p, const char *end, const char *key)
{
	char pat[64];
	snprintf(pat, sizeof pat, "\"%s\":", key);
	const char *q = strstr(p, pat);
	return q && q < end ? q + strlen(pat) : NULL;
}

static double jnum(const char *p, const char *end, const char *key)
{
	const char *q = jkey(p, end, key);
	return q ? strtod(q, NULL) : NAN;
}

/* a string value, or an array's text without spaces */
static void jtext(const char *p, const char *end, const char *key, char *buf, size_t len)
{
	const char *q = jkey(p, end, key);
	size_t o = 0;
	buf[0] = 0;
	if (!q) return;
	q += strspn(q, " ");
	char close = *q == '"' ? '"' : ']';
	for (q += *q == '"'; q < end && *q != close && o + 2 < len; q++)
		if (*q != ' ') buf[o++] = *q;
	if (close == ']') buf[o++] = ']';
	buf[o] = 0;
}

static int jparse(const char *text, jsum *j)
{
	memset(j, 0, sizeof *j);
	const char *t = strstr(text, "\"totals\":"), *te = t ? strchr(t, '}') : NULL;
	if (!te) return -1;
	j->total = jnum(t, te, "total_params");
	j->trainable = jnum(t, te, "trainable_params");
	j->non_trainable = jnum(t, te, "non_trainable_params");
	j->buffers = jnum(t, te, "buffers");
	j->macs = jnum(t, te, "mult_adds");
	static const char *mb[4] = {"input_size_mb", "forward_backward_size_mb", "params_size_mb", "estimated_total_size_mb"};
	for (int k = 0; k < 4; k++) j->mb[k] = jnum(t, te, mb[k]);
	for (const char *p = strstr(text, "{\"layer\":"); p; p = strstr(p + 1, "{\"layer\":")) {
		const char *e = strchr(p, '}');
		if (!e || j->n == 512) return -1;
		jrow *r = &j->rows[j->n++];
		jtext(p, e, "layer", r->label, sizeof r->label);
		jtext(p, e, "output_shape", r->shape, sizeof r->shape);
		r->params = jnum(p, e, "params");
		r->trainable = jnum(p, e, "trainable");
		r->macs = jnum(p, e, "mult_adds");
	}
	return 0;
}

static void jfrom_summary(const sn_summary *s, jsum *j)
{
	memset(j, 0, sizeof *j);
	j->total = (double)s->params;
	j->trainable = (double)s->trainable;
	j->non_trainable = (double)(s->params - s->trainable);
	j->buffers = (double)s->buffers;
	j->macs = (double)s->macs;
	j->mb[0] = s->input_mb; j->mb[1] = s->fwd_bwd_mb; j->mb[2] = s->params_mb; j->mb[3] = s->total_mb;
	for (int i = 0; i < s->n_rows && i < 512; i++) {
		const sn_summary_row *r = &s->rows[i];
		jrow *o = &j->rows[j->n++];
		snprintf(o->label, sizeof o->label, "%s", r->label);
		char sh[64];
		sn_shape_str(r->out, sh, sizeof sh);
		size_t k = 0;
		for (const char *c = sh; *c && k + 1 < sizeof o->shape; c++)
			if (*c != ' ') o->shape[k++] = *c;
		o->shape[k] = 0;
		o->params = (double)r->params;
		o->trainable = (double)r->trainable;
		o->macs = (double)r->macs;
	}
}

/* got against want (PyTorch's numbers); mb_tol: sn_summary_json prints sizes with 6 decimals */
static int jcompare(const char *what, const jsum *got, const jsum *want, double mb_tol)
{
	int bad = 0;
#define NUM(field, label)                                                                          \
	if (!(got->field == want->field)) {                                                            \
		fprintf(stderr, "  %s: %s is %.17g, PyTorch says %.17g\n", what, label, got->field, want->field); \
		bad++;                                                                                     \
	}
	NUM(total, "total params") NUM(trainable, "trainable params") NUM(non_trainable, "non-trainable params")
	NUM(buffers, "buffers") NUM(macs, "mult-adds")
	for (int k = 0; k < 4; k++)
		if (!(fabs(got->mb[k] - want->mb[k]) <= mb_tol)) {
			fprintf(stderr, "  %s: size estimate %d is %.17g MB, torchsummary says %.17g\n", what, k, got->mb[k], want->mb[k]);
			bad++;
		}
	if (got->n != want->n) {
		fprintf(stderr, "  %s: %d rows, PyTorch's hooks saw %d\n", what, got->n, want->n);
		return 0;
	}
	for (int i = 0; i < got->n && bad < 10; i++) {
		const jrow *g = &got->rows[i], *w = &want->rows[i];
		if (strcmp(g->label, w->label) || strcmp(g->shape, w->shape) || g->params != w->params ||
		    g->trainable != w->trainable || g->macs != w->macs) {
			fprintf(stderr, "  %s: row %d is %s %s params %.0f trainable %.0f mult-adds %.0f; PyTorch: %s %s %.0f %.0f %.0f\n",
			        what, i + 1, g->label, g->shape, g->params, g->trainable, g->macs, w->label, w->shape, w->params,
			        w->trainable, w->macs);
			bad++;
		}
	}
#undef NUM
	return bad == 0;
}

/* ---------------------------------------------------------------- the fixtures */

static int read_index(char names[][64], int cap)
{
	char p[512];
	char *idx = slurp(fixture_path("index", ".txt", p, sizeof p));
	int n = 0;
	if (!idx) return 0;
	for (char *save = NULL, *t = strtok_r(idx, "\n", &save); t && n < cap; t = strtok_r(NULL, "\n", &save))
		if (*t) snprintf(names[n++], 64, "%s", t);
	free(idx);
	return n;
}

static void summarize_text(const sn_graph *g, int batch, sn_summary *s, char **text)
{
	*text = NULL;
	if (sn_summarize(g, batch, s)) { fprintf(stderr, "  sn_summarize: %s\n", sn_errmsg()); return; }
	*text = render(s, 0);
}

TEST(summary_fixtures)
{
	char names[128][64], p[512];
	int n = read_index(names, 128), ok = 0;
	CHECKF(n >= SUMMARY_MIN_FIXTURES, "%d summary fixtures listed in %s, expected at least %d (run tools/gen_summary_fixtures.py)",
	       n, fixture_path("index", ".txt", p, sizeof p), SUMMARY_MIN_FIXTURES);
	char dp[512];
	int on_disk = 0;
	DIR *dir = opendir(fixture_path("", "", dp, sizeof dp));
	for (struct dirent *e; dir && (e = readdir(dir));) {
		size_t len = strlen(e->d_name);
		on_disk += len > 5 && !strcmp(e->d_name + len - 5, ".arch");
	}
	if (dir) closedir(dir);
	CHECKF(on_disk == n, "%d .arch fixtures on disk but %d in index.txt", on_disk, n);
	static jsum want, got;   /* static: 512 rows each */
	for (int i = 0; i < n; i++) {
		const char *name = names[i];
		char what[128];
		sn_graph *g = sn_arch_load(fixture_path(name, ".arch", p, sizeof p));
		char *txt = slurp(fixture_path(name, ".expected.txt", p, sizeof p));
		char *js = slurp(fixture_path(name, ".expected.json", p, sizeof p));
		CHECKF(g, "%s: %s", name, sn_errmsg());
		CHECKF(txt && js, "%s: expected.txt or expected.json missing", name);
		if (g && txt && js) {
			sn_summary s;
			char *out;
			summarize_text(g, -1, &s, &out);
			int good = out != NULL;
			snprintf(what, sizeof what, "%.64s (table)", name);
			if (out) good &= same_text(what, out, txt);
			good &= jparse(js, &want) == 0;
			jfrom_summary(&s, &got);
			snprintf(what, sizeof what, "%.64s (sn_summary)", name);
			good &= jcompare(what, &got, &want, 1e-12);
			char *sj = render(&s, 1);
			snprintf(what, sizeof what, "%.64s (sn_summary_json)", name);
			good &= sj && jparse(sj, &got) == 0 && jcompare(what, &got, &want, 5e-7);
			CHECKF(good, "%s: slimnn differs from PyTorch", name);
			ok += good;
			free(sj);
			free(out);
			sn_summary_free(&s);
		}
		free(txt);
		free(js);
		sn_graph_free(g);
	}
	CHECK(ok == n);
}

/* Every zoo model has a fixture, and the fixture's copy is the model as it is now. */
TEST(summary_fixtures_cover_zoo)
{
	static const char *dirs[2] = {"", "seed/"};
	int found = 0;
	for (int d = 0; d < 2; d++) {
		char dp[512];
		DIR *dir = opendir(model_path(dirs[d], dp, sizeof dp));
		REQUIRE(dir);
		for (struct dirent *e; (e = readdir(dir));) {
			size_t len = strlen(e->d_name);
			if (len < 6 || strcmp(e->d_name + len - 5, ".arch")) continue;
			char rel[300], name[300], p[512];
			snprintf(rel, sizeof rel, "%s%s", dirs[d], e->d_name);
			snprintf(name, sizeof name, "%s%.*s", d ? "seed-" : "", (int)(len - 5), e->d_name);
			char *model = slurp(model_path(rel, p, sizeof p)), *fix = slurp(fixture_path(name, ".arch", p, sizeof p));
			const char *body = fix ? strchr(fix, '\n') : NULL;
			CHECKF(model && body && !strcmp(body + 1, model),
			       "models/%s: fixture %s.arch is missing or stale (run tools/gen_summary_fixtures.py)", rel, name);
			found++;
			free(model);
			free(fix);
		}
		closedir(dir);
	}
	CHECK(found >= 9);
}

/* ---------------------------------------------------------------- conventions */

static sn_graph *parse(const char *text)
{
	sn_graph *g = sn_arch_parse(text, "test.arch");
	if (!g) fprintf(stderr, "  %s\n", sn_errmsg());
	return g;
}

TEST(summary_seed)
{
	static const struct { const char *file; size_t params; int rows; uint64_t macs; } seed[] = {
		{"seed/conv.arch", 864, 1, 864 * 256},
		{"seed/depthwise.arch", 27, 1, 27 * 256},
		{"seed/pointwise.arch", 96, 1, 96 * 256},
		{"seed/separable.arch", 123, 2, 123 * 256},
	};
	for (int i = 0; i < 4; i++) {
		char p[512];
		sn_graph *g = sn_arch_load(model_path(seed[i].file, p, sizeof p));
		CHECKF(g, "%s: %s", seed[i].file, sn_errmsg());
		if (!g) continue;
		sn_summary s;
		REQUIRE(sn_summarize(g, -1, &s) == SN_OK);
		CHECKF(s.params == seed[i].params && s.trainable == seed[i].params && s.n_rows == seed[i].rows &&
		       s.macs == seed[i].macs && s.buffers == 0,
		       "%s: %zu params (%zu trainable), %d rows, %llu mult-adds", seed[i].file, s.params, s.trainable,
		       s.n_rows, (unsigned long long)s.macs);
		if (i == 3 && s.n_rows == 2) {
			CHECK(!strcmp(s.rows[0].label, "Conv2d-1") && s.rows[0].params == 27);
			CHECK(!strcmp(s.rows[1].label, "Conv2d-2") && s.rows[1].params == 96);
		}
		sn_summary_free(&s);
		sn_graph_free(g);
	}
}

TEST(summary_frozen)
{
	/* c1 4*3*9+4 = 112, b1 8, c2 2*4+2 = 10, b2 4, fc (2*8*8)*3+3 = 387 */
	sn_graph *g = parse("input x shape=3x8x8\nconv c1 out=4 k=3 pad=1 frozen=1\nbn b1 frozen=1\nrelu r\n"
	                    "conv c2 out=2 k=1\nbn b2\nflatten f\nlinear fc out=3 frozen=1\n");
	REQUIRE(g);
	sn_summary s;
	REQUIRE(sn_summarize(g, -1, &s) == SN_OK);
	CHECK(s.params == 521 && s.trainable == 14);
	CHECK(s.trainable == sn_graph_count(g, SN_TENSOR_PARAM, 1) && s.params == sn_graph_count(g, SN_TENSOR_PARAM, 0));
	static const size_t params[7] = {112, 8, 0, 10, 4, 0, 387}, trainable[7] = {0, 0, 0, 10, 4, 0, 0};
	REQUIRE(s.n_rows == 7);
	for (int i = 0; i < 7; i++)
		CHECKF(s.rows[i].params == params[i] && s.rows[i].trainable == trainable[i], "row %s: %zu params, %zu trainable",
		       s.rows[i].label, s.rows[i].params, s.rows[i].trainable);
	CHECK(s.macs == 112 * 64 + 8 + 10 * 64 + 4 + 387);   /* frozen layers still compute */
	char *out = render(&s, 0);
	CHECK(out && strstr(out, "\nTotal params: 521\nTrainable params: 14\nNon-trainable params: 507\n"));
	free(out);
	out = render(&s, 1);
	CHECK(out && strstr(out, "\"trainable_params\": 14, \"non_trainable_params\": 507"));
	free(out);
	sn_summary_free(&s);
	sn_graph_free(g);
}

TEST(summary_bn_buffers)
{
	sn_graph *g = parse("input x shape=16x5x7\nbn b\n");
	REQUIRE(g);
	sn_summary s;
	REQUIRE(sn_summarize(g, -1, &s) == SN_OK);
	REQUIRE(s.n_rows == 1);
	CHECK(s.rows[0].params == 32 && s.params == 32 && s.trainable == 32);   /* weight + bias: 2C */
	CHECK(s.buffers == 32 && sn_graph_count(g, SN_TENSOR_BUFFER, 0) == 32);  /* running mean + var */
	CHECK(s.rows[0].macs == 32);                                             /* torchinfo: 2C per sample */
	CHECK(s.params_mb == 32 * 4.0 / (1024.0 * 1024.0));                       /* buffers are not params */
	sn_summary_free(&s);
	sn_graph_free(g);

	char p[512];
	g = sn_arch_load(model_path("cnn.arch", p, sizeof p));
	REQUIRE(g);
	REQUIRE(sn_summarize(g, -1, &s) == SN_OK);
	CHECK(s.params == 824554 && s.buffers == 2 * (32 + 64));
	CHECK(s.rows[1].params == 64 && s.rows[5].params == 128);
	sn_summary_free(&s);
	sn_graph_free(g);
}

/* sn_summarize(g, 4): shapes show the batch, sizes scale as torchsummary's with batch_size=4. */
TEST(summary_batch)
{
	char names[128][64], p[512];
	int n = read_index(names, 128), checked = 0;
	for (int i = 0; i < n; i++) {
		char *want = slurp(fixture_path(names[i], ".batch4.txt", p, sizeof p));
		if (!want) continue;
		sn_graph *g = sn_arch_load(fixture_path(names[i], ".arch", p, sizeof p));
		CHECKF(g, "%s: %s", names[i], sn_errmsg());
		if (g) {
			sn_summary s1, s4;
			char *t1, *t4;
			summarize_text(g, -1, &s1, &t1);
			summarize_text(g, 4, &s4, &t4);
			char what[128];
			snprintf(what, sizeof what, "%.64s (batch 4)", names[i]);
			CHECK(t4 && same_text(what, t4, want));
			CHECK(s4.batch == 4 && s1.batch == -1);
			CHECK(s4.input_mb == 4 * s1.input_mb && s4.fwd_bwd_mb == 4 * s1.fwd_bwd_mb && s4.params_mb == s1.params_mb);
			CHECK(s4.total_mb == s4.input_mb + s4.fwd_bwd_mb + s4.params_mb);
			CHECK(s4.macs == s1.macs && s4.params == s1.params);   /* per sample, independent of the batch */
			char *j4 = render(&s4, 1), sh[64];
			snprintf(sh, sizeof sh, "[4, %d", s4.rows[0].out.c);
			CHECK(j4 && strstr(j4, sh) && !strstr(j4, "[-1,"));
			checked++;
			free(j4);
			free(t1);
			free(t4);
			sn_summary_free(&s1);
			sn_summary_free(&s4);
			sn_graph_free(g);
		}
		free(want);
	}
	CHECKF(checked >= SUMMARY_MIN_BATCH4, "%d batch-4 fixtures, expected at least %d", checked, SUMMARY_MIN_BATCH4);
}

/* summary --input: the zoo model on another input equals PyTorch's table for that input. */
TEST(summary_set_input)
{
	char p[512];
	sn_graph *g = sn_arch_load(model_path("cnn.arch", p, sizeof p));
	char *want = slurp(fixture_path("cnn-input3x32x20", ".expected.txt", p, sizeof p));
	REQUIRE(g && want);
	CHECK(sn_graph_set_input(g, 3, 32, 20) == SN_OK);
	sn_summary s;
	char *out;
	summarize_text(g, -1, &s, &out);
	CHECK(out && same_text("cnn --input 3x32x20", out, want));
	free(out);
	free(want);
	sn_summary_free(&s);
	sn_graph_free(g);
}

TEST(summary_shape_error)
{
	char p[512];
	sn_graph *g = sn_arch_load(model_path("cnn.arch", p, sizeof p));
	REQUIRE(g);
	/* 1x2x2: conv1 -> 32x2x2, pool1 -> 32x1x1, conv2 -> 64x1x1, pool2 (2x2) has nothing to pool */
	CHECK(sn_graph_set_input(g, 1, 2, 2) == SN_ESHAPE);
	const char *e = sn_errmsg();
	CHECKF(strstr(e, "'pool2'") && strstr(e, "[-1, 64, 1, 1]") && strstr(e, "[-1, 64, 0, 0]"), "message: %s", e);
	/* the graph is usable again with an input that fits */
	CHECK(sn_graph_set_input(g, 1, 28, 28) == SN_OK);
	sn_summary s;
	CHECK(sn_summarize(g, -1, &s) == SN_OK && s.params == 824554 && s.rows[8].out.c == 3136);
	sn_summary_free(&s);
	sn_graph_free(g);

	/* a kernel larger than the (padded) input */
	g = parse("input x shape=3x8x8\nconv c out=4 k=5\n");
	REQUIRE(g);
	CHECK(sn_graph_set_input(g, 3, 4, 4) == SN_ESHAPE);
	e = sn_errmsg();
	CHECKF(strstr(e, "'c'") && strstr(e, "[-1, 3, 4, 4]") && strstr(e, "5x5") && strstr(e, "4x4"), "message: %s", e);
	sn_graph_free(g);
}

/* The kernel column (--macs) shows both sides of a stride or dilation when they differ. */
TEST(summary_kernel_text)
{
	sn_graph *g = parse("input x shape=4x12x10\nconv a out=4 k=3 stride=2x1 pad=1 groups=4\n"
	                    "conv b out=4 k=1x3 dilation=1x2 pad=0x2\nconv c out=4 k=3 stride=2 dilation=2 pad=2\n"
	                    "maxpool p k=2x3 stride=1x2\navgpool q k=2\n");
	REQUIRE(g);
	sn_summary s;
	REQUIRE(sn_summarize(g, -1, &s) == SN_OK && s.n_rows == 5);
	static const char *want[5] = {"3x3 s2x1 g4", "1x3 d1x2", "3x3 s2 d2", "2x3 s1x2", "2x2 s2"};
	for (int i = 0; i < 5; i++) CHECKF(!strcmp(s.rows[i].kernel, want[i]), "row %d: '%s', expected '%s'", i + 1, s.rows[i].kernel, want[i]);
	sn_summary_free(&s);
	sn_graph_free(g);
}
