/* slimnn bench MODEL: inference latency, per layer and in total, after preparing the model.
 * The total is timed in runs of its own, without the per-layer clock reads; per-layer times
 * come from the plan's profile clocks (sn_plan_seconds), read after every pass. Medians throughout. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include "cli.h"

static const char *HELP =
	"usage: slimnn bench MODEL [--batch N] [--threads T] [--repeats R] [--warmup W] [--input CxHxW]\n"
	"                    [--no-prepare] [--sparse auto|off|force] [--seed S] [--json]\n\n"
	"Times inference on seeded random input: W untimed warm-up passes, then R timed passes for the\n"
	"total latency and R more with a clock around every layer. Prints per layer the kernel, output\n"
	"shape, mult-adds per image, median ms, share of the layers' sum, GFLOP/s (2 x mult-adds, dense\n"
	"count: a sparse layer shows its effective rate) and the code path; then the median latency,\n"
	"images/s and memory (activation arena, parameters, peak RSS).\n"
	"  --batch N        images per pass (1)\n"
	"  --threads T      OpenMP threads (default: every core)\n"
	"  --repeats R      timed passes, each for the total and per layer (20)\n"
	"  --warmup W       untimed passes first (3), and at least 0.2 s of them (0: none)\n"
	"  --input CxHxW    run the architecture on another input shape\n"
	"  --no-prepare     time the model as loaded: no BatchNorm folding, activation fusion,\n"
	"                   Dropout removal or sparse kernels\n"
	"  --sparse MODE    sparse kernels for pruned 1x1 convs and Linears: auto (where faster),\n"
	"                   off, force (default auto)\n"
	"  --seed S         input values, and weights of an architecture file (1)\n"
	"  --json           one JSON object on stdout\n"
	"Timings on a shared machine vary: compare runs made one after another, not at once.\n";

static const char *const SPARSE_NAMES[] = {"auto", "off", "force"};

#define WARMUP_S 0.2   /* seconds of warm-up at least (bench/timing.h: why) */

typedef struct {
	const char *model;
	int batch, threads, repeats, warmup, seed, prepare, json, sparse_given;
	int c, h, w;                      /* --input; 0: the model's own */
	sn_sparse_mode sparse;
} bench_cli;

typedef struct {
	sn_summary s;                     /* rows: kernel, output shape, mult-adds of every layer */
	sn_prepare_report rep;
	double *layer_ms;                 /* median per node */
	double layer_sum_ms, total_ms, min_ms;
	int warmup_passes;                /* run: --warmup, or more to fill WARMUP_S */
	size_t param_bytes;
	long peak_rss_kib;
} bench_result;

static int parse_sparse(const char *s, sn_sparse_mode *m)
{
	for (int i = 0; i < 3; i++)
		if (!strcmp(s, SPARSE_NAMES[i])) { *m = (sn_sparse_mode)i; return 0; }
	return cli_usage("bench", "--sparse expects auto, off or force, got '%s'", s);
}

static int parse(int argc, char **argv, bench_cli *c)
{
	static const struct option opts[] = {{"batch", 1, 0, 'b'}, {"threads", 1, 0, 't'}, {"repeats", 1, 0, 'r'},
		{"warmup", 1, 0, 'w'}, {"input", 1, 0, 'i'}, {"no-prepare", 0, 0, 'n'}, {"sparse", 1, 0, 's'},
		{"seed", 1, 0, 'S'}, {"json", 0, 0, 'j'}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
	*c = (bench_cli){.batch = 1, .repeats = 20, .warmup = 3, .seed = 1, .prepare = 1, .sparse = SN_SPARSE_AUTO};
	int rc = 0;
	cli_reset_getopt();
	for (int ch; !rc && (ch = getopt_long(argc, argv, ":", opts, NULL)) != -1;) {
		switch (ch) {
		case 'h': fputs(HELP, stdout); return -1;
		case 'b': rc = cli_int("bench", "--batch", optarg, 1, 65536, &c->batch); break;
		case 't': rc = cli_int("bench", "--threads", optarg, 1, 1024, &c->threads); break;
		case 'r': rc = cli_int("bench", "--repeats", optarg, 1, 10000, &c->repeats); break;
		case 'w': rc = cli_int("bench", "--warmup", optarg, 0, 10000, &c->warmup); break;
		case 'i': rc = cli_shape("bench", "--input", optarg, &c->c, &c->h, &c->w); break;
		case 'n': c->prepare = 0; break;
		case 's': rc = parse_sparse(optarg, &c->sparse); c->sparse_given = 1; break;
		case 'S': rc = cli_int("bench", "--seed", optarg, 0, 2147483647, &c->seed); break;
		case 'j': c->json = 1; break;
		case ':': return cli_usage("bench", "option %s needs a value", argv[optind - 1]);
		default: return cli_usage("bench", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (rc) return rc;
	if (optind != argc - 1) return cli_usage("bench", optind == argc ? "no MODEL given" : "expected exactly one MODEL");
	if (!c->prepare && c->sparse_given)
		return cli_usage("bench", "--sparse picks kernels while preparing the model; drop --no-prepare or --sparse");
	c->model = argv[optind];
	return 0;
}

/* The model to time: loaded (an architecture gets seeded weights), reshaped, prepared. */
static sn_graph *load(const bench_cli *c, sn_prepare_report *rep)
{
	sn_graph *g = sn_load_any(c->model, NULL);
	if (!g) return NULL;
	if (!g->shapes_locked) sn_graph_init_params(g, (uint64_t)c->seed);
	if (c->c && sn_graph_set_input(g, c->c, c->h, c->w)) { sn_graph_free(g); return NULL; }
	if (!c->prepare) return g;
	sn_prepare_opts o = sn_prepare_defaults();
	o.sparse = c->sparse;
	sn_graph *h = sn_prepare_inference(g, &o, rep);
	sn_graph_free(g);
	return h;
}

/* Refuses a batch whose activations and input (bytes) would not fit in this machine's memory. */
static int fits_memory(int batch, double bytes)
{
	const double mib = 1024.0 * 1024.0, have = (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGE_SIZE);
	if (have > 0 && bytes > 0.8 * have)
		return sn_seterr(SN_ENOMEM, "a batch of %d needs %.0f MiB of activations and input, more than this machine's "
		                 "%.0f MiB can hold; use a smaller --batch", batch, bytes / mib, have / mib);
	return SN_OK;
}

/* Plans the batch. The arena holds at least the input and the largest output, which is checked
 * before planning asks for it; the planned size after (planning does not touch the pages). */
static int plan(sn_graph *g, int batch)
{
	const double in = (double)batch * sn_shape_numel(sn_graph_input_shape(g)) * sizeof(float);
	size_t largest = 0;
	for (int i = 1; i < g->n_node; i++)
		if (sn_shape_numel(g->node[i].out) > largest) largest = sn_shape_numel(g->node[i].out);
	int rc = fits_memory(batch, in + (double)batch * largest * sizeof(float));
	if (!rc) rc = sn_graph_plan(g, batch, 0);
	return rc ? rc : fits_memory(batch, in + (double)sn_plan_arena_bytes(g->plan));
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp_double);
	return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* repeats passes with the profile clock on: t[node * repeats + r] in ms */
static int time_layers(sn_graph *g, const float *x, int batch, int repeats, double *t)
{
	for (int r = 0; r < repeats; r++) {
		sn_plan_profile(g->plan, 1);   /* the clocks from zero */
		if (!sn_graph_forward(g, x, batch)) { sn_plan_profile(g->plan, 0); return sn_errcode(); }
		for (int i = 0; i < g->n_node; i++) t[(size_t)i * repeats + r] = sn_plan_seconds(g->plan, i, SN_ACT_FORWARD) * 1e3;
	}
	sn_plan_profile(g->plan, 0);
	return SN_OK;
}

static int measure(sn_graph *g, const bench_cli *c, bench_result *res)
{
	const size_t in = (size_t)c->batch * sn_shape_numel(sn_graph_input_shape(g));
	float *x = malloc(in * sizeof *x);
	double *t = malloc((size_t)g->n_node * c->repeats * sizeof *t);
	res->layer_ms = calloc((size_t)g->n_node, sizeof *res->layer_ms);
	if (!x || !t || !res->layer_ms) { free(x); free(t); return sn_seterr(SN_ENOMEM, "out of memory for the timings"); }
	sn_rng r;
	sn_rng_seed(&r, (uint64_t)c->seed);
	for (size_t i = 0; i < in; i++) x[i] = 2 * sn_rng_uniform(&r) - 1;
	/* at least WARMUP_S too: one-time costs of a fresh process (first touches, thread start-up)
	 * stay out of the timed passes */
	const double w0 = omp_get_wtime();
	for (res->warmup_passes = 0; res->warmup_passes < c->warmup || (c->warmup && omp_get_wtime() - w0 < WARMUP_S);
	     res->warmup_passes++)
		if (!sn_graph_forward(g, x, c->batch)) { free(x); free(t); return sn_errcode(); }
	for (int i = 0; i < c->repeats; i++) {
		double t0 = omp_get_wtime();
		if (!sn_graph_forward(g, x, c->batch)) { free(x); free(t); return sn_errcode(); }
		t[i] = (omp_get_wtime() - t0) * 1e3;
	}
	res->total_ms = median(t, c->repeats);
	res->min_ms = t[0];                                   /* median() sorted them */
	int rc = time_layers(g, x, c->batch, c->repeats, t);
	if (rc) { free(x); free(t); return rc; }
	for (int i = 1; i < g->n_node; i++) {
		res->layer_ms[i] = median(t + (size_t)i * c->repeats, c->repeats);
		res->layer_sum_ms += res->layer_ms[i];
	}
	free(x); free(t);
	struct rusage ru;
	res->peak_rss_kib = getrusage(RUSAGE_SELF, &ru) ? -1 : ru.ru_maxrss;
	res->param_bytes = (g->n_w + g->n_buf) * sizeof(float);
	return sn_summarize(g, c->batch, &res->s);
}

/* ---------------------------------------------------------------- report */

/* One layer's row, as both reports print it. */
typedef struct {
	const char *name, *op;
	char kernel[48], shape[64], path[96];
	uint64_t macs;                    /* per image */
	double ms, share, gflops;
} row_cells;

/* "3x3 s2 +relu6": summary's kernel text and the fused activation */
static void kernel_text(const sn_node *n, const sn_summary_row *row, char *buf, size_t len)
{
	const int act = n->op == SN_OP_CONV ? n->a.conv.act : SN_FUSE_NONE;
	snprintf(buf, len, "%s%s%s", row->kernel, act && row->kernel[0] ? " " : "",
	         act == SN_FUSE_RELU ? "+relu" : act == SN_FUSE_RELU6 ? "+relu6" : "");
}

/* 2 x mult-adds of the whole batch over the time; 0 where there is no time or no work */
static double gflops(uint64_t macs, int batch, double ms)
{
	return ms > 0 ? 2.0 * (double)macs * batch / (ms * 1e6) : 0;
}

static row_cells cells(const bench_cli *c, const sn_graph *g, const bench_result *r, int k)
{
	const sn_summary_row *row = &r->s.rows[k];
	const sn_node *n = &g->node[row->node];
	row_cells x = {.name = n->name, .op = sn_op_get(n->op)->torch, .macs = row->macs, .ms = r->layer_ms[row->node]};
	kernel_text(n, row, x.kernel, sizeof x.kernel);
	if (n->out.rank == 2) snprintf(x.shape, sizeof x.shape, "[%d, %d]", c->batch, n->out.c);
	else snprintf(x.shape, sizeof x.shape, "[%d, %d, %d, %d]", c->batch, n->out.c, n->out.h, n->out.w);
	sn_node_path(g, n, x.path, sizeof x.path);
	x.share = r->layer_sum_ms > 0 ? x.ms / r->layer_sum_ms : 0;
	x.gflops = gflops(row->macs, c->batch, x.ms);
	return x;
}

static double images_per_s(const bench_cli *c, const bench_result *r)
{
	return r->total_ms > 0 ? c->batch * 1e3 / r->total_ms : 0;
}

static void print_header(const bench_cli *c, const sn_graph *g, const bench_result *r)
{
	sn_shape in = sn_graph_input_shape(g);
	printf("%s: batch %d, %d threads, input %dx%dx%d, %d warm-up + %d timed passes, seed %d\n", c->model, c->batch,
	       sn_get_threads(), in.c, in.h, in.w, r->warmup_passes, c->repeats, c->seed);
	if (!c->prepare) { printf("not prepared (--no-prepare): the model as loaded, dense kernels\n\n"); return; }
	const sn_prepare_report *p = &r->rep;
	char se[64] = "";   /* named only where there are any, so the line stays as it was elsewhere */
	if (p->fused_se) snprintf(se, sizeof se, ", %d squeeze-and-excitation blocks fused", p->fused_se);
	printf("prepared: %d BatchNorm folded, %d activations fused, %d Dropout removed%s (%d -> %d layers); "
	       "%d sparse layers (--sparse %s)\n\n", p->folded_bn, p->fused_act, p->removed_dropout, se, p->nodes_before,
	       p->nodes_after, p->sparse_layers, SPARSE_NAMES[c->sparse]);
}

static int widest(int w, const char *s) { return (int)strlen(s) > w ? (int)strlen(s) : w; }

static void print_text(const bench_cli *c, const sn_graph *g, const bench_result *r)
{
	int wn = 5, wo = 2, wk = 6, ws = 12;
	for (int k = 0; k < r->s.n_rows; k++) {
		row_cells x = cells(c, g, r, k);
		wn = widest(wn, x.name); wo = widest(wo, x.op); wk = widest(wk, x.kernel); ws = widest(ws, x.shape);
	}
	print_header(c, g, r);
	printf("%-*s  %-*s  %-*s  %-*s %13s %10s %6s %8s  %s\n", wn, "Layer", wo, "Op", wk, "Kernel", ws, "Output Shape",
	       "Mult-Adds/img", "Median ms", "Share", "GFLOP/s", "Path");
	for (int k = 0; k < r->s.n_rows; k++) {
		row_cells x = cells(c, g, r, k);
		char m[32], gf[16] = "";
		if (x.macs) snprintf(gf, sizeof gf, "%.2f", x.gflops);
		printf("%-*s  %-*s  %-*s  %-*s %13s %10.4f %5.1f%% %8s  %s\n", wn, x.name, wo, x.op, wk, x.kernel, ws, x.shape,
		       sn_thousands(x.macs, m), x.ms, 100 * x.share, gf, x.path);
	}
	char m[32];
	const double mib = 1024.0 * 1024.0;
	printf("\nMult-adds per image: %s\n", sn_thousands(r->s.macs, m));
	printf("Latency: %.4f ms median (%.4f ms fastest) per batch of %d: %.1f images/s, %.2f GFLOP/s\n", r->total_ms,
	       r->min_ms, c->batch, images_per_s(c, r), gflops(r->s.macs, c->batch, r->total_ms));
	printf("Per-layer medians sum to %.4f ms (timed in separate passes, with a clock around every layer)\n",
	       r->layer_sum_ms);
	printf("Memory: activation arena %.2f MiB, parameters %.2f MiB, peak RSS %.1f MiB\n", sn_plan_arena_bytes(g->plan) / mib,
	       r->param_bytes / mib, r->peak_rss_kib / 1024.0);
}

static void print_json(const bench_cli *c, const sn_graph *g, const bench_result *r)
{
	sn_shape in = sn_graph_input_shape(g);
	printf("{\"model\": ");
	sn_json_str(stdout, c->model);
	printf(", \"batch\": %d, \"threads\": %d, \"input\": [%d, %d, %d], \"warmup\": %d, \"repeats\": %d, \"seed\": %d, "
	       "\"prepared\": %s, \"sparse\": \"%s\"", c->batch, sn_get_threads(), in.c, in.h, in.w, c->warmup, c->repeats,
	       c->seed, c->prepare ? "true" : "false", c->prepare ? SPARSE_NAMES[c->sparse] : "off");
	if (c->prepare) {
		const sn_prepare_report *p = &r->rep;
		printf(", \"prepare\": {\"folded_bn\": %d, \"fused_act\": %d, \"removed_dropout\": %d, \"fused_se\": %d, "
		       "\"sparse_layers\": %d, \"layers_before\": %d, \"layers_after\": %d}", p->folded_bn, p->fused_act,
		       p->removed_dropout, p->fused_se, p->sparse_layers, p->nodes_before, p->nodes_after);
	}
	printf(", \"total\": {\"median_ms\": %.6f, \"min_ms\": %.6f, \"images_per_s\": %.3f, \"mult_adds_per_image\": %llu, "
	       "\"gflops\": %.4f, \"layer_sum_ms\": %.6f, \"warmup_passes\": %d}", r->total_ms, r->min_ms, images_per_s(c, r),
	       (unsigned long long)r->s.macs, gflops(r->s.macs, c->batch, r->total_ms), r->layer_sum_ms, r->warmup_passes);
	printf(", \"memory\": {\"arena_bytes\": %zu, \"param_bytes\": %zu, \"peak_rss_bytes\": %lld}", sn_plan_arena_bytes(g->plan),
	       r->param_bytes, r->peak_rss_kib < 0 ? -1LL : 1024LL * r->peak_rss_kib);
	printf(", \"layers\": [");
	for (int k = 0; k < r->s.n_rows; k++) {
		row_cells x = cells(c, g, r, k);
		printf("%s{\"name\": ", k ? ", " : "");
		sn_json_str(stdout, x.name);
		printf(", \"op\": \"%s\", \"kernel\": ", x.op);
		sn_json_str(stdout, x.kernel);
		printf(", \"output_shape\": %s, \"mult_adds\": %llu, \"median_ms\": %.6f, \"share\": %.6f, \"gflops\": %.4f, "
		       "\"path\": ", x.shape, (unsigned long long)x.macs, x.ms, x.share, x.gflops);
		sn_json_str(stdout, x.path);
		printf("}");
	}
	printf("]}\n");
}

int cmd_bench(int argc, char **argv)
{
	bench_cli c;
	int rc = parse(argc, argv, &c);
	if (rc) return rc < 0 ? 0 : rc;
	sn_set_threads(c.threads);
	bench_result r = {0};
	sn_graph *g = load(&c, &r.rep);
	rc = g ? plan(g, c.batch) : -1;
	if (!rc) rc = measure(g, &c, &r);
	if (!rc && c.json) print_json(&c, g, &r);
	else if (!rc) print_text(&c, g, &r);
	sn_summary_free(&r.s);
	free(r.layer_ms);
	sn_graph_free(g);
	return rc ? cli_fail() : 0;
}
