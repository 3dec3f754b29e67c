/* Integration tests of the judge: build/jailrun run against the real rootfs trees.
 * The outcome matrix lives in tests/cases/<language>/<outcome>.json. Run as root. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "testutil.h"

/* `jailrun run -` on json, with extra_env ("NAME=value", or NULL) for this run. */
static struct tu_judged judge(const char *json, const char *extra_env)
{
        return tu_judge(json, extra_env, false);
}

static yajl_val get(yajl_val obj, const char *a, const char *b)
{
        const char *path[] = {a, b, NULL};
        return yajl_tree_get(obj, path, yajl_t_any);
}

/* Every case of one language: the overall status and each test's status. */
static void matrix(const char *lang)
{
        size_t n;
        struct tu_case *cases = tu_cases(lang, &n);
        for (size_t k = 0; k < n; k++) {
                const char *name = cases[k].name;
                yajl_val sub = tu_json(cases[k].text);
                yajl_val want = get(sub, "expect", "status");
                yajl_val want_tests = get(sub, "expect", "tests");
                struct tu_judged j = judge(cases[k].text, NULL);
                cr_assert_eq(WEXITSTATUS(j.exit), 0, "%s: exit %d: %s", name, WEXITSTATUS(j.exit),
                             j.err);
                const char *status = tu_str(j.result, "status");
                cr_expect_str_eq(status, YAJL_GET_STRING(want), "%s/%s: got %s (%s)", lang, name,
                                 status, tu_str(j.result, "error"));
                yajl_val tests = get(j.result, "tests", NULL);
                cr_assert(YAJL_IS_ARRAY(tests));
                cr_assert_eq(tests->u.array.len, want_tests->u.array.len);
                for (size_t i = 0; i < tests->u.array.len; i++) {
                        const char *got = tu_str(tests->u.array.values[i], "status");
                        const char *exp = YAJL_GET_STRING(want_tests->u.array.values[i]);
                        cr_expect_str_eq(got, exp, "%s/%s test %zu: got %s, want %s (%s)", lang,
                                         name, i + 1, got, exp,
                                         tu_str(tests->u.array.values[i], "error"));
                }
                yajl_tree_free(sub);
                yajl_tree_free(j.result);
        }
        tu_cases_free(cases, n);
        cr_assert_geq(n, 8, "%s has only %zu cases", lang, n);
}

TestSuite(matrix, .timeout = 600);
Test(matrix, c)
{
        matrix("c");
}
Test(matrix, cpp)
{
        matrix("cpp");
}
Test(matrix, python)
{
        matrix("python");
}
Test(matrix, go)
{
        matrix("go");
}
Test(matrix, java)
{
        matrix("java");
}
Test(matrix, haskell)
{
        matrix("haskell");
}
Test(matrix, javascript)
{
        matrix("javascript");
}
Test(matrix, kotlin)
{
        matrix("kotlin");
}
Test(matrix, pascal)
{
        matrix("pascal");
}
Test(matrix, pypy3)
{
        matrix("pypy3");
}
Test(matrix, ruby)
{
        matrix("ruby");
}
Test(matrix, rust)
{
        matrix("rust");
}
/* the language standards offered as variants (langs/README.md, "Standards"): each OK
 * case asserts its __STDC_VERSION__ / __cplusplus, each BF case uses what only a later
 * standard has */
Test(matrix, c11)
{
        matrix("c11");
}
Test(matrix, c17)
{
        matrix("c17");
}
Test(matrix, cpp14)
{
        matrix("cpp14");
}
Test(matrix, cpp17)
{
        matrix("cpp17");
}
Test(matrix, cpp20)
{
        matrix("cpp20");
}

/* ---- judging details ---- */

TestSuite(judge, .timeout = 300);

#define C_ECHO                                                                                     \
        "#include <stdio.h>\\nint main(void){int c;while((c=getchar())!=EOF)putchar(c);"           \
        "return 0;}\\n"

Test(judge, stop_on_failure_and_not_run)
{
        const char *sub =
            "{\"id\":\"sof\",\"language\":\"python\",\"source\":\"print(input())\\n\","
            "\"tests\":[{\"input\":\"a\\n\",\"expected_output\":\"a\\n\"},"
            "{\"input\":\"b\\n\",\"expected_output\":\"x\\n\"},"
            "{\"input\":\"c\\n\",\"expected_output\":\"c\\n\"}]}";
        struct tu_judged j = judge(sub, NULL);
        cr_assert_str_eq(tu_str(j.result, "status"), "WA");
        yajl_val t = get(j.result, "tests", NULL);
        cr_assert_str_eq(tu_str(t->u.array.values[0], "status"), "OK");
        cr_assert_str_eq(tu_str(t->u.array.values[1], "status"), "WA");
        cr_assert_str_eq(tu_str(t->u.array.values[2], "status"), "-");
        /* a test that was not run: exit code 0 and 0 ms (the reference's values) */
        cr_assert_eq(tu_int(t->u.array.values[2], "exit_code"), 0);
        cr_assert_eq(tu_int(t->u.array.values[2], "duration_ms"), 0);
        /* numbers were auto-assigned */
        cr_assert_eq(tu_int(t->u.array.values[2], "number"), 3);

        const char *all =
            "{\"id\":\"all\",\"language\":\"python\",\"source\":\"print(input())\\n\","
            "\"stop_on_failure\":false,"
            "\"tests\":[{\"input\":\"b\\n\",\"expected_output\":\"x\\n\"},"
            "{\"input\":\"c\\n\",\"expected_output\":\"c\\n\"}]}";
        j = judge(all, NULL);
        t = get(j.result, "tests", NULL);
        cr_assert_str_eq(tu_str(t->u.array.values[0], "status"), "WA");
        cr_assert_str_eq(tu_str(t->u.array.values[1], "status"), "OK");
        cr_assert_str_eq(tu_str(j.result, "status"), "WA");
}

Test(judge, whitespace_tolerance_and_checkers)
{
        const char *sub = "{\"id\":\"ws\",\"language\":\"python\","
                          "\"source\":\"print('1  2 ')\\nprint()\\nprint()\\n\","
                          "\"tests\":[{\"expected_output\":\"1  2\\n\"}]}";
        struct tu_judged j = judge(sub, NULL);
        cr_assert_str_eq(tu_str(j.result, "status"), "OK", "%s", j.out);
        const char *exact = "{\"id\":\"ex\",\"language\":\"python\",\"checker\":\"exact\","
                            "\"source\":\"print('1  2 ')\\n\","
                            "\"tests\":[{\"expected_output\":\"1  2\\n\"}]}";
        j = judge(exact, NULL);
        cr_assert_str_eq(tu_str(j.result, "status"), "WA");
        const char *tokens = "{\"id\":\"tk\",\"language\":\"python\",\"checker\":\"tokens\","
                             "\"source\":\"print('1\\\\n\\\\n2')\\n\","
                             "\"tests\":[{\"expected_output\":\"1 2\"}]}";
        j = judge(tokens, NULL);
        cr_assert_str_eq(tu_str(j.result, "status"), "OK", "%s", j.out);
}

Test(judge, one_megabyte_in_and_out)
{
        /* 1 MiB of text in lines of 64 bytes, written as a JSON string (\n escaped) */
        size_t n = 1 << 20, k = 0;
        char *payload = malloc(n + n / 64 + 1);
        for (size_t i = 0; i < n; i++) {
                if (i % 64 == 63) {
                        payload[k++] = '\\';
                        payload[k++] = 'n';
                } else {
                        payload[k++] = (char)('a' + i % 26);
                }
        }
        payload[k] = '\0';
        size_t cap = 2 * k + 1024;
        char *sub = malloc(cap);
        snprintf(sub, cap,
                 "{\"id\":\"big\",\"language\":\"c\",\"source\":\"" C_ECHO "\","
                 "\"tests\":[{\"input\":\"%s\",\"expected_output\":\"%s\"}]}",
                 payload, payload);
        struct tu_judged j = judge(sub, NULL);
        cr_assert_str_eq(tu_str(j.result, "status"), "OK", "%.300s", j.out);
        /* the echo of 1 MB input and output is cut to fit 256 KiB, verdict intact */
        cr_assert_leq(strlen(j.out), 256 * 1024 + 1);
        yajl_val t = get(j.result, "tests", NULL)->u.array.values[0];
        cr_assert(tu_bool(t, "truncated"));
        free(sub);
        free(payload);
}

Test(judge, stderr_does_not_affect_ok)
{
        const char *sub =
            "{\"id\":\"se\",\"language\":\"python\","
            "\"source\":\"import sys\\nsys.stderr.write('noise\\\\n')\\nprint(5)\\n\","
            "\"tests\":[{\"expected_output\":\"5\\n\"}]}";
        struct tu_judged j = judge(sub, NULL);
        cr_assert_str_eq(tu_str(j.result, "status"), "OK", "%s", j.out);
        yajl_val t = get(j.result, "tests", NULL)->u.array.values[0];
        cr_assert_str_eq(tu_str(t, "stderr"), "noise\n");
}

Test(judge, cpu_time_of_all_threads)
{
        /* two threads burning for 600 ms of wall each: cpu_ms counts both */
        const char *sub =
            "{\"id\":\"mt\",\"language\":\"c\",\"limits\":{\"time_limit_ms\":5000},"
            "\"source\":\"#include <pthread.h>\\n#include <time.h>\\n"
            "static void*burn(void*a){struct timespec "
            "s,n;clock_gettime(CLOCK_THREAD_CPUTIME_ID,&s);"
            "do clock_gettime(CLOCK_THREAD_CPUTIME_ID,&n);while((n.tv_sec-s.tv_sec)*1000+"
            "(n.tv_nsec-s.tv_nsec)/1000000<600);return a;}\\n"
            "int main(void){pthread_t t;pthread_create(&t,0,burn,0);burn(0);pthread_join(t,0);"
            "return 0;}\\n\",\"tests\":[{}]}";
        struct tu_judged j = judge(sub, NULL);
        cr_assert_str_eq(tu_str(j.result, "status"), "OK", "%s", j.out);
        yajl_val t0 = get(j.result, "tests", NULL)->u.array.values[0];
        cr_assert_geq(tu_int(t0, "cpu_ms"), 1150, "%s", j.out);
        /* and the limit is on the whole cgroup: 2 threads pass 1 s of CPU together. A wall
         * margin of 10 s so that the CPU limit decides even when the host's load gives the
         * two threads less than the 2/3 of a core the default margin (500 ms) needs. */
        const char *tl =
            "{\"id\":\"mt2\",\"language\":\"c\",\"limits\":{\"time_limit_ms\":1000},"
            "\"source\":\"#include <pthread.h>\\n"
            "static void*burn(void*a){volatile long x=0;for(long i=0;i<4000000000L;i++)x++;"
            "return a;}\\n"
            "int main(void){pthread_t t;pthread_create(&t,0,burn,0);burn(0);pthread_join(t,0);"
            "return 0;}\\n\",\"tests\":[{}]}";
        j = judge(tl, "JAILRUN_WALL_MARGIN=10s");
        cr_assert_str_eq(tu_str(j.result, "status"), "TL", "%s", j.out);
        yajl_val t = get(j.result, "tests", NULL)->u.array.values[0];
        cr_assert_str_eq(tu_str(t, "error"), "cpu time", "%s", j.out);
        cr_assert_geq(tu_int(t, "cpu_ms"), 1000);
}

/* The time limit is CPU time; a program that does not use its CPU gets TL at the wall
 * limit, the time limit plus JAILRUN_WALL_MARGIN: with the default, within the limit
 * plus one second of the judge's own reported wall time, and never before the limit. */
Test(judge, sleeper_gets_tl_within_a_second_of_the_limit)
{
        const char *sub =
            "{\"id\":\"sleeper\",\"language\":\"c\",\"limits\":{\"time_limit_ms\":1000},"
            "\"source\":\"#include <unistd.h>\\nint main(void){sleep(100);return 0;}\\n\","
            "\"tests\":[{}]}";
        struct tu_judged j = judge(sub, NULL);
        cr_assert_str_eq(tu_str(j.result, "status"), "TL", "%s", j.out);
        yajl_val t = get(j.result, "tests", NULL)->u.array.values[0];
        cr_assert_str_eq(tu_str(t, "error"), "wall time", "%s", j.out);
        cr_assert_geq(tu_int(t, "duration_ms"), 1000, "%s", j.out);
        cr_assert_leq(tu_int(t, "duration_ms"), 2000, "%s", j.out);
        cr_assert_lt(tu_int(t, "cpu_ms"), 100, "%s", j.out);

        /* the host setting reaches the judge: no margin, TL at the limit */
        j = judge(sub, "JAILRUN_WALL_MARGIN=0");
        cr_assert_str_eq(tu_str(j.result, "status"), "TL", "%s", j.out);
        t = get(j.result, "tests", NULL)->u.array.values[0];
        cr_assert_geq(tu_int(t, "duration_ms"), 1000, "%s", j.out);
        cr_assert_lt(tu_int(t, "duration_ms"), 1500, "%s", j.out);
}

/* A test's wall_limit_ms replaces the time limit + margin, shorter or longer; the CPU
 * limit stays the time limit when it is the smaller. The usual wall limit here is
 * 2000 + 500 ms. */
Test(judge, a_test_wall_limit_replaces_the_usual_one)
{
        const char *sub =
            "{\"id\":\"walls\",\"language\":\"c\",\"limits\":{\"time_limit_ms\":2000},"
            "\"stop_on_failure\":false,"
            "\"source\":\"#include <unistd.h>\\n#include <stdio.h>\\n"
            "int main(void){int s=0;if(scanf(\\\"%d\\\",&s)==1&&s<0)for(;;);"
            "sleep(100);return 0;}\\n\","
            "\"tests\":[{\"wall_limit_ms\":400},{\"wall_limit_ms\":3500},{},"
            "{\"input\":\"-1\",\"wall_limit_ms\":6000}]}";
        struct tu_judged j = judge(sub, NULL);
        cr_assert_str_eq(tu_str(j.result, "status"), "TL", "%s", j.out);
        yajl_val ts = get(j.result, "tests", NULL);
        cr_assert_eq(ts->u.array.len, 4);
        long long lo[] = {400, 3500, 2500}, hi[] = {1400, 4500, 3500};
        for (size_t i = 0; i < 3; i++) {
                yajl_val t = ts->u.array.values[i];
                cr_assert_str_eq(tu_str(t, "status"), "TL", "test %zu: %s", i, j.out);
                cr_assert_str_eq(tu_str(t, "error"), "wall time", "test %zu: %s", i, j.out);
                cr_assert_geq(tu_int(t, "duration_ms"), lo[i], "test %zu: %s", i, j.out);
                cr_assert_lt(tu_int(t, "duration_ms"), hi[i], "test %zu: %s", i, j.out);
        }
        /* a busy loop under a wall limit above the time limit: the CPU limit decides */
        yajl_val t = ts->u.array.values[3];
        cr_assert_str_eq(tu_str(t, "status"), "TL", "%s", j.out);
        cr_assert_str_eq(tu_str(t, "error"), "cpu time", "%s", j.out);
        cr_assert_geq(tu_int(t, "cpu_ms"), 2000, "%s", j.out);
}

/* JAILRUN_CPUS reaches the test runs, and stretches their wall limit: at 0.1 CPU a busy
 * program needs about ten seconds of wall time for its 1 s of CPU, far more than the time
 * limit plus the margin (4 s), and still gets TL for its CPU time. */
Test(judge, cpu_bandwidth_stretches_the_wall_limit)
{
        const char *sub =
            "{\"id\":\"bw\",\"language\":\"c\",\"limits\":{\"time_limit_ms\":1000},"
            "\"source\":\"int main(void){volatile unsigned long x=0;for(;;)x++;}\\n\","
            "\"tests\":[{}]}";
        putenv("JAILRUN_WALL_MARGIN=3s");
        struct tu_judged j = judge(sub, "JAILRUN_CPUS=0.1");
        unsetenv("JAILRUN_WALL_MARGIN");
        cr_assert_str_eq(tu_str(j.result, "status"), "TL", "%s", j.out);
        yajl_val t = get(j.result, "tests", NULL)->u.array.values[0];
        cr_assert_str_eq(tu_str(t, "error"), "cpu time", "%s", j.out);
        cr_assert_geq(tu_int(t, "cpu_ms"), 1000, "%s", j.out);
        /* 10 ms of CPU per 100 ms period: 1000 ms of CPU take about 10 s (8 s leaves room
         * for the partial first and last periods and a 5 ms bandwidth slice per CPU) */
        cr_assert_geq(tu_int(t, "duration_ms"), 8000, "%s", j.out);
}

Test(judge, no_tests_means_one_run)
{
        const char *sub = "{\"id\":\"one\",\"language\":\"python\",\"source\":\"print('hi')\\n\"}";
        struct tu_judged j = judge(sub, NULL);
        cr_assert_str_eq(tu_str(j.result, "status"), "OK");
        cr_assert_str_eq(tu_str(j.result, "stdout"), "hi\n");
        cr_assert_eq(tu_int(j.result, "exit_code"), 0);
        cr_assert_str_eq(tu_str(j.result, "id"), "one");
}

/* 997 tests: with the accepted, build and done events, the spec's 1000 events */
Test(judge, most_tests_within_caps)
{
        size_t cap = 997 * 64 + 256;
        char *sub = malloc(cap);
        size_t off = (size_t)snprintf(
            sub, cap, "{\"id\":\"k\",\"language\":\"c\",\"source\":\"" C_ECHO "\",\"tests\":[");
        for (int i = 0; i < 997; i++)
                off += (size_t)snprintf(sub + off, cap - off,
                                        "%s{\"input\":\"%d\\n\",\"expected_output\":\"%d\\n\"}",
                                        i ? "," : "", i, i);
        snprintf(sub + off, cap - off, "]}");
        struct tu_judged j = judge(sub, NULL);
        cr_assert_str_eq(tu_str(j.result, "status"), "OK", "%.500s", j.err);
        cr_assert_eq(get(j.result, "tests", NULL)->u.array.len, 997);
        cr_assert_leq(strlen(j.out), 256 * 1024 + 1);
        free(sub);
}

Test(judge, total_time_budget_gives_not_run)
{
        /* a tiny budget (test hook): the sleeper eats it, the rest are "-" */
        const char *sub = "{\"id\":\"budget\",\"language\":\"python\",\"stop_on_failure\":false,"
                          "\"limits\":{\"time_limit_ms\":200},"
                          "\"source\":\"import time\\ntime.sleep(0.3)\\n\","
                          "\"tests\":[{},{},{},{},{}]}";
        struct tu_judged j = judge(sub, "JAILRUN_MAX_TOTAL_MS=1000");
        yajl_val t = get(j.result, "tests", NULL);
        cr_assert_eq(t->u.array.len, 5);
        cr_assert_str_eq(tu_str(t->u.array.values[4], "status"), "-", "%s", j.out);
}

Test(judge, memory_above_host_max_is_ie)
{
        const char *sub = "{\"id\":\"big-mem\",\"language\":\"python\",\"source\":\"print(1)\","
                          "\"limits\":{\"memory_limit_bytes\":1073741824}}";
        struct tu_judged j = judge(sub, NULL);
        cr_assert_str_eq(tu_str(j.result, "status"), "IE");
        cr_assert(strstr(tu_str(j.result, "error"), "memory_limit_bytes"));
        cr_assert(strstr(tu_str(j.result, "error"), "268435456"));
}

/* ---- bad input ---- */

Test(judge, truncated_json_exit_2_nothing_on_stdout)
{
        struct tu_judged j = judge("{\"id\":\"x\",\"language\":\"c\",\"sour", NULL);
        cr_assert_eq(WEXITSTATUS(j.exit), 2);
        cr_assert_null(j.result);
        cr_assert(strstr(j.err, "invalid submission"), "%s", j.err);
        /* a document followed by anything but white space is not JSON either (yajl takes
         * an unfinished string there for a token to come) */
        j = judge("{\"id\":\"x\",\"language\":\"c\",\"source\":\"x\"} \"x", NULL);
        cr_assert_eq(WEXITSTATUS(j.exit), 2);
        cr_assert_null(j.result);
        cr_assert(strstr(j.err, "invalid submission: not valid JSON at byte 39: trailing garbage"),
                  "%s", j.err);
}

static void expect_ie(const char *sub, const char *field)
{
        struct tu_judged j = judge(sub, NULL);
        cr_assert_eq(WEXITSTATUS(j.exit), 2, "%s", sub);
        cr_assert(j.result, "no IE result for %s", sub);
        cr_assert_str_eq(tu_str(j.result, "status"), "IE");
        cr_assert(strstr(tu_str(j.result, "error"), field), "%s: error %s", sub,
                  tu_str(j.result, "error"));
}

Test(judge, invalid_fields_are_ie_naming_the_field)
{
        expect_ie("{\"id\":\"a\",\"language\":\"c\"}", "source");
        expect_ie("{\"id\":\"a\",\"language\":\"c\",\"source\":\"\"}", "source");
        expect_ie("{\"id\":\"a\",\"source\":\"x\"}", "language");
        expect_ie("{\"id\":\"a\",\"language\":\"cobol\",\"source\":\"x\"}", "cobol");
        expect_ie(
            "{\"id\":\"a\",\"language\":\"c\",\"source\":\"x\",\"limits\":{\"time_limit_ms\":-1}}",
            "limits.time_limit_ms");
        expect_ie("{\"id\":\"a\",\"language\":\"c\",\"source\":\"x\",\"tests\":{}}", "tests");
        expect_ie("{\"id\":\"a\",\"language\":\"c\",\"source\":7}", "source");
}

Test(judge, too_many_tests_is_ie)
{
        size_t cap = 998 * 4 + 256;
        char *sub = malloc(cap);
        size_t off = (size_t)snprintf(
            sub, cap, "{\"id\":\"many\",\"language\":\"c\",\"source\":\"x\",\"tests\":[");
        for (int i = 0; i < 998; i++)
                off += (size_t)snprintf(sub + off, cap - off, "%s{}", i ? "," : "");
        snprintf(sub + off, cap - off, "]}");
        expect_ie(sub, "1000 events");
        free(sub);
}
