/* A capture file read in bursts for the replay drivers (tests/detect/detect_replay,
 * tests/applayer/applayer_replay): up to ENGINE_BATCH packets copied into one arena, each with
 * its 1-based number in the file (Suricata's pcap_cnt), as the engine's reader hands a worker
 * its batches, so the drivers feed pipeline_burst() (engine_burst.h) the way a worker does. */
#ifndef TRIPLINE_TEST_PCAP_BURSTS_H
#define TRIPLINE_TEST_PCAP_BURSTS_H

#include <stddef.h>
#include <stdint.h>

#include "dataplane.h"

struct pcap_bursts;

/* Opens a capture file; NULL with a message in err. */
struct pcap_bursts *pcap_bursts_open(const char *path, char *err, size_t errlen);

/* Reads the next burst: returns how many packets (0 at the end of the file or at a read
 * error), *pkts and *pcap_cnt pointing at them (valid until the next call). A packet larger
 * than the arena is cut to it, as the engine's reader does. */
unsigned pcap_bursts_next(struct pcap_bursts *b, const struct dp_packet **pkts,
                          const uint64_t **pcap_cnt);

/* Packets read so far. */
uint64_t pcap_bursts_count(const struct pcap_bursts *b);

/* NULL is a no-op. */
void pcap_bursts_close(struct pcap_bursts *b);

#endif
