/* jailrun rootfs build|list|path: the per-language trees. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "clock.h"
#include "commands.h"
#include "lang.h"
#include "rootfs.h"
#include "units.h"

static void usage(FILE *out)
{
        fprintf(out,
                "Usage: jailrun rootfs build [OPTIONS] LANG|TREE|all...\n"
                "       jailrun rootfs list [OPTIONS]\n"
                "       jailrun rootfs path [OPTIONS] TREE\n"
                "\n"
                "build  builds trees with mmdebstrap (as root) from the recipes: a language\n"
                "       name builds its build and run trees, `all` every recipe. A tree built\n"
                "       from an unchanged recipe is kept unless --force.\n"
                "list   shows every tree with its size, age and package count, and how to\n"
                "       build the missing ones.\n"
                "path   prints the directory of a built tree (exit 1 when missing).\n"
                "\n"
                "Options:\n"
                "  --dir DIR      trees (default $JAILRUN_ROOTFS_DIR or %s)\n"
                "  --cache DIR    apt cache shared by builds (default $JAILRUN_CACHE_DIR or\n"
                "                 /var/lib/jailrun/cache)\n"
                "  --recipes DIR  the *.rootfs recipes (default %s)\n"
                "  --langs DIR    the *.lang files (default %s)\n"
                "  --force        rebuild even when up to date\n"
                "  --offline      no apt-get update: build from the cached package lists and\n"
                "                 .debs of earlier builds (fails if a package is not cached)\n"
                "  --quiet        no mmdebstrap progress\n",
                "/var/lib/jailrun/rootfs", jr_rootfs_default_recipes_dir(), jr_lang_default_dir());
}

struct opts {
        const char *dir, *cache, *recipes, *langs;
        bool force, quiet, offline;
};

struct ctx {
        struct opts o;
        jr_rootfs_recipe **recipes;
        size_t n_recipes;
        jr_lang_set *langs; /* may be NULL when the langs could not be loaded */
};

static const jr_rootfs_recipe *find_recipe(const struct ctx *c, const char *name)
{
        for (size_t i = 0; i < c->n_recipes; i++)
                if (!strcmp(c->recipes[i]->name, name))
                        return c->recipes[i];
        return NULL;
}

static void print_error(const char *what, const jr_error *e)
{
        fprintf(stderr, "jailrun rootfs%s%s: %s\n", what ? " " : "", what ? what : "", e->msg);
}

/* ---- build ---- */

static int add_unique(const jr_rootfs_recipe ***list, size_t *n, const jr_rootfs_recipe *r)
{
        for (size_t i = 0; i < *n; i++)
                if ((*list)[i] == r)
                        return 0;
        const jr_rootfs_recipe **nl = realloc(*list, (*n + 1) * sizeof *nl);
        if (!nl)
                return -1;
        nl[(*n)++] = r;
        *list = nl;
        return 0;
}

static int need_tree(struct ctx *c, const char *tree, const char *lang,
                     const jr_rootfs_recipe ***list, size_t *n)
{
        const jr_rootfs_recipe *r = find_recipe(c, tree);
        if (!r) {
                fprintf(stderr,
                        "jailrun rootfs build: language \"%s\" uses tree \"%s\", which has no "
                        "recipe %s/%s.rootfs\n",
                        lang, tree, c->o.recipes, tree);
                return -1;
        }
        return add_unique(list, n, r);
}

static void names_of_langs(const jr_lang_set *s, char *buf, size_t n)
{
        size_t o = 0;
        buf[0] = '\0';
        for (const char *const *p = s ? jr_lang_names(s) : NULL; p && *p && o < n; p++)
                o += (size_t)snprintf(buf + o, n - o, "%s%s", o ? ", " : "", *p);
}

static int cmd_build(struct ctx *c, int argc, char **argv)
{
        if (argc == 0) {
                fprintf(stderr, "jailrun rootfs build: name a language, a tree or `all`\n");
                return 2;
        }
        _cleanup_free_ const jr_rootfs_recipe **list = NULL;
        size_t n = 0;
        for (int i = 0; i < argc; i++) {
                const jr_lang *l = jr_lang_find(c->langs, argv[i]);
                const jr_rootfs_recipe *r = find_recipe(c, argv[i]);
                if (!strcmp(argv[i], "all")) {
                        for (size_t j = 0; j < c->n_recipes; j++)
                                if (add_unique(&list, &n, c->recipes[j]) < 0)
                                        return 1;
                        /* every language's trees must have a recipe */
                        for (size_t j = 0; j < jr_lang_count(c->langs); j++) {
                                const jr_lang *lj = jr_lang_get(c->langs, j);
                                if ((lj->build_rootfs &&
                                     need_tree(c, lj->build_rootfs, lj->name, &list, &n) < 0) ||
                                    need_tree(c, lj->run_rootfs, lj->name, &list, &n) < 0)
                                        return 1;
                        }
                } else if (l) {
                        if ((l->build_rootfs &&
                             need_tree(c, l->build_rootfs, l->name, &list, &n) < 0) ||
                            need_tree(c, l->run_rootfs, l->name, &list, &n) < 0)
                                return 1;
                } else if (r) {
                        if (add_unique(&list, &n, r) < 0)
                                return 1;
                } else {
                        char langs[512];
                        names_of_langs(c->langs, langs, sizeof langs);
                        fprintf(stderr,
                                "jailrun rootfs build: \"%s\" is neither a language (%s) nor a "
                                "recipe in %s (see `jailrun rootfs list`)\n",
                                argv[i], langs, c->o.recipes);
                        return 2;
                }
        }

        jr_rootfs_build_opts bo = {.dir = c->o.dir,
                                   .cache_dir = c->o.cache,
                                   .force = c->o.force,
                                   .quiet = c->o.quiet,
                                   .offline = c->o.offline,
                                   .log = stderr};
        int failed = 0;
        for (size_t i = 0; i < n; i++) {
                const jr_rootfs_recipe *r = list[i];
                uint64_t t0 = jr_mono_ns();
                fprintf(stderr, "jailrun: rootfs %s (%s", r->name, r->variant);
                for (char **p = r->packages; p && *p; p++)
                        fprintf(stderr, "%s%s", p == r->packages ? ": " : " ", *p);
                fprintf(stderr, ")\n");
                jr_rootfs_built outcome;
                jr_error e;
                if (jr_rootfs_build(r, &bo, &outcome, &e) < 0) {
                        print_error("build", &e);
                        failed++;
                        continue;
                }
                double secs = (double)(jr_mono_ns() - t0) / 1e9;
                if (outcome == JR_ROOTFS_UP_TO_DATE) {
                        fprintf(stderr,
                                "jailrun: rootfs %s: up to date (built from the same recipe; "
                                "--force rebuilds)\n",
                                r->name);
                        continue;
                }
                jr_rootfs_info info;
                char size[32] = "?";
                long pkgs = -1;
                if (jr_rootfs_info_get(c->o.dir, r->name, &info, &e) == 0) {
                        jr_format_size(info.size_bytes, size, sizeof size);
                        pkgs = info.packages;
                }
                fprintf(stderr, "jailrun: rootfs %s: built in %.1f s, %s, %ld packages\n", r->name,
                        secs, size, pkgs);
        }
        if (failed) {
                fprintf(stderr, "jailrun rootfs build: %d of %zu trees failed\n", failed, n);
                return 1;
        }
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

static int cmd_list(struct ctx *c)
{
        struct row *rows = NULL;
        size_t n = 0;
        int ret = 1;
        for (size_t i = 0; i < c->n_recipes; i++)
                if (add_row(&rows, &n, c->recipes[i]->name, false) < 0)
                        goto out;
        for (size_t i = 0; i < jr_lang_count(c->langs); i++) {
                const jr_lang *l = jr_lang_get(c->langs, i);
                if ((l->build_rootfs && add_row(&rows, &n, l->build_rootfs, false) < 0) ||
                    add_row(&rows, &n, l->run_rootfs, false) < 0)
                        goto out;
        }
        if (scan_dir(c->o.dir, &rows, &n) < 0) {
                fprintf(stderr, "jailrun rootfs list: %s: %s\n", c->o.dir, strerror(errno));
                goto out;
        }
        if (n > 1)
                qsort(rows, n, sizeof *rows, row_cmp);

        printf("Trees in %s:\n", c->o.dir);
        printf("%-12s %-10s %-6s %-8s %s\n", "TREE", "SIZE", "AGE", "PACKAGES", "USED BY");
        int missing = 0;
        for (size_t i = 0; i < n; i++) {
                char users[512], size[32], age[32], pkgs[32];
                used_by(c, rows[i].name, users, sizeof users);
                jr_rootfs_info info;
                jr_error e;
                if (jr_rootfs_info_get(c->o.dir, rows[i].name, &info, &e) == 0) {
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
                printf("%-12s %-10s %-6s %-8s %s%s\n", rows[i].name, size, age, pkgs, users,
                       find_recipe(c, rows[i].name) ? "" : "  [no recipe]");
        }
        if (missing) {
                printf("\n");
                for (size_t i = 0; i < n; i++) {
                        char path[4096];
                        jr_error e;
                        if (jr_rootfs_path(c->o.dir, rows[i].name, path, sizeof path, &e) == 0)
                                continue;
                        if (!find_recipe(c, rows[i].name))
                                printf("%s: no recipe %s/%s.rootfs\n", rows[i].name, c->o.recipes,
                                       rows[i].name);
                        else
                                printf("%s\n", e.msg);
                }
        }
        ret = 0;
out:
        for (size_t i = 0; i < n; i++)
                free(rows[i].name);
        free(rows);
        return ret;
}

/* ---- entry ---- */

int jr_cmd_rootfs(int argc, char **argv)
{
        static const struct option longopts[] = {
            {"dir", required_argument, NULL, 'd'},
            {"cache", required_argument, NULL, 'c'},
            {"recipes", required_argument, NULL, 'r'},
            {"langs", required_argument, NULL, 'l'},
            {"force", no_argument, NULL, 'f'},
            {"quiet", no_argument, NULL, 'q'},
            {"offline", no_argument, NULL, 'o'},
            {"help", no_argument, NULL, 'h'},
            {NULL, 0, NULL, 0},
        };
        if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
                usage(argc < 2 ? stderr : stdout);
                return argc < 2 ? 2 : 0;
        }
        const char *sub = argv[1];
        struct ctx c = {.o = {.dir = jr_rootfs_default_dir(),
                              .recipes = jr_rootfs_default_recipes_dir(),
                              .langs = jr_lang_default_dir()}};
        int opt;
        optind = 2;
        while ((opt = getopt_long(argc, argv, "+fqh", longopts, NULL)) != -1) {
                switch (opt) {
                case 'd':
                        c.o.dir = optarg;
                        break;
                case 'c':
                        c.o.cache = optarg;
                        break;
                case 'r':
                        c.o.recipes = optarg;
                        break;
                case 'l':
                        c.o.langs = optarg;
                        break;
                case 'f':
                        c.o.force = true;
                        break;
                case 'q':
                        c.o.quiet = true;
                        break;
                case 'o':
                        c.o.offline = true;
                        break;
                case 'h':
                        usage(stdout);
                        return 0;
                default:
                        usage(stderr);
                        return 2;
                }
        }
        argc -= optind;
        argv += optind;

        if (!strcmp(sub, "path")) {
                if (argc != 1) {
                        fprintf(stderr, "jailrun rootfs path: name one tree\n");
                        return 2;
                }
                char path[4096];
                jr_error e;
                if (jr_rootfs_path(c.o.dir, argv[0], path, sizeof path, &e) < 0) {
                        print_error("path", &e);
                        return 1;
                }
                printf("%s\n", path);
                return 0;
        }
        if (strcmp(sub, "build") != 0 && strcmp(sub, "list") != 0) {
                fprintf(stderr, "jailrun rootfs: unknown subcommand \"%s\"\n\n", sub);
                usage(stderr);
                return 2;
        }
        if (!strcmp(sub, "list") && argc != 0) {
                fprintf(stderr, "jailrun rootfs list: unexpected argument \"%s\"\n", argv[0]);
                return 2;
        }

        jr_error e;
        int ret;
        if (jr_rootfs_recipes_load(c.o.recipes, &c.recipes, &c.n_recipes, &e) < 0) {
                print_error(sub, &e);
                if (!strcmp(sub, "build"))
                        return 1;
        }
        if (jr_lang_load_dir(c.o.langs, &c.langs, &e) < 0) {
                print_error(sub, &e);
                if (!strcmp(sub, "build")) {
                        jr_rootfs_recipes_free(c.recipes, c.n_recipes);
                        return 1;
                }
        }
        ret = !strcmp(sub, "build") ? cmd_build(&c, argc, argv) : cmd_list(&c);
        jr_rootfs_recipes_free(c.recipes, c.n_recipes);
        jr_lang_set_free(c.langs);
        return ret;
}
