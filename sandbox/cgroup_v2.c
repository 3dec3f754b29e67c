/* cgroup v2 backend: the unified hierarchy, as on production hosts under systemd.
 *
 * Layout, with <own> the cgroup this process was started in (a Delegate=yes unit):
 *   <own>/supervisor       this process, moved there at open (no-internal-process rule)
 *   <own>/jr-<pid>-<name>  one per run, born into with clone3(CLONE_INTO_CGROUP)
 * <own>/cgroup.subtree_control gets "+memory +pids +cpu". When <own> is the root of the
 * hierarchy (or of our cgroup namespace) nothing moves: the root is exempt.
 *
 * Kernel features, each probed at open and each with a fallback: cgroup.freeze (5.2),
 * CLONE_INTO_CGROUP (5.7), cgroup.kill (5.14), memory.peak (5.19). */
#include "cgroup_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/magic.h>
#include <linux/sched.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cleanup.h"
#include "clock.h"

static const struct {
        unsigned bit;
        const char *name;
} v2_ctrls[] = {
    {JR_CG_MEMORY, "memory"},
    {JR_CG_PIDS, "pids"},
    {JR_CG_CPU, "cpu"},
};

static bool is_cgroup2(const char *path)
{
        struct statfs sfs;
        return statfs(path, &sfs) == 0 && sfs.f_type == CGROUP2_SUPER_MAGIC;
}

/* Where cgroup2 is mounted and which part of the hierarchy that mount shows. */
static int v2_find_mount(jr_cg *cg, const char *mountinfo, jr_cg_mount *m, jr_error *e)
{
        const char *mnt = cg->v2_mount[0] ? cg->v2_mount : NULL;
        if (!mnt && is_cgroup2("/sys/fs/cgroup"))
                mnt = "/sys/fs/cgroup";
        if (mnt) {
                if (!is_cgroup2(mnt))
                        return jr_error_set(e, ENOTSUP, "\"%s\" is not a cgroup2 mount", mnt);
                if (!mountinfo || jr_cg_mountinfo_at(mountinfo, mnt, m) < 0) {
                        snprintf(m->mnt, sizeof m->mnt, "%s", mnt);
                        snprintf(m->root, sizeof m->root, "/");
                }
                return 0;
        }
        if (mountinfo && jr_cg_mountinfo_find(mountinfo, "cgroup2", NULL, NULL, m) == 0 &&
            is_cgroup2(m->mnt))
                return 0;
        return jr_error_set(e, ENOENT, "no cgroup2 mount in /proc/self/mountinfo");
}

/* Whether clone3 can start a process inside the cgroup d (CLONE_INTO_CGROUP), tried with
 * a child that exits at once. It fails with ENOSYS before 5.3 or under a seccomp filter
 * that refuses clone3 (container runtimes do), with E2BIG before 5.7 (a clone_args of
 * that size is unknown), or EINVAL: the runs then join their cgroup before exec. */
static bool can_clone_into(const jr_cg_dir *d)
{
        /* clone3 wants a real directory fd; d's may be O_PATH */
        _cleanup_close_ int fd = openat(d->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return false;
        struct clone_args args = {
            .flags = CLONE_INTO_CGROUP,
            .exit_signal = SIGCHLD,
            .cgroup = (uint64_t)fd,
        };
        /* fork-like (no CLONE_VM, no stack): the child owns a copy of everything and only
         * leaves, with a raw exit that touches no lock of a threaded parent */
        long pid = syscall(SYS_clone3, &args, sizeof args);
        if (pid == 0)
                _exit(0);
        if (pid < 0)
                return false;
        while (waitpid((pid_t)pid, NULL, 0) < 0 && errno == EINTR)
                ;
        return true;
}

static const char *ctrl_names(unsigned ctrl, char *buf, size_t size)
{
        size_t off = 0;
        buf[0] = '\0';
        for (size_t i = 0; i < JR_ARRAY_SIZE(v2_ctrls); i++)
                if ((ctrl & v2_ctrls[i].bit) && off < size)
                        off += (size_t)snprintf(buf + off, size - off, "%s%s", off ? " " : "",
                                                v2_ctrls[i].name);
        return buf;
}

/* Enable the missing controllers for our children. */
static int v2_enable(jr_cg *cg, unsigned missing, jr_error *e)
{
        const jr_cg_dir *c = &cg->bases[0];
        char req[64];
        size_t off = 0;
        for (size_t i = 0; i < JR_ARRAY_SIZE(v2_ctrls); i++)
                if (missing & v2_ctrls[i].bit)
                        off += (size_t)snprintf(req + off, sizeof req - off, "%s+%s",
                                                off ? " " : "", v2_ctrls[i].name);

        /* EBUSY while a process is still in <own>: ours may be in flight right after the
         * move, and a sibling process that is just exiting clears soon. Anything else that
         * lives there stays, and then the layout is simply wrong for us. */
        int r = 0;
        for (int attempt = 0; attempt < 10; attempt++) {
                r = jr_cg_write(c, "cgroup.subtree_control", req, e);
                if (r != -EBUSY)
                        break;
                jr_cg_sleep_us(10000);
        }
        if (r == -EBUSY) {
                _cleanup_free_ pid_t *pids = NULL;
                size_t n = 0;
                if (jr_cg_read_procs(c, &pids, &n, NULL) == 0 && n > 0)
                        return jr_error_set(
                            e, EBUSY,
                            "cannot enable \"%s\" in \"%s/cgroup.subtree_control\": %zu other "
                            "process(es) (first pid %d) live in \"%s\"; run jailrun alone in a "
                            "delegated cgroup, e.g. systemd-run --scope -p Delegate=yes, or "
                            "a service with Delegate=yes",
                            req, c->path, n, (int)pids[0], c->path);
        }
        return r < 0 ? -1 : 0;
}

static void v2_describe(jr_cg *cg)
{
        char ctrl[64], fb[256] = "";
        size_t off = 0;
#define ADD(s) off += (size_t)snprintf(fb + off, sizeof fb - off, "%s%s", off ? ", " : "", s)
        if (cg->fallbacks & JR_FB_NO_MEMORY_PEAK)
                ADD("memory.peak polled");
        if (cg->fallbacks & JR_FB_NO_CGROUP_KILL)
                ADD((cg->quirks & JR_CGQ_NO_FREEZE) ? "kill each pid" : "freeze+kill");
        if (cg->fallbacks & JR_FB_NO_CLONE_INTO_CGROUP)
                ADD("attach");
        if ((cg->quirks & JR_CGQ_NO_SWAP_LIMIT) && (cg->ctrl & JR_CG_MEMORY))
                ADD("swap not limited");
        if ((cg->quirks & JR_CGQ_NO_OOM_GROUP) && (cg->ctrl & JR_CG_MEMORY))
                ADD("no memory.oom.group");
#undef ADD
        snprintf(cg->describe, sizeof cg->describe, "cgroup v2 at %s (%s); fallbacks: %s",
                 cg->bases[0].path,
                 cg->ctrl ? ctrl_names(cg->ctrl, ctrl, sizeof ctrl) : "no controllers",
                 off ? fb : "none");
}

/* Which optional files the kernel has, looked up once in a scratch run cgroup. */
static int v2_probe(jr_cg *cg, jr_error *e)
{
        char name[64];
        snprintf(name, sizeof name, JR_CG_PREFIX "%d-.probe", (int)getpid());
        jr_cg_dir d;
        jr_cg_dir_init(&d);
        if (jr_cg_dir_mkdir(&cg->bases[0], name, O_PATH, true, &d, NULL, e) < 0)
                return jr_error_wrap(e, "probe the kernel's cgroup files");
        bool has_peak = jr_cg_has_file(&d, "memory.peak");
        bool has_swap = jr_cg_has_file(&d, "memory.swap.max");
        bool has_oom_group = jr_cg_has_file(&d, "memory.oom.group");
        bool has_kill = jr_cg_has_file(&d, "cgroup.kill");
        bool has_freeze = jr_cg_has_file(&d, "cgroup.freeze");
        /* cgroup.kill (5.14) comes after CLONE_INTO_CGROUP (5.7): only an older kernel
         * needs the trial child */
        bool has_clone_into = has_kill || can_clone_into(&d);
        jr_cg_dir_close(&d);
        unlinkat(cg->bases[0].fd, name, AT_REMOVEDIR);

        if (cg->ctrl & JR_CG_MEMORY) {
                if (!has_peak)
                        cg->fallbacks |= JR_FB_NO_MEMORY_PEAK;
                if (!has_swap)
                        cg->quirks |= JR_CGQ_NO_SWAP_LIMIT;
                if (!has_oom_group)
                        cg->quirks |= JR_CGQ_NO_OOM_GROUP;
        }
        if (!has_kill)
                cg->fallbacks |= JR_FB_NO_CGROUP_KILL;
        if (!has_freeze)
                cg->quirks |= JR_CGQ_NO_FREEZE;
        if (!has_clone_into)
                cg->fallbacks |= JR_FB_NO_CLONE_INTO_CGROUP;
        return 0;
}

/* Move this whole process (every thread: cgroup.procs, not cgroup.threads) into dir. */
static int move_self(const jr_cg_dir *dir, jr_error *e)
{
        char pid[16];
        snprintf(pid, sizeof pid, "%d", (int)getpid());
        return jr_cg_write(dir, "cgroup.procs", pid, e) < 0 ? -1 : 0;
}

static int v2_open(jr_cg *cg, jr_error *e)
{
        _cleanup_free_ char *mountinfo = NULL;
        _cleanup_free_ char *self = NULL;
        jr_cg_read_proc("/proc/self/mountinfo", &mountinfo, NULL); /* optional */
        if (jr_cg_read_proc("/proc/self/cgroup", &self, e) < 0)
                return -1;

        jr_cg_mount m;
        if (v2_find_mount(cg, mountinfo, &m, e) < 0)
                return -1;
        char own[PATH_MAX], path[PATH_MAX];
        if (jr_cg_proc_cgroup_find(self, NULL, own, sizeof own) < 0)
                return jr_error_set(e, ENOENT, "no \"0::\" line in /proc/self/cgroup");
        if (jr_cg_join_path(&m, own, path, sizeof path) < 0)
                return jr_error_set(e, ENOENT, "our cgroup \"%s\" is not visible under \"%s\"", own,
                                    m.mnt);

        jr_cg_dir *c = &cg->bases[0];
        if (jr_cg_dir_open(c, path, JR_CG_ALL, e) < 0)
                return -1;
        cg->nbases = 1;
        unsigned want = cg->v2_required;
        cg->ctrl = want;
        char buf[512];

        /* Already in <C>/supervisor? Then <C> is the base and nothing has to move. That is
         * the case after an earlier open in this process, or when the service manager
         * started us there (systemd's DelegateSubgroup=supervisor). It is only taken as
         * ours when <C> already has our controllers enabled or holds no process itself,
         * so that a foreign cgroup that happens to be called "supervisor" is left alone.
         * The root has no cgroup.type (also true at the root of a cgroup namespace). */
        bool in_leaf = false;
        const char *slash = strrchr(path, '/');
        if (jr_cg_has_file(c, "cgroup.type") && slash && strcmp(slash + 1, JR_CG_SUPERVISOR) == 0 &&
            (size_t)(slash - path) >= strlen(m.mnt)) {
                char parent[PATH_MAX];
                snprintf(parent, sizeof parent, "%.*s", (int)(slash - path), path);
                jr_cg_dir p;
                jr_cg_dir_init(&p);
                if (jr_cg_dir_open(&p, parent, JR_CG_ALL, NULL) == 0) {
                        bool ready =
                            jr_cg_read(&p, "cgroup.subtree_control", buf, sizeof buf, NULL) >= 0;
                        for (size_t i = 0; ready && i < JR_ARRAY_SIZE(v2_ctrls); i++)
                                if ((want & v2_ctrls[i].bit) &&
                                    !jr_cg_list_has(buf, v2_ctrls[i].name))
                                        ready = false;
                        if (!ready) {
                                _cleanup_free_ pid_t *pids = NULL;
                                size_t n = 1;
                                ready = jr_cg_read_procs(&p, &pids, &n, NULL) == 0 && n == 0;
                        }
                        if (ready) {
                                jr_cg_dir_close(c);
                                *c = p;
                                in_leaf = true;
                        } else {
                                jr_cg_dir_close(&p);
                        }
                }
        }
        cg->v2_is_root = !jr_cg_has_file(c, "cgroup.type");

        /* Every controller we need must be offered to us by our parent. */
        if (jr_cg_read(c, "cgroup.controllers", buf, sizeof buf, e) < 0)
                return -1;
        for (size_t i = 0; i < JR_ARRAY_SIZE(v2_ctrls); i++) {
                if ((want & v2_ctrls[i].bit) && !jr_cg_list_has(buf, v2_ctrls[i].name)) {
                        buf[strcspn(buf, "\n")] = '\0';
                        return jr_error_set(e, 0,
                                            "controller \"%s\" is not available in \"%s\" "
                                            "(cgroup.controllers: \"%s\"); it must be delegated "
                                            "to jailrun's cgroup (Delegate=yes)",
                                            v2_ctrls[i].name, c->path, buf);
                }
        }
        if (jr_cg_read(c, "cgroup.subtree_control", buf, sizeof buf, e) < 0)
                return -1;
        unsigned missing = 0;
        for (size_t i = 0; i < JR_ARRAY_SIZE(v2_ctrls); i++)
                if ((want & v2_ctrls[i].bit) && !jr_cg_list_has(buf, v2_ctrls[i].name))
                        missing |= v2_ctrls[i].bit;

        /* The no-internal-process rule: a non-root cgroup cannot both hold processes and
         * hand controllers to its children. We are a process in <C>, so first step down
         * into a leaf of our own. */
        bool created_leaf = false;
        if (!cg->v2_is_root && !in_leaf && (missing || cg->v2_always_leaf)) {
                jr_cg_dir s;
                jr_cg_dir_init(&s);
                if (jr_cg_dir_mkdir(c, JR_CG_SUPERVISOR, O_PATH, true, &s, &created_leaf, e) < 0)
                        return -1;
                int r = move_self(&s, e);
                jr_cg_dir_close(&s);
                if (r < 0) {
                        if (created_leaf)
                                unlinkat(c->fd, JR_CG_SUPERVISOR, AT_REMOVEDIR);
                        return jr_error_wrap(e, "move jailrun into a leaf cgroup");
                }
                cg->v2_moved = true;
        }
        if (missing && v2_enable(cg, missing, e) < 0) {
                if (cg->v2_moved) {
                        /* Leave things as we found them. */
                        move_self(c, NULL);
                        if (created_leaf)
                                unlinkat(c->fd, JR_CG_SUPERVISOR, AT_REMOVEDIR);
                        cg->v2_moved = false;
                }
                return -1;
        }

        if (v2_probe(cg, e) < 0)
                return -1;
        v2_describe(cg);
        return 0;
}

static void v2_close(jr_cg *cg)
{
        /* Nothing to undo: the process stays in <own>/supervisor and the controllers stay
         * enabled, which is what the next start expects. */
        (void)cg;
}

static int v2_run_create(jr_cg_run *run, const jr_cg_limits *lim, jr_error *e)
{
        jr_cg *cg = run->cg;
        if (lim->mem_bytes && !(cg->ctrl & JR_CG_MEMORY))
                return jr_error_set(e, EINVAL, "memory limit without the memory controller");
        if (lim->pids && !(cg->ctrl & JR_CG_PIDS))
                return jr_error_set(e, EINVAL, "pids limit without the pids controller");
        if (lim->nano_cpus && !(cg->ctrl & JR_CG_CPU))
                return jr_error_set(e, EINVAL,
                                    "CPU bandwidth limit without the cpu controller (cpu.max)");

        /* A real (not O_PATH) directory fd: it doubles as the clone3 cgroup fd. */
        jr_cg_dir *d = &run->dirs[0];
        if (jr_cg_dir_mkdir(&cg->bases[0], run->name, O_RDONLY, false, d, NULL, e) < 0)
                return -1;
        run->ndirs = 1;

        /* Limits before any process is in: nothing of the program runs unlimited. */
        if (lim->mem_bytes) {
                if (jr_cg_write_u64(d, "memory.max", lim->mem_bytes, e) < 0)
                        return -1;
                if (!(cg->quirks & JR_CGQ_NO_SWAP_LIMIT) &&
                    jr_cg_write(d, "memory.swap.max", "0", e) < 0)
                        return -1;
        }
        /* On OOM kill the whole jail, not one process that its parent may survive. */
        if ((cg->ctrl & JR_CG_MEMORY) && !(cg->quirks & JR_CGQ_NO_OOM_GROUP) &&
            jr_cg_write(d, "memory.oom.group", "1", e) < 0)
                return -1;
        if (lim->pids && jr_cg_write_u64(d, "pids.max", lim->pids, e) < 0)
                return -1;
        if (lim->nano_cpus) {
                /* "QUOTA PERIOD": the jail's threads together run QUOTA us per PERIOD */
                char max[64];
                snprintf(max, sizeof max, "%" PRIu64 " %llu", jr_cg_cpu_quota_us(lim->nano_cpus),
                         JR_CG_CPU_PERIOD_US);
                if (jr_cg_write(d, "cpu.max", max, e) < 0)
                        return -1;
        }
        return 0;
}

static int reopen(jr_cg_run *run, int *fd, const char *file, jr_error *e)
{
        if (*fd >= 0)
                return 0;
        *fd = openat(run->dirs[0].fd, file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (*fd < 0)
                return jr_error_errno(e, "read \"%s/%s\"", run->dirs[0].path, file);
        return 0;
}

static int read_cpu(jr_cg_run *run, uint64_t *ns, jr_error *e)
{
        char buf[1024];
        uint64_t usec;
        if (reopen(run, &run->cpu_fd, "cpu.stat", e) < 0)
                return -1;
        ssize_t n = jr_cg_pread_fd(run->cpu_fd, buf, sizeof buf);
        if (n < 0)
                return jr_error_set(e, (int)-n, "read \"%s/cpu.stat\"", run->dirs[0].path);
        if (jr_cg_parse_key_u64(buf, "usage_usec", &usec) < 0)
                return jr_error_set(e, 0, "read \"%s/cpu.stat\": no usage_usec", run->dirs[0].path);
        *ns = usec * 1000u;
        return 0;
}

static int sample_current(jr_cg_run *run, jr_error *e)
{
        char buf[64];
        uint64_t cur;
        if (reopen(run, &run->mem_current_fd, "memory.current", e) < 0)
                return -1;
        ssize_t n = jr_cg_pread_fd(run->mem_current_fd, buf, sizeof buf);
        if (n < 0)
                return jr_error_set(e, (int)-n, "read \"%s/memory.current\"", run->dirs[0].path);
        if (jr_cg_parse_u64(buf, &cur) < 0)
                return jr_error_set(e, EINVAL, "parse \"%s/memory.current\"", run->dirs[0].path);
        if (cur > run->polled_peak)
                run->polled_peak = cur;
        return 0;
}

static bool polls_peak(const jr_cg *cg)
{
        return (cg->ctrl & JR_CG_MEMORY) && (cg->fallbacks & JR_FB_NO_MEMORY_PEAK);
}

static int v2_run_poll(jr_cg_run *run, uint64_t *cpu_ns, jr_error *e)
{
        uint64_t ns;
        if (read_cpu(run, &ns, e) < 0)
                return -1;
        if (polls_peak(run->cg) && sample_current(run, e) < 0)
                return -1;
        *cpu_ns = ns;
        return 0;
}

static int v2_run_stats(jr_cg_run *run, jr_cg_stats *st, jr_error *e)
{
        jr_cg_stats s = {0};
        const jr_cg_dir *d = &run->dirs[0];
        if (read_cpu(run, &s.cpu_ns, e) < 0)
                return -1;
        if (run->cg->ctrl & JR_CG_MEMORY) {
                if (polls_peak(run->cg)) {
                        if (sample_current(run, e) < 0)
                                return -1;
                        s.mem_peak = run->polled_peak;
                } else if (jr_cg_read_u64(d, "memory.peak", &s.mem_peak, e) < 0) {
                        return -1;
                }
                /* memory.events counts the whole subtree: what the verdict needs. */
                if (jr_cg_read_key_u64(d, "memory.events", "oom_kill", &s.oom_kills, e) < 0)
                        return -1;
        }
        *st = s;
        return 0;
}

/* Wait (bounded) until cgroup.events says frozen 1, or populated 0. A change of that file
 * raises POLLPRI on an fd that has read it, so this sleeps in poll(2), not in a loop. */
static void wait_frozen(const jr_cg_dir *d, int timeout_ms)
{
        _cleanup_close_ int fd = openat(d->fd, "cgroup.events", O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return;
        uint64_t end = jr_mono_us() + (uint64_t)timeout_ms * 1000u;
        for (;;) {
                char buf[256];
                uint64_t frozen = 0, populated = 1;
                if (jr_cg_pread_fd(fd, buf, sizeof buf) < 0)
                        return;
                jr_cg_parse_key_u64(buf, "frozen", &frozen);
                jr_cg_parse_key_u64(buf, "populated", &populated);
                uint64_t now = jr_mono_us();
                if (frozen == 1 || populated == 0 || now >= end)
                        return;
                struct pollfd pfd = {.fd = fd, .events = POLLPRI};
                if (poll(&pfd, 1, (int)((end - now + 999) / 1000)) < 0 && errno != EINTR)
                        return;
        }
}

static int v2_run_kill(jr_cg_run *run, jr_error *e)
{
        jr_cg *cg = run->cg;
        const jr_cg_dir *d = &run->dirs[0];
        if (!(cg->fallbacks & JR_FB_NO_CGROUP_KILL)) {
                /* One write kills the whole subtree, races with fork included. */
                int r = jr_cg_write(d, "cgroup.kill", "1", e);
                if (r != -ENOENT)
                        return r < 0 ? -1 : 0;
        }

        /* Before 5.14: freeze so that nothing forks or exits while the pid list is read,
         * SIGKILL each (a fatal signal gets through the v2 freezer), thaw. Nothing to do
         * for an empty cgroup, the usual case at the end of a run. */
        _cleanup_free_ pid_t *pids = NULL;
        size_t n = 0;
        int r = jr_cg_read_procs(d, &pids, &n, e);
        if (r < 0)
                return -1;
        if (n == 0)
                return 0;
        bool frozen = false;
        if (!(cg->quirks & JR_CGQ_NO_FREEZE) && jr_cg_write(d, "cgroup.freeze", "1", NULL) == 0) {
                frozen = true;
                wait_frozen(d, 500);
        }
        r = jr_cg_kill_listed(d, e);
        if (frozen) {
                jr_error err;
                if (jr_cg_write(d, "cgroup.freeze", "0", &err) < 0 && r == 0) {
                        if (e)
                                *e = err;
                        r = -1;
                }
        }
        return r < 0 ? -1 : 0;
}

const jr_cg_ops jr_cg_v2_ops = {
    .name = "v2",
    .open = v2_open,
    .close = v2_close,
    .run_create = v2_run_create,
    .run_poll = v2_run_poll,
    .run_stats = v2_run_stats,
    .run_kill = v2_run_kill,
};
