#!/bin/sh
# Configure and build into ./build (or $BUILD_DIR).
set -eu
cd "$(dirname "$0")/.."
B=${BUILD_DIR:-build}
cmake -S . -B "$B" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$B" -j"$(nproc)"
