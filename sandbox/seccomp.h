/* The seccomp filter: built once with libseccomp in the parent, loaded in the child
 * as a plain BPF program (no allocation after fork). Internal. */
#pragma once

#include <linux/filter.h>

#include "error.h"

typedef struct jr_seccomp {
        struct sock_fprog prog; /* owned: prog.filter is malloc'd */
} jr_seccomp;

int jr_seccomp_prepare(jr_seccomp *sc, jr_error *e);
/* In the child, last step before execve; no_new_privs must already be set.
 * Returns 0 or -errno. Async-signal-safe. */
int jr_seccomp_load(const jr_seccomp *sc);
void jr_seccomp_free(jr_seccomp *sc);
