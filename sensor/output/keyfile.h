/* Key files for the outputs (Crypto-PAn and Ed25519 keys): exactly `len` raw bytes, or 2*len hex
 * digits with optional surrounding whitespace. Shared with tools/verify. */
#ifndef TRIPLINE_KEYFILE_H
#define TRIPLINE_KEYFILE_H

#include <stddef.h>
#include <stdint.h>

/* Reads a key of exactly len bytes. Returns 0, or -errno / -EINVAL (wrong size or bad hex) with err
 * naming the file and the reason. */
int keyfile_read(const char *path, uint8_t *out, size_t len, char *err, size_t errlen);

/* Lower-case hex of len bytes into out (2*len+1 bytes). */
void keyfile_hex(const uint8_t *in, size_t len, char *out);

/* Parses exactly 2*len hex digits. Returns 0 or -EINVAL. */
int keyfile_unhex(const char *hex, size_t hexlen, uint8_t *out, size_t len);

#endif
