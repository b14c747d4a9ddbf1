#!/usr/bin/env python3
"""The bundled sample rules on the bundled SQL-injection capture give the alerts
rules/sample.rules documents (detect_replay driver: the engine's worker stages, engine_burst.h)."""
import os
import subprocess
import sys

replay, src = sys.argv[1], os.environ.get("TRIPLINE_SOURCE_ROOT", ".")
want = {9000001: 5, 9000002: 7, 9000003: 2, 9000004: 7, 9000005: 2}
out = subprocess.run([replay, "-q", "-r", os.path.join(src, "tests/data/sample-sqlinj.pcap"),
                      "-S", os.path.join(src, "rules/sample.rules")],
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=True).stdout.decode()
got = {}
for line in out.splitlines():
    if line.startswith("count sid:"):
        sid, n = line[len("count sid:"):].split()
        got[int(sid)] = int(n)
if got != want:
    print("alerts per sid: got %s, want %s" % (got, want))
    sys.exit(1)
print("sample rules: %s" % got)
