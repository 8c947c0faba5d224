/* The pooled requantization in portable C (q8_internal.h): the largest of each window's four
 * sums, requantized. */
#include "kernels/q8_internal.h"

void sn_q8_pool__scalar(const sn_q8_pool_args *a)
{
	for (int py = 0; py < a->ph; py++)
		for (int px = 0; px < a->pw; px++) {
			const int32_t *s = a->acc + 2 * (size_t)py * a->ld + 2 * (size_t)px;
			const int32_t t = s[0] > s[1] ? s[0] : s[1], b = s[a->ld] > s[a->ld + 1] ? s[a->ld] : s[a->ld + 1];
			a->y[(size_t)py * a->pw + px] = sn_q_output(t > b ? t : b, a->mult, a->y_zp, a->lo, a->hi);
		}
}
