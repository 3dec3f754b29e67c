#!/bin/sh
# Fuzz every libFuzzer target of tests/fuzz for a bounded time, from its committed corpus.
#
#   sh tests/fuzz/run.sh [SECONDS]     (default 60 per target; or FUZZ_SECONDS)
#
# Builds the fuzz_* targets with clang into $FUZZ_BUILD_DIR (default build-fuzz), then
# runs each fuzz_NAME on tests/fuzz/corpus-NAME (with NAME.dict when there is one).
# Fails on any crash, sanitizer finding, leak, timeout (a single input running over
# 10 s) or out-of-memory (2 GiB), and leaves the input that did it in
# $FUZZ_BUILD_DIR/artifacts/ with the command that replays it.
#
# What the fuzzer finds that adds coverage is written to $FUZZ_BUILD_DIR/new/NAME, not
# to the checkout. FUZZ_MERGE=1 merges those inputs (minimised, -merge=1: only those
# that add coverage) into the committed corpus, to be committed.
set -eu
cd "$(dirname "$0")/../.."
S=${1:-${FUZZ_SECONDS:-60}}
FB=${FUZZ_BUILD_DIR:-build-fuzz}

if [ ! -f "$FB/CMakeCache.txt" ]; then
    CC=clang cmake -S . -B "$FB" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DJR_FUZZ=ON \
        -DBUILD_TESTING=OFF >/dev/null
fi
cmake --build "$FB" --target fuzz -j"$(nproc)"

mkdir -p "$FB/artifacts" "$FB/new"
failed=""
for exe in "$FB"/tests/fuzz/fuzz_*; do
    [ -x "$exe" ] || continue
    name=${exe##*/fuzz_}
    corpus=tests/fuzz/corpus-$name
    new=$FB/new/$name
    log=$FB/fuzz-$name.log
    mkdir -p "$new"
    rm -f "$FB/artifacts/$name-"*
    set -- -max_total_time="$S" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$FB/artifacts/$name-"
    [ -f "tests/fuzz/$name.dict" ] && set -- "$@" -dict="tests/fuzz/$name.dict"
    [ -d "$corpus" ] || echo "fuzz $name: no corpus at $corpus: starting from nothing"
    [ -d "$corpus" ] && set -- "$@" "$new" "$corpus" || set -- "$@" "$new"
    echo "fuzz $name: $S s from $corpus ($(ls "$corpus" 2>/dev/null | wc -l) inputs)"
    had=$(ls "$new" | wc -l)
    if "$exe" "$@" >"$log" 2>&1; then
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
        echo "fuzz $name: ok, $runs inputs run, $(($(ls "$new" | wc -l) - had)) new in $new"
        if [ "${FUZZ_MERGE:-0}" = 1 ]; then
            mkdir -p "$corpus"
            before=$(ls "$corpus" | wc -l)
            "$exe" -merge=1 "$corpus" "$new" >>"$log" 2>&1
            echo "fuzz $name: merged $(($(ls "$corpus" | wc -l) - before)) inputs into $corpus"
        fi
    else
        echo "fuzz $name: FAILED; the end of $log:"
        tail -n 60 "$log"
        for a in "$FB/artifacts/$name-"*; do
            [ -e "$a" ] && echo "replay: $exe $a"
        done
        failed="$failed $name"
    fi
done
if [ -n "$failed" ]; then
    echo "fuzz: failed:$failed"
    exit 1
fi
