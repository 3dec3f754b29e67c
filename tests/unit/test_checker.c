/* Output checkers: lines (default), exact, tokens, tokens-lines, float:EPS, sorted. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checker.h"

#define M(c, out, exp) jr_checker_match(c, out, sizeof(out) - 1, exp, sizeof(exp) - 1)

Test(checker, names)
{
        jr_checker c = JR_CHECKER_EXACT;
        cr_assert_str_eq(jr_checker_name(JR_CHECKER_LINES), "lines");
        cr_assert_str_eq(jr_checker_name(JR_CHECKER_EXACT), "exact");
        cr_assert_str_eq(jr_checker_name(JR_CHECKER_TOKENS), "tokens");
        cr_assert_eq(jr_checker_from_name("tokens", 6, &c), 0);
        cr_assert_eq(c, JR_CHECKER_TOKENS);
        cr_assert_eq(jr_checker_from_name("lines", 5, &c), 0);
        cr_assert_eq(c, JR_CHECKER_LINES);
        cr_assert_lt(jr_checker_from_name("line", 4, &c), 0);
        cr_assert_lt(jr_checker_from_name("linesx", 6, &c), 0);
        cr_assert_lt(jr_checker_from_name("Lines", 5, &c), 0);
        cr_assert_eq(c, JR_CHECKER_LINES, "untouched on failure");
        cr_assert_str_eq(jr_checker_name(JR_CHECKER_TOKENS_LINES), "tokens-lines");
        cr_assert_str_eq(jr_checker_name(JR_CHECKER_FLOAT), "float");
        cr_assert_str_eq(jr_checker_name(JR_CHECKER_SORTED), "sorted");
        cr_assert_eq(jr_checker_from_name("tokens-lines", 12, &c), 0);
        cr_assert_eq(c, JR_CHECKER_TOKENS_LINES);
        cr_assert_eq(jr_checker_from_name("sorted", 6, &c), 0);
        cr_assert_eq(c, JR_CHECKER_SORTED);
        cr_assert_lt(jr_checker_from_name("float", 5, &c), 0, "float needs its tolerance");
}

#define P(str, c, eps) jr_checker_parse(str, strlen(str), c, eps)

Test(checker, parse)
{
        jr_checker c = JR_CHECKER_EXACT;
        double eps = 42;
        cr_assert_eq(P("tokens", &c, &eps), 0);
        cr_assert_eq(c, JR_CHECKER_TOKENS);
        cr_assert_eq(eps, 0);
        cr_assert_eq(P("float:1e-6", &c, &eps), 0);
        cr_assert_eq(c, JR_CHECKER_FLOAT);
        cr_assert_eq(eps, 1e-6);
        cr_assert_eq(P("float:0.001", &c, &eps), 0);
        cr_assert_eq(eps, 0.001);
        cr_assert_eq(P("float:0", &c, &eps), 0);
        cr_assert_eq(eps, 0);
        cr_assert_eq(P("float:2", &c, &eps), 0);
        cr_assert_eq(eps, 2);
        c = JR_CHECKER_EXACT;
        eps = 42;
        const char *bad[] = {"float",       "float:",      "float:-1e-6", "float:+1",
                             "float:abc",   "float:1e-6x", "float:inf",   "float:nan",
                             "float:1e999", "float:0x1p3", "float: 1",    "float:1e"};
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
                cr_assert_eq(P(bad[i], &c, &eps), JR_CHECKER_BAD_EPS, "%s", bad[i]);
        cr_assert_eq(jr_checker_parse("float:1\0", 8, &c, &eps), JR_CHECKER_BAD_EPS);
        cr_assert_eq(P("Float:1", &c, &eps), JR_CHECKER_UNKNOWN);
        cr_assert_eq(P("sorted ", &c, &eps), JR_CHECKER_UNKNOWN);
        cr_assert_eq(P("", &c, &eps), JR_CHECKER_UNKNOWN);
        cr_assert_eq(c, JR_CHECKER_EXACT, "untouched on failure");
        cr_assert_eq(eps, 42, "untouched on failure");
}

static int run(jr_checker c, double eps, const char *out, size_t on, const char *exp, size_t en)
{
        return jr_checker_run(c, eps, (jr_bytes){out, on}, (jr_bytes){exp, en});
}
#define R(c, eps, out, exp) run(c, eps, out, sizeof(out) - 1, exp, sizeof(exp) - 1)

Test(checker, tokens_lines)
{
        const jr_checker T = JR_CHECKER_TOKENS_LINES;
        cr_assert_eq(R(T, 0, "a b\nc\n", "a b\nc\n"), 1);
        cr_assert_eq(R(T, 0, "a\n\n\nb", "a b"), 0,
                     "the issue's example: a line break is no space");
        cr_assert_eq(R(T, 0, "a b", "a\n\n\nb"), 0);
        cr_assert_eq(R(T, 0, "a\n\n\nb", "a\nb"), 1, "blank lines between tokens collapse");
        cr_assert_eq(R(T, 0, "a  \t b\n", "a b\n"), 1, "spaces and tabs are alike");
        cr_assert_eq(R(T, 0, "a \n b", "a\nb"), 1, "spaces around a line break");
        cr_assert_eq(R(T, 0, "a\r\nb\r\n", "a\nb\n"), 1, "CRLF");
        cr_assert_eq(R(T, 0, "a\rb", "a\nb"), 1, "a lone CR breaks the line too");
        cr_assert_eq(R(T, 0, "a\rb", "a b"), 0);
        cr_assert_eq(R(T, 0, "a\vb", "a b"), 1, "\\v and \\f are spaces");
        cr_assert_eq(R(T, 0, "\n\n  a b", "a b"), 1, "leading blank lines and spaces");
        cr_assert_eq(R(T, 0, "a b   \n\n\n", "a b"), 1, "trailing spaces and blank lines");
        cr_assert_eq(R(T, 0, "a b", "a b \n \n"), 1);
        cr_assert_eq(R(T, 0, "", "\n \n"), 1);
        cr_assert_eq(R(T, 0, "", ""), 1);
        cr_assert_eq(R(T, 0, "a", ""), 0);
        cr_assert_eq(R(T, 0, "", "a"), 0);
        cr_assert_eq(R(T, 0, "a b c", "a b"), 0, "extra token");
        cr_assert_eq(R(T, 0, "a b", "a b c"), 0, "missing token");
        cr_assert_eq(R(T, 0, "ab", "a b"), 0);
        cr_assert_eq(R(T, 0, "1.0", "1"), 0, "tokens compare as text");
        cr_assert_eq(R(T, 0, "a\0b", "a b"), 0, "NUL is not white space");
        cr_assert_eq(R(T, 0, "1 2\n3 4\n", "1 2 3\n4\n"), 0, "the break moved");
}

Test(checker, float_tolerance)
{
        const jr_checker F = JR_CHECKER_FLOAT;
        cr_assert_eq(R(F, 1e-6, "1.000001", "1"), 1, "absolute, on the boundary");
        cr_assert_eq(R(F, 1e-6, "1.0000011", "1"), 0);
        cr_assert_eq(R(F, 1e-6, "0.9999990", "1.0"), 1);
        cr_assert_eq(R(F, 1e-6, "0.000001", "0"), 1, "absolute near zero");
        cr_assert_eq(R(F, 1e-6, "0.0000011", "0"), 0);
        cr_assert_eq(R(F, 1e-6, "-0", "0"), 1);
        cr_assert_eq(R(F, 1e-6, "1000001", "1e6"), 1, "relative above 1");
        cr_assert_eq(R(F, 1e-6, "1000001.5", "1e6"), 0);
        cr_assert_eq(R(F, 1e-6, "1.0000005e300", "1e300"), 1, "relative, huge");
        cr_assert_eq(R(F, 1e-6, "-1e300", "1e300"), 0, "opposite signs");
        cr_assert_eq(R(F, 1e-7, "3.14159", "3.141592653589793"), 0);
        cr_assert_eq(R(F, 1e-6, "3.14159", "3.141592653589793"), 1, "2.7e-6 <= 1e-6 * 3.14");
        cr_assert_eq(R(F, 0, "0.1", "0.10"), 1, "eps 0: equal values");
        cr_assert_eq(R(F, 0, "0.1", "0.1000001"), 0);
        cr_assert_eq(R(F, 1e-6, "+.5", "0.5"), 1, "sign and no leading digit");
        cr_assert_eq(R(F, 1e-6, "5.", "5"), 1);
        cr_assert_eq(R(F, 1e-6, "5E+0", "5"), 1);
        cr_assert_eq(R(F, 1e-6, "1 2.0000001\n3", "1.0 2 3.0"), 1, "several, any white space");
        cr_assert_eq(R(F, 1e-6, "1 2", "1 2 3"), 0, "missing token");
        cr_assert_eq(R(F, 1e-6, "1 2 3", "1 2"), 0, "extra token");
        cr_assert_eq(R(F, 1e-6, "nan", "NaN"), 1, "NaN matches NaN");
        cr_assert_eq(R(F, 1e-6, "1", "nan"), 0);
        cr_assert_eq(R(F, 1e-6, "nan", "1"), 0);
        cr_assert_eq(R(F, 1e-6, "inf", "Infinity"), 1);
        cr_assert_eq(R(F, 1e-6, "-inf", "-INF"), 1);
        cr_assert_eq(R(F, 1e-6, "inf", "-inf"), 0);
        cr_assert_eq(R(F, 1e300, "1e308", "inf"), 0, "a finite value is no infinity");
        cr_assert_eq(R(F, 1e-6, "inf", "1e308"), 0);
        cr_assert_eq(R(F, 1e-6, "1e999", "inf"), 1, "overflowing text is an infinity");
        cr_assert_eq(R(F, 1e-6, "YES 0.5", "YES 0.5000001"), 1, "words exactly, numbers within");
        cr_assert_eq(R(F, 1e-6, "yes 0.5", "YES 0.5"), 0);
        cr_assert_eq(R(F, 1e-6, "abc", "1"), 0, "a word where a number is expected");
        cr_assert_eq(R(F, 1e-6, "1", "abc"), 0);
        cr_assert_eq(R(F, 1e-6, "0x10", "16"), 0, "no hexadecimal");
        cr_assert_eq(R(F, 1e-6, "1e", "1"), 0, "no half exponent");
        cr_assert_eq(R(F, 1e-6, "1.5.", "1.5"), 0);
        cr_assert_eq(R(F, 1e-6, "--1", "-1"), 0);
        cr_assert_eq(R(F, 1e-6, ".", "0"), 0);
        cr_assert_eq(R(F, 1e-6, "0x10", "0x10"), 1, "a word equal to itself");
        cr_assert_eq(R(F, 1e-6, "1,5", "1.5"), 0, "no decimal comma");
        cr_assert_eq(R(F, 1e-6, "", ""), 1);
        /* a token over 255 bytes is compared as text */
        char a[300], b[300];
        memset(a, '1', sizeof a);
        memcpy(b, a, sizeof b);
        b[299] = '2';
        cr_assert_eq(run(F, 1, a, sizeof a, b, sizeof b), 0);
        cr_assert_eq(run(F, 1, a, sizeof a, a, sizeof a), 1);
        cr_assert_eq(run(F, 1, a, 255, b, 255), 1);
}

Test(checker, sorted)
{
        const jr_checker S = JR_CHECKER_SORTED;
        cr_assert_eq(R(S, 0, "b\na\nc\n", "a\nb\nc\n"), 1);
        cr_assert_eq(R(S, 0, "b\na\nc", "a\nb\nc\n\n\n"), 1,
                     "final newline, blank lines at the end");
        cr_assert_eq(R(S, 0, "b  \r\na\t\n", "a\nb\n"), 1, "trailing white space, CRLF");
        cr_assert_eq(R(S, 0, "a\na\nb\n", "a\nb\nb\n"), 0, "multisets: counts matter");
        cr_assert_eq(R(S, 0, "a\nb\na\n", "a\na\nb\n"), 1);
        cr_assert_eq(R(S, 0, "a\nb\n", "a\nb\nc\n"), 0);
        cr_assert_eq(R(S, 0, "a\nb\nc\n", "a\nb\n"), 0);
        cr_assert_eq(R(S, 0, " a\nb\n", "a\nb\n"), 0, "leading white space counts");
        cr_assert_eq(R(S, 0, "a b\nc\n", "c\na b\n"), 1, "lines, not tokens");
        cr_assert_eq(R(S, 0, "a b\nc\n", "a\nb c\n"), 0);
        cr_assert_eq(R(S, 0, "a\n\nb\n", "\na\nb\n"), 1, "an inner blank line is a line");
        cr_assert_eq(R(S, 0, "a\n\nb\n", "a\nb\n"), 0);
        cr_assert_eq(R(S, 0, "ab\na\n", "a\nab\n"), 1, "prefixes sort first");
        cr_assert_eq(R(S, 0, "a\0\nb\n", "b\na\0\n"), 1, "NUL bytes");
        cr_assert_eq(R(S, 0, "a\0\nb\n", "b\na\n"), 0);
        cr_assert_eq(R(S, 0, "", "\n\n"), 1);
        cr_assert_eq(R(S, 0, "", ""), 1);
        cr_assert_eq(R(S, 0, "x", ""), 0);
}

Test(checker, lines)
{
        const jr_checker L = JR_CHECKER_LINES;
        cr_assert(M(L, "5\n", "5\n"));
        cr_assert(M(L, "5", "5\n"), "missing final newline");
        cr_assert(M(L, "5\n", "5"));
        cr_assert(M(L, "5   \n", "5\n"), "trailing spaces");
        cr_assert(M(L, "5\t\n", "5\n"), "trailing tab");
        cr_assert(M(L, "5\r\n6\r\n", "5\n6\n"), "CRLF");
        cr_assert(M(L, "5\n6\n", "5\r\n6\r\n"), "CRLF expected");
        cr_assert(M(L, "5\n\n\n", "5\n"), "trailing blank lines");
        cr_assert(M(L, "5\n", "5\n\n  \n\t\n"), "trailing blank lines in expected");
        cr_assert(M(L, "5\n  \r\n", "5"), "blank line of spaces");
        cr_assert(M(L, "", ""));
        cr_assert(M(L, "", "\n\n"));
        cr_assert(M(L, "\n \n", ""));
        cr_assert(M(L, "a b\nc\n", "a b  \nc"));
        cr_assert_not(M(L, "5\n", "6\n"));
        cr_assert_not(M(L, " 5\n", "5\n"), "leading space counts");
        cr_assert_not(M(L, "a  b\n", "a b\n"), "inner space counts");
        cr_assert_not(M(L, "5\n\n6\n", "5\n6\n"), "inner blank line counts");
        cr_assert_not(M(L, "5\n6\n", "5\n"), "extra line");
        cr_assert_not(M(L, "5\n", "5\n6\n"), "missing line");
        cr_assert_not(M(L, "", "5"));
        cr_assert_not(M(L, "5", ""));
        cr_assert_not(M(L, "5\n\nx", "5\n"), "text after blank lines");
        cr_assert_not(M(L, "5\r6\n", "5\n6\n"), "a lone CR does not end a line");
        cr_assert_not(M(L, "50\n", "5\n"));
        cr_assert_not(M(L, "5\n", "50\n"));
}

Test(checker, exact)
{
        const jr_checker X = JR_CHECKER_EXACT;
        cr_assert(M(X, "5\n", "5\n"));
        cr_assert(M(X, "", ""));
        cr_assert_not(M(X, "5", "5\n"));
        cr_assert_not(M(X, "5\r\n", "5\n"));
        cr_assert_not(M(X, "5 \n", "5\n"));
        cr_assert(M(X, "a\0b", "a\0b"));
        cr_assert_not(M(X, "a\0b", "a\0c"));
        cr_assert(jr_checker_match(X, NULL, 0, NULL, 0), "NULL with length 0");
}

Test(checker, tokens)
{
        const jr_checker T = JR_CHECKER_TOKENS;
        cr_assert(M(T, "1 2 3", "1\n2\n3\n"));
        cr_assert(M(T, "  1\t\t2\r\n3  ", "1 2 3"));
        cr_assert(M(T, "", "  \n\t"));
        cr_assert(M(T, "\v\f", ""));
        cr_assert_not(M(T, "1 2", "1 2 3"));
        cr_assert_not(M(T, "1 2 3", "1 2"));
        cr_assert_not(M(T, "12 3", "1 23"));
        cr_assert_not(M(T, "1.0", "1"), "tokens compare as text");
        cr_assert_not(M(T, "a\0b", "a b"), "NUL is not white space");
        cr_assert(M(T, "a\0b \0", "a\0b\n\0"));
}

Test(checker, nul_bytes_in_lines)
{
        const jr_checker L = JR_CHECKER_LINES;
        cr_assert(M(L, "a\0b\n", "a\0b"));
        cr_assert_not(M(L, "a\0\n", "a\n"), "NUL is not trailing white space");
        cr_assert_not(M(L, "a\0b\n", "a\0c\n"));
        cr_assert(jr_checker_match(L, NULL, 0, "\n", 1));
        cr_assert(jr_checker_match(JR_CHECKER_TOKENS, NULL, 0, NULL, 0));
}

/* Multi-megabyte outputs: one pass, no copy. */
Test(checker, large)
{
        size_t n = 8u << 20;
        char *a = malloc(n), *b = malloc(n + 2);
        cr_assert(a && b);
        for (size_t i = 0; i < n; i++)
                a[i] = (i % 64 == 63) ? '\n' : (char)('a' + i % 26);
        memcpy(b, a, n);
        cr_assert(jr_checker_match(JR_CHECKER_LINES, a, n, b, n));
        cr_assert(jr_checker_match(JR_CHECKER_EXACT, a, n, b, n));
        cr_assert(jr_checker_match(JR_CHECKER_TOKENS, a, n, b, n));
        b[n] = '\n';
        b[n + 1] = '\n';
        cr_assert(jr_checker_match(JR_CHECKER_LINES, a, n, b, n + 2));
        cr_assert_not(jr_checker_match(JR_CHECKER_EXACT, a, n, b, n + 2));
        b[n / 2] = b[n / 2] == 'z' ? 'y' : 'z';
        cr_assert_not(jr_checker_match(JR_CHECKER_LINES, a, n, b, n + 2));
        cr_assert_not(jr_checker_match(JR_CHECKER_TOKENS, a, n, b, n + 2));
        /* one enormous line, differing only in trailing white space */
        memset(a, 'x', n);
        memset(b, 'x', n);
        b[n - 1] = ' ';
        cr_assert(jr_checker_match(JR_CHECKER_LINES, a, n - 1, b, n));
        cr_assert_not(jr_checker_match(JR_CHECKER_EXACT, a, n - 1, b, n));
        /* many short lines, sorted the other way round */
        size_t lines = n / 8;
        for (size_t i = 0; i < lines; i++) {
                char num[32];
                snprintf(num, sizeof num, "%07zu\n", i);
                memcpy(a + i * 8, num, 8);
                snprintf(num, sizeof num, "%07zu\n", lines - 1 - i);
                memcpy(b + i * 8, num, 8);
        }
        cr_assert_eq(run(JR_CHECKER_SORTED, 0, a, lines * 8, b, lines * 8), 1);
        cr_assert_eq(run(JR_CHECKER_TOKENS_LINES, 0, a, lines * 8, a, lines * 8), 1);
        cr_assert_eq(run(JR_CHECKER_FLOAT, 1e-9, a, lines * 8, a, lines * 8), 1);
        b[3] = b[3] == '9' ? '8' : '9';
        cr_assert_eq(run(JR_CHECKER_SORTED, 0, a, lines * 8, b, lines * 8), 0);
        free(a);
        free(b);
}
