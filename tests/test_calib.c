/* int8 calibration (src/quantize/calib.c) against numpy: tools/gen_calib_fixtures.py computed
 * each method's range for fixed histograms of signed and post-ReLU activations. */
#include <stdlib.h>
#include "quantize/calib.h"
#include "test.h"

TEST(calib_against_numpy)
{
	char path[1024];
	snprintf(path, sizeof path, "%s/calib/cases.txt", sn_test_fixtures());
	FILE *f = fopen(path, "r");
	REQUIRE(f != NULL);
	char method[32];
	double q;
	int bins, absolute, cases = 0;
	float lo, hi, mn, mx, ea, eb;
	while (fscanf(f, "%31s %lf %d %d %f %f %f %f %f %f", method, &q, &bins, &absolute, &lo, &hi, &mn, &mx, &ea, &eb) == 10) {
		sn_hist h;
		REQUIRE(sn_hist_init(&h, lo, hi, bins, absolute) == SN_OK);
		for (int i = 0; i < bins; i++) REQUIRE(fscanf(f, "%lf", &h.count[i]) == 1);
		h.min = mn;
		h.max = mx;
		const int m = sn_calib_method_from_name(method);
		REQUIRE(m >= 0);
		float a, b;
		sn_calib_range(&h, (sn_calib_method)m, q, &a, &b);
		const double tol = 1e-6 * (fabs(ea) + fabs(eb) + 1);
		CHECKF(fabs(a - ea) <= tol && fabs(b - eb) <= tol, "%s q %g (%s histogram): [%.9g, %.9g], numpy [%.9g, %.9g]",
		       method, q, absolute ? "absolute" : "signed", a, b, ea, eb);
		sn_hist_free(&h);
		cases++;
	}
	fclose(f);
	CHECKF(cases == 14, "%d cases read", cases);
}

/* Ranges behave as their definitions say on data built for them. */
TEST(calib_properties)
{
	sn_hist h;
	REQUIRE(sn_hist_init(&h, -4, 4, 256, 0) == SN_OK);
	float x[1001];
	for (int i = 0; i < 1000; i++) x[i] = (float)(i % 100) / 100.0f - 0.5f;   /* [-0.5, 0.49] */
	x[1000] = 3.9f;                                                         /* one outlier */
	sn_hist_add(&h, x, 1001);
	float nan = NAN;
	sn_hist_add(&h, &nan, 1);                                               /* ignored */
	float a, b;
	sn_calib_range(&h, SN_CALIB_MINMAX, 0, &a, &b);
	CHECK(a == -0.5f && b == 3.9f);
	/* 99.9 % leaves the one outlier (0.1 %) out */
	sn_calib_range(&h, SN_CALIB_PERCENTILE, 99.9, &a, &b);
	CHECKF(b < 0.6f && a <= -0.46f, "[%g, %g]", a, b);
	/* mse keeps it: clipping 3.9 to the bulk costs 3.4^2 = 11.6, the wider step only
	 * 1000 x (4.4/255)^2/12 = 0.025 */
	sn_calib_range(&h, SN_CALIB_MSE, 0, &a, &b);
	CHECKF(b >= 3.8f && a < 0, "[%g, %g]", a, b);
	sn_hist_free(&h);
	/* entropy over |x|: the bulk fills 66 of 512 bins, fewer than the 128 levels, so every
	 * threshold holds it exactly, and clipping the outlier puts mass where the 128-level copy
	 * has none: the least divergence keeps it; the lower end is the signed minimum */
	REQUIRE(sn_hist_init(&h, 0, 3.9f, 512, 1) == SN_OK);
	sn_hist_add(&h, x, 1001);
	sn_calib_range(&h, SN_CALIB_ENTROPY, 0, &a, &b);
	CHECKF(b == 3.9f && a == -0.5f, "[%g, %g]", a, b);
	sn_hist_free(&h);
	/* nothing seen: [0, 0] */
	REQUIRE(sn_hist_init(&h, 0, 1, 16, 0) == SN_OK);
	sn_calib_range(&h, SN_CALIB_MSE, 0, &a, &b);
	CHECK(a == 0 && b == 0);
	sn_hist_free(&h);
	CHECK(sn_calib_method_from_name("entropy") == SN_CALIB_ENTROPY && sn_calib_method_from_name("kl") < 0);
}
