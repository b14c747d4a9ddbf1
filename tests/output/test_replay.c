/* The real sensor delivering to real collectors: `tripline` replays a real capture, paced with
 * --pcap-speed so the replay lasts several seconds, with one rule that alerts on every packet
 * (alerts, flows and stats records), and a config whose outputs: section holds an EVE file and
 * the network outputs under test:
 *   syslog  rsyslogd (imptcp, RFC 6587 octet counting; imtcp with the gtls driver, RFC 5425, a
 *           certificate made here with openssl and verified by tripline) -> outputs syslog-tcp and
 *           syslog-tls;
 *   redis   redis-server (AOF, fsync always) -> outputs redis list (RPUSH) and redis stream (XADD);
 *   kafka   librdkafka's mock cluster -> output kafka (keyed by flow).
 * In the middle of the replay the collector dies (rsyslogd and redis-server: SIGKILL; the Kafka
 * mock cluster runs inside this test process and keeps its log in memory, so it cannot be
 * killed and restarted without losing what it acknowledged: its broker is taken down with
 * rd_kafka_mock_broker_set_down(), which drops the connections and refuses new ones). Once
 * tripline's own stats records show the send errors, the collector comes back on the same port,
 * the replay goes on, tripline exits. Then every record received must be whole JSON, carry the
 * sensor id and host name, and be the EVE line of its tripline_seq plus that field; and the number
 * of distinct records received (duplicates dropped by tripline_seq, as a collector does) must
 * equal the number tripline produced (its EVE file, checked against its exit summary).
 * Mode spool: no collector listens (Unix stream output, 64 KiB spool): the full spool must show in
 * tripline's log and its stats record; then one spooled record is corrupted and a second run with
 * the collector up must name the file and offset in its log and send every other spooled record
 * first, then its own.
 *   test_replay TRIPLINE CAPTURE syslog|redis|kafka|spool   (skips, 77, when a collector is missing) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <dirent.h>
#if WITH_REDIS
#include <hiredis/hiredis.h>
#endif
#if WITH_KAFKA
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#endif

#include "replay_util.h"

/* 1793 packets over 90 s of capture time: about 7 s of replay at 13x */
#define SPEED "13"
#define KILL_AFTER 100 /* records the collector holds before it is killed */

static const char *tripline_bin, *capture, *mode;

/* ---- collectors ---- */

struct coll;
struct coll_ops {
    const char *what;
    unsigned nout;            /* network outputs it serves */
    const char *names[2];     /* their names in the config */
    void (*setup)(struct coll *);
    void (*config)(struct coll *, FILE *);
    size_t (*count)(struct coll *);  /* records received so far (first output) */
    void (*kill)(struct coll *);
    void (*restart)(struct coll *);
    char **(*fetch)(struct coll *, unsigned out, size_t *n); /* after tripline exited */
    void (*teardown)(struct coll *);
};

struct coll {
    const struct coll_ops *ops;
    char dir[200];
    int port, port2;
    pid_t pid;
    char bin[256], ossl[256];
    char conf[300], log[300], file[2][300], cert[300], key[300], pidf[300];
#if WITH_KAFKA
    rd_kafka_t *mrk;
    rd_kafka_mock_cluster_t *mc;
    rd_kafka_t *cons;
    char bootstraps[256];
    char **msgs;
    size_t nmsgs, capmsgs;
#endif
};

static size_t file_line_count(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = 0;
    int c;
    while ((c = getc(f)) != EOF)
        n += c == '\n';
    fclose(f);
    return n;
}

/* -- rsyslogd -- */

static void rs_start(struct coll *c)
{
    char *argv[] = {c->bin, "-n", "-f", c->conf, "-i", c->pidf, NULL};
    unlink(c->pidf);
    c->pid = tu_spawn(argv, c->log);
    for (int i = 0; i < 1500 && !(tu_port_open(c->port) && tu_port_open(c->port2)); i++)
        tu_sleep_ms(10);
    if (!tu_port_open(c->port) || !tu_port_open(c->port2))
        fail_msg("rsyslogd did not start (see %s)", c->log);
}

static void rs_setup(struct coll *c)
{
    snprintf(c->cert, sizeof(c->cert), "%s/server-cert.pem", c->dir);
    snprintf(c->key, sizeof(c->key), "%s/server-key.pem", c->dir);
    char cmd[1200];
    snprintf(cmd, sizeof(cmd),
             "'%s' req -x509 -newkey rsa:2048 -nodes -keyout '%s' -out '%s' -days 2 -subj /CN=localhost "
             "-addext subjectAltName=IP:127.0.0.1,DNS:localhost >/dev/null 2>&1",
             c->ossl, c->key, c->cert);
    if (system(cmd) != 0)
        fail_msg("openssl could not make the test certificate");
    c->port = tu_free_port();
    c->port2 = tu_free_port();
    snprintf(c->conf, sizeof(c->conf), "%s/rsyslog.conf", c->dir);
    snprintf(c->log, sizeof(c->log), "%s/rsyslogd.log", c->dir);
    snprintf(c->file[0], sizeof(c->file[0]), "%s/tcp.log", c->dir);
    snprintf(c->file[1], sizeof(c->file[1]), "%s/tls.log", c->dir);
    snprintf(c->pidf, sizeof(c->pidf), "%s/rsyslogd.pid", c->dir);
    FILE *f = fopen(c->conf, "w");
    assert_non_null(f);
    /* a write buffer larger than a batch of messages: omfile then writes whole lines only, so a
     * SIGKILLed rsyslogd cannot leave half a line that the restarted one would continue */
    fprintf(f,
            "global(workDirectory=\"%s\" maxMessageSize=\"256k\"\n"
            "  DefaultNetstreamDriver=\"gtls\" DefaultNetstreamDriverCAFile=\"%s\"\n"
            "  DefaultNetstreamDriverCertFile=\"%s\" DefaultNetstreamDriverKeyFile=\"%s\")\n"
            "module(load=\"imptcp\")\n"
            "module(load=\"imtcp\" StreamDriver.Name=\"gtls\" StreamDriver.Mode=\"1\" StreamDriver.AuthMode=\"anon\")\n"
            "template(name=\"m\" type=\"string\" string=\"%%msg%%\\n\")\n"
            "input(type=\"imptcp\" port=\"%d\" address=\"127.0.0.1\" ruleset=\"plain\")\n"
            "input(type=\"imtcp\" port=\"%d\" address=\"127.0.0.1\" ruleset=\"tls\")\n"
            "ruleset(name=\"plain\") { action(type=\"omfile\" file=\"%s\" template=\"m\" ioBufferSize=\"4m\" flushOnTXEnd=\"on\") }\n"
            "ruleset(name=\"tls\") { action(type=\"omfile\" file=\"%s\" template=\"m\" ioBufferSize=\"4m\" flushOnTXEnd=\"on\") }\n",
            c->dir, c->cert, c->cert, c->key, c->port, c->port2, c->file[0], c->file[1]);
    fclose(f);
    rs_start(c);
}

static void rs_config(struct coll *c, FILE *f)
{
    fprintf(f, "  syslog-tcp:\n    type: syslog-tcp\n    address: 127.0.0.1\n    port: %d\n", c->port);
    ru_config_net_common(f, c->dir, "tcp");
    fprintf(f, "  syslog-tls:\n    type: syslog-tls\n    address: 127.0.0.1\n    port: %d\n    tls-ca: %s\n",
            c->port2, c->cert);
    ru_config_net_common(f, c->dir, "tls");
}

static size_t rs_count(struct coll *c)
{
    size_t a = file_line_count(c->file[0]), b = file_line_count(c->file[1]);
    return a < b ? a : b;
}

static void rs_kill(struct coll *c) { tu_kill_wait(c->pid, SIGKILL); }
static void rs_restart(struct coll *c) { rs_start(c); }

static char **rs_fetch(struct coll *c, unsigned out, size_t *n)
{
    if (out == 0)
        tu_kill_wait(c->pid, SIGTERM); /* a clean stop writes out what rsyslogd still holds */
    c->pid = 0;
    return tu_read_lines(c->file[out], n);
}

static void rs_teardown(struct coll *c) { tu_kill_wait(c->pid, SIGTERM); }

static const struct coll_ops syslog_ops = {
    "rsyslogd", 2, {"syslog-tcp", "syslog-tls"}, rs_setup, rs_config, rs_count, rs_kill, rs_restart,
    rs_fetch, rs_teardown,
};

/* -- redis-server -- */

#if WITH_REDIS
static redisContext *redis_conn(int port)
{
    struct timeval tv = {.tv_sec = 2};
    redisContext *rc = redisConnectWithTimeout("127.0.0.1", port, tv);
    if (rc && rc->err) {
        redisFree(rc);
        return NULL;
    }
    return rc;
}

static bool redis_up(int port)
{
    redisContext *rc = redis_conn(port);
    if (!rc)
        return false;
    redisReply *r = redisCommand(rc, "PING");
    bool ok = r && r->type == REDIS_REPLY_STATUS;
    if (r)
        freeReplyObject(r);
    redisFree(rc);
    return ok;
}

static void rd_start(struct coll *c)
{
    char p[16];
    snprintf(p, sizeof(p), "%d", c->port);
    /* AOF with fsync always: what Redis acknowledged survives its SIGKILL */
    char *argv[] = {c->bin, "--port", p, "--bind", "127.0.0.1", "--dir", c->dir, "--save", "",
                    "--appendonly", "yes", "--appendfsync", "always", "--daemonize", "no", NULL};
    c->pid = tu_spawn(argv, c->log);
    for (int i = 0; i < 1000 && !redis_up(c->port); i++)
        tu_sleep_ms(10);
    if (!redis_up(c->port))
        fail_msg("redis-server did not start (see %s)", c->log);
}

static void rd_setup(struct coll *c)
{
    c->port = tu_free_port();
    snprintf(c->log, sizeof(c->log), "%s/redis.log", c->dir);
    rd_start(c);
}

static void rd_config(struct coll *c, FILE *f)
{
    fprintf(f, "  redis-list:\n    type: redis\n    address: 127.0.0.1\n    port: %d\n"
               "    redis-mode: rpush\n    key: eve-list\n", c->port);
    ru_config_net_common(f, c->dir, "list");
    fprintf(f, "  redis-stream:\n    type: redis\n    address: 127.0.0.1\n    port: %d\n"
               "    redis-mode: stream\n    key: eve-stream\n", c->port);
    ru_config_net_common(f, c->dir, "stream");
}

static size_t rd_count(struct coll *c)
{
    redisContext *rc = redis_conn(c->port);
    if (!rc)
        return 0;
    size_t n = 0;
    redisReply *r = redisCommand(rc, "LLEN eve-list");
    if (r && r->type == REDIS_REPLY_INTEGER)
        n = (size_t)r->integer;
    if (r)
        freeReplyObject(r);
    redisFree(rc);
    return n;
}

static void rd_kill(struct coll *c) { tu_kill_wait(c->pid, SIGKILL); }
static void rd_restart(struct coll *c) { rd_start(c); }

static char **rd_fetch(struct coll *c, unsigned out, size_t *n)
{
    redisContext *rc = redis_conn(c->port);
    assert_non_null(rc);
    redisReply *r = redisCommand(rc, out == 0 ? "LRANGE eve-list 0 -1" : "XRANGE eve-stream - +");
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    char **v = calloc(r->elements + 1, sizeof(*v));
    for (size_t i = 0; i < r->elements; i++) {
        redisReply *e = r->element[i];
        if (out == 0) {
            v[i] = strndup(e->str, e->len);
            continue;
        }
        /* [id, [field, value]]: Suricata's shape, field "eve" */
        assert_int_equal(e->type, REDIS_REPLY_ARRAY);
        assert_int_equal(e->elements, 2);
        redisReply *fv = e->element[1];
        assert_int_equal(fv->elements, 2);
        assert_string_equal(fv->element[0]->str, "eve");
        v[i] = strndup(fv->element[1]->str, fv->element[1]->len);
    }
    *n = r->elements;
    freeReplyObject(r);
    redisFree(rc);
    return v;
}

static void rd_teardown(struct coll *c) { tu_kill_wait(c->pid, SIGTERM); }

static const struct coll_ops redis_ops = {
    "redis-server", 2, {"redis-list", "redis-stream"}, rd_setup, rd_config, rd_count, rd_kill, rd_restart,
    rd_fetch, rd_teardown,
};
#endif

/* -- Kafka mock cluster (in this process; tripline speaks the Kafka protocol to it on loopback) -- */

#if WITH_KAFKA
static void kf_setup(struct coll *c)
{
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "0", err, sizeof(err));
    c->mrk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    assert_non_null(c->mrk);
    c->mc = rd_kafka_mock_cluster_new(c->mrk, 1);
    assert_non_null(c->mc);
    snprintf(c->bootstraps, sizeof(c->bootstraps), "%s", rd_kafka_mock_cluster_bootstraps(c->mc));
    assert_int_equal(rd_kafka_mock_topic_create(c->mc, "eve", 1, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
    conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", c->bootstraps, err, sizeof(err));
    rd_kafka_conf_set(conf, "group.id", "tripline-replay-test", err, sizeof(err));
    rd_kafka_conf_set(conf, "log_level", "0", err, sizeof(err));
    c->cons = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    assert_non_null(c->cons);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(parts, "eve", 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    assert_int_equal(rd_kafka_assign(c->cons, parts), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(parts);
}

static void kf_config(struct coll *c, FILE *f)
{
    fprintf(f, "  kafka:\n    type: kafka\n    brokers: %s\n    topic: eve\n    kafka-key: flow\n"
               "    kafka-message-timeout-ms: 1000\n", c->bootstraps);
    ru_config_net_common(f, c->dir, "kafka");
}

/* Consumes what is there (up to `ms` of waiting); keeps the messages, checks their keys. */
static void kf_poll(struct coll *c, int ms)
{
    for (;;) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c->cons, ms);
        if (!m)
            return;
        ms = 0;
        if (m->err) {
            rd_kafka_message_destroy(m);
            continue;
        }
        if (c->nmsgs == c->capmsgs) {
            c->capmsgs = c->capmsgs ? c->capmsgs * 2 : 1024;
            c->msgs = realloc(c->msgs, c->capmsgs * sizeof(*c->msgs));
        }
        c->msgs[c->nmsgs++] = strndup(m->payload, m->len);
        /* kafka-key flow: records of a flow are keyed by its flow_id in hex, others have none */
        json_t *j = json_loadb(m->payload, m->len, 0, NULL);
        json_t *fid = j ? json_object_get(j, "flow_id") : NULL;
        if (json_is_integer(fid)) {
            char key[24];
            snprintf(key, sizeof(key), "%016llx", (unsigned long long)json_integer_value(fid));
            if (m->key_len != 16 || memcmp(m->key, key, 16) != 0)
                fail_msg("kafka message of flow %s has key %.*s", key, (int)m->key_len, (const char *)m->key);
        }
        json_decref(j);
        rd_kafka_message_destroy(m);
    }
}

static size_t kf_count(struct coll *c)
{
    kf_poll(c, 0);
    return c->nmsgs;
}

static void kf_kill(struct coll *c) { rd_kafka_mock_broker_set_down(c->mc, 1); }
static void kf_restart(struct coll *c) { rd_kafka_mock_broker_set_up(c->mc, 1); }

static char **kf_fetch(struct coll *c, unsigned out, size_t *n)
{
    (void)out;
    /* everything up to the partition's end (tripline has exited: nothing more comes) */
    int64_t lo = 0, hi = 0;
    assert_int_equal(rd_kafka_query_watermark_offsets(c->cons, "eve", 0, &lo, &hi, 5000),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
    for (int i = 0; i < 300; i++) {
        rd_kafka_topic_partition_list_t *pos = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(pos, "eve", 0);
        rd_kafka_position(c->cons, pos);
        int64_t at = pos->elems[0].offset;
        rd_kafka_topic_partition_list_destroy(pos);
        if (at >= hi)
            break;
        kf_poll(c, 100);
    }
    print_message("kafka: partition holds %lld messages\n", (long long)(hi - lo));
    char **v = c->msgs;
    *n = c->nmsgs;
    c->msgs = NULL;
    c->nmsgs = c->capmsgs = 0;
    return v;
}

static void kf_teardown(struct coll *c)
{
    if (c->cons) {
        rd_kafka_consumer_close(c->cons);
        rd_kafka_destroy(c->cons);
    }
    if (c->mc)
        rd_kafka_mock_cluster_destroy(c->mc);
    if (c->mrk)
        rd_kafka_destroy(c->mrk);
    tu_free_lines(c->msgs, c->nmsgs);
}

static const struct coll_ops kafka_ops = {
    "kafka mock cluster", 1, {"kafka", NULL}, kf_setup, kf_config, kf_count, kf_kill, kf_restart,
    kf_fetch, kf_teardown,
};
#endif

/* ---- the test ---- */

static void test_replay_kill_restart(void **state)
{
    struct coll *c = *state;
    const struct coll_ops *ops = c->ops;
    char *dir = tu_tmpdir("replay");
    snprintf(c->dir, sizeof(c->dir), "%s", dir);
    ops->setup(c);
    struct ru_run r;
    ru_init(&r, dir);
    FILE *f = ru_config_begin(&r);
    assert_non_null(f);
    ops->config(c, f);
    fclose(f);
    ru_start(&r, tripline_bin, capture, SPEED);

    /* the collector receives the first records of the replay ... */
    size_t got = 0;
    for (int i = 0; i < 1500 && ru_alive(&r) && (got = ops->count(c)) < KILL_AFTER; i++)
        tu_sleep_ms(20);
    if (got < KILL_AFTER) {
        ru_dump_log(&r);
        fail_msg("%s holds %zu records, tripline %s", ops->what, got, r.exited ? "exited" : "still running");
    }
    if (!ru_alive(&r))
        fail_msg("the replay ended before the collector could be killed: lower --pcap-speed");
    /* ... then dies in the middle of it */
    ops->kill(c);
    print_message("%s killed after %zu records, tripline replaying\n", ops->what, got);
    /* back once tripline's stats records show that every output met the dead collector */
    bool seen = false;
    for (int i = 0; i < 1000 && ru_alive(&r) && !seen; i++) {
        seen = true;
        for (unsigned k = 0; k < ops->nout; k++)
            if (ru_last_output_stat(r.eve, ops->names[k], "send_errors") <= 0)
                seen = false;
        if (!seen)
            tu_sleep_ms(20);
    }
    bool replaying = ru_alive(&r);
    ops->restart(c);
    if (!seen || !replaying) {
        ru_dump_log(&r);
        fail_msg("%s: %s", ops->what,
                 !seen ? "tripline's stats never showed the send errors" : "the replay ended while the collector was down");
    }
    print_message("%s restarted, tripline still replaying\n", ops->what);
    int rc = ru_wait(&r, 60000);
    if (rc != 0) {
        ru_dump_log(&r);
        fail_msg("tripline exited with %d", rc);
    }

    struct ru_produced p;
    ru_read_produced(&r, &p);
    ru_check_summary(&r, &p);
    print_message("tripline produced %zu records: %zu alerts, %zu flows, %zu stats\n", p.n, p.alerts, p.flows,
                  p.stats);
    assert_true(p.alerts >= 1000);
    assert_true(p.flows > 0 && p.stats > 0);
    for (unsigned k = 0; k < ops->nout; k++) {
        /* the outage was seen and everything left the spool before exit */
        long long se = ru_last_output_stat(r.eve, ops->names[k], "send_errors");
        long long sent = ru_last_output_stat(r.eve, ops->names[k], "sent");
        print_message("%s: last stats record: send_errors %lld, sent %lld\n", ops->names[k], se, sent);
        assert_true(se > 0);
        size_t n;
        char **recs = ops->fetch(c, k, &n);
        size_t d = ru_distinct(&p, ops->names[k], recs, n);
        tu_free_lines(recs, n);
        assert_int_equal(d, p.n);
    }
    tu_free_lines(p.lines, p.n);
    tu_rmrf(dir);
    free(dir);
}

/* ---- spool full, then a corrupt spool, through tripline (a Unix stream collector, no server) ---- */

static bool file_has(const char *path, const char *what)
{
    size_t n;
    char **l = tu_read_lines(path, &n);
    bool found = false;
    for (size_t i = 0; i < n && !found; i++)
        found = strstr(l[i], what) != NULL;
    tu_free_lines(l, n);
    return found;
}

/* Output `name`'s object in the last stats record of the EVE file (caller decrefs), or NULL. */
static json_t *last_output_stats(const char *eve, const char *name)
{
    size_t n;
    char **l = tu_read_lines(eve, &n);
    json_t *o = NULL;
    for (size_t i = n; i-- > 0 && !o;) {
        json_t *j = strstr(l[i], "\"event_type\":\"stats\"") ? json_loads(l[i], 0, NULL) : NULL;
        o = json_object_get(json_object_get(json_object_get(j, "stats"), "outputs"), name);
        json_incref(o);
        json_decref(j);
    }
    tu_free_lines(l, n);
    return o;
}

/* Sequence numbers of the records in a spool's segment files (frames hold the records as sent). */
static size_t spool_seqs(const char *dir, long long *out, size_t max)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *de;
    size_t n = 0;
    static char buf[1 << 20];
    while ((de = readdir(d))) {
        if (strncmp(de->d_name, "seg-", 4))
            continue;
        char path[600];
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        FILE *f = fopen(path, "rb");
        assert_non_null(f);
        size_t len = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[len] = '\0';
        for (char *p = buf; (p = memmem(p, len - (size_t)(p - buf), "\"tripline_seq\":", 15)); p += 15)
            if (n < max)
                out[n++] = atoll(p + 15);
    }
    closedir(d);
    return n;
}

/* Changes one byte inside record `seq` of the spool (its frame checksum then fails); names the file. */
static void spool_corrupt_record(const char *dir, long long seq, char *seg, size_t cap)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *de;
    char pat[64];
    snprintf(pat, sizeof(pat), "\"tripline_seq\":%lld}", seq);
    static char buf[1 << 20];
    bool done = false;
    while (!done && (de = readdir(d))) {
        if (strncmp(de->d_name, "seg-", 4))
            continue;
        char path[600];
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        FILE *f = fopen(path, "r+b");
        assert_non_null(f);
        size_t len = fread(buf, 1, sizeof(buf), f);
        char *p = memmem(buf, len, pat, strlen(pat));
        if (p) {
            fseek(f, p - buf + 2, SEEK_SET);
            fputc('X', f);
            snprintf(seg, cap, "%s", de->d_name);
            done = true;
        }
        fclose(f);
    }
    closedir(d);
    assert_true(done);
}

static void spool_output_config(struct ru_run *r, const char *sock, const char *spool, const char *flush_ms)
{
    FILE *f = ru_config_begin(r);
    assert_non_null(f);
    fprintf(f, "  collector:\n    type: unix-stream\n    filename: %s\n    spool-dir: %s\n    spool-max: 64k\n"
               "    queue: 16\n    retry-min-ms: 10\n    retry-max-ms: 50\n    flush-timeout-ms: %s\n"
               "    sensor-id: %s\n    hostname: %s\n",
            sock, spool, flush_ms, RU_SENSOR_ID, RU_HOST);
    fclose(f);
}

static void test_spool_full_then_corrupt(void **state)
{
    (void)state;
    char *dir = tu_tmpdir("replay-spool");
    char d1[300], d2[300], sock[300], spool[300], seg[300], small[600];
    snprintf(d1, sizeof(d1), "%s/run1", dir);
    snprintf(d2, sizeof(d2), "%s/run2", dir);
    snprintf(sock, sizeof(sock), "%s/c.sock", dir);
    snprintf(spool, sizeof(spool), "%s/spool", dir);
    assert_int_equal(mkdir(d1, 0700), 0);
    assert_int_equal(mkdir(d2, 0700), 0);
    /* run 1: nobody listens; a 64 KiB spool fills and what does not fit is dropped, reported */
    struct ru_run r1, r2;
    ru_init(&r1, d1);
    spool_output_config(&r1, sock, spool, "100");
    ru_start(&r1, tripline_bin, capture, "0");
    assert_int_equal(ru_wait(&r1, 60000), 0);
    struct ru_produced p1;
    ru_read_produced(&r1, &p1);
    if (!file_has(r1.log, "spool full")) {
        ru_dump_log(&r1);
        fail_msg("tripline did not log the full spool");
    }
    json_t *o = last_output_stats(r1.eve, "collector");
    assert_non_null(o);
    print_message("run 1: %zu records; last stats record: spool_full %s, spool_dropped %lld, spool_records %lld\n",
                  p1.n, json_is_true(json_object_get(o, "spool_full")) ? "true" : "false",
                  (long long)json_integer_value(json_object_get(o, "spool_dropped")),
                  (long long)json_integer_value(json_object_get(o, "spool_records")));
    assert_true(json_is_true(json_object_get(o, "spool_full")));
    assert_true(json_integer_value(json_object_get(o, "spool_dropped")) > 0);
    json_decref(o);
    static long long in_spool[1 << 16];
    size_t ns = spool_seqs(spool, in_spool, sizeof(in_spool) / sizeof(in_spool[0]));
    assert_true(ns > 20);
    long long bad = in_spool[ns / 2];
    spool_corrupt_record(spool, bad, seg, sizeof(seg));

    /* run 2, collector up, a small capture: the corrupt frame is named (file, offset) and skipped,
     * every other spooled record is sent first, then run 2's own */
    struct tu_collector col;
    assert_int_equal(tu_collector_start(&col, sock), 0);
    ru_init(&r2, d2);
    spool_output_config(&r2, sock, spool, "20000");
    const char *slash = strrchr(capture, '/');
    snprintf(small, sizeof(small), "%.*s/sql_injection.pcap", slash ? (int)(slash - capture) : 1,
             slash ? capture : ".");
    ru_start(&r2, tripline_bin, small, "0");
    assert_int_equal(ru_wait(&r2, 60000), 0);
    for (int i = 0; i < 500 && tu_collector_count(&col) < ns - 1; i++)
        tu_sleep_ms(10);
    tu_sleep_ms(200);
    tu_collector_stop(&col);
    if (!file_has(r2.log, "corrupt") || !file_has(r2.log, seg) || !file_has(r2.log, "offset")) {
        ru_dump_log(&r2);
        fail_msg("tripline's log does not name the corrupt spool file %s and offset", seg);
    }
    struct ru_produced p2;
    ru_read_produced(&r2, &p2);
    p2.base = (long long)p1.n; /* the sequence numbers go on from run 1 */
    size_t from1 = 0, from2 = 0, last1 = 0, first2 = SIZE_MAX;
    unsigned char *seen = calloc(p1.n + p2.n + 1, 1);
    for (size_t i = 0; i < col.n; i++) {
        long long s = tu_seq_of(col.lines[i], strlen(col.lines[i]));
        assert_true(s != bad);
        if (s >= 1 && s <= (long long)p1.n) {
            ru_check_record(&p1, "spooled by run 1", col.lines[i], strlen(col.lines[i]));
            bool spooled = false;
            for (size_t k = 0; k < ns && !spooled; k++)
                spooled = in_spool[k] == s;
            assert_true(spooled);
            from1 += !seen[s];
            last1 = i;
        } else {
            ru_check_record(&p2, "run 2", col.lines[i], strlen(col.lines[i]));
            from2 += !seen[s];
            if (first2 == SIZE_MAX)
                first2 = i;
        }
        seen[s] = 1;
    }
    print_message("run 2: %zu spooled records of run 1 received (of %zu, one corrupt), then %zu of its %zu\n",
                  from1, ns, from2, p2.n);
    assert_int_equal(from1, ns - 1);
    assert_int_equal(from2, p2.n);
    assert_true(first2 == SIZE_MAX || last1 < first2); /* the spool went first */
    free(seen);
    tu_collector_free(&col);
    tu_free_lines(p1.lines, p1.n);
    tu_free_lines(p2.lines, p2.n);
    tu_rmrf(dir);
    free(dir);
}

static int teardown(void **state)
{
    struct coll *c = *state;
    c->ops->teardown(c);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: test_replay TRIPLINE CAPTURE syslog|redis|kafka\n");
        return 1;
    }
    tripline_bin = argv[1];
    capture = argv[2];
    mode = argv[3];
    if (access(capture, R_OK) != 0) {
        fprintf(stderr, "SKIP: capture %s not readable\n", capture);
        return 77;
    }
    static struct coll c;
    const char *p;
    if (!strcmp(mode, "spool")) {
        const struct CMUnitTest tests[] = {cmocka_unit_test(test_spool_full_then_corrupt)};
        return cmocka_run_group_tests(tests, NULL, NULL);
    }
    if (!strcmp(mode, "syslog")) {
        c.ops = &syslog_ops;
        if (!(p = tu_find_bin("rsyslogd"))) {
            fprintf(stderr, "SKIP: rsyslogd not installed (Debian packages rsyslog rsyslog-gnutls)\n");
            return 77;
        }
        snprintf(c.bin, sizeof(c.bin), "%s", p);
        if (access("/usr/lib/x86_64-linux-gnu/rsyslog/lmnsd_gtls.so", R_OK) != 0 &&
            access("/usr/lib/rsyslog/lmnsd_gtls.so", R_OK) != 0) {
            fprintf(stderr, "SKIP: rsyslog's gtls driver missing (Debian package rsyslog-gnutls)\n");
            return 77;
        }
        if (!(p = tu_find_bin("openssl"))) {
            fprintf(stderr, "SKIP: openssl not installed (needed to make the test certificate)\n");
            return 77;
        }
        snprintf(c.ossl, sizeof(c.ossl), "%s", p);
    } else if (!strcmp(mode, "redis")) {
#if WITH_REDIS
        c.ops = &redis_ops;
        if (!(p = tu_find_bin("redis-server"))) {
            fprintf(stderr, "SKIP: redis-server not installed (Debian package redis-server)\n");
            return 77;
        }
        snprintf(c.bin, sizeof(c.bin), "%s", p);
#else
        fprintf(stderr, "SKIP: built without hiredis\n");
        return 77;
#endif
    } else if (!strcmp(mode, "kafka")) {
#if WITH_KAFKA
#if defined(__SANITIZE_THREAD__)
        fprintf(stderr, "SKIP: librdkafka threads cannot run under ThreadSanitizer\n");
        return 77;
#endif
        c.ops = &kafka_ops;
#else
        fprintf(stderr, "SKIP: built without librdkafka\n");
        return 77;
#endif
    } else {
        fprintf(stderr, "unknown collector %s\n", mode);
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_prestate_setup_teardown(test_replay_kill_restart, NULL, teardown, &c),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
