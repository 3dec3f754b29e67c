#include "spool.h"

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
#include <unistd.h>

#include "cleanup.h"

/* ---- on-disk formats -------------------------------------------------------------- */

/* A record file: this header, then topic, key and value bytes. Native byte order: the
 * spool never leaves the host that wrote it. The checksum covers the header (with crc
 * set to 0) and the payload. */
#define REC_MAGIC "JRS1"
struct rec_header {
        char magic[4];
        uint8_t kind;
        uint8_t pad[3];
        uint32_t topic_len;
        uint32_t key_len;
        uint32_t value_len;
        uint32_t crc;
};
_Static_assert(sizeof(struct rec_header) == 24, "record header layout");

/* An entry of finished.log: this header, then the id bytes. */
struct fin_header {
        uint32_t len;
        uint32_t crc; /* of the id bytes */
};

#define REC_SUFFIX   ".rec"
#define BAD_SUFFIX   ".rec.bad"
#define TMP_PREFIX   ".tmp-"
#define FIN_NAME     "finished.log"
#define FIN_TMP_NAME ".tmp-finished.log"
#define LOCK_NAME    "lock"
#define NAME_MAX_LEN 64

/* ---- helpers -------------------------------------------------------------------- */

static uint32_t crc_table[256];

static void crc_init(void)
{
        if (crc_table[1])
                return;
        for (uint32_t i = 0; i < 256; i++) {
                uint32_t c = i;
                for (int k = 0; k < 8; k++)
                        c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
                crc_table[i] = c;
        }
}

/* CRC-32 (IEEE), chainable: crc = crc32_update(crc, ...) starting from 0. */
static uint32_t crc32_update(uint32_t crc, const void *data, size_t n)
{
        const uint8_t *p = data;
        crc = ~crc;
        while (n--)
                crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
        return ~crc;
}

/* SipHash-2-4 keyed with a per-process random key: submission ids are user-controlled,
 * so the finished-id table must not be open to hash flooding. */
#define ROTL64(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                                   \
        do {                                                                                       \
                v0 += v1;                                                                          \
                v1 = ROTL64(v1, 13);                                                               \
                v1 ^= v0;                                                                          \
                v0 = ROTL64(v0, 32);                                                               \
                v2 += v3;                                                                          \
                v3 = ROTL64(v3, 16);                                                               \
                v3 ^= v2;                                                                          \
                v0 += v3;                                                                          \
                v3 = ROTL64(v3, 21);                                                               \
                v3 ^= v0;                                                                          \
                v2 += v1;                                                                          \
                v1 = ROTL64(v1, 17);                                                               \
                v1 ^= v2;                                                                          \
                v2 = ROTL64(v2, 32);                                                               \
        } while (0)

static uint64_t load_le64(const uint8_t *p)
{
        uint64_t v = 0;
        for (int i = 7; i >= 0; i--)
                v = (v << 8) | p[i];
        return v;
}

static uint64_t siphash24(const void *data, size_t len, const uint8_t key[16])
{
        const uint8_t *in = data;
        uint64_t k0 = load_le64(key), k1 = load_le64(key + 8);
        uint64_t v0 = 0x736f6d6570736575ULL ^ k0, v1 = 0x646f72616e646f6dULL ^ k1;
        uint64_t v2 = 0x6c7967656e657261ULL ^ k0, v3 = 0x7465646279746573ULL ^ k1;
        size_t full = len & ~(size_t)7;
        for (size_t i = 0; i < full; i += 8) {
                uint64_t m = load_le64(in + i);
                v3 ^= m;
                SIPROUND;
                SIPROUND;
                v0 ^= m;
        }
        uint64_t b = (uint64_t)len << 56;
        for (size_t i = 0; i < (len & 7); i++)
                b |= (uint64_t)in[full + i] << (8 * i);
        v3 ^= b;
        SIPROUND;
        SIPROUND;
        v0 ^= b;
        v2 ^= 0xff;
        SIPROUND;
        SIPROUND;
        SIPROUND;
        SIPROUND;
        return v0 ^ v1 ^ v2 ^ v3;
}

static int write_all(int fd, const void *buf, size_t n)
{
        const char *p = buf;
        while (n > 0) {
                ssize_t w = write(fd, p, n);
                if (w < 0) {
                        if (errno == EINTR)
                                continue;
                        return -1;
                }
                p += w;
                n -= (size_t)w;
        }
        return 0;
}

/* Read exactly n bytes; returns the count read (< n at end of file) or -1. */
static ssize_t read_full(int fd, void *buf, size_t n)
{
        char *p = buf;
        size_t got = 0;
        while (got < n) {
                ssize_t r = read(fd, p + got, n - got);
                if (r < 0) {
                        if (errno == EINTR)
                                continue;
                        return -1;
                }
                if (r == 0)
                        break;
                got += (size_t)r;
        }
        return (ssize_t)got;
}

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

/* mkdir -p for the parents, then the directory itself; an existing one is fine if it
 * is a directory (EEXIST is not "is a directory"). */
static int mkdir_p(const char *path, mode_t mode, jr_error *e)
{
        _cleanup_free_ char *p = strdup(path);
        if (!p)
                return jr_error_set(e, ENOMEM, "spool directory \"%s\"", path);
        for (char *s = p + 1;; s++) {
                if (*s != '/' && *s != '\0')
                        continue;
                char saved = *s;
                *s = '\0';
                if (mkdir(p, mode) < 0 && errno != EEXIST)
                        return jr_error_errno(e, "mkdir \"%s\"", p);
                *s = saved;
                if (saved == '\0')
                        break;
        }
        return 0;
}

/* ---- the pending-record index ------------------------------------------------------ */

struct idx_entry {
        uint64_t seq;
        uint8_t kind;
        bool gone;
};

/* ---- the finished-id record ------------------------------------------------------- */

struct fin_id {
        uint64_t hash;
        uint32_t len;
        char *id;
};

struct jr_spool {
        int dirfd;
        int lockfd;
        char *dir;
        bool sync;
        uint64_t next_seq;

        /* pending records, ascending seq; removed ones are tombstoned and swept */
        struct idx_entry *idx;
        size_t idx_len, idx_cap, idx_head, idx_gone;

        /* finished ids: a ring of the newest `fin_max`, indexed by an open-addressing
         * table of ring positions + 1 (0 = empty slot), linear probing */
        int finfd;
        size_t fin_max;
        struct fin_id *ring;
        size_t ring_head, ring_count;
        uint32_t *table;
        size_t table_mask;
        size_t fin_log_len;
        uint8_t hash_key[16];

        jr_spool_stats stats;
};

const char *jr_spool_dir_from_env(void)
{
        const char *d = getenv("JAILRUN_SPOOL_DIR");
        return d && *d ? d : JR_SPOOL_DEFAULT_DIR;
}

static int sync_fd(jr_spool *s, int fd)
{
        return s->sync ? fsync(fd) : 0;
}

static int idx_push(jr_spool *s, uint64_t seq, uint8_t kind, jr_error *e)
{
        if (s->idx_len == s->idx_cap) {
                size_t cap = s->idx_cap ? s->idx_cap * 2 : 64;
                struct idx_entry *n = realloc(s->idx, cap * sizeof *n);
                if (!n)
                        return jr_error_set(e, ENOMEM, "spool index");
                s->idx = n;
                s->idx_cap = cap;
        }
        s->idx[s->idx_len++] = (struct idx_entry){.seq = seq, .kind = kind};
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

static struct idx_entry *idx_find(jr_spool *s, uint64_t seq)
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

/* ---- finished ids ---------------------------------------------------------------- */

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
        uint64_t h = siphash24(id, len, s->hash_key);
        return s->table[fin_lookup_slot(s, id, len, h)] != 0;
}

/* Add an id to the in-memory record (evicting the oldest when full). Returns 1 when it
 * was already there. */
static int fin_insert_mem(jr_spool *s, const void *id, size_t len, jr_error *e)
{
        uint64_t h = siphash24(id, len, s->hash_key);
        size_t slot = fin_lookup_slot(s, id, len, h);
        if (s->table[slot] != 0)
                return 1;
        char *copy = malloc(len + 1);
        if (!copy)
                return jr_error_set(e, ENOMEM, "finished-id record");
        memcpy(copy, id, len);
        copy[len] = '\0';
        size_t pos;
        if (s->ring_count == s->fin_max) {
                pos = s->ring_head;
                struct fin_id *old = &s->ring[pos];
                fin_table_delete(s, fin_lookup_slot(s, old->id, old->len, old->hash));
                free(old->id);
                s->ring_head = (s->ring_head + 1) % s->fin_max;
                /* the deletion may have moved entries: find the new id's slot again */
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
        struct fin_header h = {.len = (uint32_t)len, .crc = crc32_update(0, id, len)};
        char buf[sizeof h + JR_SPOOL_ID_MAX];
        memcpy(buf, &h, sizeof h);
        memcpy(buf + sizeof h, id, len);
        /* one write(): with O_APPEND a crash leaves at most one torn entry at the end */
        return write_all(fd, buf, sizeof h + len);
}

/* Rewrite finished.log with only the ids in memory (the newest fin_max). */
static int fin_compact(jr_spool *s, jr_error *e)
{
        _cleanup_close_ int fd = openat(
            s->dirfd, FIN_TMP_NAME, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return jr_error_errno(e, "open \"%s/%s\"", s->dir, FIN_TMP_NAME);
        for (size_t i = 0; i < s->ring_count; i++) {
                const struct fin_id *f = &s->ring[(s->ring_head + i) % s->fin_max];
                if (fin_write_entry(fd, f->id, f->len) < 0)
                        return jr_error_errno(e, "write \"%s/%s\"", s->dir, FIN_TMP_NAME);
        }
        if (sync_fd(s, fd) < 0)
                return jr_error_errno(e, "fsync \"%s/%s\"", s->dir, FIN_TMP_NAME);
        if (renameat(s->dirfd, FIN_TMP_NAME, s->dirfd, FIN_NAME) < 0)
                return jr_error_errno(e, "rename \"%s/%s\"", s->dir, FIN_TMP_NAME);
        if (sync_fd(s, s->dirfd) < 0)
                return jr_error_errno(e, "fsync \"%s\"", s->dir);
        int appendfd = openat(s->dirfd, FIN_NAME, O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
        if (appendfd < 0)
                return jr_error_errno(e, "open \"%s/%s\"", s->dir, FIN_NAME);
        if (s->finfd >= 0)
                close(s->finfd);
        s->finfd = appendfd;
        s->fin_log_len = s->ring_count;
        return 0;
}

/* Durably remember a finished id (memory and log). */
static int fin_add(jr_spool *s, const void *id, size_t len, jr_error *e)
{
        if (len > JR_SPOOL_ID_MAX)
                return 0;
        int r = fin_insert_mem(s, id, len, e);
        if (r != 0)
                return r < 0 ? r : 0;
        if (fin_write_entry(s->finfd, id, len) < 0)
                return jr_error_errno(e, "append to \"%s/%s\"", s->dir, FIN_NAME);
        if (s->sync && fdatasync(s->finfd) < 0)
                return jr_error_errno(e, "fsync \"%s/%s\"", s->dir, FIN_NAME);
        s->fin_log_len++;
        if (s->fin_log_len >= 2 * s->fin_max)
                return fin_compact(s, e);
        return 0;
}

/* Load finished.log; a torn or corrupt tail (a crash mid-append) is cut off. */
static int fin_load(jr_spool *s, jr_error *e)
{
        _cleanup_close_ int fd =
            openat(s->dirfd, FIN_NAME, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return jr_error_errno(e, "open \"%s/%s\"", s->dir, FIN_NAME);
        _cleanup_fclose_ FILE *f = NULL;
        int rfd = openat(s->dirfd, FIN_NAME, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (rfd < 0)
                return jr_error_errno(e, "open \"%s/%s\"", s->dir, FIN_NAME);
        f = fdopen(rfd, "r");
        if (!f) {
                close(rfd);
                return jr_error_errno(e, "fdopen \"%s/%s\"", s->dir, FIN_NAME);
        }
        off_t good = 0;
        char id[JR_SPOOL_ID_MAX];
        for (;;) {
                struct fin_header h;
                size_t n = fread(&h, 1, sizeof h, f);
                if (n != sizeof h)
                        break;
                if (h.len > JR_SPOOL_ID_MAX || fread(id, 1, h.len, f) != h.len ||
                    crc32_update(0, id, h.len) != h.crc)
                        break;
                if (fin_insert_mem(s, id, h.len, e) < 0)
                        return jr_error_wrap(e, "load \"%s/%s\"", s->dir, FIN_NAME);
                s->fin_log_len++;
                good += (off_t)(sizeof h + h.len);
        }
        if (ferror(f))
                return jr_error_errno(e, "read \"%s/%s\"", s->dir, FIN_NAME);
        struct stat st;
        if (fstat(fd, &st) < 0)
                return jr_error_errno(e, "stat \"%s/%s\"", s->dir, FIN_NAME);
        if (st.st_size != good) {
                if (ftruncate(fd, good) < 0 || sync_fd(s, fd) < 0)
                        return jr_error_errno(e, "truncate torn tail of \"%s/%s\"", s->dir,
                                              FIN_NAME);
        }
        s->finfd = openat(s->dirfd, FIN_NAME, O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
        if (s->finfd < 0)
                return jr_error_errno(e, "open \"%s/%s\"", s->dir, FIN_NAME);
        if (s->fin_log_len >= 2 * s->fin_max)
                return fin_compact(s, e);
        return 0;
}

/* ---- records --------------------------------------------------------------------- */

void jr_spool_record_free(jr_spool_record *rec)
{
        if (!rec)
                return;
        free(rec->topic);
        free(rec->key);
        free(rec->value);
        memset(rec, 0, sizeof *rec);
}

static char *dup_bytes(const char *p, size_t n)
{
        char *d = malloc(n + 1);
        if (d) {
                memcpy(d, p, n);
                d[n] = '\0';
        }
        return d;
}

/* Read and verify a record file; EBADMSG when the contents are not a valid record. */
static int read_record(jr_spool *s, const char *name, uint64_t seq, jr_spool_record *rec,
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
        struct rec_header h;
        if ((size_t)st.st_size < sizeof h || (uint64_t)st.st_size > JR_SPOOL_RECORD_MAX + sizeof h)
                return jr_error_set(e, EBADMSG, "\"%s/%s\": bad size %lld", s->dir, name,
                                    (long long)st.st_size);
        _cleanup_free_ char *buf = malloc((size_t)st.st_size);
        if (!buf)
                return jr_error_set(e, ENOMEM, "read \"%s/%s\"", s->dir, name);
        ssize_t n = read_full(fd, buf, (size_t)st.st_size);
        if (n < 0)
                return jr_error_errno(e, "read \"%s/%s\"", s->dir, name);
        if (n != st.st_size)
                return jr_error_set(e, EBADMSG, "\"%s/%s\": short read", s->dir, name);
        memcpy(&h, buf, sizeof h);
        uint64_t payload = (uint64_t)h.topic_len + h.key_len + h.value_len;
        if (memcmp(h.magic, REC_MAGIC, 4) != 0 || payload + sizeof h != (uint64_t)st.st_size ||
            (h.kind != JR_SPOOL_EVENT && h.kind != JR_SPOOL_RESULT))
                return jr_error_set(e, EBADMSG, "\"%s/%s\": not a spool record", s->dir, name);
        uint32_t crc = h.crc;
        struct rec_header z = h;
        z.crc = 0;
        uint32_t c = crc32_update(0, &z, sizeof z);
        c = crc32_update(c, buf + sizeof h, (size_t)payload);
        if (c != crc)
                return jr_error_set(e, EBADMSG, "\"%s/%s\": checksum mismatch", s->dir, name);
        const char *p = buf + sizeof h;
        jr_spool_record r = {
            .seq = seq, .kind = h.kind, .key_len = h.key_len, .value_len = h.value_len};
        r.topic = dup_bytes(p, h.topic_len);
        r.key = dup_bytes(p + h.topic_len, h.key_len);
        r.value = dup_bytes(p + h.topic_len + h.key_len, h.value_len);
        if (!r.topic || !r.key || !r.value) {
                jr_spool_record_free(&r);
                return jr_error_set(e, ENOMEM, "read \"%s/%s\"", s->dir, name);
        }
        *rec = r;
        return 0;
}

int jr_spool_read(jr_spool *s, uint64_t seq, jr_spool_record *rec, jr_error *e)
{
        if (!idx_find(s, seq))
                return jr_error_set(e, ENOENT, "spool record %" PRIu64 " is not pending", seq);
        char name[NAME_MAX_LEN];
        rec_name(name, sizeof name, seq);
        return read_record(s, name, seq, rec, e);
}

int jr_spool_append(jr_spool *s, jr_spool_kind kind, const char *topic, const void *key,
                    size_t key_len, const void *value, size_t value_len, uint64_t *seq_out,
                    jr_error *e)
{
        if (kind != JR_SPOOL_EVENT && kind != JR_SPOOL_RESULT)
                return jr_error_set(e, EINVAL, "spool append: bad kind %d", (int)kind);
        size_t topic_len = topic ? strlen(topic) : 0;
        if (topic_len == 0)
                return jr_error_set(e, EINVAL, "spool append: empty topic");
        if ((uint64_t)topic_len + key_len + value_len > JR_SPOOL_RECORD_MAX)
                return jr_error_set(e, EMSGSIZE, "spool append: record of %zu bytes",
                                    topic_len + key_len + value_len);
        if (kind == JR_SPOOL_RESULT && key_len <= JR_SPOOL_ID_MAX &&
            fin_contains(s, key, key_len)) {
                s->stats.duplicates++;
                return JR_SPOOL_DUPLICATE;
        }

        uint64_t seq = s->next_seq;
        char tmp[NAME_MAX_LEN], name[NAME_MAX_LEN];
        tmp_name(tmp, sizeof tmp, seq);
        rec_name(name, sizeof name, seq);

        struct rec_header h = {.kind = (uint8_t)kind};
        memcpy(h.magic, REC_MAGIC, 4);
        h.topic_len = (uint32_t)topic_len;
        h.key_len = (uint32_t)key_len;
        h.value_len = (uint32_t)value_len;
        uint32_t c = crc32_update(0, &h, sizeof h);
        c = crc32_update(c, topic, topic_len);
        c = crc32_update(c, key, key_len);
        h.crc = crc32_update(c, value, value_len);

        /* O_EXCL: a leftover of the same name would mean two writers. */
        _cleanup_close_ int fd =
            openat(s->dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return jr_error_errno(e, "create \"%s/%s\"", s->dir, tmp);
        if (write_all(fd, &h, sizeof h) < 0 || write_all(fd, topic, topic_len) < 0 ||
            write_all(fd, key, key_len) < 0 || write_all(fd, value, value_len) < 0) {
                jr_error_errno(e, "write \"%s/%s\"", s->dir, tmp);
                unlinkat(s->dirfd, tmp, 0);
                return -1;
        }
        /* The data must be on disk before the name points at it: the rename is the commit
         * point, and the directory fsync makes the rename itself durable. */
        if (sync_fd(s, fd) < 0) {
                jr_error_errno(e, "fsync \"%s/%s\"", s->dir, tmp);
                unlinkat(s->dirfd, tmp, 0);
                return -1;
        }
        if (renameat(s->dirfd, tmp, s->dirfd, name) < 0) {
                jr_error_errno(e, "rename \"%s/%s\"", s->dir, tmp);
                unlinkat(s->dirfd, tmp, 0);
                return -1;
        }
        s->next_seq++;
        if (sync_fd(s, s->dirfd) < 0) {
                jr_error_errno(e, "fsync \"%s\"", s->dir);
                unlinkat(s->dirfd, name, 0);
                return -1;
        }
        if (idx_push(s, seq, (uint8_t)kind, e) < 0) {
                unlinkat(s->dirfd, name, 0);
                return -1;
        }
        s->stats.pending++;
        /* After the record is durable: a crash in between is repaired on open, which
         * marks the ids of pending results as finished. A failure to write the id is not
         * a failure of the append (the record is pending and will be delivered, and the
         * repair on open covers it while it is pending); it is counted instead. */
        if (kind == JR_SPOOL_RESULT) {
                jr_error ignored;
                if (fin_add(s, key, key_len, &ignored) < 0)
                        s->stats.finished_errors++;
        }
        if (seq_out)
                *seq_out = seq;
        return 0;
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

bool jr_spool_is_finished(const jr_spool *s, const void *id, size_t id_len)
{
        return id_len <= JR_SPOOL_ID_MAX && fin_contains(s, id, id_len);
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
                        /* A crash between create and rename: the record was never
                         * acknowledged to the caller, so it is garbage. */
                        if (unlinkat(s->dirfd, de->d_name, 0) < 0 && errno != ENOENT)
                                return jr_error_errno(e, "remove leftover \"%s/%s\"", s->dir,
                                                      de->d_name);
                        s->stats.tmp_removed++;
                } else if (parse_name(de->d_name, REC_SUFFIX, &seq) && seq > 0) {
                        if (idx_push(s, seq, 0, e) < 0)
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

/* Read every pending record once: set its kind, quarantine corrupt ones, and mark the
 * ids of pending results finished (repairs a crash between the result's rename and the
 * append to finished.log). */
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
                if (rec.kind == JR_SPOOL_RESULT)
                        r = fin_add(s, rec.key, rec.key_len, e);
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
        crc_init();
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
        s->dirfd = s->lockfd = s->finfd = -1;
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

        int ret = mkdir_p(dir, 0750, e);
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
        if ((ret = fin_load(s, e)) < 0)
                goto fail;
        if ((ret = scan_dir(s, e)) < 0)
                goto fail;
        if ((ret = verify_pending(s, e)) < 0)
                goto fail;
        if (s->stats.tmp_removed > 0 && sync_fd(s, s->dirfd) < 0) {
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
        if (s->ring) {
                for (size_t i = 0; i < s->ring_count; i++)
                        free(s->ring[(s->ring_head + i) % s->fin_max].id);
                free(s->ring);
        }
        free(s->table);
        free(s->idx);
        if (s->finfd >= 0)
                close(s->finfd);
        if (s->lockfd >= 0)
                close(s->lockfd);
        if (s->dirfd >= 0)
                close(s->dirfd);
        free(s->dir);
        free(s);
}
