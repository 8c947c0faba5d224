/* Canonical architecture text: one layer per line, columns aligned, only non-default keys, in=
 * only where the input is not the previous layer. sn_arch_parse() of the result rebuilds the
 * same nodes; model files embed this text, so it must stay stable. */
#include <stdarg.h>
#include "core/internal.h"
#include "io/io.h"

/* Defined in arch_parse.c: the NAME rule of the format. */
int sn_arch_name_valid(const char *s, int len);
extern const char *const sn_arch_act_names[3];   /* act= values, indexed by sn_fuse */

static const char *const mode_names[] = {"zeros", "reflect", "replicate", "circular"};

/* A line being assembled; a line never gets near this long (names are < 64 characters). */
typedef struct { char s[2048]; size_t n; } line;

static void add(line *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(line *l, const char *fmt, ...)
{
	if (l->n >= sizeof l->s) return;
	va_list ap;
	va_start(ap, fmt);
	int k = vsnprintf(l->s + l->n, sizeof l->s - l->n, fmt, ap);
	va_end(ap);
	if (k > 0) l->n = SN_MIN(l->n + (size_t)k, sizeof l->s - 1);
}

/* Shortest decimal that reads back as exactly v ("0.3", not "0.300000012"). */
static void add_float(line *l, const char *key, float v)
{
	char buf[32];
	for (int prec = 1; prec <= 9; prec++) {
		snprintf(buf, sizeof buf, "%.*g", prec, (double)v);
		if (strtof(buf, NULL) == v) break;
	}
	add(l, " %s=%s", key, buf);
}

/* K, or KHxKW when the two differ. */
static void add_pair(line *l, const char *key, int h, int w)
{
	if (h == w) add(l, " %s=%d", key, h);
	else add(l, " %s=%dx%d", key, h, w);
}

/* P, PHxPW when each axis is symmetric, else T,B,L,R; nothing when all are zero. */
static void add_pad(line *l, int t, int b, int lf, int r)
{
	if (!t && !b && !lf && !r) return;
	if (t == b && lf == r) add_pair(l, "pad", t, lf);
	else add(l, " pad=%d,%d,%d,%d", t, b, lf, r);
}

static void conv_keys(line *l, const sn_conv_attr *a)
{
	add(l, " out=%d", a->out_c);
	add_pair(l, "k", a->kh, a->kw);
	if (a->sh != 1 || a->sw != 1) add_pair(l, "stride", a->sh, a->sw);
	if (a->same) add(l, " pad=same");   /* the pads are derived again at shape inference */
	else add_pad(l, a->pt, a->pb, a->pl, a->pr);
	if (a->dh != 1 || a->dw != 1) add_pair(l, "dilation", a->dh, a->dw);
	if (a->groups != 1) add(l, " groups=%d", a->groups);
	if (!a->bias) add(l, " bias=0");
	if (a->mode != SN_PAD_ZEROS && (unsigned)a->mode < 4) add(l, " mode=%s", mode_names[a->mode]);
	if (a->act != SN_FUSE_NONE) add(l, " act=%s", sn_arch_act_names[a->act]);
}

static void pool_keys(line *l, const sn_pool_attr *a, int avg)
{
	add_pair(l, "k", a->kh, a->kw);
	if (a->sh != a->kh || a->sw != a->kw) add_pair(l, "stride", a->sh, a->sw);
	add_pad(l, a->pt, a->pb, a->pl, a->pr);
	if (a->ceil_mode) add(l, " ceil=1");
	if (avg && !a->count_include_pad) add(l, " count_include_pad=0");
}

static void op_keys(line *l, const sn_node *n)
{
	switch (n->op) {
	case SN_OP_INPUT: add(l, " shape=%dx%dx%d", n->a.input.c, n->a.input.h, n->a.input.w); break;
	case SN_OP_CONV: conv_keys(l, &n->a.conv); break;
	case SN_OP_MAXPOOL: pool_keys(l, &n->a.pool, 0); break;
	case SN_OP_AVGPOOL: pool_keys(l, &n->a.pool, 1); break;
	case SN_OP_LINEAR:
		add(l, " out=%d", n->a.linear.out);
		if (!n->a.linear.bias) add(l, " bias=0");
		break;
	case SN_OP_BN:
		if (n->a.bn.eps != 1e-5f) add_float(l, "eps", n->a.bn.eps);
		if (n->a.bn.momentum != 0.1f) add_float(l, "momentum", n->a.bn.momentum);
		break;
	case SN_OP_DROPOUT:
		if (n->a.dropout.p != 0.5f) add_float(l, "p", n->a.dropout.p);
		break;
	case SN_OP_SHUFFLE: add(l, " groups=%d", n->a.shuffle.groups); break;
	case SN_OP_SLICE:
		if (n->a.slice.start) add(l, " start=%d", n->a.slice.start);
		add(l, " end=%d", n->a.slice.end);
		break;
	case SN_OP_PAD:
		add_pad(l, n->a.pad.pt, n->a.pad.pb, n->a.pad.pl, n->a.pad.pr);
		if (n->a.pad.mode != SN_PAD_ZEROS && (unsigned)n->a.pad.mode < 4) add(l, " mode=%s", mode_names[n->a.pad.mode]);
		if (n->a.pad.value != 0) add_float(l, "value", n->a.pad.value);
		break;
	case SN_OP_HARDSIGMOID:
		if (n->a.hsig.alpha != 1.0f / 6) add_float(l, "alpha", n->a.hsig.alpha);
		if (n->a.hsig.beta != 0.5f) add_float(l, "beta", n->a.hsig.beta);
		break;
	default: break;
	}
}

/* What the text cannot express: refuse it rather than write a file that does not parse back. */
static int check_node(const sn_graph *g, int i)
{
	const sn_node *n = &g->node[i];
	if ((unsigned)n->op >= SN_OP_COUNT)
		return sn_seterr(SN_EINVAL, "cannot write layer %d: unknown operator %d", i, (int)n->op);
	if (!sn_arch_name_valid(n->name, (int)strnlen(n->name, SN_NAME_MAX)))
		return sn_seterr(SN_EINVAL, "cannot write layer %d: '%.*s' is not a valid layer name (letters, digits, "
		                 "'_', '.', '-', starting with a letter or '_')", i, SN_NAME_MAX - 1, n->name);
	if ((i == 0) != (n->op == SN_OP_INPUT))
		return sn_seterr(SN_EINVAL, "cannot write layer '%s': the input must be the first layer and the only one",
		                 n->name);
	if (n->op == SN_OP_CONV && (unsigned)n->a.conv.act > SN_FUSE_RELU6)
		return sn_seterr(SN_EINVAL, "cannot write layer '%s': unknown fused activation %d", n->name, n->a.conv.act);
	const sn_op_def *d = sn_op_get(n->op);
	if (n->n_in < d->min_in || n->n_in > d->max_in)
		return sn_seterr(SN_EINVAL, "cannot write layer '%s': %s takes %d to %d inputs, it has %d", n->name,
		                 d->key, d->min_in, d->max_in, n->n_in);
	for (int k = 0; k < n->n_in; k++)
		if (n->in[k] < 0 || n->in[k] >= i)
			return sn_seterr(SN_EINVAL, "cannot write layer '%s': input %d is not an earlier layer", n->name, k);
	return SN_OK;
}

/* The node's inputs are implicit when it has exactly one and that is the previous layer. */
static int implicit_input(const sn_node *n, int i)
{
	return i > 0 && n->n_in == 1 && n->in[0] == i - 1 && sn_op_get(n->op)->min_in <= 1;
}

char *sn_arch_write(const sn_graph *g)
{
	if (!g || g->n_node == 0) {
		sn_seterr(SN_EINVAL, "cannot write an empty graph");
		return NULL;
	}
	int wt = 0, wn = 0;
	for (int i = 0; i < g->n_node; i++) {
		if (check_node(g, i)) return NULL;
		wt = SN_MAX(wt, (int)strlen(sn_op_get(g->node[i].op)->key));
		wn = SN_MAX(wn, (int)strlen(g->node[i].name));
	}
	sn_buf b = {0};
	for (int i = 0; i < g->n_node; i++) {
		const sn_node *n = &g->node[i];
		line l = {.n = 0};
		add(&l, "%-*s %-*s", wt, sn_op_get(n->op)->key, wn, n->name);
		size_t base = l.n;
		if (!implicit_input(n, i) && n->n_in > 0) {
			add(&l, " in=");
			for (int k = 0; k < n->n_in; k++) add(&l, "%s%s", k ? "," : "", g->node[n->in[k]].name);
		}
		op_keys(&l, n);
		if (n->frozen) add(&l, " frozen=1");
		if (l.n == base)
			while (l.n > 0 && l.s[l.n - 1] == ' ') l.n--;   /* no keys: no trailing padding */
		l.s[l.n++] = '\n';
		sn_buf_put(&b, l.s, l.n);
	}
	sn_buf_put(&b, "", 1);
	if (b.oom) {
		sn_buf_free(&b);
		sn_seterr(SN_ENOMEM, "out of memory writing the architecture text");
		return NULL;
	}
	return (char *)b.p;
}
