#include "slimnn.h"

char *sn_shape_str(sn_shape s, char *buf, size_t len)
{
	if (s.rank == 2) snprintf(buf, len, "[-1, %d]", s.c);
	else snprintf(buf, len, "[-1, %d, %d, %d]", s.c, s.h, s.w);
	return buf;
}
