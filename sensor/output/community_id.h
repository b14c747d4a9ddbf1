/* Community ID v1 flow hashing (https://github.com/corelight/community-id-spec).
 *
 * "1:" + base64(sha1(seed . saddr . daddr . proto . 0 . sport . dport)), all in network byte
 * order, with the endpoints ordered so the smaller (address, port) comes first; ICMP and ICMPv6
 * types and codes are mapped to ports as Zeek does (a request/reply pair shares one ID;
 * one-way types are not reordered). Protocols without ports hash the addresses and protocol
 * only. SHA-1 and base64 come from OpenSSL's libcrypto. Thread-safe, no allocation.
 */
#ifndef TRIPLINE_COMMUNITY_ID_H
#define TRIPLINE_COMMUNITY_ID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* "1:" + 28 base64 characters + NUL */
#define COMMUNITY_ID_LEN 31

/* Community ID of a packet or flow tuple. Addresses are 4 (ip_version 4) or 16 bytes. For
 * ICMP (proto 1) and ICMPv6 (58) sport is the type and dport the code, as in struct pkt_meta.
 * Returns 0, or -EINVAL for a bad ip_version or a short buffer (outlen < COMMUNITY_ID_LEN). */
int community_id_v1(uint16_t seed, uint8_t ip_version, const uint8_t *saddr, const uint8_t *daddr,
                    uint8_t proto, uint16_t sport, uint16_t dport, char *out, size_t outlen);

/* Lower level: the ports are used as given (already mapped for ICMP). has_ports false hashes
 * without ports; one_way true keeps the given order. */
int community_id_v1_ports(uint16_t seed, uint8_t ip_version, const uint8_t *saddr,
                          const uint8_t *daddr, uint8_t proto, uint16_t sport, uint16_t dport,
                          bool has_ports, bool one_way, char *out, size_t outlen);

#endif
