#!/bin/sh
# The whole test suite: format check, build, then every ctest tier (as root).
set -eu
cd "$(dirname "$0")/.."
if command -v clang-format >/dev/null; then
    git ls-files '*.c' '*.h' | xargs clang-format --dry-run --Werror
fi
sh scripts/build.sh
cd "${BUILD_DIR:-build}"
ctest --output-on-failure "$@"
