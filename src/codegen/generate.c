/* The generator's driver: prepare the model for inference, refuse what has no C form, lay the
 * activations out in one arena, let each layer's emitter write its constants and its call, and
 * assemble PREFIX.c and PREFIX.h. */
#include <math.h>
#include <stdio.h>
#include "codegen/codegen_internal.h"
#include "core/quant.h"
#include "kernels/qmath.h"

sn_cg_opts sn_cg_defaults(void) { return (sn_cg_opts){.prefix = "model", .force = SN_CG_AUTO}; }

int sn_cg_prefix_ok(const char *s)
{
	if (!s || !*s || strlen(s) > 32 || (*s >= '0' && *s <= '9')) return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_')) return 0;
	return 1;
}

/* A quantized model (core/quant.h): every int8 layer has its int8 emitter (the table's int8
 * column covers each operator with an int8 forward), and every layer an int8 layer reads has
 * int8 parameters, as the library's plan requires (core/graph.c: mark_dtypes). */
static int check_int8(const sn_graph *g)
{
	for (int i = 1; i < g->n_node; i++) {
		const sn_node *n = &g->node[i];
		const cg_emitter *e = cg_emitter_of(n->op);
		if (!sn_node_runs_int8(n)) continue;
		if (!(e && e->i8))
			return sn_seterr(SN_EINVAL, "export to C: int8 layer '%s' (%s) has no int8 C kernel yet; keep it in float "
			                 "(slimnn quantize --keep-float %s) or export the float model", n->name, sn_node_torch(n), n->name);
		for (int k = 0; k < n->n_in; k++)
			if (!g->node[n->in[k]].q)
				return sn_seterr(SN_EFORMAT, "export to C: layer '%s' feeds the int8 layer '%s' but has no int8 parameters: "
				                 "quantize the model again", g->node[n->in[k]].name, n->name);
	}
	return SN_OK;
}

/* Every layer must have an emitter for its type, and finite constants (a NaN weight would make
 * every output NaN on the device without a word). */
static int check_layers(const sn_graph *g)
{
	if (g->n_node < 2) return sn_seterr(SN_EINVAL, "export to C: the model has no layers after its input");
	for (int i = 1; i < g->n_node; i++) {
		const sn_node *n = &g->node[i];
		const cg_emitter *e = cg_emitter_of(n->op);
		if (n->op == SN_OP_INPUT)
			return sn_seterr(SN_EINVAL, "export to C: layer '%s' is a second input; the C code takes one input", n->name);
		if (!e)
			return sn_seterr(SN_EINVAL, "export to C: layer '%s' (%s) has no C kernel yet; replace it or export as ONNX",
			                 n->name, sn_node_torch(n));
		for (int s = 0; s < SN_T_MAX; s++) {
			if (n->t[s] < 0) continue;
			const sn_tensor *t = &g->tensor[n->t[s]];
			for (size_t k = 0; k < t->n; k++)
				if (!isfinite(t->data[k]))
					return sn_seterr(SN_EINVAL, "export to C: layer '%s' (%s): %s holds NaN or infinity at value %zu; "
					                 "the model is broken (retrain or fix it)", n->name, sn_node_torch(n), t->name, k);
		}
	}
	return SN_OK;
}

/* Layers that may write their output over their input: value-by-value operators, Flatten and
 * Dropout (views at inference) and Add (into its first input), when they are the only reader of
 * the input in its type (same: readers per node that read it in its own type), the input is of
 * their output's type and it is not the caller's (const) data. */
static int works_in_place(const cg_ctx *cx, int i, const int *same)
{
	const sn_node *n = &cx->g->node[i];
	const int p = n->in[0];
	const int kind = (sn_op_get(n->op)->flags & SN_OPF_ELEMENTWISE) || n->op == SN_OP_FLATTEN || n->op == SN_OP_ADD;
	return kind && p > 0 && same[p] == 1 && cx->int8[p] == cx->int8[i];
}

/* The C types of the arena's buffers (CG_FLOAT, CG_INT8, CG_INT32) and their sizes. */
static const char *const ctype[] = {"float", "int8_t", "int32_t"};
static const size_t csize[] = {sizeof(float), 1, sizeof(int32_t)};

/* The C expression of the arena at byte offset off as a buffer of type `type` (decl: the type the
 * arena is declared with). */
static void arena_at(char out[48], size_t off, int type, int decl)
{
	if (type == decl) snprintf(out, 48, "arena + %zu", off / csize[type]);
	else snprintf(out, 48, "(%s *)arena + %zu", ctype[type], off / csize[type]);
}

const char *cg_in(const cg_ctx *cx, int i, int k)
{
	const int p = cx->g->node[i].in[k];
	return cx->int8[p] == cx->int8[i] ? cx->at[p] : cx->at_cv[p];
}

/* Each node's output type: int8 where the layer runs in int8, and the input where every reader
 * does (the caller then gives int8). */
static void set_types(cg_ctx *cx)
{
	const sn_graph *g = cx->g;
	int readers = 0, int8_readers = 0;
	for (int i = 1; i < g->n_node; i++) {
		cx->int8[i] = (char)sn_node_runs_int8(&g->node[i]);
		cx->quantized |= cx->int8[i];
		for (int k = 0; k < g->node[i].n_in; k++)
			if (g->node[i].in[k] == 0) { readers++; int8_readers += cx->int8[i]; }
	}
	cx->int8[0] = (char)(cx->quantized && g->node[0].q && readers && readers == int8_readers);
}

/* The arena: a buffer per node that owns its output (not in place, not the caller's output), in
 * its type (4 bytes a float, 1 an int8), live from its node to the last layer that reads it or a
 * layer in place on it, and one for its output in the other type where readers need that (a
 * float layer reading an int8 one, or the reverse), live from the node to the last such reader;
 * offsets from the inference memory planner. An int8 conv's int32 sums of one output plane live
 * while it runs: in the arena (declared int32_t, which int8 buffers may alias) when no buffer is
 * float, else in the static qacc beside it (counted in it), as float and int32 may not alias.
 * Fills cx->at, cx->at_cv, cx->acc_at, cx->in_place and the report's buffers. */
static int plan_arena(cg_ctx *cx)
{
	const sn_graph *g = cx->g;
	const int N = g->n_node;
	sn_cg_result *r = cx->r;
	int *same = calloc((size_t)N, sizeof *same), *other = calloc((size_t)N, sizeof *other);
	int *owner = malloc((size_t)N * sizeof *owner), *slot = malloc(3 * (size_t)N * sizeof *slot);
	size_t *acc = calloc((size_t)N, sizeof *acc);
	char *type = malloc(3 * (size_t)N);
	sn_membuf *mb = malloc(3 * (size_t)N * sizeof *mb);
	r->buf = malloc(3 * (size_t)N * sizeof *r->buf);
	if (!same || !other || !owner || !slot || !acc || !type || !mb || !r->buf) {
		free(same); free(other); free(owner); free(slot); free(acc); free(type); free(mb);
		return sn_seterr(SN_ENOMEM, "out of memory planning the arena");
	}
	int *cslot = slot + N, *aslot = slot + 2 * N;
	set_types(cx);
	for (int i = 0; i < N; i++)
		for (int k = 0; k < g->node[i].n_in; k++) {
			const int p = g->node[i].in[k];
			if (cx->int8[p] == cx->int8[i]) same[p]++;
			else other[p]++;
		}
	int nb = 0;
	for (int i = 0; i < N; i++) {
		cx->in_place[i] = i > 0 && works_in_place(cx, i, same);
		owner[i] = cx->in_place[i] ? owner[g->node[i].in[0]] : i;
		slot[i] = cslot[i] = aslot[i] = cx->pool_of[i] = cx->conv_of[i] = -1;
	}
	for (int j = 1; j < N; j++) {   /* a conv read by one pooling layer alone, of its type: fused with it */
		const sn_node *n = &g->node[j];
		const int c = n->in[0];
		if ((n->op == SN_OP_MAXPOOL || n->op == SN_OP_AVGPOOL) && g->node[c].op == SN_OP_CONV && same[c] == 1 && !other[c] &&
		    cx->int8[c] == cx->int8[j]) {
			cx->pool_of[c] = j;
			cx->conv_of[j] = c;
		}
	}
	const int out_owner = owner[N - 1];
	for (int i = 1; i < N; i++)
		if (owner[i] == i && i != out_owner) {
			/* a fused conv's buffer is one plane of scratch, used while its pool runs */
			const int fused = cx->pool_of[i], at = fused >= 0 ? fused : i;
			const sn_shape o = g->node[i].out;
			slot[i] = nb;
			type[nb] = cx->int8[i] ? CG_INT8 : CG_FLOAT;
			mb[nb] = (sn_membuf){(fused >= 0 ? (size_t)o.h * o.w : sn_shape_numel(o)) * csize[(int)type[nb]], 0, at, at};
			nb++;
		}
	for (int i = 0; i < N; i++)
		if (other[i]) {
			cslot[i] = nb;
			type[nb] = cx->int8[i] ? CG_FLOAT : CG_INT8;
			mb[nb] = (sn_membuf){sn_shape_numel(g->node[i].out) * csize[(int)type[nb]], 0, i, i};
			nb++;
		}
	int has_float = 0, has_int8 = 0;
	for (int b = 0; b < nb; b++) {
		has_float |= type[b] == CG_FLOAT;
		has_int8 |= type[b] == CG_INT8;
	}
	cx->acc_len = 0;
	for (int i = 1; i < N; i++)
		if (cx->int8[i] && g->node[i].op == SN_OP_CONV) {
			const int plane = g->node[i].out.h * g->node[i].out.w, at = cx->pool_of[i] >= 0 ? cx->pool_of[i] : i;
			if (has_float) {
				acc[at] = (size_t)plane * sizeof(int32_t);
				cx->acc_len = SN_MAX(cx->acc_len, plane);
			} else {
				aslot[i] = nb;
				type[nb] = CG_INT32;
				mb[nb++] = (sn_membuf){(size_t)plane * sizeof(int32_t), 0, at, at};
			}
		}
	int has_int32 = 0;
	for (int b = 0; b < nb; b++) has_int32 |= type[b] == CG_INT32;
	cx->decl = has_float ? CG_FLOAT : has_int32 ? CG_INT32 : has_int8 ? CG_INT8 : CG_FLOAT;
	if (cx->decl != CG_INT8 && has_int8)   /* int8 buffers in whole words, so every other one stays aligned */
		for (int b = 0; b < nb; b++) mb[b].size = (mb[b].size + 3) / 4 * 4;
	for (int i = 0; i < N; i++)
		for (int k = 0; k < g->node[i].n_in; k++) {
			const int p = g->node[i].in[k];
			const int s = cx->int8[p] == cx->int8[i] ? slot[owner[p]] : cslot[p];
			const int when = cx->pool_of[i] >= 0 ? cx->pool_of[i] : i;   /* a fused conv reads at its pool */
			if (s >= 0 && mb[s].last < when) mb[s].last = when;
		}
	const size_t total = sn_plan_memory(mb, nb);
	if (total == SIZE_MAX) {
		free(same); free(other); free(owner); free(slot); free(acc); free(type); free(mb);
		return sn_seterr(SN_ENOMEM, "out of memory planning the arena");
	}
	size_t bound = 0;
	for (int t = 0; t < N; t++) {
		size_t live = acc[t];
		for (int b = 0; b < nb; b++)
			if (mb[b].first <= t && t <= mb[b].last) live += mb[b].size;
		bound = SN_MAX(bound, live);
	}
	for (int i = 0; i < N; i++) {
		const int s = slot[owner[i]];
		if (i == 0) snprintf(cx->at[i], sizeof cx->at[i], "input");
		else if (owner[i] == out_owner) snprintf(cx->at[i], sizeof cx->at[i], "output");
		else arena_at(cx->at[i], mb[s].offset, cx->int8[i] ? CG_INT8 : CG_FLOAT, cx->decl);
		if (cslot[i] >= 0) arena_at(cx->at_cv[i], mb[cslot[i]].offset, cx->int8[i] ? CG_FLOAT : CG_INT8, cx->decl);
		if (aslot[i] >= 0) arena_at(cx->acc_at[i], mb[aslot[i]].offset, CG_INT32, cx->decl);
		else snprintf(cx->acc_at[i], sizeof cx->acc_at[i], "qacc");
	}
	for (int b = 0; b < nb; b++) r->buf[b] = (sn_cg_buffer){mb[b].first, mb[b].offset, mb[b].size, mb[b].first, mb[b].last};
	r->n_buf = nb;
	cx->planned = total;
	r->arena_bytes = total + (size_t)cx->acc_len * sizeof(int32_t);
	r->arena_lower_bound = bound;
	free(same); free(other); free(owner); free(slot); free(acc); free(type); free(mb);
	return SN_OK;
}

/* A comment line's text: printable ASCII, and never the end of a comment. */
static void comment_text(const char *s, char *out, size_t len)
{
	size_t k = 0;
	for (; *s && k + 2 < len; s++) {
		const char c = *s >= 32 && *s < 127 ? *s : '?';
		if (c == '/' && k && out[k - 1] == '*') out[k++] = ' ';
		out[k++] = c;
	}
	out[k] = 0;
}

/* Node i's output into the other type, for the readers that need it (after the node runs, as
 * the library's plan does: core/graph.c, convert), with the node's own parameters. */
static void emit_convert(cg_ctx *cx, int i)
{
	if (!cx->at_cv[i][0]) return;
	const sn_qparams q = cx->g->node[i].q->y;
	char f[40];
	cx->kernels |= cx->int8[i] ? CK(CK_DEQUANTIZE) : CK(CK_QUANTIZE);
	cg_printf(&cx->body, "\t%s(%s, %zu, %s, %ld, %s);\n", cx->int8[i] ? "k_dequantize" : "k_quantize", cx->at[i],
	          sn_shape_numel(cx->g->node[i].out), cg_float(q.scale, f), (long)q.zero_point, cx->at_cv[i]);
}

/* Each layer's comment, constants and call; after it, under PREFIX_POISON_ARENA (tests), the
 * buffers no later layer reads are filled with 0xff bytes (NaN, or int8 -1), so a layer that
 * read one would show. */
static int emit_layers(cg_ctx *cx)
{
	const sn_graph *g = cx->g;
	const sn_cg_result *r = cx->r;
	char shp[2][64], nm[SN_NAME_MAX + 8];
	emit_convert(cx, 0);
	for (int i = 1; i < g->n_node; i++) {
		const sn_node *n = &g->node[i];
		const cg_emitter *e = cg_emitter_of(n->op);
		comment_text(n->name, nm, sizeof nm);
		cg_printf(&cx->body, "\t/* %s (%s%s%s) %s -> %s%s */\n", nm, sn_node_torch(n),
		          n->op == SN_OP_CONV && n->a.conv.act ? n->a.conv.act == SN_FUSE_RELU ? " + ReLU" : " + ReLU6" : "",
		          cx->int8[i] ? ", int8" : cx->quantized ? ", float" : "",
		          sn_shape_str(g->node[n->in[0]].out, shp[0], sizeof shp[0]), sn_shape_str(n->out, shp[1], sizeof shp[1]),
		          cx->in_place[i] ? ", in place" : "");
		int rc = SN_OK;
		if (cx->pool_of[i] >= 0) {
			cg_printf(&cx->body, "\t/* (computed with %s, below) */\n", g->node[cx->pool_of[i]].name);
		} else if (cx->conv_of[i] >= 0) {
			rc = cg_emit_conv_pool(cx, cx->conv_of[i], i);
		} else {
			cx->kernels |= cx->int8[i] ? e->kernels_i8 : e->kernels_f32;
			rc = (cx->int8[i] ? e->i8 : e->f32)(cx, i);
		}
		if (rc) return rc;
		emit_convert(cx, i);
		for (int b = 0; b < r->n_buf; b++)
			if (r->buf[b].last == i) cg_printf(&cx->body, "\tPOISON(%zu, %zu);\n", r->buf[b].offset, r->buf[b].bytes);
	}
	return SN_OK;
}

static void upper(const char *s, char *out, size_t len)
{
	size_t k = 0;
	for (; *s && k + 1 < len; s++) out[k++] = *s >= 'a' && *s <= 'z' ? (char)(*s - 32) : *s;
	out[k] = 0;
}

/* A C string literal of s (quotes, backslashes and other bytes escaped). */
static void put_cstring(sn_buf *b, const char *s)
{
	cg_printf(b, "\"");
	for (; *s; s++) {
		const unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') cg_printf(b, "\\%c", c);
		else if (c >= 32 && c < 127 && c != '?') cg_printf(b, "%c", c);   /* '?': no trigraphs */
		else cg_printf(b, "\\%03o", c);
	}
	cg_printf(b, "\"");
}

/* x = byte * scale + shift per channel, as the library normalises (data/batch.c): the scale and
 * shift of channel ch. */
static void norm_of(const sn_norm *nm, int ch, float *scale, float *shift)
{
	const int k = nm->c > 1 && ch < nm->c ? ch : 0;
	const double std = nm->std[k] > 0 ? nm->std[k] : 1.0;
	*scale = (float)(1.0 / 255.0 / std);
	*shift = (float)(-nm->mean[k] / std);
}

/* The normalisation of bytes into the input: in float, or for an int8 input a table per channel
 * of the int8 each byte becomes, normalised and quantized here exactly as slimnn does both (no
 * float on the device). */
static void put_normalise(const cg_ctx *cx, sn_buf *c, sn_buf *h, const char *p, const char *P, const sn_norm *nm)
{
	const sn_graph *g = cx->g;
	const sn_shape in = g->node[0].out;
	const long hw = (long)in.h * in.w;
	char fs[40], fh[40];
	float sc, sh;
	const char *t = cx->int8[0] ? "int8_t" : "float";
	cg_printf(h, "/* An image of bytes (CHW) into the input, normalised as the model was trained%s. */\n"
	          "#define %s_NORMALISES 1\nvoid %s_input_from_bytes(const unsigned char *pixels, %s *input);\n",
	          cx->int8[0] ? " and quantized" : "", P, p, t);
	cg_printf(c, "void %s_input_from_bytes(const unsigned char *pixels, %s *input)\n{\n", p, t);
	if (cx->int8[0]) {
		cg_printf(c, "\tstatic const int8_t table[%d][256] = {", in.c);
		for (int ch = 0; ch < in.c; ch++) {
			norm_of(nm, ch, &sc, &sh);
			cg_printf(c, "%s{", ch ? ", " : "");
			for (int v = 0; v < 256; v++) {
				const float x = (float)v * sc + sh;
				int8_t q;
				sn_q_quantize(&x, 1, g->node[0].q->y, -128, 127, &q);
				cg_printf(c, "%s%d", cg_sep((size_t)v, 16), q);
			}
			cg_printf(c, "}");
		}
		cg_printf(c, "};\n\tint c;\n\tlong i;\n\tfor (c = 0; c < %d; c++)\n\t\tfor (i = 0; i < %ldL; i++)\n"
		          "\t\t\tinput[c * %ldL + i] = table[c][pixels[c * %ldL + i]];\n}\n\n", in.c, hw, hw, hw);
		return;
	}
	cg_printf(c, "\tstatic const float scale[%d] = {", in.c);
	for (int ch = 0; ch < in.c; ch++) {
		norm_of(nm, ch, &sc, &sh);
		cg_printf(c, "%s%s", ch ? ", " : "", cg_float(sc, fs));
	}
	cg_printf(c, "}, shift[%d] = {", in.c);
	for (int ch = 0; ch < in.c; ch++) {
		norm_of(nm, ch, &sc, &sh);
		cg_printf(c, "%s%s", ch ? ", " : "", cg_float(sh, fh));
	}
	cg_printf(c, "};\n\tint c;\n\tlong i;\n\tfor (c = 0; c < %d; c++)\n\t\tfor (i = 0; i < %ldL; i++)\n"
	          "\t\t\tinput[c * %ldL + i] = (float)pixels[c * %ldL + i] * scale[c] + shift[c];\n}\n\n", in.c, hw, hw, hw);
}

static const char *type_of(const cg_ctx *cx, int i) { return cx->int8[i] ? "int8_t" : "float"; }

/* PREFIX_INPUT_... or PREFIX_OUTPUT_...: the int8 parameters of node i's output. */
static void put_qparams(sn_buf *h, const char *P, const char *what, sn_qparams q)
{
	char f[40];
	cg_printf(h, "#define %s_%s_SCALE %s\n#define %s_%s_ZERO_POINT %ld\n", P, what, cg_float(q.scale, f), P, what,
	          (long)q.zero_point);
}

static void put_header(cg_ctx *cx, sn_buf *h, const sn_meta *meta, const char *p, const char *P)
{
	const sn_graph *g = cx->g;
	const int last = g->n_node - 1;
	const sn_shape in = g->node[0].out, out = g->node[last].out;
	const sn_cg_result *r = cx->r;
	const char *ti = type_of(cx, 0), *to = type_of(cx, last);
	cg_printf(h, "/* %s.h: generated by slimnn %s (slimnn export --format c)%s%s; do not edit.\n"
	          " * int %s_run(const %s *input, %s *output): one image, input %s_INPUT_SIZE values (CHW),\n"
	          " * output %s_OUTPUT_SIZE values; input and output must not overlap. Returns 0. Not reentrant:\n"
	          " * the activations live in one static arena of %s_ARENA_BYTES. */\n"
	          "#ifndef %s_H\n#define %s_H\n\n", p, SN_VERSION, cx->o.source ? " from " : "", cx->o.source ? cx->o.source : "",
	          p, ti, to, P, P, P, P, P);
	if (cx->quantized) {
		cg_printf(h, "#include <stdint.h>\n\n/* A quantized model (slimnn quantize): real = SCALE * (q - ZERO_POINT). The int8 layers\n"
		          " * compute slimnn's int8 arithmetic bit for bit (docs/quantize.md); an int8 input or output\n"
		          " * is in these parameters (%s_INPUT_INT8, %s_OUTPUT_INT8: 0 where the layer at that end was\n"
		          " * kept in float, which then takes or gives floats). */\n", P, P);
		put_qparams(h, P, "INPUT", g->node[0].q ? g->node[0].q->y : (sn_qparams){1.0f, 0});
		put_qparams(h, P, "OUTPUT", g->node[last].q ? g->node[last].q->y : (sn_qparams){1.0f, 0});
	}
	cg_printf(h, "#define %s_INPUT_INT8 %d\n#define %s_OUTPUT_INT8 %d\ntypedef %s %s_input_t;\ntypedef %s %s_output_t;\n\n", P,
	          cx->int8[0], P, cx->int8[last], ti, p, to, p);
	cg_printf(h, "#define %s_INPUT_C %d\n#define %s_INPUT_H %d\n#define %s_INPUT_W %d\n#define %s_INPUT_SIZE %zu\n", P, in.c, P,
	          in.h, P, in.w, P, sn_shape_numel(in));
	cg_printf(h, "#define %s_OUTPUT_C %d\n#define %s_OUTPUT_H %d\n#define %s_OUTPUT_W %d\n#define %s_OUTPUT_SIZE %zu\n", P,
	          out.c, P, out.h, P, out.w, P, sn_shape_numel(out));
	cg_printf(h, "#define %s_ARENA_BYTES %zu   /* activations (lower bound: %zu) */\n", P, r->arena_bytes, r->arena_lower_bound);
	cg_printf(h, "#define %s_WEIGHT_BYTES %zu   /* constants in flash */\n#define %s_MACS %llu   /* mult-adds of one image */\n\n",
	          P, r->flash_bytes, P, (unsigned long long)r->macs);
	if (meta && meta->classes > 0) {
		cg_printf(h, "#define %s_CLASSES %d\nextern const char *const %s_class_names[%s_CLASSES];\n\n", P, meta->classes, p, P);
	}
	cg_printf(h, "int %s_run(const %s *input, %s *output);\n", p, ti, to);
}

/* The constants, the arena and PREFIX_run, after the kernels. */
static void put_source(cg_ctx *cx, sn_buf *c, sn_buf *h, const sn_meta *meta, const char *p, const char *P)
{
	const sn_graph *g = cx->g;
	int reads_input = 0;
	for (int i = 1; i < g->n_node; i++)
		for (int k = 0; k < g->node[i].n_in; k++) reads_input |= g->node[i].in[k] == 0;
	cg_printf(c, "/* %s.c: generated by slimnn %s (slimnn export --format c)%s%s; do not edit.\n"
	          " * C99, no allocation, no I/O: needs <string.h> and <math.h>%s only. */\n"
	          "#include <math.h>\n#include <string.h>\n#include \"%s.h\"\n\n/* ---- kernels */\n\n", p, SN_VERSION,
	          cx->o.source ? " from " : "", cx->o.source ? cx->o.source : "", cx->quantized ? " (and <stdint.h>)" : "", p);
	cg_kernels_write(c, cx->kernels, cx->forms);
	cg_printf(c, "/* ---- constants */\n\n");
	sn_buf_put(c, cx->consts.p, cx->consts.len);
	if (meta && meta->classes > 0) {
		cg_printf(c, "\nconst char *const %s_class_names[%s_CLASSES] = {", p, P);
		const char *s = meta->names;
		for (int k = 0; k < meta->classes; k++, s += strlen(s) + 1) {
			cg_printf(c, "%s", cg_sep((size_t)k, 4));
			put_cstring(c, s);
		}
		cg_printf(c, "\n};\n");
	}
	cg_printf(c, "\n");
	if (meta && meta->norm.c > 0) put_normalise(cx, c, h, p, P, &meta->norm);
	if (cx->r->n_buf)
		cg_printf(c, "/* every activation, laid out by lifetimes */\nstatic %s arena[%zu];\n\n", ctype[cx->decl],
		          cx->planned / csize[cx->decl]);
	if (cx->acc_len) cg_printf(c, "/* an int8 conv's int32 sums of one output plane */\nstatic int32_t qacc[%d];\n\n", cx->acc_len);
	if (cx->r->n_buf)
		cg_printf(c, "/* Tests define %s_POISON_ARENA: the arena starts as 0xff bytes (NaN, int8 -1), and a buffer no\n"
		          " * later layer reads becomes so again, so a layer reading a dead or overwritten buffer changes\n"
		          " * the output. */\n"
		          "#ifdef %s_POISON_ARENA\nstatic void poison(size_t at, size_t n) { memset((unsigned char *)arena + at, 0xff, n); }\n"
		          "#define POISON(at, n) poison((at), (n))\n#else\n#define POISON(at, n) ((void)0)\n#endif\n\n",
		          P, P);
	cg_printf(c, "int %s_run(const %s *input, %s *output)\n{\n", p, type_of(cx, 0), type_of(cx, g->n_node - 1));
	if (!reads_input) cg_printf(c, "\t(void)input;\n");
	if (cx->r->n_buf) cg_printf(c, "\tPOISON(0, %zu);\n", cx->planned);
	sn_buf_put(c, cx->body.p, cx->body.len);
	cg_printf(c, "\treturn 0;\n}\n");
	cg_printf(h, "\n#endif\n");
}

static int take_text(sn_buf *b, char **text, size_t *len)
{
	sn_buf_put(b, "", 1);
	if (b->oom) { sn_buf_free(b); return sn_seterr(SN_ENOMEM, "out of memory writing C code"); }
	*text = (char *)b->p;
	*len = b->len - 1;
	*b = (sn_buf){0};
	return SN_OK;
}

int sn_cg_generate(const sn_graph *g0, const sn_meta *meta, const sn_cg_opts *o, sn_cg_result *r)
{
	sn_cg_opts def = sn_cg_defaults();
	if (!o) o = &def;
	memset(r, 0, sizeof *r);
	const char *p = o->prefix ? o->prefix : "model";
	if (!sn_cg_prefix_ok(p))
		return sn_seterr(SN_EINVAL, "export to C: prefix '%s' is not a C identifier of at most 32 characters", p);
	int rc0 = g0 ? check_int8(g0) : SN_OK;
	if (rc0) return rc0;
	sn_prepare_opts po = sn_prepare_defaults();
	po.sparse = SN_SPARSE_OFF;   /* the C code has its own sparse forms */
	po.fuse_se = 0;              /* nor an se layer: its layers have emitters */
	sn_graph *g = sn_prepare_inference(g0, &po, NULL);
	if (!g) return sn_errcode();
	cg_ctx cx = {.g = g, .o = *o, .r = r};
	cx.o.prefix = p;
	char src[256];
	if (o->source) { comment_text(o->source, src, sizeof src); cx.o.source = src; }
	cx.at = calloc((size_t)g->n_node, sizeof *cx.at);
	cx.at_cv = calloc((size_t)g->n_node, sizeof *cx.at_cv);
	cx.acc_at = calloc((size_t)g->n_node, sizeof *cx.acc_at);
	cx.int8 = calloc((size_t)g->n_node, sizeof *cx.int8);
	cx.in_place = calloc((size_t)g->n_node, sizeof *cx.in_place);
	cx.pool_of = calloc((size_t)g->n_node, sizeof *cx.pool_of);
	cx.conv_of = calloc((size_t)g->n_node, sizeof *cx.conv_of);
	int rc = !cx.at || !cx.at_cv || !cx.acc_at || !cx.int8 || !cx.in_place || !cx.pool_of || !cx.conv_of ? sn_seterr(SN_ENOMEM, "out of memory writing C code")
	                                                               : check_layers(g);
	if (!rc) rc = plan_arena(&cx);
	if (!rc) rc = emit_layers(&cx);
	sn_buf c = {0}, h = {0};
	if (!rc) {
		char P[40];
		upper(p, P, sizeof P);
		for (int t = 0; t < r->n_tensor; t++) {
			r->flash_bytes += r->tensor[t].bytes;
			r->dense_flash_bytes += r->tensor[t].dense_bytes;
		}
		for (int i = 1; i < g->n_node; i++) {
			r->macs += sn_node_macs(g, &g->node[i], 1);
			r->macs_dense += sn_node_macs(g, &g->node[i], 0);
		}
		r->layers = g->n_node - 1;
		put_header(&cx, &h, meta, p, P);
		put_source(&cx, &c, &h, meta, p, P);
		rc = take_text(&c, &r->c_text, &r->c_len);
		if (!rc) rc = take_text(&h, &r->h_text, &r->h_len);
	}
	sn_buf_free(&c); sn_buf_free(&h); sn_buf_free(&cx.consts); sn_buf_free(&cx.body);
	free(cx.at); free(cx.at_cv); free(cx.acc_at); free(cx.int8); free(cx.in_place); free(cx.pool_of); free(cx.conv_of);
	sn_graph_free(g);
	if (rc) sn_cg_free(r);
	return rc;
}

void sn_cg_free(sn_cg_result *r)
{
	free(r->c_text); free(r->h_text); free(r->tensor); free(r->buf);
	memset(r, 0, sizeof *r);
}
