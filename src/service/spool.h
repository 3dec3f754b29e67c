/* jr_spool: the durable outbox between the judge and Kafka.
 *
 * Every outgoing record (an event or a result: topic, key, value, and the Kafka
 * coordinates of the submission it answers) is written to its own file in the spool
 * directory before it is handed to the producer, and the file is removed only when the
 * broker has acknowledged the message. A crash or a broker outage therefore loses
 * nothing: on start the records still in the spool are replayed, in the order they were
 * written.
 *
 * Layout of the directory (default /var/lib/jailrun/spool, env JAILRUN_SPOOL_DIR):
 *   lock                  flock'd while a process owns the spool (one owner at a time)
 *   <seq as 16 hex>.rec   one record; seq grows monotonically, so name order = write order
 *   .tmp-<seq>            a record being written; a leftover after a crash is removed
 *   finished.log          coordinates of the messages whose result was spooled (bounded)
 *
 * DURABILITY IN PASSES. jr_spool_append() writes a record to a temporary name and
 * returns; the record is not durable and not visible to jr_spool_next() yet. The owner
 * calls jr_spool_sync() once per pass of its loop: one data sync for everything written
 * since the last pass (fdatasync when it is one file, else syncfs), the renames to the
 * final names, one fsync of the directory. Only then do the records become pending. So
 * a pass that writes a 1000-test submission's events costs two syncs, not two thousand,
 * and nothing can be handed to the producer (or an offset committed behind it) before it
 * is on disk. A record file's final name always holds a complete record (a checksum
 * catches media corruption). All access goes through the directory fd with O_NOFOLLOW.
 *
 * SOURCES AND THE FINISHED RECORD. A record may carry its source: the Kafka coordinates
 * (topic, partition, offset) of the submission message it answers. A RESULT with a
 * source is the answer to that message, and there is at most one per message: a second
 * RESULT for the same coordinates is suppressed (JR_SPOOL_DUPLICATE). Ids are not a key
 * (the same id may come again in a new message, which is a new submission). The
 * coordinates of answered messages are kept in finished.log after their result left the
 * spool, so that a message seen again (its offset commit was lost in a crash) is
 * recognised: the newest `finished_max` of them (default 100000), an append-only log,
 * compacted when it holds twice that many, whose torn tail (a crash mid-append) is cut
 * off on open. On open, the coordinates of results still pending are added too.
 *
 * An older finished.log (before coordinates: submission ids, no "JRF2" header) cannot
 * be converted and is discarded on open (stats.finished_discarded says how many ids it
 * held): that version committed a message's offset as soon as its result was spooled, so
 * those messages lie behind their group's committed offsets and are not read again.
 * Records of the older format ("JRS1", no source) are still read and delivered.
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
/* A source topic name longer than this is not kept (Kafka's own limit is 249). */
#define JR_SPOOL_TOPIC_MAX 255
/* One record: topic + key + value. Kafka's default message.max.bytes is about 1 MB; the
 * judge caps results and events at 256 KiB. */
#define JR_SPOOL_RECORD_MAX (16u * 1024 * 1024)

typedef struct jr_spool jr_spool;

typedef enum jr_spool_kind {
        JR_SPOOL_EVENT = 1,  /* progress event (or any record without duplicate suppression) */
        JR_SPOOL_RESULT = 2, /* result: at most one per source message */
} jr_spool_kind;

/* The Kafka coordinates of the submission message a record answers. topic NULL: none. */
typedef struct jr_spool_source {
        const char *topic;
        int32_t partition;
        int64_t offset;
} jr_spool_source;

typedef struct jr_spool_options {
        /* Finished coordinates kept (0 = JR_SPOOL_DEFAULT_FINISHED_MAX). */
        size_t finished_max;
        /* Skip every sync (tests and benchmarks only: durability is the point). */
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
        jr_spool_source source; /* source.topic is malloc'd too; NULL when none */
} jr_spool_record;

typedef struct jr_spool_stats {
        size_t pending;            /* records written and not acknowledged (synced or not) */
        size_t unsynced;           /* of which written since the last jr_spool_sync() */
        size_t finished;           /* coordinates in the finished record */
        size_t tmp_removed;        /* leftover temporary files removed on open */
        size_t corrupt;            /* record files that failed their checksum (renamed *.bad) */
        size_t duplicates;         /* results suppressed since open */
        size_t finished_errors;    /* failed writes to finished.log (the entry stays in memory) */
        size_t finished_log_len;   /* entries in finished.log (compacted at 2 * finished_max) */
        size_t finished_discarded; /* ids in an old-format finished.log discarded on open */
        uint64_t syncs;            /* fsync, fdatasync and syncfs calls since open */
        uint64_t sync_passes;      /* jr_spool_sync() calls that had something to sync */
} jr_spool_stats;

/* The spool directory from JAILRUN_SPOOL_DIR, else JR_SPOOL_DEFAULT_DIR. */
const char *jr_spool_dir_from_env(void);

/* Open (creating the directory and its missing parents, mode 0750) and lock the spool,
 * remove temporary leftovers, index the pending records and load the finished record.
 * `opts` may be NULL. Fails if another process holds the spool. */
int jr_spool_open(const char *dir, const jr_spool_options *opts, jr_spool **out, jr_error *e);
/* Sync what was appended (errors ignored: unsynced records are garbage at the next open),
 * close the files and release the lock; the records stay on disk. NULL is fine. */
void jr_spool_close(jr_spool *s);

/* Write a record (`source` may be NULL). It becomes durable and pending at the next
 * jr_spool_sync(). Returns 0 with *seq_out (may be NULL) set; or, for a RESULT whose
 * source message already has one (pending or delivered), returns 1 (JR_SPOOL_DUPLICATE)
 * and writes nothing; < 0 on error, nothing written (ENOSPC and EDQUOT when the file
 * system is full: e->err says so, and a later append may succeed). */
#define JR_SPOOL_DUPLICATE 1
int jr_spool_append(jr_spool *s, jr_spool_kind kind, const char *topic, const void *key,
                    size_t key_len, const void *value, size_t value_len,
                    const jr_spool_source *source, uint64_t *seq_out, jr_error *e);
/* Make everything appended since the last call durable and pending: one data sync, the
 * renames, one directory fsync. 0 when there was nothing to do. On failure the records
 * not yet renamed are dropped (the caller should stop: it cannot know what is on disk). */
int jr_spool_sync(jr_spool *s, jr_error *e);
/* Records appended and not synced yet. */
size_t jr_spool_unsynced(const jr_spool *s);

/* The broker acknowledged record `seq`, or it is not needed any more: delete its file.
 * Unknown (or unsynced) seqs fail with ENOENT. */
int jr_spool_remove(jr_spool *s, uint64_t seq, jr_error *e);

/* Iterate pending records in order: the first pending seq greater than `after` (0 = from
 * the start). Returns 1 and sets *seq, or 0 when there is none. */
int jr_spool_next(const jr_spool *s, uint64_t after, uint64_t *seq);
/* Kind and source of pending record `seq` from memory (no disk access). source->topic
 * points into the spool, valid until it is closed. 0, or -1 when seq is not pending. */
int jr_spool_peek(const jr_spool *s, uint64_t seq, jr_spool_kind *kind, jr_spool_source *source);
/* Read record `seq` from disk and verify it. */
int jr_spool_read(jr_spool *s, uint64_t seq, jr_spool_record *rec, jr_error *e);
void jr_spool_record_free(jr_spool_record *rec);

/* What the spool knows about a source message. */
typedef enum jr_spool_answer {
        JR_SPOOL_UNANSWERED = 0, /* no result for it (within the last finished_max) */
        JR_SPOOL_ANSWER_PENDING, /* its result is in the spool, not yet acknowledged */
        JR_SPOOL_ANSWERED,       /* its result was delivered (or dropped as answered elsewhere) */
} jr_spool_answer;
jr_spool_answer jr_spool_answer_of(const jr_spool *s, const jr_spool_source *source);

size_t jr_spool_pending(const jr_spool *s);
void jr_spool_get_stats(const jr_spool *s, jr_spool_stats *st);
/* The directory, as given to jr_spool_open(). */
const char *jr_spool_dir(const jr_spool *s);
