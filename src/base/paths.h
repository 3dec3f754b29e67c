/* Defaults of the directory settings (JAILRUN_LANGS_DIR, JAILRUN_ROOTFS_DIR, ...). */
#pragma once

/* $env when it is set and not empty, else installed. */
const char *jr_env_or(const char *env, const char *installed);

/* $env when it is set and not empty, else source_dir when it is a directory (the source
 * tree of a development build; NULL: none), else installed. */
const char *jr_default_dir(const char *env, const char *source_dir, const char *installed);
