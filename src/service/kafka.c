/* Kafka: the configuration, what every handle shares, the embedded broker. See kafka.h
 * and kafka_internal.h. */
#include "kafka_internal.h"

#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "cleanup.h"
#include "clock.h"

void kafka_log_stderr(void *opaque, int level, const char *source, const char *msg)
{
        fprintf(stderr, "jailrun: kafka %s: %s\n", source, msg);
}

void kafka_logf(struct common *c, int level, const char *fmt, ...)
{
        char buf[1024];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof buf, fmt, ap);
        va_end(ap);
        c->log(c->log_opaque, level, c->source, buf);
}

static void rk_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
        struct common *c = rd_kafka_opaque(rk);
        if (c)
                kafka_logf(c, level, "%s: %s", fac, buf);
}

static void rk_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
        struct common *c = opaque;
        if (err == RD_KAFKA_RESP_ERR__FATAL) {
                char why[512];
                rd_kafka_fatal_error(rk, why, sizeof why);
                c->fatal = true;
                kafka_logf(c, 3, "fatal error: %s", why);
                return;
        }
        /* Broker outages are expected and survived (librdkafka reconnects with backoff);
         * say so at warning level, everything else is an error. */
        bool transient = err == RD_KAFKA_RESP_ERR__TRANSPORT ||
                         err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN ||
                         err == RD_KAFKA_RESP_ERR__RESOLVE || err == RD_KAFKA_RESP_ERR__TIMED_OUT;
        kafka_logf(c, transient ? 4 : 3, "%s: %s", rd_kafka_err2name(err), reason);
}

/* ---- configuration ------------------------------------------------------------ */

static int env_dup(char **out, const char *name, const char *dflt, bool empty_is_null, jr_error *e)
{
        const char *v = getenv(name);
        if (!v || (!*v && !empty_is_null))
                v = dflt;
        if (!*v && empty_is_null) {
                *out = NULL;
                return 0;
        }
        *out = strdup(v);
        if (!*out)
                return jr_error_set(e, ENOMEM, "%s", name);
        return 0;
}

int jr_kafka_config_from_env(jr_kafka_config *cfg, jr_error *e)
{
        jr_kafka_config c = {0};
        const char *extra = getenv("JAILRUN_KAFKA_CONFIG");
        if (env_dup(&c.brokers, "KAFKA_BROKERS", "localhost:9092", false, e) < 0 ||
            env_dup(&c.topic, "KAFKA_TOPIC", "scripts", false, e) < 0 ||
            env_dup(&c.group_id, "KAFKA_GROUP_ID", "scrc-runner", false, e) < 0 ||
            env_dup(&c.results_topic, "KAFKA_RESULTS_TOPIC", "script-results", false, e) < 0 ||
            env_dup(&c.events_topic, "KAFKA_EVENTS_TOPIC", "script-events", true, e) < 0 ||
            (extra && *extra && env_dup(&c.extra, "JAILRUN_KAFKA_CONFIG", "", false, e) < 0)) {
                jr_kafka_config_free(&c);
                return -1;
        }
        *cfg = c;
        return 0;
}

void jr_kafka_config_free(jr_kafka_config *cfg)
{
        if (!cfg)
                return;
        free(cfg->brokers);
        free(cfg->topic);
        free(cfg->group_id);
        free(cfg->results_topic);
        free(cfg->events_topic);
        free(cfg->extra);
        memset(cfg, 0, sizeof *cfg);
}

bool jr_kafka_config_is_embedded(const jr_kafka_config *cfg)
{
        return cfg->brokers && !strcmp(cfg->brokers, JR_KAFKA_EMBEDDED);
}

int jr_kafka_config_set_brokers(jr_kafka_config *cfg, const char *brokers, jr_error *e)
{
        char *b = strdup(brokers);
        if (!b)
                return jr_error_set(e, ENOMEM, "KAFKA_BROKERS");
        free(cfg->brokers);
        cfg->brokers = b;
        return 0;
}

int kafka_conf_set(rd_kafka_conf_t *conf, const char *name, const char *value, jr_error *e)
{
        char errstr[512];
        if (rd_kafka_conf_set(conf, name, value, errstr, sizeof errstr) != RD_KAFKA_CONF_OK)
                return jr_error_set(e, EINVAL, "kafka property %s=\"%s\": %s", name, value, errstr);
        return 0;
}

/* Apply JAILRUN_KAFKA_CONFIG entries meant for `role` ("consumer" or "producer"). */
static int conf_apply_extra(rd_kafka_conf_t *conf, const char *extra, const char *role, jr_error *e)
{
        if (!extra)
                return 0;
        _cleanup_free_ char *copy = strdup(extra);
        if (!copy)
                return jr_error_set(e, ENOMEM, "JAILRUN_KAFKA_CONFIG");
        char *save = NULL;
        for (char *item = strtok_r(copy, ";", &save); item; item = strtok_r(NULL, ";", &save)) {
                while (*item == ' ' || *item == '\t' || *item == '\n')
                        item++;
                if (!*item)
                        continue;
                char *eq = strchr(item, '=');
                if (!eq || eq == item)
                        return jr_error_set(e, EINVAL,
                                            "JAILRUN_KAFKA_CONFIG: \"%s\" is not name=value", item);
                *eq = '\0';
                const char *name = item, *value = eq + 1;
                if (!strncmp(name, "consumer.", 9) || !strncmp(name, "producer.", 9)) {
                        if (strncmp(name, role, 8) != 0)
                                continue;
                        name += 9;
                }
                if (kafka_conf_set(conf, name, value, e) < 0)
                        return jr_error_wrap(e, "JAILRUN_KAFKA_CONFIG");
        }
        return 0;
}

rd_kafka_conf_t *kafka_conf_new(struct common *com, const jr_kafka_config *cfg, const char *role,
                                const char *const *defaults, jr_error *e)
{
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        if (!conf) {
                jr_error_set(e, ENOMEM, "kafka %s configuration", role);
                return NULL;
        }
        rd_kafka_conf_set_opaque(conf, com);
        rd_kafka_conf_set_log_cb(conf, rk_log_cb);
        rd_kafka_conf_set_error_cb(conf, rk_error_cb);
        if (kafka_conf_set(conf, "bootstrap.servers", cfg->brokers, e) < 0 ||
            kafka_conf_set(conf, "client.id", "jailrun", e) < 0 ||
            kafka_conf_set(conf, "log.queue", "true", e) < 0)
                goto fail;
        for (size_t i = 0; defaults && defaults[i]; i += 2)
                if (kafka_conf_set(conf, defaults[i], defaults[i + 1], e) < 0)
                        goto fail;
        if (conf_apply_extra(conf, cfg->extra, role, e) < 0)
                goto fail;
        return conf;
fail:
        rd_kafka_conf_destroy(conf);
        return NULL;
}

int kafka_wakeup_attach(rd_kafka_queue_t *q, int *fdp, jr_error *e)
{
        int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (fd < 0)
                return jr_error_errno(e, "eventfd");
        static const uint64_t one = 1;
        rd_kafka_queue_io_event_enable(q, fd, &one, sizeof one);
        *fdp = fd;
        return 0;
}

void kafka_wakeup_drain(int fd)
{
        uint64_t v;
        while (read(fd, &v, sizeof v) > 0)
                ;
}

/* ---- embedded broker -------------------------------------------------------- */

struct jr_kafka_broker {
        struct common com;
        rd_kafka_t *rk;
        rd_kafka_mock_cluster_t *mc;
        char *bootstraps;
        int n_brokers;
};

/* Called on librdkafka's threads: only warnings and errors, the mock is chatty. */
static void broker_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
        struct common *c = rd_kafka_opaque(rk);
        if (c && level <= 4)
                kafka_logf(c, level, "%s: %s", fac, buf);
}

int jr_kafka_broker_start(const jr_kafka_topic_spec *topics, size_t n_topics, jr_kafka_log_fn *log,
                          void *log_opaque, jr_kafka_broker **out, jr_error *e)
{
        jr_kafka_broker *b = calloc(1, sizeof *b);
        if (!b)
                return jr_error_set(e, ENOMEM, "embedded broker");
        b->com = (struct common){
            .log = log ? log : kafka_log_stderr, .log_opaque = log_opaque, .source = "broker"};
        b->n_brokers = 1;
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        rd_kafka_conf_set_opaque(conf, &b->com);
        rd_kafka_conf_set_log_cb(conf, broker_log_cb);
        char errstr[512];
        /* The mock cluster needs a handle for its bookkeeping; this one never connects
         * anywhere (no bootstrap.servers), it only owns the cluster's thread. */
        b->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
        if (!b->rk) {
                rd_kafka_conf_destroy(conf);
                free(b);
                return jr_error_set(e, EINVAL, "embedded broker: rd_kafka_new: %s", errstr);
        }
        b->mc = rd_kafka_mock_cluster_new(b->rk, b->n_brokers);
        if (!b->mc) {
                jr_kafka_broker_stop(b);
                return jr_error_set(e, EIO, "embedded broker: rd_kafka_mock_cluster_new failed");
        }
        b->bootstraps = strdup(rd_kafka_mock_cluster_bootstraps(b->mc));
        if (!b->bootstraps) {
                jr_kafka_broker_stop(b);
                return jr_error_set(e, ENOMEM, "embedded broker");
        }
        for (size_t i = 0; i < n_topics; i++) {
                int parts =
                    topics[i].partitions > 0 ? topics[i].partitions : JR_KAFKA_EMBEDDED_PARTITIONS;
                rd_kafka_resp_err_t err =
                    rd_kafka_mock_topic_create(b->mc, topics[i].name, parts, 1);
                if (err) {
                        jr_error_set(e, EINVAL, "embedded broker: create topic \"%s\": %s",
                                     topics[i].name, rd_kafka_err2str(err));
                        jr_kafka_broker_stop(b);
                        return -1;
                }
        }
        *out = b;
        return 0;
}

int jr_kafka_broker_start_for(const jr_kafka_config *cfg, int partitions, jr_kafka_log_fn *log,
                              void *log_opaque, jr_kafka_broker **out, jr_error *e)
{
        jr_kafka_topic_spec t[3] = {{cfg->topic, partitions}, {cfg->results_topic, partitions}};
        size_t n = 2;
        if (cfg->events_topic)
                t[n++] = (jr_kafka_topic_spec){cfg->events_topic, partitions};
        return jr_kafka_broker_start(t, n, log, log_opaque, out, e);
}

const char *jr_kafka_broker_bootstraps(const jr_kafka_broker *b)
{
        return b->bootstraps;
}

int jr_kafka_config_use_broker(jr_kafka_config *cfg, const jr_kafka_broker *b, jr_error *e)
{
        if (jr_kafka_config_set_brokers(cfg, b->bootstraps, e) < 0)
                return -1;
        cfg->fetch_wait_max_ms = JR_KAFKA_MOCK_FETCH_WAIT_MS;
        return 0;
}

int jr_kafka_broker_set_down(jr_kafka_broker *b, bool down, jr_error *e)
{
        for (int id = 1; id <= b->n_brokers; id++) {
                rd_kafka_resp_err_t err = down ? rd_kafka_mock_broker_set_down(b->mc, id)
                                               : rd_kafka_mock_broker_set_up(b->mc, id);
                if (err)
                        return jr_error_set(e, EIO, "embedded broker %d: set %s: %s", id,
                                            down ? "down" : "up", rd_kafka_err2str(err));
        }
        return 0;
}

void jr_kafka_broker_stop(jr_kafka_broker *b)
{
        if (!b)
                return;
        if (b->mc)
                rd_kafka_mock_cluster_destroy(b->mc);
        if (b->rk)
                rd_kafka_destroy(b->rk);
        free(b->bootstraps);
        free(b);
}
