/* UTF-8: the one sequence checker of the program (the message writer and the JSON
 * logs make untrusted bytes valid JSON strings with it). */
#pragma once

#include <stddef.h>

/* Length of the valid UTF-8 sequence at s (1..4; at most n bytes, n >= 1), or 0 when it
 * is not valid: an overlong form, a surrogate, beyond U+10FFFF, a bad or missing
 * continuation byte. Then *bad (when not NULL) is the length of its maximal valid
 * prefix (at least 1): the bytes that one U+FFFD replaces in Unicode's "maximal
 * subpart" practice. */
size_t jr_utf8_seq(const unsigned char *s, size_t n, size_t *bad);
