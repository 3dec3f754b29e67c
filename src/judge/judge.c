/* The judge: build, carry artifacts, run tests, decide verdicts. See judge.h. */
#include "judge.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "artifacts.h"
#include "checker.h"
#include "cleanup.h"
#include "io.h"
#include "clock.h"
#include "jailopts.h"
#include "jury.h"
#include "pyimports.h"
#include "rootfs.h"
#include "strv.h"
#include "units.h"

#define MiB                (1024ull * 1024ull)
#define BUILD_OUTPUT_LIMIT (4 * MiB) /* compiler messages beyond this are noise */

void jr_judge_limits_default(jr_judge_limits *l)
{
        *l = (jr_judge_limits){
            .default_time_ms = 2000,
            .default_memory_bytes = 256 * MiB,
            .max_memory_bytes = 256 * MiB,
            .max_total_ms = 5 * 60 * 1000,
            .max_test_wall_ms = 20 * 1000,
            .wall_margin_ms = 500,
            .time_scale = 1,
            .output_limit_bytes = 64 * MiB,
            .run_pids = 64,
            .work_bytes = 512 * MiB,
            .max_message_bytes = JR_MSG_MAX_DEFAULT,
            .default_checker = JR_CHECKER_LINES,
            .default_checker_eps = 0,
        };
}

enum env_kind { ENV_DURATION_MS, ENV_SIZE, ENV_COUNT };

/* Variable `name` parsed as `kind` (a count at most max) into *out: 1 when it is set,
 * 0 when unset or empty (*out untouched), < 0 with the error naming the variable. */
static int env_value(const char *name, enum env_kind kind, uint64_t max, uint64_t *out, jr_error *e)
{
        const char *v = getenv(name);
        if (!v || !*v)
                return 0;
        int r = kind == ENV_DURATION_MS ? jr_parse_duration_ms(v, out, e)
                : kind == ENV_SIZE      ? jr_parse_size(v, out, e)
                                        : jr_parse_uint(v, max, out, e);
        return r < 0 ? jr_error_wrap(e, "%s", name) : 1;
}

int jr_judge_limits_from_env(jr_judge_limits *l, jr_error *e)
{
        uint64_t x;
        int r;
        /* checked here too, so that a mistake stops `serve` before its executors start */
        const char *mods = getenv("EXECUTOR_ALLOWED_MODULES");
        if (mods && *mods) {
                char **list = NULL;
                size_t n = 0;
                if (jr_py_modules_parse(mods, &list, &n, e) < 0)
                        return jr_error_wrap(e, "EXECUTOR_ALLOWED_MODULES");
                jr_py_modules_free(list);
        }
        if ((r = env_value("RUNNER_TIME_LIMIT", ENV_DURATION_MS, 0, &x, e)) < 0)
                return -1;
        if (r && x)
                l->default_time_ms = x;
        /* Host caps (src/service/config.h lists them). The largest memory limit comes first so
         * that RUNNER_MEMORY_LIMIT is checked against it. */
        if ((r = env_value("JAILRUN_MAX_MEMORY", ENV_SIZE, 0, &x, e)) < 0)
                return -1;
        if (r && x) {
                l->max_memory_bytes = x;
                if (l->default_memory_bytes > x)
                        l->default_memory_bytes = x;
        }
        /* the Executor Service's name for it, when RUNNER_MEMORY_LIMIT is unset */
        const char *mem = getenv("RUNNER_MEMORY_LIMIT") && *getenv("RUNNER_MEMORY_LIMIT")
                              ? "RUNNER_MEMORY_LIMIT"
                              : "EXECUTOR_MEM_LIMIT";
        if ((r = env_value(mem, ENV_SIZE, 0, &x, e)) < 0)
                return -1;
        if (r && x > l->max_memory_bytes)
                return jr_error_set(e, EINVAL, "%s %s is above the host maximum of %llu bytes", mem,
                                    getenv(mem), (unsigned long long)l->max_memory_bytes);
        if (r && x)
                l->default_memory_bytes = x;
        /* The execution's testing budget; a test hook as much as an operator's knob. */
        if ((r = env_value("JAILRUN_MAX_TOTAL_MS", ENV_COUNT, INT64_MAX, &x, e)) < 0)
                return -1;
        if (r && x)
                l->max_total_ms = x;
        if ((r = env_value("JAILRUN_MAX_TEST_WALL", ENV_DURATION_MS, 0, &x, e)) < 0)
                return -1;
        if (r && x)
                l->max_test_wall_ms = x;
        /* 0 is a choice here (wall limit = time limit), not "the default" */
        if ((r = env_value("JAILRUN_WALL_MARGIN", ENV_DURATION_MS, 0, &x, e)) < 0)
                return -1;
        if (r)
                l->wall_margin_ms = x;
        if ((r = env_value("JAILRUN_TIME_SCALE", ENV_COUNT, 1000, &x, e)) < 0)
                return -1;
        if (r)
                l->time_scale = x ? x : 1;
        if ((r = env_value("JAILRUN_OUTPUT_LIMIT", ENV_SIZE, 0, &x, e)) < 0)
                return -1;
        if (r && x)
                l->output_limit_bytes = x;
        /* Below 16 KiB a result with a few tests no longer fits even with empty outputs;
         * above 8 MiB brokers reject it (Kafka's default message.max.bytes is ~1 MB). */
        if ((r = env_value("JAILRUN_MAX_MESSAGE_SIZE", ENV_SIZE, 0, &x, e)) < 0)
                return -1;
        if (r && x && (x < 16 * 1024 || x > 8 * MiB))
                return jr_error_set(e, ERANGE,
                                    "JAILRUN_MAX_MESSAGE_SIZE %s is not between 16 KiB and 8 MiB",
                                    getenv("JAILRUN_MAX_MESSAGE_SIZE"));
        if (r && x)
                l->max_message_bytes = (size_t)x;
        /* "exact" gives the reference worker's verdicts byte for byte */
        const char *checker = getenv("JAILRUN_DEFAULT_CHECKER");
        if (checker && *checker &&
            jr_checker_parse(checker, strlen(checker), &l->default_checker,
                             &l->default_checker_eps) < 0)
                return jr_error_set(e, EINVAL,
                                    "JAILRUN_DEFAULT_CHECKER \"%s\" is not a built-in checker "
                                    "(lines, exact, tokens, tokens-lines, float:EPS, sorted)",
                                    checker);
        if (jr_config_nano_cpus(&l->nano_cpus, e) < 0)
                return -1;
        return 0;
}

struct jr_judge {
        jr_slot *slot;
        uid_t uid;
        gid_t gid;
        const jr_lang_set *langs;
        char rootfs_dir[PATH_MAX];
        jr_judge_limits lim;
        char work[PATH_MAX]; /* mount point of the per-execution tmpfs */
        char build_dir[PATH_MAX + 16];
        char run_dir[PATH_MAX + 16];
        int in_fd, out_fd, err_fd; /* memfds reused by every jail */
        /* EXECUTOR_ALLOWED_MODULES, for languages whose source is a .py file; NULL: unset,
         * the language files' allowed_modules apply (jr_judge_allowed_modules) */
        char **py_allowed;
        jr_jury *jury; /* checker programs and interactors */
};

/* The file and the directory that carry the guard into the run jail: run/ is /work. */
#define PY_GUARD_FILE "sitecustomize.py"
#define PY_GUARD_PATH "PYTHONPATH=/work"

static int py_policy_load(jr_judge *j, jr_error *e)
{
        const char *v = getenv("EXECUTOR_ALLOWED_MODULES");
        size_t n;
        if (!v || !*v)
                return 0;
        if (jr_py_modules_parse(v, &j->py_allowed, &n, e) < 0)
                return jr_error_wrap(e, "EXECUTOR_ALLOWED_MODULES");
        return 0;
}

const char *const *jr_judge_allowed_modules(const jr_lang *l, char *const *env_list, size_t *n)
{
        /* the host's setting wins over the language file's, as the Executor Service's
         * variable is the operator's word on its host */
        char *const *list = !jr_lang_is_python(l) ? NULL : env_list ? env_list : l->allowed_modules;
        *n = jr_strv_len(list);
        return (const char *const *)list;
}

int jr_judge_new(const jr_judge_opts *o, jr_judge **out, jr_error *e)
{
        jr_judge *j = calloc(1, sizeof *j);
        if (!j)
                return jr_error_set(e, ENOMEM, "allocate judge");
        j->in_fd = j->out_fd = j->err_fd = -1;
        j->slot = o->slot;
        j->uid = jr_slot_uid(o->slot);
        j->gid = jr_slot_gid(o->slot);
        j->langs = o->langs;
        j->lim = o->limits;
        snprintf(j->rootfs_dir, sizeof j->rootfs_dir, "%s",
                 o->rootfs_dir ? o->rootfs_dir : jr_rootfs_default_dir());

        /* Our own mount namespace: the work tmpfs of each execution is mounted here,
         * seen by the jails we clone (they copy our namespace) and by nobody else, and
         * nothing is left mounted on the host if we die. */
        if (unshare(CLONE_NEWNS) < 0) {
                jr_error_errno(e, "judge: unshare(CLONE_NEWNS)");
                goto fail;
        }
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
                jr_error_errno(e, "judge: make / private");
                goto fail;
        }
        snprintf(j->work, sizeof j->work, "/run/jailrun/work-%d", (int)getpid());
        if (mkdir(j->work, 0700) < 0 && errno != EEXIST) {
                jr_error_errno(e, "judge: mkdir \"%s\"", j->work);
                goto fail;
        }
        snprintf(j->build_dir, sizeof j->build_dir, "%s/build", j->work);
        snprintf(j->run_dir, sizeof j->run_dir, "%s/run", j->work);
        if (py_policy_load(j, e) < 0)
                goto fail;
        j->in_fd = memfd_create("jailrun-stdin", MFD_CLOEXEC);
        j->out_fd = memfd_create("jailrun-stdout", MFD_CLOEXEC);
        j->err_fd = memfd_create("jailrun-stderr", MFD_CLOEXEC);
        if (j->in_fd < 0 || j->out_fd < 0 || j->err_fd < 0) {
                jr_error_errno(e, "judge: memfd_create");
                goto fail;
        }
        if (jr_jury_new(o->slot, j->rootfs_dir, &j->lim, &j->jury, e) < 0)
                goto fail;
        *out = j;
        return 0;
fail:
        jr_judge_free(j);
        return -1;
}

void jr_judge_free(jr_judge *j)
{
        if (!j)
                return;
        if (j->work[0])
                rmdir(j->work);
        if (j->in_fd >= 0)
                close(j->in_fd);
        if (j->out_fd >= 0)
                close(j->out_fd);
        if (j->err_fd >= 0)
                close(j->err_fd);
        jr_py_modules_free(j->py_allowed);
        jr_jury_free(j->jury);
        free(j);
}

/* ---- the per-execution work area ---- */

static int work_open(jr_judge *j, jr_error *e)
{
        char opts[64];
        snprintf(opts, sizeof opts, "size=%llu,mode=0755", (unsigned long long)j->lim.work_bytes);
        if (mount("jailrun-work", j->work, "tmpfs", MS_NOSUID | MS_NODEV, opts) < 0)
                return jr_error_errno(e, "mount the work tmpfs on \"%s\"", j->work);
        /* build/ belongs to the jail's uid (the compiler writes there); run/ stays root's:
         * the programs under test get their artifacts read-only. */
        if (mkdir(j->build_dir, 0700) < 0 || chown(j->build_dir, j->uid, j->gid) < 0)
                return jr_error_errno(e, "prepare \"%s\"", j->build_dir);
        if (mkdir(j->run_dir, 0755) < 0)
                return jr_error_errno(e, "prepare \"%s\"", j->run_dir);
        return 0;
}

static void work_close(jr_judge *j)
{
        /* Detaching drops every file the jails wrote: no walk over a jail-written tree. */
        umount2(j->work, MNT_DETACH);
}

/* Copy the build's artifacts into run/. */
static int carry_artifacts(jr_judge *j, const jr_lang *lang, jr_error *e)
{
        return jr_carry_artifacts(j->build_dir, j->run_dir, lang, e);
}

/* ---- captured output ---- */

/* A copy of at most `cap` bytes of v (the message cap: more could never be sent). */
static jr_bytes keep_prefix(jr_bytes v, size_t cap, bool *truncated)
{
        size_t n = v.len < cap ? v.len : cap;
        if (n < v.len)
                *truncated = true;
        char *p = jr_memdup(v.ptr, n);
        return (jr_bytes){p, p ? n : 0};
}

/* ---- one jail ---- */

struct jail_io {
        jr_bytes input;
        bool use_input;
        const jr_test_case *interact; /* run beside the interactor on this test */
        jr_jury_verdict *verdict;     /* and its verdict here */
};

static int run_jail(jr_judge *j, const char *tree, const char *work_src, bool work_rw,
                    jr_lang_cmd *cmd, jr_run_config *cfg, const struct jail_io *io,
                    jr_run_result *res, jr_error *e)
{
        char rootfs[PATH_MAX];
        memset(res, 0, sizeof *res);
        res->exit_code = -1;
        if (jr_rootfs_path(j->rootfs_dir, tree, rootfs, sizeof rootfs, e) < 0)
                return -1;
        if (jr_memfd_reset(j->out_fd) < 0 || jr_memfd_reset(j->err_fd) < 0 ||
            jr_memfd_reset(j->in_fd) < 0)
                return jr_error_errno(e, "reset the output buffers");
        if (io->use_input) {
                if (jr_write_all(j->in_fd, io->input.ptr, io->input.len) < 0 ||
                    lseek(j->in_fd, 0, SEEK_SET) < 0)
                        return jr_error_errno(e, "write the test input");
                cfg->stdin_fd = j->in_fd;
        } else {
                cfg->stdin_fd = -1;
        }
        jr_bind work = {.src = work_src, .dst = "/work", .rw = work_rw};
        cfg->rootfs = rootfs;
        cfg->argv = cmd->argv;
        cfg->envp = cmd->envp;
        cfg->workdir = "/work";
        cfg->binds = &work;
        cfg->nbinds = 1;
        cfg->stdout_fd = j->out_fd;
        cfg->stderr_fd = j->err_fd;
        if (io->interact)
                return jr_jury_interact(j->jury, io->interact, j->slot, cfg, res, io->verdict, e);
        return jr_jail_run(j->slot, cfg, res, e);
}

/* ---- the execution ---- */

struct exec_state {
        jr_judge *j;
        const jr_submission *sub;
        const jr_lang *lang;
        jr_judge_event_fn on_event;
        void *ud;
        uint64_t seq;
        jr_result result;
        jr_test_result *tests;
        char error[JR_ERROR_MSG_MAX + 128];
        jr_bytes build_err; /* owned: the compiler's output on BF */
        /* Python's allowed modules for this language (jr_judge_allowed_modules); NULL:
         * no policy */
        const char *const *py_allowed;
        size_t n_py_allowed;
        uint64_t time_ms, mem_bytes;
        uint64_t jail_us; /* every program's wall time in its jail: what is not jailrun's own */
        jr_judge_summary sum;
};

static void emit(struct exec_state *s, jr_event *ev)
{
        if (!s->on_event)
                return;
        jr_buf json = {0};
        jr_error e;
        if (jr_event_json(ev, s->j->lim.max_message_bytes, &json, &e) == 0)
                s->on_event(ev, &json, s->ud);
        free(json.ptr);
}

static void emit_simple(struct exec_state *s, jr_event_type type, jr_status status,
                        int64_t duration, jr_bytes error)
{
        jr_event ev;
        jr_event_init(&ev, type, s->sub->id, s->seq++);
        ev.language = s->sub->language;
        ev.n_tests = (int64_t)s->sub->n_tests;
        ev.status = status;
        ev.duration_ms = duration;
        ev.error = error;
        emit(s, &ev);
}

static jr_status map_run_status(const jr_run_result *r)
{
        switch (r->status) {
        case JR_JAIL_OK:
                return JR_STATUS_OK;
        case JR_JAIL_TL:
                return JR_STATUS_TL;
        case JR_JAIL_ML:
                return JR_STATUS_ML;
        case JR_JAIL_OL:
                return JR_STATUS_OL;
        case JR_JAIL_RE:
                return JR_STATUS_RE;
        default:
                return JR_STATUS_IE;
        }
}

/* The signal that ended the program, 0 when it exited. Without a status of its own it
 * ended with its jail (killed for its time or output, or its init gone), whose pid
 * namespace the kernel empties with SIGKILL. */
static int wire_signal(const jr_run_result *r)
{
        if (r->signal > 0)
                return r->signal;
        return r->exit_code >= 0 ? 0 : SIGKILL;
}

/* The exit code the wire reports (docs/messages.md, "Result"): a program killed by a
 * signal has 128 + the signal, as a shell or Docker reports it. */
static int64_t wire_exit_code(const jr_run_result *r)
{
        int sig = wire_signal(r);
        return sig ? 128 + sig : r->exit_code;
}

/* The compiler's output, for a BF result: its stdout then its stderr, as one text in the
 * result's stderr (some compilers report on stdout), within the message cap. */
static int keep_build_output(struct exec_state *s)
{
        jr_judge *j = s->j;
        jr_bytes out = jr_map_fd(j->out_fd), err = jr_map_fd(j->err_fd);
        size_t cap = j->lim.max_message_bytes;
        size_t n_out = out.len < cap ? out.len : cap;
        size_t n_err = err.len < cap - n_out ? err.len : cap - n_out;
        char *p = malloc(n_out + n_err + 1);
        if (p) {
                if (n_out)
                        memcpy(p, out.ptr, n_out);
                if (n_err)
                        memcpy(p + n_out, err.ptr, n_err);
                p[n_out + n_err] = '\0';
        }
        s->result.truncated = n_out < out.len || n_err < err.len;
        jr_unmap(&out);
        jr_unmap(&err);
        if (!p)
                return -1;
        s->build_err = (jr_bytes){p, n_out + n_err};
        return 0;
}

/* The result of a build that failed: status BF, the compiler's exit code, its output in
 * stderr (keep_build_output) and one line in error, "build failed: <why>". Returns 1. */
static int build_failed(struct exec_state *s, int64_t exit_code, const char *why)
{
        snprintf(s->error, sizeof s->error, "build failed: %s", why);
        s->result.status = JR_STATUS_BF;
        s->result.exit_code = exit_code;
        s->result.std_err = s->build_err;
        s->result.error = jr_bytes_cstr(s->error);
        emit_simple(s, JR_EVENT_BUILD, JR_STATUS_BF, s->result.build_duration_ms, s->result.error);
        return 1;
}

/* Build in the build tree. Returns 0 when the artifacts are in run/, 1 when the build
 * failed (BF, IE: the result is set), < 0 on out-of-memory. */
static int build(struct exec_state *s)
{
        jr_judge *j = s->j;
        const jr_lang *lang = s->lang;
        jr_error e = {0};
        if (s->py_allowed) {
                /* before any jail: an import outside the allowed list is a build failure
                 * that names the module and the list */
                jr_py_import bad;
                if (jr_py_check_imports(s->sub->source.ptr, s->sub->source.len, s->py_allowed,
                                        s->n_py_allowed, &bad)) {
                        /* the message is this build's output (stderr), error one line */
                        char msg[JR_ERROR_MSG_MAX];
                        jr_py_import_message(&bad, s->py_allowed, s->n_py_allowed, msg, sizeof msg);
                        s->build_err.ptr = strdup(msg);
                        if (!s->build_err.ptr)
                                return -1;
                        s->build_err.len = strlen(msg);
                        s->result.build_duration_ms = 0;
                        return build_failed(s, 1, "an import of a module that is not allowed");
                }
                _cleanup_free_ char *guard = jr_py_guard_source(s->py_allowed, s->n_py_allowed);
                if (!guard)
                        return -1;
                jr_bytes text = jr_bytes_cstr(guard);
                if (jr_put_file(j->run_dir, PY_GUARD_FILE, text, 0644, 0, 0, &e) < 0)
                        goto ie;
        }
        if (jr_put_file(lang->build ? j->build_dir : j->run_dir, lang->source, s->sub->source, 0644,
                        0, 0, &e) < 0)
                goto ie;
        if (!lang->build) {
                emit_simple(s, JR_EVENT_BUILD, JR_STATUS_OK, 0, JR_BYTES_LIT(""));
                return 0;
        }
        jr_lang_cmd cmd = {0};
        if (jr_lang_command(lang, JR_LANG_BUILD, lang->build_memory_bytes, &cmd, &e) < 0)
                goto ie;
        jr_run_config cfg;
        jr_run_config_init(&cfg);
        /* a parallel build may use more CPU than wall */
        cfg.cpu_ms = 2 * lang->build_time_ms * j->lim.time_scale;
        cfg.wall_ms = lang->build_time_ms * j->lim.time_scale;
        cfg.mem_bytes = lang->build_memory_bytes;
        cfg.pids = lang->build_pids;
        cfg.nofile = lang->build_nofile;
        cfg.tmp_size = lang->build_tmp_bytes;
        cfg.output_limit = BUILD_OUTPUT_LIMIT;
        cfg.fsize = j->lim.work_bytes;
        jr_run_result res;
        struct jail_io io = {.use_input = false};
        int r = run_jail(j, lang->build_rootfs, j->build_dir, true, &cmd, &cfg, &io, &res, &e);
        jr_lang_cmd_free(&cmd);
        s->sum.build_ms = res.wall_ms;
        s->jail_us += res.wall_us;
        s->result.build_duration_ms = (int64_t)res.wall_ms;
        if (r < 0) {
                s->sum.sandbox_failures++;
                jr_error_wrap(&e, "build");
                goto ie;
        }
        if (res.status == JR_JAIL_OK) {
                if (carry_artifacts(j, lang, &e) < 0)
                        goto ie;
                char why[512];
                int c = jr_check_artifacts(j->run_dir, lang, why, sizeof why, &e);
                if (c < 0)
                        goto ie;
                if (c > 0) {
                        /* the compiler succeeded, but made no program */
                        if (keep_build_output(s) < 0)
                                return -1;
                        return build_failed(s, wire_exit_code(&res), why);
                }
                emit_simple(s, JR_EVENT_BUILD, JR_STATUS_OK, (int64_t)res.wall_ms,
                            JR_BYTES_LIT(""));
                return 0;
        }

        /* BF: whatever stopped the compiler, its output says why. */
        if (keep_build_output(s) < 0)
                return -1;
        char why[96];
        if (res.status == JR_JAIL_TL)
                snprintf(why, sizeof why, "the compiler ran out of time (%s)", res.reason);
        else if (res.status == JR_JAIL_ML)
                snprintf(why, sizeof why, "the compiler ran out of memory");
        else if (res.status == JR_JAIL_OL)
                snprintf(why, sizeof why, "the compiler's output exceeded the limit");
        else if (res.signal > 0)
                snprintf(why, sizeof why, "the compiler was killed by signal %d", res.signal);
        else
                snprintf(why, sizeof why, "exit code %d", res.exit_code);
        return build_failed(s, wire_exit_code(&res), why);
ie:
        snprintf(s->error, sizeof s->error, "%s", e.msg);
        s->result.status = JR_STATUS_IE;
        s->result.error = jr_bytes_cstr(s->error);
        emit_simple(s, JR_EVENT_BUILD, JR_STATUS_IE, -1, s->result.error);
        return 1;
}

/* Build the submission's checker program and interactor, when it has them. 0 when they
 * are ready, 1 when one failed (IE: the result is set). */
static int build_jury(struct exec_state *s)
{
        uint64_t wall_us;
        bool sandbox;
        jr_error e = {0};
        int r = jr_jury_build(s->j->jury, s->j->work, s->j->langs, s->sub, &wall_us, &sandbox, &e);
        s->jail_us += wall_us;
        if (r == 0)
                return 0;
        if (sandbox)
                s->sum.sandbox_failures++;
        snprintf(s->error, sizeof s->error, "%s", e.msg);
        s->result.status = JR_STATUS_IE;
        s->result.error = jr_bytes_cstr(s->error);
        return 1;
}

static void emit_test(struct exec_state *s, const jr_test_result *t)
{
        jr_event ev;
        jr_event_init(&ev, JR_EVENT_TEST, s->sub->id, s->seq++);
        ev.test = t;
        emit(s, &ev);
}

/* Add "NAME=value" to a command's environment (the allowed-modules guard's path). */
static int env_append(jr_lang_cmd *cmd, const char *kv, jr_error *e)
{
        size_t n = 0;
        while (cmd->envp && cmd->envp[n])
                n++;
        char **v = realloc(cmd->envp, (n + 2) * sizeof *v);
        if (!v)
                return jr_error_set(e, ENOMEM, "environment");
        cmd->envp = v;
        v[n] = strdup(kv);
        v[n + 1] = NULL;
        return v[n] ? 0 : jr_error_set(e, ENOMEM, "environment");
}

/* The jury's part of test t, after the program's run: an interactor's verdict, then a
 * checker program's when the test is still OK (on the interactor's output file after
 * an interactor, else on the program's stdout). False when the submission has no jury
 * programs: the built-in comparison decides. */
static bool judge_by_jury(struct exec_state *s, const jr_test_case *tc, jr_test_result *t,
                          const jr_run_result *res, jr_jury_verdict *iv, uint64_t *budget_left_ms)
{
        const jr_submission *sub = s->sub;
        if (!jr_jury_needed(sub))
                return false;
        if (sub->interactor.given) {
                if (iv->sandbox_failure)
                        s->sum.sandbox_failures++;
                if (t->status != JR_STATUS_NOT_RUN)
                        jr_jury_apply_interaction(iv, res->signal, t);
                jr_jury_verdict_free(iv);
        }
        if (sub->checker_program.given && t->status == JR_STATUS_OK) {
                jr_jury_verdict cv;
                if (jr_jury_check(s->j->jury, tc, sub->interactor.given ? -1 : s->j->out_fd, &cv) <
                    0) {
                        t->status = JR_STATUS_IE;
                        t->error = jr_bytes_cstr(strdup("judge: out of memory"));
                } else {
                        jr_jury_apply_check(&cv, t);
                }
                if (cv.sandbox_failure)
                        s->sum.sandbox_failures++;
                s->jail_us += cv.wall_us;
                *budget_left_ms = *budget_left_ms > cv.wall_ms ? *budget_left_ms - cv.wall_ms : 0;
                jr_jury_verdict_free(&cv);
        }
        return true;
}

/* Run test i. Returns false when the tests after it must not run. */
static bool run_test(struct exec_state *s, size_t i, uint64_t *budget_left_ms)
{
        jr_judge *j = s->j;
        const jr_test_case *tc = &s->sub->tests[i];
        jr_test_result *t = &s->tests[i];
        jr_error e = {0};

        /* The time limit is CPU time; the wall limit only ends a program that does not
         * use its CPU (sleeping, blocked, waiting on a lock), so it is the time limit plus
         * a margin for the host's own load, not a multiple of it (README, "The judge"). */
        uint64_t cpu = s->time_ms;
        uint64_t wall = s->time_ms + j->lim.wall_margin_ms;
        if (tc->wall_limit_ms) {
                /* A test's own wall limit (the Executor Service's timeoutMs, a wall-clock
                 * limit and nothing else) replaces that, and caps the CPU limit too: there
                 * the program ran on one CPU (EXECUTOR_NANO_CPUS), where CPU time cannot
                 * outgrow wall time, so CPU = wall ends nothing it let finish, while a
                 * program with threads here cannot do more work than it could there. */
                wall = tc->wall_limit_ms;
                if (cpu > wall)
                        cpu = wall;
        } else if (j->lim.nano_cpus && j->lim.nano_cpus < 1000000000u) {
                /* Under a CPU bandwidth of less than one CPU a busy program gets its time limit
                 * of CPU in time_ms / CPUs of wall time: stretch the wall limit by as much, so
                 * that the CPU limit still decides (and TL still says "cpu time"). */
                uint64_t cpus_ms =
                    s->time_ms < UINT64_MAX / 1000000000u
                        ? (s->time_ms * 1000000000u + j->lim.nano_cpus - 1) / j->lim.nano_cpus
                        : UINT64_MAX;
                wall = cpus_ms < j->lim.max_test_wall_ms ? cpus_ms + j->lim.wall_margin_ms
                                                         : j->lim.max_test_wall_ms;
        }
        if (wall > j->lim.max_test_wall_ms)
                wall = j->lim.max_test_wall_ms;
        wall *= j->lim.time_scale;
        bool budget_cut = false;
        if (wall > *budget_left_ms) {
                wall = *budget_left_ms;
                budget_cut = true;
        }
        jr_lang_cmd cmd = {0};
        if (jr_lang_command(s->lang, JR_LANG_RUN, s->mem_bytes, &cmd, &e) < 0 ||
            (s->py_allowed && env_append(&cmd, PY_GUARD_PATH, &e) < 0)) {
                jr_lang_cmd_free(&cmd);
                t->status = JR_STATUS_IE;
                t->error = jr_bytes_cstr(strdup(e.msg));
                emit_test(s, t);
                return false;
        }
        jr_run_config cfg;
        jr_run_config_init(&cfg);
        cfg.cpu_ms = cpu * j->lim.time_scale;
        cfg.wall_ms = wall;
        cfg.nano_cpus = j->lim.nano_cpus;
        cfg.mem_bytes = s->mem_bytes;
        cfg.pids = j->lim.run_pids + s->lang->run_extra_pids;
        cfg.output_limit = j->lim.output_limit_bytes;
        cfg.fsize = j->lim.output_limit_bytes;
        jr_run_result res;
        struct jail_io io = {.input = tc->input, .use_input = true};
        jr_jury_verdict jury = {0};
        if (s->sub->interactor.given)
                io = (struct jail_io){.interact = tc, .verdict = &jury};
        int r = run_jail(j, s->lang->run_rootfs, j->run_dir, false, &cmd, &cfg, &io, &res, &e);
        jr_lang_cmd_free(&cmd);
        s->sum.tests_run++;
        s->jail_us += res.wall_us;
        s->sum.tests_ms += res.wall_ms;
        *budget_left_ms = *budget_left_ms > res.wall_ms ? *budget_left_ms - res.wall_ms : 0;

        if (r < 0) {
                s->sum.sandbox_failures++;
                t->status = JR_STATUS_IE;
                t->error = jr_bytes_cstr(strdup(e.msg));
                jr_jury_verdict_free(&jury);
                emit_test(s, t);
                return false;
        }
        t->duration_ms = (int64_t)res.wall_ms;
        t->cpu_ms = (int64_t)res.cpu_ms;
        t->memory_bytes = (int64_t)res.memory_peak_bytes;
        t->exit_code = wire_exit_code(&res);
        t->signal = wire_signal(&res);
        jr_bytes out = jr_map_fd(j->out_fd), err = jr_map_fd(j->err_fd);
        t->status = map_run_status(&res);
        /* A runtime that reports running out of its heap itself (the JVM's
         * ExitOnOutOfMemoryError notice is on stdout, Python's MemoryError on stderr) hit
         * the memory limit as surely as one the kernel killed. */
        if (t->status == JR_STATUS_RE && (jr_lang_output_says_oom(s->lang, out.ptr, out.len) ||
                                          jr_lang_output_says_oom(s->lang, err.ptr, err.len)))
                t->status = JR_STATUS_ML;
        if (t->status == JR_STATUS_TL && budget_cut && !strcmp(res.reason, "wall time")) {
                t->status = JR_STATUS_NOT_RUN;
                t->error = jr_bytes_cstr(strdup("the execution's total testing time ran out"));
        }
        if (!judge_by_jury(s, tc, t, &res, &jury, budget_left_ms) && t->status == JR_STATUS_OK &&
            tc->has_expected_output) {
                /* the host's default unless the submission names its checker */
                bool own = s->sub->checker_given;
                int m = jr_checker_run(own ? s->sub->checker : j->lim.default_checker,
                                       own ? s->sub->checker_eps : j->lim.default_checker_eps, out,
                                       tc->expected_output);
                if (m < 0)
                        t->error =
                            jr_bytes_cstr(strdup("judge: out of memory comparing the output"));
                t->status = m == 1 ? JR_STATUS_OK : m == 0 ? JR_STATUS_WA : JR_STATUS_IE;
        }
        if (t->status != JR_STATUS_OK && t->status != JR_STATUS_WA && !t->error.len) {
                char msg[160];
                snprintf(msg, sizeof msg, "%s", res.reason);
                t->error = jr_bytes_cstr(strdup(msg));
        }
        t->std_out = keep_prefix(out, j->lim.max_message_bytes, &t->truncated);
        t->std_err = keep_prefix(err, j->lim.max_message_bytes, &t->truncated);
        jr_unmap(&out);
        jr_unmap(&err);
        emit_test(s, t);
        return t->status == JR_STATUS_OK || !s->sub->stop_on_failure;
}

static void free_tests(struct exec_state *s)
{
        if (!s->tests)
                return;
        for (size_t i = 0; i < s->sub->n_tests; i++) {
                free((char *)s->tests[i].std_out.ptr);
                free((char *)s->tests[i].std_err.ptr);
                free((char *)s->tests[i].error.ptr);
                free((char *)s->tests[i].checker_output.ptr);
        }
        free(s->tests);
}

/* The result's top level from its tests (docs/messages.md, "Result"): the last non-zero
 * exit code, else 0; the sum of the run times (the build is build_duration_ms); the
 * stdout and the stderr of the last test that wrote any. With no tests, the one run's. */
static void top_level_from_tests(struct exec_state *s)
{
        jr_result *r = &s->result;
        const jr_test_result *out = NULL, *err = NULL;
        r->exit_code = 0;
        r->duration_ms = 0;
        for (size_t i = 0; i < s->sub->n_tests; i++) {
                const jr_test_result *t = &s->tests[i];
                if (t->exit_code != 0)
                        r->exit_code = t->exit_code;
                if (t->duration_ms > 0)
                        r->duration_ms += t->duration_ms;
                if (t->std_out.len)
                        out = t;
                if (t->std_err.len)
                        err = t;
        }
        if (out)
                r->std_out = out->std_out;
        if (err)
                r->std_err = err->std_err;
        /* a text cut at capture is cut here too */
        r->truncated = (out && out->truncated) || (err && err->truncated);
}

/* The limits this execution really gets, or an IE naming the one that is wrong. */
static int choose_limits(struct exec_state *s, jr_error *e)
{
        const jr_judge_limits *l = &s->j->lim;
        s->time_ms = s->sub->time_limit_ms ? s->sub->time_limit_ms : l->default_time_ms;
        uint64_t mem =
            s->sub->memory_limit_bytes ? s->sub->memory_limit_bytes : l->default_memory_bytes;
        if (mem > l->max_memory_bytes)
                return jr_error_set(e, EINVAL,
                                    "field \"limits.memory_limit_bytes\": %llu is above the host "
                                    "maximum of %llu bytes",
                                    (unsigned long long)mem,
                                    (unsigned long long)l->max_memory_bytes);
        s->mem_bytes = jr_lang_memory(s->lang, mem);
        if (s->time_ms != s->sub->time_limit_ms)
                s->result.time_limit_ms_used = (int64_t)s->time_ms;
        if (s->mem_bytes != s->sub->memory_limit_bytes)
                s->result.memory_limit_bytes_used = (int64_t)s->mem_bytes;
        return 0;
}

/* The summary's times, the execution having started at t0_us: the whole, the programs'
 * part (their time in their jails), and jailrun's own, the rest. */
static void sum_times(struct exec_state *s, uint64_t t0_us)
{
        uint64_t total_us = jr_mono_us() - t0_us;
        s->sum.total_ms = total_us / 1000;
        s->sum.jail_ms = s->jail_us / 1000;
        s->sum.own_us = total_us > s->jail_us ? total_us - s->jail_us : 0;
}

int jr_judge_submission(jr_judge *j, const jr_submission *sub, jr_judge_event_fn on_event,
                        void *userdata, jr_buf *result_json, jr_judge_summary *summary, jr_error *e)
{
        uint64_t t0 = jr_mono_us();
        struct exec_state s = {.j = j, .sub = sub, .on_event = on_event, .ud = userdata};
        jr_result_init(&s.result, sub->id);
        jr_error err = {0};
        int ret = 0;
        bool work = false, invalid = true;

        s.tests = calloc(sub->n_tests ? sub->n_tests : 1, sizeof *s.tests);
        if (!s.tests)
                return jr_error_set(e, ENOMEM, "judge: allocate %zu test results", sub->n_tests);
        for (size_t i = 0; i < sub->n_tests; i++) {
                const jr_test_case *tc = &sub->tests[i];
                jr_test_result_init(&s.tests[i], tc->number);
                /* until it runs: the wire's "not run" test, exit code 0 and 0 ms */
                s.tests[i].exit_code = 0;
                s.tests[i].duration_ms = 0;
                s.tests[i].input = tc->input;
                s.tests[i].expected_output =
                    tc->has_expected_output ? tc->expected_output : JR_BYTES_LIT("");
        }

        emit_simple(&s, JR_EVENT_ACCEPTED, JR_STATUS_OK, -1, JR_BYTES_LIT(""));
        s.lang = jr_lang_find(j->langs, sub->language.ptr);
        if (!s.lang) {
                jr_error_set(&err, EINVAL, "field \"language\": unknown language \"%s\"",
                             sub->language.ptr);
                goto ie;
        }
        s.py_allowed = jr_judge_allowed_modules(s.lang, j->py_allowed, &s.n_py_allowed);
        if (choose_limits(&s, &err) < 0)
                goto ie;
        invalid = false;
        if (work_open(j, &err) < 0)
                goto ie;
        work = true;
        int b = build(&s);
        if (b == 0)
                b = build_jury(&s);
        if (b < 0) {
                ret = jr_error_set(e, ENOMEM, "judge: out of memory");
                goto out;
        }
        if (b == 0) {
                uint64_t budget = j->lim.max_total_ms * j->lim.time_scale;
                size_t i = 0;
                for (; i < sub->n_tests; i++)
                        if (!run_test(&s, i, &budget) || budget == 0) {
                                i++;
                                break;
                        }
                /* the rest were not run: they still get a test event each, in order */
                for (; i < sub->n_tests; i++)
                        emit_test(&s, &s.tests[i]);
                s.result.status = jr_overall_status(s.tests, sub->n_tests);
                /* a sandbox failure in a test is the submission's failure: say why */
                for (size_t k = 0; k < sub->n_tests && s.result.status == JR_STATUS_IE; k++)
                        if (s.tests[k].status == JR_STATUS_IE) {
                                s.result.error = s.tests[k].error;
                                break;
                        }
                top_level_from_tests(&s);
                if (!sub->tests_given && s.tests[0].error.len && s.result.status != JR_STATUS_OK)
                        s.result.error = s.tests[0].error;
        } else {
                /* BF, or IE in the build: no test ran; the exit code is the compiler's */
                s.result.duration_ms = 0;
                if (s.result.exit_code < 0)
                        s.result.exit_code = 0;
        }
        goto done;
ie:
        snprintf(s.error, sizeof s.error, "%s", err.msg);
        s.result.status = JR_STATUS_IE;
        s.result.error = jr_bytes_cstr(s.error);
        /* exit_code and duration_ms stay null only for an invalid submission */
        if (!invalid)
                s.result.exit_code = s.result.duration_ms = 0;
done:
        sum_times(&s, t0);
        if (sub->tests_given) {
                s.result.tests = s.tests;
                s.result.n_tests = sub->n_tests;
        }
        {
                jr_event ev;
                jr_event_init(&ev, JR_EVENT_DONE, sub->id, s.seq++);
                ev.status = s.result.status;
                ev.duration_ms = s.result.duration_ms;
                emit(&s, &ev);
        }
        s.sum.status = s.result.status;
        if (jr_result_json(&s.result, j->lim.max_message_bytes, result_json, e) < 0)
                ret = -1;
        if (summary)
                *summary = s.sum;
out:
        if (work)
                work_close(j);
        free_tests(&s);
        free((char *)s.build_err.ptr);
        return ret;
}
