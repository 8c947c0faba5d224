/* Errors propagate out of the graph (src/core/graph.c): an operator that fails stops
 * sn_graph_forward (NULL) and sn_graph_backward (its status) at that node, with a message that
 * names the node; backward without a training plan is refused rather than writing through NULL. */
#include "test.h"
#include "slimnn.h"
#include "core/internal.h"


/* The hook: fails node `fail` on action `act` with `msg` (or leaves every status alone), and
 * records which nodes ran. */
static struct {
	const char *fail, *msg;
	sn_action act;
	int calls;
	char ran[16][SN_NAME_MAX];
} hk;

static int fail_one(const sn_node *n, sn_action act, int status)
{
	if (act != SN_ACT_FORWARD && act != SN_ACT_BACKWARD) return status;
	if (hk.calls < 16) snprintf(hk.ran[hk.calls], SN_NAME_MAX, "%s", n->name);
	hk.calls++;
	if (hk.fail && act == hk.act && !strcmp(n->name, hk.fail)) return sn_seterr(SN_ESHAPE, "%s", hk.msg);
	return status;
}

static void arm(const char *fail, sn_action act, const char *msg)
{
	hk.fail = fail; hk.act = act; hk.msg = msg; hk.calls = 0;
	sn_node_status_hook = fail_one;
}

#define ERR_ARCH "input x shape=2x6x6\nconv c1 out=4 k=3 pad=1\nrelu r\nconv c2 out=3 k=3\ngap p\nflatten f\nlinear fc out=5\n"

TEST(graph_forward_stops_at_a_failing_node)
{
	sn_graph *g = sn_test_net(ERR_ARCH, 3);
	REQUIRE(g);
	float x[2 * 72], dy[2 * 5];
	for (int i = 0; i < 2 * 72; i++) x[i] = (float)(i % 7) / 7.0f - 0.5f;
	for (int i = 0; i < 2 * 5; i++) dy[i] = (float)(i % 3) - 1.0f;
	REQUIRE(sn_graph_plan(g, 2, 0) == SN_OK);

	arm("r", SN_ACT_FORWARD, "forced failure");
	const float *y = sn_graph_forward(g, x, 2);
	CHECK(y == NULL);
	CHECK(sn_errcode() == SN_ESHAPE);
	CHECKF(strstr(sn_errmsg(), "'r'") && strstr(sn_errmsg(), "forced failure"), "message: %s", sn_errmsg());
	CHECKF(hk.calls == 2 && !strcmp(hk.ran[1], "r"), "%d nodes ran, the failing one and none after it expected",
	       hk.calls);

	/* an operator's message that names its node already is kept as it is */
	arm("c2", SN_ACT_FORWARD, "layer 'c2': its own words");
	CHECK(sn_graph_forward(g, x, 2) == NULL);
	CHECKF(!strcmp(sn_errmsg(), "layer 'c2': its own words"), "message: %s", sn_errmsg());

	/* backward on an inference plan has no gradients to write: refused */
	arm(NULL, SN_ACT_FORWARD, NULL);
	CHECK(sn_graph_forward(g, x, 2) != NULL);
	CHECK(sn_graph_backward(g, dy) == SN_EINVAL);

	/* backward stops at the failing node: fc, f, p and c2 ran, r and c1 did not */
	REQUIRE(sn_graph_plan(g, 2, 1) == SN_OK);
	CHECK(sn_graph_forward(g, x, 2) != NULL);
	arm("c2", SN_ACT_BACKWARD, "forced failure");
	sn_graph_zero_grad(g);
	CHECK(sn_graph_backward(g, dy) == SN_ESHAPE);
	CHECKF(strstr(sn_errmsg(), "'c2'") && strstr(sn_errmsg(), "backward"), "message: %s", sn_errmsg());
	CHECKF(hk.calls == 4 && !strcmp(hk.ran[3], "c2"), "%d nodes ran backward, 4 expected", hk.calls);

	/* without the failure both run through */
	arm(NULL, SN_ACT_FORWARD, NULL);
	CHECK(sn_graph_forward(g, x, 2) != NULL);
	CHECK(sn_graph_backward(g, dy) == SN_OK);
	CHECK(hk.calls == 2 * 6);
	sn_node_status_hook = NULL;
	sn_graph_free(g);
}
