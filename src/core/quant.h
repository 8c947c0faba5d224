/* The int8 side of a quantized model: what each layer keeps (src/quantize/ computes it, .slim
 * files store it, plans run it). Values follow kernels/qmath.h: real = scale * (q - zero_point),
 * activations asymmetric per tensor, weights symmetric per output channel (or per tensor).
 *
 * Every layer of a quantized model has output parameters y. A layer whose operator has an int8
 * forward (its row's run_q8) runs in int8 unless the quantizer kept it in float (--keep-float,
 * --max-drop); a float layer's y serves its int8 readers, which quantize its output with it.
 * The float weights of an int8 layer are kept equal to their int8 values times the scales, so
 * the float view of the model (export, summary, a float fallback) is the model int8 runs. */
#ifndef SN_CORE_QUANT_H
#define SN_CORE_QUANT_H
#include "slimnn.h"
#include "kernels/kernels.h"
#include "kernels/q8_spmm.h"
#include "kernels/qconv.h"

struct sn_qnode {
	sn_qparams y;                      /* the output's parameters */
	int int8;                          /* 1: runs in int8; 0: in float */
	/* conv and Linear in int8: the weight ([rows][k], rows = output channels) and its scales */
	int n_scale;                       /* 1 (per tensor) or rows (per output channel) */
	float *w_scale;
	int8_t *w;
	size_t w_n;
	/* derived by sn_q_derive from the above, the input's y and the float bias */
	int32_t *bias;                     /* rows int32 in the scale x_scale * w_scale[o] */
	sn_q_mult *mult;                   /* rows multipliers x_scale * w_scale[o] / y.scale */
	int32_t lo, hi;                    /* the output clamp: int8 range, or a fused ReLU's / ReLU6's */
	struct sn_q8_pack *pack;           /* the weights packed for the fast kernels */
	struct sn_q8_spmm *spmm;           /* and for the sparse one, where sn_graph_select_sparse chose it */
	double spmm_zeros;                 /* its weights' fraction of zeros (1: forced), which says on how
	                                    * few rows a Linear runs it (core/sparse.c) */
	/* quantization-aware training (core/qat.c): the observer's moving range of the output */
	int observed;
	float obs_lo, obs_hi;
};
typedef struct sn_qnode sn_qnode;

/* A node's record with output parameters y (int8 as given), no weights; NULL when out of memory
 * (message set). */
sn_qnode *sn_qnode_new(sn_qparams y, int int8);
void sn_qnode_free(sn_qnode *q);
/* Drops every node's int8 record: the model is float again. */
void sn_graph_dequantize(sn_graph *g);
/* 1 when some layer of g runs in int8 (a training plan cannot serve it). */
int sn_graph_is_int8(const sn_graph *g);
/* 1 when node n has an int8 forward (its row's run_q8) and a record that asks for int8. */
int sn_node_runs_int8(const sn_node *n);

/* The weight an int8 layer quantizes (conv and Linear), or NULL. */
const sn_tensor *sn_q_weight(const sn_graph *g, const sn_node *n);
/* Sets node n's int8 weight from its float weight with these scales (n_scale 1 or one per output
 * row): q = round_half_even(w / s) clamped to [-127, 127]; the float weight becomes q * s. The
 * record must exist. SN_OK, SN_ENOMEM or SN_EINVAL (a scale not positive and finite). */
int sn_q_set_weights(sn_graph *g, sn_node *n, const float *scales, int n_scale);
/* Computes every int8 layer's derived values (bias, multipliers, clamp, packed weights) from its
 * record and its input's y; SN_OK, SN_ENOMEM, or SN_EFORMAT naming a layer whose input has no
 * parameters or whose weight is missing. Run after the records change (quantize, load). */
int sn_q_derive(sn_graph *g);
/* Copies src's records into g, node by node (same names); SN_OK or SN_ENOMEM. */
int sn_q_copy(sn_graph *g, const sn_graph *src);
/* Symmetric weight scales of t ([rows][k]): one per row from its largest magnitude, or (per_tensor)
 * s[0] from the whole tensor's. */
void sn_q_weight_scales(const sn_tensor *t, int per_tensor, float *s);
/* The ReLU or ReLU6 that is node i's only reader, or -1. An int8 layer takes its range: clamped
 * by the int8 range, the layer's output is then already the activation's (TFLite fuses them so). */
int sn_q_fused_activation(const sn_graph *g, int i);

/* ---------------------------------------------------------------- quantization-aware training
 * (core/qat.c). The model keeps its float weights (the master copy the optimizer updates) and
 * its records; a training plan with SN_PLAN_FAKE_QUANT rounds activations to their grids. */
/* Rounds every int8 layer's float weight to the int8 grid in place, with scales from the current
 * weights (the record's granularity): what the layer would run after sn_qat_settle. The caller
 * keeps the master copy. */
void sn_qat_fake_weights(sn_graph *g);
/* The observers: lo[i], hi[i] is the range node i's output covered before rounding in the last
 * training pass (infinite where it was not observed); each record's moving range follows it with
 * weight `momentum` (PyTorch's MovingAverageMinMaxObserver; the first observation of a record
 * starts from its current parameters), and y is set from it. Layers that keep their input's
 * parameters (SN_OPF_Q8_SAME) take them again; a layer read only by a ReLU/ReLU6 observes the
 * activation's range. */
void sn_qat_observe(sn_graph *g, const float *lo, const float *hi, float momentum);
/* The int8 model of the current float weights: every int8 layer's weight quantized with scales
 * from its largest magnitudes (its float weight becomes q * s), derived values computed. */
int sn_qat_settle(sn_graph *g);
#endif
