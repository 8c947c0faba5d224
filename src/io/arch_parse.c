/* The architecture text format: one layer per line, "TYPE NAME key=value ...", '#' comments.
 * Parsing is strict: every error is "FILE:LINE:COL: message" with COL at the offending token,
 * and says what was expected. The format is documented in models/README.md. */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include "core/internal.h"
#include "io/io.h"

#define ARCH_MAX_FILE ((size_t)16 << 20)   /* architectures are tiny; refuse anything huge */
#define ARCH_MAX_INPUT ((size_t)1 << 28)   /* values in one input sample */
#define ARCH_MAX_VALUE 64                  /* longest value token we copy for parsing */
#define ARCH_MAX_LAYERS 4096               /* name lookups are linear: bounds the parse time */

/* The keys of a layer: in= (where it takes inputs), its operator's attributes, frozen=. A key's
 * number: 0 in, 1 frozen, 2 + i the operator's attrs[i]. */
#define KEY_IN 0
#define KEY_FROZEN 1
#define B(k) (1u << (k))

/* A token of the current line: bytes [s, s+len), 1-based column. */
typedef struct { const char *s; int len, col; } token;

typedef struct {
	const char *file;
	const char *text;       /* whole input, for looking ahead at later definitions */
	const char *next;       /* start of the line after the current one */
	int line;
	sn_graph *g;
} parser;

/* ---------------------------------------------------------------- errors */

static int perr(const parser *p, int col, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int perr(const parser *p, int col, const char *fmt, ...)
{
	char msg[900];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return sn_seterr(SN_EINVAL, "%s:%d:%d: %s", p->file, p->line, col, msg);
}

/* A token as it may appear in a message: at most 60 bytes, control and non-ASCII bytes as '?'. */
typedef struct { char s[68]; } shown;
static shown show(const char *s, int len)
{
	shown o;
	int n = SN_MIN(len, 60), k = 0;
	for (int i = 0; i < n; i++) o.s[k++] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
	if (len > n) { memcpy(o.s + k, "...", 3); k += 3; }
	o.s[k] = 0;
	return o;
}

static void add_word(char *buf, size_t len, size_t *n, const char *w)
{
	if (*n < len) *n += (size_t)snprintf(buf + *n, len - *n, "%s%s", *n ? " " : "", w);
}

/* "input conv bn ..." into buf: the valid types. */
static const char *list_types(char *buf, size_t len)
{
	size_t n = 0;
	buf[0] = 0;
	for (int i = 0; i < SN_OP_COUNT; i++) add_word(buf, len, &n, sn_op_get((sn_op)i)->key);
	return buf;
}

/* "in out k ..." into buf: the keys of op, in=, the attributes, frozen=, then the later ones. */
static const char *list_keys(int op, char *buf, size_t len)
{
	const sn_op_def *d = sn_op_get((sn_op)op);
	size_t n = 0;
	buf[0] = 0;
	if (d->max_in > 0) add_word(buf, len, &n, "in");
	for (int late = 0; late < 2; late++) {
		for (int i = 0; i < d->n_attrs; i++)
			if (!(d->attrs[i].flags & SN_AF_LATE) == !late) add_word(buf, len, &n, d->attrs[i].key);
		if (!late) add_word(buf, len, &n, "frozen");
	}
	return buf;
}

/* ---------------------------------------------------------------- lexing */

/* Next line of text from *pos: sets *len without the newline, a trailing CR or the comment. */
static const char *next_line(const char **pos, int *len)
{
	const char *s = *pos;
	if (!*s) return NULL;
	const char *nl = strchr(s, '\n');
	const char *end = nl ? nl : s + strlen(s);
	*pos = nl ? nl + 1 : end;
	if (end > s && end[-1] == '\r') end--;
	const char *hash = memchr(s, '#', (size_t)(end - s));
	if (hash) end = hash;
	*len = (int)SN_MIN(end - s, (ptrdiff_t)1 << 30);
	return s;
}

static int next_token(const char *ln, int len, int *pos, token *t)
{
	int i = *pos;
	while (i < len && (ln[i] == ' ' || ln[i] == '\t')) i++;
	if (i >= len) { *pos = i; return 0; }
	int start = i;
	while (i < len && ln[i] != ' ' && ln[i] != '\t') i++;
	*t = (token){ln + start, i - start, start + 1};
	*pos = i;
	return 1;
}

static int tok_eq(const char *s, int len, const char *w)
{
	return (int)strlen(w) == len && !memcmp(s, w, (size_t)len);
}

/* NAME: [A-Za-z_][A-Za-z0-9_.-]*, shorter than SN_NAME_MAX. Shared with the writer. */
int sn_arch_name_valid(const char *s, int len)
{
	if (len <= 0 || len >= SN_NAME_MAX) return 0;
	for (int i = 0; i < len; i++) {
		char c = s[i];
		int letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
		int more = (c >= '0' && c <= '9') || c == '.' || c == '-';
		if (!letter && (i == 0 || !more)) return 0;   /* ASCII only, whatever the locale */
	}
	return 1;
}

/* Line number of a later layer called name, or 0: tells a forward reference from a typo. */
static int defined_later(const parser *p, const char *name, int nlen)
{
	const char *pos = p->next, *ln;
	int len, line = p->line;
	while ((ln = next_line(&pos, &len))) {
		line++;
		int i = 0;
		token type, nm;
		if (next_token(ln, len, &i, &type) && next_token(ln, len, &i, &nm) && nm.len == nlen &&
		    !memcmp(nm.s, name, (size_t)nlen))
			return line;
	}
	return 0;
}

/* ---------------------------------------------------------------- values */

/* Decimal integer in [lo, hi], digits only (no sign, no spaces). */
static int parse_int(const char *s, int len, int lo, int hi, int *out)
{
	if (len <= 0 || len > 9) return -1;
	long v = 0;
	for (int i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9') return -1;
		v = v * 10 + (s[i] - '0');
	}
	if (v < lo || v > hi) return -1;
	*out = (int)v;
	return 0;
}

/* Splits s on sep into at most max parts; returns the count, or -1 for more or empty parts. */
static int split(const char *s, int len, char sep, int max, token *parts)
{
	int n = 0, start = 0;
	for (int i = 0; i <= len; i++) {
		if (i < len && s[i] != sep) continue;
		if (n == max || i == start) return -1;
		parts[n++] = (token){s + start, i - start, 0};
		start = i + 1;
	}
	return n;
}

/* "K" or "HxW", both in [lo, hi]. */
static int parse_pair(const char *s, int len, int lo, int hi, int *h, int *w)
{
	token t[2];
	int n = split(s, len, 'x', 2, t);
	if (n < 1 || parse_int(t[0].s, t[0].len, lo, hi, h)) return -1;
	if (n == 1) { *w = *h; return 0; }
	return parse_int(t[1].s, t[1].len, lo, hi, w);
}

/* "P", "PHxPW" or "T,B,L,R" into top, bottom, left, right, each in [lo, hi]. */
static int parse_pad(const char *s, int len, int lo, int hi, int pad[4])
{
	token t[4];
	int n = split(s, len, ',', 4, t);
	if (n == 4) {
		for (int i = 0; i < 4; i++)
			if (parse_int(t[i].s, t[i].len, lo, hi, &pad[i])) return -1;
		return 0;
	}
	if (n != 1 || parse_pair(s, len, lo, hi, &pad[0], &pad[2])) return -1;
	pad[1] = pad[0];
	pad[3] = pad[2];
	return 0;
}

/* A finite float in [lo, hi] (hi exclusive when open). */
static int parse_float(const char *s, int len, double lo, double hi, int open, float *out)
{
	char buf[ARCH_MAX_VALUE];
	if (len <= 0 || len >= (int)sizeof buf) return -1;
	memcpy(buf, s, (size_t)len);
	buf[len] = 0;
	char *end;
	errno = 0;
	float v = strtof(buf, &end);
	/* ERANGE with a finite result is underflow: a subnormal (the writer prints them), kept */
	if (*end || (errno && !(errno == ERANGE && fabsf(v) < FLT_MIN)) || !isfinite(v) || v < lo || v > hi || (open && v >= hi))
		return -1;
	*out = v;
	return 0;
}

/* ---------------------------------------------------------------- keys */

static int bad_value(parser *p, const token *v, const char *key, const char *expected);

/* in=a,b,...: names of earlier layers. */
static int set_inputs(parser *p, sn_node *n, const token *v)
{
	const sn_op_def *d = sn_op_get(n->op);
	if (!v->len) return bad_value(p, v, "in", "NAME or NAME,NAME,... of earlier layers");
	int cnt = 1;
	for (int i = 0; i < v->len; i++) cnt += v->s[i] == ',';
	if (cnt > d->max_in || cnt < d->min_in) {
		if (d->max_in == 1)
			return perr(p, v->col, "%s takes exactly one input, got %d in in=", d->key, cnt);
		return perr(p, v->col, "%s takes %d to %d inputs, got %d in in=", d->key, d->min_in, d->max_in, cnt);
	}
	token parts[SN_MAX_IN];
	int np = split(v->s, v->len, ',', SN_MAX_IN, parts);
	if (np < 0) return perr(p, v->col, "empty layer name in in=; expected in=NAME or in=NAME,NAME,...");
	int col = v->col;
	for (int i = 0; i < np; i++) {
		const token *t = &parts[i];
		char name[SN_NAME_MAX];
		if (!sn_arch_name_valid(t->s, t->len))
			return perr(p, col, "'%s' in in= is not a valid layer name", show(t->s, t->len).s);
		memcpy(name, t->s, (size_t)t->len);
		name[t->len] = 0;
		int k = sn_graph_find(p->g, name);
		if (k < 0) {
			if (!strcmp(name, n->name))
				return perr(p, col, "layer '%s' cannot take itself as input", name);
			int later = defined_later(p, t->s, t->len);
			if (later)
				return perr(p, col, "'%s' is defined later (line %d); in= may only name earlier layers",
				            name, later);
			return perr(p, col, "unknown layer '%s' in in=; in= must name earlier layers", name);
		}
		n->in[i] = k;
		col += t->len + 1;
	}
	n->n_in = np;
	return SN_OK;
}

static int bad_value(parser *p, const token *v, const char *key, const char *expected)
{
	if (!v->len) return perr(p, v->col, "missing value for %s=; expected %s", key, expected);
	return perr(p, v->col, "bad value '%s' for %s=; expected %s", show(v->s, v->len).s, key, expected);
}

static int *int_at(sn_node *n, size_t off) { return (int *)((char *)n + off); }

/* An attribute's value into the node, as its row describes it. */
static int set_attr(parser *p, sn_node *n, const sn_attr_def *a, const token *v)
{
	const int integral = a->type != SN_AT_FLOAT;   /* a float's bounds (up to FLT_MAX) fit no int */
	const int lo = integral ? (int)a->lo : 0, hi = integral ? (int)a->hi : 0;
	int x[4];
	switch (a->type) {
	case SN_AT_INT:
		if (parse_int(v->s, v->len, lo, hi, &x[0])) break;
		*int_at(n, a->off[0]) = x[0];
		return SN_OK;
	case SN_AT_PAIR:
		if (parse_pair(v->s, v->len, lo, hi, &x[0], &x[1])) break;
		*int_at(n, a->off[0]) = x[0];
		*int_at(n, a->off[1]) = x[1];
		return SN_OK;
	case SN_AT_PADS:
		if ((a->flags & SN_AF_SAME) && tok_eq(v->s, v->len, "same")) { *int_at(n, a->same_off) = 1; return SN_OK; }
		if ((a->flags & SN_AF_SAME) && tok_eq(v->s, v->len, "valid")) return SN_OK;
		if (parse_pad(v->s, v->len, lo, hi, x)) break;
		for (int i = 0; i < 4; i++) *int_at(n, a->off[i]) = x[i];
		return SN_OK;
	case SN_AT_ENUM:
		for (int i = 0; i < a->n_names; i++)
			if (tok_eq(v->s, v->len, a->names[i])) { *int_at(n, a->off[0]) = i; return SN_OK; }
		break;
	case SN_AT_FLOAT: {
		float f;
		if (parse_float(v->s, v->len, a->lo, a->hi, (a->flags & SN_AF_HI_OPEN) != 0, &f) ||
		    ((a->flags & SN_AF_LO_OPEN) && !(f > a->lo)))
			break;
		*(float *)((char *)n + a->off[0]) = f;
		return SN_OK;
	}
	case SN_AT_SHAPE: {
		token t[3];
		if (split(v->s, v->len, 'x', 3, t) != 3) break;
		int bad = 0;
		for (int i = 0; i < 3; i++) bad |= parse_int(t[i].s, t[i].len, lo, hi, &x[i]);
		if (bad) break;
		if ((size_t)x[0] * x[1] * x[2] > ARCH_MAX_INPUT)
			return perr(p, v->col, "input shape %dx%dx%d has more than %zu values", x[0], x[1], x[2], ARCH_MAX_INPUT);
		for (int i = 0; i < 3; i++) *int_at(n, a->off[i]) = x[i];
		return SN_OK;
	}
	}
	return bad_value(p, v, a->key, a->expect);
}

/* ---------------------------------------------------------------- lines */

static int parse_type(parser *p, const token *t)
{
	char key[32], valid[256];
	int op = -1;
	if (t->len < (int)sizeof key) {
		memcpy(key, t->s, (size_t)t->len);
		key[t->len] = 0;
		op = sn_op_from_key(key);
	}
	if (op < 0)
		return perr(p, t->col, "unknown layer type '%s'; expected one of: %s", show(t->s, t->len).s,
		            list_types(valid, sizeof valid));
	if (p->g->n_node == 0 && op != SN_OP_INPUT)
		return perr(p, t->col, "the first layer must be 'input NAME shape=CxHxW', got '%s'", key);
	if (p->g->n_node > 0 && op == SN_OP_INPUT)
		return perr(p, t->col, "only one input layer is allowed; the input is '%s' (line %d)",
		            p->g->node[0].name, p->g->node[0].line);
	return op;
}

/* One non-blank line: TYPE NAME key=value ... */
static int parse_layer(parser *p, const char *ln, int len, int pos, const token *type)
{
	int op = parse_type(p, type);
	if (op < 0) return op;
	if (p->g->n_node == ARCH_MAX_LAYERS)
		return perr(p, type->col, "more than %d layers; this is not a plausible network", ARCH_MAX_LAYERS);
	sn_node n;
	memset(&n, 0, sizeof n);
	n.op = (sn_op)op;
	n.line = p->line;
	sn_node_defaults(&n);
	const sn_op_def *d = sn_op_get(n.op);
	token t;
	if (!next_token(ln, len, &pos, &t))
		return perr(p, type->col + type->len + 1, "expected a layer name after '%s'", sn_op_get(n.op)->key);
	if (!sn_arch_name_valid(t.s, t.len)) {
		if (t.len >= SN_NAME_MAX)
			return perr(p, t.col, "layer name '%s' is longer than %d characters", show(t.s, t.len).s, SN_NAME_MAX - 1);
		return perr(p, t.col, "invalid layer name '%s'; expected a letter or '_' followed by letters, "
		            "digits, '_', '.' or '-'", show(t.s, t.len).s);
	}
	memcpy(n.name, t.s, (size_t)t.len);
	int k = sn_graph_find(p->g, n.name);
	if (k >= 0)
		return perr(p, t.col, "duplicate layer name '%s' (first used on line %d); names must be unique",
		            n.name, p->g->node[k].line);
	unsigned seen = 0;
	char keys[256];
	while (next_token(ln, len, &pos, &t)) {
		const char *eq = memchr(t.s, '=', (size_t)t.len);
		if (!eq)
			return perr(p, t.col, "expected key=value, got '%s'; %s takes: %s", show(t.s, t.len).s,
			            sn_op_get(n.op)->key, list_keys(op, keys, sizeof keys));
		int klen = (int)(eq - t.s), key = -1;
		if (d->max_in > 0 && tok_eq(t.s, klen, "in")) key = KEY_IN;
		else if (tok_eq(t.s, klen, "frozen")) key = KEY_FROZEN;
		for (int i = 0; i < d->n_attrs && key < 0; i++)
			if (tok_eq(t.s, klen, d->attrs[i].key)) key = 2 + i;
		if (key < 0)
			return perr(p, t.col, "unknown key '%s' for %s; %s takes: %s", show(t.s, klen).s,
			            d->key, d->key, list_keys(op, keys, sizeof keys));
		if (seen & B(key)) return perr(p, t.col, "duplicate key '%.*s'", klen, t.s);
		seen |= B(key);
		token v = {eq + 1, t.len - klen - 1, t.col + klen + 1};
		int rc = key == KEY_IN ? set_inputs(p, &n, &v)
		       : key == KEY_FROZEN ? (parse_int(v.s, v.len, 0, 1, &n.frozen) ? bad_value(p, &v, "frozen", "0 or 1") : SN_OK)
		       : set_attr(p, &n, &d->attrs[key - 2], &v);
		if (rc) return rc;
	}
	if (d->min_in > 1 && !(seen & B(KEY_IN)))
		return perr(p, type->col, "%s '%s' needs in= naming %s 2 earlier layers, e.g. in=a,b",
		            d->key, n.name, d->max_in == 2 ? "exactly" : "at least");
	for (int i = 0; i < d->n_attrs; i++)
		if ((d->attrs[i].flags & SN_AF_REQUIRED) && !(seen & B(2 + i)))
			return perr(p, type->col, "%s '%s' is missing the required key %s=", d->key, n.name, d->attrs[i].key);
	if (op != SN_OP_INPUT && !(seen & B(KEY_IN))) {
		n.n_in = 1;
		n.in[0] = p->g->n_node - 1;
	}
	for (int i = 0; i < d->n_attrs; i++) {   /* defaults that are another key's value (a pool's stride: k) */
		const sn_attr_def *a = &d->attrs[i], *src = a->def_key ? sn_attr_find(d, a->def_key) : NULL;
		if (!src || (seen & B(2 + i))) continue;
		for (int k = 0; k < (a->type == SN_AT_PAIR ? 2 : 1); k++) *int_at(&n, a->off[k]) = *int_at(&n, src->off[k]);
	}
	k = sn_graph_add(p->g, &n);
	return k < 0 ? k : SN_OK;
}

/* sn_graph_infer failed: find the layer (replaying shape inference, which is idempotent) and
 * prefix its message with that layer's position. */
static void locate_infer_error(sn_graph *g, const char *file)
{
	char msg[1024];
	snprintf(msg, sizeof msg, "%s", sn_errmsg());
	int line = 0;
	for (int i = 0; i < g->n_node && !line; i++) {
		sn_node *n = &g->node[i];
		const sn_op_def *d = sn_op_get(n->op);
		if (n->n_in < d->min_in || n->n_in > d->max_in || d->run(g, n, NULL, SN_ACT_SHAPE) ||
		    n->out.c <= 0 || n->out.h <= 0 || n->out.w <= 0)
			line = n->line;
	}
	if (line) sn_seterr(SN_ESHAPE, "%s:%d:1: %s", file, line, msg);
	else sn_seterr(SN_ESHAPE, "%s: %s", file, msg);
}

sn_graph *sn_arch_parse(const char *text, const char *filename)
{
	parser p = {.file = filename ? filename : "<string>", .text = text, .next = text};
	if (!text) {
		sn_seterr(SN_EINVAL, "%s: no architecture text", p.file);
		return NULL;
	}
	p.g = sn_graph_new();
	if (!p.g) {
		sn_seterr(SN_ENOMEM, "out of memory");
		return NULL;
	}
	const char *ln;
	int len;
	while ((ln = next_line(&p.next, &len))) {
		p.line++;
		int pos = 0;
		token type;
		if (!next_token(ln, len, &pos, &type)) continue;
		if (parse_layer(&p, ln, len, pos, &type)) goto fail;
	}
	if (p.g->n_node == 0) {
		p.line = p.line ? p.line : 1;
		perr(&p, 1, "no layers; the first line must be an input layer, e.g. 'input x shape=1x28x28'");
		goto fail;
	}
	if (sn_graph_infer(p.g)) {
		locate_infer_error(p.g, p.file);
		goto fail;
	}
	return p.g;
fail:
	sn_graph_free(p.g);
	return NULL;
}

sn_graph *sn_arch_load(const char *path)
{
	unsigned char *data;
	size_t len;
	if (sn_read_file(path, ARCH_MAX_FILE, &data, &len)) return NULL;
	const unsigned char *nul = memchr(data, 0, len);
	if (nul) {
		sn_seterr(SN_EFORMAT, "%s: byte %zu is NUL; an architecture file is plain text", path,
		          (size_t)(nul - data) + 1);
		free(data);
		return NULL;
	}
	sn_graph *g = sn_arch_parse((const char *)data, path);
	free(data);
	return g;
}
