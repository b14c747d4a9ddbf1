#!/usr/bin/env bash
# Sets up, builds and replays the bundled sample capture with the bundled rules, then shows
# the alerts. The README's first command.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
[ -d build ] || meson setup build --buildtype=release >/dev/null
ninja -C build >/dev/null
out=${OUT:-out/sample}
mkdir -p "$out"
./build/sensor/engine/tripline -r tests/data/sample-sqlinj.pcap -S rules/sample.rules -l "$out"
echo
echo "Alerts (from $out/eve.json):"
python3 - "$out/eve.json" <<'PY'
import json, sys
n = 0
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e.get("event_type") != "alert":
        continue
    a = e["alert"]; n += 1
    print(f'{e["timestamp"]}  [{a["gid"]}:{a["signature_id"]}:{a["rev"]}] {a["signature"]}  '
          f'[sev {a["severity"]}] {e["src_ip"]}:{e.get("src_port","")} -> {e["dest_ip"]}:{e.get("dest_port","")}')
print(f"{n} alert(s)")
PY
