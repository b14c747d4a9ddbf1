#!/usr/bin/env python3
"""End-to-end tests of the tripline program on the shared real captures.

usage: e2e.py TRIPLINE_BINARY TEST [ARGS]
  flows [GLOB]   TCP/UDP flows (distinct 5-tuples) equal tshark's conversations
                 (expected_flows.txt, exceptions in flow_exceptions.txt); every eve.json line is JSON
  determinism [GLOB]  sorted flow, alert and anomaly records identical with 1, 2 and 4 workers
  badinput       bad captures: one clear message naming the file, exit status
  noloss         tiny event rings: no flow or anomaly event lost, no packet lost in replay
  cli            --help, --version, exit codes, config errors with key and line, --dump-config round trip
Environment: TRIPLINE_SHARED_DATA (default ../shared/data beside the source root).
Exit 77 (skip) when the shared captures are not there.
"""
import fnmatch
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
# Small tables keep start-up fast: memory is reserved up front.
SMALL = ["--set", "memory.flows=65536"]
NOANOM = ["--set", "anomaly.enabled=no"]


def shared_pcaps():
    data = os.environ.get("TRIPLINE_SHARED_DATA") or os.path.join(HERE, "..", "..", "..", "shared", "data")
    p = os.path.join(data, "pcaps")
    if not os.path.isdir(p):
        print(f"SKIP: shared captures not found at {p}")
        sys.exit(77)
    return p


def run(binary, args, check_rc=None):
    r = subprocess.run([binary] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=300)
    if check_rc is not None and r.returncode != check_rc:
        raise AssertionError(f"{' '.join(args)}: exit {r.returncode}, expected {check_rc}\n{r.stderr}")
    return r


def read_eve(path):
    events = []
    with open(path, "rb") as f:
        for n, raw in enumerate(f, 1):
            try:
                events.append(json.loads(raw))
            except ValueError as e:
                raise AssertionError(f"{path}:{n}: not JSON ({e}): {raw[:200]!r}")
    return events


def replay(binary, pcap, workers, tmp, extra=()):
    out = os.path.join(tmp, f"w{workers}")
    shutil.rmtree(out, ignore_errors=True)
    run(binary, ["-r", pcap, "-l", out, "--workers", str(workers)] + SMALL + list(extra), check_rc=0)
    return read_eve(os.path.join(out, "eve.json"))


def load_table(name):
    rows = {}
    for line in open(os.path.join(HERE, name)):
        if line.startswith("#") or not line.strip():
            continue
        f = line.split(None, 3)
        rows[f[0]] = (int(f[1]), int(f[2]), f[3].strip() if len(f) > 3 else "")
    return rows


def selected(rows, pattern):
    return [k for k in rows if fnmatch.fnmatch(k, pattern)]


def test_flows(binary, pattern="*"):
    pcaps = shared_pcaps()
    expected = load_table("expected_flows.txt")
    exceptions = load_table("flow_exceptions.txt")
    failures = []
    names = selected(expected, pattern)
    assert names, f"no capture matches {pattern}"
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            # flow counting does not need the anomaly detectors (their start-up dominates)
            events = replay(binary, os.path.join(pcaps, name), 2, tmp, ["--set", "anomaly.enabled=no"])
            tuples = {"TCP": set(), "UDP": set()}
            records = {"TCP": 0, "UDP": 0}
            for e in events:
                if e.get("event_type") != "flow" or e.get("proto") not in tuples:
                    continue
                a = (e["src_ip"], e.get("src_port")); b = (e["dest_ip"], e.get("dest_port"))
                tuples[e["proto"]].add((min(a, b), max(a, b)))
                records[e["proto"]] += 1
            got = (len(tuples["TCP"]), len(tuples["UDP"]))
            tsh = expected[name][:2]
            want = exceptions[name][:2] if name in exceptions else tsh
            note = f" (exception: tshark says {tsh})" if name in exceptions else ""
            print(f"{name}: tcp {got[0]} udp {got[1]} flows; expected {want}{note}; "
                  f"records tcp {records['TCP']} udp {records['UDP']}")
            if got != want:
                failures.append(f"{name}: got tcp/udp {got}, expected {want}{note}")
            if records["TCP"] < got[0] or records["UDP"] < got[1]:
                failures.append(f"{name}: fewer flow records than 5-tuples")
            stats = [e for e in events if e.get("event_type") == "stats"]
            if not stats:
                failures.append(f"{name}: no final stats event")
    if failures:
        raise AssertionError("\n".join(failures))


# Fields that describe processing, not the traffic: removed before comparing runs.
def canonical(e):
    e = dict(e)
    if e.get("event_type") == "flow":
        pass  # everything in a flow record comes from packets (times are packet times)
    return json.dumps(e, sort_keys=True)


def test_determinism(binary, pattern="*"):
    pcaps = shared_pcaps()
    names = selected(load_table("expected_flows.txt"), pattern)
    assert names, f"no capture matches {pattern}"
    failures = []
    skip = {}
    for line in open(os.path.join(HERE, "determinism_exceptions.txt")):
        if line.strip() and not line.startswith("#"):
            f = line.split()
            skip.setdefault(f[0], set()).add(tuple(sorted(f[1:3])))
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            runs = {}
            pairs = skip.get(name, set())
            for w in (1, 2, 4):
                ev = replay(binary, os.path.join(pcaps, name), w, tmp)
                recs = sorted(canonical(e) for e in ev if e.get("event_type") in ("flow", "alert", "anomaly")
                              and tuple(sorted([e.get("src_ip", ""), e.get("dest_ip", "")])) not in pairs
                              and ("detection", e.get("alert", {}).get("category")) not in pairs)
                runs[w] = recs
            n = {w: len(r) for w, r in runs.items()}
            print(f"{name}: records {n}")
            for w in (2, 4):
                if runs[w] != runs[1]:
                    a, b = set(runs[1]), set(runs[w])
                    only1 = sorted(a - b)[:3]
                    onlyw = sorted(b - a)[:3]
                    failures.append(f"{name}: 1 vs {w} workers differ ({len(runs[1])} vs {len(runs[w])} records)\n"
                                    f"   only with 1: {only1}\n   only with {w}: {onlyw}")
    if failures:
        raise AssertionError("\n".join(failures))


def pcap_bytes(n, length=100, snap=65535, caplen=None):
    out = struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, snap, 1)
    # a real packet: Ethernet + IPv4 + UDP, padded
    for i in range(n):
        eth = b"\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\x08\x00"
        udp_len = length - 14 - 20
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, length - 14, i, 0, 64, 17, 0,
                         bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]))
        udp = struct.pack("!HHHH", 1000 + i, 53, udp_len, 0) + b"x" * (udp_len - 8)
        pkt = eth + ip + udp
        cl = min(len(pkt), caplen if caplen else snap)
        out += struct.pack("<IIII", 1600000000 + i, 0, cl, len(pkt)) + pkt[:cl]
    return out


def test_badinput(binary):
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        def case(label, path, want_rc, want_words, out="o"):
            r = run(binary, ["-r", path, "-l", os.path.join(tmp, out)] + SMALL + NOANOM)
            lines = [l for l in r.stderr.splitlines() if path in l and "events written" not in l]
            ok = r.returncode == want_rc and len(lines) == 1 and all(w in lines[0] for w in want_words)
            print(f"{label}: exit {r.returncode}; {lines[0] if lines else r.stderr.strip()}")
            if not ok:
                failures.append(f"{label}: exit {r.returncode} (want {want_rc}), stderr:\n{r.stderr}")
            return r

        p = os.path.join(tmp, "empty.pcap"); open(p, "wb").close()
        case("empty file", p, 1, ["empty"])
        p = os.path.join(tmp, "magic.pcap"); open(p, "wb").write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" * 4)
        case("wrong magic", p, 1, ["magic"])
        p = os.path.join(tmp, "missing.pcap")
        case("missing file", p, 1, ["No such file"])
        case("a directory", tmp, 1, ["directory"])
        good = pcap_bytes(5)
        p = os.path.join(tmp, "trunc.pcap"); open(p, "wb").write(good[:-40])
        r = case("truncated last record", p, 0, ["truncated record after 4 packets"], out="t")
        if "4 packets" not in r.stderr:
            failures.append("truncated: the 4 complete packets were not processed")
        p = os.path.join(tmp, "trunc0.pcap"); open(p, "wb").write(good[:24 + 10])
        case("truncated first record", p, 1, ["truncated record after 0 packets"], out="t0")
        p = os.path.join(tmp, "snap.pcap"); open(p, "wb").write(pcap_bytes(3, length=200, snap=64, caplen=64))
        r = run(binary, ["-r", p, "-l", os.path.join(tmp, "s")] + SMALL)
        print(f"snaplen-cut: exit {r.returncode}; {r.stderr.strip().splitlines()[-1]}")
        if r.returncode != 0 or "3 packets were cut by the capture's snaplen" not in r.stderr:
            failures.append(f"snaplen-cut: {r.returncode}\n{r.stderr}")
        # several files: a bad one among good ones is reported, the rest processed, exit 0
        pg = os.path.join(tmp, "good.pcap"); open(pg, "wb").write(good)
        r = run(binary, ["-r", pg, "-r", os.path.join(tmp, "empty.pcap"), "-r", pg, "-l",
                         os.path.join(tmp, "m")] + SMALL)
        if r.returncode != 0 or "10 packets" not in r.stderr or "empty" not in r.stderr:
            failures.append(f"mixed files: exit {r.returncode}\n{r.stderr}")
    if failures:
        raise AssertionError("\n".join(failures))


def test_cli(binary):
    failures = []
    r = run(binary, ["--help"], check_rc=0)
    if "Exit status" not in r.stdout:
        failures.append("--help does not document exit codes")
    run(binary, ["--version"], check_rc=0)
    run(binary, [], check_rc=2)
    run(binary, ["--bogus"], check_rc=2)
    with tempfile.TemporaryDirectory() as tmp:
        def bad(text, words, extra=()):
            p = os.path.join(tmp, "c.yaml")
            open(p, "w").write(text)
            r = run(binary, ["-c", p, "-r", "x.pcap"] + list(extra))
            msg = r.stderr.strip()
            print(f"config error: exit {r.returncode}: {msg}")
            if r.returncode != 2 or not all(w in msg for w in words):
                failures.append(f"config {text!r}: exit {r.returncode}: {msg}")
        bad("threading:\n  workers: many\n", ["c.yaml:2", "threading.workers", "integer"])
        bad("flow:\n  timeouts:\n    tcp-nwe: 5\n", ["c.yaml:3", "flow.timeouts.tcp-nwe", "unknown key"])
        bad("memory:\n  flows: 10\n", ["c.yaml:2", "memory.flows", "out of range"])
        bad("memory:\n  fragment-bytes: 12 parsecs\n", ["c.yaml:2", "memory.fragment-bytes", "unit"])
        bad("capture:\n  promisc: maybe\n", ["c.yaml:2", "capture.promisc"])
        bad("threading:\n  runmode: fast\n", ["c.yaml:2", "threading.runmode"])
        bad("bogus-section: 1\n", ["c.yaml:1", "bogus-section", "unknown key"])
        bad("capture: [1, 2\n", ["c.yaml", "YAML"])
        bad("", ["command line", "threading.cpus"], extra=["--set", "threading.cpus=3-1"])
        # --dump-config round trip, with the shipped default file and --set overrides
        dflt = os.path.join(HERE, "..", "..", "sensor", "engine", "tripline.yaml")
        r = run(binary, ["-c", dflt, "--set", "flow.timeouts.tcp-new=33", "--workers", "3",
                         "--set", "anomaly.syn_pps=1234", "--dump-config"], check_rc=0)
        p = os.path.join(tmp, "dump.yaml"); open(p, "w").write(r.stdout)
        r2 = run(binary, ["-c", p, "--dump-config"], check_rc=0)
        strip = lambda t: [l for l in t.splitlines() if not l.startswith("# effective")]
        if strip(r.stdout) != strip(r2.stdout):
            failures.append("--dump-config does not round-trip")
        for want in ("tcp-new: 33", "workers: 3", '"syn_pps": "1234"'):
            if want not in r.stdout:
                failures.append(f"--dump-config lacks {want!r}")
    if failures:
        raise AssertionError("\n".join(failures))


def test_noloss(binary):
    """Tiny event rings force ring-full, overflow and waiting: every event must still arrive."""
    pcaps = shared_pcaps()
    with tempfile.TemporaryDirectory() as tmp:
        for w in (1, 3):
            ev = replay(binary, os.path.join(pcaps, "throughput_mix.pcap"), w, tmp,
                        ["--set", "pipeline.event-ring=64", "--set", "pipeline.event-overflow=128"])
            st = [e for e in ev if e.get("event_type") == "stats"][-1]["stats"]
            flows = sum(1 for e in ev if e.get("event_type") == "flow")
            anomalies = sum(1 for e in ev if e.get("event_type") == "anomaly"
                            and e.get("anomaly", {}).get("type") == "decode")
            p = st["pipeline"]
            print(f"{w} workers: flows {flows}/{st['flow']['total']}, anomalies {anomalies}/"
                  f"{st['decoder']['invalid']}, ring full {p['event_ring_full']}, waits {p['event_waits']}")
            # decode anomalies: one per invalid packet and one per noted valid packet
            if flows != st["flow"]["total"] or anomalies != st["decoder"]["invalid"] + st["decoder"]["notes"]:
                raise AssertionError(f"{w} workers: events lost")
            if p["event_ring_full"] == 0:
                raise AssertionError("the event ring never filled: the test did not test anything")
            if st["capture"]["kernel_packets"] != st["decoder"]["pkts"] or p["dispatch_drops"]:
                raise AssertionError("packets lost between reader and workers in replay")


def main():
    binary, test = sys.argv[1], sys.argv[2]
    args = sys.argv[3:]
    try:
        {"flows": test_flows, "determinism": test_determinism, "badinput": test_badinput,
         "cli": test_cli, "noloss": test_noloss}[test](binary, *args)
    except AssertionError as e:
        print(f"FAIL: {e}")
        return 1
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
