/* The artifacts of a build, carried from the directory the build jail wrote into a
 * root-owned one that the run jails get read-only, and checked by file format.
 *
 * The check: some compilers succeed without making a program: `go build` of a package
 * that is not `main` exits 0 and writes a library archive; `javac` compiles
 * `package foo;` or a class of another name without complaint, and the JVM then finds
 * no `Main`. Such a submission is a build failure (BF) that says what is wrong, not a
 * run-time error of every test. The judge knows file formats, never languages: a
 * language file names the file its build must make and the format it must have
 * (`artifact_check`, langs/README.md).
 *
 * Formats:
 *   elf-executable    an ELF file of type EXEC or DYN (a position-independent
 *                     executable), not a relocatable object or an archive
 *   java-class:NAME   a Java class file whose class is NAME in the default package */
#pragma once

#include "error.h"
#include "lang.h"

/* Copy the regular files of from_dir that are lang's artifacts into to_dir (which must
 * not hold them yet). from_dir was written by a jail: every open is relative to its
 * dirfd, never follows a symlink, never blocks on a FIFO, and anything but a regular
 * file is skipped. */
int jr_carry_artifacts(const char *from_dir, const char *to_dir, const jr_lang *lang, jr_error *e);

/* Whether format is one of the above: 0, or < 0 with e saying why. */
int jr_artifact_format_valid(const char *format, jr_error *e);

/* Check the file open at fd (a regular file the caller opened without following
 * symlinks) against format. Returns 0 when it is of that format, 1 when it is not (why
 * holds a phrase such as `"main" is an ar archive (a library), not an executable`), < 0
 * when it cannot be read (e set). name is the file's name, for the phrase. */
int jr_artifact_check(int fd, const char *name, const char *format, char *why, size_t why_size,
                      jr_error *e);

/* lang's artifact_check, when it has one, on the artifacts carried into dir (root's
 * copies): 0 when it holds or there is none, 1 when it fails (why: "<the language's
 * message>: <what is wrong>"), < 0 when the file cannot be read (e set). */
int jr_check_artifacts(const char *dir, const jr_lang *lang, char *why, size_t why_size,
                       jr_error *e);
