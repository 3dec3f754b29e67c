/* The end-to-end harness of the tests that drive `jailrun serve` as its clients do
 * (test_serve, test_scale, test_http_e2e, test_compat): a child process that dies with
 * the test, `jailrun broker`, `jailrun serve` with the test's own environment, waits on
 * its log and on its exit, a Kafka producer, and readers of a topic from its beginning.
 *
 * Every wait is bounded by the caller's bound and waits for behaviour (a log line, a
 * message), never for a duration; a failure ends the test with what was seen (the
 * service's log, the count reached). */
#pragma once

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "kafka.h"

/* fork + exec argv with envp: stdin from `in` (< 0: /dev/null), stdout and stderr to `out`
 * and `err` (< 0: inherited). The child leads its own process group, as a shell's
 * foreground job does (a signal to the group reaches serve's executors too), and dies
 * with the test (PR_SET_PDEATHSIG), so that a failed assertion leaves nothing behind. */
pid_t tu_spawn(char *const argv[], char *const envp[], int in, int out, int err);

/* ---- `jailrun broker` ------------------------------------------------------------------ */

struct tu_broker {
        pid_t pid; /* 0: none (stopped, or the test's own broker) */
        char addr[128];
};

/* Start `jailrun broker` and read the address it prints. */
struct tu_broker tu_broker_start(void);
/* SIGCONT (a test may have stopped it), SIGTERM, and reap it; nothing when pid is 0. */
void tu_broker_stop(struct tu_broker *b);

/* ---- `jailrun serve` ------------------------------------------------------------------- */

/* The prefixes of the variables serve reads: what tu_svc_start leaves out of the test's
 * environment unless the test names its own list. */
extern const char *const tu_serve_reads[];

struct tu_serve_opts {
        const char *name;        /* in messages: "serve", "r1", "front" */
        const char *log;         /* its stderr, appended to */
        const char *out;         /* its stdout, appended to; NULL: the log */
        const char *const *drop; /* prefixes of the test's variables it does not get
                                  * (NULL-terminated); NULL: tu_serve_reads */
        const char *const *env;  /* "NAME=value" it gets on top (NULL-terminated, or NULL) */
        const char *const *args; /* after "serve" (NULL-terminated, or NULL) */
};

struct tu_svc {
        pid_t pid;     /* 0 once reaped */
        char name[16]; /* in messages */
        char *log;     /* its stderr (malloc'd) */
        char *out;     /* its stdout (malloc'd), or NULL: the log */
};

/* Start build/jailrun serve as `o` says into *s; s->log and s->out are replaced. */
void tu_svc_start(struct tu_svc *s, const struct tu_serve_opts *o);
/* Wait up to timeout_s for it to exit by itself and return its wait status; past the
 * bound it is killed and the test fails with its log. */
int tu_svc_wait(struct tu_svc *s, int timeout_s);
/* SIGTERM, then tu_svc_wait. */
int tu_svc_term(struct tu_svc *s, int timeout_s);
/* Wait up to timeout_s until its log holds `needle` at least `count` times; returns the
 * log (caller frees). The test fails with the log when the bound passes or the service
 * exits first. */
char *tu_svc_wait_log(const struct tu_svc *s, const char *needle, size_t count, int timeout_s);
/* Kill it if it still runs (SIGKILL), reap it, free the paths. */
void tu_svc_free(struct tu_svc *s);

/* ---- Kafka clients --------------------------------------------------------------------- */

/* A producer (linger.ms 5) with more "name=value" properties (NULL-terminated, or NULL)
 * and a delivery report callback (or NULL). */
rd_kafka_t *tu_producer(const char *brokers, const char *const *props,
                        void (*dr_msg_cb)(rd_kafka_t *, const rd_kafka_message_t *, void *));
/* Produce a copy of value to topic (key NULL: no key; opaque reaches the delivery report),
 * waiting while the local queue is full. */
void tu_produce(rd_kafka_t *rk, const char *topic, const char *key, const void *value, size_t len,
                void *opaque);
/* Wait until everything produced is acknowledged (60 s at most). */
void tu_producer_flush(rd_kafka_t *rk);

/* A consumer assigned every partition of topic from its beginning, in `group` (no
 * commits, fetch.wait.max.ms 10), with more "name=value" properties (or NULL). */
rd_kafka_t *tu_consumer(const char *brokers, const char *group, const char *topic,
                        const char *const *props);

/* A client of consumer group `group` that never joins it: for tu_group_answered. */
rd_kafka_t *tu_group_client(const char *brokers, const char *group);
/* Whether the group has committed message topic[partition]@offset as answered: its
 * committed offset is past it, or the commit's metadata ("jr1:" and distances above the
 * offset, kafka_consumer.c) lists it. */
bool tu_group_answered(rd_kafka_t *rk, const char *topic, int32_t partition, int64_t offset);

/* Every message of a topic read so far, from its beginning. */
struct tu_kmsg {
        char *key; /* "" when none */
        char *value;
        size_t len;
        int32_t partition;
        int64_t offset;
};

struct tu_reader {
        rd_kafka_t *rk;
        struct tu_kmsg *m;
        size_t n, cap;
        bool eof[JR_KAFKA_EMBEDDED_PARTITIONS]; /* at the end of the partition, for now */
};

/* A reader of topic (the embedded broker's partitions), props as tu_consumer's. */
struct tu_reader *tu_reader_new(const char *brokers, const char *group, const char *topic,
                                const char *const *props);
/* Read for up to ms milliseconds. */
void tu_reader_poll(struct tu_reader *r, int ms);
/* Messages with this key so far; the first one (NULL: none). */
size_t tu_reader_count(const struct tu_reader *r, const char *key);
const struct tu_kmsg *tu_reader_find(const struct tu_reader *r, const char *key);
/* Read until every key has a message; fails past timeout_s naming one that has none. */
void tu_reader_wait_keys(struct tu_reader *r, const char *const *keys, size_t n, int timeout_s);
/* Read until the end of every partition (after everything produced so far). */
void tu_reader_drain(struct tu_reader *r, int timeout_s);
void tu_reader_free(struct tu_reader *r);
