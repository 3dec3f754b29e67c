/* String vectors and the word splitter. See strv.h. */
#include "strv.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"

void jr_strv_free(char **v)
{
        if (!v)
                return;
        for (char **p = v; *p; p++)
                free(*p);
        free(v);
}

size_t jr_strv_len(char *const *v)
{
        size_t n = 0;
        while (v && v[n])
                n++;
        return n;
}

int jr_strv_extend(char ***v, char **add, jr_error *e)
{
        size_t n = jr_strv_len(*v), m = jr_strv_len(add);
        char **nv = realloc(*v, (n + m + 1) * sizeof *nv);
        if (!nv)
                return jr_error_errno(e, "out of memory");
        memcpy(nv + n, add, m * sizeof *nv);
        nv[n + m] = NULL;
        *v = nv;
        free(add);
        return 0;
}

int jr_strv_push(char ***v, const char *s, jr_error *e)
{
        char **one = calloc(2, sizeof *one);
        if (!one)
                return jr_error_errno(e, "out of memory");
        one[0] = strdup(s);
        if (!one[0]) {
                free(one);
                return jr_error_errno(e, "out of memory");
        }
        if (jr_strv_extend(v, one, e) < 0) {
                jr_strv_free(one);
                return -1;
        }
        return 0;
}

static bool is_space(char c)
{
        return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

int jr_strv_split_words(const char *value, char ***out, size_t *n_out, jr_error *e)
{
        size_t len = strlen(value);
        _cleanup_strv_ char **words = calloc(1, sizeof *words);
        _cleanup_free_ char *buf = malloc(len + 1);
        if (!words || !buf)
                return jr_error_errno(e, "out of memory");
        size_t n = 0;
        const char *p = value;
        for (;;) {
                while (is_space(*p))
                        p++;
                if (!*p)
                        break;
                size_t o = 0;
                while (*p && !is_space(*p)) {
                        if (*p == '\'') {
                                const char *end = strchr(p + 1, '\'');
                                if (!end)
                                        return jr_error_set(e, 0, "unterminated ' quote");
                                memcpy(buf + o, p + 1, (size_t)(end - p - 1));
                                o += (size_t)(end - p - 1);
                                p = end + 1;
                        } else if (*p == '"') {
                                for (p++; *p != '"'; p++) {
                                        if (!*p)
                                                return jr_error_set(e, 0, "unterminated \" quote");
                                        if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
                                                p++;
                                        buf[o++] = *p;
                                }
                                p++;
                        } else {
                                buf[o++] = *p++;
                        }
                }
                char *w = strndup(buf, o);
                char **nw = w ? realloc(words, (n + 2) * sizeof *nw) : NULL;
                if (!nw) {
                        free(w);
                        return jr_error_errno(e, "out of memory");
                }
                words = nw;
                words[n++] = w;
                words[n] = NULL;
        }
        if (n_out)
                *n_out = n;
        *out = TAKE_PTR(words);
        return 0;
}

int jr_strv_one_word(const char *value, char **out, jr_error *e)
{
        _cleanup_strv_ char **w = NULL;
        size_t n;
        if (jr_strv_split_words(value, &w, &n, e) < 0)
                return -1;
        if (n != 1)
                return jr_error_set(e, 0, "expected one word, got %zu", n);
        *out = TAKE_PTR(w[0]);
        w[0] = w[1]; /* keep the vector NULL-terminated for the cleanup */
        return 0;
}
