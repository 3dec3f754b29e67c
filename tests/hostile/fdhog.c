/* fdhog [PATH]: open PATH (default /dev/null) again and again until open fails,
 * print "fds=N errno=NAME" (N = how many it opened) and exit 0. Under
 * RLIMIT_NOFILE the answer is EMFILE with N = limit - already open fds. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* standalone gcc builds; CMake defines it */
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
        const char *path = argc > 1 ? argv[1] : "/dev/null";
        unsigned long n = 0;
        for (;;) {
                if (open(path, O_RDONLY | O_CLOEXEC) < 0)
                        break;
                n++;
        }
        dprintf(1, "fds=%lu errno=%s\n", n, strerrorname_np(errno) ?: "?");
        return 0;
}
