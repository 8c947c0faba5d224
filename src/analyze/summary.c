/* The torchsummary report and its numbers: rows, totals and size estimates computed exactly as
 * torchsummary does (4 bytes a value, MB = 1024^2, forward/backward = 2 x every layer output),
 * mult-adds as torchinfo counts them, and non-zero counts for pruned models. */
#include <math.h>
#include <stdarg.h>
#include "core/internal.h"
#include "core/quant.h"
#include "analyze/text.h"

static size_t count_nonzero(const sn_tensor *t)
{
	size_t k = 0;
	for (size_t i = 0; i < t->n; i++) k += t->data[i] != 0.0f;
	return k;
}

uint64_t sn_node_macs(const sn_graph *g, const sn_node *n, int nonzero_only)
{
	uint64_t m = 0;
	for (int s = 0; s < SN_T_MAX; s++) {
		const sn_tensor *t = n->t[s] >= 0 ? &g->tensor[n->t[s]] : NULL;
		if (!t || t->kind != SN_TENSOR_PARAM) continue;
		m += nonzero_only ? count_nonzero(t) : t->n;
	}
	return sn_op_get(n->op)->macs == SN_MACS_PER_PIXEL ? m * (uint64_t)n->out.h * n->out.w : m;
}

/* Appends to the text in buf, truncating at len. */
__attribute__((format(printf, 3, 4))) static void append(char *buf, size_t len, const char *fmt, ...)
{
	size_t k = strlen(buf);
	if (k + 1 >= len) return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf + k, len - k, fmt, ap);
	va_end(ap);
}

/* " s2" or " s2x1": a stride or dilation, with both sides where they differ */
static void append_pair(char *buf, size_t len, char tag, int h, int w)
{
	if (h == w) append(buf, len, " %c%d", tag, h);
	else append(buf, len, " %c%dx%d", tag, h, w);
}

static void kernel_text(const sn_graph *g, const sn_node *n, char *buf, size_t len)
{
	buf[0] = 0;
	if (n->op == SN_OP_CONV) {
		const sn_conv_attr *a = &n->a.conv;
		append(buf, len, "%dx%d", a->kh, a->kw);
		if (a->sh > 1 || a->sw > 1) append_pair(buf, len, 's', a->sh, a->sw);
		if (a->dh > 1 || a->dw > 1) append_pair(buf, len, 'd', a->dh, a->dw);
		if (a->groups > 1) append(buf, len, " g%d", a->groups);
	} else if (n->op == SN_OP_MAXPOOL || n->op == SN_OP_AVGPOOL) {
		append(buf, len, "%dx%d", n->a.pool.kh, n->a.pool.kw);
		append_pair(buf, len, 's', n->a.pool.sh, n->a.pool.sw);
	} else if (n->op == SN_OP_LINEAR) {
		snprintf(buf, len, "%d->%d", g->node[n->in[0]].out.c, n->a.linear.out);
	} else if (n->op == SN_OP_SHUFFLE) {
		snprintf(buf, len, "g%d", n->a.shuffle.groups);
	} else if (n->op == SN_OP_SLICE) {
		snprintf(buf, len, "%d:%d", n->a.slice.start, n->a.slice.end);   /* channels, as x[:, a:b] */
	} else if (n->op == SN_OP_PAD) {
		snprintf(buf, len, "%d,%d,%d,%d", n->a.pad.pt, n->a.pad.pb, n->a.pad.pl, n->a.pad.pr);
	}
}

int sn_summarize(const sn_graph *g, int batch, sn_summary *s)
{
	memset(s, 0, sizeof *s);
	s->batch = batch > 0 ? batch : -1;
	s->rows = calloc(g->n_node, sizeof *s->rows);
	if (!s->rows) return sn_seterr(SN_ENOMEM, "out of memory");
	double outputs = 0, scale_bytes = 0;
	for (int i = 1; i < g->n_node; i++) {
		const sn_node *n = &g->node[i];
		sn_summary_row *r = &s->rows[s->n_rows++];
		snprintf(r->label, sizeof r->label, "%s-%d", sn_node_torch(n), s->n_rows);
		r->node = i;
		r->out = n->out;
		kernel_text(g, n, r->kernel, sizeof r->kernel);
		for (int k = 0; k < SN_T_MAX; k++) {
			const sn_tensor *t = n->t[k] >= 0 ? &g->tensor[n->t[k]] : NULL;
			if (!t) continue;
			if (t->kind == SN_TENSOR_BUFFER) { s->buffers += t->n; continue; }
			r->params += t->n;
			r->nonzero += count_nonzero(t);
			if (!n->frozen) r->trainable += t->n;
		}
		if (sn_node_runs_int8(n)) {
			s->int8_layers++;
			if (n->q->w) { s->int8_values += n->q->w_n; scale_bytes += 4.0 * n->q->n_scale; }
		}
		r->macs = sn_node_macs(g, n, 0);
		s->params += r->params; s->trainable += r->trainable; s->nonzero += r->nonzero;
		s->macs += r->macs;
		s->macs_nonzero += sn_node_macs(g, n, 1);
		outputs += (double)sn_shape_numel(n->out);
	}
	const double MB = 1024.0 * 1024.0, b = fabs((double)s->batch);
	s->input_mb = (double)sn_shape_numel(g->node[0].out) * b * 4.0 / MB;
	s->fwd_bwd_mb = 2.0 * outputs * b * 4.0 / MB;
	s->params_mb = ((double)(s->params - s->int8_values) * 4.0 + (double)s->int8_values + scale_bytes) / MB;
	s->total_mb = s->input_mb + s->fwd_bwd_mb + s->params_mb;
	return SN_OK;
}

void sn_summary_free(sn_summary *s) { free(s->rows); s->rows = NULL; }

/* 1234567 -> "1,234,567" */
const char *sn_thousands(uint64_t v, char buf[32])
{
	char tmp[32];
	int n = snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)v), o = 0;
	for (int i = 0; i < n; i++) {
		if (i && (n - i) % 3 == 0) buf[o++] = ',';
		buf[o++] = tmp[i];
	}
	buf[o] = 0;
	return buf;
}

static void shape_text(sn_shape sh, int batch, char *buf, size_t len)
{
	if (sh.rank == 2) snprintf(buf, len, "[%d, %d]", batch, sh.c);
	else snprintf(buf, len, "[%d, %d, %d, %d]", batch, sh.c, sh.h, sh.w);
}

void sn_summary_print(FILE *f, const sn_summary *s, unsigned flags)
{
	const int wide = flags & SN_SUMMARY_MACS;
	char a[32], b[32], sh[64], line[200];
	memset(line, '-', 64); line[64] = 0;
	char eq[65]; memset(eq, '=', 64); eq[64] = 0;
	const char *extra_rule = wide ? "--------------------------------------------" : "";
	const char *extra_eq = wide ? "============================================" : "";
	fprintf(f, "%s%s\n", line, extra_rule);
	fprintf(f, "%20s  %25s %15s", "Layer (type)", "Output Shape", "Param #");
	if (wide) fprintf(f, " %12s %14s %9s", "Kernel", "Mult-Adds", "Sparsity");
	fprintf(f, "\n%s%s\n", eq, extra_eq);
	for (int i = 0; i < s->n_rows; i++) {
		const sn_summary_row *r = &s->rows[i];
		shape_text(r->out, s->batch, sh, sizeof sh);
		fprintf(f, "%20s  %25s %15s", r->label, sh, sn_thousands(r->params, a));
		if (wide) {
			char sp[16] = "";
			if (r->params) snprintf(sp, sizeof sp, "%.1f%%", 100.0 * (1.0 - (double)r->nonzero / r->params));
			fprintf(f, " %12s %14s %9s", r->kernel, sn_thousands(r->macs, b), sp);
		}
		fputc('\n', f);
	}
	fprintf(f, "%s%s\n", eq, extra_eq);
	fprintf(f, "Total params: %s\n", sn_thousands(s->params, a));
	fprintf(f, "Trainable params: %s\n", sn_thousands(s->trainable, a));
	fprintf(f, "Non-trainable params: %s\n", sn_thousands(s->params - s->trainable, a));
	if (wide) {
		fprintf(f, "Non-zero params: %s (%.2f%% sparse)\n", sn_thousands(s->nonzero, a),
		        s->params ? 100.0 * (1.0 - (double)s->nonzero / s->params) : 0.0);
		fprintf(f, "Total mult-adds (M): %.2f\n", (double)s->macs * fabs((double)s->batch) / 1e6);
		if (s->macs_nonzero != s->macs)
			fprintf(f, "Non-zero mult-adds (M): %.2f\n", (double)s->macs_nonzero * fabs((double)s->batch) / 1e6);
	}
	fprintf(f, "%s%s\n", line, extra_rule);
	fprintf(f, "Input size (MB): %0.2f\n", s->input_mb);
	fprintf(f, "Forward/backward pass size (MB): %0.2f\n", s->fwd_bwd_mb);
	fprintf(f, "Params size (MB): %0.2f\n", s->params_mb);
	if (s->int8_layers)
		fprintf(f, "int8: %d of %d layers, %s weights of one byte (docs/quantize.md)\n", s->int8_layers, s->n_rows,
		        sn_thousands(s->int8_values, a));
	fprintf(f, "Estimated Total Size (MB): %0.2f\n", s->total_mb);
	fprintf(f, "%s%s\n", line, extra_rule);
}

void sn_json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\') fprintf(f, "\\%c", *s);
		else if ((unsigned char)*s < 0x20) fprintf(f, "\\u%04x", *s);
		else fputc(*s, f);
	}
	fputc('"', f);
}

static void json_totals(FILE *f, const sn_summary *s, const sn_meta *meta, long file_bytes)
{
	fprintf(f, "\"totals\": {\"total_params\": %zu, \"trainable_params\": %zu, \"non_trainable_params\": %zu, "
	        "\"nonzero_params\": %zu, \"buffers\": %zu, \"mult_adds\": %llu, \"nonzero_mult_adds\": %llu, "
	        "\"input_size_mb\": %.6f, \"forward_backward_size_mb\": %.6f, \"params_size_mb\": %.6f, "
	        "\"estimated_total_size_mb\": %.6f, \"int8_layers\": %d, \"int8_values\": %zu",
	        s->params, s->trainable, s->params - s->trainable, s->nonzero, s->buffers,
	        (unsigned long long)s->macs, (unsigned long long)s->macs_nonzero, s->input_mb, s->fwd_bwd_mb,
	        s->params_mb, s->total_mb, s->int8_layers, s->int8_values);
	if (file_bytes >= 0) fprintf(f, ", \"file_bytes\": %ld, \"dense_bytes\": %zu", file_bytes, 4 * (s->params + s->buffers));
	if (meta && meta->test_accuracy >= 0) fprintf(f, ", \"test_accuracy\": %.6f", meta->test_accuracy);
	fprintf(f, "}");
}

/* Totals come before the per-layer rows so a depth-first reader finds them first. */
void sn_summary_json(FILE *f, const sn_summary *s, const char *model, const sn_meta *meta, long file_bytes)
{
	char sh[64];
	fprintf(f, "{\"model\": ");
	sn_json_str(f, model ? model : "");
	fprintf(f, ", ");
	json_totals(f, s, meta, file_bytes);
	fprintf(f, ", \"layers\": [");
	for (int i = 0; i < s->n_rows; i++) {
		const sn_summary_row *r = &s->rows[i];
		shape_text(r->out, s->batch, sh, sizeof sh);
		fprintf(f, "%s{\"layer\": \"%s\", \"output_shape\": %s, \"kernel\": \"%s\", \"params\": %zu, "
		        "\"trainable\": %zu, \"nonzero\": %zu, \"mult_adds\": %llu}",
		        i ? ", " : "", r->label, sh, r->kernel, r->params, r->trainable, r->nonzero,
		        (unsigned long long)r->macs);
	}
	fprintf(f, "]}\n");
}
