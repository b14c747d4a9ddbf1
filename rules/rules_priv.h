/* rules/ internals shared between its source files. */
#ifndef TRIPLINE_RULES_PRIV_H
#define TRIPLINE_RULES_PRIV_H

#include <xxhash.h>

#include "rules_core.h"

const char *rules_vars_get(const struct rules_vars *v, const char *name, size_t name_len,
                           bool is_port);
void rules_vars_hash(const struct rules_vars *v, XXH3_state_t *st);

/* Parse an address / port expression (variables resolved). 0 or -errno with *err set. */
int rules_parse_addrs(const struct rules_vars *vars, const char *s, struct rule_addrs *out,
                      const char **err);
int rules_parse_ports(const struct rules_vars *vars, const char *s, struct rule_ports *out,
                      const char **err);
void rules_addrs_free(struct rule_addrs *a);

/* classification.config text used when the load config names none. */
extern const char rules_default_classification[];

#endif
