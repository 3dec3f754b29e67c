/* The rootfs trees: `jailrun rootfs list|path|build` on the real binary, the recipe
 * parser, the dirfd walks (never through a symlink), and the manifests of the trees
 * really built on this machine (in $JAILRUN_ROOTFS_DIR or /var/lib/jailrun/rootfs;
 * those checks are skipped when no tree is there: `jailrun rootfs build all` makes
 * them). Building the "static" tree needs no network and runs here; the mmdebstrap
 * trees are built by .ci/run. Run as root. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <stdarg.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cleanup.h"
#include "lang.h"
#include "rootfs.h"
#include "testutil.h"

static char *tmpdir;

static void setup(void)
{
        tmpdir = tu_scratch("/tmp/jr-rootfs-test.");
}

static void teardown(void)
{
        tu_rm_rf(tmpdir);
        free(tmpdir);
}

TestSuite(rootfs, .init = setup, .fini = teardown, .timeout = 600);

/* Run build/jailrun with args; returns the exit status (or 128 + signal). */
static int jailrun(char **out, char **err, const char *a1, const char *a2, const char *a3,
                   const char *a4, const char *a5, const char *a6)
{
        char *argv[] = {(char *)tu_build("jailrun"),
                        (char *)a1,
                        (char *)a2,
                        (char *)a3,
                        (char *)a4,
                        (char *)a5,
                        (char *)a6,
                        NULL};
        int st = tu_run(argv, NULL, out, err);
        return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static char *path_in(const char *dir, const char *rel)
{
        char *p;
        cr_assert(asprintf(&p, "%s/%s", dir, rel) > 0);
        return p;
}

static void write_text(const char *path, const char *text)
{
        FILE *f = fopen(path, "w");
        cr_assert(f, "create %s: %s", path, strerror(errno));
        fputs(text, f);
        fclose(f);
}

static char *read_text(const char *path)
{
        FILE *f = fopen(path, "r");
        if (!f)
                return NULL;
        char *buf = NULL;
        size_t len = 0;
        FILE *m = open_memstream(&buf, &len);
        char chunk[4096];
        size_t n;
        while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
                fwrite(chunk, 1, n, m);
        fclose(f);
        fclose(m);
        return buf;
}

/* ---- the CLI ---- */

Test(rootfs, list_marks_missing_trees_with_the_command_that_builds_them)
{
        char *out, *err;
        int st = jailrun(&out, &err, "rootfs", "list", "--dir", tmpdir, NULL, NULL);
        cr_assert_eq(st, 0, "exit %d\n%s%s", st, out, err);
        cr_assert(strstr(out, "TREE"), "%s", out);
        /* every tree a language uses is listed, missing, with its exact build command */
        static const char *const trees[] = {"gcc", "static", "go", "java", "java-run", "python"};
        for (size_t i = 0; i < sizeof trees / sizeof trees[0]; i++) {
                char want[1200];
                snprintf(want, sizeof want,
                         "rootfs \"%s\" is missing (%s/%s): run `jailrun rootfs "
                         "build --dir %s %s`",
                         trees[i], tmpdir, trees[i], tmpdir, trees[i]);
                cr_assert(strstr(out, want), "no \"%s\" in:\n%s", want, out);
        }
        cr_assert(strstr(out, "c c11 c17 cpp cpp14 cpp17 cpp20 (build)"), "%s", out);
        cr_assert(strstr(out, "c c11 c17 cpp cpp14 cpp17 cpp20 go haskell pascal rust (run)"), "%s",
                  out);
        free(out);
        free(err);
}

Test(rootfs, list_default_dir)
{
        /* whatever is built on this machine: the command works and shows every recipe */
        char *out, *err;
        int st = jailrun(&out, &err, "rootfs", "list", NULL, NULL, NULL, NULL);
        cr_assert_eq(st, 0, "exit %d\n%s%s", st, out, err);
        cr_assert(strstr(out, jr_rootfs_default_dir()), "%s", out);
        for (const char *t = "gcc\0static\0go\0java\0java-run\0python\0"; *t; t += strlen(t) + 1) {
                char want[64];
                snprintf(want, sizeof want, "\n%s ", t);
                cr_assert(strstr(out, want), "tree %s not listed:\n%s", t, out);
        }
        free(out);
        free(err);
}

Test(rootfs, path_of_a_missing_tree_names_the_build_command)
{
        char *out, *err;
        int st = jailrun(&out, &err, "rootfs", "path", "--dir", tmpdir, "java-run", NULL);
        cr_assert_eq(st, 1);
        cr_assert_str_eq(out, "");
        char want[1200];
        snprintf(want, sizeof want, "run `jailrun rootfs build --dir %s java-run`", tmpdir);
        cr_assert(strstr(err, want), "%s", err);
        free(out);
        free(err);

        jr_error e;
        char buf[4096];
        cr_assert_lt(jr_rootfs_path(tmpdir, "java-run", buf, sizeof buf, &e), 0);
        cr_assert_eq(e.err, ENOENT);
        cr_assert(strstr(e.msg, "rootfs \"java-run\" is missing"), "%s", e.msg);
        cr_assert_lt(jr_rootfs_path(tmpdir, "../etc", buf, sizeof buf, &e), 0);
        cr_assert(strstr(e.msg, "invalid rootfs name"), "%s", e.msg);
}

Test(rootfs, build_rejects_unknown_names)
{
        char *out, *err;
        int st = jailrun(&out, &err, "rootfs", "build", "--dir", tmpdir, "cobol", NULL);
        cr_assert_eq(st, 2);
        cr_assert(strstr(err, "\"cobol\" is neither a language (c, c11, c17, cpp, cpp14, cpp17, "
                              "cpp20, go, haskell, java, javascript, kotlin, pascal, pypy3, "
                              "python, ruby, rust)"),
                  "%s", err);
        free(out);
        free(err);
        st = jailrun(&out, &err, "rootfs", "frobnicate", NULL, NULL, NULL, NULL);
        cr_assert_eq(st, 2);
        free(out);
        free(err);
}

/* The one tree without packages: built for real, atomically, up to date the second
 * time, and a leftover of an interrupted build is cleaned up. */
Test(rootfs, build_static_tree)
{
        _cleanup_free_ char *stale = path_in(tmpdir, "static.tmp-99999");
        cr_assert_eq(mkdir(stale, 0755), 0);
        _cleanup_free_ char *stale_file = path_in(stale, "junk");
        write_text(stale_file, "left by a killed build\n");

        char *out, *err;
        int st = jailrun(&out, &err, "rootfs", "build", "--dir", tmpdir, "static", NULL);
        cr_assert_eq(st, 0, "exit %d\n%s", st, err);
        cr_assert(strstr(err, "rootfs static: built in"), "%s", err);
        free(out);
        free(err);
        struct stat sb;
        cr_assert_lt(stat(stale, &sb), 0, "the leftover is still there");

        _cleanup_free_ char *passwd = path_in(tmpdir, "static/etc/passwd");
        _cleanup_free_ char *text = read_text(passwd);
        cr_assert(text && strstr(text, "root:x:0:0:"), "%s", passwd);
        _cleanup_free_ char *manifest = path_in(tmpdir, "static/.jailrun/manifest");
        cr_assert_eq(stat(manifest, &sb), 0);
        cr_assert_eq(sb.st_size, 0, "a tree without packages has an empty manifest");
        _cleanup_free_ char *info_path = path_in(tmpdir, "static/.jailrun/build-info");
        _cleanup_free_ char *info = read_text(info_path);
        cr_assert(info && strstr(info, "tree = static\n") && strstr(info, "built = "), "%s", info);
        _cleanup_free_ char *tree = path_in(tmpdir, "static");
        cr_assert_eq(stat(tree, &sb), 0);
        cr_assert_eq(sb.st_mode & 07777, 0755);

        char buf[4096];
        jr_error e;
        ASSERT_OK(jr_rootfs_path(tmpdir, "static", buf, sizeof buf, &e), e);
        cr_assert_str_eq(buf, tree);
        jr_rootfs_info info2;
        ASSERT_OK(jr_rootfs_info_get(tmpdir, "static", &info2, &e), e);
        cr_assert_eq(info2.packages, 0);
        cr_assert_gt(info2.size_bytes, 0);

        /* same recipe: nothing to do; --force: rebuilt in place */
        st = jailrun(&out, &err, "rootfs", "build", "--dir", tmpdir, "static", NULL);
        cr_assert_eq(st, 0);
        cr_assert(strstr(err, "static: up to date"), "%s", err);
        free(out);
        free(err);
        ino_t before = sb.st_ino;
        st = jailrun(&out, &err, "rootfs", "build", "--dir", tmpdir, "--force", "static");
        cr_assert_eq(st, 0, "%s", err);
        free(out);
        free(err);
        cr_assert_eq(stat(tree, &sb), 0);
        cr_assert_neq(sb.st_ino, before, "the tree was not replaced");
        DIR *d = opendir(tmpdir);
        struct dirent *de;
        while ((de = readdir(d)))
                cr_assert_null(strstr(de->d_name, ".tmp-"), "leftover %s", de->d_name);
        closedir(d);

        st = jailrun(&out, &err, "rootfs", "list", "--dir", tmpdir, NULL, NULL);
        cr_assert_eq(st, 0);
        cr_assert(strstr(out, "\nstatic "), "%s", out);
        cr_assert_null(strstr(out, "rootfs \"static\" is missing"), "%s", out);
        free(out);
        free(err);
}

/* build/jailrun with a NULL-terminated argument list; its exit status (or 128 + signal). */
static int jailrun_v(char **out, char **err, const char *first, ...)
{
        const char *argv[24] = {tu_build("jailrun")};
        int n = 1;
        va_list ap;
        va_start(ap, first);
        for (const char *a = first; a && n < 23; a = va_arg(ap, const char *))
                argv[n++] = a;
        va_end(ap);
        argv[n] = NULL;
        int st = tu_run((char *const *)argv, NULL, out, err);
        return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static ino_t inode_of(const char *dir, const char *name)
{
        _cleanup_free_ char *p = path_in(dir, name);
        struct stat sb;
        return stat(p, &sb) == 0 ? sb.st_ino : 0;
}

/* A language and a tree of the same name ("rust" builds "rust" and "static"): the plain
 * name is the language, tree: and lang: say which. Scratch recipes, languages, trees and
 * cache, with trees without packages (variant none), so nothing is downloaded. */
Test(rootfs, tree_and_lang_prefixes_choose_what_a_name_is)
{
        _cleanup_free_ char *recipes = path_in(tmpdir, "recipes");
        _cleanup_free_ char *langs = path_in(tmpdir, "langs");
        _cleanup_free_ char *trees = path_in(tmpdir, "trees");
        _cleanup_free_ char *cache = path_in(tmpdir, "cache");
        cr_assert_eq(mkdir(recipes, 0755), 0);
        cr_assert_eq(mkdir(langs, 0755), 0);
        cr_assert_eq(mkdir(trees, 0755), 0);
        cr_assert_eq(mkdir(cache, 0755), 0);
        _cleanup_free_ char *r1 = path_in(recipes, "dual.rootfs");
        write_text(r1, "name = dual\nvariant = none\n");
        _cleanup_free_ char *r2 = path_in(recipes, "runner.rootfs");
        write_text(r2, "name = runner\nvariant = none\n");
        _cleanup_free_ char *l1 = path_in(langs, "dual.lang");
        write_text(l1, "name = dual\nsource = main.x\nbuild = cc main.x\nbuild_rootfs = dual\n"
                       "run = /work/a.out\nrun_rootfs = runner\nartifacts = a.out\n");

        /* plain: the language, both of its trees, and a note saying so */
        char *out, *err;
        int st = jailrun_v(&out, &err, "rootfs", "build", "--dir", trees, "--recipes", recipes,
                           "--langs", langs, "--cache", cache, "dual", NULL);
        cr_assert_eq(st, 0, "exit %d\n%s", st, err);
        cr_assert(strstr(err, "jailrun: \"dual\" is a language: building its trees dual and "
                              "runner (`tree:dual` names the tree alone)"),
                  "%s", err);
        cr_assert(strstr(err, "rootfs dual: built in") && strstr(err, "rootfs runner: built in"),
                  "%s", err);
        free(out);
        free(err);
        ino_t dual = inode_of(trees, "dual"), runner = inode_of(trees, "runner");
        cr_assert(dual && runner);

        /* tree: the tree alone, even with --force */
        st = jailrun_v(&out, &err, "rootfs", "build", "--dir", trees, "--recipes", recipes,
                       "--langs", langs, "--cache", cache, "--force", "tree:dual", NULL);
        cr_assert_eq(st, 0, "exit %d\n%s", st, err);
        cr_assert(strstr(err, "rootfs dual: built in"), "%s", err);
        cr_assert_null(strstr(err, "rootfs runner"), "the language's other tree: %s", err);
        cr_assert_null(strstr(err, "is a language"), "%s", err);
        free(out);
        free(err);
        cr_assert_neq(inode_of(trees, "dual"), dual, "tree:dual was not rebuilt");
        cr_assert_eq(inode_of(trees, "runner"), runner, "tree:dual rebuilt runner");
        dual = inode_of(trees, "dual");

        /* lang: both, explicitly, without the note; a tree that is no language is
         * fine as tree: */
        st = jailrun_v(&out, &err, "rootfs", "build", "--dir", trees, "--recipes", recipes,
                       "--langs", langs, "--cache", cache, "--force", "lang:dual", "tree:runner",
                       NULL);
        cr_assert_eq(st, 0, "exit %d\n%s", st, err);
        cr_assert_null(strstr(err, "is a language"), "%s", err);
        free(out);
        free(err);
        cr_assert_neq(inode_of(trees, "dual"), dual);
        cr_assert_neq(inode_of(trees, "runner"), runner);

        /* each prefix refuses what is not one; nothing is built then */
        dual = inode_of(trees, "dual");
        st = jailrun_v(&out, &err, "rootfs", "build", "--dir", trees, "--recipes", recipes,
                       "--langs", langs, "--cache", cache, "--force", "tree:dual", "lang:runner",
                       NULL);
        cr_assert_eq(st, 2, "exit %d\n%s", st, err);
        cr_assert(strstr(err, "\"lang:runner\": no language \"runner\" in "), "%s", err);
        free(out);
        free(err);
        cr_assert_eq(inode_of(trees, "dual"), dual, "built before the usage error");
        st = jailrun_v(&out, &err, "rootfs", "build", "--dir", trees, "--recipes", recipes,
                       "--langs", langs, "--cache", cache, "tree:static", NULL);
        cr_assert_eq(st, 2, "exit %d\n%s", st, err);
        cr_assert(strstr(err, "\"tree:static\": no recipe "), "%s", err);
        cr_assert(strstr(err, "(trees: dual, runner)"), "%s", err);
        free(out);
        free(err);

        /* --help tells */
        st = jailrun_v(&out, &err, "rootfs", "--help", NULL);
        cr_assert_eq(st, 0);
        cr_assert(strstr(out, "tree:TREE") && strstr(out, "`tree:rust` builds the tree rust"), "%s",
                  out);
        free(out);
        free(err);
}

/* ---- recipes ---- */

struct bad_recipe {
        const char *text;
        const char *msg;
};

Test(rootfs, recipe_errors_name_file_and_line)
{
        static const struct bad_recipe bad[] = {
            {"name = t\nvariant = essential\nsuite = bookworm\nfoo = 1\n",
             "t.rootfs:4: unknown key \"foo\""},
            {"name = t\nvariant = essential\nvariant = apt\nsuite = bookworm\n",
             "t.rootfs:3: duplicate key \"variant\" (first on line 2)"},
            {"name = t\nvariant = fancy\nsuite = bookworm\n",
             "t.rootfs:2: variant: unknown variant \"fancy\""},
            {"name = t\nvariant = essential\nsuite = bookworm\nstrip = usr/share/doc\n",
             "t.rootfs:4: strip: \"usr/share/doc\" is not an absolute path"},
            {"name = t\nvariant = essential\nsuite = bookworm\nstrip = /usr/*/doc\n",
             "t.rootfs:4: strip: \"/usr/*/doc\""},
            {"name = t\nvariant = essential\nsuite = bookworm\nstrip = /usr/../etc\n",
             "t.rootfs:4: strip: \"/usr/../etc\""},
            {"name = t\nvariant = essential\nsuite = bookworm\nfiles = ../x\n",
             "t.rootfs:4: files: \"../x\" must be relative"},
            {"name = u\nvariant = essential\nsuite = bookworm\n",
             "t.rootfs:1: name \"u\" does not match the file name"},
            {"name = t\nvariant = essential\n", "t.rootfs: missing key \"suite\""},
            {"name = t\nsuite = bookworm\n", "t.rootfs: missing key \"variant\""},
            {"name = t\nvariant = none\npackages = gcc\n",
             "t.rootfs: variant \"none\" builds no packages"},
            {"name = t\nvariant = essential\nsuite = bookworm\npackages = 'gcc\n",
             "t.rootfs:4: packages: unterminated ' quote"},
        };
        _cleanup_free_ char *path = path_in(tmpdir, "t.rootfs");
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
                write_text(path, bad[i].text);
                jr_rootfs_recipe *r = NULL;
                jr_error e = {0};
                cr_assert_lt(jr_rootfs_recipe_load(path, &r, &e), 0, "accepted:\n%s", bad[i].text);
                cr_assert_null(r);
                cr_assert(strstr(e.msg, bad[i].msg), "expected \"%s\" in \"%s\"", bad[i].msg,
                          e.msg);
        }
}

Test(rootfs, shipped_recipes_cover_every_language)
{
        jr_rootfs_recipe **v = NULL;
        size_t n = 0;
        jr_error e;
        ASSERT_OK(jr_rootfs_recipes_load(JR_SOURCE_DIR "/rootfs", &v, &n, &e), e);
        jr_lang_set *langs = NULL;
        ASSERT_OK(jr_lang_load_dir(JR_SOURCE_DIR "/langs", &langs, &e), e);
        for (size_t i = 0; i < jr_lang_count(langs); i++) {
                const jr_lang *l = jr_lang_get(langs, i);
                const char *trees[] = {l->build_rootfs, l->run_rootfs};
                for (size_t t = 0; t < 2; t++) {
                        if (!trees[t])
                                continue;
                        bool found = false;
                        for (size_t k = 0; k < n; k++)
                                found |= !strcmp(v[k]->name, trees[t]);
                        cr_assert(found, "language %s: no recipe for tree %s", l->name, trees[t]);
                }
        }
        for (size_t k = 0; k < n; k++)
                if (strcmp(v[k]->variant, "none") != 0)
                        cr_assert_not_null(v[k]->checks, "%s: no smoke check", v[k]->name);
        jr_lang_set_free(langs);
        jr_rootfs_recipes_free(v, n);
}

/* A line of g++ -H output saying that a precompiled header was used ("! path.gch"). */
static bool used_a_pch(const char *err)
{
        for (const char *l = err; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
                const char *nl = strchr(l, '\n'), *gch = strstr(l, ".gch");
                if (!strncmp(l, "! /", 3) && gch && (!nl || gch < nl))
                        return true;
        }
        return false;
}

/* Every C++ language of langs/ compiles <bits/stdc++.h> and <iostream> from the
 * precompiled headers of the gcc tree: its build command has the -std and -O of one
 * the recipe precompiled (else g++ silently parses the headers again, 3 to 10 times
 * slower). Its own build command, in a jail on the tree, with -H appended. */
Test(rootfs, cpp_languages_use_the_precompiled_headers)
{
        char gcc[4096];
        jr_error e;
        if (jr_rootfs_path(jr_rootfs_default_dir(), "gcc", gcc, sizeof gcc, &e) < 0)
                cr_skip_test("%s", e.msg);
        jr_lang_set *langs = NULL;
        cr_assert_eq(jr_lang_load_dir(JR_SOURCE_DIR "/langs", &langs, &e), 0, "%s", e.msg);
        cr_assert_eq(chmod(tmpdir, 0777), 0);
        _cleanup_free_ char *bind = NULL;
        cr_assert(asprintf(&bind, "%s:/work:rw", tmpdir) > 0);
        _cleanup_free_ char *src = path_in(tmpdir, "main.cpp");
        static const char *const headers[] = {"bits/stdc++.h", "iostream"};
        int checked = 0;
        for (size_t i = 0; i < jr_lang_count(langs); i++) {
                const jr_lang *l = jr_lang_get(langs, i);
                if (!l->build || strcmp(l->build_rootfs, "gcc") || strcmp(l->source, "main.cpp"))
                        continue;
                jr_lang_cmd c = {0};
                cr_assert_eq(jr_lang_command(l, JR_LANG_BUILD, l->build_memory_bytes, &c, &e), 0,
                             "%s", e.msg);
                for (size_t h = 0; h < 2; h++) {
                        char text[256];
                        snprintf(text, sizeof text,
                                 "#include <%s>\nint main(){std::cout<<42<<std::endl;}\n",
                                 headers[h]);
                        write_text(src, text);
                        char *argv[128];
                        size_t n = 0;
                        argv[n++] = (char *)tu_build("jailrun");
                        argv[n++] = "exec";
                        argv[n++] = "--rootfs";
                        argv[n++] = gcc;
                        argv[n++] = "--bind";
                        argv[n++] = bind;
                        argv[n++] = "--mem";
                        argv[n++] = "512M";
                        argv[n++] = "--pids";
                        argv[n++] = "32";
                        argv[n++] = "--stderr";
                        argv[n++] = "-";
                        for (char **p = c.envp; *p && n < 100; p++) {
                                argv[n++] = "--env";
                                argv[n++] = *p;
                        }
                        argv[n++] = "--";
                        for (char **p = c.argv; *p && n < 125; p++)
                                argv[n++] = *p;
                        argv[n++] = "-H";
                        argv[n] = NULL;
                        char *out = NULL, *err = NULL;
                        int st = tu_run(argv, NULL, &out, &err);
                        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: %s", l->name, err);
                        cr_assert(strstr(out, "\"status\":\"OK\""), "%s: %s %s", l->name, out, err);
                        cr_assert(used_a_pch(err),
                                  "%s: <%s> was not precompiled for its flags:\n%.2000s", l->name,
                                  headers[h], err);
                        free(out);
                        free(err);
                        checked++;
                }
                jr_lang_cmd_free(&c);
        }
        cr_assert_geq(checked, 8, "only %d C++ languages x headers", checked);
        jr_lang_set_free(langs);
}

/* ---- the walks never follow a symlink ---- */

Test(rootfs, remove_and_du_stay_inside_the_tree)
{
        /* outside/precious must survive the removal of tree/, whose symlinks point at
         * it in every way a tree's absolute and relative symlinks can */
        _cleanup_free_ char *outside = path_in(tmpdir, "outside");
        _cleanup_free_ char *precious = path_in(tmpdir, "outside/precious");
        _cleanup_free_ char *tree = path_in(tmpdir, "tree");
        _cleanup_free_ char *sub = path_in(tmpdir, "tree/usr/lib");
        cr_assert_eq(mkdir(outside, 0755), 0);
        write_text(precious, "keep me\n");
        cr_assert_eq(mkdir(tree, 0755), 0);
        _cleanup_free_ char *usr = path_in(tmpdir, "tree/usr");
        cr_assert_eq(mkdir(usr, 0755), 0);
        cr_assert_eq(mkdir(sub, 0755), 0);
        _cleanup_free_ char *l1 = path_in(tmpdir, "tree/lib");
        _cleanup_free_ char *l2 = path_in(tmpdir, "tree/usr/lib/abs");
        _cleanup_free_ char *l3 = path_in(tmpdir, "tree/usr/lib/rel");
        _cleanup_free_ char *f1 = path_in(tmpdir, "tree/usr/lib/big");
        _cleanup_free_ char *f2 = path_in(tmpdir, "tree/usr/lib/big-hardlink");
        cr_assert_eq(symlink(outside, l1), 0);
        cr_assert_eq(symlink(precious, l2), 0);
        cr_assert_eq(symlink("../../../outside", l3), 0);
        FILE *f = fopen(f1, "w");
        for (int i = 0; i < 256; i++)
                fputs("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\n", f);
        fclose(f);
        cr_assert_eq(link(f1, f2), 0);

        int dfd = open(tmpdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        cr_assert_geq(dfd, 0);
        uint64_t tree_bytes = 0, outside_bytes = 0, file_bytes = 0;
        jr_error e;
        ASSERT_OK(jr_rootfs_du(dfd, "tree", &tree_bytes, &e), e);
        ASSERT_OK(jr_rootfs_du(dfd, "outside", &outside_bytes, &e), e);
        struct stat st;
        cr_assert_eq(stat(f1, &st), 0);
        file_bytes = (uint64_t)st.st_blocks * 512;
        /* 16 KiB counted once for two names, plus directories and symlinks: far less
         * than twice the file, and nothing of outside/ */
        cr_assert_geq(tree_bytes, file_bytes);
        cr_assert_lt(tree_bytes, 2 * file_bytes + 64 * 1024, "%llu",
                     (unsigned long long)tree_bytes);

        ASSERT_OK(jr_rootfs_remove(dfd, "tree", &e), e);
        cr_assert_lt(stat(tree, &st), 0);
        _cleanup_free_ char *text = read_text(precious);
        cr_assert(text && !strcmp(text, "keep me\n"), "the walk followed a symlink");
        /* removing what is not there is not an error */
        ASSERT_OK(jr_rootfs_remove(dfd, "tree", &e), e);
        close(dfd);
}

/* A bind mount left inside a tree (same filesystem, same st_dev) is not deleted
 * through, and du does not count it. In a child with its own mount namespace, so the
 * mount dies with it. */
Test(rootfs, remove_refuses_to_cross_a_bind_mount)
{
        _cleanup_free_ char *outside = path_in(tmpdir, "outside");
        _cleanup_free_ char *precious = path_in(tmpdir, "outside/precious");
        _cleanup_free_ char *tree = path_in(tmpdir, "tree");
        _cleanup_free_ char *mnt = path_in(tmpdir, "tree/cache");
        cr_assert_eq(mkdir(outside, 0755), 0);
        write_text(precious, "keep me\n");
        cr_assert_eq(mkdir(tree, 0755), 0);
        cr_assert_eq(mkdir(mnt, 0755), 0);
        pid_t pid = fork();
        cr_assert_geq(pid, 0);
        if (pid == 0) {
                if (unshare(CLONE_NEWNS) < 0 ||
                    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
                    mount(outside, mnt, NULL, MS_BIND, NULL) < 0)
                        _exit(10);
                int dfd = open(tmpdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                jr_error e;
                uint64_t bytes = 0;
                if (jr_rootfs_du(dfd, "tree", &bytes, &e) < 0 || bytes > 64 * 1024)
                        _exit(11);
                if (jr_rootfs_remove(dfd, "tree", &e) == 0 || e.err != EXDEV)
                        _exit(12);
                if (!strstr(e.msg, "cache\" is a mount point"))
                        _exit(13);
                _exit(0);
        }
        int status;
        cr_assert_eq(waitpid(pid, &status, 0), pid);
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
        _cleanup_free_ char *text = read_text(precious);
        cr_assert(text && !strcmp(text, "keep me\n"), "deleted through a bind mount");
}

/* ---- the trees built on this machine ---- */

static const struct {
        const char *tree;
        const char *must;     /* a package the manifest must list */
        const char *must_not; /* a package it must not list */
} expected[] = {
    {"gcc", "g++-12\t", "openjdk-17-jdk-headless\t"},
    {"go", "golang-1.19-go\t", "gcc-12\t"},
    {"java", "openjdk-17-jdk-headless\t", "gcc-12\t"},
    {"java-run", "openjdk-17-jre-headless\t", "openjdk-17-jdk-headless\t"},
    {"python", "python3.11\t", "perl\t"},
    {"rust", "rustc\t", "perl\t"},
    {"fpc", "fp-compiler-3.2.2\t", "gcc-12\t"},
    {"ghc", "ghc\t", "perl\t"},
    {"nodejs", "nodejs\t", "npm\t"},
    {"ruby", "ruby3.1\t", "perl\t"},
    {"pypy3", "pypy3\t", "python3.11\t"},
    {"kotlin", "kotlin\t", "libx11-6\t"},
};

Test(rootfs, built_trees_have_manifests)
{
        const char *dir = jr_rootfs_default_dir();
        int found = 0;
        for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++) {
                char path[4096];
                jr_error e;
                if (jr_rootfs_path(dir, expected[i].tree, path, sizeof path, &e) < 0) {
                        cr_log_warn("%s", e.msg);
                        continue;
                }
                found++;
                _cleanup_free_ char *mpath = path_in(path, ".jailrun/manifest");
                _cleanup_free_ char *m = read_text(mpath);
                cr_assert(m && *m, "%s: empty manifest", expected[i].tree);
                /* "package<TAB>version<TAB>arch" lines, starting at a line */
                char want[128];
                snprintf(want, sizeof want, "\n%s", expected[i].must);
                cr_assert(strstr(m, want), "%s: no %s in the manifest", expected[i].tree,
                          expected[i].must);
                snprintf(want, sizeof want, "\n%s", expected[i].must_not);
                cr_assert_null(strstr(m, want), "%s: %s in the manifest", expected[i].tree,
                               expected[i].must_not);
                for (char *line = m; *line; line = strchr(line, '\n') + 1) {
                        char *tab1 = strchr(line, '\t'), *nl = strchr(line, '\n');
                        cr_assert(nl && tab1 && tab1 < nl && strchr(tab1 + 1, '\t') < nl,
                                  "%s: bad manifest line", expected[i].tree);
                }
                _cleanup_free_ char *ipath = path_in(path, ".jailrun/build-info");
                _cleanup_free_ char *info = read_text(ipath);
                snprintf(want, sizeof want, "tree = %s\n", expected[i].tree);
                cr_assert(info && strstr(info, want), "%s", ipath);
                cr_assert(strstr(info, "command = mmdebstrap "), "%s", info);
                /* stripped: no documentation, no apt lists */
                _cleanup_free_ char *doc = path_in(path, "usr/share/doc/bash");
                _cleanup_free_ char *lists = path_in(path, "var/lib/apt/lists/lock");
                struct stat st;
                cr_assert_lt(lstat(doc, &st), 0, "%s not stripped", doc);
                cr_assert_lt(lstat(lists, &st), 0, "%s not stripped", lists);
        }
        if (!found)
                cr_skip_test("no tree in %s: `jailrun rootfs build all` builds them", dir);
}

/* ---- a tree rebuilt while jails run from it ---- */

static void swap_tree_files(const char *recipes, const char *marker, const char *other)
{
        _cleanup_free_ char *m = path_in(recipes, "files/swap/etc/marker");
        _cleanup_free_ char *o = path_in(recipes, "files/swap/etc/other");
        write_text(m, marker);
        write_text(o, other);
}

static int old_trees(const char *trees)
{
        int n = 0;
        DIR *d = opendir(trees);
        cr_assert(d);
        struct dirent *de;
        while ((de = readdir(d)))
                n += !strncmp(de->d_name, "swap.old-", 9);
        closedir(d);
        return n;
}

/* `jailrun rootfs build --force` while a jail runs from the tree: the running jail goes
 * on seeing the old tree whole, a file it had not opened before the swap included; a
 * jail started after the swap sees the new tree; the old tree is kept while the jail
 * holds it and removed by the next build once it has ended. The tree is a small one of
 * the test's own (variant none: files only, no mmdebstrap). */
Test(rootfs, rebuild_while_a_jail_runs)
{
        _cleanup_free_ char *recipes = path_in(tmpdir, "recipes");
        _cleanup_free_ char *etc = path_in(tmpdir, "recipes/files/swap/etc");
        _cleanup_free_ char *recipe = path_in(tmpdir, "recipes/swap.rootfs");
        _cleanup_free_ char *trees = path_in(tmpdir, "trees");
        _cleanup_free_ char *tree = path_in(tmpdir, "trees/swap");
        _cleanup_free_ char *out_path = path_in(tmpdir, "jail.out");
        _cleanup_free_ char *report = path_in(tmpdir, "jail.report");
        cr_assert_eq(mkdir(recipes, 0755), 0);
        char *files = path_in(tmpdir, "recipes/files");
        cr_assert_eq(mkdir(files, 0755), 0);
        free(files);
        files = path_in(tmpdir, "recipes/files/swap");
        cr_assert_eq(mkdir(files, 0755), 0);
        free(files);
        cr_assert_eq(mkdir(etc, 0755), 0);
        write_text(recipe, "name = swap\ndescription = the swap test's tree\nvariant = none\n"
                           "files = files/swap\n");
        swap_tree_files(recipes, "one\n", "first\n");
        char *out, *err;
        int st = jailrun_v(&out, &err, "rootfs", "build", "--dir", trees, "--recipes", recipes,
                           "swap", NULL);
        cr_assert_eq(st, 0, "exit %d\n%s", st, err);
        free(out);
        free(err);
        struct stat before;
        cr_assert_eq(stat(tree, &before), 0);

        /* the long-running jail: reads /etc/marker, waits for a byte on its stdin */
        int in[2];
        cr_assert_eq(pipe2(in, O_CLOEXEC), 0);
        pid_t pid = fork();
        cr_assert_geq(pid, 0);
        if (pid == 0) {
                dup2(in[0], 0);
                execl(tu_build("jailrun"), "jailrun", "exec", "--rootfs", tree, "--bind",
                      tu_build("hostile:/hostile"), "--stdin", "/dev/stdin", "--stdout", out_path,
                      "--report", report, "--wall-ms", "120000", "--", "/hostile/readtwice",
                      "/etc/marker", "/etc/other", (char *)NULL);
                _exit(127);
        }
        close(in[0]);
        char *text = NULL;
        for (int i = 0; i < 3000; i++) {
                free(text);
                text = read_text(out_path);
                if (text && strstr(text, "\n"))
                        break;
                usleep(10000);
        }
        cr_assert(text && !strcmp(text, "before /etc/marker=one\n"), "%s", text ? text : "(none)");
        free(text);

        /* rebuilt and swapped in while the jail runs */
        swap_tree_files(recipes, "two\n", "second\n");
        st = jailrun_v(&out, &err, "rootfs", "build", "--dir", trees, "--recipes", recipes,
                       "--force", "swap", NULL);
        cr_assert_eq(st, 0, "exit %d\n%s", st, err);
        cr_assert(strstr(err, "jails still use the old tree: kept as swap.old-"), "%s", err);
        free(out);
        free(err);
        struct stat after;
        cr_assert_eq(stat(tree, &after), 0);
        cr_assert_neq(after.st_ino, before.st_ino, "the tree was not replaced");
        cr_assert_eq(old_trees(trees), 1);

        /* a jail started now gets the new tree */
        _cleanup_free_ char *one_byte = path_in(tmpdir, "one-byte");
        write_text(one_byte, "x");
        st = jailrun_v(&out, &err, "exec", "--rootfs", tree, "--bind", tu_build("hostile:/hostile"),
                       "--stdin", one_byte, "--stdout", "-", "--", "/hostile/readtwice",
                       "/etc/marker", "/etc/other", NULL);
        cr_assert_eq(st, 0, "exit %d\n%s", st, err);
        cr_assert(strstr(out, "before /etc/marker=two\nafter /etc/marker=two\n"
                              "after /etc/other=second\nend=1\n"),
                  "%s", out);
        free(out);
        free(err);

        /* the first jail, let go: it saw the old tree, whole */
        cr_assert_eq(write(in[1], "x", 1), 1);
        close(in[1]);
        int ws;
        cr_assert_eq(waitpid(pid, &ws, 0), pid);
        cr_assert(WIFEXITED(ws) && WEXITSTATUS(ws) == 0, "status %#x", ws);
        text = read_text(out_path);
        cr_assert_str_eq(text,
                         "before /etc/marker=one\nafter /etc/marker=one\nafter /etc/other=first\n"
                         "end=1\n");
        free(text);
        text = read_text(report);
        cr_assert(text && strstr(text, "\"status\":\"OK\""), "%s", text ? text : "(none)");
        free(text);

        /* no jail holds the old tree any more: the next build removes it */
        cr_assert_eq(old_trees(trees), 1);
        st = jailrun_v(&out, &err, "rootfs", "build", "--dir", trees, "--recipes", recipes, "swap",
                       NULL);
        cr_assert_eq(st, 0, "exit %d\n%s", st, err);
        cr_assert(strstr(err, "an old tree no jail uses any more"), "%s", err);
        free(out);
        free(err);
        cr_assert_eq(old_trees(trees), 0);
}
