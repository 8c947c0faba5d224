/* The graph: nodes in topological order (inputs always precede their consumers), tensors laid
 * out in two flat vectors (trainable params, buffers); and plans, which run it: each with its
 * own arena and per-node records, so that several can run one graph at once. */
#include <math.h>
#include <omp.h>
#include "core/internal.h"
#include "kernels/dnnl_conv.h"
#include "core/quant.h"
#include "core/sparse.h"

sn_graph *sn_graph_new(void)
{
	sn_graph *g = calloc(1, sizeof *g);
	if (g && !(g->plan = sn_plan_new(g))) { free(g); return NULL; }
	return g;
}

void sn_graph_free(sn_graph *g)
{
	if (!g) return;
	sn_plan_free(g->plan);
	sn_sparse_reset(g);
	for (int i = 0; i < g->n_node; i++) sn_qnode_free(g->node[i].q);
	for (int i = 0; i < g->n_tensor; i++) free(g->tensor[i].mask);
	free(g->node); free(g->tensor);
	free(g->w); free(g->gw); free(g->buf);
	free(g);
}

int sn_graph_find(const sn_graph *g, const char *name)
{
	for (int i = 0; i < g->n_node; i++)
		if (!strcmp(g->node[i].name, name)) return i;
	return -1;
}

int sn_name_in_list(const char *list, const char *name)
{
	const size_t n = strlen(name);
	for (const char *p = list; p && *p;) {
		const char *e = strchr(p, ',');
		const size_t len = e ? (size_t)(e - p) : strlen(p);
		if (len == n && !strncmp(p, name, n)) return 1;
		p = e ? e + 1 : NULL;
	}
	return 0;
}

int sn_tensor_find(const sn_graph *g, const char *name)
{
	for (int i = 0; i < g->n_tensor; i++)
		if (!strcmp(g->tensor[i].name, name)) return i;
	return -1;
}

int sn_graph_add(sn_graph *g, const sn_node *src)
{
	if (sn_graph_find(g, src->name) >= 0)
		return sn_seterr(SN_EINVAL, "layer name '%s' is used twice; names must be unique", src->name);
	for (int i = 0; i < src->n_in; i++)
		if (src->in[i] < 0 || src->in[i] >= g->n_node)
			return sn_seterr(SN_EINVAL, "layer '%s': input %d does not exist", src->name, i);
	if (g->n_node == g->cap_node) {
		int cap = g->cap_node ? 2 * g->cap_node : 16;
		sn_node *p = realloc(g->node, cap * sizeof *p);
		if (!p) return sn_seterr(SN_ENOMEM, "out of memory");
		g->node = p; g->cap_node = cap;
	}
	sn_node *n = &g->node[g->n_node];
	*n = *src;
	for (int i = 0; i < SN_T_MAX; i++) n->t[i] = -1;
	n->impl = SN_IMPL_DENSE; n->spmm = NULL;   /* packed weights belong to the source graph */
	n->q = NULL;                               /* and so do int8 records (sn_q_copy copies them) */
	g->version++;
	return g->n_node++;
}

/* ---------------------------------------------------------------- tensors */

static void remove_tensor(sn_graph *g, int k)
{
	free(g->tensor[k].mask);
	memmove(&g->tensor[k], &g->tensor[k + 1], (g->n_tensor - k - 1) * sizeof *g->tensor);
	g->n_tensor--;
	for (int i = 0; i < g->n_node; i++)
		for (int s = 0; s < SN_T_MAX; s++) {
			if (g->node[i].t[s] == k) g->node[i].t[s] = -1;
			else if (g->node[i].t[s] > k) g->node[i].t[s]--;
		}
}

void sn_drop_tensor(sn_graph *g, sn_node *n, int slot)
{
	if (n->t[slot] >= 0) remove_tensor(g, n->t[slot]);
}

int sn_need_tensor(sn_graph *g, sn_node *n, int slot, int ndim, const int *dims)
{
	const char *suffix = sn_op_get(n->op)->tensors[slot].suffix;
	const sn_tensor_kind kind = sn_op_get(n->op)->tensors[slot].kind;
	size_t numel = 1;
	for (int i = 0; i < ndim; i++) {
		if (dims[i] <= 0)
			return sn_seterr(SN_ESHAPE, "layer '%s': %s would have a dimension of %d", n->name, suffix, dims[i]);
		numel *= (size_t)dims[i];
	}
	if (numel > (size_t)1 << 31)
		return sn_seterr(SN_ESHAPE, "layer '%s': %s would have %zu values (too many)", n->name, suffix, numel);
	sn_tensor *t = sn_t(g, n, slot);
	if (t) {
		int same = t->ndim == ndim && t->kind == kind;
		for (int i = 0; same && i < ndim; i++) same = t->dims[i] == dims[i];
		if (same) return SN_OK;
		if (g->shapes_locked)
			return sn_seterr(SN_ESHAPE, "layer '%s': its trained %s does not fit this input (the shape would change); "
			                 "use the input shape the model was trained on", n->name, suffix);
		t->data = NULL; /* different shape: values start again from zero */
		free(t->mask); t->mask = NULL;
	} else {
		if (g->n_tensor == g->cap_tensor) {
			int cap = g->cap_tensor ? 2 * g->cap_tensor : 32;
			sn_tensor *p = realloc(g->tensor, cap * sizeof *p);
			if (!p) return sn_seterr(SN_ENOMEM, "out of memory");
			g->tensor = p; g->cap_tensor = cap;
		}
		n->t[slot] = g->n_tensor++;
		t = &g->tensor[n->t[slot]];
		memset(t, 0, sizeof *t);
	}
	snprintf(t->name, sizeof t->name, "%s.%s", n->name, suffix);
	t->node = (int)(n - g->node);
	t->kind = kind;
	t->ndim = ndim;
	for (int i = 0; i < 4; i++) t->dims[i] = i < ndim ? dims[i] : 1;
	t->n = numel;
	return SN_OK;
}

/* Lays the tensors out in fresh flat vectors, keeping every value whose tensor kept its shape.
 * Tensors with data == NULL (new or reshaped) start at zero. */
static int layout(sn_graph *g)
{
	size_t nw = 0, nb = 0;
	for (int i = 0; i < g->n_tensor; i++) {
		sn_tensor *t = &g->tensor[i];
		if (t->kind == SN_TENSOR_PARAM) nw += t->n; else nb += t->n;
	}
	float *w = calloc(nw ? nw : 1, sizeof *w), *gw = calloc(nw ? nw : 1, sizeof *gw);
	float *b = calloc(nb ? nb : 1, sizeof *b);
	if (!w || !gw || !b) { free(w); free(gw); free(b); return sn_seterr(SN_ENOMEM, "out of memory for parameters"); }
	size_t ow = 0, ob = 0;
	for (int i = 0; i < g->n_tensor; i++) {
		sn_tensor *t = &g->tensor[i];
		float *dst = t->kind == SN_TENSOR_PARAM ? w + ow : b + ob;
		if (t->data) memcpy(dst, t->data, t->n * sizeof *dst);
		t->off = t->kind == SN_TENSOR_PARAM ? ow : ob;
		t->data = dst;
		t->grad = t->kind == SN_TENSOR_PARAM ? gw + ow : NULL;
		if (t->kind == SN_TENSOR_PARAM) ow += t->n; else ob += t->n;
	}
	free(g->w); free(g->gw); free(g->buf);
	g->w = w; g->gw = gw; g->buf = b; g->n_w = nw; g->n_buf = nb;
	return SN_OK;
}

int sn_shape_error(const sn_node *n, sn_shape got, const char *expected)
{
	char s[64];
	return sn_seterr(SN_ESHAPE, "layer '%s' (%s): input shape %s does not fit: %s", n->name,
	                 sn_node_torch(n), sn_shape_str(got, s, sizeof s), expected);
}

int sn_graph_infer(sn_graph *g)
{
	if (g->n_node == 0 || g->node[0].op != SN_OP_INPUT)
		return sn_seterr(SN_EINVAL, "a model must start with an input layer");
	for (int i = 0; i < g->n_node; i++) {
		sn_node *n = &g->node[i];
		const sn_op_def *d = sn_op_get(n->op);
		if (n->n_in < d->min_in || n->n_in > d->max_in)
			return sn_seterr(SN_EINVAL, "layer '%s' (%s) takes %d..%d inputs, got %d", n->name, d->torch,
			                 d->min_in, d->max_in, n->n_in);
		int rc = d->run(g, n, NULL, SN_ACT_SHAPE);
		if (rc) return rc;
		if (n->out.c <= 0 || n->out.h <= 0 || n->out.w <= 0) {
			char si[64], so[64];
			return sn_seterr(SN_ESHAPE, "layer '%s' (%s): input shape %s gives an empty output %s; the input is too small for it",
			                 n->name, d->torch, sn_shape_str(n->n_in ? g->node[n->in[0]].out : n->out, si, sizeof si),
			                 sn_shape_str(n->out, so, sizeof so));
		}
	}
	size_t total = 0;
	for (int i = 0; i < g->n_tensor; i++) total += g->tensor[i].n;
	if (total > SN_VALUES_MAX)
		return sn_seterr(SN_ESHAPE, "the model would have %zu parameters and buffers, more than slimnn's limit of %zu",
		                 total, SN_VALUES_MAX);
	g->version++; /* shapes may have changed: plan again */
	return layout(g);
}

/* ---------------------------------------------------------------- initialisation */

static void uniform_fill(sn_rng *r, float *p, size_t n, float bound)
{
	for (size_t i = 0; i < n; i++) p[i] = (2.0f * sn_rng_uniform(r) - 1.0f) * bound;
}

/* Each tensor as its operator's row says, in slot order (the weight's draws before the bias's). */
void sn_init_layer(sn_graph *g, sn_node *n, sn_rng *r)
{
	const sn_op_def *d = sn_op_get(n->op);
	const sn_tensor *w = sn_t(g, n, SN_T_WEIGHT);
	for (int s = 0; s < d->n_tensors; s++) {
		sn_tensor *t = sn_t(g, n, s);
		if (!t) continue;
		if (d->tensors[s].init == SN_INIT_FAN_IN) {
			/* kaiming_uniform(a=sqrt(5)) gives bound 1/sqrt(fan_in), the same as the bias */
			size_t fan_in = w->n / (size_t)w->dims[0];
			uniform_fill(r, t->data, t->n, 1.0f / sqrtf((float)fan_in));
		} else {
			for (size_t k = 0; k < t->n; k++) t->data[k] = d->tensors[s].init == SN_INIT_ONE ? 1.0f : 0.0f;
		}
	}
}

void sn_graph_init_params(sn_graph *g, uint64_t seed)
{
	sn_rng r;
	sn_rng_seed(&r, seed);
	for (int i = 0; i < g->n_node; i++) sn_init_layer(g, &g->node[i], &r);
}

/* ---------------------------------------------------------------- plans */

/* The plan keeps a plain pointer because the op functions take one (for SN_ACT_SHAPE, which
 * builds graphs and which no plan runs): inference writes nothing of the model, training only
 * what slimnn.h says (gradients, BN statistics, the sparse packs it drops). */
sn_plan *sn_plan_new(const sn_graph *g)
{
	if (!g) { sn_seterr(SN_EINVAL, "a plan needs a model"); return NULL; }
	sn_plan *p = calloc(1, sizeof *p);
	if (!p) { sn_seterr(SN_ENOMEM, "out of memory for a plan"); return NULL; }
	p->g = (sn_graph *)g;
	sn_rng_seed(&p->rng, 1);
	return p;
}

/* What the plan's records own besides the arena: the oneDNN handles of dense convs. */
static void release_rt(sn_plan *p)
{
	for (int i = 0; i < p->n_rt; i++)
		for (int k = 0; k < 2; k++) {
			sn_dnnl_conv_free(p->rt[i].dnnl[k]);
			p->rt[i].dnnl[k] = NULL;
		}
}

/* Inference plans keep oneDNN layers' weights packed: a reshape, which callers make after
 * changing the weights, has them packed again at the next forward. */
static void forget_packed(sn_plan *p)
{
	for (int i = 0; i < p->n_rt; i++)
		for (int k = 0; k < 2; k++) sn_dnnl_conv_unpack(p->rt[i].dnnl[k]);
}

void sn_plan_free(sn_plan *p)
{
	if (!p) return;
	release_rt(p);
	free(p->arena);
	free(p->rt);
	free(p);
}

/* Operators marked in place (ReLU, ReLU6, Flatten) work on their producer's output (and
 * gradient) when they are its only consumer, the producer is not the caller's input, and the
 * producer's own backward does not read its output (SN_OPF_READS_OUTPUT; those aliased
 * already count). */
static int can_alias(const sn_graph *g, const sn_node *n, const int *consumers, const char *aliased)
{
	if (!(sn_op_get(n->op)->flags & SN_OPF_IN_PLACE)) return 0;
	int p = n->in[0];
	return p > 0 && consumers[p] == 1 && !aliased[p] && !(sn_op_get(g->node[p].op)->flags & SN_OPF_READS_OUTPUT);
}

static size_t tensor_bytes(const sn_node *n, int batch) { return sn_align((size_t)batch * sn_shape_numel(n->out) * sizeof(float)); }

/* Bytes of node i's output: 0 where it works in place, is the caller's input (unless rounded
 * to its int8 grid: the caller's stays as given), or is read only in int8. */
static size_t out_bytes(const sn_plan *pl, int i, int batch, const char *aliased)
{
	const sn_node *n = &pl->g->node[i];
	return aliased[i] || (n->op == SN_OP_INPUT && !pl->rt[i].fq) || !pl->rt[i].need_f ? 0 : tensor_bytes(n, batch);
}

/* Bytes of node i's int8 output (quantized models), where an int8 layer writes or reads it, or
 * of its gradient's pass marks (fake quantization): one per value. */
static size_t q_bytes(const sn_plan *pl, int i, int batch)
{
	return pl->rt[i].need_q || pl->rt[i].fq ? sn_align((size_t)batch * sn_shape_numel(pl->g->node[i].out)) : 0;
}

/* Bytes of node i's gradient: training plans only, not in place, and the input's only when the
 * caller asked for it (needs_grad). */
static size_t grad_bytes(const sn_plan *pl, int i, int batch, int train, const char *aliased)
{
	const sn_node *n = &pl->g->node[i];
	return train && !aliased[i] && (n->op != SN_OP_INPUT || pl->rt[i].needs_grad) ? tensor_bytes(n, batch) : 0;
}

int sn_plan_concat_in_place = 1;   /* core/internal.h */

/* Concat in place: at batch 1 each input of a channel concat is one contiguous block of its
 * output, so the input's buffer (its owner's, through in-place aliases) can be that block: the
 * producer writes there and sn_op_concat finds nothing to copy. Concats are visited last first,
 * so that a concat of concats knows where its inputs' host lives before they place theirs. An
 * input keeps its own buffer where it is the caller's input (or has none), a concat holds it
 * already (fed twice, or to two concats), its block would start off the arena's alignment, or
 * it is read after an in-place op (ReLU) rewrote a concat holding it. host[i] gets the node
 * whose output holds owner i's (-1: none), at byte `slice[i]` of it; last[i] is the last node
 * that reads owner i's buffer. */
static void place_concat_inputs(const sn_plan *pl, int batch, const char *aliased, const int *owner, const int *last,
                                int *host, size_t *slice)
{
	const sn_graph *g = pl->g;
	const int N = g->n_node;
	for (int c = N - 1; c > 0; c--) {
		const sn_node *n = &g->node[c];
		if (n->op != SN_OP_CONCAT || aliased[c] || !out_bytes(pl, c, batch, aliased)) continue;
		/* the first in-place write into c's output or into any output that holds it */
		int rewritten = N;
		for (int a = c; a >= 0; a = host[a])
			for (int j = a + 1; j < N; j++)
				if (aliased[j] && owner[j] == a) { rewritten = SN_MIN(rewritten, j); break; }
		size_t at = 0;
		for (int k = 0; k < n->n_in; at += (size_t)batch * sn_shape_numel(g->node[n->in[k]].out) * sizeof(float), k++) {
			const int o = owner[n->in[k]];
			if (!out_bytes(pl, o, batch, aliased) || g->node[o].op == SN_OP_INPUT || host[o] >= 0 ||
			    at % SN_ALIGN || last[o] >= rewritten)
				continue;
			host[o] = c;
			slice[o] = at;
		}
	}
}

/* Inference plans that need not keep every output: node outputs at offsets from
 * sn_plan_memory, each live until the last node that reads it or an in-place alias of it (no
 * node runs after the last one, so its output stays for the caller); what an op keeps (saved)
 * lives throughout. With in_place (batch 1, float), concat inputs are blocks of the concat's
 * output (place_concat_inputs), which then lives from its first input's write to the last
 * read of any of them. Returns the bytes. */
static size_t plan_reused(const sn_plan *pl, int batch, const char *aliased, int in_place, size_t *offset)
{
	const sn_graph *g = pl->g;
	const int N = g->n_node;
	sn_membuf *buf = malloc((size_t)3 * N * sizeof *buf);
	int *owner = malloc((size_t)3 * N * sizeof *owner), *host = owner + N, *last = owner + 2 * N;
	size_t *slice = malloc((size_t)N * sizeof *slice);
	if (!buf || !owner || !slice) { free(buf); free(owner); free(slice); return SIZE_MAX; }
	for (int i = 0; i < N; i++) {
		owner[i] = aliased[i] ? owner[g->node[i].in[0]] : i;
		host[i] = -1;
		const int first = pl->rt[i].by_input ? g->node[i].in[0] : i;   /* a fused pool is written while its conv runs */
		buf[i] = (sn_membuf){out_bytes(pl, i, batch, aliased), 0, first, i};
		buf[N + i] = (sn_membuf){sn_align(pl->rt[i].saved_bytes), 0, 0, N};
		buf[2 * N + i] = (sn_membuf){q_bytes(pl, i, batch), 0, first, i};
	}
	for (int i = 0; i < N; i++)
		for (int k = 0; k < g->node[i].n_in; k++) {
			const int o = owner[g->node[i].in[k]];
			buf[o].last = SN_MAX(buf[o].last, i);
			buf[2 * N + o].last = SN_MAX(buf[2 * N + o].last, i);
		}
	for (int i = 0; i < N; i++) last[i] = buf[i].last;
	if (in_place) place_concat_inputs(pl, batch, aliased, owner, last, host, slice);
	for (int i = 0; i < N; i++)   /* a host outlives its blocks; hosts come after them, so nested ones add up */
		if (host[i] >= 0) {
			sn_membuf *h = &buf[host[i]];
			h->first = SN_MIN(h->first, buf[i].first);
			h->last = SN_MAX(h->last, buf[i].last);
			buf[i].size = 0;
		}
	const size_t total = sn_plan_memory(buf, 3 * N);
	for (int i = N - 1; i >= 0; i--) {
		offset[i] = host[i] >= 0 ? offset[host[i]] + slice[i] : buf[i].offset;
		offset[N + i] = buf[N + i].offset;
		offset[3 * N + i] = buf[2 * N + i].offset;
	}
	free(buf); free(owner); free(slice);
	return total;
}

/* The reused arena with concat inputs in place where that applies, unless it needs more bytes
 * than without (a host lives longer than its blocks did). */
static size_t plan_inference(const sn_plan *pl, int batch, const char *aliased, int in_place, size_t *offset)
{
	const int N = pl->g->n_node;
	const size_t copied = plan_reused(pl, batch, aliased, 0, offset);
	if (!in_place || copied == SIZE_MAX) return copied;
	size_t *placed_offset = malloc((size_t)4 * N * sizeof *placed_offset);
	if (!placed_offset) return SIZE_MAX;
	const size_t placed = plan_reused(pl, batch, aliased, 1, placed_offset);
	if (placed <= copied) memcpy(offset, placed_offset, (size_t)4 * N * sizeof *offset);
	free(placed_offset);
	return SN_MIN(placed, copied);   /* planning out of memory (SIZE_MAX): the copying plan */
}

/* Training plans (and inference plans that keep every output): outputs, gradients and saved
 * buffers one after another, node by node. */
static size_t plan_all(const sn_plan *pl, int batch, int train, const char *aliased, size_t *offset)
{
	const int N = pl->g->n_node;
	size_t p = 0;
	for (int i = 0; i < N; i++) {
		offset[i] = p; p += out_bytes(pl, i, batch, aliased);
		offset[2 * N + i] = p; p += grad_bytes(pl, i, batch, train, aliased);
		offset[N + i] = p; p += sn_align(pl->rt[i].saved_bytes);
		offset[3 * N + i] = p; p += q_bytes(pl, i, batch);
	}
	return p;
}

/* Which outputs a pass needs in float and which in int8: an int8 layer reads and writes int8,
 * a float layer float; the caller reads the last output (every output, when kept) in float.
 * A fake-quantization plan runs every layer in float and rounds to the int8 grid (fq) the
 * outputs an int8 plan would hold in int8. Returns 1 when some layer runs in int8 or rounds,
 * 0 when none does, or an error. */
static int mark_dtypes(sn_plan *pl, int train, int keep, int fake)
{
	const sn_graph *g = pl->g;
	const int N = g->n_node;
	int any = 0;
	for (int i = 0; i < N; i++) {
		sn_node_rt *r = &pl->rt[i];
		const int int8 = i > 0 && sn_node_runs_int8(&g->node[i]);
		r->q8 = (char)(!train && !fake && int8);
		r->fq = (char)(fake && int8);
		r->need_f = (char)(!r->q8 || keep || i == N - 1);
		r->need_q = r->q8;
		any |= r->q8 | r->fq;
	}
	for (int i = 1; i < N; i++)
		for (int k = 0; k < g->node[i].n_in; k++) {
			sn_node_rt *p = &pl->rt[g->node[i].in[k]];
			if (pl->rt[i].q8) p->need_q = 1;
			else p->need_f = 1;
			p->fq |= pl->rt[i].fq;
		}
	for (int i = 0; i < N; i++)
		if ((pl->rt[i].need_q || pl->rt[i].fq) && !g->node[i].q)
			return sn_seterr(SN_EFORMAT, "layer '%s' feeds an int8 layer but has no int8 parameters: quantize the model again",
			                 g->node[i].name);
	return any;
}

/* Layers whose output the layer before them writes (a 2x2 max-pool after a depthwise conv,
 * which pools its planes from its scratch, or after an int8 conv, which pools its sums:
 * ops/conv.c), where that layer's output is read by nothing else and so is never stored; both
 * in float or both in int8. Inference plans that keep no outputs, without fake quantization. */
int sn_plan_fuse_pools = 1;   /* core/internal.h */
static void fuse_into_inputs(sn_plan *pl, const int *consumers)
{
	const sn_graph *g = pl->g;
	for (int i = 1; i < g->n_node; i++) {
		const sn_node *n = &g->node[i];
		const sn_op_def *d = sn_op_get(n->op);
		const int c = n->n_in == 1 ? n->in[0] : 0;
		if (!d->fuses_into_input || c == 0 || consumers[c] != 1 || pl->rt[c].q8 != pl->rt[i].q8 ||
		    !d->fuses_into_input(g, n))
			continue;
		pl->rt[c].writes_next = i;
		pl->rt[c].need_f = 0;
		pl->rt[c].need_q = 0;
		pl->rt[i].by_input = 1;
	}
}

/* The operator function that runs node n in plan pl: its int8 forward or its float one. */
static sn_op_fn op_fn(const sn_plan *pl, const sn_node *n)
{
	const sn_op_def *d = sn_op_get(n->op);
	return sn_rt(pl, n)->q8 ? d->run_q8 : d->run;
}

int sn_plan_reshape(sn_plan *pl, int batch, unsigned flags)
{
	if (batch <= 0) return sn_seterr(SN_EINVAL, "batch size must be positive");
	if (flags & ~(unsigned)(SN_PLAN_TRAIN | SN_PLAN_INPUT_GRAD | SN_PLAN_KEEP_OUTPUTS | SN_PLAN_FAKE_QUANT))
		return sn_seterr(SN_EINVAL, "unknown plan flags 0x%x; use SN_PLAN_TRAIN, SN_PLAN_INPUT_GRAD, SN_PLAN_KEEP_OUTPUTS, "
		                 "SN_PLAN_FAKE_QUANT", flags);
	sn_graph *g = pl->g;
	if (!g->n_node) return sn_seterr(SN_EINVAL, "the model has no layers to plan");
	const int train = !!(flags & SN_PLAN_TRAIN), input_grad = train && (flags & SN_PLAN_INPUT_GRAD);
	const int fake = !!(flags & SN_PLAN_FAKE_QUANT);
	if (train && !fake && sn_graph_is_int8(g))
		return sn_seterr(SN_EINVAL, "the model is quantized (int8 layers): train it with quantization-aware training "
		                 "(--qat), or train the float model and quantize it again");
	if (train) sn_sparse_reset(g);   /* training changes the weights: packed copies would go stale */
	/* a training plan also serves inference (it holds everything forward needs, and keeps it) */
	const int keep = train || (flags & SN_PLAN_KEEP_OUTPUTS);
	if (pl->planned_batch >= batch && pl->version == g->version && pl->planned_train >= train &&
	    pl->planned_input_grad >= input_grad && (pl->planned_keep || !keep) && pl->fake_quant == fake) {
		pl->train = train;
		forget_packed(pl);
		return SN_OK;
	}
	sn_get_threads();
	pl->planned_batch = 0;   /* until this plan is made */
	release_rt(pl);
	const int N = g->n_node;
	if (pl->n_rt != N) {
		sn_node_rt *rt = realloc(pl->rt, (size_t)SN_MAX(N, 1) * sizeof *rt);
		if (!rt) return sn_seterr(SN_ENOMEM, "out of memory");
		memset(rt, 0, (size_t)N * sizeof *rt);
		pl->rt = rt; pl->n_rt = N;
	}
	for (int i = 0; i < N; i++)   /* the profile clocks run on across plans */
		pl->rt[i] = (sn_node_rt){.t_fwd = pl->rt[i].t_fwd, .t_bwd = pl->rt[i].t_bwd};
	pl->batch = batch;
	pl->train = train;
	pl->fake_quant = fake;
	int *consumers = calloc((size_t)SN_MAX(N, 1), sizeof *consumers);
	char *aliased = calloc((size_t)SN_MAX(N, 1), 1);
	size_t *offset = malloc((size_t)4 * N * sizeof *offset);   /* output, saved, gradient, int8 output */
	if (!consumers || !aliased || !offset) {
		free(consumers); free(aliased); free(offset);
		return sn_seterr(SN_ENOMEM, "out of memory");
	}
	const int int8 = mark_dtypes(pl, train, keep, fake);
	if (int8 < 0) {
		free(consumers); free(aliased); free(offset);
		return int8;
	}
	for (int i = 0; i < N; i++)
		for (int k = 0; k < g->node[i].n_in; k++) consumers[g->node[i].in[k]]++;
	/* in place only where no output is read afterwards in its own right (int8 layers keep theirs) */
	const int alias = !int8 && (train || !(flags & SN_PLAN_KEEP_OUTPUTS));
	for (int i = 1; i < N && alias; i++) aliased[i] = (char)can_alias(g, &g->node[i], consumers, aliased);
	if (!train && !keep && !fake && sn_plan_fuse_pools) fuse_into_inputs(pl, consumers);
	size_t ws = 0;
	for (int i = 0; i < N; i++) {
		sn_node *n = &g->node[i];
		sn_node_rt *r = &pl->rt[i];
		int has_param = 0;
		for (int s = 0; s < SN_T_MAX; s++)
			if (n->t[s] >= 0 && g->tensor[n->t[s]].kind == SN_TENSOR_PARAM && !n->frozen) has_param = 1;
		r->needs_grad = train && (has_param || (n->op == SN_OP_INPUT && input_grad));
		for (int k = 0; k < n->n_in; k++) r->needs_grad |= pl->rt[n->in[k]].needs_grad;
		op_fn(pl, n)(g, n, pl, SN_ACT_SIZES);
		if (!train) r->ws_bytes = SN_MAX(r->ws_bytes, sn_sparse_ws(g, n, batch));
		ws = SN_MAX(ws, r->ws_bytes);
	}
	/* concat inputs in place: per image blocks are only contiguous at batch 1; int8 concats requantize */
	const int concat_in_place = sn_plan_concat_in_place && batch == 1 && !int8;
	size_t total = keep ? plan_all(pl, batch, train, aliased, offset) : plan_inference(pl, batch, aliased, concat_in_place, offset);
	free(pl->arena);
	pl->arena = total == SIZE_MAX ? NULL : aligned_alloc(SN_ALIGN, sn_align(total + sn_align(ws) + 1));
	if (!pl->arena) {
		free(consumers); free(aliased); free(offset);
		pl->arena_bytes = 0;
		if (total == SIZE_MAX) return sn_seterr(SN_ENOMEM, "out of memory");   /* planning itself */
		return sn_seterr(SN_ENOMEM, "out of memory: the batch of %d needs %zu MB", batch, total >> 20);
	}
	pl->arena_bytes = total + sn_align(ws);
	for (int i = 0; i < N; i++) {
		sn_node *n = &g->node[i];
		sn_node_rt *r = &pl->rt[i];
		if (aliased[i]) {
			r->y = pl->rt[n->in[0]].y;
			r->dy = pl->rt[n->in[0]].dy;
			continue;
		}
		if (out_bytes(pl, i, batch, aliased)) r->y = (float *)(pl->arena + offset[i]);
		if (q_bytes(pl, i, batch) && r->fq) r->ste = pl->arena + offset[3 * N + i];
		else if (q_bytes(pl, i, batch)) r->q = (int8_t *)(pl->arena + offset[3 * N + i]);
		if (grad_bytes(pl, i, batch, train, aliased)) r->dy = (float *)(pl->arena + offset[2 * N + i]);
		if (r->saved_bytes) r->saved = pl->arena + offset[N + i];
	}
	pl->ws = (float *)(pl->arena + total); pl->ws_bytes = ws;
	pl->planned_batch = batch;
	pl->planned_train = train;
	pl->planned_input_grad = input_grad;
	pl->planned_keep = keep;
	pl->version = g->version;
	free(consumers); free(aliased); free(offset);
	return SN_OK;
}

int (*sn_node_status_hook)(const sn_node *n, sn_action act, int status);   /* core/internal.h */

/* After node n's forward: its output in the other type where readers need it (quantized with
 * its own parameters, or dequantized), or rounded to its int8 grid in place (fake quantization:
 * the range it covered before is kept for the observers). */
static void convert(const sn_plan *pl, const sn_node *n)
{
	sn_node_rt *r = sn_rt(pl, n);
	if (r->q8 ? !r->need_f : !r->need_q && !r->fq) return;
	const size_t total = (size_t)pl->batch * sn_shape_numel(n->out), chunk = 16384;
	const long chunks = (long)((total + chunk - 1) / chunk);
	const sn_qparams qp = n->q->y;
	float lo = INFINITY, hi = -INFINITY;
	#pragma omp parallel for schedule(static) if (chunks > 1) reduction(min : lo) reduction(max : hi)
	for (long c = 0; c < chunks; c++) {
		const size_t at = (size_t)c * chunk, len = SN_MIN(chunk, total - at);
		if (r->q8) sn_q_dequantize(r->q + at, len, qp, r->y + at);
		else if (r->fq) sn_q_fake(r->y + at, len, qp, r->ste + at, &lo, &hi);
		else sn_q_quantize(r->y + at, len, qp, -128, 127, r->q + at);
	}
	r->fq_lo = lo; r->fq_hi = hi;
}

/* Runs one node's forward or backward; a failure keeps the operator's status and says which
 * node failed (once: the operator's own message may name it already). */
static int run_node(sn_plan *pl, sn_node *n, sn_action act)
{
	const double t0 = pl->profile ? omp_get_wtime() : 0;
	int rc = op_fn(pl, n)(pl->g, n, pl, act);
	if (rc >= 0 && act == SN_ACT_FORWARD) convert(pl, n);
	if (sn_node_status_hook) rc = sn_node_status_hook(n, act, rc);
	if (pl->profile) {
		if (act == SN_ACT_FORWARD) sn_rt(pl, n)->t_fwd += omp_get_wtime() - t0;
		else sn_rt(pl, n)->t_bwd += omp_get_wtime() - t0;
	}
	if (rc >= 0) return SN_OK;
	char msg[1024], quoted[sizeof n->name + 2];
	snprintf(msg, sizeof msg, "%s", sn_errmsg());
	snprintf(quoted, sizeof quoted, "'%s'", n->name);
	if (strstr(msg, quoted)) return sn_seterr(rc, "%s", msg);
	return sn_seterr(rc, "layer '%s' (%s, %s): %s", n->name, sn_op_get(n->op)->key,
	                 act == SN_ACT_FORWARD ? "forward" : "backward", msg);
}

/* A pass needs a plan for this graph's nodes and a batch that fits its arena. */
static int check_pass(const sn_plan *pl, int batch)
{
	if (!pl->planned_batch || pl->n_rt != pl->g->n_node)
		return sn_seterr(SN_EINVAL, "the plan is not sized for this model: call sn_plan_reshape (sn_graph_plan) first");
	if (batch <= 0 || batch > pl->planned_batch)
		return sn_seterr(SN_EINVAL, "a batch of %d does not fit the plan, sized for 1..%d", batch, pl->planned_batch);
	return SN_OK;
}

const float *sn_plan_forward(sn_plan *pl, const float *x, int batch)
{
	sn_graph *g = pl->g;
	if (check_pass(pl, batch)) return NULL;
	pl->batch = batch;
	if (pl->rt[0].fq) memcpy(pl->rt[0].y, x, (size_t)batch * sn_shape_numel(g->node[0].out) * sizeof *x);
	else pl->rt[0].y = (float *)x;
	convert(pl, &g->node[0]);
	for (int i = 1; i < g->n_node; i++)
		if (run_node(pl, &g->node[i], SN_ACT_FORWARD)) return NULL;
	return pl->rt[g->n_node - 1].y;
}

int sn_plan_backward(sn_plan *pl, const float *dlogits)
{
	sn_graph *g = pl->g;
	if (check_pass(pl, pl->batch)) return sn_errcode();
	sn_node_rt *last = &pl->rt[g->n_node - 1];
	if (!last->dy)   /* an inference plan has no gradients */
		return sn_seterr(SN_EINVAL, "backward needs a training plan: call sn_graph_plan(g, batch, 1) first");
	for (int i = 0; i < g->n_node; i++) pl->rt[i].dy_written = 0;
	memcpy(last->dy, dlogits, (size_t)pl->batch * sn_shape_numel(g->node[g->n_node - 1].out) * sizeof(float));
	last->dy_written = 1;
	for (int i = g->n_node - 1; i > 0; i--) {
		sn_node *n = &g->node[i];
		sn_node_rt *r = &pl->rt[i];
		if (!r->dy_written || !r->needs_grad) continue;
		if (r->fq) {   /* straight through the rounding, nothing where it clamped */
			const size_t total = (size_t)pl->batch * sn_shape_numel(n->out);
			#pragma omp parallel for schedule(static) if (total > 65536)
			for (size_t j = 0; j < total; j++) r->dy[j] = r->ste[j] ? r->dy[j] : 0.0f;
		}
		const int rc = run_node(pl, n, SN_ACT_BACKWARD);
		if (rc) return rc;
	}
	return SN_OK;
}

int sn_plan_set_train(sn_plan *pl, int train)
{
	if (train && !pl->planned_train)
		return sn_seterr(SN_EINVAL, "training mode needs a training plan: reshape it with SN_PLAN_TRAIN first");
	pl->train = !!train;
	return SN_OK;
}

static const sn_node_rt *record(const sn_plan *pl, int node)
{
	return pl->planned_batch && node >= 0 && node < pl->n_rt ? &pl->rt[node] : NULL;
}

const float *sn_plan_output(const sn_plan *pl, int node) { const sn_node_rt *r = record(pl, node); return r ? r->y : NULL; }
const float *sn_plan_grad(const sn_plan *pl, int node) { const sn_node_rt *r = record(pl, node); return r ? r->dy : NULL; }
size_t sn_plan_arena_bytes(const sn_plan *pl) { return pl->arena_bytes; }
sn_rng *sn_plan_rng(sn_plan *pl) { return &pl->rng; }

void sn_plan_profile(sn_plan *pl, int on)
{
	pl->profile = on;
	for (int i = 0; on && i < pl->n_rt; i++) pl->rt[i].t_fwd = pl->rt[i].t_bwd = 0;
}

double sn_plan_seconds(const sn_plan *pl, int node, sn_action act)
{
	const sn_node_rt *r = record(pl, node);
	return !r ? 0 : act == SN_ACT_BACKWARD ? r->t_bwd : r->t_fwd;
}

/* The graph's own plan */
int sn_graph_plan(sn_graph *g, int batch, int train) { return sn_plan_reshape(g->plan, batch, train ? SN_PLAN_TRAIN : 0); }
const float *sn_graph_forward(sn_graph *g, const float *x, int batch) { return sn_plan_forward(g->plan, x, batch); }
int sn_graph_backward(sn_graph *g, const float *dlogits) { return sn_plan_backward(g->plan, dlogits); }

void sn_graph_zero_grad(sn_graph *g) { memset(g->gw, 0, g->n_w * sizeof *g->gw); }

sn_graph *sn_graph_clone(const sn_graph *src)
{
	sn_graph *g = sn_graph_new();
	if (!g) return NULL;
	for (int i = 0; i < src->n_node; i++) {
		if (sn_graph_add(g, &src->node[i]) < 0) { sn_graph_free(g); return NULL; }
	}
	if (sn_graph_infer(g)) { sn_graph_free(g); return NULL; }
	for (int i = 0; i < src->n_tensor; i++) {
		const sn_tensor *s = &src->tensor[i];
		int k = sn_tensor_find(g, s->name);
		if (k < 0 || g->tensor[k].n != s->n) continue;
		memcpy(g->tensor[k].data, s->data, s->n * sizeof(float));
		if (s->mask) {   /* a pruning mask: without it the clone's pruned weights could grow back */
			if (!(g->tensor[k].mask = malloc(s->n))) {
				sn_graph_free(g);
				sn_seterr(SN_ENOMEM, "out of memory copying the mask of %s", s->name);
				return NULL;
			}
			memcpy(g->tensor[k].mask, s->mask, s->n);
		}
	}
	g->plan->rng = src->plan->rng;   /* the dropout stream goes on where the source's left off */
	if (sn_q_copy(g, src)) { sn_graph_free(g); return NULL; }
	return g;
}

sn_shape sn_graph_input_shape(const sn_graph *g) { return g->node[0].out; }
sn_shape sn_graph_output_shape(const sn_graph *g) { return g->node[g->n_node - 1].out; }

int sn_graph_set_input(sn_graph *g, int c, int h, int w)
{
	if (c <= 0 || h <= 0 || w <= 0) return sn_seterr(SN_EINVAL, "input shape must be positive, got %dx%dx%d", c, h, w);
	g->node[0].a.input = (sn_input_attr){c, h, w};
	return sn_graph_infer(g);
}

size_t sn_graph_count(const sn_graph *g, sn_tensor_kind kind, int trainable_only)
{
	size_t n = 0;
	for (int i = 0; i < g->n_tensor; i++) {
		const sn_tensor *t = &g->tensor[i];
		if (t->kind != kind) continue;
		if (trainable_only && g->node[t->node].frozen) continue;
		n += t->n;
	}
	return n;
}
