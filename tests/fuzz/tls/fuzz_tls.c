/* libFuzzer harness: TLS handshake parser (records, hellos, certificate) on one TCP flow. */
#include "../http/applayer_fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_flow(data, size, 6, 443, false);
    return 0;
}
