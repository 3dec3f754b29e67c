/* One run of a jail: clone, set up, exec, supervise, measure, kill, clean up.
 *
 * Processes:
 *   supervisor   this process. Owns the cgroup, the pipes and the clock; decides TL/OL.
 *   init         PID 1 of the jail's pid namespace, root. It joins the slot's network
 *                namespace and a copy of the jail's template mount namespace (mounts.c),
 *                mounts the per-run file systems, starts the program, then reaps every
 *                orphan. When the program exits, init reports its wait status and exits;
 *                the kernel then kills whatever else is left in the namespace, so a
 *                setsid + double-fork escapee dies with the run. Init stays outside the
 *                run cgroup: it is no candidate for the jail's OOM killer.
 *   program      PID 2: joins the run cgroup (born in it on cgroup v2), drops to the
 *                slot's uid with no capabilities, loads seccomp last and execs the command.
 *
 * Init and the program are cloned with CLONE_VM, the program also with CLONE_VFORK: no
 * page table is copied, nothing is copied on write, and no address space is torn down
 * at exit (on these VMs a fork + exit costs ~0.7 ms, a CLONE_VM clone ~0.04 ms). They
 * run on stacks of their slot and, until the program's execve, share the supervisor's
 * memory while it keeps running: their code, in child.c, makes raw syscalls only (sys.h)
 * and writes nothing but their own stacks. Signals stay blocked from the clone until the
 * program has reset every disposition, so no handler of the supervisor ever runs in them.
 *
 * Supervisor and jail talk over a SOCK_SEQPACKET socket: every message is one
 * jr_sync_msg. A setup failure in the jail travels back as a jr_error with the step and
 * errno and becomes IE; the program's own failures become RE/TL/ML/OL. */
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "caps.h"
#include "cleanup.h"
#include "clock.h"
#include "internal.h"
#include "child.h"
#include "io.h"
#include "rlimits.h"
#include "sys.h"

#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif

#define SETUP_TIMEOUT_MS 10000 /* a jail that has not reported after this is broken */
#define OUTPUT_CHUNK     65536
#define POLL_TICK_NS     (20 * 1000000ull) /* memory.current sampling when memory.peak is missing */

static int sync_recv(int fd, jr_sync_msg *m)
{
        ssize_t n;
        do
                n = recv(fd, m, sizeof *m, 0);
        while (n < 0 && errno == EINTR);
        if (n == 0)
                return 0; /* the other side is gone */
        if (n != (ssize_t)sizeof *m)
                return -1;
        /* The jail leaves the strerror text to us (jr_error_raw). */
        jr_error_add_strerror(&m->err);
        return 1;
}

struct pump {
        int fd;     /* our read end, -1 once at EOF */
        int target; /* where the bytes go, -1 to drop them */
        uint64_t *count;
};

struct run_state {
        const jr_run_config *cfg;
        jr_cg_run *cg;
        int pidfd;
        uint64_t start_ns;
        uint64_t cpu_ns;  /* last sample of the run cgroup's CPU clock (new: starts at 0) */
        uint64_t written; /* stdout + stderr bytes passed on */
        bool killed;
        jr_jail_status kill_status;
        char kill_reason[64];
        bool exited;
        int wait_status;
        uint64_t end_ns;
        bool exec_failed;
        jr_error exec_err;
};

static void kill_jail(struct run_state *s, jr_jail_status why, const char *reason)
{
        if (!s->killed) {
                s->killed = true;
                s->kill_status = why;
                snprintf(s->kill_reason, sizeof s->kill_reason, "%s", reason);
                if (!s->end_ns)
                        s->end_ns = jr_mono_ns();
        }
        /* Init's death tears down the whole pid namespace; the cgroup kill reaches every
         * process at once instead of letting them run while the namespace is torn down. */
        jr_cg_run_kill(s->cg, NULL);
        syscall(SYS_pidfd_send_signal, s->pidfd, SIGKILL, NULL, 0);
}

/* Copy what is readable; enforce the output limit on stdout + stderr together. */
static void pump_read(struct run_state *s, struct pump *p)
{
        char buf[OUTPUT_CHUNK];
        for (;;) {
                ssize_t n = read(p->fd, buf, sizeof buf);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN)
                        return;
                if (n <= 0) {
                        close(TAKE_FD(p->fd));
                        return;
                }
                *p->count += (uint64_t)n;
                uint64_t lim = s->cfg->output_limit;
                size_t pass = (size_t)n;
                if (lim && s->written + pass > lim)
                        pass = (size_t)(lim - s->written);
                if (p->target >= 0 && pass > 0 && jr_write_all(p->target, buf, pass) < 0)
                        p->target = -1; /* reader gone: keep counting */
                s->written += pass;
                if (lim && s->written >= lim && pass < (size_t)n)
                        kill_jail(s, JR_JAIL_OL, "output limit");
        }
}

/* When to look at the CPU clock again: CPU time grows at most ncpu times faster than wall
 * time, so no check is needed before the remaining budget could be spent. */
static uint64_t next_tick_ns(const struct run_state *s, int ncpu, bool poll_memory)
{
        uint64_t t = UINT64_MAX, now = jr_mono_ns();
        if (s->cfg->cpu_ms) {
                uint64_t lim = s->cfg->cpu_ms * 1000000ull;
                uint64_t left = lim > s->cpu_ns ? lim - s->cpu_ns : 0;
                uint64_t d = left / (uint64_t)ncpu;
                if (d < 1000000ull)
                        d = 1000000ull;
                t = d;
        }
        if (s->cfg->wall_ms) {
                uint64_t deadline = s->start_ns + s->cfg->wall_ms * 1000000ull;
                uint64_t d = deadline > now ? deadline - now : 1;
                if (d < t)
                        t = d;
        }
        if (poll_memory && POLL_TICK_NS < t)
                t = POLL_TICK_NS;
        return t;
}

static void arm_timer(int tfd, uint64_t ns)
{
        struct itimerspec its = {0};
        if (ns == UINT64_MAX)
                ns = 0; /* disarm */
        its.it_value.tv_sec = (time_t)(ns / 1000000000ull);
        its.it_value.tv_nsec = (long)(ns % 1000000000ull);
        timerfd_settime(tfd, 0, &its, NULL);
}

static void check_limits(struct run_state *s)
{
        uint64_t cpu;
        if (jr_cg_run_poll(s->cg, &cpu, NULL) == 0)
                s->cpu_ns = cpu;
        if (s->cfg->cpu_ms && s->cpu_ns >= s->cfg->cpu_ms * 1000000ull)
                kill_jail(s, JR_JAIL_TL, "cpu time");
        else if (s->cfg->wall_ms && jr_mono_ns() - s->start_ns >= s->cfg->wall_ms * 1000000ull)
                kill_jail(s, JR_JAIL_TL, "wall time");
}

static void on_sync(struct run_state *s, int fd, bool *open)
{
        jr_sync_msg m;
        int r = sync_recv(fd, &m);
        if (r <= 0) {
                *open = false;
                return;
        }
        if (m.type == SYNC_EXEC_ERR && !s->exec_failed) {
                s->exec_failed = true;
                s->exec_err = m.err;
        } else if (m.type == SYNC_EXITED) {
                s->exited = true;
                s->wait_status = m.status;
                if (!s->end_ns)
                        s->end_ns = m.t_ns; /* when init reaped the program */
        }
}

/* One jail of a jr_jail_run_many() call, from its mount plan to its clean-up. Its
 * children read `c` in place for the whole run: a jail_run never moves. */
struct jail_run {
        jr_slot *slot;
        const jr_run_config *cfg;
        jr_run_result *res;
        jr_mount_plan plan;
        jr_cg_run *cg;
        int sync_pair[2], out_pipe[2], err_pipe[2];
        int devnull, pidfd, tfd;
        int *bind_fds; /* detached clones of the bind sources, nbind of them */
        size_t nbind;
        int *keep;
        long pid;          /* init, once cloned */
        bool stdio_closed; /* cfg->close_stdio: the caller's fds are closed */
        bool init_alive, sync_open;
        struct child_ctx c;
        struct run_state s;
        struct pump pumps[2]; /* stdout (fd -1 when direct), stderr */
        uint64_t t_begin, t_clone;
};

/* What an epoll event is about: (jail index << 8) | one of these. */
enum { EV_INIT, EV_SYNC, EV_TIMER, EV_PUMP /* + 0 stdout, + 1 stderr */ };

static int watch(int ep, int fd, size_t jail, unsigned what, jr_error *e)
{
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)jail << 8 | what};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
                return jr_error_errno(e, "epoll_ctl");
        return 0;
}

static void on_init_exit(int ep, struct jail_run *r)
{
        int sync_fd = r->sync_pair[0];
        /* Messages sent before init died are still queued. */
        while (r->sync_open) {
                struct pollfd p = {sync_fd, POLLIN, 0};
                if (poll(&p, 1, 0) <= 0)
                        break;
                on_sync(&r->s, sync_fd, &r->sync_open);
        }
        r->init_alive = false;
        if (!r->s.end_ns)
                r->s.end_ns = jr_mono_ns();
        epoll_ctl(ep, EPOLL_CTL_DEL, r->pidfd, NULL);
        if (r->sync_open)
                epoll_ctl(ep, EPOLL_CTL_DEL, sync_fd, NULL);
        r->sync_open = false;
        arm_timer(r->tfd, UINT64_MAX);
}

static bool any_active(const struct jail_run *runs, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (runs[i].init_alive || runs[i].pumps[0].fd >= 0 || runs[i].pumps[1].fd >= 0)
                        return true;
        return false;
}

/* The event loop of the runs: for each jail, init's pidfd, the sync socket, the output
 * pipes and a timerfd, all in one epoll. Returns when every init has exited and every
 * pipe is drained. The jails run independently: one ending (or being killed) ends
 * nothing else; each has its own limits. */
static int supervise(jr_sandbox *sb, struct jail_run *runs, size_t n, jr_error *e)
{
        _cleanup_close_ int ep = epoll_create1(EPOLL_CLOEXEC);
        if (ep < 0)
                return jr_error_errno(e, "epoll_create1");
        bool poll_memory = jr_cg_get_fallbacks(sb->cg) & JR_FB_NO_MEMORY_PEAK;
        for (size_t i = 0; i < n; i++) {
                struct jail_run *r = &runs[i];
                r->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
                if (r->tfd < 0)
                        return jr_error_errno(e, "timerfd_create");
                if (watch(ep, r->pidfd, i, EV_INIT, e) < 0 ||
                    watch(ep, r->sync_pair[0], i, EV_SYNC, e) < 0 ||
                    watch(ep, r->tfd, i, EV_TIMER, e) < 0)
                        return -1;
                for (unsigned k = 0; k < 2; k++)
                        if (r->pumps[k].fd >= 0 && watch(ep, r->pumps[k].fd, i, EV_PUMP + k, e) < 0)
                                return -1;
                r->init_alive = r->sync_open = true;
                arm_timer(r->tfd, next_tick_ns(&r->s, sb->ncpu, poll_memory));
        }

        while (any_active(runs, n)) {
                struct epoll_event evs[8];
                int nev = epoll_wait(ep, evs, 8, -1);
                if (nev < 0) {
                        if (errno == EINTR)
                                continue;
                        return jr_error_errno(e, "epoll_wait");
                }
                for (int i = 0; i < nev; i++) {
                        struct jail_run *r = &runs[evs[i].data.u64 >> 8];
                        unsigned what = (unsigned)(evs[i].data.u64 & 0xff);
                        if (what == EV_INIT) {
                                on_init_exit(ep, r);
                        } else if (what == EV_SYNC) {
                                on_sync(&r->s, r->sync_pair[0], &r->sync_open);
                                if (!r->sync_open)
                                        epoll_ctl(ep, EPOLL_CTL_DEL, r->sync_pair[0], NULL);
                        } else if (what == EV_TIMER) {
                                uint64_t x;
                                if (read(r->tfd, &x, sizeof x) < 0) {
                                        /* spurious wake-up */
                                }
                                if (r->init_alive && !r->s.killed) {
                                        check_limits(&r->s);
                                        if (!r->s.killed)
                                                arm_timer(r->tfd, next_tick_ns(&r->s, sb->ncpu,
                                                                               poll_memory));
                                }
                        } else {
                                struct pump *p = &r->pumps[what - EV_PUMP];
                                if (p->fd >= 0) {
                                        int fd = p->fd;
                                        pump_read(&r->s, p);
                                        if (p->fd < 0)
                                                epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
                                }
                        }
                }
        }
        return 0;
}

/* Clone fn(arg) with `flags` on `stack`, every signal blocked in between so that the
 * child starts with all of them blocked (see the top of the file). */
static long clone_on_stack(uint64_t flags, int *pidfd, char *stack, size_t size, int (*fn)(void *),
                           void *arg)
{
        struct clone_args args = {
            .flags = flags,
            .pidfd = (uint64_t)(uintptr_t)pidfd,
            .exit_signal = SIGCHLD,
            .stack = (uint64_t)(uintptr_t)stack,
            .stack_size = size,
        };
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        long pid = jr_clone3(&args, sizeof args, fn, arg);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        return pid;
}

static void template_drop(jr_root_template *t)
{
        if (!t->key)
                return;
        free(t->key);
        free(t->tree);
        close(t->nsfd);
        if (t->treefd >= 0)
                close(t->treefd); /* and its lock: the tree may be deleted once unused */
        *t = (jr_root_template){.nsfd = -1, .treefd = -1};
}

/* The template mount namespace for this plan: cached in the sandbox, built on first use
 * (a few ms), then each run only copies it. Returns its fd (owned by the sandbox). The
 * template keeps the plan's locked tree fd. */
static int template_get(jr_slot *slot, const jr_run_config *cfg, jr_mount_plan *plan, jr_error *e)
{
        jr_sandbox *sb = slot->sb;
        char key[8192];
        if (jr_mount_plan_key(cfg, plan, key, sizeof key, e) < 0)
                return -1;
        for (size_t i = 0; i < JR_TEMPLATES; i++)
                if (sb->templates[i].key && !strcmp(sb->templates[i].key, key))
                        return sb->templates[i].nsfd;
        /* A template of a tree that its path no longer names (rebuilt and swapped in by
         * rename since) can never be used again: drop it, and its lock, so that the old
         * tree can be deleted. */
        for (size_t i = 0; cfg->rootfs && i < JR_TEMPLATES; i++) {
                jr_root_template *t = &sb->templates[i];
                if (t->key && t->tree && !strcmp(t->tree, cfg->rootfs) &&
                    (t->dev != plan->root_dev || t->ino != plan->root_ino))
                        template_drop(t);
        }

        _cleanup_free_ char *k = strdup(key);
        _cleanup_free_ char *tree = cfg->rootfs ? strdup(cfg->rootfs) : NULL;
        _cleanup_free_ int *tree_fds = calloc(plan->n + 1, sizeof *tree_fds);
        if (!k || (cfg->rootfs && !tree) || !tree_fds)
                return jr_error_set(e, ENOMEM, "template key");
        size_t ntree = 0;
        int r = jr_mount_tree_clones(plan, tree_fds, &ntree, e);
        struct template_ctx t = {
            .plan = plan, .tree_fds = tree_fds, .newroot = sb->newroot, .nsfd = -1};
        long pid =
            r < 0 ? -1
                  : clone_on_stack(CLONE_VM | CLONE_VFORK | CLONE_FILES | CLONE_NEWNS, NULL,
                                   slot->init_stack, slot->stack_size, jr_child_template_main, &t);
        /* the child has exited (CLONE_VFORK): the clones are attached in its namespace */
        for (size_t i = 0; i < ntree; i++)
                close(tree_fds[i]);
        if (r < 0)
                return jr_error_wrap(e, "jail setup");
        if (pid < 0)
                return jr_error_set(e, (int)-pid, "clone3 a new mount namespace");
        while (waitpid((pid_t)pid, NULL, __WALL) < 0 && errno == EINTR)
                ;
        if (t.nsfd < 0) {
                *e = t.err;
                jr_error_add_strerror(e);
                return jr_error_wrap(e, "jail setup");
        }
        /* an empty entry if there is one, else the oldest */
        size_t slot_i = sb->template_next;
        for (size_t i = 0; i < JR_TEMPLATES; i++)
                if (!sb->templates[i].key) {
                        slot_i = i;
                        break;
                }
        jr_root_template *old = &sb->templates[slot_i];
        template_drop(old);
        *old = (jr_root_template){.key = TAKE_PTR(k),
                                  .nsfd = t.nsfd,
                                  .treefd = TAKE_FD(plan->root_fd),
                                  .tree = TAKE_PTR(tree),
                                  .dev = plan->root_dev,
                                  .ino = plan->root_ino};
        if (slot_i == sb->template_next)
                sb->template_next = (sb->template_next + 1) % JR_TEMPLATES;
        return t.nsfd;
}

static int cmp_int(const void *a, const void *b)
{
        return *(const int *)a - *(const int *)b;
}

static void fill_result(struct run_state *s, jr_run_result *res)
{
        jr_cg_stats st = {0};
        jr_cg_run_stats(s->cg, &st, NULL);
        uint64_t cpu = st.cpu_ns;
        res->cpu_ms = cpu / 1000000ull;
        res->wall_us = ((s->end_ns ? s->end_ns : jr_mono_ns()) - s->start_ns) / 1000ull;
        res->wall_ms = res->wall_us / 1000ull;
        res->memory_peak_bytes = st.mem_peak;
        res->oom_killed = st.oom_kills > 0;

        if (s->exited) {
                if (WIFSIGNALED(s->wait_status)) {
                        res->signal = WTERMSIG(s->wait_status);
                        res->exit_code = -1;
                } else {
                        res->exit_code = WEXITSTATUS(s->wait_status);
                }
        }
        /* Order matters: our own kill decides first, then the kernel's OOM verdict, then
         * a CPU overrun between two ticks, then how the program ended. */
        if (s->killed && s->kill_status == JR_JAIL_OL) {
                res->status = JR_JAIL_OL;
                snprintf(res->reason, sizeof res->reason, "%s", s->kill_reason);
        } else if (res->oom_killed) {
                res->status = JR_JAIL_ML;
                snprintf(res->reason, sizeof res->reason, "oom kill");
        } else if (s->killed) {
                res->status = s->kill_status;
                snprintf(res->reason, sizeof res->reason, "%s", s->kill_reason);
        } else if (s->cfg->cpu_ms && cpu > s->cfg->cpu_ms * 1000000ull) {
                res->status = JR_JAIL_TL;
                snprintf(res->reason, sizeof res->reason, "cpu time");
        } else if (!s->exited) {
                res->status = JR_JAIL_RE;
                snprintf(res->reason, sizeof res->reason, "jail ended without the program");
        } else if (res->signal) {
                res->status = JR_JAIL_RE;
                snprintf(res->reason, sizeof res->reason, "signal %d", res->signal);
        } else if (res->exit_code != 0) {
                res->status = JR_JAIL_RE;
                snprintf(res->reason, sizeof res->reason, "exit code %d", res->exit_code);
        } else {
                res->status = JR_JAIL_OK;
        }
}

static int run_fail(jr_run_result *res, jr_error *e)
{
        res->status = JR_JAIL_IE;
        res->error = *e;
        snprintf(res->reason, sizeof res->reason, "internal error");
        return -1;
}

/* Wait for init's READY (the program is past its execve) or its setup error, bounded:
 * a broken jail must never hang the supervisor. An error of the program's own setup may
 * come first. */
static int await_ready(struct run_state *s, int sync_fd, jr_error *e)
{
        uint64_t deadline = jr_mono_ns() + SETUP_TIMEOUT_MS * 1000000ull;
        for (;;) {
                uint64_t now = jr_mono_ns();
                int left = now < deadline ? (int)((deadline - now) / 1000000ull) + 1 : 0;
                struct pollfd pf = {sync_fd, POLLIN, 0};
                int pr = poll(&pf, 1, left);
                if (pr < 0 && errno == EINTR)
                        continue;
                if (pr == 0)
                        return jr_error_set(e, ETIMEDOUT, "jail setup did not finish in %d ms",
                                            SETUP_TIMEOUT_MS);
                jr_sync_msg m;
                int r = pr > 0 ? sync_recv(sync_fd, &m) : -1;
                if (r == 1 && m.type == SYNC_READY) {
                        s->start_ns = m.t_ns;
                        return 0;
                }
                if (r == 1 && m.type == SYNC_EXEC_ERR) {
                        s->exec_failed = true;
                        s->exec_err = m.err;
                        continue;
                }
                if (r == 1 && m.type == SYNC_SETUP_ERR) {
                        *e = m.err;
                        return jr_error_wrap(e, "jail setup");
                }
                return jr_error_set(e, EPIPE, "jail setup: init exited without a report");
        }
}

/* The caller's bind sources, cloned here, where their paths mean what the caller meant;
 * init attaches them in its own namespace. *n counts the fds opened, also on failure. */
static int clone_binds(const jr_run_config *cfg, int *bind_fds, size_t *n, jr_error *e)
{
        for (; *n < cfg->nbinds; (*n)++) {
                long fd = syscall(SYS_open_tree, AT_FDCWD, cfg->binds[*n].src,
                                  OPEN_TREE_CLONE | O_CLOEXEC);
                if (fd < 0)
                        return jr_error_errno(e, "bind \"%s\": clone the mount",
                                              cfg->binds[*n].src);
                bind_fds[*n] = (int)fd;
        }
        return 0;
}

/* The fds that init keeps across its close_range, sorted: *out (malloc'd) and *n. */
static int keep_list(const struct child_ctx *c, size_t nbind, int **out, size_t *n, jr_error *e)
{
        int fixed[] = {c->sync_fd,        c->stdin_fd,    c->stdout_fd,  c->stderr_fd,
                       c->slot->netns_fd, c->template_fd, c->cg_clone_fd};
        size_t nkeep = 0;
        int *keep = calloc(JR_ARRAY_SIZE(fixed) + (size_t)c->n_cg_procs + nbind, sizeof *keep);
        if (!keep)
                return jr_error_set(e, ENOMEM, "fd list");
        for (size_t i = 0; i < JR_ARRAY_SIZE(fixed); i++)
                keep[nkeep++] = fixed[i];
        for (int i = 0; i < c->n_cg_procs; i++)
                keep[nkeep++] = c->cg_procs_fds[i];
        for (size_t i = 0; i < nbind; i++)
                keep[nkeep++] = c->bind_fds[i];
        qsort(keep, nkeep, sizeof *keep, cmp_int);
        *out = keep;
        *n = nkeep;
        return 0;
}

/* The run's cgroup, named after the slot and the sandbox's run count. */
static int run_cgroup(jr_slot *slot, const jr_run_config *cfg, jr_cg_run **out, jr_error *e)
{
        char name[64];
        snprintf(name, sizeof name, "s%u-%llu", slot->index, (unsigned long long)++slot->sb->seq);
        jr_cg_limits lim = {
            .mem_bytes = cfg->mem_bytes, .pids = cfg->pids, .nano_cpus = cfg->nano_cpus};
        return jr_cg_run_create(slot->sb->cg, name, &lim, out, e);
}

/* The caller's stdio fds, when the run owns them (close_stdio). */
static void close_caller_stdio(struct jail_run *r)
{
        const jr_run_config *cfg = r->cfg;
        if (!cfg->close_stdio || r->stdio_closed)
                return;
        r->stdio_closed = true;
        if (cfg->stdin_fd >= 0)
                close(cfg->stdin_fd);
        if (cfg->stdout_direct && cfg->stdout_fd >= 0 && cfg->stdout_fd != cfg->stdin_fd)
                close(cfg->stdout_fd);
}

/* Prepare and clone one jail, and wait until its program is past its execve (or
 * failed to get there: then < 0). run_finish() cleans up after either. */
static int run_start(struct jail_run *r, jr_error *e)
{
        const jr_run_config *cfg = r->cfg;
        jr_slot *slot = r->slot;
        r->t_begin = jr_mono_ns();
        if (!cfg->argv || !cfg->argv[0] || !cfg->argv[0][0])
                return jr_error_set(e, EINVAL, "no command to run");
        if (cfg->stdout_direct && cfg->stdout_fd < 0)
                return jr_error_set(e, EINVAL, "a direct stdout needs an fd");

        if (jr_mount_plan_build(cfg, &r->plan, e) < 0)
                return -1;
        int template_fd = template_get(slot, cfg, &r->plan, e);
        if (template_fd < 0)
                return -1;
        r->bind_fds = calloc(cfg->nbinds + 1, sizeof *r->bind_fds);
        if (!r->bind_fds)
                return jr_error_set(e, ENOMEM, "bind mounts");
        if (clone_binds(cfg, r->bind_fds, &r->nbind, e) < 0)
                return -1;

        if (cfg->stdin_fd < 0 && (r->devnull = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0)
                return jr_error_errno(e, "open /dev/null");
        int stdin_fd = cfg->stdin_fd >= 0 ? cfg->stdin_fd : r->devnull;
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, r->sync_pair) < 0 ||
            (!cfg->stdout_direct && pipe2(r->out_pipe, O_CLOEXEC) < 0) ||
            pipe2(r->err_pipe, O_CLOEXEC) < 0)
                return jr_error_errno(e, "create the jail's sockets and pipes");

        if (run_cgroup(slot, cfg, &r->cg, e) < 0)
                return -1;

        r->c = (struct child_ctx){
            .slot = slot,
            .cfg = cfg,
            .plan = &r->plan,
            .envp = cfg->envp,
            .workdir = cfg->workdir ? cfg->workdir : "/work",
            .rl =
                {
                    /* backstop only: the cgroup CPU clock is the real limit */
                    .cpu_s = cfg->cpu_ms ? cfg->cpu_ms / 1000 + 2 : 0,
                    .fsize = cfg->fsize,
                    .nofile = cfg->nofile, /* 0: rlimits.c's defaults */
                    .stack = cfg->stack,
                },
            .sync_fd = r->sync_pair[1],
            .stdin_fd = stdin_fd,
            .stdout_fd = cfg->stdout_direct ? cfg->stdout_fd : r->out_pipe[1],
            .stderr_fd = r->err_pipe[1],
            .template_fd = template_fd,
            .bind_fds = r->bind_fds,
            .cg_clone_fd = jr_cg_run_clone_fd(r->cg),
        };
        struct child_ctx *c = &r->c;
        if (c->cg_clone_fd < 0) {
                c->n_cg_procs = jr_cg_run_procs_fds(r->cg, c->cg_procs_fds, MAX_CG_FDS, e);
                if (c->n_cg_procs < 0)
                        return -1;
        }
        if (keep_list(c, r->nbind, &r->keep, &c->nkeep, e) < 0)
                return -1;
        c->keep = r->keep;

        r->t_clone = jr_mono_ns();
        r->pid =
            clone_on_stack(CLONE_VM | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_PIDFD,
                           &r->pidfd, slot->init_stack, slot->stack_size, jr_child_init_main, c);
        if (r->pid < 0) {
                long err = r->pid;
                r->pid = -1;
                return jr_error_set(e, (int)-err, "clone3 into new namespaces");
        }

        /* the jail's ends: init has its own copies, and ours would keep EOF away (from
         * us, and through a direct stdout or a caller's pipe, from the other jail) */
        close(TAKE_FD(r->sync_pair[1]));
        if (r->out_pipe[1] >= 0)
                close(TAKE_FD(r->out_pipe[1]));
        close(TAKE_FD(r->err_pipe[1]));
        close_caller_stdio(r);

        r->s = (struct run_state){.cfg = cfg, .cg = r->cg, .pidfd = r->pidfd};
        if (await_ready(&r->s, r->sync_pair[0], e) < 0)
                return -1; /* run_finish kills init */
        if (r->s.exec_failed) {
                *e = r->s.exec_err;
                return -1;
        }
        r->res->timing.prepare_us = (r->t_clone - r->t_begin) / 1000;
        r->res->timing.setup_us = (r->s.start_ns - r->t_clone) / 1000;

        /* the pumps own the read ends now */
        r->pumps[0] = (struct pump){TAKE_FD(r->out_pipe[0]), cfg->stdout_fd, &r->res->stdout_bytes};
        r->pumps[1] = (struct pump){TAKE_FD(r->err_pipe[0]), cfg->stderr_fd, &r->res->stderr_bytes};
        for (int k = 0; k < 2; k++)
                if (r->pumps[k].fd >= 0)
                        fcntl(r->pumps[k].fd, F_SETFL, O_NONBLOCK);
        return 0;
}

static void close_fd(int *fd)
{
        if (*fd >= 0)
                close(TAKE_FD(*fd));
}

/* Reap, clean up and (when ok) fill the result of one jail, started or not. Returns
 * < 0 when the clean-up itself failed. */
static int run_finish(struct jail_run *r, bool ok, jr_error *e)
{
        int ret = 0;
        uint64_t t_end = 0;
        if (ok) {
                fill_result(&r->s, r->res);
                t_end = r->s.end_ns;
        }
        if (r->pid > 0) {
                /* Nothing of the jail may survive the run: the cgroup kill reaches the
                 * program and its descendants, init ends by itself once the program is
                 * gone (or was killed). */
                jr_cg_run_kill(r->cg, NULL);
                if (!ok)
                        syscall(SYS_pidfd_send_signal, r->pidfd, SIGKILL, NULL, 0);
                while (waitpid((pid_t)r->pid, NULL, __WALL) < 0 && errno == EINTR)
                        ;
        }
        close_caller_stdio(r);
        for (size_t i = 0; i < r->nbind; i++)
                close(r->bind_fds[i]);
        for (int k = 0; k < 2; k++) {
                close_fd(&r->pumps[k].fd);
                close_fd(&r->sync_pair[k]);
                close_fd(&r->out_pipe[k]);
                close_fd(&r->err_pipe[k]);
        }
        close_fd(&r->devnull);
        close_fd(&r->pidfd);
        close_fd(&r->tfd);
        if (r->cg && jr_cg_run_destroy(r->cg, e) < 0)
                ret = -1;
        jr_mount_plan_free(&r->plan);
        free(r->bind_fds);
        free(r->keep);
        if (ret == 0 && ok)
                r->res->timing.teardown_us = t_end ? (jr_mono_ns() - t_end) / 1000 : 0;
        return ret;
}

int jr_jail_run_many(jr_slot *const *slots, const jr_run_config *const *cfgs, jr_run_result *res,
                     size_t n, jr_error *e)
{
        int ret = 0;
        for (size_t i = 0; i < n; i++) {
                memset(&res[i], 0, sizeof res[i]);
                res[i].exit_code = -1;
        }
        struct jail_run *runs = calloc(n ? n : 1, sizeof *runs);
        if (!runs) {
                jr_error_set(e, ENOMEM, "jail runs");
                for (size_t i = 0; i < n; i++) {
                        if (cfgs[i]->close_stdio) {
                                struct jail_run r = {.cfg = cfgs[i]};
                                close_caller_stdio(&r);
                        }
                        run_fail(&res[i], e);
                }
                return -1;
        }
        for (size_t i = 0; i < n; i++) {
                struct jail_run *r = &runs[i];
                *r = (struct jail_run){.slot = slots[i],
                                       .cfg = cfgs[i],
                                       .res = &res[i],
                                       .plan = {.root_fd = -1},
                                       .pid = -1};
                r->sync_pair[0] = r->sync_pair[1] = r->out_pipe[0] = r->out_pipe[1] = -1;
                r->err_pipe[0] = r->err_pipe[1] = r->devnull = r->pidfd = r->tfd = -1;
                r->pumps[0].fd = r->pumps[1].fd = -1;
                /* a slot runs one jail at a time: its stacks are the jail's */
                for (size_t k = 0; k < i; k++)
                        if (slots[k] == slots[i] && ret == 0)
                                ret = jr_error_set(e, EINVAL, "jail %zu: slot %u is already in use",
                                                   i, slots[i]->index);
                if (slots[i]->sb != slots[0]->sb && ret == 0)
                        ret = jr_error_set(e, EINVAL, "jail %zu: another sandbox's slot", i);
        }
        for (size_t i = 0; i < n && ret == 0; i++)
                if (run_start(&runs[i], e) < 0)
                        ret = n > 1 ? jr_error_wrap(e, "jail %zu", i) : -1;
        if (ret == 0 && n > 0 && supervise(slots[0]->sb, runs, n, e) < 0) {
                for (size_t i = 0; i < n; i++)
                        if (runs[i].pid > 0)
                                kill_jail(&runs[i].s, JR_JAIL_IE, "supervisor failure");
                ret = -1;
        }
        for (size_t i = 0; i < n && ret == 0; i++)
                if (runs[i].s.exec_failed) {
                        *e = runs[i].s.exec_err;
                        ret = n > 1 ? jr_error_wrap(e, "jail %zu", i) : -1;
                }
        for (size_t i = 0; i < n; i++) {
                jr_error fe;
                if (run_finish(&runs[i], ret == 0, &fe) < 0 && ret == 0) {
                        *e = fe;
                        ret = -1;
                }
        }
        free(runs);
        if (ret < 0)
                for (size_t i = 0; i < n; i++)
                        run_fail(&res[i], e);
        return ret;
}

int jr_jail_run(jr_slot *slot, const jr_run_config *cfg, jr_run_result *res, jr_error *e)
{
        return jr_jail_run_many(&slot, &cfg, res, 1, e);
}
