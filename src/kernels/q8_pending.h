/* TEMPORARY (until the fast int8 kernels land): the interface of qconv.h's fast paths, served by
 * the reference in q8_pending.c. */
#ifndef SN_KERNELS_Q8_PENDING_H
#define SN_KERNELS_Q8_PENDING_H
#include "kernels/kernels.h"
#include "kernels/qconv.h"
typedef struct sn_q8_pack sn_q8_pack;
sn_q8_pack *sn_q8_pack_new(const int8_t *w, int out_c, int groups, int k);
void sn_q8_pack_free(sn_q8_pack *pk);
size_t sn_q8_pack_bytes(const sn_q8_pack *pk);
size_t sn_q8_conv_ws(const sn_conv_geom *g, int groups, int out_c);
void sn_q8_conv_run(const int8_t *x, const sn_conv_geom *g, int groups, int out_c, const sn_q8_conv *p,
                const sn_q8_pack *pk, int8_t *y, void *ws);
size_t sn_q8_linear_ws(int rows, int k, int out);
void sn_q8_linear(const int8_t *x, int rows, int k, int out, const sn_q8_conv *p, const sn_q8_pack *pk,
                  int8_t *y, void *ws);
const char *sn_q8_conv_kernel(const sn_conv_geom *g, int groups, int out_c);
const char *sn_q8_linear_kernel(int rows, int k, int out);
#endif
