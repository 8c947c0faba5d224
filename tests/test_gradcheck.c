/* Finite-difference gradient checks for every operator and for whole small networks.
 *
 * One generic checker: build the graph from architecture text, take L = sum(y * r) with a fixed
 * random r (so dL/dy = r), run backward once for the analytic gradients of the input and of
 * every parameter tensor, then compare a random subset of coordinates (at most GC_SAMPLES per
 * tensor) with central differences (float32 forwards, loss accumulated in double). The graph's
 * rng is reset before every forward, so Dropout draws the same mask each time: the comparison
 * then also proves that backward uses the mask forward drew. A coordinate passes when
 * |analytic - numeric| <= atol + GC_RTOL * max(|analytic|, |numeric|), atol being a small fraction
 * of the tensor's largest gradient plus the float32 rounding noise of L divided by the step.
 * A second forward + backward without zeroing must double the parameter gradients (backward
 * accumulates into g->gw) and reproduce the input gradient (dy is overwritten, not added to).
 *
 * Non-smooth points: where the +-h perturbation changes the "activation pattern" (which side of
 * a ReLU/ReLU6/Hardswish kink each input lies on, which element each max-pool window picks),
 * the step shrinks until it does not; a coordinate still on a kink is skipped and counted.
 * Inputs are also made to avoid kinks and ties. */
#include <float.h>
#include <stdint.h>
#include <stdlib.h>
#include "test.h"
#include "slimnn.h"
#include "core/internal.h"   /* the plan's batch, outputs and saved argmax */

#define GC_SAMPLES 40
#define GC_RTOL 2e-2        /* relative error allowed */
#define GC_ATOL 1e-3        /* absolute floor, as a fraction of the tensor's largest gradient */
#define GC_NOISE 8          /* absolute floor, in units of the float32 rounding of L over the step */
#define GC_SHRINK 3         /* tries at smaller steps near a kink */

enum {
	GC_NUDGE = 1,         /* move inputs away from activation kinks (0, 6, +-3) */
	GC_NO_RNG_RESET = 2,  /* self-test: do not reset the dropout stream between forwards */
	GC_CORRUPT_SCALE = 4, /* self-test: every analytic gradient times 1.05 */
	GC_CORRUPT_ONE = 8,   /* self-test: one coordinate of one tensor off by 10% of its scale */
	GC_QUIET = 16         /* do not print mismatches (self-tests expect them) */
};

typedef struct {
	const char *name;
	const char *arch;   /* architecture text */
	int batch;          /* default 2 */
	float range;        /* inputs are distinct values spread over [-range, range] (default 2) */
	float eps;          /* relative step (default 1e-2) */
	unsigned flags;
} gc_case;

typedef struct {
	int checked, failed, skipped, tensors;
	int bad_frozen;     /* gradient values written into frozen tensors */
	double worst;       /* largest |a - n| / (atol + rtol * max(|a|, |n|)); <= 1 passes */
} gc_result;

/* ---------------------------------------------------------------- helpers */

static float uni(sn_rng *r, float lo, float hi) { return lo + (hi - lo) * sn_rng_uniform(r); }

/* n distinct values evenly spread over [-range, range], in random order. */
static void distinct_values(sn_rng *r, float *x, size_t n, float range)
{
	for (size_t i = 0; i < n; i++) x[i] = -range + 2 * range * ((float)i + 0.5f) / (float)n;
	for (size_t i = n - 1; i > 0; i--) {
		size_t j = sn_rng_below(r, (uint32_t)i + 1);
		float t = x[i]; x[i] = x[j]; x[j] = t;
	}
}

/* Moves values within `margin` of an activation kink to the kink +- margin (away from it). */
static void nudge_kinks(float *x, size_t n, float margin)
{
	static const float kinks[] = {0.0f, 6.0f, 3.0f, -3.0f};
	for (size_t i = 0; i < n; i++)
		for (int k = 0; k < 4; k++)
			if (fabsf(x[i] - kinks[k]) < margin) x[i] = kinks[k] + (x[i] >= kinks[k] ? margin : -margin);
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ULL;
	return h;
}

/* Hash of every piecewise choice the last forward made: the region of each ReLU/ReLU6/Hardswish
 * input and the argmax of each max-pool window. Equal hashes: the same smooth piece. */
static uint64_t pattern(const sn_graph *g)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	const sn_plan *pl = g->plan;
	for (int i = 1; i < g->n_node; i++) {
		const sn_node *n = &g->node[i];
		const size_t N = (size_t)pl->batch * sn_shape_numel(n->out);
		if (n->op == SN_OP_RELU || n->op == SN_OP_RELU6 || n->op == SN_OP_HARDSWISH) {
			const float *x = pl->rt[n->in[0]].y;
			for (size_t k = 0; k < N; k++) {
				unsigned char c = n->op == SN_OP_RELU ? x[k] > 0
				                : n->op == SN_OP_RELU6 ? (x[k] > 0) + (x[k] >= 6)
				                : (x[k] >= -3) + (x[k] > 3);
				h = fnv(h, &c, 1);
			}
		} else if (n->op == SN_OP_HARDSIGMOID) {   /* the linear piece: 0 < alpha x + beta < 1 */
			const float *x = pl->rt[n->in[0]].y;
			for (size_t k = 0; k < N; k++) {
				float t = n->a.hsig.alpha * x[k] + n->a.hsig.beta;
				unsigned char c = (unsigned char)((t > 0) + (t >= 1));
				h = fnv(h, &c, 1);
			}
		} else if (n->op == SN_OP_MAXPOOL && pl->rt[i].saved) {
			h = fnv(h, pl->rt[i].saved, N * sizeof(int32_t));
		}
	}
	return h;
}

/* Everything one check needs: the graph at the base point and what was measured there. */
typedef struct {
	sn_graph *g;
	const gc_case *c;
	float *x, *r;          /* input and the fixed weights of the loss */
	sn_rng rng0;           /* the dropout stream before the analytic forward */
	double S;              /* sum |y * r| at the base point: the scale of L's float32 noise */
	uint64_t pat0;         /* piecewise choices at the base point */
	sn_rng pick;           /* which coordinates to sample */
	gc_result res;
} gc_ctx;

/* L = sum(y * r) in double after a float32 forward (same dropout mask unless told otherwise). */
static double loss_at(gc_ctx *k, uint64_t *pat, double *S)
{
	sn_graph *g = k->g;
	if (!(k->c->flags & GC_NO_RNG_RESET)) *sn_plan_rng(g->plan) = k->rng0;
	const float *y = sn_graph_forward(g, k->x, g->plan->batch);
	size_t n = (size_t)g->plan->batch * sn_shape_numel(sn_graph_output_shape(g));
	double L = 0, s = 0;
	for (size_t i = 0; i < n; i++) { L += (double)y[i] * k->r[i]; s += fabs((double)y[i] * k->r[i]); }
	if (pat) *pat = pattern(g);
	if (S) *S = s;
	return L;
}

/* Up to GC_SAMPLES distinct indices of [0, n), always including 0. */
static int sample(sn_rng *rng, size_t n, size_t *idx)
{
	if (n <= GC_SAMPLES) {
		for (size_t i = 0; i < n; i++) idx[i] = i;
		return (int)n;
	}
	int k = 0;
	idx[k++] = 0;
	while (k < GC_SAMPLES) {
		size_t c = (size_t)(sn_rng_u64(rng) % n);
		int dup = 0;
		for (int j = 0; j < k; j++) dup |= idx[j] == c;
		if (!dup) idx[k++] = c;
	}
	return k;
}

/* Compares the analytic gradient ga[0..n) of the values v[0..n) with central differences. Where
 * v +- h leaves the base point's smooth piece, h shrinks (by 8, GC_SHRINK - 1 times); a
 * coordinate that sits on a kink even then is skipped. */
static void check_tensor(gc_ctx *k, const char *what, float *v, const float *ga, size_t n, int corrupt)
{
	const gc_case *c = k->c;
	const float eps = c->eps > 0 ? c->eps : 1e-2f;
	size_t idx[GC_SAMPLES];
	int m = sample(&k->pick, n, idx), ok[GC_SAMPLES];
	double num[GC_SAMPLES], ana[GC_SAMPLES], step[GC_SAMPLES], scale = 0;
	for (size_t i = 0; i < n; i++) scale = fmax(scale, fabs(ga[i]));
	for (int s = 0; s < m; s++) {
		size_t j = idx[s];
		float v0 = v[j], h = eps * fmaxf(1.0f, fabsf(v0));
		ok[s] = 0;
		for (int tries = 0; tries < GC_SHRINK && !ok[s]; tries++, h /= 8) {
			uint64_t pp, pm;
			v[j] = v0 + h;
			double vp = v[j], Lp = loss_at(k, &pp, NULL);
			v[j] = v0 - h;
			double vm = v[j], Lm = loss_at(k, &pm, NULL);
			v[j] = v0;
			ok[s] = pp == k->pat0 && pm == k->pat0;
			num[s] = (Lp - Lm) / (vp - vm);
			step[s] = vp - vm;
		}
		ana[s] = ga[j] * (c->flags & GC_CORRUPT_SCALE ? 1.05 : 1.0);
		if (ok[s]) scale = fmax(scale, fabs(num[s]));
	}
	if (corrupt) ana[0] += 0.1 * scale;
	k->res.tensors++;
	for (int s = 0; s < m; s++) {
		if (!ok[s]) { k->res.skipped++; continue; }
		k->res.checked++;
		/* floors: a fraction of the tensor's gradient scale, and the float32 noise of L over the step */
		double atol = GC_ATOL * scale + GC_NOISE * k->S * FLT_EPSILON / step[s];
		double err = fabs(ana[s] - num[s]), lim = atol + GC_RTOL * fmax(fabs(ana[s]), fabs(num[s]));
		k->res.worst = fmax(k->res.worst, err / lim);
		if (err > lim) {
			if (!(c->flags & GC_QUIET) && k->res.failed < 8)
				fprintf(stderr, "  grad %s: %s[%zu] analytic %.7g numeric %.7g (tensor scale %.3g)\n", c->name,
				        what, idx[s], ana[s], num[s], scale);
			k->res.failed++;
		}
	}
}

/* The checker: the input and every parameter tensor of case c. */
static gc_result gradcheck(const gc_case *c)
{
	gc_ctx k = {.c = c};
	k.g = sn_arch_parse(c->arch, c->name);
	if (!k.g) {
		fprintf(stderr, "  grad %s: %s\n", c->name, sn_errmsg());
		k.res.failed = 1;
		return k.res;
	}
	sn_graph *g = k.g;
	sn_graph_init_params(g, 7);
	sn_rng rng;
	sn_rng_seed(&rng, 1234);
	/* BatchNorm starts at gamma 1, beta 0: move it somewhere less special */
	for (int i = 0; i < g->n_node; i++) {
		if (g->node[i].op != SN_OP_BN) continue;
		sn_tensor *ga = &g->tensor[g->node[i].t[SN_T_WEIGHT]], *be = &g->tensor[g->node[i].t[SN_T_BIAS]];
		for (size_t j = 0; j < ga->n; j++) { ga->data[j] = uni(&rng, 0.5f, 1.5f); be->data[j] = uni(&rng, -0.5f, 0.5f); }
	}
	const int B = c->batch > 0 ? c->batch : 2;
	const size_t nx = (size_t)B * sn_shape_numel(sn_graph_input_shape(g));
	const size_t ny = (size_t)B * sn_shape_numel(sn_graph_output_shape(g));
	k.x = malloc(nx * sizeof *k.x);
	k.r = malloc(ny * sizeof *k.r);
	float *gx = malloc(nx * sizeof *gx), *gw = malloc((g->n_w ? g->n_w : 1) * sizeof *gw);
	if (!k.x || !k.r || !gx || !gw) abort();
	distinct_values(&rng, k.x, nx, c->range > 0 ? c->range : 2.0f);
	if (c->flags & GC_NUDGE) nudge_kinks(k.x, nx, 0.1f);
	for (size_t i = 0; i < ny; i++) k.r[i] = uni(&rng, -1, 1);
	sn_rng_seed(&k.pick, 99);

	if (sn_plan_reshape(g->plan, B, SN_PLAN_TRAIN | SN_PLAN_INPUT_GRAD)) {
		fprintf(stderr, "  grad %s: %s\n", c->name, sn_errmsg());
		k.res.failed = 1;
		goto out;
	}
	k.rng0 = *sn_plan_rng(g->plan);
	loss_at(&k, &k.pat0, &k.S);
	sn_graph_zero_grad(g);
	CHECK(sn_graph_backward(g, k.r) == SN_OK);   /* dL/dy = r */
	memcpy(gx, sn_plan_grad(g->plan, 0), nx * sizeof *gx);
	memcpy(gw, g->gw, g->n_w * sizeof *gw);
	if (!(c->flags & GC_NO_RNG_RESET)) {
		/* a second backward adds to the parameter gradients and rewrites the input's */
		loss_at(&k, NULL, NULL);
		CHECK(sn_graph_backward(g, k.r) == SN_OK);
		float *twice = malloc((g->n_w ? g->n_w : 1) * sizeof *twice);
		if (!twice) abort();
		for (size_t i = 0; i < g->n_w; i++) twice[i] = 2 * gw[i];
		double ew = sn_test_maxrel(g->gw, twice, g->n_w), ex = sn_test_maxrel(sn_plan_grad(g->plan, 0), gx, nx);
		free(twice);
		if (ew > 1e-5 || ex > 1e-6) {
			fprintf(stderr, "  grad %s: a second backward gives parameter gradients off 2x by %.3g, input gradient "
			        "changed by %.3g (backward must accumulate into g->gw and overwrite dy)\n", c->name, ew, ex);
			k.res.failed++;
		}
	}

	check_tensor(&k, "input", k.x, gx, nx, !!(c->flags & GC_CORRUPT_ONE));
	for (int t = 0; t < g->n_tensor; t++) {
		sn_tensor *ts = &g->tensor[t];
		if (ts->kind != SN_TENSOR_PARAM) continue;
		if (g->node[ts->node].frozen) {   /* backward must leave it alone */
			for (size_t j = 0; j < ts->n; j++) k.res.bad_frozen += gw[ts->off + j] != 0.0f;
			continue;
		}
		check_tensor(&k, ts->name, ts->data, gw + ts->off, ts->n, 0);
	}
	if (k.res.bad_frozen) {
		if (!(c->flags & GC_QUIET))
			fprintf(stderr, "  grad %s: %d gradients written into frozen tensors\n", c->name, k.res.bad_frozen);
		k.res.failed++;
	}
out:
	if (getenv("SN_VERBOSE"))
		fprintf(stderr, "       %-22s %2d tensors %4d compared %2d skipped %d failed, worst %.3f of the tolerance\n",
		        c->name, k.res.tensors, k.res.checked, k.res.skipped, k.res.failed, k.res.worst);
	free(k.x); free(k.r); free(gx); free(gw);
	sn_graph_free(g);
	return k.res;
}

/* Runs a table of cases; every one must pass with (almost) every coordinate compared. */
static void run_cases(const gc_case *cases, int n)
{
	for (int i = 0; i < n; i++) {
		gc_result res = gradcheck(&cases[i]);
		CHECKF(res.failed == 0, "%s: %d of %d coordinates disagree with finite differences (worst %.2fx the tolerance)",
		       cases[i].name, res.failed, res.checked + res.skipped, res.worst);
		CHECKF(res.checked > 0 && res.skipped * 10 <= res.checked + res.skipped,
		       "%s: %d compared, %d skipped at non-smooth points (too many)", cases[i].name, res.checked, res.skipped);
	}
}

#define RUN(table) run_cases(table, (int)(sizeof table / sizeof table[0]))
#define IN_3x7x6 "input x shape=3x7x6\n"
#define IN_4x6x6 "input x shape=4x6x6\n"

/* ---------------------------------------------------------------- operators */

TEST(grad_conv)
{
	static const gc_case cases[] = {
		{.name = "conv_basic", .arch = IN_3x7x6 "conv c out=4 k=3\n"},
		{.name = "conv_nobias", .arch = IN_3x7x6 "conv c out=4 k=3 pad=1 bias=0\n"},
		{.name = "conv_batch1", .arch = IN_3x7x6 "conv c out=4 k=3 pad=1\n", .batch = 1},   /* serial path (batch < threads) */
		{.name = "conv_stride2", .arch = IN_3x7x6 "conv c out=4 k=3 stride=2 pad=1\n"},
		{.name = "conv_stride2x1", .arch = IN_3x7x6 "conv c out=3 k=2x3 stride=2x1\n"},
		{.name = "conv_dilation", .arch = IN_3x7x6 "conv c out=4 k=3 dilation=2 pad=2\n"},
		{.name = "conv_dilation2x1", .arch = IN_3x7x6 "conv c out=2 k=2x2 dilation=3x1 stride=1x2 pad=1,0,0,1\n"},
		{.name = "conv_groups", .arch = IN_4x6x6 "conv c out=6 k=3 groups=2 pad=1\n"},
		{.name = "conv_depthwise", .arch = IN_4x6x6 "conv c out=4 k=3 groups=4 pad=1 bias=0\n"},
		{.name = "conv_depthwise_x2", .arch = IN_4x6x6 "conv c out=8 k=3 groups=4 stride=2 pad=1\n"},
		{.name = "conv_nonsquare", .arch = IN_3x7x6 "conv c out=3 k=1x3 pad=0x1\n"},
		{.name = "conv_asym_pad", .arch = IN_3x7x6 "conv c out=4 k=3 pad=0,2,1,0\n"},
		{.name = "conv_same", .arch = IN_3x7x6 "conv c out=3 k=4x3 pad=same\n"},
		{.name = "conv_same_dil", .arch = IN_3x7x6 "conv c out=3 k=3 dilation=2 pad=same\n"},
		{.name = "conv_big_stride", .arch = IN_3x7x6 "conv c out=2 k=5 stride=3 pad=2\n"},
		{.name = "conv_pointwise", .arch = IN_3x7x6 "conv c out=5 k=1\n"},
		{.name = "conv_1x1_stride2", .arch = IN_3x7x6 "conv c out=5 k=1 stride=2\n"},
		{.name = "conv_reflect", .arch = IN_3x7x6 "conv c out=4 k=3 pad=2 mode=reflect\n"},
		{.name = "conv_reflect_asym", .arch = IN_3x7x6 "conv c out=3 k=3 pad=2,0,1,3 stride=2 mode=reflect\n"},
		{.name = "conv_replicate", .arch = IN_3x7x6 "conv c out=4 k=3 pad=1,2,2,1 mode=replicate\n"},
		{.name = "conv_replicate_dw", .arch = IN_4x6x6 "conv c out=4 k=3 groups=4 pad=3 dilation=2 mode=replicate\n"},
		{.name = "conv_circular", .arch = IN_3x7x6 "conv c out=4 k=3 pad=2 stride=2 mode=circular\n"},
		{.name = "conv_circular_dil", .arch = IN_3x7x6 "conv c out=2 k=3 dilation=2 pad=3,1,6,2 mode=circular bias=0\n"},
		/* large enough for sn_gemm to split the work across threads */
		{.name = "conv_large", .arch = "input x shape=16x24x24\nconv c out=32 k=3 pad=1\n", .batch = 1},
		{.name = "conv_chain", .arch = IN_3x7x6 "conv a out=4 k=3 pad=1\nconv b out=3 k=3 stride=2 groups=1\n"},
	};
	RUN(cases);
}

TEST(grad_bn)
{
	static const gc_case cases[] = {
		{.name = "bn", .arch = IN_3x7x6 "bn b\n", .batch = 3},
		{.name = "bn_eps_mom", .arch = IN_3x7x6 "bn b eps=1e-3 momentum=0\n", .batch = 2},
		{.name = "bn_1x1", .arch = "input x shape=5x1x1\nbn b\n", .batch = 6},    /* statistics over the batch only */
		{.name = "conv_bn", .arch = IN_3x7x6 "conv c out=4 k=3 pad=1 bias=0\nbn b\n", .batch = 3},
		{.name = "bn_conv", .arch = IN_3x7x6 "bn b\nconv c out=2 k=3\n", .batch = 2},
	};
	RUN(cases);
}

TEST(grad_activations)
{
	static const gc_case cases[] = {
		{.name = "relu", .arch = IN_3x7x6 "relu a\n", .batch = 2, .range = 8, .flags = GC_NUDGE},
		{.name = "relu6", .arch = IN_3x7x6 "relu6 a\n", .batch = 2, .range = 8, .flags = GC_NUDGE},
		{.name = "sigmoid", .arch = IN_3x7x6 "sigmoid a\n", .batch = 2, .range = 8, .flags = GC_NUDGE},
		{.name = "hardswish", .arch = IN_3x7x6 "hardswish a\n", .batch = 2, .range = 8, .flags = GC_NUDGE},
		/* the activations fed by a layer with parameters, and stacked */
		{.name = "conv_relu6_hardswish", .arch = IN_3x7x6 "conv c out=4 k=3 pad=1\nrelu6 a\nhardswish h\nconv d out=2 k=1\n", .batch = 2, .range = 8, .flags = GC_NUDGE},
		{.name = "linear_sigmoid", .arch = IN_3x7x6 "flatten f\nlinear l out=6\nsigmoid s\nlinear m out=3\n", .batch = 2, .range = 2},
	};
	RUN(cases);
}

TEST(grad_pool)
{
	static const gc_case cases[] = {
		{.name = "maxpool", .arch = IN_3x7x6 "maxpool p k=2\n", .batch = 2, .range = 4, .eps = 1e-3f},
		{.name = "maxpool_wide", .arch = "input x shape=2x4x34\nmaxpool p k=2\n", .batch = 2, .range = 4, .eps = 1e-3f},
		/* rows of 7 and of 1 output: vectors that run on into the next rows and planes */
		{.name = "maxpool_rows7", .arch = "input x shape=3x8x14\nmaxpool p k=2\n", .batch = 3, .range = 4, .eps = 1e-3f},
		{.name = "maxpool_rows1", .arch = "input x shape=5x5x3\nmaxpool p k=2\n", .batch = 3, .range = 4, .eps = 1e-3f},
		{.name = "maxpool_s2p1", .arch = IN_3x7x6 "maxpool p k=3 stride=2 pad=1\n", .batch = 2, .range = 4, .eps = 1e-3f},
		{.name = "maxpool_ceil", .arch = IN_3x7x6 "maxpool p k=3 stride=2 ceil=1\n", .batch = 2, .range = 4, .eps = 1e-3f},
		{.name = "maxpool_overlap", .arch = IN_3x7x6 "maxpool p k=2x3 stride=1x2 pad=1,0,1,1\n", .batch = 2, .range = 4, .eps = 1e-3f},
		{.name = "avgpool", .arch = IN_3x7x6 "avgpool p k=2\n"},
		{.name = "avgpool_pad_cip1", .arch = IN_3x7x6 "avgpool p k=3 stride=2 pad=1 count_include_pad=1\n"},
		{.name = "avgpool_pad_cip0", .arch = IN_3x7x6 "avgpool p k=3 stride=2 pad=1 count_include_pad=0\n"},
		{.name = "avgpool_ceil_cip1", .arch = IN_3x7x6 "avgpool p k=3 stride=2 pad=1 ceil=1 count_include_pad=1\n"},
		{.name = "avgpool_ceil_cip0", .arch = IN_3x7x6 "avgpool p k=2x3 stride=2 pad=1,1,0,1 ceil=1 count_include_pad=0\n"},
		{.name = "gap", .arch = IN_3x7x6 "gap g\n"},
		{.name = "conv_maxpool", .arch = IN_3x7x6 "conv c out=4 k=3 pad=1\nmaxpool p k=2\n", .batch = 2, .range = 4, .eps = 1e-3f},
		{.name = "conv_avgpool_gap", .arch = IN_3x7x6 "conv c out=4 k=3 pad=1\navgpool p k=3 stride=1 pad=1 count_include_pad=0\ngap g\n"},
	};
	RUN(cases);
}

TEST(grad_linear_flatten)
{
	static const gc_case cases[] = {
		{.name = "flatten", .arch = IN_3x7x6 "flatten f\n"},
		{.name = "linear", .arch = IN_3x7x6 "flatten f\nlinear l out=5\n", .batch = 3},
		{.name = "linear_nobias", .arch = IN_3x7x6 "flatten f\nlinear l out=5 bias=0\n", .batch = 3},
		{.name = "linear_batch1", .arch = IN_3x7x6 "flatten f\nlinear l out=4\n", .batch = 1},
		{.name = "linear_chain", .arch = "input x shape=7x1x1\nflatten f\nlinear a out=6\nlinear b out=4 bias=0\nlinear c out=3\n", .batch = 4},
		{.name = "gap_linear", .arch = IN_3x7x6 "gap g\nflatten f\nlinear l out=4\n", .batch = 3},
		/* B*O*I above sn_gemm's threshold: the forward and both backward GEMMs are split */
		{.name = "linear_large", .arch = "input x shape=32x8x8\nflatten f\nlinear l out=64\n", .batch = 3, .range = 2},
	};
	RUN(cases);
}

TEST(grad_add_concat)
{
	static const gc_case cases[] = {
		{.name = "add2", .arch = IN_3x7x6 "conv a out=3 k=1\nconv b in=x out=3 k=3 pad=1\nadd s in=a,b\n"},
		{.name = "add3_input", .arch = IN_3x7x6 "conv a out=3 k=1\nconv b in=x out=3 k=3 pad=1 bias=0\nadd s in=a,x,b\n"},
		{.name = "add_same_twice", .arch = IN_3x7x6 "conv a out=3 k=3 pad=1\nadd s in=a,a\n"},
		{.name = "concat2", .arch = IN_3x7x6 "conv a out=2 k=1\nconv b in=x out=4 k=3 pad=1\nconcat c in=a,b\n"},
		{.name = "concat3_input", .arch = IN_3x7x6 "conv a out=2 k=1\nconv b in=x out=1 k=3 pad=1\nconcat c in=b,x,a\n"},
		{.name = "concat_flat", .arch = IN_3x7x6 "flatten f\nlinear a out=3\nlinear b in=f out=2\nconcat c in=a,b,a\nlinear l out=2\n"},
	};
	RUN(cases);
}

TEST(grad_dropout)
{
	static const gc_case cases[] = {
		{.name = "dropout", .arch = IN_3x7x6 "dropout d p=0.5\n"},
		{.name = "dropout_p0", .arch = IN_3x7x6 "dropout d p=0\n"},
		{.name = "conv_dropout_conv", .arch = IN_3x7x6 "conv a out=4 k=3 pad=1\ndropout d p=0.3\nconv b out=2 k=3\n"},
		{.name = "linear_dropout", .arch = IN_3x7x6 "flatten f\nlinear a out=16\ndropout d p=0.5\nlinear b out=3\n", .batch = 3},
	};
	RUN(cases);
	/* the mask really matters: without resetting the stream the numeric side draws new masks */
	gc_case fresh = cases[0];
	fresh.flags |= GC_NO_RNG_RESET | GC_QUIET;
	gc_result res = gradcheck(&fresh);
	CHECKF(res.failed > 0, "dropout: a fresh mask per forward still matched the analytic gradient");
}

/* Every parameter of a frozen layer is skipped by backward while the gradient still flows
 * through it (input_grad and the layers before it). */
TEST(grad_frozen)
{
	static const gc_case cases[] = {
		{.name = "frozen_middle", .arch = IN_3x7x6 "conv a out=4 k=3 pad=1\nconv b out=4 k=3 frozen=1\nbn n frozen=1\nconv c out=2 k=1\n", .batch = 3},
		{.name = "frozen_linear", .arch = IN_3x7x6 "flatten f\nlinear a out=5 frozen=1\nlinear b out=3\n", .batch = 2},
	};
	RUN(cases);
}

/* Mobile-network operators: broadcast Mul (both operand orders, the same tensor twice, channel
 * and spatial gates), Softmax, channel shuffle and slice, every Pad mode, Hardsigmoid. */
TEST(grad_mobile_ops)
{
	static const gc_case cases[] = {
		{.name = "mul_same", .arch = IN_3x7x6 "conv a out=3 k=1\nconv b in=x out=3 k=3 pad=1\nmul m in=a,b\n"},
		{.name = "mul_se_gate", .arch = IN_4x6x6 "conv c out=4 k=3 pad=1\ngap g\nsigmoid s\nmul m in=c,s\n"},
		{.name = "mul_gate_first", .arch = IN_4x6x6 "gap g\nconv f out=4 k=1\nmul m in=f,x\n"},
		{.name = "mul_spatial", .arch = IN_3x7x6 "conv a out=1 k=1\nmul m in=x,a\n"},
		{.name = "mul_square", .arch = IN_3x7x6 "mul m in=x,x\n"},
		{.name = "mul_rank2_gate", .arch = IN_4x6x6 "gap g\nflatten f\nlinear l out=4\nmul m in=x,l\n"},
		{.name = "softmax", .arch = IN_3x7x6 "softmax s\n", .range = 3},
		{.name = "softmax_head", .arch = IN_3x7x6 "flatten f\nlinear l out=5\nsoftmax s\n", .batch = 3},
		{.name = "shuffle", .arch = "input x shape=6x3x4\nconv c out=6 k=1\nshuffle s groups=3\n"},
		{.name = "slice", .arch = IN_4x6x6 "conv c out=6 k=3 pad=1\nslice s start=1 end=4\n"},
		{.name = "slice_twice", .arch = IN_4x6x6 "slice a end=3\nslice b in=x start=2 end=4\nconcat c in=b,a\n"},
		{.name = "pad_value", .arch = IN_3x7x6 "pad p pad=1,2,0,3 value=0.5\nconv c out=2 k=3\n"},
		{.name = "pad_reflect", .arch = IN_3x7x6 "pad p pad=2,1,3,0 mode=reflect\n"},
		{.name = "pad_replicate", .arch = IN_3x7x6 "pad p pad=0,3,2,4 mode=replicate\n"},
		{.name = "pad_circular", .arch = IN_3x7x6 "pad p pad=1,7,6,2 mode=circular\n"},
		{.name = "hardsigmoid", .arch = IN_3x7x6 "hardsigmoid h\n", .range = 8, .flags = GC_NUDGE},
		{.name = "hardsigmoid_alpha", .arch = IN_3x7x6 "hardsigmoid h alpha=0.4 beta=0.3\n", .range = 4},
		{.name = "se_block", .arch = IN_4x6x6 "conv e out=6 k=1\nhardswish h1\ngap sq\nconv f1 out=3 k=1\nrelu r\n"
		 "conv f2 out=6 k=1\nhardsigmoid gt\nmul se in=h1,gt\nconv p out=4 k=1\nadd res in=x,p\n", .flags = GC_NUDGE},
	};
	RUN(cases);
}

/* SiLU and GELU (exact and tanh): smooth, checked over a wide range and between convs, whose
 * weight gradients go through them. */
TEST(grad_silu_gelu)
{
	static const gc_case cases[] = {
		{.name = "silu", .arch = IN_3x7x6 "silu s\n", .range = 6},
		{.name = "gelu", .arch = IN_3x7x6 "gelu g\n", .range = 6},
		{.name = "gelu_tanh", .arch = IN_3x7x6 "gelu g approximate=tanh\n", .range = 6},
		{.name = "conv_silu_conv_gelu", .arch = IN_3x7x6 "conv a out=4 k=3 pad=1\nsilu s\nconv b out=3 k=1\ngelu g\n"
		 "conv c out=2 k=1\ngelu t approximate=tanh\n"},
		{.name = "silu_two_readers", .arch = IN_3x7x6 "conv a out=3 k=1\nsilu s\ngelu g in=a\nadd r in=s,g\n"},
	};
	RUN(cases);
}

/* ---------------------------------------------------------------- networks */

TEST(grad_network)
{
	static const gc_case cases[] = {
		/* conv-bn-relu-pool-conv(depthwise)-bn-relu6-add(residual)-gap-flatten-linear */
		{.name = "network_residual", .arch =
		 "input x shape=2x10x10\n"
		 "conv c1 out=4 k=3 pad=1\n"
		 "bn bn1\n"
		 "relu r1\n"
		 "maxpool p1 k=2\n"
		 "conv dw out=4 k=3 pad=1 groups=4 bias=0\n"
		 "bn bn2\n"
		 "relu6 r2\n"
		 "add res in=r2,p1\n"
		 "gap gap\n"
		 "flatten fl\n"
		 "linear fc out=5\n", .batch = 3},
		/* the same with the rest of the operators: hardswish, sigmoid, avgpool, concat, dropout */
		{.name = "network_mixed", .arch =
		 "input x shape=3x9x8\n"
		 "conv c1 out=6 k=3 stride=2 pad=1 mode=reflect\n"
		 "bn bn1\n"
		 "hardswish h1\n"
		 "conv pw in=h1 out=6 k=1 bias=0\n"
		 "sigmoid s1\n"
		 "avgpool a1 in=h1 k=3 stride=1 pad=1 count_include_pad=0\n"
		 "concat cat in=s1,a1\n"
		 "conv c2 out=4 k=2x3 dilation=1x2 pad=same\n"
		 "relu r2\n"
		 "flatten f\n"
		 "dropout d p=0.25\n"
		 "linear fc out=3\n", .batch = 2},
		/* one tensor consumed by every kind of op: each one's accumulating backward path runs */
		{.name = "network_fanout", .arch =
		 "input x shape=2x6x6\n"
		 "conv c out=4 k=3 pad=1\n"
		 "bn b1 in=c\n"
		 "relu r in=c\n"
		 "relu6 r6 in=c\n"
		 "sigmoid s in=c\n"
		 "hardswish h in=c\n"
		 "maxpool m in=c k=3 stride=1 pad=1\n"
		 "avgpool a in=c k=3 stride=1 pad=1\n"
		 "conv k1 in=c out=4 k=1\n"
		 "add s1 in=b1,r,r6,s,h,m,a,k1\n"
		 "conv k3 in=c out=4 k=3 pad=1 mode=circular\n"
		 "dropout d in=c p=0.5\n"
		 "concat cc in=s1,k3,d,c\n"
		 "gap g1 in=cc\n"
		 "flatten f1 in=cc\n"
		 "flatten f2 in=g1\n"
		 "linear l1 in=f1 out=4\n"
		 "linear l2 in=f2 out=4\n"
		 "add out in=l1,l2\n", .batch = 2, .flags = GC_NUDGE},
	};
	RUN(cases);
}

/* The checker itself must be able to fail: wrong gradients are caught. */
TEST(grad_checker_detects_errors)
{
	gc_case c = {.name = "selftest", .arch = IN_3x7x6 "conv c out=4 k=3 pad=1\nbn b\nsigmoid s\n", .flags = GC_QUIET};
	gc_result ok = gradcheck(&c);
	CHECKF(ok.failed == 0 && ok.checked > 0, "self-test baseline: %d failures", ok.failed);
	/* 5% too large everywhere: every coordinate above the absolute floors must be flagged */
	c.flags = GC_QUIET | GC_CORRUPT_SCALE;
	gc_result scaled = gradcheck(&c);
	CHECKF(scaled.failed * 4 >= scaled.checked, "gradients 5%% too large went unnoticed (%d of %d flagged)",
	       scaled.failed, scaled.checked);
	/* one coordinate off by a tenth of its tensor's largest gradient */
	c.flags = GC_QUIET | GC_CORRUPT_ONE;
	gc_result one = gradcheck(&c);
	CHECKF(one.failed == 1, "one wrong input-gradient coordinate: %d flagged, expected exactly 1", one.failed);
}
