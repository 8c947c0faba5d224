/* The sensitivity table as CSV: one row per layer and level, written by slimnn sensitivity and
 * read back by slimnn prune --from-sensitivity (and by spreadsheets and plotting tools). */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include "core/internal.h"
#include "io/io.h"
#include "prune/prune.h"

static const char *const COLUMNS[] = {"layer", "members", "granularity", "criterion", "images", "units",
                                      "level", "pruned", "sparsity", "accuracy", "baseline", "drop_points"};
enum { C_LAYER, C_MEMBERS, C_GRAN, C_CRIT, C_IMAGES, C_UNITS, C_LEVEL, C_PRUNED, C_SPARSITY, C_ACC, C_BASE,
       C_DROP, N_COLUMNS };

/* A field, quoted when it holds a comma, a quote or a line break. */
static void put_field(FILE *f, const char *s)
{
	if (!s[strcspn(s, ",\"\r\n")]) { fputs(s, f); return; }
	fputc('"', f);
	for (; *s; s++) { if (*s == '"') fputc('"', f); fputc(*s, f); }
	fputc('"', f);
}

int sn_sensitivity_write_csv(const sn_sensitivity *s, const char *path)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f) return sn_seterr(SN_ENOMEM, "out of memory");
	for (int c = 0; c < N_COLUMNS; c++) fprintf(f, "%s%s", c ? "," : "", COLUMNS[c]);
	fputc('\n', f);
	for (int k = 0; k < s->n_layers; k++)
		for (int l = 0; l < s->n_levels; l++) {
			const sn_sens_layer *y = &s->layers[k];
			const size_t cell = (size_t)k * s->n_levels + l, pruned = s->pruned[cell];
			const double acc = s->accuracy[cell];
			put_field(f, y->layer);
			fputc(',', f);
			put_field(f, y->members ? y->members : y->layer);
			fprintf(f, ",%s,%s,%d,%zu,%.6g,%zu,%.6f,%.6f,%.6f,%.4f\n", sn_granularity_name(s->granularity),
			        sn_criterion_name(s->criterion), s->images, y->units, s->levels[l], pruned,
			        y->units ? (double)pruned / y->units : 0.0, acc, s->baseline, 100 * (s->baseline - acc));
		}
	if (fclose(f)) { free(buf); return sn_seterr(SN_ENOMEM, "out of memory"); }
	int rc = sn_write_atomic(path, buf, len);
	free(buf);
	return rc;
}

/* ---------------------------------------------------------------- reading */

typedef struct {
	const char *path;
	int line;
	char *field[N_COLUMNS];           /* this row's fields by column (NULL: no such column) */
	int col[64], n_cols;              /* the header: which column each field is (-1: unknown) */
} reader;

static int bad(const reader *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int bad(const reader *r, const char *fmt, ...)
{
	char msg[384];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return sn_seterr(SN_EFORMAT, "%s:%d: %s", r->path, r->line, msg);
}

/* Splits one line into fields in place (quotes removed, "" unescaped); returns their count or -1
 * for an unterminated quote. */
static int split(char *line, char **out, int max)
{
	int n = 0;
	char *p = line;
	for (;;) {
		char *w = p, *start = p;
		if (*p == '"') {
			for (p++;; p++) {
				if (!*p) return -1;
				if (*p == '"' && p[1] != '"') { p++; break; }
				if (*p == '"') p++;
				*w++ = *p;
			}
		} else {
			while (*p && *p != ',') p++;
			w = p;
		}
		if (*p && *p != ',') return -1;
		const int more = *p == ',';
		*w = 0;
		if (n < max) out[n] = start;
		n++;
		if (!more) return n;
		p++;
	}
}

static int header(reader *r, char *line)
{
	char *f[64];
	int n = split(line, f, 64);
	if (n < 1 || n > 64) return bad(r, "not a sensitivity table header (slimnn sensitivity --csv writes one)");
	r->n_cols = n;
	for (int k = 0; k < n; k++) {
		r->col[k] = -1;
		for (int c = 0; c < N_COLUMNS; c++)
			if (!strcmp(f[k], COLUMNS[c])) r->col[k] = c;
	}
	const int need[] = {C_LAYER, C_GRAN, C_LEVEL, C_ACC, C_BASE};
	for (int j = 0; j < 5; j++) {
		int found = 0;
		for (int k = 0; k < n; k++) found |= r->col[k] == need[j];
		if (!found) return bad(r, "the header lacks the column '%s'", COLUMNS[need[j]]);
	}
	return SN_OK;
}

static int number(const reader *r, int c, double lo, double hi, double *v)
{
	const char *s = r->field[c];
	char *end;
	if (!s) { *v = 0; return SN_OK; }   /* an optional column that is not there */
	errno = 0;
	*v = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(*v) || *v < lo || *v > hi)
		return bad(r, "%s must be a number in [%g, %g], got '%s'", COLUMNS[c], lo, hi, s);
	return SN_OK;
}

/* One parsed row. */
typedef struct {
	const char *layer, *members;
	int gran, crit;
	double images, units, level, pruned, accuracy, baseline;
} row;

static int parse_row(reader *r, char *line, row *w)
{
	char *f[64];
	int n = split(line, f, 64);
	if (n < 0) return bad(r, "a quoted field does not end");
	if (n != r->n_cols) return bad(r, "%d fields, but the header has %d", n, r->n_cols);
	memset(r->field, 0, sizeof r->field);
	for (int k = 0; k < n; k++)
		if (r->col[k] >= 0) r->field[r->col[k]] = f[k];
	w->layer = r->field[C_LAYER];
	w->members = r->field[C_MEMBERS] ? r->field[C_MEMBERS] : w->layer;
	if (!*w->layer || strlen(w->layer) >= SN_NAME_MAX) return bad(r, "'%s' is not a layer name", w->layer);
	if ((w->gran = sn_granularity_parse(r->field[C_GRAN])) < 0) return bad(r, "unknown granularity '%s'", r->field[C_GRAN]);
	w->crit = r->field[C_CRIT] ? sn_criterion_parse(r->field[C_CRIT]) : SN_CRIT_L1;
	if (w->crit < 0) return bad(r, "unknown criterion '%s'", r->field[C_CRIT]);
	int rc = number(r, C_LEVEL, 0, 0.999999999, &w->level);
	if (!rc) rc = number(r, C_ACC, 0, 1, &w->accuracy);
	if (!rc) rc = number(r, C_BASE, 0, 1, &w->baseline);
	if (!rc) rc = number(r, C_IMAGES, 0, 2147483647, &w->images);
	if (!rc) rc = number(r, C_UNITS, 0, 1e15, &w->units);
	if (!rc) rc = number(r, C_PRUNED, 0, 1e15, &w->pruned);
	return rc;
}

static int grow(sn_sensitivity *s, size_t cells, int layers)
{
	double *a = realloc(s->accuracy, (cells + 1) * sizeof *a);
	if (a) s->accuracy = a;
	size_t *p = realloc(s->pruned, (cells + 1) * sizeof *p);
	if (p) s->pruned = p;
	sn_sens_layer *l = realloc(s->layers, ((size_t)layers + 1) * sizeof *l);
	if (l) s->layers = l;
	return a && p && l ? SN_OK : sn_seterr(SN_ENOMEM, "out of memory");
}

static int new_layer(reader *r, sn_sensitivity *s, const row *w)
{
	for (int k = 0; k < s->n_layers; k++)
		if (!strcmp(s->layers[k].layer, w->layer))
			return bad(r, "the rows of layer '%s' must follow each other", w->layer);
	sn_sens_layer *l = &s->layers[s->n_layers++];
	memset(l, 0, sizeof *l);
	snprintf(l->layer, sizeof l->layer, "%s", w->layer);
	l->units = (size_t)w->units;
	return (l->members = strdup(w->members)) ? SN_OK : sn_seterr(SN_ENOMEM, "out of memory");
}

/* Adds row w as the next level of the current layer, or the first of a new one. */
static int add_row(reader *r, sn_sensitivity *s, const row *w, size_t cells, int *level)
{
	const int first = s->n_layers == 0, next = !first && strcmp(s->layers[s->n_layers - 1].layer, w->layer);
	if (next && *level != s->n_levels)
		return bad(r, "layer '%s' has %d levels, the first layer %d: every layer needs the same levels",
		           s->layers[s->n_layers - 1].layer, *level, s->n_levels);
	int rc = grow(s, cells, s->n_layers + 1);
	if (!rc && (first || next)) { rc = new_layer(r, s, w); *level = 0; }
	if (rc) return rc;
	if (first && w->gran != (int)s->granularity) s->granularity = w->gran;
	if (w->gran != (int)s->granularity) return bad(r, "granularity %s, but the rows before say %s",
	                                               sn_granularity_name(w->gran), sn_granularity_name(s->granularity));
	if (s->n_layers == 1) {
		if (*level && !(w->level > s->levels[*level - 1])) return bad(r, "the levels of a layer must ascend");
		float *lv = realloc(s->levels, ((size_t)*level + 1) * sizeof *lv);
		if (!lv) return sn_seterr(SN_ENOMEM, "out of memory");
		s->levels = lv;
		s->levels[s->n_levels++] = (float)w->level;
	} else if (*level >= s->n_levels || s->levels[*level] != (float)w->level)
		return bad(r, "layer '%s' has level %g where the first layer has %s: every layer needs the same levels",
		           w->layer, w->level, *level < s->n_levels ? "another" : "none");
	s->criterion = w->crit;
	s->baseline = w->baseline;
	s->images = (int)w->images;
	s->accuracy[cells] = w->accuracy;
	s->pruned[cells] = (size_t)w->pruned;
	++*level;
	return SN_OK;
}

static int read_rows(reader *r, char *text, sn_sensitivity *s)
{
	size_t cells = 0;
	int level = 0, rc = SN_OK;
	for (char *line = text, *next; line && !rc; line = next) {
		next = strchr(line, '\n');
		if (next) *next++ = 0;
		line[strcspn(line, "\r")] = 0;
		r->line++;
		if (!*line) continue;
		row w = {0};
		if (r->line == 1) rc = header(r, line);
		else if (!(rc = parse_row(r, line, &w))) rc = add_row(r, s, &w, cells++, &level);
	}
	if (!rc && !s->n_layers) return sn_seterr(SN_EFORMAT, "%s: the sensitivity table has no rows", r->path);
	if (!rc && level != s->n_levels)
		return sn_seterr(SN_EFORMAT, "%s: layer '%s' has %d levels, the first layer %d: every layer needs the same levels",
		                 r->path, s->layers[s->n_layers - 1].layer, level, s->n_levels);
	return rc;
}

/* A text file into memory (NUL-terminated). */
int sn_read_text(const char *path, char **text)
{
	size_t len;
	int rc = sn_read_file(path, (size_t)64 << 20, (unsigned char **)text, &len);
	if (!rc && memchr(*text, 0, len)) {
		free(*text);
		*text = NULL;
		return sn_seterr(SN_EFORMAT, "'%s' holds NUL bytes: it is not a text file", path);
	}
	return rc;
}

int sn_sensitivity_read_csv(const char *path, sn_sensitivity *s)
{
	memset(s, 0, sizeof *s);
	char *text;
	int rc = sn_read_text(path, &text);
	if (rc) return rc;
	reader r = {.path = path};
	rc = read_rows(&r, text, s);
	free(text);
	if (rc) sn_sensitivity_free(s);
	return rc;
}
