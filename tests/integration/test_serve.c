/* End-to-end tests of `jailrun serve` through Kafka: a real Kafka protocol peer (the
 * librdkafka mock cluster run by `build/jailrun broker`, or the embedded one), real
 * jails, real rootfs trees. Run as root.
 *
 * The test is a Kafka client like any producer/consumer of the judge: it produces
 * submissions to "scripts" and reads "script-results" and "script-events" from the
 * beginning. Waits are bounded and wait for behaviour (a log line, a result), never for
 * a duration. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <librdkafka/rdkafka.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "e2e.h"
#include "kafka.h"
#include "testutil.h"

#define TOPIC    "scripts"
#define RESULTS  "script-results"
#define EVENTS   "script-events"
#define GROUP    "scrc-runner" /* serve's default KAFKA_GROUP_ID */
#define NPARTS   JR_KAFKA_EMBEDDED_PARTITIONS
#define KCONFIG  "consumer.session.timeout.ms=6000;consumer.fetch.wait.max.ms=10"
#define MAX_WAIT 300 /* seconds: a bound on every wait, never an expectation */

/* The test's directory, removed by the suite's fini even when an assertion failed. */
static char *work_dir;

/* A private directory for the spool and the logs. */
static char *mkworkdir(void)
{
        work_dir = tu_scratch("/dev/shm/jr-serve-test-");
        return strdup(work_dir);
}

static void rm_rf(const char *dir)
{
        cr_assert_eq(tu_rm_rf(dir), 0, "could not remove %s", dir);
}

/* ---- the service: `jailrun serve` ------------------------------------------------------- */

/* What serve does not get of our environment: the variables it reads that these tests
 * set (other JAILRUN_ variables reach it as they are). */
static const char *const serve_drop[] = {"KAFKA_",        "RUNNER_",     "SCRIPT_", "JAILRUN_SPOOL",
                                         "JAILRUN_KAFKA", "JAILRUN_MAX", NULL};

/* Start serve with the environment overrides ("NAME=value", NULL-terminated) on top of
 * ours minus every variable serve reads; its stderr in dir/tag.log, its stdout in
 * dir/tag.out. */
static struct tu_svc svc_start(const char *dir, const char *tag, const char *const *env,
                               const char *const *args)
{
        struct tu_svc s = {0};
        char *log = tu_asprintf("%s/%s.log", dir, tag);
        char *out = tu_asprintf("%s/%s.out", dir, tag);
        tu_svc_start(
            &s,
            &(struct tu_serve_opts){
                .name = tag, .log = log, .out = out, .drop = serve_drop, .env = env, .args = args});
        free(log);
        free(out);
        return s;
}

/* Wait until the service's log holds `needle` at least `count` times. */
static void wait_log(const struct tu_svc *s, const char *needle, size_t count)
{
        free(tu_svc_wait_log(s, needle, count, MAX_WAIT));
}

/* ---- producing and reading -------------------------------------------------------------- */

static rd_kafka_t *producer_new(const struct tu_broker *b)
{
        return tu_producer(b->addr, (const char *const[]){"message.max.bytes=10000000", NULL},
                           NULL);
}

/* key may be NULL: no key */
static void produce_str(rd_kafka_t *rk, const char *key, const char *value)
{
        tu_produce(rk, TOPIC, key, value, strlen(value), NULL);
}

static void producer_done(rd_kafka_t *rk)
{
        tu_producer_flush(rk);
        rd_kafka_destroy(rk);
}

/* A topic read from the beginning. */
static struct tu_reader *reader_new(const struct tu_broker *b, const char *topic)
{
        return tu_reader_new(b->addr, "test-reader", topic, NULL);
}

/* ---- the preamble of an end-to-end test ------------------------------------------------- */

/* A test's world: a broker, a private directory for the spool and the logs, the service. */
struct e2e {
        struct tu_broker b;
        char *dir;
        struct tu_svc s;
};

/* A message produced to "scripts" before the service starts (key NULL: no key). */
struct msg {
        const char *key;
        const char *value;
};

/* A NULL-terminated list of "NAME=value" environment overrides. */
#define ENV(...) ((const char *const[]){__VA_ARGS__ __VA_OPT__(, ) NULL})

/* Start serve on t's broker and directory with the common environment (the broker, the
 * spool in t->dir, fast Kafka timeouts) plus `env`; `tag` names its log files. */
static struct tu_svc e2e_serve(const struct e2e *t, const char *tag, const char *const *env)
{
        char *brokers = tu_asprintf("KAFKA_BROKERS=%s", t->b.addr);
        char *spool = tu_asprintf("JAILRUN_SPOOL_DIR=%s/spool", t->dir);
        const char *all[32] = {brokers, spool, "JAILRUN_KAFKA_CONFIG=" KCONFIG};
        size_t n = 3;
        for (size_t i = 0; env && env[i]; i++) {
                cr_assert_lt(n, sizeof all / sizeof all[0] - 1, "too many variables");
                all[n++] = env[i];
        }
        all[n] = NULL;
        struct tu_svc s = svc_start(t->dir, tag, all, NULL);
        free(brokers);
        free(spool);
        return s;
}

/* The preamble the end-to-end tests share: a `jailrun broker` (unless the caller already
 * put a broker's address in t->b), a work directory, the `n` messages produced and
 * acknowledged, then serve started (tag "serve") with `env` on top of the common
 * environment. */
static void e2e_start(struct e2e *t, const struct msg *msgs, size_t n, const char *const *env)
{
        if (!t->b.addr[0])
                t->b = tu_broker_start();
        t->dir = mkworkdir();
        if (n) {
                rd_kafka_t *prod = producer_new(&t->b);
                for (size_t i = 0; i < n; i++)
                        produce_str(prod, msgs[i].key, msgs[i].value);
                producer_done(prod);
        }
        t->s = e2e_serve(t, "serve", env);
}

/* Stop the broker started by e2e_start (if any) and remove the work directory (kept, and
 * named in the log, with JR_TEST_KEEP=1). */
static void e2e_end(struct e2e *t)
{
        tu_broker_stop(&t->b);
        if (getenv("JR_TEST_KEEP"))
                cr_log_info("kept %s (JR_TEST_KEEP)", t->dir);
        else
                rm_rf(t->dir);
        free(t->dir);
        t->dir = NULL;
}

static yajl_val get(yajl_val obj, const char *a, const char *b)
{
        const char *path[] = {a, b, NULL};
        return yajl_tree_get(obj, path, yajl_t_any);
}

/* ---- submissions ----------------------------------------------------------------------- */

/* A C program that sleeps sleep_ms, then echoes stdin; n tests that all pass. */
static char *c_sleeper(const char *id, int sleep_ms, int n)
{
        char tests[8192] = "";
        size_t off = 0;
        for (int i = 0; i < n; i++)
                off += (size_t)snprintf(tests + off, sizeof tests - off,
                                        "%s{\"input\":\"t%d\\n\",\"expected_output\":\"t%d\\n\"}",
                                        i ? "," : "", i, i);
        return tu_asprintf("{\"id\":\"%s\",\"language\":\"c\",\"source\":\"#include <stdio.h>\\n"
                           "#include <unistd.h>\\nint main(void){int c;usleep(%d*1000);"
                           "while((c=getchar())!=EOF)putchar(c);return 0;}\\n\","
                           "\"limits\":{\"time_limit_ms\":2000},\"tests\":[%s]}",
                           id, sleep_ms, tests);
}

/* ---- config errors ----------------------------------------------------------------------- */

static void remove_work_dir(void)
{
        if (work_dir && !getenv("JR_TEST_KEEP")) {
                tu_rm_rf(work_dir);
                free(work_dir);
                work_dir = NULL;
        }
}

TestSuite(serve, .timeout = 900, .fini = remove_work_dir);

Test(serve, invalid_environment)
{
        static const char *const cases[][2] = {
            {"RUNNER_MAX_PARALLEL=abc", "RUNNER_MAX_PARALLEL"},
            {"RUNNER_MAX_PARALLEL=0", "RUNNER_MAX_PARALLEL"},
            {"RUNNER_TIME_LIMIT=5x", "RUNNER_TIME_LIMIT"},
            {"RUNNER_MEMORY_LIMIT=lots", "RUNNER_MEMORY_LIMIT"},
            {"SCRIPT_EXPECTED=-1", "SCRIPT_EXPECTED"},
            {"JAILRUN_MAX_SUBMISSION_BYTES=0", "JAILRUN_MAX_SUBMISSION_BYTES"},
            {"JAILRUN_METRICS_ADDR=nowhere", "JAILRUN_METRICS_ADDR"},
            {"JAILRUN_KAFKA_CONFIG=no.such.property=1", "JAILRUN_KAFKA_CONFIG"},
        };
        char *dir = mkworkdir();
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                char tag[16];
                snprintf(tag, sizeof tag, "env%zu", i);
                const char *env[] = {"KAFKA_BROKERS=127.0.0.1:1", cases[i][0], NULL};
                struct tu_svc s = svc_start(dir, tag, env, NULL);
                int st = tu_svc_wait(&s, 60);
                char *log = tu_slurp(s.log);
                cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 2, "%s: exit %d", cases[i][0],
                          WEXITSTATUS(st));
                cr_expect(strstr(log, cases[i][1]), "%s: message does not name it: %s", cases[i][0],
                          log);
                free(log);
        }
        rm_rf(dir);
}

/* ---- (1) the outcome matrix end to end --------------------------------------------------- */

static void matrix(const char *const *langs)
{
        char *ids[64], *texts[64];
        struct msg msgs[64] = {0};
        yajl_val subs[64];
        size_t n = 0;
        for (size_t l = 0; langs[l]; l++) {
                size_t nc;
                struct tu_case *cases = tu_cases(langs[l], &nc);
                for (size_t k = 0; k < nc; k++) {
                        cr_assert(n < 64);
                        texts[n] = strdup(cases[k].text);
                        subs[n] = tu_json(texts[n]);
                        ids[n] = strdup(tu_str(subs[n], "id"));
                        msgs[n] = (struct msg){ids[n], texts[n]};
                        n++;
                }
                tu_cases_free(cases, nc);
        }

        char *expected = tu_asprintf("SCRIPT_EXPECTED=%zu", n);
        struct e2e e2e = {0};
        e2e_start(&e2e, msgs, n, ENV("RUNNER_MAX_PARALLEL=2", expected));
        for (size_t i = 0; i < n; i++)
                free(texts[i]);
        free(expected);
        int st = tu_svc_wait(&e2e.s, 850);
        char *log = tu_slurp(e2e.s.log);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "serve exit %d:\n%s", WEXITSTATUS(st),
                  log);

        struct tu_reader *r = reader_new(&e2e.b, RESULTS);
        tu_reader_wait_keys(r, (const char *const *)ids, n, MAX_WAIT);
        tu_reader_drain(r, MAX_WAIT);
        for (size_t i = 0; i < n; i++) {
                cr_expect_eq(tu_reader_count(r, ids[i]), 1, "%s: %zu results", ids[i],
                             tu_reader_count(r, ids[i]));
                yajl_val res = tu_json(tu_reader_find(r, ids[i])->value);
                const char *want = YAJL_GET_STRING(get(subs[i], "expect", "status"));
                const char *got = tu_str(res, "status");
                cr_expect_str_eq(got, want, "%s: got %s, want %s (%s)", ids[i], got, want,
                                 tu_str(res, "error"));
                yajl_val want_tests = get(subs[i], "expect", "tests");
                yajl_val tests = get(res, "tests", NULL);
                cr_expect(YAJL_IS_ARRAY(tests) && tests->u.array.len == want_tests->u.array.len,
                          "%s: test count", ids[i]);
                for (size_t t = 0;
                     YAJL_IS_ARRAY(tests) && t < tests->u.array.len && t < want_tests->u.array.len;
                     t++) {
                        const char *g = tu_str(tests->u.array.values[t], "status");
                        const char *w = YAJL_GET_STRING(want_tests->u.array.values[t]);
                        cr_expect_str_eq(g, w, "%s test %zu: got %s, want %s", ids[i], t + 1, g, w);
                }
                /* the log has the judged line with its status */
                char *needle = tu_asprintf("\"msg\":\"judged\",\"id\":\"%s\"", ids[i]);
                cr_expect(strstr(log, needle), "no judged line for %s", ids[i]);
                free(needle);
                yajl_tree_free(res);
                yajl_tree_free(subs[i]);
                free(ids[i]);
        }
        tu_reader_free(r);
        free(log);
        e2e_end(&e2e);
}

Test(serve, matrix_c_python)
{
        matrix((const char *const[]){"c", "python", NULL});
}

Test(serve, matrix_cpp_go_java)
{
        matrix((const char *const[]){"cpp", "go", "java", NULL});
}

/* ---- (2) ordered events ------------------------------------------------------------------ */

static void check_events(struct tu_reader *ev, const char *id, size_t n_tests)
{
        uint64_t seq = 0;
        size_t tests = 0;
        const char *last = NULL;
        for (size_t i = 0; i < ev->n; i++) {
                if (strcmp(ev->m[i].key, id))
                        continue;
                cr_assert_leq(ev->m[i].len, 256 * 1024, "%s: event of %zu bytes", id, ev->m[i].len);
                yajl_val e = tu_json(ev->m[i].value);
                cr_assert_eq((uint64_t)tu_int(e, "seq"), seq, "%s: seq %lld after %llu", id,
                             tu_int(e, "seq"), (unsigned long long)seq - 1);
                const char *type = tu_str(e, "type");
                if (seq == 0)
                        cr_assert_str_eq(type, "accepted");
                else if (seq == 1)
                        cr_assert_str_eq(type, "build");
                else if (!strcmp(type, "test")) {
                        tests++;
                        cr_assert_eq(tu_int(get(e, "test", NULL), "number"), (long long)tests);
                } else {
                        cr_assert_str_eq(type, "done");
                }
                last = strcmp(type, "done") ? "other" : "done";
                seq++;
                yajl_tree_free(e);
        }
        cr_assert_eq(tests, n_tests, "%s: %zu test events, want %zu", id, tests, n_tests);
        cr_assert(last && !strcmp(last, "done"), "%s: last event is not done", id);
}

Test(serve, ordered_events)
{
        char *five = c_sleeper("ev-five", 0, 5);
        /* 997 tests (the most that the cap of 1000 events allows), the first fails: 996
         * not run, each still an event; the result is cut to the 256 KiB cap */
        size_t cap = 997 * 64 + 1024, off = 0;
        char *big = malloc(cap);
        off += (size_t)snprintf(big + off, cap - off,
                                "{\"id\":\"ev-997\",\"language\":\"python\",\"source\":"
                                "\"print(input())\\n\",\"tests\":[");
        for (int i = 0; i < 997; i++)
                off += (size_t)snprintf(big + off, cap - off,
                                        "%s{\"input\":\"%d\\n\",\"expected_output\":\"x\\n\"}",
                                        i ? "," : "", i);
        snprintf(big + off, cap - off, "]}");
        struct e2e e2e = {0};
        e2e_start(&e2e, (const struct msg[]){{"ev-five", five}, {"ev-997", big}}, 2,
                  ENV("RUNNER_MAX_PARALLEL=2", "SCRIPT_EXPECTED=2"));
        int st = tu_svc_wait(&e2e.s, 600);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);

        struct tu_reader *res = reader_new(&e2e.b, RESULTS);
        tu_reader_wait_keys(res, (const char *const[]){"ev-five", "ev-997"}, 2, MAX_WAIT);
        tu_reader_drain(res, MAX_WAIT);
        const struct tu_kmsg *m = tu_reader_find(res, "ev-997");
        cr_assert_leq(m->len, 256 * 1024, "result of %zu bytes", m->len);
        yajl_val r = tu_json(m->value);
        cr_assert_str_eq(tu_str(r, "status"), "WA");
        yajl_tree_free(r);

        struct tu_reader *ev = reader_new(&e2e.b, EVENTS);
        tu_reader_drain(ev, MAX_WAIT);
        check_events(ev, "ev-five", 5);
        check_events(ev, "ev-997", 997);
        cr_assert_eq(tu_reader_count(ev, "ev-997"), 1000, "the events of 997 tests");
        tu_reader_free(ev);
        tu_reader_free(res);
        free(five);
        free(big);
        e2e_end(&e2e);
}

/* ---- (3) kill -9 mid-execution ----------------------------------------------------------- */

/* The pids of the executors named in "executor ready" lines. */
static size_t executor_pids(const char *log, pid_t *pids, size_t max)
{
        size_t n = 0;
        for (const char *p = log; n < max && (p = strstr(p, "\"msg\":\"executor ready\"")); p++) {
                const char *q = strstr(p, "\"pid\":");
                if (q)
                        pids[n++] = (pid_t)atoi(q + 6);
        }
        return n;
}

/* Kill -9 the service once the log has `judged` "judged" lines and the group has committed
 * every message judged so far (their results are on the broker, their offsets too), while
 * the other messages are in the middle of their tests: each of those must get exactly one
 * answer, from the restarted service. A kill in the moment between the broker taking a
 * result and the runner learning it (acknowledgement, commit) is the window kafka.h
 * (OWNERSHIP) names, where a message may be answered twice by design; a test that killed
 * right after "judged" would land in it now and then (it did, in CI). Returns the log as
 * it was at the kill. */
static char *kill9_when_committed(struct e2e *t, size_t judged)
{
        rd_kafka_t *g = tu_group_client(t->b.addr, GROUP);
        const char *needle = "\"msg\":\"judged\"";
        double end = tu_now_s() + MAX_WAIT;
        for (;;) {
                char *log = tu_svc_wait_log(&t->s, needle, judged, MAX_WAIT);
                bool all = true;
                for (const char *p = log; all && (p = strstr(p, needle)); p++) {
                        const char *part = strstr(p, "\"partition\":");
                        const char *off = strstr(p, "\"offset\":");
                        cr_assert(part && off, "a judged line without coordinates:\n%s", log);
                        all = tu_group_answered(g, TOPIC, atoi(part + 12), atoll(off + 9));
                }
                if (all) {
                        /* nothing judged since that read: kill now */
                        char *now = tu_slurp(t->s.log);
                        if (tu_count(now, needle) == tu_count(log, needle)) {
                                kill(t->s.pid, SIGKILL);
                                waitpid(t->s.pid, NULL, 0);
                                free(log);
                                rd_kafka_destroy(g);
                                return now;
                        }
                        free(now);
                }
                free(log);
                cr_assert(tu_now_s() < end, "the judged messages were never committed");
                usleep(20000);
        }
}

Test(serve, kill9_restart_exactly_one_result)
{
        enum { N = 8 };
        char *ids[N], *subs[N];
        struct msg msgs[N];
        for (int i = 0; i < N; i++) {
                ids[i] = tu_asprintf("k9-%d", i);
                subs[i] = c_sleeper(ids[i], 600, 2);
                msgs[i] = (struct msg){ids[i], subs[i]};
        }
        struct e2e e2e = {0};
        e2e_start(&e2e, msgs, N, ENV("RUNNER_MAX_PARALLEL=2"));
        for (int i = 0; i < N; i++)
                free(subs[i]);
        /* some results durable and committed, others in the middle of their tests */
        char *log = kill9_when_committed(&e2e, 2);
        size_t judging = tu_count(log, "\"msg\":\"judging\"");
        size_t judged = tu_count(log, "\"msg\":\"judged\"");
        cr_log_info("kill -9 with %zu judged of %zu started", judged, judging);
        pid_t ex[8];
        size_t nex = executor_pids(log, ex, 8);
        cr_assert_eq(nex, 2);
        free(log);
        /* the executors die with it (PR_SET_PDEATHSIG) */
        double end = tu_now_s() + 30;
        for (size_t i = 0; i < nex; i++) {
                while (kill(ex[i], 0) == 0 && tu_now_s() < end)
                        usleep(10000);
                cr_assert(kill(ex[i], 0) < 0 && errno == ESRCH, "executor %d survived", (int)ex[i]);
        }

        struct tu_svc s2 = e2e_serve(&e2e, "second", ENV("RUNNER_MAX_PARALLEL=2"));
        struct tu_reader *r = reader_new(&e2e.b, RESULTS);
        tu_reader_wait_keys(r, (const char *const *)ids, N, MAX_WAIT);
        /* everything there: stop it cleanly, then count what reached the topic */
        wait_log(&s2, "\"msg\":\"serving\"", 1);
        kill(s2.pid, SIGTERM);
        int st = tu_svc_wait(&s2, 120);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        tu_reader_drain(r, MAX_WAIT);
        for (int i = 0; i < N; i++) {
                cr_expect_eq(tu_reader_count(r, ids[i]), 1, "%s: %zu results", ids[i],
                             tu_reader_count(r, ids[i]));
                yajl_val res = tu_json(tu_reader_find(r, ids[i])->value);
                cr_expect_str_eq(tu_str(res, "status"), "OK", "%s: %s", ids[i],
                                 tu_str(res, "error"));
                yajl_tree_free(res);
                free(ids[i]);
        }
        tu_reader_free(r);
        e2e_end(&e2e);
}

/* The source message of a result (its "source" object): partition and offset; the topic
 * must be the submissions topic. */
static void result_source(const struct tu_kmsg *k, int *part, long long *off)
{
        yajl_val r = tu_json(k->value);
        yajl_val src = get(r, "source", NULL);
        cr_assert(YAJL_IS_OBJECT(src), "result without a source: %s", k->value);
        cr_assert_str_eq(tu_str(src, "topic"), TOPIC);
        *part = (int)tu_int(src, "partition");
        *off = tu_int(src, "offset");
        yajl_tree_free(r);
}

/* Every one of the `n` messages produced to TOPIC (all partitions, offsets from 0) has
 * exactly one result in r, counted by the result's source coordinates. */
static void assert_one_result_per_message(const struct tu_reader *r, size_t n)
{
        size_t per_part[NPARTS] = {0};
        for (size_t i = 0; i < r->n; i++) {
                int part;
                long long off;
                result_source(&r->m[i], &part, &off);
                cr_assert(part >= 0 && part < NPARTS && off >= 0, "%d %lld", part, off);
                if ((size_t)off + 1 > per_part[part])
                        per_part[part] = (size_t)off + 1;
        }
        size_t total = 0;
        for (int p = 0; p < NPARTS; p++)
                total += per_part[p];
        cr_assert_eq(total, n, "results name %zu messages, %zu were produced", total, n);
        for (int p = 0; p < NPARTS; p++) {
                for (size_t o = 0; o < per_part[p]; o++) {
                        size_t count = 0;
                        for (size_t i = 0; i < r->n; i++) {
                                int part;
                                long long off;
                                result_source(&r->m[i], &part, &off);
                                count += part == p && off == (long long)o;
                        }
                        cr_expect_eq(count, 1, "message %s[%d]@%zu: %zu results", TOPIC, p, o,
                                     count);
                }
        }
        cr_assert_eq(r->n, n, "%zu results for %zu messages", r->n, n);
}

/* Ids repeat (a rejudge; a client whose numbering restarts): every message is judged and
 * answered once, also the one being judged when the service is killed. */
Test(serve, kill9_repeated_ids_one_result_per_message)
{
        enum { N = 6 };
        char *sub = c_sleeper("twin", 600, 2);
        struct msg msgs[N];
        for (int i = 0; i < N; i++)
                msgs[i] = (struct msg){"twin", sub}; /* same key: same partition, in order */
        struct e2e e2e = {0};
        e2e_start(&e2e, msgs, N, ENV("RUNNER_MAX_PARALLEL=2"));
        /* two answered and committed, two of the same id in the middle of their tests */
        wait_log(&e2e.s, "\"msg\":\"judging\"", 4);
        char *log = kill9_when_committed(&e2e, 2);
        cr_log_info("kill -9 with %zu judged of %zu started", tu_count(log, "\"msg\":\"judged\""),
                    tu_count(log, "\"msg\":\"judging\""));
        free(log);

        struct tu_svc s2 = e2e_serve(&e2e, "second", ENV("RUNNER_MAX_PARALLEL=2"));
        struct tu_reader *r = reader_new(&e2e.b, RESULTS);
        double end = tu_now_s() + MAX_WAIT;
        while (tu_reader_count(r, "twin") < N) {
                cr_assert(tu_now_s() < end, "%zu of %d results", tu_reader_count(r, "twin"), N);
                tu_reader_poll(r, 200);
        }
        wait_log(&s2, "\"msg\":\"serving\"", 1);
        kill(s2.pid, SIGTERM);
        int st = tu_svc_wait(&s2, 120);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        tu_reader_drain(r, MAX_WAIT);
        assert_one_result_per_message(r, N);
        for (size_t i = 0; i < r->n; i++) {
                yajl_val res = tu_json(r->m[i].value);
                cr_expect_str_eq(tu_str(res, "id"), "twin");
                cr_expect_str_eq(tu_str(res, "status"), "OK", "%s", tu_str(res, "error"));
                yajl_tree_free(res);
        }
        tu_reader_free(r);
        free(sub);
        e2e_end(&e2e);
}

/* The reference simulator's 25 scenarios (5 languages x ok, wa, tl, ml, bf), sent twice
 * with the same ids through one service: 50 results, every one right. */
Test(serve, same_ids_twice_fifty_results)
{
        static const char *const langs[] = {"c", "cpp", "go", "java", "python"};
        static const char *const outcomes[] = {"ok", "wa", "tl_busy", "ml", "bf"};
        enum { N = 25 };
        char *texts[N], *ids[N];
        const char *want[N];
        yajl_val subs[N];
        for (int l = 0; l < 5; l++)
                for (int o = 0; o < 5; o++) {
                        int i = l * 5 + o;
                        char *path = tu_asprintf("%s/tests/cases/%s/%s.json", JR_SOURCE_DIR,
                                                 langs[l], outcomes[o]);
                        texts[i] = tu_slurp(path);
                        cr_assert(texts[i][0], "no %s", path);
                        free(path);
                        subs[i] = tu_json(texts[i]);
                        ids[i] = strdup(tu_str(subs[i], "id"));
                        want[i] = YAJL_GET_STRING(get(subs[i], "expect", "status"));
                }
        struct e2e e2e = {0};
        e2e_start(&e2e, NULL, 0, ENV("RUNNER_MAX_PARALLEL=2"));
        wait_log(&e2e.s, "\"msg\":\"serving\"", 1);
        struct tu_reader *r = reader_new(&e2e.b, RESULTS);
        for (int run = 1; run <= 2; run++) {
                rd_kafka_t *prod = producer_new(&e2e.b);
                for (int i = 0; i < N; i++)
                        produce_str(prod, ids[i], texts[i]);
                producer_done(prod);
                double end = tu_now_s() + MAX_WAIT;
                while (r->n < (size_t)(run * N)) {
                        cr_assert(tu_now_s() < end, "run %d: %zu results", run, r->n);
                        tu_reader_poll(r, 200);
                }
        }
        kill(e2e.s.pid, SIGTERM);
        int st = tu_svc_wait(&e2e.s, 120);
        char *log = tu_slurp(e2e.s.log);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "exit %d:\n%s", WEXITSTATUS(st), log);
        cr_assert(!strstr(log, "already answered"), "a message was skipped:\n%s", log);
        tu_reader_drain(r, MAX_WAIT);
        assert_one_result_per_message(r, 2 * N);
        for (int i = 0; i < N; i++) {
                cr_expect_eq(tu_reader_count(r, ids[i]), 2, "%s: %zu results", ids[i],
                             tu_reader_count(r, ids[i]));
                for (size_t k = 0; k < r->n; k++) {
                        if (strcmp(r->m[k].key, ids[i]))
                                continue;
                        yajl_val res = tu_json(r->m[k].value);
                        cr_expect_str_eq(tu_str(res, "status"), want[i], "%s: %s", ids[i],
                                         tu_str(res, "error"));
                        yajl_tree_free(res);
                }
                yajl_tree_free(subs[i]);
                free(texts[i]);
                free(ids[i]);
        }
        free(log);
        tu_reader_free(r);
        e2e_end(&e2e);
}

/* ---- an executor dies: its submission is judged again ------------------------------------ */

Test(serve, executor_crash_retried)
{
        char *sub = c_sleeper("crash-1", 1500, 3);
        struct e2e e2e = {0};
        e2e_start(&e2e, (const struct msg[]){{"crash-1", sub}}, 1,
                  ENV("RUNNER_MAX_PARALLEL=1", "SCRIPT_EXPECTED=1"));
        free(sub);
        wait_log(&e2e.s, "\"msg\":\"judging\"", 1);
        char *log = tu_slurp(e2e.s.log);
        pid_t ex;
        cr_assert_eq(executor_pids(log, &ex, 1), 1);
        free(log);
        kill(ex, SIGKILL);
        int st = tu_svc_wait(&e2e.s, 300);
        log = tu_slurp(e2e.s.log);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "exit %d:\n%s", WEXITSTATUS(st), log);
        cr_assert(strstr(log, "\"attempt\":2"), "not judged again:\n%s", log);

        struct tu_reader *r = reader_new(&e2e.b, RESULTS);
        tu_reader_wait_keys(r, (const char *const[]){"crash-1"}, 1, MAX_WAIT);
        tu_reader_drain(r, MAX_WAIT);
        cr_assert_eq(tu_reader_count(r, "crash-1"), 1);
        yajl_val res = tu_json(tu_reader_find(r, "crash-1")->value);
        cr_assert_str_eq(tu_str(res, "status"), "OK", "%s", tu_str(res, "error"));
        yajl_tree_free(res);
        /* events stay in strictly increasing seq order across the two attempts */
        struct tu_reader *ev = reader_new(&e2e.b, EVENTS);
        tu_reader_drain(ev, MAX_WAIT);
        check_events(ev, "crash-1", 3);
        tu_reader_free(ev);
        tu_reader_free(r);
        free(log);
        e2e_end(&e2e);
}

/* ---- (4) broker outage while results are pending ----------------------------------------- */

static size_t spool_records(const char *dir)
{
        char *sp = tu_asprintf("%s/spool", dir);
        DIR *d = opendir(sp);
        free(sp);
        if (!d)
                return 0;
        size_t n = 0;
        struct dirent *de;
        while ((de = readdir(d)))
                n += strstr(de->d_name, ".rec") != NULL;
        closedir(d);
        return n;
}

Test(serve, broker_outage_delivers_after_restart)
{
        enum { N = 3 };
        char *ids[N], *subs[N];
        struct msg msgs[N];
        for (int i = 0; i < N; i++) {
                ids[i] = tu_asprintf("outage-%d", i);
                subs[i] = c_sleeper(ids[i], 1500, 1);
                msgs[i] = (struct msg){ids[i], subs[i]};
        }
        struct e2e e2e = {0};
        e2e_start(&e2e, msgs, N, ENV("RUNNER_MAX_PARALLEL=3"));
        for (int i = 0; i < N; i++)
                free(subs[i]);
        /* all three consumed and running: the broker goes silent */
        wait_log(&e2e.s, "\"msg\":\"judging\"", N);
        cr_assert_eq(kill(e2e.b.pid, SIGSTOP), 0);
        /* judged while the broker is away: durable in the spool, not acknowledged */
        wait_log(&e2e.s, "\"msg\":\"judged\"", N);
        size_t pending = spool_records(e2e.dir);
        cr_assert_geq(pending, N, "only %zu records spooled", pending);
        struct tu_reader *r = reader_new(&e2e.b, RESULTS); /* connects once the broker is back */
        cr_assert_eq(kill(e2e.b.pid, SIGCONT), 0);
        tu_reader_wait_keys(r, (const char *const *)ids, N, MAX_WAIT);
        kill(e2e.s.pid, SIGTERM);
        int st = tu_svc_wait(&e2e.s, 120);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        cr_assert_eq(spool_records(e2e.dir), 0, "records left in the spool");
        tu_reader_drain(r, MAX_WAIT);
        for (int i = 0; i < N; i++) {
                cr_expect_eq(tu_reader_count(r, ids[i]), 1);
                free(ids[i]);
        }
        tu_reader_free(r);
        e2e_end(&e2e);
}

/* The broker goes down for real (connections dropped, new ones refused: the mock cluster
 * in this process, rd_kafka_mock_broker_set_down), the service judges on, spools, says so
 * in its log, and delivers everything once the broker is back. */
Test(serve, broker_down_then_up)
{
        jr_kafka_topic_spec topics[] = {{TOPIC, NPARTS}, {RESULTS, NPARTS}, {EVENTS, NPARTS}};
        jr_kafka_broker *mock = NULL;
        jr_error e;
        ASSERT_OK(jr_kafka_broker_start(topics, 3, NULL, NULL, &mock, &e), e);
        enum { N = 3 };
        char *ids[N], *subs[N];
        struct msg msgs[N];
        for (int i = 0; i < N; i++) {
                ids[i] = tu_asprintf("down-%d", i);
                subs[i] = c_sleeper(ids[i], 1500, 1);
                msgs[i] = (struct msg){ids[i], subs[i]};
        }
        /* the broker is the mock in this process: e2e_start starts none */
        struct e2e e2e = {0};
        snprintf(e2e.b.addr, sizeof e2e.b.addr, "%s", jr_kafka_broker_bootstraps(mock));
        e2e_start(&e2e, msgs, N, ENV("RUNNER_MAX_PARALLEL=3"));
        for (int i = 0; i < N; i++)
                free(subs[i]);
        wait_log(&e2e.s, "\"msg\":\"judging\"", N);
        ASSERT_OK(jr_kafka_broker_set_down(mock, true, &e), e);
        wait_log(&e2e.s, "\"msg\":\"judged\"", N);
        cr_assert_geq(spool_records(e2e.dir), N);
        /* the outage is in the log, from librdkafka through the service's JSON lines */
        wait_log(&e2e.s, "Connection refused", 1);
        char *log = tu_slurp(e2e.s.log);
        char *line = strstr(log, "Connection refused");
        while (line > log && line[-1] != '\n')
                line--;
        cr_log_info("%.*s", (int)strcspn(line, "\n"), line);
        free(log);
        ASSERT_OK(jr_kafka_broker_set_down(mock, false, &e), e);
        struct tu_reader *r = reader_new(&e2e.b, RESULTS);
        tu_reader_wait_keys(r, (const char *const *)ids, N, MAX_WAIT);
        kill(e2e.s.pid, SIGTERM);
        int st = tu_svc_wait(&e2e.s, 120);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        cr_assert_eq(spool_records(e2e.dir), 0, "records left in the spool");
        tu_reader_drain(r, MAX_WAIT);
        for (int i = 0; i < N; i++) {
                cr_expect_eq(tu_reader_count(r, ids[i]), 1);
                free(ids[i]);
        }
        tu_reader_free(r);
        jr_kafka_broker_stop(mock);
        e2e_end(&e2e);
}

/* ---- (5) invalid messages interleaved with valid ones ------------------------------------ */

Test(serve, invalid_messages_interleaved)
{
        char *ok1 = c_sleeper("valid-1", 0, 1), *ok2 = c_sleeper("valid-2", 0, 2),
             *ok3 = c_sleeper("valid-3", 0, 1);
        /* 1001 tests */
        size_t cap = 1001 * 16 + 256, off = 0;
        char *many = malloc(cap);
        off += (size_t)snprintf(many, cap,
                                "{\"id\":\"too-many\",\"language\":\"c\",\"source\":\"x\","
                                "\"tests\":[");
        for (int i = 0; i < 1001; i++)
                off += (size_t)snprintf(many + off, cap - off, "%s{}", i ? "," : "");
        snprintf(many + off, cap - off, "]}");
        /* over JAILRUN_MAX_SUBMISSION_BYTES=64KiB */
        size_t hlen = 100 * 1024;
        char *huge = malloc(hlen + 128);
        int h = snprintf(huge, 128, "{\"id\":\"huge\",\"language\":\"c\",\"source\":\"");
        memset(huge + h, 'x', hlen);
        strcpy(huge + h + hlen, "\"}");

        struct {
                const char *key, *value, *want; /* want: IE error substring, NULL = judged OK */
        } msgs[] = {
            {"valid-1", ok1, NULL},
            {"not-json", "this is { not json", "JSON"},
            {"bad-lang", "{\"id\":\"bad-lang\",\"language\":\"cobol\",\"source\":\"x\"}",
             "language"},
            {"valid-2", ok2, NULL},
            {"no-source", "{\"id\":\"no-source\",\"language\":\"c\"}", "source"},
            {"empty", "", "JSON"},
            {"too-many", many, "tests"},
            {"huge", huge, "bytes"},
            {"bad-limit",
             "{\"id\":\"bad-limit\",\"language\":\"c\",\"source\":\"x\",\"limits\":"
             "{\"time_limit_ms\":-5}}",
             "time_limit_ms"},
            {"valid-3", ok3, NULL},
            {"array", "[1,2,3]", "object"},
        };
        enum { N = sizeof msgs / sizeof msgs[0] };
        struct msg produced[N + 1];
        for (size_t i = 0; i < N; i++)
                produced[i] = (struct msg){msgs[i].key, msgs[i].value};
        /* no key, no id: the result's id is topic:offset */
        produced[N] = (struct msg){NULL, "{\"language\":\"c\"}"};
        struct e2e e2e = {0};
        e2e_start(&e2e, produced, N + 1,
                  ENV("RUNNER_MAX_PARALLEL=1", "SCRIPT_EXPECTED=12",
                      "JAILRUN_MAX_SUBMISSION_BYTES=64KiB"));
        int st = tu_svc_wait(&e2e.s, 300);
        char *log = tu_slurp(e2e.s.log);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "exit %d:\n%s", WEXITSTATUS(st), log);
        struct tu_reader *r = reader_new(&e2e.b, RESULTS);
        const char *keys[N];
        for (size_t i = 0; i < N; i++)
                keys[i] = msgs[i].key;
        tu_reader_wait_keys(r, keys, N, MAX_WAIT);
        tu_reader_drain(r, MAX_WAIT);
        cr_assert_eq(r->n, N + 1, "%zu results for %d messages", r->n, N + 1);
        for (size_t i = 0; i < N; i++) {
                cr_expect_eq(tu_reader_count(r, msgs[i].key), 1, "%s", msgs[i].key);
                yajl_val res = tu_json(tu_reader_find(r, msgs[i].key)->value);
                cr_expect_str_eq(tu_str(res, "id"), msgs[i].key);
                if (!msgs[i].want) {
                        cr_expect_str_eq(tu_str(res, "status"), "OK", "%s: %s", msgs[i].key,
                                         tu_str(res, "error"));
                } else {
                        cr_expect_str_eq(tu_str(res, "status"), "IE", "%s", msgs[i].key);
                        cr_expect(strstr(tu_str(res, "error"), msgs[i].want),
                                  "%s: error \"%s\" does not mention %s", msgs[i].key,
                                  tu_str(res, "error"), msgs[i].want);
                        cr_expect(tu_is_null(res, "exit_code"));
                }
                yajl_tree_free(res);
        }
        /* the keyless one */
        bool found = false;
        for (size_t i = 0; i < r->n; i++)
                if (!strncmp(r->m[i].key, TOPIC ":", strlen(TOPIC) + 1)) {
                        yajl_val res = tu_json(r->m[i].value);
                        cr_expect_str_eq(tu_str(res, "status"), "IE");
                        cr_expect_str_eq(tu_str(res, "id"), r->m[i].key);
                        yajl_tree_free(res);
                        found = true;
                }
        cr_expect(found, "no result with a topic:offset id");
        tu_reader_free(r);
        free(log);
        free(ok1);
        free(ok2);
        free(ok3);
        free(many);
        free(huge);
        e2e_end(&e2e);
}

/* ---- (6) graceful shutdown with work in flight -------------------------------------------- */

Test(serve, sigterm_finishes_in_flight)
{
        char *slow = c_sleeper("term-slow", 1500, 2);
        char *next = c_sleeper("term-next", 0, 1);
        struct e2e e2e = {0};
        e2e_start(&e2e, (const struct msg[]){{"term-slow", slow}}, 1, ENV("RUNNER_MAX_PARALLEL=1"));
        wait_log(&e2e.s, "\"msg\":\"judging\"", 1);
        /* a second submission arrives while the first runs: consumed or not, it is not
         * started after the signal, and it is not lost */
        rd_kafka_t *prod = producer_new(&e2e.b);
        produce_str(prod, "term-next", next);
        producer_done(prod);
        kill(e2e.s.pid, SIGTERM);
        int st = tu_svc_wait(&e2e.s, 120);
        char *log = tu_slurp(e2e.s.log);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "exit %d:\n%s", WEXITSTATUS(st), log);
        cr_assert(strstr(log, "\"msg\":\"judged\",\"id\":\"term-slow\""), "%s", log);
        cr_assert(!strstr(log, "\"msg\":\"judging\",\"id\":\"term-next\""), "%s", log);
        struct tu_reader *r = reader_new(&e2e.b, RESULTS);
        tu_reader_wait_keys(r, (const char *const[]){"term-slow"}, 1, MAX_WAIT);
        yajl_val res = tu_json(tu_reader_find(r, "term-slow")->value);
        cr_assert_str_eq(tu_str(res, "status"), "OK");
        yajl_tree_free(res);

        /* the next start judges the one left in the broker */
        struct tu_svc s2 =
            e2e_serve(&e2e, "second", ENV("RUNNER_MAX_PARALLEL=1", "SCRIPT_EXPECTED=1"));
        st = tu_svc_wait(&s2, 300);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        tu_reader_wait_keys(r, (const char *const[]){"term-next"}, 1, MAX_WAIT);
        tu_reader_drain(r, MAX_WAIT);
        cr_assert_eq(tu_reader_count(r, "term-slow"), 1);
        cr_assert_eq(tu_reader_count(r, "term-next"), 1);
        tu_reader_free(r);
        free(log);
        free(slow);
        free(next);
        e2e_end(&e2e);
}

/* Ctrl-C in a terminal: SIGINT to the whole foreground process group. Only the supervisor
 * may see it; the program being judged keeps running and gets its verdict. */
Test(serve, ctrl_c_spares_the_jails)
{
        char *slow = c_sleeper("ctrl-c", 1500, 2);
        struct e2e e2e = {0};
        e2e_start(&e2e, (const struct msg[]){{"ctrl-c", slow}}, 1, ENV("RUNNER_MAX_PARALLEL=1"));
        /* the build is done: the program runs its first test now */
        struct tu_reader *ev = reader_new(&e2e.b, EVENTS);
        double end = tu_now_s() + MAX_WAIT;
        for (bool built = false; !built;) {
                cr_assert(tu_now_s() < end, "no build event");
                tu_reader_poll(ev, 100);
                for (size_t i = 0; i < ev->n && !built; i++)
                        built = strstr(ev->m[i].value, "\"type\":\"build\"") != NULL;
        }
        cr_assert_eq(kill(-e2e.s.pid, SIGINT), 0);
        int st = tu_svc_wait(&e2e.s, 120);
        char *log = tu_slurp(e2e.s.log);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "exit %d:\n%s", WEXITSTATUS(st), log);
        struct tu_reader *r = reader_new(&e2e.b, RESULTS);
        tu_reader_wait_keys(r, (const char *const[]){"ctrl-c"}, 1, MAX_WAIT);
        yajl_val res = tu_json(tu_reader_find(r, "ctrl-c")->value);
        cr_assert_str_eq(tu_str(res, "status"), "OK", "%s", tu_reader_find(r, "ctrl-c")->value);
        yajl_tree_free(res);
        tu_reader_free(r);
        tu_reader_free(ev);
        free(log);
        free(slow);
        e2e_end(&e2e);
}

/* ---- "done", the embedded broker, --print-results, SIGHUP --------------------------------- */

Test(serve, done_message_exits)
{
        char *sub = c_sleeper("before-done", 0, 1);
        /* same key: same partition, so "done" comes after it */
        struct e2e e2e = {0};
        e2e_start(&e2e, (const struct msg[]){{"k", sub}, {"k", "{\"type\":\"done\"}"}}, 2, NULL);
        int st = tu_svc_wait(&e2e.s, 300);
        char *log = tu_slurp(e2e.s.log);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "exit %d:\n%s", WEXITSTATUS(st), log);
        cr_assert(strstr(log, "\"msg\":\"judged\",\"id\":\"before-done\""), "%s", log);
        free(log);
        free(sub);
        e2e_end(&e2e);
}

Test(serve, embedded_broker_produce_print)
{
        char *dir = mkworkdir();
        char *spool = tu_asprintf("JAILRUN_SPOOL_DIR=%s/spool", dir);
        char *ok = tu_asprintf("%s/tests/cases/c/ok.json", JR_SOURCE_DIR);
        char *wa = tu_asprintf("%s/tests/cases/python/wa.json", JR_SOURCE_DIR);
        char *logf = tu_asprintf("%s/file.log", dir), *moved = tu_asprintf("%s/file.log.1", dir);
        struct tu_svc s =
            svc_start(dir, "serve", (const char *const[]){"KAFKA_BROKERS=embedded", spool, NULL},
                      (const char *const[]){"--produce", ok, "--produce", wa, "--print-results",
                                            "--log-file", logf, NULL});
        free(s.log);
        s.log = logf;
        wait_log(&s, "\"msg\":\"serving\"", 1);
        /* log rotation: move the file, SIGHUP, the new file gets the rest */
        cr_assert_eq(rename(logf, moved), 0);
        kill(s.pid, SIGHUP);
        int st = tu_svc_wait(&s, 300);
        char *log = tu_slurp(moved);
        char *log2 = tu_slurp(logf);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "exit %d:\n%s%s", WEXITSTATUS(st), log,
                  log2);
        cr_assert(strstr(log, "\"msg\":\"embedded broker started\""), "%s", log);
        cr_assert(strstr(log2, "\"msg\":\"SIGHUP: log reopened\""), "%s", log2);
        cr_assert(strstr(log2, "\"msg\":\"exiting\""), "%s", log2);
        char *out = tu_slurp(s.out);
        size_t lines = 0;
        for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
                yajl_val r = tu_json(line);
                const char *id = tu_str(r, "id");
                cr_assert(!strcmp(id, "c-ok") || !strcmp(id, "python-wa"), "%s", id);
                cr_assert_str_eq(tu_str(r, "status"), !strcmp(id, "c-ok") ? "OK" : "WA");
                yajl_tree_free(r);
                lines++;
        }
        cr_assert_eq(lines, 2);
        free(out);
        free(log);
        free(log2);
        free(moved);
        free(ok);
        free(wa);
        free(spool);
        rm_rf(dir);
}

/* systemd's Type=notify: READY=1 once serving, STOPPING=1 on SIGTERM. */
static char *notify_recv(int fd)
{
        struct pollfd p = {fd, POLLIN, 0};
        cr_assert_eq(poll(&p, 1, MAX_WAIT * 1000), 1, "no sd_notify datagram");
        char buf[1024];
        ssize_t n = recv(fd, buf, sizeof buf - 1, 0);
        cr_assert_gt(n, 0);
        buf[n] = '\0';
        return strdup(buf);
}

Test(serve, sd_notify_ready_and_stopping)
{
        char *dir = mkworkdir();
        char *path = tu_asprintf("%s/notify", dir);
        int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
        cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0, "%s", strerror(errno));
        char *env_sock = tu_asprintf("NOTIFY_SOCKET=%s", path);
        /* no JAILRUN_SPOOL_DIR: the embedded broker gets a temporary spool */
        struct tu_svc s = svc_start(
            dir, "serve", (const char *const[]){"KAFKA_BROKERS=embedded", env_sock, NULL}, NULL);
        char *m = notify_recv(fd);
        cr_assert(strstr(m, "READY=1"), "%s", m);
        char *log = tu_slurp(s.log);
        cr_assert(strstr(log, "\"msg\":\"serving\""), "READY before serving:\n%s", log);
        free(log);
        free(m);
        kill(s.pid, SIGTERM);
        bool stopping = false;
        for (int i = 0; i < 4 && !stopping; i++) {
                m = notify_recv(fd);
                stopping = strstr(m, "STOPPING=1") != NULL;
                free(m);
        }
        cr_assert(stopping, "no STOPPING=1");
        int st = tu_svc_wait(&s, 120);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        close(fd);
        free(path);
        log = tu_slurp(s.log);
        const char *key = "\"msg\":\"spool open\",\"dir\":\"";
        const char *p = strstr(log, key);
        cr_assert(p, "%s", log);
        char spool[128];
        cr_assert_eq(sscanf(p + strlen(key), "%127[^\"]", spool), 1);
        cr_assert(!strncmp(spool, "/tmp/jailrun-embedded-", 22), "spool %s", spool);
        struct stat sb;
        cr_assert(stat(spool, &sb) < 0 && errno == ENOENT, "%s left behind", spool);
        free(log);
        free(env_sock);
        rm_rf(dir);
}

/* ---- (7) memory stays bounded ------------------------------------------------------------- */

/* GET /metrics from the address of the service's "metrics endpoint" log line. */
static char *scrape(const struct tu_svc *s)
{
        char *log = tu_slurp(s->log);
        const char *p = strstr(log, "\"msg\":\"metrics endpoint\"");
        cr_assert(p, "no metrics endpoint in the log");
        p = strstr(p, "\"address\":\"");
        cr_assert(p);
        char host[64];
        int port = 0;
        cr_assert(sscanf(p + 11, "%63[^:]:%d", host, &port) == 2, "%s", p);
        free(log);
        struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai;
        char ports[16];
        snprintf(ports, sizeof ports, "%d", port);
        cr_assert_eq(getaddrinfo(host, ports, &hints, &ai), 0);
        int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        cr_assert(fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) == 0, "connect: %s",
                  strerror(errno));
        freeaddrinfo(ai);
        const char req[] = "GET /metrics HTTP/1.0\r\n\r\n";
        cr_assert_eq(write(fd, req, sizeof req - 1), (ssize_t)sizeof req - 1);
        size_t n = 0, cap = 65536;
        char *buf = malloc(cap);
        ssize_t r;
        while ((r = read(fd, buf + n, cap - n - 1)) > 0) {
                n += (size_t)r;
                if (n + 1 == cap)
                        buf = realloc(buf, cap *= 2);
        }
        buf[n] = '\0';
        close(fd);
        return buf;
}

static int cmp_long(const void *a, const void *b)
{
        long x = *(const long *)a, y = *(const long *)b;
        return x < y ? -1 : x > y;
}

static long median_kb(long *v, size_t n)
{
        qsort(v, n, sizeof *v, cmp_long);
        return n ? v[n / 2] : 0;
}

/* Reset the peak RSS to the current RSS (Linux >= 4.0), so that VmHWM is per round. */
static void reset_peak(pid_t pid)
{
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/clear_refs", (int)pid);
        FILE *f = fopen(path, "we");
        cr_assert(f, "%s: %s", path, strerror(errno));
        fputs("5", f);
        fclose(f);
}

Test(serve, memory_bounded)
{
        /* 60 000 invalid messages (cheap: volume) and 96 submissions of 997 tests (the most
         * the cap of 1000 events allows) whose first test fails (996 "-" tests: 1000 events
         * each and a result cut to 256 KiB),
         * in 12 rounds: 4 to warm up, then two halves of 4 to compare */
        enum { ROUNDS = 12, WARMUP = 4, INVALID = 5000, BIG = 8 };
        /* a small finished-id record: its memory is bounded by this, not by the traffic */
        struct e2e e2e = {0};
        e2e_start(&e2e, NULL, 0,
                  ENV("RUNNER_MAX_PARALLEL=2", "JAILRUN_SPOOL_FINISHED_MAX=1000",
                      "JAILRUN_METRICS_ADDR=127.0.0.1:0"));
        wait_log(&e2e.s, "\"msg\":\"serving\"", 1);
        struct tu_reader *r = reader_new(&e2e.b, RESULTS);
        size_t cap = 1000 * 64 + 1024;
        char *big = malloc(cap);
        long peak[ROUNDS], idle[ROUNDS];
        size_t total = 0;
        for (int round = 0; round < ROUNDS; round++) {
                reset_peak(e2e.s.pid);
                rd_kafka_t *prod = producer_new(&e2e.b);
                char **keys = calloc(INVALID + BIG, sizeof *keys);
                size_t nk = 0;
                for (int i = 0; i < INVALID; i++) {
                        char *id = tu_asprintf("mem-%d-%d", round, i);
                        char *v = tu_asprintf("{\"id\":\"%s\",\"language\":\"c\"}", id);
                        produce_str(prod, id, v);
                        free(v);
                        keys[nk++] = id;
                }
                for (int k = 0; k < BIG; k++) {
                        char *id = tu_asprintf("membig-%d-%d", round, k);
                        size_t off = (size_t)snprintf(big, cap,
                                                      "{\"id\":\"%s\",\"language\":\"c\","
                                                      "\"source\":\"int main(void){return 0;}\\n"
                                                      "//%d-%d\\n\",\"tests\":[",
                                                      id, round, k);
                        for (int i = 0; i < 997; i++)
                                off += (size_t)snprintf(big + off, cap - off,
                                                        "%s{\"input\":\"%d\\n\","
                                                        "\"expected_output\":\"x\\n\"}",
                                                        i ? "," : "", i);
                        snprintf(big + off, cap - off, "]}");
                        produce_str(prod, id, big);
                        keys[nk++] = id;
                }
                producer_done(prod);
                double end = tu_now_s() + MAX_WAIT;
                size_t seen_from = r->n;
                for (;;) {
                        tu_reader_poll(r, 200);
                        size_t got = 0;
                        for (size_t i = seen_from; i < r->n; i++)
                                got += !strncmp(r->m[i].key, "mem", 3);
                        if (got >= nk)
                                break;
                        cr_assert(tu_now_s() < end, "round %d: %zu of %zu results", round, got, nk);
                }
                for (size_t i = 0; i < nk; i += 97)
                        cr_assert_eq(tu_reader_count(r, keys[i]), 1, "%s", keys[i]);
                for (size_t i = 0; i < nk; i++)
                        free(keys[i]);
                free(keys);
                /* the reader's copies are not what is measured */
                for (size_t i = 0; i < r->n; i++) {
                        free(r->m[i].value);
                        r->m[i].value = strdup("");
                }
                total += nk;
                peak[round] = tu_status_kb(e2e.s.pid, "VmHWM:");
                idle[round] = tu_status_kb(e2e.s.pid, "VmRSS:");
                cr_assert_gt(peak[round], 0);
                cr_log_info("after %zu submissions: peak RSS in the round %ld kB, RSS %ld kB",
                            total, peak[round], idle[round]);
                if (round == 0) {
                        /* the Prometheus endpoint counts what happened */
                        char *m = scrape(&e2e.s);
                        char *want = tu_asprintf("jailrun_invalid_messages_total %d", INVALID);
                        cr_expect(strstr(m, want), "no \"%s\" in:\n%s", want, m);
                        cr_expect(strstr(m, "jailrun_slots 2"), "%s", m);
                        char *wa = tu_asprintf(
                            "jailrun_results_total{language=\"c\",status=\"WA\"} %d", BIG);
                        cr_expect(strstr(m, wa), "no \"%s\" in:\n%s", wa, m);
                        free(wa);
                        free(want);
                        free(m);
                }
        }
        kill(e2e.s.pid, SIGTERM);
        int st = tu_svc_wait(&e2e.s, 120);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        /* Bounded: after the warm-up (librdkafka's buffers, the finished-id ring, glibc's
         * arenas settle within the first rounds), the second half of the traffic needs no
         * more memory than the first. A round's peak jumps by up to ~20 MiB now and then
         * with the timing of bursts (prefetch, records in flight), so the halves compare
         * their median peaks; the RSS left after a round compares by its lowest value per
         * half: 20 000 more submissions leaking ~200 bytes each would fail it. */
        long peaks1[ROUNDS], peaks2[ROUNDS], floor1 = LONG_MAX, floor2 = LONG_MAX, top = 0;
        size_t n1 = 0, n2 = 0;
        for (int i = WARMUP; i < ROUNDS; i++) {
                bool first = i < WARMUP + (ROUNDS - WARMUP) / 2;
                if (first)
                        peaks1[n1++] = peak[i];
                else
                        peaks2[n2++] = peak[i];
                long *fl = first ? &floor1 : &floor2;
                if (idle[i] < *fl)
                        *fl = idle[i];
                if (peak[i] > top)
                        top = peak[i];
        }
        long med1 = median_kb(peaks1, n1), med2 = median_kb(peaks2, n2);
        cr_log_info("median peak RSS %ld kB then %ld kB; RSS floor %ld kB then %ld kB; top %ld kB",
                    med1, med2, floor1, floor2, top);
#ifndef __SANITIZE_ADDRESS__
        cr_expect_leq(med2, med1 + 4 * 1024, "median peak RSS grew from %ld kB to %ld kB", med1,
                      med2);
        cr_expect_leq(floor2, floor1 + 4 * 1024, "RSS floor grew from %ld kB to %ld kB", floor1,
                      floor2);
        cr_expect_leq(top, 64 * 1024, "peak RSS %ld kB, over 64 MiB", top);
#else
        /* The RSS of an ASan build says little: its allocator keeps freed memory in the
         * quarantine and returns it to the system on its own schedule (the floor moved by
         * 10 MiB either way between runs); a leak is caught instead by LeakSanitizer, as
         * the service's exit status after SIGTERM above. */
        (void)med1, (void)med2, (void)floor1, (void)floor2, (void)top;
#endif
        free(big);
        tu_reader_free(r);
        e2e_end(&e2e);
}
