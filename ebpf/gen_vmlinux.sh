#!/bin/sh
# Writes vmlinux.h for CO-RE: from the running kernel's BTF when it has one, else the committed
# minimal header (UAPI types only). Usage: gen_vmlinux.sh BPFTOOL FALLBACK OUTPUT
set -eu
bpftool=$1 fallback=$2 out=$3
if [ -r /sys/kernel/btf/vmlinux ] && "$bpftool" btf dump file /sys/kernel/btf/vmlinux format c > "$out.tmp" 2>/dev/null; then
    mv "$out.tmp" "$out"
else
    rm -f "$out.tmp"
    echo "gen_vmlinux: /sys/kernel/btf/vmlinux not usable, using $fallback" >&2
    cp "$fallback" "$out"
fi
