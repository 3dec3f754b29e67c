#include "checker.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char *const names[] = {
    [JR_CHECKER_LINES] = "lines",   [JR_CHECKER_EXACT] = "exact",
    [JR_CHECKER_TOKENS] = "tokens", [JR_CHECKER_TOKENS_LINES] = "tokens-lines",
    [JR_CHECKER_FLOAT] = "float",   [JR_CHECKER_SORTED] = "sorted",
};

const char *jr_checker_name(jr_checker c)
{
        if ((unsigned)c < sizeof names / sizeof names[0])
                return names[c];
        return "?";
}

int jr_checker_from_name(const char *name, size_t len, jr_checker *out)
{
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
                if (i != JR_CHECKER_FLOAT && strlen(names[i]) == len &&
                    !memcmp(names[i], name, len)) {
                        *out = (jr_checker)i;
                        return 0;
                }
        return -1;
}

/* White space that ends a line without counting ('\n' itself excluded). */
static inline bool line_space(unsigned char c)
{
        return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

static inline bool token_space(unsigned char c)
{
        return line_space(c) || c == '\n';
}

struct cursor {
        const unsigned char *p, *end;
};

/* The next line of c without its trailing white space; false at the end of input.
 * A final line without '\n' counts; the empty string after a final '\n' does not. */
static bool next_line(struct cursor *c, const unsigned char **line, size_t *len)
{
        if (c->p >= c->end)
                return false;
        const unsigned char *start = c->p;
        const unsigned char *nl = memchr(start, '\n', (size_t)(c->end - start));
        const unsigned char *stop = nl ? nl : c->end;
        c->p = nl ? nl + 1 : c->end;
        while (stop > start && line_space(stop[-1]))
                stop--;
        *line = start;
        *len = (size_t)(stop - start);
        return true;
}

/* True when everything left in c is blank lines. */
static bool only_blank(struct cursor *c)
{
        for (const unsigned char *q = c->p; q < c->end; q++)
                if (!token_space(*q))
                        return false;
        return true;
}

static bool match_lines(struct cursor a, struct cursor b)
{
        for (;;) {
                const unsigned char *la, *lb;
                size_t na, nb;
                bool ha = next_line(&a, &la, &na);
                bool hb = next_line(&b, &lb, &nb);
                if (!ha || !hb) {
                        /* the side with lines left must have only blank ones; a blank
                         * line just read from it counts as well */
                        if (ha && na != 0)
                                return false;
                        if (hb && nb != 0)
                                return false;
                        return only_blank(ha ? &a : &b);
                }
                if (na != nb || memcmp(la, lb, na) != 0)
                        return false;
        }
}

static bool next_token(struct cursor *c, const unsigned char **tok, size_t *len)
{
        while (c->p < c->end && token_space(*c->p))
                c->p++;
        if (c->p >= c->end)
                return false;
        const unsigned char *start = c->p;
        while (c->p < c->end && !token_space(*c->p))
                c->p++;
        *tok = start;
        *len = (size_t)(c->p - start);
        return true;
}

/* ---- tokens-lines ---- */

static inline bool line_break(unsigned char c)
{
        return c == '\n' || c == '\r';
}

/* Skip the white space at c: 2 when it held a line break, 1 when only other white
 * space, 0 when there was none. */
static int skip_separator(struct cursor *c)
{
        int kind = 0;
        while (c->p < c->end && token_space(*c->p)) {
                kind = line_break(*c->p) || kind == 2 ? 2 : 1;
                c->p++;
        }
        return kind;
}

/* The separators after two equal tokens: both at the end (where any white space is
 * fine; next_token skips it), or of the same kind. */
static bool same_separator(struct cursor a, struct cursor b)
{
        int ka = skip_separator(&a), kb = skip_separator(&b);
        return a.p >= a.end || b.p >= b.end || ka == kb;
}

/* ---- float:EPS ---- */

#define FLOAT_TOKEN_MAX 255

static bool digits(const unsigned char **p, const unsigned char *end)
{
        const unsigned char *s = *p;
        while (*p < end && **p >= '0' && **p <= '9')
                (*p)++;
        return *p > s;
}

static bool word_is(const unsigned char *p, size_t n, const char *w)
{
        if (n != strlen(w))
                return false;
        for (size_t i = 0; i < n; i++)
                if ((p[i] | 0x20) != (unsigned char)w[i])
                        return false;
        return true;
}

/* The token as a decimal number (no hex, no leading or trailing junk): true and *v. */
static bool token_number(const unsigned char *t, size_t n, double *v)
{
        if (n == 0 || n > FLOAT_TOKEN_MAX)
                return false;
        const unsigned char *p = t, *end = t + n;
        if (*p == '+' || *p == '-')
                p++;
        size_t rest = (size_t)(end - p);
        bool special =
            word_is(p, rest, "inf") || word_is(p, rest, "infinity") || word_is(p, rest, "nan");
        if (!special) {
                bool whole = digits(&p, end), frac = false;
                if (p < end && *p == '.') {
                        p++;
                        frac = digits(&p, end);
                }
                if (!whole && !frac)
                        return false;
                if (p < end && (*p == 'e' || *p == 'E')) {
                        p++;
                        if (p < end && (*p == '+' || *p == '-'))
                                p++;
                        if (!digits(&p, end))
                                return false;
                }
                if (p != end)
                        return false;
        }
        char buf[FLOAT_TOKEN_MAX + 1];
        memcpy(buf, t, n);
        buf[n] = '\0';
        /* strtod reads the C locale's decimal point: jailrun never calls setlocale */
        *v = strtod(buf, NULL);
        return true;
}

static bool close_enough(double out, double exp, double eps)
{
        if (isnan(exp) || isnan(out))
                return isnan(exp) && isnan(out);
        if (isinf(exp) || isinf(out))
                return out == exp;
        double scale = fabs(exp) > 1.0 ? fabs(exp) : 1.0;
        return fabs(out - exp) <= (eps + 1e-15) * scale;
}

/* A token of the output against one of the answer: a number of the answer matches a
 * number within eps, anything else the same bytes. */
static bool float_token_ok(const unsigned char *to, size_t no, const unsigned char *te, size_t ne,
                           double eps)
{
        double vo, ve;
        if (token_number(te, ne, &ve))
                return token_number(to, no, &vo) && close_enough(vo, ve, eps);
        return no == ne && memcmp(to, te, no) == 0;
}

/* ---- the token checkers: tokens, tokens-lines, float:EPS ---- */

/* The two token sequences pair up, token by token, as the checker c says. */
static bool match_tokens(struct cursor a, struct cursor b, jr_checker c, double eps)
{
        for (;;) {
                const unsigned char *ta, *tb;
                size_t na, nb;
                bool ha = next_token(&a, &ta, &na);
                bool hb = next_token(&b, &tb, &nb);
                if (!ha || !hb)
                        return ha == hb;
                if (c == JR_CHECKER_FLOAT ? !float_token_ok(ta, na, tb, nb, eps)
                                          : na != nb || memcmp(ta, tb, na) != 0)
                        return false;
                if (c == JR_CHECKER_TOKENS_LINES && !same_separator(a, b))
                        return false;
        }
}

/* ---- sorted ---- */

struct line {
        const unsigned char *p;
        size_t n;
};

/* The number of lines of c as `lines` reads them, up to the last one that is not
 * blank; the first `cap` of them are stored in lines[]. */
static size_t collect_lines(struct cursor c, struct line *lines, size_t cap)
{
        size_t n = 0, kept = 0;
        const unsigned char *l;
        size_t len;
        while (next_line(&c, &l, &len)) {
                if (n < cap)
                        lines[n] = (struct line){l, len};
                n++;
                if (len)
                        kept = n;
        }
        return kept;
}

static int cmp_line(const void *x, const void *y)
{
        const struct line *a = x, *b = y;
        size_t n = a->n < b->n ? a->n : b->n;
        int r = n ? memcmp(a->p, b->p, n) : 0;
        if (r)
                return r;
        return a->n < b->n ? -1 : a->n > b->n;
}

static int match_sorted(struct cursor a, struct cursor b)
{
        size_t n = collect_lines(a, NULL, 0);
        if (collect_lines(b, NULL, 0) != n)
                return 0;
        if (n == 0)
                return 1;
        if (n > SIZE_MAX / (2 * sizeof(struct line)))
                return -1;
        struct line *la = malloc(2 * n * sizeof *la);
        if (!la)
                return -1;
        struct line *lb = la + n;
        collect_lines(a, la, n);
        collect_lines(b, lb, n);
        qsort(la, n, sizeof *la, cmp_line);
        qsort(lb, n, sizeof *lb, cmp_line);
        int r = 1;
        for (size_t i = 0; i < n && r; i++)
                if (cmp_line(&la[i], &lb[i]) != 0)
                        r = 0;
        free(la);
        return r;
}

/* ---- names and entry points ---- */

int jr_checker_parse(const char *s, size_t len, jr_checker *out, double *eps)
{
        static const char prefix[] = "float:";
        const size_t np = sizeof prefix - 1;
        if (len >= np && !memcmp(s, prefix, np)) {
                char buf[64];
                size_t n = len - np;
                if (n == 0 || n >= sizeof buf || memchr(s + np, '\0', n))
                        return JR_CHECKER_BAD_EPS;
                memcpy(buf, s + np, n);
                buf[n] = '\0';
                double v;
                if (!token_number((const unsigned char *)buf, n, &v) || !isfinite(v) || v < 0 ||
                    buf[0] == '+' || buf[0] == '-')
                        return JR_CHECKER_BAD_EPS;
                *out = JR_CHECKER_FLOAT;
                *eps = v;
                return 0;
        }
        if (len == np - 1 && !memcmp(s, prefix, np - 1))
                return JR_CHECKER_BAD_EPS;
        jr_checker c;
        if (jr_checker_from_name(s, len, &c) < 0)
                return JR_CHECKER_UNKNOWN;
        *out = c;
        *eps = 0;
        return 0;
}

int jr_checker_run(jr_checker c, double eps, jr_bytes out, jr_bytes exp)
{
        struct cursor a = {(const unsigned char *)out.ptr,
                           (const unsigned char *)out.ptr + out.len};
        struct cursor b = {(const unsigned char *)exp.ptr,
                           (const unsigned char *)exp.ptr + exp.len};
        if (out.len == 0)
                a.p = a.end = (const unsigned char *)"";
        if (exp.len == 0)
                b.p = b.end = (const unsigned char *)"";

        switch (c) {
        case JR_CHECKER_EXACT:
                return out.len == exp.len &&
                       (out.len == 0 || memcmp(out.ptr, exp.ptr, out.len) == 0);
        case JR_CHECKER_TOKENS:
        case JR_CHECKER_TOKENS_LINES:
        case JR_CHECKER_FLOAT:
                return match_tokens(a, b, c, eps);
        case JR_CHECKER_SORTED:
                return match_sorted(a, b);
        case JR_CHECKER_LINES:
        default:
                return match_lines(a, b);
        }
}

bool jr_checker_match(jr_checker c, const char *out, size_t out_len, const char *exp,
                      size_t exp_len)
{
        return jr_checker_run(c, 1e-6, (jr_bytes){out, out_len}, (jr_bytes){exp, exp_len}) == 1;
}
