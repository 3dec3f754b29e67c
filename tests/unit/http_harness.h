/* A real front door for the unit tests: jr_http on a loopback port and a real SQLite
 * store, driven by a small epoll loop in a thread of the test (the only thread that
 * touches them), with a fake judge in place of Kafka and the runners: each submission
 * gets its events and result written to the store at a steady pace, as the supervisor
 * would after reading them from the topics. The test's main thread is the client
 * (libcurl, or raw sockets for the misbehaving ones). */
#pragma once

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "http.h"
#include "http_client.h"
#include "message.h"
#include "store.h"
#include "testutil.h"

static const char *const hx_langs[] = {"c", "cpp", "go", "java", "python"};

struct hx_job {
        char id[64];
        jr_submission *sub;
        unsigned stage; /* 0 accepted, 1..n tests, n+1 done event, n+2 result */
        uint64_t due_ms;
        bool held; /* the judge does not advance it */
};

typedef struct hx {
        jr_http *h;
        jr_store *st;
        pthread_t th;
        int cmd_fd;
        pthread_mutex_t mu;
        pthread_cond_t cv;
        void (*cmd)(struct hx *, void *);
        void *cmd_arg;
        bool cmd_done, stop;
        /* the fake judge */
        uint64_t first_delay_ms, gap_ms;
        bool hold_new;     /* new jobs are held */
        bool result_first; /* the result before the done event (two topics race) */
        int submit_answer; /* what ops.submit returns (1: busy) */
        bool ready;
        struct hx_job jobs[512];
        size_t n_jobs;
        unsigned submits;
        char *dir, db[128];
        unsigned port;
} hx;

/* The fake judge: the result for the submission as a runner would make it (every test
 * passes with its expected output, or prints "out" without one). */
static inline void hx_advance(hx *x, struct hx_job *j)
{
        jr_error e = {0};
        size_t n = j->sub->n_tests;
        jr_buf json = {0};
        jr_test_result t;
        const jr_test_case *tc =
            j->stage >= 1 && j->stage <= n ? &j->sub->tests[j->stage - 1] : NULL;
        if (tc) {
                jr_test_result_init(&t, tc->number);
                t.status = JR_STATUS_OK;
                t.exit_code = 0;
                t.duration_ms = 1;
                t.std_out = tc->has_expected_output ? tc->expected_output : JR_BYTES_LIT("out");
                t.input = tc->input;
                t.expected_output = tc->expected_output;
                t.memory_bytes = 4096;
        }
        if (j->stage == 0 || tc || j->stage == n + (x->result_first ? 2 : 1)) {
                jr_event ev;
                jr_event_init(&ev,
                              j->stage == 0 ? JR_EVENT_ACCEPTED
                              : tc          ? JR_EVENT_TEST
                                            : JR_EVENT_DONE,
                              j->sub->id,
                              j->stage == 0 ? 0
                              : tc          ? j->stage
                                            : n + 1);
                ev.test = tc ? &t : NULL;
                ev.n_tests = (int64_t)n;
                cr_assert_eq(jr_event_json(&ev, 0, &json, &e), 0, "%s", e.msg);
                cr_assert_eq(jr_store_put_event_json(x->st, j->id, strlen(j->id), json.ptr,
                                                     json.len, jr_now_ms(), &e),
                             0, "%s", e.msg);
        } else {
                jr_test_result *ts = calloc(n, sizeof *ts);
                for (size_t i = 0; i < n; i++) {
                        const jr_test_case *c = &j->sub->tests[i];
                        jr_test_result_init(&ts[i], c->number);
                        ts[i].status = JR_STATUS_OK;
                        ts[i].exit_code = 0;
                        ts[i].duration_ms = 1;
                        ts[i].std_out =
                            c->has_expected_output ? c->expected_output : JR_BYTES_LIT("out");
                        ts[i].input = c->input;
                        ts[i].expected_output = c->expected_output;
                        ts[i].memory_bytes = 4096;
                }
                jr_result r;
                jr_result_init(&r, j->sub->id);
                r.tests = ts;
                r.n_tests = n;
                r.status = JR_STATUS_OK;
                r.exit_code = 0;
                r.duration_ms = (int64_t)n;
                cr_assert_eq(jr_result_json(&r, 0, &json, &e), 0, "%s", e.msg);
                cr_assert_eq(jr_store_put_result(x->st, j->id, strlen(j->id), json.ptr, json.len,
                                                 jr_now_ms(), &e),
                             0, "%s", e.msg);
                free(ts);
        }
        free(json.ptr);
        jr_http_notify(x->h, j->id, strlen(j->id));
        j->stage++;
        j->due_ms = jr_mono_ms() + x->gap_ms;
}

static inline bool hx_job_over(const struct hx_job *j)
{
        return j->stage > j->sub->n_tests + 2;
}

static inline int hx_submit(void *opaque, const char *id, const jr_buf *script, jr_error *e)
{
        hx *x = opaque;
        x->submits++;
        if (x->submit_answer)
                return x->submit_answer;
        jr_parse_options po = {.languages = hx_langs, .n_languages = 5};
        struct hx_job *j = &x->jobs[x->n_jobs % 512];
        if (j->sub)
                jr_submission_free(j->sub);
        memset(j, 0, sizeof *j);
        cr_assert_eq(jr_submission_parse(script->ptr, script->len, &po, &j->sub, NULL, e), 0,
                     "the front door produced an invalid script message: %s: %s", e->msg,
                     script->ptr);
        cr_assert(jr_bytes_eq(j->sub->id, id));
        snprintf(j->id, sizeof j->id, "%s", id);
        j->due_ms = jr_mono_ms() + x->first_delay_ms;
        j->held = x->hold_new;
        x->n_jobs++;
        return 0;
}

static inline bool hx_ready(void *opaque, char *why, size_t size)
{
        hx *x = opaque;
        if (!x->ready)
                snprintf(why, size, "the broker is unreachable");
        return x->ready;
}

static void *hx_loop(void *arg)
{
        hx *x = arg;
        int ep = epoll_create1(EPOLL_CLOEXEC);
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = 1};
        epoll_ctl(ep, EPOLL_CTL_ADD, jr_http_fd(x->h), &ev);
        ev.data.u32 = 2;
        epoll_ctl(ep, EPOLL_CTL_ADD, x->cmd_fd, &ev);
        while (!x->stop) {
                int t = jr_http_timeout_ms(x->h);
                uint64_t now = jr_mono_ms();
                for (size_t i = 0; i < x->n_jobs && i < 512; i++) {
                        struct hx_job *j = &x->jobs[i];
                        if (!j->sub || j->held || hx_job_over(j))
                                continue;
                        int d = j->due_ms <= now ? 0 : (int)(j->due_ms - now);
                        if (t < 0 || d < t)
                                t = d;
                }
                struct epoll_event got[4];
                int n = epoll_wait(ep, got, 4, t);
                for (int i = 0; i < n; i++) {
                        if (got[i].data.u32 != 2)
                                continue;
                        uint64_t v;
                        if (read(x->cmd_fd, &v, sizeof v) < 0)
                                continue;
                        pthread_mutex_lock(&x->mu);
                        if (x->cmd && !x->cmd_done) {
                                x->cmd(x, x->cmd_arg);
                                x->cmd_done = true;
                                pthread_cond_broadcast(&x->cv);
                        }
                        pthread_mutex_unlock(&x->mu);
                }
                now = jr_mono_ms();
                for (size_t i = 0; i < x->n_jobs && i < 512; i++) {
                        struct hx_job *j = &x->jobs[i];
                        if (j->sub && !j->held && !hx_job_over(j) && j->due_ms <= now)
                                hx_advance(x, j);
                }
                jr_error e = {0};
                cr_assert_eq(jr_http_dispatch(x->h, &e), 0, "%s", e.msg);
        }
        close(ep);
        return NULL;
}

/* Run fn(x, arg) in the loop's thread and wait for it. */
static inline void hx_call(hx *x, void (*fn)(hx *, void *), void *arg)
{
        pthread_mutex_lock(&x->mu);
        x->cmd = fn;
        x->cmd_arg = arg;
        x->cmd_done = false;
        uint64_t one = 1;
        cr_assert_eq(write(x->cmd_fd, &one, sizeof one), (ssize_t)sizeof one);
        while (!x->cmd_done)
                pthread_cond_wait(&x->cv, &x->mu);
        x->cmd = NULL;
        pthread_mutex_unlock(&x->mu);
}

static inline void hx_do_stop(hx *x, void *arg)
{
        x->stop = true;
}

static inline void hx_do_stats(hx *x, void *arg)
{
        jr_http_get_stats(x->h, arg);
}

static inline jr_http_stats hx_stats(hx *x)
{
        jr_http_stats s;
        hx_call(x, hx_do_stats, &s);
        return s;
}

/* Start a front door; cfg may be NULL (defaults for the tests: quick timeouts). */
static inline hx *hx_start(const jr_http_config *cfg)
{
        hx *x = calloc(1, sizeof *x);
        x->dir = tu_scratch("/tmp/jr-http-test.");
        snprintf(x->db, sizeof x->db, "%s/results.db", x->dir);
        jr_store_opts so = {.path = x->db};
        jr_error e = {0};
        cr_assert_eq(jr_store_open(&so, &x->st, &e), 0, "%s", e.msg);
        jr_http_config c = {0};
        if (cfg)
                c = *cfg;
        if (!c.addr)
                c.addr = "127.0.0.1:0";
        c.events_enabled = true;
        c.execute.languages = hx_langs;
        c.execute.n_languages = 5;
        c.parse.languages = hx_langs;
        c.parse.n_languages = 5;
        if (!c.languages_json)
                c.languages_json = "{\"languages\":[{\"name\":\"python\"}]}";
        jr_http_ops ops = {.submit = hx_submit, .ready = hx_ready};
        x->ready = true;
        x->first_delay_ms = 20;
        x->gap_ms = 10;
        cr_assert_eq(jr_http_new(&c, &ops, x, x->st, &x->h, &e), 0, "%s", e.msg);
        x->port = jr_http_port(x->h);
        cr_assert_gt(x->port, 0);
        x->cmd_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        pthread_mutex_init(&x->mu, NULL);
        pthread_cond_init(&x->cv, NULL);
        cr_assert_eq(pthread_create(&x->th, NULL, hx_loop, x), 0);
        return x;
}

static inline void hx_stop(hx *x)
{
        hx_call(x, hx_do_stop, NULL);
        pthread_join(x->th, NULL);
        jr_http_free(x->h);
        jr_store_close(x->st);
        for (size_t i = 0; i < 512; i++)
                if (x->jobs[i].sub)
                        jr_submission_free(x->jobs[i].sub);
        close(x->cmd_fd);
        tu_rm_rf(x->dir);
        free(x->dir);
        free(x);
}

/* ---- the client (support/http_client.h), on the front door's port, 60 s at most ---- */

typedef struct tu_resp hx_resp;

static inline CURL *hx_easy(hx *x, const char *method, const char *path, const char *body,
                            size_t blen, struct curl_slist *hdrs, hx_resp *r)
{
        return tu_http_easy(x->port, method, path, body, blen, hdrs, r, 60);
}

/* One request; extra headers as "Name: value" strings, NULL-terminated. */
static inline hx_resp hx_req(hx *x, const char *method, const char *path, const char *body,
                             const char *const *headers)
{
        return tu_http_req(x->port, method, path, body, headers, 60);
}

/* A raw TCP connection to the server. */
static inline int hx_connect(hx *x)
{
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)x->port)};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0, "%s", strerror(errno));
        return fd;
}
