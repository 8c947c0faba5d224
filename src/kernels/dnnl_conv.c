/* Dense convolutions on oneDNN (kernels/dnnl_conv.h). A handle is a list of steps per pass, each
 * a oneDNN primitive (a reorder or a convolution) with its arguments bound at creation; the
 * arguments are memory objects that point, at each run, into the caller's tensors or into the
 * caller's scratch at offsets fixed at creation. */
#include <math.h>
#include <omp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <oneapi/dnnl/dnnl.h>
#include "kernels/dnnl_conv.h"
#include "kernels/kernels.h"

/* The caller's tensors a memory object may point into (U_WP: the forward's packed weights, the
 * handle's or the scratch's); others point into the scratch. */
enum { U_X, U_W, U_WP, U_B, U_Y, U_DY, U_DX, U_DW, U_N };
/* When a step runs: the results it serves (forward, input or weight gradient; packing the
 * forward's weights), and whether the input gradient is accumulated into dx (ACC) or overwrites
 * it (SET); neither: either way. */
enum { N_FWD = 1, N_DATA = 2, N_WEIGHTS = 4, N_PACK = 8 };
enum { A_ANY, A_ACC, A_SET };

#define MAX_MEM 20
#define MAX_STEP 12

typedef struct {
	dnnl_memory_t m;
	int user;               /* U_*, or -1: the scratch at off */
	size_t off;
	const dnnl_memory_desc_t *md;   /* its layout (the memory object's own) */
	int made_by;            /* the memory a reorder step makes it from, or -1 */
	const void *pass;       /* the pass whose scratch holds it (NULL: the caller's tensor) */
} mem;

typedef struct {
	dnnl_primitive_t p;
	int nargs, need, acc;
	dnnl_exec_arg_t args[6];
} step;

typedef struct {
	step s[MAX_STEP];
	int n;
	size_t ws;              /* scratch bytes of this pass */
} pass;

/* The caller's layouts (x, y, w, b) and oneDNN's free choice (*a), and the geometry. */
typedef struct { dnnl_memory_desc_t x, y, w, b, xa, ya, wa; dnnl_dims_t st, dil, pl, pr; } descs;

struct sn_dnnl_conv {
	sn_dnnl_conv_desc d;
	descs s;                /* the layouts the primitives are made from */
	dnnl_stream_t stream;
	mem m[MAX_MEM];
	int nm;
	pass fwd, bwd;
	dnnl_primitive_desc_t pds[8];   /* kept while the handle lives (build_forward reads their layouts) */
	int npd;
	size_t db_off;          /* scratch offset of the bias gradient (backward) */
	size_t packed_bytes;    /* the forward's weights in its layout (0: it reads OIHW) */
	void *packed;           /* SN_DNNL_PACKED: where they are kept (NULL: the scratch, every run) */
	int packed_owned;       /* 0: another handle's (sn_dnnl_conv_share_packed) */
	const float *packed_from;   /* the weights packed last (NULL: none yet, or forgotten) */
	float sample[SN_DNNL_SAMPLES];   /* some of their values then */
	int threads;            /* sn_get_threads() when made: oneDNN sizes its work split and scratch by it */
	double intensity;
	char impl[2][96];
};

static dnnl_engine_t engine;
static int engine_ok;
static void engine_init(void)
{
	engine_ok = dnnl_engine_create(&engine, dnnl_cpu, 0) == dnnl_success;
}

int sn_dnnl_available(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, engine_init);
	return engine_ok;
}

/* A choice from the environment variable var (names[i] gives i; unset or unknown: 0), read once
 * into *set unless set since. */
static int env_choice(int *set, const char *var, const char *const names[3])
{
	int m = __atomic_load_n(set, __ATOMIC_ACQUIRE);
	if (m >= 0) return m;
	const char *e = getenv(var);
	m = 0;
	for (int i = 1; i < 3; i++)
		if (e && !strcmp(e, names[i])) m = i;
	__atomic_store_n(set, m, __ATOMIC_RELEASE);
	return m;
}

static int mode_set = -1, wino_set = -1;
int sn_dnnl_mode(void)
{
	static const char *const names[3] = {[SN_DNNL_AUTO] = "auto", [SN_DNNL_ONEDNN] = "onednn", [SN_DNNL_OWN] = "own"};
	return env_choice(&mode_set, "SLIMNN_CONV_ENGINE", names);
}
void sn_dnnl_set_mode(int mode) { __atomic_store_n(&mode_set, mode < 0 ? -1 : mode, __ATOMIC_RELEASE); }
int sn_dnnl_winograd(void)
{
	static const char *const names[3] = {[SN_DNNL_WINO_AUTO] = "auto", [SN_DNNL_WINO_ON] = "on", [SN_DNNL_WINO_OFF] = "off"};
	return env_choice(&wino_set, "SLIMNN_CONV_WINOGRAD", names);
}
void sn_dnnl_set_winograd(int mode) { __atomic_store_n(&wino_set, mode < 0 ? -1 : mode, __ATOMIC_RELEASE); }

static size_t align64(size_t x) { return (x + 63) & ~(size_t)63; }

/* A memory object for md: the caller's tensor `user`, or `bytes` of scratch in pass p. */
static int add_mem(sn_dnnl_conv *c, pass *p, const dnnl_memory_desc_t *md, int user)
{
	if (c->nm == MAX_MEM) return -1;
	mem *m = &c->m[c->nm];
	if (dnnl_memory_create(&m->m, md, engine, DNNL_MEMORY_NONE) != dnnl_success) return -1;
	m->user = user;
	dnnl_memory_get_memory_desc(m->m, &m->md);   /* md may be a primitive descriptor's that goes */
	m->made_by = -1;
	m->pass = user < 0 ? p : NULL;
	if (user < 0) {
		m->off = p->ws;
		p->ws += align64(dnnl_memory_desc_get_size(md));
	}
	return c->nm++;
}

static int add_step(pass *p, dnnl_primitive_desc_t pd, int need, int acc)
{
	if (p->n == MAX_STEP) return -1;
	step *s = &p->s[p->n];
	if (dnnl_primitive_create(&s->p, pd) != dnnl_success) return -1;
	s->nargs = 0;
	s->need = need;
	s->acc = acc;
	return p->n++;
}

static void arg(sn_dnnl_conv *c, pass *p, int st, int which, int mi)
{
	step *s = &p->s[st];
	s->args[s->nargs++] = (dnnl_exec_arg_t){which, c->m[mi].m};
}

/* Scratch memory for a primitive's own scratchpad, bound to step st (none when empty). */
static int scratchpad(sn_dnnl_conv *c, pass *p, dnnl_primitive_desc_t pd, int st)
{
	const dnnl_memory_desc_t *md = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
	if (!md || !dnnl_memory_desc_get_size(md)) return 0;
	int m = add_mem(c, p, md, -1);
	if (m < 0) return -1;
	arg(c, p, st, DNNL_ARG_SCRATCHPAD, m);
	return 0;
}

/* A reorder step from memory a to memory b, adding into b when sum. Its scratchpad (Winograd's
 * weight transform needs one as large as the weights) is the caller's scratch too. */
static int add_reorder(sn_dnnl_conv *c, pass *p, int a, int b, int sum, int need, int acc)
{
	dnnl_primitive_attr_t attr;
	if (dnnl_primitive_attr_create(&attr) != dnnl_success) return -1;
	dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);
	if (sum) {
		dnnl_post_ops_t po = NULL;
		dnnl_post_ops_create(&po);
		dnnl_post_ops_append_sum(po, 1.0f);
		dnnl_primitive_attr_set_post_ops(attr, po);
		dnnl_post_ops_destroy(po);
	}
	dnnl_primitive_desc_t pd;
	dnnl_status_t s = dnnl_reorder_primitive_desc_create(&pd, c->m[a].md, engine, c->m[b].md, engine, attr);
	dnnl_primitive_attr_destroy(attr);
	if (s != dnnl_success) return -1;
	int st = add_step(p, pd, need, acc);
	if (st >= 0) {
		arg(c, p, st, DNNL_ARG_FROM, a);
		arg(c, p, st, DNNL_ARG_TO, b);
		if (scratchpad(c, p, pd, st)) st = -1;
	}
	dnnl_primitive_desc_destroy(pd);
	return st;
}

/* The memory a primitive reads for the caller's tensor `user` (layout `plain`): the tensor
 * itself where oneDNN wants that layout, else scratch that a reorder step fills first. A layout
 * already made from the same tensor in this pass is shared (the step that makes it then serves
 * both needs). */
static int input(sn_dnnl_conv *c, pass *p, const dnnl_memory_desc_t *want, const dnnl_memory_desc_t *plain, int user,
                 int need)
{
	if (dnnl_memory_desc_equal(want, plain)) {
		for (int i = 0; i < c->nm; i++)
			if (c->m[i].user == user) return i;
		return add_mem(c, p, plain, user);
	}
	for (int i = 0; i < c->nm; i++)
		if (c->m[i].pass == p && c->m[i].made_by >= 0 && c->m[c->m[i].made_by].user == user &&
		    dnnl_memory_desc_equal(c->m[i].md, want)) {
			for (int k = 0; k < p->n; k++)
				if (p->s[k].nargs == 2 && p->s[k].args[1].memory == c->m[i].m) p->s[k].need |= need;
			return i;
		}
	int src = -1;
	for (int i = 0; i < c->nm; i++)
		if (c->m[i].user == user && dnnl_memory_desc_equal(c->m[i].md, plain)) src = i;
	if (src < 0 && (src = add_mem(c, p, plain, user)) < 0) return -1;
	int dst = add_mem(c, p, want, -1);
	if (dst < 0 || add_reorder(c, p, src, dst, 0, need, A_ANY) < 0) return -1;
	c->m[dst].made_by = src;
	return dst;
}

/* The caller's tensor `user` in layout plain, as a memory object (shared within the handle). */
static int user_mem(sn_dnnl_conv *c, pass *p, const dnnl_memory_desc_t *plain, int user)
{
	for (int i = 0; i < c->nm; i++)
		if (c->m[i].user == user && dnnl_memory_desc_equal(c->m[i].md, plain)) return i;
	return add_mem(c, p, plain, user);
}

static int keep_pd(sn_dnnl_conv *c, dnnl_primitive_desc_t pd)
{
	if (c->npd == (int)(sizeof c->pds / sizeof c->pds[0])) { dnnl_primitive_desc_destroy(pd); return -1; }
	c->pds[c->npd++] = pd;
	return 0;
}

/* Attributes of a conv: scratch from the caller, and the fused activation (forward). ReLU is
 * clip(0, inf), which gives 0 for NaN on every oneDNN kernel, as slimnn's ReLU operator and own
 * kernels do; oneDNN's relu did in its JIT kernels (max(x, 0)) but let NaN through in its
 * im2col + GEMM and reference ones (x > 0 ? x : 0 * x), and in its Winograd ones (which take no
 * clip): those run it as a step of its own (act_step). */
static dnnl_primitive_attr_t conv_attr(int act)
{
	dnnl_primitive_attr_t attr;
	if (dnnl_primitive_attr_create(&attr) != dnnl_success) return NULL;
	dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);
	if (act != SN_KACT_NONE) {
		dnnl_post_ops_t po;
		dnnl_post_ops_create(&po);
		dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_clip, 0.0f, act == SN_KACT_RELU ? INFINITY : 6.0f);
		dnnl_primitive_attr_set_post_ops(attr, po);
		dnnl_post_ops_destroy(po);
	}
	return attr;
}

/* A step that applies the activation act to memory m in place (oneDNN's clip, as conv_attr's). */
static int act_step(sn_dnnl_conv *c, pass *p, int m, int act)
{
	dnnl_eltwise_desc_t ed;
	dnnl_primitive_desc_t pd;
	dnnl_primitive_attr_t attr = conv_attr(SN_KACT_NONE);
	const int bad = !attr ||
	                dnnl_eltwise_forward_desc_init(&ed, dnnl_forward_inference, dnnl_eltwise_clip, c->m[m].md, 0.0f,
	                                               act == SN_KACT_RELU ? INFINITY : 6.0f) != dnnl_success ||
	                dnnl_primitive_desc_create(&pd, &ed, attr, engine, NULL) != dnnl_success;
	if (attr) dnnl_primitive_attr_destroy(attr);
	if (bad) return -1;
	const int st = add_step(p, pd, N_FWD, A_ANY);
	if (st >= 0) {
		arg(c, p, st, DNNL_ARG_SRC, m);
		arg(c, p, st, DNNL_ARG_DST, m);
	}
	const int rc = st < 0 ? -1 : scratchpad(c, p, pd, st);
	dnnl_primitive_desc_destroy(pd);
	return rc;
}

static void make_descs(const sn_dnnl_conv_desc *d, descs *s)
{
	if (d->inner) {
		dnnl_dims_t xd = {d->n, d->c}, yd = {d->n, d->o}, wd = {d->o, d->c}, bd = {d->o};
		dnnl_memory_desc_init_by_tag(&s->x, 2, xd, dnnl_f32, dnnl_nc);
		dnnl_memory_desc_init_by_tag(&s->y, 2, yd, dnnl_f32, dnnl_nc);
		dnnl_memory_desc_init_by_tag(&s->w, 2, wd, dnnl_f32, dnnl_oi);
		dnnl_memory_desc_init_by_tag(&s->b, 1, bd, dnnl_f32, dnnl_x);
		dnnl_memory_desc_init_by_tag(&s->xa, 2, xd, dnnl_f32, dnnl_format_tag_any);
		dnnl_memory_desc_init_by_tag(&s->ya, 2, yd, dnnl_f32, dnnl_format_tag_any);
		dnnl_memory_desc_init_by_tag(&s->wa, 2, wd, dnnl_f32, dnnl_format_tag_any);
		return;
	}
	dnnl_dims_t xd = {d->n, d->c, d->h, d->w}, yd = {d->n, d->o, d->oh, d->ow}, bd = {d->o};
	dnnl_memory_desc_init_by_tag(&s->x, 4, xd, dnnl_f32, dnnl_nchw);
	dnnl_memory_desc_init_by_tag(&s->y, 4, yd, dnnl_f32, dnnl_nchw);
	dnnl_memory_desc_init_by_tag(&s->b, 1, bd, dnnl_f32, dnnl_x);
	dnnl_memory_desc_init_by_tag(&s->xa, 4, xd, dnnl_f32, dnnl_format_tag_any);
	dnnl_memory_desc_init_by_tag(&s->ya, 4, yd, dnnl_f32, dnnl_format_tag_any);
	if (d->groups == 1) {
		dnnl_dims_t wd = {d->o, d->c, d->kh, d->kw};
		dnnl_memory_desc_init_by_tag(&s->w, 4, wd, dnnl_f32, dnnl_oihw);
		dnnl_memory_desc_init_by_tag(&s->wa, 4, wd, dnnl_f32, dnnl_format_tag_any);
	} else {
		dnnl_dims_t wd = {d->groups, d->o / d->groups, d->c / d->groups, d->kh, d->kw};
		dnnl_memory_desc_init_by_tag(&s->w, 5, wd, dnnl_f32, dnnl_goihw);
		dnnl_memory_desc_init_by_tag(&s->wa, 5, wd, dnnl_f32, dnnl_format_tag_any);
	}
	s->st[0] = d->sh; s->st[1] = d->sw;
	s->dil[0] = d->dh - 1; s->dil[1] = d->dw - 1;
	s->pl[0] = d->pt; s->pl[1] = d->pl;
	s->pr[0] = d->pb; s->pr[1] = d->pr;
}

/* The forward pass: [reorder x] [pack w] conv [reorder y], where packing reorders w into the
 * handle's packed memory or the scratch past everything else (fwd.ws). The direct conv is
 * oneDNN's training forward (the same numbers): for inference oneDNN 2.6 picks its brgconv
 * kernels in NHWC, and the NCHW <-> NHWC transposes around them cost more than the blocked
 * (nChw16c) reorders around its jit kernels; the whole forward measured 1.16-1.36x slimnn's own
 * path on the 3x3 convs of bench/ that way against 1.04-1.10x. Winograd is its inference forward:
 * that one reads the weights transformed (the reorder that packs them does it). */
static int build_forward(sn_dnnl_conv *c, descs *s, int wino)
{
	const sn_dnnl_conv_desc *d = &c->d;
	dnnl_convolution_desc_t cd;
	dnnl_inner_product_desc_t id;
	if (d->inner ? dnnl_inner_product_forward_desc_init(&id, dnnl_forward_inference, &s->xa, &s->wa,
	                                                    d->bias ? &s->b : NULL, &s->ya) != dnnl_success
	             : dnnl_dilated_convolution_forward_desc_init(&cd, wino ? dnnl_forward_inference : dnnl_forward_training,
	                                                          wino ? dnnl_convolution_winograd : dnnl_convolution_direct,
	                                                          &s->xa, &s->wa, d->bias ? &s->b : NULL, &s->ya, s->st,
	                                                          s->dil, s->pl, s->pr) != dnnl_success)
		return -1;
	dnnl_primitive_attr_t attr = conv_attr(wino ? SN_KACT_NONE : d->act);
	dnnl_primitive_desc_t pd;
	dnnl_status_t rc = dnnl_primitive_desc_create(&pd, d->inner ? (const_dnnl_op_desc_t)&id : (const_dnnl_op_desc_t)&cd,
	                                              attr, engine, NULL);
	dnnl_primitive_attr_destroy(attr);
	if (rc != dnnl_success || keep_pd(c, pd)) return -1;
	const char *impl = NULL;
	dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
	snprintf(c->impl[0], sizeof c->impl[0], "%s", impl ? impl : "?");
	pass *p = &c->fwd;
	const dnnl_memory_desc_t *xw = dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0),
	                         *yw = dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
	const int xm = input(c, p, xw, &s->x, U_X, N_FWD);
	const dnnl_memory_desc_t *ww = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
	const int wu = user_mem(c, p, &s->w, U_W), wm = dnnl_memory_desc_equal(ww, &s->w) ? wu : add_mem(c, p, ww, U_WP);
	if (wu < 0 || wm < 0 || (wm != wu && add_reorder(c, p, wu, wm, 0, N_PACK, A_ANY) < 0)) return -1;
	c->packed_bytes = wm != wu ? align64(dnnl_memory_desc_get_size(ww)) : 0;
	const int bm = d->bias ? user_mem(c, p, &s->b, U_B) : 0;
	const int yu = user_mem(c, p, &s->y, U_Y);
	const int ym = dnnl_memory_desc_equal(yw, &s->y) ? yu : add_mem(c, p, yw, -1);
	if (xm < 0 || wm < 0 || bm < 0 || yu < 0 || ym < 0) return -1;
	const int st = add_step(p, pd, N_FWD, A_ANY);
	if (st < 0) return -1;
	arg(c, p, st, DNNL_ARG_SRC, xm);
	arg(c, p, st, DNNL_ARG_WEIGHTS, wm);
	if (d->bias) arg(c, p, st, DNNL_ARG_BIAS, bm);
	arg(c, p, st, DNNL_ARG_DST, ym);
	if (scratchpad(c, p, pd, st) || (wino && d->act != SN_KACT_NONE && act_step(c, p, ym, d->act)) ||
	    (ym != yu && add_reorder(c, p, ym, yu, 0, N_FWD, A_ANY) < 0))
		return -1;
	const double macs = (double)d->n * d->o * d->oh * d->ow * (d->c / d->groups) * d->kh * d->kw;
	const double moved = (dnnl_memory_desc_equal(xw, &s->x) ? 0 : (double)d->n * d->c * d->h * d->w) +
	                     (ym == yu ? 0 : (double)d->n * d->o * d->oh * d->ow);
	c->intensity = moved > 0 ? macs / moved : 1e30;
	return 0;
}

/* The backward pass: the input gradient ([reorder dy] [reorder w] conv [reorder dx, or add it
 * into dx]) and the weight gradients ([reorder x] conv, dW added into dw, db kept for a loop). */
static int build_backward(sn_dnnl_conv *c, descs *s)
{
	const sn_dnnl_conv_desc *d = &c->d;
	dnnl_convolution_desc_t fd, dd, wd;
	dnnl_primitive_desc_t hint, dpd, wpd;
	if (dnnl_dilated_convolution_forward_desc_init(&fd, dnnl_forward_training, dnnl_convolution_direct, &s->xa, &s->wa,
	                                               d->bias ? &s->b : NULL, &s->ya, s->st, s->dil, s->pl,
	                                               s->pr) != dnnl_success ||
	    dnnl_primitive_desc_create(&hint, &fd, NULL, engine, NULL) != dnnl_success)
		return -1;
	if (keep_pd(c, hint)) return -1;
	dnnl_primitive_attr_t attr = conv_attr(SN_KACT_NONE);
	int rc = dnnl_dilated_convolution_backward_data_desc_init(&dd, dnnl_convolution_direct, &s->xa, &s->wa, &s->ya,
	                                                          s->st, s->dil, s->pl, s->pr) != dnnl_success ||
	         dnnl_primitive_desc_create(&dpd, &dd, attr, engine, hint) != dnnl_success || keep_pd(c, dpd) ||
	         dnnl_dilated_convolution_backward_weights_desc_init(&wd, dnnl_convolution_direct, &s->xa, &s->wa,
	                                                             d->bias ? &s->b : NULL, &s->ya, s->st, s->dil, s->pl,
	                                                             s->pr) != dnnl_success ||
	         dnnl_primitive_desc_create(&wpd, &wd, attr, engine, hint) != dnnl_success || keep_pd(c, wpd);
	dnnl_primitive_attr_destroy(attr);
	if (rc) return -1;
	const char *di = NULL, *wi = NULL;
	dnnl_primitive_desc_query(dpd, dnnl_query_impl_info_str, 0, &di);
	dnnl_primitive_desc_query(wpd, dnnl_query_impl_info_str, 0, &wi);
	snprintf(c->impl[1], sizeof c->impl[1], "%s / %s", di ? di : "?", wi ? wi : "?");
	pass *p = &c->bwd;
	/* weight gradient: into scratch, then added to dw (and db by a loop) */
	const int xm = input(c, p, dnnl_primitive_desc_query_md(wpd, dnnl_query_src_md, 0), &s->x, U_X, N_WEIGHTS);
	const int dyw = input(c, p, dnnl_primitive_desc_query_md(wpd, dnnl_query_diff_dst_md, 0), &s->y, U_DY, N_WEIGHTS);
	const int dwm = add_mem(c, p, dnnl_primitive_desc_query_md(wpd, dnnl_query_diff_weights_md, 0), -1);
	const int dwu = user_mem(c, p, &s->w, U_DW);
	const int dbm = d->bias ? add_mem(c, p, &s->b, -1) : 0;
	if (xm < 0 || dyw < 0 || dwm < 0 || dwu < 0 || dbm < 0) return -1;
	c->db_off = c->m[dbm].off;
	int st = add_step(p, wpd, N_WEIGHTS, A_ANY);
	if (st < 0) return -1;
	arg(c, p, st, DNNL_ARG_SRC, xm);
	arg(c, p, st, DNNL_ARG_DIFF_DST, dyw);
	arg(c, p, st, DNNL_ARG_DIFF_WEIGHTS, dwm);
	if (d->bias) arg(c, p, st, DNNL_ARG_DIFF_BIAS, dbm);
	if (scratchpad(c, p, wpd, st) || add_reorder(c, p, dwm, dwu, 1, N_WEIGHTS, A_ANY) < 0) return -1;
	/* input gradient: straight into dx where its layout is NCHW and dx is overwritten */
	const dnnl_memory_desc_t *dxw = dnnl_primitive_desc_query_md(dpd, dnnl_query_diff_src_md, 0);
	const int dyd = input(c, p, dnnl_primitive_desc_query_md(dpd, dnnl_query_diff_dst_md, 0), &s->y, U_DY, N_DATA);
	const int wm = input(c, p, dnnl_primitive_desc_query_md(dpd, dnnl_query_weights_md, 0), &s->w, U_W, N_DATA);
	const int dxu = user_mem(c, p, &s->x, U_DX), dxm = add_mem(c, p, dxw, -1);
	if (dyd < 0 || wm < 0 || dxu < 0 || dxm < 0) return -1;
	const int plain = dnnl_memory_desc_equal(dxw, &s->x);
	for (int acc = A_ACC; acc <= A_SET; acc++) {
		if (plain && acc == A_SET) {   /* conv writes dx itself */
			if ((st = add_step(p, dpd, N_DATA, A_SET)) < 0) return -1;
			arg(c, p, st, DNNL_ARG_DIFF_DST, dyd);
			arg(c, p, st, DNNL_ARG_WEIGHTS, wm);
			arg(c, p, st, DNNL_ARG_DIFF_SRC, dxu);
			if (scratchpad(c, p, dpd, st)) return -1;
			continue;
		}
		if ((st = add_step(p, dpd, N_DATA, acc)) < 0) return -1;
		arg(c, p, st, DNNL_ARG_DIFF_DST, dyd);
		arg(c, p, st, DNNL_ARG_WEIGHTS, wm);
		arg(c, p, st, DNNL_ARG_DIFF_SRC, dxm);
		if (scratchpad(c, p, dpd, st) || add_reorder(c, p, dxm, dxu, acc == A_ACC, N_DATA, acc) < 0) return -1;
	}
	return 0;
}

sn_dnnl_conv *sn_dnnl_conv_new(const sn_dnnl_conv_desc *d, unsigned what)
{
	if (!sn_dnnl_available() || d->groups < 1 || d->c % d->groups || d->o % d->groups) return NULL;
	if (d->inner && ((what & SN_DNNL_BACKWARD) || d->groups != 1)) return NULL;
	if ((what & SN_DNNL_WINOGRAD) && (d->inner || (what & SN_DNNL_BACKWARD))) return NULL;
	sn_dnnl_conv *c = calloc(1, sizeof *c);
	if (!c) return NULL;
	c->d = *d;
	make_descs(d, &c->s);
	/* oneDNN reads the thread count (the calling thread's OpenMP setting) when it makes a
	 * primitive, and splits the work and sizes the scratch by it: slimnn's, now and at every run */
	c->threads = sn_get_threads();
	const int prev = omp_get_max_threads();
	if (prev != c->threads) omp_set_num_threads(c->threads);
	if (dnnl_stream_create(&c->stream, engine, dnnl_stream_default_flags) != dnnl_success) { free(c); return NULL; }
	int fail = ((what & SN_DNNL_FORWARD) && build_forward(c, &c->s, (what & SN_DNNL_WINOGRAD) != 0)) ||
	           ((what & SN_DNNL_BACKWARD) && build_backward(c, &c->s));
	if (!fail && (what & SN_DNNL_PACKED) && c->packed_bytes) {
		c->packed_owned = 1;
		fail = !(c->packed = aligned_alloc(64, c->packed_bytes));
	}
	if (prev != c->threads) omp_set_num_threads(prev);
	if (fail) {
		sn_dnnl_conv_free(c);
		return NULL;
	}
	return c;
}

static void free_pass(pass *p)
{
	for (int i = 0; i < p->n; i++) dnnl_primitive_destroy(p->s[i].p);
}

void sn_dnnl_conv_free(sn_dnnl_conv *c)
{
	if (!c) return;
	free_pass(&c->fwd);
	free_pass(&c->bwd);
	for (int i = 0; i < c->nm; i++) dnnl_memory_destroy(c->m[i].m);
	for (int i = 0; i < c->npd; i++) dnnl_primitive_desc_destroy(c->pds[i]);
	dnnl_stream_destroy(c->stream);
	if (c->packed_owned) free(c->packed);
	free(c);
}

size_t sn_dnnl_conv_ws(const sn_dnnl_conv *c)
{
	return align64(SN_MAX(c->fwd.ws + (c->packed ? 0 : c->packed_bytes), c->bwd.ws));
}
size_t sn_dnnl_conv_packed_bytes(const sn_dnnl_conv *c) { return c->packed_bytes; }
void sn_dnnl_conv_unpack(sn_dnnl_conv *c)
{
	if (c) c->packed_from = NULL;
}

/* The forward's weight layout: the argument of its conv step (the one that reads the bias too). */
static const dnnl_memory_desc_t *fwd_weights_md(const sn_dnnl_conv *c)
{
	for (int i = 0; i < c->fwd.n; i++)
		for (int k = 0; k < c->fwd.s[i].nargs; k++)
			if (c->fwd.s[i].args[k].arg == DNNL_ARG_WEIGHTS)
				for (int m = 0; m < c->nm; m++)
					if (c->m[m].m == c->fwd.s[i].args[k].memory) return c->m[m].md;
	return NULL;
}

int sn_dnnl_conv_share_packed(sn_dnnl_conv *c, const sn_dnnl_conv *from)
{
	const dnnl_memory_desc_t *mc = fwd_weights_md(c), *mf = fwd_weights_md(from);
	if (!c->packed || !from->packed || !mc || !mf || !dnnl_memory_desc_equal(mc, mf)) return 0;
	if (c->packed_owned) free(c->packed);
	c->packed = from->packed;
	c->packed_owned = 0;
	c->packed_from = NULL;
	return 1;
}

/* Values of w at SN_DNNL_SAMPLES places spread over it, first and last included. */
static void sample_weights(const sn_dnnl_conv *c, const float *w, float *s)
{
	const size_t n = (size_t)c->d.o * (c->d.c / c->d.groups) * c->d.kh * c->d.kw;
	for (int i = 0; i < SN_DNNL_SAMPLES; i++) s[i] = w[(n - 1) * i / (SN_DNNL_SAMPLES - 1)];
}

/* The packed weights are those of w: packed from it and not forgotten since, and the sampled
 * values unchanged (bit for bit: a NaN that stays a NaN is unchanged). */
static int packed_current(const sn_dnnl_conv *c, const float *w)
{
	float s[SN_DNNL_SAMPLES];
	if (c->packed_from != w) return 0;
	sample_weights(c, w, s);
	return !memcmp(s, c->sample, sizeof s);
}
const char *sn_dnnl_conv_impl(const sn_dnnl_conv *c, int backward) { return c->impl[!!backward]; }
double sn_dnnl_conv_intensity(const sn_dnnl_conv *c) { return c->intensity; }

int sn_dnnl_conv_direct(const sn_dnnl_conv *c)
{
	if (c->d.inner) return strstr(c->impl[0], "brgemm") != NULL;
	for (int i = 0; i < 2; i++)
		if (strstr(c->impl[i], "gemm") || strstr(c->impl[i], "ref")) return 0;
	return 1;
}

/* Points every memory object at its tensor or scratch, then runs the steps that serve `need`
 * (and the accumulation mode acc). oneDNN's parallel regions take the calling thread's
 * OpenMP thread count: the one the handle was made for, the caller's own set back after. */
static void run(sn_dnnl_conv *c, pass *p, void *const user[U_N], char *ws, int need, int acc)
{
	const int prev = omp_get_max_threads();
	if (prev != c->threads) omp_set_num_threads(c->threads);
	for (int i = 0; i < c->nm; i++) {
		void *h = c->m[i].user >= 0 ? user[c->m[i].user] : ws + c->m[i].off;
		if (h) dnnl_memory_set_data_handle(c->m[i].m, h);
	}
	for (int i = 0; i < p->n; i++) {
		const step *s = &p->s[i];
		if (!(s->need & need) || (s->acc != A_ANY && s->acc != acc)) continue;
		dnnl_primitive_execute(s->p, c->stream, s->nargs, s->args);
	}
	dnnl_stream_wait(c->stream);
	if (prev != c->threads) omp_set_num_threads(prev);
}

void sn_dnnl_conv_forward(sn_dnnl_conv *c, const float *x, const float *w, const float *bias, float *y, void *ws)
{
	const int pack = !c->packed || !packed_current(c, w);
	void *const user[U_N] = {[U_X] = (void *)x, [U_W] = (void *)w,
	                         [U_WP] = c->packed ? c->packed : (char *)ws + c->fwd.ws, [U_B] = (void *)bias, [U_Y] = y};
	run(c, &c->fwd, user, ws, N_FWD | (pack ? N_PACK : 0), A_ANY);
	if (c->packed && pack) {
		c->packed_from = w;
		sample_weights(c, w, c->sample);
	}
}

void sn_dnnl_conv_backward(sn_dnnl_conv *c, const float *x, const float *w, const float *dy, float *dx, int accumulate,
                           float *dw, float *db, void *ws)
{
	void *const user[U_N] = {[U_X] = (void *)x, [U_W] = (void *)w, [U_DY] = (void *)dy, [U_DX] = dx, [U_DW] = dw};
	const int need = (dx ? N_DATA : 0) | (dw ? N_WEIGHTS : 0);
	if (!need) return;
	run(c, &c->bwd, user, ws, need, accumulate ? A_ACC : A_SET);
	if (dw && db && c->d.bias) {
		const float *g = (const float *)((char *)ws + c->db_off);
		for (int o = 0; o < c->d.o; o++) db[o] += g[o];
	}
}
