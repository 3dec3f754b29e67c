/* "KEY = value" files: the one line reader of the language files (langs/<name>.lang), the
 * rootfs recipes (rootfs/<tree>.rootfs) and the configuration file (jailrun.conf).
 *
 * What every format shares: one "key = value" per line, blank lines skipped, white
 * space around '=' and at the ends dropped, the key checked against its syntax, and
 * every error prefixed with "path:line: ". Where the formats differ, the jr_kv_format
 * says how (langs/README.md and src/service/config.h document the two formats):
 *
 *                    data files (JR_KV_WORDS)          configuration (JR_KV_STRING)
 *   keys             [a-z0-9_]+                        [A-Z][A-Z0-9_]*
 *   comments         '#' outside quotes, anywhere      a line starting with '#'; in the
 *                                                      value, see jr_kv_string()
 *   the value        trimmed, quotes kept: words for   as written after '=', for
 *                    jr_strv_split_words()             jr_kv_string() to unquote
 *   white space      " \t\r\n\v\f"                     " \t\r"
 *   the file         read a line at a time within      read whole within max_bytes (no
 *                    max_lines of max_line_bytes       NUL anywhere); may be missing */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

typedef enum jr_kv_syntax {
        JR_KV_WORDS,  /* the langs/ and rootfs/ data files */
        JR_KV_STRING, /* the configuration file */
} jr_kv_syntax;

typedef struct jr_kv_format {
        jr_kv_syntax syntax;
        /* > 0: read the file whole first, an error past max_bytes (errors of the file
         * itself then start with `what`, e.g. "config"). 0: a line at a time. */
        size_t max_bytes;
        const char *what;
        /* Line at a time: at most max_lines lines of at most max_line_bytes bytes,
         * newline included (0: no limit). */
        unsigned max_lines;
        size_t max_line_bytes;
        /* A missing file is no error: jr_kv_read returns 0 without calling fn. */
        bool missing_ok;
} jr_kv_format;

/* Called for each "key = value" line; lineno counts from 1. Return < 0 with e set to a
 * message without the file name (the reader adds "path:line: "). */
typedef int (*jr_kv_fn)(const char *key, char *value, unsigned lineno, void *userdata, jr_error *e);

/* Read path in format f, calling fn for each line. Returns 1 when the file was read, 0
 * when it is missing and f->missing_ok, < 0 on the first error. */
int jr_kv_read(const char *path, const jr_kv_format *f, jr_kv_fn fn, void *userdata, jr_error *e);

/* The value of a JR_KV_STRING line, unquoted in place: "..." (with \" and \\ escapes) or
 * '...' (literal) whole, with only a comment after the closing quote; else the bare text
 * up to a '#' at its start or after white space (a comment), without a quote inside.
 * *out points into s. */
int jr_kv_string(char *s, char **out, jr_error *e);

/* ---- directories of data files (langs/, rootfs/) ---- */

/* The name of path without its directory and suffix ("langs/c.lang", ".lang": "c"), or
 * EINVAL "<path>: not a <suffix> file". *stem is malloc'd. */
int jr_kv_file_stem(const char *path, const char *suffix, char **stem, jr_error *e);

/* Call fn with the path "dir/name" of each file of dir whose name ends in suffix and
 * does not start with '.', in directory order; stops at fn's first error. An error of
 * the directory itself reads `<what> directory "<dir>": ...`. */
int jr_kv_dir_each(const char *dir, const char *suffix, const char *what,
                   int (*fn)(const char *path, void *userdata, jr_error *e), void *userdata,
                   jr_error *e);
