#!/bin/sh
# The whole test suite, as root: format check, build, the rootfs trees the judge tests
# need (kept when their recipe is unchanged), then every ctest tier: unit, integration
# (real jails, real trees, the mock Kafka cluster) and vm (a pure cgroup v2 kernel
# under qemu). Extra arguments go to ctest, e.g. `-L unit` or `-R test_exec`.
set -eu
cd "$(dirname "$0")/.."
if command -v clang-format >/dev/null; then
    git ls-files '*.c' '*.h' | xargs clang-format --dry-run --Werror
fi
sh scripts/build.sh
B=${BUILD_DIR:-build}
"$B/jailrun" rootfs build --quiet all
cd "$B"
ctest --output-on-failure "$@"
