/* Integration tests: the real build/jailrun exec against real jails and hostile programs.
 * Each test asserts the status and that the host is untouched. Run as root. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

#define MAX_ARGS 64

struct run {
        yajl_val report;
        char *out; /* the program's stdout */
        char *err; /* jailrun's stderr + the program's stderr */
        int exit;  /* jailrun's exit status */
};

/* jailrun's own cgroups left behind: jr-<pid>-* whose process is gone. */
static int leftover_cgroups(void)
{
        static const char *const roots[] = {"/sys/fs/cgroup/memory", "/sys/fs/cgroup/pids",
                                            "/sys/fs/cgroup/cpuacct", "/sys/fs/cgroup/cpu",
                                            "/sys/fs/cgroup"};
        const size_t v2 = sizeof roots / sizeof roots[0] - 1; /* the last: the others are v1 */
        int found = 0;
        FILE *f = fopen("/proc/self/cgroup", "re");
        cr_assert(f);
        char line[4096];
        while (fgets(line, sizeof line, f)) {
                line[strcspn(line, "\n")] = '\0';
                char *ctrl = strchr(line, ':'), *path = ctrl ? strchr(ctrl + 1, ':') : NULL;
                if (!path)
                        continue;
                *path++ = '\0';
                ctrl++;
                for (size_t i = 0; i < sizeof roots / sizeof roots[0]; i++) {
                        const char *r = roots[i];
                        const char *last = strrchr(r, '/');
                        if (i < v2 ? strcmp(ctrl, last + 1) : ctrl[0] != '\0')
                                continue;
                        char dir[8192];
                        snprintf(dir, sizeof dir, "%s%s", r, path);
                        /* on v2 jailrun keeps itself in <own>/supervisor and its jails
                         * beside it, in <own> */
                        char *leaf = strrchr(dir, '/');
                        if (i == v2 && leaf && !strcmp(leaf, "/supervisor"))
                                *leaf = '\0';
                        DIR *d = opendir(dir);
                        if (!d)
                                continue;
                        struct dirent *de;
                        while ((de = readdir(d))) {
                                int pid;
                                if (sscanf(de->d_name, "jr-%d-", &pid) == 1 && kill(pid, 0) < 0 &&
                                    errno == ESRCH) {
                                        fprintf(stderr, "leftover cgroup %s/%s\n", dir, de->d_name);
                                        found++;
                                }
                        }
                        closedir(d);
                }
        }
        fclose(f);
        return found;
}

/* Run `jailrun exec ARGS... -- CMD...`; NULL separates options from the command. */
static struct run jexec(const char *first, ...)
{
        const char *argv[MAX_ARGS];
        int n = 0;
        char report[] = "/tmp/jr-test-report-XXXXXX";
        int fd = mkstemp(report);
        cr_assert(fd >= 0);
        close(fd);
        argv[n++] = tu_build("jailrun");
        argv[n++] = "exec";
        argv[n++] = "--report";
        argv[n++] = report;
        argv[n++] = "--stdout";
        argv[n++] = "-";
        argv[n++] = "--stderr";
        argv[n++] = "-";
        /* the hostile programs, static, at /hostile in every jail */
        argv[n++] = "--bind";
        argv[n++] = tu_build("hostile:/hostile");
        va_list ap;
        va_start(ap, first);
        for (const char *a = first; a; a = va_arg(ap, const char *)) {
                cr_assert(n < MAX_ARGS - 2);
                argv[n++] = a;
        }
        argv[n++] = "--";
        for (const char *a = va_arg(ap, const char *); a; a = va_arg(ap, const char *)) {
                cr_assert(n < MAX_ARGS - 1);
                argv[n++] = a;
        }
        va_end(ap);
        argv[n] = NULL;
        struct run r = {0};
        r.exit = tu_run((char *const *)argv, NULL, &r.out, &r.err);
        FILE *f = fopen(report, "re");
        cr_assert(f);
        static char buf[1 << 16];
        size_t len = fread(buf, 1, sizeof buf - 1, f);
        buf[len] = '\0';
        fclose(f);
        unlink(report);
        r.report = tu_json(buf);
        cr_assert_eq(leftover_cgroups(), 0, "jailrun left cgroups behind");
        return r;
}

#define STATUS(r) tu_str((r).report, "status")

static const char *hostile(const char *name)
{
        static char path[8][256];
        static int i;
        char *p = path[i++ % 8];
        snprintf(p, sizeof path[0], "/hostile/%s", name);
        return p;
}

TestSuite(exec, .timeout = 120);

Test(exec, true_is_ok)
{
        struct run r = jexec(NULL, "/bin/true", NULL);
        cr_assert_eq(WEXITSTATUS(r.exit), 0, "stderr: %s", r.err);
        cr_assert_str_eq(STATUS(r), "OK");
        cr_assert_eq(tu_int(r.report, "exit_code"), 0);
        cr_assert(tu_is_null(r.report, "signal"));
        cr_assert_str_eq(tu_str(r.report, "error"), "");
}

Test(exec, exit_code_is_re)
{
        struct run r = jexec(NULL, "/bin/sh", "-c", "exit 3", NULL);
        cr_assert_str_eq(STATUS(r), "RE");
        cr_assert_eq(tu_int(r.report, "exit_code"), 3);
}

Test(exec, signal_is_re)
{
        struct run r = jexec(NULL, "/bin/sh", "-c", "kill -SEGV $$", NULL);
        cr_assert_str_eq(STATUS(r), "RE");
        cr_assert_eq(tu_int(r.report, "signal"), SIGSEGV);
        cr_assert(tu_is_null(r.report, "exit_code"));
}

Test(exec, namespaces_hostname_and_pids)
{
        struct run r =
            jexec(NULL, "/bin/sh", "-c", "hostname; echo $$; ls /proc | grep -c '^[0-9]'", NULL);
        cr_assert_str_eq(STATUS(r), "OK", "%s", r.err);
        /* init is 1, the shell 2; ls and grep are 3 and 4: the program sees the 3 of its
         * own uid, not init (hidepid, see proc_shows_nothing_of_the_host) */
        cr_assert_str_eq(r.out, "jailrun\n2\n3\n");
}

/* Init is a clone of the supervisor that shares its memory: its /proc/1/cmdline and
 * environ are the supervisor's (the host's path to jailrun, its arguments and
 * environment), and its exe, cwd and maps are the host's files. Nothing of that may
 * reach the program through any /proc entry it can read. */
Test(exec, proc_shows_nothing_of_the_host)
{
        setenv("JR_TEST_HOST_MARK", "host-env-5e1f", 1); /* in jailrun's own environment */
        struct run r = jexec(NULL, hostile("procpeek"), NULL);
        cr_assert_str_eq(STATUS(r), "OK", "%s", r.err);
        cr_assert(strstr(r.out, "\nend=1\n"), "%s", r.out);
        const char *const host[] = {JR_SOURCE_DIR,    JR_BUILD_DIR,    "--report",
                                    "jr-test-report", "host-env-5e1f", "jailrun exec"};
        for (size_t i = 0; i < sizeof host / sizeof host[0]; i++)
                cr_assert_null(strstr(r.out, host[i]), "\"%s\" is visible in the jail:\n%s",
                               host[i], r.out);
        /* the program lists its own processes only: not init, nor its name */
        cr_assert(strstr(r.out, "pid=2 cmdline=/hostile/procpeek \n"), "%s", r.out);
        cr_assert_null(strstr(r.out, "pid=1 "), "init is visible:\n%s", r.out);
        cr_assert_null(strstr(r.out, "init.comm=jailrun \n"), "%s", r.out);
        for (const char *p = strstr(r.out, "init."); p; p = strstr(p + 1, "\ninit."))
                cr_assert(!strncmp(strchr(p, '=') + 1, "!", 1), "init readable: %.80s", p);
}

Test(exec, own_namespaces_differ_from_host)
{
        struct run r = jexec(NULL, "/bin/sh", "-c",
                             "for n in mnt pid net ipc uts cgroup; do readlink /proc/self/ns/$n; "
                             "done",
                             NULL);
        cr_assert_str_eq(STATUS(r), "OK", "%s", r.err);
        const char *ns[] = {"mnt", "pid", "net", "ipc", "uts", "cgroup"};
        for (size_t i = 0; i < 6; i++) {
                char path[64], host[128];
                snprintf(path, sizeof path, "/proc/self/ns/%s", ns[i]);
                ssize_t n = readlink(path, host, sizeof host - 1);
                cr_assert(n > 0);
                host[n] = '\0';
                cr_assert_null(strstr(r.out, host), "namespace %s shared with the host", ns[i]);
        }
}

Test(exec, kill_all_cannot_touch_host)
{
        pid_t victim = fork();
        if (victim == 0) {
                execl("/bin/sleep", "sleep", "30", (char *)NULL);
                _exit(127);
        }
        struct run r = jexec(NULL, "/bin/sh", "-c", "kill -9 -1; echo survived", NULL);
        cr_assert_eq(kill(victim, 0), 0, "a host process died from kill(-1) in the jail");
        kill(victim, SIGKILL);
        waitpid(victim, NULL, 0);
        (void)r;
}

Test(exec, filesystem_read_only_except_scratch)
{
        struct run r = jexec(NULL, "/bin/sh", "-c",
                             "for d in / /usr /etc /bin /proc/sys /dev; do "
                             "  touch $d/jr-probe 2>/dev/null && echo \"writable $d\"; done; "
                             "for d in /tmp /work /dev/shm; do "
                             "  touch $d/jr-probe && echo \"ok $d\"; done; pwd",
                             NULL);
        cr_assert_str_eq(STATUS(r), "OK", "%s", r.err);
        cr_assert_str_eq(r.out, "ok /tmp\nok /work\nok /dev/shm\n/work\n");
}

Test(exec, mounts_nosuid_nodev_and_old_root_gone)
{
        struct run r = jexec(NULL, "/bin/sh", "-c", "cat /proc/self/mountinfo", NULL);
        cr_assert_str_eq(STATUS(r), "OK", "%s", r.err);
        char *save, *line;
        int lines = 0;
        for (line = strtok_r(r.out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char mnt[4096], opts[4096];
                cr_assert_eq(sscanf(line, "%*s %*s %*s %*s %4095s %4095s", mnt, opts), 2);
                lines++;
                /* nothing of the host is writable; only our own tmpfs and proc are rw */
                bool scratch = !strcmp(mnt, "/tmp") || !strcmp(mnt, "/work") ||
                               !strcmp(mnt, "/dev/shm") || !strcmp(mnt, "/proc");
                if (!scratch)
                        cr_assert(!strncmp(opts, "ro", 2), "%s is writable: %s", mnt, line);
                if (strcmp(mnt, "/dev"))
                        cr_assert(strstr(opts, "nosuid"), "%s lacks nosuid", mnt);
        }
        cr_assert(lines >= 6 && lines < 40, "unexpected mount table (%d lines)", lines);
}

Test(exec, minimal_dev)
{
        struct run r = jexec(NULL, "/bin/sh", "-c",
                             "ls /dev | tr '\\n' ' '; head -c 4 /dev/urandom | wc -c; "
                             "echo x > /dev/null && echo null-ok",
                             NULL);
        cr_assert_str_eq(STATUS(r), "OK", "%s", r.err);
        cr_assert_str_eq(r.out, "fd full null random shm stderr stdin stdout urandom zero 4\n"
                                "null-ok\n");
}

Test(exec, tmp_size_is_limited)
{
        struct run r = jexec("--tmp-size", "1M", NULL, "/bin/sh", "-c",
                             "dd if=/dev/zero of=/tmp/fill bs=64k count=64 2>/dev/null; "
                             "wc -c < /tmp/fill",
                             NULL);
        cr_assert_eq(atoll(r.out), 1 << 20, "wrote %s", r.out);
}

Test(exec, loopback_only_and_host_port_unreachable)
{
        int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        cr_assert(bind(s, (struct sockaddr *)&a, sizeof a) == 0 && listen(s, 4) == 0);
        socklen_t al = sizeof a;
        getsockname(s, (struct sockaddr *)&a, &al);
        char cmd[512];
        snprintf(cmd, sizeof cmd,
                 "cut -d: -f1 /proc/net/dev | tail -n +3 | tr -d ' '; "
                 "cat /sys/class/net/lo/operstate 2>/dev/null; "
                 "(exec 3<>/dev/tcp/127.0.0.1/%d) 2>/dev/null && echo connected || echo refused",
                 ntohs(a.sin_port));
        struct run r = jexec(NULL, "/bin/bash", "-c", cmd, NULL);
        close(s);
        cr_assert_str_eq(STATUS(r), "OK", "%s", r.err);
        cr_assert_str_eq(r.out, "lo\nrefused\n");
}

Test(exec, loopback_is_up)
{
        /* a server and a client inside the jail talk over 127.0.0.1 */
        struct run r = jexec(NULL, "/usr/bin/python3", "-c",
                             "import socket\n"
                             "s=socket.socket(); s.bind(('127.0.0.1',0)); s.listen()\n"
                             "c=socket.create_connection(s.getsockname()); print('up')",
                             NULL);
        cr_assert_str_eq(STATUS(r), "OK", "%s", r.err);
        cr_assert_str_eq(r.out, "up\n");
}

Test(exec, unprivileged_no_caps_no_new_privs)
{
        struct run r = jexec(NULL, "/bin/sh", "-c",
                             "id -u; id -g; id -G; grep -E '^(Cap|NoNewPrivs|Seccomp:)' "
                             "/proc/self/status | tr -s '\\t' ' '; grep 'core file' "
                             "/proc/self/limits | tr -s ' '",
                             NULL);
        cr_assert_str_eq(STATUS(r), "OK", "%s", r.err);
        cr_assert_str_eq(r.out, "60000\n60000\n60000\n"
                                "CapInh: 0000000000000000\nCapPrm: 0000000000000000\n"
                                "CapEff: 0000000000000000\nCapBnd: 0000000000000000\n"
                                "CapAmb: 0000000000000000\nNoNewPrivs: 1\nSeccomp: 2\n"
                                "Max core file size 0 0 bytes \n");
}

Test(exec, uid_distinct_per_slot)
{
        struct run r = jexec("--slot", "3", NULL, "/bin/sh", "-c", "id -u", NULL);
        cr_assert_str_eq(r.out, "60003\n");
        r = jexec("--uid", "12345", NULL, "/bin/sh", "-c", "id -u; id -g", NULL);
        cr_assert_str_eq(r.out, "12345\n12345\n");
}

Test(exec, uid_zero_refused)
{
        struct run r = jexec("--uid", "0", NULL, "/bin/true", NULL);
        cr_assert_eq(WEXITSTATUS(r.exit), 2);
        cr_assert_str_eq(STATUS(r), "IE");
        cr_assert(strstr(tu_str(r.report, "error"), "--uid"));
}

Test(exec, environment_empty_except_given)
{
        setenv("JR_SECRET", "leak", 1);
        struct run r = jexec("--env", "A=1", "--env", "B=two words", NULL, "/usr/bin/env", NULL);
        cr_assert_str_eq(STATUS(r), "OK", "%s", r.err);
        cr_assert_str_eq(r.out, "A=1\nB=two words\n");
}

Test(exec, no_fd_leaks_into_the_jail)
{
        int leak = open("/etc/hostname", O_RDONLY); /* deliberately without O_CLOEXEC */
        cr_assert(leak >= 0);
        struct run r = jexec(NULL, "/bin/sh", "-c", "ls /proc/self/fd | tr '\\n' ' '", NULL);
        close(leak);
        cr_assert_str_eq(STATUS(r), "OK", "%s", r.err);
        /* 0 1 2 and the directory ls is reading */
        cr_assert_str_eq(r.out, "0 1 2 3 ");
}

Test(exec, stdin_file)
{
        char path[] = "/tmp/jr-test-in-XXXXXX";
        int fd = mkstemp(path);
        cr_assert(write(fd, "2 3\n", 4) == 4);
        close(fd);
        struct run r =
            jexec("--stdin", path, NULL, "/bin/sh", "-c", "read a b; echo $((a+b))", NULL);
        unlink(path);
        cr_assert_str_eq(r.out, "5\n");
}

Test(exec, memory_hog_is_ml)
{
        struct run r = jexec("--mem", "32M", NULL, hostile("memhog"), "200", NULL);
        cr_assert_str_eq(STATUS(r), "ML", "%s %s", r.out, r.err);
        cr_assert(tu_bool(r.report, "oom_killed"));
        long long peak = tu_int(r.report, "memory_peak_bytes");
        cr_assert(peak > 16 << 20 && peak <= 33 << 20, "peak %lld", peak);
}

Test(exec, memory_within_limit_is_ok_and_measured)
{
        struct run r = jexec("--mem", "64M", NULL, hostile("memhog"), "20", NULL);
        cr_assert_str_eq(STATUS(r), "OK", "%s %s", r.out, r.err);
        cr_assert(!tu_bool(r.report, "oom_killed"));
        long long peak = tu_int(r.report, "memory_peak_bytes");
        cr_assert(peak >= 20 << 20 && peak < 64 << 20, "peak %lld", peak);
}

Test(exec, cpu_time_counts_every_thread)
{
        /* 4 threads burning: the CPU limit is on the whole cgroup, not one thread */
        struct run r = jexec("--time-ms", "500", "--wall-ms", "20000", NULL, hostile("cpuburn"),
                             "4", "60000", NULL);
        cr_assert_str_eq(STATUS(r), "TL", "%s %s", r.out, r.err);
        cr_assert_str_eq(tu_str(r.report, "reason"), "cpu time");
        cr_assert(tu_int(r.report, "cpu_ms") >= 500);
}

/* A small file's text (malloc'd), NULL when it cannot be read. */
static char *read_small(const char *path)
{
        FILE *f = fopen(path, "re");
        if (!f)
                return NULL;
        char *buf = calloc(1, 1 << 16);
        size_t n = buf ? fread(buf, 1, (1 << 16) - 1, f) : 0;
        fclose(f);
        if (buf && n == 0) {
                free(buf);
                return NULL;
        }
        return buf;
}

/* The directory of the cgroup hierarchy that holds the CPU bandwidth files, below which
 * jailrun (started by this test, in the same cgroups) makes its run cgroups: v1 the cpu
 * hierarchy at our own cpu cgroup, v2 our own cgroup (without jailrun's /supervisor).
 * NULL on a v1 host without a cpu hierarchy. */
static const char *cpu_parent_dir(bool *is_v2)
{
        static char dir[8192];
        FILE *f = fopen("/proc/self/cgroup", "re");
        cr_assert(f);
        char line[4096];
        const char *found = NULL;
        *is_v2 = access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0;
        while (!found && fgets(line, sizeof line, f)) {
                line[strcspn(line, "\n")] = '\0';
                char *ctrl = strchr(line, ':'), *path = ctrl ? strchr(ctrl + 1, ':') : NULL;
                if (!path)
                        continue;
                *path++ = '\0';
                ctrl++;
                if (*is_v2 ? ctrl[0] == '\0' : !strcmp(ctrl, "cpu")) {
                        snprintf(dir, sizeof dir, "%s%s",
                                 *is_v2 ? "/sys/fs/cgroup" : "/sys/fs/cgroup/cpu",
                                 strcmp(path, "/") ? path : "");
                        char *leaf = strrchr(dir, '/');
                        if (*is_v2 && leaf && !strcmp(leaf, "/supervisor"))
                                *leaf = '\0';
                        found = dir;
                }
        }
        fclose(f);
        return found;
}

/* `--cpus 0.5`: the run's cgroup gets a quota of 50 ms per 100 ms period, read from the
 * host while the jail lives. */
Test(exec, cpus_writes_the_bandwidth_files)
{
        bool v2;
        const char *parent = cpu_parent_dir(&v2);
        if (!parent)
                cr_skip_test("no cgroup v1 cpu hierarchy on this host");
        char report[] = "/tmp/jr-test-report-XXXXXX";
        int fd = mkstemp(report);
        cr_assert(fd >= 0);
        close(fd);
        pid_t pid = fork();
        cr_assert_geq(pid, 0);
        if (pid == 0) {
                int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
                dup2(null, 1);
                dup2(null, 2);
                execl(tu_build("jailrun"), "jailrun", "exec", "--report", report, "--cpus", "0.5",
                      "--wall-ms", "20000", "--", "/bin/sleep", "3", (char *)NULL);
                _exit(127);
        }
        char prefix[64];
        snprintf(prefix, sizeof prefix, "jr-%d-", (int)pid);
        char quota[256] = "", period[256] = "";
        for (int tries = 0; tries < 500 && !*quota; tries++) {
                DIR *d = opendir(parent);
                cr_assert(d, "%s", parent);
                struct dirent *de;
                while ((de = readdir(d)) && !*quota) {
                        /* the run's cgroup, not the probe of the kernel's files that
                         * jailrun makes at start (jr-<pid>-.probe, never limited) */
                        if (strncmp(de->d_name, prefix, strlen(prefix)) ||
                            de->d_name[strlen(prefix)] == '.')
                                continue;
                        /* once the program is in, its limits are written: they come first */
                        char path[8192 + 512];
                        snprintf(path, sizeof path, "%s/%s/cgroup.procs", parent, de->d_name);
                        char *procs = read_small(path);
                        bool populated = procs && *procs;
                        free(procs);
                        if (!populated)
                                continue;
                        snprintf(path, sizeof path, "%s/%s/%s", parent, de->d_name,
                                 v2 ? "cpu.max" : "cpu.cfs_quota_us");
                        char *q = read_small(path);
                        if (q)
                                snprintf(quota, sizeof quota, "%s", q);
                        free(q);
                        if (!v2) {
                                snprintf(path, sizeof path, "%s/%s/cpu.cfs_period_us", parent,
                                         de->d_name);
                                char *p = read_small(path);
                                if (p)
                                        snprintf(period, sizeof period, "%s", p);
                                free(p);
                        }
                }
                closedir(d);
                if (!*quota)
                        usleep(10000);
        }
        int st;
        cr_assert_eq(waitpid(pid, &st, 0), pid);
        char *text = read_small(report);
        unlink(report);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "exit %d: %s", st, text ? text : "");
        yajl_val rep = tu_json(text);
        cr_assert_str_eq(tu_str(rep, "status"), "OK", "%s", text);
        free(text);
        cr_assert(*quota, "no run cgroup jr-%d-* with a quota appeared in %s", (int)pid, parent);
        if (v2) {
                cr_assert_str_eq(quota, "50000 100000\n");
        } else {
                cr_assert_str_eq(quota, "50000\n");
                cr_assert_str_eq(period, "100000\n");
        }
        cr_assert_eq(leftover_cgroups(), 0);
}

static double loadavg(void)
{
        double l = 1e9;
        FILE *f = fopen("/proc/loadavg", "re");
        if (f) {
                if (fscanf(f, "%lf", &l) != 1)
                        l = 1e9;
                fclose(f);
        }
        return l;
}

/* Four threads burning under --cpus 0.5 for one second of wall time: the limit is on the
 * whole cgroup, so together they get half a CPU, whatever the number of cores. The
 * ceiling holds on any host; the floor (a quarter) only on an idle enough one. */
Test(exec, cpus_limits_every_thread_together)
{
        bool v2;
        if (!cpu_parent_dir(&v2))
                cr_skip_test("no cgroup v1 cpu hierarchy on this host");
        double load = loadavg();
        struct run r =
            jexec("--cpus", "0.5", "--wall-ms", "1000", NULL, hostile("cpuburn"), "4", "0", NULL);
        cr_assert_str_eq(STATUS(r), "TL", "%s %s", r.out, r.err);
        cr_assert_str_eq(tu_str(r.report, "reason"), "wall time");
        long long cpu = tu_int(r.report, "cpu_ms"), wall = tu_int(r.report, "wall_ms");
        cr_log_info("--cpus 0.5: %lld ms of CPU in %lld ms of wall (load %.1f)", cpu, wall, load);
        cr_assert_geq(wall, 1000);
        cr_assert_lt(cpu, wall, "cpu %lld ms, wall %lld ms", cpu, wall);
        /* Half the wall time, plus: the quota of the two periods the run only partly
         * spans (100 ms), a bandwidth slice that each CPU may run ahead of the pool (5 ms,
         * sched_cfs_bandwidth_slice_us), the jail's own setup and kill (40 ms). Without
         * the limit the four threads would burn about 1000 ms per core. */
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        cr_assert_leq(cpu, wall / 2 + 100 + 5 * cores + 40, "cpu %lld ms, wall %lld ms", cpu, wall);
        if (load < (double)cores / 2)
                cr_assert_geq(cpu, wall / 4, "cpu %lld ms, wall %lld ms at load %.1f", cpu, wall,
                              load);
}

Test(exec, cpus_option_is_checked)
{
        struct run r = jexec("--cpus", "0.001", NULL, "/bin/true", NULL);
        cr_assert_eq(WEXITSTATUS(r.exit), 2);
        cr_assert_str_eq(STATUS(r), "IE");
        cr_assert(strstr(r.err, "option --cpus: CPUs \"0.001\": want 0 (no limit) or 0.01 to 1024"),
                  "%s", r.err);
        r = jexec("--cpus", "half", NULL, "/bin/true", NULL);
        cr_assert_eq(WEXITSTATUS(r.exit), 2);
        cr_assert(strstr(r.err, "option --cpus: CPUs \"half\": expected a decimal number"), "%s",
                  r.err);
        r = jexec("--cpus", "0", NULL, "/bin/true", NULL);
        cr_assert_str_eq(STATUS(r), "OK", "0 is no limit: %s", r.err);
}

Test(exec, sleeper_is_wall_tl)
{
        struct run r =
            jexec("--time-ms", "1000", "--wall-ms", "300", NULL, "/bin/sleep", "30", NULL);
        cr_assert_str_eq(STATUS(r), "TL");
        cr_assert_str_eq(tu_str(r.report, "reason"), "wall time");
        cr_assert(tu_int(r.report, "wall_ms") >= 300);
        cr_assert(tu_int(r.report, "cpu_ms") < 300);
}

Test(exec, output_flood_is_ol)
{
        struct run r = jexec("--output-limit", "64k", NULL, "/bin/sh", "-c",
                             "yes hello; echo unreachable", NULL);
        cr_assert_str_eq(STATUS(r), "OL", "%s", r.err);
        cr_assert_eq(strlen(r.out), 64 * 1024, "passed on %zu bytes", strlen(r.out));
        cr_assert(tu_int(r.report, "stdout_bytes") > 64 * 1024);
}

Test(exec, fsize_limit)
{
        struct run r = jexec("--fsize", "100k", NULL, "/bin/sh", "-c",
                             "exec dd if=/dev/zero of=/tmp/f bs=1k count=1000 2>/dev/null", NULL);
        cr_assert_str_eq(STATUS(r), "RE");
        cr_assert_eq(tu_int(r.report, "signal"), SIGXFSZ);
}

Test(exec, fork_bomb_is_contained)
{
        struct run r = jexec("--pids", "32", "--time-ms", "2000", "--wall-ms", "3000", NULL,
                             hostile("forkbomb"), NULL);
        const char *st = STATUS(r);
        cr_assert(!strcmp(st, "TL") || !strcmp(st, "RE") || !strcmp(st, "OK"), "status %s", st);
}

Test(exec, thread_bomb_is_contained)
{
        struct run r =
            jexec("--pids", "16", "--wall-ms", "3000", NULL, hostile("threadbomb"), NULL);
        cr_assert_str_neq(STATUS(r), "IE", "%s", tu_str(r.report, "error"));
}

Test(exec, fd_exhaustion_stops_at_nofile)
{
        struct run r = jexec("--nofile", "32", NULL, hostile("fdhog"), NULL);
        cr_assert_str_eq(STATUS(r), "OK", "%s", r.err);
        int fds = -1;
        cr_assert_eq(sscanf(r.out, "fds=%d", &fds), 1, "%s", r.out);
        cr_assert(fds <= 32 && fds > 20, "opened %d", fds);
        cr_assert(strstr(r.out, "EMFILE"), "%s", r.out);
}

Test(exec, setsid_escapee_dies_with_the_run)
{
        /* the marker is unique to this run so pgrep finds only what this test started */
        char marker[64], cmd[256];
        snprintf(marker, sizeof marker, "%d", 900000 + getpid() % 90000);
        snprintf(cmd, sizeof cmd, "setsid sh -c 'sleep %s & sleep %s &' & sleep 0.2; exit 0",
                 marker, marker);
        struct run r = jexec(NULL, "/bin/sh", "-c", cmd, NULL);
        cr_assert_str_eq(STATUS(r), "OK", "%s", r.err);
        char pat[128];
        snprintf(pat, sizeof pat, "sleep %s", marker);
        char *const pg[] = {"/usr/bin/pgrep", "-f", pat, NULL};
        char *out;
        int st = tu_run(pg, NULL, &out, NULL);
        cr_assert_neq(WEXITSTATUS(st), 0, "escapee still alive: %s", out);
}

Test(exec, blocked_syscalls)
{
        /* EPERM families return; kill families end the program with SIGSYS */
        static const char *const eperm[] = {"mount", "unshare",       "setns",   "ptrace",
                                            "bpf",   "clone_newuser", "io_uring"};
        for (size_t i = 0; i < sizeof eperm / sizeof eperm[0]; i++) {
                struct run r = jexec(NULL, hostile("sysprobe"), eperm[i], NULL);
                cr_assert_str_eq(STATUS(r), "OK", "%s: %s", eperm[i], r.out);
                cr_assert(strstr(r.out, "EPERM") || strstr(r.out, "ENOSYS"), "%s: %s", eperm[i],
                          r.out);
        }
        static const char *const killed[] = {"kexec", "module", "reboot", "x32", "int80"};
        for (size_t i = 0; i < sizeof killed / sizeof killed[0]; i++) {
                struct run r = jexec(NULL, hostile("sysprobe"), killed[i], NULL);
                /* a kernel without IA32 emulation refuses int 0x80 before seccomp sees it */
                if (strstr(r.out, "unsupported=no-ia32-emulation")) {
                        cr_log_info("%s: kernel has no ia32 emulation", killed[i]);
                        continue;
                }
                cr_assert_str_eq(STATUS(r), "RE", "%s: %s", killed[i], r.out);
                cr_assert_eq(tu_int(r.report, "signal"), SIGSYS, "%s", killed[i]);
        }
}

Test(exec, bind_rw_and_workdir)
{
        char dir[] = "/tmp/jr-test-bind-XXXXXX";
        cr_assert(mkdtemp(dir));
        chmod(dir, 0777);
        char spec[256];
        snprintf(spec, sizeof spec, "%s:/data:rw", dir);
        struct run r = jexec("--bind", spec, "--workdir", "/data", NULL, "/bin/sh", "-c",
                             "pwd; echo hi > out.txt", NULL);
        cr_assert_str_eq(STATUS(r), "OK", "%s", r.err);
        cr_assert_str_eq(r.out, "/data\n");
        char path[512];
        snprintf(path, sizeof path, "%s/out.txt", dir);
        struct stat st;
        cr_assert_eq(stat(path, &st), 0);
        cr_assert_eq(st.st_uid, 60000);
        unlink(path);
        rmdir(dir);
}

Test(exec, bind_read_only_by_default)
{
        char dir[] = "/tmp/jr-test-bind-XXXXXX";
        cr_assert(mkdtemp(dir));
        chmod(dir, 0777);
        char spec[256];
        snprintf(spec, sizeof spec, "%s:/data", dir);
        struct run r = jexec("--bind", spec, NULL, "/bin/sh", "-c",
                             "touch /data/x 2>/dev/null && echo writable || echo ro", NULL);
        rmdir(dir);
        cr_assert_str_eq(r.out, "ro\n");
}

Test(exec, missing_rootfs_is_ie_with_path)
{
        struct run r = jexec("--rootfs", "/nonexistent/tree", NULL, "/bin/true", NULL);
        cr_assert_eq(WEXITSTATUS(r.exit), 1);
        cr_assert_str_eq(STATUS(r), "IE");
        const char *err = tu_str(r.report, "error");
        cr_assert(strstr(err, "/nonexistent/tree") && strstr(err, "No such file"), "%s", err);
}

Test(exec, missing_command_is_ie_with_execve)
{
        struct run r = jexec(NULL, "/no/such/program", NULL);
        cr_assert_str_eq(STATUS(r), "IE");
        cr_assert(strstr(tu_str(r.report, "error"), "execve \"/no/such/program\""), "%s",
                  tu_str(r.report, "error"));
}

Test(exec, failed_mount_comes_back_as_ie)
{
        /* a bind destination under the read-only /usr cannot be created */
        struct run r = jexec("--bind", "/etc:/usr/jr-nonexistent-dir", NULL, "/bin/true", NULL);
        cr_assert_str_eq(STATUS(r), "IE");
        const char *err = tu_str(r.report, "error");
        cr_assert(strstr(err, "jail setup") && strstr(err, "/usr/jr-nonexistent-dir"), "%s", err);
}

Test(exec, bad_option_is_ie_exit_2)
{
        struct run r = jexec("--mem", "lots", NULL, "/bin/true", NULL);
        cr_assert_eq(WEXITSTATUS(r.exit), 2);
        cr_assert_str_eq(STATUS(r), "IE");
        cr_assert(strstr(tu_str(r.report, "error"), "--mem"));
}

Test(exec, rootfs_directory_is_the_root)
{
        /* a tiny tree: just a static binary; nothing of the host is visible */
        char dir[] = "/tmp/jr-test-tree-XXXXXX";
        cr_assert(mkdtemp(dir));
        char bin[512], cmd[1200];
        snprintf(bin, sizeof bin, "%s/usr/bin", dir);
        snprintf(cmd, sizeof cmd, "mkdir -p %s && cp %s %s/ && ln -s usr/bin %s/bin", bin,
                 tu_build("hostile/whoami"), bin, dir);
        cr_assert_eq(system(cmd), 0);
        struct run r = jexec("--rootfs", dir, NULL, "/bin/whoami", NULL);
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        cr_assert_eq(system(cmd), 0);
        cr_assert_str_eq(STATUS(r), "OK", "%s %s", r.out, tu_str(r.report, "error"));
}

Test(exec, version_reports_backend)
{
        char *const argv[] = {(char *)tu_build("jailrun"), "exec", "--version", NULL};
        char *out;
        int st = tu_run(argv, NULL, &out, NULL);
        cr_assert_eq(WEXITSTATUS(st), 0);
        cr_assert(strstr(out, "cgroup v"), "%s", out);
        cr_assert(strstr(out, "fallbacks"), "%s", out);
}

Test(exec, supervisor_with_stdin_and_stderr_closed)
{
        /* The jail's pipes then take fds 0 and 2; the program must still get its own
         * stdin, stdout and stderr in the right places. */
        char script[1024];
        snprintf(script, sizeof script,
                 "%s exec --stdout /dev/stdout --stdin /etc/hostname -- /bin/sh -c "
                 "'read x; echo \"in=$x\"; echo err >&2' 0<&- 2>&-",
                 tu_build("jailrun"));
        char *argv[] = {"/bin/sh", "-c", script, NULL};
        char *out = NULL, *err = NULL;
        int st = tu_run(argv, NULL, &out, &err);
        cr_assert_eq(st, 0, "%s", out);
        char host[256] = {0};
        FILE *f = fopen("/etc/hostname", "r");
        cr_assert(f && fgets(host, sizeof host, f));
        fclose(f);
        host[strcspn(host, "\n")] = '\0';
        char want[300];
        snprintf(want, sizeof want, "in=%s\n{", host);
        cr_assert(!strncmp(out, want, strlen(want)), "%s", out);
        cr_assert(strstr(out, "\"stderr_bytes\":4"), "%s", out);
        free(out);
        free(err);
}
