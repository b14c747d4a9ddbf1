#!/usr/bin/env python3
"""Live rule reload during a paced replay (--pcap-speed 1), driven through tripline-ctl and SIGUSR2.

The capture (written here) has four phases of 100 UDP packets (8 flows, distinct microsecond
timestamps), 0.5 s each, separated by 4 s of silence in packet time. Every rule set alerts on every
UDP packet with its own sid: set A 101, B 201, C 301. So each packet must give exactly one alert,
whose sid tells which rule set matched it.

  phase A processed -> the rule file is rewritten to B, `tripline-ctl reload-rules`
  phase B processed -> rewritten to C, SIGUSR2
  then a broken file, `tripline-ctl reload-rules`: refused, the reply says why, C stays
  phase C processed -> `tripline-ctl stats` is compared with what was replayed so far
  phase D is matched by C (the broken file did not replace it); the replay ends, exit 0.

Checks: summary packets == capture packets == decoder.pkts == alerts (none lost, none matched twice,
each packet matched by exactly one rule set); alerts before a switch moment (the packet time each
reload reports, min/max over the workers) come only from the old set and after it only from the
new; the stats reply's counters match; stats event counters of reloads. A second run ends by
`tripline-ctl shutdown` (exit 0, socket removed), then tripline-ctl's errors (no socket, refused,
unknown command) and exit codes. The waits poll counters (no fixed sleeps decide anything); the
gaps only give the reloads room to land between two phases.
"""
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from e2e_common import check, eve_ts_ns, failures, finish, step, udp_frame, write_pcap  # noqa: E402

T0 = 1700000000  # packet time of the first packet (s)
PHASES = [0.0, 4.5, 9.0, 13.5]  # phase starts, s after T0 (4 s gaps: room for slow sanitizer runs)
PER_PHASE = 100
STEP_US = 5000  # 5 ms between packets of a phase
RULES = {
    "A": 'alert udp any any -> any any (msg:"set A"; sid:101; rev:1;)\n',
    "B": 'alert udp any any -> any any (msg:"set B"; sid:201; rev:1;)\n',
    "C": 'alert udp any any -> any any (msg:"set C"; sid:301; rev:1;)\n',
}
SID_GEN = {101: 1, 201: 2, 301: 3}
BROKEN = 'alert udp any any -> any any (msg:"broken"; sid:401; rev:1\n'

def packet(i):
    flow = i % 8
    return udp_frame([10, 0, 0, 1 + flow], [10, 0, 1, 1], 10000 + flow, 5000,
                     struct.pack("!IIII", i, flow, 0xABCD, 0x1234), ip_id=i)


def write_pcap_phases(path):
    """Writes the phases' packets; returns their timestamps (ns) in order."""
    us_list = [int(start * 1e6) + k * STEP_US for start in PHASES for k in range(PER_PHASE)]
    write_pcap(path, ((T0 * 1000000 + us, packet(n)) for n, us in enumerate(us_list)))
    return [(T0 * 1000000 + us) * 1000 for us in us_list]


class Run:
    def __init__(self, tripline, ctl, tmp, name, pcap, rules, extra=()):
        self.ctl = ctl
        self.dir = os.path.join(tmp, name)
        os.makedirs(self.dir)
        self.sock = os.path.join(self.dir, "tripline.sock")
        self.err = open(os.path.join(tmp, name + ".stderr"), "w+")
        self.p = subprocess.Popen(
            [tripline, "-r", pcap, "-S", rules, "-l", self.dir, "--workers", "2", "--pcap-speed", "1",
             "--set", "stats.interval=1", *extra],
            stdout=subprocess.DEVNULL, stderr=self.err)

    def ctl_cmd(self, cmd, *opts):
        r = subprocess.run([self.ctl, "-s", self.sock, "--compact", *opts, cmd], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=120)
        reply = None
        if r.stdout.strip():
            reply = json.loads(r.stdout)
        return r.returncode, reply, r.stderr

    def request(self, line):
        """One request straight over the socket (polling: no process start per poll, which on a
        loaded machine takes longer than the gaps between the phases)."""
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(60)
        s.connect(self.sock)
        s.sendall(line.encode() + b"\n")
        s.shutdown(socket.SHUT_WR)
        data = b""
        while b"\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        s.close()
        return json.loads(data.decode().split("\n")[0])

    def stats(self, via_ctl=False):
        if via_ctl:
            rc, reply, err = self.ctl_cmd("stats")
            if rc != 0:
                raise AssertionError(f"stats failed: rc {rc}: {err}")
        else:
            reply = self.request('{"command": "stats"}')
        check(reply.get("ok") is True and reply.get("command") == "stats", f"stats reply {reply}")
        return reply["stats"]

    def wait(self, what, pred, timeout=150):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.p.poll() is not None:
                raise AssertionError(f"tripline exited (rc {self.p.returncode}) while waiting for {what}")
            if os.path.exists(self.sock):
                try:
                    st = self.stats()
                except (ConnectionRefusedError, FileNotFoundError):
                    if self.p.poll() is not None:
                        continue  # exited meanwhile: reported above
                    raise
                if pred(st):
                    return st
            time.sleep(0.05)
        raise AssertionError(f"timeout waiting for {what}")

    def finish(self, timeout=60):
        rc = self.p.wait(timeout=timeout)
        self.err.seek(0)
        return rc, self.err.read()

    def eve(self):
        with open(os.path.join(self.dir, "eve.json")) as f:
            return [json.loads(l) for l in f if l.strip()]


def summary_packets(stderr):
    for line in stderr.splitlines():
        if line.startswith("tripline: ") and " packets (" in line:
            return int(line.split()[1])
    return None


def main_run(tripline, ctl, tmp, pcap, ts):
    rules = os.path.join(tmp, "live.rules")
    with open(rules, "w") as f:
        f.write(RULES["A"])
    r = Run(tripline, ctl, tmp, "main", pcap, rules)
    try:
        r.wait("phase A", lambda s: s["decoder"]["pkts"] >= PER_PHASE)
        step("main run: phase A processed")
        # A JSON request and an unknown command, straight over the socket
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(r.sock)
        s.sendall(b'{"command": "version"}\nfrobnicate\n')
        s.shutdown(socket.SHUT_WR)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        s.close()
        lines = [json.loads(l) for l in data.decode().splitlines()]
        check(len(lines) == 2 and lines[0].get("ok") is True and lines[0].get("version"),
              f"JSON version request: {lines}")
        check(len(lines) == 2 and lines[1].get("ok") is False and "unknown command" in lines[1].get("error", ""),
              f"unknown command reply: {lines}")

        with open(rules, "w") as f:
            f.write(RULES["B"])
        rc, rep1, err = r.ctl_cmd("reload-rules")
        check(rc == 0 and rep1 and rep1["ok"] is True, f"reload via tripline-ctl: rc {rc} {rep1} {err}")
        check(rep1 and rep1.get("generation") == 2 and rep1.get("rules_loaded") == 1,
              f"reload 1 reply: {rep1}")
        check(rep1 and rep1.get("workers_switched") == rep1.get("workers") == 2, f"both workers switched: {rep1}")
        sw1 = (rep1["switch_ts_min"], rep1["switch_ts_max"])
        step(f"reload 1 (tripline-ctl) done: switch {sw1}")

        r.wait("phase B", lambda s: s["decoder"]["pkts"] >= 2 * PER_PHASE)
        with open(rules, "w") as f:
            f.write(RULES["C"])
        step("phase B processed, SIGUSR2")
        r.p.send_signal(signal.SIGUSR2)
        st = r.wait("SIGUSR2 reload", lambda s: s["rules"]["generation"] == 3 and s["rules"]["workers_switched"] == 2)
        check(st["rules"]["reloads_ok"] == 2 and st["rules"]["last_reload_ok"] is True, f"after SIGUSR2: {st['rules']}")
        sw2 = (st["rules"]["switch_ts_min"], st["rules"]["switch_ts_max"])
        step(f"reload 2 (SIGUSR2) done: switch {sw2}")

        with open(rules, "w") as f:
            f.write(BROKEN)
        rc, rep, err = r.ctl_cmd("reload-rules")
        check(rc == 1 and rep and rep["ok"] is False, f"broken rules: rc {rc}, {rep}")
        check(rep and "no rule could be loaded" in rep.get("error", "") and "running rules kept" in rep["error"]
              and "does not end with ')'" in rep["error"], f"broken rules reply says why: {rep}")
        check("reload-rules failed" in err, f"tripline-ctl names the failure on stderr: {err!r}")
        check(rep and rep.get("generation") == 3, f"generation kept: {rep}")

        step("broken file refused")
        st = r.wait("phase C", lambda s: s["decoder"]["pkts"] >= 3 * PER_PHASE)
        step("phase C processed")
        # the reader now waits in the gap before phase D: every counter is settled; this time
        # through tripline-ctl
        st = r.stats(via_ctl=True)
        n = 3 * PER_PHASE
        check(st["capture"]["kernel_packets"] == n and st["decoder"]["pkts"] == n, f"stats packets: {st}")
        check(st["detect"]["alert"] == n, f"stats alerts == packets: {st['detect']}")
        check(st["flow"]["total"] == 8 and st["flow"]["udp"] == 8, f"stats flows: {st['flow']}")
        check(st["rules"]["loaded"] == 1 and st["rules"]["generation"] == 3 and st["rules"]["reloads_ok"] == 2
              and st["rules"]["reloads_failed"] == 1 and st["rules"]["last_reload_ok"] is False
              and "no rule could be loaded" in st["rules"]["last_reload_error"], f"stats rules: {st['rules']}")
        check(st["pipeline"]["dispatch_drops"] == 0 and st["capture"]["kernel_drops"] == 0, f"no drops: {st}")
    except Exception:
        r.p.kill()
        r.finish()
        raise
    rc, stderr = r.finish()
    check(rc == 0, f"main run exit status {rc}: {stderr[-2000:]}")
    check("rules not reloaded" in stderr and "reloading rules (SIGUSR2)" in stderr, "reloads logged")
    check(not os.path.exists(r.sock), "socket removed at exit")
    check(summary_packets(stderr) == len(ts), f"summary packets {summary_packets(stderr)} == capture {len(ts)}")
    check("rules: 1 loaded (generation 3), reloads 2 ok, 1 failed" in stderr, "summary rules line")

    eve = r.eve()
    alerts = [e for e in eve if e["event_type"] == "alert"]
    check(len(alerts) == len(ts), f"{len(alerts)} alerts for {len(ts)} packets")
    by_ts = {}
    for a in alerts:
        by_ts.setdefault(eve_ts_ns(a["timestamp"]), []).append(a["alert"]["signature_id"])
    check(sorted(by_ts) == ts, "every packet has an alert")
    check(all(len(v) == 1 for v in by_ts.values()), "no packet matched twice")
    for t, sids in by_ts.items():
        g = SID_GEN.get(sids[0])
        check(g is not None, f"unexpected sid {sids[0]}")
        if g == 1:
            check(t <= sw1[1], f"old set A alert at {t} after the switch {sw1}")
        if g == 2:
            check(t >= sw1[0] and t <= sw2[1], f"set B alert at {t} outside {sw1}..{sw2}")
        if g == 3:
            check(t >= sw2[0], f"set C alert at {t} before the switch {sw2}")
    # the reloads landed in the gaps (they were sent once the previous phase was processed and the
    # reader waited for the next): each phase is matched by one rule set, phase D by C
    gap1 = (ts[PER_PHASE - 1], ts[PER_PHASE])
    gap2 = (ts[2 * PER_PHASE - 1], ts[2 * PER_PHASE])
    # (a worker's switch time is its packet clock, which the reader moves to the next phase's first
    # packet before that packet is handed over: a switch may equal it)
    if gap1[0] <= sw1[0] and sw1[1] <= gap1[1] and gap2[0] <= sw2[0] and sw2[1] <= gap2[1]:
        want = [101] * PER_PHASE + [201] * PER_PHASE + [301] * 2 * PER_PHASE
        check([by_ts[t][0] for t in ts] == want, "phases matched by A, B, C, C")
    else:
        print(f"note: a switch fell inside a phase ({sw1}, {sw2}); checked by time only", file=sys.stderr)
    stats = [e for e in eve if e["event_type"] == "stats"]
    check(bool(stats), "a stats event")
    if stats:
        fs = stats[-1]["stats"]
        check(fs["capture"]["kernel_packets"] == fs["decoder"]["pkts"] == len(ts), f"final stats packets {fs}")
        check(fs["detect"]["alert"] == len(ts), f"final stats alerts {fs['detect']}")
        check(fs["detect"].get("reloads_ok") == 2 and fs["detect"].get("reloads_failed") == 1
              and fs["detect"].get("rules_generation") == 3 and fs["detect"].get("rules_loaded") == 1,
              f"final stats reload counters {fs['detect']}")


def shutdown_run(tripline, ctl, tmp, pcap):
    rules = os.path.join(tmp, "sd.rules")
    with open(rules, "w") as f:
        f.write(RULES["A"])
    r = Run(tripline, ctl, tmp, "shutdown", pcap, rules, ("--runmode", "single"))
    try:
        r.wait("phase A", lambda s: s["decoder"]["pkts"] >= PER_PHASE)
        rc, rep, err = r.ctl_cmd("version")
        check(rc == 0 and rep["ok"] and rep["version"], f"version: {rep} {err}")
        # single mode: the reader thread is the worker; it switches at its next batch
        with open(rules, "w") as f:
            f.write(RULES["B"])
        rc, rep, err = r.ctl_cmd("shutdown")
        check(rc == 0 and rep["ok"] is True and rep["command"] == "shutdown", f"shutdown: rc {rc} {rep} {err}")
    except Exception:
        r.p.kill()
        r.finish()
        raise
    rc, stderr = r.finish(timeout=30)
    check(rc == 0, f"shutdown run exit status {rc}: {stderr[-2000:]}")
    check(not os.path.exists(r.sock), "socket removed after shutdown")
    n = summary_packets(stderr)
    alerts = [e for e in r.eve() if e["event_type"] == "alert"]
    check(n is not None and PER_PHASE <= n < 4 * PER_PHASE, f"stopped early: {n} packets")
    check(len(alerts) == n, f"shutdown run: {len(alerts)} alerts for {n} packets")
    # after the exit: no socket
    rc, rep, err = r.ctl_cmd("stats")
    check(rc == 3 and "no such socket" in err, f"tripline-ctl without tripline: rc {rc} {err!r}")


def ctl_errors(ctl, tmp):
    stale = os.path.join(tmp, "stale.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(stale)  # bound, never listening: connect is refused
    r = subprocess.run([ctl, "-s", stale, "stats"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    check(r.returncode == 3 and "refused" in r.stderr, f"refused: rc {r.returncode} {r.stderr!r}")
    s.close()
    r = subprocess.run([ctl, "-s", stale, "frobnicate"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    check(r.returncode == 2 and "unknown command" in r.stderr, f"unknown: rc {r.returncode} {r.stderr!r}")
    r = subprocess.run([ctl], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    check(r.returncode == 2, f"no command: rc {r.returncode}")
    # a server that accepts and closes without answering
    srv_path = os.path.join(tmp, "mute.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(srv_path)
    srv.listen(1)
    p = subprocess.Popen([ctl, "-s", srv_path, "stats"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    c, _ = srv.accept()
    c.recv(100)
    c.close()
    out, err = p.communicate(timeout=30)
    check(p.returncode == 4 and "without a reply" in err, f"no reply: rc {p.returncode} {err!r}")
    srv.close()


def main():
    tripline, ctl = sys.argv[1], sys.argv[2]
    with tempfile.TemporaryDirectory() as tmp:
        pcap = os.path.join(tmp, "phases.pcap")
        ts = write_pcap_phases(pcap)
        ctl_errors(ctl, tmp)
        main_run(tripline, ctl, tmp, pcap, ts)
        shutdown_run(tripline, ctl, tmp, pcap)
    if finish():
        return 1
    print("e2e_reload: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
