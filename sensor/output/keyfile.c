#include "keyfile.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

int keyfile_unhex(const char *hex, size_t hexlen, uint8_t *out, size_t len)
{
    if (hexlen != 2 * len)
        return -EINVAL;
    for (size_t i = 0; i < len; i++) {
        int hi = hexval((unsigned char)hex[2 * i]), lo = hexval((unsigned char)hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -EINVAL;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

void keyfile_hex(const uint8_t *in, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * len] = '\0';
}

int keyfile_read(const char *path, uint8_t *out, size_t len, char *err, size_t errlen)
{
    uint8_t buf[512];
    FILE *f = fopen(path, "rb");
    if (!f) {
        int e = errno;
        snprintf(err, errlen, "key file %s: %s", path, strerror(e));
        return -e;
    }
    size_t n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    if (n == len) {
        memcpy(out, buf, len);
        return 0;
    }
    /* hex form: trim whitespace */
    size_t a = 0, b = n;
    while (a < b && isspace(buf[a]))
        a++;
    while (b > a && isspace(buf[b - 1]))
        b--;
    if (keyfile_unhex((const char *)buf + a, b - a, out, len) == 0)
        return 0;
    snprintf(err, errlen, "key file %s: expected %zu raw bytes or %zu hex digits, found %zu bytes",
             path, len, 2 * len, n);
    return -EINVAL;
}
