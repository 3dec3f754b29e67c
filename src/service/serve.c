/* The supervisor of `jailrun serve` (serve.h): configuration, start-up, the event loop
 * and its phases, teardown. The executor pool is serve_slots.c, Kafka serve_consume.c.
 *
 * Everything runs in one epoll loop on the supervisor's only thread of its own: the
 * signalfd, the executors' sockets, the metrics endpoint, and the consumer's and
 * producer's wake-up fds (serve_source), with librdkafka's deadlines as the timeout. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "jailopts.h"
#include "clock.h"
#include "judge.h"
#include "log.h"
#include "message.h"
#include "notify.h"
#include "serve_internal.h"
#include "units.h"

/* ---- stopping ------------------------------------------------------------------------ */

void serve_stop(struct serve *s, const char *why, bool finish_queue, int status)
{
        if (status > s->exit_status)
                s->exit_status = status;
        if (!finish_queue)
                s->drop_queue = true;
        if (s->stop_consuming)
                return;
        s->stop_consuming = true;
        serve_consumer_pause(s, true);
        serve_http_stop(s);
        size_t busy = serve_slots_busy(s);
        jr_log(JR_LOG_INFO, "stopping", JR_LOG_STR("reason", why), JR_LOG_UINT("executing", busy),
               JR_LOG_UINT("queued", s->queued), JR_LOG_BOOL("finish_queued", finish_queue));
        char note[128];
        snprintf(note, sizeof note, "stopping (%s): finishing %zu execution(s)", why, busy);
        jr_notify_stopping(NULL);
        jr_notify_status(note, NULL);
}

void serve_fatal(struct serve *s, const char *what, const jr_error *e)
{
        jr_log(JR_LOG_ERROR, what, JR_LOG_STR("error", e ? e->msg : ""));
        serve_stop(s, "fatal error", false, 1);
}

/* ---- the loop's sources --------------------------------------------------------------- */

int serve_source_add(struct serve *s, struct serve_source *src, int fd, jr_error *e)
{
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = src};
        if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
                return jr_error_errno(e, "epoll_ctl");
        src->fd = fd;
        return 0;
}

void serve_source_remove(struct serve *s, struct serve_source *src)
{
        if (src->fd < 0)
                return;
        epoll_ctl(s->epfd, EPOLL_CTL_DEL, src->fd, NULL);
        src->fd = -1;
}

static void on_signal(struct serve *s, struct serve_source *src)
{
        struct signalfd_siginfo si;
        while (read(src->fd, &si, sizeof si) == sizeof si) {
                switch (si.ssi_signo) {
                case SIGCHLD:
                        serve_slots_reap(s);
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

static void on_metrics(struct serve *s, struct serve_source *src)
{
        jr_error e;
        if (jr_metrics_handle(s->metrics, &e) == 0)
                return;
        jr_log(JR_LOG_ERROR, "metrics endpoint closed", JR_LOG_STR("error", e.msg));
        serve_source_remove(s, src);
        jr_metrics_close(s->metrics);
        s->metrics = NULL;
}

static const struct serve_source_ops signal_ops = {.name = "signals", .ready = on_signal};
static const struct serve_source_ops metrics_ops = {.name = "metrics", .ready = on_metrics};

/* The fixed sources, in the order of their ticks. */
static const struct serve_source_ops *const source_ops[SERVE_SRC__COUNT] = {
    [SERVE_SRC_SIGNAL] = &signal_ops,           [SERVE_SRC_METRICS] = &metrics_ops,
    [SERVE_SRC_PRODUCER] = &serve_producer_ops, [SERVE_SRC_CONSUMER] = &serve_consumer_ops,
    [SERVE_SRC_FRONT] = &serve_front_ops,       [SERVE_SRC_HTTP] = &serve_http_ops,
};

/* Before each scrape of /metrics: the gauges. */
static void collect_metrics(void *opaque)
{
        struct serve *s = opaque;
        jr_metrics_set_slots(s->parallel, serve_slots_busy(s));
        if (s->spool)
                jr_metrics_set_spool_pending(jr_spool_pending(s->spool));
        jr_metrics_set_consumer_lag(s->consumer ? jr_kafka_consumer_lag(s->consumer) : -1);
        serve_http_collect_metrics(s);
}

/* ---- the loop ------------------------------------------------------------------------- */

static int min_timeout(int a, int64_t b)
{
        if (b < 0)
                return a;
        if (b > INT32_MAX)
                b = INT32_MAX;
        return a < 0 || b < a ? (int)b : a;
}

static int64_t until(int64_t deadline, int64_t now)
{
        return deadline - now < 0 ? 0 : deadline - now;
}

static int loop_timeout(struct serve *s)
{
        int64_t now = (int64_t)jr_mono_ms();
        int t = -1;
        for (int i = 0; i < SERVE_SRC__COUNT; i++)
                if (s->src[i].fd >= 0 && s->src[i].ops->timeout_ms)
                        t = min_timeout(t, s->src[i].ops->timeout_ms(s));
        if (s->phase == PHASE_STARTING) /* at once with no executor to wait for (0 slots) */
                t = min_timeout(t, serve_slots_all_idle(s) ? 0 : until(s->startup_deadline, now));
        if (s->phase == PHASE_FLUSHING)
                t = min_timeout(t, until(s->flush_deadline, now));
        return min_timeout(t, serve_slots_timeout_ms(s, now));
}

/* STARTING -> RUNNING once every executor is ready: only now may Kafka's threads start. */
static void step_starting(struct serve *s)
{
        if (s->stop_consuming) {
                s->phase = PHASE_EXIT;
                return;
        }
        if (serve_slots_all_idle(s)) {
                jr_error e;
                s->phase = PHASE_RUNNING;
                if (serve_kafka_start(s, &e) < 0) {
                        serve_fatal(s, "start kafka", &e);
                        /* librdkafka refused a property (JAILRUN_KAFKA_CONFIG, a topic
                         * name): a configuration error, not worth a restart */
                        if (e.err == EINVAL)
                                s->exit_status = 2;
                        s->phase = PHASE_EXIT;
                }
        } else if ((int64_t)jr_mono_ms() >= s->startup_deadline) {
                jr_error e = {.msg = "executors not ready in time"};
                serve_fatal(s, "start executors", &e);
                s->phase = PHASE_EXIT;
        }
}

static void step_phase(struct serve *s)
{
        if (s->phase == PHASE_STARTING) {
                step_starting(s);
                if (s->phase == PHASE_EXIT)
                        return;
        }
        if (s->phase == PHASE_RUNNING && s->stop_consuming) {
                if (s->drop_queue)
                        while (s->queued)
                                job_free(serve_queue_pop(s));
                if (!serve_slots_busy(s) && !s->queued) {
                        s->phase = PHASE_FLUSHING;
                        s->flush_deadline = (int64_t)jr_mono_ms() + (int64_t)s->o.flush_timeout_ms;
                        jr_notify_status("flushing the spool to the broker", NULL);
                        jr_log(JR_LOG_INFO, "flushing",
                               JR_LOG_UINT("unacked", s->producer
                                                          ? jr_kafka_producer_unacked(s->producer)
                                                          : 0));
                }
        }
        if (s->phase == PHASE_FLUSHING) {
                size_t left = (s->producer ? jr_kafka_producer_unacked(s->producer) : 0) +
                              serve_spool_waiting(s);
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

/* One turn: the ready sources, the executors' turn (respawns, dispatch), each source's
 * tick (the producer, then the consumer), the phase. */
static void serve_loop(struct serve *s)
{
        while (s->phase != PHASE_EXIT) {
                struct epoll_event evs[16];
                int n = epoll_wait(s->epfd, evs, 16, loop_timeout(s));
                if (n < 0 && errno != EINTR) {
                        jr_error e;
                        jr_error_errno(&e, "epoll_wait");
                        serve_fatal(s, "event loop", &e);
                        return;
                }
                for (int i = 0; i < n; i++) {
                        struct serve_source *src = evs[i].data.ptr;
                        if (src->fd >= 0 && src->ops->ready) /* < 0: removed this turn */
                                src->ops->ready(s, src);
                }
                if (s->phase == PHASE_EXIT)
                        break;
                serve_slots_respawn_due(s);
                serve_dispatch(s);
                for (int i = 0; i < SERVE_SRC__COUNT && s->phase != PHASE_EXIT; i++)
                        if (s->src[i].fd >= 0 && s->src[i].ops->tick)
                                s->src[i].ops->tick(s);
                if (s->phase == PHASE_EXIT)
                        break;
                step_phase(s);
        }
}

/* ---- configuration -------------------------------------------------------------------- */

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
        /* the Executor Service's name for it, when RUNNER_MAX_PARALLEL is unset */
        const char *par = getenv("RUNNER_MAX_PARALLEL") && *getenv("RUNNER_MAX_PARALLEL")
                              ? "RUNNER_MAX_PARALLEL"
                              : "EXECUTOR_MAX_CONCURRENCY";
        if (env_uint(par, JR_EXECUTOR_SLOTS_MAX, &v, e) < 0)
                return -1;
        if (serve_http_configure(s, e) < 0)
                return -1;
        /* 0: a front door that judges nothing (its submissions go to other runners) */
        if (v == 0 && !s->http)
                return jr_error_set(e, EINVAL,
                                    "%s: must be at least 1 (0 is for an HTTP front door: "
                                    "set JAILRUN_HTTP_ADDR)",
                                    par);
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

/* The environment, then the command line over it, then the log. Nothing is started. */
static int serve_configure(struct serve *s, const jr_serve_opts *o, jr_error *e)
{
        s->o = *o;
        if (read_env(s, e) < 0)
                return -1;
        /* as the executors will see them: --fallback adds, --cgroup wins */
        s->sandbox_opts.fallbacks |= o->fallback_flags;
        if (o->cg_mode && jr_parse_cg_mode(o->cg_mode, &s->sandbox_opts.cg_mode, e) < 0)
                return jr_error_wrap(e, "option --cgroup");
        if (o->log_level) {
                jr_log_level l;
                if (jr_log_level_parse(o->log_level, &l, e) < 0)
                        return jr_error_wrap(e, "option --log-level");
                jr_log_set_level(l);
        }
        if (jr_kafka_config_from_env(&s->kcfg, e) < 0 || serve_http_kafka_defaults(s, e) < 0)
                return -1;
        if (o->log_file && jr_log_open(o->log_file, e) < 0)
                return -1;
        return 0;
}

/* ---- the embedded broker's spool ------------------------------------------------------ */

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

/* The spool: fails early when another instance owns it. */
static int open_spool(struct serve *s, jr_error *e)
{
        jr_spool_options so = {.finished_max = s->finished_max};
        const char *spool_dir = jr_spool_dir_from_env();
        const char *env_spool = getenv("JAILRUN_SPOOL_DIR");
        if (jr_kafka_config_is_embedded(&s->kcfg) && !(env_spool && *env_spool)) {
                /* The embedded broker forgets everything at exit; so does its spool. A
                 * shared one would replay old records into the new broker and skip ids
                 * judged by an earlier demo as already finished. */
                sweep_tmp_spools();
                snprintf(s->tmp_spool, sizeof s->tmp_spool, "/tmp/jailrun-embedded-XXXXXX");
                if (!mkdtemp(s->tmp_spool)) {
                        s->tmp_spool[0] = '\0';
                        return jr_error_errno(e, "temporary spool");
                }
                spool_dir = s->tmp_spool;
        }
        if (jr_spool_open(spool_dir, &so, &s->spool, e) < 0)
                return -1;
        jr_spool_stats st;
        jr_spool_get_stats(s->spool, &st);
        jr_log(JR_LOG_INFO, "spool open", JR_LOG_STR("dir", spool_dir),
               JR_LOG_UINT("pending", st.pending), JR_LOG_UINT("finished", st.finished),
               JR_LOG_UINT("corrupt", st.corrupt));
        return 0;
}

/* ---- start-up and teardown ------------------------------------------------------------ */

/* Signals first: threads started later inherit the mask, and only the signalfd sees
 * them. Then the epoll set, and the binary as it is now: executors started after an
 * upgrade of the file on disk are still this version. */
static int open_loop(struct serve *s, jr_error *e)
{
        sigset_t mask;
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        sigaddset(&mask, SIGCHLD);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return jr_error_errno(e, "sigprocmask");
        signal(SIGPIPE, SIG_IGN);
        s->sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
        s->epfd = epoll_create1(EPOLL_CLOEXEC);
        s->exe_fd = open("/proc/self/exe", O_PATH | O_CLOEXEC);
        if (s->sigfd < 0 || s->epfd < 0 || s->exe_fd < 0)
                return jr_error_errno(e, "set up the event loop");
        return serve_source_add(s, &s->src[SERVE_SRC_SIGNAL], s->sigfd, e);
}

static int serve_start(struct serve *s, jr_error *e)
{
        if (open_loop(s, e) < 0)
                return -1;
        if (jr_lang_load_dir(s->o.langs_dir ? s->o.langs_dir : jr_lang_default_dir(), &s->langs,
                             e) < 0)
                return -1;
        if (open_spool(s, e) < 0)
                return -1;
        if (serve_http_open(s, e) < 0)
                return -1;
        /* The sandbox, once here before the executors: it fails early and clearly when
         * the host cannot make jails, and on cgroup v2 it moves this process into
         * <own cgroup>/supervisor and enables the controllers, so that the executors
         * (born there) find their cgroup ready. An executor moving itself would leave
         * the supervisor behind as an internal process of <own>, where the kernel then
         * refuses to enable controllers. */
        if (s->parallel > 0) { /* a front door alone (0) makes no jail */
                if (jr_sandbox_new(&s->sandbox_opts, &s->sandbox, e) < 0)
                        return jr_error_wrap(e, "sandbox");
                jr_log(JR_LOG_INFO, "sandbox",
                       JR_LOG_STR("cgroup", jr_sandbox_describe(s->sandbox)));
        }
        if (s->metrics_addr) {
                if (jr_metrics_open(s->metrics_addr, &s->metrics, e) < 0 ||
                    serve_source_add(s, &s->src[SERVE_SRC_METRICS], jr_metrics_fd(s->metrics), e) <
                        0)
                        return jr_error_wrap(e, "metrics endpoint");
                jr_metrics_set_collector(collect_metrics, s);
                jr_log(JR_LOG_INFO, "metrics endpoint",
                       JR_LOG_STR("address", jr_metrics_address(s->metrics)));
        }
        /* The executors, before any thread exists (see kafka.h PROCESS MODEL); Kafka
         * starts when all of them are ready (step_starting). */
        if (serve_slots_start(s, e) < 0)
                return -1;
        jr_log(JR_LOG_INFO, "starting", JR_LOG_STR("version", JR_VERSION),
               JR_LOG_UINT("parallel", s->parallel), JR_LOG_INT("pid", getpid()));
        return 0;
}

static void serve_teardown(struct serve *s, int status)
{
        serve_http_free(s);
        serve_slots_free(s);
        while (s->queued)
                job_free(serve_queue_pop(s));
        if (s->consumer) {
                jr_error e;
                if (jr_kafka_consumer_close(s->consumer, &e) < 0)
                        jr_log(JR_LOG_WARNING, e.msg);
                jr_kafka_consumer_free(s->consumer);
        }
        jr_kafka_producer_free(s->producer);
        serve_spool_free(s);
        if (s->spool) {
                jr_spool_stats fs;
                jr_spool_get_stats(s->spool, &fs);
                jr_log(JR_LOG_INFO, "exiting", JR_LOG_INT("status", status),
                       JR_LOG_UINT("received", s->received), JR_LOG_UINT("judged", s->judged),
                       JR_LOG_UINT("invalid", s->invalid), JR_LOG_UINT("skipped", s->skipped),
                       JR_LOG_UINT("duplicates", s->duplicates),
                       JR_LOG_UINT("executor_deaths", s->executor_deaths),
                       JR_LOG_UINT("spool_pending", fs.pending));
        }
        jr_kafka_broker_stop(s->broker);
        jr_metrics_close(s->metrics);
        jr_sandbox_free(s->sandbox);
        jr_spool_close(s->spool);
        if (s->tmp_spool[0])
                remove_tmp_spool(s->tmp_spool);
        jr_lang_set_free(s->langs);
        jr_kafka_config_free(&s->kcfg);
        if (s->exe_fd >= 0)
                close(s->exe_fd);
        if (s->sigfd >= 0)
                close(s->sigfd);
        if (s->epfd >= 0)
                close(s->epfd);
}

int jr_serve_run(const jr_serve_opts *o, jr_error *e)
{
        struct serve s = {.epfd = -1, .sigfd = -1, .exe_fd = -1};
        for (int i = 0; i < SERVE_SRC__COUNT; i++)
                s.src[i] = (struct serve_source){.fd = -1, .ops = source_ops[i]};
        if (serve_configure(&s, o, e) < 0) {
                serve_http_free(&s);
                jr_kafka_config_free(&s.kcfg);
                return -1;
        }
        /* Large buffers (submissions, results) come and go: give them back to the kernel
         * at once rather than letting glibc's dynamic threshold keep them in the heap (the
         * peak RSS under a mix of floods and big results halved). */
        mallopt(M_MMAP_THRESHOLD, 64 * 1024);
        jr_error se = {0};
        int ret;
        if (serve_start(&s, &se) < 0) {
                jr_log(JR_LOG_ERROR, "cannot start", JR_LOG_STR("error", se.msg));
                ret = 1;
        } else {
                serve_loop(&s);
                ret = s.exit_status;
        }
        serve_teardown(&s, ret);
        return ret;
}
