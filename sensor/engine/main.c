/* tripline: command line (Suricata conventions), configuration, signals, run, summary. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "capture_opts.h"
#include "engine.h"
#include "log.h"
#include "metrics.h"
#include "privdrop.h"
#include "control.h"
#include "tripline_config.h"

/* The process's only global: set by SIGINT/SIGTERM, polled by the pipeline. */
static atomic_int g_stop;
static atomic_int g_reopen; /* SIGHUP count: the output thread reopens the files when it changes */

static void on_signal(int sig)
{
    (void)sig;
    atomic_store(&g_stop, 1);
}

static void on_hup(int sig)
{
    (void)sig;
    atomic_fetch_add(&g_reopen, 1);
}

static atomic_int g_reload; /* SIGUSR2 count: the control thread reloads the rules when it changes */

static void on_usr2(int sig)
{
    (void)sig;
    atomic_fetch_add(&g_reload, 1);
}

enum {
    EXIT_OK = 0,
    EXIT_RUNTIME = 1, /* could not read anything, could not open an interface, ... */
    EXIT_USAGE = 2,   /* bad command line or configuration */
};

static void usage(FILE *out)
{
    fprintf(out,
        "Usage: tripline -r FILE [-r FILE ...] [options]\n"
        "       tripline -i IFACE [options]\n"
        "       tripline --test-rules -S FILE [-c CONFIG]\n"
        "       tripline --dump-config [-c CONFIG] [--set KEY=VALUE ...]\n"
        "\n"
        "Input:\n"
        "  -r FILE              replay a pcap or pcapng capture (repeat for several, read in order)\n"
        "  -i IFACE             capture live from IFACE with libpcap\n"
        "  --pcap-speed N       replay paced by the capture's timestamps, N times real time\n"
        "                       (1 = real time; default: as fast as possible)\n"
        "Rules:\n"
        "  -S FILE              load rules from FILE (repeatable; replaces rules.files)\n"
        "  --test-rules         load the rules, report what loaded and why the rest failed, exit\n"
        "Configuration:\n"
        "  -c FILE              YAML configuration (documented default: tripline.yaml)\n"
        "  --set KEY=VALUE      override one key, e.g. --set flow.timeouts.tcp-new=30\n"
        "  --dump-config        print the effective configuration and exit\n"
        "Output:\n"
        "  -l DIR               log directory for eve.json (created if missing; default .)\n"
        "Threads:\n"
        "  --workers N          worker threads (default: one per online CPU)\n"
        "  --cpus LIST          pin threads to CPUs, e.g. 0-3,6 (workers first, then reader,\n"
        "                       then output thread)\n"
        "  --runmode MODE       autofp (one reader dispatching to workers; default), single\n"
        "                       (one thread), workers (multi-queue sources)\n"
        "  -k none|all          checksum validation off (default) or on\n"
        "  --simulate-ips       accepted for Suricata's test suites; no effect (a passive sensor\n"
        "                       drops nothing: drop/reject rules alert, marked as such)\n"
        "Operations:\n"
        "  -v                   more diagnostics (repeat: info, then debug; logging.level)\n"
        "  --user USER          drop to USER after opening capture and outputs (run-as.user)\n"
        "  --group GROUP        with --user: drop to GROUP (run-as.group; default USER's group)\n"
        "  metrics: --set metrics.enabled=yes [--set metrics.listen=127.0.0.1:9187]\n"
        "Other:\n"
        "  -h, --help           this help\n"
        "  -V, --version        version\n"
        "\n"
        "Exit status: 0 success (also after SIGINT/SIGTERM, which stop capture, drain and flush),\n"
        "1 runtime error (nothing could be read, interface or output cannot be opened),\n"
        "2 usage or configuration error.\n");
    fputs(capture_opts_usage(), out);
}

enum { OPT_CAPTURE_BASE = 2000 }; /* capture_opts take 2000.. */
enum { OPT_SIMULATE_IPS = 1900 };
enum { OPT_WORKERS = 1000, OPT_CPUS, OPT_SPEED, OPT_RUNMODE, OPT_SET, OPT_TEST_RULES, OPT_DUMP,
       OPT_USER, OPT_GROUP };

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {"workers", required_argument, NULL, OPT_WORKERS},
        {"cpus", required_argument, NULL, OPT_CPUS},
        {"pcap-speed", required_argument, NULL, OPT_SPEED},
        {"runmode", required_argument, NULL, OPT_RUNMODE},
        {"set", required_argument, NULL, OPT_SET},
        {"test-rules", no_argument, NULL, OPT_TEST_RULES},
        {"dump-config", no_argument, NULL, OPT_DUMP},
        {"simulate-ips", no_argument, NULL, OPT_SIMULATE_IPS},
        {"pcap", required_argument, NULL, 'r'},
        {"user", required_argument, NULL, OPT_USER},
        {"group", required_argument, NULL, OPT_GROUP},
        {NULL, 0, NULL, 0},
    };
    /* the table above plus the capture options of capture_opts.c (dataplanes) */
    struct option all_opts[sizeof(opts) / sizeof(opts[0]) + 8];
    unsigned n_opts = sizeof(opts) / sizeof(opts[0]) - 1;
    memcpy(all_opts, opts, sizeof(opts));
    n_opts += capture_opts_getopt(&all_opts[n_opts], OPT_CAPTURE_BASE);
    memset(&all_opts[n_opts], 0, sizeof(all_opts[0]));
    struct capture_opts capo;
    struct capture *cap = NULL;
    capture_opts_init(&capo);
    char **files = calloc((size_t)argc + 1, sizeof(char *));
    char **sets = calloc((size_t)argc + 1, sizeof(char *)); /* in order: --set and options */
    char **rules = calloc((size_t)argc + 1, sizeof(char *));
    char bufs[16][600];
    unsigned n_files = 0, n_sets = 0, n_rules = 0, n_bufs = 0;
    const char *config_path = NULL, *iface = NULL;
    bool test_rules = false, dump = false;
    int rc = EXIT_USAGE, c;
    char err[1024] = "";
    struct tl_config cfg;
    struct sensor *s = NULL;
    struct tl_log *lg = NULL; /* NULL until the configuration is read: errors go to stderr */
    struct metrics_server *metrics = NULL;
    struct privdrop pd;
    unsigned verbose = 0;
    memset(&pd, 0, sizeof(pd));
    struct control *ctl = NULL; /* control socket and thread (SIGUSR2, tripline-ctl) */

    if (!files || !sets || !rules || config_init(&cfg) < 0) {
        fprintf(stderr, "tripline: out of memory\n");
        return EXIT_RUNTIME;
    }
#define SET_OPT(fmt, ...)                                                                          \
    do {                                                                                           \
        if (n_bufs >= 16)                                                                          \
            goto usage_err;                                                                        \
        snprintf(bufs[n_bufs], sizeof(bufs[0]), fmt, __VA_ARGS__);                                 \
        sets[n_sets++] = bufs[n_bufs++];                                                           \
    } while (0)

    while ((c = getopt_long(argc, argv, "r:S:c:l:i:k:hVv", all_opts, NULL)) != -1) {
        switch (c) {
        case 'r': files[n_files++] = optarg; break;
        case 'S': rules[n_rules++] = optarg; break;
        case 'c': config_path = optarg; break;
        case 'l': SET_OPT("default-log-dir=%s", optarg); break;
        case 'i': iface = optarg; break;
        case 'k':
            if (strcmp(optarg, "none") && strcmp(optarg, "all")) {
                tl_err(lg, "-k takes none or all, not '%s'", optarg);
                goto out;
            }
            SET_OPT("decoder.checksum-validation=%s", strcmp(optarg, "all") ? "no" : "yes");
            break;
        case OPT_WORKERS: SET_OPT("threading.workers=%s", optarg); break;
        case OPT_CPUS: SET_OPT("threading.cpus=%s", optarg); break;
        case OPT_SPEED: SET_OPT("capture.pcap-speed=%s", optarg); break;
        case OPT_RUNMODE: SET_OPT("threading.runmode=%s", optarg); break;
        case OPT_SET: sets[n_sets++] = optarg; break;
        case OPT_TEST_RULES: test_rules = true; break;
        case OPT_DUMP: dump = true; break;
        case OPT_USER: SET_OPT("run-as.user=%s", optarg); break;
        case OPT_GROUP: SET_OPT("run-as.group=%s", optarg); break;
        case 'v': verbose++; break;
        case OPT_SIMULATE_IPS: break; /* see usage: nothing to simulate in a passive sensor */
        case 'h': usage(stdout); rc = EXIT_OK; goto out;
        case 'V': printf("tripline %s\n", TRIPLINE_VERSION); rc = EXIT_OK; goto out;
        default: {
            int r = capture_opts_handle(&capo, c, OPT_CAPTURE_BASE, optarg, err, sizeof(err));
            if (r < 0) {
                tl_err(lg, "%s", err);
                goto out;
            }
            if (r == 0)
                goto usage_err;
            break;
        }
        }
    }
    if (optind < argc) {
        tl_err(lg, "unexpected argument '%s'", argv[optind]);
        goto usage_err;
    }
    if (config_path && config_load_file(&cfg, config_path, err, sizeof(err)) < 0) {
        tl_err(lg, "%s", err);
        goto out;
    }
    /* --set and the options, in command-line order: later wins */
    for (unsigned i = 0; i < n_sets; i++) {
        if (config_set(&cfg, sets[i], err, sizeof(err)) < 0) {
            tl_err(lg, "%s", err);
            goto out;
        }
    }
    if (n_rules) {
        char list[8192] = "";
        size_t off = 0;
        for (unsigned i = 0; i < n_rules; i++) {
            if (strchr(rules[i], ',')) {
                tl_err(lg, "-S %s: rule file names must not contain ','", rules[i]);
                goto out;
            }
            off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%s", i ? "," : "", rules[i]);
            if (off >= sizeof(list))
                goto usage_err;
        }
        char *kv = malloc(strlen(list) + 16);
        if (!kv)
            goto out;
        snprintf(kv, strlen(list) + 16, "rules.files=%s", list);
        int r = config_set(&cfg, kv, err, sizeof(err));
        free(kv);
        if (r < 0) {
            tl_err(lg, "%s", err);
            goto out;
        }
    }
    if (config_finalize(&cfg, err, sizeof(err)) < 0) {
        tl_err(lg, "%s", err);
        goto out;
    }
    if (dump) {
        config_dump(&cfg, stdout);
        rc = EXIT_OK;
        goto out;
    }
    if (test_rules) {
        if (cfg.n_rule_files == 0) {
            tl_err(lg, "--test-rules needs rules (-S FILE or rules.files)");
            goto out;
        }
        if (sensor_test_rules(&cfg, stdout, err, sizeof(err)) < 0) {
            tl_err(lg, "%s", err);
            rc = EXIT_USAGE;
        } else {
            rc = EXIT_OK;
        }
        goto out;
    }
    {
        struct log_config lc;
        log_config_default(&lc);
        log_level_parse(cfg.log_level, &lc.level); /* validated by config_finalize */
        log_target_parse(cfg.log_to, &lc.target);
        lc.level = lc.level + verbose > TL_LOG_DEBUG ? TL_LOG_DEBUG : lc.level + verbose;
        lc.rate_burst = cfg.log_rate_limit;
        if (!(lg = log_new(&lc))) {
            fprintf(stderr, "tripline: out of memory\n");
            rc = EXIT_RUNTIME;
            goto out;
        }
        snprintf(pd.user, sizeof(pd.user), "%s", cfg.run_as_user);
        snprintf(pd.group, sizeof(pd.group), "%s", cfg.run_as_group);
        pd.log = lg;
        if (privdrop_resolve(&pd, err, sizeof(err)) < 0) {
            tl_err(lg, "%s", err);
            goto out;
        }
    }
    if (!iface && cfg.interface[0] && n_files == 0)
        iface = cfg.interface;
    int crc = capture_prepare(&capo, &cfg, iface, n_files, &cap);
    if (crc >= 0) {
        rc = crc;
        goto out;
    }
    if (!cap && (n_files == 0) == (iface == NULL)) {
        tl_err(lg, "give either -r FILE (one or more) or -i IFACE");
        goto usage_err;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = on_hup;
    sigaction(SIGHUP, &sa, NULL);
    sa.sa_handler = on_usr2;
    sigaction(SIGUSR2, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    s = sensor_new(&cfg, &g_stop, err, sizeof(err));
    if (!s) {
        tl_err(lg, "%s", err);
        rc = (strstr(err, "key '") != NULL) ? EXIT_USAGE : EXIT_RUNTIME;
        goto out;
    }
    sensor_set_reopen(s, &g_reopen);
    sensor_set_log(s, lg);
    if (cfg.metrics_enabled) {
        if (!(metrics = metrics_server_new(&cfg, lg, err, sizeof(err)))) {
            tl_err(lg, "%s", err);
            rc = EXIT_RUNTIME;
            goto out;
        }
        sensor_set_stats_hook(s, metrics_update, metrics);
    }
    if (privdrop_enabled(&pd)) {
        if (cap) {
            /* AF_XDP detaches its program and DPDK releases its ports at exit: root work */
            tl_err(lg, "run-as: not supported with --capture afxdp or dpdk (they need privileges "
                       "at exit)");
            rc = EXIT_USAGE;
            goto out;
        }
        sensor_set_ready_hook(s, privdrop_hook, &pd);
    }
    {
        /* control socket: an explicit control-socket that fails is an error; the default one
         * (under the log directory) only warns, e.g. when another run uses the same directory */
        char path[108];
        int pr = control_socket_path(&cfg, path, sizeof(path));
        if (pr < 0)
            snprintf(err, sizeof(err), "control socket: path under %s too long", cfg.log_dir);
        if (pr < 0 || !(ctl = control_start(pr == 0 ? path : NULL, s, &g_stop, &g_reload, err,
                                            sizeof(err)))) {
            if (cfg.control_socket[0]) {
                tl_err(lg, "%s", err);
                rc = EXIT_RUNTIME;
                goto out;
            }
            tl_warn(lg, "%s; running without a control socket", err);
            ctl = control_start(NULL, s, &g_stop, &g_reload, err, sizeof(err)); /* SIGUSR2 */
        }
    }
    if (cap) {
        rc = sensor_run_queues(s, capture_source(cap)) == 0 ? EXIT_OK : EXIT_RUNTIME;
    } else if (n_files) {
        rc = sensor_run_files(s, files, n_files) == 0 ? EXIT_OK : EXIT_RUNTIME;
    } else {
        rc = sensor_run_live(s, iface) == 0 ? EXIT_OK : EXIT_RUNTIME;
    }
    sensor_print_summary(s, stderr);
    capture_print_summary(cap, stderr);
    if (metrics && cfg.metrics_linger && !atomic_load(&g_stop)) {
        /* let a scraper read the final counters (replays, batch runs); SIGINT/SIGTERM end it */
        tl_notice(lg, "metrics: serving the final counters for %u s", cfg.metrics_linger);
        for (unsigned i = 0; i < cfg.metrics_linger * 10u && !atomic_load(&g_stop); i++) {
            struct timespec ts = {0, 100000000};
            nanosleep(&ts, NULL);
        }
    }
    goto out;

usage_err:
    usage(stderr);
    rc = EXIT_USAGE;
out:
    control_stop(ctl); /* before the sensor: it serves its counters and reloads */
    metrics_server_free(metrics);
    sensor_free(s);
    capture_close(cap); /* after the workers: they held views into its buffers */
    config_release(&cfg);
    free(files);
    free(sets);
    free(rules);
    log_free(lg);
    return rc;
}
