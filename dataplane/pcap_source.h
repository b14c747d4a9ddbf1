/* Capture files and live libpcap capture as a packet source.
 *
 * Opens classic pcap and pcapng files (micro- or nanosecond timestamps) through libpcap,
 * which hands out one packet at a time; the view points into libpcap's buffer and is valid
 * until the next call. Not thread-safe: one reader thread owns a source.
 */
#ifndef TRIPLINE_PCAP_SOURCE_H
#define TRIPLINE_PCAP_SOURCE_H

#include "dataplane.h"

struct dp_pcap;

/* Opens a capture file. On failure returns NULL and writes a message naming the file and what
 * is wrong (missing, a directory, empty, wrong magic, unsupported link type) into err. */
struct dp_pcap *dp_pcap_open_file(const char *path, char *err, size_t errlen);

/* Opens a live interface (promiscuous, snaplen 65535, immediate mode). bpf may be NULL. */
struct dp_pcap *dp_pcap_open_live(const char *iface, const char *bpf, char *err, size_t errlen);

/* Opens a capture held in memory (used by the fuzz harness and tests). buf must outlive it. */
struct dp_pcap *dp_pcap_open_memory(const void *buf, size_t len, char *err, size_t errlen);

/* Reads the next packet. Returns 1 with *pkt filled, 0 at end of file (or timeout on a live
 * source: call again), or -EIO on a read error, with a message naming the file and the record
 * number in dp_pcap_error(). Packets cut by the snaplen are returned and counted. */
int dp_pcap_next(struct dp_pcap *src, struct dp_packet *pkt);

/* Last error message, "" if none. */
const char *dp_pcap_error(const struct dp_pcap *src);

/* Link type of the capture (enum dp_linktype value), and whether the decoder supports it. */
int dp_pcap_linktype(const struct dp_pcap *src);
bool dp_linktype_supported(int linktype);

/* Progress: bytes of the file consumed and the file's size (0 for live sources). */
uint64_t dp_pcap_offset(const struct dp_pcap *src);
uint64_t dp_pcap_size(const struct dp_pcap *src);

/* Counters, including kernel drops for live capture. Safe from the owning thread only. */
void dp_pcap_stats(struct dp_pcap *src, struct dp_source_stats *out);
uint64_t dp_pcap_snaplen_cut(const struct dp_pcap *src);

/* Makes a blocking live read return (from a signal handler or another thread). */
void dp_pcap_break(struct dp_pcap *src);

void dp_pcap_close(struct dp_pcap *src);

#endif
