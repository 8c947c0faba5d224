/* The .slim model file: exact round trips, and rejection of every truncated, damaged or
 * forged file with a message that names the file and the problem. The forging helpers below
 * know the byte layout of docs/slim-format.md; they recompute the size field and the CRC so
 * that the reader's structural checks, not the checksum, must catch each forgery. */
#include <dirent.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include "test.h"
#include "slimnn.h"

static const char *small_arch =
	"input   x   shape=1x6x6\n"
	"conv    c1  out=4 k=3 pad=1\n"
	"bn      bn1\n"
	"relu    r1\n"
	"maxpool p1  k=2\n"
	"flatten f\n"
	"linear  fc  out=3\n";

/* ---------------------------------------------------------------- helpers */

static const char *tmp_path(const char *name)
{
	static char buf[4][512];
	static int k;
	char *p = buf[k++ & 3];
	snprintf(p, 512, "%s/slimfile-%s", sn_test_tmpdir(), name);  /* the folder is shared */
	return p;
}

/* A small net with every kind of value: random weights, non-trivial BN statistics, one mask. */
static sn_graph *small_net(void)
{
	sn_graph *g = sn_arch_parse(small_arch, "small");
	if (!g) { fprintf(stderr, "  small_net: %s\n", sn_errmsg()); return NULL; }
	sn_graph_init_params(g, 7);
	int m = sn_tensor_find(g, "bn1.running_mean"), v = sn_tensor_find(g, "bn1.running_var");
	for (size_t i = 0; i < g->tensor[m].n; i++) {
		g->tensor[m].data[i] = 0.25f * (float)i - 0.3f;
		g->tensor[v].data[i] = 1.5f + (float)i;
	}
	sn_tensor *w = &g->tensor[sn_tensor_find(g, "c1.weight")];
	w->mask = malloc(w->n);
	for (size_t i = 0; i < w->n; i++) {
		w->mask[i] = i % 3 != 0;
		if (!w->mask[i]) w->data[i] = 0;
	}
	return g;
}

static sn_meta sample_meta(void)
{
	sn_meta m = {0};
	snprintf(m.dataset, sizeof m.dataset, "fashion-mnist");
	m.epochs = 12;
	m.test_accuracy = 0.9123456789;
	m.test_loss = 0.271828;
	m.seed = 0x0123456789abcdefULL;
	m.norm = (sn_norm){.c = 3, .mean = {0.485f, 0.456f, 0.406f}, .std = {0.229f, 0.224f, 0.225f}};
	m.resize = 256;
	m.classes = 3;
	memcpy(m.names, "tench\0goldfish\0great white shark", 33);
	return m;
}

/* Arch text, tensors (bit for bit) and masks are the same. */
static int same_graph(const sn_graph *a, const sn_graph *b)
{
	char *ta = sn_arch_write(a), *tb = sn_arch_write(b);
	int ok = ta && tb && !strcmp(ta, tb) && a->n_tensor == b->n_tensor;
	free(ta);
	free(tb);
	for (int i = 0; ok && i < a->n_tensor; i++) {
		const sn_tensor *x = &a->tensor[i], *y = &b->tensor[sn_tensor_find(b, x->name)];
		ok = x->n == y->n && x->kind == y->kind && !memcmp(x->data, y->data, x->n * sizeof(float)) &&
		     !x->mask == !y->mask && (!x->mask || !memcmp(x->mask, y->mask, x->n));
	}
	return ok;
}

static int same_meta(const sn_meta *a, const sn_meta *b)
{
	return !strcmp(a->dataset, b->dataset) && a->epochs == b->epochs && a->test_accuracy == b->test_accuracy &&
	       a->test_loss == b->test_loss && a->seed == b->seed && a->norm.c == b->norm.c &&
	       !memcmp(a->norm.mean, b->norm.mean, sizeof a->norm.mean) && !memcmp(a->norm.std, b->norm.std, sizeof a->norm.std) &&
	       a->resize == b->resize && a->classes == b->classes && !memcmp(a->names, b->names, sizeof a->names);
}

/* ---------------------------------------------------------------- raw file editing */

typedef struct { unsigned char *p; size_t len; } bytes;

static bytes slurp(const char *path)
{
	bytes b = {0};
	FILE *f = fopen(path, "rb");
	if (!f) return b;
	fseek(f, 0, SEEK_END);
	b.len = (size_t)ftell(f);
	fseek(f, 0, SEEK_SET);
	b.p = malloc(b.len + 1);
	if (fread(b.p, 1, b.len, f) != b.len) b.len = 0;
	fclose(f);
	return b;
}

/* Unlinks first: ext4 flushes a file truncated and rewritten in place when it is closed
 * (auto_da_alloc), which made the every-offset tests take seconds. */
static void spit(const char *path, const unsigned char *p, size_t len)
{
	unlink(path);
	FILE *f = fopen(path, "wb");
	if (!f) return;
	if (len) fwrite(p, 1, len, f);
	fclose(f);
}

static uint32_t get32(const unsigned char *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t get64(const unsigned char *p) { return get32(p) | (uint64_t)get32(p + 4) << 32; }
static void set32(unsigned char *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> 8 * i); }
static void set64(unsigned char *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> 8 * i); }

/* Makes an edited file self-consistent again: size field and CRC. */
static void reseal(bytes *b)
{
	set64(b->p + 16, b->len);
	set32(b->p + b->len - 4, (uint32_t)crc32(0L, b->p, (uInt)(b->len - 4)));
}

/* Offset of the header of section `tag`, or 0. */
static size_t section(const bytes *b, const char *tag)
{
	for (size_t pos = 24; pos + 16 <= b->len - 4; pos += 16 + get64(b->p + pos + 8))
		if (!memcmp(b->p + pos, tag, 4)) return pos;
	return 0;
}

/* Replaces b[off, off+del) with ins[0..n); grows or shrinks the section holding it. */
static void splice(bytes *b, const char *tag, size_t off, size_t del, const void *ins, size_t n)
{
	size_t sec = section(b, tag);
	unsigned char *q = malloc(b->len - del + n);
	memcpy(q, b->p, off);
	if (n) memcpy(q + off, ins, n);
	memcpy(q + off + n, b->p + off + del, b->len - off - del);
	free(b->p);
	b->p = q;
	b->len = b->len - del + n;
	set64(b->p + sec + 8, get64(b->p + sec + 8) - del + n);
}

/* Tensor record i of TENS: where it starts, where its fixed fields are, its total size. */
typedef struct { size_t at, kind, dims, plen, end; } trec;

static trec tensor_rec(const bytes *b, int i)
{
	size_t pos = section(b, "TENS") + 16 + 4;
	trec r = {0};
	for (int k = 0; k <= i; k++) {
		r.at = pos;
		r.kind = pos + strlen((const char *)b->p + pos) + 1;    /* kind, enc, ndim, reserved */
		r.dims = r.kind + 4;
		r.plen = r.dims + 4 * b->p[r.kind + 2];
		r.end = r.plen + 8 + get64(b->p + r.plen);
		pos = r.end;
	}
	return r;
}

static void bump_count(bytes *b, const char *tag, int delta)
{
	unsigned char *c = b->p + section(b, tag) + 16;
	set32(c, get32(c) + (uint32_t)delta);
}

/* Saves the small model and returns its bytes. */
static bytes small_file(const char *name, int with_state)
{
	sn_graph *g = small_net();
	sn_meta m = sample_meta();
	sn_train_state st = {0};
	float *mv = NULL;
	if (with_state && g) {
		mv = calloc(2 * g->n_w, sizeof *mv);
		st = (sn_train_state){.present = 1, .epoch = 3, .step = 99, .opt_m = mv, .opt_v = mv + g->n_w};
	}
	int rc = g ? sn_model_save(g, &m, &st, tmp_path(name)) : -1;
	sn_graph_free(g);
	free(mv);
	return rc ? (bytes){0} : slurp(tmp_path(name));
}

static bytes copy_of(const bytes *b)
{
	bytes c = {malloc(b->len), b->len};
	memcpy(c.p, b->p, b->len);
	return c;
}

/* Writes the forged bytes (resealed) and expects the load to fail with `frag` in the message. */
static int rejects(bytes *b, const char *frag, int line)
{
	const char *path = tmp_path("forged.slim");
	reseal(b);
	spit(path, b->p, b->len);
	sn_meta m = sample_meta();
	sn_train_state st = {0};
	sn_graph *g = sn_model_load(path, &m, &st);
	int ok = !g && strstr(sn_errmsg(), frag) && strstr(sn_errmsg(), path) && st.present == 0 && !st.opt_m;
	if (!ok)
		fprintf(stderr, "  line %d: expected a rejection with '%s', got: %s\n", line, frag, g ? "success" : sn_errmsg());
	sn_graph_free(g);
	free(b->p);
	return ok;
}
#define REJECTS(b, frag) CHECK(rejects(&(b), frag, __LINE__))

/* ---------------------------------------------------------------- round trips */

TEST(slim_round_trip)
{
	sn_graph *g = small_net();
	REQUIRE(g);
	sn_meta m = sample_meta(), m2;
	const char *path = tmp_path("rt.slim");
	CHECKF(sn_model_save(g, &m, NULL, path) == SN_OK, "%s", sn_errmsg());
	sn_train_state st = {.present = 7};
	sn_graph *h = sn_model_load(path, &m2, &st);
	REQUIRE(h);
	CHECK(same_graph(g, h));
	CHECK(same_meta(&m, &m2));
	CHECK(st.present == 0 && !st.opt_m && !st.opt_v);
	/* the loaded model saves to the very same bytes */
	const char *path2 = tmp_path("rt2.slim");
	CHECK(sn_model_save(h, &m2, NULL, path2) == SN_OK);
	bytes a = slurp(path), b = slurp(path2);
	CHECK(a.len > 0 && a.len == b.len && !memcmp(a.p, b.p, a.len));
	free(a.p);
	free(b.p);
	sn_graph_free(g);
	sn_graph_free(h);
}

TEST(slim_round_trip_train_state)
{
	sn_graph *g = small_net();
	REQUIRE(g);
	for (int with_v = 0; with_v <= 1; with_v++) {
		sn_train_state st = {.present = 1, .epoch = 4, .step = 1234567890123ULL};
		sn_rng_seed(&st.rng, 11);
		sn_rng_seed(&st.graph_rng, 12);
		snprintf(st.recipe, sizeof st.recipe, "optimizer=adam lr=0.001 epochs=%d", 20 + with_v);
		st.opt_m = malloc(g->n_w * sizeof(float));
		st.opt_v = with_v ? malloc(g->n_w * sizeof(float)) : NULL;
		for (size_t i = 0; i < g->n_w; i++) {
			st.opt_m[i] = sinf((float)i);
			if (with_v) st.opt_v[i] = (float)i * 1e-3f;
		}
		const char *path = tmp_path("st.slim");
		CHECKF(sn_model_save(g, NULL, &st, path) == SN_OK, "%s", sn_errmsg());
		sn_train_state s2 = {0};
		sn_meta m2;
		sn_graph *h = sn_model_load(path, &m2, &s2);
		CHECKF(h, "%s", sn_errmsg());
		if (h) {
			CHECK(same_graph(g, h));
			CHECK(s2.present == 1 && s2.epoch == 4 && s2.step == st.step);
			CHECK(!memcmp(&s2.rng, &st.rng, sizeof st.rng) && !memcmp(&s2.graph_rng, &st.graph_rng, sizeof st.rng));
			CHECK(!strcmp(s2.recipe, st.recipe));
			CHECK(s2.opt_m && !memcmp(s2.opt_m, st.opt_m, g->n_w * sizeof(float)));
			CHECK(with_v ? s2.opt_v && !memcmp(s2.opt_v, st.opt_v, g->n_w * sizeof(float)) : !s2.opt_v);
			/* no metadata given: the defaults say "unknown" */
			CHECK(m2.test_accuracy < 0 && m2.epochs == 0 && m2.dataset[0] == 0 && m2.norm.c == 0 && m2.classes == 0);
		}
		/* a load that does not ask for the state still works (and still validates it) */
		sn_graph *k = sn_model_load(path, NULL, NULL);
		CHECK(k && same_graph(g, k));
		sn_graph_free(k);
		sn_graph_free(h);
		free(s2.opt_m);
		free(s2.opt_v);
		free(st.opt_m);
		free(st.opt_v);
	}
	sn_graph_free(g);
}

/* Every shipped architecture survives a round trip. */
TEST(slim_round_trip_models)
{
	const char *names[] = {"cnn", "cnn-dsc", "resnet", "mobilenetv2", "inception"};
	for (int i = 0; i < 5; i++) {
		char arch[256];
		snprintf(arch, sizeof arch, "models/%s.arch", names[i]);
		if (access(arch, R_OK)) continue;
		sn_graph *g = sn_arch_load(arch);
		CHECKF(g, "%s", sn_errmsg());
		if (!g) continue;
		sn_graph_init_params(g, (uint64_t)i);
		const char *path = tmp_path("model.slim");
		CHECKF(sn_model_save(g, NULL, NULL, path) == SN_OK, "%s", sn_errmsg());
		sn_graph *h = sn_model_load(path, NULL, NULL);
		CHECKF(h && same_graph(g, h), "%s: %s", names[i], h ? "differs" : sn_errmsg());
		sn_graph_free(g);
		sn_graph_free(h);
	}
}

TEST(slim_load_any)
{
	const char *arch = tmp_path("any.arch"), *slim = tmp_path("any.slim");
	spit(arch, (const unsigned char *)small_arch, strlen(small_arch));
	sn_meta m = sample_meta();
	sn_graph *g = sn_load_any(arch, &m);
	CHECKF(g, "%s", sn_errmsg());
	CHECK(m.test_accuracy < 0 && m.epochs == 0 && m.norm.c == 0 && m.classes == 0 && !m.dataset[0]);
	sn_meta want = sample_meta();
	CHECK(g && sn_model_save(g, &want, NULL, slim) == SN_OK);
	sn_graph *h = sn_load_any(slim, &m);
	CHECK(h && same_graph(g, h) && same_meta(&m, &want));
	sn_graph_free(g);
	sn_graph_free(h);

	CHECK(!sn_load_any(sn_test_tmpdir(), &m) && strstr(sn_errmsg(), "is a directory") &&
	      strstr(sn_errmsg(), sn_test_tmpdir()));
	const char *empty = tmp_path("empty.slim");
	spit(empty, NULL, 0);
	CHECK(!sn_load_any(empty, &m) && strstr(sn_errmsg(), "is empty") && strstr(sn_errmsg(), empty));
	CHECK(!sn_model_load(empty, &m, NULL) && strstr(sn_errmsg(), "is empty"));
	const char *missing = tmp_path("no-such-file.slim");
	CHECK(!sn_load_any(missing, &m) && strstr(sn_errmsg(), missing) && strstr(sn_errmsg(), "No such file"));
	CHECK(!sn_model_load(missing, NULL, NULL) && strstr(sn_errmsg(), missing));
	CHECK(!sn_model_load(sn_test_tmpdir(), NULL, NULL) && strstr(sn_errmsg(), "is a directory"));
	CHECK(!sn_load_any("/dev/null", &m) && strstr(sn_errmsg(), "'/dev/null' is not a regular file"));
	/* an architecture given where a model file is required */
	CHECK(!sn_model_load(arch, NULL, NULL) && strstr(sn_errmsg(), "is not a slimnn model file"));
	/* a model file cut after its first byte is still diagnosed as a model file */
	bytes b = slurp(slim);
	spit(empty, b.p, 3);
	CHECK(!sn_load_any(empty, &m) && strstr(sn_errmsg(), "is truncated"));
	free(b.p);
}

/* ---------------------------------------------------------------- damage */

TEST(slim_truncated_everywhere)
{
	bytes b = small_file("trunc-src.slim", 1);
	REQUIRE(b.len > 100);
	const char *path = tmp_path("trunc.slim");
	int bad = 0;
	for (size_t n = 0; n < b.len; n++) {
		spit(path, b.p, n);
		sn_graph *g = sn_model_load(path, NULL, NULL);
		const char *want = n == 0 ? "is empty" : "is truncated";
		if (g || !strstr(sn_errmsg(), want) || !strstr(sn_errmsg(), path)) {
			if (bad++ < 5) fprintf(stderr, "  cut at %zu: %s\n", n, g ? "loaded" : sn_errmsg());
		}
		sn_graph_free(g);
	}
	CHECK(bad == 0);
	free(b.p);
}

TEST(slim_flipped_byte_everywhere)
{
	bytes b = small_file("flip-src.slim", 1);
	REQUIRE(b.len > 100);
	const char *path = tmp_path("flip.slim");
	int bad = 0;
	for (size_t i = 0; i < b.len; i++) {
		for (int bit = 0; bit < 8; bit += 7) {
			b.p[i] ^= (unsigned char)(1u << bit);
			spit(path, b.p, b.len);
			b.p[i] ^= (unsigned char)(1u << bit);
			sn_graph *g = sn_model_load(path, NULL, NULL);
			/* the signature, the size field or else the checksum gives it away */
			const char *why = i < 8 ? "not a slimnn model file" : i >= 16 && i < 24 ? "header says" : "checksum mismatch";
			if (g || !strstr(sn_errmsg(), why) || !strstr(sn_errmsg(), path)) {
				if (bad++ < 5) fprintf(stderr, "  flip at %zu: %s\n", i, g ? "loaded" : sn_errmsg());
			}
			sn_graph_free(g);
		}
	}
	CHECK(bad == 0);
	free(b.p);
}

TEST(slim_trailing_garbage)
{
	bytes b = small_file("tail.slim", 0);
	REQUIRE(b.len);
	b.p = realloc(b.p, b.len + 3);
	memcpy(b.p + b.len, "xyz", 3);
	spit(tmp_path("tail.slim"), b.p, b.len + 3);
	CHECK(!sn_model_load(tmp_path("tail.slim"), NULL, NULL) && strstr(sn_errmsg(), "is damaged"));
	free(b.p);
}

/* ---------------------------------------------------------------- forged files (valid CRC) */

TEST(slim_forged_envelope)
{
	bytes b = small_file("env.slim", 0);
	REQUIRE(b.len);
	bytes c = copy_of(&b);
	set32(c.p + 8, 2);
	REJECTS(c, "was written by a newer slimnn (format 2); this build reads format 1");

	c = copy_of(&b);
	set32(c.p + 8, 0);
	REJECTS(c, "format version 0");

	/* a section length that runs past the end of the file */
	c = copy_of(&b);
	set64(c.p + section(&c, "TENS") + 8, (uint64_t)1 << 40);
	REJECTS(c, "section TENS claims 1099511627776 bytes but only");

	/* a section length that stops one byte short of the CRC */
	c = copy_of(&b);
	size_t last = section(&c, "MASK");
	set64(c.p + last + 8, get64(c.p + last + 8) - 1);
	REJECTS(c, "stray bytes");

	c = copy_of(&b);
	memcpy(c.p + section(&c, "META"), "me?a", 4);
	REJECTS(c, "invalid tag");

	/* a required section this version does not know */
	c = copy_of(&b);
	memcpy(c.p + section(&c, "META"), "QUAN", 4);
	set32(c.p + section(&c, "QUAN") + 4, 1);
	REJECTS(c, "needs a newer slimnn: it has a required section 'QUAN'");

	c = copy_of(&b);
	memcpy(c.p + section(&c, "META"), "TENS", 4);
	REJECTS(c, "two TENS sections");

	c = copy_of(&b);
	memcpy(c.p + section(&c, "TENS"), "NOTE", 4);
	set32(c.p + section(&c, "NOTE") + 4, 0);
	REJECTS(c, "has no tensors");

	/* an architecture that does not parse */
	c = copy_of(&b);
	size_t arch = section(&c, "ARCH") + 16;
	memcpy(c.p + arch, "inptu", 5);
	REJECTS(c, "has an invalid architecture: architecture:1:");

	c = copy_of(&b);
	c.p[arch + 3] = 0;
	REJECTS(c, "architecture text contains a NUL byte");
	free(b.p);
}

/* An unknown optional section is skipped: how later versions add information. */
TEST(slim_unknown_optional_section)
{
	bytes b = small_file("opt.slim", 0);
	REQUIRE(b.len);
	memcpy(b.p + section(&b, "META"), "NOTE", 4);
	reseal(&b);
	spit(tmp_path("opt.slim"), b.p, b.len);
	sn_meta m = sample_meta();
	sn_graph *g = sn_model_load(tmp_path("opt.slim"), &m, NULL);
	CHECKF(g, "%s", sn_errmsg());
	CHECK(m.test_accuracy < 0 && m.epochs == 0);  /* META gone: defaults */
	sn_graph_free(g);
	free(b.p);
}

TEST(slim_forged_tensors)
{
	bytes b = small_file("tens.slim", 1);
	REQUIRE(b.len);
	bytes c;
	trec r0 = tensor_rec(&b, 0);
	REQUIRE(!strcmp((const char *)b.p + r0.at, "c1.weight") && b.p[r0.kind + 2] == 4);

	/* huge dims: 65536^4 values, nothing allocated for them */
	c = copy_of(&b);
	for (int d = 0; d < 4; d++) set32(c.p + r0.dims + 4 * d, 65536);
	REJECTS(c, "tensor 'c1.weight' has an impossible shape: more than 2^31 values");

	c = copy_of(&b);
	set32(c.p + r0.dims, 0);
	REJECTS(c, "impossible shape: dimension 0 is 0");

	c = copy_of(&b);
	c.p[r0.kind + 2] = 5;
	REJECTS(c, "tensor 'c1.weight' has 5 dimensions (1 to 4 allowed)");

	c = copy_of(&b);
	c.p[r0.kind + 2] = 0;
	REJECTS(c, "has 0 dimensions");

	/* a payload length that overruns the section */
	c = copy_of(&b);
	set64(c.p + r0.plen, get64(c.p + r0.plen) + 1000000);
	REJECTS(c, "a tensor payload in section TENS needs");

	c = copy_of(&b);
	set64(c.p + r0.plen, UINT64_MAX);
	REJECTS(c, "needs 18446744073709551615 bytes");

	/* a payload length that fits the section but not the tensor */
	c = copy_of(&b);
	set64(c.p + r0.plen, get64(c.p + r0.plen) - 4);
	REJECTS(c, "tensor 'c1.weight': its dense payload does not hold exactly 4 bytes per value");

	/* dims that do not match the architecture (same count of values) */
	c = copy_of(&b);
	set32(c.p + r0.dims, 1);
	set32(c.p + r0.dims + 4, 4);
	REJECTS(c, "has tensor 'c1.weight' of shape [1, 4, 3, 3] but the architecture needs [4, 1, 3, 3]");

	c = copy_of(&b);
	c.p[r0.kind + 1] = 9;
	REJECTS(c, "stores tensor 'c1.weight' in encoding 9, which this build does not know");

	c = copy_of(&b);
	c.p[r0.kind] = 1;
	REJECTS(c, "stores tensor 'c1.weight' as a buffer but the architecture makes it a parameter");

	c = copy_of(&b);
	c.p[r0.kind] = 3;
	REJECTS(c, "unknown kind 3");

	c = copy_of(&b);
	c.p[r0.at + 1] = 'X';
	REJECTS(c, "has a tensor 'cX.weight' that its architecture does not define");

	/* the last tensor removed */
	int nt = (int)get32(b.p + section(&b, "TENS") + 16);
	trec rl = tensor_rec(&b, nt - 1);
	c = copy_of(&b);
	splice(&c, "TENS", rl.at, rl.end - rl.at, NULL, 0);
	bump_count(&c, "TENS", -1);
	REJECTS(c, "lacks tensor 'fc.bias' that its architecture needs");

	/* removed without fixing the count: the reader runs out of section */
	c = copy_of(&b);
	splice(&c, "TENS", rl.at, rl.end - rl.at, NULL, 0);
	REJECTS(c, "in section TENS");

	/* the first tensor duplicated at the end */
	c = copy_of(&b);
	splice(&c, "TENS", rl.end, 0, b.p + r0.at, r0.end - r0.at);
	bump_count(&c, "TENS", 1);
	REJECTS(c, "holds tensor 'c1.weight' twice");

	/* duplicated, but the count not raised: bytes left over */
	c = copy_of(&b);
	splice(&c, "TENS", rl.end, 0, b.p + r0.at, r0.end - r0.at);
	REJECTS(c, "section TENS has");

	/* a name without NUL: longer than any name may be, then one that runs to the section end */
	unsigned char as[200];
	memset(as, 'A', sizeof as);
	c = copy_of(&b);
	splice(&c, "TENS", rl.end, 0, as, sizeof as);
	bump_count(&c, "TENS", 1);
	REJECTS(c, "a tensor name in section TENS is not NUL-terminated within 128 bytes");

	c = copy_of(&b);
	splice(&c, "TENS", rl.end, 0, as, 5);
	bump_count(&c, "TENS", 1);
	REJECTS(c, "is not NUL-terminated within 5 bytes");

	c = copy_of(&b);
	splice(&c, "TENS", rl.end, 0, "", 1);
	bump_count(&c, "TENS", 1);
	REJECTS(c, "a tensor name in section TENS is empty");

	/* a count far beyond the section: stops at the section's end, no allocation from it */
	c = copy_of(&b);
	set32(c.p + section(&c, "TENS") + 16, 0xffffffffu);
	REJECTS(c, "in section TENS needs");
	free(b.p);
}

TEST(slim_forged_masks_and_state)
{
	bytes b = small_file("mask.slim", 1);
	REQUIRE(b.len);
	bytes c;
	size_t ms = section(&b, "MASK") + 16;
	REQUIRE(ms > 16 && get32(b.p + ms) == 1);
	size_t name = ms + 4, enc = name + strlen("c1.weight") + 1, plen = enc + 1, bits = plen + 8;
	/* c1.weight has 36 values: 5 bytes, 4 bits of padding */

	c = copy_of(&b);
	c.p[enc] = 3;
	REJECTS(c, "stores the mask of tensor 'c1.weight' in encoding 3");

	c = copy_of(&b);
	c.p[bits + 4] |= 0x80;
	REJECTS(c, "has bits set past its last value");

	c = copy_of(&b);
	set64(c.p + plen, 4);
	REJECTS(c, "the mask of tensor 'c1.weight' has 4 bytes, its 36 values need 5");

	c = copy_of(&b);
	c.p[name + 1] = 'Z';
	REJECTS(c, "has a mask for tensor 'cZ.weight' that its architecture does not define");

	c = copy_of(&b);
	splice(&c, "MASK", bits + 5, 0, b.p + name, bits + 5 - name);
	bump_count(&c, "MASK", 1);
	REJECTS(c, "two masks for tensor 'c1.weight'");

	/* training state */
	size_t ts = section(&b, "TRNS") + 16;
	REQUIRE(ts > 16);
	size_t flags = ts + 4, recipe = ts + 4 + 4 + 8 + 64, nvals = recipe + 4 + get32(b.p + recipe);

	c = copy_of(&b);
	set32(c.p + flags, 7);
	REJECTS(c, "unknown flags 0x7");

	c = copy_of(&b);
	set64(c.p + nvals, get64(c.p + nvals) + 1);
	REJECTS(c, "training state for");

	c = copy_of(&b);
	set32(c.p + recipe, 1024);
	REJECTS(c, "the recipe in section TRNS is 1024 bytes long (at most 1023)");

	c = copy_of(&b);
	set32(c.p + flags, 1);   /* v announced absent: its bytes are left over */
	REJECTS(c, "section TRNS has");

	c = copy_of(&b);
	splice(&c, "TRNS", c.len - 4 - 4, 4, NULL, 0);  /* the last float of v cut */
	REJECTS(c, "the optimizer's second moments in section TRNS needs");

	/* the dataset name in META */
	c = copy_of(&b);
	set32(c.p + section(&c, "META") + 16, 64);
	REJECTS(c, "the dataset name in section META is 64 bytes long (at most 63)");
	free(b.p);
}

/* META as the first format-1 writers wrote it (no per-channel normalisation, resize or class
 * names) still loads, with one normalisation pair; the appended fields are checked. */
TEST(slim_meta_extension)
{
	sn_graph *g = small_net();
	REQUIRE(g);
	sn_meta m = sample_meta(), m2;
	const char *path = tmp_path("meta.slim");
	REQUIRE(sn_model_save(g, &m, NULL, path) == SN_OK);
	bytes b = slurp(path), c;
	size_t meta = section(&b, "META") + 16, len = get64(b.p + meta - 8);
	size_t old = 4 + strlen("fashion-mnist") + 4 + 8 + 8 + 8 + 4 + 4;   /* the fields before the extension */
	REQUIRE(len > old);
	c = copy_of(&b);
	splice(&c, "META", meta + old, len - old, NULL, 0);
	reseal(&c);
	spit(path, c.p, c.len);
	sn_graph *h = sn_model_load(path, &m2, NULL);
	CHECKF(h, "%s", sn_errmsg());
	CHECK(m2.norm.c == 1 && m2.norm.mean[0] == 0.485f && m2.norm.std[0] == 0.229f && m2.classes == 0 && m2.resize == 0);
	sn_graph_free(h);
	free(c.p);
	/* 17 channels, a zero std, a name with a control byte, one name short */
	c = copy_of(&b);
	set32(c.p + meta + old, 17);
	REJECTS(c, "the normalisation has 17 channels (at most 16)");
	c = copy_of(&b);
	set32(c.p + meta + old + 4 + 12, 0);
	REJECTS(c, "normalisation std 0 is not positive");
	size_t names = meta + old + 4 + 24 + 4 + 8;
	c = copy_of(&b);
	c.p[names + 2] = 0x1b;
	REJECTS(c, "a class name holds control byte 0x1b");
	c = copy_of(&b);
	set32(c.p + names - 8, 4);
	REJECTS(c, "the class names are not 4 NUL-terminated names");
	free(b.p);
	sn_graph_free(g);
}

/* ---------------------------------------------------------------- writing */

static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	int n = 0;
	if (!d) return -1;
	for (struct dirent *e; (e = readdir(d));) n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

TEST(slim_atomic_write)
{
	sn_graph *g = small_net();
	REQUIRE(g);
	char dir[600];
	snprintf(dir, sizeof dir, "%s/slim-atomic", sn_test_tmpdir());
	mkdir(dir, 0755);

	/* a missing directory: an error naming the path, nothing created */
	char bad[700];
	snprintf(bad, sizeof bad, "%s/missing/m.slim", dir);
	CHECK(sn_model_save(g, NULL, NULL, bad) != SN_OK);
	CHECK(strstr(sn_errmsg(), bad) != NULL);
	CHECK(count_entries(dir) == 0);

	/* over a larger existing file: replaced whole, no temporary left behind */
	char path[700];
	snprintf(path, sizeof path, "%s/m.slim", dir);
	unsigned char *junk = malloc(1 << 16);
	memset(junk, 0xab, 1 << 16);
	spit(path, junk, 1 << 16);
	free(junk);
	CHECK(sn_model_save(g, NULL, NULL, path) == SN_OK);
	struct stat s;
	CHECK(stat(path, &s) == 0 && s.st_size < (1 << 16));
	CHECK(count_entries(dir) == 1);
	sn_graph *h = sn_model_load(path, NULL, NULL);
	CHECK(h && same_graph(g, h));
	sn_graph_free(h);
	sn_graph_free(g);
}

/* Random forgeries with a valid checksum: whatever the bytes, the reader fails cleanly or
 * loads a consistent graph, and never reads out of bounds (this is the test to run under
 * ASan). Small values are favoured: they hit counts, lengths and ranks where it hurts. */
TEST(slim_random_forgeries)
{
	bytes b = small_file("fuzz-src.slim", 1);
	REQUIRE(b.len > 100);
	const char *path = tmp_path("fuzz.slim");
	sn_rng r;
	sn_rng_seed(&r, 2024);
	int loaded = 0;
	for (int it = 0; it < 3000; it++) {
		bytes c = copy_of(&b);
		int edits = 1 + (int)sn_rng_below(&r, 4);
		for (int e = 0; e < edits; e++) {
			size_t at = 24 + sn_rng_below(&r, (uint32_t)(c.len - 28));
			uint32_t kind = sn_rng_below(&r, 3);
			c.p[at] = kind == 0 ? (unsigned char)sn_rng_below(&r, 256)
			        : kind == 1 ? (unsigned char)sn_rng_below(&r, 8) : (unsigned char)(c.p[at] ^ 0x80);
		}
		reseal(&c);
		spit(path, c.p, c.len);
		sn_train_state st = {0};
		sn_meta m;
		sn_graph *g = sn_model_load(path, &m, &st);
		if (g) {
			loaded++;  /* e.g. a changed weight value: still a valid model */
			for (int i = 0; i < g->n_tensor; i++) CHECK(g->tensor[i].data != NULL);
		} else {
			CHECK(strstr(sn_errmsg(), path) != NULL);
		}
		sn_graph_free(g);
		free(st.opt_m);
		free(st.opt_v);
		free(c.p);
	}
	CHECK(loaded > 0 && loaded < 3000);
	free(b.p);
}
