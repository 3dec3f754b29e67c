#!/bin/sh
# Quick start, step 1: install what is needed, build, run the main job.
set -eu
cd "$(dirname "$0")/.."
sh scripts/install-deps.sh
sh scripts/build.sh
echo "== jailrun exec: a shell in a jail with the host's /usr, read-only =="
./build/jailrun exec --rootfs host --time-ms 1000 --mem 64M --stdout - -- \
    /bin/sh -c 'echo "hostname: $(hostname)"; id; ls /; cat /proc/self/status | grep -E "^(Cap|NoNewPrivs|Seccomp)"; echo hi > /usr/x 2>&1 || echo "/usr is read-only"'
