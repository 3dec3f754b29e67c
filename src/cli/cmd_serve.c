/* jailrun serve: the production entry point. A supervisor consumes submissions from
 * Kafka, hands each to an executor process (one per jail slot, see executor.h), spools
 * every event and result durably and produces them, and commits a submission's offset
 * only once its result is durable.
 *
 * Everything runs in one epoll loop on the supervisor's only thread of its own: the
 * signalfd, the executors' sockets, and the consumer's and producer's wake-up fds, with
 * librdkafka's deadlines as the timeout. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <malloc.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "cli.h"
#include "clock.h"
#include "commands.h"
#include "executor.h"
#include "jail.h"
#include "judge.h"
#include "kafka.h"
#include "lang.h"
#include "log.h"
#include "message.h"
#include "metrics.h"
#include "notify.h"
#include "spool.h"
#include "units.h"

extern char **environ;

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
    "Environment (shared/spec/messages.md):\n"
    "  KAFKA_BROKERS         brokers (localhost:9092); \"embedded\" starts librdkafka's\n"
    "                        mock cluster in-process and logs its bootstrap address\n"
    "  KAFKA_TOPIC, KAFKA_GROUP_ID, KAFKA_RESULTS_TOPIC, KAFKA_EVENTS_TOPIC (empty:\n"
    "                        no events), JAILRUN_KAFKA_CONFIG (extra librdkafka\n"
    "                        properties, \"name=value;consumer.name=value\")\n"
    "  RUNNER_MAX_PARALLEL   executions at a time (1)\n"
    "  RUNNER_TIME_LIMIT     default time limit, a duration (host default 2s)\n"
    "  RUNNER_MEMORY_LIMIT   default memory limit in bytes (host default 256 MiB)\n"
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

/* Records handed to librdkafka at a time; the rest wait in the spool, on disk: a burst of
 * results while the broker is slow costs no memory. Plenty to keep a broker busy. */
#define PRODUCER_IN_FLIGHT 1000
/* Back-pressure with hysteresis: pause the consumer when this many submissions (or bytes)
 * wait for an executor, resume when half of that is left. Not "pause while all executors
 * are busy, resume when one frees up": librdkafka 2.0.2 takes up to a second to fetch
 * again after a resume (its broker thread notices on its next 1 s wake-up) and drops
 * what it had prefetched at each pause, so pausing per submission idled the executors
 * between short jobs. A few dozen waiting submissions are still a bounded queue. */
#define QUEUE_HIGH        64
#define QUEUE_HIGH_BYTES  ((size_t)16 << 20)
#define CONSUME_BATCH     256 /* messages handled per turn of the loop */
#define STARTUP_MS        120000
#define RESPAWN_MAX_MS    10000
#define EXECUTOR_TRIES    2 /* judge attempts of one submission when executors die */
#define SERVE_TAG_SIGNAL  1
#define SERVE_TAG_CONS    2
#define SERVE_TAG_PROD    3
#define SERVE_TAG_METRICS 4
#define SERVE_TAG_SLOT    16

/* ---- state ------------------------------------------------------------------------- */

struct job {
        uint64_t no;
        jr_kafka_msg *msg; /* owned; its offset is done once the result is durable */
        char *id;
        size_t id_len;
        char *language;
        char *fallback;
        size_t fallback_len;
        unsigned attempts;
        uint64_t next_seq; /* events of lower seq were produced already */
        int64_t consumed_ms, started_ms;
        char last_death[128];
        struct job *next;
};

enum slot_state {
        SLOT_DOWN,     /* no process; respawn at respawn_at */
        SLOT_STARTING, /* spawned, waiting for READY */
        SLOT_IDLE,
        SLOT_BUSY,
};

struct slot {
        unsigned index;
        enum slot_state state;
        pid_t pid;
        int sock;
        jr_frame_reader rd;
        struct job *job;
        int64_t respawn_at;
        unsigned deaths; /* consecutive deaths without a finished job */
        char **argv;
};

enum phase {
        PHASE_STARTING, /* executors starting, no Kafka yet */
        PHASE_RUNNING,
        PHASE_FLUSHING, /* nothing in flight: waiting for the broker's acknowledgements */
        PHASE_EXIT,
};

struct serve {
        /* configuration */
        const char *langs_dir, *rootfs_dir, *cg_mode, *fallbacks;
        jr_sandbox_opts sandbox_opts;
        uid_t uid_base; /* slot i runs as uid_base + i */
        const char *metrics_addr;
        unsigned parallel;
        uint64_t expected;
        size_t max_input;
        size_t finished_max;
        uint64_t flush_timeout_ms;
        bool print_results;
        const char **produce;
        size_t n_produce;

        /* resources */
        int epfd, sigfd, exe_fd;
        jr_lang_set *langs;
        jr_kafka_config kcfg;
        jr_kafka_broker *broker;
        jr_kafka_consumer *consumer;
        jr_kafka_producer *producer;
        jr_spool *spool;
        jr_sandbox *sandbox;
        jr_metrics_server *metrics;
        struct slot *slots;
        char tmp_spool[64]; /* the embedded broker's private spool, removed at exit */

        /* the loop */
        enum phase phase;
        bool stop_consuming; /* no more messages: done, SCRIPT_EXPECTED, a signal, fatal */
        bool drop_queue;     /* stopping on a signal: queued jobs stay in the broker */
        bool cons_more;      /* consume() stopped at CONSUME_BATCH: call it again at once */
        int exit_status;
        int64_t startup_deadline, flush_deadline;
        struct job *queue_head, *queue_tail;
        size_t queued, queued_bytes;
        uint64_t next_job;
        uint64_t received, judged, invalid, skipped, duplicates, executor_deaths;
        int64_t started_ms;
};

static void job_free(struct job *j)
{
        if (!j)
                return;
        jr_kafka_msg_free(j->msg);
        free(j->id);
        free(j->language);
        free(j->fallback);
        free(j);
}

/* ---- logging glue ----------------------------------------------------------------- */

static void kafka_log(void *opaque, int level, const char *source, const char *msg)
{
        (void)opaque;
        jr_log((jr_log_level)(level < JR_LOG_ERROR ? JR_LOG_ERROR : level), msg,
               JR_LOG_STR("source", source));
}

/* ---- stopping ------------------------------------------------------------------------ */

static void consumer_pause(struct serve *s, bool pause)
{
        if (!s->consumer || jr_kafka_consumer_paused(s->consumer) == pause)
                return;
        jr_error e;
        if (jr_kafka_consumer_pause(s->consumer, pause, &e) < 0)
                jr_log(JR_LOG_WARNING, e.msg);
        else
                jr_log(JR_LOG_DEBUG, pause ? "consumer paused" : "consumer resumed");
}

/* Stop consuming. finish_queue: the jobs already consumed are judged too ("done",
 * SCRIPT_EXPECTED); otherwise only those executing are (a signal, a fatal error). */
static void serve_stop(struct serve *s, const char *why, bool finish_queue, int status)
{
        if (status > s->exit_status)
                s->exit_status = status;
        if (!finish_queue)
                s->drop_queue = true;
        if (s->stop_consuming)
                return;
        s->stop_consuming = true;
        consumer_pause(s, true);
        size_t busy = 0;
        for (unsigned i = 0; i < s->parallel && s->slots; i++)
                busy += s->slots[i].state == SLOT_BUSY;
        jr_log(JR_LOG_INFO, "stopping", JR_LOG_STR("reason", why), JR_LOG_UINT("executing", busy),
               JR_LOG_UINT("queued", s->queued), JR_LOG_BOOL("finish_queued", finish_queue));
        char note[128];
        snprintf(note, sizeof note, "stopping (%s): finishing %zu execution(s)", why, busy);
        jr_notify_stopping(NULL);
        jr_notify_status(note, NULL);
}

static void fatal(struct serve *s, const char *what, const jr_error *e)
{
        jr_log(JR_LOG_ERROR, what, JR_LOG_STR("error", e ? e->msg : ""));
        serve_stop(s, "fatal error", false, 1);
}

/* ---- results and events --------------------------------------------------------------- */

static void print_result(struct serve *s, const void *json, size_t len)
{
        if (!s->print_results)
                return;
        if (fwrite(json, 1, len, stdout) != len || fputc('\n', stdout) == EOF ||
            fflush(stdout) == EOF) {
                jr_log(JR_LOG_WARNING, "--print-results: stdout failed; printing stops",
                       JR_LOG_STR("error", strerror(errno)));
                s->print_results = false;
        }
}

/* Spool the result (durable), then mark the message done. 0, or < 0 when the spool
 * failed (fatal: nothing can be made durable). */
static int deliver_result(struct serve *s, const jr_kafka_msg *msg, const char *id, size_t id_len,
                          const jr_buf *json)
{
        jr_error e;
        int r = jr_kafka_producer_submit(s->producer, JR_SPOOL_RESULT, s->kcfg.results_topic, id,
                                         id_len, json->ptr, json->len, &e);
        if (r < 0) {
                fatal(s, "spool the result", &e);
                return -1;
        }
        if (r == JR_SPOOL_DUPLICATE) {
                s->duplicates++;
                jr_log(JR_LOG_WARNING, "duplicate result suppressed: this id has one already",
                       JR_LOG_BYTES("id", id, id_len));
        } else {
                print_result(s, json->ptr, json->len);
        }
        if (jr_kafka_consumer_done(s->consumer, msg->topic, msg->partition, msg->offset, &e) < 0)
                jr_log(JR_LOG_WARNING, e.msg, JR_LOG_BYTES("id", id, id_len));
        return 0;
}

static void count_received(struct serve *s)
{
        s->received++;
        if (s->expected && s->received >= s->expected)
                serve_stop(s, "SCRIPT_EXPECTED submissions received", true, 0);
}

/* ---- executors ---------------------------------------------------------------------- */

static void slot_schedule_respawn(struct serve *s, struct slot *sl)
{
        sl->state = SLOT_DOWN;
        int64_t delay = 0;
        if (sl->deaths > 1) {
                delay = 100;
                for (unsigned i = 2; i < sl->deaths && delay < RESPAWN_MAX_MS; i++)
                        delay *= 2;
                if (delay > RESPAWN_MAX_MS)
                        delay = RESPAWN_MAX_MS;
        }
        sl->respawn_at = (int64_t)jr_mono_ms() + delay;
}

static int slot_spawn(struct serve *s, struct slot *sl, jr_error *e)
{
        pid_t pid;
        int sock;
        if (jr_executor_spawn(s->exe_fd, sl->argv, environ, &pid, &sock, e) < 0)
                return -1;
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = SERVE_TAG_SLOT + sl->index};
        if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, sock, &ev) < 0) {
                int err = errno;
                kill(pid, SIGKILL);
                close(sock);
                /* reaped by the SIGCHLD handler: pid is unknown there and ignored */
                return jr_error_set(e, err, "epoll executor");
        }
        sl->pid = pid;
        sl->sock = sock;
        sl->state = SLOT_STARTING;
        sl->rd = (jr_frame_reader){0};
        jr_log(JR_LOG_DEBUG, "executor started", JR_LOG_UINT("slot", sl->index),
               JR_LOG_INT("pid", pid));
        return 0;
}

static void slot_close_sock(struct serve *s, struct slot *sl)
{
        if (sl->sock < 0)
                return;
        epoll_ctl(s->epfd, EPOLL_CTL_DEL, sl->sock, NULL);
        close(sl->sock);
        sl->sock = -1;
}

static void dispatch(struct serve *s);

/* Put a job back at the head of the queue. */
static void queue_push_front(struct serve *s, struct job *j)
{
        j->next = s->queue_head;
        s->queue_head = j;
        if (!s->queue_tail)
                s->queue_tail = j;
        s->queued++;
        s->queued_bytes += j->msg->value_len;
}

static void queue_push(struct serve *s, struct job *j)
{
        j->next = NULL;
        if (s->queue_tail)
                s->queue_tail->next = j;
        else
                s->queue_head = j;
        s->queue_tail = j;
        s->queued++;
        s->queued_bytes += j->msg->value_len;
}

static struct job *queue_pop(struct serve *s)
{
        struct job *j = s->queue_head;
        if (!j)
                return NULL;
        s->queue_head = j->next;
        if (!s->queue_head)
                s->queue_tail = NULL;
        s->queued--;
        s->queued_bytes -= j->msg->value_len;
        j->next = NULL;
        return j;
}

/* The executor judging j died: judge it once more, or answer IE. */
static void job_executor_died(struct serve *s, struct job *j)
{
        if (j->attempts < EXECUTOR_TRIES && !s->drop_queue) {
                jr_log(JR_LOG_WARNING, "executor died while judging; judging it again",
                       JR_LOG_BYTES("id", j->id, j->id_len), JR_LOG_STR("why", j->last_death),
                       JR_LOG_UINT("attempt", j->attempts));
                queue_push_front(s, j);
                return;
        }
        if (j->attempts < EXECUTOR_TRIES) {
                /* stopping on a signal: not done, so it is consumed again after restart */
                job_free(j);
                return;
        }
        char why[256];
        snprintf(why, sizeof why,
                 "internal error: the executor died %u times judging this "
                 "submission (last: %s)",
                 j->attempts, j->last_death);
        jr_buf json = {0};
        jr_error e;
        if (jr_result_ie_json((jr_bytes){j->id, j->id_len}, why, 0, &json, &e) < 0) {
                fatal(s, "result for a dead executor", &e);
                job_free(j);
                return;
        }
        jr_log(JR_LOG_ERROR, "executor died; IE result", JR_LOG_BYTES("id", j->id, j->id_len),
               JR_LOG_STR("error", why));
        if (deliver_result(s, j->msg, j->id, j->id_len, &json) == 0) {
                s->judged++;
                jr_metrics_count_result(j->language, "IE");
        }
        free(json.ptr);
        job_free(j);
}

static void handle_event(struct serve *s, struct slot *sl, const void *p, size_t len)
{
        jr_exec_event h;
        struct job *j = sl->job;
        if (len < sizeof h)
                return;
        memcpy(&h, p, sizeof h);
        if (!j || h.job != j->no)
                return;
        /* A second attempt repeats the first one's events: keep seq strictly growing. */
        if (h.seq < j->next_seq)
                return;
        j->next_seq = h.seq + 1;
        if (!s->kcfg.events_topic)
                return;
        jr_error e;
        if (jr_kafka_producer_submit(s->producer, JR_SPOOL_EVENT, s->kcfg.events_topic, j->id,
                                     j->id_len, (const char *)p + sizeof h, len - sizeof h, &e) < 0)
                jr_log(JR_LOG_ERROR, "spool an event (dropped)", JR_LOG_STR("error", e.msg),
                       JR_LOG_BYTES("id", j->id, j->id_len));
}

static void handle_result(struct serve *s, struct slot *sl, const void *p, size_t len)
{
        jr_exec_summary sum;
        struct job *j = sl->job;
        if (len < sizeof sum)
                return;
        memcpy(&sum, p, sizeof sum);
        if (!j || sum.job != j->no)
                return;
        jr_buf json = {(char *)p + sizeof sum, len - sizeof sum};
        sl->job = NULL;
        sl->state = SLOT_IDLE;
        sl->deaths = 0;
        int r = deliver_result(s, j->msg, j->id, j->id_len, &json);
        if (r == 0) {
                s->judged++;
                int64_t now = (int64_t)jr_mono_ms();
                jr_metrics_count_result(j->language, jr_status_name((jr_status)sum.status));
                for (uint32_t k = 0; k < sum.sandbox_failures; k++)
                        jr_metrics_count_jail_setup_failure();
                jr_metrics_observe_latency(j->language, (double)(now - j->consumed_ms) / 1000.0);
                jr_log(JR_LOG_INFO, "judged", JR_LOG_BYTES("id", j->id, j->id_len),
                       JR_LOG_STR("language", j->language),
                       JR_LOG_STR("status", jr_status_name((jr_status)sum.status)),
                       JR_LOG_UINT("tests", sum.tests_run), JR_LOG_UINT("build_ms", sum.build_ms),
                       JR_LOG_UINT("tests_ms", sum.tests_ms), JR_LOG_UINT("total_ms", sum.total_ms),
                       JR_LOG_UINT("jail_ms", sum.jail_ms),
                       JR_LOG_INT("latency_ms", now - j->consumed_ms),
                       JR_LOG_UINT("slot", sl->index), JR_LOG_INT("partition", j->msg->partition),
                       JR_LOG_INT("offset", j->msg->offset));
        }
        job_free(j);
}

static void handle_log(struct slot *sl, const void *p, size_t len)
{
        jr_exec_log h;
        if (len < sizeof h)
                return;
        memcpy(&h, p, sizeof h);
        struct job *j = sl->job;
        jr_log_level level = h.level < JR_LOG_ERROR   ? JR_LOG_ERROR
                             : h.level > JR_LOG_DEBUG ? JR_LOG_DEBUG
                                                      : (jr_log_level)h.level;
        jr_log(
            level, "executor", JR_LOG_BYTES("detail", (const char *)p + sizeof h, len - sizeof h),
            JR_LOG_UINT("slot", sl->index), JR_LOG_BYTES("id", j ? j->id : "", j ? j->id_len : 0));
}

static void slot_kill(struct slot *sl, const char *why)
{
        if (sl->pid > 0) {
                jr_log(JR_LOG_ERROR, "killing executor", JR_LOG_UINT("slot", sl->index),
                       JR_LOG_STR("why", why));
                kill(sl->pid, SIGKILL);
        }
}

/* Process the complete frames buffered for a slot. */
static void slot_frames(struct serve *s, struct slot *sl)
{
        for (;;) {
                uint32_t type;
                const void *p;
                size_t len;
                jr_error e;
                int r = jr_frame_reader_next(&sl->rd, &type, &p, &len, &e);
                if (r == 0)
                        break;
                if (r < 0) {
                        slot_kill(sl, e.msg);
                        slot_close_sock(s, sl);
                        break;
                }
                switch (type) {
                case JR_FRAME_READY:
                        if (sl->state == SLOT_STARTING) {
                                sl->state = SLOT_IDLE;
                                jr_log(JR_LOG_INFO, "executor ready",
                                       JR_LOG_UINT("slot", sl->index), JR_LOG_INT("pid", sl->pid),
                                       JR_LOG_UINT("uid", s->uid_base + sl->index),
                                       JR_LOG_BYTES("sandbox", p, len));
                        }
                        break;
                case JR_FRAME_FAILED:
                        jr_log(JR_LOG_ERROR, "executor setup failed",
                               JR_LOG_UINT("slot", sl->index), JR_LOG_BYTES("error", p, len));
                        if (s->phase == PHASE_STARTING) {
                                jr_error fe;
                                snprintf(fe.msg, sizeof fe.msg, "slot %u: %.*s", sl->index,
                                         (int)(len > 900 ? 900 : len), (const char *)p);
                                fatal(s, "executor setup failed", &fe);
                                s->phase = PHASE_EXIT;
                        }
                        break;
                case JR_FRAME_EVENT:
                        handle_event(s, sl, p, len);
                        break;
                case JR_FRAME_RESULT:
                        handle_result(s, sl, p, len);
                        break;
                case JR_FRAME_LOG:
                        handle_log(sl, p, len);
                        break;
                default:
                        slot_kill(sl, "unknown frame type");
                        slot_close_sock(s, sl);
                        return;
                }
        }
        jr_frame_reader_shrink(&sl->rd);
}

static void slot_readable(struct serve *s, struct slot *sl)
{
        jr_error e;
        if (jr_frame_reader_fill(&sl->rd, sl->sock, &e) < 0) {
                jr_log(JR_LOG_WARNING, e.msg, JR_LOG_UINT("slot", sl->index));
                sl->rd.eof = true;
        }
        slot_frames(s, sl);
        if (sl->rd.eof)
                slot_close_sock(s, sl); /* the executor is exiting: SIGCHLD follows */
}

static void describe_status(int status, char *buf, size_t n)
{
        if (WIFSIGNALED(status))
                snprintf(buf, n, "killed by signal %d (%s)", WTERMSIG(status),
                         strsignal(WTERMSIG(status)));
        else
                snprintf(buf, n, "exited with status %d", WEXITSTATUS(status));
}

static void slot_reaped(struct serve *s, struct slot *sl, int status)
{
        /* Whatever it wrote before dying still counts (a RESULT just before a crash). */
        while (sl->sock >= 0 && !sl->rd.eof) {
                size_t before = sl->rd.len;
                slot_readable(s, sl);
                if (sl->sock >= 0 && sl->rd.len == before && !sl->rd.eof)
                        break;
        }
        slot_close_sock(s, sl);
        jr_frame_reader_free(&sl->rd);
        char why[128];
        describe_status(status, why, sizeof why);
        bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
        sl->pid = 0;
        enum slot_state was = sl->state;
        sl->state = SLOT_DOWN;
        if (s->phase == PHASE_FLUSHING || s->phase == PHASE_EXIT)
                return;
        s->executor_deaths++;
        sl->deaths++;
        jr_log(clean ? JR_LOG_WARNING : JR_LOG_ERROR, "executor exited",
               JR_LOG_UINT("slot", sl->index), JR_LOG_STR("status", why),
               JR_LOG_BYTES("id", sl->job ? sl->job->id : "", sl->job ? sl->job->id_len : 0));
        if (s->phase == PHASE_STARTING && was == SLOT_STARTING) {
                jr_error e;
                snprintf(e.msg, sizeof e.msg, "executor of slot %u %s before it was ready",
                         sl->index, why);
                fatal(s, "executor setup failed", &e);
                s->phase = PHASE_EXIT;
                return;
        }
        struct job *j = sl->job;
        sl->job = NULL;
        if (!s->stop_consuming || (j && !s->drop_queue) || s->queued)
                slot_schedule_respawn(s, sl);
        if (j) {
                snprintf(j->last_death, sizeof j->last_death, "%s", why);
                job_executor_died(s, j);
        }
}

static void reap(struct serve *s)
{
        for (;;) {
                int status;
                pid_t pid = waitpid(-1, &status, WNOHANG);
                if (pid <= 0)
                        return;
                for (unsigned i = 0; i < s->parallel; i++)
                        if (s->slots[i].pid == pid) {
                                slot_reaped(s, &s->slots[i], status);
                                break;
                        }
        }
}

/* Hand queued jobs to idle executors. */
static void dispatch(struct serve *s)
{
        for (unsigned i = 0; i < s->parallel && s->queued; i++) {
                struct slot *sl = &s->slots[i];
                if (sl->state != SLOT_IDLE || sl->sock < 0) /* < 0: exiting, not reaped yet */
                        continue;
                if (s->drop_queue)
                        return;
                struct job *j = queue_pop(s);
                jr_exec_job h = {.job = j->no,
                                 .fallback_len = (uint32_t)j->fallback_len,
                                 .max_input = (uint32_t)s->max_input};
                j->attempts++;
                j->started_ms = (int64_t)jr_mono_ms();
                sl->job = j;
                sl->state = SLOT_BUSY;
                jr_log(JR_LOG_INFO, "judging", JR_LOG_BYTES("id", j->id, j->id_len),
                       JR_LOG_STR("language", j->language), JR_LOG_UINT("slot", sl->index),
                       JR_LOG_INT("partition", j->msg->partition),
                       JR_LOG_INT("offset", j->msg->offset), JR_LOG_UINT("attempt", j->attempts));
                jr_error e;
                if (jr_frame_send(sl->sock, JR_FRAME_JOB, &h, sizeof h, j->fallback,
                                  j->fallback_len, j->msg->value, j->msg->value_len, &e) < 0) {
                        /* the reaper retries the job or answers IE */
                        slot_kill(sl, e.msg);
                        slot_close_sock(s, sl);
                }
        }
}

/* ---- consuming ---------------------------------------------------------------------- */

static int fallback_id(const jr_kafka_msg *m, char **out, size_t *len)
{
        if (m->key && m->key_len > 0) {
                char *k = malloc(m->key_len + 1);
                if (!k)
                        return -1;
                memcpy(k, m->key, m->key_len);
                k[m->key_len] = '\0';
                *out = k;
                *len = m->key_len;
                return 0;
        }
        int n = asprintf(out, "%s-%" PRId32 "-%" PRId64, m->topic, m->partition, m->offset);
        if (n < 0)
                return -1;
        *len = (size_t)n;
        return 0;
}

/* An invalid message: answer IE naming the problem, and it is done. */
static void answer_invalid(struct serve *s, jr_kafka_msg *m, jr_bytes id, const char *problem)
{
        char why[JR_ERROR_MSG_MAX + 32];
        snprintf(why, sizeof why, "invalid submission: %s", problem);
        jr_buf json = {0};
        jr_error e;
        if (jr_result_ie_json(id, why, 0, &json, &e) < 0) {
                fatal(s, "result for an invalid submission", &e);
                return;
        }
        jr_log(JR_LOG_WARNING, "invalid submission", JR_LOG_BYTES("id", id.ptr, id.len),
               JR_LOG_STR("status", "IE"), JR_LOG_STR("error", problem),
               JR_LOG_INT("partition", m->partition), JR_LOG_INT("offset", m->offset));
        if (deliver_result(s, m, id.ptr, id.len, &json) == 0) {
                s->invalid++;
                jr_metrics_count_invalid_message();
                jr_metrics_count_result("", "IE");
        }
        free(json.ptr);
}

static void handle_message(struct serve *s, jr_kafka_msg *m)
{
        int64_t now = (int64_t)jr_mono_ms();
        _cleanup_free_ char *fb = NULL;
        size_t fb_len = 0;
        if (fallback_id(m, &fb, &fb_len) < 0) {
                jr_kafka_msg_free(m);
                jr_error e = {.err = ENOMEM, .msg = "out of memory"};
                fatal(s, "consume", &e);
                return;
        }
        jr_parse_options po = {
            .languages = jr_lang_names(s->langs),
            .n_languages = jr_lang_count(s->langs),
            .fallback_id = {fb, fb_len},
            .max_input_bytes = s->max_input,
        };
        jr_submission *sub = NULL;
        jr_buf err_id = {0};
        jr_error e = {0};
        if (jr_submission_parse(m->value ? m->value : "", m->value_len, &po, &sub, &err_id, &e) <
            0) {
                jr_bytes id =
                    err_id.ptr ? (jr_bytes){err_id.ptr, err_id.len} : (jr_bytes){fb, fb_len};
                answer_invalid(s, m, id, e.msg);
                free(err_id.ptr);
                jr_kafka_msg_free(m);
                count_received(s);
                return;
        }
        if (sub->type == JR_MSG_DONE) {
                jr_log(JR_LOG_INFO, "\"done\" message: finishing the work in flight",
                       JR_LOG_BYTES("id", sub->id.ptr, sub->id.len),
                       JR_LOG_INT("partition", m->partition), JR_LOG_INT("offset", m->offset));
                if (jr_kafka_consumer_done(s->consumer, m->topic, m->partition, m->offset, &e) < 0)
                        jr_log(JR_LOG_WARNING, e.msg);
                jr_submission_free(sub);
                jr_kafka_msg_free(m);
                serve_stop(s, "\"done\" message", true, 0);
                return;
        }
        if (jr_spool_is_finished(s->spool, sub->id.ptr, sub->id.len)) {
                /* Judged before a crash or a rebalance, result already spooled. */
                jr_log(JR_LOG_INFO, "already judged: skipped",
                       JR_LOG_BYTES("id", sub->id.ptr, sub->id.len),
                       JR_LOG_INT("partition", m->partition), JR_LOG_INT("offset", m->offset));
                if (jr_kafka_consumer_done(s->consumer, m->topic, m->partition, m->offset, &e) < 0)
                        jr_log(JR_LOG_WARNING, e.msg);
                s->skipped++;
                jr_submission_free(sub);
                jr_kafka_msg_free(m);
                count_received(s);
                return;
        }
        struct job *j = calloc(1, sizeof *j);
        if (j) {
                j->id = malloc(sub->id.len + 1);
                j->language = strndup(sub->language.ptr, sub->language.len);
        }
        if (!j || !j->id || !j->language) {
                if (j)
                        j->msg = NULL;
                job_free(j);
                jr_submission_free(sub);
                jr_kafka_msg_free(m);
                jr_error oe = {.err = ENOMEM, .msg = "out of memory"};
                fatal(s, "consume", &oe);
                return;
        }
        memcpy(j->id, sub->id.ptr, sub->id.len);
        j->id[sub->id.len] = '\0';
        j->id_len = sub->id.len;
        jr_submission_free(sub);
        j->no = ++s->next_job;
        j->msg = m;
        j->fallback = TAKE_PTR(fb);
        j->fallback_len = fb_len;
        j->consumed_ms = now;
        queue_push(s, j);
        count_received(s);
        dispatch(s);
}

static void on_rebalance(void *opaque, bool assigned, const char *topic, const int32_t *parts,
                         size_t n)
{
        struct serve *s = opaque;
        if (assigned)
                return;
        /* Queued (not started) jobs of revoked partitions belong to their new owner. */
        struct job **pp = &s->queue_head, *prev = NULL;
        while (*pp) {
                struct job *j = *pp;
                bool revoked = false;
                for (size_t i = 0; i < n && !revoked; i++)
                        revoked = j->msg->partition == parts[i] && !strcmp(j->msg->topic, topic);
                if (!revoked) {
                        prev = j;
                        pp = &j->next;
                        continue;
                }
                *pp = j->next;
                if (s->queue_tail == j)
                        s->queue_tail = prev;
                s->queued--;
                s->queued_bytes -= j->msg->value_len;
                jr_log(JR_LOG_INFO, "partition revoked: queued submission left to its new owner",
                       JR_LOG_BYTES("id", j->id, j->id_len));
                job_free(j);
        }
}

/* Whether the consumer should fetch (see QUEUE_HIGH). */
static bool can_accept(const struct serve *s)
{
        if (s->phase != PHASE_RUNNING || s->stop_consuming)
                return false;
        if (jr_kafka_consumer_paused(s->consumer))
                return s->queued <= QUEUE_HIGH / 2 && s->queued_bytes <= QUEUE_HIGH_BYTES / 2;
        return s->queued < QUEUE_HIGH && s->queued_bytes < QUEUE_HIGH_BYTES;
}

static void consume(struct serve *s)
{
        s->cons_more = false;
        for (unsigned n = 0;; n++) {
                /* Back-pressure: leave the backlog in the broker while everyone is busy. */
                if (!s->stop_consuming)
                        consumer_pause(s, !can_accept(s));
                if (n == CONSUME_BATCH) {
                        /* let the executors and the producer have a turn */
                        s->cons_more = true;
                        return;
                }
                jr_kafka_msg *m = NULL;
                jr_error e;
                int r = jr_kafka_consumer_poll(s->consumer, &m, &e);
                if (r < 0) {
                        fatal(s, "kafka consumer", &e);
                        return;
                }
                if (r == 0)
                        return;
                if (s->stop_consuming) {
                        /* not done: it is consumed again after the next start */
                        jr_kafka_msg_free(m);
                        continue;
                }
                handle_message(s, m);
        }
}

/* ---- start-up -------------------------------------------------------------------------- */

static int produce_file(struct serve *s, const char *path, size_t *scripts, jr_error *e)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return jr_error_errno(e, "--produce \"%s\"", path);
        struct stat st;
        if (fstat(fd, &st) < 0)
                return jr_error_errno(e, "--produce \"%s\"", path);
        if ((uint64_t)st.st_size > JR_SPOOL_RECORD_MAX)
                return jr_error_set(e, EFBIG, "--produce \"%s\": larger than %u bytes", path,
                                    JR_SPOOL_RECORD_MAX);
        _cleanup_free_ char *buf = malloc((size_t)st.st_size + 1);
        if (!buf)
                return jr_error_set(e, ENOMEM, "--produce \"%s\"", path);
        size_t len = 0;
        while (len < (size_t)st.st_size) {
                ssize_t n = read(fd, buf + len, (size_t)st.st_size - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return jr_error_errno(e, "--produce \"%s\"", path);
                if (n == 0)
                        break;
                len += (size_t)n;
        }
        /* Key: the id, else the file name without its directory and ".json". */
        const char *base = strrchr(path, '/');
        base = base ? base + 1 : path;
        size_t base_len = strlen(base);
        if (base_len > 5 && !strcmp(base + base_len - 5, ".json"))
                base_len -= 5;
        jr_parse_options po = {.languages = jr_lang_names(s->langs),
                               .n_languages = jr_lang_count(s->langs),
                               .fallback_id = {base, base_len}};
        jr_submission *sub = NULL;
        jr_buf key = {0};
        jr_error pe;
        bool is_done = false;
        if (jr_submission_parse(buf, len, &po, &sub, &key, &pe) == 0) {
                is_done = sub->type == JR_MSG_DONE;
                key.ptr = strndup(sub->id.ptr, sub->id.len);
                key.len = sub->id.len;
                jr_submission_free(sub);
        }
        const char *k = key.ptr ? key.ptr : base;
        size_t k_len = key.ptr ? key.len : base_len;
        /* The spool is a generic durable outbox: the message goes out like an event
         * (no duplicate suppression). */
        int r = jr_kafka_producer_submit(s->producer, JR_SPOOL_EVENT, s->kcfg.topic, k, k_len, buf,
                                         len, e);
        if (r == 0)
                jr_log(JR_LOG_INFO, "produced", JR_LOG_STR("file", path),
                       JR_LOG_BYTES("key", k, k_len), JR_LOG_STR("topic", s->kcfg.topic));
        free(key.ptr);
        if (r < 0)
                return jr_error_wrap(e, "--produce \"%s\"", path);
        if (!is_done)
                (*scripts)++;
        return 0;
}

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

static int produce_path(struct serve *s, const char *path, size_t *scripts, jr_error *e)
{
        struct stat st;
        if (stat(path, &st) < 0)
                return jr_error_errno(e, "--produce \"%s\"", path);
        if (!S_ISDIR(st.st_mode))
                return produce_file(s, path, scripts, e);
        _cleanup_closedir_ DIR *d = opendir(path);
        if (!d)
                return jr_error_errno(e, "--produce \"%s\"", path);
        char **names = NULL;
        size_t n = 0, cap = 0;
        int ret = 0;
        struct dirent *de;
        while ((de = readdir(d))) {
                size_t l = strlen(de->d_name);
                if (l <= 5 || strcmp(de->d_name + l - 5, ".json") || de->d_name[0] == '.')
                        continue;
                if (n == cap) {
                        cap = cap ? cap * 2 : 16;
                        char **nn = realloc(names, cap * sizeof *nn);
                        if (!nn) {
                                ret = jr_error_set(e, ENOMEM, "--produce \"%s\"", path);
                                goto out;
                        }
                        names = nn;
                }
                if (asprintf(&names[n], "%s/%s", path, de->d_name) < 0) {
                        ret = jr_error_set(e, ENOMEM, "--produce \"%s\"", path);
                        goto out;
                }
                n++;
        }
        qsort(names, n, sizeof *names, cmp_str);
        for (size_t i = 0; i < n && ret == 0; i++)
                ret = produce_file(s, names[i], scripts, e);
out:
        for (size_t i = 0; i < n; i++)
                free(names[i]);
        free(names);
        return ret;
}

static int epoll_add(struct serve *s, int fd, uint64_t tag, jr_error *e)
{
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = tag};
        if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
                return jr_error_errno(e, "epoll_ctl");
        return 0;
}

/* Every executor is ready: only now may threads start (librdkafka, the mock cluster). */
static int start_kafka(struct serve *s, jr_error *e)
{
        if (jr_kafka_config_is_embedded(&s->kcfg)) {
                if (jr_kafka_broker_start_for(&s->kcfg, 0, kafka_log, NULL, &s->broker, e) < 0)
                        return -1;
                const char *addr = jr_kafka_broker_bootstraps(s->broker);
                jr_log(JR_LOG_INFO, "embedded broker started", JR_LOG_STR("bootstrap", addr));
                if (jr_kafka_config_use_broker(&s->kcfg, s->broker, e) < 0)
                        return -1;
        }
        jr_kafka_producer_options po = {.log = kafka_log, .max_in_flight = PRODUCER_IN_FLIGHT};
        size_t replay = jr_spool_pending(s->spool);
        if (jr_kafka_producer_new(&s->kcfg, s->spool, &po, &s->producer, e) < 0)
                return -1;
        if (replay)
                jr_log(JR_LOG_INFO, "replaying the spool", JR_LOG_UINT("records", replay));
        if (epoll_add(s, jr_kafka_producer_fd(s->producer), SERVE_TAG_PROD, e) < 0)
                return -1;
        size_t scripts = 0;
        for (size_t i = 0; i < s->n_produce; i++)
                if (produce_path(s, s->produce[i], &scripts, e) < 0)
                        return -1;
        if (s->n_produce && !s->expected && s->broker) {
                s->expected = scripts;
                jr_log(JR_LOG_INFO, "exiting after the produced submissions",
                       JR_LOG_UINT("expected", scripts));
                if (scripts == 0) {
                        serve_stop(s, "nothing to judge", true, 0);
                        return 0;
                }
        }
        jr_kafka_consumer_options co = {
            .log = kafka_log, .on_rebalance = on_rebalance, .opaque = s};
        if (jr_kafka_consumer_new(&s->kcfg, &co, &s->consumer, e) < 0)
                return -1;
        if (epoll_add(s, jr_kafka_consumer_fd(s->consumer), SERVE_TAG_CONS, e) < 0)
                return -1;
        jr_log(JR_LOG_INFO, "serving", JR_LOG_STR("brokers", s->kcfg.brokers),
               JR_LOG_STR("topic", s->kcfg.topic), JR_LOG_STR("group", s->kcfg.group_id),
               JR_LOG_STR("results_topic", s->kcfg.results_topic),
               JR_LOG_STR("events_topic", s->kcfg.events_topic),
               JR_LOG_UINT("parallel", s->parallel), JR_LOG_UINT("expected", s->expected),
               JR_LOG_INT("pid", getpid()));
        /* systemd (Type=notify): the spool is replayed into the producer, every executor
         * is up and the consumer exists: this host can judge. */
        char status[128];
        snprintf(status, sizeof status, "judging: %u executor(s), topic %s", s->parallel,
                 s->kcfg.topic);
        jr_error ne;
        if (jr_notify_ready(status, &ne) < 0)
                jr_log(JR_LOG_WARNING, "sd_notify", JR_LOG_STR("error", ne.msg));
        return 0;
}

/* ---- the loop ------------------------------------------------------------------------- */

static void on_signal(struct serve *s)
{
        struct signalfd_siginfo si;
        while (read(s->sigfd, &si, sizeof si) == sizeof si) {
                switch (si.ssi_signo) {
                case SIGCHLD:
                        reap(s);
                        break;
                case SIGHUP: {
                        jr_error e;
                        if (!jr_log_to_file())
                                jr_log(JR_LOG_INFO, "SIGHUP: logging to stderr, nothing to reopen");
                        else if (jr_log_reopen(&e) < 0)
                                jr_log(JR_LOG_ERROR, "SIGHUP: reopen the log",
                                       JR_LOG_STR("error", e.msg));
                        else
                                jr_log(JR_LOG_INFO, "SIGHUP: log reopened");
                        break;
                }
                default: /* SIGTERM, SIGINT */
                        if (s->stop_consuming && s->drop_queue) {
                                jr_log(JR_LOG_WARNING,
                                       "second stop signal: stopping now; unfinished submissions "
                                       "are judged again at the next start",
                                       JR_LOG_STR("signal", strsignal((int)si.ssi_signo)));
                                if (s->exit_status < 1)
                                        s->exit_status = 1;
                                s->phase = PHASE_EXIT;
                                return;
                        }
                        jr_log(JR_LOG_INFO, "stop signal",
                               JR_LOG_STR("signal", strsignal((int)si.ssi_signo)));
                        serve_stop(s, "signal", false, 0);
                        break;
                }
        }
}

static bool any_busy(const struct serve *s)
{
        for (unsigned i = 0; i < s->parallel; i++)
                if (s->slots[i].state == SLOT_BUSY)
                        return true;
        return false;
}

/* Before each scrape of /metrics: the gauges. */
static void collect_metrics(void *opaque)
{
        struct serve *s = opaque;
        unsigned busy = 0;
        for (unsigned i = 0; i < s->parallel && s->slots; i++)
                busy += s->slots[i].state == SLOT_BUSY;
        jr_metrics_set_slots(s->parallel, busy);
        if (s->spool)
                jr_metrics_set_spool_pending(jr_spool_pending(s->spool));
        jr_metrics_set_consumer_lag(s->consumer ? jr_kafka_consumer_lag(s->consumer) : -1);
}

static int min_timeout(int a, int64_t b)
{
        if (b < 0)
                return a;
        if (b > INT32_MAX)
                b = INT32_MAX;
        return a < 0 || b < a ? (int)b : a;
}

static int loop_timeout(struct serve *s)
{
        int64_t now = (int64_t)jr_mono_ms();
        int t = -1;
        if (s->cons_more)
                return 0;
        if (s->consumer)
                t = min_timeout(t, jr_kafka_consumer_timeout_ms(s->consumer));
        if (s->producer)
                t = min_timeout(t, jr_kafka_producer_timeout_ms(s->producer));
        if (s->phase == PHASE_STARTING)
                t = min_timeout(t, s->startup_deadline - now < 0 ? 0 : s->startup_deadline - now);
        if (s->phase == PHASE_FLUSHING)
                t = min_timeout(t, s->flush_deadline - now < 0 ? 0 : s->flush_deadline - now);
        for (unsigned i = 0; i < s->parallel; i++)
                if (s->slots[i].state == SLOT_DOWN && s->slots[i].respawn_at)
                        t = min_timeout(
                            t, s->slots[i].respawn_at - now < 0 ? 0 : s->slots[i].respawn_at - now);
        return t;
}

static void respawn_due(struct serve *s)
{
        int64_t now = (int64_t)jr_mono_ms();
        for (unsigned i = 0; i < s->parallel; i++) {
                struct slot *sl = &s->slots[i];
                if (sl->state != SLOT_DOWN || !sl->respawn_at || sl->respawn_at > now)
                        continue;
                sl->respawn_at = 0;
                if (s->stop_consuming && !s->queued)
                        continue;
                jr_error e;
                if (slot_spawn(s, sl, &e) < 0) {
                        jr_log(JR_LOG_ERROR, "respawn executor", JR_LOG_UINT("slot", i),
                               JR_LOG_STR("error", e.msg));
                        sl->deaths++;
                        slot_schedule_respawn(s, sl);
                }
        }
}

static void step_phase(struct serve *s)
{
        if (s->phase == PHASE_STARTING) {
                if (s->stop_consuming) {
                        s->phase = PHASE_EXIT;
                        return;
                }
                bool all = true;
                for (unsigned i = 0; i < s->parallel; i++)
                        all = all && s->slots[i].state == SLOT_IDLE;
                if (all) {
                        jr_error e;
                        s->phase = PHASE_RUNNING;
                        if (start_kafka(s, &e) < 0) {
                                fatal(s, "start kafka", &e);
                                /* librdkafka refused a property (JAILRUN_KAFKA_CONFIG, a
                                 * topic name): a configuration error, not worth a restart */
                                if (e.err == EINVAL)
                                        s->exit_status = 2;
                                s->phase = PHASE_EXIT;
                                return;
                        }
                } else if ((int64_t)jr_mono_ms() >= s->startup_deadline) {
                        jr_error e = {.msg = "executors not ready in time"};
                        fatal(s, "start executors", &e);
                        s->phase = PHASE_EXIT;
                        return;
                }
        }
        if (s->phase == PHASE_RUNNING && s->stop_consuming) {
                if (s->drop_queue)
                        while (s->queued)
                                job_free(queue_pop(s));
                if (!any_busy(s) && !s->queued) {
                        s->phase = PHASE_FLUSHING;
                        s->flush_deadline = (int64_t)jr_mono_ms() + (int64_t)s->flush_timeout_ms;
                        jr_notify_status("flushing the spool to the broker", NULL);
                        jr_log(JR_LOG_INFO, "flushing",
                               JR_LOG_UINT("unacked", s->producer
                                                          ? jr_kafka_producer_unacked(s->producer)
                                                          : 0));
                }
        }
        if (s->phase == PHASE_FLUSHING) {
                size_t left = s->producer ? jr_kafka_producer_unacked(s->producer) : 0;
                if (left == 0) {
                        s->phase = PHASE_EXIT;
                } else if ((int64_t)jr_mono_ms() >= s->flush_deadline) {
                        jr_log(JR_LOG_WARNING,
                               "flush timed out: the rest stays in the spool for the next start",
                               JR_LOG_UINT("unacked", left));
                        s->phase = PHASE_EXIT;
                }
        }
}

static int serve_loop(struct serve *s)
{
        while (s->phase != PHASE_EXIT) {
                struct epoll_event evs[16];
                int n = epoll_wait(s->epfd, evs, 16, loop_timeout(s));
                if (n < 0 && errno != EINTR) {
                        jr_error e;
                        jr_error_errno(&e, "epoll_wait");
                        fatal(s, "event loop", &e);
                        return -1;
                }
                bool cons_ready = false;
                for (int i = 0; i < n; i++) {
                        uint64_t tag = evs[i].data.u64;
                        if (tag == SERVE_TAG_SIGNAL)
                                on_signal(s);
                        else if (tag == SERVE_TAG_CONS)
                                cons_ready = true;
                        else if (tag == SERVE_TAG_METRICS && s->metrics) {
                                jr_error me;
                                if (jr_metrics_handle(s->metrics, &me) < 0) {
                                        jr_log(JR_LOG_ERROR, "metrics endpoint closed",
                                               JR_LOG_STR("error", me.msg));
                                        epoll_ctl(s->epfd, EPOLL_CTL_DEL, jr_metrics_fd(s->metrics),
                                                  NULL);
                                        jr_metrics_close(s->metrics);
                                        s->metrics = NULL;
                                }
                        } else if (tag >= SERVE_TAG_SLOT && tag < SERVE_TAG_SLOT + s->parallel &&
                                   s->slots[tag - SERVE_TAG_SLOT].sock >= 0)
                                slot_readable(s, &s->slots[tag - SERVE_TAG_SLOT]);
                        /* SERVE_TAG_PROD: serviced below on every turn */
                }
                if (s->phase == PHASE_EXIT)
                        break;
                respawn_due(s);
                dispatch(s);
                if (s->producer) {
                        jr_error e;
                        if (jr_kafka_producer_service(s->producer, &e) < 0) {
                                /* fenced or similar: a new producer replays the spool */
                                jr_log(JR_LOG_ERROR, "producer failed; recreating it",
                                       JR_LOG_STR("error", e.msg));
                                epoll_ctl(s->epfd, EPOLL_CTL_DEL, jr_kafka_producer_fd(s->producer),
                                          NULL);
                                jr_kafka_producer_free(s->producer);
                                s->producer = NULL;
                                jr_kafka_producer_options po = {
                                    .log = kafka_log, .max_in_flight = PRODUCER_IN_FLIGHT};
                                if (jr_kafka_producer_new(&s->kcfg, s->spool, &po, &s->producer,
                                                          &e) < 0 ||
                                    epoll_add(s, jr_kafka_producer_fd(s->producer), SERVE_TAG_PROD,
                                              &e) < 0) {
                                        fatal(s, "kafka producer", &e);
                                        s->phase = PHASE_EXIT;
                                        break;
                                }
                        }
                }
                if (s->consumer &&
                    (cons_ready || s->cons_more || jr_kafka_consumer_timeout_ms(s->consumer) == 0 ||
                     can_accept(s)))
                        consume(s);
                step_phase(s);
        }
        return 0;
}

/* ---- setup and teardown ------------------------------------------------------------ */

static int env_uint(const char *name, uint64_t max, uint64_t *out, jr_error *e)
{
        const char *v = getenv(name);
        if (!v || !*v)
                return 0;
        if (jr_parse_uint(v, max, out, e) < 0)
                return jr_error_wrap(e, "%s", name);
        return 0;
}

static int read_env(struct serve *s, jr_error *e)
{
        uint64_t v = 1;
        if (env_uint("RUNNER_MAX_PARALLEL", JR_EXECUTOR_SLOTS_MAX, &v, e) < 0)
                return -1;
        if (v == 0)
                return jr_error_set(e, EINVAL, "RUNNER_MAX_PARALLEL: must be at least 1");
        s->parallel = (unsigned)v;
        if (env_uint("SCRIPT_EXPECTED", UINT64_MAX / 2, &s->expected, e) < 0)
                return -1;
        v = 0;
        if (env_uint("JAILRUN_SPOOL_FINISHED_MAX", UINT32_MAX / 4, &v, e) < 0)
                return -1;
        s->finished_max = (size_t)v;
        const char *mx = getenv("JAILRUN_MAX_SUBMISSION_BYTES");
        if (mx && *mx) {
                uint64_t b;
                if (jr_parse_size(mx, &b, e) < 0)
                        return jr_error_wrap(e, "JAILRUN_MAX_SUBMISSION_BYTES");
                if (b == 0 || b > JR_PARSE_MAX_INPUT_DEFAULT)
                        return jr_error_set(e, EINVAL,
                                            "JAILRUN_MAX_SUBMISSION_BYTES: %s is not between 1 "
                                            "and %zu bytes",
                                            mx, JR_PARSE_MAX_INPUT_DEFAULT);
                s->max_input = (size_t)b;
        }
        const char *ma = getenv("JAILRUN_METRICS_ADDR");
        if (ma && *ma) {
                char host[256], port[16];
                if (jr_metrics_split_address(ma, host, sizeof host, port, sizeof port, e) < 0)
                        return jr_error_wrap(e, "JAILRUN_METRICS_ADDR");
                s->metrics_addr = ma;
        }
        if (jr_sandbox_opts_from_env(&s->sandbox_opts, e) < 0)
                return -1;
        gid_t gid;
        if (jr_slot_ids(0, &s->uid_base, &gid, e) < 0)
                return -1;
        const char *lv = getenv("JAILRUN_LOG_LEVEL");
        if (lv && *lv) {
                jr_log_level l;
                if (jr_log_level_parse(lv, &l, e) < 0)
                        return jr_error_wrap(e, "JAILRUN_LOG_LEVEL");
                jr_log_set_level(l);
        }
        /* The judge's own variables: checked here so that a typo stops the start. */
        jr_judge_limits lim;
        jr_judge_limits_default(&lim);
        if (jr_judge_limits_from_env(&lim, e) < 0)
                return -1;
        return 0;
}

static void shutdown_executors(struct serve *s)
{
        for (unsigned i = 0; i < s->parallel; i++) {
                struct slot *sl = &s->slots[i];
                if (sl->state == SLOT_BUSY)
                        kill(sl->pid, SIGKILL); /* forced stop */
                slot_close_sock(s, sl);         /* an idle executor exits on EOF */
        }
        for (unsigned i = 0; i < s->parallel; i++) {
                struct slot *sl = &s->slots[i];
                if (sl->pid > 0) {
                        while (waitpid(sl->pid, NULL, 0) < 0 && errno == EINTR)
                                ;
                        sl->pid = 0;
                }
                job_free(sl->job);
                sl->job = NULL;
                jr_frame_reader_free(&sl->rd);
                jr_lang_strv_free(sl->argv);
        }
}

/* Remove the private spool of an embedded run: plain files in a directory we created. */
static void remove_tmp_spool(const char *dir)
{
        _cleanup_closedir_ DIR *d = opendir(dir);
        if (d) {
                struct dirent *de;
                while ((de = readdir(d)))
                        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
                                unlinkat(dirfd(d), de->d_name, 0);
        }
        if (rmdir(dir) < 0)
                jr_log(JR_LOG_WARNING, "remove the temporary spool", JR_LOG_STR("dir", dir),
                       JR_LOG_STR("error", strerror(errno)));
}

/* Temporary spools of embedded runs that were killed (nobody holds their lock any more). */
static void sweep_tmp_spools(void)
{
        _cleanup_closedir_ DIR *d = opendir("/tmp");
        if (!d)
                return;
        struct dirent *de;
        while ((de = readdir(d))) {
                if (strncmp(de->d_name, "jailrun-embedded-", 17))
                        continue;
                char path[PATH_MAX];
                snprintf(path, sizeof path, "/tmp/%s", de->d_name);
                _cleanup_close_ int dfd =
                    open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (dfd < 0)
                        continue;
                /* a minute old at least: not one that another start is setting up now */
                struct stat st;
                if (fstat(dfd, &st) < 0 || st.st_mtime > time(NULL) - 60)
                        continue;
                _cleanup_close_ int lock = openat(dfd, "lock", O_RDWR | O_NOFOLLOW | O_CLOEXEC);
                if (lock < 0 || flock(lock, LOCK_EX | LOCK_NB) < 0)
                        continue; /* in use, or not a spool yet */
                jr_log(JR_LOG_INFO, "removing the spool of a killed embedded run",
                       JR_LOG_STR("dir", path));
                remove_tmp_spool(path);
        }
}

int jr_cmd_serve(int argc, char **argv)
{
        for (int i = 1; i < argc; i++)
                if (!strcmp(argv[i], "--executor"))
                        return jr_executor_command(argc, argv);

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
        struct serve s = {.epfd = -1, .sigfd = -1, .exe_fd = -1, .flush_timeout_ms = 30000};
        const char *log_file = NULL, *log_level = NULL;
        jr_error e = {0};
        int opt;
        _cleanup_free_ const char **produce = calloc((size_t)argc + 1, sizeof *produce);
        if (!produce) {
                fprintf(stderr, "jailrun serve: out of memory\n");
                return 1;
        }
        s.produce = produce;
        unsigned opt_fallbacks = 0;
        optind = 1;
        opterr = 0;
        while ((opt = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
                switch (opt) {
                case 'l':
                        s.langs_dir = optarg;
                        break;
                case 'r':
                        s.rootfs_dir = optarg;
                        break;
                case 'c':
                        if (jr_parse_cg_mode(optarg, &s.sandbox_opts.cg_mode, &e) < 0) {
                                fprintf(stderr, "jailrun serve: option --cgroup: %s\n", e.msg);
                                return 2;
                        }
                        s.cg_mode = optarg;
                        break;
                case 'f':
                        if (jr_parse_fallbacks(optarg, &opt_fallbacks, &e) < 0) {
                                fprintf(stderr, "jailrun serve: option --fallback: %s\n", e.msg);
                                return 2;
                        }
                        s.fallbacks = optarg;
                        break;
                case 'L':
                        log_file = optarg;
                        break;
                case 'v':
                        log_level = optarg;
                        break;
                case 'p':
                        s.print_results = true;
                        break;
                case 'P':
                        s.produce[s.n_produce++] = optarg;
                        break;
                case 'T':
                        if (jr_parse_duration_ms(optarg, &s.flush_timeout_ms, &e) < 0) {
                                fprintf(stderr, "jailrun serve: option --flush-timeout: %s\n",
                                        e.msg);
                                return 2;
                        }
                        break;
                case 'h':
                        fputs(usage_text, stdout);
                        return 0;
                default:
                        fprintf(stderr, "jailrun serve: unknown option \"%s\" (see --help)\n",
                                argv[optind - 1]);
                        return 2;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "jailrun serve: unexpected argument \"%s\" (see --help)\n",
                        argv[optind]);
                return 2;
        }
        if (read_env(&s, &e) < 0) {
                fprintf(stderr, "jailrun serve: %s\n", e.msg);
                return 2;
        }
        s.sandbox_opts.fallbacks |= opt_fallbacks; /* as the executors will see them */
        if (s.cg_mode) /* --cgroup wins over JAILRUN_CGROUP, as in the executors */
                jr_parse_cg_mode(s.cg_mode, &s.sandbox_opts.cg_mode, &e);
        if (log_level) {
                jr_log_level l;
                if (jr_log_level_parse(log_level, &l, &e) < 0) {
                        fprintf(stderr, "jailrun serve: option --log-level: %s\n", e.msg);
                        return 2;
                }
                jr_log_set_level(l);
        }
        if (jr_kafka_config_from_env(&s.kcfg, &e) < 0) {
                fprintf(stderr, "jailrun serve: %s\n", e.msg);
                return 2;
        }
        if (log_file && jr_log_open(log_file, &e) < 0) {
                fprintf(stderr, "jailrun serve: %s\n", e.msg);
                jr_kafka_config_free(&s.kcfg);
                return 2;
        }

        /* Large buffers (submissions, results) come and go: give them back to the kernel
         * at once rather than letting glibc's dynamic threshold keep them in the heap (the
         * peak RSS under a mix of floods and big results halved). */
        mallopt(M_MMAP_THRESHOLD, 64 * 1024);
        int ret = 1;
        /* 1. Signals first: threads started later inherit the mask, and only the
         *    signalfd sees them. */
        sigset_t mask;
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        sigaddset(&mask, SIGCHLD);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0) {
                jr_error_errno(&e, "sigprocmask");
                goto fail;
        }
        signal(SIGPIPE, SIG_IGN);
        s.sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
        s.epfd = epoll_create1(EPOLL_CLOEXEC);
        /* The binary as it is now: executors started after an upgrade of the file on disk
         * are still this version. */
        s.exe_fd = open("/proc/self/exe", O_PATH | O_CLOEXEC);
        if (s.sigfd < 0 || s.epfd < 0 || s.exe_fd < 0) {
                jr_error_errno(&e, "set up the event loop");
                goto fail;
        }
        if (epoll_add(&s, s.sigfd, SERVE_TAG_SIGNAL, &e) < 0)
                goto fail;

        if (jr_lang_load_dir(s.langs_dir ? s.langs_dir : jr_lang_default_dir(), &s.langs, &e) < 0)
                goto fail;
        /* 2. The spool: fails early when another instance owns it. */
        jr_spool_options so = {.finished_max = s.finished_max};
        const char *spool_dir = jr_spool_dir_from_env();
        const char *env_spool = getenv("JAILRUN_SPOOL_DIR");
        if (jr_kafka_config_is_embedded(&s.kcfg) && !(env_spool && *env_spool)) {
                /* The embedded broker forgets everything at exit; so does its spool. A
                 * shared one would replay old records into the new broker and skip ids
                 * judged by an earlier demo as already finished. */
                sweep_tmp_spools();
                snprintf(s.tmp_spool, sizeof s.tmp_spool, "/tmp/jailrun-embedded-XXXXXX");
                if (!mkdtemp(s.tmp_spool)) {
                        s.tmp_spool[0] = '\0';
                        jr_error_errno(&e, "temporary spool");
                        goto fail;
                }
                spool_dir = s.tmp_spool;
        }
        if (jr_spool_open(spool_dir, &so, &s.spool, &e) < 0)
                goto fail;
        jr_spool_stats st;
        jr_spool_get_stats(s.spool, &st);
        jr_log(JR_LOG_INFO, "spool open", JR_LOG_STR("dir", spool_dir),
               JR_LOG_UINT("pending", st.pending), JR_LOG_UINT("finished", st.finished),
               JR_LOG_UINT("corrupt", st.corrupt));

        /* 3. The sandbox, once here before the executors: it fails early and clearly when
         *    the host cannot make jails, and on cgroup v2 it moves this process into
         *    <own cgroup>/supervisor and enables the controllers, so that the executors
         *    (born there) find their cgroup ready. An executor moving itself would leave
         *    the supervisor behind as an internal process of <own>, where the kernel then
         *    refuses to enable controllers. */
        if (jr_sandbox_new(&s.sandbox_opts, &s.sandbox, &e) < 0) {
                jr_error_wrap(&e, "sandbox");
                goto fail;
        }
        jr_log(JR_LOG_INFO, "sandbox", JR_LOG_STR("cgroup", jr_sandbox_describe(s.sandbox)));
        if (s.metrics_addr) {
                if (jr_metrics_open(s.metrics_addr, &s.metrics, &e) < 0 ||
                    epoll_add(&s, jr_metrics_fd(s.metrics), SERVE_TAG_METRICS, &e) < 0) {
                        jr_error_wrap(&e, "metrics endpoint");
                        goto fail;
                }
                jr_metrics_set_collector(collect_metrics, &s);
                jr_log(JR_LOG_INFO, "metrics endpoint",
                       JR_LOG_STR("address", jr_metrics_address(s.metrics)));
        }

        /* 4. The executors, before any thread exists (see kafka.h PROCESS MODEL); Kafka
         *    starts when all of them are ready (step_phase). */
        s.slots = calloc(s.parallel, sizeof *s.slots);
        if (!s.slots) {
                jr_error_set(&e, ENOMEM, "slots");
                goto fail;
        }
        jr_executor_args xargs = {s.langs_dir, s.rootfs_dir, s.cg_mode, s.fallbacks};
        for (unsigned i = 0; i < s.parallel; i++) {
                s.slots[i] =
                    (struct slot){.index = i, .sock = -1, .argv = jr_executor_argv(&xargs, i)};
                if (!s.slots[i].argv) {
                        jr_error_set(&e, ENOMEM, "executor argv");
                        goto fail;
                }
        }
        s.started_ms = (int64_t)jr_mono_ms();
        s.startup_deadline = s.started_ms + STARTUP_MS;
        for (unsigned i = 0; i < s.parallel; i++)
                if (slot_spawn(&s, &s.slots[i], &e) < 0)
                        goto fail;
        jr_log(JR_LOG_INFO, "starting", JR_LOG_STR("version", JR_VERSION),
               JR_LOG_UINT("parallel", s.parallel), JR_LOG_INT("pid", getpid()));

        serve_loop(&s);
        ret = s.exit_status;
        goto out;
fail:
        jr_log(JR_LOG_ERROR, "cannot start", JR_LOG_STR("error", e.msg));
        ret = 1;
out:
        if (s.slots)
                shutdown_executors(&s);
        while (s.queued)
                job_free(queue_pop(&s));
        if (s.consumer) {
                if (jr_kafka_consumer_close(s.consumer, &e) < 0)
                        jr_log(JR_LOG_WARNING, e.msg);
                jr_kafka_consumer_free(s.consumer);
        }
        jr_kafka_producer_free(s.producer);
        if (s.spool) {
                jr_spool_stats fs;
                jr_spool_get_stats(s.spool, &fs);
                jr_log(JR_LOG_INFO, "exiting", JR_LOG_INT("status", ret),
                       JR_LOG_UINT("received", s.received), JR_LOG_UINT("judged", s.judged),
                       JR_LOG_UINT("invalid", s.invalid), JR_LOG_UINT("skipped", s.skipped),
                       JR_LOG_UINT("duplicates", s.duplicates),
                       JR_LOG_UINT("executor_deaths", s.executor_deaths),
                       JR_LOG_UINT("spool_pending", fs.pending));
        }
        jr_kafka_broker_stop(s.broker);
        jr_metrics_close(s.metrics);
        jr_sandbox_free(s.sandbox);
        jr_spool_close(s.spool);
        if (s.tmp_spool[0])
                remove_tmp_spool(s.tmp_spool);
        jr_lang_set_free(s.langs);
        jr_kafka_config_free(&s.kcfg);
        free(s.slots);
        if (s.exe_fd >= 0)
                close(s.exe_fd);
        if (s.sigfd >= 0)
                close(s.sigfd);
        if (s.epfd >= 0)
                close(s.epfd);
        return ret;
}
