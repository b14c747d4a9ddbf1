/* AF_XDP loader error paths: missing interface, bad settings, no permission, busy interface
 * (a second Tripline, one killed without detaching, a foreign XDP program), and detach.
 *
 *   test_afxdp_loader            unprivileged cases
 *   test_afxdp_loader --root     cases that load BPF: run in a private network namespace on a
 *                                fresh veth pair; exits 77 (skip) when not root or the kernel
 *                                forbids BPF here.
 */
#include <errno.h>
#include <linux/capability.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>
#include <net/if.h>

#include <cmocka.h>

#include "afxdp_source.h"

#define IFACE "tlxdp0"

static void cfg_for(struct dp_afxdp_config *c, const char *iface)
{
    dp_afxdp_config_default(c);
    c->iface = iface;
    c->frames = 256; /* 1 MiB of UMEM: several sources fit the 8 MiB locked-memory limit */
}

static void test_missing_interface(void **state)
{
    (void)state;
    struct dp_afxdp_config c;
    char err[512];
    int e = 0;
    cfg_for(&c, "tl_nosuch0");
    assert_null(dp_afxdp_open(&c, &e, err, sizeof(err)));
    assert_int_equal(e, -ENODEV);
    assert_non_null(strstr(err, "interface tl_nosuch0 not found"));
    assert_int_equal(dp_afxdp_detach("tl_nosuch0", err, sizeof(err)), -ENODEV);
    assert_false(dp_afxdp_attached("tl_nosuch0"));
}

static void test_bad_settings(void **state)
{
    (void)state;
    struct dp_afxdp_config c;
    char err[512];
    int e = 0;
    cfg_for(&c, "lo");
    c.frames = 1000;
    assert_null(dp_afxdp_open(&c, &e, err, sizeof(err)));
    assert_int_equal(e, -EINVAL);
    assert_non_null(strstr(err, "frames 1000 must be a power of two"));
    cfg_for(&c, "lo");
    c.frame_size = 3000;
    assert_null(dp_afxdp_open(&c, &e, err, sizeof(err)));
    assert_non_null(strstr(err, "frame size 3000"));
    cfg_for(&c, NULL);
    assert_null(dp_afxdp_open(&c, &e, err, sizeof(err)));
    assert_non_null(strstr(err, "no interface given"));
    cfg_for(&c, "lo");
    c.queues = 1000;
    assert_null(dp_afxdp_open(&c, &e, err, sizeof(err)));
    assert_int_equal(e, -EINVAL);
    assert_non_null(strstr(err, "--queues 1000 is more than lo has"));
}

/* --- root cases ------------------------------------------------------------------------- */

static void test_busy_second_instance(void **state)
{
    (void)state;
    struct dp_afxdp_config c;
    char err[512];
    int e = 0;
    cfg_for(&c, IFACE);
    struct dp_afxdp *a = dp_afxdp_open(&c, &e, err, sizeof(err));
    if (!a)
        fail_msg("first open failed: %s", err);
    assert_true(dp_afxdp_attached(IFACE));
    assert_null(dp_afxdp_open(&c, &e, err, sizeof(err)));
    assert_int_equal(e, -EBUSY);
    assert_non_null(strstr(err, "already has Tripline's XDP program attached"));
    assert_non_null(strstr(err, "--xdp-detach -i " IFACE));
    /* The refused second start left the first one working. */
    assert_true(dp_afxdp_attached(IFACE));
    dp_afxdp_close(a);
    assert_false(dp_afxdp_attached(IFACE));
}

/* A Tripline killed without cleanup leaves its program: the next start refuses and says how
 * to detach; detach frees the interface; a second detach finds nothing. */
static void test_left_over_program(void **state)
{
    (void)state;
    struct dp_afxdp_config c;
    char err[512];
    int e = 0;
    cfg_for(&c, IFACE);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct dp_afxdp *a = dp_afxdp_open(&c, NULL, err, sizeof(err));
        _exit(a ? 0 : 1); /* as SIGKILL would: no close */
    }
    int status = 0;
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_true(dp_afxdp_attached(IFACE));
    assert_null(dp_afxdp_open(&c, &e, err, sizeof(err)));
    assert_int_equal(e, -EBUSY);
    assert_non_null(strstr(err, "--xdp-detach"));
    assert_int_equal(dp_afxdp_detach(IFACE, err, sizeof(err)), 0);
    assert_false(dp_afxdp_attached(IFACE));
    assert_int_equal(dp_afxdp_detach(IFACE, err, sizeof(err)), -ENOENT);
    assert_non_null(strstr(err, "no XDP program attached"));
    struct dp_afxdp *a = dp_afxdp_open(&c, &e, err, sizeof(err));
    if (!a)
        fail_msg("open after detach failed: %s", err);
    dp_afxdp_close(a);
}

/* Someone else's XDP program (not under a libxdp dispatcher) is never taken over. */
static void test_foreign_program(void **state)
{
    (void)state;
    struct bpf_insn prog[] = {
        {.code = 0xb7, .dst_reg = 0, .imm = 2}, /* r0 = XDP_PASS */
        {.code = 0x95},                         /* exit */
    };
    struct dp_afxdp_config c;
    char err[512];
    int e = 0;
    int ifindex = (int)if_nametoindex(IFACE);
    int fd = bpf_prog_load(BPF_PROG_TYPE_XDP, "foreign_xdp", "GPL", prog, 2, NULL);
    assert_true(fd >= 0);
    assert_int_equal(bpf_xdp_attach(ifindex, fd, XDP_FLAGS_DRV_MODE, NULL), 0);
    cfg_for(&c, IFACE);
    assert_null(dp_afxdp_open(&c, &e, err, sizeof(err)));
    assert_int_equal(e, -EBUSY);
    assert_non_null(strstr(err, "foreign XDP program"));
    assert_false(dp_afxdp_attached(IFACE));
    assert_int_equal(dp_afxdp_detach(IFACE, err, sizeof(err)), -ENOENT);
    assert_non_null(strstr(err, "not Tripline's"));
    assert_int_equal(bpf_xdp_detach(ifindex, XDP_FLAGS_DRV_MODE, NULL), 0);
    close(fd);
}

static void test_no_permission(void **state)
{
    (void)state;
    struct dp_afxdp_config c;
    cfg_for(&c, IFACE);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* Still uid 0, but with no capability at all: what the kernel checks for BPF. */
        struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
        struct __user_cap_data_struct d[2];
        memset(d, 0, sizeof(d));
        if (syscall(SYS_capset, &h, d) != 0)
            _exit(2);
        char err[512];
        int e = 0;
        struct dp_afxdp *a = dp_afxdp_open(&c, &e, err, sizeof(err));
        if (a)
            _exit(3);
        if (e != -EPERM || !strstr(err, "no permission")) {
            fprintf(stderr, "unexpected: %d %s\n", e, err);
            _exit(4);
        }
        _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_false(dp_afxdp_attached(IFACE));
}

/* A private network namespace with a veth pair, so nothing outside is touched. Returns 0, or
 * prints why and returns 77. */
static int root_setup(void)
{
    if (geteuid() != 0) {
        printf("SKIP: needs root (BPF, network namespaces)\n");
        return 77;
    }
    if (unshare(CLONE_NEWNET) != 0) {
        printf("SKIP: cannot create a network namespace: %s\n", strerror(errno));
        return 77;
    }
    if (system("ip link add " IFACE " type veth peer name tlxdp1 && ip link set " IFACE
               " up && ip link set tlxdp1 up") != 0) {
        printf("SKIP: cannot create a veth pair in the namespace\n");
        return 77;
    }
    /* Can this kernel load BPF at all? */
    struct bpf_insn prog[] = {{.code = 0xb7, .dst_reg = 0, .imm = 2}, {.code = 0x95}};
    int fd = bpf_prog_load(BPF_PROG_TYPE_XDP, "probe", "GPL", prog, 2, NULL);
    if (fd < 0) {
        printf("SKIP: the kernel refuses BPF here: %s\n", strerror(errno));
        return 77;
    }
    close(fd);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "--root")) {
        int rc = root_setup();
        if (rc)
            return rc;
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_busy_second_instance),
            cmocka_unit_test(test_left_over_program),
            cmocka_unit_test(test_foreign_program),
            cmocka_unit_test(test_no_permission),
        };
        return cmocka_run_group_tests_name("afxdp_loader_root", tests, NULL, NULL);
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_missing_interface),
        cmocka_unit_test(test_bad_settings),
    };
    return cmocka_run_group_tests_name("afxdp_loader", tests, NULL, NULL);
}
