/* The supervisor's executor pool: one executor process per jail slot, the queue of jobs
 * waiting for one, dispatch, the frames executors send back, their deaths (a job is
 * judged once more, then answered IE) and respawns with back-off. See serve_internal.h. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cleanup.h"
#include "clock.h"
#include "log.h"
#include "message.h"
#include "metrics.h"
#include "serve_internal.h"
#include "strv.h"

extern char **environ;

void job_free(struct job *j)
{
        if (!j)
                return;
        jr_kafka_msg_free(j->msg);
        free(j->id);
        free(j->language);
        free(j->fallback);
        free(j);
}

/* ---- the queue ------------------------------------------------------------------------ */

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

void serve_queue_push(struct serve *s, struct job *j)
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

struct job *serve_queue_pop(struct serve *s)
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

void serve_queue_revoke(struct serve *s, const char *topic, const int32_t *parts, size_t n)
{
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

/* ---- spawning and respawning ---------------------------------------------------------- */

static void slot_readable(struct serve *s, struct serve_source *src);

static const struct serve_source_ops slot_ops = {.name = "executor", .ready = slot_readable};

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
        _cleanup_kill_pid_ pid_t pid = 0;
        _cleanup_close_ int sock = -1;
        if (jr_executor_spawn(s->exe_fd, sl->argv, environ, &pid, &sock, e) < 0)
                return -1;
        if (serve_source_add(s, &sl->src, sock, e) < 0)
                return jr_error_set(e, e->err, "epoll executor");
        TAKE_FD(sock); /* the slot's now, as sl->src.fd */
        sl->pid = TAKE_PID(pid);
        sl->state = SLOT_STARTING;
        sl->rd = (jr_frame_reader){0};
        jr_log(JR_LOG_DEBUG, "executor started", JR_LOG_UINT("slot", sl->index),
               JR_LOG_INT("pid", pid));
        return 0;
}

static void slot_close_sock(struct serve *s, struct slot *sl)
{
        if (sl->src.fd < 0)
                return;
        int fd = sl->src.fd;
        serve_source_remove(s, &sl->src);
        close(fd);
}

int serve_slots_start(struct serve *s, jr_error *e)
{
        s->slots = calloc(s->parallel ? s->parallel : 1, sizeof *s->slots);
        if (!s->slots)
                return jr_error_set(e, ENOMEM, "slots");
        jr_executor_args xargs = {s->o.langs_dir, s->o.rootfs_dir, s->o.cg_mode, s->o.fallbacks};
        for (unsigned i = 0; i < s->parallel; i++)
                s->slots[i] = (struct slot){
                    .index = i, .src = {.fd = -1, .ops = &slot_ops, .data = &s->slots[i]}};
        for (unsigned i = 0; i < s->parallel; i++) {
                s->slots[i].argv = jr_executor_argv(&xargs, i);
                if (!s->slots[i].argv)
                        return jr_error_set(e, ENOMEM, "executor argv");
        }
        s->started_ms = (int64_t)jr_mono_ms();
        s->startup_deadline = s->started_ms + STARTUP_MS;
        for (unsigned i = 0; i < s->parallel; i++)
                if (slot_spawn(s, &s->slots[i], e) < 0)
                        return -1;
        return 0;
}

void serve_slots_respawn_due(struct serve *s)
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

int64_t serve_slots_timeout_ms(const struct serve *s, int64_t now)
{
        int64_t t = -1;
        for (unsigned i = 0; i < s->parallel; i++) {
                const struct slot *sl = &s->slots[i];
                if (sl->state != SLOT_DOWN || !sl->respawn_at)
                        continue;
                int64_t left = sl->respawn_at - now < 0 ? 0 : sl->respawn_at - now;
                if (t < 0 || left < t)
                        t = left;
        }
        return t;
}

unsigned serve_slots_busy(const struct serve *s)
{
        unsigned busy = 0;
        for (unsigned i = 0; i < s->parallel && s->slots; i++)
                busy += s->slots[i].state == SLOT_BUSY;
        return busy;
}

bool serve_slots_all_idle(const struct serve *s)
{
        for (unsigned i = 0; i < s->parallel; i++)
                if (s->slots[i].state != SLOT_IDLE)
                        return false;
        return true;
}

/* ---- what executors send ----------------------------------------------------------------- */

/* The executor judging `dead` died: judge it once more, or answer IE. Takes the job. */
static void job_executor_died(struct serve *s, struct job *dead)
{
        _cleanup_job_ struct job *j = dead;
        if (j->attempts < EXECUTOR_TRIES && !s->drop_queue) {
                jr_log(JR_LOG_WARNING, "executor died while judging; judging it again",
                       JR_LOG_BYTES("id", j->id, j->id_len), JR_LOG_STR("why", j->last_death),
                       JR_LOG_UINT("attempt", j->attempts));
                queue_push_front(s, TAKE_PTR(j));
                return;
        }
        if (j->attempts < EXECUTOR_TRIES)
                return; /* stopping on a signal: not done, so consumed again after restart */
        char why[256];
        snprintf(why, sizeof why,
                 "internal error: the executor died %u times judging this "
                 "submission (last: %s)",
                 j->attempts, j->last_death);
        jr_buf json = {0};
        jr_error e;
        if (jr_result_ie_json((jr_bytes){j->id, j->id_len}, why, 0, &json, &e) < 0) {
                serve_fatal(s, "result for a dead executor", &e);
                return;
        }
        jr_log(JR_LOG_ERROR, "executor died; IE result", JR_LOG_BYTES("id", j->id, j->id_len),
               JR_LOG_STR("error", why));
        if (serve_deliver_result(s, j->msg, j->id, j->id_len, &json) == 0) {
                s->judged++;
                jr_metrics_count_result(j->language, "IE");
        }
        free(json.ptr);
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
        jr_buf ev = {0};
        if (serve_json_with_source((const char *)p + sizeof h, len - sizeof h, j->msg, &ev) < 0) {
                jr_log(JR_LOG_ERROR, "spool an event (dropped)",
                       JR_LOG_STR("error", "out of memory"), JR_LOG_BYTES("id", j->id, j->id_len));
                return;
        }
        jr_spool_source src = serve_source_of(j->msg);
        if (serve_spool_put(s, JR_SPOOL_EVENT, s->kcfg.events_topic, j->id, j->id_len, ev.ptr,
                            ev.len, &src, &e) < 0)
                jr_log(JR_LOG_ERROR, "spool an event (dropped)", JR_LOG_STR("error", e.msg),
                       JR_LOG_BYTES("id", j->id, j->id_len));
        else
                serve_http_local_event(s, j->id, j->id_len, ev.ptr, ev.len);
        free(ev.ptr);
}

static void handle_result(struct serve *s, struct slot *sl, const void *p, size_t len)
{
        jr_exec_summary sum;
        if (len < sizeof sum)
                return;
        memcpy(&sum, p, sizeof sum);
        if (!sl->job || sum.job != sl->job->no)
                return;
        _cleanup_job_ struct job *j = TAKE_PTR(sl->job);
        jr_buf json = {(char *)p + sizeof sum, len - sizeof sum};
        sl->state = SLOT_IDLE;
        sl->deaths = 0;
        int r = serve_deliver_result(s, j->msg, j->id, j->id_len, &json);
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
                       JR_LOG_UINT("jail_ms", sum.jail_ms), JR_LOG_UINT("own_us", sum.own_us),
                       JR_LOG_INT("latency_ms", now - j->consumed_ms),
                       JR_LOG_UINT("slot", sl->index), JR_LOG_INT("partition", j->msg->partition),
                       JR_LOG_INT("offset", j->msg->offset));
        }
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

static void handle_failed(struct serve *s, struct slot *sl, const void *p, size_t len)
{
        jr_log(JR_LOG_ERROR, "executor setup failed", JR_LOG_UINT("slot", sl->index),
               JR_LOG_BYTES("error", p, len));
        if (s->phase != PHASE_STARTING)
                return;
        jr_error fe;
        snprintf(fe.msg, sizeof fe.msg, "slot %u: %.*s", sl->index, (int)(len > 900 ? 900 : len),
                 (const char *)p);
        serve_fatal(s, "executor setup failed", &fe);
        s->phase = PHASE_EXIT;
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
                        handle_failed(s, sl, p, len);
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

static void slot_read(struct serve *s, struct slot *sl)
{
        jr_error e;
        if (jr_frame_reader_fill(&sl->rd, sl->src.fd, &e) < 0) {
                jr_log(JR_LOG_WARNING, e.msg, JR_LOG_UINT("slot", sl->index));
                sl->rd.eof = true;
        }
        slot_frames(s, sl);
        if (sl->rd.eof)
                slot_close_sock(s, sl); /* the executor is exiting: SIGCHLD follows */
}

static void slot_readable(struct serve *s, struct serve_source *src)
{
        slot_read(s, src->data);
}

/* ---- deaths --------------------------------------------------------------------------- */

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
        while (sl->src.fd >= 0 && !sl->rd.eof) {
                size_t before = sl->rd.len;
                slot_read(s, sl);
                if (sl->src.fd >= 0 && sl->rd.len == before && !sl->rd.eof)
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
                serve_fatal(s, "executor setup failed", &e);
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

void serve_slots_reap(struct serve *s)
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

/* ---- dispatch ------------------------------------------------------------------------- */

void serve_dispatch(struct serve *s)
{
        for (unsigned i = 0; i < s->parallel && s->queued; i++) {
                struct slot *sl = &s->slots[i];
                if (sl->state != SLOT_IDLE || sl->src.fd < 0) /* < 0: exiting, not reaped yet */
                        continue;
                if (s->drop_queue || serve_spool_blocked(s))
                        return;
                struct job *j = serve_queue_pop(s);
                /* consumed before this runner knew its partition's last commit (a new
                 * assignment): answered by the previous owner meanwhile? */
                if (j->attempts == 0 && serve_answered_elsewhere(s, j->msg)) {
                        job_free(j);
                        i--;
                        continue;
                }
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
                if (jr_frame_send(sl->src.fd, JR_FRAME_JOB, &h, sizeof h, j->fallback,
                                  j->fallback_len, j->msg->value, j->msg->value_len, &e) < 0) {
                        /* the reaper retries the job or answers IE */
                        slot_kill(sl, e.msg);
                        slot_close_sock(s, sl);
                }
        }
}

/* ---- teardown ------------------------------------------------------------------------- */

void serve_slots_free(struct serve *s)
{
        if (!s->slots)
                return;
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
                jr_strv_free(sl->argv);
        }
        free(s->slots);
        s->slots = NULL;
}
