/* Shared between the files of the jail library; not part of its API. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "cgroup.h"
#include "jail.h"
#include "filter.h"

/* A mount namespace holding a jail's root without its per-run file systems: each run
 * joins it and unshares a copy (see mounts.c). */
typedef struct jr_root_template {
        char *key;  /* jr_mount_plan_key(); NULL for an empty entry */
        int nsfd;   /* its mount namespace */
        int treefd; /* its tree, locked shared (see jr_mount_plan.root_fd); -1: the host's */
        char *tree; /* the tree's path as the caller gave it; NULL: the host's */
        dev_t dev;  /* and the directory it named then */
        ino_t ino;
} jr_root_template;

#define JR_TEMPLATES   8
#define JR_CHILD_STACK (256u << 10) /* init's and the program's, before its execve */

struct jr_sandbox {
        jr_cg *cg;
        jr_seccomp seccomp;
        int last_cap; /* highest capability number of the kernel (libcap's cap_max_bits - 1) */
        jr_root_template templates[JR_TEMPLATES];
        unsigned template_next; /* next entry to replace when all are taken */
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
        /* Stacks of the run's init and program, which share our memory (CLONE_VM): one
         * run at a time per slot, so one pair serves every run. Guard pages around. */
        char *stacks; /* the mapping, stacks_len bytes */
        size_t stacks_len;
        char *init_stack, *prog_stack; /* lowest addresses, stack_size bytes each */
        size_t stack_size;
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
        bool owned;   /* tmpfs: its root belongs to the jail's uid:gid */
        bool in_tree; /* bind of the tree's top-level entry dst, made through root_fd */
        bool per_run; /* bind: given by the caller, mounted by each run (not the template) */
        uint64_t size;
        unsigned mode;
} jr_mount_op;

typedef struct jr_mount_plan {
        jr_mount_op *ops;
        size_t n, cap;
        dev_t root_dev; /* the tree directory (0, 0 for the host's): a rebuilt tree, */
        ino_t root_ino; /* swapped in by rename, is another template */
        /* The tree directory, open and flock()ed LOCK_SH for as long as a template of it
         * exists: `jailrun rootfs build --force` swaps a new tree in by rename and deletes
         * the old one only if it can lock it exclusively, so no running jail loses a file
         * of its tree. The tree's binds are made through this fd, never through the path
         * again, so a jail gets all of one tree. -1 for the host's root. */
        int root_fd;
} jr_mount_plan;

int jr_mount_plan_build(const jr_run_config *cfg, jr_mount_plan *plan, jr_error *e);
void jr_mount_plan_free(jr_mount_plan *plan);
/* What identifies the template a plan needs (the tree and the per-run mount points). */
int jr_mount_plan_key(const jr_run_config *cfg, const jr_mount_plan *plan, char *buf, size_t n,
                      jr_error *e);
/* In the parent: detached clones (open_tree) of the tree's entries that the template
 * binds, from the plan's locked tree directory, in plan order. fds needs room for
 * plan->n; *n counts the fds opened, also on failure. */
int jr_mount_tree_clones(const jr_mount_plan *plan, int *fds, size_t *n, jr_error *e);
/* In a child with a new mount namespace: build the jail's root without the per-run file
 * systems on `newroot` and pivot into it; tree_fds from jr_mount_tree_clones. Raw
 * syscalls only; errors via jr_error_raw. */
int jr_mount_template_enter(const jr_mount_plan *plan, const int *tree_fds, const char *newroot,
                            jr_error *e);
/* In init, in its own copy of the template namespace: /proc, /dev/shm, /tmp, /work and the
 * caller's binds (bind_fds: detached clones of their sources, in plan order). Raw
 * syscalls only. */
int jr_mount_run_enter(const jr_mount_plan *plan, const int *bind_fds, uid_t uid, gid_t gid,
                       jr_error *e);

/* ---- net.c ---- */
/* Create an empty network namespace with only loopback, up; return its fd. */
int jr_net_new_loopback_ns(jr_error *e);
