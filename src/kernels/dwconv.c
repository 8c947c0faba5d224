/* Depthwise convolution of one channel plane: packing, the kernel table and its dispatch, and
 * the forward, weight-gradient and input-gradient drivers (see kernels.h for the scheme). */
#include <stdint.h>
#include <string.h>
#include "kernels/kernels.h"

#define DW_VEC 8        /* lanes of the widest kernel: packed phases are whole vectors of it */

#define DW_ENTRY(shape, KH, KW, SH, isa, ISA)                                                      \
	{"sn_f32_dwconv_" #shape "__" #isa, KH, KW, SH, ISA, sn_f32_dwconv_##shape##__##isa,           \
	 sn_f32_dwconv_wgrad_##shape##__##isa}
#define DW_ENTRIES(isa, ISA)                                                                       \
	DW_ENTRY(3x3s1, 3, 3, 1, isa, ISA), DW_ENTRY(3x3s2, 3, 3, 2, isa, ISA),                        \
	DW_ENTRY(5x5s1, 5, 5, 1, isa, ISA), DW_ENTRY(5x5s2, 5, 5, 2, isa, ISA),                        \
	DW_ENTRY(any, 0, 0, 0, isa, ISA)

const sn_dw_kernel sn_dw_kernels[] = {DW_ENTRIES(avx2, SN_ISA_AVX2), DW_ENTRIES(scalar, SN_ISA_SCALAR)};
const int sn_dw_n_kernels = sizeof sn_dw_kernels / sizeof sn_dw_kernels[0];

sn_isa sn_dw_best_isa(void)
{
	return sn_cpu_avx512vl() ? SN_ISA_AVX512 : sn_cpu_avx2() ? SN_ISA_AVX2 : SN_ISA_SCALAR;
}

/* The row kernels, packers and stride-2 splitters of AVX512 are AVX2's. */
static sn_isa row_isa(sn_isa isa) { return isa == SN_ISA_AVX512 ? SN_ISA_AVX2 : isa; }

const sn_dw_kernel *sn_dw_select(sn_isa isa, int kh, int kw, int sh, int sw)
{
	const sn_dw_kernel *any = NULL;
	isa = row_isa(isa);
	for (int i = 0; i < sn_dw_n_kernels; i++) {
		const sn_dw_kernel *k = &sn_dw_kernels[i];
		if (k->isa != isa) continue;
		if (!k->kh) any = k;
		else if (k->kh == kh && k->kw == kw && k->sh == sh && sh == sw) return k;
	}
	return any;
}

/* ---------------------------------------------------------------- planes */

static size_t round_up(size_t x, size_t m) { return (x + m - 1) / m * m; }
static int gcd(int a, int b) { while (b) { int t = a % b; a = b; b = t; } return a; }
static size_t int_slots(int n) { return round_up((size_t)n, 16); }   /* ints kept in float scratch */

/* Floats of a phase: the last vector of an output row of ow columns, read at phase offsets up
 * to max_off, stays inside it, then the packer's slack. */
static size_t phase_floats(int ow, int max_off)
{
	return round_up(round_up((size_t)ow, DW_VEC) + (size_t)max_off, DW_VEC) + SN_DW_SLACK;
}

static size_t pack_floats(const sn_dw_pack *k) { return (size_t)(k->h + 1) * k->sw * k->phase; }  /* rows, zero row */

static void pack(sn_isa isa, const sn_dw_pack *k, const float *x, float *xp)
{
	if (row_isa(isa) == SN_ISA_AVX2) sn_f32_dw_pack__avx2(k, x, xp);
	else sn_f32_dw_pack__scalar(k, x, xp);
}

/* The forward conv reads x packed with its padding at stride sw: tap j at phase offset
 * (j*dw) % sw * phase + (j*dw) / sw. It runs in bands of output rows whose packed input rows
 * fit in about 16 KiB, so that they are still in L1 when the kernel reads them (at stride 2 a
 * whole packed plane would go to L2 and back). */
#define DW_BAND_FLOATS 4096

static sn_dw_pack forward_pack(const sn_conv_geom *g)
{
	sn_dw_pack k = {g->h, g->w, g->pl, g->sw, 0};
	k.phase = phase_floats(g->ow, (g->kw - 1) * g->dw / g->sw);
	return k;
}

static int band_height(const sn_conv_geom *g, size_t ld)
{
	const int reach = (g->kh - 1) * g->dh + 1, in_rows = (int)SN_MAX((size_t)reach + g->sh, DW_BAND_FLOATS / ld);
	return (in_rows - reach) / g->sh + 1;
}

/* Input rows [r0, r1) that output rows [oh0, oh1) read (the others are padding). */
static void band_rows(const sn_conv_geom *g, int oh0, int oh1, int *r0, int *r1)
{
	*r0 = sn_clampi(oh0 * g->sh - g->pt, 0, g->h);
	*r1 = sn_clampi((oh1 - 1) * g->sh - g->pt + (g->kh - 1) * g->dh + 1, *r0, g->h);
}

/* ---------------------------------------------------------------- flat path (sn_dw_flat)
 * 3x3 at stride 1 with the output as wide as the input, on rows narrower than DW_FLAT_MAX_W:
 * there the row kernels spend most of their time at the rows' borders (slower from 56 columns
 * on). 3x3 at stride 2 (dilation 1, padding up to 2) on planes of up to DW_FLAT_S2_MAX floats
 * (half of L2): splitting the plane into quarters once costs less than packing it row band by
 * row band, at every size measured (one thread, 3x3 s2 on MobileNetV2's planes: 576@14x14
 * 0.170 -> 0.052 ms, 192@28x28 0.231 -> 0.047, 144@56x56 0.273 -> 0.124, 96@112x112 0.640
 * -> 0.452). */
#define DW_FLAT_MAX_W 32
#define DW_FLAT_S2_MAX (64 * 1024)

/* Stride 2: without left padding the last output column's third tap reads past its quarter
 * row, so that column must be padding there. */
static int flat_s2(const sn_conv_geom *g)
{
	return g->sh == 2 && g->sw == 2 && g->dh == 1 && g->dw == 1 && g->pt <= 2 && g->pl <= 2 &&
	       (g->pl > 0 || 2 * g->ow >= g->w) && (size_t)g->h * g->w <= DW_FLAT_S2_MAX;
}

static int flat_path(const sn_conv_geom *g)
{
	const int k3 = g->kh == 3 && g->kw == 3, k5 = g->kh == 5 && g->kw == 5;
	return ((k3 || k5) && g->sh == 1 && g->sw == 1 && g->ow == g->w && g->w < DW_FLAT_MAX_W) || (k3 && flat_s2(g));
}

/* Stride 2: kernel row i reads quarter row u = r + front + floor((i - pt) / 2) for output row
 * r, so front = ceil(pt / 2) zero rows lead and rows up to oh + front are read. */
static sn_dw_quarters quarters(const sn_conv_geom *g)
{
	sn_dw_quarters k = {g->h, g->w, g->ow, (g->pt + 1) / 2, 0, 0};
	k.rows = g->oh + k.front + 1;
	k.size = round_up(DW_VEC + (size_t)k.rows * g->ow + 2 * DW_VEC, DW_VEC);   /* front margin, rows, slack */
	return k;
}

/* Floats of xf. Stride 1: the front that off[] reaches back, oh + 2*dh rows, the reach of the
 * last vector. Stride 2: the four quarters. */
static size_t flat_plane_floats(const sn_conv_geom *g)
{
	if (flat_s2(g)) return 4 * quarters(g).size;
	return (size_t)g->pl + (size_t)(g->oh + (g->kh - 1) * g->dh) * g->w + (size_t)(g->kw - 1) * g->dw + DW_VEC;
}

static size_t flat_mask_floats(const sn_conv_geom *g) { return round_up((size_t)g->oh * g->ow + DW_VEC, 16); }

static size_t flat_floats(const sn_conv_geom *g) { return (size_t)g->kw * flat_mask_floats(g) + flat_plane_floats(g); }

/* The offsets, the masks and the zero borders, once for all the planes of a call. Column j of
 * output column c lies at c + d in a row of `cols` floats: a mask where d != 0. */
static void flat_setup(const sn_conv_geom *g, int act, int masks, sn_dw_flat *f, float *scratch)
{
	const int n = g->oh * g->ow, s2 = flat_s2(g), cols = s2 ? g->ow : g->w;
	const sn_dw_quarters q = quarters(g);
	*f = (sn_dw_flat){.n = n, .ow = g->ow, .act = act};
	for (int i = 0; i < g->kh; i++)   /* stride 2: quarter (i - pt) mod 2 of the rows */
		f->row[i] = s2 ? (int)(2 * (size_t)((i - g->pt) & 1) * q.size) + (sn_floor_div(i - g->pt, 2) + q.front) * g->ow
		               : i * g->dh * g->w;
	for (int j = 0; j < g->kw; j++) {
		const int d = s2 ? sn_floor_div(j - g->pl, 2) : j * g->dw - g->pl;
		f->off[j] = s2 ? (int)(((j - g->pl) & 1) * q.size) + d : d;
		f->mask[j] = NULL;
		if (!d || !masks) continue;
		/* one row, then doubled: the pattern repeats every ow (a loop per value cost as much as
		 * a 28x28 plane's conv, and the fused pool's calls run it per few planes) */
		uint32_t *m = (uint32_t *)scratch + (size_t)j * flat_mask_floats(g);
		const size_t len = (size_t)n + DW_VEC;
		for (int c = 0; c < g->ow; c++) m[c] = (unsigned)(c + d) < (unsigned)cols ? UINT32_MAX : 0;
		for (size_t have = (size_t)g->ow; have < len; have *= 2) memcpy(m + have, m, SN_MIN(have, len - have) * sizeof *m);
		f->mask[j] = (const float *)m;
	}
	memset(scratch + (size_t)g->kw * flat_mask_floats(g), 0, flat_plane_floats(g) * sizeof *scratch);
}

typedef void (*flat_fn)(const sn_dw_flat *f, const float *xf, const float *w, float bias, float *y);
typedef void (*quarters_fn)(const sn_dw_quarters *k, const float *x, float *xq);
/* [3x3, 5x5]; masks: the kernels read sn_dw_flat's mask arrays (AVX512's walk rows, stride 1
 * only: its stride 2 is AVX2's) */
static const struct { const char *name[2]; flat_fn fn[2]; quarters_fn split; int masks; } flat_kernels[] = {
	[SN_ISA_SCALAR] = {{"sn_f32_dwconv_flat_3x3__scalar", "sn_f32_dwconv_flat_5x5__scalar"},
	                   {sn_f32_dwconv_flat_3x3__scalar, sn_f32_dwconv_flat_5x5__scalar}, sn_f32_dw_quarters__scalar, 1},
	[SN_ISA_AVX2] = {{"sn_f32_dwconv_flat_3x3__avx2", "sn_f32_dwconv_flat_5x5__avx2"},
	                 {sn_f32_dwconv_flat_3x3__avx2, sn_f32_dwconv_flat_5x5__avx2}, sn_f32_dw_quarters__avx2, 1},
	[SN_ISA_AVX512] = {{"sn_f32_dwconv_flat_3x3__avx512vl", "sn_f32_dwconv_flat_5x5__avx512vl"},
	                   {sn_f32_dwconv_flat_3x3__avx512vl, sn_f32_dwconv_flat_5x5__avx512vl}, NULL, 0},
};

/* AVX512's flat kernels run whole vectors per row: where they measured faster than AVX2's (one
 * thread, Zen 4: 5x5 240@28x28 0.197 -> 0.131 ms, 672@14x14 0.161 -> 0.112, 1152@7x7 0.101 ->
 * 0.069; 3x3 144@28x28 0.046 -> 0.036, 960@7x7 0.032 -> 0.025), that is without dilation (one row
 * a step there) and on rows that fill most of their vectors (5x5: 7 columns and up, at least
 * 70 % of the lanes; 3x3, whose row groups save less: 85 %). */
static int flat_rows_fit(const sn_conv_geom *g)
{
	if (flat_s2(g) || g->dh != 1 || g->dw != 1) return 0;
	const int used = 100 * g->ow / ((g->ow + DW_VEC - 1) / DW_VEC * DW_VEC);
	return g->kh == 5 ? g->ow >= 7 && used >= 70 : used >= 85;
}

static sn_isa flat_isa(sn_isa isa, const sn_conv_geom *g) { return flat_rows_fit(g) ? isa : row_isa(isa); }

static void flat_forward(sn_isa isa, const sn_conv_geom *g, const float *x, const float *w, const float *bias,
                         int nx, int nm, int act, float *y, float *scratch)
{
	const int s2 = flat_s2(g);
	isa = flat_isa(isa, g);
	const flat_fn fn = flat_kernels[isa].fn[g->kh == 5];
	const sn_dw_quarters q = quarters(g);
	sn_dw_flat f;
	flat_setup(g, act, flat_kernels[isa].masks, &f, scratch);
	float *plane = scratch + (size_t)g->kw * flat_mask_floats(g);
	float *xf = s2 ? plane + DW_VEC : plane + g->pl;   /* output p = 0 reads from here */
	const size_t xhw = (size_t)g->h * g->w, ohw = (size_t)g->oh * g->ow, kk = (size_t)g->kh * g->kw;
	for (int i = 0; i < nx; i++) {
		if (s2) flat_kernels[isa].split(&q, x + i * xhw, xf);
		else memcpy(xf + (size_t)g->pt * g->w, x + i * xhw, xhw * sizeof *x);
		for (int m = 0; m < nm; m++) {
			const size_t o = (size_t)i * nm + m;
			fn(&f, xf, w + o * kk, bias ? bias[o] : 0.0f, y + o * ohw);
		}
	}
}

/* At stride 1 the rows are read in place (packing would take about a third of the time), but
 * narrow rows of wide kernels, whose masked border vectors (one mask per kernel column) would
 * cost more than packing. */
static int in_place_width(int ow, int kw) { return ow >= (kw <= 3 ? 8 : 32); }
static int in_place(const sn_conv_geom *g) { return g->sw == 1 && in_place_width(g->ow, g->kw); }

/* the row kernels' scratch: forward_bands, which also runs the weight gradient */
static size_t band_floats(const sn_conv_geom *g)
{
	if (in_place(g)) return int_slots(g->kw) + (size_t)g->w;   /* offsets, a row of zeros */
	const sn_dw_pack k = forward_pack(g);
	const size_t ld = (size_t)g->sw * k.phase;
	const int rows = SN_MIN(g->h, (band_height(g, ld) - 1) * g->sh + (g->kh - 1) * g->dh + 1);
	return int_slots(g->kw) + (size_t)(rows + 1) * ld;   /* offsets, a band's rows, the zero row */
}

/* Runs the forward (dy NULL) or weight-gradient kernel of isa over x for every output channel
 * m < nm (y, w: nm planes and kernels; dw += for the weight gradient): in place, or in bands
 * whose input rows are packed after the column offsets in scratch. */
static void forward_bands(sn_isa isa, const sn_conv_geom *g, const float *x, const float *w, const float *bias, int nm,
                          int act, float *y, const float *dy, float *dw, float *scratch)
{
	sn_dw_pack k = forward_pack(g);
	const size_t kk = (size_t)g->kh * g->kw, ohw = (size_t)g->oh * g->ow;
	const sn_dw_kernel *kn = sn_dw_select(isa, g->kh, g->kw, g->sh, g->sw);
	const int direct = in_place(g);
	const size_t ld = direct ? (size_t)g->w : (size_t)g->sw * k.phase;
	const int band = direct ? g->oh : band_height(g, ld);
	int *co = (int *)scratch;
	float *rows = scratch + int_slots(g->kw);
	for (int j = 0; j < g->kw; j++)
		co[j] = direct ? j * g->dw - g->pl : j * g->dw % g->sw * (int)k.phase + j * g->dw / g->sw;
	if (direct) memset(rows, 0, g->w * sizeof *rows);
	for (int oh0 = 0; oh0 < g->oh; oh0 += band) {
		const int oh1 = SN_MIN(g->oh, oh0 + band);
		int r0 = 0, r1 = g->h;
		if (!direct) {
			band_rows(g, oh0, oh1, &r0, &r1);
			k.h = r1 - r0;
			pack(isa, &k, x + (size_t)r0 * g->w, rows);
		}
		sn_dw_params p = {.kh = g->kh, .kw = g->kw, .sh = g->sh, .dh = g->dh, .oh = oh1 - oh0, .ow = g->ow,
		                  .rows = r1 - r0, .top = r0 - oh0 * g->sh + g->pt, .coloff = co, .w = direct ? g->w : 0,
		                  .ld = ld, .zero = direct ? rows : rows + (size_t)(r1 - r0) * ld, .act = act};
		const float *xr = direct ? x : rows;
		const size_t at = (size_t)oh0 * g->ow;
		for (int m = 0; m < nm; m++) {
			if (dy) kn->wgrad(&p, xr, dy + m * ohw + at, dw + m * kk);
			else kn->fwd(&p, xr, w + m * kk, bias ? bias[m] : 0.0f, y + m * ohw + at);
		}
	}
}

void sn_f32_dwconv_forward(sn_isa isa, const sn_conv_geom *g, const float *x, const float *w, const float *bias,
                           int nx, int nm, int act, float *y, float *scratch)
{
	if (flat_path(g)) { flat_forward(isa, g, x, w, bias, nx, nm, act, y, scratch); return; }
	const size_t xhw = (size_t)g->h * g->w, ohw = (size_t)g->oh * g->ow, kk = (size_t)g->kh * g->kw;
	for (int i = 0; i < nx; i++) {
		const size_t o = (size_t)i * nm;
		forward_bands(isa, g, x + i * xhw, w + o * kk, bias ? bias + o : NULL, nm, act, y + o * ohw, NULL, NULL, scratch);
	}
}

const char *sn_dw_kernel_name(sn_isa isa, const sn_conv_geom *g)
{
	if (flat_path(g)) return flat_kernels[flat_isa(isa, g)].name[g->kh == 5];
	return sn_dw_select(isa, g->kh, g->kw, g->sh, g->sw)->name;
}

/* ---------------------------------------------------------------- input gradient
 * Padded input row R gets dy[oh] * w[i] where R = oh*sh + i*dh. Rows R = sh*u + a (phase a) are
 * reached by the taps i with i*dh = sh*q_i + a, from oh = u - q_i: a stride-1 correlation of dy
 * with those taps, flipped. They are i = first, first + step, ... (step = sh / gcd(dh, sh)) and
 * q_i grows by dh / gcd per tap: the phase's kernel has that dilation. Columns likewise. */
typedef struct {
	int n, first, step;     /* taps first, first + step, ... (n of them) */
	int dil, qmax;          /* q spacing between them, q of the last one */
	int lo, count;          /* the phase's positions u in [lo, lo + count) lie inside the input */
} dw_phase;

/* Phase of tap `first` (first < step) for kernel size k, dilation d, stride s, padding pad,
 * input size n. */
static dw_phase phase_of(int first, int k, int d, int s, int pad, int n)
{
	if (s == 1) return (dw_phase){.n = k, .first = 0, .step = 1, .dil = d, .qmax = (k - 1) * d, .lo = pad, .count = n};
	int gd = gcd(d, s), a = first * d % s;
	dw_phase ph = {.first = first, .step = s / gd, .dil = d / gd};
	ph.n = (k - 1 - first) / ph.step + 1;
	ph.qmax = ((first + (ph.n - 1) * ph.step) * d - a) / s;
	ph.lo = sn_ceil_div(pad - a, s);
	ph.count = SN_MAX(0, sn_floor_div(n - 1 + pad - a, s) - ph.lo + 1);
	return ph;
}

static int phase_count(int k, int d, int s) { return s == 1 ? 1 : SN_MIN(k, s / gcd(d, s)); }

/* The next phase pair (row phase, column phase) with taps and positions, in a fixed order;
 * *it starts at 0. Returns 0 after the last. */
static int next_phase(const sn_conv_geom *g, int *it, dw_phase *ra, dw_phase *cb)
{
	const int nb = phase_count(g->kw, g->dw, g->sw), n = phase_count(g->kh, g->dh, g->sh) * nb;
	while (*it < n) {
		int k = (*it)++;
		*ra = phase_of(k / nb, g->kh, g->dh, g->sh, g->pt, g->h);
		*cb = phase_of(k % nb, g->kw, g->dw, g->sw, g->pl, g->w);
		if (ra->count && cb->count) return 1;
	}
	return 0;
}

static int direct_dx(const sn_conv_geom *g) { return g->sh == 1 && g->sw == 1; }

/* dy, packed at stride 1 with P zero columns in front, P >= every column phase's qmax (so that
 * the phases read at offsets >= 0); the phase fits the widest column phase. */
static sn_dw_pack dy_pack(const sn_conv_geom *g)
{
	sn_dw_pack k = {g->oh, g->ow, (g->kw - 1) * g->dw / g->sw, 1, phase_floats(0, 0)};
	dw_phase ra, cb;
	for (int it = 0; next_phase(g, &it, &ra, &cb);)
		k.phase = SN_MAX(k.phase, phase_floats(cb.count, (cb.n - 1) * cb.dil + cb.lo - cb.qmax + k.padl));
	return k;
}

/* dy is read in place when every phase's rows are wide enough (see in_place), else packed. */
static int dy_in_place(const sn_conv_geom *g)
{
	dw_phase ra, cb;
	for (int it = 0; next_phase(g, &it, &ra, &cb);)
		if (!in_place_width(cb.count, cb.n)) return 0;
	return 1;
}

/* offsets, flipped taps, dy packed (or a row of zeros), and the phases' planes unless dx is
 * written directly */
static size_t dgrad_floats(const sn_conv_geom *g)
{
	const int inplace = dy_in_place(g);
	const sn_dw_pack k = inplace ? (sn_dw_pack){0} : dy_pack(g);
	return int_slots(g->kw) + round_up((size_t)g->kh * g->kw, 16) + (inplace ? (size_t)g->ow : pack_floats(&k)) +
	       (direct_dx(g) ? 0 : (size_t)g->h * g->w);
}

/* Adds phase (ra, cb)'s plane t [ra.count x cb.count] into dx at its strided positions. */
static void scatter_phase(const sn_conv_geom *g, const dw_phase *ra, const dw_phase *cb, const float *t, float *dx)
{
	const int a = ra->first * g->dh % g->sh, b = cb->first * g->dw % g->sw;
	for (int r = 0; r < ra->count; r++) {
		float *row = dx + (size_t)(g->sh * (ra->lo + r) + a - g->pt) * g->w + g->sw * cb->lo + b - g->pl;
		for (int c = 0; c < cb->count; c++) row[(size_t)c * g->sw] += t[(size_t)r * cb->count + c];
	}
}

/* One phase of one output channel: its flipped taps into wsub, its kernel over dy, whose rows
 * (in place or packed) base describes. */
static void dgrad_phase(sn_isa isa, const sn_conv_geom *g, const dw_phase *ra, const dw_phase *cb, sn_dw_params base,
                        int padl, const float *rows, const float *w, int init, float *out, float *scratch)
{
	int *co = (int *)scratch;
	float *wsub = scratch + int_slots(g->kw);
	for (int i = 0; i < ra->n; i++)
		for (int j = 0; j < cb->n; j++)
			wsub[i * cb->n + j] = w[(size_t)(ra->first + (ra->n - 1 - i) * ra->step) * g->kw +
			                        cb->first + (cb->n - 1 - j) * cb->step];
	for (int j = 0; j < cb->n; j++) co[j] = j * cb->dil + cb->lo - cb->qmax + padl;
	sn_dw_params p = base;
	p.kh = ra->n; p.kw = cb->n; p.sh = 1; p.dh = ra->dil; p.oh = ra->count; p.ow = cb->count;
	p.top = ra->qmax - ra->lo; p.coloff = co; p.init = init;
	sn_dw_select(isa, ra->n, cb->n, 1, 1)->fwd(&p, rows, wsub, 0.0f, out);
}

static void dgrad(sn_isa isa, const sn_conv_geom *g, const float *dy, const float *w, int nm, float *dx,
                  int accumulate, float *scratch)
{
	const int direct = direct_dx(g), inplace = dy_in_place(g);
	const sn_dw_pack k = inplace ? (sn_dw_pack){0} : dy_pack(g);
	const size_t kk = (size_t)g->kh * g->kw, ohw = (size_t)g->oh * g->ow;
	float *dyp = scratch + int_slots(g->kw) + round_up(kk, 16);
	float *tmp = dyp + (inplace ? (size_t)g->ow : pack_floats(&k));   /* the phases' planes */
	const sn_dw_params base = {.rows = g->oh, .w = inplace ? g->ow : 0, .ld = inplace ? (size_t)g->ow : k.phase,
	                           .zero = inplace ? dyp : dyp + (size_t)g->oh * k.phase};
	dw_phase ra, cb;
	if (inplace) memset(dyp, 0, g->ow * sizeof *dyp);
	if (!direct && !accumulate) memset(dx, 0, (size_t)g->h * g->w * sizeof *dx);
	for (int m = 0; m < nm; m++) {
		if (!inplace) pack(isa, &k, dy + m * ohw, dyp);
		float *t = tmp;
		for (int it = 0; next_phase(g, &it, &ra, &cb); t += (size_t)ra.count * cb.count)
			dgrad_phase(isa, g, &ra, &cb, base, inplace ? 0 : k.padl, inplace ? dy + m * ohw : dyp, w + m * kk,
			            direct ? m > 0 || accumulate : m > 0, direct ? dx : t, scratch);
	}
	if (direct) return;
	float *t = tmp;
	for (int it = 0; next_phase(g, &it, &ra, &cb); t += (size_t)ra.count * cb.count) scatter_phase(g, &ra, &cb, t, dx);
}

/* ---------------------------------------------------------------- backward */

size_t sn_f32_dwconv_buffer_size(const sn_conv_geom *g, int backward)
{
	size_t f = flat_path(g) ? flat_floats(g) : band_floats(g);
	return backward ? SN_MAX(SN_MAX(f, band_floats(g)), dgrad_floats(g)) : f;
}

void sn_f32_dwconv_backward(sn_isa isa, const sn_conv_geom *g, const float *x, const float *dy, const float *w,
                            int nm, float *dx, int accumulate, float *dw, float *scratch)
{
	if (dw) forward_bands(isa, g, x, NULL, NULL, nm, 0, NULL, dy, dw, scratch);
	if (dx) dgrad(isa, g, dy, w, nm, dx, accumulate, scratch);
}
