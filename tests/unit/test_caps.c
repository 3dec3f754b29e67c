/* Unit tests of sandbox/caps.c and sandbox/rlimits.c.
 *
 * Every test forks a child (the test runs as root) that applies the functions to
 * itself and checks the result from the inside: /proc/self/status, getrlimit, what
 * the kernel still lets it do. The child reports through its exit code (0 = all
 * good, else the number of the failed check) and, for details, a line on a pipe. */
#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/securebits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "caps.h"
#include "rlimits.h"

#define TEST_UID 64123
#define TEST_GID 64124

static int report_fd = -1;

/* Say why a check failed; the parent prints it in the assertion message. */
static void note(const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        vdprintf(report_fd, fmt, ap);
        va_end(ap);
}

/* Fork; the child runs fn, whose return value is its exit code. Asserts exit 0. */
static void run_child(int (*fn)(void), const char *what)
{
        int p[2];
        cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
        pid_t pid = fork();
        cr_assert_geq(pid, 0);
        if (pid == 0) {
                close(p[0]);
                report_fd = p[1];
                struct rlimit core = {0, 0};
                setrlimit(RLIMIT_CORE, &core);
                _exit(fn());
        }
        close(p[1]);
        /* read to EOF: the child may write several notes */
        char msg[1024];
        size_t len = 0;
        ssize_t n;
        char scratch[256];
        while ((n = len < sizeof msg - 1 ? read(p[0], msg + len, sizeof msg - 1 - len)
                                         : read(p[0], scratch, sizeof scratch)) > 0)
                if (len < sizeof msg - 1)
                        len += (size_t)n;
        msg[len] = '\0';
        close(p[0]);
        int st;
        cr_assert_eq(waitpid(pid, &st, 0), pid);
        cr_assert(WIFEXITED(st), "%s: killed by signal %d", what, WTERMSIG(st));
        cr_assert_eq(WEXITSTATUS(st), 0, "%s: check %d failed: %s", what, WEXITSTATUS(st), msg);
}

/* The value of "Key:" in /proc/self/status, tabs turned into spaces. */
static int status_field(const char *key, char *out, size_t outsz)
{
        FILE *f = fopen("/proc/self/status", "re");
        if (!f)
                return -1;
        char line[512];
        size_t klen = strlen(key);
        int found = -1;
        while (fgets(line, sizeof line, f)) {
                if (strncmp(line, key, klen) != 0 || line[klen] != ':')
                        continue;
                char *v = line + klen + 1;
                v += strspn(v, " \t");
                v[strcspn(v, "\n")] = '\0';
                for (char *c = v; *c; c++)
                        if (*c == '\t')
                                *c = ' ';
                snprintf(out, outsz, "%s", v);
                found = 0;
                break;
        }
        fclose(f);
        return found;
}

static int field_is(const char *key, const char *want)
{
        char v[256];
        if (status_field(key, v, sizeof v) < 0) {
                note("no %s in /proc/self/status", key);
                return 0;
        }
        if (strcmp(v, want) != 0) {
                note("%s is \"%s\", want \"%s\"", key, v, want);
                return 0;
        }
        return 1;
}

static int all_caps_zero(void)
{
        static const char *const keys[] = {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"};
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
                if (!field_is(keys[i], "0000000000000000"))
                        return 0;
        return 1;
}

/* ---- caps ---- */

static int drop_and_become(void)
{
        int ret = jr_caps_drop_bounding();
        if (ret < 0) {
                note("jr_caps_drop_bounding: %s", strerror(-ret));
                return 1;
        }
        ret = jr_caps_become(TEST_UID, TEST_GID);
        if (ret < 0) {
                note("jr_caps_become: %s", strerror(-ret));
                return 2;
        }
        if (!all_caps_zero())
                return 3;
        char want[64];
        snprintf(want, sizeof want, "%d %d %d %d", TEST_UID, TEST_UID, TEST_UID, TEST_UID);
        if (!field_is("Uid", want))
                return 4;
        snprintf(want, sizeof want, "%d %d %d %d", TEST_GID, TEST_GID, TEST_GID, TEST_GID);
        if (!field_is("Gid", want))
                return 5;
        if (!field_is("Groups", ""))
                return 6;
        if (!field_is("NoNewPrivs", "1"))
                return 7;
        if (setuid(0) == 0 || errno != EPERM) {
                note("setuid(0) did not fail with EPERM");
                return 8;
        }
        if (setgid(0) == 0 || setgroups(0, NULL) == 0) {
                note("setgid(0)/setgroups succeeded");
                return 9;
        }
        int bits = prctl(PR_GET_SECUREBITS);
        int want_bits = SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP_LOCKED |
                        SECBIT_KEEP_CAPS_LOCKED | SECBIT_NO_CAP_AMBIENT_RAISE |
                        SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED;
        if (bits != want_bits) {
                note("securebits %#x, want %#x", bits, want_bits);
                return 10;
        }
        return 0;
}

Test(caps, drop_and_become_leaves_nothing)
{
        run_child(drop_and_become, "drop + become");
}

/* The bounding set goes, but what the child holds now stays: the jail setup still
 * needs CAP_SYS_ADMIN etc. between jr_caps_drop_bounding and jr_caps_become. */
static int drop_keeps_effective(void)
{
        char before[64];
        if (status_field("CapEff", before, sizeof before) < 0)
                return 1;
        if (jr_caps_drop_bounding() < 0)
                return 2;
        if (!field_is("CapBnd", "0000000000000000"))
                return 3;
        if (!field_is("CapEff", before))
                return 4;
        return 0;
}

Test(caps, drop_bounding_keeps_effective)
{
        run_child(drop_keeps_effective, "drop bounding");
}

/* With NOROOT and an empty bounding set, even a uid-0 program gets no capability
 * from execve. */
static int root_exec_gains_nothing(void)
{
        if (jr_caps_drop_bounding() < 0)
                return 1;
        if (jr_caps_become(0, 0) < 0)
                return 2;
        if (!all_caps_zero())
                return 3;
        int p[2];
        if (pipe(p) < 0)
                return 4;
        pid_t pid = fork();
        if (pid == 0) {
                dup2(p[1], 1);
                execl("/bin/grep", "grep", "^Cap", "/proc/self/status", (char *)NULL);
                _exit(127);
        }
        close(p[1]);
        char out[1024];
        ssize_t n = read(p[0], out, sizeof out - 1);
        out[n < 0 ? 0 : n] = '\0';
        int st;
        waitpid(pid, &st, 0);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
                note("grep failed: status %#x", st);
                return 5;
        }
        for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n"))
                if (!strstr(line, "0000000000000000")) {
                        note("after exec as uid 0: %s", line);
                        return 6;
                }
        return 0;
}

Test(caps, root_exec_gains_nothing)
{
        run_child(root_exec_gains_nothing, "exec as uid 0");
}

static int become_without_drop(void)
{
        /* Fill the inheritable and ambient sets first: leaving uid 0 clears the
         * ambient set but not the inheritable one, only the explicit clear does. */
        struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
        struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
        if (syscall(SYS_capget, &hdr, data) < 0)
                return 3;
        data[0].inheritable |= 1u << CAP_CHOWN;
        if (syscall(SYS_capset, &hdr, data) < 0)
                return 4;
        if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_CHOWN, 0, 0) < 0)
                return 5;
        char inh[64], amb[64];
        if (status_field("CapInh", inh, sizeof inh) < 0 ||
            status_field("CapAmb", amb, sizeof amb) < 0 || strcmp(inh, "0000000000000000") == 0 ||
            strcmp(amb, "0000000000000000") == 0) {
                note("could not fill the inheritable and ambient sets");
                return 6;
        }

        /* become alone (without the bounding drop) must still leave no capability
         * in the process itself */
        if (jr_caps_become(TEST_UID, TEST_GID) < 0)
                return 1;
        if (!field_is("CapEff", "0000000000000000") || !field_is("CapPrm", "0000000000000000") ||
            !field_is("CapInh", "0000000000000000") || !field_is("CapAmb", "0000000000000000"))
                return 2;
        return 0;
}

Test(caps, become_clears_process_sets)
{
        run_child(become_without_drop, "become");
}

static int become_unprivileged_fails(void)
{
        if (jr_caps_become(TEST_UID, TEST_GID) < 0)
                return 1;
        int ret = jr_caps_become(TEST_UID + 1, TEST_GID + 1);
        if (ret != -EPERM) {
                note("second become returned %d", ret);
                return 2;
        }
        ret = jr_caps_drop_bounding();
        if (ret != -EPERM) {
                note("drop_bounding without CAP_SETPCAP returned %d", ret);
                return 3;
        }
        return 0;
}

Test(caps, errors_are_negative_errno)
{
        run_child(become_unprivileged_fails, "errors");
}

/* ---- rlimits ---- */

static int limit_is(int res, const char *name, rlim_t soft, rlim_t hard)
{
        struct rlimit rl;
        if (getrlimit(res, &rl) < 0) {
                note("getrlimit %s: %s", name, strerror(errno));
                return 0;
        }
        if (rl.rlim_cur != soft || rl.rlim_max != hard) {
                note("%s is %llu/%llu, want %llu/%llu", name, (unsigned long long)rl.rlim_cur,
                     (unsigned long long)rl.rlim_max, (unsigned long long)soft,
                     (unsigned long long)hard);
                return 0;
        }
        return 1;
}

static int apply_all(void)
{
        jr_rlimits r = {.cpu_s = 5, .fsize = 1 << 20, .nofile = 32, .stack = 16 << 20};
        const char *which = NULL;
        int ret = jr_rlimits_apply(&r, &which);
        if (ret < 0) {
                note("%s: %s", which ? which : "?", strerror(-ret));
                return 1;
        }
        if (!limit_is(RLIMIT_CORE, "CORE", 0, 0))
                return 2;
        if (!limit_is(RLIMIT_CPU, "CPU", 5, 6))
                return 3;
        if (!limit_is(RLIMIT_FSIZE, "FSIZE", 1 << 20, 1 << 20))
                return 4;
        if (!limit_is(RLIMIT_NOFILE, "NOFILE", 32, 32))
                return 5;
        if (!limit_is(RLIMIT_STACK, "STACK", 16 << 20, 16 << 20))
                return 6;

        /* and the kernel enforces them */
        signal(SIGXFSZ, SIG_IGN);
        char path[] = "/tmp/jr-test-fsize-XXXXXX";
        int fd = mkostemp(path, O_CLOEXEC);
        if (fd < 0)
                return 7;
        unlink(path);
        static char buf[1 << 20];
        ssize_t w1 = write(fd, buf, sizeof buf);
        ssize_t w2 = write(fd, buf, 1);
        int err = errno;
        close(fd);
        if (w1 != (ssize_t)sizeof buf || w2 != -1 || err != EFBIG) {
                note("writes past RLIMIT_FSIZE: %zd, %zd (%s)", w1, w2, strerror(err));
                return 8;
        }
        int opened = 0;
        for (;;) {
                int f = open("/dev/null", O_RDONLY | O_CLOEXEC);
                if (f < 0) {
                        err = errno;
                        break;
                }
                opened++;
        }
        if (err != EMFILE || opened >= 32) {
                note("opened %d fds, stopped by %s", opened, strerror(err));
                return 9;
        }
        return 0;
}

Test(rlimits, apply_sets_and_enforces)
{
        run_child(apply_all, "rlimits");
}

static int apply_defaults(void)
{
        jr_rlimits r = {0};
        struct rlimit cpu_before, fsize_before;
        getrlimit(RLIMIT_CPU, &cpu_before);
        getrlimit(RLIMIT_FSIZE, &fsize_before);
        if (jr_rlimits_apply(&r, NULL) < 0)
                return 1;
        if (!limit_is(RLIMIT_CORE, "CORE", 0, 0))
                return 2;
        if (!limit_is(RLIMIT_NOFILE, "NOFILE", 64, 64))
                return 3;
        if (!limit_is(RLIMIT_STACK, "STACK", 8 << 20, 8 << 20))
                return 4;
        /* 0 means "not set": left as inherited */
        if (!limit_is(RLIMIT_CPU, "CPU", cpu_before.rlim_cur, cpu_before.rlim_max))
                return 5;
        if (!limit_is(RLIMIT_FSIZE, "FSIZE", fsize_before.rlim_cur, fsize_before.rlim_max))
                return 6;
        return 0;
}

Test(rlimits, zero_means_default)
{
        run_child(apply_defaults, "rlimit defaults");
}

static int apply_failure(void)
{
        /* beyond fs.nr_open: refused whatever the capabilities */
        jr_rlimits r = {.nofile = 1ull << 40};
        const char *which = NULL;
        int ret = jr_rlimits_apply(&r, &which);
        if (ret != -EPERM && ret != -EINVAL) {
                note("returned %d", ret);
                return 1;
        }
        if (!which || strcmp(which, "RLIMIT_NOFILE") != 0) {
                note("which = %s", which ? which : "(null)");
                return 2;
        }
        return 0;
}

Test(rlimits, failure_names_the_limit)
{
        run_child(apply_failure, "rlimit failure");
}
