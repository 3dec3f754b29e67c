/* The seccomp filter: built once with libseccomp in the parent, loaded in the child
 * as a plain BPF program (no allocation after fork). Internal. */
#pragma once

#include <linux/filter.h>
#include <stddef.h>

#include "error.h"

typedef struct jr_seccomp {
        struct sock_fprog prog; /* owned: prog.filter is malloc'd */
} jr_seccomp;

int jr_seccomp_prepare(jr_seccomp *sc, jr_error *e);
/* In the child, last step before execve; no_new_privs must already be set.
 * Returns 0 or -errno; raw syscalls only (see sys.h), errno untouched. */
int jr_seccomp_load(const jr_seccomp *sc);
void jr_seccomp_free(jr_seccomp *sc);

/* The policy as data, for the README and --help. Every other syscall is allowed;
 * any other ABI (i386 int 0x80, x32) kills the process. */
typedef enum jr_seccomp_action {
        JR_SECCOMP_EPERM,  /* fails with EPERM: runtimes probe these and degrade */
        JR_SECCOMP_KILL,   /* SIGSYS to the whole process: never legitimate */
        JR_SECCOMP_ENOSYS, /* fails with ENOSYS: callers fall back (clone3 -> clone) */
} jr_seccomp_action;

typedef enum jr_seccomp_cond {
        JR_SECCOMP_ALWAYS,
        JR_SECCOMP_CLONE_NS,  /* clone with any CLONE_NEW* flag */
        JR_SECCOMP_TTY_INJECT /* ioctl TIOCSTI / TIOCLINUX */
} jr_seccomp_cond;

typedef struct jr_seccomp_rule {
        const char *syscall; /* name as libseccomp knows it; unknown names are skipped */
        jr_seccomp_action action;
        jr_seccomp_cond cond;
} jr_seccomp_rule;

extern const jr_seccomp_rule jr_seccomp_rules[];
extern const size_t jr_seccomp_nrules;
const char *jr_seccomp_action_name(jr_seccomp_action a); /* "EPERM", "KILL", "ENOSYS" */
/* The table as text, grouped by action, wrapped at 80 columns; static storage. */
const char *jr_seccomp_policy_table(void);
