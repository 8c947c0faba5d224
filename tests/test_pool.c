/* MaxPool 2x2 stride 2 at inference (ops/pool.c's vector path, 8 outputs at a time and the rest
 * through a padded copy) against the windows computed here: widths from one output to several
 * vectors and a remainder, odd sizes (the last row or column left out), ties, and NaN, which
 * wins its window as in the general path and in PyTorch. */
#include <stdlib.h>
#include "test.h"

static float window_max(const float *x, int w, int oh, int ow)
{
	const float t[4] = {x[2 * oh * w + 2 * ow], x[2 * oh * w + 2 * ow + 1], x[(2 * oh + 1) * w + 2 * ow],
	                    x[(2 * oh + 1) * w + 2 * ow + 1]};
	float v = t[0];
	for (int i = 1; i < 4; i++)
		if (t[i] > v || t[i] != t[i]) v = t[i];
	return v;
}

TEST(maxpool_2x2_inference_matches_windows)
{
	uint32_t s = 5;
	int bad = 0;
	for (int t = 0; t < 40 && !bad; t++) {
		const int c = 1 + t % 3, h = 2 + t % 7, w = 2 + (t * 7) % 39, n = 1 + t % 2, oh = h / 2, ow = w / 2;
		char arch[96];
		snprintf(arch, sizeof arch, "input x shape=%dx%dx%d\nmaxpool p k=2\n", c, h, w);
		sn_graph *g = sn_test_net(arch, 1);
		REQUIRE(g);
		const size_t plane = (size_t)h * w, numel = (size_t)n * c * plane;
		float *x = malloc(numel * sizeof *x);
		for (size_t i = 0; i < numel; i++) {
			s = s * 1664525u + 1013904223u;
			x[i] = (float)(s >> 28) - 8;                   /* small integers: many ties */
			if ((s >> 8) % 29 == 0) x[i] = NAN;
		}
		float *y = sn_test_logits(g, x, n);
		REQUIRE(y);
		for (int p = 0; p < n * c; p++)
			for (int i = 0; i < oh; i++)
				for (int j = 0; j < ow; j++) {
					const float want = window_max(x + p * plane, w, i, j), got = y[((size_t)p * oh + i) * ow + j];
					if (!(want == got || (want != want && got != got)) && bad++ < 3)
						fprintf(stderr, "  %dx%dx%d, plane %d, output (%d, %d): %g, expected %g\n", c, h, w, p, i, j, got, want);
				}
		free(x); free(y);
		sn_graph_free(g);
	}
	CHECKF(bad == 0, "%d outputs differ from their windows' maxima", bad);
}
