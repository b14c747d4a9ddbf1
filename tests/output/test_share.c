/* tools/share: alerts from an eve.json (written by an eve-file output) as a STIX 2.1 bundle
 * (every reference resolves inside the bundle, sightings point at observed-data, TLP marking)
 * and as a MISP event (TLP tag, one network-connection object per alert); severity filter. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "out_util.h"
#include "share.h"

static struct share *load(const char *eve, enum share_tlp tlp, int min_sev)
{
    struct share_opts o = {.tlp = tlp, .min_severity = min_sev};
    struct share *s = share_new(&o);
    size_t n;
    char **l = tu_read_lines(eve, &n);
    for (size_t i = 0; i < n; i++)
        assert_true(share_add_line(s, l[i], strlen(l[i])) >= 0);
    tu_free_lines(l, n);
    return s;
}

static void make_eve(const char *eve)
{
    struct output_config c;
    char err[256];
    output_config_default(&c);
    output_config_set(&c, "filename", eve, err, sizeof(err));
    output_config_set(&c, "sensor-id", "cert-dk-probe-3", err, sizeof(err));
    struct outputs *o = outputs_new(&c, 1, err, sizeof(err));
    assert_non_null(o);
    for (unsigned i = 0; i < 10; i++) {
        struct event e = i < 6 ? tu_alert_event(i % 3, (uint8_t)(1 + i % 3)) : tu_flow_event(i);
        outputs_write_event(o, &e);
    }
    outputs_free(o);
}

static json_t *by_id(json_t *objs, const char *id)
{
    size_t i;
    json_t *x;
    json_array_foreach(objs, i, x)
        if (!strcmp(json_string_value(json_object_get(x, "id")), id))
            return x;
    return NULL;
}

static unsigned count_type(json_t *objs, const char *type)
{
    unsigned n = 0;
    size_t i;
    json_t *x;
    json_array_foreach(objs, i, x)
        n += !strcmp(json_string_value(json_object_get(x, "type")), type);
    return n;
}

static void test_stix(void **state)
{
    (void)state;
    char *dir = tu_tmpdir("share");
    char eve[300];
    snprintf(eve, sizeof(eve), "%s/eve.json", dir);
    make_eve(eve);
    struct share *s = load(eve, SHARE_TLP_AMBER, 0);
    assert_int_equal(share_alerts(s), 6);
    assert_int_equal(share_skipped(s), 4);
    json_t *b = share_stix_bundle(s);
    assert_string_equal(json_string_value(json_object_get(b, "type")), "bundle");
    json_t *objs = json_object_get(b, "objects");
    assert_int_equal(count_type(objs, "sighting"), 6);
    assert_int_equal(count_type(objs, "observed-data"), 6);
    assert_int_equal(count_type(objs, "attack-pattern"), 3); /* three distinct signatures */
    assert_int_equal(count_type(objs, "identity"), 1);
    json_t *mark = by_id(objs, "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82");
    assert_non_null(mark);
    assert_string_equal(json_string_value(json_object_get(json_object_get(mark, "definition"), "tlp")), "amber");
    size_t i;
    json_t *x;
    json_array_foreach(objs, i, x) {
        const char *type = json_string_value(json_object_get(x, "type"));
        if (strcmp(type, "sighting"))
            continue;
        json_t *ap = by_id(objs, json_string_value(json_object_get(x, "sighting_of_ref")));
        assert_non_null(ap);
        assert_string_equal(json_string_value(json_object_get(ap, "type")), "attack-pattern");
        json_t *od = by_id(objs, json_string_value(json_array_get(json_object_get(x, "observed_data_refs"), 0)));
        assert_non_null(od);
        assert_int_equal(json_integer_value(json_object_get(od, "number_observed")), 1);
        size_t k;
        json_t *ref;
        json_array_foreach(json_object_get(od, "object_refs"), k, ref)
            assert_non_null(by_id(objs, json_string_value(ref)));
        assert_non_null(by_id(objs, json_string_value(json_array_get(json_object_get(x, "where_sighted_refs"), 0))));
        const char *ts = json_string_value(json_object_get(x, "first_seen"));
        assert_int_equal(strlen(ts), 24); /* 2023-11-14T22:13:20.001Z */
        assert_int_equal(ts[23], 'Z');
    }
    json_t *ident = json_array_get(objs, 1);
    assert_string_equal(json_string_value(json_object_get(ident, "name")), "cert-dk-probe-3");
    json_decref(b);
    share_free(s);
    tu_rmrf(dir);
    free(dir);
}

static void test_misp(void **state)
{
    (void)state;
    char *dir = tu_tmpdir("share");
    char eve[300];
    snprintf(eve, sizeof(eve), "%s/eve.json", dir);
    make_eve(eve);
    struct share *s = load(eve, SHARE_TLP_RED, 2); /* severities 1 and 2 only */
    assert_int_equal(share_alerts(s), 4);
    json_t *m = share_misp_event(s);
    json_t *ev = json_object_get(m, "Event");
    assert_non_null(ev);
    assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(ev, "Tag"), 0), "name")),
                        "tlp:red");
    assert_string_equal(json_string_value(json_object_get(ev, "threat_level_id")), "1");
    json_t *objs = json_object_get(ev, "Object");
    assert_int_equal(json_array_size(objs), 4);
    json_t *o0 = json_array_get(objs, 0);
    assert_string_equal(json_string_value(json_object_get(o0, "name")), "network-connection");
    bool src = false, dst = false;
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(o0, "Attribute"), i, a) {
        const char *rel = json_string_value(json_object_get(a, "object_relation"));
        src |= !strcmp(rel, "ip-src") && !strcmp(json_string_value(json_object_get(a, "value")), "10.0.0.0");
        dst |= !strcmp(rel, "ip-dst");
    }
    assert_true(src);
    assert_true(dst);
    json_decref(m);
    share_free(s);
    tu_rmrf(dir);
    free(dir);
}

int main(void)
{
    setenv("TZ", "UTC", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stix),
        cmocka_unit_test(test_misp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
