/* Crypto-PAn, following the reference implementation's construction: for bit position i the AES
 * input is the address's first i bits followed by the pad's remaining bits; the first bit of the
 * AES output is XORed onto address bit i. The pad is AES_k(key[16..31]). */
#include "cryptopan.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "keyfile.h"

struct cryptopan {
    EVP_CIPHER_CTX *ctx;
    uint8_t pad[16];
};

static void aes_block(const struct cryptopan *cp, const uint8_t in[16], uint8_t out[16])
{
    int outl = 0;
    EVP_EncryptUpdate(cp->ctx, out, &outl, in, 16);
}

struct cryptopan *cryptopan_new(const uint8_t key[CRYPTOPAN_KEY_LEN])
{
    struct cryptopan *cp = calloc(1, sizeof(*cp));
    if (!cp)
        return NULL;
    cp->ctx = EVP_CIPHER_CTX_new();
    if (!cp->ctx)
        goto out_free;
    if (EVP_EncryptInit_ex(cp->ctx, EVP_aes_128_ecb(), NULL, key, NULL) != 1)
        goto out_free_ctx;
    EVP_CIPHER_CTX_set_padding(cp->ctx, 0);
    aes_block(cp, key + 16, cp->pad);
    return cp;
out_free_ctx:
    EVP_CIPHER_CTX_free(cp->ctx);
out_free:
    free(cp);
    return NULL;
}

struct cryptopan *cryptopan_new_from_file(const char *path, char *err, size_t errlen)
{
    uint8_t key[CRYPTOPAN_KEY_LEN];
    if (keyfile_read(path, key, sizeof(key), err, errlen) < 0)
        return NULL;
    struct cryptopan *cp = cryptopan_new(key);
    memset(key, 0, sizeof(key));
    if (!cp)
        snprintf(err, errlen, "crypto-pan: cannot set up AES-128");
    return cp;
}

/* Works on `bits` leading bits of addr (32 or 128); the rest of the 16-byte AES block comes
 * from the pad. */
static void anon_bits(const struct cryptopan *cp, const uint8_t *in, uint8_t *out, unsigned bytes)
{
    uint8_t orig[16], res[16] = {0}, block[16], enc[16];
    unsigned bits = bytes * 8;
    memcpy(orig, in, bytes);
    for (unsigned pos = 0; pos < bits; pos++) {
        /* first pos bits from the address, the rest from the pad */
        memcpy(block, cp->pad, 16);
        unsigned full = pos / 8, rem = pos % 8;
        memcpy(block, orig, full);
        if (rem) {
            uint8_t mask = (uint8_t)(0xff << (8 - rem));
            block[full] = (uint8_t)((orig[full] & mask) | (cp->pad[full] & ~mask));
        }
        aes_block(cp, block, enc);
        res[pos / 8] |= (uint8_t)((enc[0] >> 7) << (7 - pos % 8));
    }
    for (unsigned i = 0; i < bytes; i++)
        out[i] = res[i] ^ orig[i];
}

void cryptopan_anon_ipv4(const struct cryptopan *cp, const uint8_t in[4], uint8_t out[4])
{
    anon_bits(cp, in, out, 4);
}

void cryptopan_anon_ipv6(const struct cryptopan *cp, const uint8_t in[16], uint8_t out[16])
{
    anon_bits(cp, in, out, 16);
}

void cryptopan_free(struct cryptopan *cp)
{
    if (!cp)
        return;
    EVP_CIPHER_CTX_free(cp->ctx);
    free(cp);
}
