/* Text helpers of the generator: printf into a buffer, C identifiers from layer names, exact
 * float literals. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include "codegen/codegen_internal.h"

void cg_printf(sn_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	const int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || sn_buf_reserve(b, (size_t)n + 1)) return;
	va_start(ap, fmt);
	vsnprintf((char *)b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

/* "L<index>_" and the name with every character outside [A-Za-z0-9_] as '_': unique (the index)
 * and still readable. */
const char *cg_ident(const sn_graph *g, int i, char *buf, size_t len)
{
	int k = snprintf(buf, len, "L%d_", i);
	for (const char *s = g->node[i].name; *s && k + 1 < (int)len; s++, k++) {
		const char c = *s;
		buf[k] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ? c : '_';
	}
	buf[k < (int)len ? k : (int)len - 1] = 0;
	return buf;
}

/* Hex floats are exact and C99; the sign of zero and NaN payloads other than the default are
 * not kept for NaN (no portable literal has them). */
const char *cg_float(float v, char buf[40])
{
	if (isnan(v)) snprintf(buf, 40, "NAN");
	else if (isinf(v)) snprintf(buf, 40, v < 0 ? "-INFINITY" : "INFINITY");
	else snprintf(buf, 40, "%af", (double)v);
	return buf;
}

const char *cg_sep(size_t i, size_t per) { return !i ? "\n\t" : i % per ? ", " : ",\n\t"; }

void cg_floats(cg_ctx *cx, const char *name, const float *v, size_t n)
{
	char f[40];
	cg_printf(&cx->consts, "static const float %s[%zu] = {", name, n);
	for (size_t i = 0; i < n; i++) cg_printf(&cx->consts, "%s%s", cg_sep(i, 8), cg_float(v[i], f));
	cg_printf(&cx->consts, "\n};\n");
}

void cg_int32s(cg_ctx *cx, const char *name, const int32_t *v, size_t n)
{
	cg_printf(&cx->consts, "static const int32_t %s[%zu] = {", name, n);
	for (size_t i = 0; i < n; i++) cg_printf(&cx->consts, "%s%ld", cg_sep(i, 8), (long)v[i]);
	cg_printf(&cx->consts, "\n};\n");
}
