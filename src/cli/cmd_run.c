/* jailrun run: judge one submission, JSON in, JSON out. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cleanup.h"
#include "commands.h"
#include "jailopts.h"
#include "judge_file.h"
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
    "then; a test's own \"wall_limit_ms\" replaces that and caps its CPU limit too.\n"
    "No test runs longer than JAILRUN_MAX_TEST_WALL (20s). A memory limit\n"
    "below the language's minimum (min_memory in its langs/ file) is raised to it, and\n"
    "the result says so in memory_limit_bytes_used. The checker of a submission that\n"
    "names none is JAILRUN_DEFAULT_CHECKER's (lines, exact, tokens, tokens-lines,\n"
    "float:EPS, sorted). Python's imports are limited when EXECUTOR_ALLOWED_MODULES\n"
    "(a JSON array), else the language file's allowed_modules, says so (docs/http.md).\n"
    "`jailrun config` lists every setting.\n"
    "\n"
    "Optional fields of the submission (docs/messages.md):\n"
    "  \"checker\": \"lines\" (default; trailing white space and blank lines ignored),\n"
    "      \"exact\", \"tokens\", \"tokens-lines\" (tokens, line breaks kept),\n"
    "      \"float:EPS\" (numbers within EPS, absolute or relative: \"float:1e-6\"),\n"
    "      \"sorted\" (the lines in any order),\n"
    "      or {\"language\": L, \"source\": S}: a checker program, built once, run per test\n"
    "      as `PROGRAM /io/input /io/output /io/answer` (testlib); exit 0 OK; 1, 2\n"
    "      (presentation error), 4 and 8 WA; any other code, a signal or its own\n"
    "      limits IE \"checker failed: ...\".\n"
    "  \"interactor\": {\"language\": L, \"source\": S}: runs beside each test's program\n"
    "      as `PROGRAM /io/input /io/output /io/answer`, its stdout the program's stdin\n"
    "      and its stdin the program's stdout (two pipes). Verdict: the interactor's\n"
    "      failure (IE) first, then the program's own TL/ML/OL/RE (but a program killed\n"
    "      by SIGPIPE gets the interactor's verdict), then the interactor's exit code,\n"
    "      read as a checker's.\n"
    "  What a checker or interactor writes is the test's \"checker_output\". They run as\n"
    "  the slot's uid + 32768 (so --slot must be below 32768), never the program's.\n"
    "\n"
    "Exit status: 0 when the submission was judged, whatever the verdict; 1 when the\n"
    "judge itself failed (the result says IE); 2 on invalid input (a message on stderr,\n"
    "and a result with status IE on stdout when the input was JSON).\n";

static void print_json(const jr_buf *b)
{
        fwrite(b->ptr, 1, b->len, stdout);
        fputc('\n', stdout);
        fflush(stdout);
}

/* Options into o; 0, or the exit status of --help (0) or of a usage error (2). */
static int parse_args(int argc, char **argv, jr_judge_file_opts *o, int *status, jr_error *e)
{
        static const struct option opts[] = {
            {"langs", required_argument, NULL, 'l'},  {"rootfs-dir", required_argument, NULL, 'r'},
            {"events", required_argument, NULL, 'e'}, {"slot", required_argument, NULL, 's'},
            {"cgroup", required_argument, NULL, 'c'}, {"fallback", required_argument, NULL, 'f'},
            {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
        };
        uint64_t slot = 0;
        *status = 2;
        if (jr_sandbox_opts_from_env(&o->sandbox, e) < 0)
                return -1;
        int opt;
        optind = 1;
        opterr = 0;
        while ((opt = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
                switch (opt) {
                case 'l':
                        o->langs_dir = optarg;
                        break;
                case 'r':
                        o->rootfs_dir = optarg;
                        break;
                case 'e':
                        o->events_path = optarg;
                        break;
                case 's':
                        if (jr_parse_uint(optarg, 65535, &slot, e) < 0)
                                return jr_error_wrap(e, "option --slot");
                        o->slot = (unsigned)slot;
                        break;
                case 'c':
                        if (jr_parse_cg_mode(optarg, &o->sandbox.cg_mode, e) < 0)
                                return jr_error_wrap(e, "option --cgroup");
                        break;
                case 'f':
                        if (jr_parse_fallbacks(optarg, &o->sandbox.fallbacks, e) < 0)
                                return jr_error_wrap(e, "option --fallback");
                        break;
                case 'h':
                        fputs(usage_text, stdout);
                        *status = 0;
                        return -1;
                default:
                        return jr_error_set(e, 0, "unknown option \"%s\" (see --help)",
                                            argv[optind - 1]);
                }
        }
        if (argc - optind > 1)
                return jr_error_set(e, 0, "one submission at a time (see --help)");
        o->path = optind < argc ? argv[optind] : NULL;
        return 0;
}

int jr_cmd_run(int argc, char **argv)
{
        jr_judge_file_opts o = {0};
        jr_error e = {0};
        int status;
        if (parse_args(argc, argv, &o, &status, &e) < 0) {
                if (status)
                        fprintf(stderr, "jailrun run: %s\n", e.msg);
                return status;
        }
        _cleanup_free_ char *result = NULL;
        jr_buf out = {0};
        int r = jr_judge_file(&o, &out, &e);
        result = out.ptr;
        if (r < 0)
                fprintf(stderr, "jailrun run: %s\n", e.msg);
        if (out.ptr)
                print_json(&out);
        return r == 0 ? 0 : r == JR_JUDGE_FILE_INVALID ? 2 : 1;
}
