/* The C code generator (src/codegen): the emitter table, the arena plan (no two live buffers
 * share a byte, never below the lower bound, within 1.1x of it on the zoo), the choice of weight
 * forms and their byte counts, only the kernels a model uses, class names, refusals and the
 * all-or-nothing write; and int8 models, compiled here with the host's cc and run with a
 * poisoned arena, byte for byte against the library's int8 plan. tests/cli_export_c.sh compiles
 * and runs the float output. */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include "test.h"
#include "codegen/codegen_internal.h"
#include "core/quant.h"
#include "io/sparse_codec.h"

/* models/NAME.arch (seed 1) and its code with the default options into r; NULL on failure */
static sn_graph *zoo_code(const char *name, sn_cg_result *r)
{
	sn_graph *g = sn_test_zoo(name, 1);
	if (g && sn_cg_generate(g, NULL, NULL, r) == SN_OK) return g;
	fprintf(stderr, "  %s: %s\n", name, sn_errmsg());
	sn_graph_free(g);
	return NULL;
}

TEST(codegen_every_operator_has_an_emitter)
{
	for (int op = SN_OP_INPUT + 1; op < SN_OP_COUNT; op++)
		CHECKF(cg_emitter_of((sn_op)op) != NULL, "operator %s has no row in src/codegen/emitters.c", sn_op_get((sn_op)op)->key);
	CHECK(cg_emitter_of(SN_OP_INPUT) == NULL);
	CHECK(cg_emitter_of(SN_OP_COUNT) == NULL);
	/* and every operator the library runs in int8 an int8 form */
	for (int op = SN_OP_INPUT + 1; op < SN_OP_COUNT; op++)
		if (sn_op_get((sn_op)op)->run_q8)
			CHECKF(cg_emitter_of((sn_op)op)->i8 != NULL, "operator %s runs in int8 but has no int8 emitter",
			       sn_op_get((sn_op)op)->key);
}

static int lifetimes_overlap(const sn_cg_buffer *a, const sn_cg_buffer *b) { return a->first <= b->last && b->first <= a->last; }
static int bytes_overlap(const sn_cg_buffer *a, const sn_cg_buffer *b)
{
	return a->offset < b->offset + b->bytes && b->offset < a->offset + a->bytes;
}

/* No two buffers live at one layer share a byte; all lie in the arena; the arena is at least
 * the lower bound and, on the zoo, at most 1.1 times it. */
static void check_arena(const char *what, const sn_cg_result *r, double max_ratio)
{
	for (int i = 0; i < r->n_buf; i++) {
		CHECKF(r->buf[i].offset + r->buf[i].bytes <= r->arena_bytes, "%s: buffer %d ends past the arena", what, i);
		for (int j = i + 1; j < r->n_buf; j++)
			CHECKF(!(lifetimes_overlap(&r->buf[i], &r->buf[j]) && bytes_overlap(&r->buf[i], &r->buf[j])),
			       "%s: the outputs of nodes %d and %d are live together and share bytes", what, r->buf[i].node, r->buf[j].node);
	}
	CHECKF(r->arena_bytes >= r->arena_lower_bound, "%s: arena %zu below its lower bound %zu", what, r->arena_bytes,
	       r->arena_lower_bound);
	CHECKF(r->arena_bytes <= max_ratio * r->arena_lower_bound, "%s: arena %zu over %.2fx its lower bound %zu", what,
	       r->arena_bytes, max_ratio, r->arena_lower_bound);
}

TEST(codegen_arena_of_the_zoo)
{
	static const char *const zoo[] = {"cnn", "cnn-k5", "cnn-dsc", "cnn-dsc-gap", "resnet", "mobilenetv2", "mobilenetv3",
	                                  "shufflenetv2", "inception"};
	for (size_t k = 0; k < sizeof zoo / sizeof *zoo; k++) {
		sn_cg_result r;
		sn_graph *g = zoo_code(zoo[k], &r);
		CHECK(g);
		if (!g) continue;
		check_arena(zoo[k], &r, 1.1);
		CHECK(r.n_buf > 0 && r.layers > 0 && r.macs > 0 && r.flash_bytes == r.dense_flash_bytes);
		sn_cg_free(&r);
		sn_graph_free(g);
	}
}

/* The baseline CNN's plan, worked by hand. Each conv is fused with its max-pool: only one
 * plane of the conv's output exists at a time (28x28, then 14x14). The most live at once is at
 * pool2: pool1's 32x14x14, conv2's plane and pool2's 64x7x7 (38,416 bytes, where the unfused
 * plan needed conv1's 32x28x28 and pool1's together: 125,440); fc2 writes the caller's output. */
TEST(codegen_arena_by_hand)
{
	sn_cg_result r;
	sn_graph *g = zoo_code("cnn", &r);
	REQUIRE(g);
	CHECK(r.arena_lower_bound == (32 * 14 * 14 + 14 * 14 + 64 * 7 * 7) * 4);
	CHECK(r.arena_bytes == r.arena_lower_bound);
	CHECK(strstr(r.c_text, "k_conv_pool(&G_L1_conv1, &G_L2_pool1, maxpool_plane, input, &W_L1_conv1, B_L1_conv1, arena + "));
	CHECK(!strstr(r.c_text, "static void k_conv(") && !strstr(r.c_text, "static void k_pool("));
	CHECK(strstr(r.c_text, "k_linear(arena + 0, &W_L8_fc2, B_L8_fc2, output);"));
	CHECK(strstr(r.c_text, "/* relu3 (ReLU) [-1, 256] -> [-1, 256], in place */"));
	CHECK(strstr(r.h_text, "#define MODEL_ARENA_BYTES 38416"));
	sn_cg_free(&r);
	sn_graph_free(g);
}

/* A Linear 3 -> out over `cols` inputs whose weights are zero except where keep(i) is true. */
static sn_graph *linear_with(int rows, int cols, int (*keep)(int i, int cols))
{
	char arch[160];
	snprintf(arch, sizeof arch, "input x shape=%dx1x1\nflatten f\nlinear l out=%d bias=0\n", cols, rows);
	sn_graph *g = sn_test_net(arch, 3);
	if (!g) return NULL;
	sn_tensor *w = sn_test_tensor(g, "l.weight");
	for (int i = 0; i < rows * cols; i++)
		if (!keep(i, cols)) w->data[i] = 0.0f;
	return g;
}
static int keep_all(int i, int cols) { (void)i; (void)cols; return 1; }
static int keep_tenth(int i, int cols) { (void)cols; return i % 10 == 0; }
static int keep_half(int i, int cols) { (void)cols; return i % 2 == 0; }
static int keep_far(int i, int cols) { return i % cols == 0 || i % cols == cols - 1; }   /* gaps of cols - 2 */

static sn_cg_form form_of(sn_graph *g, sn_cg_force force, size_t *bytes)
{
	sn_cg_opts o = sn_cg_defaults();
	o.force = force;
	sn_cg_result r;
	if (sn_cg_generate(g, NULL, &o, &r)) { fprintf(stderr, "  %s\n", sn_errmsg()); return SN_CG_FORMS; }
	const sn_cg_form f = r.tensor[0].form;
	if (bytes) *bytes = r.tensor[0].bytes;
	sn_cg_free(&r);
	return f;
}

TEST(codegen_weight_forms)
{
	size_t bytes;
	sn_graph *g = linear_with(4, 100, keep_all);
	REQUIRE(g);
	CHECK(form_of(g, SN_CG_AUTO, &bytes) == SN_CG_DENSE && bytes == 1600);
	sn_graph_free(g);
	/* 90 % zeros: 40 values, 4 row counts, 40 one-byte gaps */
	g = linear_with(4, 100, keep_tenth);
	REQUIRE(g);
	CHECK(form_of(g, SN_CG_AUTO, &bytes) == SN_CG_CSR8 && bytes == 40 * 4 + 4 * 2 + 40);
	CHECK(form_of(g, SN_CG_FORCE_BITMAP, &bytes) == SN_CG_BITMAP && bytes == 50 + 40 * 4);
	CHECK(form_of(g, SN_CG_FORCE_DENSE, &bytes) == SN_CG_DENSE && bytes == 1600);
	sn_graph_free(g);
	/* half zeros: the bitmap (50 + 200) beats CSR (200 + 8 + 200) */
	g = linear_with(4, 100, keep_half);
	REQUIRE(g);
	CHECK(form_of(g, SN_CG_AUTO, &bytes) == SN_CG_BITMAP && bytes == 50 + 200 * 4);
	sn_graph_free(g);
	/* two values a row 998 apart: 8-bit gaps need 3 escapes + 1 code for the second, 16-bit one */
	g = linear_with(2, 1000, keep_far);
	REQUIRE(g);
	CHECK(form_of(g, SN_CG_AUTO, &bytes) == SN_CG_CSR16 && bytes == 4 * 4 + 2 * 2 + 2 * 2 * 2);
	CHECK(form_of(g, SN_CG_FORCE_CSR, &bytes) == SN_CG_CSR16);
	sn_graph_free(g);
	/* fewer than 64 values stay dense, as in .slim files */
	g = linear_with(2, 20, keep_tenth);
	REQUIRE(g);
	CHECK(form_of(g, SN_CG_AUTO, &bytes) == SN_CG_DENSE && bytes == 160);
	CHECK(form_of(g, SN_CG_FORCE_CSR, &bytes) == SN_CG_CSR8);
	sn_graph_free(g);
}

/* Only the kernels and weight forms a model uses are written. */
TEST(codegen_only_what_is_used)
{
	sn_graph *g = linear_with(4, 100, keep_tenth);
	REQUIRE(g);
	sn_cg_result r;
	REQUIRE(sn_cg_generate(g, NULL, NULL, &r) == SN_OK);
	CHECK(strstr(r.c_text, "static void k_linear("));
	CHECK(strstr(r.c_text, "case 1: {"));                 /* CSR8 */
	CHECK(!strstr(r.c_text, "case 0:") && !strstr(r.c_text, "case 3:"));
	CHECK(!strstr(r.c_text, "k_conv") && !strstr(r.c_text, "k_softmax") && !strstr(r.c_text, "pad_index"));
	CHECK(!strstr(r.c_text, "malloc") && !strstr(r.c_text, "stdio") && !strstr(r.c_text, "printf"));
	sn_cg_free(&r);
	sn_graph_free(g);
	g = zoo_code("mobilenetv3", &r);
	REQUIRE(g);
	CHECK(strstr(r.c_text, "static void k_hardswish(") && strstr(r.c_text, "static void k_mul("));
	CHECK(!strstr(r.c_text, "static void k_linear(") == !strstr(r.c_text, "k_linear(arena"));
	CHECK(!strstr(r.c_text, "k_gelu") && !strstr(r.c_text, "k_softmax"));
	sn_cg_free(&r);
	sn_graph_free(g);
}

TEST(codegen_prefix_names_and_normalisation)
{
	sn_graph *g = sn_test_zoo("cnn", 1);
	REQUIRE(g);
	sn_meta meta;
	memset(&meta, 0, sizeof meta);
	meta.classes = 3;
	memcpy(meta.names, "T-shirt/top\0say \"hi\"\0a?\\b", 26);
	meta.norm = (sn_norm){.c = 1, .mean = {0.5f}, .std = {0.25f}};
	sn_cg_opts o = sn_cg_defaults();
	o.prefix = "fm_net";
	sn_cg_result r;
	REQUIRE(sn_cg_generate(g, &meta, &o, &r) == SN_OK);
	CHECK(strstr(r.h_text, "int fm_net_run(const float *input, float *output);"));
	CHECK(strstr(r.h_text, "#define FM_NET_CLASSES 3") && strstr(r.h_text, "#define FM_NET_INPUT_SIZE 784"));
	CHECK(strstr(r.c_text, "{\n\t\"T-shirt/top\", \"say \\\"hi\\\"\", \"a\\077\\\\b\"\n};"));
	CHECK(strstr(r.c_text, "void fm_net_input_from_bytes(const unsigned char *pixels, float *input)"));
	CHECK(strstr(r.c_text, "scale[1] = {0x1.010102p-6f}, shift[1] = {-0x1p+1f};"));   /* 1/255/0.25, -0.5/0.25 */
	sn_cg_free(&r);
	o.prefix = "9lives";
	CHECK(sn_cg_generate(g, &meta, &o, &r) == SN_EINVAL && strstr(sn_errmsg(), "prefix '9lives' is not a C identifier"));
	CHECK(!sn_cg_prefix_ok("a-b") && !sn_cg_prefix_ok("") && sn_cg_prefix_ok("_m2"));
	sn_graph_free(g);
}

TEST(codegen_refuses_broken_weights)
{
	sn_graph *g = sn_test_zoo("cnn", 1);
	REQUIRE(g);
	sn_test_tensor(g, "fc1.weight")->data[7] = NAN;
	sn_cg_result r;
	CHECK(sn_cg_generate(g, NULL, NULL, &r) == SN_EINVAL);
	CHECKF(strstr(sn_errmsg(), "layer 'fc1' (Linear): fc1.weight holds NaN or infinity at value 7"), "%s", sn_errmsg());
	CHECK(r.c_text == NULL);
	sn_graph_free(g);
}

/* ---------------------------------------------------------------- int8 models */

/* arch with seeded weights, `zeros` of each conv's and Linear's weights set to 0 (so that the
 * sparse forms have something to skip) and BatchNorm statistics that are not the identity,
 * quantized on d (minmax) keeping `keep_float` in float. */
static sn_graph *quantized_net(const char *arch, const sn_dataset *d, double zeros, const char *keep_float, uint64_t seed)
{
	sn_graph *g = sn_test_net(arch, seed);
	if (!g) return NULL;
	sn_rng r;
	sn_rng_seed(&r, seed + 1);
	for (int i = 0; i < g->n_tensor; i++) {
		sn_tensor *t = &g->tensor[i];
		const int weight = strstr(t->name, ".weight") && t->ndim >= 2;
		for (size_t k = 0; k < t->n; k++) {
			if (weight && sn_rng_uniform(&r) < zeros) t->data[k] = 0.0f;
			if (strstr(t->name, "running_var")) t->data[k] = 0.5f + sn_rng_uniform(&r);
			if (strstr(t->name, "running_mean")) t->data[k] = 0.2f * (sn_rng_uniform(&r) - 0.5f);
		}
	}
	sn_quantize_opts o = sn_quantize_defaults();
	o.calibration = SN_CALIB_MINMAX;
	o.batch = 16;
	o.calib_images = d->n;
	o.keep_float = keep_float;
	sn_graph *h = sn_quantize(g, d, NULL, &o, NULL);
	if (!h) fprintf(stderr, "  sn_quantize: %s\n", sn_errmsg());
	sn_graph_free(g);
	return h;
}

/* The program the int8 tests compile with the generated m.c: reads n images of floats from
 * argv[1], gives each to m_run (quantized as slimnn quantizes its input, where it is int8) and
 * writes the outputs' bytes (int8 or float) to argv[2]. */
static const char *const HOST_MAIN =
	"#include <math.h>\n#include <stdio.h>\n#include \"m.h\"\n"
	"static float x[M_INPUT_SIZE];\nstatic m_input_t in[M_INPUT_SIZE];\nstatic m_output_t out[M_OUTPUT_SIZE];\n"
	"int main(int argc, char **argv)\n{\n"
	"\tFILE *f = fopen(argv[1], \"rb\"), *o = fopen(argv[2], \"wb\");\n\tlong i;\n\t(void)argc;\n"
	"\twhile (f && o && fread(x, sizeof x, 1, f) == 1) {\n"
	"\t\tfor (i = 0; i < M_INPUT_SIZE; i++) {\n"
	"#if M_INPUT_INT8\n"
	"\t\t\tconst long r = lrintf(x[i] / M_INPUT_SCALE) + M_INPUT_ZERO_POINT;\n"
	"\t\t\tin[i] = (int8_t)(r < -128 ? -128 : r > 127 ? 127 : r);\n"
	"#else\n\t\t\tin[i] = x[i];\n#endif\n\t\t}\n"
	"\t\tif (m_run(in, out)) return 1;\n\t\tfwrite(out, sizeof out, 1, o);\n\t}\n"
	"\treturn !f || !o || fclose(o);\n}\n";

/* Writes r's files as DIR/m.{c,h} with HOST_MAIN, compiles them with a poisoned arena and runs
 * them on x (n images); the outputs' bytes into *out (malloc'd), their count into *len. */
static int compile_and_run(const sn_cg_result *r, const char *dir, const float *x, int n, size_t in_size, unsigned char **out,
                           size_t *len)
{
	char path[600], cmd[2400];
	if (sn_cg_write(r, dir, "m")) return -1;
	snprintf(path, sizeof path, "%s/main.c", dir);
	FILE *f = fopen(path, "w");
	if (!f) return -1;
	fputs(HOST_MAIN, f);
	fclose(f);
	snprintf(path, sizeof path, "%s/x.bin", dir);
	f = fopen(path, "wb");
	if (!f) return -1;
	fwrite(x, sizeof *x, (size_t)n * in_size, f);
	fclose(f);
	snprintf(cmd, sizeof cmd, "cd %s && cc -std=c99 -O1 -Wall -Wextra -pedantic -Werror -DM_POISON_ARENA m.c main.c -lm -o run "
	         ">cc.log 2>&1 && ./run x.bin y.bin", dir);
	if (system(cmd)) {
		snprintf(cmd, sizeof cmd, "head -c 600 %s/cc.log >&2", dir);
		if (system(cmd)) {}
		return -1;
	}
	snprintf(path, sizeof path, "%s/y.bin", dir);
	f = fopen(path, "rb");
	if (!f) return -1;
	fseek(f, 0, SEEK_END);
	*len = (size_t)ftell(f);
	fseek(f, 0, SEEK_SET);
	*out = malloc(*len + 1);
	const int ok = *out && fread(*out, 1, *len, f) == *len;
	fclose(f);
	return ok ? 0 : -1;
}

/* The model's outputs in the library's int8 plan on x (n images): the last layer's int8 bytes,
 * or its floats where it runs in float, into want (malloc'd). */
static int plan_bytes(sn_graph *h, const float *x, int n, unsigned char **want, size_t *len)
{
	sn_plan *pl = sn_plan_new(h);
	if (!pl || sn_plan_reshape(pl, n, 0) || !sn_plan_forward(pl, x, n)) { sn_plan_free(pl); return -1; }
	const sn_node *last = &h->node[h->n_node - 1];
	const sn_node_rt *rt = sn_rt(pl, last);
	*len = (size_t)n * sn_shape_numel(last->out) * (rt->q8 ? 1 : sizeof(float));
	*want = malloc(*len);
	if (*want) memcpy(*want, rt->q8 ? (const void *)rt->q : (const void *)rt->y, *len);
	sn_plan_free(pl);
	return *want ? 0 : -1;
}

/* Exports h with each weight form forced (and as chosen), compiles, runs on n images of d and
 * compares the bytes with the plan's (all_int8: every layer runs in int8, so no float is
 * written). */
static void check_int8_code(const char *name, sn_graph *h, const sn_dataset *d, int n, int all_int8)
{
	const size_t in_size = (size_t)d->c * d->h * d->w;
	float *x = malloc((size_t)n * in_size * sizeof *x);
	int idx[16];
	int32_t y[16];
	for (int i = 0; i < n; i++) idx[i] = i;
	REQUIRE(x && n <= 16 && sn_dataset_batch(d, idx, n, NULL, NULL, x, y) == SN_OK);
	unsigned char *want = NULL;
	size_t want_len = 0;
	REQUIRE(plan_bytes(h, x, n, &want, &want_len) == 0);
	const int float_out = !sn_node_runs_int8(&h->node[h->n_node - 1]);
	static const sn_cg_force forces[] = {SN_CG_AUTO, SN_CG_FORCE_DENSE, SN_CG_FORCE_CSR, SN_CG_FORCE_BITMAP};
	static const char *const fname[] = {"auto", "dense", "csr", "bitmap"};
	for (int f = 0; f < 4; f++) {
		sn_cg_opts o = sn_cg_defaults();
		o.force = forces[f];
		o.prefix = "m";
		sn_cg_result r;
		if (sn_cg_generate(h, NULL, &o, &r)) { CHECKF(0, "%s (%s): %s", name, fname[f], sn_errmsg()); continue; }
		check_arena(name, &r, 10.0);
		CHECKF(!all_int8 || !strstr(strstr(r.c_text, "/* ---- constants */"), "float"), "%s: float in an all-int8 model", name);
		char dir[512];
		snprintf(dir, sizeof dir, "%s/cg_q8_%s_%s", sn_test_tmpdir(), name, fname[f]);
		unsigned char *got = NULL;
		size_t got_len = 0;
		const int rc = compile_and_run(&r, dir, x, n, in_size, &got, &got_len);
		CHECKF(rc == 0, "%s (%s): the generated code does not compile or run (%s)", name, fname[f], dir);
		if (!rc && !float_out) {
			size_t k = 0;
			while (k < want_len && k < got_len && got[k] == want[k]) k++;
			CHECKF(got_len == want_len && k == want_len, "%s (%s): byte %zu of %zu differs from the int8 plan (%d, want %d)",
			       name, fname[f], k, want_len, k < got_len ? got[k] : -1, k < want_len ? want[k] : -1);
		} else if (!rc) {   /* a float last layer: the float path's 1e-5 (the order of its sums) */
			CHECK(got_len == want_len);
			if (got_len == want_len)
				CHECKF(sn_test_maxrel((const float *)got, (const float *)want, want_len / sizeof(float)) <= 1e-5,
				       "%s (%s): the float outputs differ from the plan's", name, fname[f]);
		}
		free(got);
		sn_cg_free(&r);
	}
	free(want);
	free(x);
}

/* Every int8 operator on seeded random shapes, each weight form, against the int8 plan byte for
 * byte: convs of every kind (grouped, depthwise with a multiplier, strided, dilated, per-side
 * padding, reflect / replicate / circular padding, 1x1, fused ReLU and ReLU6), Linear, max and
 * average pooling (ceil mode, count_include_pad, fused with their conv or alone), GAP, Add of
 * two and three inputs, Concat of inputs of other parameters, ReLU and ReLU6 alone, Flatten,
 * Dropout, shuffle and slice; and a model mixing float layers (a float first conv, Sigmoid,
 * Hardswish, a float last Linear) through quantize / dequantize. */
TEST(codegen_int8_matches_the_plan)
{
	sn_rng r;
	sn_rng_seed(&r, 17);
	const int C = 1 + (int)sn_rng_below(&r, 4), H = 9 + (int)sn_rng_below(&r, 6), W = 9 + (int)sn_rng_below(&r, 6);
	const int O = 2 + (int)sn_rng_below(&r, 5), L = 3 + (int)sn_rng_below(&r, 7);
	char convs[1024], joins[1024], mixed[512];
	snprintf(convs, sizeof convs,
	         "input x shape=%dx%dx%d\nconv a out=6 k=3 pad=1 bias=0\nbn ab\nrelu ar\n"
	         "conv b out=6 k=3 groups=2 pad=2 dilation=2\nrelu6 b6\nconv c out=6 k=5 groups=6 pad=2\n"
	         "conv d out=12 k=3 groups=6 pad=1 stride=2\nconv e out=%d k=3x5 pad=1,2,2,0 mode=reflect\n"
	         "conv f out=4 k=3 stride=2 pad=2 mode=replicate\nconv g out=3 k=3 pad=1 mode=circular dilation=2x1\n"
	         "conv h out=3 k=3x2 stride=2 pad=1,0,2,1\nconv i out=3 k=1\n", C, H, W, O);
	snprintf(joins, sizeof joins,
	         "input x shape=%dx%dx%d\nconv a out=8 k=3 pad=1\nmaxpool m k=2\nconv b out=8 k=3 pad=1\n"
	         "avgpool p k=3 stride=1 pad=1 count_include_pad=0\nadd s in=m,p\nrelu r\nconv c in=m out=8 k=1\n"
	         "add t in=r,c,m\nrelu6 r6\nslice sl start=2 end=6\nshuffle sh in=r6 groups=2\nconcat k in=sl,sh,m\n"
	         "maxpool mp k=3 stride=2 pad=1 ceil=1\navgpool ap k=3 stride=2 pad=1 ceil=1\ndropout dr p=0.2\n"
	         "gap g\nflatten f\nlinear l out=%d\nlinear l2 out=5 bias=0\n", C, H, W, L);
	snprintf(mixed, sizeof mixed,
	         "input x shape=%dx8x8\nconv a out=4 k=3 pad=1\nsigmoid sg\nconv b out=4 k=3 pad=1\nconv c in=a out=4 k=1\n"
	         "add s in=b,c\nhardswish hs\nconcat k in=hs,s\nflatten f\nlinear l out=6\n", C);
	struct { const char *name, *arch, *keep; int h, w; } nets[] = {
		{"convs", convs, NULL, H, W}, {"joins", joins, NULL, H, W}, {"mixed", mixed, "a,l", 8, 8},
		{"mixed_int8_edges", mixed, "sg", 8, 8},
	};
	for (size_t k = 0; k < sizeof nets / sizeof *nets; k++) {
		sn_dataset d;
		sn_test_random_images(&d, 32, C, nets[k].h, nets[k].w, 5 + k);
		sn_graph *h = quantized_net(nets[k].arch, &d, 0.6, nets[k].keep, 3 + k);
		CHECKF(h, "%s: not quantized", nets[k].name);
		if (h) check_int8_code(nets[k].name, h, &d, 5, !nets[k].keep);
		sn_graph_free(h);
		sn_dataset_free(&d);
	}
}

/* int8 weights take a byte a value in the form the .slim int8 codecs choose; the header gives the
 * int8 signature and the parameters of both ends; only int8 kernels are written for an int8
 * model, with no float. */
TEST(codegen_int8_forms_and_header)
{
	sn_dataset d;
	sn_test_random_images(&d, 32, 1, 28, 28, 9);
	sn_graph *h = quantized_net("input x shape=1x28x28\nconv c1 out=8 k=3 pad=1\nrelu r\nmaxpool p k=2\nflatten f\n"
	                            "linear l1 out=32\nlinear l2 out=10\n", &d, 0.9, NULL, 4);
	REQUIRE(h);
	sn_cg_result r;
	REQUIRE(sn_cg_generate(h, NULL, NULL, &r) == SN_OK);
	for (int t = 0; t < r.n_tensor; t++) {
		const sn_cg_tensor *e = &r.tensor[t];
		const int node = sn_graph_find(h, strstr(e->name, "c1.") ? "c1" : strstr(e->name, "l1.") ? "l1" : "l2");
		const sn_tensor *w = sn_q_weight(h, &h->node[node]);
		if (strcmp(e->name, w->name)) continue;
		CHECKF((int)e->form == sn_sparse_choose_i8(w->data, w->n, sn_sparse_cols(w)), "%s: form %s, the .slim codec's %d",
		       e->name, sn_cg_form_names[e->form], sn_sparse_choose_i8(w->data, w->n, sn_sparse_cols(w)));
		CHECK(e->dense_bytes == e->values);   /* a byte a value dense */
		if (e->form == SN_CG_DENSE) CHECK(e->bytes == e->values);
	}
	CHECK(strstr(r.h_text, "int model_run(const int8_t *input, int8_t *output);"));
	CHECK(strstr(r.h_text, "#include <stdint.h>") && strstr(r.h_text, "#define MODEL_INPUT_SCALE 0x"));
	CHECK(strstr(r.h_text, "#define MODEL_OUTPUT_ZERO_POINT ") && strstr(r.h_text, "#define MODEL_INPUT_INT8 1"));
	CHECK(strstr(r.c_text, "static int32_t arena[") && !strstr(r.c_text, "qacc"));
	CHECK(strstr(r.c_text, "k_qconv_pool(") && strstr(r.c_text, "k_qlinear("));
	CHECK(!strstr(strstr(r.c_text, "/* ---- constants */"), "float") && !strstr(r.c_text, "k_conv") &&
	      !strstr(r.c_text, "k_linear(") && !strstr(r.c_text, "k_quantize"));
	/* int8 activations take a byte a value: the fused conv's 28x28 plane, its pool's 8x14x14,
	 * the conv's plane of int32 sums (in the arena: no float buffer) */
	CHECK(r.arena_lower_bound == 28 * 28 + 8 * 14 * 14 + 28 * 28 * 4);
	CHECK(r.arena_bytes == r.arena_lower_bound);
	sn_cg_free(&r);
	sn_graph_free(h);
	sn_dataset_free(&d);
}

/* A layer quantized in float (kept float) is exported in float; one whose input lacks int8
 * parameters is refused with the way round. */
TEST(codegen_int8_refusals)
{
	sn_graph *g = sn_test_zoo("cnn", 1);
	REQUIRE(g);
	sn_node *n = &g->node[sn_graph_find(g, "conv2")];
	n->q = sn_qnode_new((sn_qparams){0.05f, 3}, 1);
	REQUIRE(n->q && sn_node_runs_int8(n));
	sn_cg_result r;
	CHECK(sn_cg_generate(g, NULL, NULL, &r) == SN_EFORMAT);
	CHECKF(strstr(sn_errmsg(), "layer 'pool1' feeds the int8 layer 'conv2' but has no int8 parameters: quantize the model "
	              "again"), "%s", sn_errmsg());
	n->q->int8 = 0;   /* kept in float by the quantizer: exported */
	CHECK(sn_cg_generate(g, NULL, NULL, &r) == SN_OK);
	sn_cg_free(&r);
	sn_graph_free(g);
}

TEST(codegen_write_all_or_nothing)
{
	sn_cg_result r;
	sn_graph *g = zoo_code("cnn-dsc-gap", &r);
	REQUIRE(g);
	char dir[512], path[600];
	snprintf(dir, sizeof dir, "%s/cg_out", sn_test_tmpdir());
	CHECK(sn_cg_write(&r, dir, "net") == SN_OK);
	snprintf(path, sizeof path, "%s/net.c", dir);
	CHECK(access(path, F_OK) == 0);
	snprintf(path, sizeof path, "%s/net.h", dir);
	CHECK(access(path, F_OK) == 0);
	snprintf(path, sizeof path, "%s/.net.c.part", dir);
	CHECK(access(path, F_OK) != 0);
	/* a folder that cannot be made: nothing is left */
	snprintf(dir, sizeof dir, "%s/no/such/parent", sn_test_tmpdir());
	CHECK(sn_cg_write(&r, dir, "net") == SN_EIO && strstr(sn_errmsg(), "cannot make the folder"));
	/* an unwritable folder (as root the write goes through: skip the check) */
	snprintf(dir, sizeof dir, "%s/cg_ro", sn_test_tmpdir());
	mkdir(dir, 0555);
	if (geteuid() != 0) {
		CHECK(sn_cg_write(&r, dir, "net") != SN_OK);
		snprintf(path, sizeof path, "%s/net.h", dir);
		CHECK(access(path, F_OK) != 0);
	}
	sn_cg_free(&r);
	sn_graph_free(g);
}
