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

/* Quantization-aware training (train/qat.c): the float weights the optimizer updates (master)
 * while each step runs them rounded to their int8 grids; the observers' ranges gathered from
 * every process. */
typedef struct {
	float *master;                    /* g->n_w */
	float *range;                     /* 2 x nodes: -lo, hi of the last pass */
	int observe_epochs;
	float momentum;
	int settled;                      /* g holds the int8 model of master (between epochs) */
} sn_qat;
/* Checks that g is quantized and sets q up (nothing to do without o->qat); SN_OK or an error. */
int sn_qat_begin(sn_qat *q, sn_graph *g, const sn_train_opts *o);
/* The plan flags of a training pass. */
unsigned sn_qat_plan_flags(const sn_qat *q);
/* Before a step's forward: the master weights put aside, the rounded ones in their place. */
void sn_qat_round(sn_qat *q, sn_graph *g);
/* After its backward (gradients w.r.t. the rounded weights, applied to the master ones): the
 * master weights back; after a step that succeeded (ok) in an observing epoch the observers move
 * (a process with no rows passes ran = 0). Collective with several processes. */
void sn_qat_unround(sn_qat *q, sn_graph *g, int epoch, int ok, int ran);
/* After an epoch: g becomes the int8 model of the master weights (to evaluate and checkpoint)... */
int sn_qat_settle_epoch(sn_qat *q, sn_graph *g);
/* ...and before the next one the master weights return. */
void sn_qat_resume(sn_qat *q, sn_graph *g);
void sn_qat_end(sn_qat *q);
#endif
