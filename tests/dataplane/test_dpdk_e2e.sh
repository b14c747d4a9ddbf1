#!/usr/bin/env bash
# DPDK data plane end to end: `tripline --capture dpdk` over net_pcap vdevs (no hugepages, no
# PCI) must give the same flow and alert events as `tripline -r` on the same capture:
#   1. one port, one queue;
#   2. the capture split by flow into two files on two ports (one worker polls both);
#   3. the same two files as two queues of one port (two workers).
# Events are compared whole (sorted JSON objects, flow ids included).
# Usage: test_dpdk_e2e.sh TEST_DPDK_RX  (tripline from TRIPLINE_BUILD_ROOT/sensor/engine)
set -u
RX=${1:?usage: test_dpdk_e2e.sh TEST_DPDK_RX}
BIN=${TRIPLINE_BUILD_ROOT:?}/sensor/engine/tripline
DATA=${TRIPLINE_SHARED_DATA:?}
TMP=$(mktemp -d /tmp/tl_dpdk_e2e.XXXXXX)
trap 'rm -rf "$TMP"; rmdir "/var/run/dpdk/tl_e2e_$$" 2>/dev/null' EXIT
skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }
[ -x "$BIN" ] || skip "no tripline binary at $BIN"
"$BIN" --help 2>&1 | grep -q -- "--capture" || skip "this tripline has no --capture option wired yet"
command -v python3 >/dev/null || skip "python3 is not installed"

RULES=$(dirname "$0")/test_dpdk_e2e.rules
EAL="--no-huge --no-pci -m 256 --no-shconf --no-telemetry --file-prefix tl_e2e_$$ -l 0 --log-level=*:error"
events() { # eve.json -> sorted flow and alert events, one canonical JSON per line
    python3 -c '
import json, sys
out = []
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e.get("event_type") in ("flow", "alert"):
        e.pop("pcap_cnt", None)  # packet number in a capture file: -r only, as in Suricata
        out.append(json.dumps(e, sort_keys=True))
out.sort()
print("\n".join(out))' "$1"
}
run() { # name, tripline args...
    local name=$1; shift
    mkdir -p "$TMP/$name"
    "$BIN" -l "$TMP/$name" --set memory.flows=65536 -S "$RULES" "$@" >"$TMP/$name.log" 2>&1 || { cat "$TMP/$name.log"; fail "$name: tripline exited $?"; }
    events "$TMP/$name/eve.json" >"$TMP/$name.events"
}
same() { # reference, candidate
    if ! cmp -s "$TMP/$1.events" "$TMP/$2.events"; then
        diff "$TMP/$1.events" "$TMP/$2.events" | head -5
        fail "$2: events differ from $1 ($(wc -l <"$TMP/$1.events") vs $(wc -l <"$TMP/$2.events"))"
    fi
}

for cap in "$DATA/pcaps/ndpi/1kxun.pcap" "$DATA/pcaps/ndpi/http_ipv6.pcap" \
           "$DATA/pcaps/ndpi/WebattackSQLinj.pcap"; do
    [ -r "$cap" ] || fail "missing capture $cap"
    n=$(basename "$cap" .pcap)
    run "$n-r" -r "$cap"
    [ -s "$TMP/$n-r.events" ] || fail "$n: -r gave no flow event"
    run "$n-dpdk1" --capture dpdk --dpdk-args "$EAL --vdev=net_pcap0,rx_pcap=$cap"
    same "$n-r" "$n-dpdk1"
    grep -q "dpdk port 0 (net_pcap0): ipackets" "$TMP/$n-dpdk1.log" || fail "$n: no port counters in the summary"
    # the EVE stats event carries the port counters (capture.dpdk): every packet of the file
    # received, none missed
    npk=$(capinfos -c -M "$cap" 2>/dev/null | sed -n 's/.*packets: *\([0-9]*\).*/\1/p')
    grep '"event_type":"stats"' "$TMP/$n-dpdk1/eve.json" | tail -1 | python3 -c 'import json,sys
s = json.load(sys.stdin)["stats"]
c = s["capture"]["dpdk"]
assert c["ipackets"] == s["decoder"]["pkts"] > 0, c
assert sys.argv[1] == "" or c["ipackets"] == int(sys.argv[1]), (c, sys.argv[1])
assert c["imissed"] == 0 and c["ierrors"] == 0 and c["rx_nombuf"] == 0, c
assert c["ibytes"] == s["decoder"]["bytes"], (c, s["decoder"])' "${npk:-}" ||
        fail "$n: the stats event lacks the DPDK port counters"
    "$RX" --split-pcap "$cap" "$TMP/$n-a.pcap" "$TMP/$n-b.pcap" >/dev/null || fail "$n: split"
    run "$n-2ports" --capture dpdk --dpdk-args \
        "$EAL --vdev=net_pcap0,rx_pcap=$TMP/$n-a.pcap --vdev=net_pcap1,rx_pcap=$TMP/$n-b.pcap"
    same "$n-r" "$n-2ports"
    run "$n-2queues" --capture dpdk --queues 2 --dpdk-args \
        "$EAL --vdev=net_pcap0,rx_pcap=$TMP/$n-a.pcap,rx_pcap=$TMP/$n-b.pcap"
    same "$n-r" "$n-2queues"
    grep -q "2 workers" "$TMP/$n-2queues.log" || fail "$n: two queues did not run two workers"
    echo "$n: $(grep -c '"flow"' "$TMP/$n-r.events") flow and $(grep -c '"alert"' "$TMP/$n-r.events") alert events, identical over 1 port, 2 ports, 2 queues"
done

# The same from the configuration file (capture.method, capture.dpdk.eal-args, capture.queues)
# as from the command line; the command line overrides the file.
n=WebattackSQLinj
cat >"$TMP/cap.yaml" <<EOF
capture:
  method: dpdk
  queues: 2
  dpdk:
    eal-args: "$EAL --vdev=net_pcap0,rx_pcap=$TMP/$n-a.pcap,rx_pcap=$TMP/$n-b.pcap"
    mbufs: 4095
EOF
run "$n-cfg" -c "$TMP/cap.yaml"
same "$n-r" "$n-cfg"
grep -q "2 workers" "$TMP/$n-cfg.log" || fail "config file: capture.queues 2 did not run two workers"
run "$n-cfgcli" -c "$TMP/cap.yaml" --queues 1 --dpdk-args "$EAL --vdev=net_pcap0,rx_pcap=$DATA/pcaps/ndpi/$n.pcap"
same "$n-r" "$n-cfgcli"
grep -q " 1 worker$" "$TMP/$n-cfgcli.log" || { cat "$TMP/$n-cfgcli.log"; fail "config file: --queues 1 did not override capture.queues"; }
printf 'capture:\n  method: dpdk\n  dpdk:\n    mbufs: 1\n' >"$TMP/bad.yaml"
"$BIN" -l "$TMP" -c "$TMP/bad.yaml" --dpdk-args "$EAL --vdev=net_pcap0,rx_pcap=$DATA/pcaps/ndpi/ssh.pcap" >"$TMP/bad.log" 2>&1
rc=$?
[ $rc = 2 ] && grep -q "mbufs" "$TMP/bad.log" || { cat "$TMP/bad.log"; fail "config mbufs 1: exit $rc"; }
printf 'capture:\n  method: dpdk\n  dpdk:\n    eal-arg: x\n' >"$TMP/bad.yaml"
"$BIN" -l "$TMP" -c "$TMP/bad.yaml" >"$TMP/bad.log" 2>&1
rc=$?
[ $rc = 2 ] && grep -q "bad.yaml:4: key 'capture.dpdk.eal-arg': unknown key" "$TMP/bad.log" || { cat "$TMP/bad.log"; fail "config typo: exit $rc"; }
echo "$n: same events from capture.* in the config file; command line overrides; errors name key and line"

# capture.bypass-after on DPDK (no kernel bypass: local, Suricata's local bypass): a flow with
# that many bytes is bypassed once nothing of it can reach stream or app-layer inspection (each
# direction past the stream depth or closed by its FIN). The alerts must be exactly -r's (the
# criterion lost nothing); bypassed flows say "bypass":"local", keep their full counts, and the
# stats event counts them (flow_bypassed).
n=1kxun
run "$n-after" --capture dpdk --set capture.bypass-after=1 --dpdk-args "$EAL --vdev=net_pcap0,rx_pcap=$DATA/pcaps/ndpi/$n.pcap"
python3 - "$TMP/$n-r/eve.json" "$TMP/$n-after/eve.json" <<'PY' || fail "$n: bypass-after"
import json, sys
def load(p):
    alerts, flows, stats = [], {}, None
    for line in open(p):
        e = json.loads(line)
        t = e.get("event_type")
        if t == "alert":
            e.pop("pcap_cnt", None)  # -r only
            alerts.append(json.dumps(e, sort_keys=True))
        elif t == "flow":
            flows[e["flow_id"]] = e
        elif t == "stats":
            stats = e["stats"]
    return sorted(alerts), flows, stats
ra, rf, _ = load(sys.argv[1])
ba, bf, st = load(sys.argv[2])
assert ra == ba, "alerts differ with bypass-after"
assert rf.keys() == bf.keys()
nb = 0
for k, e in bf.items():
    f, r = e["flow"], rf[k]["flow"]
    for c in ("pkts_toserver", "pkts_toclient", "bytes_toserver", "bytes_toclient"):
        assert f[c] == r[c], (k, c)
    if f.get("bypass"):
        nb += 1
        assert f["bypass"] == "local" and f["state"] == "bypassed" and e["proto"] == "TCP", e
        assert e["tcp"].get("fin"), e  # here every bypassed flow was closed by FINs
assert nb > 0 and st["flow_bypassed"]["flows"] == nb and st["flow_bypassed"]["local_pkts"] > 0, (nb, st["flow_bypassed"])
print("bypass-after: %d flows bypassed locally, alerts and flow counts as -r" % nb)
PY

# Bad configuration: a clear error naming the setting, exit status 2.
"$BIN" -l "$TMP" --set memory.flows=65536 --capture dpdk --dpdk-args "$EAL" >"$TMP/bad.log" 2>&1
rc=$?
[ $rc = 2 ] && grep -q "no ports" "$TMP/bad.log" || { cat "$TMP/bad.log"; fail "no ports: exit $rc"; }
"$BIN" -l "$TMP" --set memory.flows=65536 --capture dpdk --queues 4 --dpdk-args "$EAL --vdev=net_pcap0,rx_pcap=$DATA/pcaps/ndpi/ssh.pcap" >"$TMP/bad.log" 2>&1
rc=$?
[ $rc = 2 ] && grep -q -- "--queues 4 is above the maximum" "$TMP/bad.log" || { cat "$TMP/bad.log"; fail "queues: exit $rc"; }
echo PASS
