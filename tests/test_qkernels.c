/* The fast int8 kernels (src/kernels/qconv.c and q8_*.c) against the references of qconv_ref.c,
 * byte for byte, on every path this CPU runs (each forced in turn; the ones it lacks are named
 * as skipped): random convolutions (tails of channels, taps and pixels, strides, dilations,
 * padding modes, groups, depthwise with multipliers, 1x1), Linear layers, fused clamps,
 * per-tensor and per-channel multipliers, and the extremes (inputs all -128 or 127, weights
 * +-127, zero points at both ends, multipliers at both ends and zero, the most taps allowed);
 * the int8 SpMM (q8_spmm.h) the same way on pruned weights. */
#include <stdlib.h>
#include "kernels/kernels.h"
#include "kernels/qconv.h"
#include "kernels/qjoin.h"
#include "kernels/q8_spmm.h"
#include "test.h"

static uint32_t lcg(uint32_t *s) { *s = *s * 1664525u + 1013904223u; return *s >> 8; }
static int pick(uint32_t *s, int lo, int hi) { return lo + (int)(lcg(s) % (uint32_t)(hi - lo + 1)); }

/* One layer's int8 data; `extreme` picks worst-case values instead of random ones. */
typedef struct {
	int8_t *x, *w, *y, *ref;
	int32_t *bias;
	sn_q_mult *mult;
	sn_q8_conv p;
	sn_q8_pack *pk;
	void *ws;
} layer;

static sn_q_mult random_mult(uint32_t *s, int extreme)
{
	static const sn_q_mult ends[] = {{INT32_MAX, 31}, {INT32_MAX, 0}, {1 << 30, -31}, {0, 0}, {1 << 30, 5}, {INT32_MAX, -1}};
	if (extreme) return ends[lcg(s) % 6];
	return sn_q_multiplier(ldexp(1.0 + (lcg(s) % 1000) / 1000.0, -pick(s, 1, 22)));
}

/* x: nx values, w: nw, out channels: oc */
static int layer_make(layer *L, size_t nx, size_t nw, int oc, size_t ny, uint32_t *s, int extreme)
{
	memset(L, 0, sizeof *L);
	L->x = malloc(nx);
	L->w = malloc(nw);
	L->y = malloc(ny);
	L->ref = malloc(ny);
	L->bias = malloc(oc * sizeof *L->bias);
	L->mult = malloc(oc * sizeof *L->mult);
	if (!L->x || !L->w || !L->y || !L->ref || !L->bias || !L->mult) return -1;
	const int xkind = extreme ? pick(s, 0, 2) : 0, wkind = extreme ? pick(s, 0, 3) : 0;
	for (size_t i = 0; i < nx; i++) L->x[i] = (int8_t)(xkind == 1 ? -128 : xkind == 2 ? 127 : (int)(lcg(s) % 256) - 128);
	for (size_t i = 0; i < nw; i++)
		L->w[i] = (int8_t)(wkind == 1 ? 127 : wkind == 2 ? -127 : wkind == 3 ? (i % 2 ? 127 : -127) : (int)(lcg(s) % 255) - 127);
	const int per_channel = lcg(s) % 2;
	for (int o = 0; o < oc; o++) {
		L->bias[o] = extreme ? 0 : pick(s, -100000, 100000);
		L->mult[o] = per_channel || o == 0 ? random_mult(s, extreme) : L->mult[0];
	}
	static const int32_t zps[] = {-128, 127, 0};
	const int act = pick(s, 0, 2);
	const sn_qparams yq = {0.1f, extreme ? zps[lcg(s) % 3] : pick(s, -128, 127)};
	int32_t lo, hi;
	sn_q_act_range(yq, act, &lo, &hi);
	L->p = (sn_q8_conv){.w = L->w, .bias = lcg(s) % 5 ? L->bias : NULL, .mult = L->mult, .per_channel = per_channel,
	                    .x_zp = extreme ? zps[lcg(s) % 3] : pick(s, -128, 127), .y_zp = yq.zero_point, .lo = lo, .hi = hi};
	return 0;
}

static void layer_free(layer *L)
{
	free(L->x); free(L->w); free(L->y); free(L->ref); free(L->bias); free(L->mult); free(L->ws);
	sn_q8_pack_free(L->pk);
}

/* scratch of n bytes, 64-aligned, filled with garbage: the kernels may not rely on its contents */
static void *scratch(size_t n)
{
	void *ws = aligned_alloc(64, (n + 64) / 64 * 64);
	if (ws) memset(ws, 0xa5, (n + 64) / 64 * 64);
	return ws;
}

/* A random geometry: depthwise (kind 1), 1x1 (kind 2), stride 1 with groups of 4 channels and
 * more than one tap (kind 3: the quad planes, qconv.c) or anything (kind 0). */
static sn_conv_geom random_geom(uint32_t *s, int kind, int *groups, int *oc)
{
	sn_conv_geom g;
	for (;;) {
		memset(&g, 0, sizeof g);
		*groups = kind == 1 ? 0 : lcg(s) % 3 ? 1 : pick(s, 2, 3);
		const int cg = kind == 1 ? 1 : kind == 3 ? 4 * pick(s, 1, 5) : pick(s, 1, 19);
		g.c = kind == 1 ? pick(s, 1, 9) : cg * *groups;
		if (kind == 1) *groups = g.c;
		*oc = kind == 1 ? g.c * pick(s, 1, 2) : pick(s, 1, 21) * *groups;
		g.h = pick(s, 1, 26);
		g.w = pick(s, 1, 40);
		if (kind == 2) { g.kh = g.kw = 1; g.sh = g.sw = g.dh = g.dw = 1; }
		else {
			const int k = kind == 1 && lcg(s) % 4 ? (lcg(s) % 2 ? 3 : 5) : 0;
			g.kh = k ? k : pick(s, 1, 5);
			g.kw = k ? k : pick(s, 1, 5);
			g.sh = g.sw = pick(s, 1, kind == 1 ? 2 : 3);
			if (lcg(s) % 4 == 0) g.sw = pick(s, 1, 3);
			if (kind == 3) {
				g.sh = g.sw = 1;
				if (g.kh * g.kw == 1) g.kw = 2;
			}
			g.dh = lcg(s) % 3 ? 1 : 2;
			g.dw = lcg(s) % 3 ? 1 : 2;
		}
		g.mode = lcg(s) % 3 ? SN_KPAD_ZEROS : pick(s, 1, 3);
		const int ext_h = g.dh * (g.kh - 1), ext_w = g.dw * (g.kw - 1);
		g.pt = kind == 2 && lcg(s) % 2 ? 0 : pick(s, 0, g.kh / 2 * g.dh);
		g.pl = kind == 2 && lcg(s) % 2 ? 0 : pick(s, 0, g.kw / 2 * g.dw);
		const int pb = pick(s, 0, g.pt), pr = pick(s, 0, g.pl);
		if (g.mode != SN_KPAD_ZEROS && (g.pt >= g.h || pb >= g.h || g.pl >= g.w || pr >= g.w)) continue;
		g.oh = (g.h + g.pt + pb - ext_h - 1) / g.sh + 1;
		g.ow = (g.w + g.pl + pr - ext_w - 1) / g.sw + 1;
		if (g.h + g.pt + pb - ext_h >= 1 && g.w + g.pl + pr - ext_w >= 1) return g;
	}
}

/* A layer with its pack (`groups` groups, k taps; groups 0: a Linear's pack) and ws_bytes of
 * scratch; y prefilled with garbage. 0, or -1 when out of memory (said; the layer freed). */
static int case_setup(layer *L, size_t nx, int oc, int groups, int k, int taps, size_t ny, size_t ws_bytes, uint32_t *s,
                      int extreme)
{
	if (layer_make(L, nx, (size_t)oc * k, oc, ny, s, extreme) ||
	    !(L->pk = groups ? sn_q8_pack_new(L->w, oc, groups, k, taps) : sn_q8_linear_pack_new(L->w, oc, k)) ||
	    !(L->ws = scratch(ws_bytes))) {
		fprintf(stderr, "  out of memory\n");
		layer_free(L);
		return -1;
	}
	memset(L->y, 0x5a, ny);
	return 0;
}

/* 1 (and the first difference said) when the fast kernel's ny outputs differ from the
 * reference's, else 0; frees the layer. what: the kernel and the shape. */
static int verdict(layer *L, size_t ny, const char *path, const char *what)
{
	size_t i = 0;
	while (i < ny && L->y[i] == L->ref[i]) i++;
	if (i < ny) fprintf(stderr, "  %s (%s): output %zu is %d, the reference's %d\n", path, what, i, L->y[i], L->ref[i]);
	layer_free(L);
	return i < ny;
}

/* The fast convolution against the reference on one layer, with a 2x2 max-pool fused where
 * `pool` asks and the kernels can (sn_q8_conv_pools); 0 when identical. */
static int conv_case_pool(const sn_conv_geom *g, int groups, int oc, uint32_t *s, int extreme, int pool, const char *path)
{
	const int k = g->c / groups * g->kh * g->kw;
	pool = pool && sn_q8_conv_pools(g, groups, oc);
	const size_t ny = (size_t)oc * (pool ? (size_t)(g->oh / 2) * (g->ow / 2) : (size_t)g->oh * g->ow);
	layer L;
	if (case_setup(&L, (size_t)g->c * g->h * g->w, oc, groups, k, g->kh * g->kw, ny, sn_q8_conv_ws(g, groups, oc, pool), s,
	               extreme))
		return 1;
	L.p.pool = pool;
	sn_q8_conv_ref(L.x, g, groups, oc, &L.p, L.ref);
	sn_q8_conv_run(L.x, g, groups, oc, &L.p, L.pk, L.y, L.ws);
	char what[256];
	snprintf(what, sizeof what, "%s%s: c=%d %dx%d k=%dx%d s=%d,%d d=%d,%d pad=%d,%d mode=%d groups=%d out=%d",
	         sn_q8_conv_kernel(g, groups, oc), pool ? " + 2x2 max-pool" : "", g->c, g->h, g->w, g->kh, g->kw, g->sh, g->sw,
	         g->dh, g->dw, g->pt, g->pl, g->mode, groups, oc);
	return verdict(&L, ny, path, what);
}
static int conv_case(const sn_conv_geom *g, int groups, int oc, uint32_t *s, int extreme, const char *path)
{
	return conv_case_pool(g, groups, oc, s, extreme, 0, path);
}

static int linear_case(int rows, int k, int out, uint32_t *s, int extreme, const char *path)
{
	const size_t ny = (size_t)rows * out;
	layer L;
	if (case_setup(&L, (size_t)rows * k, out, 0, k, 1, ny, sn_q8_linear_ws(rows, k, out), s, extreme)) return 1;
	sn_q8_linear_ref(L.x, rows, k, out, &L.p, L.ref);
	sn_q8_linear(L.x, rows, k, out, &L.p, L.pk, L.y, L.ws);
	char what[128];
	snprintf(what, sizeof what, "%s: rows=%d k=%d out=%d", sn_q8_linear_kernel(rows, k, out), rows, k, out);
	return verdict(&L, ny, path, what);
}

/* Runs fn on every path the CPU has, forced; the others are named as skipped. */
static void each_path(void (*fn)(const char *path, int *failures, int *cases))
{
	for (int i = 0; sn_q8_path_name(i); i++) {
		const char *path = sn_q8_path_name(i);
		if (sn_q8_force_path(path)) { fprintf(stderr, "  skipped the %s path: this CPU lacks it\n", path); continue; }
		int failures = 0, cases = 0;
		fn(path, &failures, &cases);
		CHECKF(failures == 0, "%s: %d of %d layers differ from the reference", path, failures, cases);
		CHECKF(cases > 0, "%s: no case ran", path);
	}
	sn_q8_force_path(NULL);
}

/* fn on the best path with 3 threads: a single image's work split over them */
static void on_three_threads(void (*fn)(const char *path, int *failures, int *cases))
{
	const int was = sn_get_threads();
	sn_set_threads(3);
	int failures = 0, cases = 0;
	fn("best, 3 threads", &failures, &cases);
	sn_set_threads(was);
	CHECKF(failures == 0, "%d of %d layers differ from the reference on 3 threads", failures, cases);
}

static void conv_random(const char *path, int *failures, int *cases)
{
	uint32_t s = 2024;
	for (int t = 0; t < 240; t++) {
		int groups, oc;
		const sn_conv_geom g = random_geom(&s, t % 3, &groups, &oc);
		const int kind_ok = t % 3 != 1 || strstr(sn_q8_conv_kernel(&g, groups, oc), "dwconv") || g.sh > 2 ||
		                    g.sh != g.sw || (g.sh == 2 && g.dw > 1);
		CHECKF(kind_ok, "a depthwise layer runs %s", sn_q8_conv_kernel(&g, groups, oc));
		*failures += conv_case(&g, groups, oc, &s, t % 7 == 6, path) != 0;
		++*cases;
	}
}

TEST(q8_conv_matches_reference)
{
	each_path(conv_random);
}

/* The quad planes (stride 1, groups of 4 channels): every padding mode, dilations, groups, rows
 * from 1 to 40 columns (the columns past ow a row computes and drops), pooled or not, on one
 * thread and three (a single image's rows over threads) */
static void conv_quads(const char *path, int *failures, int *cases)
{
	uint32_t s = 31;
	for (int t = 0; t < 80; t++) {
		int groups, oc;
		const sn_conv_geom g = random_geom(&s, 3, &groups, &oc);
		*failures += conv_case_pool(&g, groups, oc, &s, t % 6 == 5, t % 2, path) != 0;
		++*cases;
	}
}

TEST(q8_conv_quad_planes_match_reference)
{
	each_path(conv_quads);
	on_three_threads(conv_quads);
}

/* The shapes of the benchmarks, smaller: a stem, a depthwise and a pointwise layer, a 3x3. */
static void conv_shapes(const char *path, int *failures, int *cases)
{
	static const int shapes[][8] = {{3, 33, 31, 16, 3, 2, 1, 0}, {32, 30, 29, 32, 3, 1, 32, 0}, {24, 20, 21, 40, 1, 1, 1, 0},
	                                {40, 17, 17, 36, 3, 1, 1, 0}, {16, 28, 28, 16, 5, 2, 16, 0}, {16, 15, 15, 32, 3, 2, 16, 0},
	                                {64, 7, 7, 100, 1, 1, 1, 0}};
	uint32_t s = 77;
	for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
		const int *v = shapes[i], pad = v[4] / 2;
		sn_conv_geom g = {.c = v[0], .h = v[1], .w = v[2], .kh = v[4], .kw = v[4], .sh = v[5], .sw = v[5], .dh = 1, .dw = 1,
		                  .pt = pad, .pl = pad};
		g.oh = (g.h + 2 * pad - g.kh) / g.sh + 1;
		g.ow = (g.w + 2 * pad - g.kw) / g.sw + 1;
		for (int e = 0; e < 2; e++) {
			*failures += conv_case(&g, v[6], v[3], &s, e, path) != 0;
			++*cases;
		}
	}
}

TEST(q8_conv_bench_shapes_match_reference)
{
	each_path(conv_shapes);
}

/* A 2x2 max-pool fused into the conv (sn_q8_conv.pool) against the reference's requantize, then
 * pool: random layers of every kind (odd sizes drop a row or column), the baseline CNN's two
 * convs, rows too wide for one panel of pairs (ow 60, 130, 256), a depthwise layer with a
 * multiplier in both plane layouts, extremes (ties, clamps). */
static void conv_pooled(const char *path, int *failures, int *cases)
{
	uint32_t s = 909;
	for (int t = 0; t < 120; t++) {
		int groups, oc;
		const sn_conv_geom g = random_geom(&s, t % 3, &groups, &oc);
		if (!sn_q8_conv_pools(&g, groups, oc)) continue;
		*failures += conv_case_pool(&g, groups, oc, &s, t % 5 == 4, 1, path) != 0;
		++*cases;
	}
	static const int shapes[][7] = {{1, 28, 28, 32, 3, 1, 0}, {32, 14, 14, 64, 3, 1, 0}, {3, 9, 60, 5, 3, 1, 0},
	                                {2, 5, 131, 4, 3, 1, 0}, {2, 4, 256, 9, 1, 1, 0}, {4, 17, 15, 8, 3, 4, 1},
	                                {2, 64, 64, 4, 5, 2, 1}, {8, 7, 7, 24, 1, 1, 0}};
	for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
		const int *v = shapes[i], pad = v[4] / 2;
		sn_conv_geom g = {.c = v[0], .h = v[1], .w = v[2], .kh = v[4], .kw = v[4], .sh = 1, .sw = 1, .dh = 1, .dw = 1,
		                  .pt = pad, .pl = pad};
		g.oh = g.h + 2 * pad - g.kh + 1;
		g.ow = g.w + 2 * pad - g.kw + 1;
		const int groups = v[6] ? g.c : 1;
		CHECKF(sn_q8_conv_pools(&g, groups, v[3]), "no pool fused into c=%d %dx%d out=%d", g.c, g.h, g.w, v[3]);
		for (int e = 0; e < 2; e++) {
			*failures += conv_case_pool(&g, groups, v[3], &s, e, 1, path) != 0;
			++*cases;
		}
	}
}

TEST(q8_conv_pooled_matches_reference)
{
	each_path(conv_pooled);
	on_three_threads(conv_pooled);   /* a single image's tiles and channels over threads */
	/* where it is not fused: rows wider than a panel of pairs, a single row, the channel-vectorised
	 * depthwise shapes */
	const sn_conv_geom wide = {.c = 2, .h = 4, .w = 257, .kh = 1, .kw = 1, .sh = 1, .sw = 1, .dh = 1, .dw = 1, .oh = 4, .ow = 257};
	const sn_conv_geom row = {.c = 2, .h = 1, .w = 8, .kh = 1, .kw = 1, .sh = 1, .sw = 1, .dh = 1, .dw = 1, .oh = 1, .ow = 8};
	const sn_conv_geom dw = {.c = 32, .h = 13, .w = 13, .kh = 3, .kw = 3, .sh = 1, .sw = 1, .dh = 1, .dw = 1,
	                         .pt = 1, .pl = 1, .oh = 13, .ow = 13};
	CHECK(!sn_q8_conv_pools(&wide, 1, 3) && !sn_q8_conv_pools(&row, 1, 3) && !sn_q8_conv_pools(&dw, 32, 32));
	CHECK(sn_q8_conv_pools(&dw, 32, 64));   /* a multiplier: the plane kernels */
	sn_conv_geom dw14 = dw;                 /* 14 wide: the plane kernels */
	dw14.w = dw14.h = dw14.ow = dw14.oh = 14;
	CHECK(sn_q8_conv_pools(&dw14, 32, 32));
}

/* Depthwise layers of one output per channel with zero padding and no dilation (the shapes of
 * the channel-vectorised kernel, where a path has one): blocks of 16 channels and their tail,
 * rows of 16 columns and their tail, several bands of rows (threads), kernels 1..7 square or
 * not, strides 1 and 2, every padding up to the kernel's reach. */
static void dw_blocks(const char *path, int *failures, int *cases)
{
	uint32_t s = 4242;
	for (int t = 0; t < 60; t++) {
		sn_conv_geom g = {.c = t < 4 ? 16 * (t + 1) : pick(&s, 1, 40), .h = pick(&s, 1, 37), .w = pick(&s, 1, 37),
		                  .dh = 1, .dw = 1};
		g.kh = t % 3 ? 3 : pick(&s, 1, 7);
		g.kw = t % 3 ? 3 : t % 2 ? g.kh : pick(&s, 1, 7);
		if (t % 5 == 1) g.kh = g.kw = 5;
		g.sh = g.sw = pick(&s, 1, 2);
		g.pt = pick(&s, 0, g.kh - 1);
		g.pl = pick(&s, 0, g.kw - 1);
		const int pb = pick(&s, 0, g.kh - 1), pr = pick(&s, 0, g.kw - 1);
		if (g.h + g.pt + pb < g.kh || g.w + g.pl + pr < g.kw) continue;
		g.oh = (g.h + g.pt + pb - g.kh) / g.sh + 1;
		g.ow = (g.w + g.pl + pr - g.kw) / g.sw + 1;
		*failures += conv_case(&g, g.c, g.c, &s, t % 4 == 3, path) != 0;
		++*cases;
	}
}

TEST(q8_depthwise_blocks_match_reference)
{
	each_path(dw_blocks);
	/* and split over threads: bands of rows when the blocks are fewer than the threads */
	on_three_threads(dw_blocks);
}

/* Depthwise layers on the VNNI paths' planes of bytes (q8_dwquad_simd.h): outputs 14 to 140
 * wide, so that both the rows (a step past a row's end, several steps a row) and the flat
 * layout run; strides 1 and 2, kernels 3x3, 5x5 and others (1x4, 7x2, 2x7: one or two quads a
 * row, lone taps), vertical dilation, every padding mode, one or two outputs per channel, a
 * fused 2x2 max-pool (the sums stored in whole steps), extreme values. On a path without the
 * kernel they run its depthwise kernels all the same. */
static void dw_quads(const char *path, int *failures, int *cases)
{
	static const int shapes[][2] = {{3, 3}, {5, 5}, {1, 4}, {7, 2}, {2, 7}, {3, 3}};
	uint32_t s = 777;
	for (int t = 0; t < 48; t++) {
		sn_conv_geom g = {.c = pick(&s, 1, 6), .h = pick(&s, 3, 24), .w = t % 4 == 0 ? pick(&s, 66, 140) : pick(&s, 16, 60),
		                  .kh = shapes[t % 6][0], .kw = shapes[t % 6][1], .dw = 1, .dh = t % 7 == 3 ? 2 : 1};
		g.sh = g.sw = 1 + t % 2;
		g.mode = t % 5 == 4 ? pick(&s, 1, 3) : SN_KPAD_ZEROS;
		g.pt = pick(&s, 0, g.kh / 2 * g.dh);
		g.pl = pick(&s, 0, g.kw / 2);
		const int pb = pick(&s, 0, g.pt), pr = pick(&s, 0, g.pl), ext_h = g.dh * (g.kh - 1);
		if (g.h + g.pt + pb - ext_h < 1 || (g.mode != SN_KPAD_ZEROS && (g.pt >= g.h || pb >= g.h))) continue;
		g.oh = (g.h + g.pt + pb - ext_h - 1) / g.sh + 1;
		g.ow = (g.w + g.pl + pr - g.kw) / g.sw + 1;
		if (g.ow < 14) continue;
		const int oc = g.c * (t % 3 == 2 ? 2 : 1);
		const char *kernel = sn_q8_conv_kernel(&g, g.c, oc);
		if ((!strcmp(path, "avx512vnni") || !strcmp(path, "avxvnni")) && !strstr(kernel, "_quad__")) {
			fprintf(stderr, "  %s: a %dx%d stride-%d depthwise layer %d wide runs %s\n", path, g.kh, g.kw, g.sh, g.ow, kernel);
			++*failures;
		}
		*failures += conv_case_pool(&g, g.c, oc, &s, t % 4 == 1, t % 3 == 0, path) != 0;
		++*cases;
	}
}

TEST(q8_depthwise_quads_match_reference)
{
	each_path(dw_quads);
	on_three_threads(dw_quads);
}

static void linear_random(const char *path, int *failures, int *cases)
{
	uint32_t s = 99;
	for (int t = 0; t < 80; t++) {
		const int rows = t % 4 ? pick(&s, 1, 9) : pick(&s, 90, 200), k = pick(&s, 1, 300), out = pick(&s, 1, 70);
		*failures += linear_case(rows, k, out, &s, t % 5 == 4, path) != 0;
		++*cases;
	}
	/* the most taps a layer may have, at the values that make the largest sums */
	for (int t = 0; t < 4; t++) {
		*failures += linear_case(3, SN_Q8_MAX_TAPS, 9, &s, 1, path) != 0;
		++*cases;
	}
}

TEST(q8_linear_matches_reference)
{
	each_path(linear_random);
}

/* The Linear kernel's blocks and their tails: every row count up to past two register blocks (6
 * rows on AVX-512, 4 on AVX-VNNI, 3 on AVX2) and around 32, output channels around the vectors of
 * 16 and the pack's blocks of 64 (their tails stored masked), taps with every k % 4 (the last
 * row's last quad read from a copy: x is exactly rows x k, so a read past it shows under ASan). */
static void linear_blocks(const char *path, int *failures, int *cases)
{
	static const int outs[] = {1, 8, 15, 16, 17, 48, 63, 64, 65, 80, 127, 129, 200}, ks[] = {1, 2, 3, 4, 5, 7, 64, 301};
	uint32_t s = 7;
	int i = 0;
	for (int rows = 1; rows <= 33; rows = rows < 14 ? rows + 1 : rows < 31 ? 31 : rows + 1)
		for (size_t o = 0; o < sizeof outs / sizeof outs[0]; o++, i++) {
			*failures += linear_case(rows, ks[i % 8], outs[o], &s, i % 5 == 4, path) != 0;
			++*cases;
		}
}

TEST(q8_linear_blocks_match_reference)
{
	each_path(linear_blocks);
	/* and split over 3 threads: bands of rows when the vectors of channels are fewer than the
	 * threads, vectors or whole blocks of channels when not */
	const int was = sn_get_threads();
	sn_set_threads(3);
	int failures = 0, cases = 0;
	uint32_t s = 3;
	static const int shapes[][3] = {{32, 256, 10}, {5, 40, 20}, {2, 33, 40}, {9, 64, 48}, {32, 100, 200}, {7, 31, 1000},
	                                {1, 1024, 300}, {200, 17, 65}};
	for (size_t t = 0; t < sizeof shapes / sizeof shapes[0]; t++, cases++)
		failures += linear_case(shapes[t][0], shapes[t][1], shapes[t][2], &s, t % 3 == 2, "best, 3 threads") != 0;
	linear_blocks("best, 3 threads", &failures, &cases);
	sn_set_threads(was);
	CHECKF(failures == 0, "%d of %d layers differ from the reference on 3 threads", failures, cases);
}

/* The int8 add (qjoin.h) against sn_q8_add_ref: 2 to SN_Q8_ADD_MAX inputs, lengths with every
 * tail of a vector, scales from equal to 2^12 apart, zero points and inputs at the ends, clamps of
 * fused activations. */
static void add_random(const char *path, int *failures, int *cases)
{
	uint32_t s = 31;
	enum { MAXLEN = 1100 };
	int8_t *x[SN_Q8_ADD_MAX], y[MAXLEN], ref[MAXLEN];
	for (int i = 0; i < SN_Q8_ADD_MAX; i++) x[i] = malloc(MAXLEN);
	for (int t = 0; t < 300; t++) {
		const int n = pick(&s, 2, SN_Q8_ADD_MAX), extreme = t % 5 == 4;
		const size_t len = t < 40 ? (size_t)t + 1 : (size_t)pick(&s, 1, MAXLEN);
		sn_qparams q[SN_Q8_ADD_MAX];
		static const int32_t zps[] = {-128, 127, 0};
		for (int i = 0; i < n; i++) {
			q[i] = (sn_qparams){(float)ldexp(1.0 + (lcg(&s) % 1000) / 1000.0, -pick(&s, 0, 12)),
			                    extreme ? zps[lcg(&s) % 3] : pick(&s, -128, 127)};
			const int kind = extreme ? pick(&s, 0, 2) : 0;
			for (size_t k = 0; k < len; k++) x[i][k] = (int8_t)(kind == 1 ? -128 : kind == 2 ? 127 : (int)(lcg(&s) % 256) - 128);
		}
		const sn_qparams yq = {(float)ldexp(1.0 + (lcg(&s) % 1000) / 1000.0, -pick(&s, 0, 14)),
		                       extreme ? zps[lcg(&s) % 3] : pick(&s, -128, 127)};
		int32_t lo, hi;
		sn_q_act_range(yq, pick(&s, 0, 2), &lo, &hi);
		const sn_q8_add_params p = sn_q8_add_init(n, q, yq, lo, hi);
		memset(y, 0x5a, sizeof y);
		memset(ref, 0x5a, sizeof ref);
		sn_q8_add_ref((const int8_t *const *)x, len, &p, ref);
		sn_q8_add((const int8_t *const *)x, len, &p, y);
		size_t k = 0;
		while (k < MAXLEN && y[k] == ref[k]) k++;   /* past len too: nothing written there */
		if (k < MAXLEN) fprintf(stderr, "  %s (%s: n=%d len=%zu): output %zu is %d, the reference's %d\n", path,
		                        sn_q8_add_kernel(), n, len, k, y[k], ref[k]);
		*failures += k < MAXLEN;
		++*cases;
	}
	for (int i = 0; i < SN_Q8_ADD_MAX; i++) free(x[i]);
}

TEST(q8_add_matches_reference)
{
	each_path(add_random);
	for (int i = 0; sn_q8_path_name(i); i++) {
		if (sn_q8_force_path(sn_q8_path_name(i))) continue;
		char want[64];
		snprintf(want, sizeof want, "q8_add__%s", !strcmp(sn_q8_path_name(i), "avxvnni") ? "avx2" : sn_q8_path_name(i));
		CHECKF(!strcmp(sn_q8_add_kernel(), want), "%s, expected %s", sn_q8_add_kernel(), want);
	}
	sn_q8_force_path(NULL);
}

/* Inside a parallel region every call runs on its own thread, with its own scratch. */
TEST(q8_conv_inside_parallel_region)
{
	uint32_t s = 5;
	int failures = 0;
	#pragma omp parallel for num_threads(2) reduction(+ : failures)
	for (int t = 0; t < 8; t++) {
		uint32_t st = s + (uint32_t)t;
		int groups, oc;
		const sn_conv_geom g = random_geom(&st, t % 3, &groups, &oc);
		failures += conv_case(&g, groups, oc, &st, 0, "best") != 0;
	}
	CHECK(failures == 0);
}

TEST(q8_kernel_names_and_paths)
{
	const sn_conv_geom dw = {.c = 8, .h = 9, .w = 9, .kh = 3, .kw = 3, .sh = 2, .sw = 2, .dh = 1, .dw = 1, .pt = 1, .pl = 1,
	                         .oh = 5, .ow = 5};
	sn_conv_geom full = dw;
	full.sh = full.sw = 1;
	full.oh = full.ow = 9;
	CHECK(sn_q8_force_path("no-such-isa") == -1);
	for (int i = 0; sn_q8_path_name(i); i++) {
		const char *path = sn_q8_path_name(i);
		if (sn_q8_force_path(path)) continue;
		char want[64];
		/* depthwise 5 wide: the channel-vectorised kernel where the path has one (AVX-512 VNNI),
		 * else the plane of bytes (VNNI) or of int16 pairs; 9 wide, the plane of bytes */
		const int vnni = strstr(path, "vnni") != NULL;
		snprintf(want, sizeof want, "q8_dwconv_3x3s2%s__%s", !strcmp(path, "avx512vnni") ? "_c16" : vnni ? "_quad" : "", path);
		CHECKF(!strcmp(sn_q8_conv_kernel(&dw, 8, 8), want), "%s, expected %s", sn_q8_conv_kernel(&dw, 8, 8), want);
		sn_conv_geom wide = dw;
		wide.w = 33;
		wide.ow = 17;
		snprintf(want, sizeof want, "q8_dwconv_3x3s2%s__%s", vnni ? "_quad" : "", path);
		CHECKF(!strcmp(sn_q8_conv_kernel(&wide, 8, 8), want), "%s, expected %s", sn_q8_conv_kernel(&wide, 8, 8), want);
		snprintf(want, sizeof want, "q8_conv_gemm__%s", path);
		CHECKF(!strcmp(sn_q8_conv_kernel(&full, 1, 8), want), "%s, expected %s", sn_q8_conv_kernel(&full, 1, 8), want);
		snprintf(want, sizeof want, "q8_linear_gemm__%s", path);   /* one kernel for every batch */
		for (int rows = 1; rows <= 8; rows += 7)
			CHECKF(!strcmp(sn_q8_linear_kernel(rows, 10, 10), want), "%s, expected %s", sn_q8_linear_kernel(rows, 10, 10), want);
	}
	sn_q8_force_path(NULL);
	const int8_t w[6] = {1, 2, 3, 4, 5, 6};
	CHECK(!sn_q8_pack_new(w, 3, 2, 2, 1));    /* out_c not a multiple of groups */
	CHECK(!sn_q8_pack_new(w, 2, 1, 0, 1));
	CHECK(!sn_q8_pack_new(w, 1, 1, SN_Q8_MAX_TAPS + 1, 1));
	CHECK(!sn_q8_pack_new(w, 1, 1, 6, 4));    /* taps not dividing k */
	sn_q8_pack *pk = sn_q8_pack_new(w, 2, 1, 3, 1);
	CHECK(pk && sn_q8_pack_bytes(pk) >= 6);
	sn_q8_pack_free(pk);
	CHECK(!sn_q8_linear_pack_new(w, 0, 3));
	CHECK(!sn_q8_linear_pack_new(w, 2, 0));
	CHECK(!sn_q8_linear_pack_new(w, 1, SN_Q8_MAX_TAPS + 1));
	/* a Linear's pack: its channels rounded up to 16, its taps to 4 */
	pk = sn_q8_linear_pack_new(w, 2, 3);
	CHECK(pk && sn_q8_pack_bytes(pk) >= 16 * 4 && sn_q8_pack_bytes(pk) < 16 * 4 + 1024);
	sn_q8_pack_free(pk);
}

/* ---------------------------------------------------------------- the int8 SpMM (q8_spmm.h) */

/* Zeroes all but about `density` of w [rows x cols]; some rows copy the pattern of the one before
 * (blocks of 2 and 4 channels: block-pruned layers), some rows and columns end up empty. */
static void sparsify(int8_t *w, int rows, int cols, double density, uint32_t *s)
{
	const int blocky = lcg(s) % 2, empty_col = cols > 1 ? pick(s, 0, cols - 1) : -1;
	for (int o = 0; o < rows; o++) {
		int8_t *r = w + (size_t)o * cols;
		const int copy = blocky && o % 4 && lcg(s) % 4;
		const int empty = lcg(s) % 9 == 0;
		for (int i = 0; i < cols; i++) {
			const int keep = copy ? r[i - cols] != 0 : (lcg(s) % 100000) < density * 100000;
			if (!keep || empty || i == empty_col) r[i] = 0;
			else if (!r[i]) r[i] = 1;   /* a kept weight is not zero */
		}
	}
}

static const double densities[] = {0, 1e-9, 0.02, 0.1, 0.3, 0.5, 0.9, 1};

/* The sparse kernel (conv when pixels >= 0, else a Linear of -pixels rows) against the
 * reference, with w sparsified to `density` (1e-9: one weight survives); 0 when identical. */
static int spmm_case(int rows, int cols, int pixels, double density, uint32_t *s, int extreme, const char *path)
{
	const int linear = pixels < 0, n = linear ? -pixels : pixels;
	const size_t ny = (size_t)rows * n;
	layer L;
	if (layer_make(&L, (size_t)cols * n, (size_t)rows * cols, rows, ny, s, extreme)) { layer_free(&L); return 1; }
	sparsify(L.w, rows, cols, density, s);
	if (density > 0 && density < 1e-6) L.w[(size_t)pick(s, 0, rows - 1) * cols + pick(s, 0, cols - 1)] = -127;
	sn_q8_spmm *sp = sn_q8_spmm_pack(L.w, rows, cols);
	if (!sp || !(L.ws = scratch(sn_q8_spmm_ws(sp, (size_t)n)))) {
		fprintf(stderr, "  out of memory\n");
		sn_q8_spmm_free(sp);
		layer_free(&L);
		return 1;
	}
	memset(L.y, 0x5a, ny);
	if (linear) {
		sn_q8_linear_ref(L.x, n, cols, rows, &L.p, L.ref);
		sn_q8_spmm_linear(L.x, n, &L.p, sp, L.y, L.ws);
	} else {
		const sn_conv_geom g = {.c = cols, .h = 1, .w = n, .kh = 1, .kw = 1, .sh = 1, .sw = 1, .dh = 1, .dw = 1, .oh = 1, .ow = n};
		sn_q8_conv_ref(L.x, &g, 1, rows, &L.p, L.ref);
		sn_q8_spmm_conv(L.x, (size_t)n, &L.p, sp, L.y, L.ws);
	}
	char what[160];
	snprintf(what, sizeof what, "%s: %s rows=%d cols=%d %s=%d density=%g", sn_q8_spmm_kernel(), linear ? "linear" : "conv",
	         rows, cols, linear ? "batch" : "pixels", n, density);
	sn_q8_spmm_free(sp);
	return verdict(&L, ny, path, what);
}

static void spmm_random(const char *path, int *failures, int *cases)
{
	uint32_t s = 4242;
	for (int t = 0; t < 320; t++) {
		const double density = densities[t % 8];
		const int big = t % 5 == 0 || t % 6 == 0;   /* many rows or columns: few pixels */
		const int rows = t % 5 ? pick(&s, 1, 40) : pick(&s, 60, 140), cols = t % 6 ? pick(&s, 1, 90) : pick(&s, 200, 600);
		/* pixels: every tail of a step and a tile, a few tiles (the threads' splits); batches */
		const int n = t % 3 == 2 ? -(t % 4 ? pick(&s, 1, 9) : pick(&s, 30, 140)) : big ? pick(&s, 1, 80) : t % 7 ? pick(&s, 1, 200) : pick(&s, 400, 900);
		*failures += spmm_case(rows, cols, n, density, &s, t % 9 == 8, path) != 0;
		++*cases;
	}
	/* the benchmarks' shapes (the conv on fewer pixels), pruned, and the most taps at the values
	 * that make the largest sums */
	*failures += spmm_case(256, 256, 14 * 14, 0.1, &s, 0, path) != 0;
	*failures += spmm_case(1000, 1280, -1, 0.1, &s, 0, path) != 0;
	*failures += spmm_case(1000, 1280, -32, 0.04, &s, 0, path) != 0;
	*failures += spmm_case(7, SN_Q8_MAX_TAPS, 3, 1, &s, 1, path) != 0;
	*failures += spmm_case(5, SN_Q8_MAX_TAPS, -2, 1, &s, 1, path) != 0;
	*cases += 5;
}

TEST(q8_spmm_matches_reference)
{
	each_path(spmm_random);
}

TEST(q8_spmm_pack_and_names)
{
	const int8_t w[12] = {0, 3, 0, -4, 0, 5, 0, 6, 0, 0, 0, 0};
	CHECK(!sn_q8_spmm_pack(w, 0, 4));
	CHECK(!sn_q8_spmm_pack(w, 3, 0));
	CHECK(!sn_q8_spmm_pack(w, 1, SN_Q8_MAX_TAPS + 1));
	sn_q8_spmm *sp = sn_q8_spmm_pack(w, 3, 4);
	CHECK(sp && sn_q8_spmm_bytes(sp) > 0);
	sn_q8_spmm_free(sp);
	sn_q8_spmm_free(NULL);
	for (int i = 0; sn_q8_path_name(i); i++) {
		if (sn_q8_force_path(sn_q8_path_name(i))) continue;
		char want[64];
		snprintf(want, sizeof want, "q8_spmm__%s", sn_q8_path_name(i));
		CHECKF(!strcmp(sn_q8_spmm_kernel(), want), "%s, expected %s", sn_q8_spmm_kernel(), want);
	}
	sn_q8_force_path(NULL);
}

/* Inside a parallel region each call runs alone on its thread, with its own scratch. */
TEST(q8_spmm_inside_parallel_region)
{
	int failures = 0;
	#pragma omp parallel for num_threads(2) reduction(+ : failures)
	for (int t = 0; t < 6; t++) {
		uint32_t st = 700 + (uint32_t)t;
		failures += spmm_case(pick(&st, 1, 80), pick(&st, 1, 300), t % 2 ? -pick(&st, 1, 70) : pick(&st, 1, 700), 0.2, &st, 0,
		                      "best") != 0;
	}
	CHECK(failures == 0);
}
