#!/usr/bin/env python3
"""tripline with several outputs from the YAML `outputs:` section: an EVE file of alerts only, an
EVE file of every type and a unix-dgram socket read by a listener here. Checks the type filter,
that every line/datagram is one JSON object, that the filtered file holds exactly the alerts of
the full one, and that a bad output key is reported with its name and line."""
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
PCAP = os.path.join(HERE, "..", "data", "sample-sqlinj.pcap")
RULE = 'alert tcp any any -> any any (msg:"tcp syn"; flags:S; sid:1000001; rev:1;)\n'


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
    if failures:
        print("FAIL: " + "\n".join(failures))
        return 1
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
