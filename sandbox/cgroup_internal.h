/* Internals of the cgroup manager, shared by cgroup.c (common code, detection, dispatch),
 * cgroup_v1.c and cgroup_v2.c, and by tests/unit/test_cgroup.c. Not for other modules.
 *
 * Every cgroup file is reached with openat() relative to a directory fd of its cgroup
 * (jr_cg_dir), never by re-resolving a full path: the path string is kept only so that
 * error messages can name the file ("write \"/sys/fs/cgroup/.../pids.max\": ..."). */
#pragma once

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cgroup.h"

/* Controllers (v2) and hierarchies (v1) the manager uses, as bits. */
enum {
        JR_CG_MEMORY = 1u << 0,
        JR_CG_PIDS = 1u << 1,
        JR_CG_CPU = 1u << 2, /* v2 "cpu"; v1 the "cpuacct" hierarchy */
        JR_CG_ALL = JR_CG_MEMORY | JR_CG_PIDS | JR_CG_CPU,
        /* v1 only: the "cpu" hierarchy (cpu.cfs_quota_us), optional; on v2 the "cpu"
         * controller (JR_CG_CPU) serves the bandwidth limit as well */
        JR_CG_CPU_BW = 1u << 3,
};

/* The CPU bandwidth period: the kernel's default, 100 ms. A quota is nano_cpus of it. */
#define JR_CG_CPU_PERIOD_US 100000ull
/* The quota in microseconds per JR_CG_CPU_PERIOD_US for nano_cpus (1e9 = one CPU),
 * rounded down; JR_NANO_CPUS_MIN gives the kernel's smallest, 1000. */
static inline uint64_t jr_cg_cpu_quota_us(uint64_t nano_cpus)
{
        return nano_cpus / (1000000000ull / JR_CG_CPU_PERIOD_US);
}

/* Degradations that are not JR_FB_* flags but are worth a word in jr_cg_describe(). */
enum {
        JR_CGQ_NO_SWAP_LIMIT = 1u << 0, /* no memory.swap.max / memory.memsw.*: swap not limited */
        JR_CGQ_OOM_FROM_FAILCNT = 1u
                                  << 1, /* v1 kernel < 4.13: no "oom_kill" in memory.oom_control */
        JR_CGQ_NO_OOM_GROUP = 1u << 2,  /* v2 kernel < 4.19: no memory.oom.group */
        JR_CGQ_NO_FREEZE = 1u << 3,     /* v2 kernel < 5.2: kill each pid without freezing */
        JR_CGQ_NO_CPU_BW = 1u << 4,     /* v1 without a "cpu" hierarchy: no bandwidth limit */
};

/* A directory of one cgroup: an fd to reach its files and its path for messages. */
typedef struct jr_cg_dir {
        int fd;        /* O_DIRECTORY|O_CLOEXEC (O_PATH for bases); -1 when unused */
        unsigned what; /* JR_CG_* served by this directory (v1: controllers of its hierarchy) */
        char path[PATH_MAX];
} jr_cg_dir;

#define JR_CG_MAX_DIRS   4  /* v1: memory, pids, cpuacct, cpu (fewer when co-mounted) */
#define JR_CG_NAME_MAX   64 /* caller's part of jr-<pid>-<name> */
#define JR_CG_PREFIX     "jr-"
#define JR_CG_SUPERVISOR "supervisor"

struct jr_cg_run {
        jr_cg *cg;
        jr_cg_run *next; /* in cg->runs: created and not yet removed */
        char name[sizeof(JR_CG_PREFIX) + 12 + JR_CG_NAME_MAX]; /* jr-<pid>-<name> */
        jr_cg_dir dirs[JR_CG_MAX_DIRS];                        /* same order as cg->bases */
        size_t ndirs;       /* directories created (all of them were made by us) */
        unsigned removed;   /* bit i: dirs[i] has been rmdir'ed */
        int cpu_fd;         /* cached cpu.stat / cpuacct.usage for jr_cg_run_poll, or -1 */
        int mem_current_fd; /* v2 polled-peak fallback: cached memory.current, or -1 */
        int procs_fds[JR_CG_MAX_DIRS]; /* cgroup.procs opened for writing, or -1 */
        uint64_t polled_peak;          /* v2 polled-peak fallback: max memory.current seen */
        bool orphan;                   /* destroy failed: close() retries the rmdir */
};

typedef struct jr_cg_ops {
        const char *name;
        /* Find the hierarchy/hierarchies, prepare the bases, detect fallbacks. */
        int (*open)(jr_cg *cg, jr_error *e);
        /* Undo what open changed (v2: nothing to undo except the describe text). */
        void (*close)(jr_cg *cg);
        /* mkdir the run cgroup(s) (run->name is set) and write the limits. */
        int (*run_create)(jr_cg_run *run, const jr_cg_limits *lim, jr_error *e);
        int (*run_poll)(jr_cg_run *run, uint64_t *cpu_ns, jr_error *e);
        int (*run_stats)(jr_cg_run *run, jr_cg_stats *st, jr_error *e);
        int (*run_kill)(jr_cg_run *run, jr_error *e);
} jr_cg_ops;

struct jr_cg {
        jr_cg_mode mode;
        const jr_cg_ops *ops;
        unsigned fallbacks;              /* JR_FB_* in effect */
        unsigned quirks;                 /* JR_CGQ_* */
        unsigned ctrl;                   /* JR_CG_* in use */
        jr_cg_dir bases[JR_CG_MAX_DIRS]; /* v2: [0] is <own>; v1: one per hierarchy */
        size_t nbases;
        jr_cg_run *runs;
        /* v2 */
        bool v2_is_root;         /* <own> is the root of the hierarchy (or of our cgroupns) */
        bool v2_moved;           /* this open moved the process into <own>/supervisor */
        unsigned v2_required;    /* controllers open must enable (tests: 0) */
        bool v2_always_leaf;     /* tests: move into supervisor even with nothing to enable */
        char v2_mount[PATH_MAX]; /* where cgroup2 is mounted; "" = discover */
        /* v1: bases[nbases - 1] is the cpu hierarchy alone (not co-mounted with one of
         * the others), whose run directory is made only for a CPU bandwidth limit */
        bool v1_cpu_apart;
        char describe[PATH_MAX + 512];
};

/* Options of jr_cg_open_at(); jr_cg_open() is jr_cg_open_at() with mode and fallbacks and
 * everything else zero. */
typedef struct jr_cg_open_opts {
        jr_cg_mode mode;
        unsigned fallbacks;
        const char *v2_mount;       /* NULL: /sys/fs/cgroup when it is cgroup2, else mountinfo */
        bool v2_custom_controllers; /* use v2_controllers instead of memory+pids+cpu */
        unsigned v2_controllers;    /* JR_CG_* that must be available and enabled */
        bool v2_always_leaf;        /* move into <own>/supervisor even when nothing is enabled */
} jr_cg_open_opts;

int jr_cg_open_at(const jr_cg_open_opts *opts, jr_cg **out, jr_error *e);

extern const jr_cg_ops jr_cg_v1_ops;
extern const jr_cg_ops jr_cg_v2_ops;

/* ---- file helpers (cgroup.c) ---------------------------------------------------------- */

void jr_cg_dir_init(jr_cg_dir *d);
void jr_cg_dir_close(jr_cg_dir *d);
/* Open `path` as a base directory (O_PATH|O_DIRECTORY). */
int jr_cg_dir_open(jr_cg_dir *d, const char *path, unsigned what, jr_error *e);
/* mkdir parent/name (EEXIST is an error unless allow_existing, and then it must be a
 * directory), open it as d with `flags` (O_PATH or O_RDONLY, plus O_DIRECTORY|O_CLOEXEC).
 * Sets *created. */
int jr_cg_dir_mkdir(const jr_cg_dir *parent, const char *name, int flags, bool allow_existing,
                    jr_cg_dir *d, bool *created, jr_error *e);
/* Does parent/file exist? */
bool jr_cg_has_file(const jr_cg_dir *d, const char *file);

/* Write val to d/file in one write(2). Returns 0 or -errno (and fills e). */
int jr_cg_write(const jr_cg_dir *d, const char *file, const char *val, jr_error *e);
int jr_cg_write_u64(const jr_cg_dir *d, const char *file, uint64_t v, jr_error *e);
/* Read d/file into buf (NUL-terminated); fails when it does not fit. Returns the length. */
ssize_t jr_cg_read(const jr_cg_dir *d, const char *file, char *buf, size_t size, jr_error *e);
/* Read the whole file, however long (cgroup.procs). *out is malloc'd and NUL-terminated. */
int jr_cg_read_alloc(const jr_cg_dir *d, const char *file, char **out, jr_error *e);
/* A file with one number ("max" reads as UINT64_MAX). */
int jr_cg_read_u64(const jr_cg_dir *d, const char *file, uint64_t *v, jr_error *e);
/* A flat keyed file ("key value" lines): the value of key. Missing key: -ENOENT, e filled. */
int jr_cg_read_key_u64(const jr_cg_dir *d, const char *file, const char *key, uint64_t *v,
                       jr_error *e);
/* Re-read an fd kept open on a cgroup file (pread at 0 regenerates the content). */
ssize_t jr_cg_pread_fd(int fd, char *buf, size_t size);

/* Parse helpers, pure (unit-tested). */
int jr_cg_parse_u64(const char *s, uint64_t *v);
int jr_cg_parse_key_u64(const char *text, const char *key, uint64_t *v);
/* Is token (e.g. "memory") in a space/comma separated list? */
bool jr_cg_list_has(const char *list, const char *token);

/* pids in d/cgroup.procs. *pids is malloc'd (may be NULL when *n is 0). */
int jr_cg_read_procs(const jr_cg_dir *d, pid_t **pids, size_t *n, jr_error *e);
/* SIGKILL every process listed in d/cgroup.procs until a listing shows nothing new
 * (bounded). Each pid is pinned with a pidfd and re-checked against a fresh listing
 * before the signal, so a recycled pid outside the cgroup is never hit. */
int jr_cg_kill_listed(const jr_cg_dir *d, jr_error *e);
/* rmdir parent/name, waiting (bounded, sleeping, never spinning) while it is EBUSY.
 * ENOENT counts as removed. */
int jr_cg_rmdir_wait(const jr_cg_dir *parent, const char *name, unsigned timeout_ms, jr_error *e);

/* Remove empty jr-<pid>-* directories of parent whose <pid> is dead (or is our own pid
 * when skip_self is false). Never touches anything else; best effort. Returns the count. */
int jr_cg_cleanup_stale(const jr_cg_dir *parent, bool skip_self);
/* Parses "jr-<pid>-<rest>": the pid, or -1. */
pid_t jr_cg_stale_pid(const char *name);

/* /proc/self/mountinfo and /proc/self/cgroup (text passed in so tests can feed fixtures). */
typedef struct jr_cg_mount {
        char mnt[PATH_MAX];  /* mount point */
        char root[PATH_MAX]; /* root of the mount inside the hierarchy */
        char opts[512];      /* super options: "rw,memory" */
} jr_cg_mount;
/* fstype "cgroup2", or "cgroup" with `controller` among the super options. Prefers a
 * mount whose root is "/" or a prefix of own_path when own_path is given. */
int jr_cg_mountinfo_find(const char *mountinfo, const char *fstype, const char *controller,
                         const char *own_path, jr_cg_mount *m);
/* The entry whose mount point is exactly mnt (any cgroup fstype). */
int jr_cg_mountinfo_at(const char *mountinfo, const char *mnt, jr_cg_mount *m);
/* The path of the line for v1 `controller`, or of the "0::" line when controller is NULL. */
int jr_cg_proc_cgroup_find(const char *text, const char *controller, char *path, size_t size);
/* mnt + (own minus the mount's root) -> full path, "" components collapsed. */
int jr_cg_join_path(const jr_cg_mount *m, const char *own, char *out, size_t size);
/* Read a /proc file fully (small files). */
int jr_cg_read_proc(const char *path, char **out, jr_error *e);

/* Short sleep used by the bounded waits. */
void jr_cg_sleep_us(unsigned us);
