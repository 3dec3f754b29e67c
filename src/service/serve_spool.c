/* The supervisor's side of the spool: every event and result goes through here on its
 * way to the producer, stamped with the coordinates of the message it answers, and
 * messages found answered already are recognised by those coordinates (never by id).
 * See serve_internal.h. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "clock.h"
#include "log.h"
#include "notify.h"
#include "serve_internal.h"

jr_spool_source serve_source_of(const jr_kafka_msg *m)
{
        return (jr_spool_source){.topic = m->topic, .partition = m->partition, .offset = m->offset};
}

/* A topic name as a JSON string's contents. Kafka allows only [a-zA-Z0-9._-] in topic
 * names; anything else is escaped all the same. */
static size_t json_topic(char *out, size_t n, const char *topic)
{
        size_t w = 0;
        for (const unsigned char *p = (const unsigned char *)topic; *p && w + 7 < n; p++) {
                if (*p == '"' || *p == '\\')
                        w += (size_t)snprintf(out + w, n - w, "\\%c", *p);
                else if (*p < 0x20 || *p == 0x7f)
                        w += (size_t)snprintf(out + w, n - w, "\\u%04x", *p);
                else
                        out[w++] = (char)*p;
        }
        out[w] = '\0';
        return w;
}

int serve_json_with_source(const void *json, size_t len, const jr_kafka_msg *m, jr_buf *out)
{
        const char *j = json;
        size_t end = len;
        while (end > 0 && (j[end - 1] == ' ' || j[end - 1] == '\n' || j[end - 1] == '\t' ||
                           j[end - 1] == '\r'))
                end--;
        char topic[JR_SPOOL_TOPIC_MAX * 6 + 8];
        json_topic(topic, sizeof topic, m->topic);
        char src[sizeof topic + 96];
        int n = snprintf(src, sizeof src,
                         "\"source\":{\"topic\":\"%s\",\"partition\":%" PRId32
                         ",\"offset\":%" PRId64 "}}",
                         topic, m->partition, m->offset);
        if (n < 0 || (size_t)n >= sizeof src)
                return -1;
        /* the judge's JSON is one object: its last byte is the closing brace */
        bool object = end >= 2 && j[0] == '{' && j[end - 1] == '}';
        bool empty = object && end == 2;
        size_t keep = object ? end - 1 : len;
        char *buf = malloc(keep + 1 + (size_t)n + 1);
        if (!buf)
                return -1;
        memcpy(buf, j, keep);
        size_t w = keep;
        if (object) {
                if (!empty)
                        buf[w++] = ',';
                memcpy(buf + w, src, (size_t)n);
                w += (size_t)n;
        }
        buf[w] = '\0';
        *out = (jr_buf){buf, w};
        return 0;
}

/* ---- a full spool ------------------------------------------------------------------ */

/* Records that the spool could not take because its file system is full wait here, in
 * order, until it can: results are never dropped; events are, past this much. Nothing
 * new is consumed or dispatched meanwhile, so what waits is bounded by the executions
 * under way. */
#define UNSPOOLED_EVENTS_MAX ((size_t)64 << 20)
#define SPOOL_RETRY_MS       1000

/* A record as the spool would have kept it (rec.seq unused; rec.source.topic NULL: no
 * source). */
struct unspooled {
        struct unspooled *next;
        jr_spool_record rec;
};

static void unspooled_free(struct unspooled *u)
{
        if (!u)
                return;
        jr_spool_record_free(&u->rec);
        free(u);
}

static int unspooled_push(struct serve *s, jr_spool_kind kind, const char *topic, const void *key,
                          size_t key_len, const void *value, size_t value_len,
                          const jr_spool_source *src, jr_error *e)
{
        if (kind == JR_SPOOL_EVENT && s->unspooled_bytes + value_len > UNSPOOLED_EVENTS_MAX) {
                if (s->events_dropped++ == 0)
                        jr_log(JR_LOG_WARNING,
                               "spool full: dropping progress events (results are "
                               "kept)",
                               JR_LOG_UINT("waiting_bytes", s->unspooled_bytes));
                return 0;
        }
        struct unspooled *u = calloc(1, sizeof *u);
        if (!u)
                return jr_error_set(e, ENOMEM, "keep a record while the spool is full");
        jr_spool_record *r = &u->rec;
        *r = (jr_spool_record){.kind = kind,
                               .topic = strdup(topic),
                               .key = jr_memdup(key, key_len),
                               .key_len = key_len,
                               .value = jr_memdup(value, value_len),
                               .value_len = value_len};
        if (src && src->topic)
                r->source = (jr_spool_source){strdup(src->topic), src->partition, src->offset};
        if (!r->topic || !r->key || !r->value || (src && src->topic && !r->source.topic)) {
                unspooled_free(u);
                return jr_error_set(e, ENOMEM, "keep a record while the spool is full");
        }
        if (s->unspooled_tail)
                s->unspooled_tail->next = u;
        else
                s->unspooled_head = u;
        s->unspooled_tail = u;
        s->unspooled++;
        s->unspooled_bytes += value_len;
        return 0;
}

static bool is_full(int err)
{
        return err == ENOSPC || err == EDQUOT;
}

/* One clear line when the spool stops taking records, and the brakes: no consuming, no
 * dispatching (serve_spool_blocked) until it takes them again. */
static void spool_full(struct serve *s, const jr_error *e)
{
        s->spool_full = true;
        s->spool_retry_at = (int64_t)jr_mono_ms() + SPOOL_RETRY_MS;
        serve_consumer_pause(s, true);
        jr_log(JR_LOG_ERROR,
               "spool full: not consuming until its file system has room again; the records "
               "that do not fit wait in memory",
               JR_LOG_STR("dir", jr_spool_dir(s->spool)),
               JR_LOG_STR("errno", e->err == EDQUOT ? "EDQUOT" : "ENOSPC"),
               JR_LOG_STR("error", e->msg),
               JR_LOG_UINT("spool_pending", jr_spool_pending(s->spool)),
               JR_LOG_UINT("executing", serve_slots_busy(s)));
        jr_notify_status("spool full: not consuming", NULL);
}

/* Append; serve_spool_sync() makes it durable at the end of the loop's pass. */
static int spool_append(struct serve *s, jr_spool_kind kind, const char *topic, const void *key,
                        size_t key_len, const void *value, size_t value_len,
                        const jr_spool_source *src, jr_error *e)
{
        return jr_kafka_producer_submit(s->producer, kind, topic, key, key_len, value, value_len,
                                        src, e);
}

int serve_spool_sync(struct serve *s)
{
        jr_error e;
        if (jr_spool_sync(s->spool, &e) == 0)
                return 0;
        /* the records of this pass may or may not be on disk: nothing of them was produced
         * or committed; stop, and they are judged again after the restart */
        serve_fatal(s, "spool: make this pass's records durable", &e);
        return -1;
}

int serve_spool_put(struct serve *s, jr_spool_kind kind, const char *topic, const void *key,
                    size_t key_len, const void *value, size_t value_len, const jr_spool_source *src,
                    jr_error *e)
{
        /* behind what waits already: the spool keeps the order of a submission's records */
        if (s->unspooled_head)
                return unspooled_push(s, kind, topic, key, key_len, value, value_len, src, e);
        int r = spool_append(s, kind, topic, key, key_len, value, value_len, src, e);
        if (r >= 0 || !is_full(e->err))
                return r;
        spool_full(s, e);
        return unspooled_push(s, kind, topic, key, key_len, value, value_len, src, e);
}

bool serve_spool_blocked(const struct serve *s)
{
        return s->spool_full;
}

size_t serve_spool_waiting(const struct serve *s)
{
        return s->unspooled;
}

int serve_spool_timeout_ms(const struct serve *s)
{
        if (!s->unspooled_head)
                return -1;
        int64_t left = s->spool_retry_at - (int64_t)jr_mono_ms();
        return left < 0 ? 0 : left > INT32_MAX ? INT32_MAX : (int)left;
}

/* The spool took a record that waited; a result whose message was answered meanwhile
 * (JR_SPOOL_DUPLICATE) leaves its message to be marked done. */
static void spooled_late(struct serve *s, const struct unspooled *u, int r)
{
        const jr_spool_source *src = &u->rec.source;
        if (r != JR_SPOOL_DUPLICATE || !src->topic)
                return;
        if (s->consumer && jr_spool_answer_of(s->spool, src) == JR_SPOOL_ANSWERED) {
                jr_error e;
                if (jr_kafka_consumer_done(s->consumer, src->topic, src->partition, src->offset,
                                           &e) < 0)
                        jr_log(JR_LOG_WARNING, e.msg);
        }
}

void serve_spool_retry(struct serve *s)
{
        if (!s->unspooled_head || (int64_t)jr_mono_ms() < s->spool_retry_at)
                return;
        size_t taken = 0;
        while (s->unspooled_head) {
                struct unspooled *u = s->unspooled_head;
                const jr_spool_record *rec = &u->rec;
                jr_error e;
                int r = spool_append(s, rec->kind, rec->topic, rec->key, rec->key_len, rec->value,
                                     rec->value_len, rec->source.topic ? &rec->source : NULL, &e);
                if (r < 0 && is_full(e.err)) {
                        /* still full: quietly, the next try in a second */
                        s->spool_retry_at = (int64_t)jr_mono_ms() + SPOOL_RETRY_MS;
                        return;
                }
                if (r < 0) {
                        serve_fatal(s, "spool a record that waited for room", &e);
                        return;
                }
                spooled_late(s, u, r);
                s->unspooled_head = u->next;
                if (!s->unspooled_head)
                        s->unspooled_tail = NULL;
                s->unspooled--;
                s->unspooled_bytes -= u->rec.value_len;
                unspooled_free(u);
                taken++;
        }
        s->spool_full = false;
        jr_log(JR_LOG_NOTICE, "spool has room again: consuming again",
               JR_LOG_STR("dir", jr_spool_dir(s->spool)), JR_LOG_UINT("records_spooled", taken),
               JR_LOG_UINT("events_dropped", s->events_dropped));
        s->events_dropped = 0;
        jr_notify_status("judging", NULL);
}

void serve_spool_free(struct serve *s)
{
        if (s->unspooled)
                jr_log(JR_LOG_WARNING,
                       "exiting with records the full spool could not take: their messages "
                       "were not committed and are judged again after the next start",
                       JR_LOG_UINT("records", s->unspooled));
        while (s->unspooled_head) {
                struct unspooled *u = s->unspooled_head;
                s->unspooled_head = u->next;
                unspooled_free(u);
        }
        s->unspooled_tail = NULL;
        s->unspooled = s->unspooled_bytes = 0;
}

void serve_message_answered(struct serve *s, const jr_kafka_msg *m)
{
        jr_spool_source src = serve_source_of(m);
        if (jr_spool_answer_of(s->spool, &src) != JR_SPOOL_ANSWERED)
                return; /* pending: the producer marks it done when the broker has it */
        jr_error e;
        if (jr_kafka_consumer_done(s->consumer, m->topic, m->partition, m->offset, &e) < 0)
                jr_log(JR_LOG_WARNING, e.msg, JR_LOG_INT("partition", m->partition),
                       JR_LOG_INT("offset", m->offset));
}

bool serve_answered_elsewhere(struct serve *s, const jr_kafka_msg *m)
{
        if (!s->consumer ||
            !jr_kafka_consumer_answered(s->consumer, m->topic, m->partition, m->offset))
                return false;
        jr_log(JR_LOG_INFO, "answered by another runner: skipped", JR_LOG_STR("topic", m->topic),
               JR_LOG_INT("partition", m->partition), JR_LOG_INT("offset", m->offset));
        jr_error e;
        if (jr_kafka_consumer_done(s->consumer, m->topic, m->partition, m->offset, &e) < 0)
                jr_log(JR_LOG_WARNING, e.msg);
        return true;
}
