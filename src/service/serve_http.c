/* The supervisor's HTTP front door (docs/http.md): the listener (http.c) and the
 * results store (store.c) as sources of the one loop, wired to Kafka.
 *
 *   POST ... -> ops.submit -> the spool -> KAFKA_TOPIC (key = the UUID)  -> any runner
 *   results and events topics -> the front door's own consumer -> the store
 *                                                                -> jr_http_notify
 *
 * The front door's consumer has a group of its own per instance (kept in the store, so
 * that a restart resumes where it stopped): every front door sees every result. A
 * result or event judged by this very process is stored at once as well, without
 * waiting for its round trip through the broker; the copy that comes back through the
 * topic is the same bytes and changes nothing (store.h). RUNNER_MAX_PARALLEL=0 is a
 * front door that judges nothing. See serve_internal.h for the loop. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <yajl/yajl_tree.h>

#include "cleanup.h"
#include "bytes.h"
#include "clock.h"
#include "http.h"
#include "judge.h"
#include "log.h"
#include "pyimports.h"
#include "serve_internal.h"
#include "store.h"
#include "units.h"

#define JR_RESULTS_DB_DEFAULT "/var/lib/jailrun/results.db"
/* Records waiting for the broker beyond which a new submission is refused (503). */
#define PRODUCER_BACKLOG_MAX 10000
#define FRONT_BATCH          512
/* The store is written without an fsync per change (the front door answers sooner); the
 * offsets of what the front door's consumer stored are committed only after a
 * durability barrier (jr_store_sync), at most this long after the first of them, or
 * when this many wait. */
#define SYNC_DELAY_MS 200
#define SYNC_BATCH    1024

struct done_mark {
        const char *topic; /* s->kcfg's own string */
        int32_t partition;
        int64_t offset;
};

struct serve_http {
        char *addr, *tokens, *db_path, *group_id, *topics, *languages_json;
        size_t max_body, max_pending;
        uint64_t ttl_ms, execute_timeout_ms, execute_wait_ms, header_timeout_ms;
        jr_store *store;
        jr_http *http;
        jr_kafka_config fcfg; /* a shallow copy of s->kcfg: topics and group are ours */
        jr_kafka_consumer *front;
        bool front_ready, front_more;
        struct done_mark *marks; /* stored, not yet durable: offsets not yet done */
        size_t n_marks, cap_marks;
        int64_t sync_at; /* jr_mono_ms() deadline of the next barrier; 0: none due */
        uint64_t stored_results, stored_events, bad_messages;
};

/* ---- configuration --------------------------------------------------------------------- */

static const char *env(const char *name)
{
        const char *v = getenv(name);
        return v && *v ? v : NULL;
}

/* EXECUTOR_TIMEOUT: a duration ("3s"), or a plain number of milliseconds as the
 * Executor Service took it. */
static int parse_executor_timeout(const char *v, uint64_t *ms, jr_error *e)
{
        if (v[strspn(v, "0123456789")] == '\0')
                return jr_parse_uint(v, 24ull * 3600 * 1000, ms, e);
        return jr_parse_duration_ms(v, ms, e);
}

int serve_http_configure(struct serve *s, jr_error *e)
{
        const char *addr = env("JAILRUN_HTTP_ADDR");
        const char *port = env("EXECUTOR_PORT");
        char buf[64];
        if (!addr && port) {
                uint64_t p;
                if (jr_parse_uint(port, 65535, &p, e) < 0)
                        return jr_error_wrap(e, "EXECUTOR_PORT");
                snprintf(buf, sizeof buf, "127.0.0.1:%" PRIu64, p);
                addr = buf;
        }
        if (env("EXECUTOR_LOCAL_FALLBACK"))
                jr_log(JR_LOG_WARNING,
                       "EXECUTOR_LOCAL_FALLBACK is ignored: jailrun never runs code outside a "
                       "jail");
        if (!addr)
                return 0;
        struct serve_http *h = calloc(1, sizeof *h);
        if (!h)
                return jr_error_set(e, ENOMEM, "http");
        s->http = h;
        h->addr = strdup(addr);
        h->tokens = env("JAILRUN_HTTP_TOKENS") ? strdup(env("JAILRUN_HTTP_TOKENS")) : NULL;
        h->db_path =
            strdup(env("JAILRUN_RESULTS_DB") ? env("JAILRUN_RESULTS_DB") : JR_RESULTS_DB_DEFAULT);
        if (!h->addr || !h->db_path || (env("JAILRUN_HTTP_TOKENS") && !h->tokens))
                return jr_error_set(e, ENOMEM, "http");
        /* the address and the token rule now, so that a mistake stops the start */
        struct sockaddr_storage ss;
        unsigned len;
        bool loopback;
        if (jr_http_parse_addr(h->addr, &ss, &len, &loopback, e) < 0)
                return jr_error_wrap(e, env("JAILRUN_HTTP_ADDR") ? "JAILRUN_HTTP_ADDR"
                                                                 : "EXECUTOR_PORT");
        const char *v;
        uint64_t x;
        if ((v = env("JAILRUN_HTTP_MAX_BODY"))) {
                if (jr_parse_size(v, &x, e) < 0)
                        return jr_error_wrap(e, "JAILRUN_HTTP_MAX_BODY");
                if (x < 1024 || x > JR_PARSE_MAX_INPUT_DEFAULT)
                        return jr_error_set(e, ERANGE,
                                            "JAILRUN_HTTP_MAX_BODY: %s is not between 1 KiB and "
                                            "64 MiB",
                                            v);
                h->max_body = (size_t)x;
        }
        if ((v = env("JAILRUN_HTTP_MAX_PENDING"))) {
                if (jr_parse_uint(v, 1000000, &x, e) < 0)
                        return jr_error_wrap(e, "JAILRUN_HTTP_MAX_PENDING");
                h->max_pending = (size_t)x;
        }
        if ((v = env("JAILRUN_HTTP_EXECUTE_WAIT"))) {
                if (jr_parse_duration_ms(v, &x, e) < 0)
                        return jr_error_wrap(e, "JAILRUN_HTTP_EXECUTE_WAIT");
                h->execute_wait_ms = x;
        }
        if ((v = env("JAILRUN_HTTP_HEADER_TIMEOUT"))) {
                if (jr_parse_duration_ms(v, &x, e) < 0)
                        return jr_error_wrap(e, "JAILRUN_HTTP_HEADER_TIMEOUT");
                h->header_timeout_ms = x;
        }
        if ((v = env("JAILRUN_RESULTS_TTL"))) {
                if (jr_parse_duration_ms(v, &x, e) < 0)
                        return jr_error_wrap(e, "JAILRUN_RESULTS_TTL");
                h->ttl_ms = x;
        }
        h->execute_timeout_ms = 3000;
        if ((v = env("EXECUTOR_TIMEOUT"))) {
                if (parse_executor_timeout(v, &x, e) < 0)
                        return jr_error_wrap(e, "EXECUTOR_TIMEOUT");
                if (x)
                        h->execute_timeout_ms = x;
        }
        if ((v = env("JAILRUN_HTTP_GROUP_ID")))
                h->group_id = strdup(v);
        if (!h->tokens && !loopback) {
                /* jr_http_new says it too; saying it here stops the start before anything
                 * else began */
                return jr_error_set(e, EPERM,
                                    "JAILRUN_HTTP_TOKENS is empty: HTTP without authentication "
                                    "is only served on a loopback address, not \"%s\"",
                                    h->addr);
        }
        return 0;
}

/* An HTTP client waits for its submission's trip through the broker: the producer sends
 * at once instead of lingering librdkafka's default 5 ms for a batch (bench/http, four
 * runs each on a loaded 2-core VM: the front door's own part of a /execute was 9.6-13.8
 * ms at the median, against 14.3-16.6 ms with the linger). The operator's
 * JAILRUN_KAFKA_CONFIG comes after, and wins. */
int serve_http_kafka_defaults(struct serve *s, jr_error *e)
{
        if (!s->http)
                return 0;
        const char *mine = "producer.linger.ms=0";
        char *extra = NULL;
        if (asprintf(&extra, "%s%s%s", mine, s->kcfg.extra ? ";" : "",
                     s->kcfg.extra ? s->kcfg.extra : "") < 0)
                return jr_error_set(e, ENOMEM, "kafka configuration");
        free(s->kcfg.extra);
        s->kcfg.extra = extra;
        return 0;
}

/* ---- the store, before anything else starts -------------------------------------------- */

int serve_http_open(struct serve *s, jr_error *e)
{
        struct serve_http *h = s->http;
        if (!h)
                return 0;
        jr_store_opts so = {.path = h->db_path, .ttl_ms = h->ttl_ms, .durable = false};
        if (jr_store_open(&so, &h->store, e) < 0)
                return -1;
        uint64_t n = 0;
        jr_store_count(h->store, &n, NULL);
        jr_log(JR_LOG_INFO, "results store open", JR_LOG_STR("path", h->db_path),
               JR_LOG_UINT("executions", n), JR_LOG_UINT("bytes", jr_store_bytes(h->store)));
        return 0;
}

/* ---- submissions, readiness -------------------------------------------------------------- */

static int http_submit(void *opaque, const char *id, const jr_buf *script, jr_error *e)
{
        struct serve *s = opaque;
        if (!s->producer || s->stop_consuming)
                return 1;
        if (jr_kafka_producer_unacked(s->producer) >= PRODUCER_BACKLOG_MAX)
                return 1; /* the broker is away or slow: say so now, not after a timeout */
        if (jr_kafka_producer_submit(s->producer, JR_SPOOL_EVENT, s->kcfg.topic, id, strlen(id),
                                     script->ptr, script->len, NULL, e) < 0)
                return -1;
        return 0;
}

static bool http_ready(void *opaque, char *why, size_t size)
{
        struct serve *s = opaque;
        if (s->stop_consuming) {
                snprintf(why, size, "stopping");
                return false;
        }
        if (!s->producer || !s->http->front) {
                snprintf(why, size, "starting");
                return false;
        }
        if (jr_kafka_producer_unacked(s->producer) >= PRODUCER_BACKLOG_MAX) {
                snprintf(why, size, "%zu records wait for the broker",
                         jr_kafka_producer_unacked(s->producer));
                return false;
        }
        return true;
}

/* ---- what a runner produced: into the store, and wake whoever waits --------------------- */

static void store_result(struct serve *s, const char *id, size_t id_len, const void *json,
                         size_t len, int64_t at_ms)
{
        struct serve_http *h = s->http;
        jr_error e = {0};
        if (jr_store_put_result(h->store, id, id_len, json, len, at_ms, &e) < 0) {
                jr_log(JR_LOG_ERROR, "store a result", JR_LOG_BYTES("id", id, id_len),
                       JR_LOG_STR("error", e.msg));
                return;
        }
        h->stored_results++;
        jr_http_notify(h->http, id, id_len);
}

static void store_event(struct serve *s, const char *id, size_t id_len, const void *json,
                        size_t len, int64_t at_ms)
{
        struct serve_http *h = s->http;
        jr_error e = {0};
        if (jr_store_put_event_json(h->store, id, id_len, json, len, at_ms, &e) < 0) {
                jr_log(JR_LOG_WARNING, "store an event", JR_LOG_BYTES("id", id, id_len),
                       JR_LOG_STR("error", e.msg));
                h->bad_messages++;
                return;
        }
        h->stored_events++;
        jr_http_notify(h->http, id, id_len);
}

void serve_http_local_event(struct serve *s, const char *id, size_t id_len, const void *json,
                            size_t len)
{
        if (s->http && s->http->http)
                store_event(s, id, id_len, json, len, jr_now_ms());
}

void serve_http_local_result(struct serve *s, const char *id, size_t id_len, const void *json,
                             size_t len)
{
        if (s->http && s->http->http)
                store_result(s, id, id_len, json, len, jr_now_ms());
}

/* A result without a key: its "id". */
static char *result_id(const void *json, size_t len, size_t *id_len)
{
        _cleanup_free_ char *text = strndup(json, len);
        if (!text)
                return NULL;
        yajl_val v = yajl_tree_parse(text, NULL, 0);
        const char *path[] = {"id", NULL};
        yajl_val id = v ? yajl_tree_get(v, path, yajl_t_string) : NULL;
        char *out = id ? strdup(id->u.string) : NULL;
        if (out)
                *id_len = strlen(out);
        yajl_tree_free(v);
        return out;
}

static void front_message(struct serve *s, const jr_kafka_msg *m)
{
        struct serve_http *h = s->http;
        /* stored with the time it was produced: the TTL counts from the judging */
        int64_t at = m->timestamp_ms > 0 ? m->timestamp_ms : jr_now_ms();
        const void *json = m->value ? m->value : "";
        bool result = !strcmp(m->topic, s->kcfg.results_topic);
        if (m->key && m->key_len) {
                if (result)
                        store_result(s, m->key, m->key_len, json, m->value_len, at);
                else
                        store_event(s, m->key, m->key_len, json, m->value_len, at);
                return;
        }
        if (!result) {
                store_event(s, NULL, 0, json, m->value_len, at);
                return;
        }
        size_t id_len = 0;
        _cleanup_free_ char *id = result_id(json, m->value_len, &id_len);
        if (!id) {
                h->bad_messages++;
                jr_log(JR_LOG_WARNING, "a result without a key or an id: not stored",
                       JR_LOG_STR("topic", m->topic), JR_LOG_INT("partition", m->partition),
                       JR_LOG_INT("offset", m->offset));
                return;
        }
        store_result(s, id, id_len, json, m->value_len, at);
}

/* The barrier, then the offsets of everything stored before it. */
static void front_sync(struct serve *s)
{
        struct serve_http *h = s->http;
        h->sync_at = 0;
        if (!h->n_marks)
                return;
        jr_error e;
        if (jr_store_sync(h->store, &e) < 0) {
                /* not durable: leave the offsets; the messages come again after a restart */
                jr_log(JR_LOG_ERROR, "results store sync", JR_LOG_STR("error", e.msg));
                h->sync_at = (int64_t)jr_mono_ms() + SYNC_DELAY_MS;
                return;
        }
        for (size_t i = 0; i < h->n_marks; i++)
                if (jr_kafka_consumer_done(h->front, h->marks[i].topic, h->marks[i].partition,
                                           h->marks[i].offset, &e) < 0)
                        jr_log(JR_LOG_WARNING, e.msg);
        h->n_marks = 0;
}

static void front_mark(struct serve *s, const jr_kafka_msg *m)
{
        struct serve_http *h = s->http;
        if (jr_grow(&h->marks, &h->cap_marks, h->n_marks + 1, sizeof *h->marks, 64) < 0) {
                front_sync(s);
                if (h->n_marks == h->cap_marks)
                        return; /* not done: consumed again after a restart */
        }
        bool result = !strcmp(m->topic, s->kcfg.results_topic);
        h->marks[h->n_marks++] = (struct done_mark){
            result ? s->kcfg.results_topic : s->kcfg.events_topic, m->partition, m->offset};
        if (!h->sync_at)
                h->sync_at = (int64_t)jr_mono_ms() + SYNC_DELAY_MS;
        if (h->n_marks >= SYNC_BATCH)
                front_sync(s);
}

static void front_consume(struct serve *s)
{
        struct serve_http *h = s->http;
        h->front_more = false;
        for (unsigned n = 0; n < FRONT_BATCH; n++) {
                _cleanup_kafka_msg_ jr_kafka_msg *m = NULL;
                jr_error e;
                int r = jr_kafka_consumer_poll(h->front, &m, &e);
                if (r < 0) {
                        serve_fatal(s, "front door consumer", &e);
                        return;
                }
                if (r == 0)
                        return;
                front_message(s, m);
                front_mark(s, m);
        }
        h->front_more = true;
}

static void front_ready(struct serve *s, struct serve_source *src)
{
        s->http->front_ready = true;
}

static int front_timeout_ms(struct serve *s)
{
        struct serve_http *h = s->http;
        if (h->front_more)
                return 0;
        int t = jr_kafka_consumer_timeout_ms(h->front);
        if (h->sync_at) {
                int64_t left = h->sync_at - (int64_t)jr_mono_ms();
                if (left < t)
                        t = left < 0 ? 0 : (int)left;
        }
        return t;
}

static void front_tick(struct serve *s)
{
        struct serve_http *h = s->http;
        bool ready = h->front_ready;
        h->front_ready = false;
        if (ready || h->front_more || jr_kafka_consumer_timeout_ms(h->front) == 0)
                front_consume(s);
        if (h->sync_at && h->sync_at <= (int64_t)jr_mono_ms())
                front_sync(s);
}

const struct serve_source_ops serve_front_ops = {
    .name = "front door consumer",
    .ready = front_ready,
    .timeout_ms = front_timeout_ms,
    .tick = front_tick,
};

/* ---- the listener in the loop ----------------------------------------------------------- */

static void http_dispatch(struct serve *s)
{
        jr_error e;
        if (jr_http_dispatch(s->http->http, &e) < 0)
                jr_log(JR_LOG_ERROR, "http", JR_LOG_STR("error", e.msg));
}

static void http_fd_ready(struct serve *s, struct serve_source *src)
{
        http_dispatch(s);
}

static int http_timeout_ms(struct serve *s)
{
        return jr_http_timeout_ms(s->http->http);
}

static void http_tick(struct serve *s)
{
        if (jr_http_timeout_ms(s->http->http) == 0)
                http_dispatch(s);
}

const struct serve_source_ops serve_http_ops = {
    .name = "http",
    .ready = http_fd_ready,
    .timeout_ms = http_timeout_ms,
    .tick = http_tick,
};

/* ---- GET /v1/languages ---------------------------------------------------------------- */

static int languages_json(struct serve *s, char **out, jr_error *e)
{
        jr_judge_limits lim;
        jr_judge_limits_default(&lim);
        if (jr_judge_limits_from_env(&lim, e) < 0)
                return -1;
        /* Python's allowed modules as the judge applies them (checked by the line above) */
        char **env_modules = NULL;
        size_t n_env;
        const char *mods = getenv("EXECUTOR_ALLOWED_MODULES");
        if (mods && *mods && jr_py_modules_parse(mods, &env_modules, &n_env, e) < 0)
                return jr_error_wrap(e, "EXECUTOR_ALLOWED_MODULES");
        char *buf = NULL;
        size_t n = 0;
        FILE *f = open_memstream(&buf, &n);
        if (!f) {
                jr_py_modules_free(env_modules);
                return jr_error_errno(e, "languages");
        }
        fprintf(f, "{\"languages\":[");
        for (size_t i = 0; i < jr_lang_count(s->langs); i++) {
                const jr_lang *l = jr_lang_get(s->langs, i);
                /* names are [a-z0-9_+.-] file names: nothing to escape */
                fprintf(f,
                        "%s{\"name\":\"%s\",\"time_limit_ms\":%" PRIu64
                        ",\"memory_limit_bytes\":%" PRIu64 ",\"min_memory_bytes\":%" PRIu64
                        ",\"max_memory_bytes\":%" PRIu64 ",\"compiled\":%s",
                        i ? "," : "", l->name, lim.default_time_ms,
                        jr_lang_memory(l, lim.default_memory_bytes), l->min_memory_bytes,
                        lim.max_memory_bytes, l->build ? "true" : "false");
                /* null: no policy; module names are dotted identifiers, nothing to escape */
                size_t n_mods;
                const char *const *m = jr_judge_allowed_modules(l, env_modules, &n_mods);
                fprintf(f, ",\"allowed_modules\":%s", m ? "[" : "null");
                for (size_t k = 0; m && k < n_mods; k++)
                        fprintf(f, "%s\"%s\"", k ? "," : "", m[k]);
                fprintf(f, "%s}", m ? "]" : "");
        }
        jr_py_modules_free(env_modules);
        fprintf(f,
                "],\"limits\":{\"max_test_wall_ms\":%" PRIu64 ",\"max_total_ms\":%" PRIu64
                ",\"output_limit_bytes\":%" PRIu64
                ",\"max_tests\":%zu,\"execute_timeout_ms\":%" PRIu64 "}}",
                lim.max_test_wall_ms, lim.max_total_ms, lim.output_limit_bytes,
                JR_PARSE_MAX_TESTS_DEFAULT, s->http->execute_timeout_ms);
        if (ferror(f) | fclose(f)) {
                free(buf);
                return jr_error_set(e, ENOMEM, "languages");
        }
        *out = buf;
        return 0;
}

/* ---- start and stop ------------------------------------------------------------------- */

static void front_log(void *opaque, int level, const char *source, const char *msg)
{
        jr_log((jr_log_level)(level < JR_LOG_ERROR ? JR_LOG_ERROR : level), msg,
               JR_LOG_STR("source", "front door consumer"));
}

/* The front door's own consumer group: JAILRUN_HTTP_GROUP_ID, else the one this store
 * used before, else a new one, remembered. */
static int front_group(struct serve *s, jr_error *e)
{
        struct serve_http *h = s->http;
        if (h->group_id)
                return 0;
        char *g = NULL;
        if (jr_store_meta_get(h->store, "front_door_group", &g, e) < 0)
                return -1;
        if (!g) {
                char uuid[JR_UUID_LEN + 1];
                if (jr_uuid4(uuid, e) < 0)
                        return -1;
                if (asprintf(&g, "%s-http-%.8s", s->kcfg.group_id, uuid) < 0)
                        return jr_error_set(e, ENOMEM, "group id");
                if (jr_store_meta_set(h->store, "front_door_group", g, e) < 0) {
                        free(g);
                        return -1;
                }
        }
        h->group_id = g;
        return 0;
}

int serve_http_start(struct serve *s, jr_error *e)
{
        struct serve_http *h = s->http;
        if (!h)
                return 0;
        if (front_group(s, e) < 0)
                return -1;
        if (asprintf(&h->topics, "%s%s%s", s->kcfg.results_topic, s->kcfg.events_topic ? "," : "",
                     s->kcfg.events_topic ? s->kcfg.events_topic : "") < 0)
                return jr_error_set(e, ENOMEM, "http");
        h->fcfg = s->kcfg;
        h->fcfg.topic = h->topics;
        h->fcfg.group_id = h->group_id;
        jr_kafka_consumer_options co = {.log = front_log};
        if (jr_kafka_consumer_new(&h->fcfg, &co, &h->front, e) < 0 ||
            serve_source_add(s, &s->src[SERVE_SRC_FRONT], jr_kafka_consumer_fd(h->front), e) < 0)
                return jr_error_wrap(e, "front door consumer");
        if (languages_json(s, &h->languages_json, e) < 0)
                return -1;
        jr_http_config c = {
            .addr = h->addr,
            .tokens = h->tokens,
            .max_body = h->max_body,
            .max_pending = h->max_pending,
            .execute_wait_ms = h->execute_wait_ms,
            .header_timeout_ms = h->header_timeout_ms,
            .events_enabled = s->kcfg.events_topic != NULL,
            .log_requests = true,
            .execute = {.languages = jr_lang_names(s->langs),
                        .n_languages = jr_lang_count(s->langs),
                        .default_timeout_ms = h->execute_timeout_ms},
            .parse = {.languages = jr_lang_names(s->langs),
                      .n_languages = jr_lang_count(s->langs),
                      .max_input_bytes = s->max_input},
            .languages_json = h->languages_json,
        };
        jr_http_ops ops = {.submit = http_submit, .ready = http_ready};
        if (jr_http_new(&c, &ops, s, h->store, &h->http, e) < 0 ||
            serve_source_add(s, &s->src[SERVE_SRC_HTTP], jr_http_fd(h->http), e) < 0)
                return -1;
        jr_log(JR_LOG_INFO, "http front door", JR_LOG_STR("address", h->addr),
               JR_LOG_UINT("port", jr_http_port(h->http)), JR_LOG_BOOL("auth", h->tokens != NULL),
               JR_LOG_STR("results_db", h->db_path), JR_LOG_STR("group", h->group_id),
               JR_LOG_BOOL("judging", s->parallel > 0));
        return 0;
}

void serve_http_stop(struct serve *s)
{
        if (s->http && s->http->http)
                jr_http_shutdown(s->http->http);
}

void serve_http_collect_metrics(struct serve *s)
{
        if (!s->http || !s->http->http)
                return;
        jr_http_stats st;
        jr_http_get_stats(s->http->http, &st);
        jr_metrics_set_http(st.by_code, st.by_code[0], st.pending);
}

void serve_http_free(struct serve *s)
{
        struct serve_http *h = s->http;
        if (!h)
                return;
        jr_http_free(h->http);
        if (h->front)
                front_sync(s);
        if (h->front) {
                jr_error e;
                if (jr_kafka_consumer_close(h->front, &e) < 0)
                        jr_log(JR_LOG_WARNING, e.msg);
                jr_kafka_consumer_free(h->front);
        }
        if (h->store)
                jr_log(JR_LOG_INFO, "results store closed",
                       JR_LOG_UINT("results_stored", h->stored_results),
                       JR_LOG_UINT("events_stored", h->stored_events),
                       JR_LOG_UINT("bad_messages", h->bad_messages));
        jr_store_close(h->store);
        free(h->addr);
        free(h->tokens);
        free(h->db_path);
        free(h->group_id);
        free(h->topics);
        free(h->languages_json);
        free(h->marks);
        free(h);
        s->http = NULL;
}
