/* int8 convolution and Linear (a Linear is a 1x1 convolution of a 1x1 image). */
#ifndef SN_KERNELS_QCONV_H
#define SN_KERNELS_QCONV_H
#include "kernels/qmath.h"

/* One quantized layer: weights int8 symmetric ([out_c][c/groups][kh][kw], zero point 0), bias
 * int32 in the scale x_scale * w_scale[o] (or NULL), the requantization multiplier
 * x_scale * w_scale[o] / y_scale per output channel (or one), and the output's zero point and
 * clamp (qmath.h: sn_q_act_range fuses ReLU and ReLU6). The accumulator holds bias + the sum of
 * (x - x_zp) * w over c/groups * kh * kw taps: at most 255 * 127 each, so layers with more than
 * 65,000 taps per output could overflow int32 and must stay float. */
typedef struct {
	const int8_t *w;
	const int32_t *bias;
	const sn_q_mult *mult;
	int per_channel;
	int32_t x_zp, y_zp, lo, hi;
} sn_q8_conv;

#define SN_Q8_MAX_TAPS 65000

/* y [out_c x oh x ow] from x [c x h x w] (one image), any stride, dilation, groups and padding
 * mode (sn_conv_geom; zero padding reads the input's zero point, i.e. real 0). The reference:
 * the fast kernels are checked against it byte for byte. */
void sn_q8_conv_ref(const int8_t *x, const sn_conv_geom *g, int groups, int out_c, const sn_q8_conv *p, int8_t *y);
#endif
