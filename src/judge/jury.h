/* The jury's programs of a submission: a checker program ("checker": {"language",
 * "source"}) and an interactor ("interactor"), testlib's conventions.
 *
 * Both are built once per execution, each in its own build jail, and run in a fresh jail
 * per test. They run as the jury's ids: the contestant slot's uid and gid plus
 * JR_JURY_ID_OFFSET, in a slot of their own (its own network namespace, made beside the
 * contestant's on first use). So a contestant's program can never signal, trace or read
 * anything of the jury's, even while an interactor runs beside it, and the jury's ids of
 * one executor are not another executor's.
 *
 * Files (in the execution's work tmpfs, invisible to the contestant's jails):
 *   jury/<name>-build  the build jail's /work (owned by the jury's uid)
 *   jury/<name>        the artifacts, root's, bound read-only at /work of every run
 *   jury/io/           input, output, answer: root's, read-only in the jails, at
 *                      /io/input, /io/output, /io/answer; tout: the interactor's output
 *                      file (testlib's second argument), the jury's, bound read-write at
 *                      /io/output of the interactor and read-only for a checker after it.
 *
 * A checker runs as `<run command> /io/input /io/output /io/answer`, an interactor the
 * same way with its stdin reading the program's stdout and its stdout writing the
 * program's stdin (two pipes, nothing else between the two jails). Exit codes, as
 * testlib's: 0 OK; 1 WA; 2 (presentation error), 4 (dirt) and 8 (unexpected end of file)
 * are WA too; any other code, a signal, or the program's own limits is the jury's
 * failure: IE, never the contestant's WA. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "jail.h"
#include "judge.h"
#include "lang.h"
#include "message.h"

#define JR_JURY_ID_OFFSET 32768u

/* Limits of the jury's runs (times are multiplied by the host's time scale). The memory is
 * at most the host's maximum and at least the language's minimum; an interactor's CPU and
 * wall time are the program's wall limit plus the margin; the output limit is on what it
 * writes besides its files. */
#define JR_JURY_CHECKER_CPU_MS  5000u
#define JR_JURY_CHECKER_WALL_MS 10000u
#define JR_JURY_MARGIN_MS       2000u
#define JR_JURY_MEMORY_BYTES    (256ull << 20)
#define JR_JURY_OUTPUT_LIMIT    (1ull << 20)

typedef struct jr_jury jr_jury;

/* A jury for the judge of `slot`: nothing is made until a submission needs it. */
int jr_jury_new(jr_slot *slot, const char *rootfs_dir, const jr_judge_limits *lim, jr_jury **out,
                jr_error *e);
void jr_jury_free(jr_jury *jury);

/* Whether the submission has jury programs at all. */
bool jr_jury_needed(const jr_submission *sub);

/* What a jury program said about one test. */
typedef struct jr_jury_verdict {
        jr_status status;                  /* OK, WA or IE */
        char error[JR_ERROR_MSG_MAX + 64]; /* why, when there is more to say: "checker failed: exit
                             code 3 (testlib's fail)", "presentation error (checker exit code 2)" */
        jr_bytes output; /* its stderr then its stdout (malloc'd, NUL-terminated; NULL when
                            it did not run) */
        uint64_t wall_ms, wall_us;
        bool sandbox_failure; /* the jail failed, not the program (IE too) */
} jr_jury_verdict;

/* Build the submission's jury programs in `work` (the execution's tmpfs, mounted, fresh).
 * 0 when they are ready (or there are none); < 0 with e saying why ("checker failed:
 * build failed (exit code 1): ...", or the sandbox's error), *sandbox_failure telling
 * the two apart. *wall_us: the compilers' wall time (microseconds). */
int jr_jury_build(jr_jury *jury, const char *work, const jr_lang_set *langs,
                  const jr_submission *sub, uint64_t *wall_us, bool *sandbox_failure, jr_error *e);

/* Run the checker program on one test: input and answer (expected_output, "" when the
 * test has none) from tc, the program's output from output_fd (read from offset 0), or
 * when output_fd < 0 the interactor's output file of the test just run. Always fills *v;
 * < 0 only when memory ran out. */
int jr_jury_check(jr_jury *jury, const jr_test_case *tc, int output_fd, jr_jury_verdict *v);

/* Run the program of one interactive test beside the interactor: prog_cfg is the
 * program's complete configuration except stdin and stdout, which become the pipes
 * (its stderr keeps its fd and the output limit). *prog_res is the program's result,
 * *v the interactor's verdict. < 0 when the sandbox failed (e; *prog_res IE). */
int jr_jury_interact(jr_jury *jury, const jr_test_case *tc, jr_slot *prog_slot,
                     jr_run_config *prog_cfg, jr_run_result *prog_res, jr_jury_verdict *v,
                     jr_error *e);

/* The verdict of a jury program's run r by testlib's exit codes; `who` ("checker",
 * "interactor") names it in the error. An interactor killed by SIGPIPE is WA: its only
 * reader, the program, stopped reading while it still had something to say. */
void jr_jury_exit_verdict(const char *who, const jr_run_result *r, jr_jury_verdict *v);

/* The status of an interactive test, from the program's own status (TL, ML, OL, RE or OK,
 * as a normal test maps it), the signal that killed it, and the interactor's verdict:
 *   1. the interactor failed: IE (its error);
 *   2. the program's TL, ML, OL;
 *   3. the program's RE, except when SIGPIPE killed it: it wrote to an interactor that
 *      had already finished, and the interactor's verdict decides;
 *   4. the interactor's verdict (OK or WA).
 * *error is set to the text the test's "error" gets (may be ""). */
jr_status jr_jury_interactive_status(jr_status program, int program_signal,
                                     const jr_jury_verdict *v, const char **error);

/* Give test t a checker's verdict (its status when the program's was OK, the error, the
 * checker_output, which moves from v to t), or an interactor's, by the rules above. */
void jr_jury_apply_check(jr_jury_verdict *v, jr_test_result *t);
void jr_jury_apply_interaction(jr_jury_verdict *v, int program_signal, jr_test_result *t);

void jr_jury_verdict_free(jr_jury_verdict *v);
