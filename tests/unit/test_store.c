/* The results store: states, event order, redeliveries and repeated ids, expiry, the
 * byte budget, a restart, and errors that name the step. A real SQLite file in a
 * directory of its own under /tmp. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store.h"
#include "testutil.h"

static char *tmpdir;
static char dbpath[300];

static void setup(void)
{
        tmpdir = tu_scratch("/tmp/jr-store-test.");
        snprintf(dbpath, sizeof dbpath, "%s/results.db", tmpdir);
}

static void teardown(void)
{
        tu_rm_rf(tmpdir);
        free(tmpdir);
}

TestSuite(store, .init = setup, .fini = teardown);

static jr_store *open_store(uint64_t ttl_ms, uint64_t max_bytes, unsigned max_events)
{
        jr_store_opts o = {.path = dbpath,
                           .ttl_ms = ttl_ms,
                           .max_bytes = max_bytes,
                           .max_events = max_events,
                           .durable = true};
        jr_store *s = NULL;
        jr_error e = {0};
        cr_assert_eq(jr_store_open(&o, &s, &e), 0, "%s", e.msg);
        return s;
}

#define ID(s) (s), strlen(s)

static void put_event(jr_store *s, const char *id, uint64_t seq, const char *type, const char *json,
                      int64_t now)
{
        jr_error e = {0};
        cr_assert_eq(jr_store_put_event(s, ID(id), seq, type, json, strlen(json), now, &e), 0, "%s",
                     e.msg);
}

static jr_exec_info get(jr_store *s, const char *id, char **result)
{
        jr_exec_info info;
        jr_error e = {0};
        int ret = jr_store_get(s, ID(id), &info, result, NULL, &e);
        cr_assert_geq(ret, 0, "%s", e.msg);
        cr_assert_eq(ret == 1, info.state != JR_EXEC_UNKNOWN);
        return info;
}

/* Every stored event of id, "seq:type:json|..." */
static void events_str(jr_store *s, const char *id, int64_t after, char *out, size_t size)
{
        out[0] = '\0';
        size_t n = 0;
        for (;;) {
                uint64_t seq;
                char type[16];
                char *json = NULL;
                size_t len = 0;
                jr_error e = {0};
                int ret =
                    jr_store_next_event(s, ID(id), after, &seq, type, sizeof type, &json, &len, &e);
                cr_assert_geq(ret, 0, "%s", e.msg);
                if (ret == 0)
                        break;
                cr_assert_eq(strlen(json), len);
                n += (size_t)snprintf(out + n, size - n, "%llu:%s:%s|", (unsigned long long)seq,
                                      type, json);
                cr_assert_lt(n, size);
                free(json);
                after = (int64_t)seq;
        }
}

Test(store, states_follow_the_execution)
{
        jr_store *s = open_store(0, 0, 0);
        jr_error e = {0};
        cr_assert_eq(get(s, "nope", NULL).state, JR_EXEC_UNKNOWN);

        cr_assert_eq(jr_store_put_queued(s, ID("a"), 1000, &e), 0, "%s", e.msg);
        jr_exec_info i = get(s, "a", NULL);
        cr_assert_eq(i.state, JR_EXEC_QUEUED);
        cr_assert_eq(i.n_events, 0);
        cr_assert_eq(i.created_ms, 1000);
        cr_assert_str_eq(jr_exec_state_name(i.state), "queued");

        /* an id is queued once */
        cr_assert_lt(jr_store_put_queued(s, ID("a"), 1001, &e), 0);
        cr_assert_eq(e.err, EEXIST);
        cr_assert(strstr(e.msg, "\"a\""), "%s", e.msg);

        put_event(s, "a", 0, "accepted", "{\"seq\":0}", 1100);
        i = get(s, "a", NULL);
        cr_assert_eq(i.state, JR_EXEC_RUNNING);
        cr_assert_eq(i.n_events, 1);
        cr_assert_eq(i.updated_ms, 1100);
        cr_assert_not(i.done_event);

        char *result = (char *)1;
        get(s, "a", &result);
        cr_assert_null(result, "no result before done");

        const char *res = "{\"id\":\"a\",\"status\":\"OK\"}";
        cr_assert_eq(jr_store_put_result(s, ID("a"), res, strlen(res), 1200, &e), 0, "%s", e.msg);
        i = get(s, "a", &result);
        cr_assert_eq(i.state, JR_EXEC_DONE);
        cr_assert_str_eq(result, res);
        free(result);

        /* a late event keeps it done */
        put_event(s, "a", 1, "done", "{\"seq\":1}", 1300);
        i = get(s, "a", NULL);
        cr_assert_eq(i.state, JR_EXEC_DONE);
        cr_assert_eq(i.n_events, 2);
        cr_assert(i.done_event);

        /* a result for an id never queued here (judged for another front door) */
        cr_assert_eq(jr_store_put_result(s, ID("other"), "{}", 2, 1400, &e), 0, "%s", e.msg);
        cr_assert_eq(get(s, "other", NULL).state, JR_EXEC_DONE);
        jr_store_close(s);
}

Test(store, events_come_back_in_seq_order)
{
        jr_store *s = open_store(0, 0, 0);
        put_event(s, "x", 2, "test", "two", 1);
        put_event(s, "x", 0, "accepted", "zero", 1);
        put_event(s, "x", 10, "done", "ten", 1);
        put_event(s, "x", 1, "build", "one", 1);
        put_event(s, "y", 0, "accepted", "other", 1);
        char buf[512];
        events_str(s, "x", -1, buf, sizeof buf);
        cr_assert_str_eq(buf, "0:accepted:zero|1:build:one|2:test:two|10:done:ten|");
        /* resume after a seq: nothing before it, nothing twice */
        events_str(s, "x", 1, buf, sizeof buf);
        cr_assert_str_eq(buf, "2:test:two|10:done:ten|");
        events_str(s, "x", 10, buf, sizeof buf);
        cr_assert_str_eq(buf, "");
        events_str(s, "unknown", -1, buf, sizeof buf);
        cr_assert_str_eq(buf, "");
        jr_store_close(s);
}

Test(store, redelivery_and_repeated_ids)
{
        jr_store *s = open_store(0, 0, 0);
        put_event(s, "r", 0, "accepted", "{\"t\":1}", 1);
        put_event(s, "r", 1, "test", "{\"t\":1,\"n\":1}", 2);
        uint64_t bytes = jr_store_bytes(s);
        /* the same bytes again (Kafka delivers at least once): nothing changes */
        put_event(s, "r", 1, "test", "{\"t\":1,\"n\":1}", 3);
        cr_assert_eq(get(s, "r", NULL).n_events, 2);
        cr_assert_eq(get(s, "r", NULL).updated_ms, 2);
        cr_assert_eq(jr_store_bytes(s), bytes);
        /* other bytes at seq > 0: the latest wins */
        put_event(s, "r", 1, "test", "{\"t\":1,\"n\":2}", 4);
        char buf[512];
        events_str(s, "r", -1, buf, sizeof buf);
        cr_assert_str_eq(buf, "0:accepted:{\"t\":1}|1:test:{\"t\":1,\"n\":2}|");
        jr_error e = {0};
        cr_assert_eq(jr_store_put_result(s, ID("r"), "{\"old\":1}", 9, 5, &e), 0, "%s", e.msg);
        /* seq 0 with other bytes: the id was submitted again, its old story is gone */
        put_event(s, "r", 0, "accepted", "{\"t\":2}", 6);
        jr_exec_info i = get(s, "r", NULL);
        cr_assert_eq(i.state, JR_EXEC_RUNNING);
        cr_assert_eq(i.n_events, 1);
        cr_assert_eq(i.created_ms, 6);
        events_str(s, "r", -1, buf, sizeof buf);
        cr_assert_str_eq(buf, "0:accepted:{\"t\":2}|");
        cr_assert_eq(jr_store_bytes(s), strlen("{\"t\":2}"));
        jr_store_close(s);
}

Test(store, ids_are_bytes)
{
        jr_store *s = open_store(0, 0, 0);
        jr_error e = {0};
        const char a[] = "id\0one", b[] = "id\0two";
        cr_assert_eq(jr_store_put_result(s, a, sizeof a - 1, "A", 1, 1, &e), 0, "%s", e.msg);
        cr_assert_eq(jr_store_put_result(s, b, sizeof b - 1, "B", 1, 1, &e), 0, "%s", e.msg);
        cr_assert_eq(jr_store_put_result(s, "", 0, "E", 1, 1, &e), 0, "%s", e.msg);
        jr_exec_info info;
        char *r = NULL;
        cr_assert_eq(jr_store_get(s, a, sizeof a - 1, &info, &r, NULL, &e), 1);
        cr_assert_str_eq(r, "A");
        free(r);
        cr_assert_eq(jr_store_get(s, b, sizeof b - 1, &info, &r, NULL, &e), 1);
        cr_assert_str_eq(r, "B");
        free(r);
        cr_assert_eq(jr_store_get(s, "", 0, &info, &r, NULL, &e), 1);
        cr_assert_str_eq(r, "E");
        free(r);
        cr_assert_eq(jr_store_get(s, "id", 2, &info, &r, NULL, &e), 0);
        jr_store_close(s);
}

Test(store, survives_a_restart_in_wal_mode)
{
        jr_store *s = open_store(0, 0, 0);
        jr_error e = {0};
        cr_assert_eq(jr_store_put_queued(s, ID("q"), 5, &e), 0, "%s", e.msg);
        put_event(s, "d", 0, "accepted", "ev0", 5);
        cr_assert_eq(jr_store_put_result(s, ID("d"), "{\"r\":1}", 7, 6, &e), 0, "%s", e.msg);
        uint64_t bytes = jr_store_bytes(s);
        /* the write-ahead log is in use while the store is open */
        char wal[320];
        snprintf(wal, sizeof wal, "%s-wal", dbpath);
        struct stat st;
        cr_assert_eq(stat(wal, &st), 0, "%s: %s", wal, strerror(errno));
        jr_store_close(s);

        s = open_store(0, 0, 0);
        cr_assert_eq(get(s, "q", NULL).state, JR_EXEC_QUEUED);
        char *r = NULL;
        cr_assert_eq(get(s, "d", &r).state, JR_EXEC_DONE);
        cr_assert_str_eq(r, "{\"r\":1}");
        free(r);
        char buf[128];
        events_str(s, "d", -1, buf, sizeof buf);
        cr_assert_str_eq(buf, "0:accepted:ev0|");
        cr_assert_eq(jr_store_bytes(s), bytes, "the byte count is read back");
        uint64_t n = 0;
        cr_assert_eq(jr_store_count(s, &n, &e), 0, "%s", e.msg);
        cr_assert_eq(n, 2);
        jr_store_close(s);
}

Test(store, expires_after_the_ttl_from_the_last_change)
{
        jr_store *s = open_store(1000, 0, 0);
        jr_error e = {0};
        cr_assert_eq(jr_store_put_result(s, ID("old"), "{}", 2, 100, &e), 0, "%s", e.msg);
        cr_assert_eq(jr_store_put_queued(s, ID("busy"), 100, &e), 0, "%s", e.msg);
        put_event(s, "busy", 0, "accepted", "e", 900); /* changed later: kept longer */
        uint64_t removed = 99;
        cr_assert_eq(jr_store_expire(s, 1000, &removed, &e), 0, "%s", e.msg);
        cr_assert_eq(removed, 0);
        cr_assert_eq(jr_store_expire(s, 1101, &removed, &e), 0, "%s", e.msg);
        cr_assert_eq(removed, 1);
        cr_assert_eq(get(s, "old", NULL).state, JR_EXEC_UNKNOWN);
        cr_assert_eq(get(s, "busy", NULL).state, JR_EXEC_RUNNING);
        cr_assert_eq(jr_store_expire(s, 1901, &removed, &e), 0, "%s", e.msg);
        cr_assert_eq(removed, 1);
        cr_assert_eq(get(s, "busy", NULL).state, JR_EXEC_UNKNOWN);
        char buf[64];
        events_str(s, "busy", -1, buf, sizeof buf);
        cr_assert_str_eq(buf, "", "its events went with it");
        cr_assert_eq(jr_store_bytes(s), 0);
        jr_store_close(s);
}

Test(store, bounded_by_bytes_oldest_first)
{
        /* room for about three 400-byte results */
        jr_store *s = open_store(0, 1300, 0);
        jr_error e = {0};
        char big[401];
        memset(big, 'x', 400);
        big[400] = '\0';
        for (int i = 0; i < 10; i++) {
                char id[16];
                snprintf(id, sizeof id, "r%d", i);
                cr_assert_eq(jr_store_put_result(s, ID(id), big, 400, 100 + i, &e), 0, "%s", e.msg);
                cr_assert_leq(jr_store_bytes(s), 1300);
        }
        uint64_t n = 0;
        cr_assert_eq(jr_store_count(s, &n, &e), 0, "%s", e.msg);
        cr_assert_eq(n, 3);
        cr_assert_eq(get(s, "r6", NULL).state, JR_EXEC_UNKNOWN);
        cr_assert_eq(get(s, "r7", NULL).state, JR_EXEC_DONE);
        cr_assert_eq(get(s, "r9", NULL).state, JR_EXEC_DONE);
        /* one execution larger than the whole budget is kept (it is the newest) */
        char huge[2001];
        memset(huge, 'y', 2000);
        huge[2000] = '\0';
        cr_assert_eq(jr_store_put_result(s, ID("huge"), huge, 2000, 200, &e), 0, "%s", e.msg);
        cr_assert_eq(get(s, "huge", NULL).state, JR_EXEC_DONE);
        cr_assert_eq(jr_store_count(s, &n, &e), 0, "%s", e.msg);
        cr_assert_eq(n, 1);
        jr_store_close(s);
}

Test(store, events_per_execution_are_capped)
{
        jr_store *s = open_store(0, 0, 3);
        put_event(s, "c", 0, "accepted", "0", 1);
        put_event(s, "c", 2, "test", "2", 1);
        jr_error e = {0};
        cr_assert_lt(jr_store_put_event(s, ID("c"), 3, "test", "3", 1, 1, &e), 0);
        cr_assert_eq(e.err, E2BIG);
        cr_assert(strstr(e.msg, "cap of 3 events"), "%s", e.msg);
        cr_assert_eq(get(s, "c", NULL).n_events, 2, "the failed insert changed nothing");
        jr_store_close(s);
}

Test(store, events_from_their_json)
{
        jr_store *s = open_store(0, 0, 0);
        jr_error e = {0};
        const char *ev = "{\"id\":\"j\",\"seq\":3,\"type\":\"test\",\"test\":{}}";
        cr_assert_eq(jr_store_put_event_json(s, NULL, 0, ev, strlen(ev), 1, &e), 0, "%s", e.msg);
        char buf[256];
        events_str(s, "j", -1, buf, sizeof buf);
        cr_assert_str_eq(buf, "3:test:{\"id\":\"j\",\"seq\":3,\"type\":\"test\",\"test\":{}}|");
        /* the Kafka key wins over the JSON's id (which yajl would cut at a NUL) */
        const char *ev2 = "{\"id\":\"k\\u0000x\",\"seq\":0,\"type\":\"accepted\"}";
        cr_assert_eq(jr_store_put_event_json(s, "k\0x", 3, ev2, strlen(ev2), 1, &e), 0, "%s",
                     e.msg);
        jr_exec_info info;
        cr_assert_eq(jr_store_get(s, "k\0x", 3, &info, NULL, NULL, &e), 1);

        struct {
                const char *json, *field;
        } bad[] = {
            {"", "not JSON"},
            {"[1]", "not a JSON object"},
            {"{\"seq\":1,\"type\":\"test\"}", "\"id\""},
            {"{\"id\":\"a\",\"seq\":-1,\"type\":\"test\"}", "\"seq\""},
            {"{\"id\":\"a\",\"seq\":1.5,\"type\":\"test\"}", "\"seq\""},
            {"{\"id\":\"a\",\"seq\":1}", "\"type\""},
            {"{\"id\":\"a\",\"seq\":1,\"type\":7}", "\"type\""},
        };
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
                jr_error_clear(&e);
                cr_assert_lt(
                    jr_store_put_event_json(s, NULL, 0, bad[i].json, strlen(bad[i].json), 1, &e), 0,
                    "%s", bad[i].json);
                cr_assert_eq(e.err, EINVAL);
                cr_assert(strstr(e.msg, bad[i].field), "%s: %s", bad[i].json, e.msg);
        }
        jr_store_close(s);
}

Test(store, errors_name_the_path_and_the_step)
{
        jr_store *s = NULL;
        jr_error e = {0};
        char path[400];
        snprintf(path, sizeof path, "%s/missing/dir/results.db", tmpdir);
        jr_store_opts o = {.path = path};
        cr_assert_lt(jr_store_open(&o, &s, &e), 0);
        cr_assert_null(s);
        cr_assert(strstr(e.msg, "results store \"") && strstr(e.msg, path) &&
                      strstr(e.msg, ": open: unable to open database file"),
                  "%s", e.msg);
        cr_assert_neq(e.err, 0);

        /* not a database */
        int fd = open(dbpath, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        cr_assert_geq(fd, 0);
        char junk[4096];
        memset(junk, 'j', sizeof junk);
        cr_assert_eq(write(fd, junk, sizeof junk), (ssize_t)sizeof junk);
        close(fd);
        o.path = dbpath;
        jr_error_clear(&e);
        cr_assert_lt(jr_store_open(&o, &s, &e), 0);
        cr_assert(strstr(e.msg, dbpath) && strstr(e.msg, "file is not a database"), "%s", e.msg);

        o.path = "";
        cr_assert_lt(jr_store_open(&o, &s, &e), 0);
        cr_assert(strstr(e.msg, "no database path"), "%s", e.msg);
}

Test(store, refuses_a_newer_schema)
{
        jr_store *s = open_store(0, 0, 0);
        jr_store_close(s);
        sqlite3 *db = NULL;
        cr_assert_eq(sqlite3_open(dbpath, &db), SQLITE_OK);
        cr_assert_eq(sqlite3_exec(db, "PRAGMA user_version=99", NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(db);
        jr_store_opts o = {.path = dbpath};
        jr_error e = {0};
        cr_assert_lt(jr_store_open(&o, &s, &e), 0);
        cr_assert(strstr(e.msg, "schema version 99 is newer"), "%s", e.msg);
}

Test(store, settings_and_same_result_again)
{
        jr_store *s = open_store(0, 0, 0);
        jr_error e = {0};
        char *v = (char *)1;
        cr_assert_eq(jr_store_meta_get(s, "group", &v, &e), 0, "%s", e.msg);
        cr_assert_null(v);
        cr_assert_eq(jr_store_meta_set(s, "group", "g-1", &e), 0, "%s", e.msg);
        cr_assert_eq(jr_store_meta_set(s, "group", "g-2", &e), 0, "%s", e.msg);
        jr_store_close(s);
        s = open_store(0, 0, 0);
        cr_assert_eq(jr_store_meta_get(s, "group", &v, &e), 1, "%s", e.msg);
        cr_assert_str_eq(v, "g-2");
        free(v);

        cr_assert_eq(jr_store_put_result(s, ID("r"), "{\"a\":1}", 7, 10, &e), 0, "%s", e.msg);
        cr_assert_eq(jr_store_put_result(s, ID("r"), "{\"a\":1}", 7, 20, &e), 0, "%s", e.msg);
        cr_assert_eq(get(s, "r", NULL).updated_ms, 10, "the same result changes nothing");
        cr_assert_eq(jr_store_bytes(s), 7);
        cr_assert_eq(jr_store_put_result(s, ID("r"), "{\"a\":2}", 7, 30, &e), 0, "%s", e.msg);
        cr_assert_eq(get(s, "r", NULL).updated_ms, 30);
        cr_assert_eq(jr_store_bytes(s), 7);
        jr_store_close(s);
}

Test(store, sync_is_a_barrier_for_a_store_without_fsyncs)
{
        jr_store_opts o = {.path = dbpath, .durable = false};
        jr_store *s = NULL;
        jr_error e = {0};
        cr_assert_eq(jr_store_open(&o, &s, &e), 0, "%s", e.msg);
        for (int i = 0; i < 100; i++) {
                char id[16];
                snprintf(id, sizeof id, "n%d", i);
                cr_assert_eq(jr_store_put_result(s, ID(id), "{}", 2, 1, &e), 0, "%s", e.msg);
        }
        cr_assert_eq(jr_store_sync(s, &e), 0, "%s", e.msg);
        cr_assert_eq(jr_store_sync(s, &e), 0, "nothing new: %s", e.msg);
        jr_store_close(s);
        s = open_store(0, 0, 0);
        uint64_t n = 0;
        cr_assert_eq(jr_store_count(s, &n, &e), 0, "%s", e.msg);
        cr_assert_eq(n, 100);
        jr_store_close(s);
}
