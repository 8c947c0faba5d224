/* A streamed data set: image files decoded when a batch needs them (src/data/folder.c). The
 * loader's threads call sn_source_sample at once for different samples. */
#ifndef SN_DATA_SOURCE_H
#define SN_DATA_SOURCE_H
#include <pthread.h>
#include "slimnn.h"

struct sn_source {
	int n;                      /* files */
	char **paths;               /* n paths */
	int c, h, w;                /* what a sample becomes: the model's input */
	int resize;                 /* shorter side before the centre crop (0: max(h, w)) */
	pthread_mutex_t lock;       /* guards the skip record below */
	long skipped;               /* samples that failed to decode, filled with the mean instead */
	char first_bad[512];        /* the first such failure's message */
};

/* Stored sample k as c x h x w bytes (planar) in out: decoded, then either resized and centre-
 * cropped, or (d->rrc_scale > 0) random-resized-cropped with the box drawn from d->seed. A file
 * that fails to decode gives SN_EFORMAT and leaves out undefined. */
int sn_source_sample(const sn_source *s, int k, const sn_draw *d, uint8_t *out);
/* Records a failed sample (thread-safe): counted, the first message kept. */
void sn_source_skip(sn_source *s, const char *msg);
void sn_source_free(sn_source *s);
#endif
