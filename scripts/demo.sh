#!/bin/sh
# Quick start, step 1 (as root on Debian 12): install what is needed, build, build the
# per-language rootfs trees, then the main job: the sample submissions of every language
# and outcome (tests/cases) are produced to the embedded Kafka broker, judged by
# `jailrun serve`, and their results printed as they arrive, then as a verdict table.
set -eu
cd "$(dirname "$0")/.."
sh scripts/install-deps.sh
sh scripts/build.sh
B=${BUILD_DIR:-build}
echo "== building the rootfs trees (first time: a few minutes; kept afterwards)"
"$B/jailrun" rootfs build --quiet all
"$B/jailrun" rootfs list
echo
echo "== jailrun serve: tests/cases/*/*.json produced to the embedded broker, judged 2 at a time"
results=$(mktemp)
trap 'rm -f "$results"' EXIT
for d in tests/cases/*/; do set -- "$@" --produce "$d"; done
KAFKA_BROKERS=embedded RUNNER_MAX_PARALLEL=2 "$B/jailrun" serve "$@" --print-results \
    --log-level warning | tee "$results" |
    jq -r '"  \(.id)\t\(.status)\t\(.duration_ms) ms end to end"'
echo
echo "== verdicts (language x outcome; the file name says the expected one)"
jq -rs '
  (map(.id | split("-")[1]) | unique) as $outcomes
  | (map({key: .id, value: .status}) | from_entries) as $st
  | (map(.id | split("-")[0]) | unique) as $langs
  | (["lang"] + $outcomes | @tsv),
    ($langs[] as $l | [$l] + ($outcomes | map($st[$l + "-" + .] // "?")) | @tsv)
' "$results" | column -t
