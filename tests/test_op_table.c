/* The operator table (src/ops/registry.c and the rows next to each operator): every row is
 * complete and consistent, and every attribute it declares goes through architecture text --
 * parsed into the node, written back only when it is not the default, parsed again to the same
 * text -- without code of its own in the parser or the writer. A new operator's row is checked
 * here as soon as it is listed. */
#include <float.h>
#include <stdlib.h>
#include "test.h"
#include "slimnn.h"

static int valid_name(const char *s)
{
	if (!s || !*s) return 0;
	for (const char *c = s; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9' && c > s) || *c == '_')) return 0;
	return 1;
}

TEST(op_table_rows)
{
	for (int op = 0; op < SN_OP_COUNT; op++) {
		const sn_op_def *d = sn_op_get((sn_op)op);
		REQUIRE(d);
		CHECKF(valid_name(d->key), "operator %d: key '%s'", op, d->key ? d->key : "(null)");
		if (!d->key) continue;
		CHECKF(sn_op_from_key(d->key) == op, "%s: its key finds operator %d", d->key, sn_op_from_key(d->key));
		CHECKF(d->torch && *d->torch && d->run, "%s: PyTorch name and function", d->key);
		CHECKF(d->min_in >= 0 && d->min_in <= d->max_in && d->max_in <= SN_MAX_IN, "%s: inputs %d..%d", d->key,
		       d->min_in, d->max_in);
		CHECKF(!(d->flags & SN_OPF_IN_PLACE) || d->max_in == 1, "%s: in place with several inputs", d->key);
		CHECKF(!(d->flags & SN_OPF_ELEMENTWISE) || (d->max_in == 1 && d->n_tensors == 0), "%s: element-wise", d->key);
		CHECKF(d->n_attrs >= 0 && d->n_attrs <= 30 && (d->n_attrs == 0) == (d->attrs == NULL), "%s: attributes", d->key);
		CHECKF(d->n_tensors >= 0 && d->n_tensors <= SN_T_MAX && (d->n_tensors == 0) == (d->tensors == NULL),
		       "%s: tensors", d->key);
		CHECKF(!d->onnx || *d->onnx, "%s: empty ONNX name", d->key);
		for (int i = 0; i < d->n_tensors; i++) {
			CHECKF(valid_name(d->tensors[i].suffix), "%s: tensor %d", d->key, i);
			CHECKF(d->tensors[i].init != SN_INIT_FAN_IN || d->tensors[0].kind == SN_TENSOR_PARAM,
			       "%s: fan-in initialisation without a weight in slot 0", d->key);
		}
		for (int i = 0; i < d->n_attrs; i++) {
			const sn_attr_def *a = &d->attrs[i];
			CHECKF(valid_name(a->key) && strcmp(a->key, "in") && strcmp(a->key, "frozen"), "%s: attribute %d key", d->key, i);
			CHECKF(a->expect && *a->expect, "%s %s=: what a bad value is told", d->key, a->key);
			CHECKF(a->lo <= a->hi, "%s %s=: range", d->key, a->key);
			for (int j = 0; j < i; j++) CHECKF(strcmp(a->key, d->attrs[j].key), "%s: key %s twice", d->key, a->key);
			if (a->type == SN_AT_ENUM)
				CHECKF(a->names && a->n_names > 0 && a->what && a->def >= 0 && a->def < a->n_names, "%s %s=: words",
				       d->key, a->key);
			if (a->def_key) {
				const sn_attr_def *src = NULL;
				for (int j = 0; j < d->n_attrs; j++) if (!strcmp(d->attrs[j].key, a->def_key)) src = &d->attrs[j];
				CHECKF(src && src->type == a->type, "%s %s=: defaults to %s", d->key, a->key, a->def_key);
			}
			CHECKF(!(a->flags & SN_AF_REQUIRED) || !a->def_key, "%s %s=: required with a default", d->key, a->key);
		}
		for (int j = 0; j < op; j++) CHECKF(strcmp(d->key, sn_op_get((sn_op)j)->key), "key %s twice", d->key);
	}
}

/* A model whose layer n (node 3) is operator d with its required keys, reading the 4-channel
 * 8x8 image a (or the flat f, for a Linear); `extra` is added to its line. */
static void layer_line(const sn_op_def *d, const char *extra, char *buf, size_t len)
{
	static const struct { const char *key, *line; } base[] = {
		{"conv", "out=4 k=3"}, {"maxpool", "k=2"}, {"avgpool", "k=2"}, {"shuffle", "groups=2"}, {"slice", "end=2"},
		{"add", "in=x,a"}, {"concat", "in=x,a"}, {"mul", "in=x,a"}, {"linear", "in=f out=3"}, {"se", "squeeze=2"},
	};
	const char *req = "";
	for (size_t i = 0; i < sizeof base / sizeof *base; i++)
		if (!strcmp(base[i].key, d->key)) req = base[i].line;
	snprintf(buf, len, "input x shape=4x8x8\nflatten f\nrelu a in=x\n%s n %s %s\n", d->key, req, extra);
}

/* A valid value for attribute a that is not its default, written as the writer writes it. */
static void other_value(const sn_attr_def *a, char *buf, size_t len)
{
	const int lo = (int)a->lo, def = (int)a->def;
	switch (a->type) {
	case SN_AT_INT: snprintf(buf, len, "%d", def == lo ? lo + 1 : lo); break;
	case SN_AT_FLOAT: snprintf(buf, len, "%g", (float)a->def == 0.25f ? 0.375 : 0.25); break;
	case SN_AT_PAIR: snprintf(buf, len, "%d", a->def_key ? 1 : def + 1); break;   /* as the writer puts it */
	case SN_AT_PADS: snprintf(buf, len, "1,0,1,0"); break;
	case SN_AT_ENUM: snprintf(buf, len, "%s", a->names[def == 0 ? a->n_names - 1 : 0]); break;
	case SN_AT_SHAPE: buf[0] = 0; break;   /* the input's, always written */
	}
}

/* Parses text, writes it and parses that again: the written text (malloc'd), or NULL. */
static char *round_trip(const char *text, const char *what)
{
	sn_graph *g = sn_arch_parse(text, what);
	CHECKF(g, "%s: %s", what, sn_errmsg());
	if (!g) return NULL;
	char *w = sn_arch_write(g), *w2 = NULL;
	sn_graph *h = w ? sn_arch_parse(w, what) : NULL;
	CHECKF(h, "%s: the written text does not parse: %s", what, sn_errmsg());
	if (h) {
		w2 = sn_arch_write(h);
		CHECKF(w2 && !strcmp(w, w2), "%s: written twice, the texts differ:\n%s---\n%s", what, w, w2 ? w2 : "");
	}
	free(w2);
	sn_graph_free(h);
	sn_graph_free(g);
	return w;
}

TEST(op_table_attributes_round_trip)
{
	char text[512], value[64], extra[128];
	for (int op = 1; op < SN_OP_COUNT; op++) {
		const sn_op_def *d = sn_op_get((sn_op)op);
		/* at its defaults a layer is written with its required keys only */
		layer_line(d, "", text, sizeof text);
		char *w = round_trip(text, d->key);
		for (int i = 0; w && i < d->n_attrs; i++) {
			snprintf(extra, sizeof extra, " %s=", d->attrs[i].key);
			CHECKF(!strstr(w, extra) == !(d->attrs[i].flags & SN_AF_REQUIRED), "%s at its defaults is written\n%s",
			       d->key, w);
		}
		free(w);
		/* each other attribute, set to something else, is written back */
		for (int i = 0; i < d->n_attrs; i++) {
			const sn_attr_def *a = &d->attrs[i];
			if (a->flags & SN_AF_REQUIRED) continue;
			other_value(a, value, sizeof value);
			snprintf(extra, sizeof extra, "%s=%s", a->key, value);
			layer_line(d, extra, text, sizeof text);
			w = round_trip(text, extra);
			CHECKF(w && strstr(w, extra), "%s %s: written as\n%s", d->key, extra, w ? w : "(nothing)");
			free(w);
		}
	}
}

TEST(op_table_defaults)
{
	/* sn_node_defaults gives what a layer written without keys gets from the parser */
	for (int op = 1; op < SN_OP_COUNT; op++) {
		const sn_op_def *d = sn_op_get((sn_op)op);
		char text[512];
		layer_line(d, "", text, sizeof text);
		sn_graph *g = sn_arch_parse(text, d->key);
		CHECKF(g, "%s: %s", d->key, sn_errmsg());
		if (!g) continue;
		sn_node n = g->node[3], m = n;
		sn_node_defaults(&m);
		for (int i = 0; i < d->n_attrs; i++) {   /* required ones and the pool stride are the line's */
			const sn_attr_def *a = &d->attrs[i];
			if ((a->flags & SN_AF_REQUIRED) || a->def_key) continue;
			const int parts = a->type == SN_AT_PAIR ? 2 : a->type == SN_AT_PADS ? 4 : 1;
			for (int k = 0; k < parts; k++)
				CHECKF(!memcmp((char *)&n + a->off[k], (char *)&m + a->off[k], 4), "%s %s=: default", d->key, a->key);
		}
		sn_graph_free(g);
	}
	sn_node bn = {.op = SN_OP_BN};
	sn_node_defaults(&bn);
	CHECK(bn.a.bn.eps == 1e-5f && bn.a.bn.momentum == 0.1f);
	sn_node conv = {.op = SN_OP_CONV};
	sn_node_defaults(&conv);
	CHECK(conv.a.conv.sh == 1 && conv.a.conv.dw == 1 && conv.a.conv.groups == 1 && conv.a.conv.bias == 1 &&
	      conv.a.conv.mode == SN_PAD_ZEROS && conv.a.conv.act == SN_FUSE_NONE && conv.a.conv.out_c == 0);
}

/* An enum attribute out of its words cannot be written: refused, not dropped (the text would
 * parse back to another model). */
TEST(op_table_writer_refuses_unknown_words)
{
	sn_graph *g = sn_arch_parse("input x shape=2x6x6\nconv c out=2 k=3 mode=reflect\npad p pad=1\n", NULL);
	REQUIRE(g);
	g->node[1].a.conv.mode = (sn_padmode)7;
	CHECK(sn_arch_write(g) == NULL && strstr(sn_errmsg(), "layer 'c': unknown padding mode 7"));
	g->node[1].a.conv.mode = SN_PAD_REFLECT;
	g->node[2].a.pad.mode = (sn_padmode)-1;
	CHECK(sn_arch_write(g) == NULL && strstr(sn_errmsg(), "layer 'p': unknown padding mode -1"));
	g->node[2].a.pad.mode = SN_PAD_ZEROS;
	char *w = sn_arch_write(g);
	CHECK(w && strstr(w, "mode=reflect"));
	free(w);
	sn_graph_free(g);
}
