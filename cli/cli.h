/* The slimnn command-line tool: one file per command, shared helpers here. */
#ifndef SN_CLI_H
#define SN_CLI_H
#include <getopt.h>
#include "slimnn.h"

int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_infer(int argc, char **argv);
int cmd_summary(int argc, char **argv);
int cmd_prune(int argc, char **argv);
int cmd_lighten(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_bench(int argc, char **argv);

/* Exit codes: 0 ok, 1 runtime error (bad file, diverged...), 2 usage error. */
enum { EXIT_USAGE = 2 };

/* Prints "slimnn CMD: message" and the hint to run --help; returns EXIT_USAGE. */
int cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints "slimnn: <sn_errmsg()>" and returns 1. */
int cli_fail(void);
/* Strict numeric flags: the whole string must parse and lie in [lo, hi]. */
int cli_int(const char *cmd, const char *flag, const char *s, long lo, long hi, int *out);
int cli_float(const char *cmd, const char *flag, const char *s, double lo, double hi, float *out);
/* An input shape CxHxW ("3x224x224"), each side in [1, 65536]. */
int cli_shape(const char *cmd, const char *flag, const char *s, int *c, int *h, int *w);
/* getopt_long wrapper state reset (commands parse their own argv) */
void cli_reset_getopt(void);
/* Loads the data set for a model: applies the model's stored normalisation when it has one. */
int cli_load_data(const char *dir, int limit, const sn_meta *meta, sn_dataset *tr, sn_dataset *te);
/* 1 when d's images have g's input shape (and classes its output count). */
int cli_data_fits(const sn_graph *g, const sn_dataset *d);
#endif
