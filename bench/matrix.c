/* bench/matrix: the outcome matrix as a table, and the end-to-end latency of `jailrun run`.
 *
 *   matrix table [CASES_DIR]       judge every tests/cases/<lang>/<outcome>.json once and
 *                                  print language x outcome with the verdict, time, memory
 *   matrix latency [N] [CASES_DIR] judge each language's one-test OK case N times (default 7),
 *                                  every source made unique so nothing can be cached, and
 *                                  print the median end-to-end latency split into build
 *                                  and run, next to the Docker worker's published medians
 *
 * It runs build/jailrun (next to this program's directory) as a child for every
 * submission, exactly as an operator would. Run as root. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

extern char **environ;

static char jailrun[4096];

static const char *const langs[] = {"c", "cpp", "go", "java", "python"};
static const char *const outcomes[] = {"ok", "wa", "tl_busy", "tl_sleep", "ml", "bf", "re", "ol"};
/* The reference Docker worker's medians (docs/messages.md), in seconds. */
static const char *const docker_median[] = {"0.8-1.5", "0.8-1.5", "1.5-2.5", "2.5-4.5", "2.5-3.5"};

static double now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static char *slurp_fd(int fd)
{
        size_t cap = 65536, n = 0;
        char *b = malloc(cap);
        ssize_t r;
        while (b && (r = read(fd, b + n, cap - n - 1)) > 0) {
                n += (size_t)r;
                if (n + 1 == cap) {
                        cap *= 2;
                        b = realloc(b, cap);
                }
        }
        if (b)
                b[n] = '\0';
        return b;
}

static char *slurp(const char *path)
{
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return NULL;
        char *b = slurp_fd(fd);
        close(fd);
        return b;
}

/* Run `jailrun run FILE`; return its stdout (the result) and the wall time. */
static char *judge_file(const char *path, double *ms)
{
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
                return NULL;
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, p[1], 1);
        char *argv[] = {jailrun, "run", (char *)path, NULL};
        pid_t pid;
        double t0 = now_ms();
        if (posix_spawn(&pid, jailrun, &fa, NULL, argv, environ) != 0) {
                close(p[0]);
                close(p[1]);
                return NULL;
        }
        posix_spawn_file_actions_destroy(&fa);
        close(p[1]);
        char *out = slurp_fd(p[0]);
        close(p[0]);
        waitpid(pid, NULL, 0);
        *ms = now_ms() - t0;
        return out;
}

static yajl_val field(yajl_val o, const char *k)
{
        const char *path[] = {k, NULL};
        return yajl_tree_get(o, path, yajl_t_any);
}

static long long ival(yajl_val o, const char *k)
{
        yajl_val v = field(o, k);
        return v && YAJL_IS_INTEGER(v) ? YAJL_GET_INTEGER(v) : -1;
}

static const char *sval(yajl_val o, const char *k)
{
        yajl_val v = o ? field(o, k) : NULL;
        const char *str = v && YAJL_IS_STRING(v) ? YAJL_GET_STRING(v) : NULL;
        return str ? str : "";
}

static int table(const char *dir)
{
        printf("%-8s", "");
        for (size_t o = 0; o < sizeof outcomes / sizeof *outcomes; o++)
                printf(" %-22s", outcomes[o]);
        printf("\n");
        int mismatches = 0;
        for (size_t l = 0; l < sizeof langs / sizeof *langs; l++) {
                printf("%-8s", langs[l]);
                fflush(stdout);
                for (size_t o = 0; o < sizeof outcomes / sizeof *outcomes; o++) {
                        char path[4096];
                        snprintf(path, sizeof path, "%s/%s/%s.json", dir, langs[l], outcomes[o]);
                        char *sub = slurp(path);
                        yajl_val s = sub ? yajl_tree_parse(sub, NULL, 0) : NULL;
                        const char *want_path[] = {"expect", "status", NULL};
                        yajl_val want = s ? yajl_tree_get(s, want_path, yajl_t_string) : NULL;
                        double ms = 0;
                        char *res = sub ? judge_file(path, &ms) : NULL;
                        yajl_val r = res ? yajl_tree_parse(res, NULL, 0) : NULL;
                        const char *status = r ? sval(r, "status") : "??";
                        long long mem = -1, cpu = -1;
                        yajl_val tests = r ? field(r, "tests") : NULL;
                        if (tests && YAJL_IS_ARRAY(tests) && tests->u.array.len) {
                                mem = ival(tests->u.array.values[0], "memory_bytes");
                                cpu = ival(tests->u.array.values[0], "cpu_ms");
                        }
                        const char *wanted = want ? YAJL_GET_STRING(want) : NULL;
                        bool ok = wanted && !strcmp(status, wanted);
                        mismatches += !ok;
                        char cell[64];
                        if (mem >= 0)
                                snprintf(cell, sizeof cell, "%s%s %.1fs %lldms %lldM", status,
                                         ok ? "" : "!", ms / 1000, cpu, mem >> 20);
                        else
                                snprintf(cell, sizeof cell, "%s%s %.1fs", status, ok ? "" : "!",
                                         ms / 1000);
                        printf(" %-22s", cell);
                        fflush(stdout);
                        if (r)
                                yajl_tree_free(r);
                        if (s)
                                yajl_tree_free(s);
                        free(res);
                        free(sub);
                }
                printf("\n");
        }
        printf("\ncell: verdict, end-to-end seconds of `jailrun run` (build included), CPU and\n"
               "peak memory of test 1; '!' marks a verdict other than the expected one.\n");
        return mismatches ? 1 : 0;
}

static int cmp_double(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;
        return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
        qsort(v, (size_t)n, sizeof *v, cmp_double);
        return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* The OK case with one test and a comment that makes the source unique. */
static char *unique_submission(const char *text, const char *lang, int k)
{
        yajl_val s = yajl_tree_parse(text, NULL, 0);
        if (!s)
                return NULL;
        const char *src = sval(s, "source");
        char *usrc = malloc(strlen(src) + 64);
        sprintf(usrc, "%s%s jailrun bench %d %ld\n", src, strcmp(lang, "python") ? "//" : "#", k,
                (long)getpid());
        yajl_gen g = yajl_gen_alloc(NULL);
#define S(x) yajl_gen_string(g, (const unsigned char *)(x), strlen(x))
        yajl_gen_map_open(g);
        S("id");
        S("bench");
        S("language");
        S(lang);
        S("source");
        S(usrc);
        S("tests");
        yajl_gen_array_open(g);
        yajl_gen_map_open(g);
        S("input");
        S("2 3\n");
        S("expected_output");
        S("5\n");
        yajl_gen_map_close(g);
        yajl_gen_array_close(g);
        yajl_gen_map_close(g);
#undef S
        const unsigned char *buf;
        size_t len;
        yajl_gen_get_buf(g, &buf, &len);
        char *out = strndup((const char *)buf, len);
        yajl_gen_free(g);
        free(usrc);
        yajl_tree_free(s);
        return out;
}

static int latency(const char *dir, int n)
{
        printf("# jailrun run, one-test OK submission, unique source each time, median of %d\n", n);
        printf("%-8s %12s %10s %10s %14s   %s\n", "lang", "end-to-end", "build", "test",
               "jailrun own", "Docker worker (spec)");
        for (size_t l = 0; l < sizeof langs / sizeof *langs; l++) {
                char path[4096], tmp[] = "/tmp/jr-bench-XXXXXX";
                snprintf(path, sizeof path, "%s/%s/ok.json", dir, langs[l]);
                char *text = slurp(path);
                if (!text) {
                        fprintf(stderr, "matrix: %s: %s\n", path, strerror(errno));
                        return 1;
                }
                double *e2e = calloc((size_t)n, sizeof(double)),
                       *b = calloc((size_t)n, sizeof(double)),
                       *t = calloc((size_t)n, sizeof(double)),
                       *own = calloc((size_t)n, sizeof(double));
                for (int k = 0; k < n; k++) {
                        char *sub = unique_submission(text, langs[l], k);
                        int fd = mkstemp(tmp);
                        if (fd < 0 || !sub || write(fd, sub, strlen(sub)) < 0)
                                return 1;
                        close(fd);
                        double ms;
                        char *res = judge_file(tmp, &ms);
                        unlink(tmp);
                        strcpy(tmp, "/tmp/jr-bench-XXXXXX");
                        yajl_val r = res ? yajl_tree_parse(res, NULL, 0) : NULL;
                        if (strcmp(sval(r, "status"), "OK")) {
                                fprintf(stderr, "matrix: %s run %d: %s\n", langs[l], k,
                                        res ? res : "(no result)");
                                return 1;
                        }
                        yajl_val tests = field(r, "tests");
                        e2e[k] = ms;
                        b[k] = (double)ival(r, "build_duration_ms");
                        t[k] = (double)ival(tests->u.array.values[0], "duration_ms");
                        own[k] = ms - (b[k] > 0 ? b[k] : 0) - t[k];
                        yajl_tree_free(r);
                        free(res);
                        free(sub);
                }
                printf("%-8s %10.0fms %8.0fms %8.0fms %12.0fms   %s s\n", langs[l], median(e2e, n),
                       median(b, n), median(t, n), median(own, n), docker_median[l]);
                fflush(stdout);
                free(e2e);
                free(b);
                free(t);
                free(own);
                free(text);
        }
        printf("\nbuild and test: wall time inside the jails; jailrun own: the rest (process\n"
               "start, parsing, jail setup and teardown, artifact copy, JSON).\n");
        return 0;
}

int main(int argc, char **argv)
{
        char self[4096];
        ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
        if (n < 0)
                return 1;
        self[n] = '\0';
        *strrchr(self, '/') = '\0';
        if (snprintf(jailrun, sizeof jailrun, "%s/../jailrun", self) >= (int)sizeof jailrun)
                return 1;
        const char *mode = argc > 1 ? argv[1] : "table";
        if (!strcmp(mode, "table"))
                return table(argc > 2 ? argv[2] : JR_SOURCE_DIR "/tests/cases");
        if (!strcmp(mode, "latency"))
                return latency(argc > 3 ? argv[3] : JR_SOURCE_DIR "/tests/cases",
                               argc > 2 ? atoi(argv[2]) : 7);
        fprintf(stderr, "usage: matrix table [CASES_DIR] | matrix latency [N] [CASES_DIR]\n");
        return 2;
}
