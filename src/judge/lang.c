/* Parser of the langs/<name>.lang files and expansion of their command templates. */
#include "lang.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "units.h"

#define LINE_MAX_LEN   4096
#define FILE_MAX_LINES 10000

static const char lang_suffix[] = ".lang";

struct jr_lang_set {
        jr_lang **langs; /* sorted by name */
        size_t n;
        const char **names; /* n + 1, NULL-terminated, pointing into langs */
};

/* ---- string vectors ---- */

void jr_lang_strv_free(char **v)
{
        if (!v)
                return;
        for (char **p = v; *p; p++)
                free(*p);
        free(v);
}

size_t jr_lang_strv_len(char *const *v)
{
        size_t n = 0;
        while (v && v[n])
                n++;
        return n;
}

static void strv_freep(char ***v)
{
        jr_lang_strv_free(*v);
}
#define _cleanup_strv_ _cleanup_(strv_freep)

/* Append the NULL-terminated vector add to *v (both malloc'd; add's strings are moved). */
static int strv_extend(char ***v, char **add, jr_error *e)
{
        size_t n = jr_lang_strv_len(*v), m = jr_lang_strv_len(add);
        char **nv = realloc(*v, (n + m + 1) * sizeof *nv);
        if (!nv)
                return jr_error_errno(e, "out of memory");
        memcpy(nv + n, add, m * sizeof *nv);
        nv[n + m] = NULL;
        *v = nv;
        free(add);
        return 0;
}

static int strv_push(char ***v, const char *s, jr_error *e)
{
        char **one = calloc(2, sizeof *one);
        if (!one)
                return jr_error_errno(e, "out of memory");
        one[0] = strdup(s);
        if (!one[0]) {
                free(one);
                return jr_error_errno(e, "out of memory");
        }
        if (strv_extend(v, one, e) < 0) {
                jr_lang_strv_free(one);
                return -1;
        }
        return 0;
}

/* ---- the line reader ---- */

static bool is_space(char c)
{
        return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

static bool is_key_char(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

/* Cut a comment: '#' outside quotes. An unterminated quote is left for the word
 * splitter to report, which knows the value's meaning. */
static void cut_comment(char *s)
{
        char quote = 0;
        for (char *p = s; *p; p++) {
                if (quote == '"' && *p == '\\' && p[1]) {
                        p++;
                } else if (quote) {
                        if (*p == quote)
                                quote = 0;
                } else if (*p == '\'' || *p == '"') {
                        quote = *p;
                } else if (*p == '#') {
                        *p = '\0';
                        return;
                }
        }
}

static char *trim(char *s)
{
        while (is_space(*s))
                s++;
        size_t n = strlen(s);
        while (n > 0 && is_space(s[n - 1]))
                s[--n] = '\0';
        return s;
}

/* One line: "key = value" or nothing. Returns 1 with key/value set, 0 for a blank or
 * comment line, -1 on a syntax error. */
static int parse_line(char *line, char **key, char **value, jr_error *e)
{
        cut_comment(line);
        char *s = trim(line);
        if (!*s)
                return 0;
        char *eq = strchr(s, '=');
        if (!eq)
                return jr_error_set(e, 0, "expected \"key = value\"");
        *eq = '\0';
        char *k = trim(s);
        if (!*k)
                return jr_error_set(e, 0, "missing key before '='");
        for (char *p = k; *p; p++)
                if (!is_key_char(*p))
                        return jr_error_set(e, 0, "invalid key \"%s\" (keys are [a-z0-9_]+)", k);
        *key = k;
        *value = trim(eq + 1);
        return 1;
}

int jr_lang_kv_read(const char *path, jr_lang_kv_fn fn, void *userdata, jr_error *e)
{
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        if (!f)
                return jr_error_errno(e, "%s", path);
        _cleanup_free_ char *line = NULL;
        size_t cap = 0;
        unsigned lineno = 0;
        for (;;) {
                errno = 0;
                ssize_t len = getline(&line, &cap, f);
                if (len < 0) {
                        if (errno != 0)
                                return jr_error_errno(e, "%s:%u", path, lineno + 1);
                        break;
                }
                lineno++;
                if (lineno > FILE_MAX_LINES)
                        return jr_error_set(e, 0, "%s:%u: too many lines (at most %d)", path,
                                            lineno, FILE_MAX_LINES);
                if (len > LINE_MAX_LEN)
                        return jr_error_set(e, 0, "%s:%u: line too long (at most %d bytes)", path,
                                            lineno, LINE_MAX_LEN);
                if (strlen(line) != (size_t)len)
                        return jr_error_set(e, 0, "%s:%u: NUL byte in line", path, lineno);
                char *key = NULL, *value = NULL;
                int r = parse_line(line, &key, &value, e);
                if (r == 0)
                        continue;
                if (r > 0)
                        r = fn(key, value, lineno, userdata, e);
                if (r < 0)
                        return jr_error_wrap(e, "%s:%u", path, lineno);
        }
        return 0;
}

/* ---- words ---- */

int jr_lang_split_words(const char *value, char ***out, size_t *n_out, jr_error *e)
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

/* ---- placeholders ---- */

static const char *const placeholders[] = {"src", "mem_mb", "heap_mb"};

struct vars {
        const char *src;
        uint64_t mem_mb, heap_mb;
};

/* Check (vars == NULL) or expand (into *out) the placeholders of one template. */
static int expand(const char *t, const struct vars *v, char **out, jr_error *e)
{
        _cleanup_free_ char *buf = NULL;
        size_t size = 0;
        _cleanup_fclose_ FILE *m = v ? open_memstream(&buf, &size) : NULL;
        if (v && !m)
                return jr_error_errno(e, "out of memory");
        for (const char *p = t; *p; p++) {
                if (*p != '{') {
                        if (m)
                                fputc(*p, m);
                        continue;
                }
                if (p[1] == '{') {
                        if (m)
                                fputc('{', m);
                        p++;
                        continue;
                }
                const char *end = strchr(p, '}');
                if (!end)
                        return jr_error_set(e, 0, "unterminated placeholder in \"%s\"", t);
                size_t nl = (size_t)(end - p - 1);
                size_t i;
                for (i = 0; i < JR_ARRAY_SIZE(placeholders); i++)
                        if (strlen(placeholders[i]) == nl && !strncmp(p + 1, placeholders[i], nl))
                                break;
                if (i == JR_ARRAY_SIZE(placeholders))
                        return jr_error_set(e, 0,
                                            "unknown placeholder \"%.*s\" in \"%s\" (known: "
                                            "{src}, {mem_mb}, {heap_mb}, {{ for a '{')",
                                            (int)(nl + 2), p, t);
                if (m) {
                        if (i == 0)
                                fputs(v->src, m);
                        else
                                fprintf(m, "%" PRIu64, i == 1 ? v->mem_mb : v->heap_mb);
                }
                p = end;
        }
        if (!m)
                return 0;
        if (fclose(m) != 0) {
                m = NULL;
                return jr_error_errno(e, "out of memory");
        }
        m = NULL;
        *out = TAKE_PTR(buf);
        return 0;
}

/* ---- the .lang file ---- */

enum kind {
        K_NAME,    /* one word: [a-z0-9][a-z0-9_+.-]* */
        K_FILE,    /* one word: a plain file name */
        K_ARGV,    /* words, at least one, placeholders checked */
        K_TIME,    /* duration */
        K_SIZE,    /* byte size */
        K_COUNT,   /* plain integer */
        K_ENV,     /* one word NAME=value, repeatable */
        K_PATTERNS /* words without '/', repeatable */
};

#define FIELD(f) offsetof(jr_lang, f)

static const struct key {
        const char *name;
        enum kind kind;
        size_t off;
} keys[] = {
    {"name", K_NAME, FIELD(name)},
    {"source", K_FILE, FIELD(source)},
    {"build", K_ARGV, FIELD(build)},
    {"build_rootfs", K_NAME, FIELD(build_rootfs)},
    {"build_time", K_TIME, FIELD(build_time_ms)},
    {"build_memory", K_SIZE, FIELD(build_memory_bytes)},
    {"build_pids", K_COUNT, FIELD(build_pids)},
    {"build_nofile", K_COUNT, FIELD(build_nofile)},
    {"build_tmp", K_SIZE, FIELD(build_tmp_bytes)},
    {"run", K_ARGV, FIELD(run)},
    {"run_rootfs", K_NAME, FIELD(run_rootfs)},
    {"run_extra_pids", K_COUNT, FIELD(run_extra_pids)},
    {"min_memory", K_SIZE, FIELD(min_memory_bytes)},
    {"heap_reserve", K_SIZE, FIELD(heap_reserve_bytes)},
    {"env", K_ENV, FIELD(env)},
    {"build_env", K_ENV, FIELD(build_env)},
    {"run_env", K_ENV, FIELD(run_env)},
    {"artifacts", K_PATTERNS, FIELD(artifacts)},
    {"oom_marker", K_PATTERNS, FIELD(oom_markers)},
};

struct lang_parse {
        jr_lang *l;
        unsigned seen[JR_ARRAY_SIZE(keys)]; /* line of the first occurrence */
};

static bool valid_name(const char *s)
{
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9')))
                return false;
        for (; *s; s++)
                if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' ||
                      *s == '-' || *s == '+' || *s == '.'))
                        return false;
        return true;
}

static bool valid_file_name(const char *s)
{
        return *s && *s != '-' && !strchr(s, '/') && strcmp(s, ".") && strcmp(s, "..");
}

static bool valid_env_name(const char *s, size_t n)
{
        if (n == 0 || (s[0] >= '0' && s[0] <= '9'))
                return false;
        for (size_t i = 0; i < n; i++)
                if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
                      (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
                        return false;
        return true;
}

/* The value as exactly one word. */
static int one_word(const char *key, const char *value, char **out, jr_error *e)
{
        _cleanup_strv_ char **w = NULL;
        size_t n;
        if (jr_lang_split_words(value, &w, &n, e) < 0)
                return jr_error_wrap(e, "%s", key);
        if (n != 1)
                return jr_error_set(e, 0, "%s: expected one word, got %zu", key, n);
        *out = TAKE_PTR(w[0]);
        w[0] = w[1]; /* keep the vector NULL-terminated for the cleanup */
        return 0;
}

static int lang_kv(const char *key, const char *value, unsigned lineno, void *userdata, jr_error *e)
{
        struct lang_parse *lp = userdata;
        size_t i;
        for (i = 0; i < JR_ARRAY_SIZE(keys); i++)
                if (!strcmp(keys[i].name, key))
                        break;
        if (i == JR_ARRAY_SIZE(keys))
                return jr_error_set(e, 0, "unknown key \"%s\"", key);
        const struct key *k = &keys[i];
        bool repeatable = k->kind == K_ENV || k->kind == K_PATTERNS;
        if (lp->seen[i] && !repeatable)
                return jr_error_set(e, 0, "duplicate key \"%s\" (first on line %u)", key,
                                    lp->seen[i]);
        if (!lp->seen[i])
                lp->seen[i] = lineno;
        void *field = (char *)lp->l + k->off;

        switch (k->kind) {
        case K_NAME:
        case K_FILE: {
                _cleanup_free_ char *w = NULL;
                if (one_word(key, value, &w, e) < 0)
                        return -1;
                if (k->kind == K_NAME && !valid_name(w))
                        return jr_error_set(
                            e, 0, "%s: invalid name \"%s\" (use [a-z0-9][a-z0-9_+.-]*)", key, w);
                if (k->kind == K_FILE && !valid_file_name(w))
                        return jr_error_set(e, 0, "%s: \"%s\" is not a plain file name", key, w);
                *(char **)field = TAKE_PTR(w);
                return 0;
        }
        case K_ARGV: {
                _cleanup_strv_ char **w = NULL;
                size_t n;
                if (jr_lang_split_words(value, &w, &n, e) < 0)
                        return jr_error_wrap(e, "%s", key);
                if (n == 0)
                        return jr_error_set(e, 0, "%s: empty command", key);
                for (size_t j = 0; j < n; j++)
                        if (expand(w[j], NULL, NULL, e) < 0)
                                return jr_error_wrap(e, "%s", key);
                *(char ***)field = TAKE_PTR(w);
                return 0;
        }
        case K_TIME:
                if (jr_parse_duration_ms(value, (uint64_t *)field, e) < 0)
                        return jr_error_wrap(e, "%s", key);
                return 0;
        case K_SIZE:
                if (jr_parse_size(value, (uint64_t *)field, e) < 0)
                        return jr_error_wrap(e, "%s", key);
                return 0;
        case K_COUNT:
                if (jr_parse_uint(value, 1000000, (uint64_t *)field, e) < 0)
                        return jr_error_wrap(e, "%s", key);
                return 0;
        case K_ENV: {
                _cleanup_free_ char *w = NULL;
                if (one_word(key, value, &w, e) < 0)
                        return -1;
                const char *eq = strchr(w, '=');
                if (!eq || !valid_env_name(w, (size_t)(eq - w)))
                        return jr_error_set(e, 0, "%s: expected NAME=value, got \"%s\"", key, w);
                if (expand(w, NULL, NULL, e) < 0)
                        return jr_error_wrap(e, "%s", key);
                return strv_push((char ***)field, w, e);
        }
        case K_PATTERNS: {
                _cleanup_strv_ char **w = NULL;
                size_t n;
                if (jr_lang_split_words(value, &w, &n, e) < 0)
                        return jr_error_wrap(e, "%s", key);
                if (n == 0)
                        return jr_error_set(e, 0, "%s: empty list", key);
                for (size_t j = 0; j < n; j++)
                        if (!valid_file_name(w[j]))
                                return jr_error_set(e, 0,
                                                    "%s: \"%s\" is not a file name pattern (no "
                                                    "'/', not . or ..)",
                                                    key, w[j]);
                if (strv_extend((char ***)field, w, e) < 0)
                        return -1;
                w = NULL;
                return 0;
        }
        }
        return jr_error_set(e, EINVAL, "internal: key kind");
}

void jr_lang_free(jr_lang *l)
{
        if (!l)
                return;
        free(l->name);
        free(l->path);
        free(l->source);
        jr_lang_strv_free(l->build);
        free(l->build_rootfs);
        jr_lang_strv_free(l->run);
        free(l->run_rootfs);
        jr_lang_strv_free(l->env);
        jr_lang_strv_free(l->build_env);
        jr_lang_strv_free(l->run_env);
        jr_lang_strv_free(l->artifacts);
        jr_lang_strv_free(l->oom_markers);
        free(l);
}

static void lang_freep(jr_lang **l)
{
        jr_lang_free(*l);
}

static unsigned seen_line(const struct lang_parse *lp, const char *key)
{
        for (size_t i = 0; i < JR_ARRAY_SIZE(keys); i++)
                if (!strcmp(keys[i].name, key))
                        return lp->seen[i];
        return 0;
}

/* Cross-field rules, defaults, and the name = file name rule. */
static int lang_finish(struct lang_parse *lp, const char *stem, unsigned *line, jr_error *e)
{
        jr_lang *l = lp->l;
        static const char *const required[] = {"name", "source", "run", "run_rootfs"};
        for (size_t r = 0; r < JR_ARRAY_SIZE(required); r++)
                if (!seen_line(lp, required[r]))
                        return jr_error_set(e, 0, "missing key \"%s\"", required[r]);
        *line = seen_line(lp, "name");
        if (strcmp(l->name, stem) != 0)
                return jr_error_set(e, 0, "name \"%s\" does not match the file name \"%s%s\"",
                                    l->name, stem, lang_suffix);
        *line = 0;
        if (l->build && !l->build_rootfs)
                return jr_error_set(e, 0, "\"build\" needs \"build_rootfs\"");
        if (!l->build) {
                static const char *const build_only[] = {
                    "build_rootfs", "build_time", "build_memory", "build_pids",
                    "build_nofile", "build_tmp",  "build_env"};
                for (size_t b = 0; b < JR_ARRAY_SIZE(build_only); b++)
                        if ((*line = seen_line(lp, build_only[b])))
                                return jr_error_set(e, 0, "\"%s\" without \"build\"",
                                                    build_only[b]);
        } else {
                if (!l->build_time_ms)
                        l->build_time_ms = 30000;
                if (!l->build_memory_bytes)
                        l->build_memory_bytes = 512ULL << 20;
                if (!l->build_pids)
                        l->build_pids = 64;
        }
        if (l->build_memory_bytes && l->heap_reserve_bytes >= l->build_memory_bytes)
                return jr_error_set(e, 0, "heap_reserve is not below build_memory");
        /* so that {heap_mb} is never 0 or negative for a run */
        if (l->heap_reserve_bytes && l->heap_reserve_bytes >= l->min_memory_bytes)
                return jr_error_set(e, 0, "heap_reserve needs a larger min_memory");
        return 0;
}

int jr_lang_load_file(const char *path, jr_lang **out, jr_error *e)
{
        const char *base = strrchr(path, '/');
        base = base ? base + 1 : path;
        size_t bl = strlen(base), sl = strlen(lang_suffix);
        if (bl <= sl || strcmp(base + bl - sl, lang_suffix) != 0)
                return jr_error_set(e, EINVAL, "%s: not a %s file", path, lang_suffix);
        _cleanup_free_ char *stem = strndup(base, bl - sl);
        _cleanup_(lang_freep) jr_lang *l = calloc(1, sizeof *l);
        if (!stem || !l)
                return jr_error_errno(e, "out of memory");
        l->path = strdup(path);
        if (!l->path)
                return jr_error_errno(e, "out of memory");
        struct lang_parse lp = {.l = l};
        if (jr_lang_kv_read(path, lang_kv, &lp, e) < 0)
                return -1;
        unsigned line = 0;
        if (lang_finish(&lp, stem, &line, e) < 0)
                return line ? jr_error_wrap(e, "%s:%u", path, line) : jr_error_wrap(e, "%s", path);
        *out = TAKE_PTR(l);
        return 0;
}

/* ---- the set ---- */

void jr_lang_set_free(jr_lang_set *s)
{
        if (!s)
                return;
        for (size_t i = 0; i < s->n; i++)
                jr_lang_free(s->langs[i]);
        free(s->langs);
        free(s->names);
        free(s);
}

static void set_freep(jr_lang_set **s)
{
        jr_lang_set_free(*s);
}

static int by_name(const void *a, const void *b)
{
        return strcmp((*(jr_lang *const *)a)->name, (*(jr_lang *const *)b)->name);
}

int jr_lang_load_dir(const char *dir, jr_lang_set **out, jr_error *e)
{
        _cleanup_closedir_ DIR *d = opendir(dir);
        if (!d)
                return jr_error_errno(e, "languages directory \"%s\"", dir);
        _cleanup_(set_freep) jr_lang_set *s = calloc(1, sizeof *s);
        if (!s)
                return jr_error_errno(e, "out of memory");
        size_t sl = strlen(lang_suffix);
        struct dirent *de;
        while ((errno = 0, de = readdir(d))) {
                size_t nl = strlen(de->d_name);
                if (de->d_name[0] == '.' || nl <= sl || strcmp(de->d_name + nl - sl, lang_suffix))
                        continue;
                _cleanup_free_ char *path = NULL;
                if (asprintf(&path, "%s/%s", dir, de->d_name) < 0)
                        return jr_error_errno(e, "out of memory");
                jr_lang **nl2 = realloc(s->langs, (s->n + 1) * sizeof *nl2);
                if (!nl2)
                        return jr_error_errno(e, "out of memory");
                s->langs = nl2;
                if (jr_lang_load_file(path, &s->langs[s->n], e) < 0)
                        return -1;
                s->n++;
        }
        if (errno != 0)
                return jr_error_errno(e, "languages directory \"%s\"", dir);
        if (s->n == 0)
                return jr_error_set(e, ENOENT, "languages directory \"%s\": no *%s files", dir,
                                    lang_suffix);
        qsort(s->langs, s->n, sizeof *s->langs, by_name);
        s->names = calloc(s->n + 1, sizeof *s->names);
        if (!s->names)
                return jr_error_errno(e, "out of memory");
        for (size_t i = 0; i < s->n; i++)
                s->names[i] = s->langs[i]->name;
        *out = TAKE_PTR(s);
        return 0;
}

const jr_lang *jr_lang_find(const jr_lang_set *s, const char *name)
{
        for (size_t i = 0; s && name && i < s->n; i++)
                if (!strcmp(s->langs[i]->name, name))
                        return s->langs[i];
        return NULL;
}

size_t jr_lang_count(const jr_lang_set *s)
{
        return s ? s->n : 0;
}

const jr_lang *jr_lang_get(const jr_lang_set *s, size_t i)
{
        return s && i < s->n ? s->langs[i] : NULL;
}

const char *const *jr_lang_names(const jr_lang_set *s)
{
        return s->names;
}

const char *jr_lang_default_dir(void)
{
        const char *env = getenv("JAILRUN_LANGS_DIR");
        if (env && *env)
                return env;
#ifdef JR_SOURCE_DIR
        struct stat st;
        if (stat(JR_SOURCE_DIR "/langs", &st) == 0 && S_ISDIR(st.st_mode))
                return JR_SOURCE_DIR "/langs";
#endif
        return "/usr/share/jailrun/langs";
}

/* ---- commands ---- */

uint64_t jr_lang_memory(const jr_lang *l, uint64_t requested_bytes)
{
        return requested_bytes < l->min_memory_bytes ? l->min_memory_bytes : requested_bytes;
}

void jr_lang_cmd_free(jr_lang_cmd *c)
{
        if (!c)
                return;
        jr_lang_strv_free(c->argv);
        jr_lang_strv_free(c->envp);
        c->argv = c->envp = NULL;
}

static int expand_all(char *const *t, const struct vars *v, char ***out, jr_error *e)
{
        size_t n = jr_lang_strv_len(t);
        _cleanup_strv_ char **r = calloc(n + 1, sizeof *r);
        if (!r)
                return jr_error_errno(e, "out of memory");
        for (size_t i = 0; i < n; i++)
                if (expand(t[i], v, &r[i], e) < 0)
                        return -1;
        *out = TAKE_PTR(r);
        return 0;
}

/* Put "NAME=value" into env, replacing an entry with the same NAME. */
static int env_set(char ***env, char *entry, jr_error *e)
{
        size_t nl = (size_t)(strchr(entry, '=') - entry);
        for (char **p = *env; p && *p; p++)
                if (!strncmp(*p, entry, nl + 1)) {
                        free(*p);
                        *p = entry;
                        return 0;
                }
        char **one = calloc(2, sizeof *one);
        if (!one)
                return jr_error_errno(e, "out of memory");
        one[0] = entry;
        if (strv_extend(env, one, e) < 0) {
                free(one);
                return -1;
        }
        return 0;
}

int jr_lang_command(const jr_lang *l, jr_lang_step step, uint64_t mem_bytes, jr_lang_cmd *out,
                    jr_error *e)
{
        char *const *argt = step == JR_LANG_BUILD ? l->build : l->run;
        char *const *envt = step == JR_LANG_BUILD ? l->build_env : l->run_env;
        if (!argt)
                return jr_error_set(e, EINVAL, "language \"%s\" has no %s step", l->name,
                                    step == JR_LANG_BUILD ? "build" : "run");
        if (mem_bytes < (1ULL << 20))
                return jr_error_set(
                    e, EINVAL, "language \"%s\": memory limit %" PRIu64 " bytes is below 1 MiB",
                    l->name, mem_bytes);
        struct vars v = {.src = l->source, .mem_mb = mem_bytes >> 20};
        uint64_t reserve = l->heap_reserve_bytes >> 20;
        v.heap_mb = v.mem_mb > reserve ? v.mem_mb - reserve : 1;

        jr_lang_cmd c = {0};
        if (expand_all(argt, &v, &c.argv, e) < 0)
                goto fail;
        c.envp = calloc(1, sizeof *c.envp);
        if (!c.envp) {
                jr_error_errno(e, "out of memory");
                goto fail;
        }
        char *const *lists[] = {l->env, envt};
        for (size_t li = 0; li < JR_ARRAY_SIZE(lists); li++)
                for (char *const *p = lists[li]; p && *p; p++) {
                        char *entry;
                        if (expand(*p, &v, &entry, e) < 0)
                                goto fail;
                        if (env_set(&c.envp, entry, e) < 0) {
                                free(entry);
                                goto fail;
                        }
                }
        *out = c;
        return 0;
fail:
        jr_lang_cmd_free(&c);
        return jr_error_wrap(e, "language \"%s\"", l->name);
}

bool jr_lang_is_artifact(const jr_lang *l, const char *file_name)
{
        if (!file_name || !valid_file_name(file_name))
                return false;
        for (char *const *p = l->artifacts; p && *p; p++)
                if (fnmatch(*p, file_name, FNM_PERIOD) == 0)
                        return true;
        return false;
}

bool jr_lang_output_says_oom(const jr_lang *l, const char *buf, size_t n)
{
        for (char *const *m = l->oom_markers; buf && m && *m; m++)
                if (memmem(buf, n, *m, strlen(*m)))
                        return true;
        return false;
}
