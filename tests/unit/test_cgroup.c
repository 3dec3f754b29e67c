/* The cgroup manager on the real kernel, as root.
 *
 * The "auto" suite runs whichever backend the host has: v1 on the hybrid build machines,
 * v2 in the pure-v2 qemu guest (issue 6). The "v2bare" suite drives the v2 backend on a
 * cgroup2 mount without controllers (/sys/fs/cgroup/unified on hybrid hosts): mkdir,
 * clone3(CLONE_INTO_CGROUP), attach, cpu.stat, cgroup.kill, the freeze fallback, the move
 * into <own>/supervisor, destroy. Parsers are tested on fixtures. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cgroup_internal.h"
#include "testutil.h"

#define MiB (1024ull * 1024ull)

/* ---- helpers ---------------------------------------------------------------------- */

static bool fs_is(const char *path, long magic)
{
        struct statfs s;
        return statfs(path, &s) == 0 && s.f_type == magic;
}

static bool host_is_v2(void)
{
        return fs_is("/sys/fs/cgroup", CGROUP2_SUPER_MAGIC);
}

static char *slurp(const char *path)
{
        static char buf[8192];
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return NULL;
        ssize_t n = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (n < 0)
                return NULL;
        buf[n] = '\0';
        return buf;
}

static char *run_file(const jr_cg_run *run, unsigned what, const char *file)
{
        for (size_t i = 0; i < run->ndirs; i++) {
                if (run->dirs[i].what & what) {
                        char p[PATH_MAX + 64];
                        snprintf(p, sizeof p, "%s/%s", run->dirs[i].path, file);
                        return slurp(p);
                }
        }
        return NULL;
}

static bool exists(const char *path)
{
        struct stat st;
        return lstat(path, &st) == 0;
}

static uint64_t now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* A child that waits on a pipe until the parent has attached it, then runs fn. */
typedef int (*child_fn)(void *);
static pid_t fork_waiting(int *go_fd, child_fn fn, void *arg)
{
        int p[2];
        cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
        pid_t pid = fork();
        cr_assert_geq(pid, 0);
        if (pid == 0) {
                /* A failed assertion ends the test before its kill: a busy child must
                 * not outlive it (100 s of CPU each, holding ctest's output pipe). */
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                close(p[1]);
                char c;
                if (read(p[0], &c, 1) != 1)
                        _exit(99);
                _exit(fn(arg));
        }
        close(p[0]);
        *go_fd = p[1];
        return pid;
}

static void go(int fd)
{
        cr_assert_eq(write(fd, "g", 1), 1);
        close(fd);
}

static int wait_status(pid_t pid)
{
        int st;
        while (waitpid(pid, &st, 0) < 0)
                cr_assert_eq(errno, EINTR);
        return st;
}

/* Wait (bounded) until the run's cgroup lists no process. */
static size_t wait_empty(jr_cg_run *run, unsigned ms)
{
        uint64_t end = now_ms() + ms;
        for (;;) {
                pid_t *pids = NULL;
                size_t n = 0;
                jr_error e;
                const jr_cg_dir *d = &run->dirs[0];
                for (size_t i = 0; i < run->ndirs; i++)
                        if (run->dirs[i].what & JR_CG_MEMORY)
                                d = &run->dirs[i];
                ASSERT_OK(jr_cg_read_procs(d, &pids, &n, &e), e);
                free(pids);
                if (n == 0 || now_ms() >= end)
                        return n;
                usleep(5000);
        }
}

static void reap_all(void)
{
        while (waitpid(-1, NULL, WNOHANG | __WALL) > 0)
                ;
}

/* ---- child bodies ---------------------------------------------------------------- */

static int body_sleep(void *arg)
{
        (void)arg;
        for (;;)
                pause();
        return 0;
}

static int body_busy(void *arg)
{
        long ms = (long)(intptr_t)arg;
        struct timespec ts;
        for (;;) {
                clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
                if (ts.tv_sec * 1000 + ts.tv_nsec / 1000000 >= ms)
                        return 0;
        }
}

static int body_hog(void *arg)
{
        size_t bytes = (size_t)(uintptr_t)arg;
        char *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
                return 2;
        for (size_t off = 0; off < bytes; off += 4096)
                p[off] = 1;
        return 0; /* should not get here under the limit */
}

/* Forks up to 32 sleeping children; exit code = how many forks succeeded. */
static int body_forker(void *arg)
{
        (void)arg;
        int ok = 0;
        for (int i = 0; i < 32; i++) {
                pid_t p = fork();
                if (p == 0) {
                        for (;;)
                                pause();
                }
                if (p > 0)
                        ok++;
        }
        return ok;
}

/* A small tree plus a setsid double-fork escapee, then sleeps. */
static int body_tree(void *arg)
{
        (void)arg;
        for (int i = 0; i < 4; i++) {
                if (fork() == 0) {
                        fork();
                        for (;;)
                                pause();
                }
        }
        if (fork() == 0) {
                setsid();
                if (fork() == 0)
                        for (;;)
                                pause();
                _exit(0);
        }
        for (;;)
                pause();
        return 0;
}

/* ---- v2 test isolation (pure v2 hosts) ------------------------------------------------
 * On v2 the supervisor must be alone in its cgroup (it moves into <own>/supervisor and
 * enables controllers in <own>). A criterion worker shares its cgroup with the runner, so
 * when the worker's cgroup is not the root it first moves into a fresh sibling
 * <parent>/jr-<pid>-t, and moves back afterwards. Nothing happens on v1 hosts. */

static char iso_home[PATH_MAX + 32]; /* where the worker was */
static char iso_cg[PATH_MAX + 64];   /* the sibling it moved to */

static void write_str(const char *path, const char *s)
{
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        cr_assert_geq(fd, 0, "open %s: %s", path, strerror(errno));
        cr_assert_eq(write(fd, s, strlen(s)), (ssize_t)strlen(s), "write %s: %s", path,
                     strerror(errno));
        close(fd);
}

static void move_to(const char *dir)
{
        char p[PATH_MAX + 128], pid[16];
        snprintf(p, sizeof p, "%s/cgroup.procs", dir);
        snprintf(pid, sizeof pid, "%d", (int)getpid());
        write_str(p, pid);
}

static void iso_setup(void)
{
        iso_cg[0] = '\0';
        if (!host_is_v2())
                return;
        char own[PATH_MAX];
        cr_assert_eq(jr_cg_proc_cgroup_find(slurp("/proc/self/cgroup"), NULL, own, sizeof own), 0);
        if (strcmp(own, "/") == 0)
                return;
        snprintf(iso_home, sizeof iso_home, "/sys/fs/cgroup%s", own);
        char parent[sizeof iso_home];
        memcpy(parent, iso_home, sizeof parent);
        *strrchr(parent, '/') = '\0';
        snprintf(iso_cg, sizeof iso_cg, "%s/jr-%d-t", parent, (int)getpid());
        cr_assert_eq(mkdir(iso_cg, 0755), 0, "mkdir %s: %s", iso_cg, strerror(errno));
        move_to(iso_cg);
}

static void iso_teardown(void)
{
        reap_all();
        if (!iso_cg[0])
                return;
        move_to(iso_home);
        char p[sizeof iso_cg + 16];
        snprintf(p, sizeof p, "%s/" JR_CG_SUPERVISOR, iso_cg);
        rmdir(p);
        rmdir(iso_cg);
}

static void subreaper(void)
{
        /* orphans of the test's children come back to us, to be reaped */
        prctl(PR_SET_CHILD_SUBREAPER, 1);
        iso_setup();
}

TestSuite(auto, .init = subreaper, .fini = iso_teardown);

/* ---- parsers ---------------------------------------------------------------------- */

Test(parse, numbers_and_keys)
{
        uint64_t v;
        cr_assert_eq(jr_cg_parse_u64("123\n", &v), 0);
        cr_assert_eq(v, 123);
        cr_assert_eq(jr_cg_parse_u64("max\n", &v), 0);
        cr_assert_eq(v, UINT64_MAX);
        cr_assert_lt(jr_cg_parse_u64("12x", &v), 0);
        cr_assert_lt(jr_cg_parse_u64("", &v), 0);

        const char *stat = "usage_usec 5000\nuser_usec 3000\nsystem_usec 2000\n";
        cr_assert_eq(jr_cg_parse_key_u64(stat, "usage_usec", &v), 0);
        cr_assert_eq(v, 5000);
        cr_assert_eq(jr_cg_parse_key_u64(stat, "system_usec", &v), 0);
        cr_assert_eq(v, 2000);
        cr_assert_eq(jr_cg_parse_key_u64(stat, "usage", &v), -ENOENT);
        cr_assert_eq(
            jr_cg_parse_key_u64("oom_kill_disable 0\nunder_oom 0\noom_kill 3", "oom_kill", &v), 0);
        cr_assert_eq(v, 3);

        cr_assert(jr_cg_list_has("cpuset cpu io memory pids\n", "cpu"));
        cr_assert(jr_cg_list_has("rw,cpu,cpuacct", "cpuacct"));
        cr_assert_not(jr_cg_list_has("cpuset io", "cpu"));
        cr_assert_not(jr_cg_list_has("", "memory"));
}

static const char mountinfo_hybrid[] =
    "30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "31 30 0:28 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:9 - cgroup cgroup "
    "rw,cpu,cpuacct\n"
    "34 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
    "35 30 0:31 /x /mnt/mem\\040bind rw,relatime - cgroup cgroup rw,memory\n"
    "38 30 0:35 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n"
    "39 30 0:36 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n"
    "40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";

Test(parse, mountinfo)
{
        jr_cg_mount m;
        cr_assert_eq(jr_cg_mountinfo_find(mountinfo_hybrid, "cgroup", "cpuacct", "/", &m), 0);
        cr_assert_str_eq(m.mnt, "/sys/fs/cgroup/cpu,cpuacct");
        cr_assert_eq(jr_cg_mountinfo_find(mountinfo_hybrid, "cgroup", "pids", "/a/b", &m), 0);
        cr_assert_str_eq(m.mnt, "/sys/fs/cgroup/pids");
        cr_assert_eq(jr_cg_mountinfo_find(mountinfo_hybrid, "cgroup2", NULL, NULL, &m), 0);
        cr_assert_str_eq(m.mnt, "/sys/fs/cgroup/unified");
        cr_assert_eq(jr_cg_mountinfo_find(mountinfo_hybrid, "cgroup", "blkio", "/", &m), -ENOENT);
        /* the bind mount of /x shows our cgroup only when we live below /x; escapes undone */
        cr_assert_eq(jr_cg_mountinfo_at(mountinfo_hybrid, "/mnt/mem bind", &m), 0);
        cr_assert_str_eq(m.root, "/x");
        char out[PATH_MAX];
        cr_assert_eq(jr_cg_join_path(&m, "/x/y", out, sizeof out), 0);
        cr_assert_str_eq(out, "/mnt/mem bind/y");
        cr_assert_eq(jr_cg_join_path(&m, "/xy", out, sizeof out), -ENOENT);

        static const char pure[] =
            "25 1 0:23 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n";
        cr_assert_eq(jr_cg_mountinfo_find(pure, "cgroup2", NULL, NULL, &m), 0);
        cr_assert_str_eq(m.mnt, "/sys/fs/cgroup");
        cr_assert_eq(jr_cg_join_path(&m, "/system.slice/jailrun.service", out, sizeof out), 0);
        cr_assert_str_eq(out, "/sys/fs/cgroup/system.slice/jailrun.service");
        cr_assert_eq(jr_cg_join_path(&m, "/", out, sizeof out), 0);
        cr_assert_str_eq(out, "/sys/fs/cgroup");
}

Test(parse, proc_self_cgroup)
{
        static const char text[] = "9:name=systemd:/\n8:pids:/p\n4:memory:/process_api/abc\n"
                                   "2:cpu,cpuacct:/c:colon\n0::/system.slice/x.service\n";
        char p[PATH_MAX];
        cr_assert_eq(jr_cg_proc_cgroup_find(text, "memory", p, sizeof p), 0);
        cr_assert_str_eq(p, "/process_api/abc");
        cr_assert_eq(jr_cg_proc_cgroup_find(text, "cpuacct", p, sizeof p), 0);
        cr_assert_str_eq(p, "/c:colon");
        cr_assert_eq(jr_cg_proc_cgroup_find(text, "cpu", p, sizeof p), 0);
        cr_assert_eq(jr_cg_proc_cgroup_find(text, NULL, p, sizeof p), 0);
        cr_assert_str_eq(p, "/system.slice/x.service");
        cr_assert_eq(jr_cg_proc_cgroup_find(text, "blkio", p, sizeof p), -ENOENT);
        cr_assert_eq(jr_cg_proc_cgroup_find("1:name=systemd:/\n", NULL, p, sizeof p), -ENOENT);
}

Test(parse, stale_names)
{
        cr_assert_eq(jr_cg_stale_pid("jr-123-s0-1"), 123);
        cr_assert_eq(jr_cg_stale_pid("jr-7-.probe"), 7);
        cr_assert_eq(jr_cg_stale_pid("jr-123"), -1);
        cr_assert_eq(jr_cg_stale_pid("jr--x"), -1);
        cr_assert_eq(jr_cg_stale_pid("jr-12x-y"), -1);
        cr_assert_eq(jr_cg_stale_pid("jrx-1-y"), -1);
        cr_assert_eq(jr_cg_stale_pid("supervisor"), -1);
        cr_assert_eq(jr_cg_stale_pid("jr-99999999999-y"), -1);
}

/* ---- the host's own backend ----------------------------------------------------------- */

Test(auto, detects_the_host_mode)
{
        jr_cg *cg;
        jr_error e = {0};
        ASSERT_OK(jr_cg_open(JR_CG_AUTO, 0, &cg, &e), e);
        jr_cg_mode want = host_is_v2() ? JR_CG_V2 : JR_CG_V1;
        cr_assert_eq(jr_cg_get_mode(cg), want);
        const char *d = jr_cg_describe(cg);
        cr_log_info("%s", d);
        cr_assert(strncmp(d, want == JR_CG_V1 ? "cgroup v1 (" : "cgroup v2 at ", 11) == 0, "%s", d);
        cr_assert(strstr(d, "fallbacks: "), "%s", d);
        if (want == JR_CG_V1) {
                cr_assert(strstr(d, "memory at /") && strstr(d, "pids") && strstr(d, "cpuacct"),
                          "%s", d);
                cr_assert_eq(jr_cg_get_fallbacks(cg),
                             JR_FB_NO_CGROUP_KILL | JR_FB_NO_CLONE_INTO_CGROUP);
        } else {
                cr_assert(strstr(d, "(memory pids cpu)"), "%s", d);
        }
        jr_cg_close(cg);
}

Test(auto, run_names_are_checked)
{
        jr_cg *cg;
        jr_cg_run *run;
        jr_error e = {0};
        ASSERT_OK(jr_cg_open(JR_CG_AUTO, 0, &cg, &e), e);
        const char *bad[] = {
            "",       "../x",
            "a/b",    ".hidden",
            "sp ace", "0123456789012345678901234567890123456789012345678901234567890123456"};
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
                cr_assert_lt(jr_cg_run_create(cg, bad[i], NULL, &run, &e), 0, "%s", bad[i]);
                cr_assert_eq(e.err, EINVAL);
        }
        jr_cg_close(cg);
}

Test(auto, limits_are_written)
{
        jr_cg *cg;
        jr_cg_run *run;
        jr_error e = {0};
        ASSERT_OK(jr_cg_open(JR_CG_AUTO, 0, &cg, &e), e);
        jr_cg_limits lim = {.mem_bytes = 64 * MiB, .pids = 17};
        ASSERT_OK(jr_cg_run_create(cg, "limits", &lim, &run, &e), e);

        char name[64];
        snprintf(name, sizeof name, "jr-%d-limits", (int)getpid());
        cr_assert_str_eq(run->name, name);
        for (size_t i = 0; i < run->ndirs; i++) {
                cr_assert(exists(run->dirs[i].path), "%s", run->dirs[i].path);
                const char *base = strrchr(run->dirs[i].path, '/') + 1;
                cr_assert_str_eq(base, name);
        }
        if (jr_cg_get_mode(cg) == JR_CG_V1) {
                cr_assert_str_eq(run_file(run, JR_CG_MEMORY, "memory.limit_in_bytes"),
                                 "67108864\n");
                char *memsw = run_file(run, JR_CG_MEMORY, "memory.memsw.limit_in_bytes");
                if (memsw)
                        cr_assert_str_eq(memsw, "67108864\n");
                cr_assert_str_eq(run_file(run, JR_CG_PIDS, "pids.max"), "17\n");
                cr_assert_eq(jr_cg_run_clone_fd(run), -1);
        } else {
                cr_assert_str_eq(run_file(run, JR_CG_MEMORY, "memory.max"), "67108864\n");
                char *swap = run_file(run, JR_CG_MEMORY, "memory.swap.max");
                if (swap)
                        cr_assert_str_eq(swap, "0\n");
                cr_assert_str_eq(run_file(run, JR_CG_MEMORY, "memory.oom.group"), "1\n");
                cr_assert_str_eq(run_file(run, JR_CG_PIDS, "pids.max"), "17\n");
                cr_assert_geq(jr_cg_run_clone_fd(run), 0);
        }

        /* Errors name the file and the errno. */
        const jr_cg_dir *pd = &run->dirs[0];
        for (size_t i = 0; i < run->ndirs; i++)
                if (run->dirs[i].what & JR_CG_PIDS)
                        pd = &run->dirs[i];
        cr_assert_eq(jr_cg_write(pd, "pids.max", "bogus", &e), -EINVAL);
        char want[PATH_MAX + 64];
        snprintf(want, sizeof want, "write \"%s/pids.max\": Invalid argument", pd->path);
        cr_assert_str_eq(e.msg, want);

        char paths[JR_CG_MAX_DIRS][PATH_MAX];
        size_t n = run->ndirs;
        for (size_t i = 0; i < n; i++)
                snprintf(paths[i], sizeof paths[i], "%s", run->dirs[i].path);
        ASSERT_OK(jr_cg_run_destroy(run, &e), e);
        for (size_t i = 0; i < n; i++)
                cr_assert_not(exists(paths[i]), "%s still there", paths[i]);
        ASSERT_OK(jr_cg_run_destroy(NULL, &e), e);
        jr_cg_close(cg);
}

static void attach_or_clone(jr_cg_run *run, pid_t pid)
{
        jr_error e = {0};
        ASSERT_OK(jr_cg_run_attach(run, pid, &e), e);
}

Test(auto, memory_hog_is_oom_killed)
{
        jr_cg *cg;
        jr_cg_run *run;
        jr_error e = {0};
        ASSERT_OK(jr_cg_open(JR_CG_AUTO, 0, &cg, &e), e);
        jr_cg_limits lim = {.mem_bytes = 32 * MiB, .pids = 16};
        ASSERT_OK(jr_cg_run_create(cg, "hog", &lim, &run, &e), e);
        int g;
        pid_t pid = fork_waiting(&g, body_hog, (void *)(uintptr_t)(256 * MiB));
        attach_or_clone(run, pid);
        go(g);
        int st = wait_status(pid);
        cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "status %#x", st);

        jr_cg_stats s = {0};
        ASSERT_OK(jr_cg_run_stats(run, &s, &e), e);
        cr_log_info("oom_kills %llu peak %llu cpu_ns %llu", (unsigned long long)s.oom_kills,
                    (unsigned long long)s.mem_peak, (unsigned long long)s.cpu_ns);
        cr_assert_geq(s.oom_kills, 1);
        cr_assert_geq(s.mem_peak, 24 * MiB);
        cr_assert_leq(s.mem_peak, 34 * MiB);
        ASSERT_OK(jr_cg_run_destroy(run, &e), e);
        jr_cg_close(cg);
}

Test(auto, pids_limit_stops_forks)
{
        jr_cg *cg;
        jr_cg_run *run;
        jr_error e = {0};
        ASSERT_OK(jr_cg_open(JR_CG_AUTO, 0, &cg, &e), e);
        jr_cg_limits lim = {.mem_bytes = 64 * MiB, .pids = 8};
        ASSERT_OK(jr_cg_run_create(cg, "pids", &lim, &run, &e), e);
        int g;
        pid_t pid = fork_waiting(&g, body_forker, NULL);
        attach_or_clone(run, pid);
        go(g);
        int st = wait_status(pid);
        cr_assert(WIFEXITED(st), "status %#x", st);
        /* the forker itself is one of the 8 */
        cr_assert_eq(WEXITSTATUS(st), 7, "forks that succeeded: %d", WEXITSTATUS(st));

        /* its children are orphans in the cgroup now: kill empties it */
        ASSERT_OK(jr_cg_run_kill(run, &e), e);
        cr_assert_eq(wait_empty(run, 2000), 0);
        ASSERT_OK(jr_cg_run_destroy(run, &e), e);
        jr_cg_close(cg);
}

/* The CPU bandwidth limit: cpu.max on v2; on v1 the cpu hierarchy's quota and period,
 * in a directory made only for runs that have the limit when that hierarchy is mounted
 * apart (as on the hybrid build machines). */
Test(auto, cpu_bandwidth_is_written)
{
        jr_cg *cg;
        jr_cg_run *run, *plain;
        jr_error e = {0};
        ASSERT_OK(jr_cg_open(JR_CG_AUTO, 0, &cg, &e), e);
        cr_log_info("%s", jr_cg_describe(cg));
        jr_cg_limits lim = {.nano_cpus = 500000000, .pids = 8};
        if (jr_cg_get_mode(cg) == JR_CG_V1 && !(cg->ctrl & JR_CG_CPU_BW)) {
                /* no cpu hierarchy: the run that asks fails, naming what is missing */
                cr_assert_lt(jr_cg_run_create(cg, "bw", &lim, &run, &e), 0);
                cr_assert(strstr(e.msg, "no cgroup v1 \"cpu\" hierarchy (cpu.cfs_quota_us)"), "%s",
                          e.msg);
                cr_assert(strstr(jr_cg_describe(cg), "no CPU bandwidth limit"), "%s",
                          jr_cg_describe(cg));
                jr_cg_close(cg);
                cr_skip_test("no cgroup v1 cpu hierarchy here");
        }
        ASSERT_OK(jr_cg_run_create(cg, "bw", &lim, &run, &e), e);
        ASSERT_OK(jr_cg_run_create(cg, "plain", NULL, &plain, &e), e);
        if (jr_cg_get_mode(cg) == JR_CG_V1) {
                cr_assert(strstr(jr_cg_describe(cg), "cpu at /"), "%s", jr_cg_describe(cg));
                cr_assert_str_eq(run_file(run, JR_CG_CPU_BW, "cpu.cfs_quota_us"), "50000\n");
                cr_assert_str_eq(run_file(run, JR_CG_CPU_BW, "cpu.cfs_period_us"), "100000\n");
                cr_assert_str_eq(run_file(run, JR_CG_PIDS, "pids.max"), "8\n");
                cr_assert_eq(run->ndirs, cg->nbases);
                if (cg->v1_cpu_apart) {
                        /* the cpu hierarchy's own directory: the last, and only for the
                         * run with the limit */
                        cr_assert_eq(cg->bases[cg->nbases - 1].what, JR_CG_CPU_BW);
                        cr_assert_eq(plain->ndirs, cg->nbases - 1);
                        char p[PATH_MAX + 80];
                        snprintf(p, sizeof p, "%s/%s", cg->bases[cg->nbases - 1].path, plain->name);
                        cr_assert_not(exists(p), "%s made for a run without a CPU limit", p);
                } else {
                        cr_assert_eq(plain->ndirs, cg->nbases);
                }
        } else {
                cr_assert_str_eq(run_file(run, JR_CG_CPU, "cpu.max"), "50000 100000\n");
                cr_assert_str_eq(run_file(plain, JR_CG_CPU, "cpu.max"), "max 100000\n");
        }
        /* the smallest quota the kernel takes, and what it refuses */
        jr_cg_run *small;
        jr_cg_limits min = {.nano_cpus = JR_NANO_CPUS_MIN};
        ASSERT_OK(jr_cg_run_create(cg, "small", &min, &small, &e), e);
        cr_assert_str_eq(run_file(small, jr_cg_get_mode(cg) == JR_CG_V1 ? JR_CG_CPU_BW : JR_CG_CPU,
                                  jr_cg_get_mode(cg) == JR_CG_V1 ? "cpu.cfs_quota_us" : "cpu.max"),
                         jr_cg_get_mode(cg) == JR_CG_V1 ? "1000\n" : "1000 100000\n");
        ASSERT_OK(jr_cg_run_destroy(small, &e), e);
        jr_cg_limits tiny = {.nano_cpus = JR_NANO_CPUS_MIN - 1};
        cr_assert_lt(jr_cg_run_create(cg, "tiny", &tiny, &small, &e), 0);
        cr_assert_eq(e.err, EINVAL);
        cr_assert(strstr(e.msg, "want 0.01 to 1024 CPUs"), "%s", e.msg);

        char paths[JR_CG_MAX_DIRS][PATH_MAX];
        size_t n = run->ndirs;
        for (size_t i = 0; i < n; i++)
                snprintf(paths[i], sizeof paths[i], "%s", run->dirs[i].path);
        ASSERT_OK(jr_cg_run_destroy(plain, &e), e);
        ASSERT_OK(jr_cg_run_destroy(run, &e), e);
        for (size_t i = 0; i < n; i++)
                cr_assert_not(exists(paths[i]), "%s still there", paths[i]);
        jr_cg_close(cg);
}

/* A busy child under 0.5 CPU for 400 ms of wall time: the kernel throttles it. Only the
 * ceiling is asserted (a loaded host may give it less, never more). */
Test(auto, cpu_bandwidth_throttles)
{
        jr_cg *cg;
        jr_cg_run *run;
        jr_error e = {0};
        ASSERT_OK(jr_cg_open(JR_CG_AUTO, 0, &cg, &e), e);
        if (jr_cg_get_mode(cg) == JR_CG_V1 && !(cg->ctrl & JR_CG_CPU_BW)) {
                jr_cg_close(cg);
                cr_skip_test("no cgroup v1 cpu hierarchy here");
        }
        jr_cg_limits lim = {.nano_cpus = 500000000};
        ASSERT_OK(jr_cg_run_create(cg, "throttle", &lim, &run, &e), e);
        int g;
        pid_t pid = fork_waiting(&g, body_busy, (void *)(intptr_t)100000);
        attach_or_clone(run, pid);
        uint64_t t0 = now_ms();
        go(g);
        usleep(400000);
        uint64_t cpu_ns = 0;
        ASSERT_OK(jr_cg_run_poll(run, &cpu_ns, &e), e);
        uint64_t wall = now_ms() - t0;
        ASSERT_OK(jr_cg_run_kill(run, &e), e);
        wait_status(pid);
        cr_log_info("wall %llu ms, cpu %llu ms", (unsigned long long)wall,
                    (unsigned long long)(cpu_ns / 1000000));
        /* half of the wall time, plus the quota of the two periods it only partly spans
         * and a 5 ms bandwidth slice per CPU; unlimited it would be all of the wall time */
        uint64_t slack = 100 + 5 * (uint64_t)sysconf(_SC_NPROCESSORS_ONLN);
        cr_assert_leq(cpu_ns / 1000000, wall / 2 + slack, "cpu %llu ms in %llu ms of wall",
                      (unsigned long long)(cpu_ns / 1000000), (unsigned long long)wall);
        ASSERT_OK(jr_cg_run_destroy(run, &e), e);
        jr_cg_close(cg);
}

Test(auto, cpu_time_is_counted)
{
        jr_cg *cg;
        jr_cg_run *run;
        jr_error e = {0};
        ASSERT_OK(jr_cg_open(JR_CG_AUTO, 0, &cg, &e), e);
        ASSERT_OK(jr_cg_run_create(cg, "cpu", NULL, &run, &e), e);
        uint64_t before = 1;
        ASSERT_OK(jr_cg_run_poll(run, &before, &e), e);
        cr_assert_eq(before, 0);
        int g;
        pid_t pid = fork_waiting(&g, body_busy, (void *)(intptr_t)300);
        attach_or_clone(run, pid);
        go(g);
        cr_assert_eq(wait_status(pid), 0);
        uint64_t polled = 0;
        ASSERT_OK(jr_cg_run_poll(run, &polled, &e), e);
        jr_cg_stats s = {0};
        ASSERT_OK(jr_cg_run_stats(run, &s, &e), e);
        cr_log_info("polled %llu stats %llu", (unsigned long long)polled,
                    (unsigned long long)s.cpu_ns);
        /* the child burnt 300 ms by its own clock; the cgroup's clock is sampled apart */
        cr_assert_geq(polled, 250ull * 1000 * 1000);
        cr_assert_geq(s.cpu_ns, polled);
        cr_assert_eq(s.oom_kills, 0);
        ASSERT_OK(jr_cg_run_destroy(run, &e), e);
        jr_cg_close(cg);
}

Test(auto, kill_empties_the_cgroup)
{
        jr_cg *cg;
        jr_cg_run *run;
        jr_error e = {0};
        ASSERT_OK(jr_cg_open(JR_CG_AUTO, 0, &cg, &e), e);
        ASSERT_OK(jr_cg_run_create(cg, "tree", NULL, &run, &e), e);
        int g;
        pid_t pid = fork_waiting(&g, body_tree, NULL);
        attach_or_clone(run, pid);
        go(g);
        /* wait until the tree has grown: 1 + 4*2 + the escapee */
        uint64_t end = now_ms() + 3000;
        size_t n = 0;
        while (now_ms() < end) {
                pid_t *pids = NULL;
                ASSERT_OK(jr_cg_read_procs(&run->dirs[0], &pids, &n, &e), e);
                free(pids);
                if (n >= 10)
                        break;
                usleep(5000);
        }
        cr_assert_geq(n, 10);
        ASSERT_OK(jr_cg_run_kill(run, &e), e);
        int st = wait_status(pid);
        cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "status %#x", st);
        cr_assert_eq(wait_empty(run, 2000), 0);
        ASSERT_OK(jr_cg_run_destroy(run, &e), e);
        jr_cg_close(cg);
}

Test(auto, destroy_is_bounded_and_close_cleans_up, .timeout = 30)
{
        jr_cg *cg;
        jr_cg_run *run;
        jr_error e = {0};
        ASSERT_OK(jr_cg_open(JR_CG_AUTO, 0, &cg, &e), e);
        ASSERT_OK(jr_cg_run_create(cg, "busy", NULL, &run, &e), e);
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s", run->dirs[0].path);
        int g;
        pid_t pid = fork_waiting(&g, body_sleep, NULL);
        attach_or_clone(run, pid);
        go(g);
        /* a live process keeps the cgroup: destroy gives up after its bound, saying why */
        uint64_t t0 = now_ms();
        cr_assert_lt(jr_cg_run_destroy(run, &e), 0);
        uint64_t took = now_ms() - t0;
        cr_assert_leq(took, 5000);
        cr_assert_eq(e.err, EBUSY);
        char want[32];
        snprintf(want, sizeof want, "%d", (int)pid);
        cr_assert(strstr(e.msg, "rmdir") && strstr(e.msg, want), "%s", e.msg);
        cr_assert(exists(path));
        /* close kills what is left and removes it */
        jr_cg_close(cg);
        int st = wait_status(pid);
        cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "status %#x", st);
        cr_assert_not(exists(path), "%s still there", path);
}

Test(auto, close_removes_runs_left_behind)
{
        jr_cg *cg;
        jr_cg_run *a, *b;
        jr_error e = {0};
        ASSERT_OK(jr_cg_open(JR_CG_AUTO, 0, &cg, &e), e);
        ASSERT_OK(jr_cg_run_create(cg, "a", NULL, &a, &e), e);
        ASSERT_OK(jr_cg_run_create(cg, "b", NULL, &b, &e), e);
        /* the same name twice in one process is refused, not reused */
        jr_cg_run *dup;
        cr_assert_lt(jr_cg_run_create(cg, "a", NULL, &dup, &e), 0);
        cr_assert_eq(e.err, EEXIST, "%s", e.msg);
        char pa[PATH_MAX], pb[PATH_MAX];
        snprintf(pa, sizeof pa, "%s", a->dirs[0].path);
        snprintf(pb, sizeof pb, "%s", b->dirs[0].path);
        ASSERT_OK(jr_cg_run_destroy(b, &e), e);
        jr_cg_close(cg);
        cr_assert_not(exists(pa));
        cr_assert_not(exists(pb));
}

Test(auto, stale_run_cgroups_are_removed)
{
        jr_cg *cg;
        jr_error e = {0};
        ASSERT_OK(jr_cg_open(JR_CG_AUTO, 0, &cg, &e), e);
        char bases[JR_CG_MAX_DIRS][PATH_MAX];
        size_t nb = cg->nbases;
        for (size_t i = 0; i < nb; i++)
                snprintf(bases[i], sizeof bases[i], "%s", cg->bases[i].path);
        jr_cg_close(cg);

        pid_t dead = fork();
        if (dead == 0)
                _exit(0);
        wait_status(dead);
        const char *pre[] = {"jr-", "jr-", "jr-", "jrx-", "jr-"};
        const char *suf[] = {"-x", "-y", "-alive", "-other", "-mine"};
        pid_t who[] = {dead, dead, 1, dead, getpid()};
        bool gone[] = {true, true, false, false, true};
        for (size_t i = 0; i < nb; i++) {
                for (size_t k = 0; k < 5; k++) {
                        char name[64], p[PATH_MAX + 64];
                        snprintf(name, sizeof name, "%s%d%s", pre[k], (int)who[k], suf[k]);
                        snprintf(p, sizeof p, "%s/%s", bases[i], name);
                        cr_assert_eq(mkdir(p, 0755), 0, "mkdir %s: %s", p, strerror(errno));
                }
        }
        /* no jr_cg is open in this process: jr-<own pid>-* can only be an older
         * process's leftover too */
        ASSERT_OK(jr_cg_open(JR_CG_AUTO, 0, &cg, &e), e);
        for (size_t i = 0; i < nb; i++) {
                for (size_t k = 0; k < 5; k++) {
                        char name[64], p[PATH_MAX + 64];
                        snprintf(name, sizeof name, "%s%d%s", pre[k], (int)who[k], suf[k]);
                        snprintf(p, sizeof p, "%s/%s", bases[i], name);
                        cr_assert_eq(!exists(p), gone[k], "%s", p);
                        if (!gone[k])
                                rmdir(p);
                }
        }
        jr_cg_close(cg);
}

/* Holds 16 MiB, says so on the pipe in arg, then sleeps. */
static int body_hold(void *arg)
{
        int ready = (int)(intptr_t)arg;
        size_t bytes = 16 * MiB;
        char *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
                return 2;
        for (size_t off = 0; off < bytes; off += 4096)
                p[off] = 1;
        if (write(ready, "r", 1) != 1)
                return 3;
        for (;;)
                pause();
}

Test(auto, forced_fallbacks_work_and_are_reported)
{
        jr_cg *cg;
        jr_cg_run *run;
        jr_error e = {0};
        unsigned all = JR_FB_NO_MEMORY_PEAK | JR_FB_NO_CGROUP_KILL | JR_FB_NO_CLONE_INTO_CGROUP;
        ASSERT_OK(jr_cg_open(JR_CG_AUTO, all, &cg, &e), e);
        const char *d = jr_cg_describe(cg);
        cr_log_info("%s", d);
        if (jr_cg_get_mode(cg) == JR_CG_V2) {
                cr_assert_eq(jr_cg_get_fallbacks(cg), all);
                cr_assert(strstr(d, "fallbacks: memory.peak polled, freeze+kill, attach"), "%s", d);
        } else {
                /* v1 always attaches and kills each pid; its peak is max_usage_in_bytes */
                cr_assert_eq(jr_cg_get_fallbacks(cg),
                             JR_FB_NO_CGROUP_KILL | JR_FB_NO_CLONE_INTO_CGROUP);
                cr_assert(strstr(d, "fallbacks: attach, kill each pid"), "%s", d);
        }
        jr_cg_limits lim = {.mem_bytes = 64 * MiB, .pids = 16};
        ASSERT_OK(jr_cg_run_create(cg, "fb", &lim, &run, &e), e);
        cr_assert_eq(jr_cg_run_clone_fd(run), -1);

        int ready[2];
        cr_assert_eq(pipe2(ready, O_CLOEXEC), 0);
        int g;
        pid_t pid = fork_waiting(&g, body_hold, (void *)(intptr_t)ready[1]);
        close(ready[1]);
        attach_or_clone(run, pid);
        go(g);
        char c;
        cr_assert_eq(read(ready[0], &c, 1), 1);
        close(ready[0]);
        uint64_t cpu = 0;
        ASSERT_OK(jr_cg_run_poll(run, &cpu, &e), e); /* samples the peak */
        ASSERT_OK(jr_cg_run_kill(run, &e), e);
        int st = wait_status(pid);
        cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "status %#x", st);
        cr_assert_eq(wait_empty(run, 2000), 0);
        jr_cg_stats s = {0};
        ASSERT_OK(jr_cg_run_stats(run, &s, &e), e);
        cr_log_info("peak %llu", (unsigned long long)s.mem_peak);
        cr_assert_geq(s.mem_peak, 16 * MiB);
        cr_assert_leq(s.mem_peak, 64 * MiB);
        cr_assert_eq(s.oom_kills, 0);
        ASSERT_OK(jr_cg_run_destroy(run, &e), e);
        jr_cg_close(cg);
}

static pid_t clone_into(int cgfd);
static void assert_in(pid_t pid, const char *rel);

Test(auto, child_is_born_in_the_run_cgroup)
{
        jr_cg *cg;
        jr_cg_run *run;
        jr_error e = {0};
        ASSERT_OK(jr_cg_open(JR_CG_AUTO, 0, &cg, &e), e);
        jr_cg_limits lim = {.mem_bytes = 64 * MiB, .pids = 16};
        ASSERT_OK(jr_cg_run_create(cg, "born", &lim, &run, &e), e);
        int fd = jr_cg_run_clone_fd(run);
        if (fd < 0) {
                jr_cg_close(cg);
                cr_skip_test("no CLONE_INTO_CGROUP on this backend");
        }
        pid_t pid = clone_into(fd);
        /* the path below the mount: the run's directory minus "/sys/fs/cgroup" */
        const char *rel = run->dirs[0].path + strlen("/sys/fs/cgroup");
        assert_in(pid, rel);
        ASSERT_OK(jr_cg_run_kill(run, &e), e);
        int st = wait_status(pid);
        cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "status %#x", st);
        ASSERT_OK(jr_cg_run_destroy(run, &e), e);
        jr_cg_close(cg);
}

Test(auto, forced_v1_on_v2_or_v2_on_hybrid_fails_cleanly)
{
        jr_cg *cg = NULL;
        jr_error e = {0};
        jr_cg_mode other = host_is_v2() ? JR_CG_V1 : JR_CG_V2;
        cr_assert_lt(jr_cg_open(other, 0, &cg, &e), 0);
        cr_assert_null(cg);
        cr_log_info("%s", e.msg);
        cr_assert(strncmp(e.msg, other == JR_CG_V2 ? "cgroup v2: " : "cgroup v1: ", 11) == 0, "%s",
                  e.msg);
        if (other == JR_CG_V2 && fs_is("/sys/fs/cgroup/unified", CGROUP2_SUPER_MAGIC))
                cr_assert(strstr(e.msg, "controller \"memory\" is not available"), "%s", e.msg);
}

/* ---- v2 without controllers ------------------------------------------------------------ */

static const char *bare_mount(void)
{
        if (host_is_v2())
                return NULL; /* the auto suite covers v2 there */
        if (!fs_is("/sys/fs/cgroup/unified", CGROUP2_SUPER_MAGIC))
                return NULL;
        return "/sys/fs/cgroup/unified";
}

static int open_bare(unsigned fb, bool leaf, jr_cg **cg, jr_error *e)
{
        jr_cg_open_opts o = {.mode = JR_CG_V2,
                             .fallbacks = fb,
                             .v2_mount = bare_mount(),
                             .v2_custom_controllers = true,
                             .v2_controllers = 0,
                             .v2_always_leaf = leaf};
        return jr_cg_open_at(&o, cg, e);
}

static void bare_init(void)
{
        if (!bare_mount())
                cr_skip_test("no controller-less cgroup2 mount on this host");
        prctl(PR_SET_CHILD_SUBREAPER, 1);
}

TestSuite(v2bare, .init = bare_init, .fini = reap_all);

static pid_t clone_into(int cgfd)
{
        struct clone_args a = {
            .flags = CLONE_INTO_CGROUP, .exit_signal = SIGCHLD, .cgroup = (uint64_t)cgfd};
        pid_t pid = (pid_t)syscall(SYS_clone3, &a, sizeof a);
        cr_assert_geq(pid, 0, "clone3: %s", strerror(errno));
        if (pid == 0) {
                prctl(PR_SET_PDEATHSIG, SIGKILL); /* as in fork_waiting */
                _exit(body_busy((void *)(intptr_t)100000));
        }
        return pid;
}

static void assert_in(pid_t pid, const char *rel)
{
        char p[64], want[PATH_MAX + 8];
        snprintf(p, sizeof p, "/proc/%d/cgroup", (int)pid);
        snprintf(want, sizeof want, "0::%s\n", rel);
        char *text = slurp(p);
        cr_assert(text && strstr(text, want), "%s not in %s", want, text ? text : "?");
}

Test(v2bare, clone_attach_cpu_kill_destroy)
{
        jr_cg *cg;
        jr_cg_run *run;
        jr_error e = {0};
        ASSERT_OK(open_bare(0, false, &cg, &e), e);
        cr_assert_eq(jr_cg_get_mode(cg), JR_CG_V2);
        cr_log_info("%s", jr_cg_describe(cg));
        cr_assert_str_eq(jr_cg_describe(cg),
                         "cgroup v2 at /sys/fs/cgroup/unified (no controllers); fallbacks: none");
        cr_assert_eq(jr_cg_get_fallbacks(cg), 0);
        jr_cg_limits lim = {.mem_bytes = 64 * MiB};
        cr_assert_lt(jr_cg_run_create(cg, "x", &lim, &run, &e), 0); /* no memory controller */
        jr_cg_limits bw = {.nano_cpus = 500000000};
        cr_assert_lt(jr_cg_run_create(cg, "x", &bw, &run, &e), 0);
        cr_assert(strstr(e.msg, "without the cpu controller (cpu.max)"), "%s", e.msg);
        ASSERT_OK(jr_cg_run_create(cg, "r", NULL, &run, &e), e);
        char rel[64];
        snprintf(rel, sizeof rel, "/jr-%d-r", (int)getpid());

        int fd = jr_cg_run_clone_fd(run);
        cr_assert_geq(fd, 0);
        pid_t born = clone_into(fd);
        assert_in(born, rel);

        int g;
        pid_t attached = fork_waiting(&g, body_busy, (void *)(intptr_t)100000);
        attach_or_clone(run, attached);
        go(g);
        assert_in(attached, rel);

        uint64_t a = 0, b = 0;
        ASSERT_OK(jr_cg_run_poll(run, &a, &e), e);
        usleep(200000);
        ASSERT_OK(jr_cg_run_poll(run, &b, &e), e);
        cr_assert_gt(b, a);
        cr_assert_geq(b - a, 50ull * 1000 * 1000, "%llu", (unsigned long long)(b - a));

        ASSERT_OK(jr_cg_run_kill(run, &e), e);
        int st = wait_status(born);
        cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
        st = wait_status(attached);
        cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
        jr_cg_stats s = {0};
        ASSERT_OK(jr_cg_run_stats(run, &s, &e), e);
        cr_assert_geq(s.cpu_ns, b);
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s", run->dirs[0].path);
        ASSERT_OK(jr_cg_run_destroy(run, &e), e);
        cr_assert_not(exists(path));
        jr_cg_close(cg);
}

Test(v2bare, freeze_kill_fallback)
{
        jr_cg *cg;
        jr_cg_run *run;
        jr_error e = {0};
        ASSERT_OK(open_bare(JR_FB_NO_CGROUP_KILL | JR_FB_NO_CLONE_INTO_CGROUP, false, &cg, &e), e);
        cr_assert(strstr(jr_cg_describe(cg), "fallbacks: freeze+kill, attach"), "%s",
                  jr_cg_describe(cg));
        ASSERT_OK(jr_cg_run_create(cg, "f", NULL, &run, &e), e);
        cr_assert_eq(jr_cg_run_clone_fd(run), -1);
        /* an empty cgroup: nothing to freeze, nothing to do */
        ASSERT_OK(jr_cg_run_kill(run, &e), e);

        int g1, g2, g3;
        pid_t busy = fork_waiting(&g1, body_busy, (void *)(intptr_t)100000);
        pid_t sleeper = fork_waiting(&g2, body_sleep, NULL);
        pid_t tree = fork_waiting(&g3, body_tree, NULL);
        attach_or_clone(run, busy);
        attach_or_clone(run, sleeper);
        attach_or_clone(run, tree);
        go(g1);
        go(g2);
        go(g3);
        usleep(100000);
        ASSERT_OK(jr_cg_run_kill(run, &e), e);
        pid_t kids[] = {busy, sleeper, tree};
        for (size_t i = 0; i < 3; i++) {
                int st = wait_status(kids[i]);
                cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "status %#x", st);
        }
        cr_assert_eq(wait_empty(run, 2000), 0);
        /* thawed again */
        cr_assert_str_eq(run_file(run, JR_CG_ALL, "cgroup.freeze"), "0\n");
        ASSERT_OK(jr_cg_run_destroy(run, &e), e);
        jr_cg_close(cg);
}

Test(v2bare, moves_into_supervisor_leaf)
{
        const char *mnt = bare_mount();
        char deleg[PATH_MAX], sup[PATH_MAX + 16], rel[64];
        snprintf(rel, sizeof rel, "/jr-%d-deleg", (int)getpid());
        snprintf(deleg, sizeof deleg, "%s%s", mnt, rel);
        snprintf(sup, sizeof sup, "%s/supervisor", deleg);
        cr_assert_eq(mkdir(deleg, 0755), 0, "%s", strerror(errno));
        move_to(deleg);

        jr_cg *cg;
        jr_cg_run *run;
        jr_error e = {0};
        ASSERT_OK(open_bare(0, true, &cg, &e), e);
        char want_rel[128];
        snprintf(want_rel, sizeof want_rel, "%s/supervisor", rel);
        assert_in(getpid(), want_rel);
        cr_assert_str_eq(cg->bases[0].path, deleg);
        ASSERT_OK(jr_cg_run_create(cg, "in", NULL, &run, &e), e);
        char run_path[PATH_MAX + 64];
        snprintf(run_path, sizeof run_path, "%s/jr-%d-in", deleg, (int)getpid());
        cr_assert_str_eq(run->dirs[0].path, run_path);
        cr_assert(exists(run_path));
        ASSERT_OK(jr_cg_run_destroy(run, &e), e);
        jr_cg_close(cg);
        assert_in(getpid(), want_rel); /* close leaves the process in the leaf */

        /* opening again from inside the leaf finds the same base */
        ASSERT_OK(open_bare(0, true, &cg, &e), e);
        cr_assert_str_eq(cg->bases[0].path, deleg);
        jr_cg_close(cg);

        move_to(mnt);
        cr_assert_eq(rmdir(sup), 0, "%s", strerror(errno));
        cr_assert_eq(rmdir(deleg), 0, "%s", strerror(errno));
}
