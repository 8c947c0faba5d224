/* Graph level of sparse inference (src/core/sparse.c): which conv and Linear layers run the
 * SpMM kernels (kernels/spmm.h), their workspace, and their forward passes. */
#ifndef SN_CORE_SPARSE_H
#define SN_CORE_SPARSE_H
#include "core/internal.h"
#include "kernels/spmm.h"

void sn_sparse_reset(sn_graph *g);                    /* every node back to dense, packs freed */
/* Forward of a sparse conv or Linear in plan pl; SN_EINVAL (and nothing written) when the node's
 * packed weights no longer fit its shapes or the plan lacks the workspace: the caller runs dense. */
int sn_sparse_conv_forward(sn_plan *pl, const sn_node *n);
int sn_sparse_linear_forward(sn_plan *pl, const sn_node *n);
/* Workspace bytes node n needs in an inference plan for a batch (0 unless it runs sparse): a
 * conv's panels, a Linear's chunk buffers. sn_plan_reshape adds it to the op's own request. */
size_t sn_sparse_ws(const sn_graph *g, const sn_node *n, int batch);
/* The int8 sparse pack an int8 conv or Linear runs at this batch, or NULL: dense (not chosen,
 * packed for other shapes, or a Linear of so few rows that the dense GEMV wins). */
const struct sn_q8_spmm *sn_sparse_q8(const sn_graph *g, const sn_node *n, int batch);
#endif
