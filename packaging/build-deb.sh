#!/bin/sh
# Build the Debian package: packaging/build-deb.sh [--worktree] OUTDIR
#
# Copies the source (the committed tree, HEAD; with --worktree, the working tree as it
# is: tracked files and untracked ones that .gitignore does not exclude) to a temporary
# directory, puts packaging/debian/ at
# its top as debian/, runs `dpkg-buildpackage -us -uc -b` there and leaves the .deb,
# .buildinfo and .changes in OUTDIR. Needs the Build-Depends of packaging/debian/control
# (scripts/install-deps.sh installs them). Prints the path of the .deb on the last line.
#
# Environment: JOBS (parallel build jobs, default 2), KEEP=1 keeps the temporary tree.
set -eu

worktree=0
if [ "${1:-}" = "--worktree" ]; then
    worktree=1
    shift
fi
[ $# -eq 1 ] || {
    sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}
SRC=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$1"
OUT=$(cd "$1" && pwd)

# One version: CMake's project() and the changelog must agree.
deb_version=$(dpkg-parsechangelog -l "$SRC/packaging/debian/changelog" -S Version)
cmake_version=$(sed -n 's/^project(jailrun VERSION \([0-9.]*\).*/\1/p' "$SRC/CMakeLists.txt")
if [ "${deb_version%%-*}" != "$cmake_version" ]; then
    echo "build-deb: packaging/debian/changelog says $deb_version, CMakeLists.txt $cmake_version" >&2
    exit 1
fi

WORK=$(mktemp -d /tmp/jailrun-deb.XXXXXX)
[ "${KEEP:-0}" = 1 ] || trap 'rm -rf "$WORK"' EXIT
TREE=$WORK/jailrun-$cmake_version
mkdir "$TREE"

# Only what git tracks: build directories and editor droppings stay out.
if git -C "$SRC" rev-parse --git-dir >/dev/null 2>&1; then
    if [ $worktree = 1 ]; then
        git -C "$SRC" ls-files -z --cached --others --exclude-standard |
            (cd "$SRC" && xargs -0 tar -cf - --no-recursion) | tar -xf - -C "$TREE"
    else
        git -C "$SRC" archive --format=tar HEAD | tar -xf - -C "$TREE"
    fi
else
    tar -cf - -C "$SRC" --exclude='./build*' --exclude=./.git . | tar -xf - -C "$TREE"
fi
rm -rf "$TREE/debian"
cp -a "$TREE/packaging/debian" "$TREE/debian"

cd "$TREE"
DEB_BUILD_OPTIONS="nocheck noautodbgsym parallel=${JOBS:-2}" dpkg-buildpackage -us -uc -b
cd "$WORK"
for f in jailrun_*.deb jailrun_*.buildinfo jailrun_*.changes; do
    [ -e "$f" ] && cp "$f" "$OUT/"
done
[ "${KEEP:-0}" = 1 ] && echo "build-deb: tree kept in $TREE" >&2
ls "$OUT"/jailrun_"$deb_version"_*.deb
