/* Per-language rootfs trees: recipes (rootfs/<tree>.rootfs, format in rootfs/README.md),
 * building them with mmdebstrap, and finding them for the judge.
 *
 * A tree lives in <dir>/<tree> (dir: /var/lib/jailrun/rootfs, $JAILRUN_ROOTFS_DIR or
 * --dir). It is built aside in <dir>/<tree>.tmp-<pid> and renamed into place, so a
 * tree either is complete or does not exist. Its <tree>/.jailrun/ holds:
 *   manifest    "package<TAB>version<TAB>arch" lines (dpkg-query inside the tree)
 *   build-info  "key = value" lines: tree, built, built_epoch, seconds, suite, variant,
 *               packages, mmdebstrap (version), command, jailrun (version)
 *   recipe      the recipe it was built from (a build is skipped when unchanged)
 * The jail binds only the tree's OS directories (usr, etc, ...), never .jailrun. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "error.h"

/* $JAILRUN_ROOTFS_DIR, else /var/lib/jailrun/rootfs. */
const char *jr_rootfs_default_dir(void);
/* $JAILRUN_CACHE_DIR, else /var/lib/jailrun/cache (apt archives and lists shared by
 * every build). */
const char *jr_rootfs_default_cache_dir(void);
/* $JAILRUN_RECIPES_DIR, else the source tree's rootfs/ when it exists, else
 * /usr/share/jailrun/rootfs. */
const char *jr_rootfs_default_recipes_dir(void);

/* Path of a built tree for the judge. When the tree is missing or incomplete, fails
 * with ENOENT and a message naming the command that builds it:
 *   rootfs "java-run" is missing (/var/lib/jailrun/rootfs/java-run): run
 *   `jailrun rootfs build java-run`
 * (with --dir DIR when dir is not the default). */
int jr_rootfs_path(const char *dir, const char *tree, char *buf, size_t n, jr_error *e);

typedef struct jr_rootfs_recipe {
        char *name;        /* tree name = file name without ".rootfs" */
        char *path;        /* the recipe file */
        char *description; /* one line for `rootfs list` */
        char *variant;     /* mmdebstrap --variant, or "none": no packages at all */
        char *suite;       /* "bookworm" */
        char **packages;   /* --include */
        char **mirrors;    /* extra mmdebstrap MIRROR arguments; none = its defaults */
        char *files;       /* directory (relative to the recipe) copied over the tree */
        char **strip;      /* absolute paths removed after the build; last part may glob */
        char **hooks;      /* shell commands run as --customize-hook ("$1" = the tree) */
        char **checks;     /* shell commands run inside the tree as an unprivileged uid */
        char *text;        /* the whole file, stored in .jailrun/recipe */
} jr_rootfs_recipe;

int jr_rootfs_recipe_load(const char *path, jr_rootfs_recipe **out, jr_error *e);
void jr_rootfs_recipe_free(jr_rootfs_recipe *r);
static inline void jr_rootfs_recipe_freep(jr_rootfs_recipe **r)
{
        jr_rootfs_recipe_free(*r);
}
#define _cleanup_recipe_ __attribute__((cleanup(jr_rootfs_recipe_freep)))

/* Every "*.rootfs" of dir, sorted by name. */
int jr_rootfs_recipes_load(const char *dir, jr_rootfs_recipe ***out, size_t *n, jr_error *e);
void jr_rootfs_recipes_free(jr_rootfs_recipe **v, size_t n);

typedef struct jr_rootfs_build_opts {
        const char *dir;       /* trees; NULL = default */
        const char *cache_dir; /* apt cache; NULL = default */
        bool force;            /* rebuild even when the tree exists with the same recipe */
        bool quiet;            /* mmdebstrap --quiet */
        bool offline;          /* no `apt-get update`: the cached lists and .debs only */
        FILE *log;             /* progress notes (waiting for a lock, leftovers); NULL: none */
} jr_rootfs_build_opts;

typedef enum jr_rootfs_built {
        JR_ROOTFS_BUILT,     /* built (new or replaced) */
        JR_ROOTFS_UP_TO_DATE /* present and built from the same recipe: nothing done */
} jr_rootfs_built;

/* Build one tree. Needs root (mmdebstrap in root mode, mount namespaces). Builds are
 * serialised by a lock on the cache directory. */
int jr_rootfs_build(const jr_rootfs_recipe *r, const jr_rootfs_build_opts *o,
                    jr_rootfs_built *outcome, jr_error *e);

typedef struct jr_rootfs_info {
        uint64_t size_bytes; /* allocated blocks, hard links once, this filesystem only */
        time_t built;        /* mtime of .jailrun/build-info */
        long packages;       /* lines of .jailrun/manifest */
} jr_rootfs_info;

/* Facts about a built tree (ENOENT when missing or incomplete). */
int jr_rootfs_info_get(const char *dir, const char *tree, jr_rootfs_info *out, jr_error *e);

/* Whether the built tree dir/r->name (dir NULL: the default) was built from recipe r:
 * 1 when its .jailrun/recipe holds r's text (a build would say "up to date"), 0 when it
 * holds another (an older version of the recipe) or none, < 0 when the tree cannot be
 * opened or read. */
int jr_rootfs_built_from(const char *dir, const jr_rootfs_recipe *r, jr_error *e);

/* Disk usage of dirfd/name (a file or a tree), walked with dirfds: symlinks are never
 * followed and other filesystems are not entered. */
int jr_rootfs_du(int dirfd, const char *name, uint64_t *bytes, jr_error *e);
/* Remove dirfd/name recursively, same walking rules; refuses to cross into another
 * filesystem (a forgotten bind mount) rather than delete through it. */
int jr_rootfs_remove(int dirfd, const char *name, jr_error *e);
