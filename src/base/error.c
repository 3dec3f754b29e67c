#include "error.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

__attribute__((format(printf, 3, 0))) static void vset(jr_error *e, int err, const char *fmt,
                                                       va_list ap)
{
        int n = vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        if (n < 0)
                n = 0;
        if ((size_t)n >= sizeof e->msg)
                n = sizeof e->msg - 1;
        if (err != 0)
                snprintf(e->msg + n, sizeof e->msg - (size_t)n, ": %s", strerror(err));
        e->err = err;
}

int jr_error_set(jr_error *e, int err, const char *fmt, ...)
{
        if (!e)
                return -1;
        va_list ap;
        va_start(ap, fmt);
        vset(e, err, fmt, ap);
        va_end(ap);
        return -1;
}

int jr_error_errno(jr_error *e, const char *fmt, ...)
{
        int err = errno;
        if (!e)
                return -1;
        va_list ap;
        va_start(ap, fmt);
        vset(e, err, fmt, ap);
        va_end(ap);
        return -1;
}

int jr_error_wrap(jr_error *e, const char *fmt, ...)
{
        if (!e)
                return -1;
        char prefix[JR_ERROR_MSG_MAX];
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(prefix, sizeof prefix, fmt, ap);
        va_end(ap);
        if (n < 0)
                return -1;
        /* "prefix: old"; a message longer than the buffer is cut at its end, so the
         * outer context always survives */
        size_t plen = strnlen(prefix, sizeof e->msg - 3);
        size_t olen = strnlen(e->msg, sizeof e->msg - 1);
        if (plen + 2 + olen > sizeof e->msg - 1)
                olen = sizeof e->msg - 1 - plen - 2;
        memmove(e->msg + plen + 2, e->msg, olen);
        memcpy(e->msg, prefix, plen);
        memcpy(e->msg + plen, ": ", 2);
        e->msg[plen + 2 + olen] = '\0';
        return -1;
}

int jr_error_raw(jr_error *e, int err, const char *fmt, ...)
{
        if (!e)
                return -1;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
        e->err = err;
        return -1;
}

void jr_error_add_strerror(jr_error *e)
{
        if (!e || !e->err)
                return;
        size_t n = strnlen(e->msg, sizeof e->msg - 1);
        snprintf(e->msg + n, sizeof e->msg - n, ": %s", strerror(e->err));
}

void jr_error_clear(jr_error *e)
{
        if (e) {
                e->err = 0;
                e->msg[0] = '\0';
        }
}

const char *jr_quote(const char *s, size_t len, char buf[JR_QUOTE_BUF])
{
        size_t o = 0, i;
        for (i = 0; i < len && i < JR_QUOTE_MAX; i++) {
                unsigned char c = (unsigned char)s[i];
                if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
                        buf[o++] = (char)c;
                else
                        o += (size_t)snprintf(buf + o, 5, "\\x%02x", c);
        }
        if (i < len)
                memcpy(buf + o, "...", 4);
        else
                buf[o] = '\0';
        return buf;
}
