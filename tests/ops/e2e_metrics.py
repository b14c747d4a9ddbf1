#!/usr/bin/env python3
"""The metrics endpoint on a paced replay: scraped while the capture is replayed (valid exposition,
counters never go down) and once the run has ended (metrics.linger keeps serving the final
counters; the scrape is taken after the exit summary was printed), where every counter must equal
the exit summary's figure. Also: 404 on another path, and an address in use fails clearly."""
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import prom_check  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
PCAP = os.path.join(HERE, "..", "data", "sample-sqlinj.pcap")
RULES = ('alert tcp any any -> any any (msg:"syn"; flags:S; priority:1; sid:1000001; rev:1;)\n'
         'alert tcp any any -> any any (msg:"get"; content:"GET"; sid:1000002; rev:1;)\n')


def scrape(port, path="/metrics"):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
        ctype = r.headers.get("Content-Type", "")
        if not ctype.startswith("text/plain; version=0.0.4"):
            raise AssertionError(f"content type {ctype!r}")
        return r.read().decode()


def summary_figures(text):
    """The exit summary's counters (engine.c sensor_print_summary)."""
    pats = {
        "packets": r"tripline: (\d+) packets \((\d+) bytes\)",
        "flows": r"flows (\d+) \(tcp (\d+), udp (\d+), evicted (\d+)\), alerts (\d+), decoder anomalies (\d+)",
        "drops": r"drops: capture (\d+) \(kernel\) \+ (\d+) \(interface\), dispatch (\d+), events 0 "
                 r"\(ring full (\d+) -> overflow, (\d+) waits\); reader waited (\d+) times",
        "written": r"events written (\d+) to",
    }
    got = {}
    for k, p in pats.items():
        m = re.search(p, text)
        if not m:
            raise AssertionError(f"summary line {k} not found in:\n{text}")
        got[k] = [int(x) for x in m.groups()]
    return got


def main():
    binary = sys.argv[1]
    with tempfile.TemporaryDirectory() as tmp:
        rules = os.path.join(tmp, "r.rules")
        with open(rules, "w") as f:
            f.write(RULES)
        # 94 packets over 112 s of capture time, replayed at 40x: about 3 s
        # memory.flows: 94 packets need few; the default tables take a minute to build under TSan
        args = [binary, "-r", PCAP, "-S", rules, "-l", tmp, "--workers", "2", "--pcap-speed", "40",
                "--set", "memory.flows=10000",
                "--set", "metrics.enabled=yes", "--set", "metrics.listen=127.0.0.1:0",
                "--set", "metrics.linger=60", "--set", "stats.interval=0"]
        p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        lines = []
        port_ev, done_ev = threading.Event(), threading.Event()
        port = [0]

        def read_stderr():
            for line in p.stderr:
                lines.append(line)
                m = re.search(r"metrics: serving http://127\.0\.0\.1:(\d+)/metrics", line)
                if m:
                    port[0] = int(m.group(1))
                    port_ev.set()
                if "events written" in line:
                    done_ev.set()
            port_ev.set()
            done_ev.set()

        t = threading.Thread(target=read_stderr, daemon=True)
        t.start()
        try:
            if not port_ev.wait(150) or not port[0]:
                raise AssertionError("no 'metrics: serving' line:\n" + "".join(lines))
            # during the replay: valid, monotonic
            prev = None
            running_scrapes = 0
            while not done_ev.is_set():
                s, types = prom_check.parse(scrape(port[0]))
                if prev is not None:
                    for k, v in prev.items():
                        if types.get(k[0]) == "counter" and s.get(k, -1) < v:
                            raise AssertionError(f"counter went down: {k} {v} -> {s.get(k)}")
                prev = s
                running_scrapes += 1
                time.sleep(0.2)
            if running_scrapes < 2:
                raise AssertionError(f"only {running_scrapes} scrapes during the replay")
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port[0]}/nothing", timeout=10)
                raise AssertionError("/nothing did not answer 404")
            except urllib.error.HTTPError as e:
                if e.code != 404:
                    raise AssertionError(f"/nothing answered {e.code}")
            # after the summary: final counters
            s, types = prom_check.parse(scrape(port[0]))
            summ = summary_figures("".join(lines))
            v = lambda name, **lab: int(prom_check.value(s, name, **lab))  # noqa: E731
            alerts = sum(v("tripline_alerts_total", severity=str(k)) for k in range(1, 5))
            checks = [
                ("packets", v("tripline_packets_total"), summ["packets"][0]),
                ("bytes", v("tripline_bytes_total"), summ["packets"][1]),
                ("flows", v("tripline_flows_created_total"), summ["flows"][0]),
                ("tcp flows", v("tripline_flows_by_protocol_total", proto="tcp"), summ["flows"][1]),
                ("udp flows", v("tripline_flows_by_protocol_total", proto="udp"), summ["flows"][2]),
                ("evicted", v("tripline_flows_evicted_total"), summ["flows"][3]),
                ("alerts", alerts, summ["flows"][4]),
                ("decoder anomalies", v("tripline_decode_invalid_total"), summ["flows"][5]),
                ("kernel drops", v("tripline_drops_total", reason="capture_kernel"), summ["drops"][0]),
                ("interface drops", v("tripline_drops_total", reason="capture_interface"), summ["drops"][1]),
                ("dispatch drops", v("tripline_drops_total", reason="dispatch"), summ["drops"][2]),
                ("ring full", v("tripline_event_ring_full_total"), summ["drops"][3]),
                ("event waits", v("tripline_event_waits_total"), summ["drops"][4]),
                ("reader waits", v("tripline_dispatch_waits_total"), summ["drops"][5]),
                ("events written", v("tripline_events_written_total"), summ["written"][0]),
            ]
            bad = [f"{n}: metrics {a} != summary {b}" for n, a, b in checks if a != b]
            if bad:
                raise AssertionError("\n".join(bad))
            if summ["packets"][0] != 94 or alerts == 0:
                raise AssertionError(f"unexpected run: {summ}")
            if v("tripline_alerts_total", severity="1") == 0:
                raise AssertionError("the priority:1 rule's alerts are not under severity 1")
            if v("tripline_rules_loaded") != 2 or v("tripline_workers") != 2:
                raise AssertionError("rules_loaded / workers wrong")
            if v("tripline_flows_active") != 0:
                raise AssertionError("flows still active after the run")
            if v("tripline_output_records_total", output="eve-log") != summ["written"][0] + 1:
                # every event plus the final stats record went to the one EVE file
                raise AssertionError("eve-log records != events written + final stats")
            # SIGTERM ends the linger; exit status 0
            p.send_signal(signal.SIGTERM)
            rc = p.wait(30)
            if rc != 0:
                raise AssertionError(f"exit status {rc}")
            print(f"ok: {running_scrapes} scrapes during the replay; final scrape equals the summary "
                  f"({len(checks)} counters)")

            # an address in use: exit 1 with a message
            blocker = socket.socket()
            blocker.bind(("127.0.0.1", 0))
            blocker.listen(1)
            bport = blocker.getsockname()[1]
            # (a small sensor: under ThreadSanitizer the default flow tables take 85 s to build)
            r = subprocess.run([binary, "-r", PCAP, "-l", tmp, "--workers", "1", "--set", "memory.flows=10000",
                                "--set", "metrics.enabled=yes", "--set", f"metrics.listen=127.0.0.1:{bport}"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120)
            blocker.close()
            if r.returncode != 1 or "cannot listen" not in r.stderr:
                raise AssertionError(f"address in use: rc {r.returncode}, {r.stderr!r}")
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
    print("1 passed, 0 failed")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except AssertionError as e:
        print(f"FAIL: {e}")
        sys.exit(1)
