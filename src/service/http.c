/* The HTTP front door on libmicrohttpd, external epoll mode. See http.h. */
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bytes.h"
#include "cleanup.h"
#include "clock.h"
#include "log.h"
#include "strv.h"

#define N_BUCKETS          1024 /* hash buckets of ids that someone waits for */
#define MHD_IDLE_TIMEOUT_S 30
#define DONE_GRACE_MS      10000 /* a stream's wait for "done" after the result */
/* An own submission whose result never came (a lost message, a runner that was told to
 * skip it) stops counting against max_pending after this long. */
#define PENDING_MAX_MS (60 * 60 * 1000)

enum route {
        R_NONE = 0,
        R_EXECUTE,
        R_ENQUEUE,
        R_GET,
        R_EVENTS,
        R_LANGUAGES,
        R_HEALTH,
        R_READY,
};

enum wait_kind {
        W_NONE = 0,
        W_DONE, /* the result: /execute, Enqueue with ?wait= */
        W_SSE,  /* anything new for a stream */
};

/* An id that requests wait for, or an own submission whose result has not come. */
struct entry {
        struct entry *next; /* hash chain */
        char *id;
        size_t id_len;
        bool pending;
        uint64_t pending_since_ms;
        bool hold; /* being walked by jr_http_notify: not to be freed */
        struct req *waiters;
};

/* One TCP connection (libmicrohttpd's socket context): the slowloris clock. */
enum conn_phase {
        C_HEADERS, /* waiting for a request's headers (also between keep-alive requests) */
        C_BODY,    /* headers in, body coming */
        C_HANDLED, /* the request is ours: answered, waiting or streaming */
};

struct conn {
        struct conn *next, *prev;
        int fd;
        enum conn_phase phase;
        uint64_t since_ms;
        bool killed;
};

struct req {
        jr_http *h;
        struct MHD_Connection *mc;
        struct conn *conn;
        enum route route;
        char method[8];
        char *path; /* for the log */
        uint64_t start_ms;
        unsigned status; /* queued answer */
        /* the body */
        char *body;
        size_t len, cap;
        bool too_big, over_budget;
        /* the execution */
        char *xid;
        size_t xid_len;
        jr_execute_req xreq;
        uint64_t wait_ms; /* Enqueue's ?wait= */
        bool submitted;
        /* waiting */
        enum wait_kind wait;
        struct entry *entry;
        struct req *wnext, *wprev; /* the entry's waiters */
        struct req *snext, *sprev; /* every suspended request */
        bool suspended;
        uint64_t deadline_ms;
        bool deadline_hit;
        uint64_t waited_until_ms; /* W_DONE: the wait's end */
        /* SSE */
        bool streaming;
        int64_t last_seq;
        jr_buf chunk;
        size_t chunk_off;
        bool sse_end;
};

struct jr_http {
        struct MHD_Daemon *d;
        int epfd;
        unsigned port;
        jr_store *store;
        jr_http_ops ops;
        void *opaque;
        /* config */
        char **tokens; /* NULL-terminated; NULL: no auth */
        size_t max_body, max_pending, body_budget;
        uint64_t execute_wait_ms, header_timeout_ms, request_timeout_ms, keepalive_ms;
        uint64_t store_expire_ms;
        unsigned retry_after_s;
        bool events_enabled, log_requests;
        jr_execute_opts execute;
        jr_parse_options parse;
        char *languages_json;
        char **languages; /* copies behind execute/parse */
        /* state */
        struct entry *buckets[N_BUCKETS];
        struct req *suspended;
        struct conn *conns;
        bool need_run, shutting_down;
        uint64_t next_expire_ms;
        jr_http_stats stats;
};

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

static struct entry *entry_get(jr_http *h, const char *id, size_t len, bool create)
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
static bool suspend(struct req *r, enum wait_kind kind, uint64_t deadline_ms)
{
        jr_http *h = r->h;
        struct entry *en = entry_get(h, r->xid, r->xid_len, true);
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

/* ================================================================ answers */

static enum MHD_Result queue(struct req *r, unsigned status, const char *type, jr_buf *body,
                             const char *const *headers)
{
        struct MHD_Response *resp =
            MHD_create_response_from_buffer(body->len, body->ptr, MHD_RESPMEM_MUST_FREE);
        if (!resp) {
                free(body->ptr);
                *body = (jr_buf){0};
                return MHD_NO;
        }
        *body = (jr_buf){0}; /* libmicrohttpd frees it */
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
        for (size_t i = 0; headers && headers[i]; i += 2)
                MHD_add_response_header(resp, headers[i], headers[i + 1]);
        enum MHD_Result ret = MHD_queue_response(r->mc, status, resp);
        MHD_destroy_response(resp);
        r->status = status;
        if (r->conn)
                r->conn->phase = C_HANDLED;
        return ret;
}

static enum MHD_Result queue_json(struct req *r, unsigned status, jr_buf *body)
{
        return queue(r, status, "application/json", body, NULL);
}

static enum MHD_Result queue_text(struct req *r, unsigned status, const char *type,
                                  const char *text, const char *const *headers)
{
        jr_buf b = {.ptr = strdup(text), .len = strlen(text)};
        if (!b.ptr)
                return MHD_NO;
        return queue(r, status, type, &b, headers);
}

/* problem+json; extra headers as name, value pairs, NULL-terminated. */
__attribute__((format(printf, 4, 5))) static enum MHD_Result
problem(struct req *r, unsigned status, const char *const *headers, const char *fmt, ...)
{
        char detail[JR_ERROR_MSG_MAX];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(detail, sizeof detail, fmt, ap);
        va_end(ap);
        jr_buf b = {0};
        jr_error e;
        if (jr_problem_json(status, detail, &b, &e) < 0)
                return MHD_NO;
        return queue(r, status, "application/problem+json", &b, headers);
}

static enum MHD_Result busy(struct req *r, unsigned status, const char *why)
{
        char secs[16];
        snprintf(secs, sizeof secs, "%u", r->h->retry_after_s);
        const char *const hdr[] = {MHD_HTTP_HEADER_RETRY_AFTER, secs, NULL};
        return problem(r, status, hdr, "%s; retry after %u s", why, r->h->retry_after_s);
}

static enum MHD_Result no_execution(struct req *r)
{
        return problem(r, 404, NULL, "no execution \"%.*s\" (unknown, or expired)",
                       (int)(r->xid_len > 200 ? 200 : r->xid_len), r->xid);
}

static enum MHD_Result internal(struct req *r, const jr_error *e)
{
        jr_log(JR_LOG_ERROR, "http request failed", JR_LOG_STR("path", r->path),
               JR_LOG_STR("error", e->msg));
        return problem(r, 500, NULL, "%s", e->msg);
}

/* ================================================================ routes */

static bool is_prefix(const char *s, const char *prefix)
{
        return !strncmp(s, prefix, strlen(prefix));
}

/* The route of method + url; 404 and 405 are answered here (false). */
static enum route route_of(const char *url, const char **allow)
{
        static const char exec_prefix[] = "/v1/executions/";
        *allow = "GET, HEAD";
        if (!strcmp(url, "/execute")) {
                *allow = "POST";
                return R_EXECUTE;
        }
        if (!strcmp(url, "/v1/executions")) {
                *allow = "POST";
                return R_ENQUEUE;
        }
        if (!strcmp(url, "/v1/languages"))
                return R_LANGUAGES;
        if (!strcmp(url, "/healthz"))
                return R_HEALTH;
        if (!strcmp(url, "/readyz"))
                return R_READY;
        if (is_prefix(url, exec_prefix) && url[sizeof exec_prefix - 1]) {
                size_t n = strlen(url);
                if (n > sizeof exec_prefix - 1 + 7 && !strcmp(url + n - 7, "/events"))
                        return R_EVENTS;
                return R_GET;
        }
        return R_NONE;
}

static bool method_ok(enum route rt, const char *method)
{
        bool get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
        switch (rt) {
        case R_EXECUTE:
        case R_ENQUEUE:
                return !strcmp(method, "POST");
        default:
                return get;
        }
}

/* ================================================================ auth */

/* Constant time in the given token's bytes: every configured token is compared whole,
 * whatever matched before; the time depends only on the configured tokens' lengths. */
static bool token_ok(const jr_http *h, const char *given, size_t glen)
{
        volatile unsigned match = 0;
        for (char **t = h->tokens; *t; t++) {
                size_t tl = strlen(*t);
                volatile unsigned diff = (unsigned)(glen != tl);
                for (size_t i = 0; i < tl; i++) {
                        unsigned char g = i < glen ? (unsigned char)given[i] : 0;
                        diff |= (unsigned)(g ^ (unsigned char)(*t)[i]);
                }
                match |= (unsigned)(diff == 0);
        }
        return match != 0;
}

static bool authorized(const jr_http *h, struct MHD_Connection *mc)
{
        if (!h->tokens)
                return true;
        const char *v =
            MHD_lookup_connection_value(mc, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
        if (!v || strncasecmp(v, "Bearer ", 7))
                return false;
        v += 7;
        while (*v == ' ')
                v++;
        size_t n = strlen(v);
        while (n && v[n - 1] == ' ')
                n--;
        return n > 0 && token_ok(h, v, n);
}

/* ================================================================ submissions */

/* Submit an own submission, pending until its result: true; or false with the refusal
 * (429: too many wait already, 503: the queue is full) or the failure (500) queued in
 * *answer. */
static bool submit(struct req *r, const jr_buf *script, enum MHD_Result *answer)
{
        jr_http *h = r->h;
        jr_error e = {0};
        if (h->stats.pending >= h->max_pending) {
                *answer = busy(r, 429, "too many submissions waiting for a result");
                return false;
        }
        if (jr_store_put_queued(h->store, r->xid, r->xid_len, jr_now_ms(), &e) < 0)
                goto fail;
        int ret = h->ops.submit(h->opaque, r->xid, script, &e);
        if (ret < 0)
                goto fail;
        if (ret > 0) {
                *answer = busy(r, 503, "the submissions queue is full");
                return false;
        }
        struct entry *en = entry_get(h, r->xid, r->xid_len, true);
        if (!en) {
                jr_error_set(&e, ENOMEM, "remember submission \"%s\"", r->xid);
                goto fail;
        }
        en->pending = true;
        en->pending_since_ms = jr_mono_ms();
        h->stats.pending++;
        r->submitted = true;
        return true;
fail:
        *answer = internal(r, &e);
        return false;
}

static bool body_is_json(struct MHD_Connection *mc)
{
        const char *ct =
            MHD_lookup_connection_value(mc, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
        if (!ct)
                return true; /* a client that says nothing about its JSON body */
        while (*ct == ' ')
                ct++;
        size_t n = strcspn(ct, "; ");
        return (n == 16 && !strncasecmp(ct, "application/json", 16)) ||
               (n > 17 && !strncasecmp(ct + n - 5, "+json", 5) &&
                !strncasecmp(ct, "application/", 12));
}

static int new_id(struct req *r, jr_error *e)
{
        char id[JR_UUID_LEN + 1];
        if (jr_uuid4(id, e) < 0)
                return -1;
        r->xid = strdup(id);
        if (!r->xid)
                return jr_error_set(e, ENOMEM, "allocate an id");
        r->xid_len = JR_UUID_LEN;
        return 0;
}

/* The answer of a finished /execute: the stored result in the Executor Service's shape. */
static enum MHD_Result execute_answer(struct req *r)
{
        jr_http *h = r->h;
        jr_exec_info info;
        _cleanup_free_ char *result = NULL;
        size_t rlen = 0;
        jr_error e = {0};
        jr_buf out = {0};
        int found = jr_store_get(h->store, r->xid, r->xid_len, &info, &result, &rlen, &e);
        if (found < 0)
                return internal(r, &e);
        if (found && info.state == JR_EXEC_DONE && result) {
                if (jr_execute_answer(result, rlen, &r->xreq, &out, &e) < 0) {
                        char msg[JR_ERROR_MSG_MAX + 64];
                        snprintf(msg, sizeof msg, "unreadable result: %s", e.msg);
                        if (jr_execute_error(r->xid, msg, &out, &e) < 0)
                                return internal(r, &e);
                }
                return queue_json(r, 200, &out);
        }
        char msg[256];
        if (h->shutting_down)
                snprintf(msg, sizeof msg,
                         "the service is stopping; GET /v1/executions/%s will have the result",
                         r->xid);
        else
                snprintf(msg, sizeof msg,
                         "not judged within %" PRIu64 " ms; GET /v1/executions/%s will have "
                         "the result",
                         h->execute_wait_ms, r->xid);
        if (jr_execute_error(r->xid, msg, &out, &e) < 0)
                return internal(r, &e);
        return queue_json(r, h->shutting_down ? 503 : 504, &out);
}

static enum MHD_Result execute_start(struct req *r)
{
        jr_http *h = r->h;
        jr_error e = {0};
        jr_buf script = {0}, out = {0};
        if (new_id(r, &e) < 0)
                return internal(r, &e);
        if (jr_execute_request(r->body, r->len, &h->execute, r->xid, &script, &r->xreq, &e) < 0) {
                /* the Executor Service's callers expect 200 with ok false */
                if (e.err == ENOMEM)
                        return internal(r, &e);
                if (jr_execute_error(NULL, e.msg, &out, &e) < 0)
                        return internal(r, &e);
                return queue_json(r, 200, &out);
        }
        enum MHD_Result answer;
        bool sent = submit(r, &script, &answer);
        free(script.ptr);
        if (!sent)
                return answer;
        if (!suspend(r, W_DONE, jr_mono_ms() + h->execute_wait_ms))
                return internal(r, &(jr_error){ENOMEM, "suspend the request"});
        return MHD_YES;
}

static enum MHD_Result execution_answer(struct req *r, unsigned status_if_found)
{
        jr_http *h = r->h;
        jr_exec_info info;
        _cleanup_free_ char *result = NULL;
        size_t rlen = 0;
        jr_error e = {0};
        int found = jr_store_get(h->store, r->xid, r->xid_len, &info, &result, &rlen, &e);
        if (found < 0)
                return internal(r, &e);
        if (!found)
                return no_execution(r);
        jr_buf out = {0};
        if (jr_execution_json(r->xid, r->xid_len, jr_exec_state_name(info.state), result, rlen,
                              info.n_events, &out, &e) < 0)
                return internal(r, &e);
        return queue_json(r, status_if_found, &out);
}

static enum MHD_Result enqueue_accepted(struct req *r)
{
        jr_buf out = {0};
        size_t cap = 64 + r->xid_len;
        out.ptr = malloc(cap);
        if (!out.ptr)
                return internal(r, &(jr_error){ENOMEM, "render the answer"});
        out.len = (size_t)snprintf(out.ptr, cap, "{\"id\":\"%s\",\"status\":\"queued\"}", r->xid);
        char location[128];
        snprintf(location, sizeof location, "/v1/executions/%s", r->xid);
        const char *const hdr[] = {MHD_HTTP_HEADER_LOCATION, location, NULL};
        return queue(r, 202, "application/json", &out, hdr);
}

/* Enqueue's answer after its wait: 200 with the execution when done, else 202. */
static enum MHD_Result enqueue_after_wait(struct req *r)
{
        jr_exec_info info;
        jr_error e = {0};
        int found = jr_store_get(r->h->store, r->xid, r->xid_len, &info, NULL, NULL, &e);
        if (found < 0)
                return internal(r, &e);
        if (found && info.state == JR_EXEC_DONE)
                return execution_answer(r, 200);
        return enqueue_accepted(r);
}

static int parse_wait(struct MHD_Connection *mc, uint64_t *ms)
{
        const char *w = MHD_lookup_connection_value(mc, MHD_GET_ARGUMENT_KIND, "wait");
        *ms = 0;
        if (!w)
                return 0;
        uint64_t v = 0;
        if (!*w || strlen(w) > 9 || w[strspn(w, "0123456789")])
                return -1;
        v = strtoull(w, NULL, 10);
        *ms = v * 1000 > JR_HTTP_MAX_WAIT_MS ? JR_HTTP_MAX_WAIT_MS : v * 1000;
        return 0;
}

static enum MHD_Result enqueue_start(struct req *r)
{
        jr_http *h = r->h;
        jr_error e = {0};
        jr_buf script = {0};
        if (new_id(r, &e) < 0)
                return internal(r, &e);
        if (jr_enqueue_request(r->body, r->len, &h->parse, r->xid, &script, &e) < 0) {
                if (e.err == ENOMEM)
                        return internal(r, &e);
                return problem(r, 400, NULL, "%s", e.msg);
        }
        enum MHD_Result answer;
        bool sent = submit(r, &script, &answer);
        free(script.ptr);
        if (!sent)
                return answer;
        if (r->wait_ms == 0)
                return enqueue_accepted(r);
        if (!suspend(r, W_DONE, jr_mono_ms() + r->wait_ms))
                return internal(r, &(jr_error){ENOMEM, "suspend the request"});
        return MHD_YES;
}

/* ================================================================ SSE */

/* The next chunk of the stream into r->chunk: 1 a chunk, 0 nothing now (suspend), -1
 * the end, -2 an error. */
static int sse_next(struct req *r)
{
        jr_http *h = r->h;
        jr_error e = {0};
        free(r->chunk.ptr);
        r->chunk = (jr_buf){0};
        r->chunk_off = 0;
        if (r->sse_end || h->shutting_down)
                return -1;
        jr_exec_info info;
        int found = jr_store_get(h->store, r->xid, r->xid_len, &info, NULL, NULL, &e);
        if (found < 0)
                goto fail;
        if (!found)
                return -1; /* expired while streaming */
        uint64_t seq;
        char type[33];
        char *json = NULL;
        size_t len = 0;
        int got = jr_store_next_event(h->store, r->xid, r->xid_len, r->last_seq, &seq, type,
                                      sizeof type, &json, &len, &e);
        if (got < 0)
                goto fail;
        /* In seq order without a gap: a later event waits for the missing one, unless
         * the execution is over (then nothing more will come). */
        if (got && ((int64_t)seq == r->last_seq + 1 || info.state == JR_EXEC_DONE)) {
                int ret = jr_sse_event(seq, type, json, len, &r->chunk, &e);
                free(json);
                if (ret < 0)
                        goto fail;
                r->last_seq = (int64_t)seq;
                if (!strcmp(type, "done"))
                        r->sse_end = true;
                return 1;
        }
        free(json);
        /* Over: the result is in and no event is left to send. The "done" event may
         * trail the result (two topics): wait for it a little, not for ever. */
        if (info.state == JR_EXEC_DONE && !got &&
            (!h->events_enabled || info.done_event ||
             jr_now_ms() - info.updated_ms > DONE_GRACE_MS))
                return -1;
        if (r->deadline_hit) {
                /* a comment line: keeps proxies from timing out, finds vanished clients */
                r->deadline_hit = false;
                r->chunk.ptr = strdup(": keepalive\n\n");
                if (!r->chunk.ptr)
                        goto fail;
                r->chunk.len = strlen(r->chunk.ptr);
                return 1;
        }
        return 0;
fail:
        jr_log(JR_LOG_ERROR, "event stream failed", JR_LOG_BYTES("id", r->xid, r->xid_len),
               JR_LOG_STR("error", e.msg));
        return -2;
}

static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
        struct req *r = cls;
        if (r->chunk_off >= r->chunk.len) {
                int got = sse_next(r);
                if (got == -1)
                        return MHD_CONTENT_READER_END_OF_STREAM;
                if (got == -2)
                        return MHD_CONTENT_READER_END_WITH_ERROR;
                if (got == 0) {
                        if (!suspend(r, W_SSE, jr_mono_ms() + r->h->keepalive_ms))
                                return MHD_CONTENT_READER_END_WITH_ERROR;
                        return 0;
                }
        }
        size_t n = r->chunk.len - r->chunk_off;
        if (n > max)
                n = max;
        memcpy(buf, r->chunk.ptr + r->chunk_off, n);
        r->chunk_off += n;
        return (ssize_t)n;
}

static int parse_last_event_id(struct MHD_Connection *mc, int64_t *out)
{
        const char *v = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "Last-Event-ID");
        if (!v)
                v = MHD_lookup_connection_value(mc, MHD_GET_ARGUMENT_KIND, "lastEventId");
        *out = -1;
        if (!v || !*v)
                return 0;
        if (strlen(v) > 18 || v[strspn(v, "0123456789")])
                return -1;
        *out = strtoll(v, NULL, 10);
        return 0;
}

static enum MHD_Result events_start(struct req *r)
{
        jr_http *h = r->h;
        jr_exec_info info;
        jr_error e = {0};
        int found = jr_store_get(h->store, r->xid, r->xid_len, &info, NULL, NULL, &e);
        if (found < 0)
                return internal(r, &e);
        if (!found)
                return no_execution(r);
        if (parse_last_event_id(r->mc, &r->last_seq) < 0)
                return problem(r, 400, NULL,
                               "header \"Last-Event-ID\": must be an event's seq (a "
                               "non-negative integer)");
        struct MHD_Response *resp =
            MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, sse_read, r, NULL);
        if (!resp)
                return MHD_NO;
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
        MHD_add_response_header(resp, "X-Accel-Buffering", "no");
        r->streaming = true;
        r->status = 200;
        if (r->conn)
                r->conn->phase = C_HANDLED;
        enum MHD_Result ret = MHD_queue_response(r->mc, 200, resp);
        MHD_destroy_response(resp);
        return ret;
}

/* ================================================================ the handler */

static enum MHD_Result first_call(jr_http *h, struct req *r, const char *url, const char *method)
{
        const char *allow;
        r->route = route_of(url, &allow);
        if (r->route == R_NONE)
                return problem(r, 404, NULL, "no such endpoint: \"%.200s\"", url);
        if (!method_ok(r->route, method)) {
                const char *const hdr[] = {MHD_HTTP_HEADER_ALLOW, allow, NULL};
                return problem(r, 405, hdr, "%s %s: allowed: %s", method, url, allow);
        }
        if (r->route != R_HEALTH && r->route != R_READY && !authorized(h, r->mc)) {
                const char *const hdr[] = {MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                                           "Bearer realm=\"jailrun\"", NULL};
                return problem(r, 401, hdr,
                               "header \"Authorization\": a valid \"Bearer TOKEN\" is required");
        }
        if (h->shutting_down && (r->route == R_EXECUTE || r->route == R_ENQUEUE))
                return busy(r, 503, "the service is stopping");
        if (r->route == R_GET || r->route == R_EVENTS) {
                size_t n = strlen(url) - strlen("/v1/executions/");
                if (r->route == R_EVENTS)
                        n -= strlen("/events");
                r->xid = strndup(url + strlen("/v1/executions/"), n);
                if (!r->xid)
                        return MHD_NO;
                r->xid_len = n;
        }
        if (r->route == R_EXECUTE || r->route == R_ENQUEUE) {
                if (!body_is_json(r->mc))
                        return problem(r, 415, NULL,
                                       "header \"Content-Type\": the body must be "
                                       "application/json");
                if (r->route == R_ENQUEUE && parse_wait(r->mc, &r->wait_ms) < 0)
                        return problem(r, 400, NULL,
                                       "parameter \"wait\": must be a number of seconds (at "
                                       "most %d)",
                                       JR_HTTP_MAX_WAIT_MS / 1000);
                const char *cl = MHD_lookup_connection_value(r->mc, MHD_HEADER_KIND,
                                                             MHD_HTTP_HEADER_CONTENT_LENGTH);
                unsigned long long n = cl ? strtoull(cl, NULL, 10) : 0;
                if (n > h->max_body)
                        return problem(r, 413, NULL,
                                       "the body is %llu bytes, over the limit of %zu", n,
                                       h->max_body);
                if (h->stats.body_bytes + n > h->body_budget)
                        return busy(r, 503, "too many request bodies in flight");
        }
        return MHD_YES;
}

static enum MHD_Result body_data(jr_http *h, struct req *r, const char *data, size_t n)
{
        if (r->too_big || r->over_budget)
                return MHD_YES; /* read and dropped: the answer comes at the end */
        if (r->len + n > h->max_body) {
                r->too_big = true;
        } else if (h->stats.body_bytes + n > h->body_budget) {
                r->over_budget = true;
        } else {
                if (r->len + n + 1 > r->cap) {
                        size_t cap = r->cap ? r->cap : 4096;
                        while (cap < r->len + n + 1)
                                cap *= 2;
                        char *b = realloc(r->body, cap);
                        if (!b)
                                return MHD_NO;
                        h->stats.body_bytes += cap - r->cap;
                        r->body = b;
                        r->cap = cap;
                }
                memcpy(r->body + r->len, data, n);
                r->len += n;
                r->body[r->len] = '\0';
                return MHD_YES;
        }
        /* stop holding what came so far */
        h->stats.body_bytes -= r->cap;
        free(r->body);
        r->body = NULL;
        r->len = r->cap = 0;
        return MHD_YES;
}

static enum MHD_Result last_call(jr_http *h, struct req *r)
{
        if (r->conn && r->conn->phase == C_BODY)
                r->conn->phase = C_HANDLED;
        if (r->too_big)
                return problem(r, 413, NULL, "the body is over the limit of %zu bytes",
                               h->max_body);
        if (r->over_budget)
                return busy(r, 503, "too many request bodies in flight");
        switch (r->route) {
        case R_EXECUTE:
                return execute_start(r);
        case R_ENQUEUE:
                return enqueue_start(r);
        case R_GET:
                return execution_answer(r, 200);
        case R_EVENTS:
                return events_start(r);
        case R_LANGUAGES:
                return queue_text(r, 200, "application/json", h->languages_json, NULL);
        case R_HEALTH:
                return queue_text(r, 200, "application/json", "{\"status\":\"ok\"}", NULL);
        case R_READY: {
                char why[256] = "";
                bool ready = !h->shutting_down &&
                             (!h->ops.ready || h->ops.ready(h->opaque, why, sizeof why));
                if (h->shutting_down)
                        snprintf(why, sizeof why, "the service is stopping");
                if (ready)
                        return queue_text(r, 200, "application/json", "{\"ready\":true}", NULL);
                return problem(r, 503, NULL, "not ready: %s", why);
        }
        default:
                return problem(r, 404, NULL, "no such endpoint");
        }
}

/* After a resume (the result came, or the deadline passed). */
static enum MHD_Result resumed(struct req *r)
{
        r->wait = W_NONE;
        if (r->route == R_EXECUTE)
                return execute_answer(r);
        return enqueue_after_wait(r);
}

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
                return first_call(h, r, url, method);
        }
        if (*upload_data_size) {
                enum MHD_Result ret = body_data(h, r, upload_data, *upload_data_size);
                *upload_data_size = 0;
                return ret;
        }
        if (r->wait != W_NONE)
                return resumed(r);
        return last_call(h, r);
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
        struct entry *en = entry_get(h, id, id_len, false);
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
