/* jr_log: structured logs, one JSON object per line, for `jailrun serve`.
 *
 *   {"time":"2026-01-15T10:30:00.123Z","level":"info","msg":"judged","id":"s-1",
 *    "language":"c","status":"OK","build_ms":310,"tests_ms":42,"total_ms":371,"slot":0}
 *
 * "time", "level" and "msg" come first, then the fields in the order given. Every string
 * is valid JSON whatever its bytes (invalid UTF-8 becomes U+FFFD, long values are cut).
 *
 * Thread-safe: librdkafka's threads log through it (the embedded broker). Each line is
 * built in a private buffer and written with one writev(), so lines of different threads
 * and processes never interleave. The destination is stderr, or a file opened with
 * O_APPEND that jr_log_reopen() replaces atomically (dup3 onto the same descriptor) for
 * log rotation. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* syslog numbering, so that librdkafka's levels map one to one */
typedef enum jr_log_level {
        JR_LOG_ERROR = 3,
        JR_LOG_WARNING = 4,
        JR_LOG_NOTICE = 5,
        JR_LOG_INFO = 6,
        JR_LOG_DEBUG = 7,
} jr_log_level;

typedef enum jr_log_type {
        JR_LF_END = 0, /* terminates a field list */
        JR_LF_STR,     /* NUL-terminated string; NULL is written as null */
        JR_LF_BYTES,   /* ptr + len */
        JR_LF_INT,
        JR_LF_UINT,
        JR_LF_BOOL,
} jr_log_type;

typedef struct jr_log_field {
        const char *key;
        jr_log_type type;
        union {
                const char *s;
                struct {
                        const void *ptr;
                        size_t len;
                } b;
                int64_t i;
                uint64_t u;
                bool t;
        } v;
} jr_log_field;

#define JR_LOG_STR(k, x)      ((jr_log_field){.key = (k), .type = JR_LF_STR, .v.s = (x)})
#define JR_LOG_BYTES(k, p, n) ((jr_log_field){.key = (k), .type = JR_LF_BYTES, .v.b = {(p), (n)}})
#define JR_LOG_INT(k, x)      ((jr_log_field){.key = (k), .type = JR_LF_INT, .v.i = (int64_t)(x)})
#define JR_LOG_UINT(k, x)     ((jr_log_field){.key = (k), .type = JR_LF_UINT, .v.u = (uint64_t)(x)})
#define JR_LOG_BOOL(k, x)     ((jr_log_field){.key = (k), .type = JR_LF_BOOL, .v.t = (x)})

/* jr_log(JR_LOG_INFO, "judged", JR_LOG_STR("id", id), JR_LOG_INT("slot", 1)); */
#define jr_log(level, msg, ...)                                                                    \
        jr_log_fields((level), (msg), (const jr_log_field[]){__VA_ARGS__ __VA_OPT__(, ){0}})

/* Write one line when level <= the threshold. fields ends with a JR_LF_END entry. */
void jr_log_fields(jr_log_level level, const char *msg, const jr_log_field *fields);

/* printf-style message without fields. */
void jr_logf(jr_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Lines above `level` are dropped (default JR_LOG_INFO). */
void jr_log_set_level(jr_log_level level);
bool jr_log_enabled(jr_log_level level);
/* "error", "warning"/"warn", "notice", "info", "debug". */
int jr_log_level_parse(const char *name, jr_log_level *out, jr_error *e);
const char *jr_log_level_name(jr_log_level level);

/* Log to `path` (append, created 0640) instead of stderr; the file also becomes fd 2 so
 * that anything a library prints lands there too. NULL: stderr (the default). */
int jr_log_open(const char *path, jr_error *e);
/* Reopen the file given to jr_log_open (after logrotate moved it). 0 and nothing to do
 * when logging to stderr. */
int jr_log_reopen(jr_error *e);
/* Whether jr_log_open was given a file. */
bool jr_log_to_file(void);
