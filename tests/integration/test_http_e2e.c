/* The HTTP front door end to end (docs/http.md): a real `jailrun serve` on the
 * embedded broker (or on a `jailrun broker` shared with a second process), real jails,
 * and real clients: the curl program, and libcurl for the concurrent and streaming
 * ones. Run as root with the python tree built. Waits are bounded and wait for
 * behaviour, never for a duration. */
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <regex.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>
#include <yajl/yajl_tree.h>

#include "e2e.h"
#include "http_client.h"
#include "testutil.h"

#define MAX_WAIT 300 /* seconds: a bound on every wait, never an expectation */
#define KCONFIG                                                                                    \
        "JAILRUN_KAFKA_CONFIG=consumer.session.timeout.ms=6000;consumer.fetch.wait.max.ms=10"

static char *work;

static void setup(void)
{
        work = tu_scratch("/dev/shm/jr-http-it-");
        curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void teardown(void)
{
        tu_rm_rf(work);
        free(work);
}

TestSuite(http_e2e, .init = setup, .fini = teardown, .timeout = 900);

/* ---- processes ------------------------------------------------------------------------ */

/* `jailrun serve`, its stdout and stderr in work/<tag>.log, and its HTTP port once known. */
struct svc {
        struct tu_svc p;
        unsigned port;
};

/* What serve does not get of our environment. */
static const char *const serve_drop[] = {"KAFKA_",   "RUNNER_",   "SCRIPT_",
                                         "JAILRUN_", "EXECUTOR_", NULL};

/* `jailrun serve` with env ("NAME=value"...) over ours minus what serve reads. */
static struct svc svc_start(const char *tag, const char *const *env)
{
        struct svc s = {0};
        char *log = tu_asprintf("%s/%s.log", work, tag);
        tu_svc_start(
            &s.p, &(struct tu_serve_opts){.name = tag, .log = log, .drop = serve_drop, .env = env});
        free(log);
        return s;
}

/* Wait until the log holds needle; returns the log (caller frees). */
static char *wait_log(const struct svc *s, const char *needle)
{
        return tu_svc_wait_log(&s->p, needle, 1, MAX_WAIT);
}

static void svc_stop(struct svc *s)
{
        if (s->p.pid > 0)
                tu_svc_term(&s->p, 60);
}

/* ---- the client (support/http_client.h) ------------------------------------------------- */

/* A request with Content-Type: application/json (a body or not) and one more header. */
static struct tu_resp req(unsigned port, const char *method, const char *path, const char *body,
                          const char *extra_header)
{
        const char *h[] = {"Content-Type: application/json", extra_header, NULL};
        return tu_http_req(port, method, path, body, h, MAX_WAIT);
}

/* Start serve with HTTP on a free port and wait until /readyz says ready. */
static struct svc front_start(const char *tag, const char *const *extra)
{
        const char *env[32];
        size_t n = 0;
        char *db = tu_asprintf("JAILRUN_RESULTS_DB=%s/results.db", work);
        env[n++] = "JAILRUN_HTTP_ADDR=127.0.0.1:0";
        env[n++] = db;
        env[n++] = KCONFIG;
        bool brokers = false;
        for (size_t i = 0; extra && extra[i]; i++) {
                brokers |= !strncmp(extra[i], "KAFKA_BROKERS=", 14);
                env[n++] = extra[i];
        }
        if (!brokers)
                env[n++] = "KAFKA_BROKERS=embedded";
        env[n] = NULL;
        struct svc s = svc_start(tag, env);
        free(db);
        char *log = wait_log(&s, "\"msg\":\"http front door\"");
        char *p = strstr(log, "\"msg\":\"http front door\"");
        p = strstr(p, "\"port\":");
        cr_assert(p);
        s.port = (unsigned)strtoul(p + 7, NULL, 10);
        free(log);
        double end = tu_now_s() + MAX_WAIT;
        for (;;) {
                struct tu_resp r = req(s.port, "GET", "/readyz", NULL, NULL);
                free(r.body);
                if (r.status == 200)
                        break;
                cr_assert(tu_now_s() < end, "never ready");
                usleep(50000);
        }
        return s;
}

static const char *jstr(yajl_val v, const char *a, const char *b)
{
        const char *path[] = {a, b, NULL};
        yajl_val s = yajl_tree_get(v, path, yajl_t_string);
        return s ? s->u.string : NULL;
}

static char *take_id(const char *body, const char *key)
{
        yajl_val v = tu_json(body);
        const char *id = jstr(v, key, NULL);
        cr_assert(id, "no %s in %s", key, body);
        char *out = strdup(id);
        yajl_tree_free(v);
        return out;
}

/* Poll GET /v1/executions/ID until state (or a bound). */
static char *wait_state(unsigned port, const char *id, const char *state)
{
        char path[128], want[64];
        snprintf(path, sizeof path, "/v1/executions/%s", id);
        snprintf(want, sizeof want, "\"state\":\"%s\"", state);
        double end = tu_now_s() + MAX_WAIT;
        for (;;) {
                struct tu_resp r = req(port, "GET", path, NULL, NULL);
                if (r.status == 200 && strstr(r.body, want))
                        return r.body;
                cr_assert(tu_now_s() < end, "never %s: %s", state, r.body);
                free(r.body);
                usleep(10000);
        }
}

static const char *readme_request =
    "{\"language\": \"python\", \"source\": \"n = int(input())\\nprint(n * 2)\",\n"
    " \"tests\": [{\"stdin\": \"5\\n\", \"expectedStdout\": \"10\\n\"},\n"
    "           {\"stdin\": \"2\\n\", \"timeoutMs\": 1500, \"expectedStdout\": \"4\\n\"}]}";

/* ---- the tests -------------------------------------------------------------------------- */

Test(http_e2e, readme_example_with_the_curl_program)
{
        const char *env[] = {"RUNNER_MAX_PARALLEL=2", NULL};
        struct svc s = front_start("front", env);
        char url[64];
        snprintf(url, sizeof url, "http://127.0.0.1:%u/execute", s.port);
        char *const argv[] = {
            "/usr/bin/curl",        "-sS", "-H", "Content-Type: application/json", "--data-binary",
            (char *)readme_request, url,   NULL};
        char *out = NULL, *err = NULL;
        int st = tu_run(argv, NULL, &out, &err);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "curl: %s", err);
        /* the documented answer, field for field; times and memory vary */
        regex_t re;
        cr_assert_eq(
            regcomp(
                &re,
                "^\\{\"jobId\":\"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{"
                "12}"
                "\",\"ok\":true,\"results\":\\["
                "\\{\"stdout\":\"10\\\\n\",\"stderr\":\"\",\"exitCode\":0,\"timedOut\":false,"
                "\"signal\":null,\"expectedStdout\":\"10\\\\n\",\"passed\":true,\"status\":\"OK\","
                "\"timeMs\":[0-9]+,\"memoryBytes\":[0-9]+\\},"
                "\\{\"stdout\":\"4\\\\n\",\"stderr\":\"\",\"exitCode\":0,\"timedOut\":false,"
                "\"signal\":null,\"expectedStdout\":\"4\\\\n\",\"passed\":true,\"status\":\"OK\","
                "\"timeMs\":[0-9]+,\"memoryBytes\":[0-9]+\\}\\],\"status\":\"OK\",\"timeMs\":[0-9]+"
                "\\}$",
                REG_EXTENDED | REG_NOSUB),
            0);
        cr_assert_eq(regexec(&re, out, 0, NULL, 0), 0, "answer: %s", out);
        regfree(&re);
        /* one JSON log line per request, with the job id */
        char *id = take_id(out, "jobId");
        char *log =
            wait_log(&s, "\"msg\":\"http request\",\"method\":\"POST\",\"path\":\"/execute\","
                         "\"status\":200");
        cr_assert(strstr(log, id), "%s", log);
        free(log);
        free(id);
        free(out);
        free(err);
        /* a wrong answer, a runtime error, a build failure */
        struct tu_resp r =
            req(s.port, "POST", "/execute",
                "{\"language\":\"python\",\"source\":\"import os\\nos.kill(os.getpid(), "
                "9)\",\"tests\":[{\"expectedStdout\":\"x\"},{}]}",
                NULL);
        cr_assert_eq(r.status, 200);
        cr_assert(strstr(r.body, "\"ok\":false") && strstr(r.body, "\"signal\":\"SIGKILL\"") &&
                      strstr(r.body, "\"exitCode\":137"),
                  "%s", r.body);
        /* all tests run: the second one too */
        cr_assert(strstr(strstr(r.body, "SIGKILL") + 1, "SIGKILL"), "%s", r.body);
        free(r.body);
        r = req(s.port, "POST", "/execute",
                "{\"language\":\"c\",\"source\":\"int main( {\",\"tests\":[{}]}", NULL);
        cr_assert_eq(r.status, 200);
        /* error: the result's one line, then the compiler's messages */
        cr_assert(
            strstr(r.body, "\"ok\":false,\"error\":\"build failed: exit code 1\\nmain.c:1:") &&
                strstr(r.body, "error: expected") && strstr(r.body, "\"status\":\"BF\""),
            "%s", r.body);
        free(r.body);
        svc_stop(&s);
}

/* A python program that sleeps ms per test. */
static char *sleeper(int ms, int tests)
{
        char t[4096] = "";
        size_t n = 0;
        for (int i = 0; i < tests; i++)
                n += (size_t)snprintf(t + n, sizeof t - n, "%s{\"input\":\"%d\\n\"}", i ? "," : "",
                                      i);
        return tu_asprintf("{\"language\":\"python\",\"source\":\"import time\\ntime.sleep(%g)\\n"
                           "print(input())\",\"limits\":{\"time_limit_ms\":5000},\"tests\":[%s]}",
                           ms / 1000.0, t);
}

Test(http_e2e, enqueue_get_states_and_sse_in_order_with_resume)
{
        const char *env[] = {"RUNNER_MAX_PARALLEL=1", NULL};
        struct svc s = front_start("front", env);
        /* the one slot busy for a while: the next one waits, queued */
        char *busy = sleeper(1500, 1);
        struct tu_resp r = req(s.port, "POST", "/v1/executions", busy, NULL);
        cr_assert_eq(r.status, 202, "%s", r.body);
        char *busy_id = take_id(r.body, "id");
        free(r.body);
        wait_state(s.port, busy_id, "running");
        char *sub = sleeper(300, 5);
        r = req(s.port, "POST", "/v1/executions", sub, NULL);
        cr_assert_eq(r.status, 202, "%s", r.body);
        char *id = take_id(r.body, "id");
        free(r.body);
        char *b = wait_state(s.port, id, "queued");
        cr_assert(strstr(b, "\"result\":null,\"events\":0"), "%s", b);
        free(b);

        /* the stream, from before the first event to the end */
        double t0 = tu_now_s();
        struct tu_sse st = {0};
        char ids[256];
        cr_assert_eq(tu_http_stream(s.port, id, NULL, &st, ids, sizeof ids, MAX_WAIT), 200);
        /* accepted, build, 5 tests, done */
        cr_assert_str_eq(ids, "0 1 2 3 4 5 6 7", "%s", st.buf);
        cr_assert(strstr(st.buf, "event: accepted\n") && strstr(st.buf, "event: done\n"));
        /* while the tests ran: the events came over more than 4 x 300 ms */
        cr_assert_gt(st.last - st.first, 1.0, "events came in one burst: %.2f s",
                     st.last - st.first);
        cr_assert_gt(st.first - t0, 0.5, "the stream started before the execution did");

        b = wait_state(s.port, id, "done");
        yajl_val v = tu_json(b);
        cr_assert_str_eq(jstr(v, "result", "status"), "OK");
        const char *ep[] = {"events", NULL};
        cr_assert_eq(YAJL_GET_INTEGER(yajl_tree_get(v, ep, yajl_t_number)), 8);
        yajl_tree_free(v);
        free(b);

        /* Last-Event-ID: the rest, without a gap or a duplicate */
        for (int k = -1; k <= 7; k++) {
                char last[16], want[64] = "";
                snprintf(last, sizeof last, "%d", k);
                size_t n = 0;
                for (int i = k + 1; i <= 7; i++)
                        n += (size_t)snprintf(want + n, sizeof want - n, "%s%d", n ? " " : "", i);
                struct tu_sse s2 = {0};
                cr_assert_eq(
                    tu_http_stream(s.port, id, k < 0 ? NULL : last, &s2, ids, sizeof ids, MAX_WAIT),
                    200);
                cr_assert_str_eq(ids, want, "after %d", k);
        }
        /* ?wait=: answered when done, with the result */
        r = req(s.port, "POST", "/v1/executions?wait=30",
                "{\"language\":\"python\",\"source\":\"print(7)\"}", NULL);
        cr_assert_eq(r.status, 200, "%s", r.body);
        cr_assert(strstr(r.body, "\"state\":\"done\",\"result\":{") &&
                      strstr(r.body, "\"stdout\":\"7\\n\""),
                  "%s", r.body);
        free(r.body);
        free(busy);
        free(busy_id);
        free(sub);
        free(id);
        svc_stop(&s);
}

struct job {
        CURL *c;
        struct tu_resp r;
        char body[256];
};

Test(http_e2e, fifty_concurrent_executes_with_two_slots)
{
        const char *env[] = {"RUNNER_MAX_PARALLEL=2", NULL};
        struct svc s = front_start("front", env);
        enum { N = 50 };
        static struct job jobs[N];
        CURLM *m = curl_multi_init();
        struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
        for (int i = 0; i < N; i++) {
                memset(&jobs[i], 0, sizeof jobs[i]);
                snprintf(jobs[i].body, sizeof jobs[i].body,
                         "{\"language\":\"python\",\"source\":\"print(int(input())*3)\","
                         "\"tests\":[{\"stdin\":\"%d\\n\",\"expectedStdout\":\"%d\\n\"}]}",
                         i, 3 * i);
                jobs[i].c = tu_http_easy(s.port, "POST", "/execute", jobs[i].body,
                                         strlen(jobs[i].body), h, &jobs[i].r, MAX_WAIT);
                curl_multi_add_handle(m, jobs[i].c);
        }
        int running = 1;
        double t0 = tu_now_s();
        while (running) {
                cr_assert_eq(curl_multi_perform(m, &running), CURLM_OK);
                curl_multi_poll(m, NULL, 0, 200, NULL);
                cr_assert_lt(tu_now_s() - t0, MAX_WAIT);
        }
        for (int i = 0; i < N; i++) {
                long status;
                curl_easy_getinfo(jobs[i].c, CURLINFO_RESPONSE_CODE, &status);
                cr_assert_eq(status, 200, "%d: %s", i, jobs[i].r.body);
                char want[64];
                snprintf(want, sizeof want, "\"stdout\":\"%d\\n\"", 3 * i);
                cr_assert(strstr(jobs[i].r.body, "\"ok\":true") && strstr(jobs[i].r.body, want),
                          "%d: %s", i, jobs[i].r.body);
                curl_multi_remove_handle(m, jobs[i].c);
                curl_easy_cleanup(jobs[i].c);
                free(jobs[i].r.body);
        }
        fprintf(stderr, "50 /execute with 2 slots: %.2f s\n", tu_now_s() - t0);
        curl_slist_free_all(h);
        curl_multi_cleanup(m);
        svc_stop(&s);
}

/* `jailrun broker` in its own process: the front door and a runner share it. */
Test(http_e2e, a_front_door_that_judges_nothing_and_a_runner_elsewhere)
{
        char brokers[160], spool_f[128], spool_r[128];
        struct tu_broker broker = tu_broker_start();
        snprintf(brokers, sizeof brokers, "KAFKA_BROKERS=%s", broker.addr);
        snprintf(spool_f, sizeof spool_f, "JAILRUN_SPOOL_DIR=%s/spool-front", work);
        snprintf(spool_r, sizeof spool_r, "JAILRUN_SPOOL_DIR=%s/spool-runner", work);
        const char *fenv[] = {"RUNNER_MAX_PARALLEL=0", brokers, spool_f, NULL};
        struct svc front = front_start("front", fenv);
        const char *renv[] = {"RUNNER_MAX_PARALLEL=2", brokers, spool_r, KCONFIG, NULL};
        struct svc runner = svc_start("runner", renv);
        free(wait_log(&runner, "\"msg\":\"serving\""));
        struct tu_resp r = req(front.port, "POST", "/execute", readme_request, NULL);
        cr_assert_eq(r.status, 200, "%s", r.body);
        cr_assert(strstr(r.body, "\"ok\":true"), "%s", r.body);
        char *id = take_id(r.body, "jobId");
        free(r.body);
        char *needle = tu_asprintf("\"msg\":\"judged\",\"id\":\"%s\"", id);
        free(wait_log(&runner, needle));
        char *flog = tu_slurp(front.p.log);
        cr_assert_null(strstr(flog, "\"msg\":\"judged\""), "the front door judged:\n%s", flog);
        cr_assert(strstr(flog, "serving HTTP only"), "%s", flog);
        free(flog);
        free(needle);
        free(id);
        svc_stop(&runner);
        svc_stop(&front);
        tu_broker_stop(&broker);
}

Test(http_e2e, a_restarted_front_door_answers_for_old_ids)
{
        const char *env[] = {"RUNNER_MAX_PARALLEL=1", NULL};
        struct svc s = front_start("front1", env);
        struct tu_resp r = req(s.port, "POST", "/execute", readme_request, NULL);
        cr_assert_eq(r.status, 200, "%s", r.body);
        char *id = take_id(r.body, "jobId");
        free(r.body);
        svc_stop(&s);
        /* a new process, a new (embedded, empty) broker: only the store remembers */
        s = front_start("front2", env);
        char *b = wait_state(s.port, id, "done");
        cr_assert(strstr(b, "\"stdout\":\"10\\n\""), "%s", b);
        free(b);
        char path[128];
        snprintf(path, sizeof path, "/v1/executions/%s/events", id);
        r = req(s.port, "GET", path, NULL, NULL);
        cr_assert_eq(r.status, 200);
        cr_assert(strstr(r.body, "event: done\n"), "%s", r.body);
        free(r.body);
        free(id);
        svc_stop(&s);
}

static void *slowloris(void *arg)
{
        unsigned port = *(unsigned *)arg;
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0)
                return (void *)0;
        const char *h = "POST /execute HTTP/1.1\r\nHost: x\r\nX-Slow: ";
        uintptr_t cut = 0;
        for (size_t i = 0; i < 40; i++) {
                if (send(fd, i < strlen(h) ? h + i : "a", 1, MSG_NOSIGNAL) != 1) {
                        cut = 1;
                        break;
                }
                struct pollfd p = {.fd = fd, .events = POLLIN};
                if (poll(&p, 1, 1000) == 1) {
                        char c;
                        if (recv(fd, &c, 1, 0) <= 0) {
                                cut = 1;
                                break;
                        }
                }
        }
        close(fd);
        return (void *)cut;
}

struct good {
        unsigned port;
        char *body;
        struct tu_resp r;
};

static void *good_request(void *arg)
{
        struct good *g = arg;
        struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
        h = curl_slist_append(h, "Authorization: Bearer sekrit");
        CURL *c = tu_http_easy(g->port, "POST", "/v1/executions?wait=60", g->body, strlen(g->body),
                               h, &g->r, MAX_WAIT);
        if (curl_easy_perform(c) == CURLE_OK)
                curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &g->r.status);
        curl_easy_cleanup(c);
        curl_slist_free_all(h);
        if (!g->r.body)
                g->r.body = strdup("");
        return NULL;
}

Test(http_e2e, bad_clients_get_their_status_and_cost_bounded_memory)
{
        const char *env[] = {"RUNNER_MAX_PARALLEL=1", "JAILRUN_HTTP_TOKENS=sekrit",
                             "JAILRUN_HTTP_HEADER_TIMEOUT=3s", NULL};
        struct svc s = front_start("front", env);
        const char *auth = "Authorization: Bearer sekrit";
        /* a good request in flight during all of it, from a thread of its own */
        struct good good = {.port = s.port, .body = sleeper(2000, 1)};
        char *slow = good.body;
        pthread_t gt;
        pthread_create(&gt, NULL, good_request, &good);

        long rss0 = tu_status_kb(s.p.pid, "VmRSS:");
        /* slowloris: one header byte a second, 20 connections */
        enum { NS = 20 };
        pthread_t th[NS];
        for (int i = 0; i < NS; i++)
                pthread_create(&th[i], NULL, slowloris, &s.port);

        struct tu_resp r = req(s.port, "POST", "/execute", readme_request, NULL);
        cr_assert_eq(r.status, 401, "%s", r.body);
        free(r.body);
        r = req(s.port, "POST", "/execute", readme_request, "Authorization: Bearer wrong");
        cr_assert_eq(r.status, 401);
        free(r.body);
        r = req(s.port, "POST", "/v1/executions", "not json", auth);
        cr_assert_eq(r.status, 400);
        cr_assert(strstr(r.body, "not valid JSON"), "%s", r.body);
        free(r.body);
        r = req(s.port, "POST", "/v1/executions", "{\"language\":\"python\",\"source\":3}", auth);
        cr_assert_eq(r.status, 400);
        cr_assert(strstr(r.body, "field \\\"source\\\""), "%s", r.body);
        free(r.body);
        r = req(s.port, "POST", "/execute", "{\"language\":\"cobol\",\"source\":\"x\"}", auth);
        cr_assert_eq(r.status, 200);
        cr_assert(strstr(r.body, "unknown language \\\"cobol\\\""), "%s", r.body);
        free(r.body);
        /* 9 MiB, five times */
        size_t big = 9u << 20;
        char *b = malloc(big + 1);
        memset(b, 'x', big);
        memcpy(b, "{\"language\":\"python\",\"source\":\"", 31);
        memcpy(b + big - 2, "\"}", 2);
        b[big] = '\0';
        for (int i = 0; i < 5; i++) {
                r = req(s.port, "POST", "/execute", b, auth);
                cr_assert_eq(r.status, 413, "%s", r.body);
                free(r.body);
        }
        free(b);
        /* 10 000 tests */
        size_t cap = 10000 * 3 + 200;
        b = malloc(cap);
        size_t n =
            (size_t)snprintf(b, cap, "{\"language\":\"python\",\"source\":\"x\",\"tests\":[");
        for (int i = 0; i < 10000; i++)
                n += (size_t)snprintf(b + n, cap - n, "%s{}", i ? "," : "");
        snprintf(b + n, cap - n, "]}");
        r = req(s.port, "POST", "/v1/executions", b, auth);
        cr_assert_eq(r.status, 400);
        cr_assert(strstr(r.body, "more than 997 tests"), "%s", r.body);
        free(r.body);
        free(b);
        /* a client that leaves in the middle of a stream */
        r = req(s.port, "POST", "/v1/executions", slow, auth);
        char *id = take_id(r.body, "id");
        free(r.body);
        for (int k = 0; k < 10; k++) {
                int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
                struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s.port)};
                a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
                cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
                char get[256];
                int len = snprintf(get, sizeof get,
                                   "GET /v1/executions/%s/events HTTP/1.1\r\nHost: x\r\n%s\r\n\r\n",
                                   id, auth);
                cr_assert_eq(send(fd, get, (size_t)len, MSG_NOSIGNAL), len);
                char buf[256];
                struct pollfd p = {.fd = fd, .events = POLLIN};
                cr_assert_eq(poll(&p, 1, 30000), 1);
                cr_assert_gt(recv(fd, buf, sizeof buf, 0), 0);
                close(fd);
        }
        /* every slowloris connection was cut, none got in */
        for (int i = 0; i < NS; i++) {
                void *cut;
                pthread_join(th[i], &cut);
                cr_assert(cut, "a slowloris connection was never cut");
        }
        /* the good request was answered meanwhile, and correctly */
        pthread_join(gt, NULL);
        cr_assert_eq(good.r.status, 200, "%s", good.r.body);
        cr_assert(strstr(good.r.body, "\"state\":\"done\",\"result\":{\"id\":") &&
                      strstr(good.r.body, "\"status\":\"OK\""),
                  "%s", good.r.body);
        long rss1 = tu_status_kb(s.p.pid, "VmRSS:");
        fprintf(stderr, "serve RSS before the bad clients %ld kB, after %ld kB\n", rss0, rss1);
        cr_assert_lt(rss1 - rss0, 32 * 1024, "RSS grew by %ld kB", rss1 - rss0);
        /* and the service still judges */
        r = req(s.port, "POST", "/execute", readme_request, auth);
        cr_assert_eq(r.status, 200);
        cr_assert(strstr(r.body, "\"ok\":true"), "%s", r.body);
        free(r.body);
        /* the probes need no token; the metrics count requests by status */
        r = req(s.port, "GET", "/healthz", NULL, NULL);
        cr_assert_eq(r.status, 200);
        free(r.body);
        free(good.r.body);
        free(slow);
        free(id);
        svc_stop(&s);
}

/* A languages directory of python and c, python's file with "allowed_modules = <mods>";
 * returns "JAILRUN_LANGS_DIR=...". */
static char *langs_with_policy(const char *mods)
{
        char *dir = tu_asprintf("%s/langs", work);
        cr_assert(mkdir(dir, 0755) == 0 || errno == EEXIST);
        char *py = tu_slurp(JR_SOURCE_DIR "/langs/python.lang"),
             *c = tu_slurp(JR_SOURCE_DIR "/langs/c.lang");
        cr_assert(py[0] && c[0]);
        char *path = tu_asprintf("%s/python.lang", dir);
        FILE *f = fopen(path, "we");
        cr_assert(f);
        fprintf(f, "%s\nallowed_modules = %s\n", py, mods);
        fclose(f);
        free(path);
        path = tu_asprintf("%s/c.lang", dir);
        f = fopen(path, "we");
        cr_assert(f);
        fputs(c, f);
        fclose(f);
        free(path);
        free(py);
        free(c);
        char *env = tu_asprintf("JAILRUN_LANGS_DIR=%s", dir);
        free(dir);
        return env;
}

/* The allowed modules each language gets, as GET /v1/languages lists them: the last
 * field of its object. */
static void expect_listed_modules(unsigned port, const char *python, const char *c)
{
        struct tu_resp r = req(port, "GET", "/v1/languages", NULL, NULL);
        cr_assert_eq(r.status, 200, "%s", r.body);
        const char *names[] = {"python", "c"}, *lists[] = {python, c};
        for (size_t i = 0; i < 2; i++) {
                char *lang = tu_asprintf("{\"name\":\"%s\",", names[i]);
                char *listed = tu_asprintf("\"allowed_modules\":%s}", lists[i]);
                char *at = strstr(r.body, lang);
                cr_assert(at, "%s: %s", names[i], r.body);
                char *found = strstr(at, listed);
                cr_assert(found && found + strlen(listed) - 1 == strchr(at, '}'), "%s: %s",
                          names[i], r.body);
                free(lang);
                free(listed);
        }
        free(r.body);
}

Test(http_e2e, python_allowed_modules)
{
        /* the language file allows math alone: the variable wins over it */
        char *langs = langs_with_policy("math");
        const char *env[] = {"RUNNER_MAX_PARALLEL=1",
                             "EXECUTOR_ALLOWED_MODULES=[\"math\",\"random\",\"statistics\"]", langs,
                             NULL};
        struct svc s = front_start("front", env);
        expect_listed_modules(s.port, "[\"math\",\"random\",\"statistics\"]", "null");
        /* the allowed ones work, even though they import others themselves */
        struct tu_resp r =
            req(s.port, "POST", "/execute",
                "{\"language\":\"python\",\"source\":\"import math, random, statistics"
                "\\nfrom math import sqrt\\nprint(int(sqrt(16)), statistics.mean([2, 4]))"
                "\",\"tests\":[{\"expectedStdout\":\"4 3\\n\"}]}",
                NULL);
        cr_assert_eq(r.status, 200);
        cr_assert(strstr(r.body, "\"ok\":true"), "%s", r.body);
        free(r.body);
        /* a static import of another module: BF before any test, naming it and the list */
        r = req(s.port, "POST", "/execute",
                "{\"language\":\"python\",\"source\":\"import math\\ndef f():\\n    import "
                "subprocess\\nprint(1)\",\"tests\":[{}]}",
                NULL);
        cr_assert_eq(r.status, 200);
        cr_assert(strstr(r.body, "\"ok\":false,\"error\":\"build failed: an import of a module "
                                 "that is not allowed\\nimport of module \\\"subprocess\\\" is "
                                 "not allowed (line 3); allowed modules: math, random, "
                                 "statistics\"") &&
                      strstr(r.body, "\"status\":\"BF\"") && strstr(r.body, "\"status\":\"-\""),
                  "%s", r.body);
        free(r.body);
        /* a dynamic one: ImportError at run time, RE */
        r = req(
            s.port, "POST", "/execute",
            "{\"language\":\"python\",\"source\":\"m = __import__('o' + 's')\\nprint(m.getcwd())"
            "\",\"tests\":[{}]}",
            NULL);
        cr_assert_eq(r.status, 200);
        cr_assert(strstr(r.body, "ImportError: import of module 'os' is not allowed") &&
                      strstr(r.body, "\"status\":\"RE\""),
                  "%s", r.body);
        free(r.body);
        svc_stop(&s);
        free(langs);
}

/* Without EXECUTOR_ALLOWED_MODULES, a language file's allowed_modules is the policy. */
Test(http_e2e, python_allowed_modules_from_the_language_file)
{
        char *langs = langs_with_policy("math os.path");
        const char *env[] = {"RUNNER_MAX_PARALLEL=1", langs, NULL};
        struct svc s = front_start("front", env);
        expect_listed_modules(s.port, "[\"math\",\"os.path\"]", "null");
        struct tu_resp r = req(s.port, "POST", "/execute",
                               "{\"language\":\"python\",\"source\":\"import math, os.path\\n"
                               "print(int(math.sqrt(16)), os.path.basename('/a/b'))\","
                               "\"tests\":[{\"expectedStdout\":\"4 b\\n\"}]}",
                               NULL);
        cr_assert_eq(r.status, 200);
        cr_assert(strstr(r.body, "\"ok\":true"), "%s", r.body);
        free(r.body);
        r = req(s.port, "POST", "/execute",
                "{\"language\":\"python\",\"source\":\"import statistics\",\"tests\":[{}]}", NULL);
        cr_assert_eq(r.status, 200);
        cr_assert(strstr(r.body, "import of module \\\"statistics\\\" is not allowed (line 1); "
                                 "allowed modules: math, os.path") &&
                      strstr(r.body, "\"status\":\"BF\""),
                  "%s", r.body);
        free(r.body);
        r = req(s.port, "POST", "/execute",
                "{\"language\":\"python\",\"source\":\"m = __import__('rand' + 'om')\","
                "\"tests\":[{}]}",
                NULL);
        cr_assert_eq(r.status, 200);
        cr_assert(strstr(r.body, "ImportError: import of module 'random' is not allowed") &&
                      strstr(r.body, "\"status\":\"RE\""),
                  "%s", r.body);
        free(r.body);
        svc_stop(&s);
        free(langs);
}

/* The test's "timedOut" of the first /execute result, and its timeMs. */
static void first_result(const char *body, bool *timed_out, long long *time_ms)
{
        yajl_val v = tu_json(body);
        const char *rp[] = {"results", NULL};
        yajl_val results = yajl_tree_get(v, rp, yajl_t_array);
        cr_assert(results && results->u.array.len >= 1, "%s", body);
        yajl_val t = results->u.array.values[0];
        const char *tp[] = {"timedOut", NULL}, *mp[] = {"timeMs", NULL};
        yajl_val to = yajl_tree_get(t, tp, yajl_t_any), tm = yajl_tree_get(t, mp, yajl_t_number);
        cr_assert(to && (YAJL_IS_TRUE(to) || YAJL_IS_FALSE(to)) && tm, "%s", body);
        *timed_out = YAJL_IS_TRUE(to);
        *time_ms = YAJL_GET_INTEGER(tm);
        yajl_tree_free(v);
}

/* timeoutMs is the test's wall-clock limit: a sleeper is timed out when it runs out, not
 * at the 3 s default (EXECUTOR_TIMEOUT) nor at the judge's usual time limit + margin. */
Test(http_e2e, execute_timeout_ms_is_the_test_wall_limit)
{
        const char *env[] = {"RUNNER_MAX_PARALLEL=1", NULL};
        struct svc s = front_start("front", env);
        /* a first job waits for the runner's consumer to join its group: not timed */
        struct tu_resp r = req(s.port, "POST", "/execute",
                               "{\"language\":\"python\",\"source\":\"print(1)\"}", NULL);
        cr_assert_eq(r.status, 200, "%s", r.body);
        cr_assert(strstr(r.body, "\"ok\":true"), "%s", r.body);
        free(r.body);
        const char *body = "{\"language\":\"python\",\"source\":\"import time\\ntime.sleep(10)\","
                           "\"tests\":[{\"timeoutMs\":700}]}";
        double t0 = tu_now_s();
        r = req(s.port, "POST", "/execute", body, NULL);
        double took = tu_now_s() - t0;
        cr_assert_eq(r.status, 200, "%s", r.body);
        bool timed_out;
        long long ms;
        first_result(r.body, &timed_out, &ms);
        cr_assert(timed_out, "%s", r.body);
        cr_assert(strstr(r.body, "\"status\":\"TL\"") && strstr(r.body, "\"ok\":false"), "%s",
                  r.body);
        cr_assert_geq(ms, 700, "%s", r.body);
        cr_assert_lt(took, 3.0, "the whole answer took %.3f s: %s", took, r.body);
        free(r.body);

        /* without timeoutMs: EXECUTOR_TIMEOUT's 3 s, from the front door to the jail */
        r = req(s.port, "POST", "/execute",
                "{\"language\":\"python\",\"source\":\"import time\\ntime.sleep(10)\","
                "\"tests\":[{}]}",
                NULL);
        cr_assert_eq(r.status, 200, "%s", r.body);
        first_result(r.body, &timed_out, &ms);
        cr_assert(timed_out, "%s", r.body);
        cr_assert_geq(ms, 3000, "%s", r.body);
        /* not the CPU limit (3000) plus the judge's wall margin (500 ms) */
        cr_assert_lt(ms, 3500, "%s", r.body);
        free(r.body);
        svc_stop(&s);
}
