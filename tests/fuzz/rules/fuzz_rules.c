/* libFuzzer harness for the rule parser: the input is rule text (several lines, continuations,
 * comments) loaded with the default variables; the first line may also be tried as a variable
 * value, so address/port expressions get fuzzed through $FUZZ. Anything may come back as a
 * failed rule; nothing may crash, leak or read out of bounds. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rules.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536)
        return 0;
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = 0;
    struct rules_vars *vars = rules_vars_new();
    if (vars) {
        /* first line as a variable value (addresses and ports) */
        char *nl = strchr(text, '\n');
        size_t l = nl ? (size_t)(nl - text) : size;
        char *v = strndup(text, l);
        if (v) {
            rules_vars_set_address(vars, "FUZZ_NET", v);
            rules_vars_set_port(vars, "FUZZ_PORTS", v);
            free(v);
        }
    }
    struct rules_load_config cfg;
    rules_load_config_default(&cfg);
    cfg.vars = vars;
    struct rules_report *rep = rules_report_new();
    char err[128];
    struct ruleset *rs = ruleset_load_string(&cfg, text, "fuzz", rep, err, sizeof(err));
    if (rs) {
        for (unsigned i = 0; i < ruleset_count(rs); i++) {
            const struct rule_meta *m = ruleset_meta(rs, i);
            if (!m || !m->msg)
                abort();
        }
    }
    for (unsigned i = 0; i < rules_report_n_reasons(rep); i++)
        (void)rules_report_reason(rep, i, NULL);
    ruleset_free(rs);
    rules_report_free(rep);
    rules_vars_free(vars);
    free(text);
    return 0;
}
