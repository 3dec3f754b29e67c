/* cgroup manager: one interface, a v2 and a v1 backend (like crun's manager table).
 *
 * jr_cg is per process. Jail cgroups are created only below the cgroup(s) the process
 * already lives in and nothing else in the hierarchy is touched:
 *   v2: <own>/supervisor holds this process (the no-internal-process rule), controllers
 *       +memory +pids +cpu are enabled in <own>/cgroup.subtree_control, and each run gets
 *       <own>/jr-<pid>-<name>. When <own> is the root cgroup nothing moves.
 *   v1: in each of the memory, pids, cpuacct hierarchies, <own path>/jr-<pid>-<name>;
 *       in the cpu hierarchy too when it is mounted apart from those and the run has a
 *       CPU bandwidth limit (a run without one does not need it).
 * Internal to the sandbox library. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"
#include "jail.h"

typedef struct jr_cg jr_cg;
typedef struct jr_cg_run jr_cg_run;

typedef struct jr_cg_limits {
        uint64_t mem_bytes; /* 0 = no limit; swap is always off when set */
        uint64_t pids;      /* 0 = no limit */
        uint64_t nano_cpus; /* CPU bandwidth, 1e9 = one CPU (jail.h); 0 = no limit */
} jr_cg_limits;

typedef struct jr_cg_stats {
        uint64_t cpu_ns;    /* usage since the run cgroup was created */
        uint64_t mem_peak;  /* bytes: memory.peak / max_usage_in_bytes / polled max */
        uint64_t oom_kills; /* oom_kill counter of the run cgroup */
} jr_cg_stats;

/* Detect (or force) the mode, find our own cgroup(s), prepare the base, and remove empty
 * jr-<pid>-* cgroups of dead processes found there. On v2 this may move the whole process
 * into <own>/supervisor; call it before other threads exist. A jr_cg and its runs are
 * used from one thread. Fails with a message naming what is missing (a controller not
 * delegated, other processes sharing <own>, no such hierarchy). */
int jr_cg_open(jr_cg_mode mode, unsigned forced_fallbacks, jr_cg **out, jr_error *e);
/* Removes the cgroups this process created: runs not destroyed yet (or whose destroy
 * failed) are killed and removed, and their jr_cg_run pointers become invalid. Leaves its
 * own cgroup as it found it except that on v2 the process stays in <own>/supervisor
 * (and the controllers stay enabled), which is what the next open expects. */
void jr_cg_close(jr_cg *cg);
jr_cg_mode jr_cg_get_mode(const jr_cg *cg);
unsigned jr_cg_get_fallbacks(const jr_cg *cg); /* JR_FB_* in effect (forced or missing) */
/* "cgroup v2 at /sys/fs/cgroup/x (memory pids cpu); fallbacks: none" */
const char *jr_cg_describe(const jr_cg *cg);

/* Create the run cgroup jr-<getpid()>-<name> with its limits (lim may be NULL: none).
 * name: 1-64 of [A-Za-z0-9_.-], not starting with '.', unique among live runs of the
 * process (EEXIST otherwise). Limits are written before any process is in. */
int jr_cg_run_create(jr_cg *cg, const char *name, const jr_cg_limits *lim, jr_cg_run **out,
                     jr_error *e);
/* v2 with clone3(CLONE_INTO_CGROUP): an O_DIRECTORY|O_CLOEXEC fd of the run cgroup, owned
 * by the run (do not close it); else -1. */
int jr_cg_run_clone_fd(const jr_cg_run *run);
/* When clone_fd is -1: the cgroup.procs files (one per hierarchy on v1, at most max) a
 * process writes "0" to, to move itself into the run cgroup. Opened for writing once,
 * owned by the run (do not close them). Returns how many (0 when clone_fd is usable), or
 * -1. */
int jr_cg_run_procs_fds(jr_cg_run *run, int *fds, size_t max, jr_error *e);
/* Move pid (its whole thread group) into the run cgroup (all hierarchies on v1). Used
 * when clone_fd is -1. pid 0 moves the calling process (writes "0" to cgroup.procs). */
int jr_cg_run_attach(jr_cg_run *run, pid_t pid, jr_error *e);
/* Cheap sample on each supervision tick: CPU so far; in the no-memory.peak fallback it
 * also folds memory.current into the tracked peak. */
int jr_cg_run_poll(jr_cg_run *run, uint64_t *cpu_ns, jr_error *e);
/* Final figures. */
int jr_cg_run_stats(jr_cg_run *run, jr_cg_stats *st, jr_error *e);
/* Kill every process in the run cgroup (cgroup.kill, else freeze + SIGKILL each + thaw;
 * v1: SIGKILL each until no new pid shows up). Does not wait for them to be gone:
 * destroy does. Cheap on an empty cgroup (one write on v2, one read otherwise). */
int jr_cg_run_kill(jr_cg_run *run, jr_error *e);
/* Wait (bounded: 2 s in all, sleeping, never spinning) until the cgroup is empty, rmdir it
 * everywhere, free. NULL is fine. On failure the error names the directory and the pids
 * still inside; the run is handed back to jr_cg_close() and must not be used again. */
int jr_cg_run_destroy(jr_cg_run *run, jr_error *e);
