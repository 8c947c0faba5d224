/* libFuzzer target: the architecture-text parser (sn_arch_parse) on arbitrary bytes (made a
 * C string, as sn_arch_load does after refusing NUL bytes). An accepted architecture must also
 * keep fuzz.h's properties: its canonical text parses back to the same graph and writes the same
 * text again, and it runs. Seeds: models/ and the model.arch of every case in tests/fixtures/ops
 * (make fuzz). */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	if (memchr(data, 0, len)) return 0;   /* sn_arch_load refuses NUL bytes before parsing */
	char *text = malloc(len + 1);
	if (!text) return 0;
	memcpy(text, data, len);
	text[len] = 0;
	fuzz_clear_error();
	sn_graph *g = sn_arch_parse(text, "fuzz.arch");
	free(text);
	fuzz_outcome(g, "architecture");
	return 0;
}
