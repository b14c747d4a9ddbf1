#!/usr/bin/env python3
"""tripscore: scores Tripline's anomaly detections (eve.json) against tripgen's truth.

    tripscore.py [--min-f1 F] [--max-delay CLASS=SECONDS]... [--expect-none] EVE TRUTH

An incident is the set of EVE alert events sharing tripline.incident_id; its class is
alert.category, its time the earliest event's timestamp, its peers
the union of tripline.attackers / victims. It matches a truth record of the same class when it
starts between truth.start - 5 s and truth.end + 120 s and shares an attacker or a victim with it.

Per class: precision = matched incidents / incidents, recall = detected truth records / truth
records, F1, and the detection delay (first matching incident start - truth start). False
positives per hour = unmatched incidents / capture hours (from the truth's "capture" record, or
the span of the EVE timestamps). Exit status 1 when a --min-f1 / --max-delay / --expect-none
check fails, 2 on bad input.
"""
import argparse
import datetime
import json
import sys

BEFORE = 5.0
AFTER = 120.0


def parse_ts(s):
    # 2023-11-14T22:13:20.000000+0000
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()


def load_truth(path):
    attacks, benign, capture = [], [], None
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                r = json.loads(line)
            except ValueError as e:
                raise SystemExit("tripscore: %s:%d: %s" % (path, n, e))
            c = r.get("class")
            if c == "capture":
                capture = r
            elif c == "benign":
                benign.append(r)
            else:
                attacks.append(r)
    return attacks, benign, capture


def load_incidents(path):
    inc = {}
    first_ts, last_ts = None, None
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                ev = json.loads(line)
            except ValueError as e:
                raise SystemExit("tripscore: %s:%d: %s" % (path, n, e))
            ts = parse_ts(ev["timestamp"]) if "timestamp" in ev else None
            if ts is not None:
                first_ts = ts if first_ts is None else min(first_ts, ts)
                last_ts = ts if last_ts is None else max(last_ts, ts)
            if ev.get("event_type") != "alert" or "tripline" not in ev:
                continue
            t = ev["tripline"]
            key = t.get("incident_id", n)
            cur = inc.get(key)
            if cur is None:
                start = parse_ts(t["start"]) if "start" in t else ts
                cur = inc[key] = {"class": ev["alert"].get("category", "?"), "start": start,
                                  "first_event": ts, "attackers": set(), "victims": set(),
                                  "severity": ev["alert"].get("severity")}
            # outputs may interleave workers' events: the incident starts at its earliest one
            if ts is not None and (cur["first_event"] is None or ts < cur["first_event"]):
                cur["first_event"] = ts
            cur["attackers"].update(t.get("attackers", []))
            cur["victims"].update(t.get("victims", []))
            if ev.get("src_ip"):
                cur["attackers"].add(ev["src_ip"])
            if ev.get("dest_ip"):
                cur["victims"].add(ev["dest_ip"])
    return list(inc.values()), first_ts, last_ts


def matches(i, t):
    if i["class"] != t["class"]:
        return False
    if not (t["start"] - BEFORE <= i["first_event"] <= t["end"] + AFTER):
        return False
    return bool(i["attackers"] & set(t["attackers"])) or bool(i["victims"] & set(t["victims"]))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("eve")
    ap.add_argument("truth")
    ap.add_argument("--min-f1", type=float, default=None)
    ap.add_argument("--max-delay", action="append", default=[], metavar="CLASS=SECONDS")
    ap.add_argument("--expect-none", action="store_true", help="fail on any detection")
    a = ap.parse_args()

    attacks, benign, capture = load_truth(a.truth)
    incidents, first_ts, last_ts = load_incidents(a.eve)
    if capture:
        hours = (capture["end"] - capture["start"]) / 3600.0
    elif first_ts is not None:
        hours = max(last_ts - first_ts, 1.0) / 3600.0
    else:
        hours = 0.0

    classes = sorted({t["class"] for t in attacks} | {i["class"] for i in incidents})
    ok = True
    fp_total = 0
    print("%-18s %6s %6s %6s %6s %6s %9s %9s" % ("class", "truth", "alerts", "prec", "recall", "F1",
                                                 "delay_s", "max_dly_s"))
    delays_by_class = {}
    for c in classes:
        ts = [t for t in attacks if t["class"] == c]
        inc = [i for i in incidents if i["class"] == c]
        matched_inc = [i for i in inc if any(matches(i, t) for t in ts)]
        delays = []
        for t in ts:
            m = [i["first_event"] - t["start"] for i in inc if matches(i, t)]
            if m:
                delays.append(max(0.0, min(m)))
        prec = len(matched_inc) / len(inc) if inc else (1.0 if not ts else 0.0)
        rec = len(delays) / len(ts) if ts else (1.0 if not inc else 0.0)
        f1 = 2 * prec * rec / (prec + rec) if prec + rec > 0 else 0.0
        fp_total += len(inc) - len(matched_inc)
        delays_by_class[c] = delays
        mean_d = sum(delays) / len(delays) if delays else float("nan")
        max_d = max(delays) if delays else float("nan")
        print("%-18s %6d %6d %6.3f %6.3f %6.3f %9.2f %9.2f" % (c, len(ts), len(inc), prec, rec, f1,
                                                               mean_d, max_d))
        if a.min_f1 is not None and ts and f1 < a.min_f1:
            print("FAIL: %s F1 %.3f < %.3f" % (c, f1, a.min_f1))
            ok = False
    for i in incidents:
        if not any(matches(i, t) for t in attacks):
            near = [b.get("label") for b in benign
                    if (i["attackers"] | i["victims"]) & (set(b["attackers"]) | set(b["victims"]))]
            print("false positive: %s %s -> %s at %.1f%s" % (
                i["class"], ",".join(sorted(i["attackers"])), ",".join(sorted(i["victims"])),
                i["first_event"], (" (hard negative: %s)" % ",".join(near)) if near else ""))
    fph = fp_total / hours if hours > 0 else 0.0
    print("false positives: %d in %.3f h of background: %.2f per hour" % (fp_total, hours, fph))
    for spec in a.max_delay:
        c, _, sec = spec.partition("=")
        d = delays_by_class.get(c, [])
        n_truth = len([t for t in attacks if t["class"] == c])
        if n_truth and (len(d) < n_truth or max(d) > float(sec)):
            print("FAIL: %s detection delay %s > %s s" % (c, ["%.2f" % x for x in d], sec))
            ok = False
    if a.expect_none and incidents:
        print("FAIL: %d detections on a capture that should have none" % len(incidents))
        ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
