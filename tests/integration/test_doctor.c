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
        static const char *const names[] = {"privileges",  "config",      "kernel",
                                            "clone3",      "pidfd",       "close_range",
                                            "openat2",     "cgroup",      "cgroup-delegation",
                                            "cgroup.kill", "memory.peak", "cgroup-migration",
                                            "cpus",        "namespaces",  "seccomp",
                                            "tmpfs",       "overlay",     "langs",
                                            "run-dir",     "spool",       "spool-space",
                                            "swap",        "smt",         "cpufreq",
                                            "turbo",       "aslr",        "core_pattern",
                                            "slot-uids",   "jail"};
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
        /* v1: a migration is timed, OK or WARN by the figure (the host's favordynmods); v2
         * migrates nothing */
        if (v2)
                cr_assert(has_check(r.out, "OK", "cgroup-migration"), "%s", r.out);
        else
                cr_assert((has_check(r.out, "OK", "cgroup-migration") &&
                           strstr(r.out, " moves into a v1 cgroup in ")) ||
                              (has_check(r.out, "WARN", "cgroup-migration") &&
                               strstr(r.out, " ms to move into a v1 cgroup: ")),
                          "%s", r.out);
        cr_assert_eq(r.exit, strstr(r.out, "\nFAIL ") || !strncmp(r.out, "FAIL ", 5) ? 1 : 0,
                     "exit status follows the FAIL lines");
}

/* EXECUTOR_NANO_CPUS is applied now: doctor says how, and the trial jail runs under it. */
Test(doctor, cpu_bandwidth_is_checked)
{
        putenv("EXECUTOR_NANO_CPUS=500000000");
        struct ran r = jailrun("doctor", NULL, NULL, NULL);
        check_format(r.out);
        cr_assert_null(strstr(r.out, "not applied"), "%s", r.out);
        struct statfs sf;
        bool v2 = statfs("/sys/fs/cgroup", &sf) == 0 && sf.f_type == CGROUP2_SUPER_MAGIC;
        bool cpu_v1 = access("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", F_OK) == 0;
        if (v2 || cpu_v1) {
                cr_assert(has_check(r.out, "OK", "cpus"), "%s", r.out);
                cr_assert(strstr(r.out, "each test run gets 0.5 CPUs of bandwidth "
                                        "(EXECUTOR_NANO_CPUS; "),
                          "%s", r.out);
                if (has_check(r.out, "OK", "cgroup-delegation"))
                        cr_assert(strstr(r.out, "ran in a jail under the CPU bandwidth limit"),
                                  "%s", r.out);
        } else {
                cr_assert(has_check(r.out, "FAIL", "cpus"), "%s", r.out);
        }

        /* JAILRUN_CPUS wins, and a bad value is a failure naming it */
        putenv("JAILRUN_CPUS=2");
        r = jailrun("doctor", "--no-jail", NULL, NULL);
        cr_assert(strstr(r.out, "each test run gets 2 CPUs of bandwidth (JAILRUN_CPUS; ") ||
                      has_check(r.out, "FAIL", "cpus"),
                  "%s", r.out);
        putenv("JAILRUN_CPUS=lots");
        r = jailrun("doctor", "--no-jail", NULL, NULL);
        cr_assert_eq(r.exit, 1);
        cr_assert(has_check(r.out, "FAIL", "cpus"), "%s", r.out);
        cr_assert(strstr(r.out, "JAILRUN_CPUS: CPUs \"lots\": expected a decimal number"), "%s",
                  r.out);
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

static void write_text(const char *dir, const char *name, const char *text, const char *mode)
{
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, name);
        FILE *f = fopen(path, mode);
        cr_assert(f, "%s", path);
        fputs(text, f);
        fclose(f);
}

/* The line of check `name` (up to its newline), or NULL. */
static const char *line_of(const char *out, const char *name, char *buf, size_t n)
{
        char want[128];
        snprintf(want, sizeof want, " %-18s ", name);
        const char *p = strstr(out, want);
        if (!p)
                return NULL;
        while (p > out && p[-1] != '\n')
                p--;
        snprintf(buf, n, "%.*s", (int)strcspn(p, "\n"), p);
        return buf;
}

/* A tree built from an older version of its recipe (a go tree from before the build cache
 * made every go build fail) is a warning with the command that rebuilds it; that command
 * makes it current. Scratch recipes, languages, trees and apt cache; trees without
 * packages. */
Test(doctor, a_tree_from_an_older_recipe_is_a_warning_with_the_fix)
{
        char base[] = "/tmp/jr-doctor-recipe-XXXXXX";
        cr_assert(mkdtemp(base));
        char recipes[128], langs[128], trees[128], cache[128];
        snprintf(recipes, sizeof recipes, "%s/recipes", base);
        snprintf(langs, sizeof langs, "%s/langs", base);
        snprintf(trees, sizeof trees, "%s/trees", base);
        snprintf(cache, sizeof cache, "%s/cache", base);
        cr_assert_eq(
            mkdir(recipes, 0755) | mkdir(langs, 0755) | mkdir(trees, 0755) | mkdir(cache, 0755), 0);
        write_text(recipes, "dual.rootfs", "name = dual\nvariant = none\n", "w");
        write_text(recipes, "runner.rootfs", "name = runner\nvariant = none\n", "w");
        write_text(langs, "dual.lang",
                   "name = dual\nsource = main.x\nbuild = cc main.x\nbuild_rootfs = dual\n"
                   "run = /work/a.out\nrun_rootfs = runner\nartifacts = a.out\n",
                   "w");
        static char env[3][160];
        snprintf(env[0], sizeof env[0], "JAILRUN_ROOTFS_DIR=%s", trees);
        snprintf(env[1], sizeof env[1], "JAILRUN_RECIPES_DIR=%s", recipes);
        snprintf(env[2], sizeof env[2], "JAILRUN_LANGS_DIR=%s", langs);
        for (int i = 0; i < 3; i++)
                putenv(env[i]);

        char *const build[] = {
            (char *)tu_build("jailrun"), "rootfs", "build", "--cache", cache, "dual", NULL};
        char *out, *err;
        int st = tu_run(build, NULL, &out, &err);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s", err);

        char line[2048];
        struct ran r = jailrun("doctor", "--no-jail", NULL, NULL);
        check_format(r.out);
        cr_assert(has_check(r.out, "OK", "rootfs dual"), "%s", r.out);
        cr_assert(
            strstr(line_of(r.out, "rootfs dual", line, sizeof line), ", from its current recipe"),
            "%s", r.out);

        /* the recipe changes; the tree does not */
        write_text(recipes, "dual.rootfs", "description = now with more\n", "a");
        r = jailrun("doctor", "--no-jail", NULL, NULL);
        check_format(r.out);
        cr_assert(has_check(r.out, "WARN", "rootfs dual"), "%s", r.out);
        cr_assert(has_check(r.out, "OK", "rootfs runner"), "only the changed one:\n%s", r.out);
        line_of(r.out, "rootfs dual", line, sizeof line);
        char want[512];
        snprintf(want, sizeof want, "built from another version of %s/dual.rootfs", recipes);
        cr_assert(strstr(line, want), "%s", line);
        cr_assert(strstr(line, "its languages (dual)"), "names the languages: %s", line);
        const char *cmd = strstr(line, "rebuild it with `jailrun rootfs build tree:dual`");
        cr_assert(cmd, "%s", line);

        /* the command it names (with the scratch cache) makes the tree current */
        char *const fix[] = {
            (char *)tu_build("jailrun"), "rootfs", "build", "--cache", cache, "tree:dual", NULL};
        st = tu_run(fix, NULL, &out, &err);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s", err);
        cr_assert(strstr(err, "rootfs dual: built in"), "%s", err);
        r = jailrun("doctor", "--no-jail", NULL, NULL);
        cr_assert(has_check(r.out, "OK", "rootfs dual"), "%s", r.out);

        /* with the directories given as options, the command names them */
        write_text(recipes, "dual.rootfs", "# and again\n", "a");
        for (int i = 0; i < 3; i++)
                unsetenv(i == 0   ? "JAILRUN_ROOTFS_DIR"
                         : i == 1 ? "JAILRUN_RECIPES_DIR"
                                  : "JAILRUN_LANGS_DIR");
        char *const doc[] = {(char *)tu_build("jailrun"),
                             "doctor",
                             "--no-jail",
                             "--rootfs-dir",
                             trees,
                             "--recipes",
                             recipes,
                             "--langs",
                             langs,
                             NULL};
        st = tu_run(doc, NULL, &out, &err);
        line_of(out, "rootfs dual", line, sizeof line);
        snprintf(want, sizeof want, "`jailrun rootfs build --dir %s --recipes %s tree:dual`", trees,
                 recipes);
        cr_assert(strstr(line, want), "%s", out);

        tu_rm_rf(base);
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
