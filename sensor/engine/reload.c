/* Rule generations and live reload; see reload.h for the protocol between the control thread
 * and the workers. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "applayer.h"
#include "clock_priv.h"
#include "detect.h"
#include "flow.h"
#include "reload.h"
#include "rules.h"

/* One loaded rule set. Immutable once published, except dts[] slots, each cleared by the worker
 * that takes it. */
struct rules_gen {
    uint64_t id;
    struct rules_vars *vars;
    struct ruleset *rs;
    struct detect_engine *de;
    unsigned loaded, failed;
    double load_ms;
    struct detect_thread **dts; /* per worker, made by the control thread; NULL in generation 1 */
    uint16_t *fb_map;           /* flowbit ids of the previous generation -> this one */
    unsigned n_fb;
    bool fb_identity;
};

struct reload {
    const struct tl_config *cfg;
    unsigned nw;             /* workers sized for (detect threads made per reload) */
    _Atomic unsigned active; /* workers that run: 0 .. active-1 (reload_set_workers) */
    /* published generation: cur is stored before gen (both release); a worker loads gen
     * (acquire) and then cur (acquire) */
    _Atomic(struct rules_gen *) cur;
    _Atomic uint64_t gen;
    /* per worker: the generation it runs (release store after it wrote retired[i]; the control
     * thread's acquire load pairs with it), its switch packet time, whether it finished */
    _Atomic uint64_t *ack;
    _Atomic uint64_t *ack_ts;
    _Atomic bool *exited;
    _Atomic bool any_exited;
    /* per worker event fence (reload.h step 5): fence[i], the number of events worker i had
     * emitted when it switched to the current generation (relaxed store before its ack release
     * store; read after the ack's acquire load); consumed[i], how many of them the output
     * thread has written (release store after writing them; acquire load in retirable()) */
    _Atomic uint64_t *fence;
    _Atomic uint64_t *consumed;
    struct detect_thread **retired; /* per worker: its previous thread, freed after quiescence */
    /* control thread only */
    struct rules_gen *prev; /* generation being left, freed once retirable */
    /* the counters, read by the output thread and the control thread */
    pthread_mutex_t lock;
    struct reload_stats st;
};

static void gen_free(struct rules_gen *g, unsigned nw)
{
    if (!g)
        return;
    if (g->dts)
        for (unsigned i = 0; i < nw; i++)
            detect_thread_free(g->dts[i]);
    free(g->dts);
    free(g->fb_map);
    detect_engine_free(g->de);
    ruleset_free(g->rs);
    rules_vars_free(g->vars);
    free(g);
}

/* Loads cfg's rule files (relative names under rules.default-rule-path) with the configured
 * variables and classification file, prints the load report to out, compiles the detect
 * engine. A file that cannot be read is reported; zero usable rules is an error. */
static struct rules_gen *gen_load(const struct tl_config *cfg, FILE *out, char *err, size_t errlen)
{
    const char *files[TL_MAX_LIST];
    char paths[TL_MAX_LIST][1100];
    uint64_t t0 = mono_ns();
    struct rules_report *rep = NULL;
    struct rules_gen *g = calloc(1, sizeof(*g));

    if (!g || !(g->vars = rules_vars_new()) || !(rep = rules_report_new())) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    for (unsigned i = 0; i < cfg->n_address_groups; i++)
        if (rules_vars_set_address(g->vars, cfg->address_groups[i].name, cfg->address_groups[i].value) < 0) {
            snprintf(err, errlen, "%s: key 'vars.address-groups.%s': bad address group '%s'",
                     config_file(cfg), cfg->address_groups[i].name, cfg->address_groups[i].value);
            goto fail;
        }
    for (unsigned i = 0; i < cfg->n_port_groups; i++)
        if (rules_vars_set_port(g->vars, cfg->port_groups[i].name, cfg->port_groups[i].value) < 0) {
            snprintf(err, errlen, "%s: key 'vars.port-groups.%s': bad port group '%s'",
                     config_file(cfg), cfg->port_groups[i].name, cfg->port_groups[i].value);
            goto fail;
        }
    for (unsigned i = 0; i < cfg->n_rule_files; i++) {
        const char *f = cfg->rule_files[i];
        if (f[0] != '/' && cfg->default_rule_path[0])
            snprintf(paths[i], sizeof(paths[i]), "%s/%s", cfg->default_rule_path, f);
        else
            snprintf(paths[i], sizeof(paths[i]), "%s", f);
        files[i] = paths[i];
    }
    struct rules_load_config lc;
    rules_load_config_default(&lc);
    lc.vars = g->vars;
    lc.classification_path = cfg->classification_file[0] ? cfg->classification_file : NULL;
    lc.threshold_path = cfg->threshold_file[0] ? cfg->threshold_file : NULL;
    applayer_rules_hooks(&lc.applayer); /* http/dns/tls protocols and sticky buffers */
    if (!(g->rs = ruleset_load_files(&lc, files, cfg->n_rule_files, rep, err, errlen)))
        goto fail;
    if (out)
        rules_report_print(rep, out, false);
    g->loaded = rules_report_loaded(rep);
    g->failed = rules_report_failed(rep);
    if (g->loaded == 0 && cfg->n_rule_files) {
        const char *why = rules_report_n_failures(rep) ? rules_report_failure(rep, 0) : NULL;
        snprintf(err, errlen, "no rule could be loaded from %s%s%s%s",
                 cfg->n_rule_files ? files[0] : "(no rule files)",
                 cfg->n_rule_files > 1 ? " and the other rule files" : "", why ? ": " : "",
                 why ? why : "");
        goto fail;
    }
    struct detect_config dc;
    detect_config_default(&dc);
    dc.stream.midstream = cfg->stream_midstream;
    dc.stream.depth = cfg->stream_depth;
    if (!(g->de = detect_engine_new_cfg(g->rs, &dc, err, errlen)))
        goto fail;
    g->load_ms = (double)(mono_ns() - t0) / 1e6;
    rules_report_free(rep);
    return g;
fail:
    rules_report_free(rep);
    gen_free(g, 0);
    return NULL;
}

int reload_flowbit_map(const struct ruleset *from, const struct ruleset *to, uint16_t **map,
                       bool *identity)
{
    unsigned n = 0, m = 0;
    *map = NULL;
    *identity = true;
    while (ruleset_flowbit_name(from, (uint16_t)n))
        n++;
    while (ruleset_flowbit_name(to, (uint16_t)m))
        m++;
    if (n == 0)
        return 0;
    uint16_t *mp = malloc(n * sizeof(*mp));
    if (!mp)
        return -ENOMEM;
    /* names are few (tens to a few thousand) and this runs once per reload, off the workers */
    for (unsigned i = 0; i < n; i++) {
        const char *name = ruleset_flowbit_name(from, (uint16_t)i);
        mp[i] = UINT16_MAX;
        if (i < m && strcmp(name, ruleset_flowbit_name(to, (uint16_t)i)) == 0) {
            mp[i] = (uint16_t)i;
            continue;
        }
        for (unsigned j = 0; j < m; j++)
            if (strcmp(name, ruleset_flowbit_name(to, (uint16_t)j)) == 0) {
                mp[i] = (uint16_t)j;
                break;
            }
        if (mp[i] != i)
            *identity = false;
    }
    *map = mp;
    return (int)n;
}

struct reload *reload_new(const struct tl_config *cfg, unsigned n_workers, FILE *report, char *err,
                          size_t errlen)
{
    struct reload *r = calloc(1, sizeof(*r));
    if (!r) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    r->cfg = cfg;
    r->nw = n_workers ? n_workers : 1;
    pthread_mutex_init(&r->lock, NULL);
    r->ack = calloc(r->nw, sizeof(*r->ack));
    r->ack_ts = calloc(r->nw, sizeof(*r->ack_ts));
    r->exited = calloc(r->nw, sizeof(*r->exited));
    r->retired = calloc(r->nw, sizeof(*r->retired));
    r->fence = calloc(r->nw, sizeof(*r->fence));
    r->consumed = calloc(r->nw, sizeof(*r->consumed));
    if (!r->ack || !r->ack_ts || !r->exited || !r->retired || !r->fence || !r->consumed) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    struct rules_gen *g = gen_load(cfg, report, err, errlen);
    if (!g)
        goto fail;
    g->id = 1;
    for (unsigned i = 0; i < r->nw; i++) {
        atomic_init(&r->ack[i], 1);
        atomic_init(&r->ack_ts[i], 0);
        atomic_init(&r->exited[i], false);
        atomic_init(&r->fence[i], 0);
        atomic_init(&r->consumed[i], 0);
    }
    atomic_init(&r->any_exited, false);
    atomic_init(&r->active, r->nw);
    atomic_init(&r->cur, g);
    atomic_init(&r->gen, 1);
    r->st.generation = 1;
    r->st.rules_loaded = g->loaded;
    r->st.rules_failed = g->failed;
    r->st.workers = r->nw;
    r->st.generations_alive = 1;
    return r;
fail:
    reload_free(r);
    return NULL;
}

const struct detect_engine *reload_engine(const struct reload *r)
{
    return atomic_load_explicit(&((struct reload *)r)->cur, memory_order_acquire)->de;
}

void reload_print_info(const struct reload *r, FILE *out)
{
    struct detect_engine_info info;
    detect_engine_get_info(reload_engine(r), &info);
    fprintf(out, "compiled %u rules into %u Hyperscan database(s), %zu bytes, in %.1f ms\n",
            info.rules, info.databases, info.db_bytes, info.compile_ms);
}

void reload_set_workers(struct reload *r, unsigned n)
{
    if (!r || n == 0 || n >= r->nw)
        return;
    atomic_store_explicit(&r->active, n, memory_order_relaxed);
    pthread_mutex_lock(&r->lock);
    r->st.workers = n;
    pthread_mutex_unlock(&r->lock);
}

uint64_t reload_generation(const struct reload *r)
{
    /* acquire: pairs with the release store in reload_rules(); cur is then the new one */
    return atomic_load_explicit(&((struct reload *)r)->gen, memory_order_acquire);
}

struct remap_ctx {
    const uint16_t *map;
    unsigned n;
};

static void remap_flowbits(void *ctx, struct flow *f)
{
    const struct remap_ctx *rc = ctx;
    unsigned k = 0;
    for (unsigned i = 0; i < f->n_flowbits && i < FLOW_MAX_FLOWBITS; i++) {
        uint16_t id = f->flowbits[i];
        uint16_t nid = id < rc->n ? rc->map[id] : UINT16_MAX;
        if (nid != UINT16_MAX)
            f->flowbits[k++] = nid;
    }
    f->n_flowbits = (uint8_t)k;
}

void reload_worker_switch(struct reload *r, unsigned wid, struct detect_thread **dt,
                          struct flow_table *ft, uint64_t *gen, uint64_t now_ns, uint64_t ev_seq)
{
    /* acquire: pairs with the release store of cur in reload_rules() */
    struct rules_gen *g = atomic_load_explicit(&r->cur, memory_order_acquire);
    if (g->id == *gen || wid >= r->nw)
        return;
    if (!g->dts || !g->dts[wid]) {
        /* generation 1 (the worker's thread was made from it at start; a worker's *gen may
         * start at 0) */
        *gen = g->id;
        return;
    }
    struct detect_thread *ndt = g->dts[wid];
    g->dts[wid] = NULL;
    if (*dt)
        detect_thread_take_stream(ndt, *dt);
    r->retired[wid] = *dt;
    *dt = ndt;
    if (g->n_fb && !g->fb_identity && ft) {
        struct remap_ctx rc = {g->fb_map, g->n_fb};
        flow_table_foreach(ft, remap_flowbits, &rc);
    }
    *gen = g->id;
    atomic_store_explicit(&r->ack_ts[wid], now_ns, memory_order_relaxed);
    atomic_store_explicit(&r->fence[wid], ev_seq, memory_order_relaxed);
    /* release: pairs with the control thread's acquire load in all_switched(); retired[wid],
     * fence[wid] and the worker's last use of its old thread happen before */
    atomic_store_explicit(&r->ack[wid], g->id, memory_order_release);
}

void reload_output_progress(struct reload *r, unsigned wid, unsigned n)
{
    if (!r || wid >= r->nw || n == 0)
        return;
    /* one writer (the output thread): load + store, no read-modify-write. Release: pairs with
     * the acquire load in retirable(); the output thread's reads of these n events (their rule
     * metadata) happen before the control thread frees the generation they came from */
    uint64_t c = atomic_load_explicit(&r->consumed[wid], memory_order_relaxed);
    atomic_store_explicit(&r->consumed[wid], c + n, memory_order_release);
}

void reload_worker_exit(struct reload *r, unsigned wid)
{
    if (!r || wid >= r->nw)
        return;
    atomic_store_explicit(&r->any_exited, true, memory_order_relaxed);
    /* release: pairs with all_switched(); the worker no longer touches its detect thread */
    atomic_store_explicit(&r->exited[wid], true, memory_order_release);
}

/* True when every worker runs generation id. Exited workers count as switched only with
 * allow_exited (their threads are then freed with the sensor, not here). */
static bool all_switched(struct reload *r, uint64_t id, bool allow_exited)
{
    unsigned n = atomic_load_explicit(&r->active, memory_order_relaxed);
    for (unsigned i = 0; i < n; i++) {
        if (atomic_load_explicit(&r->ack[i], memory_order_acquire) == id)
            continue;
        if (allow_exited && atomic_load_explicit(&r->exited[i], memory_order_acquire))
            continue;
        return false;
    }
    return true;
}

/* True when the generation before id can be freed: every running worker switched to id and the
 * output thread has written every event a worker emitted before its switch (its fence). */
static bool retirable(struct reload *r, uint64_t id)
{
    if (!all_switched(r, id, false))
        return false;
    unsigned n = atomic_load_explicit(&r->active, memory_order_relaxed);
    for (unsigned i = 0; i < n; i++) {
        /* relaxed: ordered after the worker's ack release store by all_switched()'s acquire */
        uint64_t f = atomic_load_explicit(&r->fence[i], memory_order_relaxed);
        if (atomic_load_explicit(&r->consumed[i], memory_order_acquire) < f)
            return false;
    }
    return true;
}

static void switch_times(struct reload *r, uint64_t id)
{
    uint64_t lo = UINT64_MAX, hi = 0;
    unsigned n = 0, active = atomic_load_explicit(&r->active, memory_order_relaxed);
    for (unsigned i = 0; i < active; i++) {
        if (atomic_load_explicit(&r->ack[i], memory_order_acquire) != id)
            continue;
        uint64_t t = atomic_load_explicit(&r->ack_ts[i], memory_order_relaxed);
        lo = t < lo ? t : lo;
        hi = t > hi ? t : hi;
        n++;
    }
    pthread_mutex_lock(&r->lock);
    if (r->st.generation == id) {
        r->st.switch_ts_min = n ? lo : 0;
        r->st.switch_ts_max = hi;
        r->st.workers_switched = n;
    }
    pthread_mutex_unlock(&r->lock);
}

bool reload_collect(struct reload *r)
{
    if (!r->prev)
        return true;
    struct rules_gen *g = atomic_load_explicit(&r->cur, memory_order_relaxed);
    switch_times(r, g->id);
    if (!retirable(r, g->id))
        return false;
    /* no worker uses the old engine or its threads, and no queued event points at the old
     * ruleset's rule metadata (message, classification): the whole generation goes */
    for (unsigned i = 0; i < r->nw; i++) {
        detect_thread_free(r->retired[i]);
        r->retired[i] = NULL;
    }
    gen_free(r->prev, r->nw);
    r->prev = NULL;
    pthread_mutex_lock(&r->lock);
    r->st.generations_alive = 1;
    pthread_mutex_unlock(&r->lock);
    return true;
}

static int reload_fail(struct reload *r, int rc, char *msg, size_t msglen, const char *why)
{
    pthread_mutex_lock(&r->lock);
    r->st.reloads_failed++;
    r->st.last_reload_ns = wall_ns();
    r->st.last_ok = false;
    snprintf(r->st.last_error, sizeof(r->st.last_error), "%s", why);
    uint64_t gen = r->st.generation;
    unsigned loaded = r->st.rules_loaded;
    pthread_mutex_unlock(&r->lock);
    snprintf(msg, msglen, "rules not reloaded: %s; running rules kept (generation %llu, %u rules)",
             why, (unsigned long long)gen, loaded);
    return rc;
}

/* Sleeps in short steps until done(r, id), the deadline passes, or a worker finished (it will
 * not switch any more). */
static bool wait_until(struct reload *r, bool (*done)(struct reload *, uint64_t), uint64_t id,
                       unsigned wait_ms)
{
    uint64_t deadline = mono_ns() + (uint64_t)wait_ms * 1000000ull;
    for (;;) {
        if (done(r, id))
            return true;
        if (mono_ns() >= deadline || atomic_load_explicit(&r->any_exited, memory_order_relaxed))
            return false;
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
}

static bool switched(struct reload *r, uint64_t id)
{
    return all_switched(r, id, false);
}

int reload_rules(struct reload *r, unsigned wait_ms, FILE *report, char *msg, size_t msglen)
{
    char err[1024] = "";
    if (atomic_load_explicit(&r->any_exited, memory_order_relaxed))
        return reload_fail(r, -ESHUTDOWN, msg, msglen, "the capture has finished");
    struct rules_gen *old = atomic_load_explicit(&r->cur, memory_order_relaxed);
    if (r->prev) {
        /* the previous generation must be retired first: at most two generations live */
        wait_until(r, retirable, old->id, wait_ms);
        if (!reload_collect(r))
            return reload_fail(r, -EBUSY, msg, msglen,
                               "the previous reload is still being picked up by the workers "
                               "and the output");
    }
    struct rules_gen *g = gen_load(r->cfg, report, err, sizeof(err));
    if (!g)
        return reload_fail(r, -EINVAL, msg, msglen, err);
    g->id = old->id + 1;
    int n = reload_flowbit_map(old->rs, g->rs, &g->fb_map, &g->fb_identity);
    if (n < 0 || !(g->dts = calloc(r->nw, sizeof(*g->dts)))) {
        gen_free(g, r->nw);
        return reload_fail(r, -ENOMEM, msg, msglen, "out of memory");
    }
    g->n_fb = (unsigned)n;
    for (unsigned i = 0; i < r->nw; i++) {
        if (!(g->dts[i] = detect_thread_new(g->de))) {
            gen_free(g, r->nw);
            return reload_fail(r, -ENOMEM, msg, msglen, "out of memory for the workers' detect state");
        }
    }
    /* A worker may have finished while we compiled: it will never switch, refuse now. */
    if (atomic_load_explicit(&r->any_exited, memory_order_acquire)) {
        gen_free(g, r->nw);
        return reload_fail(r, -ESHUTDOWN, msg, msglen, "the capture has finished");
    }
    r->prev = old;
    atomic_store_explicit(&r->cur, g, memory_order_release);
    /* release: pairs with reload_generation()'s acquire load; g and its threads are complete */
    atomic_store_explicit(&r->gen, g->id, memory_order_release);

    pthread_mutex_lock(&r->lock);
    r->st.generation = g->id;
    r->st.rules_loaded = g->loaded;
    r->st.rules_failed = g->failed;
    r->st.reloads_ok++;
    r->st.last_reload_ns = wall_ns();
    r->st.last_ok = true;
    r->st.last_error[0] = '\0';
    r->st.last_compile_ms = g->load_ms;
    r->st.switch_ts_min = r->st.switch_ts_max = 0;
    r->st.workers_switched = 0;
    r->st.generations_alive = 2;
    pthread_mutex_unlock(&r->lock);

    bool done = wait_until(r, switched, g->id, wait_ms);
    /* frees the old generation when the output has already written its events; otherwise the
     * control thread's periodic reload_collect() does, soon after */
    reload_collect(r); /* also records the switch times so far */
    struct reload_stats st;
    reload_get_stats(r, &st);
    snprintf(msg, msglen,
             "rules reloaded: generation %llu, %u rules loaded, %u failed, %.1f ms; %u of %u workers "
             "switched%s",
             (unsigned long long)g->id, g->loaded, g->failed, g->load_ms, st.workers_switched, st.workers,
             done ? "" : " (the others switch at their next batch)");
    return 0;
}

void reload_get_stats(struct reload *r, struct reload_stats *st)
{
    pthread_mutex_lock(&r->lock);
    *st = r->st;
    pthread_mutex_unlock(&r->lock);
}

void reload_free(struct reload *r)
{
    if (!r)
        return;
    if (r->retired)
        for (unsigned i = 0; i < r->nw; i++)
            detect_thread_free(r->retired[i]);
    gen_free(r->prev, r->nw);
    gen_free(atomic_load_explicit(&r->cur, memory_order_relaxed), r->nw);
    free(r->ack);
    free(r->ack_ts);
    free(r->exited);
    free(r->retired);
    free(r->fence);
    free(r->consumed);
    pthread_mutex_destroy(&r->lock);
    free(r);
}
