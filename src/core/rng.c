/* xoshiro256** seeded by splitmix64: fast, and the same stream on every machine. */
#include "slimnn.h"

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

void sn_rng_seed(sn_rng *r, uint64_t seed)
{
	for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&seed);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t sn_rng_u64(sn_rng *r)
{
	uint64_t *s = r->s, out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
	s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3];
	s[2] ^= t; s[3] = rotl(s[3], 45);
	return out;
}

float sn_rng_uniform(sn_rng *r) { return (float)(sn_rng_u64(r) >> 40) * (1.0f / 16777216.0f); }

uint32_t sn_rng_below(sn_rng *r, uint32_t n)
{
	/* Lemire's multiply-shift; the tiny bias is irrelevant for shuffling data */
	return (uint32_t)(((sn_rng_u64(r) >> 32) * (uint64_t)n) >> 32);
}
