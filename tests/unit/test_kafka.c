/* The Kafka layer against a real Kafka protocol peer: librdkafka's mock cluster, started
 * in-process per test (and once as `jailrun broker`). Waits are bounded and driven by
 * the layer's event fds; the only fixed-length waits assert that nothing happens. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kafka.h"
#include "spool.h"
#include "testutil.h"

/* Short group timings: the mock cluster keeps a group in "joining" for
 * session.timeout.ms - 1 s after its last member left (see kafka.h). */
#define TEST_EXTRA                                                                                 \
        "consumer.session.timeout.ms=4000;consumer.heartbeat.interval.ms=1000;"                    \
        "reconnect.backoff.max.ms=1000"

static jr_kafka_broker *broker;
static jr_kafka_config cfg;
static char *spooldir;

static void quiet_log(void *opaque, int level, const char *source, const char *msg)
{
        if (level <= 3 && !strstr(msg, "brokers are down") && !strstr(msg, "Connect to") &&
            !strstr(msg, "Disconnected"))
                cr_log_warn("%s: %s", source, msg);
}

static void start_broker(int partitions)
{
        cfg = (jr_kafka_config){
            .brokers = strdup(JR_KAFKA_EMBEDDED),
            .topic = strdup("scripts"),
            .group_id = strdup("scrc-runner"),
            .results_topic = strdup("script-results"),
            .events_topic = strdup("script-events"),
            .extra = strdup(TEST_EXTRA),
        };
        jr_error e = {0};
        ASSERT_OK(jr_kafka_broker_start_for(&cfg, partitions, quiet_log, NULL, &broker, &e), e);
        ASSERT_OK(jr_kafka_config_use_broker(&cfg, broker, &e), e);
        cr_assert_str_eq(cfg.brokers, jr_kafka_broker_bootstraps(broker));
        cr_assert(!jr_kafka_config_is_embedded(&cfg));
}

static void setup(void)
{
        spooldir = tu_scratch("/tmp/jr-kafka-test.");
        start_broker(4);
}

static void setup_one_partition(void)
{
        spooldir = tu_scratch("/tmp/jr-kafka-test.");
        start_broker(1);
}

static void teardown(void)
{
        jr_kafka_broker_stop(broker);
        broker = NULL;
        jr_kafka_config_free(&cfg);
        tu_rm_rf(spooldir);
        free(spooldir);
}

static int64_t now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- a miniature supervisor loop: one epoll over the layer's fds ------------------ */

#define MAXMSG 512

struct loop {
        jr_kafka_consumer *c;
        jr_kafka_producer *p;
        jr_kafka_msg *msgs[MAXMSG];
        size_t n;
        int assigned, revoked, owned; /* partitions: ever assigned, ever revoked, now */
        size_t take_limit;            /* poll no further once n reaches it (0: no limit) */
        size_t delivered;
        uint64_t delivered_seq[MAXMSG];
};

static void on_rebalance(void *o, bool assigned, const char *topic, const int32_t *parts, size_t n)
{
        struct loop *l = o;
        if (assigned) {
                l->assigned += (int)n;
                l->owned += (int)n;
        } else {
                l->revoked += (int)n;
                l->owned -= (int)n;
        }
}

static void on_delivered(void *o, uint64_t seq, const char *topic, const void *key, size_t key_len)
{
        struct loop *l = o;
        if (l->delivered < MAXMSG)
                l->delivered_seq[l->delivered] = seq;
        l->delivered++;
}

static void loop_consumer(struct loop *l)
{
        jr_kafka_consumer_options o = {.log = quiet_log, .on_rebalance = on_rebalance, .opaque = l};
        jr_error e = {0};
        ASSERT_OK(jr_kafka_consumer_new(&cfg, &o, &l->c, &e), e);
}

static void loop_producer(struct loop *l, jr_spool *s)
{
        jr_kafka_producer_options o = {.log = quiet_log, .on_delivered = on_delivered, .opaque = l};
        jr_error e = {0};
        ASSERT_OK(jr_kafka_producer_new(&cfg, s, &o, &l->p, &e), e);
}

static void drive(struct loop *l)
{
        jr_error e = {0};
        if (l->c) {
                jr_kafka_msg *m;
                int got = 0;
                while ((!l->take_limit || l->n < l->take_limit) &&
                       (got = jr_kafka_consumer_poll(l->c, &m, &e)) == 1) {
                        cr_assert_lt(l->n, MAXMSG);
                        l->msgs[l->n++] = m;
                }
                cr_assert_geq(got, 0, "%s", e.msg);
        }
        if (l->p)
                ASSERT_OK(jr_kafka_producer_service(l->p, &e), e);
}

static void watch(int ep, struct loop *l)
{
        struct epoll_event ev = {.events = EPOLLIN};
        if (l->c)
                cr_assert_eq(epoll_ctl(ep, EPOLL_CTL_ADD, jr_kafka_consumer_fd(l->c), &ev), 0);
        if (l->p)
                cr_assert_eq(epoll_ctl(ep, EPOLL_CTL_ADD, jr_kafka_producer_fd(l->p), &ev), 0);
}

static int timeout_of(struct loop *l, int wait)
{
        if (l->c && jr_kafka_consumer_timeout_ms(l->c) < wait)
                wait = jr_kafka_consumer_timeout_ms(l->c);
        if (l->p && jr_kafka_producer_timeout_ms(l->p) >= 0 &&
            jr_kafka_producer_timeout_ms(l->p) < wait)
                wait = jr_kafka_producer_timeout_ms(l->p);
        return wait;
}

/* Drive one or two loops (b may be NULL) from one epoll until pred(a) or for `ms` (pred
 * NULL). Fails the test on timeout. */
static void run2(struct loop *a, struct loop *b, bool (*pred)(struct loop *), int ms,
                 const char *what)
{
        int ep = epoll_create1(EPOLL_CLOEXEC);
        cr_assert(ep >= 0);
        watch(ep, a);
        if (b)
                watch(ep, b);
        int64_t deadline = now_ms() + ms;
        for (;;) {
                if (pred && pred(a))
                        break;
                int64_t left = deadline - now_ms();
                if (left <= 0) {
                        cr_assert(!pred, "timed out after %d ms waiting for %s", ms, what);
                        break;
                }
                int wait = timeout_of(a, (int)left);
                if (b)
                        wait = timeout_of(b, wait);
                struct epoll_event out[4];
                int r = epoll_wait(ep, out, 4, wait);
                cr_assert(r >= 0 || errno == EINTR);
                drive(a);
                if (b)
                        drive(b);
        }
        close(ep);
}

static void run(struct loop *l, bool (*pred)(struct loop *), int ms, const char *what)
{
        run2(l, NULL, pred, ms, what);
}

static void loop_free(struct loop *l)
{
        for (size_t i = 0; i < l->n; i++)
                jr_kafka_msg_free(l->msgs[i]);
        l->n = 0;
        jr_kafka_consumer_free(l->c);
        jr_kafka_producer_free(l->p);
        l->c = NULL;
        l->p = NULL;
}

static size_t want_msgs;
static bool have_msgs(struct loop *l)
{
        return l->n >= want_msgs;
}
static bool is_assigned(struct loop *l)
{
        return l->assigned > 0;
}
/* every owned partition's committed offset read since its assignment: commits flow */
static bool settled(struct loop *l)
{
        return l->owned > 0 && jr_kafka_consumer_settled(l->c);
}
static bool spool_empty(struct loop *l)
{
        return jr_kafka_producer_unacked(l->p) == 0;
}

static jr_spool *open_spool(void)
{
        jr_spool *s = NULL;
        jr_error e = {0};
        ASSERT_OK(jr_spool_open(spooldir, NULL, &s, &e), e);
        return s;
}

static size_t rec_files(void)
{
        DIR *d = opendir(spooldir);
        cr_assert(d);
        size_t n = 0;
        struct dirent *de;
        while ((de = readdir(d))) {
                size_t l = strlen(de->d_name);
                n += l > 4 && !strcmp(de->d_name + l - 4, ".rec");
        }
        closedir(d);
        return n;
}

/* ---- raw librdkafka clients, independent of the layer under test ------------------- */

static rd_kafka_t *raw_producer(const char *bootstraps)
{
        char err[256];
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        cr_assert_eq(rd_kafka_conf_set(conf, "bootstrap.servers", bootstraps, err, sizeof err),
                     RD_KAFKA_CONF_OK);
        rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
        cr_assert(rk, "%s", err);
        return rk;
}

static void raw_produce(rd_kafka_t *rk, const char *topic, const char *key, const char *value)
{
        cr_assert_eq(rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic),
                                       RD_KAFKA_V_KEY(key, strlen(key)),
                                       RD_KAFKA_V_VALUE((void *)value, strlen(value)),
                                       RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END),
                     0);
}

static void raw_flush(rd_kafka_t *rk)
{
        cr_assert_eq(rd_kafka_flush(rk, 20000), 0, "raw producer flush");
}

/* Read every message of `topic` (partitions 0..nparts-1) from the beginning, without a
 * group, until `want` arrived. Returns the values, in arrival order, as "key=value". */
static size_t raw_consume_all(const char *bootstraps, const char *topic, int nparts, size_t want,
                              char **out)
{
        char err[256];
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        rd_kafka_conf_set(conf, "bootstrap.servers", bootstraps, err, sizeof err);
        rd_kafka_conf_set(conf, "group.id", "raw-reader", err, sizeof err);
        rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
        cr_assert(rk, "%s", err);
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(nparts);
        for (int i = 0; i < nparts; i++)
                rd_kafka_topic_partition_list_add(l, topic, i)->offset = RD_KAFKA_OFFSET_BEGINNING;
        cr_assert_eq(rd_kafka_assign(rk, l), 0);
        rd_kafka_topic_partition_list_destroy(l);
        size_t n = 0;
        int64_t deadline = now_ms() + 20000;
        while (n < want && now_ms() < deadline) {
                rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
                if (!m)
                        continue;
                if (!m->err) {
                        char *s = NULL;
                        cr_assert(asprintf(&s, "%.*s=%.*s", (int)m->key_len, (char *)m->key,
                                           (int)m->len, (char *)m->payload) > 0);
                        out[n++] = s;
                }
                rd_kafka_message_destroy(m);
        }
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
        return n;
}

/* Within each key, values "key:i" must arrive with i = 0, 1, 2, ... */
static void assert_per_key_order(char **vals, size_t n, int nkeys)
{
        int next[64] = {0};
        cr_assert_leq(nkeys, 64);
        for (size_t i = 0; i < n; i++) {
                int k, seq;
                cr_assert_eq(sscanf(vals[i], "k%d=k%*d:%d", &k, &seq), 2, "%s", vals[i]);
                cr_assert_eq(seq, next[k], "key k%d: got %d, expected %d (%s)", k, seq, next[k],
                             vals[i]);
                next[k]++;
        }
}

/* ---- tests ----------------------------------------------------------------------- */

Test(kafka_config, from_env)
{
        const char *vars[] = {"KAFKA_BROKERS",       "KAFKA_TOPIC",        "KAFKA_GROUP_ID",
                              "KAFKA_RESULTS_TOPIC", "KAFKA_EVENTS_TOPIC", "JAILRUN_KAFKA_CONFIG"};
        for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
                unsetenv(vars[i]);
        jr_kafka_config c;
        jr_error e = {0};
        ASSERT_OK(jr_kafka_config_from_env(&c, &e), e);
        cr_assert_str_eq(c.brokers, "localhost:9092");
        cr_assert_str_eq(c.topic, "scripts");
        cr_assert_str_eq(c.group_id, "scrc-runner");
        cr_assert_str_eq(c.results_topic, "script-results");
        cr_assert_str_eq(c.events_topic, "script-events");
        cr_assert_null(c.extra);
        cr_assert(!jr_kafka_config_is_embedded(&c));
        jr_kafka_config_free(&c);

        setenv("KAFKA_BROKERS", "embedded", 1);
        setenv("KAFKA_TOPIC", "in", 1);
        setenv("KAFKA_GROUP_ID", "g", 1);
        setenv("KAFKA_RESULTS_TOPIC", "out", 1);
        setenv("KAFKA_EVENTS_TOPIC", "", 1);
        setenv("JAILRUN_KAFKA_CONFIG", "consumer.session.timeout.ms=6000", 1);
        ASSERT_OK(jr_kafka_config_from_env(&c, &e), e);
        cr_assert(jr_kafka_config_is_embedded(&c));
        cr_assert_str_eq(c.topic, "in");
        cr_assert_str_eq(c.group_id, "g");
        cr_assert_str_eq(c.results_topic, "out");
        cr_assert_null(c.events_topic, "empty KAFKA_EVENTS_TOPIC disables events");
        cr_assert_str_eq(c.extra, "consumer.session.timeout.ms=6000");
        jr_kafka_config_free(&c);
        for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
                unsetenv(vars[i]);
}

Test(kafka_config, bad_extra_property_is_named)
{
        jr_kafka_config c = {.brokers = "127.0.0.1:1",
                             .topic = "t",
                             .group_id = "g",
                             .results_topic = "r",
                             .extra = "no.such.property=1"};
        jr_kafka_consumer *cons = NULL;
        jr_error e = {0};
        cr_assert_lt(jr_kafka_consumer_new(&c, NULL, &cons, &e), 0);
        cr_assert(strstr(e.msg, "no.such.property"), "%s", e.msg);
        c.extra = "garbage";
        cr_assert_lt(jr_kafka_consumer_new(&c, NULL, &cons, &e), 0);
        cr_assert(strstr(e.msg, "\"garbage\""), "%s", e.msg);
        c.brokers = "embedded";
        c.extra = NULL;
        cr_assert_lt(jr_kafka_consumer_new(&c, NULL, &cons, &e), 0, "embedded needs a broker");
        cr_assert_null(cons);
}

/* Spool -> idempotent producer -> mock cluster -> group consumer; acks empty the spool;
 * per-key order holds across 4 partitions; a second result for an id is suppressed. */
Test(kafka, produce_and_consume_through_group, .init = setup, .fini = teardown, .timeout = 60)
{
        enum { KEYS = 8, PER_KEY = 10, N = KEYS * PER_KEY };
        struct loop l = {0};
        jr_spool *s = open_spool();
        loop_producer(&l, s);
        loop_consumer(&l);
        jr_error e = {0};
        for (int i = 0; i < PER_KEY; i++) {
                for (int k = 0; k < KEYS; k++) {
                        char key[16], val[48];
                        snprintf(key, sizeof key, "k%d", k);
                        snprintf(val, sizeof val, "k%d:%d", k, i);
                        /* the last record of a key is its result; the topic is the one the
                         * consumer reads, so that the test sees everything */
                        jr_spool_kind kind = i == PER_KEY - 1 ? JR_SPOOL_RESULT : JR_SPOOL_EVENT;
                        /* each key's result answers its own (made-up) source message */
                        jr_spool_source src = {"submissions", 0, k};
                        ASSERT_OK(jr_kafka_producer_submit(l.p, kind, cfg.topic, key, strlen(key),
                                                           val, strlen(val), &src, &e),
                                  e);
                }
        }
        /* a second result for one source message is suppressed, whatever its key */
        cr_assert_eq(jr_kafka_producer_submit(l.p, JR_SPOOL_RESULT, cfg.topic, "k9", 2, "again", 5,
                                              &(jr_spool_source){"submissions", 0, 0}, &e),
                     JR_SPOOL_DUPLICATE);
        want_msgs = N;
        run(&l, have_msgs, 30000, "all messages through the group");
        run(&l, spool_empty, 10000, "the spool to drain");
        cr_assert_eq(rec_files(), 0, "acknowledged records leave the spool");
        cr_assert_eq(l.delivered, N);
        cr_assert_eq(l.n, N);
        cr_assert_eq(jr_kafka_consumer_in_flight(l.c), N);
        cr_assert_gt(l.assigned, 0);

        char *vals[N];
        for (size_t i = 0; i < N; i++) {
                const jr_kafka_msg *m = l.msgs[i];
                cr_assert_str_eq(m->topic, "scripts");
                cr_assert(asprintf(&vals[i], "%.*s=%.*s", (int)m->key_len, (const char *)m->key,
                                   (int)m->value_len, (const char *)m->value) > 0);
                ASSERT_OK(jr_kafka_consumer_done(l.c, m->topic, m->partition, m->offset, &e), e);
        }
        cr_assert_eq(jr_kafka_consumer_in_flight(l.c), 0);
        /* messages were consumed as a merge of partitions; within a key, order holds */
        assert_per_key_order(vals, N, KEYS);
        for (size_t i = 0; i < N; i++)
                free(vals[i]);
        ASSERT_OK(jr_kafka_consumer_close(l.c, &e), e);
        loop_free(&l);
        jr_spool_close(s);
}

static rd_kafka_t *rawp;
static char committed_meta[256];
/* The group's committed offset of scripts[0]; its metadata in committed_meta. */
static int64_t committed_offset(const char *group)
{
        /* what the broker has for the group, asked by a separate client */
        char err[256];
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        rd_kafka_conf_set(conf, "bootstrap.servers", cfg.brokers, err, sizeof err);
        rd_kafka_conf_set(conf, "group.id", group, err, sizeof err);
        rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
        cr_assert(rk);
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(l, "scripts", 0);
        cr_assert_eq(rd_kafka_committed(rk, l, 10000), 0);
        int64_t off = l->elems[0].offset;
        snprintf(committed_meta, sizeof committed_meta, "%.*s", (int)l->elems[0].metadata_size,
                 l->elems[0].metadata ? (const char *)l->elems[0].metadata : "");
        rd_kafka_topic_partition_list_destroy(l);
        rd_kafka_destroy(rk);
        return off;
}

/* Offsets are committed only past a contiguous done prefix; a restarted member of the
 * same group resumes right after the committed offset. */
Test(kafka, commit_and_resume_in_group, .init = setup_one_partition, .fini = teardown,
     .timeout = 90)
{
        rawp = raw_producer(cfg.brokers);
        for (int i = 0; i < 10; i++) {
                char v[32];
                snprintf(v, sizeof v, "m%d", i);
                raw_produce(rawp, "scripts", "k", v);
        }
        raw_flush(rawp);

        struct loop l = {0};
        loop_consumer(&l);
        want_msgs = 10;
        run(&l, have_msgs, 30000, "the first consumer to get 10 messages");
        for (int i = 0; i < 10; i++)
                cr_assert_eq(l.msgs[i]->offset, i);
        /* commits wait for the committed offset read after the hand-over grace */
        run(&l, settled, 10000, "the committed offset read after the assignment");
        /* executions finish out of order: 0 1 2 done, 3 still running, 4 5 done */
        jr_error e = {0};
        int done[] = {1, 0, 2, 5, 4};
        for (size_t i = 0; i < sizeof done / sizeof done[0]; i++)
                ASSERT_OK(jr_kafka_consumer_done(l.c, "scripts", 0, done[i], &e), e);
        cr_assert_eq(jr_kafka_consumer_in_flight(l.c), 5);
        /* done twice, or an offset never delivered: ignored */
        ASSERT_OK(jr_kafka_consumer_done(l.c, "scripts", 0, 1, &e), e);
        ASSERT_OK(jr_kafka_consumer_done(l.c, "scripts", 0, 77, &e), e);
        ASSERT_OK(jr_kafka_consumer_close(l.c, &e), e);
        loop_free(&l);
        cr_assert_eq(committed_offset("scrc-runner"), 3, "3 was not done: commit stops there");
        /* 4 and 5, answered above it, travel in the commit's metadata */
        cr_assert_str_eq(committed_meta, "jr1:1,2");

        /* "restart": a new member of the same group */
        struct loop l2 = {0};
        loop_consumer(&l2);
        want_msgs = 7;
        run(&l2, have_msgs, 30000, "the restarted consumer");
        cr_assert_eq(l2.msgs[0]->offset, 3, "resumes at the first unfinished submission");
        run(&l2, settled, 10000, "the committed offset read after the assignment");
        cr_assert_not(jr_kafka_consumer_answered(l2.c, "scripts", 0, 3));
        cr_assert(jr_kafka_consumer_answered(l2.c, "scripts", 0, 4), "4 was answered");
        cr_assert(jr_kafka_consumer_answered(l2.c, "scripts", 0, 5), "5 was answered");
        cr_assert_not(jr_kafka_consumer_answered(l2.c, "scripts", 0, 6));
        for (size_t i = 0; i < l2.n; i++) {
                cr_assert_eq(l2.msgs[i]->offset, (int64_t)(3 + i));
                ASSERT_OK(jr_kafka_consumer_done(l2.c, "scripts", 0, l2.msgs[i]->offset, &e), e);
        }
        ASSERT_OK(jr_kafka_consumer_close(l2.c, &e), e);
        loop_free(&l2);
        cr_assert_eq(committed_offset("scrc-runner"), 10);
        rd_kafka_destroy(rawp);
}

/* The replay: records left in the spool by a previous run are produced first, in order,
 * and their files removed as the acks arrive. */
Test(kafka, spool_replay_and_delivery_reports, .init = setup, .fini = teardown, .timeout = 60)
{
        jr_spool *s = open_spool();
        jr_error e = {0};
        for (int i = 0; i < 5; i++) {
                char v[32];
                snprintf(v, sizeof v, "k0:%d", i);
                ASSERT_OK(jr_spool_append(s, i == 4 ? JR_SPOOL_RESULT : JR_SPOOL_EVENT,
                                          "script-results", "k0", 2, v, strlen(v), NULL, NULL, &e),
                          e);
        }
        jr_spool_close(s);
        cr_assert_eq(rec_files(), 5);

        s = open_spool(); /* the next start */
        struct loop l = {0};
        loop_producer(&l, s);
        for (int i = 5; i < 8; i++) {
                char v[32];
                snprintf(v, sizeof v, "k0:%d", i);
                ASSERT_OK(jr_kafka_producer_submit(l.p, JR_SPOOL_EVENT, "script-results", "k0", 2,
                                                   v, strlen(v), NULL, &e),
                          e);
        }
        ASSERT_OK(jr_kafka_producer_flush(l.p, 20000, &e), e);
        cr_assert_eq(rec_files(), 0);
        cr_assert_eq(l.delivered, 8);
        for (size_t i = 1; i < l.delivered; i++)
                cr_assert_gt(l.delivered_seq[i], l.delivered_seq[i - 1], "acks in spool order");
        loop_free(&l);
        jr_spool_close(s);

        char *vals[8];
        cr_assert_eq(raw_consume_all(cfg.brokers, "script-results", 4, 8, vals), 8);
        assert_per_key_order(vals, 8, 1);
        for (int i = 0; i < 8; i++)
                free(vals[i]);
}

/* Broker down: records stay spooled and queued; broker back: all delivered, once, in
 * order. */
Test(kafka, broker_outage, .init = setup, .fini = teardown, .timeout = 90)
{
        jr_spool *s = open_spool();
        struct loop l = {0};
        loop_producer(&l, s);
        jr_error e = {0};
        ASSERT_OK(jr_kafka_producer_submit(l.p, JR_SPOOL_EVENT, "script-events", "k0", 2, "k0:0", 4,
                                           NULL, &e),
                  e);
        ASSERT_OK(jr_kafka_producer_flush(l.p, 20000, &e), e);

        ASSERT_OK(jr_kafka_broker_set_down(broker, true, &e), e);
        int next[2] = {1, 0}; /* k0:0 went out before the outage */
        for (int i = 1; i <= 10; i++) {
                char key[16], v[32];
                snprintf(key, sizeof key, "k%d", i % 2);
                snprintf(v, sizeof v, "k%d:%d", i % 2, next[i % 2]++);
                ASSERT_OK(jr_kafka_producer_submit(l.p, JR_SPOOL_EVENT, "script-events", key, 2, v,
                                                   strlen(v), NULL, &e),
                          e);
        }
        /* nothing can be acknowledged while the broker is away */
        run(&l, NULL, 2000, NULL);
        cr_assert_eq(jr_kafka_producer_unacked(l.p), 10);
        cr_assert_eq(rec_files(), 10);
        cr_assert_eq(l.delivered, 1);

        ASSERT_OK(jr_kafka_broker_set_down(broker, false, &e), e);
        run(&l, spool_empty, 30000, "delivery after the broker came back");
        cr_assert_eq(rec_files(), 0);
        cr_assert_eq(l.delivered, 11);
        loop_free(&l);
        jr_spool_close(s);

        char *vals[16];
        size_t n = raw_consume_all(cfg.brokers, "script-events", 4, 11, vals);
        cr_assert_eq(n, 11);
        assert_per_key_order(vals, n, 2);
        for (size_t i = 0; i < n; i++)
                free(vals[i]);
}

/* Back-pressure: paused (even before the assignment arrives), the consumer returns
 * nothing; resumed, it continues exactly where it stopped. */
Test(kafka, pause_and_resume, .init = setup_one_partition, .fini = teardown, .timeout = 60)
{
        rawp = raw_producer(cfg.brokers);
        for (int i = 0; i < 10; i++)
                raw_produce(rawp, "scripts", "k", "v");
        raw_flush(rawp);

        struct loop l = {0};
        loop_consumer(&l);
        jr_error e = {0};
        ASSERT_OK(jr_kafka_consumer_pause(l.c, true, &e), e);
        cr_assert(jr_kafka_consumer_paused(l.c));
        run(&l, is_assigned, 30000, "the assignment");
        run(&l, NULL, 1500, NULL);
        cr_assert_eq(l.n, 0, "paused before the assignment: nothing delivered");

        ASSERT_OK(jr_kafka_consumer_pause(l.c, false, &e), e);
        want_msgs = 1;
        l.take_limit = 1;
        run(&l, have_msgs, 10000, "a message after resume");
        /* all slots busy: pause right after taking one, even if more were prefetched */
        ASSERT_OK(jr_kafka_consumer_pause(l.c, true, &e), e);
        l.take_limit = 0;
        size_t taken = l.n;
        cr_assert_eq(taken, 1);
        run(&l, NULL, 1500, NULL);
        cr_assert_eq(l.n, taken, "paused: nothing more delivered");

        ASSERT_OK(jr_kafka_consumer_pause(l.c, false, &e), e);
        want_msgs = 10;
        run(&l, have_msgs, 10000, "the rest after resume");
        cr_assert_eq(l.n, 10, "nothing lost or doubled by the pause");
        for (size_t i = 0; i < l.n; i++)
                cr_assert_eq(l.msgs[i]->offset, (int64_t)i);
        loop_free(&l);
        rd_kafka_destroy(rawp);
}

/* The consumer's fd alone wakes the loop: a message produced by someone else makes it
 * readable (no polling on a timer). */
Test(kafka, event_fd_wakes_epoll, .init = setup_one_partition, .fini = teardown, .timeout = 60)
{
        struct loop l = {0};
        loop_consumer(&l);
        run(&l, is_assigned, 30000, "the assignment");
        rawp = raw_producer(cfg.brokers);
        raw_produce(rawp, "scripts", "k", "wake");
        raw_flush(rawp);

        int ep = epoll_create1(EPOLL_CLOEXEC);
        struct epoll_event ev = {.events = EPOLLIN};
        cr_assert_eq(epoll_ctl(ep, EPOLL_CTL_ADD, jr_kafka_consumer_fd(l.c), &ev), 0);
        jr_kafka_msg *m = NULL;
        jr_error e = {0};
        int64_t deadline = now_ms() + 10000;
        while (!m) {
                int left = (int)(deadline - now_ms());
                cr_assert_gt(left, 0, "no message");
                struct epoll_event out;
                int r = epoll_wait(ep, &out, 1, left);
                cr_assert_eq(r, 1, "the fd did not become readable");
                int got = jr_kafka_consumer_poll(l.c, &m, &e);
                cr_assert_geq(got, 0, "%s", e.msg);
        }
        cr_assert_eq(m->value_len, 4);
        cr_assert_eq(memcmp(m->value, "wake", 4), 0);
        cr_assert_eq(m->key_len, 1);
        cr_assert_geq(m->timestamp_ms, 0);
        jr_kafka_msg_free(m);
        close(ep);
        loop_free(&l);
        rd_kafka_destroy(rawp);
}

static struct loop *ra, *rb;
static bool both_rebalanced(struct loop *unused)
{
        /* a lost its partitions once; now both own some (however many rounds it took) */
        return ra->revoked >= 4 && ra->owned > 0 && rb->owned > 0 && ra->owned + rb->owned == 4;
}
/* every unfinished message (partitions 2 and 3, offsets 0 and 1) came back at least once */
static bool redelivered(struct loop *unused)
{
        int seen = 0;
        struct loop *both[2] = {ra, rb};
        for (int k = 0; k < 2; k++)
                for (size_t i = 0; i < both[k]->n; i++)
                        if (both[k]->msgs[i]->partition >= 2)
                                seen |= 1 << ((both[k]->msgs[i]->partition - 2) * 2 +
                                              (int)both[k]->msgs[i]->offset);
        return seen == 0xf;
}

/* A second member joins: the first one's partitions are revoked. Its finished offsets
 * are committed on revocation, its unfinished messages go to whoever owns their
 * partition next, and its late done() calls for them are ignored. */
Test(kafka, revocation_commits_done_and_hands_over_the_rest, .init = setup, .fini = teardown,
     .timeout = 90)
{
        rawp = raw_producer(cfg.brokers);
        for (int part = 0; part < 4; part++) {
                for (int i = 0; i < 2; i++) {
                        char v[32];
                        snprintf(v, sizeof v, "p%d-%d", part, i);
                        cr_assert_eq(rd_kafka_producev(
                                         rawp, RD_KAFKA_V_TOPIC("scripts"),
                                         RD_KAFKA_V_PARTITION(part), RD_KAFKA_V_VALUE(v, strlen(v)),
                                         RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END),
                                     0);
                }
        }
        raw_flush(rawp);

        struct loop a = {0}, b = {0};
        ra = &a;
        rb = &b;
        loop_consumer(&a);
        want_msgs = 8;
        run(&a, have_msgs, 30000, "the first member to get everything");
        cr_assert_eq(a.owned, 4);
        run(&a, settled, 10000, "the committed offsets read after the assignment");
        /* partitions 0 and 1 finished, 2 and 3 still running */
        jr_error e = {0};
        for (size_t i = 0; i < a.n; i++)
                if (a.msgs[i]->partition < 2)
                        ASSERT_OK(jr_kafka_consumer_done(a.c, "scripts", a.msgs[i]->partition,
                                                         a.msgs[i]->offset, &e),
                                  e);
        cr_assert_eq(jr_kafka_consumer_in_flight(a.c), 4);
        int64_t late[4][2];
        size_t nlate = 0;
        for (size_t i = 0; i < a.n; i++) {
                if (a.msgs[i]->partition >= 2) {
                        late[nlate][0] = a.msgs[i]->partition;
                        late[nlate][1] = a.msgs[i]->offset;
                        nlate++;
                }
                jr_kafka_msg_free(a.msgs[i]);
        }
        a.n = 0;

        loop_consumer(&b);
        run2(&a, &b, both_rebalanced, 40000, "the rebalance");
        cr_assert_eq(jr_kafka_consumer_in_flight(a.c), 0, "revoked messages are not in flight");
        /* the executions of partitions 2 and 3 finish after the revocation: ignored */
        for (size_t i = 0; i < nlate; i++)
                ASSERT_OK(
                    jr_kafka_consumer_done(a.c, "scripts", (int32_t)late[i][0], late[i][1], &e), e);
        run2(&a, &b, redelivered, 20000, "the unfinished messages to come back");
        run2(&a, &b, NULL, 1000, NULL); /* and nothing else */
        struct loop *both[2] = {&a, &b};
        for (int k = 0; k < 2; k++)
                for (size_t i = 0; i < both[k]->n; i++)
                        cr_assert_geq(both[k]->msgs[i]->partition, 2, "p%d was finished",
                                      both[k]->msgs[i]->partition);
        loop_free(&a);
        loop_free(&b);
        rd_kafka_destroy(rawp);
}

/* SIGTERM during an outage: closing the consumer must not hang on the unreachable
 * coordinator; what could not be committed is simply seen again later. */
Test(kafka, close_during_outage_is_bounded, .init = setup_one_partition, .fini = teardown,
     .timeout = 60)
{
        rawp = raw_producer(cfg.brokers);
        raw_produce(rawp, "scripts", "k", "first");
        raw_produce(rawp, "scripts", "k", "second");
        raw_flush(rawp);
        rd_kafka_destroy(rawp);

        struct loop a = {0};
        loop_consumer(&a);
        want_msgs = 2;
        run(&a, have_msgs, 30000, "two messages");
        jr_error e = {0};
        ASSERT_OK(jr_kafka_consumer_done(a.c, "scripts", 0, 0, &e), e);
        int64_t deadline = now_ms() + 10000;
        while (committed_offset("scrc-runner") != 1) {
                cr_assert_lt(now_ms(), deadline, "the first commit never arrived");
                run(&a, NULL, 100, NULL);
        }

        ASSERT_OK(jr_kafka_broker_set_down(broker, true, &e), e);
        ASSERT_OK(jr_kafka_consumer_done(a.c, "scripts", 0, 1, &e), e);
        ASSERT_OK(jr_kafka_consumer_close(a.c, &e), e);
        loop_free(&a);

        ASSERT_OK(jr_kafka_broker_set_down(broker, false, &e), e);
        struct loop b = {0};
        loop_consumer(&b);
        want_msgs = 1;
        run(&b, have_msgs, 30000, "the uncommitted message again");
        cr_assert_eq(b.msgs[0]->offset, 1, "at least once: the lost commit means a redelivery");
        loop_free(&b);
}

/* `jailrun broker`: prints its address, serves real clients, exits 0 on SIGTERM. */
Test(kafka_broker_cmd, standalone, .timeout = 60)
{
        char *argv[] = {(char *)tu_build("jailrun"), "broker", "--partitions", "2", "--topics",
                        "scripts,script-results",    NULL};
        int out[2];
        cr_assert_eq(pipe2(out, O_CLOEXEC), 0);
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, out[1], 1);
        pid_t pid;
        int rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, NULL);
        cr_assert_eq(rc, 0, "spawn %s: %s", argv[0], strerror(rc));
        posix_spawn_file_actions_destroy(&fa);
        close(out[1]);
        FILE *f = fdopen(out[0], "r");
        char addr[256] = "";
        cr_assert(fgets(addr, sizeof addr, f), "no address printed");
        addr[strcspn(addr, "\n")] = '\0';
        cr_assert(!strncmp(addr, "127.0.0.1:", 10), "address: %s", addr);

        rd_kafka_t *p = raw_producer(addr);
        raw_produce(p, "scripts", "id-1", "hello");
        raw_flush(p);
        rd_kafka_destroy(p);
        char *vals[1];
        cr_assert_eq(raw_consume_all(addr, "scripts", 2, 1, vals), 1);
        cr_assert_str_eq(vals[0], "id-1=hello");
        free(vals[0]);

        cr_assert_eq(kill(pid, SIGTERM), 0);
        int st;
        cr_assert_eq(waitpid(pid, &st, 0), pid);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status 0x%x", st);
        fclose(f);
}

Test(kafka_broker_cmd, bad_arguments)
{
        char *argv[] = {(char *)tu_build("jailrun"), "broker", "--partitions", "0", NULL};
        char *o = NULL, *err = NULL;
        int st = tu_run(argv, NULL, &o, &err);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 2);
        cr_assert(strstr(err, "--partitions"), "%s", err);
        free(o);
        free(err);
}
