/* Line charts: axes with ticks at round numbers, a grid, one line per series with markers, and
 * a legend. SVG is written here; PNG is drawn by gnuplot (posix_spawn, the script on its stdin,
 * into a temporary file that is renamed into place). */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>
#include "cli.h"
#include "plot.h"

extern char **environ;

static const char *const COLOURS[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                      "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
static const char *const DASHES[] = {"", " stroke-dasharray=\"7,4\"", " stroke-dasharray=\"2,3\""};
enum { N_COLOURS = 10, N_DASHES = 3 };

static int ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);
	return n > k && !strcasecmp(s + n - k, suffix);
}

int plot_format_known(const char *path) { return ends_with(path, ".svg") || ends_with(path, ".png"); }

/* ---------------------------------------------------------------- axes */

typedef struct { double lo, hi, step; int decimals; } axis;

/* Ticks at 1, 2 or 5 times a power of ten, about `ticks` of them over [lo, hi]. */
static axis nice_axis(double lo, double hi, int ticks)
{
	if (!(hi - lo > 1e-9)) { lo -= 1; hi += 1; }
	const double raw = (hi - lo) / ticks, mag = pow(10, floor(log10(raw))), f = raw / mag;
	axis a;
	a.step = (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
	a.lo = floor(lo / a.step + 1e-9) * a.step;
	a.hi = ceil(hi / a.step - 1e-9) * a.step;
	a.decimals = a.step >= 1 ? 0 : (int)ceil(-log10(a.step) - 1e-9);
	return a;
}

static void y_range(const plot_chart *c, double *lo, double *hi)
{
	*lo = INFINITY;
	*hi = -INFINITY;
	for (int s = 0; s < c->n_series; s++)
		for (int i = 0; i < c->series[s].n; i++) {
			const double y = c->series[s].y[i];
			if (isfinite(y)) { *lo = fmin(*lo, y); *hi = fmax(*hi, y); }
		}
	if (!isfinite(*lo)) *lo = *hi = 0;
}

/* ---------------------------------------------------------------- SVG */

static void xml_text(FILE *f, const char *s)
{
	for (; *s; s++)
		switch (*s) {
		case '&': fputs("&amp;", f); break;
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '"': fputs("&quot;", f); break;
		default: fputc(*s, f);
		}
}

typedef struct { double left, top, width, height; axis x, y; } frame;

static double px(const frame *p, double x) { return p->left + (x - p->x.lo) / (p->x.hi - p->x.lo) * p->width; }
static double py(const frame *p, double y) { return p->top + (p->y.hi - y) / (p->y.hi - p->y.lo) * p->height; }

static void svg_axes(FILE *f, const plot_chart *c, const frame *p)
{
	const double right = p->left + p->width, bottom = p->top + p->height;
	for (double v = p->x.lo; v <= p->x.hi + p->x.step / 2; v += p->x.step) {
		fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e3e3e3\"/>\n", px(p, v), p->top, px(p, v), bottom);
		fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%.*f</text>\n", px(p, v), bottom + 18, p->x.decimals, v);
	}
	for (double v = p->y.lo; v <= p->y.hi + p->y.step / 2; v += p->y.step) {
		fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e3e3e3\"/>\n", p->left, py(p, v), right, py(p, v));
		fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.*f</text>\n", p->left - 8, py(p, v) + 4, p->y.decimals, v);
	}
	fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"black\"/>\n", p->left,
	        p->top, p->width, p->height);
	fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", p->left + p->width / 2, bottom + 42);
	xml_text(f, c->xlabel);
	fprintf(f, "</text>\n<text transform=\"translate(%.1f,%.1f) rotate(-90)\" text-anchor=\"middle\">", p->left - 52,
	        p->top + p->height / 2);
	xml_text(f, c->ylabel);
	fprintf(f, "</text>\n<text x=\"%.1f\" y=\"26\" text-anchor=\"middle\" font-size=\"15\">", p->left + p->width / 2);
	xml_text(f, c->title);
	fputs("</text>\n", f);
}

static void svg_series(FILE *f, const plot_series *s, int k, const frame *p)
{
	const char *colour = COLOURS[k % N_COLOURS], *dash = DASHES[k / N_COLOURS % N_DASHES];
	fprintf(f, "<g><title>");
	xml_text(f, s->name);
	fprintf(f, "</title>\n<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s points=\"", colour, dash);
	for (int i = 0; i < s->n; i++)
		if (isfinite(s->y[i])) fprintf(f, "%s%.1f,%.1f", i ? " " : "", px(p, s->x[i]), py(p, s->y[i]));
	fputs("\"/>\n", f);
	for (int i = 0; i < s->n; i++)
		if (isfinite(s->y[i])) fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n", px(p, s->x[i]), py(p, s->y[i]), colour);
	fputs("</g>\n", f);
}

static void svg_legend(FILE *f, const plot_chart *c, const frame *p)
{
	const double x = p->left + p->width + 20;
	for (int k = 0; k < c->n_series; k++) {
		const double y = p->top + 10 + 18 * k;
		fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2\"%s/>\n", x, y,
		        x + 26, y, COLOURS[k % N_COLOURS], DASHES[k / N_COLOURS % N_DASHES]);
		fprintf(f, "<text x=\"%.1f\" y=\"%.1f\">", x + 32, y + 4);
		xml_text(f, c->series[k].name);
		fputs("</text>\n", f);
	}
}

static int write_svg(const plot_chart *c, const char *path)
{
	size_t longest = 0;
	for (int k = 0; k < c->n_series; k++)
		if (strlen(c->series[k].name) > longest) longest = strlen(c->series[k].name);
	double lo, hi;
	y_range(c, &lo, &hi);
	frame p = {80, 44, 600, 380, nice_axis(c->xmin, c->xmax, 10), nice_axis(lo, hi, 8)};
	const double width = p.left + p.width + 20 + 32 + 7.5 * (double)longest + 20;
	const double height = fmax(p.top + p.height + 60, p.top + 18 * c->n_series + 20);
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f) return sn_seterr(SN_ENOMEM, "out of memory");
	fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" "
	        "height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" font-family=\"sans-serif\" font-size=\"12\">\n"
	        "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n", width, height, width, height);
	svg_axes(f, c, &p);
	for (int k = 0; k < c->n_series; k++) svg_series(f, &c->series[k], k, &p);
	svg_legend(f, c, &p);
	fputs("</svg>\n", f);
	if (fclose(f)) { free(buf); return sn_seterr(SN_ENOMEM, "out of memory"); }
	int rc = sn_write_atomic(path, buf, len);
	free(buf);
	return rc;
}

/* ---------------------------------------------------------------- PNG by gnuplot */

/* A gnuplot string literal: single quotes, a quote doubled. */
static void gp_string(FILE *f, const char *s)
{
	fputc('\'', f);
	for (; *s; s++) { if (*s == '\'') fputc('\'', f); fputc(*s, f); }
	fputc('\'', f);
}

static void gp_script(FILE *f, const plot_chart *c, const char *out)
{
	fputs("if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {\n  set terminal pngcairo size 960,600 noenhanced font ',10'\n"
	      "} else {\n  set terminal png size 960,600 noenhanced\n}\nset output ", f);
	gp_string(f, out);
	fputs("\nset title ", f);
	gp_string(f, c->title);
	fputs("\nset xlabel ", f);
	gp_string(f, c->xlabel);
	fputs("\nset ylabel ", f);
	gp_string(f, c->ylabel);
	fprintf(f, "\nset xrange [%g:%g]\nset grid\nset key outside right top\n", c->xmin, c->xmax);
	for (int k = 0; k < c->n_series; k++) {
		fprintf(f, "$s%d << EOD\n", k);
		for (int i = 0; i < c->series[k].n; i++)
			if (isfinite(c->series[k].y[i])) fprintf(f, "%.9g %.9g\n", c->series[k].x[i], c->series[k].y[i]);
		fputs("EOD\n", f);
	}
	for (int k = 0; k < c->n_series; k++) {
		fprintf(f, "%s$s%d with linespoints lw 2 pt 7 ps 0.7 title ", k ? ", \\\n     " : "plot ", k);
		gp_string(f, c->series[k].name);
	}
	fputs("\n", f);
}

/* Runs gnuplot with the script on its stdin; its exit status, or -1 with errno when it cannot start. */
static int run_gnuplot(const plot_chart *c, const char *out)
{
	int fd[2];
	if (pipe(fd)) return -1;
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fd[0], 0);
	posix_spawn_file_actions_addclose(&fa, fd[1]);
	char *argv[] = {"gnuplot", NULL};
	pid_t pid;
	int err = posix_spawnp(&pid, "gnuplot", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(fd[0]);
	if (err) { close(fd[1]); errno = err; return -1; }
	void (*old)(int) = signal(SIGPIPE, SIG_IGN);   /* gnuplot may stop reading early */
	FILE *f = fdopen(fd[1], "w");
	if (f) { gp_script(f, c, out); fclose(f); }
	else close(fd[1]);
	signal(SIGPIPE, old);
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR) return 1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static int write_png(const plot_chart *c, const char *path)
{
	size_t n = strlen(path) + 16;
	char *tmp = malloc(n);
	if (!tmp) return sn_seterr(SN_ENOMEM, "out of memory");
	snprintf(tmp, n, "%s.tmpXXXXXX", path);
	int fd = mkstemp(tmp), rc = SN_OK;
	if (fd < 0) { rc = sn_seterr(SN_EIO, "cannot write %s: %s", path, strerror(errno)); free(tmp); return rc; }
	close(fd);
	int status = run_gnuplot(c, tmp);
	off_t size = 0;
	FILE *f = status == 0 ? fopen(tmp, "rb") : NULL;
	if (f) { fseeko(f, 0, SEEK_END); size = ftello(f); fclose(f); }
	if (status < 0 && errno == ENOENT)
		rc = sn_seterr(SN_EIO, "a PNG plot is drawn by gnuplot, which is not installed (Debian: apt-get install "
		               "gnuplot-nox); or write SVG, which needs nothing: --plot %.*s.svg", (int)(strlen(path) - 4), path);
	else if (status != 0 || size <= 0)
		rc = sn_seterr(SN_EIO, "gnuplot could not draw %s (status %d): see its message above", path, status);
	else if (rename(tmp, path))
		rc = sn_seterr(SN_EIO, "cannot write %s: %s", path, strerror(errno));
	if (rc) unlink(tmp);
	free(tmp);
	return rc;
}

int plot_write(const plot_chart *c, const char *path)
{
	if (ends_with(path, ".png")) return write_png(c, path);
	if (ends_with(path, ".svg")) return write_svg(c, path);
	return sn_seterr(SN_EINVAL, "a plot is written as .svg or .png, got '%s'", path);
}
