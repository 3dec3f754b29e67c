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
/* Committed-offset lookups for partitions that held records wait on: at most one at a
 * time, at most one per interval (right away after an assignment). */
#define LOOKUP_INTERVAL_MS 2000
#define LOOKUP_TIMEOUT_MS  10000
/* Results held after a refused commit wait this long at most for the next assignment. */
#define REBALANCING_MAX_MS 60000
/* A new owner reads a partition's committed offset this long after its assignment, so
 * that the previous owner's last commit (repeated after the rebalance when the broker
 * refused it during the rebalance) is in; its results wait for that read. */
#define HANDOVER_GRACE_MS 1000

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
 * delivers a partition in order). The committed offset may only pass a done prefix;
 * done offsets above it travel in the commit's metadata (see commit_point). */
struct track {
        char *topic;
        int32_t partition;
        int64_t *offs;
        bool *done;
        size_t head, len, cap;
        int64_t next; /* the offset after the done prefix; -1 while nothing is done */
};

/* What this member knows about a partition of the group, for the gate that decides
 * whether a spooled record with a source may be produced (kafka.h, OWNERSHIP). */
struct part {
        char *topic;
        int32_t partition;
        bool owned;        /* assigned to this member now */
        bool fresh;        /* owned, and `committed` was read after the hand-over grace */
        bool bound;        /* `committed` and `answered` are known (lower bounds) */
        bool wanted;       /* a held record (or the assignment) waits for a lookup */
        bool commit_due;   /* done marks while not fresh: commit once it is */
        int64_t committed; /* the next offset the group will consume; -1: none committed */
        int64_t *answered; /* offsets above `committed` answered already, ascending */
        size_t n_answered, cap_answered;
        int64_t fresh_after_ms; /* owned: only a lookup issued from then on makes it fresh */
        /* a commit refused at this partition's revocation, repeated after the rebalance */
        bool handover;
        int64_t ho_offset;
        char *ho_meta;
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
        char *group_id;
        /* ownership and committed offsets (the gate) */
        struct part *parts;
        size_t n_parts;
        uint64_t epoch;   /* bumped whenever a gate decision may have changed */
        bool rebalancing; /* a commit was refused for a rebalance: hold until assigned */
        int64_t rebalancing_until;
        rd_kafka_queue_t *lookup_q;
        bool lookup_busy;
        int64_t lookup_issued_ms;
        int64_t next_lookup_ms;
        jr_kafka_producer *producer; /* linked (jr_kafka_link) */
};

static struct part *part_find(const jr_kafka_consumer *c, const char *topic, int32_t partition)
{
        for (size_t i = 0; i < c->n_parts; i++)
                if (c->parts[i].partition == partition && !strcmp(c->parts[i].topic, topic))
                        return &c->parts[i];
        return NULL;
}

static struct part *part_get(jr_kafka_consumer *c, const char *topic, int32_t partition)
{
        struct part *pt = part_find(c, topic, partition);
        if (pt)
                return pt;
        struct part *n = realloc(c->parts, (c->n_parts + 1) * sizeof *n);
        if (!n)
                return NULL;
        c->parts = n;
        pt = &c->parts[c->n_parts];
        *pt = (struct part){.partition = partition, .committed = -1, .topic = strdup(topic)};
        if (!pt->topic)
                return NULL;
        c->n_parts++;
        return pt;
}

static bool part_answered(const struct part *pt, int64_t offset)
{
        if (!pt || !pt->bound)
                return false;
        if (pt->committed > offset)
                return true;
        size_t lo = 0, hi = pt->n_answered;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (pt->answered[mid] < offset)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo < pt->n_answered && pt->answered[lo] == offset;
}

/* Learn that the group's committed offset is at least `committed`, and that `more`
 * (offsets above it, any order) are answered too. */
static void part_learn(struct part *pt, int64_t committed, const int64_t *more, size_t n)
{
        if (!pt->bound || committed > pt->committed)
                pt->committed = committed;
        pt->bound = true;
        for (size_t i = 0; i < n; i++) {
                if (more[i] < pt->committed || part_answered(pt, more[i]))
                        continue;
                if (pt->n_answered == pt->cap_answered) {
                        size_t cap = pt->cap_answered ? 2 * pt->cap_answered : 16;
                        int64_t *a = realloc(pt->answered, cap * sizeof *a);
                        if (!a)
                                return; /* one duplicate answer at worst */
                        pt->answered = a;
                        pt->cap_answered = cap;
                }
                size_t j = pt->n_answered++;
                while (j > 0 && pt->answered[j - 1] > more[i]) {
                        pt->answered[j] = pt->answered[j - 1];
                        j--;
                }
                pt->answered[j] = more[i];
        }
        size_t drop = 0;
        while (drop < pt->n_answered && pt->answered[drop] < pt->committed)
                drop++;
        memmove(pt->answered, pt->answered + drop, (pt->n_answered - drop) * sizeof *pt->answered);
        pt->n_answered -= drop;
}

static void part_free(struct part *pt)
{
        free(pt->topic);
        free(pt->answered);
        free(pt->ho_meta);
}

enum gate {
        GATE_SEND, /* this member owns the message's partition, not yet passed: produce it */
        GATE_HOLD, /* not known yet, or owned by another member who may still answer it */
        GATE_DROP, /* the group's committed offset passed it: answered by someone */
};

/* The rule of kafka.h's OWNERSHIP for a record whose source is `src`. */
static enum gate consumer_gate(jr_kafka_consumer *c, const jr_spool_source *src)
{
        struct part *pt = part_get(c, src->topic, src->partition);
        if (!pt)
                return GATE_HOLD; /* out of memory: ask again later */
        if (part_answered(pt, src->offset))
                return GATE_DROP;
        if (pt->owned && pt->fresh && !c->rebalancing && !c->closed)
                return GATE_SEND;
        pt->wanted = true;
        return GATE_HOLD;
}

bool jr_kafka_consumer_answered(const jr_kafka_consumer *c, const char *topic, int32_t partition,
                                int64_t offset)
{
        return part_answered(part_find(c, topic, partition), offset);
}

bool jr_kafka_consumer_settled(const jr_kafka_consumer *c)
{
        if (c->rebalancing || c->closed)
                return false;
        for (size_t i = 0; i < c->n_parts; i++)
                if (c->parts[i].owned && !c->parts[i].fresh)
                        return false;
        return true;
}

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
        *t = (struct track){.partition = partition, .next = -1, .topic = strdup(topic)};
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

/* Mark `offset` done (and move the done prefix on). false: not in flight here. */
static bool track_done_mark(jr_kafka_consumer *c, struct track *t, int64_t offset)
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
                return false;
        t->done[lo] = true;
        c->in_flight--;
        while (t->head < t->len && t->done[t->head]) {
                t->next = t->offs[t->head] + 1;
                t->head++;
        }
        return true;
}

/* ---- commits ------------------------------------------------------------------- */

/* Commit metadata: "jr1:" and the offsets above the committed one that are answered
 * already (done out of order, or inherited from the previous owner's commit), as
 * comma-separated distances from it. The next owner skips them. Kafka keeps up to 4096
 * bytes of metadata by default (offset.metadata.max.bytes); past META_MAX the list is cut,
 * and a message left off it may be answered twice if its partition moves. */
#define META_PREFIX "jr1:"
#define META_MAX    2048

/* Where the group may resume on a partition, and what is answered above: the done prefix
 * of its track, or the committed offset known, whichever is further; then the track's
 * done offsets and the inherited answered ones above it. false: nothing to commit. */
static bool commit_point(jr_kafka_consumer *c, const char *topic, int32_t partition,
                         int64_t *offset, char *meta, size_t n)
{
        struct track *t = track_find(c, topic, partition);
        const struct part *pt = part_find(c, topic, partition);
        int64_t off = t ? t->next : -1;
        if (pt && pt->bound && pt->committed > off)
                off = pt->committed;
        if (off < 0)
                return false;
        size_t w = (size_t)snprintf(meta, n, "%s", META_PREFIX);
        size_t i = t ? t->head : 0, k = 0;
        int64_t last = -1;
        for (;;) {
                while (t && i < t->len && (!t->done[i] || t->offs[i] < off))
                        i++;
                while (pt && k < pt->n_answered && pt->answered[k] < off)
                        k++;
                bool from_t = t && i < t->len;
                bool from_p = pt && k < pt->n_answered;
                if (!from_t && !from_p)
                        break;
                int64_t v;
                if (from_t && (!from_p || t->offs[i] <= pt->answered[k]))
                        v = t->offs[i++];
                else
                        v = pt->answered[k++];
                if (v == last)
                        continue;
                last = v;
                char item[24];
                int len = snprintf(item, sizeof item, "%s%" PRId64,
                                   w > strlen(META_PREFIX) ? "," : "", v - off);
                if (len < 0 || w + (size_t)len >= n || w + (size_t)len >= META_MAX)
                        break;
                memcpy(meta + w, item, (size_t)len + 1);
                w += (size_t)len;
        }
        *offset = off;
        return true;
}

/* Add partition (topic, partition) at `offset` with `meta` to a commit list. */
static void commit_add(rd_kafka_topic_partition_list_t *l, const char *topic, int32_t partition,
                       int64_t offset, const char *meta)
{
        rd_kafka_topic_partition_t *e = rd_kafka_topic_partition_list_add(l, topic, partition);
        e->offset = offset;
        size_t len = strlen(meta);
        e->metadata = malloc(len); /* freed with the list */
        if (e->metadata) {
                memcpy(e->metadata, meta, len);
                e->metadata_size = len;
        }
}

/* Read "jr1:..." metadata: the answered offsets above `base`. Returns how many. */
static size_t meta_parse(const void *meta, size_t size, int64_t base, int64_t *out, size_t max)
{
        size_t pl = strlen(META_PREFIX), n = 0;
        if (!meta || size <= pl || memcmp(meta, META_PREFIX, pl))
                return 0;
        const char *p = (const char *)meta + pl, *end = (const char *)meta + size;
        while (p < end && n < max) {
                int64_t v = 0;
                const char *start = p;
                while (p < end && *p >= '0' && *p <= '9' && v < INT64_MAX / 16)
                        v = v * 10 + (*p++ - '0');
                if (p == start)
                        break;
                out[n++] = base + v;
                if (p < end && *p == ',')
                        p++;
                else
                        break;
        }
        return n;
}

/* The group is rebalancing (a commit was refused for it): stop sending records with a
 * source until the next assignment says what is ours. A member learns of a rebalance at
 * its next heartbeat; a commit refused before that is the earlier sign. */
static void rebalancing(jr_kafka_consumer *c, rd_kafka_resp_err_t err)
{
        if (err != RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS &&
            err != RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION &&
            err != RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID)
                return;
        if (!c->rebalancing)
                logf_(&c->com, 6,
                      "group rebalancing (%s): holding results until the next "
                      "assignment",
                      rd_kafka_err2name(err));
        c->rebalancing = true;
        c->rebalancing_until = (int64_t)jr_mono_ms() + REBALANCING_MAX_MS;
        c->epoch++;
}

/* Commit one partition now (asynchronously) from its track. A partition owned but not
 * settled yet (the previous owner's last commit may still be on its way) is committed
 * once it is, never before: an earlier commit could move the offset back. */
static void commit_part(jr_kafka_consumer *c, const char *topic, int32_t partition)
{
        struct part *pt = part_find(c, topic, partition);
        if (!pt || !pt->owned)
                return; /* being revoked: the revocation commits it */
        if (!pt->fresh) {
                pt->commit_due = true;
                return;
        }
        pt->commit_due = false;
        int64_t off;
        char meta[META_MAX + 32];
        if (!commit_point(c, topic, partition, &off, meta, sizeof meta))
                return;
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
        commit_add(l, topic, partition, off, meta);
        rd_kafka_resp_err_t err = rd_kafka_commit(c->rk, l, 1);
        rd_kafka_topic_partition_list_destroy(l);
        if (err)
                logf_(&c->com, 4, "commit %s[%" PRId32 "]@%" PRId64 ": %s", topic, partition, off,
                      rd_kafka_err2str(err));
        else
                logf_(&c->com, 7, "commit %s[%" PRId32 "]@%" PRId64 " %s", topic, partition, off,
                      meta);
}

/* Commit `l` now (rebalance and close): after a revocation it could not be committed
 * any more. Bounded: with the coordinator unreachable a synchronous commit would block
 * the event loop until the session times out (45 s by default). Returns whether the
 * broker confirmed it for every partition. */
#define COMMIT_WAIT_MS 5000
static bool commit_bounded(jr_kafka_consumer *c, rd_kafka_topic_partition_list_t *l)
{
        if (!l || l->cnt == 0)
                return true;
        rd_kafka_queue_t *tq = rd_kafka_queue_new(c->rk);
        if (!tq)
                return false;
        bool confirmed = true;
        rd_kafka_resp_err_t err = rd_kafka_commit_queue(c->rk, l, tq, NULL, NULL);
        if (!err) {
                rd_kafka_event_t *ev = rd_kafka_queue_poll(tq, COMMIT_WAIT_MS);
                if (!ev) {
                        confirmed = false;
                        logf_(&c->com, 4, "commit not confirmed within %d ms", COMMIT_WAIT_MS);
                } else {
                        err = rd_kafka_event_error(ev);
                        const rd_kafka_topic_partition_list_t *r =
                            rd_kafka_event_topic_partition_list(ev);
                        for (int i = 0; !err && r && i < r->cnt; i++)
                                err = r->elems[i].err;
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

/* The commit list of every partition in `parts` (NULL: every track) that has one. */
static rd_kafka_topic_partition_list_t *commit_list(jr_kafka_consumer *c,
                                                    const rd_kafka_topic_partition_list_t *parts)
{
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(4);
        size_t n = parts ? (size_t)parts->cnt : c->n_tracks;
        for (size_t i = 0; i < n; i++) {
                const char *topic = parts ? parts->elems[i].topic : c->tracks[i].topic;
                int32_t partition = parts ? parts->elems[i].partition : c->tracks[i].partition;
                const struct part *pt = part_find(c, topic, partition);
                /* not settled: its committed offset is not ours to move (commit_part) */
                if (!pt || !pt->fresh)
                        continue;
                int64_t off;
                char meta[META_MAX + 32];
                if (commit_point(c, topic, partition, &off, meta, sizeof meta))
                        commit_add(l, topic, partition, off, meta);
        }
        return l;
}

/* The previous generation refused the commits of a revocation (the mock cluster refuses
 * commits while a group rejoins; a real broker accepts them): make them now, in the new
 * generation, before the partitions' new owners read their committed offsets (they wait
 * HANDOVER_GRACE_MS for this). */
static void handover_commits(jr_kafka_consumer *c)
{
        rd_kafka_topic_partition_list_t *l = NULL;
        for (size_t i = 0; i < c->n_parts; i++) {
                struct part *pt = &c->parts[i];
                if (!pt->handover)
                        continue;
                if (!l)
                        l = rd_kafka_topic_partition_list_new(4);
                commit_add(l, pt->topic, pt->partition, pt->ho_offset,
                           pt->ho_meta ? pt->ho_meta : META_PREFIX);
                logf_(&c->com, 6, "handing %s[%" PRId32 "] over at %" PRId64, pt->topic,
                      pt->partition, pt->ho_offset);
                pt->handover = false;
                free(pt->ho_meta);
                pt->ho_meta = NULL;
        }
        if (!l)
                return;
        rd_kafka_resp_err_t err = rd_kafka_commit(c->rk, l, 1);
        if (err)
                logf_(&c->com, 4, "hand-over commit: %s", rd_kafka_err2str(err));
        rd_kafka_topic_partition_list_destroy(l);
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

/* The producer's side of a revocation (defined with the producer below). */
static void producer_drain(jr_kafka_producer *p, const rd_kafka_topic_partition_list_t *parts,
                           int timeout_ms);

static void on_assign(jr_kafka_consumer *c, rd_kafka_t *rk, rd_kafka_topic_partition_list_t *parts)
{
        /* Back-pressure holds for partitions that arrive while paused; and a partition
         * paused before an earlier revocation is still paused in librdkafka (2.0.2) when
         * it comes back, resumed by nobody: say which. */
        rd_kafka_resp_err_t err = c->paused ? rd_kafka_pause_partitions(rk, parts)
                                            : rd_kafka_resume_partitions(rk, parts);
        if (err)
                logf_(&c->com, 3, "%s new partitions: %s", c->paused ? "pause" : "resume",
                      rd_kafka_err2str(err));
        c->rebalancing = false;
        /* what the last generation refused, before anyone reads it */
        handover_commits(c);
        /* Ours now: spooled records of these partitions wait for the committed offset as
         * it is after the previous owner's last commit, read by a lookup issued once the
         * hand-over grace is over. */
        int64_t now = (int64_t)jr_mono_ms();
        for (int i = 0; i < parts->cnt; i++) {
                struct part *pt = part_get(c, parts->elems[i].topic, parts->elems[i].partition);
                if (!pt)
                        continue; /* out of memory: its records are held */
                pt->owned = true;
                pt->fresh = false;
                pt->commit_due = false;
                pt->wanted = true;
                pt->fresh_after_ms = now + HANDOVER_GRACE_MS;
        }
        c->epoch++;
        notify_rebalance(c, true, parts);
}

static void on_revoke(jr_kafka_consumer *c, rd_kafka_t *rk, rd_kafka_topic_partition_list_t *parts)
{
        /* A lost assignment (session timed out) can no longer commit: another member may
         * own the partitions already. */
        bool lost = rd_kafka_assignment_lost(rk);
        /* No more records of these partitions leave: from now on their messages belong to
         * the next owner. */
        for (int i = 0; i < parts->cnt; i++) {
                struct part *pt = part_find(c, parts->elems[i].topic, parts->elems[i].partition);
                if (pt)
                        pt->owned = false;
        }
        c->epoch++;
        if (!lost) {
                /* What was already handed to the broker: wait (bounded) for the acks,
                 * which mark their messages done, so that the commit covers them and the
                 * next owner does not judge them again. */
                if (c->producer)
                        producer_drain(c->producer, parts, COMMIT_WAIT_MS);
                rd_kafka_topic_partition_list_t *l = commit_list(c, parts);
                if (!commit_bounded(c, l)) {
                        /* keep it for the next generation (handover_commits) */
                        for (int i = 0; i < l->cnt; i++) {
                                struct part *pt =
                                    part_find(c, l->elems[i].topic, l->elems[i].partition);
                                if (!pt)
                                        continue;
                                free(pt->ho_meta);
                                pt->ho_meta =
                                    strndup(l->elems[i].metadata, l->elems[i].metadata_size);
                                pt->ho_offset = l->elems[i].offset;
                                pt->handover = true;
                        }
                }
                rd_kafka_topic_partition_list_destroy(l);
        }
        size_t dropped = 0;
        for (int i = 0; i < parts->cnt; i++) {
                struct part *pt = part_find(c, parts->elems[i].topic, parts->elems[i].partition);
                if (pt)
                        pt->fresh = false;
                struct track *t = track_find(c, parts->elems[i].topic, parts->elems[i].partition);
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
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
        jr_kafka_consumer *c = opaque;
        bool coop = !strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE");
        if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
                if (coop) {
                        rd_kafka_error_t *error = rd_kafka_incremental_assign(rk, parts);
                        if (error) {
                                logf_(&c->com, 3, "assign: %s", rd_kafka_error_string(error));
                                rd_kafka_error_destroy(error);
                                return;
                        }
                } else {
                        rd_kafka_resp_err_t aerr = rd_kafka_assign(rk, parts);
                        if (aerr) {
                                logf_(&c->com, 3, "assign: %s", rd_kafka_err2str(aerr));
                                return;
                        }
                }
                on_assign(c, rk, parts);
                return;
        }

        if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
                on_revoke(c, rk, parts);
        } else {
                logf_(&c->com, 3, "rebalance error: %s", rd_kafka_err2str(err));
                while (c->n_tracks > 0)
                        track_drop(c, &c->tracks[0]);
                for (size_t i = 0; i < c->n_parts; i++)
                        c->parts[i].owned = c->parts[i].fresh = false;
                c->epoch++;
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
                /* The next commit of the partition carries the offset again. */
                logf_(&c->com, 4, "offset commit failed: %s", rd_kafka_err2str(err));
                rebalancing(c, err);
                return;
        }
        for (int i = 0; offsets && i < offsets->cnt; i++)
                if (offsets->elems[i].err) {
                        logf_(&c->com, 4, "offset commit %s[%" PRId32 "]@%" PRId64 ": %s",
                              offsets->elems[i].topic, offsets->elems[i].partition,
                              offsets->elems[i].offset, rd_kafka_err2str(offsets->elems[i].err));
                        rebalancing(c, offsets->elems[i].err);
                }
}

/* ---- committed-offset lookups ---------------------------------------------------- */

/* When partition pt may be looked up next (a wanted one; an owned one only once its
 * hand-over grace is over). */
static int64_t lookup_due(const jr_kafka_consumer *c, const struct part *pt)
{
        int64_t due = c->next_lookup_ms;
        if (pt->owned && !pt->fresh && pt->fresh_after_ms > due)
                due = pt->fresh_after_ms;
        return due;
}

/* Ask the group coordinator for the committed offsets (and their metadata) of the
 * partitions that held records or new assignments wait on (asynchronous: the answer
 * arrives on lookup_q, whose io event is the consumer's fd). */
static void lookup_start(jr_kafka_consumer *c)
{
        int64_t now = (int64_t)jr_mono_ms();
        if (c->lookup_busy || c->closed)
                return;
        rd_kafka_topic_partition_list_t *l = NULL;
        for (size_t i = 0; i < c->n_parts; i++) {
                if (!c->parts[i].wanted || lookup_due(c, &c->parts[i]) > now)
                        continue;
                if (!l && !(l = rd_kafka_topic_partition_list_new(4)))
                        return;
                rd_kafka_topic_partition_list_add(l, c->parts[i].topic, c->parts[i].partition);
        }
        if (!l)
                return;
        char errstr[256];
        rd_kafka_ListConsumerGroupOffsets_t *req =
            rd_kafka_ListConsumerGroupOffsets_new(c->group_id, l);
        rd_kafka_AdminOptions_t *o =
            rd_kafka_AdminOptions_new(c->rk, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS);
        if (!req || !o ||
            rd_kafka_AdminOptions_set_request_timeout(o, LOOKUP_TIMEOUT_MS, errstr,
                                                      sizeof errstr)) {
                if (req)
                        rd_kafka_ListConsumerGroupOffsets_destroy(req);
                if (o)
                        rd_kafka_AdminOptions_destroy(o);
                rd_kafka_topic_partition_list_destroy(l);
                c->next_lookup_ms = now + LOOKUP_INTERVAL_MS;
                return;
        }
        rd_kafka_ListConsumerGroupOffsets(c->rk, &req, 1, o, c->lookup_q);
        rd_kafka_ListConsumerGroupOffsets_destroy(req);
        rd_kafka_AdminOptions_destroy(o);
        for (int i = 0; i < l->cnt; i++) {
                struct part *pt = part_find(c, l->elems[i].topic, l->elems[i].partition);
                if (pt)
                        pt->wanted = false;
        }
        rd_kafka_topic_partition_list_destroy(l);
        c->lookup_busy = true;
        c->lookup_issued_ms = now;
        c->next_lookup_ms = now + LOOKUP_INTERVAL_MS;
}

static void lookup_apply(jr_kafka_consumer *c, const rd_kafka_topic_partition_t *e)
{
        if (e->err) {
                logf_(&c->com, 7, "committed offset of %s[%" PRId32 "]: %s", e->topic, e->partition,
                      rd_kafka_err2str(e->err));
                return;
        }
        struct part *pt = part_find(c, e->topic, e->partition);
        if (!pt)
                return;
        int64_t off = e->offset < 0 ? -1 : e->offset;
        int64_t more[256];
        size_t n = off < 0 ? 0
                           : meta_parse(e->metadata, e->metadata_size, off, more,
                                        sizeof more / sizeof *more);
        /* committed offsets only grow, answered offsets stay answered: a lower bound */
        part_learn(pt, off, more, n);
        /* fresh: asked after the hand-over grace, and no rebalance under way */
        if (pt->owned && !c->rebalancing && c->lookup_issued_ms >= pt->fresh_after_ms) {
                pt->fresh = true;
                if (pt->commit_due)
                        commit_part(c, pt->topic, pt->partition);
        }
        logf_(&c->com, 7, "committed offset of %s[%" PRId32 "]: %" PRId64 " (+%zu answered)%s",
              e->topic, e->partition, off, n, pt->owned ? " (owned)" : "");
}

/* Serve lookup answers; each one (or its failure) may change gate decisions. */
static void lookup_results(jr_kafka_consumer *c)
{
        rd_kafka_event_t *ev;
        while (c->lookup_q && (ev = rd_kafka_queue_poll(c->lookup_q, 0))) {
                c->lookup_busy = false;
                c->epoch++;
                const rd_kafka_ListConsumerGroupOffsets_result_t *res =
                    rd_kafka_event_ListConsumerGroupOffsets_result(ev);
                if (rd_kafka_event_error(ev) || !res) {
                        logf_(&c->com, 7, "committed offsets lookup: %s",
                              rd_kafka_event_error_string(ev));
                        rd_kafka_event_destroy(ev);
                        continue;
                }
                size_t n = 0;
                const rd_kafka_group_result_t **groups =
                    rd_kafka_ListConsumerGroupOffsets_result_groups(res, &n);
                for (size_t g = 0; g < n; g++) {
                        const rd_kafka_error_t *gerr = rd_kafka_group_result_error(groups[g]);
                        if (gerr) {
                                logf_(&c->com, 7, "committed offsets lookup: %s",
                                      rd_kafka_error_string(gerr));
                                continue;
                        }
                        const rd_kafka_topic_partition_list_t *l =
                            rd_kafka_group_result_partitions(groups[g]);
                        for (int i = 0; l && i < l->cnt; i++)
                                lookup_apply(c, &l->elems[i]);
                }
                rd_kafka_event_destroy(ev);
        }
}

/* ms from now until the next lookup is due, or -1 when none is wanted. */
static int64_t lookup_wait(const jr_kafka_consumer *c, int64_t now)
{
        if (c->closed || c->lookup_busy)
                return -1;
        int64_t best = -1;
        for (size_t i = 0; i < c->n_parts; i++) {
                if (!c->parts[i].wanted)
                        continue;
                int64_t left = lookup_due(c, &c->parts[i]) - now;
                if (left < 0)
                        left = 0;
                if (best < 0 || left < best)
                        best = left;
        }
        return best;
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
        /* and one for the committed-offset lookups, waking the same fd */
        static const uint64_t one = 1;
        c->group_id = strdup(cfg->group_id);
        c->lookup_q = rd_kafka_queue_new(c->rk);
        if (!c->group_id || !c->lookup_q) {
                jr_kafka_consumer_free(c);
                return jr_error_set(e, ENOMEM, "kafka consumer");
        }
        rd_kafka_queue_io_event_enable(c->lookup_q, c->efd, &one, sizeof one);
        /* cfg->topic may name several topics, comma-separated (the HTTP front door
         * reads results and events); a topic name cannot hold a comma. */
        rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(2);
        for (const char *t = cfg->topic; *t;) {
                size_t n = strcspn(t, ",");
                char name[256];
                if (n > 0 && n < sizeof name) {
                        memcpy(name, t, n);
                        name[n] = '\0';
                        rd_kafka_topic_partition_list_add(sub, name, RD_KAFKA_PARTITION_UA);
                }
                t += n + (t[n] == ',');
        }
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
        int64_t now = (int64_t)jr_mono_ms();
        int64_t left = c->last_poll_ms + CONSUMER_POLL_INTERVAL_MS - now;
        /* a lookup is due (held records or a new assignment wait for it) */
        int64_t lw = lookup_wait(c, now);
        if (lw >= 0 && lw < left)
                left = lw;
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
        if (c->rebalancing && c->last_poll_ms > c->rebalancing_until) {
                /* no assignment followed: what we own is ours after all */
                c->rebalancing = false;
                c->epoch++;
        }
        lookup_results(c);
        lookup_start(c);
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
        (void)e;
        if (c->closed)
                return 0;
        struct track *t = track_find(c, topic, partition);
        if (!t)
                return 0; /* revoked meanwhile: the new owner will see it again */
        if (!track_done_mark(c, t, offset))
                return 0;
        /* Asynchronous: a commit that does not make it is carried by the next one (or
         * repeated after a rebalance), and until then the message is recognised as
         * answered by this runner's spool. */
        commit_part(c, topic, partition);
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
        rd_kafka_topic_partition_list_t *l = commit_list(c, NULL);
        bool confirmed = commit_bounded(c, l);
        rd_kafka_topic_partition_list_destroy(l);
        c->closed = true;
        int ret = 0;
        if (confirmed) {
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
        for (size_t i = 0; i < c->n_parts; i++)
                c->parts[i].owned = c->parts[i].fresh = false;
        c->epoch++;
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
                if (c->lookup_q) {
                        rd_kafka_queue_io_event_enable(c->lookup_q, -1, NULL, 0);
                        rd_kafka_queue_destroy(c->lookup_q);
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
        jr_kafka_link(c, NULL);
        for (size_t i = 0; i < c->n_parts; i++)
                part_free(&c->parts[i]);
        free(c->parts);
        free(c->group_id);
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

/* Records of one source partition handed to librdkafka and not acknowledged yet (the
 * topic is the spool's interned name). */
struct pin {
        const char *topic;
        int32_t partition;
        size_t n;
};

struct jr_kafka_producer {
        struct common com;
        rd_kafka_t *rk;
        rd_kafka_queue_t *q;
        int efd;
        jr_spool *spool;
        uint64_t cursor;  /* every pending seq <= cursor was handed over (or is in retries/held) */
        size_t in_flight; /* handed to librdkafka, no delivery report yet */
        size_t max_in_flight;
        struct retry *retries;
        size_t n_retries, cap_retries;
        /* records with a source that may not be produced yet, ascending seq */
        uint64_t *held;
        size_t n_held, cap_held;
        bool hold_sourced;
        jr_kafka_consumer *consumer; /* linked: the gate */
        uint64_t epoch_seen;         /* the consumer's epoch when held was last gated */
        bool regate;
        struct pin *pins;
        size_t n_pins, cap_pins;
        size_t dropped;
        bool closing;
        void (*on_delivered)(void *opaque, uint64_t seq, const char *topic, const void *key,
                             size_t key_len);
        void *opaque;
};

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
                if (p->n_pins == p->cap_pins) {
                        size_t cap = p->cap_pins ? 2 * p->cap_pins : 8;
                        struct pin *n = realloc(p->pins, cap * sizeof *n);
                        if (!n)
                                return; /* a revocation then waits less than it could */
                        p->pins = n;
                        p->cap_pins = cap;
                }
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

/* Keep `seq` for later, in seq order. */
static void held_add(jr_kafka_producer *p, uint64_t seq)
{
        if (p->n_held == p->cap_held) {
                size_t cap = p->cap_held ? p->cap_held * 2 : 64;
                uint64_t *n = realloc(p->held, cap * sizeof *n);
                if (!n) {
                        logf_(&p->com, 3,
                              "out of memory: spool record %" PRIu64 " waits for the next start",
                              seq);
                        return;
                }
                p->held = n;
                p->cap_held = cap;
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
        return (enum verdict)consumer_gate(p->consumer, src);
}

/* The group's committed offset passed this record's message: someone answered it. */
static void drop_seq(jr_kafka_producer *p, uint64_t seq, jr_spool_kind kind,
                     const jr_spool_source *src)
{
        jr_error err;
        if (jr_spool_remove(p->spool, seq, &err) < 0) {
                logf_(&p->com, 3, "drop spool record %" PRIu64 ": %s", seq, err.msg);
                return;
        }
        p->dropped++;
        /* its message is answered: if this member still has it in flight, it is done */
        if (kind == JR_SPOOL_RESULT && p->consumer &&
            jr_kafka_consumer_done(p->consumer, src->topic, src->partition, src->offset, &err) < 0)
                logf_(&p->com, 4, "%s", err.msg);
        logf_(&p->com, kind == JR_SPOOL_RESULT ? 6 : 7,
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
                logf_(&p->com, 4, "%s; retrying in %d ms", err.msg, RETRY_BACKOFF_MIN_MS);
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
                        logf_(&p->com, 4, "%s; retrying in %d ms", err.msg, r->backoff_ms);
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
                logf_(&p->com, 3, "delivery of spool record %" PRIu64 " to \"%s\" failed: %s", seq,
                      rd_kafka_topic_name(m->rkt), rd_kafka_err2str(m->err));
                retry_add(p, seq, RETRY_BACKOFF_MIN_MS);
                return;
        }
        jr_error err;
        if (jr_spool_remove(p->spool, seq, &err) < 0)
                logf_(&p->com, 3, "delivered, but: %s", err.msg);
        /* The answer to its message is with the broker: the message is done, and its
         * offset may be committed (kafka.h, DELIVERY CONTRACT). */
        if (pending && kind == JR_SPOOL_RESULT && src.topic && p->consumer &&
            jr_kafka_consumer_done(p->consumer, src.topic, src.partition, src.offset, &err) < 0)
                logf_(&p->com, 4, "%s", err.msg);
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

static void producer_drain(jr_kafka_producer *p, const rd_kafka_topic_partition_list_t *parts,
                           int timeout_ms)
{
        int64_t deadline = (int64_t)jr_mono_ms() + timeout_ms;
        size_t left;
        while ((left = pins_of(p, parts)) > 0) {
                int64_t wait = deadline - (int64_t)jr_mono_ms();
                if (wait <= 0) {
                        logf_(&p->com, 4,
                              "%zu record(s) of revoked partitions not acknowledged within %d "
                              "ms: if the broker has them, their messages may be answered twice",
                              left, timeout_ms);
                        return;
                }
                rd_kafka_poll(p->rk, wait > 100 ? 100 : (int)wait);
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
                p->hold_sourced = opts->hold_sourced;
        }
        /* Infinite message timeout: an outage delays delivery, it never fails it (the
         * spool holds the data either way). No lingering: a record is produced when its
         * loop pass is durable, and what one pass hands over goes out as one batch anyway;
         * librdkafka's default (5 ms) was a quarter of the hand-off around the judge. */
        static const char *const defaults[] = {"message.timeout.ms", "0", "linger.ms", "0", NULL};
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
                    p->consumer ? part_find(p->consumer, src.topic, src.partition) : NULL;
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
