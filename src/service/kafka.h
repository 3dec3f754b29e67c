/* jr_kafka: the Kafka side of `jailrun serve` (librdkafka), plus an embedded broker.
 *
 * Four objects, each owned by the caller and used from ONE thread (the supervisor's
 * event loop):
 *   jr_kafka_config    the KAFKA_* environment of docs/messages.md
 *   jr_kafka_broker    librdkafka's mock cluster (rdkafka_mock.h) running in-process:
 *                      KAFKA_BROKERS=embedded, `jailrun broker`, the tests
 *   jr_kafka_consumer  high-level group consumer of KAFKA_TOPIC with manual commits,
 *                      pause/resume back-pressure and a wake-up fd for epoll
 *   jr_kafka_producer  idempotent producer (acks=all) that sends what a jr_spool holds
 *                      and deletes each record when the broker acknowledges it
 * Message payloads are opaque bytes here; keys are submission ids.
 *
 * PROCESS MODEL (read this first). librdkafka starts threads in rd_kafka_new(), and so
 * does the mock cluster. A process with threads must not clone jails: the child gets a
 * copy of malloc and libc locks that other threads may hold. Nothing in this module runs
 * at program start (no constructors, no global init), so the supervisor must:
 *   1. block SIGTERM/SIGINT/SIGHUP/SIGCHLD (signalfd) -- new threads inherit the mask
 *      (librdkafka additionally blocks all signals in its own threads);
 *   2. fork the single-threaded spawner process that will clone every jail;
 *   3. only then create the broker (if embedded), the consumer and the producer.
 * jr_kafka_*_new() never fork, and every fd they create is O_CLOEXEC.
 *
 * EVENT LOOP. Consumer and producer each expose an eventfd (jr_kafka_*_fd()) that
 * librdkafka writes to when their queue turns non-empty (rd_kafka_queue_io_event_enable).
 * Put both in the epoll set; when one is readable call jr_kafka_consumer_poll() until it
 * returns 0, or jr_kafka_producer_service(). Also honour jr_kafka_*_timeout_ms() as the
 * epoll timeout: the consumer must be polled at least that often to stay in its group,
 * and the producer retries failed records on a timer. There is no sleeping anywhere.
 *
 * DELIVERY CONTRACT (nothing lost; one result per message, with one named window):
 *   consume message -> judge -> jr_kafka_producer_submit(result, source = the message's
 *   coordinates) -> durable in the spool at the next producer turn -> produced -> the
 *   broker acknowledges it -> the producer marks the message done
 *   (jr_kafka_consumer_done) -> offset stored and committed.
 * The committed offset of a partition only moves past offsets that are done, in order,
 * so with several executions in flight a crash never skips an unfinished submission,
 * and a committed offset past a message means its result is with the broker. A message
 * that needs no result (a "done" message, one found already answered in the spool) is
 * marked done by the caller.
 *
 * OWNERSHIP (several runners in one group; jr_kafka_link ties the two handles). The
 * producer sends a spooled record that has a source only when
 *   - the consumer owns the source's partition now, and has read the group's committed
 *     offset of it since it was assigned (one lookup, HANDOVER_GRACE_MS = 1 s after the
 *     assignment), and
 *   - that offset has not passed the source's offset, nor does the commit's metadata
 *     list it as answered;
 * it drops the record once either says the message is answered (someone else answered
 * it), and holds it otherwise (another member owns the partition and may answer the
 * message itself; the consumer looks up committed offsets of such partitions every
 * couple of seconds while records wait). Commits carry, as metadata ("jr1:" and
 * distances), the messages answered above the committed offset (executions finish out
 * of order; an offset alone can only say "everything below"), so the next owner skips
 * them too. On revocation, the member stops sending records of those partitions, waits
 * (up to 5 s) for the acks of those already sent, commits, and only then lets the
 * partitions go: the next owner starts behind everything this member answered. A broker
 * that refuses that commit because the group is rebalancing (librdkafka's mock cluster
 * does; Kafka accepts it) gets it again right after the rebalance, within the new
 * owner's grace, merged with what the group committed meanwhile, and again after each
 * further rebalance that refuses it (up to a minute); a commit refused that way while
 * results were still going out stops further results until the next assignment.
 * Records without a source (older spools, --produce) are sent as before.
 * What remains: a runner that dies after the broker took a result (acknowledged or not)
 * and before its offset commit reached the broker (or whose revocation wait timed out on
 * a slow broker, or whose repeated commit came after the new owner's grace) leaves a
 * message whose answer the next owner (or the restarted runner, from its spool) gives
 * once more. Every result and event carries its
 * message's coordinates, so a consumer can drop such a second answer. Records are
 * produced in spool order; a record acknowledged just before a crash, whose file
 * deletion did not reach the disk, is sent once more after restart (the same window). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "spool.h"

/* ---- configuration ------------------------------------------------------------ */

#define JR_KAFKA_EMBEDDED "embedded"
/* Partitions of each topic the embedded broker creates. */
#define JR_KAFKA_EMBEDDED_PARTITIONS 4

typedef struct jr_kafka_config {
        char *brokers;       /* KAFKA_BROKERS (localhost:9092); "embedded" = start a mock */
        char *topic;         /* KAFKA_TOPIC (scripts): submissions */
        char *group_id;      /* KAFKA_GROUP_ID (scrc-runner) */
        char *results_topic; /* KAFKA_RESULTS_TOPIC (script-results) */
        char *events_topic;  /* KAFKA_EVENTS_TOPIC (script-events); NULL = events disabled */
        /* JAILRUN_KAFKA_CONFIG: extra librdkafka properties, "name=value;name=value".
         * "consumer.name=value" / "producer.name=value" apply to one handle only, plain
         * names to both. E.g. "consumer.session.timeout.ms=6000" (see the doubts about the
         * mock cluster's group timing in jr_kafka_broker below), "security.protocol=ssl".
         * NULL when unset. */
        char *extra;
        /* Consumer fetch.wait.max.ms default; 0 = librdkafka's (500 ms). A real broker
         * answers a waiting fetch as soon as data arrives, the mock cluster only when the
         * wait is over, so against it this wait is the produce->consume latency.
         * jr_kafka_config_use_broker() sets JR_KAFKA_MOCK_FETCH_WAIT_MS. */
        int fetch_wait_max_ms;
} jr_kafka_config;

/* Fetch wait against the mock cluster: the produce->consume latency is up to this (half
 * of it on average) instead of ~500 ms. The cost is idle fetching, measured for an idle
 * embedded serve (broker and consumer) on the 2-core dev VM: 2.3 % of a core at 10 ms,
 * 3.1 % at 5 ms, 7.3 % at 2 ms, 8.3 % at 1 ms. */
#define JR_KAFKA_MOCK_FETCH_WAIT_MS 5

/* Fill *cfg from the environment (unset or empty variables take the defaults, except
 * that an empty KAFKA_EVENTS_TOPIC disables events). Free with jr_kafka_config_free(). */
int jr_kafka_config_from_env(jr_kafka_config *cfg, jr_error *e);
void jr_kafka_config_free(jr_kafka_config *cfg);
#define _cleanup_kafka_config_ __attribute__((cleanup(jr_kafka_config_free)))
bool jr_kafka_config_is_embedded(const jr_kafka_config *cfg);
/* Replace cfg->brokers. */
int jr_kafka_config_set_brokers(jr_kafka_config *cfg, const char *brokers, jr_error *e);

/* Log sink for librdkafka's messages and this module's own reports (broker down, commit
 * failures, retries). `level` is a syslog level (3 error, 4 warning, 5 notice, 6 info,
 * 7 debug); `source` names the handle ("consumer", "producer", "broker"). The consumer's
 * and producer's sinks are called from the thread that polls them; the broker's sink is
 * called from librdkafka's threads and must be thread-safe. NULL = one plain line on
 * stderr. */
typedef void jr_kafka_log_fn(void *opaque, int level, const char *source, const char *msg);

/* ---- embedded broker (librdkafka mock cluster) ---------------------------------- */

/* What librdkafka 2.0.2's mock cluster does, as measured by tests/unit/test_kafka.c:
 * produce (idempotent too), fetch, consumer groups with JoinGroup/SyncGroup/Heartbeat/
 * OffsetCommit/OffsetFetch (committed offsets survive a consumer restart), topic
 * auto-creation, rd_kafka_mock_broker_set_down/set_up. It keeps at most 5 MB or 100000
 * messages per partition (older ones are dropped) and everything lives in memory.
 * Group timing differs from a real broker: the first join of a group waits 3 s (the
 * group.initial.rebalance.delay), and a member joining right after the last one left
 * waits session.timeout.ms - 1 s (44 s with the default 45 s): use a short
 * consumer.session.timeout.ms (6000) against it when consumers restart. */
typedef struct jr_kafka_broker jr_kafka_broker;

typedef struct jr_kafka_topic_spec {
        const char *name;
        int partitions; /* <= 0: JR_KAFKA_EMBEDDED_PARTITIONS */
} jr_kafka_topic_spec;

/* Start a one-broker mock cluster on 127.0.0.1 (ephemeral port) and create the topics.
 * Starts threads: see PROCESS MODEL. `log` may be NULL (stderr); only warnings and
 * errors are passed on. */
int jr_kafka_broker_start(const jr_kafka_topic_spec *topics, size_t n_topics, jr_kafka_log_fn *log,
                          void *log_opaque, jr_kafka_broker **out, jr_error *e);
/* The three topics of `cfg` (events only when enabled), `partitions` each (<= 0: default). */
int jr_kafka_broker_start_for(const jr_kafka_config *cfg, int partitions, jr_kafka_log_fn *log,
                              void *log_opaque, jr_kafka_broker **out, jr_error *e);
/* "127.0.0.1:PORT", valid until jr_kafka_broker_stop(). */
const char *jr_kafka_broker_bootstraps(const jr_kafka_broker *b);
/* Simulate an outage: down = the broker drops its connections and refuses new ones
 * (its data is kept); up again = it accepts connections. */
int jr_kafka_broker_set_down(jr_kafka_broker *b, bool down, jr_error *e);
/* Point cfg at the embedded broker (KAFKA_BROKERS=embedded): its bootstrap address, and
 * the short fetch wait the mock cluster needs. Clients in other processes talking to a
 * `jailrun broker` want JAILRUN_KAFKA_CONFIG="consumer.fetch.wait.max.ms=5" for the
 * same latency. */
int jr_kafka_config_use_broker(jr_kafka_config *cfg, const jr_kafka_broker *b, jr_error *e);
/* Stop the cluster (all messages are lost). Clients still connected just see the broker
 * disappear. NULL is fine. */
void jr_kafka_broker_stop(jr_kafka_broker *b);
static inline void jr_kafka_broker_stopp(jr_kafka_broker **b)
{
        jr_kafka_broker_stop(*b);
}
#define _cleanup_kafka_broker_ __attribute__((cleanup(jr_kafka_broker_stopp)))

/* ---- consumer ----------------------------------------------------------------- */

typedef struct jr_kafka_consumer jr_kafka_consumer;

/* One consumed message; the pointers are valid until jr_kafka_msg_free(). */
typedef struct jr_kafka_msg {
        const char *topic;
        int32_t partition;
        int64_t offset;
        const void *key; /* NULL when the message has no key */
        size_t key_len;
        const void *value; /* NULL when the message has no value */
        size_t value_len;
        int64_t timestamp_ms; /* -1 when unknown */
        void *priv;           /* the rd_kafka_message_t */
} jr_kafka_msg;

typedef struct jr_kafka_consumer_options {
        jr_kafka_log_fn *log; /* NULL: stderr */
        void *log_opaque;
        /* Told after partitions were assigned (assigned = true) or revoked. On revocation
         * the offsets already done have been committed; messages still in flight on those
         * partitions will be delivered again to their new owner, and their later
         * jr_kafka_consumer_done() is ignored. May be NULL. */
        void (*on_rebalance)(void *opaque, bool assigned, const char *topic,
                             const int32_t *partitions, size_t n);
        void *opaque;
} jr_kafka_consumer_options;

/* Join group cfg->group_id and subscribe to cfg->topic. enable.auto.commit and
 * enable.auto.offset.store are off; auto.offset.reset=earliest (a submission produced
 * before the first runner started is still judged); the prefetch queue is kept small
 * (queued.max.messages.kbytes=4096) so that a long backlog stays in the broker. Starts
 * threads: see PROCESS MODEL. */
int jr_kafka_consumer_new(const jr_kafka_config *cfg, const jr_kafka_consumer_options *opts,
                          jr_kafka_consumer **out, jr_error *e);
/* Readable when there is something to poll. Owned by the consumer. */
int jr_kafka_consumer_fd(const jr_kafka_consumer *c);
/* Longest the caller may wait before the next jr_kafka_consumer_poll() (ms, >= 0):
 * librdkafka leaves the group when the application stops polling for
 * max.poll.interval.ms, even while paused. */
int jr_kafka_consumer_timeout_ms(const jr_kafka_consumer *c);
/* Serve rebalances, commit results and logs, then return the next message: 1 with *msg
 * set, 0 when nothing is pending (wait for the fd), < 0 on a fatal consumer error.
 * Non-fatal errors (broker down, ...) are logged, not returned. While paused, no message
 * is returned. Every returned message is "in flight" until jr_kafka_consumer_done(). */
int jr_kafka_consumer_poll(jr_kafka_consumer *c, jr_kafka_msg **msg, jr_error *e);
void jr_kafka_msg_free(jr_kafka_msg *msg);
static inline void jr_kafka_msg_freep(jr_kafka_msg **msg)
{
        jr_kafka_msg_free(*msg);
}
#define _cleanup_kafka_msg_ __attribute__((cleanup(jr_kafka_msg_freep)))
/* The message at (topic, partition, offset) is finished: its result was acknowledged by
 * the broker (a linked producer calls this itself), or it needs none. Moves the
 * partition's committed offset past every contiguous finished message and commits
 * asynchronously. Unknown messages (partition revoked meanwhile) are ignored. */
int jr_kafka_consumer_done(jr_kafka_consumer *c, const char *topic, int32_t partition,
                           int64_t offset, jr_error *e);
/* Back-pressure: stop (or restart) fetching on every assigned partition, including ones
 * assigned later while paused. Messages fetched but not yet returned by poll are dropped
 * by librdkafka and fetched again after resume, from the position after the last message
 * poll returned. */
int jr_kafka_consumer_pause(jr_kafka_consumer *c, bool pause, jr_error *e);
bool jr_kafka_consumer_paused(const jr_kafka_consumer *c);
/* Whether the message at (topic, partition, offset) is known to be answered already
 * (by this runner or another): the group's committed offset passed it, or the last
 * commit's metadata lists it. A message consumed again after a rebalance is then marked
 * done without judging it. */
bool jr_kafka_consumer_answered(const jr_kafka_consumer *c, const char *topic, int32_t partition,
                                int64_t offset);
/* Every partition this member owns has its committed offset read since the assignment
 * (results for them may go out), and no rebalance is under way. */
bool jr_kafka_consumer_settled(const jr_kafka_consumer *c);
/* Messages returned by poll and not yet done (on partitions still assigned). */
size_t jr_kafka_consumer_in_flight(const jr_kafka_consumer *c);
/* Messages of the assigned partitions not consumed yet: the sum of high watermark minus
 * position, from librdkafka's cached values (no broker round trip); -1 when nothing is
 * known yet (no assignment, no fetch). */
int64_t jr_kafka_consumer_lag(const jr_kafka_consumer *c);
/* Commit what is done and leave the group, waiting at most 5 s for the broker: when the
 * commit is not confirmed in time (broker unreachable), the group is left without a
 * goodbye (the broker notices at session.timeout.ms) and the uncommitted submissions are
 * seen again later (by this runner: found answered in its spool; by another: the window
 * of DELIVERY CONTRACT). Idempotent. */
int jr_kafka_consumer_close(jr_kafka_consumer *c, jr_error *e);
/* Close (errors ignored) and free. NULL is fine. If the close had to give up because the
 * broker was unreachable, librdkafka's handle is deliberately not destroyed (its destroy
 * would block until the broker returns): call this on the way out of the process. */
void jr_kafka_consumer_free(jr_kafka_consumer *c);
static inline void jr_kafka_consumer_freep(jr_kafka_consumer **c)
{
        jr_kafka_consumer_free(*c);
}
#define _cleanup_kafka_consumer_ __attribute__((cleanup(jr_kafka_consumer_freep)))

/* ---- producer ----------------------------------------------------------------- */

typedef struct jr_kafka_producer jr_kafka_producer;

typedef struct jr_kafka_producer_options {
        jr_kafka_log_fn *log; /* NULL: stderr */
        void *log_opaque;
        /* Told after record `seq` was acknowledged and removed from the spool. May be NULL. */
        void (*on_delivered)(void *opaque, uint64_t seq, const char *topic, const void *key,
                             size_t key_len);
        void *opaque;
        /* Records handed to librdkafka at a time (0 = 10000); the rest wait in the spool. */
        size_t max_in_flight;
        /* Records with a source follow the OWNERSHIP rule: they wait for a linked consumer
         * (jr_kafka_link) to own their partition. false: they are sent like any other. */
        bool hold_sourced;
} jr_kafka_producer_options;

/* Idempotent producer (enable.idempotence=true, acks=all, message.timeout.ms=0: a message
 * is retried until the broker takes it, however long the outage) that delivers the
 * records of `spool`, which must outlive it. Everything already pending in the spool is
 * handed over at once (the replay), before any new record. Starts threads: see PROCESS
 * MODEL. */
int jr_kafka_producer_new(const jr_kafka_config *cfg, jr_spool *spool,
                          const jr_kafka_producer_options *opts, jr_kafka_producer **out,
                          jr_error *e);
int jr_kafka_producer_fd(const jr_kafka_producer *p);
/* ms until jr_kafka_producer_service() must run even if the fd stays quiet (a failed
 * record's retry is due), or -1. */
int jr_kafka_producer_timeout_ms(const jr_kafka_producer *p);
/* Write a record to the spool (jr_spool_append; `source` may be NULL); the next
 * jr_kafka_producer_service() makes it durable and hands it over. Returns 0, or
 * JR_SPOOL_DUPLICATE for a RESULT whose source message already has one (nothing is
 * sent), or < 0 when the spool write failed (nothing will be sent). */
int jr_kafka_producer_submit(jr_kafka_producer *p, jr_spool_kind kind, const char *topic,
                             const void *key, size_t key_len, const void *value, size_t value_len,
                             const jr_spool_source *source, jr_error *e);
/* Sync the spool (jr_spool_sync: what was submitted becomes durable), serve delivery
 * reports (acknowledged records leave the spool), logs and errors, and hand waiting
 * records over. < 0 on a spool sync failure (the message says "spool": stop) or on a
 * fatal producer error (e.g. the idempotent producer was fenced): free it and create a
 * new one, which replays the spool. */
int jr_kafka_producer_service(jr_kafka_producer *p, jr_error *e);
/* Records in the spool that the broker has not acknowledged yet and that this runner
 * will send: not those held for partitions it does not own. */
size_t jr_kafka_producer_unacked(const jr_kafka_producer *p);
/* Records waiting for their partition (OWNERSHIP), and records dropped since start
 * because the group's committed offset passed them. */
size_t jr_kafka_producer_held(const jr_kafka_producer *p);
size_t jr_kafka_producer_dropped(const jr_kafka_producer *p);
/* Serve until every spooled record is acknowledged, or timeout_ms passes (< 0: no
 * limit). Returns 0 when all are delivered, ETIMEDOUT error otherwise. For shutdown. */
int jr_kafka_producer_flush(jr_kafka_producer *p, int timeout_ms, jr_error *e);
/* Free without waiting; unacknowledged records stay in the spool for the next start.
 * NULL is fine. */
void jr_kafka_producer_free(jr_kafka_producer *p);

/* Tie a consumer and a producer for the OWNERSHIP rule and the commit after the ack
 * (either may be NULL to untie). Freeing either unties them. */
void jr_kafka_link(jr_kafka_consumer *c, jr_kafka_producer *p);
static inline void jr_kafka_producer_freep(jr_kafka_producer **p)
{
        jr_kafka_producer_free(*p);
}
#define _cleanup_kafka_producer_ __attribute__((cleanup(jr_kafka_producer_freep)))
