#include "bench.h"

#include <stdio.h>
#include <string.h>

rd_kafka_t *bench_client(rd_kafka_type_t type, const char *brokers, const char *group,
                         int fetch_wait_ms)
{
        char err[512];
        rd_kafka_conf_t *c = rd_kafka_conf_new();
        if (rd_kafka_conf_set(c, "bootstrap.servers", brokers, err, sizeof err) != 0)
                bench_die("bootstrap.servers: %s", err);
        if (type == RD_KAFKA_PRODUCER) {
                rd_kafka_conf_set(c, "linger.ms", "0", err, sizeof err);
        } else {
                char fw[16];
                snprintf(fw, sizeof fw, "%d", fetch_wait_ms);
                rd_kafka_conf_set(c, "group.id", group, err, sizeof err);
                rd_kafka_conf_set(c, "enable.auto.commit", "false", err, sizeof err);
                rd_kafka_conf_set(c, "fetch.wait.max.ms", fw, err, sizeof err);
        }
        rd_kafka_t *rk = rd_kafka_new(type, c, err, sizeof err);
        if (!rk)
                bench_die("rd_kafka_new: %s", err);
        return rk;
}

void bench_assign_all(rd_kafka_t *rk, const char *topic, int n_parts)
{
        rd_kafka_poll_set_consumer(rk);
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(n_parts);
        for (int p = 0; p < n_parts; p++)
                rd_kafka_topic_partition_list_add(l, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
        rd_kafka_resp_err_t e = rd_kafka_assign(rk, l);
        if (e)
                bench_die("assign the partitions of %s: %s", topic, rd_kafka_err2str(e));
        rd_kafka_topic_partition_list_destroy(l);
}

void bench_produce(rd_kafka_t *rk, const char *topic, int partition, const char *key,
                   const char *value)
{
        rd_kafka_resp_err_t e = rd_kafka_producev(
            rk, RD_KAFKA_V_TOPIC(topic),
            RD_KAFKA_V_PARTITION(partition < 0 ? RD_KAFKA_PARTITION_UA : partition),
            RD_KAFKA_V_KEY(key, strlen(key)), RD_KAFKA_V_VALUE((void *)value, strlen(value)),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        if (e)
                bench_die("produce %s to %s: %s", key, topic, rd_kafka_err2str(e));
        rd_kafka_poll(rk, 0);
}

void bench_quiet_log(void *opaque, int level, const char *source, const char *msg)
{
        (void)opaque;
        (void)level;
        (void)source;
        (void)msg;
}
