/* The HTTP front door, through a real libmicrohttpd server on a loopback port and a
 * real SQLite store, with libcurl as the client (http_harness.h): the endpoints of
 * docs/http.md and their answers. */
#include <regex.h>
#include <yajl/yajl_tree.h>

#include "http_harness.h"

static const char *readme_request =
    "{\"language\": \"python\", \"source\": \"n = int(input())\\nprint(n * 2)\",\n"
    " \"tests\": [{\"stdin\": \"5\\n\", \"expectedStdout\": \"10\\n\"},\n"
    "           {\"stdin\": \"2\\n\", \"timeoutMs\": 1500, \"expectedStdout\": \"4\\n\"}]}";

static yajl_val json(const char *text)
{
        char err[256];
        yajl_val v = yajl_tree_parse(text, err, sizeof err);
        cr_assert(v, "invalid JSON (%s): %s", err, text);
        return v;
}

static const char *jstr(yajl_val v, const char *key)
{
        const char *path[] = {key, NULL};
        yajl_val s = yajl_tree_get(v, path, yajl_t_string);
        cr_assert(s, "no string \"%s\"", key);
        return s->u.string;
}

/* The uuid of a jobId/id at the start of body, as in {"jobId":"UUID",... */
static void take_id(const char *body, const char *key, char out[JR_UUID_LEN + 1])
{
        yajl_val v = json(body);
        snprintf(out, JR_UUID_LEN + 1, "%s", jstr(v, key));
        yajl_tree_free(v);
        regex_t re;
        regcomp(&re, "^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$",
                REG_EXTENDED | REG_NOSUB);
        cr_assert_eq(regexec(&re, out, 0, NULL, 0), 0, "not a UUID: %s", out);
        regfree(&re);
}

TestSuite(http, .init = NULL);

Test(http, execute_answers_the_readme_example_exactly)
{
        hx *x = hx_start(NULL);
        hx_resp r = hx_req(x, "POST", "/execute", readme_request, NULL);
        cr_assert_eq(r.status, 200, "%s", r.body);
        char id[JR_UUID_LEN + 1], ct[128];
        take_id(r.body, "jobId", id);
        cr_assert_str_eq(tu_http_header(&r, "Content-Type", ct, sizeof ct), "application/json");
        char want[2048];
        snprintf(want, sizeof want,
                 "{\"jobId\":\"%s\",\"ok\":true,\"results\":["
                 "{\"stdout\":\"10\\n\",\"stderr\":\"\",\"exitCode\":0,\"timedOut\":false,"
                 "\"signal\":null,\"expectedStdout\":\"10\\n\",\"passed\":true,\"status\":\"OK\","
                 "\"timeMs\":1,\"memoryBytes\":4096},"
                 "{\"stdout\":\"4\\n\",\"stderr\":\"\",\"exitCode\":0,\"timedOut\":false,"
                 "\"signal\":null,\"expectedStdout\":\"4\\n\",\"passed\":true,\"status\":\"OK\","
                 "\"timeMs\":1,\"memoryBytes\":4096}],\"status\":\"OK\",\"timeMs\":2}",
                 id);
        cr_assert_str_eq(r.body, want);
        free(r.body);

        /* the job is in the store too */
        char path[128];
        snprintf(path, sizeof path, "/v1/executions/%s", id);
        r = hx_req(x, "GET", path, NULL, NULL);
        cr_assert_eq(r.status, 200, "%s", r.body);
        yajl_val v = json(r.body);
        cr_assert_str_eq(jstr(v, "state"), "done");
        yajl_tree_free(v);
        free(r.body);
        jr_http_stats s = hx_stats(x);
        cr_assert_eq(s.pending, 0);
        cr_assert_eq(s.suspended, 0);
        hx_stop(x);
}

Test(http, execute_invalid_request_is_ok_false_naming_the_field)
{
        hx *x = hx_start(NULL);
        struct {
                const char *body, *error;
        } cases[] = {
            {"{\"language\":\"cobol\",\"source\":\"x\"}",
             "field \\\"language\\\": unknown language \\\"cobol\\\" (known: c, cpp, go, java, "
             "python)"},
            {"{\"language\":\"c\",\"source\":\"x\",\"tests\":[{\"stdin\":1}]}",
             "field \\\"tests[0].stdin\\\": must be a string"},
            {"not json", "not valid JSON at byte 1: lexical error: invalid string in json text."},
        };
        for (size_t i = 0; i < 3; i++) {
                hx_resp r = hx_req(x, "POST", "/execute", cases[i].body, NULL);
                cr_assert_eq(r.status, 200, "%s", r.body);
                cr_assert(!strncmp(r.body, "{\"jobId\":null,\"ok\":false,\"error\":\"", 34), "%s",
                          r.body);
                cr_assert(strstr(r.body, cases[i].error), "%s", r.body);
                free(r.body);
        }
        cr_assert_eq(x->submits, 0, "nothing invalid was produced");
        hx_stop(x);
}

static void release_all(hx *x, void *arg)
{
        for (size_t i = 0; i < x->n_jobs; i++)
                x->jobs[i].held = false;
        x->hold_new = false;
}

Test(http, execute_times_out_with_504_and_get_has_it_later)
{
        jr_http_config c = {.execute_wait_ms = 300};
        hx *x = hx_start(&c);
        x->hold_new = true;
        uint64_t t0 = jr_mono_ms();
        hx_resp r = hx_req(x, "POST", "/execute", readme_request, NULL);
        uint64_t took = jr_mono_ms() - t0;
        cr_assert_eq(r.status, 504, "%s", r.body);
        cr_assert_geq(took, 300);
        cr_assert_lt(took, 2000);
        char id[JR_UUID_LEN + 1];
        take_id(r.body, "jobId", id);
        cr_assert(strstr(r.body, "\"ok\":false,\"error\":\"not judged within 300 ms"), "%s",
                  r.body);
        free(r.body);
        char path[128];
        snprintf(path, sizeof path, "/v1/executions/%s", id);
        r = hx_req(x, "GET", path, NULL, NULL);
        cr_assert(strstr(r.body, "\"state\":\"queued\""), "%s", r.body);
        free(r.body);
        hx_call(x, release_all, NULL);
        for (int i = 0; i < 200; i++) {
                r = hx_req(x, "GET", path, NULL, NULL);
                bool done = strstr(r.body, "\"state\":\"done\"") != NULL;
                free(r.body);
                if (done)
                        break;
                usleep(10000);
        }
        r = hx_req(x, "GET", path, NULL, NULL);
        cr_assert(strstr(r.body, "\"state\":\"done\",\"result\":{\"id\":"), "%s", r.body);
        free(r.body);
        cr_assert_eq(hx_stats(x).pending, 0);
        hx_stop(x);
}

Test(http, enqueue_then_get_through_queued_running_done)
{
        hx *x = hx_start(NULL);
        x->hold_new = true;
        const char *sub = "{\"type\":\"script\",\"id\":\"client-id\",\"language\":\"c\","
                          "\"source\":\"int main(){}\",\"tests\":[{\"input\":\"1\","
                          "\"expected_output\":\"1\"},{\"input\":\"2\"}],\"extra\":{\"k\":[1]}}";
        hx_resp r = hx_req(x, "POST", "/v1/executions", sub, NULL);
        cr_assert_eq(r.status, 202, "%s", r.body);
        char id[JR_UUID_LEN + 1], loc[256], want[256];
        take_id(r.body, "id", id);
        snprintf(want, sizeof want, "{\"id\":\"%s\",\"status\":\"queued\"}", id);
        cr_assert_str_eq(r.body, want);
        snprintf(want, sizeof want, "/v1/executions/%s", id);
        cr_assert_str_eq(tu_http_header(&r, "Location", loc, sizeof loc), want);
        free(r.body);

        r = hx_req(x, "GET", want, NULL, NULL);
        cr_assert_eq(r.status, 200);
        char exp[256];
        snprintf(exp, sizeof exp,
                 "{\"id\":\"%s\",\"state\":\"queued\",\"result\":null,\"events\":0}", id);
        cr_assert_str_eq(r.body, exp);
        free(r.body);

        /* one step of the judge: the accepted event */
        x->gap_ms = 100000;
        hx_call(x, release_all, NULL);
        for (int i = 0; i < 100; i++) {
                r = hx_req(x, "GET", want, NULL, NULL);
                bool running = strstr(r.body, "\"running\"") != NULL;
                if (running) {
                        snprintf(exp, sizeof exp,
                                 "{\"id\":\"%s\",\"state\":\"running\",\"result\":null,"
                                 "\"events\":1}",
                                 id);
                        cr_assert_str_eq(r.body, exp);
                }
                free(r.body);
                if (running)
                        break;
                cr_assert_lt(i, 99, "never running");
                usleep(10000);
        }
        x->gap_ms = 5;
        /* wait=5: answered as soon as it is done, with the result */
        r = hx_req(x, "POST", "/v1/executions?wait=5", sub, NULL);
        cr_assert_eq(r.status, 200, "%s", r.body);
        yajl_val v = json(r.body);
        cr_assert_str_eq(jstr(v, "state"), "done");
        const char *rp[] = {"result", "status", NULL};
        cr_assert_str_eq(YAJL_GET_STRING(yajl_tree_get(v, rp, yajl_t_string)), "OK");
        const char *ep[] = {"events", NULL};
        cr_assert_eq(YAJL_GET_INTEGER(yajl_tree_get(v, ep, yajl_t_number)), 4);
        yajl_tree_free(v);
        free(r.body);
        hx_stop(x);
}

Test(http, enqueue_rejects_what_a_runner_would)
{
        hx *x = hx_start(NULL);
        hx_resp r = hx_req(x, "POST", "/v1/executions", "{\"language\":\"c\"}", NULL);
        cr_assert_eq(r.status, 400);
        char ct[128];
        cr_assert_str_eq(tu_http_header(&r, "Content-Type", ct, sizeof ct),
                         "application/problem+json");
        cr_assert_str_eq(r.body, "{\"type\":\"about:blank\",\"title\":\"Bad Request\",\"status\":"
                                 "400,\"detail\":\"field \\\"source\\\": required\"}");
        free(r.body);
        r = hx_req(x, "POST", "/v1/executions", "{\"type\":\"done\"}", NULL);
        cr_assert_eq(r.status, 400);
        cr_assert(strstr(r.body, "would stop the runners"), "%s", r.body);
        free(r.body);
        r = hx_req(x, "POST", "/v1/executions?wait=abc", "{}", NULL);
        cr_assert_eq(r.status, 400);
        cr_assert(strstr(r.body, "parameter \\\"wait\\\""), "%s", r.body);
        free(r.body);
        cr_assert_eq(x->submits, 0);
        hx_stop(x);
}

Test(http, get_unknown_is_404_and_routes_405)
{
        hx *x = hx_start(NULL);
        hx_resp r = hx_req(x, "GET", "/v1/executions/nope", NULL, NULL);
        cr_assert_eq(r.status, 404);
        cr_assert(strstr(r.body, "no execution \\\"nope\\\""), "%s", r.body);
        free(r.body);
        r = hx_req(x, "GET", "/v1/executions/nope/events", NULL, NULL);
        cr_assert_eq(r.status, 404);
        free(r.body);
        r = hx_req(x, "GET", "/nowhere", NULL, NULL);
        cr_assert_eq(r.status, 404);
        free(r.body);
        r = hx_req(x, "GET", "/execute", NULL, NULL);
        cr_assert_eq(r.status, 405);
        char allow[64];
        cr_assert_str_eq(tu_http_header(&r, "Allow", allow, sizeof allow), "POST");
        free(r.body);
        r = hx_req(x, "DELETE", "/v1/languages", NULL, NULL);
        cr_assert_eq(r.status, 405);
        cr_assert_str_eq(tu_http_header(&r, "Allow", allow, sizeof allow), "GET, HEAD");
        free(r.body);
        r = hx_req(x, "GET", "/v1/languages", NULL, NULL);
        cr_assert_eq(r.status, 200);
        cr_assert_str_eq(r.body, "{\"languages\":[{\"name\":\"python\"}]}");
        free(r.body);
        r = hx_req(x, "GET", "/healthz", NULL, NULL);
        cr_assert_eq(r.status, 200);
        free(r.body);
        r = hx_req(x, "GET", "/readyz", NULL, NULL);
        cr_assert_eq(r.status, 200);
        free(r.body);
        x->ready = false;
        r = hx_req(x, "GET", "/readyz", NULL, NULL);
        cr_assert_eq(r.status, 503);
        cr_assert(strstr(r.body, "not ready: the broker is unreachable"), "%s", r.body);
        free(r.body);
        hx_stop(x);
}

/* ---- SSE ---- */

/* GET the stream until the server ends it (30 s at most); the "id: N" lines,
 * space-separated. */
static long stream(hx *x, const char *id, const char *last_event_id, struct tu_sse *s, char *ids,
                   size_t size)
{
        return tu_http_stream(x->port, id, last_event_id, s, ids, size, 30);
}

Test(http, sse_streams_events_in_order_while_they_happen_and_resumes)
{
        hx *x = hx_start(NULL);
        x->first_delay_ms = 200;
        x->gap_ms = 60;
        const char *sub =
            "{\"language\":\"python\",\"source\":\"print(1)\",\"tests\":["
            "{\"input\":\"a\"},{\"input\":\"b\"},{\"input\":\"c\"},{\"input\":\"d\"}]}";
        hx_resp r = hx_req(x, "POST", "/v1/executions", sub, NULL);
        cr_assert_eq(r.status, 202, "%s", r.body);
        char id[JR_UUID_LEN + 1];
        take_id(r.body, "id", id);
        free(r.body);
        double t0 = tu_now_s();
        struct tu_sse s = {0};
        char ids[256];
        cr_assert_eq(stream(x, id, NULL, &s, ids, sizeof ids), 200);
        /* accepted, 4 tests, done: in seq order, and the stream ended after done */
        cr_assert_str_eq(ids, "0 1 2 3 4 5", "%s", s.buf);
        cr_assert(strstr(s.buf, "id: 0\nevent: accepted\ndata: {\"id\":\""), "%s", s.buf);
        cr_assert(strstr(s.buf, "id: 5\nevent: done\ndata: {"), "%s", s.buf);
        /* live: the first event came before the last one was produced */
        cr_assert_geq((s.first - t0) * 1000, 150, "the stream waited for the first event");
        cr_assert_geq((s.last - s.first) * 1000, 4 * 60 - 40, "events arrived as they happened");

        /* Last-Event-ID: after 2, exactly 3 4 5 */
        struct tu_sse s2 = {0};
        cr_assert_eq(stream(x, id, "2", &s2, ids, sizeof ids), 200);
        cr_assert_str_eq(ids, "3 4 5");
        struct tu_sse s3 = {0};
        cr_assert_eq(stream(x, id, "5", &s3, ids, sizeof ids), 200);
        cr_assert_str_eq(ids, "");
        struct tu_sse s4 = {0};
        cr_assert_eq(stream(x, id, "x1", &s4, ids, sizeof ids), 400);
        hx_stop(x);
}

Test(http, sse_waits_for_done_when_the_result_comes_first)
{
        hx *x = hx_start(NULL);
        x->result_first = true;
        x->gap_ms = 50;
        hx_resp r = hx_req(x, "POST", "/v1/executions",
                           "{\"language\":\"c\",\"source\":\"x\",\"tests\":[{}]}", NULL);
        char id[JR_UUID_LEN + 1];
        take_id(r.body, "id", id);
        free(r.body);
        struct tu_sse s = {0};
        char ids[256];
        cr_assert_eq(stream(x, id, NULL, &s, ids, sizeof ids), 200);
        cr_assert_str_eq(ids, "0 1 2", "%s", s.buf);
        hx_stop(x);
}

Test(http, sse_keepalive_comments)
{
        jr_http_config c = {.keepalive_ms = 100};
        hx *x = hx_start(&c);
        x->first_delay_ms = 450;
        hx_resp r = hx_req(x, "POST", "/v1/executions",
                           "{\"language\":\"c\",\"source\":\"x\",\"tests\":[{}]}", NULL);
        char id[JR_UUID_LEN + 1];
        take_id(r.body, "id", id);
        free(r.body);
        struct tu_sse s = {0};
        char ids[256];
        cr_assert_eq(stream(x, id, NULL, &s, ids, sizeof ids), 200);
        cr_assert_str_eq(ids, "0 1 2");
        cr_assert(!strncmp(s.buf, ": keepalive\n\n: keepalive\n\n", 26), "%s", s.buf);
        hx_stop(x);
}

Test(http, fifty_concurrent_executes_all_answered)
{
        hx *x = hx_start(NULL);
        x->first_delay_ms = 50;
        x->gap_ms = 2;
        enum { N = 50 };
        CURLM *m = curl_multi_init();
        hx_resp r[N];
        CURL *c[N];
        char bodies[N][256];
        struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
        for (int i = 0; i < N; i++) {
                memset(&r[i], 0, sizeof r[i]);
                snprintf(bodies[i], sizeof bodies[i],
                         "{\"language\":\"python\",\"source\":\"print(%d)\",\"tests\":[{\"stdin\":"
                         "\"%d\",\"expectedStdout\":\"%d\\n\"}]}",
                         i, i, i);
                c[i] = hx_easy(x, "POST", "/execute", bodies[i], strlen(bodies[i]), h, &r[i]);
                curl_multi_add_handle(m, c[i]);
        }
        int running = 1;
        while (running) {
                cr_assert_eq(curl_multi_perform(m, &running), CURLM_OK);
                curl_multi_poll(m, NULL, 0, 100, NULL);
        }
        for (int i = 0; i < N; i++) {
                long status;
                curl_easy_getinfo(c[i], CURLINFO_RESPONSE_CODE, &status);
                cr_assert_eq(status, 200, "%d: %s", i, r[i].body);
                char want[64];
                snprintf(want, sizeof want, "\"stdout\":\"%d\\n\"", i);
                cr_assert(strstr(r[i].body, want) && strstr(r[i].body, "\"ok\":true"), "%d: %s", i,
                          r[i].body);
                curl_multi_remove_handle(m, c[i]);
                curl_easy_cleanup(c[i]);
                free(r[i].body);
        }
        curl_slist_free_all(h);
        curl_multi_cleanup(m);
        jr_http_stats s = hx_stats(x);
        cr_assert_eq(s.pending, 0);
        cr_assert_eq(s.by_code[200], N);
        hx_stop(x);
}

static void do_shutdown(hx *x, void *arg)
{
        jr_http_shutdown(x->h);
}

Test(http, shutdown_answers_whoever_waits)
{
        hx *x = hx_start(NULL);
        x->hold_new = true;
        CURLM *m = curl_multi_init();
        hx_resp r = {0};
        struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
        CURL *c = hx_easy(x, "POST", "/execute", readme_request, strlen(readme_request), h, &r);
        curl_multi_add_handle(m, c);
        int running = 1;
        for (int i = 0; i < 50 && hx_stats(x).suspended == 0; i++) {
                curl_multi_perform(m, &running);
                curl_multi_poll(m, NULL, 0, 10, NULL);
        }
        cr_assert_eq(hx_stats(x).suspended, 1);
        hx_call(x, do_shutdown, NULL);
        while (running) {
                curl_multi_perform(m, &running);
                curl_multi_poll(m, NULL, 0, 100, NULL);
        }
        long status;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        cr_assert_eq(status, 503, "%s", r.body);
        cr_assert(strstr(r.body, "the service is stopping"), "%s", r.body);
        curl_multi_remove_handle(m, c);
        curl_easy_cleanup(c);
        curl_multi_cleanup(m);
        curl_slist_free_all(h);
        free(r.body);
        hx_stop(x);
}
