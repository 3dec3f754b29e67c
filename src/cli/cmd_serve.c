/* jailrun serve: the production entry point. The options go into a jr_serve_opts, the
 * supervisor is src/service/serve.c (serve.h); `serve --executor` is an executor
 * (executor.h). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "jailopts.h"
#include "commands.h"
#include "executor.h"
#include "serve.h"
#include "units.h"

static const char usage_text[] =
    "Usage: jailrun serve [OPTIONS]\n"
    "\n"
    "Judge the submissions of a Kafka topic: consume KAFKA_TOPIC in group KAFKA_GROUP_ID,\n"
    "judge up to RUNNER_MAX_PARALLEL at a time (one executor process and jail slot each),\n"
    "produce progress events to KAFKA_EVENTS_TOPIC and one result per submission to\n"
    "KAFKA_RESULTS_TOPIC (key = id). Events and results are written to the spool\n"
    "(JAILRUN_SPOOL_DIR) before they are produced; a submission's offset is committed\n"
    "once its result is durable. Logs: one JSON object per line on stderr.\n"
    "\n"
    "  --langs DIR           language files (default $JAILRUN_LANGS_DIR, the source\n"
    "                        tree's langs/, or /usr/share/jailrun/langs)\n"
    "  --rootfs-dir DIR      rootfs trees (default $JAILRUN_ROOTFS_DIR or\n"
    "                        /var/lib/jailrun/rootfs)\n"
    "  --cgroup auto|v1|v2, --fallback LIST   as for jailrun exec\n"
    "  --log-file FILE       log there (appending) instead of stderr; SIGHUP reopens it\n"
    "                        (with stderr, SIGHUP only logs that there is nothing to reopen)\n"
    "  --log-level LEVEL     error, warning, info (default, or $JAILRUN_LOG_LEVEL), debug\n"
    "  --print-results       print each result on stdout, one JSON per line, when it is\n"
    "                        spooled for production (a duplicate is not printed)\n"
    "  --produce PATH        produce the submission in file PATH, or every *.json file of\n"
    "                        directory PATH (sorted), to KAFKA_TOPIC at start (key = its\n"
    "                        id, else the file name); repeatable. With the embedded broker\n"
    "                        and no SCRIPT_EXPECTED, serve exits once all were judged.\n"
    "  --flush-timeout DUR   at exit, wait this long for the broker to acknowledge what is\n"
    "                        spooled (default 30s); the rest is sent at the next start\n"
    "  -h, --help            this text\n"
    "\n"
    "Environment (docs/messages.md):\n"
    "  KAFKA_BROKERS         brokers (localhost:9092); \"embedded\" starts librdkafka's\n"
    "                        mock cluster in-process and logs its bootstrap address\n"
    "  KAFKA_TOPIC, KAFKA_GROUP_ID, KAFKA_RESULTS_TOPIC, KAFKA_EVENTS_TOPIC (empty:\n"
    "                        no events), JAILRUN_KAFKA_CONFIG (extra librdkafka\n"
    "                        properties, \"name=value;consumer.name=value\")\n"
    "  RUNNER_MAX_PARALLEL   executions at a time (1)\n"
    "  RUNNER_TIME_LIMIT     default time limit, a duration (host default 2s)\n"
    "  RUNNER_MEMORY_LIMIT   default memory limit in bytes (host default 256 MiB)\n"
    "  JAILRUN_DEFAULT_CHECKER  checker of submissions that name none: lines\n"
    "                        (default), exact (the reference worker's verdicts), tokens,\n"
    "                        tokens-lines, float:EPS, sorted\n"
    "  SCRIPT_EXPECTED       exit 0 after this many submissions (0: never). Every\n"
    "                        submission message counts once when it is consumed: judged,\n"
    "                        invalid (IE) or skipped as already judged; \"done\" does not.\n"
    "  JAILRUN_SPOOL_DIR     the spool (/var/lib/jailrun/spool; with the embedded broker,\n"
    "                        unless set: a temporary one, removed at exit)\n"
    "  JAILRUN_SPOOL_FINISHED_MAX  finished ids remembered for duplicate suppression\n"
    "                        (100000)\n"
    "  JAILRUN_MAX_SUBMISSION_BYTES  larger messages get an IE result (64 MiB)\n"
    "  JAILRUN_METRICS_ADDR  HOST:PORT of a Prometheus endpoint (GET /metrics); empty: off\n"
    "  JAILRUN_CG_FALLBACKS  as --fallback; JAILRUN_LOG_LEVEL as --log-level\n"
    "\n"
    "HTTP front door (docs/http.md), when JAILRUN_HTTP_ADDR=HOST:PORT (or EXECUTOR_PORT)\n"
    "is set: POST /execute (the Executor Service's request and answer), POST\n"
    "/v1/executions, GET /v1/executions/ID and .../events (Server-Sent Events),\n"
    "GET /v1/languages, /healthz, /readyz. Its submissions go through KAFKA_TOPIC.\n"
    "  JAILRUN_HTTP_TOKENS   bearer tokens, comma-separated; none: loopback only\n"
    "  EXECUTOR_TIMEOUT      wall limit of a /execute test without timeoutMs (3000 ms);\n"
    "                        a test's timeoutMs is its wall limit and its CPU limit\n"
    "  EXECUTOR_ALLOWED_MODULES  JSON array of the modules Python programs may import\n"
    "                        (any way they came); unset: a language file's\n"
    "                        allowed_modules, else any\n"
    "  `jailrun config` lists the others (JAILRUN_HTTP_*, JAILRUN_RESULTS_*).\n"
    "\n"
    "Messages: a submission is judged; an invalid one (not JSON, a bad field, too big)\n"
    "gets an IE result naming the problem; {\"type\":\"done\"} finishes the work in flight\n"
    "and exits 0. Back-pressure: the consumer is paused while 64 submissions (or 16 MiB)\n"
    "wait for an executor and resumed when half of that is left: a backlog stays in the\n"
    "broker.\n"
    "\n"
    "An executor that dies is replaced; its submission is judged once more, and if the\n"
    "second executor dies too it gets an IE result (\"executor died\"). Events of that\n"
    "second attempt continue the first one's seq (already produced ones are not repeated).\n"
    "\n"
    "Under systemd (Type=notify, $NOTIFY_SOCKET) serve sends READY=1 once the executors are\n"
    "up, the spool is replayed into the producer and the consumer exists.\n"
    "\n"
    "Signals: SIGTERM/SIGINT stop consuming, finish the executions in flight, flush,\n"
    "commit and exit 0 (a second one stops at once, exit 1: unfinished submissions are\n"
    "judged again at the next start). SIGHUP reopens the log file.\n"
    "\n"
    "Exit status: 0 after a stop, 1 on a fatal error (the log says which), 2 on invalid\n"
    "options or environment.\n";

/* 0 with *o filled, 1 when --help was printed, < 0 on a usage error. `produce` has room
 * for every argument. */
static int parse_args(int argc, char **argv, jr_serve_opts *o, const char **produce, jr_error *e)
{
        static const struct option opts[] = {
            {"langs", required_argument, NULL, 'l'},
            {"rootfs-dir", required_argument, NULL, 'r'},
            {"cgroup", required_argument, NULL, 'c'},
            {"fallback", required_argument, NULL, 'f'},
            {"log-file", required_argument, NULL, 'L'},
            {"log-level", required_argument, NULL, 'v'},
            {"print-results", no_argument, NULL, 'p'},
            {"produce", required_argument, NULL, 'P'},
            {"flush-timeout", required_argument, NULL, 'T'},
            {"help", no_argument, NULL, 'h'},
            {NULL, 0, NULL, 0},
        };
        jr_cg_mode cg_mode;
        int opt;
        optind = 1;
        opterr = 0;
        o->produce = produce;
        while ((opt = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
                switch (opt) {
                case 'l':
                        o->langs_dir = optarg;
                        break;
                case 'r':
                        o->rootfs_dir = optarg;
                        break;
                case 'c':
                        if (jr_parse_cg_mode(optarg, &cg_mode, e) < 0)
                                return jr_error_wrap(e, "option --cgroup");
                        o->cg_mode = optarg;
                        break;
                case 'f':
                        if (jr_parse_fallbacks(optarg, &o->fallback_flags, e) < 0)
                                return jr_error_wrap(e, "option --fallback");
                        o->fallbacks = optarg;
                        break;
                case 'L':
                        o->log_file = optarg;
                        break;
                case 'v':
                        o->log_level = optarg;
                        break;
                case 'p':
                        o->print_results = true;
                        break;
                case 'P':
                        produce[o->n_produce++] = optarg;
                        break;
                case 'T':
                        if (jr_parse_duration_ms(optarg, &o->flush_timeout_ms, e) < 0)
                                return jr_error_wrap(e, "option --flush-timeout");
                        break;
                case 'h':
                        fputs(usage_text, stdout);
                        return 1;
                default:
                        return jr_error_set(e, 0, "unknown option \"%s\" (see --help)",
                                            argv[optind - 1]);
                }
        }
        if (optind < argc)
                return jr_error_set(e, 0, "unexpected argument \"%s\" (see --help)", argv[optind]);
        return 0;
}

static int report(const jr_error *e, int status)
{
        fprintf(stderr, "jailrun serve: %s\n", e->msg);
        return status;
}

int jr_cmd_serve(int argc, char **argv)
{
        for (int i = 1; i < argc; i++)
                if (!strcmp(argv[i], "--executor"))
                        return jr_executor_command(argc, argv);

        jr_serve_opts o = {.flush_timeout_ms = JR_SERVE_FLUSH_TIMEOUT_MS};
        jr_error e = {0};
        _cleanup_free_ const char **produce = calloc((size_t)argc + 1, sizeof *produce);
        if (!produce)
                return report(&(jr_error){.err = ENOMEM, .msg = "out of memory"}, 1);
        int r = parse_args(argc, argv, &o, produce, &e);
        if (r != 0)
                return r > 0 ? 0 : report(&e, 2);
        r = jr_serve_run(&o, &e);
        return r < 0 ? report(&e, 2) : r;
}
