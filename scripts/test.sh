#!/bin/sh
# The whole test suite, as root (what CI runs, .ci/run):
#   1. the clang-format check and the size rule (scripts/size-check.sh);
#   2. build/ (BUILD_DIR), the rootfs trees the judge tests need (kept when their recipe
#      is unchanged), and every ctest tier there: unit, integration (real jails, real
#      trees, the mock Kafka cluster), vm (a pure cgroup v2 kernel under qemu), packaging;
#   3. build-asan/ (ASAN_BUILD_DIR): the same code with ASan + UBSan, and its unit and
#      integration tests (not vm: TCG runs the guest ~10x slower, and the v2 paths it
#      covers are the same code as in step 2; not packaging: the package is built from
#      its own, unsanitized build). Every finding, leaks of jailrun included, fails the
#      test that met it (tests/CMakeLists.txt);
#   4. the fuzzers, tests/fuzz/run.sh: every target for FUZZ_SECONDS (60) from its
#      committed corpus; a crash, leak or timeout fails.
# Every step runs even when an earlier one failed; the exit status says whether all
# passed.
#
# Arguments go to ctest and select tests, e.g. `sh scripts/test.sh -R test_exec` or
# `-L unit`: then step 2 only, unless JR_TEST_ASAN=1 (step 3 with the same arguments)
# or JR_TEST_FUZZ=1 (step 4) ask for more. JR_TEST_ASAN=0 / JR_TEST_FUZZ=0 skip them.
set -eu
cd "$(dirname "$0")/.."
if [ $# -eq 0 ]; then
    asan=${JR_TEST_ASAN:-1}
    fuzz=${JR_TEST_FUZZ:-1}
else
    asan=${JR_TEST_ASAN:-0}
    fuzz=${JR_TEST_FUZZ:-0}
fi
B=${BUILD_DIR:-build}
AB=${ASAN_BUILD_DIR:-$B-asan}
failed=""
step() { # a heading with the time of day, so the log shows what each step took
    echo "== $1 ($(date +%T))"
}

step "format"
if command -v clang-format >/dev/null; then
    git ls-files '*.c' '*.h' | xargs clang-format --dry-run --Werror || failed="$failed format"
fi

step "size"
sh scripts/size-check.sh || failed="$failed size"

step "build $B"
sh scripts/build.sh
"$B/jailrun" rootfs build --quiet all
step "ctest in $B"
(cd "$B" && ctest --output-on-failure "$@") || failed="$failed tests"

if [ "$asan" = 1 ]; then
    step "build $AB (ASan + UBSan)"
    cmake -S . -B "$AB" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DJR_SANITIZE=ON >/dev/null
    cmake --build "$AB" -j"$(nproc)"
    step "ctest in $AB"
    (cd "$AB" && ctest --output-on-failure -LE 'vm|packaging' "$@") ||
        failed="$failed sanitized-tests"
fi

if [ "$fuzz" = 1 ]; then
    step "fuzz"
    sh tests/fuzz/run.sh || failed="$failed fuzz"
fi

step "done"
if [ -n "$failed" ]; then
    echo "FAILED:$failed"
    exit 1
fi
echo "all passed"
