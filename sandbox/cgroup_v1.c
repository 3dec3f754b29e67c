/* cgroup v1 backend: the legacy/hybrid layout of the build machines.
 *
 * Three hierarchies are required: memory (limit, peak, OOM kills), pids (pids.max) and
 * cpuacct (CPU time of every thread); a fourth, cpu (cpu.cfs_quota_us), serves the CPU
 * bandwidth limit and is optional: without it a run that asks for that limit fails (IE,
 * naming the missing hierarchy) rather than running unlimited, and every other run works.
 * cpuacct is often co-mounted with cpu ("cpu,cpuacct") and any of them may share a mount;
 * a mount point serving several is used once. In each, a run gets
 * <mount>/<our own cgroup there>/jr-<pid>-<name>; in a cpu hierarchy mounted apart (as on
 * the build machines) only when the run has a bandwidth limit, which saves a mkdir, an
 * attach and an rmdir on every other run.
 *
 * What v1 lacks and how it is covered:
 *   - no CLONE_INTO_CGROUP: the jail's program moves itself in before it execs,
 *     writing "0" to cgroup.procs in each hierarchy (jr_cg_run_procs_fds);
 *   - no cgroup.kill: SIGKILL every pid of the memory cgroup until none is new; the jail's
 *     own pid namespace (its init dying kills everything) is the first line, this is the
 *     backstop;
 *   - no memory.swap.max: memory.memsw.limit_in_bytes = the memory limit (swap off), when
 *     the kernel accounts swap at all;
 *   - oom_kill in memory.oom_control appeared in 4.13; before that memory.failcnt > 0 is
 *     taken as one OOM kill. That is a weaker hint: failcnt counts every time usage hit
 *     the limit, including hits that reclaim resolved without killing anything. */
#include "cgroup_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "cleanup.h"

/* In this order: an optional hierarchy comes last, so that its base, when it is a
 * directory of its own, is the last of cg->bases (v1_run_create may leave it out). */
static const struct {
        unsigned bit;
        const char *ctrl;
        const char *conventional[2]; /* when mountinfo does not say */
        bool optional;
} v1_hier[] = {
    {JR_CG_MEMORY, "memory", {"/sys/fs/cgroup/memory", NULL}, false},
    {JR_CG_PIDS, "pids", {"/sys/fs/cgroup/pids", NULL}, false},
    {JR_CG_CPU, "cpuacct", {"/sys/fs/cgroup/cpuacct", "/sys/fs/cgroup/cpu,cpuacct"}, false},
    {JR_CG_CPU_BW, "cpu", {"/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpu,cpuacct"}, true},
};

static bool is_cgroup1(const char *path)
{
        struct statfs sfs;
        return statfs(path, &sfs) == 0 && sfs.f_type == CGROUP_SUPER_MAGIC;
}

static const char *what_names(unsigned what, char *buf, size_t size)
{
        size_t off = 0;
        buf[0] = '\0';
        for (size_t i = 0; i < JR_ARRAY_SIZE(v1_hier); i++)
                if ((what & v1_hier[i].bit) && off < size)
                        off += (size_t)snprintf(buf + off, size - off, "%s%s", off ? "+" : "",
                                                v1_hier[i].ctrl);
        return buf;
}

static void v1_describe(jr_cg *cg)
{
        size_t off = 0;
        char *out = cg->describe;
        size_t size = sizeof cg->describe;
        off += (size_t)snprintf(out, size, "cgroup v1 (");
        for (size_t i = 0; i < cg->nbases && off < size; i++) {
                char names[64];
                off += (size_t)snprintf(out + off, size - off, "%s%s at %s", i ? ", " : "",
                                        what_names(cg->bases[i].what, names, sizeof names),
                                        cg->bases[i].path);
        }
        if (off < size)
                off +=
                    (size_t)snprintf(out + off, size - off, "); fallbacks: attach, kill each pid");
        if ((cg->quirks & JR_CGQ_NO_SWAP_LIMIT) && off < size)
                off += (size_t)snprintf(out + off, size - off, ", swap not limited");
        if ((cg->quirks & JR_CGQ_OOM_FROM_FAILCNT) && off < size)
                off += (size_t)snprintf(out + off, size - off, ", oom from memory.failcnt");
        if ((cg->quirks & JR_CGQ_NO_CPU_BW) && off < size)
                snprintf(out + off, size - off, ", no cpu hierarchy (no CPU bandwidth limit)");
}

static const jr_cg_dir *dir_for(const jr_cg_dir *dirs, size_t n, unsigned bit)
{
        for (size_t i = 0; i < n; i++)
                if (dirs[i].what & bit)
                        return &dirs[i];
        return NULL;
}

static int v1_open(jr_cg *cg, jr_error *e)
{
        _cleanup_free_ char *mountinfo = NULL;
        _cleanup_free_ char *self = NULL;
        jr_cg_read_proc("/proc/self/mountinfo", &mountinfo, NULL); /* optional */
        if (jr_cg_read_proc("/proc/self/cgroup", &self, e) < 0)
                return -1;

        for (size_t h = 0; h < JR_ARRAY_SIZE(v1_hier); h++) {
                const char *ctrl = v1_hier[h].ctrl;
                bool optional = v1_hier[h].optional;
                char own[PATH_MAX], path[PATH_MAX];
                if (jr_cg_proc_cgroup_find(self, ctrl, own, sizeof own) < 0) {
                        if (optional)
                                continue;
                        return jr_error_set(e, ENOENT,
                                            "no \"%s\" hierarchy in /proc/self/cgroup (is the %s "
                                            "controller mounted as cgroup v1?)",
                                            ctrl, ctrl);
                }
                jr_cg_mount m;
                bool found =
                    mountinfo && jr_cg_mountinfo_find(mountinfo, "cgroup", ctrl, own, &m) == 0;
                for (size_t k = 0; !found && k < 2 && v1_hier[h].conventional[k]; k++) {
                        if (is_cgroup1(v1_hier[h].conventional[k])) {
                                snprintf(m.mnt, sizeof m.mnt, "%s", v1_hier[h].conventional[k]);
                                snprintf(m.root, sizeof m.root, "/");
                                found = true;
                        }
                }
                if (!found && optional)
                        continue;
                if (!found)
                        return jr_error_set(e, ENOENT, "no cgroup v1 mount of the %s controller",
                                            ctrl);
                if (jr_cg_join_path(&m, own, path, sizeof path) < 0) {
                        if (optional)
                                continue;
                        return jr_error_set(e, ENOENT,
                                            "our %s cgroup \"%s\" is not visible under \"%s\"",
                                            ctrl, own, m.mnt);
                }

                /* Co-mounted controllers share one directory: use it once. */
                bool shared = false;
                for (size_t i = 0; i < cg->nbases; i++) {
                        if (strcmp(cg->bases[i].path, path) == 0) {
                                cg->bases[i].what |= v1_hier[h].bit;
                                shared = true;
                        }
                }
                if (shared) {
                        cg->ctrl |= v1_hier[h].bit;
                        continue;
                }
                if (jr_cg_dir_open(&cg->bases[cg->nbases], path, v1_hier[h].bit,
                                   optional ? NULL : e) < 0) {
                        if (optional)
                                continue;
                        return -1;
                }
                cg->nbases++;
                cg->ctrl |= v1_hier[h].bit;
                if (optional)
                        cg->v1_cpu_apart = true; /* the last base: v1_hier's order */
        }
        if (!(cg->ctrl & JR_CG_CPU_BW))
                cg->quirks |= JR_CGQ_NO_CPU_BW;

        const jr_cg_dir *mem = dir_for(cg->bases, cg->nbases, JR_CG_MEMORY);
        /* memsw files exist only when the kernel accounts swap (swapaccount=1). */
        if (!jr_cg_has_file(mem, "memory.memsw.limit_in_bytes"))
                cg->quirks |= JR_CGQ_NO_SWAP_LIMIT;
        uint64_t dummy;
        if (jr_cg_read_key_u64(mem, "memory.oom_control", "oom_kill", &dummy, NULL) < 0)
                cg->quirks |= JR_CGQ_OOM_FROM_FAILCNT;
        /* Inherent to v1, reported so that logs say how runs are joined and killed. */
        cg->fallbacks |= JR_FB_NO_CGROUP_KILL | JR_FB_NO_CLONE_INTO_CGROUP;
        cg->fallbacks &= ~(unsigned)JR_FB_NO_MEMORY_PEAK; /* max_usage_in_bytes always exists */
        v1_describe(cg);
        return 0;
}

static int v1_run_create(jr_cg_run *run, const jr_cg_limits *lim, jr_error *e)
{
        jr_cg *cg = run->cg;
        if (lim->nano_cpus && !(cg->ctrl & JR_CG_CPU_BW))
                return jr_error_set(e, ENOENT,
                                    "CPU bandwidth limit: no cgroup v1 \"cpu\" hierarchy "
                                    "(cpu.cfs_quota_us) for our process in /proc/self/cgroup "
                                    "and /proc/self/mountinfo (mount the cpu controller, or "
                                    "run without a CPU limit)");
        /* The cpu hierarchy on its own is the last base; only a bandwidth limit needs it. */
        size_t n = cg->nbases;
        if (cg->v1_cpu_apart && !lim->nano_cpus)
                n--;
        for (size_t i = 0; i < n; i++) {
                if (jr_cg_dir_mkdir(&cg->bases[i], run->name, O_PATH, false, &run->dirs[i], NULL,
                                    e) < 0)
                        return -1;
                run->ndirs = i + 1;
        }
        const jr_cg_dir *mem = dir_for(run->dirs, run->ndirs, JR_CG_MEMORY);
        const jr_cg_dir *pids = dir_for(run->dirs, run->ndirs, JR_CG_PIDS);
        if (lim->mem_bytes) {
                if (jr_cg_write_u64(mem, "memory.limit_in_bytes", lim->mem_bytes, e) < 0)
                        return -1;
                /* memory+swap = memory: no swap. Must come after the memory limit (memsw may
                 * never be below it). EINVAL/ENOENT: swap is not accounted here. */
                if (!(cg->quirks & JR_CGQ_NO_SWAP_LIMIT)) {
                        int r =
                            jr_cg_write_u64(mem, "memory.memsw.limit_in_bytes", lim->mem_bytes, e);
                        if (r < 0 && r != -EINVAL && r != -ENOENT)
                                return -1;
                }
        }
        if (lim->pids && jr_cg_write_u64(pids, "pids.max", lim->pids, e) < 0)
                return -1;
        if (lim->nano_cpus) {
                /* The period first: the quota is checked against it (and against the
                 * parent's quota/period ratio: EINVAL when more than the parent has). */
                const jr_cg_dir *cpu = dir_for(run->dirs, run->ndirs, JR_CG_CPU_BW);
                if (jr_cg_write_u64(cpu, "cpu.cfs_period_us", JR_CG_CPU_PERIOD_US, e) < 0 ||
                    jr_cg_write_u64(cpu, "cpu.cfs_quota_us", jr_cg_cpu_quota_us(lim->nano_cpus),
                                    e) < 0)
                        return -1;
        }
        return 0;
}

static int read_cpu(jr_cg_run *run, uint64_t *ns, jr_error *e)
{
        const jr_cg_dir *d = dir_for(run->dirs, run->ndirs, JR_CG_CPU);
        if (run->cpu_fd < 0) {
                run->cpu_fd = openat(d->fd, "cpuacct.usage", O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
                if (run->cpu_fd < 0)
                        return jr_error_errno(e, "read \"%s/cpuacct.usage\"", d->path);
        }
        char buf[64];
        ssize_t n = jr_cg_pread_fd(run->cpu_fd, buf, sizeof buf);
        if (n < 0)
                return jr_error_set(e, (int)-n, "read \"%s/cpuacct.usage\"", d->path);
        if (jr_cg_parse_u64(buf, ns) < 0)
                return jr_error_set(e, EINVAL, "parse \"%s/cpuacct.usage\"", d->path);
        return 0;
}

static int v1_run_poll(jr_cg_run *run, uint64_t *cpu_ns, jr_error *e)
{
        uint64_t ns;
        if (read_cpu(run, &ns, e) < 0)
                return -1;
        *cpu_ns = ns;
        return 0;
}

static int v1_run_stats(jr_cg_run *run, jr_cg_stats *st, jr_error *e)
{
        jr_cg_stats s = {0};
        const jr_cg_dir *mem = dir_for(run->dirs, run->ndirs, JR_CG_MEMORY);
        if (read_cpu(run, &s.cpu_ns, e) < 0)
                return -1;
        if (jr_cg_read_u64(mem, "memory.max_usage_in_bytes", &s.mem_peak, e) < 0)
                return -1;
        if (!(run->cg->quirks & JR_CGQ_OOM_FROM_FAILCNT)) {
                if (jr_cg_read_key_u64(mem, "memory.oom_control", "oom_kill", &s.oom_kills, e) < 0)
                        return -1;
        } else {
                uint64_t failcnt;
                if (jr_cg_read_u64(mem, "memory.failcnt", &failcnt, e) < 0)
                        return -1;
                s.oom_kills = failcnt > 0;
        }
        *st = s;
        return 0;
}

static int v1_run_kill(jr_cg_run *run, jr_error *e)
{
        /* Every process of the run is in the memory cgroup: attach puts it in all
         * hierarchies at once and children inherit all of them. */
        return jr_cg_kill_listed(dir_for(run->dirs, run->ndirs, JR_CG_MEMORY), e) < 0 ? -1 : 0;
}

const jr_cg_ops jr_cg_v1_ops = {
    .name = "v1",
    .open = v1_open,
    .close = NULL,
    .run_create = v1_run_create,
    .run_poll = v1_run_poll,
    .run_stats = v1_run_stats,
    .run_kill = v1_run_kill,
};
