#!/usr/bin/env bash
# Builds a libFuzzer harness with clang (-fsanitize=fuzzer,address,undefined) and runs it.
#
#   tools/fuzz.sh <harness> <seconds> [libFuzzer options...]
#
# Conventions (one folder per harness, nothing to edit here when adding one):
#   tests/fuzz/<harness>/fuzz_<harness>.c   defines LLVMFuzzerTestOneInput
#   tests/fuzz/<harness>/sources.txt        sources it links, paths from the repository root,
#                                           one a line, '#' comments (optional)
#   tests/fuzz/<harness>/pkgs.txt           pkg-config packages it needs, one a line (optional)
#   tests/fuzz/corpus/<harness>/            committed seed corpus (read, never written)
# Output: build-fuzz/<harness>/fuzz_<harness> (the binary), fuzz-out/<harness>/corpus (inputs
# the run found, kept between runs), fuzz-out/<harness>/artifacts (crashes, leaks, timeouts),
# fuzz-out/<harness>/run.log. Exit status: 0 with no finding, 1 with findings, 2 on usage/build errors.
# Env: CC (default clang), FUZZ_JOBS (parallel workers, default 1; the machine is shared).
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { echo "usage: tools/fuzz.sh <harness> <seconds> [libFuzzer options...]" >&2; exit 2; }
[ $# -ge 2 ] || usage
h=$1
secs=$2
shift 2
[[ $h =~ ^[A-Za-z0-9_-]+$ ]] || usage
[[ $secs =~ ^[0-9]+$ ]] || usage

dir=tests/fuzz/$h
src=$dir/fuzz_$h.c
[ -f "$src" ] || { echo "fuzz.sh: no harness at $src" >&2; exit 2; }
CC=${CC:-clang}
command -v "$CC" >/dev/null || { echo "fuzz.sh: $CC not found (tools/setup.sh installs clang)" >&2; exit 2; }

list() { [ -f "$1" ] && grep -v '^[[:space:]]*#' "$1" | grep -v '^[[:space:]]*$' || true; }
mapfile -t srcs < <(list "$dir/sources.txt")
mapfile -t pkgs < <(list "$dir/pkgs.txt")
pkgflags=()
if [ ${#pkgs[@]} -gt 0 ]; then
    read -r -a pkgflags <<<"$(pkg-config --cflags --libs "${pkgs[@]}")"
fi

bdir=build-fuzz/$h
out=fuzz-out/$h
mkdir -p "$bdir" "$out/corpus" "$out/artifacts"

# The generated config header meson would write, with every optional part off.
cat >"$bdir/tripline_config.h" <<EOF
#define TRIPLINE_VERSION "fuzz"
#define HAVE_DPDK 0
#define HAVE_XDP 0
#define HAVE_REDIS 0
#define HAVE_KAFKA 0
#define TRIPLINE_SOURCE_ROOT "$PWD"
#define TRIPLINE_SHARED_DATA "$PWD/../shared/data"
EOF

incs=(-I"$bdir" -I. -Idataplane -Iebpf -Irules -Isensor)
for d in sensor/*/; do incs+=(-I"${d%/}"); done

bin=$bdir/fuzz_$h
echo "fuzz.sh: building $bin" >&2
"$CC" -std=gnu11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
    "${incs[@]}" "$src" "${srcs[@]}" "${pkgflags[@]}" -o "$bin" || exit 2

seeds=()
[ -d tests/fuzz/corpus/$h ] && seeds=(tests/fuzz/corpus/$h)
before=$(find "$out/artifacts" -type f | wc -l)

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
jobs=${FUZZ_JOBS:-1}
par=()
[ "$jobs" -gt 1 ] && par=(-jobs="$jobs" -workers="$jobs")

echo "fuzz.sh: running $h for ${secs}s (seeds: ${seeds[*]:-none})" >&2
set +e
"$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$out/artifacts/" "${par[@]}" "$@" "$out/corpus" "${seeds[@]}" 2>&1 | tee "$out/run.log"
rc=${PIPESTATUS[0]}
set -e

after=$(find "$out/artifacts" -type f | wc -l)
execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$out/run.log" | tail -1 | grep -o '[0-9]*$' || echo "?")
corpus=$(find "$out/corpus" -type f | wc -l)
findings=$((after - before))
echo "fuzz.sh: $h: rc=$rc executions=$execs corpus=$corpus (fuzz-out/$h/corpus) findings=$findings" >&2
if [ "$findings" -gt 0 ] || [ "$rc" -ne 0 ]; then
    echo "fuzz.sh: findings in $out/artifacts:" >&2
    find "$out/artifacts" -type f >&2 || true
    exit 1
fi
exit 0
