/* The C code generator (src/codegen) without a compiler: the emitter table, the arena plan (no
 * two live buffers share a byte, never below the lower bound, within 1.1x of it on the zoo),
 * the choice of weight forms and their byte counts, only the kernels a model uses, class names,
 * refusals and the all-or-nothing write. tests/cli_export_c.sh compiles and runs the output. */
#include <sys/stat.h>
#include <unistd.h>
#include "test.h"
#include "codegen/codegen_internal.h"
#include "core/quant.h"

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

/* A quantized model's int8 layers are the next slice: refused by name, not exported as float. */
TEST(codegen_refuses_int8_layers)
{
	sn_graph *g = sn_test_zoo("cnn", 1);
	REQUIRE(g);
	sn_node *n = &g->node[sn_graph_find(g, "conv2")];
	n->q = sn_qnode_new((sn_qparams){0.05f, 3}, 1);
	REQUIRE(n->q && sn_node_runs_int8(n));
	sn_cg_result r;
	CHECK(sn_cg_generate(g, NULL, NULL, &r) == SN_EINVAL);
	CHECKF(strstr(sn_errmsg(), "layer 'conv2' (Conv2d) is int8: int8 models are not exported to C yet (next slice)"), "%s",
	       sn_errmsg());
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
