/* sn_lighten: plans which layers to replace (selection, eligibility, --min-saving), rebuilds
 * the graph with sn_rewrite_*, fills the new tensors in closed form, calibrates inserted
 * BatchNorms, and reports per layer and in total. */
#include <math.h>
#include <stdio.h>
#include "lighten/lighten.h"

sn_lighten_opts sn_lighten_defaults(void)
{
	return (sn_lighten_opts){.transforms = 0, .multiplier = 1, .dsc_mode = SN_DSC_AUTO, .rank = 0, .keep = 0.5f,
	                         .layers = NULL, .min_saving = 0.02, .calib = NULL, .calib_n = 512,
	                         .recalibrate = 1};
}

void sn_lighten_report_free(sn_lighten_report *r)
{
	if (!r) return;
	free(r->layers);
	free(r->skipped);
	memset(r, 0, sizeof *r);
}

/* ---------------------------------------------------------------- helpers for the transforms */

int lt_name(char *dst, const char *base, const char *suffix)
{
	if (strlen(base) + strlen(suffix) >= SN_NAME_MAX)
		return sn_seterr(SN_EINVAL, "layer '%s%s' would have a name longer than %d characters; rename layer '%s'",
		                 base, suffix, SN_NAME_MAX - 1, base);
	strcpy(dst, base);
	strcat(dst, suffix);
	return SN_OK;
}

sn_tensor *lt_tensor(sn_graph *h, int j, int slot)
{
	return h->node[j].t[slot] >= 0 ? &h->tensor[h->node[j].t[slot]] : NULL;
}

const sn_tensor *lt_old_tensor(const lt_ctx *c, int i, int slot)
{
	int k = c->g->node[i].t[slot];
	return k >= 0 ? &c->g->tensor[k] : NULL;
}

/* ---------------------------------------------------------------- planning */

typedef struct {
	unsigned flag;
	const char *name;
	lt_kind kind;
	int (*plan)(lt_ctx *, int, char *, size_t);
} transform;

/* the more specific first: a run asking for several gives each conv the first that applies */
static const transform TRANSFORMS[] = {
	{SN_LIGHTEN_SMALL_KERNELS, "small-kernels", LT_SMALL, lt_small_plan},
	{SN_LIGHTEN_ASYM, "asym", LT_ASYM, lt_asym_plan},
	{SN_LIGHTEN_DSC, "dsc", LT_DSC, lt_dsc_plan},
	{SN_LIGHTEN_GAP_HEAD, "gap-head", LT_GAP_HEAD, lt_gap_plan},
};
enum { N_TRANSFORMS = sizeof TRANSFORMS / sizeof *TRANSFORMS };

static size_t node_params(const sn_graph *g, const sn_node *n)
{
	size_t k = 0;
	for (int s = 0; s < SN_T_MAX; s++)
		if (n->t[s] >= 0 && g->tensor[n->t[s]].kind == SN_TENSOR_PARAM) k += g->tensor[n->t[s]].n;
	return k;
}

/* 1 if name is in the comma-separated list (NULL or "" selects every layer) */
static int listed(const char *list, const char *name)
{
	return !list || !*list || sn_name_in_list(list, name);
}

static int check_layers(const sn_graph *g, const char *list)
{
	if (!list) return SN_OK;
	char name[SN_NAME_MAX];
	for (const char *p = list; *p;) {
		const char *e = strchr(p, ',');
		size_t k = e ? (size_t)(e - p) : strlen(p);
		if (k == 0 || k >= sizeof name)
			return sn_seterr(SN_EINVAL, "--layers expects layer names separated by commas, got '%s'", list);
		memcpy(name, p, k);
		name[k] = 0;
		if (sn_graph_find(g, name) < 0) return sn_seterr(SN_EINVAL, "--layers: the model has no layer named '%s'", name);
		if (!e) break;
		p = e + 1;
	}
	return SN_OK;
}

static void add_skip(sn_lighten_report *r, const sn_node *n, const char *transform, const char *why)
{
	sn_lighten_skip *s = &r->skipped[r->n_skipped++];
	snprintf(s->layer, sizeof s->layer, "%s", n->name);
	snprintf(s->transform, sizeof s->transform, "%s", transform);
	snprintf(s->reason, sizeof s->reason, "%s", why);
}

/* Tries the requested transforms on node i in order; the first that applies and saves enough
 * wins. Otherwise every reason is reported (a layer named in --layers always gets one). */
static void plan_node(lt_ctx *c, int i, uint64_t model_macs, sn_lighten_report *r)
{
	const sn_node *n = &c->g->node[i];
	const int first = r->n_skipped, explicit = c->o->layers && *c->o->layers;
	for (int t = 0; t < N_TRANSFORMS; t++) {
		if (!(c->o->transforms & TRANSFORMS[t].flag)) continue;
		char why[160] = "";
		lt_plan *p = &c->plan[i];
		int rc = TRANSFORMS[t].plan(c, i, why, sizeof why);
		if (rc == 0) {
			uint64_t old = sn_node_macs(c->g, n, 0);
			double saving = old > p->new_macs && model_macs ? (double)(old - p->new_macs) / model_macs : 0;
			if (saving >= c->o->min_saving && old > p->new_macs) {
				p->kind = TRANSFORMS[t].kind;
				r->n_skipped = first;   /* an earlier transform's reason no longer matters */
				return;
			}
			rc = LT_SKIP;
			if (old <= p->new_macs)
				snprintf(why, sizeof why, "would not save mult-adds (%llu -> %llu per image)", (unsigned long long)old,
				         (unsigned long long)p->new_macs);
			else
				snprintf(why, sizeof why, "saves %.1f%% of the model's mult-adds (%llu of %llu), below --min-saving %.1f%%",
				         100 * saving, (unsigned long long)(old - p->new_macs), (unsigned long long)model_macs,
				         100 * c->o->min_saving);
		}
		*p = (lt_plan){.kind = LT_NONE, .fold = -1};
		if (why[0] && (rc == LT_SKIP || explicit)) add_skip(r, n, TRANSFORMS[t].name, why);
	}
	if (r->n_skipped == first && explicit) add_skip(r, n, "-", "no chosen transform applies to this kind of layer");
}

/* ---------------------------------------------------------------- calibration */

/* The calibration batch: the first calib_n images, no augmentation. */
static int prepare_calib(lt_ctx *c)
{
	const sn_dataset *d = c->o->calib;
	int need = 0;
	for (int i = 0; i < c->g->n_node; i++)
		need |= (c->plan[i].kind == LT_DSC && c->plan[i].bn) || (c->plan[i].kind != LT_NONE && c->o->recalibrate);
	if (!d || !need) return SN_OK;
	sn_shape in = sn_graph_input_shape(c->g);
	if ((size_t)d->c * d->h * d->w != sn_shape_numel(in))
		return sn_seterr(SN_ESHAPE, "the calibration images are %dx%dx%d but the model expects %dx%dx%d", d->c, d->h,
		                 d->w, in.c, in.h, in.w);
	const int n = SN_MIN(c->o->calib_n > 0 ? c->o->calib_n : 256, d->n);
	if (n <= 0) return sn_seterr(SN_EINVAL, "no calibration images");
	c->calib_x = malloc((size_t)n * sn_shape_numel(in) * sizeof *c->calib_x);
	int32_t *y = malloc((size_t)n * sizeof *y);
	int *idx = malloc(n * sizeof *idx), rc = SN_OK;
	if (!c->calib_x || !y || !idx) rc = sn_seterr(SN_ENOMEM, "out of memory for calibration");
	if (!rc) {
		for (int k = 0; k < n; k++) idx[k] = k;
		rc = sn_dataset_batch(d, idx, n, NULL, NULL, c->calib_x, y);
		c->calib_n = n;
	}
	int head = 0;
	for (int i = 0; i < c->g->n_node; i++) head |= c->plan[i].kind == LT_GAP_HEAD && c->o->recalibrate;
	if (!rc && head) {
		c->orig = sn_plan_new(c->g);   /* the head reads the original features */
		rc = c->orig ? sn_plan_reshape(c->orig, n, SN_PLAN_KEEP_OUTPUTS) : sn_errcode();
		if (!rc && !sn_plan_forward(c->orig, c->calib_x, n)) rc = sn_errcode();
	}
	free(y); free(idx);
	return rc;
}

/* The BatchNorm right after a replaced layer normalises with statistics of the old layer's
 * outputs: measure them again on the new ones (as training-mode BN would see them). */
static void restat_bn(lt_ctx *c, sn_graph *h, int i)
{
	const lt_plan *p = &c->plan[i];
	if (c->n_consumers[i] != 1 || c->g->node[c->consumer[i]].op != SN_OP_BN) return;
	const sn_node *y = &h->node[p->nodes[p->n_new - 1]];
	const float *Y = sn_plan_output(c->run, p->nodes[p->n_new - 1]);
	const int bi = sn_graph_find(h, c->g->node[c->consumer[i]].name), C = y->out.c, hw = y->out.h * y->out.w;
	float *rm = lt_tensor(h, bi, SN_T_MEAN)->data, *rv = lt_tensor(h, bi, SN_T_VAR)->data;
	for (int ch = 0; ch < C; ch++) {
		double s = 0, ss = 0;
		for (int b = 0; b < c->calib_n; b++) {
			const float *v = Y + ((size_t)b * C + ch) * hw;
			for (int q = 0; q < hw; q++) s += v[q];
		}
		const double cnt = (double)c->calib_n * hw, mu = s / cnt;
		for (int b = 0; b < c->calib_n; b++) {
			const float *v = Y + ((size_t)b * C + ch) * hw;
			for (int q = 0; q < hw; q++) ss += (v[q] - mu) * (v[q] - mu);
		}
		rm[ch] = (float)mu;
		rv[ch] = (float)(ss / cnt);
	}
}

/* A forward of the calibration images after the weights changed: the reshape tells the plan,
 * which keeps some layers' weights packed. */
static int forward_again(lt_ctx *c)
{
	if (sn_plan_reshape(c->run, c->calib_n, SN_PLAN_KEEP_OUTPUTS) || !sn_plan_forward(c->run, c->calib_x, c->calib_n))
		return sn_errcode();
	return SN_OK;
}

static int calibrate(lt_ctx *c, sn_graph *h)
{
	if (!c->calib_x) return SN_OK;
	/* the new layers' outputs are read after each forward */
	c->run = sn_plan_new(h);
	int rc = c->run ? sn_plan_reshape(c->run, c->calib_n, SN_PLAN_KEEP_OUTPUTS) : sn_errcode();
	/* in order, one forward each: a layer's input depends on the layers calibrated before it */
	for (int i = 0; !rc && c->calib_x && i < c->g->n_node; i++) {
		const lt_plan *p = &c->plan[i];
		if (p->kind == LT_NONE || p->kind == LT_HEAD_FLATTEN || (!c->o->recalibrate && !(p->kind == LT_DSC && p->bn))) continue;
		if ((rc = forward_again(c))) break;
		if (p->kind == LT_DSC && p->bn) rc = lt_dsc_calibrate(c, h, i, c->calib_x, c->calib_n);
		if (!rc && c->o->recalibrate && p->kind == LT_GAP_HEAD) rc = lt_gap_refit(c, h, i);
		else if (!rc && c->o->recalibrate) {
			if (p->kind == LT_DSC && p->bn && (rc = forward_again(c))) break;
			restat_bn(c, h, i);
		}
	}
	sn_plan_free(c->run);
	c->run = NULL;
	return rc;
}

/* ---------------------------------------------------------------- the pass */

static int emit_all(lt_ctx *c, sn_rewrite *rw)
{
	for (int i = 0; i < c->g->n_node; i++) {
		lt_plan *p = &c->plan[i];
		int k;
		switch (p->kind) {
		case LT_DSC: k = lt_dsc_emit(c, rw, i); break;
		case LT_ASYM: k = lt_asym_emit(c, rw, i); break;
		case LT_SMALL: k = lt_small_emit(c, rw, i); break;
		case LT_HEAD_FLATTEN: k = lt_gap_emit_flatten(c, rw, i); break;
		default:
			k = sn_rewrite_keep(rw, i);
			if (p->kind == LT_GAP_HEAD && k >= 0) p->nodes[p->n_new++] = k;
			break;
		}
		if (k < 0) return k;
	}
	return SN_OK;
}

static int fill_all(lt_ctx *c, sn_graph *h)
{
	for (int i = 0; i < c->g->n_node; i++) {
		lt_plan *p = &c->plan[i];
		if (p->kind == LT_NONE || p->kind == LT_HEAD_FLATTEN) continue;
		int rc = p->kind == LT_DSC ? lt_dsc_fill(c, h, i, &p->err)
		       : p->kind == LT_ASYM ? lt_asym_fill(c, h, i, &p->err)
		       : p->kind == LT_SMALL ? lt_small_fill(c, h, i, &p->err) : lt_gap_fill(c, h, i, &p->err);
		if (rc) return rc;
	}
	return SN_OK;
}

static void report_layers(const lt_ctx *c, const sn_graph *h, sn_lighten_report *r)
{
	for (int i = 0; i < c->g->n_node; i++) {
		const lt_plan *p = &c->plan[i];
		if (p->kind == LT_NONE || p->kind == LT_HEAD_FLATTEN) continue;
		const sn_node *n = &c->g->node[i];
		sn_lighten_layer *L = &r->layers[r->n_layers++];
		snprintf(L->layer, sizeof L->layer, "%s", n->name);
		for (int t = 0; t < N_TRANSFORMS; t++)
			if (TRANSFORMS[t].kind == p->kind) snprintf(L->transform, sizeof L->transform, "%s", TRANSFORMS[t].name);
		L->old_params = node_params(c->g, n);
		L->old_macs = sn_node_macs(c->g, n, 0);
		L->error = p->err;
		size_t at = 0;
		for (int k = 0; k < p->n_new; k++) {
			const sn_node *m = &h->node[p->nodes[k]];
			L->new_params += node_params(h, m);
			L->new_macs += sn_node_macs(h, m, 0);
			if (at < sizeof L->replaced_by)
				at += snprintf(L->replaced_by + at, sizeof L->replaced_by - at, "%s%s", k ? ", " : "", m->name);
		}
	}
}

static void totals(const sn_graph *g, size_t *params, uint64_t *macs)
{
	*params = 0; *macs = 0;
	for (int i = 1; i < g->n_node; i++) {
		*params += node_params(g, &g->node[i]);
		*macs += sn_node_macs(g, &g->node[i], 0);
	}
}

static int check_opts(const sn_lighten_opts *o)
{
	if (!(o->transforms & (SN_LIGHTEN_DSC | SN_LIGHTEN_GAP_HEAD | SN_LIGHTEN_ASYM | SN_LIGHTEN_SMALL_KERNELS)))
		return sn_seterr(SN_EINVAL, "no transform chosen: ask for at least one of dsc, gap-head, asym, small-kernels");
	if (o->multiplier < 1) return sn_seterr(SN_EINVAL, "the depthwise multiplier must be at least 1, got %d", o->multiplier);
	if (o->rank < 0) return sn_seterr(SN_EINVAL, "the rank must be positive, got %d", o->rank);
	if (!(o->keep > 0 && o->keep <= 1)) return sn_seterr(SN_EINVAL, "keep must lie in (0, 1], got %g", o->keep);
	if (!(o->min_saving >= 0 && o->min_saving <= 1))
		return sn_seterr(SN_EINVAL, "min-saving must lie in [0, 1], got %g", o->min_saving);
	return SN_OK;
}

static sn_graph *run(lt_ctx *c, sn_lighten_report *r)
{
	const sn_graph *g = c->g;
	size_t p0; uint64_t model_macs;
	totals(g, &p0, &model_macs);
	r->params_before = p0; r->macs_before = model_macs;
	for (int i = 0; i < g->n_node; i++) c->plan[i] = (lt_plan){.kind = LT_NONE, .fold = -1};
	for (int i = 1; i < g->n_node; i++)
		if (listed(c->o->layers, g->node[i].name)) plan_node(c, i, model_macs, r);
	for (int i = 0; i < g->n_node; i++)
		if (c->plan[i].kind == LT_GAP_HEAD) {
			int f = g->node[i].in[0];
			c->plan[f] = (lt_plan){.kind = LT_HEAD_FLATTEN, .fold = -1, .head = i};
		}
	sn_rewrite *rw = sn_rewrite_begin(g);
	if (!rw) return NULL;
	if (emit_all(c, rw)) { sn_rewrite_abort(rw); return NULL; }
	sn_graph *h = sn_rewrite_end(rw);
	if (!h) return NULL;
	h->shapes_locked = g->shapes_locked;
	if (prepare_calib(c) || fill_all(c, h) || calibrate(c, h)) { sn_graph_free(h); return NULL; }
	report_layers(c, h, r);
	totals(h, &r->params_after, &r->macs_after);
	return h;
}

sn_graph *sn_lighten(const sn_graph *g, const sn_lighten_opts *o, sn_lighten_report *r_out)
{
	sn_lighten_report local = {0}, *r = r_out ? r_out : &local;
	memset(r, 0, sizeof *r);
	if (check_opts(o) || check_layers(g, o->layers)) return NULL;
	lt_ctx c = {.g = g, .o = o};
	const int N = g->n_node;
	c.plan = calloc(N, sizeof *c.plan);
	c.n_consumers = calloc(N, sizeof *c.n_consumers);
	c.consumer = calloc(N, sizeof *c.consumer);
	r->layers = calloc(N, sizeof *r->layers);
	r->skipped = calloc((size_t)N * (N_TRANSFORMS + 1), sizeof *r->skipped);
	sn_graph *h = NULL;
	if (!c.plan || !c.n_consumers || !c.consumer || !r->layers || !r->skipped) {
		sn_seterr(SN_ENOMEM, "out of memory");
	} else {
		for (int i = 0; i < N; i++)
			for (int k = 0; k < g->node[i].n_in; k++) {
				c.n_consumers[g->node[i].in[k]]++;
				c.consumer[g->node[i].in[k]] = i;
			}
		h = run(&c, r);
	}
	free(c.plan); free(c.n_consumers); free(c.consumer); free(c.calib_x);
	sn_plan_free(c.orig);
	if (!h || r == &local) sn_lighten_report_free(r);
	return h;
}
