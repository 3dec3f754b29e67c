/* The Kafka producer. See kafka.h and kafka_internal.h. */
#include <errno.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bytes.h"
#include "cleanup.h"
#include "clock.h"
#include "kafka_internal.h"

#define PRODUCER_MAX_IN_FLIGHT 10000
#define RETRY_BACKOFF_MIN_MS   500
#define RETRY_BACKOFF_MAX_MS   30000

void jr_kafka_link(jr_kafka_consumer *c, jr_kafka_producer *p)
{
        if (c && c->producer && c->producer != p)
                c->producer->consumer = NULL;
        if (p && p->consumer && p->consumer != c)
                p->consumer->producer = NULL;
        if (c) {
                c->producer = p;
                c->epoch++;
        }
        if (p) {
                p->consumer = c;
                p->regate = true;
        }
}

static struct pin *pin_find(jr_kafka_producer *p, const char *topic, int32_t partition)
{
        for (size_t i = 0; i < p->n_pins; i++)
                if (p->pins[i].partition == partition && !strcmp(p->pins[i].topic, topic))
                        return &p->pins[i];
        return NULL;
}

static void pin_add(jr_kafka_producer *p, const jr_spool_source *src, int d)
{
        struct pin *pn = pin_find(p, src->topic, src->partition);
        if (!pn && d > 0) {
                if (jr_grow(&p->pins, &p->cap_pins, p->n_pins + 1, sizeof *p->pins, 8) < 0)
                        return; /* a revocation then waits less than it could */
                pn = &p->pins[p->n_pins++];
                *pn = (struct pin){.topic = src->topic, .partition = src->partition};
        }
        if (!pn)
                return;
        if (d > 0)
                pn->n++;
        else if (pn->n > 0 && --pn->n == 0)
                *pn = p->pins[--p->n_pins];
}

static void retry_add(jr_kafka_producer *p, uint64_t seq, int backoff_ms)
{
        if (jr_grow(&p->retries, &p->cap_retries, p->n_retries + 1, sizeof *p->retries, 16) < 0) {
                /* Still in the spool: delivered after the next start. */
                kafka_logf(&p->com, 3,
                           "out of memory: spool record %" PRIu64 " waits for the next start", seq);
                return;
        }
        p->retries[p->n_retries++] = (struct retry){
            .seq = seq, .due_ms = (int64_t)jr_mono_ms() + backoff_ms, .backoff_ms = backoff_ms};
}

/* Keep `seq` for later, in seq order. */
static void held_add(jr_kafka_producer *p, uint64_t seq)
{
        if (jr_grow(&p->held, &p->cap_held, p->n_held + 1, sizeof *p->held, 64) < 0) {
                kafka_logf(&p->com, 3,
                           "out of memory: spool record %" PRIu64 " waits for the next start", seq);
                return;
        }
        size_t i = p->n_held;
        while (i > 0 && p->held[i - 1] > seq) {
                p->held[i] = p->held[i - 1];
                i--;
        }
        p->held[i] = seq;
        p->n_held++;
}

enum verdict { V_SEND = GATE_SEND, V_HOLD = GATE_HOLD, V_DROP = GATE_DROP, V_GONE };

/* May record `seq` be produced now? (kafka.h, OWNERSHIP) */
static enum verdict gate_of(jr_kafka_producer *p, uint64_t seq, jr_spool_kind *kind,
                            jr_spool_source *src)
{
        if (jr_spool_peek(p->spool, seq, kind, src) < 0)
                return V_GONE; /* acknowledged (or dropped) meanwhile */
        if (!src->topic || !p->hold_sourced)
                return V_SEND;
        if (!p->consumer)
                return V_HOLD; /* no consumer yet: nothing is known about ownership */
        return (enum verdict)kafka_consumer_gate(p->consumer, src);
}

/* The group's committed offset passed this record's message: someone answered it. */
static void drop_seq(jr_kafka_producer *p, uint64_t seq, jr_spool_kind kind,
                     const jr_spool_source *src)
{
        jr_error err;
        if (jr_spool_remove(p->spool, seq, &err) < 0) {
                kafka_logf(&p->com, 3, "drop spool record %" PRIu64 ": %s", seq, err.msg);
                return;
        }
        p->dropped++;
        /* its message is answered: if this member still has it in flight, it is done */
        if (kind == JR_SPOOL_RESULT && p->consumer &&
            jr_kafka_consumer_done(p->consumer, src->topic, src->partition, src->offset, &err) < 0)
                kafka_logf(&p->com, 4, "%s", err.msg);
        kafka_logf(&p->com, kind == JR_SPOOL_RESULT ? 6 : 7,
                   "spooled %s for %s[%" PRId32 "]@%" PRId64
                   " dropped: the group's committed offset passed it (answered by another runner)",
                   kind == JR_SPOOL_RESULT ? "result" : "event", src->topic, src->partition,
                   src->offset);
}

/* Hand record `seq` to librdkafka: 0 handed, 1 librdkafka's queue is full (try later),
 * -1 this record failed (e filled). */
static int produce_seq(jr_kafka_producer *p, uint64_t seq, const jr_spool_source *src, jr_error *e)
{
        jr_spool_record rec;
        if (jr_spool_read(p->spool, seq, &rec, e) < 0)
                return -1;
        rd_kafka_resp_err_t err = rd_kafka_producev(
            p->rk, RD_KAFKA_V_TOPIC(rec.topic), RD_KAFKA_V_KEY(rec.key, rec.key_len),
            RD_KAFKA_V_VALUE(rec.value, rec.value_len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE),
            RD_KAFKA_V_OPAQUE((void *)(uintptr_t)seq), RD_KAFKA_V_END);
        if (!err)
                rec.value = NULL; /* librdkafka frees it now */
        jr_spool_record_free(&rec);
        if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL)
                return 1;
        if (err)
                return jr_error_set(e, EIO, "produce spool record %" PRIu64 ": %s", seq,
                                    rd_kafka_err2str(err));
        p->in_flight++;
        if (src->topic)
                pin_add(p, src, +1);
        return 0;
}

/* Gate and hand over record `seq`: 1 when librdkafka cannot take more now (stop; the
 * record was not taken: offer it again later), else 0 (handed, held, dropped, gone or
 * queued for a retry). `held_now`: it is in the held list already (*keep: it stays). */
static int offer(jr_kafka_producer *p, uint64_t seq, bool held_now, bool *keep)
{
        jr_spool_kind kind;
        jr_spool_source src;
        *keep = false;
        switch (gate_of(p, seq, &kind, &src)) {
        case V_GONE:
                return 0;
        case V_DROP:
                drop_seq(p, seq, kind, &src);
                return 0;
        case V_HOLD:
                if (held_now)
                        *keep = true;
                else
                        held_add(p, seq);
                return 0;
        case V_SEND:
                break;
        }
        if (p->in_flight >= p->max_in_flight) {
                *keep = held_now;
                return 1;
        }
        jr_error err;
        int ret = produce_seq(p, seq, &src, &err);
        if (ret == 1) {
                *keep = held_now;
                return 1;
        }
        if (ret < 0) {
                kafka_logf(&p->com, 4, "%s; retrying in %d ms", err.msg, RETRY_BACKOFF_MIN_MS);
                retry_add(p, seq, RETRY_BACKOFF_MIN_MS);
        }
        return 0;
}

/* Offer the held records again, in order (after ownership or committed offsets
 * changed). Returns 1 when librdkafka filled up before the end. */
static int regate_held(jr_kafka_producer *p)
{
        size_t w = 0, i = 0;
        int full = 0;
        for (; i < p->n_held && !full; i++) {
                bool keep;
                full = offer(p, p->held[i], true, &keep);
                if (keep)
                        p->held[w++] = p->held[i];
        }
        for (; i < p->n_held; i++)
                p->held[w++] = p->held[i];
        p->n_held = w;
        return full;
}

/* Hand over what is due: held records whose gate opened first, then retries (they are
 * older), then new spool records in order, until max_in_flight. */
static void pump(jr_kafka_producer *p)
{
        if (p->consumer && p->consumer->epoch != p->epoch_seen) {
                p->epoch_seen = p->consumer->epoch;
                p->regate = true;
        }
        if (p->regate) {
                if (regate_held(p))
                        return; /* the rest of the held ones go first, next time */
                p->regate = false;
        }
        int64_t now = (int64_t)jr_mono_ms();
        jr_error err;
        for (size_t i = 0; i < p->n_retries && p->in_flight < p->max_in_flight;) {
                struct retry *r = &p->retries[i];
                if (r->due_ms > now) {
                        i++;
                        continue;
                }
                jr_spool_kind kind;
                jr_spool_source src;
                enum verdict v = gate_of(p, r->seq, &kind, &src);
                if (v == V_GONE || v == V_DROP || v == V_HOLD) {
                        uint64_t seq = r->seq;
                        p->retries[i] = p->retries[--p->n_retries];
                        if (v == V_DROP)
                                drop_seq(p, seq, kind, &src);
                        else if (v == V_HOLD)
                                held_add(p, seq);
                        continue;
                }
                int ret = produce_seq(p, r->seq, &src, &err);
                if (ret == 1)
                        return;
                if (ret < 0) {
                        r->backoff_ms =
                            r->backoff_ms * 2 > RETRY_BACKOFF_MAX_MS   ? RETRY_BACKOFF_MAX_MS
                            : r->backoff_ms * 2 < RETRY_BACKOFF_MIN_MS ? RETRY_BACKOFF_MIN_MS
                                                                       : r->backoff_ms * 2;
                        r->due_ms = now + r->backoff_ms;
                        kafka_logf(&p->com, 4, "%s; retrying in %d ms", err.msg, r->backoff_ms);
                        i++;
                        continue;
                }
                p->retries[i] = p->retries[--p->n_retries];
        }
        uint64_t seq;
        while (p->in_flight < p->max_in_flight && jr_spool_next(p->spool, p->cursor, &seq) == 1) {
                bool keep;
                if (offer(p, seq, false, &keep))
                        return;
                p->cursor = seq;
        }
}

static void dr_msg_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
        jr_kafka_producer *p = opaque;
        uint64_t seq = (uint64_t)(uintptr_t)m->_private;
        p->in_flight--;
        if (p->closing)
                return;
        jr_spool_kind kind = JR_SPOOL_EVENT;
        jr_spool_source src = {0};
        bool pending = jr_spool_peek(p->spool, seq, &kind, &src) == 0;
        if (pending && src.topic)
                pin_add(p, &src, -1);
        if (m->err) {
                /* With message.timeout.ms=0 librdkafka retries transient failures itself;
                 * what arrives here is permanent for this attempt (too large, not
                 * authorised, producer fenced). The record stays spooled. */
                kafka_logf(&p->com, 3, "delivery of spool record %" PRIu64 " to \"%s\" failed: %s",
                           seq, rd_kafka_topic_name(m->rkt), rd_kafka_err2str(m->err));
                retry_add(p, seq, RETRY_BACKOFF_MIN_MS);
                return;
        }
        jr_error err;
        if (jr_spool_remove(p->spool, seq, &err) < 0)
                kafka_logf(&p->com, 3, "delivered, but: %s", err.msg);
        /* The answer to its message is with the broker: the message is done, and its
         * offset may be committed (kafka.h, DELIVERY CONTRACT). */
        if (pending && kind == JR_SPOOL_RESULT && src.topic && p->consumer &&
            jr_kafka_consumer_done(p->consumer, src.topic, src.partition, src.offset, &err) < 0)
                kafka_logf(&p->com, 4, "%s", err.msg);
        if (p->on_delivered)
                p->on_delivered(p->opaque, seq, rd_kafka_topic_name(m->rkt), m->key, m->key_len);
}

static size_t pins_of(jr_kafka_producer *p, const rd_kafka_topic_partition_list_t *parts)
{
        size_t n = 0;
        for (int i = 0; i < parts->cnt; i++) {
                struct pin *pn = pin_find(p, parts->elems[i].topic, parts->elems[i].partition);
                n += pn ? pn->n : 0;
        }
        return n;
}

void kafka_producer_drain(jr_kafka_producer *p, const rd_kafka_topic_partition_list_t *parts,
                          int timeout_ms)
{
        int64_t deadline = (int64_t)jr_mono_ms() + timeout_ms;
        size_t left;
        while ((left = pins_of(p, parts)) > 0) {
                int64_t wait = deadline - (int64_t)jr_mono_ms();
                if (wait <= 0) {
                        kafka_logf(
                            &p->com, 4,
                            "%zu record(s) of revoked partitions not acknowledged within %d "
                            "ms: if the broker has them, their messages may be answered twice",
                            left, timeout_ms);
                        return;
                }
                rd_kafka_poll(p->rk, wait > 100 ? 100 : (int)wait);
        }
}

/* Make the topics that records go to known to librdkafka now. A record for a topic it
 * has not seen waits for its 1-second topic scan to fetch the metadata: measured on the
 * embedded broker, the first result and events of a runner (after every start) waited
 * 0.8-1.2 s in librdkafka's queue, while the rest of a result's trip takes a few ms. */
static void producer_warm(jr_kafka_producer *p, const jr_kafka_config *cfg)
{
        const char *topics[] = {cfg->results_topic, cfg->events_topic};
        for (size_t i = 0; i < sizeof topics / sizeof *topics; i++) {
                if (!topics[i] || !*topics[i])
                        continue;
                p->known[i] = rd_kafka_topic_new(p->rk, topics[i], NULL);
                if (!p->known[i])
                        kafka_logf(&p->com, 4, "topic \"%s\": %s", topics[i],
                                   rd_kafka_err2str(rd_kafka_last_error()));
        }
}

int jr_kafka_producer_new(const jr_kafka_config *cfg, jr_spool *spool,
                          const jr_kafka_producer_options *opts, jr_kafka_producer **out,
                          jr_error *e)
{
        if (jr_kafka_config_is_embedded(cfg))
                return jr_error_set(e, EINVAL,
                                    "kafka producer: start the embedded broker and set its "
                                    "address first");
        jr_kafka_producer *p = calloc(1, sizeof *p);
        if (!p)
                return jr_error_set(e, ENOMEM, "kafka producer");
        p->efd = -1;
        p->spool = spool;
        p->com = (struct common){.log = kafka_log_stderr, .source = "producer"};
        p->max_in_flight = PRODUCER_MAX_IN_FLIGHT;
        if (opts) {
                if (opts->log) {
                        p->com.log = opts->log;
                        p->com.log_opaque = opts->log_opaque;
                }
                p->on_delivered = opts->on_delivered;
                p->opaque = opts->opaque;
                if (opts->max_in_flight)
                        p->max_in_flight = opts->max_in_flight;
                p->hold_sourced = opts->hold_sourced;
        }
        /* Infinite message timeout: an outage delays delivery, it never fails it (the
         * spool holds the data either way). No lingering: a record is produced when its
         * loop pass is durable, and what one pass hands over goes out as one batch anyway;
         * librdkafka's default (5 ms) was a quarter of the hand-off around the judge. */
        static const char *const defaults[] = {"message.timeout.ms", "0", "linger.ms", "0", NULL};
        rd_kafka_conf_t *conf = kafka_conf_new(&p->com, cfg, "producer", defaults, e);
        if (!conf) {
                free(p);
                return jr_error_wrap(e, "kafka producer");
        }
        /* Idempotence: librdkafka's retries cannot duplicate or reorder within a
         * partition, so one submission's events stay in seq order. */
        if (kafka_conf_set(conf, "enable.idempotence", "true", e) < 0 ||
            kafka_conf_set(conf, "acks", "all", e) < 0) {
                rd_kafka_conf_destroy(conf);
                free(p);
                return jr_error_wrap(e, "kafka producer");
        }
        rd_kafka_conf_set_dr_msg_cb(conf, dr_msg_cb);
        char errstr[512];
        p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
        if (!p->rk) {
                rd_kafka_conf_destroy(conf);
                free(p);
                return jr_error_set(e, EINVAL, "kafka producer: %s", errstr);
        }
        rd_kafka_set_log_queue(p->rk, NULL);
        producer_warm(p, cfg);
        p->q = rd_kafka_queue_get_main(p->rk);
        if (kafka_wakeup_attach(p->q, &p->efd, e) < 0) {
                jr_kafka_producer_free(p);
                return jr_error_wrap(e, "kafka producer");
        }
        pump(p); /* replay what a previous run left in the spool */
        *out = p;
        return 0;
}

int jr_kafka_producer_fd(const jr_kafka_producer *p)
{
        return p->efd;
}

int jr_kafka_producer_timeout_ms(const jr_kafka_producer *p)
{
        if (p->n_retries == 0)
                return -1;
        int64_t due = INT64_MAX;
        for (size_t i = 0; i < p->n_retries; i++)
                if (p->retries[i].due_ms < due)
                        due = p->retries[i].due_ms;
        int64_t left = due - (int64_t)jr_mono_ms();
        return left < 0 ? 0 : left > INT32_MAX ? INT32_MAX : (int)left;
}

int jr_kafka_producer_service(jr_kafka_producer *p, jr_error *e)
{
        /* what was appended since the last turn: durable first, then visible */
        if (jr_spool_sync(p->spool, e) < 0)
                return jr_error_wrap(e, "kafka producer: spool");
        kafka_wakeup_drain(p->efd);
        rd_kafka_poll(p->rk, 0);
        if (p->com.fatal) {
                char why[512];
                rd_kafka_fatal_error(p->rk, why, sizeof why);
                return jr_error_set(e, EIO, "kafka producer: fatal: %s", why);
        }
        pump(p);
        return 0;
}

int jr_kafka_producer_submit(jr_kafka_producer *p, jr_spool_kind kind, const char *topic,
                             const void *key, size_t key_len, const void *value, size_t value_len,
                             const jr_spool_source *source, jr_error *e)
{
        return jr_spool_append(p->spool, kind, topic, key, key_len, value, value_len, source, NULL,
                               e);
}

/* Held records that this runner cannot send: no consumer, or another member owns (or
 * may own) their partition. Those of partitions it owns wait for its committed-offset
 * read, which comes. */
static size_t held_elsewhere(const jr_kafka_producer *p)
{
        size_t n = 0;
        for (size_t i = 0; i < p->n_held; i++) {
                jr_spool_kind kind;
                jr_spool_source src;
                if (jr_spool_peek(p->spool, p->held[i], &kind, &src) < 0)
                        continue;
                const struct part *pt =
                    p->consumer ? kafka_part_find(p->consumer, src.topic, src.partition) : NULL;
                n += !pt || !pt->owned || p->consumer->closed;
        }
        return n;
}

size_t jr_kafka_producer_unacked(const jr_kafka_producer *p)
{
        size_t pending = jr_spool_pending(p->spool), elsewhere = held_elsewhere(p);
        return pending > elsewhere ? pending - elsewhere : 0;
}

size_t jr_kafka_producer_held(const jr_kafka_producer *p)
{
        return p->n_held;
}

size_t jr_kafka_producer_dropped(const jr_kafka_producer *p)
{
        return p->dropped;
}

int jr_kafka_producer_flush(jr_kafka_producer *p, int timeout_ms, jr_error *e)
{
        int64_t deadline = timeout_ms < 0 ? INT64_MAX : (int64_t)jr_mono_ms() + timeout_ms;
        for (;;) {
                if (jr_kafka_producer_service(p, e) < 0)
                        return -1;
                if (jr_kafka_producer_unacked(p) == 0)
                        return 0;
                int64_t left = deadline - (int64_t)jr_mono_ms();
                if (left <= 0)
                        return jr_error_set(e, ETIMEDOUT,
                                            "kafka producer: %zu record(s) not "
                                            "acknowledged",
                                            jr_kafka_producer_unacked(p));
                int wait = left > 1000 ? 1000 : (int)left;
                int rt = jr_kafka_producer_timeout_ms(p);
                if (rt >= 0 && rt < wait)
                        wait = rt;
                struct pollfd pfd = {.fd = p->efd, .events = POLLIN};
                if (poll(&pfd, 1, wait) < 0 && errno != EINTR)
                        return jr_error_errno(e, "kafka producer: poll");
        }
}

void jr_kafka_producer_free(jr_kafka_producer *p)
{
        if (!p)
                return;
        if (p->rk) {
                /* Whatever is not acknowledged stays in the spool; drop librdkafka's copy
                 * instead of waiting for it. */
                p->closing = true;
                rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
                rd_kafka_poll(p->rk, 0);
                for (size_t i = 0; i < sizeof p->known / sizeof *p->known; i++)
                        if (p->known[i])
                                rd_kafka_topic_destroy(p->known[i]);
                if (p->q) {
                        rd_kafka_queue_io_event_enable(p->q, -1, NULL, 0);
                        rd_kafka_queue_destroy(p->q);
                }
                rd_kafka_destroy(p->rk);
        }
        jr_kafka_link(NULL, p); /* unties it from its consumer */
        p->consumer = NULL;
        free(p->retries);
        free(p->held);
        free(p->pins);
        if (p->efd >= 0)
                close(p->efd);
        free(p);
}
