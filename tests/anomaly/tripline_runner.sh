#!/bin/bash
# Runs the tripline binary the way e2e_anomaly.sh runs anomaly_replay:
#   tripline_runner.sh TRIPLINE [tripline options...] -o EVE PCAP
# replays PCAP with tripline into a temporary log dir, copies its eve.json to EVE and prints one
# line per detection start ("class attackers -> victims"), as anomaly_replay does.
set -u
bin=$1; shift
opts=()
while [ $# -gt 0 ] && [ "$1" != "-o" ]; do opts+=("$1"); shift; done
[ "${1:-}" = "-o" ] || { echo "usage: $0 TRIPLINE [opts] -o EVE PCAP" >&2; exit 2; }
eve=$2; pcap=$3
dir=$(mktemp -d "${TMPDIR:-/tmp}/tl-run.XXXXXX")
trap 'rm -rf "$dir"' EXIT
"$bin" -r "$pcap" -l "$dir" "${opts[@]}" > "$dir/stdout" 2> "$dir/stderr" || {
  echo "tripline failed:" >&2; cat "$dir/stderr" "$dir/stdout" >&2; exit 1; }
cp "$dir/eve.json" "$eve"
python3 - "$eve" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    t = e.get("tripline")
    if e.get("event_type") == "alert" and t and t.get("phase") == "start":
        print("%s %s -> %s" % (e["alert"]["category"], " ".join(t.get("attackers", [])),
                               " ".join(t.get("victims", []))))
PY
