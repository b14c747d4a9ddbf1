#!/usr/bin/env bash
# Root integration test of the XDP/AF_XDP data plane on a real veth pair between two network
# namespaces: attaches Tripline's XDP program to one end (through the AF_XDP source, helper
# test_afxdp_rx), replays real captures into the other end with tcpreplay, and checks that
#  - every frame the peer sent is seen by the XDP program, and is either received in user space,
#    counted as a socket drop, or bypassed (nothing unaccounted);
#  - the busiest flow, put in the bypass map, never reaches user space while its kernel
#    per-flow counters count every one of its packets;
#  - nothing stays attached afterwards; a killed receiver leaves the program, the next start
#    refuses with a clear error, and --xdp-detach frees the interface.
# Frames larger than the veth MTU cannot be sent (GRO captures hold some): tcpreplay reports
# them as failed and they are left out of the expected counts.
# Usage: afxdp_veth.sh TEST_AFXDP_RX. Exit 77 (skip) with a reason when this host cannot.
set -u

RX=${1:?usage: afxdp_veth.sh TEST_AFXDP_RX}
DATA=${TRIPLINE_SHARED_DATA:-$(dirname "$0")/../../../shared/data}
MTU=3000
MAXF=$((MTU + 14))
NSA=tlxa$$
NSB=tlxb$$
TMP=$(mktemp -d /tmp/tl_afxdp.XXXXXX)
HELPER_PID=

skip() { echo "SKIP: $*"; cleanup; exit 77; }
fail() { echo "FAIL: $*"; cleanup; exit 1; }
cleanup() {
    [ -n "$HELPER_PID" ] && kill -KILL "$HELPER_PID" 2>/dev/null
    ip netns del "$NSA" 2>/dev/null
    ip netns del "$NSB" 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT

[ "$(id -u)" = 0 ] || skip "needs root (network namespaces, BPF)"
command -v ip >/dev/null || skip "iproute2 (ip) is not installed"
command -v tcpreplay >/dev/null || skip "tcpreplay is not installed"
[ -x "$RX" ] || fail "helper $RX not found"
[ -d "$DATA/pcaps" ] || skip "shared captures not found at $DATA"

ip netns add "$NSA" 2>/dev/null || skip "cannot create network namespaces"
ip netns add "$NSB" || fail "second namespace"
ip -n "$NSA" link add vA type veth peer name vB netns "$NSB" || fail "veth pair"
for ns in "$NSA" "$NSB"; do
    # No IPv6 autoconfiguration or DAD chatter: only replayed frames cross the link.
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
done
ip -n "$NSA" link set vA mtu $MTU up || fail "vA up"
ip -n "$NSB" link set vB mtu $MTU up || fail "vB up"
ip netns exec "$NSA" sysctl -qw net.ipv6.conf.vA.disable_ipv6=1
ip netns exec "$NSB" sysctl -qw net.ipv6.conf.vB.disable_ipv6=1

val() { sed -n "s/^$1=//p" "$2"; }
tx_packets() { ip netns exec "$NSB" cat /sys/class/net/vB/statistics/tx_packets; }

# Starts the receiver in namespace A with extra args; waits until it is attached.
start_rx() {
    rm -f "$TMP/ready"
    ip netns exec "$NSA" "$RX" -i vA --ready "$TMP/ready" "$@" >"$TMP/out" 2>"$TMP/err" &
    HELPER_PID=$!
    for _ in $(seq 1 100); do
        [ -e "$TMP/ready" ] && return 0
        if ! kill -0 "$HELPER_PID" 2>/dev/null; then
            wait "$HELPER_PID"
            local rc=$?
            HELPER_PID=
            cat "$TMP/err"
            [ $rc = 77 ] && skip "the kernel forbids loading BPF here"
            fail "receiver exited with $rc before attaching"
        fi
        sleep 0.1
    done
    fail "receiver did not attach within 10 s"
}

check_capture() {
    local cap=$1 name
    name=$(basename "$cap")
    local flow n_flow
    flow=$("$RX" --top-flow "$cap" --max-frame $MAXF) || fail "$name: no TCP/UDP flow"
    n_flow=$("$RX" --count-flow "$cap" --flow "$flow" --max-frame $MAXF) || fail "$name: count"

    local tx0 tx1 sent ok failed
    tx0=$(tx_packets)
    start_rx --bypass "$flow" --expect-file "$TMP/expect"
    ip netns exec "$NSB" tcpreplay -i vB --topspeed "$cap" >"$TMP/replay" 2>&1
    tx1=$(tx_packets)
    sent=$((tx1 - tx0))
    ok=$(sed -n 's/.*Successful packets: *\([0-9]*\).*/\1/p' "$TMP/replay")
    failed=$(sed -n 's/.*Failed packets: *\([0-9]*\).*/\1/p' "$TMP/replay")
    echo "$sent" >"$TMP/expect"
    kill -TERM "$HELPER_PID"
    wait "$HELPER_PID" || { cat "$TMP/err"; fail "$name: receiver failed"; }
    HELPER_PID=

    local o=$TMP/out
    echo "$name: sent=$sent (tcpreplay ok=$ok failed=$failed) bypass flow $flow ($n_flow pkts)"
    sed 's/^/    /' "$o" | tr '\n' ' '; echo
    [ "$sent" -gt 0 ] || fail "$name: nothing sent"
    [ "$sent" = "$ok" ] || fail "$name: peer counted $sent frames sent, tcpreplay $ok"
    local xp xr xb xn rcv drops
    xp=$(val xdp_packets "$o"); xr=$(val xdp_redirected "$o"); xb=$(val xdp_bypassed "$o")
    xn=$(val xdp_no_socket "$o"); rcv=$(val received "$o"); drops=$(val sock_drops "$o")
    [ "$xp" = "$sent" ] || fail "$name: XDP saw $xp of $sent frames"
    [ $((xr + xb + xn)) = "$xp" ] || fail "$name: redirected $xr + bypassed $xb + no-socket $xn != $xp"
    [ "$xn" = 0 ] || fail "$name: $xn frames found no socket"
    [ $((rcv + drops)) = "$xr" ] || fail "$name: received $rcv + dropped $drops != redirected $xr"
    [ "$(val flow_user "$o")" = 0 ] || fail "$name: bypassed flow reached user space $(val flow_user "$o") times"
    [ "$(val flow_kernel_packets "$o")" = "$n_flow" ] ||
        fail "$name: kernel counted $(val flow_kernel_packets "$o") packets of the bypassed flow, capture has $n_flow"
    [ "$xb" = "$n_flow" ] || fail "$name: bypassed $xb != flow's $n_flow"
    [ "$(val flow_kernel_bytes "$o")" = "$(val xdp_bypassed_bytes "$o")" ] || fail "$name: bypass bytes differ"
    if [ "$drops" = 0 ]; then
        [ $(( $(val received_bytes "$o") + $(val xdp_bypassed_bytes "$o") )) = "$(val xdp_bytes "$o")" ] ||
            fail "$name: byte accounting"
    fi
    ip netns exec "$NSA" "$RX" --attached -i vA && fail "$name: XDP program still attached after exit"
    ip -n "$NSA" link show vA | grep -q "prog/xdp" && fail "$name: vA still shows an XDP program"
    return 0
}

for cap in "$DATA/pcaps/ndpi/1kxun.pcap" "$DATA/pcaps/ndpi/http_ipv6.pcap" "$DATA/pcaps/ndpi/synscan.pcap"; do
    [ -r "$cap" ] || fail "missing capture $cap"
    check_capture "$cap"
done
# bot.pcap: every frame carries an 802.1Q tag, and its one flow is bypassed in the kernel.
check_capture "$DATA/pcaps/ndpi/bot.pcap"
[ "$(val xdp_vlan "$TMP/out")" = "$(val xdp_packets "$TMP/out")" ] || fail "bot.pcap: VLAN frames not all parsed"

# Two receive queues, one socket each: the same accounting over both.
ip -n "$NSA" link del vA
ip -n "$NSA" link add vA numtxqueues 2 numrxqueues 2 type veth peer name vB netns "$NSB" \
    numtxqueues 2 numrxqueues 2 || fail "two-queue veth pair"
ip -n "$NSA" link set vA mtu $MTU up && ip -n "$NSB" link set vB mtu $MTU up || fail "two-queue veth up"
ip netns exec "$NSA" sysctl -qw net.ipv6.conf.vA.disable_ipv6=1
ip netns exec "$NSB" sysctl -qw net.ipv6.conf.vB.disable_ipv6=1
check_capture "$DATA/pcaps/ndpi/1kxun.pcap"
[ "$(val queues "$TMP/out")" = 2 ] || fail "two-queue veth: $(val queues "$TMP/out") queue(s) served"
[ $(( $(val received_q0 "$TMP/out") + $(val received_q1 "$TMP/out") )) = "$(val received "$TMP/out")" ] ||
    fail "two-queue veth: per-queue counts do not add up"

# Killed without cleanup: the program stays, a second start is refused, --xdp-detach frees it.
start_rx
kill -KILL "$HELPER_PID"; wait "$HELPER_PID" 2>/dev/null; HELPER_PID=
ip netns exec "$NSA" "$RX" --attached -i vA || fail "program gone after SIGKILL (expected it left attached)"
ip netns exec "$NSA" "$RX" -i vA --seconds 1 >/dev/null 2>"$TMP/err2"
rc=$?
[ $rc = 3 ] || fail "second start on a busy interface exited $rc, expected 3 (EBUSY)"
grep -q "xdp-detach" "$TMP/err2" || fail "busy error does not say how to detach: $(cat "$TMP/err2")"
echo "busy start refused: $(grep afxdp "$TMP/err2")"
ip netns exec "$NSA" "$RX" --detach -i vA || fail "--detach failed"
ip netns exec "$NSA" "$RX" --attached -i vA && fail "still attached after --detach"
ip -n "$NSA" link show vA | grep -q "prog/xdp" && fail "vA still shows an XDP program after detach"
echo "PASS"
