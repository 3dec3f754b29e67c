/* Build artifacts carried out of a jail-written directory, and checked by file format.
 * See artifacts.h. */
#include "artifacts.h"

#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "io.h"

int jr_carry_artifacts(const char *from_dir, const char *to_dir, const jr_lang *lang, jr_error *e)
{
        _cleanup_close_ int bfd = open(from_dir, O_DIRECTORY | O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        _cleanup_close_ int rfd = open(to_dir, O_DIRECTORY | O_PATH | O_CLOEXEC);
        if (bfd < 0 || rfd < 0)
                return jr_error_errno(e, "open the work directories");
        int dfd = dup(bfd);
        DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
        if (!d) {
                if (dfd >= 0)
                        close(dfd);
                return jr_error_errno(e, "read \"%s\"", from_dir);
        }
        _cleanup_closedir_ DIR *dir = d;
        struct dirent *de;
        char buf[65536];
        while ((de = readdir(dir))) {
                if (de->d_name[0] == '.' && (!de->d_name[1] || !strcmp(de->d_name, "..")))
                        continue;
                if (!jr_lang_is_artifact(lang, de->d_name))
                        continue;
                _cleanup_close_ int in =
                    openat(bfd, de->d_name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
                if (in < 0)
                        continue; /* a symlink or a vanished file is no artifact */
                struct stat st;
                if (fstat(in, &st) < 0 || !S_ISREG(st.st_mode))
                        continue;
                _cleanup_close_ int outfd = openat(
                    rfd, de->d_name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0755);
                if (outfd < 0)
                        return jr_error_errno(e, "create artifact \"%s\"", de->d_name);
                ssize_t n;
                while ((n = read(in, buf, sizeof buf)) > 0)
                        if (jr_write_all(outfd, buf, (size_t)n) < 0)
                                return jr_error_errno(e, "copy artifact \"%s\"", de->d_name);
                if (n < 0)
                        return jr_error_errno(e, "read artifact \"%s\"", de->d_name);
        }
        return 0;
}

/* ---- the check by format ---- */

#define JAVA_CLASS_PREFIX "java-class:"

int jr_artifact_format_valid(const char *format, jr_error *e)
{
        if (!strcmp(format, "elf-executable"))
                return 0;
        if (!strncmp(format, JAVA_CLASS_PREFIX, strlen(JAVA_CLASS_PREFIX))) {
                const char *name = format + strlen(JAVA_CLASS_PREFIX);
                if (!*name || strpbrk(name, "/.;[ "))
                        return jr_error_set(e, 0,
                                            "format \"%s\": a class name without a package "
                                            "after \"" JAVA_CLASS_PREFIX "\"",
                                            format);
                return 0;
        }
        return jr_error_set(
            e, 0, "unknown format \"%s\" (known: elf-executable, " JAVA_CLASS_PREFIX "NAME)",
            format);
}

/* ---- ELF ---- */

static int check_elf(const unsigned char *p, size_t n, const char *name, char *why, size_t size)
{
        static const char ar_magic[] = "!<arch>\n";
        if (n >= sizeof ar_magic - 1 && !memcmp(p, ar_magic, sizeof ar_magic - 1)) {
                snprintf(why, size, "\"%s\" is an ar archive (a library), not an executable", name);
                return 1;
        }
        /* e_type follows the 16 bytes of e_ident in both ELF classes */
        if (n < EI_NIDENT + 2 || memcmp(p, ELFMAG, SELFMAG) ||
            (p[EI_CLASS] != ELFCLASS32 && p[EI_CLASS] != ELFCLASS64) ||
            (p[EI_DATA] != ELFDATA2LSB && p[EI_DATA] != ELFDATA2MSB)) {
                snprintf(why, size, "\"%s\" is not an ELF executable", name);
                return 1;
        }
        unsigned type = p[EI_DATA] == ELFDATA2LSB ? p[EI_NIDENT] | (unsigned)p[EI_NIDENT + 1] << 8
                                                  : (unsigned)p[EI_NIDENT] << 8 | p[EI_NIDENT + 1];
        if (type == ET_EXEC || type == ET_DYN)
                return 0;
        snprintf(why, size, "\"%s\" is an ELF %s, not an executable", name,
                 type == ET_REL    ? "relocatable object"
                 : type == ET_CORE ? "core dump"
                                   : "file");
        return 1;
}

/* ---- Java class files (JVM specification, chapter 4) ---- */

struct reader {
        const unsigned char *p;
        size_t n, at;
        bool bad;
};

static unsigned u1(struct reader *r)
{
        if (r->at + 1 > r->n) {
                r->bad = true;
                return 0;
        }
        return r->p[r->at++];
}

static unsigned u2(struct reader *r)
{
        unsigned hi = u1(r);
        return hi << 8 | u1(r);
}

static void skip(struct reader *r, size_t k)
{
        if (r->n - r->at < k) {
                r->bad = true;
                return;
        }
        r->at += k;
}

/* A class name for a message: '/' shown as '.', anything unusual as '?', cut. */
static void show_name(const unsigned char *s, size_t len, char *out, size_t size)
{
        size_t o = 0;
        for (size_t i = 0; i < len && o + 4 < size; i++) {
                unsigned char c = s[i];
                out[o++] = c == '/' ? '.' : (c > 0x20 && c < 0x7f && c != '"') ? (char)c : '?';
                if (i == 80 && len > 82) {
                        memcpy(out + o, "...", 3);
                        o += 3;
                        break;
                }
        }
        out[o] = '\0';
}

/* Skip the body of a constant whose tag was just read; false for an unknown tag. Long
 * and Double take two entries of the pool. */
static bool skip_constant(struct reader *r, unsigned tag, unsigned *slots)
{
        *slots = 1;
        switch (tag) {
        case 1: /* Utf8 */
                skip(r, u2(r));
                return true;
        case 7:  /* Class */
        case 8:  /* String */
        case 16: /* MethodType */
        case 19: /* Module */
        case 20: /* Package */
                skip(r, 2);
                return true;
        case 15: /* MethodHandle */
                skip(r, 3);
                return true;
        case 3:  /* Integer */
        case 4:  /* Float */
        case 9:  /* Fieldref */
        case 10: /* Methodref */
        case 11: /* InterfaceMethodref */
        case 12: /* NameAndType */
        case 17: /* Dynamic */
        case 18: /* InvokeDynamic */
                skip(r, 4);
                return true;
        case 5: /* Long */
        case 6: /* Double */
                skip(r, 8);
                *slots = 2;
                return true;
        }
        return false;
}

/* Put r after the tag of constant `index` (1 .. count-1) of the pool that starts at
 * `pool`; returns that tag, 0 when the pool is broken. index == count walks the whole
 * pool and leaves r after it (returns 1 when it is whole). */
static unsigned seek_constant(struct reader *r, size_t pool, unsigned count, unsigned index)
{
        r->at = pool;
        unsigned i = 1;
        while (i < count && !r->bad) {
                unsigned tag = u1(r), slots;
                if (i == index)
                        return r->bad ? 0 : tag;
                if (!skip_constant(r, tag, &slots))
                        return 0;
                i += slots;
        }
        return index == count && !r->bad;
}

static int check_java_class(const unsigned char *p, size_t n, const char *name, const char *want,
                            char *why, size_t size)
{
        struct reader r = {p, n, 0, false};
        static const unsigned char magic[] = {0xca, 0xfe, 0xba, 0xbe};
        if (n < 10 || memcmp(p, magic, sizeof magic)) {
                snprintf(why, size, "\"%s\" is not a Java class file", name);
                return 1;
        }
        skip(&r, 8); /* magic, minor and major version */
        unsigned count = u2(&r);
        size_t pool = r.at;
        /* after the pool: access flags, this_class (a Class constant naming a Utf8) */
        unsigned name_index = 0, this_class = 0;
        if (seek_constant(&r, pool, count, count)) {
                skip(&r, 2);
                this_class = u2(&r);
        }
        if (!r.bad && this_class > 0 && this_class < count &&
            seek_constant(&r, pool, count, this_class) == 7)
                name_index = u2(&r);
        size_t len = 0;
        if (!r.bad && name_index > 0 && name_index < count &&
            seek_constant(&r, pool, count, name_index) == 1)
                len = u2(&r);
        if (r.bad || len == 0 || r.n - r.at < len) {
                snprintf(why, size, "\"%s\" is not a valid Java class file", name);
                return 1;
        }
        const unsigned char *cls = r.p + r.at;
        if (len == strlen(want) && !memcmp(cls, want, len))
                return 0;
        char shown[128];
        show_name(cls, len, shown, sizeof shown);
        snprintf(why, size, "\"%s\" holds class %s", name, shown);
        return 1;
}

int jr_artifact_check(int fd, const char *name, const char *format, char *why, size_t why_size,
                      jr_error *e)
{
        struct stat st;
        if (fstat(fd, &st) < 0)
                return jr_error_errno(e, "artifact \"%s\"", name);
        if (!S_ISREG(st.st_mode)) {
                snprintf(why, why_size, "\"%s\" is not a regular file", name);
                return 1;
        }
        size_t n = (size_t)st.st_size;
        const unsigned char *p = (const unsigned char *)"";
        void *map = NULL;
        if (n > 0) {
                map = mmap(NULL, n, PROT_READ, MAP_PRIVATE, fd, 0);
                if (map == MAP_FAILED)
                        return jr_error_errno(e, "read artifact \"%s\"", name);
                p = map;
        }
        int r;
        if (!strcmp(format, "elf-executable"))
                r = check_elf(p, n, name, why, why_size);
        else if (!strncmp(format, JAVA_CLASS_PREFIX, strlen(JAVA_CLASS_PREFIX)))
                r = check_java_class(p, n, name, format + strlen(JAVA_CLASS_PREFIX), why, why_size);
        else
                r = jr_error_set(e, EINVAL, "artifact \"%s\": unknown format \"%s\"", name, format);
        if (map)
                munmap(map, n);
        return r;
}

int jr_check_artifacts(const char *dir, const jr_lang *lang, char *why, size_t why_size,
                       jr_error *e)
{
        if (!lang->artifact_check)
                return 0;
        const char *file = lang->artifact_check[0], *format = lang->artifact_check[1];
        const char *message = lang->artifact_check[2];
        _cleanup_close_ int dfd = open(dir, O_DIRECTORY | O_PATH | O_CLOEXEC);
        if (dfd < 0)
                return jr_error_errno(e, "open \"%s\"", dir);
        _cleanup_close_ int fd = openat(dfd, file, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        char detail[256];
        int r;
        if (fd < 0 && errno == ENOENT) {
                snprintf(detail, sizeof detail, "the build made no \"%s\"", file);
                r = 1;
        } else if (fd < 0) {
                return jr_error_errno(e, "open artifact \"%s\"", file);
        } else {
                r = jr_artifact_check(fd, file, format, detail, sizeof detail, e);
                if (r < 0)
                        return -1;
        }
        if (r > 0)
                snprintf(why, why_size, "%s: %s", message, detail);
        return r;
}
