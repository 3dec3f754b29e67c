/* Shared between the files of the jail library; not part of its API. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "cgroup.h"
#include "jail.h"
#include "filter.h"

struct jr_sandbox {
        jr_cg *cg;
        jr_seccomp seccomp;
        char newroot[64]; /* host directory the jail's root tmpfs is mounted on (own mount ns) */
        uint64_t seq;     /* runs started, for unique cgroup names */
        int ncpu;         /* CPUs this process may use: CPU time grows at most ncpu x wall */
        char describe[512];
};

struct jr_slot {
        jr_sandbox *sb;
        unsigned index;
        uid_t uid;
        gid_t gid;
        int netns_fd; /* empty network namespace with lo up, reused by every run */
};

/* ---- mounts.c: the jail's filesystem, planned in the parent, executed in the child ---- */

typedef enum jr_mount_kind {
        JR_MNT_BIND,    /* src -> dst, read-only unless rw; directory or file */
        JR_MNT_SYMLINK, /* dst is a symlink with target src */
        JR_MNT_TMPFS,   /* dst: tmpfs of `size` bytes, `mode`, owned by uid:gid */
        JR_MNT_PROC,
        JR_MNT_DEV, /* minimal /dev with its own /dev/shm of `size` bytes */
        JR_MNT_DIR, /* a plain directory in the root tmpfs */
} jr_mount_kind;

typedef struct jr_mount_op {
        jr_mount_kind kind;
        char *src;
        char *dst; /* absolute path inside the jail */
        bool rw;
        bool is_dir;
        bool owned; /* tmpfs: its root belongs to the jail's uid:gid */
        uint64_t size;
        unsigned mode;
} jr_mount_op;

typedef struct jr_mount_plan {
        jr_mount_op *ops;
        size_t n, cap;
} jr_mount_plan;

int jr_mount_plan_build(const jr_run_config *cfg, jr_mount_plan *plan, jr_error *e);
void jr_mount_plan_free(jr_mount_plan *plan);
/* In the child, in its new mount namespace: build the root on `newroot` and pivot into it. */
int jr_mount_plan_enter(const jr_mount_plan *plan, const char *newroot, uid_t uid, gid_t gid,
                        jr_error *e);

/* ---- net.c ---- */
/* Create an empty network namespace with only loopback, up; return its fd. */
int jr_net_new_loopback_ns(jr_error *e);
