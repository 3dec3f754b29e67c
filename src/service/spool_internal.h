/* The spool's state, private to its two files:
 *   spool.c           the records: append, sync, read, remove; open and close
 *   spool_finished.c  the finished record: the answered sources (finished.log) */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "spool.h"

/* A record: pending in idx (synced: visible to next/read/peek), or in uns since the last
 * sync. src_topic is a 1-based index into the spool's source topics, 0 when the record
 * has no source. */
struct idx_entry {
        uint64_t seq;
        int64_t src_off;
        int32_t src_part;
        uint16_t src_topic;
        uint8_t kind;
        bool gone;
};

/* The pending-result table: source coordinates -> seq of the RESULT answering them
 * (seq 0: empty slot), open addressing, linear probing. */
struct pend {
        uint64_t seq;
        int64_t off;
        int32_t part;
        uint16_t topic;
};

/* An entry of the finished record (coordinate key bytes, see FIN_MAGIC). */
struct fin_id {
        uint64_t hash;
        uint32_t len;
        char *id;
};

#define TOPICS_MAX 1024 /* distinct source topics one spool can name */

struct jr_spool {
        int dirfd;
        int lockfd;
        char *dir;
        bool sync;
        uint64_t next_seq;

        /* source topic names, interned: records refer to them by index + 1 */
        char **topics;
        size_t n_topics;

        /* pending records, ascending seq; removed ones are tombstoned and swept */
        struct idx_entry *idx;
        size_t idx_len, idx_cap, idx_head, idx_gone;

        /* written since the last sync (never gone); the first one's fd stays open while
         * it is alone */
        struct idx_entry *uns;
        size_t uns_len, uns_cap;
        int uns_fd;

        /* RESULT records pending (synced or not) by source */
        struct pend *pend;
        size_t pend_mask, pend_count;

        /* finished coordinates: a ring of the newest `fin_max`, indexed by an
         * open-addressing table of ring positions + 1 (0 = empty slot), linear probing */
        int finfd;
        size_t fin_max;
        struct fin_id *ring;
        size_t ring_head, ring_count;
        uint32_t *table;
        size_t table_mask;
        size_t fin_log_len;
        off_t fin_size; /* bytes of finished.log written successfully */
        bool fin_dirty; /* finished.log has appends that no sync covered yet */
        /* SipHash's key, random per process: the finished table's keys come from the
         * broker (topic names and offsets), but a keyed hash costs nothing and keeps the
         * table safe from flooding whatever its keys become. */
        uint8_t hash_key[16];

        jr_spool_stats stats;
};

/* fsync (or, with `data`, fdatasync) unless syncing is off; counted. */
int spool_sync_fd(jr_spool *s, int fd, bool data);

/* ---- the finished record (spool_finished.c) ---- */

/* Load finished.log on open; a torn or corrupt tail (a crash mid-append) is cut off; a
 * file of the older format (no magic) is counted and replaced by an empty one. */
int spool_fin_load(jr_spool *s, jr_error *e);
/* Whether the source's answer is in the finished record. */
bool spool_fin_has_source(const jr_spool *s, const char *topic, int32_t part, int64_t off);
/* Remember an answered source (memory and log); see spool_finished.c for when the log
 * entry becomes durable. */
int spool_fin_add_source(jr_spool *s, const char *topic, int32_t part, int64_t off, jr_error *e);
