/* The supervisor's state, private to its three files:
 *   serve.c          configuration, start-up, the event loop and its phases, teardown
 *   serve_slots.c    the executor pool: the queue, dispatch, frames, deaths, respawns
 *   serve_consume.c  Kafka in and out: consuming, answering invalid messages, results,
 *                    --produce, the consumer and producer as sources of the loop
 *
 * One thread of its own, one epoll loop (see serve_source). The executors are forked
 * before any thread exists: Kafka (which starts librdkafka's threads) is started only
 * once every executor is ready (kafka.h, PROCESS MODEL). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"
#include "executor.h"
#include "jail.h"
#include "kafka.h"
#include "lang.h"
#include "message.h"
#include "metrics.h"
#include "serve.h"
#include "spool.h"

/* Records handed to librdkafka at a time; the rest wait in the spool, on disk: a burst of
 * results while the broker is slow costs no memory. Plenty to keep a broker busy. */
#define PRODUCER_IN_FLIGHT 1000
/* Back-pressure with hysteresis: pause the consumer when this many submissions (or bytes)
 * wait for an executor, resume when half of that is left. Not "pause while all executors
 * are busy, resume when one frees up": librdkafka 2.0.2 takes up to a second to fetch
 * again after a resume (its broker thread notices on its next 1 s wake-up) and drops
 * what it had prefetched at each pause, so pausing per submission idled the executors
 * between short jobs. A few dozen waiting submissions are still a bounded queue. */
#define QUEUE_HIGH       64
#define QUEUE_HIGH_BYTES ((size_t)16 << 20)
#define CONSUME_BATCH    256 /* messages handled per turn of the loop */
#define STARTUP_MS       120000
#define RESPAWN_MAX_MS   10000
#define EXECUTOR_TRIES   2 /* judge attempts of one submission when executors die */

struct serve;
struct unspooled;

/* ---- the event loop's sources --------------------------------------------------------- */

/* One fd in the loop's epoll set and what to do about it. The loop knows nothing else
 * about what it waits for: a new kind of input (an HTTP daemon's epoll fd, a results
 * store) is a new entry in enum serve_src with its own ops. */
struct serve_source;
struct serve_source_ops {
        const char *name;
        /* The fd is readable (level-triggered). May be NULL when tick() does the work. */
        void (*ready)(struct serve *s, struct serve_source *src);
        /* Optional: ms until tick() must run even if the fd stays quiet; -1: no deadline. */
        int (*timeout_ms)(struct serve *s);
        /* Optional: runs once per turn of the loop, after the events and the executors'
         * turn, in enum serve_src order. */
        void (*tick)(struct serve *s);
};
struct serve_source {
        int fd; /* -1: not in the loop (not started, or removed) */
        const struct serve_source_ops *ops;
        void *data; /* the ops' own (a slot) */
};

/* The loop's fixed sources; executors' sockets are sources too, one per slot. */
enum serve_src {
        SERVE_SRC_SIGNAL,   /* the signalfd: SIGCHLD, SIGTERM/SIGINT, SIGHUP */
        SERVE_SRC_METRICS,  /* the Prometheus endpoint's listening socket */
        SERVE_SRC_PRODUCER, /* serviced before the consumer on each turn */
        SERVE_SRC_CONSUMER,
        SERVE_SRC_FRONT, /* the HTTP front door's consumer of results and events */
        SERVE_SRC_HTTP,  /* the HTTP front door's listener (after FRONT: it answers what
                            FRONT stored in the same turn) */
        SERVE_SRC__COUNT,
};

/* Add src (with its ops already set) to the loop under fd; the fd stays its owner's. */
int serve_source_add(struct serve *s, struct serve_source *src, int fd, jr_error *e);
/* Take src out of the loop; events already returned for it this turn are skipped. */
void serve_source_remove(struct serve *s, struct serve_source *src);

/* ---- jobs and slots ------------------------------------------------------------------- */

struct job {
        uint64_t no;
        jr_kafka_msg *msg; /* owned; its offset is done once the result is durable */
        char *id;
        size_t id_len;
        char *language;
        char *fallback;
        size_t fallback_len;
        unsigned attempts;
        uint64_t next_seq; /* events of lower seq were produced already */
        int64_t consumed_ms, started_ms;
        char last_death[128];
        struct job *next;
};

void job_free(struct job *j);
static inline void job_freep(struct job **j)
{
        job_free(*j);
}
#define _cleanup_job_ __attribute__((cleanup(job_freep)))

enum slot_state {
        SLOT_DOWN,     /* no process; respawn at respawn_at */
        SLOT_STARTING, /* spawned, waiting for READY */
        SLOT_IDLE,
        SLOT_BUSY,
};

struct slot {
        unsigned index;
        enum slot_state state;
        pid_t pid;
        struct serve_source src; /* its fd: our end of the executor's socket, -1: closed */
        jr_frame_reader rd;
        struct job *job;
        int64_t respawn_at;
        unsigned deaths; /* consecutive deaths without a finished job */
        char **argv;
};

/* ---- the supervisor ------------------------------------------------------------------- */

enum phase {
        PHASE_STARTING, /* executors starting, no Kafka yet */
        PHASE_RUNNING,
        PHASE_FLUSHING, /* nothing in flight: waiting for the broker's acknowledgements */
        PHASE_EXIT,
};

struct serve {
        /* configuration: the command line's, then the environment's */
        jr_serve_opts o;
        jr_sandbox_opts sandbox_opts;
        uid_t uid_base; /* slot i runs as uid_base + i */
        const char *metrics_addr;
        unsigned parallel;
        uint64_t expected;
        size_t max_input;
        size_t finished_max;

        /* resources */
        int epfd, sigfd, exe_fd;
        struct serve_source src[SERVE_SRC__COUNT];
        jr_lang_set *langs;
        jr_kafka_config kcfg;
        jr_kafka_broker *broker;
        jr_kafka_consumer *consumer;
        jr_kafka_producer *producer;
        jr_spool *spool;
        jr_sandbox *sandbox;
        jr_metrics_server *metrics;
        struct serve_http *http; /* NULL: no HTTP front door */
        struct slot *slots;
        char tmp_spool[64]; /* the embedded broker's private spool, removed at exit */

        /* the loop */
        enum phase phase;
        bool stop_consuming; /* no more messages: done, SCRIPT_EXPECTED, a signal, fatal */
        bool drop_queue;     /* stopping on a signal: queued jobs stay in the broker */
        bool cons_ready;     /* the consumer's fd was readable this turn */
        bool cons_more;      /* consume() stopped at CONSUME_BATCH: call it again at once */
        int exit_status;
        int64_t startup_deadline, flush_deadline;
        struct job *queue_head, *queue_tail;
        size_t queued, queued_bytes;
        uint64_t next_job;
        uint64_t received, judged, invalid, skipped, duplicates, executor_deaths;
        int64_t started_ms;

        /* the spool's file system is full: records wait in memory (serve_spool.c) */
        struct unspooled *unspooled_head, *unspooled_tail;
        size_t unspooled, unspooled_bytes, events_dropped;
        bool spool_full;
        int64_t spool_retry_at;
};

/* ---- serve.c -------------------------------------------------------------------------- */

/* Stop consuming. finish_queue: the jobs already consumed are judged too ("done",
 * SCRIPT_EXPECTED); otherwise only those executing are (a signal, a fatal error). */
void serve_stop(struct serve *s, const char *why, bool finish_queue, int status);
/* Log what failed and stop with exit status 1. */
void serve_fatal(struct serve *s, const char *what, const jr_error *e);

/* ---- serve_slots.c -------------------------------------------------------------------- */

/* Allocate the slots and spawn every executor (before any thread exists). */
int serve_slots_start(struct serve *s, jr_error *e);
/* Close every executor's socket (busy ones are killed first), reap them, free the slots. */
void serve_slots_free(struct serve *s);
/* SIGCHLD: reap the executors that exited, retry or answer their jobs, plan respawns. */
void serve_slots_reap(struct serve *s);
/* Respawn the executors whose time came. */
void serve_slots_respawn_due(struct serve *s);
/* ms until the next respawn is due, -1 when none is planned. */
int64_t serve_slots_timeout_ms(const struct serve *s, int64_t now);
unsigned serve_slots_busy(const struct serve *s);
bool serve_slots_all_idle(const struct serve *s);
/* Hand queued jobs to idle executors. */
void serve_dispatch(struct serve *s);
void serve_queue_push(struct serve *s, struct job *j);
struct job *serve_queue_pop(struct serve *s);
/* Drop the jobs of partition `partition` of `topic` still waiting in the queue. */
void serve_queue_revoke(struct serve *s, const char *topic, const int32_t *parts, size_t n);

/* ---- serve_consume.c ------------------------------------------------------------------ */

extern const struct serve_source_ops serve_consumer_ops, serve_producer_ops;

/* Every executor is ready: start the broker (if embedded), the producer (replaying the
 * spool), produce --produce, and create the consumer. Only now may threads start. */
int serve_kafka_start(struct serve *s, jr_error *e);
/* Back-pressure: pause or resume the consumer (when there is one). */
void serve_consumer_pause(struct serve *s, bool pause);
/* Spool the result with its message's coordinates (a "source" object added to the
 * JSON) and print it (--print-results); the producer marks the message done once the
 * broker has it. 0, or < 0 when the spool failed (fatal: nothing can be made durable). */
int serve_deliver_result(struct serve *s, const jr_kafka_msg *msg, const char *id, size_t id_len,
                         const jr_buf *json);

/* ---- serve_http.c --------------------------------------------------------------------- */

extern const struct serve_source_ops serve_front_ops, serve_http_ops;

/* JAILRUN_HTTP_ADDR (or EXECUTOR_PORT) and the other settings of the front door; s->http
 * stays NULL without an address. Nothing is started. */
int serve_http_configure(struct serve *s, jr_error *e);
/* The Kafka properties an HTTP front door wants (after jr_kafka_config_from_env). */
int serve_http_kafka_defaults(struct serve *s, jr_error *e);
/* Open the results store (before the executors: it fails early). */
int serve_http_open(struct serve *s, jr_error *e);
/* After the producer exists: the front door's consumer and the listener. */
int serve_http_start(struct serve *s, jr_error *e);
/* Stop taking submissions; answer whoever waits. */
void serve_http_stop(struct serve *s);
void serve_http_free(struct serve *s);
/* An event or a result this process just spooled: into the store at once. */
void serve_http_local_event(struct serve *s, const char *id, size_t id_len, const void *json,
                            size_t len);
void serve_http_local_result(struct serve *s, const char *id, size_t id_len, const void *json,
                             size_t len);
void serve_http_collect_metrics(struct serve *s);

/* ---- serve_spool.c -------------------------------------------------------------------- */

/* The coordinates of a consumed message, as a spool source (pointers into m). */
jr_spool_source serve_source_of(const jr_kafka_msg *m);
/* `json` (one object) with "source":{"topic","partition","offset"} of m added at its
 * end; out->ptr is malloc'd. -1: out of memory. */
int serve_json_with_source(const void *json, size_t len, const jr_kafka_msg *m, jr_buf *out);
/* Spool a record through the producer. 0 (spooled, or kept in memory while the spool's
 * file system is full), JR_SPOOL_DUPLICATE, or < 0 (e filled: stop). */
int serve_spool_put(struct serve *s, jr_spool_kind kind, const char *topic, const void *key,
                    size_t key_len, const void *value, size_t value_len, const jr_spool_source *src,
                    jr_error *e);
/* The spool is full: consume nothing, dispatch nothing. */
bool serve_spool_blocked(const struct serve *s);
/* Records kept in memory for a full spool. */
size_t serve_spool_waiting(const struct serve *s);
/* ms until the next try of a full spool, -1: none waiting. */
int serve_spool_timeout_ms(const struct serve *s);
/* Try the records that wait for room again (when due); consuming resumes once all fit. */
void serve_spool_retry(struct serve *s);
/* Make what this pass of the loop appended durable: one data sync and one directory
 * fsync for all of it (jr_spool_sync); nothing is produced before. < 0: fatal (logged). */
int serve_spool_sync(struct serve *s);
void serve_spool_free(struct serve *s);
/* m needs no result of ours (it has one): done now when that result was delivered; when
 * it is still in the spool, the producer marks m done once the broker has it. */
void serve_message_answered(struct serve *s, const jr_kafka_msg *m);
/* m is answered already by another runner (the group's commit says so): log it, mark it
 * done and return true; false: judge it. */
bool serve_answered_elsewhere(struct serve *s, const jr_kafka_msg *m);
