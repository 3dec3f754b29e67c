/* The results store: SQLite in WAL mode. See store.h. */
#include "store.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_tree.h>

#include "bytes.h"
#include "cleanup.h"

/* Bumped when the tables change; an older file is migrated, a newer one refused. */
#define SCHEMA_VERSION 1

enum {
        ST_BEGIN,
        ST_COMMIT,
        ST_ROLLBACK,
        ST_EXEC_GET,
        ST_EXEC_INSERT,
        ST_EXEC_EVENT,
        ST_EXEC_RESULT,
        ST_EXEC_DELETE,
        ST_EVENT_GET,
        ST_EVENT_INSERT,
        ST_EVENT_REPLACE,
        ST_EVENT_NEXT,
        ST_EVENTS_DELETE,
        ST_OLDEST,
        ST_EXPIRED_SUM,
        ST_EXPIRE_EVENTS,
        ST_EXPIRE_EXECS,
        ST_COUNT,
        ST_TOTAL,
        ST_RESULT_GET,
        ST_META_GET,
        ST_META_SET,
        ST__N,
};

static const char *const sql[ST__N] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_EXEC_GET] = "SELECT state, n_events, created_ms, updated_ms, done_event, bytes, "
                    "length(result), result FROM executions WHERE id = ?1",
    [ST_EXEC_INSERT] = "INSERT INTO executions (id, state, created_ms, updated_ms) "
                       "VALUES (?1, ?2, ?3, ?3)",
    [ST_EXEC_EVENT] = "UPDATE executions SET n_events = n_events + ?2, bytes = bytes + ?3, "
                      "updated_ms = ?4, state = max(state, 2), done_event = done_event OR ?5 "
                      "WHERE id = ?1",
    [ST_EXEC_RESULT] = "UPDATE executions SET result = ?2, bytes = bytes + ?3, updated_ms = "
                       "?4, state = 3 WHERE id = ?1",
    [ST_EXEC_DELETE] = "DELETE FROM executions WHERE id = ?1",
    [ST_EVENT_GET] = "SELECT json FROM events WHERE id = ?1 AND seq = ?2",
    [ST_EVENT_INSERT] = "INSERT INTO events (id, seq, type, json) VALUES (?1, ?2, ?3, ?4)",
    [ST_EVENT_REPLACE] = "UPDATE events SET type = ?3, json = ?4 WHERE id = ?1 AND seq = ?2",
    [ST_EVENT_NEXT] = "SELECT seq, type, json FROM events WHERE id = ?1 AND seq > ?2 "
                      "ORDER BY seq LIMIT 1",
    [ST_EVENTS_DELETE] = "DELETE FROM events WHERE id = ?1",
    [ST_OLDEST] = "SELECT id, bytes FROM executions WHERE id != ?1 ORDER BY updated_ms "
                  "LIMIT 64",
    [ST_EXPIRED_SUM] = "SELECT count(*), total(bytes) FROM executions WHERE updated_ms < ?1",
    [ST_EXPIRE_EVENTS] = "DELETE FROM events WHERE id IN "
                         "(SELECT id FROM executions WHERE updated_ms < ?1)",
    [ST_EXPIRE_EXECS] = "DELETE FROM executions WHERE updated_ms < ?1",
    [ST_COUNT] = "SELECT count(*) FROM executions",
    [ST_TOTAL] = "SELECT total(bytes) FROM executions",
    [ST_RESULT_GET] = "SELECT result FROM executions WHERE id = ?1",
    [ST_META_GET] = "SELECT value FROM meta WHERE key = ?1",
    [ST_META_SET] = "INSERT INTO meta (key, value) VALUES (?1, ?2) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
};

/* state: 1 queued, 2 running, 3 done (jr_exec_state). bytes: the payload bytes of the
 * execution (its events' JSON and its result), summed into jr_store.total. */
static const char schema[] =
    "CREATE TABLE IF NOT EXISTS executions ("
    " id BLOB PRIMARY KEY,"
    " state INTEGER NOT NULL,"
    " created_ms INTEGER NOT NULL,"
    " updated_ms INTEGER NOT NULL,"
    " n_events INTEGER NOT NULL DEFAULT 0,"
    " done_event INTEGER NOT NULL DEFAULT 0,"
    " bytes INTEGER NOT NULL DEFAULT 0,"
    " result BLOB"
    ") WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS executions_updated ON executions (updated_ms);"
    "CREATE TABLE IF NOT EXISTS events ("
    " id BLOB NOT NULL,"
    " seq INTEGER NOT NULL,"
    " type TEXT NOT NULL,"
    " json BLOB NOT NULL,"
    " PRIMARY KEY (id, seq)"
    ") WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS meta ("
    " key TEXT PRIMARY KEY,"
    " value TEXT NOT NULL"
    ");";

struct jr_store {
        sqlite3 *db;
        char *path;
        sqlite3_stmt *st[ST__N];
        uint64_t ttl_ms, max_bytes;
        unsigned max_events;
        uint64_t total; /* sum of executions.bytes */
};

const char *jr_exec_state_name(jr_exec_state s)
{
        switch (s) {
        case JR_EXEC_QUEUED:
                return "queued";
        case JR_EXEC_RUNNING:
                return "running";
        case JR_EXEC_DONE:
                return "done";
        default:
                return "unknown";
        }
}

/* SQLite's own message, with the errno behind an I/O error when there is one. */
static int db_error(jr_store *s, jr_error *e, const char *step)
{
        int err = sqlite3_system_errno(s->db);
        int code = sqlite3_errcode(s->db);
        if (err == 0)
                err = code == SQLITE_FULL ? ENOSPC : code == SQLITE_NOMEM ? ENOMEM : EIO;
        jr_error_set(e, 0, "results store \"%s\": %s: %s", s->path, step, sqlite3_errmsg(s->db));
        e->err = err;
        return -1;
}

static sqlite3_stmt *stmt(jr_store *s, int which)
{
        sqlite3_stmt *st = s->st[which];
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        return st;
}

/* Run a statement that returns no row. */
static int run(jr_store *s, int which, jr_error *e, const char *step)
{
        int rc = sqlite3_step(s->st[which]);
        sqlite3_reset(s->st[which]);
        if (rc != SQLITE_DONE)
                return db_error(s, e, step);
        return 0;
}

/* Step a statement that returns at most one row: 1 a row (read it, then sqlite3_reset),
 * 0 none, < 0 an error. */
static int step_row(jr_store *s, sqlite3_stmt *st, jr_error *e, const char *step)
{
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
                return 1;
        sqlite3_reset(st);
        return rc == SQLITE_DONE ? 0 : db_error(s, e, step);
}

static int begin(jr_store *s, jr_error *e)
{
        stmt(s, ST_BEGIN);
        return run(s, ST_BEGIN, e, "begin transaction");
}

static int commit(jr_store *s, jr_error *e)
{
        stmt(s, ST_COMMIT);
        return run(s, ST_COMMIT, e, "commit");
}

/* After a failure inside a transaction: undo it, keeping the first error. */
static int rollback(jr_store *s)
{
        if (!sqlite3_get_autocommit(s->db)) {
                stmt(s, ST_ROLLBACK);
                sqlite3_step(s->st[ST_ROLLBACK]);
                sqlite3_reset(s->st[ST_ROLLBACK]);
        }
        return -1;
}

static int exec_sql(jr_store *s, const char *text, jr_error *e, const char *step)
{
        char *msg = NULL;
        if (sqlite3_exec(s->db, text, NULL, NULL, &msg) != SQLITE_OK) {
                int ret = db_error(s, e, step);
                if (msg) {
                        jr_error_set(e, e->err, "results store \"%s\": %s: %s", s->path, step, msg);
                        sqlite3_free(msg);
                }
                return ret;
        }
        return 0;
}

static int query_int(jr_store *s, const char *text, int64_t *out, jr_error *e, const char *step)
{
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(s->db, text, -1, &st, NULL) != SQLITE_OK)
                return db_error(s, e, step);
        int rc = sqlite3_step(st);
        if (rc != SQLITE_ROW) {
                sqlite3_finalize(st);
                return db_error(s, e, step);
        }
        *out = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        return 0;
}

void jr_store_close(jr_store *s)
{
        if (!s)
                return;
        for (size_t i = 0; i < ST__N; i++)
                sqlite3_finalize(s->st[i]);
        if (s->db)
                sqlite3_close(s->db);
        free(s->path);
        free(s);
}

static int setup(jr_store *s, bool durable, jr_error *e)
{
        /* A second front door on the same file (or `sqlite3` reading it) holds the write
         * lock for a moment: wait a little rather than fail at once. */
        sqlite3_busy_timeout(s->db, 2000);
        int64_t version = 0;
        if (query_int(s, "PRAGMA user_version", &version, e, "read the schema version") < 0)
                return -1;
        if (version > SCHEMA_VERSION)
                return jr_error_set(e, EPROTO,
                                    "results store \"%s\": schema version %lld is newer than "
                                    "this jailrun's (%d)",
                                    s->path, (long long)version, SCHEMA_VERSION);
        /* WAL: readers never wait for the writer, and a commit is one append. The mode is
         * persistent in the file; ":memory:" stays "memory". */
        if (exec_sql(s, "PRAGMA journal_mode=WAL", e, "set WAL mode") < 0)
                return -1;
        if (exec_sql(s, durable ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL", e,
                     "set synchronous") < 0)
                return -1;
        if (exec_sql(s, "PRAGMA foreign_keys=OFF; PRAGMA secure_delete=OFF", e, "set pragmas") < 0)
                return -1;
        if (version < SCHEMA_VERSION) {
                char text[sizeof schema + 64];
                snprintf(text, sizeof text, "BEGIN; %s PRAGMA user_version=%d; COMMIT;", schema,
                         SCHEMA_VERSION);
                if (exec_sql(s, text, e, "create the tables") < 0) {
                        exec_sql(s, "ROLLBACK", NULL, "rollback");
                        return -1;
                }
        }
        for (size_t i = 0; i < ST__N; i++)
                if (sqlite3_prepare_v3(s->db, sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i],
                                       NULL) != SQLITE_OK)
                        return db_error(s, e, "prepare statements");
        int64_t total = 0;
        sqlite3_stmt *st = stmt(s, ST_TOTAL);
        if (sqlite3_step(st) != SQLITE_ROW)
                return db_error(s, e, "sum the payload bytes");
        total = sqlite3_column_int64(st, 0);
        sqlite3_reset(st);
        s->total = total > 0 ? (uint64_t)total : 0;
        return 0;
}

int jr_store_open(const jr_store_opts *opts, jr_store **out, jr_error *e)
{
        if (!opts->path || !opts->path[0])
                return jr_error_set(e, EINVAL, "results store: no database path");
        jr_store *s = calloc(1, sizeof *s);
        if (!s)
                return jr_error_set(e, ENOMEM, "results store: allocate");
        s->path = strdup(opts->path);
        s->ttl_ms = opts->ttl_ms ? opts->ttl_ms : JR_STORE_TTL_DEFAULT_MS;
        s->max_bytes = opts->max_bytes ? opts->max_bytes : JR_STORE_MAX_BYTES_DEFAULT;
        s->max_events = opts->max_events ? opts->max_events : JR_STORE_MAX_EVENTS_DEFAULT;
        if (!s->path) {
                jr_store_close(s);
                return jr_error_set(e, ENOMEM, "results store: allocate");
        }
        /* One connection, used from one thread: no mutexes. SQLite opens its files with
         * O_CLOEXEC, so they never reach a jail. */
        int rc =
            sqlite3_open_v2(s->path, &s->db,
                            SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
        if (rc != SQLITE_OK) {
                if (!s->db) {
                        jr_store_close(s);
                        return jr_error_set(e, ENOMEM, "results store: allocate");
                }
                db_error(s, e, "open");
                jr_store_close(s);
                return -1;
        }
        sqlite3_extended_result_codes(s->db, 1);
        if (setup(s, opts->durable, e) < 0) {
                jr_store_close(s);
                return -1;
        }
        *out = s;
        return 0;
}

uint64_t jr_store_bytes(const jr_store *s)
{
        return s->total;
}

int jr_store_count(jr_store *s, uint64_t *executions, jr_error *e)
{
        sqlite3_stmt *st = stmt(s, ST_COUNT);
        int rc = sqlite3_step(st);
        if (rc != SQLITE_ROW) {
                sqlite3_reset(st);
                return db_error(s, e, "count executions");
        }
        *executions = (uint64_t)sqlite3_column_int64(st, 0);
        sqlite3_reset(st);
        return 0;
}

/* stmt() with the id bound to ?1; NULL when binding fails. */
static sqlite3_stmt *stmt_id(jr_store *s, int which, const void *id, size_t id_len, jr_error *e)
{
        sqlite3_stmt *st = stmt(s, which);
        /* a zero-length blob binds as an empty blob, never NULL */
        if (sqlite3_bind_blob64(st, 1, id_len ? id : "", id_len, SQLITE_STATIC) != SQLITE_OK) {
                db_error(s, e, "bind the id");
                return NULL;
        }
        return st;
}

/* The execution's row, inside a transaction: 1 found (state, bytes and the result's
 * length filled), 0 not found. */
static int exec_row(jr_store *s, const char *id, size_t id_len, int *state, int64_t *bytes,
                    int64_t *result_len, jr_error *e)
{
        sqlite3_stmt *st = stmt_id(s, ST_EXEC_GET, id, id_len, e);
        if (!st)
                return -1;
        int found = step_row(s, st, e, "read the execution");
        if (found <= 0)
                return found;
        *state = sqlite3_column_int(st, 0);
        *bytes = sqlite3_column_int64(st, 5);
        *result_len = sqlite3_column_int64(st, 6);
        sqlite3_reset(st);
        return 1;
}

static int exec_insert(jr_store *s, const char *id, size_t id_len, jr_exec_state state,
                       int64_t now_ms, jr_error *e)
{
        sqlite3_stmt *st = stmt_id(s, ST_EXEC_INSERT, id, id_len, e);
        if (!st)
                return -1;
        sqlite3_bind_int(st, 2, (int)state);
        sqlite3_bind_int64(st, 3, now_ms);
        return run(s, ST_EXEC_INSERT, e, "insert the execution");
}

/* Forget one execution, inside a transaction. */
static int exec_delete(jr_store *s, const void *id, size_t id_len, int64_t bytes, jr_error *e)
{
        if (!stmt_id(s, ST_EVENTS_DELETE, id, id_len, e) ||
            run(s, ST_EVENTS_DELETE, e, "delete events") < 0)
                return -1;
        if (!stmt_id(s, ST_EXEC_DELETE, id, id_len, e) ||
            run(s, ST_EXEC_DELETE, e, "delete the execution") < 0)
                return -1;
        s->total = s->total > (uint64_t)bytes ? s->total - (uint64_t)bytes : 0;
        return 0;
}

/* Over the byte budget: forget the least recently changed executions, never `keep`. */
static int prune(jr_store *s, const char *keep, size_t keep_len, jr_error *e)
{
        while (s->total > s->max_bytes) {
                if (begin(s, e) < 0)
                        return -1;
                sqlite3_stmt *st = stmt_id(s, ST_OLDEST, keep, keep_len, e);
                if (!st)
                        return rollback(s);
                struct victim {
                        void *id;
                        size_t len;
                        int64_t bytes;
                } v[64];
                size_t n = 0;
                uint64_t freed = 0;
                int rc;
                while (n < JR_ARRAY_SIZE(v) && s->total - freed > s->max_bytes &&
                       (rc = sqlite3_step(st)) == SQLITE_ROW) {
                        size_t len = (size_t)sqlite3_column_bytes(st, 0);
                        v[n].id = jr_memdup(sqlite3_column_blob(st, 0), len);
                        if (!v[n].id)
                                break;
                        v[n].len = len;
                        v[n].bytes = sqlite3_column_int64(st, 1);
                        freed += (uint64_t)v[n].bytes;
                        n++;
                }
                sqlite3_reset(st);
                int ret = 0;
                for (size_t i = 0; i < n; i++) {
                        if (ret == 0 && exec_delete(s, v[i].id, v[i].len, v[i].bytes, e) < 0)
                                ret = -1;
                        free(v[i].id);
                }
                if (ret < 0)
                        return rollback(s);
                if (commit(s, e) < 0)
                        return rollback(s);
                if (n == 0)
                        break; /* only `keep` is left */
        }
        return 0;
}

int jr_store_put_queued(jr_store *s, const char *id, size_t id_len, int64_t now_ms, jr_error *e)
{
        if (begin(s, e) < 0)
                return -1;
        int state;
        int64_t bytes, rlen;
        int found = exec_row(s, id, id_len, &state, &bytes, &rlen, e);
        if (found < 0)
                return rollback(s);
        if (found) {
                rollback(s);
                return jr_error_set(e, EEXIST, "results store: execution \"%.*s\" exists",
                                    (int)(id_len > 200 ? 200 : id_len), id);
        }
        if (exec_insert(s, id, id_len, JR_EXEC_QUEUED, now_ms, e) < 0 || commit(s, e) < 0)
                return rollback(s);
        return 0;
}

/* Whether the stored event (id, seq) has exactly these bytes: 1 same, 0 different, 2 none. */
static int event_compare(jr_store *s, const char *id, size_t id_len, uint64_t seq, const void *json,
                         size_t len, int64_t *old_len, jr_error *e)
{
        sqlite3_stmt *st = stmt_id(s, ST_EVENT_GET, id, id_len, e);
        if (!st)
                return -1;
        sqlite3_bind_int64(st, 2, (int64_t)seq);
        int found = step_row(s, st, e, "read the event");
        if (found <= 0)
                return found < 0 ? -1 : 2;
        size_t n = (size_t)sqlite3_column_bytes(st, 0);
        const void *old = sqlite3_column_blob(st, 0);
        int same = n == len && (n == 0 || memcmp(old, json, n) == 0);
        *old_len = (int64_t)n;
        sqlite3_reset(st);
        return same;
}

static int put_event_tx(jr_store *s, const char *id, size_t id_len, uint64_t seq, const char *type,
                        const void *json, size_t len, int64_t now_ms, jr_error *e)
{
        int64_t old_len = 0;
        int cmp = event_compare(s, id, id_len, seq, json, len, &old_len, e);
        if (cmp < 0)
                return -1;
        if (cmp == 1)
                return 0; /* a redelivery */
        int state = 0;
        int64_t bytes = 0, rlen = 0;
        int found = exec_row(s, id, id_len, &state, &bytes, &rlen, e);
        if (found < 0)
                return -1;
        bool replace = cmp == 0;
        if (replace && seq == 0) {
                /* the same id judged again: its story starts over */
                if (exec_delete(s, id, id_len, bytes, e) < 0)
                        return -1;
                found = 0;
                replace = false;
        }
        if (!found && exec_insert(s, id, id_len, JR_EXEC_RUNNING, now_ms, e) < 0)
                return -1;
        if (!replace && seq >= s->max_events)
                return jr_error_set(e, E2BIG,
                                    "results store: event seq %llu of \"%.*s\" is over the cap "
                                    "of %u events per execution",
                                    (unsigned long long)seq, (int)(id_len > 200 ? 200 : id_len), id,
                                    s->max_events);
        int which = replace ? ST_EVENT_REPLACE : ST_EVENT_INSERT;
        sqlite3_stmt *st = stmt_id(s, which, id, id_len, e);
        if (!st)
                return -1;
        sqlite3_bind_int64(st, 2, (int64_t)seq);
        sqlite3_bind_text(st, 3, type, -1, SQLITE_STATIC);
        sqlite3_bind_blob64(st, 4, len ? json : "", len, SQLITE_STATIC);
        if (run(s, which, e, replace ? "replace the event" : "insert the event") < 0)
                return -1;
        int64_t delta = (int64_t)len - (replace ? old_len : 0);
        if (!(st = stmt_id(s, ST_EXEC_EVENT, id, id_len, e)))
                return -1;
        sqlite3_bind_int(st, 2, replace ? 0 : 1);
        sqlite3_bind_int64(st, 3, delta);
        sqlite3_bind_int64(st, 4, now_ms);
        sqlite3_bind_int(st, 5, strcmp(type, "done") == 0);
        if (run(s, ST_EXEC_EVENT, e, "update the execution") < 0)
                return -1;
        s->total = (uint64_t)((int64_t)s->total + delta);
        return 0;
}

int jr_store_put_event(jr_store *s, const char *id, size_t id_len, uint64_t seq, const char *type,
                       const void *json, size_t len, int64_t now_ms, jr_error *e)
{
        if (seq > INT64_MAX)
                return jr_error_set(e, EINVAL, "results store: event seq %llu is out of range",
                                    (unsigned long long)seq);
        uint64_t before = s->total;
        if (begin(s, e) < 0)
                return -1;
        if (put_event_tx(s, id, id_len, seq, type, json, len, now_ms, e) < 0 || commit(s, e) < 0) {
                s->total = before;
                return rollback(s);
        }
        return prune(s, id, id_len, e);
}

int jr_store_put_result(jr_store *s, const char *id, size_t id_len, const void *json, size_t len,
                        int64_t now_ms, jr_error *e)
{
        if (begin(s, e) < 0)
                return -1;
        int state = 0;
        int64_t bytes = 0, rlen = 0;
        int found = exec_row(s, id, id_len, &state, &bytes, &rlen, e);
        if (found < 0)
                return rollback(s);
        if (!found && exec_insert(s, id, id_len, JR_EXEC_DONE, now_ms, e) < 0)
                return rollback(s);
        if (found && state == JR_EXEC_DONE && rlen == (int64_t)len) {
                /* the same result again (a redelivery, or the copy from the results topic
                 * of one this process stored first): nothing changes */
                sqlite3_stmt *st = stmt_id(s, ST_RESULT_GET, id, id_len, e);
                if (!st)
                        return rollback(s);
                int rc = sqlite3_step(st);
                bool same = rc == SQLITE_ROW &&
                            (len == 0 || !memcmp(sqlite3_column_blob(st, 0), json, len));
                sqlite3_reset(st);
                if (rc != SQLITE_ROW) {
                        db_error(s, e, "read the result");
                        return rollback(s);
                }
                if (same)
                        return commit(s, e) < 0 ? rollback(s) : 0;
        }
        int64_t delta = (int64_t)len - rlen;
        sqlite3_stmt *st = stmt_id(s, ST_EXEC_RESULT, id, id_len, e);
        if (!st)
                return rollback(s);
        sqlite3_bind_blob64(st, 2, len ? json : "", len, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, delta);
        sqlite3_bind_int64(st, 4, now_ms);
        if (run(s, ST_EXEC_RESULT, e, "store the result") < 0 || commit(s, e) < 0)
                return rollback(s);
        s->total = (uint64_t)((int64_t)s->total + delta);
        return prune(s, id, id_len, e);
}

/* A copy of column col as a NUL-terminated string. */
static int column_copy(jr_store *s, sqlite3_stmt *st, int col, char **out, size_t *out_len,
                       jr_error *e)
{
        size_t n = (size_t)sqlite3_column_bytes(st, col);
        const void *p = sqlite3_column_blob(st, col);
        char *c = jr_memdup(p, n);
        if (!c)
                return jr_error_set(e, ENOMEM, "results store \"%s\": copy %zu bytes", s->path, n);
        *out = c;
        if (out_len)
                *out_len = n;
        return 0;
}

int jr_store_get(jr_store *s, const char *id, size_t id_len, jr_exec_info *info, char **result,
                 size_t *result_len, jr_error *e)
{
        memset(info, 0, sizeof *info);
        if (result)
                *result = NULL;
        if (result_len)
                *result_len = 0;
        sqlite3_stmt *st = stmt_id(s, ST_EXEC_GET, id, id_len, e);
        if (!st)
                return -1;
        int found = step_row(s, st, e, "read the execution");
        if (found <= 0)
                return found;
        info->state = (jr_exec_state)sqlite3_column_int(st, 0);
        info->n_events = (uint64_t)sqlite3_column_int64(st, 1);
        info->created_ms = sqlite3_column_int64(st, 2);
        info->updated_ms = sqlite3_column_int64(st, 3);
        info->done_event = sqlite3_column_int(st, 4) != 0;
        int ret = 1;
        if (result && sqlite3_column_type(st, 7) != SQLITE_NULL &&
            column_copy(s, st, 7, result, result_len, e) < 0)
                ret = -1;
        sqlite3_reset(st);
        return ret;
}

int jr_store_next_event(jr_store *s, const char *id, size_t id_len, int64_t after, uint64_t *seq,
                        char *type, size_t type_size, char **json, size_t *len, jr_error *e)
{
        sqlite3_stmt *st = stmt_id(s, ST_EVENT_NEXT, id, id_len, e);
        if (!st)
                return -1;
        sqlite3_bind_int64(st, 2, after < 0 ? -1 : after);
        int found = step_row(s, st, e, "read events");
        if (found <= 0)
                return found;
        int ret = 1;
        *seq = (uint64_t)sqlite3_column_int64(st, 0);
        if (type_size) {
                const unsigned char *t = sqlite3_column_text(st, 1);
                snprintf(type, type_size, "%s", t ? (const char *)t : "");
        }
        if (column_copy(s, st, 2, json, len, e) < 0)
                ret = -1;
        sqlite3_reset(st);
        return ret;
}

int jr_store_expire(jr_store *s, int64_t now_ms, uint64_t *removed, jr_error *e)
{
        if (removed)
                *removed = 0;
        int64_t cutoff = now_ms - (int64_t)s->ttl_ms;
        if (begin(s, e) < 0)
                return -1;
        sqlite3_stmt *st = stmt(s, ST_EXPIRED_SUM);
        sqlite3_bind_int64(st, 1, cutoff);
        if (sqlite3_step(st) != SQLITE_ROW) {
                sqlite3_reset(st);
                db_error(s, e, "find expired executions");
                return rollback(s);
        }
        int64_t n = sqlite3_column_int64(st, 0);
        int64_t bytes = sqlite3_column_int64(st, 1);
        sqlite3_reset(st);
        if (n == 0)
                return commit(s, e) < 0 ? rollback(s) : 0;
        st = stmt(s, ST_EXPIRE_EVENTS);
        sqlite3_bind_int64(st, 1, cutoff);
        if (run(s, ST_EXPIRE_EVENTS, e, "delete expired events") < 0)
                return rollback(s);
        st = stmt(s, ST_EXPIRE_EXECS);
        sqlite3_bind_int64(st, 1, cutoff);
        if (run(s, ST_EXPIRE_EXECS, e, "delete expired executions") < 0 || commit(s, e) < 0)
                return rollback(s);
        s->total = s->total > (uint64_t)bytes ? s->total - (uint64_t)bytes : 0;
        if (removed)
                *removed = (uint64_t)n;
        return 0;
}

/* ---- events as they come from the events topic ---- */

int jr_store_put_event_json(jr_store *s, const char *id, size_t id_len, const void *json,
                            size_t len, int64_t now_ms, jr_error *e)
{
        /* yajl_tree needs a NUL-terminated copy; events are at most a few hundred KiB */
        _cleanup_free_ char *text = jr_memdup(json, len);
        if (!text)
                return jr_error_set(e, ENOMEM, "event: copy %zu bytes", len);
        if (strlen(text) != len)
                return jr_error_set(e, EINVAL, "event: not JSON (a NUL byte)");
        char err[256];
        yajl_val v = yajl_tree_parse(text, err, sizeof err);
        if (!v)
                return jr_error_set(e, EINVAL, "event: not JSON: %s", err);
        const char *id_path[] = {"id", NULL};
        const char *seq_path[] = {"seq", NULL};
        const char *type_path[] = {"type", NULL};
        yajl_val jid = yajl_tree_get(v, id_path, yajl_t_string);
        yajl_val seq = yajl_tree_get(v, seq_path, yajl_t_number);
        yajl_val type = yajl_tree_get(v, type_path, yajl_t_string);
        int ret;
        if (!YAJL_IS_OBJECT(v))
                ret = jr_error_set(e, EINVAL, "event: not a JSON object");
        else if (!id && !jid)
                ret = jr_error_set(e, EINVAL, "event: field \"id\": must be a string");
        else if (!seq || !YAJL_IS_INTEGER(seq) || YAJL_GET_INTEGER(seq) < 0)
                ret =
                    jr_error_set(e, EINVAL, "event: field \"seq\": must be a non-negative integer");
        else if (!type || strlen(type->u.string) > 32)
                ret = jr_error_set(e, EINVAL, "event: field \"type\": must be a short string");
        else {
                /* yajl_tree cuts a string at \u0000: the key keeps every byte */
                if (!id) {
                        id = jid->u.string;
                        id_len = strlen(id);
                }
                ret = jr_store_put_event(s, id, id_len, (uint64_t)YAJL_GET_INTEGER(seq),
                                         type->u.string, json, len, now_ms, e);
        }
        yajl_tree_free(v);
        return ret;
}

/* ---- settings of the front door that outlive a restart ---- */

int jr_store_meta_get(jr_store *s, const char *key, char **value, jr_error *e)
{
        *value = NULL;
        sqlite3_stmt *st = stmt(s, ST_META_GET);
        sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
        int found = step_row(s, st, e, "read a setting");
        if (found <= 0)
                return found;
        int ret = column_copy(s, st, 0, value, NULL, e) < 0 ? -1 : 1;
        sqlite3_reset(st);
        return ret;
}

int jr_store_meta_set(jr_store *s, const char *key, const char *value, jr_error *e)
{
        sqlite3_stmt *st = stmt(s, ST_META_SET);
        sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
        return run(s, ST_META_SET, e, "write a setting");
}

int jr_store_sync(jr_store *s, jr_error *e)
{
        /* With synchronous=NORMAL the WAL is fsync'd before a checkpoint copies it: after
         * this, every transaction committed so far survives a crash of the machine. */
        int log = 0, done = 0;
        int rc = sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
        if (rc != SQLITE_OK && rc != SQLITE_BUSY)
                return db_error(s, e, "checkpoint");
        return 0;
}
