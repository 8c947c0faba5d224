/* The channel dependency graph (prune.h): which channels must be removed together, which may
 * not be removed at all, and how each layer's tensors index them. */
#include <math.h>
#include <stdarg.h>
#include "core/internal.h"
#include "prune/prune.h"

static int find(int *p, int x)
{
	while (p[x] != x) x = p[x] = p[p[x]];
	return x;
}

static void join(int *p, int a, int b)
{
	a = find(p, a);
	b = find(p, b);
	if (a < b) p[b] = a;
	else if (b < a) p[a] = b;
}

/* ---------------------------------------------------------------- building */

typedef struct { sn_chg *d; int n_slot; } builder;

static void new_ids(builder *b, int node, int n, int frozen, int maker)
{
	sn_chg *d = b->d;
	d->off[node] = b->n_slot;
	d->len[node] = n;
	d->hw[node] = 1;
	for (int k = 0; k < n; k++) {
		int id = d->n_id++;
		d->parent[id] = id;
		d->frozen[id] = (unsigned char)frozen;
		d->maker[id] = maker;
		d->maker_slot[id] = maker >= 0 ? k : -1;
		d->id[b->n_slot++] = id;
	}
}

static void alias(sn_chg *d, int node, int src)
{
	d->off[node] = d->off[src];
	d->len[node] = d->len[src];
	d->hw[node] = d->hw[src];
}

static void freeze(sn_chg *d, int node)
{
	for (int k = 0; k < d->len[node]; k++) d->frozen[d->id[d->off[node] + k]] = 1;
}

/* Something the analysis does not see through: its inputs keep every channel, its output is new. */
static void opaque(builder *b, const sn_node *n, int i)
{
	for (int k = 0; k < n->n_in; k++) freeze(b->d, n->in[k]);
	new_ids(b, i, n->out.c, 1, -1);
}

static void add_node(builder *b, const sn_node *n, int i)
{
	sn_chg *d = b->d;
	const int a = n->in[0];
	for (int k = 1; k < n->n_in; k++)
		if (d->len[n->in[k]] != d->len[a] || d->hw[n->in[k]] != d->hw[a]) { opaque(b, n, i); return; }
	for (int k = 1; k < n->n_in; k++)
		for (int s = 0; s < d->len[a]; s++) join(d->parent, d->id[d->off[a] + s], d->id[d->off[n->in[k]] + s]);
	alias(d, i, a);
}

static void concat_node(builder *b, const sn_node *n, int i)
{
	sn_chg *d = b->d;
	for (int k = 1; k < n->n_in; k++)
		if (d->hw[n->in[k]] != d->hw[n->in[0]]) { opaque(b, n, i); return; }
	d->off[i] = b->n_slot;
	d->len[i] = 0;
	d->hw[i] = d->hw[n->in[0]];
	for (int k = 0; k < n->n_in; k++)
		for (int s = 0; s < d->len[n->in[k]]; s++) { d->id[b->n_slot++] = d->id[d->off[n->in[k]] + s]; d->len[i]++; }
}

/* Each node as its operator's channel rule says (src/ops/: the rows). */
static void visit(builder *b, const sn_graph *g, int i, const unsigned char *prunable)
{
	const sn_node *n = &g->node[i];
	sn_chg *d = b->d;
	switch (sn_node_chan(g, n)) {
	case SN_CH_SOURCE: new_ids(b, i, n->out.c, 1, -1); break;
	case SN_CH_MAKES: new_ids(b, i, n->out.c, prunable && !prunable[i], i); break;   /* filters, neurons */
	case SN_CH_PASS: alias(d, i, n->in[0]); break;
	case SN_CH_FLATTEN: {
		sn_shape s = g->node[n->in[0]].out;
		alias(d, i, n->in[0]);
		if (s.rank == 4) d->hw[i] *= s.h * s.w;
		break;
	}
	case SN_CH_TIES: add_node(b, n, i); break;   /* broadcast over channels is opaque */
	case SN_CH_CONCAT: concat_node(b, n, i); break;
	default: opaque(b, n, i);
	}
}

/* Classes (roots of the ids) and groups (classes tied by a shared producer). */
static int finish(sn_chg *d)
{
	const sn_graph *g = d->g;
	int *root_class = malloc((size_t)(d->n_id + 1) * sizeof *root_class);
	d->cls = malloc((size_t)(d->n_id + 1) * sizeof *d->cls);
	if (!root_class || !d->cls) { free(root_class); return -1; }
	for (int id = 0; id < d->n_id; id++) {
		int r = find(d->parent, id);
		d->frozen[r] |= d->frozen[id];
		root_class[id] = -1;
	}
	for (int id = 0; id < d->n_id; id++) {
		int r = find(d->parent, id);
		if (root_class[r] < 0) root_class[r] = d->n_class++;
		d->cls[id] = root_class[r];
	}
	d->class_frozen = calloc((size_t)d->n_class + 1, 1);
	d->class_group = malloc(((size_t)d->n_class + 1) * sizeof *d->class_group);
	int *gp = malloc(((size_t)d->n_class + 1) * sizeof *gp);
	if (!d->class_frozen || !d->class_group || !gp) { free(root_class); free(gp); return -1; }
	for (int id = 0; id < d->n_id; id++) d->class_frozen[d->cls[id]] |= d->frozen[find(d->parent, id)];
	for (int c = 0; c < d->n_class; c++) gp[c] = c;
	for (int id = 0; id < d->n_id; id++)
		if (d->maker[id] >= 0) join(gp, d->cls[id], sn_chg_class(d, d->maker[id], 0));
	for (int c = 0; c < d->n_class; c++) root_class[c] = -1;
	for (int c = 0; c < d->n_class; c++) {
		int r = find(gp, c);
		if (root_class[r] < 0) root_class[r] = d->n_group++;
		d->class_group[c] = root_class[r];
	}
	free(root_class);
	free(gp);
	d->group_first = malloc(((size_t)d->n_group + 1) * sizeof *d->group_first);
	if (!d->group_first) return -1;
	for (int k = 0; k < d->n_group; k++) d->group_first[k] = -1;
	for (int i = 0; i < g->n_node; i++) {
		if (!sn_chg_maker(g, &g->node[i])) continue;
		int gi = d->class_group[sn_chg_class(d, i, 0)];
		if (d->group_first[gi] < 0) d->group_first[gi] = i;
	}
	return 0;
}

sn_chg *sn_chg_build(const sn_graph *g, const unsigned char *prunable)
{
	sn_chg *d = calloc(1, sizeof *d);
	if (!d) { sn_seterr(SN_ENOMEM, "out of memory"); return NULL; }
	size_t slots = 1;
	for (int i = 0; i < g->n_node; i++) slots += (size_t)g->node[i].out.c;
	d->g = g;
	d->off = malloc((size_t)g->n_node * sizeof *d->off);
	d->len = malloc((size_t)g->n_node * sizeof *d->len);
	d->hw = malloc((size_t)g->n_node * sizeof *d->hw);
	d->id = malloc(slots * sizeof *d->id);
	d->parent = malloc(slots * sizeof *d->parent);
	d->frozen = calloc(slots, 1);
	d->maker = malloc(slots * sizeof *d->maker);
	d->maker_slot = malloc(slots * sizeof *d->maker_slot);
	int ok = d->off && d->len && d->hw && d->id && d->parent && d->frozen && d->maker && d->maker_slot;
	if (ok) {
		builder b = {d, 0};
		for (int i = 0; i < g->n_node; i++) visit(&b, g, i, prunable);
		freeze(d, g->n_node - 1);   /* the model's output keeps its shape */
		ok = finish(d) == 0;
	}
	if (!ok) { sn_chg_free(d); sn_seterr(SN_ENOMEM, "out of memory"); return NULL; }
	return d;
}

void sn_chg_free(sn_chg *d)
{
	if (!d) return;
	free(d->off); free(d->len); free(d->hw); free(d->id); free(d->parent); free(d->frozen);
	free(d->maker); free(d->maker_slot); free(d->cls); free(d->class_frozen); free(d->class_group);
	free(d->group_first);
	free(d);
}

void sn_chg_group_size(const sn_chg *d, int gi, int *classes, int *prunable)
{
	*classes = *prunable = 0;
	for (int c = 0; c < d->n_class; c++)
		if (d->class_group[c] == gi) { ++*classes; *prunable += !d->class_frozen[c]; }
}

/* ---------------------------------------------------------------- importance and zeroing */

static double row_norm(const sn_tensor *w, int row, sn_criterion c)
{
	const size_t per = w->n / (size_t)w->dims[0];
	double s = 0;
	for (size_t k = 0; k < per; k++) s += sn_prune_term(w, (size_t)row * per + k, c);
	return c == SN_CRIT_L2 ? sqrt(s) : s;
}

void sn_chg_importance(const sn_chg *d, sn_criterion c, double *imp)
{
	const sn_graph *g = d->g;
	unsigned char *has_bn = calloc((size_t)d->n_group + 1, 1);
	memset(imp, 0, (size_t)d->n_class * sizeof *imp);
	for (int i = 0; c == SN_CRIT_BN && has_bn && i < g->n_node; i++) {
		const sn_node *n = &g->node[i];
		if (n->op != SN_OP_BN) continue;
		const float *gam = g->tensor[n->t[SN_T_WEIGHT]].data;
		for (int k = 0; k < d->len[i]; k++) {
			int cl = sn_chg_class(d, i, k);
			imp[cl] += fabs(gam[k]);
			has_bn[d->class_group[cl]] = 1;
		}
	}
	/* filter norms: l1, l2 and taylor, and l1 for bn in groups without a BN */
	for (int id = 0; id < d->n_id; id++) {
		if (d->maker[id] < 0) continue;
		int cl = d->cls[id];
		if (c == SN_CRIT_BN && (!has_bn || has_bn[d->class_group[cl]])) continue;
		const sn_node *m = &g->node[d->maker[id]];
		imp[cl] += row_norm(&g->tensor[m->t[SN_T_WEIGHT]], d->maker_slot[id], c == SN_CRIT_BN ? SN_CRIT_L1 : c);
	}
	free(has_bn);
}

static void zero_row(sn_tensor *t, int row)
{
	if (!t) return;
	const size_t per = t->n / (size_t)t->dims[0];
	memset(t->data + (size_t)row * per, 0, per * sizeof(float));
}

void sn_chg_zero_class(sn_graph *g, const sn_chg *d, int cls)
{
	for (int i = 0; i < g->n_node; i++) {
		sn_node *n = &g->node[i];
		const sn_chan_rule r = sn_node_chan(g, n);   /* rows: made, or carried by BN, a depthwise conv */
		if (r != SN_CH_MAKES && r != SN_CH_PASS) continue;
		for (int k = 0; k < d->len[i]; k++) {
			if (sn_chg_class(d, i, k) != cls) continue;
			zero_row(sn_t(g, n, SN_T_WEIGHT), k);
			zero_row(sn_t(g, n, SN_T_BIAS), k);
		}
	}
}

/* ---------------------------------------------------------------- printing */

/* Slots of node i in group gi: how many, and the first. */
static int slots_in(const sn_chg *d, int i, int gi, int *first)
{
	int count = 0;
	*first = -1;
	for (int k = 0; k < d->len[i]; k++)
		if (d->class_group[sn_chg_class(d, i, k)] == gi) { if (*first < 0) *first = k; count++; }
	return count;
}

typedef struct { char s[4096]; size_t n; } text;

static void put(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(text *t, const char *fmt, ...)
{
	if (t->n >= sizeof t->s - 1) return;
	va_list ap;
	va_start(ap, fmt);
	int k = vsnprintf(t->s + t->n, sizeof t->s - t->n, fmt, ap);
	va_end(ap);
	if (k > 0) t->n = SN_MIN(t->n + (size_t)k, sizeof t->s - 1);
}

static void print_group(FILE *f, const sn_chg *d, int gi, int number)
{
	const sn_graph *g = d->g;
	text made = {{0}, 0}, tied = {{0}, 0}, via = {{0}, 0}, carried = {{0}, 0}, read = {{0}, 0};
	for (int i = 0; i < g->n_node; i++) {
		const sn_node *n = &g->node[i];
		int first, k = slots_in(d, i, gi, &first);
		const sn_chan_rule r = sn_node_chan(g, n);
		const int weights = sn_op_has_params(sn_op_get(n->op));
		if (k && sn_chg_maker(g, n) && d->maker[d->id[d->off[i]]] == i) put(&made, " %s", n->name);
		else if (k && r == SN_CH_TIES) put(&tied, " %s", n->name);
		else if (k && r == SN_CH_CONCAT)
			put(&via, " %s (channels %d..%d of %d)", n->name, first, first + k - 1, d->len[i]);
		else if (k && weights) put(&carried, " %s", n->name);
		/* a layer with weights that does not carry its input's channels reads them through its weights */
		for (int j = 0; j < n->n_in && weights && r != SN_CH_PASS; j++) {
			int in = n->in[j], kk = slots_in(d, in, gi, &first);
			if (!kk) continue;
			if (n->op == SN_OP_LINEAR && d->hw[in] > 1) put(&read, " %s (%d features a channel)", n->name, d->hw[in]);
			else put(&read, " %s", n->name);
		}
	}
	int classes, prunable;
	sn_chg_group_size(d, gi, &classes, &prunable);
	fprintf(f, "group %d: %d channels, %s\n", number, classes, prunable ? "prunable" : "fixed");
	fprintf(f, "  made by   %s\n", made.s + 1);
	if (tied.n) fprintf(f, "  tied by   %s (add, mul: the same channels go)\n", tied.s + 1);
	if (via.n) fprintf(f, "  concat    %s\n", via.s + 1);
	if (carried.n) fprintf(f, "  carried  %s\n", carried.s);
	if (read.n) fprintf(f, "  read by   %s\n", read.s + 1);
}

int sn_prune_print_groups(FILE *f, const sn_graph *g, const unsigned char *prunable)
{
	sn_chg *d = sn_chg_build(g, prunable);
	if (!d) return SN_ENOMEM;
	int number = 0;
	/* in the order of their first producer; the neurons of Linears only when they are prunable
	 * (neuron granularity): filter pruning leaves them alone */
	for (int i = 0; i < g->n_node; i++)
		for (int gi = 0; gi < d->n_group; gi++)
			if (d->group_first[gi] == i && (g->node[i].op == SN_OP_CONV || !prunable || prunable[i]))
				print_group(f, d, gi, ++number);
	if (!number) fprintf(f, "no layer makes channels that could be removed\n");
	sn_chg_free(d);
	return SN_OK;
}
