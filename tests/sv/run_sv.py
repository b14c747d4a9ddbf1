#!/usr/bin/env python3
"""Runs suricata-verify style tests (test.yaml + rules + pcap, checks counted on eve.json)
against tripline.

    run_sv.py [--tests DIR] [--binary PATH] [--expected FILE] [--only NAME ...]
              [--version-as X.Y.Z] [--keep DIR] [--replay PATH]

Each directory under DIR holding a test.yaml is one test. The pcap is the yaml's `pcap:`
(relative to the test directory) or the directory's only *.pcap; the rules are the
directory's *.rules files (`rules:` text in the yaml is written to a file); `args:` are passed
to tripline unchanged (${TEST_DIR} expanded).

Requirements (`requires:` at test level or inside a filter) are checked as suricata-verify
does: min-version, lt-version, gt-version and version compare only the components the test
names with --version-as, the Suricata version whose semantics tripline follows
(SURICATA_VERSION below; rules/README.md says why). A test whose requirement fails is
skipped, a filter whose requirement fails is not evaluated. Requirements about Suricata's
build or host (features, files, script, ...) cannot be answered for tripline: the test is
skipped with that reason.

A test's own suricata.yaml (suricata-verify runs Suricata with -c on it) is translated into a
tripline configuration passed with -c: its outputs (fast, eve-log with their types, enabled,
filename, append) and stream.midstream / stream.reassembly.depth; the rest is Suricata's.

Checks: `filter` (count of EVE records, or of the JSON lines of its `filename`, whose every
`match` key, a dotted path with optional [i] list indexes, equals the given value; `has-key` /
`not-has-key` test presence), `stats` (each dotted counter equals its value in the last
stats event) and `shell` (the command run in the output directory, its stdout compared with
`expect`) are evaluated.

Every test prints PASS, FAIL (with the failing checks) or SKIP (with why). The exit status is 1
when a test listed in --expected does not pass (a regression), 0 otherwise; tests passing but
not listed are printed as "new pass" so the list can grow. 77 (meson: skipped) when the binary
is missing.

--replay runs tests/detect's detect_replay driver instead of tripline: it writes only alert
records, so checks on other event types are reported as not checked. For developing detect
before the engine carries it.
"""
import argparse
import glob
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

try:
    import yaml
except ImportError:  # python3-yaml is in tools/setup.sh
    print("SKIP: python3-yaml is not installed")
    sys.exit(77)


# The Suricata release whose behaviour tripline follows (rules/README.md, "Suricata version").
SURICATA_VERSION = "8.0.5"


def parse_version(v):
    """Version components as given ("7" -> (7,), "8.0.4" -> (8, 0, 4)), at most three."""
    parts = tuple(int(x) for x in re.findall(r"\d+", str(v))[:3])
    if not parts:
        raise ValueError("not a version: %r" % (v,))
    return parts


def version_holds(op, want, have):
    """suricata-verify's comparison: only the components the test names count, so
    min-version 7 holds for 7.0.0 and 8.0.5, lt-version 8.0 fails for 8.0.5, and
    version 8.0 matches every 8.0.x."""
    w = parse_version(want)
    h = tuple(have[:len(w)])
    return {"min-version": h >= w, "lt-version": h < w, "gt-version": h > w,
            "version": h == w}[op]


# What each version requirement means, for the skip reason.
VERSION_WORDS = {"min-version": "Suricata >= %s", "lt-version": "Suricata < %s",
                 "gt-version": "Suricata > %s", "version": "Suricata %s"}


def requires_ok(req, version):
    """(ok, reason) for a requires block (test-level or per check). Version requirements
    (min-version, lt-version, gt-version, version) are compared with --version-as; `pcap`
    only says whether a pcap is needed (handled by the caller). Anything else (features,
    env, files, script, lambda...) names something of Suricata's build or host that
    tripline cannot answer for: the test is skipped with that reason."""
    if not req:
        return True, ""
    if not isinstance(req, dict):
        return False, "requires is not a mapping"
    if "gt-version" in req and "lt-version" in req and \
            not parse_version(req["gt-version"]) < parse_version(req["lt-version"]):
        return False, "impossible: gt-version %s and lt-version %s" % (req["gt-version"],
                                                                     req["lt-version"])
    for key, val in req.items():
        if key in VERSION_WORDS:
            if not version_holds(key, val, version):
                return False, "needs " + VERSION_WORDS[key] % val
        elif key == "pcap":
            continue
        elif key == "env":
            missing = [e for e in (val or []) if e not in os.environ]
            if missing:
                return False, "needs environment variable %s" % ", ".join(missing)
        else:
            return False, "unknown requirement %s" % key
    return True, ""


def stats_problems(records, want):
    """suricata-verify's `stats` check: every dotted counter name in `want` equals its
    value in the last stats event's `stats` object."""
    stats = None
    for r in records:
        if r.get("event_type") == "stats":
            stats = r.get("stats")
    if stats is None:
        return ["no stats event"]
    out = []
    for key, val in (want or {}).items():
        got, found = lookup(stats, key)
        if not found:
            out.append("stats.%s missing, want %s" % (key, val))
        elif not value_eq(val, got):
            out.append("stats.%s = %s, want %s" % (key, got, val))
    return out


def lookup(rec, path):
    cur = rec
    for part in path.split("."):
        m = re.fullmatch(r"([^\[]+)((?:\[\d+\])*)", part)
        if not m:
            return None, False
        if not isinstance(cur, dict) or m.group(1) not in cur:
            return None, False
        cur = cur[m.group(1)]
        for idx in re.findall(r"\[(\d+)\]", m.group(2)):
            if not isinstance(cur, list) or int(idx) >= len(cur):
                return None, False
            cur = cur[int(idx)]
    return cur, True


def value_eq(want, got):
    if isinstance(want, bool) or isinstance(got, bool):
        return want == got
    if isinstance(want, (int, float)) and isinstance(got, (int, float)):
        return want == got
    return str(want) == str(got)


def record_matches(rec, match):
    for key, want in (match or {}).items():
        if key in ("has-key", "not-has-key"):
            _, found = lookup(rec, want)
            if found != (key == "has-key"):
                return False
            continue
        got, found = lookup(rec, key)
        if not found or not value_eq(want, got):
            return False
    return True


def read_json_lines(path):
    """(records, problem) of a JSON-lines file."""
    out = []
    if not os.path.exists(path):
        return out, "%s does not exist" % os.path.basename(path)
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                try:
                    out.append(json.loads(line))
                except ValueError:
                    return out, "%s has a line that is not JSON" % os.path.basename(path)
    return out, ""


# EVE record types of a Suricata eve-log `types:` list that tripline writes (output classes).
EVE_TYPES = ("alert", "flow", "anomaly", "stats", "http", "dns", "tls")


def tripline_config(suricata_yaml, out_path):
    """Translates what tripline has of a test's own suricata.yaml (which suricata-verify passes
    to Suricata with -c) into a tripline configuration at out_path: the `outputs` list (fast ->
    a fast output, eve-log with a regular file -> an eve-file output whose `types` keep the
    record types tripline writes; enabled, filename and append as given; other outputs are
    Suricata's own) and stream.midstream / stream.reassembly.depth. Returns out_path, or None
    when there is nothing to translate (tripline's defaults then apply, as before)."""
    with open(suricata_yaml) as f:
        sy = yaml.safe_load(f) or {}
    conf = {}
    outs = {}
    for item in sy.get("outputs") or []:
        if not isinstance(item, dict) or len(item) != 1:
            continue
        (name, o), = item.items()
        o = o if isinstance(o, dict) else {}
        out = {}
        if name == "fast":
            out["type"] = "fast"
        elif name == "eve-log" and str(o.get("filetype", "regular")) in ("regular", "file"):
            out["type"] = "eve-file"
            if o.get("types") is not None:
                names = [t if isinstance(t, str) else next(iter(t)) for t in o["types"]
                         if isinstance(t, (str, dict)) and t]
                kept = [t for t in names if t in EVE_TYPES]
                if kept:
                    out["types"] = kept
                else:
                    out["enabled"] = False  # none of its record types is one tripline writes
        else:
            continue
        for key in ("filename", "append", "enabled"):
            if key in o and key not in out:
                out[key] = o[key]
        if name in outs:
            continue
        outs[name] = out
    if outs:
        conf["outputs"] = outs
    stream = sy.get("stream") or {}
    if isinstance(stream, dict):
        st = {}
        if "midstream" in stream:
            st["midstream"] = stream["midstream"]
        depth = (stream.get("reassembly") or {}).get("depth") \
            if isinstance(stream.get("reassembly"), dict) else None
        if depth is not None:
            st["reassembly"] = {"depth": depth}
        if st:
            conf["stream"] = st
    if not conf:
        return None
    with open(out_path, "w") as f:
        yaml.safe_dump(conf, f, default_flow_style=False)
    return out_path


def find_pcap(test_dir, spec):
    if spec.get("pcap"):
        p = os.path.normpath(os.path.join(test_dir, spec["pcap"]))
        return p if os.path.exists(p) else None
    pcaps = sorted(glob.glob(os.path.join(test_dir, "*.pcap")) +
                   glob.glob(os.path.join(test_dir, "*.pcapng")))
    return pcaps[0] if len(pcaps) == 1 else None


def run_test(name, test_dir, args, workdir):
    """Returns (status, details) with status PASS / FAIL / SKIP."""
    with open(os.path.join(test_dir, "test.yaml")) as f:
        spec = yaml.safe_load(f) or {}
    ok, why = requires_ok(spec.get("requires"), args.version)
    if not ok:
        return "SKIP", why
    pcap = find_pcap(test_dir, spec)
    if not pcap:
        return "SKIP", "no pcap"
    rules = sorted(glob.glob(os.path.join(test_dir, "*.rules")))
    if spec.get("rules"):
        path = os.path.join(workdir, "inline.rules")
        with open(path, "w") as f:
            f.write(spec["rules"])
        rules.append(path)
    extra = []
    for a in spec.get("args") or []:
        extra += shlex.split(str(a).replace("${TEST_DIR}", test_dir))
    eve = os.path.join(workdir, "eve.json")
    if args.replay:
        cmd = [args.replay, "-q", "-r", pcap, "--eve", eve]
        for r in rules:
            cmd += ["-S", r]
        cls = os.path.join(test_dir, "classification.config")
        if os.path.exists(cls):
            cmd += ["-c", cls]
        thr = os.path.join(test_dir, "threshold.config")
        i = 0
        while i < len(extra):
            if extra[i] == "--set" and i + 1 < len(extra):
                cmd += ["--set", extra[i + 1]]
                i += 2
                continue
            i += 1
    else:
        cmd = [args.binary, "-r", pcap, "-l", workdir]
        sy = os.path.join(test_dir, "suricata.yaml")
        if os.path.exists(sy):
            conf = tripline_config(sy, os.path.join(workdir, "tripline-from-suricata.yaml"))
            if conf:
                cmd += ["-c", conf]
        for r in rules:
            cmd += ["-S", r]
        cmd += extra
    try:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              timeout=args.timeout, cwd=workdir)
    except subprocess.TimeoutExpired:
        return "FAIL", "timed out after %ds" % args.timeout
    if proc.returncode != 0:
        tail = proc.stdout.decode(errors="replace").strip().splitlines()[-3:]
        return "FAIL", "exit %d: %s" % (proc.returncode, " | ".join(tail))
    records = []
    if os.path.exists(eve):
        records, why = read_json_lines(eve)
        if why:
            return "FAIL", why
    problems = []
    unchecked = 0
    for i, check in enumerate(spec.get("checks") or []):
        if "filter" in check:
            flt = check["filter"]
            ok, why = requires_ok(flt.get("requires"), args.version)
            if not ok:
                continue
            match = flt.get("match") or {}
            if args.replay and (match.get("event_type") != "alert" or "filename" in flt):
                unchecked += 1
                continue
            recs = records
            if "filename" in flt:  # another JSON-lines output than eve.json
                recs, why = read_json_lines(os.path.join(workdir, flt["filename"]))
                if why:
                    problems.append("check %d: %s" % (i, why))
                    continue
            n = sum(1 for r in recs if record_matches(r, match))
            want = flt.get("count")
            if want is None:
                if n == 0:
                    problems.append("check %d: no record matches %s" % (i, match))
            elif n != int(want):
                problems.append("check %d: %d records match %s, want %s" % (i, n, match, want))
        elif "stats" in check:
            if args.replay:
                unchecked += 1
                continue
            problems += ["check %d: %s" % (i, p) for p in stats_problems(records, check["stats"])]
        elif "shell" in check:
            sh = check["shell"]
            if args.replay:
                unchecked += 1
                continue
            try:
                out = subprocess.run(sh.get("args", ""), shell=True, cwd=workdir, timeout=60,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
                got = out.stdout.decode(errors="replace").strip()
            except subprocess.TimeoutExpired:
                got = "<timeout>"
            if "expect" in sh and got != str(sh["expect"]).strip():
                problems.append("check %d: shell `%s` gave %r, want %r" %
                                (i, sh.get("args"), got, sh["expect"]))
        else:
            problems.append("check %d: unknown check %s" % (i, list(check)))
    note = " (%d non-alert/shell checks not checked by the replay driver)" % unchecked if unchecked else ""
    if problems:
        return "FAIL", "; ".join(problems) + note
    return "PASS", note.strip()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    shared = os.environ.get("TRIPLINE_SHARED_DATA", os.path.join(os.path.dirname(__file__),
                                                                 "..", "..", "..", "shared", "data"))
    build = os.environ.get("TRIPLINE_BUILD_ROOT", "build")
    ap.add_argument("--tests", default=os.path.join(shared, "suricata-verify-A"))
    ap.add_argument("--binary", default=os.path.join(build, "sensor", "engine", "tripline"))
    ap.add_argument("--replay", default=None)
    ap.add_argument("--expected", default=None)
    ap.add_argument("--only", nargs="*", default=None)
    ap.add_argument("--version-as", default=SURICATA_VERSION)
    ap.add_argument("--timeout", type=int, default=120)
    ap.add_argument("--keep", default=None, help="keep each test's output under this directory")
    args = ap.parse_args()
    args.version = (parse_version(args.version_as) + (0, 0, 0))[:3]
    if args.replay:
        args.replay = os.path.abspath(args.replay)
    elif not os.access(args.binary, os.X_OK):
        print("SKIP: %s not built" % args.binary)
        return 77
    else:
        args.binary = os.path.abspath(args.binary)
    if not os.path.isdir(args.tests):
        print("SKIP: no tests at %s" % args.tests)
        return 77
    expected = set()
    if args.expected:
        with open(args.expected) as f:
            expected = {l.split("#")[0].strip() for l in f} - {""}
    tests = []
    for root, dirs, files in os.walk(args.tests):
        if "test.yaml" in files:
            tests.append(os.path.relpath(root, args.tests))
    tests.sort()
    if args.only:
        tests = [t for t in tests if t in args.only]
    counts = {"PASS": 0, "FAIL": 0, "SKIP": 0}
    regressions, new_passes = [], []
    for name in tests:
        workdir = tempfile.mkdtemp(prefix="sv-")
        try:
            status, details = run_test(name, os.path.join(args.tests, name), args, workdir)
        finally:
            if args.keep:
                dst = os.path.join(args.keep, name.replace("/", "_"))
                shutil.rmtree(dst, ignore_errors=True)
                shutil.copytree(workdir, dst)
            shutil.rmtree(workdir, ignore_errors=True)
        counts[status] += 1
        print("%-4s %s%s" % (status, name, (": " + details) if details else ""))
        if name in expected and status != "PASS":
            regressions.append(name)
        if status == "PASS" and name not in expected:
            new_passes.append(name)
    print("\n%d tests: %d pass, %d fail, %d skipped" % (len(tests), counts["PASS"],
                                                      counts["FAIL"], counts["SKIP"]))
    for t in new_passes:
        print("new pass (not in the expected list yet): %s" % t)
    for t in sorted(expected - set(tests)):
        print("expected test not found: %s" % t)
        regressions.append(t)
    if regressions:
        print("REGRESSIONS: %s" % ", ".join(regressions))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
