/* jailrun broker: librdkafka's mock cluster as a standalone Kafka for kcat, the tests
 * and the bench (broker.h). Prints the bootstrap address on stdout, runs until
 * SIGTERM/SIGINT. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "broker.h"
#include "commands.h"

static void usage(FILE *out)
{
        fprintf(out,
                "Usage: jailrun broker [--partitions N] [--topics A,B,C]\n\n"
                "Run an in-memory Kafka broker (librdkafka's mock cluster) on 127.0.0.1,\n"
                "print its bootstrap address on stdout and serve until SIGTERM or SIGINT.\n"
                "All data is lost when it stops.\n\n"
                "  --partitions N   partitions per topic (default %d)\n"
                "  --topics A,B,C   topics to create (default: $KAFKA_TOPIC, "
                "$KAFKA_RESULTS_TOPIC,\n"
                "                   $KAFKA_EVENTS_TOPIC with the defaults of `jailrun serve`);\n"
                "                   other topics are created on first use\n",
                JR_KAFKA_EMBEDDED_PARTITIONS);
}

static void log_line(void *opaque, int level, const char *source, const char *msg)
{
        /* stdio locks the stream: safe from librdkafka's threads */
        fprintf(stderr, "jailrun broker: %s\n", msg);
}

static int print_address(void *opaque, const char *bootstraps, jr_error *e)
{
        printf("%s\n", bootstraps);
        if (fflush(stdout) != 0)
                return jr_error_errno(e, "write address");
        return 0;
}

int jr_cmd_broker(int argc, char **argv)
{
        static const struct option opts[] = {
            {"partitions", required_argument, NULL, 'p'},
            {"topics", required_argument, NULL, 't'},
            {"help", no_argument, NULL, 'h'},
            {0},
        };
        jr_broker_opts o = {
            .partitions = JR_KAFKA_EMBEDDED_PARTITIONS, .log = log_line, .ready = print_address};
        int c;
        while ((c = getopt_long(argc, argv, "p:t:h", opts, NULL)) != -1) {
                switch (c) {
                case 'p': {
                        char *end;
                        errno = 0;
                        long v = strtol(optarg, &end, 10);
                        if (errno || *end || v < 1 || v > 10000) {
                                fprintf(stderr,
                                        "jailrun broker: --partitions \"%s\": want 1..10000\n",
                                        optarg);
                                return 2;
                        }
                        o.partitions = (int)v;
                        break;
                }
                case 't':
                        o.topics = optarg;
                        break;
                case 'h':
                        usage(stdout);
                        return 0;
                default:
                        usage(stderr);
                        return 2;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "jailrun broker: unexpected argument \"%s\"\n", argv[optind]);
                return 2;
        }
        jr_error e = {0};
        if (jr_broker_run(&o, &e) < 0) {
                fprintf(stderr, "jailrun broker: %s\n", e.msg);
                return 1;
        }
        return 0;
}
