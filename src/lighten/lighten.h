/* Internal interface of the lightening passes: the driver (lighten.c) plans which layers to
 * replace, rebuilds the graph with sn_rewrite_*, then lets each transform fill its new tensors
 * in closed form. One file per transform. */
#ifndef SN_LIGHTEN_H
#define SN_LIGHTEN_H
#include "core/internal.h"

typedef enum { LT_NONE, LT_DSC, LT_GAP_HEAD, LT_ASYM, LT_SMALL, LT_HEAD_FLATTEN } lt_kind;

/* What happens to one old node. */
typedef struct {
	lt_kind kind;
	int bn;                 /* dsc: BN+ReLU between depthwise and pointwise */
	int fold;               /* dsc with BN: old index of the BatchNorm fed by the conv (it absorbs
	                         * the calibration shift), or -1: the pointwise bias does */
	int pw_bias;            /* dsc: the pointwise conv has a bias */
	int rank;               /* dsc: multiplier; asym, small-kernels: middle channels */
	int head;               /* head flatten: the old linear it serves */
	size_t new_params;
	uint64_t new_macs;
	int n_new, nodes[4];    /* new indices of the emitted layers (the last one maps the output) */
	double err;             /* ||W - W^|| / ||W|| of the closed form */
} lt_plan;

typedef struct {
	const sn_graph *g;
	const sn_lighten_opts *o;
	lt_plan *plan;          /* per old node */
	int *n_consumers, *consumer;  /* per old node: consumer count, and the last consumer */
	float *calib_x;         /* calib_n normalised calibration images, or NULL */
	int calib_n;
	sn_plan *orig;          /* a plan of g run forward on them, keeping every output (the head fit
	                         * reads the original features), or NULL */
	sn_plan *run;           /* calibration: the new graph's plan, keeping every output */
} lt_ctx;

/* Planning: 0 when the transform applies to old node i (plan filled); LT_NOT_FOR when the
 * layer is not of a kind the transform is for (why says so, reported only for layers named in
 * --layers); LT_SKIP when it is but cannot or should not be replaced (why says why). */
enum { LT_SKIP = -2, LT_NOT_FOR = -1 };
int lt_dsc_plan(lt_ctx *c, int i, char *why, size_t len);
int lt_gap_plan(lt_ctx *c, int i, char *why, size_t len);
int lt_asym_plan(lt_ctx *c, int i, char *why, size_t len);
int lt_small_plan(lt_ctx *c, int i, char *why, size_t len);

/* Emitting: the replacement nodes for old node i; maps i to the last. */
int lt_dsc_emit(lt_ctx *c, sn_rewrite *rw, int i);
int lt_gap_emit_flatten(lt_ctx *c, sn_rewrite *rw, int i);
int lt_asym_emit(lt_ctx *c, sn_rewrite *rw, int i);
int lt_small_emit(lt_ctx *c, sn_rewrite *rw, int i);

/* Filling: the new tensors from the old weights; *err gets ||W - W^|| / ||W||. */
int lt_dsc_fill(lt_ctx *c, sn_graph *h, int i, double *err);
int lt_gap_fill(lt_ctx *c, sn_graph *h, int i, double *err);
int lt_asym_fill(lt_ctx *c, sn_graph *h, int i, double *err);
int lt_small_fill(lt_ctx *c, sn_graph *h, int i, double *err);
/* Sets the inserted BatchNorm of a dsc layer from the statistics of its depthwise output on
 * the calibration images so that BN+ReLU pass it unchanged. */
int lt_dsc_calibrate(lt_ctx *c, sn_graph *h, int i, const float *x, int n);
/* Refits the new head by least squares: the old layer's outputs on the calibration images
 * (from the original model) against the pooled features of the new model (h run forward). */
int lt_gap_refit(lt_ctx *c, sn_graph *h, int i);

/* Helpers */
/* New node named "<base><suffix>", or SN_EINVAL if the name does not fit. */
int lt_name(char *dst, const char *base, const char *suffix);
/* Thin SVD of the row-major m x n matrix a (overwritten): s[min(m,n)] descending, u m x k,
 * vt k x n with k = min(m,n). Double precision: the closed forms are checked to ~1e-6. */
int lt_svd(double *a, int m, int n, double *s, double *u, double *vt);
/* The tensor of new node j, slot s (NULL if absent). */
sn_tensor *lt_tensor(sn_graph *h, int j, int slot);
const sn_tensor *lt_old_tensor(const lt_ctx *c, int i, int slot);
#endif
