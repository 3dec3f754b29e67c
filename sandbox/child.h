/* The jail's children (child.c) and the supervisor (spawn.c): what the children get and
 * what they send back. Private to the jail library. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "internal.h"
#include "rlimits.h"

#define MAX_CG_FDS 4

enum jr_sync_type {
        SYNC_READY = 1, /* init -> supervisor: the program has been started (or failed to) */
        SYNC_SETUP_ERR, /* init -> supervisor: building the jail failed (err) */
        SYNC_EXEC_ERR,  /* program -> supervisor: a step before or at execve failed (err) */
        SYNC_EXITED,    /* init -> supervisor: the program ended with wait status `status` */
};

typedef struct jr_sync_msg {
        int type;
        int status;
        uint64_t t_ns; /* CLOCK_MONOTONIC when sent: READY and EXITED time the run */
        jr_error err;
} jr_sync_msg;

/* Everything the jail needs, prepared by the supervisor before clone and read-only from
 * then on (the children read it in place). */
struct child_ctx {
        const jr_slot *slot;
        const jr_run_config *cfg;
        const jr_mount_plan *plan;
        char *const *envp;
        const char *workdir;
        jr_rlimits rl;
        int sync_fd;
        int stdin_fd, stdout_fd, stderr_fd;
        int template_fd;     /* the jail's template mount namespace */
        const int *bind_fds; /* detached clones of the caller's bind sources */
        int cg_clone_fd;     /* v2: the program is born in the run cgroup; else -1 */
        int cg_procs_fds[MAX_CG_FDS];
        int n_cg_procs;  /* the program writes "0" to these to join the run cgroup */
        const int *keep; /* fds init keeps, ascending */
        size_t nkeep;
};

/* The template builder: a child in a new mount namespace, sharing our memory and fd
 * table while we wait (CLONE_VFORK); it leaves an fd to its namespace behind. */
struct template_ctx {
        const jr_mount_plan *plan;
        const int *tree_fds; /* jr_mount_tree_clones() */
        const char *newroot;
        int nsfd;
        jr_error err;
};

/* Init, PID 1 of the jail (arg: a struct child_ctx): jr_clone3's fn. */
int jr_child_init_main(void *arg);
/* The template builder (arg: a struct template_ctx): jr_clone3's fn. */
int jr_child_template_main(void *arg);
