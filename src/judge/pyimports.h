/* Python's allowed modules (docs/http.md, the Executor Service's
 * EXECUTOR_ALLOWED_MODULES): a static check of a source's imports, so that an import of
 * another module is reported before any test runs.
 *
 * A policy for teaching platforms, not a security boundary: the jail is the boundary.
 * The check reads the import statements the way Python's tokenizer sees them, wherever
 * they are (top level, inside functions, classes, if/try bodies, after ';' or ':'):
 *   import a, b.c as d        a and b.c
 *   from x.y import z, w      x.y (or x.y.z and x.y.w when only those are allowed)
 *   from . import x           ".", a relative import (a single file has no package)
 * and skips comments, strings of every kind (prefixes, triple quotes, escapes, line
 * continuations), and the words "import"/"from" anywhere else ("yield from", "raise ..
 * from", attribute names). A name is allowed when it is in the list or below one of its
 * entries ("os.path" is allowed by "os"); __future__ is always allowed (a compiler
 * directive, not a module). Dynamic imports (__import__, importlib, exec) are not
 * visible here: the run-time guard refuses them with ImportError.
 *
 * No allocation, no failure: bytes in, a verdict out. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

#define JR_PY_MODULE_MAX 256

typedef struct jr_py_import {
        char module[JR_PY_MODULE_MAX]; /* as written, dots joined, cut with "..." when long */
        unsigned line;                 /* 1-based */
} jr_py_import;

/* 1 and *bad (when not NULL) for the first import outside allowed[0..n); 0 when every
 * import is allowed. */
int jr_py_check_imports(const char *src, size_t len, const char *const *allowed, size_t n,
                        jr_py_import *bad);

/* "import of module \"os\" is not allowed (line 3); allowed modules: math, random,
 * statistics" (or "...; no module is allowed"), cut to size. */
void jr_py_import_message(const jr_py_import *bad, const char *const *allowed, size_t n, char *buf,
                          size_t size);

/* Whether name can be an entry of the list: dotted ASCII identifiers ("os.path"), shorter
 * than JR_PY_MODULE_MAX. */
bool jr_py_module_name_valid(const char *name);

/* A JSON array of module names (EXECUTOR_ALLOWED_MODULES, e.g. ["math","random"]):
 * *out is a malloc'd NULL-terminated array of malloc'd names (jr_py_modules_free), *n
 * its length. Each name must be a dotted Python identifier; errors name the element. */
int jr_py_modules_parse(const char *json, char ***out, size_t *n, jr_error *e);
void jr_py_modules_free(char **list);

/* The run-time half of the policy: a sitecustomize.py that replaces builtins.__import__
 * so that an import made by the submission's own code (its file, exec'd strings,
 * __import__ called from it) of a module outside the list raises ImportError, while the
 * library's own imports (frames in the interpreter's lib directories) go through. Put
 * it in a directory on PYTHONPATH of the run. malloc'd; NULL when out of memory. The
 * names must be valid (jr_py_modules_parse checked them). */
char *jr_py_guard_source(const char *const *allowed, size_t n);
