/* The front door's bodies: the Executor Service's /execute request to a script message
 * and a result back to its answer, Enqueue's id rewrite, problem+json, SSE framing. */
#include <criterion/criterion.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_tree.h>

#include "http_msg.h"

static const char *const langs[] = {"c", "cpp", "go", "java", "python"};
static const jr_execute_opts xo = {.languages = langs, .n_languages = 5};

static const char *readme_request =
    "{\"language\": \"python\", \"source\": \"n = int(input())\\nprint(n * 2)\",\n"
    " \"tests\": [{\"stdin\": \"5\\n\", \"expectedStdout\": \"10\\n\"},\n"
    "           {\"stdin\": \"2\\n\", \"timeoutMs\": 1500, \"expectedStdout\": \"4\\n\"}]}";

static char *execute_ok(const char *body, const jr_execute_opts *o, jr_execute_req *req)
{
        jr_buf out = {0};
        jr_error e = {0};
        cr_assert_eq(jr_execute_request(body, strlen(body), o, "job-1", &out, req, &e), 0, "%s: %s",
                     body, e.msg);
        cr_assert_eq(strlen(out.ptr), out.len);
        return out.ptr;
}

static void execute_bad(const char *body, const char *msg)
{
        jr_buf out = {0};
        jr_error e = {0};
        jr_execute_req req = {0};
        cr_assert_lt(jr_execute_request(body, strlen(body), &xo, "job-1", &out, &req, &e), 0, "%s",
                     body);
        cr_assert_null(out.ptr);
        cr_assert_null(req.has_expected);
        cr_assert_str_eq(e.msg, msg, "%s: %s", body, e.msg);
}

static yajl_val json(const char *text)
{
        char err[256];
        yajl_val v = yajl_tree_parse(text, err, sizeof err);
        cr_assert(v, "invalid JSON (%s): %s", err, text);
        return v;
}

Test(http_msg, readme_example_becomes_a_script_message)
{
        jr_execute_req req = {0};
        char *s = execute_ok(readme_request, &xo, &req);
        cr_assert_str_eq(
            s, "{\"type\":\"script\",\"id\":\"job-1\",\"language\":\"python\",\"source\":\"n = "
               "int(input())\\nprint(n * 2)\",\"limits\":{\"time_limit_ms\":3000},"
               "\"stop_on_failure\":false,\"tests\":[{\"number\":1,\"input\":\"5\\n\","
               "\"expected_output\":\"10\\n\",\"wall_limit_ms\":3000},{\"number\":2,"
               "\"input\":\"2\\n\",\"expected_output\":\"4\\n\",\"wall_limit_ms\":1500}]}");
        cr_assert_eq(req.n_tests, 2);
        cr_assert(req.has_expected[0] && req.has_expected[1]);

        /* the runner's own parser reads it as intended */
        jr_parse_options po = {.languages = langs, .n_languages = 5};
        jr_submission *sub = NULL;
        jr_error e = {0};
        cr_assert_eq(jr_submission_parse(s, strlen(s), &po, &sub, NULL, &e), 0, "%s", e.msg);
        cr_assert_not(sub->stop_on_failure);
        cr_assert_eq(sub->n_tests, 2);
        cr_assert(jr_bytes_eq(sub->id, "job-1"));
        cr_assert(jr_bytes_eq(sub->tests[1].expected_output, "4\n"));
        jr_submission_free(sub);
        jr_execute_req_free(&req);
        free(s);
}

Test(http_msg, defaults_and_passthrough)
{
        jr_execute_opts o = xo;
        o.default_timeout_ms = 700;
        jr_execute_req req = {0};
        /* no tests: one run; EXECUTOR_TIMEOUT is the default wall limit */
        char *s = execute_ok("{\"language\":\"c\",\"source\":\"x\"}", &o, &req);
        cr_assert(strstr(s, "\"time_limit_ms\":700"), "%s", s);
        cr_assert(strstr(s, "\"tests\":[{\"number\":1,\"input\":\"\",\"wall_limit_ms\":700}]"),
                  "%s", s);
        cr_assert_eq(req.n_tests, 1);
        cr_assert_not(req.has_expected[0]);
        jr_execute_req_free(&req);
        free(s);
        /* the largest timeout is the CPU limit; null = absent; a checker goes through;
         * unknown fields are ignored; \u0000 survives */
        s = execute_ok("{\"language\":\"c\",\"source\":\"x\",\"checker\":\"exact\",\"extra\":[1],"
                       "\"tests\":[{\"timeoutMs\":9000,\"stdin\":null,\"expectedStdout\":null},"
                       "{\"stdin\":\"a\\u0000b\",\"expectedStdout\":\"\"}]}",
                       &o, &req);
        cr_assert(strstr(s, "\"time_limit_ms\":9000"), "%s", s);
        cr_assert(strstr(s, "\"checker\":\"exact\""), "%s", s);
        cr_assert(strstr(s, "{\"number\":1,\"input\":\"\",\"wall_limit_ms\":9000}"), "%s", s);
        cr_assert(strstr(s, "\"input\":\"a\\u0000b\",\"expected_output\":\"\""), "%s", s);
        cr_assert(!req.has_expected[0] && req.has_expected[1]);
        jr_execute_req_free(&req);
        free(s);
}

Test(http_msg, invalid_requests_name_the_field)
{
        execute_bad("", "not valid JSON: empty input");
        execute_bad(" \n", "not valid JSON: empty input");
        execute_bad("{\"language\":", "not valid JSON at byte 12: parse error: premature EOF");
        execute_bad("[1]", "body: must be a JSON object");
        /* trailing bytes, even an unfinished string that yajl alone lets through */
        execute_bad("{\"language\":\"c\",\"source\":\"x\"} \"junk",
                    "not valid JSON at byte 35: premature EOF in a string");
        execute_bad("{\"language\":\"c\",\"source\":\"x\"} {}",
                    "not valid JSON at byte 31: more than one JSON value");
        execute_bad("{} 1", "not valid JSON at byte 4: more than one JSON value");
        execute_bad("{}", "field \"language\": required");
        execute_bad("{\"language\":null}", "field \"language\": required");
        execute_bad("{\"language\":3}", "field \"language\": must be a string");
        execute_bad("{\"language\":\"cobol\",\"source\":\"x\"}",
                    "field \"language\": unknown language \"cobol\" (known: c, cpp, go, java, "
                    "python)");
        execute_bad("{\"language\":\"c\\n\\\"\",\"source\":\"x\"}",
                    "field \"language\": unknown language \"c\\x0a\\x22\" (known: c, cpp, go, "
                    "java, python)");
        execute_bad("{\"language\":\"c\"}", "field \"source\": required");
        execute_bad("{\"language\":\"c\",\"source\":\"\"}", "field \"source\": must not be empty");
        execute_bad("{\"language\":\"c\",\"source\":[]}", "field \"source\": must be a string");
        execute_bad("{\"language\":\"c\",\"source\":\"x\",\"tests\":{}}",
                    "field \"tests\": must be an array");
        execute_bad("{\"language\":\"c\",\"source\":\"x\",\"tests\":[{},1]}",
                    "field \"tests[1]\": must be an object");
        execute_bad("{\"language\":\"c\",\"source\":\"x\",\"tests\":[{\"stdin\":5}]}",
                    "field \"tests[0].stdin\": must be a string");
        execute_bad("{\"language\":\"c\",\"source\":\"x\",\"tests\":[{\"expectedStdout\":true}]}",
                    "field \"tests[0].expectedStdout\": must be a string");
        const char *bad_timeouts[] = {"0", "-1", "1.5", "1e3", "\"100\"", "99999999999999999999"};
        for (size_t i = 0; i < 6; i++) {
                char body[200];
                snprintf(body, sizeof body,
                         "{\"language\":\"c\",\"source\":\"x\",\"tests\":[{},{\"timeoutMs\":%s}]}",
                         bad_timeouts[i]);
                execute_bad(body, "field \"tests[1].timeoutMs\": must be a positive integer");
        }
        execute_bad("{\"language\":\"c\",\"source\":\"x\",\"checker\":\"fuzzy\"}",
                    "field \"checker\": must be \"lines\", \"exact\" or \"tokens\"");
}

Test(http_msg, host_limits)
{
        jr_execute_opts o = xo;
        o.max_timeout_ms = 20000;
        jr_buf out = {0};
        jr_error e = {0};
        const char *body =
            "{\"language\":\"c\",\"source\":\"x\",\"tests\":[{\"timeoutMs\":20001}]}";
        cr_assert_lt(jr_execute_request(body, strlen(body), &o, "j", &out, NULL, &e), 0);
        cr_assert_str_eq(e.msg, "field \"tests[0].timeoutMs\": must be at most 20000 (the host "
                                "limit)");

        /* 10 000 tests: refused before anything is built for them */
        size_t cap = 10000 * 3 + 100;
        char *big = malloc(cap);
        size_t n = (size_t)snprintf(big, cap, "{\"language\":\"c\",\"source\":\"x\",\"tests\":[");
        for (int i = 0; i < 10000; i++)
                n += (size_t)snprintf(big + n, cap - n, "%s{}", i ? "," : "");
        n += (size_t)snprintf(big + n, cap - n, "]}");
        cr_assert_lt(jr_execute_request(big, n, &xo, "j", &out, NULL, &e), 0);
        cr_assert_str_eq(e.msg, "field \"tests\": more than 997 tests (the cap is 1000 events: "
                                "accepted, build, one per test, done)");

        /* a body of a million tiny values costs a bounded tree */
        free(big);
        cap = 2000000 * 2 + 100;
        big = malloc(cap);
        n = (size_t)snprintf(big, cap, "{\"x\":[");
        for (int i = 0; i < 2000000; i++)
                big[n++] = i ? ',' : ' ', big[n++] = '0';
        n += (size_t)snprintf(big + n, cap - n, "]}");
        cr_assert_lt(jr_execute_request(big, n, &xo, "j", &out, NULL, &e), 0);
        cr_assert(strstr(e.msg, "too many JSON values"), "%s", e.msg);
        free(big);

        /* deep nesting */
        char deep[300];
        memset(deep, '[', 200);
        deep[200] = '\0';
        cr_assert_lt(jr_execute_request(deep, 200, &xo, "j", &out, NULL, &e), 0);
        cr_assert(strstr(e.msg, "nested too deep"), "%s", e.msg);
}

static const char *result_ok =
    "{\"id\":\"job-1\",\"status\":\"WA\",\"exit_code\":0,\"stdout\":\"\",\"stderr\":\"\","
    "\"duration_ms\":12,\"error\":\"\",\"tests\":["
    "{\"number\":1,\"status\":\"OK\",\"exit_code\":0,\"duration_ms\":5,\"stdout\":\"10\\n\","
    "\"stderr\":\"\",\"input\":\"5\\n\",\"expected_output\":\"10\\n\",\"error\":\"\",\"cpu_ms\":1,"
    "\"memory_bytes\":524288,\"signal\":null},"
    "{\"number\":2,\"status\":\"TL\",\"exit_code\":137,\"duration_ms\":7,\"stdout\":\"\","
    "\"stderr\":\"x\\u0000y\",\"input\":\"\",\"expected_output\":\"\",\"error\":\"\",\"cpu_ms\":1,"
    "\"memory_bytes\":null,\"signal\":9}],\"timestamp\":\"2026-01-15T10:30:00.123Z\"}";

Test(http_msg, answer_in_the_executor_services_shape)
{
        jr_execute_req req = {.n_tests = 2, .has_expected = (bool[]){true, false}};
        jr_buf out = {0};
        jr_error e = {0};
        cr_assert_eq(jr_execute_answer(result_ok, strlen(result_ok), &req, &out, &e), 0, "%s",
                     e.msg);
        cr_assert_str_eq(
            out.ptr,
            "{\"jobId\":\"job-1\",\"ok\":false,\"results\":["
            "{\"stdout\":\"10\\n\",\"stderr\":\"\",\"exitCode\":0,\"timedOut\":false,\"signal\":"
            "null,\"expectedStdout\":\"10\\n\",\"passed\":true,\"status\":\"OK\",\"timeMs\":5,"
            "\"memoryBytes\":524288},"
            "{\"stdout\":\"\",\"stderr\":\"x\\u0000y\",\"exitCode\":137,\"timedOut\":true,"
            "\"signal\":\"SIGKILL\",\"expectedStdout\":null,\"passed\":false,\"status\":\"TL\","
            "\"timeMs\":7,\"memoryBytes\":null}],\"status\":\"WA\",\"timeMs\":12}");
        free(out.ptr);
        /* without the request, an empty echo means none */
        cr_assert_eq(jr_execute_answer(result_ok, strlen(result_ok), NULL, &out, &e), 0);
        yajl_val v = json(out.ptr);
        const char *p1[] = {"results", NULL};
        yajl_val r = yajl_tree_get(v, p1, yajl_t_array);
        cr_assert(r && r->u.array.len == 2);
        const char *pe[] = {"expectedStdout", NULL};
        cr_assert(YAJL_IS_STRING(yajl_tree_get(r->u.array.values[0], pe, yajl_t_any)));
        cr_assert(YAJL_IS_NULL(yajl_tree_get(r->u.array.values[1], pe, yajl_t_any)));
        yajl_tree_free(v);
        free(out.ptr);
}

Test(http_msg, answer_of_a_build_failure_and_of_garbage)
{
        const char *bf = "{\"id\":\"j\",\"status\":\"BF\",\"exit_code\":1,\"stdout\":\"\","
                         "\"stderr\":\"main.c:1: error\",\"duration_ms\":0,"
                         "\"error\":\"build failed: exit code 1\","
                         "\"tests\":[{\"number\":1,\"status\":\"-\",\"exit_code\":0}]}";
        jr_buf out = {0};
        jr_error e = {0};
        cr_assert_eq(jr_execute_answer(bf, strlen(bf), NULL, &out, &e), 0, "%s", e.msg);
        cr_assert_str_eq(out.ptr,
                         "{\"jobId\":\"j\",\"ok\":false,\"error\":\"build failed: exit code "
                         "1\\nmain.c:1: error\",\"results\":[{\"stdout\":\"\",\"stderr\":\"\","
                         "\"exitCode\":0,\"timedOut\":false,\"signal\":null,\"expectedStdout\":"
                         "null,\"passed\":false,\"status\":\"-\",\"timeMs\":null,\"memoryBytes\":"
                         "null}],\"status\":\"BF\",\"timeMs\":0}");
        free(out.ptr);
        const char *ok = "{\"id\":\"j\",\"status\":\"OK\",\"tests\":[]}";
        cr_assert_eq(jr_execute_answer(ok, strlen(ok), NULL, &out, &e), 0);
        cr_assert(strstr(out.ptr, "\"ok\":true"), "%s", out.ptr);
        free(out.ptr);
        /* whatever a foreign producer put on the results topic, the answer is JSON */
        const char *odd[] = {"{\"id\":5,\"status\":[],\"tests\":{\"a\":1}}",
                             "{\"tests\":[1,null,{\"signal\":\"9\",\"exit_code\":\"x\"}]}",
                             "{\"tests\":[{\"signal\":99999999999999999999}]}"};
        for (size_t i = 0; i < 3; i++) {
                cr_assert_eq(jr_execute_answer(odd[i], strlen(odd[i]), NULL, &out, &e), 0, "%s",
                             e.msg);
                yajl_tree_free(json(out.ptr));
                free(out.ptr);
        }
        cr_assert_lt(jr_execute_answer("[", 1, NULL, &out, &e), 0);
        cr_assert(strstr(e.msg, "result: not valid JSON"), "%s", e.msg);
        cr_assert_lt(jr_execute_answer("7", 1, NULL, &out, &e), 0);

        cr_assert_eq(jr_execute_error(NULL, "field \"source\": required", &out, &e), 0);
        cr_assert_str_eq(
            out.ptr, "{\"jobId\":null,\"ok\":false,\"error\":\"field \\\"source\\\": required\"}");
        free(out.ptr);
        cr_assert_eq(jr_execute_error("j-2", "not judged within 60 s", &out, &e), 0);
        cr_assert_str_eq(out.ptr, "{\"jobId\":\"j-2\",\"ok\":false,\"error\":\"not judged within "
                                  "60 s\"}");
        free(out.ptr);
}

static char *enqueue(const char *body, int *ret, jr_error *e)
{
        jr_parse_options po = {.languages = langs, .n_languages = 5};
        jr_buf out = {0};
        *ret = jr_enqueue_request(body, strlen(body), &po, "U-1", &out, e);
        return out.ptr;
}

Test(http_msg, enqueue_replaces_the_id_and_keeps_the_rest)
{
        int ret;
        jr_error e = {0};
        char *s = enqueue("{\"id\":\"mine\",\"language\":\"c\",\"source\":\"a\\u0000b\","
                          "\"x\":{\"id\":1,\"n\":[1.50,-0,1e3,true,null]},\"tests\":[]}",
                          &ret, &e);
        cr_assert_eq(ret, 0, "%s", e.msg);
        cr_assert_str_eq(s, "{\"language\":\"c\",\"source\":\"a\\u0000b\",\"x\":{\"id\":1,\"n\":"
                            "[1.50,-0,1e3,true,null]},\"tests\":[],\"id\":\"U-1\"}");
        free(s);
        /* no id; an id that is an object; repeated ids */
        s = enqueue("{\"language\":\"c\",\"source\":\"s\"}", &ret, &e);
        cr_assert_str_eq(s, "{\"language\":\"c\",\"source\":\"s\",\"id\":\"U-1\"}");
        free(s);
        s = enqueue("{\"id\":null,\"id\":\"b\",\"language\":\"go\",\"source\":\"s\"}", &ret, &e);
        cr_assert_str_eq(s, "{\"language\":\"go\",\"source\":\"s\",\"id\":\"U-1\"}");
        free(s);
        s = enqueue("{\"language\":\"go\",\"id\":\"\",\"source\":\"s\",\"tests\":[{\"id\":[]}]}",
                    &ret, &e);
        cr_assert_str_eq(s, "{\"language\":\"go\",\"source\":\"s\",\"tests\":[{\"id\":[]}],"
                            "\"id\":\"U-1\"}");
        free(s);

        /* the runner's field errors; a "done" never reaches the runners */
        s = enqueue("{\"language\":\"cobol\",\"source\":\"s\"}", &ret, &e);
        cr_assert_lt(ret, 0);
        cr_assert_null(s);
        cr_assert(strstr(e.msg, "field \"language\": unknown language"), "%s", e.msg);
        s = enqueue("{\"type\":\"done\"}", &ret, &e);
        cr_assert_lt(ret, 0);
        cr_assert_str_eq(e.msg, "field \"type\": must be \"script\" (a \"done\" message would stop "
                                "the runners)");
        s = enqueue("nope", &ret, &e);
        cr_assert_lt(ret, 0);
        s = enqueue("{\"language\":\"c\",\"source\":\"s\"} \"x", &ret, &e);
        cr_assert_lt(ret, 0);
        /* the runner's parser refuses it first, in its words */
        cr_assert_str_eq(e.msg, "not valid JSON at byte 30: trailing garbage after the JSON "
                                "document (only white space may follow it)");
        cr_assert_null(s);
}

Test(http_msg, execution_problem_and_sse)
{
        jr_buf out = {0};
        jr_error e = {0};
        const char *res = "{\"id\":\"a\",\"status\":\"OK\"}";
        cr_assert_eq(jr_execution_json("a", 1, "done", res, strlen(res), 4, &out, &e), 0);
        cr_assert_str_eq(out.ptr, "{\"id\":\"a\",\"state\":\"done\",\"result\":{\"id\":\"a\","
                                  "\"status\":\"OK\"},\"events\":4}");
        free(out.ptr);
        /* an id of any bytes, a stored result that is not JSON */
        cr_assert_eq(jr_execution_json("\xff\n\"\0", 4, "done", "{bad", 4, 0, &out, &e), 0);
        cr_assert_str_eq(out.ptr, "{\"id\":\"\\ufffd\\n\\\"\\u0000\",\"state\":\"done\","
                                  "\"result\":null,\"events\":0}");
        free(out.ptr);
        cr_assert_eq(jr_execution_json("q", 1, "queued", NULL, 0, 0, &out, &e), 0);
        cr_assert_str_eq(out.ptr,
                         "{\"id\":\"q\",\"state\":\"queued\",\"result\":null,\"events\":0}");
        free(out.ptr);

        cr_assert_eq(jr_problem_json(413, "body over 8388608 bytes", &out, &e), 0);
        cr_assert_str_eq(out.ptr, "{\"type\":\"about:blank\",\"title\":\"Content Too Large\","
                                  "\"status\":413,\"detail\":\"body over 8388608 bytes\"}");
        free(out.ptr);

        cr_assert_eq(jr_sse_event(3, "test", "{\"a\":1}", 7, &out, &e), 0);
        cr_assert_str_eq(out.ptr, "id: 3\nevent: test\ndata: {\"a\":1}\n\n");
        free(out.ptr);
        cr_assert_eq(jr_sse_event(0, "a b\n", "{\n\"a\":\r\n1\r}", 11, &out, &e), 0);
        cr_assert_str_eq(out.ptr,
                         "id: 0\nevent: a_b_\ndata: {\ndata: \"a\":\ndata: 1\ndata: }\n\n");
        free(out.ptr);
}

Test(http_msg, uuids)
{
        regex_t re;
        cr_assert_eq(
            regcomp(&re, "^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$",
                    REG_EXTENDED | REG_NOSUB),
            0);
        char a[JR_UUID_LEN + 1], b[JR_UUID_LEN + 1];
        jr_error e = {0};
        cr_assert_eq(jr_uuid4(a, &e), 0);
        cr_assert_eq(jr_uuid4(b, &e), 0);
        cr_assert_eq(strlen(a), JR_UUID_LEN);
        cr_assert_eq(regexec(&re, a, 0, NULL, 0), 0, "%s", a);
        cr_assert_str_neq(a, b);
        regfree(&re);
}
