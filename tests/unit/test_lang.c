/* The parser of langs/<name>.lang: a complete file, every error class (each naming the file and
 * line), placeholder expansion, the environment merge, artifacts, and the shipped
 * langs/ files. Each test writes its files in its own directory under /tmp. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "judge.h"
#include "lang.h"
#include "strv.h"
#include "testutil.h"

static char *tmpdir;

static void setup(void)
{
        tmpdir = tu_scratch("/tmp/jr-lang-test.");
}

static void teardown(void)
{
        tu_rm_rf(tmpdir);
        free(tmpdir);
}

TestSuite(lang, .init = setup, .fini = teardown);

static const char *write_file(const char *name, const char *text)
{
        static char path[512];
        snprintf(path, sizeof path, "%s/%s", tmpdir, name);
        FILE *f = fopen(path, "w");
        cr_assert(f, "create %s", path);
        fputs(text, f);
        fclose(f);
        return path;
}

static const char full[] =
    "# a comment line\n"
    "name         = java   # trailing comment\n"
    "source       = Main.java\n"
    "build        = javac -J-Xmx{heap_mb}m -encoding UTF-8 {src}\n"
    "build_rootfs = java\n"
    "build_time   = 1m30s\n"
    "build_memory = 1GiB\n"
    "build_pids   = 128\n"
    "build_nofile = 1024\n"
    "build_tmp    = 256MiB\n"
    "\n"
    "run            = java -Xmx{heap_mb}m -Xss64m 'has space' \"q\\\"uote#\" -cp /work Main\n"
    "run_rootfs     = java-run\n"
    "run_extra_pids = 64\n"
    "min_memory     = 96MiB\n"
    "heap_reserve   = 40MiB\n"
    "env       = PATH=/usr/bin:/bin\n"
    "env       = HOME=/tmp\n"
    "env       = X=outer\n"
    "build_env = X=build\n"
    "run_env   = X=run\n"
    "run_env   = MEM={mem_mb}\n"
    "artifacts = Main.class\n"
    "artifacts = Main$*.class\n"
    "comment   = \"#\"\n";

Test(lang, full_file)
{
        jr_lang *l = NULL;
        jr_error e = {0};
        const char *path = write_file("java.lang", full);
        ASSERT_OK(jr_lang_load_file(path, &l, &e), e);
        cr_assert_str_eq(l->name, "java");
        cr_assert_str_eq(l->path, path);
        cr_assert_str_eq(l->source, "Main.java");
        cr_assert_eq(jr_strv_len(l->build), 5);
        cr_assert_str_eq(l->build[1], "-J-Xmx{heap_mb}m");
        cr_assert_str_eq(l->build_rootfs, "java");
        cr_assert_eq(l->build_time_ms, 90000);
        cr_assert_eq(l->build_memory_bytes, 1ULL << 30);
        cr_assert_eq(l->build_pids, 128);
        cr_assert_eq(l->build_nofile, 1024);
        cr_assert_eq(l->build_tmp_bytes, 256ULL << 20);
        cr_assert_eq(jr_strv_len(l->run), 8);
        cr_assert_str_eq(l->run[3], "has space");
        cr_assert_str_eq(l->run[4], "q\"uote#");
        cr_assert_str_eq(l->run_rootfs, "java-run");
        cr_assert_eq(l->run_extra_pids, 64);
        cr_assert_eq(l->min_memory_bytes, 96ULL << 20);
        cr_assert_eq(l->heap_reserve_bytes, 40ULL << 20);
        cr_assert_eq(jr_strv_len(l->env), 3);
        cr_assert_eq(jr_strv_len(l->artifacts), 2);
        cr_assert_str_eq(l->artifacts[1], "Main$*.class");
        cr_assert_str_eq(l->comment, "#");
        jr_lang_free(l);

        /* optional, and one word */
        const char *p2 = write_file("c.lang", "name = c\nsource = main.c\nrun = /work/a.out\n"
                                              "run_rootfs = static\n");
        ASSERT_OK(jr_lang_load_file(p2, &l, &e), e);
        cr_assert_null(l->comment);
        jr_lang_free(l);
        p2 = write_file("c.lang", "name = c\nsource = main.c\nrun = /work/a.out\n"
                                  "run_rootfs = static\ncomment = / /\n");
        cr_assert_lt(jr_lang_load_file(p2, &l, &e), 0);
        cr_assert(strstr(e.msg, "c.lang:5: comment"), "%s", e.msg);
}

Test(lang, commands_expand_placeholders_and_merge_env)
{
        jr_lang *l = NULL;
        jr_error e = {0};
        ASSERT_OK(jr_lang_load_file(write_file("java.lang", full), &l, &e), e);

        /* a 16 MiB request is raised to the 96 MiB minimum */
        uint64_t mem = jr_lang_memory(l, 16ULL << 20);
        cr_assert_eq(mem, 96ULL << 20);
        cr_assert_eq(jr_lang_memory(l, 200ULL << 20), 200ULL << 20);

        jr_lang_cmd c = {0};
        ASSERT_OK(jr_lang_command(l, JR_LANG_RUN, mem, &c, &e), e);
        cr_assert_str_eq(c.argv[0], "java");
        cr_assert_str_eq(c.argv[1], "-Xmx56m"); /* 96 - 40 */
        cr_assert_str_eq(c.argv[7], "Main");
        cr_assert_null(c.argv[8]);
        cr_assert_str_eq(c.envp[0], "PATH=/usr/bin:/bin");
        cr_assert_str_eq(c.envp[1], "HOME=/tmp");
        cr_assert_str_eq(c.envp[2], "X=run"); /* replaced in place */
        cr_assert_str_eq(c.envp[3], "MEM=96");
        cr_assert_null(c.envp[4]);
        jr_lang_cmd_free(&c);

        ASSERT_OK(jr_lang_command(l, JR_LANG_BUILD, l->build_memory_bytes, &c, &e), e);
        cr_assert_str_eq(c.argv[1], "-J-Xmx984m"); /* 1024 - 40 */
        cr_assert_str_eq(c.argv[4], "Main.java");
        cr_assert_str_eq(c.envp[2], "X=build");
        cr_assert_null(c.envp[3]);
        jr_lang_cmd_free(&c);

        /* no memory limit is a caller bug, not a silent -Xmx0m */
        cr_assert_lt(jr_lang_command(l, JR_LANG_RUN, 0, &c, &e), 0);
        cr_assert_null(c.argv);
        jr_lang_free(l);
}

Test(lang, literal_brace_and_no_build)
{
        jr_lang *l = NULL;
        jr_error e = {0};
        const char *path = write_file("sh.lang", "name = sh\nsource = main.sh\n"
                                                 "run = sh -c 'echo {{} {src}' x\n"
                                                 "run_rootfs = static\n");
        ASSERT_OK(jr_lang_load_file(path, &l, &e), e);
        cr_assert_null(l->build);
        cr_assert_null(l->artifact_check);
        /* no min_memory: the least of any run, so a tiny request is raised, never refused */
        cr_assert_eq(l->min_memory_bytes, JR_LANG_MIN_MEMORY);
        cr_assert_eq(jr_lang_memory(l, 1024), JR_LANG_MIN_MEMORY);
        jr_lang_cmd c = {0};
        cr_assert_lt(jr_lang_command(l, JR_LANG_BUILD, 64ULL << 20, &c, &e), 0);
        cr_assert(strstr(e.msg, "no build step"), "%s", e.msg);
        ASSERT_OK(jr_lang_command(l, JR_LANG_RUN, 64ULL << 20, &c, &e), e);
        cr_assert_str_eq(c.argv[2], "echo {} main.sh");
        cr_assert_null(c.envp[0]); /* an empty environment */
        jr_lang_cmd_free(&c);
        jr_lang_free(l);
}

Test(lang, artifact_check)
{
        jr_lang *l = NULL;
        jr_error e = {0};
        const char *path = write_file("kt.lang", "name = kt\nsource = main.kt\nrun = ./a\n"
                                                 "run_rootfs = static\nartifacts = *.class\n"
                                                 "artifact_check = MainKt.class "
                                                 "java-class:MainKt 'no top-level main'\n");
        ASSERT_OK(jr_lang_load_file(path, &l, &e), e);
        cr_assert_eq(jr_strv_len(l->artifact_check), 3);
        cr_assert_str_eq(l->artifact_check[0], "MainKt.class");
        cr_assert_str_eq(l->artifact_check[1], "java-class:MainKt");
        cr_assert_str_eq(l->artifact_check[2], "no top-level main");
        jr_lang_free(l);
}

Test(lang, artifacts_match_file_names_only)
{
        jr_lang *l = NULL;
        jr_error e = {0};
        ASSERT_OK(jr_lang_load_file(write_file("java.lang", full), &l, &e), e);
        cr_assert(jr_lang_is_artifact(l, "Main.class"));
        cr_assert(jr_lang_is_artifact(l, "Main$Inner.class"));
        cr_assert(jr_lang_is_artifact(l, "Main$1.class"));
        cr_assert_not(jr_lang_is_artifact(l, "Other.class"));
        cr_assert_not(jr_lang_is_artifact(l, "Main.java"));
        cr_assert_not(jr_lang_is_artifact(l, "sub/Main.class"));
        cr_assert_not(jr_lang_is_artifact(l, ".."));
        cr_assert_not(jr_lang_is_artifact(l, ""));
        jr_lang_free(l);
}

Test(lang, split_words)
{
        char **w = NULL;
        size_t n = 0;
        jr_error e = {0};
        ASSERT_OK(jr_strv_split_words("  a 'b c' \"d \\\"e\\\\\" f'g'h  ''  ", &w, &n, &e), e);
        cr_assert_eq(n, 5);
        cr_assert_str_eq(w[0], "a");
        cr_assert_str_eq(w[1], "b c");
        cr_assert_str_eq(w[2], "d \"e\\");
        cr_assert_str_eq(w[3], "fgh");
        cr_assert_str_eq(w[4], "");
        cr_assert_null(w[5]);
        jr_strv_free(w);

        ASSERT_OK(jr_strv_split_words("   ", &w, &n, &e), e);
        cr_assert_eq(n, 0);
        cr_assert_null(w[0]);
        jr_strv_free(w);

        w = NULL;
        cr_assert_lt(jr_strv_split_words("a 'b", &w, &n, &e), 0);
        cr_assert_null(w);
        cr_assert_lt(jr_strv_split_words("a \"b", &w, &n, &e), 0);
}

/* Every error class: the text of a file "x.lang", the line the message must name
 * (0: the file only) and a piece of the message. */
struct bad {
        const char *text;
        unsigned line;
        const char *msg;
};

#define OK_TAIL "source = main.x\nrun = ./a\nrun_rootfs = static\n"

static const struct bad bad_files[] = {
    {"name = x\nfoo = 1\n" OK_TAIL, 2, "unknown key \"foo\""},
    {"name = x\nname = x\n" OK_TAIL, 2, "duplicate key \"name\" (first on line 1)"},
    {"name = x\njust words\n" OK_TAIL, 2, "expected \"key = value\""},
    {"name = x\n= 1\n" OK_TAIL, 2, "missing key before '='"},
    {"name = x\nBad-Key = 1\n" OK_TAIL, 2, "invalid key \"Bad-Key\""},
    {"name = x y\n" OK_TAIL, 1, "expected one word, got 2"},
    {"name = X\n" OK_TAIL, 1, "invalid name \"X\""},
    {"name = y\n" OK_TAIL, 1, "does not match the file name \"x.lang\""},
    {"name = x\nrun = ./a\nrun_rootfs = static\n", 0, "missing key \"source\""},
    {"name = x\nsource = a\nrun_rootfs = static\n", 0, "missing key \"run\""},
    {"name = x\nsource = a\nrun = ./a\n", 0, "missing key \"run_rootfs\""},
    {"source = a\nrun = ./a\nrun_rootfs = static\n", 0, "missing key \"name\""},
    {"name = x\nsource = ../main.c\nrun = ./a\nrun_rootfs = static\n", 2, "not a plain file name"},
    {"name = x\nbuild = cc {src}\n" OK_TAIL, 0, "\"build\" needs \"build_rootfs\""},
    {"name = x\nbuild_time = 5s\n" OK_TAIL, 2, "\"build_time\" without \"build\""},
    {"name = x\nbuild = cc\nbuild_rootfs = gcc\nbuild_time = 5x\n" OK_TAIL, 4, "build_time: "},
    {"name = x\nbuild = cc\nbuild_rootfs = gcc\nbuild_time = 5\n" OK_TAIL, 4, "build_time"},
    {"name = x\nbuild = cc\nbuild_rootfs = gcc\nbuild_memory = lots\n" OK_TAIL, 4,
     "build_memory: "},
    {"name = x\nbuild = cc\nbuild_rootfs = gcc\nbuild_pids = -1\n" OK_TAIL, 4, "build_pids: "},
    {"name = x\nbuild = cc\nbuild_rootfs = gcc\nbuild_nofile = many\n" OK_TAIL, 4,
     "build_nofile: "},
    {"name = x\nbuild_nofile = 256\n" OK_TAIL, 2, "\"build_nofile\" without \"build\""},
    {"name = x\nbuild =\nbuild_rootfs = gcc\n" OK_TAIL, 2, "build: empty command"},
    {"name = x\nbuild = cc 'main.c\nbuild_rootfs = gcc\n" OK_TAIL, 2, "unterminated ' quote"},
    {"name = x\nbuild = cc \"main.c\nbuild_rootfs = gcc\n" OK_TAIL, 2, "unterminated \" quote"},
    {"name = x\nbuild = cc {source}\nbuild_rootfs = gcc\n" OK_TAIL, 2,
     "unknown placeholder \"{source}\""},
    {"name = x\nbuild = cc {src\nbuild_rootfs = gcc\n" OK_TAIL, 2, "unterminated placeholder"},
    {"name = x\nenv = 1PATH=/bin\n" OK_TAIL, 2, "expected NAME=value"},
    {"name = x\nenv = PATH\n" OK_TAIL, 2, "expected NAME=value"},
    {"name = x\nenv = A=1 B=2\n" OK_TAIL, 2, "expected one word"},
    {"name = x\nenv = A={nope}\n" OK_TAIL, 2, "unknown placeholder \"{nope}\""},
    {"name = x\nartifacts = out/a.out\n" OK_TAIL, 2, "not a file name pattern"},
    {"name = x\nartifacts =\n" OK_TAIL, 2, "artifacts: empty list"},
    {"name = x\nrun_rootfs = a/b\nsource = a\nrun = ./a\n", 2, "invalid name \"a/b\""},
    {"name = x\nheap_reserve = 64MiB\nmin_memory = 32MiB\n" OK_TAIL, 0,
     "heap_reserve needs a larger min_memory"},
    {"name = x\nheap_reserve = 64MiB\n" OK_TAIL, 0, "heap_reserve needs a larger min_memory"},
    {"name = x\nrun_extra_pids = 5000000\n" OK_TAIL, 2, "run_extra_pids: "},
    {"name = x\nmin_memory = 512KiB\n" OK_TAIL, 2, "min_memory is below the least of any run"},
    {"name = x\nartifacts = a\nartifact_check = a elf-executable\n" OK_TAIL, 3,
     "artifact_check: expected FILE FORMAT \"MESSAGE\""},
    {"name = x\nartifacts = a\nartifact_check = a elf-executable ''\n" OK_TAIL, 3,
     "artifact_check: expected FILE FORMAT \"MESSAGE\""},
    {"name = x\nartifacts = a\nartifact_check = a/b elf-executable no\n" OK_TAIL, 3,
     "artifact_check: \"a/b\" is not a plain file name"},
    {"name = x\nartifacts = a\nartifact_check = a pe-executable no\n" OK_TAIL, 3,
     "artifact_check: unknown format \"pe-executable\""},
    {"name = x\nartifacts = a\nartifact_check = a java-class:foo.Main no\n" OK_TAIL, 3,
     "artifact_check: format \"java-class:foo.Main\": a class name without a package"},
    {"name = x\nartifacts = a\nartifact_check = a java-class: no\n" OK_TAIL, 3,
     "a class name without a package"},
    {"name = x\nartifacts = *.o\nartifact_check = a elf-executable \"no a\"\n" OK_TAIL, 3,
     "artifact_check: \"a\" is not one of the artifacts"},
    {"name = x\nallowed_modules = math\n" OK_TAIL, 2,
     "allowed_modules: only for Python, a language whose source is a .py file, not "
     "\"main.x\""},
    {"name = x\nsource = main.py\nrun = ./a\nrun_rootfs = static\nallowed_modules = math "
     "os/path\n",
     5, "allowed_modules: \"os/path\" is not a module name such as math or os.path"},
    {"name = x\nsource = main.py\nrun = ./a\nrun_rootfs = static\nallowed_modules = .math\n", 5,
     "allowed_modules: \".math\" is not a module name"},
    {"name = x\nsource = main.py\nrun = ./a\nrun_rootfs = static\nallowed_modules = os.\n", 5,
     "allowed_modules: \"os.\" is not a module name"},
    {"name = x\nsource = main.py\nrun = ./a\nrun_rootfs = static\nallowed_modules = 'ma th'\n", 5,
     "allowed_modules: \"ma th\" is not a module name"},
};

/* Parameters are indices: criterion runs each test in a fresh process where the
 * table's pointers would not be valid. */
ParameterizedTestParameters(lang, bad_file)
{
        static size_t idx[sizeof bad_files / sizeof bad_files[0]];
        for (size_t i = 0; i < sizeof idx / sizeof idx[0]; i++)
                idx[i] = i;
        return cr_make_param_array(size_t, idx, sizeof idx / sizeof idx[0]);
}

ParameterizedTest(size_t *i, lang, bad_file)
{
        const struct bad *b = &bad_files[*i];
        const char *path = write_file("x.lang", b->text);
        jr_lang *l = (jr_lang *)0x1;
        jr_error e = {0};
        cr_assert_lt(jr_lang_load_file(path, &l, &e), 0, "accepted:\n%s", b->text);
        cr_assert_eq(l, (jr_lang *)0x1, "out-parameter touched on failure");
        char where[600];
        if (b->line)
                snprintf(where, sizeof where, "%s:%u: ", path, b->line);
        else
                snprintf(where, sizeof where, "%s: ", path);
        cr_assert_eq(strncmp(e.msg, where, strlen(where)), 0, "expected \"%s...\", got \"%s\"",
                     where, e.msg);
        cr_assert(strstr(e.msg, b->msg), "expected \"%s\" in \"%s\"", b->msg, e.msg);
}

Test(lang, long_line_and_nul_byte)
{
        char *text = malloc(5000);
        memset(text, 'a', 4999);
        memcpy(text, "name = ", 7);
        text[4999] = '\0';
        const char *path = write_file("x.lang", text);
        free(text);
        jr_lang *l = NULL;
        jr_error e = {0};
        cr_assert_lt(jr_lang_load_file(path, &l, &e), 0);
        cr_assert(strstr(e.msg, ":1: line too long"), "%s", e.msg);

        FILE *f = fopen(path, "w");
        fwrite("name = x\nsource = a\0b\n", 1, 23, f);
        fclose(f);
        cr_assert_lt(jr_lang_load_file(path, &l, &e), 0);
        cr_assert(strstr(e.msg, ":2: NUL byte"), "%s", e.msg);
}

Test(lang, file_name_and_missing_file)
{
        jr_lang *l = NULL;
        jr_error e = {0};
        cr_assert_lt(jr_lang_load_file(write_file("x.txt", "name = x\n"), &l, &e), 0);
        cr_assert(strstr(e.msg, "not a .lang file"), "%s", e.msg);
        char path[512];
        snprintf(path, sizeof path, "%s/none.lang", tmpdir);
        cr_assert_lt(jr_lang_load_file(path, &l, &e), 0);
        cr_assert_eq(e.err, ENOENT);
        cr_assert(strstr(e.msg, path), "%s", e.msg);
}

Test(lang, load_dir)
{
        jr_lang_set *s = NULL;
        jr_error e = {0};
        /* no .lang files at all */
        cr_assert_lt(jr_lang_load_dir(tmpdir, &s, &e), 0);
        cr_assert(strstr(e.msg, "no *.lang files"), "%s", e.msg);

        write_file("b.lang", "name = b\n" OK_TAIL);
        write_file("a.lang", "name = a\n" OK_TAIL);
        write_file("README.md", "not a language\n");
        write_file(".hidden.lang", "garbage\n");
        ASSERT_OK(jr_lang_load_dir(tmpdir, &s, &e), e);
        cr_assert_eq(jr_lang_count(s), 2);
        const char *const *names = jr_lang_names(s);
        cr_assert_str_eq(names[0], "a");
        cr_assert_str_eq(names[1], "b");
        cr_assert_null(names[2]);
        cr_assert_str_eq(jr_lang_get(s, 1)->name, "b");
        cr_assert_null(jr_lang_get(s, 2));
        cr_assert_not_null(jr_lang_find(s, "a"));
        cr_assert_null(jr_lang_find(s, "c"));
        cr_assert_null(jr_lang_find(s, NULL));
        jr_lang_set_free(s);

        /* one bad file fails the whole set, naming it */
        write_file("c.lang", "name = c\nwhat = 1\n" OK_TAIL);
        s = NULL;
        cr_assert_lt(jr_lang_load_dir(tmpdir, &s, &e), 0);
        cr_assert_null(s);
        cr_assert(strstr(e.msg, "/c.lang:2: unknown key \"what\""), "%s", e.msg);

        cr_assert_lt(jr_lang_load_dir("/nonexistent-jr-langs", &s, &e), 0);
        cr_assert_eq(e.err, ENOENT);
}

/* The files shipped in langs/: all load, exactly the shipped languages and the standards'
 * variants are there, and every command expands for a small and a large limit. */
Test(lang, shipped_languages)
{
        jr_lang_set *s = NULL;
        jr_error e = {0};
        ASSERT_OK(jr_lang_load_dir(JR_SOURCE_DIR "/langs", &s, &e), e);
        static const char *const want[] = {
            "c",    "c11",        "c17",    "cpp",    "cpp14", "cpp17",  "cpp20", "go",   "haskell",
            "java", "javascript", "kotlin", "pascal", "pypy3", "python", "ruby",  "rust",
        };
        const size_t n_want = sizeof want / sizeof want[0];
        cr_assert_eq(jr_lang_count(s), n_want);
        for (size_t i = 0; i < n_want; i++) {
                cr_assert_str_eq(jr_lang_names(s)[i], want[i]);
                const jr_lang *l = jr_lang_get(s, i);
                cr_assert_not_null(l->build, "%s: every language has a build step", l->name);
                cr_assert_not_null(l->build_rootfs);
                cr_assert_not_null(l->artifacts, "%s: no artifacts", l->name);
                cr_assert_not_null(l->comment, "%s: no comment marker (bench/ needs it)", l->name);
                /* every language has a minimum: a request of a byte is raised to it */
                cr_assert_geq(l->min_memory_bytes, JR_LANG_MIN_MEMORY, "%s", l->name);
                cr_assert_eq(jr_lang_memory(l, 1), l->min_memory_bytes, "%s", l->name);
                static const uint64_t mems[] = {1, 1ULL << 20, 256ULL << 20};
                for (size_t m = 0; m < 3; m++)
                        for (int step = JR_LANG_BUILD; step <= JR_LANG_RUN; step++) {
                                jr_lang_cmd c = {0};
                                uint64_t mem = step == JR_LANG_BUILD ? l->build_memory_bytes
                                                                     : jr_lang_memory(l, mems[m]);
                                ASSERT_OK(jr_lang_command(l, step, mem, &c, &e), e);
                                for (char **p = c.argv; *p; p++)
                                        cr_assert_null(strchr(*p, '{'), "%s: %s", l->name, *p);
                                bool path = false;
                                for (char **p = c.envp; *p; p++)
                                        path |= !strncmp(*p, "PATH=", 5);
                                cr_assert(path, "%s: no PATH", l->name);
                                jr_lang_cmd_free(&c);
                        }
        }
        /* the compiled languages' artifacts */
        cr_assert(jr_lang_is_artifact(jr_lang_find(s, "c"), "a.out"));
        cr_assert(jr_lang_is_artifact(jr_lang_find(s, "java"), "Main$1.class"));
        cr_assert_not(jr_lang_is_artifact(jr_lang_find(s, "c"), "main.c"));
        /* the builds that can succeed without making a program are checked */
        cr_assert_str_eq(jr_lang_find(s, "go")->artifact_check[1], "elf-executable");
        cr_assert_str_eq(jr_lang_find(s, "java")->artifact_check[1], "java-class:Main");
        jr_lang_set_free(s);
}

/* allowed_modules: Python's allowed-modules policy of one language, for hosts that do not
 * set EXECUTOR_ALLOWED_MODULES; the variable wins where it is set. */
Test(lang, allowed_modules)
{
        const char *path = write_file("py.lang", "name = py\nsource = main.py\nrun = python3 "
                                                 "{src}\nrun_rootfs = python\n"
                                                 "allowed_modules = math random\n"
                                                 "allowed_modules = os.path  # more\n");
        jr_lang *l = NULL;
        jr_error e = {0};
        ASSERT_OK(jr_lang_load_file(path, &l, &e), e);
        cr_assert(jr_lang_is_python(l));
        cr_assert_eq(jr_strv_len(l->allowed_modules), 3);
        cr_assert_str_eq(l->allowed_modules[0], "math");
        cr_assert_str_eq(l->allowed_modules[2], "os.path");
        size_t n = 99;
        const char *const *m = jr_judge_allowed_modules(l, NULL, &n);
        cr_assert_eq(m, (const char *const *)l->allowed_modules,
                     "the file's list without the variable");
        cr_assert_eq(n, 3);
        char *env[] = {"statistics", NULL};
        m = jr_judge_allowed_modules(l, env, &n);
        cr_assert_eq(m, (const char *const *)env, "the variable wins");
        cr_assert_eq(n, 1);
        jr_lang_free(l);

        /* an empty value: a policy that allows no module */
        path = write_file("py.lang", "name = py\nsource = main.py\nrun = python3 {src}\n"
                                     "run_rootfs = python\nallowed_modules =\n");
        ASSERT_OK(jr_lang_load_file(path, &l, &e), e);
        cr_assert_not_null(l->allowed_modules);
        cr_assert_eq(jr_strv_len(l->allowed_modules), 0);
        m = jr_judge_allowed_modules(l, NULL, &n);
        cr_assert_not_null(m);
        cr_assert_eq(n, 0);
        jr_lang_free(l);

        /* none: no policy unless the variable says one; never one for another language */
        path = write_file("py.lang", "name = py\nsource = main.py\nrun = python3 {src}\n"
                                     "run_rootfs = python\n");
        ASSERT_OK(jr_lang_load_file(path, &l, &e), e);
        cr_assert_null(l->allowed_modules);
        cr_assert_null(jr_judge_allowed_modules(l, NULL, &n));
        cr_assert_eq(n, 0);
        cr_assert_eq(jr_judge_allowed_modules(l, env, &n), (const char *const *)env);
        jr_lang_free(l);
        path = write_file("c.lang", "name = c\nsource = main.c\nrun = ./a\nrun_rootfs = static\n");
        ASSERT_OK(jr_lang_load_file(path, &l, &e), e);
        cr_assert_not(jr_lang_is_python(l));
        cr_assert_null(jr_judge_allowed_modules(l, env, &n));
        jr_lang_free(l);
}

/* oom_marker: a runtime's own out-of-memory report is the memory limit (ML). */
Test(lang, oom_markers)
{
        jr_lang_set *s = NULL;
        jr_error e = {0};
        ASSERT_OK(jr_lang_load_dir(JR_SOURCE_DIR "/langs", &s, &e), e);
        const jr_lang *java = jr_lang_find(s, "java"), *c = jr_lang_find(s, "c");
        const char out[] = "Terminating due to java.lang.OutOfMemoryError: Java heap space\n";
        cr_assert(jr_lang_output_says_oom(java, out, sizeof out - 1));
        cr_assert_not(jr_lang_output_says_oom(java, "Exception in thread", 19));
        cr_assert_not(jr_lang_output_says_oom(c, out, sizeof out - 1));
        cr_assert_not(jr_lang_output_says_oom(java, NULL, 0));
        jr_lang_set_free(s);
}
