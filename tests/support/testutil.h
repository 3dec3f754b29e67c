/* Helpers shared by the criterion tests: run a command and capture its output,
 * read a JSON report, locate build artifacts, assert that a call succeeded, read files,
 * make and remove scratch directories. */
#pragma once

#include <criterion/criterion.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <yajl/yajl_tree.h>

/* Assert that `expr` (a call following the jr_error contract) returned 0; on failure
 * the report names the call, its return value and the message it left in `err` (a
 * jr_error, not a pointer). `expr` is evaluated once, before `err` is read. */
#define ASSERT_OK(expr, err)                                                                       \
        do {                                                                                       \
                long long tu_ok_ret_ = (expr);                                                     \
                cr_assert_eq(tu_ok_ret_, 0, "%s returned %lld: %s", #expr, tu_ok_ret_, (err).msg); \
        } while (0)

/* Run argv (no shell), feed `input` (may be NULL) on stdin, capture stdout and stderr
 * (NUL-terminated, malloc'd; caller frees). Returns the wait status. */
int tu_run(char *const argv[], const char *input, char **out, char **err);

/* Parse JSON text; aborts the test with the parser's message on failure. */
yajl_val tu_json(const char *text);
/* Field lookups on an object; abort the test when missing or of another type. */
const char *tu_str(yajl_val obj, const char *key);
long long tu_int(yajl_val obj, const char *key);
int tu_is_null(yajl_val obj, const char *key);
int tu_bool(yajl_val obj, const char *key);

/* Absolute path of build/<rel>. */
const char *tu_build(const char *rel);

/* A submission of the outcome matrix, tests/cases/<dir>/<name>. */
struct tu_case {
        char *name; /* "ok.json" */
        char *text;
};
/* Every tests/cases/<dir>/ *.json, in the directory's order, *n of them (malloc'd:
 * tu_cases_free); the test fails when the directory cannot be read. */
struct tu_case *tu_cases(const char *dir, size_t *n);
void tu_cases_free(struct tu_case *c, size_t n);

/* What `build/jailrun run -` did with a submission. */
struct tu_judged {
        yajl_val result; /* what it printed, parsed; NULL when it printed nothing */
        char *out, *err; /* its stdout and stderr */
        char *events;    /* its --events file, when asked for; NULL otherwise */
        int exit;        /* its wait status */
        double seconds;  /* its wall time */
};

/* Judge `json` with `jailrun run -`, with `env` ("NAME=value", or NULL) in its
 * environment for this run only, and its events written to a file of its own when
 * `events` is true. The test fails, with the exit status and stderr, when it prints
 * something that is not JSON. */
struct tu_judged tu_judge(const char *json, const char *env, bool events);
void tu_judged_free(struct tu_judged *j);

/* Seconds on CLOCK_MONOTONIC: for the bounds of the tests' waits. */
double tu_now_s(void);

/* asprintf; the test fails when it cannot allocate. */
char *tu_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The whole file, NUL-terminated, malloc'd; "" when it cannot be opened (a log not
 * written yet, a process gone). Works for /proc files. */
char *tu_slurp(const char *path);
/* The same for a file that must exist: the test fails naming it and the errno. */
char *tu_read_file(const char *path);

/* How many times `needle` occurs in `hay`, counting from the end of each occurrence. */
size_t tu_count(const char *hay, const char *needle);

/* A field of /proc/<pid>/status in kB ("VmRSS:", "VmHWM:"); -1 when it is not there. */
long tu_status_kb(pid_t pid, const char *field);

/* A new private directory "<prefix>XXXXXX" (malloc'd); the test fails naming it and the
 * errno when it cannot be made. */
char *tu_scratch(const char *prefix);
/* Remove `path` and everything below it without leaving its file system (rm -rf
 * --one-file-system: a mount below it stays, and so does its mount point); 0 when done,
 * otherwise rm's wait status, with its message logged as a warning. */
int tu_rm_rf(const char *path);
