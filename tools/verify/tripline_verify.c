/* tripline-verify: checks tamper-evident Tripline output (EVE files or what a collector stored).
 *
 *   tripline-verify --pubkey PUB.hex FILE...   records in FILE... (in order: rotated files
 *                                              oldest first) against the output's public key
 *   tripline-verify --sign-key SEED FILE...    same, deriving the public key from the seed
 *   tripline-verify --no-signatures FILE...    chain only
 *   tripline-verify --keygen SEED PUB.hex      makes a signing seed (32 bytes, mode 0600) and
 *                                              its public key (hex)
 * Exit status: 0 intact, 1 deleted/reordered/altered records or bad signatures, 2 usage or I/O.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "chain.h"
#include "keyfile.h"
#include "verify_chain.h"

static void print_msg(void *ctx, const char *msg)
{
    (void)ctx;
    printf("%s\n", msg);
}

static int keygen(const char *seed_path, const char *pub_path)
{
    uint8_t seed[CHAIN_SEED_LEN], pk[CHAIN_PK_LEN], sk[CHAIN_SK_LEN];
    char hex[2 * CHAIN_PK_LEN + 1];
    if (sodium_init() < 0)
        return 2;
    randombytes_buf(seed, sizeof(seed));
    chain_keypair_from_seed(seed, pk, sk);
    int fd = open(seed_path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0 || write(fd, seed, sizeof(seed)) != (ssize_t)sizeof(seed) || close(fd) != 0) {
        fprintf(stderr, "tripline-verify: %s: %s\n", seed_path, strerror(errno));
        return 2;
    }
    keyfile_hex(pk, sizeof(pk), hex);
    FILE *f = fopen(pub_path, "w");
    if (!f || fprintf(f, "%s\n", hex) < 0 || fclose(f) != 0) {
        fprintf(stderr, "tripline-verify: %s: %s\n", pub_path, strerror(errno));
        return 2;
    }
    sodium_memzero(seed, sizeof(seed));
    sodium_memzero(sk, sizeof(sk));
    return 0;
}

static int usage(void)
{
    fprintf(stderr, "usage: tripline-verify (--pubkey PUB | --sign-key SEED | --no-signatures) FILE...\n"
                    "       tripline-verify --keygen SEED PUB\n");
    return 2;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "--keygen"))
        return argc == 4 ? keygen(argv[2], argv[3]) : usage();
    if (argc < 3)
        return usage();
    uint8_t pk[CHAIN_PK_LEN];
    const uint8_t *pkp = pk;
    char err[256];
    if (!strcmp(argv[1], "--pubkey")) {
        if (argc < 4 || keyfile_read(argv[2], pk, sizeof(pk), err, sizeof(err)) < 0) {
            fprintf(stderr, "tripline-verify: %s\n", argc < 4 ? "missing files" : err);
            return 2;
        }
    } else if (!strcmp(argv[1], "--sign-key")) {
        uint8_t seed[CHAIN_SEED_LEN], sk[CHAIN_SK_LEN];
        if (argc < 4 || keyfile_read(argv[2], seed, sizeof(seed), err, sizeof(err)) < 0) {
            fprintf(stderr, "tripline-verify: %s\n", argc < 4 ? "missing files" : err);
            return 2;
        }
        chain_keypair_from_seed(seed, pk, sk);
        sodium_memzero(sk, sizeof(sk));
    } else if (!strcmp(argv[1], "--no-signatures")) {
        pkp = NULL;
    } else {
        return usage();
    }
    int first = pkp ? 3 : 2;
    if (first >= argc)
        return usage();
    struct verify_chain *v = verify_chain_new(pkp);
    if (!v)
        return 2;
    char *line = NULL;
    size_t cap = 0;
    for (int i = first; i < argc; i++) {
        FILE *f = fopen(argv[i], "r");
        if (!f) {
            fprintf(stderr, "tripline-verify: %s: %s\n", argv[i], strerror(errno));
            verify_chain_free(v);
            return 2;
        }
        ssize_t n;
        while ((n = getline(&line, &cap, f)) >= 0)
            if (verify_chain_add(v, line, (size_t)n) < 0) {
                fprintf(stderr, "tripline-verify: out of memory\n");
                return 2;
            }
        fclose(f);
    }
    free(line);
    struct verify_result r;
    int rc = verify_chain_finish(v, &r, print_msg, NULL);
    verify_chain_free(v);
    printf("%s: %" PRIu64 " records (seq %" PRIu64 "..%" PRIu64 "), %" PRIu64 " duplicates, %" PRIu64
           " deleted, %" PRIu64 " reordered, %" PRIu64 " altered, %" PRIu64 " good / %" PRIu64
           " bad checkpoint signatures%s\n",
           rc ? "TAMPERED" : "OK", r.records, r.first_seq, r.last_seq, r.duplicates, r.deleted,
           r.reordered, r.altered, r.checkpoints, r.bad_signatures,
           pkp ? "" : " (signatures not checked)");
    return rc;
}
