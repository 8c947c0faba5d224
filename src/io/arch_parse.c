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
#define ARCH_MAX_INT (1 << 20)             /* no sane layer needs more; bounds hostile files */
#define ARCH_MAX_INPUT ((size_t)1 << 28)   /* values in one input sample */
#define ARCH_MAX_VALUE 64                  /* longest value token we copy for parsing */
#define ARCH_MAX_LAYERS 4096               /* name lookups are linear: bounds the parse time */

/* Keys, in the order the writer prints them. Those after frozen came later and are listed last
 * so that the key lists in existing messages stay as they were (the writer puts act after mode). */
enum { K_IN, K_SHAPE, K_OUT, K_K, K_STRIDE, K_PAD, K_DILATION, K_GROUPS, K_BIAS, K_MODE, K_EPS,
       K_MOMENTUM, K_CEIL, K_CIP, K_P, K_FROZEN, K_ACT, K_START, K_END, K_VALUE, K_ALPHA, K_BETA, K_N };
static const char *const key_names[K_N] = {
	"in", "shape", "out", "k", "stride", "pad", "dilation", "groups", "bias", "mode", "eps",
	"momentum", "ceil", "count_include_pad", "p", "frozen", "act", "start", "end", "value", "alpha", "beta"};

#define B(k) (1u << (k))
#define COMMON (B(K_IN) | B(K_FROZEN))
#define POOL (COMMON | B(K_K) | B(K_STRIDE) | B(K_PAD) | B(K_CEIL))
static const struct { unsigned allowed, required; } op_keys[SN_OP_COUNT] = {
	[SN_OP_INPUT]     = {B(K_SHAPE) | B(K_FROZEN), B(K_SHAPE)},   /* the input has no inputs */
	[SN_OP_CONV]      = {COMMON | B(K_OUT) | B(K_K) | B(K_STRIDE) | B(K_PAD) | B(K_DILATION) |
	                     B(K_GROUPS) | B(K_BIAS) | B(K_MODE) | B(K_ACT), B(K_OUT) | B(K_K)},
	[SN_OP_BN]        = {COMMON | B(K_EPS) | B(K_MOMENTUM), 0},
	[SN_OP_RELU]      = {COMMON, 0},
	[SN_OP_RELU6]     = {COMMON, 0},
	[SN_OP_SIGMOID]   = {COMMON, 0},
	[SN_OP_HARDSWISH] = {COMMON, 0},
	[SN_OP_MAXPOOL]   = {POOL, B(K_K)},
	[SN_OP_AVGPOOL]   = {POOL | B(K_CIP), B(K_K)},
	[SN_OP_GAP]       = {COMMON, 0},
	[SN_OP_LINEAR]    = {COMMON | B(K_OUT) | B(K_BIAS), B(K_OUT)},
	[SN_OP_FLATTEN]   = {COMMON, 0},
	[SN_OP_DROPOUT]   = {COMMON | B(K_P), 0},
	[SN_OP_ADD]       = {COMMON, B(K_IN)},
	[SN_OP_CONCAT]    = {COMMON, B(K_IN)},
	[SN_OP_MUL]       = {COMMON, B(K_IN)},
	[SN_OP_SOFTMAX]   = {COMMON, 0},
	[SN_OP_SHUFFLE]   = {COMMON | B(K_GROUPS), B(K_GROUPS)},
	[SN_OP_SLICE]     = {COMMON | B(K_START) | B(K_END), B(K_END)},
	[SN_OP_PAD]       = {COMMON | B(K_PAD) | B(K_MODE) | B(K_VALUE), 0},
	[SN_OP_HARDSIGMOID] = {COMMON | B(K_ALPHA) | B(K_BETA), 0},
};

static const char *const mode_names[] = {"zeros", "reflect", "replicate", "circular"};
/* act= of a conv, indexed by sn_fuse. Shared with the writer. */
const char *const sn_arch_act_names[3] = {"none", "relu", "relu6"};

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

/* "conv1 conv2 ..." into buf: the keys of op (valid types when op < 0). */
static const char *list_keys(int op, char *buf, size_t len)
{
	size_t n = 0;
	buf[0] = 0;
	int count = op < 0 ? SN_OP_COUNT : K_N;
	for (int i = 0; i < count && n < len; i++) {
		if (op >= 0 && !(op_keys[op].allowed & B(i))) continue;
		const char *w = op < 0 ? sn_op_get((sn_op)i)->key : key_names[i];
		n += (size_t)snprintf(buf + n, len - n, "%s%s", n ? " " : "", w);
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

/* "P", "PHxPW" or "T,B,L,R" into top, bottom, left, right. */
static int parse_pad(const char *s, int len, int pad[4])
{
	token t[4];
	int n = split(s, len, ',', 4, t);
	if (n == 4) {
		for (int i = 0; i < 4; i++)
			if (parse_int(t[i].s, t[i].len, 0, ARCH_MAX_INT, &pad[i])) return -1;
		return 0;
	}
	if (n != 1 || parse_pair(s, len, 0, ARCH_MAX_INT, &pad[0], &pad[2])) return -1;
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

#define INT_RANGE "1..1048576"
static int set_key(parser *p, sn_node *n, int key, const token *v)
{
	const char *kn = key_names[key];
	sn_conv_attr *c = &n->a.conv;
	sn_pool_attr *pl = &n->a.pool;
	int conv = n->op == SN_OP_CONV, lin = n->op == SN_OP_LINEAR, x, y;
	switch (key) {
	case K_IN:
		return set_inputs(p, n, v);
	case K_FROZEN:
		if (parse_int(v->s, v->len, 0, 1, &n->frozen)) return bad_value(p, v, kn, "0 or 1");
		return SN_OK;
	case K_SHAPE: {
		token t[3];
		int d[3];
		if (split(v->s, v->len, 'x', 3, t) != 3 || parse_int(t[0].s, t[0].len, 1, ARCH_MAX_INT, &d[0]) ||
		    parse_int(t[1].s, t[1].len, 1, ARCH_MAX_INT, &d[1]) || parse_int(t[2].s, t[2].len, 1, ARCH_MAX_INT, &d[2]))
			return bad_value(p, v, kn, "CxHxW with integers " INT_RANGE ", e.g. shape=1x28x28");
		if ((size_t)d[0] * d[1] * d[2] > ARCH_MAX_INPUT)
			return perr(p, v->col, "input shape %dx%dx%d has more than %zu values", d[0], d[1], d[2], ARCH_MAX_INPUT);
		n->a.input = (sn_input_attr){d[0], d[1], d[2]};
		return SN_OK;
	}
	case K_OUT:
		if (parse_int(v->s, v->len, 1, ARCH_MAX_INT, &x)) return bad_value(p, v, kn, "an integer " INT_RANGE);
		if (conv) c->out_c = x; else n->a.linear.out = x;
		return SN_OK;
	case K_K:
		if (parse_pair(v->s, v->len, 1, ARCH_MAX_INT, &x, &y))
			return bad_value(p, v, kn, "K or KHxKW with integers " INT_RANGE ", e.g. k=3 or k=1x7");
		if (conv) { c->kh = x; c->kw = y; } else { pl->kh = x; pl->kw = y; }
		return SN_OK;
	case K_STRIDE:
		if (parse_pair(v->s, v->len, 1, ARCH_MAX_INT, &x, &y))
			return bad_value(p, v, kn, "S or SHxSW with integers " INT_RANGE);
		if (conv) { c->sh = x; c->sw = y; } else { pl->sh = x; pl->sw = y; }
		return SN_OK;
	case K_DILATION:
		if (parse_pair(v->s, v->len, 1, ARCH_MAX_INT, &c->dh, &c->dw))
			return bad_value(p, v, kn, "D or DHxDW with integers " INT_RANGE);
		return SN_OK;
	case K_PAD: {
		int pad[4] = {0, 0, 0, 0};
		if (conv && tok_eq(v->s, v->len, "same")) { c->same = 1; return SN_OK; }
		if (conv && tok_eq(v->s, v->len, "valid")) return SN_OK;
		if (parse_pad(v->s, v->len, pad))
			return bad_value(p, v, kn, conv ? "P, PHxPW, T,B,L,R (integers >= 0), same or valid"
			                                : "P, PHxPW or T,B,L,R (integers >= 0)");
		if (conv) { c->pt = pad[0]; c->pb = pad[1]; c->pl = pad[2]; c->pr = pad[3]; }
		else if (n->op == SN_OP_PAD) { n->a.pad.pt = pad[0]; n->a.pad.pb = pad[1]; n->a.pad.pl = pad[2]; n->a.pad.pr = pad[3]; }
		else { pl->pt = pad[0]; pl->pb = pad[1]; pl->pl = pad[2]; pl->pr = pad[3]; }
		return SN_OK;
	}
	case K_GROUPS:
		if (parse_int(v->s, v->len, 1, ARCH_MAX_INT, n->op == SN_OP_SHUFFLE ? &n->a.shuffle.groups : &c->groups))
			return bad_value(p, v, kn, "an integer " INT_RANGE);
		return SN_OK;
	case K_BIAS:
		if (parse_int(v->s, v->len, 0, 1, lin ? &n->a.linear.bias : &c->bias)) return bad_value(p, v, kn, "0 or 1");
		return SN_OK;
	case K_MODE: {
		sn_padmode *mode = n->op == SN_OP_PAD ? &n->a.pad.mode : &c->mode;
		for (int i = 0; i < 4; i++)
			if (tok_eq(v->s, v->len, mode_names[i])) { *mode = (sn_padmode)i; return SN_OK; }
		return bad_value(p, v, kn, "zeros, reflect, replicate or circular");
	}
	case K_ACT:
		for (int i = 0; i < 3; i++)
			if (tok_eq(v->s, v->len, sn_arch_act_names[i])) { c->act = i; return SN_OK; }
		return bad_value(p, v, kn, "relu, relu6 or none (the activation fused into the conv)");
	case K_EPS:
		if (parse_float(v->s, v->len, 0, 1, 0, &n->a.bn.eps) || !(n->a.bn.eps > 0))
			return bad_value(p, v, kn, "a number in (0, 1], e.g. eps=1e-5");
		return SN_OK;
	case K_MOMENTUM:
		if (parse_float(v->s, v->len, 0, 1, 0, &n->a.bn.momentum))
			return bad_value(p, v, kn, "a number in [0, 1], e.g. momentum=0.1");
		return SN_OK;
	case K_CEIL:
		if (parse_int(v->s, v->len, 0, 1, &pl->ceil_mode)) return bad_value(p, v, kn, "0 or 1");
		return SN_OK;
	case K_CIP:
		if (parse_int(v->s, v->len, 0, 1, &pl->count_include_pad)) return bad_value(p, v, kn, "0 or 1");
		return SN_OK;
	case K_P:
		if (parse_float(v->s, v->len, 0, 1, 1, &n->a.dropout.p))
			return bad_value(p, v, kn, "a probability in [0, 1), e.g. p=0.5");
		return SN_OK;
	case K_START:
	case K_END:
		/* channels, which concatenation can take past the integer limit of other keys */
		if (parse_int(v->s, v->len, key == K_END, (int)SN_DIM_MAX, key == K_END ? &n->a.slice.end : &n->a.slice.start))
			return bad_value(p, v, kn, key == K_END ? "a channel index 1..268435456 (exclusive)" : "a channel index 0..268435456");
		return SN_OK;
	case K_VALUE:
	case K_ALPHA:
	case K_BETA: {
		float *f = key == K_VALUE ? &n->a.pad.value : key == K_ALPHA ? &n->a.hsig.alpha : &n->a.hsig.beta;
		if (parse_float(v->s, v->len, -FLT_MAX, FLT_MAX, 0, f)) return bad_value(p, v, kn, "a finite number, e.g. 0.5");
		return SN_OK;
	}
	}
	return perr(p, v->col, "internal error: unhandled key %s", kn);
}

/* PyTorch's defaults for each operator. */
static void set_defaults(sn_node *n)
{
	switch (n->op) {
	case SN_OP_CONV:
		n->a.conv = (sn_conv_attr){.sh = 1, .sw = 1, .dh = 1, .dw = 1, .groups = 1, .bias = 1};
		break;
	case SN_OP_MAXPOOL:
	case SN_OP_AVGPOOL:
		n->a.pool = (sn_pool_attr){.count_include_pad = n->op == SN_OP_AVGPOOL};
		break;
	case SN_OP_LINEAR: n->a.linear = (sn_linear_attr){.bias = 1}; break;
	case SN_OP_BN: n->a.bn = (sn_bn_attr){1e-5f, 0.1f}; break;
	case SN_OP_DROPOUT: n->a.dropout.p = 0.5f; break;
	case SN_OP_HARDSIGMOID: n->a.hsig = (sn_hardsigmoid_attr){1.0f / 6, 0.5f}; break;
	default: break;
	}
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
		            list_keys(-1, valid, sizeof valid));
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
	set_defaults(&n);
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
		for (int i = 0; i < K_N && key < 0; i++)
			if (tok_eq(t.s, klen, key_names[i]) && (op_keys[op].allowed & B(i))) key = i;
		if (key < 0)
			return perr(p, t.col, "unknown key '%s' for %s; %s takes: %s", show(t.s, klen).s,
			            sn_op_get(n.op)->key, sn_op_get(n.op)->key, list_keys(op, keys, sizeof keys));
		if (seen & B(key)) return perr(p, t.col, "duplicate key '%s'", key_names[key]);
		seen |= B(key);
		token v = {eq + 1, t.len - klen - 1, t.col + klen + 1};
		int rc = set_key(p, &n, key, &v);
		if (rc) return rc;
	}
	unsigned missing = op_keys[op].required & ~seen;
	if (missing & B(K_IN))
		return perr(p, type->col, "%s '%s' needs in= naming %s 2 earlier layers, e.g. in=a,b",
		            sn_op_get(n.op)->key, n.name, sn_op_get(n.op)->max_in == 2 ? "exactly" : "at least");
	for (int i = 0; i < K_N; i++)
		if (missing & B(i))
			return perr(p, type->col, "%s '%s' is missing the required key %s=", sn_op_get(n.op)->key, n.name,
			            key_names[i]);
	if (op != SN_OP_INPUT && !(seen & B(K_IN))) {
		n.n_in = 1;
		n.in[0] = p->g->n_node - 1;
	}
	if ((op == SN_OP_MAXPOOL || op == SN_OP_AVGPOOL) && !(seen & B(K_STRIDE))) {
		n.a.pool.sh = n.a.pool.kh;   /* PyTorch: stride defaults to the kernel size */
		n.a.pool.sw = n.a.pool.kw;
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
