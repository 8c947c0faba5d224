#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include "cli.h"
#include "core/quant.h"

sn_graph *cli_load_float(const char *cmd, const char *path, sn_meta *meta)
{
	sn_graph *g = sn_load_any(path, meta);
	if (g && sn_graph_is_int8(g)) {
		sn_graph_free(g);
		sn_seterr(SN_EINVAL, "%s works on float models, and '%s' is quantized (int8 layers): run it on the float "
		          "model, then quantize the result (slimnn quantize)", cmd, path);
		return NULL;
	}
	return g;
}

int cli_usage(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "slimnn %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nRun 'slimnn %s --help' for usage.\n", cmd);
	return EXIT_USAGE;
}

int cli_fail(void)
{
	fprintf(stderr, "slimnn: %s\n", sn_errmsg());
	return 1;
}

int cli_int(const char *cmd, const char *flag, const char *s, long lo, long hi, int *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		return cli_usage(cmd, "%s expects an integer in [%ld, %ld], got '%s'", flag, lo, hi, s);
	*out = (int)v;
	return 0;
}

int cli_float(const char *cmd, const char *flag, const char *s, double lo, double hi, float *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(v) || v < lo || v > hi)
		return cli_usage(cmd, "%s expects a number in [%g, %g], got '%s'", flag, lo, hi, s);
	*out = (float)v;
	return 0;
}

int cli_shape(const char *cmd, const char *flag, const char *s, int *c, int *h, int *w)
{
	char tail;
	if (sscanf(s, "%dx%dx%d%c", c, h, w, &tail) != 3 || *c <= 0 || *h <= 0 || *w <= 0 || *c > 1 << 16 ||
	    *h > 1 << 16 || *w > 1 << 16)
		return cli_usage(cmd, "%s expects CxHxW with sizes in [1, 65536], e.g. 3x224x224; got '%s'", flag, s);
	return 0;
}

void cli_reset_getopt(void) { optind = 1; opterr = 0; }

int cli_data_fits(const sn_graph *g, const sn_dataset *d)
{
	sn_shape in = sn_graph_input_shape(g), out = sn_graph_output_shape(g);
	return in.c == d->c && in.h == d->h && in.w == d->w && (int)sn_shape_numel(out) == d->classes;
}
