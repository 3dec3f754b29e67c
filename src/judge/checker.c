#include "checker.h"

#include <string.h>

static const char *const names[] = {
    [JR_CHECKER_LINES] = "lines",
    [JR_CHECKER_EXACT] = "exact",
    [JR_CHECKER_TOKENS] = "tokens",
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
                if (strlen(names[i]) == len && !memcmp(names[i], name, len)) {
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

static bool match_tokens(struct cursor a, struct cursor b)
{
        for (;;) {
                const unsigned char *ta, *tb;
                size_t na, nb;
                bool ha = next_token(&a, &ta, &na);
                bool hb = next_token(&b, &tb, &nb);
                if (!ha || !hb)
                        return ha == hb;
                if (na != nb || memcmp(ta, tb, na) != 0)
                        return false;
        }
}

bool jr_checker_match(jr_checker c, const char *out, size_t out_len, const char *exp,
                      size_t exp_len)
{
        struct cursor a = {(const unsigned char *)out, (const unsigned char *)out + out_len};
        struct cursor b = {(const unsigned char *)exp, (const unsigned char *)exp + exp_len};
        if (out_len == 0)
                a.p = a.end = (const unsigned char *)"";
        if (exp_len == 0)
                b.p = b.end = (const unsigned char *)"";

        switch (c) {
        case JR_CHECKER_EXACT:
                return out_len == exp_len && (out_len == 0 || memcmp(out, exp, out_len) == 0);
        case JR_CHECKER_TOKENS:
                return match_tokens(a, b);
        case JR_CHECKER_LINES:
        default:
                return match_lines(a, b);
        }
}
