/* The submission parser: yajl callbacks that fill a jr_submission, each field checked
 * against the spec and the host caps as it streams by. See message.h. */
#include "message.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <yajl/yajl_parse.h>

#include "bytes.h"
#include "cleanup.h"

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
        S_WALL, /* "wall_limit_ms" of a test */
        S_INTERACTOR,
        S_PROG_LANGUAGE, /* "language" of the checker or interactor object */
        S_PROG_SOURCE,
};

/* The known containers; anything deeper or unknown is counted in `skip` only. */
enum frame { FR_TOP, FR_LIMITS, FR_TESTS, FR_TEST, FR_PROGRAM };

struct key {
        const char *name;
        enum slot slot;
};
static const struct key top_keys[] = {
    {"type", S_TYPE},
    {"id", S_ID},
    {"language", S_LANGUAGE},
    {"source", S_SOURCE},
    {"limits", S_LIMITS},
    {"tests", S_TESTS},
    {"checker", S_CHECKER},
    {"stop_on_failure", S_STOP},
    {"interactor", S_INTERACTOR},
};
static const struct key limits_keys[] = {
    {"time_limit_ms", S_TIME},
    {"memory_limit_bytes", S_MEMORY},
};
static const struct key test_keys[] = {
    {"number", S_NUMBER},
    {"input", S_INPUT},
    {"expected_output", S_EXPECTED},
    {"wall_limit_ms", S_WALL},
};
static const struct key program_keys[] = {
    {"language", S_PROG_LANGUAGE},
    {"source", S_PROG_SOURCE},
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
        jr_jury_program *prog; /* the checker or interactor object being read */
        const char *prog_name; /* "checker" or "interactor" */

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
        case S_WALL:
                return "wall_limit_ms";
        case S_INTERACTOR:
                return "interactor";
        case S_PROG_LANGUAGE:
                return "language";
        case S_PROG_SOURCE:
                return "source";
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
                case S_WALL:
                        jr_error_set(p->e, 0, "field \"tests[%zu].%s\": %s", test, slot_name(s),
                                     detail);
                        break;
                case S_PROG_LANGUAGE:
                case S_PROG_SOURCE:
                        jr_error_set(p->e, 0, "field \"%s.%s\": %s", p->prog_name, slot_name(s),
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
        /* after an error, only what the answer needs: the id, and the type (a "done"
         * message is one whatever its other fields) */
        if (p->failed && s != S_ID && !(s == S_TYPE && p->known == 1))
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
        case S_WALL:
                return fail(p, JR_PARSE_INVALID, s, "must be a non-negative integer");
        case S_NUMBER:
                return fail(p, JR_PARSE_INVALID, s, "must be an integer");
        case S_CHECKER:
                return fail(p, JR_PARSE_INVALID, s,
                            "must be a checker's name or a checker program {\"language\", "
                            "\"source\"}");
        case S_INTERACTOR:
                return fail(p, JR_PARSE_INVALID, s,
                            "must be an interactor program {\"language\", \"source\"}");
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
        if (s == S_CHECKER || s == S_INTERACTOR) {
                /* a duplicate key replaces the earlier object (or name) as a whole */
                jr_submission *sub = p->sub;
                p->prog = s == S_CHECKER ? &sub->checker_program : &sub->interactor;
                if (s == S_CHECKER)
                        sub->checker_given = true;
                p->prog_name = slot_name(s);
                *p->prog = (jr_jury_program){.given = true};
                push(p, FR_PROGRAM);
                return 1;
        }
        if (s == S_TEST) {
                jr_submission *sub = p->sub;
                if (sub->n_tests >= p->max_tests) {
                        p->skip++;
                        return fail(p, JR_PARSE_LIMIT, S_TESTS,
                                    "more than %zu tests (the cap is %zu events: accepted, "
                                    "build, one per test, done)",
                                    p->max_tests, p->max_tests + JR_EVENTS_NOT_TESTS);
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
        case FR_PROGRAM:
                keys = program_keys;
                n = JR_ARRAY_SIZE(program_keys);
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
                sub->checker_given = false;
                sub->checker_eps = 0;
                sub->checker_program = (jr_jury_program){0};
                break;
        case S_INTERACTOR:
                sub->interactor = (jr_jury_program){0};
                break;
        case S_PROG_LANGUAGE:
                p->prog->language = (jr_bytes){0};
                break;
        case S_PROG_SOURCE:
                p->prog->source = (jr_bytes){0};
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
        case S_WALL:
                sub->tests[sub->n_tests - 1].wall_limit_ms = 0;
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
        if (s != S_TIME && s != S_MEMORY && s != S_NUMBER && s != S_WALL)
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
        else if (s == S_WALL)
                p->sub->tests[p->sub->n_tests - 1].wall_limit_ms = (uint64_t)v;
        else /* 0 or negative: its position, as when absent */
                p->sub->tests[p->sub->n_tests - 1].number = v > 0 ? v : (int64_t)p->sub->n_tests;
        return 1;
}

static int cmp_names(const void *a, const void *b)
{
        return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int unknown_language(struct parser *p, enum slot sl, const unsigned char *s, size_t len)
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
        return fail(p, JR_PARSE_INVALID, sl, "unknown language \"%s\" (known: %s)",
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
        case S_PROG_LANGUAGE:
        case S_PROG_SOURCE:
                break;
        case S_TYPE:
                /* "" is what the reference's Go producer marshals for a script */
                if (len == 0 || (len == 6 && !memcmp(s, "script", 6)))
                        sub->type = JR_MSG_SCRIPT;
                else if (len == 4 && !memcmp(s, "done", 4))
                        sub->type = JR_MSG_DONE;
                else
                        return fail(p, JR_PARSE_INVALID, sl,
                                    "must be \"script\", \"done\" or \"\"");
                return 1;
        case S_CHECKER: {
                jr_checker c;
                double eps;
                char q[QUOTE_BUF];
                int r = jr_checker_parse((const char *)s, len, &c, &eps);
                if (r == JR_CHECKER_BAD_EPS)
                        return fail(p, JR_PARSE_INVALID, sl,
                                    "\"%s\": the tolerance must be a number >= 0, as in "
                                    "\"float:1e-6\"",
                                    quote((const char *)s, len, q));
                if (r < 0)
                        return fail(p, JR_PARSE_INVALID, sl,
                                    "unknown checker \"%s\" (known: lines, exact, tokens, "
                                    "tokens-lines, float:EPS, sorted; or a checker program "
                                    "{\"language\", \"source\"})",
                                    quote((const char *)s, len, q));
                sub->checker = c;
                sub->checker_given = true;
                sub->checker_eps = eps;
                sub->checker_program = (jr_jury_program){0};
                return 1;
        }
        default:
                return wrong_value(p, sl);
        }

        /* the cap is checked before anything is copied */
        size_t cap = sl == S_ID ? p->max_id : p->max_string;
        if (len > cap)
                return fail(p, JR_PARSE_LIMIT, sl, "longer than the limit of %zu bytes", cap);

        size_t idx = 0;
        if (sl == S_LANGUAGE || sl == S_PROG_LANGUAGE) {
                if (len == 0)
                        return fail(p, JR_PARSE_INVALID, sl, "must not be empty");
                if (p->opt->languages) {
                        for (idx = 0; idx < p->opt->n_languages; idx++)
                                if (strlen(p->opt->languages[idx]) == len &&
                                    !memcmp(p->opt->languages[idx], s, len))
                                        break;
                        if (idx == p->opt->n_languages)
                                return unknown_language(p, sl, s, len);
                }
        }
        if (sl == S_LANGUAGE)
                sub->language_index = idx;
        if ((sl == S_SOURCE || sl == S_PROG_SOURCE) && len == 0)
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
        case S_PROG_LANGUAGE:
                p->prog->language = b;
                p->prog->language_index = idx;
                break;
        case S_PROG_SOURCE:
                p->prog->source = b;
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
        err_id->ptr = jr_memdup(id.ptr, id.len);
        if (!err_id->ptr)
                return;
        err_id->len = id.len;
}

/* A checker or interactor object needs both of its fields. */
static int finish_program(struct parser *p, jr_jury_program *prog, const char *name)
{
        if (!prog->given)
                return 0;
        p->prog_name = name;
        if (!prog->language.ptr)
                return fail(p, JR_PARSE_INVALID, S_PROG_LANGUAGE, "required"), -1;
        if (!prog->source.ptr)
                return fail(p, JR_PARSE_INVALID, S_PROG_SOURCE, "required"), -1;
        return 0;
}

static int finish(struct parser *p)
{
        jr_submission *sub = p->sub;
        if (sub->type == JR_MSG_SCRIPT) {
                if (!p->has_language)
                        return fail(p, JR_PARSE_INVALID, S_LANGUAGE, "required"), -1;
                if (!p->has_source)
                        return fail(p, JR_PARSE_INVALID, S_SOURCE, "required"), -1;
                if (finish_program(p, &sub->checker_program, "checker") < 0 ||
                    finish_program(p, &sub->interactor, "interactor") < 0)
                        return -1;
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

static bool json_space(char c)
{
        return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* A byte of a bare number or literal (1e-3, true, null). */
static bool scalar_char(char c)
{
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
               c == '-' || c == '+' || c == '.';
}

/* The offset of the first byte that is not white space after the JSON value at the start
 * of s; len when there is none. yajl has accepted the value whole, so a light scan is
 * enough: a string (with its escapes), brackets, or a bare number or literal. It is
 * needed because yajl takes an unfinished string after the value for a token still to
 * come, not for trailing garbage: it accepts {} "x as one document. */
static size_t after_value(const char *s, size_t len)
{
        size_t i = 0;
        while (i < len && json_space(s[i]))
                i++;
        if (i < len && s[i] != '{' && s[i] != '[' && s[i] != '"') {
                while (i < len && scalar_char(s[i]))
                        i++;
        } else {
                unsigned depth = 0;
                bool in_string = false, done = false;
                for (; i < len && !done; i++) {
                        char c = s[i];
                        if (in_string && c == '\\') {
                                i++; /* the escaped byte */
                        } else if (in_string && c == '"') {
                                in_string = false;
                                done = depth == 0;
                        } else if (in_string) {
                                continue;
                        } else if (c == '"') {
                                in_string = true;
                        } else if (c == '{' || c == '[') {
                                depth++;
                        } else if (c == '}' || c == ']') {
                                done = --depth == 0;
                        }
                }
                if (i > len)
                        i = len;
        }
        while (i < len && json_space(s[i]))
                i++;
        return i;
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
         * trailing garbage (which after_value completes) */
        yajl_status st = yajl_parse(h, buf ? buf : (const void *)"", len);
        size_t at = yajl_get_bytes_consumed(h);
        if (st == yajl_status_ok) {
                st = yajl_complete_parse(h);
                at = len;
        }
        size_t garbage = st == yajl_status_ok ? after_value(buf, len) : len;
        if (garbage < len) {
                /* a syntax error, which outranks a field error found before it */
                jr_error_set(e, 0,
                             "not valid JSON at byte %zu: trailing garbage after the JSON "
                             "document (only white space may follow it)",
                             garbage);
                p.failed = JR_PARSE_NOT_JSON;
                st = yajl_status_error; /* nor is it a "done" message */
        } else if (st == yajl_status_error && !p.root_seen && only_space(buf, len)) {
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

        /* A "done" message is recognised by its type alone: an error in its other fields
         * (producers send them as "") does not make it a submission to answer. It must
         * still be one whole JSON object. */
        if (st == yajl_status_ok && p.root_seen && sub->type == JR_MSG_DONE &&
            (p.failed == JR_PARSE_INVALID || p.failed == JR_PARSE_LIMIT)) {
                p.failed = 0;
                *e = (jr_error){0};
                if (p.have_err_id)
                        sub->id = p.err_id;
        }
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
