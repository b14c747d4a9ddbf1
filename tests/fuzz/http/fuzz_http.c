/* libFuzzer harness: HTTP/1.x parser (through protocol detection) on one TCP flow. */
#include "applayer_fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_flow(data, size, 6, 80, false);
    return 0;
}
