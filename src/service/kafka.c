#include "kafka.h"

#include <errno.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "clock.h"

/* How often the consumer must be polled at the latest: far below any sane
 * max.poll.interval.ms (default 300 s), so the group never evicts a quiet runner. */
#define CONSUMER_POLL_INTERVAL_MS 10000
#define PRODUCER_MAX_IN_FLIGHT    10000
#define RETRY_BACKOFF_MIN_MS      500
#define RETRY_BACKOFF_MAX_MS      30000

static void log_stderr(void *opaque, int level, const char *source, const char *msg)
{
        fprintf(stderr, "jailrun: kafka %s: %s\n", source, msg);
}

/* The first member of every handle that librdkafka's callbacks get as opaque. */
struct common {
        jr_kafka_log_fn *log;
        void *log_opaque;
        const char *source;
        bool fatal;
};

static void logf_(struct common *c, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void logf_(struct common *c, int level, const char *fmt, ...)
{
        char buf[1024];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof buf, fmt, ap);
        va_end(ap);
        c->log(c->log_opaque, level, c->source, buf);
}

static void rk_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
        struct common *c = rd_kafka_opaque(rk);
        if (c)
                logf_(c, level, "%s: %s", fac, buf);
}

static void rk_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
        struct common *c = opaque;
        if (err == RD_KAFKA_RESP_ERR__FATAL) {
                char why[512];
                rd_kafka_fatal_error(rk, why, sizeof why);
                c->fatal = true;
                logf_(c, 3, "fatal error: %s", why);
                return;
        }
        /* Broker outages are expected and survived (librdkafka reconnects with backoff);
         * say so at warning level, everything else is an error. */
        bool transient = err == RD_KAFKA_RESP_ERR__TRANSPORT ||
                         err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN ||
                         err == RD_KAFKA_RESP_ERR__RESOLVE || err == RD_KAFKA_RESP_ERR__TIMED_OUT;
        logf_(c, transient ? 4 : 3, "%s: %s", rd_kafka_err2name(err), reason);
}

/* ---- configuration ------------------------------------------------------------ */

static int env_dup(char **out, const char *name, const char *dflt, bool empty_is_null, jr_error *e)
{
        const char *v = getenv(name);
        if (!v || (!*v && !empty_is_null))
                v = dflt;
        if (!*v && empty_is_null) {
                *out = NULL;
                return 0;
        }
        *out = strdup(v);
        if (!*out)
                return jr_error_set(e, ENOMEM, "%s", name);
        return 0;
}

int jr_kafka_config_from_env(jr_kafka_config *cfg, jr_error *e)
{
        jr_kafka_config c = {0};
        const char *extra = getenv("JAILRUN_KAFKA_CONFIG");
        if (env_dup(&c.brokers, "KAFKA_BROKERS", "localhost:9092", false, e) < 0 ||
            env_dup(&c.topic, "KAFKA_TOPIC", "scripts", false, e) < 0 ||
            env_dup(&c.group_id, "KAFKA_GROUP_ID", "scrc-runner", false, e) < 0 ||
            env_dup(&c.results_topic, "KAFKA_RESULTS_TOPIC", "script-results", false, e) < 0 ||
            env_dup(&c.events_topic, "KAFKA_EVENTS_TOPIC", "script-events", true, e) < 0 ||
            (extra && *extra && env_dup(&c.extra, "JAILRUN_KAFKA_CONFIG", "", false, e) < 0)) {
                jr_kafka_config_free(&c);
                return -1;
        }
        *cfg = c;
        return 0;
}

void jr_kafka_config_free(jr_kafka_config *cfg)
{
        if (!cfg)
                return;
        free(cfg->brokers);
        free(cfg->topic);
        free(cfg->group_id);
        free(cfg->results_topic);
        free(cfg->events_topic);
        free(cfg->extra);
        memset(cfg, 0, sizeof *cfg);
}

bool jr_kafka_config_is_embedded(const jr_kafka_config *cfg)
{
        return cfg->brokers && !strcmp(cfg->brokers, JR_KAFKA_EMBEDDED);
}

int jr_kafka_config_set_brokers(jr_kafka_config *cfg, const char *brokers, jr_error *e)
{
        char *b = strdup(brokers);
        if (!b)
                return jr_error_set(e, ENOMEM, "KAFKA_BROKERS");
        free(cfg->brokers);
        cfg->brokers = b;
        return 0;
}

static int conf_set(rd_kafka_conf_t *conf, const char *name, const char *value, jr_error *e)
{
        char errstr[512];
        if (rd_kafka_conf_set(conf, name, value, errstr, sizeof errstr) != RD_KAFKA_CONF_OK)
                return jr_error_set(e, EINVAL, "kafka property %s=\"%s\": %s", name, value, errstr);
        return 0;
}

/* Apply JAILRUN_KAFKA_CONFIG entries meant for `role` ("consumer" or "producer"). */
static int conf_apply_extra(rd_kafka_conf_t *conf, const char *extra, const char *role, jr_error *e)
{
        if (!extra)
                return 0;
        _cleanup_free_ char *copy = strdup(extra);
        if (!copy)
                return jr_error_set(e, ENOMEM, "JAILRUN_KAFKA_CONFIG");
        char *save = NULL;
        for (char *item = strtok_r(copy, ";", &save); item; item = strtok_r(NULL, ";", &save)) {
                while (*item == ' ' || *item == '\t' || *item == '\n')
                        item++;
                if (!*item)
                        continue;
                char *eq = strchr(item, '=');
                if (!eq || eq == item)
                        return jr_error_set(e, EINVAL,
                                            "JAILRUN_KAFKA_CONFIG: \"%s\" is not name=value", item);
                *eq = '\0';
                const char *name = item, *value = eq + 1;
                if (!strncmp(name, "consumer.", 9) || !strncmp(name, "producer.", 9)) {
                        if (strncmp(name, role, 8) != 0)
                                continue;
                        name += 9;
                }
                if (conf_set(conf, name, value, e) < 0)
                        return jr_error_wrap(e, "JAILRUN_KAFKA_CONFIG");
        }
        return 0;
}

/* Common properties, then `defaults` (name, value, ..., NULL), then the user's
 * JAILRUN_KAFKA_CONFIG. Logs go through the handle's queue so that they are delivered on
 * the polling thread. */
static rd_kafka_conf_t *conf_new(struct common *com, const jr_kafka_config *cfg, const char *role,
                                 const char *const *defaults, jr_error *e)
{
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        if (!conf) {
                jr_error_set(e, ENOMEM, "kafka %s configuration", role);
                return NULL;
        }
        rd_kafka_conf_set_opaque(conf, com);
        rd_kafka_conf_set_log_cb(conf, rk_log_cb);
        rd_kafka_conf_set_error_cb(conf, rk_error_cb);
        if (conf_set(conf, "bootstrap.servers", cfg->brokers, e) < 0 ||
            conf_set(conf, "client.id", "jailrun", e) < 0 ||
            conf_set(conf, "log.queue", "true", e) < 0)
                goto fail;
        for (size_t i = 0; defaults && defaults[i]; i += 2)
                if (conf_set(conf, defaults[i], defaults[i + 1], e) < 0)
                        goto fail;
        if (conf_apply_extra(conf, cfg->extra, role, e) < 0)
                goto fail;
        return conf;
fail:
        rd_kafka_conf_destroy(conf);
        return NULL;
}

/* The queue's io event: librdkafka writes an 8-byte 1 to the eventfd when the queue
 * turns non-empty, so epoll wakes up on Kafka activity. */
static int wakeup_fd_attach(rd_kafka_queue_t *q, int *fdp, jr_error *e)
{
        int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (fd < 0)
                return jr_error_errno(e, "eventfd");
        static const uint64_t one = 1;
        rd_kafka_queue_io_event_enable(q, fd, &one, sizeof one);
        *fdp = fd;
        return 0;
}

static void wakeup_fd_drain(int fd)
{
        uint64_t v;
        while (read(fd, &v, sizeof v) > 0)
                ;
}

/* ---- embedded broker -------------------------------------------------------- */

struct jr_kafka_broker {
        struct common com;
        rd_kafka_t *rk;
        rd_kafka_mock_cluster_t *mc;
        char *bootstraps;
        int n_brokers;
};

/* Called on librdkafka's threads: only warnings and errors, the mock is chatty. */
static void broker_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
        struct common *c = rd_kafka_opaque(rk);
        if (c && level <= 4)
                logf_(c, level, "%s: %s", fac, buf);
}

int jr_kafka_broker_start(const jr_kafka_topic_spec *topics, size_t n_topics, jr_kafka_log_fn *log,
                          void *log_opaque, jr_kafka_broker **out, jr_error *e)
{
        jr_kafka_broker *b = calloc(1, sizeof *b);
        if (!b)
                return jr_error_set(e, ENOMEM, "embedded broker");
        b->com = (struct common){
            .log = log ? log : log_stderr, .log_opaque = log_opaque, .source = "broker"};
        b->n_brokers = 1;
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        rd_kafka_conf_set_opaque(conf, &b->com);
        rd_kafka_conf_set_log_cb(conf, broker_log_cb);
        char errstr[512];
        /* The mock cluster needs a handle for its bookkeeping; this one never connects
         * anywhere (no bootstrap.servers), it only owns the cluster's thread. */
        b->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
        if (!b->rk) {
                rd_kafka_conf_destroy(conf);
                free(b);
                return jr_error_set(e, EINVAL, "embedded broker: rd_kafka_new: %s", errstr);
        }
        b->mc = rd_kafka_mock_cluster_new(b->rk, b->n_brokers);
        if (!b->mc) {
                jr_kafka_broker_stop(b);
                return jr_error_set(e, EIO, "embedded broker: rd_kafka_mock_cluster_new failed");
        }
        b->bootstraps = strdup(rd_kafka_mock_cluster_bootstraps(b->mc));
        if (!b->bootstraps) {
                jr_kafka_broker_stop(b);
                return jr_error_set(e, ENOMEM, "embedded broker");
        }
        for (size_t i = 0; i < n_topics; i++) {
                int parts =
                    topics[i].partitions > 0 ? topics[i].partitions : JR_KAFKA_EMBEDDED_PARTITIONS;
                rd_kafka_resp_err_t err =
                    rd_kafka_mock_topic_create(b->mc, topics[i].name, parts, 1);
                if (err) {
                        jr_error_set(e, EINVAL, "embedded broker: create topic \"%s\": %s",
                                     topics[i].name, rd_kafka_err2str(err));
                        jr_kafka_broker_stop(b);
                        return -1;
                }
        }
        *out = b;
        return 0;
}

int jr_kafka_broker_start_for(const jr_kafka_config *cfg, int partitions, jr_kafka_log_fn *log,
                              void *log_opaque, jr_kafka_broker **out, jr_error *e)
{
        jr_kafka_topic_spec t[3] = {{cfg->topic, partitions}, {cfg->results_topic, partitions}};
        size_t n = 2;
        if (cfg->events_topic)
                t[n++] = (jr_kafka_topic_spec){cfg->events_topic, partitions};
        return jr_kafka_broker_start(t, n, log, log_opaque, out, e);
}

const char *jr_kafka_broker_bootstraps(const jr_kafka_broker *b)
{
        return b->bootstraps;
}

int jr_kafka_config_use_broker(jr_kafka_config *cfg, const jr_kafka_broker *b, jr_error *e)
{
        if (jr_kafka_config_set_brokers(cfg, b->bootstraps, e) < 0)
                return -1;
        cfg->fetch_wait_max_ms = JR_KAFKA_MOCK_FETCH_WAIT_MS;
        return 0;
}

int jr_kafka_broker_set_down(jr_kafka_broker *b, bool down, jr_error *e)
{
        for (int id = 1; id <= b->n_brokers; id++) {
                rd_kafka_resp_err_t err = down ? rd_kafka_mock_broker_set_down(b->mc, id)
                                               : rd_kafka_mock_broker_set_up(b->mc, id);
                if (err)
                        return jr_error_set(e, EIO, "embedded broker %d: set %s: %s", id,
                                            down ? "down" : "up", rd_kafka_err2str(err));
        }
        return 0;
}

void jr_kafka_broker_stop(jr_kafka_broker *b)
{
        if (!b)
                return;
        if (b->mc)
                rd_kafka_mock_cluster_destroy(b->mc);
        if (b->rk)
                rd_kafka_destroy(b->rk);
        free(b->bootstraps);
        free(b);
}

/* ---- consumer ----------------------------------------------------------------- */

/* Offsets of one partition returned by poll and not yet committed, ascending (librdkafka
 * delivers a partition in order). The committed offset may only pass a done prefix. */
struct track {
        char *topic;
        int32_t partition;
        int64_t *offs;
        bool *done;
        size_t head, len, cap;
};

struct jr_kafka_consumer {
        struct common com;
        rd_kafka_t *rk;
        rd_kafka_queue_t *q;
        int efd;
        bool paused, closed, abandoned;
        struct track *tracks;
        size_t n_tracks;
        size_t in_flight;
        int64_t last_poll_ms;
        void (*on_rebalance)(void *opaque, bool assigned, const char *topic,
                             const int32_t *partitions, size_t n);
        void *opaque;
};

static struct track *track_find(jr_kafka_consumer *c, const char *topic, int32_t partition)
{
        for (size_t i = 0; i < c->n_tracks; i++)
                if (c->tracks[i].partition == partition && !strcmp(c->tracks[i].topic, topic))
                        return &c->tracks[i];
        return NULL;
}

static struct track *track_get(jr_kafka_consumer *c, const char *topic, int32_t partition)
{
        struct track *t = track_find(c, topic, partition);
        if (t)
                return t;
        struct track *n = realloc(c->tracks, (c->n_tracks + 1) * sizeof *n);
        if (!n)
                return NULL;
        c->tracks = n;
        t = &c->tracks[c->n_tracks];
        *t = (struct track){.partition = partition, .topic = strdup(topic)};
        if (!t->topic)
                return NULL;
        c->n_tracks++;
        return t;
}

/* Messages of the partition returned by poll and not done yet. */
static size_t track_pending(const struct track *t)
{
        size_t n = 0;
        for (size_t i = t->head; i < t->len; i++)
                n += !t->done[i];
        return n;
}

static void track_drop(jr_kafka_consumer *c, struct track *t)
{
        c->in_flight -= track_pending(t);
        free(t->topic);
        free(t->offs);
        free(t->done);
        *t = c->tracks[--c->n_tracks];
}

static int track_push(struct track *t, int64_t offset)
{
        if (t->head > 0 && t->len == t->cap) {
                memmove(t->offs, t->offs + t->head, (t->len - t->head) * sizeof *t->offs);
                memmove(t->done, t->done + t->head, (t->len - t->head) * sizeof *t->done);
                t->len -= t->head;
                t->head = 0;
        }
        if (t->len == t->cap) {
                size_t cap = t->cap ? t->cap * 2 : 16;
                int64_t *o = realloc(t->offs, cap * sizeof *o);
                if (!o)
                        return -1;
                t->offs = o;
                bool *d = realloc(t->done, cap * sizeof *d);
                if (!d)
                        return -1;
                t->done = d;
                t->cap = cap;
        }
        t->offs[t->len] = offset;
        t->done[t->len] = false;
        t->len++;
        return 0;
}

/* Mark `offset` done; returns the new offset to commit (next to consume) when the done
 * prefix grew, else -1. */
static int64_t track_done(jr_kafka_consumer *c, struct track *t, int64_t offset)
{
        size_t lo = t->head, hi = t->len;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (t->offs[mid] < offset)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        if (lo == t->len || t->offs[lo] != offset || t->done[lo])
                return -1;
        t->done[lo] = true;
        c->in_flight--;
        int64_t commit = -1;
        while (t->head < t->len && t->done[t->head]) {
                commit = t->offs[t->head] + 1;
                t->head++;
        }
        return commit;
}

static void notify_rebalance(jr_kafka_consumer *c, bool assigned,
                             const rd_kafka_topic_partition_list_t *parts)
{
        char desc[512];
        size_t off = 0;
        desc[0] = '\0';
        for (int i = 0; i < parts->cnt && off < sizeof desc - 32; i++)
                off += (size_t)snprintf(desc + off, sizeof desc - off, "%s%s[%" PRId32 "]",
                                        i ? " " : "", parts->elems[i].topic,
                                        parts->elems[i].partition);
        logf_(&c->com, 6, "%s %d partition(s): %s", assigned ? "assigned" : "revoked", parts->cnt,
              desc);
        if (!c->on_rebalance)
                return;
        /* one call per run of the same topic */
        int i = 0;
        while (i < parts->cnt) {
                int32_t ids[parts->cnt];
                size_t n = 0;
                const char *topic = parts->elems[i].topic;
                while (i < parts->cnt && !strcmp(parts->elems[i].topic, topic))
                        ids[n++] = parts->elems[i++].partition;
                c->on_rebalance(c->opaque, assigned, topic, ids, n);
        }
}

/* Commit the stored offsets now (rebalance and close): after revocation they could not
 * be committed any more. Bounded: with the coordinator unreachable a synchronous commit
 * would block the event loop until the session times out (45 s by default); a commit
 * that does not make it is harmless (the submissions are seen again, their duplicate
 * results suppressed). */
#define COMMIT_WAIT_MS 5000
static bool commit_bounded(jr_kafka_consumer *c)
{
        rd_kafka_queue_t *tq = rd_kafka_queue_new(c->rk);
        if (!tq)
                return false;
        bool confirmed = true;
        rd_kafka_resp_err_t err = rd_kafka_commit_queue(c->rk, NULL, tq, NULL, NULL);
        if (!err) {
                rd_kafka_event_t *ev = rd_kafka_queue_poll(tq, COMMIT_WAIT_MS);
                if (!ev) {
                        confirmed = false;
                        logf_(&c->com, 4, "commit not confirmed within %d ms", COMMIT_WAIT_MS);
                } else {
                        err = rd_kafka_event_error(ev);
                        rd_kafka_event_destroy(ev);
                }
        }
        if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET) {
                confirmed = false;
                logf_(&c->com, 4, "commit: %s", rd_kafka_err2str(err));
        }
        rd_kafka_queue_destroy(tq);
        return confirmed;
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
        jr_kafka_consumer *c = opaque;
        bool coop = !strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE");
        if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
                rd_kafka_resp_err_t aerr = RD_KAFKA_RESP_ERR_NO_ERROR;
                if (coop) {
                        rd_kafka_error_t *error = rd_kafka_incremental_assign(rk, parts);
                        if (error) {
                                logf_(&c->com, 3, "assign: %s", rd_kafka_error_string(error));
                                rd_kafka_error_destroy(error);
                                return;
                        }
                } else if ((aerr = rd_kafka_assign(rk, parts))) {
                        logf_(&c->com, 3, "assign: %s", rd_kafka_err2str(aerr));
                        return;
                }
                /* back-pressure holds for partitions that arrive while paused */
                if (c->paused && (aerr = rd_kafka_pause_partitions(rk, parts)))
                        logf_(&c->com, 3, "pause new partitions: %s", rd_kafka_err2str(aerr));
                notify_rebalance(c, true, parts);
                return;
        }

        if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
                /* A lost assignment (session timed out) can no longer commit. */
                if (!rd_kafka_assignment_lost(rk))
                        commit_bounded(c);
                size_t dropped = 0;
                for (int i = 0; i < parts->cnt; i++) {
                        struct track *t =
                            track_find(c, parts->elems[i].topic, parts->elems[i].partition);
                        if (t) {
                                dropped += track_pending(t);
                                track_drop(c, t);
                        }
                }
                if (dropped)
                        logf_(&c->com, 4,
                              "%zu message(s) still in flight on revoked partitions will be "
                              "redelivered to their new owner",
                              dropped);
        } else {
                logf_(&c->com, 3, "rebalance error: %s", rd_kafka_err2str(err));
                while (c->n_tracks > 0)
                        track_drop(c, &c->tracks[0]);
        }
        if (coop) {
                rd_kafka_error_t *error = rd_kafka_incremental_unassign(rk, parts);
                if (error) {
                        logf_(&c->com, 3, "unassign: %s", rd_kafka_error_string(error));
                        rd_kafka_error_destroy(error);
                }
        } else {
                rd_kafka_resp_err_t aerr = rd_kafka_assign(rk, NULL);
                if (aerr)
                        logf_(&c->com, 3, "unassign: %s", rd_kafka_err2str(aerr));
        }
        if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS)
                notify_rebalance(c, false, parts);
}

static void offset_commit_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                             rd_kafka_topic_partition_list_t *offsets, void *opaque)
{
        jr_kafka_consumer *c = opaque;
        if (err == RD_KAFKA_RESP_ERR__NO_OFFSET)
                return;
        if (err) {
                /* The offsets stay stored; the next commit carries them again. */
                logf_(&c->com, 4, "offset commit failed: %s", rd_kafka_err2str(err));
                return;
        }
        for (int i = 0; offsets && i < offsets->cnt; i++)
                if (offsets->elems[i].err)
                        logf_(&c->com, 4, "offset commit %s[%" PRId32 "]@%" PRId64 ": %s",
                              offsets->elems[i].topic, offsets->elems[i].partition,
                              offsets->elems[i].offset, rd_kafka_err2str(offsets->elems[i].err));
}

int jr_kafka_consumer_new(const jr_kafka_config *cfg, const jr_kafka_consumer_options *opts,
                          jr_kafka_consumer **out, jr_error *e)
{
        if (jr_kafka_config_is_embedded(cfg))
                return jr_error_set(e, EINVAL,
                                    "kafka consumer: start the embedded broker and set its "
                                    "address first");
        jr_kafka_consumer *c = calloc(1, sizeof *c);
        if (!c)
                return jr_error_set(e, ENOMEM, "kafka consumer");
        c->efd = -1;
        c->com = (struct common){.log = log_stderr, .source = "consumer"};
        if (opts) {
                if (opts->log) {
                        c->com.log = opts->log;
                        c->com.log_opaque = opts->log_opaque;
                }
                c->on_rebalance = opts->on_rebalance;
                c->opaque = opts->opaque;
        }
        /* Defaults that JAILRUN_KAFKA_CONFIG may override: start from the oldest
         * submission when the group has no committed offset yet, and keep the prefetch
         * small so that a long backlog waits in the broker, not in our memory. */
        char fetch_wait[16];
        snprintf(fetch_wait, sizeof fetch_wait, "%d", cfg->fetch_wait_max_ms);
        const char *defaults[] = {"auto.offset.reset",
                                  "earliest",
                                  "queued.max.messages.kbytes",
                                  "4096",
                                  "queued.min.messages",
                                  "1000",
                                  cfg->fetch_wait_max_ms > 0 ? "fetch.wait.max.ms" : NULL,
                                  fetch_wait,
                                  NULL};
        rd_kafka_conf_t *conf = conf_new(&c->com, cfg, "consumer", defaults, e);
        if (!conf) {
                free(c);
                return jr_error_wrap(e, "kafka consumer");
        }
        /* Not negotiable: they are the delivery contract. */
        if (conf_set(conf, "group.id", cfg->group_id, e) < 0 ||
            conf_set(conf, "enable.auto.commit", "false", e) < 0 ||
            conf_set(conf, "enable.auto.offset.store", "false", e) < 0 ||
            conf_set(conf, "enable.partition.eof", "false", e) < 0) {
                rd_kafka_conf_destroy(conf);
                free(c);
                return jr_error_wrap(e, "kafka consumer");
        }
        rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
        rd_kafka_conf_set_offset_commit_cb(conf, offset_commit_cb);

        char errstr[512];
        c->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
        if (!c->rk) {
                rd_kafka_conf_destroy(conf);
                free(c);
                return jr_error_set(e, EINVAL, "kafka consumer: %s", errstr);
        }
        /* One queue for everything: messages, rebalances, commit results, errors, logs. */
        rd_kafka_poll_set_consumer(c->rk);
        rd_kafka_set_log_queue(c->rk, NULL);
        c->q = rd_kafka_queue_get_consumer(c->rk);
        if (wakeup_fd_attach(c->q, &c->efd, e) < 0) {
                jr_kafka_consumer_free(c);
                return jr_error_wrap(e, "kafka consumer");
        }
        rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(sub, cfg->topic, RD_KAFKA_PARTITION_UA);
        rd_kafka_resp_err_t err = rd_kafka_subscribe(c->rk, sub);
        rd_kafka_topic_partition_list_destroy(sub);
        if (err) {
                jr_kafka_consumer_free(c);
                return jr_error_set(e, EINVAL, "kafka consumer: subscribe to \"%s\": %s",
                                    cfg->topic, rd_kafka_err2str(err));
        }
        c->last_poll_ms = (int64_t)jr_mono_ms();
        *out = c;
        return 0;
}

int jr_kafka_consumer_fd(const jr_kafka_consumer *c)
{
        return c->efd;
}

int jr_kafka_consumer_timeout_ms(const jr_kafka_consumer *c)
{
        int64_t left = c->last_poll_ms + CONSUMER_POLL_INTERVAL_MS - (int64_t)jr_mono_ms();
        return left < 0 ? 0 : (int)left;
}

void jr_kafka_msg_free(jr_kafka_msg *msg)
{
        if (!msg)
                return;
        rd_kafka_message_destroy(msg->priv);
        free(msg);
}

int jr_kafka_consumer_poll(jr_kafka_consumer *c, jr_kafka_msg **msg, jr_error *e)
{
        if (c->closed)
                return jr_error_set(e, EINVAL, "kafka consumer is closed");
        wakeup_fd_drain(c->efd);
        c->last_poll_ms = (int64_t)jr_mono_ms();
        for (;;) {
                if (c->com.fatal) {
                        char why[512];
                        rd_kafka_fatal_error(c->rk, why, sizeof why);
                        return jr_error_set(e, EIO, "kafka consumer: fatal: %s", why);
                }
                rd_kafka_message_t *m = rd_kafka_consumer_poll(c->rk, 0);
                if (!m)
                        return 0;
                if (m->err) {
                        logf_(&c->com, 4, "consume: %s", rd_kafka_message_errstr(m));
                        rd_kafka_message_destroy(m);
                        continue;
                }
                const char *topic = rd_kafka_topic_name(m->rkt);
                struct track *t = track_get(c, topic, m->partition);
                jr_kafka_msg *jm = calloc(1, sizeof *jm);
                if (!t || !jm || track_push(t, m->offset) < 0) {
                        free(jm);
                        /* Not returned, so not consumed: rewind so it comes back. */
                        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
                        rd_kafka_topic_partition_list_add(l, topic, m->partition)->offset =
                            m->offset;
                        rd_kafka_error_t *error = rd_kafka_seek_partitions(c->rk, l, -1);
                        if (error)
                                rd_kafka_error_destroy(error);
                        rd_kafka_topic_partition_list_destroy(l);
                        rd_kafka_message_destroy(m);
                        return jr_error_set(e, ENOMEM, "kafka consumer: track message");
                }
                c->in_flight++;
                rd_kafka_timestamp_type_t tstype;
                int64_t ts = rd_kafka_message_timestamp(m, &tstype);
                *jm = (jr_kafka_msg){
                    .topic = topic,
                    .partition = m->partition,
                    .offset = m->offset,
                    .key = m->key,
                    .key_len = m->key ? m->key_len : 0,
                    .value = m->payload,
                    .value_len = m->payload ? m->len : 0,
                    .timestamp_ms = tstype == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE ? -1 : ts,
                    .priv = m,
                };
                *msg = jm;
                return 1;
        }
}

int jr_kafka_consumer_done(jr_kafka_consumer *c, const char *topic, int32_t partition,
                           int64_t offset, jr_error *e)
{
        if (c->closed)
                return 0;
        struct track *t = track_find(c, topic, partition);
        if (!t)
                return 0; /* revoked meanwhile: the new owner will see it again */
        int64_t commit = track_done(c, t, offset);
        if (commit < 0)
                return 0;
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(l, topic, partition)->offset = commit;
        rd_kafka_resp_err_t err = rd_kafka_offsets_store(c->rk, l);
        if (!err)
                err = l->elems[0].err;
        rd_kafka_topic_partition_list_destroy(l);
        if (err)
                return jr_error_set(e, EIO,
                                    "kafka consumer: store offset %s[%" PRId32 "]@%" PRId64 ": %s",
                                    topic, partition, commit, rd_kafka_err2str(err));
        /* Asynchronous: the result is already durable, so a lost commit only means the
         * submission is seen again (and its duplicate result suppressed). */
        err = rd_kafka_commit(c->rk, NULL, 1);
        if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET)
                return jr_error_set(e, EIO, "kafka consumer: commit: %s", rd_kafka_err2str(err));
        return 0;
}

int jr_kafka_consumer_pause(jr_kafka_consumer *c, bool pause, jr_error *e)
{
        if (c->paused == pause)
                return 0;
        rd_kafka_topic_partition_list_t *parts = NULL;
        rd_kafka_resp_err_t err = rd_kafka_assignment(c->rk, &parts);
        if (err)
                return jr_error_set(e, EIO, "kafka consumer: assignment: %s",
                                    rd_kafka_err2str(err));
        err = pause ? rd_kafka_pause_partitions(c->rk, parts)
                    : rd_kafka_resume_partitions(c->rk, parts);
        rd_kafka_topic_partition_list_destroy(parts);
        if (err)
                return jr_error_set(e, EIO, "kafka consumer: %s: %s", pause ? "pause" : "resume",
                                    rd_kafka_err2str(err));
        c->paused = pause;
        return 0;
}

bool jr_kafka_consumer_paused(const jr_kafka_consumer *c)
{
        return c->paused;
}

size_t jr_kafka_consumer_in_flight(const jr_kafka_consumer *c)
{
        return c->in_flight;
}

int jr_kafka_consumer_close(jr_kafka_consumer *c, jr_error *e)
{
        if (c->closed)
                return 0;
        c->closed = true;
        int ret = 0;
        if (commit_bounded(c)) {
                /* Leaves the group; the revocation goes through rebalance_cb. */
                rd_kafka_resp_err_t err = rd_kafka_consumer_close(c->rk);
                if (err)
                        ret = jr_error_set(e, EIO, "kafka consumer: close: %s",
                                           rd_kafka_err2str(err));
        } else {
                /* The coordinator is unreachable: rd_kafka_consumer_close() would wait for
                 * the unconfirmed commits until the session times out (45 s by default).
                 * Leave without saying goodbye; the group notices at that timeout. */
                c->abandoned = true;
                /* and do not come back when the broker does */
                rd_kafka_unsubscribe(c->rk);
                logf_(&c->com, 4,
                      "broker unreachable: leaving the group without "
                      "confirmation");
        }
        while (c->n_tracks > 0)
                track_drop(c, &c->tracks[0]);
        return ret;
}

void jr_kafka_consumer_free(jr_kafka_consumer *c)
{
        if (!c)
                return;
        if (c->rk) {
                jr_kafka_consumer_close(c, NULL);
                if (c->q) {
                        rd_kafka_queue_io_event_enable(c->q, -1, NULL, 0);
                        rd_kafka_queue_destroy(c->q);
                }
                /* After an abandoned close, librdkafka 2.0.2's rd_kafka_destroy() waits for
                 * the unreachable coordinator without a bound (even with
                 * RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE). The supervisor is exiting at this
                 * point: leave the handle and its threads to the process exit. */
                if (!c->abandoned)
                        rd_kafka_destroy(c->rk);
        }
        while (c->n_tracks > 0)
                track_drop(c, &c->tracks[0]);
        free(c->tracks);
        if (c->efd >= 0)
                close(c->efd);
        free(c);
}

/* ---- producer ----------------------------------------------------------------- */

struct retry {
        uint64_t seq;
        int64_t due_ms;
        int backoff_ms;
};

struct jr_kafka_producer {
        struct common com;
        rd_kafka_t *rk;
        rd_kafka_queue_t *q;
        int efd;
        jr_spool *spool;
        uint64_t cursor;  /* every pending seq <= cursor was handed over (or is in retries) */
        size_t in_flight; /* handed to librdkafka, no delivery report yet */
        size_t max_in_flight;
        struct retry *retries;
        size_t n_retries, cap_retries;
        bool closing;
        void (*on_delivered)(void *opaque, uint64_t seq, const char *topic, const void *key,
                             size_t key_len);
        void *opaque;
};

static void retry_add(jr_kafka_producer *p, uint64_t seq, int backoff_ms)
{
        if (p->n_retries == p->cap_retries) {
                size_t cap = p->cap_retries ? p->cap_retries * 2 : 16;
                struct retry *n = realloc(p->retries, cap * sizeof *n);
                if (!n) {
                        /* Still in the spool: delivered after the next start. */
                        logf_(&p->com, 3,
                              "out of memory: spool record %" PRIu64 " waits for the next start",
                              seq);
                        return;
                }
                p->retries = n;
                p->cap_retries = cap;
        }
        p->retries[p->n_retries++] = (struct retry){
            .seq = seq, .due_ms = (int64_t)jr_mono_ms() + backoff_ms, .backoff_ms = backoff_ms};
}

/* Hand record `seq` to librdkafka: 0 handed, 1 librdkafka's queue is full (try later),
 * -1 this record failed (e filled). */
static int produce_seq(jr_kafka_producer *p, uint64_t seq, jr_error *e)
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
        return 0;
}

/* Hand over what is due: retries first (they are older), then new spool records in
 * order, until max_in_flight. */
static void pump(jr_kafka_producer *p)
{
        int64_t now = (int64_t)jr_mono_ms();
        jr_error err;
        for (size_t i = 0; i < p->n_retries && p->in_flight < p->max_in_flight;) {
                struct retry *r = &p->retries[i];
                if (r->due_ms > now) {
                        i++;
                        continue;
                }
                int ret = produce_seq(p, r->seq, &err);
                if (ret == 1)
                        return;
                if (ret < 0) {
                        if (err.err == ENOENT) { /* acknowledged meanwhile */
                                p->retries[i] = p->retries[--p->n_retries];
                                continue;
                        }
                        r->backoff_ms = r->backoff_ms * 2 > RETRY_BACKOFF_MAX_MS
                                            ? RETRY_BACKOFF_MAX_MS
                                            : r->backoff_ms * 2;
                        r->due_ms = now + r->backoff_ms;
                        logf_(&p->com, 4, "%s; retrying in %d ms", err.msg, r->backoff_ms);
                        i++;
                        continue;
                }
                p->retries[i] = p->retries[--p->n_retries];
        }
        uint64_t seq;
        while (p->in_flight < p->max_in_flight && jr_spool_next(p->spool, p->cursor, &seq) == 1) {
                int ret = produce_seq(p, seq, &err);
                if (ret == 1)
                        return;
                p->cursor = seq;
                if (ret < 0) {
                        logf_(&p->com, 4, "%s; retrying in %d ms", err.msg, RETRY_BACKOFF_MIN_MS);
                        retry_add(p, seq, RETRY_BACKOFF_MIN_MS);
                }
        }
}

static void dr_msg_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
        jr_kafka_producer *p = opaque;
        uint64_t seq = (uint64_t)(uintptr_t)m->_private;
        p->in_flight--;
        if (p->closing)
                return;
        if (m->err) {
                /* With message.timeout.ms=0 librdkafka retries transient failures itself;
                 * what arrives here is permanent for this attempt (too large, not
                 * authorised, producer fenced). The record stays spooled. */
                logf_(&p->com, 3, "delivery of spool record %" PRIu64 " to \"%s\" failed: %s", seq,
                      rd_kafka_topic_name(m->rkt), rd_kafka_err2str(m->err));
                retry_add(p, seq, RETRY_BACKOFF_MIN_MS);
                return;
        }
        jr_error err;
        if (jr_spool_remove(p->spool, seq, &err) < 0)
                logf_(&p->com, 3, "delivered, but: %s", err.msg);
        if (p->on_delivered)
                p->on_delivered(p->opaque, seq, rd_kafka_topic_name(m->rkt), m->key, m->key_len);
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
        p->com = (struct common){.log = log_stderr, .source = "producer"};
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
        }
        /* Infinite message timeout: an outage delays delivery, it never fails it (the
         * spool holds the data either way). */
        static const char *const defaults[] = {"message.timeout.ms", "0", NULL};
        rd_kafka_conf_t *conf = conf_new(&p->com, cfg, "producer", defaults, e);
        if (!conf) {
                free(p);
                return jr_error_wrap(e, "kafka producer");
        }
        /* Idempotence: librdkafka's retries cannot duplicate or reorder within a
         * partition, so one submission's events stay in seq order. */
        if (conf_set(conf, "enable.idempotence", "true", e) < 0 ||
            conf_set(conf, "acks", "all", e) < 0) {
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
        p->q = rd_kafka_queue_get_main(p->rk);
        if (wakeup_fd_attach(p->q, &p->efd, e) < 0) {
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
        wakeup_fd_drain(p->efd);
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

size_t jr_kafka_producer_unacked(const jr_kafka_producer *p)
{
        return jr_spool_pending(p->spool);
}

int jr_kafka_producer_flush(jr_kafka_producer *p, int timeout_ms, jr_error *e)
{
        int64_t deadline = timeout_ms < 0 ? INT64_MAX : (int64_t)jr_mono_ms() + timeout_ms;
        for (;;) {
                if (jr_kafka_producer_service(p, e) < 0)
                        return -1;
                if (jr_spool_pending(p->spool) == 0)
                        return 0;
                int64_t left = deadline - (int64_t)jr_mono_ms();
                if (left <= 0)
                        return jr_error_set(e, ETIMEDOUT,
                                            "kafka producer: %zu record(s) not "
                                            "acknowledged",
                                            jr_spool_pending(p->spool));
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
                if (p->q) {
                        rd_kafka_queue_io_event_enable(p->q, -1, NULL, 0);
                        rd_kafka_queue_destroy(p->q);
                }
                rd_kafka_destroy(p->rk);
        }
        free(p->retries);
        if (p->efd >= 0)
                close(p->efd);
        free(p);
}

int64_t jr_kafka_consumer_lag(const jr_kafka_consumer *c)
{
        rd_kafka_topic_partition_list_t *parts = NULL;
        if (!c || c->closed || rd_kafka_assignment(c->rk, &parts) != RD_KAFKA_RESP_ERR_NO_ERROR)
                return -1;
        int64_t lag = -1;
        if (rd_kafka_position(c->rk, parts) == RD_KAFKA_RESP_ERR_NO_ERROR) {
                for (int i = 0; i < parts->cnt; i++) {
                        const rd_kafka_topic_partition_t *p = &parts->elems[i];
                        int64_t low, high;
                        if (p->offset < 0 ||
                            rd_kafka_get_watermark_offsets(c->rk, p->topic, p->partition, &low,
                                                           &high) != RD_KAFKA_RESP_ERR_NO_ERROR ||
                            high < 0)
                                continue;
                        lag = (lag < 0 ? 0 : lag) + (high > p->offset ? high - p->offset : 0);
                }
        }
        rd_kafka_topic_partition_list_destroy(parts);
        return lag;
}
