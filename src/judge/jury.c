/* Checker programs and interactors. See jury.h. */
#include "jury.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "artifacts.h"
#include "cleanup.h"
#include "io.h"
#include "clock.h"
#include "rootfs.h"
#include "strv.h"

#define BUILD_OUTPUT_LIMIT (4ull << 20) /* compiler messages beyond this are noise */

/* One of the jury's programs, built for the current execution. */
struct program {
        const char *name; /* "checker", "interactor" */
        const jr_lang *lang;
        char build_dir[PATH_MAX];
        char run_dir[PATH_MAX];
};

struct jr_jury {
        jr_slot *slot; /* the contestant's */
        jr_slot *own;  /* the jury's, made on first use */
        char rootfs_dir[PATH_MAX];
        jr_judge_limits lim;
        int out_fd, err_fd; /* memfds for the jury programs' output */
        char io_dir[PATH_MAX];
        struct program checker, interactor;
};

int jr_jury_new(jr_slot *slot, const char *rootfs_dir, const jr_judge_limits *lim, jr_jury **out,
                jr_error *e)
{
        jr_jury *j = calloc(1, sizeof *j);
        if (!j)
                return jr_error_set(e, ENOMEM, "jury");
        j->slot = slot;
        j->out_fd = j->err_fd = -1;
        snprintf(j->rootfs_dir, sizeof j->rootfs_dir, "%s", rootfs_dir);
        j->lim = *lim;
        j->checker.name = "checker";
        j->interactor.name = "interactor";
        *out = j;
        return 0;
}

void jr_jury_free(jr_jury *j)
{
        if (!j)
                return;
        jr_slot_free(j->own);
        if (j->out_fd >= 0)
                close(j->out_fd);
        if (j->err_fd >= 0)
                close(j->err_fd);
        free(j);
}

bool jr_jury_needed(const jr_submission *sub)
{
        return sub->checker_program.given || sub->interactor.given;
}

void jr_jury_verdict_free(jr_jury_verdict *v)
{
        free((char *)v->output.ptr);
        v->output = (jr_bytes){0};
}

/* The jury's slot and buffers, made once. */
static int jury_ready(jr_jury *j, jr_error *e)
{
        if (!j->own && jr_slot_index(j->slot) >= JR_JURY_ID_OFFSET)
                return jr_error_set(e, ERANGE,
                                    "checker programs and interactors need a jail slot below %u "
                                    "(theirs is the slot + %u), not %u",
                                    JR_JURY_ID_OFFSET, JR_JURY_ID_OFFSET, jr_slot_index(j->slot));
        if (!j->own) {
                /* Never the contestant's ids: a contestant's process (an interactive
                 * program runs at the same time) must not be able to signal, trace or
                 * read the jury's. Offset within the 65536 ids reserved above the base. */
                unsigned idx = jr_slot_index(j->slot) + JR_JURY_ID_OFFSET;
                uid_t uid = jr_slot_uid(j->slot) + JR_JURY_ID_OFFSET;
                gid_t gid = jr_slot_gid(j->slot) + JR_JURY_ID_OFFSET;
                if (jr_slot_new(jr_slot_sandbox(j->slot), idx, uid, gid, &j->own, e) < 0)
                        return jr_error_wrap(e, "the jury's jail slot");
        }
        if (j->out_fd < 0 && (j->out_fd = memfd_create("jailrun-jury-out", MFD_CLOEXEC)) < 0)
                return jr_error_errno(e, "memfd_create");
        if (j->err_fd < 0 && (j->err_fd = memfd_create("jailrun-jury-err", MFD_CLOEXEC)) < 0)
                return jr_error_errno(e, "memfd_create");
        return 0;
}

/* ---- files ---- */

static int make_dir(const char *path, mode_t mode, uid_t uid, gid_t gid, jr_error *e)
{
        if (mkdir(path, mode) < 0)
                return jr_error_errno(e, "mkdir \"%s\"", path);
        if (uid && chown(path, uid, gid) < 0)
                return jr_error_errno(e, "chown \"%s\"", path);
        return 0;
}

/* The jury program's stderr then stdout, as one malloc'd string. */
static int collect_output(jr_jury *j, jr_jury_verdict *v)
{
        jr_bytes err = jr_map_fd(j->err_fd), out = jr_map_fd(j->out_fd);
        size_t n = err.len + out.len;
        char *p = malloc(n + 1);
        if (p) {
                if (err.len)
                        memcpy(p, err.ptr, err.len);
                if (out.len)
                        memcpy(p + err.len, out.ptr, out.len);
                p[n] = '\0';
                v->output = (jr_bytes){p, n};
        }
        jr_unmap(&err);
        jr_unmap(&out);
        return p ? 0 : -1;
}

/* ---- the verdict of a jury program ---- */

static const char *testlib_code(int code)
{
        switch (code) {
        case 2:
                return "presentation error";
        case 3:
                return "testlib's fail";
        case 4:
                return "testlib's dirt";
        case 7:
                return "testlib's points, not supported";
        case 8:
                return "unexpected end of file";
        default:
                return NULL;
        }
}

void jr_jury_exit_verdict(const char *who, const jr_run_result *r, jr_jury_verdict *v)
{
        v->wall_ms = r->wall_ms;
        v->wall_us = r->wall_us;
        const char *what = r->exit_code >= 0 ? testlib_code(r->exit_code) : NULL;
        if (r->status == JR_JAIL_OK) {
                v->status = JR_STATUS_OK;
        } else if (r->status == JR_JAIL_RE && (r->exit_code == 1 || r->exit_code == 2 ||
                                               r->exit_code == 4 || r->exit_code == 8)) {
                v->status = JR_STATUS_WA;
                if (what)
                        snprintf(v->error, sizeof v->error, "%s (%s exit code %d)", what, who,
                                 r->exit_code);
        } else if (r->status == JR_JAIL_RE && r->signal == SIGPIPE && !strcmp(who, "interactor")) {
                /* its only reader is the program: the program stopped reading (ended, or
                 * closed its stdin) while the interactor still had something to say */
                v->status = JR_STATUS_WA;
                snprintf(v->error, sizeof v->error,
                         "the program stopped reading before the interactor finished");
        } else {
                v->status = JR_STATUS_IE;
                const char *kind = r->status == JR_JAIL_TL   ? "time limit"
                                   : r->status == JR_JAIL_ML ? "memory limit"
                                   : r->status == JR_JAIL_OL ? "output limit"
                                                             : NULL;
                if (kind)
                        snprintf(v->error, sizeof v->error, "%s failed: %s (%s)", who, kind,
                                 r->reason);
                else if (what)
                        snprintf(v->error, sizeof v->error, "%s failed: %s (%s)", who, r->reason,
                                 what);
                else
                        snprintf(v->error, sizeof v->error, "%s failed: %s", who, r->reason);
        }
}

static void sandbox_verdict(const char *who, const jr_error *e, jr_jury_verdict *v)
{
        v->status = JR_STATUS_IE;
        v->sandbox_failure = true;
        snprintf(v->error, sizeof v->error, "%s: %s", who, e->msg);
}

jr_status jr_jury_interactive_status(jr_status program, int program_signal,
                                     const jr_jury_verdict *v, const char **error)
{
        *error = v->error;
        if (v->status == JR_STATUS_IE)
                return JR_STATUS_IE;
        if (program == JR_STATUS_OK)
                return v->status;
        if (program == JR_STATUS_RE && program_signal == SIGPIPE)
                return v->status; /* it wrote after the interactor had finished */
        *error = "";
        return program;
}

static void set_error(jr_test_result *t, const char *msg)
{
        if (!msg[0])
                return;
        free((char *)t->error.ptr);
        t->error = jr_bytes_cstr(strdup(msg));
}

/* The jury program's output becomes the test's checker_output ("" when it did not run:
 * the field still says that a jury program judged the test). */
static void take_output(jr_jury_verdict *v, jr_test_result *t)
{
        free((char *)t->checker_output.ptr);
        t->checker_output = v->output.ptr ? v->output : jr_bytes_cstr(strdup(""));
        v->output = (jr_bytes){0};
}

void jr_jury_apply_check(jr_jury_verdict *v, jr_test_result *t)
{
        t->status = v->status;
        set_error(t, v->error);
        take_output(v, t);
}

void jr_jury_apply_interaction(jr_jury_verdict *v, int program_signal, jr_test_result *t)
{
        const char *why;
        t->status = jr_jury_interactive_status(t->status, program_signal, v, &why);
        set_error(t, why);
        take_output(v, t);
}

/* ---- build ---- */

static int build_program(jr_jury *j, struct program *p, const char *work, const jr_lang *lang,
                         jr_bytes source, uint64_t *wall_us, bool *sandbox_failure, jr_error *e)
{
        uid_t uid = jr_slot_uid(j->own);
        gid_t gid = jr_slot_gid(j->own);
        p->lang = lang;
        snprintf(p->build_dir, sizeof p->build_dir, "%s/jury/%s-build", work, p->name);
        snprintf(p->run_dir, sizeof p->run_dir, "%s/jury/%s", work, p->name);
        *sandbox_failure = true;
        if (make_dir(p->build_dir, 0700, uid, gid, e) < 0 ||
            make_dir(p->run_dir, 0755, 0, 0, e) < 0)
                return jr_error_wrap(e, "%s", p->name);
        if (!lang->build) {
                if (jr_put_file(p->run_dir, lang->source, source, 0644, 0, 0, e) < 0)
                        return jr_error_wrap(e, "%s", p->name);
                return 0;
        }
        if (jr_put_file(p->build_dir, lang->source, source, 0644, uid, gid, e) < 0)
                return jr_error_wrap(e, "%s", p->name);

        char rootfs[PATH_MAX];
        if (jr_rootfs_path(j->rootfs_dir, lang->build_rootfs, rootfs, sizeof rootfs, e) < 0)
                return jr_error_wrap(e, "%s", p->name);
        _cleanup_(jr_lang_cmd_free) jr_lang_cmd cmd = {0};
        if (jr_lang_command(lang, JR_LANG_BUILD, lang->build_memory_bytes, &cmd, e) < 0)
                return jr_error_wrap(e, "%s", p->name);
        if (jr_memfd_reset(j->out_fd) < 0 || jr_memfd_reset(j->err_fd) < 0)
                return jr_error_errno(e, "%s: reset the output buffers", p->name);
        jr_bind bind = {.src = p->build_dir, .dst = "/work", .rw = true};
        jr_run_config cfg;
        jr_run_config_init(&cfg);
        cfg.rootfs = rootfs;
        cfg.argv = cmd.argv;
        cfg.envp = cmd.envp;
        cfg.binds = &bind;
        cfg.nbinds = 1;
        cfg.cpu_ms = 2 * lang->build_time_ms * j->lim.time_scale;
        cfg.wall_ms = lang->build_time_ms * j->lim.time_scale;
        cfg.mem_bytes = lang->build_memory_bytes;
        cfg.pids = lang->build_pids;
        cfg.tmp_size = lang->build_tmp_bytes;
        cfg.output_limit = BUILD_OUTPUT_LIMIT;
        cfg.fsize = j->lim.work_bytes;
        cfg.stdout_fd = j->out_fd;
        cfg.stderr_fd = j->err_fd;
        jr_run_result res;
        int r = jr_jail_run(j->own, &cfg, &res, e);
        *wall_us += res.wall_us;
        if (r < 0)
                return jr_error_wrap(e, "%s: build", p->name);
        *sandbox_failure = false;
        if (res.status != JR_JAIL_OK) {
                /* the compiler's messages: stderr, else stdout */
                jr_bytes err = jr_map_fd(j->err_fd), out = jr_map_fd(j->out_fd);
                jr_bytes msgs = err.len ? err : out;
                int shown = msgs.len > 2048 ? 2048 : (int)msgs.len;
                jr_error_set(e, 0, "%s failed: build failed (%s)%s%.*s", p->name, res.reason,
                             msgs.len ? ":\n" : "", shown, msgs.ptr ? msgs.ptr : "");
                jr_unmap(&err);
                jr_unmap(&out);
                return -1;
        }
        *sandbox_failure = true;
        if (jr_carry_artifacts(p->build_dir, p->run_dir, lang, e) < 0)
                return jr_error_wrap(e, "%s", p->name);
        return 0;
}

int jr_jury_build(jr_jury *j, const char *work, const jr_lang_set *langs, const jr_submission *sub,
                  uint64_t *wall_us, bool *sandbox_failure, jr_error *e)
{
        *wall_us = 0;
        *sandbox_failure = false;
        j->checker.lang = j->interactor.lang = NULL;
        if (!jr_jury_needed(sub))
                return 0;
        *sandbox_failure = true;
        if (jury_ready(j, e) < 0)
                return -1;
        char dir[PATH_MAX];
        snprintf(dir, sizeof dir, "%s/jury", work);
        snprintf(j->io_dir, sizeof j->io_dir, "%s/jury/io", work);
        if (make_dir(dir, 0755, 0, 0, e) < 0 || make_dir(j->io_dir, 0755, 0, 0, e) < 0)
                return -1;
        struct {
                struct program *p;
                const jr_jury_program *given;
        } progs[] = {{&j->checker, &sub->checker_program}, {&j->interactor, &sub->interactor}};
        for (size_t i = 0; i < JR_ARRAY_SIZE(progs); i++) {
                if (!progs[i].given->given)
                        continue;
                const jr_lang *lang = jr_lang_find(langs, progs[i].given->language.ptr);
                if (!lang) {
                        *sandbox_failure = false;
                        return jr_error_set(e, EINVAL,
                                            "field \"%s.language\": unknown language "
                                            "\"%s\"",
                                            progs[i].p->name, progs[i].given->language.ptr);
                }
                if (build_program(j, progs[i].p, work, lang, progs[i].given->source, wall_us,
                                  sandbox_failure, e) < 0)
                        return -1;
        }
        *sandbox_failure = false;
        return 0;
}

/* ---- runs ---- */

/* The run configuration of a jury program: its tree, its command with the three file
 * arguments, its artifacts at /work and the test's files at /io. */
struct jury_run {
        char rootfs[PATH_MAX];
        jr_lang_cmd cmd;
        char in[PATH_MAX + 16], out[PATH_MAX + 16], ans[PATH_MAX + 16];
        jr_bind binds[4];
        jr_run_config cfg;
};

static int jury_run_prepare(jr_jury *j, const struct program *p, struct jury_run *r,
                            const char *output_name, bool output_rw, jr_error *e)
{
        /* at most what a submission may ask for on this host, at least what the
         * language needs */
        uint64_t mem = jr_lang_memory(p->lang, JR_JURY_MEMORY_BYTES < j->lim.max_memory_bytes
                                                   ? JR_JURY_MEMORY_BYTES
                                                   : j->lim.max_memory_bytes);
        if (jr_rootfs_path(j->rootfs_dir, p->lang->run_rootfs, r->rootfs, sizeof r->rootfs, e) <
                0 ||
            jr_lang_command(p->lang, JR_LANG_RUN, mem, &r->cmd, e) < 0 ||
            jr_strv_push(&r->cmd.argv, "/io/input", e) < 0 ||
            jr_strv_push(&r->cmd.argv, "/io/output", e) < 0 ||
            jr_strv_push(&r->cmd.argv, "/io/answer", e) < 0)
                return -1;
        snprintf(r->in, sizeof r->in, "%s/input", j->io_dir);
        snprintf(r->out, sizeof r->out, "%s/%s", j->io_dir, output_name);
        snprintf(r->ans, sizeof r->ans, "%s/answer", j->io_dir);
        r->binds[0] = (jr_bind){.src = p->run_dir, .dst = "/work"};
        r->binds[1] = (jr_bind){.src = r->in, .dst = "/io/input"};
        r->binds[2] = (jr_bind){.src = r->out, .dst = "/io/output", .rw = output_rw};
        r->binds[3] = (jr_bind){.src = r->ans, .dst = "/io/answer"};
        if (jr_memfd_reset(j->out_fd) < 0 || jr_memfd_reset(j->err_fd) < 0)
                return jr_error_errno(e, "reset the output buffers");
        jr_run_config *cfg = &r->cfg;
        jr_run_config_init(cfg);
        cfg->rootfs = r->rootfs;
        cfg->argv = r->cmd.argv;
        cfg->envp = r->cmd.envp;
        cfg->binds = r->binds;
        cfg->nbinds = JR_ARRAY_SIZE(r->binds);
        cfg->cpu_ms = JR_JURY_CHECKER_CPU_MS * j->lim.time_scale;
        cfg->wall_ms = JR_JURY_CHECKER_WALL_MS * j->lim.time_scale;
        cfg->mem_bytes = mem;
        cfg->pids = j->lim.run_pids + p->lang->run_extra_pids;
        cfg->output_limit = JR_JURY_OUTPUT_LIMIT;
        cfg->fsize = j->lim.output_limit_bytes;
        cfg->stdout_fd = j->out_fd;
        cfg->stderr_fd = j->err_fd;
        return 0;
}

/* The test's input and answer, root's and read-only for every jail. */
static int put_test_files(jr_jury *j, const jr_test_case *tc, jr_error *e)
{
        if (jr_put_file(j->io_dir, "input", tc->input, 0644, 0, 0, e) < 0 ||
            jr_put_file(j->io_dir, "answer",
                        tc->has_expected_output ? tc->expected_output : JR_BYTES_LIT(""), 0644, 0,
                        0, e) < 0)
                return -1;
        return 0;
}

int jr_jury_check(jr_jury *j, const jr_test_case *tc, int output_fd, jr_jury_verdict *v)
{
        *v = (jr_jury_verdict){.status = JR_STATUS_IE};
        jr_error e = {0};
        struct jury_run r = {0};
        int ret = 0;
        if (put_test_files(j, tc, &e) < 0)
                goto sandbox;
        if (output_fd >= 0) {
                jr_bytes out = jr_map_fd(output_fd);
                int w = jr_put_file(j->io_dir, "output", out, 0644, 0, 0, &e);
                jr_unmap(&out);
                if (w < 0)
                        goto sandbox;
        }
        if (jury_run_prepare(j, &j->checker, &r, output_fd >= 0 ? "output" : "tout", false, &e) < 0)
                goto sandbox;
        jr_run_result res;
        if (jr_jail_run(j->own, &r.cfg, &res, &e) < 0)
                goto sandbox;
        jr_jury_exit_verdict("checker", &res, v);
        if (collect_output(j, v) < 0)
                ret = -1;
        jr_lang_cmd_free(&r.cmd);
        return ret;
sandbox:
        jr_lang_cmd_free(&r.cmd);
        sandbox_verdict("checker", &e, v);
        return 0;
}

int jr_jury_interact(jr_jury *j, const jr_test_case *tc, jr_slot *prog_slot,
                     jr_run_config *prog_cfg, jr_run_result *prog_res, jr_jury_verdict *v,
                     jr_error *e)
{
        *v = (jr_jury_verdict){.status = JR_STATUS_IE};
        struct jury_run r = {0};
        int ret = -1;
        int to_prog[2] = {-1, -1}, from_prog[2] = {-1, -1};
        memset(prog_res, 0, sizeof *prog_res);
        prog_res->status = JR_JAIL_IE;
        prog_res->exit_code = -1;

        /* testlib's interactor writes its output file (a checker may read it next) */
        if (put_test_files(j, tc, e) < 0 ||
            jr_put_file(j->io_dir, "tout", JR_BYTES_LIT(""), 0600, jr_slot_uid(j->own),
                        jr_slot_gid(j->own), e) < 0 ||
            jury_run_prepare(j, &j->interactor, &r, "tout", true, e) < 0)
                goto out;
        /* The interactor outlives the program: it must see the program's end (EOF) and
         * say its verdict. Its limits are the program's wall time and a margin. */
        uint64_t margin = JR_JURY_MARGIN_MS * j->lim.time_scale;
        r.cfg.cpu_ms = prog_cfg->wall_ms ? prog_cfg->wall_ms + margin : 0;
        r.cfg.wall_ms = prog_cfg->wall_ms ? prog_cfg->wall_ms + margin : 0;

        if (pipe2(to_prog, O_CLOEXEC) < 0 || pipe2(from_prog, O_CLOEXEC) < 0) {
                jr_error_errno(e, "interactor: create the pipes");
                goto out;
        }
        /* Two pipes, nothing else: each stdout is the other's stdin as it is (no copy
         * in between that could block the supervisor), and each end is closed here as
         * soon as its jail holds it, so that EOF and EPIPE tell each side the other
         * has gone. */
        r.cfg.stdin_fd = TAKE_FD(from_prog[0]);
        r.cfg.stdout_fd = TAKE_FD(to_prog[1]);
        r.cfg.stdout_direct = r.cfg.close_stdio = true;
        prog_cfg->stdin_fd = TAKE_FD(to_prog[0]);
        prog_cfg->stdout_fd = TAKE_FD(from_prog[1]);
        prog_cfg->stdout_direct = prog_cfg->close_stdio = true;

        /* the interactor first: it is ready when the program starts */
        jr_slot *slots[2] = {j->own, prog_slot};
        const jr_run_config *cfgs[2] = {&r.cfg, prog_cfg};
        jr_run_result res[2];
        if (jr_jail_run_many(slots, cfgs, res, 2, e) < 0) {
                *prog_res = res[1];
                jr_error_wrap(e, "interactive run");
                sandbox_verdict("interactor", e, v);
                goto out;
        }
        *prog_res = res[1];
        jr_jury_exit_verdict("interactor", &res[0], v);
        ret = collect_output(j, v) < 0 ? jr_error_set(e, ENOMEM, "interactor's output") : 0;
out:
        for (int i = 0; i < 2; i++) {
                if (to_prog[i] >= 0)
                        close(to_prog[i]);
                if (from_prog[i] >= 0)
                        close(from_prog[i]);
        }
        jr_lang_cmd_free(&r.cmd);
        if (ret < 0 && !v->sandbox_failure)
                sandbox_verdict("interactor", e, v);
        return ret;
}
