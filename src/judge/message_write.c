/* The result and event writer: two passes of yajl_gen (measure, then write), the
 * fair truncation of long strings to the size cap, U+FFFD for invalid UTF-8. See
 * message.h. */
#include "message.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <yajl/yajl_gen.h>

#include "bytes.h"
#include "cleanup.h"
#include "utf8.h"

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
                        n = jr_utf8_seq(s + i, len - i, &bad);
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
                size_t bad = 1, n = jr_utf8_seq(s + i, len - i, &bad);
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
                if (jr_grow(&g->pl, &g->cap_pl, g->n_pl + 1, sizeof *g->pl, 64) < 0) {
                        g->oom = true;
                        return;
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
        if (t->checker_output.ptr)
                put_payload(g, "checker_output", t->checker_output);
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
