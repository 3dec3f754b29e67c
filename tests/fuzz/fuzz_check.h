/* The fuzz targets' invariants beyond "no crash, no leak, no UB": one that fails aborts
 * with its text and place, and libFuzzer reports the input that broke it. */
#pragma once

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_tree.h>

#include "bytes.h"

#define CHECK(cond)                                                                                \
        do {                                                                                       \
                if (!(cond)) {                                                                     \
                        fprintf(stderr, "invariant failed: %s (%s:%d)\n", #cond, __FILE__,         \
                                __LINE__);                                                         \
                        abort();                                                                   \
                }                                                                                  \
        } while (0)

/* A generated message: NUL-terminated at its length, no NUL inside (they are escaped),
 * and valid JSON, whatever bytes went in. Returns it parsed (the caller frees it). */
static inline yajl_val fuzz_check_json(const jr_buf *b)
{
        CHECK(b->ptr && b->ptr[b->len] == '\0');
        CHECK(strlen(b->ptr) == b->len);
        char err[256];
        yajl_val v = yajl_tree_parse(b->ptr, err, sizeof err);
        if (!v) {
                fprintf(stderr, "generated invalid JSON (%s): %.*s\n", err, (int)b->len, b->ptr);
                abort();
        }
        return v;
}
