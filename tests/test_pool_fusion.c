/* A 2x2 max-pool fused into the depthwise conv before it (core/graph.c, ops/conv.c), or into
 * any int8 conv (ops/q8_conv.c: it pools its sums before requantizing them): an inference plan
 * lets the conv pool its planes from its scratch into the pool's output and stores no conv
 * output. Outputs are bit for bit those of the plan that runs both layers (the
 * same kernels on the same planes), at the planned batch and a smaller one, on 1 and 2
 * threads, in less memory; the layers that must not fuse stay apart. */
#include <stdlib.h>
#include "test.h"
#include "slimnn.h"
#include "core/internal.h"

/* g's outputs for x (batch n, in a plan made for `planned`) with pools fused or not, its arena
 * bytes, and whether node `conv` wrote node `pool` (NULL names: not asked). */
static float *run(sn_graph *g, const float *x, int planned, int n, int fuse, size_t *arena, const char *conv,
                  const char *pool, int *fused)
{
	sn_plan *p;
	sn_plan_fuse_pools = fuse;
	float *y = sn_test_plan_run(g, x, planned, n, &p);
	sn_plan_fuse_pools = 1;
	*arena = p ? sn_plan_arena_bytes(p) : 0;
	if (conv && p) {
		const int c = sn_graph_find(g, conv), q = sn_graph_find(g, pool);
		*fused = c > 0 && q > 0 && p->rt[c].writes_next == q && p->rt[q].by_input && !sn_plan_output(p, c);
	}
	sn_plan_free(p);
	return y;
}

/* Prepared (the ReLUs fused first) or quantized to int8 (int8: calibrated on random images),
 * batch 4 planned, run at 4 and 3, threads 1 and 2: the same bytes fused and not, `conv`
 * writing `pool` (want 1) or not (0: the same arena too); want 2: written, in a smaller arena
 * (where the conv's output was the largest buffer). */
static void check_dtype(const char *what, const char *arch, const char *conv, const char *pool, int want, int int8)
{
	sn_graph *g0 = sn_test_net(arch, 5), *g = NULL;
	REQUIRE(g0);
	if (int8) {
		const sn_shape in = sn_graph_input_shape(g0);
		sn_dataset d;
		sn_test_random_images(&d, 16, in.c, in.h, in.w, 4);
		sn_quantize_opts qo = sn_quantize_defaults();
		g = sn_quantize(g0, &d, NULL, &qo, NULL);
		if (!g) fprintf(stderr, "  %s: %s\n", what, sn_errmsg());
		sn_dataset_free(&d);
	} else {
		sn_prepare_opts o = sn_prepare_defaults();
		g = sn_prepare_inference(g0, &o, NULL);
	}
	REQUIRE(g);
	sn_rng r;
	sn_rng_seed(&r, 9);
	const size_t xs = sn_shape_numel(sn_graph_input_shape(g)), ys = sn_shape_numel(sn_graph_output_shape(g));
	float *x = malloc(4 * xs * sizeof *x);
	for (size_t i = 0; i < 4 * xs; i++) x[i] = 2 * sn_rng_uniform(&r) - 1;
	if (!int8) x[7] = NAN;   /* NaN wins its window, fused or not */
	const int threads = sn_get_threads();
	for (int t = 1; t <= 2; t++)
		for (int n = 4; n >= 3; n--) {
			sn_set_threads(t);
			size_t apart_bytes, fused_bytes;
			int fused = 0, unused;
			float *apart = run(g, x, 4, n, 0, &apart_bytes, conv, pool, &unused);
			float *both = run(g, x, 4, n, 1, &fused_bytes, conv, pool, &fused);
			REQUIRE(apart && both);
			CHECKF(!memcmp(apart, both, n * ys * sizeof *both), "%s, %d threads, batch %d: fusing changes the outputs "
			       "(max rel. difference %g)", what, t, n, sn_test_maxrel(both, apart, n * ys));
			CHECKF(fused == !!want, "%s: %s %s %s", what, conv, want ? "does not write" : "writes", pool);
			CHECKF(want == 1 || (want ? fused_bytes < apart_bytes : fused_bytes == apart_bytes),
			       "%s: arena %zu bytes fused, %zu apart", what, fused_bytes, apart_bytes);
			free(apart); free(both);
		}
	sn_set_threads(threads);
	free(x);
	sn_graph_free(g);
	sn_graph_free(g0);
}
static void check(const char *what, const char *arch, const char *conv, const char *pool, int want)
{
	check_dtype(what, arch, conv, pool, want, 0);
}

TEST(pool_fusion_depthwise_convs)
{
	/* the baseline CNN's first block: one input plane to 32 (a depth multiplier), BN and ReLU folded */
	check("1 -> 32", "input x shape=1x28x28\nconv c1 out=32 k=3 pad=1 bias=0\nbn b1\nrelu r1\nmaxpool p k=2\n"
	      "conv c2 out=8 k=1\n", "c1", "p", 2);
	/* depthwise with bias on odd planes (the pool drops the last row and column), 5x5 */
	check("depthwise 24, 9x13", "input x shape=24x9x13\nconv dw groups=24 out=24 k=5 pad=2\nrelu6 a\nmaxpool p k=2\n"
	      "conv pw out=4 k=1\n", "dw", "p", 2);
	/* 24 planes of 64x64 per input plane: more than one call's scratch, so the planes go through it in parts */
	check("2 -> 48 at 64x64", "input x shape=2x64x64\nconv dw groups=2 out=48 k=3 pad=1\nmaxpool p k=2\nconv pw out=2 k=1\n",
	      "dw", "p", 2);
	/* the conv's input in the arena: the pool's output, written while the conv reads it, must not share its bytes */
	check("after a conv", "input x shape=4x12x12\nconv c0 out=16 k=1\nconv dw groups=16 out=16 k=3 pad=1\nmaxpool p k=2\n"
	      "conv pw out=4 k=1\n", "dw", "p", 1);
	/* the pool's output as a block of a concat's (batch 1 places it there) */
	check("into a concat", "input x shape=8x10x10\nconv dw groups=8 out=8 k=3 pad=1\nmaxpool p k=2\n"
	      "maxpool q in=x k=2\nconcat out in=p,q\n", "dw", "p", 1);
}

/* int8: every conv pools its sums (dense through the GEMM, depthwise in its planes), the odd
 * last row and column dropped; not where the channel-vectorised depthwise kernel runs, nor
 * after a float layer */
TEST(pool_fusion_int8_convs)
{
	check_dtype("int8 1 -> 32", "input x shape=1x28x28\nconv c1 out=32 k=3 pad=1 bias=0\nbn b1\nrelu r1\nmaxpool p k=2\n"
	            "conv c2 out=8 k=1\n", "c1", "p", 2, 1);
	check_dtype("int8 dense 3x3, 15x15", "input x shape=6x15x15\nconv c0 out=8 k=1\nconv c out=16 k=3 pad=1\nrelu r\n"
	            "maxpool p k=2\nflatten f\nlinear fc out=4\n", "c", "p", 1, 1);
	/* the conv's input in the arena: the pool's output, written while the conv reads it, must not share its bytes */
	check_dtype("int8 after a conv", "input x shape=4x12x12\nconv c0 out=16 k=1\nconv c out=16 k=3 pad=1\nmaxpool p k=2\n"
	            "conv pw out=4 k=1\n", "c", "p", 1, 1);
	check_dtype("int8 depthwise x2, 9x13", "input x shape=4x9x13\nconv c0 out=4 k=1\nconv dw groups=4 out=8 k=5 pad=2\n"
	            "relu6 a\nmaxpool p k=2\nconv pw out=4 k=1\n", "dw", "p", 1, 1);
	check_dtype("int8 strided 1x1", "input x shape=8x12x12\nconv c out=12 k=1 stride=2\nmaxpool p k=2\nconv d out=2 k=1\n",
	            "c", "p", 1, 1);
	check_dtype("int8 channel-vectorised depthwise (12 wide)", "input x shape=16x12x12\nconv c0 out=16 k=1\n"
	            "conv dw groups=16 out=16 k=3 pad=1\nmaxpool p k=2\nconv pw out=4 k=1\n", "dw", "p", 0, 1);
	check_dtype("int8 depthwise 14 wide", "input x shape=16x14x14\nconv c0 out=16 k=1\n"
	            "conv dw groups=16 out=16 k=3 pad=1\nmaxpool p k=2\nconv pw out=4 k=1\n", "dw", "p", 1, 1);
	check_dtype("int8 conv read twice", "input x shape=8x10x10\nconv c out=8 k=3 pad=1\nmaxpool p k=2\n"
	            "maxpool q in=c k=2\nadd out in=p,q\n", "c", "p", 0, 1);
}

TEST(pool_fusion_only_where_it_may)
{
	/* the conv's output read by another layer too */
	check("conv read twice", "input x shape=8x10x10\nconv dw groups=8 out=8 k=3 pad=1\nmaxpool p k=2\n"
	      "maxpool q in=dw k=2\nadd out in=p,q\n", "dw", "p", 0);
	/* a dense conv (not the depthwise path) */
	check("dense conv", "input x shape=4x10x10\nconv c out=8 k=3 pad=1\nmaxpool p k=2\n", "c", "p", 0);
	/* other pools */
	check("3x3 pool", "input x shape=8x10x10\nconv dw groups=8 out=8 k=3 pad=1\nmaxpool p k=3 stride=2\n", "dw", "p", 0);
	check("average pool", "input x shape=8x10x10\nconv dw groups=8 out=8 k=3 pad=1\navgpool p k=2\n", "dw", "p", 0);
}

/* Plans that keep every output (calibration, distillation) and training plans read the conv's
 * own output: they never fuse. */
TEST(pool_fusion_not_in_kept_or_training_plans)
{
	sn_graph *g = sn_test_net("input x shape=4x8x8\nconv dw groups=4 out=4 k=3 pad=1\nmaxpool p k=2\n", 3);
	REQUIRE(g);
	const int c = sn_graph_find(g, "dw");
	const unsigned flags[] = {SN_PLAN_KEEP_OUTPUTS, SN_PLAN_TRAIN, 0};
	for (int i = 0; i < 3; i++) {
		sn_plan *p = sn_plan_new(g);
		REQUIRE(p && !sn_plan_reshape(p, 2, flags[i]));
		CHECKF(!!p->rt[c].writes_next == (flags[i] == 0), "plan flags %u: pool fused %d", flags[i], p->rt[c].writes_next);
		sn_plan_free(p);
	}
	sn_graph_free(g);
}
