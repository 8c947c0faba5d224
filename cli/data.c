/* The data options every command that reads a data set shares (--val-split, --cache, --resize,
 * --mean, --std, --loader-threads), and the step that opens --data for a model: the model's
 * stored preprocessing wins over what the data would suggest, so eval, infer and fine-tuning
 * see inputs exactly as training did. */
#include "dist/dist.h"
#include <stdlib.h>
#include <string.h>
#include "cli.h"

static struct {
	float val_split;
	sn_cache_mode cache;
	int resize, loader_threads, seed_given;
	int n_mean, n_std;
	float mean[SN_NORM_MAX_C], std[SN_NORM_MAX_C];
	uint64_t seed;
} S = {.seed = 1};

const char *const CLI_DATA_HELP =
	"  --data SPEC         IDX files, image folders (train/<class>/*.png|jpg, test/ or val/), NumPy arrays\n"
	"                      (train_x.npy, train_y.npy, ... or one .npz) or CIFAR batches (default\n"
	"                      " SN_FMNIST_DIR "); docs/data.md\n"
	"  --val-split F       the test split is a seeded fraction F of the training samples\n"
	"  --cache MODE        image folders: auto (decode into memory when it fits), on, off (decode per batch)\n"
	"  --resize N          images: shorter side resized to N before the centre crop (default: the input size)\n"
	"  --mean M[,M,M]      input normalisation (default: the model's, else the training split's statistics)\n"
	"  --std S[,S,S]\n";

/* "a" or "a,b,c": 1..SN_NORM_MAX_C numbers in [lo, hi]. */
static int number_list(const char *cmd, const char *flag, const char *s, double lo, double hi, float *v, int *n)
{
	char buf[512];
	snprintf(buf, sizeof buf, "%s", s);
	*n = 0;
	for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (*n == SN_NORM_MAX_C) return cli_usage(cmd, "%s takes at most %d numbers", flag, SN_NORM_MAX_C);
		if (cli_float(cmd, flag, t, lo, hi, &v[*n])) return EXIT_USAGE;
		(*n)++;
	}
	return *n ? 0 : cli_usage(cmd, "%s expects one number or one per channel, e.g. 0.485,0.456,0.406", flag);
}

int cli_data_flag(const char *cmd, int ch, const char *arg)
{
	switch (ch) {
	case CLI_O_VAL_SPLIT: return cli_float(cmd, "--val-split", arg, 0.0001, 0.9999, &S.val_split);
	case CLI_O_CACHE:
		if (!strcmp(arg, "auto")) S.cache = SN_CACHE_AUTO;
		else if (!strcmp(arg, "on")) S.cache = SN_CACHE_ON;
		else if (!strcmp(arg, "off")) S.cache = SN_CACHE_OFF;
		else return cli_usage(cmd, "--cache expects auto, on or off, got '%s'", arg);
		return 0;
	case CLI_O_RESIZE: return cli_int(cmd, "--resize", arg, 1, 65536, &S.resize);
	case CLI_O_MEAN: return number_list(cmd, "--mean", arg, -1e6, 1e6, S.mean, &S.n_mean);
	case CLI_O_STD: return number_list(cmd, "--std", arg, 1e-12, 1e6, S.std, &S.n_std);
	case CLI_O_LOADER: return cli_int(cmd, "--loader-threads", arg, 1, 256, &S.loader_threads);
	}
	return cli_usage(cmd, "internal: unknown data option %d", ch);
}

void cli_data_seed(uint64_t seed) { S.seed = seed; }
int cli_loader_threads(void) { return S.loader_threads; }

int cli_load_data(const char *spec, int limit, const sn_graph *g, const sn_meta *meta, int need_train, sn_dataset *tr,
                  sn_dataset *te)
{
	if ((S.n_mean > 0) != (S.n_std > 0))
		return sn_seterr(SN_EINVAL, "give --mean and --std together");
	sn_shape in = sn_graph_input_shape(g);
	if (S.n_mean > 1 && S.n_mean != in.c)
		return sn_seterr(SN_EINVAL, "--mean gives %d values but the model has %d input channels", S.n_mean, in.c);
	if (S.n_std > 1 && S.n_std != in.c)
		return sn_seterr(SN_EINVAL, "--std gives %d values but the model has %d input channels", S.n_std, in.c);
	sn_norm given = {0};
	if (S.n_mean) {
		/* one value for all channels, or one each (the two lists may differ in length) */
		int c = S.n_mean > 1 || S.n_std > 1 ? in.c : 1;
		given.c = c;
		for (int i = 0; i < c; i++) {
			given.mean[i] = S.mean[S.n_mean > 1 ? i : 0];
			given.std[i] = S.std[S.n_std > 1 ? i : 0];
		}
	}
	sn_data_opts o = sn_data_defaults();
	o.c = in.c; o.h = in.h; o.w = in.w;
	o.resize = S.resize ? S.resize : meta && meta->resize > 0 ? meta->resize : 0;
	o.limit = limit;
	o.val_split = S.val_split;
	o.seed = S.seed;
	o.cache = S.cache;
	o.norm = given.c ? &given : meta && meta->norm.c > 0 ? &meta->norm : NULL;
	o.need_train = need_train;
	sn_data_report r;
	int mine = sn_data_open(spec, &o, tr, te, &r), rc = sn_dist_agree(mine);
	if (rc) {   /* another process could not read its data: all stop, rank 0 says why */
		if (!mine) { sn_dataset_free(tr); sn_dataset_free(te); }
		return rc;
	}
	if (r.notes[0]) fprintf(stderr, "data: %s\n", r.notes);
	if (r.other_files)
		fprintf(stderr, "data: ignored %ld file%s without a .png/.jpg/.jpeg name (first: %s)\n", r.other_files,
		        r.other_files == 1 ? "" : "s", r.first_other);
	if (r.skipped)
		fprintf(stderr, "data: skipped %ld image%s that did not decode (first: %s)\n", r.skipped,
		        r.skipped == 1 ? "" : "s", r.first_bad);
	if (r.streamed) fprintf(stderr, "data: images are decoded per batch (--cache off, or too large to cache)\n");
	return SN_OK;
}

void cli_meta_from_data(sn_meta *meta, const sn_dataset *d, const char *spec)
{
	meta->norm = d->norm;
	if (S.resize) meta->resize = S.resize;
	if (d->names) {
		size_t len = 0;
		int k = 0;
		for (; k < d->classes; k++) {
			size_t l = strlen(d->names + len) + 1;
			if (len + l > sizeof meta->names) break;
			memcpy(meta->names + len, d->names + len, l);
			len += l;
		}
		meta->classes = k == d->classes ? k : 0;   /* all names or none */
	}
	const char *base = strrchr(spec, '/');
	base = base && base[1] ? base + 1 : spec;
	if (!strcmp(spec, SN_FMNIST_DIR)) base = "fashion-mnist";
	snprintf(meta->dataset, sizeof meta->dataset, "%s", base);
}

void cli_data_recipe(char *buf, size_t len)
{
	size_t l = strlen(buf);
	if (S.val_split > 0) l += (size_t)snprintf(buf + l, len > l ? len - l : 0, " --val-split %.9g", S.val_split);
	if (S.resize > 0 && l < len) l += (size_t)snprintf(buf + l, len - l, " --resize %d", S.resize);
	for (int w = 0; w < 2 && (w ? S.n_std : S.n_mean) > 0 && l < len; w++) {
		l += (size_t)snprintf(buf + l, len - l, w ? " --std " : " --mean ");
		for (int i = 0; i < (w ? S.n_std : S.n_mean) && l < len; i++)
			l += (size_t)snprintf(buf + l, len - l, "%s%.9g", i ? "," : "", w ? S.std[i] : S.mean[i]);
	}
}

int cli_image_prep(const sn_meta *meta, int channels, sn_norm *norm, int *resize)
{
	if ((S.n_mean > 0) != (S.n_std > 0)) return cli_usage("infer", "give --mean and --std together");
	if ((S.n_mean > 1 && S.n_mean != channels) || (S.n_std > 1 && S.n_std != channels))
		return cli_usage("infer", "--mean and --std take one value or one per input channel (%d)", channels);
	*resize = S.resize ? S.resize : meta->resize;
	if (S.n_mean) {
		int c = S.n_mean > 1 || S.n_std > 1 ? channels : 1;
		*norm = (sn_norm){.c = c};
		for (int i = 0; i < c; i++) {
			norm->mean[i] = S.mean[S.n_mean > 1 ? i : 0];
			norm->std[i] = S.std[S.n_std > 1 ? i : 0];
		}
	} else if (meta->norm.c > 0) {
		*norm = meta->norm;
	} else {
		*norm = (sn_norm){.c = 1, .mean = {0}, .std = {1}};
		fprintf(stderr, "slimnn infer: the model stores no input normalisation: pixels are fed as value/255; give "
		        "--mean and --std as it was trained (torchvision's ImageNet models: --mean 0.485,0.456,0.406 --std "
		        "0.229,0.224,0.225)\n");
	}
	return 0;
}
