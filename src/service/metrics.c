/* Prometheus metrics: the registry and a non-blocking HTTP endpoint. See metrics.h. */
#include "metrics.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "clock.h"

/* ---- registry ----------------------------------------------------------------------- */

static const char *const statuses[] = {"OK", "WA", "TL", "ML", "RE",
                                       "OL", "BF", "IE", "-",  "other"};
#define N_STATUS     JR_ARRAY_SIZE(statuses)
#define STATUS_OTHER (N_STATUS - 1)

/* Upper bounds in seconds: from a cached C program (~0.1 s) to the 5-minute execution cap. */
static const double buckets[] = {0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300};
#define N_BUCKETS JR_ARRAY_SIZE(buckets)

#define LANG_NAME_MAX 32

struct series {
        char name[LANG_NAME_MAX + 1];
        uint64_t results[N_STATUS];
        uint64_t in_bucket[N_BUCKETS + 1]; /* per bucket, not cumulative; last = +Inf */
        uint64_t count;
        double sum;
};

static struct {
        bool init;
        struct series langs[JR_METRICS_MAX_LANGUAGES]; /* sorted by name */
        size_t n_langs;
        struct series other; /* languages beyond the cap or with odd names */
        uint64_t jail_setup_failures, invalid_messages;
        unsigned slots, slots_busy;
        uint64_t spool_pending;
        int64_t consumer_lag; /* < 0: unknown */
        bool http;
        uint64_t http_by_code[600], http_unanswered, http_pending;
        time_t start_time;
        jr_metrics_collect_fn *collect;
        void *collect_opaque;
} reg;

static void reg_init(void)
{
        if (reg.init)
                return;
        reg.init = true;
        reg.consumer_lag = -1;
        reg.start_time = time(NULL);
        snprintf(reg.other.name, sizeof reg.other.name, "other");
}

void jr_metrics_reset(void)
{
        memset(&reg, 0, sizeof reg);
        reg_init();
}

static bool valid_lang(const char *s)
{
        size_t n = 0;
        for (; s[n]; n++) {
                char c = s[n];
                if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '+' ||
                      c == '.' || c == '-'))
                        return false;
        }
        return n > 0 && n <= LANG_NAME_MAX;
}

static struct series *series_for(const char *language)
{
        reg_init();
        if (!language || !valid_lang(language))
                return &reg.other;
        size_t lo = 0, hi = reg.n_langs;
        while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                int c = strcmp(reg.langs[mid].name, language);
                if (c == 0)
                        return &reg.langs[mid];
                if (c < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        if (reg.n_langs == JR_METRICS_MAX_LANGUAGES)
                return &reg.other;
        memmove(&reg.langs[lo + 1], &reg.langs[lo], (reg.n_langs - lo) * sizeof reg.langs[0]);
        reg.langs[lo] = (struct series){0};
        snprintf(reg.langs[lo].name, sizeof reg.langs[lo].name, "%s", language);
        reg.n_langs++;
        return &reg.langs[lo];
}

void jr_metrics_count_result(const char *language, const char *status)
{
        struct series *s = series_for(language);
        size_t i = 0;
        while (i < STATUS_OTHER && !(status && !strcmp(statuses[i], status)))
                i++;
        s->results[i]++;
}

void jr_metrics_observe_latency(const char *language, double seconds)
{
        if (!(seconds >= 0)) /* negative or NaN */
                return;
        struct series *s = series_for(language);
        size_t i = 0;
        while (i < N_BUCKETS && seconds > buckets[i])
                i++;
        s->in_bucket[i]++;
        s->count++;
        s->sum += seconds;
}

void jr_metrics_count_jail_setup_failure(void)
{
        reg_init();
        reg.jail_setup_failures++;
}

void jr_metrics_count_invalid_message(void)
{
        reg_init();
        reg.invalid_messages++;
}

void jr_metrics_set_slots(unsigned total, unsigned busy)
{
        reg_init();
        reg.slots = total;
        reg.slots_busy = busy;
}

void jr_metrics_set_spool_pending(uint64_t records)
{
        reg_init();
        reg.spool_pending = records;
}

void jr_metrics_set_consumer_lag(int64_t messages)
{
        reg_init();
        reg.consumer_lag = messages < 0 ? -1 : messages;
}

void jr_metrics_set_http(const uint64_t by_code[600], uint64_t unanswered, uint64_t pending)
{
        reg_init();
        reg.http = true;
        memcpy(reg.http_by_code, by_code, sizeof reg.http_by_code);
        reg.http_unanswered = unanswered;
        reg.http_pending = pending;
}

void jr_metrics_set_collector(jr_metrics_collect_fn *fn, void *opaque)
{
        reg_init();
        reg.collect = fn;
        reg.collect_opaque = opaque;
}

static void header(FILE *f, const char *name, const char *type, const char *help)
{
        fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Language names are [a-z0-9_+.-] and statuses fixed: nothing to escape in labels. */
static void render_series(FILE *f, const struct series *s, bool results)
{
        if (results) {
                for (size_t i = 0; i < N_STATUS; i++)
                        if (s->results[i])
                                fprintf(f,
                                        "jailrun_results_total{language=\"%s\",status=\"%s\"} "
                                        "%llu\n",
                                        s->name, statuses[i], (unsigned long long)s->results[i]);
                return;
        }
        if (!s->count)
                return;
        uint64_t cum = 0;
        for (size_t i = 0; i < N_BUCKETS; i++) {
                cum += s->in_bucket[i];
                fprintf(f, "jailrun_latency_seconds_bucket{language=\"%s\",le=\"%g\"} %llu\n",
                        s->name, buckets[i], (unsigned long long)cum);
        }
        fprintf(f, "jailrun_latency_seconds_bucket{language=\"%s\",le=\"+Inf\"} %llu\n", s->name,
                (unsigned long long)s->count);
        fprintf(f, "jailrun_latency_seconds_sum{language=\"%s\"} %.6f\n", s->name, s->sum);
        fprintf(f, "jailrun_latency_seconds_count{language=\"%s\"} %llu\n", s->name,
                (unsigned long long)s->count);
}

int jr_metrics_render(char **text, size_t *len, jr_error *e)
{
        reg_init();
        char *buf = NULL;
        size_t n = 0;
        FILE *f = open_memstream(&buf, &n);
        if (!f)
                return jr_error_errno(e, "metrics: open_memstream");

        header(f, "jailrun_build_info", "gauge", "jailrun's version (the value is always 1).");
        fprintf(f, "jailrun_build_info{version=\"%s\"} 1\n", JR_VERSION);
        header(f, "jailrun_start_time_seconds", "gauge", "Start time of the process (Unix time).");
        fprintf(f, "jailrun_start_time_seconds %lld\n", (long long)reg.start_time);

        header(f, "jailrun_results_total", "counter", "Results produced, by language and status.");
        for (size_t i = 0; i < reg.n_langs; i++)
                render_series(f, &reg.langs[i], true);
        render_series(f, &reg.other, true);

        header(f, "jailrun_latency_seconds", "histogram",
               "Time from consuming a submission to its result being spooled.");
        for (size_t i = 0; i < reg.n_langs; i++)
                render_series(f, &reg.langs[i], false);
        render_series(f, &reg.other, false);

        header(f, "jailrun_jail_setup_failures_total", "counter",
               "Jails that failed to start (sandbox faults, never the program's).");
        fprintf(f, "jailrun_jail_setup_failures_total %llu\n",
                (unsigned long long)reg.jail_setup_failures);
        header(f, "jailrun_invalid_messages_total", "counter",
               "Consumed messages that were not a valid submission (IE results).");
        fprintf(f, "jailrun_invalid_messages_total %llu\n",
                (unsigned long long)reg.invalid_messages);
        header(f, "jailrun_slots", "gauge", "Jail slots (RUNNER_MAX_PARALLEL).");
        fprintf(f, "jailrun_slots %u\n", reg.slots);
        header(f, "jailrun_slots_busy", "gauge", "Jail slots judging a submission now.");
        fprintf(f, "jailrun_slots_busy %u\n", reg.slots_busy);
        header(f, "jailrun_spool_pending", "gauge",
               "Results and events in the spool, not yet acknowledged by the broker.");
        fprintf(f, "jailrun_spool_pending %llu\n", (unsigned long long)reg.spool_pending);
        if (reg.consumer_lag >= 0) {
                header(f, "jailrun_consumer_lag", "gauge",
                       "Submissions in the assigned partitions not consumed yet.");
                fprintf(f, "jailrun_consumer_lag %lld\n", (long long)reg.consumer_lag);
        }
        if (reg.http) {
                header(f, "jailrun_http_requests_total", "counter",
                       "HTTP requests answered, by status (\"none\": closed unanswered).");
                uint64_t other = 0;
                for (unsigned c = 1; c < 600; c++) {
                        if (c < 100)
                                other += reg.http_by_code[c];
                        else if (reg.http_by_code[c])
                                fprintf(f, "jailrun_http_requests_total{status=\"%u\"} %llu\n", c,
                                        (unsigned long long)reg.http_by_code[c]);
                }
                if (other)
                        fprintf(f, "jailrun_http_requests_total{status=\"other\"} %llu\n",
                                (unsigned long long)other);
                fprintf(f, "jailrun_http_requests_total{status=\"none\"} %llu\n",
                        (unsigned long long)reg.http_unanswered);
                header(f, "jailrun_http_pending", "gauge",
                       "Submissions taken over HTTP and waiting for their result.");
                fprintf(f, "jailrun_http_pending %llu\n", (unsigned long long)reg.http_pending);
        }
        if (ferror(f) || fclose(f) != 0) {
                free(buf);
                return jr_error_set(e, ENOMEM, "metrics: render");
        }
        *text = buf;
        *len = n;
        return 0;
}

/* ---- address ---------------------------------------------------------------------------- */

int jr_metrics_split_address(const char *addr, char *host, size_t host_size, char *port,
                             size_t port_size, jr_error *e)
{
        const char *colon;
        const char *h = addr;
        size_t hlen;
        if (addr[0] == '[') {
                const char *close = strchr(addr, ']');
                if (!close || close[1] != ':')
                        return jr_error_set(e, 0, "address \"%s\": expected [IPV6]:PORT", addr);
                h = addr + 1;
                hlen = (size_t)(close - h);
                colon = close + 1;
        } else {
                colon = strrchr(addr, ':');
                if (!colon)
                        return jr_error_set(e, 0, "address \"%s\": expected HOST:PORT or :PORT",
                                            addr);
                hlen = (size_t)(colon - addr);
                if (memchr(addr, ':', hlen))
                        return jr_error_set(
                            e, 0, "address \"%s\": write an IPv6 address as [ADDR]:PORT", addr);
        }
        const char *p = colon + 1;
        size_t plen = strlen(p);
        unsigned long v = 0;
        if (plen == 0 || plen > 5)
                return jr_error_set(e, 0, "address \"%s\": port \"%s\" is not 0..65535", addr, p);
        for (size_t i = 0; i < plen; i++) {
                if (p[i] < '0' || p[i] > '9')
                        return jr_error_set(e, 0, "address \"%s\": port \"%s\" is not 0..65535",
                                            addr, p);
                v = v * 10 + (unsigned long)(p[i] - '0');
        }
        if (v > 65535)
                return jr_error_set(e, 0, "address \"%s\": port \"%s\" is not 0..65535", addr, p);
        if (hlen >= host_size || plen >= port_size)
                return jr_error_set(e, 0, "address \"%s\": too long", addr);
        for (size_t i = 0; i < hlen; i++)
                if ((unsigned char)h[i] <= ' ' || h[i] == '/')
                        return jr_error_set(e, 0, "address \"%s\": bad host", addr);
        memcpy(host, h, hlen);
        host[hlen] = '\0';
        memcpy(port, p, plen + 1);
        return 0;
}

/* ---- endpoint ----------------------------------------------------------------------------- */

enum client_state { C_FREE, C_READING, C_WRITING, C_LINGER };

struct client {
        enum client_state state;
        int fd;
        char req[JR_METRICS_REQUEST_MAX];
        size_t len;
        char *out;
        size_t out_len, out_off;
        uint64_t deadline_ms;
};

struct jr_metrics_server {
        int ep;
        int listen_fd;
        int timer_fd;
        char address[INET6_ADDRSTRLEN + 16];
        uint64_t requests;
        struct client clients[JR_METRICS_MAX_CLIENTS];
};

enum { TAG_LISTEN = 0, TAG_TIMER = 1, TAG_CLIENT = 2 };

static int bind_one(const struct addrinfo *ai, bool dual_stack, int *out, jr_error *e)
{
        _cleanup_close_ int fd =
            socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0)
                return jr_error_errno(e, "socket");
        int one = 1, zero = 0;
        /* a restarted service must not wait for the old connections' TIME_WAIT */
        if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0)
                return jr_error_errno(e, "SO_REUSEADDR");
        if (dual_stack && ai->ai_family == AF_INET6 &&
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero) < 0)
                return jr_error_errno(e, "IPV6_V6ONLY");
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0)
                return jr_error_errno(e, "bind");
        if (listen(fd, JR_METRICS_MAX_CLIENTS) < 0)
                return jr_error_errno(e, "listen");
        *out = TAKE_FD(fd);
        return 0;
}

static int listen_on(const char *host, const char *port, int *out, jr_error *e)
{
        struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
                                 .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
        struct addrinfo *res = NULL;
        bool any = !*host;
        /* ":PORT": every address, IPv6 and IPv4 on one dual-stack socket when possible */
        int r = getaddrinfo(any ? "::" : host, port, &hints, &res);
        if (r != 0 && any)
                r = getaddrinfo("0.0.0.0", port, &hints, &res);
        if (r != 0)
                return jr_error_set(e, r == EAI_SYSTEM ? errno : ENOENT, "resolve \"%s\": %s", host,
                                    gai_strerror(r));
        int ret = jr_error_set(e, ENOENT, "resolve \"%s\": no address", host);
        for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
                ret = bind_one(ai, any, out, e);
                if (ret == 0)
                        break;
        }
        freeaddrinfo(res);
        return ret;
}

static void format_address(int fd, char *buf, size_t n)
{
        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;
        char h[INET6_ADDRSTRLEN], p[8];
        if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0 ||
            getnameinfo((struct sockaddr *)&ss, len, h, sizeof h, p, sizeof p,
                        NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
                snprintf(buf, n, "?");
                return;
        }
        if (ss.ss_family == AF_INET6)
                snprintf(buf, n, "[%s]:%s", h, p);
        else
                snprintf(buf, n, "%s:%s", h, p);
}

static int ep_add(int ep, int fd, uint32_t events, uint64_t tag)
{
        struct epoll_event ev = {.events = events, .data.u64 = tag};
        return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

int jr_metrics_open(const char *addr, jr_metrics_server **out, jr_error *e)
{
        char host[256], port[16];
        if (jr_metrics_split_address(addr, host, sizeof host, port, sizeof port, e) < 0)
                return -1;
        jr_metrics_server *s = calloc(1, sizeof *s);
        if (!s)
                return jr_error_set(e, ENOMEM, "metrics");
        s->ep = s->listen_fd = s->timer_fd = -1;
        for (size_t i = 0; i < JR_METRICS_MAX_CLIENTS; i++)
                s->clients[i].fd = -1;
        reg_init();
        if (listen_on(host, port, &s->listen_fd, e) < 0) {
                jr_error_wrap(e, "metrics: listen on \"%s\"", addr);
                goto fail;
        }
        s->ep = epoll_create1(EPOLL_CLOEXEC);
        s->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
        if (s->ep < 0 || s->timer_fd < 0 || ep_add(s->ep, s->listen_fd, EPOLLIN, TAG_LISTEN) < 0 ||
            ep_add(s->ep, s->timer_fd, EPOLLIN, TAG_TIMER) < 0) {
                jr_error_errno(e, "metrics: set up the event loop");
                goto fail;
        }
        format_address(s->listen_fd, s->address, sizeof s->address);
        *out = s;
        return 0;
fail:
        jr_metrics_close(s);
        return -1;
}

int jr_metrics_fd(const jr_metrics_server *s)
{
        return s->ep;
}

const char *jr_metrics_address(const jr_metrics_server *s)
{
        return s->address;
}

uint64_t jr_metrics_requests(const jr_metrics_server *s)
{
        return s->requests;
}

static void client_close(jr_metrics_server *s, struct client *c)
{
        if (c->fd >= 0) {
                epoll_ctl(s->ep, EPOLL_CTL_DEL, c->fd, NULL);
                close(c->fd);
        }
        free(c->out);
        *c = (struct client){.state = C_FREE, .fd = -1};
}

static void arm_timer(jr_metrics_server *s)
{
        uint64_t first = 0;
        for (size_t i = 0; i < JR_METRICS_MAX_CLIENTS; i++) {
                const struct client *c = &s->clients[i];
                if (c->state != C_FREE && (!first || c->deadline_ms < first))
                        first = c->deadline_ms;
        }
        struct itimerspec its = {0}; /* all zero: disarm */
        if (first) {
                its.it_value.tv_sec = (time_t)(first / 1000);
                its.it_value.tv_nsec = (long)(first % 1000) * 1000000;
        }
        timerfd_settime(s->timer_fd, TFD_TIMER_ABSTIME, &its, NULL);
}

static void accept_clients(jr_metrics_server *s)
{
        for (int round = 0; round < 4 * JR_METRICS_MAX_CLIENTS; round++) {
                int fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (fd < 0)
                        return; /* EAGAIN, or a connection that died in the queue */
                struct client *c = NULL;
                for (size_t i = 0; i < JR_METRICS_MAX_CLIENTS && !c; i++)
                        if (s->clients[i].state == C_FREE)
                                c = &s->clients[i];
                if (!c || ep_add(s->ep, fd, EPOLLIN, TAG_CLIENT + (uint64_t)(c - s->clients)) < 0) {
                        close(fd); /* too many scrapers at once: this one retries later */
                        continue;
                }
                *c = (struct client){.state = C_READING,
                                     .fd = fd,
                                     .deadline_ms = jr_mono_ms() + JR_METRICS_TIMEOUT_MS};
        }
}

static void set_response(struct client *c, int code, const char *reason, const char *type,
                         const char *body, size_t body_len, bool head)
{
        char *out = NULL;
        int hl = asprintf(&out,
                          "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                          "%sConnection: close\r\n\r\n",
                          code, reason, type, body_len, code == 405 ? "Allow: GET, HEAD\r\n" : "");
        if (hl < 0)
                return;
        if (!head && body_len) {
                char *full = realloc(out, (size_t)hl + body_len);
                if (!full) {
                        free(out);
                        return;
                }
                memcpy(full + hl, body, body_len);
                out = full;
                c->out_len = (size_t)hl + body_len;
        } else {
                c->out_len = (size_t)hl;
        }
        c->out = out;
        c->out_off = 0;
}

/* The request is complete in c->req: decide the answer. */
static void answer(jr_metrics_server *s, struct client *c)
{
        static const char plain[] = "text/plain; charset=utf-8";
        char method[16], target[256];
        s->requests++;
        c->req[c->len < sizeof c->req ? c->len : sizeof c->req - 1] = '\0';
        if (sscanf(c->req, "%15s %255s HTTP/", method, target) != 2) {
                set_response(c, 400, "Bad Request", plain, "bad request\n", 12, false);
                return;
        }
        target[strcspn(target, "?")] = '\0';
        bool head = !strcmp(method, "HEAD");
        if (strcmp(target, "/metrics")) {
                set_response(c, 404, "Not Found", plain, "not found: try /metrics\n", 24, head);
                return;
        }
        if (strcmp(method, "GET") && !head) {
                set_response(c, 405, "Method Not Allowed", plain, "method not allowed\n", 19,
                             false);
                return;
        }
        if (reg.collect)
                reg.collect(reg.collect_opaque);
        char *text = NULL;
        size_t len = 0;
        jr_error e;
        if (jr_metrics_render(&text, &len, &e) < 0) {
                set_response(c, 500, "Internal Server Error", plain, "render failed\n", 14, head);
                return;
        }
        set_response(c, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", text, len, head);
        free(text);
}

static void client_write(jr_metrics_server *s, struct client *c)
{
        while (c->out_off < c->out_len) {
                ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
                                 MSG_NOSIGNAL | MSG_DONTWAIT);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                        struct epoll_event ev = {.events = EPOLLOUT,
                                                 .data.u64 =
                                                     TAG_CLIENT + (uint64_t)(c - s->clients)};
                        if (c->state != C_WRITING &&
                            epoll_ctl(s->ep, EPOLL_CTL_MOD, c->fd, &ev) < 0)
                                client_close(s, c);
                        else
                                c->state = C_WRITING;
                        return;
                }
                if (n <= 0) {
                        client_close(s, c);
                        return;
                }
                c->out_off += (size_t)n;
        }
        /* Everything is sent. Closing now with unread bytes from the client would reset
         * the connection and could destroy the answer in flight: half-close and wait for
         * the client's end (bounded by the deadline). */
        shutdown(c->fd, SHUT_WR);
        struct epoll_event ev = {.events = EPOLLIN,
                                 .data.u64 = TAG_CLIENT + (uint64_t)(c - s->clients)};
        if (epoll_ctl(s->ep, EPOLL_CTL_MOD, c->fd, &ev) < 0) {
                client_close(s, c);
                return;
        }
        c->state = C_LINGER;
}

static bool request_complete(const struct client *c)
{
        for (size_t i = 0; i + 1 < c->len; i++) {
                if (c->req[i] == '\n' && c->req[i + 1] == '\n')
                        return true;
                if (i + 3 < c->len && !memcmp(c->req + i, "\r\n\r\n", 4))
                        return true;
        }
        return false;
}

static void client_read(jr_metrics_server *s, struct client *c)
{
        for (;;) {
                if (c->state == C_LINGER) {
                        char sink[512];
                        ssize_t n = recv(c->fd, sink, sizeof sink, MSG_DONTWAIT);
                        if (n < 0 && errno == EINTR)
                                continue;
                        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                                return;
                        if (n <= 0) {
                                client_close(s, c);
                                return;
                        }
                        continue;
                }
                if (c->len == sizeof c->req - 1) {
                        s->requests++;
                        set_response(c, 431, "Request Header Fields Too Large",
                                     "text/plain; charset=utf-8", "request too large\n", 18, false);
                        break;
                }
                ssize_t n = recv(c->fd, c->req + c->len, sizeof c->req - 1 - c->len, MSG_DONTWAIT);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                        return;
                if (n <= 0) {
                        client_close(s, c); /* gone before asking anything */
                        return;
                }
                c->len += (size_t)n;
                if (request_complete(c)) {
                        answer(s, c);
                        break;
                }
        }
        if (!c->out) { /* out of memory for the answer */
                client_close(s, c);
                return;
        }
        client_write(s, c);
}

static void expire(jr_metrics_server *s)
{
        uint64_t exp;
        while (read(s->timer_fd, &exp, sizeof exp) > 0)
                ;
        uint64_t now = jr_mono_ms();
        for (size_t i = 0; i < JR_METRICS_MAX_CLIENTS; i++)
                if (s->clients[i].state != C_FREE && s->clients[i].deadline_ms <= now)
                        client_close(s, &s->clients[i]);
}

int jr_metrics_handle(jr_metrics_server *s, jr_error *e)
{
        struct epoll_event evs[JR_METRICS_MAX_CLIENTS + 2];
        int n = epoll_wait(s->ep, evs, (int)JR_ARRAY_SIZE(evs), 0);
        if (n < 0 && errno == EINTR)
                return 0;
        if (n < 0)
                return jr_error_errno(e, "metrics: epoll_wait");
        for (int i = 0; i < n; i++) {
                uint64_t tag = evs[i].data.u64;
                if (tag == TAG_LISTEN) {
                        accept_clients(s);
                } else if (tag == TAG_TIMER) {
                        expire(s);
                } else if (tag - TAG_CLIENT < JR_METRICS_MAX_CLIENTS) {
                        struct client *c = &s->clients[tag - TAG_CLIENT];
                        if (c->state == C_READING || c->state == C_LINGER)
                                client_read(s, c);
                        else if (c->state == C_WRITING)
                                client_write(s, c);
                }
        }
        arm_timer(s);
        return 0;
}

void jr_metrics_close(jr_metrics_server *s)
{
        if (!s)
                return;
        for (size_t i = 0; i < JR_METRICS_MAX_CLIENTS; i++)
                if (s->clients[i].state != C_FREE)
                        client_close(s, &s->clients[i]);
        if (s->listen_fd >= 0)
                close(s->listen_fd);
        if (s->timer_fd >= 0)
                close(s->timer_fd);
        if (s->ep >= 0)
                close(s->ep);
        free(s);
}
