#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

const char *bench_name = "bench";
void (*bench_on_die)(void);
volatile sig_atomic_t bench_stop_requested;

double bench_now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

void bench_die(const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        fprintf(stderr, "%s: ", bench_name);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
        if (bench_on_die)
                bench_on_die();
        exit(1);
}

char *bench_slurp(const char *path)
{
        FILE *f = fopen(path, "re");
        if (!f)
                return NULL;
        size_t n = 0, cap = 65536;
        char *buf = malloc(cap);
        if (!buf)
                bench_die("out of memory");
        for (;;) {
                n += fread(buf + n, 1, cap - n - 1, f);
                if (n < cap - 1)
                        break;
                cap *= 2;
                buf = realloc(buf, cap);
                if (!buf)
                        bench_die("out of memory");
        }
        buf[n] = '\0';
        fclose(f);
        return buf;
}

void bench_find_jailrun(char *out, size_t size)
{
        char self[3072];
        ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
        if (n < 0)
                bench_die("readlink /proc/self/exe: %s", strerror(errno));
        self[n] = '\0';
        *strrchr(self, '/') = '\0'; /* build/bench */
        if (snprintf(out, size, "%s/../jailrun", self) >= (int)size)
                bench_die("%s/../jailrun: path too long", self);
        if (access(out, X_OK) != 0)
                bench_die("%s: %s", out, strerror(errno));
}

static bool has_prefix(const char *s, const char *const *prefixes)
{
        for (size_t i = 0; prefixes[i]; i++)
                if (!strncmp(s, prefixes[i], strlen(prefixes[i])))
                        return true;
        return false;
}

pid_t bench_serve_spawn(const char *jailrun, const char *log, bool stdout_to_log,
                        const char *const *drop, const char *const *env, bool own_group)
{
        size_t n_env = 0, n_add = 0;
        for (char **e = environ; *e; e++)
                n_env++;
        while (env[n_add])
                n_add++;
        const char **envp = calloc(n_env + n_add + 1, sizeof *envp);
        if (!envp)
                bench_die("out of memory");
        size_t n = 0;
        for (char **e = environ; *e; e++)
                if (!has_prefix(*e, drop))
                        envp[n++] = *e;
        for (size_t i = 0; i < n_add; i++)
                envp[n++] = env[i];
        envp[n] = NULL;
        char *const argv[] = {(char *)jailrun, "serve", NULL};
        posix_spawn_file_actions_t fa;
        posix_spawnattr_t at;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 2, log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (stdout_to_log)
                posix_spawn_file_actions_adddup2(&fa, 2, 1);
        else
                posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
        posix_spawnattr_init(&at);
        if (own_group) {
                /* its own process group, so that a stuck run can be killed whole; and the
                 * default signal mask and dispositions */
                sigset_t none, all;
                sigemptyset(&none);
                sigfillset(&all);
                posix_spawnattr_setpgroup(&at, 0);
                posix_spawnattr_setsigmask(&at, &none);
                posix_spawnattr_setsigdefault(&at, &all);
                posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                                  POSIX_SPAWN_SETSIGDEF);
        }
        pid_t pid;
        int rc = posix_spawn(&pid, jailrun, &fa, &at, argv, (char *const *)envp);
        if (rc)
                bench_die("spawn %s serve: %s", jailrun, strerror(rc));
        posix_spawn_file_actions_destroy(&fa);
        posix_spawnattr_destroy(&at);
        free(envp);
        return pid;
}

void bench_wait_log(const char *log, const char *needle, pid_t *pid, double timeout_ms)
{
        for (double end = bench_now_ms() + timeout_ms; bench_now_ms() < end;) {
                char *text = bench_slurp(log);
                bool found = text && strstr(text, needle);
                free(text);
                if (found)
                        return;
                int st;
                if (waitpid(*pid, &st, WNOHANG) == *pid) {
                        *pid = 0;
                        bench_die("serve exited (status 0x%x) before \"%s\"; its log: %s", st,
                                  needle, log);
                }
                if (bench_stop_requested)
                        bench_die("interrupted");
                usleep(20000);
        }
        bench_die("no \"%s\" in %s after %.0f s", needle, log, timeout_ms / 1000);
}

int bench_cmp_double(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;
        return x < y ? -1 : x > y;
}

void bench_each_judged(const char *path,
                       void (*fn)(const char *id, size_t id_len, long total_ms, long own_us,
                                  void *ud),
                       void *ud)
{
        static const char needle[] = "\"msg\":\"judged\",\"id\":\"";
        static const char total[] = "\"total_ms\":", own[] = "\"own_us\":";
        char *log = bench_slurp(path);
        for (const char *p = log; p && (p = strstr(p, needle)); p++) {
                const char *id = p + strlen(needle), *q = strchr(id, '"');
                const char *t = q ? strstr(q, total) : NULL;
                const char *o = q ? strstr(q, own) : NULL;
                const char *eol = q ? strchr(q, '\n') : NULL;
                if (o && eol && o > eol)
                        o = NULL;
                if (t && (!eol || t < eol))
                        fn(id, (size_t)(q - id), atol(t + strlen(total)),
                           o ? atol(o + strlen(own)) : -1, ud);
        }
        free(log);
}

double bench_pct(double *v, size_t n, double p)
{
        if (n == 0)
                return 0;
        qsort(v, n, sizeof *v, bench_cmp_double);
        size_t i = (size_t)(p * (double)(n - 1) + 0.5);
        return v[i];
}
