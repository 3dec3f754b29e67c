/* jr_error: the one error contract of jailrun.
 *
 * A function that can fail returns < 0 and fills a jr_error with the errno and a
 * message; callers add their own context on the way up with jr_error_wrap(), and only
 * the top level prints it. The struct is fixed-size and holds no pointers so that a
 * jailed child can send it to its parent over the sync socket as it is. */
#pragma once

#include <stdarg.h>
#include <stddef.h>

#define JR_ERROR_MSG_MAX 1024

typedef struct jr_error {
        int err;                    /* errno value, 0 when not about a syscall */
        char msg[JR_ERROR_MSG_MAX]; /* "step: detail: strerror" */
} jr_error;

/* Set *e (when e is non-NULL) and return -1. When err != 0, ": strerror(err)" is appended. */
int jr_error_set(jr_error *e, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Same with errno as err. */
int jr_error_errno(jr_error *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prefix the message with outer context ("ctx: old message"); return -1. */
int jr_error_wrap(jr_error *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void jr_error_clear(jr_error *e);
/* Set err and the message without the strerror text: for a message about a value rather
 * than a system call, and for the jail's children, which share the supervisor's memory
 * (see sys.h): it reads and writes no libc state there, and the receiver completes the
 * message with jr_error_add_strerror(). Returns -1. */
int jr_error_raw(jr_error *e, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Append ": strerror(err)" when err != 0 (the part jr_error_raw left out). */
void jr_error_add_strerror(jr_error *e);

/* An untrusted string for a message: printable ASCII as it is; '"', '\\' and every other
 * byte as \xHH; cut after JR_QUOTE_MAX bytes with "...". Returns buf. */
#define JR_QUOTE_MAX 64
#define JR_QUOTE_BUF (JR_QUOTE_MAX * 4 + 4)
const char *jr_quote(const char *s, size_t len, char buf[JR_QUOTE_BUF]);
