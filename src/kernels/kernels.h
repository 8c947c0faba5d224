/* Low-level kernels: no allocation, the caller passes memory. */
#ifndef SN_KERNELS_H
#define SN_KERNELS_H
#include "slimnn.h"

/* Geometry of one convolution (or pooling) over one image. */
typedef struct {
	int c, h, w;            /* input channels (of the group range handled), height, width */
	int kh, kw, sh, sw, dh, dw;
	int pt, pl;             /* top and left padding; bottom/right follow from oh, ow */
	int oh, ow;
	sn_padmode mode;
} sn_conv_geom;

/* Source coordinate of padded coordinate i in [0,n), or -1 where the padding reads zero. */
static inline int sn_pad_index(int i, int n, sn_padmode m)
{
	if (i >= 0 && i < n) return i;
	switch (m) {
	case SN_PAD_REFLECT: return i < 0 ? -i : 2 * (n - 1) - i;     /* pad < n: one bounce */
	case SN_PAD_REPLICATE: return i < 0 ? 0 : n - 1;
	case SN_PAD_CIRCULAR: return ((i % n) + n) % n;
	default: return -1;
	}
}

/* col [c*kh*kw rows of oh*ow] from x [c x h x w]; rows are ld floats apart (ld >= oh*ow), so
 * a batch can share one matrix [c*kh*kw x batch*oh*ow] with each image in its own columns. */
void sn_im2col(const float *x, const sn_conv_geom *g, float *col, size_t ld);
/* dx [c x h x w] (+)= the scatter of dcol; accumulate = 0 overwrites dx */
void sn_col2im(const float *dcol, const sn_conv_geom *g, float *dx, int accumulate);
#endif
