/* The static check of Python imports (EXECUTOR_ALLOWED_MODULES): every form of import
 * statement, wherever it is, and nothing that only looks like one. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pyimports.h"

static const char *const allowed[] = {"math", "random", "statistics"};

/* NULL when every import is allowed, else "module@line". */
static const char *check(const char *src)
{
        static char out[512];
        jr_py_import bad;
        memset(&bad, 0x55, sizeof bad);
        int r = jr_py_check_imports(src, strlen(src), allowed, 3, &bad);
        if (r == 0)
                return NULL;
        cr_assert_eq(r, 1);
        snprintf(out, sizeof out, "%s@%u", bad.module, bad.line);
        return out;
}

#define OK(src)      cr_assert_null(check(src), "%s -> %s", src, check(src))
#define BAD(src, mv) cr_assert_str_eq(check(src) ? check(src) : "(allowed)", mv, "%s", src)

Test(pyimports, plain_imports)
{
        OK("import math\nprint(math.pi)\n");
        OK("import math, random as r, statistics\n");
        OK("import math.something\n"); /* below an allowed module */
        OK("from math import sqrt, pi as PI\n");
        OK("from random import *\n");
        OK("from statistics import (mean,\n   median,\n)\n");
        OK("from __future__ import annotations\nimport math\n");
        OK("");
        OK("print(1)");
        BAD("import os\n", "os@1");
        BAD("import math, os\n", "os@1");
        BAD("import math as m, sys as s\n", "sys@1");
        BAD("\n\nimport os.path\n", "os.path@3");
        BAD("from os import path\n", "os@1");
        BAD("from os.path import join\n", "os.path@1");
        BAD("from subprocess import *\n", "subprocess@1");
        BAD("from mathx import y\n", "mathx@1"); /* a prefix is not a parent */
        BAD("import maths\n", "maths@1");
}

Test(pyimports, anywhere_a_statement_starts)
{
        BAD("def f():\n    import os\n    return os\n", "os@2");
        BAD("class A:\n    from sys import argv\n", "sys@2");
        BAD("try:\n    import numpy\nexcept ImportError:\n    pass\n", "numpy@2");
        BAD("if True: import os\n", "os@1");
        BAD("x = 1; import os\n", "os@1");
        BAD("x = 1;import os", "os@1");
        BAD("for i in range(3):\n\tfrom socket import socket\n", "socket@2");
        BAD("async def f():\n    import asyncio\n", "asyncio@2");
        BAD("with open('f') as f: import os\n", "os@1");
        BAD("import \\\n    os\n", "os@1"); /* a line join */
        BAD("import os \\\n  . path\n", "os.path@1");
        BAD("\xef\xbb\xbfimport os\n", "os@1"); /* after a byte order mark */
        BAD("import math\r\nimport os\r\n", "os@2");
        BAD("x = (1,\n2)\nimport os\n", "os@3");
}

Test(pyimports, relative_imports_are_not_allowed)
{
        BAD("from . import x\n", ".@1");
        BAD("from .mod import y\n", ".mod@1");
        BAD("from ..a.b import c\n", "..a.b@1");
}

Test(pyimports, words_that_are_not_import_statements)
{
        OK("# import os\n");
        OK("s = 'import os'\n");
        OK("s = \"import os\"\n");
        OK("s = '''\nimport os\n'''\n");
        OK("s = \"\"\"\nimport os\nfrom sys import x\n\"\"\"\n");
        OK("s = r'\\' import os'\n");
        OK("s = b'import os' + rb\"import sys\" + f'{1} import os' + Rb'x'\n");
        OK("s = 'a\\\nimport os'\n"); /* an escaped newline inside a string */
        OK("def g():\n    yield from range(3)\n");
        OK("try:\n    pass\nexcept E as e:\n    raise ValueError() from e\n");
        OK("obj.import_ = 1\nimport_x = 2\nfromage = 3\n");
        OK("d = {1: 2}\nx = [1][0:1]\nf = lambda: 0\n");
        OK("print('x', end='') # from os import path\n");
        OK("x = 1 \\\n  + 2\n");
        OK("'''unterminated\nimport os\n");
        OK("x = 'unterminated\n");
        BAD("x = 'unterminated\nimport os\n", "os@2");
        OK("x = 1.5e3j + 0x1F\n");
        OK("café = 1\nπ = 3.14\n");
}

Test(pyimports, names_longer_than_the_buffer)
{
        char src[1200] = "import ";
        for (int i = 0; i < 100; i++)
                strcat(src, "abcdefghi.");
        strcat(src, "z\n");
        jr_py_import bad;
        const char *const all[] = {"abcdefghi"};
        /* a name longer than the buffer is never allowed, and reported cut */
        cr_assert_eq(jr_py_check_imports(src, strlen(src), all, 1, &bad), 1);
        cr_assert_eq(strlen(bad.module), JR_PY_MODULE_MAX - 1);
        cr_assert(!strcmp(bad.module + strlen(bad.module) - 3, "..."));
}

Test(pyimports, binary_input_never_crashes)
{
        unsigned seed = 12345;
        char buf[512];
        jr_py_import bad;
        const char *frags[] = {"import ", "from ", "'", "\"\"\"", "\\", "\n", "(",    ")",
                               ".",       "os",    ",", ":",      ";",  "#",  " as ", "\r"};
        for (int round = 0; round < 20000; round++) {
                size_t n = 0;
                while (n < sizeof buf - 16) {
                        seed = seed * 1103515245 + 12345;
                        if ((seed >> 16) % 4 == 0) {
                                buf[n++] = (char)(seed >> 8);
                        } else {
                                const char *f = frags[(seed >> 16) % 16];
                                memcpy(buf + n, f, strlen(f));
                                n += strlen(f);
                        }
                        if ((seed >> 20) % 23 == 0)
                                break;
                }
                int r = jr_py_check_imports(buf, n, allowed, 3, &bad);
                cr_assert(r == 0 || r == 1);
                if (r)
                        cr_assert_lt(strlen(bad.module), sizeof bad.module);
        }
}

Test(pyimports, message_names_the_module_and_the_list)
{
        jr_py_import bad = {.module = "os", .line = 3};
        char msg[256];
        jr_py_import_message(&bad, allowed, 3, msg, sizeof msg);
        cr_assert_str_eq(msg, "import of module \"os\" is not allowed (line 3); allowed modules: "
                              "math, random, statistics");
        jr_py_import_message(&bad, allowed, 0, msg, sizeof msg);
        cr_assert_str_eq(msg, "import of module \"os\" is not allowed (line 3); no module is "
                              "allowed");
        char small[20];
        jr_py_import_message(&bad, allowed, 3, small, sizeof small);
        cr_assert_eq(strlen(small), sizeof small - 1);
}

Test(pyimports, allowed_list_from_json)
{
        char **list = NULL;
        size_t n = 9;
        jr_error e = {0};
        cr_assert_eq(jr_py_modules_parse("[\"math\",\"random\",\"os.path\"]", &list, &n, &e), 0,
                     "%s", e.msg);
        cr_assert_eq(n, 3);
        cr_assert_str_eq(list[2], "os.path");
        cr_assert_null(list[3]);
        OK("import math");
        jr_py_import bad;
        const char *src = "from os import path\nimport os.path.x\nfrom os import sep\n";
        cr_assert_eq(jr_py_check_imports(src, strlen(src), (const char *const *)list, n, &bad), 1);
        cr_assert_str_eq(bad.module, "os");
        cr_assert_eq(bad.line, 3);
        jr_py_modules_free(list);

        cr_assert_eq(jr_py_modules_parse("[]", &list, &n, &e), 0, "%s", e.msg);
        cr_assert_eq(n, 0);
        jr_py_modules_free(list);

        const char *bad_json[] = {"",          "math",     "{\"a\":1}", "[1]",      "[\"\"]",
                                  "[\"a b\"]", "[\"1x\"]", "[\"a.\"]",  "[\".a\"]", "[\"a..b\"]"};
        for (size_t i = 0; i < sizeof bad_json / sizeof bad_json[0]; i++) {
                jr_error_clear(&e);
                cr_assert_lt(jr_py_modules_parse(bad_json[i], &list, &n, &e), 0, "%s", bad_json[i]);
                cr_assert(strstr(e.msg, "allowed modules: "), "%s", e.msg);
        }
        cr_assert(strstr(e.msg, "element 0"), "%s", e.msg);
}

/* The names of a list, from the variable or a language file's allowed_modules. */
Test(pyimports, module_names)
{
        const char *good[] = {"math", "os.path", "_x", "a1.b_2.C", "__future__"};
        for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
                cr_assert(jr_py_module_name_valid(good[i]), "%s", good[i]);
        const char *bad[] = {"",    "1x",      "a.", ".a",        "a..b",
                             "a b", "os/path", "é",  "math\"),x", "a-b"};
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
                cr_assert_not(jr_py_module_name_valid(bad[i]), "%s", bad[i]);
        char longest[JR_PY_MODULE_MAX + 1];
        memset(longest, 'm', sizeof longest);
        longest[JR_PY_MODULE_MAX - 1] = '\0';
        cr_assert(jr_py_module_name_valid(longest));
        longest[JR_PY_MODULE_MAX - 1] = 'm';
        longest[JR_PY_MODULE_MAX] = '\0';
        cr_assert_not(jr_py_module_name_valid(longest), "it would not fit jr_py_import");
}

Test(pyimports, guard_source_names_the_list)
{
        char *g = jr_py_guard_source(allowed, 3);
        cr_assert(g);
        cr_assert(strstr(g, "_jr_install(('math','random','statistics',))\n"), "%s", g);
        cr_assert(strstr(g, "builtins.__import__ = guarded"), "%s", g);
        free(g);
        g = jr_py_guard_source(NULL, 0);
        cr_assert(strstr(g, "_jr_install(())\n"), "%s", g);
        free(g);
}
