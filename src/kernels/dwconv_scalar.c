/* The depthwise micro-kernels in portable C (one lane): they run on every CPU. */
#include "core/internal.h"
#include "kernels/kernels.h"

#define TARGET
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
#define VKEEP(v) ((void)0)
#define VMAX(a, b) ((a) > (b) ? (a) : (b))
#define VMIN(a, b) ((a) < (b) ? (a) : (b))
#define VHSUM(v) (v)
#define VDEINT2(p, m, e, o) ((e) = (p)[0], (o) = (m) > 1 ? (p)[1] : 0.0f)
#define NAME(f) f##__scalar

#include "kernels/dwconv_impl.h"
