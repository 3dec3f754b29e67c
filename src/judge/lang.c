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

#include "artifacts.h"
#include "cleanup.h"
#include "kvfile.h"
#include "paths.h"
#include "pyimports.h"
#include "strv.h"
#include "units.h"

#define LINE_MAX_LEN   4096
#define FILE_MAX_LINES 10000

static const char lang_suffix[] = ".lang";

struct jr_lang_set {
        jr_lang **langs; /* sorted by name */
        size_t n;
        const char **names; /* n + 1, NULL-terminated, pointing into langs */
};

/* The langs/ and rootfs/ data files: kvfile.h's JR_KV_WORDS syntax, a line at a time. */
const jr_kv_format jr_lang_kv_format = {
    .syntax = JR_KV_WORDS,
    .max_lines = FILE_MAX_LINES,
    .max_line_bytes = LINE_MAX_LEN,
};

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
        K_NAME,     /* one word: [a-z0-9][a-z0-9_+.-]* */
        K_FILE,     /* one word: a plain file name */
        K_ARGV,     /* words, at least one, placeholders checked */
        K_TIME,     /* duration */
        K_SIZE,     /* byte size */
        K_COUNT,    /* plain integer */
        K_ENV,      /* one word NAME=value, repeatable */
        K_PATTERNS, /* words without '/', repeatable */
        K_CHECK,    /* FILE FORMAT MESSAGE (artifact.h) */
        K_MODULES,  /* Python module names, repeatable; none at all is a list too */
        K_WORD,     /* one word, any characters but white space */
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
    {"artifact_check", K_CHECK, FIELD(artifact_check)},
    {"allowed_modules", K_MODULES, FIELD(allowed_modules)},
    {"comment", K_WORD, FIELD(comment)},
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
        if (jr_strv_one_word(value, out, e) < 0)
                return jr_error_wrap(e, "%s", key);
        return 0;
}

static int lang_kv(const char *key, char *value, unsigned lineno, void *userdata, jr_error *e)
{
        struct lang_parse *lp = userdata;
        size_t i;
        for (i = 0; i < JR_ARRAY_SIZE(keys); i++)
                if (!strcmp(keys[i].name, key))
                        break;
        if (i == JR_ARRAY_SIZE(keys))
                return jr_error_set(e, 0, "unknown key \"%s\"", key);
        const struct key *k = &keys[i];
        bool repeatable = k->kind == K_ENV || k->kind == K_PATTERNS || k->kind == K_MODULES;
        if (lp->seen[i] && !repeatable)
                return jr_error_set(e, 0, "duplicate key \"%s\" (first on line %u)", key,
                                    lp->seen[i]);
        if (!lp->seen[i])
                lp->seen[i] = lineno;
        void *field = (char *)lp->l + k->off;

        switch (k->kind) {
        case K_WORD:
                return one_word(key, value, (char **)field, e);
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
                if (jr_strv_split_words(value, &w, &n, e) < 0)
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
                return jr_strv_push((char ***)field, w, e);
        }
        case K_PATTERNS: {
                _cleanup_strv_ char **w = NULL;
                size_t n;
                if (jr_strv_split_words(value, &w, &n, e) < 0)
                        return jr_error_wrap(e, "%s", key);
                if (n == 0)
                        return jr_error_set(e, 0, "%s: empty list", key);
                for (size_t j = 0; j < n; j++)
                        if (!valid_file_name(w[j]))
                                return jr_error_set(e, 0,
                                                    "%s: \"%s\" is not a file name pattern (no "
                                                    "'/', not . or ..)",
                                                    key, w[j]);
                if (jr_strv_extend((char ***)field, w, e) < 0)
                        return -1;
                w = NULL;
                return 0;
        }
        case K_MODULES: {
                _cleanup_strv_ char **w = NULL;
                if (jr_strv_split_words(value, &w, NULL, e) < 0)
                        return jr_error_wrap(e, "%s", key);
                for (char **m = w; *m; m++)
                        if (!jr_py_module_name_valid(*m))
                                return jr_error_set(e, 0,
                                                    "%s: \"%s\" is not a module name such as "
                                                    "math or os.path",
                                                    key, *m);
                if (jr_strv_extend((char ***)field, w, e) < 0)
                        return -1;
                w = NULL;
                return 0;
        }
        case K_CHECK: {
                _cleanup_strv_ char **w = NULL;
                size_t n;
                if (jr_strv_split_words(value, &w, &n, e) < 0)
                        return jr_error_wrap(e, "%s", key);
                if (n != 3 || !*w[2])
                        return jr_error_set(e, 0, "%s: expected FILE FORMAT \"MESSAGE\"", key);
                if (!valid_file_name(w[0]))
                        return jr_error_set(e, 0, "%s: \"%s\" is not a plain file name", key, w[0]);
                if (jr_artifact_format_valid(w[1], e) < 0)
                        return jr_error_wrap(e, "%s", key);
                *(char ***)field = TAKE_PTR(w);
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
        jr_strv_free(l->build);
        free(l->build_rootfs);
        jr_strv_free(l->run);
        free(l->run_rootfs);
        jr_strv_free(l->env);
        jr_strv_free(l->build_env);
        jr_strv_free(l->run_env);
        jr_strv_free(l->artifacts);
        jr_strv_free(l->oom_markers);
        jr_strv_free(l->artifact_check);
        jr_strv_free(l->allowed_modules);
        free(l->comment);
        free(l);
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
        if (!seen_line(lp, "min_memory"))
                l->min_memory_bytes = JR_LANG_MIN_MEMORY;
        if (l->min_memory_bytes < JR_LANG_MIN_MEMORY) {
                *line = seen_line(lp, "min_memory");
                return jr_error_set(e, 0, "min_memory is below the least of any run, %llu bytes",
                                    (unsigned long long)JR_LANG_MIN_MEMORY);
        }
        if (l->artifact_check && !jr_lang_is_artifact(l, l->artifact_check[0])) {
                *line = seen_line(lp, "artifact_check");
                return jr_error_set(e, 0, "artifact_check: \"%s\" is not one of the artifacts",
                                    l->artifact_check[0]);
        }
        if (l->allowed_modules && !jr_lang_is_python(l)) {
                *line = seen_line(lp, "allowed_modules");
                return jr_error_set(e, 0,
                                    "allowed_modules: only for Python, a language whose source "
                                    "is a .py file, not \"%s\"",
                                    l->source);
        }
        /* so that {heap_mb} is never 0 or negative for a run */
        if (l->heap_reserve_bytes && l->heap_reserve_bytes >= l->min_memory_bytes)
                return jr_error_set(e, 0, "heap_reserve needs a larger min_memory");
        return 0;
}

int jr_lang_load_file(const char *path, jr_lang **out, jr_error *e)
{
        _cleanup_free_ char *stem = NULL;
        if (jr_kv_file_stem(path, lang_suffix, &stem, e) < 0)
                return -1;
        _cleanup_lang_ jr_lang *l = calloc(1, sizeof *l);
        if (!l || !(l->path = strdup(path)))
                return jr_error_errno(e, "out of memory");
        struct lang_parse lp = {.l = l};
        if (jr_kv_read(path, &jr_lang_kv_format, lang_kv, &lp, e) < 0)
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

static int by_name(const void *a, const void *b)
{
        return strcmp((*(jr_lang *const *)a)->name, (*(jr_lang *const *)b)->name);
}

static int add_lang(const char *path, void *userdata, jr_error *e)
{
        jr_lang_set *s = userdata;
        jr_lang **nl = realloc(s->langs, (s->n + 1) * sizeof *nl);
        if (!nl)
                return jr_error_errno(e, "out of memory");
        s->langs = nl;
        if (jr_lang_load_file(path, &s->langs[s->n], e) < 0)
                return -1;
        s->n++;
        return 0;
}

int jr_lang_load_dir(const char *dir, jr_lang_set **out, jr_error *e)
{
        _cleanup_lang_set_ jr_lang_set *s = calloc(1, sizeof *s);
        if (!s)
                return jr_error_errno(e, "out of memory");
        if (jr_kv_dir_each(dir, lang_suffix, "languages", add_lang, s, e) < 0)
                return -1;
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

#ifdef JR_SOURCE_DIR
#define SOURCE_LANGS JR_SOURCE_DIR "/langs"
#else
#define SOURCE_LANGS NULL
#endif

const char *jr_lang_default_dir(void)
{
        return jr_default_dir("JAILRUN_LANGS_DIR", SOURCE_LANGS, "/usr/share/jailrun/langs");
}

bool jr_lang_is_python(const jr_lang *l)
{
        size_t n = strlen(l->source);
        return n > 3 && !strcmp(l->source + n - 3, ".py");
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
        jr_strv_free(c->argv);
        jr_strv_free(c->envp);
        c->argv = c->envp = NULL;
}

static int expand_all(char *const *t, const struct vars *v, char ***out, jr_error *e)
{
        size_t n = jr_strv_len(t);
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
        if (jr_strv_extend(env, one, e) < 0) {
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
