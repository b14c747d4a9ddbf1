#!/usr/bin/env python3
"""Twenty rule reloads during one paced replay (issue 9: reload memory, rules_loaded metric).

The capture (written here) is a steady stream of UDP packets (8 flows, one packet every 10 ms of
packet time) replayed at --pcap-speed 1. Generation g of the rule file has one UDP rule that
matches every packet, sid 10*g, msg "generation g ...", plus g % 3 TCP rules that never match: the
rule count changes with every reload. The test reloads 20 times (the first through tripline-ctl,
the others straight over the control socket, every fifth by SIGUSR2) while the capture plays, then
stops the run with `tripline-ctl shutdown`.

Checks:
  - at most two rule generations are alive at any poll (stats rules.generations_alive), and each
    replaced generation is freed during the run (back to 1) once the output wrote its alerts;
  - after each reload rules.loaded (control socket), tripline_rules_loaded (Prometheus; every
    fourth reload, the endpoint refreshes once a second) and detect.rules_loaded of every EVE stats
    record of that generation equal the new set's count;
  - every packet read gives exactly one alert; its signature is the text of its sid's generation
    (a rule set freed while its alerts were queued shows as a wrong text, or under ASan as a
    use-after-free and a failed exit), and its time lies between the switches into and out of
    its generation (packet times each switch reported).
"""
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import prom_check  # noqa: E402
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from e2e_common import check, eve_ts_ns, failures, finish, step, udp_frame, write_pcap  # noqa: E402

T0 = 1700000000
STEP_US = 10000          # one packet per 10 ms of packet time
DURATION_S = 300         # longer than the test needs: it ends by `shutdown`
RELOADS = 20


def msg_of(g):
    return f"generation {g}: the rule text an alert of this generation must carry"


def rules_of(g):
    text = f'alert udp any any -> any any (msg:"{msg_of(g)}"; sid:{10 * g}; rev:1;)\n'
    for j in range(g % 3):
        text += f'alert tcp any any -> any 9 (msg:"never {g}.{j}"; sid:{10 * g + 1 + j}; rev:1;)\n'
    return text, 1 + g % 3


def write_steady_pcap(path):
    """One UDP packet per STEP_US from 8 flows for DURATION_S of packet time."""
    def frames():
        for i in range(DURATION_S * 1000000 // STEP_US):
            flow = i % 8
            yield (T0 * 1000000 + i * STEP_US,
                   udp_frame([10, 0, 0, 1 + flow], [10, 0, 1, 1], 10000 + flow, 5000,
                             struct.pack("!II", i, flow), ip_id=i))
    write_pcap(path, frames())


def request(sock, obj):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(120)
    s.connect(sock)
    s.sendall(json.dumps(obj).encode() + b"\n")
    s.shutdown(socket.SHUT_WR)
    data = b""
    while b"\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    return json.loads(data.decode().split("\n")[0])


def main():
    tripline, ctl = sys.argv[1], sys.argv[2]
    with tempfile.TemporaryDirectory() as tmp:
        pcap = os.path.join(tmp, "steady.pcap")
        write_steady_pcap(pcap)
        rules = os.path.join(tmp, "live.rules")
        with open(rules, "w") as f:
            f.write(rules_of(1)[0])
        sock = os.path.join(tmp, "tripline.sock")
        p = subprocess.Popen(
            [tripline, "-r", pcap, "-S", rules, "-l", tmp, "--workers", "2", "--pcap-speed", "1",
             "--set", "stats.interval=1", "--set", "metrics.enabled=yes",
             "--set", "metrics.listen=127.0.0.1:0"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        lines, port = [], [0]
        port_ev = threading.Event()

        def read_stderr():
            for line in p.stderr:
                lines.append(line)
                m = re.search(r"metrics: serving http://127\.0\.0\.1:(\d+)/metrics", line)
                if m:
                    port[0] = int(m.group(1))
                    port_ev.set()
            port_ev.set()

        reader = threading.Thread(target=read_stderr, daemon=True)
        reader.start()
        max_alive = [0]

        def stats():
            if p.poll() is not None:
                raise AssertionError(f"tripline exited (rc {p.returncode}):\n" + "".join(lines[-30:]))
            r = request(sock, {"command": "stats"})
            check(r.get("ok") is True, f"stats reply {r}")
            st = r["stats"]
            alive = st["rules"].get("generations_alive", 99)
            max_alive[0] = max(max_alive[0], alive)
            check(alive <= 2, f"{alive} rule generations alive: {st['rules']}")
            return st

        def wait(what, pred, timeout=150):
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if os.path.exists(sock):
                    try:
                        st = stats()
                    except (ConnectionRefusedError, FileNotFoundError):
                        st = None
                    if st is not None and pred(st):
                        return st
                time.sleep(0.02)
            raise AssertionError(f"timeout waiting for {what}")

        def prom():
            with urllib.request.urlopen(f"http://127.0.0.1:{port[0]}/metrics", timeout=30) as r:
                s, _ = prom_check.parse(r.read().decode())
            return lambda name, **lab: int(prom_check.value(s, name, **lab))

        switch = {}  # generation -> (min, max) packet time of the workers' switch into it
        counts = {1: rules_of(1)[1]}
        try:
            if not port_ev.wait(150) or not port[0]:
                raise AssertionError("no 'metrics: serving' line:\n" + "".join(lines))
            wait("start", lambda s: s["decoder"]["pkts"] >= 50)
            step("replay running")
            for g in range(2, RELOADS + 2):
                text, n = rules_of(g)
                counts[g] = n
                with open(rules, "w") as f:
                    f.write(text)
                if g == 2:
                    r = subprocess.run([ctl, "-s", sock, "--compact", "reload-rules"], stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, text=True, timeout=120)
                    check(r.returncode == 0, f"tripline-ctl reload-rules: rc {r.returncode} {r.stderr}")
                    rep = json.loads(r.stdout)
                elif g % 5 == 0:
                    p.send_signal(signal.SIGUSR2)
                    rep = None
                else:
                    rep = request(sock, {"command": "reload-rules"})
                if rep is not None:
                    check(rep.get("ok") is True and rep.get("generation") == g and rep.get("rules_loaded") == n,
                          f"reload to generation {g}: {rep}")
                # every worker switched: the switch times of generation g
                st = wait(f"generation {g} switched",
                          lambda s: s["rules"]["generation"] == g and s["rules"]["workers_switched"] == 2)
                switch[g] = (st["rules"]["switch_ts_min"], st["rules"]["switch_ts_max"])
                check(st["rules"]["loaded"] == n, f"generation {g}: stats rules.loaded {st['rules']['loaded']} != {n}")
                # the replaced generation is freed during the run (the output wrote its alerts)
                wait(f"generation {g - 1} freed", lambda s: s["rules"]["generations_alive"] == 1)
                if g % 4 == 0 or g == RELOADS + 1:
                    deadline = time.monotonic() + 60
                    v = prom()
                    while v("tripline_rules_generation") != g and time.monotonic() < deadline:
                        time.sleep(0.1)
                        v = prom()
                    check(v("tripline_rules_generation") == g, f"metrics generation {g}")
                    check(v("tripline_rules_loaded") == n,
                          f"generation {g}: tripline_rules_loaded {v('tripline_rules_loaded')} != {n}")
                    check(v("tripline_rules_generations_alive") <= 2, "metrics: generations alive")
                step(f"generation {g}: {n} rules, switch {switch[g]}")
            check(max_alive[0] == 1 or max_alive[0] == 2, f"max alive {max_alive[0]}")
            # a little traffic on the last generation, then stop
            last = stats()["decoder"]["pkts"]
            wait("packets after the last reload", lambda s: s["decoder"]["pkts"] >= last + 20)
            r = subprocess.run([ctl, "-s", sock, "--compact", "shutdown"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, timeout=120)
            check(r.returncode == 0, f"shutdown: rc {r.returncode} {r.stderr}")
        except Exception:
            p.kill()
            p.wait()
            reader.join(10)
            print("".join(lines[-40:]), file=sys.stderr)
            raise
        rc = p.wait(timeout=120)
        reader.join(30)
        stderr = "".join(lines)
        check(rc == 0, f"exit status {rc}: {stderr[-3000:]}")
        m = re.search(r"tripline: (\d+) packets \(", stderr)
        npk = int(m.group(1)) if m else None
        check(f"rules: {counts[RELOADS + 1]} loaded (generation {RELOADS + 1}), reloads {RELOADS} ok, 0 failed"
              in stderr, "summary rules line")

        with open(os.path.join(tmp, "eve.json")) as f:
            eve = [json.loads(l) for l in f if l.strip()]
        alerts = [e for e in eve if e["event_type"] == "alert"]
        check(npk is not None and len(alerts) == npk, f"{len(alerts)} alerts for {npk} packets")
        seen_ts = set()
        wrong_text = 0
        for a in alerts:
            sid = a["alert"]["signature_id"]
            g = sid // 10
            if not check(sid % 10 == 0 and g in counts, f"unexpected sid {sid}"):
                continue
            if a["alert"]["signature"] != msg_of(g):
                wrong_text += 1
            t = eve_ts_ns(a["timestamp"])
            check(t not in seen_ts, f"packet at {t} matched twice")
            seen_ts.add(t)
            if g > 1:
                check(t >= switch[g][0], f"generation {g} alert at {t} before its switch {switch[g]}")
            if g < RELOADS + 1:
                check(t <= switch[g + 1][1], f"generation {g} alert at {t} after the next switch {switch[g + 1]}")
        check(wrong_text == 0, f"{wrong_text} alerts carry another generation's text (freed rule set?)")
        gens = {a["alert"]["signature_id"] // 10 for a in alerts}
        check(RELOADS + 1 in gens and 1 in gens, f"alerts of the first and last generations: {sorted(gens)}")
        stats_ev = [e["stats"] for e in eve if e["event_type"] == "stats"]
        check(len(stats_ev) >= 2, "stats events")
        for s in stats_ev:
            g = s["detect"].get("rules_generation")
            check(g in counts and s["detect"].get("rules_loaded") == counts[g],
                  f"EVE stats: generation {g}, rules_loaded {s['detect'].get('rules_loaded')}")
        check(stats_ev and stats_ev[-1]["detect"].get("rules_generation") == RELOADS + 1, "final stats generation")
    if finish():
        return 1
    print(f"e2e_reload_many: {RELOADS} reloads, all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
