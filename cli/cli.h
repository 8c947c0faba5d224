/* The slimnn command-line tool: one file per command, shared helpers here. */
#ifndef SN_CLI_H
#define SN_CLI_H
#include <getopt.h>
#include "slimnn.h"
/* the command line links the static library: it may use the internal helpers too */
#include "analyze/text.h"
#include "core/error.h"
#include "data/data.h"
#include "io/io.h"

int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_infer(int argc, char **argv);
int cmd_summary(int argc, char **argv);
int cmd_prune(int argc, char **argv);
int cmd_lighten(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_quantize(int argc, char **argv);

/* Exit codes: 0 ok, 1 runtime error (bad file, diverged...), 2 usage error. */
enum { EXIT_USAGE = 2 };

/* Prints "slimnn CMD: message" and the hint to run --help; returns EXIT_USAGE. */
int cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints "slimnn: <sn_errmsg()>" and returns 1. */
int cli_fail(void);
/* A model for a command that changes weights (train, prune, lighten, sensitivity): NULL with the
 * message set for an int8 model, which those commands cannot change (they work on the float
 * model, quantized afterwards). */
sn_graph *cli_load_float(const char *cmd, const char *path, sn_meta *meta);
/* Strict numeric flags: the whole string must parse and lie in [lo, hi]. */
int cli_int(const char *cmd, const char *flag, const char *s, long lo, long hi, int *out);
int cli_float(const char *cmd, const char *flag, const char *s, double lo, double hi, float *out);
/* An input shape CxHxW ("3x224x224"), each side in [1, 65536]. */
int cli_shape(const char *cmd, const char *flag, const char *s, int *c, int *h, int *w);
/* getopt_long wrapper state reset (commands parse their own argv) */
void cli_reset_getopt(void);
/* The data options shared by every command that reads a data set (cli/data.c): their codes,
 * their getopt entries (put CLI_DATA_OPTIONS in a command's table and route the codes to
 * cli_data_flag) and their help text. */
enum { CLI_O_VAL_SPLIT = 1000, CLI_O_CACHE, CLI_O_RESIZE, CLI_O_MEAN, CLI_O_STD, CLI_O_LOADER };
#define CLI_DATA_OPTIONS                                                                                  \
	{"val-split", 1, 0, CLI_O_VAL_SPLIT}, {"cache", 1, 0, CLI_O_CACHE}, {"resize", 1, 0, CLI_O_RESIZE},   \
	{"mean", 1, 0, CLI_O_MEAN}, {"std", 1, 0, CLI_O_STD}, {"loader-threads", 1, 0, CLI_O_LOADER}
#define CLI_DATA_CASES case CLI_O_VAL_SPLIT: case CLI_O_CACHE: case CLI_O_RESIZE: case CLI_O_MEAN: case CLI_O_STD: \
	case CLI_O_LOADER
extern const char *const CLI_DATA_HELP;
int cli_data_flag(const char *cmd, int ch, const char *arg);
void cli_data_seed(uint64_t seed);    /* --seed of the command: the validation split's too */
int cli_loader_threads(void);         /* --loader-threads, 0 when not given */
/* Appends the data options that shape a run (--val-split, --resize, --mean, --std) to a recipe. */
void cli_data_recipe(char *buf, size_t len);
/* Opens SPEC for model g: batches of g's input shape, the model's stored normalisation and
 * resize when it has them (--mean/--std/--resize win), notes and skips printed on stderr.
 * need_train 0: the caller uses only the test split (tr may still be filled). */
int cli_load_data(const char *spec, int limit, const sn_graph *g, const sn_meta *meta, int need_train, sn_dataset *tr,
                  sn_dataset *te);
/* The preprocessing of single images for a model: --mean/--std/--resize, else what the model
 * stores (a model without a stored normalisation gets bytes / 255, with a warning). */
int cli_image_prep(const sn_meta *meta, int channels, sn_norm *norm, int *resize);
/* What a model trained on d stores: normalisation, resize, class names, the data set's name. */
void cli_meta_from_data(sn_meta *meta, const sn_dataset *d, const char *spec);
/* 1 when d's images have g's input shape (and classes its output count). */
int cli_data_fits(const sn_graph *g, const sn_dataset *d);
#endif
