/* The spool's finished record: the sources (Kafka coordinates) whose result left the
 * spool, so that a redelivered message is not answered twice. In memory a ring of the
 * newest fin_max keys under an open-addressing table; on disk finished.log, appended to
 * and compacted when it holds twice what memory keeps. See spool_internal.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bytes.h"
#include "cleanup.h"
#include "hash.h"
#include "io.h"
#include "spool_internal.h"

/* finished.log: FIN_MAGIC (8 bytes), then entries: this header, then the key bytes. A
 * key is a source's coordinates: partition (4 bytes), offset (8 bytes), topic. A file
 * without the magic is the older format (ids as keys): discarded on open. */
#define FIN_MAGIC     "JRF2\0\0\0\0"
#define FIN_MAGIC_LEN 8
struct fin_header {
        uint32_t len;
        uint32_t crc; /* of the key bytes */
};
#define FIN_KEY_MAX (12 + JR_SPOOL_TOPIC_MAX)
#define FIN_V1_MAX  1024 /* the longest id the older format stored */

#define FIN_NAME     "finished.log"
#define FIN_TMP_NAME ".tmp-finished.log"

/* The finished record's key of a source: partition, offset, topic. Returns its length. */
static size_t coord_key(char *buf, const char *topic, int32_t part, int64_t off)
{
        uint32_t p = (uint32_t)part;
        uint64_t o = (uint64_t)off;
        for (int i = 0; i < 4; i++)
                buf[i] = (char)(p >> (8 * i));
        for (int i = 0; i < 8; i++)
                buf[4 + i] = (char)(o >> (8 * i));
        size_t tl = strnlen(topic, JR_SPOOL_TOPIC_MAX);
        memcpy(buf + 12, topic, tl);
        return 12 + tl;
}

static size_t fin_lookup_slot(const jr_spool *s, const void *id, size_t len, uint64_t h)
{
        size_t i = (size_t)h & s->table_mask;
        for (;;) {
                uint32_t r = s->table[i];
                if (r == 0)
                        return i;
                const struct fin_id *f = &s->ring[r - 1];
                if (f->hash == h && f->len == len && memcmp(f->id, id, len) == 0)
                        return i;
                i = (i + 1) & s->table_mask;
        }
}

/* Backward-shift deletion keeps every entry reachable from its home slot. */
static void fin_table_delete(jr_spool *s, size_t i)
{
        size_t j = i;
        for (;;) {
                j = (j + 1) & s->table_mask;
                uint32_t r = s->table[j];
                if (r == 0)
                        break;
                size_t k = (size_t)s->ring[r - 1].hash & s->table_mask;
                bool movable = (j > i) ? (k <= i || k > j) : (k <= i && k > j);
                if (movable) {
                        s->table[i] = r;
                        i = j;
                }
        }
        s->table[i] = 0;
}

static bool fin_contains(const jr_spool *s, const void *id, size_t len)
{
        uint64_t h = jr_siphash24(id, len, s->hash_key);
        return s->table[fin_lookup_slot(s, id, len, h)] != 0;
}

bool spool_fin_has_source(const jr_spool *s, const char *topic, int32_t part, int64_t off)
{
        char key[FIN_KEY_MAX];
        return fin_contains(s, key, coord_key(key, topic, part, off));
}

/* Add a key to the in-memory record (evicting the oldest when full). Returns 1 when it
 * was already there. */
static int fin_insert_mem(jr_spool *s, const void *id, size_t len, jr_error *e)
{
        uint64_t h = jr_siphash24(id, len, s->hash_key);
        size_t slot = fin_lookup_slot(s, id, len, h);
        if (s->table[slot] != 0)
                return 1;
        char *copy = jr_memdup(id, len);
        if (!copy)
                return jr_error_set(e, ENOMEM, "finished record");
        size_t pos;
        if (s->ring_count == s->fin_max) {
                pos = s->ring_head;
                struct fin_id *old = &s->ring[pos];
                fin_table_delete(s, fin_lookup_slot(s, old->id, old->len, old->hash));
                free(old->id);
                s->ring_head = (s->ring_head + 1) % s->fin_max;
                /* the deletion may have moved entries: find the new key's slot again */
                slot = fin_lookup_slot(s, id, len, h);
        } else {
                pos = (s->ring_head + s->ring_count) % s->fin_max;
                s->ring_count++;
        }
        s->ring[pos] = (struct fin_id){.hash = h, .len = (uint32_t)len, .id = copy};
        s->table[slot] = (uint32_t)pos + 1;
        return 0;
}

static int fin_write_entry(int fd, const void *id, size_t len)
{
        struct fin_header h = {.len = (uint32_t)len, .crc = jr_crc32(0, id, len)};
        char buf[sizeof h + FIN_KEY_MAX];
        memcpy(buf, &h, sizeof h);
        memcpy(buf + sizeof h, id, len);
        /* one write(): with O_APPEND a crash leaves at most one torn entry at the end */
        return jr_write_all(fd, buf, sizeof h + len);
}

/* Rewrite finished.log with only the keys in memory (the newest fin_max). */
static int fin_compact(jr_spool *s, jr_error *e)
{
        _cleanup_close_ int fd = openat(
            s->dirfd, FIN_TMP_NAME, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return jr_error_errno(e, "open \"%s/%s\"", s->dir, FIN_TMP_NAME);
        off_t size = FIN_MAGIC_LEN;
        if (jr_write_all(fd, FIN_MAGIC, FIN_MAGIC_LEN) < 0)
                goto write_failed;
        for (size_t i = 0; i < s->ring_count; i++) {
                const struct fin_id *f = &s->ring[(s->ring_head + i) % s->fin_max];
                if (fin_write_entry(fd, f->id, f->len) < 0)
                        goto write_failed;
                size += (off_t)(sizeof(struct fin_header) + f->len);
        }
        if (spool_sync_fd(s, fd, false) < 0) {
                jr_error_errno(e, "fsync \"%s/%s\"", s->dir, FIN_TMP_NAME);
                unlinkat(s->dirfd, FIN_TMP_NAME, 0);
                return -1;
        }
        if (renameat(s->dirfd, FIN_TMP_NAME, s->dirfd, FIN_NAME) < 0) {
                jr_error_errno(e, "rename \"%s/%s\"", s->dir, FIN_TMP_NAME);
                unlinkat(s->dirfd, FIN_TMP_NAME, 0);
                return -1;
        }
        if (spool_sync_fd(s, s->dirfd, false) < 0)
                return jr_error_errno(e, "fsync \"%s\"", s->dir);
        int appendfd = openat(s->dirfd, FIN_NAME, O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
        if (appendfd < 0)
                return jr_error_errno(e, "open \"%s/%s\"", s->dir, FIN_NAME);
        if (s->finfd >= 0)
                close(s->finfd);
        s->finfd = appendfd;
        s->fin_log_len = s->ring_count;
        s->fin_size = size;
        s->fin_dirty = false;
        return 0;
write_failed:
        jr_error_errno(e, "write \"%s/%s\"", s->dir, FIN_TMP_NAME);
        unlinkat(s->dirfd, FIN_TMP_NAME, 0);
        return -1;
}

/* Remember an answered source (memory and log). The log entry is not synced here: the
 * next sync pass covers it, and until the result leaves the spool the repair on open
 * covers it. A failed append is cut back off the log, so a later append cannot end up
 * behind a torn entry (which the load would cut off together with everything after it). */
static int fin_add(jr_spool *s, const void *key, size_t len, jr_error *e)
{
        int r = fin_insert_mem(s, key, len, e);
        if (r != 0)
                return r < 0 ? r : 0;
        if (fin_write_entry(s->finfd, key, len) < 0) {
                int saved = errno;
                if (ftruncate(s->finfd, s->fin_size) < 0) {
                        /* nothing better to do: the next open cuts the torn tail */
                }
                errno = saved;
                return jr_error_errno(e, "append to \"%s/%s\"", s->dir, FIN_NAME);
        }
        s->fin_size += (off_t)(sizeof(struct fin_header) + len);
        s->fin_log_len++;
        s->fin_dirty = s->sync;
        if (s->fin_log_len >= 2 * s->fin_max)
                return fin_compact(s, e);
        return 0;
}

int spool_fin_add_source(jr_spool *s, const char *topic, int32_t part, int64_t off, jr_error *e)
{
        char key[FIN_KEY_MAX];
        return fin_add(s, key, coord_key(key, topic, part, off), e);
}

/* Read finished.log entries from f (after its magic) into memory; returns the length of
 * the good prefix in bytes (from the start of the entries). count_only: the older format,
 * whose entries are counted and not kept. */
static int fin_read_entries(jr_spool *s, FILE *f, bool count_only, off_t *good, size_t *count,
                            jr_error *e)
{
        char key[FIN_V1_MAX];
        size_t max = count_only ? FIN_V1_MAX : FIN_KEY_MAX;
        *good = 0;
        *count = 0;
        for (;;) {
                struct fin_header h;
                if (fread(&h, 1, sizeof h, f) != sizeof h)
                        break;
                if (h.len > max || fread(key, 1, h.len, f) != h.len ||
                    jr_crc32(0, key, h.len) != h.crc)
                        break;
                if (!count_only && fin_insert_mem(s, key, h.len, e) < 0)
                        return jr_error_wrap(e, "load \"%s/%s\"", s->dir, FIN_NAME);
                (*count)++;
                *good += (off_t)(sizeof h + h.len);
        }
        if (ferror(f))
                return jr_error_errno(e, "read \"%s/%s\"", s->dir, FIN_NAME);
        return 0;
}

int spool_fin_load(jr_spool *s, jr_error *e)
{
        _cleanup_close_ int fd =
            openat(s->dirfd, FIN_NAME, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return jr_error_errno(e, "open \"%s/%s\"", s->dir, FIN_NAME);
        int rfd = openat(s->dirfd, FIN_NAME, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (rfd < 0)
                return jr_error_errno(e, "open \"%s/%s\"", s->dir, FIN_NAME);
        _cleanup_fclose_ FILE *f = fdopen(rfd, "r");
        if (!f) {
                close(rfd);
                return jr_error_errno(e, "fdopen \"%s/%s\"", s->dir, FIN_NAME);
        }
        char magic[FIN_MAGIC_LEN];
        size_t got = fread(magic, 1, sizeof magic, f);
        bool current = got == FIN_MAGIC_LEN && !memcmp(magic, FIN_MAGIC, FIN_MAGIC_LEN);
        off_t good = 0;
        size_t count = 0;
        if (current) {
                if (fin_read_entries(s, f, false, &good, &count, e) < 0)
                        return -1;
                good += FIN_MAGIC_LEN;
                s->fin_log_len = count;
        } else if (got > 0) {
                /* the older format: ids, which say nothing about coordinates */
                rewind(f);
                if (fin_read_entries(s, f, true, &good, &count, e) < 0)
                        return -1;
                s->stats.finished_discarded = count;
                good = 0;
        }
        struct stat st;
        if (fstat(fd, &st) < 0)
                return jr_error_errno(e, "stat \"%s/%s\"", s->dir, FIN_NAME);
        if (!current) {
                if (ftruncate(fd, 0) < 0 || jr_write_all(fd, FIN_MAGIC, FIN_MAGIC_LEN) < 0 ||
                    spool_sync_fd(s, fd, false) < 0)
                        return jr_error_errno(e, "start \"%s/%s\"", s->dir, FIN_NAME);
                good = FIN_MAGIC_LEN;
        } else if (st.st_size != good) {
                if (ftruncate(fd, good) < 0 || spool_sync_fd(s, fd, false) < 0)
                        return jr_error_errno(e, "truncate torn tail of \"%s/%s\"", s->dir,
                                              FIN_NAME);
        }
        s->fin_size = good;
        s->finfd = openat(s->dirfd, FIN_NAME, O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
        if (s->finfd < 0)
                return jr_error_errno(e, "open \"%s/%s\"", s->dir, FIN_NAME);
        if (s->fin_log_len >= 2 * s->fin_max)
                return fin_compact(s, e);
        return 0;
}
