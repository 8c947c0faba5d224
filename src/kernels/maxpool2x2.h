/* Max pooling over 2x2 windows at stride 2 without padding: the pool of most CNNs, run on its
 * own (ops/pool.c) and inside the depthwise conv before it (ops/conv.c writes the pooled planes
 * straight from its scratch). */
#ifndef SN_KERNELS_MAXPOOL2X2_H
#define SN_KERNELS_MAXPOOL2X2_H
#include <stddef.h>
#include <stdint.h>

/* Output rows [r0, r1) of planes [h x w] -> [oh x ow] (2 * oh <= h, 2 * ow <= w; row r is row
 * r % oh of plane r / oh): x and y point at plane 0, x's readable floats end at xend (rows past
 * r1 are read where they exist, but never written). arg (NULL: none): each output's input index
 * within its plane, for backward. NaN wins its window, as in PyTorch. */
void sn_f32_maxpool2x2(const float *x, int h, int w, int oh, int ow, size_t r0, size_t r1, const float *xend, float *y,
                       int32_t *arg);
/* The same on int8 values (a quantized model's, which keep their input's scale). */
void sn_s8_maxpool2x2(const int8_t *x, int h, int w, int oh, int ow, size_t r0, size_t r1, const int8_t *xend, int8_t *y);
#endif
