/* The HTTP front door's bodies. See http_msg.h. */
#include "http_msg.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <yajl/yajl_parse.h>

#include "bytes.h"
#include "cleanup.h"
#include "utf8.h"

#define MAX_DEPTH         64
#define MAX_NODES_DEFAULT 100000
#define TIMEOUT_DEFAULT   3000

/* ================================================================ output */

struct out {
        char *p;
        size_t len, cap;
        bool oom;
};

static void o_raw(struct out *o, const char *s, size_t n)
{
        if (o->oom)
                return;
        if (o->len + n + 1 > o->cap) {
                size_t cap = o->cap ? o->cap : 256;
                while (cap < o->len + n + 1)
                        cap *= 2;
                char *p = realloc(o->p, cap);
                if (!p) {
                        o->oom = true;
                        return;
                }
                o->p = p;
                o->cap = cap;
        }
        memcpy(o->p + o->len, s, n);
        o->len += n;
        o->p[o->len] = '\0';
}

static void o_str(struct out *o, const char *s)
{
        o_raw(o, s, strlen(s));
}

__attribute__((format(printf, 2, 3))) static void o_fmt(struct out *o, const char *fmt, ...)
{
        char buf[128];
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(buf, sizeof buf, fmt, ap);
        va_end(ap);
        if (n < 0 || (size_t)n >= sizeof buf) {
                o->oom = true; /* only used for short numbers */
                return;
        }
        o_raw(o, buf, (size_t)n);
}

/* s as a JSON string, quotes included. */
static void o_json(struct out *o, const char *s, size_t n)
{
        static const char hex[] = "0123456789abcdef";
        const unsigned char *u = (const unsigned char *)s;
        o_raw(o, "\"", 1);
        size_t run = 0; /* bytes copied as they are, pending */
        for (size_t i = 0; i < n;) {
                unsigned char c = u[i];
                size_t bad = 1;
                size_t l = c >= 0x80 ? jr_utf8_seq(u + i, n - i, &bad) : 1;
                if (l > 1 || (l == 1 && c >= 0x20 && c != '"' && c != '\\' && c != 0x7f)) {
                        i += l;
                        run += l;
                        continue;
                }
                o_raw(o, s + i - run, run);
                run = 0;
                char esc[8];
                if (l == 0) {
                        /* one U+FFFD for the maximal invalid subpart, as Unicode advises */
                        o_raw(o, "\\ufffd", 6);
                        i += bad;
                        continue;
                } else if (c == '"' || c == '\\') {
                        esc[0] = '\\';
                        esc[1] = (char)c;
                        o_raw(o, esc, 2);
                } else if (c == '\n') {
                        o_raw(o, "\\n", 2);
                } else if (c == '\t') {
                        o_raw(o, "\\t", 2);
                } else if (c == '\r') {
                        o_raw(o, "\\r", 2);
                } else {
                        memcpy(esc, "\\u00", 4);
                        esc[4] = hex[c >> 4];
                        esc[5] = hex[c & 15];
                        o_raw(o, esc, 6);
                }
                i++;
        }
        o_raw(o, s + n - run, run);
        o_raw(o, "\"", 1);
}

static int o_finish(struct out *o, jr_buf *out, jr_error *e)
{
        if (!o->oom && !o->p)
                o_raw(o, "", 0);
        if (o->oom) {
                free(o->p);
                *o = (struct out){0};
                return jr_error_set(e, ENOMEM, "render the answer");
        }
        out->ptr = o->p;
        out->len = o->len;
        *o = (struct out){0};
        return 0;
}

/* ================================================================ a JSON tree */

/* yajl_tree cuts strings at \u0000 and keeps no lengths; this tree keeps every byte. */
enum jtype { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };

struct jv {
        enum jtype t;
        bool b;
        char *s; /* J_STR: the decoded bytes; J_NUM: the number as written */
        size_t len;
        struct jv **v; /* J_ARR, J_OBJ */
        char **k;      /* J_OBJ: keys (NUL-terminated; a key with a NUL never matches) */
        size_t *kl;
        size_t n, cap;
};

static void jv_free(struct jv *j)
{
        if (!j)
                return;
        for (size_t i = 0; i < j->n; i++) {
                jv_free(j->v[i]);
                if (j->k)
                        free(j->k[i]);
        }
        free(j->v);
        free(j->k);
        free(j->kl);
        free(j->s);
        free(j);
}

static inline void jv_freep(struct jv **j)
{
        jv_free(*j);
}
#define _cleanup_jv_ __attribute__((cleanup(jv_freep)))

/* yajl takes "{} \"x" for one value (an unfinished token at the end is not "trailing
 * garbage" to it): the parsers below take several values and refuse a second one. */
static const char TRAILING[] = "more than one JSON value";

struct jparse {
        struct jv *root;
        struct jv *stack[MAX_DEPTH];
        unsigned depth;
        char *key;
        size_t klen;
        size_t nodes, max_nodes;
        const char *limit; /* why the parse was stopped */
};

static struct jv *jp_new(struct jparse *p, enum jtype t)
{
        if (++p->nodes > p->max_nodes) {
                p->limit = "too many JSON values";
                return NULL;
        }
        struct jv *j = calloc(1, sizeof *j);
        if (!j) {
                p->limit = "out of memory";
                return NULL;
        }
        j->t = t;
        return j;
}

/* Attach j to the open container (or make it the root). 0 stops the parse. */
static int jp_add(struct jparse *p, struct jv *j)
{
        if (!j)
                return 0;
        if (p->depth == 0) {
                if (p->root) {
                        jv_free(j);
                        p->limit = TRAILING;
                        return 0;
                }
                p->root = j;
                return 1;
        }
        struct jv *c = p->stack[p->depth - 1];
        if (c->n == c->cap) {
                size_t cap = c->cap ? c->cap * 2 : 4;
                struct jv **v = realloc(c->v, cap * sizeof *v);
                if (v)
                        c->v = v;
                if (v && c->t == J_OBJ) {
                        char **k = realloc(c->k, cap * sizeof *k);
                        if (k)
                                c->k = k;
                        size_t *kl = k ? realloc(c->kl, cap * sizeof *kl) : NULL;
                        if (kl)
                                c->kl = kl;
                        v = kl ? v : NULL;
                }
                if (!v) {
                        jv_free(j);
                        p->limit = "out of memory";
                        return 0;
                }
                c->cap = cap;
        }
        if (c->t == J_OBJ) {
                c->k[c->n] = p->key;
                c->kl[c->n] = p->klen;
                p->key = NULL;
        }
        c->v[c->n++] = j;
        return 1;
}

static int jp_scalar(struct jparse *p, enum jtype t, const char *s, size_t len, bool b)
{
        struct jv *j = jp_new(p, t);
        if (!j)
                return 0;
        j->b = b;
        if (s) {
                j->s = jr_memdup(s, len);
                if (!j->s) {
                        free(j);
                        p->limit = "out of memory";
                        return 0;
                }
                j->len = len;
        }
        return jp_add(p, j);
}

static int cb_null(void *ctx)
{
        return jp_scalar(ctx, J_NULL, NULL, 0, false);
}

static int cb_bool(void *ctx, int b)
{
        return jp_scalar(ctx, J_BOOL, NULL, 0, b != 0);
}

static int cb_number(void *ctx, const char *s, size_t len)
{
        return jp_scalar(ctx, J_NUM, s, len, false);
}

static int cb_string(void *ctx, const unsigned char *s, size_t len)
{
        return jp_scalar(ctx, J_STR, (const char *)s, len, false);
}

static int cb_open(struct jparse *p, enum jtype t)
{
        if (p->depth >= MAX_DEPTH) {
                p->limit = "nested too deep";
                return 0;
        }
        struct jv *j = jp_new(p, t);
        if (!j || !jp_add(p, j))
                return 0;
        p->stack[p->depth++] = j;
        return 1;
}

static int cb_start_map(void *ctx)
{
        return cb_open(ctx, J_OBJ);
}

static int cb_start_array(void *ctx)
{
        return cb_open(ctx, J_ARR);
}

static int cb_end(void *ctx)
{
        struct jparse *p = ctx;
        p->depth--;
        return 1;
}

static int cb_key(void *ctx, const unsigned char *s, size_t len)
{
        struct jparse *p = ctx;
        free(p->key);
        p->key = jr_memdup(s, len);
        if (!p->key) {
                p->limit = "out of memory";
                return 0;
        }
        p->klen = len;
        return 1;
}

static const yajl_callbacks tree_cb = {
    .yajl_null = cb_null,
    .yajl_boolean = cb_bool,
    .yajl_number = cb_number,
    .yajl_string = cb_string,
    .yajl_start_map = cb_start_map,
    .yajl_map_key = cb_key,
    .yajl_end_map = cb_end,
    .yajl_start_array = cb_start_array,
    .yajl_end_array = cb_end,
};

static bool only_space(const unsigned char *s, size_t len)
{
        for (size_t i = 0; i < len; i++)
                if (!strchr(" \t\r\n", s[i]))
                        return false;
        return true;
}

/* Whether the text ends inside a string: yajl buffers an unfinished string at the end
 * and reports success ("{} \"x" parses), so this is checked apart. */
static bool ends_in_string(const unsigned char *s, size_t len)
{
        bool in = false;
        for (size_t i = 0; i < len; i++) {
                if (s[i] == '"')
                        in = !in;
                else if (s[i] == '\\' && in)
                        i++;
        }
        return in;
}

/* Parse len bytes with callbacks ctx, in the words of the runner's parser (message.c):
 * "not valid JSON at byte 17: parse error: premature EOF". A callback that stopped the
 * parse explains itself in *stopped (NULL: it did not). */
static int yajl_run(const yajl_callbacks *cb, void *ctx, const void *buf, size_t len,
                    const char *const *stopped, jr_error *e)
{
        yajl_handle h = yajl_alloc(cb, NULL, ctx);
        if (!h)
                return jr_error_set(e, ENOMEM, "allocate a JSON parser");
        yajl_config(h, yajl_allow_multiple_values, 1);
        yajl_status st = yajl_parse(h, len ? buf : (const void *)"", len);
        size_t at = yajl_get_bytes_consumed(h);
        if (st == yajl_status_ok) {
                st = yajl_complete_parse(h);
                at = len;
        }
        int ret = 0;
        if (st == yajl_status_ok && ends_in_string(buf, len)) {
                yajl_free(h);
                return jr_error_raw(e, EINVAL,
                                    "not valid JSON at byte %zu: premature EOF in a string", len);
        }
        if (st == yajl_status_client_canceled && stopped && *stopped == TRAILING) {
                ret = jr_error_raw(e, EINVAL, "not valid JSON at byte %zu: %s", at, TRAILING);
        } else if (st == yajl_status_client_canceled && stopped && *stopped) {
                ret = -1; /* the caller words it */
        } else if (st != yajl_status_ok && only_space(buf, len)) {
                ret = jr_error_raw(e, EINVAL, "not valid JSON: empty input");
        } else if (st != yajl_status_ok) {
                unsigned char *msg = yajl_get_error(h, 0, NULL, 0);
                char text[256];
                snprintf(text, sizeof text, "%s", msg ? (const char *)msg : "unknown error");
                if (msg)
                        yajl_free_error(h, msg);
                size_t n = strlen(text);
                while (n && (text[n - 1] == '\n' || text[n - 1] == ' '))
                        text[--n] = '\0';
                ret = jr_error_raw(e, EINVAL, "not valid JSON at byte %zu: %s", at, text);
        }
        yajl_free(h);
        return ret;
}

static int jparse(const void *buf, size_t len, size_t max_nodes, struct jv **out, jr_error *e)
{
        struct jparse p = {.max_nodes = max_nodes ? max_nodes : MAX_NODES_DEFAULT};
        int ret = yajl_run(&tree_cb, &p, buf, len, &p.limit, e);
        if (ret == 0 && !p.root)
                ret = jr_error_raw(e, EINVAL, "not valid JSON: empty input");
        if (ret < 0 && p.limit && p.limit != TRAILING)
                jr_error_raw(e, E2BIG, "JSON body: %s (at most %zu values, %d deep)", p.limit,
                             p.max_nodes, MAX_DEPTH);
        free(p.key);
        if (ret < 0) {
                jv_free(p.root);
                return -1;
        }
        *out = p.root;
        return 0;
}

/* The value of key in object o (the last one when repeated); NULL when absent. */
static const struct jv *get(const struct jv *o, const char *key)
{
        if (!o || o->t != J_OBJ)
                return NULL;
        size_t n = strlen(key);
        for (size_t i = o->n; i-- > 0;)
                if (o->kl[i] == n && !memcmp(o->k[i], key, n))
                        return o->v[i];
        return NULL;
}

/* Absent and null are the same. */
static const struct jv *get_nn(const struct jv *o, const char *key)
{
        const struct jv *v = get(o, key);
        return v && v->t != J_NULL ? v : NULL;
}

/* A plain JSON integer (no fraction, no exponent) that fits an int64. */
static bool as_int(const struct jv *j, int64_t *out)
{
        if (!j || j->t != J_NUM)
                return false;
        const char *s = j->s;
        bool neg = *s == '-';
        if (neg)
                s++;
        if (!*s)
                return false;
        uint64_t v = 0;
        for (; *s; s++) {
                if (*s < '0' || *s > '9')
                        return false;
                if (v > (UINT64_MAX - 9) / 10)
                        return false;
                v = v * 10 + (uint64_t)(*s - '0');
        }
        if (v > (uint64_t)INT64_MAX)
                return false;
        *out = neg ? -(int64_t)v : (int64_t)v;
        return true;
}

static bool str_is(const struct jv *j, const char *s)
{
        size_t n = strlen(s);
        return j && j->t == J_STR && j->len == n && !memcmp(j->s, s, n);
}

/* ================================================================ UUID */

int jr_uuid4(char out[JR_UUID_LEN + 1], jr_error *e)
{
        unsigned char b[16];
        size_t got = 0;
        while (got < sizeof b) {
                ssize_t n = getrandom(b + got, sizeof b - got, 0);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return jr_error_errno(e, "getrandom");
                }
                got += (size_t)n;
        }
        b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
        b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
        static const char hex[] = "0123456789abcdef";
        size_t o = 0;
        for (size_t i = 0; i < 16; i++) {
                if (i == 4 || i == 6 || i == 8 || i == 10)
                        out[o++] = '-';
                out[o++] = hex[b[i] >> 4];
                out[o++] = hex[b[i] & 15];
        }
        out[o] = '\0';
        return 0;
}

/* ================================================================ POST /execute */

void jr_execute_req_free(jr_execute_req *req)
{
        if (req) {
                free(req->has_expected);
                req->has_expected = NULL;
                req->n_tests = 0;
        }
}

static int field_error(jr_error *e, const char *field, const char *what)
{
        return jr_error_raw(e, EINVAL, "field \"%s\": %s", field, what);
}

static int check_language(const struct jv *lang, const jr_execute_opts *o, jr_error *e)
{
        if (!lang)
                return field_error(e, "language", "required");
        if (lang->t != J_STR)
                return field_error(e, "language", "must be a string");
        if (!o->languages)
                return lang->len ? 0 : field_error(e, "language", "must not be empty");
        for (size_t i = 0; i < o->n_languages; i++)
                if (strlen(o->languages[i]) == lang->len &&
                    !memcmp(o->languages[i], lang->s, lang->len))
                        return 0;
        char known[512] = "";
        size_t n = 0;
        for (size_t i = 0; i < o->n_languages && n < sizeof known; i++)
                n += (size_t)snprintf(known + n, sizeof known - n, "%s%s", i ? ", " : "",
                                      o->languages[i]);
        char q[JR_QUOTE_BUF];
        return jr_error_raw(e, EINVAL, "field \"language\": unknown language \"%s\" (known: %s)",
                            jr_quote(lang->s, lang->len, q), known);
}

int jr_execute_request(const void *body, size_t len, const jr_execute_opts *o, const char *id,
                       jr_buf *script, jr_execute_req *req, jr_error *e)
{
        _cleanup_jv_ struct jv *root = NULL;
        if (jparse(body, len, o->max_nodes, &root, e) < 0)
                return -1;
        if (root->t != J_OBJ)
                return jr_error_raw(e, EINVAL, "body: must be a JSON object");
        const struct jv *lang = get_nn(root, "language");
        if (check_language(lang, o, e) < 0)
                return -1;
        const struct jv *src = get_nn(root, "source");
        if (!src)
                return field_error(e, "source", "required");
        if (src->t != J_STR)
                return field_error(e, "source", "must be a string");
        if (src->len == 0)
                return field_error(e, "source", "must not be empty");
        const struct jv *checker = get_nn(root, "checker");
        if (checker) {
                jr_checker c;
                if (checker->t != J_STR || jr_checker_from_name(checker->s, checker->len, &c) < 0)
                        return field_error(e, "checker",
                                           "must be \"lines\", \"exact\" or \"tokens\"");
        }
        const struct jv *tests = get_nn(root, "tests");
        size_t max_tests = o->max_tests ? o->max_tests : JR_PARSE_MAX_TESTS_DEFAULT;
        if (tests && tests->t != J_ARR)
                return field_error(e, "tests", "must be an array");
        size_t n = tests ? tests->n : 0;
        if (n > max_tests)
                return jr_error_raw(e, E2BIG,
                                    "field \"tests\": more than %zu tests (the cap is %zu events: "
                                    "accepted, build, one per test, done)",
                                    max_tests, max_tests + JR_EVENTS_NOT_TESTS);
        uint64_t def = o->default_timeout_ms ? o->default_timeout_ms : TIMEOUT_DEFAULT;
        _cleanup_free_ bool *has_expected = calloc(n ? n : 1, sizeof *has_expected);
        _cleanup_free_ uint64_t *timeout = calloc(n ? n : 1, sizeof *timeout);
        if (!has_expected || !timeout)
                return jr_error_set(e, ENOMEM, "allocate %zu tests", n);
        uint64_t max_timeout = n ? 0 : def;
        timeout[0] = def;
        for (size_t i = 0; i < n; i++) {
                const struct jv *t = tests->v[i];
                char field[64];
                if (t->t != J_OBJ) {
                        snprintf(field, sizeof field, "tests[%zu]", i);
                        return field_error(e, field, "must be an object");
                }
                const struct jv *in = get_nn(t, "stdin"), *exp = get_nn(t, "expectedStdout");
                const struct jv *tmo = get_nn(t, "timeoutMs");
                if (in && in->t != J_STR) {
                        snprintf(field, sizeof field, "tests[%zu].stdin", i);
                        return field_error(e, field, "must be a string");
                }
                if (exp && exp->t != J_STR) {
                        snprintf(field, sizeof field, "tests[%zu].expectedStdout", i);
                        return field_error(e, field, "must be a string");
                }
                has_expected[i] = exp != NULL;
                timeout[i] = def;
                if (tmo) {
                        int64_t v;
                        snprintf(field, sizeof field, "tests[%zu].timeoutMs", i);
                        if (!as_int(tmo, &v) || v <= 0)
                                return field_error(e, field, "must be a positive integer");
                        if (o->max_timeout_ms && (uint64_t)v > o->max_timeout_ms)
                                return jr_error_raw(e, EINVAL,
                                                    "field \"%s\": must be at most %" PRIu64
                                                    " (the host limit)",
                                                    field, o->max_timeout_ms);
                        timeout[i] = (uint64_t)v;
                }
                if (timeout[i] > max_timeout)
                        max_timeout = timeout[i];
        }

        struct out w = {0};
        o_str(&w, "{\"type\":\"script\",\"id\":");
        o_json(&w, id, strlen(id));
        o_str(&w, ",\"language\":");
        o_json(&w, lang->s, lang->len);
        o_str(&w, ",\"source\":");
        o_json(&w, src->s, src->len);
        o_fmt(&w, ",\"limits\":{\"time_limit_ms\":%" PRIu64 "},\"stop_on_failure\":false",
              max_timeout);
        if (checker) {
                o_str(&w, ",\"checker\":");
                o_json(&w, checker->s, checker->len);
        }
        o_str(&w, ",\"tests\":[");
        for (size_t i = 0; i < (n ? n : 1); i++) {
                const struct jv *t = n ? tests->v[i] : NULL;
                const struct jv *in = get_nn(t, "stdin"), *exp = get_nn(t, "expectedStdout");
                o_fmt(&w, "%s{\"number\":%zu,\"input\":", i ? "," : "", i + 1);
                o_json(&w, in ? in->s : "", in ? in->len : 0);
                if (exp) {
                        o_str(&w, ",\"expected_output\":");
                        o_json(&w, exp->s, exp->len);
                }
                o_fmt(&w, ",\"wall_limit_ms\":%" PRIu64 "}", timeout[i]);
        }
        o_str(&w, "]}");
        jr_buf msg = {0};
        if (o_finish(&w, &msg, e) < 0)
                return -1;

        /* The runner will parse it with these rules: check now, so that the client hears
         * of a problem (a cap) rather than an IE later. */
        jr_parse_options po = {.languages = o->languages,
                               .n_languages = o->n_languages,
                               .max_tests = max_tests,
                               .max_input_bytes = msg.len + 1};
        jr_submission *sub = NULL;
        if (jr_submission_parse(msg.ptr, msg.len, &po, &sub, NULL, e) < 0) {
                free(msg.ptr);
                return -1;
        }
        jr_submission_free(sub);
        *script = msg;
        if (req) {
                req->n_tests = n ? n : 1;
                req->has_expected = TAKE_PTR(has_expected);
        }
        return 0;
}

static void o_num_or_null(struct out *w, const struct jv *v)
{
        if (v && v->t == J_NUM)
                o_raw(w, v->s, v->len);
        else
                o_str(w, "null");
}

static void o_str_or_empty(struct out *w, const struct jv *v)
{
        if (v && v->t == J_STR)
                o_json(w, v->s, v->len);
        else
                o_str(w, "\"\"");
}

/* A process killed by a signal exits 128 + the signal, as a shell or Docker reports it
 * (messages.md): the Executor Service's exitCode for a SIGKILLed test was 137. */
static void o_exit_code(struct out *w, const struct jv *code, const struct jv *signal)
{
        int64_t sig;
        if (code && code->t == J_NUM)
                o_raw(w, code->s, code->len);
        else if (as_int(signal, &sig) && sig > 0 && sig <= 64)
                o_fmt(w, "%d", 128 + (int)sig);
        else
                o_str(w, "null");
}

static void o_signal(struct out *w, const struct jv *v)
{
        int64_t sig;
        if (!as_int(v, &sig) || sig <= 0 || sig > 64) {
                o_str(w, "null");
                return;
        }
        const char *abbrev = sigabbrev_np((int)sig);
        char name[32];
        if (abbrev)
                snprintf(name, sizeof name, "SIG%s", abbrev);
        else
                snprintf(name, sizeof name, "SIG%d", (int)sig);
        o_json(w, name, strlen(name));
}

int jr_execute_answer(const char *result, size_t len, const jr_execute_req *req, jr_buf *out,
                      jr_error *e)
{
        _cleanup_jv_ struct jv *r = NULL;
        if (jparse(result, len, 0, &r, e) < 0)
                return jr_error_wrap(e, "result");
        if (r->t != J_OBJ)
                return jr_error_raw(e, EINVAL, "result: not a JSON object");
        const struct jv *status = get_nn(r, "status");
        bool ok = str_is(status, "OK");
        const struct jv *id = get_nn(r, "id"), *err = get_nn(r, "error");
        const struct jv *tests = get_nn(r, "tests");

        struct out w = {0};
        o_str(&w, "{\"jobId\":");
        if (id && id->t == J_STR)
                o_json(&w, id->s, id->len);
        else
                o_str(&w, "null");
        o_str(&w, ok ? ",\"ok\":true" : ",\"ok\":false");
        if (!ok && err && err->t == J_STR && err->len) {
                o_str(&w, ",\"error\":");
                /* a build failure's compiler messages are in the result's stderr (its
                 * error is one line): the Executor Service's callers read them in error */
                const struct jv *cerr = get_nn(r, "stderr");
                if (str_is(status, "BF") && cerr && cerr->t == J_STR && cerr->len &&
                    !(cerr->len == err->len && !memcmp(cerr->s, err->s, err->len))) {
                        size_t n = err->len + 1 + cerr->len;
                        _cleanup_free_ char *both = malloc(n);
                        if (both) {
                                memcpy(both, err->s, err->len);
                                both[err->len] = '\n';
                                memcpy(both + err->len + 1, cerr->s, cerr->len);
                                o_json(&w, both, n);
                        } else {
                                w.oom = true; /* o_finish reports it */
                        }
                } else {
                        o_json(&w, err->s, err->len);
                }
        }
        o_str(&w, ",\"results\":[");
        size_t n = tests && tests->t == J_ARR ? tests->n : 0;
        for (size_t i = 0; i < n; i++) {
                const struct jv *t = tests->v[i];
                const struct jv *ts = get_nn(t, "status");
                const struct jv *exp = get_nn(t, "expected_output");
                o_str(&w, i ? ",{\"stdout\":" : "{\"stdout\":");
                o_str_or_empty(&w, get_nn(t, "stdout"));
                o_str(&w, ",\"stderr\":");
                o_str_or_empty(&w, get_nn(t, "stderr"));
                o_str(&w, ",\"exitCode\":");
                o_exit_code(&w, get_nn(t, "exit_code"), get_nn(t, "signal"));
                o_str(&w, str_is(ts, "TL") ? ",\"timedOut\":true" : ",\"timedOut\":false");
                o_str(&w, ",\"signal\":");
                o_signal(&w, get_nn(t, "signal"));
                o_str(&w, ",\"expectedStdout\":");
                bool has = req && i < req->n_tests ? req->has_expected[i]
                                                   : (exp && exp->t == J_STR && exp->len);
                if (has)
                        o_str_or_empty(&w, exp);
                else
                        o_str(&w, "null");
                o_str(&w, str_is(ts, "OK") ? ",\"passed\":true" : ",\"passed\":false");
                o_str(&w, ",\"status\":");
                o_str_or_empty(&w, ts);
                o_str(&w, ",\"timeMs\":");
                o_num_or_null(&w, get_nn(t, "duration_ms"));
                o_str(&w, ",\"memoryBytes\":");
                o_num_or_null(&w, get_nn(t, "memory_bytes"));
                o_str(&w, "}");
        }
        o_str(&w, "],\"status\":");
        o_str_or_empty(&w, status);
        o_str(&w, ",\"timeMs\":");
        o_num_or_null(&w, get_nn(r, "duration_ms"));
        o_str(&w, "}");
        return o_finish(&w, out, e);
}

int jr_execute_error(const char *id, const char *error, jr_buf *out, jr_error *e)
{
        struct out w = {0};
        o_str(&w, "{\"jobId\":");
        if (id)
                o_json(&w, id, strlen(id));
        else
                o_str(&w, "null");
        o_str(&w, ",\"ok\":false,\"error\":");
        o_json(&w, error, strlen(error));
        o_str(&w, "}");
        return o_finish(&w, out, e);
}

/* ================================================================ POST /v1/executions */

/* A streaming copy of a JSON object with its top-level "id" replaced: every other byte
 * of meaning (unknown fields, strings with \u0000, numbers as written) goes through. */
struct idcopy {
        struct out w;
        const char *id;
        unsigned depth;
        unsigned count[MAX_DEPTH + 2]; /* values (or keys) written at each depth */
        bool in_array[MAX_DEPTH + 2];
        bool skipping;
        unsigned skip_depth;
        unsigned roots;
        const char *stopped;
};

/* Every callback first: a second top-level value stops the copy. */
static bool ic_stop(struct idcopy *c)
{
        if (c->depth == 0 && c->roots++) {
                c->stopped = TRAILING;
                return true;
        }
        return false;
}

/* Before a value: a comma between array elements. false: the value is skipped. */
static bool ic_value(struct idcopy *c)
{
        if (c->skipping)
                return false;
        if (c->depth > 0 && c->in_array[c->depth] && c->count[c->depth]++)
                o_raw(&c->w, ",", 1);
        return true;
}

/* After a scalar: the skipped "id" value ends here when it was a scalar. */
static void ic_scalar_done(struct idcopy *c)
{
        if (c->skipping && c->depth == c->skip_depth)
                c->skipping = false;
}

static int ic_null(void *ctx)
{
        struct idcopy *c = ctx;
        if (ic_stop(c))
                return 0;
        if (ic_value(c))
                o_str(&c->w, "null");
        ic_scalar_done(c);
        return 1;
}

static int ic_bool(void *ctx, int b)
{
        struct idcopy *c = ctx;
        if (ic_stop(c))
                return 0;
        if (ic_value(c))
                o_str(&c->w, b ? "true" : "false");
        ic_scalar_done(c);
        return 1;
}

static int ic_number(void *ctx, const char *s, size_t len)
{
        struct idcopy *c = ctx;
        if (ic_stop(c))
                return 0;
        if (ic_value(c))
                o_raw(&c->w, s, len);
        ic_scalar_done(c);
        return 1;
}

static int ic_string(void *ctx, const unsigned char *s, size_t len)
{
        struct idcopy *c = ctx;
        if (ic_stop(c))
                return 0;
        if (ic_value(c))
                o_json(&c->w, (const char *)s, len);
        ic_scalar_done(c);
        return 1;
}

static int ic_open(struct idcopy *c, bool array)
{
        if (ic_stop(c))
                return 0;
        if (c->depth >= MAX_DEPTH) {
                c->stopped = "nested too deep";
                return 0;
        }
        if (ic_value(c))
                o_raw(&c->w, array ? "[" : "{", 1);
        c->depth++;
        c->count[c->depth] = 0;
        c->in_array[c->depth] = array;
        return 1;
}

static int ic_start_map(void *ctx)
{
        return ic_open(ctx, false);
}

static int ic_start_array(void *ctx)
{
        return ic_open(ctx, true);
}

static int ic_key(void *ctx, const unsigned char *s, size_t len)
{
        struct idcopy *c = ctx;
        if (c->skipping)
                return 1;
        if (c->depth == 1 && len == 2 && !memcmp(s, "id", 2)) {
                c->skipping = true;
                c->skip_depth = 1;
                return 1;
        }
        if (c->count[c->depth]++)
                o_raw(&c->w, ",", 1);
        o_json(&c->w, (const char *)s, len);
        o_raw(&c->w, ":", 1);
        return 1;
}

static int ic_end(struct idcopy *c, bool array)
{
        if (!c->skipping) {
                if (c->depth == 1 && !array) {
                        o_str(&c->w, c->count[1] ? ",\"id\":" : "\"id\":");
                        o_json(&c->w, c->id, strlen(c->id));
                }
                o_raw(&c->w, array ? "]" : "}", 1);
        }
        c->depth--;
        ic_scalar_done(c);
        return 1;
}

static int ic_end_map(void *ctx)
{
        return ic_end(ctx, false);
}

static int ic_end_array(void *ctx)
{
        return ic_end(ctx, true);
}

static const yajl_callbacks idcopy_cb = {
    .yajl_null = ic_null,
    .yajl_boolean = ic_bool,
    .yajl_number = ic_number,
    .yajl_string = ic_string,
    .yajl_start_map = ic_start_map,
    .yajl_map_key = ic_key,
    .yajl_end_map = ic_end_map,
    .yajl_start_array = ic_start_array,
    .yajl_end_array = ic_end_array,
};

int jr_enqueue_request(const void *body, size_t len, const jr_parse_options *po, const char *id,
                       jr_buf *script, jr_error *e)
{
        jr_submission *sub = NULL;
        if (jr_submission_parse(body, len, po, &sub, NULL, e) < 0)
                return -1;
        bool done = sub->type == JR_MSG_DONE;
        jr_submission_free(sub);
        if (done)
                return field_error(
                    e, "type", "must be \"script\" (a \"done\" message would stop the runners)");
        struct idcopy c = {.id = id};
        int ret = yajl_run(&idcopy_cb, &c, body, len, &c.stopped, e);
        if (ret == 0 && c.roots == 0)
                ret = jr_error_raw(e, EINVAL, "not valid JSON: empty input");
        if (ret < 0 && c.stopped && c.stopped != TRAILING)
                jr_error_raw(e, E2BIG, "JSON body: nested more than %d deep", MAX_DEPTH);
        if (ret < 0) {
                free(c.w.p);
                return -1;
        }
        return o_finish(&c.w, script, e);
}

/* ================================================================ answers */

struct vcount {
        unsigned depth, roots;
        const char *stopped;
};

static int vc_value(void *ctx)
{
        struct vcount *v = ctx;
        if (v->depth == 0 && v->roots++) {
                v->stopped = TRAILING;
                return 0;
        }
        return 1;
}

static int vc_bool(void *ctx, int b)
{
        return vc_value(ctx);
}

static int vc_bytes(void *ctx, const char *s, size_t len)
{
        return vc_value(ctx);
}

static int vc_string(void *ctx, const unsigned char *s, size_t len)
{
        return vc_value(ctx);
}

static int vc_open(void *ctx)
{
        struct vcount *v = ctx;
        if (!vc_value(ctx))
                return 0;
        v->depth++;
        return 1;
}

static int vc_close(void *ctx)
{
        struct vcount *v = ctx;
        v->depth--;
        return 1;
}

static const yajl_callbacks vcount_cb = {
    .yajl_null = vc_value,
    .yajl_boolean = vc_bool,
    .yajl_number = vc_bytes,
    .yajl_string = vc_string,
    .yajl_start_map = vc_open,
    .yajl_end_map = vc_close,
    .yajl_start_array = vc_open,
    .yajl_end_array = vc_close,
};

/* Exactly one JSON value. */
static bool valid_json(const char *s, size_t len)
{
        struct vcount v = {0};
        return yajl_run(&vcount_cb, &v, s, len, &v.stopped, NULL) == 0 && v.roots == 1;
}

int jr_execution_json(const char *id, size_t id_len, const char *state, const char *result,
                      size_t result_len, uint64_t n_events, jr_buf *out, jr_error *e)
{
        struct out w = {0};
        o_str(&w, "{\"id\":");
        o_json(&w, id, id_len);
        o_str(&w, ",\"state\":");
        o_json(&w, state, strlen(state));
        o_str(&w, ",\"result\":");
        if (result && valid_json(result, result_len))
                o_raw(&w, result, result_len);
        else
                o_str(&w, "null");
        o_fmt(&w, ",\"events\":%" PRIu64 "}", n_events);
        return o_finish(&w, out, e);
}

const char *jr_http_reason(unsigned status)
{
        switch (status) {
        case 200:
                return "OK";
        case 202:
                return "Accepted";
        case 400:
                return "Bad Request";
        case 401:
                return "Unauthorized";
        case 404:
                return "Not Found";
        case 405:
                return "Method Not Allowed";
        case 408:
                return "Request Timeout";
        case 413:
                return "Content Too Large";
        case 415:
                return "Unsupported Media Type";
        case 429:
                return "Too Many Requests";
        case 500:
                return "Internal Server Error";
        case 503:
                return "Service Unavailable";
        case 504:
                return "Gateway Timeout";
        default:
                return "Error";
        }
}

int jr_problem_json(unsigned status, const char *detail, jr_buf *out, jr_error *e)
{
        struct out w = {0};
        const char *title = jr_http_reason(status);
        o_str(&w, "{\"type\":\"about:blank\",\"title\":");
        o_json(&w, title, strlen(title));
        o_fmt(&w, ",\"status\":%u,\"detail\":", status);
        o_json(&w, detail, strlen(detail));
        o_str(&w, "}");
        return o_finish(&w, out, e);
}

int jr_sse_event(uint64_t seq, const char *type, const char *json, size_t len, jr_buf *out,
                 jr_error *e)
{
        struct out w = {0};
        o_fmt(&w, "id: %" PRIu64 "\nevent: ", seq);
        /* the event name: one line of printable ASCII */
        for (const char *t = type; *t; t++) {
                char c = *t >= 0x21 && *t < 0x7f ? *t : '_';
                o_raw(&w, &c, 1);
        }
        o_str(&w, "\ndata: ");
        size_t run = 0;
        for (size_t i = 0; i < len; i++) {
                if (json[i] != '\n' && json[i] != '\r') {
                        run++;
                        continue;
                }
                o_raw(&w, json + i - run, run);
                run = 0;
                if (json[i] == '\r' && i + 1 < len && json[i + 1] == '\n')
                        i++;
                o_str(&w, "\ndata: ");
        }
        o_raw(&w, json + len - run, run);
        o_str(&w, "\n\n");
        return o_finish(&w, out, e);
}
