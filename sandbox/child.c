/* The jail's children: the clone3 entry they start from and the code they run, init
 * (PID 1), the program until its execve, and the template builder. They share the
 * supervisor's memory (CLONE_VM), so this file makes raw syscalls only (sys.h) and
 * writes nothing but the children's own stacks; see spawn.c for the processes and
 * CMakeLists.txt for why it is built without ASan's fake stack. */
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "caps.h"
#include "child.h"
#include "sys.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif

/* clone3 running fn(arg) on a new stack: the kernel starts the child on the given stack
 * with every other register as the parent had it, so the call and the exit are made in
 * assembly, where no compiler-managed frame can be in the way. */
#if defined(__x86_64__)
__asm__(".text\n"
        ".globl jr_clone3\n"
        ".type jr_clone3,@function\n"
        "jr_clone3:\n"
        "        movq %rdx, %r8\n" /* fn and arg survive the syscall in r8, r9 */
        "        movq %rcx, %r9\n"
        "        movl $435, %eax\n" /* __NR_clone3 */
        "        syscall\n"
        "        testq %rax, %rax\n"
        "        jnz 1f\n"
        "        xorl %ebp, %ebp\n"
        "        movq %r9, %rdi\n"
        "        call *%r8\n"
        "        movl %eax, %edi\n"
        "        movl $231, %eax\n" /* __NR_exit_group */
        "        syscall\n"
        "        hlt\n"
        "1:      ret\n"
        ".size jr_clone3, .-jr_clone3\n");
#elif defined(__aarch64__)
__asm__(".text\n"
        ".globl jr_clone3\n"
        ".type jr_clone3,%function\n"
        "jr_clone3:\n"
        "        mov x8, #435\n" /* __NR_clone3; x2 (fn), x3 (arg) survive */
        "        svc #0\n"
        "        cbnz x0, 1f\n"
        "        mov x29, #0\n"
        "        mov x0, x3\n"
        "        blr x2\n"
        "        mov x8, #94\n" /* __NR_exit_group */
        "        svc #0\n"
        "1:      ret\n"
        ".size jr_clone3, .-jr_clone3\n");
#endif

static uint64_t ts_ns(const struct timespec *ts)
{
        return (uint64_t)ts->tv_sec * 1000000000ull + (uint64_t)ts->tv_nsec;
}

/* Raw, so that it is safe in the children. */
static int sync_send(int fd, int type, int status, const jr_error *err)
{
        jr_sync_msg m = {.type = type, .status = status};
        struct timespec ts = {0};
        JR_SYS(SYS_clock_gettime, CLOCK_MONOTONIC, &ts);
        m.t_ns = ts_ns(&ts);
        if (err)
                m.err = *err;
        long n;
        do
                n = JR_SYS(SYS_sendto, fd, &m, sizeof m, MSG_NOSIGNAL, NULL, 0);
        while (n == -EINTR);
        return n == (long)sizeof m ? 0 : -1;
}

/* Close every fd but keep[] (ascending): init never execs, so O_CLOEXEC does not protect
 * it from holding the supervisor's fds (other jails' pipes, which would then never see
 * EOF). */
static void close_all_except(const int *keep, size_t n)
{
        unsigned lo = 0;
        for (size_t i = 0; i < n; i++) {
                if (keep[i] < 0 || (unsigned)keep[i] < lo)
                        continue;
                if ((unsigned)keep[i] > lo)
                        JR_SYS(SYS_close_range, lo, (unsigned)keep[i] - 1, 0);
                lo = (unsigned)keep[i] + 1;
        }
        JR_SYS(SYS_close_range, lo, ~0U, 0);
}

static const char *env_get(char *const *envp, const char *name)
{
        size_t n = strlen(name);
        for (; envp && *envp; envp++)
                if (!strncmp(*envp, name, n) && (*envp)[n] == '=')
                        return *envp + n + 1;
        return NULL;
}

/* execve with a PATH search in the jail's own environment (execvpe would use ours).
 * Returns -errno. */
static long exec_command(char *const *argv, char *const *envp)
{
        static char *const empty[] = {NULL};
        if (!envp)
                envp = empty;
        if (strchr(argv[0], '/'))
                return JR_SYS(SYS_execve, argv[0], argv, envp);
        const char *path = env_get(envp, "PATH");
        if (!path)
                path = "/usr/local/bin:/usr/bin:/bin";
        long err = -ENOENT;
        char buf[4096];
        while (*path) {
                const char *end = strchrnul(path, ':');
                int len = (int)(end - path);
                snprintf(buf, sizeof buf, "%.*s/%s", len, len ? path : ".", argv[0]);
                long r = JR_SYS(SYS_execve, buf, argv, envp);
                if (r != -ENOENT && r != -ENOTDIR)
                        err = r;
                path = *end ? end + 1 : end;
        }
        return err;
}

/* fd `from` becomes `to`, without O_CLOEXEC (also when they are the same fd). */
static long move_fd(int from, int to)
{
        if (from == to)
                return JR_SYS(SYS_fcntl, to, F_SETFD, 0);
        return JR_SYS(SYS_dup3, from, to, 0);
}

/* The kernel's struct sigaction (not glibc's): handler, flags, restorer, mask. */
struct kernel_sigaction {
        void (*handler)(int);
        unsigned long flags;
        void (*restorer)(void);
        unsigned long mask;
};

/* The program, PID 2, on its slot stack, in init's (the supervisor's) memory until the
 * execve. The checklist, top to bottom: cgroup, fds, signals, rlimits, cwd,
 * no_new_privs, capabilities and credentials, seccomp, exec. */
static int program_main(void *arg)
{
        const struct child_ctx *c = arg;
        jr_error err = {0};
        const char *which = "";
        long r;

        /* Into the run cgroup before any of the program's own code runs (on v2 it was
         * born there), then a cgroup namespace rooted at it. */
        for (int i = 0; i < c->n_cg_procs; i++) {
                if ((r = JR_SYS(SYS_write, c->cg_procs_fds[i], "0", 1)) < 0) {
                        jr_error_raw(&err, (int)-r, "join the run cgroup");
                        goto fail;
                }
        }
        if ((r = JR_SYS(SYS_unshare, CLONE_NEWCGROUP)) < 0) {
                jr_error_raw(&err, (int)-r, "unshare(CLONE_NEWCGROUP)");
                goto fail;
        }

        if ((r = move_fd(c->stdin_fd, 0)) < 0 || (r = move_fd(c->stdout_fd, 1)) < 0 ||
            (r = move_fd(c->stderr_fd, 2)) < 0) {
                jr_error_raw(&err, (int)-r, "dup stdio");
                goto fail;
        }
        /* Every other fd closes at exec; the sync socket stays usable until then. */
        if ((r = JR_SYS(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC)) < 0) {
                jr_error_raw(&err, (int)-r, "close_range");
                goto fail;
        }

        /* Ignored signals and the signal mask survive execve: every disposition goes back
         * to the default first (still all blocked, so none of the supervisor's handlers
         * can run here), then nothing is blocked. */
        struct kernel_sigaction dfl = {.handler = SIG_DFL};
        for (int sig = 1; sig < _NSIG; sig++)
                if (sig != SIGKILL && sig != SIGSTOP)
                        JR_SYS(SYS_rt_sigaction, sig, &dfl, NULL, sizeof dfl.mask);
        unsigned long none = 0;
        JR_SYS(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, sizeof none);

        /* Rlimits first: they do not need privileges, and lowering them later would. */
        int ret = jr_rlimits_apply(&c->rl, &which);
        if (ret < 0) {
                jr_error_raw(&err, -ret, "setrlimit %s", which);
                goto fail;
        }
        if ((r = JR_SYS(SYS_chdir, c->workdir)) < 0) {
                jr_error_raw(&err, (int)-r, "chdir to the work dir \"%s\"", c->workdir);
                goto fail;
        }
        if ((r = JR_SYS(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) < 0) {
                jr_error_raw(&err, (int)-r, "prctl(PR_SET_NO_NEW_PRIVS)");
                goto fail;
        }
        /* The bounding set can only be cleared while we still hold CAP_SETPCAP. */
        if ((ret = jr_caps_drop_bounding()) < 0) {
                jr_error_raw(&err, -ret, "drop the capability bounding set");
                goto fail;
        }
        if ((ret = jr_caps_become(c->slot->uid, c->slot->gid)) < 0) {
                jr_error_raw(&err, -ret, "switch to uid %u gid %u without capabilities",
                             (unsigned)c->slot->uid, (unsigned)c->slot->gid);
                goto fail;
        }
        /* Parent-death signal is cleared by a uid change, so it is set after it: if init
         * dies the program must not outlive it (the kernel would kill it anyway, as
         * init's death tears down the pid namespace; this is belt and braces). */
        JR_SYS(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);

        /* Seccomp last: everything above needed syscalls the filter forbids. */
        if ((ret = jr_seccomp_load(&c->slot->sb->seccomp)) < 0) {
                jr_error_raw(&err, -ret, "load the seccomp filter");
                goto fail;
        }
        r = exec_command(c->cfg->argv, c->envp);
        jr_error_raw(&err, (int)-r, "execve \"%s\"", c->cfg->argv[0]);
fail:
        sync_send(c->sync_fd, SYNC_EXEC_ERR, 0, &err);
        return 127;
}

/* Init, PID 1 of the jail, on its slot stack in the supervisor's memory. */
int jr_child_init_main(void *arg)
{
        const struct child_ctx *c = arg;
        const jr_slot *slot = c->slot;
        jr_error err = {0};
        long r;

        /* If the supervisor dies, so does the jail (init's death kills the namespace). */
        JR_SYS(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
        /* Init shares the supervisor's memory, so its /proc/PID/cmdline and environ are
         * the supervisor's (the host's path to jailrun and its arguments): changing them
         * (PR_SET_MM_ARG_START) would change the supervisor's too, and an execve of an
         * init of its own would cost a new address space per run. The jail's /proc hides
         * init from the program instead (hidepid, mounts.c); its name, which is per task,
         * becomes its own, for the host's ps and top too. */
        JR_SYS(SYS_prctl, PR_SET_NAME, "jailrun-init", 0, 0, 0);
        close_all_except(c->keep, c->nkeep);

        if ((r = JR_SYS(SYS_setns, slot->netns_fd, CLONE_NEWNET)) < 0) {
                jr_error_raw(&err, (int)-r, "join the slot's network namespace");
                goto fail;
        }
        if ((r = JR_SYS(SYS_sethostname, "jailrun", 7)) < 0) {
                jr_error_raw(&err, (int)-r, "sethostname");
                goto fail;
        }
        /* A private copy of the template: the root, the tree's binds and /dev are there
         * already; only the per-run file systems are mounted here. */
        if ((r = JR_SYS(SYS_setns, c->template_fd, CLONE_NEWNS)) < 0) {
                jr_error_raw(&err, (int)-r, "join the jail's template mount namespace");
                goto fail;
        }
        if ((r = JR_SYS(SYS_unshare, CLONE_NEWNS)) < 0) {
                jr_error_raw(&err, (int)-r, "unshare(CLONE_NEWNS)");
                goto fail;
        }
        if (jr_mount_run_enter(c->plan, c->bind_fds, slot->uid, slot->gid, &err) < 0)
                goto fail;

        struct clone_args args = {
            .flags = CLONE_VM | CLONE_VFORK,
            .exit_signal = SIGCHLD,
            .stack = (uint64_t)(uintptr_t)slot->prog_stack,
            .stack_size = slot->stack_size,
        };
        if (c->cg_clone_fd >= 0) {
                /* Born in the run cgroup: no instruction of it runs outside its limits. */
                args.flags |= CLONE_INTO_CGROUP;
                args.cgroup = (uint64_t)c->cg_clone_fd;
        }
        /* Returns once the program has exec'd or died (CLONE_VFORK). */
        long prog = jr_clone3(&args, sizeof args, program_main, (void *)c);
        if (prog < 0) {
                jr_error_raw(&err, (int)-prog, "clone the program");
                goto fail;
        }
        JR_SYS(SYS_close, c->stdin_fd);
        JR_SYS(SYS_close, c->stdout_fd);
        JR_SYS(SYS_close, c->stderr_fd);
        /* The run's clock starts now (READY carries the time): the program is past its
         * execve. */
        if (sync_send(c->sync_fd, SYNC_READY, 0, NULL) < 0)
                return 1;

        /* PID 1 reaps every orphan; SIGCHLDs coalesce (and are blocked), so just wait. */
        for (;;) {
                int st = 0;
                r = JR_SYS(SYS_wait4, -1, &st, __WALL, NULL);
                if (r == prog) {
                        sync_send(c->sync_fd, SYNC_EXITED, st, NULL);
                        return 0;
                }
                if (r == -ECHILD)
                        return 0;
        }
fail:
        sync_send(c->sync_fd, SYNC_SETUP_ERR, 0, &err);
        return 1;
}

/* Is "/" the file system of the open directory `fd`? */
static bool root_is(int fd)
{
        struct stat want, got;
        return JR_SYS(SYS_newfstatat, fd, "", &want, AT_EMPTY_PATH) == 0 &&
               JR_SYS(SYS_newfstatat, AT_FDCWD, "/", &got, 0) == 0 && want.st_dev == got.st_dev &&
               want.st_ino == got.st_ino;
}

int jr_child_template_main(void *arg)
{
        struct template_ctx *t = arg;
        long fd = JR_SYS(SYS_openat, AT_FDCWD, "/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                jr_error_raw(&t->err, (int)-fd, "open /proc/self/ns/mnt");
                return 1;
        }
        if (jr_mount_template_enter(t->plan, t->tree_fds, t->newroot, &t->err) < 0)
                goto fail;
        /* Runs join this namespace with setns(), which puts them at the namespace's root
         * and whatever is mounted on top of it, not at our pivoted root. The two are the
         * same unless this process is chrooted (the pivot then put the jail's root where
         * the chroot's directory was): then the jail's root is moved on top of the
         * namespace's root. Either way a run must land in the jail's root, so check. */
        long root = JR_SYS(SYS_openat, AT_FDCWD, "/", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (root < 0) {
                jr_error_raw(&t->err, (int)-root, "open the jail's root");
                goto fail;
        }
        long r = JR_SYS(SYS_setns, fd, CLONE_NEWNS);
        if (r == 0 && !root_is((int)root)) {
                r = JR_SYS(SYS_move_mount, root, "", AT_FDCWD, "/", MOVE_MOUNT_F_EMPTY_PATH);
                if (r == 0)
                        r = JR_SYS(SYS_setns, fd, CLONE_NEWNS);
                if (r == 0 && !root_is((int)root))
                        r = -EXDEV;
        }
        JR_SYS(SYS_close, root);
        if (r < 0) {
                jr_error_raw(&t->err, (int)-r, "make the jail's root the namespace's root");
                goto fail;
        }
        t->nsfd = (int)fd;
        return 0;
fail:
        JR_SYS(SYS_close, fd);
        return 1;
}
