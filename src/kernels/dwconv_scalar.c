/* The depthwise micro-kernels in portable C (one lane): they run on every CPU. */
#include "kernels/kernels.h"

#include <stdint.h>
#include <string.h>

#define TARGET

/* the bits of a and m ANDed (m: all ones or all zeros) */
static inline float dw_and(float a, float m)
{
	uint32_t x, y;
	memcpy(&x, &a, sizeof x);
	memcpy(&y, &m, sizeof y);
	x &= y;
	memcpy(&a, &x, sizeof a);
	return a;
}
#define V float
#define VN 1
#define VZERO() 0.0f
#define VSET1(f) (f)
#define VLOAD(p) (*(p))
#define VSTORE(p, v) (*(p) = (v))
#define VLOADN(p, n) (*(p))         /* never used: one lane has no partial vector */
#define VSTOREN(p, v, n) (*(p) = (v))
#define VM int
#define VMASK(lo, hi) ((lo) <= 0 && 0 < (hi))
#define VLOADM(p, m) ((m) ? *(p) : 0.0f)
#define VFMA(a, b, c) ((a) * (b) + (c))
#define VADD(a, b) ((a) + (b))
#define VMUL(a, b) ((a) * (b))
#define VAND(a, m) dw_and(a, m)
#define VKEEP(v) ((void)0)
#define VMAX(a, b) ((a) > (b) ? (a) : (b))
#define VMIN(a, b) ((a) < (b) ? (a) : (b))
#define VHSUM(v) (v)
#define VDEINT2(p, m, e, o) ((e) = (p)[0], (o) = (m) > 1 ? (p)[1] : 0.0f)
#define NAME(f) f##__scalar

#include "kernels/dwconv_impl.h"
