/* Text helpers of the reports (analyze/summary.c), also used by the command line. */
#ifndef SN_ANALYZE_TEXT_H
#define SN_ANALYZE_TEXT_H
#include <stdint.h>
#include <stdio.h>

const char *sn_thousands(uint64_t v, char buf[32]);   /* 1234567 -> "1,234,567" */
void sn_json_str(FILE *f, const char *s);            /* s as a quoted, escaped JSON string */
#endif
