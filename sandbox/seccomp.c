/* The seccomp filter of the jailed program.
 *
 * The filter is built once in the parent with libseccomp and exported as a plain
 * classic-BPF program; the child only has to hand that program to seccomp(2), which
 * keeps the child free of allocation between clone and execve.
 *
 * Policy: allow everything except the table below. Every syscall made through
 * another ABI than the native one (i386 `int 0x80`, x32 numbers with bit 30 set)
 * kills the process: the table is written for x86_64 numbers only, so a foreign ABI
 * would otherwise walk around it. */
#include "filter.h"

#include <errno.h>
#include <limits.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <seccomp.h> /* libseccomp's */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cleanup.h"
#include "sys.h"

/* EPERM for what a language runtime or a library may try and must survive (a
 * failed probe, a fallback path); KILL for what no submission has a reason to
 * call, so that the verdict says "forbidden syscall" rather than a confusing
 * runtime error. */
const jr_seccomp_rule jr_seccomp_rules[] = {
    /* filesystem view */
    {"mount", JR_SECCOMP_EPERM, JR_SECCOMP_ALWAYS},
    {"umount2", JR_SECCOMP_EPERM, JR_SECCOMP_ALWAYS},
    {"pivot_root", JR_SECCOMP_EPERM, JR_SECCOMP_ALWAYS},
    {"chroot", JR_SECCOMP_EPERM, JR_SECCOMP_ALWAYS},
    {"fsopen", JR_SECCOMP_EPERM, JR_SECCOMP_ALWAYS},
    {"fsconfig", JR_SECCOMP_EPERM, JR_SECCOMP_ALWAYS},
    {"fsmount", JR_SECCOMP_EPERM, JR_SECCOMP_ALWAYS},
    {"fspick", JR_SECCOMP_EPERM, JR_SECCOMP_ALWAYS},
    {"move_mount", JR_SECCOMP_EPERM, JR_SECCOMP_ALWAYS},
    {"open_tree", JR_SECCOMP_EPERM, JR_SECCOMP_ALWAYS},
    {"mount_setattr", JR_SECCOMP_EPERM, JR_SECCOMP_ALWAYS},
    {"open_by_handle_at", JR_SECCOMP_EPERM, JR_SECCOMP_ALWAYS},
    {"name_to_handle_at", JR_SECCOMP_EPERM, JR_SECCOMP_ALWAYS},
    {"quotactl", JR_SECCOMP_EPERM, JR_SECCOMP_ALWAYS},
    {"quotactl_fd", JR_SECCOMP_EPERM, JR_SECCOMP_ALWAYS},
    /* namespaces: unprivileged user namespaces would give the program a root
     * of its own and the kernel attack surface that comes with it */
    {"unshare", JR_SECCOMP_EPERM, JR_SECCOMP_ALWAYS},
    {"setns", JR_SECCOMP_EPERM, JR_SECCOMP_ALWAYS},
    {"clone", JR_SECCOMP_EPERM, JR_SECCOMP_CLONE_NS},
    /* clone3 passes its flags in memory that a filter cannot read, so it cannot
     * be checked for CLONE_NEW*; ENOSYS makes glibc (pthread_create, fork,
     * posix_spawn) fall back to clone, which is checked. */
    {"clone3", JR_SECCOMP_ENOSYS, JR_SECCOMP_ALWAYS},
    /* other processes' memory */
    {"ptrace", JR_SECCOMP_EPERM, JR_SECCOMP_ALWAYS},
    {"process_vm_readv", JR_SECCOMP_EPERM, JR_SECCOMP_ALWAYS},
    {"process_vm_writev", JR_SECCOMP_EPERM, JR_SECCOMP_ALWAYS},
    {"pidfd_getfd", JR_SECCOMP_EPERM, JR_SECCOMP_ALWAYS},
    {"kcmp", JR_SECCOMP_EPERM, JR_SECCOMP_ALWAYS},
    /* large kernel attack surface */
    {"bpf", JR_SECCOMP_EPERM, JR_SECCOMP_ALWAYS},
    {"perf_event_open", JR_SECCOMP_EPERM, JR_SECCOMP_ALWAYS},
    {"userfaultfd", JR_SECCOMP_EPERM, JR_SECCOMP_ALWAYS},
    {"io_uring_setup", JR_SECCOMP_EPERM, JR_SECCOMP_ALWAYS},
    {"io_uring_enter", JR_SECCOMP_EPERM, JR_SECCOMP_ALWAYS},
    {"io_uring_register", JR_SECCOMP_EPERM, JR_SECCOMP_ALWAYS},
    {"keyctl", JR_SECCOMP_EPERM, JR_SECCOMP_ALWAYS},
    {"add_key", JR_SECCOMP_EPERM, JR_SECCOMP_ALWAYS},
    {"request_key", JR_SECCOMP_EPERM, JR_SECCOMP_ALWAYS},
    {"syslog", JR_SECCOMP_EPERM, JR_SECCOMP_ALWAYS},
    /* adjtimex with modes == 0 only reads the clock state (glibc's ntp_gettime),
     * so these get EPERM rather than a kill */
    {"adjtimex", JR_SECCOMP_EPERM, JR_SECCOMP_ALWAYS},
    {"clock_adjtime", JR_SECCOMP_EPERM, JR_SECCOMP_ALWAYS},
    /* typing into a terminal the jail might share with the operator */
    {"ioctl", JR_SECCOMP_EPERM, JR_SECCOMP_TTY_INJECT},

    /* never legitimate for a submission */
    {"kexec_load", JR_SECCOMP_KILL, JR_SECCOMP_ALWAYS},
    {"kexec_file_load", JR_SECCOMP_KILL, JR_SECCOMP_ALWAYS},
    {"init_module", JR_SECCOMP_KILL, JR_SECCOMP_ALWAYS},
    {"finit_module", JR_SECCOMP_KILL, JR_SECCOMP_ALWAYS},
    {"delete_module", JR_SECCOMP_KILL, JR_SECCOMP_ALWAYS},
    {"reboot", JR_SECCOMP_KILL, JR_SECCOMP_ALWAYS},
    {"swapon", JR_SECCOMP_KILL, JR_SECCOMP_ALWAYS},
    {"swapoff", JR_SECCOMP_KILL, JR_SECCOMP_ALWAYS},
    {"settimeofday", JR_SECCOMP_KILL, JR_SECCOMP_ALWAYS},
    {"clock_settime", JR_SECCOMP_KILL, JR_SECCOMP_ALWAYS},
    {"acct", JR_SECCOMP_KILL, JR_SECCOMP_ALWAYS},
    {"iopl", JR_SECCOMP_KILL, JR_SECCOMP_ALWAYS},
    {"ioperm", JR_SECCOMP_KILL, JR_SECCOMP_ALWAYS},
    {"vhangup", JR_SECCOMP_KILL, JR_SECCOMP_ALWAYS},
    {"lookup_dcookie", JR_SECCOMP_KILL, JR_SECCOMP_ALWAYS},
};
const size_t jr_seccomp_nrules = JR_ARRAY_SIZE(jr_seccomp_rules);

const char *jr_seccomp_action_name(jr_seccomp_action a)
{
        switch (a) {
        case JR_SECCOMP_EPERM:
                return "EPERM";
        case JR_SECCOMP_KILL:
                return "KILL";
        case JR_SECCOMP_ENOSYS:
                return "ENOSYS";
        }
        return "?";
}

static uint32_t scmp_action(jr_seccomp_action a)
{
        switch (a) {
        case JR_SECCOMP_EPERM:
                return SCMP_ACT_ERRNO(EPERM);
        case JR_SECCOMP_KILL:
                return SCMP_ACT_KILL_PROCESS;
        case JR_SECCOMP_ENOSYS:
                return SCMP_ACT_ERRNO(ENOSYS);
        }
        return SCMP_ACT_KILL_PROCESS;
}

/* CLONE_NEWTIME (0x80) is not here: in clone(2) that bit belongs to the exit signal,
 * and only unshare and clone3 accept it, both refused whole. */
static const unsigned long clone_ns_flags[] = {
    CLONE_NEWNS,   CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC,
    CLONE_NEWUSER, CLONE_NEWPID,    CLONE_NEWNET,
};
static const unsigned long tty_inject_cmds[] = {TIOCSTI, TIOCLINUX};

static int add_rule(scmp_filter_ctx ctx, const jr_seccomp_rule *r, int nr, jr_error *e)
{
        uint32_t act = scmp_action(r->action);
        int ret = 0;

        switch (r->cond) {
        case JR_SECCOMP_ALWAYS:
                ret = seccomp_rule_add(ctx, act, nr, 0);
                break;
        case JR_SECCOMP_CLONE_NS:
                /* x86_64 clone(flags, stack, ptid, ctid, tls): flags is argument 0.
                 * A filter cannot test "any of these bits", so one rule per bit. */
                for (size_t i = 0; i < JR_ARRAY_SIZE(clone_ns_flags) && ret == 0; i++)
                        ret = seccomp_rule_add(
                            ctx, act, nr, 1,
                            SCMP_A0(SCMP_CMP_MASKED_EQ, clone_ns_flags[i], clone_ns_flags[i]));
                break;
        case JR_SECCOMP_TTY_INJECT:
                /* the kernel reads the command as a 32-bit int: ignore the upper half
                 * so that garbage there cannot slip past the comparison */
                for (size_t i = 0; i < JR_ARRAY_SIZE(tty_inject_cmds) && ret == 0; i++)
                        ret = seccomp_rule_add(
                            ctx, act, nr, 1,
                            SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffUL, tty_inject_cmds[i]));
                break;
        }
        if (ret < 0)
                return jr_error_set(e, -ret, "seccomp: rule for \"%s\"", r->syscall);
        return 0;
}

static void ctx_releasep(scmp_filter_ctx *ctx)
{
        if (*ctx)
                seccomp_release(*ctx);
}

/* libseccomp 2.5.4 has no export to memory: write the program to a memfd and read
 * it back. */
static int export_bpf(scmp_filter_ctx ctx, struct sock_fprog *out, jr_error *e)
{
        _cleanup_close_ int fd = memfd_create("jailrun-seccomp", MFD_CLOEXEC);
        if (fd < 0)
                return jr_error_errno(e, "seccomp: memfd_create");

        int ret = seccomp_export_bpf(ctx, fd);
        if (ret < 0)
                return jr_error_set(e, -ret, "seccomp: seccomp_export_bpf");

        off_t size = lseek(fd, 0, SEEK_END);
        if (size < 0)
                return jr_error_errno(e, "seccomp: lseek on the exported filter");
        if (size == 0 || size % sizeof(struct sock_filter) != 0 ||
            size / sizeof(struct sock_filter) > BPF_MAXINSNS)
                return jr_error_set(e, EINVAL, "seccomp: exported filter has %lld bytes",
                                    (long long)size);

        _cleanup_free_ struct sock_filter *insns = malloc((size_t)size);
        if (!insns)
                return jr_error_set(e, ENOMEM, "seccomp: filter of %lld bytes", (long long)size);
        for (off_t done = 0; done < size;) {
                ssize_t n = pread(fd, (char *)insns + done, (size_t)(size - done), done);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return jr_error_errno(e, "seccomp: reading the exported filter");
                if (n == 0)
                        return jr_error_set(e, EIO, "seccomp: exported filter truncated");
                done += n;
        }

        out->len = (unsigned short)(size / sizeof(struct sock_filter));
        out->filter = TAKE_PTR(insns);
        return 0;
}

int jr_seccomp_prepare(jr_seccomp *sc, jr_error *e)
{
        _cleanup_(ctx_releasep) scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
        if (!ctx)
                return jr_error_set(e, ENOMEM, "seccomp: seccomp_init");

        /* The filter only holds the native (x86_64) architecture, so every other
         * audit arch (i386 via int 0x80) hits the bad-arch action; libseccomp also
         * sends x32 numbers (bit 30 set) there on x86_64. Kill rather than fail:
         * a program that switches ABI is attacking the filter. */
        int ret = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
        if (ret < 0)
                return jr_error_set(e, -ret, "seccomp: bad-arch action");

        for (size_t i = 0; i < jr_seccomp_nrules; i++) {
                const jr_seccomp_rule *r = &jr_seccomp_rules[i];
                /* negative: unknown to this libseccomp or absent on this arch */
                int nr = seccomp_syscall_resolve_name(r->syscall);
                if (nr < 0)
                        continue;
                if (add_rule(ctx, r, nr, e) < 0)
                        return -1;
        }

        struct sock_fprog prog;
        if (export_bpf(ctx, &prog, e) < 0)
                return -1;
        sc->prog = prog;
        return 0;
}

int jr_seccomp_load(const jr_seccomp *sc)
{
        if (!sc || !sc->prog.filter)
                return -EINVAL;
        /* The caller sets no_new_privs already; setting it again costs one syscall
         * and makes the load work for an unprivileged caller too. */
        long r = JR_SYS(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
        if (r < 0)
                return (int)r;
        r = JR_SYS(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &sc->prog);
        return r < 0 ? (int)r : 0;
}

void jr_seccomp_free(jr_seccomp *sc)
{
        if (!sc)
                return;
        free(sc->prog.filter);
        sc->prog.filter = NULL;
        sc->prog.len = 0;
}

/* ---- the policy as text ---- */

static char policy_text[4096];
static pthread_once_t policy_once = PTHREAD_ONCE_INIT;

static const char *cond_suffix(jr_seccomp_cond c)
{
        switch (c) {
        case JR_SECCOMP_ALWAYS:
                return "";
        case JR_SECCOMP_CLONE_NS:
                return "(CLONE_NEW*)";
        case JR_SECCOMP_TTY_INJECT:
                return "(TIOCSTI,TIOCLINUX)";
        }
        return "";
}

/* Append to policy_text, silently truncating (the buffer is sized for the table). */
static void append(size_t *len, const char *s)
{
        size_t n = strlen(s);
        if (*len + n >= sizeof policy_text)
                n = sizeof policy_text - 1 - *len;
        memcpy(policy_text + *len, s, n);
        *len += n;
        policy_text[*len] = '\0';
}

static void build_policy_text(void)
{
        static const struct {
                jr_seccomp_action action;
                const char *title;
        } groups[] = {
            {JR_SECCOMP_EPERM, "fail with EPERM:"},
            {JR_SECCOMP_ENOSYS, "fail with ENOSYS:"},
            {JR_SECCOMP_KILL, "kill the process (SIGSYS):"},
        };
        const size_t width = 80, indent = 2;
        size_t len = 0;

        for (size_t g = 0; g < JR_ARRAY_SIZE(groups); g++) {
                append(&len, groups[g].title);
                size_t col = width; /* force a line break before the first name */
                for (size_t i = 0; i < jr_seccomp_nrules; i++) {
                        const jr_seccomp_rule *r = &jr_seccomp_rules[i];
                        if (r->action != groups[g].action)
                                continue;
                        char word[96];
                        snprintf(word, sizeof word, "%s%s", r->syscall, cond_suffix(r->cond));
                        size_t n = strlen(word);
                        if (col + 1 + n > width) {
                                append(&len, "\n  ");
                                col = indent;
                        } else {
                                append(&len, " ");
                                col++;
                        }
                        append(&len, word);
                        col += n;
                }
                if (groups[g].action == JR_SECCOMP_KILL)
                        append(&len,
                               "\n  and any syscall through another ABI (i386 int 0x80, x32)");
                append(&len, "\n");
        }
        append(&len, "everything else is allowed\n");
}

const char *jr_seccomp_policy_table(void)
{
        pthread_once(&policy_once, build_policy_text);
        return policy_text;
}
