/* sysprobe FAMILY: try one syscall the jail's seccomp filter blocks and say what
 * happened, so a test can tell "failed with EPERM" from "killed by SIGSYS".
 *
 *   sysprobe --list      one line per family: "<family> <syscall>", where <syscall>
 *                        is the name in the seccomp policy table ("-" for another ABI)
 *   sysprobe FAMILY      prints "probe=FAMILY", then, if the call returned,
 *                        "ret=N" or "errno=NAME" and exits 0; a killed probe
 *                        prints nothing after the first line.
 *
 * Every probe is harmless even when run as root without any filter: the arguments
 * are chosen so that the kernel rejects them after its permission check (bad magic,
 * missing path, invalid flags), or the call only affects the probe itself. That
 * makes the probes safe in unit tests that load the filter without dropping root,
 * and there an EPERM can only come from the filter.
 *
 * Output goes through write(2) so that nothing sits in a stdio buffer when the
 * process is killed. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* standalone gcc builds; CMake defines it */
#endif
#include <errno.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/quota.h>
#include <sys/syscall.h>
#include <sys/timex.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NOPATH "/nonexistent-jailrun-probe"

/* A raw clone without a new stack behaves like fork: the child returns 0 here. */
static long clone_flags(unsigned long flags)
{
        long pid = syscall(SYS_clone, flags | SIGCHLD, 0, 0, 0, 0);
        if (pid == 0)
                _exit(0);
        if (pid > 0)
                waitpid((pid_t)pid, NULL, 0);
        return pid;
}

static long p_mount(void)
{
        return syscall(SYS_mount, "none", NOPATH, "tmpfs", 0, NULL);
}
static long p_umount(void)
{
        return syscall(SYS_umount2, NOPATH, 0);
}
static long p_pivot_root(void)
{
        return syscall(SYS_pivot_root, NOPATH, NOPATH);
}
static long p_chroot(void)
{
        return syscall(SYS_chroot, NOPATH);
}
static long p_fsopen(void)
{
        return syscall(SYS_fsopen, "jailrun-nonexistent-fs", 0);
}
static long p_fsconfig(void)
{
        return syscall(SYS_fsconfig, -1, 0, NULL, NULL, 0);
}
static long p_fsmount(void)
{
        return syscall(SYS_fsmount, -1, 0, 0);
}
static long p_fspick(void)
{
        return syscall(SYS_fspick, AT_FDCWD, NOPATH, 0);
}
static long p_move_mount(void)
{
        return syscall(SYS_move_mount, -1, "", -1, "", 0);
}
static long p_open_tree(void)
{
        return syscall(SYS_open_tree, AT_FDCWD, NOPATH, 0);
}
static long p_mount_setattr(void)
{
        return syscall(SYS_mount_setattr, -1, "", 0, NULL, 0);
}
/* Unfiltered this succeeds, but only the probe itself moves into the namespaces. */
static long p_unshare(void)
{
        return syscall(SYS_unshare, CLONE_NEWUSER | CLONE_NEWNS);
}
static long p_setns(void)
{
        return syscall(SYS_setns, -1, 0);
}
static long p_clone_newuser(void)
{
        return clone_flags(CLONE_NEWUSER);
}
static long p_clone_newns(void)
{
        return clone_flags(CLONE_NEWNS);
}
static long p_clone_newnet(void)
{
        return clone_flags(CLONE_NEWNET);
}
static long p_clone_newpid(void)
{
        return clone_flags(CLONE_NEWPID);
}
static long p_clone3(void)
{
        /* struct clone_args, first version (64 bytes): flags, pidfd, child_tid,
         * parent_tid, exit_signal, stack, stack_size, tls */
        uint64_t args[8] = {0};
        args[4] = SIGCHLD;
        long pid = syscall(SYS_clone3, args, sizeof args);
        if (pid == 0)
                _exit(0);
        if (pid > 0)
                waitpid((pid_t)pid, NULL, 0);
        return pid;
}
static long p_ptrace(void)
{
        return syscall(SYS_ptrace, 0 /* PTRACE_TRACEME */, 0, 0, 0);
}
static long p_process_vm_readv(void)
{
        char buf[8];
        struct iovec local = {buf, sizeof buf}, remote = {NULL, sizeof buf};
        return syscall(SYS_process_vm_readv, getpid(), &local, 1, &remote, 1, 0);
}
static long p_process_vm_writev(void)
{
        char buf[8] = {0};
        struct iovec local = {buf, sizeof buf}, remote = {NULL, sizeof buf};
        return syscall(SYS_process_vm_writev, getpid(), &local, 1, &remote, 1, 0);
}
static long p_pidfd_getfd(void)
{
        return syscall(SYS_pidfd_getfd, -1, 0, 0);
}
static long p_kcmp(void)
{
        return syscall(SYS_kcmp, getpid(), getpid(), 1 /* KCMP_VM */, 0, 0);
}
static long p_bpf(void)
{
        /* BPF_MAP_CREATE with map type 0 (unspec): EINVAL */
        char attr[128] = {0};
        return syscall(SYS_bpf, 0, attr, sizeof attr);
}
static long p_perf(void)
{
        struct perf_event_attr attr = {0};
        attr.type = PERF_TYPE_SOFTWARE;
        attr.size = sizeof attr;
        attr.config = PERF_COUNT_SW_DUMMY;
        return syscall(SYS_perf_event_open, &attr, 0, -1, -1, PERF_FLAG_FD_CLOEXEC);
}
static long p_userfaultfd(void)
{
        return syscall(SYS_userfaultfd, O_CLOEXEC);
}
static long p_io_uring(void)
{
        char params[120] = {0}; /* struct io_uring_params */
        return syscall(SYS_io_uring_setup, 1, params);
}
static long p_io_uring_enter(void)
{
        return syscall(SYS_io_uring_enter, -1, 0, 0, 0, NULL, 0);
}
static long p_io_uring_register(void)
{
        return syscall(SYS_io_uring_register, -1, 0, NULL, 0);
}
static long p_keyctl(void)
{
        return syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -2 /* process */, 0);
}
static long p_add_key(void)
{
        return syscall(SYS_add_key, "jailrun-nonexistent-type", "probe", "x", 1, -2);
}
static long p_request_key(void)
{
        return syscall(SYS_request_key, "user", "jailrun-nonexistent", NULL, 0);
}
static long p_syslog(void)
{
        return syscall(SYS_syslog, 10 /* SYSLOG_ACTION_SIZE_BUFFER */, NULL, 0);
}
static long p_adjtimex(void)
{
        struct timex tx = {0}; /* modes 0: read only */
        return syscall(SYS_adjtimex, &tx);
}
static long p_clock_adjtime(void)
{
        struct timex tx = {0};
        return syscall(SYS_clock_adjtime, CLOCK_REALTIME, &tx);
}
static long p_tiocsti(void)
{
        /* /dev/null is no terminal: nothing can be typed anywhere */
        int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        char c = 'x';
        long ret = syscall(SYS_ioctl, fd, TIOCSTI, &c);
        int saved = errno;
        close(fd);
        errno = saved;
        return ret;
}
static long p_kexec(void)
{
        /* unknown flag bits: EINVAL right after the capability check */
        return syscall(SYS_kexec_load, 0, 0, NULL, 0x8000UL);
}
static long p_kexec_file_load(void)
{
        return syscall(SYS_kexec_file_load, -1, -1, 0, NULL, 0x8000UL);
}
static long p_module(void)
{
        return syscall(SYS_init_module, NULL, 0, ""); /* too short to be an ELF */
}
static long p_finit_module(void)
{
        return syscall(SYS_finit_module, -1, "", 0);
}
static long p_delete_module(void)
{
        return syscall(SYS_delete_module, "jailrun_nonexistent", O_NONBLOCK);
}
static long p_reboot(void)
{
        return syscall(SYS_reboot, 0, 0, 0, NULL); /* bad magic: EINVAL */
}
static long p_swap(void)
{
        return syscall(SYS_swapon, NOPATH, 0);
}
static long p_swapoff(void)
{
        return syscall(SYS_swapoff, NOPATH);
}
static long p_settimeofday(void)
{
        struct timeval tv = {0, 2000000}; /* tv_usec out of range: EINVAL */
        return syscall(SYS_settimeofday, &tv, NULL);
}
static long p_clock(void)
{
        struct timespec ts = {0, 0}; /* the monotonic clock cannot be set: EINVAL */
        return syscall(SYS_clock_settime, CLOCK_MONOTONIC, &ts);
}
static long p_acct(void)
{
        return syscall(SYS_acct, NOPATH);
}
static long p_iopl(void)
{
        return syscall(SYS_iopl, 4); /* levels are 0..3 */
}
static long p_ioperm(void)
{
        return syscall(SYS_ioperm, 0x10000UL, 1UL, 0); /* past the last port */
}
static long p_vhangup(void)
{
        /* vhangup hangs up the controlling terminal: do it from a child that has
         * just left its session (so it has none) and pass its fate on. */
        pid_t pid = fork();
        if (pid == 0) {
                setsid();
                long ret = syscall(SYS_vhangup);
                _exit(ret == 0 ? 0 : 100 + (errno & 0x7f));
        }
        int st;
        if (pid < 0 || waitpid(pid, &st, 0) < 0)
                return -1;
        if (WIFSIGNALED(st)) {
                signal(WTERMSIG(st), SIG_DFL);
                raise(WTERMSIG(st));
        }
        if (WEXITSTATUS(st) == 0)
                return 0;
        errno = WEXITSTATUS(st) - 100;
        return -1;
}
static long p_lookup_dcookie(void)
{
        return syscall(SYS_lookup_dcookie, 0ULL, NULL, 0);
}
static long p_open_by_handle_at(void)
{
        return syscall(SYS_open_by_handle_at, -1, NULL, O_RDONLY);
}
static long p_name_to_handle_at(void)
{
        return syscall(SYS_name_to_handle_at, AT_FDCWD, "/", NULL, NULL, 0);
}
static long p_quotactl(void)
{
        char buf[64];
        return syscall(SYS_quotactl, QCMD(Q_GETFMT, USRQUOTA), NOPATH, 0, buf);
}
static long p_quotactl_fd(void)
{
        char buf[64];
        return syscall(SYS_quotactl_fd, -1, QCMD(Q_GETFMT, USRQUOTA), 0, buf);
}
/* x32 ABI: the x86_64 number with bit 30 set */
static long p_x32(void)
{
        return syscall(0x40000000L | SYS_getpid);
}
static void no_ia32(int sig)
{
        static const char msg[] = "unsupported=no-ia32-emulation\n";
        (void)sig;
        (void)!write(1, msg, sizeof msg - 1);
        _exit(3);
}
/* i386 ABI from a 64-bit process: int 0x80 with the i386 getpid number (20). A
 * kernel without ia32 emulation answers with a fault, reported as unsupported. */
static long p_int80(void)
{
        signal(SIGSEGV, no_ia32);
        long ret;
        __asm__ volatile("int $0x80" : "=a"(ret) : "a"(20L) : "memory", "r8", "r9", "r10", "r11");
        if (ret < 0 && ret > -4096) {
                errno = (int)-ret;
                return -1;
        }
        return ret;
}

static const struct probe {
        const char *family;
        const char *syscall; /* name in the policy table; "-" for another ABI */
        long (*fn)(void);
} probes[] = {
    {"mount", "mount", p_mount},
    {"umount", "umount2", p_umount},
    {"pivot_root", "pivot_root", p_pivot_root},
    {"chroot", "chroot", p_chroot},
    {"fsopen", "fsopen", p_fsopen},
    {"fsconfig", "fsconfig", p_fsconfig},
    {"fsmount", "fsmount", p_fsmount},
    {"fspick", "fspick", p_fspick},
    {"move_mount", "move_mount", p_move_mount},
    {"open_tree", "open_tree", p_open_tree},
    {"mount_setattr", "mount_setattr", p_mount_setattr},
    {"unshare", "unshare", p_unshare},
    {"setns", "setns", p_setns},
    {"clone_newuser", "clone", p_clone_newuser},
    {"clone_newns", "clone", p_clone_newns},
    {"clone_newnet", "clone", p_clone_newnet},
    {"clone_newpid", "clone", p_clone_newpid},
    {"clone3", "clone3", p_clone3},
    {"ptrace", "ptrace", p_ptrace},
    {"process_vm_readv", "process_vm_readv", p_process_vm_readv},
    {"process_vm_writev", "process_vm_writev", p_process_vm_writev},
    {"pidfd_getfd", "pidfd_getfd", p_pidfd_getfd},
    {"kcmp", "kcmp", p_kcmp},
    {"bpf", "bpf", p_bpf},
    {"perf", "perf_event_open", p_perf},
    {"userfaultfd", "userfaultfd", p_userfaultfd},
    {"io_uring", "io_uring_setup", p_io_uring},
    {"io_uring_enter", "io_uring_enter", p_io_uring_enter},
    {"io_uring_register", "io_uring_register", p_io_uring_register},
    {"keyctl", "keyctl", p_keyctl},
    {"add_key", "add_key", p_add_key},
    {"request_key", "request_key", p_request_key},
    {"syslog", "syslog", p_syslog},
    {"adjtimex", "adjtimex", p_adjtimex},
    {"clock_adjtime", "clock_adjtime", p_clock_adjtime},
    {"tiocsti", "ioctl", p_tiocsti},
    {"kexec", "kexec_load", p_kexec},
    {"kexec_file_load", "kexec_file_load", p_kexec_file_load},
    {"module", "init_module", p_module},
    {"finit_module", "finit_module", p_finit_module},
    {"delete_module", "delete_module", p_delete_module},
    {"reboot", "reboot", p_reboot},
    {"swap", "swapon", p_swap},
    {"swapoff", "swapoff", p_swapoff},
    {"settimeofday", "settimeofday", p_settimeofday},
    {"clock", "clock_settime", p_clock},
    {"acct", "acct", p_acct},
    {"iopl", "iopl", p_iopl},
    {"ioperm", "ioperm", p_ioperm},
    {"vhangup", "vhangup", p_vhangup},
    {"lookup_dcookie", "lookup_dcookie", p_lookup_dcookie},
    {"open_by_handle_at", "open_by_handle_at", p_open_by_handle_at},
    {"name_to_handle_at", "name_to_handle_at", p_name_to_handle_at},
    {"quotactl", "quotactl", p_quotactl},
    {"quotactl_fd", "quotactl_fd", p_quotactl_fd},
    {"x32", "-", p_x32},
    {"int80", "-", p_int80},
};

int main(int argc, char **argv)
{
        if (argc != 2) {
                dprintf(2, "usage: %s --list | FAMILY\n", argv[0]);
                return 2;
        }
        if (strcmp(argv[1], "--list") == 0) {
                for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++)
                        dprintf(1, "%s %s\n", probes[i].family, probes[i].syscall);
                return 0;
        }
        for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++) {
                if (strcmp(argv[1], probes[i].family) != 0)
                        continue;
                dprintf(1, "probe=%s\n", probes[i].family);
                errno = 0;
                long ret = probes[i].fn();
                if (ret < 0)
                        dprintf(1, "errno=%s\n", strerrorname_np(errno) ?: "?");
                else
                        dprintf(1, "ret=%ld\n", ret);
                return 0;
        }
        dprintf(2, "sysprobe: unknown family \"%s\" (try --list)\n", argv[1]);
        return 2;
}
