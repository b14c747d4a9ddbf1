/* Tamper evidence for an output's records (shared by the outputs and tools/verify).
 *
 * Every record of a chained output ends with "tripline_seq":N (per output, +1 per record) and
 * "prev_hash":"<hex>", the BLAKE2b-256 (libsodium crypto_generichash) of the previous record's
 * line exactly as written (without the newline); the first record of a chain has 64 zeros.
 * Every N records or T seconds a checkpoint record (event_type "checkpoint") is added; it is a
 * chain record too, and its "signature" is Ed25519 (libsodium) over chain_checkpoint_message()
 * of its own seq and prev_hash: so a checkpoint signs everything before it through the chain.
 */
#ifndef TRIPLINE_CHAIN_H
#define TRIPLINE_CHAIN_H

#include <stddef.h>
#include <stdint.h>

#define CHAIN_HASH_LEN 32
#define CHAIN_HASH_HEX (2 * CHAIN_HASH_LEN + 1)
#define CHAIN_PK_LEN 32
#define CHAIN_SK_LEN 64
#define CHAIN_SEED_LEN 32
#define CHAIN_SIG_LEN 64
#define CHAIN_MSG_MAX 128

/* BLAKE2b-256 of a record line. */
void chain_hash(const void *line, size_t len, uint8_t out[CHAIN_HASH_LEN]);

/* The signed message of a checkpoint: "tripline-checkpoint-v1 <seq> <prev_hash hex>".
 * Returns its length. */
size_t chain_checkpoint_message(uint64_t seq, const uint8_t prev[CHAIN_HASH_LEN], char out[CHAIN_MSG_MAX]);

/* Ed25519 key pair from a 32-byte seed (the sign-key file). Returns 0 or -EINVAL. */
int chain_keypair_from_seed(const uint8_t seed[CHAIN_SEED_LEN], uint8_t pk[CHAIN_PK_LEN],
                            uint8_t sk[CHAIN_SK_LEN]);

#endif
