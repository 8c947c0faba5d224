/* slimnn: analyse, lighten, prune, train and run CNNs. */
#include <string.h>
#include <unistd.h>
#include "cli.h"
#include "dist/dist.h"

int cmd_sensitivity(int argc, char **argv);   /* cli/cmd_sensitivity.c */

static const struct { const char *name; int (*run)(int, char **); const char *help; } cmds[] = {
	{"train", cmd_train, "train or fine-tune a model on Fashion-MNIST or your data"},
	{"eval", cmd_eval, "test accuracy, loss and confusion matrix"},
	{"infer", cmd_infer, "classify images, or run a model on a NumPy .npy batch"},
	{"summary", cmd_summary, "layers, shapes, parameters, mult-adds, sizes (A vs B)"},
	{"prune", cmd_prune, "prune weights or filters in rounds with fine-tuning; sparse .slim storage"},
	{"sensitivity", cmd_sensitivity, "accuracy with each layer pruned alone at each level: table, CSV, plot"},
	{"export", cmd_export, "write a model as ONNX (opset 13), or as C for microcontrollers (--format c)"},
	{"quantize", cmd_quantize, "int8 quantization with calibration on your data; per-layer SQNR, accuracy float -> int8"},
	{"lighten", cmd_lighten, "replace layers by cheaper ones (depthwise-separable, ...), recover by distillation"},
	{"bench", cmd_bench, "inference latency per layer and in total, after folding BN and fusing ReLU"},
};

static void usage(FILE *f)
{
	fprintf(f, "usage: slimnn COMMAND [options]   (slimnn COMMAND --help for details)\n\ncommands:\n");
	for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++) fprintf(f, "  %-11s %s\n", cmds[i].name, cmds[i].help);
	fprintf(f, "\nModels are architecture files (.arch, see models/README.md), trained .slim files or .onnx files.\n");
}

static int run(int argc, char **argv)
{
	if (argc < 2) { usage(stderr); return EXIT_USAGE; }
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) { usage(stdout); return 0; }
	if (!strcmp(argv[1], "--version")) {
		printf("slimnn %s%s\n", SN_VERSION, sn_dist_built() ? " (MPI)" : "");
		return 0;
	}
	for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++)
		if (!strcmp(argv[1], cmds[i].name)) return cmds[i].run(argc - 1, argv + 1);
	fprintf(stderr, "slimnn: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return EXIT_USAGE;
}

int main(int argc, char **argv)
{
	/* under mpirun (a build with MPI=1) every process runs the command on its share of the data;
	 * rank 0 alone prints and writes files, and errors are agreed so that rank 0 reports them */
	if (sn_dist_init(&argc, &argv)) {
		fprintf(stderr, "slimnn: %s\n", sn_errmsg());
		return 1;
	}
	int err = -1;
	if (sn_dist_rank() != 0) {
		err = dup(2);
		if (!freopen("/dev/null", "w", stdout) || !freopen("/dev/null", "w", stderr)) return 1;
	}
	int rc = run(argc, argv);
	fflush(stdout);
	if (rc == 1 && sn_dist_size() > 1 && !sn_dist_error_agreed()) {
		/* a runtime error this process may have met alone (usage errors, 2, every process meets):
		 * say it (rank 0 has the terminal) and end the job, or the others would wait for this one
		 * at their next step */
		if (err >= 0) dprintf(err, "slimnn (rank %d): %s\n", sn_dist_rank(), sn_errmsg());
		sn_dist_abort(rc);
	}
	sn_dist_finalize();
	return rc;
}
