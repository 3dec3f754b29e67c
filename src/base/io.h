/* Whole reads and writes on a file descriptor (through EINTR and short counts), a small
 * file written whole, and what a memfd holds. */
#pragma once

#include <stddef.h>
#include <sys/types.h>

#include "bytes.h"
#include "error.h"

/* Write all n bytes: 0, or -1 with errno (EIO when write(2) wrote nothing). */
int jr_write_all(int fd, const void *buf, size_t n);

/* Read n bytes: the count read (less than n at the end of the file), or -1 with errno. */
ssize_t jr_read_full(int fd, void *buf, size_t n);

/* dir/name, fresh (one that is there is removed first; no symlink is followed), holding
 * data, with mode, owned by uid:gid when uid is not 0. For directories of our own: dir is
 * a plain path. Errors name the step and "dir/name". */
int jr_put_file(const char *dir, const char *name, jr_bytes data, mode_t mode, uid_t uid, gid_t gid,
                jr_error *e);

/* Empty a memfd (or any file) and rewind it: 0, or -1 with errno. */
int jr_memfd_reset(int fd);
/* What fd holds, mapped read-only from its start to its end: {NULL, 0} when empty or
 * unmappable. Release with jr_unmap, which also clears *b. */
jr_bytes jr_map_fd(int fd);
void jr_unmap(jr_bytes *b);
