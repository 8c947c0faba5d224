/* slimnn train MODEL --data DIR [recipe options] -o OUT.slim
 * The recipe (every option that shapes the run) is stored in each checkpoint as option text;
 * --resume parses it back with the same parser, then applies the command line on top. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli.h"
#include "core/quant.h"

static const char *HELP =
	"usage: slimnn train MODEL [--data DIR] [options] -o OUT.slim\n"
	"       slimnn train --resume CHECKPOINT [--data DIR] [options] -o OUT.slim\n\n"
	"MODEL is an architecture file (trained from scratch) or a .slim or .onnx model (fine-tuned).\n"
	"Defaults are the recipe that reaches >= 92.5% with models/cnn.arch in 10 epochs.\n\n"
	"%s"
	"  --epochs N          epochs (default 10)\n"
	"  --batch B           mini-batch size (default 128)\n"
	"  --optimizer sgd|adam  (default sgd)\n"
	"  --lr X              learning rate; the peak for onecycle (default 0.05)\n"
	"  --momentum M        SGD momentum / Adam beta1 (default 0.9)\n"
	"  --nesterov 0|1      Nesterov momentum (default 1)\n"
	"  --weight-decay W    L2 weight decay (default 5e-4)\n"
	"  --schedule S        const | step | cosine | onecycle (default onecycle)\n"
	"  --step-size N, --gamma G   step schedule: lr *= G every N epochs (3, 0.1)\n"
	"  --augment A         none | crop | flip | crop,flip | rrc | rrc,flip (default crop); rrc:\n"
	"                      random-resized crop (area 8-100%%, aspect 3/4-4/3) to the input size\n"
	"  --crop-pad P        padding of the random crop in pixels (default 2)\n"
	"  --label-smoothing E cross-entropy against (1-E) on the label + E/classes (default 0)\n"
	"  --clean-epochs N    the last N epochs without augmentation (default 2)\n"
	"  --seed S            seed of every random choice (default 1)\n"
	"  --limit N           use N samples of each split (docs/data.md)\n"
	"  --loader-threads N  threads making batches ahead (default 1, every core for image files)\n"
	"  --threads T         threads (default: all cores)\n"
	"  --num-classes K     transfer learning: replace the classifier (the last Linear, or a 1x1 conv\n"
	"                      before global pooling) by a fresh one with K outputs\n"
	"  --freeze-backbone N train only the classifier for the first N epochs, then every layer\n"
	"  --input CxHxW       the model's input shape, for models that take any resolution\n"
	"  --qat               quantization-aware training of a quantized MODEL (slimnn quantize's):\n"
	"                      weights and activations rounded to their int8 grids in every step, the\n"
	"                      result an int8 model again (docs/quantize.md)\n"
	"  --qat-observe N     the first N epochs move the activation ranges with the data, later ones\n"
	"                      keep them (default: half the epochs, rounded up)\n"
	"  --checkpoint PATH   checkpoint written after every epoch (default OUT.ckpt; removed on success)\n"
	"  --resume PATH       continue an interrupted run from its checkpoint\n"
	"  --quiet             no progress bar\n"
	"  -o, --output OUT    the trained model (.slim), written atomically\n";

typedef struct {
	const char *model, *data, *out, *checkpoint, *resume;
	int quiet;
	int num_classes, in_c, in_h, in_w;   /* transfer learning: 0 when not given */
	sn_train_opts o;
} train_cli;

enum { O_DATA = 256, O_EPOCHS, O_BATCH, O_LR, O_MOM, O_NEST, O_WD, O_OPT, O_SCHED, O_STEP, O_GAMMA, O_AUG,
	O_CROP, O_LS, O_CLEAN, O_SEED, O_LIMIT, O_THREADS, O_CKPT, O_RESUME, O_QUIET, O_HELP,
	O_NCLASS, O_FREEZE, O_INPUT, O_QAT, O_QAT_OBSERVE };

static const struct option opts[] = {
	{"data", 1, 0, O_DATA}, {"epochs", 1, 0, O_EPOCHS}, {"batch", 1, 0, O_BATCH}, {"lr", 1, 0, O_LR},
	{"momentum", 1, 0, O_MOM}, {"nesterov", 1, 0, O_NEST}, {"weight-decay", 1, 0, O_WD},
	{"optimizer", 1, 0, O_OPT}, {"schedule", 1, 0, O_SCHED}, {"step-size", 1, 0, O_STEP},
	{"gamma", 1, 0, O_GAMMA}, {"augment", 1, 0, O_AUG}, {"crop-pad", 1, 0, O_CROP},
	{"label-smoothing", 1, 0, O_LS}, {"clean-epochs", 1, 0, O_CLEAN}, {"seed", 1, 0, O_SEED},
	{"limit", 1, 0, O_LIMIT}, {"threads", 1, 0, O_THREADS}, {"checkpoint", 1, 0, O_CKPT},
	{"resume", 1, 0, O_RESUME}, {"quiet", 0, 0, O_QUIET}, {"output", 1, 0, 'o'}, {"help", 0, 0, O_HELP},
	{"num-classes", 1, 0, O_NCLASS}, {"freeze-backbone", 1, 0, O_FREEZE}, {"input", 1, 0, O_INPUT},
	{"qat", 0, 0, O_QAT}, {"qat-observe", 1, 0, O_QAT_OBSERVE},
	CLI_DATA_OPTIONS, {0, 0, 0, 0}};

static const char *SCHED[] = {"const", "step", "cosine", "onecycle"};

static int pick(const char *flag, const char *s, const char **names, int n, int *out)
{
	for (int i = 0; i < n; i++) if (!strcmp(s, names[i])) { *out = i; return 0; }
	return cli_usage("train", "%s: unknown value '%s'", flag, s);
}

/* A comma-separated set of none, crop, flip, rrc. */
static int parse_augment(const char *s, sn_augment *a, int pad)
{
	char buf[64];
	snprintf(buf, sizeof buf, "%s", s);
	*a = (sn_augment){0};
	for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (!strcmp(t, "crop")) a->crop_pad = pad;
		else if (!strcmp(t, "flip")) a->hflip = 1;
		else if (!strcmp(t, "rrc")) { a->rrc = 1; a->rrc_scale = 0.08f; }
		else if (strcmp(t, "none"))
			return cli_usage("train", "--augment expects none or a list of crop, flip and rrc, got '%s'", s);
	}
	return 0;
}

static void augment_name(const sn_augment *a, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s%s%s%s", a->crop_pad ? "crop" : "", a->crop_pad && (a->hflip || a->rrc) ? "," : "",
	         a->hflip ? "flip" : "", a->hflip && a->rrc ? "," : "", a->rrc ? "rrc" : "");
	if (!buf[0]) snprintf(buf, len, "none");
}

static int parse(int argc, char **argv, train_cli *c)
{
	int rc = 0, v, crop = c->o.augment.crop_pad ? c->o.augment.crop_pad : 2;
	const char *aug = NULL;
	cli_reset_getopt();
	for (int ch; !rc && (ch = getopt_long(argc, argv, ":o:", opts, NULL)) != -1;) {
		switch (ch) {
		case O_HELP: printf(HELP, CLI_DATA_HELP); exit(0);
		case O_DATA: c->data = optarg; break;
		case 'o': c->out = optarg; break;
		case O_EPOCHS: rc = cli_int("train", "--epochs", optarg, 0, 100000, &c->o.epochs); break;
		case O_BATCH: rc = cli_int("train", "--batch", optarg, 1, 65536, &c->o.batch); break;
		case O_LR: rc = cli_float("train", "--lr", optarg, 0, 1e6, &c->o.lr); break;
		case O_MOM: rc = cli_float("train", "--momentum", optarg, 0, 0.9999, &c->o.momentum); c->o.beta1 = c->o.momentum; break;
		case O_NEST: rc = cli_int("train", "--nesterov", optarg, 0, 1, &c->o.nesterov); break;
		case O_WD: rc = cli_float("train", "--weight-decay", optarg, 0, 1, &c->o.weight_decay); break;
		case O_OPT: rc = pick("--optimizer", optarg, (const char *[]){"sgd", "adam"}, 2, &v); c->o.optimizer = v; break;
		case O_SCHED: rc = pick("--schedule", optarg, SCHED, 4, &v); c->o.schedule = v; break;
		case O_STEP: rc = cli_int("train", "--step-size", optarg, 1, 100000, &c->o.step_size); break;
		case O_GAMMA: rc = cli_float("train", "--gamma", optarg, 0, 1, &c->o.gamma); break;
		case O_AUG: aug = optarg; break;
		case O_CROP: rc = cli_int("train", "--crop-pad", optarg, 0, 16, &crop); break;
		case O_LS: rc = cli_float("train", "--label-smoothing", optarg, 0, 0.999, &c->o.label_smoothing); break;
		case O_CLEAN: rc = cli_int("train", "--clean-epochs", optarg, 0, 100000, &c->o.clean_epochs); break;
		case O_SEED: rc = cli_int("train", "--seed", optarg, 0, 2147483647, &v); c->o.seed = (uint64_t)v; break;
		case O_LIMIT: rc = cli_int("train", "--limit", optarg, 0, 100000000, &c->o.limit); break;
		case O_THREADS: rc = cli_int("train", "--threads", optarg, 1, 1024, &c->o.threads); break;
		case O_CKPT: c->checkpoint = optarg; break;
		case O_RESUME: c->resume = optarg; break;
		case O_QUIET: c->quiet = 1; break;
		case O_NCLASS: rc = cli_int("train", "--num-classes", optarg, 1, 1048576, &c->num_classes); break;
		case O_FREEZE: rc = cli_int("train", "--freeze-backbone", optarg, 0, 100000, &c->o.freeze_epochs); break;
		case O_INPUT: rc = cli_shape("train", "--input", optarg, &c->in_c, &c->in_h, &c->in_w); break;
		case O_QAT: c->o.qat = 1; break;
		case O_QAT_OBSERVE: rc = cli_int("train", "--qat-observe", optarg, 0, 100000, &c->o.qat_observe_epochs); break;
		CLI_DATA_CASES: rc = cli_data_flag("train", ch, optarg); break;
		case ':': return cli_usage("train", "option %s needs a value", argv[optind - 1]);
		default: return cli_usage("train", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (rc) return rc;
	if (aug) rc = parse_augment(aug, &c->o.augment, crop);
	else if (c->o.augment.crop_pad) c->o.augment.crop_pad = crop;
	if (rc) return rc;
	for (int i = optind; i < argc; i++) {
		if (c->model) return cli_usage("train", "one MODEL expected, got '%s' and '%s'", c->model, argv[i]);
		c->model = argv[i];
	}
	return 0;
}

/* The recipe as option text, parsed back by parse() on --resume. */
static void recipe(const sn_train_opts *o, char *buf, size_t len)
{
	char aug[32];
	augment_name(&o->augment, aug, sizeof aug);
	snprintf(buf, len, "--epochs %d --batch %d --optimizer %s --lr %.9g --momentum %.9g --nesterov %d "
	         "--weight-decay %.9g --schedule %s --step-size %d --gamma %.9g --augment %s --crop-pad %d "
	         "--label-smoothing %.9g --clean-epochs %d --seed %llu --limit %d --freeze-backbone %d",
	         o->epochs, o->batch, o->optimizer == SN_OPT_ADAM ? "adam" : "sgd", o->lr, o->momentum, o->nesterov,
	         o->weight_decay, SCHED[o->schedule], o->step_size, o->gamma, aug,
	         o->augment.crop_pad ? o->augment.crop_pad : 2, o->label_smoothing, o->clean_epochs, (unsigned long long)o->seed, o->limit,
	         o->freeze_epochs);
	const size_t at = strlen(buf);
	if (o->qat && o->qat_observe_epochs >= 0) snprintf(buf + at, len - at, " --qat --qat-observe %d", o->qat_observe_epochs);
	else if (o->qat) snprintf(buf + at, len - at, " --qat");
}

static int parse_recipe(const char *text, train_cli *c)
{
	char buf[sizeof ((sn_train_state *)0)->recipe], *argv[96] = {"train"}, *save = NULL;
	int argc = 1;
	snprintf(buf, sizeof buf, "%s", text);
	for (char *t = strtok_r(buf, " ", &save); t && argc < 95; t = strtok_r(NULL, " ", &save)) argv[argc++] = t;
	return parse(argc, argv, c);
}

/* Loads the model (and, resuming, the training state and recipe). */
static sn_graph *load_model(train_cli *c, sn_meta *meta, sn_train_state *st, int argc, char **argv)
{
	sn_graph *g;
	if (c->resume) {
		g = sn_model_load(c->resume, meta, st);
		if (!g) return NULL;
		if (!st->present) { sn_graph_free(g); sn_seterr(SN_EINVAL, "'%s' holds no training state: it is a finished model, not a checkpoint (fine-tune it with 'slimnn train %s' instead)", c->resume, c->resume); return NULL; }
		train_cli fresh = {.o = sn_train_defaults()};
		if (parse_recipe(st->recipe, &fresh) || parse(argc, argv, &fresh)) { sn_graph_free(g); sn_seterr(SN_EFORMAT, "the checkpoint's recipe could not be read"); return NULL; }
		c->o = fresh.o;
		return g;
	}
	g = sn_load_any(c->model, meta);
	if (g && !c->o.qat && sn_graph_is_int8(g)) {
		sn_graph_free(g);
		sn_seterr(SN_EINVAL, "'%s' is quantized (int8 layers): add --qat to fine-tune it with quantization-aware "
		          "training, or train the float model and quantize the result again", c->model);
		return NULL;
	}
	/* --input before the initialisation: tensors that change shape would start at zero */
	if (g && c->in_c && sn_graph_set_input(g, c->in_c, c->in_h, c->in_w)) { sn_graph_free(g); return NULL; }
	if (g && !g->shapes_locked) sn_graph_init_params(g, c->o.seed);   /* an architecture: fresh weights */
	return g;
}

/* Transfer learning: a fresh classifier (--num-classes) and the one that trains alone during the
 * first --freeze-backbone epochs, whose name goes into head. A checkpoint has its classifier and
 * input already: resuming, the flags must agree with it. */
static int transfer(const train_cli *c, sn_graph **g, sn_train_opts *o, char *head, size_t len)
{
	const sn_shape in = sn_graph_input_shape(*g);
	const int classes = (int)sn_shape_numel(sn_graph_output_shape(*g));
	char msg[1024];
	if (c->resume && c->num_classes && c->num_classes != classes)
		return sn_seterr(SN_EINVAL, "--num-classes %d: the checkpoint's model has %d outputs; a resumed run keeps its "
		                 "classifier (leave --num-classes out)", c->num_classes, classes);
	if (c->resume && c->in_c && (in.c != c->in_c || in.h != c->in_h || in.w != c->in_w))
		return sn_seterr(SN_EINVAL, "--input %dx%dx%d: the checkpoint's model takes %dx%dx%d; a resumed run keeps its "
		                 "input (leave --input out)", c->in_c, c->in_h, c->in_w, in.c, in.h, in.w);
	if (!c->resume && c->num_classes) {
		sn_graph *h = sn_replace_head(*g, c->num_classes, o->seed, head, len);
		if (!h) {
			snprintf(msg, sizeof msg, "%s", sn_errmsg());
			return sn_seterr(sn_errcode(), "--num-classes: %s", msg);
		}
		printf("new classifier '%s': %d outputs (was %d)\n", head, c->num_classes, classes);
		sn_graph_free(*g);
		*g = h;
	}
	if (o->freeze_epochs > 0) {
		if (sn_find_head(*g, head, len) < 0) {
			snprintf(msg, sizeof msg, "%s", sn_errmsg());
			return sn_seterr(SN_EINVAL, "--freeze-backbone: %s", msg);
		}
		o->head = head;
	}
	return SN_OK;
}

int cmd_train(int argc, char **argv)
{
	train_cli c = {.data = SN_FMNIST_DIR, .o = sn_train_defaults()};
	int rc = parse(argc, argv, &c);
	if (rc) return rc;
	if (!c.model && !c.resume) return cli_usage("train", "no MODEL given");
	if (c.model && c.resume) return cli_usage("train", "give either MODEL or --resume, not both");
	if (!c.out) return cli_usage("train", "no output file: add -o OUT.slim");
	sn_set_threads(c.o.threads);
	sn_meta meta = {.test_accuracy = -1};
	sn_train_state st = {0};
	sn_graph *g = load_model(&c, &meta, &st, argc, argv);
	if (!g) return cli_fail();
	char head[SN_NAME_MAX];
	if (transfer(&c, &g, &c.o, head, sizeof head)) {
		sn_graph_free(g); free(st.opt_m); free(st.opt_v);
		return cli_fail();
	}
	sn_dataset tr = {0}, te = {0};
	cli_data_seed(c.o.seed);
	c.o.loader_threads = cli_loader_threads();
	if (cli_load_data(c.data, c.o.limit, g, &meta, 1, &tr, &te)) { sn_graph_free(g); return cli_fail(); }
	cli_meta_from_data(&meta, &tr, c.data);
	meta.seed = c.o.seed;
	char ckpt[4096];
	snprintf(ckpt, sizeof ckpt, "%s", c.checkpoint ? c.checkpoint : c.resume ? c.resume : "");
	if (!ckpt[0]) snprintf(ckpt, sizeof ckpt, "%s.ckpt", c.out);
	c.o.checkpoint = ckpt;
	c.o.progress = c.quiet ? 0 : -1;
	recipe(&c.o, st.recipe, sizeof st.recipe);
	cli_data_recipe(st.recipe, sizeof st.recipe);
	char procs[64] = "";
	if (sn_dist_size() > 1)
		snprintf(procs, sizeof procs, " in each of %d processes (each step's batch shared)", sn_dist_size());
	printf("training %s: %zu parameters, %d train / %d test images (%s, %d classes), %d epochs, batch %d, "
	       "%d threads%s%s\n", c.resume ? c.resume : c.model, sn_graph_count(g, SN_TENSOR_PARAM, 0), tr.n, te.n,
	       tr.format, tr.classes, c.o.epochs, c.o.batch, sn_get_threads(), procs, st.present ? " (resumed)" : "");
	if (st.present) printf("resuming at epoch %d of %d\n", st.epoch + 1, c.o.epochs);
	rc = sn_train(g, &tr, &te, &c.o, &st, &meta);
	if (rc == SN_OK) rc = sn_model_save(g, &meta, NULL, c.out);
	if (rc == SN_OK) {
		if (!c.checkpoint && !c.resume) unlink(ckpt);
		printf("saved %s: %stest accuracy %.2f%% after %d epochs\n", c.out, c.o.qat ? "int8 " : "",
		       100 * meta.test_accuracy, meta.epochs);
	} else if (rc == SN_EDIVERGED) {
		fprintf(stderr, "slimnn: %s\n", sn_errmsg());
		if (access(ckpt, F_OK) == 0) fprintf(stderr, "slimnn: the last good checkpoint is kept at %s\n", ckpt);
	} else {
		cli_fail();
	}
	free(st.opt_m); free(st.opt_v);
	sn_dataset_free(&tr); sn_dataset_free(&te);
	sn_graph_free(g);
	return rc ? 1 : 0;
}
