/* Executors: framing, the executor process, spawning. See executor.h. */
#include "executor.h"

#include "jailopts.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "cleanup.h"
#include "io.h"
#include "judge.h"
#include "lang.h"
#include "log.h"
#include "strv.h"
#include "units.h"

/* ---- framing ---------------------------------------------------------------------- */

int jr_frame_send(int fd, uint32_t type, const void *a, size_t a_len, const void *b, size_t b_len,
                  const void *c, size_t c_len, jr_error *e)
{
        size_t total = a_len + b_len + c_len;
        if (total > JR_FRAME_MAX)
                return jr_error_set(e, E2BIG, "frame of %zu bytes", total);
        jr_frame_header h = {.type = type, .len = (uint32_t)total};
        struct iovec iov[4] = {
            {&h, sizeof h}, {(void *)a, a_len}, {(void *)b, b_len}, {(void *)c, c_len}};
        struct iovec *v = iov;
        int n = 4;
        while (n > 0) {
                struct msghdr mh = {.msg_iov = v, .msg_iovlen = (size_t)n};
                ssize_t w = sendmsg(fd, &mh, MSG_NOSIGNAL);
                if (w < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN || errno == EWOULDBLOCK)
                                return jr_error_set(e, ETIMEDOUT, "send frame: peer not reading");
                        return jr_error_errno(e, "send frame");
                }
                size_t done = (size_t)w;
                while (n > 0 && done >= v->iov_len) {
                        done -= v->iov_len;
                        v++;
                        n--;
                }
                if (n > 0) {
                        v->iov_base = (char *)v->iov_base + done;
                        v->iov_len -= done;
                }
        }
        return 0;
}

/* 1 read all, 0 EOF before the first byte, < 0 error or EOF in the middle */
static int read_full(int fd, void *buf, size_t len, jr_error *e)
{
        ssize_t got = jr_read_full(fd, buf, len);
        if (got < 0)
                return jr_error_errno(e, "receive frame");
        if ((size_t)got == len)
                return 1;
        if (got == 0)
                return 0;
        return jr_error_set(e, EPROTO, "receive frame: truncated");
}

int jr_frame_recv(int fd, uint32_t *type, jr_buf *payload, jr_error *e)
{
        jr_frame_header h;
        int r = read_full(fd, &h, sizeof h, e);
        if (r <= 0)
                return r;
        if (h.len > JR_FRAME_MAX)
                return jr_error_set(e, EPROTO, "receive frame: %u bytes is over the maximum",
                                    h.len);
        char *buf = malloc((size_t)h.len + 1);
        if (!buf)
                return jr_error_set(e, ENOMEM, "receive frame of %u bytes", h.len);
        r = read_full(fd, buf, h.len, e);
        if (r <= 0) {
                free(buf);
                return r < 0 ? r : jr_error_set(e, EPROTO, "receive frame: truncated");
        }
        buf[h.len] = '\0';
        *type = h.type;
        *payload = (jr_buf){buf, h.len};
        return 1;
}

#define READER_CHUNK (256 * 1024)
#define READER_KEEP  (512 * 1024) /* a buffer larger than this is released when idle */

int jr_frame_reader_fill(jr_frame_reader *r, int fd, jr_error *e)
{
        if (r->off > 0) {
                memmove(r->buf, r->buf + r->off, r->len - r->off);
                r->len -= r->off;
                r->off = 0;
        }
        /* One bounded read per call: the event loop comes back while the fd stays
         * readable (level-triggered), so one chatty executor cannot starve the rest. */
        if (r->cap - r->len < READER_CHUNK) {
                size_t cap = r->len + READER_CHUNK;
                char *n = realloc(r->buf, cap);
                if (!n)
                        return jr_error_set(e, ENOMEM, "executor frames");
                r->buf = n;
                r->cap = cap;
        }
        for (;;) {
                ssize_t n = recv(fd, r->buf + r->len, r->cap - r->len, MSG_DONTWAIT);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                        return 0;
                if (n < 0 && errno == ECONNRESET) {
                        r->eof = true;
                        return 0;
                }
                if (n < 0)
                        return jr_error_errno(e, "read executor frames");
                if (n == 0)
                        r->eof = true;
                r->len += (size_t)n;
                return 0;
        }
}

int jr_frame_reader_next(jr_frame_reader *r, uint32_t *type, const void **payload, size_t *len,
                         jr_error *e)
{
        size_t avail = r->len - r->off;
        if (avail < sizeof(jr_frame_header))
                return 0;
        jr_frame_header h;
        memcpy(&h, r->buf + r->off, sizeof h);
        if (h.len > JR_FRAME_MAX)
                return jr_error_set(e, EPROTO, "executor frame of %u bytes", h.len);
        if (avail - sizeof h < h.len)
                return 0;
        *type = h.type;
        *payload = r->buf + r->off + sizeof h;
        *len = h.len;
        r->off += sizeof h + h.len;
        return 1;
}

void jr_frame_reader_shrink(jr_frame_reader *r)
{
        if (r->off == r->len && r->cap > READER_KEEP) {
                free(r->buf);
                *r = (jr_frame_reader){.eof = r->eof};
        }
}

void jr_frame_reader_free(jr_frame_reader *r)
{
        free(r->buf);
        *r = (jr_frame_reader){0};
}

/* ---- the executor process ------------------------------------------------------------ */

struct exec_ctx {
        int fd;
        uint64_t job;
        bool broken; /* the supervisor is gone: stop sending, exit after this job */
};

static void send_log(struct exec_ctx *x, jr_log_level level, const char *msg)
{
        if (x->broken)
                return;
        jr_exec_log h = {.job = x->job, .level = level};
        if (jr_frame_send(x->fd, JR_FRAME_LOG, &h, sizeof h, msg, strlen(msg), NULL, 0, NULL) < 0)
                x->broken = true;
}

static void on_event(const jr_event *ev, const jr_buf *json, void *userdata)
{
        struct exec_ctx *x = userdata;
        if (x->broken)
                return;
        jr_exec_event h = {.job = x->job, .seq = ev->seq};
        if (jr_frame_send(x->fd, JR_FRAME_EVENT, &h, sizeof h, json->ptr, json->len, NULL, 0,
                          NULL) < 0)
                x->broken = true;
}

static int send_result(struct exec_ctx *x, const jr_exec_summary *s, const jr_buf *json)
{
        if (x->broken)
                return -1;
        if (jr_frame_send(x->fd, JR_FRAME_RESULT, s, sizeof *s, json->ptr, json->len, NULL, 0,
                          NULL) < 0) {
                x->broken = true;
                return -1;
        }
        return 0;
}

/* One JOB frame: parse, judge, reply with events and exactly one RESULT. */
static int run_job(struct exec_ctx *x, jr_judge *judge, const jr_lang_set *langs,
                   const jr_buf *frame)
{
        jr_exec_job h;
        if (frame->len < sizeof h)
                return -1;
        memcpy(&h, frame->ptr, sizeof h);
        if (frame->len - sizeof h < h.fallback_len)
                return -1;
        x->job = h.job;
        const char *fallback = frame->ptr + sizeof h;
        const char *msg = fallback + h.fallback_len;
        size_t msg_len = frame->len - sizeof h - h.fallback_len;

        jr_parse_options po = {
            .languages = jr_lang_names(langs),
            .n_languages = jr_lang_count(langs),
            .fallback_id = {fallback, h.fallback_len},
            .max_input_bytes = h.max_input,
        };
        jr_exec_summary sum = {.job = h.job, .status = JR_STATUS_IE};
        jr_buf result = {0}, err_id = {0};
        jr_submission *sub = NULL;
        jr_error e = {0};
        int ret = 0;
        if (jr_submission_parse(msg, msg_len, &po, &sub, &err_id, &e) < 0) {
                /* The supervisor validated it already; answer all the same. */
                jr_bytes id = err_id.ptr ? (jr_bytes){err_id.ptr, err_id.len}
                                         : (jr_bytes){fallback, h.fallback_len};
                jr_error_wrap(&e, "invalid submission");
                if (jr_result_ie_json(id, e.msg, 0, &result, &e) < 0)
                        ret = -1;
        } else if (sub->type != JR_MSG_SCRIPT) {
                if (jr_result_ie_json(sub->id, "a \"done\" message has nothing to judge", 0,
                                      &result, &e) < 0)
                        ret = -1;
        } else {
                jr_judge_summary js = {0};
                if (jr_judge_submission(judge, sub, on_event, x, &result, &js, &e) < 0) {
                        char why[JR_ERROR_MSG_MAX + 32];
                        snprintf(why, sizeof why, "judge: %s", e.msg);
                        send_log(x, JR_LOG_ERROR, why);
                        free(result.ptr);
                        result = (jr_buf){0};
                        if (jr_result_ie_json(sub->id, why, 0, &result, &e) < 0)
                                ret = -1;
                } else {
                        sum.status = js.status;
                        sum.tests_run = (uint32_t)js.tests_run;
                        sum.build_ms = js.build_ms;
                        sum.tests_ms = js.tests_ms;
                        sum.total_ms = js.total_ms;
                        sum.jail_ms = js.jail_ms;
                        sum.own_us = js.own_us;
                        sum.sandbox_failures = js.sandbox_failures;
                }
        }
        if (ret == 0 && send_result(x, &sum, &result) < 0)
                ret = -1;
        free(result.ptr);
        free(err_id.ptr);
        jr_submission_free(sub);
        return ret;
}

int jr_executor_main(const jr_executor_opts *o)
{
        /* See executor.h: only the supervisor decides when an executor stops. */
        signal(SIGINT, SIG_IGN);
        signal(SIGTERM, SIG_IGN);
        signal(SIGHUP, SIG_IGN);
        signal(SIGPIPE, SIG_IGN);
        struct exec_ctx x = {.fd = o->fd};
        jr_error e = {0};
        /* freed in reverse order: the judge before its slot, the slot before its sandbox */
        _cleanup_lang_set_ jr_lang_set *langs = NULL;
        _cleanup_sandbox_ jr_sandbox *sb = NULL;
        _cleanup_slot_ jr_slot *slot = NULL;
        _cleanup_judge_ jr_judge *judge = NULL;
        int status = 1;

        jr_judge_opts jo = {.rootfs_dir = o->rootfs_dir};
        jr_judge_limits_default(&jo.limits);
        if (jr_judge_limits_from_env(&jo.limits, &e) < 0)
                goto failed;
        if (jr_lang_load_dir(o->langs_dir ? o->langs_dir : jr_lang_default_dir(), &langs, &e) < 0)
                goto failed;
        jo.langs = langs;
        uid_t uid;
        gid_t gid;
        if (jr_slot_ids(o->slot, &uid, &gid, &e) < 0 || jr_sandbox_new(&o->sandbox, &sb, &e) < 0 ||
            jr_slot_new(sb, o->slot, uid, gid, &slot, &e) < 0) {
                jr_error_wrap(&e, "sandbox");
                goto failed;
        }
        jo.slot = slot;
        if (jr_judge_new(&jo, &judge, &e) < 0)
                goto failed;

        char ready[512];
        snprintf(ready, sizeof ready, "%s", jr_sandbox_describe(sb));
        if (jr_frame_send(x.fd, JR_FRAME_READY, ready, strlen(ready), NULL, 0, NULL, 0, &e) < 0)
                return status;
        for (;;) {
                uint32_t type;
                jr_buf frame = {0};
                int r = jr_frame_recv(x.fd, &type, &frame, &e);
                if (r == 0) { /* the supervisor closed our socket: done */
                        status = 0;
                        break;
                }
                if (r < 0)
                        break;
                if (type != JR_FRAME_JOB) {
                        free(frame.ptr);
                        break;
                }
                r = run_job(&x, judge, langs, &frame);
                free(frame.ptr);
                if (r < 0 || x.broken)
                        break;
        }
        return status;
failed:
        jr_frame_send(x.fd, JR_FRAME_FAILED, e.msg, strlen(e.msg), NULL, 0, NULL, 0, NULL);
        return status;
}

/* ---- spawning ------------------------------------------------------------------------ */

int jr_executor_spawn(int exe_fd, char *const argv[], char *const envp[], pid_t *pid, int *sock,
                      jr_error *e)
{
        int sp[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
                return jr_error_errno(e, "executor socketpair");
        pid_t parent = getpid();
        pid_t child = fork();
        if (child < 0) {
                int err = errno;
                close(sp[0]);
                close(sp[1]);
                return jr_error_set(e, err, "fork executor");
        }
        if (child == 0) {
                /* The parent may run librdkafka's threads: from here to execve only
                 * async-signal-safe calls (no malloc, no stdio, no locks). */
                if (sp[1] == JR_EXECUTOR_FD) {
                        if (fcntl(sp[1], F_SETFD, 0) < 0)
                                _exit(127);
                } else if (dup2(sp[1], JR_EXECUTOR_FD) < 0) {
                        _exit(127);
                }
                struct sigaction dfl = {.sa_handler = SIG_DFL}, ign = {.sa_handler = SIG_IGN};
                for (int s = 1; s < _NSIG; s++)
                        sigaction(s, s == SIGINT || s == SIGTERM || s == SIGHUP ? &ign : &dfl,
                                  NULL);
                sigset_t none;
                sigemptyset(&none);
                sigprocmask(SIG_SETMASK, &none, NULL);
                /* Out of the terminal's process group and session: a Ctrl-C there reaches
                 * the supervisor alone, never the jailed programs (which would die and be
                 * judged RE). */
                setsid();
                /* Die with the supervisor; if it died before this line, go now. The
                 * supervisor's main thread forked us and lives as long as the process. */
                if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
                        _exit(127);
                syscall(SYS_execveat, exe_fd, "", argv, envp, AT_EMPTY_PATH);
                _exit(127);
        }
        close(sp[1]);
        /* A JOB frame goes only to an idle executor, which is reading; the timeout only
         * guards against a wedged one. */
        struct timeval tv = {.tv_sec = 30};
        setsockopt(sp[0], SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        *pid = child;
        *sock = sp[0];
        return 0;
}

/* ---- the executor's command line -------------------------------------------------------- */

char **jr_executor_argv(const jr_executor_args *a, unsigned slot)
{
        char **v = calloc(16, sizeof *v);
        if (!v)
                return NULL;
        size_t n = 0;
        v[n++] = strdup("jailrun");
        v[n++] = strdup("serve");
        v[n++] = strdup("--executor");
        if (asprintf(&v[n++], "%u", slot) < 0)
                v[n - 1] = NULL;
        if (a->langs_dir) {
                v[n++] = strdup("--langs");
                v[n++] = strdup(a->langs_dir);
        }
        if (a->rootfs_dir) {
                v[n++] = strdup("--rootfs-dir");
                v[n++] = strdup(a->rootfs_dir);
        }
        if (a->cg_mode) {
                v[n++] = strdup("--cgroup");
                v[n++] = strdup(a->cg_mode);
        }
        if (a->fallbacks) {
                v[n++] = strdup("--fallback");
                v[n++] = strdup(a->fallbacks);
        }
        for (size_t k = 0; k < n; k++)
                if (!v[k]) {
                        jr_strv_free(v);
                        return NULL;
                }
        return v;
}

int jr_executor_command(int argc, char **argv)
{
        static const struct option opts[] = {
            {"executor", required_argument, NULL, 'x'},   {"langs", required_argument, NULL, 'l'},
            {"rootfs-dir", required_argument, NULL, 'r'}, {"cgroup", required_argument, NULL, 'c'},
            {"fallback", required_argument, NULL, 'f'},   {NULL, 0, NULL, 0},
        };
        jr_executor_opts o = {.fd = JR_EXECUTOR_FD};
        jr_error e;
        uint64_t slot = 0;
        if (jr_sandbox_opts_from_env(&o.sandbox, &e) < 0) {
                fprintf(stderr, "jailrun serve --executor: %s\n", e.msg);
                return 2;
        }
        int opt;
        optind = 1;
        opterr = 0;
        while ((opt = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
                switch (opt) {
                case 'x':
                        if (jr_parse_uint(optarg, JR_EXECUTOR_SLOTS_MAX, &slot, &e) < 0)
                                return 2;
                        break;
                case 'l':
                        o.langs_dir = optarg;
                        break;
                case 'r':
                        o.rootfs_dir = optarg;
                        break;
                case 'c':
                        if (jr_parse_cg_mode(optarg, &o.sandbox.cg_mode, &e) < 0)
                                return 2;
                        break;
                case 'f':
                        if (jr_parse_fallbacks(optarg, &o.sandbox.fallbacks, &e) < 0)
                                return 2;
                        break;
                default:
                        return 2;
                }
        }
        o.slot = (unsigned)slot;
        return jr_executor_main(&o);
}
