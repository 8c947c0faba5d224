/* The prefetching loader (src/data/loader.c): threads make a pass's batches ahead of the caller.
 *   sn_loader *L = sn_loader_new(&d, 128, workers, 4);
 *   sn_loader_start(L, order, draws, n);        // rows order[0..n) of d, draws may be NULL
 *   while (!(rc = sn_loader_next(L, &x, &y, &rows)) && rows) use(x, y, rows);
 *   sn_loader_free(L);
 * With 0 workers each batch is made inside sn_loader_next, on the caller's thread. */
#ifndef SN_DATA_LOADER_H
#define SN_DATA_LOADER_H
#include "core/error.h"

typedef struct sn_loader sn_loader;

/* The ring's bytes, beyond which fewer than `depth` slots are kept (never fewer than 2). */
#define SN_LOADER_RING_BYTES ((size_t)256 << 20)
/* depth: batches made ahead (ring slots), fewer where they would pass SN_LOADER_RING_BYTES.
 * d must outlive the loader. NULL + sn_errmsg(). */
sn_loader *sn_loader_new(const sn_dataset *d, int batch, int workers, int depth);
/* Starts a pass (abandoning what is left of the last one): order and draws must stay valid until
 * the next start or free. */
void sn_loader_start(sn_loader *L, const int *order, const sn_draw *draws, int n);
/* The next batch in order: *rows samples (0 after the last), *x and *y valid until the next call.
 * A failure to make it (SN_ENOMEM, a file that cannot be read any more) returns its status. */
int sn_loader_next(sn_loader *L, const float **x, const int32_t **y, int *rows);
/* Seconds the workers spent making batches (summed over threads), seconds the caller waited for
 * one, and batches made, since the last call. */
void sn_loader_stats(sn_loader *L, double *busy, double *wait, long *made);
void sn_loader_free(sn_loader *L);
/* The ring's slots (batches made ahead), after the byte bound. */
int sn_loader_depth(const sn_loader *L);
/* Default thread count: 1 for data in memory, every core for files decoded on the fly. */
int sn_loader_default_workers(const sn_dataset *d);
#endif
