/* The static check of a Python source's imports. See pyimports.h. */
#include "pyimports.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_tree.h>

#include "cleanup.h"
#include "strv.h"

/* ---- a tokenizer that knows just enough of Python's lexical rules ---- */

enum tok_type {
        T_END,
        T_NEWLINE, /* end of a logical line (outside brackets) */
        T_NAME,
        T_OP,    /* one character: . , ( ) ; : * and the rest */
        T_OTHER, /* strings, numbers */
};

struct tok {
        enum tok_type type;
        const char *p;
        size_t len;
        unsigned line;
        unsigned depth; /* brackets open before this token */
};

struct lexer {
        const char *p, *end;
        unsigned line, depth;
        struct tok pushed;
        bool has_pushed;
};

static bool name_start(unsigned char c)
{
        /* bytes >= 0x80: the UTF-8 of a non-ASCII identifier */
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80;
}

static bool name_char(unsigned char c)
{
        return name_start(c) || (c >= '0' && c <= '9');
}

/* r, b, u, f and the two-letter combinations Python accepts, any case. */
static bool string_prefix(const char *p, size_t n)
{
        if (n == 0 || n > 2)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!strchr("rRbBuUfF", p[i]))
                        return false;
        return true;
}

/* Skip a string starting at the quote lx->p points to. An unterminated string runs to
 * the end of its line (one quote) or of the source (three): Python's compile reports it,
 * as a build failure. */
static void skip_string(struct lexer *lx)
{
        char q = *lx->p;
        bool triple = lx->end - lx->p >= 3 && lx->p[1] == q && lx->p[2] == q;
        lx->p += triple ? 3 : 1;
        while (lx->p < lx->end) {
                char c = *lx->p;
                if (c == '\\') {
                        /* an escaped quote or newline does not end anything, in raw
                         * strings too */
                        if (lx->p + 1 < lx->end && lx->p[1] == '\n')
                                lx->line++;
                        lx->p += 2;
                        continue;
                }
                if (c == '\n') {
                        if (!triple)
                                return; /* the newline still ends the statement */
                        lx->line++;
                }
                if (c == q) {
                        if (!triple) {
                                lx->p++;
                                return;
                        }
                        if (lx->end - lx->p >= 3 && lx->p[1] == q && lx->p[2] == q) {
                                lx->p += 3;
                                return;
                        }
                }
                lx->p++;
        }
        if (lx->p > lx->end)
                lx->p = lx->end;
}

static struct tok next(struct lexer *lx)
{
        if (lx->has_pushed) {
                lx->has_pushed = false;
                return lx->pushed;
        }
        for (;;) {
                struct tok t = {.type = T_END, .p = lx->p, .line = lx->line, .depth = lx->depth};
                if (lx->p >= lx->end)
                        return t;
                unsigned char c = (unsigned char)*lx->p;
                if (c == ' ' || c == '\t' || c == '\f' || c == '\r') {
                        lx->p++;
                        continue;
                }
                if (c == '\\' && lx->p + 1 < lx->end &&
                    (lx->p[1] == '\n' ||
                     (lx->p[1] == '\r' && lx->p + 2 < lx->end && lx->p[2] == '\n'))) {
                        /* an explicit line join */
                        lx->p += lx->p[1] == '\n' ? 2 : 3;
                        lx->line++;
                        continue;
                }
                if (c == '#') {
                        while (lx->p < lx->end && *lx->p != '\n')
                                lx->p++;
                        continue;
                }
                if (c == '\n') {
                        lx->p++;
                        lx->line++;
                        if (lx->depth > 0)
                                continue; /* implicit line joining inside brackets */
                        t.type = T_NEWLINE;
                        return t;
                }
                if (c == '\'' || c == '"') {
                        skip_string(lx);
                        t.type = T_OTHER;
                        return t;
                }
                if (name_start(c)) {
                        const char *s = lx->p;
                        while (lx->p < lx->end && name_char((unsigned char)*lx->p))
                                lx->p++;
                        if (lx->p < lx->end && (*lx->p == '\'' || *lx->p == '"') &&
                            string_prefix(s, (size_t)(lx->p - s))) {
                                skip_string(lx);
                                t.type = T_OTHER;
                                return t;
                        }
                        t.type = T_NAME;
                        t.len = (size_t)(lx->p - s);
                        return t;
                }
                if (c >= '0' && c <= '9') {
                        /* digits, letters (0x, 1e5, 1j), underscores and dots (1.5) */
                        while (lx->p < lx->end &&
                               (name_char((unsigned char)*lx->p) || *lx->p == '.'))
                                lx->p++;
                        t.type = T_OTHER;
                        return t;
                }
                lx->p++;
                if (c == '(' || c == '[' || c == '{')
                        lx->depth++;
                else if ((c == ')' || c == ']' || c == '}') && lx->depth > 0)
                        lx->depth--;
                t.type = T_OP;
                t.len = 1;
                return t;
        }
}

static void push(struct lexer *lx, struct tok t)
{
        lx->pushed = t;
        lx->has_pushed = true;
}

static bool is_name(struct tok t, const char *word)
{
        size_t n = strlen(word);
        return t.type == T_NAME && t.len == n && memcmp(t.p, word, n) == 0;
}

static bool is_op(struct tok t, char c)
{
        return t.type == T_OP && t.p[0] == c;
}

/* ---- module names ---- */

struct name {
        char s[JR_PY_MODULE_MAX];
        size_t len;
        bool cut; /* longer than the buffer: never allowed */
};

static void name_add(struct name *n, const char *p, size_t len)
{
        if (n->cut || n->len + len >= sizeof n->s) {
                size_t room = sizeof n->s - 1 - (n->cut ? sizeof n->s - 1 : n->len);
                memcpy(n->s + n->len, p, room);
                n->len += room;
                n->s[n->len] = '\0';
                n->cut = true;
                return;
        }
        memcpy(n->s + n->len, p, len);
        n->len += len;
        n->s[n->len] = '\0';
}

/* NAME ('.' NAME)*; false when the first token is not a name. */
static bool dotted(struct lexer *lx, struct name *n)
{
        struct tok t = next(lx);
        if (t.type != T_NAME) {
                push(lx, t);
                return false;
        }
        name_add(n, t.p, t.len);
        for (;;) {
                t = next(lx);
                if (!is_op(t, '.')) {
                        push(lx, t);
                        return true;
                }
                struct tok u = next(lx);
                if (u.type != T_NAME) {
                        push(lx, u);
                        return true;
                }
                name_add(n, ".", 1);
                name_add(n, u.p, u.len);
        }
}

static bool allowed_name(const struct name *n, const char *const *allowed, size_t count)
{
        if (n->cut)
                return false;
        if (!strcmp(n->s, "__future__"))
                return true;
        for (size_t i = 0; i < count; i++) {
                size_t a = strlen(allowed[i]);
                if (a && n->len >= a && !memcmp(n->s, allowed[i], a) &&
                    (n->len == a || n->s[a] == '.'))
                        return true;
        }
        return false;
}

static void report(jr_py_import *bad, const struct name *n, unsigned line)
{
        if (!bad)
                return;
        if (n->cut)
                snprintf(bad->module, sizeof bad->module, "%.*s...", (int)(sizeof bad->module - 4),
                         n->s);
        else
                snprintf(bad->module, sizeof bad->module, "%s", n->s);
        bad->line = line;
}

/* After a name of an import list: skip its "as NAME"; true when a ',' follows (then
 * another name), false (the token after it pushed back) at the list's end. */
static bool more_names(struct lexer *lx)
{
        struct tok t = next(lx);
        if (is_name(t, "as")) {
                next(lx);
                t = next(lx);
        }
        if (!is_op(t, ',')) {
                push(lx, t);
                return false;
        }
        return true;
}

/* After "import": a, b.c as d, ... */
static int import_stmt(struct lexer *lx, unsigned line, const char *const *allowed, size_t count,
                       jr_py_import *bad)
{
        for (;;) {
                struct name n = {0};
                if (!dotted(lx, &n))
                        return 0; /* a syntax error: the build reports it */
                if (!allowed_name(&n, allowed, count)) {
                        report(bad, &n, line);
                        return 1;
                }
                if (!more_names(lx))
                        return 0;
        }
}

/* After "from": [dots] [dotted] import (names | '(' names ')' | '*') */
static int from_stmt(struct lexer *lx, unsigned line, const char *const *allowed, size_t count,
                     jr_py_import *bad)
{
        struct name mod = {0};
        struct tok t;
        while (is_op(t = next(lx), '.'))
                name_add(&mod, ".", 1);
        push(lx, t);
        bool relative = mod.len > 0;
        if (!(relative && is_name(t, "import")) && !dotted(lx, &mod) && !relative)
                return 0;
        t = next(lx);
        if (!is_name(t, "import")) {
                push(lx, t);
                return 0;
        }
        if (!relative && allowed_name(&mod, allowed, count))
                return 0;
        if (relative) {
                report(bad, &mod, line);
                return 1;
        }
        /* the module itself is not allowed: each imported name may still be an allowed
         * submodule (from os import path, with "os.path" in the list) */
        t = next(lx);
        bool paren = is_op(t, '(');
        if (!paren)
                push(lx, t);
        for (;;) {
                t = next(lx);
                if (t.type != T_NAME) {
                        push(lx, t);
                        report(bad, &mod, line); /* '*', or a syntax error */
                        return 1;
                }
                struct name sub = mod;
                name_add(&sub, ".", 1);
                name_add(&sub, t.p, t.len);
                if (!allowed_name(&sub, allowed, count)) {
                        report(bad, &mod, line);
                        return 1;
                }
                if (!more_names(lx))
                        return 0;
                if (paren) {
                        t = next(lx);
                        push(lx, t);
                        if (is_op(t, ')'))
                                return 0; /* a trailing comma */
                }
        }
}

int jr_py_check_imports(const char *src, size_t len, const char *const *allowed, size_t n,
                        jr_py_import *bad)
{
        struct lexer lx = {.p = src, .end = src + len, .line = 1};
        /* a UTF-8 byte order mark */
        if (len >= 3 && !memcmp(src, "\xef\xbb\xbf", 3))
                lx.p += 3;
        bool start = true;
        for (;;) {
                struct tok t = next(&lx);
                if (t.type == T_END)
                        return 0;
                if (start && is_name(t, "import")) {
                        if (import_stmt(&lx, t.line, allowed, n, bad))
                                return 1;
                        start = false;
                        continue;
                }
                if (start && is_name(t, "from")) {
                        if (from_stmt(&lx, t.line, allowed, n, bad))
                                return 1;
                        start = false;
                        continue;
                }
                /* a statement starts after a newline, a ';', or the ':' of a compound
                 * statement's header ("if x: import os"); a ':' inside brackets is a
                 * slice, a dict or a lambda */
                start = t.type == T_NEWLINE ||
                        (t.type == T_OP && t.depth == 0 && (t.p[0] == ';' || t.p[0] == ':'));
        }
}

void jr_py_import_message(const jr_py_import *bad, const char *const *allowed, size_t n, char *buf,
                          size_t size)
{
        if (size == 0)
                return;
        int w = snprintf(buf, size, "import of module \"%s\" is not allowed (line %u); ",
                         bad->module, bad->line);
        size_t off = w < 0 ? 0 : (size_t)w;
        if (off >= size)
                return;
        if (n == 0) {
                snprintf(buf + off, size - off, "no module is allowed");
                return;
        }
        w = snprintf(buf + off, size - off, "allowed modules:");
        for (size_t i = 0; i < n && w >= 0 && (off += (size_t)w) < size; i++)
                w = snprintf(buf + off, size - off, "%s %s", i ? "," : "", allowed[i]);
}

/* ---- the list ---- */

void jr_py_modules_free(char **list)
{
        jr_strv_free(list);
}

bool jr_py_module_name_valid(const char *s)
{
        /* dotted ASCII identifiers: what an import statement can name */
        if (strlen(s) >= JR_PY_MODULE_MAX)
                return false;
        bool want_start = true;
        for (; *s; s++) {
                unsigned char c = (unsigned char)*s;
                if (c == '.') {
                        if (want_start)
                                return false;
                        want_start = true;
                        continue;
                }
                if (c >= 0x80 || !name_char(c) || (want_start && !name_start(c)))
                        return false;
                want_start = false;
        }
        return !want_start;
}

int jr_py_modules_parse(const char *json, char ***out, size_t *count, jr_error *e)
{
        char err[256];
        yajl_val v = yajl_tree_parse(json, err, sizeof err);
        if (!v)
                return jr_error_set(e, EINVAL, "allowed modules: not JSON: %s", err);
        if (!YAJL_IS_ARRAY(v)) {
                yajl_tree_free(v);
                return jr_error_set(e, EINVAL,
                                    "allowed modules: must be a JSON array of module names, "
                                    "e.g. [\"math\",\"random\"]");
        }
        size_t n = v->u.array.len;
        _cleanup_strv_ char **list = calloc(n + 1, sizeof *list);
        int ret = list ? 0 : jr_error_set(e, ENOMEM, "allowed modules: allocate");
        for (size_t i = 0; i < n && ret == 0; i++) {
                yajl_val s = v->u.array.values[i];
                if (!YAJL_IS_STRING(s) || !jr_py_module_name_valid(s->u.string))
                        ret = jr_error_set(e, EINVAL,
                                           "allowed modules: element %zu: must be a module name "
                                           "such as \"math\" or \"os.path\"",
                                           i);
                else if (!(list[i] = strdup(s->u.string)))
                        ret = jr_error_set(e, ENOMEM, "allowed modules: allocate");
        }
        yajl_tree_free(v);
        if (ret < 0)
                return ret;
        *out = TAKE_PTR(list);
        *count = n;
        return 0;
}

/* ---- the run-time guard ---- */

static const char guard_head[] =
    "# jailrun: the allowed-modules policy (EXECUTOR_ALLOWED_MODULES or the language\n"
    "# file), for teaching platforms; not a security boundary (the jail is). An import\n"
    "# made by the program's own code of a module outside the list raises ImportError;\n"
    "# imports made by the library's own code are not affected.\n"
    "def _jr_install(allowed):\n"
    "    import builtins, sys\n"
    "    real = builtins.__import__\n"
    "    getframe = sys._getframe\n"
    "    lib = tuple({p + '/lib/' for p in (sys.prefix, sys.base_prefix, sys.exec_prefix,\n"
    "                                       '/usr/local')})\n"
    "    shown = ', '.join(allowed) or 'none'\n"
    "    def ok(name):\n"
    "        return name == '__future__' or any(\n"
    "            name == a or name.startswith(a + '.') for a in allowed)\n"
    "    def guarded(name, globals=None, locals=None, fromlist=(), level=0):\n"
    "        fn = getframe(1).f_code.co_filename\n"
    "        if not (fn.startswith(lib) or fn.startswith('<frozen ')):\n"
    "            if level:\n"
    "                raise ImportError('relative import is not allowed (allowed modules: '\n"
    "                                  + shown + ')', name=name)\n"
    "            if not ok(name) and not (fromlist and all(\n"
    "                    x != '*' and ok(name + '.' + x) for x in fromlist)):\n"
    "                raise ImportError('import of module %r is not allowed (allowed '\n"
    "                                  'modules: %s)' % (name, shown), name=name)\n"
    "        return real(name, globals, locals, fromlist, level)\n"
    "    builtins.__import__ = guarded\n"
    "_jr_install((";

static const char guard_tail[] = "))\n"
                                 "del _jr_install\n";

char *jr_py_guard_source(const char *const *allowed, size_t n)
{
        size_t len = sizeof guard_head + sizeof guard_tail;
        for (size_t i = 0; i < n; i++)
                len += strlen(allowed[i]) + 4;
        char *out = malloc(len);
        if (!out)
                return NULL;
        size_t o = (size_t)snprintf(out, len, "%s", guard_head);
        for (size_t i = 0; i < n; i++)
                o += (size_t)snprintf(out + o, len - o, "'%s',", allowed[i]);
        snprintf(out + o, len - o, "%s", guard_tail);
        return out;
}
