/* The HTTP front door against bad and hostile clients: tokens, body caps, media types,
 * the pending cap and backpressure, slowloris, a client that vanishes mid-stream, and
 * the refusal to serve without tokens beyond loopback. Every other request in flight is
 * still answered. */
#include <poll.h>

#include "http_harness.h"

TestSuite(http_limits);

static const char *small = "{\"language\":\"c\",\"source\":\"x\",\"tests\":[{}]}";

Test(http_limits, bearer_tokens)
{
        jr_http_config c = {.tokens = " alpha, beta-token ,,"};
        hx *x = hx_start(&c);
        const char *none[] = {NULL};
        const char *wrong[] = {"Authorization: Bearer alph", NULL};
        const char *longer[] = {"Authorization: Bearer alphaa", NULL};
        const char *scheme[] = {"Authorization: Basic alpha", NULL};
        const char *ok1[] = {"Authorization: Bearer alpha", NULL};
        const char *ok2[] = {"Authorization: bearer   beta-token", NULL};
        const char *const *bad[] = {none, wrong, longer, scheme};
        for (size_t i = 0; i < 4; i++) {
                hx_resp r = hx_req(x, "POST", "/execute", small, bad[i]);
                cr_assert_eq(r.status, 401, "%zu: %s", i, r.body);
                char h[128];
                cr_assert_str_eq(tu_http_header(&r, "WWW-Authenticate", h, sizeof h),
                                 "Bearer realm=\"jailrun\"");
                cr_assert(strstr(r.body, "header \\\"Authorization\\\""), "%s", r.body);
                free(r.body);
                r = hx_req(x, "GET", "/v1/languages", NULL, bad[i]);
                cr_assert_eq(r.status, 401);
                free(r.body);
        }
        cr_assert_eq(x->submits, 0);
        hx_resp r = hx_req(x, "POST", "/execute", small, ok1);
        cr_assert_eq(r.status, 200, "%s", r.body);
        free(r.body);
        r = hx_req(x, "GET", "/v1/languages", NULL, ok2);
        cr_assert_eq(r.status, 200);
        free(r.body);
        /* probes never need a token */
        r = hx_req(x, "GET", "/healthz", NULL, NULL);
        cr_assert_eq(r.status, 200);
        free(r.body);
        r = hx_req(x, "GET", "/readyz", NULL, NULL);
        cr_assert_eq(r.status, 200);
        free(r.body);
        hx_stop(x);
}

Test(http_limits, no_tokens_only_on_loopback)
{
        jr_store *st = NULL;
        jr_store_opts so = {.path = ":memory:"};
        jr_error e = {0};
        cr_assert_eq(jr_store_open(&so, &st, &e), 0, "%s", e.msg);
        jr_http_ops ops = {.submit = hx_submit};
        jr_http *h = NULL;
        const char *refused[] = {"0.0.0.0:0", ":0", "[::]:0", "10.0.0.1:0"};
        for (size_t i = 0; i < 4; i++) {
                jr_http_config c = {.addr = refused[i], .tokens = i ? "" : NULL};
                cr_assert_lt(jr_http_new(&c, &ops, NULL, st, &h, &e), 0, "%s", refused[i]);
                cr_assert_eq(e.err, EPERM);
                cr_assert(strstr(e.msg, "JAILRUN_HTTP_TOKENS is empty") &&
                              strstr(e.msg, refused[i]),
                          "%s", e.msg);
        }
        /* with a token, any address; without, loopback in both families */
        const char *fine[][2] = {
            {"0.0.0.0:0", "t"}, {"127.0.0.1:0", NULL}, {"localhost:0", ""}, {"[::1]:0", NULL}};
        for (size_t i = 0; i < 4; i++) {
                jr_http_config c = {.addr = fine[i][0], .tokens = fine[i][1]};
                int ret = jr_http_new(&c, &ops, NULL, st, &h, &e);
                if (ret < 0 && e.err == EADDRNOTAVAIL && i == 3)
                        continue; /* no IPv6 on this host */
                cr_assert_eq(ret, 0, "%s: %s", fine[i][0], e.msg);
                cr_assert_gt(jr_http_port(h), 0);
                jr_http_free(h);
        }
        const char *bad_addr[][2] = {{"", "empty"},
                                     {"4060", "must be HOST:PORT"},
                                     {"127.0.0.1:99999", "port must be 0 to 65535"},
                                     {"127.0.0.1:", "port must be 0 to 65535"},
                                     {"example.com:80", "must be an IP address or localhost"},
                                     {"[::1:80", "[ADDR]:PORT"}};
        for (size_t i = 0; i < 6; i++) {
                jr_http_config c = {.addr = bad_addr[i][0], .tokens = "t"};
                cr_assert_lt(jr_http_new(&c, &ops, NULL, st, &h, &e), 0);
                cr_assert(strstr(e.msg, "JAILRUN_HTTP_ADDR: ") && strstr(e.msg, bad_addr[i][1]),
                          "%s", e.msg);
        }
        jr_store_close(st);
}

static char *big_body(size_t n)
{
        char *b = malloc(n + 1);
        memset(b, ' ', n);
        memcpy(b, "{\"language\":\"c\",\"source\":\"", 26);
        memset(b + 26, 'x', n - 26 - 2);
        memcpy(b + n - 2, "\"}", 2);
        b[n] = '\0';
        return b;
}

static size_t read_nothing(char *p, size_t sz, size_t n, void *ud)
{
        return 0; /* curl's read callback: no more data */
}

Test(http_limits, bodies_over_the_cap_and_not_json)
{
        jr_http_config c = {.max_body = 1 << 20};
        hx *x = hx_start(&c);
        /* Content-Length says it: refused before the body is read */
        char *b = big_body((1 << 20) + 1);
        hx_resp r = hx_req(x, "POST", "/execute", b, NULL);
        cr_assert_eq(r.status, 413, "%s", r.body);
        cr_assert(strstr(r.body, "over the limit of 1048576"), "%s", r.body);
        free(r.body);
        /* chunked, no length: read, dropped, then refused */
        const char *chunked[] = {"Transfer-Encoding: chunked", NULL};
        r = hx_req(x, "POST", "/v1/executions", b, chunked);
        cr_assert_eq(r.status, 413, "%s", r.body);
        free(r.body);
        free(b);
        /* exactly at the cap: judged */
        b = big_body(1 << 20);
        r = hx_req(x, "POST", "/execute", b, NULL);
        cr_assert_eq(r.status, 200, "%s", r.body);
        cr_assert(strstr(r.body, "\"ok\":true"), "%.300s", r.body);
        free(r.body);
        free(b);
        for (int i = 0; i < 100 && hx_stats(x).body_bytes; i++)
                usleep(10000);
        cr_assert_eq(hx_stats(x).body_bytes, 0, "no body is held after its request: %llu",
                     (unsigned long long)hx_stats(x).body_bytes);

        const char *form[] = {"Content-Type: application/x-www-form-urlencoded", NULL};
        r = hx_req(x, "POST", "/execute", small, form);
        cr_assert_eq(r.status, 415);
        cr_assert(strstr(r.body, "application/json"), "%s", r.body);
        free(r.body);
        const char *charset[] = {"Content-Type: application/json; charset=utf-8", NULL};
        r = hx_req(x, "POST", "/execute", small, charset);
        cr_assert_eq(r.status, 200, "%s", r.body);
        free(r.body);
        (void)read_nothing;
        hx_stop(x);
}

Test(http_limits, ten_thousand_tests_and_deep_json)
{
        hx *x = hx_start(NULL);
        size_t cap = 10000 * 3 + 100;
        char *big = malloc(cap);
        size_t n = (size_t)snprintf(big, cap, "{\"language\":\"c\",\"source\":\"x\",\"tests\":[");
        for (int i = 0; i < 10000; i++)
                n += (size_t)snprintf(big + n, cap - n, "%s{}", i ? "," : "");
        snprintf(big + n, cap - n, "]}");
        hx_resp r = hx_req(x, "POST", "/execute", big, NULL);
        cr_assert_eq(r.status, 200);
        cr_assert(strstr(r.body, "field \\\"tests\\\": more than 997 tests"), "%s", r.body);
        free(r.body);
        r = hx_req(x, "POST", "/v1/executions", big, NULL);
        cr_assert_eq(r.status, 400);
        cr_assert(strstr(r.body, "\"tests\\\": more than 997 tests"), "%s", r.body);
        free(r.body);
        free(big);
        char deep[2100];
        memset(deep, '[', 2000);
        deep[2000] = '\0';
        r = hx_req(x, "POST", "/execute", deep, NULL);
        cr_assert_eq(r.status, 200);
        cr_assert(strstr(r.body, "nested too deep"), "%s", r.body);
        free(r.body);
        r = hx_req(x, "POST", "/v1/executions", deep, NULL);
        cr_assert_eq(r.status, 400, "%s", r.body);
        free(r.body);
        cr_assert_eq(x->submits, 0);
        hx_stop(x);
}

static void set_busy(hx *x, void *arg)
{
        x->submit_answer = *(int *)arg;
}

static void release(hx *x, void *arg)
{
        for (size_t i = 0; i < x->n_jobs; i++)
                x->jobs[i].held = false;
        x->hold_new = false;
}

Test(http_limits, pending_cap_and_backpressure)
{
        jr_http_config c = {.max_pending = 2, .retry_after_s = 7};
        hx *x = hx_start(&c);
        x->hold_new = true;
        for (int i = 0; i < 2; i++) {
                hx_resp r = hx_req(x, "POST", "/v1/executions", small, NULL);
                cr_assert_eq(r.status, 202, "%s", r.body);
                free(r.body);
        }
        hx_resp r = hx_req(x, "POST", "/v1/executions", small, NULL);
        cr_assert_eq(r.status, 429, "%s", r.body);
        char h[32];
        cr_assert_str_eq(tu_http_header(&r, "Retry-After", h, sizeof h), "7");
        cr_assert(strstr(r.body, "too many submissions waiting"), "%s", r.body);
        free(r.body);
        r = hx_req(x, "POST", "/execute", small, NULL);
        cr_assert_eq(r.status, 429);
        free(r.body);
        cr_assert_eq(x->submits, 2);
        /* results come: room again */
        hx_call(x, release, NULL);
        for (int i = 0; i < 200 && hx_stats(x).pending; i++)
                usleep(10000);
        cr_assert_eq(hx_stats(x).pending, 0);
        /* the producer says not now: 503 */
        int busy = 1;
        hx_call(x, set_busy, &busy);
        r = hx_req(x, "POST", "/execute", small, NULL);
        cr_assert_eq(r.status, 503, "%s", r.body);
        cr_assert_str_eq(tu_http_header(&r, "Retry-After", h, sizeof h), "7");
        free(r.body);
        busy = 0;
        hx_call(x, set_busy, &busy);
        r = hx_req(x, "POST", "/execute", small, NULL);
        cr_assert_eq(r.status, 200, "%s", r.body);
        free(r.body);
        hx_stop(x);
}

/* Whether the server closed fd within ms (reads and drops whatever comes). */
static bool closed_within(int fd, int ms)
{
        uint64_t end = jr_mono_ms() + (uint64_t)ms;
        char buf[4096];
        while (jr_mono_ms() < end) {
                struct pollfd p = {.fd = fd, .events = POLLIN};
                if (poll(&p, 1, (int)(end - jr_mono_ms())) <= 0)
                        continue;
                ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
                if (n == 0 || (n < 0 && errno != EAGAIN))
                        return true;
        }
        return false;
}

Test(http_limits, slowloris_is_cut_and_others_are_served)
{
        jr_http_config c = {.header_timeout_ms = 800, .request_timeout_ms = 1200};
        hx *x = hx_start(&c);
        /* headers one byte at a time, 20 per second */
        int slow = hx_connect(x);
        const char *req = "POST /execute HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n";
        uint64_t t0 = jr_mono_ms();
        bool cut = false;
        for (size_t i = 0; i < strlen(req) && !cut; i++) {
                if (send(slow, req + i, 1, MSG_NOSIGNAL) != 1) {
                        cut = true;
                        break;
                }
                /* meanwhile, everyone else is answered */
                if (i % 10 == 0) {
                        hx_resp r = hx_req(x, "GET", "/healthz", NULL, NULL);
                        cr_assert_eq(r.status, 200);
                        free(r.body);
                }
                cut = closed_within(slow, 50);
        }
        uint64_t took = jr_mono_ms() - t0;
        cr_assert(cut || closed_within(slow, 1000), "a slow client kept its connection");
        cr_assert_geq(took, 700, "cut too early: %llu ms", (unsigned long long)took);
        cr_assert_lt(took, 2500, "cut too late: %llu ms", (unsigned long long)took);
        close(slow);

        /* a body that trickles: the whole request has a deadline too */
        slow = hx_connect(x);
        const char *hdr = "POST /execute HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                          "Content-Length: 100\r\n\r\n";
        cr_assert_eq(send(slow, hdr, strlen(hdr), MSG_NOSIGNAL), (ssize_t)strlen(hdr));
        t0 = jr_mono_ms();
        cut = false;
        for (int i = 0; i < 100 && !cut; i++) {
                if (send(slow, "{", 1, MSG_NOSIGNAL) != 1)
                        break;
                cut = closed_within(slow, 50);
        }
        took = jr_mono_ms() - t0;
        cr_assert(cut || closed_within(slow, 1500), "a slow body kept its connection");
        cr_assert_lt(took, 3000);
        close(slow);
        for (int i = 0; i < 100 && hx_stats(x).connections; i++)
                usleep(10000);
        cr_assert_eq(hx_stats(x).connections, 0);
        hx_stop(x);
}

Test(http_limits, a_client_that_vanishes_mid_stream_costs_nothing)
{
        jr_http_config c = {.keepalive_ms = 100};
        hx *x = hx_start(&c);
        x->gap_ms = 300;
        hx_resp r = hx_req(x, "POST", "/v1/executions",
                           "{\"language\":\"c\",\"source\":\"x\",\"tests\":[{},{},{},{}]}", NULL);
        char id[JR_UUID_LEN + 1];
        cr_assert_eq(r.status, 202);
        memcpy(id, r.body + 7, JR_UUID_LEN);
        id[JR_UUID_LEN] = '\0';
        free(r.body);
        for (int k = 0; k < 20; k++) {
                int fd = hx_connect(x);
                char get[256];
                int n = snprintf(get, sizeof get,
                                 "GET /v1/executions/%s/events HTTP/1.1\r\nHost: x\r\n\r\n", id);
                cr_assert_eq(send(fd, get, (size_t)n, MSG_NOSIGNAL), n);
                char buf[512];
                struct pollfd p = {.fd = fd, .events = POLLIN};
                cr_assert_eq(poll(&p, 1, 5000), 1);
                cr_assert_gt(recv(fd, buf, sizeof buf, 0), 0);
                close(fd); /* gone, without a word */
        }
        /* the streams are found dead at their next write, the last by the keep-alive */
        for (int i = 0; i < 300 && (hx_stats(x).connections || hx_stats(x).suspended); i++)
                usleep(10000);
        jr_http_stats s = hx_stats(x);
        cr_assert_eq(s.connections, 0);
        cr_assert_eq(s.suspended, 0);
        /* and the execution carries on, for whoever asks */
        r = hx_req(x, "GET", "/healthz", NULL, NULL);
        cr_assert_eq(r.status, 200);
        free(r.body);
        hx_stop(x);
}

Test(http_limits, a_broken_request_line_gets_400)
{
        hx *x = hx_start(NULL);
        int fd = hx_connect(x);
        const char *junk = "\x01\x02 nonsense\r\n\r\n";
        cr_assert_eq(send(fd, junk, strlen(junk), MSG_NOSIGNAL), (ssize_t)strlen(junk));
        char buf[1024] = "";
        struct pollfd p = {.fd = fd, .events = POLLIN};
        cr_assert_eq(poll(&p, 1, 5000), 1);
        ssize_t n = recv(fd, buf, sizeof buf - 1, 0);
        cr_assert(n == 0 || (n > 0 && strstr(buf, " 400 ")), "%s", buf);
        close(fd);
        hx_resp r = hx_req(x, "GET", "/healthz", NULL, NULL);
        cr_assert_eq(r.status, 200);
        free(r.body);
        hx_stop(x);
}
