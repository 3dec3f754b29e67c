/* Submissions in, results and events out: every field rule of the wire contract, the
 * bad-input classes, and the size caps. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <yajl/yajl_tree.h>

#include "cleanup.h"
#include "message.h"
#include "testutil.h"

static const char *const langs[] = {"python", "c", "cpp", "go", "java"};

static jr_parse_options opts(void)
{
        return (jr_parse_options){
            .languages = langs, .n_languages = 5, .fallback_id = JR_BYTES_LIT("scripts-0-42")};
}

static jr_submission *parse_ok_opt(const char *json, size_t len, const jr_parse_options *o)
{
        jr_submission *s = NULL;
        jr_error e = {0};
        int ret = jr_submission_parse(json, len, o, &s, NULL, &e);
        cr_assert_eq(ret, 0, "rejected (%d): %s\ninput: %.300s", ret, e.msg, json);
        cr_assert(s);
        return s;
}

static jr_submission *parse_ok(const char *json)
{
        jr_parse_options o = opts();
        return parse_ok_opt(json, strlen(json), &o);
}

/* Expect a failure of `kind` whose message contains `msg`; returns the IE id. */
static char *parse_bad_opt(const char *json, size_t len, const jr_parse_options *o, int kind,
                           const char *msg)
{
        jr_submission *s = (jr_submission *)0x1;
        jr_buf id = {0};
        jr_error e = {0};
        int ret = jr_submission_parse(json, len, o, &s, &id, &e);
        cr_assert_eq(ret, kind, "got %d (%s), want %d\ninput: %.300s", ret, e.msg, kind, json);
        cr_assert_eq(s, (jr_submission *)0x1, "out-param changed on failure");
        cr_assert(strstr(e.msg, msg), "message \"%s\" lacks \"%s\"", e.msg, msg);
        cr_assert(id.ptr);
        return id.ptr;
}

static void parse_bad(const char *json, int kind, const char *msg)
{
        jr_parse_options o = opts();
        free(parse_bad_opt(json, strlen(json), &o, kind, msg));
}

static bool bytes_is(jr_bytes b, const char *s, size_t n)
{
        return b.len == n && memcmp(b.ptr, s, n) == 0;
}

#define BYTES_IS(b, lit) bytes_is(b, lit, sizeof(lit) - 1)

/* ================================================================ parsing */

Test(parse, spec_example)
{
        _cleanup_submission_ jr_submission *s =
            parse_ok("{\"type\":\"script\",\"id\":\"submission-456\",\"language\":\"c\","
                     "\"source\":\"#include <stdio.h>\\nint main(){int "
                     "a,b;scanf(\\\"%d %d\\\",&a,&b);printf(\\\"%d\\\\n\\\",a+b);}\","
                     "\"limits\":{\"time_limit_ms\":2000,\"memory_limit_bytes\":67108864},"
                     "\"tests\":[{\"number\":1,\"input\":\"2 3\\n\",\"expected_output\":\"5\\n\"},"
                     "{\"number\":2,\"input\":\"10 20\\n\",\"expected_output\":\"30\\n\"}]}");
        cr_assert_eq(s->type, JR_MSG_SCRIPT);
        cr_assert(BYTES_IS(s->id, "submission-456"));
        cr_assert(s->id_from_message);
        cr_assert(BYTES_IS(s->language, "c"));
        cr_assert_eq(s->language_index, 1);
        cr_assert_str_eq(s->language.ptr, "c", "NUL-terminated");
        cr_assert(BYTES_IS(s->source, "#include <stdio.h>\nint main(){int "
                                      "a,b;scanf(\"%d %d\",&a,&b);printf(\"%d\\n\",a+b);}"));
        cr_assert_eq(s->time_limit_ms, 2000);
        cr_assert_eq(s->memory_limit_bytes, 67108864);
        cr_assert_eq(s->checker, JR_CHECKER_LINES);
        cr_assert(s->stop_on_failure);
        cr_assert(s->tests_given);
        cr_assert_eq(s->n_tests, 2);
        cr_assert_eq(s->tests[0].number, 1);
        cr_assert(BYTES_IS(s->tests[0].input, "2 3\n"));
        cr_assert(s->tests[0].has_expected_output);
        cr_assert(BYTES_IS(s->tests[0].expected_output, "5\n"));
        cr_assert_eq(s->tests[1].number, 2);
        cr_assert(BYTES_IS(s->tests[1].input, "10 20\n"));
        cr_assert(BYTES_IS(s->tests[1].expected_output, "30\n"));
}

Test(parse, defaults)
{
        _cleanup_submission_ jr_submission *s =
            parse_ok("{\"language\":\"python\",\"source\":\"print(1)\"}");
        cr_assert_eq(s->type, JR_MSG_SCRIPT);
        cr_assert(BYTES_IS(s->id, "scripts-0-42"), "fallback id");
        cr_assert_not(s->id_from_message);
        cr_assert_eq(s->language_index, 0);
        cr_assert_eq(s->time_limit_ms, 0);
        cr_assert_eq(s->memory_limit_bytes, 0);
        cr_assert_eq(s->checker, JR_CHECKER_LINES);
        cr_assert(s->stop_on_failure);
        /* no tests: one implicit run, empty stdin, nothing to compare */
        cr_assert_not(s->tests_given);
        cr_assert_eq(s->n_tests, 1);
        cr_assert_eq(s->tests[0].number, 1);
        cr_assert_eq(s->tests[0].input.len, 0);
        cr_assert(s->tests[0].input.ptr, "empty, not NULL");
        cr_assert_not(s->tests[0].has_expected_output);
}

Test(parse, empty_or_null_tests_are_one_implicit_run)
{
        const char *docs[] = {
            "{\"language\":\"c\",\"source\":\"x\",\"tests\":[]}",
            "{\"language\":\"c\",\"source\":\"x\",\"tests\":null}",
            "{\"language\":\"c\",\"source\":\"x\",\"tests\":[{}],\"tests\":null}",
        };
        for (size_t i = 0; i < 3; i++) {
                _cleanup_submission_ jr_submission *s = parse_ok(docs[i]);
                cr_assert_not(s->tests_given, "%s", docs[i]);
                cr_assert_eq(s->n_tests, 1);
                cr_assert_not(s->tests[0].has_expected_output);
        }
}

Test(parse, auto_numbering)
{
        _cleanup_submission_ jr_submission *s =
            parse_ok("{\"language\":\"c\",\"source\":\"x\",\"tests\":[{},{\"number\":7},{},"
                     "{\"number\":-3},{\"number\":null},{\"number\":0}]}");
        cr_assert_eq(s->n_tests, 6);
        /* absent, null, 0 or negative: the position */
        int64_t want[] = {1, 7, 3, 4, 5, 6};
        for (size_t i = 0; i < 6; i++)
                cr_assert_eq(s->tests[i].number, want[i], "test %zu: %ld", i,
                             (long)s->tests[i].number);
}

Test(parse, expected_output_absent_vs_empty)
{
        _cleanup_submission_ jr_submission *s =
            parse_ok("{\"language\":\"c\",\"source\":\"x\",\"tests\":[{\"input\":\"1\"},"
                     "{\"expected_output\":\"\"},{\"expected_output\":null},{\"expected_output\":"
                     "\"a\",\"expected_output\":null}]}");
        cr_assert_not(s->tests[0].has_expected_output);
        cr_assert(s->tests[1].has_expected_output);
        cr_assert_eq(s->tests[1].expected_output.len, 0);
        cr_assert_not(s->tests[2].has_expected_output);
        cr_assert_not(s->tests[3].has_expected_output, "null after a value: absent");
        cr_assert_eq(s->tests[1].input.len, 0);
}

Test(parse, checker_and_stop_on_failure)
{
        struct {
                const char *v;
                jr_checker c;
        } cases[] = {{"\"lines\"", JR_CHECKER_LINES},
                     {"\"exact\"", JR_CHECKER_EXACT},
                     {"\"tokens\"", JR_CHECKER_TOKENS},
                     {"null", JR_CHECKER_LINES}};
        for (size_t i = 0; i < 4; i++) {
                char doc[200];
                snprintf(doc, sizeof doc,
                         "{\"language\":\"c\",\"source\":\"x\",\"checker\":%s,"
                         "\"stop_on_failure\":false}",
                         cases[i].v);
                _cleanup_submission_ jr_submission *s = parse_ok(doc);
                cr_assert_eq(s->checker, cases[i].c, "%s", doc);
                /* null: the host's default (JAILRUN_DEFAULT_CHECKER) applies */
                cr_assert_eq(s->checker_given, i < 3, "%s", doc);
                cr_assert_not(s->stop_on_failure);
        }
        _cleanup_submission_ jr_submission *s =
            parse_ok("{\"language\":\"c\",\"source\":\"x\",\"stop_on_failure\":true}");
        cr_assert(s->stop_on_failure);
        cr_assert_not(s->checker_given);
        parse_bad("{\"language\":\"c\",\"source\":\"x\",\"checker\":\"Lines\"}", JR_PARSE_INVALID,
                  "field \"checker\": unknown checker \"Lines\" (known: lines, exact, tokens, "
                  "tokens-lines, float:EPS, sorted; or a checker program {\"language\", "
                  "\"source\"})");
        parse_bad("{\"language\":\"c\",\"source\":\"x\",\"checker\":1}", JR_PARSE_INVALID,
                  "field \"checker\": must be a checker's name or a checker program");
        parse_bad("{\"language\":\"c\",\"source\":\"x\",\"stop_on_failure\":\"no\"}",
                  JR_PARSE_INVALID, "field \"stop_on_failure\": must be true or false");
        parse_bad("{\"language\":\"c\",\"source\":\"x\",\"stop_on_failure\":0}", JR_PARSE_INVALID,
                  "field \"stop_on_failure\": must be true or false");
}

Test(parse, checker_names_and_tolerance)
{
        struct {
                const char *v;
                jr_checker c;
                double eps;
        } cases[] = {{"\"tokens-lines\"", JR_CHECKER_TOKENS_LINES, 0},
                     {"\"sorted\"", JR_CHECKER_SORTED, 0},
                     {"\"float:1e-6\"", JR_CHECKER_FLOAT, 1e-6},
                     {"\"float:0.5\"", JR_CHECKER_FLOAT, 0.5}};
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                char doc[200];
                snprintf(doc, sizeof doc, "{\"language\":\"c\",\"source\":\"x\",\"checker\":%s}",
                         cases[i].v);
                _cleanup_submission_ jr_submission *s = parse_ok(doc);
                cr_assert_eq(s->checker, cases[i].c, "%s", doc);
                cr_assert_eq(s->checker_eps, cases[i].eps, "%s", doc);
                cr_assert_not(s->checker_program.given);
        }
        parse_bad("{\"language\":\"c\",\"source\":\"x\",\"checker\":\"float\"}", JR_PARSE_INVALID,
                  "field \"checker\": \"float\": the tolerance must be a number >= 0, as in "
                  "\"float:1e-6\"");
        parse_bad("{\"language\":\"c\",\"source\":\"x\",\"checker\":\"float:-1\"}",
                  JR_PARSE_INVALID, "field \"checker\": \"float:-1\": the tolerance must be");
        parse_bad("{\"language\":\"c\",\"source\":\"x\",\"checker\":\"float:1e-6\\u0000\"}",
                  JR_PARSE_INVALID, "field \"checker\": \"float:1e-6\\x00\": the tolerance");
}

Test(parse, checker_program_and_interactor)
{
        _cleanup_submission_ jr_submission *s =
            parse_ok("{\"language\":\"python\",\"source\":\"x\","
                     "\"checker\":{\"language\":\"cpp\",\"source\":\"int main(){}\",\"x\":[1]},"
                     "\"interactor\":{\"source\":\"print(1)\",\"language\":\"python\"}}");
        cr_assert(s->checker_program.given);
        cr_assert(BYTES_IS(s->checker_program.language, "cpp"));
        cr_assert_eq(s->checker_program.language_index, 2);
        cr_assert(BYTES_IS(s->checker_program.source, "int main(){}"));
        cr_assert(s->interactor.given);
        cr_assert(BYTES_IS(s->interactor.language, "python"));
        cr_assert_eq(s->interactor.language_index, 0);
        cr_assert(BYTES_IS(s->interactor.source, "print(1)"));
        cr_assert_eq(s->checker, JR_CHECKER_LINES);

        /* the last "checker" wins, whether a name or an object; null is absent */
        _cleanup_submission_ jr_submission *n =
            parse_ok("{\"language\":\"c\",\"source\":\"x\","
                     "\"checker\":{\"language\":\"c\",\"source\":\"y\"},\"checker\":\"exact\","
                     "\"interactor\":{\"language\":\"c\",\"source\":\"y\"},\"interactor\":null}");
        cr_assert_not(n->checker_program.given);
        cr_assert_eq(n->checker, JR_CHECKER_EXACT);
        cr_assert_not(n->interactor.given);
        _cleanup_submission_ jr_submission *o =
            parse_ok("{\"language\":\"c\",\"source\":\"x\",\"checker\":\"exact\","
                     "\"checker\":{\"language\":\"c\",\"source\":\"y\"}}");
        cr_assert(o->checker_program.given);
        /* a done message does not need them whole */
        _cleanup_submission_ jr_submission *d =
            parse_ok("{\"type\":\"done\",\"checker\":{},\"interactor\":{}}");
        cr_assert_eq(d->type, JR_MSG_DONE);
}

Test(parse, checker_program_and_interactor_errors)
{
        const char *head = "{\"language\":\"c\",\"source\":\"x\",";
        struct {
                const char *rest, *msg;
        } cases[] = {
            {"\"checker\":{\"source\":\"y\"}}", "field \"checker.language\": required"},
            {"\"checker\":{\"language\":\"c\"}}", "field \"checker.source\": required"},
            {"\"checker\":{\"language\":\"c\",\"source\":null}}",
             "field \"checker.source\": required"},
            {"\"checker\":{\"language\":\"c\",\"source\":\"\"}}",
             "field \"checker.source\": must not be empty"},
            {"\"checker\":{\"language\":\"cobol\",\"source\":\"y\"}}",
             "field \"checker.language\": unknown language \"cobol\" (known: c, cpp, go, java, "
             "python)"},
            {"\"checker\":{\"language\":\"\",\"source\":\"y\"}}",
             "field \"checker.language\": must not be empty"},
            {"\"checker\":{\"language\":1,\"source\":\"y\"}}",
             "field \"checker.language\": must be a string"},
            {"\"checker\":[]}", "field \"checker\": must be a checker's name or a checker program"},
            {"\"interactor\":{\"language\":\"c\"}}", "field \"interactor.source\": required"},
            {"\"interactor\":{\"source\":\"y\"}}", "field \"interactor.language\": required"},
            {"\"interactor\":{\"language\":\"x\",\"source\":\"y\"}}",
             "field \"interactor.language\": unknown language \"x\""},
            {"\"interactor\":{\"language\":\"c\",\"source\":{}}}",
             "field \"interactor.source\": must be a string"},
            {"\"interactor\":\"c\"}", "field \"interactor\": must be an interactor program "
                                      "{\"language\", \"source\"}"},
            {"\"interactor\":true}", "field \"interactor\": must be an interactor program"},
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                char doc[300];
                snprintf(doc, sizeof doc, "%s%s", head, cases[i].rest);
                parse_bad(doc, JR_PARSE_INVALID, cases[i].msg);
        }
}

Test(parse, type_done)
{
        _cleanup_submission_ jr_submission *s = parse_ok("{\"type\":\"done\"}");
        cr_assert_eq(s->type, JR_MSG_DONE);
        cr_assert(BYTES_IS(s->id, "scripts-0-42"));
        cr_assert_eq(s->language.len, 0);
        cr_assert_eq(s->source.len, 0);
        _cleanup_submission_ jr_submission *s2 =
            parse_ok("{\"type\":\"done\",\"id\":\"end\",\"language\":\"go\"}");
        cr_assert_eq(s2->type, JR_MSG_DONE);
        cr_assert(BYTES_IS(s2->id, "end"));
        _cleanup_submission_ jr_submission *s3 =
            parse_ok("{\"type\":null,\"language\":\"c\",\"source\":\"x\"}");
        cr_assert_eq(s3->type, JR_MSG_SCRIPT);
        /* "" is a script (the reference's Go producer marshals an unset type so) */
        _cleanup_submission_ jr_submission *s4 =
            parse_ok("{\"type\":\"\",\"language\":\"c\",\"source\":\"x\"}");
        cr_assert_eq(s4->type, JR_MSG_SCRIPT);
        parse_bad("{\"type\":\"stop\"}", JR_PARSE_INVALID,
                  "field \"type\": must be \"script\", \"done\" or \"\"");
        parse_bad("{\"type\":true}", JR_PARSE_INVALID, "field \"type\": must be a string");
        parse_bad("{\"type\":\"\",\"id\":\"\",\"language\":\"\",\"source\":\"\"}", JR_PARSE_INVALID,
                  "field \"language\": must not be empty");
}

/* A done message is one by its type alone: its other fields are not validated, before
 * or after the type, but it must be one whole JSON object. */
Test(parse, done_whatever_its_other_fields)
{
        const char *docs[] = {
            "{\"type\":\"done\",\"id\":\"\",\"language\":\"\",\"source\":\"\"}",
            "{\"id\":\"\",\"language\":\"\",\"source\":\"\",\"type\":\"done\"}",
            "{\"type\":\"done\",\"language\":\"rust\"}",
            "{\"language\":7,\"tests\":[1],\"limits\":{\"time_limit_ms\":-1},\"type\":\"done\"}",
        };
        for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
                _cleanup_submission_ jr_submission *s = parse_ok(docs[i]);
                cr_assert_eq(s->type, JR_MSG_DONE, "%s", docs[i]);
        }
        _cleanup_submission_ jr_submission *s =
            parse_ok("{\"source\":\"\",\"id\":\"end-1\",\"type\":\"done\"}");
        cr_assert(BYTES_IS(s->id, "end-1"), "the id of a done message after a bad field");
        parse_bad("{\"type\":\"done\",\"language\":\"\"", JR_PARSE_NOT_JSON, "not valid JSON");
        parse_bad("{\"language\":\"\",\"type\":\"done\"} x", JR_PARSE_NOT_JSON, "not valid JSON");
}

Test(parse, id_and_fallback)
{
        jr_parse_options o = opts();
        const char *docs[] = {
            "{\"language\":\"c\",\"source\":\"x\"}",
            "{\"language\":\"c\",\"source\":\"x\",\"id\":null}",
            "{\"language\":\"c\",\"source\":\"x\",\"id\":\"\"}",
            "{\"id\":\"a\",\"language\":\"c\",\"source\":\"x\",\"id\":null}",
        };
        for (size_t i = 0; i < 4; i++) {
                o.fallback_id = JR_BYTES_LIT("kafka-key");
                _cleanup_submission_ jr_submission *s = parse_ok_opt(docs[i], strlen(docs[i]), &o);
                cr_assert(BYTES_IS(s->id, "kafka-key"), "%s", docs[i]);
                cr_assert_not(s->id_from_message);
        }
        /* no fallback at all: an empty id, still a string */
        o.fallback_id = (jr_bytes){0};
        _cleanup_submission_ jr_submission *s = parse_ok_opt(docs[0], strlen(docs[0]), &o);
        cr_assert_eq(s->id.len, 0);
        cr_assert(s->id.ptr);
        _cleanup_submission_ jr_submission *s2 =
            parse_ok("{\"id\":\"a\",\"language\":\"c\",\"source\":\"x\",\"id\":\"b\"}");
        cr_assert(BYTES_IS(s2->id, "b"), "last wins");
        parse_bad("{\"id\":5,\"language\":\"c\",\"source\":\"x\"}", JR_PARSE_INVALID,
                  "field \"id\": must be a string");
        parse_bad("{\"id\":{\"x\":1},\"language\":\"c\",\"source\":\"x\"}", JR_PARSE_INVALID,
                  "field \"id\": must be a string");
}

Test(parse, unknown_fields_at_any_depth)
{
        _cleanup_submission_ jr_submission *s = parse_ok(
            "{\"zz\":{\"language\":\"java\",\"tests\":[1,2,{\"input\":5}],\"a\":[[[[{}]]]]},"
            "\"language\":\"c\",\"extra\":[{\"source\":1},null,true,1.5e300,-0,"
            "99999999999999999999999999999,\"s\"],\"source\":\"x\",\"n\":null,\"b\":false,"
            "\"limits\":{\"cpu\":[1],\"time_limit_ms\":5,\"wall\":{\"x\":{}}},"
            "\"tests\":[{\"foo\":{\"input\":3},\"input\":\"in\",\"bar\":[\"expected_output\"],"
            "\"number\":2,\"big\":1e999}],\"meta\":{}}");
        cr_assert(BYTES_IS(s->language, "c"));
        cr_assert(BYTES_IS(s->source, "x"));
        cr_assert_eq(s->time_limit_ms, 5);
        cr_assert_eq(s->n_tests, 1);
        cr_assert(BYTES_IS(s->tests[0].input, "in"));
        cr_assert_eq(s->tests[0].number, 2);
        cr_assert_not(s->tests[0].has_expected_output);
}

Test(parse, duplicate_keys_last_wins)
{
        _cleanup_submission_ jr_submission *s =
            parse_ok("{\"language\":\"c\",\"language\":\"go\",\"source\":\"a\",\"source\":\"bb\","
                     "\"limits\":{\"time_limit_ms\":1,\"memory_limit_bytes\":2},"
                     "\"limits\":{\"time_limit_ms\":3},"
                     "\"tests\":[{\"input\":\"1\"},{\"input\":\"2\"}],\"tests\":[{\"input\":\"3\","
                     "\"input\":\"4\"}],\"checker\":\"exact\",\"checker\":\"tokens\"}");
        cr_assert(BYTES_IS(s->language, "go"));
        cr_assert_eq(s->language_index, 3);
        cr_assert(BYTES_IS(s->source, "bb"));
        cr_assert_eq(s->time_limit_ms, 3);
        cr_assert_eq(s->memory_limit_bytes, 2, "limits merge field by field");
        cr_assert_eq(s->n_tests, 1, "tests replaced as a whole");
        cr_assert_eq(s->tests[0].number, 1);
        cr_assert(BYTES_IS(s->tests[0].input, "4"));
        cr_assert_eq(s->checker, JR_CHECKER_TOKENS);
        /* an invalid earlier occurrence is still an error */
        parse_bad("{\"language\":\"rust\",\"language\":\"c\",\"source\":\"x\"}", JR_PARSE_INVALID,
                  "unknown language \"rust\"");
}

Test(parse, required_fields)
{
        parse_bad("{}", JR_PARSE_INVALID, "field \"language\": required");
        parse_bad("{\"source\":\"x\"}", JR_PARSE_INVALID, "field \"language\": required");
        parse_bad("{\"language\":null,\"source\":\"x\"}", JR_PARSE_INVALID,
                  "field \"language\": required");
        parse_bad("{\"language\":\"c\"}", JR_PARSE_INVALID, "field \"source\": required");
        parse_bad("{\"language\":\"c\",\"source\":null}", JR_PARSE_INVALID,
                  "field \"source\": required");
        parse_bad("{\"language\":\"c\",\"source\":\"\"}", JR_PARSE_INVALID,
                  "field \"source\": must not be empty");
        parse_bad("{\"language\":\"\",\"source\":\"x\"}", JR_PARSE_INVALID,
                  "field \"language\": must not be empty");
        parse_bad("{\"language\":\"c\",\"source\":[\"x\"]}", JR_PARSE_INVALID,
                  "field \"source\": must be a string");
        parse_bad("{\"language\":1,\"source\":\"x\"}", JR_PARSE_INVALID,
                  "field \"language\": must be a string");
}

Test(parse, unknown_language)
{
        parse_bad("{\"language\":\"x\",\"source\":\"x\"}", JR_PARSE_INVALID,
                  "field \"language\": unknown language \"x\" (known: c, cpp, go, java, python)");
        parse_bad("{\"language\":\"C\",\"source\":\"x\"}", JR_PARSE_INVALID,
                  "unknown language \"C\"");
        /* hostile names are escaped and cut in the message */
        parse_bad("{\"language\":\"a\\\"b\\u0001\\n\",\"source\":\"x\"}", JR_PARSE_INVALID,
                  "unknown language \"a\\\"b\\x01\\x0a\"");
        char doc[400] = "{\"source\":\"x\",\"language\":\"";
        memset(doc + strlen(doc), 'z', 200);
        strcat(doc, "\"}");
        parse_bad(doc, JR_PARSE_INVALID, "zzz...\" (known:");
        /* "c\0" is not "c" */
        parse_bad("{\"language\":\"c\\u0000\",\"source\":\"x\"}", JR_PARSE_INVALID,
                  "unknown language \"c\\x00\"");
        /* no list: any non-empty name */
        jr_parse_options o = opts();
        o.languages = NULL;
        o.n_languages = 0;
        const char *d = "{\"language\":\"brainfuck\",\"source\":\"x\"}";
        _cleanup_submission_ jr_submission *s = parse_ok_opt(d, strlen(d), &o);
        cr_assert(BYTES_IS(s->language, "brainfuck"));
}

Test(parse, limits)
{
        _cleanup_submission_ jr_submission *s =
            parse_ok("{\"language\":\"c\",\"source\":\"x\",\"limits\":{\"time_limit_ms\":0,"
                     "\"memory_limit_bytes\":9223372036854775807}}");
        cr_assert_eq(s->time_limit_ms, 0);
        cr_assert_eq(s->memory_limit_bytes, 9223372036854775807ULL);
        _cleanup_submission_ jr_submission *s2 =
            parse_ok("{\"language\":\"c\",\"source\":\"x\",\"limits\":null}");
        cr_assert_eq(s2->time_limit_ms, 0);
        _cleanup_submission_ jr_submission *s3 =
            parse_ok("{\"language\":\"c\",\"source\":\"x\",\"limits\":{\"time_limit_ms\":null}}");
        cr_assert_eq(s3->time_limit_ms, 0);
        const char *bad[] = {
            "-1", "1.5", "1e3", "2000.0", "\"2000\"", "true", "[]", "{}", "-9223372036854775808"};
        for (size_t i = 0; i < JR_ARRAY_SIZE(bad); i++) {
                char doc[200];
                snprintf(doc, sizeof doc,
                         "{\"language\":\"c\",\"source\":\"x\",\"limits\":{\"time_limit_ms\":%s}}",
                         bad[i]);
                parse_bad(doc, JR_PARSE_INVALID,
                          "field \"limits.time_limit_ms\": must be a non-negative integer");
                snprintf(doc, sizeof doc,
                         "{\"language\":\"c\",\"source\":\"x\",\"limits\":{\"memory_limit_bytes\":%"
                         "s}}",
                         bad[i]);
                parse_bad(doc, JR_PARSE_INVALID,
                          "field \"limits.memory_limit_bytes\": must be a non-negative integer");
        }
        parse_bad("{\"language\":\"c\",\"source\":\"x\",\"limits\":{\"time_limit_ms\":"
                  "9223372036854775808}}",
                  JR_PARSE_INVALID,
                  "field \"limits.time_limit_ms\": out of range (at most 9223372036854775807)");
        parse_bad("{\"language\":\"c\",\"source\":\"x\",\"limits\":{\"memory_limit_bytes\":"
                  "1000000000000000000000000000000000000000000}}",
                  JR_PARSE_INVALID, "field \"limits.memory_limit_bytes\": out of range");
        parse_bad("{\"language\":\"c\",\"source\":\"x\",\"limits\":[1]}", JR_PARSE_INVALID,
                  "field \"limits\": must be an object");
        parse_bad("{\"language\":\"c\",\"source\":\"x\",\"limits\":5}", JR_PARSE_INVALID,
                  "field \"limits\": must be an object");
}

Test(parse, tests_field_errors)
{
        parse_bad("{\"language\":\"c\",\"source\":\"x\",\"tests\":{}}", JR_PARSE_INVALID,
                  "field \"tests\": must be an array");
        parse_bad("{\"language\":\"c\",\"source\":\"x\",\"tests\":\"1\"}", JR_PARSE_INVALID,
                  "field \"tests\": must be an array");
        parse_bad("{\"language\":\"c\",\"source\":\"x\",\"tests\":[{},{},5]}", JR_PARSE_INVALID,
                  "field \"tests[2]\": must be an object");
        parse_bad("{\"language\":\"c\",\"source\":\"x\",\"tests\":[null]}", JR_PARSE_INVALID,
                  "field \"tests[0]\": must be an object");
        parse_bad("{\"language\":\"c\",\"source\":\"x\",\"tests\":[[]]}", JR_PARSE_INVALID,
                  "field \"tests[0]\": must be an object");
        parse_bad("{\"language\":\"c\",\"source\":\"x\",\"tests\":[{},{},{},{\"input\":5}]}",
                  JR_PARSE_INVALID, "field \"tests[3].input\": must be a string");
        parse_bad("{\"language\":\"c\",\"source\":\"x\",\"tests\":[{\"input\":[\"a\"]}]}",
                  JR_PARSE_INVALID, "field \"tests[0].input\": must be a string");
        parse_bad("{\"language\":\"c\",\"source\":\"x\",\"tests\":[{},{\"expected_output\":1}]}",
                  JR_PARSE_INVALID, "field \"tests[1].expected_output\": must be a string");
        parse_bad("{\"language\":\"c\",\"source\":\"x\",\"tests\":[{\"number\":\"1\"}]}",
                  JR_PARSE_INVALID, "field \"tests[0].number\": must be an integer");
        parse_bad("{\"language\":\"c\",\"source\":\"x\",\"tests\":[{\"number\":1.5}]}",
                  JR_PARSE_INVALID, "field \"tests[0].number\": must be an integer");
        parse_bad("{\"language\":\"c\",\"source\":\"x\",\"tests\":[{\"number\":"
                  "99999999999999999999}]}",
                  JR_PARSE_INVALID, "field \"tests[0].number\": out of range");
}

Test(parse, wall_limit_of_a_test)
{
        _cleanup_submission_ jr_submission *s =
            parse_ok("{\"language\":\"c\",\"source\":\"x\",\"tests\":[{\"wall_limit_ms\":700},"
                     "{},{\"wall_limit_ms\":null},{\"wall_limit_ms\":0},"
                     "{\"wall_limit_ms\":9223372036854775807},"
                     "{\"wall_limit_ms\":5,\"wall_limit_ms\":1500}]}");
        cr_assert_eq(s->n_tests, 6);
        cr_assert_eq(s->tests[0].wall_limit_ms, 700);
        cr_assert_eq(s->tests[1].wall_limit_ms, 0, "absent: the judge's usual limit");
        cr_assert_eq(s->tests[2].wall_limit_ms, 0, "null is absent");
        cr_assert_eq(s->tests[3].wall_limit_ms, 0);
        cr_assert_eq(s->tests[4].wall_limit_ms, 9223372036854775807ULL);
        cr_assert_eq(s->tests[5].wall_limit_ms, 1500, "the last duplicate wins");
        /* not a field of the top level or of limits: ignored there like any unknown key */
        _cleanup_submission_ jr_submission *s2 =
            parse_ok("{\"language\":\"c\",\"source\":\"x\",\"wall_limit_ms\":\"x\","
                     "\"limits\":{\"wall_limit_ms\":-1}}");
        cr_assert_eq(s2->tests[0].wall_limit_ms, 0);

        const char *bad[] = {"-1", "1.5", "1e3", "700.0", "\"700\"", "true", "[]", "{}"};
        for (size_t i = 0; i < JR_ARRAY_SIZE(bad); i++) {
                char doc[200];
                snprintf(doc, sizeof doc,
                         "{\"language\":\"c\",\"source\":\"x\",\"tests\":[{},{\"wall_limit_ms\":%"
                         "s}]}",
                         bad[i]);
                parse_bad(doc, JR_PARSE_INVALID,
                          "field \"tests[1].wall_limit_ms\": must be a non-negative integer");
        }
        parse_bad("{\"language\":\"c\",\"source\":\"x\",\"tests\":[{\"wall_limit_ms\":"
                  "9223372036854775808}]}",
                  JR_PARSE_INVALID,
                  "field \"tests[0].wall_limit_ms\": out of range (at most 9223372036854775807)");
}

/* A submission with n tests, its id placed after the tests. */
static char *many_tests(size_t n)
{
        size_t cap = 100 + n * 40;
        char *doc = malloc(cap);
        cr_assert(doc);
        size_t o = (size_t)snprintf(doc, cap, "{\"language\":\"c\",\"source\":\"x\",\"tests\":[");
        for (size_t i = 0; i < n; i++)
                o += (size_t)snprintf(doc + o, cap - o, "%s{\"input\":\"%zu\"}", i ? "," : "", i);
        snprintf(doc + o, cap - o, "],\"id\":\"late-id\"}");
        return doc;
}

Test(parse, host_limit_of_tests)
{
        /* 1000 events: accepted, build, 997 tests, done */
        _cleanup_free_ char *ok = many_tests(997);
        _cleanup_submission_ jr_submission *s = parse_ok(ok);
        cr_assert_eq(s->n_tests, 997);
        cr_assert_eq(s->tests[996].number, 997);
        cr_assert(BYTES_IS(s->tests[996].input, "996"));

        _cleanup_free_ char *bad = many_tests(998);
        jr_parse_options o = opts();
        _cleanup_free_ char *id = parse_bad_opt(bad, strlen(bad), &o, JR_PARSE_LIMIT,
                                                "field \"tests\": more than 997 tests (the cap "
                                                "is 1000 events: accepted, build, one per test, "
                                                "done)");
        cr_assert_str_eq(id, "late-id", "the id after the tests is still found");

        o.max_tests = 3;
        _cleanup_free_ char *small = many_tests(4);
        free(parse_bad_opt(small, strlen(small), &o, JR_PARSE_LIMIT, "more than 3 tests"));
}

Test(parse, err_id_for_the_ie_result)
{
        jr_parse_options o = opts();
        struct {
                const char *doc;
                const char *id;
        } cases[] = {
            /* id before and after the bad field */
            {"{\"id\":\"early\",\"language\":\"x\",\"source\":\"x\"}", "early"},
            {"{\"language\":\"x\",\"source\":\"x\",\"id\":\"late\"}", "late"},
            {"{\"language\":\"x\",\"id\":\"a\",\"id\":\"b\"}", "b"},
            {"{\"id\":\"a\",\"language\":\"x\",\"id\":null}", "scripts-0-42"},
            /* nested "id" keys are not the id */
            {"{\"language\":\"x\",\"tests\":[{\"id\":\"no\"}],\"z\":{\"id\":\"no\"}}",
             "scripts-0-42"},
            /* a syntax error after the id: the id is kept */
            {"{\"id\":\"kept\",\"language\":\"c\",", "kept"},
            /* before: fallback */
            {"{\"language\":\"c\",\"id\"", "scripts-0-42"},
            {"", "scripts-0-42"},
            /* an unreadable id: fallback */
            {"{\"id\":7,\"language\":\"c\",\"source\":\"x\"}", "scripts-0-42"},
        };
        for (size_t i = 0; i < JR_ARRAY_SIZE(cases); i++) {
                jr_submission *s = NULL;
                jr_buf id = {0};
                jr_error e = {0};
                int ret = jr_submission_parse(cases[i].doc, strlen(cases[i].doc), &o, &s, &id, &e);
                cr_assert_lt(ret, 0, "%s", cases[i].doc);
                cr_assert_str_eq(id.ptr, cases[i].id, "%s", cases[i].doc);
                cr_assert_eq(id.len, strlen(cases[i].id));
                free(id.ptr);
        }
        /* an id too long to echo: fallback */
        _cleanup_free_ char *doc = malloc(3000);
        size_t at = (size_t)sprintf(doc, "{\"language\":\"c\",\"source\":\"x\",\"id\":\"");
        memset(doc + at, 'i', 2000);
        strcpy(doc + at + 2000, "\"}");
        _cleanup_free_ char *id = parse_bad_opt(doc, strlen(doc), &o, JR_PARSE_LIMIT,
                                                "field \"id\": longer than the limit of 1024 "
                                                "bytes");
        cr_assert_str_eq(id, "scripts-0-42");
}

Test(parse, not_json)
{
        parse_bad("", JR_PARSE_NOT_JSON, "not valid JSON: empty input");
        parse_bad(" \n\t ", JR_PARSE_NOT_JSON, "not valid JSON: empty input");
        parse_bad("hello", JR_PARSE_NOT_JSON, "not valid JSON at byte");
        parse_bad("{\"language\":\"c\",\"source\":\"x\"}}", JR_PARSE_NOT_JSON, "not valid JSON");
        parse_bad("{\"language\":\"c\",\"source\":\"x\"} {}", JR_PARSE_NOT_JSON,
                  "trailing garbage");
        parse_bad("{\"language\":\"c\",/*c*/\"source\":\"x\"}", JR_PARSE_NOT_JSON,
                  "not valid JSON");
        parse_bad("{'language':'c'}", JR_PARSE_NOT_JSON, "not valid JSON");
        parse_bad("{\"language\":\"c\",\"source\":\"x\",}", JR_PARSE_NOT_JSON, "not valid JSON");
        parse_bad("{\"language\":\"c\",\"source\":\"a\nb\"}", JR_PARSE_NOT_JSON, "not valid JSON");
        parse_bad("{\"language\":\"c\",\"source\":\"\\x\"}", JR_PARSE_NOT_JSON, "not valid JSON");
        parse_bad("{\"language\":\"c\",\"source\":\"x\",\"limits\":{\"time_limit_ms\":01}}",
                  JR_PARSE_NOT_JSON, "not valid JSON");
        /* JSON, but not an object */
        parse_bad("[]", JR_PARSE_INVALID, "submission: must be a JSON object");
        parse_bad("\"x\"", JR_PARSE_INVALID, "submission: must be a JSON object");
        parse_bad("5", JR_PARSE_INVALID, "submission: must be a JSON object");
        parse_bad("null", JR_PARSE_INVALID, "submission: must be a JSON object");
        /* a NULL buffer with no bytes */
        jr_parse_options o = opts();
        free(parse_bad_opt(NULL, 0, &o, JR_PARSE_NOT_JSON, "empty input"));
}

/* yajl takes an unfinished string after the document for a token still to come and
 * accepts the whole ("{} \"x"): the parser refuses anything but white space after it. */
Test(parse, nothing_but_white_space_after_the_document)
{
        const char *doc = "{\"id\":\"kept\",\"language\":\"c\",\"source\":\"x\"}";
        const char *tails[] = {" \"x",  "\"",        " \"",     "\n\"abc\\",      " \"x\\\"",
                               " \"}",  "\t\"\\u00", " \"\xff", "\"{\\\"a\\\":1", " 5",
                               " true", "x",         " {}",     " \"x\"",         "}"};
        jr_parse_options o = opts();
        for (size_t i = 0; i < JR_ARRAY_SIZE(tails); i++) {
                char buf[256];
                int n = snprintf(buf, sizeof buf, "%s%s", doc, tails[i]);
                _cleanup_free_ char *id =
                    parse_bad_opt(buf, (size_t)n, &o, JR_PARSE_NOT_JSON, "not valid JSON at byte");
                cr_assert_str_eq(id, "kept", "the IE answer keeps the id: %s", buf);
        }
        /* the wording, and where */
        parse_bad("{\"language\":\"c\",\"source\":\"x\"}  \"x", JR_PARSE_NOT_JSON,
                  "not valid JSON at byte 31: trailing garbage after the JSON document (only "
                  "white space may follow it)");
        /* it outranks a field error, and another root is no better */
        parse_bad("{\"language\":5} \"x", JR_PARSE_NOT_JSON, "trailing garbage");
        parse_bad("[1,\"]\"] \"x", JR_PARSE_NOT_JSON, "trailing garbage");
        parse_bad("\"a\\\"\" \"x", JR_PARSE_NOT_JSON, "trailing garbage");
        parse_bad("-1.5e3 \"x", JR_PARSE_NOT_JSON, "trailing garbage");
        parse_bad("null\"x", JR_PARSE_NOT_JSON, "trailing garbage");
        /* a "done" message must be one whole object too */
        parse_bad("{\"type\":\"done\"} \"x", JR_PARSE_NOT_JSON, "trailing garbage");
        /* white space after it is fine, strings with brackets and escapes inside too */
        _cleanup_submission_ jr_submission *s =
            parse_ok("\r\n {\"language\":\"c\",\"source\":\"}]\\\\\\\"{[\",\"x\":[{\"y\":\"]\"}]}"
                     " \t\r\n");
        cr_assert(BYTES_IS(s->source, "}]\\\"{["));
}

Test(parse, every_truncation_fails_cleanly)
{
        const char *doc =
            "{\"type\":\"script\",\"id\":\"s-1\",\"language\":\"c\",\"source\":\"int "
            "main(){}\\u00e9\\ud83d\\ude00\",\"limits\":{\"time_limit_ms\":2000,"
            "\"memory_limit_bytes\":67108864},\"checker\":\"tokens\",\"stop_on_failure\":"
            "false,\"tests\":[{\"number\":1,\"input\":\"2 3\\n\",\"expected_output\":\"5\\n\"},"
            "{\"x\":[null,true,1.5]}]}";
        size_t n = strlen(doc);
        jr_parse_options o = opts();
        _cleanup_submission_ jr_submission *full = parse_ok_opt(doc, n, &o);
        cr_assert_eq(full->n_tests, 2);
        cr_assert(BYTES_IS(full->source, "int main(){}\xc3\xa9\xf0\x9f\x98\x80"));
        for (size_t len = 0; len < n; len++) {
                jr_submission *s = NULL;
                jr_buf id = {0};
                jr_error e = {0};
                int ret = jr_submission_parse(doc, len, &o, &s, &id, &e);
                cr_assert_eq(ret, JR_PARSE_NOT_JSON, "prefix %zu: %d %s", len, ret, e.msg);
                cr_assert_null(s);
                cr_assert(id.ptr);
                free(id.ptr);
        }
}

Test(parse, deep_nesting)
{
        size_t levels = 10000;
        _cleanup_free_ char *doc = malloc(levels * 5 + 100);
        /* inside an unknown field */
        size_t o = (size_t)sprintf(doc, "{\"id\":\"deep\",\"x\":");
        memset(doc + o, '[', levels);
        memset(doc + o + levels, ']', levels);
        strcpy(doc + o + 2 * levels, "}");
        jr_parse_options op = opts();
        _cleanup_free_ char *id = parse_bad_opt(doc, strlen(doc), &op, JR_PARSE_LIMIT,
                                                "submission: nested deeper than 64 levels");
        cr_assert_str_eq(id, "deep");
        /* at the root, and unterminated (an array is not a submission to begin with) */
        memset(doc, '[', levels);
        doc[levels] = '\0';
        free(parse_bad_opt(doc, levels, &op, JR_PARSE_INVALID, "must be a JSON object"));
        memset(doc, '{', levels);
        free(parse_bad_opt(doc, levels, &op, JR_PARSE_NOT_JSON, "not valid JSON"));
        for (size_t i = 0; i < levels; i++)
                memcpy(doc + 5 * i, "{\"a\":", 5);
        free(parse_bad_opt(doc, 5 * levels, &op, JR_PARSE_LIMIT, "nested deeper than 64"));

        /* exactly 64 levels is fine, 65 is not */
        char ok[300];
        o = (size_t)sprintf(ok, "{\"language\":\"c\",\"source\":\"x\",\"x\":");
        memset(ok + o, '[', 63);
        memset(ok + o + 63, ']', 63);
        strcpy(ok + o + 126, "}");
        _cleanup_submission_ jr_submission *s = parse_ok(ok);
        memset(ok + o, '[', 64);
        memset(ok + o + 64, ']', 64);
        strcpy(ok + o + 128, "}");
        parse_bad(ok, JR_PARSE_LIMIT, "nested deeper than 64 levels");
}

static long max_rss_kib(void)
{
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        return ru.ru_maxrss;
}

Test(parse, huge_string_rejected_by_cap_without_copying)
{
        size_t n = 100u << 20;
        char *doc = malloc(n + 100);
        cr_assert(doc);
        size_t o = (size_t)sprintf(doc, "{\"id\":\"big\",\"language\":\"c\",\"source\":\"");
        memset(doc + o, 'a', n);
        strcpy(doc + o + n, "\"}");
        size_t len = o + n + 2;

        /* the default input cap: rejected before parsing */
        jr_parse_options op = opts();
        long before = max_rss_kib();
        char msg[200];
        snprintf(msg, sizeof msg, "submission: %zu bytes, more than the limit of 67108864", len);
        free(parse_bad_opt(doc, len, &op, JR_PARSE_LIMIT, msg));

        /* a raised input cap: the string cap (16 MiB) stops it, before any copy */
        op.max_input_bytes = 200u << 20;
        _cleanup_free_ char *id = parse_bad_opt(doc, len, &op, JR_PARSE_LIMIT,
                                                "field \"source\": longer than the limit of "
                                                "16777216 bytes");
        cr_assert_str_eq(id, "big", "the id was read before");
        long grown = max_rss_kib() - before;
        cr_assert_lt(grown, 32 * 1024, "parsing a rejected 100 MB string grew RSS by %ld KiB",
                     grown);

        /* a small string cap names the field, also inside a test */
        op.max_string_bytes = 10;
        const char *d = "{\"language\":\"c\",\"source\":\"x\",\"tests\":[{\"input\":"
                        "\"0123456789a\"}]}";
        free(parse_bad_opt(d, strlen(d), &op, JR_PARSE_LIMIT,
                           "field \"tests[0].input\": longer than the limit of 10 bytes"));
        free(doc);
}

Test(parse, invalid_utf8)
{
        const char *bad[] = {
            "{\"language\":\"c\",\"source\":\"\xff\"}",
            "{\"language\":\"c\",\"source\":\"\xc3\"}",
            "{\"language\":\"c\",\"source\":\"\xc3(\"}",
            "{\"language\":\"c\",\"source\":\"x\",\"tests\":[{\"input\":\"\x80\"}]}",
            "{\"language\":\"c\",\"source\":\"x\",\"unknown\":\"\xfe\xfe\"}",
            "{\"\xff\":1}",
        };
        for (size_t i = 0; i < JR_ARRAY_SIZE(bad); i++)
                parse_bad(bad[i], JR_PARSE_NOT_JSON, "UTF8");
        /* valid multi-byte UTF-8 passes untouched */
        _cleanup_submission_ jr_submission *s =
            parse_ok("{\"language\":\"c\",\"source\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"}");
        cr_assert(BYTES_IS(s->source, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"));
}

Test(parse, nul_bytes_are_kept)
{
        _cleanup_submission_ jr_submission *s = parse_ok(
            "{\"language\":\"c\",\"source\":\"a\\u0000b\",\"tests\":[{\"input\":\"\\u0000\\u0000"
            "x\",\"expected_output\":\"\\u0000\"}],\"id\":\"i\\u0000d\"}");
        cr_assert(BYTES_IS(s->source, "a\0b"));
        cr_assert(BYTES_IS(s->tests[0].input, "\0\0x"));
        cr_assert(BYTES_IS(s->tests[0].expected_output, "\0"));
        cr_assert(BYTES_IS(s->id, "i\0d"));
        /* a raw NUL byte is not JSON */
        jr_parse_options o = opts();
        const char raw[] = "{\"language\":\"c\",\"source\":\"a\0b\"}";
        free(parse_bad_opt(raw, sizeof raw - 1, &o, JR_PARSE_NOT_JSON, "not valid JSON"));
        /* nor is a NUL after the document */
        const char tail[] = "{\"language\":\"c\",\"source\":\"a\"}\0";
        free(parse_bad_opt(tail, sizeof tail - 1, &o, JR_PARSE_NOT_JSON, "not valid JSON"));
}

Test(parse, many_small_submissions_do_not_leak)
{
        /* ASan builds catch leaks; this also runs the allocator path repeatedly */
        jr_parse_options o = opts();
        const char *doc = "{\"language\":\"c\",\"source\":\"x\",\"tests\":[{\"input\":\"1\"},{}]}";
        for (int i = 0; i < 20000; i++) {
                jr_submission *s = NULL;
                cr_assert_eq(jr_submission_parse(doc, strlen(doc), &o, &s, NULL, NULL), 0);
                jr_submission_free(s);
        }
        jr_submission_free(NULL);
}

/* ================================================================ statuses */

Test(status, names_round_trip)
{
        const char *names[] = {"OK", "WA", "TL", "ML", "RE", "OL", "BF", "IE", "-"};
        for (unsigned i = 0; i < JR_STATUS__COUNT; i++) {
                cr_assert_str_eq(jr_status_name((jr_status)i), names[i]);
                jr_status s = JR_STATUS__COUNT;
                cr_assert_eq(jr_status_from_name(names[i], strlen(names[i]), &s), 0);
                cr_assert_eq(s, (jr_status)i);
        }
        jr_status s = JR_STATUS_OK;
        cr_assert_lt(jr_status_from_name("ok", 2, &s), 0);
        cr_assert_lt(jr_status_from_name("OKK", 3, &s), 0);
        cr_assert_lt(jr_status_from_name("", 0, &s), 0);
        cr_assert_eq(s, JR_STATUS_OK);
        cr_assert_str_eq(jr_status_name(JR_STATUS__COUNT), "?");
}

Test(status, overall)
{
        jr_test_result t[3];
        for (int i = 0; i < 3; i++) {
                jr_test_result_init(&t[i], i + 1);
                t[i].status = JR_STATUS_OK;
        }
        cr_assert_eq(jr_overall_status(t, 0), JR_STATUS_OK);
        cr_assert_eq(jr_overall_status(t, 3), JR_STATUS_OK);
        t[1].status = JR_STATUS_TL;
        t[2].status = JR_STATUS_NOT_RUN;
        cr_assert_eq(jr_overall_status(t, 3), JR_STATUS_TL);
}

/* ================================================================ results */

#define SPEC_TS 1768473000123LL /* 2026-01-15T10:30:00.123Z */

Test(result, spec_example_exactly)
{
        jr_test_result t;
        jr_test_result_init(&t, 1);
        t.status = JR_STATUS_OK;
        t.exit_code = 0;
        t.duration_ms = 45;
        t.std_out = JR_BYTES_LIT("5\n");
        t.input = JR_BYTES_LIT("2 3\n");
        t.expected_output = JR_BYTES_LIT("5\n");
        t.cpu_ms = 1;
        t.memory_bytes = 524288;
        jr_result r;
        jr_result_init(&r, JR_BYTES_LIT("submission-456"));
        r.status = JR_STATUS_OK;
        r.exit_code = 0;
        r.duration_ms = 145;
        r.tests = &t;
        r.n_tests = 1;
        r.timestamp_ms = SPEC_TS;
        jr_buf out;
        jr_error e;
        ASSERT_OK(jr_result_json(&r, 0, &out, &e), e);
        cr_assert_str_eq(
            out.ptr,
            "{\"id\":\"submission-456\",\"status\":\"OK\",\"exit_code\":0,\"stdout\":\"\","
            "\"stderr\":\"\",\"duration_ms\":145,\"error\":\"\",\"tests\":[{\"number\":1,"
            "\"status\":\"OK\",\"exit_code\":0,\"duration_ms\":45,\"stdout\":\"5\\n\","
            "\"stderr\":\"\",\"input\":\"2 3\\n\",\"expected_output\":\"5\\n\",\"error\":\"\","
            "\"cpu_ms\":1,\"memory_bytes\":524288,\"signal\":null}],\"timestamp\":\"2026-01-"
            "15T10:30:00.123Z\"}");
        cr_assert_eq(out.len, strlen(out.ptr));
        free(out.ptr);
}

Test(result, round_trip_through_yajl_tree)
{
        jr_test_result t[3];
        jr_test_result_init(&t[0], 1);
        t[0].status = JR_STATUS_RE;
        t[0].signal = 31;
        t[0].duration_ms = 3;
        t[0].cpu_ms = 0;
        t[0].memory_bytes = 4096;
        t[0].std_err = JR_BYTES_LIT("bad \xff\xfe byte \"q\" \\ \t\x01");
        t[0].error = JR_BYTES_LIT("killed by signal 31 (SIGSYS)");
        jr_test_result_init(&t[1], 2);
        t[1].std_out = JR_BYTES_LIT("a\0b");
        jr_test_result_init(&t[2], 7);
        t[2].status = JR_STATUS_NOT_RUN;
        jr_result r;
        jr_result_init(&r, JR_BYTES_LIT("id-\xc3\xa9"));
        r.status = JR_STATUS_RE;
        r.tests = t;
        r.n_tests = 3;
        r.memory_limit_bytes_used = 268435456;
        r.time_limit_ms_used = 1000;
        r.build_duration_ms = 120;
        jr_buf out;
        jr_error e;
        ASSERT_OK(jr_result_json(&r, 0, &out, &e), e);
        yajl_val v = tu_json(out.ptr);
        cr_assert_str_eq(tu_str(v, "id"), "id-\xc3\xa9");
        cr_assert_str_eq(tu_str(v, "status"), "RE");
        cr_assert(tu_is_null(v, "exit_code"));
        cr_assert(tu_is_null(v, "duration_ms"));
        cr_assert_str_eq(tu_str(v, "stdout"), "");
        cr_assert_str_eq(tu_str(v, "error"), "");
        cr_assert_eq(tu_int(v, "memory_limit_bytes_used"), 268435456);
        cr_assert_eq(tu_int(v, "time_limit_ms_used"), 1000);
        cr_assert_eq(tu_int(v, "build_duration_ms"), 120);
        const char *path[] = {"truncated", NULL};
        cr_assert_null(yajl_tree_get(v, path, yajl_t_any), "nothing was cut");
        const char *tp[] = {"tests", NULL};
        yajl_val tests = yajl_tree_get(v, tp, yajl_t_array);
        cr_assert(tests);
        cr_assert_eq(YAJL_GET_ARRAY(tests)->len, 3);
        yajl_val t0 = YAJL_GET_ARRAY(tests)->values[0];
        cr_assert_eq(tu_int(t0, "number"), 1);
        cr_assert_str_eq(tu_str(t0, "status"), "RE");
        cr_assert(tu_is_null(t0, "exit_code"));
        cr_assert_eq(tu_int(t0, "signal"), 31);
        cr_assert_eq(tu_int(t0, "cpu_ms"), 0);
        cr_assert_eq(tu_int(t0, "memory_bytes"), 4096);
        cr_assert_eq(tu_int(t0, "duration_ms"), 3);
        /* invalid bytes became U+FFFD (one per maximal invalid sequence) */
        cr_assert_str_eq(tu_str(t0, "stderr"), "bad \xef\xbf\xbd\xef\xbf\xbd byte \"q\" \\ \t\x01");
        cr_assert_str_eq(tu_str(t0, "error"), "killed by signal 31 (SIGSYS)");
        yajl_val t1 = YAJL_GET_ARRAY(tests)->values[1];
        cr_assert(tu_is_null(t1, "signal"));
        cr_assert(tu_is_null(t1, "cpu_ms"));
        cr_assert(tu_is_null(t1, "memory_bytes"));
        cr_assert_str_eq(tu_str(t1, "status"), "-");
        cr_assert(strstr(out.ptr, "\"stdout\":\"a\\u0000b\""), "NUL escaped: %s", out.ptr);
        yajl_val t2 = YAJL_GET_ARRAY(tests)->values[2];
        cr_assert_eq(tu_int(t2, "number"), 7);
        const char *ts = tu_str(v, "timestamp");
        cr_assert_eq(strlen(ts), 24, "%s", ts);
        cr_assert_eq(ts[10], 'T');
        cr_assert_eq(ts[19], '.');
        cr_assert_eq(ts[23], 'Z');
        yajl_tree_free(v);
        free(out.ptr);
}

/* Each of U+FFFD's cases: overlong, surrogate, too big, truncated sequences. */
Test(result, utf8_repair)
{
        struct {
                const char *in;
                const char *want;
        } cases[] = {
            {"\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd"}, /* overlong '/' */
            {"\xe0\x80\xaf", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
            {"\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"}, /* surrogate */
            {"\xf4\x90\x80\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
            {"\xe2\x82", "\xef\xbf\xbd"},             /* truncated: one U+FFFD */
            {"\xe2\x82x", "\xef\xbf\xbdx"},           /* maximal subpart, then x */
            {"\xf0\x9f\x98", "\xef\xbf\xbd"},         /* truncated 4-byte */
            {"\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80"}, /* valid */
            {"\x7f", "\x7f"},
        };
        for (size_t i = 0; i < JR_ARRAY_SIZE(cases); i++) {
                jr_result r;
                jr_result_init(&r, JR_BYTES_LIT("x"));
                r.std_out = jr_bytes_cstr(cases[i].in);
                jr_buf out;
                jr_error e;
                ASSERT_OK(jr_result_json(&r, 0, &out, &e), e);
                yajl_val v = tu_json(out.ptr);
                cr_assert_str_eq(tu_str(v, "stdout"), cases[i].want, "case %zu", i);
                yajl_tree_free(v);
                free(out.ptr);
        }
}

static bool is_prefix(const char *p, size_t plen, const char *s, size_t slen)
{
        return plen <= slen && memcmp(p, s, plen) == 0;
}

static bool valid_utf8(const unsigned char *s, size_t n)
{
        for (size_t i = 0; i < n;) {
                unsigned char c = s[i];
                size_t k = c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 0;
                if (k == 0 || i + k > n)
                        return false;
                for (size_t j = 1; j < k; j++)
                        if ((s[i + j] & 0xc0) != 0x80)
                                return false;
                i += k;
        }
        return true;
}

Test(result, thousand_tests_of_one_megabyte_fit_in_256k)
{
        size_t n = 1000, big = 1u << 20;
        char *blob = malloc(big);
        cr_assert(blob);
        for (size_t i = 0; i < big; i++)
                blob[i] = (char)('a' + i % 26);
        jr_test_result *t = calloc(n, sizeof *t);
        cr_assert(t);
        for (size_t i = 0; i < n; i++) {
                jr_test_result_init(&t[i], (int64_t)i + 1);
                t[i].status = i == 500 ? JR_STATUS_WA : JR_STATUS_OK;
                t[i].exit_code = 0;
                t[i].duration_ms = 10;
                t[i].cpu_ms = 5;
                t[i].memory_bytes = 1 << 20;
                t[i].std_out = (jr_bytes){blob, big};
                t[i].std_err = (jr_bytes){blob, big / 2};
                t[i].input = (jr_bytes){blob, big};
                t[i].expected_output = (jr_bytes){blob, big};
                t[i].error = i == 500 ? JR_BYTES_LIT("wrong answer") : (jr_bytes){0};
        }
        jr_result r;
        jr_result_init(&r, JR_BYTES_LIT("big-one"));
        r.status = JR_STATUS_WA;
        r.tests = t;
        r.n_tests = n;
        jr_buf out;
        jr_error e;
        ASSERT_OK(jr_result_json(&r, 0, &out, &e), e);
        cr_assert_leq(out.len, 256 * 1024, "%zu bytes", out.len);
        cr_assert_gt(out.len, 250 * 1024, "the room is used: %zu bytes", out.len);
        yajl_val v = tu_json(out.ptr);
        cr_assert(tu_bool(v, "truncated"));
        cr_assert_str_eq(tu_str(v, "status"), "WA", "cutting never changes a verdict");
        const char *tp[] = {"tests", NULL};
        yajl_val tests = yajl_tree_get(v, tp, yajl_t_array);
        cr_assert_eq(YAJL_GET_ARRAY(tests)->len, n);
        for (size_t i = 0; i < n; i++) {
                yajl_val ti = YAJL_GET_ARRAY(tests)->values[i];
                cr_assert_eq(tu_int(ti, "number"), (long long)i + 1);
                cr_assert_str_eq(tu_str(ti, "status"), i == 500 ? "WA" : "OK");
                cr_assert(tu_bool(ti, "truncated"));
                const char *so = tu_str(ti, "stdout");
                cr_assert_gt(strlen(so), 0, "every output keeps a share");
                cr_assert(is_prefix(so, strlen(so), blob, big));
                cr_assert(is_prefix(tu_str(ti, "input"), strlen(tu_str(ti, "input")), blob, big));
                if (i == 500)
                        cr_assert_str_eq(tu_str(ti, "error"), "wrong answer",
                                         "short strings stay whole");
        }
        yajl_tree_free(v);
        free(out.ptr);
        free(t);
        free(blob);
}

Test(result, fair_share_cuts_the_largest_first)
{
        size_t big = 1u << 20;
        char *blob = malloc(big);
        memset(blob, 'o', big);
        jr_test_result t[2];
        jr_test_result_init(&t[0], 1);
        t[0].std_out = (jr_bytes){blob, big};
        t[0].std_err = JR_BYTES_LIT("a short warning");
        t[0].input = (jr_bytes){blob, 1000};
        t[0].truncated = true; /* cut at capture already */
        jr_test_result_init(&t[1], 2);
        t[1].std_out = JR_BYTES_LIT("small");
        jr_result r;
        jr_result_init(&r, JR_BYTES_LIT("x"));
        r.tests = t;
        r.n_tests = 2;
        r.std_err = (jr_bytes){blob, big};
        jr_buf out;
        jr_error e;
        ASSERT_OK(jr_result_json(&r, 10000, &out, &e), e);
        cr_assert_leq(out.len, 10000);
        yajl_val v = tu_json(out.ptr);
        const char *tp[] = {"tests", NULL};
        yajl_val tests = yajl_tree_get(v, tp, yajl_t_array);
        yajl_val t0 = YAJL_GET_ARRAY(tests)->values[0], t1 = YAJL_GET_ARRAY(tests)->values[1];
        cr_assert_str_eq(tu_str(t0, "stderr"), "a short warning");
        cr_assert_eq(strlen(tu_str(t0, "input")), 1000);
        size_t a = strlen(tu_str(t0, "stdout")), b = strlen(tu_str(v, "stderr"));
        cr_assert(a > 3000 && b > 3000 && (a > b ? a - b : b - a) <= 1, "%zu vs %zu", a, b);
        cr_assert(tu_bool(t0, "truncated"));
        const char *fp[] = {"truncated", NULL};
        cr_assert_null(yajl_tree_get(t1, fp, yajl_t_any), "test 2 lost nothing");
        cr_assert_str_eq(tu_str(t1, "stdout"), "small");
        cr_assert(tu_bool(v, "truncated"));
        yajl_tree_free(v);
        free(out.ptr);
        free(blob);
}

Test(result, one_big_output_among_many_small)
{
        size_t n = 1000, big = 1u << 20;
        char *blob = malloc(big);
        memset(blob, 'x', big);
        jr_test_result *t = calloc(n, sizeof *t);
        for (size_t i = 0; i < n; i++) {
                jr_test_result_init(&t[i], (int64_t)i + 1);
                t[i].status = JR_STATUS_OK;
                t[i].std_out = JR_BYTES_LIT("ok\n");
                t[i].input = JR_BYTES_LIT("1 2\n");
        }
        t[500].std_out = (jr_bytes){blob, big};
        jr_result r;
        jr_result_init(&r, JR_BYTES_LIT("x"));
        r.tests = t;
        r.n_tests = n;
        jr_buf out;
        jr_error e;
        ASSERT_OK(jr_result_json(&r, 0, &out, &e), e);
        /* the room reserved for flags that were not needed went to the big output */
        cr_assert_geq(out.len, JR_MSG_MAX_DEFAULT - 64, "%zu bytes", out.len);
        cr_assert_leq(out.len, JR_MSG_MAX_DEFAULT);
        yajl_val v = tu_json(out.ptr);
        const char *tp[] = {"tests", NULL}, *fp[] = {"truncated", NULL};
        yajl_val tests = yajl_tree_get(v, tp, yajl_t_array);
        for (size_t i = 0; i < n; i++) {
                yajl_val ti = YAJL_GET_ARRAY(tests)->values[i];
                if (i == 500) {
                        cr_assert(tu_bool(ti, "truncated"));
                } else {
                        cr_assert_null(yajl_tree_get(ti, fp, yajl_t_any), "test %zu", i);
                        cr_assert_str_eq(tu_str(ti, "stdout"), "ok\n");
                }
        }
        cr_assert(tu_bool(v, "truncated"));
        yajl_tree_free(v);
        free(out.ptr);
        free(t);
        free(blob);
}

Test(result, checker_output_only_when_a_jury_program_ran)
{
        size_t big = 1u << 20;
        char *blob = malloc(big);
        memset(blob, 'c', big);
        jr_test_result t[3];
        jr_test_result_init(&t[0], 1);
        t[0].status = JR_STATUS_WA;
        t[0].checker_output = JR_BYTES_LIT("wrong answer 1st numbers differ \xff");
        jr_test_result_init(&t[1], 2);
        t[1].status = JR_STATUS_OK;
        jr_test_result_init(&t[2], 3);
        t[2].status = JR_STATUS_OK;
        t[2].checker_output = (jr_bytes){blob, big};
        jr_result r;
        jr_result_init(&r, JR_BYTES_LIT("chk"));
        r.status = JR_STATUS_WA;
        r.tests = t;
        r.n_tests = 3;
        jr_buf out;
        jr_error e;
        ASSERT_OK(jr_result_json(&r, 0, &out, &e), e);
        cr_assert_leq(out.len, JR_MSG_MAX_DEFAULT);
        yajl_val v = tu_json(out.ptr);
        const char *tp[] = {"tests", NULL}, *cp[] = {"checker_output", NULL},
                   *fp[] = {"truncated", NULL};
        yajl_val tests = yajl_tree_get(v, tp, yajl_t_array);
        yajl_val t0 = YAJL_GET_ARRAY(tests)->values[0], t1 = YAJL_GET_ARRAY(tests)->values[1],
                 t2 = YAJL_GET_ARRAY(tests)->values[2];
        cr_assert_str_eq(tu_str(t0, "checker_output"),
                         "wrong answer 1st numbers differ \xef\xbf\xbd");
        cr_assert_null(yajl_tree_get(t0, fp, yajl_t_any));
        cr_assert_null(yajl_tree_get(t1, cp, yajl_t_any), "omitted without a jury program");
        /* a long one is cut like any other text */
        size_t kept = strlen(tu_str(t2, "checker_output"));
        cr_assert(kept > 100000 && kept < big, "%zu", kept);
        cr_assert(tu_bool(t2, "truncated"));
        cr_assert(tu_bool(v, "truncated"));
        /* after "signal", before "truncated" */
        const char *sig = strstr(out.ptr, "\"signal\":null,\"checker_output\":\"wrong");
        cr_assert(sig, "%.400s", out.ptr);
        yajl_tree_free(v);
        free(out.ptr);
        free(blob);
}

Test(result, caller_flag_without_cutting)
{
        jr_test_result t;
        jr_test_result_init(&t, 1);
        t.truncated = true;
        jr_result r;
        jr_result_init(&r, JR_BYTES_LIT("x"));
        r.tests = &t;
        r.n_tests = 1;
        jr_buf out;
        jr_error e;
        ASSERT_OK(jr_result_json(&r, 0, &out, &e), e);
        yajl_val v = tu_json(out.ptr);
        cr_assert(tu_bool(v, "truncated"), "the top level follows its tests");
        yajl_tree_free(v);
        free(out.ptr);
}

/* Multi-byte characters and escapes: cuts land on boundaries and the size model is
 * exact for every cap. */
Test(result, cuts_on_character_boundaries)
{
        const char *unit[] = {"\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\x01",
                              "\"",       "\xff",         "a\xe2\x82"};
        for (size_t u = 0; u < JR_ARRAY_SIZE(unit); u++) {
                size_t ul = strlen(unit[u]), reps = 5000;
                char *s = malloc(ul * reps);
                for (size_t i = 0; i < reps; i++)
                        memcpy(s + i * ul, unit[u], ul);
                for (size_t cap = 300; cap < 3000; cap += 37) {
                        jr_result r;
                        jr_result_init(&r, JR_BYTES_LIT("x"));
                        r.timestamp_ms = SPEC_TS;
                        r.std_out = (jr_bytes){s, ul * reps};
                        r.error = (jr_bytes){s, ul * 10};
                        jr_buf out;
                        jr_error e;
                        cr_assert_eq(jr_result_json(&r, cap, &out, &e), 0, "unit %zu cap %zu: %s",
                                     u, cap, e.msg);
                        cr_assert_leq(out.len, cap);
                        cr_assert_geq(out.len + 24, cap, "unit %zu cap %zu: only %zu used", u, cap,
                                      out.len);
                        cr_assert(valid_utf8((const unsigned char *)out.ptr, out.len));
                        yajl_val v = tu_json(out.ptr);
                        cr_assert(tu_bool(v, "truncated"));
                        yajl_tree_free(v);
                        free(out.ptr);
                }
                free(s);
        }
}

Test(result, random_bytes_any_cap)
{
        unsigned seed = 12345;
        char *buf = malloc(70000);
        for (int round = 0; round < 300; round++) {
                size_t n1 = (size_t)rand_r(&seed) % 70000, n2 = (size_t)rand_r(&seed) % 3000;
                for (size_t i = 0; i < n1; i++)
                        buf[i] = (char)rand_r(&seed);
                jr_test_result t[2];
                jr_test_result_init(&t[0], 1);
                jr_test_result_init(&t[1], 2);
                t[0].std_out = (jr_bytes){buf, n1};
                t[0].input = (jr_bytes){buf + 7, n2 < n1 ? n2 : 0};
                t[1].error = (jr_bytes){buf + 3, n1 > 3 ? (n1 - 3) / 2 : 0};
                jr_result r;
                jr_result_init(&r, (jr_bytes){buf, n1 < 20 ? n1 : 20});
                r.tests = t;
                r.n_tests = 2;
                size_t cap = 900 + (size_t)rand_r(&seed) % 100000;
                jr_buf out;
                jr_error e;
                int ret = jr_result_json(&r, cap, &out, &e);
                cr_assert_eq(ret, 0, "round %d: %s", round, e.msg);
                cr_assert_leq(out.len, cap);
                cr_assert(valid_utf8((const unsigned char *)out.ptr, out.len));
                yajl_val v = tu_json(out.ptr);
                yajl_tree_free(v);
                free(out.ptr);
        }
        free(buf);
}

Test(result, too_small_a_cap)
{
        jr_result r;
        jr_result_init(&r, JR_BYTES_LIT("x"));
        r.std_out = JR_BYTES_LIT("hello");
        jr_buf out = {0};
        jr_error e;
        cr_assert_lt(jr_result_json(&r, 50, &out, &e), 0);
        cr_assert_eq(e.err, E2BIG);
        cr_assert(strstr(e.msg, "more than the cap of 50"), "%s", e.msg);
        cr_assert_null(out.ptr);
}

Test(result, ie_shortcut)
{
        jr_buf out;
        jr_error e;
        ASSERT_OK(jr_result_ie_json(JR_BYTES_LIT("s-9"),
                                    "field \"language\": unknown language \"x\"", 0, &out, &e),
                  e);
        yajl_val v = tu_json(out.ptr);
        cr_assert_str_eq(tu_str(v, "id"), "s-9");
        cr_assert_str_eq(tu_str(v, "status"), "IE");
        cr_assert_str_eq(tu_str(v, "error"), "field \"language\": unknown language \"x\"");
        cr_assert(tu_is_null(v, "exit_code"));
        cr_assert(tu_is_null(v, "duration_ms"));
        const char *tp[] = {"tests", NULL};
        cr_assert_eq(YAJL_GET_ARRAY(yajl_tree_get(v, tp, yajl_t_array))->len, 0);
        yajl_tree_free(v);
        free(out.ptr);
}

Test(result, timestamp_format)
{
        char b[JR_TIMESTAMP_LEN];
        cr_assert_str_eq(jr_format_timestamp(SPEC_TS, b), "2026-01-15T10:30:00.123Z");
        cr_assert_str_eq(jr_format_timestamp(1000, b), "1970-01-01T00:00:01.000Z");
        cr_assert_str_eq(jr_format_timestamp(951782400007LL, b), "2000-02-29T00:00:00.007Z");
        jr_format_timestamp(0, b);
        cr_assert_eq(strlen(b), 24);
        cr_assert_eq(memcmp(b, "20", 2), 0, "now: %s", b);
}

/* ================================================================ events */

static yajl_val event(const jr_event *ev, size_t cap, jr_buf *out)
{
        jr_error e;
        ASSERT_OK(jr_event_json(ev, cap, out, &e), e);
        cr_assert_leq(out->len, cap ? cap : JR_MSG_MAX_DEFAULT);
        return tu_json(out->ptr);
}

Test(event, shapes)
{
        jr_buf out;
        jr_event ev;
        jr_event_init(&ev, JR_EVENT_ACCEPTED, JR_BYTES_LIT("s-1"), 0);
        ev.language = JR_BYTES_LIT("c");
        ev.n_tests = 2;
        ev.timestamp_ms = SPEC_TS;
        yajl_val v = event(&ev, 0, &out);
        cr_assert_str_eq(out.ptr, "{\"id\":\"s-1\",\"seq\":0,\"type\":\"accepted\",\"language\":"
                                  "\"c\",\"tests\":2,\"timestamp\":\"2026-01-15T10:30:00.123Z\"}");
        yajl_tree_free(v);
        free(out.ptr);

        jr_event_init(&ev, JR_EVENT_BUILD, JR_BYTES_LIT("s-1"), 1);
        ev.status = JR_STATUS_BF;
        ev.duration_ms = 850;
        ev.error = JR_BYTES_LIT("main.c:1: error: expected ';'");
        ev.timestamp_ms = SPEC_TS;
        v = event(&ev, 0, &out);
        cr_assert_str_eq(out.ptr, "{\"id\":\"s-1\",\"seq\":1,\"type\":\"build\",\"status\":\"BF\","
                                  "\"duration_ms\":850,\"error\":\"main.c:1: error: expected "
                                  "';'\",\"timestamp\":\"2026-01-15T10:30:00.123Z\"}");
        yajl_tree_free(v);
        free(out.ptr);

        jr_test_result t;
        jr_test_result_init(&t, 1);
        t.status = JR_STATUS_OK;
        t.exit_code = 0;
        t.duration_ms = 4;
        jr_event_init(&ev, JR_EVENT_TEST, JR_BYTES_LIT("s-1"), 2);
        ev.test = &t;
        v = event(&ev, 0, &out);
        cr_assert_eq(tu_int(v, "seq"), 2);
        cr_assert_str_eq(tu_str(v, "type"), "test");
        const char *tp[] = {"test", NULL};
        yajl_val to = yajl_tree_get(v, tp, yajl_t_object);
        cr_assert(to);
        cr_assert_eq(tu_int(to, "number"), 1);
        cr_assert_str_eq(tu_str(to, "status"), "OK");
        cr_assert_eq(tu_int(to, "exit_code"), 0);
        cr_assert(tu_is_null(to, "signal"));
        yajl_tree_free(v);
        free(out.ptr);

        jr_event_init(&ev, JR_EVENT_DONE, JR_BYTES_LIT("s-1"), 3);
        ev.status = JR_STATUS_WA;
        v = event(&ev, 0, &out);
        cr_assert_str_eq(tu_str(v, "type"), "done");
        cr_assert_str_eq(tu_str(v, "status"), "WA");
        cr_assert(tu_is_null(v, "duration_ms"));
        yajl_tree_free(v);
        free(out.ptr);

        jr_event_init(&ev, JR_EVENT_TEST, JR_BYTES_LIT("s-1"), 4);
        jr_error e;
        cr_assert_lt(jr_event_json(&ev, 0, &out, &e), 0, "a test event needs its test");
        cr_assert_str_eq(jr_event_type_name(JR_EVENT_BUILD), "build");
}

Test(event, capped_like_results)
{
        size_t big = 4u << 20;
        char *blob = malloc(big);
        memset(blob, 'e', big);
        jr_buf out;
        jr_event ev;
        jr_event_init(&ev, JR_EVENT_BUILD, JR_BYTES_LIT("s-1"), 1);
        ev.status = JR_STATUS_BF;
        ev.error = (jr_bytes){blob, big};
        yajl_val v = event(&ev, 0, &out);
        cr_assert(tu_bool(v, "truncated"));
        cr_assert_gt(strlen(tu_str(v, "error")), 250 * 1024);
        cr_assert_str_eq(tu_str(v, "status"), "BF");
        yajl_tree_free(v);
        free(out.ptr);

        jr_test_result t;
        jr_test_result_init(&t, 9);
        t.status = JR_STATUS_OL;
        t.std_out = (jr_bytes){blob, big};
        t.std_err = (jr_bytes){blob, big};
        t.input = (jr_bytes){blob, 100};
        jr_event_init(&ev, JR_EVENT_TEST, JR_BYTES_LIT("s-1"), 2);
        ev.test = &t;
        v = event(&ev, 0, &out);
        cr_assert(tu_bool(v, "truncated"));
        const char *tp[] = {"test", NULL};
        yajl_val to = yajl_tree_get(v, tp, yajl_t_object);
        cr_assert(tu_bool(to, "truncated"));
        cr_assert_str_eq(tu_str(to, "status"), "OL");
        cr_assert_eq(strlen(tu_str(to, "input")), 100);
        yajl_tree_free(v);
        free(out.ptr);

        v = event(&ev, 4096, &out);
        cr_assert(tu_bool(v, "truncated"));
        yajl_tree_free(v);
        free(out.ptr);
        free(blob);
}
