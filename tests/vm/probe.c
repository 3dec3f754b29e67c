/* probe: small hostile behaviours for the VM harness's self-check of the cgroup v2
 * layer (tests/vm/suite.sh), independent of jailrun. Static, so it runs anywhere.
 *
 *   probe hog MIB      allocate and touch MIB MiB, one MiB at a time
 *   probe forks N      fork N children that wait; print how many forks succeeded and
 *                      failed, then kill and reap them
 *   probe bomb         fork without end (refuses unless the cgroup has a finite pids.max)
 *   probe escape       double-fork a setsid()ed sleeper, then exit at once
 *   probe burn MS      spin until MS of CPU time are used
 *
 * Exit status 0 on success, 2 on bad usage, 1 on unexpected failure. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int usage(void)
{
        fputs("usage: probe hog MIB | forks N | bomb | escape | burn MS\n", stderr);
        return 2;
}

static long arg_num(const char *s)
{
        char *end;
        errno = 0;
        long v = strtol(s, &end, 10);
        if (errno != 0 || *end != '\0' || v <= 0)
                return -1;
        return v;
}

static int hog(long mib)
{
        for (long i = 0; i < mib; i++) {
                char *p =
                    mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
                if (p == MAP_FAILED) {
                        fprintf(stderr, "probe hog: mmap after %ld MiB: %s\n", i, strerror(errno));
                        return 1;
                }
                memset(p, 0x5a, 1 << 20); /* touch every page: the charge is what counts */
        }
        printf("hog: touched %ld MiB\n", mib);
        return 0;
}

static int forks(long n)
{
        pid_t *kids = calloc((size_t)n, sizeof(*kids));
        long ok = 0, failed = 0;
        int last_errno = 0;

        if (!kids)
                return 1;
        for (long i = 0; i < n; i++) {
                pid_t pid = fork();
                if (pid == 0) {
                        pause();
                        _exit(0);
                }
                if (pid < 0) {
                        failed++;
                        last_errno = errno;
                        continue;
                }
                kids[ok++] = pid;
        }
        printf("forks: ok=%ld failed=%ld errno=%d\n", ok, failed, last_errno);
        fflush(stdout);
        for (long i = 0; i < ok; i++)
                kill(kids[i], SIGKILL);
        for (long i = 0; i < ok; i++)
                waitpid(kids[i], NULL, 0);
        free(kids);
        return 0;
}

/* A fork bomb is only ever run inside a cgroup that bounds it. */
static int bounded_by_pids_max(void)
{
        char line[4096], path[4200], val[32] = "";
        FILE *f = fopen("/proc/self/cgroup", "re");

        if (!f)
                return 0;
        if (!fgets(line, sizeof(line), f) || strncmp(line, "0::", 3) != 0) {
                fclose(f);
                return 0;
        }
        fclose(f);
        line[strcspn(line, "\n")] = '\0';
        snprintf(path, sizeof(path), "/sys/fs/cgroup%s/pids.max", line + 3);
        f = fopen(path, "re");
        if (!f)
                return 0;
        if (!fgets(val, sizeof(val), f))
                val[0] = '\0';
        fclose(f);
        return val[0] >= '0' && val[0] <= '9';
}

static int bomb(void)
{
        if (!bounded_by_pids_max()) {
                fputs("probe bomb: refusing: this cgroup has no finite pids.max\n", stderr);
                return 1;
        }
        for (;;)
                fork();
}

static int escape(void)
{
        pid_t pid = fork();
        if (pid < 0)
                return 1;
        if (pid == 0) {
                if (fork() != 0)
                        _exit(0); /* the middle child dies: the sleeper is orphaned */
                setsid();
                for (int i = 0; i < 3600; i++)
                        sleep(1);
                _exit(0);
        }
        waitpid(pid, NULL, 0);
        printf("escape: sleeper left running\n");
        return 0;
}

static long cpu_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
        return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int burn(long ms)
{
        volatile unsigned long x = 0;
        while (cpu_ms() < ms)
                for (int i = 0; i < 100000; i++)
                        x += (unsigned long)i;
        printf("burn: %ld ms of CPU\n", cpu_ms());
        return 0;
}

int main(int argc, char **argv)
{
        if (argc < 2)
                return usage();
        const char *cmd = argv[1];
        long n = argc > 2 ? arg_num(argv[2]) : -1;

        if (strcmp(cmd, "hog") == 0 && argc == 3 && n > 0)
                return hog(n);
        if (strcmp(cmd, "forks") == 0 && argc == 3 && n > 0)
                return forks(n);
        if (strcmp(cmd, "bomb") == 0 && argc == 2)
                return bomb();
        if (strcmp(cmd, "escape") == 0 && argc == 2)
                return escape();
        if (strcmp(cmd, "burn") == 0 && argc == 3 && n > 0)
                return burn(n);
        return usage();
}
