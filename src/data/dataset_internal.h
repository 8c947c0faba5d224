/* Shared by the data-set readers in src/data: what they build sn_dataset values with. */
#ifndef SN_DATA_DATASET_INTERNAL_H
#define SN_DATA_DATASET_INTERNAL_H
#include "core/error.h"
#include "data/data.h"

/* Mean and std per channel of d's samples (all of them, or a seeded sample of max_samples when
 * max_samples > 0 and d is larger), in the units sn_norm documents. */
int sn_dataset_stats(const sn_dataset *d, int max_samples, uint64_t seed, sn_norm *norm);
/* hw pixels of sc planar channels into dc channels: gray -> RGB replicates, RGB(A) -> gray is
 * PIL's luma, RGBA -> RGB drops alpha. SN_ESHAPE for other pairs. */
int sn_convert_channels(const uint8_t *src, int sc, uint8_t *dst, int dc, size_t hw);
/* names[0..n) joined NUL-separated into one allocation (*out, caller frees). */
int sn_names_join(char **out, char *const *names, int n);
/* The shorter side a w x h image is resized to before the centre crop to oh x ow: resize when
 * given (> 0), else the smallest that covers the crop (an image of the crop's size stays as it
 * is; for a square input it is torchvision's Resize(side)). */
int sn_resize_side(int resize, int w, int h, int oh, int ow);
#endif
