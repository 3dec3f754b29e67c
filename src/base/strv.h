/* String vectors: NULL-terminated arrays of malloc'd strings (argv, envp, word lists),
 * and the shell-like word splitter that makes them from the values of the langs/ and
 * rootfs/ data files. */
#pragma once

#include <stddef.h>

#include "error.h"

/* Free every string and the vector; NULL is fine. */
void jr_strv_free(char **v);
static inline void jr_strv_freep(char ***v)
{
        jr_strv_free(*v);
}
#define _cleanup_strv_ __attribute__((cleanup(jr_strv_freep)))

/* The number of strings; 0 for NULL. */
size_t jr_strv_len(char *const *v);

/* Append the vector add to *v (both malloc'd; *v may be NULL). add's strings move into *v
 * and add itself is freed; on failure both are left as they were. */
int jr_strv_extend(char ***v, char **add, jr_error *e);
/* Append a copy of s to *v. */
int jr_strv_push(char ***v, const char *s, jr_error *e);

/* Split a value into words: white space separates; '...' quotes literally, "..." quotes
 * with \" and \\ escapes. Returns a NULL-terminated malloc'd vector (jr_strv_free) and
 * its length in *n (n may be NULL). */
int jr_strv_split_words(const char *value, char ***out, size_t *n, jr_error *e);
/* The one word of value, as split by jr_strv_split_words: an error when it holds none or
 * several. */
int jr_strv_one_word(const char *value, char **out, jr_error *e);
