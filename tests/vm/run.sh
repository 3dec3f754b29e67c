#!/bin/bash
# Run a command (default: tests/vm/suite.sh) inside a Debian kernel booted under qemu
# into a pure cgroup v2 hierarchy, in a delegated cgroup like a systemd unit with
# Delegate=yes gets. See tests/vm/README.md.
#
#   tests/vm/run.sh BUILD_DIR [--kernel 6.1|6.12|linux-image-PKG] [--boot auto|fast|plain]
#                   [--timeout SEC] [--mem MiB] [--smp N] [--] [COMMAND ARGS...]
#
# Exit status: the command's exit status; 1 if it left processes behind; 2 for a usage
# or host setup error; 125 for an infrastructure failure (kernel oops or panic, guest
# that died or hung without reporting), which is retried once before it is reported.
set -euo pipefail

SRC_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
VM_DIR=$SRC_DIR/tests/vm
EXIT_INFRA=125
T0=$EPOCHREALTIME
export PATH=$PATH:/usr/sbin:/sbin # depmod and modprobe, for non-root users too

# seconds since $1 (an $EPOCHREALTIME), one decimal
secs_since() {
    local d=$((${EPOCHREALTIME/./} - ${1/./}))
    printf '%d.%d' $((d / 1000000)) $((d % 1000000 / 100000))
}
say() { printf 'vm: [%6ss] %s\n' "$(secs_since "$T0")" "$*"; }
die() {
    printf 'vm: ERROR: %s\n' "$*" >&2
    exit 2
}
usage() {
    sed -n '5,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    exit "${1:-2}"
}

# ---------------------------------------------------------------------------- options
KERNEL=${JR_VM_KERNEL:-6.1}
BOOT=${JR_VM_BOOT:-auto}
TIMEOUT=${JR_VM_TIMEOUT:-420}  # the command's limit inside the guest, in seconds
MEM=${JR_VM_MEM:-1024}         # MiB; qemu touches only what the guest uses
SMP=${JR_VM_SMP:-1}            # 1: no slower on 2 host cores, and no cross-vCPU TCG races
CPU=${JR_VM_CPU:-max}          # qemu -cpu model
P9_CACHE=${JR_VM_9P_CACHE:-loose}
CACHE=${JR_VM_CACHE:-}

[ $# -ge 1 ] || usage
case $1 in -h | --help) usage 0 ;; esac
BUILD=$1
shift
while [ $# -gt 0 ]; do
    case $1 in
    --kernel) KERNEL=${2:?--kernel needs a value}; shift 2 ;;
    --boot) BOOT=${2:?--boot needs a value}; shift 2 ;;
    --timeout) TIMEOUT=${2:?--timeout needs a value}; shift 2 ;;
    --mem) MEM=${2:?--mem needs a value}; shift 2 ;;
    --smp) SMP=${2:?--smp needs a value}; shift 2 ;;
    -h | --help) usage 0 ;;
    --) shift; break ;;
    -*) die "unknown option '$1' (see --help)" ;;
    *) break ;;
    esac
done
CMD=("$@")
[ -d "$BUILD" ] || die "build directory '$BUILD' does not exist"
BUILD=$(cd "$BUILD" && pwd)
[ ${#CMD[@]} -gt 0 ] || CMD=("$VM_DIR/suite.sh" "$BUILD")
case $BOOT in auto | fast | plain) ;; *) die "--boot must be auto, fast or plain" ;; esac
for v in TIMEOUT MEM SMP; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "${v,,} must be a positive integer, not '${!v}'"
done
# The guest sees the host's / at the same paths, except /tmp and /run (fresh tmpfs there):
# a checkout or build under those is shared on its own and mounted at the same path.
SHARES=()
for p in "$SRC_DIR" "$BUILD"; do
    case $p/ in
    /tmp/* | /run/*)
        nested=
        for q in "${SHARES[@]}"; do case $p/ in "$q"/*) nested=1 ;; esac; done
        [ -n "$nested" ] || SHARES+=("$p")
        ;;
    esac
done

for tool in qemu-system-x86_64 apt-get apt-cache dpkg-deb depmod modprobe cpio busybox flock timeout; do
    command -v "$tool" >/dev/null || die "'$tool' not found: run scripts/install-deps.sh (as root)"
done
BUSYBOX=$(command -v busybox)
if ldd "$BUSYBOX" >/dev/null 2>&1; then
    die "$BUSYBOX is dynamically linked: the initramfs needs busybox-static"
fi
QBOOT=/usr/share/qemu/qboot.rom

if [ -z "$CACHE" ]; then
    if [ -w /var/cache ] || [ -w /var/cache/jailrun-vm ]; then
        CACHE=/var/cache/jailrun-vm
    else
        CACHE=$BUILD/vm/cache
    fi
fi
mkdir -p "$CACHE"

# ---------------------------------------------------------------------------- kernel
# Debian's own kernel, unpacked from the package: no postinst, no update-initramfs.
case $KERNEL in
6.1) META=linux-image-amd64 PATTERN='linux-image-6.1.0-*-amd64' ;;    # bookworm's default
6.12) META=linux-image-6.12-amd64 PATTERN='linux-image-6.12.*-amd64' ;; # bookworm updates
linux-image-*) META='' PATTERN=$KERNEL PKG=$KERNEL ;;
*) die "--kernel must be 6.1, 6.12 or a linux-image-* package name, not '$KERNEL'" ;;
esac
resolve_package() {
    if [ -n "$META" ]; then
        PKG=$(apt-cache depends "$META" 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
        # shellcheck disable=SC2254 # PATTERN is a glob on purpose
        case $PKG in $PATTERN) ;; *) PKG= ;; esac
    fi
    VER=
    [ -z "${PKG:-}" ] || VER=$(apt-cache policy "$PKG" 2>/dev/null | awk '/Candidate:/ {print $2}')
    [ "$VER" != "(none)" ] || VER=
}
# apt-cache costs 2 s; its answer changes only when apt-get update rewrites the lists.
lists_stamp=$(stat -c %Y /var/lib/apt/lists 2>/dev/null || echo none)
resolved=$CACHE/.resolved-$KERNEL
if [ "$(sed -n 1p "$resolved" 2>/dev/null)" = "$lists_stamp" ]; then
    read -r PKG VER < <(sed -n 2p "$resolved")
else
    resolve_package
    [ -z "$VER" ] || printf '%s\n%s %s\n' "$lists_stamp" "$PKG" "$VER" >"$resolved"
fi
if [ -z "$VER" ]; then
    # No apt lists (offline?): the newest kernel of this series already in the cache.
    KDIR=$(find "$CACHE" -maxdepth 1 -name "${PATTERN}_*" -exec test -e {}/.complete \; -print |
        sort -V | tail -n 1)
    [ -n "$KDIR" ] || die "no package for kernel '$KERNEL' in apt's lists and none cached in $CACHE (apt-get update?)"
    say "apt knows no '$KERNEL' kernel; using the cached ${KDIR##*/}"
else
    KDIR=$CACHE/${PKG}_$VER
fi

fetch_kernel() {
    local tmp deb kv
    tmp=$(mktemp -d "$CACHE/.fetch.XXXXXX")
    # apt as root drops to _apt for downloads, which cannot write into our directory.
    local aptopt=()
    [ "$(id -u)" -ne 0 ] || aptopt=(-o APT::Sandbox::User=root)
    say "downloading $PKG=$VER"
    (cd "$tmp" && apt-get download -q "${aptopt[@]}" "$PKG=$VER") >"$tmp/apt.log" 2>&1 ||
        { cat "$tmp/apt.log" >&2; rm -rf "$tmp"; die "apt-get download $PKG=$VER failed"; }
    deb=$(echo "$tmp"/*.deb)
    say "unpacking $(du -h "$deb" | cut -f1) package"
    dpkg-deb -x "$deb" "$tmp/root"
    rm -f "$deb"
    kv=$(ls "$tmp/root/lib/modules")
    # The package ships no modules.dep (its postinst would make it); modprobe needs it.
    depmod -b "$tmp/root" "$kv"
    if "$VM_DIR/extract-vmlinux.sh" "$tmp/root/boot/vmlinuz-$kv" "$tmp/root/vmlinux"; then
        say "extracted vmlinux for the fast (PVH) boot"
    else
        say "no vmlinux: only the plain boot is available for $kv"
    fi
    echo "$kv" >"$tmp/root/.complete"
    rm -rf "$KDIR"
    mv "$tmp/root" "$KDIR"
    rm -rf "$tmp"
}

if [ ! -e "$KDIR/.complete" ]; then
    exec 8>"$CACHE/.lock"
    flock 8 # one download at a time per cache; re-check once we hold the lock
    [ -e "$KDIR/.complete" ] || fetch_kernel
    exec 8>&-
fi
KV=$(cat "$KDIR/.complete")
say "kernel $KV (${KDIR##*/}, cached in $CACHE)"

# ---------------------------------------------------------------------------- initramfs
# busybox, /init and the modules for the 9p shares and overlayfs: everything else comes
# from the host's root over 9p. Rebuilt only when one of its inputs changes.
WORK=$BUILD/vm/$KV
mkdir -p "$WORK"
exec 9>"$WORK/.lock"
flock 9 # one run per kernel and build dir at a time (they share the initramfs and logs)

MODULES="virtio_pci 9pnet_virtio 9p overlay"
INITRD=$WORK/initrd.cpio
key=$({
    echo "format 1: $MODULES"
    echo "$KDIR"
    sha256sum "$VM_DIR/init" "$BUSYBOX" | cut -d' ' -f1
} | sha256sum | cut -c1-16)

build_initrd() {
    local r f d
    r=$(mktemp -d "$WORK/initrd.XXXXXX")
    mkdir -p "$r"/{bin,dev,etc,mnt,proc,sys,tmp}
    cp "$BUSYBOX" "$r/bin/busybox"
    for f in $("$BUSYBOX" --list); do
        [ "$f" = busybox ] || ln -s busybox "$r/bin/$f"
    done
    install -m 0755 "$VM_DIR/init" "$r/init"
    # Dependency order from kmod itself; built-in ones (virtio_pci on 6.12) print no insmod.
    for m in $MODULES; do
        modprobe -d "$KDIR" -S "$KV" --show-depends "$m" | awk '$1 == "insmod" {print $2}'
    done | awk '!seen[$0]++' | while read -r f; do
        d=${f#"$KDIR"}
        d=${d%.xz}
        d=${d%.zst}
        mkdir -p "$r${d%/*}"
        # busybox insmod cannot read compressed modules (6.12 ships .ko.xz)
        case $f in
        *.xz) xz -dc "$f" >"$r$d" ;;
        *.zst) zstd -dcq "$f" >"$r$d" ;;
        *) cp "$f" "$r$d" ;;
        esac
        echo "$d" >>"$r/etc/modlist"
    done
    [ -s "$r/etc/modlist" ] || die "no modules resolved for '$MODULES' in $KDIR"
    # uncompressed: gunzip inside the emulated CPU costs more than reading 3 MB
    (cd "$r" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) >"$INITRD.tmp"
    mv "$INITRD.tmp" "$INITRD"
    echo "$key" >"$INITRD.key"
    rm -rf "$r"
}

if [ "$(cat "$INITRD.key" 2>/dev/null)" != "$key" ] || [ ! -s "$INITRD" ]; then
    build_initrd
    say "built initramfs ($(du -h "$INITRD" | cut -f1), $(cpio -it --quiet <"$INITRD" | grep -c '\.ko$') modules)"
else
    say "initramfs up to date"
fi

# ---------------------------------------------------------------------------- boot
CMDLINE="console=ttyS0 quiet panic=-1 oops=panic cgroup_no_v1=all nowatchdog"
# Speed under TCG: no mitigations, no KASLR, trust the TSC (no calibration loops).
CMDLINE+=" mitigations=off nokaslr tsc=reliable no_timer_check i8042.noaux i8042.nokbd"
# Kernel messages that mean the guest can't be trusted any more.
OOPS_RE='Kernel panic - not syncing|Oops: |BUG: |general protection fault|kernel BUG at'

write_guest_files() {
    local out=$1 v
    {
        echo "JRVM_TIMEOUT=$TIMEOUT"
        echo "JRVM_9P_CACHE=$P9_CACHE"
    } >"$out/config.sh"
    # one path per line, share<N> for line N (from 0): /init is busybox sh, no arrays
    printf '%s\n' ${SHARES[@]+"${SHARES[@]}"} >"$out/shares"
    {
        echo "# generated by tests/vm/run.sh; run by /init with bash inside the guest"
        # the variables jailrun and its tests read pass through; the rest of the
        # environment stays on the host
        for v in $(compgen -e); do
            case $v in JAILRUN_* | JR_* | CRITERION_*) printf 'export %s=%q\n' "$v" "${!v}" ;; esac
        done
        printf 'export JR_VM=1 JR_VM_KERNEL=%q JR_VM_OUT=/run/jailrun-vm\n' "$KV"
        printf 'cd %q 2>/dev/null || cd /\n' "$PWD"
        printf 'exec'
        printf ' %q' "${CMD[@]}"
        echo
    } >"$out/cmd.sh"
}

# boot VARIANT RUNDIR: one guest; leaves console.log and the out share in RUNDIR.
boot() {
    local variant=$1 run=$2
    # shellcheck disable=SC2054 # commas separate qemu's sub-options, not array elements
    local args=(
        -nodefaults -no-user-config -display none -accel tcg -cpu "$CPU"
        -smp "$SMP" -m "$MEM" -no-reboot
        -chardev "stdio,id=con,signal=off,logfile=$run/console.log" -serial chardev:con
        -device isa-debug-exit,iobase=0xf4,iosize=0x04
        # host / read-only; remap keeps inode numbers of the host's other mounts unique
        -fsdev local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap
        -device virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot
        -fsdev "local,id=out,path=$run/out,security_model=none"
        -device virtio-9p-pci,fsdev=out,mount_tag=out
        -initrd "$INITRD" -append "$CMDLINE"
    )
    local i
    for i in "${!SHARES[@]}"; do # read-write: tests write into their build directory
        args+=(-fsdev "local,id=share$i,path=${SHARES[$i]},security_model=none,multidevs=remap"
            -device "virtio-9p-pci,fsdev=share$i,mount_tag=share$i")
    done
    case $variant in
    fast) args+=(-bios "$QBOOT" -kernel "$KDIR/vmlinux") ;; # PVH entry, no decompression
    plain) args+=(-kernel "$KDIR/boot/vmlinuz-$KV") ;;
    esac
    # the guest enforces TIMEOUT on the command; this one catches a hung kernel
    timeout -k 10 $((TIMEOUT + 90)) qemu-system-x86_64 "${args[@]}" </dev/null
}

# outcome RUNDIR QEMU_RC: sets RESULT_RC (command status) or INFRA (why not)
outcome() {
    local run=$1 qrc=$2 status oops
    status=$run/out/status
    RESULT_RC='' INFRA=''
    oops=$(cat "$run/console.log" "$run/out/dmesg.txt" 2>/dev/null | grep -E -m 3 "$OOPS_RE" || true)
    if [ -n "$oops" ]; then
        INFRA="guest kernel oops or panic: $(head -n 1 <<<"$oops" | tr -d '\r')"
    elif grep -q '^infra=' "$status" 2>/dev/null; then
        INFRA="guest setup failed: $(sed -n 's/^infra=//p' "$status" | head -n 1)"
    elif grep -q '^rc=' "$status" 2>/dev/null; then
        RESULT_RC=$(sed -n 's/^rc=//p' "$status")
        LEFTOVER=$(sed -n 's/^leftover=//p' "$status")
        CMD_SECONDS=$(sed -n 's/^cmd_seconds=//p' "$status")
        INIT_SECONDS=$(sed -n 's/^init_seconds=//p' "$status")
        READY_SECONDS=$(sed -n 's/^ready_seconds=//p' "$status")
        if [ "$qrc" -ne $(((RESULT_RC * 2 + 1) & 255)) ]; then
            say "warning: qemu exited $qrc, expected $(((RESULT_RC * 2 + 1) & 255)) for status $RESULT_RC"
        fi
    elif [ "$qrc" -eq 124 ] || [ "$qrc" -eq 137 ]; then
        INFRA="guest hung: no result after $((TIMEOUT + 90)) s"
    elif ! grep -q '^jrvm: ' "$run/console.log" 2>/dev/null; then
        INFRA="guest never reached /init (qemu exit $qrc)"
    else
        INFRA="guest died without reporting (qemu exit $qrc)"
    fi
}

variant=$BOOT
if [ "$variant" = auto ]; then
    if [ -e "$KDIR/vmlinux" ] && [ -e "$QBOOT" ]; then variant=fast; else variant=plain; fi
fi
[ "$variant" != fast ] || [ -e "$KDIR/vmlinux" ] || die "no vmlinux extracted for $KV: use --boot plain"

for attempt in 1 2; do
    RUN=$WORK/run$attempt
    rm -rf "$RUN"
    mkdir -p "$RUN/out"
    write_guest_files "$RUN/out"
    say "booting $KV ($variant boot, attempt $attempt): ${CMD[*]}"
    tboot=$EPOCHREALTIME
    set +e
    boot "$variant" "$RUN"
    qrc=$?
    set -e
    outcome "$RUN" "$qrc"
    total=$(secs_since "$tboot")
    if [ -n "$RESULT_RC" ]; then
        break
    fi
    say "INFRASTRUCTURE FAILURE (attempt $attempt, after $total s): $INFRA"
    say "  logs: $RUN/console.log $RUN/out/"
    # A fast boot that never reached /init: the plain boot may still work.
    if [ "$BOOT" = auto ] && [ "$variant" = fast ] && [[ $INFRA == "guest never reached"* ]]; then
        variant=plain
    fi
done

if [ -z "$RESULT_RC" ]; then
    tail -n 40 "$RUN/console.log" 2>/dev/null | sed 's/^/vm: console| /' >&2 || true
    printf 'vm: ERROR: infrastructure failure twice; last: %s\n' "$INFRA" >&2
    exit $EXIT_INFRA
fi

say "done: status $RESULT_RC after $total s in qemu ($variant boot, $KV): guest kernel at /init ${INIT_SECONDS} s, command started ${READY_SECONDS} s, ran ${CMD_SECONDS} s"
say "logs: $RUN/console.log, $RUN/out/{output.log,dmesg.txt}"
if [ "$RESULT_RC" -eq 0 ] && [ "${LEFTOVER:-0}" != 0 ]; then
    printf 'vm: ERROR: the command left %s processes behind in its cgroup\n' "$LEFTOVER" >&2
    exit 1
fi
exit "$RESULT_RC"
