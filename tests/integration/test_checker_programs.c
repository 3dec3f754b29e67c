/* Integration tests of the jury's programs: checker programs and interactors, through
 * build/jailrun run against the real rootfs trees. Their sources are in tests/jury/; the
 * submissions of tests/cases/checkers/ are judged here too. Run as root. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <yajl/yajl_gen.h>

#include "testutil.h"

/* The source of tests/jury/<name>. */
static char *jury(const char *name)
{
        char path[1024];
        snprintf(path, sizeof path, "%s/tests/jury/%s", JR_SOURCE_DIR, name);
        return tu_read_file(path);
}

/* A submission: the program, its checker or interactor (given by their file names in
 * tests/jury/, the language from the extension), its tests. */
struct spec {
        const char *program; /* file name in tests/jury/, or NULL: `source` */
        const char *language, *source;
        const char *checker_name; /* a built-in checker, or NULL */
        const char *checker;      /* a checker program's file, or NULL */
        const char *checker_source;
        const char *interactor; /* an interactor's file, or NULL */
        const char *input[4], *expected[4];
        size_t n_tests;
        long long time_limit_ms;
        bool all_tests; /* stop_on_failure false */
};

static const char *lang_of(const char *file)
{
        const char *dot = strrchr(file, '.');
        cr_assert(dot, "%s", file);
        return !strcmp(dot, ".py") ? "python" : !strcmp(dot, ".cpp") ? "cpp" : "c";
}

static void gen_str(yajl_gen g, const char *s)
{
        cr_assert_eq(yajl_gen_string(g, (const unsigned char *)s, strlen(s)), yajl_gen_status_ok);
}

static void gen_program(yajl_gen g, const char *key, const char *file, const char *source)
{
        gen_str(g, key);
        yajl_gen_map_open(g);
        gen_str(g, "language");
        gen_str(g, file ? lang_of(file) : "c");
        gen_str(g, "source");
        char *text = file ? jury(file) : strdup(source);
        gen_str(g, text);
        free(text);
        yajl_gen_map_close(g);
}

static char *submission(const struct spec *s)
{
        yajl_gen g = yajl_gen_alloc(NULL);
        yajl_gen_map_open(g);
        gen_str(g, "id");
        gen_str(g, s->program ? s->program : "inline");
        gen_str(g, "language");
        gen_str(g, s->program ? lang_of(s->program) : s->language);
        gen_str(g, "source");
        char *src = s->program ? jury(s->program) : strdup(s->source);
        gen_str(g, src);
        free(src);
        if (s->checker_name) {
                gen_str(g, "checker");
                gen_str(g, s->checker_name);
        }
        if (s->checker || s->checker_source)
                gen_program(g, "checker", s->checker, s->checker_source);
        if (s->interactor)
                gen_program(g, "interactor", s->interactor, NULL);
        gen_str(g, "limits");
        yajl_gen_map_open(g);
        gen_str(g, "time_limit_ms");
        yajl_gen_integer(g, s->time_limit_ms ? s->time_limit_ms : 1000);
        yajl_gen_map_close(g);
        gen_str(g, "stop_on_failure");
        yajl_gen_bool(g, !s->all_tests);
        gen_str(g, "tests");
        yajl_gen_array_open(g);
        for (size_t i = 0; i < s->n_tests; i++) {
                yajl_gen_map_open(g);
                gen_str(g, "input");
                gen_str(g, s->input[i]);
                if (s->expected[i]) {
                        gen_str(g, "expected_output");
                        gen_str(g, s->expected[i]);
                }
                yajl_gen_map_close(g);
        }
        yajl_gen_array_close(g);
        yajl_gen_map_close(g);
        const unsigned char *buf;
        size_t len;
        yajl_gen_get_buf(g, &buf, &len);
        char *out = strndup((const char *)buf, len);
        yajl_gen_free(g);
        return out;
}

/* `jailrun run` with its events: it must judge (exit 0) and print a result. */
static struct tu_judged judge_json(const char *json)
{
        struct tu_judged j = tu_judge(json, NULL, true);
        cr_assert(WIFEXITED(j.exit) && WEXITSTATUS(j.exit) == 0, "exit %d: %s\n%s",
                  WEXITSTATUS(j.exit), j.err, j.out);
        cr_assert(j.result, "no result: %s", j.err);
        return j;
}

static struct tu_judged judge(const struct spec *s)
{
        char *json = submission(s);
        struct tu_judged j = judge_json(json);
        free(json);
        return j;
}

static yajl_val test_of(const struct tu_judged *j, size_t i)
{
        const char *path[] = {"tests", NULL};
        yajl_val t = yajl_tree_get(j->result, path, yajl_t_array);
        cr_assert(t && i < t->u.array.len, "%s", j->out);
        return t->u.array.values[i];
}

static bool has(yajl_val obj, const char *key)
{
        const char *path[] = {key, NULL};
        return yajl_tree_get(obj, path, yajl_t_any) != NULL;
}

/* Test i has `status`, and its error and checker_output contain the given texts (NULL:
 * checker_output absent; "": anything). */
static void expect_test(const struct tu_judged *j, size_t i, const char *status, const char *error,
                        const char *checker_output)
{
        yajl_val t = test_of(j, i);
        cr_assert_str_eq(tu_str(t, "status"), status, "test %zu: %s", i + 1, j->out);
        if (error)
                cr_assert(strstr(tu_str(t, "error"), error), "test %zu: error \"%s\" lacks \"%s\"",
                          i + 1, tu_str(t, "error"), error);
        if (!checker_output)
                cr_assert_not(has(t, "checker_output"), "test %zu: %s", i + 1, j->out);
        else
                cr_assert(strstr(tu_str(t, "checker_output"), checker_output),
                          "test %zu: checker_output \"%s\" lacks \"%s\"", i + 1,
                          tu_str(t, "checker_output"), checker_output);
}

TestSuite(checker, .timeout = 600);

/* ---- checker programs ---- */

#define SQRT_PY "import math\nprint(math.sqrt(int(input())))\n"

Test(checker, testlib_checker_in_c_with_a_tolerance)
{
        struct spec s = {.language = "python",
                         .source = SQRT_PY,
                         .checker = "checker_float.c",
                         .input = {"2\n", "10\n", "3\n", "4\n"},
                         .expected = {"1.41421356\n", "3.16227766017\n", "1.7\n", "2\n"},
                         .n_tests = 4,
                         .all_tests = true};
        struct tu_judged j = judge(&s);
        cr_assert_str_eq(tu_str(j.result, "status"), "WA", "%s", j.out);
        expect_test(&j, 0, "OK", "", "ok: 1 numbers within 1e-6");
        expect_test(&j, 1, "OK", "", "ok: 1 numbers");
        expect_test(&j, 2, "WA", "", "wrong answer: number 1 is 1.732050808, expected 1.7");
        expect_test(&j, 3, "OK", "", "ok");
        /* the program's own output is kept as always; the checker's in checker_output */
        cr_assert_str_eq(tu_str(test_of(&j, 0), "stdout"), "1.4142135623730951\n");
        /* the test events carry it too */
        cr_assert(strstr(j.events, "\"checker_output\":\"wrong answer: number 1"), "%s", j.events);
        tu_judged_free(&j);
}

Test(checker, presentation_error_is_wa_and_a_failed_program_is_not_checked)
{
        struct spec s = {.language = "python",
                         .source = "x = input()\nif x == 'crash':\n    raise SystemExit(3)\n"
                                   "print('one point five' if x == 'words' else x)\n",
                         .checker = "checker_float.c",
                         .input = {"words\n", "crash\n", "7\n", "1.5\n"},
                         .expected = {"1.5\n", "1\n", NULL, "1.5000001\n"},
                         .n_tests = 4,
                         .all_tests = true};
        struct tu_judged j = judge(&s);
        expect_test(&j, 0, "WA", "presentation error (checker exit code 2)",
                    "presentation error: not a number");
        expect_test(&j, 1, "RE", "exit code 3", NULL);
        /* no expected output: the checker gets an empty answer and judges anyway (its
         * answer has no number, the output has one) */
        expect_test(&j, 2, "WA", "", "wrong answer: extra output after 0 numbers");
        expect_test(&j, 3, "OK", "", "ok: 1 numbers");
        tu_judged_free(&j);
}

Test(checker, a_checker_that_fails_is_ie_never_wa)
{
        struct {
                const char *file, *error;
        } cases[] = {
            {"checker_crash.c", "checker failed: signal 11"},
            {"interactor_fail.c", "checker failed: exit code 3 (testlib's fail)"},
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                struct spec s = {.language = "python",
                                 .source = SQRT_PY,
                                 .checker = cases[i].file,
                                 .input = {"4\n", "9\n"},
                                 .expected = {"2\n", "3\n"},
                                 .n_tests = 2};
                struct tu_judged j = judge(&s);
                cr_assert_str_eq(tu_str(j.result, "status"), "IE", "%s", j.out);
                cr_assert(strstr(tu_str(j.result, "error"), cases[i].error), "%s", j.out);
                expect_test(&j, 0, "IE", cases[i].error, "");
                expect_test(&j, 1, "-", "", NULL);
                tu_judged_free(&j);
        }
}

Test(checker, a_checker_that_does_not_build_is_ie)
{
        struct spec s = {.language = "python",
                         .source = SQRT_PY,
                         .checker_source = "int main( {\n",
                         .input = {"4\n"},
                         .expected = {"2\n"},
                         .n_tests = 1};
        struct tu_judged j = judge(&s);
        cr_assert_str_eq(tu_str(j.result, "status"), "IE", "%s", j.out);
        const char *err = tu_str(j.result, "error");
        cr_assert(strstr(err, "checker failed: build failed (exit code 1)"), "%s", err);
        cr_assert(strstr(err, "expected declaration specifiers"), "the compiler says why: %s", err);
        expect_test(&j, 0, "-", "", NULL);
        tu_judged_free(&j);
}

Test(checker, a_hostile_checker_is_contained)
{
        struct spec s = {.language = "python",
                         .source = "print(input())\n",
                         .checker = "checker_hostile.c",
                         .input = {"the input\n"},
                         .expected = {"the answer\n"},
                         .n_tests = 1};
        struct tu_judged j = judge(&s);
        cr_assert_str_eq(tu_str(j.result, "status"), "OK", "%s", j.out);
        const char *said = tu_str(test_of(&j, 0), "checker_output");
        /* the jury's ids: slot 0's uid 60000 + 32768, never the contestant's */
        cr_assert(strstr(said, "uid 92768 gid 92768\n"), "%s", said);
        /* nothing it was given is writable, nor anything else outside its /tmp */
        const char *ro[] = {"write /io/input: Read-only file system",
                            "write /io/output: Read-only file system",
                            "write /io/answer: Read-only file system",
                            "write /work/a.out: Read-only file system",
                            "write /io/new: Read-only file system",
                            "write /etc/passwd: Read-only file system",
                            "chmod output: Read-only file system",
                            "the contestant's build: No such file or directory"};
        for (size_t i = 0; i < sizeof ro / sizeof ro[0]; i++)
                cr_assert(strstr(said, ro[i]), "lacks \"%s\": %s", ro[i], said);
        /* its fork bomb stopped at the pids limit (64 with the checker itself) */
        cr_assert(strstr(said, "forked 63, then: Resource temporarily unavailable"), "%s", said);
        /* and the answer it printed went nowhere but checker_output */
        cr_assert(strstr(said, "the answer\n"), "%s", said);
        cr_assert_str_eq(tu_str(test_of(&j, 0), "stdout"), "the input\n");
        tu_judged_free(&j);
}

Test(checker, a_fork_bomb_checker_ends_in_time)
{
        struct spec s = {.language = "python",
                         .source = SQRT_PY,
                         .checker = "checker_forkbomb.c",
                         .input = {"4\n"},
                         .expected = {"2\n"},
                         .n_tests = 1};
        struct tu_judged j = judge(&s);
        cr_assert_str_eq(tu_str(j.result, "status"), "IE", "%s", j.out);
        expect_test(&j, 0, "IE", "checker failed: time limit", "");
        /* 5 s of CPU or 10 s of wall, and the build */
        cr_assert_lt(j.seconds, 25, "%.1f s", j.seconds);
        tu_judged_free(&j);
}

/* ---- interactors ---- */

/* One guessing game per interactor, program and secret. */
static struct tu_judged guess(const char *interactor, const char *program, long long time_ms)
{
        struct spec s = {.program = program,
                         .interactor = interactor,
                         .input = {"123456789\n", "1\n"},
                         .expected = {NULL, NULL},
                         .n_tests = 2,
                         .time_limit_ms = time_ms,
                         .all_tests = true};
        return judge(&s);
}

static void interactor_suite(const char *interactor)
{
        /* a correct program, in C and in Python: the interactor's stderr is kept */
        const char *good[] = {"guess_ok.c", "guess_ok.py"};
        for (size_t i = 0; i < 2; i++) {
                struct tu_judged j = guess(interactor, good[i], 2000);
                cr_assert_str_eq(tu_str(j.result, "status"), "OK", "%s: %s", good[i], j.out);
                expect_test(&j, 0, "OK", "", "ok: found 123456789 in ");
                expect_test(&j, 1, "OK", "", "ok: found 1 in 29 queries");
                /* its stdout went to the interactor, not into the result */
                cr_assert_str_eq(tu_str(test_of(&j, 0), "stdout"), "");
                tu_judged_free(&j);
        }

        /* never reads the answer: only its wall limit (500 ms + JAILRUN_WALL_MARGIN's
         * default 500 ms) ends it; the interactor then reads EOF. The program's own TL
         * comes first. */
        struct tu_judged j = guess(interactor, "guess_never_reads.c", 500);
        expect_test(&j, 0, "TL", "wall time", "wrong answer: the program ended after 1 queries");
        cr_assert_geq(tu_int(test_of(&j, 0), "duration_ms"), 950);
        cr_assert_lt(j.seconds, 20, "both jails ended: %.1f s", j.seconds);
        tu_judged_free(&j);

        /* floods without reading: the interactor gives up (WA) and leaves, the program's
         * next write dies of SIGPIPE, and the interactor's verdict stands */
        j = guess(interactor, "guess_flood.c", 1000);
        expect_test(&j, 0, "WA", "", "wrong answer: not found in 32 queries");
        cr_assert_eq(tu_int(test_of(&j, 0), "signal"), 13);
        tu_judged_free(&j);

        /* leaves before asking, or after one question without reading the answer */
        j = guess(interactor, "guess_exits_early.c", 1000);
        expect_test(&j, 0, "WA", "", "wrong answer: the program ended after 0 queries");
        tu_judged_free(&j);
        /* (the interactor's answer meets a closed pipe, or its next read meets EOF: which
         * one depends on who runs first, WA either way) */
        j = guess(interactor, "guess_one_query.c", 1000);
        expect_test(&j, 0, "WA", NULL, "");
        tu_judged_free(&j);

        /* the program's own crash and CPU time limit come before the interactor's WA */
        j = guess(interactor, "guess_crash.c", 1000);
        expect_test(&j, 0, "RE", "signal 11", "wrong answer: the program ended after 1 queries");
        cr_assert_str_eq(tu_str(test_of(&j, 0), "stderr"), "answer +, crashing\n");
        tu_judged_free(&j);
        /* (CPU time, or wall time when the machine is too busy to give it 500 ms in 2 s) */
        j = guess(interactor, "guess_busy.c", 500);
        expect_test(&j, 0, "TL", NULL, "");
        tu_judged_free(&j);
}

Test(checker, interactor_in_cpp)
{
        interactor_suite("interactor_guess.cpp");
}

Test(checker, interactor_in_python)
{
        interactor_suite("interactor_guess.py");
}

Test(checker, an_interactor_that_hangs_or_fails_is_ie)
{
        /* it never answers (it sleeps): the program waits until its wall limit (the time
         * limit + the wall margin: 1 s), the interactor until its own (the program's + 2
         * s); both jails end, and the blame is the interactor's */
        struct tu_judged j = guess("interactor_hang.c", "guess_ok.c", 500);
        expect_test(&j, 0, "IE", "interactor failed: time limit (wall time)", "");
        cr_assert_lt(j.seconds, 20, "%.1f s", j.seconds);
        cr_assert_str_eq(tu_str(j.result, "status"), "IE");
        tu_judged_free(&j);

        /* one that spins meets its CPU limit or its wall limit, whichever the load lets
         * come first: either way the blame is the interactor's */
        j = guess("interactor_spin.c", "guess_ok.c", 500);
        expect_test(&j, 0, "IE", "interactor failed: time limit (", "");
        cr_assert_lt(j.seconds, 20, "%.1f s", j.seconds);
        tu_judged_free(&j);

        j = guess("interactor_fail.c", "guess_ok.c", 500);
        expect_test(&j, 0, "IE", "interactor failed: exit code 3 (testlib's fail)",
                    "fail: the interactor is broken");
        tu_judged_free(&j);
}

Test(checker, a_checker_after_an_interactor_reads_its_output_file)
{
        /* the interactor writes the number of queries to its output file; the checker
         * compares it with the answer (the most queries allowed) */
        struct spec s = {.program = "guess_ok.c",
                         .interactor = "interactor_guess.cpp",
                         .checker = "checker_queries.c",
                         .input = {"1\n", "1\n"},
                         .expected = {"30\n", "20\n"},
                         .n_tests = 2,
                         .all_tests = true};
        struct tu_judged j = judge(&s);
        expect_test(&j, 0, "OK", "", "29 queries, at most 30 allowed");
        expect_test(&j, 1, "WA", "", "29 queries, at most 20 allowed");
        tu_judged_free(&j);
}

/* ---- the examples of tests/cases/checkers ---- */

static yajl_val get(yajl_val obj, const char *a, const char *b)
{
        const char *path[] = {a, b, NULL};
        return yajl_tree_get(obj, path, yajl_t_any);
}

Test(checker, cases)
{
        size_t n;
        struct tu_case *cases = tu_cases("checkers", &n);
        for (size_t k = 0; k < n; k++) {
                const char *name = cases[k].name;
                yajl_val sub = tu_json(cases[k].text);
                struct tu_judged j = judge_json(cases[k].text);
                const char *want = YAJL_GET_STRING(get(sub, "expect", "status"));
                cr_expect_str_eq(tu_str(j.result, "status"), want, "%s: %s", name, j.out);
                yajl_val want_tests = get(sub, "expect", "tests");
                yajl_val tests = get(j.result, "tests", NULL);
                cr_assert_eq(tests->u.array.len, want_tests->u.array.len, "%s", name);
                for (size_t i = 0; i < tests->u.array.len; i++)
                        cr_expect_str_eq(tu_str(tests->u.array.values[i], "status"),
                                         YAJL_GET_STRING(want_tests->u.array.values[i]),
                                         "%s test %zu: %s", name, i + 1, j.out);
                tu_judged_free(&j);
                yajl_tree_free(sub);
        }
        tu_cases_free(cases, n);
        cr_assert_geq(n, 8, "only %zu cases", n);
}
