/* The wire messages of jailrun (docs/messages.md): parse and validate a
 * submission, generate result and event JSON within a size cap.
 *
 * No I/O, no Kafka, no jail: bytes in, structs out, and structs in, bytes out.
 *
 * Byte strings. Every payload (source, stdin, outputs, ids) is a jr_bytes {ptr, len}
 * (bytes.h) and may contain NUL bytes: use len, never strlen. Strings owned by a parsed
 * jr_submission are also NUL-terminated (ptr[len] == '\0') so that those known to be
 * NUL-free (language names) can be passed to C APIs.
 *
 * Integers that may be JSON null (exit_code, duration_ms, ...) are int64_t where any
 * negative value means null.
 *
 * Errors follow src/base/error.h: < 0 and a jr_error whose message names the field. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "bytes.h"
#include "checker.h"
#include "clock.h"
#include "error.h"

/* ---------------------------------------------------------------- statuses */

/* Verdicts, as in the spec's status table. */
typedef enum jr_status {
        JR_STATUS_OK = 0,
        JR_STATUS_WA,      /* wrong answer */
        JR_STATUS_TL,      /* time limit (CPU or wall) */
        JR_STATUS_ML,      /* memory limit (OOM kill) */
        JR_STATUS_RE,      /* runtime error: non-zero exit or a signal */
        JR_STATUS_OL,      /* output limit */
        JR_STATUS_BF,      /* build failed */
        JR_STATUS_IE,      /* invalid submission or internal error */
        JR_STATUS_NOT_RUN, /* "-": not run */
        JR_STATUS__COUNT,
} jr_status;

/* "OK", "WA", ..., "-" for JR_STATUS_NOT_RUN; "?" for a value out of range. */
const char *jr_status_name(jr_status s);
/* The inverse, on len bytes: 0, or -1 (and *out untouched) for an unknown name. */
int jr_status_from_name(const char *name, size_t len, jr_status *out);

/* ---------------------------------------------------------------- submissions */

#define JR_PARSE_MAX_INPUT_DEFAULT  ((size_t)64 << 20) /* whole message */
#define JR_PARSE_MAX_STRING_DEFAULT ((size_t)16 << 20) /* any one string, decoded */
#define JR_PARSE_MAX_ID_DEFAULT     ((size_t)1024)     /* the id (it is echoed everywhere) */
#define JR_PARSE_MAX_DEPTH_DEFAULT  64u                /* nested arrays/objects */
/* The spec's cap of 1000 events per execution counts every event: accepted, build, one
 * per test (a test that is not run has one too), done. So at most 997 tests. */
#define JR_EVENTS_MAX              ((size_t)1000)
#define JR_EVENTS_NOT_TESTS        ((size_t)3) /* accepted, build, done */
#define JR_PARSE_MAX_TESTS_DEFAULT (JR_EVENTS_MAX - JR_EVENTS_NOT_TESTS)

typedef struct jr_parse_options {
        /* The known language names (the langs/ data files), ideally sorted: the error
         * for an unknown one lists them in this order. NULL: any non-empty name. */
        const char *const *languages;
        size_t n_languages;
        /* The id when the message has none (absent, null or ""): the Kafka key, else
         * "topic:offset". May be empty. */
        jr_bytes fallback_id;
        /* Host caps; 0 selects the default above. Exceeding one is an error naming it;
         * nothing is allocated in proportion to a value before its cap is checked. */
        size_t max_input_bytes;
        size_t max_string_bytes;
        size_t max_id_bytes;
        unsigned max_depth;
        size_t max_tests;
} jr_parse_options;

typedef enum jr_msg_type {
        JR_MSG_SCRIPT = 0, /* a submission to judge */
        JR_MSG_DONE,       /* end of stream: finish in-flight work and exit */
} jr_msg_type;

typedef struct jr_test_case {
        int64_t number;           /* as given, else the 1-based position in "tests" */
        jr_bytes input;           /* stdin; empty when absent */
        jr_bytes expected_output; /* meaningful only when has_expected_output */
        bool has_expected_output; /* false: absent or null, no comparison (unlike "") */
        uint64_t wall_limit_ms;   /* (new) this test's wall-clock limit; 0: the judge's usual
                                     one (the time limit plus the margin). At most INT64_MAX */
} jr_test_case;

/* A program of the jury sent with the submission: "checker" as an object, or
 * "interactor", both {"language": ..., "source": ...}. */
typedef struct jr_jury_program {
        bool given;
        jr_bytes language;     /* one of options.languages */
        size_t language_index; /* its index in options.languages (0 when NULL) */
        jr_bytes source;       /* non-empty */
} jr_jury_program;

typedef struct jr_submission {
        jr_msg_type type;
        jr_bytes id;          /* the message's id, else a copy of the fallback */
        bool id_from_message; /* false when id is the fallback */
        /* For JR_MSG_DONE the fields below keep their defaults unless given (they are
         * validated when present but not required). */
        jr_bytes language;               /* one of options.languages */
        size_t language_index;           /* its index in options.languages (0 when NULL) */
        jr_bytes source;                 /* non-empty */
        uint64_t time_limit_ms;          /* 0 = host default; at most INT64_MAX */
        uint64_t memory_limit_bytes;     /* 0 = host default; at most INT64_MAX */
        jr_checker checker;              /* default JR_CHECKER_LINES */
        double checker_eps;              /* the tolerance of "float:EPS"; 0 for the others */
        jr_jury_program checker_program; /* "checker" as an object: replaces `checker` */
        jr_jury_program interactor;      /* "interactor" */
        bool checker_given;   /* a checker (name or program) was given; else the host's default */
        bool stop_on_failure; /* default true */
        /* Always at least one test. When "tests" is absent, null or [], tests_given is
         * false and tests holds one implicit run: number 1, empty stdin, no expected
         * output (the spec's "one run"; its outputs go to the result's top level). */
        bool tests_given;
        size_t n_tests;
        jr_test_case *tests;
        void *mem_; /* private: the storage of every string above */
} jr_submission;

/* What went wrong in a failed parse (the return value). */
typedef enum jr_parse_failure {
        JR_PARSE_NOT_JSON = -1, /* empty, truncated, bad UTF-8, syntax error */
        JR_PARSE_LIMIT = -2,    /* a host cap: input size, depth, string length, tests */
        JR_PARSE_INVALID = -3,  /* JSON, but not a valid submission (e.g. not an object) */
        JR_PARSE_INTERNAL = -4, /* out of memory, or bad options */
} jr_parse_failure;

/* Parse one submission from len bytes at buf (not NUL-terminated; any bytes at all).
 *
 * On success returns 0 and *out is a new submission (jr_submission_free).
 *
 * On failure returns a jr_parse_failure (< 0), *out is untouched, e holds a message
 * that names the field, e.g.
 *   field "limits.time_limit_ms": must be a non-negative integer
 *   field "tests[3].input": must be a string        (indexes are 0-based)
 *   field "tests[0].wall_limit_ms": must be a non-negative integer
 *   field "language": unknown language "x" (known: c, cpp, go, java, python)
 *   field "tests": more than 997 tests (the cap is 1000 events: accepted, build,
 *                  one per test, done)
 *   not valid JSON at byte 17: parse error: premature EOF
 * and, when err_id is not NULL, *err_id receives the id to answer with in the IE result:
 * the message's own id when it could be read (parsing goes on after a field error to
 * find it), else a copy of the fallback (free(err_id->ptr); NULL only when out of
 * memory).
 *
 * Rules beyond the spec's field table:
 * - Unknown keys are ignored at any depth whatever their value.
 * - A duplicate key: the last occurrence wins ("tests" is replaced as a whole, each
 *   field of "limits" separately); every occurrence must still be valid.
 * - null is the same as absent, for every field (a required one is then missing).
 * - Integers are plain JSON integers: 1.0, 1e3 and -1 are not non-negative integers.
 * - Strings may hold \u0000. yajl checks UTF-8 and it stays on: bad UTF-8 is NOT_JSON.
 * - The id is at most max_id_bytes long (LIMIT; the IE result then uses the fallback).
 * Memory: one block of about len bytes for all strings (virtual, touched only by what
 * is kept) plus the tests array; strings without escapes are checked against their cap
 * before any copy. */
int jr_submission_parse(const void *buf, size_t len, const jr_parse_options *opt,
                        jr_submission **out, jr_buf *err_id, jr_error *e);

void jr_submission_free(jr_submission *s);
static inline void jr_submission_freep(jr_submission **s)
{
        jr_submission_free(*s);
}
#define _cleanup_submission_ __attribute__((cleanup(jr_submission_freep)))

/* ---------------------------------------------------------------- results */

#define JR_MSG_MAX_DEFAULT ((size_t)256 * 1024) /* one result or event, in bytes */

/* One test of a result, "tests[]" in the spec. Strings are borrowed. */
typedef struct jr_test_result {
        int64_t number;
        jr_status status;
        int64_t exit_code;        /* < 0: null (not run, or killed by a signal) */
        int64_t duration_ms;      /* wall time; < 0: null */
        jr_bytes std_out;         /* "stdout" (may be invalid UTF-8: sent with U+FFFD) */
        jr_bytes std_err;         /* "stderr" */
        jr_bytes input;           /* echoed stdin */
        jr_bytes expected_output; /* echoed; "" when the test has none */
        jr_bytes error;           /* why, for IE/RE/...; "" otherwise */
        int64_t cpu_ms;           /* (new) < 0: null */
        int64_t memory_bytes;     /* (new) peak; < 0: null */
        int64_t signal;           /* (new) the killing signal; <= 0: null */
        jr_bytes checker_output;  /* (new) what a checker program or interactor said (its
                                     stderr, then its stdout); ptr NULL: no such program ran,
                                     the field is omitted */
        bool truncated;           /* the caller already cut an output (at capture); the generator
                                     sets "truncated": true itself when it cuts */
} jr_test_result;

/* number as given, status "-", every nullable field null, every string empty. */
void jr_test_result_init(jr_test_result *t, int64_t number);

typedef struct jr_result {
        jr_bytes id;
        jr_status status;    /* see jr_overall_status */
        int64_t exit_code;   /* < 0: null */
        jr_bytes std_out;    /* with no tests, the one run's output */
        jr_bytes std_err;    /* with no tests, the one run's; on BF, the compiler's */
        int64_t duration_ms; /* < 0: null */
        jr_bytes error;      /* "" when none */
        const jr_test_result *tests;
        size_t n_tests;
        /* (new) The limits actually applied, when they differ from the request (host
         * default, or raised to the language's minimum): "time_limit_ms_used",
         * "memory_limit_bytes_used". < 0: omitted. */
        int64_t time_limit_ms_used;
        int64_t memory_limit_bytes_used;
        /* (new) Build (compile) wall time, "build_duration_ms"; < 0: omitted. */
        int64_t build_duration_ms;
        bool truncated;       /* as jr_test_result.truncated, for the top level */
        int64_t timestamp_ms; /* milliseconds since the epoch; 0: now */
} jr_result;

/* Status IE, exit_code/duration_ms null, optional fields omitted, no tests,
 * timestamp now. */
void jr_result_init(jr_result *r, jr_bytes id);

/* The spec's rule: the first test status that is not OK, else OK (also for n == 0). */
jr_status jr_overall_status(const jr_test_result *tests, size_t n);

/* Render r as one line of JSON, in the spec's field order:
 *   {"id","status","exit_code","stdout","stderr","duration_ms","error","tests":[{"number",
 *    "status","exit_code","duration_ms","stdout","stderr","input","expected_output",
 *    "error","cpu_ms","memory_bytes","signal"[,"checker_output"][,"truncated":true]}...]
 *    [,"time_limit_ms_used"][,"memory_limit_bytes_used"][,"build_duration_ms"]
 *    [,"truncated":true],"timestamp":"2026-01-15T10:30:00.123Z"}
 * at most max_bytes long (0: JR_MSG_MAX_DEFAULT). When the strings do not fit, the
 * strings that may be long (stdout, stderr, error, and per test stdout, stderr, input,
 * expected_output, error, checker_output) share the room left fairly: the longest are cut first to
 * a common length, short ones stay whole, cuts fall on UTF-8 character boundaries; each test that
 * lost bytes gets "truncated": true, and so does the top level. Nothing else changes (statuses stay
 * as given). Invalid UTF-8 becomes U+FFFD. Fails (E2BIG) only when the message without any string
 * content does not fit. *out is a new buffer. */
int jr_result_json(const jr_result *r, size_t max_bytes, jr_buf *out, jr_error *e);

/* Shortcut for an invalid submission or internal failure: a result with status IE,
 * the given error, null exit_code/duration_ms and no tests. */
int jr_result_ie_json(jr_bytes id, const char *error, size_t max_bytes, jr_buf *out, jr_error *e);

/* ---------------------------------------------------------------- events */

typedef enum jr_event_type {
        JR_EVENT_ACCEPTED = 0,
        JR_EVENT_BUILD,
        JR_EVENT_TEST,
        JR_EVENT_DONE,
} jr_event_type;

/* "accepted", "build", "test", "done". */
const char *jr_event_type_name(jr_event_type t);

/* One progress event. Which fields are written depends on type:
 *   accepted: {"id","seq","type","language","tests":n_tests,"timestamp"}
 *             (language omitted when empty, tests when n_tests < 0)
 *   build:    {"id","seq","type","status","duration_ms","error"[,"truncated"],"timestamp"}
 *   test:     {"id","seq","type","test":{the test object as in results}
 *              [,"truncated"],"timestamp"}
 *   done:     {"id","seq","type","status","duration_ms","timestamp"} */
typedef struct jr_event {
        jr_event_type type;
        jr_bytes id;
        uint64_t seq;               /* 0, 1, 2, ... per submission */
        int64_t timestamp_ms;       /* 0: now */
        jr_bytes language;          /* accepted */
        int64_t n_tests;            /* accepted; < 0: omitted */
        jr_status status;           /* build (OK or BF or IE), done (the overall status) */
        int64_t duration_ms;        /* build, done; < 0: null */
        jr_bytes error;             /* build: the failure, compiler output on BF */
        bool truncated;             /* build: the caller already cut error */
        const jr_test_result *test; /* test: required */
} jr_event;

/* Zero the event, set type, id, seq; n_tests and duration_ms null, status OK. */
void jr_event_init(jr_event *ev, jr_event_type type, jr_bytes id, uint64_t seq);

/* Render ev within max_bytes (0: JR_MSG_MAX_DEFAULT), cutting strings as
 * jr_result_json does. */
int jr_event_json(const jr_event *ev, size_t max_bytes, jr_buf *out, jr_error *e);
