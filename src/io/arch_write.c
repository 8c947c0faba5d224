/* Canonical architecture text: one layer per line, columns aligned, only non-default keys, in=
 * only where the input is not the previous layer. sn_arch_parse() of the result rebuilds the
 * same nodes; model files embed this text, so it must stay stable. */
#include <stdarg.h>
#include "core/internal.h"
#include "io/io.h"

/* Defined in arch_parse.c: the NAME rule of the format. */
int sn_arch_name_valid(const char *s, int len);

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

static int int_at(const sn_node *n, size_t off) { return *(const int *)((const char *)n + off); }

/* The node's attributes, as its operator's row lists them: the required ones, and the others
 * where they are not the default. */
static void attr_keys(line *l, const sn_node *n)
{
	const sn_op_def *d = sn_op_get(n->op);
	for (int i = 0; i < d->n_attrs; i++) {
		const sn_attr_def *a = &d->attrs[i], *src = a->def_key ? sn_attr_find(d, a->def_key) : NULL;
		const int req = (a->flags & SN_AF_REQUIRED) != 0, v0 = int_at(n, a->off[0]);
		switch (a->type) {
		case SN_AT_INT:
			if (req || v0 != (int)a->def) add(l, " %s=%d", a->key, v0);
			break;
		case SN_AT_FLOAT: {
			const float v = *(const float *)((const char *)n + a->off[0]);
			if (req || v != (float)a->def) add_float(l, a->key, v);
			break;
		}
		case SN_AT_PAIR: {
			const int v1 = int_at(n, a->off[1]);
			const int d0 = src ? int_at(n, src->off[0]) : (int)a->def, d1 = src ? int_at(n, src->off[1]) : (int)a->def;
			if (req || v0 != d0 || v1 != d1) add_pair(l, a->key, v0, v1);
			break;
		}
		case SN_AT_PADS:
			if ((a->flags & SN_AF_SAME) && int_at(n, a->same_off)) add(l, " %s=same", a->key);   /* derived again at shape inference */
			else add_pad(l, v0, int_at(n, a->off[1]), int_at(n, a->off[2]), int_at(n, a->off[3]));
			break;
		case SN_AT_ENUM:   /* check_node refused values out of range */
			if (req || v0 != (int)a->def) add(l, " %s=%s", a->key, a->names[v0]);
			break;
		case SN_AT_SHAPE:
			add(l, " %s=%dx%dx%d", a->key, v0, int_at(n, a->off[1]), int_at(n, a->off[2]));
			break;
		}
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
	const sn_op_def *d = sn_op_get(n->op);
	for (int k = 0; k < d->n_attrs; k++) {
		const sn_attr_def *a = &d->attrs[k];
		const int v = *(const int *)((const char *)n + a->off[0]);
		if (a->type == SN_AT_ENUM && (v < 0 || v >= a->n_names))
			return sn_seterr(SN_EINVAL, "cannot write layer '%s': unknown %s %d", n->name, a->what, v);
	}
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
		attr_keys(&l, n);
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
