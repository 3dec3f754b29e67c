/* `jailrun doctor`'s cgroup checks: which mode, whether jail cgroups can be made below our
 * own, the kernel's cgroup features, and what a v1 migration costs. See doctor.h. */
#include "doctor_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "clock.h"
#include "jailopts.h"

/* Where the v1 hierarchy of `controller` is mounted and our path in it. */
int jr_doctor_v1_dir(const char *mountinfo, const char *self, const char *controller, char *out,
                     size_t n)
{
        char mnt[PATH_MAX] = "", root[PATH_MAX] = "";
        for (const char *line = mountinfo; line && *line;) {
                const char *nl = strchr(line, '\n');
                size_t len = nl ? (size_t)(nl - line) : strlen(line);
                char buf[4096];
                snprintf(buf, sizeof buf, "%.*s", (int)len, line);
                line = nl ? nl + 1 : NULL;
                char *sep = strstr(buf, " - ");
                if (!sep)
                        continue;
                char fstype[32], source[256], opts[1024];
                if (sscanf(sep + 3, "%31s %255s %1023s", fstype, source, opts) != 3 ||
                    strcmp(fstype, "cgroup"))
                        continue;
                if (!jr_doctor_word_in_list(opts, controller))
                        continue;
                char r[PATH_MAX], m[PATH_MAX];
                if (sscanf(buf, "%*s %*s %*s %4095s %4095s", r, m) != 2)
                        continue;
                snprintf(root, sizeof root, "%s", r);
                snprintf(mnt, sizeof mnt, "%s", m);
                break;
        }
        if (!*mnt)
                return -ENOENT;
        /* "4:memory:/process_api/x" (a line may name several controllers: "2:cpu,cpuacct:") */
        for (const char *line = self; line && *line;) {
                const char *nl = strchr(line, '\n');
                char buf[PATH_MAX + 64];
                snprintf(buf, sizeof buf, "%.*s", (int)(nl ? (size_t)(nl - line) : strlen(line)),
                         line);
                line = nl ? nl + 1 : NULL;
                char *c1 = strchr(buf, ':');
                char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
                if (!c2)
                        continue;
                *c2 = '\0';
                if (!jr_doctor_word_in_list(c1 + 1, controller))
                        continue;
                const char *path = c2 + 1;
                size_t rl = strlen(root);
                if (strcmp(root, "/") && !strncmp(path, root, rl))
                        path += rl;
                snprintf(out, n, "%s%s", mnt, strcmp(path, "/") ? path : "");
                return 0;
        }
        return -ENOENT;
}

static void check_cgroup_v1(struct doctor_ctx *c)
{
        _cleanup_free_ char *mountinfo = jr_doctor_read_all("/proc/self/mountinfo");
        _cleanup_free_ char *self = jr_doctor_read_all("/proc/self/cgroup");
        static const char *const ctrls[] = {"memory", "pids", "cpuacct"};
        char found[3 * (PATH_MAX + 16)] = "";
        size_t len = 0;
        bool ok = true, writable = true;
        char bad[PATH_MAX + 64] = "";
        for (size_t i = 0; i < JR_ARRAY_SIZE(ctrls); i++) {
                char dir[PATH_MAX];
                if (!mountinfo || !self ||
                    jr_doctor_v1_dir(mountinfo, self, ctrls[i], dir, sizeof dir) < 0 ||
                    !jr_doctor_file_exists(dir)) {
                        jr_doctor_say(
                            c, JR_DOCTOR_FAIL, "cgroup",
                            "v1: no \"%s\" hierarchy mounted: jail limits need memory, pids and "
                            "cpuacct (mount them, or boot a cgroup v2 host)",
                            ctrls[i]);
                        ok = false;
                        continue;
                }
                if (i == 0)
                        snprintf(c->memory_v1, sizeof c->memory_v1, "%s", dir);
                len +=
                    (size_t)snprintf(found + len, sizeof found - len, "%s%s", len ? ", " : "", dir);
                if (access(dir, W_OK) < 0 && writable) {
                        writable = false;
                        snprintf(bad, sizeof bad, "%s: %s", dir, strerror(errno));
                }
        }
        if (!ok)
                return;
        bool hybrid = jr_doctor_file_exists(CG_ROOT "/unified/cgroup.controllers");
        jr_doctor_say(c, JR_DOCTOR_OK, "cgroup", "v1%s: %s",
                      hybrid ? " (hybrid host: memory, pids and cpuacct are on v1)" : "", found);
        if (writable)
                jr_doctor_say(c, JR_DOCTOR_OK, "cgroup-delegation",
                              "jail cgroups can be created below our own in each hierarchy");
        else
                jr_doctor_say(c, JR_DOCTOR_FAIL, "cgroup-delegation",
                              "cannot create jail cgroups: %s", bad);
}

static void check_cgroup_v2(struct doctor_ctx *c)
{
        _cleanup_free_ char *self = jr_doctor_read_all("/proc/self/cgroup");
        const char *p = self ? strstr(self, "0::") : NULL;
        if (p && p != self && p[-1] != '\n')
                p = NULL;
        if (!p) {
                jr_doctor_say(c, JR_DOCTOR_FAIL, "cgroup",
                              "v2: no \"0::\" line in /proc/self/cgroup");
                return;
        }
        char own[PATH_MAX];
        snprintf(own, sizeof own, "%.*s", (int)strcspn(p + 3, "\n"), p + 3);
        snprintf(c->own_v2, sizeof c->own_v2, "%s%s", CG_ROOT, strcmp(own, "/") ? own : "");
        c->own_v2_is_root = !strcmp(own, "/");

        char root_ctrl[512] = "", own_ctrl[512] = "", subtree[512] = "", path[PATH_MAX + 64];
        jr_doctor_read_line(CG_ROOT "/cgroup.controllers", root_ctrl, sizeof root_ctrl);
        snprintf(path, sizeof path, "%s/cgroup.controllers", c->own_v2);
        jr_doctor_read_line(path, own_ctrl, sizeof own_ctrl);
        snprintf(path, sizeof path, "%s/cgroup.subtree_control", c->own_v2);
        jr_doctor_read_line(path, subtree, sizeof subtree);

        static const char *const need[] = {"memory", "pids", "cpu"};
        char missing_root[64] = "", missing_own[64] = "";
        for (size_t i = 0; i < JR_ARRAY_SIZE(need); i++) {
                if (!jr_doctor_word_in_list(root_ctrl, need[i]))
                        snprintf(missing_root + strlen(missing_root),
                                 sizeof missing_root - strlen(missing_root), " %s", need[i]);
                if (!jr_doctor_word_in_list(own_ctrl, need[i]))
                        snprintf(missing_own + strlen(missing_own),
                                 sizeof missing_own - strlen(missing_own), " %s", need[i]);
        }
        if (*missing_root) {
                jr_doctor_say(
                    c, JR_DOCTOR_FAIL, "cgroup",
                    "v2: the kernel offers no%s controller (cgroup.controllers: \"%s\"): check "
                    "the kernel command line (cgroup_disable=, systemd.unified_cgroup_hierarchy)",
                    missing_root, root_ctrl);
                return;
        }
        jr_doctor_say(c, JR_DOCTOR_OK, "cgroup", "v2 at %s; our cgroup %s offers \"%s\"", CG_ROOT,
                      own, own_ctrl);

        /* Can jail cgroups be made here? The root always can; elsewhere the controllers
         * must be delegated to us and, unless they are already enabled for the children,
         * we must be able to step into a leaf of our own (the no-internal-process rule:
         * nobody else may live in our cgroup). */
        if (c->own_v2_is_root) {
                jr_doctor_say(c, JR_DOCTOR_OK, "cgroup-delegation",
                              "we are in the root cgroup: jail cgroups go directly below it");
                return;
        }
        snprintf(path, sizeof path, "%s/cgroup.procs", c->own_v2);
        _cleanup_free_ char *procs = jr_doctor_read_all(path);
        unsigned others = 0;
        for (const char *q = procs; q && *q; q = strchr(q, '\n') ? strchr(q, '\n') + 1 : "")
                if (atoi(q) > 0 && atoi(q) != getpid())
                        others++;
        bool enabled = true;
        for (size_t i = 0; i < JR_ARRAY_SIZE(need); i++)
                enabled = enabled && jr_doctor_word_in_list(subtree, need[i]);
        const char *hint = "the service gets a delegated cgroup of its own from systemd "
                           "(Delegate=yes in jailrun.service); to check from a shell: "
                           "`systemd-run --scope -p Delegate=yes jailrun doctor`";
        c->no_jail_cgroups = *missing_own || access(path, W_OK) < 0 || (others && !enabled);
        if (*missing_own)
                jr_doctor_say(c, JR_DOCTOR_WARN, "cgroup-delegation",
                              "our cgroup %s is not offered%s: %s", own, missing_own, hint);
        else if (access(path, W_OK) < 0)
                jr_doctor_say(c, JR_DOCTOR_WARN, "cgroup-delegation", "%s is not writable (%s): %s",
                              path, strerror(errno), hint);
        else if (others && !enabled)
                jr_doctor_say(c, JR_DOCTOR_WARN, "cgroup-delegation",
                              "our cgroup %s holds %u other process(es), so controllers cannot be "
                              "enabled for jail cgroups here: %s",
                              own, others, hint);
        else
                jr_doctor_say(c, JR_DOCTOR_OK, "cgroup-delegation",
                              "jail cgroups can be created below %s (jailrun moves itself into "
                              "%s/supervisor)",
                              own, own);
}

static void check_mode(struct doctor_ctx *c)
{
        jr_cg_mode forced = c->o->cg_mode;
        jr_error e;
        if (forced == JR_CG_AUTO && jr_config_cg_mode(&forced, &e) < 0) {
                jr_doctor_say(c, JR_DOCTOR_FAIL, "cgroup", "%s", e.msg);
                forced = JR_CG_AUTO;
        }
        struct statfs sf;
        bool pure_v2 = statfs(CG_ROOT, &sf) == 0 && sf.f_type == CGROUP2_SUPER_MAGIC;
        c->mode = forced != JR_CG_AUTO ? forced : pure_v2 ? JR_CG_V2 : JR_CG_V1;
        if (c->mode == JR_CG_V2)
                check_cgroup_v2(c);
        else
                check_cgroup_v1(c);
}

static void check_cgroup_features(struct doctor_ctx *c)
{
        if (c->mode == JR_CG_V1) {
                jr_doctor_say(c, JR_DOCTOR_OK, "cgroup.kill",
                              "not used by the v1 backend (it kills each pid until none is left)");
                jr_doctor_say(c, JR_DOCTOR_OK, "memory.peak",
                              "not used by the v1 backend (memory.max_usage_in_bytes)");
                return;
        }
        /* The root cgroup has neither file: judge by the kernel version there. */
        char path[PATH_MAX + 64];
        snprintf(path, sizeof path, "%s/cgroup.kill", c->own_v2);
        bool kill =
            c->own_v2_is_root ? jr_doctor_kernel_at_least(5, 14) : jr_doctor_file_exists(path);
        snprintf(path, sizeof path, "%s/memory.peak", c->own_v2);
        bool peak =
            c->own_v2_is_root ? jr_doctor_kernel_at_least(5, 19) : jr_doctor_file_exists(path);
        if (kill)
                jr_doctor_say(c, JR_DOCTOR_OK, "cgroup.kill",
                              "available: a jail dies in one write");
        else
                jr_doctor_say(
                    c, JR_DOCTOR_WARN, "cgroup.kill",
                    "missing (Linux 5.14+): jails are killed by freezing and killing each pid");
        if (peak)
                jr_doctor_say(c, JR_DOCTOR_OK, "memory.peak", "available: peak memory is exact");
        else
                jr_doctor_say(
                    c, JR_DOCTOR_WARN, "memory.peak",
                    "missing (Linux 5.19+): peak memory is sampled from memory.current and "
                    "may miss short spikes");
}

/* Whether favordynmods is on: a cgroup mount says so, or the kernel's command line
 * (cgroup_favordynmods=, Linux 6.7+; kstrtobool's spellings of true). */
static bool favordynmods(void)
{
        _cleanup_free_ char *mountinfo = jr_doctor_read_all("/proc/self/mountinfo");
        _cleanup_free_ char *cmdline = jr_doctor_read_all("/proc/cmdline");
        if (mountinfo && jr_doctor_word_in_list(mountinfo, "favordynmods"))
                return true;
        const char *v = cmdline ? strstr(cmdline, "cgroup_favordynmods=") : NULL;
        if (!v)
                return false;
        v += strlen("cgroup_favordynmods=");
        return (*v && strchr("yYtT1", *v)) || !strncasecmp(v, "on", 2);
}

/* How long one process takes to move into a v1 cgroup after a quiet moment, in ms; < 0
 * with errno when it could not be measured. */
static double v1_migration_ms(const char *dir)
{
        pid_t pid = fork();
        if (pid < 0)
                return -1;
        if (pid == 0) {
                pause();
                _exit(0);
        }
        /* 100 ms without a migration on this host, as between two submissions */
        struct timespec quiet = {0, 100 * 1000 * 1000};
        nanosleep(&quiet, NULL);
        char procs[PATH_MAX + 64], num[16];
        snprintf(procs, sizeof procs, "%s/cgroup.procs", dir);
        int n = snprintf(num, sizeof num, "%d", (int)pid);
        double ms = -1;
        int fd = open(procs, O_WRONLY | O_CLOEXEC), err = errno;
        if (fd >= 0) {
                uint64_t t0 = jr_mono_ns();
                if (write(fd, num, (size_t)n) == n)
                        ms = (double)(jr_mono_ns() - t0) / 1e6;
                err = errno;
                close(fd);
        }
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        errno = err;
        return ms;
}

/* On v1 each jail's program moves itself into its run cgroup. That takes the kernel's
 * cgroup_threadgroup_rwsem for writing, which waits for an RCU grace period (7-16 ms on
 * the 2-core build VMs) unless another migration happened a moment before or favordynmods is on:
 * measured here, since no file tells which. v2 clones the program into its cgroup. */
static void check_cgroup_migration(struct doctor_ctx *c)
{
        if (c->mode == JR_CG_V2) {
                jr_doctor_say(
                    c, JR_DOCTOR_OK, "cgroup-migration",
                    "not needed on v2: a jail's program is born in its cgroup (CLONE_INTO_CGROUP)");
                return;
        }
        if (!*c->memory_v1)
                return; /* the cgroup check failed and said why */
        char dir[PATH_MAX + 32];
        snprintf(dir, sizeof dir, "%s/jr-doctor-%d-migration", c->memory_v1, (int)getpid());
        if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
                jr_doctor_say(c, JR_DOCTOR_WARN, "cgroup-migration", "not measured: create %s: %s",
                              dir, strerror(errno));
                return;
        }
        double ms = v1_migration_ms(dir);
        int err = errno;
        for (int i = 0; i < 50 && rmdir(dir) < 0 && errno == EBUSY; i++)
                usleep(1000);
        bool fdm = favordynmods();
        if (ms < 0)
                jr_doctor_say(c, JR_DOCTOR_WARN, "cgroup-migration",
                              "not measured: move a process into %s: %s", dir, strerror(err));
        else if (ms < 2)
                jr_doctor_say(c, JR_DOCTOR_OK, "cgroup-migration",
                              "a process moves into a v1 cgroup in %.2f ms%s", ms,
                              fdm ? " (favordynmods is on)" : "");
        else
                jr_doctor_say(
                    c, JR_DOCTOR_WARN, "cgroup-migration",
                    "a process took %.1f ms to move into a v1 cgroup: the kernel waited for an RCU "
                    "grace period, and each test's jail pays that wait (about 15 ms of jailrun's "
                    "own time per submission). Boot with cgroup_favordynmods=true (Linux 6.7+), "
                    "or on a hybrid host `mount -o remount,favordynmods /sys/fs/cgroup/unified`, "
                    "or use a pure cgroup v2 host",
                    ms);
}

/* The cgroup checks, in order: the mode and delegation, the kernel's features, the cost
 * of a migration. */
void jr_doctor_check_cgroups(struct doctor_ctx *c)
{
        check_mode(c);
        check_cgroup_features(c);
        check_cgroup_migration(c);
}
