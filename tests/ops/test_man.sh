#!/usr/bin/env bash
# man/tripline.1: renders without a single groff warning (-ww), and documents every long option
# of `tripline --help` and every key of `tripline --dump-config`. Skips (77) without groff.
set -euo pipefail
tripline=$1
page=$2
command -v groff >/dev/null || { echo "SKIP: groff is not installed"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# warnings of every kind go to stderr; -z: no output
groff -man -Tutf8 -ww -z "$page" 2>"$tmp/warn"
if [ -s "$tmp/warn" ]; then echo "FAIL: groff warnings:"; cat "$tmp/warn"; exit 1; fi
if command -v man >/dev/null; then
    MANWIDTH=100 man --warnings -l "$page" >/dev/null 2>"$tmp/warn"
    if [ -s "$tmp/warn" ]; then echo "FAIL: man warnings:"; cat "$tmp/warn"; exit 1; fi
fi
# plain text, wide, no hyphenation: keys stay whole
groff -man -Tascii -rLL=200n -P-cbou "$page" > "$tmp/text"

missing=0
for opt in $("$tripline" --help | grep -o -- '--[a-z][a-z-]*' | sort -u); do
    if ! grep -q -- "$opt" "$tmp/text"; then echo "option $opt is not in the man page"; missing=$((missing + 1)); fi
done
# dotted leaf keys of the effective configuration
"$tripline" --dump-config | python3 -c '
import sys
stack = []
for line in sys.stdin:
    if not line.strip() or line.startswith(("%", "---", "#")):
        continue
    ind = (len(line) - len(line.lstrip(" "))) // 2
    key, _, val = line.strip().partition(":")
    if key.startswith("- "):
        continue
    del stack[ind:]
    if val.strip():
        print(".".join(stack + [key.strip(chr(34))]))
    else:
        stack.append(key.strip(chr(34)))
' > "$tmp/keys"
nkeys=$(wc -l < "$tmp/keys")
[ "$nkeys" -gt 40 ] || { echo "FAIL: only $nkeys keys read from --dump-config"; exit 1; }
while read -r key; do
    if ! grep -qF -- "$key" "$tmp/text"; then echo "key $key is not in the man page"; missing=$((missing + 1)); fi
done < "$tmp/keys"
if [ "$missing" -ne 0 ]; then echo "FAIL: $missing undocumented options/keys"; exit 1; fi
echo "ok: renders without warnings; $nkeys keys and every --help option documented"
echo "1 passed, 0 failed"
