/* Unit tests of the jail library's API (sandbox/include/jail.h): lifetimes, error paths, output
 * capture, the timing breakdown. Real jails, as root; the hostile programs and the
 * command-line behaviour are tested in tests/integration/test_exec.c. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdlib.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "jail.h"
#include "testutil.h"

static jr_sandbox *sb;
static jr_slot *slot;

static void setup(void)
{
        jr_error e = {0};
        ASSERT_OK(jr_sandbox_new(NULL, &sb, &e), e);
        ASSERT_OK(jr_slot_new(sb, 7, 60007, 60007, &slot, &e), e);
}

static void teardown(void)
{
        jr_slot_free(slot);
        jr_sandbox_free(sb);
}

TestSuite(jail, .init = setup, .fini = teardown, .timeout = 60);

Test(jail, status_names)
{
        cr_assert_str_eq(jr_jail_status_name(JR_JAIL_OK), "OK");
        cr_assert_str_eq(jr_jail_status_name(JR_JAIL_IE), "IE");
        cr_assert_str_eq(jr_jail_status_name((jr_jail_status)99), "IE");
}

Test(jail, config_defaults)
{
        jr_run_config c;
        memset(&c, 0x5a, sizeof c);
        jr_run_config_init(&c);
        cr_assert_null(c.rootfs);
        cr_assert_eq(c.stdin_fd, -1);
        cr_assert_eq(c.stdout_fd, -1);
        cr_assert_eq(c.cpu_ms, 0);
}

Test(jail, root_uid_refused)
{
        jr_error e = {0};
        jr_slot *s = NULL;
        cr_assert_lt(jr_slot_new(sb, 1, 0, 60001, &s, &e), 0);
        cr_assert_null(s);
        cr_assert(strstr(e.msg, "must not be 0"), "%s", e.msg);
}

Test(jail, empty_command_is_ie)
{
        jr_run_config c;
        jr_run_config_init(&c);
        char *argv[] = {NULL};
        c.argv = argv;
        jr_run_result r;
        jr_error e = {0};
        cr_assert_lt(jr_jail_run(slot, &c, &r, &e), 0);
        cr_assert_eq(r.status, JR_JAIL_IE);
        cr_assert(strstr(r.error.msg, "no command"), "%s", r.error.msg);
}

Test(jail, output_into_a_memfd_and_timing)
{
        int out = memfd_create("out", MFD_CLOEXEC);
        jr_run_config c;
        jr_run_config_init(&c);
        char *argv[] = {"/bin/sh", "-c", "echo hello; id -u", NULL};
        c.argv = argv;
        c.stdout_fd = out;
        jr_run_result r;
        jr_error e = {0};
        ASSERT_OK(jr_jail_run(slot, &c, &r, &e), e);
        cr_assert_eq(r.status, JR_JAIL_OK);
        char buf[64] = {0};
        cr_assert_eq(pread(out, buf, sizeof buf - 1, 0), 12);
        cr_assert_str_eq(buf, "hello\n60007\n");
        cr_assert_eq(r.stdout_bytes, 12);
        cr_assert_gt(r.timing.setup_us, 0);
        close(out);
}

Test(jail, slot_reused_across_runs)
{
        /* the slot's network namespace and uid serve run after run */
        for (int i = 0; i < 5; i++) {
                jr_run_config c;
                jr_run_config_init(&c);
                char *argv[] = {"/bin/sh", "-c", "exit $(( $(id -u) - 60007 ))", NULL};
                c.argv = argv;
                jr_run_result r;
                jr_error e = {0};
                cr_assert_eq(jr_jail_run(slot, &c, &r, &e), 0, "run %d: %s", i, e.msg);
                cr_assert_eq(r.status, JR_JAIL_OK, "run %d: %s", i, r.reason);
        }
}

Test(jail, killed_by_signal)
{
        jr_run_config c;
        jr_run_config_init(&c);
        char *argv[] = {"/bin/sh", "-c", "kill -TERM $$", NULL};
        c.argv = argv;
        jr_run_result r;
        jr_error e = {0};
        ASSERT_OK(jr_jail_run(slot, &c, &r, &e), e);
        cr_assert_eq(r.status, JR_JAIL_RE);
        cr_assert_eq(r.signal, SIGTERM);
        cr_assert_eq(r.exit_code, -1);
        cr_assert_str_eq(r.reason, "signal 15");
}

Test(jail, describe_names_the_backend)
{
        const char *d = jr_sandbox_describe(sb);
        cr_assert(strstr(d, "cgroup v"), "%s", d);
        cr_assert(jr_sandbox_cg_mode(sb) == JR_CG_V1 || jr_sandbox_cg_mode(sb) == JR_CG_V2);
}

/* Run `script` with /bin/sh in the test slot, binds as given; stdout into out (may be
 * NULL). Returns the result. */
static jr_run_result run_sh(const char *script, const jr_bind *binds, size_t nbinds, char *out,
                            size_t outlen)
{
        int fd = memfd_create("out", MFD_CLOEXEC);
        cr_assert_geq(fd, 0);
        jr_run_config c;
        jr_run_config_init(&c);
        char *argv[] = {"/bin/sh", "-c", (char *)script, NULL};
        c.argv = argv;
        c.binds = binds;
        c.nbinds = nbinds;
        c.stdout_fd = fd;
        jr_run_result r;
        jr_error e = {0};
        cr_assert_eq(jr_jail_run(slot, &c, &r, &e), 0, "%s: %s", script, e.msg);
        if (out) {
                ssize_t n = pread(fd, out, outlen - 1, 0);
                out[n > 0 ? n : 0] = '\0';
        }
        close(fd);
        return r;
}

Test(jail, runs_of_one_template_share_nothing_writable)
{
        /* Runs copy one template mount namespace: what a run writes or mounts must not
         * be there for the next one. */
        jr_run_result r = run_sh("echo x > /tmp/left; echo x > /work/left; echo x > /dev/shm/left",
                                 NULL, 0, NULL, 0);
        cr_assert_eq(r.status, JR_JAIL_OK, "%s", r.reason);
        char out[256];
        r = run_sh("ls /tmp /work /dev/shm; grep -c jailrun-tmp /proc/self/mountinfo", NULL, 0, out,
                   sizeof out);
        cr_assert_eq(r.status, JR_JAIL_OK, "%s", r.reason);
        cr_assert_str_eq(out, "/dev/shm:\n\n/tmp:\n\n/work:\n2\n");
        /* and the root itself is read-only */
        r = run_sh("mkdir /x 2>/dev/null || echo ro", NULL, 0, out, sizeof out);
        cr_assert_str_eq(out, "ro\n");
}

Test(jail, each_run_binds_its_own_source)
{
        char a[] = "/tmp/jr-test-tpl-a-XXXXXX", b[] = "/tmp/jr-test-tpl-b-XXXXXX";
        cr_assert(mkdtemp(a) && mkdtemp(b));
        chmod(a, 0755); /* readable by the slot's uid */
        chmod(b, 0755);
        char path[256];
        snprintf(path, sizeof path, "%s/name", a);
        FILE *f = fopen(path, "w");
        fputs("a\n", f);
        fclose(f);
        snprintf(path, sizeof path, "%s/name", b);
        f = fopen(path, "w");
        fputs("b\n", f);
        fclose(f);

        /* same destination, so the same template: only the source differs */
        char out[64];
        jr_bind ba = {.src = a, .dst = "/data"}, bb = {.src = b, .dst = "/data"};
        jr_run_result r = run_sh("cat /data/name", &ba, 1, out, sizeof out);
        cr_assert_eq(r.status, JR_JAIL_OK, "%s", r.reason);
        cr_assert_str_eq(out, "a\n");
        r = run_sh("cat /data/name", &bb, 1, out, sizeof out);
        cr_assert_str_eq(out, "b\n");
        /* no bind: another template, where /data does not exist */
        r = run_sh("test -e /data && echo there || echo absent", NULL, 0, out, sizeof out);
        cr_assert_str_eq(out, "absent\n");
        /* a bind below a per-run tmpfs gets its mount point made per run */
        jr_bind bt = {.src = a, .dst = "/tmp/sub/data"};
        r = run_sh("cat /tmp/sub/data/name", &bt, 1, out, sizeof out);
        cr_assert_eq(r.status, JR_JAIL_OK, "%s", r.reason);
        cr_assert_str_eq(out, "a\n");

        snprintf(path, sizeof path, "%s/name", a);
        unlink(path);
        snprintf(path, sizeof path, "%s/name", b);
        unlink(path);
        rmdir(a);
        rmdir(b);
}

static volatile sig_atomic_t usr1_seen, chld_seen;
static void on_usr1(int sig)
{
        (void)sig;
        usr1_seen++;
}
static void on_chld(int sig)
{
        (void)sig;
        chld_seen++;
}

Test(jail, supervisor_handlers_never_run_in_the_jail)
{
        /* Init and the program share our memory until the exec: a handler of ours run by
         * them would write our globals. The program signals init (which has our handler
         * installed but everything blocked) and itself (default action, after reset). */
        run_sh("true", NULL, 0, NULL, 0); /* the template exists before we count */
        struct sigaction sa = {.sa_handler = on_usr1}, sc = {.sa_handler = on_chld};
        sigaction(SIGUSR1, &sa, NULL);
        sigaction(SIGCHLD, &sc, NULL);
        usr1_seen = chld_seen = 0;
        jr_run_result r = run_sh("kill -USR1 1; kill -USR1 $$", NULL, 0, NULL, 0);
        signal(SIGUSR1, SIG_DFL);
        signal(SIGCHLD, SIG_DFL);
        cr_assert_eq(r.status, JR_JAIL_RE, "%s", r.reason);
        cr_assert_eq(r.signal, SIGUSR1);
        cr_assert_eq(usr1_seen, 0);
        cr_assert_eq(chld_seen, 1, "SIGCHLD handled %d times", (int)chld_seen); /* init's exit */
}

/* A tree with just one static binary at /usr/bin/<name>. */
static void make_tree(const char *dir, const char *name)
{
        char cmd[1200];
        snprintf(cmd, sizeof cmd, "mkdir -p %s/usr/bin && cp %s %s/usr/bin/%s", dir,
                 tu_build("hostile/whoami"), dir, name);
        cr_assert_eq(system(cmd), 0);
}

Test(jail, a_tree_swapped_in_by_rename_is_used_at_once)
{
        /* `jailrun rootfs build --force` swaps a new tree in with RENAME_EXCHANGE: the
         * next run must not be served from the old tree's template. */
        char dir[] = "/tmp/jr-test-swap-XXXXXX";
        cr_assert(mkdtemp(dir));
        char tree[600], next[600], cmd[1400];
        snprintf(tree, sizeof tree, "%s/tree", dir);
        snprintf(next, sizeof next, "%s/next", dir);
        make_tree(tree, "old");
        make_tree(next, "new");

        jr_run_config c;
        jr_run_config_init(&c);
        c.rootfs = tree;
        char *old_argv[] = {"/usr/bin/old", NULL}, *new_argv[] = {"/usr/bin/new", NULL};
        c.argv = old_argv;
        jr_run_result r;
        jr_error e = {0};
        ASSERT_OK(jr_jail_run(slot, &c, &r, &e), e);
        cr_assert_eq(r.status, JR_JAIL_OK, "%s", r.reason);

        cr_assert_eq(renameat2(AT_FDCWD, next, AT_FDCWD, tree, RENAME_EXCHANGE), 0);
        snprintf(cmd, sizeof cmd, "rm -rf %s", next);
        cr_assert_eq(system(cmd), 0);
        c.argv = new_argv;
        int ret = jr_jail_run(slot, &c, &r, &e);
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        cr_assert_eq(system(cmd), 0);
        ASSERT_OK(ret, e);
        cr_assert_eq(r.status, JR_JAIL_OK, "%s", r.reason);
}

/* ---- two jails at once, talking through pipes (jr_jail_run_many) ---- */

struct pair {
        jr_run_config c[2];
        char *argv[2][4];
        int err[2]; /* memfds with each jail's stderr */
        jr_run_result r[2];
};

/* Jail 0 runs script0 as the other slot's uid, jail 1 runs script1 in the test slot;
 * jail 0's stdout is jail 1's stdin and the other way round. */
static int run_pair(jr_slot *other, struct pair *p, const char *script0, const char *script1,
                    uint64_t wall0_ms, uint64_t wall1_ms, jr_error *e)
{
        int a[2], b[2];
        cr_assert_eq(pipe2(a, O_CLOEXEC), 0);
        cr_assert_eq(pipe2(b, O_CLOEXEC), 0);
        const char *scripts[2] = {script0, script1};
        for (int i = 0; i < 2; i++) {
                jr_run_config_init(&p->c[i]);
                p->argv[i][0] = "/bin/sh";
                p->argv[i][1] = "-c";
                p->argv[i][2] = (char *)scripts[i];
                p->argv[i][3] = NULL;
                p->c[i].argv = p->argv[i];
                p->c[i].wall_ms = i ? wall1_ms : wall0_ms;
                p->c[i].stdout_direct = true;
                p->c[i].close_stdio = true;
                p->err[i] = memfd_create("err", MFD_CLOEXEC);
                p->c[i].stderr_fd = p->err[i];
        }
        p->c[0].stdin_fd = b[0];
        p->c[0].stdout_fd = a[1];
        p->c[1].stdin_fd = a[0];
        p->c[1].stdout_fd = b[1];
        jr_slot *slots[2] = {other, slot};
        const jr_run_config *cfgs[2] = {&p->c[0], &p->c[1]};
        return jr_jail_run_many(slots, cfgs, p->r, 2, e);
}

static void stderr_of(struct pair *p, int i, char *buf, size_t n)
{
        ssize_t k = pread(p->err[i], buf, n - 1, 0);
        buf[k > 0 ? k : 0] = '\0';
}

/* The fds of this process that are pipes (criterion has some of its own). */
static unsigned count_pipes(void)
{
        char path[64], target[64];
        unsigned n = 0;
        for (int fd = 3; fd < 1024; fd++) {
                snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
                ssize_t k = readlink(path, target, sizeof target - 1);
                if (k < 0)
                        continue;
                target[k] = '\0';
                n += strncmp(target, "pipe:", 5) == 0;
        }
        return n;
}

Test(jail, two_jails_talk_through_pipes)
{
        jr_error e = {0};
        jr_slot *other = NULL;
        ASSERT_OK(jr_slot_new(sb, 8, 60008, 60008, &other, &e), e);
        unsigned pipes = count_pipes();
        struct pair p;
        ASSERT_OK(run_pair(other, &p, "echo 41; read y; echo \"got $y as $(id -u)\" >&2; exit 3",
                           "read x; echo $((x + 1)); id -u >&2", 10000, 10000, &e),
                  e);
        char buf[128];
        cr_assert_eq(p.r[0].status, JR_JAIL_RE, "%s", p.r[0].reason);
        cr_assert_eq(p.r[0].exit_code, 3);
        stderr_of(&p, 0, buf, sizeof buf);
        cr_assert_str_eq(buf, "got 42 as 60008\n");
        cr_assert_eq(p.r[1].status, JR_JAIL_OK, "%s", p.r[1].reason);
        stderr_of(&p, 1, buf, sizeof buf);
        cr_assert_str_eq(buf, "60007\n");
        cr_assert_eq(p.r[0].stdout_bytes, 0, "a direct stdout is not counted");
        cr_assert_eq(p.r[1].stderr_bytes, 6);
        cr_assert_eq(count_pipes(), pipes, "the call closed the pipes it was given");
        jr_slot_free(other);
}

Test(jail, a_reader_that_leaves_early_breaks_the_writers_pipe)
{
        /* jail 1 never reads: jail 0's flood ends with SIGPIPE, not with a hang */
        jr_error e = {0};
        jr_slot *other = NULL;
        ASSERT_OK(jr_slot_new(sb, 8, 60008, 60008, &other, &e), e);
        unsigned pipes = count_pipes();
        struct pair p;
        ASSERT_OK(
            run_pair(other, &p, "exec head -c 100000000 /dev/zero", "exit 0", 10000, 10000, &e), e);
        cr_assert_eq(p.r[0].status, JR_JAIL_RE, "%s", p.r[0].reason);
        cr_assert_eq(p.r[0].signal, SIGPIPE);
        cr_assert_lt(p.r[0].wall_ms, 5000);
        cr_assert_eq(p.r[1].status, JR_JAIL_OK, "%s", p.r[1].reason);
        cr_assert_eq(count_pipes(), pipes);
        jr_slot_free(other);
}

Test(jail, one_jail_timed_out_the_other_sees_eof)
{
        /* jail 1 hangs without reading or writing: its wall limit ends it, and then
         * (only then) jail 0, which waits for its output, reads EOF and ends itself */
        jr_error e = {0};
        jr_slot *other = NULL;
        ASSERT_OK(jr_slot_new(sb, 8, 60008, 60008, &other, &e), e);
        struct pair p;
        ASSERT_OK(run_pair(other, &p, "cat > /dev/null; echo eof >&2", "sleep 100", 0, 700, &e), e);
        cr_assert_eq(p.r[1].status, JR_JAIL_TL, "%s", p.r[1].reason);
        cr_assert_str_eq(p.r[1].reason, "wall time");
        cr_assert_eq(p.r[0].status, JR_JAIL_OK, "%s", p.r[0].reason);
        cr_assert_lt(p.r[0].wall_ms, 5000);
        cr_assert_geq(p.r[0].wall_ms, 650);
        char buf[32];
        stderr_of(&p, 0, buf, sizeof buf);
        cr_assert_str_eq(buf, "eof\n");
        jr_slot_free(other);
}

Test(jail, run_many_refuses_one_slot_twice)
{
        jr_error e = {0};
        unsigned pipes = count_pipes();
        int a[2];
        cr_assert_eq(pipe2(a, O_CLOEXEC), 0);
        jr_run_config c[2];
        char *argv[] = {"/bin/true", NULL};
        for (int i = 0; i < 2; i++) {
                jr_run_config_init(&c[i]);
                c[i].argv = argv;
                c[i].close_stdio = true;
        }
        c[0].stdin_fd = a[0];
        c[1].stdin_fd = a[1];
        jr_slot *slots[2] = {slot, slot};
        const jr_run_config *cfgs[2] = {&c[0], &c[1]};
        jr_run_result r[2];
        cr_assert_lt(jr_jail_run_many(slots, cfgs, r, 2, &e), 0);
        cr_assert(strstr(e.msg, "already in use"), "%s", e.msg);
        cr_assert_eq(r[0].status, JR_JAIL_IE);
        cr_assert_eq(r[1].status, JR_JAIL_IE);
        cr_assert_eq(count_pipes(), pipes, "owned by the call, closed even on failure");
}

Test(jail, run_many_kills_the_started_jail_when_the_next_fails)
{
        jr_error e = {0};
        jr_slot *other = NULL;
        ASSERT_OK(jr_slot_new(sb, 8, 60008, 60008, &other, &e), e);
        jr_run_config c[2];
        char *sleeper[] = {"/bin/sleep", "100", NULL}, *missing[] = {"/no/such/program", NULL};
        jr_run_config_init(&c[0]);
        jr_run_config_init(&c[1]);
        c[0].argv = sleeper;
        c[1].argv = missing;
        jr_slot *slots[2] = {other, slot};
        const jr_run_config *cfgs[2] = {&c[0], &c[1]};
        jr_run_result r[2];
        uint64_t t0 = (uint64_t)time(NULL);
        cr_assert_lt(jr_jail_run_many(slots, cfgs, r, 2, &e), 0);
        cr_assert((uint64_t)time(NULL) - t0 < 5, "the sleeper was not waited for");
        cr_assert(strstr(e.msg, "jail 1: execve \"/no/such/program\""), "%s", e.msg);
        cr_assert_eq(r[0].status, JR_JAIL_IE);
        cr_assert_eq(r[1].status, JR_JAIL_IE);
        jr_slot_free(other);
}
