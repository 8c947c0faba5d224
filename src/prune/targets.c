/* Per-layer targets for the pruning loop: read from a file of 'layer target' lines or picked
 * from a sensitivity table, checked against the model, and scaled by the schedule's progress
 * (each layer follows the schedule towards its own target). */
#include <errno.h>
#include <math.h>
#include "core/internal.h"
#include "prune/prune.h"

/* What a granularity prunes, in words for error messages. */
static const char *prunes(sn_granularity gran)
{
	switch (gran) {
	case SN_GRAN_FILTER: return "convs without groups";
	case SN_GRAN_NEURON: return "Linears";
	default: return "convs and Linears";
	}
}

/* Layers a granularity can prune at all (ignoring nothing). */
static unsigned char *prunable_at(const sn_graph *g, sn_granularity gran)
{
	unsigned char *can = malloc((size_t)g->n_node + 1);
	if (!can) { sn_seterr(SN_ENOMEM, "out of memory"); return NULL; }
	if (sn_prune_select(g, gran, "none", can)) { free(can); return NULL; }
	return can;
}

/* ---------------------------------------------------------------- the targets file */

typedef struct {
	const sn_graph *g;
	sn_granularity gran;
	const char *path;
	const unsigned char *can;
	int *line_of;                     /* per node: the line that listed it (0: none) */
	float *targets;
} targets_file;

static int target_line(targets_file *t, char *line, int no)
{
	line[strcspn(line, "#")] = 0;
	char *save, *name = strtok_r(line, " \t\r", &save), *value = strtok_r(NULL, " \t\r", &save);
	if (!name) return SN_OK;   /* blank or comment */
	if (!value || strtok_r(NULL, " \t\r", &save))
		return sn_seterr(SN_EFORMAT, "%s:%d: expected 'LAYER TARGET' (two fields, e.g. 'conv2 0.5')", t->path, no);
	const int k = sn_graph_find(t->g, name);
	if (k < 0) return sn_seterr(SN_EFORMAT, "%s:%d: the model has no layer '%s'", t->path, no, name);
	if (!t->can[k])
		return sn_seterr(SN_EFORMAT, "%s:%d: '%s' is not a layer that %s granularity prunes (it prunes %s)", t->path, no,
		                 name, sn_granularity_name(t->gran), prunes(t->gran));
	if (t->line_of[k])
		return sn_seterr(SN_EFORMAT, "%s:%d: '%s' is listed twice (first on line %d)", t->path, no, name, t->line_of[k]);
	char *end;
	errno = 0;
	double v = strtod(value, &end);
	if (errno || end == value || *end || !(v >= 0 && v < 1))
		return sn_seterr(SN_EFORMAT, "%s:%d: the target of '%s' must be a number in [0, 1), got '%s'", t->path, no,
		                 name, value);
	t->targets[k] = (float)v;
	t->line_of[k] = no;
	return SN_OK;
}

int sn_prune_read_targets(const sn_graph *g, sn_granularity gran, const char *path, float *targets)
{
	char *text = NULL;
	targets_file t = {g, gran, path, NULL, NULL, targets};
	for (int i = 0; i < g->n_node; i++) targets[i] = -1;
	int rc = sn_read_text(path, &text), no = 0, listed = 0;
	unsigned char *can = rc ? NULL : prunable_at(g, gran);
	t.can = can;
	t.line_of = calloc((size_t)g->n_node + 1, sizeof *t.line_of);
	if (!rc && (!can || !t.line_of)) rc = can ? sn_seterr(SN_ENOMEM, "out of memory") : SN_EINVAL;
	for (char *line = text, *next; !rc && line; line = next) {
		if ((next = strchr(line, '\n'))) *next++ = 0;
		rc = target_line(&t, line, ++no);
	}
	for (int i = 0; !rc && i < g->n_node; i++) listed += t.line_of[i] > 0;
	if (!rc && !listed) rc = sn_seterr(SN_EFORMAT, "%s lists no layer: write one 'LAYER TARGET' per line", path);
	free(text);
	free(can);
	free(t.line_of);
	return rc;
}

/* ---------------------------------------------------------------- from a sensitivity table */

int sn_prune_targets_from_sensitivity(const sn_graph *g, const sn_sensitivity *s, sn_granularity gran,
                                      float max_drop, float *targets)
{
	if (s->granularity != gran)
		return sn_seterr(SN_EINVAL, "the sensitivity table was measured at %s granularity but pruning runs at %s: "
		                 "measure it with slimnn sensitivity --granularity %s", sn_granularity_name(s->granularity),
		                 sn_granularity_name(gran), sn_granularity_name(gran));
	if (!(max_drop >= 0)) return sn_seterr(SN_EINVAL, "the accuracy budget must be 0 points or more, got %g", max_drop);
	for (int i = 0; i < g->n_node; i++) targets[i] = -1;
	for (int k = 0; k < s->n_layers; k++) {
		const int node = sn_graph_find(g, s->layers[k].layer);
		if (node < 0)
			return sn_seterr(SN_EINVAL, "the sensitivity table has layer '%s', which the model lacks: was it "
			                 "measured on another model?", s->layers[k].layer);
		float t = 0;
		for (int l = 0; l < s->n_levels; l++) {
			const double drop = 100 * (s->baseline - s->accuracy[(size_t)k * s->n_levels + l]);
			if (drop > max_drop + 1e-6) break;   /* (1e-6: 50 of 10,000 images is a drop of 0.5, not more) */
			t = s->levels[l];
		}
		targets[node] = t;
	}
	return SN_OK;
}

/* ---------------------------------------------------------------- the plan of the loop */

void sn_layer_plan_free(sn_layer_plan *p)
{
	if (!p) return;
	free(p->final); free(p->s0); free(p->s); free(p->units);
	free(p);
}

/* A listed layer must be one the granularity prunes; listing one of the default ignore list
 * makes it prunable, listing one that --ignore names is a contradiction. */
static int check_listed(const sn_graph *g, const sn_prune_opts *o, const unsigned char *can, unsigned char *prunable)
{
	for (int i = 0; i < g->n_node; i++) {
		const float t = o->layer_targets[i];
		if (t < 0) continue;
		if (!(t < 1)) return sn_seterr(SN_EINVAL, "the target of layer '%s' must lie in [0, 1), got %g", g->node[i].name, t);
		if (!can[i])
			return sn_seterr(SN_EINVAL, "layer '%s' has a target, but %s granularity prunes %s", g->node[i].name,
			                 sn_granularity_name(o->granularity), prunes(o->granularity));
		if (!prunable[i] && o->ignore)
			return sn_seterr(SN_EINVAL, "layer '%s' has a target but --ignore names it: drop one of them", g->node[i].name);
		prunable[i] = 1;
	}
	return SN_OK;
}

/* Masked granularities: each layer its own target, from the sparsity it has now. */
static int layer_targets(const sn_graph *g, const sn_prune_opts *o, const unsigned char *prunable, sn_layer_plan *p)
{
	unsigned char *one = calloc((size_t)g->n_node + 1, 1);
	if (!one) return sn_seterr(SN_ENOMEM, "out of memory");
	const int block = o->granularity == SN_GRAN_BLOCK ? o->block : 1;
	for (int i = 0; i < g->n_node; i++) {
		if (!prunable[i]) continue;
		size_t total;
		one[i] = 1;
		p->s0[i] = (float)sn_prune_block_sparsity(g, one, block, NULL, &total);
		one[i] = 0;
		p->units[i] = (double)total;
		p->final[i] = o->layer_targets[i] >= 0 ? o->layer_targets[i] : o->target;
	}
	free(one);
	return SN_OK;
}

/* Filter and neuron granularity: the convs (Linears) that make a group's channels share its
 * target; their own targets must agree, and the group must be removable. */
static int group_target(const sn_chg *d, const sn_prune_opts *o, int gi, sn_layer_plan *p)
{
	const sn_graph *g = d->g;
	int from = -1, classes, removable;
	for (int i = 0; i < g->n_node; i++) {
		const float t = o->layer_targets[i];
		if (t < 0 || !sn_chg_produces(d, i, gi)) continue;
		if (from >= 0 && t != o->layer_targets[from])
			return sn_seterr(SN_EINVAL, "layers '%s' and '%s' make the same channels (an Add joins them), so they "
			                 "take one target; got %g and %g", g->node[from].name, g->node[i].name,
			                 o->layer_targets[from], t);
		from = i;
	}
	sn_chg_group_size(d, gi, &classes, &removable);
	if (from >= 0 && !removable)
		return sn_seterr(SN_EINVAL, "layer '%s' has a target, but its channels cannot be removed: they are tied to an "
		                 "ignored layer or to the model's output (see --show-groups)", g->node[from].name);
	const float target = from >= 0 ? o->layer_targets[from] : o->target;
	for (int i = 0; i < g->n_node; i++)
		if (sn_chg_produces(d, i, gi)) p->final[i] = target;
	p->units[d->group_first[gi]] = removable;
	return SN_OK;
}

static int group_targets(const sn_graph *g, const sn_prune_opts *o, const unsigned char *prunable, sn_layer_plan *p)
{
	sn_chg *d = sn_chg_build(g, prunable);
	if (!d) return SN_ENOMEM;   /* the message is set */
	int rc = SN_OK;
	for (int gi = 0; gi < d->n_group && !rc; gi++)
		if (d->group_first[gi] >= 0) rc = group_target(d, o, gi, p);
	sn_chg_free(d);
	return rc;
}

sn_layer_plan *sn_layer_plan_new(const sn_graph *g, const sn_prune_opts *o, unsigned char *prunable)
{
	sn_layer_plan *p = calloc(1, sizeof *p);
	const size_t n = (size_t)g->n_node + 1;
	unsigned char *can = prunable_at(g, o->granularity);
	int rc = can ? SN_OK : SN_EINVAL;
	if (p) {
		p->n = g->n_node;
		p->final = calloc(n, sizeof *p->final);
		p->s0 = calloc(n, sizeof *p->s0);
		p->s = calloc(n, sizeof *p->s);
		p->units = calloc(n, sizeof *p->units);
	}
	if (!rc && (!p || !p->final || !p->s0 || !p->s || !p->units)) rc = sn_seterr(SN_ENOMEM, "out of memory");
	if (!rc) rc = check_listed(g, o, can, prunable);
	if (!rc) rc = sn_granularity_masks(o->granularity) ? layer_targets(g, o, prunable, p) : group_targets(g, o, prunable, p);
	free(can);
	if (rc) { sn_layer_plan_free(p); return NULL; }
	return p;
}

const float *sn_layer_plan_at(sn_layer_plan *p, double f)
{
	if (!p) return NULL;
	for (int i = 0; i < p->n; i++)
		p->s[i] = f >= 1 ? p->final[i] : (float)(p->s0[i] + (p->final[i] - p->s0[i]) * f);
	return p->s;
}

float sn_layer_plan_mean(const sn_layer_plan *p)
{
	double sum = 0, units = 0;
	for (int i = 0; i < p->n; i++) { sum += (double)p->s[i] * p->units[i]; units += p->units[i]; }
	return units > 0 ? (float)(sum / units) : 0.0f;
}
