/* What training offers the passes above it (prune, lighten) besides the public header;
 * train/train_internal.h stays private to src/train. */
#ifndef SN_TRAIN_H
#define SN_TRAIN_H
#include "slimnn.h"

/* The model's input and output fit the data set (one message naming both otherwise). */
int sn_check_data(const sn_graph *g, const sn_dataset *d);
#endif
