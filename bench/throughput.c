/* bench/throughput: `jailrun serve` end to end through Kafka.
 *
 * Starts librdkafka's mock cluster in this process (the embedded broker), then for each
 * RUNNER_MAX_PARALLEL value runs build/jailrun serve against it and feeds it the outcome
 * matrix (tests/cases/<lang>/<outcome>.json), every source made unique with a comment so
 * that nothing can be cached, keeping a window of submissions outstanding (2 x parallel
 * by default, so an executor never waits for the next one). It measures:
 *   - throughput: submissions per minute (and per core) from the first produce to the
 *     last result;
 *   - end-to-end latency: produce -> result consumed, p50 and p99 (with the window's
 *     queueing);
 *   - where the time goes: the compiler (the result's build_duration_ms), the program
 *     (the tests' duration_ms) and jailrun's own work (the rest of the judge's wall time,
 *     total_ms of serve's "judged" log line: jail setup and teardown, copying artifacts,
 *     verdicts);
 *   - the supervisor's and the executors' peak RSS (VmHWM).
 * A last phase sends C submissions one at a time (parallel 1, window 1) to measure the
 * pipeline's own cost: end-to-end latency minus the judge's wall time (Kafka both ways,
 * spool writes with fsync, the executor round trip).
 *
 * Usage: throughput [--parallel 1,2,4] [--rounds N] [--langs c,cpp,go,java,python|all]
 *                   [--outcomes ok,wa,tl_busy,ml,bf] [--window-factor F]
 *                   [--spool-root DIR] [--probe N] [--kafka-config PROPS]
 *                   [--fetch-wait MS]
 * --langs picks the languages (default: the five the reference worker had; `all`: every
 * language with cases, bench/cases.h); --outcomes picks the mix (default: every case file;
 * the reference simulator's mix is ok,wa,tl_busy,ml,bf); --kafka-config adds
 * JAILRUN_KAFKA_CONFIG properties for serve. A source is made unique with a line comment
 * in the language's syntax (its `comment` key).
 * --fetch-wait sets fetch.wait.max.ms of every consumer, serve's and the bench's own
 * (default 1): the mock cluster answers a fetch only when that wait is over, so it is a
 * latency both ways that a real broker does not have.
 * Run as root (jails). The spool lives on disk by default (/var/tmp/jailrun-bench), as in
 * production: records are fsync'd (once per pass of serve's loop). */
#include <dirent.h>
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#include "bench.h"
#include "cases.h"
#include "kafka.h"
#include "lang.h"

#define NPARTS 4

static char jailrun[4096];
static const char *kafka_extra; /* --kafka-config: more librdkafka properties for serve */
static int fetch_wait_ms = 1;   /* --fetch-wait */

/* ---- the cases -------------------------------------------------------------------------- */

struct tcase {
        char lang[32];
        const jr_lang *l;
        char outcome[32];
        yajl_val tree;
        char expect[8];
};

#define MAX_CASES 512
static struct tcase cases[MAX_CASES];
static size_t n_cases;
/* the cases that make the mix (--outcomes), in arrival order */
static const struct tcase *mix[MAX_CASES];
static jr_lang_set *lang_set;
static size_t n_mix;

static int cmp_case(const void *a, const void *b)
{
        const struct tcase *x = a, *y = b;
        int c = strcmp(x->outcome, y->outcome);
        return c ? c : strcmp(x->lang, y->lang);
}

/* --outcomes: NULL = every outcome */
static const char *outcome_filter;

static bool outcome_wanted(const char *name)
{
        if (!outcome_filter)
                return true;
        size_t n = strlen(name);
        for (const char *p = outcome_filter; *p;) {
                size_t len = strcspn(p, ",");
                if (len == n && !strncmp(p, name, n))
                        return true;
                p += len + (p[len] == ',');
        }
        return false;
}

static void load_cases(char *langs)
{
        lang_set = bench_langs("throughput");
        if (!strcmp(langs, "all")) {
                /* every language with cases, comma-separated in place of "all" */
                const char **all =
                    bench_case_langs("throughput", lang_set, JR_SOURCE_DIR "/tests/cases");
                size_t o = 0;
                for (const char **a = all; *a && o < 255; a++)
                        o += (size_t)snprintf(langs + o, 256 - o, "%s%s", o ? "," : "", *a);
                free(all);
        }
        for (char *save = NULL, *l = strtok_r(langs, ",", &save); l;
             l = strtok_r(NULL, ",", &save)) {
                const jr_lang *lang = jr_lang_find(lang_set, l);
                if (!lang)
                        bench_die("--langs: no language \"%s\" in %s", l, jr_lang_default_dir());
                if (!lang->comment)
                        bench_die("%s has no `comment` key: its sources cannot be made unique "
                                  "(langs/README.md)",
                                  lang->path);
                char dir[4096];
                snprintf(dir, sizeof dir, "%s/tests/cases/%s", JR_SOURCE_DIR, l);
                DIR *d = opendir(dir);
                if (!d)
                        bench_die("no cases in %s", dir);
                struct dirent *de;
                while ((de = readdir(d))) {
                        if (n_cases == MAX_CASES)
                                bench_die("more than %d cases", MAX_CASES);
                        size_t len = strlen(de->d_name);
                        if (len < 6 || strcmp(de->d_name + len - 5, ".json"))
                                continue;
                        char path[8192];
                        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
                        char *text = bench_slurp(path), err[256];
                        struct tcase *c = &cases[n_cases];
                        c->tree = yajl_tree_parse(text, err, sizeof err);
                        if (!c->tree)
                                bench_die("%s: %s", path, err);
                        free(text);
                        snprintf(c->lang, sizeof c->lang, "%s", l);
                        c->l = lang;
                        snprintf(c->outcome, sizeof c->outcome, "%.*s", (int)(len - 5), de->d_name);
                        const char *p[] = {"expect", "status", NULL};
                        yajl_val v = yajl_tree_get(c->tree, p, yajl_t_string);
                        snprintf(c->expect, sizeof c->expect, "%s", v ? YAJL_GET_STRING(v) : "?");
                        n_cases++;
                }
                closedir(d);
        }
        /* interleave languages: the mix arrives as a real queue would */
        qsort(cases, n_cases, sizeof cases[0], cmp_case);
        for (size_t i = 0; i < n_cases; i++)
                if (outcome_wanted(cases[i].outcome))
                        mix[n_mix++] = &cases[i];
        if (n_mix == 0)
                bench_die("no case matches --outcomes %s", outcome_filter);
}

static void gen_str(yajl_gen g, const char *s)
{
        yajl_gen_string(g, (const unsigned char *)s, strlen(s));
}

static void gen_tree(yajl_gen g, yajl_val v)
{
        if (YAJL_IS_STRING(v))
                gen_str(g, YAJL_GET_STRING(v));
        else if (YAJL_IS_INTEGER(v))
                yajl_gen_integer(g, YAJL_GET_INTEGER(v));
        else if (YAJL_IS_DOUBLE(v))
                yajl_gen_double(g, YAJL_GET_DOUBLE(v));
        else if (YAJL_IS_TRUE(v))
                yajl_gen_bool(g, 1);
        else if (YAJL_IS_FALSE(v))
                yajl_gen_bool(g, 0);
        else if (YAJL_IS_NULL(v))
                yajl_gen_null(g);
        else if (YAJL_IS_ARRAY(v)) {
                yajl_gen_array_open(g);
                for (size_t i = 0; i < v->u.array.len; i++)
                        gen_tree(g, v->u.array.values[i]);
                yajl_gen_array_close(g);
        } else if (YAJL_IS_OBJECT(v)) {
                yajl_gen_map_open(g);
                for (size_t i = 0; i < v->u.object.len; i++) {
                        gen_str(g, v->u.object.keys[i]);
                        gen_tree(g, v->u.object.values[i]);
                }
                yajl_gen_map_close(g);
        }
}

/* The case as a message with this id and a source nobody has seen before. */
static char *make_message(const struct tcase *c, const char *id, unsigned long counter)
{
        yajl_gen g = yajl_gen_alloc(NULL);
        yajl_val t = c->tree;
        yajl_gen_map_open(g);
        for (size_t i = 0; i < t->u.object.len; i++) {
                const char *k = t->u.object.keys[i];
                yajl_val v = t->u.object.values[i];
                if (!strcmp(k, "expect"))
                        continue;
                gen_str(g, k);
                if (!strcmp(k, "id")) {
                        gen_str(g, id);
                } else if (!strcmp(k, "source") && YAJL_IS_STRING(v)) {
                        char tag[64], why[512];
                        snprintf(tag, sizeof tag, "jailrun-bench %lu", counter);
                        char *s =
                            bench_unique_source(c->l, YAJL_GET_STRING(v), tag, why, sizeof why);
                        if (!s)
                                bench_die("%s", why);
                        gen_str(g, s);
                        free(s);
                } else {
                        gen_tree(g, v);
                }
        }
        yajl_gen_map_close(g);
        const unsigned char *buf;
        size_t len;
        yajl_gen_get_buf(g, &buf, &len);
        char *out = strndup((const char *)buf, len);
        yajl_gen_free(g);
        return out;
}

/* ---- one run of serve ------------------------------------------------------------------- */

struct sample {
        char id[96];
        const struct tcase *c;
        double sent_ms, e2e_ms;
        long duration_ms, build_ms, tests_ms;
        long total_ms; /* the judge's wall time, from serve's "judged" log line; -1: none */
        long own_us;   /* jailrun's own part of it, from the same line; -1: none */
        bool done;
        bool mismatch;
        char status[8];
};

struct run {
        unsigned parallel;
        size_t window;
        char topic[64], results[64], events[64];
        pid_t pid;
        char log[4096];
        struct sample *s;
        size_t n;
};

static long status_kb(pid_t pid, const char *field)
{
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
        char *st = bench_slurp(path);
        if (!st)
                return -1;
        char *p = strstr(st, field);
        long kb = p ? atol(p + strlen(field) + 1) : -1;
        free(st);
        return kb;
}

static pid_t start_serve(struct run *r, const char *brokers, const char *spool_root)
{
        char spool[4096];
        snprintf(spool, sizeof spool, "%s/spool-p%u", spool_root, r->parallel);
        char cmd[8192];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", spool);
        if (system(cmd) != 0)
                bench_die("%s failed", cmd);
        snprintf(r->log, sizeof r->log, "%s/serve-p%u.log", spool_root, r->parallel);
        char *envs[16];
        size_t ne = 0;
        if (asprintf(&envs[ne++], "KAFKA_BROKERS=%s", brokers) < 0 ||
            asprintf(&envs[ne++], "KAFKA_TOPIC=%s", r->topic) < 0 ||
            asprintf(&envs[ne++], "KAFKA_RESULTS_TOPIC=%s", r->results) < 0 ||
            asprintf(&envs[ne++], "KAFKA_EVENTS_TOPIC=%s", r->events) < 0 ||
            asprintf(&envs[ne++], "KAFKA_GROUP_ID=bench-p%u", r->parallel) < 0 ||
            asprintf(&envs[ne++], "RUNNER_MAX_PARALLEL=%u", r->parallel) < 0 ||
            asprintf(&envs[ne++], "JAILRUN_SPOOL_DIR=%s", spool) < 0 ||
            asprintf(&envs[ne++], "JAILRUN_KAFKA_CONFIG=consumer.fetch.wait.max.ms=%d%s%s",
                     fetch_wait_ms, kafka_extra ? ";" : "", kafka_extra ? kafka_extra : "") < 0)
                bench_die("out of memory");
        envs[ne] = NULL;
        static const char *const drop[] = {"KAFKA_",        "RUNNER_",       "SCRIPT_",
                                           "JAILRUN_SPOOL", "JAILRUN_KAFKA", NULL};
        pid_t pid =
            bench_serve_spawn(jailrun, r->log, false, drop, (const char *const *)envs, false);
        for (size_t i = 0; i < ne; i++)
                free(envs[i]);
        return pid;
}

static long json_int(yajl_val obj, const char *a, const char *b)
{
        const char *p[] = {a, b, NULL};
        yajl_val v = yajl_tree_get(obj, p, yajl_t_number);
        return v && YAJL_IS_INTEGER(v) ? (long)YAJL_GET_INTEGER(v) : 0;
}

/* Consume results until every sample of [from, to) is done, keeping `window` outstanding. */
static void drive(struct run *r, rd_kafka_t *prod, rd_kafka_t *cons, size_t from, size_t to,
                  size_t window)
{
        size_t next = from, outstanding = 0, done = 0;
        while (done < to - from) {
                while (next < to && outstanding < window) {
                        struct sample *s = &r->s[next];
                        char *msg = make_message(s->c, s->id, (unsigned long)next);
                        s->sent_ms = bench_now_ms();
                        bench_produce(prod, r->topic, -1, s->id, msg);
                        free(msg);
                        next++;
                        outstanding++;
                }
                rd_kafka_message_t *m = rd_kafka_consumer_poll(cons, 100);
                rd_kafka_poll(prod, 0);
                int st = 0;
                if (waitpid(r->pid, &st, WNOHANG) == r->pid)
                        bench_die("serve exited (status %d); log: %s", st, r->log);
                if (!m)
                        continue;
                if (m->err) {
                        rd_kafka_message_destroy(m);
                        continue;
                }
                double t = bench_now_ms();
                char key[128];
                snprintf(key, sizeof key, "%.*s", (int)m->key_len, (const char *)m->key);
                struct sample *s = NULL;
                for (size_t i = from; i < to && !s; i++)
                        if (!r->s[i].done && !strcmp(r->s[i].id, key))
                                s = &r->s[i];
                if (s) {
                        char *text = strndup(m->payload, m->len), err[256];
                        yajl_val v = yajl_tree_parse(text, err, sizeof err);
                        if (!v)
                                bench_die("result not JSON: %s", err);
                        const char *ps[] = {"status", NULL};
                        yajl_val stv = yajl_tree_get(v, ps, yajl_t_string);
                        snprintf(s->status, sizeof s->status, "%s",
                                 stv ? YAJL_GET_STRING(stv) : "?");
                        s->mismatch = strcmp(s->status, s->c->expect) != 0;
                        s->duration_ms = json_int(v, "duration_ms", NULL);
                        s->build_ms = json_int(v, "build_duration_ms", NULL);
                        const char *pt[] = {"tests", NULL};
                        yajl_val tests = yajl_tree_get(v, pt, yajl_t_array);
                        for (size_t i = 0; tests && i < tests->u.array.len; i++)
                                s->tests_ms +=
                                    json_int(tests->u.array.values[i], "duration_ms", NULL);
                        s->e2e_ms = t - s->sent_ms;
                        s->done = true;
                        done++;
                        outstanding--;
                        yajl_tree_free(v);
                        free(text);
                }
                rd_kafka_message_destroy(m);
        }
}

static void set_total(const char *id, size_t id_len, long total_ms, long own_us, void *ud)
{
        struct run *r = ud;
        for (size_t i = 0; i < r->n; i++)
                if (strlen(r->s[i].id) == id_len && !memcmp(r->s[i].id, id, id_len)) {
                        r->s[i].total_ms = total_ms;
                        r->s[i].own_us = own_us;
                }
}

/* The judge's wall time of each submission, from serve's log (bench_each_judged). */
static void judged_from_log(struct run *r)
{
        for (size_t i = 0; i < r->n; i++)
                r->s[i].total_ms = r->s[i].own_us = -1;
        bench_each_judged(r->log, set_total, r);
}

/* The judge's wall time of s: serve's figure, or its build and tests without it. */
static long judge_ms(const struct sample *s)
{
        return s->total_ms >= 0 ? s->total_ms : s->build_ms + s->tests_ms;
}

/* jailrun's own time in the judge: serve's own_us, else (no judged line carrying it)
 * the judge's wall time minus the compiler and the tests, whole milliseconds each */
static double own_ms(const struct sample *s)
{
        if (s->own_us >= 0)
                return (double)s->own_us / 1000;
        return (double)(judge_ms(s) - s->build_ms - s->tests_ms);
}

static void executors_hwm(const char *log_path, long *sum_kb, long *max_kb)
{
        *sum_kb = *max_kb = 0;
        char *log = bench_slurp(log_path);
        for (const char *p = log; p && (p = strstr(p, "\"msg\":\"executor ready\"")); p++) {
                const char *q = strstr(p, "\"pid\":");
                if (!q)
                        continue;
                long kb = status_kb((pid_t)atoi(q + 6), "VmHWM:");
                if (kb > 0) {
                        *sum_kb += kb;
                        if (kb > *max_kb)
                                *max_kb = kb;
                }
        }
        free(log);
}

struct figures {
        double per_min, p50, p99, build, prog, own, pipeline, pipeline_p50;
        long sup_kb, exec_kb;
        size_t n, mismatches;
};

/* One serve with `parallel` executors: `warm` warm-up submissions, then `count` measured
 * ones from the mix (round-robin), `window` outstanding. */
static struct figures run_serve(const char *brokers, const char *spool_root, unsigned parallel,
                                size_t count, size_t window, bool only_c_ok, bool verbose)
{
        static unsigned run_no;
        struct run r = {.parallel = parallel, .window = window};
        run_no++;
        snprintf(r.topic, sizeof r.topic, "scripts-%u", run_no);
        snprintf(r.results, sizeof r.results, "results-%u", run_no);
        snprintf(r.events, sizeof r.events, "events-%u", run_no);
        size_t warm = parallel;
        r.n = warm + count;
        r.s = calloc(r.n, sizeof *r.s);
        const struct tcase *c_ok = NULL;
        for (size_t i = 0; i < n_cases; i++)
                if (!strcmp(cases[i].lang, "c") && !strcmp(cases[i].outcome, "ok"))
                        c_ok = &cases[i];
        if (!c_ok)
                bench_die("the mix needs c/ok.json for the warm-up");
        for (size_t i = 0; i < r.n; i++) {
                struct sample *s = &r.s[i];
                s->c = i < warm || only_c_ok ? c_ok : mix[(i - warm) % n_mix];
                snprintf(s->id, sizeof s->id, "b%u-%zu-%s-%s", run_no, i, s->c->lang,
                         s->c->outcome);
        }
        r.pid = start_serve(&r, brokers, spool_root);
        bench_wait_log(r.log, "\"msg\":\"serving\"", &r.pid, 120000);
        rd_kafka_t *prod = bench_client(RD_KAFKA_PRODUCER, brokers, NULL, 0);
        rd_kafka_t *cons = bench_client(RD_KAFKA_CONSUMER, brokers, "bench-reader", fetch_wait_ms);
        bench_assign_all(cons, r.results, NPARTS);
        /* warm-up: the consumer group forms (the mock waits 3 s), caches fill */
        drive(&r, prod, cons, 0, warm, warm);
        double t0 = bench_now_ms();
        drive(&r, prod, cons, warm, r.n, window);
        double wall = bench_now_ms() - t0;

        struct figures f = {.n = count};
        f.sup_kb = status_kb(r.pid, "VmHWM:");
        long exec_max;
        executors_hwm(r.log, &f.exec_kb, &exec_max);
        kill(r.pid, SIGTERM);
        int st;
        waitpid(r.pid, &st, 0);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
                fprintf(stderr, "throughput: serve exit status %d (log %s)\n", st, r.log);
        judged_from_log(&r);

        double *e2e = calloc(count, sizeof *e2e), *pipes = calloc(count, sizeof *pipes);
        double build = 0, prog = 0, own = 0, pipe = 0;
        for (size_t i = 0; i < count; i++) {
                struct sample *s = &r.s[warm + i];
                e2e[i] = s->e2e_ms;
                build += (double)s->build_ms;
                prog += (double)s->tests_ms;
                own += own_ms(s);
                /* the pipeline's part: end-to-end minus the judge's wall time */
                pipes[i] = s->e2e_ms - (double)judge_ms(s);
                pipe += pipes[i];
                if (s->mismatch) {
                        f.mismatches++;
                        if (verbose)
                                fprintf(stderr, "  %s: got %s, expected %s\n", s->id, s->status,
                                        s->c->expect);
                }
        }
        f.per_min = (double)count / (wall / 60000.0);
        f.p50 = bench_pct(e2e, count, 0.5);
        f.p99 = bench_pct(e2e, count, 0.99);
        f.build = build / (double)count;
        f.prog = prog / (double)count;
        f.own = own / (double)count;
        f.pipeline = pipe / (double)count;
        f.pipeline_p50 = bench_pct(pipes, count, 0.5);
        free(pipes);
        if (verbose) {
                /* per language: median latency and jailrun's own time */
                printf("    P=%u per language:", parallel);
                for (size_t l = 0; l < n_mix; l++) {
                        bool first = true;
                        for (size_t k = 0; k < l; k++)
                                first = first && strcmp(mix[k]->lang, mix[l]->lang);
                        if (!first)
                                continue;
                        double v[1024], o = 0;
                        size_t m = 0;
                        for (size_t i = 0; i < count && m < 1024; i++) {
                                struct sample *s = &r.s[warm + i];
                                if (!strcmp(s->c->lang, mix[l]->lang)) {
                                        v[m++] = s->e2e_ms;
                                        o += own_ms(s);
                                }
                        }
                        printf("  %s p50 %.0f ms (own %.1f ms)", mix[l]->lang, bench_pct(v, m, 0.5),
                               m ? o / (double)m : 0);
                }
                printf("\n");
        }
        free(e2e);
        free(r.s);
        rd_kafka_consumer_close(cons);
        rd_kafka_destroy(cons);
        rd_kafka_flush(prod, 5000);
        rd_kafka_destroy(prod);
        return f;
}

int main(int argc, char **argv)
{
        char parallel_arg[256] = "1,2,4", langs[256] = "c,cpp,go,java,python";
        const char *spool_root = "/var/tmp/jailrun-bench";
        unsigned rounds = 1, factor = 2, probe = 30;
        bench_name = "throughput";
        for (int i = 1; i < argc; i++) {
                const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
                if (!strcmp(a, "--parallel") && v)
                        snprintf(parallel_arg, sizeof parallel_arg, "%s", argv[++i]);
                else if (!strcmp(a, "--rounds") && v)
                        rounds = (unsigned)atoi(argv[++i]);
                else if (!strcmp(a, "--langs") && v)
                        snprintf(langs, sizeof langs, "%s", argv[++i]);
                else if (!strcmp(a, "--window-factor") && v)
                        factor = (unsigned)atoi(argv[++i]);
                else if (!strcmp(a, "--spool-root") && v)
                        spool_root = argv[++i];
                else if (!strcmp(a, "--probe") && v)
                        probe = (unsigned)atoi(argv[++i]);
                else if (!strcmp(a, "--outcomes") && v)
                        outcome_filter = argv[++i];
                else if (!strcmp(a, "--kafka-config") && v)
                        kafka_extra = argv[++i];
                else if (!strcmp(a, "--fetch-wait") && v)
                        fetch_wait_ms = atoi(argv[++i]);
                else
                        bench_die(
                            "usage: throughput [--parallel 1,2,4] [--rounds N] [--langs LIST|all] "
                            "[--outcomes LIST] [--window-factor F] [--spool-root DIR] [--probe N] "
                            "[--kafka-config PROPS] [--fetch-wait MS]");
        }
        if (rounds < 1 || factor < 1)
                bench_die("--rounds and --window-factor must be at least 1");
        if (fetch_wait_ms < 0)
                bench_die("--fetch-wait must be at least 0");
        bench_find_jailrun(jailrun, sizeof jailrun);
        mkdir(spool_root, 0755);
        char langs_list[256];
        snprintf(langs_list, sizeof langs_list, "%s", langs);
        load_cases(langs);

        /* every run gets its own three topics, created up front */
        size_t runs = 2;
        for (const char *p = parallel_arg; *p; p++)
                runs += *p == ',';
        jr_kafka_topic_spec topics[3 * 18];
        char names[3 * 18][32];
        size_t nt = 0;
        for (size_t i = 1; i <= runs && i <= 18; i++) {
                static const char *const kind[] = {"scripts", "results", "events"};
                for (int k = 0; k < 3; k++) {
                        snprintf(names[nt], sizeof names[nt], "%s-%zu", kind[k], i);
                        topics[nt] = (jr_kafka_topic_spec){names[nt], NPARTS};
                        nt++;
                }
        }
        jr_kafka_broker *broker = NULL;
        jr_error e;
        if (jr_kafka_broker_start(topics, nt, bench_quiet_log, NULL, &broker, &e) < 0)
                bench_die("%s", e.msg);
        const char *brokers = jr_kafka_broker_bootstraps(broker);
        long cores = sysconf(_SC_NPROCESSORS_ONLN);

        printf("jailrun serve through the embedded broker (librdkafka mock cluster at %s)\n",
               brokers);
        printf("mix: %zu cases (%s x %s), each source unique, %u round(s); window = "
               "%u x parallel; %ld CPUs; spool %s%s%s\n\n",
               n_mix, langs_list, outcome_filter ? outcome_filter : "every outcome", rounds, factor,
               cores, spool_root, kafka_extra ? "; serve's kafka config + " : "",
               kafka_extra ? kafka_extra : "");
        printf("%8s %6s %9s %10s %8s %8s %9s %9s %10s %10s %9s %8s\n", "parallel", "subs",
               "subs/min", "/core/min", "p50 ms", "p99 ms", "build ms", "prog ms", "jailrun ms",
               "pipe ms", "sup MiB", "wrong");
        char *save = NULL;
        struct figures all[16];
        unsigned ps[16];
        size_t np = 0;
        for (char *p = strtok_r(parallel_arg, ",", &save); p && np < 16;
             p = strtok_r(NULL, ",", &save)) {
                unsigned par = (unsigned)atoi(p);
                if (par < 1)
                        bench_die("bad parallel \"%s\"", p);
                struct figures f = run_serve(brokers, spool_root, par, n_mix * rounds,
                                             (size_t)par * factor, false, true);
                printf("%8u %6zu %9.1f %10.1f %8.0f %8.0f %9.1f %9.1f %10.1f %10.1f %9.1f %8zu\n",
                       par, f.n, f.per_min, f.per_min / (double)cores, f.p50, f.p99, f.build,
                       f.prog, f.own, f.pipeline, (double)f.sup_kb / 1024.0, f.mismatches);
                printf("    executors' peak RSS: %.1f MiB in all\n", (double)f.exec_kb / 1024.0);
                fflush(stdout);
                all[np] = f;
                ps[np++] = par;
        }
        (void)all;
        (void)ps;
        if (probe > 0) {
                struct figures f = run_serve(brokers, spool_root, 1, probe, 1, true, false);
                printf("\npipeline probe (c/ok one at a time, parallel 1, %u submissions, "
                       "fetch wait %d ms):\n"
                       "  end-to-end p50 %.0f ms, p99 %.0f ms; build %.1f ms, program %.1f ms, "
                       "jailrun in the judge %.1f ms, Kafka + spool + executor round trip "
                       "%.1f ms median (%.1f ms mean)\n",
                       probe, fetch_wait_ms, f.p50, f.p99, f.build, f.prog, f.own, f.pipeline_p50,
                       f.pipeline);
        }
        printf("\nreference Docker worker: 140-228 submissions/min on 8 cores (about 28 per "
               "core per minute);\naim: >= 5x per core (>= 140 per core per minute) with "
               "jailrun's own time < 10 ms per submission.\n"
               "columns: build = compiler (build_duration_ms), prog = the tests' duration_ms, "
               "jailrun = the judge's wall time minus every program's time in its jail (serve's "
               "own_us),\n"
               "pipe = end-to-end minus the judge's wall time (Kafka, spool, executor hand-off, "
               "queueing "
               "in the window), sup = supervisor VmHWM, wrong = status != expect\n");
        jr_kafka_broker_stop(broker);
        return 0;
}
