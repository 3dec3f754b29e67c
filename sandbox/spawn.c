/* One run of a jail: clone, set up, exec, supervise, measure, kill, clean up.
 *
 * Processes:
 *   supervisor   this process. Owns the cgroup, the pipes and the clock; decides TL/OL.
 *   init         PID 1 of the jail's pid namespace, root, born in the run cgroup
 *                (clone3 CLONE_INTO_CGROUP) or moved there before it does anything. It
 *                builds the filesystem, pivots, then forks the program and reaps every
 *                orphan. When the program exits, init reports its wait status and exits;
 *                the kernel then kills whatever else is left in the namespace, so a
 *                setsid + double-fork escapee dies with the run.
 *   program      PID 2: drops to the slot's uid with no capabilities, loads seccomp last
 *                and execs the command.
 *
 * Supervisor and jail talk over a SOCK_SEQPACKET socket: every message is one
 * jr_sync_msg. A setup failure in the jail travels back as a jr_error with the step and
 * errno and becomes IE; the program's own failures become RE/TL/ML/OL. */
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "caps.h"
#include "cleanup.h"
#include "internal.h"
#include "rlimits.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif

#define SETUP_TIMEOUT_MS 10000 /* a jail that has not reported after this is broken */
#define OUTPUT_CHUNK     65536
#define DEFAULT_NOFILE   64
#define DEFAULT_STACK    (8ull << 20)
#define POLL_TICK_NS     (20 * 1000000ull) /* memory.current sampling when memory.peak is missing */

enum jr_sync_type {
        SYNC_GO = 1,    /* supervisor -> init: in the run cgroup, build the jail */
        SYNC_READY,     /* init -> supervisor: jail built, the program starts now */
        SYNC_SETUP_ERR, /* init -> supervisor: building the jail failed (err) */
        SYNC_EXEC_ERR,  /* program -> supervisor: a step before or at execve failed (err) */
        SYNC_EXITED,    /* init -> supervisor: the program ended with wait status `status` */
};

typedef struct jr_sync_msg {
        int type;
        int status;
        jr_error err;
} jr_sync_msg;

/* Everything the jail needs, prepared by the supervisor before clone. */
struct child_ctx {
        const jr_slot *slot;
        const jr_run_config *cfg;
        const jr_mount_plan *plan;
        char *const *envp;
        const char *workdir;
        jr_rlimits rl;
        int sync_fd;
        int stdin_fd, stdout_fd, stderr_fd;
};

static uint64_t now_ns(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int sync_send(int fd, int type, int status, const jr_error *err)
{
        jr_sync_msg m = {.type = type, .status = status};
        if (err)
                m.err = *err;
        ssize_t n;
        do
                n = send(fd, &m, sizeof m, MSG_NOSIGNAL);
        while (n < 0 && errno == EINTR);
        return n == (ssize_t)sizeof m ? 0 : -1;
}

static int sync_recv(int fd, jr_sync_msg *m)
{
        ssize_t n;
        do
                n = recv(fd, m, sizeof *m, 0);
        while (n < 0 && errno == EINTR);
        if (n == 0)
                return 0; /* the other side is gone */
        return n == (ssize_t)sizeof *m ? 1 : -1;
}

/* ---------------- inside the jail ---------------- */

static int cmp_int(const void *a, const void *b)
{
        return *(const int *)a - *(const int *)b;
}

/* Close every fd but `keep`: init does not exec, so O_CLOEXEC does not protect it from
 * holding the supervisor's fds (other jails' pipes, which would then never see EOF). */
static void close_all_except(int *keep, size_t n)
{
        qsort(keep, n, sizeof *keep, cmp_int);
        unsigned lo = 0;
        for (size_t i = 0; i < n; i++) {
                if (keep[i] < 0)
                        continue;
                if ((unsigned)keep[i] > lo)
                        syscall(SYS_close_range, lo, (unsigned)keep[i] - 1, 0);
                lo = (unsigned)keep[i] + 1;
        }
        syscall(SYS_close_range, lo, ~0U, 0);
}

static const char *env_get(char *const *envp, const char *name)
{
        size_t n = strlen(name);
        for (; envp && *envp; envp++)
                if (!strncmp(*envp, name, n) && (*envp)[n] == '=')
                        return *envp + n + 1;
        return NULL;
}

/* execve with a PATH search in the jail's own environment (execvpe would use ours). */
static int exec_command(char *const *argv, char *const *envp)
{
        static char *const empty[] = {NULL};
        if (!envp)
                envp = empty;
        if (strchr(argv[0], '/')) {
                execve(argv[0], argv, envp);
                return -errno;
        }
        const char *path = env_get(envp, "PATH");
        if (!path)
                path = "/usr/local/bin:/usr/bin:/bin";
        int err = ENOENT;
        char buf[4096];
        while (*path) {
                const char *end = strchrnul(path, ':');
                int len = (int)(end - path);
                snprintf(buf, sizeof buf, "%.*s/%s", len, len ? path : ".", argv[0]);
                execve(buf, argv, envp);
                if (errno != ENOENT && errno != ENOTDIR)
                        err = errno;
                path = *end ? end + 1 : end;
        }
        return -err;
}

/* The program, PID 2. The checklist, top to bottom: fds, signals, rlimits, cwd,
 * no_new_privs, capabilities and credentials, seccomp, exec. */
static __attribute__((noreturn)) void program_main(const struct child_ctx *c)
{
        jr_error err = {0};
        const char *which = "";
        int r;

        if (dup2(c->stdin_fd, 0) < 0 || dup2(c->stdout_fd, 1) < 0 || dup2(c->stderr_fd, 2) < 0) {
                jr_error_errno(&err, "dup2 stdio");
                goto fail;
        }
        /* Every other fd closes at exec; the sync socket stays usable until then. */
        if (syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC) < 0) {
                jr_error_errno(&err, "close_range");
                goto fail;
        }

        /* Ignored signals and the signal mask survive execve: a supervisor that blocks
         * signals for its signalfd must not hand that to the program. */
        struct sigaction dfl = {.sa_handler = SIG_DFL};
        for (int s = 1; s < _NSIG; s++)
                sigaction(s, &dfl, NULL);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);

        /* Rlimits first: they do not need privileges, and lowering them later would. */
        r = jr_rlimits_apply(&c->rl, &which);
        if (r < 0) {
                jr_error_set(&err, -r, "setrlimit %s", which);
                goto fail;
        }
        if (chdir(c->workdir) < 0) {
                jr_error_errno(&err, "chdir to the work dir \"%s\"", c->workdir);
                goto fail;
        }
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
                jr_error_errno(&err, "prctl(PR_SET_NO_NEW_PRIVS)");
                goto fail;
        }
        /* The bounding set can only be cleared while we still hold CAP_SETPCAP. */
        r = jr_caps_drop_bounding();
        if (r < 0) {
                jr_error_set(&err, -r, "drop the capability bounding set");
                goto fail;
        }
        r = jr_caps_become(c->slot->uid, c->slot->gid);
        if (r < 0) {
                jr_error_set(&err, -r, "switch to uid %u gid %u without capabilities",
                             (unsigned)c->slot->uid, (unsigned)c->slot->gid);
                goto fail;
        }
        /* Parent-death signal is cleared by a uid change, so it is set after it: if init
         * dies the program must not outlive it (the kernel would kill it anyway, as
         * init's death tears down the pid namespace; this is belt and braces). */
        prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);

        /* Seccomp last: everything above needed syscalls the filter forbids. */
        r = jr_seccomp_load(&c->slot->sb->seccomp);
        if (r < 0) {
                jr_error_set(&err, -r, "load the seccomp filter");
                goto fail;
        }
        r = exec_command(c->cfg->argv, c->envp);
        jr_error_set(&err, -r, "execve \"%s\"", c->cfg->argv[0]);
fail:
        sync_send(c->sync_fd, SYNC_EXEC_ERR, 0, &err);
        _exit(127);
}

/* Init, PID 1 of the jail. Never returns. */
static __attribute__((noreturn)) void init_main(struct child_ctx *c)
{
        jr_error err = {0};
        jr_sync_msg m;

        /* If the supervisor dies, so does the jail (init's death kills the namespace). */
        prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
        int keep[] = {c->sync_fd, c->stdin_fd, c->stdout_fd, c->stderr_fd, c->slot->netns_fd};
        close_all_except(keep, JR_ARRAY_SIZE(keep));

        /* Wait until the supervisor has put us in the run cgroup (v1). */
        if (sync_recv(c->sync_fd, &m) != 1 || m.type != SYNC_GO)
                _exit(1);

        if (setns(c->slot->netns_fd, CLONE_NEWNET) < 0) {
                jr_error_errno(&err, "join the slot's network namespace");
                goto fail;
        }
        close(c->slot->netns_fd);
        if (sethostname("jailrun", 7) < 0) {
                jr_error_errno(&err, "sethostname");
                goto fail;
        }
        if (jr_mount_plan_enter(c->plan, c->slot->sb->newroot, c->slot->uid, c->slot->gid, &err) <
            0)
                goto fail;

        /* The supervisor takes its CPU baseline and starts the clock when READY arrives;
         * waiting for its answer would cost a round trip per run for a few microseconds
         * of precision. */
        if (sync_send(c->sync_fd, SYNC_READY, 0, NULL) < 0)
                _exit(1);

        pid_t prog = fork();
        if (prog < 0) {
                jr_error_errno(&err, "fork the program");
                goto fail;
        }
        if (prog == 0)
                program_main(c);
        close(c->stdin_fd);
        close(c->stdout_fd);
        close(c->stderr_fd);

        /* PID 1 reaps every orphan; SIGCHLDs coalesce, so just wait for anything. */
        for (;;) {
                int st;
                pid_t p = waitpid(-1, &st, __WALL);
                if (p == prog) {
                        sync_send(c->sync_fd, SYNC_EXITED, st, NULL);
                        _exit(0);
                }
                if (p < 0 && errno == ECHILD)
                        _exit(0);
        }
fail:
        sync_send(c->sync_fd, SYNC_SETUP_ERR, 0, &err);
        _exit(1);
}

/* ---------------- the supervisor ---------------- */

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
        uint64_t cpu0_ns;
        uint64_t cpu_ns;  /* last sample, since cpu0 */
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
                        s->end_ns = now_ns();
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
                        close(p->fd);
                        p->fd = -1;
                        return;
                }
                *p->count += (uint64_t)n;
                uint64_t lim = s->cfg->output_limit;
                size_t pass = (size_t)n;
                if (lim && s->written + pass > lim)
                        pass = (size_t)(lim - s->written);
                if (p->target >= 0 && pass > 0) {
                        size_t off = 0;
                        while (off < pass) {
                                ssize_t w = write(p->target, buf + off, pass - off);
                                if (w < 0 && errno == EINTR)
                                        continue;
                                if (w <= 0) {
                                        p->target = -1; /* reader gone: keep counting */
                                        break;
                                }
                                off += (size_t)w;
                        }
                }
                s->written += pass;
                if (lim && s->written >= lim && pass < (size_t)n)
                        kill_jail(s, JR_JAIL_OL, "output limit");
        }
}

/* When to look at the CPU clock again: CPU time grows at most ncpu times faster than wall
 * time, so no check is needed before the remaining budget could be spent. */
static uint64_t next_tick_ns(const struct run_state *s, int ncpu, bool poll_memory)
{
        uint64_t t = UINT64_MAX, now = now_ns();
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
                s->cpu_ns = cpu > s->cpu0_ns ? cpu - s->cpu0_ns : 0;
        if (s->cfg->cpu_ms && s->cpu_ns >= s->cfg->cpu_ms * 1000000ull)
                kill_jail(s, JR_JAIL_TL, "cpu time");
        else if (s->cfg->wall_ms && now_ns() - s->start_ns >= s->cfg->wall_ms * 1000000ull)
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
                        s->end_ns = now_ns();
        }
}

/* The event loop of one run: init's pidfd, the sync socket, the two output pipes and a
 * timerfd, in one epoll. Returns when init has exited and the pipes are drained. */
static int supervise(jr_sandbox *sb, struct run_state *s, int sync_fd, struct pump pumps[2],
                     jr_error *e)
{
        _cleanup_close_ int ep = epoll_create1(EPOLL_CLOEXEC);
        _cleanup_close_ int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
        if (ep < 0 || tfd < 0)
                return jr_error_errno(e, "epoll/timerfd");
        struct epoll_event ev = {.events = EPOLLIN};
        ev.data.u32 = 0;
        epoll_ctl(ep, EPOLL_CTL_ADD, s->pidfd, &ev);
        ev.data.u32 = 1;
        epoll_ctl(ep, EPOLL_CTL_ADD, sync_fd, &ev);
        ev.data.u32 = 2;
        epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev);
        for (int i = 0; i < 2; i++) {
                ev.data.u32 = 3 + (unsigned)i;
                epoll_ctl(ep, EPOLL_CTL_ADD, pumps[i].fd, &ev);
        }
        bool poll_memory = jr_cg_get_fallbacks(sb->cg) & JR_FB_NO_MEMORY_PEAK;
        arm_timer(tfd, next_tick_ns(s, sb->ncpu, poll_memory));

        bool init_alive = true, sync_open = true;
        while (init_alive || pumps[0].fd >= 0 || pumps[1].fd >= 0) {
                struct epoll_event evs[8];
                int n = epoll_wait(ep, evs, 8, -1);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return jr_error_errno(e, "epoll_wait");
                }
                for (int i = 0; i < n; i++) {
                        uint32_t id = evs[i].data.u32;
                        if (id == 0) {
                                /* Messages sent before init died are still queued. */
                                while (sync_open) {
                                        struct pollfd p = {sync_fd, POLLIN, 0};
                                        if (poll(&p, 1, 0) <= 0)
                                                break;
                                        on_sync(s, sync_fd, &sync_open);
                                }
                                init_alive = false;
                                if (!s->end_ns)
                                        s->end_ns = now_ns();
                                epoll_ctl(ep, EPOLL_CTL_DEL, s->pidfd, NULL);
                                if (sync_open)
                                        epoll_ctl(ep, EPOLL_CTL_DEL, sync_fd, NULL);
                                sync_open = false;
                                arm_timer(tfd, UINT64_MAX);
                        } else if (id == 1) {
                                on_sync(s, sync_fd, &sync_open);
                                if (!sync_open)
                                        epoll_ctl(ep, EPOLL_CTL_DEL, sync_fd, NULL);
                        } else if (id == 2) {
                                uint64_t x;
                                if (read(tfd, &x, sizeof x) < 0) {
                                        /* spurious wake-up */
                                }
                                if (init_alive && !s->killed) {
                                        check_limits(s);
                                        if (!s->killed)
                                                arm_timer(tfd,
                                                          next_tick_ns(s, sb->ncpu, poll_memory));
                                }
                        } else {
                                struct pump *p = &pumps[id - 3];
                                if (p->fd >= 0) {
                                        int fd = p->fd;
                                        pump_read(s, p);
                                        if (p->fd < 0)
                                                epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
                                }
                        }
                }
        }
        return 0;
}

static pid_t clone_jail(int cg_fd, int *pidfd)
{
        struct clone_args args = {0};
        args.flags = CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP |
                     CLONE_PIDFD;
        args.pidfd = (uint64_t)(uintptr_t)pidfd;
        args.exit_signal = SIGCHLD;
        if (cg_fd >= 0) {
                /* Born in the run cgroup: no instruction of the jail runs outside its limits. */
                args.flags |= CLONE_INTO_CGROUP;
                args.cgroup = (uint64_t)cg_fd;
        }
        return (pid_t)syscall(SYS_clone3, &args, sizeof args);
}

static void fill_result(struct run_state *s, jr_run_result *res)
{
        jr_cg_stats st = {0};
        jr_cg_run_stats(s->cg, &st, NULL);
        uint64_t cpu = st.cpu_ns > s->cpu0_ns ? st.cpu_ns - s->cpu0_ns : 0;
        res->cpu_ms = cpu / 1000000ull;
        res->wall_ms = ((s->end_ns ? s->end_ns : now_ns()) - s->start_ns) / 1000000ull;
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

int jr_jail_run(jr_slot *slot, const jr_run_config *cfg, jr_run_result *res, jr_error *e)
{
        jr_sandbox *sb = slot->sb;
        jr_mount_plan plan = {0};
        jr_cg_run *cg = NULL;
        _cleanup_close_pair_ int sync_pair[2] = {-1, -1};
        _cleanup_close_pair_ int out_pipe[2] = {-1, -1};
        _cleanup_close_pair_ int err_pipe[2] = {-1, -1};
        _cleanup_close_ int devnull = -1;
        _cleanup_close_ int pidfd = -1;
        pid_t pid = -1;
        int ret = -1;

        uint64_t t_begin = now_ns(), t_clone = 0, t_end = 0;
        memset(res, 0, sizeof *res);
        res->exit_code = -1;
        if (!cfg->argv || !cfg->argv[0] || !cfg->argv[0][0]) {
                jr_error_set(e, EINVAL, "no command to run");
                return run_fail(res, e);
        }

        if (jr_mount_plan_build(cfg, &plan, e) < 0)
                return run_fail(res, e);

        int stdin_fd = cfg->stdin_fd;
        if (stdin_fd < 0) {
                devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
                if (devnull < 0) {
                        jr_error_errno(e, "open /dev/null");
                        goto out;
                }
                stdin_fd = devnull;
        }
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sync_pair) < 0 ||
            pipe2(out_pipe, O_CLOEXEC) < 0 || pipe2(err_pipe, O_CLOEXEC) < 0) {
                jr_error_errno(e, "create the jail's sockets and pipes");
                goto out;
        }

        char name[64];
        snprintf(name, sizeof name, "s%u-%llu", slot->index, (unsigned long long)++sb->seq);
        jr_cg_limits lim = {.mem_bytes = cfg->mem_bytes, .pids = cfg->pids};
        if (jr_cg_run_create(sb->cg, name, &lim, &cg, e) < 0)
                goto out;

        struct child_ctx c = {
            .slot = slot,
            .cfg = cfg,
            .plan = &plan,
            .envp = cfg->envp,
            .workdir = cfg->workdir ? cfg->workdir : "/work",
            .rl =
                {
                    /* backstop only: the cgroup CPU clock is the real limit */
                    .cpu_s = cfg->cpu_ms ? cfg->cpu_ms / 1000 + 2 : 0,
                    .fsize = cfg->fsize,
                    .nofile = cfg->nofile ? cfg->nofile : DEFAULT_NOFILE,
                    .stack = cfg->stack ? cfg->stack : DEFAULT_STACK,
                },
            .sync_fd = sync_pair[1],
            .stdin_fd = stdin_fd,
            .stdout_fd = out_pipe[1],
            .stderr_fd = err_pipe[1],
        };

        int cg_fd = jr_cg_run_clone_fd(cg);
        t_clone = now_ns();
        pid = clone_jail(cg_fd, &pidfd);
        if (pid < 0) {
                jr_error_errno(e, "clone3 into new namespaces");
                goto out;
        }
        if (pid == 0)
                init_main(&c);

        close(sync_pair[1]);
        sync_pair[1] = -1;
        close(out_pipe[1]);
        out_pipe[1] = -1;
        close(err_pipe[1]);
        err_pipe[1] = -1;

        struct run_state s = {.cfg = cfg, .cg = cg, .pidfd = pidfd};
        if (cg_fd < 0 && jr_cg_run_attach(cg, pid, e) < 0) {
                syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
                goto reap;
        }
        if (sync_send(sync_pair[0], SYNC_GO, 0, NULL) < 0) {
                jr_error_errno(e, "start the jail");
                goto reap;
        }

        /* Setup: wait for READY or a setup error, bounded, never hang on a broken jail. */
        struct pollfd pf = {sync_pair[0], POLLIN, 0};
        int pr;
        do
                pr = poll(&pf, 1, SETUP_TIMEOUT_MS);
        while (pr < 0 && errno == EINTR);
        jr_sync_msg m;
        int r = pr > 0 ? sync_recv(sync_pair[0], &m) : -1;
        if (r != 1 || m.type != SYNC_READY) {
                if (r == 1 && m.type == SYNC_SETUP_ERR) {
                        *e = m.err;
                        jr_error_wrap(e, "jail setup");
                } else if (pr == 0) {
                        jr_error_set(e, ETIMEDOUT, "jail setup did not finish in %d ms",
                                     SETUP_TIMEOUT_MS);
                } else {
                        jr_error_set(e, EPIPE, "jail setup: init exited without a report");
                }
                syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
                goto reap;
        }

        s.start_ns = now_ns();
        jr_cg_run_poll(cg, &s.cpu0_ns, NULL);
        res->timing.prepare_us = (t_clone - t_begin) / 1000;
        res->timing.setup_us = (s.start_ns - t_clone) / 1000;

        fcntl(out_pipe[0], F_SETFL, O_NONBLOCK);
        fcntl(err_pipe[0], F_SETFL, O_NONBLOCK);
        struct pump pumps[2] = {{out_pipe[0], cfg->stdout_fd, &res->stdout_bytes},
                                {err_pipe[0], cfg->stderr_fd, &res->stderr_bytes}};
        out_pipe[0] = err_pipe[0] = -1; /* the pumps own them now */
        if (supervise(sb, &s, sync_pair[0], pumps, e) < 0) {
                kill_jail(&s, JR_JAIL_IE, "supervisor failure");
                for (int i = 0; i < 2; i++)
                        if (pumps[i].fd >= 0)
                                close(pumps[i].fd);
                goto reap;
        }
        if (s.exec_failed) {
                *e = s.exec_err;
                goto reap;
        }
        fill_result(&s, res);
        t_end = s.end_ns;
        ret = 0;

reap:
        /* Init is dead or dying; nothing of the jail may survive the run. */
        jr_cg_run_kill(cg, NULL);
        while (waitpid(pid, NULL, __WALL) < 0 && errno == EINTR)
                ;
out:
        if (cg) {
                jr_error derr;
                if (jr_cg_run_destroy(cg, &derr) < 0 && ret == 0) {
                        *e = derr;
                        ret = -1;
                }
        }
        jr_mount_plan_free(&plan);
        if (ret < 0)
                return run_fail(res, e);
        res->timing.teardown_us = t_end ? (now_ns() - t_end) / 1000 : 0;
        return 0;
}
