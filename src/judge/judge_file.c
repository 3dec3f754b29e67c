/* One submission judged from a file. See judge_file.h. */
#include "judge_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "jailopts.h"
#include "judge.h"
#include "lang.h"

static int read_input(const char *path, jr_buf *out, jr_error *e)
{
        _cleanup_close_ int fd = -1;
        int in = STDIN_FILENO;
        if (path && strcmp(path, "-")) {
                fd = open(path, O_RDONLY | O_CLOEXEC);
                if (fd < 0)
                        return jr_error_errno(e, "open \"%s\"", path);
                in = fd;
        }
        size_t cap = 65536, len = 0;
        _cleanup_free_ char *buf = malloc(cap);
        if (!buf)
                return jr_error_set(e, ENOMEM, "read the submission");
        for (;;) {
                if (len == cap) {
                        if (cap >= JR_PARSE_MAX_INPUT_DEFAULT + 1)
                                return jr_error_set(e, E2BIG, "submission larger than %zu bytes",
                                                    JR_PARSE_MAX_INPUT_DEFAULT);
                        cap *= 2;
                        char *nb = realloc(buf, cap);
                        if (!nb)
                                return jr_error_set(e, ENOMEM, "read the submission");
                        buf = nb;
                }
                ssize_t n = read(in, buf + len, cap - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return jr_error_errno(e, "read \"%s\"", path ? path : "-");
                if (n == 0)
                        break;
                len += (size_t)n;
        }
        out->ptr = TAKE_PTR(buf);
        out->len = len;
        return 0;
}

/* The submission of o->path, parsed against the known languages. A message that is
 * JSON but no valid submission gets its IE result in *result. */
static int read_submission(const jr_judge_file_opts *o, const jr_lang_set *langs,
                           jr_submission **out, jr_buf *result, jr_error *e)
{
        _cleanup_free_ char *input = NULL;
        jr_buf in = {0};
        if (read_input(o->path, &in, e) < 0)
                return -1;
        input = in.ptr;
        jr_parse_options po = {.languages = jr_lang_names(langs),
                               .n_languages = jr_lang_count(langs),
                               .fallback_id = JR_BYTES_LIT("run")};
        _cleanup_free_ char *err_id = NULL;
        jr_buf id = {0};
        int pr = jr_submission_parse(in.ptr, in.len, &po, out, &id, e);
        err_id = id.ptr;
        if (pr < 0) {
                jr_error ge;
                if (pr != JR_PARSE_NOT_JSON &&
                    jr_result_ie_json((jr_bytes){id.ptr, id.len}, e->msg, 0, result, &ge) < 0)
                        *result = (jr_buf){0};
                return jr_error_wrap(e, "invalid submission");
        }
        if ((*out)->type == JR_MSG_DONE) {
                jr_submission_free(TAKE_PTR(*out));
                return jr_error_set(e, 0, "a \"done\" message has nothing to judge");
        }
        return 0;
}

static void on_event(const jr_event *ev, const jr_buf *json, void *ud)
{
        FILE *f = ud;
        (void)ev;
        if (!f)
                return;
        fwrite(json->ptr, 1, json->len, f);
        fputc('\n', f);
        fflush(f);
}

/* Make the slot's jail and judge sub with it. */
static int judge_one(const jr_judge_file_opts *o, jr_judge_opts *jo, const jr_submission *sub,
                     FILE *events, jr_buf *result, jr_error *e)
{
        uid_t uid;
        gid_t gid;
        _cleanup_sandbox_ jr_sandbox *sb = NULL;
        _cleanup_slot_ jr_slot *slot = NULL;
        _cleanup_judge_ jr_judge *judge = NULL;
        if (jr_slot_ids(o->slot, &uid, &gid, e) < 0 || jr_sandbox_new(&o->sandbox, &sb, e) < 0 ||
            jr_slot_new(sb, o->slot, uid, gid, &slot, e) < 0)
                return jr_error_wrap(e, "sandbox");
        jo->slot = slot;
        jr_judge_summary sum = {0};
        if (jr_judge_new(jo, &judge, e) < 0 ||
            jr_judge_submission(judge, sub, on_event, events, result, &sum, e) < 0)
                return -1;
        return 0;
}

int jr_judge_file(const jr_judge_file_opts *o, jr_buf *result, jr_error *e)
{
        *result = (jr_buf){0};
        jr_judge_opts jo = {.rootfs_dir = o->rootfs_dir};
        jr_judge_limits_default(&jo.limits);
        if (jr_judge_limits_from_env(&jo.limits, e) < 0)
                return JR_JUDGE_FILE_INVALID;
        _cleanup_lang_set_ jr_lang_set *langs = NULL;
        if (jr_lang_load_dir(o->langs_dir ? o->langs_dir : jr_lang_default_dir(), &langs, e) < 0)
                return JR_JUDGE_FILE_FAILED;
        jo.langs = langs;

        _cleanup_submission_ jr_submission *sub = NULL;
        if (read_submission(o, langs, &sub, result, e) < 0)
                return JR_JUDGE_FILE_INVALID;

        _cleanup_fclose_ FILE *events_file = NULL;
        FILE *events = NULL;
        if (o->events_path && !strcmp(o->events_path, "-")) {
                events = stderr;
        } else if (o->events_path) {
                events = events_file = fopen(o->events_path, "we");
                if (!events)
                        return jr_error_errno(e, "open \"%s\"", o->events_path),
                               JR_JUDGE_FILE_INVALID;
        }

        if (judge_one(o, &jo, sub, events, result, e) < 0) {
                jr_error ge;
                free(result->ptr);
                if (jr_result_ie_json(sub->id, e->msg, 0, result, &ge) < 0)
                        *result = (jr_buf){0};
                return JR_JUDGE_FILE_FAILED;
        }
        return 0;
}
