/* libFuzzer target: any bytes as the body of POST /execute and POST /v1/executions, and
 * as a result message to answer from.
 *
 * Invariants beyond "no crash, no leak, no UB":
 * - a request either fails with a message or gives a script message that the runner's
 *   own parser accepts, with the front door's id, every test run (stop_on_failure
 *   false) for /execute, and never a "done" for Enqueue;
 * - every answer (/execute's, GET's, a problem, an SSE frame) is valid JSON or a
 *   well-formed SSE frame, whatever bytes went in. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_tree.h>

#include "fuzz_check.h"
#include "http_msg.h"

static const char *const langs[] = {"c", "cpp", "go", "java", "python"};

static void check_json(const jr_buf *b)
{
        yajl_tree_free(fuzz_check_json(b));
}

static jr_submission *reparse(const jr_buf *script, size_t max_tests)
{
        jr_parse_options po = {.languages = langs, .n_languages = 5, .max_tests = max_tests};
        jr_submission *s = NULL;
        jr_error e = {0};
        CHECK(jr_submission_parse(script->ptr, script->len, &po, &s, NULL, &e) == 0);
        CHECK(jr_bytes_eq(s->id, "0f0f0f0f-0000-4000-8000-000000000000"));
        CHECK(s->type == JR_MSG_SCRIPT);
        return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        const char *id = "0f0f0f0f-0000-4000-8000-000000000000";
        jr_error e = {0};
        jr_buf out = {0};

        for (int tiny = 0; tiny < 2; tiny++) {
                jr_execute_opts xo = {.languages = langs, .n_languages = 5};
                if (tiny) {
                        xo.max_tests = 3;
                        xo.max_nodes = 40;
                        xo.max_timeout_ms = 5000;
                }
                jr_execute_req req = {0};
                if (jr_execute_request(data, size, &xo, id, &out, &req, &e) == 0) {
                        check_json(&out);
                        jr_submission *s = reparse(&out, xo.max_tests);
                        CHECK(!s->stop_on_failure && s->n_tests == req.n_tests);
                        jr_submission_free(s);
                        free(out.ptr);
                        jr_execute_req_free(&req);
                } else {
                        CHECK(e.msg[0] != '\0' && req.has_expected == NULL);
                }
        }

        jr_parse_options po = {.languages = langs, .n_languages = 5};
        if (jr_enqueue_request(data, size, &po, id, &out, &e) == 0) {
                check_json(&out);
                jr_submission_free(reparse(&out, 0));
                free(out.ptr);
        } else {
                CHECK(e.msg[0] != '\0');
        }

        /* the bytes as a result from the results topic */
        jr_execute_req req = {.n_tests = 2, .has_expected = (bool[]){true, false}};
        if (jr_execute_answer((const char *)data, size, &req, &out, &e) == 0) {
                check_json(&out);
                free(out.ptr);
        }
        CHECK(jr_execution_json((const char *)data, size, "done", (const char *)data, size, 1, &out,
                                &e) == 0);
        check_json(&out);
        free(out.ptr);
        char detail[64];
        snprintf(detail, sizeof detail, "%.*s", (int)(size < 40 ? size : 40), (const char *)data);
        CHECK(jr_problem_json(400, detail, &out, &e) == 0);
        check_json(&out);
        free(out.ptr);

        /* an SSE frame: exactly one blank line, at its end */
        CHECK(jr_sse_event(7, detail, (const char *)data, size, &out, &e) == 0);
        CHECK(out.len >= 2 && !memcmp(out.ptr + out.len - 2, "\n\n", 2));
        for (size_t i = 0; i + 2 < out.len; i++)
                CHECK(!(out.ptr[i] == '\n' && out.ptr[i + 1] == '\n') && out.ptr[i] != '\r');
        free(out.ptr);
        return 0;
}
