#!/bin/sh
# Whole-process cost: `jailrun exec -- /bin/true` against bwrap with every namespace
# unshared and a read-only /usr, measured the same way by hyperfine in one run.
# Usage: bench/exec-vs-bwrap.sh [BUILD_DIR]   (root; needs hyperfine and bubblewrap)
set -eu
B=${1:-build}
exec hyperfine -N --warmup 10 --runs "${RUNS:-200}" --export-markdown /dev/stdout \
    -n 'plain /bin/true' '/bin/true' \
    -n 'bwrap --unshare-all' 'bwrap --unshare-all --ro-bind /usr /usr --symlink usr/bin /bin --symlink usr/lib /lib --symlink usr/lib64 /lib64 --proc /proc --dev /dev /bin/true' \
    -n 'jailrun exec' "$B/jailrun exec --mem 256M --pids 64 --time-ms 10000 -- /bin/true"
