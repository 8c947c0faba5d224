/* How library code reports an error: the message and status that the public sn_errmsg() and
 * sn_errcode() return (core/error.c). Internal: users read errors, they do not set them. */
#ifndef SN_CORE_ERROR_H
#define SN_CORE_ERROR_H
#include "slimnn.h"

/* Sets the calling thread's message (printf-style) and status; returns status. */
int sn_seterr(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#endif
