#!/bin/bash
# End-to-end test of the anomaly detectors (suite e2e).
#   e2e_anomaly.sh generated  RUNNER...   tripgen capture (seed 1) scored: every class, F1 >= 0.95,
#                                         floods within 2 s; background-only capture: no alert
#   e2e_anomaly.sh real       RUNNER...   shared real captures: synscan -> scan, iodine and
#                                         dns_exfiltration -> dns-tunnel
# RUNNER is a command that takes "-o EVE PCAP" (anomaly_replay, or the tripline wrapper).
set -u
mode=$1; shift
runner=("$@")
B=${TRIPLINE_BUILD_ROOT:?}
S=${TRIPLINE_SOURCE_ROOT:?}
D=${TRIPLINE_SHARED_DATA:?}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tl-anomaly.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail=0

if [ "$mode" = generated ]; then
  "$B/tools/gen/tripgen" -s 1 "$tmp/a.pcap" "$tmp/a.jsonl" || exit 1
  "${runner[@]}" -o "$tmp/a.eve" "$tmp/a.pcap" > "$tmp/a.txt" || { echo "runner failed"; exit 1; }
  python3 "$S/tools/score/tripscore.py" --min-f1 0.95 --max-delay syn-flood=2 \
      --max-delay udp-flood=2 --max-delay icmp-flood=2 "$tmp/a.eve" "$tmp/a.jsonl" || fail=1
  # every attack class of the truth must be present (the scorer's table covers them)
  for c in $(python3 -c 'import json,sys
print(" ".join(sorted({json.loads(l)["class"] for l in open(sys.argv[1]) if json.loads(l)["class"] not in ("capture","benign")})))' "$tmp/a.jsonl"); do
    grep -q "^$c " "$tmp/a.txt" || { echo "FAIL: class $c not detected"; fail=1; }
  done
  "$B/tools/gen/tripgen" -s 7 -n "$tmp/b.pcap" "$tmp/b.jsonl" || exit 1
  "${runner[@]}" -o "$tmp/b.eve" "$tmp/b.pcap" > "$tmp/b.txt" || { echo "runner failed"; exit 1; }
  python3 "$S/tools/score/tripscore.py" --expect-none "$tmp/b.eve" "$tmp/b.jsonl" || fail=1
elif [ "$mode" = real ]; then
  P=$D/pcaps/ndpi
  for f in synscan dns-tunnel-iodine dns_exfiltration; do
    [ -r "$P/$f.pcap" ] || { echo "SKIP: $P/$f.pcap missing"; exit 77; }
  done
  "${runner[@]}" -o "$tmp/s.eve" "$P/synscan.pcap" > "$tmp/s.txt" || exit 1
  cat "$tmp/s.txt"
  grep -q '^scan-' "$tmp/s.txt" || { echo "FAIL: no scan in synscan.pcap"; fail=1; }
  for f in dns-tunnel-iodine dns_exfiltration; do
    "${runner[@]}" -o "$tmp/$f.eve" "$P/$f.pcap" > "$tmp/$f.txt" || exit 1
    cat "$tmp/$f.txt"
    grep -q '^dns-tunnel ' "$tmp/$f.txt" || { echo "FAIL: no dns-tunnel in $f.pcap"; fail=1; }
  done
else
  echo "usage: $0 generated|real RUNNER..."; exit 2
fi
exit $fail
