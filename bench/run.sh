#!/usr/bin/env bash
# Builds a release (-O3, -march=native) in build-bench and runs every benchmark program that
# needs no privileges, printing their tables; results also go to bench/results/<host>-<date>.md.
#   usage: bench/run.sh [bench_pipeline args...]
set -euo pipefail
cd "$(dirname "$0")/.."
dir=build-bench
[ -d "$dir" ] || meson setup "$dir" --buildtype=release -Dnative=true >/dev/null
ninja -C "$dir" -j"$(nproc)" >/dev/null
mkdir -p bench/results
out="bench/results/$(hostname -s)-$(date -u +%Y%m%d-%H%M).md"
{
    echo "# bench/run.sh on $(hostname -s), $(date -u), $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
    echo
    echo '```'
    "$dir/bench/bench_pipeline" "$@"
    echo '```'
    for b in bench_detect bench_anomaly bench_output; do
        if [ -x "$dir/bench/$b" ]; then
            echo; echo "## $b"; echo '```'
            "$dir/bench/$b" 2>&1 || echo "($b exited with $?)"
            echo '```'
        fi
    done
} | tee "$out"
echo "results written to $out" >&2
