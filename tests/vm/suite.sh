#!/bin/bash
# tests/vm/suite.sh BUILD_DIR: the checks tests/vm/run.sh runs inside the pure cgroup v2
# guest. It starts as the only process of a delegated cgroup (system.slice/
# jailrun.service) and manages that subtree the way systemd expects a delegate to:
#
#   jailrun.service/            +memory +pids +cpu enabled here, no processes
#     suite/                    this script
#     self-*/                   raw cgroup v2 checks with build/vm/probe (no jailrun)
#     exec-N/                   one `jailrun exec`, alone, as under Delegate=yes: it
#                               moves itself to exec-N/supervisor and runs jails in
#                               exec-N/jr-<pid>-*
#     tests-NAME/supervisor/    one criterion binary and every jailrun exec its tests
#                               start: the layout jailrun keeps after its first start,
#                               with the controllers enabled in tests-NAME
#
# After every step its cgroup must be empty (nothing outlives a run) and hold no cgroup
# but an empty supervisor/ (jailrun removes what it creates).
#
# Environment:
#   JR_VM_TESTS      criterion binaries to run, "NAME" or "NAME:FILTER" items (default:
#                    every integration test and the unit tests named *cgroup*, *jail*,
#                    *sandbox*, less JR_VM_SKIP, with the filters of CRIT_FILTER)
#   JR_VM_SKIP       globs of binaries to leave out (default: *judge* *doctor* *kafka*
#                    *serve* *rootfs*, see CRIT_SKIP)
#   JR_VM_EXEC_PLAN  the jailrun exec matrix, lines "FALLBACKS: CHECKS" (see EXEC_PLAN)
set -u -o pipefail

BUILD=$(cd "${1:?usage: suite.sh BUILD_DIR}" && pwd)
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PROBE=$BUILD/vm/probe
JAILRUN=$BUILD/jailrun
HOSTILE=$BUILD/hostile
MiB=$((1024 * 1024))
TMP=$(mktemp -d /tmp/jr-vm-suite.XXXXXX)

# ---------------------------------------------------------------------------- reporting
T0=$EPOCHREALTIME
NPASS=0 NFAIL=0 NSKIP=0
FAILURES=()
# seconds since an $EPOCHREALTIME, without a process (each one costs tens of ms under TCG)
secs() {
    local d=$((${EPOCHREALTIME/./} - ${1/./}))
    printf '%d.%d' $((d / 1000000)) $((d % 1000000 / 100000))
}
section() { printf '\n== %s  [%ss]\n' "$*" "$(secs "$T0")"; }
pass() {
    NPASS=$((NPASS + 1))
    echo "  PASS  $*"
}
fail() {
    NFAIL=$((NFAIL + 1))
    FAILURES+=("$*")
    echo "  FAIL  $*"
}
skip() {
    NSKIP=$((NSKIP + 1))
    echo "  SKIP  $*"
}
# expect DESCRIPTION COMMAND...: pass when COMMAND succeeds
expect() {
    local what=$1
    shift
    if "$@"; then pass "$what"; else fail "$what"; fi
}
not() { ! "$@"; }
# field FILE KEY: VALUE of the "KEY VALUE" line (memory.events, cpu.stat, ...), or "?"
field() {
    local k v
    while read -r k v; do
        [ "$k" = "$2" ] && echo "$v" && return
    done <"$1"
    echo "?"
}
# between LO X HI: integers, X may be "?" (a missing field), which is never between
between() { [[ $2 =~ ^[0-9]+$ ]] && [ "$2" -ge "$1" ] && [ "$2" -le "$3" ]; }
# has_all LIST WORD...: every WORD is one of the space-separated words of LIST
has_all() {
    local list=" $1 " w
    shift
    for w; do [[ $list == *" $w "* ]] || return 1; done
}
# one_of X WORD...
one_of() {
    local x=$1 w
    shift
    for w; do [ "$x" = "$w" ] && return 0; done
    return 1
}

# ---------------------------------------------------------------------------- cgroups
CG=/sys/fs/cgroup
SVC=$CG$(sed -n 's/^0:://p' /proc/self/cgroup)

# cg_fresh PATH [FILE=VALUE...]: an empty cgroup with these limits
cg_fresh() {
    local cg=$1 kv
    shift
    cg_remove "$cg"
    mkdir "$cg" || return 1
    for kv in "$@"; do
        echo "${kv#*=}" >"$cg/${kv%%=*}" || { echo "    cannot write ${kv#*=} to ${kv%%=*}"; return 1; }
    done
}
cg_populated() { grep -q '^populated 1' "$1/cgroup.events"; }
# cg_wait_empty PATH SECONDS
cg_wait_empty() {
    local i
    for ((i = 0; i < $2 * 20; i++)); do
        cg_populated "$1" || return 0
        sleep 0.05
    done
    return 1
}
# cg_walk PATH: append PATH's descendant cgroups to DIRS, children before parents (bash
# builtins only: every process costs tens of ms under TCG)
cg_walk() {
    local d
    for d in "$1"/*/; do
        [ -d "$d" ] || continue
        cg_walk "${d%/}"
        DIRS+=("${d%/}")
    done
}
cg_remove() {
    [ -d "$1" ] || return 0
    echo 1 >"$1/cgroup.kill" 2>/dev/null
    cg_wait_empty "$1" 5
    DIRS=()
    cg_walk "$1"
    rmdir "${DIRS[@]}" "$1" 2>/dev/null
    [ ! -d "$1" ]
}
# cg_run PATH COMMAND...: run COMMAND as a member of PATH (joins before exec)
cg_run() {
    local cg=$1
    shift
    (echo "$BASHPID" >"$cg/cgroup.procs" && exec "$@")
}
# contained NAME PATH: after a step, nothing of it is left: no process, no cgroup but
# an empty supervisor/ (jailrun's own leaf)
contained() {
    local what=$1 cg=$2 d p procs='' extra='' args
    DIRS=()
    cg_walk "$cg"
    for d in "$cg" "${DIRS[@]}"; do
        while read -r p; do
            mapfile -d '' -t args <"/proc/$p/cmdline" 2>/dev/null
            procs+="$p ${args[*]:0:4}; "
        done <"$d/cgroup.procs"
        [ "$d" = "$cg" ] || [ "$d" = "$cg/supervisor" ] || extra+="${d#"$cg"/} "
    done
    if [ -z "$procs" ] && [ -z "$extra" ]; then
        pass "$what: nothing left behind"
    else
        fail "$what: left behind: ${procs:+processes [$procs]} ${extra:+cgroups [$extra]}"
    fi
    cg_remove "$cg"
}

# ---------------------------------------------------------------------------- 1. guest
section "environment"
echo "  kernel:   $(uname -r) ($(uname -v))"
echo "  cmdline:  $(cat /proc/cmdline)"
echo "  cgroup:   $(grep ' /sys/fs/cgroup ' /proc/mounts)"
echo "  ours:     ${SVC#"$CG"}  controllers: $(cat "$SVC/cgroup.controllers")"
echo "  build:    $BUILD"

expect "cgroup2 mounted like systemd does (nsdelegate, memory_recursiveprot)" \
    grep -Eq '^cgroup2 /sys/fs/cgroup cgroup2 .*nsdelegate.*memory_recursiveprot' /proc/mounts
expect "no cgroup v1 hierarchy is mounted" not grep -q " cgroup " /proc/mounts
mkdir -p "$TMP/v1"
expect "a v1 memory hierarchy cannot be mounted (cgroup_no_v1=all)" \
    not unshare -m mount -t cgroup -o memory none "$TMP/v1" 2>/dev/null
expect "we start in a non-root cgroup: ${SVC#"$CG"}" test "$SVC" != "$CG"
ctrls=$(cat "$SVC/cgroup.controllers")
expect "memory pids cpu are delegated to us (cgroup.controllers: $ctrls)" \
    has_all "$ctrls" memory pids cpu
expect "our subtree_control starts empty, as under Delegate=yes" test -z "$(cat "$SVC/cgroup.subtree_control")"

# Take over the subtree: move everything of ours into a leaf, then hand the controllers
# down (the no-internal-process rule forbids both in one cgroup).
mkdir -p "$SVC/suite"
while read -r p; do echo "$p" >"$SVC/suite/cgroup.procs" 2>/dev/null; done <"$SVC/cgroup.procs"
if echo "+memory +pids +cpu" >"$SVC/cgroup.subtree_control"; then
    pass "controllers enabled for our children after moving to ${SVC#"$CG"}/suite"
else
    fail "cannot enable controllers in ${SVC#"$CG"} (processes: $(tr '\n' ' ' <"$SVC/cgroup.procs"))"
    echo "suite: cannot continue"
    exit 1
fi

# ---------------------------------------------------------------------------- 2. raw v2
section "cgroup v2 self-check with build/vm/probe (no jailrun)"
if [ ! -x "$PROBE" ]; then
    fail "build/vm/probe is missing: build the vm_probe target"
else
    c=$SVC/self-mem
    if cg_fresh "$c" memory.max=32M memory.swap.max=0; then
        cg_run "$c" "$PROBE" hog 100 >/dev/null 2>&1
        rc=$?
        kills=$(field "$c/memory.events" oom_kill)
        peak=$(cat "$c/memory.peak" 2>/dev/null || echo 0)
        expect "memory.max 32M: a 100 MiB hog is SIGKILLed (status $rc), oom_kill $kills" \
            test "$rc" -eq 137 -a "${kills:-0}" -ge 1
        expect "memory.peak $peak is about 32M" between $((28 * MiB)) "$peak" $((32 * MiB))
        contained "self-mem" "$c"
    else
        fail "cannot create $c"
    fi

    c=$SVC/self-pids
    if cg_fresh "$c" pids.max=16; then
        out=$(cg_run "$c" "$PROBE" forks 64)
        ok=$(sed -n 's/.*ok=\([0-9]*\).*/\1/p' <<<"$out")
        err=$(sed -n 's/.*errno=\([0-9]*\).*/\1/p' <<<"$out")
        events=$(field "$c/pids.events" max)
        expect "pids.max 16: 64 forks give ${ok:-?} children, the rest EAGAIN (errno ${err:-?}), pids.events max ${events:-?}" \
            test "${ok:-99}" -le 15 -a "${err:-0}" -eq 11 -a "${events:-0}" -ge 1
        contained "self-pids" "$c"
    fi

    c=$SVC/self-bomb
    if cg_fresh "$c" pids.max=16; then
        cg_run "$c" "$PROBE" bomb >/dev/null 2>&1 &
        sleep 1
        cur=$(cat "$c/pids.current")
        expect "fork bomb held at pids.current $cur <= 16" between 2 "$cur" 16
        echo 1 >"$c/cgroup.kill"
        expect "cgroup.kill ends the fork bomb" cg_wait_empty "$c" 10
        wait
        contained "self-bomb" "$c"
    fi

    c=$SVC/self-escape
    if cg_fresh "$c"; then
        cg_run "$c" "$PROBE" escape >/dev/null
        expect "a setsid double-forked sleeper outlives its parent in the cgroup" cg_populated "$c"
        echo 1 >"$c/cgroup.kill"
        expect "cgroup.kill takes the sleeper too" cg_wait_empty "$c" 5
        expect "no 'probe escape' process anywhere" not pgrep -f "$PROBE escape"
        contained "self-escape" "$c"
    fi

    c=$SVC/self-cpu
    if cg_fresh "$c" "cpu.max=10000 100000"; then
        cg_run "$c" "$PROBE" burn 200 >/dev/null
        usage=$(field "$c/cpu.stat" usage_usec)
        thr=$(field "$c/cpu.stat" nr_throttled)
        expect "cpu.max 10%: 200 ms of CPU counted (usage_usec $usage), throttled $thr times" \
            test "${usage:-0}" -ge 200000 -a "${thr:-0}" -ge 1
        contained "self-cpu" "$c"
    fi
fi

# ---------------------------------------------------------------------------- 3. jailrun exec
# jexec NAME FALLBACKS JAILRUN-OPTIONS... -- COMMAND...: one `jailrun exec`, alone in the
# fresh delegated cgroup JCG. Fills R[field] from the JSON report; sets JOUT, JERR, JSECS.
NEXEC=0
declare -A R
jexec() {
    local name=$1 fb=$2 t k v
    shift 2
    NEXEC=$((NEXEC + 1))
    JCG=$SVC/exec-$NEXEC-$name
    R=()
    cg_fresh "$JCG" || return 1
    rm -f "$TMP/report.json"
    t=$EPOCHREALTIME
    # the hostile programs are static: bound at /hostile in every jail
    JAILRUN_CG_FALLBACKS=$fb cg_run "$JCG" "$JAILRUN" exec --verbose --report "$TMP/report.json" \
        --bind "$HOSTILE:/hostile" "$@" >"$TMP/out" 2>"$TMP/err" </dev/null
    JSECS=$(secs "$t")
    JOUT=$(head -c 300 "$TMP/out")
    JERR=$(grep -v '^# jailrun' "$TMP/err" | head -n 3 | cut -c1-300)
    # one jq per run: every process costs tens of ms under TCG
    while IFS=$'\t' read -r k v; do
        R[$k]=$v
    done < <(jq -r 'to_entries[] | [.key, (.value | tostring)] | @tsv' "$TMP/report.json" 2>/dev/null)
    if [ "$name" != version ] && [ -z "${R[status]:-}" ]; then
        fail "$name: no JSON report from jailrun exec $* ($JERR)"
    elif [ "${R[status]:-}" = IE ]; then
        echo "    jailrun exec $*: IE: ${R[error]:-}"
    fi
}
r() { echo "${R[$1]:-?}"; }

# What --verbose/--version must say for each fallback.
fb_words() {
    case $1 in
    memory-peak) echo "memory.peak polled" ;;
    cgroup-kill) echo "kill" ;; # "freeze+kill" or "kill each pid"
    clone-into-cgroup) echo "attach" ;;
    esac
}

# The checks, each one jailrun exec run in its own delegated cgroup; FB and TAG are set.
chk_version() {
    local one w=ok
    jexec version "$FB" --version
    for one in ${FB//,/ }; do grep -q "$(fb_words "$one")" "$TMP/out" || w=missing; done
    [ -n "$FB" ] || grep -q 'fallbacks: none' "$TMP/out" || w=missing
    expect "[$TAG] --version: $JOUT" grep -q "^jailrun .*cgroup v2 at $JCG " "$TMP/out"
    expect "[$TAG] --version names the fallbacks in effect" test $w = ok
    contained "[$TAG] version" "$JCG"
}
chk_true() {
    jexec true "$FB" --rootfs host -- /bin/true
    expect "[$TAG] /bin/true: status $(r status), exit $(r exit_code)" \
        test "$(r status)" = OK -a "$(r exit_code)" = 0
    contained "[$TAG] true" "$JCG"
}
chk_memhog() {
    local lo=$((28 * MiB))
    # polled (no memory.peak): only what a supervision tick caught
    [[ ,$FB, == *,memory-peak,* ]] && lo=$((8 * MiB))
    jexec memhog "$FB" --rootfs host --mem 32M --wall-ms 60000 -- /hostile/memhog 100
    expect "[$TAG] memhog 100 MiB under --mem 32M: status $(r status), oom_killed $(r oom_killed)" \
        test "$(r status)" = ML -a "$(r oom_killed)" = true
    expect "[$TAG] memhog: memory_peak_bytes $(r memory_peak_bytes) is near 32M" \
        between "$lo" "$(r memory_peak_bytes)" $((33 * MiB))
    contained "[$TAG] memhog" "$JCG"
}
chk_forkbomb() {
    jexec forkbomb "$FB" --rootfs host --pids 16 --time-ms 1000 --wall-ms 8000 -- /hostile/forkbomb
    expect "[$TAG] fork bomb under --pids 16: status $(r status) ($(r reason))" \
        one_of "$(r status)" TL RE OK
    expect "[$TAG] fork bomb: the run ends within its limits (wall_ms $(r wall_ms), $JSECS s in all)" \
        between 0 "$(r wall_ms)" 9000
    contained "[$TAG] forkbomb" "$JCG"
}
chk_escapee() {
    local token=vm-escapee-$NEXEC-$$
    jexec escapee "$FB" --rootfs host --wall-ms 20000 -- /hostile/setsid_escapee - 3600 "$token"
    expect "[$TAG] setsid escapee: status $(r status), exit $(r exit_code)" test "$(r status)" = OK
    expect "[$TAG] setsid escapee: no process carries its token (pgrep)" not pgrep -f "$token"
    contained "[$TAG] escapee" "$JCG"
}
chk_cpuburn() {
    jexec cpuburn "$FB" --rootfs host --time-ms 500 --wall-ms 30000 -- /hostile/cpuburn 4
    expect "[$TAG] cpuburn x4 over --time-ms 500: status $(r status) ($(r reason)), cpu_ms $(r cpu_ms)" \
        test "$(r status)" = TL
    expect "[$TAG] cpuburn: cpu_ms $(r cpu_ms) >= 500" between 500 "$(r cpu_ms)" 100000
    contained "[$TAG] cpuburn" "$JCG"
}
chk_sleeper() {
    jexec sleeper "$FB" --rootfs host --wall-ms 500 -- /hostile/sleeper
    expect "[$TAG] sleeper over --wall-ms 500: status $(r status) ($(r reason))" test "$(r status)" = TL
    contained "[$TAG] sleeper" "$JCG"
}

# FALLBACKS: CHECKS. Every check with no fallback and with all of them; each fallback
# alone with the checks that take its code path (a kill, the peak, late attach).
ALL_CHECKS="version true memhog forkbomb escapee cpuburn sleeper"
EXEC_PLAN=${JR_VM_EXEC_PLAN:-"none: $ALL_CHECKS
memory-peak: version memhog
cgroup-kill: version forkbomb escapee cpuburn
clone-into-cgroup: version true memhog forkbomb
memory-peak,cgroup-kill,clone-into-cgroup: $ALL_CHECKS"}

section "jailrun exec in the delegated cgroup"
if [ ! -x "$JAILRUN" ]; then
    fail "$JAILRUN is missing: build the project first"
elif "$JAILRUN" exec --help 2>&1 | grep -q 'not yet'; then
    skip "jailrun exec is not implemented yet"
else
    missing=
    for h in memhog forkbomb setsid_escapee cpuburn sleeper; do
        [ -x "$HOSTILE/$h" ] || missing+=" $h"
    done
    if [ -n "$missing" ]; then
        fail "hostile programs not built:$missing"
    else
        while IFS=: read -r TAG checks; do
            [ -n "$TAG" ] || continue
            FB=$TAG
            [ "$FB" != none ] || FB=
            echo "  -- fallbacks: $TAG  [$(secs "$T0")s]"
            for c in $checks; do "chk_$c"; done
        done <<<"$EXEC_PLAN"
    fi
fi

# ---------------------------------------------------------------------------- 4. criterion
# Which criterion binaries run here, and which of their tests (CRIT_FILTER: a criterion
# --filter per binary). Everything runs 10-50x slower under TCG, so some are left out:
#   test_judge       only the Python outcome matrix: compilers take minutes under TCG.
#                    The matrix's limits (1 s of CPU) are tuned for real CPUs, so the
#                    judge runs with JAILRUN_TIME_SCALE (default 20 here) and gives the
#                    verdicts of the host.
#   *doctor*         asserts this build host's facts (cgroup v1) and takes a minute here
#   *serve* *kafka* *scale* *http*
#                    the Kafka supervisor and its HTTP front door: the same jails,
#                    minutes of broker traffic here
#   *checker_programs*  builds checkers and interactors with gcc and g++ for every test:
#                    minutes under TCG; their jails are the same jails as test_exec's
#   *rootfs*         builds trees with mmdebstrap: needs the network, which the guest lacks
#   *packaging*      builds the Debian package: nothing of cgroup v2 in it, minutes here
# JR_VM_TESTS (items NAME or NAME:FILTER) replaces the selection, JR_VM_SKIP the skips.
declare -A CRIT_FILTER=([test_judge]='matrix/python')
export JAILRUN_TIME_SCALE=${JAILRUN_TIME_SCALE:-20}
CRIT_SKIP=${JR_VM_SKIP-"*doctor* *kafka* *serve* *scale* *http* *checker_programs* *rootfs* *packaging*"}
crit_plan() {
    local bin name g skipped list globs
    if [ -n "${JR_VM_TESTS:-}" ]; then
        read -r -a list <<<"$JR_VM_TESTS" # read -a: filters carry * and ?, no globbing
        printf '%s\n' "${list[@]}"
        return
    fi
    read -r -a globs <<<"$CRIT_SKIP"
    for bin in "$BUILD"/tests/test_* "$BUILD"/test_*; do
        if [ ! -f "$bin" ] || [ ! -x "$bin" ]; then continue; fi
        name=${bin##*/}
        skipped=
        for g in "${globs[@]}"; do
            # shellcheck disable=SC2053 # glob match on purpose
            [[ $name == $g ]] && skipped=1
        done
        [ -z "$skipped" ] || continue
        if [ -e "$SRC/tests/integration/$name.c" ] ||
            [[ $name == *cgroup* || $name == *jail* || $name == *sandbox* ]]; then
            echo "$name${CRIT_FILTER[$name]:+:${CRIT_FILTER[$name]}}"
        fi
    done
}

section "criterion test binaries"
found=0
mapfile -t items < <(crit_plan)
for item in "${items[@]}"; do
    name=${item%%:*}
    filter=
    [[ $item != *:* ]] || filter=${item#*:}
    bin=$BUILD/tests/$name
    [ -x "$bin" ] || bin=$BUILD/$name
    if [ ! -x "$bin" ]; then
        fail "$name: no such test binary in $BUILD/tests"
        continue
    fi
    found=$((found + 1))
    c=$SVC/tests-$name
    # The layout jailrun keeps after its first start (<own>/supervisor with controllers
    # enabled in <own>): every jailrun a test starts finds it ready, instead of each
    # one trying to move the whole test binary out of its way.
    if ! cg_fresh "$c" "cgroup.subtree_control=+memory +pids +cpu" || ! mkdir "$c/supervisor"; then
        fail "$name: cannot prepare $c"
        continue
    fi
    t=$EPOCHREALTIME
    echo "  -- $name${filter:+ --filter $filter}  [$(secs "$T0")s]"
    cg_run "$c/supervisor" "$bin" --jobs 1 --timeout 300 --short-filename ${filter:+--filter "$filter"} 2>&1 |
        sed 's/^/     /'
    rc=${PIPESTATUS[0]}
    expect "$name${filter:+ ($filter)}: exit status $rc ($(secs "$t") s)" test "$rc" -eq 0
    contained "$name" "$c"
done
[ "$found" -gt 0 ] || skip "no criterion binaries to run in $BUILD"

# ---------------------------------------------------------------------------- summary
section "summary"
rm -rf "$TMP"
echo "  $NPASS passed, $NFAIL failed, $NSKIP skipped in $(secs "$T0") s on $(uname -r)"
for f in "${FAILURES[@]}"; do echo "  FAILED: $f"; done
[ "$NFAIL" -eq 0 ]
