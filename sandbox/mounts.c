/* The jail's filesystem.
 *
 * The parent plans (allocates, stats the host side), the children only make raw syscalls.
 * The root of every jail is a tmpfs, read-only once its mount points exist; in it,
 * read-only, nosuid, nodev bind mounts of the tree's top-level directories (or of the
 * host's /usr, /bin, /lib* and a few /etc files), symlinks recreated as symlinks (merged
 * /usr), and a minimal /dev. That part is the same for every run of a tree, so it is
 * built once, as a template: a mount namespace pivoted into that root, with the old root
 * detached so that no path leads back to the host. Each run joins the template and
 * unshares a private copy of it (copying ~20 mounts instead of making them), then mounts
 * what is its own: /proc of its pid namespace, its /dev/shm, /tmp and /work tmpfs, and
 * the caller's binds (cloned from the host's namespace by the supervisor with open_tree,
 * attached with move_mount). Nothing a run mounts is seen by the template or by another
 * run: every mount of the template is private. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "bytes.h"
#include "cleanup.h"
#include "internal.h"
#include "sys.h"

#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif

#define DEFAULT_TMP_SIZE (64ull << 20)

/* buf = a + b; -ENAMETOOLONG instead of cutting a path short. No errno: the jail's
 * children call it too. */
static int path_cat(char *buf, size_t n, const char *a, const char *b)
{
        int len = snprintf(buf, n, "%s%s", a, b);
        return len < 0 || (size_t)len >= n ? -ENAMETOOLONG : 0;
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
        if (jr_grow(&p->ops, &p->cap, p->n + 1, sizeof *p->ops, 32) < 0)
                return jr_error_set(e, ENOMEM, "mount plan");
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

/* Add `name` (relative to dirfd, or a path with AT_FDCWD; `src` names it in messages) at
 * `dst`: a symlink is recreated, a directory or file is bound. Missing optional entries
 * are skipped. */
static int plan_entry(jr_mount_plan *p, int dirfd, const char *name, const char *src,
                      const char *dst, bool optional, jr_error *e)
{
        struct stat st;
        if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                if (optional && errno == ENOENT)
                        return 0;
                return jr_error_errno(e, "stat \"%s\"", src);
        }
        if (S_ISLNK(st.st_mode)) {
                char target[PATH_MAX];
                ssize_t n = readlinkat(dirfd, name, target, sizeof target - 1);
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
        p->ops[p->n - 1].in_tree = dirfd != AT_FDCWD;
        return 0;
}

/* Open the tree directory and lock it shared (see jr_mount_plan.root_fd). A rebuild
 * renames the new tree into place, then locks the old one exclusively to delete it; so
 * between our open and our lock the path may have moved on: a directory we cannot lock
 * is being deleted, one without links was, and one the path no longer names was swapped
 * out (a jail starting now gets the new tree). Each time, try what the path names now. */
static int lock_tree(const char *path, int *fdp, struct stat *st, jr_error *e)
{
        for (int tries = 0; tries < 16; tries++) {
                _cleanup_close_ int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (fd < 0)
                        return jr_error_errno(e, "rootfs \"%s\"", path);
                if (flock(fd, LOCK_SH | LOCK_NB) < 0) {
                        if (errno == EWOULDBLOCK)
                                continue;
                        /* a file system without locks (some network ones): the tree is
                         * used unlocked, as before trees were locked */
                        if (errno != ENOLCK && errno != EOPNOTSUPP && errno != EINVAL)
                                return jr_error_errno(e, "rootfs \"%s\": lock", path);
                }
                struct stat now;
                if (fstat(fd, st) < 0)
                        return jr_error_errno(e, "rootfs \"%s\"", path);
                if (st->st_nlink == 0 || stat(path, &now) < 0 || now.st_dev != st->st_dev ||
                    now.st_ino != st->st_ino)
                        continue;
                *fdp = TAKE_FD(fd);
                return 0;
        }
        return jr_error_set(e, EBUSY, "rootfs \"%s\": replaced again and again while opening it",
                            path);
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
        jr_mount_plan p = {.root_fd = -1};
        char src[PATH_MAX], dst[PATH_MAX];
        uint64_t tmp_size = cfg->tmp_size ? cfg->tmp_size : DEFAULT_TMP_SIZE;

        if (cfg->rootfs) {
                struct stat st;
                if (lock_tree(cfg->rootfs, &p.root_fd, &st, e) < 0)
                        goto fail;
                p.root_dev = st.st_dev;
                p.root_ino = st.st_ino;
                for (size_t i = 0; i < JR_ARRAY_SIZE(tree_dirs); i++) {
                        snprintf(dst, sizeof dst, "/%s", tree_dirs[i]);
                        if (path_cat(src, sizeof src, cfg->rootfs, dst) < 0) {
                                jr_error_set(e, ENAMETOOLONG, "rootfs \"%s\"", cfg->rootfs);
                                goto fail;
                        }
                        if (plan_entry(&p, p.root_fd, tree_dirs[i], src, dst, true, e) < 0)
                                goto fail;
                }
        } else {
                for (size_t i = 0; i < JR_ARRAY_SIZE(host_dirs); i++) {
                        snprintf(src, sizeof src, "/%s", host_dirs[i]);
                        if (plan_entry(&p, AT_FDCWD, src, src, src, true, e) < 0)
                                goto fail;
                }
                if (plan_add(&p, JR_MNT_DIR, NULL, "/etc", e) < 0)
                        goto fail;
                for (size_t i = 0; i < JR_ARRAY_SIZE(host_etc); i++) {
                        snprintf(src, sizeof src, "/etc/%s", host_etc[i]);
                        if (plan_entry(&p, AT_FDCWD, src, src, src, true, e) < 0)
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
                p.ops[p.n - 1].per_run = true;
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
        if (plan->root_fd >= 0)
                close(plan->root_fd);
        memset(plan, 0, sizeof *plan);
        plan->root_fd = -1;
}

/* The template's identity: the tree (path and directory inode: `jailrun rootfs build
 * --force` swaps a new tree in by rename, which must not be served from the old one's
 * template), and the mount points that the per-run mounts need (bind destinations and
 * whether /work is a tmpfs). Two runs with the same key can share one template. */
int jr_mount_plan_key(const jr_run_config *cfg, const jr_mount_plan *plan, char *buf, size_t n,
                      jr_error *e)
{
        size_t off = 0;
        int len = snprintf(buf, n, "%s@%llu:%llu", cfg->rootfs ? cfg->rootfs : "<host>",
                           (unsigned long long)plan->root_dev, (unsigned long long)plan->root_ino);
        for (size_t i = 0; len >= 0 && (size_t)len < n - off && i < plan->n; i++) {
                const jr_mount_op *op = &plan->ops[i];
                off += (size_t)len;
                len = 0;
                if (op->kind == JR_MNT_TMPFS || (op->kind == JR_MNT_BIND && op->per_run))
                        len = snprintf(buf + off, n - off, "\n%c%s",
                                       op->kind == JR_MNT_TMPFS ? 't'
                                       : op->is_dir             ? 'd'
                                                                : 'f',
                                       op->dst);
        }
        if (len < 0 || (size_t)len >= n - off)
                return jr_error_set(e, ENAMETOOLONG, "mount plan: too many or too long binds");
        return 0;
}

/* ---- child side: raw syscalls only (sys.h), no errno, no allocation ---- */

static long sys_mount(const char *src, const char *dst, const char *type, unsigned long flags,
                      const void *data)
{
        return JR_SYS(SYS_mount, src, dst, type, flags, data);
}

/* mkdir -p of `path` (absolute), each component created with `mode`. */
static long mkdir_p(char *path, mode_t mode)
{
        for (char *s = path + 1;; s++) {
                if (*s != '/' && *s != '\0')
                        continue;
                char c = *s;
                *s = '\0';
                long r = JR_SYS(SYS_mkdirat, AT_FDCWD, path, mode);
                *s = c;
                if (r < 0 && r != -EEXIST)
                        return r;
                if (c == '\0')
                        return 0;
        }
}

/* Create the mount point (directory or empty file) for dst under root, unless something
 * is there already (which may be on a read-only file system). */
static long make_point(const char *root, const char *dst, bool is_dir, char *full, size_t n)
{
        long r = path_cat(full, n, root, dst);
        if (r < 0)
                return r;
        struct stat st;
        if (JR_SYS(SYS_newfstatat, AT_FDCWD, full, &st, AT_SYMLINK_NOFOLLOW) == 0)
                return 0;
        if (is_dir)
                return mkdir_p(full, 0755);
        char *slash = strrchr(full, '/');
        *slash = '\0';
        r = slash == full ? 0 : mkdir_p(full, 0755);
        *slash = '/';
        if (r < 0)
                return r;
        r = JR_SYS(SYS_openat, AT_FDCWD, full, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (r < 0)
                return r == -EEXIST ? 0 : r;
        JR_SYS(SYS_close, r);
        return 0;
}

/* Read-only unless rw, nosuid, nodev: a bind mount takes its flags only from a remount. */
static long restrict_bind(const char *target, bool rw)
{
        unsigned long fl = MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV | (rw ? 0 : MS_RDONLY);
        return sys_mount(NULL, target, NULL, fl, NULL);
}

static int make_dev(const char *root, jr_error *e)
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
        char dev[PATH_MAX], p[PATH_MAX], name[32];
        long r = path_cat(dev, sizeof dev, root, "/dev");
        if (r < 0 || ((r = JR_SYS(SYS_mkdirat, AT_FDCWD, dev, 0755)) < 0 && r != -EEXIST))
                return jr_error_raw(e, (int)-r, "mkdir /dev");
        /* Its own tmpfs: a recursive bind of the host's /dev would share /dev/shm between
         * jails. No nodev here, or the device nodes would not open. */
        r = sys_mount("jailrun-dev", dev, "tmpfs", MS_NOSUID | MS_NOEXEC, "size=64k,mode=0755");
        if (r < 0)
                return jr_error_raw(e, (int)-r, "mount tmpfs on /dev");
        for (size_t i = 0; i < JR_ARRAY_SIZE(nodes); i++) {
                snprintf(name, sizeof name, "/%s", nodes[i].name);
                r = path_cat(p, sizeof p, dev, name);
                if (r == 0)
                        r = JR_SYS(SYS_mknodat, AT_FDCWD, p, S_IFCHR | 0666,
                                   makedev(nodes[i].major, nodes[i].minor));
                /* mknod honours the umask */
                if (r == 0)
                        r = JR_SYS(SYS_fchmodat, AT_FDCWD, p, 0666);
                if (r < 0)
                        return jr_error_raw(e, (int)-r, "mknod /dev/%s", nodes[i].name);
        }
        for (size_t i = 0; i < JR_ARRAY_SIZE(links); i++) {
                snprintf(name, sizeof name, "/%s", links[i].name);
                r = path_cat(p, sizeof p, dev, name);
                if (r == 0)
                        r = JR_SYS(SYS_symlinkat, links[i].target, AT_FDCWD, p);
                if (r < 0)
                        return jr_error_raw(e, (int)-r, "symlink /dev/%s", links[i].name);
        }
        /* Each run mounts its own tmpfs here. */
        r = path_cat(p, sizeof p, dev, "/shm");
        if (r == 0)
                r = JR_SYS(SYS_mkdirat, AT_FDCWD, p, 01777);
        if (r < 0)
                return jr_error_raw(e, (int)-r, "mkdir /dev/shm");
        r = sys_mount(NULL, dev, NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NOEXEC,
                      "size=64k,mode=0755");
        if (r < 0)
                return jr_error_raw(e, (int)-r, "remount /dev read-only");
        return 0;
}

/* Is dst on a file system that each run mounts afresh (so its mount point is made per
 * run, not in the template)? */
static bool under_per_run(const jr_mount_plan *plan, const char *dst)
{
        for (size_t i = 0; i < plan->n; i++) {
                const jr_mount_op *op = &plan->ops[i];
                if (op->kind != JR_MNT_TMPFS && op->kind != JR_MNT_PROC)
                        continue;
                size_t len = strlen(op->dst);
                if (!strncmp(dst, op->dst, len) && dst[len] == '/')
                        return true;
        }
        return !strncmp(dst, "/dev/", 5);
}

int jr_mount_tree_clones(const jr_mount_plan *plan, int *fds, size_t *n, jr_error *e)
{
        for (size_t i = 0; i < plan->n; i++) {
                const jr_mount_op *op = &plan->ops[i];
                if (op->kind != JR_MNT_BIND || !op->in_tree)
                        continue;
                long fd =
                    syscall(SYS_open_tree, plan->root_fd, op->dst + 1, OPEN_TREE_CLONE | O_CLOEXEC);
                if (fd < 0)
                        return jr_error_errno(e, "\"%s\": clone the mount of \"%s\"", op->dst,
                                              op->src);
                fds[(*n)++] = (int)fd;
        }
        return 0;
}

int jr_mount_template_enter(const jr_mount_plan *plan, const int *tree_fds, const char *newroot,
                            jr_error *e)
{
        char full[PATH_MAX];
        size_t t = 0;
        long r;

        /* Nothing we mount may propagate back to the host's mount namespace, and the runs'
         * copies of this namespace must not propagate to each other. */
        r = sys_mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL);
        if (r < 0)
                return jr_error_raw(e, (int)-r, "make / private");
        r = sys_mount("jailrun-root", newroot, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755");
        if (r < 0)
                return jr_error_raw(e, (int)-r, "mount root tmpfs on \"%s\"", newroot);

        for (size_t i = 0; i < plan->n; i++) {
                const jr_mount_op *op = &plan->ops[i];
                switch (op->kind) {
                case JR_MNT_SYMLINK:
                        r = path_cat(full, sizeof full, newroot, op->dst);
                        if (r == 0)
                                r = JR_SYS(SYS_symlinkat, op->src, AT_FDCWD, full);
                        if (r < 0)
                                return jr_error_raw(e, (int)-r, "symlink \"%s\" -> \"%s\"", op->dst,
                                                    op->src);
                        break;
                case JR_MNT_DIR:
                case JR_MNT_PROC:
                case JR_MNT_TMPFS:
                        r = make_point(newroot, op->dst, true, full, sizeof full);
                        if (r < 0)
                                return jr_error_raw(e, (int)-r, "create mount point \"%s\"",
                                                    op->dst);
                        break;
                case JR_MNT_BIND:
                        if (op->per_run && under_per_run(plan, op->dst))
                                break;
                        r = make_point(newroot, op->dst, op->is_dir, full, sizeof full);
                        if (r < 0)
                                return jr_error_raw(e, (int)-r, "create mount point \"%s\"",
                                                    op->dst);
                        if (op->per_run)
                                break;
                        /* A tree's entry comes from the locked directory, not its path
                         * (see jr_mount_plan.root_fd), cloned by the parent: the fd's
                         * mount is in the parent's namespace, where mount(2) cannot
                         * bind from. */
                        if (op->in_tree)
                                r = JR_SYS(SYS_move_mount, tree_fds[t++], "", AT_FDCWD, full,
                                           MOVE_MOUNT_F_EMPTY_PATH);
                        else
                                r = sys_mount(op->src, full, NULL, MS_BIND, NULL);
                        if (r == 0)
                                r = restrict_bind(full, op->rw);
                        if (r < 0)
                                return jr_error_raw(e, (int)-r, "\"%s\": bind mount \"%s\"",
                                                    op->dst, op->src);
                        break;
                case JR_MNT_DEV:
                        if (make_dev(newroot, e) < 0)
                                return -1;
                        break;
                }
        }

        /* Mount points exist now; the root itself becomes read-only. */
        r = sys_mount(NULL, newroot, NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV,
                      "size=1m,mode=0755");
        if (r < 0)
                return jr_error_raw(e, (int)-r, "remount the jail root read-only");

        /* pivot_root(".", ".") stacks the old root under the new one; detaching it leaves
         * no path back to the host's file system in this namespace, nor in its copies. */
        if ((r = JR_SYS(SYS_chdir, newroot)) < 0)
                return jr_error_raw(e, (int)-r, "chdir \"%s\"", newroot);
        if ((r = JR_SYS(SYS_pivot_root, ".", ".")) < 0)
                return jr_error_raw(e, (int)-r, "pivot_root");
        if ((r = JR_SYS(SYS_umount2, ".", MNT_DETACH)) < 0)
                return jr_error_raw(e, (int)-r, "detach the old root");
        if ((r = JR_SYS(SYS_chdir, "/")) < 0)
                return jr_error_raw(e, (int)-r, "chdir /");
        return 0;
}

int jr_mount_run_enter(const jr_mount_plan *plan, const int *bind_fds, uid_t uid, gid_t gid,
                       jr_error *e)
{
        char full[PATH_MAX], opts[128];
        long r;
        size_t b = 0;

        for (size_t i = 0; i < plan->n; i++) {
                const jr_mount_op *op = &plan->ops[i];
                switch (op->kind) {
                case JR_MNT_PROC:
                        /* We are PID 1 of the new pid namespace: this proc shows only the
                         * jail. hidepid=2 ("invisible"): a process sees only the /proc/PID
                         * of its own uid, so the program sees its own processes and not
                         * init, a root clone of the supervisor whose cmdline and environ are
                         * the supervisor's (the host's path to jailrun, its arguments). */
                        r = sys_mount("proc", op->dst, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                                      "hidepid=2");
                        if (r < 0)
                                return jr_error_raw(e, (int)-r, "mount /proc");
                        break;
                case JR_MNT_DEV:
                        snprintf(opts, sizeof opts, "size=%llu,mode=1777",
                                 (unsigned long long)op->size);
                        r = sys_mount("jailrun-shm", "/dev/shm", "tmpfs",
                                      MS_NOSUID | MS_NODEV | MS_NOEXEC, opts);
                        if (r < 0)
                                return jr_error_raw(e, (int)-r, "mount tmpfs on /dev/shm");
                        break;
                case JR_MNT_TMPFS:
                        snprintf(opts, sizeof opts, "size=%llu,mode=%o,uid=%u,gid=%u",
                                 (unsigned long long)op->size, op->mode,
                                 op->owned ? (unsigned)uid : 0u, op->owned ? (unsigned)gid : 0u);
                        r = sys_mount("jailrun-tmp", op->dst, "tmpfs", MS_NOSUID | MS_NODEV, opts);
                        if (r < 0)
                                return jr_error_raw(e, (int)-r, "mount tmpfs on \"%s\"", op->dst);
                        break;
                case JR_MNT_BIND:
                        if (!op->per_run)
                                break;
                        r = make_point("", op->dst, op->is_dir, full, sizeof full);
                        if (r < 0)
                                return jr_error_raw(e, (int)-r, "create mount point \"%s\"",
                                                    op->dst);
                        /* The source was cloned as a detached mount in the host's namespace
                         * (the only place its path means something); attach it here. */
                        r = JR_SYS(SYS_move_mount, bind_fds[b++], "", AT_FDCWD, op->dst,
                                   MOVE_MOUNT_F_EMPTY_PATH);
                        if (r == 0)
                                r = restrict_bind(op->dst, op->rw);
                        if (r < 0)
                                return jr_error_raw(e, (int)-r, "\"%s\": bind mount \"%s\"",
                                                    op->dst, op->src);
                        break;
                case JR_MNT_SYMLINK:
                case JR_MNT_DIR:
                        break;
                }
        }
        if ((r = JR_SYS(SYS_chdir, "/")) < 0)
                return jr_error_raw(e, (int)-r, "chdir /");
        return 0;
}
