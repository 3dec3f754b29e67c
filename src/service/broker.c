/* `jailrun broker` as a service: see broker.h. */
#include "broker.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"

/* Start the broker with the topics of the comma-separated list `topics`. */
static int start_topics(const char *topics, int partitions, const jr_broker_opts *o,
                        jr_kafka_broker **b, jr_error *e)
{
        _cleanup_free_ char *copy = strdup(topics);
        size_t n = 0, cap = 1;
        for (const char *p = topics; *p; p++)
                cap += *p == ',';
        _cleanup_free_ jr_kafka_topic_spec *t = calloc(cap, sizeof *t);
        if (!copy || !t)
                return jr_error_set(e, 0, "out of memory");
        char *save = NULL;
        for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
                t[n++] = (jr_kafka_topic_spec){tok, partitions};
        return jr_kafka_broker_start(t, n, o->log, o->log_opaque, b, e);
}

int jr_broker_run(const jr_broker_opts *o, jr_error *e)
{
        _cleanup_kafka_config_ jr_kafka_config cfg = {0};
        if (jr_kafka_config_from_env(&cfg, e) < 0)
                return -1;
        /* Block the signals before librdkafka starts its threads, so that they inherit
         * the mask and only sigwaitinfo() below sees SIGTERM/SIGINT. */
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGINT);
        sigprocmask(SIG_BLOCK, &set, NULL);

        _cleanup_kafka_broker_ jr_kafka_broker *b = NULL;
        int partitions = o->partitions > 0 ? o->partitions : JR_KAFKA_EMBEDDED_PARTITIONS;
        int r = o->topics
                    ? start_topics(o->topics, partitions, o, &b, e)
                    : jr_kafka_broker_start_for(&cfg, partitions, o->log, o->log_opaque, &b, e);
        if (r < 0)
                return -1;
        if (o->ready && o->ready(o->opaque, jr_kafka_broker_bootstraps(b), e) < 0)
                return -1;
        siginfo_t si;
        while (sigwaitinfo(&set, &si) < 0 && errno == EINTR)
                ;
        return 0;
}
