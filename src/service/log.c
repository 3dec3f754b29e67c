/* Structured JSON logs. See log.h. */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>
#include <yajl/yajl_gen.h>

#include "clock.h"
#include "utf8.h"

/* A value longer than this is cut (a log line is for people and log shippers). */
#define LOG_VALUE_MAX 8192

static atomic_int log_level = JR_LOG_INFO;
/* Set once by jr_log_open before any thread starts; read by jr_log_reopen. */
static char *log_path;

static const char *const level_names[] = {
    [JR_LOG_ERROR] = "error", [JR_LOG_WARNING] = "warning", [JR_LOG_NOTICE] = "notice",
    [JR_LOG_INFO] = "info",   [JR_LOG_DEBUG] = "debug",
};

const char *jr_log_level_name(jr_log_level level)
{
        if (level < JR_LOG_ERROR)
                return "error";
        if (level > JR_LOG_DEBUG)
                return "debug";
        return level_names[level];
}

int jr_log_level_parse(const char *name, jr_log_level *out, jr_error *e)
{
        for (int l = JR_LOG_ERROR; l <= JR_LOG_DEBUG; l++)
                if (!strcmp(name, level_names[l])) {
                        *out = (jr_log_level)l;
                        return 0;
                }
        if (!strcmp(name, "warn")) {
                *out = JR_LOG_WARNING;
                return 0;
        }
        return jr_error_set(
            e, EINVAL, "log level \"%s\": expected error, warning, notice, info or debug", name);
}

void jr_log_set_level(jr_log_level level)
{
        atomic_store(&log_level, (int)level);
}

bool jr_log_enabled(jr_log_level level)
{
        return (int)level <= atomic_load(&log_level);
}

/* Write s as a JSON string: invalid UTF-8 becomes U+FFFD, more than LOG_VALUE_MAX bytes
 * are cut on a character boundary. */
static void gen_bytes(yajl_gen g, const void *ptr, size_t len)
{
        static const unsigned char replacement[] = "\xef\xbf\xbd";
        const unsigned char *p = ptr;
        unsigned char buf[LOG_VALUE_MAX + 4];
        size_t out = 0;
        for (size_t i = 0; i < len && out < LOG_VALUE_MAX;) {
                size_t n = jr_utf8_seq(p + i, len - i, NULL);
                if (n == 0) {
                        memcpy(buf + out, replacement, 3);
                        out += 3;
                        i++;
                        continue;
                }
                memcpy(buf + out, p + i, n);
                out += n;
                i += n;
        }
        yajl_gen_string(g, buf, out);
}

static void gen_key(yajl_gen g, const char *k)
{
        yajl_gen_string(g, (const unsigned char *)k, strlen(k));
}

void jr_log_fields(jr_log_level level, const char *msg, const jr_log_field *fields)
{
        if (!jr_log_enabled(level))
                return;
        int saved_errno = errno;
        yajl_gen g = yajl_gen_alloc(NULL);
        if (!g)
                goto out;
        char ts[JR_TIMESTAMP_LEN];
        jr_format_timestamp(0, ts);
        yajl_gen_map_open(g);
        gen_key(g, "time");
        gen_bytes(g, ts, strlen(ts));
        gen_key(g, "level");
        gen_bytes(g, jr_log_level_name(level), strlen(jr_log_level_name(level)));
        gen_key(g, "msg");
        gen_bytes(g, msg, strlen(msg));
        for (const jr_log_field *f = fields; f && f->type != JR_LF_END; f++) {
                gen_key(g, f->key);
                switch (f->type) {
                case JR_LF_STR:
                        if (f->v.s)
                                gen_bytes(g, f->v.s, strlen(f->v.s));
                        else
                                yajl_gen_null(g);
                        break;
                case JR_LF_BYTES:
                        gen_bytes(g, f->v.b.ptr, f->v.b.ptr ? f->v.b.len : 0);
                        break;
                case JR_LF_INT:
                        yajl_gen_integer(g, f->v.i);
                        break;
                case JR_LF_UINT:
                        /* yajl integers are signed; a uint64 above INT64_MAX is not a
                         * value any caller logs */
                        yajl_gen_integer(g, f->v.u > INT64_MAX ? INT64_MAX : (long long)f->v.u);
                        break;
                case JR_LF_BOOL:
                        yajl_gen_bool(g, f->v.t);
                        break;
                case JR_LF_END:
                        break;
                }
        }
        yajl_gen_map_close(g);
        const unsigned char *buf;
        size_t len;
        if (yajl_gen_get_buf(g, &buf, &len) == yajl_gen_status_ok) {
                /* One syscall per line: lines of threads and processes never mix. */
                struct iovec iov[2] = {{(void *)buf, len}, {"\n", 1}};
                ssize_t r;
                do
                        r = writev(STDERR_FILENO, iov, 2);
                while (r < 0 && errno == EINTR);
        }
        yajl_gen_free(g);
out:
        errno = saved_errno;
}

void jr_logf(jr_log_level level, const char *fmt, ...)
{
        if (!jr_log_enabled(level))
                return;
        char buf[2048];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof buf, fmt, ap);
        va_end(ap);
        jr_log_fields(level, buf, NULL);
}

/* Put the file at fd 2. dup3 replaces the descriptor atomically: a thread writing a line
 * at that moment writes it whole to the old file or to the new one. Without O_CLOEXEC:
 * processes started later inherit it as their stderr. */
static int open_onto_stderr(const char *path, jr_error *e)
{
        int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
        if (fd < 0)
                return jr_error_errno(e, "open log file \"%s\"", path);
        if (fd != STDERR_FILENO) {
                if (dup3(fd, STDERR_FILENO, 0) < 0) {
                        int err = errno;
                        close(fd);
                        return jr_error_set(e, err, "log file \"%s\": dup3", path);
                }
                close(fd);
        }
        return 0;
}

int jr_log_open(const char *path, jr_error *e)
{
        if (!path) {
                free(log_path);
                log_path = NULL;
                return 0;
        }
        char *copy = strdup(path);
        if (!copy)
                return jr_error_set(e, ENOMEM, "log file");
        if (open_onto_stderr(path, e) < 0) {
                free(copy);
                return -1;
        }
        free(log_path);
        log_path = copy;
        return 0;
}

int jr_log_reopen(jr_error *e)
{
        if (!log_path)
                return 0;
        return open_onto_stderr(log_path, e);
}

bool jr_log_to_file(void)
{
        return log_path != NULL;
}
