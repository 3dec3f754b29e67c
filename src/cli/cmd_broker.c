/* jailrun broker: librdkafka's mock cluster as a standalone Kafka for kcat, the tests
 * and the bench. Prints the bootstrap address on stdout, runs until SIGTERM/SIGINT. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "commands.h"
#include "kafka.h"

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

int jr_cmd_broker(int argc, char **argv)
{
        static const struct option opts[] = {
            {"partitions", required_argument, NULL, 'p'},
            {"topics", required_argument, NULL, 't'},
            {"help", no_argument, NULL, 'h'},
            {0},
        };
        int partitions = JR_KAFKA_EMBEDDED_PARTITIONS;
        const char *topics_arg = NULL;
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
                        partitions = (int)v;
                        break;
                }
                case 't':
                        topics_arg = optarg;
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
        jr_kafka_config cfg = {0};
        if (jr_kafka_config_from_env(&cfg, &e) < 0) {
                fprintf(stderr, "jailrun broker: %s\n", e.msg);
                return 1;
        }
        /* Block the signals before librdkafka starts its threads, so that they inherit
         * the mask and only sigwaitinfo() below sees SIGTERM/SIGINT. */
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGINT);
        sigprocmask(SIG_BLOCK, &set, NULL);

        jr_kafka_broker *b = NULL;
        int ret;
        if (topics_arg) {
                _cleanup_free_ char *copy = strdup(topics_arg);
                size_t n = 0, cap = 1;
                for (const char *p = topics_arg; *p; p++)
                        cap += *p == ',';
                _cleanup_free_ jr_kafka_topic_spec *t = calloc(cap, sizeof *t);
                if (!copy || !t) {
                        fprintf(stderr, "jailrun broker: out of memory\n");
                        jr_kafka_config_free(&cfg);
                        return 1;
                }
                char *save = NULL;
                for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
                        t[n++] = (jr_kafka_topic_spec){tok, partitions};
                ret = jr_kafka_broker_start(t, n, log_line, NULL, &b, &e);
        } else {
                ret = jr_kafka_broker_start_for(&cfg, partitions, log_line, NULL, &b, &e);
        }
        jr_kafka_config_free(&cfg);
        if (ret < 0) {
                fprintf(stderr, "jailrun broker: %s\n", e.msg);
                return 1;
        }

        printf("%s\n", jr_kafka_broker_bootstraps(b));
        if (fflush(stdout) != 0) {
                fprintf(stderr, "jailrun broker: write address: %s\n", strerror(errno));
                jr_kafka_broker_stop(b);
                return 1;
        }

        siginfo_t si;
        while (sigwaitinfo(&set, &si) < 0 && errno == EINTR)
                ;
        jr_kafka_broker_stop(b);
        return 0;
}
