#!/usr/bin/env bash
# Sets up, builds and runs the whole test suite: a normal build, then the same suite under
# AddressSanitizer + UndefinedBehaviorSanitizer. The README's second command; CI calls it.
#   TRIPLINE_TSAN=1 also runs the suite under ThreadSanitizer.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh

jobs=$(nproc)
run_suite() { # build-dir, meson options...
    local dir=$1; shift
    [ -d "$dir" ] || meson setup "$dir" "$@" >/dev/null
    ninja -C "$dir" >/dev/null
    meson test -C "$dir" --print-errorlogs --num-processes "$jobs" --timeout-multiplier 4
}

echo "== tests (debugoptimized) =="
run_suite build-test
echo "== tests under AddressSanitizer + UndefinedBehaviorSanitizer =="
run_suite build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug
if [ "${TRIPLINE_TSAN:-0}" = 1 ]; then
    echo "== tests under ThreadSanitizer =="
    run_suite build-tsan -Db_sanitize=thread -Db_lundef=false -Dbuildtype=debug
fi
