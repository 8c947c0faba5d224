/* Training: the loss, the schedules and the optimizers against hand computations, pruning masks
 * under every optimizer, and end-to-end runs on real Fashion-MNIST: accuracy, determinism,
 * exact resume from a checkpoint, and a clean stop on divergence. */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include "test.h"
#include "slimnn.h"
#include "train/train_internal.h"

/* ---------------------------------------------------------------- helpers */

/* The real data: the first 3000 images of each split, loaded once for the whole run. */
static int fmnist(sn_dataset **tr, sn_dataset **te) { return sn_test_fmnist(3000, tr, te); }

/* A subset view of the first n samples (shares the bytes). */
static sn_dataset first(const sn_dataset *d, int n)
{
	sn_dataset s = *d;
	s.n = n < d->n ? n : d->n;
	return s;
}

/* Small but real: conv, BN, pooling, dropout (so the dropout stream matters), two linears. */
static const char *small_arch =
	"input   x    shape=1x28x28\n"
	"conv    c1   out=8 k=3 stride=2 pad=1 bias=0\n"
	"bn      bn1\n"
	"relu    r1\n"
	"maxpool p1   k=2\n"
	"flatten f\n"
	"linear  fc1  out=32\n"
	"relu    r2\n"
	"dropout d    p=0.2\n"
	"linear  fc2  out=10\n";

static sn_graph *small_net(uint64_t seed)
{
	sn_graph *g = sn_arch_parse(small_arch, "small");
	if (g) sn_graph_init_params(g, seed);
	else fprintf(stderr, "  small_net: %s\n", sn_errmsg());
	return g;
}

static sn_train_opts quiet_opts(void)
{
	sn_train_opts o = sn_train_defaults();
	o.progress = 0;
	o.checkpoint = NULL;
	o.batch = 64;
	o.augment = (sn_augment){.crop_pad = 2, .hflip = 1};
	return o;
}

/* Runs sn_train with stdout (its epoch lines) captured into out[len]. */
static int train_captured(sn_graph *g, const sn_dataset *tr, const sn_dataset *te, const sn_train_opts *o,
                          sn_train_state *st, char *out, size_t len)
{
	char path[512];
	snprintf(path, sizeof path, "%s/train-stdout.txt", sn_test_tmpdir());
	fflush(stdout);
	int saved = dup(1), fd = open(path, O_CREAT | O_TRUNC | O_RDWR, 0600);
	if (saved < 0 || fd < 0) { perror("capture"); exit(2); }
	dup2(fd, 1);
	int rc = sn_train(g, tr, te, o, st, NULL);
	fflush(stdout);
	dup2(saved, 1);
	close(saved);
	ssize_t n = pread(fd, out, len - 1, 0);
	out[n > 0 ? n : 0] = 0;
	close(fd);
	return rc;
}

static int same_weights(const sn_graph *a, const sn_graph *b)
{
	return a->n_w == b->n_w && a->n_buf == b->n_buf && !memcmp(a->w, b->w, a->n_w * sizeof(float)) &&
	       !memcmp(a->buf, b->buf, a->n_buf * sizeof(float));
}

static unsigned char *read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f) return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	unsigned char *p = malloc(n > 0 ? (size_t)n : 1);
	*len = p ? fread(p, 1, (size_t)n, f) : 0;
	fclose(f);
	return p;
}

/* ---------------------------------------------------------------- loss */

TEST(train_softmax_xent)
{
	/* by hand: row 0 loss = log(e^1 + e^2 + e^3) - 3, row 1 = log(e^.5 + e^-1 + e^.25) + 1 */
	const float z[6] = {1, 2, 3, 0.5f, -1, 0.25f};
	const int32_t y[2] = {2, 1};
	const double loss[2] = {0.40760596444438013, 2.194112186401914};
	const double grad[6] = {0.04501528658519024, 0.12236423552739885, -0.167379522112589,
	                        0.2497588649066075, -0.4442712644748986, 0.19451239956829114};
	float d[6];
	int correct = 0;
	double L = sn_softmax_xent(z, y, 2, 3, d, &correct);
	CHECK_NEAR(L, loss[0] + loss[1], 1e-6);
	CHECK(correct == 1);                          /* row 0 right (argmax 2), row 1 wrong (argmax 0) */
	for (int i = 0; i < 6; i++) CHECK_NEAR(d[i], grad[i], 1e-7);
	/* each row's gradient sums to zero; no dlogits requested is fine too */
	CHECK_NEAR(d[0] + d[1] + d[2], 0, 1e-7);
	CHECK_NEAR(sn_softmax_xent(z + 3, y + 1, 1, 3, NULL, NULL), loss[1], 1e-6);
	/* huge logits stay finite: loss of the right class ~0, of a wrong one = the gap */
	const float big[3] = {1000, 0, -1000};
	const int32_t y0 = 0, y1 = 1;
	float db[3];
	CHECK_NEAR(sn_softmax_xent(big, &y0, 1, 3, db, NULL), 0, 1e-9);
	CHECK_NEAR(sn_softmax_xent(big, &y1, 1, 3, db, NULL), 1000, 1e-3);
	CHECK_NEAR(db[0], 1, 1e-7);
	CHECK_NEAR(db[1], -1, 1e-7);
	CHECK(isfinite(db[2]) && fabsf(db[2]) < 1e-30f);
}

TEST(train_softmax_xent_label_smoothing)
{
	/* PyTorch: F.cross_entropy(z, y, label_smoothing=0.1, reduction='sum'), gradient of the mean */
	const float z[6] = {1, 2, 3, 0.5f, -1, 0.25f};
	const int32_t y[2] = {2, 1};
	const double grad[6] = {0.02834861991852355, 0.10569756886073216, -0.13404618877925578,
	                        0.2330921982399408, -0.4109379311415653, 0.17784573290162442};
	float d[6], d0[6];
	int correct = 0;
	CHECK_NEAR(sn_softmax_xent_smooth(z, y, 2, 3, 0.1f, d, &correct), 2.6100514841796283, 1e-6);
	CHECK(correct == 1);
	for (int i = 0; i < 6; i++) CHECK_NEAR(d[i], grad[i], 1e-7);
	/* smoothing 0 is plain cross-entropy, bit for bit */
	sn_softmax_xent_smooth(z, y, 2, 3, 0.0f, d, NULL);
	sn_softmax_xent(z, y, 2, 3, d0, NULL);
	CHECK(!memcmp(d, d0, sizeof d));
}

/* ---------------------------------------------------------------- schedules */

TEST(train_schedule_onecycle)
{
	sn_train_opts o = sn_train_defaults();
	o.schedule = SN_SCHED_ONECYCLE;
	o.optimizer = SN_OPT_SGD;
	o.lr = 0.1f;
	o.momentum = 0.95f;
	o.pct_start = 0.3f;
	const uint64_t T = 1000;
	CHECK_NEAR(sn_schedule_lr(&o, 0, T, 100), 0.1 / 25, 1e-8);               /* initial lr = max/25 */
	CHECK_NEAR(sn_schedule_lr(&o, 299, T, 100), 0.1, 1e-7);                   /* peak at pct*T - 1 */
	CHECK_NEAR(sn_schedule_lr(&o, T - 1, T, 100), 0.1 / 25 / 1e4, 1e-10);     /* final = initial/1e4 */
	CHECK(sn_schedule_lr(&o, 150, T, 100) > 0.004f && sn_schedule_lr(&o, 150, T, 100) < 0.1f);
	/* rises to the peak, falls after it */
	for (uint64_t s = 1; s < T; s++) {
		float a = sn_schedule_lr(&o, s - 1, T, 100), b = sn_schedule_lr(&o, s, T, 100);
		if (s <= 299) CHECKF(b > a, "lr not rising at step %llu", (unsigned long long)s);
		else CHECKF(b < a, "lr not falling at step %llu", (unsigned long long)s);
	}
	/* momentum cycles the other way, +-0.05 around the configured 0.9 (PyTorch's 0.95/0.85) */
	o.momentum = 0.9f;
	CHECK_NEAR(sn_schedule_momentum(&o, 0, T), 0.95, 1e-6);
	CHECK_NEAR(sn_schedule_momentum(&o, 299, T), 0.85, 1e-6);
	CHECK_NEAR(sn_schedule_momentum(&o, T - 1, T), 0.95, 1e-6);
	CHECK(sn_schedule_momentum(&o, 150, T) < 0.95f && sn_schedule_momentum(&o, 150, T) > 0.85f);
	/* other schedules keep the momentum (Adam: beta1) constant */
	o.schedule = SN_SCHED_COSINE;
	CHECK_NEAR(sn_schedule_momentum(&o, 299, T), 0.9, 1e-7);
	o.optimizer = SN_OPT_ADAM;
	o.beta1 = 0.8f;
	CHECK_NEAR(sn_schedule_momentum(&o, 299, T), 0.8, 1e-7);
}

TEST(train_schedule_cosine_step_const)
{
	sn_train_opts o = sn_train_defaults();
	o.lr = 0.2f;
	o.schedule = SN_SCHED_COSINE;
	const uint64_t T = 500;                                           /* PyTorch's CosineAnnealingLR, T_max = T */
	CHECK_NEAR(sn_schedule_lr(&o, 0, T, 50), 0.2, 1e-7);
	CHECK_NEAR(sn_schedule_lr(&o, T / 2, T, 50), 0.1, 1e-6);         /* half way: half the lr */
	CHECK_NEAR(sn_schedule_lr(&o, T - 1, T, 50), 0.1 * (1 + cos(M_PI * (T - 1) / T)), 1e-8);
	CHECK(sn_schedule_lr(&o, T - 1, T, 50) > 0);                      /* the last step still learns */
	CHECK_NEAR(sn_schedule_lr(&o, 0, 1, 50), 0.2, 1e-7);             /* a single step: the full lr */

	o.schedule = SN_SCHED_STEP;
	o.step_size = 3;
	o.gamma = 0.1f;
	const int spe = 50;                                               /* steps per epoch */
	CHECK_NEAR(sn_schedule_lr(&o, 0, T, spe), 0.2, 1e-8);
	CHECK_NEAR(sn_schedule_lr(&o, 3 * spe - 1, T, spe), 0.2, 1e-8);  /* epochs 0..2: full lr */
	CHECK_NEAR(sn_schedule_lr(&o, 3 * spe, T, spe), 0.02, 1e-8);     /* epoch 3: decayed once */
	CHECK_NEAR(sn_schedule_lr(&o, 6 * spe + 7, T, spe), 0.002, 1e-9);
	o.step_size = 0;                                                  /* guarded: every epoch */
	CHECK_NEAR(sn_schedule_lr(&o, 2 * spe, T, spe), 0.002, 1e-9);

	o.schedule = SN_SCHED_CONST;
	CHECK_NEAR(sn_schedule_lr(&o, 0, T, spe), 0.2, 1e-8);
	CHECK_NEAR(sn_schedule_lr(&o, T - 1, T, spe), 0.2, 1e-8);
}

/* ---------------------------------------------------------------- optimizers */

/* 8 parameters: linear 3 -> 2 (6 weights, 2 biases). */
static sn_graph *tiny_params(void)
{
	sn_graph *g = sn_arch_parse("input x shape=3x1x1\nflatten f\nlinear l out=2\n", "tiny");
	if (!g) return NULL;
	for (size_t i = 0; i < g->n_w; i++) g->w[i] = 0.5f - 0.15f * (float)i;   /* 0.5 .. -0.55 */
	return g;
}

/* gradient of step t (1-based) for parameter i: different signs and sizes every step */
static float grad_of(int t, size_t i) { return (float)((i % 3) - 1) * 0.3f + 0.1f * t - 0.05f * (float)i; }

TEST(train_sgd_matches_pytorch)
{
	struct { float mom, wd; int nesterov; } cfg[] = {{0, 0, 0}, {0.9f, 0, 0}, {0.9f, 5e-4f, 1}, {0.5f, 0.1f, 0}};
	for (int k = 0; k < 4; k++) {
		sn_graph *g = tiny_params();
		REQUIRE(g && g->n_w == 8);
		sn_train_opts o = sn_train_defaults();
		o.optimizer = SN_OPT_SGD;
		o.momentum = cfg[k].mom;
		o.weight_decay = cfg[k].wd;
		o.nesterov = cfg[k].nesterov;
		const double lr = 0.05;
		float m[8] = {0};
		double w[8], buf[8];
		for (int i = 0; i < 8; i++) w[i] = g->w[i];
		/* torch.optim.SGD.step: d = g + wd*w; buf = d (first step) or mom*buf + d;
		 * d = d + mom*buf (nesterov) or buf; w -= lr*d */
		for (int t = 1; t <= 3; t++) {
			for (int i = 0; i < 8; i++) g->gw[i] = grad_of(t, i);
			sn_optim_step(g, &o, (float)lr, o.momentum, (uint64_t)t, m, NULL);
			for (int i = 0; i < 8; i++) {
				double d = grad_of(t, i) + (double)cfg[k].wd * w[i];
				if (cfg[k].mom != 0) {
					buf[i] = t == 1 ? d : cfg[k].mom * buf[i] + d;
					d = cfg[k].nesterov ? d + cfg[k].mom * buf[i] : buf[i];
				}
				w[i] -= lr * d;
				CHECKF(fabs(g->w[i] - w[i]) <= 1e-6 * fmax(1, fabs(w[i])), "SGD cfg %d step %d w[%d] = %.8g, expected %.8g",
				       k, t, i, g->w[i], w[i]);
			}
		}
		sn_graph_free(g);
	}
	/* step 1 by hand: Nesterov moves by lr * (1 + mom) * (g + wd*w) */
	sn_graph *g = tiny_params();
	REQUIRE(g);
	sn_train_opts o = sn_train_defaults();
	o.momentum = 0.9f; o.nesterov = 1; o.weight_decay = 0.01f;
	float m[8] = {0}, w0 = g->w[1];
	g->gw[1] = 2.0f;
	sn_optim_step(g, &o, 0.1f, 0.9f, 1, m, NULL);
	CHECK_NEAR(g->w[1], w0 - 0.1 * 1.9 * (2.0 + 0.01 * w0), 1e-6);
	sn_graph_free(g);
}

TEST(train_adam_matches_pytorch)
{
	float wds[2] = {0, 0.01f};
	for (int k = 0; k < 2; k++) {
		sn_graph *g = tiny_params();
		REQUIRE(g);
		sn_train_opts o = sn_train_defaults();
		o.optimizer = SN_OPT_ADAM;
		o.beta1 = 0.9f; o.beta2 = 0.999f; o.adam_eps = 1e-8f; o.weight_decay = wds[k];
		const double lr = 1e-2;
		float m[8] = {0}, v[8] = {0};
		double w[8], w0[8], mm[8] = {0}, vv[8] = {0};
		for (int i = 0; i < 8; i++) w0[i] = w[i] = g->w[i];
		/* torch.optim.Adam.step: d = g + wd*w; m = b1 m + (1-b1) d; v = b2 v + (1-b2) d^2;
		 * w -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps) */
		for (int t = 1; t <= 3; t++) {
			for (int i = 0; i < 8; i++) g->gw[i] = grad_of(t, i);
			sn_optim_step(g, &o, (float)lr, o.beta1, (uint64_t)t, m, v);
			for (int i = 0; i < 8; i++) {
				double d = grad_of(t, i) + (double)wds[k] * w[i];
				mm[i] = 0.9 * mm[i] + 0.1 * d;
				vv[i] = 0.999 * vv[i] + 0.001 * d * d;
				double c1 = 1 - pow(0.9, t), c2 = 1 - pow(0.999, t);
				w[i] -= lr / c1 * mm[i] / (sqrt(vv[i]) / sqrt(c2) + 1e-8);
				CHECKF(fabs(g->w[i] - w[i]) <= 1e-6 * fmax(1, fabs(w[i])), "Adam wd %g step %d w[%d] = %.8g, expected %.8g",
				       wds[k], t, i, g->w[i], w[i]);
			}
			/* step 1 by hand: the bias-corrected first step is lr * sign(d) */
			for (int i = 0; t == 1 && i < 8; i++) {
				double d = grad_of(1, i) + (double)wds[k] * w0[i];
				CHECK_NEAR(g->w[i], w0[i] - lr * (d > 0 ? 1 : -1), 1e-6);
			}
		}
		sn_graph_free(g);
	}
}

/* ---------------------------------------------------------------- masks */

TEST(train_masks_hold_under_every_optimizer)
{
	for (int opt = 0; opt < 3; opt++) {
		/* 16 x 1100 weights: more than one of the optimizer's work chunks */
		sn_graph *g = sn_arch_parse("input x shape=4x2x2\nflatten f\nlinear l out=1100\n", "masked");
		REQUIRE(g);
		sn_graph_init_params(g, 3);
		sn_tensor *w = &g->tensor[sn_tensor_find(g, "l.weight")];
		w->mask = malloc(w->n);
		REQUIRE(w->mask);
		size_t pruned = 0;
		for (size_t i = 0; i < w->n; i++) { w->mask[i] = (i * 7) % 3 != 0; pruned += !w->mask[i]; }
		float before = w->data[1];
		sn_train_opts o = sn_train_defaults();
		o.optimizer = opt == 2 ? SN_OPT_ADAM : SN_OPT_SGD;
		o.nesterov = opt == 1;
		o.momentum = 0.9f;
		o.weight_decay = 1e-2f;
		float *m = calloc(g->n_w, sizeof *m), *v = calloc(g->n_w, sizeof *v);
		REQUIRE(m && v);
		sn_rng r;
		sn_rng_seed(&r, 5);
		/* masked weights start non-zero (as after pruning without zeroing): the first step zeroes them */
		for (int t = 1; t <= 50; t++) {
			for (size_t i = 0; i < g->n_w; i++) g->gw[i] = 2 * sn_rng_uniform(&r) - 1;
			sn_optim_step(g, &o, 0.05f, 0.9f, (uint64_t)t, m, opt == 2 ? v : NULL);
		}
		size_t nonzero = 0, moments = 0;
		for (size_t i = 0; i < w->n; i++)
			if (!w->mask[i]) {
				nonzero += w->data[i] != 0.0f;
				moments += m[w->off + i] != 0.0f || v[w->off + i] != 0.0f;
			}
		CHECKF(nonzero == 0, "optimizer %d: %zu of %zu pruned weights are not zero", opt, nonzero, pruned);
		CHECKF(moments == 0, "optimizer %d: %zu pruned weights kept optimizer state", opt, moments);
		CHECK(w->mask[1] && w->data[1] != before);      /* kept weights do train */
		free(m); free(v);
		sn_graph_free(g);
	}
}

/* Frozen layers keep their values whatever their gradient says. */
TEST(train_frozen_not_updated)
{
	sn_graph *g = sn_arch_parse("input x shape=3x1x1\nflatten f\nlinear a out=4 frozen=1\nlinear b out=2\n", "frozen");
	REQUIRE(g);
	sn_graph_init_params(g, 2);
	float *before = malloc(g->n_w * sizeof *before), m[64] = {0}, v[64] = {0};
	REQUIRE(before && g->n_w <= 64);
	memcpy(before, g->w, g->n_w * sizeof *before);
	for (size_t i = 0; i < g->n_w; i++) g->gw[i] = 1.0f;
	for (int opt = 0; opt < 2; opt++) {
		sn_train_opts o = sn_train_defaults();
		o.optimizer = opt ? SN_OPT_ADAM : SN_OPT_SGD;
		sn_optim_step(g, &o, 0.1f, 0.9f, 1, m, opt ? v : NULL);
	}
	for (int k = 0; k < g->n_tensor; k++) {
		const sn_tensor *t = &g->tensor[k];
		int same = !memcmp(t->data, before + t->off, t->n * sizeof(float));
		CHECKF(same == g->node[t->node].frozen, "%s %s", t->name, same ? "did not train" : "changed although frozen");
	}
	free(before);
	sn_graph_free(g);
}

/* ---------------------------------------------------------------- end to end */

/* cnn.arch at half the width (a quarter of the cost): what the end-to-end run trains under the
 * sanitizers, which make the convolutions several times slower. The code paths are the same. */
static const char *narrow_cnn =
	"input   x       shape=1x28x28\n"
	"conv    conv1   out=16 k=3 pad=1 bias=0\n"
	"bn      bn1\n"
	"relu    relu1\n"
	"maxpool pool1   k=2\n"
	"conv    conv2   out=32 k=3 pad=1 bias=0\n"
	"bn      bn2\n"
	"relu    relu2\n"
	"maxpool pool2   k=2\n"
	"flatten flatten\n"
	"linear  fc1     out=64\n"
	"relu    relu3\n"
	"dropout drop    p=0.3\n"
	"linear  fc2     out=10\n";

/* 2 epochs of the baseline CNN on 3000 real images: well above chance and the loss falls. */
TEST(train_fmnist_end_to_end)
{
	sn_dataset *tr, *te;
	REQUIRE(fmnist(&tr, &te) == 0);
#ifdef __SANITIZE_ADDRESS__
	sn_graph *g = sn_arch_parse(narrow_cnn, "narrow-cnn");
#else
	sn_graph *g = sn_arch_load("models/cnn.arch");
	(void)narrow_cnn;
#endif
	CHECKF(g, "%s", sn_errmsg());
	if (!g) return;
	sn_graph_init_params(g, 1);
	sn_train_opts o = quiet_opts();
	o.epochs = 2;
	o.batch = 64;
	char out[4096];
	int rc = train_captured(g, tr, te, &o, NULL, out, sizeof out);
	CHECKF(rc == SN_OK, "sn_train: %s", sn_errmsg());
	/* the report lines: "epoch  1/2  train loss L  acc A% | test loss ..." */
	double loss[2] = {-1, -1};
	int n = 0;
	for (char *p = out; (p = strstr(p, "train loss")) && n < 2; p++) loss[n++] = atof(p + strlen("train loss"));
	CHECKF(n == 2, "expected two epoch lines on stdout, got:\n%s", out);
	CHECKF(loss[1] < loss[0] && loss[1] > 0, "train loss did not fall: %.4f -> %.4f", loss[0], loss[1]);
	sn_eval_result ev;
	REQUIRE(sn_evaluate(g, te, 256, &ev) == SN_OK);
	CHECKF(ev.accuracy >= 0.70, "test accuracy %.3f after 2 epochs (expected >= 0.70)", ev.accuracy);
	int total = 0;
	for (int i = 0; i < 10; i++) for (int j = 0; j < 10; j++) total += ev.confusion[i * 10 + j];
	CHECK(total == te->n && ev.n == te->n && ev.classes == 10);
	CHECK(ev.top5 >= ev.accuracy && ev.top5 <= 1);
	sn_eval_free(&ev);
	sn_graph_free(g);
}

/* Same seed: bit-identical weights (and BN statistics). Another seed: different ones. */
TEST(train_deterministic)
{
	sn_dataset *tr0, *te0;
	REQUIRE(fmnist(&tr0, &te0) == 0);
	sn_dataset tr = first(tr0, 640), te = first(te0, 200);
	sn_train_opts o = quiet_opts();
	o.epochs = 1;
	sn_graph *a = small_net(11), *b = small_net(11), *c = small_net(11);
	REQUIRE(a && b && c);
	char out[1024];
	CHECK(train_captured(a, &tr, &te, &o, NULL, out, sizeof out) == SN_OK);
	CHECK(train_captured(b, &tr, &te, &o, NULL, out, sizeof out) == SN_OK);
	CHECKF(same_weights(a, b), "two runs with the same seed differ");
	o.seed = 12345;
	CHECK(train_captured(c, &tr, &te, &o, NULL, out, sizeof out) == SN_OK);
	CHECKF(!same_weights(a, c), "a different seed gave the same weights");
	sn_graph_free(a); sn_graph_free(b); sn_graph_free(c);
}

/* 2 epochs straight == 1 epoch, checkpoint, load, 1 more epoch: bit for bit, with dropout,
 * augmentation and momentum (or Adam's two moments) all carried over. The step schedule keeps
 * the learning rate of epoch 1 independent of the planned length. */
TEST(train_resume_is_exact)
{
	sn_dataset *tr0, *te0;
	REQUIRE(fmnist(&tr0, &te0) == 0);
	sn_dataset tr = first(tr0, 500), te = first(te0, 100);
	for (int opt = 0; opt < 2; opt++) {
		sn_train_opts o = quiet_opts();
		o.optimizer = opt ? SN_OPT_ADAM : SN_OPT_SGD;
		o.lr = opt ? 1e-3f : 0.05f;
		o.schedule = SN_SCHED_STEP;
		o.step_size = 1;
		o.gamma = 0.5f;
		o.epochs = 2;
		char out[1024], path[512];
		snprintf(path, sizeof path, "%s/resume-%d.slim", sn_test_tmpdir(), opt);

		sn_graph *straight = small_net(5);
		REQUIRE(straight);
		CHECK(train_captured(straight, &tr, &te, &o, NULL, out, sizeof out) == SN_OK);

		sn_graph *half = small_net(5);
		REQUIRE(half);
		o.epochs = 1;
		o.checkpoint = path;
		CHECK(train_captured(half, &tr, &te, &o, NULL, out, sizeof out) == SN_OK);
		CHECKF(!same_weights(straight, half), "one epoch and two epochs gave the same weights");

		sn_meta meta;
		sn_train_state st;
		sn_graph *resumed = sn_model_load(path, &meta, &st);
		CHECKF(resumed, "loading the checkpoint: %s", sn_errmsg());
		if (!resumed) { sn_graph_free(straight); sn_graph_free(half); continue; }
		CHECK(st.present && st.epoch == 1 && st.step == (uint64_t)((tr.n + o.batch - 1) / o.batch));
		CHECK(st.opt_m && (opt ? st.opt_v != NULL : 1));
		CHECKF(same_weights(resumed, half), "the checkpoint does not hold the trained weights exactly");
		o.epochs = 2;
		o.checkpoint = NULL;
		int rc = train_captured(resumed, &tr, &te, &o, &st, out, sizeof out);
		CHECKF(rc == SN_OK, "resumed training: %s", sn_errmsg());
		CHECK(st.epoch == 2);
		CHECKF(strstr(out, "train loss") && !strstr(strstr(out, "train loss") + 1, "train loss"),
		       "the resumed run should report one epoch:\n%s", out);
		CHECKF(same_weights(straight, resumed), "%s: resumed weights differ from the straight run", opt ? "Adam" : "SGD");
		free(st.opt_m); free(st.opt_v);
		sn_graph_free(straight); sn_graph_free(half); sn_graph_free(resumed);
	}
}

/* A huge learning rate stops with SN_EDIVERGED, names the epoch and the fix, and leaves the
 * checkpoint of the last good epoch exactly as it was. */
TEST(train_divergence_stops_cleanly)
{
	sn_dataset *tr0, *te0;
	REQUIRE(fmnist(&tr0, &te0) == 0);
	sn_dataset tr = first(tr0, 300), te = first(te0, 100);
	char path[512], out[1024];
	snprintf(path, sizeof path, "%s/diverge.slim", sn_test_tmpdir());
	sn_graph *g = small_net(9);
	REQUIRE(g);
	sn_train_opts o = quiet_opts();
	o.schedule = SN_SCHED_CONST;
	o.epochs = 1;
	o.checkpoint = path;
	sn_train_state st = {0};
	REQUIRE(train_captured(g, &tr, &te, &o, &st, out, sizeof out) == SN_OK);
	size_t len0, len1;
	unsigned char *good = read_all(path, &len0);
	REQUIRE(good);

	o.epochs = 3;
	o.lr = 1e6f;
	int rc = train_captured(g, &tr, &te, &o, &st, out, sizeof out);
	CHECKF(rc == SN_EDIVERGED, "lr 1e6 returned %d, expected SN_EDIVERGED", rc);
	const char *msg = sn_errmsg();
	CHECKF(strstr(msg, "epoch 2") && strstr(msg, "--lr"), "message should name epoch 2 and --lr: %s", msg);
	unsigned char *after = read_all(path, &len1);
	CHECKF(after && len1 == len0 && !memcmp(good, after, len0), "the checkpoint of epoch 1 was changed");
	free(good); free(after);
	free(st.opt_m); free(st.opt_v);
	sn_graph_free(g);

	/* from scratch: it is epoch 1 that diverges, and no checkpoint appears */
	snprintf(path, sizeof path, "%s/diverge-fresh.slim", sn_test_tmpdir());
	g = small_net(9);
	REQUIRE(g);
	o.epochs = 1;
	rc = train_captured(g, &tr, &te, &o, NULL, out, sizeof out);
	CHECK(rc == SN_EDIVERGED);
	CHECKF(strstr(sn_errmsg(), "epoch 1"), "message should name epoch 1: %s", sn_errmsg());
	struct stat sb;
	CHECK(stat(path, &sb) != 0);
	sn_graph_free(g);
}
