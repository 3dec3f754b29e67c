/* Compatibility with the reference worker (docs/compat.md): jailrun judged as the
 * reference's own clients use it, from its documented behaviour only (the "Result"
 * section of docs/messages.md and the workload table of its simulator, at the end of
 * that file). The programs in programs/ and every message here are written for this
 * suite.
 *
 * - The simulator's 25 scenarios (python, go, c, cpp, java x ok, wa, tl, ml, bf) with its
 *   limits, produced twice with the same ids to `jailrun serve` on its embedded broker,
 *   the way the simulator's ids repeat from one run to the next: 50 results, every field
 *   as the reference reports it.
 * - The message shapes the reference's producers send: "type": "", a done message with
 *   empty fields, test numbers 0 and below, a message without id and key.
 * - exit_code, stdout, stderr and duration_ms of the top level and of every test, BF's
 *   fields, the build failures of Go and Java programs that are no program.
 * - `jailrun run` gives the result `serve` gives for the same message.
 * - Every language's memory minimum; a negative limit; JAILRUN_DEFAULT_CHECKER=exact; the
 *   cap of 1000 events.
 *
 * Run as root, with the rootfs trees built. */
#include <criterion/criterion.h>
#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <yajl/yajl_gen.h>

#include "e2e.h"
#include "lang.h"
#include "testutil.h"

#define MiB          (1024LL * 1024)
#define TOPIC        "scripts"
#define RESULTS      "script-results"
#define MAX_WAIT_S   600 /* a bound on every wait, never an expectation */
#define SIGKILL_EXIT 137

static yajl_val get(yajl_val obj, const char *key)
{
        const char *path[] = {key, NULL};
        return yajl_tree_get(obj, path, yajl_t_any);
}

/* ---- the reference's workload ---------------------------------------------------------- */

static const char *const languages[] = {"python", "go", "c", "cpp", "java"};
static const char *const extensions[] = {"py", "go", "c", "cpp", "java"};
enum { N_LANGS = 5 };

/* The simulator's outcomes and their limits and tests (docs/messages.md, the last
 * section). */
enum outcome { OUT_OK, OUT_WA, OUT_TL, OUT_ML, OUT_BF, N_OUTCOMES };
static const struct workload {
        const char *name;
        long long time_ms, memory;
} workload[N_OUTCOMES] = {
    [OUT_OK] = {"ok", 2000, 256 * MiB}, [OUT_WA] = {"wa", 2000, 256 * MiB},
    [OUT_TL] = {"tl", 1000, 256 * MiB}, [OUT_ML] = {"ml", 5000, 16 * MiB},
    [OUT_BF] = {"bf", 2000, 256 * MiB},
};

static char *program(const char *outcome, size_t lang)
{
        char *path =
            tu_asprintf("%s/tests/compat/programs/%s.%s", JR_SOURCE_DIR, outcome, extensions[lang]);
        char *text = tu_slurp(path);
        cr_assert(text[0], "no program %s", path);
        free(path);
        return text;
}

/* A message, written with yajl_gen as a client would marshal it. */
struct gen {
        yajl_gen g;
};

static struct gen gen_open(void)
{
        struct gen m = {yajl_gen_alloc(NULL)};
        cr_assert(m.g);
        yajl_gen_map_open(m.g);
        return m;
}

static void gen_str(struct gen *m, const char *k, const char *v)
{
        yajl_gen_string(m->g, (const unsigned char *)k, strlen(k));
        yajl_gen_string(m->g, (const unsigned char *)v, strlen(v));
}

static void gen_key(struct gen *m, const char *k)
{
        yajl_gen_string(m->g, (const unsigned char *)k, strlen(k));
}

static void gen_limits(struct gen *m, long long time_ms, long long memory)
{
        gen_key(m, "limits");
        yajl_gen_map_open(m->g);
        gen_key(m, "time_limit_ms");
        yajl_gen_integer(m->g, time_ms);
        gen_key(m, "memory_limit_bytes");
        yajl_gen_integer(m->g, memory);
        yajl_gen_map_close(m->g);
}

/* One test; number < -1000: no "number" key. */
static void gen_test(struct gen *m, long long number, const char *input, const char *expected)
{
        yajl_gen_map_open(m->g);
        if (number > -1000) {
                gen_key(m, "number");
                yajl_gen_integer(m->g, number);
        }
        gen_str(m, "input", input);
        if (expected)
                gen_str(m, "expected_output", expected);
        yajl_gen_map_close(m->g);
}

static char *gen_close(struct gen *m)
{
        yajl_gen_map_close(m->g);
        const unsigned char *buf;
        size_t len;
        cr_assert_eq(yajl_gen_get_buf(m->g, &buf, &len), yajl_gen_status_ok);
        char *s = strndup((const char *)buf, len);
        yajl_gen_free(m->g);
        return s;
}

/* The simulator's message for language x outcome, id "<language>-<outcome>-<n>". */
static char *scenario_message(size_t lang, enum outcome o, int n)
{
        const struct workload *w = &workload[o];
        char id[64];
        snprintf(id, sizeof id, "%s-%s-%d", languages[lang], w->name, n);
        char *src = program(w->name, lang);
        struct gen m = gen_open();
        gen_str(&m, "type", "script");
        gen_str(&m, "id", id);
        gen_str(&m, "language", languages[lang]);
        gen_str(&m, "source", src);
        gen_limits(&m, w->time_ms, w->memory);
        gen_key(&m, "tests");
        yajl_gen_array_open(m.g);
        if (o == OUT_OK || o == OUT_WA) {
                gen_test(&m, 1, "1 2 3\n", "6\n");
                gen_test(&m, 2, "10 -5 7\n", "12\n");
        } else if (o == OUT_TL || o == OUT_ML) {
                gen_test(&m, 1, "", "");
        }
        yajl_gen_array_close(m.g);
        free(src);
        return gen_close(&m);
}

/* ---- what the reference reports ----------------------------------------------------------- */

static uint64_t min_memory[N_LANGS];

static void load_min_memory(void)
{
        jr_lang_set *set = NULL;
        jr_error e = {0};
        ASSERT_OK(jr_lang_load_dir(JR_SOURCE_DIR "/langs", &set, &e), e);
        for (size_t i = 0; i < N_LANGS; i++) {
                const jr_lang *l = jr_lang_find(set, languages[i]);
                cr_assert(l, "no language %s", languages[i]);
                min_memory[i] = l->min_memory_bytes;
        }
        jr_lang_set_free(set);
}

static bool is_int(yajl_val v)
{
        return v && YAJL_IS_INTEGER(v);
}

/* An integer field, or -1 when it is null, missing or something else. */
static long long int_of(yajl_val obj, const char *key)
{
        yajl_val v = obj ? get(obj, key) : NULL;
        return is_int(v) ? YAJL_GET_INTEGER(v) : -1;
}

/* The rules of every result of a parsed submission: exit_code and duration_ms are
 * integers, duration_ms is the sum of the tests' run times, a test that was not run has
 * exit code 0 and 0 ms, stdout/stderr are the last non-empty test's. */
static void expect_result_rules(yajl_val r, const char *who)
{
        cr_expect(is_int(get(r, "exit_code")), "%s: exit_code is not an integer", who);
        cr_expect(is_int(get(r, "duration_ms")), "%s: duration_ms is not an integer", who);
        yajl_val tests = get(r, "tests");
        cr_assert(tests && YAJL_IS_ARRAY(tests), "%s: no tests array", who);
        long long sum = 0, last_nonzero = 0;
        const char *out = "", *err = "";
        for (size_t i = 0; i < tests->u.array.len; i++) {
                yajl_val t = tests->u.array.values[i];
                cr_assert(is_int(get(t, "exit_code")) && is_int(get(t, "duration_ms")),
                          "%s: test %zu: exit_code or duration_ms not an integer", who, i + 1);
                sum += tu_int(t, "duration_ms");
                if (tu_int(t, "exit_code"))
                        last_nonzero = tu_int(t, "exit_code");
                if (!strcmp(tu_str(t, "status"), "-")) {
                        cr_expect_eq(tu_int(t, "exit_code"), 0, "%s: not-run test %zu", who, i + 1);
                        cr_expect_eq(tu_int(t, "duration_ms"), 0, "%s: not-run test %zu", who,
                                     i + 1);
                }
                if (tu_str(t, "stdout")[0])
                        out = tu_str(t, "stdout");
                if (tu_str(t, "stderr")[0])
                        err = tu_str(t, "stderr");
                yajl_val sv = get(t, "signal");
                cr_expect(sv && (YAJL_IS_NULL(sv) || is_int(sv)),
                          "%s: test %zu: signal is not "
                          "an integer or null",
                          who, i + 1);
                long long sig = is_int(sv) ? YAJL_GET_INTEGER(sv) : 0;
                if (sig)
                        cr_expect_eq(tu_int(t, "exit_code"), 128 + sig,
                                     "%s: test %zu killed by signal %lld", who, i + 1, sig);
        }
        if (tests->u.array.len) {
                cr_expect_eq(tu_int(r, "duration_ms"), sum, "%s: duration_ms %lld, tests sum %lld",
                             who, tu_int(r, "duration_ms"), sum);
                cr_expect_eq(tu_int(r, "exit_code"), last_nonzero, "%s: exit_code %lld, want %lld",
                             who, tu_int(r, "exit_code"), last_nonzero);
                cr_expect_str_eq(tu_str(r, "stdout"), out, "%s: top-level stdout", who);
                cr_expect_str_eq(tu_str(r, "stderr"), err, "%s: top-level stderr", who);
        }
        cr_expect(YAJL_IS_STRING(get(r, "timestamp")), "%s: no timestamp", who);
}

static void expect_statuses(yajl_val r, const char *who, const char *const *want, size_t n)
{
        yajl_val tests = get(r, "tests");
        cr_assert_eq(tests->u.array.len, n, "%s: %zu tests, want %zu", who, tests->u.array.len, n);
        for (size_t i = 0; i < n; i++) {
                yajl_val t = tests->u.array.values[i];
                cr_expect_str_eq(tu_str(t, "status"), want[i], "%s: test %zu is %s (%s)", who,
                                 i + 1, tu_str(t, "status"), tu_str(t, "error"));
                cr_expect_eq(tu_int(t, "number"), (long long)i + 1, "%s: test number", who);
        }
}

/* One of the 25 scenarios, field by field. */
static void expect_scenario(yajl_val r, size_t lang, enum outcome o, const char *who)
{
        static const char *const status[N_OUTCOMES] = {"OK", "WA", "TL", "ML", "BF"};
        cr_expect_str_eq(tu_str(r, "status"), status[o], "%s: status %s (%s)", who,
                         tu_str(r, "status"), tu_str(r, "error"));
        expect_result_rules(r, who);
        cr_expect(is_int(get(r, "build_duration_ms")), "%s: no build_duration_ms", who);
        cr_expect_null(get(r, "time_limit_ms_used"), "%s: the time limit was given", who);
        bool raised = min_memory[lang] > (uint64_t)workload[o].memory;
        if (raised)
                cr_expect(is_int(get(r, "memory_limit_bytes_used")) &&
                              tu_int(r, "memory_limit_bytes_used") == (long long)min_memory[lang],
                          "%s: the limit is raised to the minimum, %llu", who,
                          (unsigned long long)min_memory[lang]);
        else
                cr_expect_null(get(r, "memory_limit_bytes_used"), "%s: the limit was given", who);
        yajl_val t0 = get(r, "tests")->u.array.len ? get(r, "tests")->u.array.values[0] : NULL;
        switch (o) {
        case OUT_OK:
                expect_statuses(r, who, (const char *const[]){"OK", "OK"}, 2);
                cr_expect_eq(tu_int(r, "exit_code"), 0, "%s", who);
                cr_expect_str_eq(tu_str(r, "stdout"), "12\n", "%s", who);
                cr_expect_str_eq(tu_str(r, "stderr"), "", "%s", who);
                cr_expect_str_eq(tu_str(r, "error"), "", "%s", who);
                break;
        case OUT_WA:
                expect_statuses(r, who, (const char *const[]){"WA", "-"}, 2);
                cr_expect_eq(tu_int(r, "exit_code"), 0, "%s", who);
                cr_expect_str_eq(tu_str(r, "stdout"), "7\n", "%s", who);
                break;
        case OUT_TL:
                expect_statuses(r, who, (const char *const[]){"TL"}, 1);
                cr_expect_eq(tu_int(r, "exit_code"), SIGKILL_EXIT, "%s", who);
                cr_expect_eq(int_of(t0, "signal"), SIGKILL, "%s: signal", who);
                break;
        case OUT_ML:
                expect_statuses(r, who, (const char *const[]){"ML"}, 1);
                if (!strcmp(languages[lang], "java")) {
                        /* ExitOnOutOfMemoryError: the JVM exits with 3, the notice on stdout */
                        cr_expect_eq(tu_int(r, "exit_code"), 3, "%s", who);
                        cr_expect(strstr(tu_str(r, "stdout"), "java.lang.OutOfMemoryError"),
                                  "%s: stdout %s", who, tu_str(r, "stdout"));
                } else {
                        cr_expect_eq(tu_int(r, "exit_code"), SIGKILL_EXIT, "%s", who);
                        cr_expect_eq(int_of(t0, "signal"), SIGKILL, "%s: signal", who);
                }
                break;
        case OUT_BF: {
                expect_statuses(r, who, NULL, 0);
                /* go build exits with 2 for a program that does not compile */
                int code = !strcmp(languages[lang], "go") ? 2 : 1;
                char error[64];
                snprintf(error, sizeof error, "build failed: exit code %d", code);
                cr_expect_eq(tu_int(r, "exit_code"), code, "%s: the compiler's exit code", who);
                cr_expect_eq(tu_int(r, "duration_ms"), 0, "%s: no test ran", who);
                cr_expect_str_eq(tu_str(r, "error"), error, "%s", who);
                cr_expect_str_eq(tu_str(r, "stdout"), "", "%s", who);
                const char *err = tu_str(r, "stderr");
                static const char *const says[N_LANGS] = {"SyntaxError", "syntax error",
                                                          "error:", "error:", "error:"};
                cr_expect(strstr(err, says[lang]), "%s: the compiler's output is not in stderr: %s",
                          who, err);
                break;
        }
        default:
                break;
        }
}

/* ---- jailrun run ---------------------------------------------------------------------------- */

/* ---- jailrun serve on its embedded broker, and a Kafka client ------------------------------ */

struct service {
        struct tu_svc p;
        char *dir; /* its log's */
        char addr[128];
};

/* The service of the running test, for the suite's fini: a failed assertion ends the
 * test at once, and the service must not outlive it. */
static struct service *live;

/* `jailrun serve` with KAFKA_BROKERS=embedded, our environment minus what serve reads,
 * plus env, into *sp (which becomes the live service); returns once it logged the
 * broker's address and that it is serving. */
static void serve_start(struct service *sp, const char *const *env)
{
        *sp = (struct service){.dir = tu_scratch("/tmp/jr-compat.")};
        live = sp;
        const char *all[32] = {"KAFKA_BROKERS=embedded",
                               "JAILRUN_KAFKA_CONFIG=consumer.fetch.wait.max.ms=10"};
        size_t n = 2;
        for (size_t i = 0; env && env[i]; i++) {
                cr_assert_lt(n, sizeof all / sizeof all[0] - 1, "too many variables");
                all[n++] = env[i];
        }
        all[n] = NULL;
        char *log = tu_asprintf("%s/serve.log", sp->dir);
        tu_svc_start(&sp->p, &(struct tu_serve_opts){.name = "serve", .log = log, .env = all});
        free(log);
        /* the embedded broker's address comes first */
        char *text = tu_svc_wait_log(&sp->p, "\"msg\":\"serving\"", 1, 120);
        const char *b = strstr(text, "\"bootstrap\":\"");
        cr_assert(b, "serve logged no broker address:\n%s", text);
        b += strlen("\"bootstrap\":\"");
        snprintf(sp->addr, sizeof sp->addr, "%.*s", (int)strcspn(b, "\""), b);
        free(text);
}

static void serve_end(struct service *s)
{
        live = NULL;
        tu_svc_free(&s->p);
        if (s->dir)
                tu_rm_rf(s->dir);
        free(s->dir);
        s->dir = NULL;
}

/* The broker lives in serve and goes with it: its disconnection is no news. */
static const char *const quiet[] = {"log_level=2", NULL};

/* key NULL: no key (the partitioner picks one) */
static void produce(rd_kafka_t *rk, const char *key, const char *value)
{
        tu_produce(rk, TOPIC, key, value, strlen(value), NULL);
}

/* Read until there are `want` results, or until serve's log says that every one of the
 * `produced` messages was handled without a result to come (skipped as already judged):
 * then the test fails naming the reason. */
static void results_wait(struct tu_reader *r, size_t want, const struct service *s, size_t produced)
{
        double end = tu_now_s() + MAX_WAIT_S;
        while (r->n < want) {
                tu_reader_poll(r, 300);
                char *log = tu_slurp(s->p.log);
                size_t skipped = tu_count(log, "already judged: skipped");
                size_t judged = tu_count(log, "\"msg\":\"judged\"") +
                                tu_count(log, "\"msg\":\"invalid submission\"");
                free(log);
                cr_assert(!(skipped && judged + skipped >= produced && r->n + skipped >= want),
                          "%zu results of %zu: serve skipped %zu messages as already judged "
                          "because their ids came before (the dedupe must be by Kafka "
                          "coordinates, issue 11 point 1)",
                          r->n, want, skipped);
                cr_assert(tu_now_s() < end, "%zu results of %zu after %d s", r->n, want,
                          MAX_WAIT_S);
        }
}

/* ---- comparing results ------------------------------------------------------------------- */

/* Fields that measure time (or memory use) and so differ from one run to the next, and
 * the Kafka coordinates of the message a result answers, which only `serve` has. */
static bool measured(const char *key)
{
        static const char *const keys[] = {"duration_ms",  "build_duration_ms", "cpu_ms",
                                           "memory_bytes", "timestamp",         "source"};
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
                if (!strcmp(key, keys[i]))
                        return true;
        return false;
}

/* Equal JSON, but for the measured fields. In a TL test the error names which limit
 * fired first (CPU or wall time), which also depends on the machine's load. */
static bool same_json(yajl_val a, yajl_val b, const char *path, char *diff, size_t size)
{
        if (a->type != b->type) {
                snprintf(diff, size, "%s: types differ", path);
                return false;
        }
        char sub[512];
        switch (a->type) {
        case yajl_t_object: {
                yajl_val status = get(a, "status");
                bool tl = status && YAJL_IS_STRING(status) && !strcmp(status->u.string, "TL");
                for (size_t i = 0; i < b->u.object.len; i++)
                        if (!measured(b->u.object.keys[i]) && !get(a, b->u.object.keys[i])) {
                                snprintf(diff, size, "%s.%s: only in the second", path,
                                         b->u.object.keys[i]);
                                return false;
                        }
                for (size_t i = 0; i < a->u.object.len; i++) {
                        const char *k = a->u.object.keys[i];
                        if (measured(k) || (tl && !strcmp(k, "error") && strchr(path, '[')))
                                continue;
                        yajl_val bv = get(b, k);
                        snprintf(sub, sizeof sub, "%s.%s", path, k);
                        if (!bv) {
                                snprintf(diff, size, "%s: only in the first", sub);
                                return false;
                        }
                        if (!same_json(a->u.object.values[i], bv, sub, diff, size))
                                return false;
                }
                return true;
        }
        case yajl_t_array:
                if (a->u.array.len != b->u.array.len) {
                        snprintf(diff, size, "%s: %zu elements against %zu", path, a->u.array.len,
                                 b->u.array.len);
                        return false;
                }
                for (size_t i = 0; i < a->u.array.len; i++) {
                        snprintf(sub, sizeof sub, "%s[%zu]", path, i);
                        if (!same_json(a->u.array.values[i], b->u.array.values[i], sub, diff, size))
                                return false;
                }
                return true;
        case yajl_t_string:
                if (strcmp(a->u.string, b->u.string)) {
                        snprintf(diff, size, "%s: \"%.200s\" against \"%.200s\"", path, a->u.string,
                                 b->u.string);
                        return false;
                }
                return true;
        case yajl_t_number:
                if (strcmp(a->u.number.r, b->u.number.r)) {
                        snprintf(diff, size, "%s: %s against %s", path, a->u.number.r,
                                 b->u.number.r);
                        return false;
                }
                return true;
        default:
                return true;
        }
}

/* ---- more messages: the fields of points 2-3, the build failures, the shapes ------------- */

/* A C program whose exit code, stdout and stderr depend on its input. */
static const char c_exits[] =
    "#include <stdio.h>\n#include <stdlib.h>\n"
    "int main(void)\n{\n        int n = 0;\n        if (scanf(\"%d\", &n) != 1)\n"
    "                return 9;\n"
    "        if (n == 1) printf(\"one\\n\");\n"
    "        if (n == 2) { fprintf(stderr, \"two\\n\"); return 3; }\n"
    "        if (n == 3) abort();\n"
    "        if (n == 4) return 5;\n"
    "        return 0;\n}\n";

struct extra {
        const char *id;
        char *msg;
};

static char *fields_message(const char *id)
{
        struct gen m = gen_open();
        gen_str(&m, "id", id);
        gen_str(&m, "language", "c");
        gen_str(&m, "source", c_exits);
        gen_key(&m, "stop_on_failure");
        yajl_gen_bool(m.g, 0);
        gen_key(&m, "tests");
        yajl_gen_array_open(m.g);
        gen_test(&m, 1, "1", "one\n"); /* OK, stdout */
        gen_test(&m, 2, "2", NULL);    /* RE 3, stderr */
        gen_test(&m, 3, "3", NULL);    /* RE: SIGABRT, 134 */
        gen_test(&m, 4, "0", "");      /* OK, nothing written */
        gen_test(&m, 5, "4", NULL);    /* RE 5 */
        gen_test(&m, 6, "0", NULL);    /* OK */
        yajl_gen_array_close(m.g);
        return gen_close(&m);
}

static void expect_fields(yajl_val r, const char *who)
{
        expect_result_rules(r, who);
        expect_statuses(r, who, (const char *const[]){"OK", "RE", "RE", "OK", "RE", "OK"}, 6);
        yajl_val t = get(r, "tests");
        cr_expect_eq(tu_int(r, "exit_code"), 5, "%s: the last non-zero exit code", who);
        cr_expect_str_eq(tu_str(r, "stdout"), "one\n", "%s", who);
        cr_expect_str_eq(tu_str(r, "stderr"), "two\n", "%s", who);
        cr_expect_eq(tu_int(t->u.array.values[1], "exit_code"), 3, "%s", who);
        cr_expect_eq(tu_int(t->u.array.values[2], "exit_code"), 128 + SIGABRT, "%s", who);
        cr_expect_eq(int_of(t->u.array.values[2], "signal"), SIGABRT, "%s", who);
        cr_expect(tu_is_null(t->u.array.values[1], "signal"), "%s", who);
}

/* The first test fails: the others are not run, 0 and 0 ms; no tests at all: one run. */
static char *not_run_message(const char *id)
{
        struct gen m = gen_open();
        gen_str(&m, "id", id);
        gen_str(&m, "language", "python");
        gen_str(&m, "source", "import sys\nprint('partial')\nsys.exit(4)\n");
        gen_key(&m, "tests");
        yajl_gen_array_open(m.g);
        for (int i = 0; i < 3; i++)
                gen_test(&m, i + 1, "", "x\n");
        yajl_gen_array_close(m.g);
        return gen_close(&m);
}

static void expect_not_run(yajl_val r, const char *who)
{
        expect_result_rules(r, who);
        expect_statuses(r, who, (const char *const[]){"RE", "-", "-"}, 3);
        cr_expect_eq(tu_int(r, "exit_code"), 4, "%s", who);
        cr_expect_str_eq(tu_str(r, "stdout"), "partial\n", "%s", who);
}

static char *source_message(const char *id, const char *lang, const char *src)
{
        struct gen m = gen_open();
        gen_str(&m, "id", id);
        gen_str(&m, "language", lang);
        gen_str(&m, "source", src);
        return gen_close(&m);
}

/* A BF whose compiler exited 0: the artifact check says why, in one line. */
static void expect_no_program(yajl_val r, const char *who, const char *error)
{
        cr_expect_str_eq(tu_str(r, "status"), "BF", "%s: %s (%s)", who, tu_str(r, "status"),
                         tu_str(r, "error"));
        cr_expect_str_eq(tu_str(r, "error"), error, "%s", who);
        cr_expect_eq(tu_int(r, "exit_code"), 0, "%s: the compiler's exit code", who);
        cr_expect_eq(tu_int(r, "duration_ms"), 0, "%s", who);
        cr_expect_eq(get(r, "tests")->u.array.len, 0, "%s", who);
}

static const char go_notmain[] = "package notmain\n\nfunc Sum(a, b int) int { return a + b }\n";
static const char java_package[] =
    "package foo;\n\npublic class Main {\n    public static void main(String[] args) {\n"
    "        System.out.println(6);\n    }\n}\n";
static const char java_no_main[] =
    "class Solution {\n    public static void main(String[] args) {\n"
    "        System.out.println(6);\n    }\n}\n";

/* "type": "" and test numbers 0, negative and absent. */
static char *shapes_message(const char *id)
{
        struct gen m = gen_open();
        gen_str(&m, "type", "");
        gen_str(&m, "id", id);
        gen_str(&m, "language", "python");
        gen_str(&m, "source", "print(sum(map(int, input().split())))\n");
        gen_key(&m, "tests");
        yajl_gen_array_open(m.g);
        gen_test(&m, 0, "1 2 3\n", "6\n");
        gen_test(&m, -4, "10 -5 7\n", "12\n");
        gen_test(&m, -10000, "0\n", "0\n");
        yajl_gen_array_close(m.g);
        return gen_close(&m);
}

static void expect_shapes(yajl_val r, const char *who)
{
        expect_result_rules(r, who);
        expect_statuses(r, who, (const char *const[]){"OK", "OK", "OK"}, 3);
}

/* ---- the tests ---------------------------------------------------------------------------- */

static void end_live_service(void)
{
        if (live)
                serve_end(live);
}

TestSuite(compat, .timeout = 900, .fini = end_live_service);

/* The simulator run twice against one service, the message shapes and the other fields,
 * then each message again through `jailrun run`: the same result. */
Test(compat, reference_workload_twice_through_kafka)
{
        load_min_memory();
        enum { N = N_LANGS * N_OUTCOMES };
        char *msgs[2][N], *ids[N];
        for (size_t l = 0; l < N_LANGS; l++)
                for (int o = 0; o < N_OUTCOMES; o++) {
                        size_t i = l * N_OUTCOMES + (size_t)o;
                        ids[i] = tu_asprintf("%s-%s-1", languages[l], workload[o].name);
                        for (int round = 0; round < 2; round++)
                                msgs[round][i] = scenario_message(l, (enum outcome)o, 1);
                }
        struct extra extras[] = {
            {"fields-1", fields_message("fields-1")},
            {"not-run-1", not_run_message("not-run-1")},
            {"go-notmain-1", source_message("go-notmain-1", "go", go_notmain)},
            {"java-package-1", source_message("java-package-1", "java", java_package)},
            {"java-no-main-1", source_message("java-no-main-1", "java", java_no_main)},
            {"shapes-1", shapes_message("shapes-1")},
        };
        enum { N_EXTRA = sizeof extras / sizeof extras[0] };
        /* no id and no key: named topic:offset */
        char *anonymous = source_message("", "python", "print('anonymous')\n");

        static struct service s;
        serve_start(&s, (const char *const[]){"RUNNER_MAX_PARALLEL=2", NULL});
        struct tu_reader *res = tu_reader_new(s.addr, "compat-results", RESULTS, quiet);
        rd_kafka_t *prod = tu_producer(s.addr, quiet, NULL);

        /* round 1 */
        for (size_t i = 0; i < N; i++)
                produce(prod, ids[i], msgs[0][i]);
        tu_producer_flush(prod);
        results_wait(res, N, &s, N);
        /* round 2: the same ids again, and the other messages */
        for (size_t i = 0; i < N; i++)
                produce(prod, ids[i], msgs[1][i]);
        for (size_t i = 0; i < N_EXTRA; i++)
                produce(prod, extras[i].id, extras[i].msg);
        produce(prod, NULL, anonymous);
        tu_producer_flush(prod);
        size_t total = 2 * N + N_EXTRA + 1;
        results_wait(res, total, &s, total);

        /* the end of the stream as the reference's producer marshals it: the service
         * finishes and exits, and the done message gets no result */
        produce(prod, NULL, "{\"type\":\"done\",\"id\":\"\",\"language\":\"\",\"source\":\"\"}");
        tu_producer_flush(prod);
        rd_kafka_destroy(prod);
        int st = tu_svc_wait(&s.p, 300);
        char *log = tu_slurp(s.p.log);
        cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "serve: status %d:\n%s", st, log);
        cr_expect(strstr(log, "\"done\\\" message"), "serve did not see the done message");
        free(log);
        tu_reader_poll(res, 1000);
        cr_assert_eq(res->n, total, "%zu results for %zu submissions", res->n, total);

        /* every result: each scenario twice, every field as the reference reports it */
        size_t seen[N] = {0};
        for (size_t k = 0; k < res->n; k++) {
                yajl_val r = tu_json(res->m[k].value);
                const char *id = tu_str(r, "id");
                cr_expect_str_eq(res->m[k].key, id, "the result's key is its id");
                bool known = false;
                for (size_t i = 0; i < N; i++)
                        if (!strcmp(id, ids[i])) {
                                char who[96];
                                snprintf(who, sizeof who, "serve %s (%zu)", id, seen[i] + 1);
                                expect_scenario(r, i / N_OUTCOMES, (enum outcome)(i % N_OUTCOMES),
                                                who);
                                seen[i]++;
                                known = true;
                        }
                if (!strcmp(id, "fields-1"))
                        expect_fields(r, "serve fields-1");
                else if (!strcmp(id, "not-run-1"))
                        expect_not_run(r, "serve not-run-1");
                else if (!strcmp(id, "go-notmain-1"))
                        expect_no_program(r, "serve go-notmain-1",
                                          "build failed: the package is not main: \"main\" is an "
                                          "ar archive (a library), not an executable");
                else if (!strcmp(id, "java-package-1"))
                        expect_no_program(r, "serve java-package-1",
                                          "build failed: no class Main in the default package: "
                                          "\"Main.class\" holds class foo.Main");
                else if (!strcmp(id, "java-no-main-1"))
                        expect_no_program(r, "serve java-no-main-1",
                                          "build failed: no class Main in the default package: "
                                          "the build made no \"Main.class\"");
                else if (!strcmp(id, "shapes-1"))
                        expect_shapes(r, "serve shapes-1");
                else if (!known) {
                        cr_expect(!strncmp(id, TOPIC ":", strlen(TOPIC) + 1),
                                  "unexpected result id \"%s\"", id);
                        cr_expect_str_eq(tu_str(r, "status"), "OK", "%s", id);
                        cr_expect_str_eq(tu_str(r, "stdout"), "anonymous\n", "%s", id);
                }
                yajl_tree_free(r);
        }
        for (size_t i = 0; i < N; i++)
                cr_expect_eq(seen[i], 2, "%s: %zu results, want 2", ids[i], seen[i]);

        /* the same messages through `jailrun run`: the same results */
        for (size_t i = 0; i < N + N_EXTRA; i++) {
                const char *id = i < N ? ids[i] : extras[i - N].id;
                const char *msg = i < N ? msgs[0][i] : extras[i - N].msg;
                yajl_val from_serve = NULL;
                for (size_t k = 0; k < res->n && !from_serve; k++)
                        if (!strcmp(res->m[k].key, id))
                                from_serve = tu_json(res->m[k].value);
                struct tu_judged j = tu_judge(msg, NULL, false);
                cr_expect_eq(WEXITSTATUS(j.exit), 0, "run %s: exit %d: %s", id, WEXITSTATUS(j.exit),
                             j.err);
                cr_assert(j.result, "run %s printed no result: %s", id, j.err);
                char diff[1024] = "";
                cr_expect(same_json(from_serve, j.result, id, diff, sizeof diff),
                          "run and serve differ: %s", diff);
                yajl_tree_free(from_serve);
                tu_judged_free(&j);
        }

        tu_reader_free(res);
        serve_end(&s);
        for (size_t i = 0; i < N; i++) {
                free(ids[i]);
                free(msgs[0][i]);
                free(msgs[1][i]);
        }
        for (size_t i = 0; i < N_EXTRA; i++)
                free(extras[i].msg);
        free(anonymous);
}

/* Every language raises a tiny limit to its minimum (never an IE) and says so; a negative
 * limit is an invalid submission, found before the build. */
Test(compat, memory_minimums)
{
        load_min_memory();
        for (size_t l = 0; l < N_LANGS; l++) {
                char *src = program("ok", l);
                char id[64];
                snprintf(id, sizeof id, "%s-tiny", languages[l]);
                struct gen m = gen_open();
                gen_str(&m, "id", id);
                gen_str(&m, "language", languages[l]);
                gen_str(&m, "source", src);
                gen_limits(&m, 2000, 1024);
                gen_key(&m, "tests");
                yajl_gen_array_open(m.g);
                gen_test(&m, 1, "1 2 3\n", "6\n");
                yajl_gen_array_close(m.g);
                char *msg = gen_close(&m);
                struct tu_judged j = tu_judge(msg, NULL, false);
                cr_assert(j.result, "%s: no result: %s", id, j.err);
                cr_expect_str_eq(tu_str(j.result, "status"), "OK", "%s: %s (%s)", id,
                                 tu_str(j.result, "status"), tu_str(j.result, "error"));
                cr_expect_eq(tu_int(j.result, "memory_limit_bytes_used"), (long long)min_memory[l],
                             "%s", id);
                expect_result_rules(j.result, id);
                tu_judged_free(&j);
                free(msg);
                free(src);
        }

        struct tu_judged j = tu_judge("{\"id\":\"negative\",\"language\":\"java\",\"source\":"
                                      "\"class Main {}\",\"limits\":{\"memory_limit_bytes\":-1}}",
                                      NULL, true);
        cr_expect_eq(WEXITSTATUS(j.exit), 2, "an invalid submission: exit 2 (README)");
        cr_assert(j.result);
        cr_expect_str_eq(tu_str(j.result, "status"), "IE");
        cr_expect(strstr(tu_str(j.result, "error"), "limits.memory_limit_bytes"), "%s",
                  tu_str(j.result, "error"));
        cr_expect(tu_is_null(j.result, "exit_code") && tu_is_null(j.result, "duration_ms"));
        cr_expect_null(strstr(j.events, "\"build\""), "built before the limit was refused: %s",
                       j.events);
        tu_judged_free(&j);
}

/* lines stays the default; JAILRUN_DEFAULT_CHECKER=exact compares byte for byte, as the
 * reference does; a submission that names a checker keeps it. */
Test(compat, default_checker_exact)
{
        static const struct {
                const char *out;   /* what the program prints */
                const char *lines; /* verdict with the default */
                const char *exact; /* with JAILRUN_DEFAULT_CHECKER=exact */
        } cases[] = {
            {"6\\\\n", "OK", "OK"},      {"6", "OK", "WA"},           {"6 \\\\n", "OK", "WA"},
            {"6\\\\n\\\\n", "OK", "WA"}, {"6\\\\r\\\\n", "OK", "WA"}, {" 6\\\\n", "WA", "WA"},
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
                for (int exact = 0; exact < 2; exact++) {
                        char *msg =
                            tu_asprintf("{\"id\":\"chk-%zu\",\"language\":\"python\",\"source\":"
                                        "\"import sys\\nsys.stdout.write('%s')\\n\",\"tests\":"
                                        "[{\"expected_output\":\"6\\n\"}]}",
                                        i, cases[i].out);
                        struct tu_judged j =
                            tu_judge(msg, exact ? "JAILRUN_DEFAULT_CHECKER=exact" : NULL, false);
                        cr_assert(j.result, "%s: %s", msg, j.err);
                        cr_expect_str_eq(tu_str(j.result, "status"),
                                         exact ? cases[i].exact : cases[i].lines,
                                         "output '%s' with the %s checker", cases[i].out,
                                         exact ? "exact" : "default");
                        tu_judged_free(&j);
                        free(msg);
                }
        struct tu_judged j = tu_judge("{\"id\":\"chk-named\",\"language\":\"python\",\"source\":"
                                      "\"print(6, '')\",\"checker\":\"lines\",\"tests\":"
                                      "[{\"expected_output\":\"6\\n\"}]}",
                                      "JAILRUN_DEFAULT_CHECKER=exact", false);
        cr_expect_str_eq(tu_str(j.result, "status"), "OK", "the submission's own checker wins");
        tu_judged_free(&j);
}

/* The spec caps an execution at 1000 events, accepted + build + one per test + done: 997
 * tests fit (tests/integration/test_judge.c judges them); 998 are an IE naming the cap,
 * found before anything runs. */
Test(compat, event_cap)
{
        size_t cap = 998 * 4 + 256;
        char *msg = malloc(cap);
        size_t off = (size_t)snprintf(msg, cap,
                                      "{\"id\":\"cap\",\"language\":\"c\","
                                      "\"source\":\"int main(){}\",\"tests\":[");
        for (int i = 0; i < 998; i++)
                off += (size_t)snprintf(msg + off, cap - off, "%s{}", i ? "," : "");
        snprintf(msg + off, cap - off, "]}");
        struct tu_judged j = tu_judge(msg, NULL, false);
        cr_expect_eq(WEXITSTATUS(j.exit), 2);
        cr_assert(j.result);
        cr_expect_str_eq(tu_str(j.result, "status"), "IE");
        cr_expect(strstr(tu_str(j.result, "error"), "more than 997 tests") &&
                      strstr(tu_str(j.result, "error"), "1000 events"),
                  "%s", tu_str(j.result, "error"));
        tu_judged_free(&j);
        free(msg);
}
