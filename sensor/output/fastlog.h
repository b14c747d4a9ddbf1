/* fast.log: one line per alert in Suricata's format (src/alert-fastlog.c, AlertFastLogger):
 *
 *   MM/DD/YYYY-hh:mm:ss.uuuuuu  [**] [gid:sid:rev] msg [**] [Classification: class] [Priority: N] {PROTO} src:sp -> dst:dp
 *
 * Time in the process's local time zone (TZ), as Suricata's CreateTimeString; "[wDrop] " (or
 * "[Drop] " inline) before the first [**] for drop/reject rules; class is the classtype's
 * description, "(null)" for a rule without classtype (what Suricata prints); PROTO as EVE's proto
 * name, "PROTO:NNN" for others; IPv6 addresses as Suricata's PrintInet writes them (eight groups
 * of four hex digits, no brackets); ICMP type and code in the port places; the packet's
 * direction. Formatting happens in the output thread (outputs), never on the packet path. */
#ifndef TRIPLINE_FASTLOG_H
#define TRIPLINE_FASTLOG_H

#include <stdbool.h>
#include <stddef.h>

#include "eve_format.h"

struct event;

/* Formats alert ev as one fast.log line with its newline into buf (NUL-terminated); *len gets
 * the length. o gives the rule information (rule_info callback or the alert's rule_meta), the
 * inline mode and the pseudonymisation, as for EVE. Returns 0, -EINVAL when ev is not an
 * EVENT_ALERT, -ENOSPC when cap is too small. Reentrant. */
int fastlog_format(const struct eve_format_opts *o, const struct event *ev, char *buf, size_t cap,
                   size_t *len);

#endif
