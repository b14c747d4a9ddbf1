#!/usr/bin/env python3
"""Privilege drop (run-as / --user): tripline started as root with --user nobody on a paced replay
runs as nobody (/proc/PID/status Uid and Gid, all four ids, and no capability left) while it
replays, and its EVE file, opened before the drop, is still written to the end. An unknown user
is refused before anything starts (exit 2, message naming it). Needs root (CI runs as root):
skipped (77) otherwise."""
import json
import os
import pwd
import grp
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PCAP = os.path.join(HERE, "..", "data", "sample-sqlinj.pcap")


def status_ids(pid):
    ids = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("Uid", "Gid", "CapEff", "CapPrm"):
                ids[k] = v.split()
    return ids


def main():
    binary = sys.argv[1]
    if os.geteuid() != 0:
        print("SKIP: needs root to drop privileges")
        return 77
    try:
        user = pwd.getpwnam("nobody")
    except KeyError:
        print("SKIP: no user 'nobody'")
        return 77
    group = grp.getgrgid(user.pw_gid).gr_name
    # the capture file is opened as root (the drop follows the first file's open); the log
    # directory stays root's (0700): only the EVE file opened before the drop can be written
    with tempfile.TemporaryDirectory() as tmp:
        args = [binary, "-r", PCAP, "-l", tmp, "--workers", "2", "--pcap-speed", "40",
                "--user", "nobody", "-v"]
        p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        seen = None
        deadline = time.monotonic() + 60
        while p.poll() is None and time.monotonic() < deadline:
            try:
                ids = status_ids(p.pid)
            except FileNotFoundError:
                break
            if ids.get("Uid", ["0"])[0] != "0":
                seen = ids
                break
            time.sleep(0.02)
        out, err = p.communicate(timeout=120)
        if seen is None:
            raise AssertionError(f"never saw the process as another user (rc {p.returncode}):\n{err}")
        want_uid, want_gid = str(user.pw_uid), str(user.pw_gid)
        if seen["Uid"] != [want_uid] * 4 or seen["Gid"] != [want_gid] * 4:
            raise AssertionError(f"ids during the run: {seen}, want uid {want_uid} gid {want_gid}")
        if int(seen["CapEff"][0], 16) != 0 or int(seen["CapPrm"][0], 16) != 0:
            raise AssertionError(f"capabilities left after the drop: {seen}")
        if p.returncode != 0:
            raise AssertionError(f"exit status {p.returncode}:\n{err}")
        if f"running as user nobody (uid {want_uid}, gid {want_gid})" not in err:
            raise AssertionError(f"no 'running as' notice:\n{err}")
        recs = [json.loads(l) for l in open(os.path.join(tmp, "eve.json"))]
        types = {r["event_type"] for r in recs}
        if "flow" not in types or "stats" not in types:
            raise AssertionError(f"EVE file incomplete after the drop: {types}")
        stats = [r for r in recs if r["event_type"] == "stats"][-1]
        if stats["stats"]["decoder"]["pkts"] != 94:
            raise AssertionError(f"final stats: {stats['stats']['decoder']}")
        print(f"ok: ran as {user.pw_name}:{group} ({seen['Uid'][0]}:{seen['Gid'][0]}), "
              f"{len(recs)} EVE records written after the drop")

        # unknown user: refused at start-up, exit 2, nothing written
        out_dir = os.path.join(tmp, "unknown")
        r = subprocess.run([binary, "-r", PCAP, "-l", out_dir, "--user", "no-such-user-tl"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
        if r.returncode != 2 or "run-as: unknown user 'no-such-user-tl'" not in r.stderr:
            raise AssertionError(f"unknown user: rc {r.returncode}, {r.stderr!r}")
        if os.path.exists(out_dir):
            raise AssertionError("the log directory was created for an unknown user")
        r = subprocess.run([binary, "-r", PCAP, "-l", out_dir, "--user", "nobody",
                            "--group", "no-such-group-tl"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
        if r.returncode != 2 or "run-as: unknown group 'no-such-group-tl'" not in r.stderr:
            raise AssertionError(f"unknown group: rc {r.returncode}, {r.stderr!r}")
    print("1 passed, 0 failed")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except AssertionError as e:
        print(f"FAIL: {e}")
        sys.exit(1)
