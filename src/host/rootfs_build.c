/* Building a rootfs tree: mmdebstrap with a shared apt cache, in a private mount
 * namespace, built aside and swapped into place. See rootfs.h and rootfs_internal.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <sched.h>
#include <inttypes.h>
#include <linux/openat2.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bytes.h"
#include "cleanup.h"
#include "io.h"
#include "paths.h"
#include "rootfs_internal.h"
#include "strv.h"

#define MERGED_USR_HOOK "/usr/share/mmdebstrap/hooks/merged-usr"
/* Checks run as this uid/gid, the first jail uid: never as root. */
#define CHECK_UID "60000"

extern char **environ;

/* ---- running helpers ---- */

/* Run argv (PATH lookup) with envp, stdout to out_fd (-1: inherit), and wait. With
 * newns, the child first enters a private mount namespace: every mount made by it or
 * its descendants (mmdebstrap's /proc and /dev, our apt cache binds) disappears with
 * them, even when they are killed, and the host never sees the cache through a tree. */
static int run(char *const argv[], char *const envp[], int out_fd, bool newns, jr_error *e)
{
        pid_t pid = fork();
        if (pid < 0)
                return jr_error_errno(e, "fork for %s", argv[0]);
        if (pid == 0) {
                /* a killed jailrun takes its build down with it */
                prctl(PR_SET_PDEATHSIG, SIGTERM);
                if (newns && (unshare(CLONE_NEWNS) < 0 ||
                              mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)) {
                        fprintf(stderr, "jailrun: private mount namespace: %s\n", strerror(errno));
                        _exit(127);
                }
                if (out_fd >= 0 && dup2(out_fd, STDOUT_FILENO) < 0)
                        _exit(127);
                execvpe(argv[0], argv, envp ? envp : environ);
                fprintf(stderr, "jailrun: exec %s: %s\n", argv[0], strerror(errno));
                _exit(127);
        }
        int status;
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return jr_error_errno(e, "wait for %s", argv[0]);
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
                return 0;
        if (WIFEXITED(status))
                return jr_error_set(e, 0, "%s exited with status %d", argv[0], WEXITSTATUS(status));
        return jr_error_set(e, 0, "%s killed by signal %d", argv[0], WTERMSIG(status));
}

/* Output of a short command (its first line, without the newline). */
static int run_capture_line(char *const argv[], char *buf, size_t n, jr_error *e)
{
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
                return jr_error_errno(e, "pipe");
        _cleanup_close_ int rd = p[0];
        int r;
        {
                _cleanup_close_ int wr = p[1];
                r = run(argv, NULL, wr, false, e);
        }
        if (r < 0)
                return -1;
        ssize_t len = read(rd, buf, n - 1);
        if (len < 0)
                return jr_error_errno(e, "read output of %s", argv[0]);
        buf[len] = '\0';
        buf[strcspn(buf, "\n")] = '\0';
        return 0;
}

static void note(FILE *log, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(FILE *log, const char *fmt, ...)
{
        if (!log)
                return;
        va_list ap;
        va_start(ap, fmt);
        fputs("jailrun: ", log);
        vfprintf(log, fmt, ap);
        fputc('\n', log);
        va_end(ap);
}

/* Exclusive lock on dir/name, waiting for it (and saying so). */
static int lock_file(const char *dir, const char *name, FILE *log, int *out, jr_error *e)
{
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, name);
        int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return jr_error_errno(e, "lock \"%s\"", path);
        if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
                if (errno != EWOULDBLOCK) {
                        close(fd);
                        return jr_error_errno(e, "lock \"%s\"", path);
                }
                note(log, "waiting for another build (lock %s)", path);
                if (flock(fd, LOCK_EX) < 0) {
                        close(fd);
                        return jr_error_errno(e, "lock \"%s\"", path);
                }
        }
        *out = fd;
        return 0;
}

/* Shell-quote words into one line for build-info. */
static void append_quoted(FILE *f, const char *w)
{
        if (*w && strspn(w, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                            "-_=/.,:+@%") == strlen(w)) {
                fputs(w, f);
                return;
        }
        fputc('\'', f);
        for (; *w; w++)
                if (*w == '\'')
                        fputs("'\\''", f);
                else
                        fputc(*w, f);
        fputc('\'', f);
}

/* ---- building ---- */

struct argv_buf {
        char **v;
        size_t n, cap;
        bool oom;
};

static void av_add(struct argv_buf *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void av_add(struct argv_buf *a, const char *fmt, ...)
{
        if (a->oom)
                return;
        if (jr_grow(&a->v, &a->cap, a->n + 2, sizeof *a->v, 32) < 0) {
                a->oom = true;
                return;
        }
        va_list ap;
        va_start(ap, fmt);
        int r = vasprintf(&a->v[a->n], fmt, ap);
        va_end(ap);
        if (r < 0) {
                a->oom = true;
                return;
        }
        a->v[++a->n] = NULL;
}

static void av_free(struct argv_buf *a)
{
        for (size_t i = 0; i < a->n; i++)
                free(a->v[i]);
        free(a->v);
        memset(a, 0, sizeof *a);
}

/* The mmdebstrap command line and the environment its hooks read. */
static int mmdebstrap_argv(const jr_rootfs_recipe *r, const jr_rootfs_build_opts *o,
                           const char *cache, const char *target, struct argv_buf *av,
                           struct argv_buf *env, jr_error *e)
{
        av_add(av, "mmdebstrap");
        av_add(av, "--mode=root");
        av_add(av, "--format=directory");
        av_add(av, "--variant=%s", r->variant);
        if (o->quiet)
                av_add(av, "--quiet");
        /* Keep the .debs we downloaded (they are the shared cache) and the apt lists
         * (also shared): the customize hook unmounts both before mmdebstrap's cleanup,
         * which would otherwise empty the cache through the bind mounts. */
        av_add(av, "--skip=essential/unlink,cleanup/apt/cache,cleanup/apt/lists");
        /* offline: the package lists of the last online build, and no network at all
         * when every .deb they name is cached */
        if (o->offline)
                av_add(av, "--skip=update");
        /* dpkg's fsync per file costs minutes over a toolchain; a crash mid-build
         * leaves only the .tmp- directory, which the next build removes */
        av_add(av, "--dpkgopt=force-unsafe-io");
        /* merged /usr via symlinks set up by mmdebstrap's hook instead of the usrmerge
         * package, which would pull perl (50 MB) into every tree */
        struct stat st;
        if (stat(MERGED_USR_HOOK, &st) == 0 && S_ISDIR(st.st_mode))
                av_add(av, "--hook-dir=" MERGED_USR_HOOK);
        av_add(av, "--setup-hook=mkdir -p \"$1/var/cache/apt/archives\" \"$1/var/lib/apt/lists\""
                   " && mount --bind \"$JR_APT_ARCHIVES\" \"$1/var/cache/apt/archives\""
                   " && mount --bind \"$JR_APT_LISTS\" \"$1/var/lib/apt/lists\"");
        if (r->packages) {
                FILE *f;
                char *s = NULL;
                size_t len = 0;
                f = open_memstream(&s, &len);
                if (!f)
                        return jr_error_errno(e, "out of memory");
                for (char **p = r->packages; *p; p++)
                        fprintf(f, "%s%s", p == r->packages ? "" : ",", *p);
                fclose(f);
                av_add(av, "--include=%s", s);
                free(s);
        }
        size_t i = 0;
        for (char **p = r->hooks; p && *p; p++)
                av_add(av, "--customize-hook=%s", *p);
        av_add(av, "--customize-hook=umount \"$1/var/cache/apt/archives\" "
                   "\"$1/var/lib/apt/lists\"");
        /* checks: as an unprivileged uid with an empty environment, like a jail; the
         * command text travels in the environment so that it needs no quoting here */
        for (char **p = r->checks; p && *p; p++, i++) {
                av_add(env, "JR_CHECK_%zu=%s", i, *p);
                av_add(av,
                       "--customize-hook=chroot --userspec=" CHECK_UID ":" CHECK_UID
                       " \"$1\" /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/tmp "
                       "LANG=C.UTF-8 /bin/sh -c \"cd /tmp && $JR_CHECK_%zu\"",
                       i);
        }
        av_add(av, "%s", r->suite);
        av_add(av, "%s", target);
        for (char **p = r->mirrors; p && *p; p++)
                av_add(av, "%s", *p);

        for (char **p = environ; *p; p++)
                if (strncmp(*p, "JR_APT_", 7) && strncmp(*p, "JR_CHECK_", 9))
                        av_add(env, "%s", *p);
        av_add(env, "JR_APT_ARCHIVES=%s/apt/archives", cache);
        av_add(env, "JR_APT_LISTS=%s/apt/lists", cache);
        if (av->oom || env->oom)
                return jr_error_set(e, ENOMEM, "mmdebstrap command line");
        return 0;
}

/* Remove every path of the tree matching a strip pattern. The parent directory is
 * resolved inside the tree without following any symlink: a tree's absolute symlinks
 * point into the host when seen from outside. */
static int strip_one(int treefd, const char *pattern, jr_error *e)
{
        const char *last = strrchr(pattern, '/');
        _cleanup_free_ char *parent = strndup(pattern + 1, (size_t)(last - pattern - 1));
        if (!parent)
                return jr_error_errno(e, "out of memory");
        struct open_how how = {
            .flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC,
            .resolve =
                RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV | RESOLVE_NO_MAGICLINKS,
        };
        _cleanup_close_ int pfd =
            (int)syscall(SYS_openat2, treefd, *parent ? parent : ".", &how, sizeof how);
        if (pfd < 0) {
                if (errno == ENOENT)
                        return 0;
                return jr_error_errno(e, "strip \"%s\": open \"/%s\"", pattern, parent);
        }
        const char *glob = last + 1;
        if (!rootfs_has_glob(glob, strlen(glob)))
                return jr_rootfs_remove(pfd, glob, e) < 0 ? jr_error_wrap(e, "strip") : 0;
        int fd = dup(pfd);
        if (fd < 0)
                return jr_error_errno(e, "dup");
        _cleanup_closedir_ DIR *d = fdopendir(fd);
        if (!d) {
                close(fd);
                return jr_error_errno(e, "strip \"%s\"", pattern);
        }
        struct dirent *de;
        while ((errno = 0, de = readdir(d))) {
                if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                        continue;
                if (fnmatch(glob, de->d_name, 0) != 0)
                        continue;
                if (jr_rootfs_remove(pfd, de->d_name, e) < 0)
                        return jr_error_wrap(e, "strip \"%s\"", pattern);
        }
        if (errno != 0)
                return jr_error_errno(e, "strip \"%s\"", pattern);
        return 0;
}

static int write_file_at(int dfd, const char *name, const char *data, size_t len, jr_error *e)
{
        _cleanup_close_ int fd =
            openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd < 0)
                return jr_error_errno(e, "create %s", name);
        if (jr_write_all(fd, data, len) < 0)
                return jr_error_errno(e, "write %s", name);
        return 0;
}

/* .jailrun/{manifest,build-info,recipe} of the tree being built. */
static int write_meta(const jr_rootfs_recipe *r, const char *tmp_path, const char *cache,
                      int treefd, char *const *cmd, time_t started, jr_error *e)
{
        if (mkdirat(treefd, META_DIR, 0755) < 0 && errno != EEXIST)
                return jr_error_errno(e, "mkdir %s", META_DIR);
        _cleanup_close_ int mfd =
            openat(treefd, META_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (mfd < 0)
                return jr_error_errno(e, "open %s", META_DIR);

        /* the package manifest, read from the tree's own dpkg database */
        struct stat st;
        _cleanup_close_ int man =
            openat(mfd, "manifest", O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (man < 0)
                return jr_error_errno(e, "create manifest");
        if (fstatat(treefd, "var/lib/dpkg/status", &st, AT_SYMLINK_NOFOLLOW) == 0) {
                _cleanup_free_ char *admindir = NULL;
                if (asprintf(&admindir, "--admindir=%s/var/lib/dpkg", tmp_path) < 0)
                        return jr_error_errno(e, "out of memory");
                char *const argv[] = {"dpkg-query", admindir, "--show",
                                      "--showformat=${Package}\\t${Version}\\t${Architecture}\\n",
                                      NULL};
                if (run(argv, NULL, man, false, e) < 0)
                        return jr_error_wrap(e, "package manifest");
        }

        char mmv[256] = "none";
        if (strcmp(r->variant, "none") != 0) {
                char *const vargv[] = {"mmdebstrap", "--version", NULL};
                if (run_capture_line(vargv, mmv, sizeof mmv, e) < 0)
                        return -1;
        }
        time_t now = time(NULL);
        struct tm tm;
        gmtime_r(&now, &tm);
        char when[64];
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
        _cleanup_free_ char *info = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&info, &len);
        if (!f)
                return jr_error_errno(e, "out of memory");
        fprintf(f,
                "# written by jailrun rootfs build\ntree = %s\nbuilt = %s\nbuilt_epoch = %lld\n"
                "seconds = %lld\nvariant = %s\n",
                r->name, when, (long long)now, (long long)(now - started), r->variant);
        if (r->suite)
                fprintf(f, "suite = %s\n", r->suite);
        fputs("packages =", f);
        for (char **p = r->packages; p && *p; p++)
                fprintf(f, " %s", *p);
        fprintf(f, "\nmmdebstrap = %s\njailrun = %s\napt_cache = %s\ncommand =", mmv, JR_VERSION,
                cache);
        for (char *const *p = cmd; p && *p; p++) {
                fputc(' ', f);
                append_quoted(f, *p);
        }
        fputc('\n', f);
        if (fclose(f) != 0)
                return jr_error_errno(e, "build-info");
        if (write_file_at(mfd, "recipe", r->text, strlen(r->text), e) < 0 ||
            write_file_at(mfd, "build-info", info, len, e) < 0)
                return -1;
        return 0;
}

/* True when dir/tree was built from exactly this recipe. */
static bool up_to_date(int dfd, const jr_rootfs_recipe *r)
{
        _cleanup_close_ int tfd =
            openat(dfd, r->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (tfd < 0)
                return false;
        struct stat st;
        if (fstatat(tfd, META_DIR "/build-info", &st, AT_SYMLINK_NOFOLLOW) < 0)
                return false;
        _cleanup_free_ char *old = NULL;
        jr_error ignored;
        if (rootfs_read_small_file(tfd, META_DIR "/recipe", RECIPE_MAX, &old, NULL, &ignored) < 0)
                return false;
        return strcmp(old, r->text) == 0;
}

/* Delete the tree directory `name` unless a jail may use it. The jail library holds a
 * tree's directory flock()ed shared for as long as it keeps a template of it
 * (sandbox/mounts.c), and a running jail's binds show the tree's own inodes: deleting
 * its files would delete them under the jail. So the deletion needs the exclusive lock,
 * held until it is done (a jail opening the tree meanwhile fails its shared lock and
 * opens what the path names now). Returns 1 when removed, 0 when kept (in use). */
static int remove_unused_tree(int dfd, const char *name, jr_error *e)
{
        _cleanup_close_ int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) {
                if (errno == ENOENT)
                        return 1;
                return jr_error_errno(e, "open \"%s\"", name);
        }
        if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
                if (errno == EWOULDBLOCK)
                        return 0;
                return jr_error_errno(e, "lock \"%s\"", name);
        }
        return jr_rootfs_remove(dfd, name, e) < 0 ? -1 : 1;
}

/* Leftovers of this tree: "<tree>.old-<pid>", an old tree kept while jails used it, and
 * "<tree>.tmp-<pid>", an interrupted build. Called with the directory lock held, so no
 * build owns them; an old tree still in use is kept for a later build. */
static int remove_leftovers(int dfd, const char *tree, FILE *log, jr_error *e)
{
        int fd = dup(dfd);
        if (fd < 0)
                return jr_error_errno(e, "dup");
        _cleanup_closedir_ DIR *d = fdopendir(fd);
        if (!d) {
                close(fd);
                return jr_error_errno(e, "read rootfs directory");
        }
        size_t tl = strlen(tree);
        struct dirent *de;
        while ((errno = 0, de = readdir(d))) {
                const char *s = de->d_name;
                if (strncmp(s, tree, tl) != 0)
                        continue;
                s += tl;
                bool old = !strncmp(s, ".old-", 5);
                if (strncmp(s, ".tmp-", 5) != 0 && !old)
                        continue;
                s += 5;
                if (!*s || strspn(s, "0123456789") != strlen(s))
                        continue;
                int r = remove_unused_tree(dfd, de->d_name, e);
                if (r < 0)
                        return -1;
                if (r == 0)
                        note(log, "keeping %s: jails still use it", de->d_name);
                else if (old)
                        note(log, "removed %s, an old tree no jail uses any more", de->d_name);
                else
                        note(log, "removed %s left by an interrupted build", de->d_name);
        }
        return 0;
}

/* The old tree, now at `name`: deleted if no jail uses it, else kept as
 * "<tree>.old-<pid>" for a later build (remove_leftovers) to delete. */
static int retire_old_tree(int dfd, const char *name, const char *tree, FILE *log, jr_error *e)
{
        int r = remove_unused_tree(dfd, name, e);
        if (r != 0)
                return r < 0 ? jr_error_wrap(e, "remove old tree") : 0;
        char old[256];
        snprintf(old, sizeof old, "%s.old-%d", tree, (int)getpid());
        if (strcmp(name, old) != 0 && renameat(dfd, name, dfd, old) < 0)
                return jr_error_errno(e, "rename the old tree to %s", old);
        note(log, "rootfs %s: jails still use the old tree: kept as %s until a later build", tree,
             old);
        return 0;
}

/* Put tmp in place of tree atomically; the old tree (if any) is removed once no jail
 * uses it. A jail started before the swap keeps the whole old tree: its binds are of the
 * old directories, and the old tree is deleted only when no jail holds it (see
 * remove_unused_tree). A jail started after it gets the new tree: the jail library
 * keys its template of a tree by the directory's inode. */
static int swap_into_place(int dfd, const char *tmp, const char *tree, FILE *log, jr_error *e)
{
        if (renameat2(dfd, tmp, dfd, tree, RENAME_NOREPLACE) == 0)
                return 0;
        if (errno != EEXIST)
                return jr_error_errno(e, "rename %s to %s", tmp, tree);
        /* An old tree: exchange the two names in one step, so that the tree path never
         * goes missing for a judge starting a jail meanwhile; the old one is then at the
         * tmp name. */
        if (renameat2(dfd, tmp, dfd, tree, RENAME_EXCHANGE) == 0)
                return retire_old_tree(dfd, tmp, tree, log, e);
        if (errno != EINVAL)
                return jr_error_errno(e, "exchange %s and %s", tmp, tree);
        /* a filesystem without RENAME_EXCHANGE: rename the old tree aside first */
        char old[256];
        snprintf(old, sizeof old, "%s.old-%d", tree, (int)getpid());
        if (renameat(dfd, tree, dfd, old) < 0)
                return jr_error_errno(e, "rename %s aside", tree);
        if (renameat(dfd, tmp, dfd, tree) < 0)
                return jr_error_errno(e, "rename %s to %s", tmp, tree);
        return retire_old_tree(dfd, old, tree, log, e);
}

static int build_in(const jr_rootfs_recipe *r, const jr_rootfs_build_opts *o, const char *dir,
                    const char *cache, int dfd, const char *tmp, jr_error *e)
{
        char tmp_path[4096];
        snprintf(tmp_path, sizeof tmp_path, "%s/%s", dir, tmp);
        time_t started = time(NULL);
        struct argv_buf av = {0}, env = {0};
        _cleanup_close_ int tfd = -1;
        int ret = -1;

        if (!strcmp(r->variant, "none")) {
                av_add(&av, "(no packages)");
                if (av.oom) {
                        jr_error_set(e, ENOMEM, "out of memory");
                        goto out;
                }
        } else {
                if (mmdebstrap_argv(r, o, cache, tmp_path, &av, &env, e) < 0)
                        goto out;
                if (run(av.v, env.v, -1, true, e) < 0) {
                        jr_error_wrap(e, "rootfs \"%s\"", r->name);
                        goto out;
                }
        }
        tfd = openat(dfd, tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (tfd < 0) {
                jr_error_errno(e, "open %s", tmp_path);
                goto out;
        }
        if (r->files) {
                /* the recipe's files, owned by root whoever checked them out */
                _cleanup_free_ char *src = NULL;
                const char *slash = strrchr(r->path, '/');
                if (asprintf(&src, "%.*s/%s/.", slash ? (int)(slash - r->path) : 1,
                             slash ? r->path : ".", r->files) < 0) {
                        jr_error_errno(e, "out of memory");
                        goto out;
                }
                char *const cp[] = {
                    "cp",     "-R", "--preserve=mode,timestamps", "--no-dereference", "--", src,
                    tmp_path, NULL};
                if (run(cp, NULL, -1, false, e) < 0) {
                        jr_error_wrap(e, "rootfs \"%s\": files \"%s\"", r->name, r->files);
                        goto out;
                }
        }
        for (char **p = r->strip; p && *p; p++)
                if (strip_one(tfd, *p, e) < 0) {
                        jr_error_wrap(e, "rootfs \"%s\"", r->name);
                        goto out;
                }
        if (fchmod(tfd, 0755) < 0) {
                jr_error_errno(e, "chmod %s", tmp_path);
                goto out;
        }
        if (write_meta(r, tmp_path, cache, tfd, av.v, started, e) < 0) {
                jr_error_wrap(e, "rootfs \"%s\"", r->name);
                goto out;
        }
        /* the rename must not reach the disk before the tree does */
        if (syncfs(tfd) < 0) {
                jr_error_errno(e, "syncfs %s", tmp_path);
                goto out;
        }
        if (swap_into_place(dfd, tmp, r->name, o->log, e) < 0) {
                jr_error_wrap(e, "rootfs \"%s\"", r->name);
                goto out;
        }
        fsync(dfd);
        ret = 0;
out:
        av_free(&av);
        av_free(&env);
        return ret;
}

int jr_rootfs_build(const jr_rootfs_recipe *r, const jr_rootfs_build_opts *o,
                    jr_rootfs_built *outcome, jr_error *e)
{
        if (geteuid() != 0)
                return jr_error_set(e, EPERM,
                                    "building rootfs \"%s\" needs root (mmdebstrap in root mode)",
                                    r->name);
        char sub[4096];
        if (jr_mkdir_p(o->dir ? o->dir : jr_rootfs_default_dir(), 0755, e) < 0)
                return jr_error_wrap(e, "rootfs directory");
        const char *c = o->cache_dir ? o->cache_dir : jr_rootfs_default_cache_dir();
        snprintf(sub, sizeof sub, "%s/apt/archives/partial", c);
        if (jr_mkdir_p(sub, 0755, e) < 0)
                return jr_error_wrap(e, "apt cache");
        snprintf(sub, sizeof sub, "%s/apt/lists/partial", c);
        if (jr_mkdir_p(sub, 0755, e) < 0)
                return jr_error_wrap(e, "apt cache");
        /* absolute: mmdebstrap, its hooks and dpkg-query run from other directories */
        _cleanup_free_ char *dir = realpath(o->dir ? o->dir : jr_rootfs_default_dir(), NULL);
        _cleanup_free_ char *cache = realpath(c, NULL);
        if (!dir || !cache)
                return jr_error_errno(e, "rootfs \"%s\": resolve directories", r->name);

        /* one build at a time per tree directory and per cache: apt and dpkg take
         * their own locks but would fail rather than wait */
        _cleanup_close_ int dir_lock = -1, cache_lock = -1;
        if (lock_file(dir, ".lock", o->log, &dir_lock, e) < 0 ||
            lock_file(cache, "lock", o->log, &cache_lock, e) < 0)
                return -1;
        _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return jr_error_errno(e, "rootfs directory \"%s\"", dir);
        /* first, also when up to date: old trees that jails have let go of since */
        if (remove_leftovers(dfd, r->name, o->log, e) < 0)
                return jr_error_wrap(e, "rootfs \"%s\"", r->name);
        if (!o->force && up_to_date(dfd, r)) {
                *outcome = JR_ROOTFS_UP_TO_DATE;
                return 0;
        }

        char tmp[256];
        snprintf(tmp, sizeof tmp, "%s.tmp-%d", r->name, (int)getpid());
        note(o->log, "rootfs %s: building into %s/%s", r->name, dir, tmp);
        if (mkdirat(dfd, tmp, 0755) < 0)
                return jr_error_errno(e, "mkdir %s/%s", dir, tmp);
        if (build_in(r, o, dir, cache, dfd, tmp, e) < 0) {
                jr_error cleanup;
                if (jr_rootfs_remove(dfd, tmp, &cleanup) < 0)
                        note(o->log, "removing %s/%s: %s", dir, tmp, cleanup.msg);
                return -1;
        }
        *outcome = JR_ROOTFS_BUILT;
        return 0;
}
