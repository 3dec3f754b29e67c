/* flood [BYTES] [stdout|stderr|both]: write BYTES bytes (0 or absent: forever) of
 * 'x' lines to stdout (default), stderr, or both alternately. When the reader goes
 * away the write fails (EPIPE) and flood exits 1 saying so on the other stream;
 * after BYTES it exits 0. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* standalone gcc builds; CMake defines it */
#endif
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
        unsigned long long limit = argc > 1 ? strtoull(argv[1], NULL, 10) : 0;
        const char *where = argc > 2 ? argv[2] : "stdout";
        int both = strcmp(where, "both") == 0;
        int fd = strcmp(where, "stderr") == 0 ? 2 : 1;

        signal(SIGPIPE, SIG_IGN); /* see the EPIPE instead of dying silently */
        static char buf[65536];
        memset(buf, 'x', sizeof buf);
        for (size_t i = 127; i < sizeof buf; i += 128)
                buf[i] = '\n';

        unsigned long long done = 0;
        for (unsigned long n = 0; limit == 0 || done < limit; n++) {
                size_t len = sizeof buf;
                if (limit && limit - done < len)
                        len = (size_t)(limit - done);
                int out = both ? 1 + (int)(n & 1) : fd;
                ssize_t w = write(out, buf, len);
                if (w < 0 && errno == EINTR)
                        continue;
                if (w < 0) {
                        dprintf(out == 1 ? 2 : 1, "flood: write after %llu bytes: %s\n", done,
                                strerrorname_np(errno) ?: "?");
                        return 1;
                }
                done += (unsigned long long)w;
        }
        return 0;
}
