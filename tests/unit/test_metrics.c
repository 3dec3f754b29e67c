/* Prometheus metrics: the exposition text and the non-blocking HTTP endpoint, scraped
 * through a real TCP socket on 127.0.0.1. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "metrics.h"
#include "testutil.h"

static char *render(void)
{
        char *text = NULL;
        size_t len = 0;
        jr_error e = {0};
        ASSERT_OK(jr_metrics_render(&text, &len, &e), e);
        cr_assert_eq(strlen(text), len);
        return text;
}

static void has_line(const char *text, const char *line)
{
        size_t n = strlen(line);
        for (const char *p = text; (p = strstr(p, line)); p++)
                if ((p == text || p[-1] == '\n') && p[n] == '\n')
                        return;
        cr_assert_fail("no line \"%s\" in:\n%s", line, text);
}

/* Every line is a comment or `name{labels} value`, every sample's family was declared
 * with # TYPE before it. */
static void valid_exposition(const char *text)
{
        regex_t sample;
        cr_assert_eq(
            regcomp(
                &sample,
                "^([a-zA-Z_:][a-zA-Z0-9_:]*)(\\{([a-zA-Z_][a-zA-Z0-9_]*=\"[^\"\\\\]*\",?)*\\})? "
                "(-?[0-9.e+-]+|\\+Inf|NaN)$",
                REG_EXTENDED),
            0);
        char types[8192] = " ";
        const char *p = text;
        while (*p) {
                const char *nl = strchr(p, '\n');
                cr_assert(nl, "the text ends with a newline");
                char line[1024];
                snprintf(line, sizeof line, "%.*s", (int)(nl - p), p);
                p = nl + 1;
                if (!strncmp(line, "# TYPE ", 7)) {
                        char name[256];
                        cr_assert_eq(sscanf(line + 7, "%255s", name), 1);
                        strcat(types, name);
                        strcat(types, " ");
                        continue;
                }
                if (line[0] == '#') {
                        cr_assert(!strncmp(line, "# HELP ", 7), "comment: %s", line);
                        continue;
                }
                regmatch_t m[2];
                cr_assert_eq(regexec(&sample, line, 2, m, 0), 0, "bad sample line \"%s\"", line);
                char name[256];
                snprintf(name, sizeof name, "%.*s", (int)(m[1].rm_eo - m[1].rm_so), line);
                static const char *const suffixes[] = {"_bucket", "_sum", "_count"};
                char family[264];
                snprintf(family, sizeof family, " %s ", name);
                if (!strstr(types, family))
                        for (size_t i = 0; i < 3; i++) {
                                size_t nl2 = strlen(name), sl = strlen(suffixes[i]);
                                if (nl2 > sl && !strcmp(name + nl2 - sl, suffixes[i])) {
                                        snprintf(family, sizeof family, " %.*s ", (int)(nl2 - sl),
                                                 name);
                                        break;
                                }
                        }
                cr_assert(strstr(types, family), "sample \"%s\" before its # TYPE", line);
        }
        regfree(&sample);
}

Test(metrics, counters_histograms_and_gauges)
{
        jr_metrics_reset();
        jr_metrics_count_result("c", "OK");
        jr_metrics_count_result("c", "OK");
        jr_metrics_count_result("c", "TL");
        jr_metrics_count_result("python", "-");
        jr_metrics_count_result("python", "WAT");
        jr_metrics_observe_latency("c", 0.05);
        jr_metrics_observe_latency("c", 0.3);
        jr_metrics_observe_latency("c", 400);
        jr_metrics_observe_latency("c", -1); /* ignored */
        jr_metrics_count_jail_setup_failure();
        jr_metrics_count_invalid_message();
        jr_metrics_count_invalid_message();
        jr_metrics_set_slots(4, 3);
        jr_metrics_set_spool_pending(17);
        char *t = render();
        valid_exposition(t);
        has_line(t, "# TYPE jailrun_results_total counter");
        has_line(t, "jailrun_results_total{language=\"c\",status=\"OK\"} 2");
        has_line(t, "jailrun_results_total{language=\"c\",status=\"TL\"} 1");
        has_line(t, "jailrun_results_total{language=\"python\",status=\"-\"} 1");
        has_line(t, "jailrun_results_total{language=\"python\",status=\"other\"} 1");
        has_line(t, "# TYPE jailrun_latency_seconds histogram");
        has_line(t, "jailrun_latency_seconds_bucket{language=\"c\",le=\"0.1\"} 1");
        has_line(t, "jailrun_latency_seconds_bucket{language=\"c\",le=\"0.25\"} 1");
        has_line(t, "jailrun_latency_seconds_bucket{language=\"c\",le=\"0.5\"} 2");
        has_line(t, "jailrun_latency_seconds_bucket{language=\"c\",le=\"300\"} 2");
        has_line(t, "jailrun_latency_seconds_bucket{language=\"c\",le=\"+Inf\"} 3");
        has_line(t, "jailrun_latency_seconds_sum{language=\"c\"} 400.350000");
        has_line(t, "jailrun_latency_seconds_count{language=\"c\"} 3");
        cr_assert_null(strstr(t, "jailrun_latency_seconds_count{language=\"python\"}"),
                       "no histogram without observations");
        has_line(t, "jailrun_jail_setup_failures_total 1");
        has_line(t, "jailrun_invalid_messages_total 2");
        has_line(t, "jailrun_slots 4");
        has_line(t, "jailrun_slots_busy 3");
        has_line(t, "jailrun_spool_pending 17");
        cr_assert_null(strstr(t, "jailrun_consumer_lag"), "lag unknown: left out");
        has_line(t, "jailrun_build_info{version=\"" JR_VERSION "\"} 1");
        free(t);

        jr_metrics_set_consumer_lag(42);
        t = render();
        has_line(t, "# TYPE jailrun_consumer_lag gauge");
        has_line(t, "jailrun_consumer_lag 42");
        free(t);
}

Test(metrics, label_values_are_bounded)
{
        jr_metrics_reset();
        for (int i = 0; i < 100; i++) {
                char name[16];
                snprintf(name, sizeof name, "lang%02d", i);
                jr_metrics_count_result(name, "OK");
        }
        jr_metrics_count_result("Evil\"} 1\n", "OK");
        jr_metrics_count_result(NULL, "OK");
        jr_metrics_count_result("", "OK");
        char *t = render();
        valid_exposition(t);
        has_line(t, "jailrun_results_total{language=\"lang00\",status=\"OK\"} 1");
        has_line(t, "jailrun_results_total{language=\"lang31\",status=\"OK\"} 1");
        cr_assert_null(strstr(t, "lang32"), "only %d languages", JR_METRICS_MAX_LANGUAGES);
        has_line(t, "jailrun_results_total{language=\"other\",status=\"OK\"} 71");
        cr_assert_null(strstr(t, "Evil"));
        free(t);
}

Test(metrics, addresses)
{
        char h[64], p[8];
        jr_error e = {0};
        ASSERT_OK(jr_metrics_split_address("127.0.0.1:9464", h, sizeof h, p, sizeof p, &e), e);
        cr_assert_str_eq(h, "127.0.0.1");
        cr_assert_str_eq(p, "9464");
        ASSERT_OK(jr_metrics_split_address(":0", h, sizeof h, p, sizeof p, &e), e);
        cr_assert_str_eq(h, "");
        ASSERT_OK(jr_metrics_split_address("[::1]:80", h, sizeof h, p, sizeof p, &e), e);
        cr_assert_str_eq(h, "::1");
        ASSERT_OK(jr_metrics_split_address("localhost:80", h, sizeof h, p, sizeof p, &e), e);
        static const char *const bad[] = {
            "9464", "::1:80", "[::1]80", "host:", "host:65536", "host:x1", "a b:1"};
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
                cr_assert_lt(jr_metrics_split_address(bad[i], h, sizeof h, p, sizeof p, &e), 0,
                             "%s accepted", bad[i]);
}

/* ---- the endpoint ---------------------------------------------------------------------- */

static jr_metrics_server *start(void)
{
        jr_metrics_server *s = NULL;
        jr_error e = {0};
        ASSERT_OK(jr_metrics_open("127.0.0.1:0", &s, &e), e);
        cr_assert(strncmp(jr_metrics_address(s), "127.0.0.1:", 10) == 0, "%s",
                  jr_metrics_address(s));
        cr_assert_neq(strcmp(jr_metrics_address(s), "127.0.0.1:0"), 0, "the real port");
        return s;
}

static int connect_to(jr_metrics_server *s, int rcvbuf)
{
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        cr_assert_geq(fd, 0);
        if (rcvbuf)
                setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
        struct sockaddr_in sa = {
            .sin_family = AF_INET,
            .sin_port = htons((uint16_t)atoi(strrchr(jr_metrics_address(s), ':') + 1))};
        inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
        cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0, "%s", strerror(errno));
        return fd;
}

static void send_all(int fd, const char *s)
{
        cr_assert_eq(send(fd, s, strlen(s), MSG_NOSIGNAL), (ssize_t)strlen(s));
}

/* Drive the server (as serve's loop would) until the client has read EOF; return what
 * it read. The server's fd must be the only thing that wakes it: no sleeping. */
static char *exchange(jr_metrics_server *s, int fd, int timeout_ms)
{
        size_t cap = 1 << 16, len = 0;
        char *buf = malloc(cap);
        struct timespec t0, t;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (;;) {
                struct pollfd p[2] = {{.fd = jr_metrics_fd(s), .events = POLLIN},
                                      {.fd = fd, .events = POLLIN}};
                int n = poll(p, 2, 200);
                cr_assert_geq(n, 0);
                if (p[0].revents & POLLIN) {
                        jr_error e;
                        ASSERT_OK(jr_metrics_handle(s, &e), e);
                }
                if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
                        if (len + 4096 > cap)
                                buf = realloc(buf, cap *= 2);
                        ssize_t r = recv(fd, buf + len, cap - len - 1, MSG_DONTWAIT);
                        if (r == 0 || (r < 0 && errno == ECONNRESET))
                                break;
                        if (r > 0)
                                len += (size_t)r;
                }
                clock_gettime(CLOCK_MONOTONIC, &t);
                long ms = (t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000;
                cr_assert_lt(ms, timeout_ms, "no end of the answer; got:\n%.*s", (int)len, buf);
        }
        buf[len] = '\0';
        return buf;
}

static int collected;
static void collect(void *opaque)
{
        collected++;
        jr_metrics_set_spool_pending((uint64_t)(uintptr_t)opaque);
}

Test(metrics, scrape)
{
        jr_metrics_reset();
        jr_metrics_count_result("go", "ML");
        jr_metrics_set_collector(collect, (void *)(uintptr_t)99);
        jr_metrics_server *s = start();
        int fd = connect_to(s, 0);
        send_all(fd, "GET /metrics HTTP/1.1\r\nHost: x\r\nUser-Agent: test\r\n\r\n");
        char *r = exchange(s, fd, 10000);
        close(fd);
        cr_assert(!strncmp(r, "HTTP/1.1 200 OK\r\n", 17), "%s", r);
        cr_assert(strstr(r, "\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"), "%s",
                  r);
        char *body = strstr(r, "\r\n\r\n");
        cr_assert(body);
        body += 4;
        long clen = atol(strstr(r, "Content-Length: ") + 16);
        cr_assert_eq((size_t)clen, strlen(body));
        valid_exposition(body);
        has_line(body, "jailrun_results_total{language=\"go\",status=\"ML\"} 1");
        has_line(body, "jailrun_spool_pending 99");
        cr_assert_eq(collected, 1, "the collector runs before each answer");
        cr_assert_eq(jr_metrics_requests(s), 1);
        free(r);
        jr_metrics_close(s);
}

static char *ask(jr_metrics_server *s, const char *request)
{
        int fd = connect_to(s, 0);
        send_all(fd, request);
        char *r = exchange(s, fd, 10000);
        close(fd);
        return r;
}

Test(metrics, other_requests)
{
        jr_metrics_reset();
        jr_metrics_server *s = start();
        char *r = ask(s, "GET / HTTP/1.1\r\n\r\n");
        cr_assert(!strncmp(r, "HTTP/1.1 404 ", 13), "%s", r);
        free(r);
        r = ask(s, "GET /metricsx HTTP/1.0\n\n");
        cr_assert(!strncmp(r, "HTTP/1.1 404 ", 13), "%s", r);
        free(r);
        r = ask(s, "POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
        cr_assert(!strncmp(r, "HTTP/1.1 405 ", 13), "%s", r);
        cr_assert(strstr(r, "Allow: GET, HEAD\r\n"));
        free(r);
        r = ask(s, "HEAD /metrics HTTP/1.1\r\n\r\n");
        cr_assert(!strncmp(r, "HTTP/1.1 200 ", 13), "%s", r);
        cr_assert(!strcmp(strstr(r, "\r\n\r\n"), "\r\n\r\n"), "HEAD has no body");
        free(r);
        r = ask(s, "GET /metrics?name[]=x HTTP/1.1\r\n\r\n");
        cr_assert(!strncmp(r, "HTTP/1.1 200 ", 13), "a query string is ignored: %s", r);
        free(r);
        r = ask(s, "garbage\r\n\r\n");
        cr_assert(!strncmp(r, "HTTP/1.1 400 ", 13), "%s", r);
        free(r);
        /* headers beyond the request cap */
        char big[JR_METRICS_REQUEST_MAX + 100];
        memset(big, 'a', sizeof big);
        memcpy(big, "GET /metrics HTTP/1.1\r\nX: ", 26);
        big[sizeof big - 1] = '\0';
        r = ask(s, big);
        cr_assert(!strncmp(r, "HTTP/1.1 431 ", 13), "%s", r);
        free(r);
        jr_metrics_close(s);
}

Test(metrics, request_in_pieces_and_a_slow_reader)
{
        jr_metrics_reset();
        for (int i = 0; i < JR_METRICS_MAX_LANGUAGES; i++) {
                char name[16];
                snprintf(name, sizeof name, "l%d", i);
                for (int k = 0; k < 9; k++)
                        jr_metrics_observe_latency(name, k * 0.7);
                jr_metrics_count_result(name, "OK");
        }
        jr_metrics_server *s = start();
        /* a small receive buffer: the answer (tens of KiB) cannot be written at once, so
         * the server must wait for EPOLLOUT rather than block */
        int fd = connect_to(s, 2048);
        send_all(fd, "GET /met");
        jr_error e;
        for (int i = 0; i < 3; i++) {
                struct pollfd p = {.fd = jr_metrics_fd(s), .events = POLLIN};
                poll(&p, 1, 50);
                ASSERT_OK(jr_metrics_handle(s, &e), e);
        }
        send_all(fd, "rics HTTP/1.1\r\n\r\n");
        char *r = exchange(s, fd, 10000);
        close(fd);
        cr_assert(!strncmp(r, "HTTP/1.1 200 OK\r\n", 17), "%.200s", r);
        char *body = strstr(r, "\r\n\r\n") + 4;
        cr_assert_gt(strlen(body), 20000u, "a large answer: %zu bytes", strlen(body));
        cr_assert_eq((size_t)atol(strstr(r, "Content-Length: ") + 16), strlen(body));
        valid_exposition(body);
        has_line(body, "jailrun_latency_seconds_count{language=\"l31\"} 9");
        free(r);
        jr_metrics_close(s);
}

Test(metrics, too_many_clients_and_silent_ones)
{
        jr_metrics_reset();
        jr_metrics_server *s = start();
        int fds[JR_METRICS_MAX_CLIENTS + 4];
        jr_error e;
        for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++) {
                /* the loop turns between connections, as serve's would */
                fds[i] = connect_to(s, 0);
                struct pollfd p = {.fd = jr_metrics_fd(s), .events = POLLIN};
                cr_assert_eq(poll(&p, 1, 2000), 1);
                ASSERT_OK(jr_metrics_handle(s, &e), e);
        }
        /* the ones beyond the limit were closed without an answer */
        size_t closed = 0;
        for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++) {
                char c;
                struct pollfd q = {.fd = fds[i], .events = POLLIN};
                if (poll(&q, 1, 100) == 1 && recv(fds[i], &c, 1, MSG_DONTWAIT) <= 0)
                        closed++;
        }
        cr_assert_eq(closed, 4, "%zu closed", closed);
        /* a client that connects and says nothing is dropped at the deadline, and a
         * scrape still works meanwhile */
        char *r = ask(s, "GET /metrics HTTP/1.1\r\n\r\n");
        cr_assert(!strncmp(r, "HTTP/1.1 200 ", 13) || !strncmp(r, "", 1),
                  "answered or refused while full: %.40s", r);
        free(r);
        char *eof = exchange(s, fds[0], JR_METRICS_TIMEOUT_MS + 5000);
        cr_assert_str_eq(eof, "", "a silent client gets no answer, just the end");
        free(eof);
        for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
                close(fds[i]);
        jr_metrics_close(s);
}
