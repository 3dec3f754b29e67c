/* Output checkers: does a program's output match the expected output?
 *
 * All work on byte buffers {ptr, len} that may contain NUL bytes and be megabytes
 * long. Each is a single O(n) pass with no allocation, except `sorted`, which sorts an
 * index of the lines (16 bytes a line, both sides) after checking that the line counts
 * agree. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "bytes.h"

typedef enum jr_checker {
        /* Default. Line by line, where lines end at '\n'; white space at the end of a
         * line (space, \t, \r, \v, \f) is ignored, so "\r\n" ends a line like "\n";
         * blank lines (nothing but such white space) at the end of either output are
         * ignored, and so is a missing final newline. Leading and inner white space
         * counts. */
        JR_CHECKER_LINES = 0,
        /* Byte for byte. */
        JR_CHECKER_EXACT,
        /* The same sequence of tokens separated by any amount of white space (space,
         * \t, \n, \r, \v, \f); NUL is not white space. */
        JR_CHECKER_TOKENS,
        /* Tokens with the line structure kept (the peer judge's "standard"): the same
         * tokens, and between two tokens either both outputs break the line or neither
         * does. A line break is any run of white space holding '\n' or '\r', however
         * many blank lines it spans ("a\n\n\nb" matches "a\nb", not "a b"); other runs
         * of white space (space, \t, \v, \f) are all alike ("a  b" matches "a\tb").
         * White space before the first and after the last token (leading and trailing
         * blank lines, trailing spaces) is ignored. */
        JR_CHECKER_TOKENS_LINES,
        /* "float:EPS": tokens as `tokens` does; where the expected token is a decimal
         * number ([+-]digits[.digits][e[+-]digits], or inf, infinity, nan in any case)
         * the output's token must be one too, within EPS: |out - exp| <= EPS * max(1,
         * |exp|), an absolute tolerance for |exp| <= 1 and a relative one above (plus
         * 1e-15 of the same scale for binary rounding). NaN matches only NaN, an
         * infinity only the same infinity. Other tokens, and tokens longer than 255
         * bytes, must be equal byte for byte. */
        JR_CHECKER_FLOAT,
        /* The same lines in any order (equal as multisets), lines as `lines` reads them:
         * trailing white space of each line and blank lines at the end are ignored;
         * leading white space and blank lines before the last line count. */
        JR_CHECKER_SORTED,
} jr_checker;

/* "lines", "exact", "tokens", "tokens-lines", "float", "sorted". */
const char *jr_checker_name(jr_checker c);
/* Name (len bytes, not NUL-terminated) to checker: 0, or -1 for an unknown name with
 * *out untouched. A bare "float" is no name: it needs its tolerance (jr_checker_parse). */
int jr_checker_from_name(const char *name, size_t len, jr_checker *out);

enum {
        JR_CHECKER_UNKNOWN = -1, /* not a checker's name */
        JR_CHECKER_BAD_EPS = -2, /* "float:" without a finite tolerance >= 0 */
};
/* A checker as a submission names it: a name above, or "float:EPS" with EPS a finite
 * number >= 0 in C syntax ("1e-6", "0.001"). 0 with *out and *eps (0 unless float)
 * set, or JR_CHECKER_UNKNOWN / JR_CHECKER_BAD_EPS with both untouched. */
int jr_checker_parse(const char *s, size_t len, jr_checker *out, double *eps);

/* Compare: 1 when `out` (the program's output) matches `exp` (the expected output), 0
 * when not, -1 when memory ran out (only `sorted` allocates). eps is the tolerance of
 * JR_CHECKER_FLOAT, ignored by the others. */
int jr_checker_run(jr_checker c, double eps, jr_bytes out, jr_bytes exp);

/* True when `out` matches `exp`; JR_CHECKER_FLOAT with a tolerance of 1e-6, and out
 * of memory counts as no match. */
bool jr_checker_match(jr_checker c, const char *out, size_t out_len, const char *exp,
                      size_t exp_len);

/* The same on jr_bytes. */
static inline bool jr_checker_compare(jr_checker c, jr_bytes out, jr_bytes exp)
{
        return jr_checker_match(c, out.ptr, out.len, exp.ptr, exp.len);
}
