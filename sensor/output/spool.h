/* On-disk spool of one network output: append-only segment files of checksummed frames.
 *
 * Files: <dir>/seg-<first seq, 20 digits>.spl, each starting with the 8-byte magic "TLSPOOL1",
 * then frames: magic u32, length u32, seq u64, key u64, ts_ns u64, severity u8, class u8, 2 pad
 * bytes, CRC-32 (zlib) u32 of everything after the magic except the crc itself plus the payload,
 * then the payload. Host byte order: a spool is local to its machine.
 * Segments sort by the sequence number of their first record, so records spooled from the memory
 * queue at shutdown (older than the spool's) still come out first at the next start.
 *
 * A corrupt frame (bad checksum or length) is reported with the file name and offset, skipped,
 * and reading resumes at the next frame that checks out: the rest is still sent.
 *
 * Not thread-safe: the owner serialises calls (the network output holds its mutex).
 * Reading: spool_peek() returns up to n records from the oldest segment without removing them;
 * spool_consume() removes the first n records returned by the last peek once they are delivered.
 * A segment file is deleted when all its records are consumed.
 */
#ifndef TRIPLINE_SPOOL_H
#define TRIPLINE_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct spool;

/* One record, owned by whoever allocated it (spool_peek() allocates with malloc: free with
 * spool_record_free()). */
struct spool_record {
    uint64_t seq;
    uint64_t key;   /* kafka key by flow */
    uint64_t ts_ns; /* creation time (wall clock), for syslog's TIMESTAMP */
    uint8_t severity;
    uint8_t cls;
    uint32_t len;
    char data[]; /* the JSON line, len bytes, NUL-terminated */
};

struct spool_record *spool_record_new(uint64_t seq, uint64_t key, uint64_t ts_ns, uint8_t severity,
                                      uint8_t cls, const char *data, uint32_t len);
void spool_record_free(struct spool_record *r);

/* Called for each problem found while reading (corrupt frame, unreadable file): a complete
 * human-readable message. */
typedef void (*spool_log_fn)(void *ctx, const char *msg);

/* Opens (creating) dir and scans the segments already there: counts records and bytes, reports
 * corrupt frames. max_bytes bounds the sum of segment sizes. NULL with err on failure. */
struct spool *spool_open(const char *dir, uint64_t max_bytes, spool_log_fn log, void *log_ctx,
                         char *err, size_t errlen);

/* Appends a record. Returns 0, -ENOSPC when the spool is full (the record is not written),
 * or -errno on an I/O error. */
int spool_append(struct spool *sp, const struct spool_record *r);

/* Closes the segment being written so that the next append starts a new one. */
void spool_seal(struct spool *sp);

/* Up to n of the oldest records not yet returned since the last consume, in order; out[i] are
 * malloc'd copies. Returns the count (0: empty). Corrupt frames are skipped and counted. */
unsigned spool_peek(struct spool *sp, struct spool_record **out, unsigned n);

/* Removes the first n records of the last peek (they were delivered). */
void spool_consume(struct spool *sp, unsigned n);

/* Forgets what the last peek returned so that the next peek returns them again. */
void spool_unpeek(struct spool *sp);

uint64_t spool_records(const struct spool *sp); /* records in the spool (not consumed) */
uint64_t spool_bytes(const struct spool *sp);   /* bytes on disk */
uint64_t spool_corrupt(const struct spool *sp); /* corrupt frames met so far */
bool spool_empty(const struct spool *sp);       /* no record left to peek */

/* The last record in the spool (highest seq) as found at open, or NULL: lets the chain and the
 * sequence numbers continue after a restart. Owned by the spool. */
const struct spool_record *spool_last_at_open(const struct spool *sp);

/* Flushes the segment being written to the kernel. */
void spool_flush(struct spool *sp);

/* Closes files; the segments stay on disk for the next start. NULL is a no-op. */
void spool_close(struct spool *sp);

#endif
