/* TEMPORARY: q8_pending.h served by the reference convolution. */
#include <stdlib.h>
#include "kernels/q8_pending.h"

struct sn_q8_pack { int unused; };
sn_q8_pack *sn_q8_pack_new(const int8_t *w, int out_c, int groups, int k)
{
	(void)w; (void)out_c; (void)groups; (void)k;
	return calloc(1, sizeof(sn_q8_pack));
}
void sn_q8_pack_free(sn_q8_pack *pk) { free(pk); }
size_t sn_q8_pack_bytes(const sn_q8_pack *pk) { (void)pk; return 0; }
size_t sn_q8_conv_ws(const sn_conv_geom *g, int groups, int out_c) { (void)g; (void)groups; (void)out_c; return 0; }
void sn_q8_conv_run(const int8_t *x, const sn_conv_geom *g, int groups, int out_c, const sn_q8_conv *p,
                const sn_q8_pack *pk, int8_t *y, void *ws)
{
	(void)pk; (void)ws;
	sn_q8_conv_ref(x, g, groups, out_c, p, y);
}
size_t sn_q8_linear_ws(int rows, int k, int out) { (void)rows; (void)k; (void)out; return 0; }
void sn_q8_linear(const int8_t *x, int rows, int k, int out, const sn_q8_conv *p, const sn_q8_pack *pk,
                  int8_t *y, void *ws)
{
	(void)pk; (void)ws;
	sn_conv_geom g = {.c = k, .h = 1, .w = 1, .kh = 1, .kw = 1, .sh = 1, .sw = 1, .dh = 1, .dw = 1, .oh = 1, .ow = 1};
	for (int r = 0; r < rows; r++) sn_q8_conv_ref(x + (size_t)r * k, &g, 1, out, p, y + (size_t)r * out);
}
const char *sn_q8_conv_kernel(const sn_conv_geom *g, int groups, int out_c) { (void)g; (void)groups; (void)out_c; return "q8_conv_ref"; }
const char *sn_q8_linear_kernel(int rows, int k, int out) { (void)rows; (void)k; (void)out; return "q8_linear_ref"; }
