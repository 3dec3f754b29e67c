#!/bin/sh
# Quick start, step 1 (as root on Debian 12): install what is needed, build, build the
# per-language rootfs trees, then judge the sample submissions of every language and
# outcome and print the verdict table.
set -eu
cd "$(dirname "$0")/.."
sh scripts/install-deps.sh
sh scripts/build.sh
B=${BUILD_DIR:-build}
echo "== building the rootfs trees (first time: a few minutes; kept afterwards)"
"$B/jailrun" rootfs build --quiet all
"$B/jailrun" rootfs list
echo
echo "== judging tests/cases/<language>/<outcome>.json with jailrun run"
"$B/bench/matrix" table
