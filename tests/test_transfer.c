/* One SGD step of an imported torchvision model against PyTorch's (issue 14: "changes the weights
 * as PyTorch's step does on the same batch, relative error <= 1e-4"). tests/fixtures/transfer/<model>/
 * holds the model before the step (model.onnx) and PyTorch's update of every parameter and BatchNorm
 * statistic (step.txt), from tools/gen_transfer_fixtures.py: model.train(), cross-entropy averaged
 * over the batch, SGD lr 0.1 without momentum or weight decay, in float64. Here: sn_onnx_load, a
 * training plan, forward, sn_softmax_xent, backward, sn_optim_step. A parameter's update is -lr *
 * its gradient (what the step adds before w + update rounds to float32); a statistic's is its new
 * value minus the old. Per tensor the relative error ||u - u_torch|| / ||u_torch|| must be <= 1e-4:
 * computed exactly where step.txt holds the whole update, estimated from 16 random projections
 * where it holds only their values (tools/gen_transfer_fixtures.py says why and how). Updates that
 * are zero in exact arithmetic (a BatchNorm shift that a later BatchNorm removes) must stay at
 * rounding level. SN_VERBOSE=1 prints each model's worst tensor. */
#include <stdlib.h>
#include "test.h"
#include "slimnn.h"
#include "train/train_internal.h"

#define TRANSFER_TOL 1e-4
#define PROJ 16
#define MAX_TENSORS 512

typedef struct {
	char name[2 * SN_NAME_MAX];
	int param, full;
	size_t n;
	double *v;                  /* full: the n values; stats: sum, L1, L2, then PROJ projections */
} ref_tensor;

typedef struct {
	int batch, c, h, w, classes, n;
	double lr, loss;
	int32_t labels[64];
	ref_tensor t[MAX_TENSORS];
} ref_step;

static uint64_t splitmix64(uint64_t z)
{
	z += 0x9E3779B97F4A7C15ULL;
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

static void free_step(ref_step *s)
{
	for (int i = 0; i < s->n; i++) free(s->t[i].v);
}

/* step.txt: "key values" lines; a "tensor NAME param|buffer N full|stats VALUES" line per tensor */
static int read_step(const char *path, ref_step *s)
{
	FILE *f = fopen(path, "r");
	if (!f) return 0;
	memset(s, 0, sizeof *s);
	char key[32];
	int ok = 1, total = -1;
	while (ok && fscanf(f, "%31s", key) == 1) {
		if (key[0] == '#') { ok = fscanf(f, "%*[^\n]") >= 0; continue; }
		if (!strcmp(key, "batch")) ok = fscanf(f, "%d", &s->batch) == 1 && s->batch > 0 && s->batch <= 64;
		else if (!strcmp(key, "input")) ok = fscanf(f, "%d %d %d", &s->c, &s->h, &s->w) == 3;
		else if (!strcmp(key, "classes")) ok = fscanf(f, "%d", &s->classes) == 1;
		else if (!strcmp(key, "lr")) ok = fscanf(f, "%lf", &s->lr) == 1;
		else if (!strcmp(key, "loss")) ok = fscanf(f, "%lf", &s->loss) == 1;
		else if (!strcmp(key, "labels"))
			for (int i = 0; ok && i < s->batch; i++) ok = fscanf(f, "%d", &s->labels[i]) == 1;
		else if (!strcmp(key, "tensors")) ok = fscanf(f, "%d", &total) == 1;
		else if (!strcmp(key, "tensor") && s->n < MAX_TENSORS) {
			ref_tensor *t = &s->t[s->n++];
			char kind[16], form[16];
			ok = fscanf(f, "%255s %15s %zu %15s", t->name, kind, &t->n, form) == 4 && t->n > 0;
			t->param = !strcmp(kind, "param");
			t->full = !strcmp(form, "full");
			size_t k = t->full ? t->n : 3 + PROJ;
			ok = ok && (t->v = malloc(k * sizeof *t->v));
			for (size_t i = 0; ok && i < k; i++) ok = fscanf(f, "%lf", &t->v[i]) == 1;
		} else ok = 0;
	}
	fclose(f);
	if (!ok || total != s->n) { free_step(s); return 0; }
	return 1;
}

/* The 16 projections of u onto the +-1 vectors of tools/gen_transfer_fixtures.py. */
static void project(const double *u, size_t n, double *p)
{
	for (int k = 0; k < PROJ; k++) p[k] = 0;
	for (size_t i = 0; i < n; i++) {
		const uint64_t h = splitmix64(i);
		for (int k = 0; k < PROJ; k++) p[k] += (h >> k) & 1 ? u[i] : -u[i];
	}
}

static double norm2(const double *u, size_t n)
{
	double s = 0;
	for (size_t i = 0; i < n; i++) s += u[i] * u[i];
	return sqrt(s);
}

/* ||u - ref|| / ||ref||: exact for a full reference, else from the projections' differences
 * (E[(s.e)^2] = ||e||^2), the sum (against the L1 norm) and the L2 norm checked as well. */
static double rel_error(const ref_tensor *r, const double *u)
{
	if (r->full) {
		double e = 0;
		for (size_t i = 0; i < r->n; i++) e += (u[i] - r->v[i]) * (u[i] - r->v[i]);
		return sqrt(e) / norm2(r->v, r->n);
	}
	double p[PROJ], sum = 0, l1 = 0, e = 0;
	project(u, r->n, p);
	for (size_t i = 0; i < r->n; i++) { sum += u[i]; l1 += fabs(u[i]); }
	for (int k = 0; k < PROJ; k++) e += (p[k] - r->v[3 + k]) * (p[k] - r->v[3 + k]);
	double err = sqrt(e / PROJ) / r->v[2];
	err = fmax(err, fabs(sum - r->v[0]) / r->v[1]);
	err = fmax(err, fabs(l1 - r->v[1]) / r->v[1]);
	return fmax(err, fabs(norm2(u, r->n) - r->v[2]) / r->v[2]);
}

static double ref_norm(const ref_tensor *r) { return r->full ? norm2(r->v, r->n) : r->v[2]; }

static void one_step(const char *model)
{
	char dir[512], path[600];
	snprintf(dir, sizeof dir, "%s/transfer/%s", sn_test_fixtures(), model);
	ref_step *s = calloc(1, sizeof *s);
	REQUIRE(s);
	snprintf(path, sizeof path, "%s/step.txt", dir);
	if (!read_step(path, s)) { CHECKF(0, "%s: unreadable or malformed", path); free(s); return; }
	snprintf(path, sizeof path, "%s/model.onnx", dir);
	sn_graph *g = sn_onnx_load(path, NULL);
	const size_t nx = (size_t)s->batch * s->c * s->h * s->w;
	float *x = malloc(nx * sizeof *x), *dlogits = malloc((size_t)s->batch * s->classes * sizeof *dlogits);
	float *w0 = g ? malloc(g->n_w * sizeof *w0) : NULL, *b0 = g ? malloc((g->n_buf + 1) * sizeof *b0) : NULL;
	double *u = NULL;
	if (!g || !x || !dlogits || !w0 || !b0) { CHECKF(0, "%s: %s", model, g ? "out of memory" : sn_errmsg()); goto out; }
	sn_shape in = sn_graph_input_shape(g);
	CHECK(in.c == s->c && in.h == s->h && in.w == s->w && sn_graph_output_shape(g).c == s->classes);
	CHECKF(g->n_tensor == s->n, "%s: slimnn has %d tensors, PyTorch's state_dict %d", model, g->n_tensor, s->n);
	for (size_t i = 0; i < nx; i++) x[i] = (float)((int)(splitmix64(i) >> 56) - 128) / 64;
	memcpy(w0, g->w, g->n_w * sizeof *w0);
	memcpy(b0, g->buf, g->n_buf * sizeof *b0);
	if (sn_graph_plan(g, s->batch, 1)) { CHECKF(0, "%s: %s", model, sn_errmsg()); goto out; }
	const float *z = sn_graph_forward(g, x, s->batch);
	if (!z) { CHECKF(0, "%s: forward: %s", model, sn_errmsg()); goto out; }
	const double loss = sn_softmax_xent(z, s->labels, s->batch, s->classes, dlogits, NULL) / s->batch;
	CHECKF(fabs(loss - s->loss) <= 1e-5 * s->loss, "%s: loss %.9g, PyTorch %.9g", model, loss, s->loss);
	sn_graph_zero_grad(g);
	if (sn_graph_backward(g, dlogits)) { CHECKF(0, "%s: backward: %s", model, sn_errmsg()); goto out; }
	/* the model's RMS parameter update: the scale of "zero in exact arithmetic" */
	double ss = 0;
	size_t count = 0;
	for (int i = 0; i < s->n; i++)
		if (s->t[i].param) { ss += ref_norm(&s->t[i]) * ref_norm(&s->t[i]); count += s->t[i].n; }
	const double rms = sqrt(ss / (count ? count : 1));
	double worst = 0;
	const char *worst_name = "";
	for (int i = 0; i < s->n; i++) {
		const ref_tensor *r = &s->t[i];
		const int k = sn_tensor_find(g, r->name);
		if (k < 0 || g->tensor[k].n != r->n || (g->tensor[k].kind == SN_TENSOR_PARAM) != r->param) {
			CHECKF(0, "%s: PyTorch's %s (%zu values) is not a slimnn %s of that size", model, r->name, r->n,
			       r->param ? "parameter" : "buffer");
			continue;
		}
		const sn_tensor *t = &g->tensor[k];
		free(u);
		if (!(u = malloc(t->n * sizeof *u))) { CHECK(0); goto out; }
		for (size_t j = 0; j < t->n; j++)
			u[j] = r->param ? -s->lr * t->grad[j] : (double)t->data[j] - b0[t->off + j];
		if (r->param && ref_norm(r) < 1e-9 * rms * sqrt((double)r->n)) {   /* zero in exact arithmetic */
			CHECKF(norm2(u, r->n) <= 1e-5 * rms * sqrt((double)r->n), "%s: %s should not change, RMS update %.3g of "
			       "the model's %.3g", model, r->name, norm2(u, r->n) / sqrt((double)r->n), rms);
			continue;
		}
		const double e = rel_error(r, u);
		CHECKF(e <= TRANSFER_TOL, "%s: %s: relative error %.3g of PyTorch's update", model, r->name, e);
		if (!(e <= worst)) { worst = e; worst_name = r->name; }
	}
	/* the step itself: plain SGD writes w - lr * g, rounded once, into every parameter */
	sn_train_opts o = sn_train_defaults();
	o.momentum = 0; o.weight_decay = 0; o.nesterov = 0;
	float *m = calloc(g->n_w, sizeof *m);
	REQUIRE(m);
	sn_optim_step(g, &o, (float)s->lr, 0, 1, m, NULL);
	size_t wrong = 0;
	for (size_t j = 0; j < g->n_w; j++) wrong += g->w[j] != w0[j] - (float)s->lr * g->gw[j];
	CHECKF(wrong == 0, "%s: %zu weights are not w - lr * g after the SGD step", model, wrong);
	free(m);
	if (getenv("SN_VERBOSE"))
		fprintf(stderr, "  %s: loss %.7f (PyTorch %.7f), worst %s %.2g\n", model, loss, s->loss, worst_name, worst);
out:
	free(u); free(x); free(dlogits); free(w0); free(b0);
	sn_graph_free(g);
	free_step(s);
	free(s);
}

TEST(transfer_sgd_step_mobilenet_v3_small) { one_step("mobilenet_v3_small"); }
TEST(transfer_sgd_step_resnet18) { one_step("resnet18"); }
