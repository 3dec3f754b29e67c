/* Rootfs trees: the defaults, finding a tree, recipes, the dirfd walks (size, removal)
 * that never follow symlinks, and what a built tree says about itself. Building is
 * rootfs_build.c. */
#include "rootfs_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cleanup.h"
#include "io.h"
#include "kvfile.h"
#include "lang.h"
#include "paths.h"
#include "strv.h"

static const char recipe_suffix[] = ".rootfs";
#define WALK_MAX_DEPTH 256

/* ---- defaults ---- */

#ifdef JR_SOURCE_DIR
#define SOURCE_RECIPES JR_SOURCE_DIR "/rootfs"
#else
#define SOURCE_RECIPES NULL
#endif

const char *jr_rootfs_default_dir(void)
{
        return jr_env_or("JAILRUN_ROOTFS_DIR", "/var/lib/jailrun/rootfs");
}

const char *jr_rootfs_default_cache_dir(void)
{
        return jr_env_or("JAILRUN_CACHE_DIR", "/var/lib/jailrun/cache");
}

const char *jr_rootfs_default_recipes_dir(void)
{
        return jr_default_dir("JAILRUN_RECIPES_DIR", SOURCE_RECIPES, "/usr/share/jailrun/rootfs");
}

/* A tree name is one path component that `rootfs list` would show. */
static bool valid_tree_name(const char *s)
{
        if (!*s || *s == '.' || strlen(s) > 64)
                return false;
        for (; *s; s++)
                if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-' ||
                      *s == '_' || *s == '.' || *s == '+'))
                        return false;
        return true;
}

/* ---- finding a tree ---- */

static int open_tree_dir(const char *dir, const char *tree, int *out, jr_error *e)
{
        _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return jr_error_errno(e, "rootfs directory \"%s\"", dir);
        /* O_NOFOLLOW: a tree is a directory of its own, never a symlink to elsewhere */
        int fd = openat(dfd, tree, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return jr_error_errno(e, "rootfs \"%s/%s\"", dir, tree);
        *out = fd;
        return 0;
}

static void build_hint(const char *dir, const char *tree, char *buf, size_t n)
{
        if (strcmp(dir, jr_rootfs_default_dir()) != 0)
                snprintf(buf, n, "jailrun rootfs build --dir %s %s", dir, tree);
        else
                snprintf(buf, n, "jailrun rootfs build %s", tree);
}

int jr_rootfs_path(const char *dir, const char *tree, char *buf, size_t n, jr_error *e)
{
        if (!dir)
                dir = jr_rootfs_default_dir();
        if (!valid_tree_name(tree))
                return jr_error_set(e, EINVAL, "invalid rootfs name \"%s\"", tree);
        char hint[512];
        build_hint(dir, tree, hint, sizeof hint);
        _cleanup_close_ int fd = -1;
        jr_error sub;
        if (open_tree_dir(dir, tree, &fd, &sub) < 0) {
                if (sub.err != ENOENT) {
                        *e = sub;
                        return -1;
                }
                jr_error_set(e, 0, "rootfs \"%s\" is missing (%s/%s): run `%s`", tree, dir, tree,
                             hint);
                e->err = ENOENT; /* for callers; the message reads better without strerror */
                return -1;
        }
        struct stat st;
        if (fstatat(fd, META_DIR "/build-info", &st, AT_SYMLINK_NOFOLLOW) < 0 ||
            !S_ISREG(st.st_mode)) {
                jr_error_set(e, 0,
                             "rootfs \"%s\" in %s is incomplete (no %s/build-info): run `%s "
                             "--force`",
                             tree, dir, META_DIR, hint);
                e->err = ENOENT;
                return -1;
        }
        int len = snprintf(buf, n, "%s/%s", dir, tree);
        if (len < 0 || (size_t)len >= n)
                return jr_error_set(e, ENAMETOOLONG, "rootfs \"%s/%s\"", dir, tree);
        return 0;
}

/* ---- recipes ---- */

void jr_rootfs_recipe_free(jr_rootfs_recipe *r)
{
        if (!r)
                return;
        free(r->name);
        free(r->path);
        free(r->description);
        free(r->variant);
        free(r->suite);
        jr_strv_free(r->packages);
        jr_strv_free(r->mirrors);
        free(r->files);
        jr_strv_free(r->strip);
        jr_strv_free(r->hooks);
        jr_strv_free(r->checks);
        free(r->text);
        free(r);
}

static const char *const variants[] = {"none",      "extract",     "custom",  "essential",
                                       "apt",       "required",    "minbase", "buildd",
                                       "important", "debootstrap", "standard"};

struct recipe_parse {
        jr_rootfs_recipe *r;
        unsigned line_name, line_desc, line_variant, line_suite, line_files;
};

static int set_once(char **field, unsigned *seen, const char *key, const char *value,
                    unsigned lineno, bool one_word, jr_error *e)
{
        if (*seen)
                return jr_error_set(e, 0, "duplicate key \"%s\" (first on line %u)", key, *seen);
        *seen = lineno;
        if (one_word) {
                if (jr_strv_one_word(value, field, e) < 0)
                        return jr_error_wrap(e, "%s", key);
                return 0;
        }
        *field = strdup(value);
        if (!*field)
                return jr_error_errno(e, "out of memory");
        return 0;
}

static int append_words(char ***field, const char *key, const char *value, jr_error *e)
{
        _cleanup_strv_ char **w = NULL;
        size_t n;
        if (jr_strv_split_words(value, &w, &n, e) < 0)
                return jr_error_wrap(e, "%s", key);
        if (n == 0)
                return jr_error_set(e, 0, "%s: empty value", key);
        if (jr_strv_extend(field, w, e) < 0)
                return -1;
        w = NULL; /* its strings are field's now */
        return 0;
}

static int append_raw(char ***field, const char *key, const char *value, jr_error *e)
{
        if (!*value)
                return jr_error_set(e, 0, "%s: empty value", key);
        return jr_strv_push(field, value, e);
}

bool rootfs_has_glob(const char *s, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (s[i] == '*' || s[i] == '?' || s[i] == '[')
                        return true;
        return false;
}

/* "/a/b/pattern": absolute, no "." or ".." parts, globs only in the last part. */
static bool valid_strip(const char *s)
{
        if (s[0] != '/' || !s[1] || s[strlen(s) - 1] == '/' || strstr(s, "//"))
                return false;
        const char *last = strrchr(s, '/');
        if (rootfs_has_glob(s, (size_t)(last - s)))
                return false;
        for (const char *p = s; p; p = strchr(p + 1, '/')) {
                const char *c = p + 1, *end = strchr(c, '/');
                size_t len = end ? (size_t)(end - c) : strlen(c);
                if ((len == 1 && c[0] == '.') || (len == 2 && c[0] == '.' && c[1] == '.'))
                        return false;
        }
        return true;
}

static int recipe_kv(const char *key, char *value, unsigned lineno, void *userdata, jr_error *e)
{
        struct recipe_parse *rp = userdata;
        jr_rootfs_recipe *r = rp->r;
        if (!strcmp(key, "name"))
                return set_once(&r->name, &rp->line_name, key, value, lineno, true, e);
        if (!strcmp(key, "description"))
                return set_once(&r->description, &rp->line_desc, key, value, lineno, false, e);
        if (!strcmp(key, "variant")) {
                if (set_once(&r->variant, &rp->line_variant, key, value, lineno, true, e) < 0)
                        return -1;
                for (size_t i = 0; i < JR_ARRAY_SIZE(variants); i++)
                        if (!strcmp(variants[i], r->variant))
                                return 0;
                return jr_error_set(e, 0,
                                    "variant: unknown variant \"%s\" (none, or an mmdebstrap "
                                    "variant: essential, apt, minbase, buildd, ...)",
                                    r->variant);
        }
        if (!strcmp(key, "suite"))
                return set_once(&r->suite, &rp->line_suite, key, value, lineno, true, e);
        if (!strcmp(key, "files")) {
                if (set_once(&r->files, &rp->line_files, key, value, lineno, true, e) < 0)
                        return -1;
                if (r->files[0] == '/' || strstr(r->files, ".."))
                        return jr_error_set(e, 0,
                                            "files: \"%s\" must be relative to the recipe "
                                            "directory, without \"..\"",
                                            r->files);
                return 0;
        }
        if (!strcmp(key, "packages"))
                return append_words(&r->packages, key, value, e);
        if (!strcmp(key, "mirror"))
                return append_words(&r->mirrors, key, value, e);
        if (!strcmp(key, "strip")) {
                size_t have = jr_strv_len(r->strip);
                if (append_words(&r->strip, key, value, e) < 0)
                        return -1;
                for (char **p = r->strip + have; *p; p++)
                        if (!valid_strip(*p))
                                return jr_error_set(e, 0,
                                                    "strip: \"%s\" is not an absolute path "
                                                    "(globs allowed in the last part only)",
                                                    *p);
                return 0;
        }
        if (!strcmp(key, "hook"))
                return append_raw(&r->hooks, key, value, e);
        if (!strcmp(key, "check"))
                return append_raw(&r->checks, key, value, e);
        return jr_error_set(e, 0, "unknown key \"%s\"", key);
}

int rootfs_read_small_file(int dirfd, const char *path, size_t max, char **out, size_t *len,
                           jr_error *e)
{
        _cleanup_close_ int fd = openat(dirfd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return jr_error_errno(e, "%s", path);
        _cleanup_free_ char *buf = malloc(max + 1);
        if (!buf)
                return jr_error_errno(e, "out of memory");
        ssize_t r = jr_read_full(fd, buf, max + 1);
        if (r < 0)
                return jr_error_errno(e, "read %s", path);
        size_t n = (size_t)r;
        if (n > max)
                return jr_error_set(e, EFBIG, "%s: larger than %zu bytes", path, max);
        buf[n] = '\0';
        if (len)
                *len = n;
        *out = TAKE_PTR(buf);
        return 0;
}

int jr_rootfs_recipe_load(const char *path, jr_rootfs_recipe **out, jr_error *e)
{
        _cleanup_free_ char *stem = NULL;
        if (jr_kv_file_stem(path, recipe_suffix, &stem, e) < 0)
                return -1;
        _cleanup_recipe_ jr_rootfs_recipe *r = calloc(1, sizeof *r);
        if (!r || !(r->path = strdup(path)))
                return jr_error_errno(e, "out of memory");
        struct recipe_parse rp = {.r = r};
        if (jr_kv_read(path, &jr_lang_kv_format, recipe_kv, &rp, e) < 0)
                return -1;
        if (!r->name)
                return jr_error_set(e, 0, "%s: missing key \"name\"", path);
        if (!r->variant)
                return jr_error_set(e, 0, "%s: missing key \"variant\"", path);
        if (strcmp(r->name, stem) != 0 || !valid_tree_name(r->name))
                return jr_error_set(e, 0, "%s:%u: name \"%s\" does not match the file name", path,
                                    rp.line_name, r->name);
        bool none = !strcmp(r->variant, "none");
        if (none && (r->packages || r->mirrors || r->hooks || r->checks || r->suite))
                return jr_error_set(e, 0,
                                    "%s: variant \"none\" builds no packages: packages, mirror, "
                                    "suite, hook and check do not apply",
                                    path);
        if (!none && !r->suite)
                return jr_error_set(e, 0, "%s: missing key \"suite\"", path);
        if (rootfs_read_small_file(AT_FDCWD, path, RECIPE_MAX, &r->text, NULL, e) < 0)
                return -1;
        *out = TAKE_PTR(r);
        return 0;
}

void jr_rootfs_recipes_free(jr_rootfs_recipe **v, size_t n)
{
        for (size_t i = 0; v && i < n; i++)
                jr_rootfs_recipe_free(v[i]);
        free(v);
}

static int recipe_by_name(const void *a, const void *b)
{
        return strcmp((*(jr_rootfs_recipe *const *)a)->name, (*(jr_rootfs_recipe *const *)b)->name);
}

struct recipe_list {
        jr_rootfs_recipe **v;
        size_t n;
};

static int add_recipe(const char *path, void *userdata, jr_error *e)
{
        struct recipe_list *l = userdata;
        jr_rootfs_recipe **nv = realloc(l->v, (l->n + 1) * sizeof *nv);
        if (!nv)
                return jr_error_errno(e, "out of memory");
        l->v = nv;
        if (jr_rootfs_recipe_load(path, &l->v[l->n], e) < 0)
                return -1;
        l->n++;
        return 0;
}

int jr_rootfs_recipes_load(const char *dir, jr_rootfs_recipe ***out, size_t *n_out, jr_error *e)
{
        struct recipe_list l = {0};
        if (jr_kv_dir_each(dir, recipe_suffix, "recipes", add_recipe, &l, e) < 0) {
                jr_rootfs_recipes_free(l.v, l.n);
                return -1;
        }
        if (l.n > 1)
                qsort(l.v, l.n, sizeof *l.v, recipe_by_name);
        *out = l.v;
        *n_out = l.n;
        return 0;
}

/* ---- dirfd walks ---- */

/* Hard links are counted once: a small open-addressing set of (dev, ino). */
struct inoset {
        struct ino_key {
                dev_t dev;
                ino_t ino;
        } * slots;
        size_t cap, n;
};

/* Returns 1 when added, 0 when already there, -1 on ENOMEM. */
static int inoset_add(struct inoset *s, dev_t dev, ino_t ino)
{
        if (s->n * 2 >= s->cap) {
                size_t cap = s->cap ? s->cap * 2 : 1024;
                struct ino_key *slots = calloc(cap, sizeof *slots);
                if (!slots)
                        return -1;
                for (size_t i = 0; i < s->cap; i++) {
                        if (!s->slots[i].ino)
                                continue;
                        size_t h = (size_t)(s->slots[i].ino * 11400714819323198485ULL) & (cap - 1);
                        while (slots[h].ino)
                                h = (h + 1) & (cap - 1);
                        slots[h] = s->slots[i];
                }
                free(s->slots);
                s->slots = slots;
                s->cap = cap;
        }
        size_t h = (size_t)(ino * 11400714819323198485ULL) & (s->cap - 1);
        while (s->slots[h].ino) {
                if (s->slots[h].ino == ino && s->slots[h].dev == dev)
                        return 0;
                h = (h + 1) & (s->cap - 1);
        }
        s->slots[h] = (struct ino_key){dev, ino};
        s->n++;
        return 1;
}

/* Open the directory dfd/name for a walk: never through a symlink and never into
 * another mount, bind mounts of the same filesystem included (RESOLVE_NO_XDEV sees
 * them where st_dev cannot). Fails with EXDEV at a mount point. */
static int open_subdir(int dfd, const char *name)
{
        struct open_how how = {
            .flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC,
            .resolve =
                RESOLVE_BENEATH | RESOLVE_NO_XDEV | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
        };
        int fd = (int)syscall(SYS_openat2, dfd, name, &how, sizeof how);
        if (fd >= 0 || errno != ENOSYS)
                return fd;
        /* kernels before 5.6: the st_dev checks of the callers are all there is */
        return openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

/* Call fn(dir fd, entry name, ctx, depth + 1, e) for each entry of the directory
 * dfd/name but "." and "..", depth-bounded. Returns 0, 1 when dfd/name is a mount point
 * (open_subdir's EXDEV: nothing was walked), or -1 with e filled. */
typedef int (*walk_fn)(int dfd, const char *name, void *ctx, int depth, jr_error *e);

static int walk_dir(int dfd, const char *name, walk_fn fn, void *ctx, int depth, jr_error *e)
{
        if (depth >= WALK_MAX_DEPTH)
                return jr_error_set(e, ELOOP, "\"%s\": deeper than %d levels", name,
                                    WALK_MAX_DEPTH);
        int fd = open_subdir(dfd, name);
        if (fd < 0 && errno == EXDEV)
                return 1;
        if (fd < 0)
                return jr_error_errno(e, "open \"%s\"", name);
        _cleanup_closedir_ DIR *d = fdopendir(fd);
        if (!d) {
                close(fd);
                return jr_error_errno(e, "open \"%s\"", name);
        }
        struct dirent *de;
        while ((errno = 0, de = readdir(d))) {
                if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                        continue;
                if (fn(dirfd(d), de->d_name, ctx, depth + 1, e) < 0)
                        return jr_error_wrap(e, "%s", name);
        }
        if (errno != 0)
                return jr_error_errno(e, "read \"%s\"", name);
        return 0;
}

struct du_ctx {
        dev_t dev;
        struct inoset seen;
        uint64_t sum;
};

static int du_at(int dfd, const char *name, void *ctx, int depth, jr_error *e)
{
        struct du_ctx *du = ctx;
        struct stat st;
        if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return jr_error_errno(e, "stat \"%s\"", name);
        if (st.st_dev != du->dev)
                return 0; /* another filesystem mounted here: not part of the tree */
        if (!S_ISDIR(st.st_mode) && st.st_nlink > 1 && st.st_ino) {
                int r = inoset_add(&du->seen, st.st_dev, st.st_ino);
                if (r < 0)
                        return jr_error_errno(e, "out of memory");
                if (r == 0)
                        return 0;
        }
        du->sum += (uint64_t)st.st_blocks * 512;
        if (!S_ISDIR(st.st_mode))
                return 0;
        /* a mount point (1): what it shows is not part of the tree */
        return walk_dir(dfd, name, du_at, du, depth, e) < 0 ? -1 : 0;
}

int jr_rootfs_du(int dirfd, const char *name, uint64_t *bytes, jr_error *e)
{
        struct stat st;
        if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return jr_error_errno(e, "stat \"%s\"", name);
        struct du_ctx du = {.dev = st.st_dev};
        int r = du_at(dirfd, name, &du, 0, e);
        free(du.seen.slots);
        if (r < 0)
                return -1;
        *bytes = du.sum;
        return 0;
}

static int remove_at(int dfd, const char *name, void *ctx, int depth, jr_error *e)
{
        const dev_t *dev = ctx;
        struct stat st;
        if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                if (errno == ENOENT)
                        return 0;
                return jr_error_errno(e, "stat \"%s\"", name);
        }
        if (!S_ISDIR(st.st_mode)) {
                if (unlinkat(dfd, name, 0) < 0 && errno != ENOENT)
                        return jr_error_errno(e, "unlink \"%s\"", name);
                return 0;
        }
        /* A directory on another device is a mount point (a bind mount left by a failed
         * build): deleting through it would delete what it shows. */
        int r = st.st_dev != *dev ? 1 : walk_dir(dfd, name, remove_at, ctx, depth, e);
        if (r == 1)
                return jr_error_set(e, EXDEV, "\"%s\" is a mount point: not removing", name);
        if (r < 0)
                return -1;
        if (unlinkat(dfd, name, AT_REMOVEDIR) < 0) {
                /* a bind mount on an empty directory of the same filesystem shows the
                 * same st_dev; rmdir then fails with EBUSY and nothing was lost */
                return jr_error_errno(e, "rmdir \"%s\"", name);
        }
        return 0;
}

int jr_rootfs_remove(int dirfd, const char *name, jr_error *e)
{
        struct stat st;
        if (fstat(dirfd, &st) < 0)
                return jr_error_errno(e, "remove \"%s\": stat parent", name);
        return remove_at(dirfd, name, &st.st_dev, 0, e);
}

/* ---- info ---- */

static long count_lines(const char *s)
{
        long n = 0;
        for (; *s; s++)
                if (*s == '\n')
                        n++;
        return n;
}

int jr_rootfs_info_get(const char *dir, const char *tree, jr_rootfs_info *out, jr_error *e)
{
        char path[4096];
        if (jr_rootfs_path(dir, tree, path, sizeof path, e) < 0)
                return -1;
        _cleanup_close_ int fd = -1;
        if (open_tree_dir(dir ? dir : jr_rootfs_default_dir(), tree, &fd, e) < 0)
                return -1;
        jr_rootfs_info info = {0};
        struct stat st;
        if (fstatat(fd, META_DIR "/build-info", &st, AT_SYMLINK_NOFOLLOW) < 0)
                return jr_error_errno(e, "%s/%s/build-info", path, META_DIR);
        info.built = st.st_mtime;
        _cleanup_free_ char *manifest = NULL;
        if (rootfs_read_small_file(fd, META_DIR "/manifest", 4 << 20, &manifest, NULL, e) < 0)
                return jr_error_wrap(e, "rootfs \"%s\"", tree);
        info.packages = count_lines(manifest);
        if (jr_rootfs_du(fd, ".", &info.size_bytes, e) < 0)
                return jr_error_wrap(e, "rootfs \"%s\"", tree);
        *out = info;
        return 0;
}

int jr_rootfs_built_from(const char *dir, const jr_rootfs_recipe *r, jr_error *e)
{
        if (!dir)
                dir = jr_rootfs_default_dir();
        _cleanup_close_ int fd = -1;
        if (open_tree_dir(dir, r->name, &fd, e) < 0)
                return -1;
        _cleanup_free_ char *old = NULL;
        jr_error re;
        if (rootfs_read_small_file(fd, META_DIR "/recipe", RECIPE_MAX, &old, NULL, &re) < 0) {
                /* a tree without its recipe cannot have been built from this one */
                if (re.err == ENOENT)
                        return 0;
                *e = re;
                return jr_error_wrap(e, "rootfs \"%s/%s\"", dir, r->name);
        }
        return strcmp(old, r->text) == 0;
}
