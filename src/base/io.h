/* Whole reads and writes on a file descriptor: through EINTR and short counts. */
#pragma once

#include <stddef.h>
#include <sys/types.h>

/* Write all n bytes: 0, or -1 with errno (EIO when write(2) wrote nothing). */
int jr_write_all(int fd, const void *buf, size_t n);

/* Read n bytes: the count read (less than n at the end of the file), or -1 with errno. */
ssize_t jr_read_full(int fd, void *buf, size_t n);
