/* jr_rootfs_tool: `jailrun rootfs build` and `list`, the work on the set of trees that
 * the recipes and the languages name (one tree: rootfs.h). */
#pragma once

#include <stdbool.h>
#include <stdio.h>

#include "error.h"

typedef struct jr_rootfs_tool_opts {
        const char *dir;            /* trees */
        const char *cache;          /* apt cache; NULL: jr_rootfs_default_cache_dir() */
        const char *recipes;        /* the *.rootfs recipes */
        const char *langs;          /* the *.lang files */
        bool force, quiet, offline; /* as in jr_rootfs_build_opts */
        /* An error that does not stop the work: a tree that failed to build, the
         * recipes or languages that `list` could not load. */
        void (*warn)(const jr_error *e, void *userdata);
        void *userdata;
} jr_rootfs_tool_opts;

/* What failed (the return value). */
typedef enum jr_rootfs_tool_failure {
        JR_ROOTFS_TOOL_FAILED = -1, /* a load, a build, a recipe missing for a language */
        JR_ROOTFS_TOOL_USAGE = -2,  /* a name that is neither a language nor a recipe */
} jr_rootfs_tool_failure;

/* How a name says what it is: "tree:rust" is the tree of rootfs/rust.rootfs alone,
 * "lang:rust" the trees of langs/rust.lang. */
#define JR_ROOTFS_TREE_PREFIX "tree:"
#define JR_ROOTFS_LANG_PREFIX "lang:"

/* Build the trees of names (n >= 1): a language's build and run trees, a tree by its
 * recipe's name, or "all" (every recipe, and every language's trees must have one). A
 * plain name that is both a language and a tree is the language (a note on log says so);
 * "tree:NAME" and "lang:NAME" choose. Each
 * tree is announced on log, mmdebstrap's progress goes there too, and its outcome (up to
 * date, built in how long and how large) follows; a failed tree goes to o->warn and the
 * others are still built. */
int jr_rootfs_build_trees(const jr_rootfs_tool_opts *o, char *const *names, size_t n, FILE *log,
                          jr_error *e);

/* Print on out the table of the trees in o->dir, of the recipes and of the languages,
 * with size, age, packages and the languages using each, then how to build the missing
 * ones. */
int jr_rootfs_list(const jr_rootfs_tool_opts *o, FILE *out, jr_error *e);
