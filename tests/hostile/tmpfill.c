/* tmpfill [DIR] [--sigxfsz]: write 1 MiB blocks to DIR/fill-<pid> (DIR defaults to
 * /tmp) until a write fails, print "bytes=N errno=NAME" and exit 0; ENOSPC means
 * the filesystem (the jail's tmpfs) is full, EFBIG that RLIMIT_FSIZE was hit.
 * SIGXFSZ is ignored so EFBIG is seen; with --sigxfsz it keeps its default action
 * and the process dies from it instead. The file is left in place. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* standalone gcc builds; CMake defines it */
#endif
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
        const char *dir = "/tmp";
        int keep_sigxfsz = 0;
        for (int i = 1; i < argc; i++) {
                if (strcmp(argv[i], "--sigxfsz") == 0)
                        keep_sigxfsz = 1;
                else
                        dir = argv[i];
        }
        if (!keep_sigxfsz)
                signal(SIGXFSZ, SIG_IGN);

        char path[4096];
        snprintf(path, sizeof path, "%s/fill-%d", dir, getpid());
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0) {
                dprintf(1, "open errno=%s\n", strerrorname_np(errno) ?: "?");
                return 1;
        }
        static char buf[1 << 20];
        memset(buf, 'f', sizeof buf);
        unsigned long long bytes = 0;
        for (;;) {
                ssize_t w = write(fd, buf, sizeof buf);
                if (w < 0 && errno == EINTR)
                        continue;
                if (w <= 0)
                        break;
                bytes += (unsigned long long)w;
        }
        int err = errno;
        /* a write that fits only partly returns short first; the next one fails */
        dprintf(1, "bytes=%llu errno=%s\n", bytes, strerrorname_np(err) ?: "?");
        return 0;
}
