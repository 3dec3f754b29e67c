/* Rootfs trees, private to their two files:
 *   rootfs.c        defaults, finding a tree, recipes, the dirfd walks, a tree's info
 *   rootfs_build.c  the mmdebstrap build with a shared apt cache, and atomic replacement */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "rootfs.h"

#define META_DIR   ".jailrun"
#define RECIPE_MAX (64 * 1024)

/* Whether s[0..n) holds a glob character. */
bool rootfs_has_glob(const char *s, size_t n);
/* The file at dirfd/path (no symlink at its end), NUL-terminated, into *out (and its
 * length into *len, when given); EFBIG past max bytes. */
int rootfs_read_small_file(int dirfd, const char *path, size_t max, char **out, size_t *len,
                           jr_error *e);
