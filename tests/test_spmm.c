/* Sparse inference: the packed layout (blocks where patterns coincide, empty rows), both
 * kernels against a double-precision reference over every pixel tail and sub-range, and the
 * graph path against the dense one on the same weights for 1x1 convs and Linears at 0 to 100 %
 * sparsity, batches, bias and fused activations; a pruned zoo model; the AUTO rule; packed
 * weights never shared or leaked by clone, rewrite, training plans and shape changes. */
#include <stdlib.h>
#include "test.h"
#include "slimnn.h"
#include "core/sparse.h"

static float *random_values(size_t n, sn_rng *r)
{
	float *x = malloc(n * sizeof *x);
	for (size_t i = 0; i < n; i++) x[i] = 2.0f * sn_rng_uniform(r) - 1.0f;
	return x;
}

/* Zeroes exactly round(s * n) of w[0..n), chosen at random. */
static void sparsify(float *w, size_t n, double s, sn_rng *r)
{
	size_t k = (size_t)llround(s * (double)n);
	size_t *idx = malloc(n * sizeof *idx);
	for (size_t i = 0; i < n; i++) idx[i] = i;
	for (size_t i = 0; i < k; i++) {
		size_t j = i + sn_rng_below(r, (uint32_t)(n - i)), t = idx[i];
		idx[i] = idx[j]; idx[j] = t;
		w[idx[i]] = 0.0f;
	}
	free(idx);
}

static size_t zeros(const float *w, size_t n)
{
	size_t z = 0;
	for (size_t i = 0; i < n; i++) z += w[i] == 0.0f;
	return z;
}

/* ---------------------------------------------------------------- packing and kernels */

/* 12 rows whose patterns make blocks of 4, 2, 2 (two empty rows), 1, 2 and 1. */
static float *block_pattern_matrix(int cols, sn_rng *r)
{
	static const int group[12] = {0, 0, 0, 0, 1, 1, -1, -1, 2, 3, 3, 3};
	float *w = random_values((size_t)12 * cols, r);
	for (int o = 0; o < 12; o++)
		for (int i = 0; i < cols; i++)
			if (group[o] < 0 || (i * 7 + group[o] * 3) % 5 < 3) w[(size_t)o * cols + i] = 0.0f;
	return w;
}

TEST(spmm_pack_blocks_coinciding_patterns)
{
	sn_rng r; sn_rng_seed(&r, 1);
	const int cols = 40;
	float *w = block_pattern_matrix(cols, &r);
	sn_spmm *p = sn_spmm_pack(w, NULL, 12, cols);
	REQUIRE(p);
	static const int widths[] = {4, 2, 2, 1, 2, 1};
	CHECK(p->n_blocks == 6);
	for (int k = 0; k < p->n_blocks && k < 6; k++) CHECKF(p->blocks[k].nb == widths[k], "block %d: %d", k, p->blocks[k].nb);
	CHECK(p->blocks[2].nnz == 0 && p->blocks[2].o0 == 6);
	CHECK(p->nnz == (size_t)12 * cols - zeros(w, (size_t)12 * cols));
	sn_spmm_free(p);
	free(w);
}

/* y = clamp(bias + W x) in double over blocks' rows of [o0, o1) and pixels [p0, p1). */
static void reference(const float *w, const float *bias, int rows, int cols, const float *x, int ldx, int o0, int o1,
                      int p0, int p1, float lo, float hi, float *y, int ldy)
{
	for (int o = o0; o < o1 && o < rows; o++)
		for (int q = p0; q < p1; q++) {
			double s = bias ? bias[o] : 0.0;
			for (int i = 0; i < cols; i++) s += (double)w[(size_t)o * cols + i] * x[(size_t)i * ldx + q];
			y[(size_t)o * ldy + q] = (float)(s < lo ? lo : s > hi ? hi : s);
		}
}

typedef void (*kernel_fn)(const sn_spmm *, int, int, size_t, size_t, const sn_spmm_io *);

/* One kernel on a sub-range: inside equals the reference, outside stays untouched. */
static void check_kernel(kernel_fn run, const char *name, const sn_spmm *p, const float *w, const float *bias,
                         const float *x, int ldx, int npix, int b0, int b1, int p0, int p1, float lo, float hi,
                         float *panel)
{
	const int rows = p->rows, ldy = npix + 5;
	const size_t ny = (size_t)rows * ldy;
	float *y = malloc(ny * sizeof *y), *want = malloc(ny * sizeof *want);
	for (size_t i = 0; i < ny; i++) y[i] = want[i] = 1234.5f;
	int o0 = b0 < p->n_blocks ? p->blocks[b0].o0 : rows, o1 = b1 < p->n_blocks ? p->blocks[b1].o0 : rows;
	reference(w, bias, rows, p->cols, x, ldx, o0, o1, p0, p1, lo, hi, want, ldy);
	sn_spmm_io io = {x, ldx, y, ldy, lo, hi, panel};
	run(p, b0, b1, (size_t)p0, (size_t)p1, &io);
	CHECKF(sn_test_maxrel(y, want, ny) <= 1e-5, "%s%s: blocks [%d,%d) pixels [%d,%d) of %d: error %g", name,
	       panel ? " with panel" : "", b0, b1, p0, p1, npix, sn_test_maxrel(y, want, ny));
	free(y); free(want);
}

TEST(spmm_kernels_match_reference_on_every_tail)
{
	sn_rng r; sn_rng_seed(&r, 2);
	const int cols = 37;
	float *w = block_pattern_matrix(cols, &r), *bias = random_values(12, &r);
	sn_spmm *p = sn_spmm_pack(w, bias, 12, cols);
	REQUIRE(p);
	float *panel = malloc(sn_spmm_panel_floats(p) * sizeof *panel);
	static const int npix[] = {1, 5, 8, 13, 16, 31, 32, 45, 64, 77, 100};
	for (size_t t = 0; t < sizeof npix / sizeof *npix; t++) {
		const int n = npix[t], ldx = n + 3;   /* rows wider than the pixels: the stride is honoured */
		float *x = random_values((size_t)cols * ldx, &r);
		for (int a = 0; a < 3; a++) {
			float lo = a ? 0.0f : -INFINITY, hi = a == 2 ? 0.5f : INFINITY;
			check_kernel(sn_f32_spmm_8x4__scalar, "portable", p, w, bias, x, ldx, n, 0, p->n_blocks, 0, n, lo, hi, NULL);
			check_kernel(sn_f32_spmm_8x4__scalar, "portable", p, w, bias, x, ldx, n, 1, 4, n / 3, n, lo, hi, panel);
			if (!sn_cpu_avx2()) continue;
			for (int k = 0; k < 2; k++) {
				float *pn = k ? panel : NULL;
				check_kernel(sn_f32_spmm_32x4__avx2, "avx2", p, w, bias, x, ldx, n, 0, p->n_blocks, 0, n, lo, hi, pn);
				check_kernel(sn_f32_spmm_32x4__avx2, "avx2", p, w, bias, x, ldx, n, 1, 4, n / 3, n, lo, hi, pn);
				check_kernel(sn_f32_spmm_32x4__avx2, "avx2", p, w, bias, x, ldx, n, 5, 6, 0, n / 2, lo, hi, pn);
			}
		}
		free(x);
	}
	sn_spmm_free(p);
	free(w); free(bias); free(panel);
}

TEST(spmm_nan_passes_the_clamp)
{
	float w[2] = {1.0f, 2.0f}, x[8 * 2];
	for (int i = 0; i < 16; i++) x[i] = (float)i;
	x[3] = NAN;
	sn_spmm *p = sn_spmm_pack(w, NULL, 1, 2);
	REQUIRE(p);
	kernel_fn runs[2] = {sn_f32_spmm_8x4__scalar, sn_f32_spmm_32x4__avx2};
	for (int k = 0; k < 1 + sn_cpu_avx2(); k++) {
		float y[8];
		sn_spmm_io io = {x, 8, y, 8, 0.0f, 6.0f, NULL};
		runs[k](p, 0, 1, 0, 8, &io);
		CHECKF(isnan(y[3]) && y[0] == 6.0f, "kernel %d: y[3] = %g, y[0] = %g", k, y[3], y[0]);
	}
	sn_spmm_free(p);
}

/* ---------------------------------------------------------------- graph path against dense */

static sn_graph *parse(const char *text, uint64_t seed) { return sn_test_net(text, seed); }

static float *weights(sn_graph *g, const char *layer)
{
	char name[160];
	snprintf(name, sizeof name, "%s.weight", layer);
	int k = sn_tensor_find(g, name);
	return k < 0 ? NULL : g->tensor[k].data;
}

/* Last node's output for x under mode, copied into out (n values). */
static int run_mode(sn_graph *g, sn_sparse_mode mode, const float *x, int B, float *out, size_t n)
{
	int count = sn_graph_select_sparse(g, mode);
	if (count < 0 || sn_graph_plan(g, B, 0)) return -1;
	memcpy(out, sn_graph_forward(g, x, B), n * sizeof *out);
	return count;
}

/* The dense path with the fused activation applied here (so the test does not lean on the dense
 * conv's own fusion) against the sparse path; returns the error. */
static double sparse_vs_dense(sn_graph *g, const float *x, int B, int act, int *count)
{
	const size_t n = (size_t)B * sn_shape_numel(sn_graph_output_shape(g));
	float *dense = malloc(n * sizeof *dense), *sparse = malloc(n * sizeof *sparse);
	run_mode(g, SN_SPARSE_OFF, x, B, dense, n);
	for (size_t i = 0; i < n; i++) {
		if (act != SN_FUSE_NONE && dense[i] < 0) dense[i] = 0;
		if (act == SN_FUSE_RELU6 && dense[i] > 6) dense[i] = 6;
	}
	*count = run_mode(g, SN_SPARSE_FORCE, x, B, sparse, n);
	double e = sn_test_maxrel(sparse, dense, n);
	free(dense); free(sparse);
	return e;
}

static const double sparsities[] = {0, 0.5, 0.9, 0.99, 1.0};
static const char *act_names[] = {"none", "relu", "relu6"};

TEST(spmm_pointwise_conv_equals_dense)
{
	static const int hw[][2] = {{1, 1}, {3, 5}, {8, 4}, {7, 7}, {6, 11}, {20, 20}};
	sn_rng r; sn_rng_seed(&r, 3);
	int cases = 0;
	for (size_t s = 0; s < sizeof sparsities / sizeof *sparsities; s++)
		for (size_t h = 0; h < sizeof hw / sizeof *hw; h++)
			for (int B = 1; B <= 3; B += 2) {
				const int act = (int)(cases % 3), bias = cases % 2, cin = h == 5 ? 64 : 24, cout = h == 5 ? 96 : 40;
				char arch[256];
				snprintf(arch, sizeof arch, "input x shape=%dx%dx%d\nconv c out=%d k=1 bias=%d act=%s\n", cin, hw[h][0],
				         hw[h][1], cout, bias, act_names[act]);
				sn_graph *g = parse(arch, 10 + cases++);
				REQUIRE(g);
				float *w = weights(g, "c");
				sparsify(w, (size_t)cout * cin, sparsities[s], &r);
				const size_t nx = (size_t)B * cin * hw[h][0] * hw[h][1];
				float *x = random_values(nx, &r);
				for (size_t i = 0; i < nx; i++) x[i] *= 8.0f;   /* outputs beyond 6 exercise relu6 */
				int count = 0;
				double e = sparse_vs_dense(g, x, B, act, &count);
				CHECKF(e <= 1e-5 && count == 1, "%.0f%% sparse, %dx%d pixels, batch %d, act %s, bias %d: error %g, %d sparse layers",
				       100 * sparsities[s], hw[h][0], hw[h][1], B, act_names[act], bias, e, count);
				free(x);
				sn_graph_free(g);
			}
}

TEST(spmm_linear_equals_dense)
{
	static const int batches[] = {1, 3, 8, 17, 40};
	static const int shapes[][2] = {{70, 37}, {512, 300}};   /* in, out; the second splits blocks across threads */
	sn_rng r; sn_rng_seed(&r, 4);
	int cases = 0;
	for (size_t s = 0; s < sizeof sparsities / sizeof *sparsities; s++)
		for (int k = 0; k < 2; k++)
			for (size_t b = 0; b < sizeof batches / sizeof *batches; b++) {
				const int I = shapes[k][0], O = shapes[k][1], B = batches[b], bias = cases % 2;
				char arch[256];
				snprintf(arch, sizeof arch, "input x shape=%dx1x1\nflatten f\nlinear fc out=%d bias=%d\n", I, O, bias);
				sn_graph *g = parse(arch, 100 + cases++);
				REQUIRE(g);
				sparsify(weights(g, "fc"), (size_t)O * I, sparsities[s], &r);
				float *x = random_values((size_t)B * I, &r);
				int count = 0;
				double e = sparse_vs_dense(g, x, B, SN_FUSE_NONE, &count);
				CHECKF(e <= 1e-5 && count == 1, "%.0f%% sparse %dx%d, batch %d, bias %d: error %g", 100 * sparsities[s], O, I, B,
				       bias, e);
				free(x);
				sn_graph_free(g);
			}
}

/* After selection the packed weights are a snapshot: zeroing the dense weights shows which path
 * ran (the sparse one still gives the old answer). */
static void zero_weights(sn_graph *g, const char *layer)
{
	char name[160];
	snprintf(name, sizeof name, "%s.weight", layer);
	sn_tensor *t = &g->tensor[sn_tensor_find(g, name)];
	memset(t->data, 0, t->n * sizeof *t->data);
}

TEST(spmm_linear_without_workspace_runs_dense_until_planned)
{
	sn_rng r; sn_rng_seed(&r, 5);
	sn_graph *g = parse("input x shape=50x1x1\nflatten f\nlinear fc out=20\n", 7);
	REQUIRE(g);
	sparsify(weights(g, "fc"), 1000, 0.8, &r);
	const int B = 6;
	float *x = random_values((size_t)B * 50, &r), before[6 * 20], got[6 * 20];
	REQUIRE(sn_graph_plan(g, B, 0) == SN_OK);
	memcpy(before, sn_graph_forward(g, x, B), sizeof before);
	REQUIRE(sn_graph_select_sparse(g, SN_SPARSE_FORCE) == 1);
	zero_weights(g, "fc");
	/* the plan made before selection has no room for the transposes: dense, with today's weights */
	memcpy(got, sn_graph_forward(g, x, B), sizeof got);
	const float *bias = g->tensor[sn_tensor_find(g, "fc.bias")].data;
	for (int i = 0; i < B * 20; i++) CHECK(got[i] == bias[i % 20]);
	REQUIRE(sn_graph_plan(g, B, 0) == SN_OK);
	memcpy(got, sn_graph_forward(g, x, B), sizeof got);
	CHECK(sn_test_maxrel(got, before, (size_t)B * 20) <= 1e-5);
	free(x);
	sn_graph_free(g);
}

/* A one-layer graph straight from architecture text keeps its zero weights: every row is empty
 * and the output is the activation of nothing. */
TEST(spmm_zero_weights_from_arch_text)
{
	sn_graph *g = sn_arch_parse("input x shape=256x9x9\nconv c out=256 k=1 act=relu6\n", "bench");
	REQUIRE(g);
	REQUIRE(sn_graph_select_sparse(g, SN_SPARSE_FORCE) == 1);
	const sn_node *c = &g->node[sn_graph_find(g, "c")];
	CHECK(c->impl == SN_IMPL_SPARSE && c->spmm && c->spmm->nnz == 0);
	REQUIRE(sn_graph_plan(g, 2, 0) == SN_OK);
	float *x = calloc((size_t)2 * 256 * 81, sizeof *x), *b = g->tensor[sn_tensor_find(g, "c.bias")].data;
	for (int o = 0; o < 256; o++) b[o] = (float)(o % 9) - 2.0f;   /* bias after packing: not seen */
	const float *y = sn_graph_forward(g, x, 2);
	size_t nonzero = 0;
	for (size_t i = 0; i < (size_t)2 * 256 * 81; i++) nonzero += y[i] != 0.0f;
	CHECK(nonzero == 0);
	free(x);
	sn_graph_free(g);
}

/* ---------------------------------------------------------------- zoo model, rule, ownership */

static int expected_eligible(const sn_graph *g)
{
	int k = 0;
	for (int i = 0; i < g->n_node; i++) {
		const sn_node *n = &g->node[i];
		const sn_conv_attr *a = &n->a.conv;
		k += n->op == SN_OP_LINEAR ||
		     (n->op == SN_OP_CONV && a->kh == 1 && a->kw == 1 && a->sh == 1 && a->sw == 1 && a->groups == 1);
	}
	return k;
}

static sn_graph *pruned_zoo(const char *name, float s)
{
	sn_graph *g = sn_test_zoo(name, 9);
	if (!g) return NULL;
	unsigned char p[256];
	if (sn_prune_select(g, SN_GRAN_WEIGHT, "none", p) || sn_prune_weights(g, p, SN_SCOPE_LAYER, s)) {
		sn_graph_free(g);
		return NULL;
	}
	return g;
}

TEST(spmm_pruned_zoo_model_logits_equal_dense)
{
	const char *zoo[] = {"mobilenetv2", "cnn-dsc"};
	for (int z = 0; z < 2; z++) {
		sn_graph *g = pruned_zoo(zoo[z], 0.9f);
		REQUIRE(g);
		sn_rng r; sn_rng_seed(&r, 6);
		const int B = 5;
		float *x = random_values((size_t)B * 784, &r), dense[5 * 10], sparse[5 * 10];
		CHECK(run_mode(g, SN_SPARSE_OFF, x, B, dense, 50) == 0);
		int count = run_mode(g, SN_SPARSE_FORCE, x, B, sparse, 50);
		CHECKF(count == expected_eligible(g) && count >= 3, "%s: %d sparse layers", zoo[z], count);
		CHECKF(sn_test_maxrel(sparse, dense, 50) <= 1e-5, "%s: error %g", zoo[z], sn_test_maxrel(sparse, dense, 50));
		free(x);
		sn_graph_free(g);
	}
}

/* The AUTO rule on layers far from the crossover: very sparse goes sparse, dense stays dense. */
TEST(spmm_auto_picks_sparse_only_where_it_pays)
{
	sn_graph *g = parse("input x shape=64x14x14\nconv a out=64 k=1\nconv b out=64 k=1\nconv c out=64 k=3 pad=1\n"
	                    "flatten f\nlinear fc1 out=32\nlinear fc2 out=10\n", 11);
	REQUIRE(g);
	sn_rng r; sn_rng_seed(&r, 12);
	sparsify(weights(g, "a"), 64 * 64, 0.95, &r);
	sparsify(weights(g, "c"), 64 * 64 * 9, 0.95, &r);     /* 3x3: not eligible */
	sparsify(weights(g, "fc1"), (size_t)32 * 64 * 196, 0.95, &r);
	CHECK(sn_graph_select_sparse(g, SN_SPARSE_AUTO) == 2);
	const char *want_sparse[] = {"a", "fc1"}, *want_dense[] = {"b", "c", "fc2"};
	for (int k = 0; k < 2; k++) CHECKF(g->node[sn_graph_find(g, want_sparse[k])].impl == SN_IMPL_SPARSE, "%s", want_sparse[k]);
	for (int k = 0; k < 3; k++) {
		const sn_node *n = &g->node[sn_graph_find(g, want_dense[k])];
		CHECKF(n->impl == SN_IMPL_DENSE && !n->spmm, "%s", want_dense[k]);
	}
	CHECK(sn_graph_select_sparse(g, SN_SPARSE_FORCE) == 4);
	CHECK(sn_graph_select_sparse(g, SN_SPARSE_OFF) == 0);
	for (int i = 0; i < g->n_node; i++) CHECK(g->node[i].impl == SN_IMPL_DENSE && !g->node[i].spmm);
	sn_graph_free(g);
}

/* Each row of the documented table, just below and just above its crossover. */
TEST(spmm_auto_rule_follows_the_table)
{
	static const struct { const char *arch; double crossover; } rows[] = {
		{"input x shape=64x8x8\nconv c out=32 k=1\n", 0.20},      /* K <= 64, P >= 64 */
		{"input x shape=64x7x7\nconv c out=32 k=1\n", 0.40},      /* K <= 64, P < 64 */
		{"input x shape=128x8x8\nconv c out=32 k=1\n", 0.30},
		{"input x shape=128x7x7\nconv c out=32 k=1\n", 0.45},
		{"input x shape=129x8x8\nconv c out=32 k=1\n", 0.45},
		{"input x shape=256x7x7\nconv c out=32 k=1\n", 0.60},
		{"input x shape=100x1x1\nflatten f\nlinear c out=16\n", 0.70},
		{"input x shape=100x1x1\nflatten f\nlinear c out=15\n", 0.80},
	};
	sn_rng r; sn_rng_seed(&r, 16);
	for (size_t k = 0; k < sizeof rows / sizeof *rows; k++)
		for (int above = 0; above < 2; above++) {
			sn_graph *g = parse(rows[k].arch, 17);
			REQUIRE(g);
			const sn_tensor *w = &g->tensor[sn_tensor_find(g, "c.weight")];
			sparsify(w->data, w->n, rows[k].crossover + (above ? 0.02 : -0.02), &r);
			CHECKF(sn_graph_select_sparse(g, SN_SPARSE_AUTO) == above, "row %zu, %s the crossover", k, above ? "above" : "below");
			sn_graph_free(g);
		}
}

static int all_dense(const sn_graph *g)
{
	for (int i = 0; i < g->n_node; i++)
		if (g->node[i].impl != SN_IMPL_DENSE || g->node[i].spmm) return 0;
	return 1;
}

TEST(spmm_clone_rewrite_and_training_plans_never_share_packs)
{
	sn_graph *g = pruned_zoo("cnn-dsc", 0.8f);
	REQUIRE(g);
	REQUIRE(sn_graph_select_sparse(g, SN_SPARSE_FORCE) > 0);
	REQUIRE(sn_graph_select_sparse(g, SN_SPARSE_FORCE) > 0);   /* again: the old packs are freed */
	sn_graph *c = sn_graph_clone(g);
	REQUIRE(c);
	CHECK(all_dense(c) && !all_dense(g));
	sn_rewrite *rw = sn_rewrite_begin(g);
	REQUIRE(rw);
	for (int i = 0; i < g->n_node; i++) sn_rewrite_keep(rw, i);
	sn_graph *h = sn_rewrite_end(rw);
	REQUIRE(h);
	CHECK(all_dense(h) && !all_dense(g));
	sn_node extra = g->node[sn_graph_find(g, "fc1")];   /* a sparse node copied by hand */
	REQUIRE(extra.impl == SN_IMPL_SPARSE && extra.spmm);
	snprintf(extra.name, sizeof extra.name, "fc1_again");
	int k = sn_graph_add(h, &extra);
	REQUIRE(k > 0);
	CHECK(h->node[k].impl == SN_IMPL_DENSE && !h->node[k].spmm);
	REQUIRE(sn_graph_select_sparse(c, SN_SPARSE_FORCE) > 0);
	REQUIRE(sn_graph_plan(c, 4, 1) == SN_OK);   /* training changes the weights: packs dropped */
	CHECK(all_dense(c));
	sn_graph_free(g);   /* each graph frees only its own (ASan: no double free, no leak) */
	sn_graph_free(h);
	sn_graph_free(c);
}

TEST(spmm_bad_mode_and_changed_shapes)
{
	sn_graph *g = parse("input x shape=8x4x4\nconv c out=6 k=1\n", 13);
	REQUIRE(g);
	CHECK(sn_graph_select_sparse(g, (sn_sparse_mode)7) == SN_EINVAL && strstr(sn_errmsg(), "SN_SPARSE_FORCE"));
	CHECK(all_dense(g));
	REQUIRE(sn_graph_select_sparse(g, SN_SPARSE_FORCE) == 1);
	/* a new input width reshapes the weights: the old pack no longer fits and the dense path runs */
	REQUIRE(sn_graph_set_input(g, 5, 3, 3) == SN_OK);
	sn_graph_init_params(g, 14);
	sn_rng r; sn_rng_seed(&r, 15);
	float *x = random_values(5 * 9, &r), want[6 * 9];
	const float *w = weights(g, "c"), *b = g->tensor[sn_tensor_find(g, "c.bias")].data;
	for (int o = 0; o < 6; o++)
		for (int p = 0; p < 9; p++) {
			double s = b[o];
			for (int i = 0; i < 5; i++) s += (double)w[o * 5 + i] * x[i * 9 + p];
			want[o * 9 + p] = (float)s;
		}
	REQUIRE(sn_graph_plan(g, 1, 0) == SN_OK);
	CHECK(sn_test_maxrel(sn_graph_forward(g, x, 1), want, 54) <= 1e-5);
	free(x);
	sn_graph_free(g);
}
