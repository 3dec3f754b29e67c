/* jr_exec: `jailrun exec`'s work, one command run in a jail of this host.
 *
 * Open the files that become the program's stdin, stdout and stderr, make a sandbox and
 * the slot's jail, run the command, and hand back the jail's report. */
#pragma once

#include <stdbool.h>
#include <stdio.h>

#include "jail.h"

typedef struct jr_exec_opts {
        jr_run_config cfg; /* the command, its limits, binds and environment; the fds are
                              set from the paths below */
        jr_sandbox_opts sandbox;
        const char *stdin_path;  /* NULL: /dev/null */
        const char *stdout_path; /* "-": our stdout; NULL: counted, dropped */
        const char *stderr_path; /* "-": our stderr; NULL: counted, dropped */
        long uid;                /* > 0: uid and gid of the program instead of the slot's */
        unsigned slot;           /* else JAILRUN_SLOT_UID_BASE + slot */
        FILE *log;               /* "# " lines: the sandbox and the run's timing; NULL: none */
        FILE *version;           /* print "jailrun VERSION: <sandbox>" there, run nothing */
} jr_exec_opts;

/* What failed (the return value). */
typedef enum jr_exec_failure {
        JR_EXEC_FAILED = -1,  /* the jail: the sandbox, the slot, the run (status IE) */
        JR_EXEC_INVALID = -2, /* the request: a file to open, the slot's ids */
} jr_exec_failure;

/* Run o's command. 0 with *res the report (whatever the program did; nothing when
 * o->version), or a jr_exec_failure with e set. */
int jr_exec(const jr_exec_opts *o, jr_run_result *res, jr_error *e);
