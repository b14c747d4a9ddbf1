/* Crypto-PAn: prefix-preserving IP address pseudonymisation (J. Xu, J. Fan, M. Ammar, S. Moon,
 * "Prefix-Preserving IP Address Anonymization", ICNP 2002), AES-128 as the pseudorandom function,
 * bit-compatible with the reference implementation (panonymizer.cpp): two addresses sharing a
 * k-bit prefix map to pseudonyms sharing a k-bit prefix. IPv6 applies the same construction to
 * all 128 bits (as yacryptopan and Yawning Angel's Go implementation do).
 *
 * Key: 32 bytes; the first 16 are the AES key, the last 16 are encrypted once to form the pad.
 * A cryptopan holds an OpenSSL cipher context: use it from one thread at a time.
 */
#ifndef TRIPLINE_CRYPTOPAN_H
#define TRIPLINE_CRYPTOPAN_H

#include <stddef.h>
#include <stdint.h>

#define CRYPTOPAN_KEY_LEN 32

struct cryptopan;

/* From a 32-byte key. NULL on OpenSSL failure. */
struct cryptopan *cryptopan_new(const uint8_t key[CRYPTOPAN_KEY_LEN]);

/* From a key file: 32 raw bytes, or 64 hex digits (whitespace around allowed). NULL with err. */
struct cryptopan *cryptopan_new_from_file(const char *path, char *err, size_t errlen);

/* Pseudonymises an IPv4 address (4 bytes, network order). in and out may alias. */
void cryptopan_anon_ipv4(const struct cryptopan *cp, const uint8_t in[4], uint8_t out[4]);

/* Pseudonymises an IPv6 address (16 bytes). in and out may alias. */
void cryptopan_anon_ipv6(const struct cryptopan *cp, const uint8_t in[16], uint8_t out[16]);

/* NULL is a no-op. */
void cryptopan_free(struct cryptopan *cp);

#endif
