/* The skeleton every element-wise operator shares: its output has its input's shape, forward
 * is y[i] = f(x[i]) over the batch, and backward writes (or adds, where another consumer of the
 * input wrote first) g(x[i], y[i], dy[i]) = dy[i] f'(x[i]) into the input's gradient. An
 * operator is its math, two static inline functions of one element:
 *
 *   float f(float x, sn_ew_arg a)                      the output
 *   float g(float x, float y, float dy, sn_ew_arg a)   the gradient it sends back; its formula
 *                                                      reads x or y, whichever the row allows
 *                                                      (an in-place op's x is its y)
 *
 * SN_EW_LOOPS(name, f, g) makes the loops from them, and the operator's function hands those to
 * sn_elementwise with its constants. The loops are made per operator, not reached through a
 * pointer per element, so f and g inline into them and vectorise where they can. */
#ifndef SN_OPS_ELEMENTWISE_H
#define SN_OPS_ELEMENTWISE_H

#include "core/internal.h"

/* What the math reads besides the tensors: the operator's constants (read from its node once
 * a pass, so the loops keep them in registers) and, in backward, whether dx is being added to. */
typedef struct {
	float alpha, beta;
	int acc;
} sn_ew_arg;

typedef struct {
	void (*forward)(const float *x, float *y, size_t n, sn_ew_arg a);
	void (*backward)(const float *x, const float *y, const float *dy, float *dx, size_t n, sn_ew_arg a);
} sn_ew_loops;

/* x and y may be the same buffer (an op in place), as may dy and dx: each loop reads and writes
 * element i only, so the simd loops stay right. */
#define SN_EW_LOOPS(name, f, g)                                                                      \
	static void name##_forward(const float *x, float *y, size_t n, sn_ew_arg a)                  \
	{                                                                                            \
		_Pragma("omp parallel for simd schedule(static) firstprivate(a)")                        \
		for (size_t i = 0; i < n; i++) y[i] = f(x[i], a);                                        \
	}                                                                                            \
	static void name##_backward(const float *x, const float *y, const float *dy, float *dx,    \
	                            size_t n, sn_ew_arg a)                                           \
	{                                                                                            \
		_Pragma("omp parallel for simd schedule(static) firstprivate(a)")                        \
		for (size_t i = 0; i < n; i++) {                                                         \
			const float v = g(x[i], y[i], dy[i], a);                                             \
			dx[i] = a.acc ? dx[i] + v : v;                                                       \
		}                                                                                        \
	}                                                                                            \
	static const sn_ew_loops name = {name##_forward, name##_backward}

/* The operator function's work for every action, with loops l and constants a (a.acc is set
 * here). Checks of the node's attributes stay with the operator, before it calls this. */
int sn_elementwise(sn_graph *g, sn_node *n, sn_plan *pl, sn_action act, const sn_ew_loops *l, sn_ew_arg a);

#endif
