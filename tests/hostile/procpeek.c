/* procpeek: what a jailed program learns of the other processes of its jail through
 * /proc, one line each, for the integration tests to assert on:
 *
 *   pid=N cmdline=ARGS         every /proc/PID it can list (NULs shown as spaces)
 *   init.NAME=CONTENT          /proc/1/NAME for cmdline environ comm status stat maps
 *                              mountinfo, and the targets of exe cwd root; or
 *   init.NAME=!ERROR           why it cannot be read
 *   end=1                      last line: the output is complete */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* standalone gcc builds; CMake defines it */
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Print up to 64 KiB of path on one line, NULs and newlines as spaces. */
static void show_file(const char *key, const char *path)
{
        static char buf[1 << 16];
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                printf("%s=!%s\n", key, strerror(errno));
                return;
        }
        size_t len = 0;
        ssize_t n;
        while (len < sizeof buf - 1 && (n = read(fd, buf + len, sizeof buf - 1 - len)) > 0)
                len += (size_t)n;
        if (n < 0 && len == 0) {
                printf("%s=!%s\n", key, strerror(errno));
                close(fd);
                return;
        }
        close(fd);
        for (size_t i = 0; i < len; i++)
                if (buf[i] == '\0' || buf[i] == '\n')
                        buf[i] = ' ';
        buf[len] = '\0';
        printf("%s=%s\n", key, buf);
}

int main(void)
{
        char path[300], key[300];
        DIR *d = opendir("/proc");
        if (!d) {
                perror("opendir /proc");
                return 1;
        }
        struct dirent *de;
        while ((de = readdir(d))) {
                if (strspn(de->d_name, "0123456789") != strlen(de->d_name))
                        continue;
                snprintf(path, sizeof path, "/proc/%s/cmdline", de->d_name);
                snprintf(key, sizeof key, "pid=%s cmdline", de->d_name);
                show_file(key, path);
        }
        closedir(d);

        static const char *const files[] = {"cmdline", "environ", "comm",     "status",
                                            "stat",    "maps",    "mountinfo"};
        for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
                snprintf(path, sizeof path, "/proc/1/%s", files[i]);
                snprintf(key, sizeof key, "init.%s", files[i]);
                show_file(key, path);
        }
        static const char *const links[] = {"exe", "cwd", "root"};
        for (size_t i = 0; i < sizeof links / sizeof links[0]; i++) {
                char target[4096];
                snprintf(path, sizeof path, "/proc/1/%s", links[i]);
                ssize_t n = readlink(path, target, sizeof target - 1);
                if (n < 0) {
                        printf("init.%s=!%s\n", links[i], strerror(errno));
                        continue;
                }
                target[n] = '\0';
                printf("init.%s=%s\n", links[i], target);
        }
        printf("end=1\n");
        return 0;
}
