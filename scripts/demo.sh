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
echo
echo "== the service: the C and Python cases produced to the embedded broker, judged by"
echo "   jailrun serve, each result printed as it arrives (logs in /tmp/jailrun-demo.log)"
KAFKA_BROKERS=embedded "$B/jailrun" serve --produce tests/cases/c --produce tests/cases/python \
    --print-results 2>/tmp/jailrun-demo.log | cut -c1-150
