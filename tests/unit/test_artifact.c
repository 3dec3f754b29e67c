/* The build-output checks of src/judge/artifacts.c: ELF executables against archives and
 * objects, Java class files by the class they define (built here byte by byte, with the
 * constants that take two pool entries and a truncated pool), and the format names. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "artifacts.h"
#include "testutil.h"

/* An unlinked temporary file holding n bytes of p, open for reading. */
static int file_of(const void *p, size_t n)
{
        char path[] = "/tmp/jr-artifact-test.XXXXXX";
        int fd = mkstemp(path);
        cr_assert(fd >= 0);
        unlink(path);
        cr_assert_eq(write(fd, p, n), (ssize_t)n);
        return fd;
}

/* Check n bytes of p against format: the return value, and the phrase in why. */
static int check(const void *p, size_t n, const char *format, char why[256])
{
        int fd = file_of(p, n);
        jr_error e = {0};
        why[0] = '\0';
        int r = jr_artifact_check(fd, "out", format, why, 256, &e);
        cr_assert_geq(r, 0, "%s", e.msg);
        close(fd);
        return r;
}

Test(artifact, format_names)
{
        jr_error e = {0};
        cr_assert_eq(jr_artifact_format_valid("elf-executable", &e), 0);
        cr_assert_eq(jr_artifact_format_valid("java-class:Main", &e), 0);
        cr_assert_lt(jr_artifact_format_valid("elf", &e), 0);
        cr_assert(strstr(e.msg, "unknown format \"elf\""), "%s", e.msg);
        cr_assert_lt(jr_artifact_format_valid("java-class:", &e), 0);
        cr_assert_lt(jr_artifact_format_valid("java-class:a/Main", &e), 0);
        cr_assert_lt(jr_artifact_format_valid("java-class:a.Main", &e), 0);
}

/* The first 18 bytes of an ELF header: e_ident and e_type. */
static void elf_header(unsigned char h[64], unsigned char cls, unsigned char data, unsigned type)
{
        memset(h, 0, 64);
        memcpy(h,
               "\x7f"
               "ELF",
               4);
        h[4] = cls;
        h[5] = data;
        h[6] = 1;
        if (data == 1) {
                h[16] = (unsigned char)type;
                h[17] = (unsigned char)(type >> 8);
        } else {
                h[16] = (unsigned char)(type >> 8);
                h[17] = (unsigned char)type;
        }
}

Test(artifact, elf_executable)
{
        char why[256];
        unsigned char h[64];
        /* this test program itself (a PIE: ET_DYN) */
        int self = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
        jr_error e = {0};
        cr_assert_eq(jr_artifact_check(self, "self", "elf-executable", why, sizeof why, &e), 0,
                     "%s", why);
        close(self);

        elf_header(h, 2, 1, 2); /* ET_EXEC, 64-bit little-endian: a static binary */
        cr_assert_eq(check(h, sizeof h, "elf-executable", why), 0, "%s", why);
        elf_header(h, 1, 2, 2); /* 32-bit big-endian */
        cr_assert_eq(check(h, sizeof h, "elf-executable", why), 0, "%s", why);

        elf_header(h, 2, 1, 1); /* ET_REL */
        cr_assert_eq(check(h, sizeof h, "elf-executable", why), 1);
        cr_assert_str_eq(why, "\"out\" is an ELF relocatable object, not an executable");

        /* what go build writes for a package that is not main */
        static const char ar[] = "!<arch>\n__.PKGDEF       0           0     0     644     7 `\n";
        cr_assert_eq(check(ar, sizeof ar - 1, "elf-executable", why), 1);
        cr_assert_str_eq(why, "\"out\" is an ar archive (a library), not an executable");

        cr_assert_eq(check("", 0, "elf-executable", why), 1);
        cr_assert_str_eq(why, "\"out\" is not an ELF executable");
        cr_assert_eq(check("#!/bin/sh\n", 10, "elf-executable", why), 1);
        cr_assert_eq(check("\x7f"
                           "ELF",
                           4, "elf-executable", why),
                     1, "truncated header");
}

/* A class file: magic, version 61, a pool of `pool` (count entries), then access flags
 * and this_class. */
struct cls {
        unsigned char b[512];
        size_t n;
};

static void put(struct cls *c, const void *p, size_t n)
{
        cr_assert_leq(c->n + n, sizeof c->b);
        memcpy(c->b + c->n, p, n);
        c->n += n;
}

static void put2(struct cls *c, unsigned v)
{
        unsigned char b[2] = {(unsigned char)(v >> 8), (unsigned char)v};
        put(c, b, 2);
}

static void utf8(struct cls *c, const char *s)
{
        put(c, "\x01", 1);
        put2(c, (unsigned)strlen(s));
        put(c, s, strlen(s));
}

/* Pool: 1 Long (entries 1-2), 3 Utf8 name, 4 Class -> 3, 5 Utf8 "java/lang/Object",
 * 6 Class -> 5, 7 MethodHandle, 8 Integer; this_class 4. */
static struct cls class_named(const char *name)
{
        struct cls c = {.n = 0};
        put(&c, "\xca\xfe\xba\xbe\x00\x00\x00\x3d", 8);
        put2(&c, 9);
        put(&c, "\x05\x00\x00\x00\x00\x00\x00\x00\x07", 9);
        utf8(&c, name);
        put(&c, "\x07\x00\x03", 3);
        utf8(&c, "java/lang/Object");
        put(&c, "\x07\x00\x05", 3);
        put(&c, "\x0f\x06\x00\x01", 4);
        put(&c, "\x03\x00\x00\x00\x2a", 5);
        put2(&c, 0x21); /* public super */
        put2(&c, 4);
        put2(&c, 6);
        return c;
}

Test(artifact, java_class)
{
        char why[256];
        struct cls c = class_named("Main");
        cr_assert_eq(check(c.b, c.n, "java-class:Main", why), 0, "%s", why);

        c = class_named("foo/Main"); /* package foo; */
        cr_assert_eq(check(c.b, c.n, "java-class:Main", why), 1);
        cr_assert_str_eq(why, "\"out\" holds class foo.Main");
        c = class_named("Solution");
        cr_assert_eq(check(c.b, c.n, "java-class:Main", why), 1);
        cr_assert_str_eq(why, "\"out\" holds class Solution");
        c = class_named("Main\"\n");
        cr_assert_eq(check(c.b, c.n, "java-class:Main", why), 1);
        cr_assert_str_eq(why, "\"out\" holds class Main??", "unusual bytes are not echoed");

        /* every shorter prefix of a valid class file is refused, none read out of bounds */
        c = class_named("Main");
        for (size_t n = 0; n < c.n - 2; n++)
                cr_assert_eq(check(c.b, n, "java-class:Main", why), 1, "prefix of %zu bytes", n);

        /* this_class naming something that is not a Class constant */
        c = class_named("Main");
        c.b[c.n - 3] = 3;
        cr_assert_eq(check(c.b, c.n, "java-class:Main", why), 1);
        cr_assert_str_eq(why, "\"out\" is not a valid Java class file");
        /* an unknown constant tag */
        c = class_named("Main");
        c.b[10] = 99;
        cr_assert_eq(check(c.b, c.n, "java-class:Main", why), 1);

        cr_assert_eq(check("\x7f"
                           "ELF",
                           4, "java-class:Main", why),
                     1);
        cr_assert_str_eq(why, "\"out\" is not a Java class file");
}
