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
    jq -r '"  \(.id)\t\(.status)\tbuild \(.build_duration_ms // 0) ms, tests \(.duration_ms // 0) ms"'
echo
# verdicts MISSING RESULTS CASE_FILES...: a table of the results of those cases, rows by
# the first part of the id (the language, or the kind of checker), columns by the second
# (the outcome); MISSING marks a pair without a case
verdicts() {
        missing=$1 res=$2
        shift 2
        jq -rs --arg missing "$missing" --argjson ids "$(jq -s 'map(.id)' "$@")" '
          map(select(.id as $i | $ids | index($i)))
          | (map(.id | split("-")[1]) | unique) as $outcomes
          | (map({key: .id, value: .status}) | from_entries) as $st
          | (map(.id | split("-")[0]) | unique) as $langs
          | (["lang"] + $outcomes | @tsv),
            ($langs[] as $l | [$l] + ($outcomes | map($st[$l + "-" + .] // $missing)) | @tsv)
        ' "$res" | column -t
}
echo "== verdicts (language x outcome; the file name says the expected one)"
verdicts "?" "$results" $(ls tests/cases/*/*.json | grep -v '^tests/cases/checkers/')
echo
echo "== built-in comparisons, checker programs, interactors (tests/cases/checkers)"
verdicts "." "$results" tests/cases/checkers/*.json
