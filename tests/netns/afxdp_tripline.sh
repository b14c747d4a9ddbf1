#!/usr/bin/env bash
# `tripline --capture afxdp` on a veth pair between two network namespaces, fed by tcpreplay,
# against `tripline -r` on the same frames: the flows (addresses, ports, protocol, packets and
# bytes each way) and rule alerts (signature, addresses, ports) must be the same, every frame sent
# must reach a worker (kernel and socket counters in the summary), and nothing may stay
# attached after the sensor exits. Timestamps differ by nature (AF_XDP stamps on receipt), so
# the captures used here have no idle gap longer than a flow timeout.
# Usage: afxdp_tripline.sh   (tripline from TRIPLINE_BUILD_ROOT/sensor/engine) - exit 77 to skip.
set -u
BIN=${TRIPLINE_BUILD_ROOT:?}/sensor/engine/tripline
DATA=${TRIPLINE_SHARED_DATA:?}
MTU=3000
NSA=tlta$$
NSB=tltb$$
TMP=$(mktemp -d /tmp/tl_afxdp_tl.XXXXXX)
TL_PID=
cleanup() {
    [ -n "$TL_PID" ] && kill -KILL "$TL_PID" 2>/dev/null
    ip netns del "$NSA" 2>/dev/null
    ip netns del "$NSB" 2>/dev/null
    rm -rf "$TMP"
}
skip() { echo "SKIP: $*"; cleanup; exit 77; }
fail() { echo "FAIL: $*"; cleanup; exit 1; }
trap cleanup EXIT
[ "$(id -u)" = 0 ] || skip "needs root (network namespaces, BPF)"
[ -x "$BIN" ] || skip "no tripline binary at $BIN"
"$BIN" --help 2>&1 | grep -q -- "--capture afxdp" || skip "this tripline has no --capture afxdp wired yet"
command -v tcpreplay >/dev/null && command -v tshark >/dev/null || skip "needs tcpreplay and tshark"
command -v python3 >/dev/null || skip "needs python3"

ip netns add "$NSA" 2>/dev/null || skip "cannot create network namespaces"
ip netns add "$NSB" || fail "namespace"
ip -n "$NSA" link add vA type veth peer name vB netns "$NSB" || fail "veth"
for ns in "$NSA" "$NSB"; do
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
done
ip -n "$NSA" link set vA mtu $MTU up && ip -n "$NSB" link set vB mtu $MTU up || fail "link up"
ip netns exec "$NSA" sysctl -qw net.ipv6.conf.vA.disable_ipv6=1
ip netns exec "$NSB" sysctl -qw net.ipv6.conf.vB.disable_ipv6=1

summary() { # eve.json -> canonical flows and alerts without times
    python3 -c '
import json, sys
out = []
for line in open(sys.argv[1]):
    e = json.loads(line)
    t = e.get("event_type")
    key = [e.get("src_ip"), e.get("src_port"), e.get("dest_ip"), e.get("dest_port"), e.get("proto")]
    if t == "flow":
        f = e["flow"]
        out.append(json.dumps(["flow"] + key + [f["pkts_toserver"], f["pkts_toclient"],
                                                f["bytes_toserver"], f["bytes_toclient"]]))
    elif t == "alert" and e["alert"].get("gid", 1) == 1:
        # rule alerts only: the anomaly detectors (gid 2) measure rates in packet time, and a
        # live replay has its own timing
        out.append(json.dumps(["alert"] + key + [e["alert"].get("signature_id")]))
out.sort()
print("\n".join(out))' "$1"
}
COMMON=(--set memory.flows=65536 --set stats.interval=1)
RULES=(-S "$(dirname "$0")/../dataplane/test_dpdk_e2e.rules")

for cap in "$DATA/pcaps/ndpi/WebattackSQLinj.pcap" "$DATA/pcaps/ndpi/http_ipv6.pcap" \
           "$DATA/pcaps/ndpi/synscan.pcap"; do
    n=$(basename "$cap" .pcap)
    # The frames a veth with this MTU can carry: the reference sees exactly what is sent.
    tshark -r "$cap" -Y "frame.len <= $((MTU + 14))" -w "$TMP/$n.pcap" -F pcap 2>/dev/null || fail "$n: filter"
    mkdir -p "$TMP/$n-r" "$TMP/$n-x"
    "$BIN" -l "$TMP/$n-r" "${COMMON[@]}" "${RULES[@]}" -r "$TMP/$n.pcap" >"$TMP/$n-r.log" 2>&1 || fail "$n: -r"
    ip netns exec "$NSA" "$BIN" -l "$TMP/$n-x" "${COMMON[@]}" "${RULES[@]}" --capture afxdp -i vA \
        >"$TMP/$n-x.log" 2>&1 &
    TL_PID=$!
    # Replay once the workers run (their first stats event is out): the sockets exist before
    # the rules are compiled, and a ring filling meanwhile would drop frames.
    for _ in $(seq 1 300); do
        grep -q '"event_type":"stats"' "$TMP/$n-x/eve.json" 2>/dev/null && break
        kill -0 "$TL_PID" 2>/dev/null || { cat "$TMP/$n-x.log"; TL_PID=; fail "$n: tripline exited at start"; }
        sleep 0.1
    done
    ip netns exec "$NSB" tcpreplay -i vB --pps=1000 "$TMP/$n.pcap" >"$TMP/$n-replay.log" 2>&1 || fail "$n: tcpreplay"
    sent=$(sed -n 's/.*Successful packets: *\([0-9]*\).*/\1/p' "$TMP/$n-replay.log")
    # stop once the workers have decoded every frame sent (the stats events say; 30 s at most)
    for _ in $(seq 1 300); do
        done_pkts=$(grep '"event_type":"stats"' "$TMP/$n-x/eve.json" 2>/dev/null | tail -1 |
                    sed -n 's/.*"decoder":{"pkts":\([0-9]*\).*/\1/p')
        [ "${done_pkts:-0}" -ge "$sent" ] && break
        sleep 0.1
    done
    kill -INT "$TL_PID"; wait "$TL_PID" || { cat "$TMP/$n-x.log"; TL_PID=; fail "$n: tripline failed"; }
    TL_PID=
    grep -q "xdp: *$sent packets seen" "$TMP/$n-x.log" || { cat "$TMP/$n-x.log"; fail "$n: kernel did not see the $sent frames sent"; }
    # the last EVE stats event has the XDP program's counters (capture.afxdp)
    grep '"event_type":"stats"' "$TMP/$n-x/eve.json" | tail -1 | python3 -c 'import json,sys
c = json.load(sys.stdin)["stats"]["capture"]["afxdp"]
n = int(sys.argv[1])
assert c["kernel_packets"] == n and c["redirected"] == n and c["bypassed_packets"] == 0, c
assert c["tcp"] + c["udp"] + c["icmp"] + c["other_l4"] + c["non_ip"] + c["parse_failed"] >= n - c["fragments"], c' "$sent" ||
        fail "$n: the stats event lacks the XDP counters"
    grep -q "^tripline: $sent packets" "$TMP/$n-x.log" || { cat "$TMP/$n-x.log"; fail "$n: workers did not get the $sent frames"; }
    summary "$TMP/$n-r/eve.json" >"$TMP/$n-r.sum"
    summary "$TMP/$n-x/eve.json" >"$TMP/$n-x.sum"
    cmp -s "$TMP/$n-r.sum" "$TMP/$n-x.sum" || { diff "$TMP/$n-r.sum" "$TMP/$n-x.sum" | head; fail "$n: flows/alerts differ from -r"; }
    ip -n "$NSA" link show vA | grep -q "prog/xdp" && fail "$n: XDP program left attached"
    echo "$n: $sent frames, $(grep -c flow "$TMP/$n-r.sum") flows and $(grep -c alert "$TMP/$n-r.sum") alerts as with -r"
done
# Bypass: a rule with `bypass` matches each HTTP request; the worker puts the flow into the XDP
# bypass map (once), the kernel keeps counting its packets but no longer redirects them, and
# the flow record adds the kernel's counters (Suricata's "bypassed" object). Checked: the
# kernel saw every frame; user space got sent - bypassed; at least one packet was bypassed;
# each bypassed flow says so and its totals (user + kernel) equal -r's, which bypasses
# locally (counts, does not inspect), so flows and alerts are the same as with -r; the EVE
# stats event carries the XDP counters (capture.afxdp) and flow_bypassed.
n=bypass
cap="$DATA/pcaps/ndpi/WebattackSQLinj.pcap"
BRULES=(-S "$(dirname "$0")/bypass.rules")
cp "$TMP/WebattackSQLinj.pcap" "$TMP/$n.pcap" || fail "$n: the filtered capture of the first pass"
mkdir -p "$TMP/$n-r" "$TMP/$n-x"
"$BIN" -l "$TMP/$n-r" "${COMMON[@]}" "${BRULES[@]}" -r "$TMP/$n.pcap" >"$TMP/$n-r.log" 2>&1 || fail "$n: -r"
ip netns exec "$NSA" "$BIN" -l "$TMP/$n-x" "${COMMON[@]}" "${BRULES[@]}" --capture afxdp -i vA \
    >"$TMP/$n-x.log" 2>&1 &
TL_PID=$!
for _ in $(seq 1 300); do
    grep -q '"event_type":"stats"' "$TMP/$n-x/eve.json" 2>/dev/null && break
    kill -0 "$TL_PID" 2>/dev/null || { cat "$TMP/$n-x.log"; TL_PID=; fail "$n: tripline exited at start"; }
    sleep 0.1
done
# 200 pps: a request is handled (map updated) long before the next frame of its flow
ip netns exec "$NSB" tcpreplay -i vB --pps=200 "$TMP/$n.pcap" >"$TMP/$n-replay.log" 2>&1 || fail "$n: tcpreplay"
sent=$(sed -n 's/.*Successful packets: *\([0-9]*\).*/\1/p' "$TMP/$n-replay.log")
laststats() { grep '"event_type":"stats"' "$TMP/$n-x/eve.json" | tail -1; }
statnum() { # stats event on stdin, dotted path -> number
    python3 -c 'import json,sys
v=json.load(sys.stdin)["stats"]
for k in sys.argv[1].split("."): v=v.get(k, {}) if isinstance(v, dict) else {}
print(v if isinstance(v, int) else -1)' "$1"
}
for _ in $(seq 1 120); do # every frame seen by the kernel and either decoded or bypassed
    laststats | python3 -c 'import json,sys
s = json.load(sys.stdin)["stats"]; n = int(sys.argv[1]); c = s["capture"]["afxdp"]
sys.exit(0 if c["kernel_packets"] >= n and s["decoder"]["pkts"] + c["bypassed_packets"] >= n else 1)' "$sent" 2>/dev/null && break
    sleep 0.25
done
kill -INT "$TL_PID"; wait "$TL_PID" || { cat "$TMP/$n-x.log"; TL_PID=; fail "$n: tripline failed"; }
TL_PID=
st=$(laststats)
kpk=$(echo "$st" | statnum capture.afxdp.kernel_packets)
bpk=$(echo "$st" | statnum capture.afxdp.bypassed_packets)
upk=$(echo "$st" | statnum decoder.pkts)
fbf=$(echo "$st" | statnum flow_bypassed.capture)
fbp=$(echo "$st" | statnum flow_bypassed.pkts)
[ "$kpk" = "$sent" ] || { cat "$TMP/$n-x.log"; fail "$n: kernel counted $kpk of $sent frames"; }
[ "$bpk" -gt 0 ] || { cat "$TMP/$n-x.log"; fail "$n: no packet was bypassed in the kernel"; }
[ $((upk + bpk)) = "$sent" ] || fail "$n: user space got $upk and the kernel bypassed $bpk of $sent frames"
[ "$fbf" -gt 0 ] && [ "$fbp" = "$bpk" ] || fail "$n: flow_bypassed: $fbf flows, $fbp packets (kernel: $bpk)"
grep -q "bypass: .* flows ([1-9][0-9]* in the capture)" "$TMP/$n-x.log" || { cat "$TMP/$n-x.log"; fail "$n: summary has no bypass line"; }
grep -q "xdp: *$sent packets seen.* $bpk bypassed" "$TMP/$n-x.log" || { cat "$TMP/$n-x.log"; fail "$n: summary has no XDP counters"; }
python3 - "$TMP/$n-x/eve.json" "$bpk" <<'PY' || fail "$n: flow records do not carry the bypassed counters"
import json, sys
kern = 0; nflows = 0
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e.get("event_type") != "flow" or "bypassed" not in e["flow"]:
        continue
    f = e["flow"]; b = f["bypassed"]; nflows += 1
    assert f["bypass"] == "capture" and f["state"] == "bypassed", f
    for k in ("pkts_toserver", "pkts_toclient", "bytes_toserver", "bytes_toclient"):
        assert 0 <= b[k] <= f[k], (k, f)
    kern += b["pkts_toserver"] + b["pkts_toclient"]
assert nflows > 0 and kern == int(sys.argv[2]), (nflows, kern, sys.argv[2])
print("bypass: %d flows carry %d kernel-counted packets" % (nflows, kern))
PY
summary "$TMP/$n-r/eve.json" >"$TMP/$n-r.sum"
summary "$TMP/$n-x/eve.json" >"$TMP/$n-x.sum"
cmp -s "$TMP/$n-r.sum" "$TMP/$n-x.sum" || { diff "$TMP/$n-r.sum" "$TMP/$n-x.sum" | head; fail "$n: flows/alerts differ from -r"; }
grep -q '"signature_id":9100011' "$TMP/$n-x/eve.json" && fail "$n: a bypassed flow was still inspected"
ip -n "$NSA" link show vA | grep -q "prog/xdp" && fail "$n: XDP program left attached"
echo "$n: $sent frames: $bpk bypassed in the kernel, $upk to user space; flows and alerts as with -r"

# SIGKILL leaves the program attached: the next start refuses (exit 1, says how to detach),
# `tripline --xdp-detach -i vA` frees the interface.
mkdir -p "$TMP/kill"
ip netns exec "$NSA" "$BIN" -l "$TMP/kill" "${COMMON[@]}" --capture afxdp -i vA >"$TMP/kill.log" 2>&1 &
TL_PID=$!
for _ in $(seq 1 300); do
    grep -q '"event_type":"stats"' "$TMP/kill/eve.json" 2>/dev/null && break
    sleep 0.1
done
kill -KILL "$TL_PID"; wait "$TL_PID" 2>/dev/null; TL_PID=
ip -n "$NSA" link show vA | grep -q "prog/xdp" || fail "no program left after SIGKILL (expected one)"
ip netns exec "$NSA" "$BIN" -l "$TMP/kill" --capture afxdp -i vA >"$TMP/busy.log" 2>&1
rc=$?
[ $rc = 1 ] && grep -q -- "--xdp-detach -i vA" "$TMP/busy.log" || { cat "$TMP/busy.log"; fail "busy start: exit $rc"; }
ip netns exec "$NSA" "$BIN" --xdp-detach -i vA >"$TMP/detach.log" 2>&1 || { cat "$TMP/detach.log"; fail "--xdp-detach failed"; }
ip -n "$NSA" link show vA | grep -q "prog/xdp" && fail "program still attached after --xdp-detach"
echo "killed sensor: busy start refused, --xdp-detach freed vA"
echo PASS
