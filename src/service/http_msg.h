/* The HTTP front door's bodies (docs/http.md): request bytes in, a script message
 * (docs/messages.md) or an error naming the field out; a result message in, the
 * answer out. No I/O, no HTTP library: the server (http.c) and the fuzzer call these.
 *
 * POST /execute, the Executor Service's request:
 *   {"language","source","tests":[{"stdin","expectedStdout","timeoutMs"}...]}
 * becomes the script message
 *   {"type":"script","id":ID,"language","source","limits":{"time_limit_ms":T},
 *    "stop_on_failure":false,"tests":[{"number":i,"input","expected_output",
 *    "wall_limit_ms":timeoutMs}...]}
 * where every test runs (the Executor Service has no early stop), timeoutMs is that
 * test's wall-clock limit (default EXECUTOR_TIMEOUT) and T, the CPU-time limit, is the
 * largest of them (CPU time cannot outgrow wall time on one CPU). "checker" is passed on
 * when given. Absent or empty tests: one run with empty stdin.
 *
 * POST /v1/executions: the body is a script message; it is checked with the runner's own
 * parser (the same field errors a runner would give) and produced as it is, with its
 * "id" replaced by the front door's (ids must be unique for Get). type "done" (which
 * would stop the runners) is refused.
 *
 * Every output is valid JSON whatever bytes the inputs hold (invalid UTF-8 becomes
 * U+FFFD). Errors are -1 and a jr_error whose message names the field:
 *   field "tests[2].timeoutMs": must be a positive integer
 *   field "language": unknown language "cobol" (known: c, cpp, go, java, python)
 *   not valid JSON at byte 17: premature EOF */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "message.h"

#define JR_UUID_LEN 36 /* "05c5a222-c2f4-4c12-bf54-7b7b1dd0b9a3" */

/* A random (version 4) UUID, NUL-terminated. */
int jr_uuid4(char out[JR_UUID_LEN + 1], jr_error *e);

/* ---- POST /execute ---- */

typedef struct jr_execute_opts {
        const char *const *languages; /* known names, as for jr_parse_options */
        size_t n_languages;
        uint64_t default_timeout_ms; /* EXECUTOR_TIMEOUT; 0: 3000 */
        uint64_t max_timeout_ms;     /* a larger timeoutMs is refused, naming it; 0: none */
        size_t max_tests;            /* 0: JR_PARSE_MAX_TESTS_DEFAULT */
        size_t max_nodes;            /* JSON values in one body; 0: 100000 */
} jr_execute_opts;

/* What the answer needs from the request: which tests had an expectedStdout (the result
 * echoes "" for both "" and none). */
typedef struct jr_execute_req {
        size_t n_tests;
        bool *has_expected; /* n_tests entries; free() */
} jr_execute_req;

/* body -> *script (a new buffer) and *req (may be NULL). */
int jr_execute_request(const void *body, size_t len, const jr_execute_opts *o, const char *id,
                       jr_buf *script, jr_execute_req *req, jr_error *e);
void jr_execute_req_free(jr_execute_req *req);

/* A result message -> the answer:
 *   {"jobId","ok","results":[{"stdout","stderr","exitCode","timedOut","signal",
 *    "expectedStdout","passed","status","timeMs","memoryBytes"}...],
 *    "status","timeMs"[,"error"]}
 * ok: every test passed (the overall status is OK); error: when not ok and the result
 * has one (a build failure: the compiler's message). req may be NULL (expectedStdout is
 * then null only for an empty echo). */
int jr_execute_answer(const char *result, size_t len, const jr_execute_req *req, jr_buf *out,
                      jr_error *e);

/* {"jobId":id or null,"ok":false,"error":...}: an invalid request (200, as the Executor
 * Service's callers expect) or no result within the wait (504). */
int jr_execute_error(const char *id, const char *error, jr_buf *out, jr_error *e);

/* ---- POST /v1/executions ---- */

/* body (a script message) -> *script with "id" replaced. po: the runner's parse options
 * (languages, caps). */
int jr_enqueue_request(const void *body, size_t len, const jr_parse_options *po, const char *id,
                       jr_buf *script, jr_error *e);

/* ---- answers ---- */

/* GET /v1/executions/{id}: {"id","state","result":<result>|null,"events":n}. The stored
 * result is spliced in as it is when it is valid JSON, else null. */
int jr_execution_json(const char *id, size_t id_len, const char *state, const char *result,
                      size_t result_len, uint64_t n_events, jr_buf *out, jr_error *e);

/* application/problem+json (RFC 9457): {"type":"about:blank","title","status","detail"}. */
int jr_problem_json(unsigned status, const char *detail, jr_buf *out, jr_error *e);
/* The reason phrase of an HTTP status ("Not Found"). */
const char *jr_http_reason(unsigned status);

/* One Server-Sent Event: "id: SEQ\nevent: TYPE\ndata: JSON\n\n" (a JSON holding line
 * breaks is sent as several data lines, as SSE requires). */
int jr_sse_event(uint64_t seq, const char *type, const char *json, size_t len, jr_buf *out,
                 jr_error *e);
