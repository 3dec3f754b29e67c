#include "testutil.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#if defined(__SANITIZE_ADDRESS__)
/* The sanitized suite (build-asan): no leak check of the test processes themselves. A
 * failed cr_assert ends a test without its cleanup, criterion ignores the exit status
 * LeakSanitizer gives a test process anyway, and the reports buried the failure that
 * mattered. The programs under test (jailrun, jailrun-kafka) keep their leak check: their
 * tests see a leak as the sanitizers' exit status (ASAN_OPTIONS in tests/CMakeLists.txt). */
int __lsan_is_turned_off(void);
int __lsan_is_turned_off(void)
{
        return 1;
}
#endif

struct buf {
        char *p;
        size_t n, cap;
};

static void buf_add(struct buf *b, const char *d, size_t n)
{
        if (b->n + n + 1 > b->cap) {
                b->cap = (b->n + n + 1) * 2;
                b->p = realloc(b->p, b->cap);
                cr_assert(b->p);
        }
        memcpy(b->p + b->n, d, n);
        b->n += n;
        b->p[b->n] = '\0';
}

int tu_run(char *const argv[], const char *input, char **out, char **err)
{
        int in[2], o[2], e[2];
        cr_assert(pipe2(in, O_CLOEXEC) == 0 && pipe2(o, O_CLOEXEC) == 0 &&
                  pipe2(e, O_CLOEXEC) == 0);
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, in[0], 0);
        posix_spawn_file_actions_adddup2(&fa, o[1], 1);
        posix_spawn_file_actions_adddup2(&fa, e[1], 2);
        pid_t pid;
        int rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
        cr_assert_eq(rc, 0, "posix_spawn %s: %s", argv[0], strerror(rc));
        posix_spawn_file_actions_destroy(&fa);
        close(in[0]);
        close(o[1]);
        close(e[1]);
        signal(SIGPIPE, SIG_IGN);
        size_t inlen = input ? strlen(input) : 0, inoff = 0;
        if (inlen == 0) {
                close(in[1]);
                in[1] = -1;
        }
        struct buf bo = {0}, be = {0};
        buf_add(&bo, "", 0);
        buf_add(&be, "", 0);
        int open_fds = 2;
        while (open_fds > 0 || in[1] >= 0) {
                struct pollfd p[3] = {{o[0], POLLIN, 0}, {e[0], POLLIN, 0}, {in[1], POLLOUT, 0}};
                if (poll(p, 3, -1) < 0) {
                        cr_assert(errno == EINTR);
                        continue;
                }
                for (int i = 0; i < 2; i++) {
                        if (p[i].fd < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
                                continue;
                        char tmp[65536];
                        ssize_t r = read(p[i].fd, tmp, sizeof tmp);
                        if (r <= 0) {
                                close(p[i].fd);
                                if (i == 0)
                                        o[0] = -1;
                                else
                                        e[0] = -1;
                                open_fds--;
                        } else {
                                buf_add(i == 0 ? &bo : &be, tmp, (size_t)r);
                        }
                }
                if (in[1] >= 0 && (p[2].revents & (POLLOUT | POLLERR | POLLHUP))) {
                        ssize_t w = write(in[1], input + inoff, inlen - inoff);
                        if (w > 0)
                                inoff += (size_t)w;
                        if (w < 0 || inoff == inlen) {
                                close(in[1]);
                                in[1] = -1;
                        }
                }
        }
        int st;
        while (waitpid(pid, &st, 0) < 0)
                cr_assert(errno == EINTR);
        if (out)
                *out = bo.p;
        else
                free(bo.p);
        if (err)
                *err = be.p;
        else
                free(be.p);
        return st;
}

yajl_val tu_json(const char *text)
{
        char ebuf[512];
        yajl_val v = yajl_tree_parse(text, ebuf, sizeof ebuf);
        cr_assert(v, "not JSON (%s): %s", ebuf, text);
        return v;
}

static yajl_val field(yajl_val obj, const char *key)
{
        const char *path[] = {key, NULL};
        cr_assert(YAJL_IS_OBJECT(obj), "not an object");
        return yajl_tree_get(obj, path, yajl_t_any);
}

const char *tu_str(yajl_val obj, const char *key)
{
        yajl_val v = field(obj, key);
        cr_assert(v && YAJL_IS_STRING(v), "field \"%s\" missing or not a string", key);
        return YAJL_GET_STRING(v);
}

long long tu_int(yajl_val obj, const char *key)
{
        yajl_val v = field(obj, key);
        cr_assert(v && YAJL_IS_INTEGER(v), "field \"%s\" missing or not an integer", key);
        return YAJL_GET_INTEGER(v);
}

int tu_is_null(yajl_val obj, const char *key)
{
        yajl_val v = field(obj, key);
        cr_assert(v, "field \"%s\" missing", key);
        return YAJL_IS_NULL(v);
}

int tu_bool(yajl_val obj, const char *key)
{
        yajl_val v = field(obj, key);
        cr_assert(v && (YAJL_IS_TRUE(v) || YAJL_IS_FALSE(v)), "field \"%s\" not a bool", key);
        return YAJL_IS_TRUE(v);
}

const char *tu_build(const char *rel)
{
        static char path[8][4096];
        static int next;
        char *p = path[next++ % 8];
        snprintf(p, sizeof path[0], "%s/%s", JR_BUILD_DIR, rel);
        return p;
}

double tu_now_s(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

char *tu_asprintf(const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        char *s = NULL;
        cr_assert(vasprintf(&s, fmt, ap) >= 0, "vasprintf: out of memory");
        va_end(ap);
        return s;
}

static char *slurp_file(FILE *f)
{
        struct buf b = {0};
        buf_add(&b, "", 0);
        char tmp[65536];
        size_t n;
        while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
                buf_add(&b, tmp, n);
        fclose(f);
        return b.p;
}

char *tu_slurp(const char *path)
{
        FILE *f = fopen(path, "re");
        if (!f) {
                char *empty = strdup("");
                cr_assert(empty);
                return empty;
        }
        return slurp_file(f);
}

char *tu_read_file(const char *path)
{
        FILE *f = fopen(path, "re");
        cr_assert(f, "open %s: %s", path, strerror(errno));
        return slurp_file(f);
}

size_t tu_count(const char *hay, const char *needle)
{
        size_t n = 0;
        for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
                n++;
        return n;
}

long tu_status_kb(pid_t pid, const char *field)
{
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
        char *st = tu_slurp(path);
        char *p = strstr(st, field);
        long kb = p ? atol(p + strlen(field) + 1) : -1;
        free(st);
        return kb;
}

char *tu_scratch(const char *prefix)
{
        char *dir = tu_asprintf("%sXXXXXX", prefix);
        cr_assert(mkdtemp(dir), "mkdtemp %s: %s", dir, strerror(errno));
        return dir;
}

int tu_rm_rf(const char *path)
{
        char *const argv[] = {"/bin/rm", "-rf", "--one-file-system", "--", (char *)path, NULL};
        char *err = NULL;
        int st = tu_run(argv, NULL, NULL, &err);
        if (st != 0)
                cr_log_warn("rm -rf %s: status %d: %s", path, st, err);
        free(err);
        return st;
}

struct tu_case *tu_cases(const char *dir, size_t *n)
{
        char *path = tu_asprintf("%s/tests/cases/%s", JR_SOURCE_DIR, dir);
        DIR *d = opendir(path);
        cr_assert(d, "no cases in %s: %s", path, strerror(errno));
        struct tu_case *c = NULL;
        size_t cap = 0;
        *n = 0;
        struct dirent *de;
        while ((de = readdir(d))) {
                if (!strstr(de->d_name, ".json"))
                        continue;
                if (*n == cap) {
                        cap = cap ? 2 * cap : 16;
                        c = realloc(c, cap * sizeof *c);
                        cr_assert(c);
                }
                char *file = tu_asprintf("%s/%s", path, de->d_name);
                c[*n] = (struct tu_case){strdup(de->d_name), tu_read_file(file)};
                (*n)++;
                free(file);
        }
        closedir(d);
        free(path);
        return c;
}

void tu_cases_free(struct tu_case *c, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                free(c[i].name);
                free(c[i].text);
        }
        free(c);
}

struct tu_judged tu_judge(const char *json, const char *env, bool events)
{
        struct tu_judged j = {0};
        char path[] = "/tmp/jr-test-events-XXXXXX";
        if (events) {
                int fd = mkstemp(path);
                cr_assert_geq(fd, 0, "mkstemp %s: %s", path, strerror(errno));
                close(fd);
        }
        if (env)
                putenv((char *)env);
        char *argv[6] = {(char *)tu_build("jailrun"), "run"};
        size_t a = 2;
        if (events) {
                argv[a++] = "--events";
                argv[a++] = path;
        }
        argv[a++] = "-";
        argv[a] = NULL;
        double t0 = tu_now_s();
        j.exit = tu_run(argv, json, &j.out, &j.err);
        j.seconds = tu_now_s() - t0;
        if (env) {
                char name[128];
                snprintf(name, sizeof name, "%.*s", (int)strcspn(env, "="), env);
                unsetenv(name);
        }
        if (j.out[0]) {
                char ebuf[512];
                j.result = yajl_tree_parse(j.out, ebuf, sizeof ebuf);
                cr_assert(j.result, "jailrun run: exit status %d, not JSON (%s): %s\nstderr: %s",
                          j.exit, ebuf, j.out, j.err);
        }
        if (events) {
                j.events = tu_read_file(path);
                unlink(path);
        }
        return j;
}

void tu_judged_free(struct tu_judged *j)
{
        yajl_tree_free(j->result);
        free(j->out);
        free(j->err);
        free(j->events);
}
