#include "message.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_parse.h>

#include "cleanup.h"

/* ================================================================ statuses */

static const char *const status_names[JR_STATUS__COUNT] = {
    [JR_STATUS_OK] = "OK", [JR_STATUS_WA] = "WA", [JR_STATUS_TL] = "TL",
    [JR_STATUS_ML] = "ML", [JR_STATUS_RE] = "RE", [JR_STATUS_OL] = "OL",
    [JR_STATUS_BF] = "BF", [JR_STATUS_IE] = "IE", [JR_STATUS_NOT_RUN] = "-",
};

const char *jr_status_name(jr_status s)
{
        if ((unsigned)s < JR_STATUS__COUNT)
                return status_names[s];
        return "?";
}

int jr_status_from_name(const char *name, size_t len, jr_status *out)
{
        for (unsigned i = 0; i < JR_STATUS__COUNT; i++)
                if (strlen(status_names[i]) == len && !memcmp(status_names[i], name, len)) {
                        *out = (jr_status)i;
                        return 0;
                }
        return -1;
}

jr_status jr_overall_status(const jr_test_result *tests, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (tests[i].status != JR_STATUS_OK)
                        return tests[i].status;
        return JR_STATUS_OK;
}

static const char *const event_names[] = {
    [JR_EVENT_ACCEPTED] = "accepted",
    [JR_EVENT_BUILD] = "build",
    [JR_EVENT_TEST] = "test",
    [JR_EVENT_DONE] = "done",
};

const char *jr_event_type_name(jr_event_type t)
{
        if ((unsigned)t < JR_ARRAY_SIZE(event_names))
                return event_names[t];
        return "?";
}

/* An untrusted string for an error message: JSON-like escapes, non-ASCII as \xHH,
 * at most QUOTE_MAX input bytes then "...". */
#define QUOTE_MAX 64
#define QUOTE_BUF (QUOTE_MAX * 4 + 4)
static const char *quote(const char *s, size_t len, char buf[QUOTE_BUF])
{
        size_t o = 0, i;
        for (i = 0; i < len && i < QUOTE_MAX; i++) {
                unsigned char c = (unsigned char)s[i];
                if (c == '"' || c == '\\') {
                        buf[o++] = '\\';
                        buf[o++] = (char)c;
                } else if (c >= 0x20 && c < 0x7f) {
                        buf[o++] = (char)c;
                } else {
                        static const char hex[] = "0123456789abcdef";
                        buf[o++] = '\\';
                        buf[o++] = 'x';
                        buf[o++] = hex[c >> 4];
                        buf[o++] = hex[c & 15];
                }
        }
        if (i < len) {
                memcpy(buf + o, "...", 3);
                o += 3;
        }
        buf[o] = '\0';
        return buf;
}

/* ================================================================ parsing */

/* What a value is for: the key it follows in a known object, or the role of its
 * container. */
enum slot {
        S_UNKNOWN = 0, /* ignored (skipped when a container) */
        S_ROOT,
        S_TYPE,
        S_ID,
        S_LANGUAGE,
        S_SOURCE,
        S_LIMITS,
        S_TESTS,
        S_CHECKER,
        S_STOP,
        S_TIME,
        S_MEMORY,
        S_TEST, /* an element of "tests" */
        S_NUMBER,
        S_INPUT,
        S_EXPECTED,
};

/* The known containers; anything deeper or unknown is counted in `skip` only. */
enum frame { FR_TOP, FR_LIMITS, FR_TESTS, FR_TEST };

struct key {
        const char *name;
        enum slot slot;
};
static const struct key top_keys[] = {
    {"type", S_TYPE},     {"id", S_ID},       {"language", S_LANGUAGE}, {"source", S_SOURCE},
    {"limits", S_LIMITS}, {"tests", S_TESTS}, {"checker", S_CHECKER},   {"stop_on_failure", S_STOP},
};
static const struct key limits_keys[] = {
    {"time_limit_ms", S_TIME},
    {"memory_limit_bytes", S_MEMORY},
};
static const struct key test_keys[] = {
    {"number", S_NUMBER},
    {"input", S_INPUT},
    {"expected_output", S_EXPECTED},
};

/* The strings of a submission, in one block sized from the input. */
struct mem {
        char *arena;
        size_t used, cap;
};

struct parser {
        const jr_parse_options *opt;
        size_t max_string, max_id, max_tests;
        unsigned max_depth;
        jr_submission *sub;
        struct mem *mem;
        size_t tests_cap;

        unsigned depth;      /* open containers */
        unsigned skip;       /* open containers being skipped (innermost ones) */
        unsigned known;      /* known frames on the stack (<= 3) */
        enum frame stack[3]; /* the known frames, outermost first */
        enum slot key;       /* pending key in the innermost known object */
        bool root_seen;

        bool has_language, has_source;

        /* After the first error the parse goes on only to find the top-level id. */
        int failed; /* 0 or a jr_parse_failure */
        bool have_err_id;
        jr_bytes err_id;
        jr_error *e;
};

static char *mem_put(struct mem *m, const unsigned char *s, size_t len)
{
        /* cannot overflow: the arena is sized so that every string of the input fits
         * (a decoded JSON string is at least 2 bytes shorter than its token) */
        if (m->cap - m->used < len + 1)
                return NULL;
        char *p = m->arena + m->used;
        if (len)
                memcpy(p, s, len);
        p[len] = '\0';
        m->used += len + 1;
        return p;
}

static const char *slot_name(enum slot s)
{
        switch (s) {
        case S_TYPE:
                return "type";
        case S_ID:
                return "id";
        case S_LANGUAGE:
                return "language";
        case S_SOURCE:
                return "source";
        case S_LIMITS:
                return "limits";
        case S_TESTS:
                return "tests";
        case S_CHECKER:
                return "checker";
        case S_STOP:
                return "stop_on_failure";
        case S_TIME:
                return "limits.time_limit_ms";
        case S_MEMORY:
                return "limits.memory_limit_bytes";
        case S_NUMBER:
                return "number";
        case S_INPUT:
                return "input";
        case S_EXPECTED:
                return "expected_output";
        default:
                return "?";
        }
}

/* Record the first failure as 'field "<path>": <detail>' and keep parsing (to find
 * the id) unless fatal. Returns the yajl callback verdict. */
__attribute__((format(printf, 4, 5))) static int fail(struct parser *p, int kind, enum slot s,
                                                      const char *fmt, ...)
{
        if (p->failed == 0) {
                char detail[JR_ERROR_MSG_MAX];
                va_list ap;
                va_start(ap, fmt);
                vsnprintf(detail, sizeof detail, fmt, ap);
                va_end(ap);
                size_t test = p->sub->n_tests ? p->sub->n_tests - 1 : 0;
                switch (s) {
                case S_ROOT:
                        jr_error_set(p->e, 0, "submission: %s", detail);
                        break;
                case S_TEST:
                        jr_error_set(p->e, 0, "field \"tests[%zu]\": %s", p->sub->n_tests, detail);
                        break;
                case S_NUMBER:
                case S_INPUT:
                case S_EXPECTED:
                        jr_error_set(p->e, 0, "field \"tests[%zu].%s\": %s", test, slot_name(s),
                                     detail);
                        break;
                default:
                        jr_error_set(p->e, 0, "field \"%s\": %s", slot_name(s), detail);
                        break;
                }
                p->failed = kind;
        }
        return 1;
}

static int nomem(struct parser *p, const char *what)
{
        jr_error_set(p->e, ENOMEM, "submission: %s", what);
        p->failed = JR_PARSE_INTERNAL;
        return 0;
}

/* The slot of the value that comes next, or S_UNKNOWN when it is to be ignored. */
static enum slot next_slot(struct parser *p)
{
        if (p->depth == 0)
                return S_ROOT;
        if (p->skip)
                return S_UNKNOWN;
        enum frame f = p->stack[p->known - 1];
        enum slot s = f == FR_TESTS ? S_TEST : p->key;
        if (p->failed && s != S_ID)
                return S_UNKNOWN;
        return s;
}

static int open_container(struct parser *p)
{
        if (p->depth >= p->max_depth) {
                /* fatal, even while looking for the id: yajl's own stack would grow with
                 * the input */
                fail(p, JR_PARSE_LIMIT, S_ROOT, "nested deeper than %u levels", p->max_depth);
                return 0;
        }
        p->depth++;
        return 1;
}

static void push(struct parser *p, enum frame f)
{
        p->stack[p->known++] = f;
        p->key = S_UNKNOWN;
}

static int type_error(struct parser *p, enum slot s)
{
        switch (s) {
        case S_ROOT:
                return fail(p, JR_PARSE_INVALID, s, "must be a JSON object");
        case S_LIMITS:
        case S_TEST:
                return fail(p, JR_PARSE_INVALID, s, "must be an object");
        case S_TESTS:
                return fail(p, JR_PARSE_INVALID, s, "must be an array");
        case S_STOP:
                return fail(p, JR_PARSE_INVALID, s, "must be true or false");
        case S_TIME:
        case S_MEMORY:
                return fail(p, JR_PARSE_INVALID, s, "must be a non-negative integer");
        case S_NUMBER:
                return fail(p, JR_PARSE_INVALID, s, "must be an integer");
        default:
                return fail(p, JR_PARSE_INVALID, s, "must be a string");
        }
}

/* A scalar or container for s that is not a string/number/... as expected. A type
 * error in a known slot; an unknown slot ignores it. Containers are then skipped. */
static int wrong_value(struct parser *p, enum slot s)
{
        if (s == S_UNKNOWN)
                return 1;
        return type_error(p, s);
}

static int cb_start_map(void *ctx)
{
        struct parser *p = ctx;
        enum slot s = next_slot(p);
        if (!open_container(p))
                return 0;
        if (s == S_ROOT) {
                p->root_seen = true;
                push(p, FR_TOP);
                return 1;
        }
        if (s == S_LIMITS) {
                push(p, FR_LIMITS);
                return 1;
        }
        if (s == S_TEST) {
                jr_submission *sub = p->sub;
                if (sub->n_tests >= p->max_tests) {
                        p->skip++;
                        return fail(p, JR_PARSE_LIMIT, S_TESTS,
                                    "more than %zu tests (the host limit)", p->max_tests);
                }
                if (sub->n_tests == p->tests_cap) {
                        size_t cap = p->tests_cap ? p->tests_cap * 2 : 8;
                        if (cap > p->max_tests)
                                cap = p->max_tests;
                        jr_test_case *t = reallocarray(sub->tests, cap, sizeof *t);
                        if (!t)
                                return nomem(p, "tests");
                        sub->tests = t;
                        p->tests_cap = cap;
                }
                sub->tests[sub->n_tests] = (jr_test_case){.number = (int64_t)sub->n_tests + 1};
                sub->n_tests++;
                push(p, FR_TEST);
                return 1;
        }
        p->skip++;
        return wrong_value(p, s);
}

static int cb_start_array(void *ctx)
{
        struct parser *p = ctx;
        enum slot s = next_slot(p);
        if (!open_container(p))
                return 0;
        if (s == S_TESTS) {
                p->sub->n_tests = 0; /* a duplicate "tests" replaces the earlier one */
                p->sub->tests_given = true;
                push(p, FR_TESTS);
                return 1;
        }
        p->skip++;
        return wrong_value(p, s);
}

static int close_container(struct parser *p)
{
        p->depth--;
        if (p->skip) {
                p->skip--;
                return 1;
        }
        p->known--;
        p->key = S_UNKNOWN;
        return 1;
}

static int cb_end(void *ctx)
{
        return close_container(ctx);
}

static int cb_map_key(void *ctx, const unsigned char *k, size_t len)
{
        struct parser *p = ctx;
        if (p->skip)
                return 1;
        const struct key *keys;
        size_t n;
        switch (p->stack[p->known - 1]) {
        case FR_TOP:
                keys = top_keys;
                n = JR_ARRAY_SIZE(top_keys);
                break;
        case FR_LIMITS:
                keys = limits_keys;
                n = JR_ARRAY_SIZE(limits_keys);
                break;
        case FR_TEST:
                keys = test_keys;
                n = JR_ARRAY_SIZE(test_keys);
                break;
        default:
                return 1;
        }
        p->key = S_UNKNOWN;
        for (size_t i = 0; i < n; i++)
                if (strlen(keys[i].name) == len && !memcmp(keys[i].name, k, len)) {
                        p->key = keys[i].slot;
                        break;
                }
        return 1;
}

static int cb_null(void *ctx)
{
        struct parser *p = ctx;
        enum slot s = next_slot(p);
        jr_submission *sub = p->sub;
        switch (s) {
        case S_ROOT:
                return type_error(p, s);
        case S_TEST:
                return type_error(p, s);
        case S_TYPE:
                sub->type = JR_MSG_SCRIPT;
                break;
        case S_ID:
                if (p->failed)
                        p->have_err_id = false;
                sub->id = (jr_bytes){0};
                break;
        case S_LANGUAGE:
                p->has_language = false;
                break;
        case S_SOURCE:
                p->has_source = false;
                break;
        case S_LIMITS:
                sub->time_limit_ms = sub->memory_limit_bytes = 0;
                break;
        case S_TESTS:
                sub->n_tests = 0;
                sub->tests_given = false;
                break;
        case S_CHECKER:
                sub->checker = JR_CHECKER_LINES;
                break;
        case S_STOP:
                sub->stop_on_failure = true;
                break;
        case S_TIME:
                sub->time_limit_ms = 0;
                break;
        case S_MEMORY:
                sub->memory_limit_bytes = 0;
                break;
        case S_NUMBER:
                sub->tests[sub->n_tests - 1].number = (int64_t)sub->n_tests;
                break;
        case S_INPUT:
                sub->tests[sub->n_tests - 1].input = (jr_bytes){0};
                break;
        case S_EXPECTED:
                sub->tests[sub->n_tests - 1].expected_output = (jr_bytes){0};
                sub->tests[sub->n_tests - 1].has_expected_output = false;
                break;
        default:
                break;
        }
        return 1;
}

static int cb_boolean(void *ctx, int v)
{
        struct parser *p = ctx;
        enum slot s = next_slot(p);
        if (s == S_STOP) {
                p->sub->stop_on_failure = v != 0;
                return 1;
        }
        return wrong_value(p, s);
}

/* A JSON number's text to an integer: 1 ok, 0 not an integer, -1 out of range. */
static int parse_integer(const char *s, size_t len, int64_t *out)
{
        size_t i = 0;
        bool neg = len > 0 && s[0] == '-';
        if (neg)
                i++;
        if (i == len)
                return 0;
        uint64_t v = 0, lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
        for (; i < len; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return 0; /* '.', 'e', 'E' */
                unsigned d = (unsigned)(s[i] - '0');
                if (v > (lim - d) / 10)
                        return -1;
                v = v * 10 + d;
        }
        *out = neg ? (int64_t)(0 - v) : (int64_t)v;
        return 1;
}

static int cb_number(void *ctx, const char *num, size_t len)
{
        struct parser *p = ctx;
        enum slot s = next_slot(p);
        if (s != S_TIME && s != S_MEMORY && s != S_NUMBER)
                return wrong_value(p, s);
        int64_t v = 0;
        int r = parse_integer(num, len, &v);
        if (r == 0 || (s != S_NUMBER && v < 0))
                return type_error(p, s);
        if (r < 0)
                return fail(p, JR_PARSE_INVALID, s, "out of range (at most %" PRId64 ")",
                            INT64_MAX);
        if (s == S_TIME)
                p->sub->time_limit_ms = (uint64_t)v;
        else if (s == S_MEMORY)
                p->sub->memory_limit_bytes = (uint64_t)v;
        else
                p->sub->tests[p->sub->n_tests - 1].number = v;
        return 1;
}

static int cmp_names(const void *a, const void *b)
{
        return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int unknown_language(struct parser *p, const unsigned char *s, size_t len)
{
        char known[512] = "", q[QUOTE_BUF];
        size_t n = p->opt->n_languages, o = 0;
        _cleanup_free_ const char **sorted = calloc(n ? n : 1, sizeof *sorted);
        if (sorted) {
                memcpy(sorted, p->opt->languages, n * sizeof *sorted);
                qsort(sorted, n, sizeof *sorted, cmp_names);
        }
        for (size_t i = 0; i < n && o < sizeof known; i++) {
                int w = snprintf(known + o, sizeof known - o, "%s%s", i ? ", " : "",
                                 sorted ? sorted[i] : p->opt->languages[i]);
                if (w < 0)
                        break;
                o += (size_t)w;
        }
        return fail(p, JR_PARSE_INVALID, S_LANGUAGE, "unknown language \"%s\" (known: %s)",
                    quote((const char *)s, len, q), known);
}

static int cb_string(void *ctx, const unsigned char *s, size_t len)
{
        struct parser *p = ctx;
        enum slot sl = next_slot(p);
        jr_submission *sub = p->sub;

        switch (sl) {
        case S_ID:
        case S_LANGUAGE:
        case S_SOURCE:
        case S_INPUT:
        case S_EXPECTED:
                break;
        case S_TYPE:
                if (len == 6 && !memcmp(s, "script", 6))
                        sub->type = JR_MSG_SCRIPT;
                else if (len == 4 && !memcmp(s, "done", 4))
                        sub->type = JR_MSG_DONE;
                else
                        return fail(p, JR_PARSE_INVALID, sl, "must be \"script\" or \"done\"");
                return 1;
        case S_CHECKER: {
                jr_checker c;
                if (jr_checker_from_name((const char *)s, len, &c) < 0)
                        return fail(p, JR_PARSE_INVALID, sl,
                                    "must be \"lines\", \"exact\" or \"tokens\"");
                sub->checker = c;
                return 1;
        }
        default:
                return wrong_value(p, sl);
        }

        /* the cap is checked before anything is copied */
        size_t cap = sl == S_ID ? p->max_id : p->max_string;
        if (len > cap)
                return fail(p, JR_PARSE_LIMIT, sl, "longer than the limit of %zu bytes", cap);

        if (sl == S_LANGUAGE) {
                if (len == 0)
                        return fail(p, JR_PARSE_INVALID, sl, "must not be empty");
                size_t idx = 0;
                if (p->opt->languages) {
                        for (idx = 0; idx < p->opt->n_languages; idx++)
                                if (strlen(p->opt->languages[idx]) == len &&
                                    !memcmp(p->opt->languages[idx], s, len))
                                        break;
                        if (idx == p->opt->n_languages)
                                return unknown_language(p, s, len);
                }
                sub->language_index = idx;
        }
        if (sl == S_SOURCE && len == 0)
                return fail(p, JR_PARSE_INVALID, sl, "must not be empty");

        char *copy = mem_put(p->mem, s, len);
        if (!copy)
                return nomem(p, "strings");
        jr_bytes b = {copy, len};
        switch (sl) {
        case S_ID:
                if (p->failed) {
                        p->err_id = b;
                        p->have_err_id = len > 0;
                        if (len == 0)
                                sub->id = (jr_bytes){0}; /* "" = absent: the fallback */
                } else {
                        sub->id = b;
                }
                break;
        case S_LANGUAGE:
                sub->language = b;
                p->has_language = true;
                break;
        case S_SOURCE:
                sub->source = b;
                p->has_source = true;
                break;
        case S_INPUT:
                sub->tests[sub->n_tests - 1].input = b;
                break;
        case S_EXPECTED:
                sub->tests[sub->n_tests - 1].expected_output = b;
                sub->tests[sub->n_tests - 1].has_expected_output = true;
                break;
        default:
                break;
        }
        return 1;
}

/* p->key stays set after its value: yajl has no "value done" callback, and in an
 * object the next event is always another key (which overwrites it) or the end. */

static const yajl_callbacks callbacks = {
    .yajl_null = cb_null,
    .yajl_boolean = cb_boolean,
    .yajl_number = cb_number, /* raw text: huge numbers are our error, not yajl's */
    .yajl_string = cb_string,
    .yajl_start_map = cb_start_map,
    .yajl_map_key = cb_map_key,
    .yajl_end_map = cb_end,
    .yajl_start_array = cb_start_array,
    .yajl_end_array = cb_end,
};

void jr_submission_free(jr_submission *s)
{
        if (!s)
                return;
        struct mem *m = s->mem_;
        if (m)
                free(m->arena);
        free(m);
        free(s->tests);
        free(s);
}

static void give_err_id(jr_buf *err_id, jr_bytes id)
{
        if (!err_id)
                return;
        err_id->len = 0;
        err_id->ptr = malloc(id.len + 1);
        if (!err_id->ptr)
                return;
        if (id.len)
                memcpy(err_id->ptr, id.ptr, id.len);
        err_id->ptr[id.len] = '\0';
        err_id->len = id.len;
}

static int finish(struct parser *p)
{
        jr_submission *sub = p->sub;
        if (sub->type == JR_MSG_SCRIPT) {
                if (!p->has_language)
                        return fail(p, JR_PARSE_INVALID, S_LANGUAGE, "required"), -1;
                if (!p->has_source)
                        return fail(p, JR_PARSE_INVALID, S_SOURCE, "required"), -1;
        } else if (!p->has_language) {
                sub->language = (jr_bytes){"", 0};
        }
        if (!p->has_source)
                sub->source = (jr_bytes){"", 0};
        if (sub->n_tests == 0) {
                /* the spec's "one run with empty stdin and no expected output" */
                if (!sub->tests) {
                        sub->tests = calloc(1, sizeof *sub->tests);
                        if (!sub->tests)
                                return nomem(p, "tests"), -1;
                }
                sub->tests[0] = (jr_test_case){.number = 1};
                sub->n_tests = 1;
                sub->tests_given = false;
        }
        for (size_t i = 0; i < sub->n_tests; i++) {
                jr_test_case *t = &sub->tests[i];
                if (!t->input.ptr)
                        t->input.ptr = "";
                if (!t->expected_output.ptr)
                        t->expected_output.ptr = "";
        }
        if (sub->id.len == 0) {
                jr_bytes fb = p->opt->fallback_id;
                char *copy = mem_put(p->mem, (const unsigned char *)fb.ptr, fb.len);
                if (!copy)
                        return nomem(p, "strings"), -1;
                sub->id = (jr_bytes){copy, fb.len};
                sub->id_from_message = false;
        } else {
                sub->id_from_message = true;
        }
        return 0;
}

static bool only_space(const void *buf, size_t len)
{
        const char *s = buf;
        for (size_t i = 0; i < len; i++)
                if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r')
                        return false;
        return true;
}

int jr_submission_parse(const void *buf, size_t len, const jr_parse_options *opt,
                        jr_submission **out, jr_buf *err_id, jr_error *e)
{
        static const jr_parse_options no_options;
        if (!opt)
                opt = &no_options;
        struct parser p = {
            .opt = opt,
            .max_string =
                opt->max_string_bytes ? opt->max_string_bytes : JR_PARSE_MAX_STRING_DEFAULT,
            .max_id = opt->max_id_bytes ? opt->max_id_bytes : JR_PARSE_MAX_ID_DEFAULT,
            .max_tests = opt->max_tests ? opt->max_tests : JR_PARSE_MAX_TESTS_DEFAULT,
            .max_depth = opt->max_depth ? opt->max_depth : JR_PARSE_MAX_DEPTH_DEFAULT,
            .e = e,
        };
        size_t max_input = opt->max_input_bytes ? opt->max_input_bytes : JR_PARSE_MAX_INPUT_DEFAULT;
        if (opt->fallback_id.len > p.max_id) {
                jr_error_set(e, EINVAL, "fallback id longer than %zu bytes", p.max_id);
                return JR_PARSE_INTERNAL;
        }

        if (len > max_input) {
                give_err_id(err_id, opt->fallback_id);
                jr_error_set(e, 0, "submission: %zu bytes, more than the limit of %zu", len,
                             max_input);
                return JR_PARSE_LIMIT;
        }

        _cleanup_submission_ jr_submission *sub = calloc(1, sizeof *sub);
        if (!sub) {
                jr_error_set(e, ENOMEM, "submission");
                return JR_PARSE_INTERNAL;
        }
        struct mem *m = calloc(1, sizeof *m);
        if (!m) {
                jr_error_set(e, ENOMEM, "submission");
                return JR_PARSE_INTERNAL;
        }
        sub->mem_ = m;
        /* Room for every string of the input (decoded strings are shorter than their
         * tokens, quotes included, so a NUL fits) plus the fallback id. Pages that no
         * string reaches are never touched. */
        m->cap = len + opt->fallback_id.len + 1;
        m->arena = malloc(m->cap);
        if (!m->arena) {
                jr_error_set(e, ENOMEM, "submission: %zu bytes", len);
                return JR_PARSE_INTERNAL;
        }
        sub->stop_on_failure = true;
        p.sub = sub;
        p.mem = m;

        yajl_handle h = yajl_alloc(&callbacks, NULL, &p);
        if (!h) {
                jr_error_set(e, ENOMEM, "submission: parser");
                return JR_PARSE_INTERNAL;
        }
        /* defaults kept on purpose: UTF-8 validated, no comments, one value, no
         * trailing garbage */
        yajl_status st = yajl_parse(h, buf ? buf : (const void *)"", len);
        size_t at = yajl_get_bytes_consumed(h);
        if (st == yajl_status_ok) {
                st = yajl_complete_parse(h);
                at = len;
        }
        if (st == yajl_status_error && !p.root_seen && only_space(buf, len)) {
                jr_error_set(e, 0, "not valid JSON: empty input");
                p.failed = JR_PARSE_NOT_JSON;
        } else if (st == yajl_status_error) {
                unsigned char *msg = yajl_get_error(h, 0, NULL, 0);
                char *text = msg ? (char *)msg : "unknown error";
                size_t n = strlen(text);
                while (n && (text[n - 1] == '\n' || text[n - 1] == ' '))
                        text[--n] = '\0';
                /* a syntax error outranks a field error found before it */
                jr_error_set(e, 0, "not valid JSON at byte %zu: %s", at, text);
                if (msg)
                        yajl_free_error(h, msg);
                p.failed = JR_PARSE_NOT_JSON;
        }
        yajl_free(h);

        if (!p.failed)
                finish(&p);
        if (p.failed) {
                if (err_id)
                        give_err_id(err_id, p.have_err_id ? p.err_id
                                            : sub->id.len ? sub->id
                                                          : opt->fallback_id);
                return p.failed;
        }
        *out = TAKE_PTR(sub);
        return 0;
}

/* ================================================================ generation */

/* The size of ,"truncated":true in compact output, the flag the cutter may add. */
#define FLAG_COST (sizeof(",\"truncated\":true") - 1)

/* Where yajl_gen prints: a growing buffer, or only a byte count. */
struct sink {
        char *p;
        size_t len, cap;
        bool count_only, oom;
};

static void sink_print(void *ctx, const char *s, size_t n)
{
        struct sink *k = ctx;
        if (!k->count_only && !k->oom) {
                if (k->cap - k->len < n + 1) {
                        size_t cap = k->cap ? k->cap : 4096;
                        while (cap - k->len < n + 1)
                                cap *= 2;
                        char *np = realloc(k->p, cap);
                        if (!np) {
                                k->oom = true;
                                return;
                        }
                        k->p = np;
                        k->cap = cap;
                }
                memcpy(k->p + k->len, s, n);
                k->p[k->len + n] = '\0';
        }
        k->len += n;
}

/* One string that may be cut. */
struct payload {
        const unsigned char *s;
        size_t len;
        size_t cost;     /* escaped size when whole, else SIZE_MAX (not needed) */
        size_t budget;   /* bytes of escaped output it may use */
        bool whole;      /* cost is exact */
        bool clean;      /* no invalid UTF-8 (in the part scanned) */
        int group;       /* -1: top level; else the test object it belongs to */
        bool preflagged; /* its group has "truncated" from the caller */
};

struct gen {
        yajl_gen g;
        struct sink sink;
        bool final; /* second pass: strings with their budgets */
        struct payload *pl;
        size_t n_pl, cap_pl, next;
        int group;       /* the group strings written now belong to */
        bool preflagged; /* the caller flagged the current group */
        bool group_cut;  /* a string of the current group was cut (final pass) */
        bool any_cut;
        unsigned char *scratch;
        size_t scratch_cap;
        size_t emitted; /* escaped bytes of strings written in the final pass */
        size_t flags;   /* flags the cutter added in the final pass */
        bool oom;
        jr_error *e;
};

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when it is not valid, with
 * *bad set to the length of its maximal valid prefix (at least 1), the bytes that one
 * U+FFFD replaces (Unicode's "maximal subpart" practice). */
static size_t utf8_seq(const unsigned char *s, size_t n, size_t *bad)
{
        unsigned char c = s[0];
        size_t need;
        unsigned char lo = 0x80, hi = 0xbf;
        if (c < 0x80)
                return 1;
        if (c >= 0xc2 && c <= 0xdf) {
                need = 2;
        } else if (c >= 0xe0 && c <= 0xef) {
                need = 3;
                if (c == 0xe0)
                        lo = 0xa0; /* overlong */
                else if (c == 0xed)
                        hi = 0x9f; /* surrogates */
        } else if (c >= 0xf0 && c <= 0xf4) {
                need = 4;
                if (c == 0xf0)
                        lo = 0x90; /* overlong */
                else if (c == 0xf4)
                        hi = 0x8f; /* above U+10FFFF */
        } else {
                *bad = 1;
                return 0;
        }
        size_t i = 1;
        for (; i < need && i < n; i++) {
                unsigned char lo_i = i == 1 ? lo : 0x80, hi_i = i == 1 ? hi : 0xbf;
                if (s[i] < lo_i || s[i] > hi_i)
                        break;
        }
        if (i == need)
                return need;
        *bad = i;
        return 0;
}

/* Walk s as yajl_gen_string will write it after U+FFFD substitution and stop before
 * the escaped size exceeds cap. Returns that size; *prefix = bytes of s covered (on a
 * character boundary), *clean = no invalid UTF-8 among them. */
static size_t scan(const unsigned char *s, size_t len, size_t cap, size_t *prefix, bool *clean)
{
        size_t cost = 0, i = 0;
        bool ok = true;
        while (i < len) {
                unsigned char c = s[i];
                size_t w, n;
                if (c >= 0x20 && c < 0x80) {
                        w = c == '"' || c == '\\' ? 2 : 1;
                        n = 1;
                } else if (c < 0x20) {
                        /* yajl: \b \f \n \r \t, other controls as \u00XX */
                        w = c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t' ? 2 : 6;
                        n = 1;
                } else {
                        size_t bad = 1;
                        n = utf8_seq(s + i, len - i, &bad);
                        if (n) {
                                w = n;
                        } else {
                                w = 3; /* EF BF BD */
                                n = bad;
                                if (cost + w <= cap)
                                        ok = false;
                        }
                }
                if (cost + w > cap)
                        break;
                cost += w;
                i += n;
        }
        *prefix = i;
        *clean = ok;
        return cost;
}

/* Copy s with every invalid sequence replaced by U+FFFD into g->scratch. */
static const unsigned char *sanitize(struct gen *g, const unsigned char *s, size_t len,
                                     size_t *out_len)
{
        if (len > (SIZE_MAX - 3) / 3) {
                g->oom = true;
                return NULL;
        }
        if (g->scratch_cap < len * 3) {
                unsigned char *p = realloc(g->scratch, len * 3);
                if (!p) {
                        g->oom = true;
                        return NULL;
                }
                g->scratch = p;
                g->scratch_cap = len * 3;
        }
        size_t o = 0;
        for (size_t i = 0; i < len;) {
                size_t bad = 1, n = utf8_seq(s + i, len - i, &bad);
                if (n) {
                        memcpy(g->scratch + o, s + i, n);
                        o += n;
                        i += n;
                } else {
                        memcpy(g->scratch + o, "\xef\xbf\xbd", 3);
                        o += 3;
                        i += bad;
                }
        }
        *out_len = o;
        return g->scratch;
}

static void put_key(struct gen *g, const char *k)
{
        if (yajl_gen_string(g->g, (const unsigned char *)k, strlen(k)) != yajl_gen_status_ok)
                g->oom = true;
}

static void put_int(struct gen *g, const char *k, int64_t v)
{
        put_key(g, k);
        if (yajl_gen_integer(g->g, v) != yajl_gen_status_ok)
                g->oom = true;
}

static void put_nullable(struct gen *g, const char *k, int64_t v, int64_t min)
{
        if (v < min) {
                put_key(g, k);
                if (yajl_gen_null(g->g) != yajl_gen_status_ok)
                        g->oom = true;
        } else {
                put_int(g, k, v);
        }
}

static void put_cstr(struct gen *g, const char *k, const char *v)
{
        put_key(g, k);
        if (yajl_gen_string(g->g, (const unsigned char *)v, strlen(v)) != yajl_gen_status_ok)
                g->oom = true;
}

static void put_bool_true(struct gen *g, const char *k)
{
        put_key(g, k);
        if (yajl_gen_bool(g->g, 1) != yajl_gen_status_ok)
                g->oom = true;
}

/* A string that may be cut: empty in the first pass (which collects it), within its
 * budget in the final one. */
static void put_payload(struct gen *g, const char *k, jr_bytes v)
{
        put_key(g, k);
        const unsigned char *s = (const unsigned char *)(v.ptr ? v.ptr : "");
        const unsigned char *w = s;
        size_t wlen = 0;
        if (!g->final) {
                if (g->n_pl == g->cap_pl) {
                        size_t cap = g->cap_pl ? g->cap_pl * 2 : 64;
                        struct payload *np = reallocarray(g->pl, cap, sizeof *np);
                        if (!np) {
                                g->oom = true;
                                return;
                        }
                        g->pl = np;
                        g->cap_pl = cap;
                }
                g->pl[g->n_pl++] = (struct payload){
                    .s = s, .len = v.len, .group = g->group, .preflagged = g->preflagged};
        } else {
                struct payload *p = &g->pl[g->next++];
                size_t prefix = p->len;
                bool clean = p->clean;
                size_t cost = p->cost;
                if (!p->whole || p->budget < p->cost) {
                        cost = scan(p->s, p->len, p->budget, &prefix, &clean);
                        if (prefix < p->len) {
                                g->group_cut = true;
                                g->any_cut = true;
                        }
                }
                g->emitted += cost;
                wlen = prefix;
                if (!clean && wlen) {
                        w = sanitize(g, s, prefix, &wlen);
                        if (!w)
                                return;
                }
        }
        if (yajl_gen_string(g->g, w, wlen) != yajl_gen_status_ok)
                g->oom = true;
}

static void open_map(struct gen *g)
{
        if (yajl_gen_map_open(g->g) != yajl_gen_status_ok)
                g->oom = true;
}

static void close_map(struct gen *g)
{
        if (yajl_gen_map_close(g->g) != yajl_gen_status_ok)
                g->oom = true;
}

/* ,"truncated":true when the caller says so or (final pass) a string was cut. */
static void put_flag(struct gen *g, bool caller, bool cut)
{
        if (caller || (g->final && cut)) {
                put_bool_true(g, "truncated");
                if (!caller)
                        g->flags++;
        }
}

/* The test object; returns whether it carries "truncated". */
static bool put_test(struct gen *g, const jr_test_result *t, int group)
{
        g->group = group;
        g->group_cut = false;
        g->preflagged = t->truncated;
        open_map(g);
        put_int(g, "number", t->number);
        put_cstr(g, "status", jr_status_name(t->status));
        put_nullable(g, "exit_code", t->exit_code, 0);
        put_nullable(g, "duration_ms", t->duration_ms, 0);
        put_payload(g, "stdout", t->std_out);
        put_payload(g, "stderr", t->std_err);
        put_payload(g, "input", t->input);
        put_payload(g, "expected_output", t->expected_output);
        put_payload(g, "error", t->error);
        put_nullable(g, "cpu_ms", t->cpu_ms, 0);
        put_nullable(g, "memory_bytes", t->memory_bytes, 0);
        put_nullable(g, "signal", t->signal, 1);
        bool flagged = t->truncated || (g->final && g->group_cut);
        put_flag(g, t->truncated, g->group_cut);
        close_map(g);
        g->group = -1;
        g->preflagged = false;
        return flagged;
}

/* A string that is never cut (ids, names): only made valid UTF-8. */
static void put_fixed(struct gen *g, const char *k, jr_bytes v)
{
        put_key(g, k);
        const unsigned char *s = (const unsigned char *)(v.ptr ? v.ptr : "");
        size_t prefix, len = v.len;
        bool clean;
        scan(s, v.len, SIZE_MAX, &prefix, &clean);
        if (!clean) {
                s = sanitize(g, s, v.len, &len);
                if (!s)
                        return;
        }
        if (yajl_gen_string(g->g, s, len) != yajl_gen_status_ok)
                g->oom = true;
}

static void put_optional(struct gen *g, const char *k, int64_t v)
{
        if (v >= 0)
                put_int(g, k, v);
}

static bool any_caller_flag(const jr_test_result *t, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (t[i].truncated)
                        return true;
        return false;
}

struct doc {
        const jr_result *result;
        const jr_event *event;
        const char *timestamp;
        bool top_caller; /* the top-level flag is set by the caller's own flags */
};

static void write_result(struct gen *g, const struct doc *d)
{
        const jr_result *r = d->result;
        g->group = -1;
        open_map(g);
        put_fixed(g, "id", r->id);
        put_cstr(g, "status", jr_status_name(r->status));
        put_nullable(g, "exit_code", r->exit_code, 0);
        put_payload(g, "stdout", r->std_out);
        put_payload(g, "stderr", r->std_err);
        put_nullable(g, "duration_ms", r->duration_ms, 0);
        put_payload(g, "error", r->error);
        put_key(g, "tests");
        if (yajl_gen_array_open(g->g) != yajl_gen_status_ok)
                g->oom = true;
        for (size_t i = 0; i < r->n_tests && !g->oom; i++)
                put_test(g, &r->tests[i], (int)i);
        if (yajl_gen_array_close(g->g) != yajl_gen_status_ok)
                g->oom = true;
        put_optional(g, "time_limit_ms_used", r->time_limit_ms_used);
        put_optional(g, "memory_limit_bytes_used", r->memory_limit_bytes_used);
        put_optional(g, "build_duration_ms", r->build_duration_ms);
        put_flag(g, d->top_caller, g->any_cut);
        put_cstr(g, "timestamp", d->timestamp);
        close_map(g);
}

static void write_event(struct gen *g, const struct doc *d)
{
        const jr_event *ev = d->event;
        g->group = -1;
        open_map(g);
        put_fixed(g, "id", ev->id);
        put_int(g, "seq", ev->seq > INT64_MAX ? INT64_MAX : (int64_t)ev->seq);
        put_cstr(g, "type", jr_event_type_name(ev->type));
        switch (ev->type) {
        case JR_EVENT_ACCEPTED:
                if (ev->language.len)
                        put_fixed(g, "language", ev->language);
                put_optional(g, "tests", ev->n_tests);
                break;
        case JR_EVENT_BUILD:
                put_cstr(g, "status", jr_status_name(ev->status));
                put_nullable(g, "duration_ms", ev->duration_ms, 0);
                put_payload(g, "error", ev->error);
                break;
        case JR_EVENT_TEST:
                put_key(g, "test");
                put_test(g, ev->test, 0);
                break;
        case JR_EVENT_DONE:
        default:
                put_cstr(g, "status", jr_status_name(ev->status));
                put_nullable(g, "duration_ms", ev->duration_ms, 0);
                break;
        }
        put_flag(g, d->top_caller, g->any_cut);
        put_cstr(g, "timestamp", d->timestamp);
        close_map(g);
}

static int cmp_size(const void *a, const void *b)
{
        size_t x = *(const size_t *)a, y = *(const size_t *)b;
        return x < y ? -1 : x > y;
}

/* The largest level b (at most `avail`) with sum(min(v[i], b)) <= avail: the
 * water-filling share where short strings stay whole and the longest are cut to a
 * common length. Sorts v. */
static size_t level(size_t *v, size_t n, size_t avail)
{
        qsort(v, n, sizeof *v, cmp_size);
        size_t taken = 0;
        for (size_t k = 0; k < n; k++) {
                size_t l = (avail - taken) / (n - k);
                if (v[k] > l)
                        return l;
                taken += v[k];
        }
        return avail;
}

/* Decide each string's budget so that the strings fit in `avail` bytes, reserving
 * room for the flags that cutting adds. */
static int plan(struct gen *g, size_t avail, bool top_caller)
{
        struct payload *pl = g->pl;
        size_t n = g->n_pl, total = 0;
        for (size_t i = 0; i < n; i++)
                total = pl[i].len > SIZE_MAX - total ? SIZE_MAX : total + pl[i].len;

        /* an escaped string is never shorter than its bytes: only when the bytes fit
         * is it worth measuring whether everything fits */
        if (total <= avail) {
                size_t cost = 0;
                bool fits = true;
                for (size_t i = 0; i < n && fits; i++) {
                        size_t prefix;
                        pl[i].cost = scan(pl[i].s, pl[i].len, avail - cost, &prefix, &pl[i].clean);
                        pl[i].whole = prefix == pl[i].len;
                        pl[i].budget = pl[i].cost;
                        fits = pl[i].whole;
                        cost += pl[i].cost;
                }
                if (fits)
                        return 0;
        }

        /* room for the flags: the top level's, and one per test object with a string
         * (its strings are contiguous), unless the caller has set them already */
        size_t flags = top_caller ? 0 : 1;
        int counted = -1;
        for (size_t i = 0; i < n; i++)
                if (pl[i].group >= 0 && pl[i].group != counted && pl[i].len && !pl[i].preflagged) {
                        flags++;
                        counted = pl[i].group;
                }
        if (flags * FLAG_COST > avail)
                return jr_error_set(g->e, E2BIG, "message: no room left for the truncation flags");
        avail -= flags * FLAG_COST;

        _cleanup_free_ size_t *v = malloc((n ? n : 1) * sizeof *v);
        if (!v)
                return jr_error_set(g->e, ENOMEM, "message");
        /* costs are at least the lengths: the level computed on lengths bounds the real
         * one, so no string needs scanning further than that */
        for (size_t i = 0; i < n; i++)
                v[i] = pl[i].len;
        size_t upper = level(v, n, avail);
        for (size_t i = 0; i < n; i++) {
                size_t prefix;
                pl[i].cost = scan(pl[i].s, pl[i].len, upper, &prefix, &pl[i].clean);
                pl[i].whole = prefix == pl[i].len;
                if (!pl[i].whole)
                        pl[i].cost = SIZE_MAX; /* more than any level: unknown, not needed */
                v[i] = pl[i].cost;
        }
        size_t b = level(v, n, avail);

        /* Fewer groups may lose bytes than were given room for a flag (say, one big
         * output among many small ones): hand the unused room back to the strings.
         * A higher level cuts no more strings, so the flags still fit. */
        size_t needed = top_caller ? 0 : 1;
        counted = -1;
        for (size_t i = 0; i < n; i++)
                if (pl[i].group >= 0 && pl[i].group != counted && pl[i].cost > b &&
                    !pl[i].preflagged) {
                        needed++;
                        counted = pl[i].group;
                }
        if (needed < flags) {
                avail += (flags - needed) * FLAG_COST;
                b = level(v, n, avail);
        }
        for (size_t i = 0; i < n; i++)
                pl[i].budget = pl[i].cost < b ? pl[i].cost : b;
        return 0;
}

static void run_writer(struct gen *g, const struct doc *d)
{
        if (d->result)
                write_result(g, d);
        else
                write_event(g, d);
}

static int start(struct gen *g, bool count_only)
{
        g->sink = (struct sink){.count_only = count_only};
        g->g = yajl_gen_alloc(NULL);
        if (!g->g)
                return jr_error_set(g->e, ENOMEM, "message");
        /* compact output, no UTF-8 validation (sanitize() already made strings valid),
         * '/' not escaped: scan() counts exactly what this configuration writes */
        yajl_gen_config(g->g, yajl_gen_print_callback, sink_print, &g->sink);
        return 0;
}

static int render(const struct doc *d, size_t max, jr_buf *out, jr_error *e)
{
        if (max == 0)
                max = JR_MSG_MAX_DEFAULT;
        struct gen g = {.e = e, .group = -1};
        int ret = -1;

        /* pass 1: every cuttable string empty, to learn the size of the rest */
        if (start(&g, true) < 0)
                goto out;
        run_writer(&g, d);
        yajl_gen_free(g.g);
        g.g = NULL;
        if (g.oom) {
                jr_error_set(e, ENOMEM, "message");
                goto out;
        }
        size_t fixed = g.sink.len;
        if (fixed > max) {
                jr_error_set(e, E2BIG,
                             "message: %zu bytes without any output, more than the cap "
                             "of %zu",
                             fixed, max);
                goto out;
        }
        if (plan(&g, max - fixed, d->top_caller) < 0)
                goto out;

        /* pass 2: the real thing */
        g.final = true;
        g.next = 0;
        g.any_cut = false;
        if (start(&g, false) < 0)
                goto out;
        run_writer(&g, d);
        if (g.oom || g.sink.oom) {
                jr_error_set(e, ENOMEM, "message");
                goto out;
        }
        size_t expect = fixed + g.emitted + g.flags * FLAG_COST;
        if (g.sink.len != expect || g.sink.len > max) {
                /* the size model and yajl disagree: never send an oversized message */
                jr_error_set(e, EPROTO, "message: %zu bytes, expected %zu (cap %zu)", g.sink.len,
                             expect, max);
                goto out;
        }
        out->ptr = TAKE_PTR(g.sink.p);
        out->len = g.sink.len;
        ret = 0;
out:
        if (g.g)
                yajl_gen_free(g.g);
        free(g.sink.p);
        free(g.pl);
        free(g.scratch);
        return ret;
}

int jr_result_json(const jr_result *r, size_t max_bytes, jr_buf *out, jr_error *e)
{
        char ts[JR_TIMESTAMP_LEN];
        struct doc d = {
            .result = r,
            .timestamp = jr_format_timestamp(r->timestamp_ms, ts),
            .top_caller = r->truncated || any_caller_flag(r->tests, r->n_tests),
        };
        return render(&d, max_bytes, out, e);
}

int jr_event_json(const jr_event *ev, size_t max_bytes, jr_buf *out, jr_error *e)
{
        if (ev->type == JR_EVENT_TEST && !ev->test)
                return jr_error_set(e, EINVAL, "event: a test event without its test");
        char ts[JR_TIMESTAMP_LEN];
        struct doc d = {
            .event = ev,
            .timestamp = jr_format_timestamp(ev->timestamp_ms, ts),
            .top_caller = (ev->type == JR_EVENT_BUILD && ev->truncated) ||
                          (ev->type == JR_EVENT_TEST && ev->test->truncated),
        };
        return render(&d, max_bytes, out, e);
}

int jr_result_ie_json(jr_bytes id, const char *error, size_t max_bytes, jr_buf *out, jr_error *e)
{
        jr_result r;
        jr_result_init(&r, id);
        r.error = jr_bytes_cstr(error);
        return jr_result_json(&r, max_bytes, out, e);
}

void jr_test_result_init(jr_test_result *t, int64_t number)
{
        *t = (jr_test_result){
            .number = number,
            .status = JR_STATUS_NOT_RUN,
            .exit_code = -1,
            .duration_ms = -1,
            .cpu_ms = -1,
            .memory_bytes = -1,
            .signal = -1,
        };
}

void jr_result_init(jr_result *r, jr_bytes id)
{
        *r = (jr_result){
            .id = id,
            .status = JR_STATUS_IE,
            .exit_code = -1,
            .duration_ms = -1,
            .time_limit_ms_used = -1,
            .memory_limit_bytes_used = -1,
            .build_duration_ms = -1,
        };
}

void jr_event_init(jr_event *ev, jr_event_type type, jr_bytes id, uint64_t seq)
{
        *ev = (jr_event){
            .type = type,
            .id = id,
            .seq = seq,
            .n_tests = -1,
            .status = JR_STATUS_OK,
            .duration_ms = -1,
        };
}
