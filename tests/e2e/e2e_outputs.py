#!/usr/bin/env python3
"""tripline with several outputs from the YAML `outputs:` section: an EVE file of alerts only, an
EVE file of every type and a unix-dgram socket read by a listener here. Checks the type filter,
that every line/datagram is one JSON object, that the filtered file holds exactly the alerts of
the full one, and that a bad output key is reported with its name and line. Then min-severity
(an output that takes escalation levels 1-2 only gets exactly the alerts of priority 1-2) and
logrotate: during a paced replay the EVE file is renamed and tripline gets SIGHUP; it must reopen
the file, and the old and new files together must hold every record once (the exit summary's
count plus the stats records)."""
import json
import os
import signal
import time
import socket
import subprocess
import sys
import tempfile
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
PCAP = os.path.join(HERE, "..", "data", "sample-sqlinj.pcap")
RULE = 'alert tcp any any -> any any (msg:"tcp syn"; flags:S; sid:1000001; rev:1;)\n'
SEV_RULES = ('alert tcp any any -> any any (msg:"syn p1"; flags:S; priority:1; sid:1000011; rev:1;)\n'
             'alert tcp any any -> any any (msg:"tcp p2"; priority:2; sid:1000012; rev:1;)\n'
             'alert ip any any -> any any (msg:"ip p3"; priority:3; sid:1000013; rev:1;)\n')
SHARED = os.environ.get("TRIPLINE_SHARED_DATA", os.path.join(HERE, "..", "..", "..", "shared", "data"))
ROTATE_PCAP = os.path.join(SHARED, "pcaps", "ndpi", "netflix.pcap")


def run(binary, args):
    return subprocess.run([binary] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          timeout=120)


def parse_lines(label, lines):
    out = []
    for n, raw in enumerate(lines, 1):
        try:
            obj = json.loads(raw)
        except ValueError as e:
            raise AssertionError(f"{label}:{n}: not JSON ({e}): {raw[:200]!r}")
        if not isinstance(obj, dict) or "event_type" not in obj:
            raise AssertionError(f"{label}:{n}: not an EVE record: {raw[:200]!r}")
        out.append(obj)
    return out


def read_file(path):
    with open(path, "rb") as f:
        return parse_lines(path, f.read().splitlines())


def key(e):
    return json.dumps({k: v for k, v in e.items() if k not in ("tripline_seq", "prev_hash")}, sort_keys=True)


def main():
    binary = sys.argv[1]
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        rules = os.path.join(tmp, "r.rules")
        open(rules, "w").write(RULE)
        sock_path = os.path.join(tmp, "eve.sock")
        rx = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        rx.bind(sock_path)
        rx.settimeout(0.2)
        got, done = [], threading.Event()

        def listen():
            while True:
                try:
                    got.append(rx.recv(1 << 20))
                except socket.timeout:
                    if done.is_set():
                        return

        t = threading.Thread(target=listen)
        t.start()
        cfg = os.path.join(tmp, "c.yaml")
        open(cfg, "w").write(
            "outputs:\n"
            "  alerts-only:\n"
            "    filename: alerts.json\n"
            "    types: [alert]\n"
            "  everything:\n"
            "    type: eve-file\n"
            f"    filename: {tmp}/out/all.json\n"
            "  collector:\n"
            "    type: unix-dgram\n"
            f"    filename: {sock_path}\n"
            f"    spool-dir: {tmp}/spool\n"
            "    types:\n"
            "      - alert\n"
            "      - flow\n")
        out = os.path.join(tmp, "out")
        r = run(binary, ["-c", cfg, "-r", PCAP, "-S", rules, "-l", out, "--workers", "2",
                         "--set", "memory.flows=65536"])
        done.set()
        t.join()
        rx.close()
        if r.returncode != 0:
            raise AssertionError(f"exit {r.returncode}\n{r.stderr}")
        if os.path.exists(os.path.join(out, "eve.json")):
            failures.append("eve.json written although the outputs section does not name it")
        alerts = read_file(os.path.join(out, "alerts.json"))
        full = read_file(os.path.join(out, "all.json"))
        dgrams = parse_lines("datagram", got)
        types = {}
        for e in full:
            types[e["event_type"]] = types.get(e["event_type"], 0) + 1
        print(f"all.json {types}; alerts.json {len(alerts)}; datagrams {len(dgrams)}")
        if not alerts:
            failures.append("no alert written: the filter test tested nothing")
        if {e["event_type"] for e in alerts} != {"alert"}:
            failures.append(f"alerts.json holds other types: {sorted({e['event_type'] for e in alerts})}")
        if not types.get("flow") or not types.get("stats"):
            failures.append(f"all.json lacks flow or stats records: {types}")
        if [key(e) for e in full if e["event_type"] == "alert"] != [key(e) for e in alerts]:
            failures.append("alerts.json is not exactly the alerts of all.json, in order")
        # every output learns app-layer names from the engine (outputs_set_eve_names): the
        # sample capture is HTTP on port 80, so its flow records must say so (the alerts here
        # fire on SYNs, before any payload, so they rightly carry none)
        no_proto = [e for e in full if e["event_type"] == "flow" and e.get("app_proto") != "http"]
        if no_proto:
            failures.append(f"{len(no_proto)} flow records without app_proto http")
        want = [key(e) for e in full if e["event_type"] in ("alert", "flow")]
        if [key(e) for e in dgrams] != want:
            failures.append(f"datagrams ({len(dgrams)}) are not the alert+flow records of all.json "
                            f"({len(want)})")
        if "2 outputs" in r.stderr or "3 outputs" not in r.stderr:
            failures.append(f"summary does not name 3 outputs: {r.stderr}")

        # config errors name the key and its line
        for text, words in (
                ("outputs:\n  a:\n    filename: x.json\n    types: [alert, bogus]\n",
                 ["c.yaml:4", "outputs.a.types"]),
                ("outputs:\n  a:\n    colour: red\n", ["c.yaml:3", "outputs.a.colour"]),
                ("outputs:\n  a: 3\n", ["c.yaml:2", "outputs.a"]),
                ("outputs:\n  s:\n    type: unix-dgram\n    filename: /nonexistent/x.sock\n",
                 ["c.yaml:2", "outputs.s", "spool-dir"])):
            open(cfg, "w").write(text)
            r = run(binary, ["-c", cfg, "-r", PCAP, "-l", out])
            msg = r.stderr.strip()
            print(f"config error: exit {r.returncode}: {msg}")
            if r.returncode != 2 or not all(w in msg for w in words):
                failures.append(f"config {text!r}: exit {r.returncode}: {msg}")
        failures += check_min_severity(binary, tmp)
        failures += check_logrotate(binary, tmp)
    if failures:
        print("FAIL: " + "\n".join(failures))
        return 1
    print("PASS")
    return 0


def check_min_severity(binary, tmp):
    """min-severity 2: escalation levels 1-2 only; the all-types file holds the rest too."""
    failures = []
    rules = os.path.join(tmp, "sev.rules")
    open(rules, "w").write(SEV_RULES)
    out = os.path.join(tmp, "sev")
    cfg = os.path.join(tmp, "sev.yaml")
    open(cfg, "w").write("outputs:\n"
                         "  all:\n    filename: all.json\n"
                         "  csirt:\n    filename: csirt.json\n    types: [alert]\n    min-severity: 2\n")
    r = run(binary, ["-c", cfg, "-r", PCAP, "-S", rules, "-l", out, "--workers", "1"])
    if r.returncode != 0:
        return [f"min-severity run: exit {r.returncode}\n{r.stderr}"]
    full = read_file(os.path.join(out, "all.json"))
    csirt = read_file(os.path.join(out, "csirt.json"))
    sev = {}
    for e in full:
        if e["event_type"] == "alert":
            sev[e["alert"]["severity"]] = sev.get(e["alert"]["severity"], 0) + 1
    print(f"min-severity: alerts by severity {sev}; csirt.json {len(csirt)}")
    if not sev.get(1) or not sev.get(3):
        failures.append(f"min-severity: the rules did not give alerts of severity 1 and 3: {sev}")
    want = [key(e) for e in full if e["event_type"] == "alert" and e["alert"]["severity"] <= 2]
    if [key(e) for e in csirt] != want:
        failures.append(f"min-severity 2: csirt.json ({len(csirt)}) is not the severity 1-2 alerts "
                        f"({len(want)})")
    return failures


def check_logrotate(binary, tmp):
    """Rename the EVE file mid-replay and send SIGHUP: nothing lost, nothing twice."""
    if not os.path.exists(ROTATE_PCAP):
        print(f"logrotate: {ROTATE_PCAP} missing: skipped")
        return []
    rules = os.path.join(tmp, "every.rules")
    open(rules, "w").write('alert ip any any -> any any (msg:"every packet"; sid:1000021; rev:1;)\n')
    out = os.path.join(tmp, "rot")
    os.makedirs(out)
    cfg = os.path.join(tmp, "rot.yaml")
    open(cfg, "w").write("stats:\n  interval: 1\noutputs:\n  eve-log:\n    filename: eve.json\n")
    eve = os.path.join(out, "eve.json")
    # 90 s of capture at 20x: about 4.5 s of replay
    p = subprocess.Popen([binary, "-c", cfg, "-r", ROTATE_PCAP, "-S", rules, "-l", out, "--workers", "1",
                          "--pcap-speed", "20"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and p.poll() is None:
            if os.path.exists(eve) and os.path.getsize(eve) > 0:
                break
            time.sleep(0.02)
        if p.poll() is not None:
            return [f"logrotate: the replay ended before the file could be rotated: {p.stderr.read()}"]
        os.rename(eve, eve + ".1")
        p.send_signal(signal.SIGHUP)
        rotated_alive = p.poll() is None
        _, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    if p.returncode != 0:
        return [f"logrotate: exit {p.returncode}\n{err}"]
    if not rotated_alive:
        return ["logrotate: tripline had exited before SIGHUP"]
    if not os.path.exists(eve):
        return ["logrotate: no new eve.json after SIGHUP"]
    old = read_file(eve + ".1")
    new = read_file(eve)
    m = [ln for ln in err.splitlines() if "events written " in ln]
    written = int(m[-1].split("events written ")[1].split()[0]) if m else -1
    stats = sum(1 for e in old + new if e["event_type"] == "stats")
    print(f"logrotate: {len(old)} records before SIGHUP, {len(new)} after; summary: {written} events + "
          f"{stats} stats")
    failures = []
    if not old or not new:
        failures.append(f"logrotate: one side is empty ({len(old)} before, {len(new)} after)")
    if len(old) + len(new) != written + stats:
        failures.append(f"logrotate: {len(old)} + {len(new)} records, tripline wrote {written} + {stats} stats")
    return failures


if __name__ == "__main__":
    sys.exit(main())
