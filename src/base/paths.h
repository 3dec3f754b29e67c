/* Directories: the defaults of the directory settings (JAILRUN_LANGS_DIR,
 * JAILRUN_ROOTFS_DIR, ...), and making one with its parents. */
#pragma once

#include <sys/types.h>

#include "error.h"

/* $env when it is set and not empty, else installed. */
const char *jr_env_or(const char *env, const char *installed);

/* $env when it is set and not empty, else source_dir when it is a directory (the source
 * tree of a development build; NULL: none), else installed. */
const char *jr_default_dir(const char *env, const char *source_dir, const char *installed);

/* mkdir -p: the parents, then path itself, each with mode. One that exists is fine when
 * it is a directory (EEXIST is not "is a directory": ENOTDIR when it is not). */
int jr_mkdir_p(const char *path, mode_t mode, jr_error *e);
