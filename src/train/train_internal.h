#ifndef SN_TRAIN_INTERNAL_H
#define SN_TRAIN_INTERNAL_H
#include "train/train.h"

/* One optimizer step over every trainable tensor; m/v are the moment vectors (g->n_w each).
 * Pruning masks hold: masked gradients and moments are zeroed, masked weights stay zero. */
void sn_optim_step(sn_graph *g, const sn_train_opts *o, float lr, float momentum, uint64_t t,
                   float *m, float *v);
/* Momentum for one-cycle (cycled 0.95 -> 0.85 -> 0.95 as PyTorch's OneCycleLR); o->momentum otherwise. */
float sn_schedule_momentum(const sn_train_opts *o, uint64_t step, uint64_t total);
/* Apply every tensor's mask to its values. */
void sn_apply_masks(sn_graph *g);
#endif
