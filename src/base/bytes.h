/* Byte strings: a borrowed jr_bytes {ptr, len} and an owned jr_buf. Payloads (sources,
 * stdin, outputs, ids) may hold NUL bytes: use len, never strlen. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

/* A borrowed byte string; ptr may be NULL when len is 0. */
typedef struct jr_bytes {
        const char *ptr;
        size_t len;
} jr_bytes;

/* An owned byte string: ptr is malloc'd and NUL-terminated; release with free(ptr). */
typedef struct jr_buf {
        char *ptr;
        size_t len;
} jr_buf;

#define JR_BYTES_LIT(lit) ((jr_bytes){"" lit, sizeof(lit) - 1})

static inline jr_bytes jr_bytes_cstr(const char *s)
{
        return (jr_bytes){s, s ? strlen(s) : 0};
}

static inline bool jr_bytes_eq(jr_bytes a, const char *s)
{
        size_t n = strlen(s);
        return a.len == n && (n == 0 || memcmp(a.ptr, s, n) == 0);
}
