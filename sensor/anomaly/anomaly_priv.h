/* sensor/anomaly internals shared by its .c files and its unit tests. Not a public header. */
#ifndef TRIPLINE_ANOMALY_PRIV_H
#define TRIPLINE_ANOMALY_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "anomaly.h"

/* A DNS question name as the detectors see it. */
struct anomaly_dns_q {
    char name[256];      /* lower case, dotted, no trailing dot */
    uint16_t name_len;
    uint16_t qtype;
    uint16_t domain_off; /* offset in name of the registered domain ("example.com") */
    uint16_t sub_len;    /* bytes before the registered domain (without its dot) */
    uint8_t labels;
};

/* Extracts the first question of a DNS query message (RFC 1035 4.1.1, 4.1.2). Bounded: at most
 * 255 bytes of name, 63 per label, no compression in the question. Returns 0, -EINVAL for a
 * malformed or non-query message, -ENODATA when there is no question. */
int anomaly_dns_parse_query(const uint8_t *p, size_t len, struct anomaly_dns_q *q);

/* Severity 1 (highest) .. 4 from a magnitude ratio (value / threshold, >= 1) and the asset
 * criticality 1 (most critical) .. 4. See README.md for the table. */
uint8_t anomaly_severity(double ratio, unsigned criticality);

/* Longest-prefix match of an address against the configured networks: index or -1. */
int anomaly_net_match(const struct anomaly_config *cfg, const uint8_t *addr, bool v6);

/* Parses "a.b.c.d[/n]" or an IPv6 "x::y[/n]". Returns 0 or -EINVAL. */
int anomaly_parse_prefix(const char *s, uint8_t addr[16], uint8_t *prefix, bool *v6);

#endif
