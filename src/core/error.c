/* Thread-local error message: every failing call leaves one sentence here. */
#include <stdarg.h>
#include "core/error.h"

static _Thread_local char errbuf[1024];
static _Thread_local int errcode;

const char *sn_errmsg(void) { return errbuf[0] ? errbuf : "no error"; }
int sn_errcode(void) { return errcode; }

int sn_seterr(int status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(errbuf, sizeof errbuf, fmt, ap);
	va_end(ap);
	errcode = status;
	return status;
}
