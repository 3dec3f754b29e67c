/* jailrun run: judge one submission, JSON in, JSON out. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "cli.h"
#include "commands.h"
#include "jail.h"
#include "judge.h"
#include "lang.h"
#include "message.h"
#include "rootfs.h"
#include "units.h"

static const char usage_text[] =
    "Usage: jailrun run [OPTIONS] [FILE|-]\n"
    "\n"
    "Judge one submission (a script message, see the README) read from FILE or stdin:\n"
    "build it in its language's build tree, run every test in its own jail, and print\n"
    "one result message on stdout.\n"
    "\n"
    "  --langs DIR        language files (default $JAILRUN_LANGS_DIR, the source tree's\n"
    "                     langs/, or /usr/share/jailrun/langs)\n"
    "  --rootfs-dir DIR   rootfs trees (default $JAILRUN_ROOTFS_DIR or\n"
    "                     /var/lib/jailrun/rootfs)\n"
    "  --events FILE      write the progress events there, one JSON per line ('-': stderr)\n"
    "  --slot N           jail slot: uid $JAILRUN_SLOT_UID_BASE (60000) + N; default 0\n"
    "  --cgroup auto|v1|v2, --fallback LIST   as for jailrun exec\n"
    "  -h, --help         this text\n"
    "\n"
    "Host limits come from RUNNER_TIME_LIMIT (a duration, default 2s) and\n"
    "RUNNER_MEMORY_LIMIT (bytes, default and maximum 256 MiB). A test's time limit is\n"
    "CPU time (every thread and child); its wall-clock limit is the time limit plus\n"
    "JAILRUN_WALL_MARGIN (default 500ms), so a program that sleeps or blocks gets TL\n"
    "then, and no test runs longer than JAILRUN_MAX_TEST_WALL (20s). `jailrun config`\n"
    "lists every setting.\n"
    "\n"
    "Exit status: 0 when the submission was judged, whatever the verdict; 1 when the\n"
    "judge itself failed (the result says IE); 2 on invalid input (a message on stderr,\n"
    "and a result with status IE on stdout when the input was JSON).\n";

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
        char *buf = malloc(cap);
        if (!buf)
                return jr_error_set(e, ENOMEM, "read the submission");
        for (;;) {
                if (len == cap) {
                        if (cap >= JR_PARSE_MAX_INPUT_DEFAULT + 1) {
                                free(buf);
                                return jr_error_set(e, E2BIG, "submission larger than %zu bytes",
                                                    JR_PARSE_MAX_INPUT_DEFAULT);
                        }
                        cap *= 2;
                        char *nb = realloc(buf, cap);
                        if (!nb) {
                                free(buf);
                                return jr_error_set(e, ENOMEM, "read the submission");
                        }
                        buf = nb;
                }
                ssize_t n = read(in, buf + len, cap - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        int err = errno;
                        free(buf);
                        return jr_error_set(e, err, "read \"%s\"", path ? path : "-");
                }
                if (n == 0)
                        break;
                len += (size_t)n;
        }
        out->ptr = buf;
        out->len = len;
        return 0;
}

static void print_json(const jr_buf *b)
{
        fwrite(b->ptr, 1, b->len, stdout);
        fputc('\n', stdout);
        fflush(stdout);
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

int jr_cmd_run(int argc, char **argv)
{
        static const struct option opts[] = {
            {"langs", required_argument, NULL, 'l'},  {"rootfs-dir", required_argument, NULL, 'r'},
            {"events", required_argument, NULL, 'e'}, {"slot", required_argument, NULL, 's'},
            {"cgroup", required_argument, NULL, 'c'}, {"fallback", required_argument, NULL, 'f'},
            {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
        };
        const char *langs_dir = NULL, *rootfs_dir = NULL, *events_path = NULL;
        jr_sandbox_opts sbo = {0};
        uint64_t slot_no = 0;
        jr_error e = {0};
        int opt;
        if (jr_sandbox_opts_from_env(&sbo, &e) < 0) {
                fprintf(stderr, "jailrun run: %s\n", e.msg);
                return 2;
        }
        optind = 1;
        opterr = 0;
        while ((opt = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
                switch (opt) {
                case 'l':
                        langs_dir = optarg;
                        break;
                case 'r':
                        rootfs_dir = optarg;
                        break;
                case 'e':
                        events_path = optarg;
                        break;
                case 's':
                        if (jr_parse_uint(optarg, 65535, &slot_no, &e) < 0) {
                                fprintf(stderr, "jailrun run: option --slot: %s\n", e.msg);
                                return 2;
                        }
                        break;
                case 'c':
                        if (jr_parse_cg_mode(optarg, &sbo.cg_mode, &e) < 0) {
                                fprintf(stderr, "jailrun run: option --cgroup: %s\n", e.msg);
                                return 2;
                        }
                        break;
                case 'f':
                        if (jr_parse_fallbacks(optarg, &sbo.fallbacks, &e) < 0) {
                                fprintf(stderr, "jailrun run: option --fallback: %s\n", e.msg);
                                return 2;
                        }
                        break;
                case 'h':
                        fputs(usage_text, stdout);
                        return 0;
                default:
                        fprintf(stderr, "jailrun run: unknown option \"%s\" (see --help)\n",
                                argv[optind - 1]);
                        return 2;
                }
        }
        if (argc - optind > 1) {
                fprintf(stderr, "jailrun run: one submission at a time (see --help)\n");
                return 2;
        }
        const char *path = optind < argc ? argv[optind] : NULL;

        jr_judge_opts jo = {.rootfs_dir = rootfs_dir};
        jr_judge_limits_default(&jo.limits);
        if (jr_judge_limits_from_env(&jo.limits, &e) < 0) {
                fprintf(stderr, "jailrun run: %s\n", e.msg);
                return 2;
        }
        jr_lang_set *langs = NULL;
        if (jr_lang_load_dir(langs_dir ? langs_dir : jr_lang_default_dir(), &langs, &e) < 0) {
                fprintf(stderr, "jailrun run: %s\n", e.msg);
                return 1;
        }
        jo.langs = langs;

        jr_buf input = {0};
        if (read_input(path, &input, &e) < 0) {
                fprintf(stderr, "jailrun run: %s\n", e.msg);
                jr_lang_set_free(langs);
                return 2;
        }
        const char *const *names = jr_lang_names(langs);
        jr_parse_options po = {.languages = names, .n_languages = jr_lang_count(langs)};
        po.fallback_id = JR_BYTES_LIT("run");
        jr_submission *sub = NULL;
        jr_buf err_id = {0};
        int pr = jr_submission_parse(input.ptr, input.len, &po, &sub, &err_id, &e);
        free(input.ptr);
        if (pr < 0) {
                fprintf(stderr, "jailrun run: invalid submission: %s\n", e.msg);
                if (pr != JR_PARSE_NOT_JSON) {
                        jr_buf out = {0};
                        jr_error ge;
                        if (jr_result_ie_json((jr_bytes){err_id.ptr, err_id.len}, e.msg, 0, &out,
                                              &ge) == 0)
                                print_json(&out);
                        free(out.ptr);
                }
                free(err_id.ptr);
                jr_lang_set_free(langs);
                return 2;
        }
        if (sub->type == JR_MSG_DONE) {
                fprintf(stderr, "jailrun run: a \"done\" message has nothing to judge\n");
                jr_submission_free(sub);
                jr_lang_set_free(langs);
                return 2;
        }

        _cleanup_fclose_ FILE *events_file = NULL;
        FILE *events = NULL;
        if (events_path) {
                if (!strcmp(events_path, "-")) {
                        events = stderr;
                } else {
                        events = events_file = fopen(events_path, "we");
                        if (!events) {
                                fprintf(stderr, "jailrun run: open \"%s\": %s\n", events_path,
                                        strerror(errno));
                                jr_submission_free(sub);
                                jr_lang_set_free(langs);
                                return 2;
                        }
                }
        }

        int ret = 1;
        jr_sandbox *sb = NULL;
        jr_slot *slot = NULL;
        jr_judge *judge = NULL;
        jr_buf result = {0};
        jr_judge_summary sum = {0};
        uid_t uid;
        gid_t gid;
        if (jr_slot_ids((unsigned)slot_no, &uid, &gid, &e) < 0 ||
            jr_sandbox_new(&sbo, &sb, &e) < 0 ||
            jr_slot_new(sb, (unsigned)slot_no, uid, gid, &slot, &e) < 0) {
                jr_error_wrap(&e, "sandbox");
                goto fail;
        }
        jo.slot = slot;
        if (jr_judge_new(&jo, &judge, &e) < 0)
                goto fail;
        if (jr_judge_submission(judge, sub, on_event, events, &result, &sum, &e) < 0)
                goto fail;
        print_json(&result);
        ret = 0;
        goto out;
fail:
        fprintf(stderr, "jailrun run: %s\n", e.msg);
        {
                jr_buf out = {0};
                jr_error ge;
                if (jr_result_ie_json(sub->id, e.msg, 0, &out, &ge) == 0)
                        print_json(&out);
                free(out.ptr);
        }
out:
        free(result.ptr);
        jr_judge_free(judge);
        jr_slot_free(slot);
        jr_sandbox_free(sb);
        jr_submission_free(sub);
        jr_lang_set_free(langs);
        return ret;
}
