/* What the bench programs share about the outcome matrix (tests/cases/<lang>/<outcome>.json):
 * which languages it has, and how to make a case's source unique so that nothing can be
 * cached. Header-only with static functions: every .c file of bench/ is a program of its
 * own.
 *
 * The languages are the directories of the cases that name a language file
 * (langs/<lang>.lang, from $JAILRUN_LANGS_DIR or the source tree): tests/cases/checkers
 * is not one. A source is made unique by appending a line comment, with the marker the
 * language file names (its `comment` key, langs/README.md). */
#pragma once

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lang.h"

/* The language files, or exit with the loader's message. */
static inline jr_lang_set *bench_langs(const char *prog)
{
        jr_lang_set *s = NULL;
        jr_error e;
        if (jr_lang_load_dir(jr_lang_default_dir(), &s, &e) < 0) {
                fprintf(stderr, "%s: %s\n", prog, e.msg);
                exit(1);
        }
        return s;
}

/* The languages with a directory in cases_dir, sorted by name, NULL-terminated and
 * malloc'd (the strings belong to the set). Exits when there is none. */
static inline const char **bench_case_langs(const char *prog, const jr_lang_set *s,
                                            const char *cases_dir)
{
        size_t n = jr_lang_count(s), k = 0;
        const char **v = calloc(n + 1, sizeof *v);
        if (!v) {
                fprintf(stderr, "%s: out of memory\n", prog);
                exit(1);
        }
        for (const char *const *name = jr_lang_names(s); *name; name++) {
                char dir[4096];
                struct stat st;
                snprintf(dir, sizeof dir, "%s/%s", cases_dir, *name);
                if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
                        v[k++] = *name;
        }
        if (k == 0) {
                fprintf(stderr, "%s: no language of %s has cases in %s\n", prog,
                        jr_lang_default_dir(), cases_dir);
                exit(1);
        }
        return v;
}

/* src plus a line "<comment> <tag>" (after a newline when src does not end with one);
 * malloc'd. NULL when the language names no comment marker: *why says so. */
static inline char *bench_unique_source(const jr_lang *l, const char *src, const char *tag,
                                        char *why, size_t why_size)
{
        if (!l->comment) {
                snprintf(why, why_size,
                         "%s has no `comment` key: a line cannot be appended to its sources "
                         "(langs/README.md)",
                         l->path);
                return NULL;
        }
        size_t n = strlen(src);
        bool nl = n == 0 || src[n - 1] == '\n';
        size_t size = n + strlen(l->comment) + strlen(tag) + 4;
        char *out = malloc(size);
        if (out)
                snprintf(out, size, "%s%s%s %s\n", src, nl ? "" : "\n", l->comment, tag);
        else
                snprintf(why, why_size, "out of memory");
        return out;
}
