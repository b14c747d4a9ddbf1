#!/usr/bin/env bash
# Root integration test of the DPDK source on a real link: a veth pair between two network
# namespaces, DPDK's net_af_packet PMD on one end (EAL with --no-huge --no-pci), real captures
# replayed into the other end with tcpreplay. Checks that the frames DPDK hands out are exactly
# the frames sent (count, bytes, content digest), none dropped silently.
# Frames longer than the MTU cannot be sent; they are left out of the reference.
# Usage: dpdk_af_packet_veth.sh TEST_DPDK_RX. Exit 77 (skip) with a reason when this host cannot.
set -u
RX=${1:?usage: dpdk_af_packet_veth.sh TEST_DPDK_RX}
DATA=${TRIPLINE_SHARED_DATA:-$(dirname "$0")/../../../shared/data}
MTU=1500
NSA=tlda$$
NSB=tldb$$
TMP=$(mktemp -d /tmp/tl_dpdk.XXXXXX)
HELPER_PID=
cleanup() {
    [ -n "$HELPER_PID" ] && kill -KILL "$HELPER_PID" 2>/dev/null
    ip netns del "$NSA" 2>/dev/null
    ip netns del "$NSB" 2>/dev/null
    rm -rf "$TMP"
    rmdir "/var/run/dpdk/tl_afp_$$" 2>/dev/null
}
skip() { echo "SKIP: $*"; cleanup; exit 77; }
fail() { echo "FAIL: $*"; cleanup; exit 1; }
trap cleanup EXIT
[ "$(id -u)" = 0 ] || skip "needs root (network namespaces, AF_PACKET)"
command -v tcpreplay >/dev/null || skip "tcpreplay is not installed"
[ -d "$DATA/pcaps" ] || skip "shared captures not found at $DATA"
ip netns add "$NSA" 2>/dev/null || skip "cannot create network namespaces"
ip netns add "$NSB" || fail "namespace"
ip -n "$NSA" link add vA type veth peer name vB netns "$NSB" || fail "veth"
for ns in "$NSA" "$NSB"; do
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
done
ip -n "$NSA" link set vA mtu $MTU up && ip -n "$NSB" link set vB mtu $MTU up || fail "link up"
ip netns exec "$NSA" sysctl -qw net.ipv6.conf.vA.disable_ipv6=1
ip netns exec "$NSB" sysctl -qw net.ipv6.conf.vB.disable_ipv6=1
tx() { ip netns exec "$NSB" cat /sys/class/net/vB/statistics/tx_packets; }
val() { sed -n "s/^$1=//p" "$2"; }

for cap in "$DATA/pcaps/ndpi/1kxun.pcap" "$DATA/pcaps/ndpi/http_ipv6.pcap"; do
    name=$(basename "$cap")
    "$RX" --digest-pcap "$cap" $((MTU + 14)) >"$TMP/ref" || fail "$name: reference"
    EAL="--no-huge --no-pci -m 256 --no-shconf --no-telemetry --file-prefix tl_afp_$$ -l 0 --log-level=*:error --vdev=net_af_packet0,iface=vA,framecnt=4096,blocksz=4096,framesz=2048"
    rm -f "$TMP/ready"
    ip netns exec "$NSA" "$RX" "$EAL" --ready "$TMP/ready" --expect-file "$TMP/expect" >"$TMP/out" 2>"$TMP/err" &
    HELPER_PID=$!
    # 60 s: DPDK's EAL start under ThreadSanitizer on a loaded 2-core machine took over 10 s.
    for _ in $(seq 1 600); do
        [ -e "$TMP/ready" ] && break
        kill -0 "$HELPER_PID" 2>/dev/null || { cat "$TMP/err"; HELPER_PID=; fail "$name: DPDK receiver did not start"; }
        sleep 0.1
    done
    [ -e "$TMP/ready" ] || fail "$name: DPDK receiver not ready in 60 s"
    t0=$(tx)
    # A modest rate and a deep ring: AF_PACKET has no back-pressure, and this test wants exactness.
    ip netns exec "$NSB" tcpreplay -i vB --pps=5000 "$cap" >"$TMP/replay" 2>&1
    t1=$(tx)
    sent=$((t1 - t0))
    echo "$sent" >"$TMP/expect"
    kill -TERM "$HELPER_PID"; wait "$HELPER_PID" || { cat "$TMP/err"; fail "$name: receiver failed"; }
    HELPER_PID=
    echo "$name: sent=$sent; dpdk: $(tr '\n' ' ' <"$TMP/out")"
    [ "$sent" = "$(val received "$TMP/ref")" ] || fail "$name: sent $sent frames, capture has $(val received "$TMP/ref") that fit"
    lost=$(( $(val imissed "$TMP/out") + $(val rx_nombuf "$TMP/out") + $(val ierrors "$TMP/out") ))
    [ "$lost" = 0 ] || fail "$name: DPDK counted $lost frames lost (accounted, but this run must be exact)"
    for k in received bytes digest; do
        [ "$(val $k "$TMP/out")" = "$(val $k "$TMP/ref")" ] || fail "$name: $k differs: dpdk $(val $k "$TMP/out") vs sent $(val $k "$TMP/ref")"
    done
done
echo PASS
