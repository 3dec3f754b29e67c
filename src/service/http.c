/* The HTTP front door on libmicrohttpd, external epoll mode: the daemon, the requests
 * that wait, the connections' clocks, the loop and the setup. See http.h; the endpoints
 * are http_endpoints.c. */
#include "http_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bytes.h"
#include "cleanup.h"
#include "clock.h"
#include "log.h"
#include "strv.h"

#define MHD_IDLE_TIMEOUT_S 30
/* An own submission whose result never came (a lost message, a runner that was told to
 * skip it) stops counting against max_pending after this long. */
#define PENDING_MAX_MS (60 * 60 * 1000)

/* ================================================================ ids we wait for */

static size_t id_hash(const char *id, size_t len)
{
        uint64_t x = 1469598103934665603ull; /* FNV-1a */
        for (size_t i = 0; i < len; i++)
                x = (x ^ (unsigned char)id[i]) * 1099511628211ull;
        return (size_t)(x % N_BUCKETS);
}

static struct entry **entry_slot(jr_http *h, const char *id, size_t len)
{
        struct entry **p = &h->buckets[id_hash(id, len)];
        for (; *p; p = &(*p)->next)
                if ((*p)->id_len == len && !memcmp((*p)->id, id, len))
                        break;
        return p;
}

struct entry *http_entry_get(jr_http *h, const char *id, size_t len, bool create)
{
        struct entry **p = entry_slot(h, id, len);
        if (*p || !create)
                return *p;
        struct entry *en = calloc(1, sizeof *en);
        if (!en)
                return NULL;
        en->id = jr_memdup(id, len);
        if (!en->id) {
                free(en);
                return NULL;
        }
        en->id_len = len;
        *p = en;
        return en;
}

/* Forget the entry when nobody waits and nothing is pending. */
static void entry_maybe_drop(jr_http *h, struct entry *en)
{
        if (!en || en->pending || en->waiters || en->hold)
                return;
        struct entry **p = entry_slot(h, en->id, en->id_len);
        if (*p == en)
                *p = en->next;
        free(en->id);
        free(en);
}

/* ================================================================ suspend and resume */

static void waiter_unlink(struct req *r)
{
        struct entry *en = r->entry;
        if (!en)
                return;
        if (r->wprev)
                r->wprev->wnext = r->wnext;
        else
                en->waiters = r->wnext;
        if (r->wnext)
                r->wnext->wprev = r->wprev;
        r->wnext = r->wprev = NULL;
        r->entry = NULL;
        entry_maybe_drop(r->h, en);
}

/* Suspend r until jr_http_notify for its id, or deadline. false: out of memory. */
bool http_suspend(struct req *r, enum wait_kind kind, uint64_t deadline_ms)
{
        jr_http *h = r->h;
        struct entry *en = http_entry_get(h, r->xid, r->xid_len, true);
        if (!en)
                return false;
        r->wait = kind;
        r->entry = en;
        r->wprev = NULL;
        r->wnext = en->waiters;
        if (en->waiters)
                en->waiters->wprev = r;
        en->waiters = r;
        r->deadline_ms = deadline_ms;
        r->deadline_hit = false;
        r->sprev = NULL;
        r->snext = h->suspended;
        if (h->suspended)
                h->suspended->sprev = r;
        h->suspended = r;
        r->suspended = true;
        h->stats.suspended++;
        MHD_suspend_connection(r->mc);
        return true;
}

/* Out of the waiting lists (not yet resumed in libmicrohttpd). */
static void unsuspend(struct req *r)
{
        jr_http *h = r->h;
        waiter_unlink(r);
        if (r->sprev)
                r->sprev->snext = r->snext;
        else
                h->suspended = r->snext;
        if (r->snext)
                r->snext->sprev = r->sprev;
        r->snext = r->sprev = NULL;
        r->suspended = false;
        h->stats.suspended--;
}

static void resume(struct req *r)
{
        if (!r->suspended)
                return;
        unsuspend(r);
        /* external polling has no wake-up channel: MHD_run must follow */
        MHD_resume_connection(r->mc);
        r->h->need_run = true;
}

/* ================================================================ the handler */

static enum MHD_Result handler(void *cls, struct MHD_Connection *mc, const char *url,
                               const char *method, const char *version, const char *upload_data,
                               size_t *upload_data_size, void **ctx)
{
        jr_http *h = cls;
        struct req *r = *ctx;
        if (!r) {
                r = calloc(1, sizeof *r);
                if (!r)
                        return MHD_NO;
                *ctx = r;
                r->h = h;
                r->mc = mc;
                r->start_ms = jr_mono_ms();
                r->last_seq = -1;
                snprintf(r->method, sizeof r->method, "%s", method);
                r->path = strdup(url);
                const union MHD_ConnectionInfo *ci =
                    MHD_get_connection_info(mc, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
                r->conn = ci ? ci->socket_context : NULL;
                if (r->conn) {
                        r->conn->phase = C_BODY;
                        r->conn->since_ms = r->start_ms;
                }
                if (!r->path)
                        return MHD_NO;
                return http_first_call(h, r, url, method);
        }
        if (*upload_data_size) {
                enum MHD_Result ret = http_body_data(h, r, upload_data, *upload_data_size);
                *upload_data_size = 0;
                return ret;
        }
        if (r->wait != W_NONE)
                return http_resumed(r);
        return http_last_call(h, r);
}

static void request_done(void *cls, struct MHD_Connection *mc, void **ctx,
                         enum MHD_RequestTerminationCode toe)
{
        jr_http *h = cls;
        struct req *r = *ctx;
        if (!r)
                return;
        *ctx = NULL;
        if (r->suspended)
                unsuspend(r); /* only when the daemon stops */
        waiter_unlink(r);
        unsigned st = toe == MHD_REQUEST_TERMINATED_COMPLETED_OK || r->streaming ? r->status : 0;
        h->stats.status[st / 100 < 6 ? st / 100 : 0]++;
        if (st < 600)
                h->stats.by_code[st]++;
        if (h->log_requests)
                jr_log(JR_LOG_INFO, "http request", JR_LOG_STR("method", r->method),
                       JR_LOG_STR("path", r->path), JR_LOG_UINT("status", st),
                       JR_LOG_UINT("duration_ms", jr_mono_ms() - r->start_ms),
                       JR_LOG_STR("job_id", r->submitted ? r->xid : NULL),
                       JR_LOG_BOOL("completed", toe == MHD_REQUEST_TERMINATED_COMPLETED_OK));
        if (r->conn) {
                r->conn->phase = C_HEADERS;
                r->conn->since_ms = jr_mono_ms();
        }
        h->stats.body_bytes -= r->cap;
        free(r->body);
        free(r->path);
        free(r->xid);
        free(r->chunk.ptr);
        jr_execute_req_free(&r->xreq);
        free(r);
}

static void connection_notify(void *cls, struct MHD_Connection *mc, void **socket_ctx,
                              enum MHD_ConnectionNotificationCode toe)
{
        jr_http *h = cls;
        if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
                struct conn *c = calloc(1, sizeof *c);
                *socket_ctx = c;
                if (!c)
                        return;
                const union MHD_ConnectionInfo *ci =
                    MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CONNECTION_FD);
                c->fd = ci ? ci->connect_fd : -1;
                c->phase = C_HEADERS;
                c->since_ms = jr_mono_ms();
                c->next = h->conns;
                if (h->conns)
                        h->conns->prev = c;
                h->conns = c;
                h->stats.connections++;
                return;
        }
        struct conn *c = *socket_ctx;
        if (!c)
                return;
        if (c->prev)
                c->prev->next = c->next;
        else
                h->conns = c->next;
        if (c->next)
                c->next->prev = c->prev;
        h->stats.connections--;
        free(c);
        *socket_ctx = NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
        char msg[512];
        vsnprintf(msg, sizeof msg, fmt, ap);
        size_t n = strlen(msg);
        while (n && msg[n - 1] == '\n')
                msg[--n] = '\0';
        /* mostly clients that went away or sent garbage: their business, not an operator's */
        jr_log(JR_LOG_DEBUG, "libmicrohttpd", JR_LOG_STR("detail", msg));
}

/* ================================================================ the loop */

static uint64_t conn_deadline(const jr_http *h, const struct conn *c)
{
        if (c->killed)
                return UINT64_MAX;
        if (c->phase == C_HEADERS)
                return c->since_ms + h->header_timeout_ms;
        if (c->phase == C_BODY)
                return c->since_ms + h->request_timeout_ms;
        return UINT64_MAX;
}

int jr_http_timeout_ms(jr_http *h)
{
        if (h->need_run)
                return 0;
        uint64_t now = jr_mono_ms();
        uint64_t next = UINT64_MAX;
        MHD_UNSIGNED_LONG_LONG t;
        if (MHD_get_timeout(h->d, &t) == MHD_YES)
                next = now + t;
        for (struct req *r = h->suspended; r; r = r->snext)
                if (r->deadline_ms < next)
                        next = r->deadline_ms;
        for (struct conn *c = h->conns; c; c = c->next) {
                uint64_t d = conn_deadline(h, c);
                if (d < next)
                        next = d;
        }
        if (h->next_expire_ms < next)
                next = h->next_expire_ms;
        if (next == UINT64_MAX)
                return -1;
        if (next <= now)
                return 0;
        return next - now > INT32_MAX ? INT32_MAX : (int)(next - now);
}

static void forget_old_pending(jr_http *h, uint64_t now)
{
        for (size_t i = 0; i < N_BUCKETS; i++)
                for (struct entry *en = h->buckets[i], *next; en; en = next) {
                        next = en->next;
                        if (en->pending && now - en->pending_since_ms > PENDING_MAX_MS) {
                                en->pending = false;
                                h->stats.pending--;
                                jr_log(JR_LOG_WARNING, "no result for an HTTP submission",
                                       JR_LOG_BYTES("id", en->id, en->id_len));
                                entry_maybe_drop(h, en);
                        }
                }
}

int jr_http_dispatch(jr_http *h, jr_error *e)
{
        uint64_t now = jr_mono_ms();
        /* deadlines: a waiting request answers, a stream sends its keep-alive */
        for (struct req *r = h->suspended, *next; r; r = next) {
                next = r->snext;
                if (r->deadline_ms <= now) {
                        resume(r);
                        r->deadline_hit = true;
                }
        }
        /* slowloris: headers or a body that take too long. shutdown() makes the socket
         * readable with EOF, and libmicrohttpd closes it as any client that left. */
        for (struct conn *c = h->conns; c; c = c->next) {
                if (!c->killed && c->fd >= 0 && conn_deadline(h, c) <= now) {
                        c->killed = true;
                        shutdown(c->fd, SHUT_RDWR);
                        jr_log(JR_LOG_NOTICE, "http connection closed",
                               JR_LOG_STR("reason", c->phase == C_HEADERS
                                                        ? "request headers too slow"
                                                        : "request body too slow"));
                }
        }
        h->need_run = false;
        if (MHD_run(h->d) != MHD_YES)
                return jr_error_set(e, EIO, "http: libmicrohttpd failed to run");
        if (h->next_expire_ms <= now) {
                h->next_expire_ms = now + h->store_expire_ms;
                forget_old_pending(h, now);
                uint64_t removed = 0;
                jr_error ee = {0};
                if (jr_store_expire(h->store, jr_now_ms(), &removed, &ee) < 0)
                        jr_log(JR_LOG_ERROR, "results store expiry failed",
                               JR_LOG_STR("error", ee.msg));
                else if (removed)
                        jr_log(JR_LOG_INFO, "results expired", JR_LOG_UINT("executions", removed));
        }
        return 0;
}

void jr_http_notify(jr_http *h, const char *id, size_t id_len)
{
        struct entry *en = http_entry_get(h, id, id_len, false);
        if (!en)
                return;
        jr_exec_info info;
        jr_error e = {0};
        int found = jr_store_get(h->store, id, id_len, &info, NULL, NULL, &e);
        bool done = found > 0 && info.state == JR_EXEC_DONE;
        if (found < 0)
                jr_log(JR_LOG_ERROR, "results store read failed", JR_LOG_STR("error", e.msg));
        if (done && en->pending) {
                en->pending = false;
                h->stats.pending--;
        }
        en->hold = true;
        for (struct req *r = en->waiters, *next; r; r = next) {
                next = r->wnext;
                if (r->wait == W_SSE || (r->wait == W_DONE && done))
                        resume(r);
        }
        en->hold = false;
        entry_maybe_drop(h, en);
}

void jr_http_shutdown(jr_http *h)
{
        if (h->shutting_down)
                return;
        h->shutting_down = true;
        /* no new connections; those open finish their answers */
        MHD_socket s = MHD_quiesce_daemon(h->d);
        if (s != MHD_INVALID_SOCKET)
                close(s);
        while (h->suspended)
                resume(h->suspended);
}

bool jr_http_idle(jr_http *h)
{
        return h->conns == NULL && h->suspended == NULL;
}

void jr_http_get_stats(const jr_http *h, jr_http_stats *out)
{
        *out = h->stats;
}

int jr_http_fd(const jr_http *h)
{
        return h->epfd;
}

unsigned jr_http_port(const jr_http *h)
{
        return h->port;
}

/* ================================================================ setup */

int jr_http_parse_addr(const char *addr, void *ss, unsigned *len, bool *loopback, jr_error *e)
{
        char host[256];
        const char *colon;
        if (!addr || !*addr)
                return jr_error_set(e, EINVAL, "address: empty");
        if (addr[0] == '[') {
                const char *end = strchr(addr, ']');
                if (!end || end[1] != ':')
                        return jr_error_set(e, EINVAL,
                                            "address \"%s\": an IPv6 address is written "
                                            "[ADDR]:PORT",
                                            addr);
                snprintf(host, sizeof host, "%.*s", (int)(end - addr - 1), addr + 1);
                colon = end + 1;
        } else {
                colon = strrchr(addr, ':');
                if (!colon || (size_t)(colon - addr) >= sizeof host)
                        return jr_error_set(e, EINVAL, "address \"%s\": must be HOST:PORT", addr);
                snprintf(host, sizeof host, "%.*s", (int)(colon - addr), addr);
        }
        const char *p = colon + 1;
        if (!*p || strlen(p) > 5 || p[strspn(p, "0123456789")] || atoi(p) > 65535)
                return jr_error_set(e, EINVAL, "address \"%s\": port must be 0 to 65535", addr);
        uint16_t port = (uint16_t)atoi(p);
        memset(ss, 0, sizeof(struct sockaddr_storage));
        struct sockaddr_in *v4 = ss;
        struct sockaddr_in6 *v6 = ss;
        if (!*host || !strcmp(host, "0.0.0.0") || !strcmp(host, "*")) {
                v4->sin_family = AF_INET;
                v4->sin_addr.s_addr = htonl(INADDR_ANY);
                v4->sin_port = htons(port);
                *len = sizeof *v4;
                *loopback = false;
                return 0;
        }
        if (!strcmp(host, "localhost"))
                snprintf(host, sizeof host, "127.0.0.1");
        if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
                v4->sin_family = AF_INET;
                v4->sin_port = htons(port);
                *len = sizeof *v4;
                *loopback = (ntohl(v4->sin_addr.s_addr) >> 24) == 127;
                return 0;
        }
        if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
                v6->sin6_family = AF_INET6;
                v6->sin6_port = htons(port);
                *len = sizeof *v6;
                *loopback = IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr);
                return 0;
        }
        return jr_error_set(e, EINVAL, "address \"%s\": host must be an IP address or localhost",
                            addr);
}

static int parse_tokens(const char *spec, char ***out, jr_error *e)
{
        *out = NULL;
        if (!spec)
                return 0;
        size_t n = 0;
        char **v = calloc(strlen(spec) / 2 + 2, sizeof *v);
        if (!v)
                return jr_error_set(e, ENOMEM, "tokens");
        for (const char *p = spec; *p;) {
                size_t l = strcspn(p, ",");
                const char *s = p;
                size_t sl = l;
                while (sl && (*s == ' ' || *s == '\t'))
                        s++, sl--;
                while (sl && (s[sl - 1] == ' ' || s[sl - 1] == '\t'))
                        sl--;
                if (sl) {
                        v[n] = strndup(s, sl);
                        if (!v[n]) {
                                jr_strv_free(v);
                                return jr_error_set(e, ENOMEM, "tokens");
                        }
                        n++;
                }
                p += l;
                if (*p == ',')
                        p++;
        }
        if (n == 0) {
                free(v);
                return 0;
        }
        *out = v;
        return 0;
}

void jr_http_free(jr_http *h)
{
        if (!h)
                return;
        if (h->d) {
                /* libmicrohttpd must not stop with suspended connections */
                h->shutting_down = true;
                while (h->suspended)
                        resume(h->suspended);
                MHD_run(h->d);
                MHD_stop_daemon(h->d);
        }
        for (size_t i = 0; i < N_BUCKETS; i++)
                for (struct entry *en = h->buckets[i], *next; en; en = next) {
                        next = en->next;
                        free(en->id);
                        free(en);
                }
        jr_strv_free(h->tokens);
        jr_strv_free(h->languages);
        free(h->languages_json);
        free(h);
}

static int copy_languages(jr_http *h, const jr_http_config *c, jr_error *e)
{
        const char *const *src = c->execute.languages ? c->execute.languages : c->parse.languages;
        size_t n = c->execute.languages ? c->execute.n_languages : c->parse.n_languages;
        if (!src)
                return 0;
        h->languages = calloc(n + 1, sizeof *h->languages);
        if (!h->languages)
                return jr_error_set(e, ENOMEM, "http: languages");
        for (size_t i = 0; i < n; i++)
                if (!(h->languages[i] = strdup(src[i])))
                        return jr_error_set(e, ENOMEM, "http: languages");
        h->execute.languages = (const char *const *)h->languages;
        h->execute.n_languages = n;
        h->parse.languages = (const char *const *)h->languages;
        h->parse.n_languages = n;
        return 0;
}

int jr_http_new(const jr_http_config *c, const jr_http_ops *ops, void *opaque, jr_store *store,
                jr_http **out, jr_error *e)
{
        struct sockaddr_storage ss;
        unsigned slen = 0;
        bool loopback = false;
        if (jr_http_parse_addr(c->addr, &ss, &slen, &loopback, e) < 0)
                return jr_error_wrap(e, "JAILRUN_HTTP_ADDR");
        jr_http *h = calloc(1, sizeof *h);
        if (!h)
                return jr_error_set(e, ENOMEM, "http: allocate");
        if (parse_tokens(c->tokens, &h->tokens, e) < 0) {
                jr_http_free(h);
                return -1;
        }
        if (!h->tokens && !loopback) {
                jr_http_free(h);
                return jr_error_set(e, EPERM,
                                    "JAILRUN_HTTP_TOKENS is empty: HTTP without authentication "
                                    "is only served on a loopback address, not \"%s\"",
                                    c->addr);
        }
        h->store = store;
        h->ops = *ops;
        h->opaque = opaque;
        h->max_body = c->max_body ? c->max_body : JR_HTTP_MAX_BODY_DEFAULT;
        h->max_pending = c->max_pending ? c->max_pending : JR_HTTP_MAX_PENDING_DEFAULT;
        h->body_budget = 4 * h->max_body < ((size_t)64 << 20) ? (size_t)64 << 20 : 4 * h->max_body;
        h->execute_wait_ms = c->execute_wait_ms ? c->execute_wait_ms : JR_HTTP_EXECUTE_WAIT_DEFAULT;
        h->header_timeout_ms =
            c->header_timeout_ms ? c->header_timeout_ms : JR_HTTP_HEADER_TIMEOUT_DEFAULT;
        h->request_timeout_ms =
            c->request_timeout_ms ? c->request_timeout_ms : JR_HTTP_REQUEST_TIMEOUT_DEFAULT;
        h->keepalive_ms = c->keepalive_ms ? c->keepalive_ms : JR_HTTP_KEEPALIVE_DEFAULT;
        h->retry_after_s = c->retry_after_s ? c->retry_after_s : JR_HTTP_RETRY_AFTER_DEFAULT;
        h->store_expire_ms = c->store_expire_ms ? c->store_expire_ms : 60 * 1000;
        h->next_expire_ms = jr_mono_ms() + h->store_expire_ms;
        h->events_enabled = c->events_enabled;
        h->log_requests = c->log_requests;
        h->execute = c->execute;
        h->parse = c->parse;
        h->languages_json = strdup(c->languages_json ? c->languages_json : "{\"languages\":[]}");
        if (!h->languages_json || copy_languages(h, c, e) < 0) {
                jr_http_free(h);
                return jr_error_set(e, ENOMEM, "http: allocate");
        }
        unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
        if (ss.ss_family == AF_INET6)
                flags |= MHD_USE_IPv6;
        unsigned max_conn = c->max_connections ? c->max_connections : JR_HTTP_MAX_CONNECTIONS;
        /* No internal thread: the epoll fd below joins the supervisor's loop. */
        h->d = MHD_start_daemon(
            flags, 0, NULL, NULL, handler, h, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, h,
            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_LIMIT, max_conn,
            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)MHD_IDLE_TIMEOUT_S,
            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)64 * 1024, MHD_OPTION_NOTIFY_COMPLETED,
            request_done, h, MHD_OPTION_NOTIFY_CONNECTION, connection_notify, h, MHD_OPTION_END);
        if (!h->d) {
                int err = errno;
                jr_http_free(h);
                return jr_error_set(e, err ? err : EADDRINUSE, "http: listen on \"%s\"", c->addr);
        }
        const union MHD_DaemonInfo *di = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_EPOLL_FD);
        const union MHD_DaemonInfo *pi = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
        if (!di || di->epoll_fd < 0) {
                jr_http_free(h);
                return jr_error_set(e, ENOTSUP, "http: libmicrohttpd has no epoll fd");
        }
        h->epfd = di->epoll_fd;
        h->port = pi ? pi->port : 0;
        *out = h;
        return 0;
}
