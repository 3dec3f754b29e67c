/* The "KEY = value" line reader. See kvfile.h. */
#include "kvfile.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"

static bool is_space(const jr_kv_format *f, char c)
{
        if (c == ' ' || c == '\t' || c == '\r')
                return true;
        return f->syntax == JR_KV_WORDS && (c == '\n' || c == '\v' || c == '\f');
}

static char *trim(const jr_kv_format *f, char *s)
{
        while (is_space(f, *s))
                s++;
        size_t n = strlen(s);
        while (n > 0 && is_space(f, s[n - 1]))
                s[--n] = '\0';
        return s;
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

static int check_key(const jr_kv_format *f, const char *k, jr_error *e)
{
        if (f->syntax == JR_KV_STRING) {
                bool ok = *k >= 'A' && *k <= 'Z';
                for (const char *p = k; ok && *p; p++)
                        ok = (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_';
                if (!ok)
                        return jr_error_set(e, 0, "\"%s\" is not a key (KEY = value)", k);
                return 0;
        }
        if (!*k)
                return jr_error_set(e, 0, "missing key before '='");
        for (const char *p = k; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
                        return jr_error_set(e, 0, "invalid key \"%s\" (keys are [a-z0-9_]+)", k);
        return 0;
}

/* One line, in place: "key = value" (fn is called) or a blank or comment line. */
static int parse_line(const jr_kv_format *f, char *line, unsigned lineno, jr_kv_fn fn,
                      void *userdata, jr_error *e)
{
        if (f->syntax == JR_KV_WORDS)
                cut_comment(line);
        char *s = trim(f, line);
        if (!*s || (f->syntax == JR_KV_STRING && *s == '#'))
                return 0;
        char *eq = strchr(s, '=');
        if (!eq)
                return jr_error_set(e, 0,
                                    f->syntax == JR_KV_STRING ? "expected KEY = value"
                                                              : "expected \"key = value\"");
        *eq = '\0';
        char *key = trim(f, s);
        if (check_key(f, key, e) < 0)
                return -1;
        /* a JR_KV_STRING value is unquoted by jr_kv_string(), after fn checked the key */
        char *value = f->syntax == JR_KV_STRING ? eq + 1 : trim(f, eq + 1);
        return fn(key, value, lineno, userdata, e);
}

/* A line at a time, each checked against the line limits before it is parsed. */
static int read_lines(const char *path, const jr_kv_format *f, jr_kv_fn fn, void *userdata,
                      jr_error *e)
{
        _cleanup_fclose_ FILE *file = fopen(path, "re");
        if (!file) {
                if (errno == ENOENT && f->missing_ok)
                        return 0;
                return jr_error_errno(e, "%s", path);
        }
        _cleanup_free_ char *line = NULL;
        size_t cap = 0;
        unsigned lineno = 0;
        for (;;) {
                errno = 0;
                ssize_t len = getline(&line, &cap, file);
                if (len < 0) {
                        if (errno != 0)
                                return jr_error_errno(e, "%s:%u", path, lineno + 1);
                        break;
                }
                lineno++;
                if (f->max_lines && lineno > f->max_lines)
                        return jr_error_set(e, 0, "%s:%u: too many lines (at most %u)", path,
                                            lineno, f->max_lines);
                if (f->max_line_bytes && (size_t)len > f->max_line_bytes)
                        return jr_error_set(e, 0, "%s:%u: line too long (at most %zu bytes)", path,
                                            lineno, f->max_line_bytes);
                if (strlen(line) != (size_t)len)
                        return jr_error_set(e, 0, "%s:%u: NUL byte in line", path, lineno);
                if (len > 0 && line[len - 1] == '\n')
                        line[len - 1] = '\0';
                if (parse_line(f, line, lineno, fn, userdata, e) < 0)
                        return jr_error_wrap(e, "%s:%u", path, lineno);
        }
        return 1;
}

/* The whole file into *text (NUL-terminated): 0 when missing and f->missing_ok. */
static int slurp(const char *path, const jr_kv_format *f, char **text, jr_error *e)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0) {
                if (errno == ENOENT && f->missing_ok)
                        return 0;
                return jr_error_errno(e, "open \"%s\"", path);
        }
        struct stat st;
        if (fstat(fd, &st) < 0)
                return jr_error_errno(e, "stat \"%s\"", path);
        if (S_ISDIR(st.st_mode))
                return jr_error_set(e, EISDIR, "\"%s\"", path);
        size_t cap = 4096, n = 0;
        _cleanup_free_ char *buf = malloc(cap + 1);
        if (!buf)
                return jr_error_set(e, ENOMEM, "read \"%s\"", path);
        for (;;) {
                if (n == cap) {
                        if (cap >= f->max_bytes)
                                return jr_error_set(e, 0, "\"%s\": larger than %zu bytes", path,
                                                    f->max_bytes);
                        cap *= 2;
                        char *nb = realloc(buf, cap + 1);
                        if (!nb)
                                return jr_error_set(e, ENOMEM, "read \"%s\"", path);
                        buf = nb;
                }
                ssize_t r = read(fd, buf + n, cap - n);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0)
                        return jr_error_errno(e, "read \"%s\"", path);
                if (r == 0)
                        break;
                n += (size_t)r;
        }
        buf[n] = '\0';
        if (strlen(buf) != n)
                return jr_error_set(e, 0, "\"%s\": a NUL byte in a text file", path);
        *text = TAKE_PTR(buf);
        return 1;
}

/* The whole file first: a file too large or with a NUL byte is refused before any of
 * its lines counts. */
static int read_whole(const char *path, const jr_kv_format *f, jr_kv_fn fn, void *userdata,
                      jr_error *e)
{
        _cleanup_free_ char *text = NULL;
        int r = slurp(path, f, &text, e);
        if (r < 0)
                return f->what ? jr_error_wrap(e, "%s", f->what) : -1;
        if (r == 0)
                return 0;
        unsigned lineno = 0;
        for (char *line = text; line;) {
                char *nl = strchr(line, '\n');
                if (nl)
                        *nl = '\0';
                lineno++;
                if (parse_line(f, line, lineno, fn, userdata, e) < 0)
                        return jr_error_wrap(e, "%s:%u", path, lineno);
                line = nl ? nl + 1 : NULL;
        }
        return 1;
}

int jr_kv_read(const char *path, const jr_kv_format *f, jr_kv_fn fn, void *userdata, jr_error *e)
{
        if (f->max_bytes)
                return read_whole(path, f, fn, userdata, e);
        return read_lines(path, f, fn, userdata, e);
}

static bool is_blank(char c)
{
        return c == ' ' || c == '\t' || c == '\r';
}

int jr_kv_string(char *s, char **out, jr_error *e)
{
        while (is_blank(*s))
                s++;
        char *w = s, *r = s;
        if (*r == '"' || *r == '\'') {
                char q = *r++;
                for (;;) {
                        if (!*r)
                                return jr_error_set(e, 0, "unterminated %c quote", q);
                        if (*r == q)
                                break;
                        if (q == '"' && *r == '\\') {
                                if (r[1] != '"' && r[1] != '\\')
                                        return jr_error_set(e, 0,
                                                            "unknown escape \"\\%c\" (only \\\" "
                                                            "and \\\\)",
                                                            r[1] ? r[1] : ' ');
                                r++;
                        }
                        *w++ = *r++;
                }
                r++;
                while (is_blank(*r))
                        r++;
                if (*r && *r != '#')
                        return jr_error_set(e, 0, "text after the closing quote");
                *w = '\0';
                *out = s;
                return 0;
        }
        /* unquoted: a '#' at the start or after white space starts a comment */
        for (; *r; r++) {
                if (*r == '#' && (r == s || is_blank(r[-1])))
                        break;
                if (*r == '"' || *r == '\'')
                        return jr_error_set(e, 0, "a quote inside a value (quote the whole value)");
        }
        *r = '\0';
        while (r > s && is_blank(r[-1]))
                *--r = '\0';
        *out = s;
        return 0;
}

int jr_kv_file_stem(const char *path, const char *suffix, char **stem, jr_error *e)
{
        const char *base = strrchr(path, '/');
        base = base ? base + 1 : path;
        size_t bl = strlen(base), sl = strlen(suffix);
        if (bl <= sl || strcmp(base + bl - sl, suffix) != 0)
                return jr_error_set(e, EINVAL, "%s: not a %s file", path, suffix);
        *stem = strndup(base, bl - sl);
        if (!*stem)
                return jr_error_errno(e, "out of memory");
        return 0;
}

int jr_kv_dir_each(const char *dir, const char *suffix, const char *what,
                   int (*fn)(const char *path, void *userdata, jr_error *e), void *userdata,
                   jr_error *e)
{
        _cleanup_closedir_ DIR *d = opendir(dir);
        if (!d)
                return jr_error_errno(e, "%s directory \"%s\"", what, dir);
        size_t sl = strlen(suffix);
        struct dirent *de;
        while ((errno = 0, de = readdir(d))) {
                size_t nl = strlen(de->d_name);
                if (de->d_name[0] == '.' || nl <= sl || strcmp(de->d_name + nl - sl, suffix))
                        continue;
                _cleanup_free_ char *path = NULL;
                if (asprintf(&path, "%s/%s", dir, de->d_name) < 0)
                        return jr_error_errno(e, "out of memory");
                if (fn(path, userdata, e) < 0)
                        return -1;
        }
        if (errno != 0)
                return jr_error_errno(e, "%s directory \"%s\"", what, dir);
        return 0;
}
