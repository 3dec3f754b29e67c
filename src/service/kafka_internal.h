/* The Kafka clients' state, private to their four files:
 *   kafka.c           the configuration, what every handle shares (logs, properties, the
 *                     wake-up fd), the embedded broker
 *   kafka_consumer.c  the consumer: offsets in flight, commits, rebalances, hand-overs
 *   kafka_group.c     what the consumer knows of the group's committed offsets: the
 *                     ownership gate (kafka.h, OWNERSHIP) and the committed-offset lookups
 *   kafka_producer.c  the producer: the spool's records out, retries, records held by the
 *                     gate, delivery reports
 * The consumer and the producer are linked (jr_kafka_link): the producer asks the
 * consumer's gate, the consumer drains the producer on a revocation. */
#pragma once

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kafka.h"

/* The first member of every handle that librdkafka's callbacks get as opaque. */
struct common {
        jr_kafka_log_fn *log;
        void *log_opaque;
        const char *source;
        bool fatal;
};

/* The default log: one line on stderr. */
void kafka_log_stderr(void *opaque, int level, const char *source, const char *msg);
void kafka_logf(struct common *c, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

int kafka_conf_set(rd_kafka_conf_t *conf, const char *name, const char *value, jr_error *e);
/* Common properties, then `defaults` (name, value, ..., NULL), then the user's
 * JAILRUN_KAFKA_CONFIG. Logs go through the handle's queue so that they are delivered on
 * the polling thread. */
rd_kafka_conf_t *kafka_conf_new(struct common *com, const jr_kafka_config *cfg, const char *role,
                                const char *const *defaults, jr_error *e);
/* The queue's io event: librdkafka writes an 8-byte 1 to the eventfd when the queue
 * turns non-empty, so epoll wakes up on Kafka activity. */
int kafka_wakeup_attach(rd_kafka_queue_t *q, int *fdp, jr_error *e);
void kafka_wakeup_drain(int fd);

/* ---- the consumer (kafka_consumer.c) ---- */

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
        /* a commit refused at this partition's revocation, repeated after the rebalance
         * (merged with what the group committed meanwhile) until the broker takes it, or
         * until ho_until_ms */
        bool handover;
        int64_t ho_offset;
        char *ho_meta;
        int64_t ho_until_ms;
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

/* Commit metadata: "jr1:" and the offsets above the committed one that are answered
 * already (done out of order, or inherited from the previous owner's commit), as
 * comma-separated distances from it. The next owner skips them. Kafka keeps up to 4096
 * bytes of metadata by default (offset.metadata.max.bytes); past META_MAX the list is cut,
 * and a message left off it may be answered twice if its partition moves. */
#define META_PREFIX "jr1:"
#define META_MAX    2048
/* How long a synchronous commit or committed-offset read (rebalance, close) may block
 * the loop: with the coordinator unreachable librdkafka would wait until the session
 * times out (45 s by default). */
#define COMMIT_WAIT_MS 5000

/* kafka_group.c: a partition's record (NULL: out of memory), created on first use. */
struct part *kafka_part_find(const jr_kafka_consumer *c, const char *topic, int32_t partition);
struct part *kafka_part_get(jr_kafka_consumer *c, const char *topic, int32_t partition);
void kafka_part_free(struct part *pt);
/* Learn from a commit that the group's committed offset is at least `committed` (< 0:
 * none) and that the offsets its "jr1:..." metadata lists are answered too. Returns how
 * many the metadata listed. */
size_t kafka_part_learn_meta(struct part *pt, int64_t committed, const void *meta, size_t size);
/* Read the group's committed offsets of the partitions in `l` and learn them; blocks up
 * to about COMMIT_WAIT_MS. false: no answer, or one naming an error. */
bool kafka_committed_learn(jr_kafka_consumer *c, const rd_kafka_topic_partition_list_t *l);
/* The gate's asynchronous lookups: start one when due, serve the answers, ms until the
 * next is due (-1: none wanted). */
void kafka_lookup_start(jr_kafka_consumer *c);
void kafka_lookup_results(jr_kafka_consumer *c);
int64_t kafka_lookup_wait(const jr_kafka_consumer *c, int64_t now);
/* kafka_consumer.c: commit one partition now (asynchronously), once it is settled. */
void kafka_commit_part(jr_kafka_consumer *c, const char *topic, int32_t partition);

enum gate {
        GATE_SEND, /* this member owns the message's partition, not yet passed: produce it */
        GATE_HOLD, /* not known yet, or owned by another member who may still answer it */
        GATE_DROP, /* the group's committed offset passed it: answered by someone */
};

/* The rule of kafka.h's OWNERSHIP for a record whose source is `src`. */
enum gate kafka_consumer_gate(jr_kafka_consumer *c, const jr_spool_source *src);

/* ---- the producer (kafka_producer.c) ---- */

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
        /* handles of the results and events topics, held from the start so that their
         * metadata is known before the first record (producer_warm) */
        rd_kafka_topic_t *known[2];
        void (*on_delivered)(void *opaque, uint64_t seq, const char *topic, const void *key,
                             size_t key_len);
        void *opaque;
};

/* The producer's side of a revocation: wait up to timeout_ms for the acknowledgements of
 * the records of these partitions. */
void kafka_producer_drain(jr_kafka_producer *p, const rd_kafka_topic_partition_list_t *parts,
                          int timeout_ms);
