#!/usr/bin/env bash
# tools/systemd/tripline.service: `systemd-analyze verify` finds nothing wrong with the unit (its
# paths pointed at this build), the hardening the unit promises is there, and systemd's own
# exposure score stays in its "OK" band (<= 4.0). Skips (77) without systemd-analyze.
set -euo pipefail
tripline=$1
unit_in=$2
command -v systemd-analyze >/dev/null || { echo "SKIP: systemd-analyze is not installed"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp "$(dirname "$unit_in")/tripline.sysusers" "$tmp/tripline.conf"
sed -e "s|@BINDIR@|$(cd "$(dirname "$tripline")" && pwd)|g" -e "s|@SYSCONFDIR@|/etc|g" \
    -e "s|@SYSUSERSDIR@|$tmp|g" "$unit_in" > "$tmp/tripline.service"
# ExecStart must name this build's binary (verify checks that it exists and is executable)
grep -q "^ExecStart=$(cd "$(dirname "$tripline")" && pwd)/tripline " "$tmp/tripline.service"

if ! systemd-analyze verify --man=no "$tmp/tripline.service" >"$tmp/out" 2>&1 || [ -s "$tmp/out" ]; then
    echo "FAIL: systemd-analyze verify:"; cat "$tmp/out"; exit 1
fi
fail=0
for want in 'ProtectSystem=strict' 'ProtectHome=yes' 'PrivateTmp=yes' 'NoNewPrivileges=yes' \
            'CapabilityBoundingSet=CAP_NET_RAW CAP_NET_ADMIN CAP_SETUID CAP_SETGID' \
            'ReadWritePaths=/var/log/tripline' 'AmbientCapabilities=' ; do
    grep -qx -- "$want" "$tmp/tripline.service" || { echo "missing: $want"; fail=1; }
done
grep -q -- '--user tripline --group tripline' "$tmp/tripline.service" || { echo "no privilege drop in ExecStart"; fail=1; }
[ "$fail" = 0 ] || { echo "FAIL: hardening incomplete"; exit 1; }
# --threshold (systemd >= 250) makes the command fail above the given exposure (x10)
if systemd-analyze security --help 2>/dev/null | grep -q -- --threshold; then
    if ! systemd-analyze security --offline=yes --threshold=40 "$tmp/tripline.service" >"$tmp/sec" 2>&1; then
        echo "FAIL: exposure above 4.0:"; tail -3 "$tmp/sec"; exit 1
    fi
    echo "exposure: $(grep -o 'Overall exposure level.*' "$tmp/sec")"
fi
echo "1 passed, 0 failed"
