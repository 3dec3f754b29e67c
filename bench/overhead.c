/* bench/overhead: what a full jail costs per run, against a plain fork+exec+wait.
 *
 * Times N runs of /bin/true through the jail library (every isolation of `jailrun exec`:
 * --rootfs host, new namespaces, pivot_root, a run cgroup with memory and pids limits
 * created and removed, seccomp, no capabilities) and, in the same process and
 * interleaved so that machine noise hits both alike, N plain fork+exec+wait of
 * /bin/true. Prints p50/p90/p99 in microseconds and the ratio of the medians.
 *
 * Usage: overhead [N] [COMMAND]   (default 200 /bin/true; run as root) */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "jail.h"

static double now_us(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;
        return x < y ? -1 : x > y;
}

static double pct(const double *sorted, int n, double p)
{
        int i = (int)(p / 100.0 * (n - 1) + 0.5);
        return sorted[i];
}

static void report(const char *name, double *v, int n)
{
        qsort(v, (size_t)n, sizeof *v, cmp_double);
        printf("%-28s p50 %8.0f us   p90 %8.0f us   p99 %8.0f us\n", name, pct(v, n, 50),
               pct(v, n, 90), pct(v, n, 99));
}

static int plain_run(char *const argv[])
{
        pid_t pid = fork();
        if (pid == 0) {
                execv(argv[0], argv);
                _exit(127);
        }
        int st;
        if (pid < 0 || waitpid(pid, &st, 0) < 0)
                return -1;
        return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
        if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
                puts("usage: overhead [N] [PROGRAM]\n"
                     "  N (200) jails running PROGRAM (/bin/true) against N plain fork+exec,\n"
                     "  interleaved; prints the medians and their ratio");
                return 0;
        }
        int n = argc > 1 ? atoi(argv[1]) : 200;
        char *cmd[] = {argc > 2 ? argv[2] : "/bin/true", NULL};
        if (n < 5) {
                fprintf(stderr, "overhead: N must be at least 5\n");
                return 2;
        }
        jr_error e = {0};
        jr_sandbox *sb;
        jr_slot *slot;
        if (jr_sandbox_new(NULL, &sb, &e) < 0 || jr_slot_new(sb, 0, 60000, 60000, &slot, &e) < 0) {
                fprintf(stderr, "overhead: %s\n", e.msg);
                return 1;
        }
        jr_run_config cfg;
        jr_run_config_init(&cfg);
        cfg.argv = cmd;
        cfg.mem_bytes = 256 << 20;
        cfg.pids = 64;
        cfg.cpu_ms = 10000;
        cfg.wall_ms = 20000;

        double *jail = calloc((size_t)n, sizeof *jail), *plain = calloc((size_t)n, sizeof *plain);
        double *prep = calloc((size_t)n, sizeof *prep), *setup = calloc((size_t)n, sizeof *setup),
               *prog = calloc((size_t)n, sizeof *prog), *tear = calloc((size_t)n, sizeof *tear);
        /* warm-up: page cache, dentries, the first cgroup creation */
        for (int i = 0; i < 5; i++) {
                jr_run_result r;
                jr_jail_run(slot, &cfg, &r, &e);
                plain_run(cmd);
        }
        for (int i = 0; i < n; i++) {
                jr_run_result r;
                double t0 = now_us();
                if (jr_jail_run(slot, &cfg, &r, &e) < 0 || r.status != JR_JAIL_OK) {
                        fprintf(stderr, "overhead: jail run %d: %s %s\n", i,
                                jr_jail_status_name(r.status), e.msg);
                        return 1;
                }
                double t1 = now_us();
                if (plain_run(cmd) < 0) {
                        fprintf(stderr, "overhead: plain run %d failed\n", i);
                        return 1;
                }
                double t2 = now_us();
                jail[i] = t1 - t0;
                plain[i] = t2 - t1;
                prep[i] = (double)r.timing.prepare_us;
                setup[i] = (double)r.timing.setup_us;
                tear[i] = (double)r.timing.teardown_us;
                prog[i] = jail[i] - prep[i] - setup[i] - tear[i];
        }
        printf("# %d runs of %s, %s\n", n, cmd[0], jr_sandbox_describe(sb));
        report("plain fork+exec+wait", plain, n);
        report("jail (full isolation)", jail, n);
        printf("ratio of medians (jail / plain): %.2f\n", pct(jail, n, 50) / pct(plain, n, 50));
        printf("where the jail's time goes:\n");
        report("  prepare (plan, cgroup)", prep, n);
        report("  setup (clone..execve)", setup, n);
        report("  program (execve..exit)", prog, n);
        report("  teardown (reap, rmdir)", tear, n);
        jr_slot_free(slot);
        jr_sandbox_free(sb);
        free(jail);
        free(plain);
        free(prep);
        free(setup);
        free(prog);
        free(tear);
        return 0;
}
