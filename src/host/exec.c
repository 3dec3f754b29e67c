/* One command in a jail. See exec.h. */
#include "exec.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "jailopts.h"

static int open_output(const char *path, int dash_fd, int *fd, jr_error *e)
{
        if (!path)
                return 0;
        if (!strcmp(path, "-")) {
                *fd = dash_fd;
                return 0;
        }
        *fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (*fd < 0)
                return jr_error_errno(e, "open \"%s\"", path);
        return 0;
}

/* The sandbox, the slot and the run, with cfg's fds set. */
static int run_in_slot(const jr_exec_opts *o, const jr_run_config *cfg, jr_run_result *res,
                       jr_error *e)
{
        _cleanup_sandbox_ jr_sandbox *sb = NULL;
        if (jr_sandbox_new(&o->sandbox, &sb, e) < 0)
                return jr_error_wrap(e, "sandbox"), JR_EXEC_FAILED;
        FILE *say = o->version ? o->version : o->log;
        if (say)
                fprintf(say, "%sjailrun %s: %s\n", o->version ? "" : "# ", JR_VERSION,
                        jr_sandbox_describe(sb));
        if (o->version)
                return 0;
        uid_t uid;
        gid_t gid;
        if (jr_slot_ids(o->slot, &uid, &gid, e) < 0)
                return JR_EXEC_INVALID;
        if (o->uid > 0)
                uid = gid = (uid_t)o->uid;
        _cleanup_slot_ jr_slot *slot = NULL;
        if (jr_slot_new(sb, o->slot, uid, gid, &slot, e) < 0 || jr_jail_run(slot, cfg, res, e) < 0)
                return JR_EXEC_FAILED;
        return 0;
}

int jr_exec(const jr_exec_opts *o, jr_run_result *res, jr_error *e)
{
        jr_run_config cfg = o->cfg;
        _cleanup_close_ int in_fd = -1, out_fd = -1, err_fd = -1;
        if (o->stdin_path) {
                in_fd = open(o->stdin_path, O_RDONLY | O_CLOEXEC);
                if (in_fd < 0)
                        return jr_error_errno(e, "open the stdin file \"%s\"", o->stdin_path),
                               JR_EXEC_INVALID;
        }
        if (open_output(o->stdout_path, STDOUT_FILENO, &out_fd, e) < 0 ||
            open_output(o->stderr_path, STDERR_FILENO, &err_fd, e) < 0)
                return JR_EXEC_INVALID;
        cfg.stdin_fd = in_fd;
        cfg.stdout_fd = out_fd;
        cfg.stderr_fd = err_fd;
        /* "-" lent us our own stdout/stderr: not ours to close */
        if (out_fd == STDOUT_FILENO)
                out_fd = -1;
        if (err_fd == STDERR_FILENO)
                err_fd = -1;

        int r = run_in_slot(o, &cfg, res, e);
        if (r < 0 || o->version)
                return r;
        if (o->log)
                fprintf(o->log,
                        "# jail timing: prepare %llu us, setup %llu us, program %llu ms, "
                        "teardown %llu us\n",
                        (unsigned long long)res->timing.prepare_us,
                        (unsigned long long)res->timing.setup_us, (unsigned long long)res->wall_ms,
                        (unsigned long long)res->timing.teardown_us);
        return 0;
}
