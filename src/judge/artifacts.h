/* The artifacts of a build, carried from the directory the build jail wrote into a
 * root-owned one that the run jails get read-only. */
#pragma once

#include "error.h"
#include "lang.h"

/* Copy the regular files of from_dir that are lang's artifacts into to_dir (which must
 * not hold them yet). from_dir was written by a jail: every open is relative to its
 * dirfd, never follows a symlink, never blocks on a FIFO, and anything but a regular
 * file is skipped. */
int jr_carry_artifacts(const char *from_dir, const char *to_dir, const jr_lang *lang, jr_error *e);
