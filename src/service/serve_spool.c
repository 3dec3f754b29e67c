/* The supervisor's side of the spool: every event and result goes through here on its
 * way to the producer, stamped with the coordinates of the message it answers, and
 * messages found answered already are recognised by those coordinates (never by id).
 * See serve_internal.h. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
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

int serve_spool_put(struct serve *s, jr_spool_kind kind, const char *topic, const void *key,
                    size_t key_len, const void *value, size_t value_len, const jr_spool_source *src,
                    jr_error *e)
{
        int r = jr_kafka_producer_submit(s->producer, kind, topic, key, key_len, value, value_len,
                                         src, e);
        if (r != 0)
                return r;
        /* durable before anything can be produced or committed behind it */
        if (jr_spool_sync(s->spool, e) < 0)
                return jr_error_wrap(e, "spool");
        return 0;
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
