#!/bin/sh
# Whole-process cost: `jailrun exec -- /bin/true` (full isolation: namespaces, pivot_root,
# a cgroup with limits created and removed, seccomp, no capabilities) against bwrap with
# every namespace unshared and a read-only /usr, and a plain /bin/true, measured the same
# way by hyperfine in one run. Prints the medians and the ratio jailrun / bwrap.
# Usage: bench/exec-vs-bwrap.sh [BUILD_DIR]   (root; needs hyperfine, bubblewrap, jq)
set -eu
B=${1:-build}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
hyperfine -N --warmup 10 --runs "${RUNS:-200}" --export-json "$out" \
    -n plain '/bin/true' \
    -n bwrap 'bwrap --unshare-all --ro-bind /usr /usr --symlink usr/bin /bin --symlink usr/lib /lib --symlink usr/lib64 /lib64 --proc /proc --dev /dev /bin/true' \
    -n jailrun "$B/jailrun exec --mem 256M --pids 64 --time-ms 10000 -- /bin/true" >/dev/null
jq -r '.results[] | "\(.command)\tp50 \(.median * 10000 | round / 10) ms\tmean \(.mean * 10000 | round / 10) ms"' "$out"
jq -r '(.results | map({(.command): .median}) | add) as $m | "ratio of medians jailrun / bwrap: \($m.jailrun / $m.bwrap * 100 | floor / 100)"' "$out"
