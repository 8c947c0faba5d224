/* Where each activation buffer of an inference plan lives in the arena. A node's output is live
 * from the node that writes it to the last node that reads it; buffers whose lifetimes overlap
 * must not share bytes, the others may. Greedy by size, as TensorFlow Lite's arena planner:
 * the largest buffer first, each at the lowest offset where it overlaps no placed buffer of an
 * overlapping lifetime. A network that runs layer after layer then needs about two or three of
 * its largest activations rather than their sum, and stays in cache: MobileNetV2 at batch 1
 * went from 26.8 MiB of outputs to a few MiB. */
#include "core/internal.h"

/* The sort key travels with each index (qsort has no context argument, and a file-static
 * pointer would let two plans on two threads sort by each other's sizes). */
typedef struct { size_t size; int index; } sizeidx;

static int by_size_desc(const void *a, const void *b)
{
	const sizeidx *x = a, *y = b;
	if (x->size != y->size) return x->size > y->size ? -1 : 1;
	return x->index - y->index;   /* ties in node order: the same plan every time */
}

static int lifetimes_overlap(const sn_membuf *a, const sn_membuf *b) { return a->first <= b->last && b->first <= a->last; }

size_t sn_plan_memory(sn_membuf *buf, int n)
{
	sizeidx *order = malloc((size_t)SN_MAX(n, 1) * sizeof *order);
	size_t total = 0;
	if (!order) return SIZE_MAX;
	for (int i = 0; i < n; i++) order[i] = (sizeidx){buf[i].size, i};
	qsort(order, (size_t)n, sizeof *order, by_size_desc);
	for (int k = 0; k < n; k++) {
		sn_membuf *b = &buf[order[k].index];
		size_t at = 0;
		/* placed buffers that conflict, visited by increasing offset: move past each one that
		 * the candidate range overlaps, until a gap holds it (placed ones are order[0..k)) */
		for (int moved = 1; moved;) {
			moved = 0;
			for (int q = 0; q < k; q++) {
				const sn_membuf *p = &buf[order[q].index];
				if (!lifetimes_overlap(b, p) || at >= p->offset + p->size || p->offset >= at + b->size) continue;
				at = p->offset + p->size;
				moved = 1;
			}
		}
		b->offset = at;
		total = SN_MAX(total, at + b->size);
	}
	free(order);
	return total;
}
