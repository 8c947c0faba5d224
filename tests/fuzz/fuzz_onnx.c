/* libFuzzer target: the ONNX importer (sn_onnx_read) on arbitrary bytes. An accepted model must
 * also keep fuzz.h's properties: its architecture text round-trips (so it can be saved as .slim)
 * and it runs forward and backward. Seeds: tests/fixtures/onnx (make fuzz). */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	sn_meta meta;
	fuzz_clear_error();
	fuzz_outcome(sn_onnx_read(data, len, &meta), "ONNX");
	return 0;
}
