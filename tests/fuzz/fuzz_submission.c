/* libFuzzer target: any bytes through the submission parser, then everything parsed
 * (or the error) through the result and event generators and the checkers.
 *
 * Invariants checked beyond "no crash, no leak, no UB":
 * - a parse either succeeds with a well-formed submission or fails with a message
 *   and an id for the IE result;
 * - every generated message is valid JSON (yajl_tree parses it), valid UTF-8 and
 *   within its cap, whatever bytes the strings hold. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_tree.h>

#include "checker.h"
#include "fuzz_check.h"
#include "message.h"

static const char *const langs[] = {"python", "c", "cpp", "go", "java"};

static void check_json(const jr_buf *b, size_t cap)
{
        if (cap == 0)
                cap = JR_MSG_MAX_DEFAULT;
        CHECK(b->ptr && b->len <= cap);
        yajl_val v = fuzz_check_json(b);
        CHECK(YAJL_IS_OBJECT(v));
        yajl_tree_free(v);
}

static void render_submission(const jr_submission *s, size_t cap)
{
        size_t n = s->n_tests;
        jr_test_result *t = calloc(n, sizeof *t);
        CHECK(t);
        for (size_t i = 0; i < n; i++) {
                const jr_test_case *tc = &s->tests[i];
                jr_test_result_init(&t[i], tc->number);
                /* echo the submission's own bytes as if they were program output */
                t[i].std_out = tc->input;
                t[i].std_err = s->source;
                t[i].input = tc->input;
                t[i].expected_output = tc->expected_output;
                t[i].error = s->language;
                int cmp =
                    jr_checker_run(s->checker, s->checker_eps, tc->input, tc->expected_output);
                CHECK(cmp == 0 || cmp == 1);
                bool ok = !tc->has_expected_output || cmp == 1;
                t[i].status = ok ? JR_STATUS_OK : JR_STATUS_WA;
                t[i].truncated = (i % 3) == 2;
                CHECK(jr_checker_match(JR_CHECKER_EXACT, tc->input.ptr, tc->input.len,
                                       tc->input.ptr, tc->input.len));
                CHECK(jr_checker_compare(JR_CHECKER_LINES, tc->input, tc->input));
                CHECK(jr_checker_compare(JR_CHECKER_TOKENS, tc->input, tc->input));
                CHECK(jr_checker_compare(JR_CHECKER_TOKENS_LINES, tc->input, tc->input));
                CHECK(jr_checker_compare(JR_CHECKER_SORTED, tc->input, tc->input));
                t[i].checker_output = (i % 2) ? s->checker_program.source : (jr_bytes){0};
        }
        jr_result r;
        jr_result_init(&r, s->id);
        r.tests = t;
        r.n_tests = n;
        r.status = jr_overall_status(t, n);
        r.std_out = s->source;
        r.timestamp_ms = 1768473000123LL;
        jr_buf out = {0};
        jr_error e;
        if (jr_result_json(&r, cap, &out, &e) == 0) {
                check_json(&out, cap);
                free(out.ptr);
        } else {
                /* only a cap too small for the fixed part may fail */
                CHECK(e.err == E2BIG);
        }

        jr_event ev;
        jr_event_init(&ev, JR_EVENT_TEST, s->id, 2);
        ev.test = &t[0];
        ev.timestamp_ms = 1;
        if (jr_event_json(&ev, cap, &out, &e) == 0) {
                check_json(&out, cap);
                free(out.ptr);
        } else {
                CHECK(e.err == E2BIG);
        }
        jr_event_init(&ev, JR_EVENT_BUILD, s->id, 1);
        ev.error = s->source;
        ev.status = JR_STATUS_BF;
        if (jr_event_json(&ev, cap, &out, &e) == 0) {
                check_json(&out, cap);
                free(out.ptr);
        } else {
                CHECK(e.err == E2BIG);
        }
        free(t);
}

static void one(const uint8_t *data, size_t size, const jr_parse_options *o, size_t cap)
{
        jr_submission *s = NULL;
        jr_buf id = {0};
        jr_error e = {0};
        int ret = jr_submission_parse(data, size, o, &s, &id, &e);
        if (ret == 0) {
                CHECK(s && id.ptr == NULL);
                CHECK(s->n_tests >= 1 && s->tests);
                CHECK(s->id.ptr && s->id.ptr[s->id.len] == '\0');
                if (s->type == JR_MSG_SCRIPT) {
                        CHECK(s->source.len > 0 && s->language.len > 0);
                        CHECK(s->language_index < o->n_languages);
                }
                for (size_t i = 0; i < s->n_tests; i++)
                        CHECK(s->tests[i].input.ptr && s->tests[i].expected_output.ptr);
                render_submission(s, cap);
                jr_submission_free(s);
        } else {
                CHECK(ret >= JR_PARSE_INTERNAL && ret <= JR_PARSE_NOT_JSON);
                CHECK(s == NULL && e.msg[0] != '\0');
                CHECK(id.ptr && id.ptr[id.len] == '\0');
                jr_buf out = {0};
                if (jr_result_ie_json((jr_bytes){id.ptr, id.len}, e.msg, cap, &out, &e) == 0) {
                        check_json(&out, cap);
                        free(out.ptr);
                }
                free(id.ptr);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        /* the host defaults */
        jr_parse_options o = {
            .languages = langs,
            .n_languages = 5,
            .fallback_id = JR_BYTES_LIT("scripts-0-1"),
        };
        one(data, size, &o, 0);
        /* tiny caps, so that every limit path is reached by small inputs */
        o.max_string_bytes = 64;
        o.max_tests = 3;
        o.max_depth = 6;
        o.max_id_bytes = 16;
        o.max_input_bytes = 4096;
        o.fallback_id = JR_BYTES_LIT("\xff-bad-\x01");
        one(data, size, &o, 700);
        return 0;
}
