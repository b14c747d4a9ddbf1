#!/usr/bin/env bash
# AF_XDP receive rate per queue on a veth pair beside libpcap live capture on the same veth, in
# one run with one sender (tcpreplay --topspeed, looping a capture of small frames preloaded
# in memory), and their ratio. Needs root.
# Usage: bench_afxdp.sh BENCH_AFXDP [SECONDS] [CAPTURE]
set -u
BIN=${1:?usage: bench_afxdp.sh BENCH_AFXDP [SECONDS] [CAPTURE]}
SECS=${2:-3}
DATA=${TRIPLINE_SHARED_DATA:-$(dirname "$0")/../../shared/data}
CAP=${3:-$DATA/pcaps/ndpi/synscan.pcap}
NSA=tlba$$
NSB=tlbb$$
SENDER=
cleanup() {
    [ -n "$SENDER" ] && kill "$SENDER" 2>/dev/null && wait "$SENDER" 2>/dev/null
    ip netns del "$NSA" 2>/dev/null
    ip netns del "$NSB" 2>/dev/null
}
trap cleanup EXIT
[ "$(id -u)" = 0 ] || { echo "bench_afxdp: needs root"; exit 77; }
ip netns add "$NSA" && ip netns add "$NSB" || exit 1
ip -n "$NSA" link add vA type veth peer name vB netns "$NSB"
for ns in "$NSA" "$NSB"; do ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1; done
ip -n "$NSA" link set vA up
ip -n "$NSB" link set vB up

tx() { ip netns exec "$NSB" cat /sys/class/net/vB/statistics/tx_packets; }
measure() { # mode
    local t0 t1 out
    ip netns exec "$NSB" tcpreplay -q -K --topspeed --loop=0 -i vB "$CAP" >/dev/null 2>&1 &
    SENDER=$!
    sleep 0.5
    t0=$(tx)
    out=$(ip netns exec "$NSA" "$BIN" "$1" vA "$SECS" 2>/dev/null)
    t1=$(tx)
    kill "$SENDER"; wait "$SENDER" 2>/dev/null; SENDER=
    echo "$out" | tr '\n' ' '
    echo "sent_pps=$(( (t1 - t0) / ${SECS%.*} ))"
}
a=$(measure afxdp)
p=$(measure pcap)
get() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
apps=$(get "$a" pps); ppps=$(get "$p" pps)
echo "capture: $(basename "$CAP"), veth (1 queue), ${SECS}s each, sender tcpreplay --topspeed"
printf '%-8s %12s %12s %12s %s\n' mode rx_pps drops sender_pps notes
printf '%-8s %12s %12s %12s %s\n' afxdp "$apps" "$(get "$a" drops)" "$(get "$a" sent_pps)" "xdp $(get "$a" xdp_mode), per queue: $(get "$a" pps_q0)"
printf '%-8s %12s %12s %12s\n' libpcap "$ppps" "$(get "$p" drops)" "$(get "$p" sent_pps)"
awk -v a="$apps" -v p="$ppps" 'BEGIN { if (p > 0) printf "ratio afxdp/libpcap: %.2f\n", a / p }'
