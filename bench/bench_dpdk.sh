#!/usr/bin/env bash
# DPDK data plane, one worker, in one run:
#   1. receive-only from net_null (bench_dpdk: rx burst + views + release): the cost floor;
#   2. the full pipeline (tripline --capture dpdk) on net_null for the same time;
#   3. the full pipeline on a net_pcap replay of a real capture (until the file is consumed),
#      beside `tripline -r` of the same file in one thread for reference;
# with the ratios of 2 and 3 to 1. No hugepages, no PCI.
# Usage: bench_dpdk.sh BENCH_DPDK TRIPLINE [SECONDS] [CAPTURE]
set -u
BENCH=${1:?usage: bench_dpdk.sh BENCH_DPDK TRIPLINE [SECONDS] [CAPTURE]}
TL=${2:?usage: bench_dpdk.sh BENCH_DPDK TRIPLINE [SECONDS] [CAPTURE]}
SECS=${3:-5}
DATA=${TRIPLINE_SHARED_DATA:-$(dirname "$0")/../../shared/data}
CAP=${4:-$DATA/pcaps/throughput_mix.pcap}
EAL="--no-huge --no-pci -m 1024 --no-shconf --no-telemetry -l 0 --log-level=*:error"
TMP=$(mktemp -d /tmp/tl_bench_dpdk.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

rx=$("$BENCH" "$EAL --vdev=net_null0,size=64" "$SECS" 1 2>/dev/null | sed -n 's/^pps=//p')
[ -n "$rx" ] || { echo "bench_dpdk: rx-only run failed"; exit 1; }

mpps_of() { sed -n 's/.* s: \([0-9.]*\) Mpps.*/\1/p' "$1" | head -1; }
timeout -s INT "$SECS" "$TL" -l "$TMP" --set memory.flows=65536 --capture dpdk \
    --dpdk-args "$EAL --vdev=net_null0,size=64" >"$TMP/null.log" 2>&1
null_mpps=$(mpps_of "$TMP/null.log")
"$TL" -l "$TMP" --capture dpdk --dpdk-args "$EAL --vdev=net_pcap0,rx_pcap=$CAP" >"$TMP/pcap.log" 2>&1
pcap_mpps=$(mpps_of "$TMP/pcap.log")
"$TL" -l "$TMP" --runmode single -r "$CAP" >"$TMP/r.log" 2>&1
r_mpps=$(mpps_of "$TMP/r.log")
[ -n "$null_mpps" ] && [ -n "$pcap_mpps" ] || { cat "$TMP/null.log" "$TMP/pcap.log"; echo "bench_dpdk: pipeline runs failed"; exit 1; }

echo "DPDK, one worker (one rx queue), $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg)"
printf '%-42s %10s %8s\n' run Mpps ratio
awk -v rx="$rx" -v n="$null_mpps" -v p="$pcap_mpps" -v rr="${r_mpps:-0}" -v cap="$(basename "$CAP")" 'BEGIN {
    r = rx / 1e6
    printf "%-42s %10.2f %8s\n", "rx-only, net_null (64 B)", r, "1.00"
    printf "%-42s %10.2f %8.3f\n", "full pipeline, net_null (64 B)", n, n / r
    printf "%-42s %10.2f %8.3f\n", "full pipeline, net_pcap " cap, p, p / r
    printf "%-42s %10.2f %8.3f\n", "(reference) tripline -r, single thread", rr, rr / r
}'
grep -E "packets \(|dpdk port" "$TMP/pcap.log" | sed 's/^/  pcap replay: /'
