/* The architecture text format: the zoo parses with PyTorch's parameter counts, writing is
 * canonical and round-trips, and every error points at FILE:LINE:COL with what was expected. */
#include <stdlib.h>
#include "test.h"
#include "slimnn.h"

static const char *model_path(const char *name, char *buf, size_t len)
{
	const char *dir = getenv("SN_MODELS");
	snprintf(buf, len, "%s/%s", dir ? dir : "models", name);
	return buf;
}

static sn_graph *load_model(const char *name)
{
	char p[512];
	sn_graph *g = sn_arch_load(model_path(name, p, sizeof p));
	if (!g) fprintf(stderr, "  %s: %s\n", name, sn_errmsg());
	return g;
}

/* Parameter totals from PyTorch: sum(p.numel() for p in model.parameters()) of the same nets. */
static const struct { const char *file; size_t params; sn_shape out; } zoo[] = {
	{"cnn.arch", 824554, {2, 10, 1, 1}},
	{"cnn-dsc.arch", 808522, {2, 10, 1, 1}},
	{"resnet.arch", 174970, {2, 10, 1, 1}},
	{"mobilenetv2.arch", 71594, {2, 10, 1, 1}},
	{"inception.arch", 50810, {2, 10, 1, 1}},
	{"seed/conv.arch", 864, {4, 32, 16, 16}},
	{"seed/depthwise.arch", 27, {4, 3, 16, 16}},
	{"seed/pointwise.arch", 96, {4, 32, 16, 16}},
	{"seed/separable.arch", 123, {4, 32, 16, 16}},
};
#define N_ZOO (int)(sizeof zoo / sizeof zoo[0])

static int shape_is(sn_shape s, int rank, int c, int h, int w)
{
	return s.rank == rank && s.c == c && s.h == h && s.w == w;
}

static sn_shape node_out(const sn_graph *g, const char *name)
{
	int k = sn_graph_find(g, name);
	return k >= 0 ? g->node[k].out : (sn_shape){0, 0, 0, 0};
}

/* Everything the text describes must match; line numbers and runtime fields may differ. */
static int same_nodes(const sn_graph *a, const sn_graph *b)
{
	if (a->n_node != b->n_node || a->n_tensor != b->n_tensor) return 0;
	for (int i = 0; i < a->n_node; i++) {
		const sn_node *x = &a->node[i], *y = &b->node[i];
		if (strcmp(x->name, y->name) || x->op != y->op || x->n_in != y->n_in || x->frozen != y->frozen ||
		    memcmp(x->in, y->in, sizeof x->in) || memcmp(&x->a, &y->a, sizeof x->a) ||
		    memcmp(&x->out, &y->out, sizeof x->out)) {
			fprintf(stderr, "  node %d ('%s' vs '%s') differs\n", i, x->name, y->name);
			return 0;
		}
	}
	for (int i = 0; i < a->n_tensor; i++)
		if (strcmp(a->tensor[i].name, b->tensor[i].name) || a->tensor[i].n != b->tensor[i].n) return 0;
	return 1;
}

TEST(arch_zoo_params)
{
	for (int i = 0; i < N_ZOO; i++) {
		sn_graph *g = load_model(zoo[i].file);
		CHECKF(g != NULL, "%s does not parse", zoo[i].file);
		if (!g) continue;
		size_t n = sn_graph_count(g, SN_TENSOR_PARAM, 0);
		CHECKF(n == zoo[i].params, "%s: %zu parameters, PyTorch has %zu", zoo[i].file, n, zoo[i].params);
		sn_shape o = sn_graph_output_shape(g), e = zoo[i].out;
		CHECKF(shape_is(o, e.rank, e.c, e.h, e.w), "%s: output shape %d/%d,%d,%d", zoo[i].file, o.rank, o.c, o.h, o.w);
		CHECK(sn_graph_count(g, SN_TENSOR_PARAM, 1) == n);   /* nothing frozen in the zoo */
		sn_graph_free(g);
	}
}

TEST(arch_cnn_layers)
{
	sn_graph *g = load_model("cnn.arch");
	REQUIRE(g);
	CHECK(g->n_node == 14);
	CHECK(shape_is(node_out(g, "x"), 4, 1, 28, 28));
	CHECK(shape_is(node_out(g, "conv1"), 4, 32, 28, 28));
	CHECK(shape_is(node_out(g, "pool1"), 4, 32, 14, 14));
	CHECK(shape_is(node_out(g, "pool2"), 4, 64, 7, 7));
	CHECK(shape_is(node_out(g, "flatten"), 2, 3136, 1, 1));
	CHECK(shape_is(node_out(g, "fc1"), 2, 256, 1, 1));
	const sn_node *c1 = &g->node[sn_graph_find(g, "conv1")];
	CHECK(c1->a.conv.out_c == 32 && c1->a.conv.kh == 3 && c1->a.conv.kw == 3 && c1->a.conv.bias == 0);
	CHECK(c1->a.conv.pt == 1 && c1->a.conv.pb == 1 && c1->a.conv.pl == 1 && c1->a.conv.pr == 1);
	CHECK(c1->a.conv.sh == 1 && c1->a.conv.dh == 1 && c1->a.conv.groups == 1 && !c1->a.conv.same);
	CHECK(c1->n_in == 1 && c1->in[0] == 0 && c1->line > 1);
	const sn_node *p1 = &g->node[sn_graph_find(g, "pool1")];
	CHECK(p1->a.pool.kh == 2 && p1->a.pool.sh == 2 && p1->a.pool.sw == 2);   /* stride defaults to k */
	const sn_node *d = &g->node[sn_graph_find(g, "drop")];
	CHECK(d->a.dropout.p == 0.3f);
	const sn_node *b1 = &g->node[sn_graph_find(g, "bn1")];
	CHECK(b1->a.bn.eps == 1e-5f && b1->a.bn.momentum == 0.1f);
	/* BN running statistics are buffers, not parameters */
	CHECK(sn_graph_count(g, SN_TENSOR_BUFFER, 0) == 2 * (32 + 64));
	int w = sn_tensor_find(g, "fc1.weight");
	CHECK(w >= 0 && g->tensor[w].n == 3136 * 256);
	CHECK(sn_tensor_find(g, "conv1.bias") < 0);
	sn_graph_free(g);
}

TEST(arch_dag_layers)
{
	sn_graph *g = load_model("resnet.arch");
	REQUIRE(g);
	CHECK(shape_is(node_out(g, "layer1.1.add"), 4, 16, 28, 28));
	CHECK(shape_is(node_out(g, "layer2.0.downsample.1"), 4, 32, 14, 14));
	CHECK(shape_is(node_out(g, "layer3.1.relu2"), 4, 64, 7, 7));
	CHECK(shape_is(node_out(g, "avgpool"), 4, 64, 1, 1));
	const sn_node *add = &g->node[sn_graph_find(g, "layer2.0.add")];
	CHECK(add->op == SN_OP_ADD && add->n_in == 2);
	CHECK(add->in[1] == sn_graph_find(g, "layer2.0.downsample.1"));
	sn_graph_free(g);

	g = load_model("mobilenetv2.arch");
	REQUIRE(g);
	CHECK(shape_is(node_out(g, "b2.dw"), 4, 48, 14, 14));
	CHECK(shape_is(node_out(g, "b5.add"), 4, 24, 7, 7));
	CHECK(shape_is(node_out(g, "head_act"), 4, 256, 7, 7));
	CHECK(g->node[sn_graph_find(g, "b2.dw")].a.conv.groups == 48);
	sn_graph_free(g);

	g = load_model("inception.arch");
	REQUIRE(g);
	CHECK(shape_is(node_out(g, "inc.cat"), 4, 72, 14, 14));
	CHECK(shape_is(node_out(g, "inc.b4_pool"), 4, 16, 14, 14));
	int has5 = 0, has7 = 0;
	for (int i = 0; i < g->n_node; i++)
		if (g->node[i].op == SN_OP_CONV) {
			has5 |= g->node[i].a.conv.kh == 5 && g->node[i].a.conv.kw == 5;
			has7 |= g->node[i].a.conv.kh == 7 && g->node[i].a.conv.kw == 7;
		}
	CHECK(has5 && has7);
	sn_graph_free(g);
}

/* write -> parse gives the same nodes, and writing that again gives the same text */
static void check_roundtrip(const sn_graph *g, const char *what)
{
	char *t1 = sn_arch_write(g);
	CHECKF(t1 != NULL, "%s: write failed: %s", what, sn_errmsg());
	if (!t1) return;
	sn_graph *h = sn_arch_parse(t1, "written");
	CHECKF(h != NULL, "%s: written text does not parse: %s\n%s", what, sn_errmsg(), t1);
	if (h) {
		CHECKF(same_nodes(g, h), "%s: round trip changed the graph", what);
		CHECK(sn_graph_count(h, SN_TENSOR_PARAM, 0) == sn_graph_count(g, SN_TENSOR_PARAM, 0));
		char *t2 = sn_arch_write(h);
		CHECKF(t2 && !strcmp(t1, t2), "%s: writing is not canonical", what);
		free(t2);
		sn_graph_free(h);
	}
	free(t1);
}

TEST(arch_roundtrip_zoo)
{
	for (int i = 0; i < N_ZOO; i++) {
		sn_graph *g = load_model(zoo[i].file);
		CHECK(g != NULL);
		if (!g) continue;
		check_roundtrip(g, zoo[i].file);
		sn_graph_free(g);
	}
}

TEST(arch_write_format)
{
	sn_graph *g = load_model("cnn.arch");
	REQUIRE(g);
	char *t = sn_arch_write(g);
	REQUIRE(t);
	const char *want =
		"input   x       shape=1x28x28\n"
		"conv    conv1   out=32 k=3 pad=1 bias=0\n"
		"bn      bn1\n"
		"relu    relu1\n"
		"maxpool pool1   k=2\n";
	CHECKF(!strncmp(t, want, strlen(want)), "got:\n%s", t);
	CHECK(strstr(t, "dropout drop    p=0.3\n") != NULL);
	CHECK(strstr(t, "linear  fc2     out=10\n") != NULL);
	CHECK(!strstr(t, "in=") && !strstr(t, "stride") && !strstr(t, "eps") && !strstr(t, " \n"));
	free(t);
	sn_graph_free(g);

	g = load_model("resnet.arch");
	REQUIRE(g);
	t = sn_arch_write(g);
	REQUIRE(t);
	CHECK(strstr(t, " in=layer1.1.bn2,layer1.0.relu2\n") != NULL);
	CHECK(strstr(t, " in=layer1.1.relu2 out=32 k=1 stride=2 bias=0\n") != NULL);
	free(t);
	sn_graph_free(g);
}

/* Every key with a non-default value, odd spacing, comments and a frozen layer. */
static const char *all_keys =
	"  # leading comment\n"
	"input\tx shape=3x20x22   frozen=1\n"
	"\n"
	"conv c1 out=8 k=1x7 stride=2x1 pad=1,2,3,0 dilation=2x1 bias=0 mode=reflect # trailing\n"
	"conv  c2  out=8 k=3 pad=same dilation=2 groups=4 mode=circular\n"
	"conv c3 out=8 k=3 pad=2x1 mode=replicate\n"
	"conv c4 out=8 k=3 pad=valid\n"
	"bn b eps=0.001 momentum=0.01\n"
	"hardswish h\n"
	"maxpool m k=3 stride=2 pad=1 ceil=1\n"
	"avgpool a k=2x3 stride=1 pad=1 count_include_pad=0 ceil=1\n"
	"sigmoid s in=a\n"
	"concat cat in=a,s\n"
	"relu6 r\n"
	"relu6 r2 in=s\n"
	"avgpool a2 k=2\n"
	"gap g\n"
	"flatten f\n"
	"dropout d p=0.25\n"
	"linear l out=5 bias=0 frozen=1\n"
	"add sum in=l,l\n";

TEST(arch_all_keys)
{
	sn_graph *g = sn_arch_parse(all_keys, "keys.arch");
	CHECKF(g != NULL, "%s", sn_errmsg());
	REQUIRE(g);
	const sn_node *x = &g->node[0];
	CHECK(x->frozen == 1 && x->a.input.c == 3 && x->a.input.h == 20 && x->a.input.w == 22 && x->line == 2);
	const sn_conv_attr *c1 = &g->node[1].a.conv;
	CHECK(c1->kh == 1 && c1->kw == 7 && c1->sh == 2 && c1->sw == 1 && c1->dh == 2 && c1->dw == 1);
	CHECK(c1->pt == 1 && c1->pb == 2 && c1->pl == 3 && c1->pr == 0 && !c1->bias && c1->mode == SN_PAD_REFLECT);
	CHECK(shape_is(g->node[1].out, 4, 8, 12, 19));
	const sn_conv_attr *c2 = &g->node[2].a.conv;
	CHECK(c2->same == 1 && c2->groups == 4 && c2->dh == 2 && c2->mode == SN_PAD_CIRCULAR && c2->bias == 1);
	CHECK(c2->pt == 2 && c2->pb == 2 && c2->pl == 2 && c2->pr == 2);   /* derived by the op */
	CHECK(shape_is(g->node[2].out, 4, 8, 12, 19));
	const sn_conv_attr *c3 = &g->node[3].a.conv;
	CHECK(c3->pt == 2 && c3->pb == 2 && c3->pl == 1 && c3->pr == 1 && c3->mode == SN_PAD_REPLICATE);
	const sn_conv_attr *c4 = &g->node[4].a.conv;
	CHECK(c4->pt == 0 && c4->pl == 0 && !c4->same);
	const sn_node *b = &g->node[sn_graph_find(g, "b")];
	CHECK(b->a.bn.eps == 0.001f && b->a.bn.momentum == 0.01f);
	const sn_pool_attr *m = &g->node[sn_graph_find(g, "m")].a.pool;
	CHECK(m->kh == 3 && m->sh == 2 && m->pt == 1 && m->pr == 1 && m->ceil_mode == 1);
	const sn_pool_attr *a = &g->node[sn_graph_find(g, "a")].a.pool;
	CHECK(a->kh == 2 && a->kw == 3 && a->sh == 1 && a->sw == 1 && !a->count_include_pad && a->ceil_mode);
	CHECK(g->node[sn_graph_find(g, "a2")].a.pool.count_include_pad == 1);
	const sn_node *s = &g->node[sn_graph_find(g, "s")];
	CHECK(s->n_in == 1 && s->in[0] == sn_graph_find(g, "a"));
	const sn_node *cat = &g->node[sn_graph_find(g, "cat")];
	CHECK(cat->n_in == 2 && cat->out.c == 16);
	const sn_node *l = &g->node[sn_graph_find(g, "l")];
	CHECK(l->a.linear.out == 5 && !l->a.linear.bias && l->frozen);
	CHECK(g->node[sn_graph_find(g, "d")].a.dropout.p == 0.25f);
	const sn_node *sum = &g->node[sn_graph_find(g, "sum")];
	CHECK(sum->n_in == 2 && sum->in[0] == sum->in[1]);
	CHECK(sn_graph_count(g, SN_TENSOR_PARAM, 1) < sn_graph_count(g, SN_TENSOR_PARAM, 0));
	check_roundtrip(g, "all keys");
	char *t = sn_arch_write(g);
	REQUIRE(t);
	const char *frags[] = {" shape=3x20x22 frozen=1\n", " k=1x7 stride=2x1 pad=1,2,3,0 dilation=2x1 bias=0 mode=reflect\n",
	                       " k=3 pad=same dilation=2 groups=4 mode=circular\n", " pad=2x1 mode=replicate\n",
	                       " eps=0.001 momentum=0.01\n", " k=3 stride=2 pad=1 ceil=1\n",
	                       " k=2x3 stride=1 pad=1 ceil=1 count_include_pad=0\n", "sigmoid   s\n", " in=a,s\n", " in=s\n",
	                       " p=0.25\n", " out=5 bias=0 frozen=1\n", " in=l,l\n"};
	for (size_t i = 0; i < sizeof frags / sizeof *frags; i++)
		CHECKF(strstr(t, frags[i]) != NULL, "written text lacks '%s':\n%s", frags[i], t);
	free(t);
	sn_graph_free(g);
}

TEST(arch_crlf_and_names)
{
	sn_graph *g1 = sn_arch_parse("input x shape=1x8x8\nconv a.b-c_1 out=4 k=3 pad=1\nrelu _r\n", NULL);
	sn_graph *g2 = sn_arch_parse("input x shape=1x8x8\r\nconv a.b-c_1 out=4 k=3 pad=1 # c\r\nrelu _r\r\n", NULL);
	sn_graph *g3 = sn_arch_parse("input x shape=1x8x8\r\nconv a.b-c_1 out=4 k=3 pad=1\r\nrelu _r", NULL);
	CHECKF(g1 && g2 && g3, "%s", sn_errmsg());
	if (g1 && g2) CHECK(same_nodes(g1, g2));
	if (g1 && g3) CHECK(same_nodes(g1, g3));
	sn_graph_free(g1); sn_graph_free(g2); sn_graph_free(g3);

	/* the longest name allowed is SN_NAME_MAX - 1 characters */
	char text[256], name[SN_NAME_MAX + 1];
	memset(name, 'n', SN_NAME_MAX - 1);
	name[SN_NAME_MAX - 1] = 0;
	snprintf(text, sizeof text, "input x shape=1x2x2\nrelu %s\n", name);
	g1 = sn_arch_parse(text, NULL);
	CHECKF(g1 && !strcmp(g1->node[1].name, name), "%s", sn_errmsg());
	sn_graph_free(g1);
}

/* Each error: text, and the expected start of the message (file:line:col: and its first words). */
static const struct { const char *text, *want, *also; } errors[] = {
	{"input x shape=1x4x4\nfoo y\n", "t.arch:2:1: unknown layer type 'foo'; expected one of: input conv bn",
	 "concat"},
	{"\n# c\n  conv c out=1 k=1\n", "t.arch:3:3: the first layer must be 'input NAME shape=CxHxW', got 'conv'", NULL},
	{"input x shape=1x4x4\ninput y shape=1x4x4\n", "t.arch:2:1: only one input layer is allowed", "line 1"},
	{"input x shape=1x4x4\nrelu\n", "t.arch:2:6: expected a layer name after 'relu'", NULL},
	{"input x shape=1x4x4\nrelu 9a\n", "t.arch:2:6: invalid layer name '9a'", NULL},
	{"input x shape=1x4x4\nrelu a/b\n", "t.arch:2:6: invalid layer name 'a/b'", NULL},
	{"input x shape=1x4x4\nrelu x\n", "t.arch:2:6: duplicate layer name 'x' (first used on line 1)", NULL},
	{"input x shape=1x4x4\nconv c out=2 k=3 size=4\n", "t.arch:2:18: unknown key 'size' for conv; conv takes: "
	 "in out k stride pad dilation groups bias mode frozen", NULL},
	{"input x shape=1x4x4\nrelu r eps=1\n", "t.arch:2:8: unknown key 'eps' for relu; relu takes: in frozen", NULL},
	{"input x in=a shape=1x4x4\n", "t.arch:1:9: unknown key 'in' for input; input takes: shape frozen", NULL},
	{"input x shape=1x4x4\nmaxpool m k=2 count_include_pad=0\n", "t.arch:2:15: unknown key 'count_include_pad' for maxpool",
	 NULL},
	{"input x shape=1x4x4\nconv c out=2 k=3 k=1\n", "t.arch:2:18: duplicate key 'k'", NULL},
	{"input x shape=1x4x4\nconv c out= k=3\n", "t.arch:2:12: missing value for out=", NULL},
	{"input x shape=1x4x4\nconv c out=2 k=0\n", "t.arch:2:16: bad value '0' for k=; expected K or KHxKW", NULL},
	{"input x shape=1x4x4\nconv c out=2 k=3x\n", "t.arch:2:16: bad value '3x' for k=", NULL},
	{"input x shape=1x4x4\nconv c out=2 k=3 pad=-1\n", "t.arch:2:22: bad value '-1' for pad=", "same or valid"},
	{"input x shape=1x4x4\nconv c out=2 k=3 pad=1,1,1\n", "t.arch:2:22: bad value '1,1,1' for pad=", NULL},
	{"input x shape=1x4x4\nconv c out=2000000 k=3\n", "t.arch:2:12: bad value '2000000' for out=", "1048576"},
	{"input x shape=1x4x4\nconv c out=99999999999999999999 k=3\n", "t.arch:2:12: bad value", NULL},
	{"input x shape=1x4x4\nconv c out=2 k=3 groups=0\n", "t.arch:2:25: bad value '0' for groups=", NULL},
	{"input x shape=1x4x4\nconv c out=2 k=3 mode=wrap\n", "t.arch:2:23: bad value 'wrap' for mode=; expected zeros",
	 NULL},
	{"input x shape=1x4x4\nconv c out=2 k=3 bias\n", "t.arch:2:18: expected key=value, got 'bias'", NULL},
	{"input x shape=1x4x4\nconv c out=2\n", "t.arch:2:1: conv 'c' is missing the required key k=", NULL},
	{"input x\n", "t.arch:1:1: input 'x' is missing the required key shape=", NULL},
	{"input x shape=1x28\n", "t.arch:1:15: bad value '1x28' for shape=; expected CxHxW", NULL},
	{"input x shape=0x28x28\n", "t.arch:1:15: bad value '0x28x28' for shape=", NULL},
	{"input x shape=1024x1024x1024\n", "t.arch:1:15: input shape 1024x1024x1024 has more than", NULL},
	{"input x shape=1x4x4\nmaxpool m k=2 pad=same\n", "t.arch:2:19: bad value 'same' for pad=", NULL},
	{"input x shape=1x4x4\nmaxpool m stride=2\n", "t.arch:2:1: maxpool 'm' is missing the required key k=", NULL},
	{"input x shape=1x4x4\ndropout d p=1\n", "t.arch:2:13: bad value '1' for p=; expected a probability", NULL},
	{"input x shape=1x4x4\ndropout d p=nan\n", "t.arch:2:13: bad value 'nan' for p=", NULL},
	{"input x shape=1x4x4\nbn b eps=0\n", "t.arch:2:10: bad value '0' for eps=", NULL},
	{"input x shape=1x4x4\nbn b momentum=2\n", "t.arch:2:15: bad value '2' for momentum=", NULL},
	{"input x shape=1x4x4\nflatten f\nlinear l out=3 bias=2\n", "t.arch:3:21: bad value '2' for bias=; expected 0 or 1",
	 NULL},
	{"input x shape=1x4x4\nrelu r frozen=yes\n", "t.arch:2:15: bad value 'yes' for frozen=", NULL},
	{"input x shape=1x4x4\nrelu r in=nope\n", "t.arch:2:11: unknown layer 'nope' in in=", NULL},
	{"input x shape=1x4x4\nrelu a in=b\n# b comes next\nrelu b\n", "t.arch:2:11: 'b' is defined later (line 4)",
	 NULL},
	{"input x shape=1x4x4\nrelu r in=r\n", "t.arch:2:11: layer 'r' cannot take itself as input", NULL},
	{"input x shape=1x4x4\nrelu a\nadd s in=a,zz\n", "t.arch:3:12: unknown layer 'zz' in in=", NULL},
	{"input x shape=1x4x4\nrelu a\nadd s in=a,,x\n", "t.arch:3:10: empty layer name in in=", NULL},
	{"input x shape=1x4x4\nrelu a\nadd s in=\n", "t.arch:3:10: missing value for in=", NULL},
	{"input x shape=1x4x4\nrelu a\nadd s\n", "t.arch:3:1: add 's' needs in= naming at least 2 earlier layers", NULL},
	{"input x shape=1x4x4\nrelu a\nconcat s in=a\n", "t.arch:3:13: concat takes 2 to 8 inputs, got 1", NULL},
	{"input x shape=1x4x4\nrelu a\nadd s in=a,a,a,a,a,a,a,a,a\n", "t.arch:3:10: add takes 2 to 8 inputs, got 9", NULL},
	{"input x shape=1x4x4\nconv c in=x,x out=1 k=1\n", "t.arch:2:11: conv takes exactly one input, got 2", NULL},
	{"input x shape=1x4x4\nrelu r \x01\xff\n", "t.arch:2:8: expected key=value, got '?\?'", NULL},
	{"input x shape=1x4x4\nrelu r\xc3\xa9\n", "t.arch:2:6: invalid layer name 'r?\?'", NULL},
	{"input\tx\tshape=1x4x4\nrelu\tr\tbad\n", "t.arch:2:8: expected key=value, got 'bad'", NULL},
	{"", "t.arch:1:1: no layers; the first line must be an input layer", NULL},
	{"# only\n\n# comments\n", "t.arch:3:1: no layers", NULL},
};

TEST(arch_errors)
{
	for (size_t i = 0; i < sizeof errors / sizeof *errors; i++) {
		sn_graph *g = sn_arch_parse(errors[i].text, "t.arch");
		const char *m = sn_errmsg();
		CHECKF(!g, "case %zu parsed but should fail", i);
		CHECKF(!strncmp(m, errors[i].want, strlen(errors[i].want)), "case %zu:\n    got  %s\n    want %s", i, m,
		       errors[i].want);
		if (errors[i].also) CHECKF(strstr(m, errors[i].also) != NULL, "case %zu: '%s' lacks '%s'", i, m, errors[i].also);
		sn_graph_free(g);
	}
}

TEST(arch_long_name)
{
	char text[512], name[SN_NAME_MAX + 2];
	memset(name, 'n', SN_NAME_MAX);
	name[SN_NAME_MAX] = 0;
	snprintf(text, sizeof text, "input x shape=1x2x2\nrelu %s\n", name);
	CHECK(sn_arch_parse(text, NULL) == NULL);
	CHECKF(strstr(sn_errmsg(), "<string>:2:6: layer name") && strstr(sn_errmsg(), "longer than 63"), "%s", sn_errmsg());
	/* a long in= reference is a bad name too, not an overflow */
	snprintf(text, sizeof text, "input x shape=1x2x2\nrelu r in=%s\n", name);
	CHECK(sn_arch_parse(text, NULL) == NULL);
	CHECKF(strstr(sn_errmsg(), "<string>:2:11: "), "%s", sn_errmsg());
}

/* Errors found by shape inference point at the layer's line. */
TEST(arch_shape_errors)
{
	sn_graph *g = sn_arch_parse("input x shape=1x8x8\n\nconv c out=2 k=3 stride=2 pad=same\n", NULL);
	CHECK(!g);
	CHECKF(!strncmp(sn_errmsg(), "<string>:3:1: ", 14) && strstr(sn_errmsg(), "'c'") && strstr(sn_errmsg(), "same"),
	       "%s", sn_errmsg());

	g = sn_arch_parse("input x shape=1x8x8\nconv a out=16 k=1\nconv b in=x out=32 k=1\n# sum\nadd s in=a,b\n", "m.arch");
	CHECK(!g);
	const char *m = sn_errmsg();
	CHECKF(!strncmp(m, "m.arch:5:1: ", 12) && strstr(m, "'s'") && strstr(m, "[-1, 16, 8, 8]") &&
	       strstr(m, "[-1, 32, 8, 8]"), "%s", m);

	g = sn_arch_parse("input x shape=1x8x8\nconv a out=4 k=3\nlinear l out=3\n", "m.arch");
	CHECK(!g);
	CHECKF(!strncmp(sn_errmsg(), "m.arch:3:1: ", 12) && strstr(sn_errmsg(), "'l'"), "%s", sn_errmsg());

	g = sn_arch_parse("input x shape=1x3x3\nrelu r\nconv c out=4 k=5\n", "m.arch");
	CHECK(!g);
	CHECKF(!strncmp(sn_errmsg(), "m.arch:3:1: ", 12) && strstr(sn_errmsg(), "'c'"), "%s", sn_errmsg());

	g = sn_arch_parse("input x shape=3x8x8\nconv c out=4 k=3 groups=2\n", "m.arch");
	CHECK(!g);
	CHECKF(!strncmp(sn_errmsg(), "m.arch:2:1: ", 12) && strstr(sn_errmsg(), "groups"), "%s", sn_errmsg());
}

TEST(arch_load_files)
{
	char path[512];
	CHECK(sn_arch_load("/nonexistent/model.arch") == NULL);
	CHECKF(strstr(sn_errmsg(), "/nonexistent/model.arch") != NULL, "%s", sn_errmsg());

	snprintf(path, sizeof path, "%s/bad.arch", sn_test_tmpdir());
	FILE *f = fopen(path, "wb");
	REQUIRE(f);
	fputs("input x shape=1x4x4\nrelu r\nbogus b\n", f);
	fclose(f);
	CHECK(sn_arch_load(path) == NULL);
	char want[600];
	snprintf(want, sizeof want, "%s:3:1: unknown layer type 'bogus'", path);
	CHECKF(!strncmp(sn_errmsg(), want, strlen(want)), "%s", sn_errmsg());

	snprintf(path, sizeof path, "%s/nul.arch", sn_test_tmpdir());
	f = fopen(path, "wb");
	REQUIRE(f);
	fwrite("input x shape=1x4x4\n\0relu r\n", 1, 28, f);
	fclose(f);
	CHECK(sn_arch_load(path) == NULL);
	CHECKF(strstr(sn_errmsg(), "NUL") != NULL, "%s", sn_errmsg());

	CHECK(sn_arch_load(sn_test_tmpdir()) == NULL);   /* a directory */

	snprintf(path, sizeof path, "%s/ok.arch", sn_test_tmpdir());
	f = fopen(path, "wb");
	REQUIRE(f);
	fputs("input x shape=1x4x4\r\nrelu r\r\n", f);
	fclose(f);
	sn_graph *g = sn_arch_load(path);
	CHECKF(g && g->n_node == 2, "%s", sn_errmsg());
	sn_graph_free(g);
}

/* The writer refuses graphs the text cannot express instead of writing something unparsable. */
TEST(arch_write_rejects)
{
	sn_graph *g = sn_arch_parse("input x shape=1x4x4\nrelu r\n", NULL);
	REQUIRE(g);
	strcpy(g->node[1].name, "has space");
	CHECK(sn_arch_write(g) == NULL);
	CHECKF(strstr(sn_errmsg(), "'has space' is not a valid layer name") != NULL, "%s", sn_errmsg());
	strcpy(g->node[1].name, "r");
	g->node[1].n_in = 0;
	CHECK(sn_arch_write(g) == NULL);
	sn_graph_free(g);
	CHECK(sn_arch_write(NULL) == NULL);
}

/* Hostile files: bounded layer count, no quadratic blow-up beyond it. */
TEST(arch_limits)
{
	size_t cap = 1 << 20, n = 0;
	char *t = malloc(cap);
	REQUIRE(t);
	n += (size_t)snprintf(t + n, cap - n, "input x shape=1x2x2\n");
	for (int i = 0; i < 4096; i++) n += (size_t)snprintf(t + n, cap - n, "relu r%d\n", i);
	sn_graph *g = sn_arch_parse(t, "big.arch");
	CHECK(!g);
	CHECKF(!strncmp(sn_errmsg(), "big.arch:4097:1: more than 4096 layers", 38), "%s", sn_errmsg());
	t[n - strlen("relu r4095\n")] = 0;   /* exactly 4096 layers is fine */
	g = sn_arch_parse(t, "big.arch");
	CHECKF(g && g->n_node == 4096, "%s", sn_errmsg());
	sn_graph_free(g);
	free(t);
}
