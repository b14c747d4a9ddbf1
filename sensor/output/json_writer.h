/* JSON writer: appends one JSON document into a caller-owned buffer.
 *
 * Hand-written for the output thread's hot loop: no allocation, no printf for strings, one pass
 * over string bytes. Strings are escaped so that hostile bytes from the wire can never break a
 * line of EVE JSON: '"' and '\\' are escaped, control characters become \b \f \n \r \t or
 * \u00XX, and bytes that are not part of valid UTF-8 (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF) become \u00XX of the byte, as Suricata writes them.
 * Valid UTF-8 sequences are copied as they are.
 *
 * Overflow is safe: once the buffer is full the writer stops writing, marks itself truncated
 * and json_writer_finish() reports -ENOSPC; the buffer then holds an incomplete document that
 * the caller must not emit. The buffer is always NUL-terminated when cap > 0.
 *
 * Commas are placed automatically: call jw_key()/jw_kv_*() inside objects and the value
 * functions (jw_str(), jw_u64(), ...) inside arrays. A json_writer is used by one thread.
 */
#ifndef TRIPLINE_JSON_WRITER_H
#define TRIPLINE_JSON_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct json_writer {
    char *buf;
    size_t cap; /* bytes at buf, including room for the final NUL */
    size_t len; /* bytes written so far (excluding the NUL) */
    bool truncated;
    bool need_comma;
};

/* Starts a document at buf[0]. */
void json_writer_init(struct json_writer *w, char *buf, size_t cap);
/* Continues a document whose first `len` bytes are already in buf (e.g. after a prefix). */
void json_writer_init_at(struct json_writer *w, char *buf, size_t cap, size_t len);

/* 0 when everything fit, -ENOSPC when the output was truncated. */
int json_writer_finish(const struct json_writer *w);

/* Structure. */
void jw_open_object(struct json_writer *w);
void jw_close_object(struct json_writer *w);
void jw_open_array(struct json_writer *w);
void jw_close_array(struct json_writer *w);

/* Object key (escaped); the next call writes its value. */
void jw_key(struct json_writer *w, const char *key);
void jw_key_n(struct json_writer *w, const char *key, size_t len);

/* Values (in arrays, or after jw_key()). */
void jw_str(struct json_writer *w, const char *s);               /* NULL writes null */
void jw_str_n(struct json_writer *w, const void *s, size_t len); /* arbitrary bytes, NUL included */
void jw_u64(struct json_writer *w, uint64_t v);
void jw_i64(struct json_writer *w, int64_t v);
void jw_double(struct json_writer *w, double v); /* NaN/inf write null (JSON has none) */
void jw_bool(struct json_writer *w, bool v);
void jw_null(struct json_writer *w);
/* Pre-formatted JSON text inserted as one value; the caller vouches it is valid JSON. */
void jw_raw(struct json_writer *w, const char *json, size_t len);

/* key + value shorthands. */
void jw_kv_str(struct json_writer *w, const char *key, const char *s);
void jw_kv_str_n(struct json_writer *w, const char *key, const void *s, size_t len);
void jw_kv_u64(struct json_writer *w, const char *key, uint64_t v);
void jw_kv_i64(struct json_writer *w, const char *key, int64_t v);
void jw_kv_double(struct json_writer *w, const char *key, double v);
void jw_kv_bool(struct json_writer *w, const char *key, bool v);

/* Appends bytes verbatim (no comma handling): for framing such as the final newline. */
void jw_append_raw(struct json_writer *w, const char *s, size_t len);

/* Writes the escaped form of s (without quotes) into out; returns the length it needs (like
 * snprintf). Useful where a string is built outside a writer. */
size_t jw_escape(char *out, size_t cap, const void *s, size_t len);

#endif
