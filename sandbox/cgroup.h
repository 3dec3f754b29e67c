/* cgroup manager: one interface, a v2 and a v1 backend (like crun's manager table).
 *
 * jr_cg is per process. Jail cgroups are created only below the cgroup(s) the process
 * already lives in and nothing else in the hierarchy is touched:
 *   v2: <own>/supervisor holds this process (the no-internal-process rule), controllers
 *       +memory +pids +cpu are enabled in <own>/cgroup.subtree_control, and each run gets
 *       <own>/jr-<pid>-<name>. When <own> is the root cgroup nothing moves.
 *   v1: in each of the memory, pids, cpuacct hierarchies, <own path>/jr-<pid>-<name>.
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
} jr_cg_limits;

typedef struct jr_cg_stats {
        uint64_t cpu_ns;     /* usage since the run cgroup was created */
        uint64_t mem_peak;   /* bytes: memory.peak / max_usage_in_bytes / polled max */
        uint64_t oom_kills;  /* oom_kill counter of the run cgroup */
} jr_cg_stats;

/* Detect (or force) the mode, find our own cgroup(s), prepare the base. */
int jr_cg_open(jr_cg_mode mode, unsigned forced_fallbacks, jr_cg **out, jr_error *e);
/* Removes the cgroups this process created; leaves its own cgroup as it found it
 * except that on v2 the process stays in <own>/supervisor. */
void jr_cg_close(jr_cg *cg);
jr_cg_mode jr_cg_get_mode(const jr_cg *cg);
unsigned jr_cg_get_fallbacks(const jr_cg *cg); /* JR_FB_* in effect (forced or missing) */
/* "cgroup v2 at /sys/fs/cgroup/x (memory pids cpu); fallbacks: none" */
const char *jr_cg_describe(const jr_cg *cg);

/* Create the run cgroup `name` (unique per process) with its limits. */
int jr_cg_run_create(jr_cg *cg, const char *name, const jr_cg_limits *lim, jr_cg_run **out,
                     jr_error *e);
/* v2 with clone3(CLONE_INTO_CGROUP): an O_DIRECTORY fd of the run cgroup; else -1. */
int jr_cg_run_clone_fd(const jr_cg_run *run);
/* Move pid into the run cgroup (all hierarchies on v1). Used when clone_fd is -1. */
int jr_cg_run_attach(jr_cg_run *run, pid_t pid, jr_error *e);
/* Cheap sample on each supervision tick: CPU so far; in the no-memory.peak fallback it
 * also folds memory.current into the tracked peak. */
int jr_cg_run_poll(jr_cg_run *run, uint64_t *cpu_ns, jr_error *e);
/* Final figures. */
int jr_cg_run_stats(jr_cg_run *run, jr_cg_stats *st, jr_error *e);
/* Kill every process in the run cgroup (cgroup.kill, else freeze + SIGKILL each + thaw). */
int jr_cg_run_kill(jr_cg_run *run, jr_error *e);
/* Wait (bounded) until the cgroup is empty, rmdir it everywhere, free. NULL is fine. */
int jr_cg_run_destroy(jr_cg_run *run, jr_error *e);
