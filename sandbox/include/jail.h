/* jailrun's jail library: run one command in a jail made from kernel primitives.
 *
 * Three lifetimes, so that what can be prepared once is not redone per run:
 *   jr_sandbox  per process: cgroup manager (v1 or v2), seccomp BPF, and a cache of
 *               template mount namespaces (a tree's read-only root, built on first use).
 *   jr_slot     per concurrent jail slot: its own uid/gid, a reusable network
 *               namespace with only loopback up, the stacks of its jail's processes.
 *   jr_jail_run per run: cgroup, clone into new namespaces, a copy of the template
 *               with the run's own /proc, /tmp, /work, /dev/shm and binds, exec,
 *               supervise, measure, kill, clean up.
 * A slot runs one jail at a time; a sandbox and its slots are used from one thread.
 *
 * The library knows nothing of Kafka or JSON. All functions return < 0 on failure
 * and fill the jr_error; out-parameters are untouched on failure. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"

typedef enum jr_jail_status {
        JR_JAIL_OK = 0, /* exited (any exit code: the caller decides what non-zero means) */
        JR_JAIL_TL,     /* CPU time or wall time over the limit */
        JR_JAIL_ML,     /* the cgroup OOM killer killed a process of the jail */
        JR_JAIL_RE,     /* killed by a signal or exited non-zero */
        JR_JAIL_OL,     /* stdout + stderr over the output limit */
        JR_JAIL_IE,     /* the sandbox failed: never the program's fault */
} jr_jail_status;

const char *jr_jail_status_name(jr_jail_status s);

typedef enum jr_cg_mode {
        JR_CG_AUTO = 0, /* detect: pure cgroup2 at /sys/fs/cgroup => v2, else v1 hierarchies */
        JR_CG_V1,
        JR_CG_V2,
} jr_cg_mode;

/* Pretend the kernel lacks a feature, to exercise the fallbacks on new kernels. */
enum {
        JR_FB_NO_MEMORY_PEAK = 1u << 0,      /* v2: poll memory.current instead of memory.peak */
        JR_FB_NO_CGROUP_KILL = 1u << 1,      /* v2: freeze + kill each pid instead of cgroup.kill */
        JR_FB_NO_CLONE_INTO_CGROUP = 1u << 2 /* v2: join from the synchronised child */
};

typedef struct jr_sandbox_opts {
        jr_cg_mode cg_mode;
        unsigned fallbacks; /* JR_FB_* forced on top of what the kernel lacks */
} jr_sandbox_opts;

typedef struct jr_sandbox jr_sandbox;
typedef struct jr_slot jr_slot;

int jr_sandbox_new(const jr_sandbox_opts *opts, jr_sandbox **out, jr_error *e);
void jr_sandbox_free(jr_sandbox *sb);
static inline void jr_sandbox_freep(jr_sandbox **sb)
{
        jr_sandbox_free(*sb);
}
#define _cleanup_sandbox_ __attribute__((cleanup(jr_sandbox_freep)))
/* One line for logs: "cgroup v1 (memory,pids,cpuacct); fallbacks: none". */
const char *jr_sandbox_describe(const jr_sandbox *sb);
jr_cg_mode jr_sandbox_cg_mode(const jr_sandbox *sb);

/* Slot `index` runs its programs as uid/gid `uid` (never 0) and owns a network
 * namespace that is created once and reused by every run of the slot. */
int jr_slot_new(jr_sandbox *sb, unsigned index, uid_t uid, gid_t gid, jr_slot **out, jr_error *e);
void jr_slot_free(jr_slot *slot);
static inline void jr_slot_freep(jr_slot **slot)
{
        jr_slot_free(*slot);
}
#define _cleanup_slot_ __attribute__((cleanup(jr_slot_freep)))
uid_t jr_slot_uid(const jr_slot *slot);
gid_t jr_slot_gid(const jr_slot *slot);
unsigned jr_slot_index(const jr_slot *slot);
/* The sandbox the slot was made from (to make another slot beside it). */
jr_sandbox *jr_slot_sandbox(const jr_slot *slot);

typedef struct jr_bind {
        const char *src; /* host path, trusted (operator-given) */
        const char *dst; /* absolute path inside the jail */
        bool rw;
} jr_bind;

typedef struct jr_run_config {
        const char *rootfs;   /* directory of a prebuilt tree, or NULL for the host's /usr etc. */
        char *const *argv;    /* argv[0] is resolved with the jail's PATH when it has no '/' */
        char *const *envp;    /* the whole environment of the program (may be NULL: empty) */
        const char *workdir;  /* cwd inside the jail; default "/work" */
        const jr_bind *binds; /* extra bind mounts, in order */
        size_t nbinds;
        uint64_t cpu_ms;  /* CPU time of the whole cgroup; 0 = none */
        uint64_t wall_ms; /* wall clock from exec; 0 = none */
        /* CPU bandwidth of the whole cgroup, in billionths of a CPU (1000000000 = one
         * CPU: the jail's threads together get nano_cpus / 1e9 of a 100 ms period, then
         * wait for the next one); 0 = none, else JR_NANO_CPUS_MIN..JR_NANO_CPUS_MAX.
         * v2 cpu.max; v1 cpu.cfs_quota_us in the "cpu" hierarchy (a run that asks for
         * it fails with IE when that hierarchy is not mounted). It stretches the wall
         * time a CPU-bound program needs, not its CPU time. */
        uint64_t nano_cpus;
        uint64_t mem_bytes;    /* memory.max, swap off; 0 = none */
        uint64_t pids;         /* pids.max; 0 = none */
        uint64_t output_limit; /* stdout + stderr bytes; 0 = none */
        uint64_t fsize;        /* RLIMIT_FSIZE; 0 = none */
        uint64_t nofile;       /* RLIMIT_NOFILE; 0 = 64 */
        uint64_t stack;        /* RLIMIT_STACK; 0 = 8 MiB */
        uint64_t tmp_size;     /* size of the /tmp and /work tmpfs; 0 = 64 MiB */
        int stdin_fd;          /* -1: /dev/null */
        int stdout_fd;         /* where the program's stdout is copied; -1: counted, dropped */
        int stderr_fd;         /* same for stderr */
        /* For programs that talk to each other (jr_jail_run_many): stdout_fd is the
         * program's stdout itself, say one end of a pipe to another jail, instead of
         * where a copy goes. Not counted (stdout_bytes stays 0) and out of the output
         * limit, which then bounds stderr alone; the reader bounds what it reads. */
        bool stdout_direct;
        /* The run owns stdin_fd (and stdout_fd when direct): this process closes them
         * as soon as the jail holds its copies (or when the run fails), so that the
         * other end of a pipe sees EOF or EPIPE once the program is gone. */
        bool close_stdio;
} jr_run_config;

/* The CPU bandwidth a run may ask for: the kernel's smallest quota is 1 ms of a 100 ms
 * period (0.01 CPU); the largest is a bound of ours (1024 CPUs). */
#define JR_NANO_CPUS_MIN 10000000ull
#define JR_NANO_CPUS_MAX (1024ull * 1000000000ull)

/* Defaults for every field (all limits off, fds -1). */
void jr_run_config_init(jr_run_config *cfg);

typedef struct jr_run_result {
        jr_jail_status status;
        int exit_code;    /* -1 when killed by a signal or never started */
        int signal;       /* 0, or the signal that killed the program */
        uint64_t cpu_ms;  /* whole cgroup, user + system, all threads */
        uint64_t wall_ms; /* CLOCK_MONOTONIC from exec to the end */
        uint64_t wall_us; /* the same in microseconds */
        uint64_t memory_peak_bytes;
        bool oom_killed;       /* the cgroup's oom_kill counter moved */
        uint64_t stdout_bytes; /* bytes the program wrote (counted up to the limit + 1) */
        uint64_t stderr_bytes;
        char reason[64]; /* what decided the status: "cpu time", "wall time", "signal 9" */
        struct {         /* where jailrun's own time went, in microseconds */
                uint64_t prepare_us;  /* mount plan (and template), pipes, run cgroup */
                uint64_t setup_us;    /* clone to the program's execve: namespaces, mounts */
                uint64_t teardown_us; /* program end to the cgroup removed */
        } timing;
        jr_error error; /* status IE: what failed, with the step and errno */
} jr_run_result;

/* Run one command. Returns 0 when a result was produced (whatever the status),
 * < 0 when the sandbox itself failed: then *e says why and res->status is IE. */
int jr_jail_run(jr_slot *slot, const jr_run_config *cfg, jr_run_result *res, jr_error *e);

/* Run n commands at once, jail i on slots[i] (n different slots of one sandbox) with
 * cfgs[i], supervised together by one event loop: an interactive problem's program
 * and its interactor, connected by pipes given as stdin_fd and direct stdout_fd with
 * close_stdio. The jails are started in order (each past its execve before the next
 * is cloned), then run independently: each has its own limits, its own result in
 * res[i], and one ending kills nothing else. Returns 0 when every jail produced a
 * result; < 0 when the sandbox failed for any of them ("jail 1: ..."): then every
 * jail is killed and every res[i] is IE with that error. */
int jr_jail_run_many(jr_slot *const *slots, const jr_run_config *const *cfgs, jr_run_result *res,
                     size_t n, jr_error *e);
