/* jailrun doctor and jailrun config, run as the real binary on this host (root). */
#include <criterion/criterion.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <errno.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

struct ran {
        char *out, *err;
        int exit; /* -1 when killed by a signal */
};

static struct ran jailrun(const char *a1, const char *a2, const char *a3, const char *a4)
{
        char *const argv[] = {
            (char *)tu_build("jailrun"), (char *)a1, (char *)a2, (char *)a3, (char *)a4, NULL};
        struct ran r = {0};
        int st = tu_run(argv, NULL, &r.out, &r.err);
        r.exit = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        return r;
}

/* Every line "LEVEL name message", then the summary; returns the number of checks. */
static int check_format(const char *out)
{
        regex_t line, summary;
        cr_assert_eq(regcomp(&line, "^(OK  |WARN|FAIL) [a-z0-9._-]+( [a-z0-9._-]+)? +[^ ].*$",
                             REG_EXTENDED | REG_NOSUB),
                     0);
        cr_assert_eq(regcomp(&summary, "^doctor: [0-9]+ ok, [0-9]+ warnings?, [0-9]+ failures?$",
                             REG_EXTENDED | REG_NOSUB),
                     0);
        int n = 0;
        bool seen_summary = false;
        for (const char *p = out; *p;) {
                const char *nl = strchr(p, '\n');
                cr_assert(nl, "unterminated line in:\n%s", out);
                char buf[2048];
                snprintf(buf, sizeof buf, "%.*s", (int)(nl - p), p);
                p = nl + 1;
                cr_assert(!seen_summary, "a line after the summary: %s", buf);
                if (regexec(&summary, buf, 0, NULL, 0) == 0) {
                        seen_summary = true;
                        continue;
                }
                cr_assert_eq(regexec(&line, buf, 0, NULL, 0), 0, "bad line \"%s\"", buf);
                n++;
        }
        cr_assert(seen_summary, "no summary in:\n%s", out);
        regfree(&line);
        regfree(&summary);
        return n;
}

static bool has_check(const char *out, const char *level, const char *name)
{
        char want[128];
        snprintf(want, sizeof want, "%-4s %-18s ", level, name);
        for (const char *p = out; p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
                if (!strncmp(p, want, strlen(want)))
                        return true;
        return false;
}

Test(doctor, checks_this_host)
{
        struct ran r = jailrun("doctor", NULL, NULL, NULL);
        cr_assert(r.exit == 0 || r.exit == 1, "exit %d\n%s%s", r.exit, r.out, r.err);
        int n = check_format(r.out);
        cr_assert_geq(n, 25, "%d checks", n);
        static const char *const names[] = {"privileges",   "config",      "kernel",
                                            "clone3",       "pidfd",       "close_range",
                                            "openat2",      "cgroup",      "cgroup-delegation",
                                            "cgroup.kill",  "memory.peak", "namespaces",
                                            "seccomp",      "tmpfs",       "overlay",
                                            "langs",        "run-dir",     "spool",
                                            "spool-space",  "swap",        "smt",
                                            "cpufreq",      "turbo",       "aslr",
                                            "core_pattern", "slot-uids",   "jail"};
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
                char want[64];
                snprintf(want, sizeof want, " %-18s ", names[i]);
                cr_assert(strstr(r.out, want), "no \"%s\" check in:\n%s", names[i], r.out);
        }
        /* facts of this machine (root, a v1/v2 hybrid VM with namespaces and seccomp) */
        cr_assert(has_check(r.out, "OK", "privileges"), "%s", r.out);
        cr_assert(has_check(r.out, "OK", "namespaces"), "%s", r.out);
        cr_assert(has_check(r.out, "OK", "seccomp"), "%s", r.out);
        cr_assert(has_check(r.out, "OK", "tmpfs"), "%s", r.out);
        /* the trial jail runs wherever jail cgroups can be made (not from a v2 shell) */
        if (has_check(r.out, "OK", "cgroup-delegation"))
                cr_assert(has_check(r.out, "OK", "jail"), "the trial jail runs here:\n%s", r.out);
        struct statfs sf;
        bool v2 = statfs("/sys/fs/cgroup", &sf) == 0 && sf.f_type == CGROUP2_SUPER_MAGIC;
        cr_assert(strstr(r.out, v2 ? "OK   cgroup             v2" : "OK   cgroup             v1"),
                  "the mode of this host (%s):\n%s", v2 ? "v2" : "v1", r.out);
        cr_assert_eq(r.exit, strstr(r.out, "\nFAIL ") || !strncmp(r.out, "FAIL ", 5) ? 1 : 0,
                     "exit status follows the FAIL lines");
}

Test(doctor, an_empty_rootfs_dir_fails)
{
        char dir[] = "/tmp/jr-doctor-rootfs-XXXXXX";
        cr_assert(mkdtemp(dir));
        char env[128];
        snprintf(env, sizeof env, "JAILRUN_ROOTFS_DIR=%s", dir);
        putenv(env);
        struct ran r = jailrun("doctor", "--no-jail", NULL, NULL);
        rmdir(dir);
        cr_assert_eq(r.exit, 1, "exit %d\n%s%s", r.exit, r.out, r.err);
        check_format(r.out);
        cr_assert(has_check(r.out, "FAIL", "rootfs gcc"), "%s", r.out);
        cr_assert(has_check(r.out, "FAIL", "rootfs python"), "%s", r.out);
        cr_assert(strstr(r.out, "jailrun rootfs build"), "says how to fix it:\n%s", r.out);
        cr_assert(strstr(r.out, dir), "names the directory:\n%s", r.out);
        cr_assert(!has_check(r.out, "OK", "jail") && !has_check(r.out, "FAIL", "jail"),
                  "--no-jail skips the trial");
}

/* The spool's file system nearly full (a small tmpfs, 95 % used): a warning naming the
 * directory and the threshold; a roomy one: OK. */
Test(doctor, a_nearly_full_spool_warns)
{
        char dir[] = "/tmp/jr-doctor-spool-XXXXXX";
        cr_assert(mkdtemp(dir));
        cr_assert_eq(mount("tmpfs", dir, "tmpfs", MS_NOSUID | MS_NODEV, "size=4m"), 0, "%s",
                     strerror(errno));
        char env[256], fill[256];
        snprintf(env, sizeof env, "JAILRUN_SPOOL_DIR=%s/spool", dir);
        snprintf(fill, sizeof fill, "%s/fill", dir);
        putenv(env);
        FILE *f = fopen(fill, "we");
        cr_assert(f);
        static char block[4096];
        for (int i = 0; i < 973; i++) /* 3.8 MiB of 4 */
                cr_assert_eq(fwrite(block, 1, sizeof block, f), sizeof block);
        cr_assert_eq(fclose(f), 0);
        struct ran r = jailrun("doctor", "--no-jail", NULL, NULL);
        check_format(r.out);
        cr_assert(has_check(r.out, "WARN", "spool-space"), "%s", r.out);
        cr_assert(strstr(r.out, "nearly full") && strstr(r.out, dir), "%s", r.out);
        cr_assert(strstr(r.out, "10 %"), "names the threshold:\n%s", r.out);

        cr_assert_eq(umount2(dir, MNT_DETACH), 0);

        /* a roomy one (a tmpfs allocates nothing until written): OK */
        cr_assert_eq(mount("tmpfs", dir, "tmpfs", MS_NOSUID | MS_NODEV, "size=256m"), 0);
        r = jailrun("doctor", "--no-jail", NULL, NULL);
        umount2(dir, MNT_DETACH);
        rmdir(dir);
        cr_assert(has_check(r.out, "OK", "spool-space"), "%s", r.out);
}

Test(doctor, a_broken_config_is_one_failure)
{
        char path[] = "/tmp/jr-doctor-conf-XXXXXX";
        int fd = mkstemp(path);
        cr_assert_geq(fd, 0);
        const char *text = "RUNNER_MAX_PARALLEL = 2\nRUNNER_PARALLEL = 3\n";
        cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
        close(fd);
        struct ran r = jailrun("doctor", "--no-jail", "--config", path);
        cr_assert_eq(r.exit, 1, "exit %d\n%s%s", r.exit, r.out, r.err);
        check_format(r.out);
        cr_assert(has_check(r.out, "FAIL", "config"), "%s", r.out);
        cr_assert(strstr(r.out, ":2: unknown key \"RUNNER_PARALLEL\""), "%s", r.out);

        /* the other commands refuse to start on it */
        r = jailrun("--config", path, "exec", "--help");
        cr_assert_eq(r.exit, 2, "exit %d\n%s%s", r.exit, r.out, r.err);
        cr_assert(strstr(r.err, ":2: unknown key \"RUNNER_PARALLEL\""), "%s", r.err);
        unlink(path);
}

Test(doctor, usage)
{
        struct ran r = jailrun("doctor", "--bogus", NULL, NULL);
        cr_assert_eq(r.exit, 2);
        r = jailrun("doctor", "--help", NULL, NULL);
        cr_assert_eq(r.exit, 0);
        cr_assert(strstr(r.out, "Usage: jailrun doctor"));
}

Test(config_command, prints_sources)
{
        char path[] = "/tmp/jr-config-cmd-XXXXXX";
        int fd = mkstemp(path);
        cr_assert_geq(fd, 0);
        const char *text = "# judge host\nKAFKA_TOPIC = subs\nRUNNER_MAX_PARALLEL = 3\n"
                           "JAILRUN_KAFKA_CONFIG = \"sasl.password=hunter2;client.id=j1\"\n";
        cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
        close(fd);
        putenv("RUNNER_MAX_PARALLEL=5");
        struct ran r = jailrun("config", "--config", path, NULL);
        cr_assert_eq(r.exit, 0, "exit %d\n%s%s", r.exit, r.out, r.err);
        char want[256];
        snprintf(want, sizeof want, "# %s:2\n", path);
        cr_assert(strstr(r.out, "KAFKA_TOPIC = subs"), "%s", r.out);
        cr_assert(strstr(r.out, want), "source of KAFKA_TOPIC:\n%s", r.out);
        snprintf(want, sizeof want, "# environment (overrides %s:3)\n", path);
        cr_assert(strstr(r.out, "RUNNER_MAX_PARALLEL = 5"), "%s", r.out);
        cr_assert(strstr(r.out, want), "%s", r.out);
        cr_assert(strstr(r.out, "KAFKA_GROUP_ID = scrc-runner"), "%s", r.out);
        cr_assert(strstr(r.out, "sasl.password=***;client.id=j1"), "%s", r.out);
        cr_assert_null(strstr(r.out, "hunter2"), "secrets are not printed");

        /* its output is a valid config file */
        char out_path[] = "/tmp/jr-config-out-XXXXXX";
        fd = mkstemp(out_path);
        cr_assert_eq(write(fd, r.out, strlen(r.out)), (ssize_t)strlen(r.out));
        close(fd);
        r = jailrun("config", "--check", "--config", out_path);
        cr_assert_eq(r.exit, 0, "the printed configuration reloads: %s", r.err);

        r = jailrun("--config", path, "config", "KAFKA_TOPIC");
        cr_assert_eq(r.exit, 0);
        cr_assert_str_eq(r.out, "subs\n");
        r = jailrun("config", "NO_SUCH_KEY", NULL, NULL);
        cr_assert_eq(r.exit, 2);
        unlink(path);
        unlink(out_path);
}
