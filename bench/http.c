/* bench/http: the HTTP front door of `jailrun serve`, against `jailrun run`.
 *
 * Starts build/jailrun serve with KAFKA_BROKERS=embedded and JAILRUN_HTTP_ADDR on a free
 * loopback port (RUNNER_MAX_PARALLEL = --parallel, 2 by default), then:
 *
 * 1. Latency, in one run, interleaved: the same trivial Python submission (one test)
 *    judged by `jailrun run` (a process per submission: wall time of the process) and by
 *    POST /execute (one request at a time: wall time of the request, keep-alive
 *    connection). For each /execute it also reads serve's "judged" log line of that job
 *    and subtracts the service's own latency (from consuming the submission to its
 *    result being spooled): the rest is what the front door adds (HTTP, the produce to
 *    KAFKA_TOPIC, the consume back, the store, the wake-up).
 * 2. Throughput: --clients requests in flight for --seconds (trivial Python, a unique
 *    source each), requests per second and their latency.
 *
 * Usage: http [--rounds N] [--parallel P] [--clients C] [--seconds S]
 * Run as root (jails), with the python tree built. */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

extern char **environ;

static char jailrun[4096];
static char work[64];

/* ---- serve ----------------------------------------------------------------------------- */

static pid_t serve_pid;
static char serve_log[128];
static unsigned port;

static void serve_start(unsigned parallel)
{
        snprintf(serve_log, sizeof serve_log, "%s/serve.log", work);
        char par[64], db[128];
        snprintf(par, sizeof par, "RUNNER_MAX_PARALLEL=%u", parallel);
        snprintf(db, sizeof db, "JAILRUN_RESULTS_DB=%s/results.db", work);
        static const char *const drop[] = {"KAFKA_", "RUNNER_", "JAILRUN_HTTP", "JAILRUN_RESULTS",
                                           NULL};
        const char *env[] = {"KAFKA_BROKERS=embedded", "JAILRUN_HTTP_ADDR=127.0.0.1:0", par, db,
                             NULL};
        serve_pid = bench_serve_spawn(jailrun, serve_log, true, drop, env, false);
        bench_wait_log(serve_log, "\"msg\":\"serving\"", &serve_pid, 120000);
        /* the front door is up before serve says it is serving */
        char *log = bench_slurp(serve_log);
        char *p = log ? strstr(log, "\"msg\":\"http front door\"") : NULL;
        if (p && (p = strstr(p, "\"port\":")))
                port = (unsigned)strtoul(p + 7, NULL, 10);
        free(log);
        if (!port)
                bench_die("serve logged no HTTP port (see %s)", serve_log);
}

static void serve_stop(void)
{
        kill(serve_pid, SIGTERM);
        waitpid(serve_pid, NULL, 0);
}

/* serve's latency_ms (consume -> result spooled) for a job, -1 when not logged yet. */
static double serve_latency(const char *id)
{
        char needle[128];
        snprintf(needle, sizeof needle, "\"msg\":\"judged\",\"id\":\"%s\"", id);
        char *log = bench_slurp(serve_log);
        char *p = log ? strstr(log, needle) : NULL;
        double v = -1;
        if (p && (p = strstr(p, "\"latency_ms\":")))
                v = strtod(p + 13, NULL);
        free(log);
        return v;
}

/* ---- clients -------------------------------------------------------------------------- */

struct buf {
        char *p;
        size_t n;
};

static size_t to_buf(char *p, size_t sz, size_t n, void *ud)
{
        struct buf *b = ud;
        b->p = realloc(b->p, b->n + sz * n + 1);
        memcpy(b->p + b->n, p, sz * n);
        b->n += sz * n;
        b->p[b->n] = '\0';
        return sz * n;
}

static CURL *execute_handle(CURL *c, const char *body, struct buf *out, struct curl_slist *h)
{
        char url[128];
        snprintf(url, sizeof url, "http://127.0.0.1:%u/execute", port);
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, to_buf);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
        curl_easy_setopt(c, CURLOPT_TIMEOUT, 300L);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        return c;
}

/* `jailrun run` of the same submission: the process's wall time. */
static double run_once(const char *script)
{
        char path[128];
        snprintf(path, sizeof path, "%s/sub.json", work);
        FILE *f = fopen(path, "we");
        fputs(script, f);
        fclose(f);
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
        char *argv[] = {jailrun, "run", path, NULL};
        double t0 = bench_now_ms();
        pid_t pid;
        if (posix_spawn(&pid, jailrun, &fa, NULL, argv, environ) != 0)
                bench_die("spawn run");
        int st;
        waitpid(pid, &st, 0);
        double t = bench_now_ms() - t0;
        posix_spawn_file_actions_destroy(&fa);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
                bench_die("jailrun run failed");
        return t;
}

int main(int argc, char **argv)
{
        bench_name = "http bench";
        unsigned rounds = 30, parallel = 2, clients = 8, seconds = 20;
        const char *usage = "usage: http [--rounds N] [--parallel P] [--clients C] [--seconds S]\n"
                            "  latency of /execute against `jailrun run` (interleaved rounds),\n"
                            "  then C clients for S seconds against P runners";
        for (int i = 1; i < argc; i += 2) {
                if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
                        puts(usage);
                        return 0;
                }
                if (i + 1 >= argc)
                        bench_die("%s", usage);
                if (!strcmp(argv[i], "--rounds"))
                        rounds = (unsigned)atoi(argv[i + 1]);
                else if (!strcmp(argv[i], "--parallel"))
                        parallel = (unsigned)atoi(argv[i + 1]);
                else if (!strcmp(argv[i], "--clients"))
                        clients = (unsigned)atoi(argv[i + 1]);
                else if (!strcmp(argv[i], "--seconds"))
                        seconds = (unsigned)atoi(argv[i + 1]);
                else
                        bench_die("%s", usage);
        }
        bench_find_jailrun(jailrun, sizeof jailrun);
        snprintf(work, sizeof work, "/var/tmp/jr-bench-http.XXXXXX");
        if (!mkdtemp(work))
                bench_die("mkdtemp");
        curl_global_init(CURL_GLOBAL_DEFAULT);
        serve_start(parallel);
        printf("jailrun serve: RUNNER_MAX_PARALLEL=%u, HTTP on 127.0.0.1:%u, embedded broker\n",
               parallel, port);

        /* ---- 1. latency ---- */
        struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
        CURL *c = curl_easy_init(); /* one keep-alive connection */
        double *t_run = calloc(rounds, sizeof *t_run), *t_http = calloc(rounds, sizeof *t_http);
        double *t_front = calloc(rounds, sizeof *t_front);
        char last_id[64] = "";
        size_t n_front = 0;
        for (unsigned r = 0; r < rounds + 2; r++) {
                /* unique sources: nothing can be cached */
                char body[512], script[512];
                snprintf(body, sizeof body,
                         "{\"language\":\"python\",\"source\":\"print(int(input())*2) # %u\","
                         "\"tests\":[{\"stdin\":\"21\\n\",\"expectedStdout\":\"42\\n\"}]}",
                         r);
                snprintf(
                    script, sizeof script,
                    "{\"id\":\"run-%u\",\"language\":\"python\",\"source\":\"print(int(input())"
                    "*2) # r%u\",\"tests\":[{\"input\":\"21\\n\",\"expected_output\":\"42\\n\"}]}",
                    r, r);
                double tr = run_once(script);
                struct buf out = {0};
                execute_handle(c, body, &out, h);
                double t0 = bench_now_ms();
                if (curl_easy_perform(c) != CURLE_OK)
                        bench_die("POST /execute failed");
                double th = bench_now_ms() - t0;
                if (!out.p || !strstr(out.p, "\"ok\":true"))
                        bench_die("%s", out.p ? out.p : "empty answer");
                char id[64] = "";
                sscanf(out.p, "{\"jobId\":\"%63[^\"]", id);
                snprintf(last_id, sizeof last_id, "%s", id);
                free(out.p);
                if (r < 2)
                        continue; /* warm-up */
                t_run[r - 2] = tr;
                t_http[r - 2] = th;
                double lat = -1;
                for (int k = 0; k < 50 && (lat = serve_latency(id)) < 0; k++)
                        usleep(10000);
                if (lat >= 0)
                        t_front[n_front++] = th - lat;
        }
        /* the HTTP layer alone, on the same connection: a probe and a GET from the store */
        double *t_probe = calloc(rounds, sizeof *t_probe), *t_get = calloc(rounds, sizeof *t_get);
        for (unsigned r = 0; r < rounds; r++) {
                char url[160];
                struct buf out = {0};
                curl_easy_setopt(c, CURLOPT_POSTFIELDS, NULL);
                curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
                curl_easy_setopt(c, CURLOPT_WRITEDATA, &out);
                snprintf(url, sizeof url, "http://127.0.0.1:%u/healthz", port);
                curl_easy_setopt(c, CURLOPT_URL, url);
                double t0 = bench_now_ms();
                if (curl_easy_perform(c) != CURLE_OK)
                        bench_die("GET /healthz failed");
                t_probe[r] = bench_now_ms() - t0;
                snprintf(url, sizeof url, "http://127.0.0.1:%u/v1/executions/%s", port, last_id);
                curl_easy_setopt(c, CURLOPT_URL, url);
                t0 = bench_now_ms();
                if (curl_easy_perform(c) != CURLE_OK)
                        bench_die("GET /v1/executions/ID failed");
                t_get[r] = bench_now_ms() - t0;
                free(out.p);
        }
        curl_easy_cleanup(c);
        double run50 = bench_pct(t_run, rounds, 0.5), http50 = bench_pct(t_http, rounds, 0.5);
        printf("\nlatency of one trivial Python submission (one test), %u rounds, interleaved:\n",
               rounds);
        printf("  jailrun run (a process)    p50 %7.1f ms   p90 %7.1f ms\n", run50,
               bench_pct(t_run, rounds, 0.9));
        printf("  POST /execute              p50 %7.1f ms   p90 %7.1f ms\n", http50,
               bench_pct(t_http, rounds, 0.9));
        printf("  difference of medians (/execute - run): %+.1f ms\n", http50 - run50);
        printf("  front door's own part      p50 %7.1f ms   p90 %7.1f ms   (/execute minus "
               "serve's consume->spooled latency)\n",
               bench_pct(t_front, n_front, 0.5), bench_pct(t_front, n_front, 0.9));
        printf("  of which HTTP alone: GET /healthz p50 %.2f ms, GET /v1/executions/ID p50 %.2f ms;"
               "\n  the rest is the submission's trip through Kafka (spool fsync, the "
               "producer's linger, the consumer's fetch wait)\n",
               bench_pct(t_probe, rounds, 0.5), bench_pct(t_get, rounds, 0.5));

        /* ---- 2. throughput ---- */
        CURLM *m = curl_multi_init();
        struct slot {
                CURL *c;
                struct buf out;
                char body[256];
                double t0;
        } *sl = calloc(clients, sizeof *sl);
        double *lat = malloc(sizeof(double) * 100000);
        size_t done = 0, failed = 0, seq = 0;
        double start = bench_now_ms(), end = start + seconds * 1000.0;
        for (unsigned i = 0; i < clients; i++) {
                sl[i].c = curl_easy_init();
                snprintf(sl[i].body, sizeof sl[i].body,
                         "{\"language\":\"python\",\"source\":\"print(1) # t%zu\"}", seq++);
                execute_handle(sl[i].c, sl[i].body, &sl[i].out, h);
                curl_easy_setopt(sl[i].c, CURLOPT_PRIVATE, &sl[i]);
                sl[i].t0 = bench_now_ms();
                curl_multi_add_handle(m, sl[i].c);
        }
        int running = 1;
        while (running) {
                curl_multi_perform(m, &running);
                CURLMsg *msg;
                int left;
                while ((msg = curl_multi_info_read(m, &left))) {
                        if (msg->msg != CURLMSG_DONE)
                                continue;
                        struct slot *s;
                        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&s);
                        bool ok = msg->data.result == CURLE_OK && s->out.p &&
                                  strstr(s->out.p, "\"ok\":true");
                        double t = bench_now_ms();
                        if (ok && done < 100000)
                                lat[done++] = t - s->t0;
                        else if (!ok)
                                failed++;
                        free(s->out.p);
                        s->out = (struct buf){0};
                        curl_multi_remove_handle(m, s->c);
                        if (t < end) {
                                snprintf(s->body, sizeof s->body,
                                         "{\"language\":\"python\",\"source\":\"print(1) # "
                                         "t%zu\"}",
                                         seq++);
                                execute_handle(s->c, s->body, &s->out, h);
                                s->t0 = t;
                                curl_multi_add_handle(m, s->c);
                                running = 1;
                        }
                }
                curl_multi_poll(m, NULL, 0, 100, NULL);
        }
        double elapsed = (bench_now_ms() - start) / 1000.0;
        printf("\nthroughput: %u clients for %u s, trivial Python, RUNNER_MAX_PARALLEL=%u:\n",
               clients, seconds, parallel);
        printf("  %zu answered (%zu failed) in %.1f s: %.2f requests/s\n", done, failed, elapsed,
               (double)done / elapsed);
        printf("  request latency            p50 %7.1f ms   p90 %7.1f ms   p99 %7.1f ms\n",
               bench_pct(lat, done, 0.5), bench_pct(lat, done, 0.9), bench_pct(lat, done, 0.99));
        for (unsigned i = 0; i < clients; i++)
                curl_easy_cleanup(sl[i].c);
        curl_multi_cleanup(m);
        curl_slist_free_all(h);
        serve_stop();
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", work);
        if (system(cmd) != 0)
                fprintf(stderr, "could not remove %s\n", work);
        return failed ? 1 : 0;
}
