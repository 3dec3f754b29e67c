/* jr_spool: the durable outbox between the judge and Kafka.
 *
 * Every outgoing record (an event or a result: topic, key, value) is written to its own
 * file in the spool directory before it is handed to the producer, and the file is
 * removed only when the broker has acknowledged the message. A crash or a broker outage
 * therefore loses nothing: on start the records still in the spool are replayed, in the
 * order they were written.
 *
 * Layout of the directory (default /var/lib/jailrun/spool, env JAILRUN_SPOOL_DIR):
 *   lock                  flock'd while a process owns the spool (one owner at a time)
 *   <seq as 16 hex>.rec   one record; seq grows monotonically, so name order = write order
 *   .tmp-<seq>            a record being written; a leftover after a crash is removed
 *   finished.log          ids of submissions whose result was spooled (bounded, see below)
 *
 * A record file is written to a temporary name, fsync'd, renamed to its final name and
 * the directory fsync'd: a final name always holds a complete record (and a checksum
 * catches media corruption). All access goes through the directory fd with O_NOFOLLOW.
 *
 * Exactly one result per submission id: when a RESULT record is appended, its key (the
 * submission id) is added to the finished-id record after the record is durable; a later
 * RESULT with the same id (the submission was judged again after a crash, before its
 * consumer offset was committed) is suppressed. The record keeps the newest
 * `finished_max` ids (default 100000): an append-only log, compacted when it holds twice
 * that many, whose torn tail (a crash mid-append) is cut off on open. On open, the ids of
 * results still pending in the spool are added too, so a crash between the two writes
 * cannot let a duplicate through.
 *
 * Ordering contract: records are replayed in seq (= append) order; a caller that appends
 * one submission's events in seq order and then its result gets them replayed that way.
 *
 * Not thread-safe: one owner, one thread (the supervisor's event loop). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define JR_SPOOL_DEFAULT_DIR          "/var/lib/jailrun/spool"
#define JR_SPOOL_DEFAULT_FINISHED_MAX 100000
/* Submission ids longer than this are spooled and delivered normally but are not
 * remembered in the finished-id record (no duplicate suppression for them). The message
 * layer should reject such ids as invalid anyway. */
#define JR_SPOOL_ID_MAX 1024
/* One record: topic + key + value. Kafka's default message.max.bytes is about 1 MB; the
 * judge caps results and events at 256 KiB. */
#define JR_SPOOL_RECORD_MAX (16u * 1024 * 1024)

typedef struct jr_spool jr_spool;

typedef enum jr_spool_kind {
        JR_SPOOL_EVENT = 1,  /* progress event: no duplicate suppression */
        JR_SPOOL_RESULT = 2, /* result: key = submission id, at most one per id */
} jr_spool_kind;

typedef struct jr_spool_options {
        /* Finished ids kept (0 = JR_SPOOL_DEFAULT_FINISHED_MAX). */
        size_t finished_max;
        /* Skip fsync (tests and benchmarks only: durability is the point of the spool). */
        bool no_sync;
} jr_spool_options;

/* A record read back from the spool. All buffers are malloc'd and NUL-terminated (the
 * NUL is not counted in the lengths); free with jr_spool_record_free(). */
typedef struct jr_spool_record {
        uint64_t seq;
        jr_spool_kind kind;
        char *topic;
        char *key;
        size_t key_len;
        char *value;
        size_t value_len;
} jr_spool_record;

typedef struct jr_spool_stats {
        size_t pending;          /* records in the spool (written, not yet acknowledged) */
        size_t finished;         /* ids in the finished-id record */
        size_t tmp_removed;      /* leftover temporary files removed on open */
        size_t corrupt;          /* record files that failed their checksum (renamed *.bad) */
        size_t duplicates;       /* results suppressed since open */
        size_t finished_errors;  /* failed writes to finished.log (the id stays in memory) */
        size_t finished_log_len; /* entries in finished.log (compacted at 2 * finished_max) */
} jr_spool_stats;

/* The spool directory from JAILRUN_SPOOL_DIR, else JR_SPOOL_DEFAULT_DIR. */
const char *jr_spool_dir_from_env(void);

/* Open (creating the directory and its missing parents, mode 0750) and lock the spool,
 * remove temporary leftovers, index the pending records and load the finished-id record.
 * `opts` may be NULL. Fails if another process holds the spool. */
int jr_spool_open(const char *dir, const jr_spool_options *opts, jr_spool **out, jr_error *e);
/* Close the files and release the lock; the records stay on disk. NULL is fine. */
void jr_spool_close(jr_spool *s);

/* Durably write a record. Returns 0 with *seq_out (may be NULL) set; or, for a RESULT
 * whose key is an already finished submission id, returns 1 (JR_SPOOL_DUPLICATE) and
 * writes nothing; < 0 on error (nothing is pending then). */
#define JR_SPOOL_DUPLICATE 1
int jr_spool_append(jr_spool *s, jr_spool_kind kind, const char *topic, const void *key,
                    size_t key_len, const void *value, size_t value_len, uint64_t *seq_out,
                    jr_error *e);

/* The broker acknowledged record `seq`: delete its file. Unknown seqs fail with ENOENT. */
int jr_spool_remove(jr_spool *s, uint64_t seq, jr_error *e);

/* Iterate pending records in order: the first pending seq greater than `after` (0 = from
 * the start). Returns 1 and sets *seq, or 0 when there is none. */
int jr_spool_next(const jr_spool *s, uint64_t after, uint64_t *seq);
/* Read record `seq` from disk and verify it. */
int jr_spool_read(jr_spool *s, uint64_t seq, jr_spool_record *rec, jr_error *e);
void jr_spool_record_free(jr_spool_record *rec);

/* Whether a result for submission `id` has been spooled (within the last finished_max). */
bool jr_spool_is_finished(const jr_spool *s, const void *id, size_t id_len);

size_t jr_spool_pending(const jr_spool *s);
void jr_spool_get_stats(const jr_spool *s, jr_spool_stats *st);
