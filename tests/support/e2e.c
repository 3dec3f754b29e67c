#include "e2e.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

extern char **environ;

#define NPARTS JR_KAFKA_EMBEDDED_PARTITIONS

pid_t tu_spawn(char *const argv[], char *const envp[], int in, int out, int err)
{
        pid_t parent = getpid();
        pid_t pid = fork();
        cr_assert(pid >= 0, "fork: %s", strerror(errno));
        if (pid == 0) {
                int null = open("/dev/null", O_RDWR);
                if (dup2(in >= 0 ? in : null, 0) < 0 || (out >= 0 && dup2(out, 1) < 0) ||
                    (err >= 0 && dup2(err, 2) < 0))
                        _exit(127);
                if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
                        _exit(127);
                setpgid(0, 0);
                execve(argv[0], argv, envp);
                _exit(127);
        }
        return pid;
}

/* ---- `jailrun broker` ------------------------------------------------------------------ */

struct tu_broker tu_broker_start(void)
{
        struct tu_broker b = {0};
        int p[2];
        cr_assert(pipe2(p, O_CLOEXEC) == 0, "pipe2: %s", strerror(errno));
        char *const argv[] = {(char *)tu_build("jailrun"), "broker", NULL};
        b.pid = tu_spawn(argv, environ, -1, p[1], -1);
        close(p[1]);
        size_t n = 0;
        while (n < sizeof b.addr - 1) {
                struct pollfd pfd = {p[0], POLLIN, 0};
                cr_assert(poll(&pfd, 1, 30000) == 1, "jailrun broker printed no address");
                ssize_t r = read(p[0], b.addr + n, 1);
                cr_assert(r == 1, "jailrun broker exited");
                if (b.addr[n] == '\n')
                        break;
                n++;
        }
        b.addr[n] = '\0';
        close(p[0]);
        cr_assert(strchr(b.addr, ':'), "bad broker address \"%s\"", b.addr);
        return b;
}

void tu_broker_stop(struct tu_broker *b)
{
        if (b->pid <= 0)
                return;
        kill(b->pid, SIGCONT);
        kill(b->pid, SIGTERM);
        waitpid(b->pid, NULL, 0);
        b->pid = 0;
}

/* ---- `jailrun serve` ------------------------------------------------------------------- */

const char *const tu_serve_reads[] = {"KAFKA_", "RUNNER_", "SCRIPT_", "JAILRUN_", NULL};

static bool has_prefix(const char *s, const char *const *prefixes)
{
        for (size_t i = 0; prefixes[i]; i++)
                if (!strncmp(s, prefixes[i], strlen(prefixes[i])))
                        return true;
        return false;
}

static size_t count_strv(const char *const *v)
{
        size_t n = 0;
        while (v && v[n])
                n++;
        return n;
}

void tu_svc_start(struct tu_svc *s, const struct tu_serve_opts *o)
{
        const char *const *drop = o->drop ? o->drop : tu_serve_reads;
        size_t n_env = count_strv((const char *const *)environ);
        const char **envp = calloc(n_env + count_strv(o->env) + 1, sizeof *envp);
        const char **argv = calloc(2 + count_strv(o->args) + 1, sizeof *argv);
        cr_assert(envp && argv);
        size_t n = 0;
        for (char **e = environ; *e; e++)
                if (!has_prefix(*e, drop))
                        envp[n++] = *e;
        for (size_t i = 0; o->env && o->env[i]; i++)
                envp[n++] = o->env[i];
        argv[0] = tu_build("jailrun");
        argv[1] = "serve";
        for (size_t i = 0; o->args && o->args[i]; i++)
                argv[2 + i] = o->args[i];

        snprintf(s->name, sizeof s->name, "%s", o->name ? o->name : "serve");
        free(s->log);
        free(s->out);
        s->log = strdup(o->log);
        s->out = o->out ? strdup(o->out) : NULL;
        int err = open(s->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        cr_assert(err >= 0, "%s: %s", s->log, strerror(errno));
        int out = err;
        if (s->out) {
                out = open(s->out, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
                cr_assert(out >= 0, "%s: %s", s->out, strerror(errno));
        }
        s->pid = tu_spawn((char *const *)argv, (char *const *)envp, -1, out, err);
        if (out != err)
                close(out);
        close(err);
        free(argv);
        free(envp);
}

static int wait_exit(struct tu_svc *s, int timeout_s, const char *after)
{
        double end = tu_now_s() + timeout_s;
        int st = 0;
        while (waitpid(s->pid, &st, WNOHANG) != s->pid) {
                if (tu_now_s() > end) {
                        kill(s->pid, SIGKILL);
                        waitpid(s->pid, &st, 0);
                        s->pid = 0;
                        char *log = tu_slurp(s->log);
                        cr_assert_fail("%s did not exit within %d s%s; log:\n%s", s->name,
                                       timeout_s, after, log);
                }
                usleep(20000);
        }
        s->pid = 0;
        return st;
}

int tu_svc_wait(struct tu_svc *s, int timeout_s)
{
        return wait_exit(s, timeout_s, "");
}

int tu_svc_term(struct tu_svc *s, int timeout_s)
{
        cr_assert_eq(kill(s->pid, SIGTERM), 0, "%s: SIGTERM: %s", s->name, strerror(errno));
        return wait_exit(s, timeout_s, " of SIGTERM");
}

char *tu_svc_wait_log(const struct tu_svc *s, const char *needle, size_t count, int timeout_s)
{
        double end = tu_now_s() + timeout_s;
        for (;;) {
                char *log = tu_slurp(s->log);
                size_t n = tu_count(log, needle);
                if (n >= count)
                        return log;
                if (tu_now_s() > end || (s->pid > 0 && waitpid(s->pid, NULL, WNOHANG) == s->pid))
                        cr_assert_fail("%s: log never had %zu x %s (had %zu):\n%s", s->name, count,
                                       needle, n, log);
                free(log);
                usleep(20000);
        }
}

void tu_svc_free(struct tu_svc *s)
{
        if (s->pid > 0) {
                kill(s->pid, SIGKILL);
                waitpid(s->pid, NULL, 0);
        }
        free(s->log);
        free(s->out);
        memset(s, 0, sizeof *s);
}

/* ---- Kafka clients --------------------------------------------------------------------- */

static rd_kafka_conf_t *conf_new(const char *brokers, const char *const *fixed,
                                 const char *const *props)
{
        char err[512];
        rd_kafka_conf_t *c = rd_kafka_conf_new();
        cr_assert(rd_kafka_conf_set(c, "bootstrap.servers", brokers, err, sizeof err) == 0, "%s",
                  err);
        const char *const *lists[] = {fixed, props};
        for (size_t l = 0; l < 2; l++)
                for (size_t i = 0; lists[l] && lists[l][i]; i++) {
                        const char *eq = strchr(lists[l][i], '=');
                        cr_assert(eq, "property \"%s\" is not name=value", lists[l][i]);
                        char *name = strndup(lists[l][i], (size_t)(eq - lists[l][i]));
                        cr_assert(rd_kafka_conf_set(c, name, eq + 1, err, sizeof err) == 0, "%s",
                                  err);
                        free(name);
                }
        return c;
}

rd_kafka_t *tu_producer(const char *brokers, const char *const *props,
                        void (*dr_msg_cb)(rd_kafka_t *, const rd_kafka_message_t *, void *))
{
        char err[512];
        rd_kafka_conf_t *c = conf_new(brokers, (const char *const[]){"linger.ms=5", NULL}, props);
        if (dr_msg_cb)
                rd_kafka_conf_set_dr_msg_cb(c, dr_msg_cb);
        rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof err);
        cr_assert(rk, "producer: %s", err);
        return rk;
}

void tu_produce(rd_kafka_t *rk, const char *topic, const char *key, const void *value, size_t len,
                void *opaque)
{
        for (;;) {
                rd_kafka_resp_err_t e = rd_kafka_producev(
                    rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, key ? strlen(key) : 0),
                    RD_KAFKA_V_VALUE((void *)value, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                    RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
                if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                        rd_kafka_poll(rk, 100);
                        continue;
                }
                cr_assert_eq(e, 0, "produce: %s", rd_kafka_err2str(e));
                return;
        }
}

void tu_producer_flush(rd_kafka_t *rk)
{
        cr_assert_eq(rd_kafka_flush(rk, 60000), 0, "produce: not acknowledged");
}

rd_kafka_t *tu_consumer(const char *brokers, const char *group, const char *topic,
                        const char *const *props)
{
        char err[512];
        char *group_prop = tu_asprintf("group.id=%s", group);
        rd_kafka_conf_t *c = conf_new(brokers,
                                      (const char *const[]){group_prop, "enable.auto.commit=false",
                                                            "fetch.wait.max.ms=10", NULL},
                                      props);
        free(group_prop);
        rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof err);
        cr_assert(rk, "reader: %s", err);
        rd_kafka_poll_set_consumer(rk);
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(NPARTS);
        for (int p = 0; p < NPARTS; p++)
                rd_kafka_topic_partition_list_add(l, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
        cr_assert_eq(rd_kafka_assign(rk, l), 0);
        rd_kafka_topic_partition_list_destroy(l);
        return rk;
}

rd_kafka_t *tu_group_client(const char *brokers, const char *group)
{
        char err[512];
        char *group_prop = tu_asprintf("group.id=%s", group);
        rd_kafka_conf_t *c = conf_new(
            brokers, (const char *const[]){group_prop, "enable.auto.commit=false", NULL}, NULL);
        free(group_prop);
        rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof err);
        cr_assert(rk, "group client: %s", err);
        return rk;
}

bool tu_group_answered(rd_kafka_t *rk, const char *topic, int32_t partition, int64_t offset)
{
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(l, topic, partition);
        bool answered = false;
        if (rd_kafka_committed(rk, l, 5000) == 0 && !l->elems[0].err) {
                const rd_kafka_topic_partition_t *e = &l->elems[0];
                int64_t committed = e->offset;
                if (committed > offset)
                        answered = true;
                else if (committed >= 0 && e->metadata && e->metadata_size > 4 &&
                         !memcmp(e->metadata, "jr1:", 4)) {
                        char *meta = strndup((const char *)e->metadata + 4, e->metadata_size - 4);
                        for (char *save = NULL, *d = strtok_r(meta, ",", &save); d;
                             d = strtok_r(NULL, ",", &save))
                                if (committed + strtoll(d, NULL, 10) == offset)
                                        answered = true;
                        free(meta);
                }
        }
        rd_kafka_topic_partition_list_destroy(l);
        return answered;
}

struct tu_reader *tu_reader_new(const char *brokers, const char *group, const char *topic,
                                const char *const *props)
{
        struct tu_reader *r = calloc(1, sizeof *r);
        cr_assert(r);
        /* the end of each partition is news: tu_reader_drain waits for it */
        const char *all[32] = {"enable.partition.eof=true"};
        size_t n = 1;
        for (size_t i = 0; props && props[i]; i++) {
                cr_assert_lt(n, sizeof all / sizeof all[0] - 1, "too many properties");
                all[n++] = props[i];
        }
        all[n] = NULL;
        r->rk = tu_consumer(brokers, group, topic, all);
        return r;
}

void tu_reader_poll(struct tu_reader *r, int ms)
{
        double end = tu_now_s() + ms / 1000.0;
        while (tu_now_s() < end) {
                rd_kafka_message_t *m = rd_kafka_consumer_poll(r->rk, 50);
                if (!m)
                        continue;
                if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                        if (m->partition >= 0 && m->partition < NPARTS)
                                r->eof[m->partition] = true;
                } else if (!m->err) {
                        if (r->n == r->cap) {
                                r->cap = r->cap ? 2 * r->cap : 256;
                                r->m = realloc(r->m, r->cap * sizeof *r->m);
                                cr_assert(r->m);
                        }
                        struct tu_kmsg *k = &r->m[r->n++];
                        k->key = strndup(m->key ? m->key : "", m->key_len);
                        k->value = malloc(m->len + 1);
                        cr_assert(k->key && k->value);
                        if (m->len)
                                memcpy(k->value, m->payload, m->len);
                        k->value[m->len] = '\0';
                        k->len = m->len;
                        k->partition = m->partition;
                        k->offset = m->offset;
                        if (m->partition >= 0 && m->partition < NPARTS)
                                r->eof[m->partition] = false;
                }
                rd_kafka_message_destroy(m);
        }
}

size_t tu_reader_count(const struct tu_reader *r, const char *key)
{
        size_t n = 0;
        for (size_t i = 0; i < r->n; i++)
                n += !strcmp(r->m[i].key, key);
        return n;
}

const struct tu_kmsg *tu_reader_find(const struct tu_reader *r, const char *key)
{
        for (size_t i = 0; i < r->n; i++)
                if (!strcmp(r->m[i].key, key))
                        return &r->m[i];
        return NULL;
}

void tu_reader_wait_keys(struct tu_reader *r, const char *const *keys, size_t n, int timeout_s)
{
        double end = tu_now_s() + timeout_s;
        for (;;) {
                size_t missing = 0;
                const char *first = NULL;
                for (size_t i = 0; i < n; i++)
                        if (!tu_reader_count(r, keys[i])) {
                                missing++;
                                if (!first)
                                        first = keys[i];
                        }
                if (!missing)
                        return;
                cr_assert(tu_now_s() < end, "%zu results missing, e.g. \"%s\"", missing, first);
                tu_reader_poll(r, 200);
        }
}

void tu_reader_drain(struct tu_reader *r, int timeout_s)
{
        double end = tu_now_s() + timeout_s;
        for (;;) {
                tu_reader_poll(r, 300);
                bool all = true;
                for (int p = 0; p < NPARTS; p++)
                        all = all && r->eof[p];
                if (all)
                        return;
                cr_assert(tu_now_s() < end, "topic never reached its end");
        }
}

void tu_reader_free(struct tu_reader *r)
{
        rd_kafka_consumer_close(r->rk);
        rd_kafka_destroy(r->rk);
        for (size_t i = 0; i < r->n; i++) {
                free(r->m[i].key);
                free(r->m[i].value);
        }
        free(r->m);
        free(r);
}
