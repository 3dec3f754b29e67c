/* The trees of the recipes and languages: which to build, the listing. See
 * rootfs_tool.h. */
#include "rootfs_tool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cleanup.h"
#include "clock.h"
#include "lang.h"
#include "rootfs.h"
#include "units.h"

struct ctx {
        const jr_rootfs_tool_opts *o;
        jr_rootfs_recipe **recipes;
        size_t n_recipes;
        jr_lang_set *langs; /* NULL when the languages could not be loaded (list) */
};

static void ctx_free(struct ctx *c)
{
        jr_rootfs_recipes_free(c->recipes, c->n_recipes);
        jr_lang_set_free(c->langs);
}

static const jr_rootfs_recipe *find_recipe(const struct ctx *c, const char *name)
{
        for (size_t i = 0; i < c->n_recipes; i++)
                if (!strcmp(c->recipes[i]->name, name))
                        return c->recipes[i];
        return NULL;
}

/* ---- build ---- */

static int add_unique(const jr_rootfs_recipe ***list, size_t *n, const jr_rootfs_recipe *r,
                      jr_error *e)
{
        for (size_t i = 0; i < *n; i++)
                if ((*list)[i] == r)
                        return 0;
        const jr_rootfs_recipe **nl = realloc(*list, (*n + 1) * sizeof *nl);
        if (!nl)
                return jr_error_errno(e, "out of memory");
        nl[(*n)++] = r;
        *list = nl;
        return 0;
}

static int need_tree(struct ctx *c, const char *tree, const char *lang,
                     const jr_rootfs_recipe ***list, size_t *n, jr_error *e)
{
        const jr_rootfs_recipe *r = find_recipe(c, tree);
        if (!r)
                return jr_error_set(e, 0,
                                    "language \"%s\" uses tree \"%s\", which has no recipe "
                                    "%s/%s.rootfs",
                                    lang, tree, c->o->recipes, tree);
        return add_unique(list, n, r, e);
}

/* The build and run trees of language l. */
static int need_lang(struct ctx *c, const jr_lang *l, const jr_rootfs_recipe ***list, size_t *n,
                     jr_error *e)
{
        if (l->build_rootfs && need_tree(c, l->build_rootfs, l->name, list, n, e) < 0)
                return -1;
        return need_tree(c, l->run_rootfs, l->name, list, n, e);
}

static void names_of_langs(const jr_lang_set *s, char *buf, size_t n)
{
        size_t o = 0;
        buf[0] = '\0';
        for (const char *const *p = s ? jr_lang_names(s) : NULL; p && *p && o < n; p++)
                o += (size_t)snprintf(buf + o, n - o, "%s%s", o ? ", " : "", *p);
}

static void names_of_recipes(const struct ctx *c, char *buf, size_t n)
{
        size_t o = 0;
        buf[0] = '\0';
        for (size_t i = 0; i < c->n_recipes && o < n; i++)
                o += (size_t)snprintf(buf + o, n - o, "%s%s", o ? ", " : "", c->recipes[i]->name);
}

/* The recipes of names, each once, in the order named. A plain name is a language when
 * there is one (its trees), else a tree; "tree:NAME" and "lang:NAME" say which. */
static int select_trees(struct ctx *c, char *const *names, size_t n_names,
                        const jr_rootfs_recipe ***list, size_t *n, FILE *log, jr_error *e)
{
        for (size_t i = 0; i < n_names; i++) {
                const char *name = names[i];
                if (!strncmp(name, JR_ROOTFS_TREE_PREFIX, strlen(JR_ROOTFS_TREE_PREFIX))) {
                        const char *tree = name + strlen(JR_ROOTFS_TREE_PREFIX);
                        const jr_rootfs_recipe *r = find_recipe(c, tree);
                        if (!r) {
                                char trees[1024];
                                names_of_recipes(c, trees, sizeof trees);
                                jr_error_set(e, 0, "\"%s\": no recipe %s/%s.rootfs (trees: %s)",
                                             name, c->o->recipes, tree, trees);
                                return JR_ROOTFS_TOOL_USAGE;
                        }
                        if (add_unique(list, n, r, e) < 0)
                                return JR_ROOTFS_TOOL_FAILED;
                        continue;
                }
                if (!strncmp(name, JR_ROOTFS_LANG_PREFIX, strlen(JR_ROOTFS_LANG_PREFIX))) {
                        const char *lang = name + strlen(JR_ROOTFS_LANG_PREFIX);
                        const jr_lang *l = jr_lang_find(c->langs, lang);
                        if (!l) {
                                char langs[512];
                                names_of_langs(c->langs, langs, sizeof langs);
                                jr_error_set(e, 0, "\"%s\": no language \"%s\" in %s (%s)", name,
                                             lang, c->o->langs, langs);
                                return JR_ROOTFS_TOOL_USAGE;
                        }
                        if (need_lang(c, l, list, n, e) < 0)
                                return JR_ROOTFS_TOOL_FAILED;
                        continue;
                }
                const jr_lang *l = jr_lang_find(c->langs, name);
                const jr_rootfs_recipe *r = find_recipe(c, name);
                if (l && r && log) {
                        /* "rust" is a language and a tree: say which one this is, and how
                         * to name the other */
                        char trees[256];
                        if (!l->build_rootfs || !strcmp(l->build_rootfs, l->run_rootfs))
                                snprintf(trees, sizeof trees, "tree %s", l->run_rootfs);
                        else
                                snprintf(trees, sizeof trees, "trees %s and %s", l->build_rootfs,
                                         l->run_rootfs);
                        fprintf(log,
                                "jailrun: \"%s\" is a language: building its %s "
                                "(`%s%s` names the tree alone)\n",
                                name, trees, JR_ROOTFS_TREE_PREFIX, name);
                }
                if (!strcmp(name, "all")) {
                        for (size_t j = 0; j < c->n_recipes; j++)
                                if (add_unique(list, n, c->recipes[j], e) < 0)
                                        return JR_ROOTFS_TOOL_FAILED;
                        /* every language's trees must have a recipe */
                        for (size_t j = 0; j < jr_lang_count(c->langs); j++)
                                if (need_lang(c, jr_lang_get(c->langs, j), list, n, e) < 0)
                                        return JR_ROOTFS_TOOL_FAILED;
                } else if (l) {
                        if (need_lang(c, l, list, n, e) < 0)
                                return JR_ROOTFS_TOOL_FAILED;
                } else if (r) {
                        if (add_unique(list, n, r, e) < 0)
                                return JR_ROOTFS_TOOL_FAILED;
                } else {
                        char langs[512];
                        names_of_langs(c->langs, langs, sizeof langs);
                        jr_error_set(e, 0,
                                     "\"%s\" is neither a language (%s) nor a recipe in %s (see "
                                     "`jailrun rootfs list`)",
                                     name, langs, c->o->recipes);
                        return JR_ROOTFS_TOOL_USAGE;
                }
        }
        return 0;
}

/* Build one tree, saying so on log; 0 when built or up to date. */
static int build_one(struct ctx *c, const jr_rootfs_recipe *r, const jr_rootfs_build_opts *bo,
                     FILE *log, jr_error *e)
{
        uint64_t t0 = jr_mono_ns();
        fprintf(log, "jailrun: rootfs %s (%s", r->name, r->variant);
        for (char **p = r->packages; p && *p; p++)
                fprintf(log, "%s%s", p == r->packages ? ": " : " ", *p);
        fprintf(log, ")\n");
        jr_rootfs_built outcome;
        if (jr_rootfs_build(r, bo, &outcome, e) < 0)
                return -1;
        double secs = (double)(jr_mono_ns() - t0) / 1e9;
        if (outcome == JR_ROOTFS_UP_TO_DATE) {
                fprintf(log,
                        "jailrun: rootfs %s: up to date (built from the same recipe; --force "
                        "rebuilds)\n",
                        r->name);
                return 0;
        }
        jr_rootfs_info info;
        char size[32] = "?";
        long pkgs = -1;
        jr_error ie;
        if (jr_rootfs_info_get(c->o->dir, r->name, &info, &ie) == 0) {
                jr_format_size(info.size_bytes, size, sizeof size);
                pkgs = info.packages;
        }
        fprintf(log, "jailrun: rootfs %s: built in %.1f s, %s, %ld packages\n", r->name, secs, size,
                pkgs);
        return 0;
}

int jr_rootfs_build_trees(const jr_rootfs_tool_opts *o, char *const *names, size_t n_names,
                          FILE *log, jr_error *e)
{
        _cleanup_(ctx_free) struct ctx c = {.o = o};
        if (jr_rootfs_recipes_load(o->recipes, &c.recipes, &c.n_recipes, e) < 0 ||
            jr_lang_load_dir(o->langs, &c.langs, e) < 0)
                return JR_ROOTFS_TOOL_FAILED;
        if (n_names == 0)
                return jr_error_set(e, 0, "name a language, a tree or `all`"), JR_ROOTFS_TOOL_USAGE;
        _cleanup_free_ const jr_rootfs_recipe **list = NULL;
        size_t n = 0;
        int r = select_trees(&c, names, n_names, &list, &n, log, e);
        if (r < 0)
                return r;
        jr_rootfs_build_opts bo = {.dir = o->dir,
                                   .cache_dir = o->cache,
                                   .force = o->force,
                                   .quiet = o->quiet,
                                   .offline = o->offline,
                                   .log = log};
        int failed = 0;
        for (size_t i = 0; i < n; i++) {
                jr_error be;
                if (build_one(&c, list[i], &bo, log, &be) < 0) {
                        o->warn(&be, o->userdata);
                        failed++;
                }
        }
        if (failed)
                return jr_error_set(e, 0, "%d of %zu trees failed", failed, n),
                       JR_ROOTFS_TOOL_FAILED;
        return 0;
}

/* ---- list ---- */

struct row {
        char *name;
        bool on_disk;
};

static int add_row(struct row **rows, size_t *n, const char *name, bool on_disk)
{
        for (size_t i = 0; i < *n; i++)
                if (!strcmp((*rows)[i].name, name)) {
                        (*rows)[i].on_disk |= on_disk;
                        return 0;
                }
        struct row *nr = realloc(*rows, (*n + 1) * sizeof *nr);
        if (!nr)
                return -1;
        *rows = nr;
        nr[*n].name = strdup(name);
        nr[*n].on_disk = on_disk;
        if (!nr[*n].name)
                return -1;
        (*n)++;
        return 0;
}

static int row_cmp(const void *a, const void *b)
{
        return strcmp(((const struct row *)a)->name, ((const struct row *)b)->name);
}

/* Tree directories in dir: not hidden, not a build's .tmp-/.old- leftover. */
static int scan_dir(const char *dir, struct row **rows, size_t *n)
{
        _cleanup_closedir_ DIR *d = opendir(dir);
        if (!d)
                return errno == ENOENT ? 0 : -1;
        struct dirent *de;
        while ((de = readdir(d))) {
                if (de->d_name[0] == '.' || strstr(de->d_name, ".tmp-") ||
                    strstr(de->d_name, ".old-"))
                        continue;
                struct stat st;
                if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
                    !S_ISDIR(st.st_mode))
                        continue;
                if (add_row(rows, n, de->d_name, true) < 0)
                        return -1;
        }
        return 0;
}

static void format_age(time_t built, char *buf, size_t n)
{
        time_t age = time(NULL) - built;
        if (age < 0)
                age = 0;
        if (age < 120)
                snprintf(buf, n, "%llds", (long long)age);
        else if (age < 7200)
                snprintf(buf, n, "%lldm", (long long)age / 60);
        else if (age < 172800)
                snprintf(buf, n, "%lldh", (long long)age / 3600);
        else
                snprintf(buf, n, "%lldd", (long long)age / 86400);
}

static void used_by(const struct ctx *c, const char *tree, char *buf, size_t n)
{
        size_t o = 0;
        buf[0] = '\0';
        static const char *const steps[] = {"build", "run"};
        for (int s = 0; s < 2; s++) {
                bool any = false;
                for (size_t i = 0; i < jr_lang_count(c->langs) && o < n; i++) {
                        const jr_lang *l = jr_lang_get(c->langs, i);
                        const char *t = s == 0 ? l->build_rootfs : l->run_rootfs;
                        if (!t || strcmp(t, tree))
                                continue;
                        o += (size_t)snprintf(buf + o, n - o, "%s%s", any ? " " : (o ? "; " : ""),
                                              l->name);
                        any = true;
                }
                if (any && o < n)
                        o += (size_t)snprintf(buf + o, n - o, " (%s)", steps[s]);
        }
        if (!buf[0])
                snprintf(buf, n, "-");
}

/* The table; 0, or -1 with e. */
static int print_list(struct ctx *c, FILE *out, jr_error *e)
{
        struct row *rows = NULL;
        size_t n = 0;
        int ret = -1;
        for (size_t i = 0; i < c->n_recipes; i++)
                if (add_row(&rows, &n, c->recipes[i]->name, false) < 0)
                        goto oom;
        for (size_t i = 0; i < jr_lang_count(c->langs); i++) {
                const jr_lang *l = jr_lang_get(c->langs, i);
                if ((l->build_rootfs && add_row(&rows, &n, l->build_rootfs, false) < 0) ||
                    add_row(&rows, &n, l->run_rootfs, false) < 0)
                        goto oom;
        }
        if (scan_dir(c->o->dir, &rows, &n) < 0) {
                jr_error_errno(e, "%s", c->o->dir);
                goto out;
        }
        if (n > 1)
                qsort(rows, n, sizeof *rows, row_cmp);

        fprintf(out, "Trees in %s:\n", c->o->dir);
        fprintf(out, "%-12s %-10s %-6s %-8s %s\n", "TREE", "SIZE", "AGE", "PACKAGES", "USED BY");
        int missing = 0;
        for (size_t i = 0; i < n; i++) {
                char users[512], size[32], age[32], pkgs[32];
                used_by(c, rows[i].name, users, sizeof users);
                jr_rootfs_info info;
                jr_error te;
                if (jr_rootfs_info_get(c->o->dir, rows[i].name, &info, &te) == 0) {
                        jr_format_size(info.size_bytes, size, sizeof size);
                        format_age(info.built, age, sizeof age);
                        snprintf(pkgs, sizeof pkgs, "%ld", info.packages);
                } else {
                        snprintf(size, sizeof size, "%s",
                                 rows[i].on_disk ? "INCOMPLETE" : "MISSING");
                        snprintf(age, sizeof age, "-");
                        snprintf(pkgs, sizeof pkgs, "-");
                        missing++;
                }
                fprintf(out, "%-12s %-10s %-6s %-8s %s%s\n", rows[i].name, size, age, pkgs, users,
                        find_recipe(c, rows[i].name) ? "" : "  [no recipe]");
        }
        if (missing) {
                fprintf(out, "\n");
                for (size_t i = 0; i < n; i++) {
                        char path[4096];
                        jr_error te;
                        if (jr_rootfs_path(c->o->dir, rows[i].name, path, sizeof path, &te) == 0)
                                continue;
                        if (!find_recipe(c, rows[i].name))
                                fprintf(out, "%s: no recipe %s/%s.rootfs\n", rows[i].name,
                                        c->o->recipes, rows[i].name);
                        else
                                fprintf(out, "%s\n", te.msg);
                }
        }
        ret = 0;
        goto out;
oom:
        jr_error_set(e, ENOMEM, "out of memory");
out:
        for (size_t i = 0; i < n; i++)
                free(rows[i].name);
        free(rows);
        return ret;
}

int jr_rootfs_list(const jr_rootfs_tool_opts *o, FILE *out, jr_error *e)
{
        /* what cannot be loaded is said, and the list shows the rest */
        _cleanup_(ctx_free) struct ctx c = {.o = o};
        jr_error le;
        if (jr_rootfs_recipes_load(o->recipes, &c.recipes, &c.n_recipes, &le) < 0)
                o->warn(&le, o->userdata);
        if (jr_lang_load_dir(o->langs, &c.langs, &le) < 0)
                o->warn(&le, o->userdata);
        if (print_list(&c, out, e) < 0)
                return JR_ROOTFS_TOOL_FAILED;
        return 0;
}
