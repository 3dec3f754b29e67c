/* bench/matrix: the outcome matrix as a table, and the end-to-end latency of `jailrun run`.
 *
 *   matrix table [CASES_DIR]       judge every tests/cases/<lang>/<outcome>.json once and
 *                                  print language x outcome with the verdict, time, memory
 *   matrix latency [N] [CASES_DIR] judge each language's one-test OK case N times (default 7),
 *                                  every source made unique so nothing can be cached, and
 *                                  print the median end-to-end latency split into build
 *                                  and run, next to the Docker worker's published medians
 *   matrix table-md [N] [CASES_DIR] the languages table of langs/README.md in Markdown:
 *                                  the compiler's or interpreter's Debian package and
 *                                  version (from the tree's .jailrun/manifest), the build
 *                                  and run commands with their trees, the smallest memory
 *                                  limit, and the medians of `latency` (default N 5)
 *
 * The languages are those of tests/cases/ that have a language file (bench/cases.h); a
 * source is made unique with a line comment in the language's own syntax (its `comment`
 * key). It runs build/jailrun (next to this program's directory) as a child for every
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

#include "cases.h"
#include "lang.h"
#include "rootfs.h"
#include "units.h"

extern char **environ;

static char jailrun[4096];

static jr_lang_set *lang_set;
static const char **langs; /* of the cases directory, NULL-terminated */
static const char *const outcomes[] = {"ok", "wa", "tl_busy", "tl_sleep", "ml", "bf", "re", "ol"};

/* The reference Docker worker's medians (docs/messages.md), in seconds. */
static const char *docker_median(const char *lang)
{
        static const char *const known[][2] = {{"c", "0.8-1.5"},
                                               {"cpp", "0.8-1.5"},
                                               {"go", "1.5-2.5"},
                                               {"java", "2.5-4.5"},
                                               {"python", "2.5-3.5"}};
        for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
                if (!strcmp(known[i][0], lang))
                        return known[i][1];
        return "-";
}

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
        printf("%-10s", "");
        for (size_t o = 0; o < sizeof outcomes / sizeof *outcomes; o++)
                printf(" %-22s", outcomes[o]);
        printf("\n");
        int mismatches = 0;
        for (size_t l = 0; langs[l]; l++) {
                printf("%-10s", langs[l]);
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
static char *unique_submission(const char *text, const jr_lang *lang, int k)
{
        yajl_val s = yajl_tree_parse(text, NULL, 0);
        if (!s)
                return NULL;
        char tag[96], why[512];
        snprintf(tag, sizeof tag, "jailrun bench %d %ld", k, (long)getpid());
        char *usrc = bench_unique_source(lang, sval(s, "source"), tag, why, sizeof why);
        if (!usrc) {
                fprintf(stderr, "matrix: %s\n", why);
                yajl_tree_free(s);
                return NULL;
        }
        yajl_gen g = yajl_gen_alloc(NULL);
#define S(x) yajl_gen_string(g, (const unsigned char *)(x), strlen(x))
        yajl_gen_map_open(g);
        S("id");
        S("bench");
        S("language");
        S(lang->name);
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

/* Medians of n judgements of a language's ok case, in milliseconds. */
struct medians {
        double e2e, build, test, own;
};

static int measure_ok(const char *dir, const char *lang_name, int n, struct medians *m)
{
        const jr_lang *lang = jr_lang_find(lang_set, lang_name);
        char path[4096], tmp[] = "/tmp/jr-bench-XXXXXX";
        snprintf(path, sizeof path, "%s/%s/ok.json", dir, lang_name);
        char *text = slurp(path);
        if (!text) {
                fprintf(stderr, "matrix: %s: %s\n", path, strerror(errno));
                return -1;
        }
        double *e2e = calloc((size_t)n, sizeof(double)), *b = calloc((size_t)n, sizeof(double)),
               *t = calloc((size_t)n, sizeof(double)), *own = calloc((size_t)n, sizeof(double));
        int ret = 0;
        for (int k = 0; k < n && ret == 0; k++) {
                char *sub = unique_submission(text, lang, k);
                int fd = sub ? mkstemp(tmp) : -1;
                if (fd < 0 || write(fd, sub, strlen(sub)) < 0) {
                        if (fd >= 0)
                                close(fd);
                        free(sub);
                        ret = -1;
                        break;
                }
                close(fd);
                double ms;
                char *res = judge_file(tmp, &ms);
                unlink(tmp);
                strcpy(tmp, "/tmp/jr-bench-XXXXXX");
                yajl_val r = res ? yajl_tree_parse(res, NULL, 0) : NULL;
                if (strcmp(sval(r, "status"), "OK")) {
                        fprintf(stderr, "matrix: %s run %d: %s\n", lang_name, k,
                                res ? res : "(no result)");
                        ret = -1;
                } else {
                        yajl_val tests = field(r, "tests");
                        e2e[k] = ms;
                        b[k] = (double)ival(r, "build_duration_ms");
                        t[k] = (double)ival(tests->u.array.values[0], "duration_ms");
                        own[k] = ms - (b[k] > 0 ? b[k] : 0) - t[k];
                }
                if (r)
                        yajl_tree_free(r);
                free(res);
                free(sub);
        }
        if (ret == 0)
                *m = (struct medians){median(e2e, n), median(b, n), median(t, n), median(own, n)};
        free(e2e);
        free(b);
        free(t);
        free(own);
        free(text);
        return ret;
}

static int latency(const char *dir, int n)
{
        printf("# jailrun run, one-test OK submission, unique source each time, median of %d\n", n);
        printf("%-10s %12s %10s %10s %14s   %s\n", "lang", "end-to-end", "build", "test",
               "jailrun own", "Docker worker (spec)");
        for (size_t l = 0; langs[l]; l++) {
                struct medians m;
                if (measure_ok(dir, langs[l], n, &m) < 0)
                        return 1;
                const char *docker = docker_median(langs[l]);
                printf("%-10s %10.0fms %8.0fms %8.0fms %12.0fms   %s%s\n", langs[l], m.e2e, m.build,
                       m.test, m.own, docker, strcmp(docker, "-") ? " s" : "");
                fflush(stdout);
        }
        printf("\nbuild and test: wall time inside the jails; jailrun own: the rest (process\n"
               "start, parsing, jail setup and teardown, artifact copy, JSON).\n");
        return 0;
}

/* ---- table-md: the languages table ---- */

/* path with "." and ".." components resolved and no empty ones ("/" for none). */
static void normalize(const char *path, char *out, size_t size)
{
        char buf[4096];
        snprintf(buf, sizeof buf, "%s", path);
        size_t len = 0;
        out[0] = '\0';
        char *save = NULL;
        for (char *c = strtok_r(buf, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
                if (!strcmp(c, "."))
                        continue;
                if (!strcmp(c, "..")) {
                        char *slash = strrchr(out, '/');
                        len = slash ? (size_t)(slash - out) : 0;
                        out[len] = '\0';
                        continue;
                }
                len += (size_t)snprintf(out + len, size - len, "/%s", c);
                if (len >= size)
                        len = size - 1;
        }
        if (!len)
                snprintf(out, size, "/");
}

/* The path inside the tree at root that `path` (absolute, as seen from inside the tree)
 * leads to, following symlinks the way the jail would see them: an absolute target is
 * taken from the tree's root, never from the host's. 0, or -1 when missing or looping. */
static int resolve_in_tree(const char *root, const char *path, char *out, size_t size)
{
        char todo[4096], done[4096] = "";
        snprintf(todo, sizeof todo, "%s", path);
        for (int hops = 0; hops < 40;) {
                /* the next component of todo */
                char *p = todo;
                while (*p == '/')
                        p++;
                if (!*p) {
                        normalize(*done ? done : "/", out, size);
                        return 0;
                }
                size_t clen = strcspn(p, "/");
                char comp[256];
                snprintf(comp, sizeof comp, "%.*s", (int)clen, p);
                char rest[4096];
                snprintf(rest, sizeof rest, "%s", p + clen);
                char cand[4096], full[8192];
                snprintf(cand, sizeof cand, "%s/%s", done, comp);
                normalize(cand, cand, sizeof cand);
                snprintf(full, sizeof full, "%s%s", root, cand);
                struct stat st;
                if (lstat(full, &st) < 0)
                        return -1;
                if (!S_ISLNK(st.st_mode)) {
                        snprintf(done, sizeof done, "%s", cand);
                        snprintf(todo, sizeof todo, "%s", rest);
                        continue;
                }
                char target[4096];
                ssize_t n = readlink(full, target, sizeof target - 1);
                if (n < 0)
                        return -1;
                target[n] = '\0';
                hops++;
                if (target[0] == '/')
                        done[0] = '\0';
                if (snprintf(todo, sizeof todo, "%s%s", target, rest) >= (int)sizeof todo)
                        return -1;
        }
        return -1;
}

/* The package of the tree whose file list (var/lib/dpkg/info/<pkg>.list) holds path. */
static int owner_package(const char *root, const char *path, char *pkg, size_t size)
{
        char info[4096];
        if (snprintf(info, sizeof info, "%s/var/lib/dpkg/info", root) >= (int)sizeof info)
                return -1;
        DIR *d = opendir(info);
        if (!d)
                return -1;
        /* merged /usr: a package may list /bin/x for what is /usr/bin/x */
        const char *alt = !strncmp(path, "/usr/", 5) ? path + 4 : NULL;
        int found = -1;
        struct dirent *de;
        while (found < 0 && (de = readdir(d))) {
                size_t len = strlen(de->d_name);
                if (len < 6 || strcmp(de->d_name + len - 5, ".list"))
                        continue;
                char lp[8192];
                snprintf(lp, sizeof lp, "%s/%s", info, de->d_name);
                FILE *f = fopen(lp, "re");
                if (!f)
                        continue;
                char line[4096];
                while (fgets(line, sizeof line, f)) {
                        line[strcspn(line, "\n")] = '\0';
                        if (!strcmp(line, path) || (alt && !strcmp(line, alt))) {
                                /* names hold dots ("python3.11-minimal"): cut ".list"
                                 * and an ":arch" only */
                                size_t n = len - 5;
                                const char *colon = memchr(de->d_name, ':', n);
                                if (colon)
                                        n = (size_t)(colon - de->d_name);
                                snprintf(pkg, size, "%.*s", (int)n, de->d_name);
                                found = 0;
                                break;
                        }
                }
                fclose(f);
        }
        closedir(d);
        return found;
}

/* "package version" of the program that runs argv0 in tree, from the tree's manifest;
 * "-" when the tree is not built or the program is not found. */
static void tool_version(const jr_lang *l, const char *tree, const char *argv0, char *out,
                         size_t size)
{
        snprintf(out, size, "-");
        char root[4096];
        snprintf(root, sizeof root, "%s/%s", jr_rootfs_default_dir(), tree);
        /* the language's PATH, as the jail has it */
        const char *path_var = "/usr/local/bin:/usr/bin:/bin";
        for (char **e = l->env; e && *e; e++)
                if (!strncmp(*e, "PATH=", 5))
                        path_var = *e + 5;
        char resolved[4096] = "";
        if (strchr(argv0, '/')) {
                if (resolve_in_tree(root, argv0, resolved, sizeof resolved) < 0)
                        return;
        } else {
                char dirs[4096];
                snprintf(dirs, sizeof dirs, "%s", path_var);
                char *save = NULL;
                for (char *dd = strtok_r(dirs, ":", &save); dd && !*resolved;
                     dd = strtok_r(NULL, ":", &save)) {
                        char cand[4096];
                        snprintf(cand, sizeof cand, "%s/%s", dd, argv0);
                        if (resolve_in_tree(root, cand, resolved, sizeof resolved) < 0)
                                resolved[0] = '\0';
                }
                if (!*resolved)
                        return;
        }
        char pkg[256];
        if (owner_package(root, resolved, pkg, sizeof pkg) < 0)
                return;
        char manifest[4096 + 32];
        snprintf(manifest, sizeof manifest, "%s/.jailrun/manifest", root);
        FILE *f = fopen(manifest, "re");
        if (!f)
                return;
        char line[1024];
        while (fgets(line, sizeof line, f)) {
                char *tab = strchr(line, '\t');
                if (!tab || (size_t)(tab - line) != strlen(pkg) || strncmp(line, pkg, strlen(pkg)))
                        continue;
                char *ver = tab + 1;
                ver[strcspn(ver, "\t\n")] = '\0';
                snprintf(out, size, "%s %s", pkg, ver);
                break;
        }
        fclose(f);
}

/* argv joined as a shell would read it back, {src} replaced by the source file's name,
 * '|' escaped for a Markdown table. */
static void md_command(char *const *argv, const char *src, char *out, size_t size)
{
        size_t o = 0;
        out[0] = '\0';
        for (char *const *a = argv; a && *a && o + 8 < size; a++) {
                bool quote = !**a || strpbrk(*a, " \t\"'|$\\");
                if (a != argv)
                        out[o++] = ' ';
                if (quote)
                        out[o++] = '"';
                for (const char *p = *a; *p && o + 6 < size; p++) {
                        if (!strncmp(p, "{src}", 5) && o + strlen(src) + 6 < size) {
                                o += (size_t)snprintf(out + o, size - o, "%s", src);
                                p += 4;
                                continue;
                        }
                        if (*p == '"' || *p == '\\')
                                out[o++] = '\\';
                        if (*p == '|')
                                out[o++] = '\\';
                        out[o++] = *p;
                }
                if (quote)
                        out[o++] = '"';
                out[o] = '\0';
        }
}

static int table_md(const char *dir, int n)
{
        double load = -1;
        FILE *la = fopen("/proc/loadavg", "re");
        if (la) {
                if (fscanf(la, "%lf", &load) != 1)
                        load = -1;
                fclose(la);
        }
        printf("| language | compiler / runtime (Debian package) | build (tree) | run (tree) | "
               "memory at least | end-to-end | build | test |\n");
        printf("|---|---|---|---|---|---|---|---|\n");
        for (size_t i = 0; langs[i]; i++) {
                const jr_lang *l = jr_lang_find(lang_set, langs[i]);
                const char *tree = l->build ? l->build_rootfs : l->run_rootfs;
                char version[512], build[2048] = "none", run[2048], mem[32] = "as requested";
                tool_version(l, tree, l->build ? l->build[0] : l->run[0], version, sizeof version);
                if (l->build)
                        md_command(l->build, l->source, build, sizeof build);
                md_command(l->run, l->source, run, sizeof run);
                if (l->min_memory_bytes)
                        jr_format_size(l->min_memory_bytes, mem, sizeof mem);
                struct medians m;
                if (measure_ok(dir, langs[i], n, &m) < 0)
                        return 1;
                printf("| %s | %s | `%s` (%s) | `%s` (%s) | %s | %.0f ms | %.0f ms | %.0f ms |\n",
                       l->name, version, build, l->build ? l->build_rootfs : "-", run,
                       l->run_rootfs, mem, m.e2e, m.build, m.test);
                fflush(stdout);
        }
        printf("\nVersions: the package that owns the build command (the run command when "
               "there is no build) in the tree, from its .jailrun/manifest (%s). Times: "
               "`jailrun run` on tests/cases/<language>/ok.json with one test and a unique "
               "source each time, median of %d, build and test inside it; load average %.2f "
               "at the start.\n",
               jr_rootfs_default_dir(), n, load);
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
        bool counted = !strcmp(mode, "latency") || !strcmp(mode, "table-md");
        const char *dir =
            argc > (counted ? 3 : 2) ? argv[counted ? 3 : 2] : JR_SOURCE_DIR "/tests/cases";
        int count = counted && argc > 2 ? atoi(argv[2]) : !strcmp(mode, "latency") ? 7 : 5;
        if (count < 1) {
                fprintf(stderr, "matrix: N must be at least 1\n");
                return 2;
        }
        lang_set = bench_langs("matrix");
        langs = bench_case_langs("matrix", lang_set, dir);
        int r;
        if (!strcmp(mode, "table"))
                r = table(dir);
        else if (!strcmp(mode, "latency"))
                r = latency(dir, count);
        else if (!strcmp(mode, "table-md"))
                r = table_md(dir, count);
        else {
                fprintf(stderr, "usage: matrix table [CASES_DIR] | matrix latency [N] [CASES_DIR] "
                                "| matrix table-md [N] [CASES_DIR]\n");
                r = 2;
        }
        free(langs);
        jr_lang_set_free(lang_set);
        return r;
}
