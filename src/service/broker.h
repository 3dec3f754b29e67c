/* jr_broker: `jailrun broker`, an embedded Kafka broker (librdkafka's mock cluster, see
 * kafka.h) for kcat, the tests and the bench, served until SIGTERM or SIGINT. */
#pragma once

#include "error.h"
#include "kafka.h"

typedef struct jr_broker_opts {
        int partitions;       /* per topic; <= 0: JR_KAFKA_EMBEDDED_PARTITIONS */
        const char *topics;   /* "a,b,c" to create; NULL: those of the KAFKA_* environment */
        jr_kafka_log_fn *log; /* called from librdkafka's threads; NULL: stderr */
        void *log_opaque;
        /* Told the bootstrap address ("127.0.0.1:PORT") once the broker is up; < 0 (with
         * *e set) stops it. */
        int (*ready)(void *opaque, const char *bootstraps, jr_error *e);
        void *opaque;
} jr_broker_opts;

/* Start the broker, tell o->ready, serve until SIGTERM or SIGINT, stop (its data is
 * lost). 0 after the signal, < 0 with *e set when it could not start. */
int jr_broker_run(const jr_broker_opts *o, jr_error *e);
