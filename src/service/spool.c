/* The spool: its records (append, sync, read, remove), open and close. See spool.h; the
 * finished record is spool_finished.c. */
#include "spool_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "bytes.h"
#include "cleanup.h"
#include "hash.h"
#include "io.h"
#include "paths.h"

/* ---- on-disk formats -------------------------------------------------------------- */

/* A record file: a header, then its byte strings. Native byte order: the spool never
 * leaves the host that wrote it. The checksum covers the header (with crc set to 0) and
 * the payload.
 *   JRS2 (written now): topic, key, value, source topic; the source's partition and
 *        offset are in the header (flags & REC_HAS_SOURCE).
 *   JRS1 (read only, spools of older versions): topic, key, value; no source. */
#define REC_MAGIC      "JRS2"
#define REC_MAGIC_V1   "JRS1"
#define REC_HAS_SOURCE 0x01
struct rec_header {
        char magic[4];
        uint8_t kind;
        uint8_t flags;
        uint16_t src_topic_len;
        uint32_t topic_len;
        uint32_t key_len;
        uint32_t value_len;
        int32_t src_partition;
        int64_t src_offset;
        uint32_t crc;
        uint32_t pad;
};
_Static_assert(sizeof(struct rec_header) == 40, "record header layout");
struct rec_header_v1 {
        char magic[4];
        uint8_t kind;
        uint8_t pad[3];
        uint32_t topic_len;
        uint32_t key_len;
        uint32_t value_len;
        uint32_t crc;
};
_Static_assert(sizeof(struct rec_header_v1) == 24, "record header layout (v1)");

#define REC_SUFFIX   ".rec"
#define BAD_SUFFIX   ".rec.bad"
#define TMP_PREFIX   ".tmp-"
#define LOCK_NAME    "lock"
#define NAME_MAX_LEN 64

/* ---- helpers -------------------------------------------------------------------- */

static void rec_name(char *buf, size_t n, uint64_t seq)
{
        snprintf(buf, n, "%016" PRIx64 REC_SUFFIX, seq);
}

static void tmp_name(char *buf, size_t n, uint64_t seq)
{
        snprintf(buf, n, TMP_PREFIX "%016" PRIx64, seq);
}

/* "0123456789abcdef.rec" (or .rec.bad when `suffix` says so) -> seq */
static bool parse_name(const char *name, const char *suffix, uint64_t *seq)
{
        size_t n = strlen(name);
        if (n != 16 + strlen(suffix) || strcmp(name + 16, suffix) != 0)
                return false;
        uint64_t v = 0;
        for (int i = 0; i < 16; i++) {
                char c = name[i];
                int d;
                if (c >= '0' && c <= '9')
                        d = c - '0';
                else if (c >= 'a' && c <= 'f')
                        d = c - 'a' + 10;
                else
                        return false;
                v = (v << 4) | (uint64_t)d;
        }
        *seq = v;
        return true;
}

/* Write the iovecs in full (a short write is continued, EINTR retried). */
static int writev_all(int fd, struct iovec *iov, int n)
{
        while (n > 0) {
                ssize_t w = writev(fd, iov, n);
                if (w < 0) {
                        if (errno == EINTR)
                                continue;
                        return -1;
                }
                while (n > 0 && (size_t)w >= iov->iov_len) {
                        w -= (ssize_t)iov->iov_len;
                        iov++;
                        n--;
                }
                if (n > 0) {
                        iov->iov_base = (char *)iov->iov_base + w;
                        iov->iov_len -= (size_t)w;
                }
        }
        return 0;
}

/* ---- the state ---------------------------------------------------------------------- */

const char *jr_spool_dir_from_env(void)
{
        const char *d = getenv("JAILRUN_SPOOL_DIR");
        return d && *d ? d : JR_SPOOL_DEFAULT_DIR;
}

const char *jr_spool_dir(const jr_spool *s)
{
        return s->dir;
}

int spool_sync_fd(jr_spool *s, int fd, bool data)
{
        if (!s->sync)
                return 0;
        s->stats.syncs++;
        return data ? fdatasync(fd) : fsync(fd);
}

/* ---- source topics ------------------------------------------------------------------ */

static uint16_t topic_find(const jr_spool *s, const char *name)
{
        for (size_t i = 0; i < s->n_topics; i++)
                if (!strcmp(s->topics[i], name))
                        return (uint16_t)(i + 1);
        return 0;
}

static int topic_intern(jr_spool *s, const char *name, size_t len, uint16_t *out, jr_error *e)
{
        if (len == 0 || len > JR_SPOOL_TOPIC_MAX || memchr(name, '\0', len))
                return jr_error_set(e, EINVAL, "spool: source topic of %zu bytes", len);
        for (size_t i = 0; i < s->n_topics; i++)
                if (strlen(s->topics[i]) == len && !memcmp(s->topics[i], name, len)) {
                        *out = (uint16_t)(i + 1);
                        return 0;
                }
        if (s->n_topics == TOPICS_MAX)
                return jr_error_set(e, ENOSPC, "spool: more than %d source topics", TOPICS_MAX);
        char **n = realloc(s->topics, (s->n_topics + 1) * sizeof *n);
        if (!n)
                return jr_error_set(e, ENOMEM, "spool: source topics");
        s->topics = n;
        s->topics[s->n_topics] = strndup(name, len);
        if (!s->topics[s->n_topics])
                return jr_error_set(e, ENOMEM, "spool: source topics");
        *out = (uint16_t)++s->n_topics;
        return 0;
}

static const char *topic_name(const jr_spool *s, uint16_t t)
{
        return t ? s->topics[t - 1] : NULL;
}

/* ---- the pending-record index ------------------------------------------------------ */

static int idx_reserve(jr_spool *s, size_t more, jr_error *e)
{
        if (jr_grow(&s->idx, &s->idx_cap, s->idx_len + more, sizeof *s->idx, 64) < 0)
                return jr_error_set(e, ENOMEM, "spool index");
        return 0;
}

static int idx_push(jr_spool *s, const struct idx_entry *ent, jr_error *e)
{
        if (idx_reserve(s, 1, e) < 0)
                return -1;
        s->idx[s->idx_len++] = *ent;
        return 0;
}

/* first index position in [idx_head, idx_len) whose seq is > after */
static size_t idx_upper(const jr_spool *s, uint64_t after)
{
        size_t lo = s->idx_head, hi = s->idx_len;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (s->idx[mid].seq <= after)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo;
}

static struct idx_entry *idx_find(const jr_spool *s, uint64_t seq)
{
        if (seq == 0)
                return NULL;
        size_t i = idx_upper(s, seq - 1);
        if (i < s->idx_len && s->idx[i].seq == seq && !s->idx[i].gone)
                return &s->idx[i];
        return NULL;
}

static void idx_sweep(jr_spool *s)
{
        while (s->idx_head < s->idx_len && s->idx[s->idx_head].gone) {
                s->idx_head++;
                s->idx_gone--;
        }
        if (s->idx_head == s->idx_len) {
                s->idx_head = s->idx_len = 0;
                s->idx_gone = 0;
                return;
        }
        /* compact when most of the array is dead weight */
        size_t live = s->idx_len - s->idx_head - s->idx_gone;
        if (s->idx_head + s->idx_gone > 64 && s->idx_head + s->idx_gone > live) {
                size_t w = 0;
                for (size_t r = s->idx_head; r < s->idx_len; r++)
                        if (!s->idx[r].gone)
                                s->idx[w++] = s->idx[r];
                s->idx_len = w;
                s->idx_head = 0;
                s->idx_gone = 0;
        }
}

static int cmp_entry(const void *a, const void *b)
{
        uint64_t x = ((const struct idx_entry *)a)->seq, y = ((const struct idx_entry *)b)->seq;
        return x < y ? -1 : x > y;
}

/* ---- pending results by source ------------------------------------------------------- */

/* The table's keys are offsets, not attacker input: a fast mixer is enough. */
static size_t pend_home(const jr_spool *s, uint16_t t, int32_t part, int64_t off)
{
        uint64_t h = jr_mix64((uint64_t)off ^ jr_mix64(((uint64_t)t << 32) | (uint32_t)part));
        return (size_t)h & s->pend_mask;
}

/* The slot holding the key, or the empty slot where it would go. */
static size_t pend_slot(const jr_spool *s, uint16_t t, int32_t part, int64_t off)
{
        size_t i = pend_home(s, t, part, off);
        while (s->pend[i].seq != 0 &&
               !(s->pend[i].topic == t && s->pend[i].part == part && s->pend[i].off == off))
                i = (i + 1) & s->pend_mask;
        return i;
}

static bool pend_has(const jr_spool *s, uint16_t t, int32_t part, int64_t off)
{
        return t && s->pend && s->pend[pend_slot(s, t, part, off)].seq != 0;
}

static int pend_insert(jr_spool *s, uint16_t t, int32_t part, int64_t off, uint64_t seq,
                       jr_error *e)
{
        if (!s->pend || 2 * (s->pend_count + 1) > s->pend_mask + 1) {
                size_t size = s->pend ? 2 * (s->pend_mask + 1) : 64;
                struct pend *n = calloc(size, sizeof *n), *old = s->pend;
                if (!n)
                        return jr_error_set(e, ENOMEM, "spool: pending results");
                size_t old_size = old ? s->pend_mask + 1 : 0;
                s->pend = n;
                s->pend_mask = size - 1;
                for (size_t i = 0; i < old_size; i++)
                        if (old[i].seq)
                                s->pend[pend_slot(s, old[i].topic, old[i].part, old[i].off)] =
                                    old[i];
                free(old);
        }
        size_t i = pend_slot(s, t, part, off);
        if (s->pend[i].seq == 0)
                s->pend_count++;
        s->pend[i] = (struct pend){.seq = seq, .off = off, .part = part, .topic = t};
        return 0;
}

/* Backward-shift deletion keeps every entry reachable from its home slot. */
static void pend_delete(jr_spool *s, uint16_t t, int32_t part, int64_t off)
{
        if (!pend_has(s, t, part, off))
                return;
        size_t i = pend_slot(s, t, part, off), j = i;
        for (;;) {
                j = (j + 1) & s->pend_mask;
                if (s->pend[j].seq == 0)
                        break;
                size_t k = pend_home(s, s->pend[j].topic, s->pend[j].part, s->pend[j].off);
                bool movable = (j > i) ? (k <= i || k > j) : (k <= i && k > j);
                if (movable) {
                        s->pend[i] = s->pend[j];
                        i = j;
                }
        }
        s->pend[i].seq = 0;
        s->pend_count--;
}

/* ---- records --------------------------------------------------------------------- */

void jr_spool_record_free(jr_spool_record *rec)
{
        if (!rec)
                return;
        free(rec->topic);
        free(rec->key);
        free(rec->value);
        free((char *)rec->source.topic);
        memset(rec, 0, sizeof *rec);
}

/* Parse and verify a record file's bytes; EBADMSG when they are not a valid record. */
static int parse_record(const jr_spool *s, const char *name, const char *buf, size_t size,
                        uint64_t seq, jr_spool_record *rec, jr_error *e)
{
        struct rec_header h; /* a JRS1 header becomes one without a source */
        size_t hsize;
        uint32_t crc, c;
        if (size >= sizeof h && !memcmp(buf, REC_MAGIC, 4)) {
                memcpy(&h, buf, sizeof h);
                hsize = sizeof h;
                crc = h.crc;
                h.crc = 0;
                c = jr_crc32(0, &h, sizeof h);
        } else if (size >= sizeof(struct rec_header_v1) && !memcmp(buf, REC_MAGIC_V1, 4)) {
                struct rec_header_v1 v1;
                memcpy(&v1, buf, sizeof v1);
                hsize = sizeof v1;
                crc = v1.crc;
                v1.crc = 0;
                c = jr_crc32(0, &v1, sizeof v1);
                h = (struct rec_header){.kind = v1.kind,
                                        .topic_len = v1.topic_len,
                                        .key_len = v1.key_len,
                                        .value_len = v1.value_len};
        } else {
                return jr_error_set(e, EBADMSG, "\"%s/%s\": not a spool record", s->dir, name);
        }
        uint8_t kind = h.kind;
        bool has_source = h.flags & REC_HAS_SOURCE;
        uint32_t topic_len = h.topic_len, key_len = h.key_len, value_len = h.value_len;
        uint32_t src_topic_len = h.src_topic_len;
        uint64_t payload = (uint64_t)topic_len + key_len + value_len + src_topic_len;
        if (payload + hsize != size || (kind != JR_SPOOL_EVENT && kind != JR_SPOOL_RESULT) ||
            (has_source && (src_topic_len == 0 || src_topic_len > JR_SPOOL_TOPIC_MAX)))
                return jr_error_set(e, EBADMSG, "\"%s/%s\": not a spool record", s->dir, name);
        c = jr_crc32(c, buf + hsize, (size_t)payload);
        if (c != crc)
                return jr_error_set(e, EBADMSG, "\"%s/%s\": checksum mismatch", s->dir, name);
        const char *p = buf + hsize;
        jr_spool_record r = {
            .seq = seq, .kind = (jr_spool_kind)kind, .key_len = key_len, .value_len = value_len};
        r.topic = jr_memdup(p, topic_len);
        r.key = jr_memdup(p + topic_len, key_len);
        r.value = jr_memdup(p + topic_len + key_len, value_len);
        bool ok = r.topic && r.key && r.value;
        if (ok && has_source) {
                r.source.topic = jr_memdup(p + topic_len + key_len + value_len, src_topic_len);
                r.source.partition = h.src_partition;
                r.source.offset = h.src_offset;
                ok = r.source.topic && !memchr(r.source.topic, '\0', src_topic_len);
                if (r.source.topic && !ok) {
                        jr_spool_record_free(&r);
                        return jr_error_set(e, EBADMSG, "\"%s/%s\": bad source topic", s->dir,
                                            name);
                }
        }
        if (!ok) {
                jr_spool_record_free(&r);
                return jr_error_set(e, ENOMEM, "read \"%s/%s\"", s->dir, name);
        }
        *rec = r;
        return 0;
}

/* Read and verify a record file; EBADMSG when the contents are not a valid record. */
static int read_record(const jr_spool *s, const char *name, uint64_t seq, jr_spool_record *rec,
                       jr_error *e)
{
        _cleanup_close_ int fd = openat(s->dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return jr_error_errno(e, "open \"%s/%s\"", s->dir, name);
        struct stat st;
        if (fstat(fd, &st) < 0)
                return jr_error_errno(e, "stat \"%s/%s\"", s->dir, name);
        if (!S_ISREG(st.st_mode))
                return jr_error_set(e, EBADMSG, "\"%s/%s\" is not a regular file", s->dir, name);
        if ((size_t)st.st_size < sizeof(struct rec_header_v1) ||
            (uint64_t)st.st_size >
                JR_SPOOL_RECORD_MAX + JR_SPOOL_TOPIC_MAX + sizeof(struct rec_header))
                return jr_error_set(e, EBADMSG, "\"%s/%s\": bad size %lld", s->dir, name,
                                    (long long)st.st_size);
        _cleanup_free_ char *buf = malloc((size_t)st.st_size);
        if (!buf)
                return jr_error_set(e, ENOMEM, "read \"%s/%s\"", s->dir, name);
        ssize_t n = jr_read_full(fd, buf, (size_t)st.st_size);
        if (n < 0)
                return jr_error_errno(e, "read \"%s/%s\"", s->dir, name);
        if (n != st.st_size)
                return jr_error_set(e, EBADMSG, "\"%s/%s\": short read", s->dir, name);
        return parse_record(s, name, buf, (size_t)n, seq, rec, e);
}

int jr_spool_read(jr_spool *s, uint64_t seq, jr_spool_record *rec, jr_error *e)
{
        if (!idx_find(s, seq))
                return jr_error_set(e, ENOENT, "spool record %" PRIu64 " is not pending", seq);
        char name[NAME_MAX_LEN];
        rec_name(name, sizeof name, seq);
        return read_record(s, name, seq, rec, e);
}

int jr_spool_peek(const jr_spool *s, uint64_t seq, jr_spool_kind *kind, jr_spool_source *source)
{
        const struct idx_entry *ent = idx_find(s, seq);
        if (!ent)
                return -1;
        if (kind)
                *kind = (jr_spool_kind)ent->kind;
        if (source)
                *source = (jr_spool_source){.topic = topic_name(s, ent->src_topic),
                                            .partition = ent->src_part,
                                            .offset = ent->src_off};
        return 0;
}

int jr_spool_append(jr_spool *s, jr_spool_kind kind, const char *topic, const void *key,
                    size_t key_len, const void *value, size_t value_len,
                    const jr_spool_source *source, uint64_t *seq_out, jr_error *e)
{
        if (kind != JR_SPOOL_EVENT && kind != JR_SPOOL_RESULT)
                return jr_error_set(e, EINVAL, "spool append: bad kind %d", (int)kind);
        size_t topic_len = topic ? strlen(topic) : 0;
        if (topic_len == 0)
                return jr_error_set(e, EINVAL, "spool append: empty topic");
        if ((uint64_t)topic_len + key_len + value_len > JR_SPOOL_RECORD_MAX)
                return jr_error_set(e, EMSGSIZE, "spool append: record of %zu bytes",
                                    topic_len + key_len + value_len);
        uint16_t src_topic = 0;
        size_t src_len = 0;
        if (source && source->topic) {
                src_len = strlen(source->topic);
                if (topic_intern(s, source->topic, src_len, &src_topic, e) < 0)
                        return jr_error_wrap(e, "spool append");
        }
        if (kind == JR_SPOOL_RESULT && src_topic) {
                if (pend_has(s, src_topic, source->partition, source->offset) ||
                    spool_fin_has_source(s, source->topic, source->partition, source->offset)) {
                        s->stats.duplicates++;
                        return JR_SPOOL_DUPLICATE;
                }
        }
        /* room for the bookkeeping first: after the file is written nothing may fail */
        if (jr_grow(&s->uns, &s->uns_cap, s->uns_len + 1, sizeof *s->uns, 64) < 0)
                return jr_error_set(e, ENOMEM, "spool append");
        uint64_t seq = s->next_seq;
        if (kind == JR_SPOOL_RESULT && src_topic &&
            pend_insert(s, src_topic, source->partition, source->offset, seq, e) < 0)
                return -1;

        struct rec_header h = {.kind = (uint8_t)kind};
        memcpy(h.magic, REC_MAGIC, 4);
        h.topic_len = (uint32_t)topic_len;
        h.key_len = (uint32_t)key_len;
        h.value_len = (uint32_t)value_len;
        if (src_topic) {
                h.flags = REC_HAS_SOURCE;
                h.src_topic_len = (uint16_t)src_len;
                h.src_partition = source->partition;
                h.src_offset = source->offset;
        }
        uint32_t c = jr_crc32(0, &h, sizeof h);
        c = jr_crc32(c, topic, topic_len);
        c = jr_crc32(c, key, key_len);
        c = jr_crc32(c, value, value_len);
        h.crc = jr_crc32(c, src_topic ? source->topic : "", src_len);

        char tmp[NAME_MAX_LEN];
        tmp_name(tmp, sizeof tmp, seq);
        /* O_EXCL: a leftover of the same name would mean two writers. */
        _cleanup_close_ int fd =
            openat(s->dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0) {
                jr_error_errno(e, "create \"%s/%s\"", s->dir, tmp);
                goto fail;
        }
        struct iovec iov[5] = {
            {&h, sizeof h},
            {(void *)topic, topic_len},
            {(void *)key, key_len},
            {(void *)value, value_len},
            {(void *)(src_topic ? source->topic : ""), src_len},
        };
        if (writev_all(fd, iov, 5) < 0) {
                jr_error_errno(e, "write \"%s/%s\"", s->dir, tmp);
                unlinkat(s->dirfd, tmp, 0);
                goto fail;
        }
        /* The sync pass makes it durable. Its fd is kept for that while it is alone in
         * the batch (one fdatasync), closed as soon as a second one comes (one syncfs). */
        if (s->uns_len == 0) {
                s->uns_fd = TAKE_FD(fd);
        } else if (s->uns_fd >= 0) {
                close(s->uns_fd);
                s->uns_fd = -1;
        }
        s->uns[s->uns_len++] = (struct idx_entry){.seq = seq,
                                                  .src_off = src_topic ? source->offset : 0,
                                                  .src_part = src_topic ? source->partition : 0,
                                                  .src_topic = src_topic,
                                                  .kind = (uint8_t)kind};
        s->next_seq++;
        s->stats.pending++;
        s->stats.unsynced++;
        if (seq_out)
                *seq_out = seq;
        return 0;
fail:
        if (kind == JR_SPOOL_RESULT && src_topic)
                pend_delete(s, src_topic, source->partition, source->offset);
        return -1;
}

/* Drop the unsynced records from position `from` on (their temporary files go). */
static void uns_drop(jr_spool *s, size_t from)
{
        for (size_t i = from; i < s->uns_len; i++) {
                const struct idx_entry *u = &s->uns[i];
                char tmp[NAME_MAX_LEN];
                tmp_name(tmp, sizeof tmp, u->seq);
                unlinkat(s->dirfd, tmp, 0);
                if (u->kind == JR_SPOOL_RESULT && u->src_topic)
                        pend_delete(s, u->src_topic, u->src_part, u->src_off);
                s->stats.pending--;
        }
        s->uns_len = from;
}

/* The renamed records [0, n) of the batch become pending (room was reserved). */
static void uns_publish(jr_spool *s, size_t n)
{
        memcpy(s->idx + s->idx_len, s->uns, n * sizeof *s->uns);
        s->idx_len += n;
        /* After the records are durable: a crash before this append is repaired on open,
         * which marks the sources of pending results answered. A failed append is not a
         * failure of the sync (the repair covers it while the result is pending); it is
         * counted instead. */
        for (size_t i = 0; i < n; i++) {
                const struct idx_entry *u = &s->uns[i];
                jr_error ignored;
                if (u->kind == JR_SPOOL_RESULT && u->src_topic &&
                    spool_fin_add_source(s, topic_name(s, u->src_topic), u->src_part, u->src_off,
                                         &ignored) < 0)
                        s->stats.finished_errors++;
        }
}

int jr_spool_sync(jr_spool *s, jr_error *e)
{
        size_t n = s->uns_len;
        if (n == 0)
                return 0;
        s->stats.sync_passes++;
        int fd = s->uns_fd;
        s->uns_fd = -1;
        int ret = 0;
        /* 1. the data, all of it at once: the records (and finished.log's appends of
         * earlier passes). One file alone: fdatasync; several: one syncfs. */
        if (s->sync) {
                bool one = n == 1 && fd >= 0 && !s->fin_dirty;
                s->stats.syncs++;
                if (one ? fdatasync(fd) < 0 : syncfs(s->dirfd) < 0) {
                        ret = jr_error_errno(e, "%s \"%s\"", one ? "fdatasync" : "syncfs", s->dir);
                        if (fd >= 0)
                                close(fd);
                        uns_drop(s, 0);
                        s->stats.unsynced = 0;
                        return ret;
                }
                if (!one)
                        s->fin_dirty = false;
        }
        if (fd >= 0)
                close(fd);
        /* 2. the names: only now does a final name point at data that is on disk */
        size_t renamed = 0;
        if (idx_reserve(s, n, e) < 0) {
                uns_drop(s, 0);
                s->stats.unsynced = 0;
                return -1;
        }
        for (; renamed < n; renamed++) {
                char tmp[NAME_MAX_LEN], name[NAME_MAX_LEN];
                tmp_name(tmp, sizeof tmp, s->uns[renamed].seq);
                rec_name(name, sizeof name, s->uns[renamed].seq);
                if (renameat(s->dirfd, tmp, s->dirfd, name) < 0) {
                        ret = jr_error_errno(e, "rename \"%s/%s\"", s->dir, tmp);
                        break;
                }
        }
        if (renamed < n)
                uns_drop(s, renamed);
        /* 3. the renames themselves */
        if (ret == 0 && spool_sync_fd(s, s->dirfd, false) < 0)
                ret = jr_error_errno(e, "fsync \"%s\"", s->dir);
        /* Renamed records hold complete, synced data: they stay pending even when a later
         * step failed (the caller stops; they are delivered after its next start). */
        uns_publish(s, renamed);
        s->uns_len = 0;
        s->stats.unsynced = 0;
        return ret;
}

size_t jr_spool_unsynced(const jr_spool *s)
{
        return s->uns_len;
}

int jr_spool_remove(jr_spool *s, uint64_t seq, jr_error *e)
{
        struct idx_entry *ent = idx_find(s, seq);
        if (!ent)
                return jr_error_set(e, ENOENT, "spool record %" PRIu64 " is not pending", seq);
        char name[NAME_MAX_LEN];
        rec_name(name, sizeof name, seq);
        /* No directory fsync: if the unlink is lost in a crash the record is sent once
         * more, which is the at-least-once side of the trade. */
        if (unlinkat(s->dirfd, name, 0) < 0 && errno != ENOENT)
                return jr_error_errno(e, "unlink \"%s/%s\"", s->dir, name);
        if (ent->kind == JR_SPOOL_RESULT && ent->src_topic)
                pend_delete(s, ent->src_topic, ent->src_part, ent->src_off);
        ent->gone = true;
        s->idx_gone++;
        s->stats.pending--;
        idx_sweep(s);
        return 0;
}

int jr_spool_next(const jr_spool *s, uint64_t after, uint64_t *seq)
{
        for (size_t i = idx_upper(s, after); i < s->idx_len; i++) {
                if (!s->idx[i].gone) {
                        *seq = s->idx[i].seq;
                        return 1;
                }
        }
        return 0;
}

jr_spool_answer jr_spool_answer_of(const jr_spool *s, const jr_spool_source *source)
{
        if (!source || !source->topic || strlen(source->topic) > JR_SPOOL_TOPIC_MAX)
                return JR_SPOOL_UNANSWERED;
        if (pend_has(s, topic_find(s, source->topic), source->partition, source->offset))
                return JR_SPOOL_ANSWER_PENDING;
        if (spool_fin_has_source(s, source->topic, source->partition, source->offset))
                return JR_SPOOL_ANSWERED;
        return JR_SPOOL_UNANSWERED;
}

size_t jr_spool_pending(const jr_spool *s)
{
        return s->stats.pending;
}

void jr_spool_get_stats(const jr_spool *s, jr_spool_stats *st)
{
        *st = s->stats;
        st->finished = s->ring_count;
        st->finished_log_len = s->fin_log_len;
}

/* ---- open / close ---------------------------------------------------------------- */

/* Index the directory: remove temporary leftovers, collect record seqs. */
static int scan_dir(jr_spool *s, jr_error *e)
{
        int fd = openat(s->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return jr_error_errno(e, "open \"%s\"", s->dir);
        _cleanup_closedir_ DIR *d = fdopendir(fd);
        if (!d) {
                close(fd);
                return jr_error_errno(e, "opendir \"%s\"", s->dir);
        }
        uint64_t max_seq = 0;
        for (;;) {
                errno = 0;
                struct dirent *de = readdir(d);
                if (!de) {
                        if (errno != 0)
                                return jr_error_errno(e, "readdir \"%s\"", s->dir);
                        break;
                }
                uint64_t seq;
                if (!strncmp(de->d_name, TMP_PREFIX, strlen(TMP_PREFIX))) {
                        /* A crash before its sync pass: the record was never handed to
                         * the producer, nor an offset committed behind it: garbage. */
                        if (unlinkat(s->dirfd, de->d_name, 0) < 0 && errno != ENOENT)
                                return jr_error_errno(e, "remove leftover \"%s/%s\"", s->dir,
                                                      de->d_name);
                        s->stats.tmp_removed++;
                } else if (parse_name(de->d_name, REC_SUFFIX, &seq) && seq > 0) {
                        if (idx_push(s, &(struct idx_entry){.seq = seq}, e) < 0)
                                return -1;
                        if (seq > max_seq)
                                max_seq = seq;
                } else if (parse_name(de->d_name, BAD_SUFFIX, &seq) && seq > max_seq) {
                        max_seq = seq;
                }
        }
        if (s->idx_len > 1)
                qsort(s->idx, s->idx_len, sizeof *s->idx, cmp_entry);
        s->next_seq = max_seq + 1;
        return 0;
}

/* Read every pending record once: set its kind and source, quarantine corrupt ones, and
 * mark the sources of pending results answered (repairs a crash between a result's
 * rename and its entry in finished.log). */
static int verify_pending(jr_spool *s, jr_error *e)
{
        for (size_t i = 0; i < s->idx_len; i++) {
                struct idx_entry *ent = &s->idx[i];
                char name[NAME_MAX_LEN];
                rec_name(name, sizeof name, ent->seq);
                jr_spool_record rec;
                jr_error err;
                if (read_record(s, name, ent->seq, &rec, &err) < 0) {
                        /* a symlink where a record should be is as bad as garbage */
                        if (err.err != EBADMSG && err.err != ELOOP) {
                                *e = err;
                                return -1;
                        }
                        char bad[NAME_MAX_LEN];
                        snprintf(bad, sizeof bad, "%016" PRIx64 BAD_SUFFIX, ent->seq);
                        if (renameat(s->dirfd, name, s->dirfd, bad) < 0)
                                return jr_error_errno(e, "quarantine \"%s/%s\"", s->dir, name);
                        ent->gone = true;
                        s->idx_gone++;
                        s->stats.corrupt++;
                        continue;
                }
                ent->kind = (uint8_t)rec.kind;
                int r = 0;
                if (rec.source.topic) {
                        r = topic_intern(s, rec.source.topic, strlen(rec.source.topic),
                                         &ent->src_topic, e);
                        ent->src_part = rec.source.partition;
                        ent->src_off = rec.source.offset;
                }
                if (r == 0 && rec.kind == JR_SPOOL_RESULT && ent->src_topic) {
                        r = pend_insert(s, ent->src_topic, ent->src_part, ent->src_off, ent->seq,
                                        e);
                        if (r == 0)
                                r = spool_fin_add_source(s, rec.source.topic, ent->src_part,
                                                         ent->src_off, e);
                }
                jr_spool_record_free(&rec);
                if (r < 0)
                        return -1;
                s->stats.pending++;
        }
        idx_sweep(s);
        return 0;
}

int jr_spool_open(const char *dir, const jr_spool_options *opts, jr_spool **out, jr_error *e)
{
        jr_spool_options o = opts ? *opts : (jr_spool_options){0};
        if (o.finished_max == 0)
                o.finished_max = JR_SPOOL_DEFAULT_FINISHED_MAX;
        if (o.finished_max > UINT32_MAX / 4)
                return jr_error_set(e, EINVAL, "spool: finished_max %zu too large", o.finished_max);
        if (!dir || !*dir)
                return jr_error_set(e, EINVAL, "spool: empty directory name");

        jr_spool *s = calloc(1, sizeof *s);
        if (!s)
                return jr_error_set(e, ENOMEM, "spool");
        s->dirfd = s->lockfd = s->finfd = s->uns_fd = -1;
        s->sync = !o.no_sync;
        s->fin_max = o.finished_max;
        s->dir = strdup(dir);
        size_t tsize = 1;
        while (tsize < 2 * o.finished_max)
                tsize <<= 1;
        s->table = calloc(tsize, sizeof *s->table);
        s->table_mask = tsize - 1;
        s->ring = calloc(o.finished_max, sizeof *s->ring);
        if (!s->dir || !s->table || !s->ring) {
                jr_spool_close(s);
                return jr_error_set(e, ENOMEM, "spool");
        }
        if (getrandom(s->hash_key, sizeof s->hash_key, 0) != sizeof s->hash_key) {
                jr_error_errno(e, "getrandom");
                jr_spool_close(s);
                return -1;
        }

        int ret = jr_mkdir_p(dir, 0750, e);
        if (ret < 0)
                goto fail;
        /* O_NOFOLLOW on the last component: the spool itself must not be a symlink that
         * someone could point elsewhere. */
        s->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (s->dirfd < 0) {
                ret = jr_error_errno(e, "open spool directory \"%s\"", dir);
                goto fail;
        }
        s->lockfd = openat(s->dirfd, LOCK_NAME, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (s->lockfd < 0) {
                ret = jr_error_errno(e, "open \"%s/%s\"", dir, LOCK_NAME);
                goto fail;
        }
        /* Two supervisors sharing a spool would delete each other's records. */
        if (flock(s->lockfd, LOCK_EX | LOCK_NB) < 0) {
                ret = jr_error_errno(e, "lock spool \"%s\" (another jailrun owns it?)", dir);
                goto fail;
        }
        if ((ret = spool_fin_load(s, e)) < 0)
                goto fail;
        if ((ret = scan_dir(s, e)) < 0)
                goto fail;
        if ((ret = verify_pending(s, e)) < 0)
                goto fail;
        if (s->stats.tmp_removed > 0 && spool_sync_fd(s, s->dirfd, false) < 0) {
                ret = jr_error_errno(e, "fsync \"%s\"", dir);
                goto fail;
        }
        *out = s;
        return 0;
fail:
        jr_error_wrap(e, "open spool");
        jr_spool_close(s);
        return ret;
}

void jr_spool_close(jr_spool *s)
{
        if (!s)
                return;
        if (s->uns_len > 0 && s->dirfd >= 0) {
                jr_error ignored;
                jr_spool_sync(s, &ignored);
        }
        if (s->uns_fd >= 0)
                close(s->uns_fd);
        if (s->ring) {
                for (size_t i = 0; i < s->ring_count; i++)
                        free(s->ring[(s->ring_head + i) % s->fin_max].id);
                free(s->ring);
        }
        for (size_t i = 0; i < s->n_topics; i++)
                free(s->topics[i]);
        free(s->topics);
        free(s->table);
        free(s->idx);
        free(s->uns);
        free(s->pend);
        if (s->finfd >= 0)
                close(s->finfd);
        if (s->lockfd >= 0)
                close(s->lockfd);
        if (s->dirfd >= 0)
                close(s->dirfd);
        free(s->dir);
        free(s);
}
