/* Line charts for the command-line tools: SVG written here (no dependency, robust in CI), PNG
 * drawn by gnuplot when it is installed. */
#ifndef SN_CLI_PLOT_H
#define SN_CLI_PLOT_H

typedef struct {
	const char *name;                 /* the legend's label */
	int n;
	const double *x, *y;              /* points; a non-finite y is left out */
} plot_series;

typedef struct {
	const char *title, *xlabel, *ylabel;
	double xmin, xmax;                /* the x axis; the y axis fits the data */
	int n_series;
	const plot_series *series;
} plot_chart;

/* 1 if path names a format plot_write writes (.svg or .png, any case). */
int plot_format_known(const char *path);
/* Writes the chart atomically: PNG (by gnuplot) when path ends in .png, SVG when it ends in .svg. */
int plot_write(const plot_chart *c, const char *path);
#endif
