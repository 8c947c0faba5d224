/* libFuzzer target: the .slim model reader (sn_model_read) on arbitrary bytes, training state
 * included. Each input is read twice: as it is (the envelope checks), and with its envelope
 * repaired (the header's file size and the closing CRC-32 made to match), so that mutations get
 * past the checksum into the sections. An accepted model must also keep fuzz.h's properties.
 * Seeds: .slim files written by tests/fuzz/make_seeds.c (make fuzz). */
#include <zlib.h>
#include "fuzz.h"

#define SLIM_HDR_BYTES 24   /* docs/slim-format.md: magic, version, reserved, file size (u64 at 16) */

static void read_one(const uint8_t *data, size_t len)
{
	sn_meta meta;
	sn_train_state st = {0};
	fuzz_clear_error();
	sn_graph *g = sn_model_read(data, len, &meta, &st);
	free(st.opt_m);
	free(st.opt_v);
	fuzz_outcome(g, ".slim");
}

static void put_le(uint8_t *p, uint64_t v, int bytes)
{
	for (int i = 0; i < bytes; i++) p[i] = (uint8_t)(v >> (8 * i));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	read_one(data, len);
	if (len < SLIM_HDR_BYTES + 4) return 0;
	uint8_t *fixed = malloc(len);
	if (!fixed) return 0;
	memcpy(fixed, data, len);
	put_le(fixed + 16, len, 8);
	put_le(fixed + len - 4, crc32(crc32(0L, Z_NULL, 0), fixed, (uInt)(len - 4)), 4);
	read_one(fixed, len);
	free(fixed);
	return 0;
}
