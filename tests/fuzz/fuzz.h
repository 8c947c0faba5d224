/* Shared by the libFuzzer targets (make fuzz, docs/onnx.md): what every graph that a parser
 * accepted must survive. Each target parses its input from memory, then fuzz_outcome checks
 * that a refusal left a message and that an accepted graph
 *   - writes the architecture text and parses it back (what a .slim file embeds): both must
 *     succeed, and writing the parsed graph again must give the same text;
 *   - when the graph is small enough to run in a moment, plans it for training and runs forward
 *     and backward on one sample, and plans it again for inference.
 * A broken property calls __builtin_trap(), which libFuzzer reports as a crash with the input. */
#ifndef SN_FUZZ_H
#define SN_FUZZ_H
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/error.h"

#define FUZZ_MAX_VALUES (1u << 20)   /* activations of one sample, all nodes together */
#define FUZZ_MAX_WORK (1u << 22)     /* multiply-adds (or window reads) of one sample */

static void fuzz_fail(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz property broken: %s: %s\n", what, detail ? detail : "");
	__builtin_trap();
}

/* Work of one node for one sample: weights times pixels for convs, window reads for pools. */
static uint64_t fuzz_cost(const sn_graph *g, const sn_node *n)
{
	const uint64_t out = sn_shape_numel(n->out), in = n->n_in ? sn_shape_numel(g->node[n->in[0]].out) : 0;
	if (n->op == SN_OP_MAXPOOL || n->op == SN_OP_AVGPOOL) return out * (uint64_t)n->a.pool.kh * n->a.pool.kw;
	return sn_node_macs(g, n, 0) + out + in;
}

static void fuzz_roundtrip_text(const sn_graph *g)
{
	char *text = sn_arch_write(g);
	if (!text) fuzz_fail("an accepted graph has no architecture text", sn_errmsg());
	sn_graph *h = sn_arch_parse(text, "roundtrip");
	if (!h) fuzz_fail("the architecture text of an accepted graph does not parse", sn_errmsg());
	char *again = sn_arch_write(h);
	if (!again || strcmp(text, again)) fuzz_fail("architecture text is not canonical", again);
	if (h->n_node != g->n_node || sn_graph_count(h, SN_TENSOR_PARAM, 0) != sn_graph_count(g, SN_TENSOR_PARAM, 0))
		fuzz_fail("the architecture text describes another graph", text);
	free(again);
	free(text);
	sn_graph_free(h);
}

static void fuzz_run(sn_graph *g)
{
	uint64_t values = 0, work = 0;
	for (int i = 0; i < g->n_node; i++) {
		values += sn_shape_numel(g->node[i].out);
		work += fuzz_cost(g, &g->node[i]);
	}
	if (values > FUZZ_MAX_VALUES || work > FUZZ_MAX_WORK) return;
	const size_t nx = sn_shape_numel(sn_graph_input_shape(g)), ny = sn_shape_numel(sn_graph_output_shape(g));
	float *x = malloc(nx * sizeof *x), *dy = malloc(ny * sizeof *dy);
	if (!x || !dy) abort();
	for (size_t i = 0; i < nx; i++) x[i] = (float)((i * 37) % 11) / 5.0f - 1.0f;
	for (size_t i = 0; i < ny; i++) dy[i] = (float)((i * 13) % 7) / 3.0f - 1.0f;
	if (sn_plan_reshape(g->plan, 1, SN_PLAN_TRAIN | SN_PLAN_INPUT_GRAD) == SN_OK) {
		sn_graph_zero_grad(g);
		if (sn_graph_forward(g, x, 1)) sn_graph_backward(g, dy);
	}
	sn_plan *p = sn_plan_new(g);   /* an inference plan of its own: the training one would serve */
	if (p && sn_plan_reshape(p, 1, 0) == SN_OK) sn_plan_forward(p, x, 1);
	sn_plan_free(p);
	free(x);
	free(dy);
}

/* Before a parse: no message, so that a refusal must write its own. */
static void fuzz_clear_error(void) { sn_seterr(SN_OK, "%s", ""); }

/* The parser's answer: a refusal must say why; an accepted graph must keep the properties
 * above. Frees g. */
static void fuzz_outcome(sn_graph *g, const char *what)
{
	if (!g) {
		if (!strcmp(sn_errmsg(), "no error")) fuzz_fail("a refusal without a message", what);   /* sn_errmsg() of none */
		return;
	}
	fuzz_roundtrip_text(g);
	fuzz_run(g);
	sn_graph_free(g);
}

/* One thread: the fuzzer wants reproducible, cheap executions. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	sn_set_threads(1);
	return 0;
}
#endif
