/* Byte strings: a borrowed jr_bytes {ptr, len} and an owned jr_buf. Payloads (sources,
 * stdin, outputs, ids) may hold NUL bytes: use len, never strlen. And the growth of
 * malloc'd arrays. */
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

/* A malloc'd copy of the n bytes at p with a NUL after them (a byte string may hold NUL
 * bytes, so strndup would cut it); p may be NULL when n is 0. NULL when out of memory. */
char *jr_memdup(const void *p, size_t n);

/* Room for `need` elements of `size` bytes in the malloc'd array that `array` points to
 * (a T **; *array may be NULL) of *cap elements: when need > *cap, it is realloc'd to
 * twice *cap, or `first` (> 0) when *cap is 0, doubled until need fits. 0; or -1 with errno
 * ENOMEM, the array and *cap as they were. */
int jr_grow(void *array, size_t *cap, size_t need, size_t size, size_t first);
