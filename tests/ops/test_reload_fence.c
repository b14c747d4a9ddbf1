/* Unit tests of the reload's event fence (reload.h step 5): a replaced rule generation (its
 * ruleset: the rule metadata alert events point at) stays alive while an alert it produced is
 * still queued for the output, is freed once the output has consumed past every worker's fence,
 * and at most two generations are ever alive. Run under ASan, a generation freed too early shows
 * as a use-after-free when the "output" reads the queued alert's rule. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "detect.h"
#include "event.h"
#include "reload.h"
#include "ring.h"
#include "rules.h"

static void write_rules(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* A UDP packet 10.0.0.1:1234 -> 10.0.0.2:53 at packet time ts. */
static struct pkt_meta udp_pkt(uint64_t ts)
{
    struct pkt_meta m;
    memset(&m, 0, sizeof(m));
    m.flags = PKT_IPV4 | PKT_UDP | PKT_HAS_L4;
    m.ip_version = 4;
    m.proto = 17;
    m.ttl = 64;
    m.src[0] = 10; /* IPv4 addresses in the first 4 bytes */
    m.src[3] = 1;
    m.dst[0] = 10;
    m.dst[3] = 2;
    m.sport = 1234;
    m.dport = 53;
    m.payload = (const uint8_t *)"q";
    m.payload_len = 1;
    m.ts_ns = ts;
    return m;
}

struct queue {
    struct event ev[16];
    unsigned n;
};

static bool queue_emit(void *ctx, const struct event *ev)
{
    struct queue *q = ctx;
    if (q->n == 16)
        return false;
    q->ev[q->n++] = *ev;
    return true;
}

struct env {
    char dir[64], path[128];
    struct tl_config cfg;
};

static void env_open(struct env *e, const char *rules)
{
    snprintf(e->dir, sizeof(e->dir), "/tmp/test_reload_fence_XXXXXX");
    assert_non_null(mkdtemp(e->dir));
    snprintf(e->path, sizeof(e->path), "%s/r.rules", e->dir);
    write_rules(e->path, rules);
    assert_int_equal(config_init(&e->cfg), 0);
    snprintf(e->cfg.rule_files[0], sizeof(e->cfg.rule_files[0]), "%s", e->path);
    e->cfg.n_rule_files = 1;
}

static void env_close(struct env *e)
{
    config_release(&e->cfg);
    unlink(e->path);
    rmdir(e->dir);
}

static unsigned alive(struct reload *r)
{
    struct reload_stats st;
    reload_get_stats(r, &st);
    return st.generations_alive;
}

/* One worker's alert is queued across a reload: the old generation must outlive it. */
static void test_fence_holds_queued_alert(void **state)
{
    (void)state;
    struct env e;
    env_open(&e, "alert udp any any -> any any (msg:\"first rule set\"; sid:101; rev:1;)\n");
    char err[512], msg[1024];
    struct reload *r = reload_new(&e.cfg, 2, NULL, err, sizeof(err));
    assert_non_null(r);
    assert_int_equal(alive(r), 1);
    struct detect_thread *dt[2];
    uint64_t gen[2] = {1, 1}, seq[2] = {0, 0};
    for (unsigned i = 0; i < 2; i++)
        assert_non_null(dt[i] = detect_thread_new(reload_engine(r)));

    /* worker 0 emits an alert of generation 1; the output has not written it yet */
    struct queue q = {.n = 0};
    struct pkt_meta m = udp_pkt(1000000000ull);
    assert_int_equal(detect_packet(dt[0], &m, NULL, FLOW_TO_SERVER, queue_emit, &q), 1);
    seq[0] = q.n;
    assert_int_equal(q.ev[0].u.alert.rule->sid, 101);

    write_rules(e.path, "alert udp any any -> any any (msg:\"second rule set\"; sid:201; rev:1;)\n"
                        "alert tcp any any -> any 9 (msg:\"unused\"; sid:202; rev:1;)\n");
    /* the workers are not running: nobody switches within the wait */
    assert_int_equal(reload_rules(r, 20, NULL, msg, sizeof(msg)), 0);
    assert_non_null(strstr(msg, "0 of 2 workers switched"));
    struct reload_stats st;
    reload_get_stats(r, &st);
    assert_int_equal(st.generation, 2);
    assert_int_equal(st.rules_loaded, 2);
    assert_int_equal(st.generations_alive, 2);

    /* both switch (worker 0 after one event, worker 1 after none) */
    for (unsigned i = 0; i < 2; i++) {
        reload_worker_switch(r, i, &dt[i], NULL, &gen[i], 2000000000ull, seq[i]);
        assert_int_equal(gen[i], 2);
    }
    /* every worker switched, but worker 0's alert is still queued: generation 1 stays */
    assert_false(reload_collect(r));
    assert_int_equal(alive(r), 2);

    /* a third generation must wait: never three alive */
    write_rules(e.path, "alert udp any any -> any any (msg:\"third rule set\"; sid:301; rev:1;)\n");
    assert_int_equal(reload_rules(r, 20, NULL, msg, sizeof(msg)), -EBUSY);
    assert_non_null(strstr(msg, "running rules kept"));
    reload_get_stats(r, &st);
    assert_int_equal(st.generation, 2);
    assert_int_equal(st.generations_alive, 2);
    assert_int_equal(st.reloads_failed, 1);

    /* the output writes the queued alert: its rule is generation 1's, still valid (ASan) */
    assert_string_equal(q.ev[0].u.alert.rule->msg, "first rule set");
    assert_int_equal(q.ev[0].u.alert.rule->sid, 101);
    reload_output_progress(r, 0, 1);
    q.n = 0;
    /* past both fences now: generation 1 is freed */
    assert_true(reload_collect(r));
    assert_int_equal(alive(r), 1);

    /* the new rules match */
    assert_int_equal(detect_packet(dt[1], &m, NULL, FLOW_TO_SERVER, queue_emit, &q), 1);
    seq[1] += q.n;
    assert_string_equal(q.ev[0].u.alert.rule->msg, "second rule set");
    reload_output_progress(r, 1, q.n);

    /* and the next reload goes through */
    assert_int_equal(reload_rules(r, 20, NULL, msg, sizeof(msg)), 0);
    reload_get_stats(r, &st);
    assert_int_equal(st.generation, 3);
    assert_int_equal(st.rules_loaded, 1);
    assert_int_equal(st.generations_alive, 2);
    for (unsigned i = 0; i < 2; i++)
        reload_worker_switch(r, i, &dt[i], NULL, &gen[i], 3000000000ull, seq[i]);
    assert_true(reload_collect(r)); /* the output had written everything before the switch */
    assert_int_equal(alive(r), 1);

    for (unsigned i = 0; i < 2; i++)
        detect_thread_free(dt[i]);
    reload_free(r);
    env_close(&e);
}

/* A worker that finished without switching holds the old generation until reload_free(). */
static void test_fence_exited_worker(void **state)
{
    (void)state;
    struct env e;
    env_open(&e, "alert udp any any -> any any (msg:\"a\"; sid:1; rev:1;)\n");
    char err[512], msg[1024];
    struct reload *r = reload_new(&e.cfg, 2, NULL, err, sizeof(err));
    assert_non_null(r);
    struct detect_thread *dt[2];
    uint64_t gen[2] = {1, 1};
    for (unsigned i = 0; i < 2; i++)
        assert_non_null(dt[i] = detect_thread_new(reload_engine(r)));
    write_rules(e.path, "alert udp any any -> any any (msg:\"b\"; sid:2; rev:1;)\n");
    assert_int_equal(reload_rules(r, 20, NULL, msg, sizeof(msg)), 0);
    reload_worker_switch(r, 0, &dt[0], NULL, &gen[0], 1, 0);
    reload_worker_exit(r, 1); /* finished on generation 1 */
    assert_false(reload_collect(r));
    assert_int_equal(alive(r), 2);
    assert_int_equal(reload_rules(r, 20, NULL, msg, sizeof(msg)), -ESHUTDOWN);
    for (unsigned i = 0; i < 2; i++)
        detect_thread_free(dt[i]);
    reload_free(r); /* frees both generations (ASan: no leak) */
    env_close(&e);
}

/* ---- concurrent: worker threads emit alerts through rings to an output thread ------------- */

enum { NW = 2, RELOADS = 20 };

struct shared {
    struct reload *r;
    atomic_bool stop_workers, stop_output;
    atomic_uint bad;          /* alerts whose rule text did not match its sid */
    atomic_uint last_gen_seen; /* highest generation of an alert the output wrote */
    _Atomic uint64_t written;
    struct spsc_ring *ring[NW];
};

struct wk {
    struct shared *sh;
    unsigned id;
    struct detect_thread *dt;
    uint64_t gen, seq;
    pthread_t thr;
};

static bool ring_emit(void *ctx, const struct event *ev)
{
    struct wk *w = ctx;
    while (spsc_ring_enqueue_burst(w->sh->ring[w->id], ev, 1) == 0)
        sched_yield(); /* the output thread drains it */
    w->seq++;
    return true;
}

static void *worker_main(void *arg)
{
    struct wk *w = arg;
    uint64_t ts = 1000000000ull;
    while (!atomic_load(&w->sh->stop_workers)) {
        /* a batch boundary */
        if (reload_generation(w->sh->r) != w->gen)
            reload_worker_switch(w->sh->r, w->id, &w->dt, NULL, &w->gen, ts, w->seq);
        for (unsigned k = 0; k < 4; k++) {
            struct pkt_meta m = udp_pkt(ts += 1000);
            detect_packet(w->dt, &m, NULL, FLOW_TO_SERVER, ring_emit, w);
        }
        struct timespec d = {0, 100000};
        nanosleep(&d, NULL);
    }
    reload_worker_exit(w->sh->r, w->id);
    return NULL;
}

/* Generation g's rules: one UDP rule (sid 10 * g, message naming g) that matches every packet,
 * and g % 3 TCP rules that never match here (rule counts differ between generations). */
static void gen_rules(unsigned g, char *out, size_t cap)
{
    size_t n = (size_t)snprintf(out, cap,
                                "alert udp any any -> any any (msg:\"rules of generation %u, a text the "
                                "output reads from the rule\"; sid:%u; rev:1;)\n",
                                g, 10 * g);
    for (unsigned j = 0; j < g % 3; j++)
        n += (size_t)snprintf(out + n, cap - n,
                              "alert tcp any any -> any 9 (msg:\"never %u\"; sid:%u; rev:1;)\n", j,
                              10 * g + 1 + j);
}

static void *output_main(void *arg)
{
    struct shared *sh = arg;
    struct event ev[32];
    for (;;) {
        bool stopping = atomic_load(&sh->stop_output);
        unsigned got = 0;
        for (unsigned i = 0; i < NW; i++) {
            unsigned n = spsc_ring_dequeue_burst(sh->ring[i], ev, 32);
            for (unsigned k = 0; k < n; k++) {
                /* what an output does with an alert: read its rule's metadata */
                const struct rule_meta *rm = ev[k].u.alert.rule;
                char want[160];
                snprintf(want, sizeof(want),
                         "rules of generation %u, a text the output reads from the rule", rm->sid / 10);
                if (ev[k].type != EVENT_ALERT || rm->sid % 10 != 0 || strcmp(rm->msg, want) != 0)
                    atomic_fetch_add(&sh->bad, 1);
                if (rm->sid / 10 > atomic_load(&sh->last_gen_seen))
                    atomic_store(&sh->last_gen_seen, rm->sid / 10);
            }
            reload_output_progress(sh->r, i, n);
            atomic_fetch_add(&sh->written, n);
            got += n;
        }
        if (got == 0) {
            if (stopping)
                return NULL;
            sched_yield();
        }
    }
}

static void test_fence_concurrent_reloads(void **state)
{
    (void)state;
    char text[1024], err[512], msg[1024];
    struct env e;
    gen_rules(1, text, sizeof(text));
    env_open(&e, text);
    struct shared sh;
    memset(&sh, 0, sizeof(sh));
    atomic_init(&sh.stop_workers, false);
    atomic_init(&sh.stop_output, false);
    atomic_init(&sh.bad, 0);
    atomic_init(&sh.last_gen_seen, 0);
    atomic_init(&sh.written, 0);
    assert_non_null(sh.r = reload_new(&e.cfg, NW, NULL, err, sizeof(err)));
    struct wk w[NW];
    pthread_t out;
    for (unsigned i = 0; i < NW; i++) {
        assert_non_null(sh.ring[i] = spsc_ring_new(64, sizeof(struct event)));
        w[i] = (struct wk){.sh = &sh, .id = i, .gen = 1};
        assert_non_null(w[i].dt = detect_thread_new(reload_engine(sh.r)));
    }
    assert_int_equal(pthread_create(&out, NULL, output_main, &sh), 0);
    for (unsigned i = 0; i < NW; i++)
        assert_int_equal(pthread_create(&w[i].thr, NULL, worker_main, &w[i]), 0);

    unsigned max_alive = 0;
    for (unsigned g = 2; g <= RELOADS + 1; g++) {
        gen_rules(g, text, sizeof(text));
        write_rules(e.path, text);
        /* this thread is the control thread: reload, then collect until the old one is gone */
        assert_int_equal(reload_rules(sh.r, 30000, NULL, msg, sizeof(msg)), 0);
        struct reload_stats st;
        reload_get_stats(sh.r, &st);
        assert_int_equal(st.generation, g);
        assert_int_equal(st.rules_loaded, 1 + g % 3);
        max_alive = st.generations_alive > max_alive ? st.generations_alive : max_alive;
        for (unsigned t = 0; t < 30000 && !reload_collect(sh.r); t++) {
            reload_get_stats(sh.r, &st);
            max_alive = st.generations_alive > max_alive ? st.generations_alive : max_alive;
            usleep(1000);
        }
        assert_true(reload_collect(sh.r));
        assert_int_equal(alive(sh.r), 1);
    }
    /* 2 while a reload's old generation waited for the output (or 1 throughout, when the output
     * always caught up within reload_rules()); never more */
    assert_true(max_alive >= 1 && max_alive <= 2);
    /* let the last generation reach the output before stopping */
    for (unsigned t = 0; t < 30000 && atomic_load(&sh.last_gen_seen) < RELOADS + 1; t++)
        usleep(1000);
    atomic_store(&sh.stop_workers, true);
    for (unsigned i = 0; i < NW; i++)
        pthread_join(w[i].thr, NULL);
    atomic_store(&sh.stop_output, true);
    pthread_join(out, NULL);
    assert_int_equal(atomic_load(&sh.bad), 0);
    assert_int_equal(atomic_load(&sh.last_gen_seen), RELOADS + 1);
    assert_true(atomic_load(&sh.written) > 0);
    for (unsigned i = 0; i < NW; i++) {
        assert_int_equal(w[i].gen, RELOADS + 1);
        detect_thread_free(w[i].dt);
        spsc_ring_free(sh.ring[i]);
    }
    reload_free(sh.r);
    env_close(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fence_holds_queued_alert),
        cmocka_unit_test(test_fence_exited_worker),
        cmocka_unit_test(test_fence_concurrent_reloads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
