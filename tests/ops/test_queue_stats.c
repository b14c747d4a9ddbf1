/* Workers mode (sensor_run_queues) with a multi-queue source that has fewer queues than workers,
 * while another thread reads the totals the whole time, as the control socket's `stats` does
 * (issue 9 defect 2: sensor_run_queues lowers the worker count and sets the source while that
 * thread may read them). Under ThreadSanitizer an unsynchronised publication is a reported race
 * (the test then fails); in every build the totals must count each queue exactly once. */
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
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "dataplane.h"
#include "engine.h"

enum { QUEUES = 2, WORKERS = 4, PER_QUEUE = 2000, DROPS_PER_QUEUE = 7 };

/* One receive queue: PER_QUEUE copies of a UDP frame of its own flow, then the end (-ENODATA). */
struct fake_queue {
    uint8_t frame[60];
    unsigned sent;
    _Atomic unsigned stats_calls;
};

static void build_frame(uint8_t *f, unsigned q)
{
    static const uint8_t hdr[] = {
        0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00,             /* Ethernet */
        0x45, 0, 0, 32, 0, 1, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 1, 1, /* IPv4 */
        0x27, 0x10, 0x13, 0x88, 0, 12, 0, 0, 'p', 'i', 'n', 'g',           /* UDP + payload */
    };
    memset(f, 0, 60);
    memcpy(f, hdr, sizeof(hdr));
    f[14 + 15] = (uint8_t)(1 + q); /* source address: one flow per queue */
    unsigned sum = 0;
    for (unsigned i = 0; i < 20; i += 2)
        sum += (unsigned)(f[14 + i] << 8 | f[14 + i + 1]);
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    f[14 + 10] = (uint8_t)(~sum >> 8);
    f[14 + 11] = (uint8_t)~sum;
}

static int fq_rx_burst(void *qp, struct dp_packet *pkts, unsigned max)
{
    struct fake_queue *q = qp;
    if (q->sent == PER_QUEUE)
        return -ENODATA;
    unsigned n = 0;
    for (; n < max && q->sent < PER_QUEUE; n++, q->sent++)
        pkts[n] = (struct dp_packet){.data = q->frame, .caplen = 60, .wirelen = 60,
                                     .ts_ns = 1700000000000000000ull + q->sent * 1000000ull,
                                     .linktype = DP_LINK_ETHERNET};
    return (int)n;
}

static void fq_stats(void *qp, struct dp_source_stats *out)
{
    struct fake_queue *q = qp;
    atomic_fetch_add_explicit(&q->stats_calls, 1, memory_order_relaxed);
    out->kernel_drops += DROPS_PER_QUEUE;
}

static const struct pkt_source_ops fq_ops = {.rx_burst = fq_rx_burst, .stats = fq_stats};

struct reader {
    struct sensor *s;
    atomic_bool stop;
    atomic_uint polls;
    bool bad; /* a total above what the source can ever give */
};

/* The control socket's view: totals and the worker count, polled while the sensor starts. */
static void *reader_main(void *arg)
{
    struct reader *r = arg;
    while (!atomic_load(&r->stop)) {
        struct sensor_totals t;
        sensor_get_totals(r->s, &t);
        unsigned nw = sensor_worker_count(r->s);
        if (t.packets > QUEUES * PER_QUEUE || t.capture_kernel_drops > QUEUES * DROPS_PER_QUEUE ||
            nw > WORKERS)
            r->bad = true;
        atomic_fetch_add(&r->polls, 1);
    }
    return NULL;
}

static void test_queues_fewer_than_workers(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_queue_stats_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char err[512], kv[600];
    struct tl_config cfg;
    assert_int_equal(config_init(&cfg), 0);
    snprintf(kv, sizeof(kv), "default-log-dir=%s", dir);
    assert_int_equal(config_set(&cfg, kv, err, sizeof(err)), 0);
    assert_int_equal(config_set(&cfg, "threading.workers=4", err, sizeof(err)), 0);
    assert_int_equal(config_set(&cfg, "stats.interval=0", err, sizeof(err)), 0);
    assert_int_equal(config_finalize(&cfg, err, sizeof(err)), 0);
    atomic_int stop;
    atomic_init(&stop, 0);
    struct sensor *s = sensor_new(&cfg, &stop, err, sizeof(err));
    assert_non_null(s);
    assert_int_equal(sensor_worker_count(s), WORKERS);

    static struct fake_queue fq[QUEUES];
    void *queues[QUEUES];
    for (unsigned i = 0; i < QUEUES; i++) {
        build_frame(fq[i].frame, i);
        fq[i].sent = 0;
        atomic_init(&fq[i].stats_calls, 0);
        queues[i] = &fq[i];
    }
    struct pkt_source src = {.ops = &fq_ops, .queues = queues, .n_queues = QUEUES, .name = "fake"};

    struct reader rd = {.s = s};
    atomic_init(&rd.stop, false);
    atomic_init(&rd.polls, 0);
    pthread_t thr;
    assert_int_equal(pthread_create(&thr, NULL, reader_main, &rd), 0);
    while (atomic_load(&rd.polls) < 10) /* the reader runs before the sensor does, as the control thread */
        usleep(100);
    assert_int_equal(sensor_run_queues(s, &src), 0);
    atomic_store(&rd.stop, true);
    pthread_join(thr, NULL);
    assert_false(rd.bad);

    struct sensor_totals t;
    sensor_get_totals(s, &t);
    assert_int_equal(sensor_worker_count(s), QUEUES);
    assert_int_equal(t.packets, QUEUES * PER_QUEUE);
    assert_int_equal(t.processed, QUEUES * PER_QUEUE);
    assert_int_equal(t.udp_flows, QUEUES);
    assert_int_equal(t.capture_kernel_drops, QUEUES * DROPS_PER_QUEUE); /* each queue once */
    for (unsigned i = 0; i < QUEUES; i++)
        assert_true(atomic_load(&fq[i].stats_calls) > 0);
    sensor_free(s);
    config_release(&cfg);
    char path[600];
    snprintf(path, sizeof(path), "%s/eve.json", dir);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_queues_fewer_than_workers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
