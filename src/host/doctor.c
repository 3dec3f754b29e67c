/* jailrun doctor: one line per fact of the host that matters to the judge. See doctor.h. */
#include "doctor.h"
#include "doctor_internal.h"
#include "jailopts.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <pwd.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "clock.h"
#include "jury.h"
#include "lang.h"
#include "rootfs.h"
#include "units.h"

#define MSG_MAX      1024
#define DAY_SECONDS  (24 * 3600)
#define CAP_ADMIN    21 /* CAP_SYS_ADMIN */
#define CAP_CHROOT   18 /* CAP_SYS_CHROOT: setns() into a mount namespace needs it */
#define PROBE_EXIT_X 120

const char *jr_doctor_level_name(jr_doctor_level l)
{
        return l == JR_DOCTOR_OK ? "OK" : l == JR_DOCTOR_WARN ? "WARN" : "FAIL";
}

void jr_doctor_say(struct doctor_ctx *c, jr_doctor_level level, const char *check, const char *fmt,
                   ...)
{
        char msg[MSG_MAX];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        c->counts[level]++;
        c->report(c->opaque, level, check, msg);
}

/* ---- small readers -------------------------------------------------------------------- */

/* The first line of a small file, without its newline; < 0 (-errno) when unreadable. */
int jr_doctor_read_line(const char *path, char *buf, size_t n)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        ssize_t r = read(fd, buf, n - 1);
        if (r < 0)
                return -errno;
        buf[r] = '\0';
        buf[strcspn(buf, "\n")] = '\0';
        return (int)r;
}

/* A whole small text file, malloc'd. */
char *jr_doctor_read_all(const char *path)
{
        FILE *f = fopen(path, "re");
        if (!f)
                return NULL;
        char *buf = NULL;
        size_t n = 0;
        FILE *m = open_memstream(&buf, &n);
        if (m) {
                char chunk[4096];
                size_t r;
                while ((r = fread(chunk, 1, sizeof chunk, f)) > 0)
                        fwrite(chunk, 1, r, m);
                fclose(m);
        }
        fclose(f);
        return buf;
}

bool jr_doctor_word_in_list(const char *list, const char *word)
{
        size_t wl = strlen(word);
        for (const char *p = list; (p = strstr(p, word)); p += wl) {
                bool start = p == list || p[-1] == ' ' || p[-1] == ',' || p[-1] == '\n';
                char end = p[wl];
                if (start && (end == '\0' || end == ' ' || end == ',' || end == '\n'))
                        return true;
        }
        return false;
}

bool jr_doctor_file_exists(const char *path)
{
        return access(path, F_OK) == 0;
}

static int kernel_version(int *major, int *minor)
{
        struct utsname u;
        if (uname(&u) < 0 || sscanf(u.release, "%d.%d", major, minor) != 2)
                return -1;
        return 0;
}

bool jr_doctor_kernel_at_least(int major, int minor)
{
        int ma, mi;
        if (kernel_version(&ma, &mi) < 0)
                return false;
        return ma > major || (ma == major && mi >= minor);
}

/* ---- probes in a child ----------------------------------------------------------------- */

/* Run fn in a forked child; its message comes back over a pipe. Returns fn's result
 * (0..119), or PROBE_EXIT_X when the child died. */
static int in_child(int (*fn)(void *arg, char *msg, size_t n), void *arg, char *msg, size_t n)
{
        int p[2];
        msg[0] = '\0';
        if (pipe2(p, O_CLOEXEC) < 0) {
                snprintf(msg, n, "pipe: %s", strerror(errno));
                return PROBE_EXIT_X;
        }
        pid_t pid = fork();
        if (pid < 0) {
                snprintf(msg, n, "fork: %s", strerror(errno));
                close(p[0]);
                close(p[1]);
                return PROBE_EXIT_X;
        }
        if (pid == 0) {
                close(p[0]);
                char m[MSG_MAX] = "";
                int r = fn(arg, m, sizeof m);
                ssize_t w = write(p[1], m, strlen(m));
                (void)w;
                _exit(r);
        }
        close(p[1]);
        size_t len = 0;
        for (;;) {
                ssize_t r = read(p[0], msg + len, n - 1 - len);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r <= 0)
                        break;
                len += (size_t)r;
                if (len == n - 1)
                        break;
        }
        msg[len] = '\0';
        close(p[0]);
        int st;
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
                ;
        if (!WIFEXITED(st)) {
                if (!msg[0])
                        snprintf(msg, n, "probe killed by signal %d", WTERMSIG(st));
                return PROBE_EXIT_X;
        }
        return WEXITSTATUS(st);
}

static const struct {
        const char *name;
        int flag;
        bool needed; /* the jail uses it */
} namespaces[] = {
    {"mount", CLONE_NEWNS, true},   {"pid", CLONE_NEWPID, true}, {"net", CLONE_NEWNET, true},
    {"ipc", CLONE_NEWIPC, true},    {"uts", CLONE_NEWUTS, true}, {"cgroup", CLONE_NEWCGROUP, true},
    {"user", CLONE_NEWUSER, false},
};

/* Exit bit i set when namespace i could not be created; the message has the times. */
static int probe_namespaces(void *arg, char *msg, size_t n)
{
        (void)arg;
        int failed = 0;
        size_t len = 0;
        for (size_t i = 0; i < JR_ARRAY_SIZE(namespaces); i++) {
                uint64_t a = jr_mono_ns();
                int r = unshare(namespaces[i].flag);
                int err = errno;
                uint64_t b = jr_mono_ns();
                if (r < 0) {
                        failed |= 1 << i;
                        len += (size_t)snprintf(msg + len, len < n ? n - len : 0, "%s: %s; ",
                                                namespaces[i].name, strerror(err));
                } else if (namespaces[i].flag == CLONE_NEWNET) {
                        double ms = (double)(b - a) / 1e6;
                        len += (size_t)snprintf(msg + len, len < n ? n - len : 0,
                                                "netns in %.1f ms; ", ms);
                }
        }
        return failed;
}

static int probe_seccomp(void *arg, char *msg, size_t n)
{
        (void)arg;
        scmp_filter_ctx f = seccomp_init(SCMP_ACT_ALLOW);
        if (!f) {
                snprintf(msg, n, "seccomp_init failed");
                return 1;
        }
        int r = seccomp_rule_add(f, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(getppid), 0);
        if (r == 0)
                r = seccomp_load(f); /* sets no_new_privs first (libseccomp's default) */
        seccomp_release(f);
        if (r < 0) {
                snprintf(msg, n, "load a filter: %s", strerror(-r));
                return 1;
        }
        errno = 0;
        long pp = syscall(SYS_getppid);
        if (pp != -1 || errno != EPERM) {
                snprintf(msg, n, "a loaded filter did not act (getppid returned %ld)", pp);
                return 1;
        }
        snprintf(msg, n, "filters load and act (libseccomp %u.%u.%u, API level %u)",
                 seccomp_version()->major, seccomp_version()->minor, seccomp_version()->micro,
                 seccomp_api_get());
        return 0;
}

/* bit 0: tmpfs failed, bit 1: overlay failed */
static int probe_mounts(void *arg, char *msg, size_t n)
{
        (void)arg;
        /* our own mount namespace, private: nothing of this is seen by the host */
        if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
                snprintf(msg, n, "private mount namespace: %s", strerror(errno));
                return 3;
        }
        if (mount("jailrun-doctor", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "size=1m") < 0) {
                snprintf(msg, n, "tmpfs: %s", strerror(errno));
                return 3;
        }
        static const char *const dirs[] = {"/tmp/l", "/tmp/u", "/tmp/w", "/tmp/m"};
        for (size_t i = 0; i < JR_ARRAY_SIZE(dirs); i++)
                if (mkdir(dirs[i], 0700) < 0) {
                        snprintf(msg, n, "mkdir %s: %s", dirs[i], strerror(errno));
                        return 2;
                }
        if (mount("overlay", "/tmp/m", "overlay", 0,
                  "lowerdir=/tmp/l,upperdir=/tmp/u,workdir=/tmp/w") < 0) {
                snprintf(msg, n, "overlay: %s", strerror(errno));
                return 2;
        }
        return 0;
}

/* ---- checks ------------------------------------------------------------------------- */

static void check_identity(struct doctor_ctx *c)
{
        char *status = jr_doctor_read_all("/proc/self/status");
        unsigned long long eff = 0;
        const char *p = status ? strstr(status, "CapEff:") : NULL;
        if (p)
                sscanf(p + 7, "%llx", &eff);
        free(status);
        bool admin = eff >> CAP_ADMIN & 1, chroot_cap = eff >> CAP_CHROOT & 1;
        if (geteuid() == 0 && admin && chroot_cap)
                jr_doctor_say(c, JR_DOCTOR_OK, "privileges",
                              "root with CAP_SYS_ADMIN and CAP_SYS_CHROOT");
        else
                jr_doctor_say(
                    c, JR_DOCTOR_FAIL, "privileges",
                    "uid %u, CAP_SYS_ADMIN %s, CAP_SYS_CHROOT %s: jailrun makes jails with "
                    "root's capabilities (namespaces, mounts, cgroups; a run joins its "
                    "template mount namespace with setns); run it as root, and keep both in "
                    "a CapabilityBoundingSet",
                    (unsigned)geteuid(), admin ? "present" : "missing",
                    chroot_cap ? "present" : "missing");
}

static void check_config(struct doctor_ctx *c)
{
        if (!c->o->check_config)
                return;
        jr_error e = {0};
        const char *file = NULL;
        int r = c->o->check_config(c->o->config_path, &file, &e);
        if (r < 0)
                jr_doctor_say(c, JR_DOCTOR_FAIL, "config", "%s", e.msg);
        else if (r > 0)
                jr_doctor_say(c, JR_DOCTOR_OK, "config", "%s is valid (`jailrun config` shows it)",
                              file);
        else
                jr_doctor_say(c, JR_DOCTOR_OK, "config",
                              "no config file (%s): defaults and the environment apply", file);
}

static void check_kernel(struct doctor_ctx *c)
{
        struct utsname u;
        uname(&u);
        int ma = 0, mi = 0;
        kernel_version(&ma, &mi);
        /* clone3 with CLONE_INTO_CGROUP 5.7, CLOSE_RANGE_CLOEXEC 5.11 */
        if (jr_doctor_kernel_at_least(5, 11))
                jr_doctor_say(c, JR_DOCTOR_OK, "kernel", "Linux %s %s", u.release, u.machine);
        else
                jr_doctor_say(c, JR_DOCTOR_FAIL, "kernel",
                              "Linux %s: jailrun needs 5.11 or later (clone3 into a cgroup, "
                              "close_range with CLOSE_RANGE_CLOEXEC)",
                              u.release);
}

static void check_syscalls(struct doctor_ctx *c)
{
        /* Each probe is harmless when the call exists: a bad size, a range of closed fds,
         * our own pid, "/". ENOSYS is the only answer that means "missing". */
        errno = 0;
        long r = syscall(SYS_clone3, NULL, 0);
        if (r < 0 && errno == ENOSYS)
                jr_doctor_say(c, JR_DOCTOR_FAIL, "clone3",
                              "missing (Linux 5.3+): jails are cloned with it");
        else
                jr_doctor_say(c, JR_DOCTOR_OK, "clone3",
                              "available (CLONE_INTO_CGROUP needs 5.7: %s)",
                              jr_doctor_kernel_at_least(5, 7) ? "yes" : "no");

        r = syscall(SYS_pidfd_open, getpid(), 0);
        if (r >= 0) {
                close((int)r);
                jr_doctor_say(c, JR_DOCTOR_OK, "pidfd", "pidfd_open works");
        } else {
                jr_doctor_say(c, JR_DOCTOR_FAIL, "pidfd",
                              "pidfd_open: %s (Linux 5.3+): jails are supervised through pidfds",
                              strerror(errno));
        }

        r = syscall(SYS_close_range, ~0U - 1, ~0U, CLOSE_RANGE_CLOEXEC);
        if (r == 0)
                jr_doctor_say(c, JR_DOCTOR_OK, "close_range",
                              "close_range with CLOSE_RANGE_CLOEXEC works");
        else
                jr_doctor_say(
                    c, JR_DOCTOR_FAIL, "close_range",
                    "close_range(CLOSE_RANGE_CLOEXEC): %s (Linux 5.11+): no inherited fd may reach "
                    "a jail",
                    strerror(errno));

        struct open_how how = {.flags = O_PATH | O_CLOEXEC, .resolve = RESOLVE_NO_SYMLINKS};
        r = syscall(SYS_openat2, AT_FDCWD, "/", &how, sizeof how);
        if (r >= 0) {
                close((int)r);
                jr_doctor_say(c, JR_DOCTOR_OK, "openat2", "openat2 with RESOLVE_NO_SYMLINKS works");
        } else {
                jr_doctor_say(
                    c, JR_DOCTOR_WARN, "openat2",
                    "openat2: %s (Linux 5.6+): path resolution in jail-written trees falls back "
                    "to O_NOFOLLOW walks",
                    strerror(errno));
        }
}

/* The CPU bandwidth of test runs (JAILRUN_CPUS, EXECUTOR_NANO_CPUS), and whether this
 * host's cgroups can apply it. */
static void check_cpus(struct doctor_ctx *c)
{
        jr_error e;
        uint64_t nano = 0;
        if (jr_config_nano_cpus(&nano, &e) < 0) {
                jr_doctor_say(c, JR_DOCTOR_FAIL, "cpus", "%s", e.msg);
                return;
        }
        if (!nano) {
                jr_doctor_say(
                    c, JR_DOCTOR_OK, "cpus",
                    "no CPU bandwidth limit (JAILRUN_CPUS and EXECUTOR_NANO_CPUS are unset): "
                    "a test is limited by its CPU time");
                return;
        }
        const char *from = getenv("JAILRUN_CPUS") && *getenv("JAILRUN_CPUS") ? "JAILRUN_CPUS"
                                                                             : "EXECUTOR_NANO_CPUS";
        char cpus[32];
        jr_format_cpus(nano, cpus, sizeof cpus);
        if (c->mode == JR_CG_V2) {
                c->nano_cpus = nano;
                jr_doctor_say(c, JR_DOCTOR_OK, "cpus",
                              "each test run gets %s CPU%s of bandwidth (%s; cpu.max)", cpus,
                              nano == 1000000000u ? "" : "s", from);
                return;
        }
        _cleanup_free_ char *mountinfo = jr_doctor_read_all("/proc/self/mountinfo");
        _cleanup_free_ char *self = jr_doctor_read_all("/proc/self/cgroup");
        char dir[PATH_MAX];
        if (!mountinfo || !self || jr_doctor_v1_dir(mountinfo, self, "cpu", dir, sizeof dir) < 0 ||
            !jr_doctor_file_exists(dir)) {
                jr_doctor_say(
                    c, JR_DOCTOR_FAIL, "cpus",
                    "%s asks for %s CPUs, but no cgroup v1 \"cpu\" hierarchy is mounted "
                    "(cpu.cfs_quota_us): every test would be IE; mount the cpu controller or "
                    "unset %s",
                    from, cpus, from);
                return;
        }
        c->nano_cpus = nano;
        jr_doctor_say(c, JR_DOCTOR_OK, "cpus",
                      "each test run gets %s CPU%s of bandwidth (%s; cpu.cfs_quota_us below %s)",
                      cpus, nano == 1000000000u ? "" : "s", from, dir);
}

static void check_namespaces(struct doctor_ctx *c)
{
        char msg[MSG_MAX];
        int r = in_child(probe_namespaces, NULL, msg, sizeof msg);
        if (r == PROBE_EXIT_X) {
                jr_doctor_say(c, JR_DOCTOR_FAIL, "namespaces", "the probe failed: %s", msg);
                return;
        }
        bool needed_missing = false;
        char names[128] = "";
        for (size_t i = 0; i < JR_ARRAY_SIZE(namespaces); i++) {
                if (r & (1 << i))
                        needed_missing |= namespaces[i].needed;
                else
                        snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s",
                                 *names ? " " : "", namespaces[i].name);
        }
        size_t l = strlen(msg);
        if (l >= 2 && !strcmp(msg + l - 2, "; "))
                msg[l - 2] = '\0';
        if (needed_missing)
                jr_doctor_say(c, JR_DOCTOR_FAIL, "namespaces", "cannot create: %s", msg);
        else if (r)
                jr_doctor_say(c, JR_DOCTOR_OK, "namespaces",
                              "%s can be created (%s; jails do not use it)", names, msg);
        else
                jr_doctor_say(c, JR_DOCTOR_OK, "namespaces", "%s can be created (%s)", names, msg);
}

static void check_seccomp(struct doctor_ctx *c)
{
        char msg[MSG_MAX];
        int r = in_child(probe_seccomp, NULL, msg, sizeof msg);
        if (r == 0)
                jr_doctor_say(c, JR_DOCTOR_OK, "seccomp", "%s", msg);
        else
                jr_doctor_say(c, JR_DOCTOR_FAIL, "seccomp",
                              "%s: the jail's syscall filter cannot work", msg);
}

static void check_mounts(struct doctor_ctx *c)
{
        char msg[MSG_MAX];
        int r = in_child(probe_mounts, NULL, msg, sizeof msg);
        if (r == PROBE_EXIT_X || (r & 1))
                jr_doctor_say(c, JR_DOCTOR_FAIL, "tmpfs", "%s: every jail's root is a tmpfs", msg);
        else
                jr_doctor_say(c, JR_DOCTOR_OK, "tmpfs", "mounts in a private mount namespace");
        if (r == 0)
                jr_doctor_say(c, JR_DOCTOR_OK, "overlay", "mounts in a private mount namespace");
        else if (!(r & 1))
                jr_doctor_say(c, JR_DOCTOR_WARN, "overlay", "%s (jails do not need it today)", msg);
}

struct tree_need {
        char *name;
        char langs[256];
};

/* The command that rebuilds tree from its current recipe, with the directories when
 * they are not the defaults. */
static void rebuild_hint(const char *rootfs_dir, const char *recipes_dir, const char *tree,
                         char *buf, size_t n)
{
        size_t o = (size_t)snprintf(buf, n, "jailrun rootfs build");
        if (strcmp(rootfs_dir, jr_rootfs_default_dir()) && o < n)
                o += (size_t)snprintf(buf + o, n - o, " --dir %s", rootfs_dir);
        if (strcmp(recipes_dir, jr_rootfs_default_recipes_dir()) && o < n)
                o += (size_t)snprintf(buf + o, n - o, " --recipes %s", recipes_dir);
        if (o < n)
                snprintf(buf + o, n - o, " tree:%s", tree);
}

static const jr_rootfs_recipe *recipe_named(jr_rootfs_recipe **v, size_t n, const char *name)
{
        for (size_t i = 0; i < n; i++)
                if (!strcmp(v[i]->name, name))
                        return v[i];
        return NULL;
}

static void check_langs_and_trees(struct doctor_ctx *c)
{
        const char *langs_dir = c->o->langs_dir ? c->o->langs_dir : jr_lang_default_dir();
        const char *rootfs_dir = c->o->rootfs_dir ? c->o->rootfs_dir : jr_rootfs_default_dir();
        const char *recipes_dir =
            c->o->recipes_dir ? c->o->recipes_dir : jr_rootfs_default_recipes_dir();
        _cleanup_lang_set_ jr_lang_set *langs = NULL;
        jr_rootfs_recipe **recipes = NULL;
        size_t n_recipes = 0;
        jr_error e;
        struct tree_need trees[64];
        size_t nt = 0;
        /* The recipes, to tell a tree built from an older one: nothing rebuilds a tree
         * when its recipe changes until someone asks, and the tree from before the change
         * lacks what the language files now expect of it (a go tree without the build
         * cache fails every go build). */
        if (jr_rootfs_recipes_load(recipes_dir, &recipes, &n_recipes, &e) < 0) {
                jr_doctor_say(c, JR_DOCTOR_WARN, "recipes",
                              "%s: trees cannot be compared with their recipes", e.msg);
                recipes = NULL;
                n_recipes = 0;
        }
        if (jr_lang_load_dir(langs_dir, &langs, &e) < 0) {
                jr_doctor_say(c, JR_DOCTOR_FAIL, "langs", "%s", e.msg);
                /* still say which trees are there: those of every recipe */
                for (size_t i = 0; i < n_recipes && nt < JR_ARRAY_SIZE(trees); i++)
                        trees[nt++] =
                            (struct tree_need){.name = recipes[i]->name, .langs = "a recipe"};
        }
        size_t nl = langs ? jr_lang_count(langs) : 0;
        char names[512] = "";
        for (size_t i = 0; i < nl; i++) {
                const jr_lang *l = jr_lang_get(langs, i);
                snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? " " : "",
                         l->name);
                const char *want[2] = {l->build_rootfs, l->run_rootfs};
                for (size_t w = 0; w < 2; w++) {
                        if (!want[w])
                                continue;
                        size_t k = 0;
                        while (k < nt && strcmp(trees[k].name, want[w]))
                                k++;
                        if (k == nt) {
                                if (nt == JR_ARRAY_SIZE(trees))
                                        continue;
                                trees[nt] = (struct tree_need){.name = (char *)want[w]};
                                nt++;
                        }
                        if (!jr_doctor_word_in_list(trees[k].langs, l->name))
                                snprintf(trees[k].langs + strlen(trees[k].langs),
                                         sizeof trees[k].langs - strlen(trees[k].langs), "%s%s",
                                         *trees[k].langs ? " " : "", l->name);
                }
        }
        if (langs)
                jr_doctor_say(c, JR_DOCTOR_OK, "langs", "%zu in %s: %s", nl, langs_dir, names);

        unsigned max_age = c->o->rootfs_max_age_days ? c->o->rootfs_max_age_days : 30;
        time_t now = time(NULL);
        for (size_t k = 0; k < nt; k++) {
                char check[96];
                snprintf(check, sizeof check, "rootfs %s", trees[k].name);
                jr_rootfs_info info;
                if (jr_rootfs_info_get(rootfs_dir, trees[k].name, &info, &e) < 0) {
                        /* the message names the command that builds the tree */
                        jr_doctor_say(c, JR_DOCTOR_FAIL, check, "%s (needed by %s)", e.msg,
                                      trees[k].langs);
                        continue;
                }
                long days = (long)((now - info.built) / DAY_SECONDS);
                char size[32];
                jr_format_size(info.size_bytes, size, sizeof size);
                char hint[3 * PATH_MAX];
                rebuild_hint(rootfs_dir, recipes_dir, trees[k].name, hint, sizeof hint);
                const jr_rootfs_recipe *r = recipe_named(recipes, n_recipes, trees[k].name);
                int current = r ? jr_rootfs_built_from(rootfs_dir, r, &e) : 1;
                if (current < 0) {
                        jr_doctor_say(c, JR_DOCTOR_FAIL, check, "%s", e.msg);
                } else if (!current) {
                        jr_doctor_say(
                            c, JR_DOCTOR_WARN, check,
                            "built from another version of %s (%ld day%s ago): the tree may "
                            "lack what its languages (%s) now expect; rebuild it with `%s`",
                            r->path, days, days == 1 ? "" : "s", trees[k].langs, hint);
                } else if (days > (long)max_age) {
                        jr_doctor_say(c, JR_DOCTOR_WARN, check,
                                      "built %ld days ago (%s, %ld packages): rebuild for security "
                                      "updates with `jailrun rootfs build --force %s`",
                                      days, size, info.packages, trees[k].name);
                } else {
                        jr_doctor_say(c, JR_DOCTOR_OK, check,
                                      "built %ld day%s ago, %s, %ld packages%s", days,
                                      days == 1 ? "" : "s", size, info.packages,
                                      r ? ", from its current recipe" : "");
                }
        }
        jr_rootfs_recipes_free(recipes, n_recipes);
}

static void check_dirs(struct doctor_ctx *c)
{
        /* /run/jailrun: the jails' mount point and the judge's work areas
         * (RuntimeDirectory=jailrun in the unit) */
        struct stat st;
        if (stat("/run/jailrun", &st) == 0 && S_ISDIR(st.st_mode))
                jr_doctor_say(c, JR_DOCTOR_OK, "run-dir", "/run/jailrun exists");
        else if (access("/run", W_OK) == 0)
                jr_doctor_say(c, JR_DOCTOR_OK, "run-dir",
                              "/run/jailrun will be created when needed");
        else
                jr_doctor_say(
                    c, JR_DOCTOR_FAIL, "run-dir",
                    "/run/jailrun is missing and /run is not writable: the judge's work areas "
                    "live there");

        const char *spool = getenv("JAILRUN_SPOOL_DIR");
        if (!spool || !*spool)
                spool = "/var/lib/jailrun/spool";
        if (stat(spool, &st) == 0) {
                if (!S_ISDIR(st.st_mode))
                        jr_doctor_say(c, JR_DOCTOR_FAIL, "spool", "%s is not a directory", spool);
                else if (access(spool, W_OK) < 0)
                        jr_doctor_say(c, JR_DOCTOR_FAIL, "spool", "%s is not writable: %s", spool,
                                      strerror(errno));
                else
                        jr_doctor_say(c, JR_DOCTOR_OK, "spool", "%s is writable", spool);
        } else {
                jr_doctor_say(c, JR_DOCTOR_OK, "spool", "%s will be created by `jailrun serve`",
                              spool);
        }
}

/* The HTTP front door's settings (docs/http.md): what would stop `serve` at start. */
static void check_http(struct doctor_ctx *c)
{
        const char *addr = getenv("JAILRUN_HTTP_ADDR");
        const char *port = getenv("EXECUTOR_PORT");
        char buf[64];
        if ((!addr || !*addr) && port && *port) {
                snprintf(buf, sizeof buf, "127.0.0.1:%s", port);
                addr = buf;
        }
        if (getenv("EXECUTOR_LOCAL_FALLBACK") && *getenv("EXECUTOR_LOCAL_FALLBACK"))
                jr_doctor_say(
                    c, JR_DOCTOR_WARN, "http",
                    "EXECUTOR_LOCAL_FALLBACK is set and ignored: jailrun never runs code outside "
                    "a jail");
        if (!addr || !*addr) {
                jr_doctor_say(c, JR_DOCTOR_OK, "http",
                              "no HTTP front door (JAILRUN_HTTP_ADDR is empty)");
                return;
        }
        const char *tokens = getenv("JAILRUN_HTTP_TOKENS");
        bool loopback = !strncmp(addr, "127.", 4) || !strncmp(addr, "localhost:", 10) ||
                        !strncmp(addr, "[::1]:", 6);
        bool has_token = tokens && tokens[strspn(tokens, ", \t")];
        if (!has_token && !loopback)
                jr_doctor_say(
                    c, JR_DOCTOR_FAIL, "http",
                    "%s is not a loopback address and JAILRUN_HTTP_TOKENS is empty: `serve` "
                    "refuses to start",
                    addr);
        else
                jr_doctor_say(c, JR_DOCTOR_OK, "http", "front door on %s, %s", addr,
                              has_token ? "bearer tokens required"
                                        : "no authentication (loopback)");
        const char *db = getenv("JAILRUN_RESULTS_DB");
        if (!db || !*db)
                db = "/var/lib/jailrun/results.db";
        char dir[PATH_MAX];
        snprintf(dir, sizeof dir, "%s", db);
        char *slash = strrchr(dir, '/');
        if (slash && slash != dir)
                *slash = '\0';
        else
                snprintf(dir, sizeof dir, "%s", slash ? "/" : ".");
        if (access(db, F_OK) == 0 && access(db, W_OK) < 0)
                jr_doctor_say(c, JR_DOCTOR_FAIL, "results-db", "%s is not writable: %s", db,
                              strerror(errno));
        else if (access(db, F_OK) < 0 && access(dir, W_OK) < 0)
                jr_doctor_say(c, JR_DOCTOR_FAIL, "results-db", "%s cannot be created: %s: %s", db,
                              dir, strerror(errno));
        else
                jr_doctor_say(c, JR_DOCTOR_OK, "results-db", "%s is writable", db);
}

/* The spool's file system: a spool that cannot write stops the service from consuming
 * (docs/messages.md, Delivery). Nearly full means less than SPOOL_MIN_FREE_PCT % of its
 * space or of its inodes (one per record) free, or less than SPOOL_MIN_FREE_BYTES: room
 * for a few hundred full-size results during a broker outage. The spool directory, or
 * the nearest parent that exists (serve creates the rest). */
#define SPOOL_MIN_FREE_PCT   10
#define SPOOL_MIN_FREE_BYTES (64ull << 20)
static void check_spool_space(struct doctor_ctx *c)
{
        const char *spool = getenv("JAILRUN_SPOOL_DIR");
        if (!spool || !*spool)
                spool = "/var/lib/jailrun/spool";
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s", spool);
        struct statvfs sv;
        while (statvfs(path, &sv) < 0) {
                char *slash = strrchr(path, '/');
                if (errno != ENOENT || !slash || slash == path) {
                        jr_doctor_say(c, JR_DOCTOR_WARN, "spool-space", "statvfs %s: %s", path,
                                      strerror(errno));
                        return;
                }
                *slash = '\0';
        }
        uint64_t total = (uint64_t)sv.f_blocks * sv.f_frsize;
        uint64_t avail = (uint64_t)sv.f_bavail * sv.f_frsize;
        char sfree[32], stotal[32];
        jr_format_size(avail, sfree, sizeof sfree);
        jr_format_size(total, stotal, sizeof stotal);
        bool low_space =
            total > 0 && (avail * 100 < total * SPOOL_MIN_FREE_PCT || avail < SPOOL_MIN_FREE_BYTES);
        bool low_inodes = sv.f_files > 0 &&
                          (uint64_t)sv.f_favail * 100 < (uint64_t)sv.f_files * SPOOL_MIN_FREE_PCT;
        if (low_space || low_inodes)
                jr_doctor_say(
                    c, JR_DOCTOR_WARN, "spool-space",
                    "the file system of %s is nearly full: %s free of %s, %llu of %llu inodes "
                    "(warns below %d %% or %llu MiB free): when it fills, the service stops "
                    "consuming until there is room again",
                    spool, sfree, stotal, (unsigned long long)sv.f_favail,
                    (unsigned long long)sv.f_files, SPOOL_MIN_FREE_PCT,
                    (unsigned long long)(SPOOL_MIN_FREE_BYTES >> 20));
        else
                jr_doctor_say(c, JR_DOCTOR_OK, "spool-space",
                              "%s free of %s on the file system of %s", sfree, stotal, spool);
}

static void check_swap(struct doctor_ctx *c)
{
        _cleanup_free_ char *swaps = jr_doctor_read_all("/proc/swaps");
        unsigned active = 0;
        for (const char *p = swaps ? strchr(swaps, '\n') : NULL; p && p[1]; p = strchr(p + 1, '\n'))
                active++;
        if (!active) {
                jr_doctor_say(c, JR_DOCTOR_OK, "swap", "no swap: memory limits are exact");
                return;
        }
        char path[PATH_MAX + 64];
        bool accounted;
        if (c->mode == JR_CG_V2) {
                /* memory.swap.max exists in non-root cgroups when swap is accounted */
                snprintf(path, sizeof path, "%s/memory.swap.max", c->own_v2);
                accounted = c->own_v2_is_root
                                ? jr_doctor_file_exists(CG_ROOT "/memory.swap.current") ||
                                      jr_doctor_file_exists(CG_ROOT "/init.scope/memory.swap.max")
                                : jr_doctor_file_exists(path);
                if (accounted)
                        jr_doctor_say(c, JR_DOCTOR_OK, "swap",
                                      "%u swap area(s); jails get memory.swap.max=0", active);
                else
                        jr_doctor_say(
                            c, JR_DOCTOR_WARN, "swap",
                            "%u swap area(s) and no swap accounting (memory.swap.max): a jail "
                            "can exceed its memory limit through swap; boot with "
                            "swapaccount=1 or turn swap off (swapoff -a)",
                            active);
                return;
        }
        snprintf(path, sizeof path, "%.*s/memory.memsw.limit_in_bytes", PATH_MAX - 64,
                 c->memory_v1);
        if (*c->memory_v1 && jr_doctor_file_exists(path))
                jr_doctor_say(c, JR_DOCTOR_OK, "swap",
                              "%u swap area(s); jails limit memory+swap (memsw)", active);
        else
                jr_doctor_say(
                    c, JR_DOCTOR_WARN, "swap",
                    "%u swap area(s) and no memsw accounting: a jail can exceed its memory limit "
                    "through swap, and ML comes late; boot with swapaccount=1 or swapoff -a",
                    active);
}

static void check_cpu(struct doctor_ctx *c)
{
        char v[256];
        if (jr_doctor_read_line("/sys/devices/system/cpu/smt/active", v, sizeof v) >= 0 &&
            !strcmp(v, "1"))
                jr_doctor_say(
                    c, JR_DOCTOR_WARN, "smt",
                    "SMT is on: jails on sibling threads of one core slow each other down, so "
                    "CPU times vary with the load; consider `nosmt` or "
                    "`echo off > /sys/devices/system/cpu/smt/control`");
        else if (jr_doctor_read_line("/sys/devices/system/cpu/smt/control", v, sizeof v) >= 0)
                jr_doctor_say(c, JR_DOCTOR_OK, "smt", "SMT control: %s", v);
        else
                jr_doctor_say(c, JR_DOCTOR_OK, "smt",
                              "not reported by the kernel (no SMT control)");

        /* governors of every CPU */
        _cleanup_closedir_ DIR *d = opendir("/sys/devices/system/cpu");
        char govs[256] = "";
        unsigned n_cpu = 0, not_perf = 0;
        struct dirent *de;
        while (d && (de = readdir(d))) {
                if (strncmp(de->d_name, "cpu", 3) || de->d_name[3] < '0' || de->d_name[3] > '9')
                        continue;
                char path[PATH_MAX];
                snprintf(path, sizeof path, "/sys/devices/system/cpu/%s/cpufreq/scaling_governor",
                         de->d_name);
                char gov[64];
                if (jr_doctor_read_line(path, gov, sizeof gov) < 0)
                        continue;
                n_cpu++;
                if (strcmp(gov, "performance")) {
                        not_perf++;
                        if (!jr_doctor_word_in_list(govs, gov))
                                snprintf(govs + strlen(govs), sizeof govs - strlen(govs), "%s%s",
                                         *govs ? " " : "", gov);
                }
        }
        if (!n_cpu)
                jr_doctor_say(c, JR_DOCTOR_OK, "cpufreq",
                              "no frequency scaling exposed (a VM or a fixed clock)");
        else if (not_perf)
                jr_doctor_say(
                    c, JR_DOCTOR_WARN, "cpufreq",
                    "governor %s on %u of %u CPUs: CPU time depends on the clock of the moment; "
                    "`cpupower frequency-set -g performance`",
                    govs, not_perf, n_cpu);
        else
                jr_doctor_say(c, JR_DOCTOR_OK, "cpufreq", "governor performance on all %u CPUs",
                              n_cpu);

        if (jr_doctor_read_line("/sys/devices/system/cpu/intel_pstate/no_turbo", v, sizeof v) >= 0)
                jr_doctor_say(c, !strcmp(v, "0") ? JR_DOCTOR_WARN : JR_DOCTOR_OK, "turbo",
                              !strcmp(v, "0")
                                  ? "Intel turbo is on: the clock depends on temperature and "
                                    "load; `echo 1 > /sys/devices/system/cpu/intel_pstate/no_turbo`"
                                  : "Intel turbo is off");
        else if (jr_doctor_read_line("/sys/devices/system/cpu/cpufreq/boost", v, sizeof v) >= 0)
                jr_doctor_say(c, !strcmp(v, "1") ? JR_DOCTOR_WARN : JR_DOCTOR_OK, "turbo",
                              !strcmp(v, "1")
                                  ? "CPU boost is on: the clock depends on temperature and load; "
                                    "`echo 0 > /sys/devices/system/cpu/cpufreq/boost`"
                                  : "CPU boost is off");
        else
                jr_doctor_say(c, JR_DOCTOR_OK, "turbo", "no turbo/boost control exposed");

        if (jr_doctor_read_line("/sys/devices/system/clocksource/clocksource0/current_clocksource",
                                v, sizeof v) >= 0) {
                bool fast = !strcmp(v, "tsc") || !strcmp(v, "kvm-clock") ||
                            !strcmp(v, "arch_sys_counter") ||
                            !strcmp(v, "hyperv_clocksource_tsc_page");
                if (fast)
                        jr_doctor_say(c, JR_DOCTOR_OK, "clocksource", "%s", v);
                else
                        jr_doctor_say(
                            c, JR_DOCTOR_WARN, "clocksource",
                            "%s: reading the clock is a slow path; timing programs that read it "
                            "often are slowed down",
                            v);
        }
}

static void check_security(struct doctor_ctx *c)
{
        char v[512];
        if (jr_doctor_read_line("/proc/sys/kernel/randomize_va_space", v, sizeof v) >= 0) {
                if (!strcmp(v, "2"))
                        jr_doctor_say(c, JR_DOCTOR_OK, "aslr", "full address space randomisation");
                else
                        jr_doctor_say(
                            c, JR_DOCTOR_WARN, "aslr",
                            "kernel.randomize_va_space = %s: exploits of a jail escape get "
                            "easier; `sysctl kernel.randomize_va_space=2`",
                            v);
        }
        if (jr_doctor_read_line("/proc/sys/kernel/core_pattern", v, sizeof v) >= 0) {
                if (v[0] == '|')
                        jr_doctor_say(
                            c, JR_DOCTOR_WARN, "core_pattern",
                            "\"%s\": a crashing submission makes the kernel start that helper "
                            "on the host, as root, for every crash (RLIMIT_CORE 0 does not stop "
                            "a pipe); `sysctl kernel.core_pattern=core`",
                            v);
                else
                        jr_doctor_say(c, JR_DOCTOR_OK, "core_pattern",
                                      "\"%s\" (jails have RLIMIT_CORE 0: no core file is written)",
                                      v);
        }
}

static void check_uids(struct doctor_ctx *c)
{
        uid_t base = 60000;
        jr_error e;
        if (jr_config_slot_uid_base(&base, &e) < 0) {
                jr_doctor_say(c, JR_DOCTOR_FAIL, "slot-uids", "%s", e.msg);
                return;
        }
        unsigned slots = c->o->slots;
        const char *par = getenv("RUNNER_MAX_PARALLEL");
        uint64_t p = 0;
        if (!slots && par && *par && jr_parse_uint(par, 1024, &p, NULL) == 0 && p > 0)
                slots = (unsigned)p;
        if (!slots)
                slots = 1;
        /* the slots' programs, then their checkers and interactors (jury.h) */
        for (unsigned k = 0; k < 2; k++)
                for (unsigned i = 0; i < slots; i++) {
                        uid_t uid = base + i + (k ? JR_JURY_ID_OFFSET : 0);
                        struct passwd *pw = getpwuid(uid);
                        if (pw) {
                                jr_doctor_say(
                                    c, JR_DOCTOR_WARN, "slot-uids",
                                    "uid %u (slot %u%s) is the host user \"%s\": jailed programs "
                                    "share its identity; pick another JAILRUN_SLOT_UID_BASE",
                                    (unsigned)uid, i, k ? "'s checkers" : "", pw->pw_name);
                                return;
                        }
                }
        jr_doctor_say(c, JR_DOCTOR_OK, "slot-uids", "uids %u..%u and %u..%u belong to no host user",
                      (unsigned)base, (unsigned)(base + slots - 1),
                      (unsigned)(base + JR_JURY_ID_OFFSET),
                      (unsigned)(base + JR_JURY_ID_OFFSET + slots - 1));
}

static void check_jail(struct doctor_ctx *c)
{
        if (c->o->no_jail)
                return;
        if (c->no_jail_cgroups) {
                jr_doctor_say(c, JR_DOCTOR_WARN, "jail",
                              "not tried: jail cgroups cannot be created from this cgroup (see "
                              "cgroup-delegation)");
                return;
        }
        jr_sandbox_opts so = {.cg_mode = c->mode};
        jr_error e = {0};
        _cleanup_sandbox_ jr_sandbox *sb = NULL;
        _cleanup_slot_ jr_slot *slot = NULL;
        uid_t base = 60000;
        jr_config_slot_uid_base(&base, NULL);
        if (jr_sandbox_new(&so, &sb, &e) < 0 || jr_slot_new(sb, 0, base, base, &slot, &e) < 0) {
                jr_doctor_say(c, JR_DOCTOR_FAIL, "jail", "cannot prepare a jail: %s", e.msg);
                return;
        }
        char *const argv[] = {"/bin/true", NULL};
        jr_run_config cfg;
        jr_run_config_init(&cfg);
        cfg.argv = argv;
        cfg.cpu_ms = 5000;
        cfg.wall_ms = 10000;
        cfg.mem_bytes = 64ull << 20;
        cfg.pids = 16;
        cfg.nano_cpus = c->nano_cpus; /* the tests' bandwidth limit, when one is set */
        jr_run_result res;
        uint64_t a = jr_mono_ns();
        int r = jr_jail_run(slot, &cfg, &res, &e);
        double ms = (double)(jr_mono_ns() - a) / 1e6;
        if (r < 0)
                jr_doctor_say(c, JR_DOCTOR_FAIL, "jail", "a trial jail failed: %s", e.msg);
        else if (res.status != JR_JAIL_OK || res.exit_code != 0)
                jr_doctor_say(c, JR_DOCTOR_FAIL, "jail",
                              "/bin/true in a jail ended %s (%s, exit %d)",
                              jr_jail_status_name(res.status), res.reason, res.exit_code);
        else
                jr_doctor_say(c, JR_DOCTOR_OK, "jail", "/bin/true ran in a jail%s in %.1f ms: %s",
                              c->nano_cpus ? " under the CPU bandwidth limit" : "", ms,
                              jr_sandbox_describe(sb));
}

void jr_doctor_run(const jr_doctor_opts *o, jr_doctor_report_fn *report, void *opaque,
                   unsigned counts[3])
{
        struct doctor_ctx c = {.o = o, .report = report, .opaque = opaque, .counts = counts};
        counts[0] = counts[1] = counts[2] = 0;
        check_identity(&c);
        check_config(&c);
        check_kernel(&c);
        check_syscalls(&c);
        jr_doctor_check_cgroups(&c);
        check_cpus(&c);
        check_namespaces(&c);
        check_seccomp(&c);
        check_mounts(&c);
        check_langs_and_trees(&c);
        check_dirs(&c);
        check_http(&c);
        check_spool_space(&c);
        check_swap(&c);
        check_cpu(&c);
        check_security(&c);
        check_uids(&c);
        check_jail(&c);
}
