/* The words for granularities and criteria, as the command line takes them and the sensitivity
 * CSV files write them: one table, so that a new granularity or criterion is named once. */
#include "core/internal.h"

static const char *const GRANULARITY[] = {
	[SN_GRAN_WEIGHT] = "weight", [SN_GRAN_FILTER] = "filter", [SN_GRAN_NEURON] = "neuron", [SN_GRAN_BLOCK] = "block"};
static const char *const CRITERION[] = {
	[SN_CRIT_L1] = "l1", [SN_CRIT_L2] = "l2", [SN_CRIT_BN] = "bn", [SN_CRIT_TAYLOR] = "taylor"};
#define COUNT(a) ((int)(sizeof a / sizeof *a))

static const char *name_of(const char *const *names, int n, int v)
{
	return v >= 0 && v < n && names[v] ? names[v] : "?";
}

static int parse(const char *const *names, int n, const char *s)
{
	for (int i = 0; s && i < n; i++)
		if (names[i] && !strcmp(s, names[i])) return i;
	return -1;
}

const char *sn_granularity_name(sn_granularity g) { return name_of(GRANULARITY, COUNT(GRANULARITY), (int)g); }
const char *sn_criterion_name(sn_criterion c) { return name_of(CRITERION, COUNT(CRITERION), (int)c); }

int sn_granularity_parse(const char *s)
{
	if (s && !strcmp(s, "channel")) return SN_GRAN_FILTER;   /* the other word for it */
	return parse(GRANULARITY, COUNT(GRANULARITY), s);
}

int sn_criterion_parse(const char *s) { return parse(CRITERION, COUNT(CRITERION), s); }
