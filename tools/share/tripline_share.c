/* tripline-share: alerts from an eve.json as a STIX 2.1 bundle or a MISP event.
 *   tripline-share (--stix | --misp) [--tlp clear|green|amber|red] [--min-severity N]
 *                  [--producer NAME] [EVE.json | -]
 * Writes the document to stdout. Exit 0, or 2 on usage / I/O errors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "share.h"

static int usage(void)
{
    fprintf(stderr, "usage: tripline-share (--stix | --misp) [--tlp clear|green|amber|red] "
                    "[--min-severity N] [--producer NAME] [EVE.json | -]\n");
    return 2;
}

int main(int argc, char **argv)
{
    struct share_opts o = {.tlp = SHARE_TLP_AMBER};
    int fmt = 0; /* 1 stix, 2 misp */
    const char *in = "-";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--stix")) fmt = 1;
        else if (!strcmp(argv[i], "--misp")) fmt = 2;
        else if (!strcmp(argv[i], "--tlp") && i + 1 < argc) {
            if (share_tlp_parse(argv[++i], &o.tlp) < 0)
                return usage();
        } else if (!strcmp(argv[i], "--min-severity") && i + 1 < argc) o.min_severity = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--producer") && i + 1 < argc) o.producer = argv[++i];
        else if (argv[i][0] == '-' && argv[i][1]) return usage();
        else in = argv[i];
    }
    if (!fmt)
        return usage();
    FILE *f = strcmp(in, "-") ? fopen(in, "r") : stdin;
    if (!f) {
        perror(in);
        return 2;
    }
    struct share *s = share_new(&o);
    if (!s)
        return 2;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, f)) >= 0)
        if (share_add_line(s, line, (size_t)n) < 0)
            return 2;
    free(line);
    if (f != stdin)
        fclose(f);
    json_t *doc = fmt == 1 ? share_stix_bundle(s) : share_misp_event(s);
    int rc = doc && json_dumpf(doc, stdout, JSON_INDENT(2)) == 0 ? 0 : 2;
    putchar('\n');
    fprintf(stderr, "tripline-share: %u alerts exported, %u lines skipped\n", share_alerts(s), share_skipped(s));
    json_decref(doc);
    share_free(s);
    return rc;
}
