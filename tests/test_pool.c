/* MaxPool 2x2 stride 2 at inference (ops/pool.c's vector path, 8 outputs at a time, running on
 * into the next rows, and the rest through a padded copy) against the windows computed here:
 * widths from one output to several vectors and a remainder, odd sizes (the last row or column
 * left out), batches and channels whose rows the threads split mid-plane, ties, and NaN, which
 * wins its window as in the general path and in PyTorch. */
#include <stdlib.h>
#include "test.h"
#include "kernels/maxpool2x2.h"
#include "kernels/cpu.h"

/* the maximum of the kh x kw window at (i0, j0) of an h x w plane, clipped to it, NaN winning */
static float window_max(const float *x, int h, int w, int i0, int j0, int kh, int kw)
{
	float v = -INFINITY;
	int any = 0;
	for (int i = i0 < 0 ? 0 : i0; i < i0 + kh && i < h; i++)
		for (int j = j0 < 0 ? 0 : j0; j < j0 + kw && j < w; j++) {
			const float t = x[i * w + j];
			if (!any || t > v || t != t) v = t;
			any = 1;
		}
	return v;
}

TEST(maxpool_2x2_inference_matches_windows)
{
	uint32_t s = 5;
	int bad = 0;
	for (int t = 0; t < 80 && !bad; t++) {
		const int c = 1 + t % 5, h = 2 + t % 7, w = 2 + (t * 7) % 39, n = 1 + t % 4, oh = h / 2, ow = w / 2;
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
					const float want = window_max(x + p * plane, h, w, 2 * i, 2 * j, 2, 2), got = y[((size_t)p * oh + i) * ow + j];
					if (!(want == got || (want != want && got != got)) && bad++ < 3)
						fprintf(stderr, "  %dx%dx%d, plane %d, output (%d, %d): %g, expected %g\n", c, h, w, p, i, j, got, want);
				}
		free(x); free(y);
		sn_graph_free(g);
	}
	CHECKF(bad == 0, "%d outputs differ from their windows' maxima", bad);
}

/* Every other MaxPool at inference (the two-pass rows of ops/pool.c) against the windows:
 * kernels 1-5 by 1-5, strides 1-3, padding up to half the kernel, ceil_mode, ties and NaN. */
TEST(maxpool_inference_matches_windows)
{
	uint32_t s = 11;
	int bad = 0, cases = 0;
	for (int t = 0; t < 120 && !bad; t++) {
		s = s * 1664525u + 1013904223u;
		const int kh = 1 + (s >> 8) % 5, kw = 1 + (s >> 12) % 5, sh = 1 + (s >> 16) % 3, sw = 1 + (s >> 18) % 3;
		const int ph = (s >> 20) % (kh / 2 + 1), pw = (s >> 23) % (kw / 2 + 1), ceil = (s >> 26) % 2;
		const int h = kh + (s >> 27) % 9, w = kw + t % 37, c = 1 + t % 2;
		char arch[160];
		snprintf(arch, sizeof arch, "input x shape=%dx%dx%d\nmaxpool p k=%dx%d stride=%dx%d pad=%dx%d ceil=%d\n", c, h, w, kh, kw,
		         sh, sw, ph, pw, ceil);
		sn_graph *g = sn_test_net(arch, 1);
		REQUIRE(g);
		const sn_shape o = sn_graph_output_shape(g);
		const size_t plane = (size_t)h * w, numel = (size_t)c * plane;
		float *x = malloc(numel * sizeof *x);
		for (size_t i = 0; i < numel; i++) {
			s = s * 1664525u + 1013904223u;
			x[i] = (float)(s >> 28) - 8;
			if ((s >> 8) % 41 == 0) x[i] = NAN;
		}
		float *y = sn_test_logits(g, x, 1);
		REQUIRE(y);
		for (int p = 0; p < c; p++)
			for (int i = 0; i < o.h; i++)
				for (int j = 0; j < o.w; j++) {
					const float want = window_max(x + p * plane, h, w, i * sh - ph, j * sw - pw, kh, kw);
					const float got = y[((size_t)p * o.h + i) * o.w + j];
					if (!(want == got || (want != want && got != got)) && bad++ < 3)
						fprintf(stderr, "  %s  plane %d, output (%d, %d): %g, expected %g\n", arch, p, i, j, got, want);
				}
		cases++;
		free(x); free(y);
		sn_graph_free(g);
	}
	CHECKF(bad == 0 && cases == 120, "%d outputs differ from their windows' maxima (%d cases)", bad, cases);
}

/* The 2x2 kernels themselves (kernels/maxpool2x2.h), float and int8: the rows split into up to
 * four ranges run last first, so that a vector writing past its range would spoil outputs
 * already done; inputs allocated to their last byte (ASan sees a read past xend); int8 values
 * at both ends of the range. */
TEST(maxpool2x2_kernels_match_windows)
{
	uint32_t s = 23;
	int bad = 0;
	for (int t = 0; t < 60 && !bad; t++) {
		s = s * 1664525u + 1013904223u;
		const int planes = 1 + (s >> 8) % 9, h = 2 + (s >> 12) % 9, w = 2 + (s >> 16) % 45, oh = h / 2, ow = w / 2;
		const int parts = 1 + (s >> 24) % 4;
		const size_t n = (size_t)planes * h * w, rows = (size_t)planes * oh, m = rows * ow;
		float *x = malloc(n * sizeof *x), *y = malloc(m * sizeof *y);
		int8_t *xq = malloc(n), *yq = malloc(m);
		for (size_t i = 0; i < n; i++) {
			s = s * 1664525u + 1013904223u;
			xq[i] = (int8_t)(s >> 24);
			if ((s >> 8) % 13 == 0) xq[i] = (s >> 9) & 1 ? 127 : -128;
			x[i] = (s >> 10) % 37 == 0 ? NAN : xq[i];
		}
		for (int k = parts - 1; k >= 0; k--) {
			const size_t r0 = rows * k / parts, r1 = rows * (k + 1) / parts;
			sn_f32_maxpool2x2(x, h, w, oh, ow, r0, r1, x + n, y, NULL);
			sn_s8_maxpool2x2(xq, h, w, oh, ow, r0, r1, xq + n, yq);
		}
		for (int p = 0; p < planes; p++)
			for (int i = 0; i < oh; i++)
				for (int j = 0; j < ow; j++) {
					const size_t o = ((size_t)p * oh + i) * ow + j, q = (size_t)p * h * w + (size_t)2 * i * w + 2 * j;
					const float want = window_max(x + (size_t)p * h * w, h, w, 2 * i, 2 * j, 2, 2);
					const int8_t wq = SN_MAX(SN_MAX(xq[q], xq[q + 1]), SN_MAX(xq[q + w], xq[q + w + 1]));
					if ((!(want == y[o] || (want != want && y[o] != y[o])) || wq != yq[o]) && bad++ < 3)
						fprintf(stderr, "  %d planes %dx%d in %d parts, output (%d, %d, %d): %g and %d, expected %g and %d\n",
						        planes, h, w, parts, p, i, j, y[o], yq[o], want, wq);
				}
		free(x); free(y); free(xq); free(yq);
	}
	CHECKF(bad == 0, "%d outputs differ from their windows' maxima", bad);
}
