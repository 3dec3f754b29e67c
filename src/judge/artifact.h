/* The check of what a build made, by file format, before any test runs.
 *
 * Some compilers succeed without making a program: `go build` of a package that is not
 * `main` exits 0 and writes a library archive; `javac` compiles `package foo;` or a class
 * of another name without complaint, and the JVM then finds no `Main`. Such a submission
 * is a build failure (BF) that says what is wrong, not a run-time error of every test.
 *
 * The judge knows file formats, never languages: a language file names the file its
 * build must make and the format it must have (`artifact_check`, langs/README.md).
 *
 * Formats:
 *   elf-executable    an ELF file of type EXEC or DYN (a position-independent
 *                     executable), not a relocatable object or an archive
 *   java-class:NAME   a Java class file whose class is NAME in the default package */
#pragma once

#include <stddef.h>

#include "error.h"

/* Whether format is one of the above: 0, or < 0 with e saying why. */
int jr_artifact_format_valid(const char *format, jr_error *e);

/* Check the file open at fd (a regular file the caller opened without following
 * symlinks) against format. Returns 0 when it is of that format, 1 when it is not (why
 * holds a phrase such as `"main" is an ar archive (a library), not an executable`), < 0
 * when it cannot be read (e set). name is the file's name, for the phrase. */
int jr_artifact_check(int fd, const char *name, const char *format, char *why, size_t why_size,
                      jr_error *e);
