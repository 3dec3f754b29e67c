/* Output checkers: lines (default), exact, tokens. */
#include <criterion/criterion.h>
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
        free(a);
        free(b);
}
