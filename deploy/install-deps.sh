#!/usr/bin/env bash
# Install the Debian packages faultline needs to build, test and run its lab.
#   deploy/install-deps.sh [build|test|bench|all]   (default: all)
# Installs only what is missing; safe to run again.  Needs root (or sudo).
set -euo pipefail

what=${1:-all}

build_pkgs=(cmake make gcc pkg-config
    libzmq3-dev libsodium-dev libprotobuf-c-dev protobuf-c-compiler
    libpcap-dev libsqlite3-dev libcmocka-dev libuv1-dev libfyaml-dev libjansson-dev
    libcurl4-openssl-dev libssl-dev libc-ares-dev libmnl-dev libmicrohttpd-dev libcap-dev)
# The lab and the integration tests: real kernel networking, real servers and
# the reference tools the probes are compared against.
test_pkgs=(iproute2 nftables iptables libnetfilter-queue-dev iputils-ping iputils-tracepath dnsutils curl
    nginx-light unbound sqlite3 procps psmisc openssl clang libclang-rt-14-dev jq
    prometheus-alertmanager prometheus tcpdump systemd universal-ctags)
bench_pkgs=(prometheus-blackbox-exporter python3)

case "$what" in
build) pkgs=("${build_pkgs[@]}") ;;
test)  pkgs=("${build_pkgs[@]}" "${test_pkgs[@]}") ;;
bench) pkgs=("${build_pkgs[@]}" "${test_pkgs[@]}" "${bench_pkgs[@]}") ;;
all)   pkgs=("${build_pkgs[@]}" "${test_pkgs[@]}" "${bench_pkgs[@]}") ;;
*) echo "usage: $0 [build|test|bench|all]" >&2; exit 2 ;;
esac

missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
        missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
echo "installing: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q >/dev/null
# Services from these packages must not start on the host: the lab runs its
# own instances inside network namespaces.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
    $SUDO chmod +x "$policy"
    created_policy=1
fi
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
[ $created_policy -eq 1 ] && $SUDO rm -f "$policy"
exit 0
