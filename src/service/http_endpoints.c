/* The HTTP front door's endpoints: what each request gets. See http_internal.h. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bytes.h"
#include "cleanup.h"
#include "clock.h"
#include "http_internal.h"
#include "log.h"

#define DONE_GRACE_MS 10000 /* a stream's wait for "done" after the result */

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
        struct entry *en = http_entry_get(h, r->xid, r->xid_len, true);
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
        if (!http_suspend(r, W_DONE, jr_mono_ms() + h->execute_wait_ms))
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
        if (!http_suspend(r, W_DONE, jr_mono_ms() + r->wait_ms))
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
                        if (!http_suspend(r, W_SSE, jr_mono_ms() + r->h->keepalive_ms))
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

enum MHD_Result http_first_call(jr_http *h, struct req *r, const char *url, const char *method)
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

enum MHD_Result http_body_data(jr_http *h, struct req *r, const char *data, size_t n)
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

enum MHD_Result http_last_call(jr_http *h, struct req *r)
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
enum MHD_Result http_resumed(struct req *r)
{
        r->wait = W_NONE;
        if (r->route == R_EXECUTE)
                return execute_answer(r);
        return enqueue_after_wait(r);
}
