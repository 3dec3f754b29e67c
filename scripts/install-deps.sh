#!/bin/sh
# Install what jailrun needs to build and test on Debian 12 (run as root).
set -eu
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends \
    build-essential cmake pkg-config clang-format clang libclang-rt-14-dev \
    libseccomp-dev libcap-dev libnl-3-dev libnl-route-3-dev libyajl-dev librdkafka-dev \
    libcriterion-dev libsystemd-dev \
    libmicrohttpd-dev libsqlite3-dev curl libcurl4-openssl-dev \
    mmdebstrap hyperfine bubblewrap \
    qemu-system-x86 busybox-static cpio xz-utils zstd kmod jq bsdextrautils
# Packaging and the service: the .deb build (packaging/build-deb.sh), its lint, the man
# page, systemd-analyze verify of the unit.
apt-get install -y -q --no-install-recommends \
    dpkg-dev debhelper fakeroot lintian scdoc systemd
# The benchmarks' charts: bench/scrc draws PNG files with gnuplot (pngcairo terminal).
apt-get install -y -q --no-install-recommends gnuplot-nox
