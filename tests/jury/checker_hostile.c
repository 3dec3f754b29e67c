/* A hostile checker: it tries to change the verdict's inputs, to reach the contestant,
 * to fork without end, and it prints the answer. Each attempt's outcome goes to stderr
 * (the test's checker_output); then it accepts. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void try_write(const char *path)
{
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0666);
        fprintf(stderr, "write %s: %s\n", path, fd < 0 ? strerror(errno) : "done");
        if (fd >= 0)
                close(fd);
}

int main(int argc, char **argv)
{
        if (argc < 4)
                return 3;
        fprintf(stderr, "uid %u gid %u\n", (unsigned)getuid(), (unsigned)getgid());
        try_write(argv[1]);
        try_write(argv[2]);
        try_write(argv[3]);
        try_write("/work/a.out");
        try_write("/io/new");
        try_write("/etc/passwd");
        fprintf(stderr, "chmod output: %s\n", chmod(argv[2], 0777) < 0 ? strerror(errno) : "done");
        fprintf(stderr, "kill(-1): %s\n", kill(-1, SIGKILL) < 0 ? strerror(errno) : "done");
        struct stat st;
        fprintf(stderr, "the contestant's build: %s\n",
                stat("/work/build", &st) < 0 ? strerror(errno) : "visible");
        /* fork until refused (the pids limit), children wait to be killed */
        int kids = 0;
        for (; kids < 100000; kids++) {
                pid_t p = fork();
                if (p < 0)
                        break;
                if (p == 0) {
                        pause();
                        _exit(0);
                }
        }
        fprintf(stderr, "forked %d, then: %s\n", kids, strerror(errno));
        /* the answer, to stdout: it only ever reaches checker_output */
        int fd = open(argv[3], O_RDONLY);
        char buf[256];
        ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf) : -1;
        if (n > 0)
                fwrite(buf, 1, (size_t)n, stdout);
        return 0;
}
