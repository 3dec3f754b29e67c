/* jr_store: the HTTP front door's results store (docs/http.md), an embedded SQLite
 * database in WAL mode.
 *
 * What it keeps, per execution id: the state (queued, running, done), every event in seq
 * order, and the result. It is filled from the results and events topics, so that a
 * result judged by any runner of the group can be read from any front door, and it lives
 * in a file, so that a restarted front door still answers for old ids.
 *
 *   queued   the front door produced the submission; nothing came back yet
 *   running  at least one event came back, no result yet
 *   done     the result came back (late events are still kept)
 *
 * Ids are byte strings (a Kafka client's ids may hold any byte). Ids are not unique on
 * the wire (messages.md): an event whose seq is already stored with other bytes is a new
 * execution of the same id when its seq is 0 (the old one is forgotten) and replaces the
 * old event otherwise; the same bytes again are a redelivery and change nothing. A new
 * result replaces the old one.
 *
 * Bounds: an execution is forgotten JR_STORE ttl after its last change (jr_store_expire),
 * the oldest executions are forgotten first when the payloads exceed max_bytes, and one
 * execution keeps at most max_events events.
 *
 * Not thread-safe: one store, one thread (the supervisor's loop). Every error is a
 * jr_error naming the step and SQLite's message ("results store
 * \"/var/lib/jailrun/results.db\": insert event: database or disk is full"). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define JR_STORE_TTL_DEFAULT_MS     (24ull * 3600 * 1000)
#define JR_STORE_MAX_BYTES_DEFAULT  ((uint64_t)1 << 30)
#define JR_STORE_MAX_EVENTS_DEFAULT 10000u

typedef struct jr_store jr_store;

typedef struct jr_store_opts {
        const char *path;    /* the database file; ":memory:" for a private one */
        uint64_t ttl_ms;     /* 0: JR_STORE_TTL_DEFAULT_MS */
        uint64_t max_bytes;  /* payload bytes kept (events + results); 0: the default */
        unsigned max_events; /* per execution; 0: the default */
        /* true: every change is on disk when the call returns (synchronous=FULL), so that
         * a consumer may commit its offsets after storing; false: a crash of the machine
         * (not of the process) may lose the changes made since the last jr_store_sync()
         * (synchronous=NORMAL: no fsync per change). */
        bool durable;
} jr_store_opts;

typedef enum jr_exec_state {
        JR_EXEC_UNKNOWN = 0, /* never seen, or expired */
        JR_EXEC_QUEUED,
        JR_EXEC_RUNNING,
        JR_EXEC_DONE,
} jr_exec_state;

/* "queued", "running", "done"; "unknown". */
const char *jr_exec_state_name(jr_exec_state s);

typedef struct jr_exec_info {
        jr_exec_state state;
        uint64_t n_events;
        int64_t created_ms, updated_ms; /* ms since the epoch */
        bool done_event;                /* the "done" event is stored */
} jr_exec_info;

int jr_store_open(const jr_store_opts *opts, jr_store **out, jr_error *e);
void jr_store_close(jr_store *s);
static inline void jr_store_closep(jr_store **s)
{
        jr_store_close(*s);
}
#define _cleanup_store_ __attribute__((cleanup(jr_store_closep)))

/* A submission of this front door: state queued. The id must be new (EEXIST). */
int jr_store_put_queued(jr_store *s, const char *id, size_t id_len, int64_t now_ms, jr_error *e);

/* One event (its JSON as produced to the events topic). type is the event's "type"
 * ("accepted", "build", "test", "done"). */
int jr_store_put_event(jr_store *s, const char *id, size_t id_len, uint64_t seq, const char *type,
                       const void *json, size_t len, int64_t now_ms, jr_error *e);

/* Parse an event message's "seq" and "type" (and "id" when id is NULL; else id is the
 * Kafka key, which keeps bytes that yajl_tree would cut at a \u0000) and store it. EINVAL
 * naming the field when it is not an event. */
int jr_store_put_event_json(jr_store *s, const char *id, size_t id_len, const void *json,
                            size_t len, int64_t now_ms, jr_error *e);

/* The result (its JSON as produced to the results topic): state done. */
int jr_store_put_result(jr_store *s, const char *id, size_t id_len, const void *json, size_t len,
                        int64_t now_ms, jr_error *e);

/* 1 and *info (and *result, when given: a malloc'd NUL-terminated copy, NULL before the
 * result) when the id is known; 0 when it is not (info->state JR_EXEC_UNKNOWN, *result
 * NULL); < 0 on error. */
int jr_store_get(jr_store *s, const char *id, size_t id_len, jr_exec_info *info, char **result,
                 size_t *result_len, jr_error *e);

/* The first stored event of id with seq > after (after < 0: from the first): 1 and its
 * seq, type (NUL-terminated, cut to type_size) and a malloc'd copy of its JSON; 0 when
 * there is none; < 0 on error. */
int jr_store_next_event(jr_store *s, const char *id, size_t id_len, int64_t after, uint64_t *seq,
                        char *type, size_t type_size, char **json, size_t *len, jr_error *e);

/* Forget the executions not changed for ttl_ms; *removed (may be NULL) counts them. */
int jr_store_expire(jr_store *s, int64_t now_ms, uint64_t *removed, jr_error *e);

/* Payload bytes kept now, and executions kept now. */
uint64_t jr_store_bytes(const jr_store *s);
int jr_store_count(jr_store *s, uint64_t *executions, jr_error *e);

/* A setting kept with the data (the front door's consumer group): 1 and a malloc'd
 * *value, 0 when unset. */
int jr_store_meta_get(jr_store *s, const char *key, char **value, jr_error *e);
int jr_store_meta_set(jr_store *s, const char *key, const char *value, jr_error *e);

/* A durability barrier: every change made so far is on disk when this returns (a WAL
 * checkpoint, which fsyncs the log first). For a store opened with durable = false. */
int jr_store_sync(jr_store *s, jr_error *e);
