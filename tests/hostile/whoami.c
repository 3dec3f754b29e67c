/* whoami [PORT]: describe the process from the inside, one "key=value" per line,
 * for the integration tests to assert on:
 *
 *   pid= ppid=            as seen in the jail's pid namespace
 *   uid= gid=             real effective saved fs, from /proc/self/status
 *   groups=               supplementary groups
 *   CapInh= CapPrm= CapEff= CapBnd= CapAmb=
 *   NoNewPrivs= Seccomp=  (Seccomp: 0 none, 1 strict, 2 filter)
 *   hostname= cwd=
 *   rlimit.NAME=SOFT HARD ("inf" for unlimited)
 *   env=K=V               one line per environment variable
 *   fd=N -> TARGET        one line per open fd (the fd of the listing excluded)
 *   connect=ok|ERRNO      connect() to 127.0.0.1:PORT, when PORT is given
 *   end=1                 last line: the output is complete */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* standalone gcc builds; CMake defines it */
#endif
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

extern char **environ;

static void status_lines(void)
{
        static const char *const keys[] = {
            "Uid:",    "Gid:",    "Groups:", "CapInh:",     "CapPrm:",
            "CapEff:", "CapBnd:", "CapAmb:", "NoNewPrivs:", "Seccomp:"};
        FILE *f = fopen("/proc/self/status", "re");
        if (!f) {
                printf("status=%s\n", strerrorname_np(errno) ?: "?");
                return;
        }
        char line[512];
        while (fgets(line, sizeof line, f)) {
                for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
                        size_t n = strlen(keys[i]);
                        if (strncmp(line, keys[i], n) != 0)
                                continue;
                        char *v = line + n;
                        v += strspn(v, " \t");
                        v[strcspn(v, "\n")] = '\0';
                        /* tabs between the uid columns become spaces */
                        for (char *c = v; *c; c++)
                                if (*c == '\t')
                                        *c = ' ';
                        char key[32];
                        snprintf(key, sizeof key, "%.*s", (int)(n - 1), keys[i]);
                        if (strcmp(key, "Uid") == 0 || strcmp(key, "Gid") == 0 ||
                            strcmp(key, "Groups") == 0)
                                for (char *c = key; *c; c++)
                                        *c = (char)(*c | 0x20); /* lower case */
                        printf("%s=%s\n", key, v);
                }
        }
        fclose(f);
}

static void rlimit_lines(void)
{
        static const struct {
                int res;
                const char *name;
        } lims[] = {{RLIMIT_CORE, "CORE"},     {RLIMIT_CPU, "CPU"},     {RLIMIT_FSIZE, "FSIZE"},
                    {RLIMIT_NOFILE, "NOFILE"}, {RLIMIT_STACK, "STACK"}, {RLIMIT_AS, "AS"},
                    {RLIMIT_NPROC, "NPROC"}};
        for (size_t i = 0; i < sizeof lims / sizeof lims[0]; i++) {
                struct rlimit rl;
                if (getrlimit(lims[i].res, &rl) < 0)
                        continue;
                char soft[32], hard[32];
                if (rl.rlim_cur == RLIM_INFINITY)
                        snprintf(soft, sizeof soft, "inf");
                else
                        snprintf(soft, sizeof soft, "%llu", (unsigned long long)rl.rlim_cur);
                if (rl.rlim_max == RLIM_INFINITY)
                        snprintf(hard, sizeof hard, "inf");
                else
                        snprintf(hard, sizeof hard, "%llu", (unsigned long long)rl.rlim_max);
                printf("rlimit.%s=%s %s\n", lims[i].name, soft, hard);
        }
}

static void fd_lines(void)
{
        DIR *d = opendir("/proc/self/fd");
        if (!d) {
                printf("fd=%s\n", strerrorname_np(errno) ?: "?");
                return;
        }
        struct dirent *de;
        while ((de = readdir(d))) {
                if (de->d_name[0] == '.')
                        continue;
                int fd = atoi(de->d_name);
                if (fd == dirfd(d))
                        continue;
                char target[PATH_MAX];
                ssize_t n = readlinkat(dirfd(d), de->d_name, target, sizeof target - 1);
                target[n < 0 ? 0 : n] = '\0';
                printf("fd=%d -> %s\n", fd, target);
        }
        closedir(d);
}

static void connect_line(const char *port)
{
        int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (s < 0) {
                printf("connect=socket:%s\n", strerrorname_np(errno) ?: "?");
                return;
        }
        struct timeval tv = {2, 0}; /* a firewall that drops would otherwise hang us */
        setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(port))};
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (connect(s, (struct sockaddr *)&sa, sizeof sa) == 0)
                printf("connect=ok\n");
        else
                printf("connect=%s\n", strerrorname_np(errno) ?: "?");
        close(s);
}

int main(int argc, char **argv)
{
        printf("pid=%d\nppid=%d\n", getpid(), getppid());
        status_lines();

        char host[256] = "";
        if (gethostname(host, sizeof host) < 0)
                snprintf(host, sizeof host, "?%s", strerrorname_np(errno) ?: "");
        printf("hostname=%s\n", host);
        char cwd[PATH_MAX];
        printf("cwd=%s\n", getcwd(cwd, sizeof cwd) ? cwd : "?");

        rlimit_lines();
        for (char **e = environ; e && *e; e++)
                printf("env=%s\n", *e);
        fd_lines();
        if (argc > 1)
                connect_line(argv[1]);
        printf("end=1\n");
        return 0;
}
