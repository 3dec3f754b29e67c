/* Output checkers: does a program's output match the expected output?
 *
 * All work on byte buffers {ptr, len} that may contain NUL bytes and be megabytes
 * long; each is a single O(n) pass with no allocation. */
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
} jr_checker;

/* "lines", "exact", "tokens". */
const char *jr_checker_name(jr_checker c);
/* Name (len bytes, not NUL-terminated) to checker: 0, or -1 for an unknown name with
 * *out untouched. */
int jr_checker_from_name(const char *name, size_t len, jr_checker *out);

/* True when `out` (the program's output) matches `exp` (the expected output). */
bool jr_checker_match(jr_checker c, const char *out, size_t out_len, const char *exp,
                      size_t exp_len);

/* The same on jr_bytes. */
static inline bool jr_checker_compare(jr_checker c, jr_bytes out, jr_bytes exp)
{
        return jr_checker_match(c, out.ptr, out.len, exp.ptr, exp.len);
}
