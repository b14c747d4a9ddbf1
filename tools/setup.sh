#!/usr/bin/env bash
# Installs every Debian 12 package Tripline needs to build, test and benchmark.
# Idempotent: quiet and fast when everything is already installed.
set -euo pipefail

PKGS=(
  build-essential meson ninja-build pkg-config clang llvm lld libclang-rt-14-dev
  libpcap-dev dpdk-dev libhyperscan-dev libbpf-dev libxdp-dev xdp-tools bpftool
  linux-libc-dev libelf-dev zlib1g-dev
  libcmocka-dev libpcre2-dev libyaml-dev libsodium-dev libssl-dev libxxhash-dev
  libhiredis-dev librdkafka-dev libjansson-dev zlib1g-dev
  tshark tcpreplay iproute2 python3 python3-yaml
  redis-server rsyslog rsyslog-gnutls gnutls-bin fever openssl
  libmicrohttpd-dev python3-prometheus-client groff-base man-db systemd
)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "setup: installing ${#missing[@]} package(s): ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
# tshark asks whether non-root users may capture; answer once, quietly.
echo "wireshark-common wireshark-common/install-setuid boolean false" | $SUDO debconf-set-selections
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
