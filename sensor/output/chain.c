#include "chain.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

#include <sodium.h>

#include "keyfile.h"

void chain_hash(const void *line, size_t len, uint8_t out[CHAIN_HASH_LEN])
{
    crypto_generichash(out, CHAIN_HASH_LEN, line, len, NULL, 0);
}

size_t chain_checkpoint_message(uint64_t seq, const uint8_t prev[CHAIN_HASH_LEN], char out[CHAIN_MSG_MAX])
{
    char hex[CHAIN_HASH_HEX];
    keyfile_hex(prev, CHAIN_HASH_LEN, hex);
    int n = snprintf(out, CHAIN_MSG_MAX, "tripline-checkpoint-v1 %" PRIu64 " %s", seq, hex);
    return n < 0 ? 0 : (size_t)n;
}

int chain_keypair_from_seed(const uint8_t seed[CHAIN_SEED_LEN], uint8_t pk[CHAIN_PK_LEN],
                            uint8_t sk[CHAIN_SK_LEN])
{
    if (sodium_init() < 0)
        return -EINVAL;
    return crypto_sign_seed_keypair(pk, sk, seed) == 0 ? 0 : -EINVAL;
}
