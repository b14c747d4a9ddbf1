/* libFuzzer harness: DNS parser over UDP (first byte even) or TCP (odd) on port 53. */
#include "../http/applayer_fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    bool udp = (data[0] & 1) == 0;
    fuzz_flow(data + 1, size - 1, udp ? 17 : 6, 53, udp);
    return 0;
}
