/* The jail's filesystem.
 *
 * The parent plans (allocates, stats the host side), the child only makes syscalls.
 * The root of every jail is a fresh tmpfs, remounted read-only once its mount points
 * exist; into it go read-only, nosuid, nodev bind mounts of the tree's top-level
 * directories (or of the host's /usr, /bin, /lib* and a few /etc files), symlinks
 * recreated as symlinks (merged /usr), the jail's own /proc, a minimal /dev with its own
 * /dev/shm, a private /tmp and a writable /work. Then pivot_root, and the old root is
 * detached so that no path leads back to the host. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "cleanup.h"
#include "internal.h"

#define DEFAULT_TMP_SIZE (64ull << 20)

/* buf = a + b; fails with ENAMETOOLONG instead of cutting a path short. */
static int path_cat(char *buf, size_t n, const char *a, const char *b)
{
        int len = snprintf(buf, n, "%s%s", a, b);
        if (len < 0 || (size_t)len >= n) {
                errno = ENAMETOOLONG;
                return -1;
        }
        return 0;
}

/* Top-level directories of a tree that a program may need. Everything else (/home,
 * /root, /boot, /srv, ...) stays out of the jail. */
static const char *const tree_dirs[] = {"bin",    "etc", "lib",  "lib32", "lib64",
                                        "libx32", "opt", "sbin", "usr",   "var"};
static const char *const host_dirs[] = {"bin", "lib", "lib32", "lib64", "libx32", "sbin", "usr"};
/* What of the host's /etc a program needs: users, the loader cache, time zone, alternatives. */
static const char *const host_etc[] = {
    "alternatives", "passwd",    "group", "nsswitch.conf", "ld.so.cache",    "ld.so.conf",
    "ld.so.conf.d", "localtime", "hosts", "os-release",    "java-17-openjdk"};

static int plan_add(jr_mount_plan *p, jr_mount_kind kind, const char *src, const char *dst,
                    jr_error *e)
{
        if (p->n == p->cap) {
                size_t cap = p->cap ? p->cap * 2 : 32;
                jr_mount_op *ops = realloc(p->ops, cap * sizeof *ops);
                if (!ops)
                        return jr_error_set(e, ENOMEM, "mount plan");
                p->ops = ops;
                p->cap = cap;
        }
        jr_mount_op *op = &p->ops[p->n];
        memset(op, 0, sizeof *op);
        op->kind = kind;
        op->src = src ? strdup(src) : NULL;
        op->dst = strdup(dst);
        if ((src && !op->src) || !op->dst) {
                free(op->src);
                free(op->dst);
                return jr_error_set(e, ENOMEM, "mount plan");
        }
        p->n++;
        return 0;
}

/* Add host path `src` at `dst`: a symlink is recreated, a directory or file is bound.
 * Missing optional entries are skipped. */
static int plan_host_entry(jr_mount_plan *p, const char *src, const char *dst, bool optional,
                           jr_error *e)
{
        struct stat st;
        if (lstat(src, &st) < 0) {
                if (optional && errno == ENOENT)
                        return 0;
                return jr_error_errno(e, "stat \"%s\"", src);
        }
        if (S_ISLNK(st.st_mode)) {
                char target[PATH_MAX];
                ssize_t n = readlink(src, target, sizeof target - 1);
                if (n < 0)
                        return jr_error_errno(e, "readlink \"%s\"", src);
                target[n] = '\0';
                return plan_add(p, JR_MNT_SYMLINK, target, dst, e);
        }
        if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
                return optional ? 0
                                : jr_error_set(e, EINVAL, "\"%s\": not a file or directory", src);
        if (plan_add(p, JR_MNT_BIND, src, dst, e) < 0)
                return -1;
        p->ops[p->n - 1].is_dir = S_ISDIR(st.st_mode);
        return 0;
}

static bool bind_covers(const jr_run_config *cfg, const char *dst)
{
        for (size_t i = 0; i < cfg->nbinds; i++)
                if (!strcmp(cfg->binds[i].dst, dst))
                        return true;
        return false;
}

int jr_mount_plan_build(const jr_run_config *cfg, jr_mount_plan *plan, jr_error *e)
{
        jr_mount_plan p = {0};
        char src[PATH_MAX], dst[PATH_MAX];
        uint64_t tmp_size = cfg->tmp_size ? cfg->tmp_size : DEFAULT_TMP_SIZE;

        if (cfg->rootfs) {
                struct stat st;
                if (stat(cfg->rootfs, &st) < 0) {
                        jr_error_errno(e, "rootfs \"%s\"", cfg->rootfs);
                        goto fail;
                }
                if (!S_ISDIR(st.st_mode)) {
                        jr_error_set(e, ENOTDIR, "rootfs \"%s\"", cfg->rootfs);
                        goto fail;
                }
                for (size_t i = 0; i < JR_ARRAY_SIZE(tree_dirs); i++) {
                        snprintf(dst, sizeof dst, "/%s", tree_dirs[i]);
                        if (path_cat(src, sizeof src, cfg->rootfs, dst) < 0) {
                                jr_error_errno(e, "rootfs \"%s\"", cfg->rootfs);
                                goto fail;
                        }
                        if (plan_host_entry(&p, src, dst, true, e) < 0)
                                goto fail;
                }
        } else {
                for (size_t i = 0; i < JR_ARRAY_SIZE(host_dirs); i++) {
                        snprintf(src, sizeof src, "/%s", host_dirs[i]);
                        if (plan_host_entry(&p, src, src, true, e) < 0)
                                goto fail;
                }
                if (plan_add(&p, JR_MNT_DIR, NULL, "/etc", e) < 0)
                        goto fail;
                for (size_t i = 0; i < JR_ARRAY_SIZE(host_etc); i++) {
                        snprintf(src, sizeof src, "/etc/%s", host_etc[i]);
                        if (plan_host_entry(&p, src, src, true, e) < 0)
                                goto fail;
                }
        }
        if (plan_add(&p, JR_MNT_PROC, NULL, "/proc", e) < 0)
                goto fail;
        if (plan_add(&p, JR_MNT_DEV, NULL, "/dev", e) < 0)
                goto fail;
        p.ops[p.n - 1].size = tmp_size;
        if (plan_add(&p, JR_MNT_TMPFS, NULL, "/tmp", e) < 0)
                goto fail;
        p.ops[p.n - 1].size = tmp_size;
        p.ops[p.n - 1].mode = 01777;
        if (!bind_covers(cfg, "/work")) {
                if (plan_add(&p, JR_MNT_TMPFS, NULL, "/work", e) < 0)
                        goto fail;
                p.ops[p.n - 1].size = tmp_size;
                p.ops[p.n - 1].mode = 0755;
                p.ops[p.n - 1].owned = true;
        }
        for (size_t i = 0; i < cfg->nbinds; i++) {
                const jr_bind *b = &cfg->binds[i];
                if (!b->dst || b->dst[0] != '/' || strstr(b->dst, "..")) {
                        jr_error_set(e, EINVAL,
                                     "bind \"%s\": destination must be an absolute "
                                     "path without \"..\"",
                                     b->dst ? b->dst : "");
                        goto fail;
                }
                struct stat st;
                if (stat(b->src, &st) < 0) {
                        jr_error_errno(e, "bind source \"%s\"", b->src);
                        goto fail;
                }
                if (plan_add(&p, JR_MNT_BIND, b->src, b->dst, e) < 0)
                        goto fail;
                p.ops[p.n - 1].rw = b->rw;
                p.ops[p.n - 1].is_dir = S_ISDIR(st.st_mode);
        }
        *plan = p;
        return 0;
fail:
        jr_mount_plan_free(&p);
        return -1;
}

void jr_mount_plan_free(jr_mount_plan *plan)
{
        for (size_t i = 0; i < plan->n; i++) {
                free(plan->ops[i].src);
                free(plan->ops[i].dst);
        }
        free(plan->ops);
        memset(plan, 0, sizeof *plan);
}

/* ---- child side: syscalls only ---- */

/* mkdir -p of `path` (absolute, below root), each component created with `mode`. */
static int mkdir_p(char *path, mode_t mode)
{
        for (char *s = path + 1;; s++) {
                if (*s != '/' && *s != '\0')
                        continue;
                char c = *s;
                *s = '\0';
                int r = mkdir(path, mode);
                int err = errno;
                *s = c;
                if (r < 0 && err != EEXIST) {
                        errno = err;
                        return -1;
                }
                if (c == '\0')
                        return 0;
        }
}

/* Create the mount point (directory or empty file) for dst under root. */
static int make_point(const char *root, const char *dst, bool is_dir, char *full, size_t n)
{
        if (path_cat(full, n, root, dst) < 0)
                return -1;
        if (is_dir)
                return mkdir_p(full, 0755);
        char *slash = strrchr(full, '/');
        *slash = '\0';
        int r = mkdir_p(full, 0755);
        *slash = '/';
        if (r < 0)
                return -1;
        int fd = open(full, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0)
                return errno == EEXIST ? 0 : -1;
        close(fd);
        return 0;
}

/* A bind mount takes its flags only from a second, remount call. */
static int bind_mount(const char *src, const char *target, bool rw, jr_error *e)
{
        if (mount(src, target, NULL, MS_BIND, NULL) < 0)
                return jr_error_errno(e, "bind mount \"%s\"", src);
        unsigned long fl = MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV | (rw ? 0 : MS_RDONLY);
        if (mount(NULL, target, NULL, fl, NULL) < 0)
                return jr_error_errno(e, "remount \"%s\" %s,nosuid,nodev", src, rw ? "rw" : "ro");
        return 0;
}

static int make_dev(const char *root, uint64_t shm_size, jr_error *e)
{
        static const struct {
                const char *name;
                unsigned major, minor;
        } nodes[] = {
            {"null", 1, 3}, {"zero", 1, 5}, {"full", 1, 7}, {"random", 1, 8}, {"urandom", 1, 9}};
        static const struct {
                const char *name, *target;
        } links[] = {{"fd", "/proc/self/fd"},
                     {"stdin", "/proc/self/fd/0"},
                     {"stdout", "/proc/self/fd/1"},
                     {"stderr", "/proc/self/fd/2"}};
        char dev[PATH_MAX], p[PATH_MAX], name[32], opts[64];
        if (path_cat(dev, sizeof dev, root, "/dev") < 0)
                return jr_error_errno(e, "/dev");
        if (mkdir(dev, 0755) < 0 && errno != EEXIST)
                return jr_error_errno(e, "mkdir /dev");
        /* Its own tmpfs: a recursive bind of the host's /dev would share /dev/shm between
         * jails. No nodev here, or the device nodes would not open. */
        if (mount("jailrun-dev", dev, "tmpfs", MS_NOSUID | MS_NOEXEC, "size=64k,mode=0755") < 0)
                return jr_error_errno(e, "mount tmpfs on /dev");
        for (size_t i = 0; i < JR_ARRAY_SIZE(nodes); i++) {
                snprintf(name, sizeof name, "/%s", nodes[i].name);
                if (path_cat(p, sizeof p, dev, name) < 0 ||
                    mknod(p, S_IFCHR | 0666, makedev(nodes[i].major, nodes[i].minor)) < 0)
                        return jr_error_errno(e, "mknod /dev/%s", nodes[i].name);
                /* mknod honours the umask */
                if (chmod(p, 0666) < 0)
                        return jr_error_errno(e, "chmod /dev/%s", nodes[i].name);
        }
        for (size_t i = 0; i < JR_ARRAY_SIZE(links); i++) {
                snprintf(name, sizeof name, "/%s", links[i].name);
                if (path_cat(p, sizeof p, dev, name) < 0 || symlink(links[i].target, p) < 0)
                        return jr_error_errno(e, "symlink /dev/%s", links[i].name);
        }
        if (path_cat(p, sizeof p, dev, "/shm") < 0 || mkdir(p, 01777) < 0)
                return jr_error_errno(e, "mkdir /dev/shm");
        snprintf(opts, sizeof opts, "size=%llu,mode=1777", (unsigned long long)shm_size);
        if (mount("jailrun-shm", p, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, opts) < 0)
                return jr_error_errno(e, "mount tmpfs on /dev/shm");
        if (mount(NULL, dev, NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NOEXEC,
                  "size=64k,mode=0755") < 0)
                return jr_error_errno(e, "remount /dev read-only");
        return 0;
}

int jr_mount_plan_enter(const jr_mount_plan *plan, const char *newroot, uid_t uid, gid_t gid,
                        jr_error *e)
{
        char full[PATH_MAX], opts[128];

        /* Nothing we mount may propagate back to the host's mount namespace. */
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
                return jr_error_errno(e, "make / private");
        if (mount("jailrun-root", newroot, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755") < 0)
                return jr_error_errno(e, "mount root tmpfs on \"%s\"", newroot);

        for (size_t i = 0; i < plan->n; i++) {
                const jr_mount_op *op = &plan->ops[i];
                switch (op->kind) {
                case JR_MNT_SYMLINK:
                        if (path_cat(full, sizeof full, newroot, op->dst) < 0 ||
                            symlink(op->src, full) < 0)
                                return jr_error_errno(e, "symlink \"%s\" -> \"%s\"", op->dst,
                                                      op->src);
                        break;
                case JR_MNT_DIR:
                        if (make_point(newroot, op->dst, true, full, sizeof full) < 0)
                                return jr_error_errno(e, "mkdir \"%s\"", op->dst);
                        break;
                case JR_MNT_BIND:
                        if (make_point(newroot, op->dst, op->is_dir, full, sizeof full) < 0)
                                return jr_error_errno(e, "create mount point \"%s\"", op->dst);
                        if (bind_mount(op->src, full, op->rw, e) < 0)
                                return jr_error_wrap(e, "\"%s\"", op->dst);
                        break;
                case JR_MNT_TMPFS:
                        if (make_point(newroot, op->dst, true, full, sizeof full) < 0)
                                return jr_error_errno(e, "create mount point \"%s\"", op->dst);
                        snprintf(opts, sizeof opts, "size=%llu,mode=%o,uid=%u,gid=%u",
                                 (unsigned long long)op->size, op->mode,
                                 op->owned ? (unsigned)uid : 0u, op->owned ? (unsigned)gid : 0u);
                        if (mount("jailrun-tmp", full, "tmpfs", MS_NOSUID | MS_NODEV, opts) < 0)
                                return jr_error_errno(e, "mount tmpfs on \"%s\"", op->dst);
                        break;
                case JR_MNT_PROC:
                        if (make_point(newroot, op->dst, true, full, sizeof full) < 0)
                                return jr_error_errno(e, "create mount point /proc");
                        /* We are PID 1 of the new pid namespace: this proc shows only the jail. */
                        if (mount("proc", full, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
                                return jr_error_errno(e, "mount /proc");
                        break;
                case JR_MNT_DEV:
                        if (make_dev(newroot, op->size, e) < 0)
                                return -1;
                        break;
                }
        }

        /* Mount points exist now; the root itself becomes read-only. */
        if (mount(NULL, newroot, NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV,
                  "size=1m,mode=0755") < 0)
                return jr_error_errno(e, "remount the jail root read-only");

        /* pivot_root(".", ".") stacks the old root under the new one; detaching it leaves
         * the jail with no path back to the host's filesystem. */
        if (chdir(newroot) < 0)
                return jr_error_errno(e, "chdir \"%s\"", newroot);
        if (syscall(SYS_pivot_root, ".", ".") < 0)
                return jr_error_errno(e, "pivot_root");
        if (umount2(".", MNT_DETACH) < 0)
                return jr_error_errno(e, "detach the old root");
        if (chdir("/") < 0)
                return jr_error_errno(e, "chdir /");
        return 0;
}
