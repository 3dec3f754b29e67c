/* The supervisor's Kafka side: starting it once the executors are ready, --produce,
 * consuming (with back-pressure), turning each message into a job, a skip, a stop or an
 * IE answer, and delivering results through the spool. The consumer and the producer
 * are sources of the loop (serve_consumer_ops, serve_producer_ops). See serve_internal.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bytes.h"
#include "cleanup.h"
#include "clock.h"
#include "io.h"
#include "log.h"
#include "message.h"
#include "metrics.h"
#include "notify.h"
#include "serve_internal.h"

static void kafka_log(void *opaque, int level, const char *source, const char *msg)
{
        (void)opaque;
        jr_log((jr_log_level)(level < JR_LOG_ERROR ? JR_LOG_ERROR : level), msg,
               JR_LOG_STR("source", source));
}

void serve_consumer_pause(struct serve *s, bool pause)
{
        if (!s->consumer || jr_kafka_consumer_paused(s->consumer) == pause)
                return;
        jr_error e;
        if (jr_kafka_consumer_pause(s->consumer, pause, &e) < 0)
                jr_log(JR_LOG_WARNING, e.msg);
        else
                jr_log(JR_LOG_DEBUG, pause ? "consumer paused" : "consumer resumed");
}

/* ---- results -------------------------------------------------------------------------- */

static void print_result(struct serve *s, const void *json, size_t len)
{
        if (!s->o.print_results)
                return;
        if (fwrite(json, 1, len, stdout) != len || fputc('\n', stdout) == EOF ||
            fflush(stdout) == EOF) {
                jr_log(JR_LOG_WARNING, "--print-results: stdout failed; printing stops",
                       JR_LOG_STR("error", strerror(errno)));
                s->o.print_results = false;
        }
}

int serve_deliver_result(struct serve *s, const jr_kafka_msg *msg, const char *id, size_t id_len,
                         const jr_buf *json)
{
        jr_error e;
        jr_buf out = {0};
        if (serve_json_with_source(json->ptr, json->len, msg, &out) < 0) {
                serve_fatal(s, "result", &(jr_error){.err = ENOMEM, .msg = "out of memory"});
                return -1;
        }
        jr_spool_source src = serve_source_of(msg);
        int r = serve_spool_put(s, JR_SPOOL_RESULT, s->kcfg.results_topic, id, id_len, out.ptr,
                                out.len, &src, &e);
        if (r < 0) {
                free(out.ptr);
                serve_fatal(s, "spool the result", &e);
                return -1;
        }
        if (r == JR_SPOOL_DUPLICATE) {
                /* judged twice in this process (its partition came back while the first
                 * judging ran): the first result stands */
                s->duplicates++;
                jr_log(JR_LOG_WARNING, "second result for one message suppressed",
                       JR_LOG_BYTES("id", id, id_len), JR_LOG_INT("partition", msg->partition),
                       JR_LOG_INT("offset", msg->offset));
                serve_message_answered(s, msg);
        } else {
                print_result(s, out.ptr, out.len);
                serve_http_local_result(s, id, id_len, out.ptr, out.len);
        }
        free(out.ptr);
        return 0;
}

/* ---- consuming ------------------------------------------------------------------------ */

static void count_received(struct serve *s)
{
        s->received++;
        if (s->expected && s->received >= s->expected)
                serve_stop(s, "SCRIPT_EXPECTED submissions received", true, 0);
}

static int fallback_id(const jr_kafka_msg *m, char **out, size_t *len)
{
        if (m->key && m->key_len > 0) {
                char *k = jr_memdup(m->key, m->key_len);
                if (!k)
                        return -1;
                *out = k;
                *len = m->key_len;
                return 0;
        }
        /* the contract's name for a message without id and key: "topic:offset" */
        int n = asprintf(out, "%s:%" PRId64, m->topic, m->offset);
        if (n < 0)
                return -1;
        *len = (size_t)n;
        return 0;
}

/* An invalid message: answer IE naming the problem, and it is done. */
static void answer_invalid(struct serve *s, jr_kafka_msg *m, jr_bytes id, const char *problem)
{
        char why[JR_ERROR_MSG_MAX + 32];
        snprintf(why, sizeof why, "invalid submission: %s", problem);
        jr_buf json = {0};
        jr_error e;
        if (jr_result_ie_json(id, why, 0, &json, &e) < 0) {
                serve_fatal(s, "result for an invalid submission", &e);
                return;
        }
        jr_log(JR_LOG_WARNING, "invalid submission", JR_LOG_BYTES("id", id.ptr, id.len),
               JR_LOG_STR("status", "IE"), JR_LOG_STR("error", problem),
               JR_LOG_INT("partition", m->partition), JR_LOG_INT("offset", m->offset));
        if (serve_deliver_result(s, m, id.ptr, id.len, &json) == 0) {
                s->invalid++;
                jr_metrics_count_invalid_message();
                jr_metrics_count_result("", "IE");
        }
        free(json.ptr);
}

/* A consumed message (ours now): a job, an IE answer, a skip or the end. */
static void handle_message(struct serve *s, jr_kafka_msg *msg)
{
        _cleanup_kafka_msg_ jr_kafka_msg *m = msg;
        int64_t now = (int64_t)jr_mono_ms();
        /* Seen before a crash or a rebalance, and answered: recognised by its coordinates
         * (never by its id: the same id in another message is another submission). */
        jr_spool_source src = serve_source_of(m);
        jr_spool_answer answer = jr_spool_answer_of(s->spool, &src);
        if (answer != JR_SPOOL_UNANSWERED) {
                jr_log(JR_LOG_INFO, "already answered: skipped", JR_LOG_STR("topic", m->topic),
                       JR_LOG_INT("partition", m->partition), JR_LOG_INT("offset", m->offset),
                       JR_LOG_BOOL("result_in_spool", answer == JR_SPOOL_ANSWER_PENDING));
                serve_message_answered(s, m);
                s->skipped++;
                count_received(s);
                return;
        }
        if (serve_answered_elsewhere(s, m)) {
                s->skipped++;
                count_received(s);
                return;
        }
        _cleanup_free_ char *fb = NULL;
        size_t fb_len = 0;
        if (fallback_id(m, &fb, &fb_len) < 0) {
                serve_fatal(s, "consume", &(jr_error){.err = ENOMEM, .msg = "out of memory"});
                return;
        }
        jr_parse_options po = {
            .languages = jr_lang_names(s->langs),
            .n_languages = jr_lang_count(s->langs),
            .fallback_id = {fb, fb_len},
            .max_input_bytes = s->max_input,
        };
        _cleanup_submission_ jr_submission *sub = NULL;
        jr_buf err_id = {0};
        jr_error e = {0};
        if (jr_submission_parse(m->value ? m->value : "", m->value_len, &po, &sub, &err_id, &e) <
            0) {
                jr_bytes id =
                    err_id.ptr ? (jr_bytes){err_id.ptr, err_id.len} : (jr_bytes){fb, fb_len};
                answer_invalid(s, m, id, e.msg);
                free(err_id.ptr);
                count_received(s);
                return;
        }
        if (sub->type == JR_MSG_DONE) {
                jr_log(JR_LOG_INFO, "\"done\" message: finishing the work in flight",
                       JR_LOG_BYTES("id", sub->id.ptr, sub->id.len),
                       JR_LOG_INT("partition", m->partition), JR_LOG_INT("offset", m->offset));
                if (jr_kafka_consumer_done(s->consumer, m->topic, m->partition, m->offset, &e) < 0)
                        jr_log(JR_LOG_WARNING, e.msg);
                serve_stop(s, "\"done\" message", true, 0);
                return;
        }
        _cleanup_job_ struct job *j = calloc(1, sizeof *j);
        if (j) {
                j->id = jr_memdup(sub->id.ptr, sub->id.len);
                j->language = strndup(sub->language.ptr, sub->language.len);
        }
        if (!j || !j->id || !j->language) {
                serve_fatal(s, "consume", &(jr_error){.err = ENOMEM, .msg = "out of memory"});
                return;
        }
        j->id_len = sub->id.len;
        j->no = ++s->next_job;
        j->msg = TAKE_PTR(m);
        j->fallback = TAKE_PTR(fb);
        j->fallback_len = fb_len;
        j->consumed_ms = now;
        serve_queue_push(s, TAKE_PTR(j));
        count_received(s);
        serve_dispatch(s);
}

static void on_rebalance(void *opaque, bool assigned, const char *topic, const int32_t *parts,
                         size_t n)
{
        struct serve *s = opaque;
        if (assigned)
                return;
        /* Queued (not started) jobs of revoked partitions belong to their new owner. */
        serve_queue_revoke(s, topic, parts, n);
}

/* Whether the consumer should fetch (see QUEUE_HIGH). */
static bool can_accept(const struct serve *s)
{
        if (s->phase != PHASE_RUNNING || s->stop_consuming || serve_spool_blocked(s))
                return false;
        if (jr_kafka_consumer_paused(s->consumer))
                return s->queued <= QUEUE_HIGH / 2 && s->queued_bytes <= QUEUE_HIGH_BYTES / 2;
        return s->queued < QUEUE_HIGH && s->queued_bytes < QUEUE_HIGH_BYTES;
}

static void consume(struct serve *s)
{
        s->cons_more = false;
        for (unsigned n = 0;; n++) {
                /* Back-pressure: leave the backlog in the broker while everyone is busy. */
                if (!s->stop_consuming)
                        serve_consumer_pause(s, !can_accept(s));
                if (n == CONSUME_BATCH) {
                        /* let the executors and the producer have a turn */
                        s->cons_more = true;
                        return;
                }
                _cleanup_kafka_msg_ jr_kafka_msg *m = NULL;
                jr_error e;
                int r = jr_kafka_consumer_poll(s->consumer, &m, &e);
                if (r < 0) {
                        serve_fatal(s, "kafka consumer", &e);
                        return;
                }
                if (r == 0)
                        return;
                if (s->stop_consuming)
                        continue; /* not done: it is consumed again after the next start */
                handle_message(s, TAKE_PTR(m));
        }
}

/* ---- the consumer and the producer in the loop ---------------------------------------- */

static void consumer_ready(struct serve *s, struct serve_source *src)
{
        s->cons_ready = true;
}

static int consumer_timeout_ms(struct serve *s)
{
        return s->cons_more ? 0 : jr_kafka_consumer_timeout_ms(s->consumer);
}

static void consumer_tick(struct serve *s)
{
        bool ready = s->cons_ready;
        s->cons_ready = false;
        if (ready || s->cons_more || jr_kafka_consumer_timeout_ms(s->consumer) == 0 ||
            can_accept(s))
                consume(s);
}

const struct serve_source_ops serve_consumer_ops = {
    .name = "consumer",
    .ready = consumer_ready,
    .timeout_ms = consumer_timeout_ms,
    .tick = consumer_tick,
};

static int producer_new(struct serve *s, jr_error *e)
{
        /* hold_sourced: a result goes out only while this runner owns its message's
         * partition (kafka.h, OWNERSHIP); the replay of a spool waits for the consumer */
        jr_kafka_producer_options po = {
            .log = kafka_log, .max_in_flight = PRODUCER_IN_FLIGHT, .hold_sourced = true};
        _cleanup_kafka_producer_ jr_kafka_producer *p = NULL;
        if (jr_kafka_producer_new(&s->kcfg, s->spool, &po, &p, e) < 0 ||
            serve_source_add(s, &s->src[SERVE_SRC_PRODUCER], jr_kafka_producer_fd(p), e) < 0)
                return -1;
        s->producer = TAKE_PTR(p);
        if (s->consumer)
                jr_kafka_link(s->consumer, s->producer);
        return 0;
}

static int producer_timeout_ms(struct serve *s)
{
        /* records appended after this turn's producer tick (by the consumer's): the next
         * turn comes at once to sync and send them */
        if (jr_spool_unsynced(s->spool) > 0)
                return 0;
        int t = jr_kafka_producer_timeout_ms(s->producer), w = serve_spool_timeout_ms(s);
        return t < 0 || (w >= 0 && w < t) ? w : t;
}

/* Records that waited for room in the spool; then what this pass appended (the
 * executors' events and results) made durable at once; then delivery reports and the
 * hand-over of waiting records. Once per turn. */
static void producer_tick(struct serve *s)
{
        serve_spool_retry(s);
        if (serve_spool_sync(s) < 0)
                return;
        jr_error e;
        if (jr_kafka_producer_service(s->producer, &e) == 0)
                return;
        /* fenced or similar: a new producer replays the spool */
        jr_log(JR_LOG_ERROR, "producer failed; recreating it", JR_LOG_STR("error", e.msg));
        serve_source_remove(s, &s->src[SERVE_SRC_PRODUCER]);
        jr_kafka_producer_free(s->producer);
        s->producer = NULL;
        if (producer_new(s, &e) < 0) {
                serve_fatal(s, "kafka producer", &e);
                s->phase = PHASE_EXIT;
        }
}

const struct serve_source_ops serve_producer_ops = {
    .name = "producer",
    .timeout_ms = producer_timeout_ms,
    .tick = producer_tick,
};

/* ---- --produce ------------------------------------------------------------------------ */

static int produce_file(struct serve *s, const char *path, size_t *scripts, jr_error *e)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return jr_error_errno(e, "--produce \"%s\"", path);
        struct stat st;
        if (fstat(fd, &st) < 0)
                return jr_error_errno(e, "--produce \"%s\"", path);
        if ((uint64_t)st.st_size > JR_SPOOL_RECORD_MAX)
                return jr_error_set(e, EFBIG, "--produce \"%s\": larger than %u bytes", path,
                                    JR_SPOOL_RECORD_MAX);
        _cleanup_free_ char *buf = malloc((size_t)st.st_size + 1);
        if (!buf)
                return jr_error_set(e, ENOMEM, "--produce \"%s\"", path);
        ssize_t got = jr_read_full(fd, buf, (size_t)st.st_size);
        if (got < 0)
                return jr_error_errno(e, "--produce \"%s\"", path);
        size_t len = (size_t)got;
        /* Key: the id, else the file name without its directory and ".json". */
        const char *base = strrchr(path, '/');
        base = base ? base + 1 : path;
        size_t base_len = strlen(base);
        if (base_len > 5 && !strcmp(base + base_len - 5, ".json"))
                base_len -= 5;
        jr_parse_options po = {.languages = jr_lang_names(s->langs),
                               .n_languages = jr_lang_count(s->langs),
                               .fallback_id = {base, base_len}};
        _cleanup_submission_ jr_submission *sub = NULL;
        jr_buf key = {0};
        jr_error pe;
        bool is_done = false;
        if (jr_submission_parse(buf, len, &po, &sub, &key, &pe) == 0) {
                is_done = sub->type == JR_MSG_DONE;
                key.ptr = jr_memdup(sub->id.ptr, sub->id.len);
                key.len = sub->id.len;
        }
        const char *k = key.ptr ? key.ptr : base;
        size_t k_len = key.ptr ? key.len : base_len;
        /* The spool is a generic durable outbox: the message goes out like an event
         * (no duplicate suppression). */
        int r = jr_kafka_producer_submit(s->producer, JR_SPOOL_EVENT, s->kcfg.topic, k, k_len, buf,
                                         len, NULL, e);
        if (r == 0)
                jr_log(JR_LOG_INFO, "produced", JR_LOG_STR("file", path),
                       JR_LOG_BYTES("key", k, k_len), JR_LOG_STR("topic", s->kcfg.topic));
        free(key.ptr);
        if (r < 0)
                return jr_error_wrap(e, "--produce \"%s\"", path);
        if (!is_done)
                (*scripts)++;
        return 0;
}

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

static int produce_path(struct serve *s, const char *path, size_t *scripts, jr_error *e)
{
        struct stat st;
        if (stat(path, &st) < 0)
                return jr_error_errno(e, "--produce \"%s\"", path);
        if (!S_ISDIR(st.st_mode))
                return produce_file(s, path, scripts, e);
        _cleanup_closedir_ DIR *d = opendir(path);
        if (!d)
                return jr_error_errno(e, "--produce \"%s\"", path);
        char **names = NULL;
        size_t n = 0, cap = 0;
        int ret = 0;
        struct dirent *de;
        while ((de = readdir(d))) {
                size_t l = strlen(de->d_name);
                if (l <= 5 || strcmp(de->d_name + l - 5, ".json") || de->d_name[0] == '.')
                        continue;
                if (jr_grow(&names, &cap, n + 1, sizeof *names, 16) < 0) {
                        ret = jr_error_set(e, ENOMEM, "--produce \"%s\"", path);
                        goto out;
                }
                if (asprintf(&names[n], "%s/%s", path, de->d_name) < 0) {
                        ret = jr_error_set(e, ENOMEM, "--produce \"%s\"", path);
                        goto out;
                }
                n++;
        }
        qsort(names, n, sizeof *names, cmp_str);
        for (size_t i = 0; i < n && ret == 0; i++)
                ret = produce_file(s, names[i], scripts, e);
out:
        for (size_t i = 0; i < n; i++)
                free(names[i]);
        free(names);
        return ret;
}

/* ---- start ---------------------------------------------------------------------------- */

/* --produce every path; with the embedded broker and no SCRIPT_EXPECTED, serve exits
 * once all of them were judged. */
static int produce_all(struct serve *s, jr_error *e)
{
        size_t scripts = 0;
        for (size_t i = 0; i < s->o.n_produce; i++)
                if (produce_path(s, s->o.produce[i], &scripts, e) < 0)
                        return -1;
        if (s->o.n_produce && !s->expected && s->broker) {
                s->expected = scripts;
                jr_log(JR_LOG_INFO, "exiting after the produced submissions",
                       JR_LOG_UINT("expected", scripts));
                if (scripts == 0)
                        serve_stop(s, "nothing to judge", true, 0);
        }
        return 0;
}

int serve_kafka_start(struct serve *s, jr_error *e)
{
        if (jr_kafka_config_is_embedded(&s->kcfg)) {
                _cleanup_kafka_broker_ jr_kafka_broker *b = NULL;
                if (jr_kafka_broker_start_for(&s->kcfg, 0, kafka_log, NULL, &b, e) < 0)
                        return -1;
                const char *addr = jr_kafka_broker_bootstraps(b);
                jr_log(JR_LOG_INFO, "embedded broker started", JR_LOG_STR("bootstrap", addr));
                if (jr_kafka_config_use_broker(&s->kcfg, b, e) < 0)
                        return -1;
                s->broker = TAKE_PTR(b);
        }
        size_t replay = jr_spool_pending(s->spool);
        if (producer_new(s, e) < 0)
                return -1;
        if (replay)
                jr_log(JR_LOG_INFO, "replaying the spool", JR_LOG_UINT("records", replay));
        if (produce_all(s, e) < 0)
                return -1;
        if (serve_http_start(s, e) < 0)
                return -1;
        if (s->stop_consuming)
                return 0; /* nothing to judge */
        if (s->parallel == 0) {
                /* a front door only: the submissions are for the runners of the group */
                jr_log(JR_LOG_INFO, "serving HTTP only: submissions are judged by other runners",
                       JR_LOG_STR("topic", s->kcfg.topic), JR_LOG_STR("group", s->kcfg.group_id));
                jr_error ne;
                if (jr_notify_ready("HTTP front door, judging nothing", &ne) < 0)
                        jr_log(JR_LOG_WARNING, "sd_notify", JR_LOG_STR("error", ne.msg));
                return 0;
        }
        jr_kafka_consumer_options co = {
            .log = kafka_log, .on_rebalance = on_rebalance, .opaque = s};
        _cleanup_kafka_consumer_ jr_kafka_consumer *c = NULL;
        if (jr_kafka_consumer_new(&s->kcfg, &co, &c, e) < 0 ||
            serve_source_add(s, &s->src[SERVE_SRC_CONSUMER], jr_kafka_consumer_fd(c), e) < 0)
                return -1;
        s->consumer = TAKE_PTR(c);
        jr_kafka_link(s->consumer, s->producer);
        jr_log(JR_LOG_INFO, "serving", JR_LOG_STR("brokers", s->kcfg.brokers),
               JR_LOG_STR("topic", s->kcfg.topic), JR_LOG_STR("group", s->kcfg.group_id),
               JR_LOG_STR("results_topic", s->kcfg.results_topic),
               JR_LOG_STR("events_topic", s->kcfg.events_topic),
               JR_LOG_UINT("parallel", s->parallel), JR_LOG_UINT("expected", s->expected),
               JR_LOG_INT("pid", getpid()));
        /* systemd (Type=notify): the spool is replayed into the producer, every executor
         * is up and the consumer exists: this host can judge. */
        char status[128];
        snprintf(status, sizeof status, "judging: %u executor(s), topic %s", s->parallel,
                 s->kcfg.topic);
        jr_error ne;
        if (jr_notify_ready(status, &ne) < 0)
                jr_log(JR_LOG_WARNING, "sd_notify", JR_LOG_STR("error", ne.msg));
        return 0;
}
