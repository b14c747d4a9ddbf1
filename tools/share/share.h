/* Sharing formats for CSIRT exchange: alerts from an eve.json turned into a STIX 2.1 bundle
 * (identity of the sensor, TLP marking, one attack-pattern per signature, and per alert the
 * observed SCOs, an observed-data and a sighting) or a MISP event (TLP tag, one
 * network-connection object per alert). Used by tools/share and its tests. */
#ifndef TRIPLINE_SHARE_H
#define TRIPLINE_SHARE_H

#include <stdio.h>

#include <jansson.h>

enum share_tlp { SHARE_TLP_CLEAR = 0, SHARE_TLP_GREEN, SHARE_TLP_AMBER, SHARE_TLP_RED };

struct share_opts {
    enum share_tlp tlp;
    int min_severity; /* keep alerts with severity <= this; 0 = all */
    const char *producer; /* identity / org name; NULL: sensor_id or host from the alerts */
};

/* Parses "clear"/"white", "green", "amber", "red". Returns 0 or -1. */
int share_tlp_parse(const char *s, enum share_tlp *out);

struct share;

struct share *share_new(const struct share_opts *o);
/* One EVE line; non-alert and unparsable lines are counted and skipped. Returns 1 if it was
 * taken as an alert, 0 if skipped, -1 on out of memory. */
int share_add_line(struct share *s, const char *line, size_t len);
/* The STIX 2.1 bundle / MISP event (new references; the caller json_decref()s them). */
json_t *share_stix_bundle(struct share *s);
json_t *share_misp_event(struct share *s);
unsigned share_alerts(const struct share *s);
unsigned share_skipped(const struct share *s);
void share_free(struct share *s);

#endif
