/* The on-disk spool: durable records in sync passes, replay order, crash leftovers, the
 * bounded finished record keyed by source coordinates, older formats. Each test works in
 * its own directory under /tmp. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "spool.h"
#include "testutil.h"

static char *tmpdir;
static char spooldir[300];

static void setup(void)
{
        tmpdir = tu_scratch("/tmp/jr-spool-test.");
        /* a parent that does not exist yet: open creates it */
        snprintf(spooldir, sizeof spooldir, "%s/a/spool", tmpdir);
}

static void teardown(void)
{
        tu_rm_rf(tmpdir);
        free(tmpdir);
}

TestSuite(spool, .init = setup, .fini = teardown);

static jr_spool *open_ok(const jr_spool_options *o)
{
        jr_spool *s = NULL;
        jr_error e = {0};
        ASSERT_OK(jr_spool_open(spooldir, o, &s, &e), e);
        return s;
}

/* Append and sync: one durable record. `src` may be NULL. */
static uint64_t put_src(jr_spool *s, jr_spool_kind kind, const char *key, const char *value,
                        const jr_spool_source *src)
{
        uint64_t seq = 0;
        jr_error e = {0};
        ASSERT_OK(jr_spool_append(s, kind,
                                  kind == JR_SPOOL_RESULT ? "script-results" : "script-events", key,
                                  strlen(key), value, strlen(value), src, &seq, &e),
                  e);
        ASSERT_OK(jr_spool_sync(s, &e), e);
        cr_assert_gt(seq, 0);
        return seq;
}

static uint64_t put(jr_spool *s, jr_spool_kind kind, const char *key, const char *value)
{
        return put_src(s, kind, key, value, NULL);
}

/* The source "scripts"[part]@off. */
#define SRC(part, off) (&(jr_spool_source){"scripts", (part), (off)})

static size_t count_files(const char *suffix)
{
        DIR *d = opendir(spooldir);
        cr_assert(d);
        size_t n = 0;
        struct dirent *de;
        while ((de = readdir(d))) {
                size_t l = strlen(de->d_name), sl = strlen(suffix);
                if (l >= sl && !strcmp(de->d_name + l - sl, suffix))
                        n++;
        }
        closedir(d);
        return n;
}

static void write_file(const char *name, const void *data, size_t n)
{
        char p[512];
        snprintf(p, sizeof p, "%s/%s", spooldir, name);
        int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        cr_assert(fd >= 0, "%s: %s", p, strerror(errno));
        cr_assert_eq(write(fd, data, n), (ssize_t)n);
        close(fd);
}

Test(spool, write_read_list_remove)
{
        jr_spool *s = open_ok(NULL);
        uint64_t a = put(s, JR_SPOOL_EVENT, "sub-1", "{\"seq\":0}");
        uint64_t b = put(s, JR_SPOOL_EVENT, "sub-1", "{\"seq\":1}");
        uint64_t c = put(s, JR_SPOOL_RESULT, "sub-1", "{\"status\":\"OK\"}");
        cr_assert(a < b && b < c);
        cr_assert_eq(jr_spool_pending(s), 3);
        cr_assert_eq(count_files(".rec"), 3);

        uint64_t it = 0, seen[3];
        for (int i = 0; i < 3; i++)
                cr_assert_eq(jr_spool_next(s, i ? seen[i - 1] : 0, &seen[i]), 1);
        cr_assert_eq(jr_spool_next(s, seen[2], &it), 0);
        cr_assert(seen[0] == a && seen[1] == b && seen[2] == c);

        jr_spool_record rec;
        jr_error e = {0};
        ASSERT_OK(jr_spool_read(s, c, &rec, &e), e);
        cr_assert_eq(rec.kind, JR_SPOOL_RESULT);
        cr_assert_str_eq(rec.topic, "script-results");
        cr_assert_eq(rec.key_len, 5);
        cr_assert_str_eq(rec.key, "sub-1");
        cr_assert_str_eq(rec.value, "{\"status\":\"OK\"}");
        cr_assert_eq(rec.value_len, strlen("{\"status\":\"OK\"}"));
        jr_spool_record_free(&rec);

        ASSERT_OK(jr_spool_remove(s, b, &e), e);
        cr_assert_eq(jr_spool_pending(s), 2);
        cr_assert_eq(count_files(".rec"), 2);
        cr_assert_eq(jr_spool_next(s, a, &it), 1);
        cr_assert_eq(it, c, "removed records are skipped");
        cr_assert_lt(jr_spool_remove(s, b, &e), 0, "removing twice fails");
        cr_assert_eq(e.err, ENOENT);
        cr_assert_lt(jr_spool_read(s, b, &rec, &e), 0);
        jr_spool_close(s);
}

Test(spool, binary_values_and_empty_key)
{
        jr_spool *s = open_ok(NULL);
        char bin[300];
        for (size_t i = 0; i < sizeof bin; i++)
                bin[i] = (char)i;
        uint64_t seq;
        jr_error e = {0};
        ASSERT_OK(jr_spool_append(s, JR_SPOOL_EVENT, "t", NULL, 0, bin, sizeof bin, NULL, &seq, &e),
                  e);
        ASSERT_OK(jr_spool_sync(s, &e), e);
        jr_spool_record rec;
        ASSERT_OK(jr_spool_read(s, seq, &rec, &e), e);
        cr_assert_eq(rec.key_len, 0);
        cr_assert_eq(rec.value_len, sizeof bin);
        cr_assert_eq(memcmp(rec.value, bin, sizeof bin), 0);
        jr_spool_record_free(&rec);
        cr_assert_lt(jr_spool_append(s, JR_SPOOL_EVENT, "", "k", 1, "v", 1, NULL, &seq, &e), 0);
        cr_assert_eq(e.err, EINVAL);
        jr_spool_close(s);
}

Test(spool, replay_order_after_reopen)
{
        jr_spool *s = open_ok(NULL);
        /* two submissions interleaved, each: events in seq order, then its result */
        const char *expect[] = {"A:e0", "B:e0", "A:e1", "B:e1", "A:result", "B:e2", "B:result"};
        uint64_t last = 0;
        for (size_t i = 0; i < sizeof expect / sizeof expect[0]; i++) {
                char key[2] = {expect[i][0], 0};
                last = put(s, strstr(expect[i], "result") ? JR_SPOOL_RESULT : JR_SPOOL_EVENT, key,
                           expect[i]);
        }
        jr_spool_close(s);

        s = open_ok(NULL);
        cr_assert_eq(jr_spool_pending(s), 7);
        uint64_t seq = 0;
        jr_error e = {0};
        for (size_t i = 0; i < sizeof expect / sizeof expect[0]; i++) {
                cr_assert_eq(jr_spool_next(s, seq, &seq), 1);
                jr_spool_record rec;
                ASSERT_OK(jr_spool_read(s, seq, &rec, &e), e);
                cr_assert_str_eq(rec.value, expect[i]);
                jr_spool_record_free(&rec);
        }
        /* new records continue after the highest one on disk */
        uint64_t n = put(s, JR_SPOOL_EVENT, "C", "C:e0");
        cr_assert_gt(n, last);
        jr_spool_close(s);
}

Test(spool, crash_leftovers_are_cleaned)
{
        jr_spool *s = open_ok(NULL);
        uint64_t good = put(s, JR_SPOOL_EVENT, "x", "good");
        uint64_t bad = put(s, JR_SPOOL_EVENT, "x", "will be damaged");
        jr_spool_close(s);

        /* a temp file from a crash between create and rename */
        write_file(".tmp-00000000000000ff", "half a rec", 10);
        /* a final record whose contents were damaged (bit rot, not a torn write) */
        char name[64];
        snprintf(name, sizeof name, "%016llx.rec", (unsigned long long)bad);
        char p[512];
        snprintf(p, sizeof p, "%s/%s", spooldir, name);
        int fd = open(p, O_WRONLY | O_CLOEXEC);
        cr_assert(fd >= 0);
        cr_assert_eq(pwrite(fd, "XX", 2, 30), 2);
        close(fd);
        /* a symlink posing as a record must not be followed */
        char link[512];
        snprintf(link, sizeof link, "%s/00000000000000aa.rec", spooldir);
        cr_assert_eq(symlink("/etc/passwd", link), 0);
        /* unrelated files are left alone */
        write_file("README", "x", 1);

        s = open_ok(NULL);
        jr_spool_stats st;
        jr_spool_get_stats(s, &st);
        cr_assert_eq(st.tmp_removed, 1);
        cr_assert_eq(st.corrupt, 2);
        cr_assert_eq(st.pending, 1);
        uint64_t seq;
        cr_assert_eq(jr_spool_next(s, 0, &seq), 1);
        cr_assert_eq(seq, good);
        cr_assert_eq(count_files(".rec.bad"), 2);
        cr_assert_eq(count_files(".rec"), 1);
        cr_assert_eq(access(p, F_OK), -1);
        struct stat sb;
        cr_assert_eq(lstat("/etc/passwd", &sb), 0, "the symlink target is untouched");
        /* the quarantined seq is not reused */
        cr_assert_gt(put(s, JR_SPOOL_EVENT, "x", "after"), bad);
        jr_spool_close(s);
}

Test(spool, duplicate_results_are_suppressed)
{
        jr_spool *s = open_ok(NULL);
        uint64_t r1 = put_src(s, JR_SPOOL_RESULT, "sub-7", "first", SRC(2, 40));
        uint64_t seq = 0;
        jr_error e = {0};
        /* a second result for the same message: suppressed, whatever its key */
        int r = jr_spool_append(s, JR_SPOOL_RESULT, "script-results", "other", 5, "second", 6,
                                SRC(2, 40), &seq, &e);
        cr_assert_eq(r, JR_SPOOL_DUPLICATE);
        cr_assert_eq(seq, 0, "out-param untouched");
        cr_assert_eq(jr_spool_pending(s), 1);
        cr_assert_eq(jr_spool_answer_of(s, SRC(2, 40)), JR_SPOOL_ANSWER_PENDING);
        cr_assert_eq(jr_spool_answer_of(s, SRC(2, 41)), JR_SPOOL_UNANSWERED);
        cr_assert_eq(jr_spool_answer_of(s, SRC(3, 40)), JR_SPOOL_UNANSWERED);
        cr_assert_eq(jr_spool_answer_of(s, &(jr_spool_source){"other", 2, 40}),
                     JR_SPOOL_UNANSWERED);
        /* the same id in another message is another submission: its result is kept */
        put_src(s, JR_SPOOL_RESULT, "sub-7", "rejudged", SRC(2, 41));
        /* events are never suppressed; results without a source neither */
        put_src(s, JR_SPOOL_EVENT, "sub-7", "late event", SRC(2, 40));
        put(s, JR_SPOOL_RESULT, "sub-7", "no source");
        put(s, JR_SPOOL_RESULT, "sub-7", "no source");
        cr_assert_eq(jr_spool_pending(s), 5);
        /* delivered: the file goes, the message stays answered, across a restart */
        ASSERT_OK(jr_spool_remove(s, r1, &e), e);
        cr_assert_eq(jr_spool_answer_of(s, SRC(2, 40)), JR_SPOOL_ANSWERED);
        jr_spool_close(s);

        s = open_ok(NULL);
        cr_assert_eq(jr_spool_answer_of(s, SRC(2, 40)), JR_SPOOL_ANSWERED);
        cr_assert_eq(jr_spool_answer_of(s, SRC(2, 41)), JR_SPOOL_ANSWER_PENDING);
        r = jr_spool_append(s, JR_SPOOL_RESULT, "script-results", "sub-7", 5, "third", 5,
                            SRC(2, 40), &seq, &e);
        cr_assert_eq(r, JR_SPOOL_DUPLICATE);
        jr_spool_stats st;
        jr_spool_get_stats(s, &st);
        cr_assert_eq(st.duplicates, 1);
        cr_assert_eq(st.finished, 2);
        /* the record keeps its source */
        uint64_t it = 0;
        jr_spool_kind kind;
        jr_spool_source src;
        bool found = false;
        while (jr_spool_next(s, it, &it) == 1) {
                jr_spool_record rec;
                ASSERT_OK(jr_spool_read(s, it, &rec, &e), e);
                cr_assert_eq(jr_spool_peek(s, it, &kind, &src), 0);
                cr_assert_eq(kind, rec.kind);
                if (!strcmp(rec.value, "rejudged")) {
                        cr_assert_str_eq(rec.source.topic, "scripts");
                        cr_assert_eq(rec.source.partition, 2);
                        cr_assert_eq(rec.source.offset, 41);
                        cr_assert_str_eq(src.topic, "scripts");
                        cr_assert_eq(src.offset, 41);
                        found = true;
                }
                if (!strcmp(rec.value, "no source")) {
                        cr_assert_null(rec.source.topic);
                        cr_assert_null(src.topic);
                }
                jr_spool_record_free(&rec);
        }
        cr_assert(found);
        jr_spool_close(s);
}

Test(spool, crash_between_result_and_finished_mark)
{
        jr_spool *s = open_ok(NULL);
        put_src(s, JR_SPOOL_RESULT, "sub-9", "result", SRC(0, 9));
        jr_spool_close(s);
        /* lose finished.log as if the process died right after the rename */
        char p[512];
        snprintf(p, sizeof p, "%s/finished.log", spooldir);
        cr_assert_eq(truncate(p, 0), 0);

        s = open_ok(NULL);
        cr_assert_eq(jr_spool_answer_of(s, SRC(0, 9)), JR_SPOOL_ANSWER_PENDING,
                     "pending results count as answers");
        uint64_t seq;
        jr_error e = {0};
        cr_assert_eq(
            jr_spool_append(s, JR_SPOOL_RESULT, "r", "sub-9", 5, "again", 5, SRC(0, 9), &seq, &e),
            JR_SPOOL_DUPLICATE);
        /* and once delivered, the message stays answered: the repair wrote it down */
        cr_assert_eq(jr_spool_next(s, 0, &seq), 1);
        ASSERT_OK(jr_spool_remove(s, seq, &e), e);
        jr_spool_close(s);
        s = open_ok(NULL);
        cr_assert_eq(jr_spool_answer_of(s, SRC(0, 9)), JR_SPOOL_ANSWERED);
        jr_spool_close(s);
}

Test(spool, torn_finished_log_tail)
{
        jr_spool *s = open_ok(NULL);
        put_src(s, JR_SPOOL_RESULT, "one", "r", SRC(0, 1));
        put_src(s, JR_SPOOL_RESULT, "two", "r", SRC(0, 2));
        jr_spool_close(s);
        char p[512];
        snprintf(p, sizeof p, "%s/finished.log", spooldir);
        struct stat st;
        cr_assert_eq(stat(p, &st), 0);
        off_t good = st.st_size;
        /* half an entry: a length that promises more bytes than follow */
        int fd = open(p, O_WRONLY | O_APPEND | O_CLOEXEC);
        cr_assert(fd >= 0);
        uint32_t torn[2] = {40, 0};
        cr_assert_eq(write(fd, torn, sizeof torn), (ssize_t)sizeof torn);
        cr_assert_eq(write(fd, "thr", 3), 3);
        close(fd);

        s = open_ok(NULL);
        cr_assert_eq(jr_spool_answer_of(s, SRC(0, 1)), JR_SPOOL_ANSWER_PENDING);
        uint64_t seq = 0;
        jr_error e = {0};
        while (jr_spool_next(s, 0, &seq) == 1)
                ASSERT_OK(jr_spool_remove(s, seq, &e), e);
        cr_assert_eq(jr_spool_answer_of(s, SRC(0, 1)), JR_SPOOL_ANSWERED);
        cr_assert_eq(jr_spool_answer_of(s, SRC(0, 2)), JR_SPOOL_ANSWERED);
        cr_assert_eq(stat(p, &st), 0);
        cr_assert_eq(st.st_size, good, "torn tail cut off");
        put_src(s, JR_SPOOL_RESULT, "three", "r", SRC(0, 3));
        jr_spool_close(s);
        s = open_ok(NULL);
        cr_assert_eq(jr_spool_answer_of(s, SRC(0, 3)), JR_SPOOL_ANSWER_PENDING,
                     "appends after the repair are readable");
        jr_spool_close(s);
}

Test(spool, finished_record_is_bounded)
{
        jr_spool_options o = {.finished_max = 100, .no_sync = true};
        jr_spool *s = open_ok(&o);
        jr_error e = {0};
        for (int i = 0; i < 1000; i++) {
                uint64_t seq = put_src(s, JR_SPOOL_RESULT, "same-id", "r", SRC(1, i));
                ASSERT_OK(jr_spool_remove(s, seq, &e), e);
        }
        jr_spool_stats st;
        jr_spool_get_stats(s, &st);
        cr_assert_eq(st.finished, 100);
        cr_assert_lt(st.finished_log_len, 200);
        cr_assert_eq(jr_spool_answer_of(s, SRC(1, 0)), JR_SPOOL_UNANSWERED,
                     "oldest messages are forgotten");
        cr_assert_eq(jr_spool_answer_of(s, SRC(1, 899)), JR_SPOOL_UNANSWERED);
        for (int i = 900; i < 1000; i++)
                cr_assert_eq(jr_spool_answer_of(s, SRC(1, i)), JR_SPOOL_ANSWERED, "%d", i);
        jr_spool_close(s);

        char p[512];
        snprintf(p, sizeof p, "%s/finished.log", spooldir);
        struct stat sb;
        cr_assert_eq(stat(p, &sb), 0);
        /* an entry: 8 bytes of header, 12 of coordinates, 7 of topic */
        cr_assert_lt(sb.st_size, 8 + 200 * (8 + 12 + 7), "log file stays bounded: %lld",
                     (long long)sb.st_size);

        s = open_ok(&o);
        for (int i = 900; i < 1000; i++)
                cr_assert_eq(jr_spool_answer_of(s, SRC(1, i)), JR_SPOOL_ANSWERED, "%d after reopen",
                             i);
        cr_assert_eq(jr_spool_answer_of(s, SRC(1, 5)), JR_SPOOL_UNANSWERED);
        jr_spool_close(s);
}

/* The finished.log of the version that keyed by id: discarded (ids say nothing about
 * coordinates), counted, replaced by the current format. */
Test(spool, old_finished_log_is_discarded)
{
        jr_spool *s = open_ok(NULL); /* creates the directory */
        jr_spool_close(s);
        char p[512];
        snprintf(p, sizeof p, "%s/finished.log", spooldir);
        int fd = open(p, O_WRONLY | O_TRUNC | O_CLOEXEC);
        cr_assert(fd >= 0);
        const char *ids[] = {"python-ok-1", "python-ok-2", "c-wa-1"};
        for (int i = 0; i < 3; i++) {
                /* the old entry: length, CRC-32 of the id, the id */
                uint32_t len = (uint32_t)strlen(ids[i]), crc = 0xffffffffu;
                for (uint32_t k = 0; k < len; k++) {
                        crc ^= (uint8_t)ids[i][k];
                        for (int b = 0; b < 8; b++)
                                crc = (crc & 1) ? 0xEDB88320u ^ (crc >> 1) : crc >> 1;
                }
                uint32_t h[2] = {len, ~crc};
                cr_assert_eq(write(fd, h, sizeof h), (ssize_t)sizeof h);
                cr_assert_eq(write(fd, ids[i], len), (ssize_t)len);
        }
        close(fd);

        s = open_ok(NULL);
        jr_spool_stats st;
        jr_spool_get_stats(s, &st);
        cr_assert_eq(st.finished_discarded, 3);
        cr_assert_eq(st.finished, 0);
        put_src(s, JR_SPOOL_RESULT, "python-ok-1", "r", SRC(0, 0));
        jr_spool_close(s);
        char magic[4] = {0};
        fd = open(p, O_RDONLY | O_CLOEXEC);
        cr_assert_eq(read(fd, magic, 4), 4);
        close(fd);
        cr_assert_eq(memcmp(magic, "JRF2", 4), 0);
        s = open_ok(NULL);
        jr_spool_get_stats(s, &st);
        cr_assert_eq(st.finished_discarded, 0);
        cr_assert_eq(jr_spool_answer_of(s, SRC(0, 0)), JR_SPOOL_ANSWER_PENDING);
        jr_spool_close(s);
}

/* A record of the older format (JRS1: no source) left by the previous version is read
 * and replayed. */
Test(spool, old_record_format_is_replayed)
{
        jr_spool *s = open_ok(NULL);
        jr_spool_close(s);
        const char topic[] = "script-results", key[] = "old-1", value[] = "{\"status\":\"OK\"}";
        struct {
                char magic[4];
                uint8_t kind, pad[3];
                uint32_t topic_len, key_len, value_len, crc;
        } h = {.magic = {'J', 'R', 'S', '1'},
               .kind = JR_SPOOL_RESULT,
               .topic_len = sizeof topic - 1,
               .key_len = sizeof key - 1,
               .value_len = sizeof value - 1};
        char buf[256];
        size_t n = 0;
        memcpy(buf, &h, sizeof h);
        n = sizeof h;
        memcpy(buf + n, topic, sizeof topic - 1);
        n += sizeof topic - 1;
        memcpy(buf + n, key, sizeof key - 1);
        n += sizeof key - 1;
        memcpy(buf + n, value, sizeof value - 1);
        n += sizeof value - 1;
        uint32_t crc = 0xffffffffu;
        for (size_t k = 0; k < n; k++) {
                crc ^= (uint8_t)buf[k];
                for (int b = 0; b < 8; b++)
                        crc = (crc & 1) ? 0xEDB88320u ^ (crc >> 1) : crc >> 1;
        }
        h.crc = ~crc;
        memcpy(buf, &h, sizeof h);
        write_file("0000000000000007.rec", buf, n);

        s = open_ok(NULL);
        cr_assert_eq(jr_spool_pending(s), 1);
        uint64_t seq;
        cr_assert_eq(jr_spool_next(s, 0, &seq), 1);
        cr_assert_eq(seq, 7);
        jr_spool_record rec;
        jr_error e = {0};
        ASSERT_OK(jr_spool_read(s, seq, &rec, &e), e);
        cr_assert_str_eq(rec.key, "old-1");
        cr_assert_str_eq(rec.value, value);
        cr_assert_null(rec.source.topic);
        jr_spool_record_free(&rec);
        cr_assert_gt(put(s, JR_SPOOL_EVENT, "x", "new"), 7);
        jr_spool_close(s);
}

/* Appends become pending only in the sync pass: one data sync and one directory fsync
 * for the whole batch, however many records. */
Test(spool, sync_pass_makes_a_batch_durable)
{
        jr_spool *s = open_ok(NULL);
        jr_error e = {0};
        jr_spool_stats before, after;
        jr_spool_get_stats(s, &before);
        uint64_t seq[50];
        for (int i = 0; i < 50; i++) {
                char v[16];
                snprintf(v, sizeof v, "e%d", i);
                ASSERT_OK(jr_spool_append(s, i == 49 ? JR_SPOOL_RESULT : JR_SPOOL_EVENT, "t", "k",
                                          1, v, strlen(v), SRC(0, 5), &seq[i], &e),
                          e);
        }
        uint64_t it;
        cr_assert_eq(jr_spool_next(s, 0, &it), 0, "not visible before the sync");
        cr_assert_eq(jr_spool_unsynced(s), 50);
        cr_assert_eq(jr_spool_pending(s), 50);
        cr_assert_eq(count_files(".rec"), 0);
        cr_assert_eq(jr_spool_answer_of(s, SRC(0, 5)), JR_SPOOL_ANSWER_PENDING);
        ASSERT_OK(jr_spool_sync(s, &e), e);
        jr_spool_get_stats(s, &after);
        cr_assert_eq(after.syncs - before.syncs, 2, "%llu syncs for one pass",
                     (unsigned long long)(after.syncs - before.syncs));
        cr_assert_eq(after.sync_passes - before.sync_passes, 1);
        cr_assert_eq(count_files(".rec"), 50);
        cr_assert_eq(jr_spool_unsynced(s), 0);
        it = 0;
        for (int i = 0; i < 50; i++) {
                cr_assert_eq(jr_spool_next(s, it, &it), 1);
                cr_assert_eq(it, seq[i], "in append order");
        }
        /* a pass with nothing to do costs nothing; one record alone: two syncs */
        ASSERT_OK(jr_spool_sync(s, &e), e);
        jr_spool_get_stats(s, &before);
        cr_assert_eq(before.syncs, after.syncs);
        put(s, JR_SPOOL_EVENT, "k", "alone");
        jr_spool_get_stats(s, &after);
        cr_assert_eq(after.syncs - before.syncs, 2);
        jr_spool_close(s);
}

/* Killed between the append and its sync pass: the record was never pending (nothing
 * was produced or committed behind it); the next open removes its temporary file. */
Test(spool, crash_before_the_sync_pass)
{
        jr_spool *s = open_ok(NULL);
        put(s, JR_SPOOL_EVENT, "k", "durable");
        jr_spool_close(s);
        pid_t pid = fork();
        cr_assert_geq(pid, 0);
        if (pid == 0) {
                jr_spool *c = NULL;
                jr_error e;
                uint64_t seq;
                if (jr_spool_open(spooldir, NULL, &c, &e) < 0 ||
                    jr_spool_append(c, JR_SPOOL_RESULT, "r", "k", 1, "v", 1, SRC(0, 1), &seq, &e) <
                        0)
                        _exit(1);
                _exit(0); /* no sync, no close */
        }
        int st;
        cr_assert_eq(waitpid(pid, &st, 0), pid);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        s = open_ok(NULL);
        jr_spool_stats stats;
        jr_spool_get_stats(s, &stats);
        cr_assert_eq(stats.tmp_removed, 1);
        cr_assert_eq(stats.pending, 1);
        cr_assert_eq(jr_spool_answer_of(s, SRC(0, 1)), JR_SPOOL_UNANSWERED);
        jr_spool_close(s);
}

Test(spool, single_owner)
{
        jr_spool *s = open_ok(NULL);
        jr_spool *t = NULL;
        jr_error e = {0};
        cr_assert_lt(jr_spool_open(spooldir, NULL, &t, &e), 0);
        cr_assert_null(t);
        cr_assert_eq(e.err, EWOULDBLOCK);
        cr_assert(strstr(e.msg, spooldir), "the error names the directory: %s", e.msg);
        jr_spool_close(s);
        s = open_ok(NULL);
        jr_spool_close(s);
}

Test(spool, refuses_symlinked_directory)
{
        char real[300], link[300];
        snprintf(real, sizeof real, "%s/real", tmpdir);
        snprintf(link, sizeof link, "%s/link", tmpdir);
        cr_assert_eq(mkdir(real, 0700), 0);
        cr_assert_eq(symlink(real, link), 0);
        jr_spool *s = NULL;
        jr_error e = {0};
        cr_assert_lt(jr_spool_open(link, NULL, &s, &e), 0);
        cr_assert(strstr(e.msg, link), "%s", e.msg);
        unlink(link);
        rmdir(real);
}

Test(spool, env_dir)
{
        setenv("JAILRUN_SPOOL_DIR", "/x/y", 1);
        cr_assert_str_eq(jr_spool_dir_from_env(), "/x/y");
        unsetenv("JAILRUN_SPOOL_DIR");
        cr_assert_str_eq(jr_spool_dir_from_env(), JR_SPOOL_DEFAULT_DIR);
}

/* A few thousand durable records: written, replayed in order, removed. Behaviour only;
 * the time is printed for the curious, never asserted. */
Test(spool, several_thousand_records, .timeout = 120)
{
        enum { N = 3000 };
        jr_spool *s = open_ok(NULL);
        struct timespec t0, t1, t2;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        char key[32], val[300];
        memset(val, 'v', sizeof val - 1);
        val[sizeof val - 1] = 0;
        for (int i = 0; i < N; i++) {
                snprintf(key, sizeof key, "sub-%d", i / 4);
                put_src(s, i % 4 == 3 ? JR_SPOOL_RESULT : JR_SPOOL_EVENT, key, val, SRC(0, i / 4));
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        jr_spool_close(s);
        s = open_ok(NULL);
        cr_assert_eq(jr_spool_pending(s), N);
        /* remove every other one first (out of order acks), then the rest */
        uint64_t seq = 0, prev = 0;
        jr_error e = {0};
        int n = 0;
        while (jr_spool_next(s, seq, &seq) == 1) {
                cr_assert_gt(seq, prev);
                prev = seq;
                if (n++ % 2 == 0)
                        ASSERT_OK(jr_spool_remove(s, seq, &e), e);
        }
        cr_assert_eq(n, N);
        cr_assert_eq(jr_spool_pending(s), N / 2);
        seq = 0;
        while (jr_spool_next(s, 0, &seq) == 1)
                ASSERT_OK(jr_spool_remove(s, seq, &e), e);
        clock_gettime(CLOCK_MONOTONIC, &t2);
        cr_assert_eq(jr_spool_pending(s), 0);
        cr_assert_eq(count_files(".rec"), 0);
        jr_spool_close(s);
        cr_log_info("spool: %d appends, each in its own sync pass, in %.3f s; reopen+replay+remove "
                    "in %.3f s",
                    N, (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9,
                    (double)(t2.tv_sec - t1.tv_sec) + (t2.tv_nsec - t1.tv_nsec) / 1e9);
}
